//! Black-box tests of `--middleware`: real programs (the shipped examples and
//! small shell ones) between gor's input and its outputs. The input is
//! `--input-dummy` (a request and its response every second).

mod common;
#[path = "common/shaping.rs"]
mod shaping_common;

use shaping_common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The dummy input's request, byte for byte.
const DUMMY_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: www.w3.org\r\nUser-Agent: Go 1.1 package http\r\nAccept-Encoding: gzip\r\n\r\n";
const DUMMY_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/middleware")
        .join(name)
        .display()
        .to_string()
}

/// Runs gor on the dummy input through `middleware` for `secs` seconds.
fn with_middleware(middleware: &str, millis: u64) -> (Vec<(String, Vec<u8>)>, Finished) {
    let after = format!("{millis}ms");
    let done = run(
        &[
            "--input-dummy",
            "x",
            "--output-stdout",
            "--exit-after",
            &after,
            "--middleware",
            middleware,
        ],
        Duration::from_secs(30),
    );
    (records(&done.stdout), done)
}

fn kinds(recs: &[(String, Vec<u8>)]) -> Vec<char> {
    recs.iter()
        .map(|(m, _)| m.chars().next().unwrap_or('?'))
        .collect()
}

/// Every request and response came through unchanged, at least one of each.
fn assert_passed_through(middleware: &str) {
    let (recs, done) = with_middleware(middleware, 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(
        recs.len() >= 2,
        "only {} messages; {}",
        recs.len(),
        done.stderr
    );
    for (meta, data) in &recs {
        match meta.as_bytes()[0] {
            b'1' => assert_eq!(data, DUMMY_REQUEST),
            b'2' => assert_eq!(data, DUMMY_RESPONSE),
            other => panic!("unexpected type {other}"),
        }
    }
    assert!(kinds(&recs).contains(&'1') && kinds(&recs).contains(&'2'));
}

#[test]
fn shell_echo_example_passes_messages_through_unchanged() {
    assert_passed_through(&example("echo.sh"));
}

#[test]
fn python_echo_example_passes_messages_through_unchanged() {
    assert_passed_through(&format!("python3 {}", example("echo.py")));
}

#[test]
fn compiled_rust_echo_example_passes_messages_through_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let bin: PathBuf = dir.path().join("echo");
    let out = std::process::Command::new("rustc")
        .args(["-O", "--edition", "2021", &example("echo.rs"), "-o"])
        .arg(&bin)
        .output()
        .expect("running rustc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_passed_through(&bin.display().to_string());
}

#[test]
fn python_middleware_adds_a_header_to_requests_only() {
    let mw = format!(
        "python3 {} X-Replayed 'yes please'",
        example("add_header.py")
    );
    let (recs, done) = with_middleware(&mw, 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(kinds(&recs).contains(&'1'), "{}", done.stderr);
    for (meta, data) in &recs {
        if meta.starts_with('1') {
            let text = String::from_utf8_lossy(data);
            assert!(
                text.starts_with(
                    "GET / HTTP/1.1\r\nX-Replayed: yes please\r\nHost: www.w3.org\r\n"
                ),
                "{text}"
            );
        } else {
            assert_eq!(data, DUMMY_RESPONSE);
        }
    }
}

#[test]
fn requests_not_echoed_are_dropped_and_responses_still_flow() {
    // Hex of "1 " (a type-1 header) starts with 3120; drop those lines.
    let (recs, done) = with_middleware("grep --line-buffered -v ^3120", 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(!recs.is_empty(), "{}", done.stderr);
    assert!(kinds(&recs).iter().all(|k| *k == '2'), "{:?}", kinds(&recs));
}

#[test]
fn middleware_sees_requests_and_responses_as_hex_lines() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen.hex");
    let mw = format!("tee {}", seen.display());
    let (recs, done) = with_middleware(&mw, 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let seen = std::fs::read_to_string(&seen).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines.len(), recs.len());
    for (line, (meta, data)) in lines.iter().zip(&recs) {
        let mut record = meta.clone().into_bytes();
        record.push(b'\n');
        record.extend_from_slice(data);
        assert_eq!(*line, hex(&record), "lowercase hex of meta and data");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("3220")),
        "responses are fed too"
    );
}

#[test]
fn slow_middleware_delays_but_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen.hex");
    let script = format!(
        "tee {} | while IFS= read -r l; do sleep 0.4; printf '%s\\n' \"$l\"; done",
        seen.display()
    );
    let mw = format!("sh -c \"{script}\"");
    let (recs, done) = with_middleware(&mw, 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let fed = std::fs::read_to_string(&seen).unwrap().lines().count();
    assert!(fed >= 2, "{}", done.stderr);
    assert_eq!(recs.len(), fed, "every fed message comes back before exit");
}

#[test]
fn middleware_that_dies_ends_gor_with_status_1_and_one_line() {
    let mw = "sh -c 'read line; exit 7'";
    let (_, done) = with_middleware(mw, 20_000);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains("exit status: 7"))
        .unwrap_or_else(|| panic!("no exit status in: {}", done.stderr));
    assert!(line.contains(mw), "{line}");
}

#[test]
fn garbage_lines_are_skipped_logged_once_and_the_rest_flows() {
    let mw = "sh -c 'echo this-is-not-hex; echo abc; echo zz; exec cat'";
    let (recs, done) = with_middleware(mw, 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(kinds(&recs).contains(&'1'), "{}", done.stderr);
    assert_eq!(
        done.stderr.matches("failed to decode").count(),
        1,
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("middleware.garbage_lines=3"),
        "{}",
        done.stderr
    );
}

#[test]
fn missing_middleware_program_is_one_line_and_status_1() {
    let (recs, done) = with_middleware("/no/such/program --x", 5_000);
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert!(recs.is_empty());
    let lines: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("/no/such/program --x"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", done.stderr);
}

#[test]
fn middleware_can_emit_messages_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mine = [request(1, get("/from-middleware", ""))];
    let (got, done) = from_middleware(dir.path(), &mine, &[]);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(got, mine);
}

#[test]
fn recording_replayed_through_echo_middleware_arrives_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<Msg> = (0..2_000)
        .flat_map(|i| {
            [
                request(i, get(&format!("/item/{i}"), "")),
                response(
                    i,
                    format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{}", i % 10),
                ),
            ]
        })
        .collect();
    let mw = format!("python3 {}", example("echo.py"));
    let got = shaped(dir.path(), &input, &["--middleware", &mw]);
    assert_eq!(got, input);
}

#[test]
fn slow_middleware_makes_a_recording_wait_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<Msg> = (0..20)
        .map(|i| request(i, get(&format!("/{i}"), "")))
        .collect();
    let mw = "sh -c 'while IFS= read -r l; do sleep 0.05; printf \"%s\\n\" \"$l\"; done'";
    let got = shaped(dir.path(), &input, &["--middleware", mw]);
    assert_eq!(got, input);
}

#[test]
fn modifier_applies_to_what_the_middleware_sends_back() {
    let dir = tempfile::tempdir().unwrap();
    let mine = [
        request(1, "POST /x HTTP/1.1\r\nHost: h\r\n\r\n"),
        request(2, get("/y", "")),
    ];
    let (got, done) = from_middleware(
        dir.path(),
        &mine,
        &[
            "--http-allow-method",
            "GET",
            "--http-set-header",
            "X-Seen: 1",
        ],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(
        texts(&got),
        ["GET /y HTTP/1.1\r\nX-Seen: 1\r\nHost: example.org\r\n\r\n"]
    );
}

#[test]
fn middleware_dying_under_load_ends_gor_promptly_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<Msg> = (0..20_000)
        .map(|i| request(i, get(&format!("/{i}"), "")))
        .collect();
    let started = std::time::Instant::now();
    let (_, done) = through_gor(
        dir.path(),
        &input,
        &["--middleware", "sh -c 'read l; exit 3'"],
    );
    assert_eq!(done.code(), Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("exit status: 3"), "{}", done.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn middleware_gets_whole_messages_and_copy_buffer_size_cuts_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen.hex");
    let body = "x".repeat(500);
    let input = [request(
        1,
        format!("POST /big HTTP/1.1\r\nContent-Length: 500\r\n\r\n{body}"),
    )];
    let mw = format!("tee {}", seen.display());
    let (got, done) = through_gor(
        dir.path(),
        &input,
        &["--middleware", &mw, "--copy-buffer-size", "100"],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let first = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(first.lines().next().unwrap(), hex_line(&input[0]));
    assert_eq!(got[0].data, input[0].data[..100]);
}

#[test]
fn middleware_stderr_passes_through_to_gors_stderr() {
    let mw = format!("env GOR_MIDDLEWARE_DEBUG=1 {}", example("echo.sh"));
    let (recs, done) = with_middleware(&mw, 2_500);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(!recs.is_empty(), "{}", done.stderr);
    // echo.sh decodes each line with xxd and logs its header line.
    let first_id = recs[0].0.split(' ').nth(1).unwrap();
    assert!(
        done.stderr.contains(&format!("[echo.sh] 1 {first_id} ")),
        "{}",
        done.stderr
    );
}
