//! Query parameters of a request target, found the way GoReplay finds them:
//! `&name=` is searched first, then `?name=`; the value
//! runs to the next `&` or the end of the target. No percent-decoding: the
//! bytes are compared and replaced as sent.

use super::{edit, start_line};

/// Where the value of parameter `name` sits in `target` (start, end).
fn value_range(target: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    let key = |sep: u8| {
        let mut k = Vec::with_capacity(name.len() + 2);
        k.push(sep);
        k.extend_from_slice(name);
        k.push(b'=');
        k
    };
    let (at, key_len) = [b'&', b'?']
        .into_iter()
        .find_map(|sep| edit::find(target, &key(sep)).map(|i| (i, name.len() + 2)))?;
    let start = at + key_len;
    let end = memchr::memchr(b'&', &target[start..]).map_or(target.len(), |i| start + i);
    Some((start, end))
}

/// The value of query parameter `name` in a request target.
pub fn param<'a>(target: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    value_range(target, name).map(|(s, e)| &target[s..e])
}

/// `target` with parameter `name` set: its value replaced when present,
/// else `?name=value` appended (no `?` yet) or `&name=value`.
pub fn with_param(target: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    if let Some((s, e)) = value_range(target, name) {
        return edit::replace(target, s, e, value);
    }
    let mut out = Vec::with_capacity(target.len() + name.len() + value.len() + 2);
    out.extend_from_slice(target);
    out.push(if target.contains(&b'?') { b'&' } else { b'?' });
    out.extend_from_slice(name);
    out.push(b'=');
    out.extend_from_slice(value);
    out
}

/// The request with query parameter `name` set (see [`with_param`]);
/// `None` when the message does not start with a request line.
pub fn set_param(data: &[u8], name: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    let target = start_line::target(data)?;
    start_line::set_target(data, &with_param(target, name, value))
}

/// The value of query parameter `name` in a request message.
pub fn request_param<'a>(data: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    param(start_line::target(data)?, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &[u8] = b"/post?param=test&user_id=1&d_type=1&type=2&d_type=3";

    #[test]
    fn parameters_are_found_by_exact_name() {
        assert_eq!(param(TARGET, b"param"), Some(&b"test"[..]));
        assert_eq!(param(TARGET, b"user_id"), Some(&b"1"[..]));
        assert_eq!(param(TARGET, b"type"), Some(&b"2"[..]));
        assert_eq!(param(TARGET, b"d_type"), Some(&b"1"[..]));
        assert_eq!(param(TARGET, b"missing"), None);
        assert_eq!(param(b"/post", b"param"), None);
    }

    #[test]
    fn setting_replaces_existing_values() {
        assert_eq!(
            with_param(b"/a?api_key=1234&b=2", b"api_key", b"1"),
            b"/a?api_key=1&b=2"
        );
        assert_eq!(with_param(b"/a?b=2&c=3", b"c", b"x"), b"/a?b=2&c=x");
    }

    #[test]
    fn setting_appends_with_question_mark_or_ampersand() {
        assert_eq!(with_param(b"/post", b"param", b"test"), b"/post?param=test");
        assert_eq!(
            with_param(b"/post?param=test", b"user_id", b"1"),
            b"/post?param=test&user_id=1"
        );
    }

    #[test]
    fn set_param_edits_the_request_line_only() {
        let req = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            set_param(req, b"x", b"22").unwrap(),
            b"GET /a?x=22 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        assert_eq!(request_param(req, b"x"), Some(&b"1"[..]));
        assert_eq!(set_param(b"not http", b"x", b"1"), None);
    }
}
