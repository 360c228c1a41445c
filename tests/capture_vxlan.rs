//! `--input-raw-engine vxlan`: VXLAN datagrams (a traffic mirror) sent to
//! gor's UDP port; the inner Ethernet frames are captured, filtered by VNI.

#[path = "common/capture.rs"]
mod capture_common;
mod common;

use capture_common::*;
use std::net::UdpSocket;
use std::time::Duration;

fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut d = vec![0x08, 0, 0, 0];
    d.extend_from_slice(&(vni << 8).to_be_bytes());
    d.extend_from_slice(frame);
    d
}

/// Starts gor's VXLAN capture on a free UDP port: the port is probed
/// free, then gor binds it; if something else took it in between, gor fails
/// to listen and another port is tried.
fn start_vxlan_capture() -> (Gor, u16) {
    for _ in 0..5 {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let port_s = port.to_string();
        let gor = Gor::start(&[
            "--input-raw",
            ":80",
            "--input-raw-engine",
            "vxlan",
            "--input-raw-vxlan-port",
            &port_s,
            "--input-raw-vxlan-vni",
            "-13",
            "--input-raw-track-response",
            "--output-stdout",
        ]);
        gor.wait_until(Duration::from_secs(15), "the VXLAN socket", |g| {
            let err = g.stderr();
            err.contains("VXLAN: listening") || err.contains("cannot listen")
        });
        if gor.stderr().contains("VXLAN: listening") {
            return (gor, port);
        }
    }
    panic!("no free UDP port for the VXLAN capture");
}

#[test]
fn vxlan_frames_are_captured_and_filtered_by_vni() {
    let (gor, port) = start_vxlan_capture();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let get = b"GET /mirrored HTTP/1.1\r\nHost: x\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut wanted = Conversation::v4(52_000, 80);
    let mut refused = Conversation::v4(52_001, 80);
    let mut frames = Vec::new();
    for s in wanted.client(get).iter().chain(&wanted.server(ok)) {
        frames.push(vxlan(7, &wanted.frame(s, Link::Ethernet)));
    }
    for s in refused.client(b"GET /refused HTTP/1.1\r\nHost: x\r\n\r\n") {
        frames.push(vxlan(13, &refused.frame(&s, Link::Ethernet)));
    }
    frames.push(b"not vxlan at all".to_vec());
    for f in &frames {
        tx.send_to(f, ("127.0.0.1", port)).unwrap();
    }
    // One last conversation: the frames sent before it have been handled
    // once it is captured.
    let mut last = Conversation::v4(52_002, 80);
    let last_get = b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n";
    for s in last.client(last_get).iter().chain(&last.server(ok)) {
        tx.send_to(
            &vxlan(7, &last.frame(s, Link::Ethernet)),
            ("127.0.0.1", port),
        )
        .unwrap();
    }
    gor.wait_until(Duration::from_secs(10), "the last conversation", |g| {
        records(&g.stdout_so_far()).iter().any(|r| r.2 == last_get)
    });
    let ran = gor.finish(Duration::from_secs(10), true);
    let recs = records(&ran.stdout);
    let last_id = &recs.iter().find(|r| r.2 == last_get).unwrap().1;
    let got: Vec<(u8, &[u8])> = recs
        .iter()
        .filter(|r| &r.1 != last_id)
        .map(|r| (r.0, &r.2[..]))
        .collect();
    assert_eq!(
        got,
        vec![(b'1', &get[..]), (b'2', &ok[..])],
        "{}",
        ran.stderr
    );
    assert_eq!(recs[0].1, recs[1].1);
}
