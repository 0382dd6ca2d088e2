//! The Raft log as raft-rs sees it: an in-memory window of the entries after the last snapshot,
//! plus hard state, conf state and snapshot metadata. Durability is not this file's job: the
//! shard writes the same entries to the node's WAL before telling raft-rs they are persisted,
//! and [`LogStore::recover`] rebuilds this window from the WAL at start.
//!
//! Invariants: `entries` are contiguous and start at `snapshot_index + 1`; `term(snapshot_index)`
//! is `snapshot_term`.

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use tinkerdb_wal::GroupLog;

/// Errors rebuilding the log from the WAL.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// A WAL entry did not decode as a raft-rs entry.
    #[error("WAL entry {index} of group {group} does not decode: {reason}")]
    BadEntry {
        /// The Raft group.
        group: u64,
        /// The entry's index.
        index: u64,
        /// The decoder's explanation.
        reason: String,
    },
    /// The recorded conf state does not decode.
    #[error("WAL conf state of group {group} does not decode: {reason}")]
    BadConfState {
        /// The Raft group.
        group: u64,
        /// The decoder's explanation.
        reason: String,
    },
}

/// raft-rs storage for one group.
#[derive(Debug, Default)]
pub struct LogStore {
    /// The newest snapshot prepared for sending to followers.
    prepared: Option<PreparedSnapshot>,
    /// Set when raft-rs asked for a snapshot newer than `prepared` (it will ask again).
    snapshot_wanted: std::cell::Cell<bool>,
    hard_state: HardState,
    conf_state: ConfState,
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry>,
    entry_bytes: u64,
}

impl LogStore {
    /// A brand-new group whose first configuration is `voters` (all nodes bootstrap the same).
    ///
    /// Founding members (non-empty `voters`) start from an empty "snapshot" at index 1, term 1
    /// that holds the initial configuration, as raft-rs's examples do: a node that joins later
    /// (empty `voters`, log at 0) then can never be sent entries from index 1 and receives a
    /// real snapshot first, which carries the configuration it must build on.
    pub fn bootstrap(voters: Vec<u64>) -> LogStore {
        let founding = !voters.is_empty();
        let point = u64::from(founding);
        LogStore {
            conf_state: ConfState {
                voters,
                ..Default::default()
            },
            snapshot_index: point,
            snapshot_term: point,
            hard_state: HardState {
                term: point,
                commit: point,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Rebuilds the store from what the WAL recovered, on top of the loaded snapshot
    /// (`snapshot` is `(index, term, conf_state)` of the newest valid snapshot file, if any).
    pub fn recover(
        group: u64,
        log: &GroupLog,
        snapshot: Option<(u64, u64, ConfState)>,
    ) -> Result<LogStore, RecoverError> {
        let mut store = LogStore::default();
        if let Some((index, term, conf_state)) = snapshot {
            store.snapshot_index = index;
            store.snapshot_term = term;
            store.conf_state = conf_state;
        }
        if let (Some(data), false) = (&log.conf_state, store.snapshot_index > 0) {
            // The WAL's conf state is the bootstrap one; a snapshot's is newer, and changes
            // after it are re-applied from the log's conf change entries.
            store.conf_state =
                ConfState::parse_from_bytes(data).map_err(|e| RecoverError::BadConfState {
                    group,
                    reason: e.to_string(),
                })?;
        }
        if let Some((index, term)) = log.compacted {
            // The WAL's compaction point is never ahead of the newest snapshot file, except for
            // the bootstrap point (index 1), which has no file: its state is the empty one.
            if index > store.snapshot_index {
                store.snapshot_index = index;
                store.snapshot_term = term;
            }
        }
        if let Some(hs) = &log.hard_state {
            store.hard_state = HardState {
                term: hs.term,
                vote: hs.vote,
                commit: hs.commit,
                ..Default::default()
            };
        }
        let entries = log
            .entries
            .iter()
            .filter(|e| e.index > store.snapshot_index)
            .map(|e| {
                Entry::parse_from_bytes(&e.data).map_err(|err| RecoverError::BadEntry {
                    group,
                    index: e.index,
                    reason: err.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(first) = entries.first() {
            if first.index != store.snapshot_index + 1 {
                // Entries before the snapshot were compacted but the snapshot is older than the
                // WAL's compaction point: the WAL has everything from its own compact point on.
                store.snapshot_index = first.index - 1;
                if let Some((_, term)) = log.compacted {
                    store.snapshot_term = term;
                }
            }
        }
        store.entry_bytes = entries.iter().map(|e| e.data.len() as u64).sum();
        store.entries = entries;
        // The commit index can't be below the snapshot (a snapshot holds only committed data).
        store.hard_state.commit = store.hard_state.commit.max(store.snapshot_index);
        Ok(store)
    }

    /// Appends entries from a Ready, truncating any conflicting suffix first (Raft log overwrite).
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        assert!(
            first.index > self.snapshot_index,
            "append at {} overwrites the snapshot at {}",
            first.index,
            self.snapshot_index
        );
        let keep = (first.index - self.snapshot_index - 1) as usize;
        assert!(
            keep <= self.entries.len(),
            "log gap: append at {} after {}",
            first.index,
            self.last()
        );
        for removed in self.entries.drain(keep..) {
            self.entry_bytes -= removed.data.len() as u64;
        }
        self.entry_bytes += entries.iter().map(|e| e.data.len() as u64).sum::<u64>();
        self.entries.extend_from_slice(entries);
    }

    /// The hard state last recorded (what the WAL holds, or is about to).
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// Records a new hard state (term, vote, commit).
    ///
    /// Invariants (Raft's safety rests on them): the term never goes back, and neither does
    /// the commit index (committed entries are never un-committed).
    pub fn set_hard_state(&mut self, hs: HardState) {
        assert!(
            hs.term >= self.hard_state.term,
            "term regression: {} after {}",
            hs.term,
            self.hard_state.term
        );
        assert!(
            hs.commit >= self.hard_state.commit,
            "commit regression: {} after {}",
            hs.commit,
            self.hard_state.commit
        );
        self.hard_state = hs;
    }

    /// Records the configuration after a membership change is applied.
    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = cs;
    }

    /// Replaces the whole log with a received snapshot's point.
    pub fn install_snapshot(&mut self, index: u64, term: u64, conf_state: ConfState) {
        self.entries.clear();
        self.entry_bytes = 0;
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.conf_state = conf_state;
        self.hard_state.commit = self.hard_state.commit.max(index);
    }

    /// Whether raft-rs asked for a snapshot that is not prepared yet (clears the flag).
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// Offers a snapshot file to raft-rs for sending to followers.
    pub fn set_prepared_snapshot(&mut self, snapshot: PreparedSnapshot) {
        self.prepared = Some(snapshot);
    }

    /// The current configuration.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// Drops entries up to `index` (inclusive), now covered by a snapshot with `term`.
    pub fn compact(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        let drop = ((index - self.snapshot_index) as usize).min(self.entries.len());
        for removed in self.entries.drain(..drop) {
            self.entry_bytes -= removed.data.len() as u64;
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Index of the last entry (or the snapshot's when the window is empty).
    pub fn last(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    /// The snapshot point `(index, term)` the window starts after.
    pub fn snapshot_point(&self) -> (u64, u64) {
        (self.snapshot_index, self.snapshot_term)
    }

    /// Payload bytes held in the window; drives the "snapshot every M bytes" policy.
    pub fn entry_bytes(&self) -> u64 {
        self.entry_bytes
    }

    /// Term of an entry known to be in the window or at the snapshot point.
    pub fn term_of(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        let offset = index.checked_sub(self.snapshot_index + 1)? as usize;
        self.entries.get(offset).map(|e| e.term)
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.snapshot_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - self.snapshot_index - 1) as usize;
        let hi = (high - self.snapshot_index - 1) as usize;
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let mut size = 0u64;
        let mut out = Vec::with_capacity(hi - lo);
        for entry in &self.entries[lo..hi] {
            size += entry.compute_size() as u64;
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(entry.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx < self.snapshot_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.term_of(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snapshot_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        // Building a snapshot needs the state machine, which this store does not own: flag the
        // request; the shard prepares one right after and raft-rs asks again. A prepared
        // snapshot from before `to` joined would tell it it is no member: prepare a newer one.
        // The message carries only the metadata: the driver streams the file itself to the
        // peer, piece by piece (`snapshot_transfer`). If the file was pruned meanwhile, a
        // newer one is prepared instead.
        let ready = match &self.prepared {
            Some(prepared)
                if prepared.metadata.index >= request_index.max(self.snapshot_index)
                    && includes(prepared.metadata.get_conf_state(), to)
                    && prepared.path.exists() =>
            {
                Some(prepared.metadata.clone())
            }
            _ => None,
        };
        match ready {
            Some(metadata) => Ok(Snapshot {
                metadata: protobuf::SingularPtrField::some(metadata),
                ..Default::default()
            }),
            None => {
                self.snapshot_wanted.set(true);
                Err(raft::Error::Store(
                    StorageError::SnapshotTemporarilyUnavailable,
                ))
            }
        }
    }
}

/// A snapshot file offered to followers: its place in the log and where it is.
#[derive(Debug, Clone)]
pub struct PreparedSnapshot {
    /// Index, term and configuration it covers.
    pub metadata: raft::prelude::SnapshotMetadata,
    /// The snapshot file.
    pub path: std::path::PathBuf,
}

/// Whether a snapshot's configuration lists `id`, as raft-rs requires of a snapshot it
/// restores: an outgoing voter of a joint configuration is listed too.
fn includes(cs: &ConfState, id: u64) -> bool {
    cs.voters.contains(&id)
        || cs.learners.contains(&id)
        || cs.voters_outgoing.contains(&id)
        || cs.learners_next.contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![index as u8].into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_snapshot_of_a_joint_configuration_serves_its_outgoing_voters() {
        let mut store = LogStore::bootstrap(vec![1, 2, 3]);
        let joint = ConfState {
            voters: vec![2, 3, 4],
            voters_outgoing: vec![1, 2, 3],
            auto_leave: true,
            ..Default::default()
        };
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut metadata = raft::prelude::SnapshotMetadata {
            index: 1,
            ..Default::default()
        };
        metadata.set_conf_state(joint);
        store.set_prepared_snapshot(PreparedSnapshot {
            metadata,
            path: file.path().to_path_buf(),
        });
        for to in [1, 4] {
            assert!(
                store.snapshot(1, to).is_ok(),
                "node {to} is in the configuration"
            );
        }
        assert!(store.snapshot(1, 5).is_err(), "node 5 is not");
        assert!(store.take_snapshot_wanted());
    }

    #[test]
    fn recovery_keeps_a_joint_configuration_from_the_snapshot() {
        let joint = ConfState {
            voters: vec![2, 3, 4],
            voters_outgoing: vec![1, 2, 3],
            learners_next: vec![5],
            auto_leave: true,
            ..Default::default()
        };
        let log = GroupLog::default();
        let store = LogStore::recover(1, &log, Some((7, 2, joint.clone()))).expect("recover");
        assert_eq!(store.conf_state(), &joint);
        assert_eq!(store.snapshot_point(), (7, 2));
    }

    #[test]
    fn append_overwrites_conflicting_suffix() {
        let mut store = LogStore::bootstrap(Vec::new());
        store.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        store.append(&[entry(2, 2)]);
        assert_eq!(store.last(), 2);
        assert_eq!(store.term(2).expect("term"), 2);
        assert_eq!(store.entry_bytes(), 2);
    }

    #[test]
    fn compaction_keeps_term_of_snapshot_point() {
        let mut store = LogStore::bootstrap(Vec::new());
        store.append(&[entry(1, 1), entry(2, 1), entry(3, 2)]);
        store.compact(2, 1);
        assert_eq!(store.first_index().expect("first"), 3);
        assert_eq!(store.term(2).expect("term"), 1);
        assert!(store.term(1).is_err());
        assert!(store
            .entries(2, 4, None, GetEntriesContext::empty(false))
            .is_err());
        assert_eq!(
            store
                .entries(3, 4, None, GetEntriesContext::empty(false))
                .expect("e")
                .len(),
            1
        );
    }
}
