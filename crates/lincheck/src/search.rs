//! The Wing & Gong search with Lowe's memoization, over one partition.
//!
//! State of the search:
//! - `events`: the not-yet-linearized operations' call and return events, in time order;
//! - `stack`: the linearized operations in order, each with the model state before it;
//! - `state`: the model state after the whole stack;
//! - `cache`: every (linearized set, state) pair already explored.
//!
//! Loop: look at the event under the cursor.
//! - A call whose operation the model accepts from `state` is linearized next,
//!   unless the resulting (set, state) is in the cache: some earlier branch
//!   reached exactly this situation and failed, so this one would too. The
//!   cursor goes back to the front.
//! - A call the model rejects: move the cursor on and try the next candidate.
//! - A return: the operation it ends must take effect before anything called
//!   later, yet every candidate failed. Undo the last linearized operation and
//!   continue with the candidate after it. An empty stack means no order works.
//!
//! The search succeeds once every *returned* operation is linearized. Operations
//! with an unknown outcome still in the list at that point never took effect,
//! which is always allowed; for a write it is the same as taking effect after
//! everything else. Their return events sit at +infinity, so they are candidates
//! from their call onwards and never force a backtrack before that point.
//!
//! Unknown-outcome operations with equal inputs (clients that died in the middle of the same
//! `INCR`) are interchangeable: a linearization that uses some of them can use the earliest
//! called ones instead, since an earlier call only widens where one may go and neither output
//! is known. So the search takes them only in call order ([`Search::twin_before`]). Without
//! that rule, k such operations of which j took effect give C(k, j) equivalent linearized sets,
//! each explored (and cached) on its own, and a few dozen make a check run out of budget.
//!
//! It is iterative (the stack is a `Vec`), so deep histories cannot overflow
//! the thread stack, and every iteration is paid for by the [`Meter`].

use std::collections::HashSet;
use std::mem;

use crate::bitset::BitSet;
use crate::budget::Meter;
use crate::events::{EventList, Kind, Time};
use crate::history::{Operation, Outcome};
use crate::model::Model;

/// How the search of one partition ended. Indices are into the full history.
#[derive(Debug)]
pub(crate) enum SearchResult {
    Linearizable,
    NotLinearizable {
        partial: Vec<usize>,
        stuck: Vec<usize>,
    },
    Exhausted,
}

/// Checks the operations `ops` (indices into `history`) as one partition.
pub(crate) fn search<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    ops: &[usize],
    meter: &mut Meter,
) -> SearchResult {
    Search::new(model, history, ops).run(meter)
}

/// One linearized operation and the model state from before it.
struct Frame<S> {
    op: usize,
    before: S,
}

/// The deepest point the search reached: the best explanation of a failure.
struct Deepest {
    /// Partition-local indices, in linearization order.
    partial: Vec<usize>,
    /// Partition-local indices of the operations that could have come next.
    stuck: Vec<usize>,
}

struct Search<'a, M: Model> {
    model: &'a M,
    history: &'a [Operation<M::Input, M::Output>],
    /// Partition-local index -> history index.
    ops: &'a [usize],
    events: EventList,
    linearized: BitSet,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    cache: HashSet<(BitSet, M::State)>,
    /// Operations with a response that are not linearized yet; success at zero.
    returned_left: usize,
    /// For an unknown-outcome operation, the one with an equal input called just before it
    /// (partition-local): it may be linearized only after that one (see the module docs).
    twin_before: Vec<Option<usize>>,
    deepest: Deepest,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, history: &'a [Operation<M::Input, M::Output>], ops: &'a [usize]) -> Self {
        let intervals: Vec<(Time, Time)> = ops.iter().map(|&i| interval(&history[i])).collect();
        let events = EventList::new(&intervals);
        let deepest = Deepest {
            partial: Vec::new(),
            stuck: events.candidates(),
        };
        Self {
            model,
            history,
            ops,
            events,
            linearized: BitSet::new(ops.len()),
            state: model.init(),
            stack: Vec::new(),
            cache: HashSet::new(),
            returned_left: ops.iter().filter(|&&i| history[i].is_returned()).count(),
            twin_before: twins_before(history, ops),
            deepest,
        }
    }

    fn run(mut self, meter: &mut Meter) -> SearchResult {
        let mut cursor = self.events.first();
        loop {
            if self.returned_left == 0 {
                return SearchResult::Linearizable;
            }
            if !meter.tick() {
                return SearchResult::Exhausted;
            }
            // A returned operation is still in the list, so its return event is
            // ahead of the cursor: the walk always stops at a return first.
            let Some(node) = cursor else {
                panic!(
                    "search cursor ran off the event list with {} ops left",
                    self.returned_left
                )
            };
            let event = self.events.event(node);
            cursor = match event.kind {
                Kind::Call if self.try_linearize(event.op) => self.events.first(),
                Kind::Call => self.events.next(node),
                Kind::Return => match self.backtrack() {
                    Some(op) => self.events.next(self.events.call_node(op)),
                    None => return self.failure(),
                },
            };
        }
    }

    /// Linearizes `op` next if the model allows it and the result is unexplored.
    fn try_linearize(&mut self, op: usize) -> bool {
        if self.twin_before[op].is_some_and(|twin| !self.linearized.contains(twin)) {
            return false;
        }
        let Some(after) = self.step(op) else {
            return false;
        };
        self.linearized.insert(op);
        if !self.cache.insert((self.linearized.clone(), after.clone())) {
            self.linearized.remove(op);
            return false;
        }
        let before = mem::replace(&mut self.state, after);
        self.stack.push(Frame { op, before });
        self.events.lift(op);
        if self.is_returned(op) {
            self.returned_left -= 1;
        }
        self.note_depth();
        true
    }

    /// Undoes the last linearization, returning its operation; `None` if none is left.
    fn backtrack(&mut self) -> Option<usize> {
        let Frame { op, before } = self.stack.pop()?;
        self.events.unlift(op);
        self.linearized.remove(op);
        self.state = before;
        if self.is_returned(op) {
            self.returned_left += 1;
        }
        Some(op)
    }

    /// The model's verdict on applying `op` to the current state.
    fn step(&self, op: usize) -> Option<M::State> {
        let operation = &self.history[self.ops[op]];
        match &operation.output {
            Outcome::Returned(output) => self.model.step(&self.state, &operation.input, output),
            Outcome::Unknown => self.model.step_unknown(&self.state, &operation.input),
        }
    }

    fn is_returned(&self, op: usize) -> bool {
        self.history[self.ops[op]].is_returned()
    }

    /// Remembers the stack if it is the deepest yet. At the deepest point every
    /// candidate was rejected by the model (an accepted one would be deeper, and
    /// a cached one means we were deeper before), so it explains the failure.
    fn note_depth(&mut self) {
        if self.stack.len() > self.deepest.partial.len() {
            self.deepest.partial = self.stack.iter().map(|frame| frame.op).collect();
            self.deepest.stuck = self.events.candidates();
        }
    }

    fn failure(self) -> SearchResult {
        let global = |local: Vec<usize>| local.into_iter().map(|op| self.ops[op]).collect();
        SearchResult::NotLinearizable {
            partial: global(self.deepest.partial),
            stuck: global(self.deepest.stuck),
        }
    }
}

/// For each operation of `ops` (partition-local), the unknown-outcome operation with an equal
/// input called just before it, if it is one of unknown outcome too.
fn twins_before<I: PartialEq, O>(history: &[Operation<I, O>], ops: &[usize]) -> Vec<Option<usize>> {
    let mut unknown: Vec<usize> = (0..ops.len())
        .filter(|&local| !history[ops[local]].is_returned())
        .collect();
    unknown.sort_by_key(|&local| (history[ops[local]].call, local));
    let mut twin_before = vec![None; ops.len()];
    for (position, &local) in unknown.iter().enumerate() {
        let input = &history[ops[local]].input;
        twin_before[local] = unknown[..position]
            .iter()
            .rev()
            .find(|&&earlier| history[ops[earlier]].input == *input)
            .copied();
    }
    twin_before
}

/// An operation's interval as the event list sees it.
fn interval<I, O>(operation: &Operation<I, O>) -> (Time, Time) {
    let ret = match operation.output {
        Outcome::Returned(_) => Time::At(operation.ret),
        Outcome::Unknown => Time::Never,
    };
    (Time::At(operation.call), ret)
}
