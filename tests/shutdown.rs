//! SIGINT stops gor promptly, whatever its inputs are blocked in: a capture
//! thread waiting for packets wakes within its read timeout, the HTTP
//! input's listener closes, and every thread gor started is joined before
//! it exits (one that is not is named in a warning).

mod common;

use common::{Running, can_capture};
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// How long gor may take from SIGINT to exit when nothing is left to
/// deliver (the capture engines wake at least every 100 ms).
const PROMPT: Duration = Duration::from_millis(1000);

fn sigint_with_raw_and_http_inputs_exits_promptly(engine: &str) {
    // An idle port to capture on: nothing crosses it.
    let idle = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = idle.local_addr().unwrap().port();
    let raw = format!("127.0.0.1:{port}");
    let gor = Running::start(&[
        "--input-raw",
        &raw,
        "--input-raw-engine",
        engine,
        "--input-http",
        "127.0.0.1:0",
        "--output-null",
    ]);
    gor.wait_for_line("BPF Filter", Duration::from_secs(15));
    let http = gor.port_after("--input-http listening on", Duration::from_secs(15));
    // One request through the HTTP input, so its copy loop has run.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    client
        .write_all(b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    // Let every thread settle into its blocking wait.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let out = gor.finish(Duration::from_secs(20), true);
    let took = started.elapsed();
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        took < PROMPT,
        "{engine}: gor took {took:?} to exit after SIGINT:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("did not end"),
        "{engine}: a thread was still running at exit:\n{}",
        out.stderr
    );
    drop(client);
}

#[test]
fn sigint_with_libpcap_capture_and_http_input_exits_promptly() {
    if !can_capture("sigint_with_libpcap_capture_and_http_input_exits_promptly") {
        return;
    }
    sigint_with_raw_and_http_inputs_exits_promptly("libpcap");
}

#[test]
fn sigint_with_af_packet_capture_and_http_input_exits_promptly() {
    if !can_capture("sigint_with_af_packet_capture_and_http_input_exits_promptly") {
        return;
    }
    sigint_with_raw_and_http_inputs_exits_promptly("raw_socket");
}

#[test]
fn sigint_stops_the_file_server_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let gor = Running::start_in(&["file-server", "127.0.0.1:0"], Some(dir.path()));
    gor.wait_for_line("serving", Duration::from_secs(15));
    let started = Instant::now();
    let out = gor.finish(Duration::from_secs(20), true);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}
