//! Parsers for flag values, with Go's rules: integer literals with base
//! prefixes (`0x1F`, `0o17`, `017`, `0b101`, `4_2`), Go durations (`1m30s`,
//! `500ms`), GoReplay size strings (`32mb`), Go's bool literals.
//!
//! Each returns the reason text used in
//! `invalid value "<v>" for flag -<name>: <reason>`.

use std::time::Duration;

/// A Go listen address: `:8080` listens on every interface, `host:port` on
/// that address. `None` when there is no valid port.
pub fn listen_address(addr: &str) -> Option<String> {
    let addr = addr.trim();
    if let Some(port) = addr.strip_prefix(':') {
        port.parse::<u16>().ok()?;
        return Some(format!("0.0.0.0:{port}"));
    }
    let (_, port) = addr.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    Some(addr.to_string())
}

/// Go's `strconv.ParseBool` literals.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("parse error".into()),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, base prefix, `_` separators.
pub fn parse_int(s: &str) -> Result<i64, String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_unsigned(body)?;
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            return Err("value out of range".into());
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| "value out of range".into())
    }
}

/// An unsigned Go integer literal (no sign).
fn parse_unsigned(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Go allows `_` only between digits or right after a base prefix.
    let bad_underscore =
        digits.ends_with('_') || digits.contains("__") || (digits.starts_with('_') && !prefixed);
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || bad_underscore {
        return Err("parse error".into());
    }
    u64::from_str_radix(&clean, radix).map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => "value out of range".into(),
        _ => "parse error".into(),
    })
}

/// GoReplay's size strings: an integer literal optionally followed by `kb`,
/// `mb`, `gb` or `tb` (powers of 1024), case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let units: [(&str, u64); 4] = [
        ("kb", 1 << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("tb", 1 << 40),
    ];
    let (number, mult) = units
        .iter()
        .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|n| (n, *m)))
        .unwrap_or((lower.as_str(), 1));
    let invalid = || {
        format!("invalid size {s:?} (expected a number with an optional kb, mb, gb or tb suffix)")
    };
    let n = parse_unsigned(number).map_err(|_| invalid())?;
    n.checked_mul(mult).ok_or_else(invalid)
}

/// Go's `time.ParseDuration`. Negative durations are accepted, as in Go, and
/// mean "off" everywhere gor uses them, so they become zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_ns(s).map(|ns| Duration::from_nanos(ns.max(0) as u64))
}

/// Go's `time.ParseDuration`, in signed nanoseconds.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let err = || "parse error".to_string();
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    if total > i64::MAX as f64 {
        return Err("value out of range".into());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Formats a duration the way Go prints one (`1.5s`, `2m0s`, `100ms`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", trim_fraction(u, 1_000));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", trim_fraction(u, 1_000_000));
    }
    let secs = u / 1_000_000_000;
    let frac = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s_text = trim_fraction(s * 1_000_000_000 + frac, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s_text}s")
    } else if m > 0 {
        format!("{sign}{m}m{s_text}s")
    } else {
        format!("{sign}{s_text}s")
    }
}

fn trim_fraction(v: u64, unit: u64) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_goreplay() {
        let cases: &[(&str, u64)] = &[
            ("42mb", 42 << 20),
            ("4_2", 42),
            ("00", 0),
            ("0", 0),
            ("0_600tb", 384 << 40),
            ("0600Tb", 384 << 40),
            ("0o12Mb", 10 << 20),
            ("0b_10010001111_1kb", 2335 << 10),
            ("1024", 1024),
            ("0b111", 7),
            ("0x12gB", 18 << 30),
            ("0x_67_7a_2f_cc_40_c6", 113774485586118),
            ("121562380192901", 121562380192901),
            ("32mb", 33554432),
            ("10KB", 10240),
            ("010mb", 8 << 20),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(*want), "{text}");
        }
    }

    #[test]
    fn sizes_reject_single_letter_units_and_signs() {
        for bad in ["1b", "10m", "5k", "-1", "1.5mb", "", "mb"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ints_take_go_base_prefixes() {
        assert_eq!(parse_int("010"), Ok(8));
        assert_eq!(parse_int("0x1F"), Ok(31));
        assert_eq!(parse_int("0b101"), Ok(5));
        assert_eq!(parse_int("-2"), Ok(-2));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert!(parse_int("ten").is_err());
        assert!(parse_int("1_").is_err());
        assert_eq!(
            parse_int("99999999999999999999"),
            Err("value out of range".into())
        );
    }

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("-5s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration_ns("-5s"), Ok(-5_000_000_000));
        assert_eq!(
            parse_duration("2h45m"),
            Ok(Duration::from_secs(2 * 3600 + 45 * 60))
        );
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        for bad in ["5", "1x", "", "s", "1.s.", "--1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(120_000_000_000), "2m0s");
        assert_eq!(format_duration(100_000_000), "100ms");
        assert_eq!(format_duration(i64::MAX), "2562047h47m16.854775807s");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn listen_addresses_are_port_or_host_port() {
        assert_eq!(listen_address(":80").as_deref(), Some("0.0.0.0:80"));
        assert_eq!(
            listen_address("127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert!(listen_address("nope").is_none());
        assert!(listen_address(":99999").is_none());
    }

    #[test]
    fn bools_accept_go_literals_only() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(t), Ok(true));
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_bool(f), Ok(false));
        }
        assert!(parse_bool("yes").is_err());
    }
}
