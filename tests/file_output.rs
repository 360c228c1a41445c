//! `--output-file`: names, chunks, compression, append, limits, and an
//! unwritable path refused at start-up.

mod common;
#[path = "common/files.rs"]
mod files_common;

use common::{records, run};
use files_common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// Replays `input` at full speed into `--output-file template` plus `extra`.
fn record_to(input: &Path, template: &str, extra: &[&str]) -> common::Finished {
    let input = format!("{}|0%", arg(input));
    let mut args = vec!["--input-file", &input, "--output-file", template];
    args.extend_from_slice(extra);
    let r = run(&args, DEADLINE);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    r
}

/// A temporary directory holding the recording `in.gor` (`bytes`) and an
/// empty `out/`: (the directory, the recording, `out/`).
fn setup(bytes: &[u8]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    write(&input, bytes);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    (dir, input, out)
}

fn count(path: &Path) -> usize {
    records(&std::fs::read(path).unwrap()).len()
}

#[test]
fn queue_limit_starts_a_new_chunk_every_n_records() {
    let (_dir, input, out) = setup(&requests(5, 1));
    record_to(
        &input,
        &format!("{}/requests.gor", arg(&out)),
        &["--output-file-queue-limit", "2"],
    );
    assert_eq!(
        names(&out),
        ["requests_0.gor", "requests_1.gor", "requests_2.gor"]
    );
    assert_eq!(count(&out.join("requests_0.gor")), 2);
    assert_eq!(count(&out.join("requests_1.gor")), 2);
    assert_eq!(count(&out.join("requests_2.gor")), 1);
}

#[test]
fn size_limit_starts_a_new_chunk_once_reached() {
    let (_dir, input, out) = setup(&requests(3, 1));
    let two_records = request(0, 0).len() * 2;
    record_to(
        &input,
        &format!("{}/r.gor", arg(&out)),
        &[
            "--output-file-queue-limit",
            "0",
            "--output-file-size-limit",
            &two_records.to_string(),
        ],
    );
    assert_eq!(names(&out), ["r_0.gor", "r_1.gor"]);
    assert_eq!(count(&out.join("r_1.gor")), 1);
}

#[test]
fn restart_continues_after_the_last_chunk() {
    let (_dir, input, out) = setup(&requests(2, 1));
    for i in [0, 1, 5] {
        write(&out.join(format!("r_{i}.gor")), b"");
    }
    record_to(&input, &format!("{}/r.gor", arg(&out)), &[]);
    assert_eq!(names(&out), ["r_0.gor", "r_1.gor", "r_5.gor", "r_6.gor"]);
    assert_eq!(count(&out.join("r_6.gor")), 2);
}

/// Regression: `out.gor` took `outside.gor` for one of its earlier chunks
/// and wrote `outside_0.gor`.
#[test]
fn names_that_only_share_the_prefix_are_left_alone() {
    let (_dir, input, out) = setup(&requests(2, 1));
    write(&out.join("outside.gor"), b"not a chunk");
    record_to(&input, &format!("{}/out.gor", arg(&out)), &[]);
    assert_eq!(names(&out), ["out_0.gor", "outside.gor"]);
    assert_eq!(count(&out.join("out_0.gor")), 2);
    assert_eq!(
        std::fs::read(out.join("outside.gor")).unwrap(),
        b"not a chunk"
    );
}

#[test]
fn gzip_output_holds_every_record_and_is_smaller() {
    let bytes = requests(300, 1);
    let (_dir, input, out) = setup(&bytes);
    record_to(
        &input,
        &format!("{}/r.gor.gz", arg(&out)),
        &["--output-file-queue-limit", "0"],
    );
    assert_eq!(names(&out), ["r.gor_0.gz"]);
    let gz = std::fs::read(out.join("r.gor_0.gz")).unwrap();
    assert!(gz.len() < bytes.len() / 2, "{} bytes", gz.len());
    assert!(gunzip(&gz) == bytes);
}

#[test]
fn append_mode_appends_across_runs_without_an_index() {
    let bytes = requests(300, 1);
    let (_dir, input, out) = setup(&bytes);
    let template = format!("{}/all.gor", arg(&out));
    record_to(&input, &template, &["--output-file-append"]);
    record_to(&input, &template, &["--output-file-append"]);
    assert_eq!(names(&out), ["all.gor"]);
    assert!(std::fs::read(out.join("all.gor")).unwrap() == [&bytes[..], &bytes[..]].concat());
}

#[test]
fn date_and_type_tokens_name_the_file() {
    let mut bytes = request(1, MS);
    bytes.extend(record(
        &format!("2 {:024x} {} 0", 1, 2 * MS),
        b"HTTP/1.1 200 OK\r\n\r\n",
    ));
    let (_dir, input, out) = setup(&bytes);
    let year = chrono_year();
    record_to(
        &input,
        &format!("{}/log-%Y-%r-%t.gor", arg(&out)),
        &["--output-file-append"],
    );
    let id = format!("{:024x}", 1);
    assert_eq!(
        names(&out),
        [
            format!("log-{year}-{id}-1.gor"),
            format!("log-{year}-{id}-2.gor")
        ]
    );
}

/// The current year, as the test machine sees it (files are named in local
/// time; a test run across New Year's midnight is not a concern).
fn chrono_year() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn max_size_limit_stops_writing_and_counts_the_rest() {
    let (_dir, input, out) = setup(&requests(10, 1));
    let limit = request(0, 0).len() * 3;
    let r = record_to(
        &input,
        &format!("{}/r.gor", arg(&out)),
        &["--output-file-max-size-limit", &limit.to_string()],
    );
    assert_eq!(count(&out.join("r_0.gor")), 3);
    assert!(r.stderr.contains("max-size-limit"), "{}", r.stderr);
    assert!(
        r.stderr.contains("=7"),
        "the 7 refused records are counted: {}",
        r.stderr
    );
}

#[test]
fn unwritable_output_path_fails_at_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("r.gor");
    let started = Instant::now();
    let r = run(
        &["--input-dummy", "x", "--output-file", &arg(&missing)],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(3));
    let error: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("--output-file"))
        .collect();
    assert_eq!(error.len(), 1, "{}", r.stderr);
    assert!(error[0].contains("no-such-dir"), "{}", r.stderr);

    // A regular file where a directory should be.
    let file = dir.path().join("plain");
    write(&file, b"x");
    let r = run(
        &[
            "--input-dummy",
            "x",
            "--output-file",
            &format!("{}/r.gor", arg(&file)),
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains(&arg(&file)), "{}", r.stderr);
}

#[test]
fn periodic_flush_puts_records_on_disk_while_gor_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.gor");
    let gor = common::Running::start(&[
        "--input-dummy",
        "x",
        "--output-file",
        &arg(&out),
        "--output-file-append",
        "--output-file-flush-interval",
        "100ms",
    ]);
    // Dummy traffic comes once a second; the flusher must show it well
    // before any buffer fills or gor exits.
    common::wait_until(Duration::from_secs(5), "4 records on disk", || {
        std::fs::read(&out).map(|b| records(&b).len()).unwrap_or(0) >= 4
    });
    drop(gor);
}

#[test]
fn output_file_dev_stdout_writes_records_into_the_pipe() {
    // A pipe is not a regular file: written in sequence, not at offsets.
    let bytes = requests(300, 1);
    let (_dir, input, _) = setup(&bytes);
    let r = record_to(&input, "/dev/stdout", &["--output-file-append"]);
    assert!(r.stdout == bytes, "{}", r.stderr);
}
