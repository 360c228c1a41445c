//! When to emit each record of a recording (a file, a Kafka topic): the gap
//! between two records' timestamps, divided by the speed factor, capped by
//! `--input-file-max-wait` for files.
//!
//! Waits are scheduled against absolute monotonic deadlines: each record's
//! deadline is the previous deadline plus its gap, so time spent reading,
//! writing or being descheduled is taken out of the next wait instead of
//! adding up (GoReplay sleeps each gap in full and drifts).

use crate::plugin::Shutdown;
use std::time::{Duration, Instant};

/// What to do before emitting a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first record of a round: emit at once.
    First,
    /// Wait this long after the previous record's deadline.
    Wait(Duration),
    /// Its timestamp is older than the previous record's: emit at once,
    /// without moving the clock (GoReplay's out-of-order case).
    OutOfOrder,
}

pub struct Pacer {
    /// Replay speed: 2.0 is twice as fast. 0, negative or not finite: no waits.
    speed: f64,
    max_wait: Option<Duration>,
    last_ts: Option<i64>,
    deadline: Option<Instant>,
    /// The clock as last read: a deadline before it is already due, without
    /// reading the clock again (replay at full speed costs nothing).
    last_now: Option<Instant>,
    /// A stop interrupts a wait (a long gap between records must not hold
    /// gor up).
    shutdown: Shutdown,
}

impl Pacer {
    pub fn new(speed: f64, max_wait: Duration) -> Self {
        Pacer {
            speed,
            max_wait: (!max_wait.is_zero()).then_some(max_wait),
            last_ts: None,
            deadline: None,
            last_now: None,
            shutdown: Shutdown::new(),
        }
    }

    /// Waits end early when `shutdown` stops.
    pub fn stopping_on(mut self, shutdown: &Shutdown) -> Self {
        self.shutdown = shutdown.clone();
        self
    }

    /// Starts a new round (`--input-file-loop`): the next record is first.
    pub fn restart(&mut self) {
        self.last_ts = None;
        self.deadline = None;
    }

    /// The gap to keep before a record with timestamp `ts`; advances the
    /// clock as GoReplay does (not on out-of-order records).
    pub fn plan(&mut self, ts: i64) -> Step {
        let Some(last) = self.last_ts else {
            self.last_ts = Some(ts);
            return Step::First;
        };
        let diff = i128::from(ts) - i128::from(last);
        if diff < 0 {
            return Step::OutOfOrder;
        }
        self.last_ts = Some(ts);
        Step::Wait(self.scale(diff))
    }

    fn scale(&self, diff_ns: i128) -> Duration {
        // The same value either way; from i64 it is one instruction, from
        // i128 a library call (gaps between records always fit an i64).
        let diff = match i64::try_from(diff_ns) {
            Ok(d) => d as f64,
            Err(_) => diff_ns as f64,
        };
        let ns = if self.speed == 1.0 {
            diff
        } else if self.speed.is_finite() && self.speed > 0.0 {
            diff / self.speed
        } else {
            0.0
        };
        // `as` saturates; u64 nanoseconds reach 584 years.
        let wait = Duration::from_nanos(ns as u64);
        match self.max_wait {
            Some(cap) if wait > cap => cap,
            _ => wait,
        }
    }

    /// Waits until the record planned as `step` is due: true then, false
    /// when the stop came first.
    pub fn wait(&mut self, step: Step) -> bool {
        match step {
            Step::First => {
                let now = Instant::now();
                self.deadline = Some(now);
                self.last_now = Some(now);
            }
            Step::OutOfOrder => {}
            Step::Wait(gap) => {
                if gap.is_zero() {
                    return true;
                }
                let deadline = match self.deadline {
                    Some(d) => d + gap,
                    None => Instant::now() + gap,
                };
                self.deadline = Some(deadline);
                if self.last_now.is_some_and(|seen| deadline <= seen) {
                    return true;
                }
                let now = Instant::now();
                self.last_now = Some(now);
                if deadline > now && self.shutdown.wait_timeout(deadline - now) {
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    #[test]
    fn gaps_follow_the_timestamps() {
        let mut p = Pacer::new(1.0, Duration::ZERO);
        assert_eq!(p.plan(100 * MS), Step::First);
        assert_eq!(p.plan(150 * MS), Step::Wait(Duration::from_millis(50)));
        assert_eq!(p.plan(250 * MS), Step::Wait(Duration::from_millis(100)));
    }

    #[test]
    fn double_speed_halves_and_half_speed_doubles_the_gaps() {
        let mut fast = Pacer::new(2.0, Duration::ZERO);
        fast.plan(0);
        assert_eq!(fast.plan(100 * MS), Step::Wait(Duration::from_millis(50)));
        let mut slow = Pacer::new(0.5, Duration::ZERO);
        slow.plan(0);
        assert_eq!(slow.plan(100 * MS), Step::Wait(Duration::from_millis(200)));
    }

    #[test]
    fn zero_or_huge_speed_means_no_waiting() {
        for speed in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            let mut p = Pacer::new(speed, Duration::ZERO);
            p.plan(0);
            assert_eq!(p.plan(10_000 * MS), Step::Wait(Duration::ZERO), "{speed}");
        }
        let mut p = Pacer::new(1e12, Duration::ZERO);
        p.plan(0);
        assert_eq!(p.plan(1000 * MS), Step::Wait(Duration::from_nanos(0)));
    }

    #[test]
    fn max_wait_caps_each_gap() {
        let mut p = Pacer::new(1.0, Duration::from_millis(30));
        p.plan(0);
        assert_eq!(p.plan(1000 * MS), Step::Wait(Duration::from_millis(30)));
        assert_eq!(p.plan(1010 * MS), Step::Wait(Duration::from_millis(10)));
    }

    #[test]
    fn older_record_is_out_of_order_and_keeps_the_clock() {
        let mut p = Pacer::new(1.0, Duration::ZERO);
        p.plan(100 * MS);
        assert_eq!(p.plan(50 * MS), Step::OutOfOrder);
        assert_eq!(p.plan(120 * MS), Step::Wait(Duration::from_millis(20)));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut p = Pacer::new(1.0, Duration::from_secs(1));
        p.plan(i64::MIN);
        assert_eq!(p.plan(i64::MAX), Step::Wait(Duration::from_secs(1)));
    }

    #[test]
    fn a_stop_interrupts_a_long_wait() {
        let shutdown = Shutdown::new();
        let mut p = Pacer::new(1.0, Duration::ZERO).stopping_on(&shutdown);
        let step = p.plan(0);
        assert!(p.wait(step));
        let step = p.plan(60_000 * MS);
        let s = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s.stop("test");
        });
        let before = Instant::now();
        assert!(!p.wait(step), "the stop came first");
        assert!(before.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn restart_makes_the_next_record_first() {
        let mut p = Pacer::new(1.0, Duration::ZERO);
        p.plan(500 * MS);
        p.restart();
        assert_eq!(p.plan(0), Step::First);
    }

    #[test]
    fn deadlines_are_absolute_so_late_work_shortens_the_next_wait() {
        let mut p = Pacer::new(1.0, Duration::ZERO);
        let start = Instant::now();
        let step = p.plan(0);
        p.wait(step);
        // Work that takes longer than the gap: the next record is already due.
        std::thread::sleep(Duration::from_millis(60));
        let step = p.plan(50 * MS);
        let before = Instant::now();
        p.wait(step);
        assert!(before.elapsed() < Duration::from_millis(20));
        let step = p.plan(150 * MS);
        p.wait(step);
        let total = start.elapsed();
        assert!(total >= Duration::from_millis(150), "{total:?}");
        assert!(total < Duration::from_millis(250), "{total:?}");
    }
}
