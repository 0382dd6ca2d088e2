//! The checker must keep up with the simulator: a realistic history of five
//! clients issuing 200 commands each over three keys checks in a small budget.

mod common;

use common::{KvOp, Reference};
use tinkerdb_lincheck::kv::{check_kv, KvInput, KvOutput};
use tinkerdb_lincheck::{render, Budget, CheckResult, Operation, Outcome};

const CLIENTS: u64 = 5;
const OPS_PER_CLIENT: u64 = 200;
/// These histories need about 1,100 steps (just over one per operation, as
/// measured when this test was written); 20x headroom means a regression
/// towards quadratic search fails here instead of in the simulator.
const STEPS_MAX: u64 = 20_000;

/// xorshift64: deterministic, dependency-free noise for the history's shape.
struct Noise(u64);

impl Noise {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn command(noise: &mut Noise) -> KvInput {
    let key = ["a", "b", "c"][noise.below(3) as usize];
    match noise.below(6) {
        0 | 1 => KvInput::get(key),
        2 => KvInput::set(key, noise.below(100).to_string()),
        3 => KvInput::incr(key, 1),
        4 => KvInput::append(key, "x"),
        _ => KvInput::del(key),
    }
}

/// Clients take turns: operation i takes effect at tick 10 * i and client
/// i % 5 issues it, with call and return up to 24 ticks either side. A client's
/// consecutive operations are 50 ticks apart, so it never overlaps itself, while
/// every operation overlaps its neighbours from the other four clients.
fn busy_history(seed: u64) -> Vec<KvOp> {
    let mut noise = Noise(seed);
    let mut store = Reference::default();
    (0..CLIENTS * OPS_PER_CLIENT)
        .map(|i| {
            let input = command(&mut noise);
            let output = store.apply(&input);
            let tick = 100 + 10 * i;
            let (call, ret) = (tick - noise.below(25), tick + noise.below(25));
            Operation::returned(i % CLIENTS, call, ret, input, output)
        })
        .collect()
}

#[test]
fn five_clients_by_two_hundred_commands_check_within_budget() {
    for seed in [1, 2, 3, 0x5eed] {
        let history = busy_history(seed);
        assert_eq!(history.len(), 1000);
        let result = check_kv(&history, Budget::steps(STEPS_MAX));
        assert_eq!(
            result,
            CheckResult::Linearizable,
            "seed {seed}\n{}",
            render(&history, &result)
        );
    }
}

/// A failing search must explore every order before giving up; without the
/// memo cache that is exponential in the overlap. Measured: about 1,100 steps.
#[test]
fn a_violation_in_the_middle_of_a_busy_history_is_found_within_budget() {
    for seed in [1, 2, 3, 0x5eed] {
        let mut history = busy_history(seed);
        let at = history
            .iter()
            .position(|op| op.call > 5_000 && matches!(op.input, KvInput::Get { .. }))
            .expect("the history has reads after tick 5000");
        let ghost = KvOutput::Value(Some(b"ghost".to_vec()));
        history[at].output = Outcome::Returned(ghost);
        match check_kv(&history, Budget::steps(STEPS_MAX)) {
            CheckResult::NotLinearizable { label, stuck, .. } => {
                assert_eq!(label.as_bytes(), history[at].input.key());
                assert!(stuck.contains(&at), "seed {seed}: #{at} not in {stuck:?}");
            }
            other => panic!("seed {seed}: expected a violation, got {other:?}"),
        }
    }
}

#[test]
fn a_long_single_key_history_does_not_exhaust_the_thread_stack() {
    // 20 000 sequential increments: the search stack grows to 20 000 frames.
    let history: Vec<KvOp> = (0..20_000)
        .map(|i| {
            let output = KvOutput::Incr(Ok(i as i64 + 1));
            Operation::returned(0, 2 * i, 2 * i + 1, KvInput::incr("n", 1), output)
        })
        .collect();
    let result = check_kv(&history, Budget::steps(100_000));
    assert_eq!(result, CheckResult::Linearizable);
}
