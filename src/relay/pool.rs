//! The worker pool behind `--output-tcp` and `--output-ws`.
//!
//! Each worker owns one persistent connection. Without sticky routing the
//! workers share one bounded queue of [`QUEUE`] messages per worker: a
//! worker that is free takes the next batch, so the load spreads over as
//! many connections as it needs, a slow connection holds up nothing behind
//! it, and a busy stream travels in large batches rather than one message
//! per wake-up of each of many threads (which, with ten workers, costs more
//! than the writes themselves). Only one worker at a time waits on the
//! queue and takes its batch; the others sleep on a lock, rather than all
//! of them spinning on the queue whenever it runs dry. When sticky, each worker has its own queue
//! of [`QUEUE`] messages and a message goes to the worker its id hashes to
//! (FNV-1a, 32 bit), so that every message of one request/response pair
//! travels on the same connection, in order.
//!
//! Reliability beyond GoReplay's: a worker whose connection has been quiet
//! checks for a peer close before writing (a receiver that restarted), and
//! a write that fails puts its messages back at the front of the queue, so
//! they are sent again on a fresh connection. Dial failures are retried with
//! a backoff of at most a second and logged once per outage (by the first
//! worker that fails; its end by the last one to connect again). At close, the
//! pool keeps sending while it makes progress; what it still could not send
//! is counted (`<output>.abandoned_at_close`), never silently lost.
//!
//! A receiver that accepts connections but stops reading would otherwise
//! hold a stop for as long as the writes block: every worker blocked in a
//! write, the copy loop blocked on the full queue. At a stop, once nothing
//! has been sent for [`CLOSE_PATIENCE`] (counted from the stop at the
//! earliest), the pool gives up: it cuts the blocked dials, TLS or
//! WebSocket handshakes and writes (a shutdown of each worker's socket),
//! and what the queues, the workers and later writes hold is counted as
//! abandoned. gor then exits in seconds, inside the 10 s a `docker stop`
//! allows.

use crate::message::{Message, PayloadType};
use crate::plugin::{Output, Result, Shutdown, lock};
use crate::queue_stats::QueueStats;
use crate::stats::{self, Counter};
use crossbeam_channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded,
};
use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Messages queued per worker.
pub const QUEUE: usize = 100;
/// Most bytes handed to one connection in one go.
const BATCH_BYTES: usize = 1024 * 1024;
/// Most messages handed to one connection in one go.
const BATCH_MESSAGES: usize = 256;
/// A connection quiet for this long is checked for a peer close before it
/// is written to again; while streaming, the check runs this often.
const CLOSE_CHECK: Duration = Duration::from_millis(20);
/// Longest wait between two dial attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// At a stop, how long the pool may go without sending anything before it
/// gives up on what is left.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);
/// How often a write waiting for room in a full queue looks at the stop.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// One open connection of a worker.
pub trait Link: Send {
    /// Sends the messages in order. An error means the connection is
    /// unusable; the pool sends all of them again on a new one.
    fn send(&mut self, batch: &[Message]) -> std::io::Result<()>;

    /// True when the peer closed its side or reset the connection; never
    /// blocks.
    fn peer_closed(&mut self) -> bool;

    /// Ends the connection politely.
    fn close(&mut self);
}

/// Opens connections to one target.
pub trait Connector: Send + Sync {
    /// A new connection (connect, TLS handshake, protocol upgrade), within
    /// the dial timeout. The error is one line for the log. `on_socket`
    /// sees the socket before its connect starts: through it the pool cuts
    /// a dial, a handshake or a write that hangs when it gives up at a stop.
    fn connect(&self, on_socket: &dyn Fn(&TcpStream))
    -> std::result::Result<Box<dyn Link>, String>;
}

/// How the pool runs.
pub struct PoolConfig {
    /// The output flag without dashes (`output-tcp`): counters are named
    /// after it (`output_tcp.sent`) and so is the stats line.
    pub flag: &'static str,
    /// The target as the user wrote it (for logs).
    pub target: String,
    pub workers: usize,
    pub sticky: bool,
    /// With `--stats` and the output's `-stats` flag: the queue line period.
    pub stats_period: Option<Duration>,
}

/// The value of `--<flag>-workers`: at least one.
pub fn worker_count(flag: &str, n: i64) -> Result<usize> {
    match usize::try_from(n) {
        Ok(w) if w > 0 => Ok(w),
        _ => Err(crate::settings::UsageError(format!(
            "--{flag}-workers {n}: needs at least 1 worker"
        ))
        .into()),
    }
}

/// FNV-1a, 32 bit: the sticky worker of an id.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[derive(Clone)]
struct Counters {
    sent: Counter,
    reconnects: Counter,
    skipped_replayed: Counter,
    queue_full: Counter,
    abandoned: Counter,
    /// This pool's part of `abandoned` (the counter is shared by every
    /// output of the kind), reported in one line at close.
    abandoned_here: Arc<AtomicU64>,
}

impl Counters {
    fn new(flag: &str) -> Counters {
        let prefix = flag.replace('-', "_");
        Counters {
            sent: stats::counter(&format!("{prefix}.sent")),
            reconnects: stats::counter(&format!("{prefix}.reconnects")),
            skipped_replayed: stats::drop_counter(&format!("{prefix}.replayed_responses_skipped")),
            queue_full: stats::drop_counter(&format!("{prefix}.queue_full")),
            abandoned: stats::drop_counter(&format!("{prefix}.abandoned_at_close")),
            abandoned_here: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts messages that could not be sent before closing.
    fn abandon(&self, left: usize) {
        self.abandoned.add(left as u64);
        self.abandoned_here
            .fetch_add(left as u64, Ordering::Relaxed);
    }

    /// One line for everything this pool could not send.
    fn report_abandoned(&self, name: &str) {
        let left = self.abandoned_here.load(Ordering::Relaxed);
        if left > 0 {
            tracing::warn!(
                "{name}: {left} messages could not be sent before closing (counted as {})",
                self.abandoned.name()
            );
        }
    }
}

/// When the workers last sent something, for the patience at a stop.
struct Progress {
    start: Instant,
    /// When something was last sent (or the stop was first seen), in
    /// milliseconds since `start`.
    last_ms: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Something was sent, or the stop was seen: the patience starts now.
    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::SeqCst);
    }

    /// How long nothing has been sent.
    fn quiet_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::SeqCst)))
    }
}

/// A running pool: the output itself (`--output-tcp`, `--output-ws`).
pub struct Pool {
    name: String,
    /// One per worker when sticky; one shared by every worker otherwise.
    queues: RwLock<Option<Vec<Sender<Message>>>>,
    /// Kept to count what is left when workers cannot finish.
    receivers: Vec<Receiver<Message>>,
    sticky: bool,
    counters: Counters,
    progress: Arc<Progress>,
    shutdown: Shutdown,
    /// Set once the stop has been seen (the patience starts then at the
    /// earliest).
    stop_seen: AtomicBool,
    /// Set when the pool gives up; dropping `give_up` tells the workers.
    given_up: AtomicBool,
    give_up: Mutex<Option<Sender<()>>>,
    /// Each worker's socket while it has a connection, to cut a blocked
    /// write when the pool gives up.
    sockets: Arc<Mutex<Vec<Option<TcpStream>>>>,
    /// Disconnected once every worker has ended.
    done: Receiver<()>,
    stats: Option<Arc<QueueStats>>,
}

impl Pool {
    /// Starts `config.workers` workers; each connects at once (and, if the
    /// receiver is not there yet, again when it has a message to send).
    pub fn start(
        config: PoolConfig,
        connector: Arc<dyn Connector>,
        shutdown: &Shutdown,
    ) -> Result<Pool> {
        if config.workers == 0 {
            anyhow::bail!("--{}-workers: needs at least 1 worker", config.flag);
        }
        let name = format!("--{} {}", config.flag, config.target);
        let counters = Counters::new(config.flag);
        let progress = Arc::new(Progress::new());
        let sockets = Arc::new(Mutex::new((0..config.workers).map(|_| None).collect()));
        let connected = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicUsize::new(0));
        let (give_up_tx, give_up_rx) = bounded::<()>(0);
        let (done_tx, done_rx) = bounded::<()>(0);
        let mut queues = Vec::with_capacity(config.workers);
        let mut receivers = Vec::with_capacity(config.workers);
        let shared = (!config.sticky).then(|| bounded(QUEUE * config.workers));
        if let Some((tx, rx)) = &shared {
            queues.push(tx.clone());
            receivers.push(rx.clone());
        }
        let shared_intake = Arc::new(Mutex::new(()));
        for index in 0..config.workers {
            let intake = match &shared {
                Some(_) => shared_intake.clone(),
                None => Arc::new(Mutex::new(())),
            };
            let rx = match &shared {
                Some((_, rx)) => rx.clone(),
                None => {
                    let (tx, rx) = bounded(QUEUE);
                    queues.push(tx);
                    receivers.push(rx.clone());
                    rx
                }
            };
            let worker = Worker {
                index,
                sockets: sockets.clone(),
                name: name.clone(),
                rx,
                connector: connector.clone(),
                give_up: give_up_rx.clone(),
                intake: intake.clone(),
                shutdown: shutdown.clone(),
                counters: counters.clone(),
                progress: progress.clone(),
                connected: connected.clone(),
                failing: failing.clone(),
                _done: done_tx.clone(),
            };
            shutdown.spawn(format!("{}-{index}", config.flag), move || worker.run())?;
        }
        let stats = config.stats_period.map(|p| {
            let name: &'static str = match config.flag {
                "output-ws" => "output_ws",
                _ => "output_tcp",
            };
            let s = QueueStats::start(name, p, shutdown);
            let connected = connected.clone();
            s.set_workers(move || connected.load(Ordering::Relaxed));
            s
        });
        drop(shared);
        // The pool keeps its receivers until it is dropped anyway: one more
        // clone each changes nothing for the workers.
        let queued = receivers.clone();
        stats::gauge(
            &format!("{name}.queue"),
            &stats::QUEUE_MESSAGES,
            &[("queue", &name)],
            move || Some(queued.iter().map(|rx| rx.len() as u64).sum()),
        );
        Ok(Pool {
            name,
            queues: RwLock::new(Some(queues)),
            receivers,
            sticky: config.sticky,
            counters,
            progress,
            shutdown: shutdown.clone(),
            stop_seen: AtomicBool::new(false),
            given_up: AtomicBool::new(false),
            give_up: Mutex::new(Some(give_up_tx)),
            sockets,
            done: done_rx,
            stats,
        })
    }

    /// Requests and captured responses are relayed; replayed responses
    /// (type 3) are not, as in GoReplay.
    fn relayed(&self, msg: &Message) -> bool {
        match msg.payload_type() {
            Some(PayloadType::Request | PayloadType::Response) => true,
            _ => {
                self.counters.skipped_replayed.drop_one(&format_args!(
                    "{}: only requests and responses (types 1 and 2) are relayed; other messages are skipped",
                    self.name
                ));
                false
            }
        }
    }

    /// The queue of the worker that gets `msg`.
    fn queue_for(&self, msg: &Message) -> Result<Sender<Message>> {
        let guard = self.queues.read().unwrap_or_else(|e| e.into_inner());
        let Some(queues) = guard.as_ref() else {
            anyhow::bail!("{} is closed", self.name);
        };
        let index = if self.sticky {
            fnv1a32(msg.id()) as usize % queues.len()
        } else {
            0
        };
        Ok(queues[index].clone())
    }

    fn after_enqueue(&self) {
        if let Some(s) = &self.stats {
            s.record(self.receivers.iter().map(Receiver::len).sum());
        }
    }

    /// Starts the patience at the stop, if this is the first look at it.
    fn see_stop(&self) {
        if !self.stop_seen.swap(true, Ordering::SeqCst) {
            self.progress.touch();
        }
    }

    /// At a stop: gives up once nothing has been sent for
    /// [`CLOSE_PATIENCE`].
    fn give_up_if_stuck(&self) {
        if self.shutdown.is_stopping() {
            self.see_stop();
            if self.progress.quiet_for() >= CLOSE_PATIENCE {
                self.give_up();
            }
        }
    }

    /// Stops waiting for the receiver: workers count what they hold and
    /// end, and writes blocked in a socket are cut.
    fn give_up(&self) {
        if self.given_up.swap(true, Ordering::SeqCst) {
            return;
        }
        lock(&self.give_up).take();
        for sock in lock(&self.sockets).iter().flatten() {
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Output for Pool {
    /// Queues `msg`, waiting for room in its worker's queue (back-pressure
    /// up to the input).
    ///
    /// At a stop, a receiver that takes nothing for [`CLOSE_PATIENCE`] is
    /// given up on, and this message and those after it are counted as
    /// abandoned instead.
    fn write(&self, msg: &Message) -> Result<()> {
        if !self.relayed(msg) {
            return Ok(());
        }
        let queue = self.queue_for(msg)?;
        let mut msg = msg.clone();
        loop {
            if self.given_up.load(Ordering::Relaxed) {
                self.counters.abandon(1);
                return Ok(());
            }
            match queue.send_timeout(msg, STOP_CHECK) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(m)) => {
                    msg = m;
                    self.give_up_if_stuck();
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.counters.abandon(1);
                    anyhow::bail!("{} is closed", self.name);
                }
            }
        }
        self.after_enqueue();
        Ok(())
    }

    /// Queues `msg` if its worker has room; drops and counts it otherwise.
    fn offer(&self, msg: &Message) -> Result<()> {
        if !self.relayed(msg) {
            return Ok(());
        }
        match self.queue_for(msg)?.try_send(msg.clone()) {
            Ok(()) => self.after_enqueue(),
            Err(TrySendError::Full(_)) => self.counters.queue_full.drop_one(&format_args!(
                "{}: the queue is full (the receiver is slower than the capture, or down), a live message was dropped",
                self.name
            )),
            Err(TrySendError::Disconnected(_)) => {
                self.counters.abandon(1);
                anyhow::bail!("{} is closed", self.name)
            }
        }
        Ok(())
    }

    /// Stops accepting and sends what the queues hold, for as long as that
    /// makes progress; then counts what is left as abandoned.
    fn close(&self) {
        let queues = self
            .queues
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if queues.is_none() {
            return;
        }
        drop(queues);
        self.see_stop();
        let finished = loop {
            match self.done.recv_timeout(Duration::from_millis(50)) {
                Err(RecvTimeoutError::Disconnected) => break true,
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            }
            if self.given_up.load(Ordering::SeqCst) || self.progress.quiet_for() >= CLOSE_PATIENCE {
                break false;
            }
        };
        if !finished {
            // Workers waiting to dial or blocked in a write count what they
            // hold and end.
            self.give_up();
            let _ = self.done.recv_timeout(Duration::from_secs(2));
        }
        // Whatever no worker took (workers that ended, or one that did not
        // end in time): taken here, so that it is counted once.
        let left: usize = self.receivers.iter().map(|rx| rx.try_iter().count()).sum();
        self.counters.abandon(left);
        self.counters.report_abandoned(&self.name);
        if let Some(s) = &self.stats {
            s.stop();
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

struct Worker {
    index: usize,
    /// The pool's list of sockets to cut; this worker's is at `index`.
    sockets: Arc<Mutex<Vec<Option<TcpStream>>>>,
    name: String,
    rx: Receiver<Message>,
    /// Held by the worker waiting on `rx` (shared by the workers of one
    /// queue).
    intake: Arc<Mutex<()>>,
    connector: Arc<dyn Connector>,
    give_up: Receiver<()>,
    shutdown: Shutdown,
    counters: Counters,
    progress: Arc<Progress>,
    connected: Arc<AtomicUsize>,
    /// Workers that cannot connect right now: an outage is logged by the
    /// first of them and its end by the last, not once per worker.
    failing: Arc<AtomicUsize>,
    /// Dropped when the worker ends: the pool's `done` sees it.
    _done: Sender<()>,
}

impl Worker {
    /// A new connection, counted as connected (and as a reconnect). Its
    /// socket is listed for the pool to cut from the moment it exists.
    fn dial(&self) -> std::result::Result<Box<dyn Link>, String> {
        let list = |sock: &TcpStream| {
            let Ok(handle) = sock.try_clone() else { return };
            let mut sockets = lock(&self.sockets);
            // The pool gives up first, then cuts what is listed: a socket
            // listed after that is cut here.
            if self.gave_up() {
                let _ = handle.shutdown(std::net::Shutdown::Both);
            }
            sockets[self.index] = Some(handle);
        };
        let link = match self.connector.connect(&list) {
            Ok(link) => link,
            Err(e) => {
                lock(&self.sockets)[self.index] = None;
                return Err(e);
            }
        };
        self.connected.fetch_add(1, Ordering::Relaxed);
        self.counters.reconnects.inc();
        Ok(link)
    }

    /// Ends a connection: politely, unless the pool gave up on it.
    fn hang_up(&self, mut link: Box<dyn Link>) {
        lock(&self.sockets)[self.index] = None;
        if !self.gave_up() {
            link.close();
        }
        self.connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// True once the pool gave up (its `give_up` sender is gone).
    fn gave_up(&self) -> bool {
        matches!(self.give_up.try_recv(), Err(TryRecvError::Disconnected))
    }

    fn run(self) {
        let mut pending: VecDeque<Message> = VecDeque::new();
        // Connect at once, as GoReplay's workers do: every worker has its
        // connection from the start, whichever of them the first batches
        // go to. A receiver that is not there yet is retried (and the
        // outage logged) when there is something to send.
        let mut link = self.dial().ok();
        let mut checked_at = Instant::now();
        let mut outage: Option<Instant> = None;
        let mut batch: Vec<Message> = Vec::with_capacity(BATCH_MESSAGES);
        'work: loop {
            if pending.is_empty() {
                // One worker at a time waits on the queue and takes a
                // batch; the others sleep on this lock rather than each
                // spinning on the queue and waking for a message or two.
                let _turn = lock(&self.intake);
                match self.rx.recv() {
                    Ok(m) => pending.push_back(m),
                    // Closed and drained: the pool is closing.
                    Err(_) => break,
                }
                let mut bytes = pending[0].meta.len() + pending[0].data.len();
                while pending.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
                    let Ok(m) = self.rx.try_recv() else { break };
                    bytes += m.meta.len() + m.data.len();
                    pending.push_back(m);
                }
            }
            if checked_at.elapsed() >= CLOSE_CHECK {
                checked_at = Instant::now();
                if let Some(l) = link.as_mut()
                    && l.peer_closed()
                {
                    // A receiver that stops gracefully half-closes and
                    // reads on until we close: nothing written is lost.
                    tracing::debug!(target: crate::logging::FLOW, "{}: the receiver closed; reconnecting", self.name);
                    if let Some(l) = link.take() {
                        self.hang_up(l);
                    }
                }
            }
            if self.gave_up() {
                break;
            }
            let mut backoff = Duration::from_millis(10);
            while link.is_none() {
                match self.dial() {
                    Ok(l) => {
                        link = Some(l);
                        checked_at = Instant::now();
                        if let Some(since) = outage.take()
                            && self.failing.fetch_sub(1, Ordering::Relaxed) == 1
                        {
                            tracing::info!(
                                "{}: connected again after {:.1?}",
                                self.name,
                                since.elapsed()
                            );
                        }
                    }
                    Err(_) if self.gave_up() => break 'work,
                    Err(e) => {
                        if outage.is_none() {
                            outage = Some(Instant::now());
                            if self.failing.fetch_add(1, Ordering::Relaxed) == 0 {
                                tracing::warn!(
                                    "{}: {e}; retrying (at least every second), messages wait in the queue",
                                    self.name
                                );
                            }
                        }
                        if self.shutdown.is_stopping() {
                            tracing::debug!(target: crate::logging::FLOW, "{}: stopping while disconnected", self.name);
                        }
                        match self.give_up.recv_timeout(backoff) {
                            Err(RecvTimeoutError::Timeout) => {}
                            _ => break 'work,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            let Some(l) = link.as_mut() else { continue };
            batch.clear();
            let mut bytes = 0;
            while batch.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
                let Some(m) = pending.pop_front().or_else(|| self.rx.try_recv().ok()) else {
                    break;
                };
                bytes += m.meta.len() + m.data.len();
                batch.push(m);
            }
            match l.send(&batch) {
                Ok(()) => {
                    self.counters.sent.add(batch.len() as u64);
                    self.progress.touch();
                }
                Err(e) => {
                    tracing::debug!(
                        "{}: a write failed ({e}); sending {} messages again on a new connection",
                        self.name,
                        batch.len()
                    );
                    for m in batch.drain(..).rev() {
                        pending.push_front(m);
                    }
                    if let Some(l) = link.take() {
                        self.hang_up(l);
                    }
                }
            }
        }
        // A batch cut short when the pool gave up is counted whole: its
        // receiver had not read it.
        let left = pending.len() + self.rx.try_iter().count();
        self.counters.abandon(left);
        if let Some(l) = link {
            self.hang_up(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    /// Which connection sent which id, in order.
    type Log = Arc<StdMutex<Vec<(usize, Vec<u8>)>>>;

    /// A link that records which worker connection got what.
    struct Recorder {
        conn: usize,
        log: Log,
    }

    impl Link for Recorder {
        fn send(&mut self, batch: &[Message]) -> std::io::Result<()> {
            let mut log = self.log.lock().unwrap();
            for m in batch {
                log.push((self.conn, m.id().to_vec()));
            }
            Ok(())
        }
        fn peer_closed(&mut self) -> bool {
            false
        }
        fn close(&mut self) {}
    }

    struct Recorders {
        made: AtomicUsize,
        log: Log,
    }

    impl Connector for Recorders {
        fn connect(&self, _: &dyn Fn(&TcpStream)) -> std::result::Result<Box<dyn Link>, String> {
            Ok(Box::new(Recorder {
                conn: self.made.fetch_add(1, Ordering::SeqCst),
                log: self.log.clone(),
            }))
        }
    }

    fn pool(workers: usize, sticky: bool) -> (Pool, Log) {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let connector = Arc::new(Recorders {
            made: AtomicUsize::new(0),
            log: log.clone(),
        });
        let config = PoolConfig {
            flag: "output-tcp",
            target: "test".into(),
            workers,
            sticky,
            stats_period: None,
        };
        (
            Pool::start(config, connector, &Shutdown::new()).unwrap(),
            log,
        )
    }

    fn msg(kind: PayloadType, id: &str) -> Message {
        Message::new(kind, id, 1, 0, &b"GET / HTTP/1.1\r\n\r\n"[..])
    }

    #[test]
    fn sticky_ids_always_travel_on_the_same_connection() {
        let (pool, log) = pool(4, true);
        for round in 0..20 {
            for id in ["a1", "b2", "c3", "d4", "e5", "f6", "g7"] {
                let kind = if round % 2 == 0 {
                    PayloadType::Request
                } else {
                    PayloadType::Response
                };
                pool.write(&msg(kind, id)).unwrap();
            }
        }
        pool.close();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 140);
        let mut conn_of = std::collections::HashMap::new();
        for (conn, id) in log.iter() {
            assert_eq!(*conn_of.entry(id.clone()).or_insert(*conn), *conn, "{id:?}");
        }
        // Seven ids over four workers: more than one connection is used.
        let used: std::collections::HashSet<_> = conn_of.values().collect();
        assert!(used.len() > 1);
    }

    #[test]
    fn without_sticky_every_message_is_sent_once_and_replayed_responses_are_skipped() {
        let (pool, log) = pool(3, false);
        for i in 0..300 {
            pool.write(&msg(PayloadType::Request, &format!("id{i}")))
                .unwrap();
        }
        pool.write(&msg(PayloadType::ReplayedResponse, "r"))
            .unwrap();
        pool.close();
        let log = log.lock().unwrap();
        let mut ids: Vec<Vec<u8>> = log.iter().map(|(_, id)| id.clone()).collect();
        ids.sort();
        let mut want: Vec<Vec<u8>> = (0..300).map(|i| format!("id{i}").into_bytes()).collect();
        want.sort();
        assert_eq!(ids, want);
        assert!(pool.write(&msg(PayloadType::Request, "late")).is_err());
    }

    #[test]
    fn fnv1a32_matches_the_reference_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    /// The first connection's writes hang until released; the others record.
    struct Hanging {
        made: AtomicUsize,
        log: Log,
        release: Receiver<()>,
    }

    struct HangingLink {
        inner: Recorder,
        release: Option<Receiver<()>>,
    }

    impl Link for HangingLink {
        fn send(&mut self, batch: &[Message]) -> std::io::Result<()> {
            if let Some(r) = &self.release {
                let _ = r.recv();
            }
            self.inner.send(batch)
        }
        fn peer_closed(&mut self) -> bool {
            false
        }
        fn close(&mut self) {}
    }

    impl Connector for Hanging {
        fn connect(&self, _: &dyn Fn(&TcpStream)) -> std::result::Result<Box<dyn Link>, String> {
            let conn = self.made.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(HangingLink {
                inner: Recorder {
                    conn,
                    log: self.log.clone(),
                },
                release: (conn == 0).then(|| self.release.clone()),
            }))
        }
    }

    #[test]
    fn a_hanging_connection_holds_up_only_the_batch_it_took() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let (release_tx, release_rx) = bounded::<()>(0);
        let connector = Arc::new(Hanging {
            made: AtomicUsize::new(0),
            log: log.clone(),
            release: release_rx,
        });
        let config = PoolConfig {
            flag: "output-tcp",
            target: "test".into(),
            workers: 3,
            sticky: false,
            stats_period: None,
        };
        let pool = Pool::start(config, connector, &Shutdown::new()).unwrap();
        pool.write(&msg(PayloadType::Request, "first")).unwrap();
        // Wait until the first worker is stuck in its write.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pool.receivers[0].is_empty() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        for i in 0..200 {
            pool.write(&msg(PayloadType::Request, &format!("id{i}")))
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.lock().unwrap().len() < 200 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            log.lock().unwrap().len(),
            200,
            "the other workers sent the rest"
        );
        drop(release_tx);
        pool.close();
        assert_eq!(log.lock().unwrap().len(), 201);
    }

    struct Unreachable;

    impl Connector for Unreachable {
        fn connect(&self, _: &dyn Fn(&TcpStream)) -> std::result::Result<Box<dyn Link>, String> {
            Err("connection refused".into())
        }
    }

    #[test]
    fn what_no_worker_could_send_is_counted_once_for_the_whole_pool() {
        let config = PoolConfig {
            flag: "output-tcp",
            target: "unreachable".into(),
            workers: 4,
            sticky: false,
            stats_period: None,
        };
        let pool = Pool::start(config, Arc::new(Unreachable), &Shutdown::new()).unwrap();
        for i in 0..50 {
            pool.write(&msg(PayloadType::Request, &format!("id{i}")))
                .unwrap();
        }
        pool.close();
        assert_eq!(pool.counters.abandoned_here.load(Ordering::Relaxed), 50);
    }

    /// A plain socket: each message's data, back to back.
    struct SocketLink(crate::relay::stream::RelayStream);

    impl Link for SocketLink {
        fn send(&mut self, batch: &[Message]) -> std::io::Result<()> {
            use std::io::Write;
            for m in batch {
                self.0.write_all(&m.data)?;
            }
            Ok(())
        }
        fn peer_closed(&mut self) -> bool {
            false
        }
        fn close(&mut self) {}
    }

    struct Dialer(std::net::SocketAddr);

    impl Connector for Dialer {
        fn connect(
            &self,
            on_socket: &dyn Fn(&TcpStream),
        ) -> std::result::Result<Box<dyn Link>, String> {
            let stream = crate::relay::stream::dial(&self.0.to_string(), None, on_socket)?;
            Ok(Box::new(SocketLink(stream)))
        }
    }

    #[test]
    fn a_receiver_that_stopped_reading_is_given_up_at_a_stop_and_every_message_is_counted() {
        // Accepts connections and never reads them.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().collect();
            drop(held);
        });
        let shutdown = Shutdown::new();
        let config = PoolConfig {
            flag: "output-stuck-receiver-test",
            target: addr.to_string(),
            workers: 2,
            sticky: false,
            stats_period: None,
        };
        let pool = Arc::new(Pool::start(config, Arc::new(Dialer(addr)), &shutdown).unwrap());
        // 64 KB each: far more than the socket buffers and queues hold.
        const N: usize = 2_000;
        let (done_tx, done_rx) = bounded::<()>(1);
        let writer = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let data = bytes::Bytes::from(vec![b'x'; 64 << 10]);
                for i in 0..N {
                    let m =
                        Message::new(PayloadType::Request, &format!("id{i}"), 1, 0, data.clone());
                    pool.write(&m).unwrap();
                }
                let _ = done_tx.send(());
            })
        };
        // The writes block once the sockets and the queue are full.
        std::thread::sleep(Duration::from_millis(500));
        assert!(done_rx.try_recv().is_err(), "the receiver took everything");
        let stop = Instant::now();
        shutdown.stop("test");
        done_rx
            .recv_timeout(CLOSE_PATIENCE + Duration::from_secs(5))
            .expect("the blocked writes gave up");
        writer.join().unwrap();
        pool.close();
        assert!(
            stop.elapsed() < CLOSE_PATIENCE + Duration::from_secs(3),
            "{:?}",
            stop.elapsed()
        );
        let sent = pool.counters.sent.get();
        let abandoned = pool.counters.abandoned_here.load(Ordering::Relaxed);
        assert!(
            sent > 0 && abandoned > 0,
            "sent {sent}, abandoned {abandoned}"
        );
        assert_eq!(
            sent + abandoned,
            N as u64,
            "sent {sent}, abandoned {abandoned}"
        );
    }

    #[test]
    fn no_workers_is_an_error_not_a_panic() {
        let log = Arc::new(StdMutex::new(Vec::new()));
        let connector = Arc::new(Recorders {
            made: AtomicUsize::new(0),
            log,
        });
        let config = PoolConfig {
            flag: "output-tcp",
            target: "test".into(),
            workers: 0,
            sticky: false,
            stats_period: None,
        };
        let err = Pool::start(config, connector, &Shutdown::new())
            .err()
            .unwrap();
        assert!(err.to_string().contains("--output-tcp-workers"), "{err}");
    }
}
