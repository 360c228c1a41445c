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
