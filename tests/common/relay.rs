//! What the relay tests share: varied messages written as a `.gor` file,
//! a receiving gor on a port of its choosing, and comparing what arrived
//! with what was sent, record for record.
#![allow(dead_code)]

use crate::common::{Running, record, records};
use std::path::Path;
use std::time::Duration;

/// A small deterministic generator (xorshift64*), so that a failure can be
/// reproduced.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Pieces that look like the separator without being one.
const TRICKY: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    "\u{1F435}".as_bytes(),
    "\u{1F435}\u{1F648}".as_bytes(),
    "\n\u{1F435}\u{1F648}\u{1F649}x".as_bytes(),
    "x\u{1F435}\u{1F648}\u{1F649}\n".as_bytes(),
    b"\x00\xff\xfe",
];

/// `count` messages (alternating requests and responses): header lines and
/// payloads of 1 byte up to ~200 KB, binary bytes, newlines and partial
/// separators inside. `timestamp(i)` gives each one's timestamp.
pub fn messages(
    count: usize,
    seed: u64,
    timestamp: impl Fn(usize) -> i64,
) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let kind = if i % 2 == 0 { 1 } else { 2 };
            let header = format!("{kind} {:024x} {} {}", i / 2, timestamp(i), i % 1000);
            let len = match rng.below(100) {
                0 => 50_000 + rng.below(150_000) as usize,
                1..=10 => 2_000 + rng.below(20_000) as usize,
                _ => 1 + rng.below(1_500) as usize,
            };
            let mut payload = Vec::with_capacity(len + 16);
            while payload.len() < len {
                match rng.below(8) {
                    0 => payload.extend_from_slice(TRICKY[rng.below(TRICKY.len() as u64) as usize]),
                    _ => {
                        let b = rng.next().to_le_bytes();
                        payload.extend_from_slice(&b[..(len - payload.len()).min(8)]);
                    }
                }
            }
            (header, payload)
        })
        .collect()
}

/// Writes the messages as a `.gor` file.
pub fn write_file(path: &Path, msgs: &[(String, Vec<u8>)]) {
    let mut bytes = Vec::new();
    for (h, p) in msgs {
        bytes.extend_from_slice(&record(h, p));
    }
    std::fs::write(path, bytes).unwrap();
}

/// The records of the files `--output-file` wrote for each path (`out.gor`
/// gives `out_0.gor`, ...), sorted (workers deliver in any order).
pub fn sorted_records(paths: &[&Path]) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for p in paths {
        let stem = p.file_stem().unwrap().to_str().unwrap();
        let name = p.file_name().unwrap().to_str().unwrap();
        for entry in std::fs::read_dir(p.parent().unwrap()).unwrap() {
            let entry = entry.unwrap();
            let file = entry.file_name();
            let file = file.to_str().unwrap();
            if file == name || file.starts_with(&format!("{stem}_")) {
                all.extend(records(&std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    all.sort();
    all
}

/// Asserts that `got` holds exactly the messages sent, each once.
pub fn assert_same_messages(sent: &[(String, Vec<u8>)], got: &[(String, Vec<u8>)]) {
    let mut sent = sent.to_vec();
    sent.sort();
    assert_eq!(got.len(), sent.len(), "number of messages received");
    for (i, (s, g)) in sent.iter().zip(got).enumerate() {
        assert_eq!(s.0, g.0, "header of message {i}");
        assert!(
            s.1 == g.1,
            "payload of {} differs ({} bytes sent, {} received)",
            s.0,
            s.1.len(),
            g.1.len()
        );
    }
}

/// A gor receiving on `addr` (`127.0.0.1:0` for any port) into `out`,
/// with `extra` flags; returns it and the port it listens on.
pub fn receiver(addr: &str, out: &Path, extra: &[&str]) -> (Running, u16) {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "--input-tcp",
        addr,
        "--output-file",
        out,
        "--output-file-queue-limit",
        "0",
        "--output-file-size-limit",
        "4gb",
    ];
    args.extend_from_slice(extra);
    let gor = Running::start(&args);
    let port = gor.port_after("--input-tcp listening on", Duration::from_secs(10));
    (gor, port)
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
