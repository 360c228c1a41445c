//! `--input-tcp ADDR`: receives records from other gor (or GoReplay)
//! instances that send with `--output-tcp`, plain or TLS
//! (`--input-tcp-secure`). Any number of senders may connect; each
//! connection carries records in the file format (`Meta ‖ Data ‖ SEP`) and
//! is split by the same splitter as files.
//!
//! Bounded everywhere: at most [`MAX_CONNECTIONS`] connections (more are
//! closed at once, counted); a record keeps at most `--copy-buffer-size`
//! bytes of payload; a connection that takes longer than
//! [`STALL_TIMEOUT`] to send one record is closed, a byte now and then
//! does not keep it open (idle between records is fine: relays idle for
//! long). Every connection feeds one bounded queue; when it is full,
//! connections stop reading and TCP flow control slows the senders down.
//!
//! A connection that sends something other than records (garbage, a bad
//! header) is counted and closed; a connection that closes in the middle
//! of a record loses that record, counted. Neither affects other senders.
//!
//! On SIGINT / SIGTERM the input stops accepting, half-closes every
//! connection (a gor sender takes that as "reconnect elsewhere or later")
//! and reads on until the sender closes or [`STOP_GRACE`] passes, so that
//! records already on their way are delivered, not lost.

use crate::message::Message;
use crate::plugin::{Input, Result, Shutdown};
use crate::records::{Damage, Record, Splitter};
use crate::runtime::runtime;
use crate::settings::{Settings, UsageError};
use crate::stats::{self, Counter};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// A connection that takes longer than this to send one record (from the
/// end of the one before, or its own first byte) is closed.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// At a stop, how long connections are read after the half-close.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Batches of records (those one read completed) waiting for the copy
/// loop, from every connection together: handing records over a read at a
/// time, rather than one by one, is what lets one connection carry
/// hundreds of MB/s.
const QUEUE: usize = 32;
/// Room reserved for each read.
const READ_SIZE: usize = 256 * 1024;
/// Room for the header line on top of `--copy-buffer-size`.
const HEADER_ROOM: usize = 4096;

/// What `--input-tcp` needs from the command line.
#[derive(Debug, Clone)]
pub struct TcpInputConfig {
    /// `:PORT` or `HOST:PORT`.
    pub address: String,
    /// PEM certificate and key, with `--input-tcp-secure`.
    pub tls: Option<(String, String)>,
    /// Longest record kept whole (longer ones keep their start).
    pub max_record: usize,
}

impl TcpInputConfig {
    pub fn from_settings(address: &str, s: &Settings) -> Result<TcpInputConfig> {
        let tls = if s.input_tcp_secure {
            if s.input_tcp_certificate.is_empty() || s.input_tcp_certificate_key.is_empty() {
                return Err(UsageError(
                    "--input-tcp-secure needs --input-tcp-certificate and --input-tcp-certificate-key (PEM files)".into(),
                )
                .into());
            }
            Some((
                s.input_tcp_certificate.clone(),
                s.input_tcp_certificate_key.clone(),
            ))
        } else {
            None
        };
        let copy = usize::try_from(s.copy_buffer_size).unwrap_or(usize::MAX);
        Ok(TcpInputConfig {
            address: address.to_string(),
            tls,
            max_record: copy.saturating_add(HEADER_ROOM),
        })
    }
}

pub struct TcpInput {
    rx: mpsc::Receiver<Vec<Message>>,
    /// The rest of the batch being read.
    batch: std::vec::IntoIter<Message>,
    addr: SocketAddr,
}

#[derive(Clone)]
struct Counters {
    connections: Counter,
    refused: Counter,
    closed_for_damage: Counter,
    stalled: Counter,
    handshake_failures: Counter,
    read_errors: Counter,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            connections: stats::counter("input_tcp.connections"),
            refused: stats::drop_counter("input_tcp.refused_connections"),
            closed_for_damage: stats::drop_counter("input_tcp.closed_for_garbage"),
            stalled: stats::drop_counter("input_tcp.stalled_connections"),
            handshake_failures: stats::drop_counter("input_tcp.tls_handshake_failures"),
            read_errors: stats::drop_counter("input_tcp.read_errors"),
        }
    }
}

impl TcpInput {
    /// Binds the address and starts accepting. The input ends (its `read`
    /// gives `None`) once `shutdown` is stopped and every connection is done.
    pub fn listen(config: TcpInputConfig, shutdown: &Shutdown) -> Result<TcpInput> {
        let acceptor = match &config.tls {
            Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(
                crate::relay::tls::server_config(cert, key)?,
            )),
            None => None,
        };
        let bind = crate::settings::values::listen_address(&config.address).ok_or_else(|| {
            UsageError(format!(
                "--input-tcp {:?}: expected :PORT or HOST:PORT",
                config.address
            ))
        })?;
        let std_listener = std::net::TcpListener::bind(&bind)
            .map_err(|e| anyhow::anyhow!("--input-tcp {:?}: cannot listen: {e}", config.address))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime().enter();
            TcpListener::from_std(std_listener)?
        };
        tracing::info!(
            "--input-tcp listening on {addr}{}",
            if acceptor.is_some() { " (TLS)" } else { "" }
        );
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop_tx, stop_rx) = watch::channel(false);
        let watcher = shutdown.clone();
        runtime().spawn(async move {
            watcher.until_stopped().await;
            let _ = stop_tx.send(true);
        });
        let shared = Arc::new(Shared {
            acceptor,
            damage: Damage::for_input("input-tcp"),
            counters: Counters::new(),
            max_record: config.max_record.max(1),
        });
        runtime().spawn(accept(listener, shared, tx, stop_rx));
        Ok(TcpInput {
            rx,
            batch: Vec::new().into_iter(),
            addr,
        })
    }

    /// The address actually listened on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Input for TcpInput {
    fn read(&mut self) -> Result<Option<Message>> {
        loop {
            if let Some(m) = self.batch.next() {
                return Ok(Some(m));
            }
            match self.rx.blocking_recv() {
                Some(batch) => self.batch = batch.into_iter(),
                None => return Ok(None),
            }
        }
    }

    fn drains_at_stop(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("--input-tcp {}", self.addr)
    }
}

struct Shared {
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    damage: Damage,
    counters: Counters,
    max_record: usize,
}

async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<Message>>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, mostly: wait for some to close.
                    tracing::debug!("--input-tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            shared.counters.refused.drop_one(&format_args!(
                "--input-tcp: {MAX_CONNECTIONS} connections are open, a new one from {peer} was refused"
            ));
            drop(sock);
            continue;
        };
        shared.counters.connections.inc();
        let _ = sock.set_nodelay(true);
        let shared = shared.clone();
        let tx = tx.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match &shared.acceptor {
                None => serve(sock, peer, &shared, tx, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
                        Ok(Ok(tls)) => serve(tls, peer, &shared, tx, stop).await,
                        Ok(Err(e)) => shared.counters.handshake_failures.drop_one(&format_args!(
                            "--input-tcp: TLS handshake with {peer} failed: {e}"
                        )),
                        Err(_) => shared.counters.handshake_failures.drop_one(&format_args!(
                            "--input-tcp: TLS handshake with {peer} took over {HANDSHAKE_TIMEOUT:?}"
                        )),
                    }
                }
            }
            drop(slot);
        });
    }
    // Dropping the listener here refuses new connections at once.
}

/// One sender's connection, until it closes, misbehaves, stalls, or the
/// stop grace ends.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    shared: &Shared,
    tx: mpsc::Sender<Vec<Message>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut splitter = Splitter::new(peer.to_string(), shared.damage.clone(), shared.max_record);
    let mut out: VecDeque<Record> = VecDeque::new();
    let mut buf = BytesMut::new();
    let mut grace_ends: Option<Instant> = None;
    // When the record now coming began (or the one before it ended): a
    // sender trickling a byte now and then must still finish it in time.
    let mut record_began: Option<Instant> = None;
    loop {
        if buf.capacity() - buf.len() < READ_SIZE / 4 {
            buf.reserve(READ_SIZE);
        }
        let deadline = match grace_ends {
            Some(t) => Some(t),
            None => record_began.map(|t| t + STALL_TIMEOUT),
        };
        let stopping = grace_ends.is_some();
        let read = tokio::select! {
            r = stream.read_buf(&mut buf) => r,
            _ = stopped(&mut stop), if !stopping => {
                // Tell the sender we are going; read what it already sent.
                let _ = stream.shutdown().await;
                grace_ends = Some(Instant::now() + STOP_GRACE);
                continue;
            }
            _ = sleep_until(deadline) => {
                if !stopping {
                    shared.counters.stalled.drop_one(&format_args!(
                        "--input-tcp: {peer} took more than {STALL_TIMEOUT:?} to send one record; closing that connection"
                    ));
                }
                break;
            }
        };
        match read {
            Ok(0) => break,
            Ok(_) => {
                let chunk = buf.split().freeze();
                splitter.push(&chunk, &mut out);
                let completed = !out.is_empty();
                if !deliver(&tx, &mut out).await {
                    return;
                }
                // Taken after the delivery, which waits while the copy loop
                // is behind: that time is not the sender's.
                record_began = match (splitter.holds_partial(), record_began) {
                    (false, _) => None,
                    (true, None) => Some(Instant::now()),
                    (true, _) if completed => Some(Instant::now()),
                    (true, began) => began,
                };
                if splitter.damaged() > 0 {
                    // The records before the damage were delivered above.
                    shared.counters.closed_for_damage.drop_one(&format_args!(
                        "--input-tcp: {peer} sent data that is not gor records; closing that connection"
                    ));
                    return;
                }
            }
            Err(e) => {
                shared
                    .counters
                    .read_errors
                    .drop_one(&format_args!("--input-tcp: reading from {peer}: {e}"));
                break;
            }
        }
    }
    // What follows the last separator is an incomplete record: counted.
    splitter.finish(&mut out);
    deliver(&tx, &mut out).await;
}

/// Hands the records over as one batch; false once the input is gone.
async fn deliver(tx: &mpsc::Sender<Vec<Message>>, out: &mut VecDeque<Record>) -> bool {
    if out.is_empty() {
        return true;
    }
    let batch: Vec<Message> = out.drain(..).map(|r| r.message).collect();
    tx.send(batch).await.is_ok()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Completes once the stop is asked for (or its watcher is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
