//! `--output-stdout`: every message as a file record on stdout,
//! byte-identical to what `--output-file` writes.

use crate::message::Message;
use crate::plugin::{Output, Result};
use std::io::{BufWriter, Stdout, Write};
use std::sync::Mutex;

pub struct StdoutOutput {
    out: Mutex<BufWriter<Stdout>>,
}

impl StdoutOutput {
    pub fn new() -> Self {
        StdoutOutput {
            out: Mutex::new(BufWriter::with_capacity(64 * 1024, std::io::stdout())),
        }
    }
}

impl Default for StdoutOutput {
    fn default() -> Self {
        Self::new()
    }
}

impl Output for StdoutOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        msg.write_record(&mut *out)?;
        // A person watches stdout: show each record as it comes.
        out.flush()?;
        Ok(())
    }

    fn close(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }

    fn describe(&self) -> String {
        "output_stdout".into()
    }
}
