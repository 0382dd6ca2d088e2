//! Any sequential object can be checked by writing a `Model`. A FIFO queue
//! shows the trait and the default single partition; the same histories show
//! how the budget bounds a search.

use std::collections::VecDeque;
use std::time::Instant;

use tinkerdb_lincheck::{check, Budget, CheckResult, Model, Operation, Outcome};

#[derive(Debug, PartialEq)]
enum QueueInput {
    Push(u32),
    Pop,
}

/// The sequential specification of a FIFO queue: `Pop` returns the oldest item.
struct Queue;

impl Model for Queue {
    type State = VecDeque<u32>;
    type Input = QueueInput;
    /// `None` for `Push`; the popped item (or `None` when empty) for `Pop`.
    type Output = Option<u32>;

    fn init(&self) -> Self::State {
        VecDeque::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &QueueInput,
        output: &Option<u32>,
    ) -> Option<Self::State> {
        let (after, expected) = apply(state, input);
        (expected == *output).then_some(after)
    }

    fn step_unknown(&self, state: &Self::State, input: &QueueInput) -> Option<Self::State> {
        Some(apply(state, input).0)
    }
}

fn apply(state: &VecDeque<u32>, input: &QueueInput) -> (VecDeque<u32>, Option<u32>) {
    let mut after = state.clone();
    match input {
        QueueInput::Push(item) => {
            after.push_back(*item);
            (after, None)
        }
        QueueInput::Pop => {
            let popped = after.pop_front();
            (after, popped)
        }
    }
}

type QueueOp = Operation<QueueInput, Option<u32>>;

fn push(client: u64, call: u64, ret: u64, item: u32) -> QueueOp {
    Operation::returned(client, call, ret, QueueInput::Push(item), None)
}

fn pop(client: u64, call: u64, ret: u64, popped: Option<u32>) -> QueueOp {
    Operation::returned(client, call, ret, QueueInput::Pop, popped)
}

/// Two overlapping pushes, then two pops that saw them in the opposite order
/// to each other's expectations: c3 pops 2 first, so 2 was pushed first.
fn concurrent_pushes(second_pop: Option<u32>) -> Vec<QueueOp> {
    vec![
        push(1, 0, 10, 1),
        push(2, 0, 10, 2),
        pop(3, 20, 30, Some(2)),
        pop(3, 40, 50, second_pop),
    ]
}

#[test]
fn a_queue_may_order_concurrent_pushes_either_way_but_only_once() {
    assert_eq!(
        check(&Queue, &concurrent_pushes(Some(1)), Budget::steps(1000)),
        CheckResult::Linearizable
    );
    match check(&Queue, &concurrent_pushes(Some(2)), Budget::steps(1000)) {
        CheckResult::NotLinearizable {
            label,
            partition,
            partial,
            stuck,
        } => {
            assert_eq!(label, "all", "the default partition holds every operation");
            assert_eq!(partition.len(), 4);
            assert_eq!(partial.len(), 3);
            assert_eq!(stuck, vec![3]);
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn a_lost_push_may_be_popped_later() {
    let history = vec![
        Operation::unknown(1, 0, QueueInput::Push(7)),
        pop(2, 20, 30, Some(7)),
        pop(2, 40, 50, None),
    ];
    assert_eq!(
        check(&Queue, &history, Budget::steps(1000)),
        CheckResult::Linearizable
    );
}

#[test]
fn running_out_of_steps_gives_no_verdict() {
    assert_eq!(
        check(&Queue, &concurrent_pushes(Some(2)), Budget::steps(1)),
        CheckResult::Unknown
    );
    assert_eq!(
        check(&Queue, &concurrent_pushes(Some(1)), Budget::steps(1)),
        CheckResult::Unknown
    );
}

#[test]
fn a_passed_deadline_gives_no_verdict() {
    let budget = Budget::steps(u64::MAX).with_deadline(Instant::now());
    assert_eq!(
        check(&Queue, &concurrent_pushes(Some(1)), budget),
        CheckResult::Unknown
    );
}

#[test]
fn an_empty_history_needs_no_steps() {
    assert_eq!(
        check(&Queue, &[], Budget::steps(0)),
        CheckResult::Linearizable
    );
}

#[test]
#[should_panic(expected = "returned before it was called")]
fn a_return_before_its_call_is_a_harness_bug() {
    let history = vec![Operation {
        client: 1,
        call: 10,
        ret: 5,
        input: QueueInput::Pop,
        output: Outcome::Returned(None),
    }];
    check(&Queue, &history, Budget::steps(1000));
}
