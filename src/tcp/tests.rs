//! The reassembler fed with crafted segments: every way TCP can cut,
//! reorder, repeat or wrap a conversation, and every HTTP framing rule.

use super::*;
use crate::message::Message;
use crate::tcp::framing;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A captured segment that owns its payload, before addresses are put on it.
#[derive(Clone, Debug)]
pub(super) struct Seg {
    pub(super) from_client: bool,
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) syn: bool,
    pub(super) fin: bool,
    pub(super) rst: bool,
    pub(super) payload: Vec<u8>,
    pub(super) ts: i64,
}

/// (source, destination, source port, destination port) of a segment
/// between `client:client_port` and `server:80`.
pub(super) fn endpoints(
    from_client: bool,
    client: IpAddr,
    server: IpAddr,
    client_port: u16,
) -> (IpAddr, IpAddr, u16, u16) {
    if from_client {
        (client, server, client_port, 80)
    } else {
        (server, client, 80, client_port)
    }
}

impl Seg {
    /// The segment as the reassembler sees it, between `client:client_port`
    /// and `server:80`.
    pub(super) fn segment(&self, client: IpAddr, server: IpAddr, client_port: u16) -> Segment<'_> {
        let (src, dst, src_port, dst_port) =
            endpoints(self.from_client, client, server, client_port);
        Segment {
            src,
            dst,
            src_port,
            dst_port,
            seq: self.seq,
            ack: self.ack,
            syn: self.syn,
            ack_flag: !self.syn || !self.from_client,
            fin: self.fin,
            rst: self.rst,
            payload: &self.payload,
            ts_ns: self.ts,
        }
    }
}

/// One simulated TCP conversation between a client and a server on port 80.
struct Wire {
    client: IpAddr,
    server: IpAddr,
    client_port: u16,
    client_seq: u32,
    server_seq: u32,
    ts: i64,
}

impl Wire {
    fn new() -> Self {
        Self::with_seqs(1_000, 50_000)
    }

    fn with_seqs(client_seq: u32, server_seq: u32) -> Self {
        Wire {
            client: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            server: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            client_port: 40_000,
            client_seq,
            server_seq,
            ts: 1_000_000_000,
        }
    }

    fn tick(&mut self) -> i64 {
        self.ts += 1_000_000;
        self.ts
    }

    /// The three-way handshake.
    fn handshake(&mut self) -> Vec<Seg> {
        let a = Seg {
            from_client: true,
            seq: self.client_seq.wrapping_sub(1),
            ack: 0,
            syn: true,
            fin: false,
            rst: false,
            payload: vec![],
            ts: self.tick(),
        };
        let b = Seg {
            from_client: false,
            seq: self.server_seq.wrapping_sub(1),
            ack: self.client_seq,
            syn: true,
            fin: false,
            rst: false,
            payload: vec![],
            ts: self.tick(),
        };
        vec![a, b]
    }

    /// `bytes` sent by one side in segments of at most `mss` bytes.
    fn send(&mut self, from_client: bool, bytes: &[u8], mss: usize) -> Vec<Seg> {
        let mut segs = Vec::new();
        for chunk in bytes.chunks(mss.max(1)) {
            let (seq, ack) = if from_client {
                (self.client_seq, self.server_seq)
            } else {
                (self.server_seq, self.client_seq)
            };
            let ts = self.tick();
            segs.push(Seg {
                from_client,
                seq,
                ack,
                syn: false,
                fin: false,
                rst: false,
                payload: chunk.to_vec(),
                ts,
            });
            if from_client {
                self.client_seq = self.client_seq.wrapping_add(chunk.len() as u32);
            } else {
                self.server_seq = self.server_seq.wrapping_add(chunk.len() as u32);
            }
        }
        segs
    }

    fn client(&mut self, bytes: &[u8]) -> Vec<Seg> {
        self.send(true, bytes, 1460)
    }

    fn server(&mut self, bytes: &[u8]) -> Vec<Seg> {
        self.send(false, bytes, 1460)
    }

    fn fin(&mut self, from_client: bool) -> Seg {
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
            rst: false,
            payload: vec![],
            ts: self.tick(),
        }
    }
}

fn feed_on(r: &mut Reassembler, wire: &Wire, segs: &[Seg]) -> Vec<Message> {
    let mut out = Vec::new();
    for s in segs {
        let seg = s.segment(wire.client, wire.server, wire.client_port);
        r.push(&seg, &mut |m| out.push(m));
    }
    out
}

fn config() -> Config {
    Config {
        ports: vec![80],
        track_response: true,
        ..Config::default()
    }
}

fn feed(wire: &Wire, segs: &[Seg]) -> Vec<Message> {
    let mut r = Reassembler::new(config());
    feed_on(&mut r, wire, segs)
}

fn kinds_and_data(msgs: &[Message]) -> Vec<(u8, Vec<u8>)> {
    msgs.iter().map(|m| (m.meta[0], m.data.to_vec())).collect()
}

const GET: &[u8] =
    b"GET /search?q=rust&page=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const POST: &[u8] =
    b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"name\":\"gor\",\"ok\":1}\r\n";

#[test]
fn request_and_response_are_emitted_with_the_same_id() {
    let mut w = Wire::new();
    let mut segs = w.handshake();
    segs.extend(w.client(GET));
    segs.extend(w.server(OK));
    let msgs = feed(&w, &segs);
    assert_eq!(
        kinds_and_data(&msgs),
        vec![(b'1', GET.to_vec()), (b'2', OK.to_vec())]
    );
    assert_eq!(msgs[0].id(), msgs[1].id());
    let id = String::from_utf8(msgs[0].id().to_vec()).unwrap();
    // client port 40000, server port 80, client 10.0.0.7, ACK 50000
    assert_eq!(id, format!("9c400050{}{:08x}", "0a000007", 50_000));
}

#[test]
fn message_is_emitted_the_moment_it_completes() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let segs = w.send(true, POST, 40);
    let (last, first) = segs.split_last().unwrap();
    assert!(feed_on(&mut r, &w, first).is_empty());
    let msgs = feed_on(&mut r, &w, std::slice::from_ref(last));
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn request_split_at_every_byte_offset_is_one_message() {
    for cut in 1..POST.len() {
        let mut w = Wire::new();
        let mut segs = w.send(true, &POST[..cut], 10_000);
        segs.extend(w.send(true, &POST[cut..], 10_000));
        let msgs = feed(&w, &segs);
        assert_eq!(
            kinds_and_data(&msgs),
            vec![(b'1', POST.to_vec())],
            "cut at {cut}"
        );
    }
}

#[test]
fn one_byte_segments_make_one_message() {
    let mut w = Wire::new();
    let segs = w.send(true, POST, 1);
    let msgs = feed(&w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn reordered_segments_are_put_back_in_sequence_order() {
    let mut w = Wire::new();
    let mut segs = w.handshake();
    let mut body = w.send(true, POST, 17);
    body.reverse();
    segs.extend(body);
    let msgs = feed(&w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn body_before_request_line_without_handshake_still_assembles() {
    // Capture started mid-connection and the first segment seen is the
    // second one of the request.
    let mut w = Wire::new();
    let mut segs = w.send(true, POST, 40);
    segs.swap(0, 1);
    let msgs = feed(&w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn retransmitted_segments_are_not_duplicated() {
    let mut w = Wire::new();
    let segs = w.send(true, POST, 20);
    let mut with_dups = Vec::new();
    for s in &segs {
        with_dups.push(s.clone());
        with_dups.push(s.clone());
    }
    let msgs = feed(&w, &with_dups);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn overlapping_retransmission_with_more_data_adds_only_new_bytes() {
    let mut w = Wire::new();
    let segs = w.send(true, POST, 30);
    // a retransmission that covers segments 1 and 2 and half of 3
    let mut merged = segs[1].clone();
    merged.payload = POST[30..75].to_vec();
    let mut order = vec![segs[0].clone(), segs[1].clone(), merged];
    order.extend(segs[2..].iter().cloned());
    let msgs = feed(&w, &order);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn gap_prevents_completion_until_filled() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let segs = w.send(true, POST, 30);
    let missing = segs[1].clone();
    let mut rest = segs.clone();
    rest.remove(1);
    assert!(feed_on(&mut r, &w, &rest).is_empty());
    let msgs = feed_on(&mut r, &w, &[missing]);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn sequence_numbers_wrapping_past_zero_are_handled() {
    let mut w = Wire::with_seqs(u32::MAX - 40, u32::MAX - 3);
    let mut segs = w.handshake();
    segs.extend(w.send(true, POST, 16));
    segs.extend(w.send(false, OK, 7));
    let msgs = feed(&w, &segs);
    assert_eq!(
        kinds_and_data(&msgs),
        vec![(b'1', POST.to_vec()), (b'2', OK.to_vec())]
    );
    assert_eq!(msgs[0].id(), msgs[1].id());
}

#[test]
fn keep_alive_exchanges_get_distinct_paired_ids() {
    let mut w = Wire::new();
    let mut segs = w.handshake();
    for _ in 0..3 {
        segs.extend(w.client(GET));
        segs.extend(w.server(OK));
    }
    let msgs = feed(&w, &segs);
    assert_eq!(msgs.len(), 6);
    let ids: Vec<_> = msgs.iter().map(|m| m.id().to_vec()).collect();
    for pair in ids.chunks(2) {
        assert_eq!(pair[0], pair[1]);
    }
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[4]);
}

#[test]
fn pipelined_requests_are_each_emitted_and_paired_with_their_own_response() {
    let mut w = Wire::new();
    let mut segs = w.handshake();
    let two = [
        GET,
        POST,
        b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n".as_slice(),
    ]
    .concat();
    segs.extend(w.client(&two));
    let r1 = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
    let r2 = b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\ntwo";
    let r3 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nthree";
    segs.extend(w.server(&[&r1[..], &r2[..], &r3[..]].concat()));
    let msgs = feed(&w, &segs);
    assert_eq!(msgs.len(), 6);
    let reqs: Vec<_> = msgs.iter().filter(|m| m.is_request()).collect();
    let resps: Vec<_> = msgs.iter().filter(|m| !m.is_request()).collect();
    assert_eq!(&reqs[1].data[..], POST);
    assert_eq!(&resps[1].data[..], &r2[..]);
    for i in 0..3 {
        assert_eq!(reqs[i].id(), resps[i].id(), "pair {i}");
        assert_eq!(reqs[i].id().len(), 24);
    }
    assert_ne!(reqs[0].id(), reqs[1].id());
    assert_ne!(reqs[1].id(), reqs[2].id());
}

#[test]
fn chunked_body_with_segment_boundary_inside_crlf_is_one_message() {
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n7\r\nNetwork\r\n0\r\n\r\n";
    // between the "\r" and the "\n" after "Wiki"
    let crlf_inside = framing::find(resp, b"Wiki").unwrap() + 5;
    assert_eq!(&resp[crlf_inside - 1..=crlf_inside], b"\r\n");
    for cut in [crlf_inside, resp.len() - 1, resp.len() - 3, 10] {
        let mut w = Wire::new();
        let mut segs = w.client(GET);
        segs.extend(w.send(false, &resp[..cut], 10_000));
        segs.extend(w.send(false, &resp[cut..], 10_000));
        let msgs = feed(&w, &segs);
        assert_eq!(
            kinds_and_data(&msgs),
            vec![(b'1', GET.to_vec()), (b'2', resp.to_vec())],
            "cut at {cut}"
        );
    }
}

#[test]
fn chunked_upload_split_everywhere_is_one_message() {
    let req = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n \r\n0\r\nTrailer-A: 1\r\n\r\n";
    for cut in 1..req.len() {
        let mut w = Wire::new();
        let mut segs = w.send(true, &req[..cut], 10_000);
        segs.extend(w.send(true, &req[cut..], 10_000));
        let msgs = feed(&w, &segs);
        assert_eq!(
            kinds_and_data(&msgs),
            vec![(b'1', req.to_vec())],
            "cut at {cut}"
        );
    }
}

#[test]
fn head_response_with_content_length_has_no_body() {
    let mut w = Wire::new();
    let mut segs = w.client(b"HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n");
    let head_resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
    segs.extend(w.server(head_resp));
    segs.extend(w.client(GET));
    segs.extend(w.server(OK));
    let msgs = feed(&w, &segs);
    assert_eq!(msgs.len(), 4);
    assert_eq!(&msgs[1].data[..], head_resp);
    assert_eq!(&msgs[3].data[..], OK);
    assert_eq!(msgs[2].id(), msgs[3].id());
}

#[test]
fn no_body_statuses_complete_without_a_body() {
    for status in [
        &b"204 No Content"[..],
        b"304 Not Modified",
        b"103 Early Hints",
    ] {
        let mut w = Wire::new();
        let mut segs = w.client(GET);
        let resp = [&b"HTTP/1.1 "[..], status, b"\r\nContent-Length: 10\r\n\r\n"].concat();
        segs.extend(w.server(&resp));
        let msgs = feed(&w, &segs);
        assert_eq!(msgs.len(), 2, "{}", String::from_utf8_lossy(status));
        assert_eq!(&msgs[1].data[..], &resp[..]);
    }
}

#[test]
fn expect_continue_upload_is_one_request_paired_with_the_final_response() {
    let mut w = Wire::new();
    let mut segs = w.handshake();
    let head = b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n";
    segs.extend(w.client(head));
    // any interim reason phrase
    segs.extend(w.server(b"HTTP/1.1 100 Go Ahead Please\r\n\r\n"));
    segs.extend(w.client(b"abcdef"));
    segs.extend(w.server(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
    let msgs = feed(&w, &segs);
    let reqs: Vec<_> = msgs.iter().filter(|m| m.is_request()).collect();
    let resps: Vec<_> = msgs.iter().filter(|m| !m.is_request()).collect();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        &reqs[0].data[..],
        b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabcdef"
    );
    assert_eq!(resps.len(), 2);
    assert!(resps[1].data.starts_with(b"HTTP/1.1 201"));
    assert_eq!(reqs[0].id(), resps[1].id());
    assert_eq!(reqs[0].id(), resps[0].id());
}

#[test]
fn close_delimited_response_completes_at_fin() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let mut segs = w.handshake();
    segs.extend(w.client(b"GET /old HTTP/1.0\r\n\r\n"));
    let resp = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    segs.extend(w.server(resp));
    let msgs = feed_on(&mut r, &w, &segs);
    assert_eq!(msgs.len(), 1, "response waits for the close");
    let fin = w.fin(false);
    let msgs = feed_on(&mut r, &w, &[fin]);
    assert_eq!(kinds_and_data(&msgs), vec![(b'2', resp.to_vec())]);
}

#[test]
fn multi_megabyte_body_in_jumbo_segments_is_intact() {
    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let req = [
        format!(
            "PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        &body,
    ]
    .concat();
    let mut w = Wire::new();
    let segs = w.send(true, &req, 65_483);
    let msgs = feed(&w, &segs);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data.len(), req.len());
    assert!(msgs[0].data[..] == req[..]);
}

#[test]
fn unfinished_message_is_dropped_at_expiry_and_counted() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let before = r.counters().incomplete.get();
    let segs = w.send(true, &POST[..POST.len() - 4], 1460);
    assert!(feed_on(&mut r, &w, &segs).is_empty());
    let mut out = Vec::new();
    r.expire(w.ts + 1_000_000, &mut |m| out.push(m));
    assert!(out.is_empty(), "not idle long enough yet");
    r.expire(w.ts + 3_000_000_000, &mut |m| out.push(m));
    assert!(out.is_empty());
    assert!(r.counters().incomplete.get() > before);
    assert_eq!(r.connections(), 0);
}

#[test]
fn unfinished_message_is_emitted_at_expiry_with_allow_incomplete() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(Config {
        allow_incomplete: true,
        ..config()
    });
    let segs = w.send(true, &POST[..POST.len() - 4], 1460);
    feed_on(&mut r, &w, &segs);
    let mut out = Vec::new();
    r.expire(w.ts + 3_000_000_000, &mut |m| out.push(m));
    assert_eq!(
        kinds_and_data(&out),
        vec![(b'1', POST[..POST.len() - 4].to_vec())]
    );
}

#[test]
fn binary_protocol_emits_one_message_per_turn() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(Config {
        protocol: Protocol::Binary,
        ..config()
    });
    let blob: Vec<u8> = (0..10 * 63 * 1024).map(|i| (i % 7) as u8 + 1).collect();
    let mut segs = w.send(true, &blob, 63 * 1024);
    segs.extend(w.server(b"\x01\x02reply"));
    let msgs = feed_on(&mut r, &w, &segs);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].data.len(), 645_120);
    let mut out = Vec::new();
    r.expire(w.ts + 3_000_000_000, &mut |m| out.push(m));
    assert_eq!(
        kinds_and_data(&out),
        vec![(b'2', b"\x01\x02reply".to_vec())]
    );
    assert_eq!(msgs[0].id(), out[0].id());
}

#[test]
fn non_http_bytes_are_skipped_and_http_after_them_flows() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let mut segs = w.handshake();
    segs.extend(w.client(b"\x16\x03\x01\x00\xa5garbage that is not http\r\n\r\n"));
    segs.extend(w.client(GET));
    let msgs = feed_on(&mut r, &w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', GET.to_vec())]);
    assert_eq!(r.not_http_streams(), 1);
}

#[test]
fn capture_started_mid_body_resumes_at_the_next_request() {
    let mut w = Wire::new();
    let _unseen = w.client(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
    let mut segs = w.client(b"56789");
    segs.extend(w.client(GET));
    let msgs = feed(&w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', GET.to_vec())]);
}

#[test]
fn realip_header_is_set_on_requests_only() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(Config {
        realip_header: Some(b"X-Real-IP".to_vec()),
        ..config()
    });
    let mut segs = w.client(GET);
    segs.extend(w.server(OK));
    let msgs = feed_on(&mut r, &w, &segs);
    assert_eq!(
        &msgs[0].data[..],
        b"GET /search?q=rust&page=2 HTTP/1.1\r\nX-Real-IP: 10.0.0.7\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    );
    assert_eq!(&msgs[1].data[..], OK);
}

#[test]
fn responses_are_not_emitted_without_track_response() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(Config {
        track_response: false,
        ..config()
    });
    let mut segs = w.client(GET);
    segs.extend(w.server(OK));
    segs.extend(w.client(GET));
    let msgs = feed_on(&mut r, &w, &segs);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(Message::is_request));
    assert_ne!(msgs[0].id(), msgs[1].id());
}

#[test]
fn ipv6_client_id_uses_last_four_address_bytes() {
    let mut w = Wire::new();
    w.client = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0xc0a8, 0x0102));
    w.server = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut segs = w.client(GET);
    segs.extend(w.server(OK));
    let msgs = feed(&w, &segs);
    assert_eq!(msgs.len(), 2);
    assert_eq!(&msgs[0].id()[8..16], b"c0a80102");
    assert_eq!(msgs[0].id(), msgs[1].id());
}

#[test]
fn timestamp_is_first_packet_and_latency_spans_to_the_last() {
    let mut w = Wire::new();
    let segs = w.send(true, POST, 40);
    let first = segs[0].ts;
    let last = segs.last().unwrap().ts;
    let msgs = feed(&w, &segs);
    assert_eq!(msgs[0].timestamp(), first);
    assert_eq!(msgs[0].latency(), Some(last - first));
}

#[test]
fn interleaved_connections_do_not_mix() {
    let mut a = Wire::new();
    let mut b = Wire::new();
    b.client_port = 40_001;
    let sa = a.send(true, POST, 20);
    let sb = b.send(true, GET, 20);
    let mut r = Reassembler::new(config());
    let mut msgs = Vec::new();
    for i in 0..sa.len().max(sb.len()) {
        if let Some(s) = sa.get(i) {
            msgs.extend(feed_on(&mut r, &a, std::slice::from_ref(s)));
        }
        if let Some(s) = sb.get(i) {
            msgs.extend(feed_on(&mut r, &b, std::slice::from_ref(s)));
        }
    }
    let mut data: Vec<_> = msgs.iter().map(|m| m.data.to_vec()).collect();
    data.sort();
    let mut want = vec![GET.to_vec(), POST.to_vec()];
    want.sort();
    assert_eq!(data, want);
}

#[test]
fn connection_is_forgotten_after_both_sides_close() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let mut segs = w.handshake();
    segs.extend(w.client(GET));
    segs.extend(w.server(OK));
    segs.push(w.fin(true));
    segs.push(w.fin(false));
    assert_eq!(feed_on(&mut r, &w, &segs).len(), 2);
    assert_eq!(r.connections(), 0);
}

#[test]
fn webdav_method_is_a_request() {
    let mut w = Wire::new();
    let req = b"PROPFIND /dav HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n";
    let segs = w.client(req);
    let msgs = feed(&w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', req.to_vec())]);
}

#[test]
fn a_segment_the_capture_missed_loses_only_its_own_message() {
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let before = r.counters().lost.get();
    let mut segs = w.handshake();
    segs.extend(w.client(GET));
    segs.extend(w.server(OK));
    let _missed = w.client(POST);
    segs.extend(w.server(OK));
    let third = b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n";
    segs.extend(w.client(third));
    segs.extend(w.server(OK));
    let mut msgs = feed_on(&mut r, &w, &segs);
    r.expire(w.ts + 400_000_000, &mut |m| msgs.push(m));
    let reqs: Vec<_> = msgs.iter().filter(|m| m.is_request()).collect();
    let resps: Vec<_> = msgs.iter().filter(|m| !m.is_request()).collect();
    assert_eq!(reqs.len(), 2);
    assert_eq!(&reqs[0].data[..], GET);
    assert_eq!(&reqs[1].data[..], third);
    assert_eq!(resps.len(), 3);
    assert_eq!(reqs[0].id(), resps[0].id());
    assert_eq!(reqs[1].id(), resps[2].id(), "pairing survives the loss");
    assert!(r.counters().lost.get() > before);
}

#[test]
fn a_lost_response_does_not_shift_the_pairing_of_later_ones() {
    let mut w = Wire::new();
    let mut segs = w.handshake();
    segs.extend(w.client(GET));
    let _missed = w.server(OK);
    segs.extend(w.client(POST));
    segs.extend(w.server(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
    let mut r = Reassembler::new(config());
    let mut msgs = feed_on(&mut r, &w, &segs);
    r.expire(w.ts + 400_000_000, &mut |m| msgs.push(m));
    let reqs: Vec<_> = msgs.iter().filter(|m| m.is_request()).collect();
    let resps: Vec<_> = msgs.iter().filter(|m| !m.is_request()).collect();
    assert_eq!(resps.len(), 1);
    assert_eq!(resps[0].id(), reqs[1].id());
}

#[test]
fn header_line_is_the_one_message_rs_writes() {
    for (ts, lat) in [
        (0i64, 0i64),
        (1_700_000_000_123_456_789, 42),
        (5, -1),
        (i64::MAX, i64::MIN),
    ] {
        let id = [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 0xff, 0x10, 0x0a, 0x7f];
        let ours = super::reassembler::tests_meta_line(
            crate::message::PayloadType::Response,
            &id,
            ts,
            lat,
        );
        let theirs = crate::message::header_line(
            crate::message::PayloadType::Response,
            &crate::message::hex_id(&id),
            ts,
            lat,
        );
        assert_eq!(&ours[..], theirs.as_bytes());
    }
}

#[test]
fn bytes_after_connect_or_upgrade_are_a_tunnel_not_junk() {
    for (req, resp) in [
        (
            &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"[..],
            &b"HTTP/1.1 200 Connection Established\r\n\r\n"[..],
        ),
        (
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        ),
    ] {
        let mut w = Wire::new();
        let mut r = Reassembler::new(config());
        let mut segs = w.handshake();
        segs.extend(w.client(req));
        segs.extend(w.server(resp));
        segs.extend(w.client(b"\x16\x03\x01 tls or websocket frames"));
        segs.extend(w.server(b"\x16\x03\x03 more binary"));
        let msgs = feed_on(&mut r, &w, &segs);
        assert_eq!(
            kinds_and_data(&msgs),
            vec![(b'1', req.to_vec()), (b'2', resp.to_vec())]
        );
        assert_eq!(r.not_http_streams(), 0);
    }
}

#[test]
fn a_repeated_syn_does_not_lose_data_already_held() {
    let mut w = Wire::new();
    let hs = w.handshake();
    let mut segs = hs.clone();
    let body = w.send(true, POST, 30);
    segs.push(body[0].clone());
    segs.push(hs[1].clone()); // SYN-ACK seen again
    segs.push(hs[0].clone()); // SYN seen again
    segs.extend(body[1..].iter().cloned());
    let msgs = feed(&w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', POST.to_vec())]);
}

#[test]
fn unframeable_requests_are_dropped_once_and_the_connection_goes_on() {
    let conflicting: &[u8] =
        b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    let te_not_chunked: &[u8] =
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let repeated: &[u8] =
        b"POST /c HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc";
    let te_and_cl: &[u8] =
        b"POST /d HTTP/1.1\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let mut w = Wire::new();
    let mut r = Reassembler::new(config());
    let mut segs = Vec::new();
    for req in [conflicting, te_not_chunked, repeated, te_and_cl] {
        // Each on its own connection, only the client's side seen.
        w.client_port += 1;
        let mut hs = w.handshake();
        hs.truncate(1);
        let sent = w.client(req);
        hs.extend(sent.iter().cloned());
        // Loopback capture may see a segment twice.
        hs.extend(sent);
        hs.push(w.fin(true));
        segs.push((w.client_port, hs));
    }
    let before = r.counters().unframeable.get();
    let mut msgs = Vec::new();
    for (port, s) in segs {
        w.client_port = port;
        msgs.extend(feed_on(&mut r, &w, &s));
    }
    // Counted once each (other tests may count at the same time).
    let counted = r.counters().unframeable.get() - before;
    assert!((2..4).contains(&counted), "{counted}");
    assert_eq!(
        kinds_and_data(&msgs),
        vec![(b'1', repeated.to_vec()), (b'1', te_and_cl.to_vec())]
    );
    // On a kept-alive connection, the next message is captured.
    w.client_port += 1;
    let mut segs = w.handshake();
    segs.extend(w.client(conflicting));
    segs.extend(w.client(repeated));
    let msgs = feed_on(&mut r, &w, &segs);
    assert_eq!(kinds_and_data(&msgs), vec![(b'1', repeated.to_vec())]);
    // A response whose lengths differ is dropped; one whose
    // Transfer-Encoding does not end in chunked runs to the close.
    let mut w = Wire::with_seqs(7_000, 90_000);
    let mut r = Reassembler::new(config());
    let mut segs = w.handshake();
    segs.extend(w.client(GET));
    segs.extend(w.server(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"));
    segs.extend(w.client(GET));
    segs.extend(w.server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz"));
    segs.push(w.fin(false));
    let msgs = feed_on(&mut r, &w, &segs);
    let got = kinds_and_data(&msgs);
    assert_eq!(
        got.iter()
            .filter(|m| m.0 == b'2')
            .cloned()
            .collect::<Vec<_>>(),
        vec![(
            b'2',
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz".to_vec()
        )]
    );
}
