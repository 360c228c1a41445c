//! Helpers for the capture tests: pcap files crafted byte by byte, TCP
//! conversations turned into frames (Ethernet, 802.1Q, IPv4, IPv6, Linux
//! SLL, VXLAN); the runner is the common one (`Gor` = `common::Running`).
#![allow(dead_code, unused_imports)]

use etherparse::PacketBuilder;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

pub use crate::common::{GOR, can_capture, wait_until};

/// A pcap file being written: nanosecond-resolution global header, then one
/// record per frame.
pub struct Pcap {
    pub bytes: Vec<u8>,
}

impl Pcap {
    /// `linktype`: 1 Ethernet, 113 Linux SLL, 101 raw IP.
    pub fn new(linktype: u32) -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&linktype.to_le_bytes());
        Pcap { bytes }
    }

    pub fn record(&mut self, ts_ns: i64, frame: &[u8]) {
        self.bytes
            .extend_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.bytes).expect("writing pcap");
    }
}

/// How frames are wrapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    Ethernet,
    Vlan(u16),
    Sll,
}

/// One TCP segment of a conversation.
#[derive(Clone, Debug)]
pub struct Seg {
    pub from_client: bool,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub fin: bool,
    pub payload: Vec<u8>,
    pub ts: i64,
}

/// A client talking to a server; produces segments with correct sequence
/// and acknowledgement numbers.
pub struct Conversation {
    pub client: IpAddr,
    pub server: IpAddr,
    pub client_port: u16,
    pub server_port: u16,
    pub client_seq: u32,
    pub server_seq: u32,
    pub ts: i64,
}

impl Conversation {
    pub fn v4(client_port: u16, server_port: u16) -> Self {
        Conversation {
            client: "192.168.1.20".parse().unwrap(),
            server: "192.168.1.10".parse().unwrap(),
            client_port,
            server_port,
            client_seq: 7_000,
            server_seq: 900_000,
            ts: 1_700_000_000_000_000_000,
        }
    }

    pub fn v6(client_port: u16, server_port: u16) -> Self {
        Conversation {
            client: "fd00::c0a8:114".parse().unwrap(),
            server: "fd00::1".parse().unwrap(),
            ..Self::v4(client_port, server_port)
        }
    }

    fn tick(&mut self) -> i64 {
        self.ts += 1_000_000;
        self.ts
    }

    pub fn handshake(&mut self) -> Vec<Seg> {
        let syn = Seg {
            from_client: true,
            seq: self.client_seq.wrapping_sub(1),
            ack: 0,
            syn: true,
            fin: false,
            payload: vec![],
            ts: self.tick(),
        };
        let synack = Seg {
            from_client: false,
            seq: self.server_seq.wrapping_sub(1),
            ack: self.client_seq,
            syn: true,
            fin: false,
            payload: vec![],
            ts: self.tick(),
        };
        vec![syn, synack]
    }

    pub fn send(&mut self, from_client: bool, bytes: &[u8], mss: usize) -> Vec<Seg> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(mss.max(1)) {
            let ts = self.tick();
            let (seq, ack) = if from_client {
                (self.client_seq, self.server_seq)
            } else {
                (self.server_seq, self.client_seq)
            };
            out.push(Seg {
                from_client,
                seq,
                ack,
                syn: false,
                fin: false,
                payload: chunk.to_vec(),
                ts,
            });
            if from_client {
                self.client_seq = self.client_seq.wrapping_add(chunk.len() as u32);
            } else {
                self.server_seq = self.server_seq.wrapping_add(chunk.len() as u32);
            }
        }
        out
    }

    pub fn client(&mut self, bytes: &[u8]) -> Vec<Seg> {
        self.send(true, bytes, 1448)
    }

    pub fn server(&mut self, bytes: &[u8]) -> Vec<Seg> {
        self.send(false, bytes, 1448)
    }

    pub fn fin(&mut self, from_client: bool) -> Seg {
        let ts = self.tick();
        let (seq, ack) = if from_client {
            (self.client_seq, self.server_seq)
        } else {
            (self.server_seq, self.client_seq)
        };
        Seg {
            from_client,
            seq,
            ack,
            syn: false,
            fin: true,
            payload: vec![],
            ts,
        }
    }

    /// The frame carrying one segment.
    pub fn frame(&self, s: &Seg, link: Link) -> Vec<u8> {
        let (src, dst, sp, dp) = if s.from_client {
            (self.client, self.server, self.client_port, self.server_port)
        } else {
            (self.server, self.client, self.server_port, self.client_port)
        };
        let mac_a = [2, 0, 0, 0, 0, 1];
        let mac_b = [2, 0, 0, 0, 0, 2];
        let mut out = Vec::new();
        let ip_step = |out: &mut Vec<u8>| match link {
            Link::Ethernet => {
                let b = PacketBuilder::ethernet2(mac_a, mac_b);
                write_ip(b.ip(ip_headers(src, dst)), s, sp, dp, out)
            }
            Link::Vlan(vid) => {
                let b = PacketBuilder::ethernet2(mac_a, mac_b)
                    .single_vlan(etherparse::VlanId::try_new(vid).unwrap());
                write_ip(b.ip(ip_headers(src, dst)), s, sp, dp, out)
            }
            Link::Sll => {
                let b = PacketBuilder::linux_sll(
                    etherparse::LinuxSllPacketType::HOST,
                    6,
                    [0, 0, 0, 0, 0, 0, 0, 0],
                );
                write_ip(b.ip(ip_headers(src, dst)), s, sp, dp, out)
            }
        };
        ip_step(&mut out);
        out
    }
}

fn ip_headers(src: IpAddr, dst: IpAddr) -> etherparse::IpHeaders {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => etherparse::IpHeaders::Ipv4(
            etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, s.octets(), d.octets())
                .unwrap(),
            Default::default(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => etherparse::IpHeaders::Ipv6(
            etherparse::Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: 0,
                next_header: etherparse::IpNumber::TCP,
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            },
            Default::default(),
        ),
        _ => panic!("mixed IP versions"),
    }
}

fn write_ip(
    b: etherparse::PacketBuilderStep<etherparse::IpHeaders>,
    s: &Seg,
    sp: u16,
    dp: u16,
    out: &mut Vec<u8>,
) {
    let mut t = b.tcp(sp, dp, s.seq, 65_535);
    if s.syn {
        t = t.syn();
    }
    if !(s.syn && s.from_client) {
        t = t.ack(s.ack);
    }
    if s.fin {
        t = t.fin();
    }
    t.write(out, &s.payload).expect("building a frame");
}

/// A pcap file of the given segments, in the given order.
pub fn pcap_of(conv: &Conversation, segs: &[Seg], link: Link) -> Pcap {
    let mut p = Pcap::new(if link == Link::Sll { 113 } else { 1 });
    for s in segs {
        p.record(s.ts, &conv.frame(s, link));
    }
    p
}

/// The records gor printed: (type byte, id, payload).
pub fn records(bytes: &[u8]) -> Vec<(u8, String, Vec<u8>)> {
    crate::common::records(bytes)
        .into_iter()
        .map(|(meta, payload)| {
            let kind = meta.as_bytes().first().copied().unwrap_or(0);
            let id = meta.split(' ').nth(1).unwrap_or("").to_string();
            (kind, id, payload)
        })
        .collect()
}

/// A finished gor run (`code`, `stdout`, `stderr`).
pub type Ran = crate::common::Finished;

/// A running gor; `wait_for` a start-up line, `finish` with or without SIGINT.
pub type Gor = crate::common::Running;

/// Runs gor to completion with a deadline (killed if it overruns).
pub fn run_gor(args: &[&str], deadline: Duration) -> Ran {
    crate::common::run(args, deadline)
}
