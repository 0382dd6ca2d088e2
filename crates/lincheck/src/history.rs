//! The record a test harness produces: who asked what, when, and what came back.
//!
//! A history is observed from *outside* the system, by the clients. It owns no
//! logic beyond construction; the search in `search.rs` reads it, never edits it.
//!
//! Invariant: for an operation that returned, `call <= ret`. An operation whose
//! outcome is unknown has no meaningful `ret`; the checker treats it as +infinity.

/// What a client learned about an operation it issued.
///
/// The distinction matters after faults: a request that timed out or whose
/// connection died (typical after `kill -9`) may still have been committed by the
/// cluster. Treating it as "failed" would reject correct histories, and treating it
/// as "succeeded" would accept broken ones; [`Outcome::Unknown`] says exactly what
/// the client knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<O> {
    /// The response arrived: the operation took effect exactly once, at some
    /// instant between its call and its return, and produced this output.
    Returned(O),
    /// No response arrived: the operation took effect at some instant after its
    /// call, or never, and its output is unconstrained.
    Unknown,
}

/// One client operation as seen by the client that issued it.
///
/// Times are in any monotonic unit shared by all clients of one history
/// (simulator ticks, nanoseconds since the test started). Two operations are
/// ordered only if one returned *strictly* before the other was called; equal
/// timestamps count as concurrent, so a coarse clock can only make the checker
/// more lenient, never produce a false alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// The client that issued the operation; used only for reports.
    pub client: u64,
    /// When the request was sent.
    pub call: u64,
    /// When the response was received (`ret >= call`); ignored, and set to
    /// `u64::MAX` by [`Operation::unknown`], when the outcome is unknown.
    pub ret: u64,
    /// What the client asked for, in the model's terms.
    pub input: I,
    /// What the client saw, if anything.
    pub output: Outcome<O>,
}

impl<I, O> Operation<I, O> {
    /// An operation whose response arrived at `ret`.
    ///
    /// # Panics
    /// If `ret < call`: the harness recorded time incorrectly.
    pub fn returned(client: u64, call: u64, ret: u64, input: I, output: O) -> Self {
        assert!(
            call <= ret,
            "operation returned before it was called ({call} > {ret})"
        );
        Self {
            client,
            call,
            ret,
            input,
            output: Outcome::Returned(output),
        }
    }

    /// An operation whose response never arrived: it may take effect at any
    /// instant after `call`, or never.
    pub fn unknown(client: u64, call: u64, input: I) -> Self {
        Self {
            client,
            call,
            ret: u64::MAX,
            input,
            output: Outcome::Unknown,
        }
    }

    /// Whether the client saw a response; only these operations must be linearized.
    pub fn is_returned(&self) -> bool {
        matches!(self.output, Outcome::Returned(_))
    }
}
