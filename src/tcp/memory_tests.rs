//! The reassembler's memory budget: many connections each holding part of
//! a message.

use super::*;
use std::net::{IpAddr, Ipv4Addr};

const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

fn client(i: u32) -> (IpAddr, u16) {
    (
        IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i / 1000)),
        10_000 + (i % 1000) as u16,
    )
}

/// A segment from client `i` to the server's port 80.
fn from_client(i: u32, seq: u32, syn: bool, payload: &[u8], ts_ns: i64) -> Segment<'_> {
    let (ip, port) = client(i);
    Segment {
        src: ip,
        dst: SERVER,
        src_port: port,
        dst_port: 80,
        seq,
        ack: 7,
        syn,
        ack_flag: !syn,
        fin: false,
        rst: false,
        payload,
        ts_ns,
    }
}

fn config() -> Config {
    Config {
        ports: vec![80],
        ..Config::default()
    }
}

/// A POST head claiming `len` body bytes.
fn head(len: usize) -> Vec<u8> {
    format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

#[test]
fn past_the_budget_the_oldest_unfinished_messages_are_dropped_and_counted() {
    const BUDGET: usize = 1 << 20;
    let mut r = Reassembler::new(config());
    r.set_memory_budget(BUDGET);
    let dropped = r.counters().over_memory_budget.get();
    let mut out = Vec::new();
    let body = vec![b'x'; 20_000];
    let h = head(30_000);
    for i in 0..100u32 {
        let ts = 1_000_000_000 + i64::from(i) * 1_000_000;
        r.push(&from_client(i, 999, true, &[], ts), &mut |m| out.push(m));
        r.push(&from_client(i, 1000, false, &h, ts), &mut |m| out.push(m));
        let seq = 1000 + h.len() as u32;
        r.push(&from_client(i, seq, false, &body, ts), &mut |m| out.push(m));
        assert!(
            r.memory() <= BUDGET,
            "{} held after connection {i}",
            r.memory()
        );
    }
    assert!(out.is_empty(), "nothing is complete yet");
    let shed = r.counters().over_memory_budget.get() - dropped;
    // 100 messages of 20 KB against a 1 MiB budget: about half must go.
    assert!(shed >= 40, "the oldest messages were dropped: {shed}");
    assert!(r.connections() < 100);
    // The newest connection kept its message: the rest of its body ends it.
    let rest = vec![b'y'; 10_000];
    let seq = 1000 + (h.len() + body.len()) as u32;
    let ts = 2_000_000_000;
    r.push(&from_client(99, seq, false, &rest, ts), &mut |m| {
        out.push(m)
    });
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data.len(), h.len() + 30_000);
    // The oldest one's was dropped: the rest of its body makes no message.
    r.push(&from_client(0, seq, false, &rest, ts), &mut |m| out.push(m));
    assert_eq!(out.len(), 1);
    assert!(r.memory() <= BUDGET);
}

#[test]
fn memory_is_given_back_as_connections_end_or_expire() {
    let mut r = Reassembler::new(config());
    let h = head(100);
    let mut out = Vec::new();
    for i in 0..10u32 {
        r.push(&from_client(i, 999, true, &[], 1), &mut |m| out.push(m));
        r.push(&from_client(i, 1000, false, &h, 1), &mut |m| out.push(m));
    }
    assert!(r.memory() > 0);
    r.expire(10_000_000_000, &mut |m| out.push(m));
    assert_eq!(r.connections(), 0);
    assert_eq!(r.memory(), 0);
}
