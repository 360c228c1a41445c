//! `--output-diff`: a recording replayed to real servers started here — a
//! baseline build and a candidate that differs on some endpoints (status,
//! one header, one JSON field deep in an array), both with a field that
//! changes on every call — and the regressions found exactly; noise learned
//! with three targets; the ignore flags; gzip and chunked bodies; the CI
//! exit code; a recording compared offline; a response that never arrives
//! counted as unmatched; report.html opened in headless Chromium.

mod common;
#[path = "common/replay.rs"]
mod replay_common;

use common::{record, run};
use replay_common::{Behaviour, RecordingServer};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

/// A token that is new on every call (the "random" field).
fn token() -> u64 {
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed) * 7919
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn json_response(status: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Date: {}\r\nContent-Length: {}\r\n\r\n{body}",
        token(),
        body.len()
    )
    .into_bytes()
}

/// The application, as the baseline (`candidate == false`) or the candidate
/// build answers `request`.
fn app(candidate: bool, request: &[u8]) -> Vec<u8> {
    let line = String::from_utf8_lossy(request)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    if let Some(id) = path.strip_prefix("/users/") {
        return json_response(
            "200 OK",
            "",
            &json!({"id": id, "name": format!("user {id}"), "token": token()}).to_string(),
        );
    }
    if path.starts_with("/orders/") {
        let last = if candidate { 5 } else { 4 };
        let items: Vec<Value> = [1, 2, 3, last]
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"sku": format!("s{i}"), "price": p}))
            .collect();
        return json_response(
            "200 OK",
            "",
            &json!({"items": items, "total": 4}).to_string(),
        );
    }
    if path == "/health" {
        let status = if candidate {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        return json_response(status, "", r#"{"ok":true}"#);
    }
    if path == "/config" {
        let policy = if candidate { "no-store" } else { "max-age=60" };
        return json_response(
            "200 OK",
            &format!("Cache-Control: {policy}\r\n"),
            r#"{"v":1}"#,
        );
    }
    if path.starts_with("/gz/") {
        let body = br#"{"list":[1,2,3],"name":"zipped"}"#;
        return if candidate {
            // The same content, chunked and not compressed.
            let (a, b) = body.split_at(10);
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for part in [a, b] {
                r.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                r.extend_from_slice(part);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        } else {
            let z = gzip(body);
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                z.len()
            )
            .into_bytes();
            r.extend_from_slice(&z);
            r
        };
    }
    if path == "/never" && candidate {
        // Longer than --output-http-timeout: the candidate never answers.
        std::thread::sleep(Duration::from_secs(3));
    }
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nsame\n".to_vec()
}

fn server(candidate: bool) -> RecordingServer {
    RecordingServer::start(Behaviour::Custom(Arc::new(move |req: &[u8]| {
        app(candidate, req)
    })))
}

const PATHS: &[&str] = &[
    "/users/1",
    "/users/2",
    "/orders/7",
    "/health",
    "/config",
    "/gz/1",
    "/same",
    "/never",
];

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n").into_bytes()
}

fn id(i: usize) -> String {
    format!("{:024x}", 0xd1ff_0000 + i)
}

/// A recording of requests only (`with_original`: each followed by the
/// baseline's answer, type 2).
fn recording(path: &Path, with_original: bool) {
    let mut out = Vec::new();
    for (i, p) in PATHS.iter().enumerate() {
        let ts = 1_700_000_000_000_000_000u64 + i as u64;
        out.extend(record(&format!("1 {} {ts} 0", id(i)), &request(p)));
        if with_original {
            out.extend(record(
                &format!("2 {} {ts} 1000", id(i)),
                &app(false, &request(p)),
            ));
        }
    }
    std::fs::write(path, out).unwrap();
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
        .expect("summary.json is JSON")
}

/// (endpoint, field, noise) of every difference in diffs.jsonl.
fn differences(dir: &Path) -> BTreeSet<(String, String, bool)> {
    let text = std::fs::read_to_string(dir.join("diffs.jsonl")).expect("diffs.jsonl");
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["id"].as_str().unwrap().len(), 24, "{v}");
        assert!(v["request"].as_str().unwrap().starts_with("GET /"), "{v}");
        for d in v["differences"].as_array().unwrap() {
            assert!(
                d.get("baseline").is_some() && d.get("candidate").is_some(),
                "{d}"
            );
            out.insert((
                v["endpoint"].as_str().unwrap().to_string(),
                d["field"].as_str().unwrap().to_string(),
                d["noise"].as_bool().unwrap(),
            ));
        }
    }
    out
}

fn counts(s: &Value, endpoint: &str) -> [u64; 5] {
    let e = &s["endpoints"][endpoint];
    ["compared", "equal", "different", "noise_only", "unmatched"].map(|k| {
        e[k].as_u64()
            .unwrap_or_else(|| panic!("{endpoint}: no {k} in {e}"))
    })
}

/// The differences the candidate was built with: a new token on every
/// call (noise when `token_is_noise`), a price deep in an array, a status
/// and a header.
fn planted(token_is_noise: bool) -> BTreeSet<(String, String, bool)> {
    set(&[
        ("GET /users/{id}", "$.token", token_is_noise),
        ("GET /orders/{id}", "$.items[3].price", false),
        ("GET /health", "status", false),
        ("GET /config", "header:Cache-Control", false),
    ])
}

fn set(items: &[(&str, &str, bool)]) -> BTreeSet<(String, String, bool)> {
    items
        .iter()
        .map(|(e, f, n)| (e.to_string(), f.to_string(), *n))
        .collect()
}

fn gor_diff(
    rec: &Path,
    targets: &[&RecordingServer],
    dir: &Path,
    extra: &[&str],
) -> common::Finished {
    let urls: Vec<String> = targets.iter().map(|s| s.url()).collect();
    let mut args = vec![
        "--input-file",
        rec.to_str().unwrap(),
        "--output-http-timeout",
        "1s",
    ];
    for u in &urls {
        args.extend(["--output-http", u.as_str()]);
    }
    args.extend(["--output-diff", dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    run(&args, T)
}

#[test]
fn two_targets_find_exactly_the_regressions_and_fail_the_ci_run() {
    let (base, cand) = (server(false), server(true));
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("requests.gor");
    recording(&rec, false);
    let dir = tmp.path().join("diff");
    let ran = gor_diff(&rec, &[&base, &cand], &dir, &["--output-diff-fail"]);
    assert_eq!(ran.code(), Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("--output-diff-fail"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "output-diff: 7 compared, 2 equal, 5 different (regressions), 0 noise only, 1 unmatched"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(differences(&dir), planted(false));
    let s = summary(&dir);
    assert_eq!(counts(&s, "GET /users/{id}"), [2, 0, 2, 0, 0]);
    assert_eq!(counts(&s, "GET /orders/{id}"), [1, 0, 1, 0, 0]);
    assert_eq!(counts(&s, "GET /health"), [1, 0, 1, 0, 0]);
    assert_eq!(counts(&s, "GET /config"), [1, 0, 1, 0, 0]);
    // gzip against chunked, same content: equal.
    assert_eq!(counts(&s, "GET /gz/{id}"), [1, 1, 0, 0, 0]);
    assert_eq!(counts(&s, "GET /same"), [1, 1, 0, 0, 0]);
    // The candidate never answered within the replay timeout.
    assert_eq!(counts(&s, "GET /never"), [0, 0, 0, 0, 1]);
    assert_eq!(
        s["endpoints"]["GET /users/{id}"]["fields"],
        json!({"$.token": 2})
    );
    assert_eq!(
        s["endpoints"]["GET /orders/{id}"]["fields"],
        json!({"$.items[3].price": 1})
    );
    let line = std::fs::read_to_string(dir.join("diffs.jsonl")).unwrap();
    let orders: Value = line
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["endpoint"] == "GET /orders/{id}")
        .unwrap();
    assert_eq!(orders["request"], json!("GET /orders/7 HTTP/1.1"));
    assert_eq!(orders["differences"][0]["baseline"], json!(4));
    assert_eq!(orders["differences"][0]["candidate"], json!(5));
}

#[test]
fn ignore_flags_leave_fields_out_and_a_clean_run_exits_0() {
    let (base, cand) = (server(false), server(true));
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("requests.gor");
    recording(&rec, false);
    let dir = tmp.path().join("diff");
    let ran = gor_diff(
        &rec,
        &[&base, &cand],
        &dir,
        &[
            "--output-diff-fail",
            "--output-diff-ignore",
            r"^\$\.token$",
            "--output-diff-ignore",
            r"^\$\.items\[\d+\]\.price$",
            "--output-diff-ignore",
            "^status$",
            "--output-diff-ignore-header",
            "cache-control",
        ],
    );
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    assert_eq!(differences(&dir), set(&[]));
    let s = summary(&dir);
    assert_eq!(counts(&s, "GET /users/{id}"), [2, 2, 0, 0, 0]);
    assert_eq!(counts(&s, "GET /config"), [1, 1, 0, 0, 0]);
    assert_eq!(s["totals"]["different"], json!(0));
    // A bad pattern is a usage error naming the flag.
    let bad = run(
        &[
            "--input-file",
            rec.to_str().unwrap(),
            "--output-diff",
            dir.to_str().unwrap(),
            "--output-diff-ignore",
            "(",
        ],
        T,
    );
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("output-diff-ignore"), "{}", bad.stderr);
}

#[test]
fn three_targets_count_what_two_good_builds_disagree_on_as_noise() {
    let (primary, secondary, cand) = (server(false), server(false), server(true));
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("requests.gor");
    recording(&rec, false);
    let dir = tmp.path().join("diff");
    let ran = gor_diff(
        &rec,
        &[&primary, &secondary, &cand],
        &dir,
        &["--output-diff-fail"],
    );
    assert_eq!(ran.code(), Some(3), "{}", ran.stderr);
    assert_eq!(differences(&dir), planted(true));
    let s = summary(&dir);
    assert_eq!(counts(&s, "GET /users/{id}"), [2, 0, 0, 2, 0]);
    assert_eq!(
        s["endpoints"]["GET /users/{id}"]["noise_fields"],
        json!({"$.token": 2})
    );
    assert_eq!(counts(&s, "GET /orders/{id}"), [1, 0, 1, 0, 0]);
    // Only the tokens differ: noise alone does not fail the run.
    let quiet = tmp.path().join("quiet.gor");
    let mut out = Vec::new();
    for i in 0..3 {
        out.extend(record(
            &format!(
                "1 {} {} 0",
                id(100 + i),
                1_700_000_000_000_000_000u64 + i as u64
            ),
            &request(&format!("/users/{i}")),
        ));
    }
    std::fs::write(&quiet, out).unwrap();
    let dir2 = tmp.path().join("quiet");
    let ran = gor_diff(
        &quiet,
        &[&primary, &secondary, &cand],
        &dir2,
        &["--output-diff-fail"],
    );
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    assert_eq!(counts(&summary(&dir2), "GET /users/{id}"), [3, 0, 0, 3, 0]);
}

#[test]
fn one_target_is_compared_with_the_recorded_original_responses() {
    let cand = server(true);
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("with-responses.gor");
    recording(&rec, true);
    let dir = tmp.path().join("diff");
    let ran = gor_diff(&rec, &[&cand], &dir, &[]);
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    assert_eq!(differences(&dir), planted(false));
    assert_eq!(counts(&summary(&dir), "GET /never"), [0, 0, 0, 0, 1]);
}

#[test]
fn a_recording_with_both_sides_is_compared_offline() {
    // An earlier replay with --output-http-track-response, written with
    // --output-file: the requests, the originals (type 2) and the replayed
    // responses (type 3), in GoReplay's format.
    let cand = server(true);
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("with-responses.gor");
    recording(&rec, true);
    let replayed = tmp.path().join("replayed.gor");
    let ran = run(
        &[
            "--input-file",
            rec.to_str().unwrap(),
            "--output-http",
            &cand.url(),
            "--output-http-track-response",
            "--output-http-timeout",
            "1s",
            "--output-file",
            replayed.to_str().unwrap(),
            "--output-file-append",
        ],
        T,
    );
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    let written = std::fs::read(&replayed).unwrap();
    assert!(written.starts_with(b"1 ") || written.starts_with(b"2 ") || written.starts_with(b"3 "));
    drop(cand);
    let dir = tmp.path().join("diff");
    let ran = run(
        &[
            "--input-file",
            replayed.to_str().unwrap(),
            // The replayed responses are stamped now, the requests years
            // ago: no pacing between them.
            "--input-file-max-wait",
            "1ms",
            "--output-diff",
            dir.to_str().unwrap(),
            "--output-diff-fail",
        ],
        T,
    );
    assert_eq!(ran.code(), Some(3), "{}", ran.stderr);
    assert_eq!(differences(&dir), planted(false));
    let s = summary(&dir);
    assert_eq!(counts(&s, "GET /gz/{id}"), [1, 1, 0, 0, 0]);
    // The replay of /never timed out: no type 3 was recorded for it.
    assert_eq!(counts(&s, "GET /never"), [0, 0, 0, 0, 1]);
}

#[test]
fn the_report_opens_in_headless_chromium_and_shows_the_endpoint_table() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("headless Chromium is needed for this test: apt-get install chromium (scripts/setup.sh installs it)");
    let (base, cand) = (server(false), server(true));
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("requests.gor");
    recording(&rec, false);
    let dir = tmp.path().join("diff");
    let ran = gor_diff(&rec, &[&base, &cand], &dir, &[]);
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained"
    );
    let page = format!("file://{}", dir.join("report.html").display());
    let profile = tmp.path().join("profile");
    let chrome = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(chromium);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&page);
        let out = cmd.output().expect("running chromium");
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    // The DOM Chromium built: one row per endpoint, regressions first.
    let dom = String::from_utf8(chrome(&["--dump-dom"]).stdout).unwrap();
    let rows: Vec<&str> = dom.split("<tr class=\"endpoint ").skip(1).collect();
    assert_eq!(rows.len(), 7, "{dom}");
    assert!(rows[0].starts_with("bad"), "{}", rows[0]);
    assert!(rows[6].starts_with("good"), "{}", rows[6]);
    for e in [
        "GET /users/{id}",
        "GET /orders/{id}",
        "GET /health",
        "GET /config",
        "GET /never",
    ] {
        assert!(dom.contains(e), "{e} missing");
    }
    assert!(dom.contains("$.items[3].price"));
    // The screenshot: a real picture, not a blank page.
    let shot = tmp.path().join("report.png");
    chrome(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,900",
    ]);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let colours = png_colours(&png);
    assert!(colours >= 6, "the screenshot has {colours} colours: blank?");
}

/// The number of distinct colours in a PNG (8-bit RGB or RGBA, the kind
/// Chromium writes): decoded with zlib, filters undone.
fn png_colours(png: &[u8]) -> usize {
    let mut pos = 8;
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &png[pos + 4..pos + 8];
        let data = &png[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "8-bit PNG expected");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    assert!(width >= 800 && height >= 600, "{width}x{height}");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&idat[..]), &mut raw).unwrap();
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut colours = std::collections::HashSet::new();
    for row in raw.chunks(stride + 1).take(height) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = line.to_vec();
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 } as i16;
            let b = prev[i] as i16;
            let c = if i >= channels { prev[i - channels] } else { 0 } as i16;
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            cur[i] = cur[i].wrapping_add(add as u8);
        }
        for px in cur.chunks(channels) {
            colours.insert((px[0], px[1], px[2]));
        }
        prev = cur;
    }
    colours.len()
}
