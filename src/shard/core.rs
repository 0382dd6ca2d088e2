//! One Raft group, without threads or sockets: raft-rs's `RawNode`, its log window, the state
//! machine and the snapshot folder. The driver (or, later, a deterministic simulator) feeds it
//! requests, ticks and a clock, and carries out the [`Effects`] it asks for: WAL records to make
//! durable, replies to deliver, log compactions.
//!
//! The Ready handling follows raft-rs's asynchronous persistence, so the WAL can fsync on its
//! own thread while the group keeps working: [`Shard::collect_ready`] applies what is committed
//! (and durable here) and hands out entries and hard state to persist; [`Shard::advance_async`]
//! advances raft-rs without waiting; [`Shard::on_persisted`] tells it, later, which Readys the
//! WAL made durable, and the next Ready carries what that commits.
//!
//! Invariants (asserted): the applied index only grows, and never passes the commit index.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use protobuf::Message as _;
use raft::prelude::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
    Entry, EntryType, Message, MessageType, Ready, Snapshot,
};
use raft::{Changer, ProgressState, RawNode, StateRole};
use tinkerdb_resp::Frame;
use tinkerdb_wal::{HardState as WalHardState, LogEntry, Record};
use tracing::{debug, error, info, warn};

use super::append_merge::merge_appends;
use super::entry::{DbCommand, Payload, ProposalTag};
use super::read_barrier::ReadBarrier;
use super::snapshot::{LoadedSnapshot, SnapshotError, SnapshotInfo, SnapshotStore};
use super::snapshot_job::{SnapshotJob, SnapshotWriter, WriteResult};
use super::snapshot_transfer::{
    ReceiveProgress, ReceivedSnapshot, SnapshotPiece, SnapshotReceiver,
};
use super::state_machine::{LoadedState, SharedUsers, StateMachine};
use super::storage::{LogStore, PreparedSnapshot};
use super::ShardError;
use crate::metrics::ShardMetrics;

/// What a read asks for. It borrows the caller's commands: a read is answered from this node's
/// state, never queued, so a session reuses its batch buffer from one read to the next.
#[derive(Debug)]
pub enum ReadOp<'a> {
    /// Read-only commands.
    Commands {
        /// The client's tenant.
        tenant: &'a str,
        /// The commands.
        ops: &'a [DbCommand],
    },
    /// Key versions for `WATCH`.
    Versions {
        /// The client's tenant.
        tenant: &'a str,
        /// `(db, key)` pairs.
        keys: &'a [(u8, Bytes)],
    },
}

/// The answer to a request, delivered by the driver to whoever waits on `token`.
#[derive(Debug)]
pub struct Done {
    /// The waiter's token.
    pub token: u64,
    /// Replies (one per command), versions (as integer frames) or why it failed.
    pub result: Result<Vec<Frame>, ShardError>,
}

/// Work the shard hands to its driver.
#[derive(Debug, Default)]
pub struct Effects {
    /// WAL records to append; the Ready counts as persisted once they are durable.
    pub records: Vec<Record>,
    /// Set when `records` carry nothing but a new commit index. Such a record need not be
    /// fsynced before the Ready counts as persisted: the entries it points at are already durable (here
    /// and on a quorum), and a commit index lost in a crash is learnt again from the leader. It
    /// becomes durable with the next fsync, so a commit-only round (heartbeats on a follower,
    /// the commit advance on a leader) costs no fsync of its own.
    pub commit_only: bool,
    /// Completed requests.
    pub done: Vec<Done>,
    /// `(group, index, term)`: a snapshot now covers the log up to `index`.
    pub compactions: Vec<(u64, u64, u64)>,
    /// raft-rs messages to send to peers.
    pub messages: Vec<Message>,
    /// A snapshot to write off the Raft loop: the caller runs [`SnapshotWriter::write`] on
    /// another thread (or later) and then, when told it is done, calls
    /// [`Shard::poll_snapshot`]. The shard goes on applying meanwhile: the writer reads the
    /// keyspace as frozen at the snapshot's index (copy-on-write).
    pub snapshot: Option<SnapshotWriter>,
    /// A snapshot started earlier is now written (or failed): the answer for `SAVE`.
    pub snapshot_written: Option<Result<SnapshotInfo, ShardError>>,
    /// The state a leader's snapshot replaced: the caller drops it off the Raft loop (freeing
    /// millions of keys takes a while).
    pub replaced_state: Option<LoadedState>,
}

/// What [`Shard::start_snapshot`] did.
#[derive(Debug)]
pub enum SnapshotStart {
    /// A writer is in `Effects::snapshot`; its outcome arrives in `Effects::snapshot_written`.
    Started,
    /// The newest snapshot already covers everything applied.
    UpToDate(SnapshotInfo),
    /// A snapshot is being written already (`SAVE` answers "Background save already in
    /// progress", as Redis does).
    AlreadyRunning,
}

/// Settings of one shard.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// This node's id (the Raft peer id).
    pub node_id: u64,
    /// The Raft group id.
    pub group: u64,
    /// Initial voters, when the group is created rather than recovered.
    pub voters: Vec<u64>,
    /// Ticks without a leader before campaigning.
    pub election_ticks: usize,
    /// Ticks between heartbeats.
    pub heartbeat_ticks: usize,
    /// How long (monotonic milliseconds) a ReadIndex round confirmed by a quorum lets the
    /// leader read without another round; 0 turns leases off (every read takes a round). Must
    /// stay below `election_ticks - 1` ticks: see [`Shard::lease_until_ms`].
    pub lease_ms: u64,
    /// Snapshot after this many applied entries.
    pub snapshot_entries: u64,
    /// Snapshot once the log window holds this many bytes.
    pub snapshot_log_bytes: u64,
    /// Whether raft-rs draws each election timeout at random in `[election_ticks,
    /// 2 * election_ticks)` (production), or uses exactly `election_ticks`: raft-rs draws from
    /// an unseeded generator, so a deterministic simulator turns it off and varies timing by
    /// ticking nodes at seeded moments instead.
    pub randomized_election: bool,
    /// Identifies this run of the process in proposal tags (see `ProposalTag`); random in
    /// production, fixed by a simulator for determinism.
    pub boot_id: u64,
    /// Where the shard counts proposals, leader changes and snapshots (atomics only; nothing
    /// the shard decides depends on them).
    pub metrics: ShardMetrics,
}

/// The leader lease for a Raft timing: 80% of the shortest time in which a follower that heard
/// from the leader can vote for someone else, `election_ticks - 1` tick intervals of at least
/// `shortest_tick_ms` (its first tick may come right after the heartbeat). The 20% margin is
/// for clocks that run at different rates.
pub const fn lease_ms_for(election_ticks: usize, shortest_tick_ms: u64) -> u64 {
    (election_ticks.saturating_sub(1) as u64).saturating_mul(shortest_tick_ms) * 4 / 5
}

/// Most ReadIndex rounds in flight at once. Each round costs a heartbeat to every follower and
/// their answers; reads that arrive while the rounds are out wait and share the next one, so
/// under load one heartbeat serves hundreds of reads instead of a few (as etcd batches them).
const MAX_READ_ROUNDS_IN_FLIGHT: usize = 1;

/// Ticks after which an unanswered ReadIndex round is asked again (the leader drops requests
/// it cannot serve yet, and messages can be lost).
const READ_RETRY_TICKS: u32 = 3;

/// One peer's replication progress, as the leader sees it.
#[derive(Debug, Clone)]
pub struct PeerProgress {
    /// The peer's node id.
    pub id: u64,
    /// Highest index known to be replicated on it.
    pub matched: u64,
    /// Next index to send.
    pub next: u64,
    /// probe / replicate / snapshot.
    pub state: String,
    /// Whether it is a voter (else a learner).
    pub voter: bool,
    /// In state `snapshot`: the index of the snapshot being sent to it (else 0).
    pub pending_snapshot: u64,
}

/// Raft role and progress, for INFO and the admin API.
#[derive(Debug, Clone, Default)]
pub struct RaftStatus {
    /// Raft group id.
    pub group: u64,
    /// This node's id.
    pub node_id: u64,
    /// leader / follower / candidate / pre-candidate.
    pub role: &'static str,
    /// Current term.
    pub term: u64,
    /// Known leader (0: none).
    pub leader: u64,
    /// Commit index.
    pub commit: u64,
    /// Applied index.
    pub applied: u64,
    /// Last log index.
    pub last_index: u64,
    /// First index still in the log.
    pub first_index: u64,
    /// Log window payload bytes.
    pub log_bytes: u64,
    /// Voters (during a joint configuration: the incoming ones, C_new).
    pub voters: Vec<u64>,
    /// The outgoing voters (C_old) while the group is in a joint configuration, which takes a
    /// majority of both to commit; empty otherwise. Shown so an operator sees a replace in
    /// progress (it normally lasts one round trip).
    pub voters_outgoing: Vec<u64>,
    /// Learners.
    pub learners: Vec<u64>,
    /// Each peer's progress (leader only; empty on followers).
    pub progress: Vec<PeerProgress>,
    /// The newest snapshot.
    pub snapshot: Option<SnapshotInfo>,
    /// A snapshot is being written off the Raft loop.
    pub snapshot_in_progress: bool,
    /// A leader's snapshot on its way in: being received, or loaded off the Raft loop.
    pub snapshot_receive: Option<ReceiveProgress>,
    /// A leader is known and this node has applied everything known committed (a leader: also
    /// committed in its own term, so its log's tail from before a restart is applied too).
    pub caught_up: bool,
}

/// One Raft group and its state machine.
pub struct Shard {
    config: ShardConfig,
    raw: RawNode<LogStore>,
    sm: StateMachine,
    snapshots: SnapshotStore,
    /// Snapshot pieces from the leader, written to files in the snapshot folder.
    receiver: SnapshotReceiver,
    /// The snapshot received and being loaded off the Raft loop, if any, with the term of the
    /// leader that sent it.
    loading: Option<(ReceiveProgress, u64)>,
    /// The loaded snapshot raft-rs accepted as its pending one, until a Ready installs it.
    accepted: Option<LoadedSnapshot>,
    last_snapshot: Option<SnapshotInfo>,
    applied: u64,
    now_ms: u64,
    last_proposed_ms: u64,
    /// ReadIndex rounds asked for and not yet answered.
    inflight_reads: BTreeMap<u64, ReadRound>,
    proposed: BTreeMap<u64, u64>,
    /// Rounds whose read index came back, waiting for it to be applied: (round, index).
    confirmed_reads: Vec<(u64, u64)>,
    next_read_round: u64,
    /// Connections waiting for a round to read the applied state themselves.
    barrier: Arc<ReadBarrier>,
    /// A connection asked for a round that has not started yet.
    round_wanted: bool,
    /// Monotonic milliseconds (any origin; only differences count), for leases.
    mono_ms: u64,
    /// When this shard first saw the monotonic clock: it refuses votes for a lease's length
    /// after that (see [`Shard::step`]).
    opened_mono_ms: Option<u64>,
    /// The leader lease: reads need no round before `lease_until` (monotonic ms), while still
    /// leading in `lease_term`. 0: none.
    lease_until: u64,
    lease_term: u64,
    /// Followers' read-index requests answered from the lease, to send.
    lease_answers: Vec<Message>,
    /// The snapshot being written off the loop, with the index it covers (see
    /// `snapshot_job`).
    writing: Option<(u64, Arc<SnapshotJob>)>,
}

/// One ReadIndex round in flight.
#[derive(Debug, Clone, Copy)]
struct ReadRound {
    /// Ticks since its read index was last asked for (it is asked again after
    /// [`READ_RETRY_TICKS`]).
    age: u32,
    /// Monotonic ms when it was first asked for: a quorum's answer proves leadership from
    /// then on, so a lease it grants counts from here.
    started_ms: u64,
    /// The term it may grant a lease in: set when it started on a leader with no leader
    /// transfer and no membership change under way.
    lease_term: Option<u64>,
}

impl Shard {
    /// Opens a shard: loads its newest snapshot, rebuilds the log from the WAL's records of this
    /// group (or bootstraps a new group), and starts raft-rs. Bootstrap records go into
    /// `effects.records`.
    pub fn open(
        config: ShardConfig,
        wal_log: Option<&tinkerdb_wal::GroupLog>,
        snapshots: SnapshotStore,
        logger: &slog::Logger,
        effects: &mut Effects,
    ) -> Result<Shard, ShardError> {
        let mut sm = StateMachine::default();
        let snapshot = snapshots.load_newest(&mut sm)?;
        let store = match wal_log {
            Some(log) => {
                let point = snapshot
                    .as_ref()
                    .map(|s| (s.index, s.term, s.conf_state.clone()));
                let mut store = LogStore::recover(config.group, log, point)?;
                if let Some(snap) = &snapshot {
                    reconcile_wal_with_snapshot(config.group, log, snap, &mut store, effects);
                }
                store
            }
            None if snapshot.is_some() => {
                return Err(ShardError::Fatal(format!(
                    "group {} has a snapshot but no WAL records: the WAL folder is missing",
                    config.group
                )))
            }
            None => {
                let store = LogStore::bootstrap(config.voters.clone());
                let (index, term) = store.snapshot_point();
                effects.records.push(Record::ConfState {
                    group: config.group,
                    data: encode_conf_state(store.conf_state()),
                });
                if index > 0 {
                    effects.records.push(Record::Compact {
                        group: config.group,
                        index,
                        term,
                    });
                    effects.records.push(Record::HardState {
                        group: config.group,
                        state: WalHardState {
                            term,
                            vote: 0,
                            commit: index,
                        },
                    });
                }
                store
            }
        };
        // The state machine holds the snapshot's state (or the empty bootstrap state).
        let applied = store.snapshot_point().0;
        let raft_config = raft::Config {
            id: config.node_id,
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            applied,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            // A new commit index rides on the next append or heartbeat instead of an empty
            // append of its own to every follower (and its response): under load the next
            // append follows at once, so this halves the leader's peer messages. Followers
            // learn it at the latest with the next heartbeat (reads through ReadIndex wait for
            // it; READONLY reads may be that much staler).
            skip_bcast_commit: true,
            // Not `batch_append`: in raft-rs 0.7 it merges new entries into a queued append
            // that has none without checking that they follow its index, which our simulator
            // caught corrupting followers' logs. `merge_appends` does that merging, checked.
            min_election_tick: if config.randomized_election {
                0
            } else {
                config.election_ticks
            },
            max_election_tick: if config.randomized_election {
                0
            } else {
                config.election_ticks + 1
            },
            ..Default::default()
        };
        raft_config
            .validate()
            .map_err(|e| ShardError::Fatal(format!("raft config: {e}")))?;
        let mut raw = RawNode::new(&raft_config, store, logger)
            .map_err(|e| ShardError::Fatal(format!("raft start: {e}")))?;
        let voters = raw.store().conf_state().voters.clone();
        if voters == [config.node_id] {
            // A single voter needs no election timeout to lead its own group.
            raw.campaign()
                .map_err(|e| ShardError::Fatal(format!("raft campaign: {e}")))?;
        }
        Ok(Shard {
            config,
            raw,
            sm,
            receiver: SnapshotReceiver::new(snapshots.dir()),
            loading: None,
            accepted: None,
            snapshots,
            last_snapshot: snapshot,
            applied,
            now_ms: 0,
            last_proposed_ms: 0,
            inflight_reads: BTreeMap::new(),
            proposed: BTreeMap::new(),
            confirmed_reads: Vec::new(),
            next_read_round: 1,
            barrier: Arc::default(),
            round_wanted: false,
            mono_ms: 0,
            opened_mono_ms: None,
            lease_until: 0,
            lease_term: 0,
            lease_answers: Vec::new(),
            writing: None,
        })
    }

    /// Sets the clocks: the wall clock (milliseconds since the Unix epoch) used for new
    /// proposals, and a monotonic clock (milliseconds from any origin) for leases.
    pub fn set_time(&mut self, now_ms: u64, mono_ms: u64) {
        self.now_ms = now_ms;
        self.mono_ms = mono_ms;
        self.opened_mono_ms.get_or_insert(mono_ms);
    }

    /// Advances Raft's logical clock by one tick, and asks again for ReadIndex rounds that
    /// went unanswered.
    pub fn tick(&mut self) {
        if self.removed() {
            // Its configuration no longer has it: raft-rs must not act as its leader any more.
            return;
        }
        self.raw.tick();
        self.leave_stalled_joint_config();
        if self.config.lease_ms > 0 && self.is_leader() {
            // Renew the lease once a tick, whether or not reads come (they need no round
            // while it holds).
            self.round_wanted = true;
        }
        let mut retry = Vec::new();
        for (round, state) in self.inflight_reads.iter_mut() {
            state.age += 1;
            if state.age >= READ_RETRY_TICKS {
                state.age = 0;
                retry.push(*round);
            }
        }
        for round in retry {
            self.raw.read_index(round.to_le_bytes().to_vec());
        }
    }

    /// Feeds a message from a peer into raft-rs.
    ///
    /// A heartbeat carries the commit index the leader knows this node has durably stored. If
    /// that is past this node's log, the node's data was lost or wiped while it kept its id:
    /// continuing could vote twice in a term or lose acknowledged writes, so it stops instead
    /// (raft-rs would panic). Re-add it under a new id, or restore its data folder.
    ///
    /// With leases on, a node that has just started refuses votes for a lease's length: before
    /// it crashed it may have answered a leader's round, and that leader may still be reading
    /// under the lease it granted. (Running nodes refuse votes while they hear from a leader:
    /// raft-rs's check-quorum lease.)
    pub fn step(&mut self, msg: Message) -> Result<(), ShardError> {
        if msg.get_msg_type() == MessageType::MsgSnapshot {
            // A snapshot travels as pieces of its file (`receive_snapshot_piece`); raft-rs
            // would accept this one, and the install that follows would find no file.
            warn!(
                from = msg.from,
                "dropping a snapshot message that came without its file"
            );
            return Ok(());
        }
        if self.refuses_votes_after_start(&msg) {
            debug!(
                from = msg.from,
                "vote request refused: started less than a lease ago"
            );
            return Ok(());
        }
        if msg.get_msg_type() == MessageType::MsgReadIndex && self.lease_holds_now() {
            self.answer_read_index_from_lease(&msg);
            return Ok(());
        }
        if msg.get_msg_type() == MessageType::MsgAppend
            && self
                .loading
                .as_ref()
                .is_some_and(|(_, term)| msg.term <= *term)
        {
            // This node is far behind (it needs the snapshot being loaded): rejecting the
            // entries would make the leader send the snapshot again. Unanswered, the leader
            // retries after a heartbeat, by when the snapshot is installed. A newer leader's
            // entries are answered: the snapshot being loaded will be stale, and that leader
            // must learn what this node lacks to send its own.
            return Ok(());
        }
        if msg.get_msg_type() == MessageType::MsgHeartbeat
            && msg.commit > self.raw.raft.raft_log.last_index()
        {
            return Err(ShardError::Fatal(format!(
                "node {} holds the log up to {} but the leader (node {}) knows it stored up to {}: \
                 this node's data was lost or replaced; refusing to continue (remove it from the \
                 cluster and add it back under a new id, or restore its data folder)",
                self.config.node_id,
                self.raw.raft.raft_log.last_index(),
                msg.from,
                msg.commit
            )));
        }
        self.step_raft(msg);
        Ok(())
    }

    fn step_raft(&mut self, msg: Message) {
        if let Err(e) = self.raw.step(msg) {
            debug!(error = %e, "raft ignored a peer message");
        }
    }

    /// Takes a piece of a snapshot from the leader `from`. Once the last piece is in and the
    /// file checks out, returns it: the caller loads it ([`ReceivedSnapshot::load`], blocking,
    /// so off the Raft loop) and hands the result to [`Shard::snapshot_loaded`]. A broken
    /// transfer is logged and dropped (the leader starts it over), and so is one completed
    /// while another is still loading.
    pub fn receive_snapshot_piece(
        &mut self,
        from: u64,
        piece: &SnapshotPiece,
    ) -> Option<ReceivedSnapshot> {
        match self.receiver.add(from, piece) {
            Ok(Some(received)) => {
                if let Some((loading, _)) = &self.loading {
                    debug!(
                        index = loading.index,
                        term = loading.term,
                        "dropping a snapshot received while loading one"
                    );
                    return None;
                }
                self.loading = Some((received.progress(), received.msg.term));
                Some(received)
            }
            Ok(None) => None,
            Err(e) => {
                warn!(peer = from, error = %e, "dropping a snapshot transfer");
                None
            }
        }
    }

    /// A received snapshot was loaded (or failed to): steps its message, and keeps the loaded
    /// state if raft-rs accepts it, for the Ready that installs it. A snapshot that failed to
    /// load is dropped with a warning: the leader sends it again. Returns the loaded snapshot
    /// no longer wanted (raft-rs ignored it as stale, or it replaced an older accepted one):
    /// freeing millions of keys takes a while, so the caller drops it off the Raft loop.
    pub fn snapshot_loaded(
        &mut self,
        result: Result<(Message, LoadedSnapshot), SnapshotError>,
    ) -> Option<LoadedSnapshot> {
        self.loading = None;
        let (msg, loaded) = match result {
            Ok(loaded) => loaded,
            Err(e) => {
                warn!(error = %e, "dropping a received snapshot that did not load");
                return None;
            }
        };
        self.step_raft(msg);
        let pending = self.raw.snap().map(|s| {
            let meta = s.get_metadata();
            (meta.index, meta.term)
        });
        if pending == Some(loaded.index_term()) {
            self.accepted.replace(loaded)
        } else {
            let (index, term) = loaded.index_term();
            info!(index, term, "raft-rs ignored a received snapshot (stale)");
            Some(loaded)
        }
    }

    /// The file that holds this node's snapshot `index`/`term` (what the leader streams).
    pub fn snapshot_path(&self, index: u64, term: u64) -> std::path::PathBuf {
        self.snapshots.path_of(index, term)
    }

    /// Tells raft-rs whether a snapshot reached the peer's connection (every piece queued).
    pub fn report_snapshot(&mut self, to: u64, sent: bool) {
        let status = if sent {
            self.config.metrics.snapshot_sent();
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        self.raw.report_snapshot(to, status);
    }

    /// Tells raft-rs a peer could not be reached, so it probes instead of streaming.
    pub fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    fn refuses_votes_after_start(&self, msg: &Message) -> bool {
        let vote = matches!(
            msg.get_msg_type(),
            MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
        );
        // A transfer's election is the old leader's own doing: it gave its lease up first.
        let transfer = msg.context.as_ref() == b"CampaignTransfer";
        let started = self.opened_mono_ms.unwrap_or(self.mono_ms);
        vote && !transfer
            && self.config.lease_ms > 0
            && self.mono_ms < started.saturating_add(self.config.lease_ms)
    }

    /// Until when (monotonic ms) connections may read this leader's applied state without a
    /// ReadIndex round; 0: they may not.
    ///
    /// Why it is safe: a round that started at `t` and came back confirmed means a quorum
    /// heard from this leader after `t`. Each of those voters refuses to vote for anyone else
    /// for `election_ticks` of its own ticks after that (raft-rs's check-quorum lease; forced
    /// transfer elections excepted), i.e. at least `election_ticks - 1` tick intervals, and
    /// every election needs one of them. So no other leader exists, and none has committed
    /// anything, before `t + lease_ms` as long as `lease_ms` stays below that with a margin for
    /// clock-rate differences. Also needed: this node applied an entry of its term (everything
    /// committed earlier is applied, and in its term only it acknowledges writes, after
    /// applying them); no leader transfer under way (its target campaigns at once); no
    /// membership change under way, and only rounds started after the last one applied count
    /// (the quorum that answered is one of the configuration in force).
    pub fn lease_until_ms(&self) -> u64 {
        let holds =
            self.may_lease() && self.lease_term == self.raw.raft.term && self.applied_in_term();
        if holds {
            self.lease_until
        } else {
            0
        }
    }

    /// Whether the lease holds at the shard's clock (see [`Shard::lease_until_ms`]): what the
    /// leader checks before answering a follower from it, and the simulator before a read.
    pub fn lease_holds_now(&self) -> bool {
        self.mono_ms < self.lease_until_ms()
    }

    /// Whether this node may hold a lease at all right now: leases on, leading, and no leader
    /// transfer or membership change under way.
    fn may_lease(&self) -> bool {
        let raft = &self.raw.raft;
        self.config.lease_ms > 0
            && self.is_leader()
            && raft.lead_transferee.is_none()
            && !raft.has_pending_conf()
    }

    /// Whether the applied entry is of the current term, so everything committed before this
    /// term (and before a restart) is applied too.
    fn applied_in_term(&self) -> bool {
        self.raw.raft.raft_log.term(self.applied) == Ok(self.raw.raft.term)
    }

    /// Answers a follower's ReadIndex request without a heartbeat round, as raft-rs's own
    /// `LeaseBased` mode would (which cannot be used here: it would also answer this leader's
    /// lease-renewing rounds without a quorum). While the lease holds no other leader exists,
    /// and this leader has committed in its term, so its commit index now covers every write
    /// acknowledged before the request arrived; the follower reads once it has applied it.
    fn answer_read_index_from_lease(&mut self, request: &Message) {
        let mut answer = Message::default();
        answer.set_msg_type(MessageType::MsgReadIndexResp);
        answer.to = request.from;
        answer.from = self.config.node_id;
        answer.term = self.raw.raft.term;
        answer.index = self.raw.raft.raft_log.committed;
        answer.entries = request.entries.clone();
        self.lease_answers.push(answer);
    }

    /// Gives the lease up: a transfer or membership change is about to start, or one applied.
    fn revoke_lease(&mut self) {
        self.lease_until = 0;
    }

    /// Asks leadership to move to `to` (a voter). Works on any node: a follower passes the
    /// request to the leader. The outcome shows in the status once the election happens.
    /// A leader gives its lease up first: the target campaigns without waiting.
    pub fn transfer_leader(&mut self, to: u64) -> Result<(), ShardError> {
        if !self.raw.store().conf_state().voters.contains(&to) {
            return Err(ShardError::Retry(format!("node {to} is not a voter")));
        }
        if self.raw.raft.leader_id == 0 {
            return Err(ShardError::NotLeader { leader: 0 });
        }
        self.revoke_lease();
        self.raw.transfer_leader(to);
        Ok(())
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The known leader (0: none).
    pub fn leader(&self) -> u64 {
        self.raw.raft.leader_id
    }

    /// If raft-rs asked for a snapshot to send, offers the newest one if it covers everything
    /// applied, else starts one (every snapshot written is offered, see
    /// [`Shard::poll_snapshot`]; raft-rs asks again and finds it).
    pub fn prepare_wanted_snapshot(&mut self, effects: &mut Effects) -> Result<(), ShardError> {
        if !self.raw.store().take_snapshot_wanted() {
            return Ok(());
        }
        if let SnapshotStart::UpToDate(info) = self.start_snapshot(effects)? {
            self.offer_snapshot(&info);
        }
        Ok(())
    }

    /// Offers the snapshot file described by `info` to raft-rs for followers. Only its path
    /// is kept: the store checks the file is still there when raft-rs builds a message (and
    /// asks for another snapshot if not), and the driver streams it.
    fn offer_snapshot(&mut self, info: &SnapshotInfo) {
        let path = self.snapshots.path_of(info.index, info.term);
        let mut metadata = raft::prelude::SnapshotMetadata {
            index: info.index,
            term: info.term,
            ..Default::default()
        };
        metadata.set_conf_state(info.conf_state.clone());
        self.raw
            .mut_store()
            .set_prepared_snapshot(PreparedSnapshot { metadata, path });
    }

    /// Whether raft-rs has a Ready for [`Shard::collect_ready`] (the driver keeps going while
    /// it does).
    pub fn has_ready(&self) -> bool {
        !self.removed() && self.raw.has_ready()
    }

    /// Whether this node leads the group (only the leader accepts proposals and reads). A
    /// leader that applied its own removal (it left a joint configuration it was outgoing in)
    /// does not count: it is about to stop.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader && !self.removed()
    }

    /// Whether connections may read the applied state directly (see `LocalReads`): this node
    /// is the only voter and has applied an entry of its term (so also everything from before
    /// a restart).
    pub fn local_reads_safe(&self) -> bool {
        self.is_leader()
            && self.raw.raft.prs().conf().voters().ids().len() == 1
            && self.applied_in_term()
    }

    /// The replicated users, shared with connections.
    pub fn users(&self) -> SharedUsers {
        self.sm.users()
    }

    /// The state machine, for INFO and expiry sampling.
    pub fn state(&self) -> &StateMachine {
        &self.sm
    }

    /// Proposes a payload; the replies arrive as a [`Done`] with `token` once it is applied.
    /// The leader's clock is written into the payload here, never later.
    pub fn propose(&mut self, mut payload: Payload, token: u64) -> Result<(), ShardError> {
        if !self.is_leader() {
            return Err(ShardError::NotLeader {
                leader: self.raw.raft.leader_id,
            });
        }
        // Never let time go backwards between entries, even if the wall clock does.
        self.last_proposed_ms = self.last_proposed_ms.max(self.now_ms);
        payload.set_now(self.last_proposed_ms);
        let tag = ProposalTag {
            node: self.config.node_id,
            boot: self.config.boot_id,
            token,
        };
        self.raw
            .propose(tag.encode(), payload.encode())
            .map_err(|e| ShardError::Retry(format!("proposal dropped: {e}")))?;
        self.config.metrics.proposed();
        self.proposed
            .insert(self.raw.raft.raft_log.last_index(), token);
        Ok(())
    }

    /// The barrier through which connections wait for ReadIndex rounds and then read the
    /// applied state themselves (see [`ReadBarrier`]).
    pub fn read_barrier(&self) -> Arc<ReadBarrier> {
        Arc::clone(&self.barrier)
    }

    /// Starts one ReadIndex round for every read waiting at the barrier (batching: one round
    /// serves them all), unless [`MAX_READ_ROUNDS_IN_FLIGHT`] are already out: then the reads
    /// wait for one of them to return (or be retried by [`Shard::tick`]).
    ///
    /// Followers read too (raft-rs forwards the ReadIndex to the leader), but only once a
    /// leader is known; a new leader must first commit an entry of its own term (raft-rs would
    /// drop the request). Until then the reads wait here, bounded by their connection's
    /// timeout.
    pub fn flush_reads(&mut self) {
        if self.barrier.take_wanted() {
            self.round_wanted = true;
        }
        if !self.round_wanted
            || self.inflight_reads.len() >= MAX_READ_ROUNDS_IN_FLIGHT
            || self.removed()
            || self.raw.raft.leader_id == 0
            || (self.is_leader() && !self.raw.raft.commit_to_current_term())
        {
            return;
        }
        let round = self.next_read_round;
        self.next_read_round += 1;
        self.round_wanted = false;
        let lease_term = self.may_lease().then_some(self.raw.raft.term);
        self.inflight_reads.insert(
            round,
            ReadRound {
                age: 0,
                started_ms: self.mono_ms,
                lease_term,
            },
        );
        // Published before the read index is asked for: see the barrier's ordering argument.
        self.barrier.round_started(round);
        self.config.metrics.read_round_started();
        self.raw.read_index(round.to_le_bytes().to_vec());
    }

    /// First half of a Ready: applies committed entries, confirms reads, and emits the entries
    /// and hard state to persist. The caller hands `effects.records` to the WAL, then calls
    /// [`Shard::advance_async`] with the returned Ready, and [`Shard::on_persisted`] once the
    /// WAL made them durable.
    pub fn collect_ready(&mut self, effects: &mut Effects) -> Result<Option<Ready>, ShardError> {
        // Read-index answers given from the lease go out with the next messages, Ready or not.
        effects.messages.append(&mut self.lease_answers);
        // A node that applied its own removal does no more Raft work: it is about to stop, and
        // raft-rs 0.7 panics if a leader that removed itself persists more entries.
        if self.removed() || !self.raw.has_ready() {
            return Ok(None);
        }
        let mut rd = self.raw.ready();
        if let Some(ss) = rd.ss() {
            self.config.metrics.leader_seen(ss.leader_id);
        }
        // A leader may send these before its own entries are durable (Raft allows it).
        effects.messages.extend(merge_appends(rd.take_messages()));
        if !rd.snapshot().is_empty() {
            let snapshot = rd.snapshot().clone();
            // Installing replaces the keyspace: a writer still reading the old one fails at
            // its next chunk, and its outcome, older than this snapshot, is then ignored.
            // raft-rs has already moved its log to the snapshot and this Ready acknowledges
            // it: a node that cannot install it must stop before anything is persisted (a
            // restart recovers the old state from the WAL, and the leader sends it again).
            self.install_snapshot(&snapshot, effects)?;
        }
        for rs in rd.take_read_states() {
            self.confirm_reads(&rs.request_ctx, rs.index);
        }
        let committed = rd.take_committed_entries();
        self.apply_entries(committed, effects);
        let group = self.config.group;
        if !rd.entries().is_empty() {
            let entries = rd.entries().iter().map(to_wal_entry).collect();
            effects.records.push(Record::Entries { group, entries });
            self.raw.mut_store().append(rd.entries());
        }
        if let Some(hs) = rd.hs() {
            let before = self.raw.store().hard_state();
            effects.commit_only =
                effects.records.is_empty() && hs.term == before.term && hs.vote == before.vote;
            effects.records.push(Record::HardState {
                group,
                state: WalHardState {
                    term: hs.term,
                    vote: hs.vote,
                    commit: hs.commit,
                },
            });
            self.raw.mut_store().set_hard_state(hs.clone());
        }
        Ok(Some(rd))
    }

    /// Second half of a Ready, once its records are handed to the WAL (not yet durable):
    /// advances raft-rs without waiting for them (`advance_append_async`), serves reads that
    /// can now run, and snapshots if the log is long. Returns the Ready's number and the
    /// messages that promise durability (votes, append responses): the caller sends them only
    /// after the WAL reports that number durable, then calls [`Shard::on_persisted`].
    pub fn advance_async(&mut self, mut rd: Ready, effects: &mut Effects) -> (u64, Vec<Message>) {
        let number = rd.number();
        let persisted = rd.take_persisted_messages();
        self.raw.advance_append_async(rd);
        self.report_applied();
        self.serve_confirmed_reads();
        if self.writing.is_none() && self.snapshot_due() {
            if let Err(e) = self.start_snapshot(effects) {
                error!(error = %e, group = self.config.group, "snapshot failed; will retry later");
            }
        }
        (number, persisted)
    }

    /// The WAL made every Ready up to `number` durable: raft-rs may now count those entries
    /// as this node's (a leader's own vote towards commit, a follower's applied limit). The
    /// next Ready then carries what that made committed.
    pub fn on_persisted(&mut self, number: u64) {
        self.raw.on_persist_ready(number);
        self.report_applied();
    }

    /// Tells raft-rs how far the state machine has applied, as far as raft-rs allows: an
    /// installed snapshot counts only once its records are durable.
    fn report_applied(&mut self) {
        let log = &self.raw.raft.raft_log;
        let to = self.applied.min(log.persisted).min(log.committed);
        if to > log.applied {
            self.raw.advance_apply_to(to);
        }
    }

    /// Starts a snapshot of the applied state (also `SAVE`/`BGSAVE`): the keyspace is frozen
    /// as of now and the writer goes out in `effects.snapshot` (see `snapshot_job`).
    pub fn start_snapshot(&mut self, effects: &mut Effects) -> Result<SnapshotStart, ShardError> {
        if self.writing.is_some() {
            return Ok(SnapshotStart::AlreadyRunning);
        }
        let index = self.applied;
        if let Some(last) = &self.last_snapshot {
            if last.index == index {
                return Ok(SnapshotStart::UpToDate(last.clone()));
            }
        }
        let term = self
            .raw
            .store()
            .term_of(index)
            .ok_or_else(|| ShardError::Fatal(format!("no term for applied index {index}")))?;
        let conf_state = self.raw.store().conf_state().clone();
        let job = Arc::new(SnapshotJob::default());
        let source = self
            .sm
            .snapshot_source()
            .map_err(|e| ShardError::Fatal(format!("cannot encode the users: {e}")))?;
        effects.snapshot = Some(SnapshotWriter::new(
            self.snapshots.clone(),
            source,
            (index, term),
            conf_state,
            Arc::clone(&job),
        ));
        self.writing = Some((index, job));
        Ok(SnapshotStart::Started)
    }

    /// Finishes the snapshot being written if its writer is done: ends the keyspace's freeze,
    /// compacts the log up to the snapshot, offers it to raft-rs for followers, and reports
    /// the outcome in `effects.snapshot_written`. Returns whether it finished.
    pub fn poll_snapshot(&mut self, effects: &mut Effects) -> bool {
        let Some(result) = self.writing.as_ref().and_then(|(_, job)| job.try_take()) else {
            return false;
        };
        self.snapshot_finished(result, effects);
        true
    }

    fn snapshot_finished(&mut self, result: WriteResult, effects: &mut Effects) {
        let Some((index, _)) = self.writing.take() else {
            return;
        };
        self.sm.end_snapshot();
        let newer = |info: &SnapshotInfo, last: &Option<SnapshotInfo>| {
            last.as_ref().map_or(true, |l| info.index > l.index)
        };
        let outcome = match result {
            Ok(info) if newer(&info, &self.last_snapshot) => {
                self.config
                    .metrics
                    .snapshot_written(std::time::Duration::from_millis(info.duration_ms));
                info!(
                    group = self.config.group,
                    index,
                    bytes = info.bytes,
                    ms = info.duration_ms,
                    "snapshot written"
                );
                self.raw.mut_store().compact(info.index, info.term);
                effects
                    .compactions
                    .push((self.config.group, info.index, info.term));
                self.offer_snapshot(&info);
                self.last_snapshot = Some(info.clone());
                Ok(info)
            }
            // A leader's snapshot was installed meanwhile: it is the newer one.
            Ok(info) => Ok(info),
            Err(e) if self.last_snapshot.as_ref().is_some_and(|l| l.index > index) => {
                info!(
                    group = self.config.group,
                    index, "snapshot abandoned: a newer one was installed meanwhile"
                );
                Err(ShardError::from(e))
            }
            Err(e) => {
                error!(error = %e, group = self.config.group, index, "snapshot failed; will retry later");
                Err(ShardError::from(e))
            }
        };
        effects.snapshot_written = Some(outcome);
    }

    /// Writes a snapshot at once, on this thread, and finishes it (tests and the simulator's
    /// set pieces).
    #[cfg(test)]
    pub fn snapshot_blocking(&mut self, effects: &mut Effects) -> Result<SnapshotInfo, ShardError> {
        match self.start_snapshot(effects)? {
            SnapshotStart::UpToDate(info) => Ok(info),
            SnapshotStart::AlreadyRunning => Err(ShardError::Retry("a snapshot is running".into())),
            SnapshotStart::Started => {
                if let Some(writer) = effects.snapshot.take() {
                    writer.write();
                }
                self.poll_snapshot(effects);
                effects
                    .snapshot_written
                    .take()
                    .unwrap_or_else(|| Err(ShardError::Fatal("no snapshot outcome".into())))
            }
        }
    }

    /// Role and progress for INFO.
    pub fn status(&self) -> RaftStatus {
        let raft = &self.raw.raft;
        let store = self.raw.store();
        RaftStatus {
            group: self.config.group,
            node_id: self.config.node_id,
            role: match raft.state {
                StateRole::Leader => "leader",
                StateRole::Follower => "follower",
                StateRole::Candidate => "candidate",
                StateRole::PreCandidate => "pre-candidate",
            },
            term: raft.term,
            leader: raft.leader_id,
            commit: raft.raft_log.committed,
            applied: self.applied,
            last_index: store.last(),
            first_index: store.snapshot_point().0 + 1,
            log_bytes: store.entry_bytes(),
            voters: store.conf_state().voters.clone(),
            voters_outgoing: store.conf_state().voters_outgoing.clone(),
            learners: store.conf_state().learners.clone(),
            progress: self.progress(),
            snapshot: self.last_snapshot.clone(),
            snapshot_in_progress: self.writing.is_some(),
            snapshot_receive: self
                .loading
                .as_ref()
                .map(|(progress, _)| progress.clone())
                .or_else(|| self.receiver.progress()),
            caught_up: raft.leader_id != 0
                && self.applied >= raft.raft_log.committed
                && (!self.is_leader() || raft.commit_to_current_term()),
        }
    }

    fn snapshot_due(&self) -> bool {
        let since = self.applied - self.last_snapshot.as_ref().map_or(0, |s| s.index);
        since >= self.config.snapshot_entries
            || (since > 0 && self.raw.store().entry_bytes() >= self.config.snapshot_log_bytes)
    }

    fn apply_entries(&mut self, entries: Vec<Entry>, effects: &mut Effects) {
        for entry in entries {
            assert!(
                entry.index == self.applied + 1,
                "apply out of order: entry {} after applied {}",
                entry.index,
                self.applied
            );
            assert!(
                entry.index <= self.raw.raft.raft_log.committed,
                "applying uncommitted entry {}",
                entry.index
            );
            self.applied = entry.index;
            self.settle_proposal(&entry, effects);
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {}
                EntryType::EntryNormal => self.apply_normal(&entry, effects),
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change(&entry);
                }
            }
        }
    }

    /// A proposal of ours that was at this index but lost it (a new leader wrote another entry
    /// there) will never apply: tell its client, who may retry.
    fn settle_proposal(&mut self, entry: &Entry, effects: &mut Effects) {
        let Some(token) = self.proposed.remove(&entry.index) else {
            return;
        };
        let ours = ProposalTag::decode(&entry.context).is_some_and(|t| {
            t.node == self.config.node_id && t.boot == self.config.boot_id && t.token == token
        });
        if !ours {
            effects.done.push(Done {
                token,
                result: Err(ShardError::Retry(
                    "leadership changed before the command committed; it was not applied".into(),
                )),
            });
        }
    }

    fn apply_conf_change(&mut self, entry: &Entry) {
        let cc = if entry.get_entry_type() == EntryType::EntryConfChangeV2 {
            ConfChangeV2::parse_from_bytes(&entry.data).map_err(|e| e.to_string())
        } else {
            ConfChange::parse_from_bytes(&entry.data)
                .map(|cc| {
                    let mut single = ConfChangeSingle::default();
                    single.set_change_type(cc.get_change_type());
                    single.node_id = cc.node_id;
                    let mut v2 = ConfChangeV2::default();
                    v2.mut_changes().push(single);
                    v2
                })
                .map_err(|e| e.to_string())
        };
        // Rounds answered under the old configuration no longer vouch for the lease.
        self.revoke_lease();
        let applied = cc.and_then(|cc| self.raw.apply_conf_change(&cc).map_err(|e| e.to_string()));
        match applied {
            Ok(cs) => {
                info!(
                    index = entry.index,
                    voters = ?cs.voters,
                    voters_outgoing = ?cs.voters_outgoing,
                    learners = ?cs.learners,
                    "membership changed"
                );
                self.record_member_addresses(entry, &cs);
                self.raw.mut_store().set_conf_state(cs);
            }
            // Every replica fails the same way on the same entry, so they stay identical.
            Err(e) => error!(index = entry.index, error = %e, "conf change not applied"),
        }
    }

    /// Keeps the replicated address book in step with the configuration: an added node's
    /// address travels in the conf change's context.
    ///
    /// An outgoing voter of a joint configuration is still a member: the group needs a
    /// majority of the outgoing voters too, so its address stays until the joint
    /// configuration is left.
    fn record_member_addresses(&mut self, entry: &Entry, cs: &ConfState) {
        let current = conf_members(cs);
        let members: Vec<u64> = self.sm.members().keys().copied().collect();
        for id in members {
            if !current.contains(&id) {
                self.sm.set_member(id, None);
            }
        }
        let Ok(cc) = ConfChangeV2::parse_from_bytes(&entry.data) else {
            return;
        };
        let Some(addr) = String::from_utf8(cc.context.to_vec())
            .ok()
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        for change in cc.get_changes() {
            if change.get_change_type() != ConfChangeType::RemoveNode {
                self.sm.set_member(change.node_id, Some(addr.clone()));
            }
        }
    }

    /// Proposes one membership change (leader only). `addr` is the peer address of a node being
    /// added; it is replicated with the change so every member can dial it.
    pub fn propose_member_change(
        &mut self,
        change: ConfChangeType,
        node: u64,
        addr: Option<String>,
    ) -> Result<(), ShardError> {
        self.propose_member_changes(&[(change, node)], addr)
    }

    /// Proposes several membership changes as one conf change (leader only), so they take
    /// effect together. One change is a simple change. Two or more go through a joint
    /// configuration (C_old,new: committing needs a majority of the old voters and of the new
    /// ones) with `ConfChangeTransition::Auto`: when the leader applies the entry that enters
    /// it, raft-rs appends the empty conf change that leaves it (`Raft::commit_apply`), and a
    /// leader elected meanwhile does the same once it has applied its log. `addr` is the peer
    /// address of a node being added.
    ///
    /// Refused up front, with the reason, where raft-rs would refuse, silently drop or fail to
    /// apply the proposal: an empty or contradictory list (a node named twice, id 0), not the
    /// leader, the leader removing itself, another change not applied yet, a joint
    /// configuration not left yet, or a result raft-rs rejects (no voter left, ...).
    pub fn propose_member_changes(
        &mut self,
        changes: &[(ConfChangeType, u64)],
        addr: Option<String>,
    ) -> Result<(), ShardError> {
        check_change_list(changes)?;
        if !self.is_leader() {
            return Err(ShardError::NotLeader {
                leader: self.raw.raft.leader_id,
            });
        }
        let me = self.config.node_id;
        if changes
            .iter()
            .any(|&(change, node)| change == ConfChangeType::RemoveNode && node == me)
        {
            // raft-rs 0.7 panics when a leader keeps persisting entries after removing itself;
            // the safe order is to move leadership away first.
            return Err(ShardError::Retry(format!(
                "node {me} is the leader: move leadership first (tinkerdb cluster transfer-leader), then remove it"
            )));
        }
        self.check_no_change_in_flight()?;
        let singles: Vec<ConfChangeSingle> = changes
            .iter()
            .map(|&(change, node)| {
                let mut single = ConfChangeSingle::default();
                single.set_change_type(change);
                single.node_id = node;
                single
            })
            .collect();
        // The same checks raft-rs makes when the entry applies, made now: an entry that every
        // replica then refuses to apply would be committed for nothing.
        let mut changer = Changer::new(self.raw.raft.prs());
        let valid = if singles.len() == 1 {
            changer.simple(&singles).map(|_| ())
        } else {
            changer.enter_joint(true, &singles).map(|_| ())
        };
        if let Err(e) = valid {
            return Err(ShardError::Invalid(format!(
                "membership change refused: {e}"
            )));
        }
        let mut cc = ConfChangeV2::default();
        cc.set_transition(ConfChangeTransition::Auto);
        for single in singles {
            cc.mut_changes().push(single);
        }
        cc.context = addr.unwrap_or_default().into_bytes().into();
        self.raw
            .propose_conf_change(Vec::new(), cc)
            .map_err(|e| ShardError::Retry(format!("membership change refused: {e}")))?;
        self.config.metrics.proposed();
        Ok(())
    }

    /// Replaces voter `remove` by learner `add` in one conf change (promote `add`, remove
    /// `remove`) through a joint configuration, so the group goes straight from the old voters
    /// to the new ones with as many voters: no intermediate configuration with one voter more
    /// (or less), and no half-done replacement if the operator or the leader stops midway.
    /// `add` must already be a learner that replicates (added with add-node and caught up),
    /// so the new configuration does not count on a node still far behind. Leader only; the
    /// leader cannot replace itself (move leadership first, as for a removal).
    pub fn propose_replace(&mut self, remove: u64, add: u64) -> Result<(), ShardError> {
        if remove == add {
            return Err(ShardError::Invalid(format!(
                "replace needs two different nodes (both are {remove}): --remove names the voter \
                 that leaves, --add the learner that takes its place"
            )));
        }
        check_change_list(&[
            (ConfChangeType::AddNode, add),
            (ConfChangeType::RemoveNode, remove),
        ])?;
        if !self.is_leader() {
            return Err(ShardError::NotLeader {
                leader: self.raw.raft.leader_id,
            });
        }
        // First: while a change is in flight, the configuration below is about to change.
        self.check_no_change_in_flight()?;
        let cs = self.raw.store().conf_state();
        if !cs.voters.contains(&remove) {
            let why = if cs.learners.contains(&remove) {
                "is a learner, not a voter (remove it with remove-node)"
            } else {
                "is not a member of the cluster"
            };
            return Err(ShardError::Invalid(format!(
                "cannot replace node {remove}: it {why}"
            )));
        }
        if !cs.learners.contains(&add) {
            let why = if cs.voters.contains(&add) {
                "is already a voter"
            } else {
                "is not a learner: add it first (tinkerdb cluster add-node), start it with --join \
                 and let it catch up"
            };
            return Err(ShardError::Invalid(format!(
                "node {add} cannot take node {remove}'s place: it {why}"
            )));
        }
        if remove == self.config.node_id {
            return Err(ShardError::Retry(format!(
                "node {remove} is the leader: move leadership first (tinkerdb cluster transfer-leader), then replace it"
            )));
        }
        let replicating = self
            .raw
            .raft
            .prs()
            .get(add)
            .is_some_and(|pr| pr.state == ProgressState::Replicate && pr.matched > 0);
        if !replicating {
            return Err(ShardError::Retry(format!(
                "node {add} has not caught up yet (the leader is still probing it or sending it a \
                 snapshot): wait until `tinkerdb cluster status` shows it replicating, then retry"
            )));
        }
        self.propose_member_changes(
            &[
                (ConfChangeType::AddNode, add),
                (ConfChangeType::RemoveNode, remove),
            ],
            None,
        )
    }

    /// raft-rs accepts one membership change at a time and drops (as an empty entry, with no
    /// error) any proposed while another is unapplied or a joint configuration is not left.
    fn check_no_change_in_flight(&self) -> Result<(), ShardError> {
        let cs = self.raw.store().conf_state();
        if !cs.voters_outgoing.is_empty() {
            return Err(ShardError::Retry(format!(
                "the cluster is still leaving a joint configuration (outgoing voters {:?}, \
                 incoming {:?}); retry in a moment",
                cs.voters_outgoing, cs.voters
            )));
        }
        if self.raw.raft.has_pending_conf() {
            return Err(ShardError::Retry(
                "another membership change (or a new leader's log) is not applied yet; retry in a moment"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A leader in a joint configuration that raft-rs will not leave by itself proposes the
    /// empty conf change that leaves it. raft-rs does it for `auto_leave` configurations (the
    /// `Auto` transitions TinkerDB proposes) in `Raft::commit_apply`, when the leader's
    /// applied index reaches its `pending_conf_index`: the entering entry's index, or after an
    /// election the log it inherited (then on applying the election's empty entry). Past that
    /// index with the configuration still joint, raft-rs's chance has gone by (its code notes
    /// it may miss one); an `Explicit` configuration it never leaves. Either way this makes
    /// sure a joint configuration does not outlive the change that made it. At most one is in
    /// flight: the proposal makes a conf change pending until it applies.
    fn leave_stalled_joint_config(&mut self) {
        let cs = self.raw.store().conf_state();
        let (applied, pending) = (
            self.raw.raft.raft_log.applied,
            self.raw.raft.pending_conf_index,
        );
        let raft_rs_will = cs.auto_leave && applied <= pending;
        if !self.is_leader() || cs.voters_outgoing.is_empty() || applied < pending || raft_rs_will {
            return;
        }
        tracing::warn!(
            group = self.config.group,
            "still in a joint configuration that raft-rs did not leave; proposing to leave it"
        );
        if let Err(e) = self
            .raw
            .propose_conf_change(Vec::new(), ConfChangeV2::default())
        {
            debug!(error = %e, "leaving the joint configuration was refused; will retry");
        }
    }

    /// Every member of the applied configuration: voters (incoming and, while joint,
    /// outgoing) and learners (current and staged), for noticing removals. An outgoing voter
    /// still counts: the group needs it until the joint configuration is left.
    pub fn member_ids(&self) -> std::collections::BTreeSet<u64> {
        conf_members(self.raw.store().conf_state())
    }

    /// Whether this node has been removed from the group's configuration (an outgoing voter
    /// of a joint configuration has not been, yet).
    pub fn removed(&self) -> bool {
        let cs = self.raw.store().conf_state();
        let id = self.config.node_id;
        (!cs.voters.is_empty() || !cs.learners.is_empty())
            && !cs.voters.contains(&id)
            && !cs.learners.contains(&id)
            && !cs.voters_outgoing.contains(&id)
    }

    /// `(outgoing voters, incoming voters)` while the applied configuration is joint (a
    /// replace in progress), else None: the simulator follows replacements with it every
    /// step, where [`Shard::status`] would cost too much.
    #[cfg(test)]
    pub fn joint_config(&self) -> Option<(Vec<u64>, Vec<u64>)> {
        let cs = self.raw.store().conf_state();
        (!cs.voters_outgoing.is_empty()).then(|| (cs.voters_outgoing.clone(), cs.voters.clone()))
    }

    /// Peer addresses of members added by conf changes.
    pub fn added_members(&self) -> &std::collections::BTreeMap<u64, String> {
        self.sm.members()
    }

    fn install_snapshot(
        &mut self,
        snapshot: &Snapshot,
        effects: &mut Effects,
    ) -> Result<(), ShardError> {
        let meta = snapshot.get_metadata();
        let loaded = self
            .accepted
            .take()
            .filter(|loaded| loaded.index_term() == (meta.index, meta.term))
            .ok_or_else(|| {
                ShardError::Fatal(format!(
                    "raft-rs accepted snapshot {}/{} but no loaded snapshot holds it",
                    meta.index, meta.term
                ))
            })?;
        let (info, replaced) = self.snapshots.install_loaded(loaded, &mut self.sm)?;
        effects.replaced_state = Some(replaced);
        info!(
            index = meta.index,
            term = meta.term,
            bytes = info.bytes,
            "installed the leader's snapshot"
        );
        self.config.metrics.snapshot_installed();
        self.raw
            .mut_store()
            .install_snapshot(meta.index, meta.term, meta.get_conf_state().clone());
        let group = self.config.group;
        effects.records.push(Record::Restore {
            group,
            index: meta.index,
            term: meta.term,
        });
        effects.records.push(Record::ConfState {
            group,
            data: encode_conf_state(meta.get_conf_state()),
        });
        self.applied = meta.index;
        self.proposed.retain(|index, _| *index > meta.index);
        self.last_snapshot = Some(info);
        Ok(())
    }

    fn progress(&self) -> Vec<PeerProgress> {
        if !self.is_leader() {
            return Vec::new();
        }
        let conf = self.raw.raft.prs().conf();
        let voters: Vec<u64> = conf.voters().ids().iter().collect();
        let mut out: Vec<PeerProgress> = self
            .raw
            .raft
            .prs()
            .iter()
            .map(|(id, pr)| PeerProgress {
                id: *id,
                matched: pr.matched,
                next: pr.next_idx,
                state: format!("{:?}", pr.state).to_lowercase(),
                voter: voters.contains(id),
                pending_snapshot: if pr.state == ProgressState::Snapshot {
                    pr.pending_snapshot
                } else {
                    0
                },
            })
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    fn apply_normal(&mut self, entry: &Entry, effects: &mut Effects) {
        let tag = ProposalTag::decode(&entry.context)
            .filter(|t| t.node == self.config.node_id && t.boot == self.config.boot_id);
        let result = match Payload::decode(&entry.data) {
            Ok(payload) => Ok(self.sm.apply(entry.index, &payload)),
            Err(e) => {
                // Every replica skips the same undecodable entry, so they stay identical.
                error!(index = entry.index, error = %e, "skipping an undecodable log entry");
                Err(ShardError::Fatal(e.to_string()))
            }
        };
        if let Some(tag) = tag {
            effects.done.push(Done {
                token: tag.token,
                result,
            });
        }
    }

    fn confirm_reads(&mut self, ctx: &[u8], index: u64) {
        let Some(round) = ctx.try_into().ok().map(u64::from_le_bytes) else {
            return;
        };
        let Some(state) = self.inflight_reads.remove(&round) else {
            return;
        };
        self.confirmed_reads.push((round, index));
        let term = self.raw.raft.term;
        if state.lease_term == Some(term) && self.is_leader() {
            let until = state.started_ms.saturating_add(self.config.lease_ms);
            if self.lease_term != term {
                self.lease_term = term;
                self.lease_until = 0;
            }
            self.lease_until = self.lease_until.max(until);
        }
    }

    /// Releases the barrier's waiters for every round whose read index is now applied.
    fn serve_confirmed_reads(&mut self) {
        let applied = self.applied;
        let barrier = &self.barrier;
        self.confirmed_reads.retain(|&(round, index)| {
            let ready = index <= applied;
            if ready {
                barrier.confirm(round);
            }
            !ready
        });
    }
}

/// A crash can leave the newest snapshot ahead of what the WAL records: between writing our own
/// snapshot and compacting the WAL (harmless: the WAL still holds the entry at the snapshot
/// index), or between installing a leader's snapshot and making its `Restore` record durable
/// (the WAL's log then ends before the snapshot, or holds entries of an older term after it).
/// Brings the WAL in line before anything new is appended: compact if the log chains onto the
/// snapshot, else restart the log at the snapshot.
fn reconcile_wal_with_snapshot(
    group: u64,
    log: &tinkerdb_wal::GroupLog,
    snap: &SnapshotInfo,
    store: &mut LogStore,
    effects: &mut Effects,
) {
    let wal_point = log.compacted.map_or(0, |(index, _)| index);
    if snap.index <= wal_point {
        return;
    }
    let chains = log
        .entries
        .iter()
        .find(|e| e.index == snap.index)
        .is_some_and(|e| e.term == snap.term);
    if chains {
        effects.records.push(Record::Compact {
            group,
            index: snap.index,
            term: snap.term,
        });
        return;
    }
    info!(
        snapshot = snap.index,
        "the WAL does not reach the newest snapshot (a crash after a snapshot install); restarting the log there"
    );
    store.install_snapshot(snap.index, snap.term, snap.conf_state.clone());
    effects.records.push(Record::Restore {
        group,
        index: snap.index,
        term: snap.term,
    });
    effects.records.push(Record::ConfState {
        group,
        data: encode_conf_state(&snap.conf_state),
    });
}

/// Voters (incoming and outgoing) and learners (current and staged) of a configuration.
fn conf_members(cs: &ConfState) -> std::collections::BTreeSet<u64> {
    cs.voters
        .iter()
        .chain(&cs.voters_outgoing)
        .chain(&cs.learners)
        .chain(&cs.learners_next)
        .copied()
        .collect()
}

/// Checks a membership change list on its own, before any configuration is looked at: it
/// names at least one change, no node id 0 (raft-rs skips those silently), and no node twice
/// (promoting and removing the same node at once contradicts itself).
fn check_change_list(changes: &[(ConfChangeType, u64)]) -> Result<(), ShardError> {
    if changes.is_empty() {
        return Err(ShardError::Invalid(
            "a membership change needs at least one change".into(),
        ));
    }
    for (i, &(_, node)) in changes.iter().enumerate() {
        if node == 0 {
            return Err(ShardError::Invalid("node id 0 is not a valid node".into()));
        }
        if changes[..i].iter().any(|&(_, earlier)| earlier == node) {
            return Err(ShardError::Invalid(format!(
                "node {node} appears twice in one membership change: the changes contradict each other"
            )));
        }
    }
    Ok(())
}

fn to_wal_entry(entry: &Entry) -> LogEntry {
    LogEntry {
        index: entry.index,
        term: entry.term,
        data: entry
            .write_to_bytes()
            .expect("encoding an in-memory raft entry cannot fail"),
    }
}

fn encode_conf_state(cs: &ConfState) -> Vec<u8> {
    cs.write_to_bytes()
        .expect("encoding an in-memory conf state cannot fail")
}

impl From<SnapshotError> for ShardError {
    fn from(e: SnapshotError) -> Self {
        ShardError::Fatal(e.to_string())
    }
}

impl From<super::storage::RecoverError> for ShardError {
    fn from(e: super::storage::RecoverError) -> Self {
        ShardError::Fatal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    //! One shard alone, as the only voter: it commits by itself, so membership changes that
    //! keep it the only voter (adding learners) apply without peers, joint ones included.
    //! Records go through a real WAL, so a restart rebuilds the shard from disk.

    use tinkerdb_wal::{SyncPolicy, Wal, WalOptions};

    use super::*;

    /// A node's disk: its WAL (written as the driver writes it) and snapshot folder.
    struct Disk {
        dir: tempfile::TempDir,
        wal: Option<Wal>,
    }

    impl Disk {
        fn new() -> Disk {
            Disk {
                dir: tempfile::tempdir().expect("temp dir"),
                wal: None,
            }
        }

        fn wal_options(&self) -> WalOptions {
            WalOptions {
                dir: self.dir.path().join("wal"),
                segment_bytes: 1 << 20,
                sync: SyncPolicy::Always,
                spare_segment: false,
            }
        }

        /// Opens the shard from what the disk holds (a restart when it held something).
        fn open(&mut self) -> Shard {
            self.open_as(vec![1], 0)
        }

        /// Opens node 1 of a group founded by `voters`, with leases of `lease_ms`.
        fn open_as(&mut self, voters: Vec<u64>, lease_ms: u64) -> Shard {
            self.wal = None;
            let (wal, recovered) = Wal::open(self.wal_options()).expect("WAL open");
            let config = ShardConfig {
                node_id: 1,
                group: 1,
                voters,
                election_ticks: 10,
                heartbeat_ticks: 2,
                lease_ms,
                snapshot_entries: u64::MAX,
                snapshot_log_bytes: u64::MAX,
                randomized_election: false,
                boot_id: 7,
                metrics: ShardMetrics::default(),
            };
            let snapshots = SnapshotStore::open(&self.dir.path().join("snap")).expect("snap dir");
            let logger = slog::Logger::root(slog::Discard, slog::o!());
            let mut effects = Effects::default();
            let shard = Shard::open(
                config,
                recovered.groups.get(&1),
                snapshots,
                &logger,
                &mut effects,
            )
            .expect("open the shard");
            self.wal = Some(wal);
            self.write(&effects);
            shard
        }

        fn write(&mut self, effects: &Effects) {
            let wal = self.wal.as_mut().expect("the WAL is open");
            if !effects.records.is_empty() {
                wal.append(&effects.records).expect("WAL append");
                wal.sync().expect("WAL sync");
            }
            for &(group, index, term) in &effects.compactions {
                wal.compact(group, index, term).expect("WAL compact");
            }
        }
    }

    /// Handles one Ready the way the driver does, its records durable at once. Returns false
    /// when there was none.
    fn one_ready(shard: &mut Shard, disk: &mut Disk) -> bool {
        let mut effects = Effects::default();
        let Some(ready) = shard.collect_ready(&mut effects).expect("collect ready") else {
            return false;
        };
        let (number, _) = shard.advance_async(ready, &mut effects);
        disk.write(&effects);
        shard.on_persisted(number);
        true
    }

    /// Handles Readys, and ticks while there is none, until the shard leads and has applied
    /// its whole log; returns whether a joint configuration was seen applied on the way. (A
    /// restarted node campaigns only once it has applied the conf changes it committed, so
    /// it may need an election timeout.)
    fn settle(shard: &mut Shard, disk: &mut Disk) -> bool {
        let mut joint = shard.joint_config().is_some();
        for _ in 0..1000 {
            if !one_ready(shard, disk) {
                let status = shard.status();
                if shard.is_leader() && status.applied == status.last_index {
                    return joint;
                }
                shard.tick();
            }
            joint |= shard.joint_config().is_some();
        }
        panic!("the shard never settled: {:?}", shard.status());
    }

    fn leader(disk: &mut Disk) -> Shard {
        let mut shard = disk.open();
        settle(&mut shard, disk);
        assert!(
            shard.is_leader(),
            "a lone voter leads: {:?}",
            shard.status()
        );
        shard
    }

    fn invalid(result: Result<(), ShardError>, words: &str) {
        match result {
            Err(ShardError::Invalid(why)) if why.contains(words) => {}
            other => panic!("expected Invalid(..{words}..), got {other:?}"),
        }
    }

    fn retry(result: Result<(), ShardError>, words: &str) {
        match result {
            Err(ShardError::Retry(why)) if why.contains(words) => {}
            other => panic!("expected Retry(..{words}..), got {other:?}"),
        }
    }

    fn add_learner(shard: &mut Shard, disk: &mut Disk, id: u64) {
        shard
            .propose_member_change(
                ConfChangeType::AddLearnerNode,
                id,
                Some(format!("127.0.0.1:{id}")),
            )
            .expect("add a learner");
        settle(shard, disk);
        assert!(shard.status().learners.contains(&id));
    }

    #[test]
    fn empty_and_contradictory_change_lists_are_refused() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        invalid(shard.propose_member_changes(&[], None), "at least one");
        invalid(
            shard.propose_member_changes(
                &[
                    (ConfChangeType::AddNode, 3),
                    (ConfChangeType::RemoveNode, 3),
                ],
                None,
            ),
            "appears twice",
        );
        invalid(
            shard.propose_member_changes(&[(ConfChangeType::AddLearnerNode, 0)], None),
            "node id 0",
        );
        // raft-rs's own checks, made before proposing: no voter may be left.
        add_learner(&mut shard, &mut disk, 2);
        invalid(
            shard.propose_member_changes(
                &[
                    (ConfChangeType::AddLearnerNode, 1),
                    (ConfChangeType::AddLearnerNode, 3),
                ],
                None,
            ),
            "removed all voters",
        );
        retry(
            shard.propose_member_changes(&[(ConfChangeType::RemoveNode, 1)], None),
            "move leadership first",
        );
    }

    #[test]
    fn a_replace_names_a_voter_and_a_caught_up_learner() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        invalid(shard.propose_replace(2, 2), "two different nodes");
        invalid(shard.propose_replace(0, 2), "node id 0");
        invalid(shard.propose_replace(5, 1), "is not a member");
        add_learner(&mut shard, &mut disk, 2);
        invalid(shard.propose_replace(2, 1), "is a learner, not a voter");
        invalid(shard.propose_replace(1, 3), "is not a learner");
        retry(shard.propose_replace(1, 2), "move leadership first");
        // While a change is unapplied, another is refused with a reason (raft-rs would
        // silently turn it into an empty entry).
        shard
            .propose_member_change(ConfChangeType::AddLearnerNode, 3, None)
            .expect("add learner 3");
        retry(
            shard.propose_member_change(ConfChangeType::AddLearnerNode, 4, None),
            "not applied yet",
        );
        settle(&mut shard, &mut disk);
        assert_eq!(shard.status().learners, vec![2, 3]);
    }

    #[test]
    fn several_changes_enter_a_joint_configuration_and_leave_it() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        shard
            .propose_member_changes(
                &[
                    (ConfChangeType::AddLearnerNode, 2),
                    (ConfChangeType::AddLearnerNode, 3),
                ],
                Some("127.0.0.1:9".into()),
            )
            .expect("two learners at once");
        assert!(settle(&mut shard, &mut disk), "never joint");
        let status = shard.status();
        assert!(status.voters_outgoing.is_empty(), "{status:?}");
        assert_eq!((status.voters, status.learners), (vec![1], vec![2, 3]));
        assert_eq!(
            shard.member_ids().into_iter().collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    /// Handles Readys until the joint configuration is applied, and no further: raft-rs has
    /// then appended the entry that leaves it, which is not yet durable.
    fn enter_joint_and_stop(shard: &mut Shard, disk: &mut Disk) {
        shard
            .propose_member_changes(
                &[
                    (ConfChangeType::AddLearnerNode, 2),
                    (ConfChangeType::AddLearnerNode, 3),
                ],
                None,
            )
            .expect("two learners at once");
        for _ in 0..100 {
            if shard.joint_config().is_some() {
                return;
            }
            assert!(one_ready(shard, disk), "the change never applied");
        }
        panic!("the change never applied");
    }

    #[test]
    fn a_restart_in_a_joint_configuration_replays_it_and_leaves_it() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        enter_joint_and_stop(&mut shard, &mut disk);
        drop(shard);
        // The WAL holds the entering entry, committed; the leaving one was never written.
        let mut shard = disk.open();
        assert!(
            settle(&mut shard, &mut disk),
            "the WAL replay never re-entered it"
        );
        let status = shard.status();
        assert!(status.voters_outgoing.is_empty(), "not left: {status:?}");
        assert_eq!(status.learners, vec![2, 3]);
    }

    fn set(key: &str) -> Payload {
        let words: Vec<bytes::Bytes> = ["SET", key, "v"]
            .iter()
            .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let command = tinkerdb_kv::parse(&words)
            .expect("well-formed")
            .expect("a data command");
        Payload::Batch {
            tenant: crate::acl::DEFAULT_TENANT.to_string(),
            now_ms: 0,
            ops: vec![(0, command)],
        }
    }

    /// Runs Readys until none is left; returns the tokens answered on the way.
    fn run_readies(shard: &mut Shard, disk: &mut Disk) -> Vec<u64> {
        let mut answered = Vec::new();
        for _ in 0..100 {
            let mut effects = Effects::default();
            let Some(ready) = shard.collect_ready(&mut effects).expect("collect ready") else {
                break;
            };
            let (number, _) = shard.advance_async(ready, &mut effects);
            disk.write(&effects);
            shard.on_persisted(number);
            answered.extend(effects.done.iter().map(|d| d.token));
        }
        answered
    }

    /// Keys in the default tenant's database 0 of the newest snapshot file on `disk`.
    fn keys_in_newest_snapshot(disk: &Disk) -> u64 {
        let store = SnapshotStore::open(&disk.dir.path().join("snap")).expect("snap dir");
        let mut sm = StateMachine::default();
        store
            .load_newest(&mut sm)
            .expect("load")
            .expect("a snapshot");
        let ns = tinkerdb_kv::Namespace {
            tenant: crate::acl::DEFAULT_TENANT.to_string(),
            db: 0,
        };
        let keys = sm.keyspace_read().dbsize(&ns);
        keys
    }

    #[test]
    fn applying_goes_on_while_a_snapshot_is_written_and_the_snapshot_is_of_its_start() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        shard.propose(set("before"), 1).expect("propose");
        assert_eq!(run_readies(&mut shard, &mut disk), vec![1]);
        let mut effects = Effects::default();
        assert!(matches!(
            shard.start_snapshot(&mut effects),
            Ok(SnapshotStart::Started)
        ));
        let writer = effects.snapshot.take().expect("a writer to run");
        let at = writer.index();
        assert!(matches!(
            shard.start_snapshot(&mut Effects::default()),
            Ok(SnapshotStart::AlreadyRunning)
        ));

        // Committed, applied and answered while the snapshot is not written yet.
        shard.propose(set("during"), 2).expect("propose");
        assert_eq!(run_readies(&mut shard, &mut disk), vec![2]);
        let status = shard.status();
        assert!(status.snapshot_in_progress);
        assert!(status.applied > at, "{status:?}");
        assert!(!shard.poll_snapshot(&mut effects), "the writer has not run");

        writer.write();
        let mut effects = Effects::default();
        assert!(shard.poll_snapshot(&mut effects));
        let info = effects
            .snapshot_written
            .take()
            .expect("an outcome")
            .expect("written");
        assert_eq!(info.index, at);
        assert_eq!(effects.compactions, vec![(1, at, info.term)]);
        let status = shard.status();
        assert!(!status.snapshot_in_progress);
        assert_eq!(status.first_index, at + 1, "the log is compacted up to it");
        assert_eq!(
            keys_in_newest_snapshot(&disk),
            1,
            "the snapshot holds the state at its index, without the later write"
        );
    }

    #[test]
    fn a_snapshot_writer_that_never_ran_fails_the_snapshot_and_the_next_one_works() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        shard.propose(set("k"), 1).expect("propose");
        run_readies(&mut shard, &mut disk);
        let mut effects = Effects::default();
        shard.start_snapshot(&mut effects).expect("start");
        drop(effects.snapshot.take());
        let mut effects = Effects::default();
        assert!(shard.poll_snapshot(&mut effects));
        assert!(matches!(effects.snapshot_written, Some(Err(_))));
        assert!(effects.compactions.is_empty());
        shard.propose(set("k2"), 2).expect("propose");
        assert_eq!(run_readies(&mut shard, &mut disk), vec![2]);
        let info = shard
            .snapshot_blocking(&mut Effects::default())
            .expect("the next snapshot");
        assert_eq!(info.index, shard.status().applied);
        assert_eq!(keys_in_newest_snapshot(&disk), 2);
    }

    #[test]
    fn a_snapshot_in_a_joint_configuration_keeps_it_across_a_restart() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        enter_joint_and_stop(&mut shard, &mut disk);
        let mut effects = Effects::default();
        let info = shard.snapshot_blocking(&mut effects).expect("snapshot");
        disk.write(&effects);
        assert_eq!(info.conf_state.voters_outgoing, vec![1]);
        assert!(info.conf_state.auto_leave);
        drop(shard);
        // Restarted from the snapshot (the WAL was compacted up to it): raft-rs restores the
        // joint configuration from its ConfState, then the new term's leader leaves it.
        let mut shard = disk.open();
        assert_eq!(shard.joint_config(), Some((vec![1], vec![1])));
        assert_eq!(shard.status().learners, vec![2, 3]);
        settle(&mut shard, &mut disk);
        let status = shard.status();
        assert!(status.voters_outgoing.is_empty(), "not left: {status:?}");
        assert_eq!(status.learners, vec![2, 3]);
    }

    /// raft-rs leaves only `Auto` (and `Implicit`) joint configurations by itself; with
    /// `Explicit`, or if it missed its chance, the application must propose the empty conf
    /// change. TinkerDB proposes only `Auto`, and its tick does the rest.
    #[test]
    fn a_joint_configuration_raft_rs_does_not_leave_is_left_on_a_tick() {
        let mut disk = Disk::new();
        let mut shard = leader(&mut disk);
        let mut cc = ConfChangeV2::default();
        cc.set_transition(ConfChangeTransition::Explicit);
        let mut single = ConfChangeSingle::default();
        single.set_change_type(ConfChangeType::AddLearnerNode);
        single.node_id = 2;
        cc.mut_changes().push(single);
        shard
            .raw
            .propose_conf_change(Vec::new(), cc)
            .expect("propose an explicit joint change");
        while one_ready(&mut shard, &mut disk) {}
        assert_eq!(
            shard.joint_config(),
            Some((vec![1], vec![1])),
            "raft-rs left it"
        );
        assert!(!shard.raw.store().conf_state().auto_leave);
        shard.tick();
        settle(&mut shard, &mut disk);
        assert_eq!(shard.joint_config(), None);
        assert_eq!(shard.status().learners, vec![2]);
    }

    #[test]
    fn members_include_outgoing_voters_and_staged_learners() {
        let mut cs = ConfState {
            voters: vec![2, 3, 4],
            voters_outgoing: vec![1, 2, 3],
            auto_leave: true,
            ..Default::default()
        };
        assert_eq!(
            conf_members(&cs).into_iter().collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        cs.learners_next = vec![5];
        assert!(conf_members(&cs).contains(&5));
    }

    /// Whether node 1 answers a vote request from node 2 for term 2 at monotonic time `at`.
    fn answers_vote(shard: &mut Shard, disk: &mut Disk, at: u64) -> bool {
        shard.set_time(0, at);
        let mut vote = Message::default();
        vote.set_msg_type(MessageType::MsgRequestVote);
        vote.from = 2;
        vote.to = 1;
        vote.term = 2;
        vote.log_term = 5;
        vote.index = 100;
        shard.step(vote).expect("step");
        let mut effects = Effects::default();
        let mut answered = false;
        if let Some(ready) = shard.collect_ready(&mut effects).expect("collect ready") {
            disk.write(&effects);
            let (number, persisted) = shard.advance_async(ready, &mut effects);
            shard.on_persisted(number);
            answered = persisted
                .iter()
                .chain(&effects.messages)
                .any(|m| m.get_msg_type() == MessageType::MsgRequestVoteResponse && !m.reject);
        }
        answered
    }

    #[test]
    fn with_leases_a_node_refuses_votes_for_a_lease_after_it_starts() {
        let mut disk = Disk::new();
        let mut shard = disk.open_as(vec![1, 2, 3], 400);
        shard.set_time(0, 1_000);
        assert!(
            !answers_vote(&mut shard, &mut disk, 1_399),
            "a vote granted right after a restart could help elect a leader while the old one still reads under a lease it got with this node's help"
        );
        assert!(
            answers_vote(&mut shard, &mut disk, 1_400),
            "after a lease's length it votes again"
        );
    }

    #[test]
    fn without_leases_a_node_votes_at_once_after_it_starts() {
        let mut disk = Disk::new();
        let mut shard = disk.open_as(vec![1, 2, 3], 0);
        shard.set_time(0, 1_000);
        assert!(answers_vote(&mut shard, &mut disk, 1_000));
    }
}
