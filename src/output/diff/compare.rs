//! What differs between two responses to the same request: the status code,
//! the headers (minus those that differ on every call, like `Date`), and the
//! body as the application wrote it (chunked and gzip / deflate coding
//! undone, so two servers that encode differently still compare equal).
//!
//! JSON bodies are compared structurally and every difference is named by
//! its path (`$.items[3].price`), keys added and removed included; other
//! bodies are compared as bytes, and for text the first differing line is
//! shown. `--output-diff-ignore REGEX` leaves out the fields it matches.

mod json;

use crate::http::framing::FramingHeaders;
use crate::http::{body, headers, start_line};
use regex::RegexSet;
use serde_json::Value;
use std::borrow::Cow;

/// Response headers that differ between two good servers on every call,
/// or that describe the coding rather than the content (the body is
/// compared decoded): left out unless the user compares them by name.
pub const DEFAULT_IGNORED_HEADERS: &[&str] = &[
    "Date",
    "Server",
    "Connection",
    "Keep-Alive",
    "Transfer-Encoding",
    "Content-Encoding",
    "Content-Length",
    "Age",
    "Expires",
    "Last-Modified",
    "ETag",
    "Via",
    "Vary",
    "X-Request-Id",
    "X-Runtime",
    "X-Response-Time",
    "Traceparent",
];

/// Most differences kept for one pair; beyond, they are only counted.
pub const MAX_DIFFERENCES: usize = 100;
/// Longest value (as JSON text) shown in a difference.
const MAX_VALUE: usize = 512;

/// How two responses are compared.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Lowercase names of the headers left out.
    ignored_headers: Vec<String>,
    /// Fields left out (`--output-diff-ignore`).
    ignore: Option<RegexSet>,
}

impl Rules {
    /// The default header list plus `extra_headers`; `ignore` are the
    /// `--output-diff-ignore` patterns (an invalid one is an error naming it).
    pub fn new(extra_headers: &[String], ignore: &[String]) -> Result<Rules, String> {
        let ignored_headers = DEFAULT_IGNORED_HEADERS
            .iter()
            .map(|h| h.to_string())
            .chain(extra_headers.iter().map(|h| h.trim().to_string()))
            .map(|h| h.to_ascii_lowercase())
            .collect();
        for pattern in ignore {
            regex::Regex::new(pattern).map_err(|e| format!("{pattern:?}: {e}"))?;
        }
        let ignore = if ignore.is_empty() {
            None
        } else {
            Some(RegexSet::new(ignore).map_err(|e| e.to_string())?)
        };
        Ok(Rules {
            ignored_headers,
            ignore,
        })
    }

    fn header_ignored(&self, name: &[u8]) -> bool {
        self.ignored_headers
            .iter()
            .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
    }

    fn field_ignored(&self, field: &str) -> bool {
        self.ignore.as_ref().is_some_and(|s| s.is_match(field))
    }
}

/// How a field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Present in both, with different values.
    Changed,
    /// Only in the candidate.
    Added,
    /// Only in the baseline.
    Removed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Changed => "changed",
            Change::Added => "added",
            Change::Removed => "removed",
        }
    }
}

/// One field that differs. An absent side is JSON `null` (see `change`).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// `status`, `header:<Name>`, `body`, or a JSON path (`$.user.name`).
    pub field: String,
    pub baseline: Value,
    pub candidate: Value,
    pub change: Change,
    /// The field also differs between two known-good builds (three
    /// targets): not a regression.
    pub noise: bool,
}

/// The differences of one pair: the first [`MAX_DIFFERENCES`], and how
/// many more there were.
#[derive(Debug, Default, Clone)]
pub struct Differences {
    pub list: Vec<Difference>,
    pub more: usize,
}

impl Differences {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.more == 0
    }

    /// Where the list stands now, to go back to with [`Differences::rewind`].
    fn mark(&self) -> (usize, usize) {
        (self.list.len(), self.more)
    }

    /// Forgets what was added since `mark`.
    fn rewind(&mut self, (len, more): (usize, usize)) {
        self.list.truncate(len);
        self.more = more;
    }

    fn add(
        &mut self,
        rules: &Rules,
        field: &str,
        baseline: Value,
        candidate: Value,
        change: Change,
    ) {
        if rules.field_ignored(field) {
            return;
        }
        if self.list.len() >= MAX_DIFFERENCES {
            self.more += 1;
            return;
        }
        self.list.push(Difference {
            field: field.to_string(),
            baseline: clip(baseline),
            candidate: clip(candidate),
            change,
            noise: false,
        });
    }
}

/// The parts of a response that are compared.
struct Parsed<'a> {
    status: Option<u16>,
    /// Compared headers: name as sent, values (repeated fields joined).
    headers: Vec<(&'a [u8], Cow<'a, [u8]>)>,
    body: Cow<'a, [u8]>,
    json_type: bool,
}

impl<'a> Parsed<'a> {
    fn new(rules: &Rules, data: &'a [u8]) -> Parsed<'a> {
        let status = start_line::status_code(data);
        let mut compared: Vec<(&[u8], Cow<'a, [u8]>)> = Vec::new();
        let mut json_type = false;
        // One pass over the head gathers what the body's decoding needs too.
        let mut framing = FramingHeaders::new();
        let mut coding = None;
        for h in headers::headers(data) {
            framing.add(h.name, h.value);
            if h.name.eq_ignore_ascii_case(b"content-type") {
                json_type = h.value.windows(4).any(|w| w.eq_ignore_ascii_case(b"json"));
            } else if h.name.eq_ignore_ascii_case(b"content-encoding") && coding.is_none() {
                coding = Some(body::Coding::of(h.value));
            }
            if rules.header_ignored(h.name) {
                continue;
            }
            match compared
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(h.name))
            {
                Some((_, v)) => {
                    let v = v.to_mut();
                    v.extend_from_slice(b", ");
                    v.extend_from_slice(h.value);
                }
                None => compared.push((h.name, Cow::Borrowed(h.value))),
            }
        }
        let body = match headers::body_offset(data) {
            Some(at) => {
                let kind = framing.response_body(false, false, status.unwrap_or(200));
                body::decode(&data[at..], kind, coding.flatten()).0
            }
            None => Cow::Borrowed(&data[data.len()..]),
        };
        Parsed {
            status,
            headers: compared,
            body,
            json_type,
        }
    }

    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }
}

/// Compares a candidate response with its baseline (both whole messages:
/// head and body).
pub fn compare(rules: &Rules, baseline: &[u8], candidate: &[u8]) -> Differences {
    if baseline == candidate || equal_but_for_ignored_headers(rules, baseline, candidate) {
        return Differences::default();
    }
    compare_taken_apart(rules, baseline, candidate)
}

/// [`compare`] the long way: both responses parsed, every part compared.
fn compare_taken_apart(rules: &Rules, baseline: &[u8], candidate: &[u8]) -> Differences {
    let mut out = Differences::default();
    let a = Parsed::new(rules, baseline);
    let b = Parsed::new(rules, candidate);
    if a.status != b.status {
        let code = |s: Option<u16>| s.map_or(Value::Null, Value::from);
        out.add(
            rules,
            "status",
            code(a.status),
            code(b.status),
            Change::Changed,
        );
    }
    compare_headers(rules, &a, &b, &mut out);
    if a.body != b.body {
        compare_bodies(rules, &a, &b, &mut out);
    }
    out
}

/// The usual equal pair, told without taking either apart: the same
/// status line, the same header names in the same order with the same
/// values except where a header is ignored (`Date`), and the same bytes
/// after the head. The headers that frame or code the body must match
/// exactly, so the same bytes mean the same decoded body. `false` means
/// "cannot tell this way", not "different".
fn equal_but_for_ignored_headers(rules: &Rules, a: &[u8], b: &[u8]) -> bool {
    let (Some(la), Some(lb)) = (start_line::status_line(a), start_line::status_line(b)) else {
        return false;
    };
    if a[..la.end] != b[..lb.end] {
        return false;
    }
    let (mut ha, mut hb) = (headers::headers(a), headers::headers(b));
    loop {
        match (ha.next(), hb.next()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.name == y.name => {
                let frames_body = [
                    &b"content-length"[..],
                    b"transfer-encoding",
                    b"content-encoding",
                ]
                .iter()
                .any(|n| x.name.eq_ignore_ascii_case(n));
                if x.value != y.value && (frames_body || !rules.header_ignored(x.name)) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    match (headers::body_offset(a), headers::body_offset(b)) {
        (Some(i), Some(j)) => a[i..] == b[j..],
        (None, None) => true,
        _ => false,
    }
}

fn compare_headers(rules: &Rules, a: &Parsed<'_>, b: &Parsed<'_>, out: &mut Differences) {
    let text = |v: &[u8]| Value::String(String::from_utf8_lossy(v).into_owned());
    let field = |name: &[u8]| format!("header:{}", String::from_utf8_lossy(name));
    for (name, value) in &a.headers {
        match b.header(name) {
            Some(other) if other == &value[..] => {}
            Some(other) => out.add(
                rules,
                &field(name),
                text(value),
                text(other),
                Change::Changed,
            ),
            None => out.add(
                rules,
                &field(name),
                text(value),
                Value::Null,
                Change::Removed,
            ),
        }
    }
    for (name, value) in &b.headers {
        if a.header(name).is_none() {
            out.add(rules, &field(name), Value::Null, text(value), Change::Added);
        }
    }
}

/// A body that is probably JSON: it opens an object or an array.
fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.trim_ascii_start().first(), Some(b'{' | b'['))
}

fn compare_bodies(rules: &Rules, a: &Parsed<'_>, b: &Parsed<'_>, out: &mut Differences) {
    let json = a.json_type || b.json_type || looks_like_json(&a.body) || looks_like_json(&b.body);
    if json && json::compare(rules, &a.body, &b.body, out).is_some() {
        return;
    }
    let (x, y) = first_difference(&a.body, &b.body);
    out.add(
        rules,
        "body",
        Value::String(x),
        Value::String(y),
        Change::Changed,
    );
}

/// `.name` for a plain key, `["odd key"]` for any other.
fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_string()).to_string());
        path.push(']');
    }
}

/// What to show of two bodies that differ: for text, the first line that
/// differs on each side; for binary data, the sizes and the first offset.
fn first_difference(a: &[u8], b: &[u8]) -> (String, String) {
    let offset = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let text = |s: &[u8]| std::str::from_utf8(s).is_ok_and(|t| !t.contains('\0'));
    if !(text(a) && text(b)) {
        let show = |s: &[u8]| {
            format!(
                "{} bytes (binary), first difference at byte {offset}",
                s.len()
            )
        };
        return (show(a), show(b));
    }
    let line_no = a[..offset].iter().filter(|c| **c == b'\n').count();
    let line = |s: &[u8]| match s.split(|c| *c == b'\n').nth(line_no) {
        Some(l) => format!(
            "line {}: {}",
            line_no + 1,
            shorten(&String::from_utf8_lossy(l), MAX_VALUE)
        ),
        None => format!("line {}: (end of body)", line_no + 1),
    };
    (line(a), line(b))
}

/// At most `max` bytes of `s` (cut at a character boundary, `…` marking
/// the cut), without a trailing `\r`.
pub fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.trim_end_matches('\r').to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A value small enough to show: large strings and subtrees are cut (a
/// subtree becomes its JSON text, cut).
fn clip(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() > MAX_VALUE => Value::String(shorten(&s, MAX_VALUE)),
        Value::Array(_) | Value::Object(_) => {
            let text = v.to_string();
            if text.len() > MAX_VALUE {
                Value::String(shorten(&text, MAX_VALUE))
            } else {
                v
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: &str, headers: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn fields(d: &Differences) -> Vec<&str> {
        d.list.iter().map(|x| x.field.as_str()).collect()
    }

    fn rules() -> Rules {
        Rules::new(&[], &[]).unwrap()
    }

    #[test]
    fn json_differences_are_named_by_path_with_added_and_removed_keys() {
        let a = response(
            "200 OK",
            "Content-Type: application/json\r\n",
            r#"{"user":{"name":"ann","age":3},"items":[{"price":1},{"price":2}],"gone":true}"#,
        );
        let b = response(
            "200 OK",
            "Content-Type: application/json\r\n",
            r#"{"user":{"name":"bob","age":3.0},"items":[{"price":1},{"price":5},{"price":9}],"new key":1}"#,
        );
        let d = compare(&rules(), &a, &b);
        assert_eq!(
            fields(&d),
            [
                "$.user.name",
                "$.items[1].price",
                "$.items[2]",
                "$.gone",
                "$[\"new key\"]"
            ]
        );
        assert_eq!(d.list[3].change, Change::Removed);
        assert_eq!(d.list[3].baseline, json!(true));
        assert_eq!(d.list[3].candidate, Value::Null);
        assert_eq!(d.list[1].baseline, json!(2));
        assert_eq!(d.list[1].candidate, json!(5));
        assert_eq!(d.list[2].change, Change::Added);
        assert_eq!(d.list[4].change, Change::Added);
    }

    #[test]
    fn status_and_headers_compare_but_the_default_noise_list_does_not() {
        let a = response(
            "200 OK",
            "Date: Mon\r\nServer: a\r\nX-Version: 1\r\nX-Old: y\r\n",
            "x",
        );
        let b = response(
            "500 Oops",
            "Date: Tue\r\nServer: b\r\nx-version: 2\r\nX-New: z\r\n",
            "x",
        );
        let d = compare(&rules(), &a, &b);
        assert_eq!(
            fields(&d),
            ["status", "header:X-Version", "header:X-Old", "header:X-New"]
        );
        assert_eq!(d.list[0].baseline, json!(200));
        assert_eq!(d.list[0].candidate, json!(500));
        let quiet = Rules::new(&["x-version".into()], &["^header:X-(Old|New)$".into()]).unwrap();
        assert_eq!(fields(&compare(&quiet, &a, &b)), ["status"]);
    }

    #[test]
    fn ignore_patterns_leave_out_matching_json_paths() {
        let a = response("200 OK", "", r#"{"id":1,"meta":{"took":5},"v":1}"#);
        let b = response("200 OK", "", r#"{"id":1,"meta":{"took":7},"v":2}"#);
        let r = Rules::new(&[], &[r"^\$\.meta\.".into()]).unwrap();
        assert_eq!(fields(&compare(&r, &a, &b)), ["$.v"]);
        assert!(Rules::new(&[], &["(".into()]).is_err());
    }

    #[test]
    fn text_bodies_show_the_first_differing_line() {
        let a = response(
            "200 OK",
            "Content-Type: text/plain\r\n",
            "one\ntwo\nthree\n",
        );
        let b = response(
            "200 OK",
            "Content-Type: text/plain\r\n",
            "one\ntwo\nTHREE\n",
        );
        let d = compare(&rules(), &a, &b);
        assert_eq!(fields(&d), ["body"]);
        assert_eq!(d.list[0].baseline, json!("line 3: three"));
        assert_eq!(d.list[0].candidate, json!("line 3: THREE"));
        let bin = compare(
            &rules(),
            &response("200 OK", "", "a\0b"),
            &response("200 OK", "", "a\0c"),
        );
        assert_eq!(
            bin.list[0].baseline,
            json!("3 bytes (binary), first difference at byte 2")
        );
    }

    #[test]
    fn gzip_and_plain_bodies_with_the_same_content_are_equal() {
        let z = crate::http::body::gzip(br#"{"a":[1,2,3]}"#);
        let mut a = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            z.len()
        )
        .into_bytes();
        a.extend_from_slice(&z);
        let b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n8\r\n[1,2,3]}\r\n0\r\n\r\n";
        assert!(compare(&rules(), &a, b).is_empty());
    }

    #[test]
    fn many_differences_are_counted_past_the_cap_and_values_are_cut() {
        let a: Vec<u32> = (0..150).collect();
        let b: Vec<u32> = (1..151).collect();
        let d = compare(
            &rules(),
            &response("200 OK", "", &json!(a).to_string()),
            &response("200 OK", "", &json!(b).to_string()),
        );
        assert_eq!(d.list.len(), MAX_DIFFERENCES);
        assert_eq!(d.more, 50);
        let long = "x".repeat(5000);
        let d = compare(
            &rules(),
            &response("200 OK", "", &json!({"s": long}).to_string()),
            &response("200 OK", "", r#"{"s":"y"}"#),
        );
        assert!(d.list[0].baseline.as_str().unwrap().len() < 600);
    }

    #[test]
    fn the_quick_equality_check_agrees_with_the_long_way() {
        let head =
            |extra: &str| format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}");
        let z = crate::http::body::gzip(b"{}");
        let gz = |cl: usize| {
            let mut m = head(&format!(
                "Content-Encoding: gzip\r\nContent-Length: {cl}\r\n\r\n"
            ))
            .into_bytes();
            m.extend_from_slice(&z);
            m
        };
        let messages: Vec<Vec<u8>> = vec![
            format!("{}Date: a\r\nContent-Length: 2\r\n\r\n{{}}", head("")).into_bytes(),
            format!("{}Date: b\r\nContent-Length: 2\r\n\r\n{{}}", head("")).into_bytes(),
            format!("{}Date: b\r\nContent-Length: 1\r\n\r\n{{}}", head("")).into_bytes(),
            format!(
                "{}Date: b\r\nX-Version: 2\r\nContent-Length: 2\r\n\r\n{{}}",
                head("")
            )
            .into_bytes(),
            format!(
                "{}Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n",
                head("")
            )
            .into_bytes(),
            format!(
                "{}Transfer-Encoding: identity\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n",
                head("")
            )
            .into_bytes(),
            gz(z.len()),
            gz(z.len() + 1),
            b"HTTP/1.1 304 Not Modified\r\nDate: a\r\n\r\n{}".to_vec(),
            b"HTTP/1.1 304 Not Modified\r\nDate: b\r\n\r\n[]".to_vec(),
            b"HTTP/1.1 200 OK\r\nDate: a".to_vec(),
            b"HTTP/1.1 200 OK\r\nDate: b".to_vec(),
            b"not http".to_vec(),
        ];
        let mut quick = 0;
        for a in &messages {
            for b in &messages {
                if equal_but_for_ignored_headers(&rules(), a, b) {
                    quick += 1;
                    let long = compare_taken_apart(&rules(), a, b);
                    assert!(long.is_empty(), "{:?}", long.list);
                }
            }
        }
        // Each message with itself, the two Date variants both ways, and
        // the two heads without a blank line both ways.
        assert_eq!(
            quick,
            messages.len() - 1 + 4,
            "not http is not told quickly"
        );
    }

    #[test]
    fn garbage_compares_without_panicking() {
        for (a, b) in [
            (&b""[..], &b"HTTP/1.1 200 OK\r\n\r\n"[..]),
            (
                b"\xff\xfe",
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\x08zz",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"x",
            ),
        ] {
            let _ = compare(&rules(), a, b);
        }
    }
}
