//! Counters: every message gor drops is counted under a name that says why,
//! and reported (`--stats` periodically, and a summary at exit whenever
//! something was dropped).
//!
//! Counters are registered once by name and then bumped lock-free from any
//! thread; registering the same name twice returns the same counter.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One named counter. Cheap to clone; all clones share the value.
#[derive(Clone, Debug)]
pub struct Counter {
    name: Arc<str>,
    value: Arc<AtomicU64>,
    is_drop: bool,
    warned: Arc<AtomicBool>,
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts one dropped or damaged item and logs `what` the first time this
    /// counter sees a drop (once per kind, so hostile input cannot flood the
    /// log); the exit summary reports the total.
    pub fn drop_one(&self, what: &dyn std::fmt::Display) {
        self.drop_many(1, what);
    }

    /// Counts `n` dropped items at once (none: nothing happens), logging
    /// `what` as [`Counter::drop_one`] does.
    pub fn drop_many(&self, n: u64, what: &dyn std::fmt::Display) {
        if n == 0 {
            return;
        }
        self.add(n);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "{what} (counted as {}; further ones are counted silently)",
                self.name
            );
        }
    }
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<String, Counter>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn register(name: &str, is_drop: bool) -> Counter {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    reg.counters
        .entry(name.to_string())
        .or_insert_with(|| Counter {
            name: name.into(),
            value: Arc::new(AtomicU64::new(0)),
            is_drop,
            warned: Arc::new(AtomicBool::new(false)),
        })
        .clone()
}

/// A counter of things that happened (messages read, bytes written).
pub fn counter(name: &str) -> Counter {
    register(name, false)
}

/// A counter of things lost or skipped, with the reason in its name
/// (`input_file.corrupt_records`). Non-zero drop counters are reported at exit.
pub fn drop_counter(name: &str) -> Counter {
    register(name, true)
}

/// Every counter and its value, sorted by name.
pub fn snapshot() -> Vec<(String, u64, bool)> {
    let reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    reg.counters
        .values()
        .map(|c| (c.name.to_string(), c.get(), c.is_drop))
        .collect()
}

/// One line of every non-zero counter: `name=value name=value ...`.
pub fn summary_line(only_drops: bool) -> String {
    snapshot()
        .into_iter()
        .filter(|(_, v, is_drop)| *v > 0 && (!only_drops || *is_drop))
        .map(|(n, v, _)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// With `--stats`: every `period`, one line of every non-zero counter,
/// until gor exits.
pub fn spawn_reporter(period: std::time::Duration, shutdown: &crate::plugin::Shutdown) {
    let me = shutdown.clone();
    let spawned = shutdown.spawn("stats", move || {
        while !me.wait_expired(period) {
            tracing::info!("stats: {}", summary_line(false));
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the --stats reporter: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_shares_one_value() {
        let a = counter("test.same_name");
        let b = counter("test.same_name");
        a.add(2);
        b.inc();
        assert_eq!(a.get(), 3);
    }

    #[test]
    fn summary_lists_only_drops_when_asked() {
        counter("test.summary_seen").inc();
        drop_counter("test.summary_dropped").drop_one(&"a test drop");
        let drops = summary_line(true);
        assert!(drops.contains("test.summary_dropped=1"), "{drops}");
        assert!(!drops.contains("test.summary_seen"));
        assert!(summary_line(false).contains("test.summary_seen=1"));
    }
}
