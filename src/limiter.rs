//! The `|N` and `|N%` suffixes on a plugin's address.
//!
//! `|N` passes at most N messages per one-second window (the window restarts
//! when more than a second has passed since it began, as in GoReplay: not a
//! token bucket, bursts at the window's start). `|N%` passes each message
//! with probability N/100. On file and Kafka inputs `|N%` is a replay speed
//! instead, which the registry hands to those inputs directly.

use crate::message::Message;
use crate::plugin::{Input, Output, Result};
use crate::settings::{UsageError, values};
use crate::stats::{self, Counter};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most N messages per second.
    PerSecond(u64),
    /// Each message passes with probability N% (100 or more passes all).
    Percent(u64),
}

impl Limit {
    /// Parses the text after `|`. GoReplay turns garbage into 0 (drop
    /// everything, silently); we refuse it at start-up instead.
    pub fn parse(flag: &str, text: &str) -> Result<Limit> {
        match text.strip_suffix('%') {
            Some(n) => Ok(Limit::Percent(Self::percent_value(flag, n)?)),
            None => text.trim().parse().map(Limit::PerSecond).map_err(|_| {
                UsageError::invalid_value(
                    flag,
                    text,
                    "a limit is N (messages per second) or N% (a share)",
                )
                .into()
            }),
        }
    }

    /// The N of `N%`.
    pub fn percent_value(flag: &str, n: &str) -> Result<u64> {
        values::parse_int(n.trim())
            .ok()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| {
                UsageError::invalid_value(
                    flag,
                    &format!("{n}%"),
                    "a percentage is a whole number followed by %",
                )
                .into()
            })
    }
}

/// The decision state of one limiter.
#[derive(Debug)]
pub struct Limiter {
    limit: Limit,
    window: Mutex<(Instant, u64)>,
}

impl Limiter {
    pub fn new(limit: Limit) -> Self {
        Limiter {
            limit,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Whether the next message may pass.
    pub fn allow(&self) -> bool {
        match self.limit {
            Limit::Percent(n) => n >= 100 || rand::random_range(0..100) < n,
            Limit::PerSecond(n) => {
                let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
                if w.0.elapsed() > Duration::from_secs(1) {
                    *w = (Instant::now(), 0);
                }
                if w.1 >= n {
                    false
                } else {
                    w.1 += 1;
                    true
                }
            }
        }
    }
}

/// An input thinned by a limit.
pub struct LimitedInput {
    inner: Box<dyn Input>,
    limiter: Limiter,
    limited: Counter,
}

impl LimitedInput {
    pub fn new(inner: Box<dyn Input>, limit: Limit) -> Self {
        let limited = stats::counter(&format!("{}.limited", inner.describe()));
        LimitedInput {
            inner,
            limiter: Limiter::new(limit),
            limited,
        }
    }
}

impl Input for LimitedInput {
    fn read(&mut self) -> Result<Option<Message>> {
        loop {
            match self.inner.read()? {
                None => return Ok(None),
                Some(m) if self.limiter.allow() => return Ok(Some(m)),
                Some(_) => self.limited.inc(),
            }
        }
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn close(&mut self) {
        self.inner.close()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// An output thinned by a limit.
pub struct LimitedOutput {
    inner: std::sync::Arc<dyn Output>,
    limiter: Limiter,
    limited: Counter,
}

impl LimitedOutput {
    pub fn new(inner: std::sync::Arc<dyn Output>, limit: Limit) -> Self {
        let limited = stats::counter(&format!("{}.limited", inner.describe()));
        LimitedOutput {
            inner,
            limiter: Limiter::new(limit),
            limited,
        }
    }

    fn pass(&self) -> bool {
        let ok = self.limiter.allow();
        if !ok {
            self.limited.inc();
        }
        ok
    }
}

impl Output for LimitedOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        if self.pass() {
            self.inner.write(msg)
        } else {
            Ok(())
        }
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        if self.pass() {
            self.inner.offer(msg)
        } else {
            Ok(())
        }
    }

    fn close(&self) {
        self.inner.close()
    }

    fn produces_responses(&self) -> bool {
        self.inner.produces_responses()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_second_limit_passes_exactly_n_of_a_burst() {
        let l = Limiter::new(Limit::PerSecond(10));
        assert_eq!((0..100).filter(|_| l.allow()).count(), 10);
    }

    #[test]
    fn zero_percent_passes_none_and_hundred_passes_all() {
        let none = Limiter::new(Limit::Percent(0));
        assert_eq!((0..1000).filter(|_| none.allow()).count(), 0);
        let all = Limiter::new(Limit::Percent(100));
        assert_eq!((0..1000).filter(|_| all.allow()).count(), 1000);
    }

    #[test]
    fn percent_limit_passes_about_that_share() {
        let l = Limiter::new(Limit::Percent(30));
        let passed = (0..10_000).filter(|_| l.allow()).count();
        assert!((2_500..3_500).contains(&passed), "{passed}");
    }

    #[test]
    fn limits_parse_and_garbage_is_refused() {
        assert_eq!(Limit::parse("x", "10").unwrap(), Limit::PerSecond(10));
        assert_eq!(Limit::parse("x", "50%").unwrap(), Limit::Percent(50));
        assert!(
            Limit::parse("x", "abc")
                .unwrap_err()
                .to_string()
                .contains("-x")
        );
        assert!(Limit::parse("x", "%5").is_err());
    }
}
