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
//! Imports run downwards only: `main` → `registry` → plugins → the shared
//! modules at the bottom (`plugin`, `message`, `http`, `settings`, `stats`).
//!
//! * `main.rs` — parses the flags, builds the plugins, runs the copy loops, exits;
//! * `registry` — builds each plugin the flags name from its own config struct, `addr|limit` suffixes (main's alone);
//! * `emitter` — copy loops: broadcast, `--split-output`, middleware wiring, ordered stop;
//! * `plugin` — the Input and Output traits, `Plugins`, `Shutdown`, `ExchangeSink`, `UsageError`;
//! * `message` — a message, its header line, ids, the 14-byte record separator;
//! * `records` — splitting a stream (file or relayed connection) into records;
//! * `settings/` — every flag (`flags`, grouped by plugin in `--help`), Go-style argv parsing, value syntaxes (`values`), engine and protocol names (`choices`), the typo hint (`typo`), man page and completions (`generate`);
//! * `limiter` — the `|N` (per second) and `|N%` (fraction) wrappers;
//! * `modifier/` — the `--http-*` filters and rewrites, with Go's regex and template syntax;
//! * `middleware` — the external program and its hex line protocol;
//! * `hex` — the one hex codec (middleware lines, ids, chunk sizes, escapes);
//! * `http/` — HTTP/1 on raw bytes: start line, headers, query, edits, framing, prettify;
//! * `http/client/` — the replay client: target URLs, pooled connections, TLS;
//! * `http/listener` — bounded HTTP/1 accept loop for `--input-http` and `file-server`;
//! * `capture/` — packet sources (libpcap live and file, AF_PACKET, VXLAN), BPF filter, decoding;
//! * `tcp/` — reassembly by sequence number, message framing, request/response pairing;
//! * `pacing` — when to emit each record of a recording: timestamp gaps over a speed factor;
//! * `kafka` — what the Kafka input and output share: client settings (SASL, TLS), the JSON format;
//! * `input/` — dummy, file, raw (capture), http, tcp, kafka: one plugin per file;
//! * `output/` — stdout, null, file (naming, disk), http (replay), elasticsearch, tcp, ws, binary, kafka;
//! * `relay` — what the TCP and WebSocket outputs share: worker pool, reconnects, TLS;
//! * `linger` — how a busy thread waits for more work without a wake-up per item;
//! * `stats`, `queue_stats` — named counters (every drop under a reason), `--stats` lines;
//! * `metrics` — `--http-pprof`: `/debug/vars` JSON and `/metrics` for Prometheus;
//! * `s3` — the S3 client that s3:// file outputs and inputs share: listing, uploads, ranged reads;
//! * `logging`, `signals`, `runtime` — stderr logs by `--verbose` (text or JSON), SIGINT/SIGTERM, the tokio runtime;
//! * `redact` — masks passwords, `Authorization` values and keys in everything gor prints;
//! * `progress` — the progress line of a long `--input-file` replay on a terminal;
//! * `file_server` — `gor file-server :PORT`;
//! * `fuzzing` — entry points of the fuzz targets under `fuzz/`, one per parser, with their invariants.

pub mod capture;
pub mod emitter;
pub mod file_server;
#[doc(hidden)]
pub mod fuzzing;
pub mod hex;
pub mod http;
pub mod input;
pub mod kafka;
pub mod limiter;
pub mod linger;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod middleware;
pub mod modifier;
pub mod output;
pub mod pacing;
pub mod plugin;
pub mod progress;
pub mod queue_stats;
pub mod records;
pub mod redact;
pub mod registry;
pub mod relay;
pub mod runtime;
pub mod s3;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod tcp;
