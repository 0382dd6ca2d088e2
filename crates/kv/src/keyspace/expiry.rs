//! The per-database expiry index: which keys have a deadline, ordered by deadline.
//!
//! Place in the data flow: [`super::db::Db`] keeps it in step with every change of a deadline;
//! `Keyspace::sample_expired` reads its head so the leader can propose a purge entry, without
//! scanning the keyspace.
//!
//! It stores `(deadline_ms, key hash)` pairs with a count, not keys: 16 bytes per expiring key
//! instead of a second copy of the key. Keys sharing a hash and a deadline share one pair.
//! Invariant: the count of a pair equals the number of entries of that bucket with that
//! deadline; the index never holds deadline 0 ("no deadline").

use std::collections::BTreeMap;

/// Deadlines of one database, earliest first.
#[derive(Debug, Default)]
pub(crate) struct ExpiryIndex {
    pairs: BTreeMap<(u64, u64), u32>,
}

impl ExpiryIndex {
    /// An empty index; `const` so an empty database can be a `static`.
    pub(crate) const fn new() -> Self {
        ExpiryIndex {
            pairs: BTreeMap::new(),
        }
    }

    /// Records that an entry of bucket `hash` now expires at `deadline_ms` (0: nothing to do).
    pub(crate) fn add(&mut self, deadline_ms: u64, hash: u64) {
        if deadline_ms != 0 {
            *self.pairs.entry((deadline_ms, hash)).or_insert(0) += 1;
        }
    }

    /// Forgets one entry of bucket `hash` with `deadline_ms` (0: nothing to do).
    pub(crate) fn remove(&mut self, deadline_ms: u64, hash: u64) {
        if deadline_ms == 0 {
            return;
        }
        let pair = (deadline_ms, hash);
        let count = self.pairs.get_mut(&pair);
        assert!(count.is_some(), "expiry index lost a deadline");
        if let Some(count) = count {
            *count -= 1;
            if *count == 0 {
                self.pairs.remove(&pair);
            }
        }
    }

    /// Buckets holding an entry whose deadline has passed at `now_ms`, earliest first.
    pub(crate) fn due(&self, now_ms: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.pairs
            .range(..=(now_ms, u64::MAX))
            .map(|(&pair, _)| pair)
    }
}
