//! The modifier and the middleware checked on what a real HTTP server
//! receives when gor replays a recording to it (`--output-http`).

mod common;
#[path = "common/shaping.rs"]
mod shaping_common;

use shaping_common::*;
use std::path::Path;

fn replay(dir: &Path, msgs: &[Msg], args: &[&str]) -> (Server, Finished) {
    let server = Server::start();
    let url = server.url();
    let mut argv = vec!["--output-http", &url];
    argv.extend_from_slice(args);
    let (_, done) = through_gor(dir, msgs, &argv);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    (server, done)
}

#[test]
fn server_receives_only_allowed_requests_rewritten_and_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let input = [
        request(1, get("/v1/users/7?x=1", "X-Tenant: acme\r\n")),
        request(
            2,
            "POST /v1/users HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na=1",
        ),
        request(3, get("/v1/admin", "X-Tenant: acme\r\n")),
        request(4, get("/v1/users/8", "X-Tenant: other\r\n")),
    ];
    let (server, _) = replay(
        dir.path(),
        &input,
        &[
            "--http-allow-method",
            "GET",
            "--http-disallow-url",
            "/admin",
            "--http-allow-header",
            "X-Tenant: ^acme$",
            "--http-set-header",
            "X-Env: test",
            "--http-set-param",
            "api_key=k",
            "--http-rewrite-url",
            "^/v1/(.*):/v2/$1",
        ],
    );
    let got = server.received();
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(|r| request_line(r)).collect::<Vec<_>>()
    );
    assert_eq!(
        request_line(&got[0]),
        "GET /v2/users/7?x=1&api_key=k HTTP/1.1"
    );
    assert_eq!(header(&got[0], "X-Env").as_deref(), Some("test"));
    assert_eq!(header(&got[0], "X-Tenant").as_deref(), Some("acme"));
}

#[test]
fn header_limiter_sends_a_consistent_share_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    const N: usize = 2_000;
    let input: Vec<Msg> = (0..N)
        .map(|i| {
            request(
                i,
                get(&format!("/r/{i}"), &format!("X-User: u{}\r\n", i % 1000)),
            )
        })
        .collect();
    let (server, _) = replay(
        dir.path(),
        &input,
        &["--http-header-limiter", "X-User: 40%"],
    );
    let got = server.received();
    let share = got.len() as f64 / N as f64;
    assert!((0.35..=0.45).contains(&share), "server got {share}");
    // Users 0..1000 are each sent twice: either both requests arrive or none.
    let mut seen = std::collections::HashMap::new();
    for r in &got {
        *seen.entry(header(r, "X-User").unwrap()).or_insert(0) += 1;
    }
    assert!(seen.values().all(|n| *n == 2), "a user was split: {seen:?}");
}

#[test]
fn middleware_header_reaches_the_server_and_dropped_requests_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/middleware/add_header.py");
    let mw = format!("python3 {} X-From-Middleware yes", script.display());
    let input = [
        request(1, get("/keep", "")),
        request(2, "DELETE /gone HTTP/1.1\r\nHost: h\r\n\r\n"),
    ];
    let (server, _) = replay(dir.path(), &input, &["--middleware", &mw]);
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(request_line(&got[0]), "GET /keep HTTP/1.1");
    assert_eq!(header(&got[0], "X-From-Middleware").as_deref(), Some("yes"));
}

#[test]
fn middleware_receives_the_replayed_responses() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen.hex");
    let mw = format!("tee {}", seen.display());
    let input = [request(1, get("/a", "")), request(2, get("/b", ""))];
    let (server, done) = replay(
        dir.path(),
        &input,
        &["--output-http-track-response", "--middleware", &mw],
    );
    assert_eq!(server.received().len(), 2);
    let lines = std::fs::read_to_string(&seen).unwrap();
    // "3 " in hex: a replayed response, carrying the request's id.
    let replayed: Vec<&str> = lines.lines().filter(|l| l.starts_with("3320")).collect();
    assert_eq!(replayed.len(), 2, "{}", done.stderr);
    assert!(replayed.iter().all(|l| l.contains(&hex(b" t-"))));
}

#[test]
fn slow_middleware_in_front_of_a_replay_loses_nothing_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<Msg> = (0..20)
        .map(|i| request(i, get(&format!("/{i}"), "")))
        .collect();
    let mw = "sh -c 'while IFS= read -r l; do sleep 0.05; printf \"%s\\n\" \"$l\"; done'";
    for tracking in [false, true] {
        let mut args = vec!["--middleware", mw];
        if tracking {
            args.push("--output-http-track-response");
        }
        let (server, done) = replay(dir.path(), &input, &args);
        assert_eq!(
            server.received().len(),
            20,
            "tracking {tracking}: {}",
            done.stderr
        );
    }
}

/// One flag: the requests recorded, and what the server must receive
/// (request line, and a header that must have a value, if any).
struct Case {
    args: &'static [&'static str],
    sent: Vec<Vec<u8>>,
    received: Vec<(&'static str, Option<(&'static str, &'static str)>)>,
}

#[test]
fn every_flag_keeps_and_drops_or_rewrites_what_the_server_receives() {
    let basic = |cred: &str| {
        use base64::Engine;
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(cred)
        )
    };
    let cases = vec![
        Case {
            args: &["--http-allow-method", "GET"],
            sent: vec![
                get("/a", ""),
                b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ],
            received: vec![("GET /a HTTP/1.1", None)],
        },
        Case {
            args: &["--http-allow-url", "^/api/"],
            sent: vec![get("/api/x", ""), get("/web", "")],
            received: vec![("GET /api/x HTTP/1.1", None)],
        },
        Case {
            args: &["--http-disallow-url", "^/web"],
            sent: vec![get("/api/x", ""), get("/web", "")],
            received: vec![("GET /api/x HTTP/1.1", None)],
        },
        Case {
            args: &["--http-allow-header", "X-T: ^a$"],
            sent: vec![get("/1", "X-T: a\r\n"), get("/2", "X-T: b\r\n")],
            received: vec![("GET /1 HTTP/1.1", Some(("X-T", "a")))],
        },
        Case {
            args: &["--http-disallow-header", "X-T: ^a$"],
            sent: vec![get("/1", "X-T: a\r\n"), get("/2", "X-T: b\r\n")],
            received: vec![("GET /2 HTTP/1.1", Some(("X-T", "b")))],
        },
        Case {
            args: &["--http-basic-auth-filter", "^customer"],
            sent: vec![
                get("/1", &basic("customer1:pw")),
                get("/2", &basic("admin:pw")),
            ],
            received: vec![("GET /1 HTTP/1.1", None)],
        },
        Case {
            // FNV-1a-32 mod 100: "1" → 44 (kept below 50), "3" → 82 (dropped).
            args: &["--http-header-limiter", "X-U: 50%"],
            sent: vec![get("/1", "X-U: 1\r\n"), get("/3", "X-U: 3\r\n")],
            received: vec![("GET /1 HTTP/1.1", None)],
        },
        Case {
            args: &["--http-param-limiter", "u: 50%"],
            sent: vec![get("/p?u=1", ""), get("/p?u=3", "")],
            received: vec![("GET /p?u=1 HTTP/1.1", None)],
        },
        Case {
            args: &["--http-rewrite-url", "^/old/(.*):/new/$1"],
            sent: vec![get("/old/x", ""), get("/other", "")],
            received: vec![("GET /new/x HTTP/1.1", None), ("GET /other HTTP/1.1", None)],
        },
        Case {
            args: &["--http-rewrite-header", "X-T: ^a(.*),b$1"],
            sent: vec![get("/1", "X-T: a1\r\n"), get("/2", "X-T: c\r\n")],
            received: vec![
                ("GET /1 HTTP/1.1", Some(("X-T", "b1"))),
                ("GET /2 HTTP/1.1", Some(("X-T", "c"))),
            ],
        },
        Case {
            args: &["--http-set-header", "X-S: 1"],
            sent: vec![get("/1", ""), get("/2", "X-S: 0\r\n")],
            received: vec![
                ("GET /1 HTTP/1.1", Some(("X-S", "1"))),
                ("GET /2 HTTP/1.1", Some(("X-S", "1"))),
            ],
        },
        Case {
            args: &["--http-set-param", "k=v"],
            sent: vec![get("/a", ""), get("/b?k=1", "")],
            received: vec![("GET /a?k=v HTTP/1.1", None), ("GET /b?k=v HTTP/1.1", None)],
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let msgs: Vec<Msg> = case
            .sent
            .iter()
            .enumerate()
            .map(|(i, r)| request(i, r))
            .collect();
        let (server, _) = replay(dir.path(), &msgs, case.args);
        let mut got = server.received();
        got.sort_by_key(|r| request_line(r));
        let lines: Vec<String> = got.iter().map(|r| request_line(r)).collect();
        let want: Vec<&str> = case.received.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, want, "{:?}", case.args);
        for (r, (_, h)) in got.iter().zip(&case.received) {
            if let Some((name, value)) = h {
                assert_eq!(header(r, name).as_deref(), Some(*value), "{:?}", case.args);
            }
        }
    }
}

#[test]
fn middleware_seeing_replayed_responses_does_not_deadlock_a_fast_recording() {
    // Requests flood the middleware while the replay's responses go back
    // into it: every queue in that loop fills up unless responses can
    // always get in.
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    // Big enough that the pipes hold few of them.
    let pad = format!("X-Pad: {}\r\n", "p".repeat(2_000));
    let input: Vec<Msg> = (0..n)
        .map(|i| request(i, get(&format!("/{i}"), &pad)))
        .collect();
    let seen = dir.path().join("seen.hex");
    let mw = format!("tee {}", seen.display());
    let server = Server::start();
    let url = server.url();
    let (_, done) = through_gor(
        dir.path(),
        &input,
        &[
            "--output-http",
            &url,
            "--output-http-track-response",
            "--output-http-queue-len",
            "10",
            "--output-http-workers",
            "2",
            "--middleware",
            &mw,
        ],
    );
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(server.received().len(), n);
    let responses = std::fs::read_to_string(&seen)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("3320"))
        .count();
    assert_eq!(responses, n, "{}", done.stderr);
}
