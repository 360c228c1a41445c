//! Logs go to stderr, as text or (with `GOR_LOG_FORMAT=json`) as one JSON
//! object a line for log shippers; every line passes through
//! [`crate::redact`] first, so that no password or key is ever printed.
//!
//! `--verbose N` keeps GoReplay's debug levels:
//! * below 0: errors only (GoReplay silences even its level-0 lines);
//! * 0: what gor says by default (start-up, warnings, stats lines);
//! * 1: per-request errors (a failed replay, a Kafka error);
//! * 2: flow events too (a copy loop or file ending, reconnects,
//!   redirects followed), logged with the [`FLOW`] target;
//! * 3: a trace line per message.
//!
//! Other crates' logs stay at `info` whatever the level.

use std::io::Write;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The target of flow events (`--verbose 2`):
/// `tracing::debug!(target: FLOW, ...)`.
pub const FLOW: &str = "gor::flow";

/// What each `--verbose` level lets through.
pub fn filter(verbose: i64) -> Targets {
    let (gor, flow, others) = match verbose {
        i64::MIN..=-1 => (LevelFilter::ERROR, LevelFilter::ERROR, LevelFilter::ERROR),
        0 => (LevelFilter::INFO, LevelFilter::INFO, LevelFilter::INFO),
        1 => (LevelFilter::DEBUG, LevelFilter::INFO, LevelFilter::INFO),
        2 => (LevelFilter::DEBUG, LevelFilter::DEBUG, LevelFilter::INFO),
        _ => (LevelFilter::TRACE, LevelFilter::TRACE, LevelFilter::INFO),
    };
    Targets::new()
        .with_default(others)
        .with_target("gor", gor)
        .with_target(FLOW, flow)
}

/// True when `GOR_LOG_FORMAT` asks for JSON lines.
pub fn json_wanted() -> bool {
    std::env::var("GOR_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"))
}

pub fn init(verbose: i64) {
    let filter = filter(verbose);
    if json_wanted() {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(Redacting);
        let _ = tracing_subscriber::registry()
            .with(layer)
            .with(filter)
            .try_init();
    } else {
        let layer = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(Redacting);
        let _ = tracing_subscriber::registry()
            .with(layer)
            .with(filter)
            .try_init();
    }
}

/// Stderr, with secrets masked, and the progress line (if any) out of the
/// way. The formatter hands over each event whole in one write, so a
/// secret is never split between two writes.
struct Redacting;

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = Redacting;

    fn make_writer(&'a self) -> Redacting {
        Redacting
    }
}

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let text = crate::redact::text(&text);
        let mut written = Ok(());
        crate::progress::while_hidden(|| written = std::io::stderr().write_all(text.as_bytes()));
        written.map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn shows(verbose: i64, target: &str, level: Level) -> bool {
        filter(verbose).would_enable(target, &level)
    }

    #[test]
    fn verbose_levels_map_as_goreplay_debug_levels() {
        assert!(!shows(-1, "gor::emitter", Level::INFO));
        assert!(shows(-1, "gor::emitter", Level::ERROR));
        assert!(shows(0, "gor::emitter", Level::INFO));
        assert!(!shows(0, "gor::output::http", Level::DEBUG));
        assert!(shows(1, "gor::output::http", Level::DEBUG));
        assert!(!shows(1, FLOW, Level::DEBUG));
        assert!(shows(2, FLOW, Level::DEBUG));
        assert!(!shows(2, "gor::emitter", Level::TRACE));
        assert!(shows(3, "gor::emitter", Level::TRACE));
        assert!(!shows(3, "rustls::client", Level::DEBUG));
    }
}
