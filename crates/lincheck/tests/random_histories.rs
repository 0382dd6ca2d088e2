//! Histories generated from a real sequential execution are linearizable by
//! construction; corrupting one read to a value nobody wrote must be caught.
//!
//! Construction: operation i takes effect at tick `t_i = 1000 + 100 * i` in a
//! reference store (a plain map, written independently of `kv::KvModel`). Its
//! call and return are drawn up to 250 ticks either side of `t_i`, so about five
//! operations overlap at once. Some replies are dropped: the operation either
//! took effect at `t_i` or never did, and the history records it as unknown.

mod common;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use tinkerdb_lincheck::kv::{check_kv, KvInput, KvOutput};
use tinkerdb_lincheck::{render, Budget, CheckResult, Operation};

use common::{KvOp, Reference};

const KEYS: [&str; 3] = ["a", "b", "c"];
/// Canonical integers or text (see `common::Reference`).
const VALUES: [&str; 4] = ["0", "7", "-3", "abc"];
const OVERLAP_TICKS_MAX: u64 = 250;
const STEPS_MAX: u64 = 5_000_000;

/// What became of a generated request.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Returned,
    LostAfterTakingEffect,
    LostWithoutTakingEffect,
}

#[derive(Debug, Clone)]
struct Planned {
    input: KvInput,
    before_ticks: u64,
    after_ticks: u64,
    fate: Fate,
}

fn input() -> impl Strategy<Value = KvInput> {
    let key = || select(KEYS.to_vec());
    prop_oneof![
        3 => key().prop_map(KvInput::get),
        2 => (key(), select(VALUES.to_vec())).prop_map(|(k, v)| KvInput::set(k, v)),
        1 => key().prop_map(KvInput::del),
        2 => (key(), -5i64..=5).prop_map(|(k, by)| KvInput::incr(k, by)),
        1 => key().prop_map(|k| KvInput::append(k, "z")),
    ]
}

fn planned() -> impl Strategy<Value = Planned> {
    let fate = prop_oneof![
        8 => Just(Fate::Returned),
        1 => Just(Fate::LostAfterTakingEffect),
        1 => Just(Fate::LostWithoutTakingEffect),
    ];
    (input(), 0..=OVERLAP_TICKS_MAX, 0..=OVERLAP_TICKS_MAX, fate).prop_map(
        |(input, before_ticks, after_ticks, fate)| Planned {
            input,
            before_ticks,
            after_ticks,
            fate,
        },
    )
}

fn effect_tick(position: usize) -> u64 {
    1000 + 100 * position as u64
}

/// Runs the plan against the reference store and records what clients saw.
fn history_of(plan: &[Planned]) -> Vec<KvOp> {
    let mut store = Reference::default();
    let mut history = Vec::with_capacity(plan.len());
    for (position, step) in plan.iter().enumerate() {
        let tick = effect_tick(position);
        let (client, call) = (position as u64 % 5, tick - step.before_ticks);
        let input = step.input.clone();
        history.push(match step.fate {
            Fate::Returned => {
                let output = store.apply(&input);
                Operation::returned(client, call, tick + step.after_ticks, input, output)
            }
            Fate::LostAfterTakingEffect => {
                store.apply(&input);
                Operation::unknown(client, call, input)
            }
            Fate::LostWithoutTakingEffect => Operation::unknown(client, call, input),
        });
    }
    history
}

proptest! {
    #[test]
    fn histories_of_a_sequential_execution_are_linearizable(
        plan in prop::collection::vec(planned(), 0..40),
    ) {
        let history = history_of(&plan);
        let result = check_kv(&history, Budget::steps(STEPS_MAX));
        prop_assert_eq!(&result, &CheckResult::Linearizable, "\n{}", render(&history, &result));
    }

    #[test]
    fn a_read_of_a_never_written_value_is_always_rejected(
        plan in prop::collection::vec(planned(), 0..40),
        at in any::<Index>(),
        key in select(KEYS.to_vec()),
        before_ticks in 0..=OVERLAP_TICKS_MAX,
        after_ticks in 0..=OVERLAP_TICKS_MAX,
    ) {
        let mut history = history_of(&plan);
        let tick = effect_tick(at.index(plan.len() + 1)) + 50;
        let ghost = KvOutput::Value(Some(b"never written".to_vec()));
        let (call, ret) = (tick - before_ticks, tick + after_ticks);
        history.push(Operation::returned(9, call, ret, KvInput::get(key), ghost));
        let corrupted = history.len() - 1;

        match check_kv(&history, Budget::steps(STEPS_MAX)) {
            CheckResult::NotLinearizable { label, partition, partial, .. } => {
                prop_assert_eq!(label, key);
                prop_assert!(partition.contains(&corrupted));
                prop_assert!(!partial.contains(&corrupted));
            }
            other => prop_assert!(false, "expected a violation, got {:?}", other),
        }
    }
}
