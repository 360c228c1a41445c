//! SIGINT and SIGTERM stop gor cleanly: everything accepted is flushed and
//! the exit status is 0. A second signal exits at once (status 1), for when
//! an output cannot drain.

use crate::plugin::Shutdown;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub fn on_stop(shutdown: Shutdown) -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                if seen > 1 {
                    eprintln!("gor: second signal, exiting without waiting for outputs to drain");
                    std::process::exit(1);
                }
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                shutdown.stop(format!("received {name}, stopping"));
            }
        })?;
    Ok(())
}
