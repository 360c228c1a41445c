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
}

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

    /// The error for a flag whose plugin a later release adds: honest, one
    /// line, exit 2, never silently ignored.
    pub fn not_available(flag: &str, what: &str) -> Self {
        UsageError(format!(
            "--{flag}: the {what} is not available yet in this build of gor"
        ))
    }
}

/// The stop signal, as a value: cheap to clone, given to every plugin and
/// thread when it is built, usable from signal handlers and tests.
///
/// Stopping closes a channel that nothing ever sends on, so every thread
/// waiting on [`Shutdown::stopped`] (alone, or in a `crossbeam_channel::select!`
/// beside its own work queue) wakes at once: no thread needs to sleep and poll.
#[derive(Clone)]
pub struct Shutdown {
    inner: std::sync::Arc<ShutdownState>,
    stopped: crossbeam_channel::Receiver<()>,
}

struct ShutdownState {
    stopping: std::sync::atomic::AtomicBool,
    why: std::sync::Mutex<Option<String>>,
    /// Dropped on stop; its receivers then see the channel closed.
    trigger: std::sync::Mutex<Option<crossbeam_channel::Sender<()>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Shutdown {
            inner: std::sync::Arc::new(ShutdownState {
                stopping: std::sync::atomic::AtomicBool::new(false),
                why: std::sync::Mutex::new(None),
                trigger: std::sync::Mutex::new(Some(tx)),
            }),
            stopped: rx,
        }
    }

    /// Asks everything to flush and stop; the first `why` is kept and logged.
    pub fn stop(&self, why: impl Into<String>) {
        let mut reason = self.inner.why.lock().unwrap_or_else(|e| e.into_inner());
        if reason.is_none() {
            *reason = Some(why.into());
        }
        drop(reason);
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .trigger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// True once [`Shutdown::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.inner
            .stopping
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why the stop was asked for, once it was.
    pub fn reason(&self) -> Option<String> {
        self.inner
            .why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A receiver that becomes ready (disconnected) when the stop is asked
    /// for: `select!` on it beside a work queue.
    pub fn stopped(&self) -> &crossbeam_channel::Receiver<()> {
        &self.stopped
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
    fn a_plugin_not_built_yet_is_a_usage_error_naming_the_flag() {
        let e: anyhow::Error = UsageError::not_available("output-tcp", "TCP output").into();
        assert_eq!(
            e.downcast_ref::<UsageError>().map(|u| u.0.as_str()),
            Some("--output-tcp: the TCP output is not available yet in this build of gor")
        );
    }

    #[test]
    fn without_a_stop_waiting_times_out() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait_timeout(Duration::from_millis(20)));
        assert!(!shutdown.is_stopping());
    }
}
