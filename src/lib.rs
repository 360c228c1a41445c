//! gor: capture live HTTP traffic without sitting in its path, then save,
//! rewrite, relay and replay it. A drop-in re-implementation of GoReplay.
//!
//! # How data flows
//!
//! `settings` parses GoReplay's command line into [`settings::Settings`];
//! `registry` builds the inputs and outputs it names, each from its own small
//! config struct (`RawConfig`, `FileOutputConfig`, …); `emitter` runs one copy
//! loop per input that reads a [`message::Message`], cuts it to
//! `--copy-buffer-size`, passes it through the middleware and the HTTP
//! modifier, and hands it to every output (or one, with `--split-output`).
//! Outputs that produce messages of their own (replayed responses) feed them
//! back as inputs.
//!
//! # Layout
//!
//! * `message`, `plugin` — the record format, the Input/Output traits and
//!   the errors every plugin may raise (`UsageError`, `FatalError`);
//! * `settings` — flags (grouped by plugin in `--help`), Go-style parsing,
//!   value syntaxes, the enumerated choices (engine, protocol, timestamp);
//! * `input/`, `output/` — one plugin per file;
//! * `limiter` — the `|N` and `|N%` suffixes;
//! * `stats` — counters; every drop is counted under a reason.

pub mod capture;
pub mod emitter;
pub mod file_server;
pub mod http;
pub mod input;
pub mod limiter;
pub mod linger;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod middleware;
pub mod modifier;
pub mod output;
pub mod plugin;
pub mod registry;
pub mod runtime;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod tcp;
