//! Taking work that comes in bursts without a wake-up per burst.
//!
//! A thread blocked on an empty source (a capture ring, a queue) must be
//! woken when something arrives: a system call and a context switch, which
//! on a virtual machine cost more than handling what arrived. Under load a
//! thread that has just been busy therefore sleeps a moment ([`LINGER`]) and
//! looks again instead of blocking; only a linger that found nothing makes
//! it block, so an idle gor does not spin. [`Drain`] is that cycle;
//! [`Lingering`] applies it to a queue, the capture engines to their rings.

use crossbeam_channel::{Receiver, RecvError, TryRecvError};
use std::time::Duration;

/// How long a receiver that was just busy waits before looking again.
pub const LINGER: Duration = Duration::from_millis(2);

/// What a thread does each time it finds its source empty.
///
/// A capture ring wakes a poller for every block the kernel fills,
/// thousands of times a second under load (a quarter of the capture
/// thread's CPU with large POST bodies). So after a busy moment the thread
/// hands on what it has, then sleeps [`LINGER`] while more gathers, and
/// blocks only once a linger found nothing new. A ring must hold a linger of
/// traffic: 32 MiB holds 25 ms at 10 Gbit/s.
#[derive(Debug, Default)]
pub struct Drain {
    state: DrainState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum DrainState {
    /// Something came since the source was last found empty.
    Busy,
    /// What came was handed on; the next empty source lingers.
    Drained,
    /// A linger found nothing: the next empty source blocks.
    #[default]
    Quiet,
}

/// What to do about an empty ring, from [`Drain::on_empty`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEmpty {
    /// Hand on what was taken so far (a capture says `Idle`), then look
    /// again.
    HandOn,
    /// The thread has slept a linger: look again.
    Lingered,
    /// Nothing came for a while: block until something comes.
    Poll,
}

impl Drain {
    /// Something was taken from the source.
    pub fn took(&mut self) {
        self.state = DrainState::Busy;
    }

    /// The source is empty: hand on, linger (done here) or block.
    pub fn on_empty(&mut self) -> OnEmpty {
        match self.state {
            DrainState::Busy => {
                self.state = DrainState::Drained;
                OnEmpty::HandOn
            }
            DrainState::Drained => {
                self.state = DrainState::Quiet;
                std::thread::sleep(LINGER);
                OnEmpty::Lingered
            }
            DrainState::Quiet => OnEmpty::Poll,
        }
    }
}

/// A queue receiver that takes bursts as they come (see the module).
pub struct Lingering<T> {
    rx: Receiver<T>,
    drain: Drain,
}

impl<T> Lingering<T> {
    pub fn new(rx: Receiver<T>) -> Self {
        Lingering {
            rx,
            drain: Drain::default(),
        }
    }

    /// The next item: at once if one is queued, after a linger if the
    /// receiver was busy, else whenever one comes. Err once every sender is
    /// gone and the queue is empty.
    pub fn recv(&mut self) -> Result<T, RecvError> {
        loop {
            match self.rx.try_recv() {
                Ok(item) => {
                    self.drain.took();
                    return Ok(item);
                }
                Err(TryRecvError::Disconnected) => return Err(RecvError),
                Err(TryRecvError::Empty) => {
                    if self.drain.on_empty() == OnEmpty::Poll {
                        let item = self.rx.recv()?;
                        self.drain.took();
                        return Ok(item);
                    }
                }
            }
        }
    }

    /// The next item if one is queued now.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_busy_source_hands_on_then_lingers_then_blocks() {
        let mut d = Drain::default();
        assert_eq!(d.on_empty(), OnEmpty::Poll, "nothing came yet: block");
        d.took();
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        let t = Instant::now();
        assert_eq!(d.on_empty(), OnEmpty::Lingered);
        assert!(t.elapsed() >= LINGER);
        // Something during the linger: the cycle starts again.
        d.took();
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        assert_eq!(d.on_empty(), OnEmpty::Lingered);
        assert_eq!(d.on_empty(), OnEmpty::Poll, "a linger found nothing");
        assert_eq!(d.on_empty(), OnEmpty::Poll);
    }

    #[test]
    fn a_busy_receiver_lingers_then_blocks_until_the_next_item() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut q = Lingering::new(rx);
        tx.send(1).unwrap();
        assert_eq!(q.recv(), Ok(1));
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(2).unwrap();
        });
        let t = Instant::now();
        assert_eq!(q.recv(), Ok(2));
        assert!(t.elapsed() >= Duration::from_millis(50));
        sender.join().unwrap();
        assert_eq!(q.recv(), Err(RecvError), "all senders gone");
    }

    #[test]
    fn items_queued_during_the_linger_are_received_in_order() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut q = Lingering::new(rx);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        let got: Vec<i32> = (0..3).map(|_| q.recv().unwrap()).collect();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(q.try_recv(), None);
    }
}
