//! The import rules of the source tree, checked on the source itself:
//!
//! * `plugin.rs` (the contract every plugin meets) imports only `message.rs`;
//! * `registry.rs` (which builds the plugins) is imported by `main.rs` alone;
//! * no plugin imports another plugin: a file under `src/input/` or
//!   `src/output/` uses nothing of another input or output (what two plugins
//!   share moves down, into `http/` for instance);
//! * the low modules (`http/`, `settings/`, `stats.rs`, `message.rs`,
//!   `plugin.rs`) import nothing of the high ones (`input/`, `output/`,
//!   `registry.rs`, `emitter.rs`).
//!
//! A path counts wherever it appears in code (`use` lines and inline
//! `crate::x::y` paths, `super::` resolved), comments excepted.

use std::path::{Path, PathBuf};

const LOW: &[&str] = &["http", "settings", "stats", "message", "plugin"];
const HIGH: &[&str] = &["input", "output", "registry", "emitter"];

/// One source file: its module path (`["input", "raw"]` for
/// `src/input/raw.rs`) and its text without comments.
struct Source {
    file: String,
    module: Vec<String>,
    code: String,
}

impl Source {
    fn new(file: &str, text: &str) -> Source {
        let trimmed = file.trim_end_matches(".rs");
        let mut module: Vec<String> = trimmed.split('/').map(String::from).collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        Source {
            file: file.to_string(),
            module,
            code: strip_comments(text),
        }
    }

    /// Every module this file refers to, as absolute paths from the crate
    /// root (`["input", "raw"]`), at most two segments deep.
    fn references(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for root in ["crate::", "gor::", "super::"] {
            let mut rest = self.code.as_str();
            while let Some(at) = rest.find(root) {
                let before = rest[..at].chars().next_back();
                let after = &rest[at..];
                rest = &rest[at + root.len()..];
                // `xcrate::` or `foo::super::` are not roots.
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let inline = self.inline_module_before(self.code.len() - after.len());
                for path in expand_path(after) {
                    if let Some(abs) = self.absolute(&path, inline) {
                        out.push(abs.into_iter().take(2).collect());
                    }
                }
            }
        }
        out
    }

    /// The inline module (`mod tests {`) that the code at `at` is in, taken
    /// to be the last one opened before it: inline modules hold tests and
    /// close at the end of the file.
    fn inline_module_before(&self, at: usize) -> Option<&str> {
        let code = &self.code[..at];
        let mut found = None;
        let mut rest = code;
        while let Some(i) = rest.find("mod ") {
            let before = rest[..i].chars().next_back();
            let after = &rest[i + 4..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if name_len > 0 && after[name_len..].trim_start().starts_with('{') {
                found = Some(&after[..name_len]);
            }
        }
        found
    }

    /// `path` (segments, starting with `crate`, `gor` or `super`) from the
    /// crate root; `None` when it leaves the crate.
    fn absolute(&self, path: &[String], inline: Option<&str>) -> Option<Vec<String>> {
        let mut segments = path.iter().peekable();
        let mut base: Vec<String> = match segments.peek().map(|s| s.as_str()) {
            Some("crate" | "gor") => {
                segments.next();
                Vec::new()
            }
            Some("super") => {
                let mut m = self.module.clone();
                m.extend(inline.map(String::from));
                m
            }
            _ => return None,
        };
        while segments.peek().map(|s| s.as_str()) == Some("super") {
            segments.next();
            base.pop()?;
        }
        base.extend(segments.cloned());
        Some(base)
    }
}

/// The text with `//` comments removed (string literals holding `//`
/// lose their end, which never holds a path that matters here).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a reference starting at `text` names: `crate::a::b::C` is
/// one, `crate::{a::b, c}` two. Segments are lower-case identifiers
/// (module names); the path stops at the first other token.
fn expand_path(text: &str) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        prefix.push(ident);
        match rest.strip_prefix("::") {
            Some(r) => rest = r.trim_start(),
            None => return vec![prefix],
        }
    }
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let mut out = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        let inner = &group[..end];
        for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let item = inner[start..i].trim();
                    for tail in expand_path(item) {
                        let mut p = prefix.clone();
                        p.extend(tail);
                        out.push(p);
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        return out;
    }
    vec![prefix]
}

/// Every rule broken by `sources`, one line each.
fn violations(sources: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for s in sources {
        let module: Vec<&str> = s.module.iter().map(String::as_str).collect();
        let top = module.first().copied().unwrap_or("");
        for r in s.references() {
            let target: Vec<&str> = r.iter().map(String::as_str).collect();
            let Some(&to) = target.first() else {
                // The crate root itself (`super::*` in a top-level file's
                // tests): nothing below is named.
                continue;
            };
            if to == top && !matches!(top, "input" | "output") {
                continue;
            }
            let line = format!("{} uses {}", s.file, target.join("::"));
            if module == ["plugin"] && to != "message" {
                found.push(format!("{line}: plugin.rs imports only message.rs"));
            }
            if to == "registry" && s.file != "main.rs" && top != "registry" {
                found.push(format!("{line}: registry is imported by main.rs alone"));
            }
            if matches!(top, "input" | "output")
                && module.len() >= 2
                && matches!(to, "input" | "output")
                && target.len() >= 2
                && (to != top || target[1] != module[1])
            {
                found.push(format!("{line}: a plugin imports another plugin"));
            }
            if LOW.contains(&top) && HIGH.contains(&to) {
                found.push(format!("{line}: a low module imports a high one"));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources_of(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            Source::new(&rel, &std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

#[test]
fn the_source_tree_keeps_the_import_rules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = sources_of(&src);
    assert!(
        sources.iter().any(|s| s.file == "plugin.rs")
            && sources.iter().any(|s| s.file == "registry.rs")
            && sources.iter().any(|s| s.file.starts_with("input/")),
        "src/ not found where expected"
    );
    // The check sees real imports (it would pass vacuously otherwise).
    let registry = sources.iter().find(|s| s.file == "registry.rs").unwrap();
    assert!(
        registry.references().iter().any(|r| r == &["input", "raw"]),
        "registry.rs's imports were not recognised"
    );
    let found = violations(&sources);
    assert!(
        found.is_empty(),
        "import rules broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn each_kind_of_breach_is_caught() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "plugin.rs",
            "use crate::settings::UsageError;",
            "plugin.rs imports only message.rs",
        ),
        (
            "plugin.rs",
            "fn f() { crate::stats::counter(\"x\"); }",
            "plugin.rs imports only message.rs",
        ),
        (
            "emitter.rs",
            "use crate::registry::build;",
            "registry is imported by main.rs alone",
        ),
        (
            "input/raw.rs",
            "use crate::{message::Message, output::http::HttpConfig};",
            "a plugin imports another plugin",
        ),
        (
            "input/raw.rs",
            "use super::file::FileInput;",
            "a plugin imports another plugin",
        ),
        (
            "output/file/naming.rs",
            "use super::super::http::X;",
            "a plugin imports another plugin",
        ),
        (
            "output/http/mod.rs",
            "let e = crate::output::elasticsearch::Exporter::start(&c);",
            "a plugin imports another plugin",
        ),
        (
            "output/http/mod.rs",
            "mod tests {\n    use super::super::file::FileOutput;\n}",
            "a plugin imports another plugin",
        ),
        (
            "settings/mod.rs",
            "use crate::input::raw::RawConfig;",
            "a low module imports a high one",
        ),
        (
            "http/client/conn.rs",
            "use crate::emitter::Options;",
            "a low module imports a high one",
        ),
    ];
    for (file, code, rule) in cases {
        let found = violations(&[Source::new(file, code)]);
        assert!(
            found.iter().any(|f| f.ends_with(rule)),
            "{file}: `{code}` not caught as {rule:?}: {found:?}"
        );
    }
    let allowed: &[(&str, &str)] = &[
        (
            "plugin.rs",
            "use crate::message::Message; // crate::settings",
        ),
        ("main.rs", "use gor::registry;"),
        ("input/file.rs", "mod records; use records::Record;"),
        ("input/file/records.rs", "use super::super::file::X;"),
        (
            "input/file.rs",
            "mod records;\n#[cfg(test)]\nmod tests {\n    use super::records::Record;\n}",
        ),
        (
            "input/raw.rs",
            "use crate::capture::decode; use crate::plugin::Input;",
        ),
        ("output/http/mod.rs", "use crate::http::client::conn;"),
        ("settings/mod.rs", "pub use crate::plugin::UsageError;"),
        ("registry.rs", "use crate::input::raw::RawInput;"),
    ];
    for (file, code) in allowed {
        let found = violations(&[Source::new(file, code)]);
        assert!(
            found.is_empty(),
            "{file}: `{code}` wrongly refused: {found:?}"
        );
    }
}
