//! The one hex codec: lowercase encoding, decoding of either case. Used for
//! the middleware's hex lines, message ids and percent-escapes. The bulk
//! paths take 16 bytes (32 digits) at a time with SSE2 on x86-64, because a
//! middleware pipes every message through it twice.

/// Every byte's two lowercase hex digits.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
        i += 1;
    }
    t
};

/// Each byte's value as a hex digit (either case), or 0xFF.
static HEX_VALUES: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Appends the lowercase hex of `data` to `out`.
pub fn encode(data: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + data.len() * 2, 0);
    encode_into(data, &mut out[start..]);
}

/// Writes the lowercase hex of `data` to `out`, which is twice as long;
/// 16 bytes at a time with vector instructions.
pub fn encode_into(data: &[u8], out: &mut [u8]) {
    let mut bytes = data.chunks_exact(16);
    let mut digits = out.chunks_exact_mut(32);
    for (d, b) in (&mut digits).zip(&mut bytes) {
        if let (Ok(d), Ok(b)) = (d.try_into(), b.try_into()) {
            encode16(b, d);
        }
    }
    for (pair, b) in digits
        .into_remainder()
        .chunks_exact_mut(2)
        .zip(bytes.remainder())
    {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
}

/// The hex of 16 bytes (portable form, which the compiler vectorizes).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn encode16_portable(b: &[u8; 16], d: &mut [u8; 32]) {
    for i in 0..16 {
        let (hi, lo) = (b[i] >> 4, b[i] & 15);
        d[2 * i] = hi + if hi > 9 { b'a' - 10 } else { b'0' };
        d[2 * i + 1] = lo + if lo > 9 { b'a' - 10 } else { b'0' };
    }
}

/// 32 hex digits (either case) into 16 bytes; false if one is not a hex
/// digit (`o` is then meaningless). Portable form.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn decode32_portable(d: &[u8; 32], o: &mut [u8; 16]) -> bool {
    let mut nibbles = [0u8; 32];
    let mut not_hex = 0u8;
    for i in 0..32 {
        let c = d[i];
        let digit = c.wrapping_sub(b'0') < 10;
        let letter = (c | 0x20).wrapping_sub(b'a') < 6; // either case
        not_hex |= u8::from(!(digit | letter));
        // 'a' & 15 == 'A' & 15 == 1
        nibbles[i] = (c & 15).wrapping_add(if letter { 9 } else { 0 });
    }
    for k in 0..16 {
        o[k] = nibbles[2 * k] << 4 | nibbles[2 * k + 1];
    }
    not_hex == 0
}

#[cfg(not(target_arch = "x86_64"))]
use {decode32_portable as decode32, encode16_portable as encode16};

/// The hex of 16 bytes, with SSE2 (always there on x86-64).
#[cfg(target_arch = "x86_64")]
fn encode16(b: &[u8; 16], d: &mut [u8; 32]) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64; the unaligned load reads the 16
    // bytes of `b` and the two stores write the 32 bytes of `d`.
    unsafe {
        let v = _mm_loadu_si128(b.as_ptr().cast());
        let low4 = _mm_set1_epi8(0x0F);
        let hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
        let lo = _mm_and_si128(v, low4);
        // Nibble n becomes '0' + n, plus 39 more from 10 on ('a' - '9' - 1).
        let ascii = |n: __m128i| {
            let letter = _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)), _mm_set1_epi8(39));
            _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8(b'0' as i8)), letter)
        };
        _mm_storeu_si128(d.as_mut_ptr().cast(), ascii(_mm_unpacklo_epi8(hi, lo)));
        _mm_storeu_si128(
            d.as_mut_ptr().add(16).cast(),
            ascii(_mm_unpackhi_epi8(hi, lo)),
        );
    }
}

/// 32 hex digits (either case) into 16 bytes, with SSE2 (always there on
/// x86-64); false if one is not a hex digit (`o` is then meaningless).
#[cfg(target_arch = "x86_64")]
fn decode32(d: &[u8; 32], o: &mut [u8; 16]) -> bool {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64; the unaligned loads read the 32
    // bytes of `d` and the store writes the 16 bytes of `o`.
    unsafe {
        // 16 digits to 16 nibbles, and a mask of the digits that are hex.
        // Signed compares: bytes from 0x80 on are negative, never in range.
        let nibbles = |v: __m128i| {
            let in_range = |v: __m128i, lo: u8, hi: u8| {
                _mm_and_si128(
                    _mm_cmpgt_epi8(v, _mm_set1_epi8(lo as i8 - 1)),
                    _mm_cmplt_epi8(v, _mm_set1_epi8(hi as i8 + 1)),
                )
            };
            let digit = in_range(v, b'0', b'9');
            let letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', b'f');
            // 'a' & 15 == 'A' & 15 == 1
            let n = _mm_add_epi8(
                _mm_and_si128(v, _mm_set1_epi8(0x0F)),
                _mm_and_si128(letter, _mm_set1_epi8(9)),
            );
            (n, _mm_or_si128(digit, letter))
        };
        // Each 16-bit lane holds two nibbles, first digit low: make the
        // low byte first << 4 | second.
        let pairs = |n: __m128i| {
            _mm_and_si128(
                _mm_or_si128(_mm_slli_epi16(n, 4), _mm_srli_epi16(n, 8)),
                _mm_set1_epi16(0x00FF),
            )
        };
        let (a, a_ok) = nibbles(_mm_loadu_si128(d.as_ptr().cast()));
        let (b, b_ok) = nibbles(_mm_loadu_si128(d.as_ptr().add(16).cast()));
        _mm_storeu_si128(o.as_mut_ptr().cast(), _mm_packus_epi16(pairs(a), pairs(b)));
        _mm_movemask_epi8(_mm_and_si128(a_ok, b_ok)) == 0xFFFF
    }
}

/// Decodes one hex line (either case); the error says what is wrong.
pub fn decode(line: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; line.len() / 2];
    decode_into(line, &mut out)?;
    Ok(out)
}

/// Decodes one hex line (either case) into `out`, which is half as long.
pub fn decode_into(line: &[u8], out: &mut [u8]) -> Result<(), String> {
    if !line.len().is_multiple_of(2) {
        return Err("encoding/hex: odd length hex string".into());
    }
    debug_assert_eq!(out.len(), line.len() / 2);
    // 32 digits at a time with vector instructions.
    let mut bad = false;
    let mut digits = line.chunks_exact(32);
    let mut bytes = out.chunks_exact_mut(16);
    for (o, d) in (&mut bytes).zip(&mut digits) {
        if let (Ok(o), Ok(d)) = (o.try_into(), d.try_into()) {
            bad |= !decode32(d, o);
        }
    }
    let mut bad_tail = 0u8;
    for (o, pair) in bytes
        .into_remainder()
        .iter_mut()
        .zip(digits.remainder().chunks_exact(2))
    {
        let (h, l) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        bad_tail |= h | l;
        *o = h << 4 | l;
    }
    if !bad && bad_tail & 0xF0 == 0 {
        return Ok(());
    }
    // Only for the error message: where is the first bad digit?
    let at = line
        .iter()
        .position(|c| HEX_VALUES[usize::from(*c)] == 0xFF)
        .unwrap_or(0);
    Err(format!(
        "encoding/hex: invalid byte: {:#04X} at offset {at}",
        line[at]
    ))
}

/// The lowercase hex of `data` as a string.
pub fn encode_string(data: &[u8]) -> String {
    let mut out = Vec::with_capacity(data.len() * 2);
    encode(data, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// The value of one hex digit (either case).
pub fn digit(c: u8) -> Option<u8> {
    Some(HEX_VALUES[usize::from(c)]).filter(|v| *v != 0xFF)
}

/// The byte written as two hex digits (either case), e.g. after a `%`.
pub fn byte(pair: [u8; 2]) -> Option<u8> {
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_accepts_upper_case() {
        let mut line = Vec::new();
        encode(b"1 a 1\n\x00\xffGET", &mut line);
        assert_eq!(line, b"31206120310a00ff474554");
        assert_eq!(decode(&line).unwrap(), b"1 a 1\n\x00\xffGET");
        assert_eq!(decode(b"00FFaB").unwrap(), b"\x00\xff\xab");
    }

    #[test]
    fn bad_hex_is_an_error_not_a_panic() {
        assert!(decode(b"abc").unwrap_err().contains("odd length"));
        assert!(decode(b"zz").unwrap_err().contains("invalid byte"));
        assert!(decode(b"0\r").is_err());
    }

    #[test]
    fn decoding_accepts_exactly_the_hex_digits_at_every_position() {
        // Every byte value at every position, with the offset of a bad one.
        for len in [16usize, 18, 32, 34] {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut line = vec![b'a'; len];
                    line[pos] = b;
                    let expect_ok = b.is_ascii_hexdigit();
                    match decode(&line) {
                        Ok(out) => {
                            assert!(expect_ok, "byte {b:#x} at {pos} accepted");
                            let digit = (b as char).to_digit(16).unwrap() as u8;
                            let byte = out[pos / 2];
                            let got = if pos % 2 == 0 { byte >> 4 } else { byte & 15 };
                            assert_eq!(got, digit);
                            assert!(
                                out.iter()
                                    .enumerate()
                                    .all(|(i, o)| i == pos / 2 || *o == 0xaa)
                            );
                        }
                        Err(e) => {
                            assert!(!expect_ok, "byte {b:#x} at {pos} refused: {e}");
                            assert!(e.contains(&format!("at offset {pos}")), "{e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hex_round_trips_at_every_length_in_either_case() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            let bytes = &data[..len];
            let mut line = Vec::new();
            encode(bytes, &mut line);
            let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(line, expected.as_bytes(), "length {len}");
            assert_eq!(decode(&line).unwrap(), bytes, "length {len}");
            let upper = line.to_ascii_uppercase();
            assert_eq!(decode(&upper).unwrap(), bytes, "length {len}");
        }
    }

    #[test]
    fn vector_hex_kernels_agree_with_the_portable_ones() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const DIGITS: &[u8] = b"0123456789abcdefABCDEF";
        for round in 0..20_000 {
            let mut bytes = [0u8; 16];
            bytes.iter_mut().for_each(|b| *b = next() as u8);
            let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
            encode16(&bytes, &mut a);
            encode16_portable(&bytes, &mut b);
            assert_eq!(a, b);
            // Hex digits, with now and then any byte at all in one place.
            let mut digits = [0u8; 32];
            digits
                .iter_mut()
                .for_each(|d| *d = DIGITS[next() as usize % DIGITS.len()]);
            if round % 2 == 1 {
                digits[next() as usize % 32] = next() as u8;
            }
            let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
            let (ok_a, ok_b) = (
                decode32(&digits, &mut a),
                decode32_portable(&digits, &mut b),
            );
            assert_eq!(ok_a, ok_b, "{digits:?}");
            assert_eq!(ok_a, digits.iter().all(u8::is_ascii_hexdigit));
            if ok_a {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn strings_digits_and_escaped_bytes() {
        assert_eq!(encode_string(b"\x00\x7f\xff"), "007fff");
        assert_eq!(encode_string(b""), "");
        assert_eq!(
            (digit(b'7'), digit(b'f'), digit(b'F'), digit(b'g')),
            (Some(7), Some(15), Some(15), None)
        );
        assert_eq!(byte(*b"2F"), Some(0x2f));
        assert_eq!(byte(*b"2x"), None);
    }
}
