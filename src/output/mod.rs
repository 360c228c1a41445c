//! Outputs: where messages go. One plugin per file.

pub mod binary;
pub mod diff;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod kafka;
pub mod null;
pub mod stdout;
pub mod tcp;
pub mod ws;
