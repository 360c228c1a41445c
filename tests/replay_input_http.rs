//! `--input-http ADDR`: requests sent to gor are answered 200 and flow on as
//! type-1 messages; chained into `--output-http`, a live source never waits
//! for a slow target — the overflow is dropped and counted.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use common::{Running, wait_until};
use replay_common::{Behaviour, OK, RecordingServer, counted};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// Starts gor with `--input-http 127.0.0.1:0` and `args`; returns it and the
/// port it got (gor logs the address it listens on).
fn start_listening(args: &[&str]) -> (Running, u16) {
    let mut all = vec!["--input-http", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let gor = Running::start(&all);
    let port = gor.port_after("--input-http listening on ", T);
    (gor, port)
}

/// Sends `reqs` on one connection and reads one 200 per request.
fn send_all(port: u16, reqs: &[Vec<u8>]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let expected = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for r in reqs {
        s.write_all(r).unwrap();
        let mut got = vec![0u8; expected.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, expected);
    }
}

#[test]
fn requests_received_over_http_are_replayed_byte_for_byte() {
    let target = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let (gor, port) = start_listening(&["--output-http", &target.url(), "--http-original-host"]);
    let reqs = vec![
        b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Case: Yes\r\n\r\n".to_vec(),
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            .to_vec(),
    ];
    send_all(port, &reqs);
    let mut got = target.wait_for(3, T);
    gor.signal(libc::SIGINT);
    let out = gor.wait(T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let mut want = reqs.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_live_source_never_waits_the_overflow_is_dropped_and_counted() {
    // The target takes 300 ms per request; one worker, a queue of one.
    let target = RecordingServer::start(Behaviour::Custom(Arc::new(|_r: &[u8]| {
        std::thread::sleep(Duration::from_millis(300));
        OK.to_vec()
    })));
    let (gor, port) = start_listening(&[
        "--output-http",
        &target.url(),
        "--output-http-workers",
        "1",
        "--output-http-queue-len",
        "1",
    ]);
    let reqs: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes())
        .collect();
    let start = Instant::now();
    send_all(port, &reqs);
    // 20 requests at 300 ms each would take 6 s if the source waited.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    // What the worker took and what waited in the queue reach the target
    // (one or two requests: on a loaded machine all 20 may arrive before
    // the worker takes the first); the rest were dropped as they came.
    wait_until(T, "a request at the target", || {
        !target.received().is_empty()
    });
    gor.signal(libc::SIGINT);
    let out = gor.wait(T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let delivered = target.received().len() as u64;
    let dropped = counted(&out.stderr, "output_http.queue_full");
    assert!(dropped >= 10, "{}", out.stderr);
    assert_eq!(
        delivered + dropped,
        20,
        "delivered {delivered}, dropped {dropped}\n{}",
        out.stderr
    );
}
