//! Metrics of the data shard: Raft, the WAL, snapshots and the keyspace.
//!
//! Two kinds, so the Raft loop does as little as possible:
//! - [`ShardMetrics`]: events that a scrape could miss, recorded where they happen (a
//!   proposal, a new leader, a snapshot written, a WAL fsync's latency). Each is one atomic
//!   operation in the Raft loop.
//! - `StatusMetrics`: levels (term, indexes, sizes, keys) and totals the shard already keeps
//!   (the WAL's append and fsync counts, which INFO reports too), copied in at scrape time from
//!   the [`NodeStatus`] the admin API asks the Raft loop for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};

use super::histogram::{DurationHistogram, FSYNC_BUCKETS, SNAPSHOT_BUCKETS};
use super::{mirror, U64Gauge};
use crate::shard::NodeStatus;

/// What the Raft side records as it happens. Cloning shares the handles, so the shard and the
/// WAL's fsync observer hold the same counters as the registry.
#[derive(Debug, Clone)]
pub struct ShardMetrics {
    proposals: Counter,
    leader_changes: Counter,
    /// The leader last seen by [`ShardMetrics::leader_seen`] (0: none).
    last_leader: Arc<AtomicU64>,
    snapshots: Counter,
    snapshot_duration: DurationHistogram,
    /// Snapshots streamed to followers (every piece queued) and installed from a leader.
    snapshots_sent: Counter,
    snapshots_installed: Counter,
    wal_fsync_duration: DurationHistogram,
    /// Read batches by [`ReadPath`], indexed in [`ReadPath::ALL`]'s order.
    reads: [Counter; 3],
    /// ReadIndex rounds started: with `reads`, how many batches one round serves.
    read_rounds: Counter,
}

/// How a linearizable read batch was confirmed before it ran (see `ShardHandle::read`). The
/// discriminants index [`ReadPath::ALL`] and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPath {
    /// At once: this node is the group's only voter.
    Local,
    /// At once: this leader's lease held (`read_mode = lease`).
    Lease,
    /// After a ReadIndex round (the default on a cluster, and always on a follower).
    ReadIndex,
}

impl ReadPath {
    /// Every path, in the order INFO lists them.
    pub const ALL: [ReadPath; 3] = [ReadPath::Local, ReadPath::Lease, ReadPath::ReadIndex];

    /// The `path` label value.
    pub fn name(self) -> &'static str {
        match self {
            ReadPath::Local => "local",
            ReadPath::Lease => "lease",
            ReadPath::ReadIndex => "read_index",
        }
    }
}

/// The `path` label of `tinkerdb_reads`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadPathLabel {
    path: String,
}

impl ShardMetrics {
    /// Handles not (yet) in any registry.
    fn new() -> ShardMetrics {
        ShardMetrics {
            proposals: Counter::default(),
            leader_changes: Counter::default(),
            last_leader: Arc::new(AtomicU64::new(0)),
            snapshots: Counter::default(),
            snapshot_duration: DurationHistogram::new(SNAPSHOT_BUCKETS),
            snapshots_sent: Counter::default(),
            snapshots_installed: Counter::default(),
            wal_fsync_duration: DurationHistogram::new(FSYNC_BUCKETS),
            reads: Default::default(),
            read_rounds: Counter::default(),
        }
    }

    /// Makes the handles and registers them under `registry`'s prefix.
    pub(super) fn register(registry: &mut Registry) -> ShardMetrics {
        let mut m = ShardMetrics::new();
        let reads = Family::<ReadPathLabel, Counter>::default();
        m.reads = ReadPath::ALL.map(|path| {
            reads
                .get_or_create(&ReadPathLabel {
                    path: path.name().to_string(),
                })
                .clone()
        });
        registry.register(
            "reads",
            "Linearizable read batches (a pipeline's reads share one) by how they were confirmed: local (single voter), lease (leader lease), read_index (a ReadIndex round)",
            reads,
        );
        registry.register(
            "read_index_rounds",
            "ReadIndex rounds this node started; each confirms every read batch waiting when it started, so reads_total{path=\"read_index\"} over this is the batches one round served",
            m.read_rounds.clone(),
        );
        registry.register(
            "raft_proposals",
            "Entries this node proposed to Raft as leader (client batches, expiry purges, membership changes)",
            m.proposals.clone(),
        );
        registry.register(
            "raft_leader_changes",
            "Times this node saw a new leader (a different node, or any node after a period without one)",
            m.leader_changes.clone(),
        );
        registry.register(
            "snapshots",
            "Snapshots this node wrote of its own state (periodic, SAVE/BGSAVE, or to send to a follower)",
            m.snapshots.clone(),
        );
        registry.register(
            "snapshots_sent",
            "Snapshots this node, as leader, streamed to a follower that was too far behind (every piece handed to the connection)",
            m.snapshots_sent.clone(),
        );
        registry.register(
            "snapshots_installed",
            "Snapshots this node received from the leader and installed in place of its state",
            m.snapshots_installed.clone(),
        );
        registry.register_with_unit(
            "snapshot_duration",
            "Time to write a snapshot (whole milliseconds, as the snapshot store measures it)",
            Unit::Seconds,
            m.snapshot_duration.clone(),
        );
        registry.register_with_unit(
            "wal_fsync_duration",
            "Latency of each WAL segment fdatasync: the floor of a write's commit latency",
            Unit::Seconds,
            m.wal_fsync_duration.clone(),
        );
        m
    }

    /// A proposal was handed to raft-rs.
    pub fn proposed(&self) {
        self.proposals.inc();
    }

    /// Raft reported its known leader (0: none); counts a change to a different, known leader.
    pub fn leader_seen(&self, leader: u64) {
        let previous = self.last_leader.swap(leader, Ordering::Relaxed);
        if leader != 0 && leader != previous {
            self.leader_changes.inc();
        }
    }

    /// A snapshot of this node's state was written.
    pub fn snapshot_written(&self, took: Duration) {
        self.snapshots.inc();
        self.snapshot_duration.observe(took);
    }

    /// A batch of linearizable reads was confirmed through `path` and ran.
    pub fn read_served(&self, path: ReadPath) {
        self.reads[path as usize].inc();
    }

    /// Read batches confirmed through `path` so far (for INFO).
    pub fn reads(&self, path: ReadPath) -> u64 {
        self.reads[path as usize].get()
    }

    /// A snapshot was streamed to a follower.
    pub fn snapshot_sent(&self) {
        self.snapshots_sent.inc();
    }

    /// A snapshot from the leader was installed.
    pub fn snapshot_installed(&self) {
        self.snapshots_installed.inc();
    }

    /// Snapshots streamed to followers and installed from a leader so far (for INFO).
    pub fn snapshot_transfers(&self) -> (u64, u64) {
        (self.snapshots_sent.get(), self.snapshots_installed.get())
    }

    /// The Raft loop started a ReadIndex round (on a follower, raft-rs asks the leader).
    pub fn read_round_started(&self) {
        self.read_rounds.inc();
    }

    /// ReadIndex rounds started so far (for INFO).
    pub fn read_rounds(&self) -> u64 {
        self.read_rounds.get()
    }

    /// A WAL segment fdatasync took `took`.
    pub fn wal_fsynced(&self, took: Duration) {
        self.wal_fsync_duration.observe(took);
    }
}

/// The `peer` label of `tinkerdb_raft_peer_match_index`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: u64,
}

/// The `tenant` label of the keyspace gauges.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

/// Levels and totals copied from the shard's status at scrape time.
#[derive(Debug)]
pub(super) struct StatusMetrics {
    term: U64Gauge,
    leader_id: U64Gauge,
    is_leader: U64Gauge,
    commit_index: U64Gauge,
    applied_index: U64Gauge,
    apply_lag: U64Gauge,
    peer_match_index: Family<PeerLabel, U64Gauge>,
    wal_appends: Counter,
    wal_fsyncs: Counter,
    wal_bytes: U64Gauge,
    wal_segments: U64Gauge,
    snapshot_bytes: U64Gauge,
    snapshot_in_progress: U64Gauge,
    keys: Family<TenantLabel, U64Gauge>,
    memory_bytes: Family<TenantLabel, U64Gauge>,
}

impl StatusMetrics {
    /// Makes the handles and registers them under `registry`'s prefix.
    pub(super) fn register(registry: &mut Registry) -> StatusMetrics {
        let m = StatusMetrics {
            term: U64Gauge::default(),
            leader_id: U64Gauge::default(),
            is_leader: U64Gauge::default(),
            commit_index: U64Gauge::default(),
            applied_index: U64Gauge::default(),
            apply_lag: U64Gauge::default(),
            peer_match_index: Family::default(),
            wal_appends: Counter::default(),
            wal_fsyncs: Counter::default(),
            wal_bytes: U64Gauge::default(),
            wal_segments: U64Gauge::default(),
            snapshot_bytes: U64Gauge::default(),
            snapshot_in_progress: U64Gauge::default(),
            keys: Family::default(),
            memory_bytes: Family::default(),
        };
        let gauges = [
            ("raft_term", "Current Raft term", &m.term),
            (
                "raft_leader_id",
                "Node id of the leader this node knows (0: none)",
                &m.leader_id,
            ),
            (
                "raft_is_leader",
                "1 if this node leads the data group, else 0",
                &m.is_leader,
            ),
            (
                "raft_commit_index",
                "Highest log index known committed",
                &m.commit_index,
            ),
            (
                "raft_applied_index",
                "Highest log index applied to the state machine",
                &m.applied_index,
            ),
            (
                "raft_apply_lag",
                "Committed entries not yet applied (commit index minus applied index)",
                &m.apply_lag,
            ),
            (
                "wal_bytes",
                "Bytes of WAL segment files on disk, preallocated space included",
                &m.wal_bytes,
            ),
            ("wal_segments", "WAL segment files on disk", &m.wal_segments),
            (
                "snapshot_bytes",
                "Size of the newest snapshot file (written here or received from the leader)",
                &m.snapshot_bytes,
            ),
            (
                "snapshot_in_progress",
                "1 while this node writes a snapshot (on its own thread, from a copy-on-write freeze of the keyspace), else 0",
                &m.snapshot_in_progress,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "raft_peer_match_index",
            "On the leader: highest log index known replicated on each member (itself included); absent on followers",
            m.peer_match_index.clone(),
        );
        registry.register(
            "wal_appends",
            "WAL appends (one write of a Ready round's records)",
            m.wal_appends.clone(),
        );
        registry.register(
            "wal_fsyncs",
            "fsync/fdatasync calls of the WAL: segment commits, plus directory syncs on rotation and compaction",
            m.wal_fsyncs.clone(),
        );
        registry.register(
            "keys",
            "Keys stored per tenant, all databases (expired keys not yet purged included, as DBSIZE)",
            m.keys.clone(),
        );
        registry.register(
            "memory_bytes",
            "Estimated bytes of keys, values and per-key bookkeeping per tenant (the accounting behind INFO used_memory, not the process RSS)",
            m.memory_bytes.clone(),
        );
        m
    }

    /// Copies `status` in. Label families are cleared and refilled, so a member that left or
    /// a follower's empty progress shows as absent series; the caller serializes scrapes.
    pub(super) fn refresh(&self, status: &NodeStatus) {
        let r = &status.raft;
        self.term.set(r.term);
        self.leader_id.set(r.leader);
        self.is_leader.set(u64::from(r.role == "leader"));
        self.commit_index.set(r.commit);
        self.applied_index.set(r.applied);
        self.apply_lag.set(r.commit.saturating_sub(r.applied));
        self.snapshot_in_progress
            .set(u64::from(r.snapshot_in_progress));
        self.peer_match_index.clear();
        for p in &r.progress {
            self.peer_match_index
                .get_or_create(&PeerLabel { peer: p.id })
                .set(p.matched);
        }
        mirror(&self.wal_appends, status.wal.appends);
        mirror(&self.wal_fsyncs, status.wal.fsyncs);
        self.wal_bytes.set(status.wal.allocated_bytes);
        self.wal_segments.set(status.wal.segments);
        self.snapshot_bytes
            .set(r.snapshot.as_ref().map_or(0, |s| s.bytes));
        self.keys.clear();
        self.memory_bytes.clear();
        for (tenant, stats) in &status.tenants {
            let label = TenantLabel {
                tenant: tenant.clone(),
            };
            self.keys.get_or_create(&label).set(stats.keys);
            self.memory_bytes
                .get_or_create(&label)
                .set(stats.used_bytes);
        }
    }
}

/// Handles for a shard that reports to no registry (the simulator's nodes, unit tests).
impl Default for ShardMetrics {
    fn default() -> ShardMetrics {
        ShardMetrics::new()
    }
}
