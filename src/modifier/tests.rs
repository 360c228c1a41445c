use super::*;
use crate::settings::{Command, parse};

/// The modifier for these `--http-*` arguments.
fn modifier(args: &[&str]) -> Result<Option<HttpModifier>> {
    let mut argv: Vec<String> = vec!["--input-dummy".into(), "x".into(), "--output-null".into()];
    argv.extend(args.iter().map(|s| s.to_string()));
    match parse(&argv)? {
        Command::Run { settings, .. } => {
            HttpModifier::new(&ModifierConfig::from_settings(&settings)?)
        }
        other => panic!("unexpected command {other:?}"),
    }
}

fn m(args: &[&str]) -> HttpModifier {
    modifier(args).unwrap().unwrap()
}

fn err(args: &[&str]) -> String {
    let e = modifier(args).unwrap_err();
    assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
    e.to_string()
}

fn req(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\n{headers}\r\n").into_bytes()
}

fn method_req(method: &str) -> Vec<u8> {
    format!("{method} / HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
}

fn text(out: Option<Cow<'_, [u8]>>) -> String {
    String::from_utf8(out.expect("request was dropped").into_owned()).unwrap()
}

#[test]
fn a_config_built_by_hand_needs_no_settings() {
    let none = ModifierConfig::default();
    assert!(HttpModifier::new(&none).unwrap().is_none());
    let rules = ModifierConfig {
        http_allow_url: vec!["^/api".into()],
        ..ModifierConfig::default()
    };
    let m = HttpModifier::new(&rules).unwrap().unwrap();
    assert!(m.rewrite(&req("/api/x", "")).is_some());
    assert!(m.rewrite(&req("/web", "")).is_none());
}

#[test]
fn fnv1a32_matches_the_reference_values() {
    assert_eq!(fnv1a32(b"1"), 873_244_444);
    assert_eq!(fnv1a32(b"3"), 906_799_682);
    assert_eq!(fnv1a32(b""), 2_166_136_261);
}

#[test]
fn no_rule_means_no_modifier() {
    assert!(modifier(&[]).unwrap().is_none());
}

#[test]
fn non_http_data_passes_untouched() {
    let md = m(&["--http-allow-method", "GET"]);
    assert_eq!(&*md.rewrite(b"\x00\x01binary").unwrap(), b"\x00\x01binary");
    let resp = b"HTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(&*md.rewrite(resp).unwrap(), resp);
}

#[test]
fn allow_method_keeps_listed_methods_and_drops_others() {
    let md = m(&["--http-allow-method", "GET", "--http-allow-method", "PUT"]);
    assert!(md.rewrite(&method_req("GET")).is_some());
    assert!(md.rewrite(&method_req("PUT")).is_some());
    assert!(md.rewrite(&method_req("POST")).is_none());
    assert!(md.rewrite(&method_req("OPTIONS")).is_none());
    assert!(md.rewrite(&method_req("get")).is_none());
}

#[test]
fn allow_method_applies_to_webdav_methods_too() {
    let md = m(&["--http-allow-method", "GET"]);
    assert!(md.rewrite(&method_req("PROPFIND")).is_none());
    let md = m(&["--http-allow-method", "PROPFIND"]);
    assert!(md.rewrite(&method_req("PROPFIND")).is_some());
}

#[test]
fn unchanged_requests_are_borrowed_not_copied() {
    let md = m(&["--http-allow-method", "GET"]);
    let r = method_req("GET");
    assert!(matches!(md.rewrite(&r), Some(Cow::Borrowed(_))));
}

#[test]
fn set_header_inserts_first_and_replaces_in_place() {
    let md = m(&[
        "--http-set-header",
        "Header1:1",
        "--http-set-header",
        "Host:localhost",
    ]);
    let out = text(md.rewrite(&req("/", "Host: example.com\r\nA: b\r\n")));
    assert_eq!(
        out,
        "GET / HTTP/1.1\r\nHeader1: 1\r\nHost: localhost\r\nA: b\r\n\r\n"
    );
}

#[test]
fn set_param_overrides_and_appends() {
    let md = m(&["--http-set-param", "api_key=1"]);
    assert_eq!(
        text(md.rewrite(&req("/?api_key=1234", ""))),
        "GET /?api_key=1 HTTP/1.1\r\n\r\n"
    );
    assert_eq!(
        text(md.rewrite(&req("/a", ""))),
        "GET /a?api_key=1 HTTP/1.1\r\n\r\n"
    );
    assert_eq!(
        text(md.rewrite(&req("/a?b=2", ""))),
        "GET /a?b=2&api_key=1 HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn allow_url_passes_any_listed_pattern_and_drops_others() {
    let md = m(&[
        "--http-allow-url",
        "/v1/user",
        "--http-allow-url",
        "/v1/ping",
    ]);
    assert!(md.rewrite(&req("/v1/user", "")).is_some());
    assert!(md.rewrite(&req("/v1/ping", "")).is_some());
    assert!(md.rewrite(&req("/other", "")).is_none());
}

#[test]
fn allow_url_matches_the_query_string_too() {
    let md = m(&["--http-allow-url", "debug=1$"]);
    assert!(md.rewrite(&req("/a?debug=1", "")).is_some());
    assert!(md.rewrite(&req("/a?debug=0", "")).is_none());
}

#[test]
fn disallow_url_drops_every_listed_pattern() {
    let md = m(&[
        "--http-disallow-url",
        "/v1/user",
        "--http-disallow-url",
        "/v1/ping",
    ]);
    assert!(md.rewrite(&req("/v1/user", "")).is_none());
    assert!(md.rewrite(&req("/v1/ping", "")).is_none());
    assert!(md.rewrite(&req("/other", "")).is_some());
}

#[test]
fn filters_see_what_the_rewrites_set() {
    // set-param runs before allow-url.
    let md = m(&["--http-set-param", "k=v", "--http-allow-url", "k=v"]);
    assert!(md.rewrite(&req("/a", "")).is_some());
}

#[test]
fn allow_header_needs_a_matching_non_empty_value() {
    let md = m(&["--http-allow-header", "Host:^www.w3.org$"]);
    assert!(md.rewrite(&req("/", "Host: www.w3.org\r\n")).is_some());
    assert!(md.rewrite(&req("/", "Host: www.w4.org\r\n")).is_none());
    assert!(md.rewrite(&req("/", "Host:\r\n")).is_none());
    assert!(md.rewrite(&req("/", "")).is_none());
    let md = m(&["--http-allow-header", "Host:^www.w4.org$"]);
    assert!(md.rewrite(&req("/", "Host: www.w3.org\r\n")).is_none());
}

#[test]
fn disallow_header_drops_matching_values_only() {
    let md = m(&["--http-disallow-header", "Host: www*"]);
    assert!(md.rewrite(&req("/", "Host: www.w4.org\r\n")).is_none());
    assert!(md.rewrite(&req("/", "Host: api.w4.org\r\n")).is_some());
    assert!(md.rewrite(&req("/", "")).is_some());
}

fn basic(cred: &str) -> Vec<u8> {
    use base64::Engine;
    let enc = base64::engine::general_purpose::STANDARD.encode(cred);
    req("/", &format!("Authorization: Basic {enc}\r\n"))
}

#[test]
fn basic_auth_filter_matches_decoded_credentials() {
    let md = m(&["--http-basic-auth-filter", "^customer[0-9].*"]);
    assert!(md.rewrite(&basic("customer3:welcome")).is_some());
    assert!(md.rewrite(&basic("customer6:rest@123^TEST")).is_some());
    assert!(md.rewrite(&basic("admin:x")).is_none());
    let md = m(&[
        "--http-basic-auth-filter",
        "^(homer simpson|mickey mouse).*",
    ]);
    assert!(md.rewrite(&basic("mickey mouse:happy123")).is_some());
    assert!(md.rewrite(&basic("donald duck:quack")).is_none());
}

#[test]
fn basic_auth_filter_passes_other_schemes_and_missing_header() {
    let md = m(&["--http-basic-auth-filter", "^nobody$"]);
    assert!(md.rewrite(&req("/", "")).is_some());
    assert!(
        md.rewrite(&req("/", "Authorization: Bearer abc\r\n"))
            .is_some()
    );
}

#[test]
fn basic_auth_padding_and_garbage_are_tolerated() {
    // "customer6:rest@123^TEST" needs `=` padding; garbage after it is ignored.
    assert_eq!(
        decode_base64_lenient(b"Y3VzdG9tZXI2OnJlc3RAMTIzXlRFU1Q=!!"),
        b"customer6:rest@123^TEST"
    );
    assert_eq!(decode_base64_lenient(b"bWlja2V5"), b"mickey");
}

#[test]
fn header_limiter_drops_by_hash_and_passes_missing() {
    let md = m(&["--http-header-limiter", "Header2:1/2"]);
    assert!(md.rewrite(&req("/", "")).is_some());
    assert!(md.rewrite(&req("/", "Header2: 3\r\n")).is_none());
    assert!(md.rewrite(&req("/", "Header2: 1\r\n")).is_some());
}

#[test]
fn param_limiter_drops_by_hash_and_passes_missing() {
    let md = m(&["--http-param-limiter", "user_id:1/2"]);
    assert!(md.rewrite(&req("/a", "")).is_some());
    assert!(md.rewrite(&req("/a?user_id=3", "")).is_none());
    assert!(md.rewrite(&req("/a?user_id=1", "")).is_some());
}

#[test]
fn limiter_keeps_a_consistent_share_of_values() {
    let md = m(&["--http-header-limiter", "X-User: 30%"]);
    let kept = (0..10_000)
        .filter(|i| md.rewrite(&req("/", &format!("X-User: {i}\r\n"))).is_some())
        .count();
    assert!((2_500..3_500).contains(&kept), "kept {kept}");
    for i in 0..50 {
        let r = req("/", &format!("X-User: u{i}\r\n"));
        assert_eq!(md.rewrite(&r).is_some(), md.rewrite(&r).is_some());
    }
}

#[test]
fn rewrite_url_uses_go_style_groups() {
    let md = m(&[
        "--http-rewrite-url",
        "/v1/user/([^\\/]+)/ping:/v2/user/$1/ping",
    ]);
    assert_eq!(
        text(md.rewrite(&req("/v1/user/joe/ping", ""))),
        "GET /v2/user/joe/ping HTTP/1.1\r\n\r\n"
    );
    assert_eq!(
        text(md.rewrite(&req("/v1/user/ping", ""))),
        "GET /v1/user/ping HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn only_the_first_matching_url_rewrite_applies() {
    let md = m(&["--http-rewrite-url", "a:b", "--http-rewrite-url", "b:c"]);
    assert_eq!(
        text(md.rewrite(&req("/aa", ""))),
        "GET /bb HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn rewrite_header_replaces_matches_in_the_value() {
    let md = m(&["--http-rewrite-header", "Host: (.*).w3.org,$1.beta.w3.org"]);
    assert_eq!(
        text(md.rewrite(&req("/", "Host: www.w3.org\r\n"))),
        "GET / HTTP/1.1\r\nHost: www.beta.w3.org\r\n\r\n"
    );
    assert_eq!(
        text(md.rewrite(&req("/", "Host: example.com\r\n"))),
        "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    );
}

#[test]
fn rewrite_header_stops_at_a_missing_header_as_goreplay_does() {
    let md = m(&[
        "--http-rewrite-header",
        "X-Missing: a,b",
        "--http-rewrite-header",
        "Host: a,b",
    ]);
    assert_eq!(
        text(md.rewrite(&req("/", "Host: a\r\n"))),
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    );
}

#[test]
fn header_and_limiter_flags_parse_as_goreplay() {
    assert!(modifier(&["--http-allow-header", "Header1:^$"]).is_ok());
    assert!(modifier(&["--http-allow-header", "Header2:^:$"]).is_ok());
    assert!(err(&["--http-allow-header", "Header3-^$"]).contains("-http-allow-header"));
    let md = m(&["--http-header-limiter", "Header1:1/2"]);
    assert_eq!(md.header_limits[0].percent, 50);
    let md = m(&["--http-header-limiter", "Header2:10%"]);
    assert_eq!(md.header_limits[0].percent, 10);
    let md = m(&["--http-param-limiter", "p: 025%"]);
    assert_eq!(md.param_limits[0].percent, 21);
    assert!(err(&["--http-header-limiter", "Header2:1"]).contains("contain '%'"));
    assert!(err(&["--http-param-limiter", "p:abc%"]).contains("-http-param-limiter"));
    assert!(err(&["--http-header-limiter", "h:1/0"]).contains("-http-header-limiter"));
}

#[test]
fn malformed_rules_are_usage_errors_naming_the_flag() {
    assert!(err(&["--http-rewrite-url", "/a/b"]).contains("colon-delimited"));
    assert!(err(&["--http-set-header", "NoColon"]).contains("-http-set-header"));
    assert!(err(&["--http-set-param", "nokey"]).contains("-http-set-param"));
    assert!(err(&["--http-rewrite-header", "Host: nocomma"]).contains("-http-rewrite-header"));
    assert!(err(&["--http-allow-url", "("]).contains("-http-allow-url"));
    assert!(err(&["--http-disallow-url", "[z-a]"]).contains("-http-disallow-url"));
    assert!(err(&["--http-basic-auth-filter", "(?P<"]).contains("-http-basic-auth-filter"));
    assert!(err(&["--http-allow-header", "H:("]).contains("regular expression"));
}

#[test]
fn legacy_flags_act_as_their_modern_form() {
    let md = m(&[
        "--output-http-method",
        "GET",
        "--output-http-header",
        "A: 1",
    ]);
    assert!(md.rewrite(&method_req("POST")).is_none());
    assert!(text(md.rewrite(&method_req("GET"))).contains("\r\nA: 1\r\n"));
}

#[test]
fn arbitrary_bytes_never_panic_any_rule_or_helper() {
    let md = m(&[
        "--http-allow-header",
        "X: .",
        "--http-set-header",
        "A: 1",
        "--http-set-param",
        "p=1",
        "--http-basic-auth-filter",
        ".",
        "--http-header-limiter",
        "X: 99%",
        "--http-param-limiter",
        "p: 99%",
        "--http-rewrite-url",
        "(.*):$1$1",
        "--http-rewrite-header",
        "X: (.*),${1}z",
    ]);
    let pieces: [&[u8]; 18] = [
        b"GET ",
        b"/",
        b"?p=",
        b"&",
        b" HTTP/1.1",
        b"\r\n",
        b"\n",
        b":",
        b"X: ",
        b"\r\n\r\n",
        b"Authorization: Basic ",
        b"\xff\xfe",
        b"0",
        b"HTTP/1.1 200 OK",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Encoding: gzip\r\n",
        b"\x1f\x8b\x08\x00",
        b"5\r\nab",
    ];
    for _ in 0..20_000 {
        let n = rand::random_range(0..12);
        let mut data = Vec::new();
        for _ in 0..n {
            if rand::random_range(0..4) == 0 {
                data.push(rand::random::<u8>());
            } else {
                data.extend_from_slice(pieces[rand::random_range(0..pieces.len())]);
            }
        }
        let _ = md.rewrite(&data);
        let _ = crate::http::prettify::prettify(&data);
        let _ = crate::http::query::set_param(&data, b"p", b"2");
        let _ = crate::http::headers::delete_header(&data, b"X");
        let _ = crate::http::start_line::status_line(&data);
    }
}
