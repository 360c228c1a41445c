//! Faults from outside, each with real processes: the disk filling up
//! under `--output-file`, gor killed with SIGKILL while writing plain and
//! gzip files, and a middleware that stops reading. What must hold: one
//! clear line, losses counted, no crash, and everything written (or
//! flushed) before the fault readable afterwards.

mod common;
#[path = "common/relay.rs"]
mod relay_common;

use common::{Finished, Running, SEP, counted, record, records};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// `n` request records, 1 ms apart, each with `pad` bytes of body.
fn recording(n: usize, pad: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let body = "x".repeat(pad);
            record(
                &format!(
                    "1 {i:024x} {} 0",
                    1_700_000_000_000_000_000i64 + i as i64 * 1_000_000
                ),
                format!(
                    "POST /r/{i} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
        })
        .collect()
}

/// The records of `bytes` as they were written: header line, payload and
/// separator, so they compare with [`recording`]'s.
fn written(bytes: &[u8]) -> Vec<Vec<u8>> {
    records(bytes)
        .into_iter()
        .map(|(h, p)| record(&h, &p))
        .collect()
}

/// Panics unless `got` is `want` or, when `prefix`, a prefix of it; says
/// where they part rather than printing megabytes of records.
fn assert_records(got: &[Vec<u8>], want: &[Vec<u8>], prefix: bool) {
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!(
            "record {i} differs: got {:?}",
            String::from_utf8_lossy(&got[i][..got[i].len().min(120)])
        );
    }
    assert!(
        got.len() <= want.len(),
        "{} records, {} sent",
        got.len(),
        want.len()
    );
    if !prefix {
        assert_eq!(got.len(), want.len(), "records missing");
    }
}

/// The bytes of every file in `dir`, in name order.
fn files_in(dir: &Path) -> Vec<u8> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a tmpfs needs root (CI runs the tests as root)"
        );
        SmallDisk { _dir: dir, mount }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Chunk files `out_N.gor` in index order.
fn chunks(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_name()?.to_str()?.to_string();
            let index = name.strip_prefix("out_")?.split('.').next()?.parse().ok()?;
            Some((index, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

#[test]
fn a_full_disk_is_one_line_counts_what_is_lost_and_keeps_what_was_written() {
    let disk = SmallDisk::new("1m");
    let input = tempfile::tempdir().unwrap();
    let sent = recording(20_000, 200);
    let path = input.path().join("in.gor");
    std::fs::write(&path, sent.concat()).unwrap();
    let out = disk.mount.join("out.gor");
    let done = Running::start(&[
        "--input-file",
        path.to_str().unwrap(),
        "--output-file",
        out.to_str().unwrap(),
    ])
    .wait(T);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let full: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("No space left on device"))
        .collect();
    assert_eq!(
        full.len(),
        1,
        "one line about the full disk:\n{}",
        done.stderr
    );
    assert!(full[0].contains("--output-file"), "{}", full[0]);
    let lost = counted(&done.stderr, "output_file.write_errors") as usize;
    assert!(lost > 0, "{}", done.stderr);
    // Every chunk holds whole records in order; only the very last may end
    // inside one. Chunks created once the disk was full were removed.
    let files = chunks(&disk.mount);
    let mut readable = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(!bytes.is_empty(), "{} is empty", f.display());
        readable.extend(written(&bytes));
    }
    assert_eq!(
        readable[..],
        sent[..readable.len()],
        "records out of order or damaged"
    );
    assert!(
        readable.len() + lost >= sent.len() && readable.len() + lost <= sent.len() + 256,
        "{} readable + {lost} counted as lost, of {}",
        readable.len(),
        sent.len()
    );
}

/// Sends `records` to a gor `--input-tcp` writing to `file` in `dir`,
/// waits a few flush intervals, kills gor with SIGKILL and returns the
/// bytes of what it wrote.
fn killed_while_writing(dir: &Path, file: &str, records: &[Vec<u8>]) -> (Vec<u8>, Finished) {
    let (gor, port) = relay_common::receiver(
        "127.0.0.1:0",
        &dir.join(file),
        &["--output-file-flush-interval", "100ms"],
    );
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(&records.concat()).unwrap();
    conn.flush().unwrap();
    // The flush policy: what gor accepted is in the file within one flush
    // interval. Five intervals leave room for a loaded machine.
    std::thread::sleep(Duration::from_millis(500));
    gor.signal(libc::SIGKILL);
    let done = gor.wait(T);
    drop(conn);
    (files_in(dir), done)
}

#[test]
fn sigkill_loses_nothing_flushed_to_a_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let sent = recording(3_000, 500);
    let (bytes, done) = killed_while_writing(dir.path(), "killed.gor", &sent);
    assert_eq!(done.code(), None, "killed by a signal");
    assert_records(&written(&bytes), &sent, false);
}

#[test]
fn sigkill_loses_nothing_flushed_to_a_gzip_file() {
    let dir = tempfile::tempdir().unwrap();
    let sent = recording(3_000, 500);
    let (bytes, done) = killed_while_writing(dir.path(), "killed.gor.gz", &sent);
    assert_eq!(done.code(), None, "killed by a signal");
    // The gzip stream has no trailer (gor never finished it), so read what
    // decodes: a flush writes a complete deflate block.
    let mut plain = Vec::new();
    let mut gz = flate2::read::MultiGzDecoder::new(&bytes[..]);
    let mut buf = [0u8; 1 << 16];
    loop {
        match gz.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => plain.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(
        written(&plain),
        sent,
        "every flushed record, whole and in order"
    );
    assert!(plain.ends_with(SEP));
}

#[test]
fn a_middleware_that_stops_reading_costs_bounded_memory_and_sigterm_still_ends_gor() {
    // The program never reads its stdin: its pipe fills, then gor's queue.
    // `--input-http` is a live input: what cannot be passed on is dropped
    // and counted, and the clients are still answered.
    let gor = Running::start(&[
        "--input-http",
        "127.0.0.1:0",
        "--middleware",
        "sleep 600",
        "--output-null",
    ]);
    let port = gor.port_after("--input-http listening on ", T);
    let body = "x".repeat(8 << 10);
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let batch = request.repeat(100);
    let answers = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (batch, answers) = (batch.clone(), answers.clone());
        clients.push(std::thread::spawn(move || {
            let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = vec![0u8; 1 << 16];
            // 50 rounds of 100 requests: 40 MB per client.
            for _ in 0..50 {
                conn.write_all(batch.as_bytes()).unwrap();
                let mut seen = 0;
                while seen < 100 {
                    let n = conn.read(&mut buf).expect("gor stopped answering");
                    assert!(n > 0, "gor closed the connection");
                    seen += buf[..n]
                        .windows(12)
                        .filter(|w| w == b"HTTP/1.1 200")
                        .count();
                }
                answers.fetch_add(seen, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for c in clients {
        c.join().unwrap();
    }
    let peak = common::peak_rss_kb(gor.pid()).expect("gor's peak RSS");
    assert_eq!(
        answers.load(std::sync::atomic::Ordering::Relaxed),
        4 * 50 * 100
    );
    assert!(peak < 200 << 10, "peak RSS {peak} kB for 160 MB offered");
    let stopping = Instant::now();
    gor.signal(libc::SIGTERM);
    let done = gor.wait(T);
    let took = stopping.elapsed();
    assert!(took < Duration::from_millis(1_500), "SIGTERM took {took:?}");
    assert!(
        counted(&done.stderr, "middleware.queue_full") > 0,
        "{}",
        done.stderr
    );
}
