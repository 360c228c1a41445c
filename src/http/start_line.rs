//! Recognising the first line of an HTTP/1.x message; unlike GoReplay,
//! a request method is any token (WebDAV's `PROPFIND`,
//! `MKCOL`, custom methods), not just the nine methods GoReplay knows, and a
//! status code is any three digits from 100 to 599 (GoReplay only knows the
//! codes in Go's status table and never completes the others).
//!
//! A line counts only when it is terminated by `\r\n`, has exactly two spaces
//! (request) and a version of exactly `HTTP/1.0` or `HTTP/1.1`.

use super::edit;

/// The parts of a request line, as slices of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    /// The request target as sent: origin form (`/path?query`), absolute form
    /// (`http://host/path`), `*` or authority form.
    pub target: &'a [u8],
    pub version: &'a [u8],
    /// Offset of the target's first byte in the message.
    pub target_start: usize,
    /// Offset just after the line's `\r\n` (where the headers start).
    pub end: usize,
}

/// The parts of a status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub version: &'a [u8],
    pub code: u16,
    /// The reason phrase (may be empty: `HTTP/1.1 200\r\n`).
    pub reason: &'a [u8],
    /// Offset just after the line's `\r\n`.
    pub end: usize,
}

/// The first line without its `\r\n`, when the message has a `\r\n` at all.
fn crlf_line(data: &[u8]) -> Option<(&[u8], usize)> {
    let i = edit::find_crlf(data)?;
    Some((&data[..i], i + 2))
}

fn is_version(v: &[u8]) -> bool {
    v == b"HTTP/1.0" || v == b"HTTP/1.1"
}

/// RFC 9110 `tchar`: the characters a method (a token) may contain.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a request line: `METHOD SP target SP HTTP/1.x CRLF`.
pub fn request_line(data: &[u8]) -> Option<RequestLine<'_>> {
    let (line, end) = crlf_line(data)?;
    let first = memchr::memchr(b' ', line)?;
    let last = memchr::memrchr(b' ', line)?;
    let (method, version) = (&line[..first], &line[last + 1..]);
    if last <= first + 1 || !is_version(version) {
        return None;
    }
    let target = &line[first + 1..last];
    if method.is_empty()
        || !method.iter().all(|b| is_token_char(*b))
        || memchr::memchr(b' ', target).is_some()
    {
        return None;
    }
    Some(RequestLine {
        method,
        target,
        version,
        target_start: method.len() + 1,
        end,
    })
}

/// Parses a status line: `HTTP/1.x SP 3DIGIT (SP reason)? CRLF`.
pub fn status_line(data: &[u8]) -> Option<StatusLine<'_>> {
    let (line, end) = crlf_line(data)?;
    let version = line.get(..8)?;
    if !is_version(version) || line.get(8) != Some(&b' ') {
        return None;
    }
    let digits = line.get(9..12)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) {
        return None;
    }
    let reason = match line.get(12) {
        None => &line[12..],
        Some(b' ') => &line[13..],
        Some(_) => return None,
    };
    Some(StatusLine {
        version,
        code,
        reason,
        end,
    })
}

/// True when the message starts with a request line.
pub fn is_request(data: &[u8]) -> bool {
    request_line(data).is_some()
}

/// True when the message starts with a status line.
pub fn is_response(data: &[u8]) -> bool {
    status_line(data).is_some()
}

/// Offset just after the start line's `\r\n` when the message has a valid
/// request or status line (where header lookups begin).
pub fn start_line_end(data: &[u8]) -> Option<usize> {
    request_line(data)
        .map(|l| l.end)
        .or_else(|| status_line(data).map(|l| l.end))
}

/// The request method.
pub fn method(data: &[u8]) -> Option<&[u8]> {
    request_line(data).map(|l| l.method)
}

/// The request target (path plus query string, as sent).
pub fn target(data: &[u8]) -> Option<&[u8]> {
    request_line(data).map(|l| l.target)
}

/// The response status code.
pub fn status_code(data: &[u8]) -> Option<u16> {
    status_line(data).map(|l| l.code)
}

/// The message with its request target replaced; `None` when it does not
/// start with a request line.
pub fn set_target(data: &[u8], new_target: &[u8]) -> Option<Vec<u8>> {
    let l = request_line(data)?;
    let start = l.target_start;
    Some(edit::replace(
        data,
        start,
        start + l.target.len(),
        new_target,
    ))
}

/// The origin form of a target: `http://host:80/a?b` gives `/a?b`, an
/// absolute URL without a path gives `/`, anything else is returned as is.
pub fn origin_form(target: &[u8]) -> &[u8] {
    let rest = if target.len() >= 7 && target[..7].eq_ignore_ascii_case(b"http://") {
        &target[7..]
    } else if target.len() >= 8 && target[..8].eq_ignore_ascii_case(b"https://") {
        &target[8..]
    } else {
        return target;
    };
    match rest.iter().position(|b| *b == b'/' || *b == b'?') {
        Some(i) if rest[i] == b'/' => &rest[i..],
        _ => b"/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_needs_crlf() {
        assert!(!is_response(b"HTTP/1.1 100 Continue"));
        assert!(is_response(b"HTTP/1.1 100 Continue\r\n"));
    }

    #[test]
    fn status_line_without_reason_phrase_is_a_response() {
        let l = status_line(b"HTTP/1.1 200\r\n").unwrap();
        assert_eq!(l.code, 200);
        assert_eq!(l.reason, b"");
    }

    #[test]
    fn malformed_status_lines_are_not_responses() {
        for bad in [
            &b"HTTP/4.0 200 OK\r\n"[..],
            b"HTTP/1.0 100Continue\r\n",
            b"HTTP/1.0 10r OK\r\n",
            b"HTTP/1.1  \r\n",
            b"HTTP/1.1 099 Low\r\n",
            b"",
        ] {
            assert!(!is_response(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn custom_status_codes_are_responses() {
        assert_eq!(status_code(b"HTTP/1.1 599 Custom\r\n\r\n"), Some(599));
        assert_eq!(status_code(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
    }

    #[test]
    fn well_formed_request_lines_are_requests() {
        assert!(is_request(b"POST /post HTTP/1.0\r\n"));
        assert!(is_request(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn malformed_request_lines_are_not_requests() {
        for bad in [
            &b"POST /post HTTP/1.\r\n"[..],
            b"GET / HTTP/1.1\r",
            b"GET / HTTP/1.400\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"GET /a b HTTP/1.1\r\n",
            b"G(T / HTTP/1.1\r\n",
            b"",
        ] {
            assert!(!is_request(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn any_token_method_is_a_request() {
        // GoReplay knows nine methods; `POS /post` and WebDAV methods are
        // requests here (decisions: the modifier applies to any method).
        assert_eq!(method(b"PROPFIND /d HTTP/1.1\r\n"), Some(&b"PROPFIND"[..]));
        assert_eq!(
            method(b"VERSION-CONTROL /d HTTP/1.1\r\n"),
            Some(&b"VERSION-CONTROL"[..])
        );
        assert!(is_request(b"POS /post HTTP/1.1\r\n"));
    }

    #[test]
    fn target_is_path_plus_query() {
        assert_eq!(target(b"POST /post HTTP/1.1\r\n"), Some(&b"/post"[..]));
        assert_eq!(
            target(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(&b"/a?b=1"[..])
        );
        assert_eq!(target(b"GET /post HTTP/1.1"), None);
        assert_eq!(target(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[test]
    fn setting_the_target_keeps_everything_else() {
        let out = set_target(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", b"/z").unwrap();
        assert_eq!(out, b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(set_target(b"garbage\r\n", b"/z"), None);
    }

    #[test]
    fn absolute_form_target_can_be_rehosted() {
        let req = b"GET http://example.com/post HTTP/1.0\r\n\r\n";
        let path = origin_form(target(req).unwrap());
        assert_eq!(path, b"/post");
        let mut new_target = b"http://new.com".to_vec();
        new_target.extend_from_slice(path);
        assert_eq!(
            set_target(req, &new_target).unwrap(),
            b"GET http://new.com/post HTTP/1.0\r\n\r\n"
        );
        assert_eq!(origin_form(b"http://h:80"), b"/");
        assert_eq!(origin_form(b"HTTPS://h?q"), b"/");
        assert_eq!(origin_form(b"/x"), b"/x");
    }

    #[test]
    fn start_line_end_points_after_crlf() {
        assert_eq!(start_line_end(b"GET / HTTP/1.1\r\nA: b\r\n"), Some(16));
        assert_eq!(start_line_end(b"HTTP/1.1 200 OK\r\n"), Some(17));
        assert_eq!(start_line_end(b"GT\r\nA: b\r\n"), None);
    }
}
