//! Proptest strategies shared by the property tests: arbitrary frames and requests.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use tinkerdb_resp::Frame;

/// Any frame whose RESP3 encoding parses back to itself: line texts without CR/LF, big numbers
/// made of digits, no NaN (it is not equal to itself) and no `NullArray` (RESP3 has one null).
pub fn frame() -> impl Strategy<Value = Frame> {
    let line = "[^\r\n]{0,16}";
    let leaf = prop_oneof![
        line.prop_map(Frame::Simple),
        line.prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        vec(any::<u8>(), 0..32).prop_map(|data| Frame::Bulk(Bytes::from(data))),
        Just(Frame::Null),
        any::<f64>()
            .prop_filter("NaN != NaN", |d| !d.is_nan())
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[0-9]{1,40}".prop_map(Frame::BigNumber),
        (any::<[u8; 3]>(), vec(any::<u8>(), 0..32)).prop_map(|(format, text)| {
            Frame::Verbatim {
                format,
                text: Bytes::from(text),
            }
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Frame::Array),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            vec(inner.clone(), 0..6).prop_map(Frame::Set),
            vec(inner, 0..6).prop_map(Frame::Push),
        ]
    })
}

/// Any frame at all, including the ones that do not round-trip exactly.
pub fn any_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        8 => frame(),
        1 => Just(Frame::NullArray),
        1 => Just(Frame::Double(f64::NAN)),
        1 => "[\r\na-z]{0,8}".prop_map(Frame::Error),
        1 => vec(Just(Frame::NullArray), 0..3).prop_map(Frame::Array),
    ]
}

/// A request: up to 11 binary arguments, more than the parser notes on its first pass.
pub fn request() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..24), 0..12)
}

/// The multibulk encoding of `args`, as every client library sends it.
pub fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}
