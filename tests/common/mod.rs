//! What every black-box test shares: one runner for the built `gor` binary
//! (a deadline on every wait, no child outliving its test), one parser and
//! one writer of `.gor` records, waiting on conditions, and the root check of
//! the live-capture tests. The test HTTP server is in [`server`], self-signed
//! certificates in [`tls`].
//!
//! The other files here add what one family of tests needs (`capture.rs`,
//! `files.rs`, `replay.rs`, `shaping.rs`); a test file includes them with
//! `#[path = "common/NAME.rs"] mod NAME_common;` next to `mod common;`.
#![allow(dead_code)]

pub mod server;
pub mod tls;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const GOR: &str = env!("CARGO_BIN_EXE_gor");

/// The record separator of `.gor` files and `--output-stdout`: a newline,
/// the three monkeys (U+1F435 U+1F648 U+1F649) and a newline.
pub const SEP: &[u8] = &[
    0x0A, 0xF0, 0x9F, 0x90, 0xB5, 0xF0, 0x9F, 0x99, 0x88, 0xF0, 0x9F, 0x99, 0x89, 0x0A,
];

/// What a finished gor run left behind.
pub struct Finished {
    pub status: ExitStatus,
    /// The exit code (None when killed by a signal).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.code
    }
}

/// Polls `ready` every 10 ms until it holds; panics with `what` (and the
/// time waited) if `deadline` passes first.
pub fn wait_until(deadline: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < deadline, "waited {deadline:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running gor whose output is read as it comes (so a big output never
/// blocks it, and a test can wait for a line); killed when dropped, so a
/// failing test leaves nothing behind.
pub struct Running {
    child: Mutex<Option<Child>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

/// Copies everything `pipe` yields into `sink`, on a thread.
fn drain(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// A `gor file-server` serving a directory of its own that holds
/// `page.txt` ("the page").
pub struct FileServer {
    pub gor: Running,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl FileServer {
    pub fn start() -> FileServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("page.txt"), "the page").unwrap();
        let gor = Running::start_in(&["file-server", "127.0.0.1:0"], Some(dir.path()));
        let port = gor.port_after(
            &format!("{} on ", dir.path().display()),
            Duration::from_secs(30),
        );
        FileServer { gor, port, dir }
    }
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        Self::start_in(args, None)
    }

    /// Starts gor in directory `dir` (the current one when None).
    pub fn start_in(args: &[&str], dir: Option<&Path>) -> Running {
        let mut cmd = Command::new(GOR);
        cmd.args(args);
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        Self::spawn(cmd)
    }

    /// Starts `cmd`: gor itself, or a wrapper that execs it (`ip netns
    /// exec`, `setpriv`), so that the child is gor.
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting gor");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().expect("stdout"), stdout.clone()),
            drain(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        Running {
            child: Mutex::new(Some(child)),
            stdout,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().as_ref().map_or(0, |c| c.id())
    }

    /// Sends a signal (e.g. libc::SIGINT) to gor.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid() as i32;
        if pid == 0 {
            return;
        }
        // SAFETY: kill(2) on the pid of our own child.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// What gor printed on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// What gor printed on stdout so far.
    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    /// Polls `ready` until it holds; panics (with gor's stderr) if gor exits
    /// first or `deadline` passes.
    pub fn wait_until(&self, deadline: Duration, what: &str, mut ready: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                // One last look: the output may have come with the exit.
                std::thread::sleep(Duration::from_millis(50));
                if ready(self) {
                    return;
                }
                panic!("gor exited ({status}) before {what}:\n{}", self.stderr());
            }
            assert!(
                start.elapsed() < deadline,
                "waited {deadline:?} for {what}; gor's stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until stderr contains `text`. (`&mut self` only because the
    /// capture tests have always called it on a `let mut` runner.)
    pub fn wait_for(&mut self, text: &str, deadline: Duration) {
        self.wait_for_line(text, deadline);
    }

    /// Waits for the stderr line that contains `text` and returns it.
    pub fn wait_for_line(&self, text: &str, deadline: Duration) -> String {
        self.wait_until(deadline, &format!("'{text}' on stderr"), |g| {
            g.stderr().contains(text)
        });
        let err = self.stderr();
        err.lines()
            .find(|l| l.contains(text))
            .unwrap_or_default()
            .to_string()
    }

    /// The port of the address gor logged as `<text> HOST:PORT` (a listener
    /// asked for port 0 says which port it got).
    pub fn port_after(&self, text: &str, deadline: Duration) -> u16 {
        let line = self.wait_for_line(text, deadline);
        let addr = line[line.find(text).unwrap() + text.len()..]
            .split_whitespace()
            .next()
            .unwrap_or_default();
        addr.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    /// Waits until gor printed at least `n` records on stdout.
    pub fn wait_records(&self, n: usize, deadline: Duration) {
        self.wait_until(deadline, &format!("{n} records on stdout"), |g| {
            records(&g.stdout_so_far()).len() >= n
        });
    }

    /// Waits for gor to exit on its own; kills it and panics after `deadline`.
    pub fn wait(self, deadline: Duration) -> Finished {
        self.finish(deadline, false)
    }

    /// Asks gor to stop (SIGINT) when `interrupt`, then waits for it to exit;
    /// kills it and panics after `deadline`.
    pub fn finish(mut self, deadline: Duration, interrupt: bool) -> Finished {
        if interrupt {
            self.signal(libc::SIGINT);
        }
        let mut child = self.child.lock().unwrap().take().expect("child");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for gor") {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "gor did not exit within {deadline:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Finished {
            status,
            code: status.code(),
            stdout: self.stdout_so_far(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs gor to completion with a deadline.
pub fn run(args: &[&str], deadline: Duration) -> Finished {
    Running::start(args).wait(deadline)
}

/// Runs another program (`make`, `man`, `systemd-analyze`, …) in `dir`, with
/// `envs` added, to completion with a deadline.
pub fn run_program(
    program: &str,
    args: &[&str],
    dir: &Path,
    envs: &[(&str, &str)],
    deadline: Duration,
) -> Finished {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).envs(envs.iter().copied());
    Running::spawn(cmd).wait(deadline)
}

/// Fails, naming the Debian package that brings it, when `tool` is not on
/// the PATH: a test that needs a tool scripts/setup.sh installs never skips.
pub fn need_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    assert!(
        found,
        "{tool} is missing: install Debian's {package} (bash scripts/setup.sh does)"
    );
}

/// The records of a gor file or stdout stream, split at the separator, each
/// as (header line without newline, payload).
pub fn records(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(pos) = rest.windows(SEP.len()).position(|w| w == SEP) {
        let record = &rest[..pos];
        let nl = record
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(record.len());
        out.push((
            String::from_utf8_lossy(&record[..nl]).into_owned(),
            record.get(nl + 1..).unwrap_or_default().to_vec(),
        ));
        rest = &rest[pos + SEP.len()..];
    }
    out
}

/// One record as gor writes it: `header\n` + payload + separator.
pub fn record(header: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(header.len() + payload.len() + SEP.len() + 1);
    v.extend_from_slice(header.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(payload);
    v.extend_from_slice(SEP);
    v
}

/// A counter value from gor's exit summary (`name=value`), 0 when absent.
pub fn counted(stderr: &str, name: &str) -> u64 {
    stderr
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .next_back()
        .unwrap_or(0)
}

/// Whether this process may capture live traffic (it runs as root). When
/// not, prints one line saying that `test` is skipped and why, so a run
/// without root never passes silently; CI runs as root, where every live
/// capture test runs.
pub fn can_capture(test: &str) -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        // Written to the stderr handle, not with eprintln!, which the test
        // harness captures and shows only for failing tests.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: live capture needs root (CI runs the tests as root)"
        );
    }
    root
}

/// The body of `GET path` from a gor HTTP endpoint on 127.0.0.1 (the
/// `--http-pprof` server answers once and closes), with the head.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// The peak resident memory of a running process (VmHWM), in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("VmHWM:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}
