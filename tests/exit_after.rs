//! `--exit-after` bounds the whole run: not only reading the inputs, but
//! also the drain that follows. A replay target that accepts and never
//! answers used to hold gor for the 5 s replay timeout after the bound had
//! passed; now what is still in flight or queued at the bound is given up
//! and counted.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use replay_common::{Behaviour, OK, RecordingServer, counted, replay};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn requests(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("{i:024x}"),
                format!("GET /r/{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes(),
            )
        })
        .collect()
}

#[test]
fn exit_after_ends_the_run_on_time_when_a_target_never_answers() {
    let silent = RecordingServer::start(Behaviour::Silent);
    let owned = requests(5);
    let recording: Vec<(&str, Vec<u8>)> = owned
        .iter()
        .map(|(id, r)| (id.as_str(), r.clone()))
        .collect();
    let started = Instant::now();
    let out = replay(
        &recording,
        &[
            "--output-http",
            &silent.url(),
            "--output-http-workers",
            "2",
            "--exit-after",
            "1s",
        ],
        T,
    );
    let took = started.elapsed();
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    // The replay timeout is 5 s: waiting for it would take over 5 s.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "gor took {took:?} with --exit-after 1s:\n{}",
        out.stderr
    );
    // The target got the requests the two workers sent and answered none.
    assert!(!silent.requests.lock().unwrap().is_empty());
    // Every request is given up (in flight or still queued) and counted.
    assert_eq!(
        counted(&out.stderr, "output_http.abandoned_at_close"),
        5,
        "{}",
        out.stderr
    );
}

#[test]
fn exit_after_interrupts_a_long_wait_between_recorded_requests() {
    let good = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    // Two requests recorded 30 s apart: replay waits 30 s for the second.
    let base = 1_700_000_000_000_000_000i64;
    let mut bytes = common::record(
        &format!("1 {:024x} {base} 0", 1),
        b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    bytes.extend(common::record(
        &format!("1 {:024x} {} 0", 2, base + 30_000_000_000),
        b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n",
    ));
    std::fs::write(&file, bytes).unwrap();
    let started = Instant::now();
    let out = common::run(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-http",
            &good.url(),
            "--exit-after",
            "1s",
        ],
        T,
    );
    let took = started.elapsed();
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        took < Duration::from_millis(2500),
        "gor took {took:?} with --exit-after 1s:\n{}",
        out.stderr
    );
    let got = good.requests.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "only the first request is due within 1 s");
    assert!(got[0].starts_with(b"GET /first "));
}
