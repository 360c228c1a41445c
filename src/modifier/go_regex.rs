//! Regexes with Go's (RE2's) meaning, compiled by the `regex` crate.
//!
//! The two syntaxes agree except for the Perl classes: in Go `\d`, `\s`,
//! `\w` and `\b` are ASCII-only (`\s` is `[\t\n\f\r ]`), in the `regex`
//! crate they are Unicode-aware (`\d` matches Devanagari digits, `\w`
//! matches `é`). A rule written for GoReplay must keep or drop the same
//! requests, so those classes are rewritten to their ASCII sets before
//! compiling (nested classes make this work inside `[...]` too). Go's
//! `\Q...\E` literal quoting, which the crate lacks, is escaped instead.

use regex::bytes::Regex;

/// Compiles a Go regex.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&translate(pattern))
}

/// The pattern with Go's ASCII meaning of `\d \D \s \S \w \W \b \B` spelled
/// out for the `regex` crate.
pub fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            out.push('\\');
            break;
        };
        match next {
            'd' => out.push_str("[0-9]"),
            'D' => out.push_str("[^0-9]"),
            's' => out.push_str(r"[\t\n\f\r ]"),
            'S' => out.push_str(r"[^\t\n\f\r ]"),
            'w' => out.push_str("[0-9A-Za-z_]"),
            'W' => out.push_str("[^0-9A-Za-z_]"),
            'b' => out.push_str(r"(?-u:\b)"),
            'B' => out.push_str(r"(?-u:\B)"),
            // Go's \Q...\E quotes literal text; the regex crate has no such
            // syntax, so the text is escaped instead.
            'Q' => {
                let rest = chars.as_str();
                let (literal, after) = rest.split_once(r"\E").unwrap_or((rest, ""));
                out.push_str(&regex::escape(literal));
                chars = after.chars();
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        compile(pattern).unwrap().is_match(text.as_bytes())
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert!(matches(r"^\w+$", "Jose_1"));
        assert!(!matches(r"^\w+$", "José"));
        assert!(!matches(r"^\d$", "٣"));
        assert!(matches(r"^\d+$", "2024"));
        assert!(matches(r"^\D$", "x"));
        assert!(matches(r"a\sb", "a\tb"));
        assert!(!matches(r"a\sb", "a\u{0B}b"));
        assert!(matches(r"^\S+$", "abc"));
        assert!(matches(r"^\W$", "-"));
    }

    #[test]
    fn classes_inside_brackets_keep_working() {
        assert!(matches(r"^[\d.]+$", "1.2.3"));
        assert!(!matches(r"^[\d.]+$", "1.٣"));
        assert!(matches(r"^[^\s]+$", "abc"));
        assert!(matches(r"^[\w-]+$", "user-1"));
        assert!(matches(r"^[\D]$", "x"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        assert!(matches(r"\bapi\b", "/api/v1"));
        assert!(!matches(r"\bapi\b", "/rapid"));
        assert!(matches(r"\Bpi", "api"));
    }

    #[test]
    fn other_escapes_are_kept() {
        assert_eq!(translate(r"a\.b\\d\/"), r"a\.b\\d\/");
        assert!(matches(r"^a\\d$", r"a\d"));
        assert!(matches(r"\x41", "A"));
        assert_eq!(translate("trailing\\"), "trailing\\");
    }

    #[test]
    fn quoted_literal_text_is_escaped() {
        assert!(matches(r"^\Q/a.b?c\E$", "/a.b?c"));
        assert!(!matches(r"^\Q/a.b\E$", "/axb"));
        assert!(matches(r"\Q(unclosed", "x(unclosed"));
    }
}
