//! Entry points for the fuzz targets under `fuzz/` and for their regression
//! tests (`tests/fuzz_regressions.rs`). Each one feeds arbitrary bytes
//! through one of gor's parsers the way its real input path does, and
//! checks what must hold for any input: no panic, no hang, and the
//! invariants written next to each. gor itself never calls them.
//!
//! How a target reads its bytes is part of its contract: the first bytes
//! often choose a mode (chunk sizes, gzip, link type), so that one corpus
//! entry reproduces one run exactly.

use crate::capture::decode::{Decoded, decode};
use crate::capture::{Frame, LinkType};
use crate::message::Message;
use crate::records::{ChunkReader, Damage, Record, Splitter};
use crate::tcp::{Config, Protocol, Reassembler, Segment};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

/// A reader that hands out at most `step` bytes per read, so that the
/// readers behind it see records cut at every possible place.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Every record a source holds, read as `--input-file` reads a file:
/// chunks of `chunk_len` bytes, split into records.
fn read_records(source: impl Read, chunk_len: usize, max_record: usize) -> Vec<Record> {
    let damage = Damage::for_input("input-file");
    let mut reader = ChunkReader::with_chunk_len(source, "fuzz", damage.clone(), chunk_len);
    let mut splitter = Splitter::new("fuzz", damage, max_record);
    let mut out = VecDeque::new();
    while let Some(chunk) = reader.next_chunk() {
        splitter.push(&chunk, &mut out);
    }
    splitter.finish(&mut out);
    out.into()
}

/// Panics, saying where, unless `a` and `b` hold the same records.
fn assert_same_records(a: &[Record], b: &[Record], what: &str) {
    let show = |r: &Record| {
        format!(
            "ts {} meta {:?} data {:?}",
            r.timestamp,
            String::from_utf8_lossy(&r.message.meta),
            String::from_utf8_lossy(&r.message.data[..r.message.data.len().min(300)])
        )
    };
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let same = x.timestamp == y.timestamp
            && x.message.meta == y.message.meta
            && x.message.data == y.message.data;
        assert!(
            same,
            "{what}: record {i} differs:\n{}\n{}",
            show(x),
            show(y)
        );
    }
    assert_eq!(a.len(), b.len(), "{what}: a different number of records");
}

/// The .gor record reader, plain and gzip. Byte 0: bit 0 reads the rest as
/// a gzip file (and also gzips it, so valid gzip reaches the splitter),
/// bit 1 caps records at 256 bytes, bits 2-7 the read size. Invariant:
/// records written back with the .gor writer read back the same (unless
/// a payload ends in a newline and the monkeys, which the format cannot
/// tell from a separator).
pub fn gor_records(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let step = usize::from(mode >> 2) + 1;
    let chunk_len = 64 + usize::from(mode) * 13;
    let max_record = if mode & 2 != 0 { 256 } else { 1 << 20 };
    let records = if mode & 1 != 0 {
        // Damaged gzip: whatever decodes before the damage is read.
        let _ = read_records(
            flate2::read::MultiGzDecoder::new(Trickle { data: body, step }),
            chunk_len,
            max_record,
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(body);
        let packed = gz.finish().unwrap_or_default();
        let source = flate2::read::MultiGzDecoder::new(Trickle {
            data: &packed,
            step,
        });
        read_records(source, chunk_len, max_record)
    } else {
        read_records(Trickle { data: body, step }, chunk_len, max_record)
    };
    // The one payload the format cannot hold: one that ends in a newline
    // and the monkeys (with the separator written after it, the reader
    // ends the record there). A record cut at the cap can end that way.
    let monkeys = &crate::message::SEPARATOR_LINE[..crate::message::SEPARATOR_LINE.len() - 1];
    let ambiguous = |data: &[u8]| {
        data.ends_with(monkeys) && data[..data.len() - monkeys.len()].ends_with(b"\n")
    };
    if records.iter().any(|r| ambiguous(&r.message.data)) {
        return;
    }
    let mut written = Vec::new();
    for r in &records {
        r.message
            .write_record(&mut written)
            .expect("writing to memory");
    }
    let again = read_records(
        Trickle {
            data: &written,
            step,
        },
        chunk_len,
        max_record,
    );
    assert_same_records(&records, &again, "read, then written back and read again");
}

/// The `--input-tcp` receiver's framing: the same bytes cut into chunks at
/// fuzz-chosen places give the same records as in one piece. Byte 0 is how
/// many cut points follow (each a byte: the length of the next chunk).
pub fn relay_frames(data: &[u8]) {
    let Some((&cuts, rest)) = data.split_first() else {
        return;
    };
    let cuts = usize::from(cuts % 32).min(rest.len());
    let (lens, stream) = rest.split_at(cuts);
    let whole = {
        let mut splitter = Splitter::new("fuzz", Damage::for_input("input-tcp"), 1 << 20);
        let mut out = VecDeque::new();
        splitter.push(&Bytes::copy_from_slice(stream), &mut out);
        splitter.finish(&mut out);
        Vec::from(out)
    };
    let mut splitter = Splitter::new("fuzz", Damage::for_input("input-tcp"), 1 << 20);
    let mut out = VecDeque::new();
    let mut at = 0;
    for &len in lens {
        let end = (at + usize::from(len)).min(stream.len());
        splitter.push(&Bytes::copy_from_slice(&stream[at..end]), &mut out);
        at = end;
    }
    splitter.push(&Bytes::copy_from_slice(&stream[at..]), &mut out);
    splitter.finish(&mut out);
    let pieces = Vec::from(out);
    assert_same_records(&whole, &pieces, "in one piece, then cut");
}

/// The middleware's output, decoded line by line. Byte 0 picks the read
/// buffer (1 to 256 bytes, so long lines take the slow path). Invariant:
/// the buffer size changes nothing.
pub fn middleware_lines(data: &[u8]) {
    let Some((&size, output)) = data.split_first() else {
        return;
    };
    let (small, _) = crate::middleware::decode_output(output, usize::from(size) + 1);
    let (large, _) = crate::middleware::decode_output(output, 1 << 16);
    assert_eq!(small.len(), large.len());
    for (a, b) in small.iter().zip(&large) {
        assert_eq!((&a.meta, &a.data), (&b.meta, &b.data));
    }
}

/// Command lines: arguments separated by NUL bytes, parsed as gor parses
/// its argv, then turned into the modifier's rules as gor does at start.
pub fn argv(data: &[u8]) {
    let args: Vec<String> = data
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if let Ok(crate::settings::Command::Run { settings, .. }) = crate::settings::parse(&args)
        && let Ok(rules) = crate::modifier::ModifierConfig::from_settings(&settings)
    {
        let _ = crate::modifier::HttpModifier::new(&rules);
    }
}

/// One fixed set of rules covering each kind of `--http-*` rewrite and
/// filter.
fn fixed_modifier() -> &'static Option<crate::modifier::HttpModifier> {
    static RULES: OnceLock<Option<crate::modifier::HttpModifier>> = OnceLock::new();
    RULES.get_or_init(|| {
        let args: Vec<String> = [
            "--input-dummy=0",
            "--output-null",
            "--http-allow-method=GET",
            "--http-allow-method=POST",
            "--http-allow-url=/",
            "--http-disallow-url=/admin",
            "--http-allow-header=Host: .",
            "--http-disallow-header=X-Skip: 1",
            "--http-rewrite-url=/v1/([^/]+)/(\\d+):/v2/$1/$2",
            "--http-rewrite-header=Host: (.*)\\.example\\.com,$1.staging",
            "--http-set-header=X-Replayed: 1",
            "--http-set-param=debug=1",
            "--http-param-limiter=id:10%",
            "--http-header-limiter=X-User: 50%",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let Ok(crate::settings::Command::Run { settings, .. }) = crate::settings::parse(&args)
        else {
            panic!("the fixed modifier rules no longer parse");
        };
        let rules = crate::modifier::ModifierConfig::from_settings(&settings)
            .expect("the fixed modifier rules are valid");
        crate::modifier::HttpModifier::new(&rules).expect("the fixed modifier rules compile")
    })
}

/// The `--http-*` modifier applied to an arbitrary request; both entry
/// points (borrowed and shared bytes) agree.
pub fn modifier(data: &[u8]) {
    let Some(m) = fixed_modifier() else {
        return;
    };
    let borrowed = m.rewrite(data).map(|c| c.into_owned());
    let shared = m.rewrite_bytes(&Bytes::copy_from_slice(data));
    assert_eq!(borrowed.as_deref(), shared.as_deref());
}

/// `--prettify-http` on an arbitrary message; both entry points agree.
pub fn prettify(data: &[u8]) {
    let borrowed = crate::http::prettify::prettify(data).map(|c| c.into_owned());
    let shared = crate::http::prettify::prettify_bytes(&Bytes::copy_from_slice(data));
    assert_eq!(borrowed.as_deref(), shared.as_deref());
}

/// Kafka messages in the JSON format. Invariant: encoding a decoded
/// message and decoding it again is stable after the first time.
pub fn kafka_json(data: &[u8]) {
    let Ok(msg) = crate::kafka::json::decode(data) else {
        return;
    };
    // The first trip may normalise (header names are written in their
    // canonical form); after it, nothing changes any more.
    let round_trip = |m: &Message| {
        let mut doc = Vec::new();
        crate::kafka::json::encode(m, &mut doc);
        crate::kafka::json::decode(&doc).expect("gor's own JSON decodes")
    };
    let once = round_trip(&msg);
    let twice = round_trip(&once);
    assert_eq!((&once.meta, &once.data), (&twice.meta, &twice.data));
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// Capture: frames decoded and reassembled into messages, then framed as
/// HTTP (or, by byte 0's bit 0, as a binary protocol). The rest is a
/// sequence of items, each starting with a tag byte:
/// * bit 7 set: a raw frame: link type from bits 0-2, two bytes of length,
///   the frame;
/// * `0x7f`: a second passes, idle connections expire;
/// * otherwise a TCP segment between 10.0.0.7 and 10.0.0.1:80: bit 0 the
///   direction (client to server when set), bits 1-3 SYN, FIN, RST, bits
///   4-5 one of four client ports; then a byte of sequence offset (signed,
///   from where the stream is expected to continue), two bytes of payload
///   length, the payload.
///
/// Invariants: every message is well formed, and at the end nothing is
/// held.
pub fn capture_segments(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut r = Reassembler::new(Config {
        ports: vec![80],
        track_response: true,
        protocol: if mode & 1 != 0 {
            Protocol::Binary
        } else {
            Protocol::Http
        },
        allow_incomplete: mode & 2 != 0,
        ..Config::default()
    });
    r.set_memory_budget(1 << 20);
    let mut sink = |m: Message| {
        assert!(m.is_well_formed(), "a malformed message was emitted");
    };
    // Where each (port, direction) stream is expected to continue.
    let mut next = [[0u32; 2]; 4];
    let mut ts: i64 = 1_000_000_000;
    let take = |rest: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Some(head.to_vec())
    };
    while let Some(tag) = take(&mut rest, 1).map(|t| t[0]) {
        ts += 1_000;
        if tag & 0x80 != 0 {
            let Some(len) = take(&mut rest, 2) else { break };
            let len = usize::from(u16::from_be_bytes([len[0], len[1]])).min(rest.len());
            let frame = take(&mut rest, len).unwrap_or_default();
            let link = match tag & 7 {
                0 => LinkType::Ethernet,
                1 => LinkType::Null,
                2 => LinkType::Loop,
                3 => LinkType::RawIp,
                4 => LinkType::LinuxSll,
                _ => LinkType::LinuxSll2,
            };
            if let Decoded::Tcp(seg) = decode(&Frame {
                data: &frame,
                ts_ns: ts,
                link,
            }) {
                r.push(&seg, &mut sink);
            }
            continue;
        }
        if tag == 0x7f {
            ts += 1_000_000_000;
            r.expire(ts + 3_000_000_000, &mut sink);
            continue;
        }
        let Some(head) = take(&mut rest, 3) else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([head[1], head[2]])).min(rest.len());
        let payload = take(&mut rest, len).unwrap_or_default();
        let from_client = tag & 1 != 0;
        let (syn, fin, rst) = (tag & 2 != 0, tag & 4 != 0, tag & 8 != 0);
        let port = usize::from((tag >> 4) & 3);
        let dir = usize::from(!from_client);
        let seq = next[port][dir].wrapping_add(i32::from(head[0] as i8) as u32);
        next[port][dir] = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(syn) + u32::from(fin));
        let client_port = 40_000 + port as u16;
        let (src, dst, src_port, dst_port) = if from_client {
            (CLIENT, SERVER, client_port, 80)
        } else {
            (SERVER, CLIENT, 80, client_port)
        };
        let seg = Segment {
            src,
            dst,
            src_port,
            dst_port,
            seq,
            ack: next[port][1 - dir],
            syn,
            ack_flag: !syn || !from_client,
            fin,
            rst,
            payload: &payload,
            ts_ns: ts,
        };
        r.push(&seg, &mut sink);
    }
    r.finish(&mut sink);
    assert_eq!(r.connections(), 0, "connections left after the end");
    assert_eq!(r.memory(), 0, "memory held after the end");
}

/// An in-memory peer for the WebSocket client: what the client writes is
/// kept (to answer its handshake), what it reads is the fuzz input.
struct WsPeer {
    written: Vec<u8>,
    input: Vec<u8>,
    at: usize,
    /// Answer the handshake properly before handing out `input`.
    handshake: bool,
}

impl Read for WsPeer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.handshake {
            self.handshake = false;
            let text = String::from_utf8_lossy(&self.written).into_owned();
            let key = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Sec-WebSocket-Key: ")
                        .or_else(|| l.strip_prefix("sec-websocket-key: "))
                })
                .unwrap_or_default();
            let accept = tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            self.input.splice(0..0, answer.into_bytes());
        }
        let left = &self.input[self.at..];
        let n = buf.len().min(left.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for WsPeer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `--output-ws`: the target URL parsed as gor parses it, then what a
/// server sends back read as the output reads it. Byte 0: bit 0 answers
/// the handshake properly and the rest are frames; otherwise the rest is
/// the server's handshake answer itself. Up to the first NUL of the rest
/// (when bit 1 is set) is a URL for `--output-ws`.
pub fn ws_frames(data: &[u8]) {
    use tungstenite::client::IntoClientRequest;
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    if mode & 2 != 0 {
        let end = memchr::memchr(0, rest).unwrap_or(rest.len());
        let _ = crate::output::ws::WsTarget::parse(&String::from_utf8_lossy(&rest[..end]));
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    let Ok(request) = "ws://127.0.0.1:9/".into_client_request() else {
        return;
    };
    let peer = WsPeer {
        written: Vec::new(),
        input: rest.to_vec(),
        at: 0,
        handshake: mode & 1 != 0,
    };
    let Ok((mut ws, _)) = tungstenite::client::client(request, peer) else {
        return;
    };
    for _ in 0..10_000 {
        match ws.read() {
            Ok(tungstenite::Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// One set of `--output-diff` rules: an ignored header and an ignored
/// JSON path.
fn diff_rules() -> &'static crate::output::diff::compare::Rules {
    static RULES: OnceLock<crate::output::diff::compare::Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        crate::output::diff::compare::Rules::new(&["X-Request-Id".into()], &[r"^\$\.meta\.".into()])
            .expect("the fixed diff rules are valid")
    })
}

/// `--output-diff`: two responses compared (status, headers, bodies after
/// gzip, deflate and chunking are undone, JSON by path), and the endpoint
/// of a request. Bytes 0-1: the baseline's length; then the baseline, then
/// the candidate (also read as a request for its endpoint). Invariant: a
/// response never differs from itself.
pub fn diff_compare(data: &[u8]) {
    use crate::output::diff::{compare, endpoint};
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let at = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (baseline, candidate) = rest.split_at(at);
    let _ = compare::compare(diff_rules(), baseline, candidate);
    let _ = endpoint::of_request(candidate);
    let _ = endpoint::request_line(candidate);
    let same = compare::compare(diff_rules(), baseline, baseline);
    assert!(
        same.is_empty(),
        "a response differs from itself: {:?}",
        same.list.first()
    );
}
