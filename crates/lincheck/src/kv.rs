//! A ready-made model of TinkerDB's string commands, checked key by key.
//!
//! Each key is an independent register holding `Option<Vec<u8>>` (absent or a
//! byte string), so [`KvModel`] partitions a history by key and the search's
//! state is one key's value. The semantics follow Redis:
//!
//! | input    | Redis      | output                                              |
//! |----------|------------|-----------------------------------------------------|
//! | `Get`    | `GET`      | `Value(None)` if absent, else `Value(Some(bytes))`  |
//! | `Set`    | `SET`      | `Ok`                                                |
//! | `Del`    | `DEL` 1 key| `Deleted(1)` if it existed, else `Deleted(0)`       |
//! | `Incr`   | `INCRBY`   | `Incr(Ok(new))`, or `Incr(Err(()))` if the value is not an integer or would overflow; an absent key counts as 0 |
//! | `Append` | `APPEND`   | `Len(new length)`                                   |
//!
//! Limitation: only single-key operations are modelled. `MSET`, `DEL` of several
//! keys and `MULTI`/`EXEC` touch several registers atomically, which breaks
//! partitioning by key; checking them needs a model whose state is the whole
//! map and one partition per connected group of keys. We keep it simple until
//! the simulator issues such commands.

use std::collections::BTreeMap;
use std::fmt;

use crate::budget::Budget;
use crate::check::{check, CheckResult};
use crate::history::Operation;
use crate::model::{Model, Partition};

/// A single-key command as a client issued it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// `GET key`.
    Get {
        /// The key read.
        key: Vec<u8>,
    },
    /// `SET key value`.
    Set {
        /// The key written.
        key: Vec<u8>,
        /// The value stored.
        value: Vec<u8>,
    },
    /// `DEL key`.
    Del {
        /// The key deleted.
        key: Vec<u8>,
    },
    /// `INCRBY key by` (`INCR` is `by: 1`, `DECR` is `by: -1`).
    Incr {
        /// The key incremented.
        key: Vec<u8>,
        /// The amount added.
        by: i64,
    },
    /// `APPEND key value`.
    Append {
        /// The key appended to.
        key: Vec<u8>,
        /// The bytes appended.
        value: Vec<u8>,
    },
}

impl KvInput {
    /// `GET key`; shorthand for harnesses and tests.
    pub fn get(key: impl Into<Vec<u8>>) -> Self {
        Self::Get { key: key.into() }
    }

    /// `SET key value`; shorthand for harnesses and tests.
    pub fn set(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `DEL key`; shorthand for harnesses and tests.
    pub fn del(key: impl Into<Vec<u8>>) -> Self {
        Self::Del { key: key.into() }
    }

    /// `INCRBY key by`; shorthand for harnesses and tests.
    pub fn incr(key: impl Into<Vec<u8>>, by: i64) -> Self {
        Self::Incr {
            key: key.into(),
            by,
        }
    }

    /// `APPEND key value`; shorthand for harnesses and tests.
    pub fn append(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The one key this command touches; the partition it belongs to.
    pub fn key(&self) -> &[u8] {
        match self {
            Self::Get { key }
            | Self::Set { key, .. }
            | Self::Del { key }
            | Self::Incr { key, .. }
            | Self::Append { key, .. } => key,
        }
    }
}

/// A reply as the client received it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// Reply to `Get`: the value, or `None` for a nil reply.
    Value(Option<Vec<u8>>),
    /// Reply to `Set`.
    Ok,
    /// Reply to `Del`: how many keys were removed (0 or 1).
    Deleted(u64),
    /// Reply to `Incr`: the new value, or an error reply.
    Incr(Result<i64, ()>),
    /// Reply to `Append`: the value's length afterwards.
    Len(u64),
}

/// The sequential specification of single-key string commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvModel;

impl Model for KvModel {
    /// One key's value; `None` when absent.
    type State = Option<Vec<u8>>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        None
    }

    fn step(&self, state: &Self::State, input: &KvInput, output: &KvOutput) -> Option<Self::State> {
        let (after, expected) = apply(state, input);
        (expected == *output).then_some(after)
    }

    fn step_unknown(&self, state: &Self::State, input: &KvInput) -> Option<Self::State> {
        Some(apply(state, input).0)
    }

    /// One partition per key, in key order, labelled with the key.
    fn partition(&self, history: &[Operation<KvInput, KvOutput>]) -> Vec<Partition> {
        let mut by_key: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
        for (index, op) in history.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(index);
        }
        by_key
            .into_iter()
            .map(|(key, ops)| Partition {
                label: key.escape_ascii().to_string(),
                ops,
            })
            .collect()
    }
}

/// Checks a key-value history key by key; a violation names the key as its `label`.
pub fn check_kv(history: &[Operation<KvInput, KvOutput>], budget: Budget) -> CheckResult {
    check(&KvModel, history, budget)
}

/// What a correct server does: the value afterwards and the reply.
fn apply(state: &Option<Vec<u8>>, input: &KvInput) -> (Option<Vec<u8>>, KvOutput) {
    match input {
        KvInput::Get { .. } => (state.clone(), KvOutput::Value(state.clone())),
        KvInput::Set { value, .. } => (Some(value.clone()), KvOutput::Ok),
        KvInput::Del { .. } => (None, KvOutput::Deleted(u64::from(state.is_some()))),
        KvInput::Incr { by, .. } => incr(state, *by),
        KvInput::Append { value, .. } => {
            let mut after = state.clone().unwrap_or_default();
            after.extend_from_slice(value);
            let len = after.len() as u64;
            (Some(after), KvOutput::Len(len))
        }
    }
}

fn incr(state: &Option<Vec<u8>>, by: i64) -> (Option<Vec<u8>>, KvOutput) {
    let current = match state {
        None => Some(0),
        Some(bytes) => parse_integer(bytes),
    };
    match current.and_then(|value| value.checked_add(by)) {
        Some(new) => (Some(new.to_string().into_bytes()), KvOutput::Incr(Ok(new))),
        None => (state.clone(), KvOutput::Incr(Err(()))),
    }
}

/// Parses a value as Redis's `string2ll` does: an optional `-`, then digits
/// with no leading zero (except `"0"` itself), no `+`, no spaces, within i64.
fn parse_integer(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let well_formed =
        matches!(digits.first(), Some(b'1'..=b'9')) && digits.iter().all(u8::is_ascii_digit);
    if !well_formed {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Byte strings printed as escaped text, so reports read `"x"`, not `[120]`.
struct Text<'a>(&'a [u8]);

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Debug for KvInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = Text(self.key());
        match self {
            Self::Get { .. } => f.debug_struct("Get").field("key", &key).finish(),
            Self::Set { value, .. } => f
                .debug_struct("Set")
                .field("key", &key)
                .field("value", &Text(value))
                .finish(),
            Self::Del { .. } => f.debug_struct("Del").field("key", &key).finish(),
            Self::Incr { by, .. } => f
                .debug_struct("Incr")
                .field("key", &key)
                .field("by", by)
                .finish(),
            Self::Append { value, .. } => f
                .debug_struct("Append")
                .field("key", &key)
                .field("value", &Text(value))
                .finish(),
        }
    }
}

impl fmt::Debug for KvOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(value) => f
                .debug_tuple("Value")
                .field(&value.as_deref().map(Text))
                .finish(),
            Self::Ok => f.write_str("Ok"),
            Self::Deleted(count) => f.debug_tuple("Deleted").field(count).finish(),
            Self::Incr(result) => f.debug_tuple("Incr").field(result).finish(),
            Self::Len(len) => f.debug_tuple("Len").field(len).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"-12"), Some(-12));
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_integer(bad), None, "{:?}", Text(bad));
        }
    }

    #[test]
    fn incr_counts_from_zero_and_refuses_text_and_overflow() {
        assert_eq!(incr(&None, 5), (Some(b"5".to_vec()), KvOutput::Incr(Ok(5))));
        let text = Some(b"abc".to_vec());
        assert_eq!(incr(&text, 1), (text.clone(), KvOutput::Incr(Err(()))));
        let max = Some(i64::MAX.to_string().into_bytes());
        assert_eq!(incr(&max, 1), (max.clone(), KvOutput::Incr(Err(()))));
    }

    #[test]
    fn reports_print_bytes_as_text() {
        assert_eq!(
            format!("{:?}", KvInput::set("k", "v\n")),
            r#"Set { key: "k", value: "v\n" }"#
        );
        assert_eq!(
            format!("{:?}", KvOutput::Value(Some(b"v".to_vec()))),
            r#"Value(Some("v"))"#
        );
    }
}
