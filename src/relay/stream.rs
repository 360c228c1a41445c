//! One outgoing relay connection, plain or TLS: dialled with a timeout, and
//! able to tell, without blocking and without reading anything the peer
//! meant as data, whether the peer has closed its side.
//!
//! Receivers never send anything on a relay connection, so what the sender
//! can observe is only the peer's FIN (a graceful stop), a TLS
//! `close_notify`, or a reset. Checking for them before writing on a
//! connection that has been quiet is what lets a sender notice a restarted
//! receiver before handing its next messages to a dead socket.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

/// How long a connect (and a TLS handshake) may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// At close, how long the receiver may take to read what was sent and
/// close its side.
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// A write that makes no progress this long means the receiver is gone
/// (or stuck): the connection is dropped and what it held is sent again on
/// a new one.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected relay socket.
pub enum RelayStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// TLS settings for a dial: the client configuration and the name the
/// peer's certificate must carry.
#[derive(Clone)]
pub struct TlsTarget {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

impl TlsTarget {
    pub fn new(config: Arc<ClientConfig>, host: &str) -> Result<TlsTarget, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = crate::http::client::tls::server_name(host)?;
        Ok(TlsTarget { config, name })
    }
}

/// Connects to `address` (`host:port`), trying each address it resolves
/// to, then runs the TLS handshake if `tls` is given. `on_socket` sees each
/// socket before its connect starts (the relay pool keeps a handle on it to
/// cut a dial or a write that hangs at a stop).
pub fn dial(
    address: &str,
    tls: Option<&TlsTarget>,
    on_socket: &dyn Fn(&TcpStream),
) -> Result<RelayStream, String> {
    let addrs = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}"))?;
    let mut last = format!("{address} resolves to no address");
    let mut sock = None;
    for addr in addrs {
        match connect(addr, on_socket) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    let sock = sock.ok_or(last)?;
    let _ = sock.set_nodelay(true);
    let _ = sock.set_write_timeout(Some(WRITE_TIMEOUT));
    let Some(tls) = tls else {
        return Ok(RelayStream::Plain(sock));
    };
    let conn = ClientConnection::new(tls.config.clone(), tls.name.clone())
        .map_err(|e| format!("TLS set-up for {address}: {e}"))?;
    let _ = sock.set_read_timeout(Some(DIAL_TIMEOUT));
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            return Err(format!("TLS handshake with {address} failed: {e}"));
        }
    }
    let _ = stream.sock.set_read_timeout(None);
    Ok(RelayStream::Tls(Box::new(stream)))
}

/// A socket, shown to `on_socket`, then connected within [`DIAL_TIMEOUT`].
fn connect(addr: SocketAddr, on_socket: &dyn Fn(&TcpStream)) -> io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    let sock = TcpStream::from(sock);
    on_socket(&sock);
    socket2::SockRef::from(&sock).connect_timeout(&addr.into(), DIAL_TIMEOUT)?;
    Ok(sock)
}

/// What a non-blocking look at the socket found.
pub enum Peek {
    /// Nothing arrived.
    Quiet,
    /// Bytes are waiting (TLS session tickets, WebSocket pings, a close).
    Data,
    /// FIN or reset.
    Closed,
}

fn peek(sock: &TcpStream) -> Peek {
    let mut byte = [0u8; 1];
    // SAFETY: recv into a valid one-byte buffer on a socket we own; MSG_PEEK
    // leaves the byte in place, MSG_DONTWAIT never blocks.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            byte.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peek::Closed,
        n if n > 0 => Peek::Data,
        _ => match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Peek::Quiet,
            _ => Peek::Closed,
        },
    }
}

impl RelayStream {
    pub fn socket(&self) -> &TcpStream {
        match self {
            RelayStream::Plain(s) => s,
            RelayStream::Tls(s) => &s.sock,
        }
    }

    /// A look at the socket that reads nothing.
    pub fn peek(&self) -> Peek {
        peek(self.socket())
    }

    /// True when the peer closed its side or reset the connection. Never
    /// blocks; whatever the peer sent (it should send nothing but TLS
    /// session tickets) is consumed and ignored.
    pub fn peer_closed(&mut self) -> bool {
        match peek(self.socket()) {
            Peek::Quiet => false,
            Peek::Closed => true,
            Peek::Data => self.drain_nonblocking(),
        }
    }

    /// Reads what is waiting without blocking; true when that ends in a
    /// close (EOF, `close_notify`, an alert).
    fn drain_nonblocking(&mut self) -> bool {
        if self.socket().set_nonblocking(true).is_err() {
            return true;
        }
        let mut buf = [0u8; 4096];
        let closed = loop {
            match self.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        closed || self.socket().set_nonblocking(false).is_err()
    }

    /// Ends the connection politely: a TLS `close_notify`, then FIN, then
    /// waits (at most [`CLOSE_LINGER`]) for the receiver to close in turn.
    ///
    /// Closing a socket that still has unread bytes (a TLS session ticket
    /// the receiver sent) makes the kernel send a reset instead of FIN, and
    /// a reset makes the receiver's kernel throw away what it has not read
    /// yet: records already written would be lost. Reading to the
    /// receiver's end first means everything written was taken.
    pub fn close(&mut self) {
        if let RelayStream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let mut sock = self.socket();
        if sock.shutdown(std::net::Shutdown::Write).is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + CLOSE_LINGER;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }
}

impl Read for RelayStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RelayStream::Plain(s) => s.read(buf),
            RelayStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for RelayStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            RelayStream::Plain(s) => s.write(buf),
            RelayStream::Tls(s) => s.write(buf),
        }
    }

    /// Many slices in one call: one `writev` for a plain socket; for TLS,
    /// rustls seals them into full-size records. (`StreamOwned` has only
    /// the default, which passes on the first slice alone and so makes a
    /// record of each; the borrowing `Stream` seals them all.)
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            RelayStream::Plain(s) => s.write_vectored(bufs),
            RelayStream::Tls(s) => {
                let StreamOwned { conn, sock } = &mut **s;
                rustls::Stream::new(conn, sock).write_vectored(bufs)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            RelayStream::Plain(s) => s.flush(),
            RelayStream::Tls(s) => s.flush(),
        }
    }
}
