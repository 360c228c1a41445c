//! Where a captured HTTP/1.x message starts and where its head ends,
//! decided from bytes that arrive a piece at a time: the head is scanned
//! once, and its framing facts are read for [`crate::http::framing`], which
//! decides where the body ends (the same policy replay and `--input-http`
//! follow) and walks chunked bodies without looking at a byte twice.
//!
//! GoReplay guessed the end of a chunked body from the last five bytes of the
//! last segment and never finished a response to HEAD, a 1xx/204/304 or a
//! close-delimited body; gor follows RFC 9112 instead.

use crate::http::framing::FramingHeaders;
use crate::http::{edit, start_line};

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
    /// `Transfer-Encoding`, `Content-Length` and `Expect`.
    pub framing: FramingHeaders,
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
    match edit::find_crlf(&data[..limit]) {
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
        let method_len = memchr::memchr(b' ', data).unwrap_or(data.len());
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
    let Some(i) = edit::find_blank_line(&data[from..]) else {
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
    HeadScan::Found(Head {
        len,
        start,
        framing: FramingHeaders::of_head(head),
    })
}

/// Position of `needle` in `hay` (`None` for an empty needle).
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    edit::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_gives_framing_facts_in_one_pass() {
        let req = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\nbody";
        let HeadScan::Found(h) = scan_head(req, 0, true) else {
            panic!("no head")
        };
        assert_eq!(h.len, req.len() - 4);
        assert_eq!(h.framing.content_length(), Some(12));
        assert!(h.framing.expects_continue() && !h.framing.is_chunked());
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        let HeadScan::Found(h) = scan_head(resp, 0, false) else {
            panic!("no head")
        };
        assert!(h.framing.is_chunked());
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
