//! Outputs: where messages go. One plugin per file.

pub mod file;
pub mod null;
pub mod stdout;
