//! Helpers shared by the black-box tests: run the built `gor` binary with a
//! deadline, and make sure no child outlives its test.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const GOR: &str = env!("CARGO_BIN_EXE_gor");

/// What a finished gor run left behind.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// A running gor, killed when dropped (so a failing test leaves nothing behind).
pub struct Running {
    child: Option<Child>,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        Self::start_in(args, None)
    }

    pub fn start_in(args: &[&str], dir: Option<&Path>) -> Running {
        let mut cmd = Command::new(GOR);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        Running {
            child: Some(cmd.spawn().expect("starting gor")),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends a signal (e.g. libc::SIGINT) to gor.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of our own child.
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// Waits for gor to exit on its own; panics after `deadline`.
    pub fn wait(mut self, deadline: Duration) -> Finished {
        let mut child = self.child.take().expect("child");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let out_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout.read_to_end(&mut v);
            v
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for gor") {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let err = err_reader.join().unwrap_or_default();
                panic!("gor did not exit within {deadline:?}; stderr:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Finished {
            status,
            stdout: out_reader.join().unwrap_or_default(),
            stderr: err_reader.join().unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs gor to completion with a deadline.
pub fn run(args: &[&str], deadline: Duration) -> Finished {
    Running::start(args).wait(deadline)
}

/// The records of a gor file or stdout stream, split at the separator, each
/// as (header line without newline, payload).
pub fn records(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    const SEP: &[u8] = "\n🐵🙈🙉\n".as_bytes();
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
