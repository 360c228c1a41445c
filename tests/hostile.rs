//! Live capture under hostile conditions, on loopback and in a network
//! namespace the test creates: a SIGTERM in the middle of full load, a
//! flood of SYNs and half-open connections with random payloads and
//! sequence numbers, and an interface deleted while it is captured.
//! Everything here needs root (CI runs the tests as root).

mod common;

use common::server::{Behaviour, RecordingServer};
use common::{Running, can_capture, counted};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// One value of the `input_raw stats:` line gor prints at exit with
/// `--input-raw-stats`.
fn raw_stat(stderr: &str, name: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("input_raw stats:"))
        .unwrap_or_else(|| panic!("no input_raw stats line:\n{stderr}"));
    counted(line, name)
}

/// Requests (type 1 records) in gor's stdout, by request line.
fn captured_requests(stdout: &[u8]) -> Vec<String> {
    common::records(stdout)
        .into_iter()
        .filter(|(h, _)| h.starts_with("1 "))
        .map(|(_, p)| {
            let end = p.windows(2).position(|w| w == b"\r\n").unwrap_or(p.len());
            String::from_utf8_lossy(&p[..end]).into_owned()
        })
        .collect()
}

/// A keep-alive client sending `GET /load/<client>/<n>` until `stop`;
/// returns how many it had answered.
fn load(port: u16, client: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let Ok(conn) = TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let req = format!("GET /load/{client}/{n} HTTP/1.1\r\nHost: h\r\n\r\n");
            if w.write_all(req.as_bytes()).is_err() {
                break;
            }
            // The test server answers `200 OK` with `Content-Length: 2`.
            let mut line = String::new();
            let mut len = 0;
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return n;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                return n;
            }
            n += 1;
        }
        n
    })
}

fn ok_server() -> RecordingServer {
    RecordingServer::start(Behaviour::Respond(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
    ))
}

/// A server answering `ok`, and gor capturing its port on loopback into
/// stdout with the capture counters at exit, ready.
fn captured_server(extra: &[&str]) -> (RecordingServer, u16, Running) {
    let server = ok_server();
    let port: u16 = server.url().rsplit(':').next().unwrap().parse().unwrap();
    let filter = format!("127.0.0.1:{port}");
    let mut args = vec![
        "--input-raw",
        &filter,
        "--input-raw-stats",
        "--output-stdout",
    ];
    args.extend_from_slice(extra);
    let gor = Running::start(&args);
    gor.wait_for_line("Interface: lo", T);
    (server, port, gor)
}

#[test]
fn sigterm_under_full_capture_load_delivers_every_accepted_message() {
    if !can_capture("sigterm_under_full_capture_load_delivers_every_accepted_message") {
        return;
    }
    let (_server, port, gor) = captured_server(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4).map(|c| load(port, c, stop.clone())).collect();
    // Full load for a while, then the stop in the middle of it.
    gor.wait_until(T, "load captured", |g| {
        captured_requests(&g.stdout_so_far()).len() > 2_000
    });
    gor.signal(libc::SIGTERM);
    let done = gor.wait(T);
    stop.store(true, Ordering::Relaxed);
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    let got = captured_requests(&done.stdout);
    let accepted = raw_stat(&done.stderr, "requests") - raw_stat(&done.stderr, "queue_full");
    assert!(
        got.len() > 2_000 && answered >= got.len(),
        "{} of {answered}",
        got.len()
    );
    assert_eq!(
        got.len() as u64,
        accepted,
        "every request the capture accepted is in the output\n{}",
        done.stderr
    );
    let unique: std::collections::HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a request was emitted twice");
}

/// An IPv4 + TCP packet from `src:sport` to 127.0.0.1:`dport`. The TCP
/// checksum is left wrong on purpose: the kernel's TCP drops the packet
/// (no answers, no resets), while a capture sees it as it was sent.
fn packet(src: [u8; 4], sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 20 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&[127, 0, 0, 1]);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0xde, 0xad, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// Sends `count` hostile packets to 127.0.0.1:`port` through a raw socket:
/// SYNs, and data with random sequence numbers that opens requests whose
/// bodies never come, from random sources.
fn flood(port: u16, count: usize, seed: u64) {
    // SAFETY: plain socket(2)/sendto(2) calls on a buffer we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    assert!(fd >= 0, "a raw socket needs root");
    let mut rng = seed | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let dest = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    for i in 0..count {
        let r = next();
        let src = [
            127,
            (r >> 8) as u8 | 1,
            (r >> 16) as u8,
            (r >> 24) as u8 | 1,
        ];
        let sport = 1024 + (r >> 32) as u16 % 60_000;
        let seq = (r >> 16) as u32;
        let mut payload = Vec::new();
        let flags = match i % 3 {
            0 => 0x02, // SYN
            1 => {
                payload.extend_from_slice(
                    b"POST /flood HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n",
                );
                0x18
            }
            _ => {
                let n = (r % 1400) as usize;
                payload.extend((0..n).map(|_| next() as u8));
                0x18
            }
        };
        let p = packet(src, sport, port, seq, flags, &payload);
        // Bursts of 250 every 10 ms (25,000 packets a second per thread):
        // a flood that a capture with a large enough buffer takes in
        // whole, so what is tested is gor, not the kernel's buffer.
        if i % 250 == 249 {
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: `p` and `dest` outlive the call.
        unsafe {
            libc::sendto(
                fd,
                p.as_ptr().cast(),
                p.len(),
                0,
                (&dest as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
        }
    }
    // SAFETY: closing the socket opened above.
    unsafe { libc::close(fd) };
}

#[test]
fn a_syn_and_half_open_flood_stays_bounded_and_real_requests_are_still_captured() {
    if !can_capture("a_syn_and_half_open_flood_stays_bounded_and_real_requests_are_still_captured")
    {
        return;
    }
    // A ring large enough that the kernel drops nothing: what is tested is
    // gor, not the kernel's buffer.
    let (_server, port, gor) = captured_server(&["--input-raw-buffer-size", "128mb"]);
    // 200,000 hostile packets from two threads while 300 real requests go
    // through a real connection.
    let floods: Vec<_> = (0..2)
        .map(|s| std::thread::spawn(move || flood(port, 100_000, 0x9E37_79B9 + s)))
        .collect();
    let real = {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 256];
        for i in 0..300 {
            let req = format!("GET /real/{i} HTTP/1.1\r\nHost: h\r\n\r\n");
            conn.write_all(req.as_bytes()).unwrap();
            let mut got = Vec::new();
            while !got.ends_with(b"ok") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        300
    };
    for f in floods {
        f.join().unwrap();
    }
    gor.wait_until(T, "every real request captured", |g| {
        captured_requests(&g.stdout_so_far())
            .iter()
            .filter(|r| r.starts_with("GET /real/"))
            .count()
            >= real
    });
    let peak = common::peak_rss_kb(gor.pid()).expect("gor's peak RSS");
    let done = gor.finish(T, true);
    let got = captured_requests(&done.stdout);
    for i in 0..real {
        let want = format!("GET /real/{i} HTTP/1.1");
        assert!(got.contains(&want), "{want} was not captured");
    }
    // The flood's half-open requests and random bytes are dropped and
    // counted by reason; none of it is emitted as a request.
    let counted_drops = raw_stat(&done.stderr, "incomplete_messages")
        + raw_stat(&done.stderr, "not_http")
        + raw_stat(&done.stderr, "over_memory_budget");
    assert!(counted_drops > 0, "{}", done.stderr);
    assert!(
        got.iter().all(|r| !r.starts_with("POST /flood")),
        "a request whose body never came was emitted"
    );
    // Far under the reassembler's 1 GiB budget: the flood holds at most
    // about 100,000 half-open connections of up to 1.4 KB each.
    eprintln!("flood: peak RSS {peak} kB (capture ring included)");
    assert!(peak < 512 << 10, "peak RSS {peak} kB\n{}", done.stderr);
}

/// `ip` inside network namespace `ns`.
fn ip(ns: &str, args: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "ip"])
        .args(args.split_whitespace())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip netns exec {ns} ip {args} failed");
}

/// A network namespace for one test, deleted when dropped.
struct Namespace(String);

impl Namespace {
    fn new(tag: &str) -> Namespace {
        let name = format!("gor-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add needs root and iproute2 (CI runs as root)");
        ip(&name, "link set lo up");
        Namespace(name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn an_interface_deleted_during_capture_is_one_line_and_the_others_keep_capturing() {
    if !can_capture("an_interface_deleted_during_capture_is_one_line_and_the_others_keep_capturing")
    {
        return;
    }
    let ns = Namespace::new("ifdel");
    ip(&ns.0, "link add va type veth peer name vb");
    ip(&ns.0, "link set va up");
    ip(&ns.0, "link set vb up");
    // A server and a client inside the namespace, on its loopback.
    let script = r#"
import http.server, threading, urllib.request, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 8081), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
for line in sys.stdin:
    urllib.request.urlopen("http://127.0.0.1:8081/" + line.strip()).read()
    print("done", flush=True)
"#;
    let mut traffic = Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_client = traffic.stdin.take().unwrap();
    let mut from_client = BufReader::new(traffic.stdout.take().unwrap());
    let mut request = |path: &str| {
        writeln!(to_client, "{path}").unwrap();
        let mut line = String::new();
        from_client.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "done");
    };
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.0, common::GOR]).args([
        "--input-raw",
        "va:8081",
        "--input-raw",
        "lo:8081",
        "--output-stdout",
    ]);
    let gor = Running::spawn(cmd);
    gor.wait_for_line("Interface: va", T);
    gor.wait_for_line("Interface: lo", T);
    gor.wait_until(T, "loopback capture running", |g| {
        request("before");
        captured_requests(&g.stdout_so_far())
            .iter()
            .any(|r| r.starts_with("GET /before"))
    });
    ip(&ns.0, "link del va");
    gor.wait_for_line("capture on va stopped", T);
    let started = Instant::now();
    gor.wait_until(T, "capture after the deletion", |g| {
        request("after");
        captured_requests(&g.stdout_so_far())
            .iter()
            .any(|r| r.starts_with("GET /after"))
    });
    assert!(started.elapsed() < Duration::from_secs(20));
    let done = gor.finish(T, true);
    let about_va: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("va") && (l.contains("WARN") || l.contains("ERROR")))
        .collect();
    assert_eq!(about_va.len(), 1, "one line about va:\n{}", done.stderr);
    assert!(about_va[0].contains("disappeared") || about_va[0].contains("down"));
    drop(to_client);
    let _ = traffic.kill();
    let _ = traffic.wait();
}
