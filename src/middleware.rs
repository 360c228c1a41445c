//! `--middleware "cmd args"`: every message goes through an external program
//! that may rewrite, drop or add messages.
//!
//! Protocol (kept byte for byte from GoReplay, so existing middleware works):
//! gor writes each message to the program's stdin as one line, the lowercase
//! hex of `Meta ‖ Data` followed by `\n`; the program writes the messages it
//! wants delivered to its stdout the same way (hex in either case). A line
//! that is not hex is skipped, counted as `middleware.garbage_lines` and the
//! first one logged (a trailing `\r` is tolerated). The program's stderr is
//! gor's stderr.
//!
//! The command is split like a shell would (quotes work, no expansion); the
//! program is found on `PATH`.
//!
//! Shape: [`start`] returns the *feed*, an [`Output`] the emitter writes every
//! input's messages to, and the *echo*, an [`Input`] the emitter's copy loop
//! reads what the program sent back from. A writer thread moves messages from
//! the feed's bounded queue into the pipe and a reader thread decodes lines
//! into the echo's bounded queue, so a slow program slows gor down (file
//! inputs wait, live inputs drop and count at the feed) but never deadlocks
//! it. Replayed responses (type 3) have a queue of their own that never
//! blocks, written first: they are produced by an output the middleware
//! feeds, and a bounded queue there would close a circle of full queues.
//!
//! Ending: closing the feed first lets the program settle (until it has
//! nothing queued and sent nothing back for 250 ms, at most 10 s), so that
//! what it still sends reaches the outputs and the replayed responses to
//! those requests still reach it; then the program's stdin is closed. A
//! message written to a closed feed is counted (`middleware.after_close`).
//! When the program then exits with status 0 the echo returns `Ok(None)`.
//! If the program exits in any other way — by itself while gor is still
//! feeding it, or with a failure status — the echo's `read` returns a
//! [`FatalError`] whose text is one line naming the command and its exit
//! status; the emitter turns it into exit 1
//! (GoReplay keeps running with the traffic silently stopped).

use crate::message::{Message, PayloadType};
use crate::plugin::{FatalError, Input, Output, Result, Shutdown};
use crate::settings::UsageError;
use crate::stats::{self, Counter};
use bytes::BytesMut;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Messages waiting in each direction; enough to absorb bursts, small
/// enough that a stalled program applies back-pressure quickly.
const QUEUE: usize = 4096;

/// Messages handed between threads at once (one wake-up each): the
/// reader's batches to the echo, the room the writer makes in the feed.
const BATCH: usize = 256;

/// Bytes of hex gathered before one write into the program's stdin, and
/// read from its stdout at once.
const PIPE_CHUNK: usize = 1 << 18;

/// Bytes the reader allocates at once for the messages it decodes (they
/// share it); small enough to be reused by the allocator, not mapped anew.
const ROOM: usize = 1 << 15;

/// At shutdown, the middleware counts as done once it has sent nothing back
/// for this long (and has nothing queued).
const SETTLE_QUIET: Duration = Duration::from_millis(250);

/// The longest shutdown waits for the middleware to settle.
const SETTLE_MAX: Duration = Duration::from_secs(10);

/// How long a program that gor stops (it no longer read its input at
/// shutdown) gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// When the program last sent a line back and last took input, and
/// whether it is gone.
struct Activity {
    base: Instant,
    last_line_ms: AtomicU64,
    last_fed_ms: AtomicU64,
    exited: AtomicBool,
    /// gor stopped the program itself: its exit is not a failure.
    stopped_by_gor: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_line_ms: AtomicU64::new(0),
            last_fed_ms: AtomicU64::new(0),
            exited: AtomicBool::new(false),
            stopped_by_gor: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn saw_line(&self) {
        self.last_line_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A write into the program's stdin went through.
    fn fed(&self) {
        self.last_fed_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let since = self.last_line_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(since))
    }

    fn unfed_for(&self) -> Duration {
        let since = self.last_fed_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(since))
    }
}

/// Starts the middleware program and returns its feed and its echo.
/// A command that cannot be split (unbalanced quotes) or is empty is a usage
/// error (exit 2); a program that cannot be started is an error naming it
/// (exit 1). When `shutdown` expires, closing the feed stops waiting for the
/// program to settle.
pub fn start(command: &str, shutdown: &Shutdown) -> Result<(Arc<dyn Output>, Box<dyn Input>)> {
    let argv = shlex::split(command)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            UsageError::invalid_value(
                "middleware",
                command,
                "expected a program and its arguments, quoted as in a shell",
            )
        })?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| anyhow::anyhow!("middleware {command:?} failed to start: {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        anyhow::bail!("middleware {command:?} failed to start: no pipes");
    };
    grow_pipe(&stdin);
    grow_pipe(&stdout);
    let closing = Arc::new(AtomicBool::new(false));
    let activity = Arc::new(Activity::new());
    let queue = Arc::new(FeedQueue::default());
    let (echo_tx, echo_rx) = bounded::<Echo>(QUEUE / BATCH);
    let cmd = command.to_string();
    let pid = child.id();
    let stdin_fd = stdin.as_raw_fd();
    let writer_queue = queue.clone();
    let writer_activity = activity.clone();
    shutdown.spawn("middleware-writer", move || {
        write_loop(stdin, &writer_queue, &writer_activity)
    })?;
    let (verdict_tx, verdict_rx) = bounded::<Option<String>>(1);
    let waiter_echo = echo_tx.clone();
    let waiter_cmd = cmd.clone();
    let waiter_closing = closing.clone();
    let waiter_activity = activity.clone();
    let waiter_queue = queue.clone();
    shutdown.spawn("middleware-waiter", move || {
        wait_loop(
            waiter_cmd,
            child,
            waiter_echo,
            verdict_tx,
            waiter_closing,
            waiter_activity,
        );
        waiter_queue.settle_changed();
    })?;
    let (expiry_queue, stop) = (queue.clone(), shutdown.clone());
    shutdown.spawn("middleware-expiry", move || {
        // At the stop, writes waiting for room give up; at expiry, the
        // close stops waiting for the program to settle.
        let _ = stop.stopped().recv();
        {
            let _s = expiry_queue.lock();
            expiry_queue.room.notify_all();
        }
        stop.wait_expired(Duration::MAX);
        expiry_queue.settle_changed();
    })?;
    let reader_activity = activity.clone();
    shutdown.spawn("middleware-reader", move || {
        read_loop(cmd, stdout, echo_tx, verdict_rx, reader_activity)
    })?;
    let feed = MiddlewareFeed {
        shutdown: shutdown.clone(),
        command: command.to_string(),
        pid,
        stdin_fd,
        queue,
        closing,
        full: stats::drop_counter("middleware.queue_full"),
        late: stats::drop_counter("middleware.after_close"),
        activity,
    };
    let echo = MiddlewareEcho {
        queue: echo_rx,
        pending: Vec::new().into_iter(),
        ended: false,
    };
    Ok((Arc::new(feed), Box::new(echo)))
}

/// Bytes waiting in a pipe (either end); `None` when it cannot be told.
fn pipe_bytes(fd: RawFd) -> Option<i32> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    (unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0).then_some(n)
}

/// Asks for a 1 MiB pipe buffer (Linux; the default is 64 KiB): fewer
/// wake-ups of gor and the program per message. Failure is harmless.
fn grow_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: fcntl on a pipe descriptor we own; no memory is passed.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

/// What the reader thread hands to the echo input.
enum Echo {
    /// Messages in the order the program sent them (never empty).
    Messages(Vec<Message>),
    /// The program ended; `Some` is the one-line reason it is fatal.
    Ended(Option<String>),
}

/// The feed's queues to the writer thread. The writer takes everything
/// queued at once, and each side wakes the other only when it waits: one
/// wake-up per batch, not per message.
#[derive(Default)]
struct FeedQueue {
    state: Mutex<FeedState>,
    /// The writer waits here for messages (or the close).
    work: Condvar,
    /// Writers of a full queue wait here for room.
    room: Condvar,
    /// The feed's close waits here for the program to settle.
    settle: Condvar,
}

#[derive(Default)]
struct FeedState {
    /// Everything but replayed responses (bounded: back-pressure).
    messages: Vec<Message>,
    /// Messages the writer took and has not written yet; they count
    /// against the bound too.
    in_writer: usize,
    /// Replayed responses (never blocks; written first). They come from an
    /// output the middleware itself feeds, and a full queue there would
    /// close a loop of full queues (a deadlock). It holds at most the
    /// replays in flight.
    responses: Vec<Message>,
    /// The feed is closed: the writer ends once everything queued (and
    /// every write already waiting for room) is written.
    closed: bool,
    /// The writer ended (the program no longer reads): writes fail.
    gone: bool,
    /// The writer waits for work.
    writer_idle: bool,
    /// Writes waiting for room.
    waiting: usize,
    /// The feed's close waits for the program to settle.
    settling: bool,
}

impl FeedQueue {
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Something the settling close waits for happened (the queue drained,
    /// the program exited, the shutdown expired): it looks again.
    fn settle_changed(&self) {
        let _s = self.lock();
        self.settle.notify_all();
    }
}

impl FeedState {
    fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.responses.is_empty()
    }
}

/// What a write to the feed came to.
enum Queued {
    Yes,
    /// The feed was closed before.
    Late,
    /// Queue full (only when not waiting for room).
    Full,
    /// The program no longer reads its input.
    Gone,
}

/// The feeding side: messages written here go to the program's stdin.
pub struct MiddlewareFeed {
    shutdown: Shutdown,
    command: String,
    /// The program's process id, to stop it when it no longer reads.
    pid: u32,
    /// The program's stdin (owned by the writer thread, open while the
    /// writer is neither done nor gone): how full it is shows whether the
    /// program still reads.
    stdin_fd: RawFd,
    queue: Arc<FeedQueue>,
    closing: Arc<AtomicBool>,
    full: Counter,
    late: Counter,
    activity: Arc<Activity>,
}

impl MiddlewareFeed {
    /// Queues `msg` for the writer; replayed responses never wait, others
    /// wait for room when `wait`.
    fn enqueue(&self, msg: &Message, wait: bool) -> Queued {
        let queue = &*self.queue;
        let mut s = queue.lock();
        if s.closed {
            return Queued::Late;
        }
        if s.gone {
            return Queued::Gone;
        }
        if msg.payload_type() == Some(PayloadType::ReplayedResponse) {
            s.responses.push(msg.clone());
        } else {
            if s.messages.len() + s.in_writer >= QUEUE {
                if !wait {
                    return Queued::Full;
                }
                // Until there is room, or gor stops: a program that no
                // longer reads must not hold the stop up.
                s.waiting += 1;
                let full = |s: &FeedState| s.messages.len() + s.in_writer >= QUEUE;
                while full(&s) && !s.gone && !self.shutdown.is_stopping() {
                    s = queue.room.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.waiting -= 1;
                if s.gone {
                    return Queued::Gone;
                }
                if full(&s) {
                    return Queued::Full;
                }
            }
            s.messages.push(msg.clone());
        }
        if s.writer_idle {
            s.writer_idle = false;
            // Woken outside the lock, so that it does not wait for it.
            drop(s);
            queue.work.notify_one();
        }
        Queued::Yes
    }

    /// A message that arrives after gor closed the middleware's input (a
    /// replayed response at shutdown) cannot be fed to it any more.
    fn count_late(&self) {
        self.late.drop_one(&format_args!(
            "middleware {:?}: messages arriving after its input was closed are not fed to it",
            self.command
        ));
    }

    fn gone(&self) -> anyhow::Error {
        anyhow::anyhow!("middleware {:?} no longer reads its input", self.command)
    }
}

impl Output for MiddlewareFeed {
    fn write(&self, msg: &Message) -> Result<()> {
        match self.enqueue(msg, true) {
            Queued::Yes | Queued::Full => Ok(()),
            Queued::Late => {
                self.count_late();
                Ok(())
            }
            Queued::Gone => Err(self.gone()),
        }
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        match self.enqueue(msg, false) {
            Queued::Yes => Ok(()),
            Queued::Full => {
                self.full.drop_one(&format_args!(
                    "middleware {:?} is not keeping up: dropping live messages",
                    self.command
                ));
                Ok(())
            }
            Queued::Late => {
                self.count_late();
                Ok(())
            }
            Queued::Gone => Err(self.gone()),
        }
    }

    /// Lets the middleware settle, then closes its stdin once everything
    /// queued was written; the program is expected to finish and exit 0.
    ///
    /// Settling: while the program still has messages queued or keeps
    /// answering (a line back within the last 250 ms), the input
    /// stays open, so that the outputs (still open, replay included) get
    /// what it sends back, and responses to those replays still reach it.
    ///
    /// Nothing polls: the wait ends when the quiet period would be over
    /// (looked at again then, as a line may have come meanwhile), or when
    /// the writer drains the queue, the program exits or the shutdown
    /// expires.
    fn close(&self) {
        let deadline = Instant::now() + SETTLE_MAX;
        let mut s = self.queue.lock();
        s.settling = true;
        let mut in_pipe = None;
        loop {
            let now = Instant::now();
            let queued = !s.closed && !s.gone && (!s.is_empty() || s.in_writer > 0);
            if queued {
                // The writer may be blocked in one large write while the
                // program reads slowly: its pipe emptying is progress too.
                let now_in_pipe = pipe_bytes(self.stdin_fd);
                if now_in_pipe != in_pipe {
                    self.activity.fed();
                    in_pipe = now_in_pipe;
                }
            }
            let quiet = self.activity.quiet_for();
            let settled = !queued && quiet >= SETTLE_QUIET;
            // Input waits but the program took none of it, nor answered,
            // for the quiet period: it stopped reading.
            let stuck =
                queued && quiet >= SETTLE_QUIET && self.activity.unfed_for() >= SETTLE_QUIET;
            if settled
                || stuck
                || now >= deadline
                || self.activity.exited.load(Ordering::SeqCst)
                || self.shutdown.is_expired()
            {
                break;
            }
            let wait = if queued {
                (SETTLE_QUIET / 5).min(deadline - now)
            } else {
                (SETTLE_QUIET - quiet).min(deadline - now)
            };
            s = self
                .queue
                .settle
                .wait_timeout(s, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s.settling = false;
        let unfed = !s.gone && (!s.is_empty() || s.in_writer > 0);
        // Said before the queue closes: the program's exit that follows is
        // the expected one.
        self.closing.store(true, Ordering::SeqCst);
        s.closed = true;
        drop(s);
        self.queue.work.notify_one();
        if unfed {
            self.stop_program();
        }
    }

    /// `middleware` (the command is in every message about it); also the
    /// prefix of its counters, e.g. `middleware.messages`.
    fn describe(&self) -> String {
        "middleware".into()
    }
}

impl MiddlewareFeed {
    /// The program did not take what is queued for it by the time gor
    /// closes (it stopped reading, the settling time ran out, or the
    /// shutdown expired): a write into
    /// its full pipe would block gor for good. SIGTERM, then SIGKILL after
    /// [`STOP_GRACE`]; the writer then sees the pipe close and counts what
    /// was still queued as lost.
    fn stop_program(&self) {
        if self.activity.exited.load(Ordering::SeqCst) {
            return;
        }
        tracing::warn!(
            "[MIDDLEWARE] command[{:?}] does not read its input any more; gor stops it",
            self.command
        );
        self.activity.stopped_by_gor.store(true, Ordering::SeqCst);
        let pid = self.pid as libc::pid_t;
        // SAFETY: kill(2) on our own child. The waiter sets `exited` right
        // after reaping it (checked above and below); only in the instant
        // between could the pid be a recycled one.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        let mut s = self.queue.lock();
        while !self.activity.exited.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= deadline {
                drop(s);
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return;
            }
            s = self
                .queue
                .settle
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The echoing side: what the program wrote back, as messages.
pub struct MiddlewareEcho {
    queue: Receiver<Echo>,
    /// The rest of the last batch received.
    pending: std::vec::IntoIter<Message>,
    ended: bool,
}

impl Input for MiddlewareEcho {
    fn read(&mut self) -> Result<Option<Message>> {
        loop {
            if let Some(m) = self.pending.next() {
                return Ok(Some(m));
            }
            if self.ended {
                return Ok(None);
            }
            match self.queue.recv() {
                Ok(Echo::Messages(batch)) => self.pending = batch.into_iter(),
                Ok(Echo::Ended(None)) | Err(_) => {
                    self.ended = true;
                    return Ok(None);
                }
                Ok(Echo::Ended(Some(why))) => {
                    self.ended = true;
                    return Err(FatalError(why).into());
                }
            }
        }
    }

    /// `middleware` (the command is in every message about it); also the
    /// prefix of its counters, e.g. `middleware.messages`.
    fn describe(&self) -> String {
        "middleware".into()
    }
}

/// Hex lines on their way into the program's stdin, written in large
/// blocks (a message may span two).
struct HexOut {
    buf: Vec<u8>,
    len: usize,
}

impl HexOut {
    fn new() -> Self {
        HexOut {
            buf: vec![0; PIPE_CHUNK],
            len: 0,
        }
    }

    /// Adds the message's line.
    fn line(&mut self, msg: &Message, pipe: &mut impl Write) -> std::io::Result<()> {
        self.hex(&msg.meta, pipe)?;
        self.hex(&msg.data, pipe)?;
        if self.len == self.buf.len() {
            self.flush(pipe)?;
        }
        self.buf[self.len] = b'\n';
        self.len += 1;
        Ok(())
    }

    fn hex(&mut self, mut data: &[u8], pipe: &mut impl Write) -> std::io::Result<()> {
        while !data.is_empty() {
            let room = (self.buf.len() - self.len) / 2;
            if room == 0 {
                self.flush(pipe)?;
                continue;
            }
            let n = room.min(data.len());
            crate::hex::encode_into(&data[..n], &mut self.buf[self.len..self.len + 2 * n]);
            self.len += 2 * n;
            data = &data[n..];
        }
        Ok(())
    }

    fn flush(&mut self, pipe: &mut impl Write) -> std::io::Result<()> {
        if self.len > 0 {
            pipe.write_all(&self.buf[..self.len])?;
            self.len = 0;
        }
        Ok(())
    }
}

/// Feed queue → program stdin, one hex line per message, replayed
/// responses first. Takes whatever is queued at once and flushes whenever
/// the queue is momentarily empty, so a lone message is not held back.
/// When the program no longer reads, the feed fails from then on.
fn write_loop(mut stdin: ChildStdin, queue: &FeedQueue, activity: &Activity) {
    let mut out = HexOut::new();
    let (mut responses, mut messages) = (Vec::new(), Vec::new());
    let mut unflushed = false;
    let finished = loop {
        {
            let mut s = queue.lock();
            if !s.is_empty() {
                std::mem::swap(&mut s.responses, &mut responses);
                std::mem::swap(&mut s.messages, &mut messages);
                s.in_writer = messages.len();
            } else if !unflushed {
                if s.closed && s.waiting == 0 {
                    break true;
                }
                if s.settling {
                    queue.settle.notify_all();
                }
                s.writer_idle = true;
                drop(queue.work.wait(s));
                continue;
            }
        }
        if responses.is_empty() && messages.is_empty() {
            if out.flush(&mut stdin).is_err() {
                break false;
            }
            activity.fed();
            unflushed = false;
            continue;
        }
        // Room is made a part at a time, so waiting writes go on early;
        // replayed responses that arrived meanwhile go before the next part.
        let written = (|| {
            responses.iter().try_for_each(|m| out.line(m, &mut stdin))?;
            responses.clear();
            for part in messages.chunks(BATCH) {
                part.iter().try_for_each(|m| out.line(m, &mut stdin))?;
                activity.fed();
                let waiting = {
                    let mut s = queue.lock();
                    s.in_writer -= part.len();
                    responses.append(&mut s.responses);
                    s.waiting > 0
                };
                if waiting {
                    queue.room.notify_all();
                }
                responses.iter().try_for_each(|m| out.line(m, &mut stdin))?;
                responses.clear();
            }
            std::io::Result::Ok(())
        })();
        responses.clear();
        messages.clear();
        if written.is_err() {
            break false;
        }
        unflushed = true;
    };
    if !finished {
        // The program is gone; the reader reports how it ended. What it was
        // still to be fed is lost, and counted.
        let mut s = queue.lock();
        s.gone = true;
        let lost = s.in_writer + s.messages.len() + s.responses.len();
        s.in_writer = 0;
        s.messages.clear();
        s.responses.clear();
        queue.room.notify_all();
        drop(s);
        if lost > 0 {
            let c = stats::drop_counter("middleware.unfed_when_gone");
            c.add(lost as u64 - 1);
            c.drop_one(&"the middleware stopped reading: messages still queued for it are lost");
        }
    }
    // Dropping the pipe closes the program's stdin: its signal to finish.
}

/// Waits for the program to exit. An exit gor did not ask for (or a
/// failure status) is reported at once, even if something the program
/// started still holds its stdout open; the verdict also goes to the reader,
/// which reports it after the last line it delivers.
fn wait_loop(
    command: String,
    mut child: Child,
    echo: Sender<Echo>,
    verdict: Sender<Option<String>>,
    closing: Arc<AtomicBool>,
    activity: Arc<Activity>,
) {
    let status = child.wait();
    activity.exited.store(true, Ordering::SeqCst);
    let fatal = match status {
        Ok(s) if s.success() && closing.load(Ordering::SeqCst) => None,
        Ok(_) if activity.stopped_by_gor.load(Ordering::SeqCst) => None,
        Ok(s) => Some(format!(
            "middleware {command:?} exited ({s}); gor cannot go on without it"
        )),
        Err(e) => Some(format!(
            "middleware {command:?}: waiting for it failed: {e}"
        )),
    };
    let _ = verdict.send(fatal.clone());
    if let Some(why) = fatal {
        let _ = echo.send(Echo::Ended(Some(why)));
    }
}

/// The longest line accepted from the program (the hex of a 128 MiB
/// message): a program that never ends its line cannot exhaust memory.
const MAX_LINE: usize = 256 << 20;

enum Line {
    Complete,
    TooLong,
    End,
}

/// Reads one `\n`-terminated line into `line` (a last line without `\n`
/// counts too). A line over `max` bytes is consumed and reported, not kept.
fn read_line(pipe: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    let mut too_long = false;
    loop {
        let (done, used) = {
            let buf = pipe.fill_buf()?;
            if buf.is_empty() {
                return Ok(match (too_long, line.is_empty()) {
                    (true, _) => Line::TooLong,
                    (false, true) => Line::End,
                    (false, false) => Line::Complete,
                });
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    if !too_long {
                        line.extend_from_slice(&buf[..=i]);
                    }
                    (true, i + 1)
                }
                None => {
                    if !too_long {
                        line.extend_from_slice(buf);
                    }
                    (false, buf.len())
                }
            }
        };
        pipe.consume(used);
        if line.len() > max {
            too_long = true;
            line.clear();
        }
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

/// Lines from the program, decoded into messages that share large
/// buffers, gathered into batches for the echo.
struct Lines<'a> {
    command: &'a str,
    garbage: Counter,
    /// Room for the messages to come: each takes its bytes off the front.
    room: BytesMut,
    batch: Vec<Message>,
}

impl Lines<'_> {
    /// Adds one line's message to the batch; a line that is not hex is
    /// counted and skipped.
    fn take(&mut self, line: &[u8]) {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let decoded = if text.is_empty() {
            Err("empty line".to_string())
        } else {
            let n = text.len() / 2;
            if self.room.len() < n {
                self.room = BytesMut::zeroed(n.max(ROOM));
            }
            crate::hex::decode_into(text, &mut self.room[..n])
                .map(|()| message_from(&mut self.room, n))
        };
        match decoded {
            Ok(msg) => self.batch.push(msg),
            Err(e) => self.garbage.drop_one(&format_args!(
                "[MIDDLEWARE] command[{:?}] failed to decode err: {e:?}; the line is skipped",
                self.command
            )),
        }
    }

    /// Hands the batch to the echo; false when nobody reads it any more.
    fn send(&mut self, echo: &Sender<Echo>) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        echo.send(Echo::Messages(batch)).is_ok()
    }
}

/// The first `n` bytes of `room` as a message, as `Message::from_record`
/// makes it, but with meta and data taken straight off `room` (fewer
/// reference counts touched than splitting a record afterwards).
fn message_from(room: &mut BytesMut, n: usize) -> Message {
    match memchr::memchr(b'\n', &room[..n]) {
        Some(i) if i > 0 && i + 1 < n => {
            let meta = room.split_to(i + 1).freeze();
            let data = room.split_to(n - i - 1).freeze();
            Message::from_parts(meta, data)
        }
        _ => Message::from_record(room.split_to(n).freeze()),
    }
}

/// Program stdout → echo queue; at the end of its output, reports how the
/// program ended.
fn read_loop(
    command: String,
    stdout: ChildStdout,
    echo: Sender<Echo>,
    verdict: Receiver<Option<String>>,
    activity: Arc<Activity>,
) {
    let mut lines = Lines {
        command: &command,
        garbage: stats::drop_counter("middleware.garbage_lines"),
        room: BytesMut::new(),
        batch: Vec::with_capacity(BATCH),
    };
    let pipe = BufReader::with_capacity(PIPE_CHUNK, stdout);
    read_lines(
        pipe,
        &mut lines,
        || activity.saw_line(),
        |lines| lines.send(&echo),
    );
    let fatal = verdict.recv().unwrap_or(None);
    let _ = echo.send(Echo::Ended(fatal));
}

/// Decodes the program's output line by line into `lines`, handing each
/// batch to `deliver` until the output ends or `deliver` says nobody reads
/// any more. Lines are decoded straight from the read buffer; only a line
/// that does not fit in it is gathered first.
fn read_lines<R: Read>(
    mut pipe: BufReader<R>,
    lines: &mut Lines,
    mut saw_line: impl FnMut(),
    mut deliver: impl FnMut(&mut Lines) -> bool,
) {
    let command = lines.command;
    let mut line = Vec::new();
    loop {
        let buf = match pipe.fill_buf() {
            Ok(buf) => buf,
            Err(e) => {
                tracing::error!("[MIDDLEWARE] command[{command:?}] read error: {e}");
                break;
            }
        };
        if buf.is_empty() {
            break;
        }
        let (mut used, mut delivered) = (0, true);
        while let Some(i) = memchr::memchr(b'\n', &buf[used..]) {
            lines.take(&buf[used..used + i]);
            used += i + 1;
            if lines.batch.len() >= BATCH && !deliver(lines) {
                delivered = false;
                break;
            }
        }
        if used > 0 {
            pipe.consume(used);
            saw_line();
        } else {
            // A line longer than the buffer, or a last line without `\n`.
            line.clear();
            match read_line(&mut pipe, &mut line, MAX_LINE) {
                Ok(Line::End) => break,
                Ok(Line::Complete) => {
                    saw_line();
                    lines.take(&line);
                }
                Ok(Line::TooLong) => {
                    saw_line();
                    lines.garbage.drop_one(&format_args!(
                        "[MIDDLEWARE] command[{command:?}] sent a line longer than {MAX_LINE} bytes; it is skipped"
                    ));
                }
                Err(e) => {
                    tracing::error!("[MIDDLEWARE] command[{command:?}] read error: {e}");
                    break;
                }
            }
        }
        if !delivered || !deliver(lines) {
            // Nobody reads the echo any more: gor is ending.
            break;
        }
    }
}

/// The messages a middleware program's output decodes to, read through
/// the same line reader as a live program's stdout (`buffer` bytes at a
/// time), and how many lines were skipped as garbage. For the fuzz targets
/// and tests: any input must decode without a panic.
#[doc(hidden)]
pub fn decode_output(output: &[u8], buffer: usize) -> (Vec<Message>, u64) {
    let garbage = stats::drop_counter("middleware.garbage_lines");
    let before = garbage.get();
    let mut lines = Lines {
        command: "decode",
        garbage: garbage.clone(),
        room: BytesMut::new(),
        batch: Vec::new(),
    };
    let mut out = Vec::new();
    let pipe = BufReader::with_capacity(buffer.max(1), output);
    read_lines(
        pipe,
        &mut lines,
        || {},
        |lines| {
            out.append(&mut lines.batch);
            true
        },
    );
    (out, garbage.get() - before)
}

#[cfg(test)]
mod tests;
