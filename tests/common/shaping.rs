//! Helpers for the traffic-shaping black-box tests (modifier, prettifier,
//! middleware): build messages, push them through a real gor (from a
//! recording, or emitted by a middleware), read back what `--output-stdout`
//! wrote.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub use crate::common::*;

/// One message: header line (without `\n`) and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub meta: String,
    pub data: Vec<u8>,
}

/// A request with a test id (`t-<n>`, a token no gor input generates).
pub fn request(n: usize, http: impl AsRef<[u8]>) -> Msg {
    Msg {
        meta: format!("1 t-{n} {} 0", 1_000 + n),
        data: http.as_ref().to_vec(),
    }
}

/// The captured response of request `n`.
pub fn response(n: usize, http: impl AsRef<[u8]>) -> Msg {
    Msg {
        meta: format!("2 t-{n} {} 0", 1_000 + n),
        data: http.as_ref().to_vec(),
    }
}

/// `GET <target>` with extra header lines (each ending in `\r\n`).
pub fn get(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: example.org\r\n{headers}\r\n").into_bytes()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware protocol line of a message.
pub fn hex_line(m: &Msg) -> String {
    let mut record = m.meta.clone().into_bytes();
    record.push(b'\n');
    record.extend_from_slice(&m.data);
    hex(&record)
}

/// The last message every run sends, so a test knows all others went through.
/// A response without a request: no filter applies to it.
pub const SENTINEL: &str = "X-End-Of-Test: yes";

/// Runs gor with `args` and the given messages as its input traffic (a
/// recording read by `--input-file`, replayed at once), and returns what
/// `--output-stdout` wrote (only the test's own messages, in order) and the
/// finished run.
pub fn through_gor(dir: &Path, msgs: &[Msg], args: &[&str]) -> (Vec<Msg>, Finished) {
    let mut all = msgs.to_vec();
    all.push(response(
        999_999,
        format!("HTTP/1.1 204 No Content\r\n{SENTINEL}\r\n\r\n"),
    ));
    let file = dir.join("input.gor");
    let mut f = std::fs::File::create(&file).expect("input file");
    for m in &all {
        f.write_all(m.meta.as_bytes()).expect("write input");
        f.write_all(b"\n").expect("write input");
        f.write_all(&m.data).expect("write input");
        f.write_all("\n🐵🙈🙉\n".as_bytes()).expect("write input");
    }
    drop(f);
    let file = file.display().to_string();
    let mut argv = vec!["--input-file", &file, "--output-stdout"];
    argv.extend_from_slice(args);
    let done = run(&argv, Duration::from_secs(30));
    (ours(&done), done)
}

/// Like [`through_gor`], but the messages are produced by a middleware that
/// prints them and then echoes whatever gor feeds it (a middleware may emit
/// messages of its own, spec 12); gor runs on `--input-dummy` for 2 s.
pub fn from_middleware(dir: &Path, msgs: &[Msg], args: &[&str]) -> (Vec<Msg>, Finished) {
    let feed = dir.join("feed.hex");
    let mut f = std::fs::File::create(&feed).expect("feed file");
    for m in msgs {
        writeln!(f, "{}", hex_line(m)).expect("write feed");
    }
    drop(f);
    let middleware = format!("sh -c 'cat {}; exec cat'", feed.display());
    let mut argv = vec![
        "--input-dummy",
        "x",
        "--output-stdout",
        "--exit-after",
        "2s",
        "--middleware",
        &middleware,
    ];
    argv.extend_from_slice(args);
    let done = run(&argv, Duration::from_secs(30));
    (ours(&done), done)
}

/// The test's own messages (ids `t-...`) in what gor wrote on stdout.
fn ours(done: &Finished) -> Vec<Msg> {
    records(&done.stdout)
        .into_iter()
        .filter(|(meta, _)| {
            meta.split(' ')
                .nth(1)
                .is_some_and(|id| id.starts_with("t-"))
        })
        .map(|(meta, data)| Msg { meta, data })
        .collect()
}

/// Like [`through_gor`], but insists the run ended cleanly and the sentinel
/// (not part of the returned list) arrived last.
pub fn shaped(dir: &Path, msgs: &[Msg], args: &[&str]) -> Vec<Msg> {
    let (mut got, done) = through_gor(dir, msgs, args);
    assert_eq!(done.code(), Some(0), "gor failed: {}", done.stderr);
    let last = got.pop().expect("nothing came out of gor");
    assert!(
        String::from_utf8_lossy(&last.data).contains(SENTINEL),
        "the run ended before every message went through; stderr: {}",
        done.stderr
    );
    got
}

/// Payloads of the messages, as text.
pub fn texts(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.data).into_owned())
        .collect()
}

/// A plain HTTP/1.1 server on 127.0.0.1 that records every request it
/// receives (head and body, as bytes) and answers `200 OK` with body `ok`.
/// Stops accepting when dropped.
pub struct Server {
    pub port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let g = g.clone();
                        std::thread::spawn(move || serve(conn, g));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, got, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn serve(mut conn: std::net::TcpStream, got: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use std::io::Read;
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        // Serve every complete request in the buffer.
        while let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = head_end + 4 + body_len;
            if buf.len() < total {
                break;
            }
            let request: Vec<u8> = buf.drain(..total).collect();
            if let Ok(mut g) = got.lock() {
                g.push(request);
            }
            if conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .is_err()
            {
                return;
            }
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The request line of a received request.
pub fn request_line(req: &[u8]) -> String {
    let text = String::from_utf8_lossy(req);
    text.split("\r\n").next().unwrap_or("").to_string()
}

/// The value of a header in a received request (first match, any case).
pub fn header(req: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(req);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}
