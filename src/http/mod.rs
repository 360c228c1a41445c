//! Byte-level HTTP/1.x helpers shared by capture, replay, the modifier and
//! the prettifier: start lines, headers, path and query, byte splicing.
//!
//! Everything here works on the captured bytes and returns slices of them or
//! edited copies: nothing is parsed into a request type and re-serialized, so
//! header names keep their case, order and spacing (byte fidelity is what
//! makes a replay faithful). Every function is total: any bytes, including
//! garbage, give an answer (`None`, or the input unchanged), never a panic.
//!
//! * [`start_line`] — request line / status line recognition, method, target,
//!   status code, setting the target;
//! * [`headers`] — header lookup, set, delete, iteration, where the body starts;
//! * [`query`] — query parameters of the request target;
//! * [`edit`] — cut / insert / replace a byte range;
//! * [`listener`] — connection cap and read/write deadlines of gor's own
//!   HTTP servers (`--input-http`, `gor file-server`);
//! * [`body`] — a body with chunked, gzip and deflate coding undone;
//! * [`prettify`] — `--prettify-http`: chunked and gzip bodies decoded.

pub mod body;
pub mod client;
pub mod edit;
pub mod framing;
pub mod headers;
pub mod listener;
pub mod prettify;
pub mod query;
pub mod start_line;
