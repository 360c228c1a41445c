//! Counters: every message gor drops is counted under a name that says why,
//! and reported (`--stats` periodically, and a summary at exit whenever
//! something was dropped).
//!
//! Counters are registered once by name and then bumped lock-free from any
//! thread; registering the same name twice returns the same counter.
//!
//! For `/metrics`, a counter may also belong to a [`Family`] (a Prometheus
//! metric name with its help text) under labels. Gauges are read only when
//! scraped (a closure over the queue they measure), and histograms are one
//! atomic per bucket, so that neither adds a lock to any hot path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A Prometheus metric: its full name (`gor_..._total` for counters, the
/// unit in the name) and the text of its `# HELP` line.
#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
}

/// Messages each input handed to the copy loops.
pub const MESSAGES_READ: Family = Family {
    name: "gor_messages_read_total",
    help: "Messages read from each input (requests, responses, replayed responses).",
};
/// Messages the copy loops handed to each output.
pub const MESSAGES_WRITTEN: Family = Family {
    name: "gor_messages_written_total",
    help: "Messages handed to each output (what its own queue then drops is in gor_dropped_total).",
};
/// Packets the kernel saw for each captured interface.
pub const CAPTURE_PACKETS: Family = Family {
    name: "gor_capture_packets_total",
    help: "Packets the kernel received for the capture on each interface (pcap or PACKET_STATISTICS), dropped ones included.",
};
/// Packets the kernel dropped because gor read too slowly.
pub const CAPTURE_KERNEL_DROPS: Family = Family {
    name: "gor_capture_kernel_drops_total",
    help: "Packets the kernel dropped on each interface because the capture buffer was full (raise --input-raw-buffer-size).",
};
/// Packets the interface (driver) dropped before the kernel saw them.
pub const CAPTURE_INTERFACE_DROPS: Family = Family {
    name: "gor_capture_interface_drops_total",
    help: "Packets the network interface or its driver dropped, as libpcap reports them.",
};
/// Messages waiting in each output's queue.
pub const QUEUE_MESSAGES: Family = Family {
    name: "gor_queue_messages",
    help: "Messages waiting in each queue when scraped.",
};
/// Bytes waiting in each output's queue.
pub const QUEUE_BYTES: Family = Family {
    name: "gor_queue_bytes",
    help: "Bytes waiting in each queue when scraped.",
};
/// Time from sending a replayed request to its response.
pub const REPLAY_LATENCY: Family = Family {
    name: "gor_replay_latency_seconds",
    help: "Time from sending a replayed request to receiving its whole response.",
};

/// A counter's place in `/metrics`: its family and labels.
#[derive(Debug)]
pub struct Series {
    pub family: &'static Family,
    pub labels: Vec<(&'static str, String)>,
}

impl Series {
    fn new(family: &'static Family, labels: &[(&'static str, &str)]) -> Arc<Series> {
        Arc::new(Series {
            family,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        })
    }
}

/// One named counter. Cheap to clone; all clones share the value.
#[derive(Clone, Debug)]
pub struct Counter {
    name: Arc<str>,
    value: Arc<AtomicU64>,
    is_drop: bool,
    warned: Arc<AtomicBool>,
    series: Option<Arc<Series>>,
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

/// Bucket upper bounds of [`replay_latency`], in seconds.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A distribution of durations: one atomic per bucket (not cumulative; the
/// running sums are made when scraped), no lock.
#[derive(Clone, Debug)]
pub struct Histogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    bounds: &'static [f64],
    /// Bounds in nanoseconds, to compare without floating point.
    bounds_ns: Vec<u64>,
    /// One more than `bounds`: the last is `+Inf`.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ns: AtomicU64,
    series: Arc<Series>,
}

impl Histogram {
    pub fn observe(&self, d: std::time::Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let h = &self.inner;
        let i = h.bounds_ns.partition_point(|&b| b < ns);
        h.buckets[i].fetch_add(1, Ordering::Relaxed);
        h.sum_ns.fetch_add(ns, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a gauge reads when scraped; `None` once the thing it measures is
/// gone (the gauge is then left out).
type GaugeRead = Box<dyn Fn() -> Option<u64> + Send + Sync>;

struct Gauge {
    series: Arc<Series>,
    read: GaugeRead,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<String, Counter>,
    gauges: BTreeMap<String, Gauge>,
    histograms: BTreeMap<String, Histogram>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn register(name: &str, is_drop: bool, series: Option<Arc<Series>>) -> Counter {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    reg.counters
        .entry(name.to_string())
        .or_insert_with(|| Counter {
            name: name.into(),
            value: Arc::new(AtomicU64::new(0)),
            is_drop,
            warned: Arc::new(AtomicBool::new(false)),
            series,
        })
        .clone()
}

/// A counter of things that happened (messages read, bytes written).
pub fn counter(name: &str) -> Counter {
    register(name, false, None)
}

/// A counter of things lost or skipped, with the reason in its name
/// (`input_file.corrupt_records`). Non-zero drop counters are reported at exit.
pub fn drop_counter(name: &str) -> Counter {
    register(name, true, None)
}

/// A counter that `/metrics` shows as one series of `family`
/// (`gor_messages_read_total{input="input_file(a.gor)"}`); `name` is what
/// `--stats` and `/debug/vars` call it.
pub fn series_counter(
    name: &str,
    family: &'static Family,
    labels: &[(&'static str, &str)],
) -> Counter {
    register(name, false, Some(Series::new(family, labels)))
}

/// A gauge read from `read` at each scrape (a queue's length); registering
/// the same name again replaces the reader.
pub fn gauge(
    name: &str,
    family: &'static Family,
    labels: &[(&'static str, &str)],
    read: impl Fn() -> Option<u64> + Send + Sync + 'static,
) {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    reg.gauges.insert(
        name.to_string(),
        Gauge {
            series: Series::new(family, labels),
            read: Box::new(read),
        },
    );
}

/// The replay latency histogram of one target (shared by every output with
/// the same `target`).
pub fn replay_latency(target: &str) -> Histogram {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    reg.histograms
        .entry(format!("replay_latency({target})"))
        .or_insert_with(|| Histogram {
            inner: Arc::new(HistogramInner {
                bounds: LATENCY_BOUNDS,
                bounds_ns: LATENCY_BOUNDS.iter().map(|s| (s * 1e9) as u64).collect(),
                buckets: (0..=LATENCY_BOUNDS.len())
                    .map(|_| AtomicU64::new(0))
                    .collect(),
                count: AtomicU64::new(0),
                sum_ns: AtomicU64::new(0),
                series: Series::new(&REPLAY_LATENCY, &[("target", target)]),
            }),
        })
        .clone()
}

/// What `/metrics` shows of one registered item.
pub enum Reading {
    /// A counter; `series` is `None` for those known by name only.
    Counter {
        name: String,
        value: u64,
        is_drop: bool,
        series: Option<Arc<Series>>,
    },
    Gauge {
        series: Arc<Series>,
        value: u64,
    },
    Histogram {
        series: Arc<Series>,
        /// (upper bound in seconds, cumulative count), `+Inf` last.
        buckets: Vec<(f64, u64)>,
        count: u64,
        sum_seconds: f64,
    },
}

/// Every counter, gauge and histogram as it is now.
pub fn readings() -> Vec<Reading> {
    let reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<Reading> = reg
        .counters
        .values()
        .map(|c| Reading::Counter {
            name: c.name.to_string(),
            value: c.get(),
            is_drop: c.is_drop,
            series: c.series.clone(),
        })
        .collect();
    out.extend(reg.gauges.values().filter_map(|g| {
        Some(Reading::Gauge {
            series: g.series.clone(),
            value: (g.read)()?,
        })
    }));
    out.extend(reg.histograms.values().map(|h| {
        let h = &h.inner;
        let mut running = 0;
        let buckets = h
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&h.buckets)
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        Reading::Histogram {
            series: h.series.clone(),
            buckets,
            // The buckets' total, so that `+Inf` and `_count` agree even
            // while observations land during the scrape.
            count: running,
            sum_seconds: h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }));
    out
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
    let line = snapshot()
        .into_iter()
        .filter(|(_, v, is_drop)| *v > 0 && (!only_drops || *is_drop))
        .map(|(n, v, _)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    crate::redact::text(&line).into_owned()
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

    fn histogram_of(target: &str) -> (Vec<(f64, u64)>, u64, f64) {
        readings()
            .into_iter()
            .find_map(|r| match r {
                Reading::Histogram {
                    series,
                    buckets,
                    count,
                    sum_seconds,
                } if series.labels[0].1 == target => Some((buckets, count, sum_seconds)),
                _ => None,
            })
            .expect("the histogram is registered")
    }

    #[test]
    fn latency_lands_in_the_first_bucket_at_or_above_it() {
        let h = replay_latency("test-buckets");
        h.observe(std::time::Duration::from_micros(500));
        h.observe(std::time::Duration::from_millis(1));
        h.observe(std::time::Duration::from_millis(30));
        h.observe(std::time::Duration::from_secs(60));
        let (buckets, count, sum) = histogram_of("test-buckets");
        assert_eq!(count, 4);
        assert_eq!(
            buckets[0],
            (0.001, 2),
            "0.5 ms and exactly 1 ms are <= 0.001"
        );
        let le_50ms = buckets.iter().find(|(b, _)| *b == 0.05).unwrap().1;
        assert_eq!(le_50ms, 3);
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 4));
        assert!((sum - 60.0315).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn a_gauge_is_read_when_scraped_and_left_out_once_gone() {
        let depth = Arc::new(AtomicU64::new(7));
        let weak = Arc::downgrade(&depth);
        gauge(
            "test.gauge",
            &QUEUE_MESSAGES,
            &[("queue", "test")],
            move || weak.upgrade().map(|d| d.load(Ordering::Relaxed)),
        );
        let read = || {
            readings().into_iter().find_map(|r| match r {
                Reading::Gauge { series, value } if series.labels[0].1 == "test" => Some(value),
                _ => None,
            })
        };
        assert_eq!(read(), Some(7));
        depth.store(3, Ordering::Relaxed);
        assert_eq!(read(), Some(3));
        drop(depth);
        assert_eq!(read(), None);
    }
}
