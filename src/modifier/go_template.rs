//! Replacement strings with Go's `regexp.Expand` rules, which users' GoReplay
//! command lines are written for: `$1`, `${1}`, `${name}`, `$name`, `$$`.
//!
//! The `regex` crate's own expansion differs in small ways that change
//! results: it reads `$01` as group 1 (Go: the group *named* `01`, which does
//! not exist, so empty) and accepts only ASCII names. As in Go, `$1x` means
//! the group named `1x` (empty) — write `${1}x`; a `$` not followed by a
//! valid name is kept as a literal `$`.

use regex::bytes::{Captures, Regex};

/// What a `$` reference names.
enum Ref<'t> {
    Number(usize),
    Name(&'t str),
}

/// Parses the reference after a `$` (Go's `extract`): the reference and the
/// rest of the template, or `None` when it is malformed.
fn extract(t: &str) -> Option<(Ref<'_>, &str)> {
    let (body, brace) = match t.strip_prefix('{') {
        Some(b) => (b, true),
        None => (t, false),
    };
    let len = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphabetic() || c.is_numeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let rest = if brace {
        body[len..].strip_prefix('}')?
    } else {
        &body[len..]
    };
    let numeric =
        name.bytes().all(|b| b.is_ascii_digit()) && !(name.len() > 1 && name.starts_with('0'));
    let r = match name.parse::<usize>() {
        Ok(n) if numeric && n < 100_000_000 => Ref::Number(n),
        _ => Ref::Name(name),
    };
    Some((r, rest))
}

/// Appends `template` expanded against `caps` to `dst`.
pub fn expand(template: &str, caps: &Captures<'_>, dst: &mut Vec<u8>) {
    let mut t = template;
    while let Some(i) = t.find('$') {
        dst.extend_from_slice(&t.as_bytes()[..i]);
        t = &t[i + 1..];
        if let Some(rest) = t.strip_prefix('$') {
            dst.push(b'$');
            t = rest;
            continue;
        }
        match extract(t) {
            Some((r, rest)) => {
                let m = match r {
                    Ref::Number(n) => caps.get(n),
                    Ref::Name(name) => caps.name(name),
                };
                if let Some(m) = m {
                    dst.extend_from_slice(m.as_bytes());
                }
                t = rest;
            }
            None => dst.push(b'$'),
        }
    }
    dst.extend_from_slice(t.as_bytes());
}

/// Every match of `re` in `src` replaced by the expanded `template` (Go's
/// `Regexp.ReplaceAll`); `None` when nothing matched.
pub fn replace_all(re: &Regex, src: &[u8], template: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len() + template.len());
    let mut last = 0;
    let mut matched = false;
    for caps in re.captures_iter(src) {
        let Some(m) = caps.get(0) else { continue };
        matched = true;
        out.extend_from_slice(&src[last..m.start()]);
        expand(template, &caps, &mut out);
        last = m.end();
    }
    if !matched {
        return None;
    }
    out.extend_from_slice(&src[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(re: &str, src: &str, template: &str) -> String {
        let re = Regex::new(re).unwrap();
        String::from_utf8(replace_all(&re, src.as_bytes(), template).unwrap()).unwrap()
    }

    #[test]
    fn numbered_and_braced_groups_expand() {
        assert_eq!(sub(r"/v1/(\w+)", "/v1/joe", "/v2/$1"), "/v2/joe");
        assert_eq!(sub(r"/v1/(\w+)", "/v1/joe", "/v2/${1}x"), "/v2/joex");
    }

    #[test]
    fn dollar_one_x_is_the_group_named_1x_as_in_go() {
        assert_eq!(sub(r"(a)", "a", "$1x"), "");
    }

    #[test]
    fn leading_zero_is_a_name_not_a_number_as_in_go() {
        assert_eq!(sub(r"(a)", "a", "[$01]"), "[]");
    }

    #[test]
    fn named_groups_and_literal_dollars() {
        assert_eq!(sub(r"(?P<user>\w+)", "joe", "${user}!"), "joe!");
        assert_eq!(sub(r"(?P<user>\w+)", "joe", "$user"), "joe");
        assert_eq!(sub(r"a", "a", "$$1"), "$1");
        assert_eq!(sub(r"a", "a", "x$"), "x$");
        assert_eq!(sub(r"a", "a", "$-"), "$-");
        assert_eq!(sub(r"a", "a", "${1"), "${1");
    }

    #[test]
    fn every_match_is_replaced() {
        assert_eq!(sub("o", "foo boo", "0"), "f00 b00");
    }

    #[test]
    fn no_match_gives_none() {
        assert!(replace_all(&Regex::new("z").unwrap(), b"abc", "x").is_none());
    }
}
