//! Secrets never reach a log line, a `--stats` line or `/metrics`: every
//! text gor prints about URLs, headers and plugins goes through [`text`],
//! which masks the password of any `scheme://user:password@host`, the value
//! of any `Authorization` or `Proxy-Authorization` header, and every secret
//! the command line or environment handed over ([`remember`]: Kafka SASL
//! passwords, S3 keys). A mask is `***`.

use std::borrow::Cow;
use std::sync::RwLock;

const MASK: &str = "***";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Secrets shorter than this are not masked by value: masking `a` would
/// mangle every line, and so short a password is found by its place (URL,
/// header) anyway.
const SHORTEST: usize = 4;

/// Masks `secret` wherever it appears from now on.
pub fn remember(secret: &str) {
    if secret.len() < SHORTEST {
        return;
    }
    let mut known = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == secret) {
        known.push(secret.to_string());
        // Longest first, so a secret containing another is masked whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// The secrets of gor's own settings and environment: the Kafka SASL
/// passwords and the S3 (AWS) credentials.
pub fn remember_settings(s: &crate::settings::Settings) {
    remember(&s.input_kafka_password);
    remember(&s.output_kafka_password);
    for var in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ] {
        if let Ok(v) = std::env::var(var) {
            remember(&v);
        }
    }
}

/// `s` with every secret masked (borrowed when there was none).
pub fn text(s: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(s);
    if let Some(masked) = url_passwords(&out) {
        out = Cow::Owned(masked);
    }
    if let Some(masked) = authorization_values(&out) {
        out = Cow::Owned(masked);
    }
    let known = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// Where an authority (`user:password@host:port`) ends.
fn authority_end(c: char) -> bool {
    matches!(
        c,
        '/' | '?' | '#' | '"' | '\'' | '\\' | '<' | '>' | ',' | ';'
    ) || c.is_whitespace()
}

/// The password of every `scheme://user:password@`, masked.
fn url_passwords(s: &str) -> Option<String> {
    if !s.contains("://") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after.find(authority_end).unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(MASK);
                        changed = true;
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The value of every `Authorization:` and `Proxy-Authorization:` header
/// (any case), masked up to the end of its line (or of the quoted or
/// escaped string it sits in).
fn authorization_values(s: &str) -> Option<String> {
    const NAME: &[u8] = b"authorization:";
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i + NAME.len() <= bytes.len() {
        if !bytes[i..i + NAME.len()].eq_ignore_ascii_case(NAME) {
            i += 1;
            continue;
        }
        let mut start = i + NAME.len();
        while start < bytes.len() && bytes[start] == b' ' {
            start += 1;
        }
        let end = s[start..]
            .find(['\r', '\n', '"', '\\'])
            .map_or(s.len(), |e| start + e);
        if end > start {
            out.push_str(&s[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        i = end.max(i + 1);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            text("--output-http http://bob:s3cret@example.com:8080/path?x=1 failed"),
            "--output-http http://bob:***@example.com:8080/path?x=1 failed"
        );
        assert_eq!(
            text("a ws://u:p%40ss@h/x and https://x:y@z"),
            "a ws://u:***@h/x and https://x:***@z"
        );
        // A user without a password, and URLs without userinfo, stay.
        assert_eq!(
            text("http://token@h/ http://h:80/"),
            "http://token@h/ http://h:80/"
        );
        assert!(matches!(text("no url here"), Cow::Borrowed(_)));
    }

    #[test]
    fn authorization_values_are_masked_in_any_case() {
        assert_eq!(
            text("GET / HTTP/1.1\r\nauthorization: Bearer abc.def\r\nHost: h\r\n"),
            "GET / HTTP/1.1\r\nauthorization: ***\r\nHost: h\r\n"
        );
        assert_eq!(
            text(r#"{"message":"--http-set-header Authorization: Basic Zm9v\r\nX"}"#),
            r#"{"message":"--http-set-header Authorization: ***\r\nX"}"#
        );
        assert_eq!(
            text("Proxy-Authorization:Basic x"),
            "Proxy-Authorization:***"
        );
    }

    #[test]
    fn remembered_secrets_are_masked_wherever_they_appear() {
        remember("kafka-pass-1234");
        remember("ab");
        assert_eq!(text("sasl password kafka-pass-1234!"), "sasl password ***!");
        assert_eq!(text("ab stays"), "ab stays");
    }
}
