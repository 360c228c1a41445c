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
