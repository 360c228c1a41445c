//! JSON bodies compared side by side, without building either as a tree.
//!
//! Two builds of one service almost always write the same keys in the same
//! order, so both texts are read together: a value whose text is the same
//! on both sides is passed over whole, an object or array that differs is
//! entered in step, and a scalar is parsed only where its text differs (to
//! tell `1` from `1.0` and `"A"` from `"\u0041"`, which are equal). Only an
//! object whose keys differ is taken apart key by key. Differences come in
//! document order: the baseline's keys, then the keys only the candidate
//! has. A key written twice counts once, with its last value, as in
//! serde_json; objects whose keys match position by position are compared
//! occurrence by occurrence.

use super::{Change, Differences, Rules, push_key};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Deeper than this the bodies are compared as bytes: serde_json refuses
/// to parse deeper documents too, and the walk is recursive.
const MAX_DEPTH: usize = 128;

/// Compares two JSON texts, naming each difference by its path from `$`.
/// `None` when they are not both JSON (or nest too deep, or have a key that
/// is not UTF-8): the caller compares them as bytes, and `out` is as it was.
///
/// Only what differs is parsed (by serde_json): a flaw where both texts are
/// the same byte for byte is passed over with the rest of what is equal,
/// and one where they differ sends the whole comparison to the bytes.
pub(super) fn compare(rules: &Rules, a: &[u8], b: &[u8], out: &mut Differences) -> Option<()> {
    let (x, y) = (one_value(a)?, one_value(b)?);
    let mark = out.mark();
    let mut walk = Walk {
        rules,
        path: String::from("$"),
        out,
    };
    let walked = walk.differ(x, y, 0);
    if walked.is_none() {
        out.rewind(mark);
    }
    walked
}

/// The one value `text` holds between white space, if nothing follows it.
fn one_value(text: &[u8]) -> Option<&[u8]> {
    let text = text.trim_ascii();
    let span = Text::new(text).value()?;
    (span.len() == text.len()).then_some(span)
}

/// A read position in one JSON text.
struct Text<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Text<'a> {
    fn new(s: &'a [u8]) -> Text<'a> {
        Text { s, at: 0 }
    }

    /// Just inside the opening bracket of an object's or array's text.
    fn inside(s: &'a [u8]) -> Text<'a> {
        Text { s, at: 1 }
    }

    /// The next byte after white space, not taken.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
        self.s.get(self.at).copied()
    }

    /// Takes `c` if it comes next.
    fn eat(&mut self, c: u8) -> bool {
        let next = self.peek() == Some(c);
        if next {
            self.at += 1;
        }
        next
    }

    /// Takes the string that starts here; its text, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        self.at = string_end(self.s, start + 1)?;
        self.s.get(start..self.at)
    }

    /// Takes the whole value that comes next; its text.
    fn value(&mut self) -> Option<&'a [u8]> {
        let first = self.peek()?;
        let (s, start) = (self.s, self.at);
        let mut i = start;
        match first {
            b'"' => i = string_end(s, i + 1)?,
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    while i < s.len() && !SKIPPED_TO[usize::from(s[i])] {
                        i += 1;
                    }
                    match *s.get(i)? {
                        b'"' => {
                            i = string_end(s, i + 1)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        _ => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                    }
                    i += 1;
                }
            }
            _ => {
                while i < s.len()
                    && !matches!(s[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    i += 1;
                }
            }
        }
        self.at = i;
        s.get(start..i)
    }

    /// Takes the key that comes next, and its colon.
    fn key(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let key = self.string()?;
        self.eat(b':').then_some(key)
    }
}

/// What skipping over an object or array stops at: quotes and brackets.
const SKIPPED_TO: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'[' as usize] = true;
    t[b'}' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// Just past the closing quote of the string whose text starts at `i`.
fn string_end(s: &[u8], mut i: usize) -> Option<usize> {
    loop {
        while i < s.len() && s[i] != b'"' && s[i] != b'\\' {
            i += 1;
        }
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            _ => i += 2,
        }
    }
}

/// A key's text (quotes included) as the key itself.
fn key_name(raw: &[u8]) -> Option<Cow<'_, str>> {
    let inner = raw.get(1..raw.len().checked_sub(1)?)?;
    if inner.contains(&b'\\') {
        serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
    } else {
        std::str::from_utf8(inner).ok().map(Cow::Borrowed)
    }
}

fn parse(text: &[u8]) -> Option<Value> {
    serde_json::from_slice(text).ok()
}

/// Equal as JSON values; 1 and 1.0 are the same number.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        _ => a == b,
    }
}

/// Where the walk is: the rules, the path of the values being compared,
/// and the differences found so far.
struct Walk<'w> {
    rules: &'w Rules,
    path: String,
    out: &'w mut Differences,
}

impl Walk<'_> {
    /// Two values (their texts) at the current path: nothing to do when
    /// the texts are the same, which is how equal subtrees are passed over
    /// without reading them key by key.
    fn differ(&mut self, x: &[u8], y: &[u8], depth: usize) -> Option<()> {
        if x == y {
            return Some(());
        }
        if depth > MAX_DEPTH {
            return None;
        }
        match (x.first(), y.first()) {
            (Some(b'{'), Some(b'{')) => self.object(x, y, depth),
            (Some(b'['), Some(b'[')) => self.array(x, y, depth),
            _ => {
                let (a, b) = (parse(x)?, parse(y)?);
                if !same_value(&a, &b) {
                    self.out.add(self.rules, &self.path, a, b, Change::Changed);
                }
                Some(())
            }
        }
    }

    /// `x` and `y` differ at `path` + `step`.
    fn differ_at(&mut self, step: Step<'_>, x: &[u8], y: &[u8], depth: usize) -> Option<()> {
        let len = self.path.len();
        step.push(&mut self.path);
        let walked = self.differ(x, y, depth + 1);
        self.path.truncate(len);
        walked
    }

    /// A value at `path` + `step` only one side has.
    fn one_side(
        &mut self,
        step: Step<'_>,
        baseline: Option<&[u8]>,
        candidate: Option<&[u8]>,
    ) -> Option<()> {
        let (a, b, change) = match (baseline, candidate) {
            (Some(a), None) => (parse(a)?, Value::Null, Change::Removed),
            (None, Some(b)) => (Value::Null, parse(b)?, Change::Added),
            _ => return Some(()),
        };
        let len = self.path.len();
        step.push(&mut self.path);
        self.out.add(self.rules, &self.path, a, b, change);
        self.path.truncate(len);
        Some(())
    }

    /// Two objects, key by key in step while their keys match; from the
    /// first key that does not, the whole object again, matched by name.
    fn object(&mut self, x: &[u8], y: &[u8], depth: usize) -> Option<()> {
        let (mut a, mut b) = (Text::inside(x), Text::inside(y));
        let mark = self.out.mark();
        loop {
            match (a.eat(b'}'), b.eat(b'}')) {
                (true, true) => return Some(()),
                (false, false) => {}
                _ => break,
            }
            let (ka, kb) = (a.key()?, b.key()?);
            if ka != kb {
                break;
            }
            let (va, vb) = (a.value()?, b.value()?);
            if va != vb {
                self.differ_at(Step::Key(&key_name(ka)?), va, vb, depth)?;
            }
            a.eat(b',');
            b.eat(b',');
        }
        self.out.rewind(mark);
        self.object_by_name(x, y, depth)
    }

    /// Two objects (their texts) whose keys differ: matched by name.
    fn object_by_name(&mut self, x: &[u8], y: &[u8], depth: usize) -> Option<()> {
        let (xs, ys) = (members(x)?, members(y)?);
        let (in_x, in_y) = (last_places(&xs), last_places(&ys));
        for (i, (k, va)) in xs.iter().enumerate() {
            if in_x.get(k.as_ref()) != Some(&i) {
                continue;
            }
            match in_y.get(k.as_ref()) {
                Some(&j) if *va == ys[j].1 => {}
                Some(&j) => self.differ_at(Step::Key(k), va, ys[j].1, depth)?,
                None => self.one_side(Step::Key(k), Some(va), None)?,
            }
        }
        for (j, (k, vb)) in ys.iter().enumerate() {
            if in_y.get(k.as_ref()) == Some(&j) && !in_x.contains_key(k.as_ref()) {
                self.one_side(Step::Key(k), None, Some(vb))?;
            }
        }
        Some(())
    }

    /// Two arrays, element by element; what one has beyond the other's end
    /// is added or removed.
    fn array(&mut self, x: &[u8], y: &[u8], depth: usize) -> Option<()> {
        let (mut a, mut b) = (Text::inside(x), Text::inside(y));
        let (mut a_done, mut b_done) = (false, false);
        for i in 0usize.. {
            a_done = a_done || a.eat(b']');
            b_done = b_done || b.eat(b']');
            let va = if a_done { None } else { Some(a.value()?) };
            let vb = if b_done { None } else { Some(b.value()?) };
            match (va, vb) {
                (None, None) => return Some(()),
                (Some(va), Some(vb)) if va != vb => {
                    self.differ_at(Step::Index(i), va, vb, depth)?
                }
                (Some(_), Some(_)) => {}
                _ => self.one_side(Step::Index(i), va, vb)?,
            }
            a.eat(b',');
            b.eat(b',');
        }
        None
    }
}

/// One step down a JSON path.
#[derive(Clone, Copy)]
enum Step<'k> {
    Key(&'k str),
    Index(usize),
}

impl Step<'_> {
    fn push(self, path: &mut String) {
        match self {
            Step::Key(k) => push_key(path, k),
            Step::Index(i) => {
                let _ = write!(path, "[{i}]");
            }
        }
    }
}

/// The members of an object's text: each key and its value's text.
fn members(text: &[u8]) -> Option<Vec<(Cow<'_, str>, &[u8])>> {
    let mut t = Text::inside(text);
    let mut list = Vec::new();
    while !t.eat(b'}') {
        let key = key_name(t.key()?)?;
        list.push((key, t.value()?));
        t.eat(b',');
    }
    Some(list)
}

/// Where each key last appears: a repeated key counts once, last value.
fn last_places<'k>(list: &'k [(Cow<'_, str>, &[u8])]) -> HashMap<&'k str, usize> {
    let mut at = HashMap::with_capacity(list.len());
    for (i, (k, _)) in list.iter().enumerate() {
        at.insert(k.as_ref(), i);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diff(a: &str, b: &str) -> Option<Vec<(String, Value, Value)>> {
        let mut out = Differences::default();
        compare(
            &Rules::new(&[], &[]).unwrap(),
            a.as_bytes(),
            b.as_bytes(),
            &mut out,
        )?;
        Some(
            out.list
                .into_iter()
                .map(|d| (d.field, d.baseline, d.candidate))
                .collect(),
        )
    }

    #[test]
    fn equal_values_written_differently_are_equal() {
        let a = r#"{ "n": 1, "s": "A", "l": [1.0, {"x": null}], "e": {} }"#;
        let b = r#"{"n":1.0,"s":"\u0041","l":[1,{"x":null}],"e":{ }}"#;
        assert_eq!(diff(a, b), Some(vec![]));
    }

    #[test]
    fn keys_in_another_order_are_matched_by_name_in_document_order() {
        let a = r#"{"z":1,"same":{"k":[1,2]},"gone":true}"#;
        let b = r#"{"same":{"k":[1,3,4]},"z":2,"new":"x"}"#;
        let fields: Vec<String> = diff(a, b).unwrap().into_iter().map(|d| d.0).collect();
        assert_eq!(
            fields,
            ["$.z", "$.same.k[1]", "$.same.k[2]", "$.gone", "$.new"]
        );
    }

    #[test]
    fn a_repeated_key_counts_once_with_its_last_value() {
        let d = diff(r#"{"a":1,"b":0,"a":2}"#, r#"{"b":0,"a":2}"#);
        assert_eq!(d, Some(vec![]));
    }

    #[test]
    fn a_changed_type_is_one_difference_with_both_values() {
        let d = diff(r#"{"v":{"x":1}}"#, r#"{"v":[1]}"#).unwrap();
        assert_eq!(d, [("$.v".to_string(), json!({"x": 1}), json!([1]))]);
    }

    /// The comparison the walk must agree with: both documents parsed whole
    /// and walked as trees, each differing leaf (or added or removed
    /// subtree) recorded under its path.
    fn compare_trees(
        rules: &Rules,
        a: &Value,
        b: &Value,
        path: &mut String,
        out: &mut Differences,
    ) {
        if a == b {
            return;
        }
        let len = path.len();
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, va) in x {
                    push_key(path, k);
                    match y.get(k) {
                        Some(vb) => compare_trees(rules, va, vb, path, out),
                        None => out.add(rules, path, va.clone(), Value::Null, Change::Removed),
                    }
                    path.truncate(len);
                }
                for (k, vb) in y {
                    if !x.contains_key(k) {
                        push_key(path, k);
                        out.add(rules, path, Value::Null, vb.clone(), Change::Added);
                        path.truncate(len);
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    let _ = write!(path, "[{i}]");
                    match (x.get(i), y.get(i)) {
                        (Some(va), Some(vb)) => compare_trees(rules, va, vb, path, out),
                        (Some(va), None) => {
                            out.add(rules, path, va.clone(), Value::Null, Change::Removed)
                        }
                        (None, Some(vb)) => {
                            out.add(rules, path, Value::Null, vb.clone(), Change::Added)
                        }
                        (None, None) => {}
                    }
                    path.truncate(len);
                }
            }
            _ if same_value(a, b) => {}
            _ => out.add(rules, path, a.clone(), b.clone(), Change::Changed),
        }
    }

    /// A small deterministic generator, so the property test below needs
    /// no crate and fails the same way every time.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn random_value(r: &mut Rng, depth: u32) -> Value {
        match r.below(if depth > 3 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => json!(r.below(3) == 0),
            2 => json!(r.below(5)),
            3 => json!(["a", "b", "\u{e9}"][r.below(3) as usize]),
            4 => Value::Array(
                (0..r.below(4))
                    .map(|_| random_value(r, depth + 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..r.below(5))
                    .map(|_| (format!("k{}", r.below(6)), random_value(r, depth + 1)))
                    .collect(),
            ),
        }
    }

    /// A changed copy: values replaced, keys dropped or added.
    fn mutate(r: &mut Rng, v: &Value) -> Value {
        match (v, r.below(8)) {
            (_, 0) => random_value(r, 2),
            (Value::Object(m), _) => {
                let mut m = m.clone();
                if r.below(3) == 0 {
                    m.insert(format!("k{}", r.below(8)), random_value(r, 3));
                }
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    match r.below(6) {
                        0 => {
                            m.remove(&k);
                        }
                        1 => {
                            let changed = mutate(r, &m[&k]);
                            m.insert(k, changed);
                        }
                        _ => {}
                    }
                }
                Value::Object(m)
            }
            (Value::Array(a), _) => {
                let mut a: Vec<Value> = a
                    .iter()
                    .map(|x| {
                        if r.below(3) == 0 {
                            mutate(r, x)
                        } else {
                            x.clone()
                        }
                    })
                    .collect();
                if r.below(3) == 0 {
                    a.push(random_value(r, 3));
                }
                Value::Array(a)
            }
            (Value::Number(n), 1) => json!(n.as_f64()),
            (v, _) => v.clone(),
        }
    }

    /// JSON text with the keys in a shuffled order, numbers sometimes
    /// written as floats and strings sometimes escaped, and white space.
    fn write(r: &mut Rng, v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut members: Vec<_> = m.iter().collect();
                for i in (1..members.len()).rev() {
                    members.swap(i, r.below(i as u64 + 1) as usize);
                }
                out.push('{');
                for (i, (k, x)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(if r.below(2) == 0 { "," } else { ", " });
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(r, x, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push_str("[ ");
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(r, x, out);
                }
                out.push(']');
            }
            Value::Number(n) if r.below(3) == 0 => {
                let _ = write!(out, "{:.1}", n.as_f64().unwrap_or(0.0));
            }
            Value::String(s) if s == "a" && r.below(2) == 0 => out.push_str(r#""\u0061""#),
            other => out.push_str(&other.to_string()),
        }
    }

    #[test]
    fn the_walk_finds_what_comparing_whole_trees_finds() {
        let rules = Rules::new(&[], &[]).unwrap();
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut differing = 0;
        for _ in 0..5000 {
            let a = random_value(&mut r, 0);
            let b = if r.below(4) == 0 {
                a.clone()
            } else {
                mutate(&mut r, &a)
            };
            let (mut ta, mut tb) = (String::new(), String::new());
            write(&mut r, &a, &mut ta);
            write(&mut r, &b, &mut tb);
            let mut walked = Differences::default();
            compare(&rules, ta.as_bytes(), tb.as_bytes(), &mut walked).unwrap();
            let mut trees = Differences::default();
            let parsed = |t: &str| serde_json::from_str::<Value>(t).unwrap();
            let (a, b) = (parsed(&ta), parsed(&tb));
            compare_trees(&rules, &a, &b, &mut String::from("$"), &mut trees);
            let set = |d: Differences| {
                let mut v: Vec<String> = d
                    .list
                    .into_iter()
                    .map(|x| {
                        format!(
                            "{} {} {} {}",
                            x.field,
                            x.baseline,
                            x.candidate,
                            x.change.as_str()
                        )
                    })
                    .collect();
                v.sort();
                (v, d.more)
            };
            differing += usize::from(!walked.is_empty());
            assert_eq!(set(walked), set(trees), "{ta}\n{tb}");
        }
        assert!(differing > 500, "{differing} of 5000 pairs differed");
    }

    #[test]
    fn a_flaw_both_sides_share_is_passed_over_and_one_that_differs_is_not() {
        let d = diff(r#"{"a":NaN,"b":1}"#, r#"{"a":NaN,"b":2}"#).unwrap();
        assert_eq!(d, [("$.b".to_string(), json!(1), json!(2))]);
        assert_eq!(diff(r#"{"a":NaN}"#, r#"{"a":Infinity}"#), None);
    }

    #[test]
    fn invalid_or_too_deep_documents_are_left_to_the_byte_comparison() {
        assert_eq!(diff(r#"{"a":1}"#, r#"{"a":1"#), None);
        assert_eq!(diff(r#"{"a":1} x"#, r#"{"a":1}"#), None);
        let deep = |leaf: &str| format!("{}{leaf}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(diff(&deep("1"), &deep("2")), None);
        // Within the limit the same shape is compared.
        let shallow = |leaf: &str| format!("{}{leaf}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(diff(&shallow("1"), &shallow("2")).unwrap().len(), 1);
    }
}
