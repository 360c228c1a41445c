//! Frames to TCP segments: link header (Ethernet with 802.1Q tags, Linux
//! SLL/SLL2, BSD loopback, raw IP), IPv4 or IPv6, TCP. Everything else is
//! skipped; frames that claim more than they carry are malformed.

use super::{Frame, LinkType};
use crate::tcp::Segment;
use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use std::net::IpAddr;

/// What a frame turned out to be.
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    /// Not TCP over IP (ARP, UDP, an IP fragment…): not ours.
    Other,
    /// Cut short or inconsistent headers.
    Malformed,
}

pub fn decode<'a>(frame: &Frame<'a>) -> Decoded<'a> {
    let data = frame.data;
    let sliced = match frame.link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(data),
        LinkType::RawIp => SlicedPacket::from_ip(data),
        LinkType::Null | LinkType::Loop => {
            if data.len() < 4 {
                return Decoded::Malformed;
            }
            SlicedPacket::from_ip(&data[4..])
        }
        // The protocol field is an EtherType for the hardware types that
        // carry IP (etherparse refuses loopback's, which `any` captures).
        LinkType::LinuxSll => {
            if data.len() < 16 {
                return Decoded::Malformed;
            }
            let proto = u16::from_be_bytes([data[14], data[15]]);
            SlicedPacket::from_ether_type(EtherType(proto), &data[16..])
        }
        LinkType::LinuxSll2 => {
            if data.len() < 20 {
                return Decoded::Malformed;
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            SlicedPacket::from_ether_type(EtherType(proto), &data[20..])
        }
    };
    let Ok(p) = sliced else {
        return Decoded::Malformed;
    };
    let (src, dst) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
        ),
        _ => return Decoded::Other,
    };
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        return Decoded::Other;
    };
    Decoded::Tcp(Segment {
        src,
        dst,
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        syn: tcp.syn(),
        ack_flag: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
        ts_ns: frame.ts_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn ip_frame(v6: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let b = if v6 {
            PacketBuilder::ipv6([0xfd; 16], [1; 16], 64)
        } else {
            PacketBuilder::ipv4([10, 0, 0, 7], [10, 0, 0, 1], 64)
        };
        b.tcp(40_000, 80, 1234, 1000)
            .ack(99)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn tcp(link: LinkType, data: &[u8]) -> Option<(u16, u32, u32, Vec<u8>)> {
        match decode(&Frame {
            data,
            ts_ns: 1,
            link,
        }) {
            Decoded::Tcp(s) => Some((s.dst_port, s.seq, s.ack, s.payload.to_vec())),
            _ => None,
        }
    }

    #[test]
    fn every_link_type_gives_the_tcp_segment() {
        for v6 in [false, true] {
            let ip = ip_frame(v6, b"GET / HTTP/1.1\r\n\r\n");
            let want = Some((80, 1234, 99, b"GET / HTTP/1.1\r\n\r\n".to_vec()));
            assert_eq!(tcp(LinkType::RawIp, &ip), want);
            let family: u32 = if v6 { 30 } else { 2 };
            let null = [&family.to_le_bytes()[..], &ip].concat();
            assert_eq!(tcp(LinkType::Null, &null), want);
            let proto: u16 = if v6 { 0x86dd } else { 0x0800 };
            let mut sll = vec![0, 4, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
            sll.extend_from_slice(&proto.to_be_bytes());
            sll.extend_from_slice(&ip);
            assert_eq!(
                tcp(LinkType::LinuxSll, &sll),
                want,
                "loopback hardware type"
            );
            let mut sll2 = proto.to_be_bytes().to_vec();
            sll2.extend_from_slice(&[0; 18]);
            sll2.extend_from_slice(&ip);
            assert_eq!(tcp(LinkType::LinuxSll2, &sll2), want);
            let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
            eth.extend_from_slice(&proto.to_be_bytes());
            eth.extend_from_slice(&ip);
            eth.extend_from_slice(&[0; 6]); // Ethernet padding is not payload
            assert_eq!(tcp(LinkType::Ethernet, &eth), want);
        }
    }

    #[test]
    fn short_and_foreign_frames_are_malformed_or_other() {
        assert!(matches!(
            decode(&Frame {
                data: &[1, 2],
                ts_ns: 0,
                link: LinkType::Null
            }),
            Decoded::Malformed
        ));
        let ip = ip_frame(false, b"x");
        assert!(matches!(
            decode(&Frame {
                data: &ip[..30],
                ts_ns: 0,
                link: LinkType::RawIp
            }),
            Decoded::Malformed
        ));
        let mut udp = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9)
            .udp(53, 53)
            .write(&mut udp, b"dns")
            .unwrap();
        assert!(matches!(
            decode(&Frame {
                data: &udp,
                ts_ns: 0,
                link: LinkType::RawIp
            }),
            Decoded::Other
        ));
    }
}
