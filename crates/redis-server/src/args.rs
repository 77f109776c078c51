//! Argument parsing helpers shared by all command families (numbers, options, keywords).

use crate::error::CommandError;
use bytes::Bytes;

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Parses a strict decimal i64 (no spaces, no `+`, no leading zeros other than "0").
pub fn parse_i64(arg: &[u8]) -> Option<i64> {
    if arg.is_empty() || arg.len() > 20 {
        return None;
    }
    let (neg, digits) = if arg[0] == b'-' { (true, &arg[1..]) } else { (false, arg) };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = (d - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(digit)? } else { v.checked_mul(10)?.checked_add(digit)? };
    }
    Some(v)
}

pub fn int(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or(CommandError::NotInteger)
}

/// A non-negative integer; negative values get `err` (commands word this differently).
pub fn non_negative(arg: &[u8], err: &str) -> Result<u64, CommandError> {
    let v = int(arg)?;
    if v < 0 {
        return Err(CommandError::err(err));
    }
    Ok(v as u64)
}

/// Parses a float as Redis does (`strtod` syntax, `inf`, `+inf`, `-inf`; NaN refused).
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        lower if lower.contains("nan") || lower.contains("inf") => return None,
        _ => s.parse::<f64>().ok()?,
    };
    if v.is_nan() {
        return None;
    }
    Some(v)
}

pub fn float(arg: &[u8]) -> Result<f64, CommandError> {
    parse_f64(arg).ok_or(CommandError::NotFloat)
}

/// Timeout argument of blocking commands, in seconds (may be fractional); 0 = forever.
pub fn timeout_secs(arg: &[u8]) -> Result<Option<std::time::Duration>, CommandError> {
    let v = parse_f64(arg).ok_or_else(|| CommandError::err("timeout is not a float or out of range"))?;
    if v < 0.0 {
        return Err(CommandError::err("timeout is negative"));
    }
    if !v.is_finite() || v > 1e12 {
        return Err(CommandError::err("timeout is out of range"));
    }
    if v == 0.0 {
        return Ok(None);
    }
    Ok(Some(std::time::Duration::from_secs_f64(v)))
}

/// Formats an integer as bytes (for replies and stored values).
pub fn int_bytes(v: i64) -> Bytes {
    Bytes::from(v.to_string())
}

/// Lower-cased command name for error messages and lookups.
pub fn lower_name(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"01", b"-0", b"+1", b" 1", b"1 ", b"1.0", b"-"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn floats_follow_redis() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b"abc"), None);
        assert_eq!(parse_f64(b" 1"), None);
    }
}
