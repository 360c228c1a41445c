//! `--output-diff DIR` (a gor extension): for each request, compares the
//! response of the build under test (the candidate) with a baseline, and
//! says per endpoint and per field what it answers differently. See
//! docs/diff.md.
//!
//! Flow: `write` hands each message to a bounded queue; one thread files it
//! under its id ([`pairs`]) until the request and its responses are all in,
//! compares them ([`compare`]), learns noise from the primary and secondary
//! targets when there are three, and counts the outcome per endpoint
//! ([`endpoint`], [`report`]). Every two seconds, and at close, the files
//! in DIR are rewritten and pairs older than `--output-diff-timeout` are
//! counted as unmatched.
//!
//! Which `--output-http` a replayed response came from travels with the
//! message inside gor ([`Message::replay_target`]); the `.gor` format and
//! the middleware protocol do not carry it.

pub mod compare;
pub mod endpoint;
pub mod pairs;
pub mod report;

use crate::message::Message;
use crate::plugin::{Output, Result, Shutdown, UsageError};
use crate::stats::{self, Counter};
use bytes::Bytes;
use compare::{Differences, Rules};
use pairs::{Added, Expiry, Pair, Pairs, Roles};
use report::{Compared, Outcome, Report};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Messages waiting for the comparing thread.
const QUEUE: usize = 8192;
/// Messages handed to the comparing thread at a time.
const BATCH: usize = 128;
/// How soon the comparing thread, its queue empty, takes a batch that is
/// not full.
const PARTIAL_BATCH_WAIT: Duration = Duration::from_millis(20);
/// How often the files in DIR are rewritten while running.
const WRITE_EVERY: Duration = Duration::from_secs(2);
/// Most fields remembered as noise per endpoint.
const MAX_NOISE_FIELDS: usize = 1000;
/// Where a request that never arrived is counted.
const UNKNOWN_ENDPOINT: &str = "(request not seen)";

/// The settings of `--output-diff`.
#[derive(Debug, Clone)]
pub struct DiffConfig {
    pub dir: PathBuf,
    /// Number of `--output-http` targets (0 to 3).
    pub targets: usize,
    pub ignore_headers: Vec<String>,
    pub ignore: Vec<String>,
    pub timeout: Duration,
    pub samples: usize,
    /// `--output-diff-fail`: exit 3 on a regression.
    pub fail: bool,
}

impl DiffConfig {
    /// The `--output-diff*` flags; `None` without `--output-diff`.
    pub fn from_settings(s: &crate::settings::Settings) -> Result<Option<DiffConfig>> {
        if s.output_diff.is_empty() {
            return Ok(None);
        }
        if s.output_http.len() > 3 {
            return Err(UsageError(format!(
                "--output-diff compares at most three --output-http targets (primary, secondary, candidate); {} were given",
                s.output_http.len()
            ))
            .into());
        }
        if s.output_diff_samples < 0 {
            return Err(UsageError::invalid_value(
                "output-diff-samples",
                &s.output_diff_samples.to_string(),
                "must be 0 or more",
            )
            .into());
        }
        if s.output_diff_timeout.is_zero() {
            return Err(UsageError::invalid_value(
                "output-diff-timeout",
                "0",
                "must be more than 0",
            )
            .into());
        }
        let config = DiffConfig {
            dir: PathBuf::from(&s.output_diff),
            targets: s.output_http.len(),
            ignore_headers: s.output_diff_ignore_header.clone(),
            ignore: s.output_diff_ignore.clone(),
            timeout: s.output_diff_timeout.min(Duration::from_secs(86_400)),
            samples: usize::try_from(s.output_diff_samples)
                .unwrap_or(usize::MAX)
                .min(100),
            fail: s.output_diff_fail,
        };
        config.rules()?;
        Ok(Some(config))
    }

    fn rules(&self) -> Result<Rules> {
        Rules::new(&self.ignore_headers, &self.ignore).map_err(|e| {
            UsageError(format!("invalid value for flag -output-diff-ignore: {e}")).into()
        })
    }
}

/// The counters on `/metrics` and in `--stats`.
struct Counters {
    compared: Counter,
    equal: Counter,
    different: Counter,
    noise_only: Counter,
    unmatched: Counter,
    ignored: Counter,
    duplicates: Counter,
    pushed_out: Counter,
    write_errors: Counter,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            compared: stats::counter("output_diff.compared"),
            equal: stats::counter("output_diff.equal"),
            different: stats::counter("output_diff.different"),
            noise_only: stats::counter("output_diff.noise_only"),
            unmatched: stats::counter("output_diff.unmatched"),
            ignored: stats::counter("output_diff.messages_not_compared"),
            duplicates: stats::drop_counter("output_diff.duplicate_responses"),
            pushed_out: stats::drop_counter("output_diff.pending_full"),
            write_errors: stats::drop_counter("output_diff.write_errors"),
        }
    }
}

/// The comparing side: pairs, noise, results. Owned by one thread.
pub struct Differ {
    roles: Roles,
    rules: Rules,
    pairs: Pairs,
    /// Fields seen differing between primary and secondary, per endpoint.
    noise: foldhash::HashMap<String, HashSet<String>>,
    report: Report,
    counters: Counters,
    regressions: Arc<AtomicU64>,
    /// Original responses (type 2) seen: without any, one target cannot
    /// be compared (a hint at the end says so).
    baselines_seen: u64,
    dir: PathBuf,
}

impl Differ {
    pub fn new(config: &DiffConfig) -> Result<Differ> {
        let roles = Roles {
            targets: config.targets,
        };
        let report =
            Report::create(&config.dir, roles.describe(), config.samples).map_err(|e| {
                UsageError(format!(
                    "--output-diff {:?}: cannot write there: {e}",
                    config.dir.display()
                ))
            })?;
        Ok(Differ {
            roles,
            rules: config.rules()?,
            pairs: Pairs::new(roles, config.timeout),
            noise: Default::default(),
            report,
            counters: Counters::new(),
            regressions: Arc::new(AtomicU64::new(0)),
            baselines_seen: 0,
            dir: config.dir.clone(),
        })
    }

    /// Files one message; compares its pair when it completes.
    /// Takes the message: its payload is kept without another reference
    /// to the buffer it shares with the copy loop (that count is a cache
    /// line both threads would write).
    pub fn handle(&mut self, msg: Message, now: Instant) {
        let Some(slot) = self.roles.slot(&msg) else {
            self.counters.ignored.inc();
            return;
        };
        if slot == pairs::Slot::Baseline {
            self.baselines_seen += 1;
        }
        let (report, counters) = (&mut self.report, &self.counters);
        let mut expired = |req: Option<Bytes>, why: Expiry| {
            unmatched(report, counters, req.as_deref(), why);
        };
        match self.pairs.add(slot, msg, now, &mut expired) {
            Added::Pending => {}
            Added::Duplicate => self.counters.duplicates.drop_one(
                &"--output-diff: a second response of the same role for one request id was not compared",
            ),
            Added::Complete(pair) => self.compare(&pair),
        }
    }

    fn compare(&mut self, pair: &Pair) {
        let endpoint = endpoint::of_request(&pair.request).unwrap_or_else(|| "(not HTTP)".into());
        let mut differences = compare::compare(&self.rules, &pair.baseline, &pair.candidate);
        if let Some(secondary) = &pair.secondary {
            self.learn_noise(&endpoint, &pair.baseline, secondary);
        }
        if let Some(noisy) = self.noise.get(&endpoint) {
            for d in &mut differences.list {
                d.noise = noisy.contains(&d.field);
            }
        }
        self.record(pair, &endpoint, &differences);
    }

    /// Fields that differ between two known-good builds are noise for
    /// this endpoint from now on.
    fn learn_noise(&mut self, endpoint: &str, primary: &[u8], secondary: &[u8]) {
        let seen = compare::compare(&self.rules, primary, secondary);
        if seen.is_empty() {
            return;
        }
        let known = self.noise.len();
        let set = match self.noise.get_mut(endpoint) {
            Some(s) => s,
            None if known < report::MAX_ENDPOINTS => {
                self.noise.entry(endpoint.to_string()).or_default()
            }
            None => return,
        };
        for d in seen.list {
            if set.len() >= MAX_NOISE_FIELDS {
                break;
            }
            set.insert(d.field);
        }
    }

    fn record(&mut self, pair: &Pair, endpoint: &str, differences: &Differences) {
        let id = String::from_utf8_lossy(&pair.id);
        let compared = Compared {
            id: &id,
            endpoint,
            request: &pair.request,
            baseline: &pair.baseline,
            candidate: &pair.candidate,
            differences,
        };
        self.counters.compared.inc();
        match self.report.compared(&compared) {
            Ok(Outcome::Equal) => self.counters.equal.inc(),
            Ok(Outcome::NoiseOnly) => self.counters.noise_only.inc(),
            Ok(Outcome::Regression) => {
                self.counters.different.inc();
                self.regressions.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.write_failed(&e),
        }
    }

    /// Expires old pairs and rewrites the files.
    pub fn tick(&mut self, now: Instant) {
        let (report, counters) = (&mut self.report, &self.counters);
        self.pairs
            .expire(now, &mut |req: Option<Bytes>, why: Expiry| {
                unmatched(report, counters, req.as_deref(), why);
            });
        if let Err(e) = self.report.write() {
            self.write_failed(&e);
        }
    }

    /// Counts what is still open as unmatched, writes the files a last time
    /// and returns the one-line summary.
    pub fn finish(&mut self) -> String {
        let (report, counters) = (&mut self.report, &self.counters);
        self.pairs.drain(&mut |req: Option<Bytes>, why: Expiry| {
            unmatched(report, counters, req.as_deref(), why);
        });
        if let Err(e) = self.report.write() {
            self.write_failed(&e);
        }
        if self.roles.targets == 1 && self.baselines_seen == 0 {
            tracing::warn!(
                "--output-diff with one --output-http compares against the original responses, and none came: capture with --input-raw-track-response, or replay a recording that holds them (type 2)"
            );
        }
        let t = self.report.totals();
        format!(
            "output-diff: {} compared, {} equal, {} different (regressions), {} noise only, {} unmatched; see {}",
            t.compared,
            t.equal,
            t.different,
            t.noise_only,
            t.unmatched,
            self.dir.join("report.html").display()
        )
    }

    /// Regressions seen so far (shared with the exit-status gate).
    pub fn regressions(&self) -> Arc<AtomicU64> {
        self.regressions.clone()
    }

    fn write_failed(&self, e: &std::io::Error) {
        self.counters.write_errors.drop_one(&format_args!(
            "--output-diff: cannot write the results in {}: {e}",
            self.dir.display()
        ));
    }
}

fn unmatched(report: &mut Report, counters: &Counters, request: Option<&[u8]>, why: Expiry) {
    let endpoint = request.and_then(endpoint::of_request);
    report.unmatched(endpoint.as_deref().unwrap_or(UNKNOWN_ENDPOINT));
    counters.unmatched.inc();
    if why == Expiry::Full {
        counters.pushed_out.drop_one(&format_args!(
            "--output-diff: more than {} requests (or {} MiB) waited for their responses; the oldest was counted as unmatched",
            pairs::MAX_PENDING,
            pairs::MAX_PENDING_BYTES >> 20
        ));
    }
}

/// The `--output-diff` output.
///
/// Messages reach the comparing thread a batch at a time: one queue
/// operation (and at most one wake-up) per [`BATCH`] messages instead of
/// per message, which at full speed was a third of the copy loop's time.
/// A batch that is not full is taken by the comparing thread itself when
/// its queue is empty: within [`PARTIAL_BATCH_WAIT`], or at the latest when
/// it next writes the files (should it look just before the batch began).
pub struct DiffOutput {
    gathering: Mutex<Gathering>,
    /// Set while `gathering` holds messages, so that the comparing thread
    /// looks for them without a lock (and an idle gor does not wake up).
    partial: Arc<AtomicBool>,
    /// Disconnects when the comparing thread has written its last files.
    done: crossbeam_channel::Receiver<()>,
    queue_full: Counter,
    name: String,
}

/// The batch being gathered, and the queue it goes to when full (`None`
/// once closed).
struct Gathering {
    batch: Vec<Message>,
    tx: Option<BatchSender>,
}

type BatchSender = crossbeam_channel::Sender<Vec<Message>>;

/// Answers, after the run, whether it must fail: `Some(why)` when
/// `--output-diff-fail` is on and a regression was seen.
pub type Gate = crate::plugin::Gate;

impl DiffOutput {
    /// Starts the comparing thread; the gate is `Some` with
    /// `--output-diff-fail`.
    pub fn start(
        config: &DiffConfig,
        shutdown: &Shutdown,
    ) -> Result<(Arc<DiffOutput>, Option<Gate>)> {
        let mut differ = Differ::new(config)?;
        let regressions = differ.regressions();
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Message>>(QUEUE / BATCH);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let out = Arc::new(DiffOutput {
            gathering: Mutex::new(Gathering {
                batch: Vec::with_capacity(BATCH),
                tx: Some(tx),
            }),
            partial: Arc::new(AtomicBool::new(false)),
            done,
            queue_full: stats::drop_counter("output_diff.queue_full"),
            name: format!("--output-diff {}", config.dir.display()),
        });
        let me = Arc::downgrade(&out);
        let partial = out.partial.clone();
        shutdown.spawn("output-diff", move || {
            let mut next = Instant::now() + WRITE_EVERY;
            loop {
                let until_tick = next.saturating_duration_since(Instant::now());
                let wait = if partial.load(Ordering::Acquire) {
                    until_tick.min(PARTIAL_BATCH_WAIT)
                } else {
                    until_tick
                };
                let batch = crossbeam_channel::select! {
                    recv(rx) -> m => match m {
                        Ok(batch) => Some(batch),
                        Err(_) => break,
                    },
                    default(wait) => me.upgrade().map(|out| out.take_partial()),
                };
                // A batch is compared on one clock reading: arrival times
                // only need the precision of the timeout.
                let now = Instant::now();
                for msg in batch.into_iter().flatten() {
                    differ.handle(msg, now);
                }
                if now >= next {
                    differ.tick(now);
                    next = now + WRITE_EVERY;
                }
            }
            eprintln!("{}", differ.finish());
            drop(done_tx);
        })?;
        let gate: Option<Gate> = config.fail.then(|| {
            Box::new(move || {
                let n = regressions.load(Ordering::Relaxed);
                (n > 0).then(|| {
                    format!("--output-diff-fail: {n} requests answered differently (regressions)")
                })
            }) as Gate
        });
        Ok((out, gate))
    }

    fn gathering(&self) -> std::sync::MutexGuard<'_, Gathering> {
        self.gathering.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `msg` to the batch; a full batch is returned with the queue it
    /// goes to (sent outside the lock, so the comparing thread can always
    /// take a partial batch).
    fn gather(&self, msg: &Message) -> Result<Option<(Vec<Message>, BatchSender)>> {
        let mut g = self.gathering();
        let Some(tx) = g.tx.clone() else {
            anyhow::bail!("{} is closed", self.name);
        };
        g.batch.push(msg.clone());
        if g.batch.len() == 1 {
            self.partial.store(true, Ordering::Release);
        }
        if g.batch.len() < BATCH {
            return Ok(None);
        }
        self.partial.store(false, Ordering::Release);
        let full = std::mem::replace(&mut g.batch, Vec::with_capacity(BATCH));
        Ok(Some((full, tx)))
    }

    /// The batch gathered so far (the comparing thread found its queue
    /// empty).
    fn take_partial(&self) -> Vec<Message> {
        let mut g = self.gathering();
        self.partial.store(false, Ordering::Release);
        std::mem::take(&mut g.batch)
    }
}

impl Output for DiffOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        if let Some((batch, tx)) = self.gather(msg)?
            && tx.send(batch).is_err()
        {
            anyhow::bail!("{} is closed", self.name);
        }
        Ok(())
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        let Some((batch, tx)) = self.gather(msg)? else {
            return Ok(());
        };
        match tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(batch)) => {
                self.queue_full.drop_many(
                    batch.len() as u64,
                    &format_args!(
                        "{}: the comparison queue is full, live messages were not compared",
                        self.name
                    ),
                );
                Ok(())
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                anyhow::bail!("{} is closed", self.name)
            }
        }
    }

    /// Hands over the last batch, then waits while the comparing thread
    /// compares what is queued, counts what is still open as unmatched and
    /// writes the files a last time.
    fn close(&self) {
        let (batch, tx) = {
            let mut g = self.gathering();
            self.partial.store(false, Ordering::Release);
            (std::mem::take(&mut g.batch), g.tx.take())
        };
        if let Some(tx) = tx
            && !batch.is_empty()
        {
            let _ = tx.send(batch);
        }
        let _ = self.done.recv();
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests;
