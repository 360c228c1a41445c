//! Replacement strings with Go's `regexp.Expand` rules, which users' GoReplay
//! command lines are written for: `$1`, `${1}`, `${name}`, `$name`, `$$`.
//!
//! The `regex` crate's own expansion differs in small ways that change
//! results: it reads `$01` as group 1 (Go: the group *named* `01`, which does
//! not exist, so empty) and accepts only ASCII names. As in Go, `$1x` means
//! the group named `1x` (empty) — write `${1}x`; a `$` not followed by a
//! valid name is kept as a literal `$`.

use regex::bytes::Regex;

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

/// One piece of a parsed replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    /// A capture group by index (names are resolved when parsing; a name
    /// the regex does not have expands to nothing, as in Go).
    Group(usize),
}

/// A replacement string parsed once for its regex, so that each request
/// only copies bytes.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
    uses_groups: bool,
}

impl Template {
    /// Parses `template` with Go's `Expand` rules for the groups of `re`.
    pub fn new(template: &str, re: &Regex) -> Template {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut t = template;
        let push_group = |literal: &mut Vec<u8>, pieces: &mut Vec<Piece>, g: Option<usize>| {
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(literal)));
            }
            // A group the regex does not have expands to nothing.
            if let Some(g) = g.filter(|g| *g < re.captures_len()) {
                pieces.push(Piece::Group(g));
            }
        };
        while let Some(i) = t.find('$') {
            literal.extend_from_slice(&t.as_bytes()[..i]);
            t = &t[i + 1..];
            if let Some(rest) = t.strip_prefix('$') {
                literal.push(b'$');
                t = rest;
                continue;
            }
            match extract(t) {
                Some((r, rest)) => {
                    let group = match r {
                        Ref::Number(n) => Some(n),
                        Ref::Name(name) => re.capture_names().position(|n| n == Some(name)),
                    };
                    push_group(&mut literal, &mut pieces, group);
                    t = rest;
                }
                None => literal.push(b'$'),
            }
        }
        literal.extend_from_slice(t.as_bytes());
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        let uses_groups = pieces.iter().any(|p| matches!(p, Piece::Group(_)));
        Template {
            pieces,
            uses_groups,
        }
    }

    /// Appends the expansion for one match (`slots` as filled by
    /// `captures_read_at`) to `dst`.
    fn expand(&self, src: &[u8], locs: &regex::bytes::CaptureLocations, dst: &mut Vec<u8>) {
        for p in &self.pieces {
            match p {
                Piece::Literal(l) => dst.extend_from_slice(l),
                Piece::Group(g) => {
                    if let Some((s, e)) = locs.get(*g) {
                        dst.extend_from_slice(&src[s..e]);
                    }
                }
            }
        }
    }
}

/// Every match of `re` in `src` replaced by the expanded `template` (Go's
/// `Regexp.ReplaceAll`); `None` when nothing matched.
pub fn replace_all(re: &Regex, src: &[u8], template: &Template) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut matched = false;
    if template.uses_groups {
        let mut locs = re.capture_locations();
        let mut at = 0;
        while at <= src.len() {
            let Some(m) = re.captures_read_at(&mut locs, src, at) else {
                break;
            };
            if m.start() == m.end() && matched && m.start() == last {
                // An empty match right after the previous one is skipped,
                // as in Go and in the crate's own iterators.
                at = m.end() + 1;
                continue;
            }
            if !matched {
                out.reserve(src.len() + 16);
            }
            matched = true;
            out.extend_from_slice(&src[last..m.start()]);
            template.expand(src, &locs, &mut out);
            last = m.end();
            at = if m.end() == m.start() {
                m.end() + 1
            } else {
                m.end()
            };
        }
    } else {
        for m in re.find_iter(src) {
            if !matched {
                out.reserve(src.len() + 16);
            }
            matched = true;
            out.extend_from_slice(&src[last..m.start()]);
            for p in &template.pieces {
                if let Piece::Literal(l) = p {
                    out.extend_from_slice(l);
                }
            }
            last = m.end();
        }
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
        let t = Template::new(template, &re);
        String::from_utf8(replace_all(&re, src.as_bytes(), &t).unwrap()).unwrap()
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
    fn empty_matches_next_to_a_match_are_skipped_as_in_go() {
        assert_eq!(sub("a*", "baaac", "-"), "-b-c-");
        assert_eq!(sub("(a*)", "baaac", "<$1>"), "<>b<aaa>c<>");
        assert_eq!(sub("x*", "", "-"), "-");
    }

    #[test]
    fn unknown_group_names_expand_to_nothing() {
        assert_eq!(sub("(a)", "a", "[${nope}$2]"), "[]");
    }

    #[test]
    fn no_match_gives_none() {
        let re = Regex::new("z").unwrap();
        assert!(replace_all(&re, b"abc", &Template::new("x", &re)).is_none());
    }
}
