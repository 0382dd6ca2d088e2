//! Replies out: a [`Frame`] becomes bytes in the connection's [`Protocol`].
//!
//! Commands build one frame whatever the client speaks; [`encode`] writes RESP3 natively and
//! downgrades for RESP2 clients exactly as Redis's `addReply*` functions do:
//!
//! | Frame              | RESP3            | RESP2                       |
//! |--------------------|------------------|-----------------------------|
//! | `Null`             | `_`              | `$-1`                       |
//! | `NullArray`        | `_`              | `*-1`                       |
//! | `Double`           | `,<text>`        | bulk string of the same text |
//! | `Boolean`          | `#t` / `#f`      | `:1` / `:0`                 |
//! | `BigNumber`        | `(<digits>`      | bulk string                 |
//! | `Verbatim`         | `=<len>\r\nfmt:` | bulk string of the text     |
//! | `Map`              | `%N`             | flat array of 2N            |
//! | `Set` / `Push`     | `~N` / `>N`      | array                       |
//!
//! Line types (simple strings, errors, big numbers) must not contain CR or LF, or the client
//! would read the rest as another reply; they are replaced with spaces, as Redis does for error
//! texts. Encoding never fails and never allocates beyond growing `out`.

use bytes::{BufMut, BytesMut};

use crate::number::{format_double, put_i64, put_u64};
use crate::{Frame, Protocol};

/// Appends `frame` to `out` as `proto` spells it. The connection calls this for each reply and
/// writes `out` to the socket.
pub fn encode(frame: &Frame, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match frame {
        Frame::Simple(text) => put_line(out, b'+', text.as_bytes()),
        Frame::Error(text) => put_line(out, b'-', text.as_bytes()),
        Frame::Integer(value) => {
            out.put_u8(b':');
            put_i64(out, *value);
            out.put_slice(b"\r\n");
        }
        Frame::Bulk(data) => put_bulk(out, data),
        Frame::Null if resp3 => out.put_slice(b"_\r\n"),
        Frame::Null => out.put_slice(b"$-1\r\n"),
        Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
        Frame::NullArray => out.put_slice(b"*-1\r\n"),
        Frame::Array(items) => put_items(out, b'*', items, proto),
        Frame::Double(value) if resp3 => put_line(out, b',', format_double(*value).as_bytes()),
        Frame::Double(value) => put_bulk(out, format_double(*value).as_bytes()),
        Frame::Boolean(true) if resp3 => out.put_slice(b"#t\r\n"),
        Frame::Boolean(false) if resp3 => out.put_slice(b"#f\r\n"),
        Frame::Boolean(true) => out.put_slice(b":1\r\n"),
        Frame::Boolean(false) => out.put_slice(b":0\r\n"),
        Frame::BigNumber(digits) if resp3 => put_line(out, b'(', digits.as_bytes()),
        Frame::BigNumber(digits) => put_bulk(out, digits.as_bytes()),
        Frame::Verbatim { format, text } if resp3 => {
            put_header(out, b'=', text.len().saturating_add(4));
            out.reserve(text.len() + 6);
            out.put_slice(format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Frame::Verbatim { text, .. } => put_bulk(out, text),
        Frame::Map(pairs) => {
            if resp3 {
                put_header(out, b'%', pairs.len());
            } else {
                put_header(out, b'*', pairs.len().saturating_mul(2));
            }
            for (key, value) in pairs {
                encode(key, proto, out);
                encode(value, proto, out);
            }
        }
        Frame::Set(items) => put_items(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Frame::Push(items) => put_items(out, if resp3 { b'>' } else { b'*' }, items, proto),
    }
}

/// `<marker><len>\r\n`, the header of every blob and aggregate.
fn put_header(out: &mut BytesMut, marker: u8, len: usize) {
    out.put_u8(marker);
    put_u64(out, len as u64);
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    put_header(out, b'$', data.len());
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn put_items(out: &mut BytesMut, marker: u8, items: &[Frame], proto: Protocol) {
    put_header(out, marker, items.len());
    for item in items {
        encode(item, proto, out);
    }
}

/// `<marker><text>\r\n`, with any CR or LF in `text` replaced by a space.
fn put_line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(marker);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn both(frame: &Frame) -> (String, String) {
        let text = |proto| {
            let mut out = BytesMut::new();
            encode(frame, proto, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        (text(Protocol::Resp2), text(Protocol::Resp3))
    }

    fn same(text: &str) -> (String, String) {
        (text.to_string(), text.to_string())
    }

    #[test]
    fn resp2_types_are_the_same_in_both_protocols() {
        assert_eq!(both(&Frame::ok()), same("+OK\r\n"));
        assert_eq!(both(&Frame::error("ERR bad")), same("-ERR bad\r\n"));
        assert_eq!(both(&Frame::Integer(-12)), same(":-12\r\n"));
        assert_eq!(both(&Frame::bulk("hi")), same("$2\r\nhi\r\n"));
        assert_eq!(both(&Frame::bulk("")), same("$0\r\n\r\n"));
        assert_eq!(
            both(&Frame::Array(vec![Frame::Integer(1), Frame::bulk("a")])),
            same("*2\r\n:1\r\n$1\r\na\r\n")
        );
    }

    #[test]
    fn nulls() {
        assert_eq!(both(&Frame::Null), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(&Frame::NullArray), ("*-1\r\n".into(), "_\r\n".into()));
    }

    #[test]
    fn doubles() {
        assert_eq!(
            both(&Frame::Double(1.5)),
            ("$3\r\n1.5\r\n".into(), ",1.5\r\n".into())
        );
        assert_eq!(
            both(&Frame::Double(10.0)),
            ("$2\r\n10\r\n".into(), ",10\r\n".into())
        );
        assert_eq!(
            both(&Frame::Double(f64::INFINITY)),
            ("$3\r\ninf\r\n".into(), ",inf\r\n".into())
        );
        assert_eq!(
            both(&Frame::Double(f64::NEG_INFINITY)),
            ("$4\r\n-inf\r\n".into(), ",-inf\r\n".into())
        );
        assert_eq!(
            both(&Frame::Double(f64::NAN)),
            ("$3\r\nnan\r\n".into(), ",nan\r\n".into())
        );
    }

    #[test]
    fn booleans_big_numbers_and_verbatim() {
        assert_eq!(
            both(&Frame::Boolean(true)),
            (":1\r\n".into(), "#t\r\n".into())
        );
        assert_eq!(
            both(&Frame::Boolean(false)),
            (":0\r\n".into(), "#f\r\n".into())
        );
        assert_eq!(
            both(&Frame::BigNumber("123456789012345678901234".into())),
            (
                "$24\r\n123456789012345678901234\r\n".into(),
                "(123456789012345678901234\r\n".into()
            )
        );
        let verbatim = Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"hello"),
        };
        assert_eq!(
            both(&verbatim),
            ("$5\r\nhello\r\n".into(), "=9\r\ntxt:hello\r\n".into())
        );
    }

    #[test]
    fn aggregates() {
        let map = Frame::Map(vec![(Frame::bulk("k"), Frame::Integer(1))]);
        assert_eq!(
            both(&map),
            (
                "*2\r\n$1\r\nk\r\n:1\r\n".into(),
                "%1\r\n$1\r\nk\r\n:1\r\n".into()
            )
        );
        let set = Frame::Set(vec![Frame::Boolean(true)]);
        assert_eq!(both(&set), ("*1\r\n:1\r\n".into(), "~1\r\n#t\r\n".into()));
        let push = Frame::Push(vec![Frame::Null]);
        assert_eq!(both(&push), ("*1\r\n$-1\r\n".into(), ">1\r\n_\r\n".into()));
        let nested = Frame::Array(vec![Frame::Map(vec![(
            Frame::Double(0.5),
            Frame::Set(vec![]),
        )])]);
        assert_eq!(
            both(&nested),
            (
                "*1\r\n*2\r\n$3\r\n0.5\r\n*0\r\n".into(),
                "*1\r\n%1\r\n,0.5\r\n~0\r\n".into()
            )
        );
    }

    #[test]
    fn line_types_never_contain_cr_or_lf() {
        assert_eq!(
            both(&Frame::error("ERR a\r\nb\nc\r")),
            same("-ERR a  b c \r\n")
        );
        assert_eq!(both(&Frame::Simple("a\nb".into())), same("+a b\r\n"));
        assert_eq!(
            both(&Frame::BigNumber("1\r\n2".into())),
            ("$4\r\n1\r\n2\r\n".into(), "(1  2\r\n".into())
        );
    }

    #[test]
    fn encoding_appends() {
        let mut out = BytesMut::from(&b"+first\r\n"[..]);
        encode(&Frame::Integer(2), Protocol::Resp2, &mut out);
        assert_eq!(&out[..], b"+first\r\n:2\r\n");
    }
}
