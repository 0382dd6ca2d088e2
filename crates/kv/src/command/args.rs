//! Number parsing and formatting with Redis's exact rules.
//!
//! Redis accepts integers only in canonical form (`string2ll`: no `+`, no leading zeros, no
//! spaces, at most 20 bytes) and floats as `strtold` does, minus NaN and leading spaces. The same
//! rules apply to arguments and to stored values (INCR on `"01"` fails in Redis too).

use crate::error::CommandError;

/// Longest canonical `i64` text: `-9223372036854775808`.
const I64_TEXT_LEN_MAX: usize = 20;

/// Longest text we try to read as a float; Redis's own limit for long doubles.
const FLOAT_TEXT_LEN_MAX: usize = 5 * 1024;

/// Parses a canonical signed 64-bit integer, as Redis's `string2ll`.
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > I64_TEXT_LEN_MAX {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses an unsigned cursor, as Redis's `string2ull`.
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b == b"0" {
        return Some(0);
    }
    if b.is_empty() || b.len() > I64_TEXT_LEN_MAX || !matches!(b[0], b'1'..=b'9') {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses a float as Redis's `getLongDoubleFromObject`: the whole text, no leading space, no NaN.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > FLOAT_TEXT_LEN_MAX || b[0].is_ascii_whitespace() {
        return None;
    }
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// Formats an INCRBYFLOAT result as Redis's human long-double format: plain decimal notation,
/// no exponent, no trailing zeros. We compute in `f64`, so we print its shortest round-trip
/// digits (Redis prints 17 decimals of an 80-bit long double and trims; for the values clients
/// see, such as `10.5 + 0.1 = 10.6`, both give the same text).
pub(crate) fn format_float(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    format!("{v}")
}

/// Integer argument, with Redis's error.
pub(super) fn int_arg(b: &[u8]) -> Result<i64, CommandError> {
    parse_i64(b).ok_or(CommandError::NotInteger)
}

/// Case-insensitive comparison with an ASCII option name.
pub(super) fn is(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}
