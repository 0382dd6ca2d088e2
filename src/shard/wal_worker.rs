//! The WAL on a thread of its own, so the Raft loop keeps stepping messages, proposing and
//! applying while an `fdatasync` runs (raft-rs's asynchronous persistence:
//! `advance_append_async`, then `on_persist_ready` once the records are durable).
//!
//! The Raft loop sends each Ready's records as a [`Job::Persist`] tagged with the Ready's number;
//! the worker writes every job queued meanwhile, makes them durable with one commit (group
//! commit: the fsync is shared by everything that arrived while the previous one ran), and
//! reports the highest number done. Jobs are handled strictly in order, so a number reported
//! means every earlier Ready is durable too, which is what `on_persist_ready` assumes.
//!
//! Invariants: a [`Done::Persisted`] is sent only after the commit covering that job returned
//! (under `fsync = always`); after an error the worker reports [`Done::Failed`] once and stops,
//! and the node stops with it (a log that cannot be written must not acknowledge anything).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tinkerdb_wal::{Record, Wal, WalStats};
use tokio::sync::mpsc as tokio_mpsc;
use tracing::warn;

use super::ShardError;

/// Most Ready batches queued for the worker; a full queue makes the Raft loop wait
/// (backpressure from a slow disk).
pub const MAX_QUEUED_JOBS: usize = 1024;

/// Most jobs written before one commit (bounds one fsync's latency).
const MAX_JOBS_PER_COMMIT: usize = 256;

/// Work for the WAL thread.
enum Job {
    /// Write a Ready's records; with `sync`, make them durable before reporting `number`.
    Persist {
        number: u64,
        records: Vec<Record>,
        sync: bool,
    },
    /// A snapshot covers `group`'s log up to `index`: record it and drop old segments.
    Compact { group: u64, index: u64, term: u64 },
    /// Make everything durable, answer, and end the thread.
    Stop {
        reply: mpsc::Sender<Result<(), String>>,
    },
}

/// What the worker tells the Raft loop.
#[derive(Debug)]
pub enum Done {
    /// Every job up to the Ready numbered so is durable.
    Persisted(u64),
    /// Writing or syncing failed; the worker has stopped.
    Failed(String),
}

/// The Raft loop's side of the WAL thread.
pub struct WalWorker {
    jobs: mpsc::SyncSender<Job>,
    stats: Arc<Mutex<WalStats>>,
}

impl WalWorker {
    /// Moves `wal` onto a new thread; completions arrive on `done`.
    pub fn start(wal: Wal, done: tokio_mpsc::UnboundedSender<Done>) -> Result<Self, ShardError> {
        let (jobs, rx) = mpsc::sync_channel(MAX_QUEUED_JOBS);
        let stats = Arc::new(Mutex::new(wal.stats()));
        let shared = Arc::clone(&stats);
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("wal".into())
            .spawn(move || {
                let _guard = span.enter();
                run(wal, &rx, &done, &shared);
            })
            .map_err(|e| ShardError::Fatal(format!("cannot start the WAL thread: {e}")))?;
        Ok(WalWorker { jobs, stats })
    }

    /// Queues a Ready's records. `sync: false` (a commit-only round) lets them ride on the next
    /// fsync; `number` is still reported in order.
    pub fn persist(&self, number: u64, records: Vec<Record>, sync: bool) -> Result<(), ShardError> {
        self.send(Job::Persist {
            number,
            records,
            sync,
        })
    }

    /// Queues a compaction of `group`'s log up to `index` (after the records queued before it).
    pub fn compact(&self, group: u64, index: u64, term: u64) -> Result<(), ShardError> {
        self.send(Job::Compact { group, index, term })
    }

    /// The WAL's counters as of its latest commit.
    pub fn stats(&self) -> WalStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes everything queued durable and stops the thread; waits for it.
    pub fn stop(&self) -> Result<(), ShardError> {
        let (reply, answer) = mpsc::channel();
        self.send(Job::Stop { reply })?;
        answer
            .recv()
            .map_err(|_| ShardError::Fatal("the WAL thread stopped early".into()))?
            .map_err(ShardError::Fatal)
    }

    fn send(&self, job: Job) -> Result<(), ShardError> {
        self.jobs
            .send(job)
            .map_err(|_| ShardError::Fatal("the WAL thread has stopped".into()))
    }
}

fn run(
    mut wal: Wal,
    jobs: &mpsc::Receiver<Job>,
    done: &tokio_mpsc::UnboundedSender<Done>,
    stats: &Mutex<WalStats>,
) {
    loop {
        // Under `fsync = batch`, a deadline says when appended data must be synced at the latest.
        let first = match wal.sync_deadline() {
            Some(at) => match jobs.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = wal.sync() {
                        let _ = done.send(Done::Failed(e.to_string()));
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_JOBS_PER_COMMIT {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut last = None;
        let mut sync = false;
        let mut stop = None;
        let mut result = Ok(());
        for job in batch {
            match job {
                Job::Persist {
                    number,
                    records,
                    sync: needs_sync,
                } => {
                    if !records.is_empty() {
                        result = wal.append(&records).map_err(|e| e.to_string());
                        if result.is_err() {
                            break;
                        }
                    }
                    sync |= needs_sync;
                    last = Some(number);
                }
                Job::Compact { group, index, term } => {
                    if let Err(e) = wal.compact(group, index, term) {
                        // The snapshot is durable; old segments just stay until the next one.
                        warn!(error = %e, "WAL compaction failed");
                    }
                }
                Job::Stop { reply } => {
                    stop = Some(reply);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = if stop.is_some() {
                wal.sync()
            } else if sync {
                wal.commit().map(|_| ())
            } else {
                Ok(())
            }
            .map_err(|e| e.to_string());
        }
        *stats.lock().unwrap_or_else(|p| p.into_inner()) = wal.stats();
        if let Some(reply) = stop {
            let _ = reply.send(result);
            return;
        }
        match result {
            Ok(()) => {
                if let Some(number) = last {
                    let _ = done.send(Done::Persisted(number));
                }
            }
            Err(e) => {
                let _ = done.send(Done::Failed(e));
                return;
            }
        }
    }
    // The Raft loop is gone without a Stop: still leave nothing unsynced.
    let _ = wal.sync();
}
