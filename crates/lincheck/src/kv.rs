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
use crate::history::{Operation, Outcome};
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

    /// One partition per key, in key order, labelled with the key, without the unknown
    /// writes nothing could have observed (see [`drop_unobserved_sets`]).
    fn partition(&self, history: &[Operation<KvInput, KvOutput>]) -> Vec<Partition> {
        let mut by_key: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
        for (index, op) in history.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(index);
        }
        by_key
            .into_iter()
            .map(|(key, ops)| Partition {
                label: key.escape_ascii().to_string(),
                ops: drop_unobserved_sets(history, ops),
            })
            .collect()
    }
}

/// Leaves out of one key's operations (`ops`, indexes into `history`) every `SET` whose
/// outcome is unknown and whose value no `GET` returned, when the key sees nothing but `SET`
/// and `GET`. Such a write changes no verdict: had it taken effect, every `GET` until the next
/// write would have returned its value, so none ran in between, and a linearization without it
/// stays one (the other way, it may always be placed last). Left in, each one stays pending to
/// the end of the history and multiplies the states the search must visit: a few dozen of them
/// (clients killed mid-write) can make a check of thousands of operations run out of budget.
/// Other commands on the key (`DEL`'s count, `INCR`'s or `APPEND`'s result) could observe a
/// write without returning its value, so their keys are left whole.
fn drop_unobserved_sets(history: &[Operation<KvInput, KvOutput>], ops: Vec<usize>) -> Vec<usize> {
    let only_get_set = ops
        .iter()
        .all(|&i| matches!(history[i].input, KvInput::Get { .. } | KvInput::Set { .. }));
    if !only_get_set {
        return ops;
    }
    let read: std::collections::HashSet<&[u8]> = ops
        .iter()
        .filter_map(|&i| match &history[i].output {
            Outcome::Returned(KvOutput::Value(Some(v))) => Some(v.as_slice()),
            _ => None,
        })
        .collect();
    ops.into_iter()
        .filter(|&i| {
            let op = &history[i];
            !matches!(
                (&op.input, &op.output),
                (KvInput::Set { value, .. }, Outcome::Unknown) if !read.contains(value.as_slice())
            )
        })
        .collect()
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

    type Op = Operation<KvInput, KvOutput>;

    fn done(call: u64, ret: u64, input: KvInput, output: KvOutput) -> Op {
        Operation::returned(1, call, ret, input, output)
    }

    fn got(call: u64, ret: u64, value: &str) -> Op {
        done(
            call,
            ret,
            KvInput::get("k"),
            KvOutput::Value(Some(value.into())),
        )
    }

    fn kept(history: &[Op]) -> Vec<usize> {
        KvModel.partition(history).remove(0).ops
    }

    #[test]
    fn unknown_sets_nobody_read_are_left_out_and_change_no_verdict() {
        let set = |call, ret, v: &str| done(call, ret, KvInput::set("k", v), KvOutput::Ok);
        let lost = |call, v: &str| Operation::unknown(2, call, KvInput::set("k", v));
        // Two unknown writes nobody read, one unknown write a read returned.
        let history = vec![
            set(0, 10, "a"),
            lost(5, "x"),
            got(20, 30, "a"),
            lost(25, "y"),
            lost(26, "z"),
            got(40, 50, "z"),
        ];
        assert_eq!(kept(&history), vec![0, 2, 4, 5]);
        assert_eq!(
            check_kv(&history, Budget::steps(10_000)),
            CheckResult::Linearizable
        );
        // A stale read stays a violation with an unread unknown write beside it.
        let stale = vec![
            set(0, 10, "a"),
            set(20, 30, "b"),
            lost(35, "w"),
            got(40, 50, "a"),
        ];
        assert_eq!(kept(&stale), vec![0, 1, 3]);
        assert!(matches!(
            check_kv(&stale, Budget::steps(10_000)),
            CheckResult::NotLinearizable { .. }
        ));
        // INCR could observe a write without returning its value: such keys stay whole.
        let counted = vec![
            Operation::unknown(2, 0, KvInput::set("k", "5")),
            done(10, 20, KvInput::incr("k", 1), KvOutput::Incr(Ok(6))),
        ];
        assert_eq!(kept(&counted), vec![0, 1]);
        assert_eq!(
            check_kv(&counted, Budget::steps(10_000)),
            CheckResult::Linearizable
        );
    }

    #[test]
    fn many_unread_unknown_writes_cost_nothing() {
        // Two clients write a register concurrently and a third reads the winner, round after
        // round; 30 writers died mid-write (outcome unknown, value never read). Each such write
        // would stay pending to the end and multiply the states a search visits whenever it
        // backtracks; left out, the check fits a small, fixed budget.
        let mut history = Vec::new();
        let mut t = 0;
        for i in 0..600u64 {
            let (a, b) = (format!("a{i}"), format!("b{i}"));
            history.push(done(t, t + 20, KvInput::set("k", a.as_str()), KvOutput::Ok));
            history.push(done(
                t + 5,
                t + 25,
                KvInput::set("k", b.as_str()),
                KvOutput::Ok,
            ));
            history.push(got(t + 30, t + 35, &b));
            if i % 20 == 0 {
                history.push(Operation::unknown(
                    9,
                    t + 1,
                    KvInput::set("k", format!("lost{i}")),
                ));
            }
            t += 40;
        }
        assert_eq!(kept(&history).len(), 1_800);
        assert_eq!(
            check_kv(&history, Budget::steps(200_000)),
            CheckResult::Linearizable
        );
    }

    #[test]
    fn identical_unknown_increments_are_tried_in_call_order_only() {
        // 40 clients died in the middle of INCR; the next INCR says 20 of them took effect,
        // the one after that 25. Which 20 is the same question asked C(40, 20) ways unless the
        // search takes identical unknown operations in call order.
        let mut history: Vec<Op> = (0..40)
            .map(|i| Operation::unknown(10 + i, i, KvInput::incr("k", 1)))
            .collect();
        history.push(done(
            100,
            110,
            KvInput::incr("k", 1),
            KvOutput::Incr(Ok(21)),
        ));
        history.push(done(
            120,
            130,
            KvInput::incr("k", 1),
            KvOutput::Incr(Ok(27)),
        ));
        assert_eq!(
            check_kv(&history, Budget::steps(100_000)),
            CheckResult::Linearizable
        );
        // 100 after 27 needs 72 more of them, and 15 are left: still caught.
        history.push(done(
            140,
            150,
            KvInput::incr("k", 1),
            KvOutput::Incr(Ok(100)),
        ));
        assert!(matches!(
            check_kv(&history, Budget::steps(100_000)),
            CheckResult::NotLinearizable { .. }
        ));
    }

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
