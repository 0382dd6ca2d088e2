//! Inline commands: one line split into arguments with shell-like quoting.
//!
//! The rules are Redis's `sdssplitargs`, so that whatever works at a `redis-cli`-less telnet
//! prompt against Redis works against us:
//!
//! - arguments are separated by whitespace (C's `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`);
//!   an unquoted argument ends at a space, `\t`, `\n` or `\r`;
//! - `"double quotes"` understand `\n \r \t \b \a`, `\xHH` (two hex digits) and `\` before any
//!   other byte, which stands for that byte;
//! - `'single quotes'` understand only `\'`; every other byte is literal;
//! - a quote may start in the middle of an argument (`a"b c"` is `ab c`), but a closing quote
//!   must be followed by whitespace or the end of the line, and every quote must close;
//! - a NUL byte ends the line, as it ends the C string `sdssplitargs` reads.
//!
//! Inline commands are for humans, so arguments are copied out of the line: the escapes mean a
//! quoted argument is not a slice of the input anyway.

use bytes::Bytes;

use crate::ProtocolError;

/// Splits one inline line (without its terminator) into arguments with Redis's quoting rules
/// (this module's doc lists them). A blank line gives an empty vector; an unclosed quote is
/// [`ProtocolError::UnbalancedQuotes`].
pub fn split_args(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => line.get(..nul).unwrap_or_default(),
        None => line,
    };
    let mut args = Vec::new();
    let mut rest = line;
    loop {
        let start = rest.iter().position(|&b| !is_c_space(b));
        let Some(token) = start.and_then(|start| rest.get(start..)) else {
            return Ok(args);
        };
        let (arg, after) = next_arg(token)?;
        args.push(Bytes::from(arg));
        rest = after;
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Where the argument being read stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Reads one argument from the start of `text` (which begins with a non-space byte). Returns it
/// and the input after it.
fn next_arg(text: &[u8]) -> Result<(Vec<u8>, &[u8]), ProtocolError> {
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    let mut i = 0;
    loop {
        let byte = text.get(i).copied();
        let next = text.get(i + 1).copied();
        match (quote, byte) {
            (Quote::None, None) => return Ok((arg, &[])),
            (Quote::None, Some(b' ' | b'\n' | b'\r' | b'\t')) => {
                return Ok((arg, text.get(i..).unwrap_or_default()));
            }
            (Quote::None, Some(b'"')) => quote = Quote::Double,
            (Quote::None, Some(b'\'')) => quote = Quote::Single,
            (_, None) => return Err(ProtocolError::UnbalancedQuotes),
            (Quote::Double, Some(b'\\')) if next == Some(b'x') => {
                match hex_byte(text.get(i + 2).copied(), text.get(i + 3).copied()) {
                    Some(decoded) => {
                        arg.push(decoded);
                        i += 3;
                    }
                    None => {
                        arg.push(b'x');
                        i += 1;
                    }
                }
            }
            (Quote::Double, Some(b'\\')) if next.is_some() => {
                arg.push(match next {
                    Some(b'n') => b'\n',
                    Some(b'r') => b'\r',
                    Some(b't') => b'\t',
                    Some(b'b') => 0x08,
                    Some(b'a') => 0x07,
                    other => other.unwrap_or(b'\\'),
                });
                i += 1;
            }
            (Quote::Single, Some(b'\\')) if next == Some(b'\'') => {
                arg.push(b'\'');
                i += 1;
            }
            (Quote::Double, Some(b'"')) | (Quote::Single, Some(b'\'')) => {
                if next.is_some_and(|b| !is_c_space(b)) {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                return Ok((arg, text.get(i + 1..).unwrap_or_default()));
            }
            (_, Some(other)) => arg.push(other),
        }
        i += 1;
    }
}

/// The byte written as two hex digits, if both are hex digits.
fn hex_byte(high: Option<u8>, low: Option<u8>) -> Option<u8> {
    let high = char::from(high?).to_digit(16)?;
    let low = char::from(low?).to_digit(16)?;
    u8::try_from(high * 16 + low).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        split_args(line).map(|args| args.iter().map(|a| a.to_vec()).collect())
    }

    fn ok(words: &[&[u8]]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        Ok(words.iter().map(|w| w.to_vec()).collect())
    }

    #[test]
    fn words_split_on_whitespace() {
        assert_eq!(split(b"SET  key\tvalue "), ok(&[b"SET", b"key", b"value"]));
        assert_eq!(split(b"\x0b\x0cGET k"), ok(&[b"GET", b"k"]));
        assert_eq!(split(b""), ok(&[]));
        assert_eq!(split(b" \t "), ok(&[]));
    }

    #[test]
    fn vertical_tab_and_form_feed_do_not_end_an_unquoted_word() {
        assert_eq!(split(b"a\x0bb c"), ok(&[b"a\x0bb", b"c"]));
    }

    #[test]
    fn double_quotes_with_escapes() {
        assert_eq!(split(b"SET k \"b c\""), ok(&[b"SET", b"k", b"b c"]));
        assert_eq!(
            split(b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\""),
            ok(&[b"\n\r\t\x08\x07\\\"q"])
        );
        assert_eq!(split(b"\"\\x41\\xfF\\x00\""), ok(&[b"A\xff\x00"]));
        assert_eq!(split(b"\"\\x4\" \"\\xg1\""), ok(&[b"x4", b"xg1"]));
        assert_eq!(split(b"\"\""), ok(&[b""]));
    }

    #[test]
    fn single_quotes_are_literal_except_for_escaped_quote() {
        assert_eq!(split(b"'it\\'s' '\\n'"), ok(&[b"it's", b"\\n"]));
        assert_eq!(split(b"'a \"b\"'"), ok(&[b"a \"b\""]));
    }

    #[test]
    fn quotes_may_open_mid_word() {
        assert_eq!(split(b"a\"b c\"d"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(split(b"a\"b c\" d"), ok(&[b"ab c", b"d"]));
        assert_eq!(split(b"a'b c'"), ok(&[b"ab c"]));
    }

    #[test]
    fn unbalanced_quotes() {
        for line in [
            &b"\"abc"[..],
            b"'abc",
            b"\"abc\\\"",
            b"\"a\"b",
            b"'a'b",
            b"\"abc\\",
        ] {
            assert_eq!(
                split(line),
                Err(ProtocolError::UnbalancedQuotes),
                "{line:?}"
            );
        }
    }

    #[test]
    fn closing_quote_may_be_followed_by_any_c_space() {
        assert_eq!(split(b"\"a\"\x0bb"), ok(&[b"a", b"b"]));
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split(b"GET a\0b c"), ok(&[b"GET", b"a"]));
        assert_eq!(split(b"GET \"a\0b\""), Err(ProtocolError::UnbalancedQuotes));
    }
}
