//! How fast the `--output-diff` comparing thread alone is: reads a
//! recording into memory (bench/gen_diff.py writes one), then hands every
//! message to the comparison on this thread and prints pairs per CPU
//! second. Not part of `make bench`; for profiling the comparison without
//! the file input's noise.
//!
//!     cargo run --release --example diff_speed -- recording.gor
use gor::message::Message;
use gor::output::diff::{DiffConfig, Differ};
use gor::records::{Damage, Splitter};
use std::time::{Duration, Instant};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: diff_speed RECORDING");
    let data = bytes::Bytes::from(std::fs::read(&path).expect("read the recording"));
    // Cut the way `--input-file` cuts a file: the records are slices of it.
    let mut records = std::collections::VecDeque::new();
    let mut splitter = Splitter::new("diff_speed", Damage::counters(), usize::MAX);
    splitter.push(&data, &mut records);
    splitter.finish(&mut records);
    let messages: Vec<Message> = records.into_iter().map(|r| r.message).collect();
    let dir = tempfile::tempdir().unwrap();
    let config = DiffConfig {
        dir: dir.path().to_path_buf(),
        targets: 0,
        ignore_headers: vec![],
        ignore: vec![],
        timeout: Duration::from_secs(60),
        samples: 5,
        fail: false,
    };
    let mut differ = Differ::new(&config).unwrap();
    // Several rounds over the same messages, so that reading the file is a
    // small part of a profile.
    let rounds = 5;
    let pairs = rounds * messages.len() / 3;
    let started = Instant::now();
    let now = Instant::now();
    for _ in 0..rounds {
        for m in &messages {
            differ.handle(m.clone(), now);
        }
    }
    let took = started.elapsed();
    let finishing = Instant::now();
    eprintln!("{}", differ.finish());
    println!(
        "{pairs} pairs in {took:.2?}: {:.0} pairs/s on one thread; the last files written in {:.2?}",
        pairs as f64 / took.as_secs_f64(),
        finishing.elapsed()
    );
}
