//! `--prettify-http`: bodies sent chunked or gzip-encoded are decoded, so
//! that files, stdout and middleware see readable bodies and a replay target
//! gets a plain `Content-Length` body.
//!
//! * A message whose body length cannot be known under the framing rules of
//!   [`super::framing`] (conflicting Content-Length, a request's
//!   Transfer-Encoding not ending in chunked, broken chunked coding) passes
//!   unchanged, counted as `prettify.unframeable`: where its body ends is
//!   unknown, so nothing in it can be decoded safely.
//! * Chunked when `Transfer-Encoding` is `chunked` (and only that): the body
//!   is decoded (a body cut short keeps what was decoded), `Transfer-Encoding`
//!   is removed and `Content-Length` set. Trailers are lost.
//! * Gzip when `Content-Encoding` is `gzip`: decoded, `Content-Encoding`
//!   removed, `Content-Length` set. A body that does not even start like gzip
//!   drops the message (counted as `prettify.invalid_gzip`, as GoReplay drops
//!   it); a body that fails later in the stream is left as it was.
//! * Both apply in that order; a message without a complete header block, or
//!   with neither encoding, passes unchanged.

use super::body::{self, Coding, DecodeError};
use super::framing::{self, BodyKind, FramingHeaders};
use super::headers::{self, body_offset};
use super::start_line;
use crate::stats;
use std::borrow::Cow;

/// The prettified message; `None` means drop it (invalid gzip header).
pub fn prettify(data: &[u8]) -> Option<Cow<'_, [u8]>> {
    let Some(body_at) = body_offset(data).filter(|o| *o >= 5) else {
        return Some(Cow::Borrowed(data));
    };
    let fields = FramingHeaders::of_head(&data[..body_at]);
    let kind = if start_line::request_line(data).is_some() {
        fields.request_body()
    } else if let Some(line) = start_line::status_line(data) {
        // The request is not known here; a response to HEAD carries no
        // body bytes anyway.
        fields.response_body(false, false, line.code)
    } else {
        return Some(Cow::Borrowed(data));
    };
    let Ok(kind) = kind else {
        return Some(unframeable(data));
    };
    let chunked = kind == BodyKind::Chunked && fields.is_only_chunked();
    let gzip = headers::header_value(&data[..body_at], b"Content-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"gzip"));
    if !chunked && !gzip {
        return Some(Cow::Borrowed(data));
    }
    let mut head = data[..body_at].to_vec();
    let mut body = Cow::Borrowed(&data[body_at..]);
    if chunked {
        match framing::decode_chunked(&body) {
            Ok(decoded) => body = Cow::Owned(decoded.data),
            Err(_) => return Some(unframeable(data)),
        }
        head = headers::delete_header(&head, b"Transfer-Encoding");
        head = set_length(&head, body.len());
    }
    if gzip {
        match body::inflate(Coding::Gzip, &body) {
            Ok(decoded) => {
                body = Cow::Owned(decoded);
                head = headers::delete_header(&head, b"Content-Encoding");
                head = set_length(&head, body.len());
            }
            Err(DecodeError::BadHeader) => {
                stats::drop_counter("prettify.invalid_gzip").drop_one(
                    &"--prettify-http: dropped a message whose gzip body has an invalid header",
                );
                return None;
            }
            Err(DecodeError::TooLarge) => {
                stats::drop_counter("prettify.gzip_too_large").drop_one(
                    &"--prettify-http: a gzip body inflates past 256 MiB; it was left encoded",
                );
            }
            Err(DecodeError::Corrupt) => {
                stats::drop_counter("prettify.gzip_decode_errors").drop_one(
                    &"--prettify-http: a gzip body failed to decode; it was left encoded",
                );
            }
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

/// `head` with one `Content-Length: n` (a repeated field would contradict
/// the new value).
fn set_length(head: &[u8], n: usize) -> Vec<u8> {
    let is_length = |h: &headers::Header<'_>| h.name.eq_ignore_ascii_case(b"Content-Length");
    let mut head = head.to_vec();
    while headers::headers(&head).filter(is_length).nth(1).is_some() {
        head = headers::delete_header(&head, b"Content-Length");
    }
    headers::set_header(&head, b"Content-Length", n.to_string().as_bytes())
}

/// A message left as it is because its body cannot be delimited.
fn unframeable(data: &[u8]) -> Cow<'_, [u8]> {
    stats::drop_counter("prettify.unframeable").drop_one(
        &"--prettify-http: a message whose body length cannot be known was left unchanged",
    );
    Cow::Borrowed(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::gzip;

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
    fn a_cut_chunked_body_keeps_what_was_decoded() {
        let data = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\na\r\nshort";
        assert_eq!(
            text(prettify(data)),
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nshort"
        );
        let data = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(
            text(prettify(data)),
            "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn unframeable_messages_pass_unchanged_and_are_counted() {
        let before = stats::drop_counter("prettify.unframeable").get();
        for data in [
            // Conflicting lengths.
            &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\nContent-Encoding: gzip\r\n\r\nabcd"[..],
            // A request's Transfer-Encoding must end with chunked.
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
            // Broken chunked coding.
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nmore",
        ] {
            assert!(matches!(prettify(data), Some(Cow::Borrowed(_))));
        }
        assert!(stats::drop_counter("prettify.unframeable").get() >= before + 3);
        // Repeated equal lengths are one length.
        let mut data =
            b"HTTP/1.1 200 OK\r\nContent-Length: 31\r\nContent-Encoding: gzip\r\nContent-Length: 31\r\n\r\n"
                .to_vec();
        let gz = gzip(b"hello");
        let data_fixed = String::from_utf8_lossy(&data).replace("31", &gz.len().to_string());
        data = data_fixed.into_bytes();
        data.extend_from_slice(&gz);
        assert_eq!(
            text(prettify(&data)),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        );
        // Chunked beside a Content-Length: Transfer-Encoding wins.
        let data = b"POST / HTTP/1.1\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(
            text(prettify(data)),
            "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
        );
    }
}
