//! gor's own HTTP servers (`--input-http`, `gor file-server`) under a
//! slowloris attack with their default limits: 512 connections, 10 s for a
//! request head. Half the attacking connections send nothing, half send a
//! head one byte a second. Past the cap new connections get `503`; once the
//! head timeout has cut the attackers off, a normal client is served again.

mod common;

use common::{FileServer, Running, counted};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CAP: usize = 512;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const T: Duration = Duration::from_secs(30);

/// `CAP` attacking connections: even ones silent, odd ones sending a head
/// that never ends, one byte a second each, until `stop`.
struct Attack {
    conns: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
}

impl Attack {
    fn start(port: u16) -> Attack {
        let conns: Vec<TcpStream> = (0..CAP)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers: Vec<TcpStream> = conns
            .iter()
            .skip(1)
            .step_by(2)
            .map(|c| c.try_clone().unwrap())
            .collect();
        let s = stop.clone();
        std::thread::spawn(move || {
            let head = b"GET / HTTP/1.1\r\nHost: slow.example\r\nX-Pad: ";
            for b in head.iter().chain(std::iter::repeat(&b'a')) {
                for w in &mut writers {
                    let _ = w.write_all(&[*b]);
                }
                // One byte a second: the pace of the attack, not a wait.
                std::thread::sleep(Duration::from_secs(1));
                if s.load(Ordering::Relaxed) {
                    return;
                }
            }
        });
        Attack { conns, stop }
    }

    /// Asserts that the server closed every attacking connection.
    fn assert_all_closed(&mut self) {
        for (i, c) in self.conns.iter_mut().enumerate() {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 128];
            loop {
                match c.read(&mut b) {
                    Ok(0) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(e) => panic!("attacking connection {i} still open: {e}"),
                    Ok(_) => {}
                }
            }
        }
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends `GET path` on a new connection and returns the whole answer (the
/// server closes after it: `Connection: close`), or "" if the connection
/// failed.
fn get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// Runs the attack against `port`: the cap is full, one more connection gets
/// 503, and a normal client is served `want` once the attackers are cut off.
fn attack_then_serve(port: u16, path: &str, want: &str) {
    let start = Instant::now();
    let mut attack = Attack::start(port);
    for _ in 0..8 {
        let answer = get(port, path);
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "past the cap: {answer:?}"
        );
    }
    loop {
        let answer = get(port, path);
        if answer.contains(want) {
            break;
        }
        assert!(
            start.elapsed() < HEAD_TIMEOUT + Duration::from_secs(10),
            "a normal client was still not served after {:?}: {answer:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let waited = start.elapsed();
    assert!(
        waited >= HEAD_TIMEOUT - Duration::from_secs(1),
        "served after {waited:?}: the attackers were not holding the slots"
    );
    attack.assert_all_closed();
}

#[test]
fn input_http_under_slowloris_refuses_past_its_cap_and_serves_again_after_the_head_timeout() {
    let gor = Running::start(&["--input-http", "127.0.0.1:0", "--output-stdout"]);
    let port = gor.port_after("--input-http listening on ", T);
    attack_then_serve(port, "/normal", "HTTP/1.1 200 OK");
    gor.wait_records(1, T);
    let out = gor.finish(T, true);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let recs = common::records(&out.stdout);
    assert_eq!(recs.len(), 1, "only the normal request came through");
    assert!(recs[0].1.starts_with(b"GET /normal HTTP/1.1\r\n"));
    assert_eq!(
        counted(&out.stderr, "input_http.silent_connections"),
        CAP as u64 / 2,
        "{}",
        out.stderr
    );
    assert_eq!(
        counted(&out.stderr, "input_http.slow_requests"),
        CAP as u64 / 2
    );
    assert!(counted(&out.stderr, "input_http.refused_connections") >= 8);
}

#[test]
fn file_server_under_slowloris_refuses_past_its_cap_and_serves_again_after_the_head_timeout() {
    let server = FileServer::start();
    attack_then_serve(server.port, "/page.txt", "\r\n\r\nthe page");
    // It runs until killed, so it has no exit summary: the first cut-off of
    // each kind is logged with its counter's name.
    let log = server.gor.stderr();
    for counter in [
        "file_server.refused_connections",
        "file_server.silent_connections",
        "file_server.slow_requests",
    ] {
        assert!(log.contains(counter), "{counter} not logged:\n{log}");
    }
}
