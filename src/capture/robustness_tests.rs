//! Hostile capture files and frames: random bytes and random mutations of
//! valid ones through the pcap file reader and the frame decoder never
//! panic, and every frame read is decoded or counted. Seeded.

use super::decode::{Decoded, decode};
use super::pcap_file::PcapFile;
use super::{Frame, LinkType, Next, PacketSource};
use crate::tcp::robustness_tests::Rng;
use etherparse::PacketBuilder;

const LINKS: [LinkType; 6] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Loop,
    LinkType::RawIp,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
];

fn tcp_frame(rng: &mut Rng, v6: bool) -> Vec<u8> {
    let b = if v6 {
        PacketBuilder::ethernet2([1; 6], [2; 6]).ipv6([0xfd; 16], [1; 16], 64)
    } else {
        PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4([10, 0, 0, 7], [10, 0, 0, 1], 64)
    };
    let payload = rng.bytes(100);
    let b = b.tcp(40_000, 80, rng.next() as u32, 65_535).ack(7).psh();
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).expect("frame");
    out
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(6) {
        match rng.below(4) {
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
                data[at] ^= 1 << rng.below(8);
            }
            _ => {
                let at = rng.below(data.len() + 1);
                let extra = rng.bytes(8);
                data.splice(at..at, extra);
            }
        }
    }
}

#[test]
fn random_and_mutated_frames_decode_without_panicking() {
    let mut rng = Rng::new(11);
    for _ in 0..20_000 {
        let link = LINKS[rng.below(LINKS.len())];
        let mut data = if rng.chance(70) {
            let v6 = rng.chance(50);
            let eth = tcp_frame(&mut rng, v6);
            // the IP packet behind the link header each link type expects
            let ip = &eth[14..];
            let mut framed = match link {
                LinkType::Ethernet => eth.clone(),
                LinkType::RawIp => ip.to_vec(),
                LinkType::Null | LinkType::Loop => [&[2, 0, 0, 0][..], ip].concat(),
                LinkType::LinuxSll => {
                    let mut h = [0u8; 16];
                    h[14..16].copy_from_slice(&eth[12..14]);
                    [&h[..], ip].concat()
                }
                LinkType::LinuxSll2 => {
                    let mut h = [0u8; 20];
                    h[0..2].copy_from_slice(&eth[12..14]);
                    [&h[..], ip].concat()
                }
            };
            mutate(&mut rng, &mut framed);
            framed
        } else {
            rng.bytes(120)
        };
        if rng.chance(5) {
            data.clear();
        }
        let frame = Frame {
            data: &data,
            ts_ns: rng.next() as i64,
            link,
        };
        if let Decoded::Tcp(seg) = decode(&frame) {
            assert!(seg.payload.len() <= data.len());
        }
    }
}

/// A classic pcap file (nanosecond magic) of `frames`.
fn pcap_bytes(linktype: u32, frames: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (sec, nsec, data) in frames {
        out.extend_from_slice(&sec.to_le_bytes());
        out.extend_from_slice(&nsec.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// A pcapng file: section header, one Ethernet interface (microsecond
/// resolution), one enhanced packet block with a raw 64-bit timestamp.
fn pcapng_bytes(ts: u64, frame: &[u8]) -> Vec<u8> {
    let block = |kind: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        [
            &kind.to_le_bytes()[..],
            &len.to_le_bytes(),
            body,
            &len.to_le_bytes(),
        ]
        .concat()
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    let mut epb = Vec::new();
    epb.extend_from_slice(&0u32.to_le_bytes());
    epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(ts as u32).to_le_bytes());
    epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    epb.extend_from_slice(frame);
    while epb.len() % 4 != 0 {
        epb.push(0);
    }
    [block(0x0A0D_0D0A, &shb), block(1, &idb), block(6, &epb)].concat()
}

/// Every frame of a file, decoded; the file is read to its end.
fn read_all(bytes: &[u8]) -> Option<Vec<i64>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f.pcap");
    std::fs::write(&path, bytes).expect("write");
    let mut src = PcapFile::open(&path.display().to_string(), "").ok()?;
    let mut times = Vec::new();
    for _ in 0..10_000 {
        match src.next().expect("a file source does not fail") {
            Next::Frame(f) => {
                times.push(f.ts_ns);
                let _ = decode(&f);
            }
            Next::Idle => {}
            Next::End => return Some(times),
        }
    }
    panic!("a small file never ended");
}

#[test]
fn far_future_pcapng_timestamp_saturates_instead_of_wrapping() {
    let mut rng = Rng::new(12);
    let frame = tcp_frame(&mut rng, false);
    let times = read_all(&pcapng_bytes(u64::MAX, &frame)).expect("readable pcapng");
    assert_eq!(times, vec![i64::MAX]);
    // an ordinary time is exact
    let times = read_all(&pcapng_bytes(1_700_000_000_123_456, &frame)).expect("readable");
    assert_eq!(times, vec![1_700_000_000_123_456_000]);
}

#[test]
fn mutated_pcap_files_are_read_without_panicking() {
    let mut rng = Rng::new(13);
    for round in 0..300 {
        let bytes = if round % 3 == 0 {
            let v6 = rng.chance(50);
            let frame = tcp_frame(&mut rng, v6);
            pcapng_bytes(rng.next(), &frame)
        } else {
            let frames: Vec<_> = (0..1 + rng.below(5))
                .map(|_| {
                    let v6 = rng.chance(50);
                    (
                        rng.next() as u32,
                        rng.next() as u32,
                        tcp_frame(&mut rng, v6),
                    )
                })
                .collect();
            pcap_bytes(if rng.chance(80) { 1 } else { 101 }, &frames)
        };
        let mut bytes = bytes;
        // the 24-byte header is mutated less often, so the records are reached
        if rng.chance(20) {
            mutate(&mut rng, &mut bytes);
        } else if bytes.len() > 24 {
            let mut tail = bytes.split_off(24);
            mutate(&mut rng, &mut tail);
            bytes.extend_from_slice(&tail);
        }
        if let Some(times) = read_all(&bytes) {
            assert!(times.iter().all(|t| *t >= 0), "round {round}: {times:?}");
        }
    }
}
