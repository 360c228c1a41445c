//! File names for `--output-file`: the template tokens and the
//! chunk numbering. Users' scripts rely on these names
//! (`requests_0.gor`, `requests_1.gor`, … continuing after a restart), so
//! they follow GoReplay exactly, except where noted.

use crate::message::Message;
use chrono::{Datelike, Local, Timelike};
use std::borrow::Cow;
use std::sync::OnceLock;

/// A parsed `--output-file` template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    has_tokens: bool,
    has_time: bool,
    per_request: bool,
}

impl Template {
    pub fn new(text: &str) -> Template {
        let tokens = scan(text);
        Template {
            text: text.to_string(),
            has_tokens: !tokens.is_empty(),
            has_time: tokens.iter().any(|t| "YmdHMSN".contains(*t)),
            per_request: tokens.contains(&'r'),
        }
    }

    /// The template with its tokens substituted for `msg` written now.
    ///
    /// One left-to-right pass: `%NS` is never mistaken for `%S` (GoReplay's
    /// replacement order makes that a matter of luck), and an id that
    /// happens to contain `%Y` is not substituted again.
    pub fn expand(&self, msg: Option<&Message>) -> Cow<'_, str> {
        if !self.has_tokens {
            return Cow::Borrowed(&self.text);
        }
        let now = self.has_time.then(Local::now);
        let mut out = String::with_capacity(self.text.len() + 32);
        let mut rest = self.text.as_str();
        while let Some(pos) = rest.find('%') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (value, used): (String, usize) = match (after.as_bytes().first(), &now) {
                (Some(b'N'), Some(t)) if after.starts_with("NS") => (t.nanosecond().to_string(), 2),
                (Some(b'Y'), Some(t)) => (format!("{:04}", t.year()), 1),
                (Some(b'm'), Some(t)) => (format!("{:02}", t.month()), 1),
                (Some(b'd'), Some(t)) => (format!("{:02}", t.day()), 1),
                (Some(b'H'), Some(t)) => (format!("{:02}", t.hour()), 1),
                (Some(b'M'), Some(t)) => (format!("{:02}", t.minute()), 1),
                (Some(b'S'), Some(t)) => (format!("{:02}", t.second()), 1),
                (Some(b'r'), _) => (msg.map(|m| safe(m.id())).unwrap_or_default(), 1),
                (Some(b't'), _) => {
                    // GoReplay only tracks the type in per-request mode.
                    let kind = match msg {
                        Some(m) if self.per_request => safe(&m.meta[..m.meta.len().min(1)]),
                        _ => String::new(),
                    };
                    (kind, 1)
                }
                (Some(b'i'), _) => (instance_id().to_string(), 1),
                _ => ("%".to_string(), 0),
            };
            out.push_str(&value);
            rest = &after[used..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

/// The token letters a template uses (`N` stands for `%NS`).
fn scan(text: &str) -> Vec<char> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find('%') {
        let after = &rest[pos + 1..];
        match after.chars().next() {
            Some('N') if after.starts_with("NS") => found.push('N'),
            Some(c) if "YmdHMSrti".contains(c) => found.push(c),
            _ => {}
        }
        rest = after;
    }
    found
}

/// An id used in a file name: a `/` (or NUL) in an id read from a file must
/// not move the file elsewhere.
fn safe(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(['/', '\0'], "_")
}

/// `%i`: eight random letters, fixed for the life of the process.
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        (0..8)
            .map(|_| LETTERS[rand::random_range(0..LETTERS.len())] as char)
            .collect()
    })
}

/// The extension of the last path element, dot included (Go's
/// `filepath.Ext`): `.gz`, `.gor`, or empty.
pub fn extension(path: &str) -> &str {
    let last = path.rfind('/').map_or(0, |i| i + 1);
    match path[last..].rfind('.') {
        Some(dot) => &path[last + dot..],
        None => "",
    }
}

/// The chunk index of a name: the number after the last `_` of the name
/// without its extension (`/tmp/logs_2.gz` → 2).
pub fn chunk_index(name: &str) -> Option<u64> {
    let base = &name[..name.len() - extension(name).len()];
    let (_, index) = base.rsplit_once('_')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

/// `name` with its chunk index set to `index`: an existing numeric `_N` is
/// replaced, otherwise `_index` goes before the extension.
pub fn with_index(name: &str, index: u64) -> String {
    let ext = extension(name);
    let mut base = &name[..name.len() - ext.len()];
    if chunk_index(name).is_some()
        && let Some((prefix, _)) = base.rsplit_once('_')
    {
        base = prefix;
    }
    format!("{base}_{index}{ext}")
}

/// GoReplay's order of chunk names: names with the same part before their
/// last `_` sort by index, others as plain strings (`2014_10` before
/// `2015_0`, `2015_2` before `2015_10`).
pub fn sorts_before(a: &str, b: &str) -> bool {
    let prefix = |s: &str| {
        let base = &s[..s.len() - extension(s).len()];
        base.rsplit_once('_').map(|(p, _)| p.to_string())
    };
    if let (Some(pa), Some(pb)) = (prefix(a), prefix(b))
        && pa == pb
        && let (Some(ia), Some(ib)) = (chunk_index(a), chunk_index(b))
    {
        return ia < ib;
    }
    a < b
}

/// The name that sorts last, in one pass.
pub fn last_chunk(names: &[String]) -> Option<&String> {
    let mut best: Option<&String> = None;
    for n in names {
        if best.is_none_or(|b| sorts_before(b, n)) {
            best = Some(n);
        }
    }
    best
}

/// The chunk to write `path` into: `base_0ext` when no chunk of `path`
/// exists yet, else the last chunk with its index, plus one when a new chunk
/// must start (a restart continues after the chunks already there).
///
/// Only `base_Next` names (and `baseext` itself) are chunks of `path`:
/// GoReplay takes every match of `base*ext`, so `out.gor` picked up
/// `outside.gor` and wrote to `outside_0.gor`.
pub fn chunk_name(path: &str, next: bool) -> String {
    let ext = extension(path);
    let base = &path[..path.len() - ext.len()];
    let pattern = format!(
        "{}*{}",
        glob::Pattern::escape(base),
        glob::Pattern::escape(ext)
    );
    let base_name = &base[base.rfind('/').map_or(0, |i| i + 1)..];
    let matches: Vec<String> = glob::glob(&pattern)
        .map(|found| {
            found
                .filter_map(|p| p.ok())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| is_chunk_of(n, base_name, ext))
                })
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    let Some(last) = last_chunk(&matches) else {
        return format!("{base}_0{ext}");
    };
    let index = chunk_index(last).map_or(0, |i| if next { i + 1 } else { i });
    clean(&with_index(last, index))
}

/// True when the file `name` is `base_name` + `_N` + `ext`, or
/// `base_name` + `ext` itself.
fn is_chunk_of(name: &str, base_name: &str, ext: &str) -> bool {
    let Some(middle) = name
        .strip_prefix(base_name)
        .and_then(|rest| rest.strip_suffix(ext))
    else {
        return false;
    };
    match middle.strip_prefix('_') {
        None => middle.is_empty(),
        Some(index) => !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Lexical path cleaning as Go's `filepath.Clean` (`./a.gor` → `a.gor`).
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::PayloadType;

    /// Sorts chunk names in GoReplay's order (insertion sort: the order is not
    /// guaranteed total for odd names, and a standard sort may panic on that).
    fn sort_chunks(names: &mut [String]) {
        for i in 1..names.len() {
            let mut j = i;
            while j > 0 && sorts_before(&names[j], &names[j - 1]) {
                names.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    #[test]
    fn index_helpers_match_goreplay() {
        assert_eq!(chunk_index("/tmp/logs"), None);
        assert_eq!(chunk_index("/tmp/logs_1"), Some(1));
        assert_eq!(chunk_index("/tmp/logs_2.gz"), Some(2));
        assert_eq!(with_index("/tmp/logs", 0), "/tmp/logs_0");
        assert_eq!(with_index("/tmp/logs.gz", 1), "/tmp/logs_1.gz");
        assert_eq!(with_index("/tmp/logs_1", 0), "/tmp/logs_0");
        assert_eq!(
            with_index("/tmp/logs_underscores.gz", 10),
            "/tmp/logs_underscores_10.gz"
        );
    }

    #[test]
    fn chunks_sort_by_index_within_a_prefix() {
        let mut names: Vec<String> = ["2016_0", "2014_10", "2015_0", "2015_10", "2015_2"]
            .map(String::from)
            .to_vec();
        sort_chunks(&mut names);
        assert_eq!(names, ["2014_10", "2015_0", "2015_2", "2015_10", "2016_0"]);
        assert_eq!(last_chunk(&names).unwrap(), "2016_0");
        let mut with_ext: Vec<String> = ["x_10.gor", "x_9.gor", "x_2.gor"]
            .map(String::from)
            .to_vec();
        assert_eq!(last_chunk(&with_ext).unwrap(), "x_10.gor");
        sort_chunks(&mut with_ext);
        assert_eq!(with_ext, ["x_2.gor", "x_9.gor", "x_10.gor"]);
    }

    #[test]
    fn extension_is_from_the_last_dot_of_the_last_element() {
        assert_eq!(extension("a/b.c/logs"), "");
        assert_eq!(extension("logs.gor.gz"), ".gz");
        assert_eq!(extension("/tmp/x"), "");
    }

    #[test]
    fn clean_matches_go() {
        assert_eq!(clean("./test_requests.gor"), "test_requests.gor");
        assert_eq!(clean("/tmp//a/../b.gor"), "/tmp/b.gor");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/.."), "/");
    }

    #[test]
    fn first_chunk_is_numbered_zero_and_restart_continues_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/requests.gor", dir.path().display());
        let first = chunk_name(&path, true);
        assert_eq!(first, format!("{}/requests_0.gor", dir.path().display()));
        for i in [0, 1, 5] {
            std::fs::write(dir.path().join(format!("requests_{i}.gor")), b"").unwrap();
        }
        assert!(chunk_name(&path, true).ends_with("/requests_6.gor"));
        assert!(chunk_name(&path, false).ends_with("/requests_5.gor"));
    }

    #[test]
    fn other_names_sharing_the_prefix_are_not_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/out.gor", dir.path().display());
        for other in [
            "outside.gor",
            "outside_3.gor",
            "out_x.gor",
            "out_.gor",
            "out_7.gz",
        ] {
            std::fs::write(dir.path().join(other), b"").unwrap();
        }
        assert!(chunk_name(&path, true).ends_with("/out_0.gor"));
        assert!(chunk_name(&path, false).ends_with("/out_0.gor"));
        std::fs::write(dir.path().join("out_2.gor"), b"").unwrap();
        assert!(chunk_name(&path, true).ends_with("/out_3.gor"));
        assert!(chunk_name(&path, false).ends_with("/out_2.gor"));
    }

    #[test]
    fn relative_template_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/./test_requests.gor", dir.path().display());
        assert_eq!(
            clean(&chunk_name(&clean(&path), true)),
            format!("{}/test_requests_0.gor", dir.path().display())
        );
    }

    #[test]
    fn template_tokens_are_substituted() {
        let msg = Message::new(PayloadType::ReplayedResponse, "abc", 1, 2, &b"x"[..]);
        let now = Local::now();
        let t = Template::new("/tmp/log-%Y-%m-%d-%r-%t");
        let name = t.expand(Some(&msg)).into_owned();
        assert!(
            name.starts_with(&format!("/tmp/log-{:04}-", now.year())),
            "{name}"
        );
        assert!(name.ends_with("-abc-3"), "{name}");
        // %t is only tracked together with %r.
        let t = Template::new("/tmp/log-%t");
        assert_eq!(t.expand(Some(&msg)), "/tmp/log-");
        let t = Template::new("/tmp/static.gor");
        assert!(matches!(t.expand(Some(&msg)), Cow::Borrowed(_)));
    }

    #[test]
    fn nanoseconds_token_is_not_read_as_seconds() {
        let t = Template::new("x-%NS-%S");
        let name = t.expand(None).into_owned();
        let mut parts = name.splitn(3, '-');
        assert_eq!(parts.next(), Some("x"));
        let ns = parts.next().unwrap();
        assert!(!ns.starts_with('N') && ns.parse::<u32>().is_ok(), "{name}");
        let s = parts.next().unwrap();
        assert_eq!(s.len(), 2, "{name}");
    }

    #[test]
    fn instance_id_is_eight_letters_fixed_for_the_process() {
        let t = Template::new("%i");
        let a = t.expand(None).into_owned();
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|b| b.is_ascii_alphabetic()));
        assert_eq!(a, t.expand(None));
    }

    #[test]
    fn id_with_slashes_stays_in_the_directory() {
        let msg = Message::new(PayloadType::Request, "../../etc/x", 1, 2, &b"x"[..]);
        let t = Template::new("/tmp/req-%r.gor");
        assert_eq!(t.expand(Some(&msg)), "/tmp/req-.._.._etc_x.gor");
    }

    #[test]
    fn unknown_percent_sequences_stay_literal() {
        let t = Template::new("a%zb%%");
        assert_eq!(t.expand(None), "a%zb%%");
    }
}
