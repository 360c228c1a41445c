//! Inputs: where messages come from. One plugin per file.

pub mod dummy;
pub mod file;
pub mod http;
pub mod kafka;
pub mod raw;
pub mod tcp;
