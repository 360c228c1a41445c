//! A non-HTTP protocol captured on loopback (`--input-raw-protocol binary`)
//! and replayed to a second server (`--output-binary`): the second server
//! receives the client's payloads byte for byte, in order, and its replies
//! come back as type-3 records with the ids of the captured requests.
//!
//! The protocol is length-prefixed frames (4-byte big-endian length, then
//! the bytes, which may be anything). The first server answers each frame
//! with its bytes reversed; the second with `B`, then the bytes XOR 0x5a, so
//! that the two replies can be told apart.

#[path = "common/capture.rs"]
mod capture_common;
mod common;

use capture_common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn frame(body: &[u8]) -> Vec<u8> {
    [&(body.len() as u32).to_be_bytes()[..], body].concat()
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// The frames each connection of a server received, in order.
type Received = Arc<Mutex<Vec<Vec<Vec<u8>>>>>;

/// A frame server on 127.0.0.1 answering each frame with `answer(frame)`.
fn serve(answer: fn(&[u8]) -> Vec<u8>) -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let all = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let all = all.clone();
            std::thread::spawn(move || {
                let slot = {
                    let mut all = all.lock().unwrap();
                    all.push(Vec::new());
                    all.len() - 1
                };
                while let Some(body) = read_frame(&mut s) {
                    all.lock().unwrap()[slot].push(frame(&body));
                    if s.write_all(&answer(&body)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, received)
}

fn original_answer(body: &[u8]) -> Vec<u8> {
    frame(&body.iter().rev().copied().collect::<Vec<_>>())
}

fn replay_answer(body: &[u8]) -> Vec<u8> {
    frame(
        &[
            &b"B"[..],
            &body.iter().map(|b| b ^ 0x5a).collect::<Vec<_>>(),
        ]
        .concat(),
    )
}

/// A client exchange: send one frame, read the whole answer.
fn exchange(s: &mut TcpStream, request: &[u8]) -> Vec<u8> {
    s.write_all(request).unwrap();
    frame(&read_frame(s).expect("an answer"))
}

/// The frames the client sends: binary bytes, separators of other
/// protocols, an empty frame, one larger than loopback's segments.
fn traffic() -> Vec<Vec<u8>> {
    let mut frames = vec![
        frame(b"\x00\x01\x02\xff\xfe"),
        frame(b"SET key \r\n\r\nvalue\x00"),
        frame(b""),
        frame(b"*1\r\n$4\r\nPING\r\n"),
        frame(
            &(0..70_000u32)
                .map(|i| (i * 31 % 256) as u8)
                .collect::<Vec<_>>(),
        ),
    ];
    for i in 0..15u8 {
        frames.push(frame(&[b'n', i, 0, 0x80 | i, b'\n']));
    }
    frames
}

#[test]
fn a_binary_protocol_is_captured_and_replayed_byte_for_byte() {
    if !can_capture("a_binary_protocol_is_captured_and_replayed_byte_for_byte") {
        return;
    }
    let (original, _) = serve(original_answer);
    let (replay, received) = serve(replay_answer);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gor");
    let capture = format!("127.0.0.1:{original}");
    let target = format!("127.0.0.1:{replay}");
    let gor = Gor::start(&[
        "--input-raw",
        &capture,
        "--input-raw-protocol",
        "binary",
        "--output-binary",
        &target,
        "--output-binary-workers",
        "1",
        "--output-binary-timeout",
        "500ms",
        "--output-binary-track-response",
        "--output-file",
        out.to_str().unwrap(),
    ]);
    gor.wait_for_line("BPF Filter", Duration::from_secs(15));
    // Warm up until the capture demonstrably runs: a warm-up frame reached
    // the replay server.
    let warm = frame(b"warm-up");
    let mut w = TcpStream::connect(("127.0.0.1", original)).unwrap();
    w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    gor.wait_until(Duration::from_secs(20), "a warm-up frame replayed", |_| {
        exchange(&mut w, &warm);
        std::thread::sleep(Duration::from_millis(50));
        received
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .any(|f| *f == warm)
    });
    drop(w);
    let frames = traffic();
    // Two connections, one after the other, each answered in turn.
    let mut answers = Vec::new();
    for part in frames.chunks(10) {
        let mut c = TcpStream::connect(("127.0.0.1", original)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for f in part {
            answers.push(exchange(&mut c, f));
        }
    }
    for (f, a) in frames.iter().zip(&answers) {
        assert_eq!(a, &original_answer(&f[4..]));
    }
    let replayed = || -> Vec<Vec<u8>> {
        received
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter(|f| **f != warm)
            .cloned()
            .collect()
    };
    gor.wait_until(Duration::from_secs(30), "every frame replayed", |_| {
        replayed().len() >= frames.len()
    });
    let ran = gor.finish(Duration::from_secs(20), true);
    // One worker, one connection: the frames arrive in the captured order,
    // each byte for byte.
    assert_eq!(received.lock().unwrap().len(), 1, "{}", ran.stderr);
    let got = replayed();
    assert_eq!(got.len(), frames.len(), "{}", ran.stderr);
    for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
        assert!(
            g == f,
            "frame {i} differs ({} vs {} bytes)",
            g.len(),
            f.len()
        );
    }
    // The file holds each captured request and, under the same id, the
    // replay server's answer to it.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let recs = records(&bytes);
    let requests: Vec<_> = recs.iter().filter(|r| r.0 == b'1' && r.2 != warm).collect();
    assert_eq!(requests.len(), frames.len(), "{}", ran.stderr);
    let replies: HashMap<&str, &[u8]> = recs
        .iter()
        .filter(|r| r.0 == b'3')
        .map(|r| (r.1.as_str(), &r.2[..]))
        .collect();
    for (req, f) in requests.iter().zip(&frames) {
        assert_eq!(&req.2, f);
        let reply = replies
            .get(req.1.as_str())
            .unwrap_or_else(|| panic!("no type-3 record for {}:\n{}", req.1, ran.stderr));
        assert!(
            *reply == &replay_answer(&f[4..])[..],
            "reply of {} differs",
            req.1
        );
    }
    assert_eq!(
        common::counted(&ran.stderr, "output_binary.abandoned_at_close"),
        0
    );
}

#[test]
fn binary_output_flags_are_accepted_and_a_bad_address_is_a_usage_error() {
    let ran = run_gor(
        &["--input-dummy", "x", "--output-binary", "nohost"],
        Duration::from_secs(10),
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("--output-binary"), "{}", ran.stderr);
}

#[test]
fn a_recording_is_replayed_with_replies_on_stdout_and_payloads_in_the_debug_log() {
    let (replay, received) = serve(replay_answer);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("binary.gor");
    let frames = traffic();
    let mut bytes = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        bytes.extend(common::record(&format!("1 rec{i} {} -1", 1000 + i), f));
        // Captured responses are not replayed.
        bytes.extend(common::record(
            &format!("2 rec{i} {} 1", 1001 + i),
            b"captured",
        ));
    }
    std::fs::write(&file, &bytes).unwrap();
    let target = format!("127.0.0.1:{replay}");
    let ran = run_gor(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-binary",
            &target,
            "--output-binary-workers",
            "1",
            "--output-binary-timeout",
            "300ms",
            "--output-binary-track-response",
            "--output-binary-debug",
            "--verbose",
            "1",
            "--output-stdout",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let got: Vec<Vec<u8>> = received.lock().unwrap().iter().flatten().cloned().collect();
    assert_eq!(got, frames, "the requests, in order, and nothing else");
    let replies: HashMap<String, Vec<u8>> = records(&ran.stdout)
        .into_iter()
        .filter(|r| r.0 == b'3')
        .map(|r| (r.1, r.2))
        .collect();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            replies.get(&format!("rec{i}")).map(Vec::as_slice),
            Some(&replay_answer(&f[4..])[..]),
            "reply of rec{i}"
        );
    }
    // Payloads are logged with their bytes escaped.
    assert!(
        ran.stderr.contains("[BINARY-OUTPUT]") && ran.stderr.contains("\\x00\\x01\\x02\\xff\\xfe"),
        "{}",
        ran.stderr
    );
}
