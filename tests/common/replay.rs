//! Helpers for the replay tests: `.gor` files written by the test, and raw
//! HTTP servers on 127.0.0.1 that record the exact bytes they receive and
//! answer as told (well, slowly, half-way, with garbage).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SEP: &[u8] = "\n🐵🙈🙉\n".as_bytes();

/// Writes a `.gor` file of type-1 records (spec 4.4).
pub fn write_gor(path: &Path, requests: &[(&str, Vec<u8>)]) {
    let mut out = Vec::new();
    for (i, (id, req)) in requests.iter().enumerate() {
        out.extend_from_slice(
            format!("1 {id} {} 0\n", 1_700_000_000_000_000_000u64 + i as u64).as_bytes(),
        );
        out.extend_from_slice(req);
        out.extend_from_slice(SEP);
    }
    std::fs::write(path, out).expect("writing the .gor file");
}

/// Writes `requests` to a recording in a temporary directory and runs
/// `gor --input-file RECORDING` followed by `args`.
pub fn replay(
    requests: &[(&str, Vec<u8>)],
    args: &[&str],
    deadline: Duration,
) -> crate::common::Finished {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.gor");
    write_gor(&file, requests);
    let mut all = vec!["--input-file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    crate::common::run(&all, deadline)
}

/// A free port on 127.0.0.1 with nothing listening on it.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds the answer to one request.
pub type Responder = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// What the server does with each request it has read.
#[derive(Clone)]
pub enum Behaviour {
    /// Answers with these bytes (a complete response).
    Respond(Vec<u8>),
    /// Answers by calling this with the request.
    Custom(Responder),
    /// Reads the request and never answers.
    Silent,
    /// Sends these bytes (part of a response) and closes.
    CloseAfter(Vec<u8>),
    /// Sends bytes that are not HTTP, then closes.
    Garbage(Vec<u8>),
    /// Sends a head announcing `len` bytes of body and streams them.
    HugeBody(u64),
}

/// A raw HTTP/1.1 server that records every request as received.
pub struct RecordingServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RecordingServer {
    pub fn start(behaviour: Behaviour) -> RecordingServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, s) = (requests.clone(), connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let (r, b, s) = (r.clone(), behaviour.clone(), s.clone());
                        std::thread::spawn(move || serve(stream, r, b, s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        RecordingServer {
            port,
            requests,
            connections,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or the deadline passes).
    pub fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Vec<u8>> {
        let start = Instant::now();
        while self.requests.lock().unwrap().len() < n && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.received()
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    std::str::from_utf8(head)
        .ok()?
        .split("\r\n")
        .skip(1)
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

/// Length of the complete request at the start of `buf`, if it is complete.
pub fn request_len(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = &buf[..head_end];
    if header(head, "Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().ends_with("chunked"))
    {
        let mut pos = head_end;
        loop {
            let line_end = pos + find(&buf[pos..], b"\r\n")?;
            let size_text = std::str::from_utf8(&buf[pos..line_end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                // Trailers until the blank line.
                loop {
                    let e = pos + find(&buf[pos..], b"\r\n")?;
                    let blank = e == pos;
                    pos = e + 2;
                    if blank {
                        return Some(pos);
                    }
                }
            }
            pos += size + 2;
            if pos > buf.len() {
                return None;
            }
        }
    }
    let len: usize = header(head, "Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (buf.len() >= head_end + len).then_some(head_end + len)
}

fn serve(
    mut stream: TcpStream,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    behaviour: Behaviour,
    stop: Arc<AtomicBool>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        while let Some(n) = request_len(&buf) {
            let req: Vec<u8> = buf.drain(..n).collect();
            requests.lock().unwrap().push(req.clone());
            let reply = match &behaviour {
                Behaviour::Respond(r) => r.clone(),
                Behaviour::Custom(f) => f(&req),
                Behaviour::Silent => {
                    // Keep the connection open, answer nothing.
                    while !stop.load(Ordering::Relaxed) {
                        match stream.read(&mut chunk) {
                            Ok(0) => return,
                            _ => continue,
                        }
                    }
                    return;
                }
                Behaviour::CloseAfter(part) | Behaviour::Garbage(part) => {
                    let _ = stream.write_all(part);
                    return;
                }
                Behaviour::HugeBody(len) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                    if stream.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    let block = vec![b'x'; 256 * 1024];
                    let mut left = *len;
                    while left > 0 {
                        let n = left.min(block.len() as u64) as usize;
                        if stream.write_all(&block[..n]).is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                    continue;
                }
            };
            if stream.write_all(&reply).is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

pub const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A counter value from gor's exit summary (`name=value`), 0 when absent.
pub fn counted(stderr: &str, name: &str) -> u64 {
    stderr
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .next_back()
        .unwrap_or(0)
}
