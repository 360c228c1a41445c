//! Cut, insert and replace a range of bytes: the primitives every header and
//! target edit is made of. Ranges are clamped to the data, so a bad offset
//! never panics (it edits at the nearest valid position instead).

/// `data` without the bytes in `from..to`.
pub fn cut(data: &[u8], from: usize, to: usize) -> Vec<u8> {
    replace(data, from, to, b"")
}

/// `data` with `what` inserted before byte `at`.
pub fn insert(data: &[u8], at: usize, what: &[u8]) -> Vec<u8> {
    replace(data, at, at, what)
}

/// `data` with the bytes in `from..to` replaced by `with`.
pub fn replace(data: &[u8], from: usize, to: usize, with: &[u8]) -> Vec<u8> {
    let from = from.min(data.len());
    let to = to.clamp(from, data.len());
    let mut out = Vec::with_capacity(data.len() - (to - from) + with.len());
    out.extend_from_slice(&data[..from]);
    out.extend_from_slice(with);
    out.extend_from_slice(&data[to..]);
    out
}

/// Index of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Index of the first `\r\n` in `hay`. Cheaper than [`find`] on the short
/// lines of an HTTP head (no searcher to set up per call).
pub fn find_crlf(hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &hay[from..]) {
        let at = from + i;
        if at > 0 && hay[at - 1] == b'\r' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

/// Index of the first `\r\n\r\n` (the end of an HTTP head) in `hay`.
pub fn find_blank_line(hay: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(hay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_a_range_removes_exactly_it() {
        assert_eq!(cut(b"123456", 2, 4), b"1256");
    }

    #[test]
    fn inserting_puts_bytes_before_the_offset() {
        assert_eq!(insert(b"123456", 2, b"abcd"), b"12abcd3456");
    }

    #[test]
    fn replacing_a_range_with_shorter_equal_or_longer_bytes() {
        assert_eq!(replace(b"123456", 2, 4, b"ab"), b"12ab56");
        assert_eq!(replace(b"123456", 2, 4, b"abcd"), b"12abcd56");
        assert_eq!(replace(b"123456", 2, 5, b"ab"), b"12ab6");
    }

    #[test]
    fn out_of_range_offsets_are_clamped_not_panics() {
        assert_eq!(replace(b"123", 5, 9, b"x"), b"123x");
        assert_eq!(replace(b"123", 2, 1, b"x"), b"12x3");
        assert_eq!(cut(b"", 0, 10), b"");
    }

    #[test]
    fn crlf_and_blank_line_are_found_first() {
        assert_eq!(find_crlf(b"a\nb\r\nc\r\n"), Some(3));
        assert_eq!(find_crlf(b"\n\n"), None);
        assert_eq!(find_crlf(b""), None);
        assert_eq!(find_blank_line(b"a\r\n\nb\r\n\r\n"), Some(5));
        assert_eq!(find_blank_line(b"a\r\n"), None);
    }

    #[test]
    fn find_locates_the_first_occurrence() {
        assert_eq!(find(b"a\r\nb\r\n", b"\r\n"), Some(1));
        assert_eq!(find(b"abc", b"x"), None);
        assert_eq!(find(b"", b"x"), None);
    }
}
