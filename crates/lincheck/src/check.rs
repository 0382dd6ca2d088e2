//! The entry point: split a history into partitions and search each one.
//!
//! This module owns the verdict and its explanation; the search itself is in
//! `search.rs`. It asserts the history's invariants first, because a history
//! with a return before its call is a bug in the harness, not in the database.

use crate::budget::{Budget, Meter};
use crate::history::Operation;
use crate::model::{Model, Partition};
use crate::search::{search, SearchResult};

/// The verdict on a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// Some order of the operations, each placed within its interval, explains
    /// every output the clients saw.
    Linearizable,
    /// No such order exists. The fields describe the first failing partition;
    /// all indices are into the checked history.
    NotLinearizable {
        /// The failing partition's label (for [`kv`](crate::kv), the key).
        label: String,
        /// Every operation of the failing partition.
        partition: Vec<usize>,
        /// The longest linearizable prefix the search found, in linearization order.
        partial: Vec<usize>,
        /// The operations that could have come next after `partial`; the model
        /// rejected each of them, so one of these is where the history breaks.
        stuck: Vec<usize>,
    },
    /// The [`Budget`] ran out first: neither verdict was reached.
    Unknown,
}

/// Decides whether `history` is linearizable with respect to `model`.
///
/// Partitions are checked smallest first, so a violation in a small partition
/// is found before the budget is spent on a large one; the first violation
/// found is reported. `budget` bounds the total work across partitions.
///
/// # Panics
/// If an operation that returned has `ret < call`, or if `model.partition`
/// does not place every operation in exactly one partition.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> CheckResult {
    assert_times_ordered(history);
    let mut partitions = model.partition(history);
    assert_partitions_cover(&partitions, history);
    partitions.sort_by_key(|partition| partition.ops.len());

    let mut meter = Meter::new(budget);
    for partition in partitions {
        match search(model, history, &partition.ops, &mut meter) {
            SearchResult::Linearizable => {}
            SearchResult::Exhausted => return CheckResult::Unknown,
            SearchResult::NotLinearizable { partial, stuck } => {
                let Partition { label, ops } = partition;
                return CheckResult::NotLinearizable {
                    label,
                    partition: ops,
                    partial,
                    stuck,
                };
            }
        }
    }
    CheckResult::Linearizable
}

fn assert_times_ordered<I, O>(history: &[Operation<I, O>]) {
    for (index, op) in history.iter().enumerate() {
        assert!(
            !op.is_returned() || op.call <= op.ret,
            "operation {index} returned before it was called ({} > {})",
            op.call,
            op.ret
        );
    }
}

fn assert_partitions_cover<I, O>(partitions: &[Partition], history: &[Operation<I, O>]) {
    let mut seen = vec![false; history.len()];
    for index in partitions.iter().flat_map(|partition| &partition.ops) {
        assert!(
            *index < history.len(),
            "partition names operation {index} of {}",
            history.len()
        );
        assert!(!seen[*index], "operation {index} is in two partitions");
        seen[*index] = true;
    }
    // Only operations of unknown outcome may be left out (see `Model::partition`).
    let missing = seen
        .iter()
        .zip(history)
        .filter(|(covered, op)| !**covered && op.is_returned())
        .count();
    assert!(
        missing == 0,
        "{missing} operations that returned are in no partition"
    );
}
