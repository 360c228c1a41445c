//! Helpers for the traffic-shaping black-box tests (modifier, prettifier,
//! middleware): build messages, push them through a real gor (from a
//! recording, or emitted by a middleware), read back what `--output-stdout`
//! wrote.
#![allow(dead_code, unused_imports)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub use crate::common::*;

/// One message: header line (without `\n`) and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub meta: String,
    pub data: Vec<u8>,
}

/// A request with a test id (`t-<n>`, a token no gor input generates).
pub fn request(n: usize, http: impl AsRef<[u8]>) -> Msg {
    Msg {
        meta: format!("1 t-{n} {} 0", 1_000 + n),
        data: http.as_ref().to_vec(),
    }
}

/// The captured response of request `n`.
pub fn response(n: usize, http: impl AsRef<[u8]>) -> Msg {
    Msg {
        meta: format!("2 t-{n} {} 0", 1_000 + n),
        data: http.as_ref().to_vec(),
    }
}

/// `GET <target>` with extra header lines (each ending in `\r\n`).
pub fn get(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: example.org\r\n{headers}\r\n").into_bytes()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware protocol line of a message.
pub fn hex_line(m: &Msg) -> String {
    let mut record = m.meta.clone().into_bytes();
    record.push(b'\n');
    record.extend_from_slice(&m.data);
    hex(&record)
}

/// The last message every run sends, so a test knows all others went through.
/// A response without a request: no filter applies to it.
pub const SENTINEL: &str = "X-End-Of-Test: yes";

/// Runs gor with `args` and the given messages as its input traffic (a
/// recording read by `--input-file`, replayed at once), and returns what
/// `--output-stdout` wrote (only the test's own messages, in order) and the
/// finished run.
pub fn through_gor(dir: &Path, msgs: &[Msg], args: &[&str]) -> (Vec<Msg>, Finished) {
    let mut all = msgs.to_vec();
    all.push(response(
        999_999,
        format!("HTTP/1.1 204 No Content\r\n{SENTINEL}\r\n\r\n"),
    ));
    let file = dir.join("input.gor");
    let bytes: Vec<u8> = all.iter().flat_map(|m| record(&m.meta, &m.data)).collect();
    std::fs::write(&file, bytes).expect("input file");
    let file = file.display().to_string();
    let mut argv = vec!["--input-file", &file, "--output-stdout"];
    argv.extend_from_slice(args);
    let done = run(&argv, Duration::from_secs(30));
    (ours(&done), done)
}

/// Like [`through_gor`], but the messages are produced by a middleware that
/// prints them and then echoes whatever gor feeds it (a middleware may emit
/// messages of its own); gor runs on `--input-dummy` for 2 s.
pub fn from_middleware(dir: &Path, msgs: &[Msg], args: &[&str]) -> (Vec<Msg>, Finished) {
    let feed = dir.join("feed.hex");
    let mut f = std::fs::File::create(&feed).expect("feed file");
    for m in msgs {
        writeln!(f, "{}", hex_line(m)).expect("write feed");
    }
    drop(f);
    let middleware = format!("sh -c 'cat {}; exec cat'", feed.display());
    let mut argv = vec![
        "--input-dummy",
        "x",
        "--output-stdout",
        "--exit-after",
        "2s",
        "--middleware",
        &middleware,
    ];
    argv.extend_from_slice(args);
    let done = run(&argv, Duration::from_secs(30));
    (ours(&done), done)
}

/// The test's own messages (ids `t-...`) in what gor wrote on stdout.
fn ours(done: &Finished) -> Vec<Msg> {
    records(&done.stdout)
        .into_iter()
        .filter(|(meta, _)| {
            meta.split(' ')
                .nth(1)
                .is_some_and(|id| id.starts_with("t-"))
        })
        .map(|(meta, data)| Msg { meta, data })
        .collect()
}

/// Like [`through_gor`], but insists the run ended cleanly and the sentinel
/// (not part of the returned list) arrived last.
pub fn shaped(dir: &Path, msgs: &[Msg], args: &[&str]) -> Vec<Msg> {
    let (mut got, done) = through_gor(dir, msgs, args);
    assert_eq!(done.code(), Some(0), "gor failed: {}", done.stderr);
    let last = got.pop().expect("nothing came out of gor");
    assert!(
        String::from_utf8_lossy(&last.data).contains(SENTINEL),
        "the run ended before every message went through; stderr: {}",
        done.stderr
    );
    got
}

/// Payloads of the messages, as text.
pub fn texts(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.data).into_owned())
        .collect()
}

pub use crate::common::server::{RecordingServer, header, request_line};

/// The test HTTP server, answering every request `200 OK` with body `ok`.
pub struct Server(RecordingServer);

impl Server {
    pub fn start() -> Server {
        Server(RecordingServer::ok())
    }
}

impl std::ops::Deref for Server {
    type Target = RecordingServer;
    fn deref(&self) -> &RecordingServer {
        &self.0
    }
}
