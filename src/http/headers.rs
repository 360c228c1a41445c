//! Header lookup and editing on raw message bytes (lookups stop at the
//! blank line; bare-LF lines keep their last character). Shared by the
//! modifier, `--input-raw-realip-header`, the prettifier and replay.
//!
//! Rules:
//! * the search starts after the start line when the message has a valid
//!   request or status line, else at offset 0 (a fragment is searched from
//!   its start);
//! * lines are split at `\n`; one `\r` before it is not part of the line (a
//!   bare-LF line keeps its last character — GoReplay loses it);
//! * a line without `:` is skipped and the search goes on, but it stops at
//!   the blank line that ends the headers (GoReplay runs on into the body);
//! * a name matches case-insensitively and exactly (no spaces before `:`);
//! * the value is what follows `:`, trimmed of bytes below 0x21 on both
//!   sides; the first matching line wins.

use super::{edit, start_line};

/// One header line, as slices of and offsets into the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a [u8],
    /// The trimmed value.
    pub value: &'a [u8],
    /// Offset of the line's first byte.
    pub line_start: usize,
    /// Offset just after the line's `\n` (or the end of the message).
    pub line_end: usize,
    /// Offsets of the trimmed value (equal when the value is empty).
    pub value_start: usize,
    pub value_end: usize,
}

/// Iterator over the header lines of a message; see [`headers`].
pub struct Headers<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Every header line (a line with a `:`) between the start line and the
/// blank line, in order.
pub fn headers(data: &[u8]) -> Headers<'_> {
    Headers {
        data,
        pos: start_line::start_line_end(data).unwrap_or(0),
    }
}

fn is_blank(b: u8) -> bool {
    b < 0x21
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        while self.pos < self.data.len() {
            let start = self.pos;
            let rest = &self.data[start..];
            let (content_len, line_end) = match memchr::memchr(b'\n', rest) {
                Some(i) => (i, start + i + 1),
                None => (rest.len(), self.data.len()),
            };
            self.pos = line_end;
            let mut content = &rest[..content_len];
            if let Some(c) = content.strip_suffix(b"\r") {
                content = c;
            }
            if content.is_empty() {
                // The blank line: the headers end here.
                self.pos = self.data.len();
                return None;
            }
            let Some(colon) = memchr::memchr(b':', content) else {
                continue;
            };
            let mut vs = colon + 1;
            let mut ve = content.len();
            while vs < ve && is_blank(content[vs]) {
                vs += 1;
            }
            while ve > vs && is_blank(content[ve - 1]) {
                ve -= 1;
            }
            return Some(Header {
                name: &content[..colon],
                value: &content[vs..ve],
                line_start: start,
                line_end,
                value_start: start + vs,
                value_end: start + ve,
            });
        }
        None
    }
}

/// The first header line named `name` (case-insensitive).
pub fn find<'a>(data: &'a [u8], name: &[u8]) -> Option<Header<'a>> {
    headers(data).find(|h| h.name.eq_ignore_ascii_case(name))
}

/// The trimmed value of the first header named `name`.
pub fn header_value<'a>(data: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    find(data, name).map(|h| h.value)
}

/// The message with header `name` set to `value`: when the header exists
/// only its value changes (spacing and name case stay); otherwise
/// `Name: value\r\n` becomes the first header line (right after the first
/// `\r\n`). A message without any `\r\n` is returned unchanged.
pub fn set_header(data: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    if let Some(h) = find(data, name) {
        return edit::replace(data, h.value_start, h.value_end, value);
    }
    match edit::find_crlf(data) {
        Some(i) => {
            let mut line = Vec::with_capacity(name.len() + value.len() + 4);
            line.extend_from_slice(name);
            line.extend_from_slice(b": ");
            line.extend_from_slice(value);
            line.extend_from_slice(b"\r\n");
            edit::insert(data, i + 2, &line)
        }
        None => data.to_vec(),
    }
}

/// The message without the first header line named `name` (the whole line,
/// `\n` included); unchanged when there is none.
pub fn delete_header(data: &[u8], name: &[u8]) -> Vec<u8> {
    match find(data, name) {
        Some(h) => edit::cut(data, h.line_start, h.line_end),
        None => data.to_vec(),
    }
}

/// Offset of the body: just after the first `\r\n\r\n`.
pub fn body_offset(data: &[u8]) -> Option<usize> {
    edit::find_blank_line(data).map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\nbody";

    #[test]
    fn header_values_are_trimmed() {
        for line in [
            &b"Content-Length: 7\r\n"[..],
            b"Content-Length:7\r\n",
            b"Content-Length:   7   \r\n",
            b"Content-Length:\t7\r\n",
        ] {
            let mut data = b"POST / HTTP/1.1\r\n".to_vec();
            data.extend_from_slice(line);
            data.extend_from_slice(b"\r\n");
            assert_eq!(header_value(&data, b"Content-Length"), Some(&b"7"[..]));
        }
    }

    #[test]
    fn empty_value_is_found_and_empty() {
        let data = b"GET / HTTP/1.1\r\nX-Empty:\r\nY: \r\n\r\n";
        assert_eq!(header_value(data, b"X-Empty"), Some(&b""[..]));
        assert_eq!(header_value(data, b"Y"), Some(&b""[..]));
    }

    #[test]
    fn missing_header_is_not_found() {
        assert_eq!(header_value(REQ, b"Cookie"), None);
        assert_eq!(header_value(b"", b"Cookie"), None);
    }

    #[test]
    fn names_match_case_insensitively_but_exactly() {
        assert_eq!(header_value(REQ, b"content-length"), Some(&b"7"[..]));
        assert_eq!(header_value(REQ, b"Content-Lengt"), None);
        let spaced = b"GET / HTTP/1.1\r\nHost : x\r\n\r\n";
        assert_eq!(header_value(spaced, b"Host"), None);
    }

    #[test]
    fn fragment_without_start_line_is_searched_from_its_start() {
        let frag = b"GT\r\nContent-Length: 7\r\n\r\n";
        assert_eq!(header_value(frag, b"Content-Length"), Some(&b"7"[..]));
        let frag = b"Host: a\r\n";
        assert_eq!(header_value(frag, b"host"), Some(&b"a"[..]));
    }

    #[test]
    fn lookup_stops_at_the_blank_line() {
        let data = b"POST / HTTP/1.1\r\nA: 1\r\n\r\nB: 2\r\n";
        assert_eq!(header_value(data, b"B"), None);
        assert_eq!(headers(data).count(), 1);
    }

    #[test]
    fn lines_without_colon_are_skipped() {
        let data = b"GET / HTTP/1.1\r\nnonsense\r\nA: 1\r\n\r\n";
        assert_eq!(header_value(data, b"A"), Some(&b"1"[..]));
    }

    #[test]
    fn bare_lf_lines_keep_their_last_character() {
        let data = b"GET / HTTP/1.1\r\nHost: abc\nX: 12\n\n";
        assert_eq!(header_value(data, b"Host"), Some(&b"abc"[..]));
        assert_eq!(header_value(data, b"X"), Some(&b"12"[..]));
    }

    #[test]
    fn values_may_contain_colons() {
        let data = b"GET / HTTP/1.1\r\nReferer: http://a:80/x\r\n\r\n";
        assert_eq!(header_value(data, b"Referer"), Some(&b"http://a:80/x"[..]));
    }

    #[test]
    fn first_matching_line_wins() {
        let data = b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n";
        assert_eq!(header_value(data, b"A"), Some(&b"1"[..]));
    }

    #[test]
    fn responses_with_and_without_reason_are_searched_after_status_line() {
        for data in [
            &b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n"[..],
            b"HTTP/1.1 200\r\nA: 1\r\n\r\n",
        ] {
            assert_eq!(header_value(data, b"A"), Some(&b"1"[..]));
        }
    }

    #[test]
    fn odd_input_does_not_panic() {
        for data in [&b"\n:00\n"[..], b":", b"\r", b"\r\n", b"a:\r", b"\n\n\n:"] {
            let _ = header_value(data, b"");
            let _ = header_value(data, b"a");
            let _ = set_header(data, b"a", b"b");
            let _ = delete_header(data, b"a");
            let _ = headers(data).count();
        }
    }

    #[test]
    fn setting_an_existing_header_changes_only_its_value() {
        assert_eq!(
            set_header(REQ, b"Content-Length", b"14"),
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\nbody"
        );
        assert_eq!(
            set_header(b"GET / HTTP/1.1\r\nhost:  a  \r\n\r\n", b"Host", b"b"),
            b"GET / HTTP/1.1\r\nhost:  b  \r\n\r\n"
        );
    }

    #[test]
    fn a_new_header_is_the_first_header_line() {
        assert_eq!(
            set_header(REQ, b"X-New", b"v"),
            b"GET / HTTP/1.1\r\nX-New: v\r\nHost: x\r\nContent-Length: 7\r\n\r\nbody"
        );
    }

    #[test]
    fn payload_without_crlf_is_unchanged_by_set() {
        assert_eq!(set_header(b"GET / HTTP/1.1", b"A", b"b"), b"GET / HTTP/1.1");
    }

    #[test]
    fn deleting_removes_the_whole_line() {
        let data = b"GET / HTTP/1.1\r\nA: 1   \r\nB: 2\r\n\r\n";
        assert_eq!(delete_header(data, b"a"), b"GET / HTTP/1.1\r\nB: 2\r\n\r\n");
        assert_eq!(delete_header(data, b"C"), data);
    }

    #[test]
    fn body_offset_is_after_the_blank_line() {
        assert_eq!(body_offset(REQ).map(|o| &REQ[o..]), Some(&b"body"[..]));
        assert_eq!(body_offset(b"GET / HTTP/1.1\r\n"), None);
    }
}
