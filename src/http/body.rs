//! A message's body as the application meant it: chunked transfer coding
//! and gzip / deflate content coding undone. Shared by `--prettify-http`
//! (which rewrites the message) and `--output-diff` (which compares what
//! two servers answered, whatever coding each chose).
//!
//! Inflating is bounded by [`MAX_DECODED`]: a "zip bomb" of a few KiB
//! could otherwise take all memory.

use super::framing::{self, BodyKind, FramingHeaders};
use super::headers::{self, body_offset};
use super::start_line;
use std::borrow::Cow;
use std::io::Read;

/// The most a compressed body may inflate to.
pub const MAX_DECODED: u64 = 256 << 20;

/// A content coding gor can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` or `x-gzip` (several members are read as one stream).
    Gzip,
    /// `deflate`: zlib-wrapped as the RFC says, or raw as some servers send.
    Deflate,
}

impl Coding {
    /// The coding a `Content-Encoding` value names; `None` for `identity`,
    /// an empty value, or a coding gor cannot undo (`br`, a list of codings).
    pub fn of(value: &[u8]) -> Option<Coding> {
        let v = value.trim_ascii();
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else {
            None
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The body does not start like the coding says (no gzip magic bytes).
    BadHeader,
    /// The compressed stream breaks off or is corrupt.
    Corrupt,
    /// It inflates past [`MAX_DECODED`].
    TooLarge,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::BadHeader => "the body does not start like its Content-Encoding",
            DecodeError::Corrupt => "the compressed body is corrupt or cut short",
            DecodeError::TooLarge => "the body inflates past 256 MiB",
        })
    }
}

/// `body` with `coding` undone.
pub fn inflate(coding: Coding, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(1 << 20));
    let result = match coding {
        Coding::Gzip => {
            if !body.starts_with(&[0x1f, 0x8b, 0x08]) {
                return Err(DecodeError::BadHeader);
            }
            flate2::read::MultiGzDecoder::new(body)
                .take(MAX_DECODED + 1)
                .read_to_end(&mut out)
        }
        Coding::Deflate => {
            let zlib = flate2::read::ZlibDecoder::new(body)
                .take(MAX_DECODED + 1)
                .read_to_end(&mut out);
            if zlib.is_err() {
                out.clear();
                flate2::read::DeflateDecoder::new(body)
                    .take(MAX_DECODED + 1)
                    .read_to_end(&mut out)
            } else {
                zlib
            }
        }
    };
    match result {
        Err(_) => Err(DecodeError::Corrupt),
        Ok(_) if out.len() as u64 > MAX_DECODED => Err(DecodeError::TooLarge),
        Ok(_) => Ok(out),
    }
}

/// The decoded body of a whole response (head and body): `None` when it
/// has no complete head. Chunked coding is undone (a body cut short keeps
/// what was decoded), then the content coding; a body whose framing or
/// coding cannot be undone is returned as it was, with the reason.
pub fn response_body(data: &[u8]) -> Option<(Cow<'_, [u8]>, Option<DecodeError>)> {
    let at = body_offset(data)?;
    let (head, raw) = data.split_at(at);
    let status = start_line::status_code(data).unwrap_or(200);
    let kind = FramingHeaders::of_head(head).response_body(false, false, status);
    let coding = headers::header_value(head, b"Content-Encoding").and_then(Coding::of);
    Some(decode(raw, kind, coding))
}

/// The bytes after a head, given what the head said: how the body is
/// framed and its content coding. For callers that read the head's fields
/// themselves (in one pass); [`response_body`] does it all.
pub fn decode(
    raw: &[u8],
    kind: Result<BodyKind, framing::FramingError>,
    coding: Option<Coding>,
) -> (Cow<'_, [u8]>, Option<DecodeError>) {
    let mut body: Cow<'_, [u8]> = match kind {
        Ok(BodyKind::Empty) => Cow::Borrowed(&raw[..0]),
        Ok(BodyKind::Length(n)) => {
            Cow::Borrowed(&raw[..usize::try_from(n).unwrap_or(usize::MAX).min(raw.len())])
        }
        Ok(BodyKind::Chunked) => match framing::decode_chunked(raw) {
            Ok(decoded) => Cow::Owned(decoded.data),
            Err(_) => Cow::Borrowed(raw),
        },
        Ok(BodyKind::UntilClose) | Err(_) => Cow::Borrowed(raw),
    };
    let mut error = None;
    if let Some(coding) = coding
        && !body.is_empty()
    {
        match inflate(coding, &body) {
            Ok(plain) => body = Cow::Owned(plain),
            Err(e) => error = Some(e),
        }
    }
    (body, error)
}

/// `data` gzip-compressed: what the decoders' tests feed them.
#[cfg(test)]
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunked_gzip_body_is_decoded_to_what_the_server_wrote() {
        let z = gzip(b"{\"a\":1}");
        let mut msg =
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        let (first, second) = z.split_at(5);
        for part in [first, second] {
            msg.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            msg.extend_from_slice(part);
            msg.extend_from_slice(b"\r\n");
        }
        msg.extend_from_slice(b"0\r\n\r\n");
        let (body, err) = response_body(&msg).unwrap();
        assert_eq!(&body[..], b"{\"a\":1}");
        assert_eq!(err, None);
    }

    #[test]
    fn deflate_is_read_zlib_wrapped_or_raw() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"hello").unwrap();
        assert_eq!(
            inflate(Coding::Deflate, &z.finish().unwrap()).unwrap(),
            b"hello"
        );
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(b"hello").unwrap();
        assert_eq!(
            inflate(Coding::Deflate, &r.finish().unwrap()).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn a_body_that_is_not_gzip_stays_as_it_was_with_the_reason() {
        let msg = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let (body, err) = response_body(msg).unwrap();
        assert_eq!(&body[..], b"abc");
        assert_eq!(err, Some(DecodeError::BadHeader));
        assert!(response_body(b"HTTP/1.1 200 OK\r\n").is_none());
    }

    #[test]
    fn codings_are_named_case_insensitively() {
        assert_eq!(Coding::of(b" GZIP "), Some(Coding::Gzip));
        assert_eq!(Coding::of(b"x-gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::of(b"Deflate"), Some(Coding::Deflate));
        assert_eq!(Coding::of(b"br"), None);
        assert_eq!(Coding::of(b"identity"), None);
    }
}
