//! Numbers as text: the strict integer syntax of RESP lengths, and integer and double
//! formatting for the encoder.
//!
//! Parsing follows Redis's `string2ll` rules so that we accept and refuse exactly the lengths
//! Redis does. Formatting writes into stack buffers: a reply header must not cost an allocation.

use std::fmt::{self, Write};

use bytes::BytesMut;

/// Longest text `string2ll` accepts, plus one: `-9223372036854775808` is 20 bytes.
const I64_TEXT_MAX: usize = 21;

/// Parses a strict decimal integer as Redis's `string2ll` does: an optional `-`, then `0` alone
/// or a digit string without leading zeros, nothing else (no `+`, no spaces, no `-0`), and in
/// range of `i64`. `None` means "not a number".
pub(crate) fn parse_i64(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() >= I64_TEXT_MAX {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Appends `value` in decimal. Used for every length header, so it avoids `fmt`.
pub(crate) fn put_u64(out: &mut BytesMut, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        start -= 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Appends `value` in decimal, with a leading `-` when negative.
pub(crate) fn put_i64(out: &mut BytesMut, value: i64) {
    if value < 0 {
        out.extend_from_slice(b"-");
    }
    put_u64(out, value.unsigned_abs());
}

/// A short ASCII text built on the stack. Writing past its capacity is an error, never a panic.
pub(crate) struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        StackText {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The text written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    fn push(&mut self, text: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text);
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes())
    }
}

/// Room for any double as Redis prints it; the longest is 25 bytes (`-0.0000012345678901234567`).
const DOUBLE_TEXT_MAX: usize = 32;

/// Formats a double the way Redis 7.2+ does in replies (`d2string`): `nan`, `inf`, `-inf`,
/// `0` and `-0`; integral values up to 2^62 in magnitude as plain integers; everything else as
/// the shortest digits that read back to the same double, laid out like Redis's `fpconv_dtoa`
/// (plain up to a few zeros, else `1.5e-7` / `1e+21`).
///
/// Redis computes the digits with Grisu2, which in rare cases emits a longer (still exact)
/// digit string than the shortest; Rust's formatter always finds the shortest, so our text can
/// be shorter in those cases. Both read back to the same double.
pub(crate) fn format_double(value: f64) -> StackText<DOUBLE_TEXT_MAX> {
    let mut text = StackText::new();
    let written = write_double(&mut text, value);
    assert!(written.is_ok(), "every f64 fits in {DOUBLE_TEXT_MAX} bytes");
    text
}

/// Largest magnitude Redis prints through its integer path: `(double)(LLONG_MAX / 2)`.
const INTEGRAL_MAX: f64 = 4_611_686_018_427_387_904.0;

fn write_double<const N: usize>(out: &mut StackText<N>, value: f64) -> fmt::Result {
    if value.is_nan() {
        return out.push(b"nan");
    }
    if value.is_infinite() {
        return out.push(if value < 0.0 { b"-inf" } else { b"inf" });
    }
    if value == 0.0 {
        return out.push(if value.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        });
    }
    if value.abs() <= INTEGRAL_MAX && value.trunc() == value {
        return write!(out, "{}", value as i64);
    }
    // Shortest round-trip digits and the exponent of the first one: "1.2345e-7".
    let mut scientific = StackText::<DOUBLE_TEXT_MAX>::new();
    write!(scientific, "{:e}", value.abs())?;
    let (mantissa, exponent) = split_scientific(scientific.as_bytes()).ok_or(fmt::Error)?;
    if value < 0.0 {
        out.push(b"-")?;
    }
    layout_digits(out, mantissa, exponent)
}

/// Splits Rust's `{:e}` output into its digits (without the dot) and its exponent.
fn split_scientific(text: &[u8]) -> Option<(StackText<DOUBLE_TEXT_MAX>, i32)> {
    let e = text.iter().position(|&b| b == b'e')?;
    let exponent = std::str::from_utf8(text.get(e + 1..)?).ok()?.parse().ok()?;
    let mut digits = StackText::new();
    for &byte in text.get(..e)? {
        if byte != b'.' {
            digits.push(&[byte]).ok()?;
        }
    }
    Some((digits, exponent))
}

/// Lays out `digits` × 10^(`exponent` − digits + 1) by `fpconv_dtoa`'s rules: `K` is the power
/// of ten of the last digit; plain integers while fewer than 7 zeros would be padded, plain
/// decimals while the value is not too small, scientific notation otherwise.
fn layout_digits<const N: usize>(
    out: &mut StackText<N>,
    digits: StackText<DOUBLE_TEXT_MAX>,
    exponent: i32,
) -> fmt::Result {
    let digits = digits.as_bytes();
    let count = i32::try_from(digits.len()).map_err(|_| fmt::Error)?;
    let k = exponent - (count - 1);
    let magnitude = exponent.abs();
    if k >= 0 && magnitude < count + 7 {
        out.push(digits)?;
        for _ in 0..k {
            out.push(b"0")?;
        }
        return Ok(());
    }
    if k < 0 && (k > -7 || magnitude < 4) {
        let point = count + k;
        if point <= 0 {
            out.push(b"0.")?;
            for _ in 0..-point {
                out.push(b"0")?;
            }
            return out.push(digits);
        }
        let (whole, fraction) = digits.split_at(usize::try_from(point).map_err(|_| fmt::Error)?);
        out.push(whole)?;
        out.push(b".")?;
        return out.push(fraction);
    }
    let (first, rest) = digits.split_first().ok_or(fmt::Error)?;
    out.push(&[*first])?;
    if !rest.is_empty() {
        out.push(b".")?;
        out.push(rest)?;
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    write!(out, "e{sign}{magnitude}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers_follow_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn integers_format_in_decimal() {
        for value in [0, 1, -1, 9, 10, -10, 1234567890, i64::MAX, i64::MIN] {
            let mut out = BytesMut::new();
            put_i64(&mut out, value);
            assert_eq!(&out[..], value.to_string().as_bytes());
        }
    }

    #[test]
    fn doubles_format_like_redis() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-2.0, "-2"),
            (2.75, "2.75"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1234567.5, "1234567.5"),
            (0.001, "0.001"),
            (0.000123, "0.000123"),
            (0.0001234, "1.234e-4"),
            (1.5e-7, "1.5e-7"),
            (4_611_686_018_427_387_904.0, "4611686018427387904"),
            (5e18, "5e+18"),
            (1.5e20, "1.5e+20"),
            (1.2345678901234568e20, "123456789012345680000"),
            (1e21, "1e+21"),
            (1e300, "1e+300"),
            (-1.2345678901234568e-300, "-1.2345678901234568e-300"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(value, expected) in cases {
            let text = format_double(value);
            assert_eq!(
                std::str::from_utf8(text.as_bytes()),
                Ok(expected),
                "{value:e}"
            );
        }
    }
}
