//! The file under an uncompressed `--output-file`: records are gathered in
//! a large aligned buffer and written with `O_DIRECT`, past the page cache.
//!
//! Why: a capture host writes hundreds of megabytes a second. Through the
//! page cache, every 4 KB block costs the writer a copy plus the file
//! system's per-block bookkeeping (on ext4, delayed allocation: about half of
//! gor's CPU when capturing large POST bodies, see docs/performance.md),
//! and the recording evicts the production server's own cache. A direct
//! write of 16 MiB costs a fraction of that. Capture tools that record at
//! line rate write this way for the same reasons.
//!
//! Direct writes must start at aligned offsets and be whole blocks, so only
//! whole blocks go direct; the partial block at the end is written through
//! the page cache by `flush` (so a flushed file is complete and readable)
//! and kept in the buffer, to be written again, direct, once its block
//! fills. The kernel keeps the two paths coherent. Where `O_DIRECT` is not
//! supported (tmpfs on older kernels, some network file systems), it falls
//! back to ordinary writes of the whole buffer, for good.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Mutex;

/// Direct writes are multiples of this, at offsets that are (4096 covers
/// devices with 512-byte and 4 KB logical blocks).
const ALIGN: usize = 4096;
/// Bytes written per direct write: large writes keep the disk streaming
/// with few system calls (16 MiB took a third less system time than 4 MiB
/// when capturing large bodies; 1 MiB twice as much).
const CAPACITY: usize = 16 << 20;

pub struct DiskFile {
    /// The file opened with `O_DIRECT`; `None` once direct writes are not
    /// possible here.
    direct: Option<File>,
    /// The same file through the page cache: the partial last block, and
    /// everything when `direct` is `None`.
    cached: File,
    /// A regular file, written at offsets; a pipe or a device
    /// (`/dev/stdout`) is written in sequence.
    seekable: bool,
    window: Window,
    /// Bytes waiting in the window.
    len: usize,
    /// Where in the file the window's first byte goes (aligned while
    /// `direct` is `Some`).
    offset: u64,
}

impl DiskFile {
    /// Opens (or creates) `name` to write after what it already holds:
    /// recorded traffic is never truncated.
    pub fn open(name: &str) -> io::Result<DiskFile> {
        let mut options = OpenOptions::new();
        options.create(true).write(true).mode(0o660);
        // Reading is needed only to take up a partial last block when
        // appending; without it, writes go through the page cache.
        let (cached, readable) = match options.clone().read(true).open(name) {
            Ok(f) => (f, true),
            Err(_) => (options.open(name)?, false),
        };
        let meta = cached.metadata()?;
        let seekable = meta.is_file();
        let size = if seekable { meta.len() } else { 0 };
        let direct = if readable && seekable {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(name)
                .ok()
        } else {
            None
        };
        let mut file = DiskFile {
            direct,
            cached,
            seekable,
            window: Window::new()?,
            len: 0,
            offset: size,
        };
        if file.direct.is_some() {
            let tail = (size % ALIGN as u64) as usize;
            file.offset = size - tail as u64;
            let window = &mut file.window.bytes_mut()[..tail];
            if file.cached.read_exact_at(window, file.offset).is_ok() {
                file.len = tail;
            } else {
                file.direct = None;
                file.offset = size;
            }
        }
        Ok(file)
    }

    /// Makes room in the window for `n` more bytes, writing its whole blocks
    /// if needed, so that a record is either taken whole or, when the
    /// write fails (a full disk), not at all: a half-taken record would be
    /// glued to the next one.
    pub fn make_room(&mut self, n: usize) -> io::Result<()> {
        if CAPACITY - self.len < n {
            self.write_blocks()?;
        }
        Ok(())
    }

    /// Writes the whole blocks of the window (everything, without
    /// `O_DIRECT`) and moves what is left to its front.
    fn write_blocks(&mut self) -> io::Result<()> {
        let whole = match self.direct {
            Some(_) => self.len - self.len % ALIGN,
            None => self.len,
        };
        if whole == 0 {
            return Ok(());
        }
        let data = &self.window.bytes()[..whole];
        match &self.direct {
            Some(direct) => match direct.write_all_at(data, self.offset) {
                Ok(()) => {}
                // The file system refuses direct writes: the page cache it is.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.direct = None;
                    return self.write_blocks();
                }
                Err(e) => return Err(e),
            },
            None if self.seekable => self.cached.write_all_at(data, self.offset)?,
            None => (&self.cached).write_all(data)?,
        }
        self.window.bytes_mut().copy_within(whole..self.len, 0);
        self.offset += whole as u64;
        self.len -= whole;
        Ok(())
    }
}

/// The buffer direct writes are made from: `CAPACITY` bytes of their own
/// mapping, aligned to 2 MiB and in huge pages where the kernel gives them,
/// so that a 16 MiB write pins 8 pages instead of 4,096 (pinning was
/// a fifth of the writer's CPU).
struct Window {
    map: *mut libc::c_void,
    map_len: usize,
    start: *mut u8,
}

/// Huge page size on x86-64 and arm64 (4 KB base pages).
const HUGE: usize = 2 << 20;

// SAFETY: the mapping is owned by the Window alone, like a Vec's buffer.
unsafe impl Send for Window {}

/// Windows of closed files, kept for the next file: chunked output (32 MiB
/// files by default) would otherwise map and clear 16 MiB for every chunk.
static SPARE: Spares = Spares(Mutex::new(Vec::new()));
/// Windows kept at most.
const SPARES: usize = 1;

struct Spares(Mutex<Vec<Window>>);

impl Spares {
    fn take(&self) -> Option<Window> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Kept for the next file, or unmapped.
    fn put(&self, window: Window) {
        if window.map_len == 0 {
            return;
        }
        let mut spare = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARES {
            spare.push(window);
        }
    }
}

impl Window {
    /// A placeholder that owns nothing.
    fn none() -> Window {
        Window {
            map: std::ptr::null_mut(),
            map_len: 0,
            start: std::ptr::null_mut(),
        }
    }

    fn new() -> io::Result<Window> {
        if let Some(w) = SPARE.take() {
            return Ok(w);
        }
        Self::map()
    }

    fn map() -> io::Result<Window> {
        let map_len = CAPACITY + HUGE;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let skip = (map as *mut u8).align_offset(HUGE).min(HUGE);
        // SAFETY: `skip` < HUGE, so CAPACITY bytes from it lie in the mapping.
        let start = unsafe { (map as *mut u8).add(skip) };
        // Only a hint: without huge pages everything works, pinning costs more.
        // SAFETY: advising a range inside our own mapping.
        unsafe { libc::madvise(start.cast(), CAPACITY, libc::MADV_HUGEPAGE) };
        Ok(Window {
            map,
            map_len,
            start,
        })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: CAPACITY bytes from `start` are mapped, readable and owned
        // by self (anonymous memory reads as zeros until written).
        unsafe { std::slice::from_raw_parts(self.start, CAPACITY) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.start, CAPACITY) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // SAFETY: unmapping the mapping made in `new`, used by nothing else.
            unsafe { libc::munmap(self.map, self.map_len) };
        }
    }
}

impl Write for DiskFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len == CAPACITY {
            self.write_blocks()?;
        }
        let n = data.len().min(CAPACITY - self.len);
        let at = self.len;
        self.window.bytes_mut()[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    /// Puts everything written so far in the file: whole blocks direct, the
    /// partial last one through the page cache (it stays in the window).
    fn flush(&mut self) -> io::Result<()> {
        self.write_blocks()?;
        if self.len > 0 {
            let tail = &self.window.bytes()[..self.len];
            self.cached.write_all_at(tail, self.offset)?;
        }
        Ok(())
    }
}

impl Drop for DiskFile {
    fn drop(&mut self) {
        let _ = self.flush();
        SPARE.put(std::mem::replace(&mut self.window, Window::none()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes whose position can be checked: a byte per index.
    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    /// A file name in a fresh temporary directory (kept while the guard lives).
    fn temp_name() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().join("out.gor").to_str().unwrap().to_string();
        (dir, name)
    }

    fn write_in_pieces(f: &mut DiskFile, data: &[u8], piece: usize) {
        for part in data.chunks(piece) {
            f.write_all(part).unwrap();
        }
    }

    #[test]
    fn everything_written_is_in_the_file_after_flush_in_order() {
        let (_dir, name) = temp_name();
        let name = name.as_str();
        // Three windows and a bit, in pieces that never line up with blocks.
        let data = pattern(3 * CAPACITY + 12_345, 7);
        let mut f = DiskFile::open(name).unwrap();
        write_in_pieces(&mut f, &data, 70_001);
        f.flush().unwrap();
        assert_eq!(std::fs::read(name).unwrap(), data);
        // More after a flush continues exactly where the file ends.
        let more = pattern(9_000, 3);
        f.write_all(&more).unwrap();
        drop(f);
        let mut all = data;
        all.extend_from_slice(&more);
        assert_eq!(std::fs::read(name).unwrap(), all);
    }

    #[test]
    fn opening_an_existing_file_appends_after_its_unaligned_end() {
        let (_dir, name) = temp_name();
        let name = name.as_str();
        let first = pattern(ALIGN * 3 + 17, 1);
        std::fs::write(name, &first).unwrap();
        let second = pattern(CAPACITY + 5, 2);
        let mut f = DiskFile::open(name).unwrap();
        write_in_pieces(&mut f, &second, 1 << 20);
        drop(f);
        let mut all = first;
        all.extend_from_slice(&second);
        assert_eq!(std::fs::read(name).unwrap(), all);
    }

    #[test]
    fn a_flushed_partial_block_is_rewritten_in_place_not_repeated() {
        let (_dir, name) = temp_name();
        let name = name.as_str();
        let mut f = DiskFile::open(name).unwrap();
        let mut all = Vec::new();
        // Many flushes inside one block and across block boundaries.
        for i in 0..50u8 {
            let part = pattern(1_000 + i as usize * 97, i);
            f.write_all(&part).unwrap();
            f.flush().unwrap();
            all.extend_from_slice(&part);
            assert_eq!(std::fs::read(name).unwrap(), all);
        }
    }

    #[test]
    fn closed_windows_are_kept_for_the_next_file_up_to_a_limit() {
        let spares = Spares(Mutex::new(Vec::new()));
        let windows: Vec<Window> = (0..SPARES + 1).map(|_| Window::map().unwrap()).collect();
        let first = windows[0].start;
        for w in windows {
            spares.put(w);
        }
        spares.put(Window::none());
        assert_eq!(spares.0.lock().unwrap().len(), SPARES);
        let taken: Vec<*mut u8> = std::iter::from_fn(|| spares.take())
            .map(|w| w.start)
            .collect();
        assert!(taken.contains(&first));
        assert_eq!(taken.len(), SPARES);
    }

    #[test]
    fn a_pipe_is_written_in_sequence() {
        let (mut reader, writer) = std::io::pipe().unwrap();
        let name = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&writer));
        let data = pattern(CAPACITY + 1_000, 5);
        let expected = data.clone();
        let read = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut got).unwrap();
            got
        });
        let mut f = DiskFile::open(&name).unwrap();
        drop(writer);
        write_in_pieces(&mut f, &data, 70_001);
        f.flush().unwrap();
        drop(f);
        assert_eq!(read.join().unwrap(), expected);
    }

    #[test]
    fn without_direct_writes_everything_goes_through_the_page_cache() {
        let (_dir, name) = temp_name();
        let name = name.as_str();
        let mut f = DiskFile::open(name).unwrap();
        f.direct = None;
        let data = pattern(2 * CAPACITY + 333, 9);
        write_in_pieces(&mut f, &data, 100_003);
        f.flush().unwrap();
        assert_eq!(std::fs::read(name).unwrap(), data);
    }
}
