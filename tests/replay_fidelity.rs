//! `--input-file x.gor --output-http URL`: the target receives each request
//! exactly as captured — method, path, query, header names in their case and
//! order, repeated headers, body bytes — with only Host (and what the URL
//! asks: a path prefix, basic auth) changed.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use replay_common::{Behaviour, OK, RecordingServer, counted, replay};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn varied_requests() -> Vec<Vec<u8>> {
    let mut binary = b"POST /upload/bin HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n".to_vec();
    for i in 0..1024u32 {
        binary.push((i * 7 % 256) as u8);
    }
    // A body that itself looks like HTTP must not confuse anything.
    binary[200..218].copy_from_slice(b"\r\n\r\nGET / HTTP/1.1");
    let mut big =
        b"POST /big HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 3145728\r\n\r\n".to_vec();
    big.extend((0..3_145_728u32).map(|i| b"0123456789abcdef"[(i % 16) as usize]));
    vec![
        b"GET /search?q=a%20b&x=1&x=2&empty= HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\nX-Dup: 1\r\nX-Dup: 2\r\nCookie: a=1; b=2\r\n\r\n".to_vec(),
        b"POST /form HTTP/1.1\r\nhost: shop.example\r\ncOnTeNt-TyPe: application/x-www-form-urlencoded\r\nCONTENT-LENGTH: 7\r\nx-lower: v\r\nX-Spaced:   lots  of  space \r\n\r\na=1&b=2".to_vec(),
        binary,
        b"PUT /chunks HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec(),
        b"DELETE /items/42?force=true HTTP/1.1\r\nHost: shop.example\r\nAuthorization: Bearer abc\r\n\r\n".to_vec(),
        b"PROPFIND /dav/ HTTP/1.1\r\nHost: shop.example\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n".to_vec(),
        big,
    ]
}

/// The captured request with its Host value replaced by `authority`.
fn with_host(req: &[u8], authority: &str) -> Vec<u8> {
    let text =
        String::from_utf8_lossy(&req[..req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4])
            .into_owned();
    let head_len = text.len();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for l in lines.iter_mut() {
        if l.to_ascii_lowercase().starts_with("host:") {
            let name = &l[..4];
            *l = format!("{name}: {authority}");
        }
    }
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&req[head_len..]);
    out
}

#[test]
fn replayed_bytes_equal_the_captured_bytes_with_the_host_replaced() {
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let reqs = varied_requests();
    let records: Vec<(&str, Vec<u8>)> = reqs
        .iter()
        .map(|r| ("aaaaaaaaaaaaaaaaaaaaaaaa", r.clone()))
        .collect();
    let recording = records;
    let out = replay(&recording, &["--output-http", &server.url()], T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let authority = format!("127.0.0.1:{}", server.port);
    let mut got = server.received();
    let mut want: Vec<Vec<u8>> = reqs.iter().map(|r| with_host(r, &authority)).collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "{}", out.stderr);
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g == w,
            "replayed:\n{}\nexpected:\n{}",
            String::from_utf8_lossy(&g[..g.len().min(400)]),
            String::from_utf8_lossy(&w[..w.len().min(400)])
        );
    }
}

#[test]
fn one_worker_reuses_one_keep_alive_connection_in_order() {
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let reqs: Vec<Vec<u8>> = (0..50)
        .map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes())
        .collect();
    let records: Vec<(&str, Vec<u8>)> = reqs
        .iter()
        .map(|r| ("bbbbbbbbbbbbbbbbbbbbbbbb", r.clone()))
        .collect();
    let recording = records;
    let out = replay(
        &recording,
        &["--output-http", &server.url(), "--output-http-workers", "1"],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let got = server.received();
    let paths: Vec<String> = got
        .iter()
        .map(|r| {
            String::from_utf8_lossy(r)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("GET /n/{i} HTTP/1.1")).collect();
    assert_eq!(paths, want);
    assert_eq!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn url_path_is_a_prefix_userinfo_sets_basic_auth_and_http_1_0_stays_1_0() {
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let recording = [
        (
            "cccccccccccccccccccccccc",
            b"GET /users?id=7 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer old\r\n\r\n".to_vec(),
        ),
        (
            "dddddddddddddddddddddddd",
            b"GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n".to_vec(),
        ),
    ];
    let url = format!("http://me:s3cret@127.0.0.1:{}/api/", server.port);
    let out = replay(
        &recording,
        &["--output-http", &url, "--output-http-workers", "1"],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let got = server.received();
    let a = format!("127.0.0.1:{}", server.port);
    assert_eq!(
        String::from_utf8_lossy(&got[0]),
        format!(
            "GET /api/users?id=7 HTTP/1.1\r\nHost: {a}\r\nAuthorization: Basic bWU6czNjcmV0\r\n\r\n"
        )
    );
    assert_eq!(
        String::from_utf8_lossy(&got[1]),
        format!(
            "GET /api/old HTTP/1.0\r\nHost: {a}\r\nAuthorization: Basic bWU6czNjcmV0\r\nUser-Agent: x\r\n\r\n"
        )
    );
}

#[test]
fn original_host_keeps_the_captured_host_and_a_scheme_less_url_means_http() {
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let req = b"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_vec();
    let recording = [("eeeeeeeeeeeeeeeeeeeeeeee", req.clone())];
    let target = format!("127.0.0.1:{}", server.port);
    let out = replay(
        &recording,
        &["--output-http", &target, "--http-original-host"],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(server.received(), vec![req]);
}

#[test]
fn connect_and_non_http_records_are_skipped_and_counted() {
    let server = RecordingServer::start(Behaviour::Respond(OK.to_vec()));
    let recording = [
        (
            "ffffffffffffffffffffffff",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(),
        ),
        (
            "ffffffffffffffffffffffff",
            b"\x00\x01not http at all".to_vec(),
        ),
        (
            "ffffffffffffffffffffffff",
            b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
        ),
    ];
    let out = replay(&recording, &["--output-http", &server.url()], T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(server.received().len(), 1);
    assert_eq!(
        counted(&out.stderr, "output_http.connect_skipped"),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        counted(&out.stderr, "output_http.malformed_requests"),
        1,
        "{}",
        out.stderr
    );
}
