//! Shorthand for writing key-value histories by hand.
//!
//! Each helper is one line of a scenario: `set(client, call, ret, key, value)`.
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;

use tinkerdb_lincheck::kv::{check_kv, KvInput, KvOutput};
use tinkerdb_lincheck::{render, Budget, CheckResult, Operation};

pub type KvOp = Operation<KvInput, KvOutput>;

/// Far more than any hand-written scenario needs; running out is a test failure.
pub const SCENARIO_STEPS_MAX: u64 = 100_000;

pub fn set(client: u64, call: u64, ret: u64, key: &str, value: &str) -> KvOp {
    Operation::returned(client, call, ret, KvInput::set(key, value), KvOutput::Ok)
}

pub fn get(client: u64, call: u64, ret: u64, key: &str, seen: Option<&str>) -> KvOp {
    let output = KvOutput::Value(seen.map(|value| value.as_bytes().to_vec()));
    Operation::returned(client, call, ret, KvInput::get(key), output)
}

pub fn del(client: u64, call: u64, ret: u64, key: &str, deleted: u64) -> KvOp {
    Operation::returned(
        client,
        call,
        ret,
        KvInput::del(key),
        KvOutput::Deleted(deleted),
    )
}

pub fn incr(client: u64, call: u64, ret: u64, key: &str, by: i64, seen: Result<i64, ()>) -> KvOp {
    Operation::returned(
        client,
        call,
        ret,
        KvInput::incr(key, by),
        KvOutput::Incr(seen),
    )
}

pub fn append(client: u64, call: u64, ret: u64, key: &str, value: &str, len: u64) -> KvOp {
    Operation::returned(
        client,
        call,
        ret,
        KvInput::append(key, value),
        KvOutput::Len(len),
    )
}

/// A request whose reply never came.
pub fn lost(client: u64, call: u64, input: KvInput) -> KvOp {
    Operation::unknown(client, call, input)
}

pub fn verdict(history: &[KvOp]) -> CheckResult {
    check_kv(history, Budget::steps(SCENARIO_STEPS_MAX))
}

pub fn assert_linearizable(history: &[KvOp]) {
    let result = verdict(history);
    assert_eq!(
        result,
        CheckResult::Linearizable,
        "\n{}",
        render(history, &result)
    );
}

/// Asserts a violation and returns (label, partial, stuck) for closer checks.
pub fn assert_not_linearizable(history: &[KvOp]) -> (String, Vec<usize>, Vec<usize>) {
    match verdict(history) {
        CheckResult::NotLinearizable {
            label,
            partial,
            stuck,
            ..
        } => (label, partial, stuck),
        other => panic!("expected a violation, got {other:?}"),
    }
}

/// A plain sequential store, written independently of `kv::KvModel`, from
/// which generated histories take their outputs. It parses integers with
/// `str::parse`, which agrees with Redis only on canonical integers ("7", "-3")
/// and text; generators must not write values like "+1" or "05".
#[derive(Default)]
pub struct Reference {
    values: HashMap<Vec<u8>, Vec<u8>>,
}

impl Reference {
    pub fn apply(&mut self, input: &KvInput) -> KvOutput {
        let key = input.key().to_vec();
        match input {
            KvInput::Get { .. } => KvOutput::Value(self.values.get(&key).cloned()),
            KvInput::Set { value, .. } => {
                self.values.insert(key, value.clone());
                KvOutput::Ok
            }
            KvInput::Del { .. } => KvOutput::Deleted(self.values.remove(&key).map_or(0, |_| 1)),
            KvInput::Incr { by, .. } => self.incr(key, *by),
            KvInput::Append { value, .. } => {
                let entry = self.values.entry(key).or_default();
                entry.extend_from_slice(value);
                KvOutput::Len(entry.len() as u64)
            }
        }
    }

    fn incr(&mut self, key: Vec<u8>, by: i64) -> KvOutput {
        let current = self.values.get(&key).map_or(Some(0), |bytes| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
        });
        match current.and_then(|value| value.checked_add(by)) {
            Some(new) => {
                self.values.insert(key, new.to_string().into_bytes());
                KvOutput::Incr(Ok(new))
            }
            None => KvOutput::Incr(Err(())),
        }
    }
}
