//! `--output-binary host:port`: replays the payloads of a non-HTTP TCP
//! protocol (captured with `--input-raw-protocol binary`) to a server, as
//! they are, and optionally reads its replies back as type-3 messages.
//!
//! Only requests (type 1) are sent; anything else is skipped and counted
//! (`output_binary.skipped_non_requests`). Each worker owns one TCP
//! connection: it writes a request's bytes, then reads the reply until the
//! server closes the connection, the reply pauses, or 1 GiB was read,
//! keeping the first `--output-tcp-response-buffer` bytes (the flag's name
//! is GoReplay's; it sizes this output's replies). A connection the server
//! closed is opened again before the next request.
//!
//! `--output-binary-timeout` (0 means 5 s) bounds the connect, the write and
//! the wait for the first reply byte; once the reply has started, a pause of
//! a fifth of it ends the reply. A whole reply never takes longer than four
//! timeouts, so a server that trickles bytes forever cannot hold a worker.
//!
//! Workers are threads. `--output-binary-workers N` runs N of them (at most
//! 1000); 0 runs a pool that starts at 10, grows by one whenever a request
//! is queued behind more requests than there are workers (up to 1000), and
//! lets a worker idle for 2 s go while more than one is left.
//!
//! The queue holds [`QUEUE_LEN`] requests: `write` (files) waits for room,
//! `offer` (live capture) drops and counts (`output_binary.queue_full`).
//! `close` lets the workers finish what was queued; what is still queued or
//! in flight when gor's time is up is given up and counted
//! (`output_binary.abandoned_at_close`).

use crate::message::{Message, PayloadType, now_ns};
use crate::plugin::{Input, Output, Result, Shutdown, lock};
use crate::settings::{Settings, UsageError};
use crate::stats::{self, Counter};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown as SocketShutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Requests waiting for a worker.
pub const QUEUE_LEN: usize = 1000;
/// Most workers, fixed or grown.
pub const MAX_WORKERS: usize = 1000;
/// Workers a dynamic pool starts with.
const DYNAMIC_START: usize = 10;
/// A dynamic worker that got nothing for this long ends (one always stays).
const IDLE: Duration = Duration::from_secs(2);
/// Reading a reply stops here, kept or not.
const READ_LIMIT: u64 = 1 << 30;
/// `--output-tcp-response-buffer 0` means this.
const DEFAULT_RESPONSE_BUFFER: usize = 100 * 1024;
/// `--output-binary-timeout 0` means this.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest payload shown by `--output-binary-debug`.
const DEBUG_SHOWN: usize = 4096;

/// How many workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// Start at 10, grow with the queue, shrink when idle.
    Dynamic,
    /// Exactly this many.
    Fixed(usize),
}

/// The settings of one `--output-binary`.
#[derive(Debug, Clone)]
pub struct BinaryConfig {
    /// `host:port`, resolved at each connect.
    pub address: String,
    pub workers: Workers,
    /// Connect, write and first-reply-byte time limit.
    pub timeout: Duration,
    /// Reply bytes kept per request.
    pub response_buffer: usize,
    pub track_response: bool,
    /// Log every payload sent and received (debug level, `--verbose 1`).
    pub debug: bool,
    /// How long a dynamic worker idles before it ends.
    pub idle: Duration,
}

impl BinaryConfig {
    pub fn from_settings(address: &str, s: &Settings) -> Result<BinaryConfig> {
        let port = address.rsplit_once(':').map(|(_, p)| p);
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(
                UsageError(format!("--output-binary {address:?}: expected host:port")).into(),
            );
        }
        let workers = match s.output_binary_workers {
            n if n <= 0 => Workers::Dynamic,
            n => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > MAX_WORKERS {
                    tracing::warn!(
                        "--output-binary-workers {n}: running {MAX_WORKERS}, the most one output runs"
                    );
                }
                Workers::Fixed(n.min(MAX_WORKERS))
            }
        };
        let buffer = usize::try_from(s.output_tcp_response_buffer).unwrap_or(usize::MAX);
        Ok(BinaryConfig {
            address: dial_address(address),
            workers,
            timeout: if s.output_binary_timeout.is_zero() {
                DEFAULT_TIMEOUT
            } else {
                s.output_binary_timeout
            },
            response_buffer: match buffer {
                0 => DEFAULT_RESPONSE_BUFFER,
                n => n.min(READ_LIMIT as usize),
            },
            track_response: s.output_binary_track_response,
            debug: s.output_binary_debug,
            idle: IDLE,
        })
    }
}

/// `:port` means this host.
fn dial_address(address: &str) -> String {
    match address.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => address.to_string(),
    }
}

/// Counters of every `--output-binary`.
struct Counters {
    sent: Counter,
    replies: Counter,
    no_reply: Counter,
    replies_truncated: Counter,
    replies_cut: Counter,
    skipped: Counter,
    queue_full: Counter,
    connect_failed: Counter,
    write_failed: Counter,
    read_failed: Counter,
    responses_discarded: Counter,
    responses_dropped: Counter,
    abandoned: Counter,
}

impl Counters {
    fn new() -> Self {
        Counters {
            sent: stats::counter("output_binary.requests"),
            replies: stats::counter("output_binary.replies"),
            no_reply: stats::counter("output_binary.no_reply"),
            replies_truncated: stats::counter("output_binary.replies_truncated"),
            replies_cut: stats::counter("output_binary.replies_cut_at_time_limit"),
            skipped: stats::counter("output_binary.skipped_non_requests"),
            queue_full: stats::drop_counter("output_binary.queue_full"),
            connect_failed: stats::drop_counter("output_binary.connect_failed"),
            write_failed: stats::drop_counter("output_binary.write_failed"),
            read_failed: stats::drop_counter("output_binary.read_failed"),
            responses_discarded: stats::drop_counter("output_binary.responses_discarded"),
            responses_dropped: stats::drop_counter("output_binary.responses_dropped"),
            abandoned: stats::drop_counter("output_binary.abandoned_at_close"),
        }
    }
}

/// What the workers share.
struct Shared {
    config: BinaryConfig,
    name: String,
    /// The queue's receiving end, cloned by each new worker; taken when the
    /// output gives up, so that writers waiting for room stop waiting.
    rx: Mutex<Option<Receiver<Message>>>,
    /// Where replies go as type-3 messages (`None` without tracking, or
    /// once closed).
    responses: Mutex<Option<Sender<Message>>>,
    active: AtomicUsize,
    /// Exchanges finished, successfully or not (progress seen by `close`).
    finished: AtomicU64,
    closed: AtomicBool,
    give_up: AtomicBool,
    /// The connection each worker holds, so that giving up can cut the
    /// exchanges in flight at once.
    sockets: Mutex<HashMap<u64, TcpStream>>,
    next_worker: AtomicU64,
    /// A token whenever an exchange finishes or a worker ends.
    progress: (Sender<()>, Receiver<()>),
    counters: Counters,
    shutdown: Shutdown,
}

/// The input of replies, with `--output-binary-track-response`.
pub type Replies = Option<Box<dyn Input>>;

/// A started output and its input of replies.
pub type Started = (Arc<dyn Output>, Replies);

/// The `--output-binary` output.
pub struct BinaryOutput {
    shared: Arc<Shared>,
    tx: RwLock<Option<Sender<Message>>>,
}

/// Replies as type-3 messages, fed back into the emitter as an input.
pub struct BinaryResponseInput {
    rx: Receiver<Message>,
    name: String,
}

impl Input for BinaryResponseInput {
    fn read(&mut self) -> Result<Option<Message>> {
        Ok(self.rx.recv().ok())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Why one exchange failed.
enum Failure {
    Connect(std::io::Error),
    Write(std::io::Error),
    Read(std::io::Error),
}

/// What one exchange brought back.
struct Reply {
    kept: Vec<u8>,
    /// Bytes read in all (kept or not).
    read: u64,
    /// The server closed the connection.
    closed: bool,
    /// Reading stopped at the time limit of a whole reply.
    cut: bool,
}

impl BinaryOutput {
    /// Starts the workers of one `--output-binary`; the second value is the
    /// input of replies when `--output-binary-track-response` is on.
    pub fn start(config: BinaryConfig, shutdown: &Shutdown) -> Result<Started> {
        let (out, input) = Self::open(config, shutdown)?;
        Ok((out, input))
    }

    /// [`BinaryOutput::start`], keeping the concrete type (tests look at
    /// the number of workers).
    pub fn open(config: BinaryConfig, shutdown: &Shutdown) -> Result<(Arc<BinaryOutput>, Replies)> {
        let name = format!("--output-binary {}", config.address);
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_LEN);
        let (responses, input) = if config.track_response {
            let (rtx, rrx) = crossbeam_channel::bounded(QUEUE_LEN);
            let input: Box<dyn Input> = Box::new(BinaryResponseInput {
                rx: rrx,
                name: format!("{name} responses"),
            });
            (Some(rtx), Some(input))
        } else {
            (None, None)
        };
        let start = match config.workers {
            Workers::Dynamic => DYNAMIC_START,
            Workers::Fixed(n) => n,
        };
        let shared = Arc::new(Shared {
            config,
            name,
            rx: Mutex::new(Some(rx)),
            responses: Mutex::new(responses),
            active: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            give_up: AtomicBool::new(false),
            sockets: Mutex::new(HashMap::new()),
            next_worker: AtomicU64::new(0),
            progress: crossbeam_channel::bounded(1),
            counters: Counters::new(),
            shutdown: shutdown.clone(),
        });
        for _ in 0..start {
            Shared::spawn_worker(&shared)?;
        }
        let out = Arc::new(BinaryOutput {
            shared,
            tx: RwLock::new(Some(tx)),
        });
        Ok((out, input))
    }

    /// Number of running workers.
    pub fn workers(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    fn sender(&self) -> Result<Sender<Message>> {
        match &*self.tx.read().unwrap_or_else(|e| e.into_inner()) {
            Some(tx) => Ok(tx.clone()),
            None => anyhow::bail!("{} is closed", self.shared.name),
        }
    }

    /// A dynamic pool grows by one when the queue is longer than the number
    /// of workers.
    fn after_enqueue(&self, tx: &Sender<Message>) {
        if self.shared.config.workers != Workers::Dynamic {
            return;
        }
        let active = self.shared.active.load(Ordering::SeqCst);
        if tx.len() > active
            && active < MAX_WORKERS
            && let Err(e) = Shared::spawn_worker(&self.shared)
        {
            tracing::warn!("{}: cannot start one more worker: {e}", self.shared.name);
        }
    }

    /// Skips (and counts) what is not a request.
    fn is_request(&self, msg: &Message) -> bool {
        if msg.is_request() {
            return true;
        }
        self.shared.counters.skipped.inc();
        false
    }
}

impl Output for BinaryOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        if !self.is_request(msg) {
            return Ok(());
        }
        let tx = self.sender()?;
        let mut msg = msg.clone();
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                    anyhow::bail!("{} is closed", self.shared.name)
                }
                Err(crossbeam_channel::TrySendError::Full(m)) => {
                    if self.shared.shutdown.is_expired()
                        || self.shared.give_up.load(Ordering::SeqCst)
                    {
                        self.shared.counters.abandoned.drop_one(&format_args!(
                            "{}: requests still waiting to be replayed when gor's time was up were given up",
                            self.shared.name
                        ));
                        return Ok(());
                    }
                    msg = m;
                    crossbeam_channel::select! {
                        send(tx, msg.clone()) -> r => match r {
                            Ok(()) => break,
                            Err(_) => anyhow::bail!("{} is closed", self.shared.name),
                        },
                        recv(self.shared.shutdown.expired()) -> _ => {}
                        default(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        self.after_enqueue(&tx);
        Ok(())
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        if !self.is_request(msg) {
            return Ok(());
        }
        let tx = self.sender()?;
        match tx.try_send(msg.clone()) {
            Ok(()) => self.after_enqueue(&tx),
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                self.shared.counters.queue_full.drop_one(&format_args!(
                    "{}: the replay queue is full, a live request was dropped (raise --output-binary-workers)",
                    self.shared.name
                ))
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                anyhow::bail!("{} is closed", self.shared.name)
            }
        }
        Ok(())
    }

    /// Stops accepting and lets the workers replay what is queued, as long
    /// as exchanges keep finishing and gor's time is not up; then ends the
    /// reply input. What is given up is counted as
    /// `output_binary.abandoned_at_close`.
    fn close(&self) {
        let tx = self.tx.write().unwrap_or_else(|e| e.into_inner()).take();
        let Some(tx) = tx else { return };
        let pending = tx.len();
        drop(tx);
        let shared = &self.shared;
        shared.closed.store(true, Ordering::SeqCst);
        // No exchange takes longer than this (connect, write, whole reply).
        let patience = shared.config.timeout * 6 + Duration::from_secs(1);
        if let Some(why) = shared.shutdown.wait_while_progressing(
            || shared.active.load(Ordering::SeqCst) > 0,
            || shared.finished.load(Ordering::SeqCst),
            &shared.progress.1,
            patience,
            "exchange",
        ) {
            self.give_up(&why, pending);
        }
        lock(&shared.responses).take();
    }

    fn produces_responses(&self) -> bool {
        self.shared.config.track_response
    }

    fn describe(&self) -> String {
        self.shared.name.clone()
    }
}

impl BinaryOutput {
    /// Cuts the exchanges in flight and drops what is queued, counting both
    /// as `output_binary.abandoned_at_close`; waits briefly for the workers
    /// to have counted.
    fn give_up(&self, why: &str, pending: usize) {
        let shared = &self.shared;
        let before = shared.counters.abandoned.get();
        shared.give_up.store(true, Ordering::SeqCst);
        lock(&shared.rx).take();
        for socket in lock(&shared.sockets).values() {
            let _ = socket.shutdown(SocketShutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while shared.active.load(Ordering::SeqCst) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = shared.progress.1.recv_timeout(left);
        }
        let given_up = shared.counters.abandoned.get() - before;
        tracing::warn!(
            "{}: {why}; gave up {given_up} requests in flight or queued (about {pending} were queued at close), counted as {}",
            shared.name,
            shared.counters.abandoned.name()
        );
    }
}

impl Shared {
    fn spawn_worker(shared: &Arc<Shared>) -> std::io::Result<()> {
        let Some(rx) = lock(&shared.rx).clone() else {
            return Ok(());
        };
        if shared.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let responses = lock(&shared.responses).clone();
        let id = shared.next_worker.fetch_add(1, Ordering::SeqCst);
        shared.active.fetch_add(1, Ordering::SeqCst);
        let me = shared.clone();
        let spawned = shared.shutdown.spawn("output-binary-worker", move || {
            me.work(id, rx, responses);
            lock(&me.sockets).remove(&id);
            let _ = me.progress.0.try_send(());
        });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
        spawned
    }

    /// One worker: takes requests until the queue is closed and empty, or
    /// (dynamic pool) until it idled while others are left.
    fn work(&self, id: u64, rx: Receiver<Message>, responses: Option<Sender<Message>>) {
        let mut conn: Option<TcpStream> = None;
        loop {
            let msg = match rx.recv_timeout(self.config.idle) {
                Ok(m) => m,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if self.config.workers == Workers::Dynamic && self.leave_if_extra() {
                        return;
                    }
                    continue;
                }
            };
            if self.give_up.load(Ordering::SeqCst) {
                self.counters.abandoned.inc();
            } else {
                self.handle(id, &mut conn, msg, responses.as_ref());
            }
            self.finished.fetch_add(1, Ordering::SeqCst);
            let _ = self.progress.0.try_send(());
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Ends this worker's count if more than one worker is left.
    fn leave_if_extra(&self) -> bool {
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |a| {
                (a > 1).then(|| a - 1)
            })
            .is_ok()
    }

    fn handle(
        &self,
        id: u64,
        conn: &mut Option<TcpStream>,
        msg: Message,
        responses: Option<&Sender<Message>>,
    ) {
        if self.config.debug {
            tracing::debug!(
                "[BINARY-OUTPUT] {} sending {} bytes: {}",
                self.name,
                msg.data.len(),
                shown(&msg.data)
            );
        }
        let start_ns = now_ns();
        let began = Instant::now();
        let outcome = self.exchange(id, conn, &msg.data);
        let rtt_ns = i64::try_from(began.elapsed().as_nanos()).unwrap_or(i64::MAX);
        // An exchange cut by giving up ends as a failure or as an empty
        // reply (the socket was shut down under it).
        if self.give_up.load(Ordering::SeqCst) && !matches!(&outcome, Ok(reply) if reply.read > 0) {
            self.forget(id, conn);
            self.counters.abandoned.inc();
            return;
        }
        let kept = match outcome {
            Ok(reply) => {
                if reply.closed || reply.cut {
                    self.forget(id, conn);
                }
                if reply.cut {
                    self.counters.replies_cut.inc();
                }
                if reply.read == 0 {
                    self.counters.no_reply.inc();
                } else {
                    self.counters.replies.inc();
                }
                if reply.read > reply.kept.len() as u64 {
                    self.counters.replies_truncated.inc();
                }
                if self.config.debug {
                    tracing::debug!(
                        "[BINARY-OUTPUT] {} reply of {} bytes in {:.1} ms: {}",
                        self.name,
                        reply.read,
                        rtt_ns as f64 / 1e6,
                        shown(&reply.kept)
                    );
                }
                reply.kept
            }
            Err(failure) => {
                self.forget(id, conn);
                let (counter, what, e) = match &failure {
                    Failure::Connect(e) => (&self.counters.connect_failed, "cannot connect", e),
                    Failure::Write(e) => (&self.counters.write_failed, "cannot send a request", e),
                    Failure::Read(e) => (&self.counters.read_failed, "cannot read a reply", e),
                };
                counter.drop_one(&format_args!(
                    "[BINARY-OUTPUT] {}: {what}: {e}",
                    self.config.address
                ));
                tracing::debug!("[BINARY-OUTPUT] {}: {what}: {e}", self.config.address);
                Vec::new()
            }
        };
        let Some(tx) = responses else { return };
        if kept.is_empty() {
            // An empty type-3 message would be discarded by the emitter.
            self.counters.responses_discarded.drop_one(&format_args!(
                "{}: a request got no reply (or failed), so no response message was emitted for it",
                self.name
            ));
            return;
        }
        let id = String::from_utf8_lossy(msg.id()).into_owned();
        let m = Message::new(PayloadType::ReplayedResponse, &id, start_ns, rtt_ns, kept);
        crossbeam_channel::select! {
            send(tx, m) -> r => if r.is_err() {
                self.counters
                    .responses_dropped
                    .drop_one(&"a binary reply arrived after its input was closed");
            },
            recv(self.shutdown.expired()) -> _ => {
                self.counters
                    .responses_dropped
                    .drop_one(&"a binary reply was dropped: gor's time was up");
            }
        }
    }

    /// Closes this worker's connection.
    fn forget(&self, id: u64, conn: &mut Option<TcpStream>) {
        *conn = None;
        lock(&self.sockets).remove(&id);
    }

    /// Sends `data` and reads the reply.
    fn exchange(
        &self,
        id: u64,
        conn: &mut Option<TcpStream>,
        data: &[u8],
    ) -> std::result::Result<Reply, Failure> {
        if conn.as_ref().is_some_and(|c| !is_open(c)) {
            self.forget(id, conn);
        }
        let stream = match conn {
            Some(s) => s,
            None => {
                let s = self.connect().map_err(Failure::Connect)?;
                if self.give_up.load(Ordering::SeqCst) {
                    return Err(Failure::Connect(ErrorKind::Interrupted.into()));
                }
                if let Ok(clone) = s.try_clone() {
                    lock(&self.sockets).insert(id, clone);
                }
                conn.insert(s)
            }
        };
        self.counters.sent.inc();
        stream
            .set_write_timeout(Some(self.config.timeout))
            .map_err(Failure::Write)?;
        stream.write_all(data).map_err(Failure::Write)?;
        read_reply(stream, self.config.timeout, self.config.response_buffer)
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let mut last = None;
        for addr in self.config.address.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, self.config.timeout) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(ErrorKind::NotFound, "the address resolves to nothing")
        }))
    }
}

/// False when the server closed (or reset) an idle connection; bytes it
/// sent unasked are read and thrown away.
fn is_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    let open = loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => break false,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break false,
        }
    };
    stream.set_nonblocking(false).is_ok() && open
}

/// Reads a reply until the server closes, the reply pauses (the whole
/// `timeout` before the first byte, a fifth of it after), [`READ_LIMIT`]
/// bytes, or four timeouts in all; keeps the first `keep` bytes.
fn read_reply(
    stream: &mut TcpStream,
    timeout: Duration,
    keep: usize,
) -> std::result::Result<Reply, Failure> {
    let began = Instant::now();
    let whole = timeout * 4;
    let pause = (timeout / 5).max(Duration::from_millis(1));
    let mut reply = Reply {
        kept: Vec::new(),
        read: 0,
        closed: false,
        cut: false,
    };
    let mut buf = vec![0u8; 64 * 1024];
    while reply.read < READ_LIMIT {
        let wait = if reply.read == 0 { timeout } else { pause };
        let left = whole.saturating_sub(began.elapsed());
        if left.is_zero() {
            reply.cut = true;
            break;
        }
        stream
            .set_read_timeout(Some(wait.min(left)))
            .map_err(Failure::Read)?;
        match stream.read(&mut buf) {
            Ok(0) => {
                reply.closed = true;
                break;
            }
            Ok(n) => {
                let room = keep.saturating_sub(reply.kept.len());
                reply.kept.extend_from_slice(&buf[..n.min(room)]);
                reply.read += n as u64;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A reset after some of the reply arrived ends the reply.
            Err(_) if reply.read > 0 => {
                reply.closed = true;
                break;
            }
            Err(e) => return Err(Failure::Read(e)),
        }
    }
    // What the server still sends belongs to this reply: not to be read as
    // the next one.
    if reply.read >= READ_LIMIT {
        reply.closed = true;
    }
    Ok(reply)
}

/// A payload for the debug log: printable ASCII as is, other bytes escaped,
/// at most [`DEBUG_SHOWN`] bytes.
fn shown(data: &[u8]) -> String {
    let head = &data[..data.len().min(DEBUG_SHOWN)];
    let mut s = head.escape_ascii().to_string();
    if data.len() > head.len() {
        s.push_str(&format!("… ({} bytes in all)", data.len()));
    }
    s
}

#[cfg(test)]
mod tests;
