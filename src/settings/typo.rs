//! The hint after an unknown flag: `(did you mean --output-http?)`.
//!
//! Go's flag package only says `flag provided but not defined: -output-htp`;
//! with some 150 flags, most of them long and alike, a mistyped one is
//! easier to fix when the closest real name is shown beside it.

/// The known flag closest to `typed`, if one is close enough to be what the
/// user meant: few edits (a letter missed, added, changed or two swapped)
/// for the length of the name. Ties go to the flag defined first.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed = typed.to_ascii_lowercase();
    let allowed = (typed.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|name| (edits(&typed, name), name))
        .filter(|&(d, _)| d <= allowed)
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// Edit distance counting a swap of two neighbouring letters as one edit
/// (optimal string alignment).
fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), the previous one, the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[&str] = &[
        "output-http",
        "output-tcp",
        "input-raw",
        "input-file",
        "verbose",
    ];

    #[test]
    fn a_missed_added_changed_or_swapped_letter_is_one_edit() {
        assert_eq!(edits("output-htp", "output-http"), 1);
        assert_eq!(edits("output-htttp", "output-http"), 1);
        assert_eq!(edits("output-hxtp", "output-http"), 1);
        assert_eq!(edits("otuput-http", "output-http"), 1);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("kitten", "sitting"), 3);
    }

    #[test]
    fn the_closest_flag_is_named_when_close_enough() {
        assert_eq!(
            closest("output-htp", FLAGS.iter().copied()),
            Some("output-http")
        );
        assert_eq!(
            closest("input-fiel", FLAGS.iter().copied()),
            Some("input-file")
        );
        assert_eq!(
            closest("Input-Raw", FLAGS.iter().copied()),
            Some("input-raw")
        );
        assert_eq!(closest("verbos", FLAGS.iter().copied()), Some("verbose"));
        assert_eq!(closest("nope", FLAGS.iter().copied()), None);
        assert_eq!(closest("x", FLAGS.iter().copied()), None);
        assert_eq!(closest("completely-different", FLAGS.iter().copied()), None);
    }
}
