//! The unit that flows through gor: one HTTP request or response, with its
//! header line.
//!
//! The byte formats here are a compatibility contract: files written by
//! GoReplay must be read by gor and the other way round, byte for byte.

use bytes::Bytes;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The 14 bytes that end a record: `"\n🐵🙈🙉\n"`.
pub const SEPARATOR: &[u8] = b"\n\xF0\x9F\x90\xB5\xF0\x9F\x99\x88\xF0\x9F\x99\x89\n";

/// The separator as a line on its own (what a line-based reader sees after the
/// payload's last `\n`).
pub const SEPARATOR_LINE: &[u8] = b"\xF0\x9F\x90\xB5\xF0\x9F\x99\x88\xF0\x9F\x99\x89\n";

/// What a message carries; the first byte of its header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    /// A request (captured, read from a file, or generated).
    Request,
    /// A response captured on the wire alongside its request.
    Response,
    /// A response gor received when it replayed the request.
    ReplayedResponse,
}

impl PayloadType {
    pub fn as_byte(self) -> u8 {
        match self {
            PayloadType::Request => b'1',
            PayloadType::Response => b'2',
            PayloadType::ReplayedResponse => b'3',
        }
    }

    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'1' => Some(PayloadType::Request),
            b'2' => Some(PayloadType::Response),
            b'3' => Some(PayloadType::ReplayedResponse),
            _ => None,
        }
    }
}

/// One message: `meta` is the header line including its trailing `\n`
/// (`<type> <id> <timestamp> <latency>\n`), `data` the raw payload.
///
/// Both are `Bytes`, so cloning a message to hand it to several outputs
/// shares the payload instead of copying it.
///
/// `replay_target` lives only inside gor: files, relays and the middleware
/// carry GoReplay's format (`meta` and `data`) and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub meta: Bytes,
    pub data: Bytes,
    /// For a replayed response (type 3) produced by this run: which
    /// `--output-http` answered it, counted from 0 in command-line order,
    /// so that `--output-diff` can tell a baseline from a candidate. `None`
    /// for everything captured or read (a type 3 read from a recording
    /// included).
    pub replay_target: Option<u16>,
}

impl Message {
    /// Builds a message with a freshly written header line (`%c %s %d %d\n`).
    pub fn new(
        kind: PayloadType,
        id: &str,
        timestamp_ns: i64,
        latency_ns: i64,
        data: impl Into<Bytes>,
    ) -> Self {
        Message::from_parts(
            header_line(kind, id, timestamp_ns, latency_ns).into(),
            data.into(),
        )
    }

    /// A message from its header line and payload, produced by no replay
    /// target.
    pub fn from_parts(meta: Bytes, data: Bytes) -> Self {
        Message {
            meta,
            data,
            replay_target: None,
        }
    }

    /// Splits a serialized record (`Meta ‖ Data`, no separator) at its first
    /// `\n`. As in GoReplay, a record without a header line (no `\n`, `\n` at
    /// index 0, or nothing after it) keeps everything as data and an empty
    /// meta; the emitter then drops it as malformed.
    pub fn from_record(record: impl Into<Bytes>) -> Self {
        let record: Bytes = record.into();
        match memchr::memchr(b'\n', &record) {
            Some(i) if i > 0 && i + 1 < record.len() => {
                Message::from_parts(record.slice(..=i), record.slice(i + 1..))
            }
            _ => Message::from_parts(Bytes::new(), record),
        }
    }

    /// The header fields (without the trailing newline), split on single
    /// spaces as GoReplay does (consecutive spaces give empty fields).
    pub fn header_fields(&self) -> impl Iterator<Item = &[u8]> {
        let line = self.meta.strip_suffix(b"\n").unwrap_or(&self.meta);
        line.split(|b| *b == b' ')
    }

    /// A header is usable when it has at least 3 fields.
    pub fn is_well_formed(&self) -> bool {
        !self.meta.is_empty() && self.header_fields().nth(2).is_some()
    }

    pub fn payload_type(&self) -> Option<PayloadType> {
        self.meta.first().and_then(|b| PayloadType::from_byte(*b))
    }

    /// True for type 1 (GoReplay's `isRequest`: the first byte of meta is `1`).
    pub fn is_request(&self) -> bool {
        self.meta.first() == Some(&b'1')
    }

    /// The id field (any token is accepted).
    pub fn id(&self) -> &[u8] {
        self.header_fields().nth(1).unwrap_or(b"")
    }

    /// The timestamp field in nanoseconds; unparsable or missing gives 0.
    pub fn timestamp(&self) -> i64 {
        self.header_fields().nth(2).and_then(parse_i64).unwrap_or(0)
    }

    /// The latency field in nanoseconds, if present and numeric.
    pub fn latency(&self) -> Option<i64> {
        self.header_fields().nth(3).and_then(parse_i64)
    }

    /// Writes the record as it appears in a file or on stdout:
    /// `Meta ‖ Data ‖ SEPARATOR`.
    pub fn write_record<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&self.meta)?;
        w.write_all(&self.data)?;
        w.write_all(SEPARATOR)
    }

    /// Length in bytes of the record `write_record` produces.
    pub fn record_len(&self) -> usize {
        self.meta.len() + self.data.len() + SEPARATOR.len()
    }
}

/// Formats a header line exactly as GoReplay does: `%c %s %d %d\n`.
pub fn header_line(kind: PayloadType, id: &str, timestamp_ns: i64, latency_ns: i64) -> String {
    let mut s = String::with_capacity(id.len() + 48);
    let _ = writeln!(
        s,
        "{} {} {} {}",
        kind.as_byte() as char,
        id,
        timestamp_ns,
        latency_ns
    );
    s
}

/// A new random id: 24 lowercase hex characters (12 random bytes).
pub fn random_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex_id(&bytes)
}

/// Lowercase hex of an id's bytes.
pub fn hex_id(bytes: &[u8]) -> String {
    crate::hex::encode_string(bytes)
}

/// Wall-clock time in Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn parse_i64(field: &[u8]) -> Option<i64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_is_newline_monkeys_newline() {
        assert_eq!(SEPARATOR.len(), 14);
        assert_eq!(SEPARATOR, "\n🐵🙈🙉\n".as_bytes());
        assert_eq!(&SEPARATOR[1..], SEPARATOR_LINE);
    }

    #[test]
    fn header_line_matches_goreplay_format() {
        let m = Message::new(
            PayloadType::Request,
            "abc",
            1_600_000_000_000_000_000,
            -1,
            &b"GET / HTTP/1.1\r\n\r\n"[..],
        );
        assert_eq!(&m.meta[..], b"1 abc 1600000000000000000 -1\n");
        assert!(m.is_request());
        assert_eq!(m.id(), b"abc");
        assert_eq!(m.timestamp(), 1_600_000_000_000_000_000);
        assert_eq!(m.latency(), Some(-1));
    }

    #[test]
    fn record_splits_at_first_newline() {
        let m = Message::from_record(&b"2 id 5\nHTTP/1.1 200 OK\r\n\r\n"[..]);
        assert_eq!(&m.meta[..], b"2 id 5\n");
        assert_eq!(&m.data[..], b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(m.is_well_formed());
        assert_eq!(m.latency(), None);
    }

    #[test]
    fn record_without_header_keeps_everything_as_data() {
        for raw in [&b"no newline"[..], b"\nleading", b"trailing\n"] {
            let m = Message::from_record(raw);
            assert!(m.meta.is_empty());
            assert_eq!(&m.data[..], raw);
            assert!(!m.is_well_formed());
        }
    }

    #[test]
    fn header_with_two_fields_is_malformed() {
        assert!(!Message::from_record(&b"1 abc\nGET"[..]).is_well_formed());
        assert!(Message::from_record(&b"1 abc 1\nGET"[..]).is_well_formed());
    }

    #[test]
    fn random_ids_are_24_lowercase_hex() {
        let id = random_id();
        assert_eq!(id.len(), 24);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(id, random_id());
    }

    #[test]
    fn write_record_appends_separator() {
        let m = Message::from_record(&b"1 a 1 0\nX"[..]);
        let mut out = Vec::new();
        m.write_record(&mut out).unwrap();
        assert_eq!(out, "1 a 1 0\nX\n🐵🙈🙉\n".as_bytes());
        assert_eq!(out.len(), m.record_len());
    }
}
