//! # tinkerdb-lincheck: is this history linearizable?
//!
//! TinkerDB promises *linearizability*: every command appears to take effect
//! atomically at one instant between the moment the client sent it and the
//! moment the reply arrived, and the replies are what one copy of the data,
//! executing commands in that order, would give. Consequences a test can break:
//!
//! - once a write has returned, every later read sees it or something newer
//!   (no stale reads, no writes that "un-happen");
//! - all clients observe writes in one order;
//! - no read returns a value nobody wrote.
//!
//! The cluster simulator and the kill -9 tests record a *history* (who sent
//! what, when, and what came back) and hand it to [`check`]. This crate knows
//! nothing of Raft or RESP; it sees [`Operation`]s and a [`Model`].
//!
//! ## The algorithm
//!
//! Wing & Gong's search, with Lowe's memoization, as in Porcupine:
//!
//! 1. Each operation contributes a call event and a return event; all events
//!    are sorted by time into one list.
//! 2. Walking the list from the front, any operation whose call comes before
//!    the first return may be the next to take effect. Try them in order: if the
//!    [`Model`] accepts one (its output is possible from the current state),
//!    linearize it, remove its events, and start again from the front.
//! 3. Reaching a return event means that operation had to take effect already
//!    and no candidate worked: undo the last choice and try the next candidate.
//! 4. Memoization: if a set of linearized operations and a model state were
//!    reached before, what follows failed before too, so skip it. This turns a
//!    factorial search into one bounded by (subsets x states) and is what makes
//!    checking practical.
//! 5. Linearizability is *local*: a history is linearizable if and only if the
//!    sub-history of each independent object is. [`Model::partition`] splits
//!    the history (the [`kv`] model by key) and each part is searched alone.
//!
//! The search keeps its own stack, so history length cannot overflow the thread
//! stack, and is bounded by a [`Budget`]; the problem is NP-complete, so running
//! out yields [`CheckResult::Unknown`] rather than a wrong verdict.
//!
//! ## Unknown outcomes
//!
//! A request whose reply never came (timeout, dead connection, killed server) is
//! [`Outcome::Unknown`]: it may have taken effect at any instant after its call,
//! or never. The search treats its return as +infinity and declares success once
//! every operation *with* a reply is linearized; unknown ones left over never
//! took effect. For a write, "never" is indistinguishable from "last".
//!
//! ## Time
//!
//! Operation A precedes B only if A returned strictly before B was called.
//! Equal timestamps are concurrent, so a coarse clock makes the checker more
//! lenient, never wrong in the other direction.
//!
//! ## Layout
//!
//! - `history.rs`: [`Operation`] and [`Outcome`], what harnesses record.
//! - `model.rs`: the [`Model`] trait, the sequential specification.
//! - `check.rs`: [`check`] and [`CheckResult`]; partitions, then searches.
//! - `search.rs`: the Wing & Gong / Lowe search over one partition.
//! - `events.rs`, `bitset.rs`: its data structures.
//! - `budget.rs`: [`Budget`], the limit on work.
//! - `render.rs`: [`render`], a text timeline of a violation for logs.
//! - [`kv`]: the model of TinkerDB's single-key string commands.
//!
//! ## Example
//!
//! ```
//! use tinkerdb_lincheck::kv::{check_kv, KvInput, KvOutput};
//! use tinkerdb_lincheck::{Budget, CheckResult, Operation};
//!
//! // Client 1 writes x=1 and gets its reply at t=10; client 2 reads x at t=20..30.
//! let stale = vec![
//!     Operation::returned(1, 0, 10, KvInput::set("x", "1"), KvOutput::Ok),
//!     Operation::returned(2, 20, 30, KvInput::get("x"), KvOutput::Value(None)),
//! ];
//! let result = check_kv(&stale, Budget::steps(10_000));
//! assert!(matches!(result, CheckResult::NotLinearizable { .. }));
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod bitset;
mod budget;
mod check;
mod events;
mod history;
pub mod kv;
mod model;
mod render;
mod search;

pub use budget::Budget;
pub use check::{check, CheckResult};
pub use history::{Operation, Outcome};
pub use model::{Model, Partition};
pub use render::render;
