//! The connection rules of gor's own HTTP servers (`--input-http`,
//! `gor file-server`): at most so many connections at once, and deadlines for
//! every read and write, so that clients which are slow on purpose
//! (slowloris: one byte a second, or connections that never send anything)
//! cannot hold the server. Past the cap a new connection is answered `503`
//! and closed; a connection past its deadline is closed. Both are counted
//! under the server's name (`input_http.refused_connections`, ...).
//!
//! The deadlines follow the phases of one request on a connection:
//!
//! * a new connection has [`ConnectionLimits::head_timeout`] from being
//!   accepted to the end of its first request head;
//! * a kept-alive connection waits [`ConnectionLimits::idle_timeout`] for the
//!   first byte of its next request, and the head must then be complete
//!   within `head_timeout` of that byte;
//! * a body must arrive, and a response be taken by the client, within
//!   [`ConnectionLimits::transfer_timeout`].

use crate::runtime::runtime;
use crate::stats::{self, Counter};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

/// How many connections a server holds and how long it waits for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; one more is answered `503` and closed.
    pub max_connections: usize,
    /// From accepting a connection (or from the first byte of a later
    /// request) to the end of the request head.
    pub head_timeout: Duration,
    /// How long a kept-alive connection may stay silent between requests.
    pub idle_timeout: Duration,
    /// From the end of a head to the end of its body; also the time a client
    /// has to take a response.
    pub transfer_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 512 connections, a 10 s head, 30 s idle, 60 s body or response: far
    /// beyond what a load balancer or a test client needs, short enough that
    /// a slow client frees its slot.
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 512,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            transfer_timeout: Duration::from_secs(60),
        }
    }
}

/// Names a server: `flag` in log lines (`--input-http`), `counters` as the
/// prefix of its counters (`input_http`).
#[derive(Clone, Copy, Debug)]
pub struct ServerName {
    pub flag: &'static str,
    pub counters: &'static str,
}

/// The counters of one server, shared by its connections.
struct Counters {
    refused: Counter,
    silent: Counter,
    slow_requests: Counter,
    slow_responses: Counter,
    idle_closed: Counter,
}

impl Counters {
    fn new(prefix: &str) -> Counters {
        Counters {
            refused: stats::drop_counter(&format!("{prefix}.refused_connections")),
            silent: stats::drop_counter(&format!("{prefix}.silent_connections")),
            slow_requests: stats::drop_counter(&format!("{prefix}.slow_requests")),
            slow_responses: stats::drop_counter(&format!("{prefix}.slow_responses")),
            idle_closed: stats::counter(&format!("{prefix}.idle_connections_closed")),
        }
    }
}

const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Binds `addr` (`:PORT` or `HOST:PORT`) for `name`'s server.
pub fn bind(name: ServerName, addr: &str) -> anyhow::Result<TcpListener> {
    let bind = crate::settings::values::listen_address(addr).ok_or_else(|| {
        crate::settings::UsageError(format!(
            "{} {addr:?}: expected :PORT or HOST:PORT",
            name.flag
        ))
    })?;
    let std_listener = std::net::TcpListener::bind(&bind)
        .map_err(|e| anyhow::anyhow!("{} {addr:?}: cannot listen: {e}", name.flag))?;
    std_listener.set_nonblocking(true)?;
    let _guard = runtime().enter();
    Ok(TcpListener::from_std(std_listener)?)
}

/// Accepts connections for ever, each served by `serve` on its own task
/// while a slot is free; past `limits.max_connections` a connection gets a
/// `503` and is closed at once (counted as `<name>.refused_connections`).
pub async fn accept<F, Fut>(
    listener: TcpListener,
    name: ServerName,
    limits: ConnectionLimits,
    serve: F,
) where
    F: Fn(TcpStream, Connection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let counters = Arc::new(Counters::new(name.counters));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, mostly: wait for some to close.
                tracing::debug!("{} accept: {e}", name.flag);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            counters.refused.drop_one(&format_args!(
                "{}: {} connections are open; a new one was answered 503 and closed",
                name.flag, limits.max_connections
            ));
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            name,
            limits,
            counters: counters.clone(),
            phase: Phase::Head(Instant::now() + limits.head_timeout),
            fresh: true,
            _slot: slot,
        };
        tokio::spawn(serve(stream, conn));
    }
}

/// Answers `503` and closes, reading what the client sends for a moment
/// first: closing with unread bytes would reset the connection, and the
/// client could lose the answer.
async fn refuse(mut stream: TcpStream) {
    let _ = stream.try_write(BUSY);
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Where a connection is in its current request, with the deadline that
/// applies there.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Kept alive, waiting for the first byte of the next request.
    Idle,
    /// Reading a request head, which must be complete by then.
    Head(Instant),
    /// Reading a body, which must be complete by then.
    Body(Instant),
}

/// What a read brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Some bytes were appended to the buffer.
    Data,
    /// The client closed the connection (or it failed).
    Closed,
    /// The deadline passed; the connection must be closed (already counted).
    TimedOut,
}

/// One accepted connection: its slot under the cap (freed when dropped) and
/// the deadlines of its reads and writes.
pub struct Connection {
    name: ServerName,
    limits: ConnectionLimits,
    counters: Arc<Counters>,
    phase: Phase,
    /// No request has started yet on this connection.
    fresh: bool,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// A request is complete: the next one starts now, with `pending` bytes
    /// of it already received (pipelined) or none (the connection idles).
    pub fn request_done(&mut self, pending: bool) {
        self.fresh = false;
        self.phase = if pending {
            Phase::Head(Instant::now() + self.limits.head_timeout)
        } else {
            Phase::Idle
        };
    }

    /// The head is complete: its body (if any) must arrive in time.
    pub fn head_done(&mut self) {
        self.phase = Phase::Body(Instant::now() + self.limits.transfer_timeout);
    }

    /// Reads more of the current request into `buf`, within the deadline of
    /// where the request is.
    pub async fn read(&mut self, stream: &mut TcpStream, buf: &mut Vec<u8>) -> Read {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8 * 1024);
        }
        let deadline = match self.phase {
            Phase::Idle => Instant::now() + self.limits.idle_timeout,
            Phase::Head(d) | Phase::Body(d) => d,
        };
        match timeout_at(deadline, stream.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => Read::Closed,
            Ok(Ok(_)) => {
                if let Phase::Idle = self.phase {
                    self.phase = Phase::Head(Instant::now() + self.limits.head_timeout);
                }
                Read::Data
            }
            Err(_) => {
                self.count_timeout(buf.is_empty());
                Read::TimedOut
            }
        }
    }

    fn count_timeout(&self, nothing_received: bool) {
        let flag = self.name.flag;
        match self.phase {
            Phase::Idle => self.counters.idle_closed.inc(),
            Phase::Head(_) if nothing_received && self.fresh => {
                self.counters.silent.drop_one(&format_args!(
                    "{flag}: a connection sent nothing for {:?} and was closed",
                    self.limits.head_timeout
                ))
            }
            Phase::Head(_) => self.counters.slow_requests.drop_one(&format_args!(
                "{flag}: a request head took longer than {:?}; the connection was closed",
                self.limits.head_timeout
            )),
            Phase::Body(_) => self.counters.slow_requests.drop_one(&format_args!(
                "{flag}: a request body took longer than {:?}; the connection was closed",
                self.limits.transfer_timeout
            )),
        }
    }

    /// Writes `bytes`; false when the client is gone or did not take them
    /// within the transfer timeout (counted as `<name>.slow_responses`).
    pub async fn write(&self, stream: &mut TcpStream, bytes: &[u8]) -> bool {
        match tokio::time::timeout(self.limits.transfer_timeout, stream.write_all(bytes)).await {
            Ok(done) => done.is_ok(),
            Err(_) => {
                self.counters.slow_responses.drop_one(&format_args!(
                    "{}: a client took longer than {:?} to read a response; the connection was closed",
                    self.name.flag, self.limits.transfer_timeout
                ));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write};
    use std::net::SocketAddr;
    use std::time::Instant as StdInstant;

    const SHORT: ConnectionLimits = ConnectionLimits {
        max_connections: 4,
        head_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(400),
        transfer_timeout: Duration::from_millis(400),
    };

    /// A server under `limits` that answers every request `200` with a body
    /// of as many bytes as its path says (`GET /5` gets `xxxxx`), counted
    /// under `prefix`.
    fn server(prefix: &'static str, limits: ConnectionLimits) -> SocketAddr {
        let name = ServerName {
            flag: "test",
            counters: prefix,
        };
        let listener = bind(name, "127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        runtime().spawn(accept(listener, name, limits, answer));
        addr
    }

    async fn answer(mut stream: TcpStream, mut conn: Connection) {
        let mut buf = Vec::new();
        loop {
            let head_len = loop {
                if let Some(end) = crate::http::edit::find_blank_line(&buf) {
                    break end + 4;
                }
                if conn.read(&mut stream, &mut buf).await != Read::Data {
                    return;
                }
            };
            conn.head_done();
            let head = String::from_utf8_lossy(&buf[..head_len]).to_ascii_lowercase();
            let body_len: usize = head
                .split("content-length:")
                .nth(1)
                .and_then(|v| v.split("\r\n").next()?.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_len + body_len {
                if conn.read(&mut stream, &mut buf).await != Read::Data {
                    return;
                }
            }
            let size: usize = head
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.trim_start_matches('/').parse().ok())
                .unwrap_or(0);
            buf.drain(..head_len + body_len);
            conn.request_done(!buf.is_empty());
            let mut reply =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
            reply.resize(reply.len() + size, b'x');
            if !conn.write(&mut stream, &reply).await {
                return;
            }
        }
    }

    fn counted(name: &str) -> u64 {
        stats::snapshot()
            .into_iter()
            .find(|(n, _, _)| n == name)
            .map_or(0, |(_, v, _)| v)
    }

    /// Sends `GET /` and returns the status line, or None if the connection
    /// was closed first.
    fn get(addr: SocketAddr) -> Option<String> {
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
        let mut got = [0u8; 256];
        let n = s.read(&mut got).ok()?;
        let text = String::from_utf8_lossy(&got[..n]).into_owned();
        Some(text.lines().next()?.to_string())
    }

    /// How long until the server closes `s`, reading with `deadline`.
    fn time_to_close(s: &mut std::net::TcpStream, deadline: Duration) -> Duration {
        let start = StdInstant::now();
        s.set_read_timeout(Some(deadline)).unwrap();
        let mut b = [0u8; 64];
        loop {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
            assert!(start.elapsed() < deadline, "the server kept the connection");
        }
    }

    /// A client that sends a request head one byte every 50 ms, far inside
    /// any per-read timeout; returns how long the server kept it.
    fn slowloris(addr: SocketAddr) -> std::thread::JoinHandle<Duration> {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        std::thread::spawn(move || {
            let start = StdInstant::now();
            for b in b"GET / HTTP/1.1\r\nHost: a-very-slow-client.example\r\nX-Pad: "
                .iter()
                .cycle()
            {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
                assert!(start.elapsed() < Duration::from_secs(10), "never closed");
            }
            start.elapsed()
        })
    }

    #[test]
    fn slow_clients_up_to_the_cap_do_not_keep_a_normal_client_waiting() {
        let limits = ConnectionLimits {
            head_timeout: Duration::from_secs(2),
            ..SHORT
        };
        let addr = server("t_below_cap", limits);
        let slow: Vec<_> = (0..limits.max_connections - 1)
            .map(|_| slowloris(addr))
            .collect();
        let start = StdInstant::now();
        assert_eq!(get(addr).as_deref(), Some("HTTP/1.1 200 OK"));
        // Served well before the slow clients are cut off.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        for s in slow {
            let kept = s.join().unwrap();
            assert!(
                kept < Duration::from_secs(5),
                "a slow client was kept {kept:?}"
            );
        }
        assert_eq!(counted("t_below_cap.slow_requests"), 3);
    }

    #[test]
    fn past_the_cap_connections_get_503_until_slow_clients_time_out() {
        let addr = server("t_past_cap", SHORT);
        let slow: Vec<_> = (0..SHORT.max_connections)
            .map(|_| slowloris(addr))
            .collect();
        // The slow clients connected first, so they are accepted first and
        // hold every slot.
        let refused: Vec<_> = (0..3).map(|_| get(addr)).collect();
        for status in &refused {
            assert_eq!(status.as_deref(), Some("HTTP/1.1 503 Service Unavailable"));
        }
        assert_eq!(counted("t_past_cap.refused_connections"), 3);
        // The slow clients are cut off by the head timeout; then a normal
        // client is served again.
        let start = StdInstant::now();
        loop {
            if get(addr).as_deref() == Some("HTTP/1.1 200 OK") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "never served again"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for s in slow {
            s.join().unwrap();
        }
        assert_eq!(counted("t_past_cap.slow_requests"), 4);
    }

    #[test]
    fn a_connection_that_sends_nothing_is_closed_after_the_head_timeout() {
        let addr = server("t_silent", SHORT);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let kept = time_to_close(&mut s, Duration::from_secs(5));
        assert!(kept >= Duration::from_millis(350), "{kept:?}");
        assert!(kept < Duration::from_secs(2), "{kept:?}");
        assert_eq!(counted("t_silent.silent_connections"), 1);
    }

    #[test]
    fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
        let limits = ConnectionLimits {
            idle_timeout: Duration::from_millis(700),
            ..SHORT
        };
        let addr = server("t_idle", limits);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /2 HTTP/1.1\r\n\r\n").unwrap();
        let mut reply = [0u8; 40];
        s.read_exact(&mut reply).unwrap();
        assert!(reply.ends_with(b"\r\n\r\nxx"));
        // Still served well after the head timeout, inside the idle timeout.
        std::thread::sleep(Duration::from_millis(450));
        s.write_all(b"GET /0 HTTP/1.1\r\n\r\n").unwrap();
        let mut reply = [0u8; 38];
        s.read_exact(&mut reply).unwrap();
        let kept = time_to_close(&mut s, Duration::from_secs(5));
        assert!(kept >= Duration::from_millis(650), "{kept:?}");
        assert_eq!(counted("t_idle.idle_connections_closed"), 1);
        assert_eq!(counted("t_idle.silent_connections"), 0);
    }

    #[test]
    fn a_body_sent_one_byte_at_a_time_is_cut_off_by_the_transfer_timeout() {
        let addr = server("t_slow_body", SHORT);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
            .unwrap();
        let start = StdInstant::now();
        while s.write_all(b"b").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
            assert!(start.elapsed() < Duration::from_secs(5), "never closed");
        }
        assert_eq!(counted("t_slow_body.slow_requests"), 1);
    }

    #[test]
    fn a_client_that_does_not_read_its_response_is_cut_off() {
        let addr = server("t_slow_reader", SHORT);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /50000000 HTTP/1.1\r\n\r\n").unwrap();
        let start = StdInstant::now();
        while counted("t_slow_reader.slow_responses") == 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "never cut off");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(start.elapsed() >= Duration::from_millis(350));
    }
}
