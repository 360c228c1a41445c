//! The one tokio runtime that network plugins share (HTTP replay, the HTTP
//! input, ElasticSearch export, and any other plugin that talks to sockets).
//!
//! It is created on first use, so a command line without network plugins
//! starts no extra threads. Copy loops are plain threads outside the
//! runtime; they hand work over through bounded channels.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Runtime};

/// The shared runtime, built the first time it is asked for.
///
/// Half the cores (at least one) by default: the rest is left to capture,
/// the copy loops and, often, the target itself on the same machine. Replay
/// measured on 2 cores against nginx: one runtime thread spends 7.0 µs of
/// CPU per request, two spend 8.5 µs, mostly waking each other.
/// `GOR_NET_THREADS=N` overrides it.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::env::var("GOR_NET_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
                    / 2
            })
            .max(1);
        Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("gor-net")
            .enable_all()
            .build()
            .expect("building the network runtime (out of threads or file descriptors)")
    })
}
