//! One framing policy everywhere: the same requests with conflicting,
//! repeated or listed `Content-Length` fields, `Transfer-Encoding` beside a
//! `Content-Length`, or a `Transfer-Encoding` that does not end in `chunked`
//! get the same verdict from live capture (`--input-raw`), `--input-http`,
//! replay (`--input-file` into `--output-http`) and `gor file-server`:
//! accepted as they are, or refused and counted.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use common::{FileServer, Running, can_capture, counted, records};
use replay_common::{Behaviour, OK, RecordingServer, replay};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// (path, request, accepted)
fn cases() -> Vec<(&'static str, Vec<u8>, bool)> {
    let req = |path: &str, fields: &str, body: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\n{fields}\r\n{body}").into_bytes()
    };
    vec![
        (
            "/conflicting",
            req(
                "/conflicting",
                "Content-Length: 3\r\nContent-Length: 4\r\n",
                "abcd",
            ),
            false,
        ),
        (
            "/conflicting-list",
            req("/conflicting-list", "Content-Length: 3, 4\r\n", "abcd"),
            false,
        ),
        (
            "/not-a-number",
            req("/not-a-number", "Content-Length: 3x\r\n", "abc"),
            false,
        ),
        (
            "/chunked-not-last",
            req(
                "/chunked-not-last",
                "Transfer-Encoding: chunked, identity\r\n",
                "3\r\nabc\r\n0\r\n\r\n",
            ),
            false,
        ),
        (
            "/repeated",
            req(
                "/repeated",
                "Content-Length: 3\r\nContent-Length: 3\r\n",
                "abc",
            ),
            true,
        ),
        (
            "/repeated-list",
            req("/repeated-list", "Content-Length: 3, 3\r\n", "abc"),
            true,
        ),
        (
            "/te-and-cl",
            req(
                "/te-and-cl",
                "Content-Length: 30\r\nTransfer-Encoding: chunked\r\n",
                "3\r\nabc\r\n0\r\n\r\n",
            ),
            true,
        ),
    ]
}

fn expected() -> BTreeSet<String> {
    cases()
        .into_iter()
        .filter(|c| c.2)
        .map(|c| c.0.to_string())
        .collect()
}

fn refused() -> u64 {
    cases().iter().filter(|c| !c.2).count() as u64
}

/// The paths of the requests among `recs`, the listed ones only.
fn paths_of(recs: &[(String, Vec<u8>)]) -> BTreeSet<String> {
    let known: BTreeSet<&str> = cases().iter().map(|c| c.0).collect();
    recs.iter()
        .filter_map(|(_, p)| {
            let line = String::from_utf8_lossy(p);
            let path = line.split(' ').nth(1)?.to_string();
            known.contains(path.as_str()).then_some(path)
        })
        .collect()
}

/// Sends `req` on its own connection; returns the first line of the answer
/// (empty if the peer closed without one).
fn send_one(port: u16, req: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.split("\r\n").next().unwrap_or_default().to_string()
}

#[test]
fn capture_takes_the_same_requests_and_counts_the_rest() {
    if !can_capture("capture_takes_the_same_requests_and_counts_the_rest") {
        return;
    }
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let port = server.port;
    let gor = Running::start(&[
        "--input-raw",
        &format!("127.0.0.1:{port}"),
        "--input-raw-stats",
        "--output-stdout",
    ]);
    // Capture is running once a request sent now comes out.
    gor.wait_until(T, "a warm-up request captured", |g| {
        send_one(port, b"GET /warm-up HTTP/1.1\r\nHost: x\r\n\r\n");
        records(&g.stdout_so_far())
            .iter()
            .any(|r| r.1.starts_with(b"GET /warm-up"))
    });
    for (_, req, _) in cases() {
        send_one(port, &req);
    }
    send_one(port, b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n");
    gor.wait_until(T, "the last request captured", |g| {
        records(&g.stdout_so_far())
            .iter()
            .any(|r| r.1.starts_with(b"GET /last"))
    });
    let ran = gor.finish(T, true);
    let recs = records(&ran.stdout);
    assert_eq!(paths_of(&recs), expected(), "{}", ran.stderr);
    // Accepted requests come out byte for byte.
    for (path, req, accepted) in cases() {
        if accepted {
            assert!(
                recs.iter().any(|r| r.1 == req),
                "{path} changed:\n{}",
                ran.stderr
            );
        }
    }
    assert_eq!(
        counted(&ran.stderr, "input_raw.unframeable_messages"),
        refused(),
        "{}",
        ran.stderr
    );
}

#[test]
fn input_http_takes_the_same_requests_and_answers_400_to_the_rest() {
    let gor = Running::start(&["--input-http", "127.0.0.1:0", "--output-stdout"]);
    let port = gor.port_after("--input-http listening on ", T);
    for (path, req, accepted) in cases() {
        let status = send_one(port, &req);
        let want = if accepted { "200" } else { "400" };
        assert!(status.contains(want), "{path}: {status}");
    }
    gor.wait_records(expected().len(), T);
    let ran = gor.finish(T, true);
    let recs = records(&ran.stdout);
    assert_eq!(paths_of(&recs), expected(), "{}", ran.stderr);
    for (path, req, accepted) in cases() {
        if accepted {
            assert!(recs.iter().any(|r| r.1 == req), "{path} changed");
        }
    }
    assert_eq!(
        counted(&ran.stderr, "input_http.unframeable_requests"),
        refused(),
        "{}",
        ran.stderr
    );
}

#[test]
fn replay_sends_the_same_requests_and_skips_the_rest() {
    let target = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let ids: Vec<String> = (0..cases().len()).map(|i| format!("{i:024x}")).collect();
    let recording: Vec<(&str, Vec<u8>)> = cases()
        .into_iter()
        .zip(&ids)
        .map(|((_, req, _), id)| (id.as_str(), req))
        .collect();
    let out = replay(
        &recording,
        &["--output-http", &target.url(), "--http-original-host"],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let got: Vec<(String, Vec<u8>)> = target
        .received()
        .into_iter()
        .map(|r| (String::new(), r))
        .collect();
    assert_eq!(paths_of(&got), expected(), "{}", out.stderr);
    for (path, req, accepted) in cases() {
        if accepted {
            assert!(
                got.iter().any(|r| r.1 == req),
                "{path} changed: {:?}",
                got.iter()
                    .map(|r| String::from_utf8_lossy(&r.1).into_owned())
                    .collect::<Vec<_>>()
            );
        }
    }
    assert_eq!(
        counted(&out.stderr, "output_http.unframeable_requests"),
        refused(),
        "{}",
        out.stderr
    );
}

#[test]
fn file_server_reads_the_same_bodies_and_answers_400_to_the_rest() {
    let server = FileServer::start();
    for (path, req, accepted) in cases() {
        // After the body, a GET on the same connection: answered only when
        // the body was read to its end.
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&req).unwrap();
        s.write_all(b"GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let want: &[u8] = if accepted { b"the page" } else { b"400 Bad" };
        while !got.windows(want.len()).any(|w| w == want) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains(std::str::from_utf8(want).unwrap()),
            "{path}: {text}"
        );
        if accepted {
            assert!(text.starts_with("HTTP/1.1 404"), "{path}: {text}");
        } else {
            assert!(!text.contains("the page"), "{path}: {text}");
        }
    }
    // It runs until killed: the first refusal is logged with its counter.
    server
        .gor
        .wait_for_line("file_server.unframeable_requests", T);
}

#[test]
fn file_server_ends_the_connection_when_the_client_asks() {
    let server = FileServer::start();
    for req in [
        "GET /page.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /page.txt HTTP/1.0\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        // Ends at the server's close, not at the read timeout.
        s.read_to_end(&mut got).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{req:?}");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{req:?}: {text}");
        assert!(
            text.contains("\r\nConnection: close\r\n"),
            "{req:?}: {text}"
        );
        assert!(text.ends_with("\r\n\r\nthe page"), "{req:?}: {text}");
    }
}
