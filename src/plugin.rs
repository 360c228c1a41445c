//! The contract every input and output meets.
//!
//! Inputs are read by their own copy loop (one thread each), so `read` may
//! block. Outputs are shared by every copy loop, so `write` takes `&self` and
//! must hand the message over quickly; slow work (network, compression)
//! belongs to the output's own workers behind a bounded queue.

use crate::message::Message;

pub type Result<T> = anyhow::Result<T>;

/// A source of messages.
pub trait Input: Send {
    /// The next message; `Ok(None)` means the input is finished for good (end
    /// of file, listener closed). Blocking until a message exists is fine.
    fn read(&mut self) -> Result<Option<Message>>;

    /// Live sources (packet capture) must never be slowed down by a slow
    /// output: the emitter offers their messages with [`Output::offer`], which
    /// drops and counts when an output's queue is full. Finite sources (files)
    /// wait instead, so replaying a file never loses a record.
    fn is_live(&self) -> bool {
        false
    }

    /// True for inputs that end by themselves soon after a stop and whose
    /// last messages must still be delivered (a relay input reads what its
    /// senders already sent, for a short grace time): their copy loops go on
    /// after the stop, and outputs close only once they are done.
    fn drains_at_stop(&self) -> bool {
        false
    }

    /// Release resources. Called once, from the input's own copy loop, when it
    /// ends.
    fn close(&mut self) {}

    /// How the user named this input, for logs and stats (`--input-file x.gor`).
    fn describe(&self) -> String;
}

/// A destination for messages.
pub trait Output: Send + Sync {
    /// Accept a message. May wait for room in the output's queue
    /// (back-pressure), never for the slow part of the work.
    fn write(&self, msg: &Message) -> Result<()>;

    /// Accept a message without waiting: an output whose queue is full drops
    /// it and counts the drop. Outputs without a queue write as usual.
    fn offer(&self, msg: &Message) -> Result<()> {
        self.write(msg)
    }

    /// Flush everything accepted and release resources; later writes fail.
    /// `&self`, not `&mut self`, because every copy loop holds the output.
    fn close(&self) {}

    /// True for outputs that feed an input of their own (replayed
    /// responses): at shutdown they are closed first, so that what they still
    /// produce reaches the other outputs before those close.
    fn produces_responses(&self) -> bool {
        false
    }

    /// How the user named this output, for logs and stats.
    fn describe(&self) -> String;
}

/// An error that must stop gor (exit status 1) rather than just end one copy
/// loop: a middleware that died, for instance.
#[derive(Debug)]
pub struct FatalError(pub String);

impl std::fmt::Display for FatalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FatalError {}

/// Where replayed exchanges (the request sent and the response received) go
/// besides the response input: the ElasticSearch export today, the response
/// diff tomorrow. Defined here so that a replay output and the plugins that
/// watch it never import each other.
pub trait ExchangeSink: Send + Sync {
    /// One exchange: `request` is the head that was sent, `response` the
    /// bytes received, `start_ns` when it was sent, `rtt_ns` how long it took.
    fn exchange(&self, request: &[u8], response: &[u8], start_ns: i64, rtt_ns: i64);

    /// A replay output starts feeding this sink.
    fn attach(&self) {}

    /// A replay output is done; the last one to detach flushes the sink.
    fn detach(&self) {}
}

/// Everything the emitter runs.
#[derive(Default)]
pub struct Plugins {
    /// Inputs named on the command line.
    pub inputs: Vec<Box<dyn Input>>,
    /// Outputs, in registration order (the order of broadcast and rotation).
    pub outputs: Vec<std::sync::Arc<dyn Output>>,
    /// Inputs fed by outputs (replayed responses); they finish once their
    /// output is closed and drained.
    pub response_inputs: Vec<Box<dyn Input>>,
    /// Asked once every output is closed: a `Some(why)` makes gor exit
    /// with status 3 (`--output-diff-fail` saw a regression).
    pub gates: Vec<Gate>,
}

/// A check of the finished run; `Some(why)` fails it (exit status 3).
pub type Gate = Box<dyn Fn() -> Option<String> + Send>;

/// A mistake in what the user typed (a flag value, an address, a rule):
/// reported in one line that names the flag, exit status 2. Defined here,
/// beside [`FatalError`], so that every plugin can say it without importing
/// the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// `invalid value "<v>" for flag -<name>: <reason>`, Go's wording.
    pub fn invalid_value(flag: &str, value: &str, reason: impl std::fmt::Display) -> Self {
        UsageError(format!(
            "invalid value {value:?} for flag -{flag}: {reason}"
        ))
    }
}

/// The stop signal, as a value: cheap to clone, given to every plugin and
/// thread when it is built, usable from signal handlers and tests.
///
/// Stopping closes a channel that nothing ever sends on, so every thread
/// waiting on [`Shutdown::stopped`] (alone, or in a `crossbeam_channel::select!`
/// beside its own work queue) wakes at once: no thread needs to sleep and poll.
///
/// A stop has two stages. [`Shutdown::stop`] asks inputs to stop reading and
/// outputs to deliver what they accepted. [`Shutdown::expire`] says the time
/// for that is up (`--exit-after` passed): whatever is still queued or in
/// flight is given up and counted, so the run ends on time.
///
/// Threads started with [`Shutdown::spawn`] are recorded, and
/// [`Shutdown::join_all`] joins them before gor exits.
#[derive(Clone)]
pub struct Shutdown {
    inner: std::sync::Arc<ShutdownState>,
    stopped: crossbeam_channel::Receiver<()>,
    expired: crossbeam_channel::Receiver<()>,
}

struct ShutdownState {
    stopping: std::sync::atomic::AtomicBool,
    expired: std::sync::atomic::AtomicBool,
    why: std::sync::Mutex<Option<String>>,
    /// Dropped on stop; its receivers then see the channel closed.
    trigger: std::sync::Mutex<Option<crossbeam_channel::Sender<()>>>,
    /// Dropped on expiry, likewise.
    expiry: std::sync::Mutex<Option<crossbeam_channel::Sender<()>>>,
    threads: std::sync::Mutex<Vec<Spawned>>,
    /// Threads started by [`Shutdown::spawn`] that have not ended yet.
    running: std::sync::Mutex<usize>,
    ended: std::sync::Condvar,
    /// The same stages for async tasks: 0 running, 1 stopping, 2 expired.
    stage: tokio::sync::watch::Sender<u8>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// A thread started by [`Shutdown::spawn`].
struct Spawned {
    name: String,
    handle: std::thread::JoinHandle<()>,
    /// Set when its work is done (the thread itself ends right after).
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Counts a spawned thread as ended when dropped, also when it panics.
struct Running {
    state: std::sync::Arc<ShutdownState>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut n = lock(&self.state.running);
        *n = n.saturating_sub(1);
        self.state.ended.notify_all();
    }
}

/// Locks `m`, taking it over from a thread that panicked while holding it
/// (what it guards stays usable: a panic there is a bug to report, not a
/// reason to stop every other thread).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let (etx, erx) = crossbeam_channel::bounded(0);
        Shutdown {
            inner: std::sync::Arc::new(ShutdownState {
                stopping: std::sync::atomic::AtomicBool::new(false),
                expired: std::sync::atomic::AtomicBool::new(false),
                why: std::sync::Mutex::new(None),
                trigger: std::sync::Mutex::new(Some(tx)),
                expiry: std::sync::Mutex::new(Some(etx)),
                threads: std::sync::Mutex::new(Vec::new()),
                running: std::sync::Mutex::new(0),
                ended: std::sync::Condvar::new(),
                stage: tokio::sync::watch::Sender::new(0),
            }),
            stopped: rx,
            expired: erx,
        }
    }

    /// Asks everything to flush and stop; the first `why` is kept and logged.
    pub fn stop(&self, why: impl Into<String>) {
        let mut reason = lock(&self.inner.why);
        if reason.is_none() {
            *reason = Some(why.into());
        }
        drop(reason);
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        lock(&self.inner.trigger).take();
        self.inner.stage.send_if_modified(|s| {
            let was = *s;
            *s = was.max(1);
            was < 1
        });
    }

    /// Stops (if not stopped yet) and says that the time to deliver what
    /// was accepted is up: outputs give up what they still hold, counting
    /// it, instead of waiting for slow targets.
    pub fn expire(&self, why: impl Into<String>) {
        self.stop(why);
        self.inner
            .expired
            .store(true, std::sync::atomic::Ordering::SeqCst);
        lock(&self.inner.expiry).take();
        self.inner.stage.send_if_modified(|s| {
            let was = *s;
            *s = 2;
            was < 2
        });
    }

    /// Resolves when the stop is asked for (for async tasks).
    pub async fn until_stopped(&self) {
        let mut rx = self.inner.stage.subscribe();
        let _ = rx.wait_for(|s| *s >= 1).await;
    }

    /// Resolves on expiry (for async tasks).
    pub async fn until_expired(&self) {
        let mut rx = self.inner.stage.subscribe();
        let _ = rx.wait_for(|s| *s >= 2).await;
    }

    /// True once [`Shutdown::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.inner
            .stopping
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True once [`Shutdown::expire`] was called.
    pub fn is_expired(&self) -> bool {
        self.inner
            .expired
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why the stop was asked for, once it was.
    pub fn reason(&self) -> Option<String> {
        lock(&self.inner.why).clone()
    }

    /// A receiver that becomes ready (disconnected) when the stop is asked
    /// for: `select!` on it beside a work queue.
    pub fn stopped(&self) -> &crossbeam_channel::Receiver<()> {
        &self.stopped
    }

    /// A receiver that becomes ready (disconnected) on expiry.
    pub fn expired(&self) -> &crossbeam_channel::Receiver<()> {
        &self.expired
    }

    /// Waits up to `timeout` for the stop; true when it came.
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> bool {
        matches!(
            self.stopped.recv_timeout(timeout),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }

    /// Waits until the stop is asked for.
    pub fn wait(&self) {
        let _ = self.stopped.recv();
    }

    /// Waits up to `timeout` for expiry; true when it came.
    pub fn wait_expired(&self, timeout: std::time::Duration) -> bool {
        matches!(
            self.expired.recv_timeout(timeout),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }

    /// How an output with work in flight closes: waits while `busy()` holds
    /// and work keeps finishing (each `progress` signal that comes with a
    /// new `finished()` count restarts the `patience`). `None` when the work
    /// ended; otherwise why it was given up: expiry, or nothing `what`
    /// finished for `patience`.
    pub fn wait_while_progressing(
        &self,
        busy: impl Fn() -> bool,
        finished: impl Fn() -> u64,
        progress: &crossbeam_channel::Receiver<()>,
        patience: std::time::Duration,
        what: &str,
    ) -> Option<String> {
        let mut last = finished();
        let mut progress_at = std::time::Instant::now();
        while busy() {
            let left = patience.saturating_sub(progress_at.elapsed());
            let expired = crossbeam_channel::select! {
                recv(progress) -> _ => false,
                recv(self.expired) -> _ => true,
                default(left) => false,
            };
            let now = finished();
            if now != last {
                last = now;
                progress_at = std::time::Instant::now();
            }
            if expired {
                return Some("gor's time is up".to_string());
            }
            if progress_at.elapsed() >= patience {
                return Some(format!("no {what} finished for {patience:?}"));
            }
        }
        None
    }

    /// Starts a named thread that [`Shutdown::join_all`] will join. `f`
    /// must end soon after the stop (it gets this handle to watch).
    pub fn spawn(
        &self,
        name: impl Into<String>,
        f: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        let name = name.into();
        *lock(&self.inner.running) += 1;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let guard = Running {
            state: self.inner.clone(),
            done: done.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let _guard = guard;
                f();
            });
        match spawned {
            Ok(handle) => {
                let mut threads = lock(&self.inner.threads);
                // Threads that come and go (a worker pool that grows and
                // shrinks) are joined as new ones start: a finished thread
                // keeps its stack until it is joined.
                let (ended, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *threads)
                    .into_iter()
                    .partition(|t| t.done.load(std::sync::atomic::Ordering::SeqCst));
                *threads = running;
                threads.push(Spawned { name, handle, done });
                drop(threads);
                for t in ended {
                    if t.handle.join().is_err() {
                        tracing::error!("thread {} panicked", t.name);
                    }
                }
                Ok(())
            }
            // The closure (and its guard) was dropped, which counted the
            // thread as ended.
            Err(e) => Err(e),
        }
    }

    /// Joins every thread started with [`Shutdown::spawn`], waiting at most
    /// `bound` in all; returns the names of those still running then (they
    /// are logged, and left to end with the process).
    pub fn join_all(&self, bound: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + bound;
        let mut running = lock(&self.inner.running);
        while *running > 0 {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            running = self
                .inner
                .ended
                .wait_timeout(running, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(running);
        let threads = std::mem::take(&mut *lock(&self.inner.threads));
        let mut late = Vec::new();
        for t in threads {
            if t.done.load(std::sync::atomic::Ordering::SeqCst) {
                if t.handle.join().is_err() {
                    tracing::error!("thread {} panicked", t.name);
                }
            } else {
                late.push(t.name);
            }
        }
        // One line, however many are late (ten workers stuck alike would
        // otherwise make ten).
        if !late.is_empty() {
            tracing::warn!(
                "{} thread(s) did not end within {bound:?} of the stop: {}",
                late.len(),
                late.join(", ")
            );
        }
        late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_stop_wakes_every_waiting_clone_at_once() {
        let shutdown = Shutdown::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = shutdown.clone();
                std::thread::spawn(move || s.wait_timeout(Duration::from_secs(10)))
            })
            .collect();
        let started = Instant::now();
        shutdown.stop("test");
        shutdown.stop("second reason is ignored");
        for w in waiters {
            assert!(w.join().unwrap());
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(shutdown.is_stopping());
        assert_eq!(shutdown.reason().as_deref(), Some("test"));
    }

    #[test]
    fn expiry_implies_a_stop_and_wakes_its_waiters() {
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let waiter = std::thread::spawn(move || s.wait_expired(Duration::from_secs(10)));
        shutdown.stop("first");
        assert!(!shutdown.is_expired());
        shutdown.expire("time is up");
        assert!(waiter.join().unwrap());
        assert!(shutdown.is_stopping() && shutdown.is_expired());
        assert_eq!(shutdown.reason().as_deref(), Some("first"));
    }

    #[test]
    fn join_all_joins_watching_threads_and_names_the_late_one() {
        let shutdown = Shutdown::new();
        for i in 0..3 {
            let s = shutdown.clone();
            shutdown
                .spawn(format!("watcher-{i}"), move || s.wait())
                .unwrap();
        }
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        shutdown
            .spawn("stubborn", move || {
                let _ = rx.recv();
            })
            .unwrap();
        shutdown.stop("test");
        let started = Instant::now();
        let late = shutdown.join_all(Duration::from_millis(300));
        assert_eq!(late, vec!["stubborn".to_string()]);
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(tx);
    }

    #[test]
    fn threads_that_ended_are_joined_when_new_ones_start() {
        let shutdown = Shutdown::new();
        for i in 0..50 {
            shutdown.spawn(format!("short-{i}"), || {}).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let s = shutdown.clone();
        shutdown.spawn("watcher", move || s.wait()).unwrap();
        let kept = lock(&shutdown.inner.threads).len();
        assert!(kept < 10, "{kept} threads kept unjoined");
        shutdown.stop("test");
        assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn without_a_stop_waiting_times_out() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::from_millis(20)));
        assert!(!shutdown.is_stopping());
    }
}
