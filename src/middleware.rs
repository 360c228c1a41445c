//! `--middleware "cmd args"`: every message goes through an external program
//! that may rewrite, drop or add messages (spec section 12).
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
use crate::plugin::{FatalError, Input, Output, Result};
use crate::settings::UsageError;
use crate::stats::{self, Counter};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Messages waiting in each direction; enough to absorb bursts, small
/// enough that a stalled program applies back-pressure quickly.
const QUEUE: usize = 4096;

/// At shutdown, the middleware counts as done once it has sent nothing back
/// for this long (and has nothing queued).
const SETTLE_QUIET: Duration = Duration::from_millis(250);

/// The longest shutdown waits for the middleware to settle.
const SETTLE_MAX: Duration = Duration::from_secs(10);

/// When the program last sent a line back, and whether it is gone.
struct Activity {
    base: Instant,
    last_line_ms: AtomicU64,
    exited: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_line_ms: AtomicU64::new(0),
            exited: AtomicBool::new(false),
        }
    }

    fn saw_line(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_line_ms.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let now = self.base.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_line_ms.load(Ordering::Relaxed)))
    }
}

/// Starts the middleware program and returns its feed and its echo.
/// A command that cannot be split (unbalanced quotes) or is empty is a usage
/// error (exit 2); a program that cannot be started is an error naming it
/// (exit 1).
pub fn start(command: &str) -> Result<(Arc<dyn Output>, Box<dyn Input>)> {
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
    let (feed_tx, feed_rx) = bounded::<Message>(QUEUE);
    // Replayed responses get a queue of their own that never blocks: they
    // come from an output that the middleware itself feeds, and a full
    // queue there would close a loop of full queues (a deadlock). It holds
    // at most the replays in flight.
    let (responses_tx, responses_rx) = unbounded::<Message>();
    let (echo_tx, echo_rx) = bounded::<Echo>(QUEUE);
    let cmd = command.to_string();
    std::thread::Builder::new()
        .name("middleware-writer".into())
        .spawn(move || write_loop(stdin, feed_rx, responses_rx))?;
    let (verdict_tx, verdict_rx) = bounded::<Option<String>>(1);
    let waiter_echo = echo_tx.clone();
    let waiter_cmd = cmd.clone();
    let waiter_closing = closing.clone();
    let waiter_activity = activity.clone();
    std::thread::Builder::new()
        .name("middleware-waiter".into())
        .spawn(move || {
            wait_loop(
                waiter_cmd,
                child,
                waiter_echo,
                verdict_tx,
                waiter_closing,
                waiter_activity,
            )
        })?;
    let reader_activity = activity.clone();
    std::thread::Builder::new()
        .name("middleware-reader".into())
        .spawn(move || read_loop(cmd, stdout, echo_tx, verdict_rx, reader_activity))?;
    let feed = MiddlewareFeed {
        command: command.to_string(),
        queue: Mutex::new(Some(Queues {
            messages: feed_tx,
            responses: responses_tx,
        })),
        closing,
        full: stats::drop_counter("middleware.queue_full"),
        late: stats::drop_counter("middleware.after_close"),
        activity,
    };
    let echo = MiddlewareEcho {
        queue: echo_rx,
        ended: false,
    };
    Ok((Arc::new(feed), Box::new(echo)))
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
    Message(Message),
    /// The program ended; `Some` is the one-line reason it is fatal.
    Ended(Option<String>),
}

/// The feeding side: messages written here go to the program's stdin.
pub struct MiddlewareFeed {
    command: String,
    queue: Mutex<Option<Queues>>,
    closing: Arc<AtomicBool>,
    full: Counter,
    late: Counter,
    activity: Arc<Activity>,
}

/// The two queues to the writer thread.
#[derive(Clone)]
struct Queues {
    /// Everything but replayed responses (bounded: back-pressure).
    messages: Sender<Message>,
    /// Replayed responses (never blocks; written first).
    responses: Sender<Message>,
}

impl MiddlewareFeed {
    /// The queues to the writer thread; `None` once the feed is closed.
    fn sender(&self) -> Option<Queues> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A message that arrives after gor closed the middleware's input (a
    /// replayed response at shutdown) cannot be fed to it any more.
    fn count_late(&self, _msg: &Message) {
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
        let Some(queues) = self.sender() else {
            self.count_late(msg);
            return Ok(());
        };
        let queue = match msg.payload_type() {
            Some(PayloadType::ReplayedResponse) => &queues.responses,
            _ => &queues.messages,
        };
        queue.send(msg.clone()).map_err(|_| self.gone())
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        let Some(queues) = self.sender() else {
            self.count_late(msg);
            return Ok(());
        };
        if msg.payload_type() == Some(PayloadType::ReplayedResponse) {
            return queues.responses.send(msg.clone()).map_err(|_| self.gone());
        }
        match queues.messages.try_send(msg.clone()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.full.drop_one(&format_args!(
                    "middleware {:?} is not keeping up: dropping live messages",
                    self.command
                ));
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(self.gone()),
        }
    }

    /// Lets the middleware settle, then closes its stdin once everything
    /// queued was written; the program is expected to finish and exit 0.
    ///
    /// Settling: while the program still has messages queued or keeps
    /// answering (a line back within the last 250 ms), the input
    /// stays open, so that the outputs (still open, replay included) get
    /// what it sends back, and responses to those replays still reach it.
    fn close(&self) {
        let deadline = Instant::now() + SETTLE_MAX;
        while Instant::now() < deadline {
            let queued = self
                .sender()
                .is_some_and(|q| !q.messages.is_empty() || !q.responses.is_empty());
            let settled = !queued && self.activity.quiet_for() >= SETTLE_QUIET;
            if settled || self.activity.exited.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.closing.store(true, Ordering::SeqCst);
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// `middleware` (the command is in every message about it); also the
    /// prefix of its counters, e.g. `middleware.messages`.
    fn describe(&self) -> String {
        "middleware".into()
    }
}

/// The echoing side: what the program wrote back, as messages.
pub struct MiddlewareEcho {
    queue: Receiver<Echo>,
    ended: bool,
}

impl Input for MiddlewareEcho {
    fn read(&mut self) -> Result<Option<Message>> {
        if self.ended {
            return Ok(None);
        }
        match self.queue.recv() {
            Ok(Echo::Message(m)) => Ok(Some(m)),
            Ok(Echo::Ended(None)) | Err(_) => {
                self.ended = true;
                Ok(None)
            }
            Ok(Echo::Ended(Some(why))) => {
                self.ended = true;
                Err(FatalError(why).into())
            }
        }
    }

    /// `middleware` (the command is in every message about it); also the
    /// prefix of its counters, e.g. `middleware.messages`.
    fn describe(&self) -> String {
        "middleware".into()
    }
}

/// Every byte's two lowercase hex digits.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    t
};

/// Each byte's value as a hex digit (either case), or 0xFF.
static HEX_VALUES: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Appends the lowercase hex of `data` to `out`.
pub fn encode_hex(data: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + data.len() * 2, 0);
    for (pair, b) in out[start..].chunks_exact_mut(2).zip(data) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
}

/// Decodes one hex line (either case); the error says what is wrong.
pub fn decode_hex(line: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if !line.len().is_multiple_of(2) {
        return Err("encoding/hex: odd length hex string".into());
    }
    let mut out = vec![0u8; line.len() / 2];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(line.chunks_exact(2)) {
        let (h, l) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        bad |= h | l;
        *o = h << 4 | l;
    }
    if bad & 0xF0 == 0 {
        return Ok(out);
    }
    // Only for the error message: where is the first bad digit?
    let at = line
        .iter()
        .position(|c| HEX_VALUES[usize::from(*c)] == 0xFF)
        .unwrap_or(0);
    Err(format!(
        "encoding/hex: invalid byte: {:#04X} at offset {at}",
        line[at]
    ))
}

/// Feed queues → program stdin, one hex line per message, replayed
/// responses first. Flushes whenever both queues are momentarily empty, so a
/// lone message is not held back.
fn write_loop(stdin: ChildStdin, messages: Receiver<Message>, responses: Receiver<Message>) {
    let mut pipe = BufWriter::with_capacity(1 << 16, stdin);
    let mut line = Vec::new();
    let (mut messages, mut responses) = (messages, responses);
    let (mut messages_open, mut responses_open) = (true, true);
    loop {
        let next = responses.try_recv().or_else(|_| messages.try_recv());
        let msg = match next {
            Ok(m) => m,
            Err(_) => {
                if pipe.flush().is_err() {
                    return;
                }
                if !messages_open && !responses_open {
                    break;
                }
                // A closed queue is swapped for one that never delivers, so
                // the wait is on the other one only.
                crossbeam_channel::select! {
                    recv(responses) -> m => match m {
                        Ok(m) => m,
                        Err(_) => {
                            responses_open = false;
                            responses = crossbeam_channel::never();
                            continue;
                        }
                    },
                    recv(messages) -> m => match m {
                        Ok(m) => m,
                        Err(_) => {
                            messages_open = false;
                            messages = crossbeam_channel::never();
                            continue;
                        }
                    },
                }
            }
        };
        line.clear();
        encode_hex(&msg.meta, &mut line);
        encode_hex(&msg.data, &mut line);
        line.push(b'\n');
        if pipe.write_all(&line).is_err() {
            // The program is gone; the reader reports how it ended.
            return;
        }
    }
    // Dropping the pipe closes the program's stdin: its signal to finish.
    let _ = pipe.flush();
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

/// Program stdout → echo queue; at the end of its output, reports how the
/// program ended.
fn read_loop(
    command: String,
    stdout: ChildStdout,
    echo: Sender<Echo>,
    verdict: Receiver<Option<String>>,
    activity: Arc<Activity>,
) {
    let garbage = stats::drop_counter("middleware.garbage_lines");
    let mut pipe = BufReader::with_capacity(1 << 16, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(&mut pipe, &mut line, MAX_LINE) {
            Ok(Line::End) => break,
            Ok(Line::Complete) => activity.saw_line(),
            Ok(Line::TooLong) => {
                activity.saw_line();
                garbage.drop_one(&format_args!(
                    "[MIDDLEWARE] command[{command:?}] sent a line longer than {MAX_LINE} bytes; it is skipped"
                ));
                continue;
            }
            Err(e) => {
                tracing::error!("[MIDDLEWARE] command[{command:?}] read error: {e}");
                break;
            }
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let decoded = if text.is_empty() {
            Err("empty line".to_string())
        } else {
            decode_hex(text)
        };
        match decoded {
            Ok(bytes) => {
                if echo
                    .send(Echo::Message(Message::from_record(bytes)))
                    .is_err()
                {
                    // Nobody reads the echo any more: gor is ending.
                    break;
                }
            }
            Err(e) => garbage.drop_one(&format_args!(
                "[MIDDLEWARE] command[{command:?}] failed to decode err: {e:?}; the line is skipped"
            )),
        }
    }
    let fatal = verdict.recv().unwrap_or(None);
    let _ = echo.send(Echo::Ended(fatal));
}

#[cfg(test)]
mod tests;
