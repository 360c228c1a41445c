//! `/metrics` on `--http-pprof`: a scrape taken while gor captures real
//! loopback traffic (with each capture engine) and replays it passes
//! `promtool check metrics`, and its counters match what the test sent; the
//! Grafana dashboard is valid JSON over metrics that exist; the example
//! alert rules pass `promtool check rules` and fire when they should
//! (`promtool test rules`).

mod common;

use common::server::RecordingServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const REQUESTS: usize = 25;

/// promtool (Debian's `prometheus` package, which scripts/setup.sh
/// installs); a clear failure when it is missing.
fn promtool() -> Command {
    common::need_tool("promtool", "prometheus");
    Command::new("promtool")
}

/// The body of a scrape.
fn get(port: u16, path: &str) -> String {
    let text = common::http_get(port, path);
    match text.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_string(),
        None => String::new(),
    }
}

/// The value of the sample `series` (name and labels exactly as printed).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// Sends `n` requests on one keep-alive connection, reading each response.
fn send_requests(port: u16, n: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for i in 0..n {
        write!(
            s,
            "GET /metrics-test/{i} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        )
        .unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "response {i}");
            got.push(byte[0]);
        }
        // The test server's body: `ok`.
        let mut body = [0u8; 2];
        s.read_exact(&mut body).unwrap();
    }
}

fn scrape_during_capture(engine: &str) {
    let captured = RecordingServer::ok();
    let target = RecordingServer::ok();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gor");
    let out_arg = out.to_str().unwrap();
    let addr = format!("127.0.0.1:{}", captured.port);
    let target_url = target.url();
    let gor = common::Running::start(&[
        "--input-raw",
        &addr,
        "--input-raw-engine",
        engine,
        "--output-file",
        out_arg,
        "--output-http",
        &target_url,
        "--http-pprof",
        "127.0.0.1:0",
    ]);
    let port = gor.port_after("--http-pprof listening on ", T);
    // The capture is ready once it reports itself; traffic before that
    // would not be seen.
    gor.wait_for_line("Interface", T);
    send_requests(captured.port, REQUESTS);
    target.wait_for(REQUESTS, T);

    let input = "gor_messages_read_total{input=\"input_raw\"}".to_string();
    let latency_count = format!("gor_replay_latency_seconds_count{{target=\"{target_url}\"}}");
    let mut scrape = String::new();
    let started = std::time::Instant::now();
    let done = |scrape: &str| {
        sample(scrape, &input) == Some(REQUESTS as f64)
            && sample(scrape, &latency_count) == Some(REQUESTS as f64)
            // The kernel's figures are read about once a second.
            && sample(scrape, "gor_capture_packets_total{interface=\"lo\"}")
                .is_some_and(|p| p >= 2.0 * REQUESTS as f64)
    };
    while !done(&scrape) {
        assert!(
            started.elapsed() < T,
            "waited {T:?} for every request read, replayed and timed; the last scrape:\n{scrape}"
        );
        std::thread::sleep(Duration::from_millis(20));
        scrape = get(port, "/metrics");
    }

    let mut check = promtool()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics:\n{}{}\n--- scrape:\n{scrape}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // What the test sent, as counted.
    let written = |output: &str| {
        sample(
            &scrape,
            &format!("gor_messages_written_total{{output=\"{output}\"}}"),
        )
    };
    assert_eq!(
        written(&format!("output_file({out_arg})")),
        Some(REQUESTS as f64),
        "{scrape}"
    );
    assert_eq!(
        written(&format!("--output-http {target_url}")),
        Some(REQUESTS as f64),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            "gor_events_total{component=\"output_http\",event=\"responses\"}"
        ),
        Some(REQUESTS as f64),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            &format!("gor_replay_latency_seconds_bucket{{target=\"{target_url}\",le=\"+Inf\"}}")
        ),
        Some(REQUESTS as f64)
    );
    // (The kernel's packet count, at least a request and a response
    // segment per exchange, was waited for above.)
    assert_eq!(
        sample(&scrape, "gor_capture_kernel_drops_total{interface=\"lo\"}"),
        Some(0.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "gor_queue_bytes{queue=\"input_raw\"}").is_some(),
        "{scrape}"
    );
    assert!(
        sample(
            &scrape,
            &format!("gor_queue_messages{{queue=\"--output-http {target_url}\"}}")
        )
        .is_some(),
        "{scrape}"
    );
    assert!(
        !scrape
            .lines()
            .any(|l| l.starts_with("gor_dropped_total") && !l.ends_with(" 0")),
        "nothing was dropped:\n{scrape}"
    );

    // Every family in the scrape is documented.
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md"))
            .unwrap();
    for family in scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split(' ').next().unwrap();
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/metrics.md does not describe {name}"
        );
    }
    drop(gor);
}

#[test]
fn a_scrape_during_a_libpcap_capture_passes_promtool_and_counts_what_was_sent() {
    if common::can_capture(
        "a_scrape_during_a_libpcap_capture_passes_promtool_and_counts_what_was_sent",
    ) {
        scrape_during_capture("libpcap");
    }
}

#[test]
fn a_scrape_during_a_raw_socket_capture_passes_promtool_and_counts_what_was_sent() {
    if common::can_capture(
        "a_scrape_during_a_raw_socket_capture_passes_promtool_and_counts_what_was_sent",
    ) {
        scrape_during_capture("raw_socket");
    }
}

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_grafana_dashboard_is_valid_json_over_documented_metrics() {
    let text = std::fs::read_to_string(repo("examples/grafana/gor-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("a panels array");
    assert!(panels.len() >= 6, "{} panels", panels.len());
    let docs = std::fs::read_to_string(repo("docs/metrics.md")).unwrap();
    let mut exprs = 0;
    for panel in panels {
        assert!(panel["title"].is_string(), "{panel}");
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("each target has an expr");
            exprs += 1;
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(rest) = word.strip_prefix("gor_") {
                    // A histogram is documented by its family name.
                    let family = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| word.strip_suffix(s))
                        .unwrap_or(word);
                    assert!(
                        docs.contains(&format!("`{family}`")),
                        "the dashboard uses gor_{rest}, which docs/metrics.md does not describe"
                    );
                }
            }
        }
    }
    assert!(exprs >= 6, "{exprs} queries");
}

#[test]
fn the_example_alert_rules_pass_promtool_and_fire_when_they_should() {
    let rules = repo("examples/grafana/gor-alerts.yml");
    let checked = promtool()
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let tested = promtool()
        .args(["test", "rules"])
        .arg(repo("examples/grafana/gor-alerts.test.yml"))
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
}
