//! The sequential specification a history is checked against.
//!
//! A [`Model`] says what *one* correct copy of the object would do when
//! operations reach it one at a time. It must be a pure function of its
//! arguments: the search calls it many times, in any order, and backtracks by
//! keeping old states, so a model must never mutate shared state or do I/O.

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Operation;

/// A sequential specification: an initial state and a transition function.
///
/// The search only ever asks "could this operation, returning this output, be
/// applied to this state, and what state results?". States are hashed into the
/// memo cache, so they should be small: the value of one key, not a whole map
/// (see [`Model::partition`]).
pub trait Model {
    /// The object's state between operations; cloned and hashed on every step.
    type State: Clone + Eq + Hash + Debug;
    /// An operation as the client issued it. Equal inputs must mean the same operation: the
    /// search treats unknown-outcome operations with equal inputs as interchangeable.
    type Input: Debug + PartialEq;
    /// A response as the client received it.
    type Output: Debug + PartialEq;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` is applied to `state` and returns `output`, or
    /// `None` if a correct object could not have returned `output` from `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// The state after `input` is applied to `state` when the client never saw
    /// the response, or `None` if `input` cannot take effect from `state` at all.
    ///
    /// The search tries one successor per operation, so the model must be
    /// deterministic for inputs that can end up unknown (a key-value register
    /// is). An operation that never took effect needs no method: the search
    /// simply leaves it out of the linearization.
    fn step_unknown(&self, state: &Self::State, input: &Self::Input) -> Option<Self::State>;

    /// Splits the history into independent sub-histories, each checked alone.
    ///
    /// Linearizability is *local* (Herlihy & Wing): a history of independent
    /// objects is linearizable if and only if each object's sub-history is. Checking
    /// k keys of n/k operations each is exponentially cheaper than one history
    /// of n. Every operation must be in exactly one partition, except an
    /// operation of unknown outcome the model knows changes no verdict (nothing
    /// could have observed it), which it may leave out. The default is one
    /// partition holding everything.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Partition> {
        vec![Partition {
            label: String::from("all"),
            ops: (0..history.len()).collect(),
        }]
    }
}

/// One independent sub-history, as returned by [`Model::partition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// A human name for reports, such as the key; need not be unique.
    pub label: String,
    /// Indices into the history, in any order.
    pub ops: Vec<usize>,
}
