//! One keep-alive connection to a target, plain or TLS, and one exchange on
//! it: write the prepared request bytes as they are, parse only the
//! response head (httparse), and find where the body ends without keeping
//! more of it than asked.

use super::target::{PreparedRequest, Target};
use crate::http::framing::{self, BodyDecoder, BodyKind, FramingHeaders};
use rustls::ClientConfig;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Largest response head accepted; a peer that sends more is talking
/// garbage (and must not make us buffer without limit).
const MAX_HEAD: usize = 64 * 1024;
/// Bodies up to this size go out in the same write as the head.
const COALESCE: usize = 16 * 1024;

/// How an exchange failed; each kind has its own drop counter.
#[derive(Debug)]
pub enum ExchangeError {
    /// Nothing listens on the target port.
    Refused,
    /// Name resolution or another connect failure.
    Connect(String),
    /// The TLS handshake failed (untrusted certificate, protocol error).
    Tls(String),
    /// Writing the request failed.
    Send(String),
    /// The connection ended before any response byte (a keep-alive
    /// connection the server had already closed looks like this).
    ClosedBeforeResponse,
    /// The connection ended or was reset in the middle of the response.
    ClosedMidResponse(String),
    /// The bytes received are not an HTTP/1.x response.
    Garbage(String),
    /// `--output-http-timeout` elapsed.
    Timeout,
}

impl ExchangeError {
    /// The drop counter that counts this kind of failure.
    pub fn counter_name(&self) -> &'static str {
        match self {
            ExchangeError::Refused => "output_http.errors.refused",
            ExchangeError::Connect(_) => "output_http.errors.connect_failed",
            ExchangeError::Tls(_) => "output_http.errors.tls_failed",
            ExchangeError::Send(_) => "output_http.errors.send_failed",
            ExchangeError::ClosedBeforeResponse | ExchangeError::ClosedMidResponse(_) => {
                "output_http.errors.closed_mid_response"
            }
            ExchangeError::Garbage(_) => "output_http.errors.garbage_response",
            ExchangeError::Timeout => "output_http.errors.timeout",
        }
    }
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Refused => f.write_str("connection refused"),
            ExchangeError::Connect(e) => write!(f, "cannot connect: {e}"),
            ExchangeError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ExchangeError::Send(e) => write!(f, "sending the request failed: {e}"),
            ExchangeError::ClosedBeforeResponse => {
                f.write_str("connection closed before the response")
            }
            ExchangeError::ClosedMidResponse(e) => write!(f, "connection closed mid-response: {e}"),
            ExchangeError::Garbage(e) => write!(f, "not an HTTP response: {e}"),
            ExchangeError::Timeout => f.write_str("timed out"),
        }
    }
}

/// A received response.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// The response bytes as received, cut at the keep limit.
    pub kept: Vec<u8>,
    /// `Location`, for redirects.
    pub location: Option<Vec<u8>>,
    /// The connection can carry the next request.
    pub reusable: bool,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An open connection to one target.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// Exchanges completed on this connection.
    pub used: u64,
}

/// Opens a connection (and the TLS session for https targets).
pub async fn connect(
    target: &Target,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Conn, ExchangeError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => ExchangeError::Refused,
            _ => ExchangeError::Connect(e.to_string()),
        })?;
    let _ = tcp.set_nodelay(true);
    let stream = if target.tls {
        let config = tls.ok_or_else(|| ExchangeError::Tls("no TLS configuration".into()))?;
        let name = super::tls::server_name(&target.host).map_err(ExchangeError::Tls)?;
        let tls = TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| ExchangeError::Tls(e.to_string()))?;
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    Ok(Conn {
        stream,
        buf: Vec::with_capacity(8 * 1024),
        used: 0,
    })
}

impl Conn {
    /// Sends `req` and reads its response, keeping at most `keep` bytes.
    pub async fn exchange(
        &mut self,
        req: &PreparedRequest,
        keep: usize,
    ) -> Result<Response, ExchangeError> {
        self.send(req).await?;
        let resp = self.receive(req.is_head, keep).await?;
        self.used += 1;
        Ok(resp)
    }

    async fn send(&mut self, req: &PreparedRequest) -> Result<(), ExchangeError> {
        let send_err = |e: io::Error| ExchangeError::Send(e.to_string());
        if req.body.len() <= COALESCE {
            let mut all = Vec::with_capacity(req.head.len() + req.body.len());
            all.extend_from_slice(&req.head);
            all.extend_from_slice(&req.body);
            self.stream.write_all(&all).await.map_err(send_err)?;
        } else {
            self.stream.write_all(&req.head).await.map_err(send_err)?;
            self.stream.write_all(&req.body).await.map_err(send_err)?;
        }
        self.stream.flush().await.map_err(send_err)
    }

    async fn read_more(&mut self) -> Result<usize, ExchangeError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        self.stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| ExchangeError::ClosedMidResponse(e.to_string()))
    }

    async fn receive(&mut self, is_head: bool, keep: usize) -> Result<Response, ExchangeError> {
        self.buf.clear();
        let mut kept = Vec::new();
        let mut seen_any = false;
        // The final head (interim 1xx responses are skipped).
        let (head_len, status, kind, location, mut reusable) = loop {
            let parsed = parse_head(&self.buf, is_head)?;
            match parsed {
                Some(h) if (100..200).contains(&h.status) && h.status != 101 => {
                    self.buf.drain(..h.len);
                    continue;
                }
                Some(h) => break (h.len, h.status, h.kind, h.location, h.keep_alive),
                None => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(ExchangeError::Garbage(
                            "response head larger than 64 KiB".into(),
                        ));
                    }
                    let n = self.read_more().await.map_err(|e| {
                        if seen_any {
                            e
                        } else {
                            ExchangeError::ClosedBeforeResponse
                        }
                    })?;
                    if n == 0 {
                        return Err(if seen_any || !self.buf.is_empty() {
                            ExchangeError::ClosedMidResponse("in the response head".into())
                        } else {
                            ExchangeError::ClosedBeforeResponse
                        });
                    }
                    seen_any = true;
                }
            }
        };
        if status == 101 {
            reusable = false;
        }
        let keep_part = |kept: &mut Vec<u8>, bytes: &[u8]| {
            let room = keep.saturating_sub(kept.len());
            kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
        };
        keep_part(&mut kept, &self.buf[..head_len]);
        let mut decoder = BodyDecoder::new(kind);
        let garbage = |e: framing::FramingError| ExchangeError::Garbage(e.to_string());
        let rest_start = head_len;
        let used = decoder.feed(&self.buf[rest_start..]).map_err(garbage)?;
        keep_part(&mut kept, &self.buf[rest_start..rest_start + used]);
        if rest_start + used < self.buf.len() {
            // Bytes after the response we did not ask for.
            reusable = false;
        }
        while !decoder.is_done() {
            self.buf.clear();
            let n = self.read_more().await?;
            if n == 0 {
                decoder
                    .finish_at_close()
                    .map_err(|e| ExchangeError::ClosedMidResponse(e.to_string()))?;
                reusable = false;
                break;
            }
            let used = decoder.feed(&self.buf).map_err(garbage)?;
            keep_part(&mut kept, &self.buf[..used]);
            if used < self.buf.len() {
                reusable = false;
            }
        }
        if kind == BodyKind::UntilClose {
            reusable = false;
        }
        if self.buf.capacity() > 256 * 1024 {
            self.buf = Vec::with_capacity(8 * 1024);
        }
        Ok(Response {
            status,
            kept,
            location,
            reusable,
        })
    }
}

struct Head {
    len: usize,
    status: u16,
    kind: BodyKind,
    location: Option<Vec<u8>>,
    keep_alive: bool,
}

/// Parses a complete response head at the start of `buf`; `None` when more
/// bytes are needed.
fn parse_head(buf: &[u8], is_head: bool) -> Result<Option<Head>, ExchangeError> {
    let mut hdrs = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut hdrs);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ExchangeError::Garbage(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let version = resp.version.unwrap_or(1);
    let mut framing = FramingHeaders::new();
    let mut location = None;
    let mut connection = None;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if framing.add(name, h.value) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            connection = Some(h.value);
        } else if name.eq_ignore_ascii_case(b"location") {
            location = Some(h.value.to_vec());
        }
    }
    // A response whose body cannot be delimited (conflicting or invalid
    // Content-Length) is not guessed at: the exchange fails as a garbage
    // response and the connection is not reused, as RFC 9112 asks of a
    // client. CONNECT is never replayed, so no response here answers one.
    let kind = framing
        .response_body(is_head, false, status)
        .map_err(|e| ExchangeError::Garbage(e.to_string()))?;
    Ok(Some(Head {
        len,
        status,
        kind,
        location,
        keep_alive: !framing::closes_connection(version == 0, connection),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing_finds_framing_and_keep_alive() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.kind, h.keep_alive),
            (200, BodyKind::Length(3), true)
        );
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!((h.kind, h.keep_alive), (BodyKind::UntilClose, false));
        let h = parse_head(
            b"HTTP/1.1 302 Found\r\nLocation: /x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.location.as_deref(), Some(&b"/x"[..]));
        assert!(!h.keep_alive);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false)
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"\x16\x03\x01 garbage\r\n\r\n", false).is_err());
    }

    #[test]
    fn response_framing_follows_the_one_policy() {
        let kind = |head: &[u8]| parse_head(head, false).map(|h| h.unwrap().kind);
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").ok(),
            Some(BodyKind::Length(3))
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n").ok(),
            Some(BodyKind::Length(3))
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n")
                .ok(),
            Some(BodyKind::Chunked)
        );
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").ok(),
            Some(BodyKind::UntilClose)
        );
        let err =
            kind(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").unwrap_err();
        assert_eq!(err.counter_name(), "output_http.errors.garbage_response");
    }
}
