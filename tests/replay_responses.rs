//! What comes back from the target: type-3 records with the request's id
//! and the measured latency, the `output_http` stats line, and redirects
//! followed only when asked.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use common::{records, run};
use replay_common::{Behaviour, OK, RecordingServer, replay, write_gor};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn tracked_responses_reach_the_output_file_as_type_3_with_latency() {
    // The server takes ~30 ms per request, so the latency is measurable.
    let server = RecordingServer::start(Behaviour::Custom(Arc::new(|req: &[u8]| {
        std::thread::sleep(Duration::from_millis(30));
        let path = String::from_utf8_lossy(req)
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string();
        format!("HTTP/1.1 200 OK\r\nX-Path: {path}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n").into_bytes()
    })));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    let out_file = dir.path().join("out.gor");
    write_gor(
        &file,
        &[
            (
                "000000000000000000000001",
                b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            ),
            (
                "000000000000000000000002",
                b"GET /two HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            ),
        ],
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let out = run(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-http",
            &server.url(),
            "--output-http-track-response",
            "--output-file",
            out_file.to_str().unwrap(),
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    // The file output writes name_0.gor-style chunks; read whatever it made.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("out") {
            bytes.extend(std::fs::read(p).unwrap());
        }
    }
    let recs = records(&bytes);
    let replies: Vec<_> = recs.iter().filter(|(h, _)| h.starts_with("3 ")).collect();
    assert_eq!(replies.len(), 2, "{recs:?}\n{}", out.stderr);
    assert_eq!(recs.iter().filter(|(h, _)| h.starts_with("1 ")).count(), 2);
    for (header, data) in replies {
        let f: Vec<&str> = header.split(' ').collect();
        assert_eq!(f.len(), 4, "{header}");
        let (id, start, rtt): (&str, i64, i64) =
            (f[1], f[2].parse().unwrap(), f[3].parse().unwrap());
        let path = if id.ends_with('1') { "/one" } else { "/two" };
        assert!(start >= before, "start {start} before {before}");
        assert!((30_000_000..10_000_000_000).contains(&rtt), "rtt {rtt}");
        let text = String::from_utf8_lossy(data);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains(&format!("X-Path: {path}\r\n")), "{text}");
        assert!(text.ends_with("4\r\nbody\r\n0\r\n\r\n"), "{text}");
    }
}

#[test]
fn response_buffer_limits_the_bytes_kept() {
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    resp.extend(std::iter::repeat_n(b'z', 100_000));
    let server = RecordingServer::start(Behaviour::Respond(resp));
    let recording = [(
        "000000000000000000000003",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
    )];
    let out = replay(
        &recording,
        &[
            "--output-http",
            &server.url(),
            "--output-http-track-response",
            "--output-http-response-buffer",
            "1kb",
            "--output-stdout",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let recs = records(&out.stdout);
    let reply = recs
        .iter()
        .find(|(h, _)| h.starts_with("3 "))
        .expect("a type-3 record");
    assert_eq!(reply.1.len(), 1024);
}

#[test]
fn stats_line_reports_the_queue_every_period() {
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    // Records 100 ms apart: the run lasts over a second.
    let mut bytes = Vec::new();
    for i in 0..15u64 {
        bytes.extend_from_slice(
            format!(
                "1 {i:024x} {} 0\nGET /{i} HTTP/1.1\r\nHost: h\r\n\r\n",
                1_700_000_000_000_000_000 + i * 100_000_000
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(replay_common::SEP);
    }
    std::fs::write(&file, bytes).unwrap();
    let out = run(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-http",
            &server.url(),
            "--stats",
            "--output-http-stats",
            "--output-http-stats-ms",
            "1000",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("output_http:latest,mean,max,count,count/second,gcount"),
        "{}",
        out.stderr
    );
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("output_http:"))
        .filter(|l| l.split(',').all(|f| f.parse::<u64>().is_ok()))
        .collect();
    assert!(lines.len() >= 2, "{}", out.stderr);
    let total: u64 = lines
        .iter()
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 15, "{}", out.stderr);
    for l in &lines {
        assert_eq!(l.split(',').count(), 6, "{l}");
    }
}

fn redirecting_server() -> RecordingServer {
    RecordingServer::start(Behaviour::Custom(Arc::new(|req: &[u8]| {
        let path = String::from_utf8_lossy(req)
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string();
        match path.as_str() {
            "/a" => b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n".to_vec(),
            "/b" => b"HTTP/1.1 301 Moved\r\nLocation: /c\r\nContent-Length: 0\r\n\r\n".to_vec(),
            _ => OK.to_vec(),
        }
    })))
}

fn run_redirects(n: &str) -> (Vec<String>, String) {
    let server = redirecting_server();
    let recording = [(
        "000000000000000000000004",
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
    )];
    let out = replay(
        &recording,
        &["--output-http", &server.url(), "--output-http-redirects", n],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let paths = server
        .received()
        .iter()
        .map(|r| {
            String::from_utf8_lossy(r)
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    (paths, out.stderr)
}

#[test]
fn redirects_are_followed_only_when_asked_and_up_to_the_limit() {
    assert_eq!(run_redirects("0").0, vec!["/a"]);
    assert_eq!(run_redirects("1").0, vec!["/a", "/b"]);
    assert_eq!(run_redirects("5").0, vec!["/a", "/b", "/c"]);
}
