//! The replay target (`--output-http URL`) and how a captured request is
//! adapted to it, byte for byte (where gor fixes GoReplay, see docs/coming-from-goreplay.md):
//!
//! * `host`, `host:port` and `:port`-less URLs without a scheme mean `http://`;
//! * a path of `/` (or none) keeps the captured path; a longer path is a
//!   prefix put in front of it (GoReplay sends everything to that exact path);
//! * `user:pass@` sets basic auth, replacing a captured `Authorization`;
//! * Host becomes the target's `host[:port]` unless the captured one is kept
//!   (`--http-original-host`, or a `--http-set-header Host:` rule);
//! * `Content-Length` is made to match the body actually captured.
//!
//! Only the head is edited; header names, case, order and spacing stay as
//! captured, nothing is added (no `User-Agent`, no `Accept-Encoding`), and
//! HTTP/1.0 stays 1.0.

use crate::http::framing::{self, BodyKind, FramingHeaders};
use crate::http::{headers, start_line};
use base64::Engine as _;
use bytes::Bytes;

/// A parsed target URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    /// Host name or address, without IPv6 brackets (what we connect to).
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written in the URL (the outgoing Host header).
    pub authority: String,
    /// Path prefix without a trailing `/` (empty: keep the captured path).
    pub prefix: String,
    /// Query string of the URL, added to every request's query.
    pub query: String,
    /// `Basic ...` from the URL's userinfo.
    pub authorization: Option<String>,
}

impl Target {
    /// Parses `[scheme://][user[:pass]@]host[:port][/path][?query]`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("http".to_string(), url),
        };
        let tls = match scheme.as_str() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported scheme {other:?} (use http or https)")),
        };
        let (authority_all, path_query) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, authority) = match authority_all.rsplit_once('@') {
            Some((u, a)) => (Some(u), a),
            None => (None, authority_all),
        };
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err("no host in the URL".into());
        }
        let port = match port {
            Some(p) => p,
            None if tls => 443,
            None => 80,
        };
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_query, ""),
        };
        let authorization = userinfo.map(|u| {
            let decoded = percent_decode(u);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(decoded)
            )
        });
        Ok(Target {
            tls,
            host,
            port,
            authority: authority.to_string(),
            prefix: path.trim_end_matches('/').to_string(),
            query: query.to_string(),
            authorization,
        })
    }

    /// `scheme://authority`, for logs.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }

    /// True when `other` is reached through the same connection.
    pub fn same_origin(&self, other: &Target) -> bool {
        self.tls == other.tls
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [ in the host".to_string())?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?),
        None => None,
    };
    Ok((host.to_string(), port))
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| crate::hex::byte([h[0], h[1]]))
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// What the replay does to each request's head.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub target: Target,
    /// Keep the captured Host header.
    pub original_host: bool,
}

/// A request ready to be written: the edited head and the body as captured.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub head: Vec<u8>,
    pub body: Bytes,
    pub is_head: bool,
    /// The request itself asks the server to close the connection.
    pub closes: bool,
}

/// Why a message is not replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not an HTTP/1.x request, or its head is incomplete.
    Malformed,
    /// `CONNECT` opens a tunnel; GoReplay does not replay it either.
    Connect,
    /// Its body length cannot be known (conflicting or invalid
    /// `Content-Length`, `Transfer-Encoding` not ending in `chunked`): the
    /// same requests capture and `--input-http` refuse.
    Unframeable,
}

impl Rewrite {
    /// Adapts a captured request to the target (see the module comment).
    ///
    /// One pass over the head finds every header that matters; the new head
    /// is then assembled from slices of the captured one and the few
    /// replacements (this runs once per replayed request).
    pub fn prepare(&self, data: &Bytes) -> Result<PreparedRequest, Skip> {
        let line = start_line::request_line(data).ok_or(Skip::Malformed)?;
        if line.method == b"CONNECT" {
            return Err(Skip::Connect);
        }
        let body_at = headers::body_offset(data).ok_or(Skip::Malformed)?;
        let is_head = line.method == b"HEAD";
        let body = data.slice(body_at..);
        let src = &data[..body_at];
        let t = &self.target;

        let (mut host, mut auth, mut length) = (None, None, None);
        // Repeated Content-Length fields after the first (rare): removed
        // when the length is corrected, so none contradicts the new one.
        let mut more_lengths: Vec<headers::Header<'_>> = Vec::new();
        let mut fields = FramingHeaders::new();
        let mut closes = false;
        for h in headers::headers(src) {
            let name = h.name;
            if fields.add(name, h.value) {
                if name.eq_ignore_ascii_case(b"Content-Length") {
                    match length {
                        None => length = Some(h),
                        Some(_) => more_lengths.push(h),
                    }
                }
            } else if name.eq_ignore_ascii_case(b"Host") {
                host.get_or_insert(h);
            } else if name.eq_ignore_ascii_case(b"Authorization") {
                auth.get_or_insert(h);
            } else if name.eq_ignore_ascii_case(b"Connection") {
                closes = closes || framing::has_token(h.value, b"close");
            }
        }
        let chunked = match fields.request_body() {
            Ok(kind) => kind == BodyKind::Chunked,
            Err(_) => return Err(Skip::Unframeable),
        };

        // Edits as (from, to, replacement), applied in order of position.
        let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::with_capacity(4);
        let captured_target = start_line::origin_form(line.target);
        if !t.prefix.is_empty() || !t.query.is_empty() || captured_target.len() != line.target.len()
        {
            // A prefix and the URL's query go in front of / after the
            // captured target; an absolute-form target (captured at a
            // proxy) goes to an origin server in origin form.
            let mut new_target =
                Vec::with_capacity(t.prefix.len() + captured_target.len() + t.query.len() + 2);
            new_target.extend_from_slice(t.prefix.as_bytes());
            if !t.prefix.is_empty() && !captured_target.starts_with(b"/") {
                new_target.push(b'/');
            }
            new_target.extend_from_slice(captured_target);
            if !t.query.is_empty() {
                new_target.push(if captured_target.contains(&b'?') {
                    b'&'
                } else {
                    b'?'
                });
                new_target.extend_from_slice(t.query.as_bytes());
            }
            edits.push((
                line.target_start,
                line.target_start + line.target.len(),
                new_target,
            ));
        }
        let mut set = |found: Option<headers::Header<'_>>,
                       name: &[u8],
                       value: &[u8],
                       insert_at: usize| match found {
            Some(h) => edits.push((h.value_start, h.value_end, value.to_vec())),
            None => {
                let mut l = Vec::with_capacity(name.len() + value.len() + 4);
                l.extend_from_slice(name);
                l.extend_from_slice(b": ");
                l.extend_from_slice(value);
                l.extend_from_slice(b"\r\n");
                edits.push((insert_at, insert_at, l));
            }
        };
        if !self.original_host {
            set(host, b"Host", t.authority.as_bytes(), line.end);
        }
        if let Some(a) = &t.authorization {
            set(auth, b"Authorization", a.as_bytes(), line.end);
        }
        // Content-Length must match the body we have: a recording may hold
        // a cut body (--copy-buffer-size), and a server waiting for missing
        // bytes would stall the connection until the timeout. Chunked
        // bodies carry their own framing (a Content-Length beside them is
        // ignored by the framing rules and left as captured).
        if !chunked && fields.content_length().unwrap_or(0) != body.len() as u64 {
            let len = body.len().to_string();
            if length.is_some() {
                set(length, b"Content-Length", len.as_bytes(), 0);
                for h in &more_lengths {
                    edits.push((h.line_start, h.line_end, Vec::new()));
                }
            } else {
                set(None, b"Content-Length", len.as_bytes(), body_at - 2);
            }
        }
        // Stable: two inserts at one place keep the order above.
        edits.sort_by_key(|e| e.0);
        let extra: usize = edits.iter().map(|e| e.2.len()).sum();
        let mut head = Vec::with_capacity(src.len() + extra);
        let mut pos = 0;
        for (from, to, with) in edits {
            head.extend_from_slice(&src[pos..from.max(pos)]);
            head.extend_from_slice(&with);
            pos = to.max(pos);
        }
        head.extend_from_slice(&src[pos..]);
        Ok(PreparedRequest {
            head,
            body,
            is_head,
            closes,
        })
    }
}

/// Where a `Location` points from the request `head` sent to `current`:
/// the target to connect to and the request target (path and query) to
/// ask it for. Resolved by the URL rules (RFC 3986 section 5, as browsers
/// do): `//host/x` keeps the scheme, `?q` keeps the path, `../` climbs a
/// directory, a `#fragment` is never sent. `None` for a location that is
/// not an http(s) URL.
fn resolve(current: &Target, head: &[u8], location: &str) -> Option<(Target, String)> {
    let sent = start_line::target(head).map(start_line::origin_form);
    let sent = sent
        .and_then(|t| std::str::from_utf8(t).ok())
        .filter(|t| t.starts_with('/'))
        .unwrap_or("/");
    let base = url::Url::parse(&format!("{}{sent}", current.origin())).ok()?;
    let next = base.join(location).ok()?;
    if !matches!(next.scheme(), "http" | "https") || next.host().is_none() {
        return None;
    }
    let mut path = next.path().to_string();
    if let Some(q) = next.query() {
        path.push('?');
        path.push_str(q);
    }
    let target = if next.origin() == base.origin() {
        current.clone()
    } else {
        Target {
            prefix: String::new(),
            query: String::new(),
            ..Target::parse(&next.origin().ascii_serialization()).ok()?
        }
    };
    Some((target, path))
}

/// The request for the next hop of a redirect: `location` resolved against
/// the current target. 303 (and 301/302 after a POST, as browsers and Go do)
/// turn into a body-less GET; 307 and 308 resend the same request.
pub fn redirect(
    current: &Target,
    req: &PreparedRequest,
    status: u16,
    location: &[u8],
    original_host: bool,
) -> Option<(Target, PreparedRequest)> {
    let location = std::str::from_utf8(location).ok()?.trim();
    let (next, path) = resolve(current, &req.head, location)?;
    let mut head = start_line::set_target(&req.head, path.as_bytes())?;
    let method = start_line::method(&head)?.to_vec();
    let to_get =
        status == 303 && method != b"HEAD" || (status == 301 || status == 302) && method == b"POST";
    let mut body = req.body.clone();
    if to_get {
        let l = start_line::request_line(&head)?;
        let method_len = l.method.len();
        head = crate::http::edit::replace(&head, 0, method_len, b"GET");
        head = headers::delete_header(&head, b"Content-Length");
        head = headers::delete_header(&head, b"Transfer-Encoding");
        body = Bytes::new();
    }
    if !original_host || !next.same_origin(current) {
        head = headers::set_header(&head, b"Host", next.authority.as_bytes());
    }
    Some((
        next,
        PreparedRequest {
            head,
            body,
            is_head: req.is_head,
            closes: req.closes,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(url: &str) -> Rewrite {
        Rewrite {
            target: Target::parse(url).unwrap(),
            original_host: false,
        }
    }

    fn prepared(url: &str, req: &str) -> String {
        let p = rewrite(url).prepare(&Bytes::from(req.to_string())).unwrap();
        let mut all = p.head;
        all.extend_from_slice(&p.body);
        String::from_utf8(all).unwrap()
    }

    #[test]
    fn url_without_scheme_means_http() {
        for url in ["staging.com", "localhost:8080", "127.0.0.1:8080"] {
            let t = Target::parse(url).unwrap();
            assert!(!t.tls, "{url}");
            assert_eq!(t.authority, url);
        }
        assert_eq!(Target::parse("staging.com").unwrap().port, 80);
        assert_eq!(Target::parse("https://h").unwrap().port, 443);
        assert_eq!(Target::parse("http://[::1]:81/").unwrap().host, "::1");
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            ":8080",
            "ftp://x",
            "http://h:99999",
            "http://",
            "http://[::1",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn root_path_keeps_the_captured_path_and_host_is_replaced() {
        let out = prepared(
            "http://127.0.0.1:9000/",
            "GET /a/b?x=1 HTTP/1.1\r\nhOsT: old.example\r\nX-A: 1\r\n\r\n",
        );
        assert_eq!(
            out,
            "GET /a/b?x=1 HTTP/1.1\r\nhOsT: 127.0.0.1:9000\r\nX-A: 1\r\n\r\n"
        );
    }

    #[test]
    fn longer_path_is_a_prefix_of_the_captured_path() {
        let out = prepared(
            "http://h/api/",
            "GET /users?id=2 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(out.starts_with("GET /api/users?id=2 HTTP/1.1\r\n"), "{out}");
        let out = prepared(
            "http://h/api?k=v",
            "GET /u?id=2 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(out.starts_with("GET /api/u?id=2&k=v HTTP/1.1\r\n"), "{out}");
    }

    #[test]
    fn userinfo_replaces_the_captured_authorization() {
        let out = prepared(
            "http://us%40r:pw@h",
            "GET / HTTP/1.1\r\nAuthorization: Bearer x\r\nHost: x\r\n\r\n",
        );
        // base64("us@r:pw")
        assert!(
            out.contains("Authorization: Basic dXNAcjpwdw==\r\n"),
            "{out}"
        );
        assert!(!out.contains("Bearer"));
    }

    #[test]
    fn content_length_is_fixed_to_the_captured_body() {
        let out = prepared("h", "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
        assert!(out.contains("Content-Length: 3\r\n\r\nabc"), "{out}");
        let out = prepared("h", "POST / HTTP/1.0\r\nX: y\r\n\r\nabcd");
        assert_eq!(
            out,
            "POST / HTTP/1.0\r\nHost: h\r\nX: y\r\nContent-Length: 4\r\n\r\nabcd"
        );
        let chunked =
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(prepared("h", chunked), chunked);
    }

    #[test]
    fn connect_and_garbage_are_skipped() {
        let r = rewrite("h");
        assert_eq!(
            r.prepare(&Bytes::from_static(b"CONNECT h:443 HTTP/1.1\r\n\r\n"))
                .unwrap_err(),
            Skip::Connect
        );
        for junk in [
            &b"\x00\x01garbage"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            b"",
        ] {
            assert_eq!(
                r.prepare(&Bytes::copy_from_slice(junk)).unwrap_err(),
                Skip::Malformed
            );
        }
    }

    #[test]
    fn requests_follow_the_one_framing_policy() {
        let r = rewrite("h");
        for bad in [
            &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        ] {
            assert_eq!(
                r.prepare(&Bytes::copy_from_slice(bad)).unwrap_err(),
                Skip::Unframeable,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Accepted as captured: repeated equal lengths, and chunked beside
        // a Content-Length (Transfer-Encoding wins).
        for good in [
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ] {
            assert_eq!(prepared("h", good), good);
        }
        // A cut body: every Content-Length field agrees with what is sent.
        assert_eq!(
            prepared(
                "h",
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nX: 1\r\nContent-Length: 9\r\n\r\nabc"
            ),
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX: 1\r\n\r\nabc"
        );
    }

    #[test]
    fn absolute_form_target_goes_out_in_origin_form() {
        let out = prepared("h", "GET http://old/x?y HTTP/1.1\r\nHost: old\r\n\r\n");
        assert!(out.starts_with("GET /x?y HTTP/1.1\r\nHost: h\r\n"), "{out}");
    }

    #[test]
    fn see_other_turns_a_post_into_a_bodyless_get() {
        let r = rewrite("http://h:1");
        let p = r
            .prepare(&Bytes::from_static(
                b"POST /a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
            ))
            .unwrap();
        let (t, next) = redirect(&r.target, &p, 303, b"c?d=1", false).unwrap();
        assert_eq!(t, r.target);
        assert_eq!(next.head, b"GET /a/c?d=1 HTTP/1.1\r\nHost: h:1\r\n\r\n");
        assert!(next.body.is_empty());
        let (t, next) = redirect(&r.target, &p, 307, b"https://other/z", false).unwrap();
        assert!(t.tls);
        assert_eq!(t.host, "other");
        assert!(
            next.head
                .starts_with(b"POST /z HTTP/1.1\r\nHost: other\r\n")
        );
        assert_eq!(&next.body[..], b"hi");
    }

    #[test]
    fn locations_resolve_by_the_url_rules() {
        let r = rewrite("http://h:8080");
        let p = r
            .prepare(&Bytes::from_static(
                b"GET /a/b/c?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            ))
            .unwrap();
        // (Location, origin it goes to, request target)
        let table = [
            ("https://other:9443/p?q=2#f", "https://other:9443", "/p?q=2"),
            ("http://h:8080/same", "http://h:8080", "/same"),
            ("//other/x", "http://other", "/x"),
            ("/abs", "http://h:8080", "/abs"),
            ("rel", "http://h:8080", "/a/b/rel"),
            ("rel?y=2", "http://h:8080", "/a/b/rel?y=2"),
            ("../up", "http://h:8080", "/a/up"),
            ("../../../../top", "http://h:8080", "/top"),
            ("./here", "http://h:8080", "/a/b/here"),
            ("?q", "http://h:8080", "/a/b/c?q"),
            ("#frag", "http://h:8080", "/a/b/c?x=1"),
            ("", "http://h:8080", "/a/b/c?x=1"),
            ("/sp ace", "http://h:8080", "/sp%20ace"),
            ("HTTPS://Other.Example/", "https://other.example", "/"),
            ("http://[::1]:81/v6", "http://[::1]:81", "/v6"),
        ];
        for (location, origin, path) in table {
            let (t, next) = redirect(&r.target, &p, 302, location.as_bytes(), false)
                .unwrap_or_else(|| panic!("{location:?} not followed"));
            assert_eq!(t.origin(), origin, "{location:?}");
            let want = format!("GET {path} HTTP/1.1\r\n");
            assert!(
                next.head.starts_with(want.as_bytes()),
                "{location:?}: {}",
                String::from_utf8_lossy(&next.head)
            );
        }
        for location in ["ftp://h/x", "mailto:a@b", "http://", "javascript:x"] {
            assert!(
                redirect(&r.target, &p, 302, location.as_bytes(), false).is_none(),
                "{location:?}"
            );
        }
        // A prefix and query of the replay URL are part of what was sent;
        // a relative location resolves against that.
        let r = rewrite("http://h/api?k=1");
        let p = r
            .prepare(&Bytes::from_static(b"GET /v1/x HTTP/1.1\r\n\r\n"))
            .unwrap();
        let (t, next) = redirect(&r.target, &p, 302, b"y", false).unwrap();
        assert_eq!(t, r.target);
        assert!(next.head.starts_with(b"GET /api/v1/y HTTP/1.1\r\n"));
    }
}
