//! TCP reassembly: captured segments become complete HTTP messages, fed by
//! any packet source (`capture/`), so it is tested without a network.
//!
//! * [`stream`] — one direction of a connection back in sequence order;
//! * [`framing`] — where an HTTP/1.x message ends;
//! * [`reassembler`] — connections, pairing, ids, expiry, emission.

pub mod framing;
pub mod reassembler;
pub mod stream;

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod robustness_tests;

#[cfg(test)]
mod memory_tests;

pub use reassembler::{Config, Protocol, Reassembler, Segment};
