//! Taking work that comes in bursts without a wake-up per burst, and
//! without waking for nothing when it does not.
//!
//! A thread blocked on an empty source (a capture ring, a queue) must be
//! woken when something arrives: a system call and a context switch, which
//! on a virtual machine cost more than handling what arrived. Under heavy
//! load a thread that has just been busy therefore sleeps a moment
//! ([`LINGER`]) and looks again instead of blocking. At a modest rate the
//! same sleep is a wake-up for nothing (the next delivery is not there yet),
//! so a thread lingers only while what it found since it last waited was a
//! lot ([`Drain::new`] says how much); otherwise it blocks at once, and an
//! idle gor does not spin. [`Drain`] is that cycle; [`Lingering`] applies it
//! to a queue, the capture engines to their rings.

use crossbeam_channel::{Receiver, RecvError, TryRecvError};
use std::time::Duration;

/// How long a receiver that was just busy waits before looking again.
pub const LINGER: Duration = Duration::from_millis(2);

/// What a thread does each time it finds its source empty.
///
/// A capture ring wakes a poller for every block the kernel fills,
/// thousands of times a second under load (a quarter of the capture
/// thread's CPU with large POST bodies). So after a busy moment the thread
/// hands on what it has, then, if that moment brought a lot, sleeps
/// [`LINGER`] while more gathers; it blocks once a moment brought little
/// (at 2,000 requests a second a delivery is a few dozen KB, and a linger
/// after it would only find the ring still empty). A ring must hold a
/// linger of traffic: 32 MiB holds 25 ms at 10 Gbit/s.
#[derive(Debug)]
pub struct Drain {
    state: DrainState,
    /// Taken since the thread last waited (lingered or blocked).
    taken: usize,
    /// What counts as a lot (in the unit `took` is given).
    lots: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum DrainState {
    /// Something came since the source was last found empty.
    Busy,
    /// What came was handed on; the next empty source lingers or blocks.
    Drained,
    /// The thread waited and nothing came since: the next empty source
    /// blocks.
    #[default]
    Quiet,
}

/// What to do about an empty source, from [`Drain::on_empty`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEmpty {
    /// Hand on what was taken so far (a capture says `Idle`), then look
    /// again.
    HandOn,
    /// The thread has slept a linger: look again.
    Lingered,
    /// Nothing more is coming soon: block until something comes.
    Poll,
}

impl Drain {
    /// A drain that lingers after taking at least `lots` (items, bytes:
    /// whatever unit [`Drain::took`] is given) between two waits.
    pub fn new(lots: usize) -> Self {
        Drain {
            state: DrainState::Quiet,
            taken: 0,
            lots,
        }
    }

    /// `amount` was taken from the source.
    pub fn took(&mut self, amount: usize) {
        self.state = DrainState::Busy;
        self.taken = self.taken.saturating_add(amount);
    }

    /// The source is empty: hand on, linger (done here) or block.
    pub fn on_empty(&mut self) -> OnEmpty {
        match self.state {
            DrainState::Busy => {
                self.state = DrainState::Drained;
                OnEmpty::HandOn
            }
            DrainState::Drained if self.taken >= self.lots => {
                self.state = DrainState::Quiet;
                self.taken = 0;
                std::thread::sleep(LINGER);
                OnEmpty::Lingered
            }
            DrainState::Drained | DrainState::Quiet => {
                self.state = DrainState::Quiet;
                self.taken = 0;
                OnEmpty::Poll
            }
        }
    }
}

/// A queue receiver that takes bursts as they come (see the module).
pub struct Lingering<T> {
    rx: Receiver<T>,
    drain: Drain,
}

impl<T> Lingering<T> {
    /// Lingers after taking at least `lots` items between two waits.
    pub fn new(rx: Receiver<T>, lots: usize) -> Self {
        Lingering {
            rx,
            drain: Drain::new(lots),
        }
    }

    /// The next item: at once if one is queued, after a linger if the
    /// receiver was busy, else whenever one comes. Err once every sender is
    /// gone and the queue is empty.
    pub fn recv(&mut self) -> Result<T, RecvError> {
        loop {
            match self.rx.try_recv() {
                Ok(item) => {
                    self.drain.took(1);
                    return Ok(item);
                }
                Err(TryRecvError::Disconnected) => return Err(RecvError),
                Err(TryRecvError::Empty) => {
                    if self.drain.on_empty() == OnEmpty::Poll {
                        let item = self.rx.recv()?;
                        self.drain.took(1);
                        return Ok(item);
                    }
                }
            }
        }
    }

    /// The next item if one is queued now.
    pub fn try_recv(&mut self) -> Option<T> {
        let item = self.rx.try_recv().ok()?;
        self.drain.took(1);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_busy_source_hands_on_then_lingers_then_blocks() {
        let mut d = Drain::new(10);
        assert_eq!(d.on_empty(), OnEmpty::Poll, "nothing came yet: block");
        d.took(6);
        d.took(6);
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        let t = Instant::now();
        assert_eq!(d.on_empty(), OnEmpty::Lingered, "a lot came: linger");
        assert!(t.elapsed() >= LINGER);
        // A lot again during the linger: the cycle starts again.
        d.took(10);
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        assert_eq!(d.on_empty(), OnEmpty::Lingered);
        assert_eq!(d.on_empty(), OnEmpty::Poll, "a linger found nothing");
        assert_eq!(d.on_empty(), OnEmpty::Poll);
    }

    #[test]
    fn a_little_at_a_time_blocks_without_lingering() {
        let mut d = Drain::new(10);
        for _ in 0..3 {
            d.took(9);
            assert_eq!(d.on_empty(), OnEmpty::HandOn);
            let t = Instant::now();
            assert_eq!(d.on_empty(), OnEmpty::Poll, "little came: block at once");
            assert!(t.elapsed() < LINGER);
        }
        // What a linger brings counts anew: a little after a lot blocks.
        d.took(10);
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        assert_eq!(d.on_empty(), OnEmpty::Lingered);
        d.took(3);
        assert_eq!(d.on_empty(), OnEmpty::HandOn);
        assert_eq!(d.on_empty(), OnEmpty::Poll);
    }

    #[test]
    fn a_busy_receiver_lingers_then_blocks_until_the_next_item() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut q = Lingering::new(rx, 1);
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
        let mut q = Lingering::new(rx, 1);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        let got: Vec<i32> = (0..3).map(|_| q.recv().unwrap()).collect();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(q.try_recv(), None);
    }
}
