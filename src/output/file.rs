//! `--output-file`: records messages to files, in GoReplay's
//! record format, chunked and named as GoReplay names them.
//!
//! `write` (finite inputs: files) copies the record into a large buffer
//! under a lock, on the copy loop's own thread: no queue, no hand-off between
//! threads, which measured fastest, and a slow disk slows the replay down
//! instead of losing records. `offer` (live inputs: capture) hands the
//! record to a queue (bounded in bytes) drained by a writer thread, so a
//! slow disk never holds up a capture; when the queue is full the record is
//! dropped and counted. Plain files are written past the page cache
//! (disk.rs). The buffer goes to the file when it fills, when the chunk
//! changes, every `--output-file-flush-interval` (for the whole run;
//! GoReplay's flusher stops after the first record), and at close.
//!
//! Fixes over GoReplay: `--output-file-append` appends instead of
//! truncating, and no chunk is ever truncated (switching back to a name used
//! earlier, as `%r` does, appends to it); an unwritable directory is reported
//! at start-up instead of at the first record.

mod disk;
mod naming;
mod s3;

use crate::linger::Lingering;
use crate::message::Message;
use crate::plugin::{Output, Result, Shutdown};
use crate::settings::Settings;
use crate::stats::{self, Counter};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use disk::DiskFile;
use flate2::Compression;
use flate2::write::GzEncoder;
use naming::Template;
use s3::{Upload, Uploads};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Buffer between the gzip stream and a `.gz` file (plain files have
/// their own, see disk.rs).
const GZIP_BUFFER: usize = 256 << 10;

pub struct FileOutput {
    shared: Arc<Mutex<State>>,
    name: String,
    stop_flusher: Mutex<Option<Sender<()>>>,
    /// Records of live inputs, written by a thread of their own (started at
    /// the first `offer`), so a slow disk never holds up a capture.
    live: OnceLock<Sender<Job>>,
    live_thread: Mutex<Option<JoinHandle<()>>>,
    /// What waits in `live`, in bytes (see [`queued_cost`]).
    queued: Arc<AtomicUsize>,
    closed: AtomicBool,
    queue_full: Counter,
    /// `s3://` outputs: where finished chunks go.
    uploads: Option<Arc<Uploads>>,
}

/// Records offered by live inputs wait for the disk up to this many bytes.
/// A direct write holds the writer while the device works (tens of
/// milliseconds when the disk is busy), and a capture of small pipelined
/// requests brings a quarter of a million records a second: a queue
/// counted in records (it was 4,096) overflowed.
const LIVE_QUEUE_BYTES: usize = 64 << 20;

/// What a queued record counts against [`LIVE_QUEUE_BYTES`]: its bytes and
/// its bookkeeping, so that a flood of tiny records is bounded too.
fn queued_cost(msg: &Message) -> usize {
    msg.record_len() + 128
}

enum Job {
    Record(Message),
    /// Everything before this is written; the thread ends.
    Close,
}

struct State {
    template: Template,
    append: bool,
    /// A new chunk starts after this many records (0: no limit).
    queue_limit: u64,
    /// … or once the chunk holds this many bytes.
    size_limit: u64,
    /// Writes fail once this output has written this many bytes.
    max_size: u64,
    current: Option<Chunk>,
    total: u64,
    closed: bool,
    uploads: Option<Arc<Uploads>>,
    /// Records lost to write errors (a full disk), with one log line.
    errors: Counter,
    /// A flush failed and none has succeeded since: said once (at debug
    /// level), not every flush interval.
    flush_failing: bool,
}

/// The file being written.
struct Chunk {
    /// The substituted template it was chosen for.
    path: String,
    /// Its name on disk.
    name: String,
    index: Option<u64>,
    /// `s3://` outputs: the key the chunk is uploaded as once finished.
    key: Option<String>,
    sink: Sink,
    records: u64,
    /// Records known to be in the file: those written before the last
    /// flush that succeeded.
    flushed: u64,
    size: u64,
}

enum Sink {
    Plain(DiskFile),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn open(name: &str) -> io::Result<Sink> {
        if !name.ends_with(".gz") {
            return Ok(Sink::Plain(DiskFile::open(name)?));
        }
        // Never truncate: restarting gor, or coming back to a name used
        // earlier, must not destroy recorded traffic.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o660)
            .open(name)?;
        Ok(Sink::Gzip(GzEncoder::new(
            BufWriter::with_capacity(GZIP_BUFFER, file),
            Compression::default(),
        )))
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w,
        }
    }

    fn write_record(&mut self, msg: &Message) -> io::Result<()> {
        if let Sink::Plain(w) = self {
            w.make_room(msg.record_len())?;
        }
        msg.write_record(self.writer())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }

    /// Flushes everything, the gzip trailer included.
    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
        }
    }
}

/// The `--output-file-*` flags, shared by every `--output-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutputConfig {
    /// `--output-file-append`: write to the name itself, no chunks.
    pub append: bool,
    /// `--output-file-queue-limit`: a new chunk after this many records
    /// (0: no limit).
    pub queue_limit: u64,
    /// `--output-file-size-limit`: … or once a chunk holds this many bytes.
    pub size_limit: u64,
    /// `--output-file-max-size-limit`: writes fail once this output has
    /// written this many bytes.
    pub max_size: u64,
    /// `--output-file-flush-interval` (never zero).
    pub flush_interval: Duration,
    /// `--output-file-buffer`: where chunks of `s3://` outputs are staged.
    pub buffer_dir: String,
}

impl FileOutputConfig {
    /// Reads the flags; zeros mean the defaults, as in GoReplay.
    pub fn from_settings(s: &Settings) -> Result<FileOutputConfig> {
        let positive = |v: u64, default: u64| if v == 0 { default } else { v };
        Ok(FileOutputConfig {
            append: s.output_file_append,
            // A negative limit is no limit, as 0 is.
            queue_limit: u64::try_from(s.output_file_queue_limit).unwrap_or(0),
            size_limit: positive(s.output_file_size_limit, 32 << 20),
            max_size: positive(s.output_file_max_size_limit, 1 << 40),
            flush_interval: match s.output_file_flush_interval {
                d if d.is_zero() => Duration::from_millis(100),
                d => d,
            },
            buffer_dir: s.output_file_buffer.clone(),
        })
    }
}

/// The flags' defaults.
impl Default for FileOutputConfig {
    fn default() -> Self {
        FileOutputConfig {
            append: false,
            queue_limit: 256,
            size_limit: 32 << 20,
            max_size: 1 << 40,
            flush_interval: Duration::from_secs(1),
            buffer_dir: "/tmp".to_string(),
        }
    }
}

impl FileOutput {
    /// Checks at start-up that the template's directory can be written to,
    /// so a typo fails now, in one line, rather than at the first record.
    pub fn open(
        template: &str,
        config: &FileOutputConfig,
        shutdown: &Shutdown,
    ) -> Result<Arc<dyn Output>> {
        Ok(Arc::new(Self::new(template, config, shutdown)?))
    }

    fn new(template: &str, config: &FileOutputConfig, shutdown: &Shutdown) -> Result<FileOutput> {
        let name = format!("output_file({template})");
        let (template, uploads) = if template.starts_with("s3://") {
            let (uploads, local) = Uploads::start(template, &config.buffer_dir)?;
            (local, Some(Arc::new(uploads)))
        } else {
            (template.to_string(), None)
        };
        let template = template.as_str();
        let parsed = Template::new(template);
        check_writable(template, &naming::clean(&parsed.expand(None)))?;
        let state = State {
            template: parsed,
            append: config.append,
            queue_limit: config.queue_limit,
            size_limit: config.size_limit,
            max_size: config.max_size,
            current: None,
            total: 0,
            closed: false,
            uploads: uploads.clone(),
            errors: stats::drop_counter("output_file.write_errors"),
            flush_failing: false,
        };
        let shared = Arc::new(Mutex::new(state));
        let stop = spawn_flusher(Arc::downgrade(&shared), config.flush_interval, shutdown)?;
        Ok(FileOutput {
            shared,
            name,
            stop_flusher: Mutex::new(Some(stop)),
            live: OnceLock::new(),
            live_thread: Mutex::new(None),
            queued: Arc::new(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            queue_full: stats::drop_counter("output_file.queue_full"),
            uploads,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Flushes the current chunk every `interval` until the output closes.
fn spawn_flusher(
    shared: Weak<Mutex<State>>,
    interval: Duration,
    shutdown: &Shutdown,
) -> Result<Sender<()>> {
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    shutdown.spawn("output-file-flush", move || {
        while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut st = shared.lock().unwrap_or_else(|e| e.into_inner());
            if st.closed {
                return;
            }
            st.flush();
        }
    })?;
    Ok(tx)
}

/// The directory of the first file must exist and be writable (and the
/// file itself, if it exists). Date tokens in the directory are checked for
/// now; later names are checked when they are opened.
fn check_writable(template: &str, first: &str) -> Result<()> {
    let path = Path::new(first);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |what: &Path, why: String| {
        anyhow::anyhow!(
            "--output-file {template}: cannot write to {}: {why}",
            what.display()
        )
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(fail(dir, "not a directory".into())),
        Err(e) => return Err(fail(dir, e.to_string())),
    }
    access_writable(dir).map_err(|e| fail(dir, e.to_string()))?;
    if path.exists() {
        access_writable(path).map_err(|e| fail(path, e.to_string()))?;
    }
    Ok(())
}

fn access_writable(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))?;
    // SAFETY: access(2) reads a valid NUL-terminated string.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl State {
    /// Puts what the current chunk holds in its file. A failure (a full
    /// disk) is logged once; the records stay buffered for the next try.
    fn flush(&mut self) {
        let Some(chunk) = self.current.as_mut() else {
            return;
        };
        match chunk.sink.flush() {
            Ok(()) => {
                chunk.flushed = chunk.records;
                self.flush_failing = false;
            }
            // Nothing is lost yet: the records stay buffered for the next
            // try, and the ones that cannot be written are counted (and
            // logged once) where they are given up.
            Err(e) if !self.flush_failing => {
                self.flush_failing = true;
                tracing::debug!("--output-file {}: flush failed: {e}", chunk.name);
            }
            Err(_) => {}
        }
    }

    /// The name the next record goes to, if it is not the current chunk.
    fn switch_to(&self, path: &str) -> Option<String> {
        if self.append {
            return match &self.current {
                Some(c) if c.path == path => None,
                _ => Some(naming::clean(path)),
            };
        }
        let next = match &self.current {
            None => true,
            Some(c) => {
                (self.queue_limit > 0 && c.records >= self.queue_limit) || c.size >= self.size_limit
            }
        };
        match &self.current {
            Some(c) if c.path == path && !next => None,
            // Same template, chunk full: the next index (the directory was
            // already searched when this chunk was chosen).
            Some(Chunk {
                path: p,
                name,
                index: Some(i),
                ..
            }) if p == path => Some(naming::with_index(name, i + 1)),
            _ => Some(naming::chunk_name(&naming::clean(path), next)),
        }
    }

    fn open_chunk(&mut self, path: &str, name: String, first: &Message) -> io::Result<()> {
        self.close_chunk();
        let sink = Sink::open(&name)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open file {name}: {e}")))?;
        let index = if self.append {
            None
        } else {
            naming::chunk_index(&name)
        };
        self.current = Some(Chunk {
            path: path.to_string(),
            index,
            key: self.uploads.as_ref().map(|u| u.key_for(first, index)),
            name,
            sink,
            records: 0,
            flushed: 0,
            size: 0,
        });
        Ok(())
    }

    fn close_chunk(&mut self) {
        let Some(chunk) = self.current.take() else {
            return;
        };
        if let Err(e) = chunk.sink.finish() {
            // What the last good flush put in the file stays readable; the
            // records after it are counted as lost.
            self.errors.drop_many(
                chunk.records - chunk.flushed,
                &format_args!(
                    "--output-file {}: could not finish the file, the records since its last flush are lost: {e}",
                    chunk.name
                ),
            );
            // A chunk opened on a full disk holds nothing: no empty files.
            if std::fs::metadata(&chunk.name).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = std::fs::remove_file(&chunk.name);
            }
        }
        if let (Some(uploads), Some(key)) = (&self.uploads, chunk.key) {
            uploads.finished(Upload {
                local: chunk.name.into(),
                key,
            });
        }
    }
}

impl State {
    /// Writes one record to the file its name leads to.
    fn write_record(&mut self, msg: &Message) -> Result<()> {
        if self.closed {
            anyhow::bail!("closed");
        }
        if self.total >= self.max_size {
            // GoReplay stops the whole copy loop here; we refuse the record
            // (it is counted) and let the other outputs go on.
            anyhow::bail!(
                "--output-file-max-size-limit of {} bytes reached; record dropped",
                self.max_size
            );
        }
        let path = self.template.expand(Some(msg));
        if let Some(name) = self.switch_to(&path) {
            let path = path.into_owned();
            self.open_chunk(&path, name, msg)?;
        }
        let Some(chunk) = self.current.as_mut() else {
            anyhow::bail!("no file open");
        };
        chunk
            .sink
            .write_record(msg)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", chunk.name))?;
        let len = msg.record_len() as u64;
        chunk.records += 1;
        chunk.size += len;
        self.total += len;
        Ok(())
    }
}

impl FileOutput {
    /// The queue of the live writer thread, started on first use (`None` if
    /// no thread can be started: records are then written directly).
    fn live_queue(&self) -> Option<&Sender<Job>> {
        if let Some(tx) = self.live.get() {
            return Some(tx);
        }
        let mut handle = self.live_thread.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = self.live.get() {
            return Some(tx);
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = self.shared.clone();
        let queued = self.queued.clone();
        let name = self.name.clone();
        let spawned = std::thread::Builder::new()
            .name("output-file".into())
            .spawn(move || write_live(&shared, rx, &queued, &name));
        match spawned {
            Ok(h) => {
                *handle = Some(h);
                let _ = self.live.set(tx);
                self.live.get()
            }
            Err(_) => None,
        }
    }
}

/// Records taken between two waits after which the live writer lingers
/// rather than blocks (see `crate::linger`): full-rate traffic brings
/// thousands; 2,000 requests a second bring a few dozen per capture delivery.
const LOTS_OF_RECORDS: usize = 256;

/// The live writer: takes queued records in batches, one lock per batch.
fn write_live(shared: &Mutex<State>, rx: Receiver<Job>, queued: &AtomicUsize, name: &str) {
    let errors = stats::drop_counter("output_file.write_errors");
    let mut queue = Lingering::new(rx, LOTS_OF_RECORDS);
    while let Ok(first) = queue.recv() {
        let mut st = shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut job = Some(first);
        let mut batch = 0;
        while let Some(j) = job.take() {
            match j {
                Job::Close => return,
                Job::Record(m) => {
                    if let Err(e) = st.write_record(&m) {
                        errors.drop_one(&format_args!("{name}: {e:#}"));
                    }
                    queued.fetch_sub(queued_cost(&m), Ordering::Relaxed);
                }
            }
            batch += 1;
            if batch < 1024 {
                job = queue.try_recv();
            }
        }
    }
}

impl Output for FileOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        self.state().write_record(msg)
    }

    /// Live inputs: queued for the writer thread; a full queue (the disk
    /// cannot keep up) drops the record and counts it.
    fn offer(&self, msg: &Message) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            anyhow::bail!("closed");
        }
        let Some(queue) = self.live_queue() else {
            return self.write(msg);
        };
        let cost = queued_cost(msg);
        if self.queued.fetch_add(cost, Ordering::Relaxed) + cost > LIVE_QUEUE_BYTES {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            self.queue_full.drop_one(&format_args!(
                "{}: the disk is slower than the traffic, records are dropped",
                self.name
            ));
            return Ok(());
        }
        if queue.send(Job::Record(msg.clone())).is_err() {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            anyhow::bail!("closed");
        }
        Ok(())
    }

    fn close(&self) {
        if let Some(stop) = self
            .stop_flusher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = stop.send(());
        }
        self.closed.store(true, Ordering::Release);
        // Whatever live inputs handed over is written first.
        if let Some(queue) = self.live.get() {
            let _ = queue.send(Job::Close);
        }
        let writer = self
            .live_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let mut st = self.state();
        st.closed = true;
        st.close_chunk();
        drop(st);
        // Closed means recorded: every chunk is in the bucket.
        if let Some(uploads) = &self.uploads {
            uploads.close();
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl Drop for FileOutput {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::PayloadType;
    use std::path::PathBuf;

    fn msg(i: usize) -> Message {
        Message::new(
            PayloadType::Request,
            &format!("{i:024x}"),
            i as i64,
            0,
            format!("GET /{i} HTTP/1.1\r\n\r\n").into_bytes(),
        )
    }

    fn config() -> FileOutputConfig {
        FileOutputConfig::default()
    }

    #[test]
    fn config_defaults_are_the_flags_defaults() {
        assert_eq!(
            FileOutputConfig::from_settings(&Settings::defaults()).unwrap(),
            FileOutputConfig::default()
        );
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn count_records(path: PathBuf) -> usize {
        let data = std::fs::read(path).unwrap();
        memchr::memmem::find_iter(&data, crate::message::SEPARATOR).count()
    }

    fn write_n(template: &str, s: &FileOutputConfig, n: usize) {
        let out = FileOutput::open(template, s, &Shutdown::new()).unwrap();
        for i in 0..n {
            out.write(&msg(i)).unwrap();
        }
        out.close();
    }

    #[test]
    fn queue_limit_two_puts_the_third_record_in_the_next_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.queue_limit = 2;
        write_n(&format!("{}/r.gor", dir.path().display()), &s, 3);
        assert_eq!(files(dir.path()), ["r_0.gor", "r_1.gor"]);
        assert_eq!(count_records(dir.path().join("r_0.gor")), 2);
        assert_eq!(count_records(dir.path().join("r_1.gor")), 1);
        let dir = tempfile::tempdir().unwrap();
        s.queue_limit = 3;
        write_n(&format!("{}/r.gor", dir.path().display()), &s, 3);
        assert_eq!(files(dir.path()), ["r_0.gor"]);
    }

    #[test]
    fn size_limit_of_two_records_starts_a_chunk_at_the_third() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.queue_limit = 0;
        s.size_limit = (msg(0).record_len() * 2) as u64;
        write_n(&format!("{}/r.gor", dir.path().display()), &s, 3);
        assert_eq!(files(dir.path()), ["r_0.gor", "r_1.gor"]);
    }

    #[test]
    fn restart_continues_at_the_next_index() {
        let dir = tempfile::tempdir().unwrap();
        let template = format!("{}/r.gor", dir.path().display());
        write_n(&template, &config(), 1);
        write_n(&template, &config(), 1);
        assert_eq!(files(dir.path()), ["r_0.gor", "r_1.gor"]);
    }

    #[test]
    fn append_mode_appends_to_the_named_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.append = true;
        let template = format!("{}/r.gor", dir.path().display());
        write_n(&template, &s, 300);
        write_n(&template, &s, 2);
        assert_eq!(files(dir.path()), ["r.gor"]);
        assert_eq!(count_records(dir.path().join("r.gor")), 302);
    }

    #[test]
    fn gzip_output_is_complete_after_close_and_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.queue_limit = 0;
        write_n(&format!("{}/r.gz", dir.path().display()), &s, 200);
        assert_eq!(files(dir.path()), ["r_0.gz"]);
        let raw = std::fs::read(dir.path().join("r_0.gz")).unwrap();
        let mut text = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
        let expected: usize = (0..200).map(|i| msg(i).record_len()).sum();
        assert_eq!(text.len(), expected);
        assert!(raw.len() < expected);
    }

    #[test]
    fn per_request_template_gives_a_file_per_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.append = true;
        let out = FileOutput::open(
            &format!("{}/req-%r-%t.gor", dir.path().display()),
            &s,
            &Shutdown::new(),
        )
        .unwrap();
        let req = msg(1);
        let resp = Message::new(
            PayloadType::Response,
            &format!("{:024x}", 1),
            2,
            0,
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        );
        out.write(&req).unwrap();
        out.write(&resp).unwrap();
        out.write(&msg(2)).unwrap();
        out.close();
        assert_eq!(files(dir.path()).len(), 3);
    }

    #[test]
    fn seconds_token_starts_a_new_file_each_second() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.append = true;
        let out = FileOutput::open(
            &format!("{}/s-%S.gor", dir.path().display()),
            &s,
            &Shutdown::new(),
        )
        .unwrap();
        // Start right after a second boundary so two writes share a second.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        std::thread::sleep(Duration::from_nanos(
            1_000_000_000 - u64::from(now.subsec_nanos()),
        ));
        out.write(&msg(0)).unwrap();
        out.write(&msg(1)).unwrap();
        assert_eq!(files(dir.path()).len(), 1);
        std::thread::sleep(Duration::from_millis(1000));
        out.write(&msg(2)).unwrap();
        out.close();
        let names = files(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(
            count_records(dir.path().join(&names[0])) + count_records(dir.path().join(&names[1])),
            3
        );
    }

    #[test]
    fn max_size_limit_refuses_what_comes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.max_size = (msg(0).record_len() + 1) as u64;
        let out = FileOutput::open(
            &format!("{}/r.gor", dir.path().display()),
            &s,
            &Shutdown::new(),
        )
        .unwrap();
        out.write(&msg(0)).unwrap();
        // This one crosses the limit: it is written, as in GoReplay.
        out.write(&msg(1)).unwrap();
        assert!(out.write(&msg(2)).is_err());
        out.close();
        assert_eq!(count_records(dir.path().join("r_0.gor")), 2);
    }

    #[test]
    fn offered_records_are_all_on_disk_after_close() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::open(
            &format!("{}/r.gor", dir.path().display()),
            &config(),
            &Shutdown::new(),
        )
        .unwrap();
        for i in 0..1000 {
            out.offer(&msg(i)).unwrap();
        }
        out.close();
        let total: usize = files(dir.path())
            .iter()
            .map(|f| count_records(dir.path().join(f)))
            .sum();
        assert_eq!(total, 1000);
        assert!(out.offer(&msg(0)).is_err());
    }

    #[test]
    fn offer_drops_and_counts_when_the_disk_cannot_keep_up() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(
            &format!("{}/r.gor", dir.path().display()),
            &config(),
            &Shutdown::new(),
        )
        .unwrap();
        let before = stats::drop_counter("output_file.queue_full").get();
        // Hold the file: the writer thread stalls like on a stuck disk.
        let stuck = out.shared.lock().unwrap();
        let start = std::time::Instant::now();
        // Records of 1 MiB: the queue holds fewer than LIVE_QUEUE_BYTES / 1 MiB.
        let offered = LIVE_QUEUE_BYTES / (1 << 20) + 100;
        for i in 0..offered {
            let mut m = msg(i);
            m.data = vec![b'x'; 1 << 20].into();
            out.offer(&m).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(2), "offer waited");
        drop(stuck);
        let dropped = stats::drop_counter("output_file.queue_full").get() - before;
        assert!(dropped >= 99, "{dropped} dropped");
        out.close();
        let total: usize = files(dir.path())
            .iter()
            .map(|f| count_records(dir.path().join(f)))
            .sum();
        assert_eq!(total as u64 + dropped, offered as u64);
    }

    #[test]
    fn writes_after_close_fail() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::open(
            &format!("{}/r.gor", dir.path().display()),
            &config(),
            &Shutdown::new(),
        )
        .unwrap();
        out.close();
        assert!(out.write(&msg(0)).is_err());
    }

    #[test]
    fn flush_interval_puts_records_on_disk_without_close() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = config();
        s.flush_interval = Duration::from_millis(20);
        let out = FileOutput::open(
            &format!("{}/r.gor", dir.path().display()),
            &s,
            &Shutdown::new(),
        )
        .unwrap();
        for round in 1..=2 {
            out.write(&msg(round)).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            assert_eq!(
                count_records(dir.path().join("r_0.gor")),
                round,
                "round {round}"
            );
        }
        out.close();
    }

    #[test]
    fn missing_directory_fails_at_open_naming_the_path() {
        let err = FileOutput::open("/nonexistent-dir/x.gor", &config(), &Shutdown::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent-dir"), "{err}");
        assert!(err.contains("--output-file"), "{err}");
    }

    #[test]
    fn s3_template_without_a_key_is_refused_naming_the_flag() {
        let err = FileOutput::open("s3://bucket/", &config(), &Shutdown::new())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--output-file s3://bucket/"), "{err}");
    }
}
