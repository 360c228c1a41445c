//! Splitting a byte stream into records, incrementally and with bounded
//! memory, whatever the stream's size: files (`--input-file`) and relayed
//! connections (`--input-tcp`) use the same format, `Meta ‖ Data ‖ SEP`.
//!
//! GoReplay reads `\n`-terminated lines and ends a record at a line that is
//! exactly the 13 bytes `🐵🙈🙉\n`; the `\n` before that line belongs to the
//! separator and is removed. We find the same boundaries with a substring
//! search for the separator line plus a check that it starts a line, which
//! gives identical results and runs at memory speed.
//!
//! Records are cut out of large read chunks without copying (`Bytes` slices
//! share the chunk); a chunk is freed once every record cut from it is gone.
//!
//! Damage does not stop the file: bytes between records that are not a record
//! (garbage) are skipped up to the next line that looks like a header; a
//! record without a usable header, and an unterminated tail at the end of the
//! file, are skipped. Each kind is counted and reported once.

use crate::message::{Message, SEPARATOR_LINE};
use crate::stats::{self, Counter};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

/// How much is read from a file at a time: small enough to stay in the CPU
/// cache while it is parsed.
pub const READ_CHUNK: usize = 128 * 1024;

/// Read buffers kept for reuse (reusing them avoids fresh pages, which cost
/// more than the copy from the page cache).
const POOL_SIZE: usize = 64;

/// One parsed record with its ordering key.
#[derive(Debug, Clone)]
pub struct Record {
    /// The header's timestamp (ns); unparsable gives 0, as in GoReplay.
    pub timestamp: i64,
    pub message: Message,
}

/// The counters of damaged data, shared by every input of one kind.
#[derive(Clone)]
pub struct Damage {
    /// The flag that names the input in logs (`input-file`).
    flag: &'static str,
    malformed: Counter,
    garbage: Counter,
    truncated: Counter,
    pub read_errors: Counter,
}

impl Damage {
    /// The counters of `--input-file`.
    pub fn counters() -> Damage {
        Damage::for_input("input-file")
    }

    /// The counters of the input named by `flag` (`input-tcp` counts as
    /// `input_tcp.malformed_records`, ...).
    pub fn for_input(flag: &'static str) -> Damage {
        let prefix = flag.replace('-', "_");
        let count = |what: &str| stats::drop_counter(&format!("{prefix}.{what}"));
        Damage {
            flag,
            malformed: count("malformed_records"),
            garbage: count("garbage_skipped"),
            truncated: count("truncated_tail"),
            read_errors: count("read_errors"),
        }
    }
}

/// Buffers that come back once every record cut from them is gone.
#[derive(Default)]
struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    fn take(&self, min_len: usize) -> Vec<u8> {
        if min_len <= READ_CHUNK
            && let Some(v) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop()
        {
            return v;
        }
        vec![0; min_len.max(READ_CHUNK)]
    }
}

/// A read buffer shared by the records cut from it; returns to the pool
/// when the last one is dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<Pool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if self.buf.len() == READ_CHUNK {
            let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.len() < POOL_SIZE {
                free.push(std::mem::take(&mut self.buf));
            }
        }
    }
}

/// Reads a stream (a file, or a gzip decoder over one) in large chunks, on
/// the file's own thread: the copy of the data out of the kernel is the one
/// cost that cannot be avoided, so it runs beside the parsing.
pub struct ChunkReader<R> {
    source: R,
    name: String,
    pool: Arc<Pool>,
    chunk_len: usize,
    done: bool,
    bytes_read: u64,
    damage: Damage,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(source: R, name: impl Into<String>, damage: Damage) -> Self {
        Self::with_chunk_len(source, name, damage, READ_CHUNK)
    }

    pub(crate) fn with_chunk_len(
        source: R,
        name: impl Into<String>,
        damage: Damage,
        len: usize,
    ) -> Self {
        ChunkReader {
            source,
            name: name.into(),
            pool: Arc::new(Pool::default()),
            chunk_len: len,
            done: false,
            bytes_read: 0,
            damage,
        }
    }

    /// Bytes read from the stream so far (after decompression).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next chunk (full, unless the stream ends); `None` at the end.
    /// A read error ends the stream, counted and reported once.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut buf = self.pool.take(self.chunk_len);
        let want = self.chunk_len.min(buf.len());
        let mut filled = 0;
        while filled < want {
            match self.source.read(&mut buf[filled..want]) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.damage.read_errors.drop_one(&format_args!(
                        "--{} {}: read error after {} bytes, the rest of the file is skipped: {e}",
                        self.damage.flag,
                        self.name,
                        self.bytes_read + filled as u64
                    ));
                    self.done = true;
                    break;
                }
            }
        }
        self.bytes_read += filled as u64;
        if filled == 0 {
            return None;
        }
        Some(
            Bytes::from_owner(Pooled {
                buf,
                pool: self.pool.clone(),
            })
            .slice(..filled),
        )
    }
}

/// Cuts records out of a file's chunks, in order. Records that lie within
/// a chunk are slices of it (no copy); only a record that spans two chunks
/// is copied, into `carry`.
pub struct Splitter {
    name: String,
    /// The start of a record whose end is in a later chunk.
    carry: Vec<u8>,
    /// Longest record kept whole; see [`Splitter::new`].
    max_record: usize,
    /// Once a record outgrows `max_record`: its last bytes, where its end
    /// is looked for (`carry` keeps its first `max_record` bytes).
    window: Option<Vec<u8>>,
    /// Where `window` starts in its record: the record's true end, when
    /// found, can fall short of the `max_record` bytes carried.
    window_base: usize,
    damage: Damage,
    /// Damaged records this splitter skipped or repaired.
    damaged: std::cell::Cell<u64>,
    finder: memchr::memmem::Finder<'static>,
}

impl Splitter {
    /// Records longer than `max_record` keep only their first `max_record`
    /// bytes, so a file without separators (or a huge body) cannot use
    /// unbounded memory. Give at least `--copy-buffer-size` plus room for the
    /// header: the emitter cuts payloads to that size anyway, so nothing a
    /// user would see changes.
    pub fn new(name: impl Into<String>, damage: Damage, max_record: usize) -> Self {
        Splitter {
            name: name.into(),
            carry: Vec::new(),
            max_record,
            window: None,
            window_base: 0,
            damage,
            damaged: std::cell::Cell::new(0),
            finder: memchr::memmem::Finder::new(SEPARATOR_LINE),
        }
    }

    /// True while the start of a record waits for its end.
    pub fn holds_partial(&self) -> bool {
        !self.carry.is_empty() || self.window.is_some()
    }

    /// How many damaged records (garbage, a bad header) this stream had:
    /// a connection that sends them is not speaking the record format.
    pub fn damaged(&self) -> u64 {
        self.damaged.get()
    }

    /// Adds the records that `chunk` completes to `out`.
    pub fn push(&mut self, chunk: &Bytes, out: &mut VecDeque<Record>) {
        let mut off = 0;
        if !self.carry.is_empty() {
            match self.finish_carried(chunk, out) {
                Some(next) => off = next,
                None => return,
            }
        }
        let mut start = off;
        let mut scan = off;
        while let Some(rel) = self.finder.find(&chunk[scan..]) {
            let pos = scan + rel;
            if pos > start && chunk[pos - 1] != b'\n' {
                // The monkeys in the middle of a line are payload.
                scan = pos + 1;
                continue;
            }
            // The `\n` before the separator line is part of the separator.
            let end = if pos > start { pos - 1 } else { pos };
            self.take_slice(chunk, start, end, out);
            start = pos + SEPARATOR_LINE.len();
            scan = start;
        }
        self.carry.extend_from_slice(&chunk[start..]);
        self.limit_carry();
    }

    /// Completes the carried record with the start of `chunk`, copying as
    /// little as possible. Returns where the next record starts in `chunk`,
    /// or `None` if the whole chunk belongs to the carried record.
    fn finish_carried(&mut self, chunk: &Bytes, out: &mut VecDeque<Record>) -> Option<usize> {
        let mut off = 0;
        loop {
            let piece_end = match self.finder.find(&chunk[off..]) {
                Some(q) => (off + q + SEPARATOR_LINE.len()).min(chunk.len()),
                None => chunk.len(),
            };
            let piece = &chunk[off..piece_end];
            off = piece_end;
            let search = self.window.as_mut().unwrap_or(&mut self.carry);
            // A separator may begin in what was carried: search its last bytes too.
            let from = search.len().saturating_sub(SEPARATOR_LINE.len() - 1);
            search.extend_from_slice(piece);
            if let Some(pos) = record_end(&self.finder, search, from) {
                let excess = search.len() - (pos + SEPARATOR_LINE.len());
                let mut body = std::mem::take(&mut self.carry);
                let base = if self.window.take().is_some() {
                    self.window_base
                } else {
                    0
                };
                let end = base + if pos > 0 { pos - 1 } else { pos };
                body.truncate(end.min(self.max_record));
                self.take_record(Bytes::from(body), out);
                return Some(off - excess);
            }
            self.limit_carry();
            if off == chunk.len() {
                return None;
            }
        }
    }

    /// Keeps the carried record within `max_record` bytes, and only the last
    /// bytes of an oversized one for finding its end.
    fn limit_carry(&mut self) {
        const KEEP: usize = SEPARATOR_LINE.len() + 1;
        if let Some(w) = self.window.as_mut() {
            if w.len() > KEEP {
                self.window_base += w.len() - KEEP;
                w.drain(..w.len() - KEEP);
            }
        } else if self.carry.len() > self.max_record {
            self.window_base = self.carry.len().saturating_sub(KEEP);
            self.window = Some(self.carry[self.window_base..].to_vec());
            self.carry.truncate(self.max_record);
        }
    }

    /// At the end of the file: a final separator missing only its last
    /// `\n` still ends a record; anything else left over is an unterminated
    /// record, skipped and counted (GoReplay drops it silently).
    pub fn finish(&mut self, out: &mut VecDeque<Record>) {
        let mut tail = std::mem::take(&mut self.carry);
        let window = self.window.take();
        let end = window.as_deref().unwrap_or(&tail);
        let cut = &SEPARATOR_LINE[..SEPARATOR_LINE.len() - 1];
        if end.ends_with(cut) {
            let pos = end.len() - cut.len();
            if pos == 0 || end[pos - 1] == b'\n' {
                let base = if window.is_some() {
                    self.window_base
                } else {
                    0
                };
                tail.truncate(base + pos.saturating_sub(1));
                self.take_record(Bytes::from(tail), out);
                return;
            }
        }
        if tail.iter().any(|b| !b.is_ascii_whitespace()) {
            self.damage.truncated.drop_one(&format_args!(
                "--{} {}: the data ends inside a record ({} bytes after the last separator); that record is skipped",
                self.damage.flag,
                self.name,
                tail.len()
            ));
        }
    }

    /// `chunk[start..end]` as a record: an intact one becomes two slices
    /// of the chunk directly (no intermediate slice to count and drop).
    /// A record longer than `max_record` keeps its first `max_record`
    /// bytes here too, as one carried over from an earlier chunk does:
    /// the same bytes give the same records however they were read.
    fn take_slice(&self, chunk: &Bytes, start: usize, end: usize, out: &mut VecDeque<Record>) {
        let end = end.min(start.saturating_add(self.max_record));
        let body = &chunk[start..end];
        if let Some((nl, timestamp)) = scan_header(body)
            && nl + 1 < body.len()
        {
            let message = Message::from_parts(
                chunk.slice(start..start + nl + 1),
                chunk.slice(start + nl + 1..end),
            );
            out.push_back(Record { timestamp, message });
            return;
        }
        self.take_record(chunk.slice(start..end), out);
    }

    fn take_record(&self, body: Bytes, out: &mut VecDeque<Record>) {
        match recover_record(body) {
            Recovered::Intact(message, timestamp) => out.push_back(Record { timestamp, message }),
            Recovered::AfterGarbage(message, skipped) => {
                self.damaged.set(self.damaged.get() + 1);
                self.damage.garbage.drop_one(&format_args!(
                    "--{} {}: skipped {skipped} bytes that are not a record before a record",
                    self.damage.flag, self.name
                ));
                out.push_back(record(message));
            }
            Recovered::Malformed => {
                self.damaged.set(self.damaged.get() + 1);
                self.damage.malformed.drop_one(&format_args!(
                    "--{} {}: skipped a record without a valid header line",
                    self.damage.flag, self.name
                ));
            }
        }
    }
}

/// The first separator line in `buf` at or after `from` that starts a line.
fn record_end(finder: &memchr::memmem::Finder<'_>, buf: &[u8], mut from: usize) -> Option<usize> {
    while let Some(rel) = finder.find(&buf[from..]) {
        let pos = from + rel;
        if pos == 0 || buf[pos - 1] == b'\n' {
            return Some(pos);
        }
        from = pos + 1;
    }
    None
}

fn record(message: Message) -> Record {
    Record {
        timestamp: message.timestamp(),
        message,
    }
}

#[derive(Debug)]
enum Recovered {
    Intact(Message, i64),
    /// The record, and how many bytes of garbage before it were skipped.
    AfterGarbage(Message, usize),
    Malformed,
}

/// Decides what a record body holds. A body whose first line is a proper
/// header is a record. Otherwise, if a later line is a proper header, what
/// precedes it is garbage (say, a half-written record glued to the next one)
/// and the record starts there. Failing that, GoReplay's loose rule applies:
/// any first line with at least 3 space-separated fields is a header.
fn recover_record(body: Bytes) -> Recovered {
    // The common case, in one pass over the header line.
    if let Some(nl) = memchr::memchr(b'\n', &body)
        && let Some(ts) = header_timestamp(&body[..nl])
    {
        if nl + 1 == body.len() {
            return Recovered::Malformed;
        }
        let message = Message::from_parts(body.slice(..=nl), body.slice(nl + 1..));
        return Recovered::Intact(message, ts);
    }
    let mut at = 0;
    while let Some(nl) = memchr::memchr(b'\n', &body[at..]) {
        at += nl + 1;
        if is_strict_header(line_at(&body, at)) {
            let message = Message::from_record(body.slice(at..));
            if message.is_well_formed() {
                return Recovered::AfterGarbage(message, at);
            }
            break;
        }
    }
    let message = Message::from_record(body);
    if message.is_well_formed() {
        let ts = message.timestamp();
        Recovered::Intact(message, ts)
    } else {
        Recovered::Malformed
    }
}

/// The line starting at `at`, without its `\n` (empty if none follows:
/// a header line must be followed by a payload).
fn line_at(body: &[u8], at: usize) -> &[u8] {
    let rest = &body[at..];
    match memchr::memchr(b'\n', rest) {
        Some(nl) => &rest[..nl],
        None => b"",
    }
}

/// `<1|2|3> <id> <timestamp>[ <latency>]` with numeric timestamp and latency:
/// what gor and GoReplay write.
fn is_strict_header(line: &[u8]) -> bool {
    header_timestamp(line).is_some()
}

/// The timestamp of a proper header line (see [`is_strict_header`]).
pub fn header_timestamp(line: &[u8]) -> Option<i64> {
    let [b'1' | b'2' | b'3', b' ', rest @ ..] = line else {
        return None;
    };
    // The id: any non-empty token.
    let id_len = memchr::memchr(b' ', rest)?;
    if id_len == 0 {
        return None;
    }
    let rest = &rest[id_len + 1..];
    // A space inside the latency makes it fail to parse: no fifth field.
    match memchr::memchr(b' ', rest) {
        Some(sp) => {
            parse_integer(&rest[sp + 1..])?;
            parse_integer(&rest[..sp])
        }
        None => parse_integer(rest),
    }
}

/// The common case of [`header_timestamp`] in one pass over the start of a
/// record: `<1|2|3> <id> <digits>[ <digits>]\n`, giving where the line
/// ends and the timestamp. `None` for anything else (more than 19 digits,
/// no `\n`), which the general path then judges.
fn scan_header(body: &[u8]) -> Option<(usize, i64)> {
    let [b'1' | b'2' | b'3', b' ', ..] = body else {
        return None;
    };
    let mut i = 2;
    while *body.get(i)? != b' ' {
        if body[i] == b'\n' {
            return None;
        }
        i += 1;
    }
    if i == 2 {
        return None;
    }
    i += 1;
    let (ts, len) = scan_integer(body.get(i..)?)?;
    i += len;
    if *body.get(i)? == b' ' {
        i += 1;
        let (_, len) = scan_integer(body.get(i..)?)?;
        i += len;
    }
    (*body.get(i)? == b'\n').then_some((i, ts))
}

/// A leading integer (an optional `-`, then 1 to 19 digits: no overflow in
/// a u64) that is an i64, and how many bytes it takes.
fn scan_integer(s: &[u8]) -> Option<(i64, usize)> {
    let negative = s.first() == Some(&b'-');
    let from = usize::from(negative);
    let mut v: u64 = 0;
    let mut n = 0;
    while let Some(d) = s.get(from + n).map(|b| b.wrapping_sub(b'0'))
        && d <= 9
    {
        if n == 19 {
            return None;
        }
        v = v * 10 + u64::from(d);
        n += 1;
    }
    if n == 0 {
        return None;
    }
    let v = if negative {
        // -2^63 is the one value whose magnitude is not an i64.
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())?
    } else {
        i64::try_from(v).ok()?
    };
    Some((v, from + n))
}

/// A decimal integer with an optional `-`, without overflow.
fn parse_integer(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, field),
    };
    if digits.is_empty() {
        return None;
    }
    if let Some((v, len)) = scan_integer(field)
        && len == field.len()
    {
        return Some(v);
    }
    let mut v: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if negative { Some(v) } else { v.checked_neg() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SEPARATOR;

    /// The field rule as first written (split on single spaces), to check
    /// the hand-written parser against.
    fn reference_header_timestamp(line: &[u8]) -> Option<i64> {
        let mut fields = line.split(|b| *b == b' ');
        if !matches!(fields.next(), Some([b'1' | b'2' | b'3'])) {
            return None;
        }
        if fields.next().is_none_or(|id| id.is_empty()) {
            return None;
        }
        let ts = reference_parse_integer(fields.next()?)?;
        if let Some(latency) = fields.next() {
            reference_parse_integer(latency)?;
        }
        fields.next().is_none().then_some(ts)
    }

    fn reference_parse_integer(field: &[u8]) -> Option<i64> {
        let (negative, digits) = match field.strip_prefix(b"-") {
            Some(d) => (true, d),
            None => (false, field),
        };
        if digits.is_empty() {
            return None;
        }
        let mut v: i64 = 0;
        for d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
        }
        if negative { Some(v) } else { v.checked_neg() }
    }

    #[test]
    fn header_fast_path_agrees_with_the_general_rule() {
        let mut lines: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..7 {
            last = last
                .iter()
                .flat_map(|l: &Vec<u8>| {
                    b"12a -0\n".iter().map(move |c| {
                        let mut v = l.clone();
                        v.push(*c);
                        v
                    })
                })
                .collect();
            lines.extend(last.iter().cloned());
        }
        for n in [
            "9223372036854775807",
            "9223372036854775808",
            "9999999999999999999",
            "18446744073709551616",
            "00000000000000000001",
            "1700000000000000000",
        ] {
            lines.push(format!("1 id {n} 0\nGET").into_bytes());
            lines.push(format!("2 id 5 {n}\nGET").into_bytes());
            lines.push(format!("2 id {n}\nGET").into_bytes());
            lines.push(format!("1 id -{n} -{n}\nGET").into_bytes());
        }
        for body in &lines {
            let expected = memchr::memchr(b'\n', body)
                .and_then(|nl| Some((nl, header_timestamp(&body[..nl])?)));
            if let Some(got) = scan_header(body) {
                assert_eq!(Some(got), expected, "{:?}", String::from_utf8_lossy(body));
            }
        }
        assert_eq!(
            scan_header(b"2 0123456789abcdef01234567 1700000000000000000 250000\nHTTP"),
            Some((53, 1_700_000_000_000_000_000))
        );
    }

    #[test]
    fn parse_integer_takes_every_i64_and_nothing_more() {
        for field in [
            "0",
            "-0",
            "7",
            "-7",
            "999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "9999999999999999999",
            "-9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "00000000000000000000042",
            "-00000000000000000000042",
            "1700000000000000000",
            "12a",
            "--1",
            "-",
            "",
            "1 ",
        ] {
            assert_eq!(
                parse_integer(field.as_bytes()),
                reference_parse_integer(field.as_bytes()),
                "{field:?}"
            );
        }
    }

    #[test]
    fn header_timestamp_follows_the_single_space_field_rule() {
        // Every line of up to 6 bytes over an alphabet that hits each branch.
        let alphabet = b"12a -0";
        let mut lines: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = lines
                .iter()
                .filter(|l| l.len() == lines.last().map_or(0, |x| x.len()))
                .flat_map(|l| {
                    alphabet.iter().map(move |c| {
                        let mut v = l.clone();
                        v.push(*c);
                        v
                    })
                })
                .collect();
            lines.extend(longer);
        }
        for line in lines.iter().chain(&[
            b"1 a 5 0 ".to_vec(),
            b"3 abc 123 -45".to_vec(),
            b"2 id 1700000000000000000 250000".to_vec(),
            b"1 id 99999999999999999999 0".to_vec(),
        ]) {
            assert_eq!(
                header_timestamp(line),
                reference_header_timestamp(line),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    fn parse_with_step(data: &[u8], step: usize) -> Vec<Record> {
        parse_capped(data, step, usize::MAX)
    }

    fn parse_capped(data: &[u8], step: usize, max_record: usize) -> Vec<Record> {
        let damage = Damage::counters();
        let mut reader = ChunkReader::with_chunk_len(data, "test", damage.clone(), step);
        let mut splitter = Splitter::new("test", damage, max_record);
        let mut out = VecDeque::new();
        while let Some(chunk) = reader.next_chunk() {
            splitter.push(&chunk, &mut out);
        }
        splitter.finish(&mut out);
        out.into()
    }

    fn parse(data: &[u8]) -> Vec<Record> {
        parse_with_step(data, READ_CHUNK)
    }

    fn rec(meta: &str, data: &[u8]) -> Vec<u8> {
        let mut v = meta.as_bytes().to_vec();
        v.extend_from_slice(data);
        v.extend_from_slice(SEPARATOR);
        v
    }

    fn file() -> Vec<u8> {
        let mut f = rec("1 a1 100 0\n", b"GET / HTTP/1.1\r\n\r\n");
        f.extend(rec(
            "2 a1 150 7\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        ));
        f.extend(rec("1 b2 250\n", b"POST / HTTP/1.1\r\n\r\nline\nline\n"));
        f
    }

    #[test]
    fn records_split_at_separator_lines_and_lose_one_newline() {
        let out = parse(&file());
        assert_eq!(out.len(), 3);
        assert_eq!(&out[0].message.meta[..], b"1 a1 100 0\n");
        assert_eq!(&out[0].message.data[..], b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(out[1].timestamp, 150);
        assert_eq!(
            &out[1].message.data[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        );
        assert_eq!(&out[2].message.meta[..], b"1 b2 250\n");
        assert_eq!(
            &out[2].message.data[..],
            b"POST / HTTP/1.1\r\n\r\nline\nline\n"
        );
    }

    #[test]
    fn record_split_across_reads_at_every_offset_is_the_same_record() {
        let mut data = file();
        data.extend(rec("1 m 400 0\n", "x🐵🙈🙉\n🐵🙈🙉x\n".as_bytes()));
        data.extend(file());
        let whole = parse(&data);
        for step in 1..40 {
            let out = parse_with_step(&data, step);
            assert_eq!(out.len(), whole.len(), "step {step}");
            for (a, b) in out.iter().zip(&whole) {
                assert_eq!(a.message, b.message, "step {step}");
            }
        }
    }

    #[test]
    fn records_spanning_read_buffers_and_larger_than_a_buffer_are_whole() {
        let mut data = Vec::new();
        let mut expected = Vec::new();
        let mut sizes: Vec<usize> = (0..200).map(|i| 1 + (i * 7919) % 40_000).collect();
        sizes.insert(50, READ_CHUNK * 2 + 123);
        sizes.insert(120, READ_CHUNK - 20);
        for (i, size) in sizes.iter().enumerate() {
            let body: Vec<u8> = (0..*size).map(|j| b'a' + ((i + j) % 26) as u8).collect();
            data.extend(rec(&format!("1 id{i} {i} 0\n"), &body));
            expected.push(body);
        }
        let out = parse(&data);
        assert_eq!(out.len(), expected.len());
        for (i, (r, body)) in out.iter().zip(&expected).enumerate() {
            assert_eq!(r.timestamp, i as i64);
            assert_eq!(&r.message.data[..], &body[..], "record {i}");
        }
    }

    #[test]
    fn record_longer_than_the_cap_keeps_its_start_and_the_next_records_survive() {
        let huge: Vec<u8> = (0..10_000).map(|i| b'a' + (i % 26) as u8).collect();
        let mut data = rec("1 a 1 0\n", b"GET /a HTTP/1.1\r\n\r\n");
        data.extend(rec("1 b 2 0\n", &huge));
        data.extend(rec("1 c 3 0\n", b"GET /c HTTP/1.1\r\n\r\n"));
        let mut last = data.clone();
        last.extend(rec("1 d 4 0\n", &huge));
        last.pop();
        for step in [1, 7, 13, 14, 500, 999, 1000, 1001, 4096, READ_CHUNK] {
            let out = parse_capped(&data, step, 1000);
            let ids: Vec<_> = out.iter().map(|r| r.message.id().to_vec()).collect();
            assert_eq!(
                ids,
                [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
                "step {step}"
            );
            let cut = &out[1].message;
            assert!(
                cut.meta.len() + cut.data.len() <= 1000 + step,
                "step {step}"
            );
            assert!(cut.data.len() >= 900, "step {step}");
            assert!(huge.starts_with(&cut.data), "step {step}");
            assert_eq!(
                &out[2].message.data[..],
                b"GET /c HTTP/1.1\r\n\r\n",
                "step {step}"
            );
            // An oversized last record whose final newline is missing.
            assert_eq!(parse_capped(&last, step, 1000).len(), 4, "step {step}");
        }
    }

    #[test]
    fn monkeys_inside_a_line_are_payload() {
        let payload = "x🐵🙈🙉\nmore".as_bytes();
        let out = parse(&rec("1 a 1 0\n", payload));
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].message.data[..], payload);
    }

    #[test]
    fn garbage_between_records_is_skipped_and_the_next_record_survives() {
        let mut data = rec("1 a 1 0\n", b"GET /a HTTP/1.1\r\n\r\n");
        data.extend_from_slice(b"\x00\x01 garbage here\nmore junk\n");
        data.extend(rec("1 b 2 0\n", b"GET /b HTTP/1.1\r\n\r\n"));
        let skipped = stats::drop_counter("input_file.garbage_skipped").get();
        let out = parse(&data);
        let ids: Vec<_> = out.iter().map(|r| r.message.id().to_vec()).collect();
        assert_eq!(ids, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(&out[1].message.data[..], b"GET /b HTTP/1.1\r\n\r\n");
        assert!(stats::drop_counter("input_file.garbage_skipped").get() > skipped);
    }

    #[test]
    fn cut_off_last_record_is_skipped_and_counted() {
        let mut data = file();
        data.extend_from_slice(b"1 c 300 0\nGET /cut HTTP/1.1\r\nHo");
        let before = stats::drop_counter("input_file.truncated_tail").get();
        let out = parse(&data);
        assert_eq!(out.len(), 3);
        assert!(stats::drop_counter("input_file.truncated_tail").get() > before);
    }

    #[test]
    fn final_separator_without_its_last_newline_still_ends_the_record() {
        let mut data = file();
        data.pop();
        assert_eq!(parse(&data).len(), 3);
    }

    #[test]
    fn header_with_two_fields_is_skipped_and_the_file_goes_on() {
        let mut data = rec("1 onlytwo\n", b"GET / HTTP/1.1\r\n\r\n");
        data.extend(file());
        let out = parse(&data);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].message.id(), b"a1");
    }

    #[test]
    fn crlf_converted_separator_is_not_a_separator() {
        let data = "1 a 1 0\r\nGET\r\n🐵🙈🙉\r\n".as_bytes();
        let before = stats::drop_counter("input_file.truncated_tail").get();
        assert!(parse(data).is_empty());
        assert!(stats::drop_counter("input_file.truncated_tail").get() > before);
    }

    #[test]
    fn long_ids_and_three_field_headers_are_read() {
        let id40 = "0123456789abcdef0123456789abcdef01234567";
        let data = rec(&format!("1 {id40} 5\n"), b"GET / HTTP/1.1\r\n\r\n");
        let out = parse(&data);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message.id(), id40.as_bytes());
        assert_eq!(out[0].timestamp, 5);
    }

    #[test]
    fn loose_header_with_text_timestamp_is_kept_with_timestamp_zero() {
        let out = parse(&rec("1 id notanumber 0\n", b"GET"));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].timestamp, 0);
    }

    #[test]
    fn strict_header_shapes() {
        assert!(is_strict_header(b"1 abc 123 0"));
        assert!(is_strict_header(b"3 abc 123"));
        assert!(is_strict_header(b"2 abc 123 -1"));
        assert!(!is_strict_header(b"4 abc 123 0"));
        assert!(!is_strict_header(b"1  123 0"));
        assert!(!is_strict_header(b"1 abc x 0"));
        assert!(!is_strict_header(b"1 abc 1 2 3"));
        assert!(!is_strict_header(b"GET / HTTP/1.1\r"));
        assert_eq!(header_timestamp(b"1 a -5 0"), Some(-5));
        assert_eq!(header_timestamp(b"1 a 9223372036854775807"), Some(i64::MAX));
        assert_eq!(
            header_timestamp(b"1 a -9223372036854775808"),
            Some(i64::MIN)
        );
        assert_eq!(header_timestamp(b"1 a 9223372036854775808"), None);
        assert_eq!(header_timestamp(b"1 a - 0"), None);
    }
}

#[cfg(test)]
mod robustness_tests;
