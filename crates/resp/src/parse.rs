//! Client side: bytes from a peer become [`Frame`]s, for every RESP2 and RESP3 type.
//!
//! TinkerDB reads replies when it forwards a command to another node, and tests read every reply
//! they check. [`parse_frame`] has the same contract as
//! [`parse_request`](crate::parse_request): `Ok(None)` leaves the buffer untouched,
//! `Ok(Some(frame))` consumes exactly one frame, `Err` means the peer is out of sync.
//!
//! It works in two passes too. [`check`] walks the frame's structure (type bytes, line ends,
//! lengths, counts, nesting) without allocating, and tells "complete, ends at byte N" from "need
//! more bytes". Only then are those N bytes split off and frozen, and [`Reader`] builds the
//! frame from them, validating contents (numbers, UTF-8, booleans) and slicing bulk payloads
//! without copying.
//!
//! Limits: aggregates nest at most [`MAX_DEPTH`] levels, so hostile input cannot exhaust the
//! stack; counts, lengths and lines obey [`Limits`]. Attributes (`|`) are parsed and dropped.
//! Blob errors (`!`) become [`Frame::Error`]. RESP3 streamed strings and aggregates (`$?`, `*?`)
//! are refused: Redis never sends them. Unlike the request parser, the reply parser insists on
//! real CRLF terminators.

use bytes::{Bytes, BytesMut};

use crate::line::{find_line_end, LineEnd};
use crate::number::parse_i64;
use crate::{Frame, Limits, ProtocolError};

/// How deeply aggregates may nest in a reply. Redis's own deepest replies nest a handful of
/// levels; 64 leaves room and bounds the parsers' recursion.
pub const MAX_DEPTH: usize = 64;

/// Takes one frame off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a frame (`buf` is left untouched),
/// `Ok(Some(frame))` after consuming exactly one frame (plus any attributes before it), or
/// `Err` when the bytes are not RESP; the connection is then unusable and `buf`'s contents are
/// unspecified. RESP2's `$-1` becomes [`Frame::Null`] and `*-1` [`Frame::NullArray`].
pub fn parse_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    let Some(end) = check(buf, 0, limits, 0)? else {
        return Ok(None);
    };
    let bytes = buf.split_to(end).freeze();
    let mut reader = Reader {
        bytes: &bytes,
        pos: 0,
        limits,
    };
    let frame = reader.frame(0)?;
    debug_assert_eq!(
        reader.pos, end,
        "check and build disagree on the frame's end"
    );
    Ok(Some(frame))
}

/// What a type byte announces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A single line: `+ - : , # ( _`.
    Line,
    /// A length-prefixed payload: `$ ! =`.
    Blob,
    /// N frames follow: `* ~ >`.
    Aggregate,
    /// 2N frames follow: `%`, and `|` (an attribute, followed by the frame it annotates).
    Pairs,
}

fn kind(type_byte: u8) -> Result<Kind, ProtocolError> {
    match type_byte {
        b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_' => Ok(Kind::Line),
        b'$' | b'!' | b'=' => Ok(Kind::Blob),
        b'*' | b'~' | b'>' => Ok(Kind::Aggregate),
        b'%' | b'|' => Ok(Kind::Pairs),
        other => Err(ProtocolError::UnknownType(other)),
    }
}

/// A line: its content is `buf[start..cr]`, the next frame starts at `next`.
struct Line {
    start: usize,
    cr: usize,
    next: usize,
}

/// Reads the line starting at `start`, which must end in CRLF (a bare CR or LF is an error).
fn line_at(buf: &[u8], start: usize, limits: &Limits) -> Result<Option<Line>, ProtocolError> {
    let cr = match find_line_end(buf, start, limits.max_inline_len, |b| {
        b == b'\r' || b == b'\n'
    }) {
        LineEnd::At(cr) => cr,
        LineEnd::Pending => return Ok(None),
        LineEnd::TooLong => return Err(ProtocolError::TooBigLine),
    };
    match (buf.get(cr), buf.get(cr + 1)) {
        (Some(b'\r'), Some(b'\n')) => Ok(Some(Line {
            start,
            cr,
            next: cr + 2,
        })),
        (Some(b'\r'), None) => Ok(None),
        _ => Err(ProtocolError::Malformed("line ending")),
    }
}

/// The payload length of a blob header; `None` is RESP2's null bulk string (`$-1`).
fn blob_len(type_byte: u8, text: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
    match parse_i64(text) {
        Some(-1) if type_byte == b'$' => Ok(None),
        Some(len) => usize::try_from(len)
            .ok()
            .filter(|&len| len <= limits.max_bulk_len)
            .map(Some)
            .ok_or(ProtocolError::InvalidBulkLength),
        None => Err(ProtocolError::InvalidBulkLength),
    }
}

/// The element count of an aggregate header; `None` is RESP2's null array (`*-1`).
fn aggregate_len(
    type_byte: u8,
    text: &[u8],
    limits: &Limits,
) -> Result<Option<usize>, ProtocolError> {
    match parse_i64(text) {
        Some(-1) if type_byte == b'*' => Ok(None),
        Some(count) => usize::try_from(count)
            .ok()
            .filter(|&count| count <= limits.max_multibulk_len)
            .map(Some)
            .ok_or(ProtocolError::InvalidMultibulkLength),
        None => Err(ProtocolError::InvalidMultibulkLength),
    }
}

/// How many frames an aggregate of `count` elements holds.
fn frame_count(kind: Kind, count: usize) -> usize {
    match kind {
        Kind::Pairs => count.saturating_mul(2),
        _ => count,
    }
}

/// Pass 1: if a whole frame starts at `pos`, returns the index just past it. Allocates nothing.
/// Attributes before the frame are walked over in a loop, not by recursion.
fn check(
    buf: &[u8],
    mut pos: usize,
    limits: &Limits,
    depth: usize,
) -> Result<Option<usize>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooDeep);
    }
    loop {
        let Some(&type_byte) = buf.get(pos) else {
            return Ok(None);
        };
        let kind = kind(type_byte)?;
        let Some(line) = line_at(buf, pos + 1, limits)? else {
            return Ok(None);
        };
        let text = buf.get(line.start..line.cr).unwrap_or_default();
        match kind {
            Kind::Line => return Ok(Some(line.next)),
            Kind::Blob => {
                let Some(len) = blob_len(type_byte, text, limits)? else {
                    return Ok(Some(line.next));
                };
                let payload_end = line.next.saturating_add(len);
                return match buf.get(payload_end..payload_end.saturating_add(2)) {
                    Some(b"\r\n") => Ok(Some(payload_end + 2)),
                    Some(_) => Err(ProtocolError::Malformed("bulk string terminator")),
                    None => Ok(None),
                };
            }
            Kind::Aggregate | Kind::Pairs => {
                let Some(count) = aggregate_len(type_byte, text, limits)? else {
                    return Ok(Some(line.next));
                };
                pos = line.next;
                for _ in 0..frame_count(kind, count) {
                    match check(buf, pos, limits, depth + 1)? {
                        Some(end) => pos = end,
                        None => return Ok(None),
                    }
                }
                if type_byte != b'|' {
                    return Ok(Some(pos));
                }
            }
        }
    }
}

/// Pass 2: builds the frame from bytes that [`check`] found complete.
struct Reader<'a> {
    bytes: &'a Bytes,
    pos: usize,
    limits: &'a Limits,
}

impl Reader<'_> {
    /// Reads one frame, dropping attributes before it.
    fn frame(&mut self, depth: usize) -> Result<Frame, ProtocolError> {
        if depth > MAX_DEPTH {
            return Err(ProtocolError::TooDeep);
        }
        loop {
            let type_byte = self.bytes.get(self.pos).copied().ok_or_else(truncated)?;
            let kind = kind(type_byte)?;
            let line = line_at(self.bytes, self.pos + 1, self.limits)?.ok_or_else(truncated)?;
            let text = self.bytes.get(line.start..line.cr).unwrap_or_default();
            self.pos = line.next;
            match kind {
                Kind::Line => return line_frame(type_byte, text),
                Kind::Blob => return self.blob(type_byte, text),
                Kind::Aggregate | Kind::Pairs => {
                    let Some(count) = aggregate_len(type_byte, text, self.limits)? else {
                        return Ok(Frame::NullArray);
                    };
                    match type_byte {
                        b'*' => return Ok(Frame::Array(self.frames(count, depth)?)),
                        b'~' => return Ok(Frame::Set(self.frames(count, depth)?)),
                        b'>' => return Ok(Frame::Push(self.frames(count, depth)?)),
                        b'%' => return Ok(Frame::Map(self.pairs(count, depth)?)),
                        _ => {
                            self.pairs(count, depth)?;
                        }
                    }
                }
            }
        }
    }

    fn frames(&mut self, count: usize, depth: usize) -> Result<Vec<Frame>, ProtocolError> {
        let mut frames = Vec::with_capacity(count);
        for _ in 0..count {
            frames.push(self.frame(depth + 1)?);
        }
        Ok(frames)
    }

    fn pairs(&mut self, count: usize, depth: usize) -> Result<Vec<(Frame, Frame)>, ProtocolError> {
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.frame(depth + 1)?;
            let value = self.frame(depth + 1)?;
            pairs.push((key, value));
        }
        Ok(pairs)
    }

    fn blob(&mut self, type_byte: u8, text: &[u8]) -> Result<Frame, ProtocolError> {
        let Some(len) = blob_len(type_byte, text, self.limits)? else {
            return Ok(Frame::Null);
        };
        let start = self.pos;
        let end = start.saturating_add(len);
        if end.saturating_add(2) > self.bytes.len() {
            return Err(truncated());
        }
        let payload = self.bytes.slice(start..end);
        self.pos = end + 2;
        match type_byte {
            b'!' => Ok(Frame::Error(utf8(&payload, "blob error: not UTF-8")?)),
            b'=' => verbatim(payload),
            _ => Ok(Frame::Bulk(payload)),
        }
    }
}

/// The error for bytes that pass 1 saw complete but pass 2 did not: a bug, never input.
fn truncated() -> ProtocolError {
    debug_assert!(
        false,
        "check passed a frame that the reader found truncated"
    );
    ProtocolError::Malformed("frame: truncated")
}

fn line_frame(type_byte: u8, text: &[u8]) -> Result<Frame, ProtocolError> {
    match type_byte {
        b'+' => Ok(Frame::Simple(utf8(text, "simple string: not UTF-8")?)),
        b'-' => Ok(Frame::Error(utf8(text, "error: not UTF-8")?)),
        b':' => std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Frame::Integer)
            .ok_or(ProtocolError::Malformed("integer")),
        b',' => std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Frame::Double)
            .ok_or(ProtocolError::Malformed("double")),
        b'#' => match text {
            b"t" => Ok(Frame::Boolean(true)),
            b"f" => Ok(Frame::Boolean(false)),
            _ => Err(ProtocolError::Malformed("boolean")),
        },
        b'(' => {
            let digits = text.strip_prefix(b"-").unwrap_or(text);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(ProtocolError::Malformed("big number"));
            }
            Ok(Frame::BigNumber(utf8(text, "big number")?))
        }
        b'_' if text.is_empty() => Ok(Frame::Null),
        b'_' => Err(ProtocolError::Malformed("null")),
        other => Err(ProtocolError::UnknownType(other)),
    }
}

/// `=<len>\r\nfmt:text\r\n`: the first four payload bytes are the format and a colon.
fn verbatim(payload: Bytes) -> Result<Frame, ProtocolError> {
    match payload.get(..4) {
        Some(&[a, b, c, b':']) => Ok(Frame::Verbatim {
            format: [a, b, c],
            text: payload.slice(4..),
        }),
        _ => Err(ProtocolError::Malformed("verbatim string")),
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, ProtocolError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtocolError::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Option<Frame>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let frame = parse_frame(&mut buf, &Limits::default());
        if let Ok(Some(_)) = frame {
            assert!(buf.is_empty(), "left over: {buf:?}");
        }
        frame
    }

    fn bulk(text: &str) -> Frame {
        Frame::bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn resp2_types() {
        assert_eq!(parse(b"+OK\r\n"), Ok(Some(Frame::ok())));
        assert_eq!(parse(b"-ERR no\r\n"), Ok(Some(Frame::error("ERR no"))));
        assert_eq!(parse(b":-42\r\n"), Ok(Some(Frame::Integer(-42))));
        assert_eq!(parse(b"$5\r\nhello\r\n"), Ok(Some(bulk("hello"))));
        assert_eq!(parse(b"$0\r\n\r\n"), Ok(Some(bulk(""))));
        assert_eq!(parse(b"$-1\r\n"), Ok(Some(Frame::Null)));
        assert_eq!(parse(b"*-1\r\n"), Ok(Some(Frame::NullArray)));
        assert_eq!(parse(b"*0\r\n"), Ok(Some(Frame::Array(vec![]))));
        assert_eq!(
            parse(b"*2\r\n:1\r\n*1\r\n$1\r\na\r\n"),
            Ok(Some(Frame::Array(vec![
                Frame::Integer(1),
                Frame::Array(vec![bulk("a")])
            ])))
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(parse(b"_\r\n"), Ok(Some(Frame::Null)));
        assert_eq!(parse(b",3.25\r\n"), Ok(Some(Frame::Double(3.25))));
        assert_eq!(
            parse(b",-inf\r\n"),
            Ok(Some(Frame::Double(f64::NEG_INFINITY)))
        );
        assert!(matches!(parse(b",nan\r\n"), Ok(Some(Frame::Double(d))) if d.is_nan()));
        assert_eq!(parse(b"#t\r\n"), Ok(Some(Frame::Boolean(true))));
        assert_eq!(parse(b"#f\r\n"), Ok(Some(Frame::Boolean(false))));
        assert_eq!(
            parse(b"(-1234567890123456789012\r\n"),
            Ok(Some(Frame::BigNumber("-1234567890123456789012".into())))
        );
        assert_eq!(
            parse(b"=9\r\ntxt:hello\r\n"),
            Ok(Some(Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"hello")
            }))
        );
        assert_eq!(parse(b"!5\r\nERR x\r\n"), Ok(Some(Frame::error("ERR x"))));
        assert_eq!(
            parse(b"%1\r\n+k\r\n:1\r\n"),
            Ok(Some(Frame::Map(vec![(
                Frame::Simple("k".into()),
                Frame::Integer(1)
            )])))
        );
        assert_eq!(
            parse(b"~1\r\n#t\r\n"),
            Ok(Some(Frame::Set(vec![Frame::Boolean(true)])))
        );
        assert_eq!(
            parse(b">2\r\n+message\r\n$2\r\nhi\r\n"),
            Ok(Some(Frame::Push(vec![
                Frame::Simple("message".into()),
                bulk("hi")
            ])))
        );
    }

    #[test]
    fn attributes_are_dropped() {
        assert_eq!(
            parse(b"|1\r\n+ttl\r\n:3\r\n:7\r\n"),
            Ok(Some(Frame::Integer(7)))
        );
        assert_eq!(
            parse(b"*2\r\n|0\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"),
            Ok(Some(Frame::Array(vec![
                Frame::Integer(1),
                Frame::Integer(2)
            ])))
        );
        assert_eq!(parse(b"|1\r\n+a\r\n+b\r\n"), Ok(None));
    }

    #[test]
    fn many_chained_attributes_do_not_recurse() {
        let mut input = b"|0\r\n".repeat(100_000);
        input.extend_from_slice(b"+OK\r\n");
        assert_eq!(parse(&input), Ok(Some(Frame::ok())));
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |depth: usize| {
            let mut input = b"*1\r\n".repeat(depth);
            input.extend_from_slice(b":1\r\n");
            input
        };
        assert!(matches!(parse(&nested(MAX_DEPTH)), Ok(Some(_))));
        assert_eq!(parse(&nested(MAX_DEPTH + 1)), Err(ProtocolError::TooDeep));
        assert_eq!(
            parse(&b"*1\r\n".repeat(100_000)),
            Err(ProtocolError::TooDeep)
        );
        assert_eq!(
            ProtocolError::TooDeep.to_string(),
            "Protocol error: nesting deeper than 64 levels"
        );
    }

    #[test]
    fn incomplete_frames_leave_the_buffer_untouched() {
        let input: &[u8] =
            b"*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n|1\r\n+a\r\n+b\r\n=7\r\ntxt:abc\r\n";
        assert!(matches!(parse(input), Ok(Some(_))));
        for end in 0..input.len() {
            let mut buf = BytesMut::from(&input[..end]);
            assert_eq!(
                parse_frame(&mut buf, &Limits::default()),
                Ok(None),
                "prefix {end}"
            );
            assert_eq!(&buf[..], &input[..end]);
        }
    }

    #[test]
    fn bulk_payloads_are_not_copied() {
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhello\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let frame = parse_frame(&mut buf, &Limits::default());
        let Ok(Some(Frame::Array(items))) = frame else {
            panic!("{frame:?}")
        };
        let Some(Frame::Bulk(payload)) = items.first() else {
            panic!("{items:?}")
        };
        assert_eq!(payload.as_ptr() as usize, base + 8);
    }

    #[test]
    fn errors() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"?\r\n", ProtocolError::UnknownType(b'?')),
            (b"+OK\n", ProtocolError::Malformed("line ending")),
            (b"+O\rK\r\n", ProtocolError::Malformed("line ending")),
            (
                b"+\xff\r\n",
                ProtocolError::Malformed("simple string: not UTF-8"),
            ),
            (b":1.5\r\n", ProtocolError::Malformed("integer")),
            (b",x\r\n", ProtocolError::Malformed("double")),
            (b"#x\r\n", ProtocolError::Malformed("boolean")),
            (b"(1a\r\n", ProtocolError::Malformed("big number")),
            (b"_x\r\n", ProtocolError::Malformed("null")),
            (b"$-2\r\n", ProtocolError::InvalidBulkLength),
            (b"$?\r\n", ProtocolError::InvalidBulkLength),
            (b"!-1\r\n", ProtocolError::InvalidBulkLength),
            (b"$536870913\r\n", ProtocolError::InvalidBulkLength),
            (
                b"$3\r\nabcd\r\n",
                ProtocolError::Malformed("bulk string terminator"),
            ),
            (
                b"=3\r\ntxt\r\n",
                ProtocolError::Malformed("verbatim string"),
            ),
            (b"*-2\r\n", ProtocolError::InvalidMultibulkLength),
            (b"%-1\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*1048577\r\n", ProtocolError::InvalidMultibulkLength),
        ];
        for (input, error) in cases {
            assert_eq!(
                parse(input),
                Err(error.clone()),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn lines_are_bounded() {
        let tight = Limits {
            max_inline_len: 4,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&b"+abcd"[..]);
        assert_eq!(parse_frame(&mut buf, &tight), Ok(None));
        buf.extend_from_slice(b"e");
        assert_eq!(
            parse_frame(&mut buf, &tight),
            Err(ProtocolError::TooBigLine)
        );
    }
}
