//! Where an HTTP/1.x body ends (RFC 9112 section 6): no body, a
//! `Content-Length`, chunked coding, or the end of the connection.
//!
//! The decoder is incremental and keeps no body bytes itself, so a 3 GB
//! response costs no memory: the caller decides what to keep. Shared by the
//! replay client (responses) and `--input-http` (requests).

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (HEAD responses, 1xx, 204, 304, requests without length).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, up to and including the trailer section.
    Chunked,
    /// Everything until the peer closes the connection.
    UntilClose,
}

/// Why a body cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError(pub &'static str);

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Longest chunk-size or trailer line accepted (extensions included).
const MAX_LINE: usize = 8 * 1024;
/// Longest trailer section accepted.
const MAX_TRAILER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// Trailer lines, until the empty one.
    Trailer,
    Done,
}

/// Finds the end of a body fed to it piece by piece.
#[derive(Debug)]
pub struct BodyDecoder {
    kind: BodyKind,
    remaining: u64,
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind) -> Self {
        let (remaining, state) = match kind {
            BodyKind::Empty => (0, State::Done),
            BodyKind::Length(0) => (0, State::Done),
            BodyKind::Length(n) => (n, State::Data(n)),
            BodyKind::Chunked => (0, State::Size),
            BodyKind::UntilClose => (0, State::Data(u64::MAX)),
        };
        BodyDecoder {
            kind,
            remaining,
            state,
            line: Vec::new(),
            trailer_bytes: 0,
        }
    }

    pub fn kind(&self) -> BodyKind {
        self.kind
    }

    /// True once the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes the body bytes at the start of `input`; returns how many
    /// belong to the body (the rest, if any, is what follows the message).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, FramingError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::Data(n) => {
                    if self.kind == BodyKind::UntilClose {
                        return Ok(input.len());
                    }
                    let take = (input.len() - pos).min(usize::try_from(n).unwrap_or(usize::MAX));
                    pos += take;
                    let left = n - take as u64;
                    self.state = if left > 0 {
                        State::Data(left)
                    } else if self.kind == BodyKind::Chunked {
                        State::DataEnd
                    } else {
                        State::Done
                    };
                    if let BodyKind::Length(_) = self.kind {
                        self.remaining = left;
                    }
                }
                State::Size | State::DataEnd | State::Trailer => {
                    let rest = &input[pos..];
                    let (piece, complete) = match rest.iter().position(|b| *b == b'\n') {
                        Some(i) => (&rest[..=i], true),
                        None => (rest, false),
                    };
                    pos += piece.len();
                    if self.line.len() + piece.len() > MAX_LINE {
                        return Err(FramingError("chunk line too long"));
                    }
                    self.line.extend_from_slice(piece);
                    if complete {
                        self.end_of_line()?;
                    }
                }
            }
        }
        Ok(pos)
    }

    /// The peer closed the connection: fine for a close-delimited body (it
    /// ends here), an error for any other unfinished body.
    pub fn finish_at_close(&mut self) -> Result<(), FramingError> {
        match (self.kind, self.state) {
            (_, State::Done) => Ok(()),
            (BodyKind::UntilClose, _) => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(FramingError("connection closed before the end of the body")),
        }
    }

    fn end_of_line(&mut self) -> Result<(), FramingError> {
        let mut line = std::mem::take(&mut self.line);
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        match self.state {
            State::Size => {
                let digits = line
                    .split(|b| *b == b';')
                    .next()
                    .unwrap_or(&[])
                    .trim_ascii();
                if digits.is_empty() || digits.len() > 15 {
                    return Err(FramingError("bad chunk size"));
                }
                let mut size: u64 = 0;
                for d in digits {
                    let v = (*d as char)
                        .to_digit(16)
                        .ok_or(FramingError("bad chunk size"))?;
                    size = size * 16 + u64::from(v);
                }
                self.state = if size == 0 {
                    State::Trailer
                } else {
                    State::Data(size)
                };
            }
            State::DataEnd => {
                if !line.is_empty() {
                    return Err(FramingError("chunk data not followed by CRLF"));
                }
                self.state = State::Size;
            }
            State::Trailer => {
                if line.is_empty() {
                    self.state = State::Done;
                } else {
                    self.trailer_bytes += line.len();
                    if self.trailer_bytes > MAX_TRAILER {
                        return Err(FramingError("trailer section too long"));
                    }
                }
            }
            State::Data(_) | State::Done => {}
        }
        line.clear();
        self.line = line;
        Ok(())
    }
}

/// Body framing of a response (RFC 9112 6.3): `request_is_head` and the
/// status decide first, then `Transfer-Encoding`, then `Content-Length`.
pub fn response_body_kind(
    request_is_head: bool,
    status: u16,
    chunked: bool,
    content_length: Option<&[u8]>,
) -> Result<BodyKind, FramingError> {
    if request_is_head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(BodyKind::Empty);
    }
    if chunked {
        return Ok(BodyKind::Chunked);
    }
    match content_length {
        Some(v) => parse_length(v).map(BodyKind::Length),
        None => Ok(BodyKind::UntilClose),
    }
}

/// Body framing of a request: chunked, a length, or none.
pub fn request_body_kind(
    chunked: bool,
    content_length: Option<&[u8]>,
) -> Result<BodyKind, FramingError> {
    if chunked {
        return Ok(BodyKind::Chunked);
    }
    match content_length {
        Some(v) => parse_length(v).map(BodyKind::Length),
        None => Ok(BodyKind::Empty),
    }
}

fn parse_length(v: &[u8]) -> Result<u64, FramingError> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(FramingError("bad Content-Length"));
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// True when a header value (a comma-separated list) ends with `chunked`.
pub fn is_chunked_value(v: &[u8]) -> bool {
    v.rsplit(|b| *b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// True when a comma-separated header value contains `token`.
pub fn has_token(v: &[u8], token: &[u8]) -> bool {
    v.split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(kind: BodyKind, pieces: &[&[u8]]) -> (usize, bool) {
        let mut d = BodyDecoder::new(kind);
        let mut used = 0;
        for p in pieces {
            used += d.feed(p).expect("valid framing");
        }
        (used, d.is_done())
    }

    #[test]
    fn content_length_body_ends_after_exactly_that_many_bytes() {
        assert_eq!(
            feed_all(BodyKind::Length(5), &[b"ab", b"cdeXYZ"]),
            (5, true)
        );
        assert_eq!(feed_all(BodyKind::Length(5), &[b"abcd"]), (4, false));
    }

    #[test]
    fn chunked_body_split_anywhere_ends_after_the_last_chunk() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            let (used, done) = feed_all(BodyKind::Chunked, &[a, b]);
            assert!(done, "split at {split}");
            assert_eq!(used, body.len() - 4, "split at {split}");
        }
    }

    #[test]
    fn garbage_chunk_size_is_an_error_not_a_panic() {
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.feed(b"zz\r\n").is_err());
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.feed(b"ffffffffffffffffffff\r\n").is_err());
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.feed(&[b'1'; MAX_LINE + 1]).is_err());
    }

    #[test]
    fn close_delimited_body_ends_only_at_close() {
        let mut d = BodyDecoder::new(BodyKind::UntilClose);
        assert_eq!(d.feed(b"anything").unwrap(), 8);
        assert!(!d.is_done());
        assert!(d.finish_at_close().is_ok());
        assert!(d.is_done());
        let mut d = BodyDecoder::new(BodyKind::Length(3));
        assert!(d.finish_at_close().is_err());
    }

    #[test]
    fn head_1xx_204_304_responses_have_no_body() {
        for (head, status) in [(true, 200), (false, 100), (false, 204), (false, 304)] {
            assert_eq!(
                response_body_kind(head, status, true, Some(b"10")).unwrap(),
                BodyKind::Empty
            );
        }
        assert_eq!(
            response_body_kind(false, 200, false, None).unwrap(),
            BodyKind::UntilClose
        );
        assert_eq!(
            response_body_kind(false, 200, false, Some(b" 12 ")).unwrap(),
            BodyKind::Length(12)
        );
        assert!(response_body_kind(false, 200, false, Some(b"-1")).is_err());
    }

    #[test]
    fn transfer_coding_lists_end_in_chunked() {
        assert!(is_chunked_value(b"gzip, chunked"));
        assert!(!is_chunked_value(b"chunked, gzip"));
        assert!(has_token(b"keep-alive, Close", b"close"));
    }
}

#[cfg(test)]
#[path = "framing_robustness_tests.rs"]
mod robustness_tests;
