//! Fuzz-style property tests: no byte sequence makes a parser panic or spin.
//!
//! Each input is fed to a parser in a loop until it asks for more bytes or fails, checking the
//! streaming contract on every call: `Ok(Some)` consumed at least one byte, `Ok(None)` left the
//! buffer exactly as it was. That contract is what guarantees a connection loop cannot spin
//! without progress. Inputs are random bytes, bytes drawn from RESP's own alphabet (to get past
//! the first type byte), and valid streams with random mutations.

mod strategies;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use tinkerdb_resp::{encode, parse_frame, parse_request, Frame, Limits, Protocol, ProtocolError};

/// Small limits, so that random input reaches the limit checks too.
const TIGHT: Limits = Limits {
    max_bulk_len: 64,
    max_multibulk_len: 16,
    max_inline_len: 32,
};

/// Drives `parse` over `input` as a connection would, checking the contract on every call.
fn drive<T>(
    input: &[u8],
    limits: &Limits,
    parse: fn(&mut BytesMut, &Limits) -> Result<Option<T>, ProtocolError>,
) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(input);
    // Every successful call consumes a byte, so this bound is never the reason to stop.
    for _ in 0..=input.len() {
        let before = buf.clone();
        match parse(&mut buf, limits) {
            Ok(Some(_)) => prop_assert!(buf.len() < before.len(), "Ok(Some) consumed nothing"),
            Ok(None) => {
                prop_assert_eq!(&buf, &before, "Ok(None) changed the buffer");
                return Ok(());
            }
            Err(error) => {
                prop_assert!(error.to_string().starts_with("Protocol error: "));
                return Ok(());
            }
        }
    }
    prop_assert!(buf.is_empty(), "the parser made no progress");
    Ok(())
}

/// Feeds `input` to both parsers with both the default and the tight limits.
fn drive_all(input: &[u8]) -> Result<(), TestCaseError> {
    for limits in [Limits::default(), TIGHT] {
        drive(input, &limits, parse_request)?;
        drive(input, &limits, parse_frame)?;
    }
    Ok(())
}

/// Bytes that make up RESP, so that random input gets deep into the parsers.
fn resp_byte() -> impl Strategy<Value = u8> {
    prop::sample::select(b"*$+-:,#(_=!%~>|\r\n\r\n0123456789-?tfx:\"'\\ \0".to_vec())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), resp_byte()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<prop::sample::Index>(), resp_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        if bytes.is_empty() {
            break;
        }
        match mutation {
            Mutation::Flip(i, b) => {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            Mutation::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
            Mutation::Remove(i) => {
                bytes.remove(i.index(bytes.len()));
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        }
    }
    bytes
}

fn encoded(frames: &[Frame], resp3: bool) -> Vec<u8> {
    let proto = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let mut out = BytesMut::new();
    for frame in frames {
        encode(frame, proto, &mut out);
    }
    out.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn random_bytes(input in vec(any::<u8>(), 0..512)) {
        drive_all(&input)?;
    }

    #[test]
    fn random_resp_alphabet(input in vec(resp_byte(), 0..512)) {
        drive_all(&input)?;
    }

    #[test]
    fn mutated_frames(
        frames in vec(strategies::any_frame(), 1..4),
        resp3: bool,
        mutations in vec(mutation(), 1..6),
    ) {
        drive_all(&mutate(encoded(&frames, resp3), &mutations))?;
    }

    #[test]
    fn mutated_requests(
        requests in vec(strategies::request(), 1..4),
        mutations in vec(mutation(), 1..6),
    ) {
        let stream: Vec<u8> = requests.iter().flat_map(|r| strategies::multibulk(r)).collect();
        drive_all(&mutate(stream, &mutations))?;
    }

    #[test]
    fn mutated_inline_requests(
        words in vec("[a-z\"' \\\\]{0,8}", 1..6),
        mutations in vec(mutation(), 0..4),
    ) {
        let mut line = words.join(" ").into_bytes();
        line.extend_from_slice(b"\r\n");
        drive_all(&mutate(line, &mutations))?;
    }
}
