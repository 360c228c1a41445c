//! Helpers for the replay tests: `.gor` files written by the test and
//! replayed by gor against the test HTTP server (`common::server`).
#![allow(dead_code, unused_imports)]

pub use crate::common::server::{
    Behaviour, OK, RecordingServer, Responder, header, request_len, request_line,
};
pub use crate::common::{SEP, counted};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

/// Writes a `.gor` file of type-1 records with the given ids, 1 ns apart.
pub fn write_gor(path: &Path, requests: &[(&str, Vec<u8>)]) {
    let out: Vec<u8> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, (id, req))| {
            let ts = 1_700_000_000_000_000_000u64 + i as u64;
            crate::common::record(&format!("1 {id} {ts} 0"), req)
        })
        .collect();
    std::fs::write(path, out).expect("writing the .gor file");
}

/// Writes `requests` to a recording in a temporary directory and runs
/// `gor --input-file RECORDING` followed by `args`.
pub fn replay(
    requests: &[(&str, Vec<u8>)],
    args: &[&str],
    deadline: Duration,
) -> crate::common::Finished {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    write_gor(&file, requests);
    let mut all = vec!["--input-file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    crate::common::run(&all, deadline)
}

/// A port on 127.0.0.1 with nothing listening on it: a target that refuses
/// connections. Never for gor to listen on (another process could take it
/// between the probe and gor's bind): gor listens on port 0 and logs the
/// port it got.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
