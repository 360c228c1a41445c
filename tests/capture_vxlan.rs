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

#[test]
fn vxlan_frames_are_captured_and_filtered_by_vni() {
    let port = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let port_s = port.to_string();
    let mut gor = Gor::start(&[
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
    gor.wait_for("Version", Duration::from_secs(15));
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
    // the listener may still be binding: resend until something arrives
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gor.stdout_so_far().is_empty() && std::time::Instant::now() < deadline {
        for f in &frames {
            tx.send_to(f, ("127.0.0.1", port)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let ran = gor.finish(Duration::from_secs(10), true);
    let recs = records(&ran.stdout);
    let got: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.0, &r.2[..])).collect();
    assert_eq!(
        got,
        vec![(b'1', &get[..]), (b'2', &ok[..])],
        "{}",
        ran.stderr
    );
    assert_eq!(recs[0].1, recs[1].1);
}
