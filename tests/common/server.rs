//! The one test HTTP server: a raw HTTP/1.1 server on 127.0.0.1 that records
//! the exact bytes of every request it receives and answers as told (well,
//! slowly, half-way, with garbage, never). It answers `Expect: 100-continue`
//! with an interim `100 Continue` before the body arrives, as a real server
//! does. Stops accepting when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A complete response: `200 OK` with body `ok`.
pub const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

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
    /// Sends these bytes (part of a response), then resets the connection
    /// (RST, not FIN).
    ResetAfter(Vec<u8>),
    /// Sends these bytes one at a time, this long apart.
    Trickle(Vec<u8>, Duration),
    /// Sends a head announcing `len` bytes of body and streams them.
    HugeBody(u64),
}

/// A raw HTTP/1.1 server that records every request as received.
pub struct RecordingServer {
    pub port: u16,
    local: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RecordingServer {
    /// Listens on a free port of 127.0.0.1.
    pub fn start(behaviour: Behaviour) -> RecordingServer {
        Self::start_on("127.0.0.1:0", behaviour)
    }

    /// Listens on `addr` (e.g. `[::1]:0`).
    pub fn start_on(addr: &str, behaviour: Behaviour) -> RecordingServer {
        let listener =
            TcpListener::bind(addr).unwrap_or_else(|e| panic!("listening on {addr}: {e}"));
        let local = listener.local_addr().unwrap();
        let port = local.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, s) = (requests.clone(), connections.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let (r, b, s) = (r.clone(), behaviour.clone(), s.clone());
                std::thread::spawn(move || serve(stream, r, b, s));
            }
        });
        RecordingServer {
            port,
            local,
            requests,
            connections,
            stop,
        }
    }

    /// A server that answers every request [`OK`].
    pub fn ok() -> RecordingServer {
        Self::start(Behaviour::Respond(OK.to_vec()))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or the deadline passes) and returns
    /// what arrived.
    pub fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Vec<u8>> {
        let start = std::time::Instant::now();
        while self.requests.lock().unwrap().len() < n && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.received()
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the stop.
        let _ = TcpStream::connect(self.local);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of a header of the message head at the start of `msg` (first
/// match, any case).
pub fn header(msg: &[u8], name: &str) -> Option<String> {
    let head_end = find(msg, b"\r\n\r\n").unwrap_or(msg.len());
    String::from_utf8_lossy(&msg[..head_end])
        .split("\r\n")
        .skip(1)
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
}

/// The request line of a request.
pub fn request_line(req: &[u8]) -> String {
    let text = String::from_utf8_lossy(req);
    text.split("\r\n").next().unwrap_or("").to_string()
}

/// Length of the complete request at the start of `buf`, if it is complete.
pub fn request_len(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    match chunked_body(buf, head_end) {
        Some(walk) => walk.map(|(_, end)| end),
        None => {
            // `3, 3` (a list of one length) is 3.
            let len: usize = header(buf, "Content-Length")
                .and_then(|v| v.split(',').next()?.trim().parse().ok())
                .unwrap_or(0);
            (buf.len() >= head_end + len).then_some(head_end + len)
        }
    }
}

/// The body of a complete request, chunked coding removed.
pub fn body(req: &[u8]) -> Vec<u8> {
    let Some(head_end) = find(req, b"\r\n\r\n").map(|p| p + 4) else {
        return Vec::new();
    };
    match chunked_body(req, head_end) {
        Some(walk) => walk.map(|(body, _)| body).unwrap_or_default(),
        None => req[head_end..].to_vec(),
    }
}

/// For a chunked message: None when it is not chunked; Some(None) when it
/// is not complete yet; Some(Some((decoded body, end))) when it is.
#[allow(clippy::option_option)]
fn chunked_body(buf: &[u8], head_end: usize) -> Option<Option<(Vec<u8>, usize)>> {
    if !header(buf, "Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().ends_with("chunked"))
    {
        return None;
    }
    let walk = || -> Option<(Vec<u8>, usize)> {
        let mut body = Vec::new();
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
                        return Some((body, pos));
                    }
                }
            }
            body.extend_from_slice(buf.get(pos..pos + size)?);
            pos += size + 2;
            if pos > buf.len() {
                return None;
            }
        }
    };
    Some(walk())
}

/// SO_LINGER with a zero timeout: closing the socket sends a reset.
fn linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) reads a linger struct we own, on our socket.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
    // Whether the request at the start of `buf` already got its `100 Continue`.
    let mut continued = false;
    loop {
        while let Some(n) = request_len(&buf) {
            continued = false;
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
                Behaviour::ResetAfter(part) => {
                    let _ = stream.write_all(part);
                    // A zero linger time makes the close a reset.
                    let _ = linger_zero(&stream);
                    return;
                }
                Behaviour::Trickle(bytes, gap) => {
                    for b in bytes {
                        if stop.load(Ordering::Relaxed) || stream.write_all(&[*b]).is_err() {
                            return;
                        }
                        // The pace of a trickling server, not a wait.
                        std::thread::sleep(*gap);
                    }
                    continue;
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
        if !continued
            && find(&buf, b"\r\n\r\n").is_some()
            && header(&buf, "Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            continued = true;
            if stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
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
