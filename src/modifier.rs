//! The HTTP modifier: every `--http-*` filter and rewrite.
//!
//! Built once from its rules ([`HttpModifier::new`] gives `None` when no
//! rule is configured, so the emitter skips it entirely). For each request it
//! applies, in GoReplay's order and stopping at the first drop: allow-method,
//! set-header, set-param, allow-url, disallow-url, allow-header,
//! disallow-header, basic-auth-filter, header-limiter, param-limiter,
//! rewrite-url, rewrite-header. The rewrites of headers and params run
//! *before* the filters, so filters see the modified request — a contract
//! users' command lines rely on.
//!
//! Deviations from GoReplay: the modifier applies to any
//! request method (GoReplay lets `PROPFIND` and other unknown methods bypass
//! every rule); header lookups stop at the blank line; a limiter value that is
//! not a number is refused at start-up (GoReplay silently reads it as 0 and
//! drops everything).

mod go_regex;
mod go_template;

use crate::http::{headers, query, start_line};
use crate::plugin::Result;
use crate::settings::{Settings, UsageError, values};
use regex::bytes::Regex;
use std::borrow::Cow;

pub use go_template::{Template, replace_all};

/// FNV-1a, 32 bits: how the limiters (and session hashing) turn a value into
/// a stable number. `fnv1a32(b"1") == 873244444`.
pub fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(16_777_619)
    })
}

/// A header (or parameter) name with a regex.
#[derive(Debug)]
struct NamedRegex {
    name: Vec<u8>,
    re: Regex,
}

/// `--http-rewrite-header Name: regex,replacement`.
#[derive(Debug)]
struct HeaderRewrite {
    name: Vec<u8>,
    re: Regex,
    replacement: Template,
}

/// `--http-rewrite-url regex:replacement`.
#[derive(Debug)]
struct UrlRewrite {
    re: Regex,
    replacement: Template,
}

/// `--http-header-limiter` / `--http-param-limiter`: keep values whose hash
/// mod 100 is below `percent`.
#[derive(Debug)]
struct HashLimit {
    name: Vec<u8>,
    percent: u32,
}

impl HashLimit {
    fn keeps(&self, value: &[u8]) -> bool {
        fnv1a32(value) % 100 < self.percent
    }
}

/// Every configured rule, parsed and compiled.
#[derive(Debug, Default)]
pub struct HttpModifier {
    allow_methods: Vec<Vec<u8>>,
    set_headers: Vec<(Vec<u8>, Vec<u8>)>,
    set_params: Vec<(Vec<u8>, Vec<u8>)>,
    allow_urls: Vec<Regex>,
    disallow_urls: Vec<Regex>,
    allow_headers: Vec<NamedRegex>,
    disallow_headers: Vec<NamedRegex>,
    basic_auth: Vec<Regex>,
    header_limits: Vec<HashLimit>,
    param_limits: Vec<HashLimit>,
    rewrite_urls: Vec<UrlRewrite>,
    rewrite_headers: Vec<HeaderRewrite>,
}

fn usage(flag: &str, value: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    UsageError::invalid_value(flag, value, reason).into()
}

fn compile(flag: &str, value: &str, re: &str) -> Result<Regex> {
    go_regex::compile(re).map_err(|e| {
        let first = e.to_string();
        let line = first.lines().last().unwrap_or("").trim().to_string();
        usage(flag, value, format!("invalid regular expression: {line}"))
    })
}

/// `name:N%` (base auto-detected, `025%` = 21) or legacy `name:a/b`
/// (`floor(a/b*100)`).
fn parse_hash_limit(flag: &str, value: &str) -> Result<HashLimit> {
    let Some((name, amount)) = value.split_once(':') else {
        return Err(usage(
            flag,
            value,
            "need both a name and a limit, colon-delimited (ex. user_id:50%)",
        ));
    };
    let amount = amount.trim();
    let bad = || usage(flag, value, "the limit is N% or a/b (ex. user_id:50%)");
    let percent = if let Some(n) = amount.strip_suffix('%') {
        values::parse_int(n.trim()).map_err(|_| bad())?
    } else if let Some((a, b)) = amount.split_once('/') {
        let a: f64 = a.trim().parse().map_err(|_| bad())?;
        let b: f64 = b.trim().parse().map_err(|_| bad())?;
        if b == 0.0 || !(a / b).is_finite() {
            return Err(bad());
        }
        (a / b * 100.0).floor() as i64
    } else {
        return Err(usage(
            flag,
            value,
            "Value should be percent and contain '%'",
        ));
    };
    Ok(HashLimit {
        name: name.as_bytes().to_vec(),
        percent: percent.clamp(0, 100) as u32,
    })
}

fn parse_named_regex(flag: &str, value: &str) -> Result<NamedRegex> {
    let Some((name, re)) = value.split_once(':') else {
        return Err(usage(
            flag,
            value,
            "need both header and value, colon-delimited (ex. user_id:^169$)",
        ));
    };
    Ok(NamedRegex {
        name: name.as_bytes().to_vec(),
        re: compile(flag, value, re.trim())?,
    })
}

/// The `--http-*` rules as the user wrote them, flag by flag (the legacy
/// `--output-http-*` forms already merged in). [`HttpModifier::new`]
/// compiles them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifierConfig {
    pub http_allow_method: Vec<String>,
    pub http_allow_url: Vec<String>,
    pub http_disallow_url: Vec<String>,
    pub http_allow_header: Vec<String>,
    pub http_disallow_header: Vec<String>,
    pub http_basic_auth_filter: Vec<String>,
    pub http_header_limiter: Vec<String>,
    pub http_param_limiter: Vec<String>,
    pub http_rewrite_url: Vec<String>,
    pub http_rewrite_header: Vec<String>,
    pub http_set_header: Vec<String>,
    pub http_set_param: Vec<String>,
}

impl ModifierConfig {
    pub fn from_settings(s: &Settings) -> Result<ModifierConfig> {
        Ok(ModifierConfig {
            http_allow_method: s.http_allow_method.clone(),
            http_allow_url: s.http_allow_url.clone(),
            http_disallow_url: s.http_disallow_url.clone(),
            http_allow_header: s.http_allow_header.clone(),
            http_disallow_header: s.http_disallow_header.clone(),
            http_basic_auth_filter: s.http_basic_auth_filter.clone(),
            http_header_limiter: s.http_header_limiter.clone(),
            http_param_limiter: s.http_param_limiter.clone(),
            http_rewrite_url: s.http_rewrite_url.clone(),
            http_rewrite_header: s.http_rewrite_header.clone(),
            http_set_header: s.http_set_header.clone(),
            http_set_param: s.http_set_param.clone(),
        })
    }

    /// True when no rule is given.
    pub fn is_empty(&self) -> bool {
        self == &ModifierConfig::default()
    }
}

impl HttpModifier {
    /// The modifier the rules describe, or `None` when there is no rule. A
    /// malformed rule or a regex that does not compile is a usage error
    /// naming the flag (exit 2).
    pub fn new(rules: &ModifierConfig) -> Result<Option<HttpModifier>> {
        if rules.is_empty() {
            return Ok(None);
        }
        let mut m = HttpModifier {
            allow_methods: rules
                .http_allow_method
                .iter()
                .map(|v| v.as_bytes().to_vec())
                .collect(),
            ..Default::default()
        };
        for v in &rules.http_set_header {
            let (name, value) = v
                .split_once(':')
                .ok_or_else(|| usage("http-set-header", v, "Expected `Key: Value`"))?;
            m.set_headers
                .push((name.trim().into(), value.trim().as_bytes().to_vec()));
        }
        for v in &rules.http_set_param {
            let (name, value) = v
                .split_once('=')
                .ok_or_else(|| usage("http-set-param", v, "Expected `Key=Value`"))?;
            m.set_params
                .push((name.trim().into(), value.trim().as_bytes().to_vec()));
        }
        for v in &rules.http_allow_url {
            m.allow_urls.push(compile("http-allow-url", v, v)?);
        }
        for v in &rules.http_disallow_url {
            m.disallow_urls.push(compile("http-disallow-url", v, v)?);
        }
        for v in &rules.http_allow_header {
            m.allow_headers
                .push(parse_named_regex("http-allow-header", v)?);
        }
        for v in &rules.http_disallow_header {
            m.disallow_headers
                .push(parse_named_regex("http-disallow-header", v)?);
        }
        for v in &rules.http_basic_auth_filter {
            m.basic_auth.push(compile("http-basic-auth-filter", v, v)?);
        }
        for v in &rules.http_header_limiter {
            m.header_limits
                .push(parse_hash_limit("http-header-limiter", v)?);
        }
        for v in &rules.http_param_limiter {
            m.param_limits
                .push(parse_hash_limit("http-param-limiter", v)?);
        }
        for v in &rules.http_rewrite_url {
            let (re, replacement) = v.split_once(':').ok_or_else(|| {
                usage(
                    "http-rewrite-url",
                    v,
                    "need both src and target, colon-delimited (ex. /a:/b)",
                )
            })?;
            let re = compile("http-rewrite-url", v, re)?;
            m.rewrite_urls.push(UrlRewrite {
                replacement: Template::new(replacement, &re),
                re,
            });
        }
        for v in &rules.http_rewrite_header {
            let need = || {
                usage(
                    "http-rewrite-header",
                    v,
                    "need both header, regexp and rewrite target, colon-delimited (ex. Host: ^(.*)$,$1.example.com)",
                )
            };
            let (name, rest) = v.split_once(':').ok_or_else(need)?;
            let (re, replacement) = rest.trim().split_once(',').ok_or_else(need)?;
            let re = compile("http-rewrite-header", v, re)?;
            m.rewrite_headers.push(HeaderRewrite {
                name: name.as_bytes().to_vec(),
                replacement: Template::new(replacement, &re),
                re,
            });
        }
        Ok(Some(m))
    }

    /// Applies every rule to one request. `None` means drop it (the emitter
    /// then also drops its response); `Some(Cow::Borrowed)` means it passes
    /// unchanged. Data that does not start with a request line passes
    /// untouched (responses, binary payloads, fragments).
    pub fn rewrite<'a>(&self, data: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        let Some(line) = start_line::request_line(data) else {
            return Some(Cow::Borrowed(data));
        };
        if !self.allow_methods.is_empty() && !self.allow_methods.iter().any(|m| m == line.method) {
            return None;
        }
        let mut data = Cow::Borrowed(data);
        for (name, value) in &self.set_headers {
            data = Cow::Owned(headers::set_header(&data, name, value));
        }
        for (name, value) in &self.set_params {
            if let Some(new) = query::set_param(&data, name, value) {
                data = Cow::Owned(new);
            }
        }
        if !self.allow_urls.is_empty() || !self.disallow_urls.is_empty() {
            let target = start_line::target(&data).unwrap_or_default();
            if !self.allow_urls.is_empty() && !self.allow_urls.iter().any(|re| re.is_match(target))
            {
                return None;
            }
            if self.disallow_urls.iter().any(|re| re.is_match(target)) {
                return None;
            }
        }
        for rule in &self.allow_headers {
            match headers::header_value(&data, &rule.name) {
                Some(v) if !v.is_empty() && rule.re.is_match(v) => {}
                _ => return None,
            }
        }
        for rule in &self.disallow_headers {
            if let Some(v) = headers::header_value(&data, &rule.name)
                && !v.is_empty()
                && rule.re.is_match(v)
            {
                return None;
            }
        }
        if !self.basic_auth.is_empty()
            && let Some(auth) = headers::header_value(&data, b"Authorization")
            && let Some(encoded) = auth.strip_prefix(b"Basic ")
        {
            let credentials = decode_base64_lenient(encoded);
            if !self.basic_auth.iter().all(|re| re.is_match(&credentials)) {
                return None;
            }
        }
        for rule in &self.header_limits {
            if let Some(v) = headers::header_value(&data, &rule.name)
                && !v.is_empty()
                && !rule.keeps(v)
            {
                return None;
            }
        }
        for rule in &self.param_limits {
            if let Some(v) = query::request_param(&data, &rule.name)
                && !v.is_empty()
                && !rule.keeps(v)
            {
                return None;
            }
        }
        if !self.rewrite_urls.is_empty()
            && let Some(target) = start_line::target(&data)
            && let Some(new_target) = self
                .rewrite_urls
                .iter()
                .find_map(|r| replace_all(&r.re, target, &r.replacement))
            && let Some(new) = start_line::set_target(&data, &new_target)
        {
            data = Cow::Owned(new);
        }
        for rule in &self.rewrite_headers {
            // GoReplay stops at the first rule whose header is missing or
            // empty; command lines are written against that order.
            let Some(value) = headers::header_value(&data, &rule.name).filter(|v| !v.is_empty())
            else {
                break;
            };
            if let Some(new_value) = replace_all(&rule.re, value, &rule.replacement) {
                data = Cow::Owned(headers::set_header(&data, &rule.name, &new_value));
            }
        }
        Some(data)
    }
}

impl HttpModifier {
    /// [`rewrite`](Self::rewrite) for a shared payload: an unchanged request
    /// is the same `Bytes` (no copy), a rewritten one a new buffer.
    pub fn rewrite_bytes(&self, data: &bytes::Bytes) -> Option<bytes::Bytes> {
        Some(match self.rewrite(data)? {
            Cow::Borrowed(_) => data.clone(),
            Cow::Owned(v) => v.into(),
        })
    }
}

/// Standard base64 decoded up to the first byte outside the alphabet (`=`
/// padding included), keeping what was decoded so far: GoReplay ignores
/// decoding errors and matches the partial output.
fn decode_base64_lenient(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in encoded {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
