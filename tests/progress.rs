//! The progress line of an `--input-file` replay: drawn on stderr in a
//! pseudo-terminal (`script` gives gor one), absent when stderr is a pipe.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

const RECORDS: usize = 120;

/// A recording of `RECORDS` requests 10 ms apart: a replay of about 1.2 s.
fn recording(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("long.gor");
    let bytes: Vec<u8> = (0..RECORDS)
        .flat_map(|i| {
            common::record(
                &format!("1 {i:024x} {} 0", 1_000_000_000 + i as i64 * 10_000_000),
                format!("GET /p/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            )
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Replays `RECORDS` requests into `output` with gor's stdout and stderr on
/// a pseudo-terminal (`script`); what the terminal showed.
fn on_a_terminal(output: &str) -> String {
    common::need_tool("script", "bsdutils");
    let dir = tempfile::tempdir().unwrap();
    let file = recording(dir.path());
    let command = format!(
        "{} --input-file {} {output}",
        shell_quote(common::GOR),
        shell_quote(file.to_str().unwrap())
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen}");
    screen
}

#[test]
fn a_replay_on_a_terminal_shows_done_total_rate_and_eta() {
    let screen = on_a_terminal("--output-null");
    // The last drawing: every record of the total, the rate and the ETA.
    assert!(
        screen.contains(&format!("{RECORDS}/{RECORDS} records (100%)")),
        "{screen}"
    );
    assert!(screen.contains("ETA"), "{screen}");
    assert!(screen.contains("/s"), "a rate:\n{screen}");
    // Redrawn in place: earlier states were drawn and erased on one line.
    let drawings = screen.matches(&format!("/{RECORDS} records")).count();
    assert!(drawings >= 2, "{drawings} drawings:\n{screen}");
    assert!(
        screen.contains('\r') || screen.contains("\x1b["),
        "{screen:?}"
    );
}

#[test]
fn records_printed_to_the_terminal_are_not_torn_by_a_progress_line() {
    let screen = on_a_terminal("--output-stdout");
    assert!(
        screen.contains(&format!("GET /p/{} ", RECORDS - 1)),
        "{screen}"
    );
    assert!(!screen.contains("records ("), "{screen}");
}

#[test]
fn a_replay_with_stderr_in_a_pipe_prints_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording(dir.path());
    let run = common::run(
        &["--input-file", file.to_str().unwrap(), "--output-null"],
        Duration::from_secs(20),
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("records"), "{}", run.stderr);
    assert!(!run.stderr.contains("ETA"), "{}", run.stderr);
    assert!(!run.stderr.contains('\r'), "{:?}", run.stderr);
}

#[test]
fn a_dry_run_prints_goreplays_summary_and_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    let file = recording(dir.path());
    let run = common::run(
        &[
            "--input-file",
            file.to_str().unwrap(),
            "--input-file-dry-run",
            "--output-null",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("Records found: {RECORDS}"), "{stdout}");
    assert_eq!(lines[1], "Files processed: 1", "{stdout}");
    assert!(lines[2].starts_with("Bytes processed: "), "{stdout}");
    assert_eq!(lines[3], "Max wait: 10ms", "{stdout}");
    assert_eq!(lines[4], "Min wait: 10ms", "{stdout}");
    assert_eq!(lines[5], "First wait: 10ms", "{stdout}");
    assert!(lines[6].contains("`1.19s`"), "{stdout}");
    assert!(
        lines[7].contains(" 0 records with out of order timestamp"),
        "{stdout}"
    );
    assert!(!run.stderr.contains("ETA"), "{}", run.stderr);
}
