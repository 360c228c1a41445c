//! `--prettify-http`: bodies sent chunked or gzip-encoded
//! are decoded, so that files, stdout and middleware see readable bodies and
//! a replay target gets a plain `Content-Length` body.
//!
//! * Chunked when `Transfer-Encoding` is `chunked` (and only that): the body
//!   is decoded (a malformed chunk ends decoding, what came before is kept),
//!   `Transfer-Encoding` is removed and `Content-Length` set. Trailers are lost.
//! * Gzip when `Content-Encoding` is `gzip`: decoded, `Content-Encoding`
//!   removed, `Content-Length` set. A body that does not even start like gzip
//!   drops the message (counted as `prettify.invalid_gzip`, as GoReplay drops
//!   it); a body that fails later in the stream is left as it was.
//! * Both apply in that order; a message without a complete header block, or
//!   with neither encoding, passes unchanged.

use super::headers::{self, body_offset};
use crate::stats;
use std::borrow::Cow;
use std::io::Read;

/// The most a gzip body may inflate to (a "zip bomb" of a few KiB could
/// otherwise take all memory); larger bodies stay encoded.
const MAX_DECODED: u64 = 256 << 20;

/// The prettified message; `None` means drop it (invalid gzip header).
pub fn prettify(data: &[u8]) -> Option<Cow<'_, [u8]>> {
    let Some(body_at) = body_offset(data).filter(|o| *o >= 5) else {
        return Some(Cow::Borrowed(data));
    };
    let is = |name: &[u8], want: &[u8]| {
        headers::header_value(&data[..body_at], name).is_some_and(|v| v.eq_ignore_ascii_case(want))
    };
    let chunked = is(b"Transfer-Encoding", b"chunked");
    let gzip = is(b"Content-Encoding", b"gzip");
    if !chunked && !gzip {
        return Some(Cow::Borrowed(data));
    }
    let mut head = data[..body_at].to_vec();
    let mut body = Cow::Borrowed(&data[body_at..]);
    if chunked {
        body = Cow::Owned(decode_chunked(&body));
        head = headers::delete_header(&head, b"Transfer-Encoding");
        head = headers::set_header(&head, b"Content-Length", body.len().to_string().as_bytes());
    }
    if gzip {
        if !body.starts_with(&[0x1f, 0x8b, 0x08]) {
            stats::drop_counter("prettify.invalid_gzip").drop_one(
                &"--prettify-http: dropped a message whose gzip body has an invalid header",
            );
            return None;
        }
        let mut decoded = Vec::with_capacity(body.len() * 4);
        let result = flate2::read::MultiGzDecoder::new(&body[..])
            .take(MAX_DECODED + 1)
            .read_to_end(&mut decoded);
        if result.is_ok() && decoded.len() as u64 > MAX_DECODED {
            stats::drop_counter("prettify.gzip_too_large").drop_one(
                &"--prettify-http: a gzip body inflates past 256 MiB; it was left encoded",
            );
        } else if result.is_ok() {
            body = Cow::Owned(decoded);
            head = headers::delete_header(&head, b"Content-Encoding");
            head = headers::set_header(&head, b"Content-Length", body.len().to_string().as_bytes());
        } else {
            stats::drop_counter("prettify.gzip_decode_errors")
                .drop_one(&"--prettify-http: a gzip body failed to decode; it was left encoded");
        }
    }
    head.extend_from_slice(&body);
    Some(Cow::Owned(head))
}

/// [`prettify`] for a shared payload: an unchanged message is the same
/// `Bytes` (no copy).
pub fn prettify_bytes(data: &bytes::Bytes) -> Option<bytes::Bytes> {
    Some(match prettify(data)? {
        Cow::Borrowed(_) => data.clone(),
        Cow::Owned(v) => v.into(),
    })
}

/// Decodes a chunked body: `size[;ext]\r\n data \r\n ... 0\r\n`. Stops at
/// the last-chunk or at the first malformed chunk, keeping what was decoded.
pub fn decode_chunked(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    while let Some(eol) = super::edit::find_crlf(body) {
        let size_text = body[..eol]
            .split(|b| *b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let Some(size) = parse_hex(size_text) else {
            break;
        };
        if size == 0 {
            break;
        }
        let rest = &body[eol + 2..];
        let take = size.min(rest.len());
        out.extend_from_slice(&rest[..take]);
        if take < size {
            break;
        }
        body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}

fn parse_hex(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 15 {
        return None;
    }
    let s = std::str::from_utf8(text).ok()?;
    usize::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn text(out: Option<Cow<'_, [u8]>>) -> String {
        String::from_utf8_lossy(&out.expect("dropped")).into_owned()
    }

    #[test]
    fn gzip_body_is_decoded_and_headers_fixed() {
        let mut data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        data.extend_from_slice(&gzip(b"test"));
        assert_eq!(
            text(prettify(&data)),
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntest"
        );
    }

    #[test]
    fn chunked_body_is_joined_with_content_length() {
        let data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        assert_eq!(
            text(prettify(data)),
            "HTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\nWikipedia in\r\n\r\nchunks."
        );
    }

    #[test]
    fn chunked_and_gzip_both_apply() {
        let gz = gzip(b"hello world");
        let mut data =
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        data.extend_from_slice(format!("{:x}\r\n", gz.len()).as_bytes());
        data.extend_from_slice(&gz);
        data.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(
            text(prettify(&data)),
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
        );
    }

    #[test]
    fn invalid_gzip_header_drops_the_message() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip";
        assert!(prettify(data).is_none());
        assert!(stats::drop_counter("prettify.invalid_gzip").get() >= 1);
    }

    #[test]
    fn truncated_gzip_stream_is_left_unchanged() {
        let mut data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec();
        let gz = gzip(b"a longer body that will be cut short");
        data.extend_from_slice(&gz[..gz.len() - 6]);
        assert_eq!(&*prettify(&data).unwrap(), &data[..]);
    }

    #[test]
    fn plain_and_headless_messages_pass_unchanged() {
        for data in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
            b"\r\n\r\n",
            b"",
            b"Transfer-Encoding: gzip, chunked\r\n\r\nx",
        ] {
            assert!(matches!(prettify(data), Some(Cow::Borrowed(_))));
        }
    }

    #[test]
    fn malformed_chunks_keep_what_was_decoded() {
        assert_eq!(decode_chunked(b"3\r\nabc\r\nzz\r\nmore"), b"abc");
        assert_eq!(decode_chunked(b"a\r\nshort"), b"short");
        assert_eq!(
            decode_chunked(b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"),
            b"abc"
        );
        assert_eq!(decode_chunked(b""), b"");
    }
}
