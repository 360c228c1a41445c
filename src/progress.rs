//! The progress line of a long `--input-file` replay: records done of the
//! total, the rate and the time left, redrawn in place on stderr. Only when
//! stderr is a terminal: piped or logged output stays clean.
//!
//! The total is counted in the background (a scan for record separators,
//! at disk speed) so the replay starts at once; compressed files, S3
//! objects and looping replays have no total, and show the count and rate.

use crate::message::SEPARATOR;
use crate::plugin::Shutdown;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// How often the line is redrawn while nothing else moves it (a replay
/// waiting out a long gap between recorded requests).
const REDRAW: Duration = Duration::from_millis(500);

pub struct Progress {
    bar: ProgressBar,
}

/// The line on screen, if any: log lines are written while it is hidden,
/// so that they do not land in the middle of it.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `write` (a log line to stderr) with the progress line cleared
/// first and redrawn after.
pub fn while_hidden(write: impl FnOnce()) {
    let shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match shown {
        Some(bar) if !bar.is_finished() => bar.suspend(write),
        _ => write(),
    }
}

impl Progress {
    /// A progress line on stderr if stderr is a terminal; `files` are
    /// counted for the total when given (`None`: no total is known).
    pub fn start(files: Option<Vec<PathBuf>>, shutdown: &Shutdown) -> Option<Progress> {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(counting_style());
        let ticking = bar.clone();
        let stop = shutdown.clone();
        let spawned = shutdown.spawn("progress", move || {
            if let Some(files) = files
                && let Some(total) = count_records(&files, &stop)
            {
                ticking.set_length(total);
                ticking.set_style(total_style());
            }
            while !ticking.is_finished() && !stop.wait_timeout(REDRAW) {
                ticking.tick();
            }
        });
        if spawned.is_err() {
            return None;
        }
        *SHOWN.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        Some(Progress { bar })
    }

    /// One more record replayed.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// The replay is over: the last figures stay on screen, on a line of
    /// their own.
    pub fn finish(&self) {
        if self.bar.is_finished() {
            return;
        }
        self.bar.abandon();
        *SHOWN.lock().unwrap_or_else(|e| e.into_inner()) = None;
        eprintln!();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Records a second, whole.
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0}/s", state.per_sec());
}

fn counting_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {human_pos} records replayed ({rate}, {elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("rate", rate)
}

fn total_style() -> ProgressStyle {
    ProgressStyle::with_template("{bar:30} {pos}/{len} records ({percent}%) {rate}, ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", rate)
}

/// Records in `files` (separators counted), or `None` if one cannot be
/// read or gor stops first.
pub fn count_records(files: &[PathBuf], shutdown: &Shutdown) -> Option<u64> {
    let finder = memchr::memmem::Finder::new(SEPARATOR);
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    for path in files {
        let mut file = std::fs::File::open(path).ok()?;
        // The tail of the previous read, in case a separator spans two.
        let mut carried = 0;
        loop {
            if shutdown.is_stopping() {
                return None;
            }
            let n = file.read(&mut buf[carried..]).ok()?;
            if n == 0 {
                break;
            }
            let filled = carried + n;
            total += finder.find_iter(&buf[..filled]).count() as u64;
            let keep = (SEPARATOR.len() - 1).min(filled);
            buf.copy_within(filled - keep..filled, 0);
            carried = keep;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn records_are_counted_across_read_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gor");
        let mut f = std::fs::File::create(&path).unwrap();
        // Records of every size around the read buffer, so that some
        // separators straddle two reads.
        let mut n = 0;
        for size in [10usize, (1 << 20) - 7, 3, (1 << 20) - 20, 1] {
            writeln!(f, "1 {n:024x} 1 0").unwrap();
            f.write_all(&vec![b'x'; size]).unwrap();
            f.write_all(SEPARATOR).unwrap();
            n += 1;
        }
        drop(f);
        let shutdown = Shutdown::new();
        assert_eq!(count_records(&[path.clone(), path], &shutdown), Some(2 * n));
        assert_eq!(
            count_records(&[dir.path().join("missing")], &shutdown),
            None
        );
    }
}
