//! HTTP/1.x message framing, the one policy every part of gor follows:
//! capture (`--input-raw`), `--input-http`, `gor file-server`, replay
//! (requests it sends and responses it reads) and `--prettify-http`. Where a body ends follows
//! RFC 9112 section 6.3, in this order:
//!
//! 1. Responses to HEAD, 1xx, 204 and 304 responses, and 2xx responses to
//!    CONNECT have no body, whatever their headers say.
//! 2. `Transfer-Encoding` whose last coding is `chunked`: a chunked body.
//!    A `Content-Length` next to it is ignored (Transfer-Encoding wins).
//! 3. `Transfer-Encoding` without `chunked` last: a request cannot be framed
//!    (gor refuses it: 400 on `--input-http`, dropped and counted by capture
//!    and replay); a response runs until the connection closes.
//! 4. `Content-Length`: repeated fields, or a comma list (`5, 5`), are
//!    accepted when every value is the same number; differing values or
//!    anything that is not a number make the message unframeable.
//! 5. Neither: a request has no body, a response runs until the close.
//!
//! Chunked bodies are walked by one incremental [`ChunkWalker`]: it takes
//! the bytes not yet consumed, consumes what it can (never half a line), and
//! tells where the body ends, so capture calls it on a growing buffer, the
//! replay client and gor's HTTP servers through [`BodyDecoder`] on pieces
//! as they are read, and `--prettify-http` through [`decode_chunked`] on a
//! whole message. No body bytes are kept unless the caller asks for them,
//! so a 3 GB response costs no memory.

use memchr::memchr;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingError(pub &'static str);

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Longest chunk-size or trailer line accepted (extensions included).
pub const MAX_LINE: usize = 8 * 1024;
/// Longest trailer section accepted.
const MAX_TRAILER: usize = 64 * 1024;
/// Longest `Content-Length` number accepted (18 digits cannot overflow).
const MAX_LENGTH_DIGITS: usize = 18;

/// What the `Content-Length` fields said so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Length {
    #[default]
    Absent,
    Value(u64),
    Invalid(&'static str),
}

/// The framing facts of a head, gathered one header field at a time: feed
/// every field to [`FramingHeaders::add`], then ask for the body kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramingHeaders {
    /// A `Transfer-Encoding` field was seen.
    transfer_encoding: bool,
    /// The last coding of the last `Transfer-Encoding` field is `chunked`.
    chunked_last: bool,
    /// A coding other than the final `chunked` was listed.
    other_codings: bool,
    length: Length,
    /// `Expect: 100-continue`.
    expect_continue: bool,
}

impl FramingHeaders {
    pub fn new() -> Self {
        Self::default()
    }

    /// The framing facts of a whole head (start line and header lines).
    pub fn of_head(head: &[u8]) -> Self {
        let mut f = Self::new();
        for h in super::headers::headers(head) {
            f.add(h.name, h.value);
        }
        f
    }

    /// Takes one header field; fields that play no part in framing are
    /// ignored. Returns true for `Transfer-Encoding` and `Content-Length`.
    pub fn add(&mut self, name: &[u8], value: &[u8]) -> bool {
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Fields are one list in order: a later field's codings come
            // after the earlier ones, so only its last coding can be the
            // final `chunked`.
            if self.chunked_last {
                self.other_codings = true;
            }
            self.transfer_encoding = true;
            self.chunked_last = false;
            let mut codings = value
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|c| !c.is_empty())
                .peekable();
            while let Some(c) = codings.next() {
                let last = codings.peek().is_none();
                if last && c.eq_ignore_ascii_case(b"chunked") {
                    self.chunked_last = true;
                } else {
                    self.other_codings = true;
                }
            }
            true
        } else if name.eq_ignore_ascii_case(b"content-length") {
            self.length = match (self.length, parse_length_list(value)) {
                (Length::Invalid(e), _) | (_, Err(FramingError(e))) => Length::Invalid(e),
                (Length::Absent, Ok(n)) => Length::Value(n),
                (Length::Value(a), Ok(b)) if a == b => Length::Value(a),
                (Length::Value(_), Ok(_)) => Length::Invalid("conflicting Content-Length values"),
            };
            true
        } else {
            if name.eq_ignore_ascii_case(b"expect") {
                self.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            }
            false
        }
    }

    /// The body is chunked: `Transfer-Encoding` ends with `chunked`.
    pub fn is_chunked(&self) -> bool {
        self.chunked_last
    }

    /// `Transfer-Encoding` is `chunked` and nothing else (the only coding
    /// `--prettify-http` removes).
    pub fn is_only_chunked(&self) -> bool {
        self.chunked_last && !self.other_codings
    }

    /// A `Transfer-Encoding` field is present.
    pub fn has_transfer_encoding(&self) -> bool {
        self.transfer_encoding
    }

    /// The agreed `Content-Length`, when present and valid.
    pub fn content_length(&self) -> Option<u64> {
        match self.length {
            Length::Value(n) => Some(n),
            _ => None,
        }
    }

    /// `Expect: 100-continue` was asked.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }

    /// Where a request's body ends (rules 2 to 5 of the module comment).
    pub fn request_body(&self) -> Result<BodyKind, FramingError> {
        if self.transfer_encoding {
            return if self.chunked_last {
                Ok(BodyKind::Chunked)
            } else {
                Err(FramingError(
                    "Transfer-Encoding of a request does not end with chunked",
                ))
            };
        }
        match self.length {
            Length::Absent => Ok(BodyKind::Empty),
            Length::Value(0) => Ok(BodyKind::Empty),
            Length::Value(n) => Ok(BodyKind::Length(n)),
            Length::Invalid(e) => Err(FramingError(e)),
        }
    }

    /// Where a response's body ends, given what the request was (HEAD,
    /// CONNECT) and the status (rules 1 to 5 of the module comment).
    pub fn response_body(
        &self,
        request_is_head: bool,
        request_is_connect: bool,
        status: u16,
    ) -> Result<BodyKind, FramingError> {
        if request_is_head
            || (100..200).contains(&status)
            || status == 204
            || status == 304
            || (request_is_connect && (200..300).contains(&status))
        {
            return Ok(BodyKind::Empty);
        }
        if self.transfer_encoding {
            return Ok(if self.chunked_last {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            });
        }
        match self.length {
            Length::Absent => Ok(BodyKind::UntilClose),
            Length::Value(0) => Ok(BodyKind::Empty),
            Length::Value(n) => Ok(BodyKind::Length(n)),
            Length::Invalid(e) => Err(FramingError(e)),
        }
    }
}

/// One `Content-Length` field value: a number, or a comma list of the same
/// number.
fn parse_length_list(v: &[u8]) -> Result<u64, FramingError> {
    let mut found = None;
    for part in v.split(|b| *b == b',') {
        let n = parse_length(part)?;
        if found.is_some_and(|f| f != n) {
            return Err(FramingError("conflicting Content-Length values"));
        }
        found = Some(n);
    }
    found.ok_or(FramingError("bad Content-Length"))
}

fn parse_length(v: &[u8]) -> Result<u64, FramingError> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > MAX_LENGTH_DIGITS || !v.iter().all(u8::is_ascii_digit) {
        return Err(FramingError("bad Content-Length"));
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// True when a comma-separated header value contains `token`.
pub fn has_token(v: &[u8], token: &[u8]) -> bool {
    v.split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Whether the connection ends after a message with this version and
/// `Connection` header (RFC 9112 §9.3): `close` ends it, `keep-alive` keeps
/// an HTTP/1.0 one open, and otherwise HTTP/1.0 ends and HTTP/1.1 persists.
pub fn closes_connection(http_1_0: bool, connection: Option<&[u8]>) -> bool {
    match connection {
        Some(v) if has_token(v, b"close") => true,
        Some(v) if has_token(v, b"keep-alive") => false,
        _ => http_1_0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
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

/// Where a chunked body stands after a [`ChunkWalker::walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkStatus {
    /// The body goes on: call again with the bytes not consumed and more.
    NeedMore,
    /// The body (trailer section included) ended with the last byte
    /// consumed.
    Done,
    /// Not valid chunked coding.
    Invalid(FramingError),
}

/// Walks a chunked body incrementally (sizes, extensions, data, trailers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkWalker {
    state: ChunkState,
    trailer_bytes: usize,
}

impl Default for ChunkWalker {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWalker {
    pub fn new() -> Self {
        ChunkWalker {
            state: ChunkState::Size,
            trailer_bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Walks `data`, the body bytes not consumed by earlier calls. Returns
    /// how many it consumed and where the body stands. A size or trailer
    /// line that is not complete yet is left unconsumed (pass it again with
    /// what follows); chunk data is consumed as it comes and handed to
    /// `on_data`. Nothing after the end of the body is consumed.
    pub fn walk(&mut self, data: &[u8], mut on_data: impl FnMut(&[u8])) -> (usize, ChunkStatus) {
        let mut pos = 0;
        loop {
            match self.state {
                ChunkState::Done => return (pos, ChunkStatus::Done),
                ChunkState::Data(left) => {
                    let avail = data.len() - pos;
                    let take = usize::try_from(left).map_or(avail, |l| l.min(avail));
                    on_data(&data[pos..pos + take]);
                    pos += take;
                    let left = left - take as u64;
                    if left > 0 {
                        self.state = ChunkState::Data(left);
                        return (pos, ChunkStatus::NeedMore);
                    }
                    self.state = ChunkState::DataEnd;
                }
                ChunkState::DataEnd => {
                    let rest = &data[pos..];
                    let used = match rest {
                        [b'\n', ..] => 1,
                        [b'\r', b'\n', ..] => 2,
                        [] | [b'\r'] => return (pos, ChunkStatus::NeedMore),
                        _ => return (pos, invalid("chunk data not followed by CRLF")),
                    };
                    pos += used;
                    self.state = ChunkState::Size;
                }
                ChunkState::Size | ChunkState::Trailer => {
                    let rest = &data[pos..];
                    let Some(nl) = memchr(b'\n', rest) else {
                        if rest.len() > MAX_LINE {
                            return (pos, invalid("chunk line too long"));
                        }
                        return (pos, ChunkStatus::NeedMore);
                    };
                    if nl > MAX_LINE {
                        return (pos, invalid("chunk line too long"));
                    }
                    let line = &rest[..nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    pos += nl + 1;
                    if let Err(e) = self.end_of_line(line) {
                        return (pos, ChunkStatus::Invalid(e));
                    }
                }
            }
        }
    }

    fn end_of_line(&mut self, line: &[u8]) -> Result<(), FramingError> {
        if self.state == ChunkState::Trailer {
            if line.is_empty() {
                self.state = ChunkState::Done;
            } else {
                self.trailer_bytes += line.len();
                if self.trailer_bytes > MAX_TRAILER {
                    return Err(FramingError("trailer section too long"));
                }
            }
            return Ok(());
        }
        let digits = line
            .split(|b| *b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if digits.is_empty() || digits.len() > 15 {
            return Err(FramingError("bad chunk size"));
        }
        let mut size = 0u64;
        for d in digits {
            let v = crate::hex::digit(*d).ok_or(FramingError("bad chunk size"))?;
            size = size * 16 + u64::from(v);
        }
        self.state = if size == 0 {
            ChunkState::Trailer
        } else {
            ChunkState::Data(size)
        };
        Ok(())
    }
}

fn invalid(why: &'static str) -> ChunkStatus {
    ChunkStatus::Invalid(FramingError(why))
}

/// A chunked body decoded by [`decode_chunked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The chunk data joined (trailers are not part of it).
    pub data: Vec<u8>,
    /// The body ended (last chunk and trailer section seen); false when the
    /// bytes stop before, e.g. a body cut by `--copy-buffer-size`.
    pub complete: bool,
    /// Bytes of the input that belong to the body.
    pub used: usize,
}

/// Decodes a whole chunked body held in memory; an error when the chunked
/// coding is not valid.
pub fn decode_chunked(body: &[u8]) -> Result<Decoded, FramingError> {
    let mut data = Vec::with_capacity(body.len());
    let mut walker = ChunkWalker::new();
    let (used, status) = walker.walk(body, |piece| data.extend_from_slice(piece));
    match status {
        ChunkStatus::Invalid(e) => Err(e),
        ChunkStatus::Done => Ok(Decoded {
            data,
            complete: true,
            used,
        }),
        ChunkStatus::NeedMore => Ok(Decoded {
            data,
            complete: false,
            used,
        }),
    }
}

/// Finds the end of a body fed to it piece by piece, as read from a
/// socket: each piece is given once, and a chunk-size line cut between two
/// reads is carried over.
#[derive(Debug)]
pub struct BodyDecoder {
    kind: BodyKind,
    /// Bytes left of a `Length` body.
    remaining: u64,
    walker: ChunkWalker,
    /// The start of a chunk line the last piece ended in.
    carry: Vec<u8>,
    done: bool,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind) -> Self {
        BodyDecoder {
            kind,
            remaining: match kind {
                BodyKind::Length(n) => n,
                _ => 0,
            },
            walker: ChunkWalker::new(),
            carry: Vec::new(),
            done: matches!(kind, BodyKind::Empty | BodyKind::Length(0)),
        }
    }

    pub fn kind(&self) -> BodyKind {
        self.kind
    }

    /// True once the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Consumes the body bytes at the start of `input`; returns how many
    /// belong to the body (the rest, if any, is what follows the message).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, FramingError> {
        if self.done {
            return Ok(0);
        }
        match self.kind {
            BodyKind::Empty => Ok(0),
            BodyKind::UntilClose => Ok(input.len()),
            BodyKind::Length(_) => {
                let take =
                    usize::try_from(self.remaining).map_or(input.len(), |r| r.min(input.len()));
                self.remaining -= take as u64;
                self.done = self.remaining == 0;
                Ok(take)
            }
            BodyKind::Chunked => self.feed_chunked(input),
        }
    }

    fn feed_chunked(&mut self, input: &[u8]) -> Result<usize, FramingError> {
        let mut pos = 0;
        if !self.carry.is_empty() {
            // Complete the carried line with this piece, up to its end.
            pos = memchr(b'\n', input).map_or(input.len(), |i| i + 1);
            self.carry.extend_from_slice(&input[..pos]);
            let (used, status) = self.walker.walk(&self.carry, |_| {});
            match status {
                ChunkStatus::Invalid(e) => return Err(e),
                ChunkStatus::Done => {
                    self.done = true;
                    // The carried bytes all were body; of this piece, what
                    // the walker did not leave behind.
                    return Ok(pos - (self.carry.len() - used));
                }
                ChunkStatus::NeedMore if used < self.carry.len() => {
                    // Still no line end: everything was taken into `carry`.
                    self.carry.drain(..used);
                    return Ok(pos);
                }
                ChunkStatus::NeedMore => self.carry.clear(),
            }
        }
        let (used, status) = self.walker.walk(&input[pos..], |_| {});
        match status {
            ChunkStatus::Invalid(e) => Err(e),
            ChunkStatus::Done => {
                self.done = true;
                Ok(pos + used)
            }
            ChunkStatus::NeedMore => {
                self.carry.extend_from_slice(&input[pos + used..]);
                Ok(input.len())
            }
        }
    }

    /// The peer closed the connection: fine for a close-delimited body (it
    /// ends here), an error for any other unfinished body.
    pub fn finish_at_close(&mut self) -> Result<(), FramingError> {
        if self.done {
            return Ok(());
        }
        if self.kind == BodyKind::UntilClose {
            self.done = true;
            return Ok(());
        }
        Err(FramingError("connection closed before the end of the body"))
    }
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

    fn framing(headers: &[(&str, &str)]) -> FramingHeaders {
        let mut f = FramingHeaders::new();
        for (n, v) in headers {
            f.add(n.as_bytes(), v.as_bytes());
        }
        f
    }

    const TE: &str = "Transfer-Encoding";
    const CL: &str = "Content-Length";

    type Case = (
        &'static [(&'static str, &'static str)],
        Option<BodyKind>,
        Option<BodyKind>,
    );

    /// The policy as one table: header fields, the request verdict, the
    /// verdict for a 200 response to a GET. `None` is unframeable.
    #[test]
    fn the_framing_policy_table() {
        use BodyKind::*;
        let cases: &[Case] = &[
            (&[], Some(Empty), Some(UntilClose)),
            (&[(CL, "5")], Some(Length(5)), Some(Length(5))),
            (&[(CL, "0")], Some(Empty), Some(Empty)),
            (&[(CL, " 12 ")], Some(Length(12)), Some(Length(12))),
            (&[(CL, "5"), (CL, "5")], Some(Length(5)), Some(Length(5))),
            (&[(CL, "5, 5")], Some(Length(5)), Some(Length(5))),
            (&[(CL, "5,5"), (CL, "5")], Some(Length(5)), Some(Length(5))),
            (&[(CL, "5"), (CL, "6")], None, None),
            (&[(CL, "5, 6")], None, None),
            (&[(CL, "5,")], None, None),
            (&[(CL, "")], None, None),
            (&[(CL, "-1")], None, None),
            (&[(CL, "0x10")], None, None),
            (&[(CL, "1234567890123456789")], None, None),
            (&[(CL, "5"), (CL, "x")], None, None),
            (&[(TE, "chunked")], Some(Chunked), Some(Chunked)),
            (&[(TE, "Chunked")], Some(Chunked), Some(Chunked)),
            (&[(TE, "gzip, chunked")], Some(Chunked), Some(Chunked)),
            (
                &[(TE, "gzip"), (TE, "chunked")],
                Some(Chunked),
                Some(Chunked),
            ),
            (&[(TE, "chunked, gzip")], None, Some(UntilClose)),
            (&[(TE, "chunked"), (TE, "gzip")], None, Some(UntilClose)),
            (&[(TE, "gzip")], None, Some(UntilClose)),
            (&[(TE, "")], None, Some(UntilClose)),
            // Transfer-Encoding wins over Content-Length, valid or not.
            (&[(TE, "chunked"), (CL, "3")], Some(Chunked), Some(Chunked)),
            (&[(CL, "3"), (TE, "chunked")], Some(Chunked), Some(Chunked)),
            (
                &[(CL, "3"), (CL, "4"), (TE, "chunked")],
                Some(Chunked),
                Some(Chunked),
            ),
            (&[(CL, "3"), (TE, "gzip")], None, Some(UntilClose)),
        ];
        for (fields, request, response) in cases {
            let f = framing(fields);
            assert_eq!(f.request_body().ok(), *request, "request {fields:?}");
            assert_eq!(
                f.response_body(false, false, 200).ok(),
                *response,
                "response {fields:?}"
            );
        }
    }

    #[test]
    fn responses_without_a_body_whatever_the_headers_say() {
        let f = framing(&[(TE, "chunked"), (CL, "10")]);
        let bad = framing(&[(CL, "1"), (CL, "2")]);
        for (head, connect, status) in [
            (true, false, 200),
            (false, false, 100),
            (false, false, 101),
            (false, false, 204),
            (false, false, 304),
            (false, true, 200),
        ] {
            assert_eq!(f.response_body(head, connect, status), Ok(BodyKind::Empty));
            assert_eq!(
                bad.response_body(head, connect, status),
                Ok(BodyKind::Empty)
            );
        }
        // A refused CONNECT has a body like any response.
        assert_eq!(f.response_body(false, true, 407), Ok(BodyKind::Chunked));
    }

    #[test]
    fn fields_of_a_whole_head_are_read_in_order() {
        let f = FramingHeaders::of_head(
            b"POST / HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
        );
        assert_eq!(f.request_body(), Ok(BodyKind::Length(4)));
        assert_eq!(f.content_length(), Some(4));
        assert!(f.expects_continue());
        let f =
            FramingHeaders::of_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert!(f.is_chunked() && !f.is_only_chunked());
        assert!(has_token(b"keep-alive, Close", b"close"));
    }

    #[test]
    fn http_1_0_closes_unless_kept_alive_and_http_1_1_persists_unless_closed() {
        assert!(closes_connection(true, None));
        assert!(!closes_connection(true, Some(b"Keep-Alive")));
        assert!(!closes_connection(false, None));
        assert!(closes_connection(false, Some(b"upgrade, close")));
        assert!(!closes_connection(false, Some(b"upgrade")));
    }

    fn walk(body: &[u8]) -> (usize, ChunkStatus) {
        ChunkWalker::new().walk(body, |_| {})
    }

    #[test]
    fn chunked_body_ends_after_last_chunk_and_trailers() {
        let body = b"4\r\nWiki\r\n7\r\nNetwork\r\n0\r\n\r\nNEXT";
        assert_eq!(walk(body), (body.len() - 4, ChunkStatus::Done));
        let with_trailer = b"3;ext=1\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n";
        assert_eq!(walk(with_trailer), (with_trailer.len(), ChunkStatus::Done));
        // Bare LF line ends are accepted, as most servers do.
        assert_eq!(walk(b"1\nA\n0\n\n"), (7, ChunkStatus::Done));
    }

    #[test]
    fn walker_on_a_growing_buffer_finishes_exactly_once() {
        let body = b"4\r\nWiki\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
        let mut w = ChunkWalker::new();
        let mut at = 0;
        for i in 0..body.len() {
            let (used, status) = w.walk(&body[at..i], |_| {});
            at += used;
            assert_eq!(status, ChunkStatus::NeedMore, "at {i}");
        }
        let (used, status) = w.walk(&body[at..], |_| {});
        assert_eq!((at + used, status), (body.len(), ChunkStatus::Done));
    }

    #[test]
    fn chunk_data_that_looks_like_the_end_is_not_the_end() {
        let body = b"5\r\n0\r\n\r\n\r\n0\r\n\r\n";
        assert_eq!(walk(body), (body.len(), ChunkStatus::Done));
        assert_eq!(walk(&body[..8]).1, ChunkStatus::NeedMore);
    }

    #[test]
    fn garbage_chunk_size_is_an_error_not_a_panic() {
        for bad in [
            &b"zz\r\nab\r\n"[..],
            b"2\r\nabXY",
            b"ffffffffffffffffffff\r\n",
            b"\r\n",
            b"-1\r\n",
        ] {
            assert!(matches!(walk(bad).1, ChunkStatus::Invalid(_)), "{bad:?}");
        }
        assert!(matches!(
            walk(&[b'1'; MAX_LINE + 1]).1,
            ChunkStatus::Invalid(_)
        ));
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.feed(b"zz\r\n").is_err());
        let mut d = BodyDecoder::new(BodyKind::Chunked);
        assert!(d.feed(&[b'1'; MAX_LINE + 1]).is_err());
        let mut trailer = b"0\r\n".to_vec();
        for _ in 0..(MAX_TRAILER / 10 + 1) {
            trailer.extend_from_slice(b"X-A: 12345\r\n");
        }
        assert!(matches!(walk(&trailer).1, ChunkStatus::Invalid(_)));
    }

    #[test]
    fn chunked_body_decodes_whole_or_cut() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let d = decode_chunked(body).unwrap();
        assert_eq!(d.data, b"Wikipedia");
        assert!(d.complete);
        assert_eq!(d.used, body.len() - 4);
        let d = decode_chunked(b"a\r\nshort").unwrap();
        assert_eq!((d.data.as_slice(), d.complete), (&b"short"[..], false));
        assert!(decode_chunked(b"3\r\nabc\r\nzz\r\nmore").is_err());
        assert_eq!(decode_chunked(b"").unwrap().data, b"");
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
        for cut in 0..body.len() - 4 {
            let pieces: Vec<&[u8]> = body[..body.len() - 4].chunks(cut.max(1)).collect();
            assert_eq!(
                feed_all(BodyKind::Chunked, &pieces),
                (body.len() - 4, true),
                "pieces of {cut}"
            );
        }
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
}

#[cfg(test)]
#[path = "framing_robustness_tests.rs"]
mod robustness_tests;
