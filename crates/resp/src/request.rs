//! Server side: the bytes a client sends become argument vectors.
//!
//! A connection reads into a `BytesMut` and calls [`parse_request`] until it returns `Ok(None)`;
//! each `Ok(Some(args))` is one command, consumed from the front of the buffer. Two syntaxes
//! exist, chosen by the first byte, exactly as in Redis's `processInputBuffer`:
//!
//! - multibulk, starting with `*`: `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what every client library
//!   sends;
//! - inline, anything else: one line split on spaces with shell-like quoting (see
//!   the `inline` module), what a human types into `telnet`.
//!
//! Parsing happens in two passes. The first walks the headers without allocating or consuming
//! anything and stops at the first missing byte, so incomplete input costs no allocation and
//! leaves the buffer untouched. Only a complete request is consumed, and each bulk payload is
//! split out of the buffer without copying. Each call touches only the request at the front of
//! the buffer, so a buffer of N pipelined requests parses in O(N) overall. One cost is admitted:
//! a request that arrives in many small reads is re-walked from its start on each call; the walk
//! skips payloads by their length, so it costs O(arguments buffered), not O(bytes).
//!
//! Matching Redis (`processMultibulkBuffer`): lengths use `string2ll`'s strict syntax; the byte
//! after each header's CR and the two bytes after each payload are skipped without checking that
//! they are `\n` / `\r\n`; `*0` and any negative count are an empty request. Two deliberate
//! differences: arrays over [`Limits::max_multibulk_len`] are refused, and a header or inline line
//! whose terminator lies beyond [`Limits::max_inline_len`] is "too big" even if the terminator
//! has already arrived (Redis's answer there depends on how the bytes were split across reads).

use bytes::{Buf, Bytes, BytesMut};

use crate::inline::split_args;
use crate::line::{find_line_end, LineEnd};
use crate::number::parse_i64;
use crate::{Limits, ProtocolError};

/// Redis refuses multibulk counts above `INT_MAX` whatever its configuration.
const MULTIBULK_COUNT_MAX: i64 = i32::MAX as i64;

/// Takes one request off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a request (`buf` is left untouched: read more
/// and call again), `Ok(Some(args))` after consuming exactly one request, or `Err` when the
/// input breaks the protocol: reply `-ERR <error>` and close the connection, as Redis does (the
/// contents of `buf` are then unspecified). `args` may be empty (`*0\r\n`, a blank inline line);
/// the caller ignores such requests. Bulk arguments share the buffer's memory.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf, limits),
        Some(_) => parse_inline(buf, limits),
    }
}

/// A header line `<marker><number>\r\n` starting at some index of the buffer.
struct Header {
    /// The number between the marker and the CR, if it parses strictly.
    value: Option<i64>,
    /// Index just past the line: past the CR and the byte Redis assumes is LF.
    next: usize,
}

/// Reads the header line at `start`, which the caller knows is non-empty there.
fn header_at(
    buf: &[u8],
    start: usize,
    limits: &Limits,
    too_big: ProtocolError,
) -> Result<Option<Header>, ProtocolError> {
    let cr = match find_line_end(buf, start, limits.max_inline_len, |b| b == b'\r') {
        LineEnd::At(cr) => cr,
        LineEnd::Pending => return Ok(None),
        LineEnd::TooLong => return Err(too_big),
    };
    let next = cr + 2;
    if next > buf.len() {
        return Ok(None);
    }
    let digits = buf.get(start + 1..cr).unwrap_or_default();
    Ok(Some(Header {
        value: parse_i64(digits),
        next,
    }))
}

/// Where one bulk argument lies: its payload, and the index past its trailing CRLF.
struct BulkArg {
    payload_start: usize,
    payload_len: usize,
    end: usize,
}

/// Reads the bulk argument at `start` when it is entirely in `buf`.
fn bulk_at(buf: &[u8], start: usize, limits: &Limits) -> Result<Option<BulkArg>, ProtocolError> {
    let Some(header) = header_at(buf, start, limits, ProtocolError::TooBigBulkCountString)? else {
        return Ok(None);
    };
    match buf.get(start) {
        Some(b'$') => {}
        Some(&other) => return Err(ProtocolError::ExpectedDollar(other)),
        None => return Ok(None),
    }
    let payload_len = header
        .value
        .and_then(|len| usize::try_from(len).ok())
        .filter(|&len| len <= limits.max_bulk_len)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    let end = header
        .next
        .checked_add(payload_len)
        .and_then(|end| end.checked_add(2))
        .ok_or(ProtocolError::InvalidBulkLength)?;
    if end > buf.len() {
        return Ok(None);
    }
    Ok(Some(BulkArg {
        payload_start: header.next,
        payload_len,
        end,
    }))
}

/// Arguments whose places pass 1 of [`parse_multibulk`] keeps, so pass 2 need not read their
/// headers again; a request with more is read twice (rare, and then large anyway).
const NOTED_ARGS: usize = 8;

fn parse_multibulk(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(header) = header_at(buf, 0, limits, ProtocolError::TooBigMultibulkCountString)? else {
        return Ok(None);
    };
    let count = header
        .value
        .filter(|&count| count <= MULTIBULK_COUNT_MAX)
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    if count <= 0 {
        buf.advance(header.next);
        return Ok(Some(Vec::new()));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|&count| count <= limits.max_multibulk_len)
        .ok_or(ProtocolError::InvalidMultibulkLength)?;

    // Pass 1: is the whole request here? No allocation, nothing consumed; where the first
    // arguments' payloads lie is noted on the stack.
    let mut noted = [(0usize, 0usize); NOTED_ARGS];
    let mut pos = header.next;
    for i in 0..count {
        match bulk_at(buf, pos, limits)? {
            Some(arg) => {
                if let Some(slot) = noted.get_mut(i) {
                    *slot = (arg.payload_start, arg.payload_len);
                }
                pos = arg.end;
            }
            None => return Ok(None),
        }
    }

    // Pass 2: it is; the request leaves the buffer in one piece, and each argument is a
    // slice of it.
    let request = buf.split_to(pos).freeze();
    let mut args = Vec::with_capacity(count);
    if let Some(noted) = noted.get(..count) {
        for &(start, len) in noted {
            args.push(request.slice(start..start + len));
        }
        return Ok(Some(args));
    }
    let mut pos = header.next;
    for _ in 0..count {
        let Some(arg) = bulk_at(&request, pos, limits)? else {
            debug_assert!(false, "pass 1 saw a complete request; pass 2 must too");
            return Err(ProtocolError::InvalidBulkLength);
        };
        args.push(request.slice(arg.payload_start..arg.payload_start + arg.payload_len));
        pos = arg.end;
    }
    Ok(Some(args))
}

fn parse_inline(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let newline = match find_line_end(buf, 0, limits.max_inline_len, |b| b == b'\n') {
        LineEnd::At(newline) => newline,
        LineEnd::Pending => return Ok(None),
        LineEnd::TooLong => return Err(ProtocolError::TooBigInlineRequest),
    };
    let line = buf.get(..newline).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_args(line)?;
    buf.advance(newline + 1);
    Ok(Some(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    /// Parses every request in `input`, which must end on a request boundary.
    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut requests = Vec::new();
        while let Some(args) = parse_request(&mut buf, &limits())? {
            requests.push(args);
        }
        assert!(buf.is_empty(), "left over: {:?}", buf);
        Ok(requests)
    }

    fn args(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    fn error_text(input: &[u8], limits: &Limits) -> String {
        let mut buf = BytesMut::from(input);
        match parse_request(&mut buf, limits) {
            Err(error) => error.to_string(),
            other => panic!("expected an error for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn multibulk_request() {
        let requests = parse_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
        assert_eq!(requests, Ok(vec![args(&[b"SET", b"k", b"hello"])]));
    }

    #[test]
    fn bulk_arguments_are_binary_safe() {
        let requests = parse_all(b"*2\r\n$3\r\nGET\r\n$4\r\n\r\n\0\xff\r\n");
        assert_eq!(requests, Ok(vec![args(&[b"GET", b"\r\n\0\xff"])]));
    }

    #[test]
    fn empty_bulk_argument() {
        let requests = parse_all(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
        assert_eq!(requests, Ok(vec![args(&[b"ECHO", b""])]));
    }

    #[test]
    fn zero_and_negative_counts_are_empty_requests() {
        let requests = parse_all(b"*0\r\n*-1\r\n*-5\r\n");
        assert_eq!(requests, Ok(vec![vec![], vec![], vec![]]));
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let requests = parse_all(b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n");
        assert_eq!(
            requests,
            Ok(vec![
                args(&[b"PING"]),
                args(&[b"PING"]),
                args(&[b"ECHO", b"hi"])
            ])
        );
    }

    #[test]
    fn thousands_of_pipelined_requests_in_one_buffer() {
        let mut input = Vec::new();
        for i in 0..20_000 {
            let key = i.to_string();
            input.extend_from_slice(
                format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes(),
            );
        }
        let requests = parse_all(&input).expect("valid pipeline");
        assert_eq!(requests.len(), 20_000);
        assert_eq!(requests[19_999], args(&[b"GET", b"19999"]));
    }

    #[test]
    fn bulk_payloads_are_not_copied() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let args = parse_request(&mut buf, &limits())
            .expect("valid")
            .expect("complete");
        assert_eq!(args[1].as_ptr() as usize, base + 17);
    }

    #[test]
    fn incomplete_requests_leave_the_buffer_untouched() {
        let input = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        for end in 0..input.len() {
            let mut buf = BytesMut::from(&input[..end]);
            assert_eq!(parse_request(&mut buf, &limits()), Ok(None), "prefix {end}");
            assert_eq!(&buf[..], &input[..end]);
        }
        parse_inline_prefixes(b"SET a \"b c\"\r\n");
    }

    fn parse_inline_prefixes(input: &[u8]) {
        for end in 0..input.len() {
            let mut buf = BytesMut::from(&input[..end]);
            assert_eq!(parse_request(&mut buf, &limits()), Ok(None), "prefix {end}");
            assert_eq!(&buf[..], &input[..end]);
        }
    }

    #[test]
    fn any_split_of_a_stream_parses_like_the_whole() {
        let stream: &[u8] =
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*0\r\nset a \"b c\"\n\r\n*1\r\n$2\r\n\r\n\r\n";
        let whole = parse_all(stream).expect("valid stream");
        assert_eq!(whole.len(), 6);
        for split in 0..=stream.len() {
            let mut buf = BytesMut::from(&stream[..split]);
            let mut requests = Vec::new();
            while let Some(args) = parse_request(&mut buf, &limits()).expect("valid") {
                requests.push(args);
            }
            buf.extend_from_slice(&stream[split..]);
            while let Some(args) = parse_request(&mut buf, &limits()).expect("valid") {
                requests.push(args);
            }
            assert_eq!(requests, whole, "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn byte_by_byte_arrival_parses_like_the_whole() {
        let stream: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\nECHO 'x y'\r\n";
        let whole = parse_all(stream).expect("valid stream");
        let mut buf = BytesMut::new();
        let mut requests = Vec::new();
        for &byte in stream {
            buf.extend_from_slice(&[byte]);
            while let Some(args) = parse_request(&mut buf, &limits()).expect("valid") {
                requests.push(args);
            }
        }
        assert_eq!(requests, whole);
    }

    #[test]
    fn terminators_are_skipped_unchecked_like_redis() {
        let requests = parse_all(b"*1x$4y\r\nPINGzz");
        assert_eq!(requests, Err(ProtocolError::InvalidMultibulkLength));
        let requests = parse_all(b"*1\rx$4\ryPINGzz");
        assert_eq!(requests, Ok(vec![args(&[b"PING"])]));
    }

    #[test]
    fn invalid_multibulk_length() {
        for input in [
            &b"*x\r\n"[..],
            b"*\r\n",
            b"*01\r\n",
            b"*+1\r\n",
            b"* 1\r\n",
            b"*-0\r\n",
            b"*2147483648\r\n",
            b"*99999999999999999999999\r\n",
        ] {
            assert_eq!(
                error_text(input, &limits()),
                "Protocol error: invalid multibulk length",
                "{input:?}"
            );
        }
        let tight = Limits {
            max_multibulk_len: 2,
            ..Limits::default()
        };
        assert_eq!(
            error_text(b"*3\r\n", &tight),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_request(&mut BytesMut::from(&b"*2\r\n"[..]), &tight),
            Ok(None)
        );
    }

    #[test]
    fn redis_caps_counts_at_int_max_whatever_the_limit() {
        let loose = Limits {
            max_multibulk_len: usize::MAX,
            ..Limits::default()
        };
        assert_eq!(
            error_text(b"*2147483648\r\n", &loose),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_request(&mut BytesMut::from(&b"*2147483647\r\n"[..]), &loose),
            Ok(None)
        );
    }

    #[test]
    fn invalid_bulk_length() {
        for input in [
            &b"*1\r\n$x\r\n"[..],
            b"*1\r\n$-1\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$01\r\n",
            b"*1\r\n$536870913\r\n",
        ] {
            assert_eq!(
                error_text(input, &limits()),
                "Protocol error: invalid bulk length",
                "{input:?}"
            );
        }
        let exactly_max = b"*1\r\n$536870912\r\n";
        assert_eq!(
            parse_request(&mut BytesMut::from(&exactly_max[..]), &limits()),
            Ok(None)
        );
    }

    #[test]
    fn expected_dollar() {
        assert_eq!(
            error_text(b"*1\r\n+OK\r\n", &limits()),
            "Protocol error: expected '$', got '+'"
        );
        assert_eq!(
            error_text(b"*2\r\n$1\r\na\r\n:1\r\n", &limits()),
            "Protocol error: expected '$', got ':'"
        );
        // The '$' check waits for the whole header line, as in Redis.
        assert_eq!(
            parse_request(&mut BytesMut::from(&b"*1\r\nX"[..]), &limits()),
            Ok(None)
        );
    }

    #[test]
    fn too_big_header_lines() {
        let tight = Limits {
            max_inline_len: 8,
            ..Limits::default()
        };
        assert_eq!(
            parse_request(&mut BytesMut::from(&b"*1234567"[..]), &tight),
            Ok(None)
        );
        assert_eq!(
            error_text(b"*12345678", &tight),
            "Protocol error: too big mbulk count string"
        );
        assert_eq!(
            parse_request(&mut BytesMut::from(&b"*1\r\n$1234567"[..]), &tight),
            Ok(None)
        );
        assert_eq!(
            error_text(b"*1\r\n$12345678", &tight),
            "Protocol error: too big bulk count string"
        );
    }

    #[test]
    fn too_big_inline_request() {
        let tight = Limits {
            max_inline_len: 8,
            ..Limits::default()
        };
        assert_eq!(
            parse_request(&mut BytesMut::from(&b"GET abcd"[..]), &tight),
            Ok(None)
        );
        assert_eq!(
            error_text(b"GET abcde", &tight),
            "Protocol error: too big inline request"
        );
        assert_eq!(
            error_text(b"GET abcdefgh\r\n", &tight),
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn unbalanced_quotes() {
        for input in [&b"SET a \"b\r\n"[..], b"SET a 'b\n", b"SET \"a\"b c\r\n"] {
            assert_eq!(
                error_text(input, &limits()),
                "Protocol error: unbalanced quotes in request",
                "{input:?}"
            );
        }
    }

    #[test]
    fn inline_commands() {
        let requests = parse_all(b"PING\r\nset a \"b c\"\r\nGET\t'it\\'s'\n");
        assert_eq!(
            requests,
            Ok(vec![
                args(&[b"PING"]),
                args(&[b"set", b"a", b"b c"]),
                args(&[b"GET", b"it's"]),
            ])
        );
    }

    #[test]
    fn blank_inline_lines_are_empty_requests() {
        assert_eq!(
            parse_all(b"\r\n\n   \r\n"),
            Ok(vec![vec![], vec![], vec![]])
        );
    }
}
