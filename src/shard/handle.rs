//! The client side of the Raft loop: [`ShardHandle`], the cheap cloneable handle connections
//! and the admin API use, the requests it sends, and the read path: reads run on the caller's
//! task once the Raft loop allows (at once on a single voter, else after a ReadIndex round).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tinkerdb_kv::{KeyspaceStats, ReadCtx};
use tinkerdb_resp::Frame;
use tinkerdb_wal::WalStats;
use tokio::sync::{mpsc, oneshot};

use super::core::{RaftStatus, ReadOp};
use super::driver::{mono_ms, now_ms, REQUEST_TIMEOUT};
use super::entry::Payload;
use super::read_barrier::ReadBarrier;
use super::snapshot::SnapshotInfo;
use super::state_machine::{read_commands, read_versions, SharedKeyspace, SharedUsers};
use super::ShardError;
use crate::metrics::{ReadPath, ShardMetrics};

/// How often start-up checks whether the shard has caught up.
const CATCH_UP_POLL: Duration = Duration::from_millis(5);

pub(super) type Reply<T> = oneshot::Sender<Result<T, ShardError>>;

/// A request from a connection (or the admin API) to the Raft loop.
#[derive(Debug)]
pub(super) enum Request {
    Propose {
        payload: Payload,
        reply: Reply<Vec<Frame>>,
    },
    /// `SAVE`: answered once the snapshot is durable.
    Save {
        reply: Reply<SnapshotInfo>,
    },
    /// `BGSAVE`: answered once the snapshot has started.
    BackgroundSave {
        reply: Reply<()>,
    },
    Status {
        tenant: String,
        reply: Reply<NodeStatus>,
    },
    TransferLeader {
        to: u64,
        reply: Reply<()>,
    },
    ChangeMembers {
        change: MemberChange,
        reply: Reply<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A membership change asked for by an operator.
#[derive(Debug, Clone)]
pub enum MemberChange {
    /// Add a node as a learner (it receives the log but does not vote), with its peer address.
    AddLearner {
        /// The new node's id.
        id: u64,
        /// Its peer address.
        addr: String,
    },
    /// Make a learner a voter.
    Promote {
        /// The learner's id.
        id: u64,
    },
    /// Remove a node (it shuts itself down once it learns).
    Remove {
        /// The node's id.
        id: u64,
    },
    /// Swap a voter for a caught-up learner in one conf change through a joint configuration
    /// (see `Shard::propose_replace`): the voter count stays the same throughout, and the
    /// removed node shuts itself down once the joint configuration is left.
    Replace {
        /// The voter that leaves.
        remove: u64,
        /// The learner that becomes a voter in its place.
        add: u64,
    },
}

/// Everything INFO and the admin API report about the node's storage and Raft state.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// Raft role and progress of the data group.
    pub raft: RaftStatus,
    /// WAL counters.
    pub wal: WalStats,
    /// Whole-keyspace counters.
    pub keyspace: KeyspaceStats,
    /// `(db, keys, keys with expiry)` of the asking tenant.
    pub tenant_dbs: Vec<(u8, u64, u64)>,
    /// Every tenant's totals (keys, estimated memory), for the per-tenant metrics.
    pub tenants: Vec<(String, KeyspaceStats)>,
    /// Whether the WAL fsyncs before acknowledging.
    pub fsync_always: bool,
    /// Peer addresses of members added after the initial cluster.
    pub added_members: Vec<(u64, String)>,
}

/// A leader lease as a connection saw it: which one, and until when.
#[derive(Debug, Clone, Copy)]
struct Lease {
    epoch: u64,
    until_ms: u64,
}

impl Lease {
    /// Whether a read that started under `self` may be answered: `now` is the lease the node
    /// publishes after the read (None: none holds) and `now_ms` the time then. The same lease
    /// must still hold (a renewal keeps the epoch; a revocation or a new term does not) and
    /// the deadline seen before the read must not have passed.
    fn still_covers(&self, now: Option<Lease>, now_ms: u64) -> bool {
        now.is_some_and(|now| now.epoch == self.epoch) && now_ms < self.until_ms
    }
}

/// A cheap, cloneable way to talk to the Raft loop.
#[derive(Debug, Clone)]
pub struct ShardHandle {
    pub(super) tx: mpsc::Sender<Request>,
    pub(super) users: SharedUsers,
    pub(super) local: Arc<LocalReads>,
}

/// What connections need to read the applied state themselves.
///
/// Every read runs on the connection's task against the shared keyspace; what differs is
/// what it waits for first. When `enabled`, nothing: this node is the group's only voter and
/// has applied an entry of its term, so nobody else can commit, every acknowledged write is
/// already applied (replies are sent after apply), and the applied state is exactly what a
/// ReadIndex round would wait for. Nor while this node is a leader whose lease holds
/// (`lease_until_ms`, with `read_mode = lease`). Otherwise the read waits at the `barrier`
/// for a ReadIndex round that started after it arrived.
#[derive(Debug)]
pub(super) struct LocalReads {
    pub(super) enabled: AtomicBool,
    /// While this leader's lease holds (monotonic ms, see `Shard::lease_until_ms`), reads
    /// need no round either. 0: no lease.
    pub(super) lease_until_ms: AtomicU64,
    /// Changes whenever one lease ends and another may begin (see `Driver::publish_lease`).
    pub(super) lease_epoch: AtomicU64,
    /// The leader this node knows (0: none), so a read fails at once during an election.
    pub(super) leader: AtomicU64,
    pub(super) barrier: Arc<ReadBarrier>,
    /// Counts reads by how they were confirmed.
    pub(super) metrics: ShardMetrics,
    pub(super) keyspace: SharedKeyspace,
    pub(super) random: AtomicU64,
}

impl ShardHandle {
    /// Proposes a write (or a batch that contains one); resolves with one reply per command
    /// once the entry is committed and applied.
    pub async fn propose(&self, payload: Payload) -> Result<Vec<Frame>, ShardError> {
        self.call(|reply| Request::Propose { payload, reply }).await
    }

    /// Runs a linearizable read: at once when this node is the only voter or its leader lease
    /// holds, else after a ReadIndex round that started after the read arrived (see
    /// [`ReadBarrier`]). Either way the read itself runs here, on the caller's task.
    pub async fn read(&self, op: &ReadOp<'_>) -> Result<Vec<Frame>, ShardError> {
        if self.local.enabled.load(Ordering::Acquire) {
            self.local.metrics.read_served(ReadPath::Local);
            return Ok(self.read_locally(op));
        }
        if let Some(lease) = self.current_lease() {
            let frames = self.read_locally(op);
            // Checked again after the read, against the same lease: had this task stalled
            // past its end between the first check and the read (a long pause, a frozen VM),
            // or had it been given up meanwhile (a leader transfer), another leader might have
            // committed. Then the round decides, as without a lease.
            if lease.still_covers(self.current_lease(), mono_ms()) {
                self.local.metrics.read_served(ReadPath::Lease);
                return Ok(frames);
            }
        }
        let leader = self.local.leader.load(Ordering::Acquire);
        if leader == 0 {
            return Err(ShardError::NotLeader { leader });
        }
        let barrier = &self.local.barrier;
        let round = barrier.request();
        if !barrier.is_confirmed(round)
            && tokio::time::timeout(REQUEST_TIMEOUT, barrier.wait(round))
                .await
                .is_err()
        {
            return Err(ShardError::Retry(
                "timed out waiting for the cluster to confirm the read".into(),
            ));
        }
        self.local.metrics.read_served(ReadPath::ReadIndex);
        Ok(self.read_locally(op))
    }

    /// This leader's lease, if one holds now (`read_mode = lease`).
    fn current_lease(&self) -> Option<Lease> {
        let epoch = self.local.lease_epoch.load(Ordering::SeqCst);
        let until_ms = self.local.lease_until_ms.load(Ordering::SeqCst);
        (mono_ms() < until_ms).then_some(Lease { epoch, until_ms })
    }

    /// Reads this node's applied state without any round trip: fast, possibly stale on a
    /// follower (what `READONLY` asks for).
    pub fn read_stale(&self, op: &ReadOp<'_>) -> Vec<Frame> {
        self.read_locally(op)
    }

    fn read_locally(&self, op: &ReadOp<'_>) -> Vec<Frame> {
        let keyspace = self
            .local
            .keyspace
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        match op {
            ReadOp::Commands { tenant, ops } => {
                let random = self
                    .local
                    .random
                    .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
                read_commands(
                    &keyspace,
                    tenant,
                    ops,
                    &ReadCtx {
                        now_ms: now,
                        random,
                    },
                )
            }
            ReadOp::Versions { tenant, keys } => read_versions(&keyspace, tenant, keys, now)
                .into_iter()
                .map(|v| Frame::Integer(v as i64))
                .collect(),
        }
    }

    /// Writes a snapshot now and waits for it (`SAVE`).
    pub async fn save(&self) -> Result<SnapshotInfo, ShardError> {
        self.call(|reply| Request::Save { reply }).await
    }

    /// Starts a snapshot and returns once it has started (`BGSAVE`); an error if one is being
    /// written already, as Redis answers.
    pub async fn save_in_background(&self) -> Result<(), ShardError> {
        self.call(|reply| Request::BackgroundSave { reply }).await
    }

    /// Reports role, progress and storage counters.
    pub async fn status(&self, tenant: &str) -> Result<NodeStatus, ShardError> {
        let tenant = tenant.to_string();
        self.call(|reply| Request::Status { tenant, reply }).await
    }

    /// Proposes a membership change (on the leader; elsewhere the error names the leader).
    pub async fn change_members(&self, change: MemberChange) -> Result<(), ShardError> {
        self.call(|reply| Request::ChangeMembers { change, reply })
            .await
    }

    /// Asks the group to move leadership to node `to`.
    pub async fn transfer_leader(&self, to: u64) -> Result<(), ShardError> {
        self.call(|reply| Request::TransferLeader { to, reply })
            .await
    }

    /// Waits until the shard has a leader and has applied its whole committed log (after a
    /// restart: replayed the WAL), so the first clients see recovered state and users.
    /// Gives up after `max_wait` and reports whether it got there.
    pub async fn wait_caught_up(&self, max_wait: Duration) -> Result<bool, ShardError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            if self
                .status(crate::acl::DEFAULT_TENANT)
                .await?
                .raft
                .caught_up
            {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }

    /// Stops the loop after fsyncing the WAL; returns when it has stopped.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Request::Shutdown { reply }).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The replicated users, for `AUTH`.
    pub fn users(&self) -> &SharedUsers {
        &self.users
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, ShardError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| ShardError::Stopped)?;
        rx.await.map_err(|_| ShardError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::Lease;

    const SEEN: Lease = Lease {
        epoch: 3,
        until_ms: 1_000,
    };

    #[test]
    fn a_lease_read_stands_while_the_same_lease_holds() {
        assert!(SEEN.still_covers(Some(SEEN), 999));
        let renewed = Lease {
            until_ms: 1_100,
            ..SEEN
        };
        assert!(SEEN.still_covers(Some(renewed), 999));
    }

    #[test]
    fn a_lease_read_falls_back_after_a_stall_a_revocation_or_a_new_lease() {
        let renewed = Lease {
            until_ms: 1_100,
            ..SEEN
        };
        assert!(
            !SEEN.still_covers(Some(renewed), 1_000),
            "the deadline seen before the read passed during it"
        );
        assert!(!SEEN.still_covers(None, 500), "the lease was given up");
        let next = Lease {
            epoch: 4,
            until_ms: 2_000,
        };
        assert!(
            !SEEN.still_covers(Some(next), 500),
            "another lease, maybe another term"
        );
    }
}
