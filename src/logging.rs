//! Logs go to stderr; `--verbose N` raises the level (GoReplay's debug levels:
//! 1 shows per-request errors, 2 flow events, 3 a line per message).

use tracing_subscriber::filter::LevelFilter;

pub fn init(verbose: i64) {
    let level = match verbose {
        i64::MIN..=-1 => LevelFilter::ERROR,
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
