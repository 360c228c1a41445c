//! Hostile replay responses through the body framing: random bytes and
//! random mutations of valid bodies never panic, and however the bytes
//! arrive (one read or many), the decoder reaches the same verdict at the
//! same byte. Seeded, so a failure is reproducible.

use super::{BodyDecoder, BodyKind, ChunkStatus, ChunkWalker, FramingHeaders};
use crate::tcp::robustness_tests::Rng;

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The body ended after this many bytes.
    Done(usize),
    /// Every byte was body and more is wanted.
    NeedMore,
    /// Not a valid body.
    Invalid,
}

fn decode_in_pieces(kind: BodyKind, data: &[u8], cuts: &[usize]) -> Verdict {
    let mut d = BodyDecoder::new(kind);
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.clamp(at, data.len());
        match d.feed(&data[at..cut]) {
            Err(_) => return Verdict::Invalid,
            Ok(used) => {
                assert!(used <= cut - at, "used more than it was given");
                if d.is_done() {
                    return Verdict::Done(at + used);
                }
                assert_eq!(used, cut - at, "an unfinished body left bytes unused");
            }
        }
        at = cut;
    }
    if d.is_done() {
        Verdict::Done(at)
    } else {
        Verdict::NeedMore
    }
}

const BODIES: &[&[u8]] = &[
    b"4\r\nWiki\r\n5;ext=\"x\"\r\npedia\r\n0\r\nTrailer: 1\r\n\r\nNEXT",
    b"a\r\n0123456789\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"hello world, a body of some length",
];

#[test]
fn response_bodies_frame_the_same_however_they_arrive() {
    let mut rng = Rng::new(31);
    for round in 0..20_000 {
        let mut data = if rng.chance(70) {
            BODIES[rng.below(BODIES.len())].to_vec()
        } else {
            rng.bytes(200)
        };
        for _ in 0..rng.below(4) {
            if data.is_empty() {
                break;
            }
            let at = rng.below(data.len());
            match rng.below(3) {
                0 => data[at] = rng.next() as u8,
                1 => data[at] = b"0123456789abcdefABCDEF;\r\n "[rng.below(26)],
                _ => {
                    data.remove(at);
                }
            }
        }
        let kind = match rng.below(5) {
            0 => BodyKind::Length(rng.below(300) as u64),
            1 => BodyKind::Length(u64::MAX - rng.below(3) as u64),
            2 => BodyKind::UntilClose,
            3 => BodyKind::Empty,
            _ => BodyKind::Chunked,
        };
        let whole = decode_in_pieces(kind, &data, &[]);
        let mut cuts: Vec<usize> = (0..rng.below(8))
            .map(|_| rng.below(data.len() + 1))
            .collect();
        cuts.sort_unstable();
        let pieces = decode_in_pieces(kind, &data, &cuts);
        assert_eq!(
            pieces, whole,
            "round {round}: {kind:?} {data:?} cut at {cuts:?}"
        );
        let bytewise: Vec<usize> = (0..data.len()).collect();
        assert_eq!(
            decode_in_pieces(kind, &data, &bytewise),
            whole,
            "round {round}: {kind:?} {data:?} byte by byte"
        );
    }
}

fn length(v: &[u8]) -> FramingHeaders {
    let mut f = FramingHeaders::new();
    f.add(b"Content-Length", v);
    f
}

/// The walk capture does: the whole message so far each time, from where
/// the last call stopped.
fn walk_growing(data: &[u8], cuts: &[usize]) -> Verdict {
    let mut w = ChunkWalker::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.clamp(at, data.len());
        let (used, status) = w.walk(&data[at..cut], |_| {});
        at += used;
        match status {
            ChunkStatus::Done => return Verdict::Done(at),
            ChunkStatus::Invalid(_) => return Verdict::Invalid,
            ChunkStatus::NeedMore => {}
        }
    }
    Verdict::NeedMore
}

#[test]
fn capture_walk_and_socket_decoder_agree_on_every_chunked_body() {
    let mut rng = Rng::new(77);
    for round in 0..20_000 {
        let mut data = BODIES[rng.below(BODIES.len())].to_vec();
        for _ in 0..rng.below(4) {
            let at = rng.below(data.len());
            data[at] = b"0123456789abcdefABCDEF;\r\n "[rng.below(26)];
        }
        let mut cuts: Vec<usize> = (0..rng.below(8))
            .map(|_| rng.below(data.len() + 1))
            .collect();
        cuts.sort_unstable();
        assert_eq!(
            walk_growing(&data, &cuts),
            decode_in_pieces(BodyKind::Chunked, &data, &cuts),
            "round {round}: {data:?} cut at {cuts:?}"
        );
    }
}

#[test]
fn response_heads_with_odd_lengths_are_refused_not_trusted() {
    // lengths that do not fit, or are not numbers, are errors; a huge one
    // that fits is only a count (the decoder keeps no body bytes)
    for v in [
        &b"99999999999999999999"[..],
        b"-1",
        b"1e3",
        b"",
        b"0x10",
        b" ",
    ] {
        assert!(length(v).response_body(false, false, 200).is_err(), "{v:?}");
        assert!(length(v).request_body().is_err(), "{v:?}");
    }
    let kind = length(b"999999999999999999")
        .response_body(false, false, 200)
        .unwrap();
    let mut d = BodyDecoder::new(kind);
    assert_eq!(d.feed(&[b'x'; 4096]), Ok(4096));
    assert!(!d.is_done());
    assert!(d.finish_at_close().is_err());
}
