//! Two gor processes relaying over `--output-tcp` → `--input-tcp`, plain and
//! TLS: every message arrives intact; a receiver restarted mid-stream loses
//! nothing; garbage, a peer closing mid-record and a wrong certificate are
//! counted or reported without a panic, and other senders keep being served.

mod common;
#[path = "common/relay.rs"]
mod relay_common;

use common::{Running, counted, record, run};
use relay_common::{
    assert_same_messages, free_port, messages, receiver, sorted_records, write_file,
};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

/// The receiver's TLS flags with this certificate, when `tls`.
fn secure_receiver<'a>(tls: bool, cert: &'a str, key: &'a str) -> Vec<&'a str> {
    if tls {
        vec![
            "--input-tcp-secure",
            "--input-tcp-certificate",
            cert,
            "--input-tcp-certificate-key",
            key,
        ]
    } else {
        vec![]
    }
}

/// A sender of `input` to `target` over `--output-tcp`, with TLS when `tls`.
fn sender_args<'a>(input: &'a std::path::Path, target: &'a str, tls: bool) -> Vec<&'a str> {
    let mut args = vec![
        "--input-file",
        input.to_str().unwrap(),
        "--output-tcp",
        target,
    ];
    if tls {
        args.extend(["--output-tcp-secure", "--output-tcp-skip-verify"]);
    }
    args
}

fn relay_ten_thousand(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let sent = messages(10_000, 7, |_| 1_700_000_000_000_000_000);
    let input = dir.path().join("in.gor");
    write_file(&input, &sent);
    let out = dir.path().join("out.gor");
    let (cert, key) = common::tls::pem_files(dir.path());
    let secure = secure_receiver(tls, &cert, &key);
    let (gor_in, port) = receiver("127.0.0.1:0", &out, &secure);
    let target = format!("localhost:{port}");
    let mut args = sender_args(&input, &target, tls);
    if !tls {
        args.extend(["--stats", "--output-tcp-stats"]);
    }
    let sender = run(&args, DEADLINE);
    assert_eq!(sender.code(), Some(0), "{}", sender.stderr);
    if !tls {
        // The queue line: its header, then (at the latest when the output
        // closes) one line of figures.
        assert!(
            sender
                .stderr
                .contains("output_tcp:latest,mean,max,count,count/second,gcount"),
            "{}",
            sender.stderr
        );
        assert!(
            sender
                .stderr
                .lines()
                .any(|l| l.trim().starts_with("output_tcp:")
                    && l.trim()[11..].split(',').all(|f| f.parse::<u64>().is_ok())),
            "{}",
            sender.stderr
        );
    }
    assert!(!sender.stderr.contains("abandoned"), "{}", sender.stderr);
    let recv = gor_in.finish(DEADLINE, true);
    assert_eq!(recv.code(), Some(0), "{}", recv.stderr);
    assert!(
        !recv.stderr.contains("dropped or skipped"),
        "{}",
        recv.stderr
    );
    assert_same_messages(&sent, &sorted_records(&[&out]));
}

#[test]
fn ten_thousand_varied_messages_arrive_intact() {
    relay_ten_thousand(false);
}

#[test]
fn ten_thousand_varied_messages_arrive_intact_over_tls() {
    relay_ten_thousand(true);
}

fn restart_mid_stream(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::tls::pem_files(dir.path());
    let secure = secure_receiver(tls, &cert, &key);
    // 2,000 messages over about 2 s (1 ms apart), so the restart falls in
    // the middle of the stream.
    let sent = messages(2_000, 11, |i| {
        1_700_000_000_000_000_000 + i as i64 * 1_000_000
    });
    let input = dir.path().join("in.gor");
    write_file(&input, &sent);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let first = dir.path().join("first.gor");
    let second = dir.path().join("second.gor");
    let (gor_a, _) = receiver(&addr, &first, &secure);
    let mut args = sender_args(&input, &addr, tls);
    args.extend(["--output-tcp-workers", "3"]);
    let sender = Running::start(&args);
    std::thread::sleep(Duration::from_millis(700));
    gor_a.signal(libc::SIGTERM);
    let a = gor_a.finish(DEADLINE, false);
    assert_eq!(a.code(), Some(0), "{}", a.stderr);
    std::thread::sleep(Duration::from_millis(300));
    let (gor_b, _) = receiver(&addr, &second, &secure);
    let s = sender.wait(DEADLINE);
    assert_eq!(s.code(), Some(0), "{}", s.stderr);
    let b = gor_b.finish(DEADLINE, true);
    assert_eq!(b.code(), Some(0), "{}", b.stderr);
    let got_first = sorted_records(&[&first]);
    assert!(
        !got_first.is_empty() && got_first.len() < sent.len(),
        "the restart should fall mid-stream: {} of {} before it",
        got_first.len(),
        sent.len()
    );
    assert_same_messages(&sent, &sorted_records(&[&first, &second]));
    assert_eq!(counted(&s.stderr, "output_tcp.abandoned_at_close"), 0);
    // The outage is one line, not one per worker, and so is its end.
    let lines = |text: &str| s.stderr.lines().filter(|l| l.contains(text)).count();
    assert_eq!(lines("retrying (at least every second)"), 1, "{}", s.stderr);
    assert_eq!(lines("connected again after"), 1, "{}", s.stderr);
}

#[test]
fn a_receiver_restarted_mid_stream_loses_nothing() {
    restart_mid_stream(false);
}

#[test]
fn a_receiver_restarted_mid_stream_loses_nothing_over_tls() {
    restart_mid_stream(true);
}

#[test]
fn garbage_and_a_peer_closing_mid_record_are_counted_and_others_keep_being_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gor");
    let (gor_in, port) = receiver("127.0.0.1:0", &out, &[]);
    let addr = format!("127.0.0.1:{port}");
    // A well-behaved peer stays connected throughout.
    let mut good = TcpStream::connect(&addr).unwrap();
    good.write_all(&record(
        "1 aa01 1700000000000000000 0",
        b"GET /1 HTTP/1.1\r\n\r\n",
    ))
    .unwrap();
    // Garbage with a separator in it: not a gor sender, closed.
    let mut bad = TcpStream::connect(&addr).unwrap();
    bad.write_all(&record("hello", b"this is no record"))
        .unwrap();
    // A record, then half of the next one, then gone.
    let mut cut = TcpStream::connect(&addr).unwrap();
    cut.write_all(&record(
        "1 bb01 1700000000000000000 0",
        b"GET /cut HTTP/1.1\r\n\r\n",
    ))
    .unwrap();
    cut.write_all(b"1 bb02 1700000000000000000 0\nGET /half")
        .unwrap();
    drop(cut);
    std::thread::sleep(Duration::from_millis(300));
    good.write_all(&record(
        "1 aa02 1700000000000000000 0",
        b"GET /2 HTTP/1.1\r\n\r\n",
    ))
    .unwrap();
    drop(good);
    drop(bad);
    std::thread::sleep(Duration::from_millis(300));
    let r = gor_in.finish(DEADLINE, true);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let ids: Vec<String> = sorted_records(&[&out])
        .into_iter()
        .map(|(h, _)| h.split(' ').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(ids, ["aa01", "aa02", "bb01"], "{}", r.stderr);
    assert_eq!(
        counted(&r.stderr, "input_tcp.closed_for_garbage"),
        1,
        "{}",
        r.stderr
    );
    assert_eq!(
        counted(&r.stderr, "input_tcp.truncated_tail"),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn a_wrong_certificate_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::tls::pem_files(dir.path());
    let out = dir.path().join("out.gor");
    let (gor_in, port) = receiver(
        "127.0.0.1:0",
        &out,
        &[
            "--input-tcp-secure",
            "--input-tcp-certificate",
            &cert,
            "--input-tcp-certificate-key",
            &key,
        ],
    );
    let input = dir.path().join("in.gor");
    write_file(&input, &messages(5, 3, |_| 1_700_000_000_000_000_000));
    // The self-signed certificate is not trusted without skip-verify.
    let sender = Running::start(&[
        "--input-file",
        input.to_str().unwrap(),
        "--output-tcp",
        &format!("localhost:{port}"),
        "--output-tcp-secure",
        "--output-tcp-workers",
        "1",
    ]);
    let line = sender.wait_for_line("TLS handshake", DEADLINE);
    assert!(line.contains("certificate"), "{line}");
    let s = sender.finish(DEADLINE, true);
    assert!(!s.stderr.contains("panicked"), "{}", s.stderr);
    assert_eq!(
        s.stderr.matches("TLS handshake").count(),
        1,
        "one line per outage, not one per try: {}",
        s.stderr
    );
    assert_eq!(
        counted(&s.stderr, "output_tcp.abandoned_at_close"),
        5,
        "{}",
        s.stderr
    );
    let r = gor_in.finish(DEADLINE, true);
    assert!(
        counted(&r.stderr, "input_tcp.tls_handshake_failures") >= 1,
        "{}",
        r.stderr
    );
}

#[test]
fn bad_settings_are_one_clear_line() {
    let r = run(
        &[
            "--input-dummy",
            "0",
            "--output-tcp",
            "127.0.0.1:1",
            "--output-tcp-workers",
            "0",
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("output-tcp-workers"), "{}", r.stderr);
    assert!(r.stderr.contains("at least 1"), "{}", r.stderr);
    let r = run(
        &[
            "--input-tcp",
            "127.0.0.1:0",
            "--input-tcp-secure",
            "--input-tcp-certificate",
            "/nonexistent/cert.pem",
            "--input-tcp-certificate-key",
            "/nonexistent/key.pem",
            "--output-null",
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--input-tcp-certificate \"/nonexistent/cert.pem\""),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_receiver_restarted_during_a_lull_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // 300 messages at once, 2.5 s of silence, 300 more.
    let sent = messages(600, 13, |i| {
        1_700_000_000_000_000_000 + if i < 300 { 0 } else { 2_500_000_000 }
    });
    let input = dir.path().join("in.gor");
    write_file(&input, &sent);
    let addr = format!("127.0.0.1:{}", free_port());
    let first = dir.path().join("first.gor");
    let second = dir.path().join("second.gor");
    let (gor_a, _) = receiver(&addr, &first, &[]);
    let sender = Running::start(&[
        "--input-file",
        input.to_str().unwrap(),
        "--output-tcp",
        &addr,
    ]);
    std::thread::sleep(Duration::from_millis(600));
    let a = gor_a.finish(DEADLINE, true);
    assert_eq!(a.code(), Some(0), "{}", a.stderr);
    let (gor_b, _) = receiver(&addr, &second, &[]);
    let s = sender.wait(DEADLINE);
    assert_eq!(s.code(), Some(0), "{}", s.stderr);
    let b = gor_b.finish(DEADLINE, true);
    assert_eq!(b.code(), Some(0), "{}", b.stderr);
    // The first half before the stop; the second after the restart (unless
    // a loaded machine delayed the stop past the lull).
    assert!(sorted_records(&[&first]).len() >= 300, "{}", a.stderr);
    assert_same_messages(&sent, &sorted_records(&[&first, &second]));
}

#[test]
fn connections_past_the_cap_are_closed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gor");
    let (gor_in, port) = receiver("127.0.0.1:0", &out, &[]);
    let addr = format!("127.0.0.1:{port}");
    let mut open: Vec<TcpStream> = (0..512)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // The 513th is accepted and closed at once.
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut extra, &mut byte).unwrap_or(0),
        0,
        "the connection past the cap is closed"
    );
    // The ones within the cap are served.
    open[0]
        .write_all(&record(
            "1 cc01 1700000000000000000 0",
            b"GET / HTTP/1.1\r\n\r\n",
        ))
        .unwrap();
    open.truncate(1);
    drop(open);
    let r = gor_in.finish(DEADLINE, true);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert_eq!(
        counted(&r.stderr, "input_tcp.refused_connections"),
        1,
        "{}",
        r.stderr
    );
    assert_eq!(sorted_records(&[&out]).len(), 1, "{}", r.stderr);
}

#[test]
fn slowloris_senders_are_cut_off_after_the_stall_timeout_and_others_are_served_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gor");
    let (gor_in, port) = receiver("127.0.0.1:0", &out, &[]);
    let addr = format!("127.0.0.1:{port}");
    // 100 connections that start a record and then send a byte every 5 s,
    // never finishing it.
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(format!("1 {i:024x} 1700000000000000000 0\nGET /slow").as_bytes())
                .unwrap();
            c
        })
        .collect();
    let started = std::time::Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let mut writers: Vec<TcpStream> = slow.iter().map(|c| c.try_clone().unwrap()).collect();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for w in &mut writers {
                    let _ = w.write_all(b"w");
                }
                // The attack's pace, not a wait for a condition.
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    };
    // Meanwhile a real sender is served in full.
    let sent = messages(2_000, 7, |i| 1_700_000_000_000_000_000 + i as i64);
    let mut real = TcpStream::connect(&addr).unwrap();
    for (h, p) in &sent {
        real.write_all(&record(h, p)).unwrap();
    }
    drop(real);
    // Past the stall timeout (60 s), every slow connection is closed.
    for (i, c) in slow.iter_mut().enumerate() {
        let left = Duration::from_secs(75).saturating_sub(started.elapsed());
        c.set_read_timeout(Some(left.max(Duration::from_secs(1))))
            .unwrap();
        let mut b = [0u8; 16];
        match std::io::Read::read(c, &mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!(
                "slow connection {i} still open after {:?}: {other:?}",
                started.elapsed()
            ),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_secs(55),
        "cut off too early"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickle.join().unwrap();
    let r = gor_in.finish(DEADLINE, true);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert_eq!(
        counted(&r.stderr, "input_tcp.stalled_connections"),
        100,
        "{}",
        r.stderr
    );
    assert_same_messages(&sent, &sorted_records(&[&out]));
}

/// A receiver that accepts connections and then neither reads nor
/// answers (not even a TLS handshake); SIGTERM to the sender.
fn stop_with_a_receiver_that_stopped_reading(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    // 64 MB: more than the socket buffers and the queue take.
    let payload = vec![b'x'; 64 << 10];
    let mut recording = Vec::new();
    for i in 0..1_000 {
        recording.extend_from_slice(&record(
            &format!("1 {i:024x} 1700000000000000000 0"),
            &payload,
        ));
    }
    let input = dir.path().join("in.gor");
    std::fs::write(&input, recording).unwrap();
    // Accepts every connection and never reads from it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let sender = Running::start(&sender_args(&input, &target, tls));
    // Time to fill the sockets and the queue (about 10 MB/s would do).
    std::thread::sleep(Duration::from_secs(1));
    let stop = std::time::Instant::now();
    sender.signal(libc::SIGTERM);
    let s = sender.wait(DEADLINE);
    let took = stop.elapsed();
    assert_eq!(s.code(), Some(0), "{}", s.stderr);
    // Five seconds without progress, then the blocked writes are cut: well
    // inside the ten seconds `docker stop` waits before it kills.
    assert!(
        took < Duration::from_secs(8),
        "took {took:?}:\n{}",
        s.stderr
    );
    assert!(!s.stderr.contains("did not end"), "{}", s.stderr);
    assert_eq!(
        s.stderr.matches("could not be sent before closing").count(),
        1,
        "{}",
        s.stderr
    );
    assert!(
        counted(&s.stderr, "output_tcp.abandoned_at_close") > 0,
        "{}",
        s.stderr
    );
}

#[test]
fn a_sender_whose_receiver_stopped_reading_stops_within_seconds_and_counts_what_it_held() {
    stop_with_a_receiver_that_stopped_reading(false);
}

#[test]
fn a_sender_whose_receiver_never_answers_the_tls_handshake_stops_within_seconds() {
    stop_with_a_receiver_that_stopped_reading(true);
}
