//! Logs: `GOR_LOG_FORMAT=json` gives one JSON object per line, and no
//! secret handed to gor (a password in a URL, an `Authorization` value, a
//! Kafka SASL password, S3 keys) ever shows in its output, its logs at the
//! highest verbosity, its `--stats` lines or its metrics endpoint.

mod common;

use common::server::RecordingServer;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Runs gor with `env` set and returns (exit code, stdout, stderr).
fn gor_with_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(common::GOR);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A recording of two requests, `aaaa…` and `bbbb…`, 1 µs apart.
fn two_requests(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("in.gor");
    let records = [
        common::record(
            "1 aaaaaaaaaaaaaaaaaaaaaaaa 1000 0",
            b"GET /a HTTP/1.1\r\n\r\n",
        ),
        common::record(
            "1 bbbbbbbbbbbbbbbbbbbbbbbb 2000 0",
            b"GET /b HTTP/1.1\r\n\r\n",
        ),
    ];
    std::fs::write(&file, records.concat()).unwrap();
    file
}

#[test]
fn json_log_lines_parse_with_level_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = two_requests(dir.path());
    let (code, _, stderr) = gor_with_env(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--output-null",
            "--verbose",
            "3",
        ],
        &[("GOR_LOG_FORMAT", "json")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines.len() >= 4, "start-up, two traces, the end:\n{stderr}");
    let mut messages = Vec::new();
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                .contains(&v["level"].as_str().unwrap_or("")),
            "{line}"
        );
        messages.push(v["message"].as_str().expect("a message field").to_string());
    }
    assert!(
        messages.iter().any(|m| m.contains("Version:")),
        "{messages:?}"
    );
    // --verbose 3: a trace line per message.
    assert!(
        messages
            .iter()
            .any(|m| m.contains("aaaaaaaaaaaaaaaaaaaaaaaa")),
        "{messages:?}"
    );
}

#[test]
fn with_json_logs_the_reason_gor_stops_is_a_json_line_too() {
    let (code, _, stderr) = gor_with_env(
        &["--input-file", "/nonexistent/x_*.gor", "--output-null"],
        &[("GOR_LOG_FORMAT", "json")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    let last: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("not a JSON line ({e}):\n{stderr}"));
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or("")
            .contains("no file matches"),
        "{stderr}"
    );
}

#[test]
fn text_logs_stay_the_default_and_verbose_levels_gate_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = two_requests(dir.path());
    let run = |verbose: &str| {
        let (code, _, stderr) = gor_with_env(
            &[
                "--input-file",
                file.to_str().unwrap(),
                "--output-null",
                "--verbose",
                verbose,
            ],
            &[],
        );
        assert_eq!(code, Some(0), "{stderr}");
        stderr
    };
    let quiet = run("-1");
    assert!(!quiet.contains("Version:"), "{quiet}");
    let normal = run("0");
    assert!(
        normal.contains("Version:") && !normal.starts_with('{'),
        "{normal}"
    );
    assert!(!normal.contains("end of file"), "{normal}");
    // Level 2: flow events (the file ending), not yet a line per message.
    let flow = run("2");
    assert!(flow.contains("end of file"), "{flow}");
    assert!(!flow.contains("input: 1 aaaa"), "{flow}");
    let trace = run("3");
    assert!(trace.contains("input: 1 aaaa"), "{trace}");
}

const SECRETS: [&str; 6] = [
    "HttpPassw0rd",
    "BearerT0kenValue",
    "KafkaSaslPassw0rd",
    "S3SecretAccessKey",
    "WsPassw0rd",
    "UsagePassw0rd",
];

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret {s}:\n{text}");
    }
}

#[test]
fn secrets_given_to_gor_never_show_in_its_output_logs_stats_or_metrics() {
    // A target that refuses every connection: replay errors are logged
    // with the target at --verbose 3.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_port = refused.local_addr().unwrap().port();
    drop(refused);
    let target = RecordingServer::ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    let records: Vec<u8> = (0..5)
        .flat_map(|i| {
            common::record(
                &format!("1 {i:024x} {} 0", 1000 + i),
                b"GET /secret-test HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer BearerT0kenValue\r\n\r\n",
            )
        })
        .collect();
    std::fs::write(&file, records).unwrap();
    let http_ok = format!("http://alice:HttpPassw0rd@127.0.0.1:{}", target.port);
    let http_refused = format!("http://alice:HttpPassw0rd@127.0.0.1:{refused_port}");
    let env = [
        ("AWS_SECRET_ACCESS_KEY", "S3SecretAccessKey"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ];
    // A Kafka output whose broker cannot be reached: gor gives up at
    // start-up (after librdkafka's own timeout) and says why.
    let kafka = std::thread::spawn(|| {
        gor_with_env(
            &[
                "--input-dummy",
                "x",
                "--output-kafka-host",
                "127.0.0.1:1",
                "--output-kafka-topic",
                "t",
                "--output-kafka-use-sasl",
                "--output-kafka-mechanism",
                "PLAIN",
                "--output-kafka-username",
                "carol",
                "--output-kafka-password",
                "KafkaSaslPassw0rd",
                "--verbose",
                "3",
                "--exit-after",
                "30s",
            ],
            &[],
        )
    });
    let mut gor = Command::new(common::GOR);
    gor.args([
        "--input-file",
        file.to_str().unwrap(),
        "--input-file-loop",
        "--output-http",
        &http_ok,
        "--output-http",
        &http_refused,
        "--output-http-debug",
        "--http-set-header",
        "Authorization: Bearer BearerT0kenValue",
        "--output-ws",
        "ws://bob:WsPassw0rd@127.0.0.1:1/ws",
        "--stats",
        "--output-http-stats",
        "--output-http-stats-ms",
        "1000",
        "--verbose",
        "3",
        "--http-pprof",
        "127.0.0.1:0",
        "--exit-after",
        "4s",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        gor.env(k, v);
    }
    let mut child = gor.spawn().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr_pipe.read_to_string(&mut all);
        all
    });
    // Scrape while it runs; the port is read from /proc (stderr belongs
    // to the reader thread).
    let deadline = std::time::Instant::now() + T;
    let port = loop {
        if let Some(p) = listening_port(child.id()) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no --http-pprof port");
        std::thread::sleep(Duration::from_millis(50));
    };
    target.wait_for(1, T);
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = common::http_get(port, "/metrics");
    let vars = common::http_get(port, "/debug/vars");
    assert!(metrics.contains("gor_messages_written_total"), "{metrics}");
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert_no_secret("/metrics", &metrics);
    assert_no_secret("/debug/vars", &vars);
    assert_no_secret("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_secret("stderr", &stderr);
    // The run did log what the secrets sit in (so the test is not vacuous).
    assert!(stderr.contains("output_http:"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{refused_port}")),
        "{stderr}"
    );

    let (_, stdout, stderr) = kafka.join().unwrap();
    assert!(stderr.contains("Kafka"), "{stderr}");
    assert_no_secret("a Kafka run's stdout", &stdout);
    assert_no_secret("a Kafka run's stderr", &stderr);

    // A usage error quotes the value it rejects, masked.
    let (code, _, stderr) = gor_with_env(
        &[
            "--output-http",
            "http://dave:UsagePassw0rd@[::1",
            "--input-dummy",
            "x",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("dave:***@"), "{stderr}");
    assert_no_secret("a usage error", &stderr);
}

/// The TCP port a process listens on (its only listening socket), from
/// /proc: inode of each socket fd, matched against /proc/net/tcp.
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // state 0A = LISTEN
        if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
            u16::from_str_radix(f[1].rsplit_once(':')?.1, 16).ok()
        } else {
            None
        }
    })
}
