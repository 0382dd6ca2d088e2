//! Writing a snapshot off the Raft loop.
//!
//! Serializing the whole state machine takes time in proportion to its size (about 0.3 s for a
//! million keys here, a second for three). Inside the Raft loop, that pause would stop
//! heartbeats, appends and replies for as long, and followers that hear nothing for an
//! election timeout start an election. So the shard freezes the keyspace as of the snapshot's
//! index (`Keyspace::freeze`: copy-on-write of each bucket changed before the writer reaches
//! it) and hands its caller a [`SnapshotWriter`], which runs on another thread and takes the
//! keyspace's read lock one chunk at a time. The shard goes on applying meanwhile; once the
//! writer is done, the shard learns of it through its [`SnapshotJob`], ends the freeze and
//! compacts the log.
//!
//! A snapshot installed from the leader meanwhile replaces the keyspace: the writer then fails
//! at its next chunk, and the shard ignores its outcome (the installed snapshot is newer).

use std::sync::{Arc, Mutex};

use raft::prelude::ConfState;

use super::snapshot::{SnapshotError, SnapshotInfo, SnapshotStore};
use super::state_machine::SnapshotSource;

/// The outcome of one snapshot write, as the shard collects it.
pub type WriteResult = Result<SnapshotInfo, SnapshotError>;

/// Writes one snapshot when [`SnapshotWriter::write`] runs, on any thread. Dropping it unrun
/// (a thread that could not start, a panic) reports an error to the job, so the shard never
/// waits for a writer that is gone.
pub struct SnapshotWriter {
    store: SnapshotStore,
    source: SnapshotSource,
    index: u64,
    term: u64,
    conf_state: ConfState,
    job: Arc<SnapshotJob>,
    written: bool,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("index", &self.index)
            .field("term", &self.term)
            .finish_non_exhaustive()
    }
}

impl SnapshotWriter {
    /// A writer of `source` as of `index`/`term` into `store`, reporting to `job`.
    pub(super) fn new(
        store: SnapshotStore,
        source: SnapshotSource,
        (index, term): (u64, u64),
        conf_state: ConfState,
        job: Arc<SnapshotJob>,
    ) -> SnapshotWriter {
        SnapshotWriter {
            store,
            source,
            index,
            term,
            conf_state,
            job,
            written: false,
        }
    }

    /// The log index the snapshot covers.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Writes the snapshot file durably and reports the outcome to the shard's job.
    pub fn write(mut self) {
        let result = self
            .store
            .save(&mut self.source, self.index, self.term, &self.conf_state);
        self.job.finish(result);
        self.written = true;
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.written {
            self.job
                .finish(Err(SnapshotError::Abandoned { index: self.index }));
        }
    }
}

/// Where a writer leaves its outcome for the shard.
#[derive(Debug, Default)]
pub struct SnapshotJob {
    result: Mutex<Option<WriteResult>>,
}

impl SnapshotJob {
    fn finish(&self, result: WriteResult) {
        let mut slot = self.result.lock().unwrap_or_else(|p| p.into_inner());
        // A writer reports once; the drop guard after a successful write finds it set.
        if slot.is_none() {
            *slot = Some(result);
        }
    }

    /// The outcome, if the writer is done (taken: a second call returns `None`).
    pub fn try_take(&self) -> Option<WriteResult> {
        self.result.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::state_machine::StateMachine;

    fn writer(dir: &std::path::Path, job: &Arc<SnapshotJob>) -> SnapshotWriter {
        let store = SnapshotStore::open(dir).expect("open");
        let conf_state = ConfState {
            voters: vec![1],
            ..Default::default()
        };
        SnapshotWriter::new(
            store,
            StateMachine::default().snapshot_source().expect("source"),
            (7, 2),
            conf_state,
            Arc::clone(job),
        )
    }

    #[test]
    fn a_writer_on_another_thread_reports_its_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let job = Arc::new(SnapshotJob::default());
        let w = writer(dir.path(), &job);
        assert_eq!(w.index(), 7);
        assert!(job.try_take().is_none(), "nothing is written yet");
        std::thread::spawn(move || w.write())
            .join()
            .expect("joined");
        let info = job.try_take().expect("done").expect("written");
        assert_eq!((info.index, info.term), (7, 2));
        assert!(job.try_take().is_none(), "the outcome is taken once");
    }

    #[test]
    fn a_writer_dropped_unrun_reports_an_error_instead_of_leaving_the_shard_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let job = Arc::new(SnapshotJob::default());
        drop(writer(dir.path(), &job));
        let err = job.try_take().expect("done").expect_err("abandoned");
        assert!(err.to_string().contains("index 7"), "{err}");
    }
}
