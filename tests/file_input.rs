//! `--input-file`: timing (speed factor, max wait, loop), dry run, and
//! damaged or missing files.

mod common;
#[path = "common/files.rs"]
mod files_common;

use common::{records, run};
use files_common::*;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// Runs gor to the end and returns (result, wall time).
fn timed(args: &[&str]) -> (common::Finished, Duration) {
    let start = Instant::now();
    let r = run(args, DEADLINE);
    let took = start.elapsed();
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    (r, took)
}

#[test]
fn speed_factor_scales_the_recorded_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    // Three records 100 ms apart: 200 ms of recorded time.
    write(&input, &requests(3, 100));
    let fast = format!("{}|200%", arg(&input));
    let slow = format!("{}|50%", arg(&input));
    let (r, fast_took) = timed(&["--input-file", &fast, "--output-stdout"]);
    assert_eq!(records(&r.stdout).len(), 3);
    let (r, slow_took) = timed(&["--input-file", &slow, "--output-stdout"]);
    assert_eq!(records(&r.stdout).len(), 3);
    assert!(fast_took >= Duration::from_millis(100), "{fast_took:?}");
    assert!(slow_took >= Duration::from_millis(400), "{slow_took:?}");
    // Start-up costs the same in both runs; the difference is ~300 ms.
    let diff = slow_took.saturating_sub(fast_took);
    assert!(
        diff >= Duration::from_millis(200),
        "{fast_took:?} vs {slow_took:?}"
    );
    assert!(
        diff < Duration::from_millis(1500),
        "{fast_took:?} vs {slow_took:?}"
    );
}

#[test]
fn records_come_out_with_their_recorded_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    let base = 1_700_000_000_000 * MS;
    let bytes = [
        request(0, base + 100 * MS),
        request(1, base + 150 * MS),
        request(2, base + 250 * MS),
    ]
    .concat();
    write(&input, &bytes);
    let (r, took) = timed(&["--input-file", &arg(&input), "--output-stdout"]);
    assert_eq!(records(&r.stdout).len(), 3);
    assert!(took >= Duration::from_millis(150), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn max_wait_caps_long_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    // An hour between the two records.
    write(&input, &requests(2, 3_600_000));
    let (r, took) = timed(&[
        "--input-file",
        &arg(&input),
        "--input-file-max-wait",
        "100ms",
        "--output-stdout",
    ]);
    assert_eq!(records(&r.stdout).len(), 2);
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn loop_replays_the_file_again_and_again_at_its_pace() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    write(&input, &requests(2, 100));
    let out = dir.path().join("out.gor");
    let r = run(
        &[
            "--input-file",
            &arg(&input),
            "--input-file-loop",
            "--output-file",
            &arg(&out),
            "--output-file-append",
            "--exit-after",
            "1s",
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    // Each round takes ~100 ms (the second record waits, the first of the
    // next round comes at once): about 20 records in a second.
    let n = records(&std::fs::read(&out).unwrap()).len();
    assert!(n >= 6, "only {n} records: the file was not looped");
    assert!(n <= 40, "{n} records: the gaps were not kept");
}

#[test]
fn dry_run_prints_the_summary_and_emits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    let bytes = requests(3, 1000);
    write(&input, &bytes);
    let started = Instant::now();
    let (r, _) = timed(&[
        "--input-file",
        &format!("{}|200%", arg(&input)),
        "--input-file-dry-run",
        "--output-stdout",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a dry run does not sleep"
    );
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(records(&r.stdout).is_empty(), "{out}");
    for line in [
        "Records found: 3\n".to_string(),
        "Files processed: 1\n".to_string(),
        format!("Bytes processed: {}\n", bytes.len()),
        "Max wait: 500ms\n".to_string(),
        "Min wait: 500ms\n".to_string(),
        "First wait: 1s\n".to_string(),
        "`1s`".to_string(),
    ] {
        assert!(out.contains(&line), "{line:?} missing in:\n{out}");
    }
}

#[test]
fn missing_input_file_is_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/nothing-*.gor", arg(dir.path()));
    let r = run(&["--input-file", &pattern, "--output-stdout"], DEADLINE);
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("--input-file"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].contains(&pattern), "{}", r.stderr);
}

#[test]
fn garbage_between_records_is_skipped_counted_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    let mut bytes = Vec::new();
    for n in 0..4 {
        bytes.extend(request(n, n as i64 * MS));
        bytes.extend_from_slice(b"\x00\xffsome junk that is not a record\r\nmore junk\n");
    }
    bytes.extend(request(4, 4 * MS));
    write(&input, &bytes);
    let (r, _) = timed(&["--input-file", &arg(&input), "--output-stdout"]);
    let got = records(&r.stdout);
    assert_eq!(got.len(), 5, "{}", r.stderr);
    for (n, (header, payload)) in got.iter().enumerate() {
        assert_eq!(header, &format!("1 {n:024x} {} 0", n as i64 * MS));
        assert!(payload.starts_with(format!("GET /r/{n} ").as_bytes()));
    }
    let reports = r
        .stderr
        .lines()
        .filter(|l| l.contains("not a record"))
        .count();
    assert_eq!(reports, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("input_file.garbage_skipped=4"),
        "{}",
        r.stderr
    );
}

#[test]
fn file_cut_off_mid_record_yields_every_intact_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    let mut bytes = requests(3, 1);
    let cut = request(3, 3 * MS);
    bytes.extend_from_slice(&cut[..cut.len() / 2]);
    write(&input, &bytes);
    let (r, _) = timed(&["--input-file", &arg(&input), "--output-stdout"]);
    assert_eq!(records(&r.stdout).len(), 3);
    assert!(
        r.stderr.contains("input_file.truncated_tail=1"),
        "{}",
        r.stderr
    );
    let reports = r
        .stderr
        .lines()
        .filter(|l| l.contains("ends inside a record"))
        .count();
    assert_eq!(reports, 1, "{}", r.stderr);
}

#[test]
fn cut_off_gzip_file_yields_what_was_intact() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &requests(200, 1)).unwrap();
    let whole = gz.finish().unwrap();
    write(&input, &whole[..whole.len() * 3 / 4]);
    let (r, _) = timed(&["--input-file", &arg(&input), "--output-stdout"]);
    let n = records(&r.stdout).len();
    assert!(n > 0 && n < 200, "{n}");
    assert!(
        r.stderr.contains("input_file.read_errors=1"),
        "{}",
        r.stderr
    );
}
