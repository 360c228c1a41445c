//! Receiving from a queue that is fed in bursts, without a wake-up per
//! burst.
//!
//! A thread blocked on an empty queue must be woken by the sender: a system
//! call for the sender and a context switch for the receiver, which on a
//! virtual machine costs more than handling a batch of small messages.
//! Under load the capture hands on work a few hundred times a second, so a
//! receiver that has just been busy sleeps a moment and looks again instead
//! of blocking; the sender then finds nobody to wake. Only a linger that
//! found nothing makes the receiver block, so an idle gor does not spin.

use crossbeam_channel::{Receiver, RecvError, TryRecvError};
use std::time::Duration;

/// How long a receiver that was just busy waits before looking again.
pub const LINGER: Duration = Duration::from_millis(2);

pub struct Lingering<T> {
    rx: Receiver<T>,
    busy: bool,
}

impl<T> Lingering<T> {
    pub fn new(rx: Receiver<T>) -> Self {
        Lingering { rx, busy: false }
    }

    /// The next item: at once if one is queued, after a linger if the
    /// receiver was busy, else whenever one comes. Err once every sender is
    /// gone and the queue is empty.
    pub fn recv(&mut self) -> Result<T, RecvError> {
        loop {
            match self.rx.try_recv() {
                Ok(item) => {
                    self.busy = true;
                    return Ok(item);
                }
                Err(TryRecvError::Disconnected) => return Err(RecvError),
                Err(TryRecvError::Empty) if self.busy => {
                    self.busy = false;
                    std::thread::sleep(LINGER);
                }
                Err(TryRecvError::Empty) => {
                    let item = self.rx.recv()?;
                    self.busy = true;
                    return Ok(item);
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
