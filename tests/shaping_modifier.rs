//! Black-box tests of the `--http-*` flags and `--prettify-http`: traffic goes
//! through a real gor and the test reads what `--output-stdout` wrote.

mod common;
#[path = "common/shaping.rs"]
mod shaping_common;

use shaping_common::*;
use std::time::Duration;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn paths(msgs: &[Msg]) -> Vec<String> {
    texts(msgs)
        .iter()
        .map(|t| t.split(' ').nth(1).unwrap_or("").to_string())
        .collect()
}

#[test]
fn allow_method_drops_other_methods_and_their_responses() {
    let dir = tmp();
    let input = [
        request(
            1,
            "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na=1",
        ),
        response(1, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
        request(2, get("/b", "")),
        response(2, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        request(3, "PROPFIND /c HTTP/1.1\r\nHost: h\r\n\r\n"),
    ];
    let got = shaped(dir.path(), &input, &["--http-allow-method", "GET"]);
    let ids: Vec<&str> = got
        .iter()
        .map(|m| m.meta.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(ids, ["t-2", "t-2"]);
    assert_eq!(got[0], input[2]);
}

#[test]
fn set_header_inserts_a_new_header_and_replaces_an_existing_one() {
    let dir = tmp();
    let input = [request(1, get("/", "User-Agent: curl\r\n"))];
    let got = shaped(
        dir.path(),
        &input,
        &[
            "--http-set-header",
            "X-Env: staging",
            "--http-set-header",
            "User-Agent: Gor",
        ],
    );
    assert_eq!(
        texts(&got),
        ["GET / HTTP/1.1\r\nX-Env: staging\r\nHost: example.org\r\nUser-Agent: Gor\r\n\r\n"]
    );
}

#[test]
fn set_param_replaces_or_appends_a_query_parameter() {
    let dir = tmp();
    let input = [
        request(1, get("/a?api_key=secret&x=1", "")),
        request(2, get("/b", "")),
    ];
    let got = shaped(dir.path(), &input, &["--http-set-param", "api_key=test"]);
    assert_eq!(paths(&got), ["/a?api_key=test&x=1", "/b?api_key=test"]);
}

#[test]
fn allow_url_and_disallow_url_filter_on_path_and_query() {
    let dir = tmp();
    let input = [
        request(1, get("/api/users", "")),
        request(2, get("/api/users?debug=1", "")),
        request(3, get("/static/logo.png", "")),
    ];
    let got = shaped(
        dir.path(),
        &input,
        &[
            "--http-allow-url",
            "^/api/",
            "--http-disallow-url",
            "debug=1",
        ],
    );
    assert_eq!(paths(&got), ["/api/users"]);
}

#[test]
fn allow_header_and_disallow_header_filter_on_values() {
    let dir = tmp();
    let input = [
        request(1, get("/1", "X-Tenant: acme\r\n")),
        request(2, get("/2", "X-Tenant: other\r\n")),
        request(3, get("/3", "")),
        request(4, get("/4", "X-Tenant: acme\r\nX-Debug: 1\r\n")),
    ];
    let got = shaped(
        dir.path(),
        &input,
        &[
            "--http-allow-header",
            "X-Tenant: ^acme$",
            "--http-disallow-header",
            "X-Debug: 1",
        ],
    );
    assert_eq!(paths(&got), ["/1"]);
}

#[test]
fn basic_auth_filter_keeps_matching_users() {
    let dir = tmp();
    // customer1:pw and admin:pw
    let input = [
        request(1, get("/1", "Authorization: Basic Y3VzdG9tZXIxOnB3\r\n")),
        request(2, get("/2", "Authorization: Basic YWRtaW46cHc=\r\n")),
        request(3, get("/3", "")),
    ];
    let got = shaped(
        dir.path(),
        &input,
        &["--http-basic-auth-filter", "^customer"],
    );
    assert_eq!(paths(&got), ["/1", "/3"]);
}

#[test]
fn rewrite_url_and_rewrite_header_use_go_style_groups() {
    let dir = tmp();
    let input = [request(
        1,
        "GET /v1/user/joe/ping?x=1 HTTP/1.1\r\nHost: www.w3.org\r\n\r\n",
    )];
    let got = shaped(
        dir.path(),
        &input,
        &[
            "--http-rewrite-url",
            "/v1/user/([^/]+)/ping:/v2/user/${1}/ping",
            "--http-rewrite-header",
            "Host: (.*)\\.w3\\.org,$1.beta.w3.org",
        ],
    );
    assert_eq!(
        texts(&got),
        ["GET /v2/user/joe/ping?x=1 HTTP/1.1\r\nHost: www.beta.w3.org\r\n\r\n"]
    );
}

/// Fraction of `n` distinct values a limiter keeps, and whether a repeated
/// value always gets the same decision.
fn limiter_run(flag: &str, rule: &str, make: impl Fn(usize) -> Vec<u8>) -> (f64, bool) {
    let dir = tmp();
    const N: usize = 2_000;
    // Every value is sent twice, far apart.
    let input: Vec<Msg> = (0..2 * N).map(|i| request(i, make(i % N))).collect();
    let got = shaped(dir.path(), &input, &[flag, rule]);
    let kept: std::collections::HashSet<usize> = got
        .iter()
        .map(|m| {
            m.meta.split(' ').nth(1).unwrap()[2..]
                .parse::<usize>()
                .unwrap()
        })
        .collect();
    let first = (0..N).filter(|i| kept.contains(i)).count();
    let consistent = (0..N).all(|i| kept.contains(&i) == kept.contains(&(i + N)));
    (first as f64 / N as f64, consistent)
}

#[test]
fn header_limiter_keeps_the_same_share_and_the_same_values() {
    let (share, consistent) = limiter_run("--http-header-limiter", "X-User: 30%", |i| {
        get("/", &format!("X-User: user-{i}\r\n"))
    });
    assert!((0.25..=0.35).contains(&share), "kept {share}");
    assert!(consistent, "a value got two different decisions");
}

#[test]
fn param_limiter_keeps_the_same_share_and_the_same_values() {
    let (share, consistent) = limiter_run("--http-param-limiter", "session:1/4", |i| {
        get(&format!("/p?session=s{i}&x=1"), "")
    });
    assert!((0.20..=0.30).contains(&share), "kept {share}");
    assert!(consistent, "a value got two different decisions");
}

#[test]
fn prettify_http_decodes_chunked_and_gzip_bodies() {
    use std::io::Write as _;
    let dir = tmp();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"hello gzip").unwrap();
    let mut gzipped =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 30\r\n\r\n".to_vec();
    gzipped.extend_from_slice(&gz.finish().unwrap());
    let input = [
        request(
            1,
            "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
        ),
        response(1, gzipped),
        response(
            2,
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip at all",
        ),
    ];
    let got = shaped(dir.path(), &input, &["--prettify-http"]);
    assert_eq!(
        texts(&got),
        [
            "POST /up HTTP/1.1\r\nContent-Length: 9\r\n\r\nWikipedia",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello gzip",
        ]
    );
}

#[test]
fn bad_rules_stop_gor_at_start_up_naming_the_flag() {
    for (flag, value) in [
        ("--http-allow-url", "(unclosed"),
        ("--http-rewrite-url", "no-colon"),
        ("--http-set-header", "NoColon"),
        ("--http-header-limiter", "X-User:10"),
    ] {
        let done = run(
            &["--input-dummy", "x", "--output-stdout", flag, value],
            Duration::from_secs(10),
        );
        assert_eq!(done.code(), Some(2), "{flag} {value}: {}", done.stderr);
        assert!(done.stderr.contains(&flag[1..]), "{}", done.stderr);
        assert!(done.stdout.is_empty());
    }
}

#[test]
fn legacy_output_http_method_flag_filters_like_allow_method() {
    let dir = tmp();
    let input = [
        request(1, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n"),
        request(2, get("/y", "")),
    ];
    let (got, done) = through_gor(dir.path(), &input, &["--output-http-method", "GET"]);
    assert_eq!(paths(&got[..got.len() - 1]), ["/y"]);
    assert!(done.stderr.contains("deprecated"), "{}", done.stderr);
}
