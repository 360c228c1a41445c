//! Hostile input through the reassembler: random segments of a valid
//! exchange (reordered, repeated, cut short, lost, bit-flipped) and random
//! bytes must never panic or hang, and reordering plus repetition alone
//! must not change what comes out. Seeded, so a failure is reproducible.

use super::tests::{Seg, endpoints};
use super::*;
use crate::http::framing::{ChunkStatus, ChunkWalker};
use crate::message::Message;
use crate::tcp::framing::HeadScan;
use std::net::{IpAddr, Ipv4Addr};

/// xorshift64*: deterministic, dependency-free.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    /// Up to `max` random bytes.
    pub(crate) fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// A data segment (ACK set, no other flag) between `CLIENT:port` and
/// `SERVER:80`, in the direction `from_client` says.
fn data(from_client: bool, port: u16, seq: u32, payload: &[u8]) -> Segment<'_> {
    let (src, dst, src_port, dst_port) = endpoints(from_client, CLIENT, SERVER, port);
    Segment {
        src,
        dst,
        src_port,
        dst_port,
        seq,
        ack: 1,
        syn: false,
        ack_flag: true,
        fin: false,
        rst: false,
        payload,
        ts_ns: 1,
    }
}

const REQUESTS: &[&[u8]] = &[
    b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
    b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;e=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n",
];
const RESPONSES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
];

/// A whole conversation: handshake, request/response turns in random
/// segment sizes, FINs.
fn exchange(rng: &mut Rng, turns: usize) -> Vec<Seg> {
    let mut cseq = rng.next() as u32;
    let mut sseq = rng.next() as u32;
    let mut ts = 1_000_000_000i64;
    let mut tick = || {
        ts += 100_000;
        ts
    };
    let mut segs = vec![
        Seg {
            from_client: true,
            seq: cseq.wrapping_sub(1),
            ack: 0,
            syn: true,
            fin: false,
            rst: false,
            payload: vec![],
            ts: tick(),
        },
        Seg {
            from_client: false,
            seq: sseq.wrapping_sub(1),
            ack: cseq,
            syn: true,
            fin: false,
            rst: false,
            payload: vec![],
            ts: tick(),
        },
    ];
    for _ in 0..turns {
        let i = rng.below(REQUESTS.len());
        for (from_client, bytes) in [(true, REQUESTS[i]), (false, RESPONSES[i])] {
            let mut rest = bytes;
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(40));
                let (seq, ack) = if from_client {
                    (cseq, sseq)
                } else {
                    (sseq, cseq)
                };
                segs.push(Seg {
                    from_client,
                    seq,
                    ack,
                    syn: false,
                    fin: false,
                    rst: false,
                    payload: rest[..n].to_vec(),
                    ts: tick(),
                });
                if from_client {
                    cseq = cseq.wrapping_add(n as u32);
                } else {
                    sseq = sseq.wrapping_add(n as u32);
                }
                rest = &rest[n..];
            }
        }
    }
    for (from_client, seq, ack) in [(true, cseq, sseq), (false, sseq, cseq)] {
        segs.push(Seg {
            from_client,
            seq,
            ack,
            syn: false,
            fin: true,
            rst: false,
            payload: vec![],
            ts: tick(),
        });
    }
    segs
}

fn run(config: Config, segs: &[Seg], expire_every: usize) -> Vec<Message> {
    let mut r = Reassembler::new(config);
    let mut out = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let seg = s.segment(CLIENT, SERVER, 40_000);
        r.push(&seg, &mut |m| out.push(m));
        if expire_every > 0 && i % expire_every == 0 {
            r.expire(s.ts, &mut |m| out.push(m));
        }
    }
    r.finish(&mut |m| out.push(m));
    out
}

fn config(ports: Vec<u16>, protocol: Protocol, allow_incomplete: bool) -> Config {
    Config {
        ports,
        track_response: true,
        protocol,
        allow_incomplete,
        realip_header: Some(b"X-Real-IP".to_vec()),
        ..Config::default()
    }
}

/// Moves segments a few places away from where they were.
fn shuffle_locally(rng: &mut Rng, segs: &mut [Seg], reach: usize) {
    for i in 0..segs.len() {
        let j = (i + rng.below(reach + 1)).min(segs.len() - 1);
        segs.swap(i, j);
    }
}

/// Requests in order, then responses in order: the two directions are
/// independent streams, so only the order within each is fixed. A response
/// that overtakes its request is named from its own sequence number, so
/// only request ids are compared.
fn summary(msgs: &[Message]) -> Vec<(u8, String, String)> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut all: Vec<_> = msgs
        .iter()
        .map(|m| {
            let id = if m.is_request() {
                text(m.id())
            } else {
                String::new()
            };
            (m.meta[0], id, text(&m.data))
        })
        .collect();
    all.sort_by_key(|m| m.0);
    all
}

#[test]
fn reordered_and_repeated_segments_give_the_same_messages() {
    let mut rng = Rng::new(1);
    for round in 0..400 {
        let turns = 1 + rng.below(4);
        let segs = exchange(&mut rng, turns);
        let want = summary(&run(config(vec![80], Protocol::Http, false), &segs, 0));
        assert!(!want.is_empty(), "round {round}");
        // The SYNs stay first: before them nothing says where a stream starts.
        // Reordered within each message: a response seen before its request
        // is complete cannot know it answers a HEAD (a known limit).
        let mut messy = segs.clone();
        let mut start = 2;
        while start < messy.len() {
            let dir = messy[start].from_client;
            let end = (start..messy.len())
                .find(|&i| messy[i].from_client != dir || messy[i].fin)
                .unwrap_or(messy.len());
            shuffle_locally(&mut rng, &mut messy[start..end], 6);
            start = end.max(start + 1);
        }
        for _ in 0..rng.below(8) {
            let i = rng.below(messy.len());
            let copy = messy[i].clone();
            let at = (i + rng.below(10)).min(messy.len());
            messy.insert(at, copy);
        }
        // Every retransmission carries an ordered timestamp.
        for (i, s) in messy.iter_mut().enumerate() {
            s.ts = 1_000_000_000 + i as i64 * 100_000;
        }
        // FINs last: a FIN before the bytes it follows closes nothing early,
        // but the test compares what is emitted, not when.
        messy.sort_by_key(|s| s.fin);
        let got = summary(&run(config(vec![80], Protocol::Http, false), &messy, 0));
        assert_eq!(got, want, "round {round}");
    }
}

#[test]
fn damaged_exchanges_never_panic() {
    let mut rng = Rng::new(2);
    for round in 0..3000 {
        let turns = 1 + rng.below(5);
        let mut segs = exchange(&mut rng, turns);
        let n = segs.len();
        let reach = rng.below(12);
        shuffle_locally(&mut rng, &mut segs[..n], reach);
        let mut i = 0;
        while i < segs.len() {
            match rng.below(40) {
                0 => {
                    segs.remove(i);
                    continue;
                }
                1 => {
                    let copy = segs[i].clone();
                    segs.insert(i, copy);
                }
                2 => {
                    let keep = rng.below(segs[i].payload.len() + 1);
                    segs[i].payload.truncate(keep);
                }
                3 if !segs[i].payload.is_empty() => {
                    let at = rng.below(segs[i].payload.len());
                    segs[i].payload[at] ^= 1 << rng.below(8);
                }
                4 => segs[i].seq = segs[i].seq.wrapping_add(rng.next() as u32 % 64),
                5 => segs[i].seq = rng.next() as u32,
                6 => segs[i].ack = rng.next() as u32,
                7 => segs[i].syn = !segs[i].syn,
                8 => segs[i].fin = !segs[i].fin,
                9 => segs[i].rst = !segs[i].rst,
                10 => segs[i].ts = rng.next() as i64,
                11 => segs[i].from_client = !segs[i].from_client,
                12 => {
                    let extra = rng.bytes(64);
                    segs[i].payload.extend_from_slice(&extra);
                }
                _ => {}
            }
            i += 1;
        }
        let ports = if rng.chance(50) { vec![80] } else { vec![] };
        let protocol = if rng.chance(80) {
            Protocol::Http
        } else {
            Protocol::Binary
        };
        let cfg = config(ports, protocol, rng.chance(50));
        let out = run(cfg, &segs, 1 + rng.below(20));
        for m in &out {
            assert!(m.is_well_formed(), "round {round}: {m:?}");
        }
    }
}

#[test]
fn random_bytes_on_a_connection_never_panic() {
    let mut rng = Rng::new(3);
    for round in 0..2000 {
        let mut segs = Vec::new();
        let mut seqs = [rng.next() as u32, rng.next() as u32];
        for k in 0..1 + rng.below(12) {
            let from_client = rng.chance(60);
            let side = usize::from(!from_client);
            let mut payload = rng.bytes(200);
            if rng.chance(30) {
                // a plausible start, so the HTTP paths run too
                let start: &[u8] = if from_client {
                    b"GET / HTTP/1.1\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\n"
                };
                payload.splice(0..0, start.iter().copied());
            }
            segs.push(Seg {
                from_client,
                seq: seqs[side],
                ack: seqs[1 - side],
                syn: k == 0 && rng.chance(50),
                fin: rng.chance(5),
                rst: rng.chance(2),
                ts: 1_000_000_000 + k as i64 * 50_000_000,
                payload,
            });
            seqs[side] = seqs[side].wrapping_add(rng.below(300) as u32);
        }
        let ports = if rng.chance(50) { vec![80] } else { vec![] };
        let cfg = config(ports, Protocol::Http, rng.chance(50));
        let out = run(cfg, &segs, 1 + rng.below(4));
        assert!(out.iter().all(Message::is_well_formed), "round {round}");
    }
}

#[test]
fn framing_walks_random_bytes_without_panicking() {
    let mut rng = Rng::new(4);
    for _ in 0..5000 {
        let mut data = if rng.chance(50) {
            let i = rng.below(RESPONSES.len());
            let mut d = RESPONSES[i].to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(d.len());
                d[at] = rng.next() as u8;
            }
            d
        } else {
            rng.bytes(300)
        };
        if rng.chance(30) {
            data.splice(0..0, b"3\r\nabc\r\n".iter().copied());
        }
        let expect_request = rng.chance(50);
        let _ = framing::start_line_ok(&data, expect_request);
        let _ = framing::maybe_start(&data, expect_request);
        let mut scanned = 0;
        for end in 0..=data.len() {
            match framing::scan_head(&data[..end], scanned, expect_request) {
                HeadScan::NeedMore { scanned: s } => scanned = s,
                _ => break,
            }
        }
        let mut walk = ChunkWalker::new();
        let mut at = 0;
        for end in (0..=data.len()).step_by(1 + rng.below(7)) {
            let (used, status) = walk.walk(&data[at..end], |_| {});
            at += used;
            if status != ChunkStatus::NeedMore {
                break;
            }
        }
    }
}

#[test]
fn gap_clock_does_not_overflow_on_extreme_capture_times() {
    // The first request's segment never arrives; the second waits behind
    // the gap since the dawn of time and is let go of at the end of it.
    let first: &[u8] = b"GET /a HTTP/1.1\r\n\r\n";
    let second: &[u8] = b"GET /b HTTP/1.1\r\n\r\n";
    let syn = Seg {
        from_client: true,
        seq: 99,
        ack: 0,
        syn: true,
        fin: false,
        rst: false,
        payload: vec![],
        ts: i64::MIN + 1,
    };
    let after_gap = Seg {
        seq: 100 + first.len() as u32,
        ack: 7,
        syn: false,
        payload: second.to_vec(),
        ..syn.clone()
    };
    let mut r = Reassembler::new(config(vec![80], Protocol::Http, false));
    let mut out = Vec::new();
    for s in [&syn, &after_gap] {
        r.push(&s.segment(CLIENT, SERVER, 40_000), &mut |m| out.push(m));
    }
    r.expire(i64::MAX, &mut |m| out.push(m));
    let got: Vec<_> = out.iter().map(|m| m.data.to_vec()).collect();
    assert_eq!(got.len(), 1, "{out:?}");
    assert!(got[0].starts_with(b"GET /b"));
}

#[test]
fn huge_content_length_does_not_preallocate() {
    // Heads that promise a body just under the 1 GiB limit, on many
    // connections, and never send it: the memory held must follow the
    // bytes that came, not the lengths claimed.
    let mut r = Reassembler::new(config(vec![80], Protocol::Http, false));
    let head: &[u8] = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1073741000\r\n\r\nabc";
    for port in 0..100u16 {
        r.push(&data(true, 10_000 + port, 1, head), &mut |_| {});
    }
    assert_eq!(r.connections(), 100);
    let held = r.reserved_bytes();
    assert!(
        held <= 100 * (2 << 20),
        "{held} bytes reserved for 100 heads"
    );
}

#[test]
fn a_huge_claim_is_not_trusted_once_the_first_reservation_fills() {
    // A 1 GiB Content-Length followed by 1.5 MiB of body: the buffer grows
    // with the bytes that came, it does not jump to the claimed size.
    let mut r = Reassembler::new(config(vec![80], Protocol::Http, false));
    let head: &[u8] = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1073741000\r\n\r\n";
    let body = vec![b'a'; 64 * 1024];
    let mut seq = 1u32;
    let mut send = |r: &mut Reassembler, payload: &[u8]| {
        r.push(&data(true, 10_000, seq, payload), &mut |_| {});
        seq = seq.wrapping_add(payload.len() as u32);
    };
    send(&mut r, head);
    for _ in 0..24 {
        send(&mut r, &body);
    }
    let held = r.reserved_bytes();
    assert!(held <= 4 << 20, "{held} bytes reserved for 1.5 MiB of body");
}

#[test]
fn tiny_segments_behind_a_gap_are_limited_in_number() {
    // One-byte segments after a missing one, each arriving in front of the
    // last (the costliest order to keep sorted): past a bound they are
    // refused, so a flood of them costs time in proportion to their number.
    use crate::tcp::stream::{Assembler, Insert};
    let mut a = Assembler::default();
    a.anchor(0);
    let n = 100_000u32;
    let mut refused = 0;
    for i in (0..n).rev() {
        if a.insert(10 + i, b"x", 0, 0) == Insert::Overflow {
            refused += 1;
        }
    }
    assert!(refused >= n - 10_000, "{refused} refused of {n}");
    // what was kept still comes out once the gap is filled
    assert!(matches!(
        a.insert(0, &[b'y'; 10], 0, 0),
        Insert::Appended { at: 0 }
    ));
    assert!(a.buf.len() >= 10);
}

#[test]
fn endless_chunked_or_close_delimited_body_is_not_held_past_the_limit() {
    // A body that never ends (a stream without a length, or a chunk of
    // 256 MiB that keeps coming) is dropped at the message limit, and the
    // connection's next message is captured.
    for head in [
        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n",
    ] {
        let mut r = Reassembler::new(config(vec![80], Protocol::Http, false));
        r.set_max_message(1 << 20);
        let mut out = Vec::new();
        let mut seq = 5000u32;
        let body = vec![b'x'; 64 * 1024];
        let mut push = |r: &mut Reassembler, payload: &[u8], seq: &mut u32| {
            let seg = data(false, 40_000, *seq, payload);
            *seq = seq.wrapping_add(payload.len() as u32);
            r.push(&seg, &mut |m| out.push(m));
        };
        push(&mut r, head, &mut seq);
        for _ in 0..40 {
            push(&mut r, &body, &mut seq);
        }
        assert!(r.held_bytes() <= 2 << 20, "{} bytes held", r.held_bytes());
        push(&mut r, OK_NEXT, &mut seq);
        assert_eq!(out.len(), 1, "{head:?}");
        assert_eq!(&out[0].data[..], OK_NEXT);
    }
}

const OK_NEXT: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn binary_side_that_never_stops_is_not_held_past_the_limit() {
    let mut r = Reassembler::new(config(vec![80], Protocol::Binary, false));
    r.set_max_message(1 << 20);
    let body = vec![7u8; 64 * 1024];
    let mut seq = 1u32;
    for _ in 0..40 {
        r.push(&data(true, 40_000, seq, &body), &mut |_| {});
        seq = seq.wrapping_add(body.len() as u32);
    }
    assert!(r.held_bytes() <= 2 << 20, "{} bytes held", r.held_bytes());
}
