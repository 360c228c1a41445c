//! Live capture on loopback: a real client talks to a real server (both
//! written here with std::net) while gor captures with each engine; every
//! request and response must come out exactly once, byte for byte, paired.

#[path = "common/capture.rs"]
mod capture_common;
mod common;

use capture_common::*;
use common::server::{Behaviour, RecordingServer, body, request_line};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// Reads one HTTP message head (up to and including the blank line).
fn read_head(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            return Some(head);
        }
    }
}

fn header(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The answer the test server gives to a request.
fn response_for(method: &str, path: &str, body_len: usize) -> Vec<u8> {
    let body = format!("{method} {path} got {body_len} bytes");
    if method == "HEAD" {
        return format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            body.len() + 1000
        )
        .into_bytes();
    }
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The test server's answer: what it got, as text.
fn answer(req: &[u8]) -> Vec<u8> {
    let line = request_line(req);
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    response_for(method, path, body(req).len())
}

fn start_server_on(addr: &str) -> RecordingServer {
    RecordingServer::start_on(addr, Behaviour::Custom(Arc::new(answer)))
}

fn start_server() -> RecordingServer {
    start_server_on("127.0.0.1:0")
}

/// A client connection that sends raw requests and reads each response.
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn response(&mut self, head_request: bool) -> Vec<u8> {
        let head = read_head(&mut self.r).expect("response");
        let n: usize = header(&head, "Content-Length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; if head_request { 0 } else { n }];
        self.r.read_exact(&mut body).unwrap();
        [head, body].concat()
    }

    fn exchange(&mut self, req: &[u8]) -> Vec<u8> {
        self.w.write_all(req).unwrap();
        self.response(req.starts_with(b"HEAD "))
    }
}

/// What the client sent and got, in order.
struct Sent {
    requests: Vec<Vec<u8>>,
    responses: Vec<Vec<u8>>,
    interim: usize,
}

impl Sent {
    fn send(&mut self, c: &mut Client, req: Vec<u8>) {
        self.responses.push(c.exchange(&req));
        self.requests.push(req);
    }
}

fn drive_traffic(port: u16) -> Sent {
    let host = format!("Host: 127.0.0.1:{port}\r\n");
    let mut sent = Sent {
        requests: Vec::new(),
        responses: Vec::new(),
        interim: 1,
    };
    let mut c = Client::connect(port);
    sent.send(
        &mut c,
        format!("GET /search?q=caf%C3%A9&page=2 HTTP/1.1\r\n{host}Accept: */*\r\n\r\n")
            .into_bytes(),
    );
    let json = br#"{"user":"ana","items":[1,2,3],"note":"hello"}"#;
    sent.send(
        &mut c,
        [
            format!("POST /api/orders HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", json.len()).as_bytes(),
            json,
        ]
        .concat(),
    );
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    sent.send(
        &mut c,
        [
            format!(
                "PUT /files/big.bin HTTP/1.1\r\n{host}Content-Length: {}\r\n\r\n",
                big.len()
            )
            .as_bytes(),
            &big,
        ]
        .concat(),
    );
    sent.send(
        &mut c,
        format!("HEAD /files/big.bin HTTP/1.1\r\n{host}\r\n").into_bytes(),
    );
    // chunked upload written chunk by chunk
    let chunked_head = format!("POST /upload HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n");
    let chunks: [&[u8]; 3] = [b"5\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"];
    c.w.write_all(chunked_head.as_bytes()).unwrap();
    for ch in chunks {
        std::thread::sleep(Duration::from_millis(5));
        c.w.write_all(ch).unwrap();
    }
    sent.responses.push(c.response(false));
    sent.requests
        .push([chunked_head.as_bytes(), &chunks.concat()].concat());
    // 100-continue: the body only after the interim response
    let cont_body = b"expected body";
    let cont_head = format!(
        "PUT /continue HTTP/1.1\r\n{host}Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        cont_body.len()
    );
    c.w.write_all(cont_head.as_bytes()).unwrap();
    let interim = read_head(&mut c.r).unwrap();
    assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.w.write_all(cont_body).unwrap();
    sent.responses.push(c.response(false));
    // gor removes Expect, as GoReplay does
    sent.requests.push(
        [
            format!(
                "PUT /continue HTTP/1.1\r\n{host}Content-Length: {}\r\n\r\n",
                cont_body.len()
            )
            .as_bytes(),
            cont_body,
        ]
        .concat(),
    );
    // 50 keep-alive requests on a second connection
    let mut k = Client::connect(port);
    for i in 0..50 {
        sent.send(
            &mut k,
            format!("GET /item/{i} HTTP/1.1\r\n{host}\r\n").into_bytes(),
        );
    }
    sent
}

fn with_realip(req: &[u8]) -> Vec<u8> {
    let i = req.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    [&req[..i], b"X-Real-IP: 127.0.0.1\r\n", &req[i..]].concat()
}

/// Exchanges `GET /warm-up` until gor has emitted one: the capture runs on
/// the interface that carries the test's traffic.
fn warm_up(gor: &Gor, port: u16) {
    let mut c = Client::connect(port);
    gor.wait_until(Duration::from_secs(15), "a warm-up request captured", |g| {
        c.exchange(b"GET /warm-up HTTP/1.1\r\nHost: x\r\n\r\n");
        records(&g.stdout_so_far())
            .iter()
            .any(|r| r.2.starts_with(b"GET /warm-up"))
    });
}

/// Makes one last exchange, waits until gor has emitted both its records
/// (whatever gor captured before, a duplicate say, has been emitted by
/// then), stops gor and returns its run with the records of the test's own
/// traffic: warm-ups and the last exchange left out.
fn finish_after_last_exchange(gor: Gor, port: u16) -> (Ran, Vec<(u8, String, Vec<u8>)>) {
    Client::connect(port).exchange(b"GET /last-exchange HTTP/1.1\r\nHost: x\r\n\r\n");
    gor.wait_until(Duration::from_secs(20), "the last exchange captured", |g| {
        let recs = records(&g.stdout_so_far());
        recs.iter()
            .find(|r| r.2.starts_with(b"GET /last-exchange"))
            .is_some_and(|req| recs.iter().any(|r| r.0 == b'2' && r.1 == req.1))
    });
    let ran = gor.finish(Duration::from_secs(10), true);
    let recs = records(&ran.stdout);
    // A warm-up's response may be captured without its request (sent before
    // the capture started): its body names the request too.
    let ours = |r: &(u8, String, Vec<u8>)| {
        [&b"GET /warm-up"[..], b"GET /last-exchange"]
            .iter()
            .any(|t| r.2.windows(t.len()).any(|w| w == *t))
    };
    let extra: std::collections::HashSet<String> = recs
        .iter()
        .filter(|r| ours(r))
        .map(|r| r.1.clone())
        .collect();
    let recs = recs
        .into_iter()
        .filter(|r| !extra.contains(&r.1) && !ours(r))
        .collect();
    (ran, recs)
}

fn live_capture_is_exact(engine: &str) {
    let server = start_server();
    let port = server.port;
    let addr = format!("127.0.0.1:{port}");
    let mut gor = Gor::start(&[
        "--input-raw",
        &addr,
        "--input-raw-engine",
        engine,
        "--input-raw-track-response",
        "--input-raw-realip-header",
        "X-Real-IP",
        "--input-raw-expire",
        "1s",
        "--output-stdout",
    ]);
    gor.wait_for("BPF Filter", Duration::from_secs(15));
    let sent = drive_traffic(port);
    let want = sent.requests.len() + sent.responses.len() + sent.interim;
    gor.wait_records(want, Duration::from_secs(20));
    let (ran, recs) = finish_after_last_exchange(gor, port);
    assert_eq!(
        recs.len(),
        want,
        "no duplicates, nothing missing:\n{}",
        ran.stderr
    );
    let reqs: Vec<_> = recs.iter().filter(|r| r.0 == b'1').collect();
    assert_eq!(reqs.len(), sent.requests.len());
    // requests of one connection come in order; the two connections ran one
    // after the other
    for (got, want) in reqs.iter().zip(&sent.requests) {
        assert!(
            got.2 == with_realip(want),
            "request differs:\n{}\n---\n{}",
            String::from_utf8_lossy(&got.2[..got.2.len().min(300)]),
            String::from_utf8_lossy(&want[..want.len().min(300)])
        );
    }
    let mut by_id: HashMap<&str, Vec<&[u8]>> = HashMap::new();
    for r in recs.iter().filter(|r| r.0 == b'2') {
        by_id.entry(&r.1).or_default().push(&r.2);
    }
    for (req, want) in reqs.iter().zip(&sent.responses) {
        let got = by_id
            .get(req.1.as_str())
            .unwrap_or_else(|| panic!("no response for {}", req.1));
        assert_eq!(got.last().unwrap(), &&want[..], "response of {}", req.1);
    }
    let ids: std::collections::HashSet<_> = reqs.iter().map(|r| &r.1).collect();
    assert_eq!(ids.len(), reqs.len(), "every request has its own id");
}

#[test]
fn libpcap_engine_captures_loopback_traffic_exactly_once() {
    if !can_capture("libpcap_engine_captures_loopback_traffic_exactly_once") {
        return;
    }
    live_capture_is_exact("libpcap");
}

#[test]
fn raw_socket_engine_captures_loopback_traffic_exactly_once() {
    if !can_capture("raw_socket_engine_captures_loopback_traffic_exactly_once") {
        return;
    }
    live_capture_is_exact("raw_socket");
}

#[test]
fn without_capture_rights_the_error_names_the_capability() {
    if !can_capture("without_capture_rights_the_error_names_the_capability") {
        return;
    }
    let status = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", GOR])
        .args(["--input-raw", ":80", "--output-stdout"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("CAP_NET_RAW"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{line}"
    );
}

#[test]
fn all_interfaces_capture_emits_each_loopback_request_once() {
    if !can_capture("all_interfaces_capture_emits_each_loopback_request_once") {
        return;
    }
    capture_once_on("");
}

#[test]
fn any_device_capture_emits_each_loopback_request_once() {
    if !can_capture("any_device_capture_emits_each_loopback_request_once") {
        return;
    }
    capture_once_on("any");
}

fn capture_once_on(host: &str) {
    let server = start_server();
    let port = server.port;
    let addr = format!("{host}:{port}");
    let mut gor = Gor::start(&[
        "--input-raw",
        &addr,
        "--input-raw-track-response",
        "--output-stdout",
    ]);
    gor.wait_for("BPF Filter", Duration::from_secs(15));
    // The line is logged per interface, the first before the others open.
    warm_up(&gor, port);
    let mut c = Client::connect(port);
    for i in 0..5 {
        c.exchange(format!("GET /all/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    let (ran, recs) = finish_after_last_exchange(gor, port);
    assert_eq!(recs.len(), 10, "{}", ran.stderr);
    for i in 0..5 {
        let want = format!("GET /all/{i} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(recs.iter().filter(|r| r.2 == want.as_bytes()).count(), 1);
    }
}

#[test]
fn junk_and_unfinished_connections_do_not_stop_the_rest() {
    if !can_capture("junk_and_unfinished_connections_do_not_stop_the_rest") {
        return;
    }
    let server = RecordingServer::start(Behaviour::Silent);
    let port = server.port;
    let addr = format!("127.0.0.1:{port}");
    let mut gor = Gor::start(&[
        "--input-raw",
        &addr,
        "--input-raw-expire",
        "200ms",
        "--input-raw-stats",
        "--output-stdout",
    ]);
    gor.wait_for("BPF Filter", Duration::from_secs(15));
    let mut junk = TcpStream::connect(("127.0.0.1", port)).unwrap();
    junk.write_all(b"\x16\x03\x01\x00\x05hello\x00\x00\xff binary junk\r\n\r\n")
        .unwrap();
    let mut unfinished = TcpStream::connect(("127.0.0.1", port)).unwrap();
    unfinished
        .write_all(b"POST /never HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
        .unwrap();
    let mut good = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n";
    good.write_all(req).unwrap();
    gor.wait_records(1, Duration::from_secs(20));
    // The unfinished one expires: its drop is logged with the counter name.
    gor.wait_for("input_raw.incomplete_messages", Duration::from_secs(10));
    let ran = gor.finish(Duration::from_secs(10), true);
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 1, "{}", ran.stderr);
    assert_eq!(recs[0].2, req);
    assert!(ran.stderr.contains("not_http=1"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("incomplete_messages=1"),
        "{}",
        ran.stderr
    );
    drop((junk, unfinished, good));
}

#[test]
fn ipv6_loopback_requests_are_captured_with_their_responses() {
    if !can_capture("ipv6_loopback_requests_are_captured_with_their_responses") {
        return;
    }
    let server = start_server_on("[::1]:0");
    let port = server.port;
    let addr = format!("[::1]:{port}");
    let mut gor = Gor::start(&[
        "--input-raw",
        &addr,
        "--input-raw-track-response",
        "--input-raw-realip-header",
        "X-Real-IP",
        "--output-stdout",
    ]);
    gor.wait_for("BPF Filter", Duration::from_secs(15));
    let s = TcpStream::connect(("::1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c = Client {
        w: s.try_clone().unwrap(),
        r: BufReader::new(s),
    };
    let req = b"GET /v6?x=1 HTTP/1.1\r\nHost: [::1]\r\n\r\n";
    let resp = c.exchange(req);
    gor.wait_records(2, Duration::from_secs(20));
    let ran = gor.finish(Duration::from_secs(10), true);
    let recs = records(&ran.stdout);
    assert_eq!(recs.len(), 2, "{}", ran.stderr);
    assert_eq!(
        recs[0].2,
        b"GET /v6?x=1 HTTP/1.1\r\nX-Real-IP: ::1\r\nHost: [::1]\r\n\r\n"
    );
    assert_eq!(recs[1].2, resp);
    assert_eq!(recs[0].1, recs[1].1);
}

#[test]
fn captured_traffic_is_saved_to_a_file_that_reads_back_exactly() {
    if !can_capture("captured_traffic_is_saved_to_a_file_that_reads_back_exactly") {
        return;
    }
    let server = start_server();
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.gor");
    let addr = format!("127.0.0.1:{port}");
    let gor = {
        let mut g = Gor::start(&[
            "--input-raw",
            &addr,
            "--input-raw-track-response",
            "--output-file",
            path.to_str().unwrap(),
            "--output-file-append",
            "--output-file-flush-interval",
            "10ms",
        ]);
        g.wait_for("BPF Filter", Duration::from_secs(15));
        g
    };
    let mut c = Client::connect(port);
    let body = vec![b'z'; 200_000];
    let req = [
        format!(
            "POST /save HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        &body,
    ]
    .concat();
    let resp = c.exchange(&req);
    // Flushed every 10 ms: both records reach the file while gor runs.
    wait_until(Duration::from_secs(10), "both records in the file", || {
        records(&std::fs::read(&path).unwrap_or_default()).len() >= 2
    });
    let finished = gor.finish(Duration::from_secs(10), true);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let recs = records(&std::fs::read(&path).unwrap());
    assert_eq!(recs.len(), 2, "{}", finished.stderr);
    assert!(recs[0].2 == req);
    assert_eq!(recs[1].2, resp);
    assert_eq!(recs[0].1, recs[1].1);
}

/// CPU time (user + system) of a process, in clock ticks, every thread.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): utime is the
    // 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A capture waits on its ring when little comes: a lone request every
/// 300 ms (a ring block that never fills) is still emitted at once, each
/// before the next is sent, and a capture that sees nothing costs next to
/// no CPU.
fn sparse_traffic_is_emitted_promptly_and_idle_costs_nothing(engine: &str) {
    let server = start_server();
    let port = server.port;
    let addr = format!("127.0.0.1:{port}");
    let mut gor = Gor::start(&[
        "--input-raw",
        &addr,
        "--input-raw-engine",
        engine,
        "--output-stdout",
    ]);
    gor.wait_for("BPF Filter", Duration::from_secs(15));
    warm_up(&gor, port);
    let before = records(&gor.stdout_so_far()).len();
    let mut c = Client::connect(port);
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        c.exchange(format!("GET /sparse/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        // 20 ms delivery; the rest is room for a loaded machine.
        gor.wait_records(before + i + 1, Duration::from_secs(3));
    }
    drop(c);
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100);
    let t0 = cpu_ticks(gor.pid());
    std::thread::sleep(Duration::from_secs(3));
    let idle = cpu_ticks(gor.pid()) - t0;
    // 0.5 ms a second is usual; a thread that spins would take 3,000 ms.
    assert!(
        idle * 1000 / hz <= 150,
        "{engine}: {} ms of CPU in 3 s without traffic",
        idle * 1000 / hz
    );
    let ran = gor.finish(Duration::from_secs(10), true);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
}

#[test]
fn libpcap_emits_sparse_traffic_promptly_and_idles_cheaply() {
    if !can_capture("libpcap_emits_sparse_traffic_promptly_and_idles_cheaply") {
        return;
    }
    sparse_traffic_is_emitted_promptly_and_idle_costs_nothing("libpcap");
}

#[test]
fn raw_socket_emits_sparse_traffic_promptly_and_idles_cheaply() {
    if !can_capture("raw_socket_emits_sparse_traffic_promptly_and_idles_cheaply") {
        return;
    }
    sparse_traffic_is_emitted_promptly_and_idle_costs_nothing("raw_socket");
}
