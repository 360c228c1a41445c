//! `--input-http ADDR`: an HTTP endpoint that answers `200 OK` to every
//! request and emits each one, as received, as a type-1 message
//! `1 <random id> <now> -1`. GoReplay 1.0–1.1 had this flag;
//! later versions kept the plugin without a flag, and gor brings it back.
//!
//! Use it to feed gor from anything that can send HTTP (a load balancer's
//! mirror, a test client). It counts as a live source: a slow output drops
//! and counts instead of slowing the clients down.

use crate::http::framing::{self, BodyDecoder, FramingHeaders};
use crate::http::listener::{self, Connection, ConnectionLimits, Read, ServerName};
use crate::message::{Message, PayloadType, now_ns, random_id};
use crate::plugin::{Input, Result, Shutdown};
use crate::runtime::runtime;
use crate::settings::Settings;
use crate::stats::{self, Counter};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const NAME: ServerName = ServerName {
    flag: "--input-http",
    counters: "input_http",
};

/// Requests waiting for the copy loop.
const QUEUE: usize = 1000;
/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BAD: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

pub struct HttpInput {
    rx: mpsc::Receiver<Message>,
    addr: SocketAddr,
    shutdown: Shutdown,
}

/// What every `--input-http` takes from the other flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpInputConfig {
    /// Most bytes kept of one request (`--copy-buffer-size`).
    pub max_message: usize,
}

impl HttpInputConfig {
    pub fn from_settings(s: &Settings) -> Result<HttpInputConfig> {
        Ok(HttpInputConfig {
            max_message: usize::try_from(s.copy_buffer_size)
                .unwrap_or(usize::MAX)
                .max(1),
        })
    }
}

/// `:8080` listens on every interface; `host:port` on that address.
impl HttpInput {
    /// Listens on `addr` and starts accepting, within the default
    /// [`ConnectionLimits`] (docs/input-http.md). On a stop (`shutdown`)
    /// the listener closes and the input ends at once.
    pub fn listen(addr: &str, config: &HttpInputConfig, shutdown: &Shutdown) -> Result<HttpInput> {
        let listener = listener::bind(NAME, addr)?;
        let local = listener.local_addr()?;
        tracing::info!("--input-http listening on {local}");
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Counters {
            malformed: stats::drop_counter("input_http.malformed_requests"),
            unframeable: stats::drop_counter("input_http.unframeable_requests"),
        };
        let max = config.max_message.max(1);
        let accept = listener::accept(
            listener,
            NAME,
            ConnectionLimits::default(),
            move |stream, conn| serve(stream, conn, tx.clone(), max, counters.clone()),
        );
        let stop = shutdown.clone();
        runtime().spawn(async move {
            // Dropping the accept loop closes the listening socket.
            tokio::select! {
                _ = accept => {}
                _ = stop.until_stopped() => {}
            }
        });
        Ok(HttpInput {
            rx,
            addr: local,
            shutdown: shutdown.clone(),
        })
    }

    /// The address actually listened on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Input for HttpInput {
    fn read(&mut self) -> Result<Option<Message>> {
        if let Ok(m) = self.rx.try_recv() {
            return Ok(Some(m));
        }
        let (rx, stop) = (&mut self.rx, &self.shutdown);
        Ok(runtime().block_on(async {
            tokio::select! {
                m = rx.recv() => m,
                _ = stop.until_stopped() => None,
            }
        }))
    }

    fn is_live(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("--input-http {}", self.addr)
    }
}

/// What refused requests are counted as.
#[derive(Clone)]
struct Counters {
    /// Not HTTP, cut off, or a broken chunked body.
    malformed: Counter,
    /// A head whose body length cannot be known (`crate::http::framing`).
    unframeable: Counter,
}

/// One client connection: requests one after the other (keep-alive).
/// Every read and write goes through `conn`, which holds it to the
/// connection limits.
async fn serve(
    mut stream: TcpStream,
    mut conn: Connection,
    tx: mpsc::Sender<Message>,
    max: usize,
    counters: Counters,
) {
    let malformed = &counters.malformed;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        // The head.
        let (head_len, kind, closes, expects_continue) = loop {
            let mut hdrs = [httparse::EMPTY_HEADER; 128];
            let mut req = httparse::Request::new(&mut hdrs);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let get = |name: &str| {
                        req.headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| h.value)
                    };
                    let mut framing = FramingHeaders::new();
                    for h in req.headers.iter() {
                        framing.add(h.name.as_bytes(), h.value);
                    }
                    let kind = match framing.request_body() {
                        Ok(kind) => kind,
                        Err(e) => {
                            counters.unframeable.drop_one(&format_args!(
                                "--input-http: a request whose body length cannot be known was refused ({e})"
                            ));
                            conn.write(&mut stream, BAD).await;
                            return;
                        }
                    };
                    let closes =
                        framing::closes_connection(req.version == Some(0), get("Connection"));
                    break (n, kind, closes, framing.expects_continue());
                }
                Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {
                    match conn.read(&mut stream, &mut buf).await {
                        Read::Closed => {
                            if !buf.is_empty() {
                                malformed.drop_one(
                                    &"--input-http: a client closed in the middle of a request",
                                );
                            }
                            return;
                        }
                        Read::TimedOut => return,
                        Read::Data => {}
                    }
                }
                _ => {
                    malformed
                        .drop_one(&"--input-http: bytes that are not an HTTP request were refused");
                    conn.write(&mut stream, BAD).await;
                    return;
                }
            }
        };
        conn.head_done();
        if expects_continue
            && !conn
                .write(&mut stream, b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
        {
            return;
        }
        // The body: keep up to `max` bytes of the message, frame the rest.
        let mut message: Vec<u8> = buf[..head_len.min(max)].to_vec();
        let mut decoder = BodyDecoder::new(kind);
        let mut rest: Vec<u8> = buf[head_len..].to_vec();
        loop {
            let used = match decoder.feed(&rest) {
                Ok(n) => n,
                Err(e) => {
                    malformed.drop_one(&format_args!("--input-http: bad request body: {e}"));
                    conn.write(&mut stream, BAD).await;
                    return;
                }
            };
            let room = max.saturating_sub(message.len());
            message.extend_from_slice(&rest[..used.min(room)]);
            if decoder.is_done() {
                rest.drain(..used);
                break;
            }
            rest.clear();
            match conn.read(&mut stream, &mut rest).await {
                Read::Closed => {
                    malformed
                        .drop_one(&"--input-http: a client closed in the middle of a request body");
                    return;
                }
                Read::TimedOut => return,
                Read::Data => {}
            }
        }
        buf = rest;
        conn.request_done(!buf.is_empty());
        let msg = Message::new(PayloadType::Request, &random_id(), now_ns(), -1, message);
        if tx.send(msg).await.is_err() {
            return;
        }
        if !conn
            .write(&mut stream, if closes { OK_CLOSE } else { OK })
            .await
            || closes
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn config() -> HttpInputConfig {
        HttpInputConfig {
            max_message: 1 << 20,
        }
    }

    #[test]
    fn a_stop_ends_a_waiting_read_and_closes_the_listener() {
        let shutdown = Shutdown::new();
        let mut input = HttpInput::listen("127.0.0.1:0", &config(), &shutdown).unwrap();
        let addr = input.local_addr();
        let s = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            s.stop("test");
        });
        let started = std::time::Instant::now();
        assert!(input.read().unwrap().is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // The accept loop is gone with its socket: connecting is refused.
        let deadline = started + std::time::Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still listening");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn requests_are_answered_200_and_emitted_as_received() {
        let mut input = HttpInput::listen("127.0.0.1:0", &config(), &Shutdown::new()).unwrap();
        let addr = input.local_addr();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                .unwrap();
            s.write_all(b"GET /c HTTP/1.1\r\nhost: y\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n").unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while got.len() < 2 * OK.len() {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let first = input.read().unwrap().unwrap();
        let second = input.read().unwrap().unwrap();
        assert_eq!(
            &first.data[..],
            b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        );
        assert_eq!(
            &second.data[..],
            b"GET /c HTTP/1.1\r\nhost: y\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"
        );
        assert!(first.is_request());
        assert_eq!(first.latency(), Some(-1));
        assert_eq!(first.id().len(), 24);
        assert_eq!(client.join().unwrap(), [OK, OK].concat());
        assert!(input.is_live());
    }

    #[test]
    fn garbage_gets_400_and_the_listener_keeps_serving() {
        let mut input = HttpInput::listen("127.0.0.1:0", &config(), &Shutdown::new()).unwrap();
        let addr = input.local_addr();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"\x00\x01\x02 not http\r\n\r\n").unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 400"));
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            &input.read().unwrap().unwrap().data[..],
            b"GET / HTTP/1.0\r\n\r\n"
        );
    }
}
