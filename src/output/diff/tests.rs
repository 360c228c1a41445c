use super::*;
use crate::message::PayloadType;
use serde_json::{Value, json};

fn config(dir: &std::path::Path, targets: usize) -> DiffConfig {
    DiffConfig {
        dir: dir.to_path_buf(),
        targets,
        ignore_headers: vec![],
        ignore: vec![],
        timeout: Duration::from_secs(30),
        samples: 5,
        fail: true,
    }
}

fn request(id: &str, path: &str) -> Message {
    Message::new(
        PayloadType::Request,
        id,
        1,
        0,
        format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes(),
    )
}

fn replayed(id: &str, target: u16, body: &str) -> Message {
    let mut m = Message::new(
        PayloadType::ReplayedResponse,
        id,
        1,
        0,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    m.replay_target = Some(target);
    m
}

fn summary(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn three_targets_learn_noise_from_primary_and_secondary() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Differ::new(&config(dir.path(), 3)).unwrap();
    let now = Instant::now();
    // Request 1: the token differs between the two good builds (noise),
    // the price differs only on the candidate (a regression).
    for (i, (p, s, c)) in [
        (
            r#"{"token":"a","price":1}"#,
            r#"{"token":"b","price":1}"#,
            r#"{"token":"c","price":2}"#,
        ),
        // Request 2: only the token differs on the candidate: noise only,
        // even though primary and secondary happened to agree this time.
        (
            r#"{"token":"x","price":1}"#,
            r#"{"token":"x","price":1}"#,
            r#"{"token":"y","price":1}"#,
        ),
        (
            r#"{"token":"x","price":1}"#,
            r#"{"token":"x","price":1}"#,
            r#"{"token":"x","price":1}"#,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("{i:024x}");
        d.handle(request(&id, &format!("/items/{i}")), now);
        d.handle(replayed(&id, 0, p), now);
        d.handle(replayed(&id, 1, s), now);
        d.handle(replayed(&id, 2, c), now);
    }
    assert!(d.pairs.is_empty());
    let line = d.finish();
    assert!(line.contains("3 compared, 1 equal, 1 different"), "{line}");
    let s = summary(dir.path());
    assert_eq!(
        s["endpoints"]["GET /items/{id}"],
        json!({"compared": 3, "equal": 1, "different": 1, "noise_only": 1, "unmatched": 0,
               "fields": {"$.token": 2, "$.price": 1}, "noise_fields": {"$.token": 2}})
    );
    assert_eq!(d.regressions().load(Ordering::Relaxed), 1);
    let diffs = std::fs::read_to_string(dir.path().join("diffs.jsonl")).unwrap();
    let first: Value = serde_json::from_str(diffs.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], json!(format!("{:024x}", 0)));
    assert_eq!(first["regression"], json!(true));
    let fields: Vec<(String, bool)> = first["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().to_string(),
                d["noise"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("$.token".to_string(), true),
            ("$.price".to_string(), false)
        ]
    );
}

#[test]
fn a_response_that_never_arrives_is_unmatched_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 2);
    c.timeout = Duration::from_secs(1);
    let mut d = Differ::new(&c).unwrap();
    let start = Instant::now();
    d.handle(request("a", "/slow"), start);
    d.handle(replayed("a", 0, "{}"), start);
    d.tick(start + Duration::from_millis(500));
    assert_eq!(summary(dir.path())["endpoints"]["GET /slow"], Value::Null);
    d.tick(start + Duration::from_secs(2));
    assert_eq!(
        summary(dir.path())["endpoints"]["GET /slow"]["unmatched"],
        json!(1)
    );
    // A response for an id never requested is unmatched at exit.
    d.handle(replayed("b", 1, "{}"), start);
    d.finish();
    let s = summary(dir.path());
    assert_eq!(s["endpoints"][UNKNOWN_ENDPOINT]["unmatched"], json!(1));
    assert_eq!(s["totals"]["unmatched"], json!(2));
}

#[test]
fn a_bad_ignore_pattern_is_a_usage_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), 1);
    c.ignore = vec!["[".into()];
    let e = c.rules().err().unwrap();
    assert!(e.to_string().contains("-output-diff-ignore"), "{e}");
    assert!(e.downcast_ref::<UsageError>().is_some());
}

#[test]
fn the_output_compares_what_it_is_given_and_writes_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = Shutdown::new();
    let (out, gate) = DiffOutput::start(&config(dir.path(), 2), &shutdown).unwrap();
    let gate = gate.unwrap();
    out.write(&request("a", "/x")).unwrap();
    out.write(&replayed("a", 0, r#"{"v":1}"#)).unwrap();
    out.offer(&replayed("a", 1, r#"{"v":2}"#)).unwrap();
    out.close();
    assert!(out.write(&request("b", "/x")).is_err());
    let s = summary(dir.path());
    assert_eq!(s["endpoints"]["GET /x"]["different"], json!(1));
    assert!(gate().unwrap().contains("1 requests answered differently"));
    assert!(dir.path().join("report.html").exists());
    // The counters /metrics and --stats show.
    let counters = crate::stats::snapshot();
    for name in ["output_diff.compared", "output_diff.different"] {
        assert!(
            counters.iter().any(|(n, v, _)| n == name && *v >= 1),
            "{name} missing from {counters:?}"
        );
    }
    shutdown.stop("test");
    assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
}
