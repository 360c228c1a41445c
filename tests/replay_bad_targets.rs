//! Targets that misbehave — refuse connections, answer slowly, close in the
//! middle of a response, send garbage, send a huge body — do not stop gor:
//! each error kind is counted, the healthy target still gets everything, and
//! memory stays bounded. An invalid URL is refused at start-up.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use common::{Running, peak_rss_kb, run};
use replay_common::{Behaviour, OK, RecordingServer, closed_port, counted, replay, write_gor};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn requests(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                "000000000000000000000006",
                format!("GET /r/{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes(),
            )
        })
        .collect()
}

/// Replays 5 requests to a healthy target and to `bad` ones with a
/// request timeout of `timeout`: gor exits 0, drains in bounded time, the
/// healthy target gets all 5. Returns gor's stderr.
fn replay_beside_a_healthy_target(bad: &[String], timeout: &str) -> String {
    let good = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let mut args = vec!["--output-http".to_string(), good.url()];
    for url in bad {
        args.extend(["--output-http".to_string(), url.clone()]);
    }
    args.extend(
        [
            "--output-http-timeout",
            timeout,
            "--output-http-workers",
            "5",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = replay(&requests(5), &args, T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "draining took {:?}",
        started.elapsed()
    );
    assert_eq!(good.received().len(), 5);
    out.stderr
}

#[test]
fn each_error_kind_is_counted_and_the_healthy_target_gets_everything() {
    let slow = RecordingServer::start(Behaviour::Silent);
    let half = RecordingServer::start(Behaviour::CloseAfter(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc".to_vec(),
    ));
    let garbage = RecordingServer::start(Behaviour::Garbage(
        b"\x00\x01\x02 SSH-2.0-OpenSSH\r\n\r\n".to_vec(),
    ));
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let stderr =
        replay_beside_a_healthy_target(&[refused, slow.url(), half.url(), garbage.url()], "300ms");
    for (name, want) in [
        ("output_http.errors.refused", 5),
        ("output_http.errors.timeout", 5),
        ("output_http.errors.closed_mid_response", 5),
        ("output_http.errors.garbage_response", 5),
    ] {
        assert_eq!(counted(&stderr, name), want, "{name}\n{stderr}");
    }
}

#[test]
fn resets_trickles_and_failed_tls_handshakes_are_counted_and_the_healthy_target_gets_everything() {
    let reset = RecordingServer::start(Behaviour::ResetAfter(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc".to_vec(),
    ));
    // One byte a second: the response never completes within the timeout.
    let trickle = RecordingServer::start(Behaviour::Trickle(OK.to_vec(), Duration::from_secs(1)));
    // https:// to a server that answers the TLS hello with plain HTTP.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_tls = format!("https://127.0.0.1:{}", plain.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for conn in plain.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut hello = [0u8; 512];
            let _ = conn.read(&mut hello);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let stderr = replay_beside_a_healthy_target(&[reset.url(), trickle.url(), not_tls], "500ms");
    let errors = |kind: &str| counted(&stderr, &format!("output_http.errors.{kind}"));
    assert_eq!(errors("timeout"), 5, "the trickle\n{stderr}");
    assert_eq!(errors("closed_mid_response"), 5, "the reset\n{stderr}");
    assert_eq!(errors("tls_failed"), 5, "the failed handshake\n{stderr}");
}

#[test]
fn a_huge_response_body_is_read_through_without_keeping_it() {
    // 400 MB of body, tracked with the default 200kb response buffer.
    let huge = RecordingServer::start(Behaviour::HugeBody(400 << 20));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    write_gor(&file, &requests(1));
    let out_file = dir.path().join("out.gor");
    let gor = Running::start(&[
        "--input-file",
        file.to_str().unwrap(),
        "--output-http",
        &huge.url(),
        "--output-http-track-response",
        "--output-http-timeout",
        "60s",
        "--output-file",
        out_file.to_str().unwrap(),
    ]);
    let pid = gor.pid();
    let mut peak = 0;
    let start = Instant::now();
    while let Some(kb) = peak_rss_kb(pid) {
        peak = peak.max(kb);
        if start.elapsed() > Duration::from_secs(50) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        // A finished child stays a zombie with no VmHWM line: the loop ends.
    }
    let out = gor.wait(T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("out") {
            bytes.extend(std::fs::read(p).unwrap());
        }
    }
    let recs = common::records(&bytes);
    let reply = recs
        .iter()
        .find(|(h, _)| h.starts_with("3 "))
        .expect("a type-3 record");
    assert_eq!(reply.1.len(), 200 * 1024);
    assert!(peak > 0 && peak < 100 * 1024, "peak RSS {peak} kB");
    eprintln!("peak RSS {peak} kB, {:?}", start.elapsed());
}

#[test]
fn an_invalid_target_url_fails_at_start_up_naming_the_flag() {
    for url in ["ftp://example.com", "http://host:99999", ":8080"] {
        let out = run(&["--input-dummy", "x", "--output-http", url], T);
        assert_eq!(out.code(), Some(2), "{url}: {}", out.stderr);
        assert!(
            out.stderr.contains("--output-http") && out.stderr.contains(url),
            "{url}: {}",
            out.stderr
        );
    }
    let out = run(
        &[
            "--input-dummy",
            "x",
            "--output-http",
            "http://127.0.0.1:1",
            "--output-http-elasticsearch",
            "http://es:9200/",
        ],
        T,
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--output-http-elasticsearch"),
        "{}",
        out.stderr
    );
}
