//! GoReplay's JSON message format for Kafka (`--output-kafka-json-format`,
//! `--input-kafka-json-format`): one compact object per message, with the
//! keys in this order:
//!
//! `{"Req_URL":…,"Req_Type":…,"Req_ID":…,"Req_Ts":…,"Req_Method":…,"Req_Body":…,"Req_Headers":{…}}`
//!
//! * `Req_URL` is the request target when the payload starts with a valid
//!   request line, else `""`;
//! * `Req_Type`, `Req_ID`, `Req_Ts` are the header line's first three fields;
//! * `Req_Method` is the text before the first space (for a response, the
//!   protocol, e.g. `HTTP/1.1`);
//! * `Req_Body` is what follows the first blank line, omitted when empty;
//! * `Req_Headers` maps each canonical header name (`content-type` →
//!   `Content-Type`) to its values joined by `", "`, keys sorted; omitted
//!   when there are none, or when any header line (or the start line) is
//!   malformed.
//!
//! Strings are escaped as Go does (`<`, `>`, `&` as `\u003c` …, invalid
//! UTF-8 as U+FFFD), so that consumers of GoReplay's messages read ours.
//!
//! Reading rebuilds a request: `<Req_Type> <Req_ID> <Req_Ts>\n` then
//! `<Req_Method> <Req_URL> HTTP/1.1\r\n`, one `Name: value\r\n` per header,
//! a blank line and the body. Keys match case-insensitively, as Go's
//! decoder matches them.

use crate::http::start_line;
use crate::message::Message;
use bytes::Bytes;
use std::collections::BTreeMap;

/// Writes `msg` as a JSON document into `out` (cleared first).
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    out.clear();
    let mut fields = msg.header_fields();
    let kind = fields.next().unwrap_or(b"");
    let id = fields.next().unwrap_or(b"");
    let ts = fields.next().unwrap_or(b"");
    let data = &msg.data[..];
    let url = start_line::request_line(data).map_or(&b""[..], |l| l.target);
    let method = memchr::memchr(b' ', data).map_or(&b""[..], |i| &data[..i]);
    let body = crate::http::edit::find(data, b"\r\n\r\n").map_or(&b""[..], |i| &data[i + 4..]);
    out.extend_from_slice(b"{\"Req_URL\":");
    go_string(out, url);
    out.extend_from_slice(b",\"Req_Type\":");
    go_string(out, kind);
    out.extend_from_slice(b",\"Req_ID\":");
    go_string(out, id);
    out.extend_from_slice(b",\"Req_Ts\":");
    go_string(out, ts);
    out.extend_from_slice(b",\"Req_Method\":");
    go_string(out, method);
    if !body.is_empty() {
        out.extend_from_slice(b",\"Req_Body\":");
        go_string(out, body);
    }
    if let Some(headers) = header_map(data).filter(|h| !h.is_empty()) {
        out.extend_from_slice(b",\"Req_Headers\":{");
        for (i, (name, values)) in headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            go_string(out, name);
            out.push(b':');
            go_string(out, &values.join(&b", "[..]));
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Why a Kafka message could not be read as a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON at all, or not an object of strings where strings belong.
    InvalidJson,
    /// JSON, but `Req_Type` is not 1, 2 or 3.
    NotARecord,
}

/// Rebuilds the message a JSON document describes.
pub fn decode(doc: &[u8]) -> Result<Message, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(doc).map_err(|_| DecodeError::InvalidJson)?;
    let obj = value.as_object().ok_or(DecodeError::InvalidJson)?;
    let field = |name: &str| -> Result<&str, DecodeError> {
        match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            None | Some((_, serde_json::Value::Null)) => Ok(""),
            Some((_, serde_json::Value::String(s))) => Ok(s),
            Some(_) => Err(DecodeError::InvalidJson),
        }
    };
    let kind = field("Req_Type")?;
    let (id, ts) = (field("Req_ID")?, field("Req_Ts")?);
    let (method, url, body) = (field("Req_Method")?, field("Req_URL")?, field("Req_Body")?);
    if !matches!(kind, "1" | "2" | "3") || id.contains([' ', '\n']) || ts.contains([' ', '\n']) {
        return Err(DecodeError::NotARecord);
    }
    let meta = format!("{kind} {id} {ts}\n");
    let mut data = Vec::with_capacity(method.len() + url.len() + body.len() + 64);
    data.extend_from_slice(method.as_bytes());
    data.push(b' ');
    data.extend_from_slice(url.as_bytes());
    data.extend_from_slice(b" HTTP/1.1\r\n");
    match obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Req_Headers"))
    {
        None | Some((_, serde_json::Value::Null)) => {}
        Some((_, serde_json::Value::Object(headers))) => {
            for (name, value) in headers {
                let value = value.as_str().ok_or(DecodeError::InvalidJson)?;
                data.extend_from_slice(name.as_bytes());
                data.extend_from_slice(b": ");
                data.extend_from_slice(value.as_bytes());
                data.extend_from_slice(b"\r\n");
            }
        }
        Some(_) => return Err(DecodeError::InvalidJson),
    }
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(body.as_bytes());
    Ok(Message::from_parts(Bytes::from(meta), Bytes::from(data)))
}

/// The headers by canonical name, or `None` when the start line or any
/// header line is malformed. Lines end at `\n` (one `\r` before it is
/// dropped); a line starting with a space or tab continues the previous
/// value; the headers end at the blank line (or the end of the payload).
fn header_map(data: &[u8]) -> Option<BTreeMap<Vec<u8>, Vec<Vec<u8>>>> {
    let mut pos = start_line::start_line_end(data)?;
    let mut map: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    let mut last: Option<Vec<u8>> = None;
    while pos < data.len() {
        let rest = &data[pos..];
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], pos + i + 1),
            None => (rest, data.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = next;
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            let values = map.get_mut(last.as_ref()?)?;
            let value = values.last_mut()?;
            value.push(b' ');
            value.extend_from_slice(trim(line));
            continue;
        }
        let colon = memchr::memchr(b':', line)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| is_token_char(*b)) {
            return None;
        }
        let key = canonical(name);
        map.entry(key.clone())
            .or_default()
            .push(trim(&line[colon + 1..]).to_vec());
        last = Some(key);
    }
    Some(map)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Go's canonical header name: the first letter and every letter after a
/// `-` upper case, the rest lower case.
fn canonical(name: &[u8]) -> Vec<u8> {
    let mut upper = true;
    name.iter()
        .map(|&b| {
            let c = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            c
        })
        .collect()
}

/// Appends `s` as a JSON string, escaped as Go's encoder does.
fn go_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'<' | b'>' | b'&' | 0..0x20 => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                _ => out.push(b),
            }
            i += 1;
            continue;
        }
        let width = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        match s
            .get(i..i + width)
            .and_then(|c| std::str::from_utf8(c).ok())
        {
            Some(c) if width > 0 => {
                match c {
                    "\u{2028}" => out.extend_from_slice(b"\\u2028"),
                    "\u{2029}" => out.extend_from_slice(b"\\u2029"),
                    _ => out.extend_from_slice(c.as_bytes()),
                }
                i += width;
            }
            _ => {
                out.extend_from_slice("\u{fffd}".as_bytes());
                i += 1;
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(meta: &str, data: &[u8]) -> String {
        let msg = Message::from_parts(
            Bytes::from(format!("{meta}\n")),
            Bytes::copy_from_slice(data),
        );
        let mut out = Vec::new();
        encode(&msg, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn invalid_request_line_gives_goreplays_example() {
        assert_eq!(
            json("1 2 3", b"GET / HTTP1.1"),
            r#"{"Req_URL":"","Req_Type":"1","Req_ID":"2","Req_Ts":"3","Req_Method":"GET"}"#
        );
    }

    #[test]
    fn request_fields_in_goreplays_order_with_sorted_canonical_headers() {
        let got = json(
            "1 abc 1700000000000000000 0",
            b"POST /p?q=1 HTTP/1.1\r\nx-b: 2\r\nHost: h\r\ncontent-TYPE: a/b\r\nX-B: 3\r\n\r\nbody<&>",
        );
        assert_eq!(
            got,
            r#"{"Req_URL":"/p?q=1","Req_Type":"1","Req_ID":"abc","Req_Ts":"1700000000000000000","Req_Method":"POST","Req_Body":"body\u003c\u0026\u003e","Req_Headers":{"Content-Type":"a/b","Host":"h","X-B":"2, 3"}}"#
        );
    }

    #[test]
    fn response_method_is_the_protocol_and_url_is_empty() {
        let got = json(
            "2 abc 5 7",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
        assert_eq!(
            got,
            r#"{"Req_URL":"","Req_Type":"2","Req_ID":"abc","Req_Ts":"5","Req_Method":"HTTP/1.1","Req_Body":"ok","Req_Headers":{"Content-Length":"2"}}"#
        );
    }

    #[test]
    fn a_malformed_header_line_omits_every_header() {
        let got = json("1 a 1", b"GET / HTTP/1.1\r\nHost: h\r\nbroken line\r\n\r\n");
        assert!(!got.contains("Req_Headers"), "{got}");
        let got = json("1 a 1", b"GET / HTTP/1.1\r\nbad name: v\r\n\r\n");
        assert!(!got.contains("Req_Headers"), "{got}");
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        let mut out = Vec::new();
        go_string(
            &mut out,
            b"a\"\\\n\r\t\x08\x0c\x01<>&\xe2\x80\xa8\xff\xe2\x82x\xc3\xa9",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u003c\\u003e\\u0026\\u2028\u{fffd}\u{fffd}\u{fffd}xé\""
        );
    }

    #[test]
    fn json_input_becomes_a_request_with_a_three_field_header() {
        let doc = br#"{"Req_URL":"/","Req_Type":"1","Req_ID":"2","Req_Ts":"3","Req_Method":"GET","Req_Headers":{"Header":"1"}}"#;
        let msg = decode(doc).unwrap();
        assert_eq!(&msg.meta[..], b"1 2 3\n");
        assert_eq!(&msg.data[..], b"GET / HTTP/1.1\r\nHeader: 1\r\n\r\n");
    }

    #[test]
    fn keys_match_case_insensitively_and_body_follows_the_blank_line() {
        let doc = br#"{"req_url":"/x","REQ_TYPE":"2","Req_Id":"i","Req_Ts":"9","Req_Method":"PUT","Req_Body":"b"}"#;
        let msg = decode(doc).unwrap();
        assert_eq!(&msg.meta[..], b"2 i 9\n");
        assert_eq!(&msg.data[..], b"PUT /x HTTP/1.1\r\n\r\nb");
    }

    #[test]
    fn what_is_not_a_json_record_is_refused_with_its_reason() {
        assert_eq!(decode(b""), Err(DecodeError::InvalidJson));
        assert_eq!(decode(b"{not json"), Err(DecodeError::InvalidJson));
        assert_eq!(decode(b"[1,2]"), Err(DecodeError::InvalidJson));
        assert_eq!(decode(br#"{"Req_Type":1}"#), Err(DecodeError::InvalidJson));
        assert_eq!(
            decode(br#"{"Req_Type":"1","Req_Headers":{"a":1}}"#),
            Err(DecodeError::InvalidJson)
        );
        assert_eq!(decode(br#"{"Req_Type":"7"}"#), Err(DecodeError::NotARecord));
        assert_eq!(decode(b"{}"), Err(DecodeError::NotARecord));
    }

    #[test]
    fn encode_then_decode_keeps_every_field() {
        let data = b"GET /a?b=c HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\nhello";
        let text = json("1 0123456789abcdef01234567 1700000000123456789 55", data);
        let back = decode(text.as_bytes()).unwrap();
        assert_eq!(
            &back.meta[..],
            b"1 0123456789abcdef01234567 1700000000123456789\n"
        );
        assert_eq!(
            &back.data[..],
            b"GET /a?b=c HTTP/1.1\r\nAccept: */*\r\nHost: example.org\r\n\r\nhello"
        );
    }
}
