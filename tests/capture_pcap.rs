//! `--input-raw file.pcap`: crafted captures (the test writes the pcap
//! bytes itself) run through the pcap_file engine, asserting the exact
//! messages gor prints.

#[path = "common/capture.rs"]
mod capture_common;
mod common;

use capture_common::*;
use std::time::Duration;

const GET: &[u8] =
    b"GET /search?q=gor&lang=en HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n";
const POST: &[u8] = b"POST /api/items HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"name\":\"lamp\",\"price\":12}\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const CREATED: &[u8] =
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";

fn run_pcap(pcap: &Pcap, extra: &[&str]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.pcap");
    pcap.write(&path);
    let mut args = vec!["--input-raw", path.to_str().unwrap(), "--output-stdout"];
    args.extend_from_slice(extra);
    let ran = run_gor(&args, Duration::from_secs(20));
    assert_eq!(ran.code, Some(0), "gor failed:\n{}", ran.stderr);
    ran
}

fn exchange(conv: &mut Conversation) -> Vec<Seg> {
    let mut segs = conv.handshake();
    segs.extend(conv.client(GET));
    segs.extend(conv.server(OK));
    segs.extend(conv.client(POST));
    segs.extend(conv.server(CREATED));
    segs.push(conv.fin(true));
    segs.push(conv.fin(false));
    segs
}

fn assert_exchange(recs: &[(u8, String, Vec<u8>)]) {
    let got: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.0, &r.2[..])).collect();
    assert_eq!(
        got,
        vec![(b'1', GET), (b'2', OK), (b'1', POST), (b'2', CREATED)]
    );
    assert_eq!(recs[0].1, recs[1].1);
    assert_eq!(recs[2].1, recs[3].1);
    assert_ne!(recs[0].1, recs[2].1);
    assert!(recs.iter().all(|r| r.1.len() == 24));
}

#[test]
fn requests_and_responses_from_a_pcap_file_are_exact_and_paired() {
    let mut conv = Conversation::v4(51_000, 80);
    let segs = exchange(&mut conv);
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Ethernet),
        &["--input-raw-track-response"],
    );
    assert_exchange(&records(&ran.stdout));
}

#[test]
fn without_track_response_only_requests_are_emitted() {
    let mut conv = Conversation::v4(51_000, 80);
    let segs = exchange(&mut conv);
    let ran = run_pcap(&pcap_of(&conv, &segs, Link::Ethernet), &[]);
    let recs = records(&ran.stdout);
    let got: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.0, &r.2[..])).collect();
    assert_eq!(got, vec![(b'1', GET), (b'1', POST)]);
}

#[test]
fn ipv6_traffic_is_captured() {
    let mut conv = Conversation::v6(51_000, 8080);
    let segs = exchange(&mut conv);
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Ethernet),
        &["--input-raw-track-response"],
    );
    let recs = records(&ran.stdout);
    assert_exchange(&recs);
    // ports 51000 and 8080, then the last 4 bytes of fd00::c0a8:114
    assert!(recs[0].1.starts_with("c7381f90c0a80114"), "{}", recs[0].1);
}

#[test]
fn vlan_tagged_frames_are_captured_with_the_vlan_flag() {
    let mut conv = Conversation::v4(51_000, 80);
    let segs = exchange(&mut conv);
    let pcap = pcap_of(&conv, &segs, Link::Vlan(42));
    let ran = run_pcap(
        &pcap,
        &[
            "--input-raw-track-response",
            "--input-raw-vlan",
            "--input-raw-vlan-vid",
            "42",
        ],
    );
    assert_exchange(&records(&ran.stdout));
    // another VLAN id is filtered out
    let ran = run_pcap(
        &pcap,
        &[
            "--input-raw-track-response",
            "--input-raw-vlan",
            "--input-raw-vlan-vid",
            "7",
        ],
    );
    assert!(records(&ran.stdout).is_empty());
}

#[test]
fn linux_cooked_captures_are_read() {
    let mut conv = Conversation::v4(51_000, 80);
    let segs = exchange(&mut conv);
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Sll),
        &["--input-raw-track-response"],
    );
    assert_exchange(&records(&ran.stdout));
}

#[test]
fn reordered_retransmitted_and_overlapping_segments_give_exact_messages() {
    let mut conv = Conversation::v4(51_000, 80);
    let mut segs = conv.handshake();
    let mut post = conv.send(true, POST, 13);
    post.reverse();
    let mut overlap = post[2].clone();
    overlap.payload.extend_from_slice(&post[1].payload);
    post.insert(0, overlap);
    post.push(post[3].clone());
    segs.extend(post);
    segs.extend(conv.send(false, OK, 5));
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Ethernet),
        &["--input-raw-track-response"],
    );
    let recs = records(&ran.stdout);
    let got: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.0, &r.2[..])).collect();
    assert_eq!(got, vec![(b'1', POST), (b'2', OK)]);
}

#[test]
fn only_the_captured_port_is_emitted() {
    let mut a = Conversation::v4(51_000, 80);
    let mut b = Conversation::v4(51_001, 9090);
    let mut pcap = Pcap::new(1);
    for s in a.client(GET) {
        pcap.record(s.ts, &a.frame(&s, Link::Ethernet));
    }
    for s in b.client(POST) {
        pcap.record(s.ts, &b.frame(&s, Link::Ethernet));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.pcap");
    pcap.write(&path);
    let addr = format!("{}:9090", path.display());
    let ran = run_gor(
        &["--input-raw", &addr, "--output-stdout"],
        Duration::from_secs(20),
    );
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 1, "{}", ran.stderr);
    assert_eq!(recs[0].2, POST);
}

#[test]
fn multi_megabyte_upload_is_intact() {
    let body: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut req = format!(
        "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut conv = Conversation::v4(51_000, 80);
    let mut segs = conv.handshake();
    segs.extend(conv.send(true, &req, 65_000));
    let ran = run_pcap(&pcap_of(&conv, &segs, Link::Ethernet), &[]);
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 1);
    assert!(recs[0].2 == req, "body differs ({} bytes)", recs[0].2.len());
}

#[test]
fn pipelined_requests_are_each_emitted_with_their_own_response() {
    let mut conv = Conversation::v4(51_000, 80);
    let mut segs = conv.handshake();
    segs.extend(conv.client(&[GET, POST, GET].concat()));
    segs.extend(conv.server(&[OK, CREATED, OK].concat()));
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Ethernet),
        &["--input-raw-track-response"],
    );
    let recs = records(&ran.stdout);
    let reqs: Vec<_> = recs.iter().filter(|r| r.0 == b'1').collect();
    let resps: Vec<_> = recs.iter().filter(|r| r.0 == b'2').collect();
    assert_eq!(
        reqs.iter().map(|r| &r.2[..]).collect::<Vec<_>>(),
        vec![GET, POST, GET]
    );
    assert_eq!(
        resps.iter().map(|r| &r.2[..]).collect::<Vec<_>>(),
        vec![OK, CREATED, OK]
    );
    for i in 0..3 {
        assert_eq!(reqs[i].1, resps[i].1);
    }
    assert_ne!(reqs[0].1, reqs[1].1);
    assert_ne!(reqs[1].1, reqs[2].1);
}

#[test]
fn truncated_pcap_file_gives_every_whole_packet_and_exits_cleanly() {
    let mut conv = Conversation::v4(51_000, 80);
    let mut segs = conv.handshake();
    segs.extend(conv.client(GET));
    segs.extend(conv.client(POST));
    let mut pcap = pcap_of(&conv, &segs, Link::Ethernet);
    pcap.bytes.truncate(pcap.bytes.len() - 40);
    let ran = run_pcap(&pcap, &["--input-raw-stats"]);
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].2, GET);
    assert!(
        ran.stderr.contains("truncated_pcap_files=1"),
        "{}",
        ran.stderr
    );
}

#[test]
fn malformed_packets_and_non_http_bytes_are_counted_and_the_rest_flows() {
    let mut conv = Conversation::v4(51_000, 80);
    let mut junk = Conversation::v4(51_002, 80);
    let mut pcap = Pcap::new(1);
    // a frame whose IPv4 header claims more bytes than it carries
    let x = conv.client(b"X")[0].clone();
    let mut broken = conv.frame(&x, Link::Ethernet);
    broken[16] = 0xff;
    broken[17] = 0xff;
    pcap.record(conv.ts, &broken);
    // a frame whose TCP header claims 60 bytes but carries 21
    let mut short_tcp = conv.frame(&x, Link::Ethernet);
    short_tcp[46] = 0xf0;
    pcap.record(conv.ts, &short_tcp);
    let mut segs = junk.handshake();
    segs.extend(junk.client(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03binary tls hello"));
    for s in &segs {
        pcap.record(s.ts, &junk.frame(s, Link::Ethernet));
    }
    conv.client_port = 51_001;
    let mut segs = conv.handshake();
    segs.extend(conv.client(GET));
    for s in &segs {
        pcap.record(s.ts, &conv.frame(s, Link::Ethernet));
    }
    let ran = run_pcap(&pcap, &["--input-raw-stats"]);
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 1, "{}", ran.stderr);
    assert_eq!(recs[0].2, GET);
    assert!(ran.stderr.contains("malformed_packets=2"), "{}", ran.stderr);
    assert!(ran.stderr.contains("not_http=1"), "{}", ran.stderr);
}

#[test]
fn unfinished_request_is_dropped_or_emitted_with_allow_incomplete() {
    let mut conv = Conversation::v4(51_000, 80);
    let mut segs = conv.handshake();
    segs.extend(conv.client(&POST[..POST.len() - 5]));
    let pcap = pcap_of(&conv, &segs, Link::Ethernet);
    let ran = run_pcap(&pcap, &["--input-raw-stats"]);
    assert!(records(&ran.stdout).is_empty());
    assert!(
        ran.stderr.contains("incomplete_messages=1"),
        "{}",
        ran.stderr
    );
    let ran = run_pcap(&pcap, &["--input-raw-allow-incomplete"]);
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].2, &POST[..POST.len() - 5]);
}

#[test]
fn realip_header_is_added_to_requests() {
    let mut conv = Conversation::v4(51_000, 80);
    let mut segs = conv.handshake();
    segs.extend(conv.client(GET));
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Ethernet),
        &["--input-raw-realip-header", "X-Real-IP"],
    );
    let recs = records(&ran.stdout);
    assert_eq!(
        recs[0].2,
        b"GET /search?q=gor&lang=en HTTP/1.1\r\nX-Real-IP: 192.168.1.20\r\nHost: shop.example\r\nAccept: */*\r\n\r\n"
    );
}

#[test]
fn binary_protocol_emits_each_turn() {
    let mut conv = Conversation::v4(51_000, 6379);
    let mut segs = conv.handshake();
    segs.extend(conv.client(b"*1\r\n$4\r\nPING\r\n"));
    segs.extend(conv.server(b"+PONG\r\n"));
    let ran = run_pcap(
        &pcap_of(&conv, &segs, Link::Ethernet),
        &[
            "--input-raw-protocol",
            "binary",
            "--input-raw-track-response",
        ],
    );
    let recs = records(&ran.stdout);
    let got: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.0, &r.2[..])).collect();
    assert_eq!(
        got,
        vec![(b'1', &b"*1\r\n$4\r\nPING\r\n"[..]), (b'2', b"+PONG\r\n")]
    );
    assert_eq!(recs[0].1, recs[1].1);
}

#[test]
fn bad_engine_protocol_and_address_are_one_line_usage_errors() {
    for (args, want) in [
        (
            vec!["--input-raw", ":80", "--input-raw-engine", "nope"],
            "invalid engine nope",
        ),
        (
            vec!["--input-raw", ":80", "--input-raw-protocol", "smtp"],
            "unsupported protocol smtp",
        ),
        (vec!["--input-raw", "eth0"], "missing port"),
        (vec!["--input-raw", ":http"], "parsing port error"),
    ] {
        let mut a = args.clone();
        a.push("--output-stdout");
        let ran = run_gor(&a, Duration::from_secs(10));
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(want), "{args:?}: {}", ran.stderr);
    }
}
