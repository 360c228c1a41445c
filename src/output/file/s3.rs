//! `--output-file s3://bucket/key-template`: chunks are written to a local
//! staging file under `--output-file-buffer`, exactly as a local
//! `--output-file` writes them, and each finished chunk (rotated, or closed
//! at the end) is uploaded to the bucket, streamed from its file, and then
//! removed. [`UPLOADERS`] chunks go up at a time, so that one request's
//! round trips and the store's own work on it overlap with the next
//! chunk's transfer. Memory is bounded by one chunk's buffers and a
//! read buffer per upload; chunks waiting for their upload wait on disk.
//!
//! The key is the template's key with its tokens substituted when the chunk
//! starts and the chunk's index applied as in local names
//! (`logs/%Y-%m-%d.gz` → `logs/2024-01-01_0.gz`, `…_1.gz`, …). As with
//! local files, a new run continues after the last index already in the
//! bucket for that key (GoReplay starts again at 0 and overwrites the
//! previous run's objects): the bucket is listed once per new key.

use super::naming::{self, Template};
use crate::message::Message;
use crate::plugin::Result;
use crate::s3::{S3Url, Storage};
use crate::stats::{self, Counter};
use crossbeam_channel::Sender;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Chunks uploaded at the same time. In bench/s3.sh (1 GB in 32 MB chunks,
/// s3s-fs on loopback, 2 cores), two at a time went up 1.5x faster than one
/// (490 against 330 MB/s); four were slower than one.
const UPLOADERS: usize = 2;

/// The longest wait between two tries of a failed upload.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// Where a staged chunk goes.
pub struct Upload {
    pub local: PathBuf,
    pub key: String,
}

/// The uploads of one `--output-file s3://…`.
pub struct Uploads {
    url: S3Url,
    key_template: Template,
    storage: Storage,
    /// Per key (tokens substituted, no index): what is added to the local
    /// chunk index, the first index free in the bucket when first seen.
    offsets: Mutex<HashMap<String, u64>>,
    queue: Mutex<Option<Sender<Upload>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    retry: Arc<Retry>,
}

/// What the uploaders share about failed uploads: whether the output is
/// closing (then a failed upload gets one last try), a wake-up for those
/// waiting to try again, and whether the failure was said already.
#[derive(Default)]
struct Retry {
    closing: Mutex<bool>,
    wake: Condvar,
    failing: AtomicBool,
}

impl Retry {
    fn is_closing(&self) -> bool {
        *self.closing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits `wait`, or until the output closes.
    fn pause(&self, wait: Duration) {
        let closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
        if !*closing {
            let _ = self.wake.wait_timeout(closing, wait);
        }
    }

    fn close(&self) {
        *self.closing.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

impl Uploads {
    /// Checks the bucket and the credentials now (one clear line at
    /// start-up rather than a failed upload later), and returns the
    /// uploads with the local template chunks are staged under.
    pub fn start(template: &str, buffer_dir: &str) -> Result<(Uploads, String)> {
        let url = S3Url::parse(template)
            .ok_or_else(|| anyhow::anyhow!("--output-file {template}: expected s3://bucket/key"))?;
        if url.key.is_empty() || url.key.ends_with('/') {
            anyhow::bail!(
                "--output-file {template}: the key (file name) is missing after the bucket"
            );
        }
        let storage = Storage::get()?;
        let fixed = url.key.split('%').next().unwrap_or_default();
        storage.check(&url.bucket, fixed).map_err(|e| {
            anyhow::anyhow!(
                "--output-file {template}: S3 refused access to bucket {}: {e:#}",
                url.bucket
            )
        })?;
        let last = url.key.rsplit('/').next().unwrap_or_default();
        let local = format!(
            "{}/gor_output_s3_{}_buf_{last}",
            buffer_dir.trim_end_matches('/'),
            rand::random::<u64>() >> 1
        );
        let (tx, rx) = crossbeam_channel::unbounded::<Upload>();
        let errors = stats::drop_counter("output_file.s3_upload_errors");
        let uploaded = stats::counter("output_file.s3_uploads");
        let retry = Arc::new(Retry::default());
        let mut threads = Vec::with_capacity(UPLOADERS);
        for _ in 0..UPLOADERS {
            let (rx, bucket, uploader) = (rx.clone(), url.bucket.clone(), storage.clone());
            let (errors, uploaded, retry) = (errors.clone(), uploaded.clone(), retry.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("output-file-s3".into())
                    .spawn(move || {
                        for up in rx {
                            upload_one(&uploader, &bucket, up, &errors, &uploaded, &retry);
                        }
                    })?,
            );
        }
        Ok((
            Uploads {
                key_template: Template::new(&url.key),
                url,
                storage,
                offsets: Mutex::new(HashMap::new()),
                queue: Mutex::new(Some(tx)),
                threads: Mutex::new(threads),
                retry,
            },
            local,
        ))
    }

    /// The key of a chunk that starts with `msg` and has `index`.
    pub fn key_for(&self, msg: &Message, index: Option<u64>) -> String {
        let key = self.key_template.expand(Some(msg));
        let Some(index) = index else {
            return key.into_owned();
        };
        let mut offsets = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        let offset = match offsets.get(key.as_ref()) {
            Some(o) => *o,
            None => {
                let o = self.first_free_index(&key);
                offsets.insert(key.to_string(), o);
                o
            }
        };
        naming::with_index(&key, index + offset)
    }

    /// One more than the highest chunk index of `key` in the bucket (0 when
    /// there is none, or when listing is not allowed).
    fn first_free_index(&self, key: &str) -> u64 {
        let ext = naming::extension(key);
        let base = &key[..key.len() - ext.len()];
        let listed = match self.storage.list(&self.url.bucket, &format!("{base}_")) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(
                    "--output-file s3://{}/{key}: cannot list the bucket ({e:#}); chunks start at index 0",
                    self.url.bucket
                );
                return 0;
            }
        };
        listed
            .iter()
            .filter_map(|o| {
                let n = o
                    .key
                    .strip_prefix(base)?
                    .strip_prefix('_')?
                    .strip_suffix(ext)?;
                (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| n.parse::<u64>().ok())
                    .flatten()
            })
            .max()
            .map_or(0, |n| n + 1)
    }

    /// Queues a finished chunk for upload.
    pub fn finished(&self, up: Upload) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match queue.as_ref() {
            Some(q) => {
                let _ = q.send(up);
            }
            None => tracing::warn!(
                "--output-file s3://{}/{}: closed; chunk kept at {}",
                self.url.bucket,
                up.key,
                up.local.display()
            ),
        }
    }

    /// Waits until every queued chunk is uploaded (or has failed).
    pub fn close(&self) {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.retry.close();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Uploads one chunk and removes it. A failed upload (S3 down for a
/// while, a network cut; the SDK has already retried) is tried again, at
/// growing intervals up to [`MAX_RETRY_WAIT`], while gor runs: the chunk
/// goes up once S3 is back. Once the output closes it gets one last try;
/// then it is counted and left on disk. The failure is said once, and
/// the recovery too.
fn upload_one(
    storage: &Storage,
    bucket: &str,
    up: Upload,
    errors: &Counter,
    uploaded: &Counter,
    retry: &Retry,
) {
    let mut wait = Duration::from_secs(1);
    loop {
        let closing = retry.is_closing();
        match storage.upload(bucket, &up.key, &up.local) {
            Ok(()) => {
                uploaded.inc();
                if retry.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("--output-file s3://{bucket}: uploads go through again");
                }
                if let Err(e) = std::fs::remove_file(&up.local) {
                    tracing::warn!(
                        "--output-file: could not remove {}: {e}",
                        up.local.display()
                    );
                }
                return;
            }
            Err(e) if closing => {
                errors.drop_one(&format_args!(
                    "--output-file s3://{bucket}/{}: upload failed: {e:#}; the chunk is kept at {}",
                    up.key,
                    up.local.display()
                ));
                return;
            }
            Err(e) => {
                if !retry.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "--output-file s3://{bucket}/{}: upload failed, trying again until it succeeds or gor stops: {e:#}",
                        up.key
                    );
                }
                retry.pause(wait);
                wait = (wait * 2).min(MAX_RETRY_WAIT);
            }
        }
    }
}
