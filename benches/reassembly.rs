//! Reassembler throughput: keep-alive connections carrying small GETs and
//! 64 KiB POSTs, with their responses, pushed segment by segment. Prints one
//! line: the reassembler's MB/s against copying the same payload bytes into
//! a buffer (the floor any reassembly pays), measured in the same run.
//!
//! `cargo bench --bench reassembly`

use gor::tcp::{Config, Reassembler, Segment};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

struct Seg {
    from_client: bool,
    port: u16,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
}

fn traffic(connections: u16, exchanges: usize) -> Vec<Seg> {
    let body = vec![b'x'; 64 * 1024];
    let mut post = format!(
        "POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(&body);
    let get = b"GET /item?id=42&lang=en HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n".to_vec();
    let ok = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\nhello from nginx\n".to_vec();
    let mut seqs: Vec<(u32, u32)> = (0..connections)
        .map(|c| (u32::from(c) * 7919, 1_000_000))
        .collect();
    let mut out = Vec::new();
    for i in 0..exchanges {
        for c in 0..connections {
            let (cs, ss) = &mut seqs[usize::from(c)];
            let req = if i % 10 == 9 { &post } else { &get };
            for chunk in req.chunks(65_483) {
                out.push(Seg {
                    from_client: true,
                    port: 40_000 + c,
                    seq: *cs,
                    ack: *ss,
                    payload: chunk.to_vec(),
                });
                *cs = cs.wrapping_add(chunk.len() as u32);
            }
            out.push(Seg {
                from_client: false,
                port: 40_000 + c,
                seq: *ss,
                ack: *cs,
                payload: ok.clone(),
            });
            *ss = ss.wrapping_add(ok.len() as u32);
        }
    }
    out
}

fn main() {
    let segs = traffic(64, 2_000);
    let bytes: usize = segs.iter().map(|s| s.payload.len()).sum();
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    let start = Instant::now();
    let mut copy = Vec::with_capacity(1 << 20);
    let mut copied = 0usize;
    for s in &segs {
        if copy.len() + s.payload.len() > copy.capacity() {
            copied += copy.len();
            copy.clear();
        }
        copy.extend_from_slice(&s.payload);
    }
    copied += copy.len();
    let copy_s = start.elapsed().as_secs_f64();

    let mut r = Reassembler::new(Config {
        ports: vec![80],
        ..Config::default()
    });
    let mut messages = 0usize;
    let start = Instant::now();
    for s in &segs {
        let (src, dst, sp, dp) = if s.from_client {
            (client, server, s.port, 80)
        } else {
            (server, client, 80, s.port)
        };
        let seg = Segment {
            src,
            dst,
            src_port: sp,
            dst_port: dp,
            seq: s.seq,
            ack: s.ack,
            syn: false,
            ack_flag: true,
            fin: false,
            rst: false,
            payload: &s.payload,
            ts_ns: 1,
        };
        r.push(&seg, &mut |m| {
            messages += 1;
            std::hint::black_box(m);
        });
    }
    let reasm_s = start.elapsed().as_secs_f64();
    assert_eq!(copied, bytes);
    let mb = bytes as f64 / 1e6;
    println!(
        "reassembly: {:.0} MB/s, {:.0} segments/s, {:.0} messages/s ({} messages) vs copying the bytes {:.0} MB/s = {:.2}",
        mb / reasm_s,
        segs.len() as f64 / reasm_s,
        messages as f64 / reasm_s,
        messages,
        mb / copy_s,
        (mb / reasm_s) / (mb / copy_s)
    );
}
