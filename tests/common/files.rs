//! Helpers for the file recording and replay tests: record files built
//! byte by byte, independently of gor's own code.
#![allow(dead_code, unused_imports)]

pub use crate::common::{SEP, record};
use std::path::Path;

pub const MS: i64 = 1_000_000;

/// A request record with a 24-hex id made from `n`, at `ts` ns.
pub fn request(n: u32, ts: i64) -> Vec<u8> {
    record(
        &format!("1 {n:024x} {ts} 0"),
        format!("GET /r/{n} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes(),
    )
}

/// `count` requests, `gap_ms` apart.
pub fn requests(count: u32, gap_ms: i64) -> Vec<u8> {
    let base = 1_700_000_000_000 * MS;
    (0..count)
        .flat_map(|n| request(n, base + n as i64 * gap_ms * MS))
        .collect()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a test file");
}

/// The path as a string for a command line.
pub fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// File names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("reading a test directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}
