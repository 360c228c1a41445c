//! Recording to files and replaying them: what gor writes, gor reads back
//! record for record, and files in GoReplay's exact format are read as they are.

mod common;
#[path = "common/files.rs"]
mod files_common;

use common::{records, run};
use files_common::*;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn dummy_traffic_recorded_by_gor_reads_back_record_by_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.gor");
    let rec = run(
        &[
            "--input-dummy",
            "x",
            "--output-file",
            &arg(&out),
            "--output-file-append",
            "--exit-after",
            "2200ms",
        ],
        DEADLINE,
    );
    assert_eq!(rec.code(), Some(0), "{}", rec.stderr);
    let written = std::fs::read(&out).unwrap();
    let recorded = records(&written);
    assert!(recorded.len() >= 2, "{} records", recorded.len());
    assert!(recorded[0].0.starts_with("1 ") && recorded[1].0.starts_with("2 "));

    let replay = run(
        &[
            "--input-file",
            &format!("{}|0%", arg(&out)),
            "--output-stdout",
        ],
        DEADLINE,
    );
    assert_eq!(replay.code(), Some(0), "{}", replay.stderr);
    assert_eq!(records(&replay.stdout), recorded);
    assert_eq!(replay.stdout, written);
}

#[test]
fn get_post_and_big_bodies_pass_through_file_output_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    let big: Vec<u8> = (0..100_000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut post = b"POST /upload HTTP/1.1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    post.extend_from_slice(&big);
    let mut bytes = record(
        "1 0123456789abcdef01234567 1000 0",
        b"GET / HTTP/1.1\r\n\r\n",
    );
    bytes.extend(record("1 0123456789abcdef01234568 2000 0", &post));
    bytes.extend(record(
        "2 0123456789abcdef01234568 3000 5",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ));
    write(&input, &bytes);
    let out = dir.path().join("out.gor");
    let r = run(
        &[
            "--input-file",
            &format!("{}|0%", arg(&input)),
            "--output-file",
            &arg(&out),
            "--output-file-append",
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

#[test]
fn goreplay_file_with_40_hex_ids_and_three_field_headers_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("goreplay.gor");
    let id40 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
    let mut bytes = record(
        &format!("1 {id40} 1500000000000000000"),
        b"GET /old HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    bytes.extend(record(
        &format!("2 {id40} 1500000000000000001"),
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ));
    write(&input, &bytes);
    let r = run(&["--input-file", &arg(&input), "--output-stdout"], DEADLINE);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    let got = records(&r.stdout);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, format!("1 {id40} 1500000000000000000"));
    assert_eq!(got[0].1, b"GET /old HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(got[1].0, format!("2 {id40} 1500000000000000001"));
}

#[test]
fn two_globbed_files_replay_in_global_timestamp_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("x_0.gor"),
        &[request(1, MS), request(3, 3 * MS)].concat(),
    );
    write(
        &dir.path().join("x_1.gor"),
        &[request(2, 2 * MS), request(4, 4 * MS)].concat(),
    );
    let r = run(
        &[
            "--input-file",
            &format!("{}/x_*.gor", arg(dir.path())),
            "--output-stdout",
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    let ts: Vec<String> = records(&r.stdout)
        .into_iter()
        .map(|(h, _)| h.split(' ').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(ts, ["1000000", "2000000", "3000000", "4000000"]);
}

#[test]
fn gzipped_chunks_written_by_gor_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.gor");
    write(&input, &requests(1500, 1));
    let out = dir.path().join("rec.gz");
    let r = run(
        &[
            "--input-file",
            &format!("{}|0%", arg(&input)),
            "--output-file",
            &arg(&out),
            "--output-file-queue-limit",
            "1000",
        ],
        DEADLINE,
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert_eq!(names(dir.path()), ["in.gor", "rec_0.gz", "rec_1.gz"]);
    let back = run(
        &[
            "--input-file",
            &format!("{}/rec_*.gz|0%", arg(dir.path())),
            "--output-stdout",
        ],
        DEADLINE,
    );
    assert_eq!(back.code(), Some(0), "{}", back.stderr);
    assert_eq!(records(&back.stdout).len(), 1500);
    assert!(records(&back.stdout) == records(&std::fs::read(&input).unwrap()));
}
