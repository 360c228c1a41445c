//! `--output-http URL`: replays captured requests to a target, with the
//! fixes listed in docs/coming-from-goreplay.md.
//!
//! Why it is built this way: the captured bytes are written as they are
//! (only Host, Content-Length, the path prefix and basic auth are edited in
//! the head) to pooled keep-alive connections, and only the response head is
//! parsed. Nothing goes through a client library's request type, so header
//! names keep their case and order, nothing is added, and there is no
//! re-serialization cost.
//!
//! Flow: `write` (file input) waits for room in a bounded queue of
//! `--output-http-queue-len` requests, `offer` (live capture) drops and
//! counts when it is full. Workers (tokio tasks on the shared runtime) each
//! own one keep-alive connection; they start at `--output-http-workers-min`,
//! grow up to `--output-http-workers` while the queue is longer than the
//! number of workers, and one idle extra worker stops every
//! `--output-http-worker-timeout`. With `--output-http-track-response` each
//! response becomes a type-3 message `3 <id> <start ns> <rtt ns>` read by
//! [`ResponseInput`]; `close` drains what was accepted, each exchange bounded
//! by `--output-http-timeout`.

use crate::http::client::conn::{self, Conn, ExchangeError, Response};
use crate::http::client::target::{self, PreparedRequest, Rewrite, Skip, Target};
use crate::http::client::tls;
use crate::message::{Message, PayloadType, now_ns};
use crate::plugin::{ExchangeSink, Input, Output, Result, Shutdown};
use crate::queue_stats::QueueStats;
use crate::runtime::runtime;
use crate::settings::{Settings, UsageError};
use crate::stats::{self, Counter};
use rustls::ClientConfig;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Most workers started at once (GoReplay caps the minimum at 1000).
const MAX_MIN_WORKERS: usize = 1000;
/// Most session workers when `--output-http-workers` leaves the number of
/// workers unbounded (0): GoReplay starts one per session without limit, so
/// a capture with many clients could start thousands of tasks and sockets.
const MAX_SESSION_WORKERS: usize = 1000;
/// Longest queue accepted for `--output-http-queue-len`.
const MAX_QUEUE: usize = 1 << 22;

/// The replay settings of one `--output-http`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub rewrite: Rewrite,
    pub timeout: Duration,
    /// Redirects followed per request.
    pub redirects: usize,
    /// Response bytes kept per response.
    pub response_buffer: usize,
    pub track_response: bool,
    pub skip_verify: bool,
    pub workers_min: usize,
    pub workers_max: usize,
    pub queue_len: usize,
    pub worker_timeout: Duration,
    /// Period of the `output_http` stats line, when asked for.
    pub stats_period: Option<Duration>,
    /// `--recognize-tcp-sessions`: one worker and connection per captured
    /// TCP session, so a session's requests are replayed in order.
    pub sessions: bool,
    /// `--output-http-debug`: log every exchange.
    pub debug: bool,
    /// Which `--output-http` this is (from 0, in command-line order): its
    /// replayed responses carry it, for `--output-diff`.
    pub index: u16,
}

impl HttpConfig {
    /// Reads the replay flags, with GoReplay's corrections of odd values.
    pub fn from_settings(url: &str, s: &Settings) -> Result<HttpConfig> {
        let target =
            Target::parse(url).map_err(|e| UsageError(format!("--output-http {url:?}: {e}")))?;
        let original_host = s.http_original_host
            || s.http_set_header
                .iter()
                .chain(&s.output_http_header)
                .any(|h| h.split(':').next().is_some_and(|n| n.trim() == "Host"));
        let workers_min = (s.output_http_workers_min.max(1) as usize).min(MAX_MIN_WORKERS);
        let workers_max = match s.output_http_workers {
            n if n <= 0 => usize::MAX,
            n => (n as usize).max(workers_min),
        };
        let timeout = if s.output_http_timeout < Duration::from_millis(100) {
            Duration::from_secs(1)
        } else {
            s.output_http_timeout
        };
        // Periods beyond a day are capped: clocks cannot add centuries.
        let day = Duration::from_secs(86_400);
        let worker_timeout = if s.output_http_worker_timeout.is_zero() {
            Duration::from_secs(2)
        } else {
            s.output_http_worker_timeout.min(day)
        };
        Ok(HttpConfig {
            rewrite: Rewrite {
                target,
                original_host,
            },
            timeout,
            redirects: s.output_http_redirects.max(0) as usize,
            response_buffer: usize::try_from(s.output_http_response_buffer).unwrap_or(usize::MAX),
            // The diff compares replayed responses: it needs them.
            track_response: s.output_http_track_response || !s.output_diff.is_empty(),
            skip_verify: s.output_http_skip_verify,
            workers_min,
            workers_max,
            // The queue holds messages, not just counts: an absurd length
            // would be a memory bomb (and overflow the channel's permits).
            queue_len: if s.output_http_queue_len <= 0 {
                1000
            } else {
                (s.output_http_queue_len as usize).min(MAX_QUEUE)
            },
            worker_timeout,
            stats_period: (s.stats && s.output_http_stats)
                .then(|| Duration::from_millis(s.output_http_stats_ms.max(1000) as u64).min(day)),
            sessions: s.recognize_tcp_sessions,
            debug: s.output_http_debug,
            index: 0,
        })
    }
}

enum Job {
    Request(Message),
    /// Tells one idle worker to stop (sent by the reaper).
    Stop,
}

/// Counters of one replay output (shared by every `--output-http`).
struct Counters {
    sent: Counter,
    responses: Counter,
    redirects: Counter,
    queue_full: Counter,
    malformed: Counter,
    unframeable: Counter,
    connect_skipped: Counter,
    responses_dropped: Counter,
    abandoned: Counter,
}

impl Counters {
    fn new() -> Self {
        Counters {
            sent: stats::counter("output_http.requests"),
            responses: stats::counter("output_http.responses"),
            redirects: stats::counter("output_http.redirects_followed"),
            queue_full: stats::drop_counter("output_http.queue_full"),
            malformed: stats::drop_counter("output_http.malformed_requests"),
            unframeable: stats::drop_counter("output_http.unframeable_requests"),
            connect_skipped: stats::drop_counter("output_http.connect_skipped"),
            responses_dropped: stats::drop_counter("output_http.responses_dropped"),
            abandoned: stats::drop_counter("output_http.abandoned_at_close"),
        }
    }
}

/// Where a file input waits while the queue is full. It is woken only once
/// the queue has drained to half, not for every free slot: one wake-up per
/// few hundred requests instead of one per request (thread wake-ups were the
/// largest cost of replay at full speed).
#[derive(Default)]
struct Room {
    waiting: AtomicBool,
    lock: Mutex<()>,
    cv: std::sync::Condvar,
}

impl Room {
    /// Waits until `queued()` is at most `low`.
    fn wait(&self, low: usize, queued: impl Fn() -> usize) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.waiting.store(true, Ordering::SeqCst);
        if queued() <= low {
            self.waiting.store(false, Ordering::SeqCst);
            return;
        }
        // The timeout only guards against a wake-up lost to a closed output.
        let _ = self.cv.wait_timeout(guard, Duration::from_millis(100));
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// Wakes every waiting writer (the output gave up: they stop waiting).
    fn wake_all(&self) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.cv.notify_all();
    }

    /// Called by a worker after taking a request off the queue.
    fn taken(&self, queued: usize, low: usize) {
        if queued <= low && self.waiting.load(Ordering::SeqCst) {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.waiting.store(false, Ordering::SeqCst);
            self.cv.notify_all();
        }
    }
}

/// What the workers share.
struct Shared {
    room: Room,
    config: HttpConfig,
    tls: Option<Arc<ClientConfig>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    /// Where replayed responses go (`None` without tracking, or once closed).
    responses: Mutex<Option<mpsc::Sender<Message>>>,
    exporter: Option<Arc<dyn ExchangeSink>>,
    active: AtomicUsize,
    /// Exchanges finished (successfully or not), to see progress at close.
    finished: AtomicU64,
    closed: AtomicBool,
    counters: Counters,
    /// Time to each response, for `/metrics`.
    latency: stats::Histogram,
    /// A token each time an exchange finishes or a worker ends: what
    /// `close` waits on (one token is enough to wake it).
    progress: (
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    ),
    /// Set once `close` gives up on what is left: in-flight exchanges end
    /// at once and queued requests are counted, not sent.
    give_up: tokio::sync::watch::Sender<bool>,
    shutdown: Shutdown,
}

/// A started output and, with `--output-http-track-response`, the input of
/// its replayed responses.
pub type Opened = (Arc<HttpOutput>, Option<Box<dyn Input>>);

/// Requests waiting for one session's worker (GoReplay's figure).
const SESSION_QUEUE: usize = 100;
/// A session without requests for this long loses its worker.
const SESSION_IDLE: Duration = Duration::from_secs(120);

/// The per-session workers of `--recognize-tcp-sessions`: one per session
/// while there are at most `--output-http-workers` of them (1000 when that
/// is 0); past that, a new session shares the worker that serves the fewest
/// sessions. A session stays on its worker, so its requests keep their
/// order either way.
#[derive(Default)]
struct Sessions {
    /// Session key → (index in `workers`, last request).
    queues: std::collections::HashMap<Vec<u8>, (usize, Instant)>,
    workers: Vec<SessionWorker>,
    swept: Option<Instant>,
}

/// One session worker's queue (`None` once it has no session left: the
/// worker ends when it has replayed what the queue holds).
#[derive(Default)]
struct SessionWorker {
    tx: Option<mpsc::Sender<Job>>,
    sessions: usize,
}

impl Sessions {
    /// The session of a request id: the connection part of a 24-hex capture
    /// id (ports and client address; GoReplay's first 20 characters also
    /// take in part of the ACK, which splits long sessions), else the first
    /// 20 characters as GoReplay does.
    fn key(id: &[u8]) -> &[u8] {
        let n = if id.len() == 24 { 16 } else { 20 };
        &id[..id.len().min(n)]
    }

    /// Most session workers for `config`.
    fn cap(config: &HttpConfig) -> usize {
        match config.workers_max {
            usize::MAX => MAX_SESSION_WORKERS,
            n => n.max(1),
        }
    }

    /// The queue of `id`'s session, starting a worker if the cap allows;
    /// idle sessions are let go on the way.
    fn queue(&mut self, shared: &Arc<Shared>, id: &[u8]) -> Option<mpsc::Sender<Job>> {
        let now = Instant::now();
        if self
            .swept
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
        {
            self.swept = Some(now);
            let workers = &mut self.workers;
            self.queues.retain(|_, (slot, last)| {
                let keep = now.duration_since(*last) < SESSION_IDLE;
                if !keep && let Some(w) = workers.get_mut(*slot) {
                    w.sessions = w.sessions.saturating_sub(1);
                    if w.sessions == 0 {
                        w.tx = None;
                    }
                }
                keep
            });
        }
        let key = Self::key(id);
        if let Some((slot, last)) = self.queues.get_mut(key) {
            *last = now;
            return self.workers.get(*slot).and_then(|w| w.tx.clone());
        }
        // Workers let go of still drain their queue: they count against the
        // cap until they end.
        let live = self.workers.iter().filter(|w| w.tx.is_some()).count();
        let running = shared.active.load(Ordering::SeqCst).max(live);
        let slot = if live == 0 || running < Self::cap(&shared.config) {
            let (tx, rx) = mpsc::channel(SESSION_QUEUE);
            shared.active.fetch_add(1, Ordering::SeqCst);
            runtime().spawn(session_worker(shared.clone(), rx));
            let worker = SessionWorker {
                tx: Some(tx),
                sessions: 0,
            };
            match self.workers.iter().position(|w| w.tx.is_none()) {
                Some(free) => {
                    self.workers[free] = worker;
                    free
                }
                None => {
                    self.workers.push(worker);
                    self.workers.len() - 1
                }
            }
        } else {
            self.workers
                .iter()
                .enumerate()
                .filter(|(_, w)| w.tx.is_some())
                .min_by_key(|(_, w)| w.sessions)
                .map(|(i, _)| i)?
        };
        self.workers[slot].sessions += 1;
        self.queues.insert(key.to_vec(), (slot, now));
        self.workers[slot].tx.clone()
    }

    /// Requests waiting in the session queues.
    fn queued(&self) -> usize {
        self.workers
            .iter()
            .filter_map(|w| w.tx.as_ref())
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }
}

/// The `--output-http` output.
pub struct HttpOutput {
    shared: Arc<Shared>,
    tx: RwLock<Option<mpsc::Sender<Job>>>,
    sessions: Option<Mutex<Sessions>>,
    stats: Option<Arc<QueueStats>>,
    name: String,
}

/// Replayed responses (type 3), fed back into the emitter as an input.
pub struct ResponseInput {
    rx: mpsc::Receiver<Message>,
    name: String,
}

impl Input for ResponseInput {
    fn read(&mut self) -> Result<Option<Message>> {
        Ok(self.rx.blocking_recv())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl HttpOutput {
    /// Starts the workers of one `--output-http`; the second value is the
    /// input of replayed responses when `--output-http-track-response` is
    /// on. When `shutdown` expires, `close` gives up on what is still queued
    /// or in flight (counted).
    pub fn start(
        config: HttpConfig,
        exporter: Option<Arc<dyn ExchangeSink>>,
        shutdown: &Shutdown,
    ) -> Result<Opened> {
        let name = format!("--output-http {}", config.rewrite.target.origin());
        let tls = if config.rewrite.target.tls || config.redirects > 0 {
            Some(
                tls::client_config(config.skip_verify)
                    .map_err(|e| UsageError(format!("--output-http: {e}")))?,
            )
        } else {
            None
        };
        if let Some(e) = &exporter {
            e.attach();
        }
        let (tx, rx) = mpsc::channel(config.queue_len);
        let (responses, response_input) = if config.track_response {
            let (rtx, rrx) = mpsc::channel(config.queue_len);
            let input: Box<dyn Input> = Box::new(ResponseInput {
                rx: rrx,
                name: format!("{name} responses"),
            });
            (Some(rtx), Some(input))
        } else {
            (None, None)
        };
        let stats = config
            .stats_period
            .map(|p| QueueStats::start("output_http", p, shutdown));
        let shared = Arc::new(Shared {
            tls,
            rx: tokio::sync::Mutex::new(rx),
            room: Room::default(),
            responses: Mutex::new(responses),
            exporter,
            active: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            counters: Counters::new(),
            latency: stats::replay_latency(&config.rewrite.target.origin()),
            progress: crossbeam_channel::bounded(1),
            give_up: tokio::sync::watch::Sender::new(false),
            shutdown: shutdown.clone(),
            config,
        });
        let sessions = shared
            .config
            .sessions
            .then(|| Mutex::new(Sessions::default()));
        if sessions.is_none() {
            let min = shared.config.workers_min;
            Shared::spawn_workers(&shared, min);
            if shared.config.workers_max != shared.config.workers_min {
                runtime().spawn(reaper(shared.clone(), tx.downgrade()));
            }
        }
        // Read when scraped, through a weak sender: the gauge neither keeps
        // the queue open nor costs the senders anything.
        let queued = tx.downgrade();
        stats::gauge(
            &format!("{name}.queue"),
            &stats::QUEUE_MESSAGES,
            &[("queue", &name)],
            move || {
                queued
                    .upgrade()
                    .map(|tx| (tx.max_capacity() - tx.capacity()) as u64)
            },
        );
        let out = Arc::new(HttpOutput {
            shared,
            tx: RwLock::new(Some(tx)),
            sessions,
            stats,
            name,
        });
        if let Some(s) = &out.stats {
            let weak = Arc::downgrade(&out.shared);
            s.set_workers(move || {
                weak.upgrade()
                    .map_or(0, |s| s.active.load(Ordering::Relaxed))
            });
        }
        Ok((out, response_input))
    }

    /// The queue a request goes to: the shared one, or its session's.
    fn sender(&self, msg: &Message) -> Option<mpsc::Sender<Job>> {
        let shared = self.tx.read().unwrap_or_else(|e| e.into_inner()).clone()?;
        match &self.sessions {
            None => Some(shared),
            Some(s) => s
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .queue(&self.shared, msg.id()),
        }
    }

    /// Number of session workers running (for tests).
    pub fn session_workers(&self) -> usize {
        self.sessions.as_ref().map_or(0, |s| {
            s.lock()
                .unwrap_or_else(|e| e.into_inner())
                .workers
                .iter()
                .filter(|w| w.tx.is_some())
                .count()
        })
    }

    /// After each enqueue: the queue, the stats, and more workers when the
    /// queue is longer than the number of workers.
    fn after_enqueue(&self, tx: &mpsc::Sender<Job>) {
        let queued = tx.max_capacity() - tx.capacity();
        if let Some(s) = &self.stats {
            s.record(queued);
        }
        let cfg = &self.shared.config;
        if cfg.workers_max == cfg.workers_min || cfg.sessions {
            return;
        }
        let active = self.shared.active.load(Ordering::Relaxed);
        if queued > active {
            let want = (queued - active + 1).min(cfg.workers_max.saturating_sub(active));
            Shared::spawn_workers(&self.shared, want);
        }
    }

    /// Number of running workers (for tests and the stats line).
    pub fn workers(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }
}

impl Output for HttpOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        if !msg.is_request() {
            return Ok(());
        }
        let Some(tx) = self.sender(msg) else {
            anyhow::bail!("{} is closed", self.name);
        };
        if self.sessions.is_some() {
            // A session queue is small and private: plain back-pressure,
            // given up when the run's time is up.
            let job = match tx.try_send(Job::Request(msg.clone())) {
                Ok(()) => {
                    self.after_enqueue(&tx);
                    return Ok(());
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    anyhow::bail!("{} is closed", self.name)
                }
                Err(mpsc::error::TrySendError::Full(job)) => job,
            };
            let sent = runtime().block_on(async {
                tokio::select! {
                    sent = tx.send(job) => sent.is_ok(),
                    _ = self.shared.shutdown.until_expired() => {
                        self.shared.counters.abandoned.drop_one(&format_args!(
                            "{}: requests still waiting for replay when gor's time was up were given up",
                            self.name
                        ));
                        true
                    }
                }
            });
            if !sent {
                anyhow::bail!("{} is closed", self.name);
            }
            self.after_enqueue(&tx);
            return Ok(());
        }
        let mut job = Job::Request(msg.clone());
        loop {
            match tx.try_send(job) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(j)) => {
                    if self.shared.shutdown.is_expired() || *self.shared.give_up.borrow() {
                        self.shared.counters.abandoned.drop_one(&format_args!(
                            "{}: requests still waiting for replay when gor's time was up were given up",
                            self.name
                        ));
                        return Ok(());
                    }
                    job = j;
                    let low = tx.max_capacity() / 2;
                    self.shared
                        .room
                        .wait(low, || tx.max_capacity() - tx.capacity());
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    anyhow::bail!("{} is closed", self.name)
                }
            }
        }
        self.after_enqueue(&tx);
        Ok(())
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        if !msg.is_request() {
            return Ok(());
        }
        let Some(tx) = self.sender(msg) else {
            anyhow::bail!("{} is closed", self.name);
        };
        match tx.try_send(Job::Request(msg.clone())) {
            Ok(()) => self.after_enqueue(&tx),
            Err(mpsc::error::TrySendError::Full(_)) => self.shared.counters.queue_full.drop_one(&format_args!(
                "{}: the replay queue is full, a live request was dropped (raise --output-http-queue-len or --output-http-workers)",
                self.name
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => anyhow::bail!("{} is closed", self.name),
        }
        Ok(())
    }

    /// Stops accepting, lets the workers finish what the queue holds (as long
    /// as exchanges keep finishing, each within the timeout, and the run's
    /// time is not up), then ends the response input and flushes the
    /// ElasticSearch export. What is given up is counted as
    /// `output_http.abandoned_at_close`.
    fn close(&self) {
        let tx = self.tx.write().unwrap_or_else(|e| e.into_inner()).take();
        let Some(tx) = tx else { return };
        let mut pending = tx.max_capacity() - tx.capacity();
        drop(tx);
        if let Some(s) = &self.sessions {
            let sessions = std::mem::take(&mut *s.lock().unwrap_or_else(|e| e.into_inner()));
            pending += sessions.queued();
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        let patience = self.shared.config.timeout + Duration::from_secs(1);
        let shared = &self.shared;
        if let Some(why) = shared.shutdown.wait_while_progressing(
            || shared.active.load(Ordering::SeqCst) > 0,
            || shared.finished.load(Ordering::SeqCst),
            &shared.progress.1,
            patience,
            "replay",
        ) {
            self.give_up(&why, pending);
        }
        self.shared
            .responses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(s) = &self.stats {
            s.stop();
        }
        if let Some(e) = &self.shared.exporter {
            e.detach();
        }
    }

    fn produces_responses(&self) -> bool {
        self.shared.config.track_response
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl HttpOutput {
    /// Ends every exchange in flight and drops what is queued; each is
    /// counted as `output_http.abandoned_at_close` by the worker that held
    /// it. Waits (briefly: nothing is sent any more) for the workers to
    /// have counted.
    fn give_up(&self, why: &str, pending: usize) {
        let before = self.shared.counters.abandoned.get();
        self.shared.give_up.send_replace(true);
        self.shared.room.wake_all();
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.shared.active.load(Ordering::SeqCst) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = self.shared.progress.1.recv_timeout(left);
        }
        let given_up = self.shared.counters.abandoned.get() - before;
        tracing::warn!(
            "{}: {why}; gave up {given_up} requests in flight or queued (about {pending} were queued at close), counted as {}",
            self.name,
            self.shared.counters.abandoned.name()
        );
    }
}

/// Every `worker-timeout`, while there are more workers than the minimum
/// and the queue is empty, tells one worker to stop.
async fn reaper(shared: Arc<Shared>, tx: mpsc::WeakSender<Job>) {
    let mut tick = tokio::time::interval(shared.config.worker_timeout);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        let queued = tx.max_capacity() - tx.capacity();
        if queued == 0 && shared.active.load(Ordering::Relaxed) > shared.config.workers_min {
            let _ = tx.try_send(Job::Stop);
        }
    }
}

impl Shared {
    fn spawn_workers(shared: &Arc<Shared>, n: usize) {
        if n == 0 || shared.closed.load(Ordering::Relaxed) {
            return;
        }
        let max = shared.config.workers_max;
        let Ok(before) = shared
            .active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |a| {
                (a < max).then(|| a.saturating_add(n).min(max))
            })
        else {
            return;
        };
        let started = before.saturating_add(n).min(max) - before;
        for _ in 0..started {
            runtime().spawn(worker(shared.clone()));
        }
    }

    /// Replays one request, unless the output gave up: then the request is
    /// counted as abandoned. Either way it counts as finished.
    async fn handle(
        &self,
        conn: &mut Option<Conn>,
        msg: Message,
        responses: Option<&mpsc::Sender<Message>>,
        give_up: &mut tokio::sync::watch::Receiver<bool>,
    ) {
        if *give_up.borrow_and_update() {
            self.counters.abandoned.inc();
        } else {
            tokio::select! {
                _ = self.replay(conn, msg, responses) => {}
                _ = give_up.wait_for(|g| *g) => {
                    *conn = None;
                    self.counters.abandoned.inc();
                }
            }
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        let _ = self.progress.0.try_send(());
    }

    async fn replay(
        &self,
        conn: &mut Option<Conn>,
        msg: Message,
        responses: Option<&mpsc::Sender<Message>>,
    ) {
        let req = match self.config.rewrite.prepare(&msg.data) {
            Ok(r) => r,
            Err(Skip::Connect) => {
                self.counters
                    .connect_skipped
                    .drop_one(&"a CONNECT request was not replayed (tunnels are not replayed)");
                return;
            }
            Err(Skip::Unframeable) => {
                self.counters.unframeable.drop_one(
                    &"a request whose body length cannot be known (conflicting or invalid Content-Length, Transfer-Encoding not ending in chunked) was not replayed",
                );
                return;
            }
            Err(Skip::Malformed) => {
                self.counters.malformed.drop_one(
                    &"a message that is not a complete HTTP/1.x request was not replayed",
                );
                return;
            }
        };
        let keep = if responses.is_some() {
            self.config.response_buffer
        } else if self.exporter.is_some() {
            // The export reads the status line and headers only.
            self.config.response_buffer.clamp(4096, 64 * 1024)
        } else {
            0
        };
        // The wall clock is only read when used; the monotonic one always,
        // for the latency histogram.
        let timed = responses.is_some() || self.exporter.is_some() || self.config.debug;
        let start_ns = if timed { now_ns() } else { 0 };
        let began = Instant::now();
        self.counters.sent.inc();
        let outcome =
            tokio::time::timeout(self.config.timeout, self.follow(conn, &req, keep)).await;
        let outcome = outcome.unwrap_or(Err(ExchangeError::Timeout));
        let rtt = began.elapsed();
        let rtt_ns = rtt.as_nanos() as i64;
        match outcome {
            Ok(mut resp) => {
                self.counters.responses.inc();
                self.latency.observe(rtt);
                if self.config.debug {
                    tracing::info!(
                        "[HTTP-OUTPUT] {} {} -> {} in {:.1} ms",
                        String::from_utf8_lossy(
                            crate::http::start_line::method(&req.head).unwrap_or(b"?")
                        ),
                        String::from_utf8_lossy(
                            crate::http::start_line::target(&req.head).unwrap_or(b"?")
                        ),
                        resp.status,
                        rtt_ns as f64 / 1e6
                    );
                }
                if let Some(e) = &self.exporter {
                    e.exchange(&req.head, &resp.kept, start_ns, rtt_ns);
                }
                if let Some(tx) = responses {
                    resp.kept.truncate(self.config.response_buffer);
                    let id = String::from_utf8_lossy(msg.id()).into_owned();
                    let mut m = Message::new(
                        PayloadType::ReplayedResponse,
                        &id,
                        start_ns,
                        rtt_ns,
                        resp.kept,
                    );
                    m.replay_target = Some(self.config.index);
                    if tx.send(m).await.is_err() {
                        self.counters
                            .responses_dropped
                            .drop_one(&"a replayed response arrived after its input was closed");
                    }
                }
            }
            Err(e) => {
                *conn = None;
                stats::drop_counter(e.counter_name()).drop_one(&format_args!(
                    "[HTTP-OUTPUT] error when sending to {}: {e}",
                    self.config.rewrite.target.origin()
                ));
                tracing::debug!("[HTTP-OUTPUT] error when sending: {e}");
            }
        }
    }

    /// One exchange plus the redirects we are asked to follow.
    async fn follow(
        &self,
        conn: &mut Option<Conn>,
        req: &PreparedRequest,
        keep: usize,
    ) -> std::result::Result<Response, ExchangeError> {
        let home = &self.config.rewrite.target;
        let mut hop: Option<(Target, PreparedRequest)> = None;
        let mut hops = 0;
        loop {
            let (t, r) = match &hop {
                Some((t, r)) => (t, r),
                None => (home, req),
            };
            let resp = if t.same_origin(home) {
                self.pooled_exchange(conn, r, keep).await?
            } else {
                let mut c = conn::connect(t, self.tls.as_ref()).await?;
                c.exchange(r, keep).await?
            };
            if hops < self.config.redirects
                && matches!(resp.status, 301 | 302 | 303 | 307 | 308)
                && let Some(loc) = &resp.location
                && let Some(next) =
                    target::redirect(t, r, resp.status, loc, self.config.rewrite.original_host)
            {
                hops += 1;
                self.counters.redirects.inc();
                tracing::debug!(
                    target: crate::logging::FLOW,
                    "[HTTP-OUTPUT] following redirect {hops} to {}",
                    String::from_utf8_lossy(loc)
                );
                hop = Some(next);
                continue;
            }
            return Ok(resp);
        }
    }

    /// An exchange on the worker's keep-alive connection. A reused
    /// connection that the server had closed in the meantime fails before
    /// any response byte; the request then goes once more on a new one.
    async fn pooled_exchange(
        &self,
        conn: &mut Option<Conn>,
        req: &PreparedRequest,
        keep: usize,
    ) -> std::result::Result<Response, ExchangeError> {
        let target = &self.config.rewrite.target;
        let mut retried = false;
        loop {
            let reused = conn.is_some();
            let mut c = match conn.take() {
                Some(c) => c,
                None => conn::connect(target, self.tls.as_ref()).await?,
            };
            match c.exchange(req, keep).await {
                Ok(resp) => {
                    if resp.reusable && !req.closes {
                        *conn = Some(c);
                    }
                    return Ok(resp);
                }
                Err(ExchangeError::ClosedBeforeResponse | ExchangeError::Send(_))
                    if reused && !retried =>
                {
                    retried = true;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The worker of one captured TCP session (`--recognize-tcp-sessions`): its
/// own queue and connection; it ends when the session is let go or the
/// output closes.
async fn session_worker(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let responses = shared
        .responses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut conn: Option<Conn> = None;
    let mut give_up = shared.give_up.subscribe();
    while let Some(Job::Request(msg)) = rx.recv().await {
        shared
            .handle(&mut conn, msg, responses.as_ref(), &mut give_up)
            .await;
    }
    drop(responses);
    shared.active.fetch_sub(1, Ordering::SeqCst);
    let _ = shared.progress.0.try_send(());
}

async fn worker(shared: Arc<Shared>) {
    let responses = shared
        .responses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut conn: Option<Conn> = None;
    let mut give_up = shared.give_up.subscribe();
    loop {
        let job = {
            let mut rx = shared.rx.lock().await;
            let job = rx.recv().await;
            shared.room.taken(rx.len(), rx.max_capacity() / 2);
            job
        };
        match job {
            Some(Job::Request(msg)) => {
                shared
                    .handle(&mut conn, msg, responses.as_ref(), &mut give_up)
                    .await
            }
            Some(Job::Stop) | None => break,
        }
    }
    drop(responses);
    shared.active.fetch_sub(1, Ordering::SeqCst);
    let _ = shared.progress.0.try_send(());
}

#[cfg(test)]
mod tests;
