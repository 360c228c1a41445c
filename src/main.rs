//! The `gor` binary: parse the command line, build the plugins, run the
//! emitter, turn the outcome into an exit status (2: usage error, 1: runtime
//! failure, 3: `--output-diff-fail` saw a regression, 0: done or stopped
//! cleanly).

use gor::emitter::{Emitter, Ending, Options, Steps};
use gor::plugin::Shutdown;
use gor::settings::{self, Command, Settings, UsageError};
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_large_buffers_in_the_heap();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (settings, notices) = match settings::parse(&args) {
        Ok(Command::Run { settings, notices }) => (settings, notices),
        Ok(Command::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Generate(artifact)) => {
            print!("{}", artifact.render());
            return ExitCode::SUCCESS;
        }
        Ok(Command::FileServer(addr)) => {
            let shutdown = Shutdown::new();
            if let Err(e) = gor::signals::on_stop(shutdown.clone()) {
                return exit_on(Err(e));
            }
            let served = gor::file_server::serve(&addr, &shutdown);
            shutdown.expire("file-server stopped");
            shutdown.join_all(JOIN_BOUND);
            return exit_on(served);
        }
        Err(e) => return usage_error(&e),
    };
    gor::redact::remember_settings(&settings);
    gor::logging::init(settings.verbose);
    for notice in notices {
        tracing::warn!("{notice}");
    }
    tracing::info!(
        "[PPID {} and PID {}] Version:{}",
        std::os::unix::process::parent_id(),
        std::process::id(),
        env!("CARGO_PKG_VERSION")
    );
    let shutdown = Shutdown::new();
    let mut gates = Vec::new();
    let ending = run(&settings, &shutdown, &mut gates);
    // Whatever still waits (the --exit-after timer, the stats reporter)
    // ends now; every thread gor started is joined before it exits.
    shutdown.expire("gor is exiting");
    shutdown.join_all(JOIN_BOUND);
    if settings.input_raw_stats && !settings.input_raw.is_empty() {
        eprintln!("{}", gor::input::raw::stats_line());
    }
    let failed_gate = match &ending {
        Ok(Ending::InputsDone | Ending::Stopped(_)) => gates.iter().find_map(|g| g()),
        _ => None,
    };
    if let Some(why) = failed_gate {
        tracing::error!("{why}");
        return report_and(ExitCode::from(3));
    }
    match ending {
        Ok(Ending::InputsDone) => {
            tracing::info!("every input is done; outputs flushed");
            report_and(ExitCode::SUCCESS)
        }
        Ok(Ending::Stopped(why)) => {
            tracing::info!("{why}; outputs flushed");
            report_and(ExitCode::SUCCESS)
        }
        Ok(Ending::Failed(why)) => {
            tracing::error!("{why}");
            report_and(ExitCode::FAILURE)
        }
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => usage_error(u),
            None => {
                // With JSON logs, the reason gor stops is a log line too.
                if gor::logging::json_wanted() {
                    tracing::error!("{e:#}");
                } else {
                    eprintln!("gor: {}", gor::redact::text(&format!("{e:#}")));
                }
                ExitCode::FAILURE
            }
        },
    }
}

/// How long gor waits, after the outputs are closed, for its threads to end.
const JOIN_BOUND: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs the pipeline; the checks of the finished run (exit status 3) are
/// left in `gates`.
fn run(
    settings: &Settings,
    shutdown: &Shutdown,
    gates: &mut Vec<gor::plugin::Gate>,
) -> anyhow::Result<Ending> {
    // Rule errors (a bad regex) are usage errors: reported before anything
    // starts.
    let steps = Steps::from_settings(settings)?;
    gor::signals::on_stop(shutdown.clone())?;
    let mut plugins = gor::registry::build(settings, shutdown)?;
    *gates = std::mem::take(&mut plugins.gates);
    if !settings.http_pprof.is_empty() {
        gor::metrics::serve(&settings.http_pprof, shutdown)?;
    }
    let middleware = match settings.middleware.as_str() {
        "" => None,
        command => Some(gor::middleware::start(command, shutdown)?),
    };
    let emitter = Emitter::start(
        plugins,
        Options::from_settings(settings),
        steps,
        middleware,
        shutdown.clone(),
    );
    if !settings.exit_after.is_zero() {
        gor::emitter::stop_after(shutdown, settings.exit_after);
    }
    if settings.stats {
        gor::stats::spawn_reporter(std::time::Duration::from_secs(5), shutdown);
    }
    Ok(emitter.wait())
}

/// Captured bodies of a few megabytes are allocated and freed all the time.
/// glibc hands allocations over 128 KiB to mmap and gives them back on free,
/// so every large body paid for fresh zeroed pages and an unmap: a third of
/// gor's CPU when capturing 1 KB-2 MB POSTs (bench/capture.sh: 0.75-0.79 of
/// nginx's CPU per request, 0.48-0.53 with this, same peak RSS).
fn keep_large_buffers_in_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes glibc's allocator; called before any thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}

/// Whatever was dropped is reported once at exit, never silently lost.
fn report_and(code: ExitCode) -> ExitCode {
    let drops = gor::stats::summary_line(true);
    if !drops.is_empty() {
        tracing::warn!("dropped or skipped: {drops}");
    }
    code
}

fn usage_error(e: &UsageError) -> ExitCode {
    eprintln!("gor: {}", gor::redact::text(&e.to_string()));
    eprintln!("Run 'gor --help' for the list of flags.");
    ExitCode::from(2)
}

fn exit_on(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gor: {}", gor::redact::text(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
