//! Property tests: what the encoder writes, the parsers read back, however the bytes arrive.

mod strategies;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tinkerdb_resp::{encode, parse_frame, parse_request, Frame, Limits, Protocol};

fn encoded(frames: &[Frame], proto: Protocol) -> BytesMut {
    let mut out = BytesMut::new();
    for frame in frames {
        encode(frame, proto, &mut out);
    }
    out
}

/// True when `frame` uses only the types a RESP2 client understands.
fn is_resp2(frame: &Frame) -> bool {
    match frame {
        Frame::Simple(_)
        | Frame::Error(_)
        | Frame::Integer(_)
        | Frame::Bulk(_)
        | Frame::Null
        | Frame::NullArray => true,
        Frame::Array(items) => items.iter().all(is_resp2),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn resp3_encoding_parses_back_to_the_same_frame(frame in strategies::frame()) {
        let mut buf = encoded(std::slice::from_ref(&frame), Protocol::Resp3);
        let parsed = parse_frame(&mut buf, &Limits::default());
        prop_assert_eq!(parsed, Ok(Some(frame)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn resp2_encoding_uses_only_resp2_types(frame in strategies::any_frame()) {
        let mut buf = encoded(std::slice::from_ref(&frame), Protocol::Resp2);
        let parsed = parse_frame(&mut buf, &Limits::default());
        prop_assert!(matches!(&parsed, Ok(Some(f)) if is_resp2(f)), "{:?}", parsed);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn any_frame_encodes_to_parseable_bytes(frame in strategies::any_frame(), resp3: bool) {
        let proto = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let mut buf = encoded(std::slice::from_ref(&frame), proto);
        prop_assert!(matches!(parse_frame(&mut buf, &Limits::default()), Ok(Some(_))));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn a_split_frame_stream_parses_like_the_whole(
        frames in proptest::collection::vec(strategies::frame(), 1..5),
        split in any::<prop::sample::Index>(),
    ) {
        let stream = encoded(&frames, Protocol::Resp3);
        let split = split.index(stream.len() + 1);
        let mut buf = BytesMut::from(&stream[..split]);
        let mut parsed = Vec::new();
        while let Some(frame) = parse_frame(&mut buf, &Limits::default()).expect("valid") {
            parsed.push(frame);
        }
        buf.extend_from_slice(&stream[split..]);
        while let Some(frame) = parse_frame(&mut buf, &Limits::default()).expect("valid") {
            parsed.push(frame);
        }
        prop_assert_eq!(parsed, frames);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn multibulk_requests_parse_back(
        requests in proptest::collection::vec(strategies::request(), 1..6),
        split in any::<prop::sample::Index>(),
    ) {
        let stream: Vec<u8> = requests.iter().flat_map(|r| strategies::multibulk(r)).collect();
        let split = split.index(stream.len() + 1);
        let mut buf = BytesMut::from(&stream[..split]);
        let mut parsed = Vec::new();
        while let Some(args) = parse_request(&mut buf, &Limits::default()).expect("valid") {
            parsed.push(args);
        }
        buf.extend_from_slice(&stream[split..]);
        while let Some(args) = parse_request(&mut buf, &Limits::default()).expect("valid") {
            parsed.push(args);
        }
        let expected: Vec<Vec<Bytes>> = requests
            .iter()
            .map(|r| r.iter().map(|a| Bytes::copy_from_slice(a)).collect())
            .collect();
        prop_assert_eq!(parsed, expected);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn quoted_inline_arguments_parse_back(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 1..5)) {
        // Quote every argument the way redis-cli's sdscatrepr would: \xHH for anything unusual.
        let mut line = Vec::new();
        for arg in &args {
            line.push(b'"');
            for &byte in arg {
                line.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            }
            line.extend_from_slice(b"\" ");
        }
        line.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::from(&line[..]);
        let parsed = parse_request(&mut buf, &Limits::default());
        let expected: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        prop_assert_eq!(parsed, Ok(Some(expected)));
        prop_assert!(buf.is_empty());
    }
}
