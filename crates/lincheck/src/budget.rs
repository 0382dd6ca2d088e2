//! How much work a check may do before it gives up with [`CheckResult::Unknown`].
//!
//! Checking linearizability is NP-complete, so some histories take exponential
//! time. Every search step, and every memo-cache entry, is paid for from one
//! [`Budget`]; that bounds both time and memory.
//!
//! [`CheckResult::Unknown`]: crate::CheckResult::Unknown

use std::time::Instant;

/// The deadline is checked once every this many steps: `Instant::now()` costs
/// more than a step, and a few thousand steps take well under a millisecond.
const DEADLINE_CHECK_INTERVAL_STEPS: u64 = 1024;

/// The limit on one call to [`check`](crate::check), shared by all its partitions.
///
/// Deterministic callers (the cluster simulator) should use `max_steps` only: a
/// wall-clock deadline makes the result depend on machine speed.
///
/// Memory follows steps: a step can add one memo entry of about n/8 bytes (n =
/// operations in the partition) plus one model state, so `max_steps` also caps
/// memory. Histories that linearize easily need about one step per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Search steps (one step = one look at one event) across all partitions.
    pub max_steps: u64,
    /// Give up at this instant, whatever `max_steps` says.
    pub deadline: Option<Instant>,
}

impl Budget {
    /// A budget of `max_steps` steps and no deadline; deterministic.
    pub fn steps(max_steps: u64) -> Self {
        Self {
            max_steps,
            deadline: None,
        }
    }

    /// The same budget, also stopped at `deadline`.
    pub fn with_deadline(self, deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..self
        }
    }
}

/// The running balance of a [`Budget`] during one check.
#[derive(Debug)]
pub(crate) struct Meter {
    steps_left: u64,
    steps_taken: u64,
    deadline: Option<Instant>,
}

impl Meter {
    pub(crate) fn new(budget: Budget) -> Self {
        Self {
            steps_left: budget.max_steps,
            steps_taken: 0,
            deadline: budget.deadline,
        }
    }

    /// Pays for one step; false once the budget is spent (and from then on).
    pub(crate) fn tick(&mut self) -> bool {
        if self.steps_left == 0 {
            return false;
        }
        if self.steps_taken % DEADLINE_CHECK_INTERVAL_STEPS == 0 && self.past_deadline() {
            self.steps_left = 0;
            return false;
        }
        self.steps_left -= 1;
        self.steps_taken += 1;
        true
    }

    fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_out_and_stay_out() {
        let mut meter = Meter::new(Budget::steps(2));
        assert!(meter.tick());
        assert!(meter.tick());
        assert!(!meter.tick());
        assert!(!meter.tick());
    }

    #[test]
    fn a_past_deadline_stops_the_first_step() {
        let mut meter = Meter::new(Budget::steps(100).with_deadline(Instant::now()));
        assert!(!meter.tick());
    }
}
