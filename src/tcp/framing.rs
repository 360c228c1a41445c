//! Where an HTTP/1.x message ends (RFC 9112 section 6), decided from bytes
//! that arrive a piece at a time: the head is scanned once, and a chunked
//! body is walked chunk by chunk, remembering where it stopped, so no byte is
//! looked at twice however the segments are cut.
//!
//! GoReplay guessed the end of a chunked body from the last five bytes of the
//! last segment and never finished a response to HEAD, a 1xx/204/304 or a
//! close-delimited body; these rules are the RFC's instead.

use crate::http::{headers, start_line};

/// Longest request or status line gor waits for before it calls the bytes
/// "not HTTP".
pub const MAX_START_LINE: usize = 16 * 1024;
/// Longest head (start line plus headers) gor waits for.
pub const MAX_HEAD: usize = 1024 * 1024;

/// What the first line of a message said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine {
    Request { is_head: bool, is_connect: bool },
    Response { status: u16 },
}

/// The facts about a message that its head gives, read in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the start line, the headers and the blank line.
    pub len: usize,
    pub start: StartLine,
    /// `Content-Length`, when present and all digits.
    pub content_length: Option<u64>,
    /// A `Content-Length` that is not a number: the framing is unknowable.
    pub bad_length: bool,
    /// The last transfer coding is `chunked`.
    pub chunked: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// Result of looking for a complete head.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadScan {
    /// Not all of the head is there yet; `scanned` bytes need no new look.
    NeedMore {
        scanned: usize,
    },
    /// The bytes do not start an HTTP/1.x message.
    NotHttp,
    Found(Head),
}

/// True when `data` (which may be incomplete) starts with a whole, valid
/// first line of the expected kind, `Some(false)` when it cannot become one,
/// `None` when more bytes are needed to tell.
pub fn start_line_ok(data: &[u8], expect_request: bool) -> Option<bool> {
    let limit = data.len().min(MAX_START_LINE);
    match data[..limit].windows(2).position(|w| w == b"\r\n") {
        Some(_) => Some(if expect_request {
            start_line::is_request(data)
        } else {
            start_line::is_response(data)
        }),
        None if data.len() >= MAX_START_LINE => Some(false),
        None => {
            // Bytes that can never start a request or status line are
            // rejected at once, so a non-HTTP stream costs no buffering.
            Some(false).filter(|_| !plausible_prefix(data, expect_request))
        }
    }
}

/// Could `data` be the beginning of a start line of the expected kind?
fn plausible_prefix(data: &[u8], expect_request: bool) -> bool {
    if expect_request {
        let method_len = data.iter().position(|b| *b == b' ').unwrap_or(data.len());
        method_len <= 32
            && data[..method_len]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
    } else {
        let n = data.len().min(5);
        data[..n] == b"HTTP/"[..n]
    }
}

/// Cheap test used to find where HTTP resumes after bytes that were not: a
/// segment that starts with a method and a space, or with `HTTP/1.`.
pub fn looks_like_start(data: &[u8], expect_request: bool) -> bool {
    if expect_request {
        let n = data.iter().take(20).position(|b| *b == b' ');
        matches!(n, Some(n) if n >= 3 && data[..n].iter().all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_'))
    } else {
        data.starts_with(b"HTTP/1.")
    }
}

/// Like [`looks_like_start`] on bytes that may still grow: `None` while too
/// few bytes are there to tell.
pub fn maybe_start(data: &[u8], expect_request: bool) -> Option<bool> {
    if expect_request {
        match data.iter().take(20).position(|b| *b == b' ') {
            Some(_) => Some(looks_like_start(data, true)),
            None if data.len() >= 20 => Some(false),
            None if data
                .iter()
                .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_') =>
            {
                None
            }
            None => Some(false),
        }
    } else if data.len() < 7 {
        if b"HTTP/1.".starts_with(data) {
            None
        } else {
            Some(false)
        }
    } else {
        Some(data.starts_with(b"HTTP/1."))
    }
}

/// Looks for the end of the head in `data`, starting near `scanned` (what an
/// earlier call already searched).
pub fn scan_head(data: &[u8], scanned: usize, expect_request: bool) -> HeadScan {
    let from = scanned.saturating_sub(3);
    let Some(i) = find(&data[from..], b"\r\n\r\n") else {
        if data.len() > MAX_HEAD {
            return HeadScan::NotHttp;
        }
        return HeadScan::NeedMore {
            scanned: data.len(),
        };
    };
    let len = from + i + 4;
    let head = &data[..len];
    let start = if expect_request {
        match start_line::request_line(head) {
            Some(l) => StartLine::Request {
                is_head: l.method == b"HEAD",
                is_connect: l.method == b"CONNECT",
            },
            None => return HeadScan::NotHttp,
        }
    } else {
        match start_line::status_line(head) {
            Some(l) => StartLine::Response { status: l.code },
            None => return HeadScan::NotHttp,
        }
    };
    let mut found = Head {
        len,
        start,
        content_length: None,
        bad_length: false,
        chunked: false,
        expect_continue: false,
    };
    let mut seen_length = false;
    for h in headers::headers(head) {
        if h.name.eq_ignore_ascii_case(b"content-length") {
            if seen_length {
                continue;
            }
            seen_length = true;
            found.content_length = parse_decimal(h.value);
            found.bad_length = found.content_length.is_none();
        } else if h.name.eq_ignore_ascii_case(b"transfer-encoding") {
            found.chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case(b"expect") {
            found.expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    HeadScan::Found(found)
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|b| *b == first)
        {
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
            None => return None,
        }
    }
    None
}

/// Progress of a chunked body walk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkProgress {
    NeedMore,
    /// The body (trailers included) ends at this offset of the message.
    Done(usize),
    /// Not valid chunked encoding.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

/// Walks a chunked body incrementally: call [`Chunked::advance`] with the
/// whole message so far each time more bytes arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunked {
    pos: usize,
    state: ChunkState,
}

impl Chunked {
    /// A body starting at offset `start` of the message.
    pub fn new(start: usize) -> Self {
        Chunked {
            pos: start,
            state: ChunkState::Size,
        }
    }

    pub fn advance(&mut self, data: &[u8]) -> ChunkProgress {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = self.line(data) else {
                        return self.need_more_line(data);
                    };
                    let digits = line.split(|b| *b == b';').next().unwrap_or(b"");
                    let digits = digits.trim_ascii();
                    if digits.is_empty()
                        || digits.len() > 15
                        || !digits.iter().all(u8::is_ascii_hexdigit)
                    {
                        return ChunkProgress::Invalid;
                    }
                    let size = digits.iter().fold(0u64, |n, d| {
                        n * 16 + u64::from((*d as char).to_digit(16).unwrap_or(0))
                    });
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let avail = (data.len() - self.pos) as u64;
                    if avail < left {
                        self.pos = data.len();
                        self.state = ChunkState::Data(left - avail);
                        return ChunkProgress::NeedMore;
                    }
                    self.pos += left as usize;
                    self.state = ChunkState::DataEnd;
                }
                ChunkState::DataEnd => match data.get(self.pos) {
                    None => return ChunkProgress::NeedMore,
                    Some(b'\n') => {
                        self.pos += 1;
                        self.state = ChunkState::Size;
                    }
                    Some(b'\r') => match data.get(self.pos + 1) {
                        None => return ChunkProgress::NeedMore,
                        Some(b'\n') => {
                            self.pos += 2;
                            self.state = ChunkState::Size;
                        }
                        Some(_) => return ChunkProgress::Invalid,
                    },
                    Some(_) => return ChunkProgress::Invalid,
                },
                ChunkState::Trailer => {
                    let Some(line) = self.line(data) else {
                        return self.need_more_line(data);
                    };
                    if line.is_empty() {
                        return ChunkProgress::Done(self.pos);
                    }
                }
            }
        }
    }

    /// The next line (without its line end), moving past it.
    fn line<'a>(&mut self, data: &'a [u8]) -> Option<&'a [u8]> {
        let rest = &data[self.pos..];
        let nl = rest.iter().position(|b| *b == b'\n')?;
        self.pos += nl + 1;
        let line = &rest[..nl];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn need_more_line(&self, data: &[u8]) -> ChunkProgress {
        if data.len() - self.pos > MAX_START_LINE {
            ChunkProgress::Invalid
        } else {
            ChunkProgress::NeedMore
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(body: &[u8]) -> ChunkProgress {
        Chunked::new(0).advance(body)
    }

    #[test]
    fn chunked_body_ends_after_last_chunk_and_trailers() {
        let body = b"4\r\nWiki\r\n7\r\nNetwork\r\n0\r\n\r\nNEXT";
        assert_eq!(walk(body), ChunkProgress::Done(body.len() - 4));
        let with_trailer = b"3;ext=1\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n";
        assert_eq!(walk(with_trailer), ChunkProgress::Done(with_trailer.len()));
    }

    #[test]
    fn chunked_body_fed_byte_by_byte_finishes_exactly_once() {
        let body = b"4\r\nWiki\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
        let mut c = Chunked::new(0);
        for i in 0..body.len() {
            assert_eq!(c.advance(&body[..i]), ChunkProgress::NeedMore, "at {i}");
        }
        assert_eq!(c.advance(body), ChunkProgress::Done(body.len()));
    }

    #[test]
    fn chunk_data_that_looks_like_the_end_is_not_the_end() {
        let body = b"5\r\n0\r\n\r\n\r\n0\r\n\r\n";
        assert_eq!(walk(body), ChunkProgress::Done(body.len()));
        assert_eq!(walk(&body[..8]), ChunkProgress::NeedMore);
    }

    #[test]
    fn garbage_chunk_size_is_invalid() {
        assert_eq!(walk(b"zz\r\nab\r\n"), ChunkProgress::Invalid);
        assert_eq!(walk(b"2\r\nabXY"), ChunkProgress::Invalid);
    }

    #[test]
    fn head_gives_framing_facts_in_one_pass() {
        let req = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\nbody";
        let HeadScan::Found(h) = scan_head(req, 0, true) else {
            panic!("no head")
        };
        assert_eq!(h.len, req.len() - 4);
        assert_eq!(h.content_length, Some(12));
        assert!(h.expect_continue && !h.chunked);
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let HeadScan::Found(h) = scan_head(resp, 0, false) else {
            panic!("no head")
        };
        assert!(h.chunked);
        assert_eq!(h.start, StartLine::Response { status: 200 });
    }

    #[test]
    fn head_split_anywhere_is_found_once_complete() {
        let req = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut scanned = 0;
        for i in 1..req.len() {
            match scan_head(&req[..i], scanned, true) {
                HeadScan::NeedMore { scanned: s } => scanned = s,
                other => panic!("at {i}: {other:?}"),
            }
        }
        assert!(matches!(scan_head(req, scanned, true), HeadScan::Found(_)));
    }

    #[test]
    fn first_line_is_judged_as_soon_as_it_can_be() {
        assert_eq!(start_line_ok(b"GET / HT", true), None);
        assert_eq!(start_line_ok(b"\x16\x03\x01\x02", true), Some(false));
        assert_eq!(start_line_ok(b"GET / HTTP/1.1\r\n", true), Some(true));
        assert_eq!(start_line_ok(b"GET / HTTP/2.0\r\n", true), Some(false));
        assert_eq!(start_line_ok(b"HTTP/1.1 200 OK\r\n", false), Some(true));
        assert_eq!(start_line_ok(b"SSH-2.0", false), Some(false));
    }

    #[test]
    fn find_locates_needles() {
        assert_eq!(find(b"ab\r\n\r\ncd", b"\r\n\r\n"), Some(2));
        assert_eq!(find(b"\r\n\r", b"\r\n\r\n"), None);
        assert_eq!(find(b"", b"x"), None);
    }
}
