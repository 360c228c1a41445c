//! The output driven directly (no emitter): worker scaling, draining on
//! close, live overflow, the response input's end.

use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::AtomicUsize;

/// A keep-alive server answering every request (`GET` heads, no bodies)
/// after `delay`, counting what it answered.
fn server(delay: Duration) -> (u16, Arc<AtomicUsize>) {
    let (port, answered, _) = logging_server(delay);
    (port, answered)
}

/// Like [`server`], also logging (connection number, request line).
type Log = Arc<Mutex<Vec<(usize, String)>>>;

fn logging_server(delay: Duration) -> (u16, Arc<AtomicUsize>, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let log: Log = Arc::default();
    let (a, l) = (answered.clone(), log.clone());
    std::thread::spawn(move || {
        for (conn, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { continue };
            let (a, l) = (a.clone(), l.clone());
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(i) = crate::http::edit::find_blank_line(&buf) {
                        let head: Vec<u8> = buf.drain(..i + 4).collect();
                        let first = String::from_utf8_lossy(&head)
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_string();
                        l.lock().unwrap().push((conn, first));
                        std::thread::sleep(delay);
                        // Counted before the answer goes out: once the
                        // client has the answer, the count shows it.
                        a.fetch_add(1, Ordering::SeqCst);
                        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, answered, log)
}

fn config(port: u16, min: usize, max: usize, queue: usize) -> HttpConfig {
    HttpConfig {
        rewrite: Rewrite {
            target: Target::parse(&format!("127.0.0.1:{port}")).unwrap(),
            original_host: false,
        },
        timeout: Duration::from_secs(5),
        redirects: 0,
        response_buffer: 1024,
        track_response: false,
        skip_verify: false,
        workers_min: min,
        workers_max: max,
        queue_len: queue,
        worker_timeout: Duration::from_millis(100),
        stats_period: None,
        sessions: false,
        debug: false,
        index: 0,
    }
}

fn request(i: usize) -> Message {
    Message::new(
        PayloadType::Request,
        &format!("{i:024x}"),
        0,
        0,
        format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n"),
    )
}

fn wait_until(what: &str, deadline: Duration, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn workers_grow_with_the_queue_and_idle_extra_ones_stop() {
    let (port, answered) = server(Duration::from_millis(50));
    let (out, _) = HttpOutput::start(config(port, 1, 8, 100), None, &Shutdown::new()).unwrap();
    for i in 0..40 {
        out.write(&request(i)).unwrap();
    }
    assert!(out.workers() > 1, "workers: {}", out.workers());
    assert!(out.workers() <= 8);
    wait_until("every answer", Duration::from_secs(20), || {
        answered.load(Ordering::SeqCst) == 40
    });
    wait_until("idle workers to stop", Duration::from_secs(10), || {
        out.workers() == 1
    });
    out.close();
}

#[test]
fn close_returns_once_every_accepted_request_was_answered() {
    let (port, answered) = server(Duration::from_millis(20));
    let (out, _) = HttpOutput::start(config(port, 2, 2, 50), None, &Shutdown::new()).unwrap();
    for i in 0..20 {
        out.write(&request(i)).unwrap();
    }
    out.close();
    assert_eq!(answered.load(Ordering::SeqCst), 20);
    assert_eq!(out.workers(), 0);
    assert!(out.write(&request(99)).is_err(), "closed outputs refuse");
}

#[test]
fn a_live_offer_to_a_full_queue_is_dropped_and_counted() {
    let (port, answered) = server(Duration::from_millis(300));
    let (out, _) = HttpOutput::start(config(port, 1, 1, 2), None, &Shutdown::new()).unwrap();
    let drops = stats::drop_counter("output_http.queue_full");
    let before = drops.get();
    let start = Instant::now();
    for i in 0..10 {
        out.offer(&request(i)).unwrap();
    }
    assert!(
        start.elapsed() < Duration::from_millis(250),
        "offer never waits"
    );
    let dropped = drops.get() - before;
    assert!(dropped >= 7, "dropped {dropped}");
    out.close();
    assert_eq!(answered.load(Ordering::SeqCst) as u64 + dropped, 10);
}

#[test]
fn tracked_responses_end_with_the_output() {
    let (port, _) = server(Duration::ZERO);
    let mut cfg = config(port, 1, 1, 10);
    cfg.track_response = true;
    let (out, input) = HttpOutput::start(cfg, None, &Shutdown::new()).unwrap();
    let mut input = input.expect("a response input");
    assert!(out.produces_responses());
    // Other message types are not replayed.
    let captured = Message::new(
        PayloadType::Response,
        "x",
        0,
        0,
        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
    );
    out.write(&captured).unwrap();
    out.write(&request(7)).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(m) = input.read().unwrap() {
            got.push(m);
        }
        got
    });
    out.close();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload_type(), Some(PayloadType::ReplayedResponse));
    assert_eq!(got[0].id(), format!("{:024x}", 7).as_bytes());
    assert_eq!(
        &got[0].data[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    );
    assert!(got[0].latency().unwrap() > 0);
}

#[test]
fn with_session_recognition_each_session_keeps_its_order_on_its_own_connection() {
    let (port, answered, log) = logging_server(Duration::from_millis(5));
    let mut cfg = config(port, 1, 0, 100);
    cfg.workers_max = usize::MAX;
    cfg.sessions = true;
    let (out, _) = HttpOutput::start(cfg, None, &Shutdown::new()).unwrap();
    // Two captured connections (same ports and address part of the id,
    // different ACK part), interleaved.
    for i in 0..20 {
        let session = if i % 2 == 0 {
            "aaaaaaaaaaaaaaaa"
        } else {
            "bbbbbbbbbbbbbbbb"
        };
        let id = format!("{session}{i:08x}");
        let msg = Message::new(
            PayloadType::Request,
            &id,
            0,
            0,
            format!("GET /{session}/{i} HTTP/1.1\r\nHost: h\r\n\r\n"),
        );
        out.write(&msg).unwrap();
    }
    out.close();
    assert_eq!(answered.load(Ordering::SeqCst), 20);
    let log = log.lock().unwrap().clone();
    for session in ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"] {
        let mine: Vec<&(usize, String)> = log.iter().filter(|(_, l)| l.contains(session)).collect();
        let conns: std::collections::HashSet<usize> = mine.iter().map(|(c, _)| *c).collect();
        assert_eq!(conns.len(), 1, "{session} used {conns:?}");
        let order: Vec<String> = mine.iter().map(|(_, l)| l.clone()).collect();
        let want: Vec<String> = (0..20)
            .filter(|i| (i % 2 == 0) == (session.starts_with('a')))
            .map(|i| format!("GET /{session}/{i} HTTP/1.1"))
            .collect();
        assert_eq!(order, want);
    }
}

#[test]
fn a_keep_alive_connection_the_server_dropped_is_replaced_without_losing_the_request() {
    // Answers one request per connection, then closes without saying so.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let a = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while crate::http::edit::find_blank_line(&buf).is_none() {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            if crate::http::edit::find_blank_line(&buf).is_none() {
                continue;
            }
            // Counted before the answer goes out: once the client has the
            // answer, the count must already show it.
            a.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            // Give the client time to reuse the connection it thinks is open.
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let (out, _) = HttpOutput::start(config(port, 1, 1, 10), None, &Shutdown::new()).unwrap();
    for i in 0..10 {
        out.write(&request(i)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    out.close();
    // Without the retry on a fresh connection, the requests sent on the
    // dropped ones would be lost.
    assert_eq!(answered.load(Ordering::SeqCst), 10);
}

#[test]
fn session_workers_are_capped_at_the_worker_limit_and_sessions_keep_their_order() {
    let (port, answered, log) = logging_server(Duration::from_millis(2));
    let mut cfg = config(port, 1, 3, 100);
    cfg.sessions = true;
    let (out, _) = HttpOutput::start(cfg, None, &Shutdown::new()).unwrap();
    // 12 captured connections, 5 requests each, interleaved.
    let mut most = 0;
    for round in 0..5 {
        for session in 0..12 {
            let id = format!("{session:016x}{round:08x}");
            let msg = Message::new(
                PayloadType::Request,
                &id,
                0,
                0,
                format!("GET /{session}/{round} HTTP/1.1\r\nHost: h\r\n\r\n"),
            );
            out.write(&msg).unwrap();
            most = most.max(out.session_workers()).max(out.workers());
        }
    }
    assert_eq!(most, 3, "session workers never pass --output-http-workers");
    out.close();
    assert_eq!(answered.load(Ordering::SeqCst), 60);
    let log = log.lock().unwrap().clone();
    let conns: std::collections::HashSet<usize> = log.iter().map(|(c, _)| *c).collect();
    assert!(conns.len() <= 3, "{} connections", conns.len());
    for session in 0..12 {
        let prefix = format!("GET /{session}/");
        let mine: Vec<&(usize, String)> =
            log.iter().filter(|(_, l)| l.starts_with(&prefix)).collect();
        let on: std::collections::HashSet<usize> = mine.iter().map(|(c, _)| *c).collect();
        assert_eq!(on.len(), 1, "session {session} moved between connections");
        let order: Vec<String> = mine.iter().map(|(_, l)| l.clone()).collect();
        let want: Vec<String> = (0..5)
            .map(|r| format!("GET /{session}/{r} HTTP/1.1"))
            .collect();
        assert_eq!(order, want);
    }
}

#[test]
fn unbounded_workers_still_cap_session_workers() {
    let mut cfg = config(1, 1, 0, 100);
    cfg.workers_max = usize::MAX;
    assert_eq!(Sessions::cap(&cfg), MAX_SESSION_WORKERS);
    cfg.workers_max = 7;
    assert_eq!(Sessions::cap(&cfg), 7);
}

#[test]
fn an_expired_shutdown_ends_close_at_once_and_counts_what_was_given_up() {
    // Accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let shutdown = Shutdown::new();
    let (out, _) = HttpOutput::start(config(port, 2, 2, 50), None, &shutdown).unwrap();
    let abandoned = stats::drop_counter("output_http.abandoned_at_close");
    let before = abandoned.get();
    for i in 0..10 {
        out.write(&request(i)).unwrap();
    }
    let s = shutdown.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        s.expire("test");
    });
    let started = Instant::now();
    out.close();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "close took {:?}",
        started.elapsed()
    );
    assert_eq!(out.workers(), 0);
    // Other tests may give requests up at the same time: at least ours.
    assert!(abandoned.get() - before >= 10);
}
