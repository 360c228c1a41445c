//! Hostile `.gor` files through the record splitter: random bytes and
//! random mutations of a valid file never panic, and however the file is
//! cut into reads, the same records come out (with and without a record
//! size cap). Seeded, so a failure is reproducible.

use super::*;
use crate::message::SEPARATOR;
use crate::tcp::robustness_tests::Rng;

fn parse(data: &[u8], step: usize, max_record: usize) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    let damage = Damage::counters();
    let mut reader = ChunkReader::with_chunk_len(data, "fuzz", damage.clone(), step);
    let mut splitter = Splitter::new("fuzz", damage, max_record);
    let mut out = VecDeque::new();
    while let Some(chunk) = reader.next_chunk() {
        splitter.push(&chunk, &mut out);
    }
    splitter.finish(&mut out);
    out.into_iter()
        .map(|r| {
            (
                r.message.meta.to_vec(),
                r.message.data.to_vec(),
                r.timestamp,
            )
        })
        .collect()
}

/// A valid file of a few records, some with payloads that look like
/// separators or headers.
fn valid_file(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\xF0\x9F\x90\xB5\xF0\x9F\x99\x88\xF0\x9F\x99\x89",
        b"\n",
        b"1 abc 12 0\n",
        b"x",
        b"\r\n",
    ];
    let mut out = Vec::new();
    for i in 0..1 + rng.below(6) {
        let kind = [b'1', b'2', b'3'][rng.below(3)];
        let ts = rng.next() as i64;
        out.extend_from_slice(
            format!("{} id{i} {ts} {}\n", kind as char, rng.below(999)).as_bytes(),
        );
        for _ in 0..1 + rng.below(8) {
            out.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        out.extend_from_slice(SEPARATOR);
    }
    out
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..rng.below(5) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] = rng.next() as u8;
            }
            1 => {
                let keep = rng.below(data.len() + 1);
                data.truncate(keep);
            }
            2 if !data.is_empty() => {
                let at = rng.below(data.len());
                let len = rng.below(20).min(data.len() - at);
                data.drain(at..at + len);
            }
            3 => {
                let at = rng.below(data.len() + 1);
                data.splice(at..at, SEPARATOR.iter().copied());
            }
            _ => {
                let at = rng.below(data.len() + 1);
                let extra = rng.bytes(16);
                data.splice(at..at, extra);
            }
        }
    }
}

#[test]
fn damaged_files_split_the_same_way_whatever_the_read_size() {
    let mut rng = Rng::new(21);
    for round in 0..3000 {
        let valid = rng.chance(85);
        let mut data = if valid {
            valid_file(&mut rng)
        } else {
            rng.bytes(400)
        };
        let damaged = rng.chance(80);
        if damaged {
            mutate(&mut rng, &mut data);
        }
        let whole = parse(&data, data.len().max(1), usize::MAX);
        for step in [1, 2, 3, 7, 13, 14, 15, 64] {
            assert_eq!(
                parse(&data, step, usize::MAX),
                whole,
                "round {round}, step {step}"
            );
        }
        // A cap never panics; on an intact file (headers well within the
        // cap) it keeps the start of every record.
        let cap = 1 + rng.below(128);
        let capped = parse(&data, 1 + rng.below(40), cap);
        if valid && !damaged && cap >= 64 {
            assert_eq!(capped.len(), whole.len(), "round {round}, cap {cap}");
            for (c, w) in capped.iter().zip(&whole) {
                assert_eq!(c.0, w.0, "round {round}, cap {cap}");
                assert!(
                    w.1.starts_with(&c.1),
                    "round {round}, cap {cap}: {:?} vs {:?}",
                    String::from_utf8_lossy(&c.1),
                    String::from_utf8_lossy(&w.1)
                );
            }
        }
    }
}

#[test]
fn record_just_under_the_cap_gets_no_separator_bytes() {
    // 20 bytes of record; with a cap of 21 to 33 the carried bytes pass the
    // cap inside the separator, which must not end up in the record.
    let record: &[u8] = b"1 a 5\nGET / HTTP/1.1";
    let mut data = record.to_vec();
    data.extend_from_slice(SEPARATOR);
    data.extend_from_slice(b"1 b 6\nnext");
    data.extend_from_slice(SEPARATOR);
    for cap in record.len()..record.len() + SEPARATOR.len() + 2 {
        for step in [1, 5, 16] {
            let out = parse(&data, step, cap);
            assert_eq!(out.len(), 2, "cap {cap} step {step}");
            assert_eq!(
                String::from_utf8_lossy(&out[0].1),
                "GET / HTTP/1.1",
                "cap {cap} step {step}"
            );
            assert_eq!(&out[1].1[..], b"next", "cap {cap} step {step}");
        }
    }
    // the same at the end of a file whose last separator lost its `\n`
    let last = &data[..data.len() - 1];
    for cap in 16..16 + SEPARATOR.len() + 2 {
        let out = parse(last, 3, cap);
        assert_eq!(out.len(), 2, "cap {cap}");
        assert_eq!(&out[1].1[..], b"next", "cap {cap}");
    }
}
