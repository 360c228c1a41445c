//! What the gor-to-gor transports share: the worker pool behind
//! `--output-tcp` and `--output-ws` (queues, sticky or round-robin worker
//! choice, reconnection, stats), and the TLS settings of both ends.
//!
//! * [`pool`] — one persistent connection per worker, bounded queues,
//!   reconnection that re-sends what a dead connection did not take;
//! * [`stream`] — one outgoing connection, plain or TLS, and its close check;
//! * [`tls`] — the server side of `--input-tcp-secure` (PEM files) and the
//!   client side of `--output-tcp-secure` / `wss://`.

pub mod pool;
pub mod stream;
pub mod tls;
