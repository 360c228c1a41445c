//! The results in the `--output-diff` directory:
//!
//! * `diffs.jsonl` — one line per request whose candidate differs, written
//!   as pairs are compared (noise-only ones included, marked);
//! * `summary.json` — per endpoint the counts and the fields that differed;
//! * `report.html` — one self-contained page: endpoints by regressions, most
//!   first, with their differing fields, rates and a few example requests
//!   side by side.
//!
//! Memory stays flat however many requests are compared: endpoints, fields
//! per endpoint and samples are capped (what is past a cap is counted under
//! `(other endpoints)` / `(other fields)`), and `diffs.jsonl` is streamed.

use super::compare::{Difference, Differences};
use crate::http::body;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Most endpoints counted on their own.
pub const MAX_ENDPOINTS: usize = 1000;
/// Most fields counted on their own per endpoint.
pub const MAX_FIELDS: usize = 200;
/// Where endpoints past [`MAX_ENDPOINTS`] are counted.
pub const OTHER_ENDPOINTS: &str = "(other endpoints)";
const OTHER_FIELDS: &str = "(other fields)";
/// Most lines of a response shown in a sample.
const SAMPLE_LINES: usize = 120;
/// Longest line shown in a sample.
const SAMPLE_LINE: usize = 300;

/// What one comparison found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Equal,
    /// Every difference is noise.
    NoiseOnly,
    /// At least one difference is not noise.
    Regression,
}

impl Outcome {
    pub fn of(d: &Differences) -> Outcome {
        if d.is_empty() {
            Outcome::Equal
        } else if d.more == 0 && d.list.iter().all(|x| x.noise) {
            Outcome::NoiseOnly
        } else {
            Outcome::Regression
        }
    }
}

/// The five counts, per endpoint and in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub compared: u64,
    pub equal: u64,
    pub different: u64,
    pub noise_only: u64,
    pub unmatched: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.compared += o.compared;
        self.equal += o.equal;
        self.different += o.different;
        self.noise_only += o.noise_only;
        self.unmatched += o.unmatched;
    }

    fn to_json(self) -> Value {
        json!({
            "compared": self.compared,
            "equal": self.equal,
            "different": self.different,
            "noise_only": self.noise_only,
            "unmatched": self.unmatched,
        })
    }
}

/// One compared pair, as the report needs it.
pub struct Compared<'a> {
    pub id: &'a str,
    pub endpoint: &'a str,
    pub request: &'a [u8],
    pub baseline: &'a [u8],
    pub candidate: &'a [u8],
    pub differences: &'a Differences,
}

#[derive(Default)]
struct FieldCount {
    /// Requests in which the field differed.
    requests: u64,
    /// Of those, how many as noise.
    noise: u64,
}

/// An example request kept for the page, already rendered.
struct Sample {
    regression: bool,
    html: String,
}

#[derive(Default)]
struct Endpoint {
    counts: Counts,
    fields: foldhash::HashMap<String, FieldCount>,
    samples: Vec<Sample>,
}

/// The results of one `--output-diff`, and the files they are written to.
pub struct Report {
    dir: PathBuf,
    roles: String,
    samples: usize,
    /// A fast seeded hash: looked up for every compared pair, and holding
    /// at most `MAX_ENDPOINTS` names.
    endpoints: foldhash::HashMap<String, Endpoint>,
    diffs: BufWriter<File>,
}

impl Report {
    /// Creates `dir` if needed and starts a new `diffs.jsonl` there.
    /// `roles` says what was compared with what, for the page.
    pub fn create(dir: &Path, roles: &str, samples: usize) -> io::Result<Report> {
        std::fs::create_dir_all(dir)?;
        let diffs = BufWriter::with_capacity(256 * 1024, File::create(dir.join("diffs.jsonl"))?);
        Ok(Report {
            dir: dir.to_path_buf(),
            roles: roles.to_string(),
            samples,
            endpoints: Default::default(),
            diffs,
        })
    }

    fn endpoint(&mut self, name: &str) -> &mut Endpoint {
        let key = if self.endpoints.len() < MAX_ENDPOINTS || self.endpoints.contains_key(name) {
            name
        } else {
            OTHER_ENDPOINTS
        };
        if !self.endpoints.contains_key(key) {
            self.endpoints.insert(key.to_string(), Endpoint::default());
        }
        self.endpoints.get_mut(key).expect("inserted above")
    }

    /// Counts one compared pair; a pair that differs gets its line in
    /// `diffs.jsonl` and may become a sample.
    pub fn compared(&mut self, pair: &Compared<'_>) -> io::Result<Outcome> {
        let outcome = Outcome::of(pair.differences);
        let samples = self.samples;
        let ep = self.endpoint(pair.endpoint);
        ep.counts.compared += 1;
        match outcome {
            Outcome::Equal => {
                ep.counts.equal += 1;
                return Ok(outcome);
            }
            Outcome::NoiseOnly => ep.counts.noise_only += 1,
            Outcome::Regression => ep.counts.different += 1,
        }
        let mut seen = HashSet::new();
        for d in &pair.differences.list {
            if !seen.insert(d.field.as_str()) {
                continue;
            }
            let key = if ep.fields.contains_key(&d.field) || ep.fields.len() < MAX_FIELDS {
                d.field.as_str()
            } else {
                OTHER_FIELDS
            };
            let f = ep.fields.entry(key.to_string()).or_default();
            f.requests += 1;
            f.noise += u64::from(d.noise);
        }
        let regression = outcome == Outcome::Regression;
        // Regressions are the better examples: one replaces a noise-only
        // sample once the samples are full.
        let slot = if ep.samples.len() < samples {
            Some(ep.samples.len())
        } else if regression {
            ep.samples.iter().position(|s| !s.regression)
        } else {
            None
        };
        if let Some(i) = slot {
            let sample = Sample {
                regression,
                html: render_sample(pair, regression),
            };
            if i == ep.samples.len() {
                ep.samples.push(sample);
            } else {
                ep.samples[i] = sample;
            }
        }
        let line = json!({
            "id": pair.id,
            "endpoint": pair.endpoint,
            "request": super::endpoint::request_line(pair.request),
            "regression": regression,
            "differences": pair.differences.list.iter().map(difference_json).collect::<Vec<_>>(),
            "more_differences": pair.differences.more,
        });
        serde_json::to_writer(&mut self.diffs, &line)?;
        self.diffs.write_all(b"\n")?;
        Ok(outcome)
    }

    /// Counts a request whose pair never completed.
    pub fn unmatched(&mut self, endpoint: &str) {
        self.endpoint(endpoint).counts.unmatched += 1;
    }

    /// The counts over every endpoint.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for ep in self.endpoints.values() {
            t.add(&ep.counts);
        }
        t
    }

    /// Writes `summary.json` and `report.html` (each replaced whole, so a
    /// reader never sees half a file) and flushes `diffs.jsonl`.
    pub fn write(&mut self) -> io::Result<()> {
        self.diffs.flush()?;
        replace(
            &self.dir.join("summary.json"),
            self.summary().to_string().as_bytes(),
        )?;
        replace(&self.dir.join("report.html"), self.html().as_bytes())
    }

    /// Endpoints by regressions (most first), then by pairs compared.
    fn ranked(&self) -> Vec<(&String, &Endpoint)> {
        let mut v: Vec<_> = self.endpoints.iter().collect();
        v.sort_by(|a, b| {
            (b.1.counts.different, b.1.counts.compared, a.0).cmp(&(
                a.1.counts.different,
                a.1.counts.compared,
                b.0,
            ))
        });
        v
    }

    fn summary(&self) -> Value {
        let mut endpoints = Map::new();
        for (name, ep) in self.ranked() {
            let mut e = ep.counts.to_json();
            let mut fields: Vec<_> = ep.fields.iter().collect();
            fields.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
            let obj = e.as_object_mut().expect("counts are an object");
            obj.insert(
                "fields".into(),
                Value::Object(
                    fields
                        .iter()
                        .map(|(k, f)| ((*k).clone(), json!(f.requests)))
                        .collect(),
                ),
            );
            obj.insert(
                "noise_fields".into(),
                Value::Object(
                    fields
                        .iter()
                        .filter(|(_, f)| f.noise > 0)
                        .map(|(k, f)| ((*k).clone(), json!(f.noise)))
                        .collect(),
                ),
            );
            endpoints.insert(name.clone(), e);
        }
        json!({
            "generated_at": chrono::Utc::now().to_rfc3339(),
            "compared": self.roles,
            "totals": self.totals().to_json(),
            "endpoints": endpoints,
        })
    }

    fn html(&self) -> String {
        let totals = self.totals();
        let mut h = String::with_capacity(64 * 1024);
        h.push_str(concat!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<title>gor response diff</title><style>",
            "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}",
            "h1{font-size:22px}h2{font-size:17px;margin-top:32px}",
            "table{border-collapse:collapse;margin:8px 0}",
            "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}",
            "th{background:#2b4c7e;color:#fff}td.n{text-align:right}",
            "tr.bad td{background:#fde2e1}tr.noisy td{background:#fff6d6}tr.good td{background:#e3f6e3}",
            ".field{font-family:monospace;display:inline-block;margin:1px 4px 1px 0;padding:0 4px;border-radius:3px;background:#eee}",
            ".field.noise{background:#fff0b3}.field.reg{background:#f8b4b0}",
            ".pair{display:flex;gap:12px}.pair>div{flex:1;min-width:0}",
            "pre{background:#f7f7f7;border:1px solid #ddd;padding:6px;overflow-x:auto;font-size:12px;margin:4px 0}",
            "mark{background:#ffb3ad}mark.noise{background:#ffe58a}",
            ".sample{border-top:1px solid #bbb;margin-top:12px;padding-top:6px}",
            "</style></head><body>\n<h1>Response diff</h1>\n"
        ));
        let _ = writeln!(
            h,
            "<p id=\"totals\">{} &mdash; {} pairs compared: <b>{} equal</b>, <b>{} different</b> (regressions), {} noise only, {} unmatched.</p>",
            esc(&self.roles),
            totals.compared,
            totals.equal,
            totals.different,
            totals.noise_only,
            totals.unmatched
        );
        h.push_str("<table id=\"endpoints\"><tr><th>Endpoint</th><th>Compared</th><th>Equal</th><th>Different</th><th>Noise only</th><th>Unmatched</th><th>Regression rate</th><th>Differing fields (requests)</th></tr>\n");
        let ranked = self.ranked();
        for (name, ep) in &ranked {
            let c = ep.counts;
            let class = if c.different > 0 {
                "bad"
            } else if c.noise_only > 0 {
                "noisy"
            } else {
                "good"
            };
            let rate = if c.compared == 0 {
                "&ndash;".to_string()
            } else {
                format!("{:.1}%", 100.0 * c.different as f64 / c.compared as f64)
            };
            let _ = writeln!(
                h,
                "<tr class=\"endpoint {class}\"><td><a href=\"#{}\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{rate}</td><td>{}</td></tr>",
                anchor(name),
                esc(name),
                c.compared,
                c.equal,
                c.different,
                c.noise_only,
                c.unmatched,
                fields_html(ep)
            );
        }
        h.push_str("</table>\n");
        for (name, ep) in &ranked {
            if ep.samples.is_empty() {
                continue;
            }
            let _ = writeln!(h, "<h2 id=\"{}\">{}</h2>", anchor(name), esc(name));
            for s in &ep.samples {
                h.push_str(&s.html);
            }
        }
        h.push_str("</body></html>\n");
        h
    }
}

fn difference_json(d: &Difference) -> Value {
    json!({
        "field": d.field,
        "baseline": d.baseline,
        "candidate": d.candidate,
        "change": d.change.as_str(),
        "noise": d.noise,
    })
}

/// The differing fields of an endpoint, most frequent first.
fn fields_html(ep: &Endpoint) -> String {
    let mut fields: Vec<_> = ep.fields.iter().collect();
    fields.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
    let mut h = String::new();
    for (name, f) in fields.iter().take(30) {
        let class = if f.noise == f.requests {
            "noise"
        } else {
            "reg"
        };
        let _ = write!(
            h,
            "<span class=\"field {class}\">{} ({})</span>",
            esc(name),
            f.requests
        );
    }
    if fields.len() > 30 {
        let _ = write!(h, "&hellip; and {} more", fields.len() - 30);
    }
    h
}

/// One example: the request line, the differences, and both responses side
/// by side with the differing lines marked.
fn render_sample(pair: &Compared<'_>, regression: bool) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<div class=\"sample\"><div><b>{}</b> <code>{}</code> &mdash; id {}</div>\n<table><tr><th>Field</th><th>Baseline</th><th>Candidate</th><th></th></tr>",
        if regression {
            "Regression"
        } else {
            "Noise only"
        },
        esc(&super::endpoint::request_line(pair.request)),
        esc(pair.id)
    );
    for d in &pair.differences.list {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td></tr>",
            if d.noise { "noisy" } else { "bad" },
            esc(&d.field),
            esc(&d.baseline.to_string()),
            esc(&d.candidate.to_string()),
            d.change.as_str(),
            if d.noise { ", noise" } else { "" }
        );
    }
    if pair.differences.more > 0 {
        let _ = write!(
            h,
            "<tr><td colspan=\"4\">&hellip; and {} more</td></tr>",
            pair.differences.more
        );
    }
    h.push_str("</table><div class=\"pair\">");
    for (title, data) in [("Baseline", pair.baseline), ("Candidate", pair.candidate)] {
        let _ = write!(h, "<div><b>{title}</b><pre>");
        for (line, mark) in shown_lines(data, &pair.differences.list)
            .into_iter()
            .take(SAMPLE_LINES)
        {
            match mark {
                Some(noise) => {
                    let _ = writeln!(
                        h,
                        "<mark{}>{}</mark>",
                        if noise { " class=\"noise\"" } else { "" },
                        esc(&line)
                    );
                }
                None => {
                    h.push_str(&esc(&line));
                    h.push('\n');
                }
            }
        }
        h.push_str("</pre></div>");
    }
    h.push_str("</div></div>\n");
    h
}

/// The lines of a response as shown in a sample, each with `Some(noise)`
/// when it holds a difference: the status line, differing header lines,
/// and for a JSON body the pretty-printed lines at differing paths.
fn shown_lines(data: &[u8], diffs: &[Difference]) -> Vec<(String, Option<bool>)> {
    let marked = |field: &str| diffs.iter().find(|d| d.field == field).map(|d| d.noise);
    let mut out = Vec::new();
    let head_end = crate::http::headers::body_offset(data).unwrap_or(data.len());
    for (i, line) in String::from_utf8_lossy(&data[..head_end])
        .lines()
        .enumerate()
    {
        if line.is_empty() {
            continue;
        }
        let mark = if i == 0 {
            marked("status")
        } else {
            line.split_once(':').and_then(|(name, _)| {
                diffs
                    .iter()
                    .find(|d| {
                        d.field
                            .strip_prefix("header:")
                            .is_some_and(|n| n.eq_ignore_ascii_case(name.trim()))
                    })
                    .map(|d| d.noise)
            })
        };
        out.push((cut(line), mark));
    }
    out.push((String::new(), None));
    let decoded = body::response_body(data).map(|(b, _)| b);
    let Some(body) = decoded else { return out };
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) if matches!(v, Value::Object(_) | Value::Array(_)) => {
            let mut path = String::from("$");
            pretty(&v, &mut path, 0, None, &marked, &mut out);
        }
        _ => {
            let body_mark = marked("body");
            let text = String::from_utf8_lossy(&body);
            let first = diffs
                .iter()
                .find(|d| d.field == "body")
                .and_then(|d| d.baseline.as_str())
                .and_then(|s| s.strip_prefix("line "))
                .and_then(|s| s.split(':').next())
                .and_then(|n| n.parse::<usize>().ok());
            for (i, line) in text.lines().take(SAMPLE_LINES).enumerate() {
                let mark = if first == Some(i + 1) {
                    body_mark
                } else {
                    None
                };
                out.push((cut(line), mark));
            }
        }
    }
    out
}

/// Pretty-prints `v` one member per line, marking the lines of differing
/// paths.
fn pretty(
    v: &Value,
    path: &mut String,
    depth: usize,
    key: Option<&str>,
    marked: &dyn Fn(&str) -> Option<bool>,
    out: &mut Vec<(String, Option<bool>)>,
) {
    if out.len() > SAMPLE_LINES {
        return;
    }
    let indent = "  ".repeat(depth);
    let label = key
        .map(|k| format!("{}: ", Value::String(k.to_string())))
        .unwrap_or_default();
    let mark = marked(path);
    let len = path.len();
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push((format!("{indent}{label}{{"), mark));
            for (k, child) in m {
                let plain = k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain {
                    let _ = write!(path, ".{k}");
                } else {
                    let _ = write!(path, "[{}]", Value::String(k.clone()));
                }
                pretty(child, path, depth + 1, Some(k), marked, out);
                path.truncate(len);
            }
            out.push((format!("{indent}}}"), None));
        }
        Value::Array(a) if !a.is_empty() => {
            out.push((format!("{indent}{label}["), mark));
            for (i, child) in a.iter().enumerate() {
                let _ = write!(path, "[{i}]");
                pretty(child, path, depth + 1, None, marked, out);
                path.truncate(len);
            }
            out.push((format!("{indent}]"), None));
        }
        leaf => out.push((cut(&format!("{indent}{label}{leaf}")), mark)),
    }
}

fn cut(line: &str) -> String {
    super::compare::shorten(line, SAMPLE_LINE)
}

/// HTML-escaped text.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// An HTML id for an endpoint.
fn anchor(name: &str) -> String {
    let mut a = String::from("ep-");
    for c in name.chars() {
        a.push(if c.is_ascii_alphanumeric() { c } else { '-' });
    }
    a
}

/// Writes `path` whole: into a temporary file beside it, then renamed.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::super::compare::{Change, Difference, Differences};
    use super::*;

    fn diffs(fields: &[(&str, bool)]) -> Differences {
        Differences {
            list: fields
                .iter()
                .map(|(f, noise)| Difference {
                    field: f.to_string(),
                    baseline: json!(1),
                    candidate: json!(2),
                    change: Change::Changed,
                    noise: *noise,
                })
                .collect(),
            more: 0,
        }
    }

    fn pair<'a>(id: &'a str, endpoint: &'a str, d: &'a Differences) -> Compared<'a> {
        Compared {
            id,
            endpoint,
            request: b"GET /a HTTP/1.1\r\n\r\n",
            baseline: b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"x\":1}",
            candidate: b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"x\":2}",
            differences: d,
        }
    }

    #[test]
    fn counts_lines_and_files_follow_the_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Report::create(dir.path(), "original vs candidate", 2).unwrap();
        let equal = Differences::default();
        let reg = diffs(&[("$.x", false), ("$.y", true)]);
        let noise = diffs(&[("$.y", true)]);
        assert_eq!(
            r.compared(&pair("1", "GET /a", &equal)).unwrap(),
            Outcome::Equal
        );
        assert_eq!(
            r.compared(&pair("2", "GET /a", &noise)).unwrap(),
            Outcome::NoiseOnly
        );
        assert_eq!(
            r.compared(&pair("3", "GET /b", &reg)).unwrap(),
            Outcome::Regression
        );
        r.unmatched("GET /a");
        r.write().unwrap();
        let summary: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(
            summary["endpoints"]["GET /a"],
            json!({"compared": 2, "equal": 1, "different": 0, "noise_only": 1, "unmatched": 1,
                   "fields": {"$.y": 1}, "noise_fields": {"$.y": 1}})
        );
        assert_eq!(
            summary["endpoints"]["GET /b"]["fields"],
            json!({"$.x": 1, "$.y": 1})
        );
        assert_eq!(summary["totals"]["compared"], json!(3));
        let lines = std::fs::read_to_string(dir.path().join("diffs.jsonl")).unwrap();
        let lines: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["id"], json!("2"));
        assert_eq!(lines[0]["regression"], json!(false));
        assert_eq!(lines[1]["differences"][0]["field"], json!("$.x"));
        assert_eq!(lines[1]["request"], json!("GET /a HTTP/1.1"));
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        // Regressions first.
        assert!(html.find("GET /b").unwrap() < html.find("GET /a").unwrap());
        assert!(html.contains("<mark>  &quot;x&quot;: 2</mark>"), "{html}");
    }

    #[test]
    fn endpoints_past_the_cap_are_counted_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Report::create(dir.path(), "x", 1).unwrap();
        for i in 0..MAX_ENDPOINTS + 10 {
            r.unmatched(&format!("GET /{i}"));
        }
        assert_eq!(r.endpoints.len(), MAX_ENDPOINTS + 1);
        assert_eq!(r.endpoints[OTHER_ENDPOINTS].counts.unmatched, 10);
    }

    #[test]
    fn a_regression_replaces_a_noise_sample_once_samples_are_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Report::create(dir.path(), "x", 1).unwrap();
        let noise = diffs(&[("$.y", true)]);
        let reg = diffs(&[("$.x", false)]);
        r.compared(&pair("1", "GET /a", &noise)).unwrap();
        r.compared(&pair("2", "GET /a", &reg)).unwrap();
        r.compared(&pair("3", "GET /a", &noise)).unwrap();
        let ep = &r.endpoints["GET /a"];
        assert_eq!(ep.samples.len(), 1);
        assert!(ep.samples[0].regression);
    }
}
