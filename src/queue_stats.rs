//! The queue stats line of the network outputs (`--stats` with
//! `--output-http-stats`, `--output-tcp-stats`, `--output-ws-stats`): a
//! header `<name>:latest,mean,max,count,count/second,gcount`, then every
//! period `<name>:<latest>,<mean>,<max>,<count>,<rate>,<workers>` with the
//! counters reset after each line. GoReplay's last column is its goroutine
//! count; ours is the number of workers (replay workers, or connected relay
//! workers), the figure that column was used to watch.

use crate::plugin::Shutdown;
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub latest: usize,
    pub mean: usize,
    pub max: usize,
    pub count: usize,
}

impl Sample {
    /// GoReplay's running mean: updated only by non-zero samples, while the
    /// count includes the zero ones.
    pub fn add(&mut self, v: usize) {
        self.latest = v;
        if v != 0 {
            self.mean = (self.mean.saturating_mul(self.count).saturating_add(v)) / (self.count + 1);
        }
        self.max = self.max.max(v);
        self.count += 1;
    }

    pub fn line(&self, name: &str, period: Duration, workers: usize) -> String {
        let secs = (period.as_millis() / 1000).max(1) as usize;
        format!(
            "{name}:{},{},{},{},{},{}",
            self.latest,
            self.mean,
            self.max,
            self.count,
            self.count / secs,
            workers
        )
    }
}

type WorkerCount = Box<dyn Fn() -> usize + Send + Sync>;

pub struct QueueStats {
    name: &'static str,
    period: Duration,
    sample: Mutex<Sample>,
    workers: Mutex<Option<WorkerCount>>,
    stopped: AtomicBool,
    /// Dropped by `stop`: wakes the thread, which ends.
    wake: Mutex<Option<Sender<()>>>,
}

impl QueueStats {
    /// Prints the header now and a line every `period` until stopped (by
    /// the output's close, or at the latest when `shutdown` expires).
    pub fn start(name: &'static str, period: Duration, shutdown: &Shutdown) -> Arc<QueueStats> {
        let (wake, woken) = crossbeam_channel::bounded::<()>(0);
        let stats = Arc::new(QueueStats {
            name,
            period,
            sample: Mutex::new(Sample::default()),
            workers: Mutex::new(None),
            stopped: AtomicBool::new(false),
            wake: Mutex::new(Some(wake)),
        });
        tracing::info!("\n {name}:latest,mean,max,count,count/second,gcount");
        let (me, stop) = (stats.clone(), shutdown.clone());
        let spawned = shutdown.spawn(format!("{name}-stats"), move || {
            let mut next = Instant::now();
            while !me.stopped.load(Ordering::Relaxed) {
                let line = me.take_line(name, period);
                tracing::info!("\n {line}");
                next += period;
                let left = next.saturating_duration_since(Instant::now());
                crossbeam_channel::select! {
                    // Nothing is ever sent: ready only once `stop` drops the
                    // sender.
                    recv(woken) -> _ => return,
                    recv(stop.expired()) -> _ => return,
                    default(left) => {}
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the {name} stats line: {e}");
        }
        stats
    }

    pub fn set_workers(&self, f: impl Fn() -> usize + Send + Sync + 'static) {
        *self.workers.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
    }

    pub fn record(&self, queued: usize) {
        self.sample
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(queued);
    }

    fn take_line(&self, name: &str, period: Duration) -> String {
        let s = std::mem::take(&mut *self.sample.lock().unwrap_or_else(|e| e.into_inner()));
        let workers = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |f| f());
        s.line(name, period, workers)
    }

    /// Stops the periodic lines; what the last, partial period counted is
    /// printed now rather than lost.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::Relaxed) {
            return;
        }
        self.wake.lock().unwrap_or_else(|e| e.into_inner()).take();
        let pending = self.sample.lock().unwrap_or_else(|e| e.into_inner()).count;
        if pending > 0 {
            let line = self.take_line(self.name, self.period);
            tracing::info!("\n {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ignores_zero_samples_but_count_includes_them() {
        let mut s = Sample::default();
        for v in [0, 4, 0, 8] {
            s.add(v);
        }
        // mean: 0 -> (0*1+4)/2=2 -> (2*3+8)/4=3
        assert_eq!(
            s,
            Sample {
                latest: 8,
                mean: 3,
                max: 8,
                count: 4
            }
        );
        assert_eq!(
            s.line("output_http", Duration::from_millis(2000), 5),
            "output_http:8,3,8,4,2,5"
        );
    }
}
