//! Which endpoint a request is for: its method and path, with the parts of
//! the path that name one record among many collapsed to `{id}`, so that
//! `GET /users/17/orders` and `GET /users/42/orders` are counted together
//! as `GET /users/{id}/orders`. The query is not part of the endpoint.

use crate::http::start_line;

/// The endpoint of a request (`GET /users/{id}/orders`); `None` when the
/// message does not start with a request line.
pub fn of_request(request: &[u8]) -> Option<String> {
    let line = start_line::request_line(request)?;
    let target = start_line::origin_form(line.target);
    let path = match target.iter().position(|b| *b == b'?' || *b == b'#') {
        Some(i) => &target[..i],
        None => target,
    };
    let mut out = String::with_capacity(line.method.len() + path.len() + 8);
    push_text(&mut out, line.method);
    out.push(' ');
    if path.is_empty() {
        out.push('/');
        return Some(out);
    }
    for (i, segment) in path.split(|b| *b == b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if is_id(segment) {
            out.push_str("{id}");
        } else {
            push_text(&mut out, segment);
        }
    }
    Some(out)
}

/// Appends `bytes` as text (`\u{FFFD}` for what is not UTF-8), without the
/// lossy conversion's cost in the usual case that it is.
fn push_text(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// The request line without its CRLF, for reports (`GET /a?b HTTP/1.1`).
pub fn request_line(request: &[u8]) -> String {
    let end = crate::http::edit::find_crlf(request)
        .unwrap_or(request.len())
        .min(4096);
    String::from_utf8_lossy(&request[..end]).into_owned()
}

/// A number, a UUID, or 16 or more hex digits.
fn is_id(segment: &[u8]) -> bool {
    if segment.is_empty() {
        return false;
    }
    if segment.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if segment.len() >= 16 && segment.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    is_uuid(segment)
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(line: &str) -> String {
        of_request(format!("{line}\r\nHost: h\r\n\r\n").as_bytes()).unwrap()
    }

    #[test]
    fn numbers_uuids_and_long_hex_collapse_to_id() {
        assert_eq!(
            ep("GET /users/17/orders HTTP/1.1"),
            "GET /users/{id}/orders"
        );
        assert_eq!(
            ep("DELETE /o/3fa85f64-5717-4562-b3fc-2c963f66afa6 HTTP/1.1"),
            "DELETE /o/{id}"
        );
        assert_eq!(ep("GET /blob/0123456789abcdef0 HTTP/1.1"), "GET /blob/{id}");
        // Short hex and words stay: they name a kind, not a record.
        assert_eq!(ep("GET /cafe/beef HTTP/1.1"), "GET /cafe/beef");
        assert_eq!(ep("GET /v2/items HTTP/1.1"), "GET /v2/items");
    }

    #[test]
    fn the_query_and_the_origin_are_not_part_of_the_endpoint() {
        assert_eq!(ep("GET /search?q=1&page=2 HTTP/1.1"), "GET /search");
        assert_eq!(ep("GET http://example.com/a/9?x HTTP/1.1"), "GET /a/{id}");
        assert_eq!(ep("GET http://example.com HTTP/1.1"), "GET /");
        assert_eq!(ep("OPTIONS * HTTP/1.1"), "OPTIONS *");
    }

    #[test]
    fn not_a_request_has_no_endpoint() {
        assert_eq!(of_request(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(of_request(b""), None);
        assert_eq!(
            request_line(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            "GET / HTTP/1.1"
        );
    }
}
