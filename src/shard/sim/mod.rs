//! # Deterministic simulation of a replicated shard
//!
//! The real [`Shard`] code (raft-rs, the log store, the state machine, snapshots, WAL recovery)
//! runs as a 3- or 5-node cluster inside one thread, with simulated time, network and disks,
//! and every random choice drawn from one seeded [`rng::Rng`]. A seed is a complete, replayable
//! scenario: `TINKERDB_SIM_SEED=<seed> cargo test -p tinkerdb --lib sim:: -- --nocapture`
//! replays one with a trace of its events. This is the idea of FoundationDB's simulator and
//! TigerBeetle's VOPR at a small scale.
//!
//! ## What runs for real and what is simulated
//! - Real: `Shard` (open, tick, step, propose, read, `collect_ready`, `advance_async`,
//!   `on_persisted`, snapshots, snapshot install), snapshot files in a temp folder, and WAL
//!   *recovery*: each restart writes the surviving records through [`tinkerdb_wal::Wal`] and
//!   recovers them from disk.
//! - Simulated: time (virtual milliseconds; `Shard::set_time`, and ticks at seeded, jittered
//!   moments, which stand in for raft-rs's unseeded randomized election timeouts), the network
//!   ([`network`]: delay, loss, duplication, reordering, partitions), the disk's fsync
//!   boundary ([`disk`]: crashes lose unsynced records and may tear the last one), the WAL
//!   thread (a batch's fsync returns 0 to `FSYNC_MS_MAX` ms after it starts; until then the
//!   records stay losable and the messages that promise durability wait, while the node goes on
//!   stepping, proposing and applying), and clients ([`clients`]). The driver's loop is
//!   emulated in [`Sim::process_readies`] in the same order as `driver.rs::process_readies`.
//! - Not simulated: write forwarding from followers (clients retry on the leader instead),
//!   the server and RESP layer, the `PeerMessage::Removed` notice (a node is stopped as soon as
//!   a node's applied configuration shows it removed, see [`Sim::observe_membership`]), key
//!   expiry.
//!
//! ## Faults
//! Crashes and restarts of up to a minority of nodes, including crashes in the middle of a WAL
//! write; partitions that isolate a node or the leader, split majority from minority, or cut
//! links one way; message loss, duplication, delay and reordering. In most seeds also leadership
//! transfers and membership churn (3 to 5 voters; new nodes join as learners through a
//! snapshot, are promoted, voters including the leader are removed or replaced by a learner
//! in one joint-consensus change; ids are never reused).
//! Faults stop at the end of a run, which then heals everything and waits for the cluster to
//! settle.
//!
//! ## Invariants checked
//! 1. **Linearizability**: the clients' history (with unknown outcomes for timeouts, crashes
//!    and "may or may not" errors) passes `tinkerdb_lincheck::kv::check_kv`.
//! 2. **Election safety**: at most one leader per term, across the whole run.
//! 3. **State machine safety**: committed entries never change. After healing, every current
//!    member (the leader's final configuration, new members included) reaches the same applied
//!    index, and all their state machines are byte-identical (`StateMachine::write_snapshot`).
//! 4. **Liveness after healing**: with no faults, the cluster elects a leader, finishes any
//!    membership change in flight (leaves any joint configuration), and every member catches
//!    up within a bounded virtual time.
//! 5. **Lease safety** (seeds with leases): while a leader may read under its lease, no
//!    other node leads a later term, at every step of the run.
//! 6. **No panics**, including the shard's own assertions, and the WAL accepts every record
//!    the shard writes (the rebuild would refuse a gap) and reports exactly the torn tails we
//!    made.
//!
//! ## Layout
//! - `mod.rs`: the [`Sim`] loop (this file), per-seed parameters and the tests.
//! - `nemesis.rs`: choosing faults. `network.rs`, `disk.rs`, `clients.rs`: the simulated world.
//! - `rng.rs`: the seeded generator. `trace.rs`: the event hash and verbose log.

mod clients;
mod disk;
mod nemesis;
mod network;
mod rng;
mod trace;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use tinkerdb_lincheck::kv::check_kv;
use tinkerdb_lincheck::{render, Budget, CheckResult};

use raft::prelude::ConfChangeType;

use super::core::{lease_ms_for, Done, Effects, Shard, ShardConfig};
use super::entry::DbCommand;
use super::snapshot::SnapshotStore;
use super::snapshot_job::SnapshotWriter;
use super::snapshot_transfer::{PieceReader, ReceivedSnapshot, SnapshotPiece, TransferError};
use super::state_machine::read_commands;
use super::ShardError;
use crate::acl::DEFAULT_TENANT;
use crate::metrics::ShardMetrics;
use clients::{Clients, Request};
use disk::Disk;
use network::{Network, NetworkConfig, Packet};
use rng::Rng;
use tinkerdb_kv::ReadCtx;
use tinkerdb_resp::Frame;
use trace::Trace;

/// Runs read commands against a node's applied state, as a connection does once its read is
/// confirmed (`ShardHandle::read`).
fn read_applied(shard: &Shard, ops: &[DbCommand], now: u64, token: u64) -> Vec<Frame> {
    let ctx = ReadCtx {
        now_ms: now,
        random: token,
    };
    read_commands(&shard.state().keyspace_read(), DEFAULT_TENANT, ops, &ctx)
}

/// The Raft group every node serves.
const GROUP: u64 = 1;

/// Most Ready iterations per processing round, as in the driver.
const MAX_READY_ITERATIONS: usize = 16;

/// Raft timing: an election after 10 ticks, heartbeats every 2.
const ELECTION_TICKS: usize = 10;
const HEARTBEAT_TICKS: usize = 2;

/// A tick every 10 ms of virtual time, give or take 2.
const TICK_MS_MIN: u64 = 8;
const TICK_MS_MAX: u64 = 12;
/// Leader lease, when a seed runs with leases: what the driver grants for these timings.
const LEASE_MS: u64 = lease_ms_for(ELECTION_TICKS, TICK_MS_MIN);
/// Longest simulated fsync: the WAL thread reports a batch 0..=this many ms after it starts.
const FSYNC_MS_MAX: u64 = 3;
/// Longest time a simulated snapshot thread takes to write its snapshot (applying goes on).
const SNAPSHOT_MS_MAX: u64 = 200;
/// Simulated time to load a received snapshot: at least this, plus its size at
/// `LOAD_BYTES_PER_MS` (the shard goes on stepping meanwhile).
const LOAD_MS_MIN: u64 = 5;
const LOAD_BYTES_PER_MS: u64 = 256;

/// Virtual time allowed for the clients' work, and for settling afterwards.
const RUN_MS_MAX: u64 = 120_000;
const SETTLE_MS_MAX: u64 = 30_000;

/// Work allowed to the linearizability checker per run (deterministic: steps, no deadline).
const CHECK_STEPS_MAX: u64 = 5_000_000;

/// Share of seeds whose nemesis also transfers leadership and changes membership; the others
/// run exactly the scenarios they ran before those faults existed.
const TOPOLOGY_FAULTS_PER_MILLE: u64 = 800;

/// Every piece of the snapshot file `path` that `msg` stands for.
fn read_pieces(
    path: &Path,
    msg: &raft::prelude::Message,
    piece_bytes: usize,
) -> Result<Vec<SnapshotPiece>, TransferError> {
    let mut reader = PieceReader::open(path, msg, piece_bytes)?;
    let mut pieces = Vec::new();
    while let Some(piece) = reader.next_piece()? {
        pieces.push(piece);
    }
    Ok(pieces)
}

/// Everything one seed decides about a run.
#[derive(Debug, Clone)]
struct SimConfig {
    seed: u64,
    nodes: u64,
    clients: u64,
    ops: u64,
    snapshot_entries: u64,
    network: NetworkConfig,
    /// Chance per WAL write that the node crashes before the fsync, per mille.
    crash_mid_write_per_mille: u64,
    /// Whether the nemesis also transfers leadership and changes the membership.
    topology_faults: bool,
    /// Whether leaders serve reads under a lease (`ShardConfig::lease_ms`), else every read
    /// takes a ReadIndex round.
    leases: bool,
    /// Size of the pieces snapshots travel in (small, so transfers take many pieces).
    snapshot_piece_bytes: usize,
    verbose: bool,
}

impl SimConfig {
    /// Derives a run's parameters from its seed: odd seeds run 5 nodes, even seeds 3.
    fn from_seed(seed: u64, ops: u64, verbose: bool) -> SimConfig {
        let mut rng = Rng::new(seed ^ 0x5eed_c0f1_9000_0000);
        let delay_ms_max = rng.between(2, 25);
        SimConfig {
            seed,
            nodes: if seed % 2 == 1 { 5 } else { 3 },
            clients: rng.between(2, 5),
            ops,
            snapshot_entries: rng.between(20, 120),
            network: NetworkConfig {
                drop_per_mille: rng.between(0, 50),
                duplicate_per_mille: rng.between(0, 30),
                delay_ms_min: 1,
                delay_ms_max,
            },
            crash_mid_write_per_mille: rng.between(0, 3),
            // Drawn last, so the parameters above are what they were before it existed.
            topology_faults: rng.chance(TOPOLOGY_FAULTS_PER_MILLE),
            leases: rng.chance(500),
            snapshot_piece_bytes: rng.between(256, 8192) as usize,
            verbose,
        }
    }
}

/// One simulated node: its shard while it runs, its disk always.
struct Node {
    id: u64,
    /// A founding member (bootstraps the initial configuration); else it joined later, opened
    /// with an empty configuration.
    founding: bool,
    /// Removed from the cluster: never runs again, and its id is never reused.
    gone: bool,
    /// Voters and learners of its applied configuration when last seen running (sorted), and
    /// its applied index then.
    members: Vec<u64>,
    members_applied: u64,
    /// The applied index of the first configuration seen listing this node: an upper bound of
    /// the index of the entry that added it (1 for founders). None until then.
    admitted_at: Option<u64>,
    /// Whether a configuration was seen listing it as a voter.
    was_voter: bool,
    shard: Option<Shard>,
    disk: Disk,
    next_tick_ms: u64,
    /// While down: when it restarts.
    restart_at_ms: Option<u64>,
    /// Tokens of client requests waiting on this node, with their client.
    waiters: BTreeMap<u64, u64>,
    /// Reads waiting at this node's read barrier, by token: the round each waits for and its
    /// commands (a connection runs them itself once the round is confirmed).
    reads: BTreeMap<u64, (u64, Vec<DbCommand>)>,
    /// Reads served under the lease, answered with the next delivery.
    answered: Vec<Done>,
    next_token: u64,
    /// Readys handed to the simulated WAL thread, not yet reported durable, with the messages
    /// that wait for that (the driver's `persisting`).
    persisting: VecDeque<(u64, Vec<raft::prelude::Message>)>,
    /// When the WAL thread's current fsync returns: every pending record becomes durable and
    /// every Ready in `persisting` is reported. None while nothing waits.
    persist_due_ms: Option<u64>,
    /// A snapshot started by the shard, and when the simulated snapshot thread writes it and
    /// reports back. Meanwhile the shard goes on applying: the writer must still write the
    /// state of the snapshot's start (the keyspace's copy-on-write freeze). None while none
    /// runs.
    snapshot_due_ms: Option<u64>,
    snapshot_writer: Option<SnapshotWriter>,
    /// A leader's snapshot received whole, and when the simulated loading thread has read it
    /// (the driver loads off the Raft loop; the shard keeps stepping meanwhile).
    loading: Option<(u64, ReceivedSnapshot)>,
}

impl Node {
    /// A node with an empty disk in `dir`, starting at `start_ms`.
    fn new(id: u64, founding: bool, dir: &Path, start_ms: u64) -> Node {
        Node {
            id,
            founding,
            gone: false,
            members: Vec::new(),
            members_applied: 0,
            admitted_at: founding.then_some(1),
            was_voter: founding,
            shard: None,
            disk: Disk::new(&dir.join(format!("n{id}"))),
            next_tick_ms: 0,
            restart_at_ms: Some(start_ms),
            waiters: BTreeMap::new(),
            reads: BTreeMap::new(),
            answered: Vec::new(),
            next_token: 1,
            persisting: VecDeque::new(),
            persist_due_ms: None,
            snapshot_due_ms: None,
            snapshot_writer: None,
            loading: None,
        }
    }
}

/// What a passing run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    trace_hash: u64,
    events: u64,
    history_ops: usize,
    unknown_ops: usize,
    /// The checker ran out of budget: the history was neither confirmed nor refuted.
    check_inconclusive: bool,
    crashes: u64,
    /// Crashes in the middle of a WAL write, and how many of them left a torn record.
    crashes_mid_write: u64,
    torn_tails: u64,
    partitions: u64,
    /// Snapshots a leader sent to a lagging follower, and those a node installed (a transfer
    /// that lost a piece, or one raft-rs ignored, is sent but not installed).
    snapshots_sent: u64,
    snapshots_installed: u64,
    /// Snapshots written (each off the loop, from a frozen keyspace), and the entries applied
    /// between their start and their writing.
    snapshots_written: u64,
    applied_while_writing: u64,
    leaders_elected: usize,
    /// Leadership transfers that reached their target (`MsgTimeoutNow` delivered).
    transfers: u64,
    /// Reads a leader served under its lease, without a round.
    lease_reads: u64,
    /// Nodes that joined a configuration after the start, that became voters, that were
    /// removed.
    members_added: u64,
    members_promoted: u64,
    members_removed: u64,
    /// Replacements (a voter swapped for a learner in one conf change): joint
    /// configurations some node applied. Every one was left again (liveness check).
    members_replaced: u64,
    /// Removed nodes that still led when they stopped: an outgoing voter elected during a
    /// joint configuration leaves it itself, and so removes itself as leader.
    removed_while_leading: u64,
    final_applied: u64,
    end_ms: u64,
}

/// The simulated cluster.
struct Sim {
    config: SimConfig,
    rng: Rng,
    now_ms: u64,
    nodes: Vec<Node>,
    network: Network,
    clients: Clients,
    nemesis: nemesis::Nemesis,
    trace: Trace,
    /// The leader of every term seen so far (invariant 2).
    leaders: BTreeMap<u64, u64>,
    crashes: u64,
    crashes_mid_write: u64,
    torn_tails: u64,
    snapshots_sent: u64,
    snapshots_written: u64,
    applied_while_writing: u64,
    /// Shared by every node's shard: counts the snapshots installed from a leader.
    metrics: ShardMetrics,
    transfers: u64,
    lease_reads: u64,
    members_added: u64,
    members_promoted: u64,
    members_removed: u64,
    /// Joint configurations some node applied, as `(outgoing voters, incoming voters)`: each
    /// replacement makes a distinct one, since ids are never reused.
    joint_configs: std::collections::BTreeSet<(Vec<u64>, Vec<u64>)>,
    removed_while_leading: u64,
    /// The members whose state machines must agree once settled.
    final_members: Vec<u64>,
    settling: bool,
    logger: slog::Logger,
    /// Holds every node's folder; deleted when the run ends.
    _dir: tempfile::TempDir,
}

impl Sim {
    fn new(config: SimConfig) -> Sim {
        let dir = sim_tempdir();
        let nodes = (1..=config.nodes)
            .map(|id| Node::new(id, true, dir.path(), 0))
            .collect();
        Sim {
            rng: Rng::new(config.seed),
            now_ms: 0,
            nodes,
            network: Network::new(config.network.clone()),
            clients: Clients::new(config.clients, config.nodes, config.ops),
            nemesis: nemesis::Nemesis::new(config.topology_faults),
            trace: Trace::new(config.verbose),
            leaders: BTreeMap::new(),
            crashes: 0,
            crashes_mid_write: 0,
            torn_tails: 0,
            snapshots_sent: 0,
            metrics: ShardMetrics::default(),
            snapshots_written: 0,
            applied_while_writing: 0,
            transfers: 0,
            lease_reads: 0,
            members_added: 0,
            members_promoted: 0,
            members_removed: 0,
            joint_configs: std::collections::BTreeSet::new(),
            removed_while_leading: 0,
            final_members: Vec::new(),
            settling: false,
            logger: slog::Logger::root(slog::Discard, slog::o!()),
            _dir: dir,
            config,
        }
    }

    /// Runs the scenario to the end and checks every invariant.
    fn run(mut self) -> Result<Report, String> {
        let config = format!("{:?}", self.config);
        self.trace.log(0, &config);
        loop {
            if !self.settling && self.clients.done() {
                self.start_settling();
            }
            if self.settling && self.settled() {
                break;
            }
            let limit = if self.settling {
                RUN_MS_MAX + SETTLE_MS_MAX
            } else {
                RUN_MS_MAX
            };
            let next = self.next_event_ms();
            if next > limit {
                return Err(format!(
                    "no progress by {next} ms (settling: {}): {}",
                    self.settling,
                    self.describe_nodes()
                ));
            }
            self.now_ms = next;
            self.step()?;
        }
        self.check_replicas_identical()?;
        self.check_no_stray_transfer_files()?;
        self.check_history()
    }

    /// The earliest moment something happens.
    fn next_event_ms(&self) -> u64 {
        let node_events = self.nodes.iter().map(|n| match n.shard {
            Some(_) => n
                .next_tick_ms
                .min(n.persist_due_ms.unwrap_or(u64::MAX))
                .min(n.snapshot_due_ms.unwrap_or(u64::MAX))
                .min(n.loading.as_ref().map_or(u64::MAX, |(at, _)| *at)),
            None => n.restart_at_ms.unwrap_or(u64::MAX),
        });
        let others = [
            self.network.next_delivery_ms(),
            self.clients.next_event_ms(),
            (!self.settling).then(|| self.nemesis.next_event_ms()),
        ];
        node_events
            .chain(others.into_iter().flatten())
            .min()
            .unwrap_or(u64::MAX)
            .max(self.now_ms)
    }

    /// Everything due at `now_ms`, in a fixed order.
    fn step(&mut self) -> Result<(), String> {
        let now = self.now_ms;
        for index in 0..self.nodes.len() {
            if self.nodes[index].restart_at_ms.is_some_and(|at| at <= now) {
                self.restart(index)?;
            }
        }
        if !self.settling {
            self.run_nemesis();
        }
        for envelope in self.network.take_due(now) {
            let node = &mut self.nodes[envelope.to as usize - 1];
            let Some(shard) = node.shard.as_mut() else {
                continue;
            };
            let msg = match envelope.packet {
                Packet::Raft(msg) => msg,
                Packet::SnapshotPiece(piece) => {
                    self.trace.note(&[
                        now,
                        envelope.from,
                        envelope.to,
                        u64::MAX,
                        piece.transfer.0,
                        piece.offset,
                        piece.total,
                    ]);
                    shard.set_time(now, now);
                    if let Some(received) = shard.receive_snapshot_piece(envelope.from, &piece) {
                        let at = now + LOAD_MS_MIN + piece.total / LOAD_BYTES_PER_MS;
                        node.loading = Some((at, received));
                    }
                    continue;
                }
            };
            if msg.get_msg_type() == raft::prelude::MessageType::MsgTimeoutNow {
                self.transfers += 1;
                let text = format!("n{} → n{}: leadership transfer", envelope.from, envelope.to);
                self.trace.log(now, &text);
            }
            self.trace.note(&[
                now,
                envelope.from,
                envelope.to,
                msg.get_msg_type() as u64,
                msg.term,
                msg.index,
                msg.commit,
            ]);
            shard.set_time(now, now);
            // The simulated disk never loses fsynced records, so a node can never be behind
            // what it acknowledged: the shard's data-loss check must stay silent.
            shard
                .step(msg)
                .expect("a node's durable log never falls behind what it acknowledged");
        }
        for node in &mut self.nodes {
            let Some(shard) = node.shard.as_mut() else {
                continue;
            };
            shard.set_time(now, now);
            if node.next_tick_ms <= now {
                shard.tick();
                node.next_tick_ms = now + self.rng.between(TICK_MS_MIN, TICK_MS_MAX);
            }
        }
        self.run_clients();
        for index in 0..self.nodes.len() {
            if self.nodes[index].persist_due_ms.is_some_and(|at| at <= now) {
                self.wal_thread_reports(index);
            }
            if self.nodes[index]
                .snapshot_due_ms
                .is_some_and(|at| at <= now)
            {
                self.snapshot_thread_reports(index);
            }
            if self.nodes[index]
                .loading
                .as_ref()
                .is_some_and(|(at, _)| *at <= now)
            {
                self.snapshot_loaded(index)?;
            }
        }
        for index in 0..self.nodes.len() {
            self.process_readies(index)?;
        }
        self.observe_membership();
        self.check_election_safety();
        self.check_lease_safety();
        Ok(())
    }

    /// Clients give up on late answers and send new requests.
    fn run_clients(&mut self) {
        let now = self.now_ms;
        for (node, token) in self.clients.expire(now, &mut self.rng) {
            self.nodes[node as usize - 1].waiters.remove(&token);
            self.nodes[node as usize - 1].reads.remove(&token);
            self.trace
                .log(now, &format!("client request {token} on n{node} timed out"));
        }
        for request in self.clients.due_requests(now, &mut self.rng) {
            self.submit(request);
        }
    }

    /// Hands a client's request to its node, as a connection would through the driver.
    fn submit(&mut self, request: Request) {
        let now = self.now_ms;
        let node = &mut self.nodes[request.node as usize - 1];
        let Some(shard) = node.shard.as_mut() else {
            self.trace.log(
                now,
                &format!(
                    "c{} → n{}: connection refused",
                    request.client, request.node
                ),
            );
            self.clients.refused(request, None, now, &mut self.rng);
            return;
        };
        let token = node.next_token;
        node.next_token += 1;
        let result = if request.kind.is_write() {
            shard.propose(request.kind.payload(), token)
        } else if shard.leader() == 0 {
            // What `ShardHandle::read` answers during an election.
            Err(ShardError::NotLeader { leader: 0 })
        } else if shard.lease_holds_now() {
            // Under the lease a connection reads at once; the answer may travel later.
            let result = Ok(read_applied(
                shard,
                &request.kind.read_commands(),
                now,
                token,
            ));
            node.answered.push(Done { token, result });
            self.lease_reads += 1;
            Ok(())
        } else {
            let round = shard.read_barrier().request();
            node.reads
                .insert(token, (round, request.kind.read_commands()));
            Ok(())
        };
        let text = format!(
            "c{} → n{} token {token}: {:?} ({})",
            request.client,
            request.node,
            request.kind,
            match &result {
                Ok(()) => "accepted".to_string(),
                Err(e) => format!("refused: {e}"),
            }
        );
        self.trace.log(now, &text);
        match result {
            Ok(()) => {
                node.waiters.insert(token, request.client);
                self.clients.sent(request, token, now);
            }
            Err(e) => self.clients.refused(request, Some(e), now, &mut self.rng),
        }
    }

    /// The driver's `process_readies`, with a simulated WAL: collect, persist, commit
    /// (fsync), finish, prepare a wanted snapshot, compact, deliver.
    fn process_readies(&mut self, index: usize) -> Result<(), String> {
        let Some(mut shard) = self.nodes[index].shard.take() else {
            return Ok(());
        };
        for _ in 0..MAX_READY_ITERATIONS {
            shard.flush_reads();
            let mut effects = Effects::default();
            let ready = shard
                .collect_ready(&mut effects)
                .map_err(|e| format!("n{}: {e}", index + 1))?;
            let Some(ready) = ready else {
                self.deliver(index, &mut shard, effects);
                break;
            };
            let has_records = !effects.records.is_empty();
            if has_records {
                let records = std::mem::take(&mut effects.records);
                self.nodes[index].disk.append(records);
                if self.rng.chance(self.config.crash_mid_write_per_mille) {
                    // `crashable` must see this node running.
                    self.nodes[index].shard = Some(shard);
                    if self.crashable().contains(&(index as u64 + 1)) {
                        // The process dies before the fsync returns: nothing of this Ready is
                        // sent or acknowledged, and the disk keeps only part of the write.
                        self.crash(index, true);
                        return Ok(());
                    }
                    shard = self.nodes[index]
                        .shard
                        .take()
                        .expect("the shard was just put back");
                }
            }
            // As in the driver: the records stay pending (a crash may lose them) until the
            // simulated WAL thread's fsync returns, a little later, and the messages that
            // promise durability wait for that; a commit-only Ready with nothing in flight
            // before it is done at once.
            let commit_only = effects.commit_only;
            let (number, persisted) = shard.advance_async(ready, &mut effects);
            let node = &mut self.nodes[index];
            let wait = (has_records && !commit_only) || !node.persisting.is_empty();
            if wait {
                node.persisting.push_back((number, persisted));
                if node.persist_due_ms.is_none() {
                    node.persist_due_ms = Some(self.now_ms + self.rng.between(0, FSYNC_MS_MAX));
                }
            } else {
                shard.on_persisted(number);
                effects.messages.extend(persisted);
            }
            assert!(
                effects.records.is_empty(),
                "advance_async emitted WAL records, which the driver would never write: {:?}",
                effects.records
            );
            if let Err(e) = shard.prepare_wanted_snapshot(&mut effects) {
                let text = format!("n{}: could not prepare a snapshot: {e}", index + 1);
                self.trace.log(self.now_ms, &text);
            }
            self.snapshot_effects(index, &mut effects);
            self.deliver(index, &mut shard, effects);
        }
        self.nodes[index].shard = Some(shard);
        Ok(())
    }

    /// The simulated WAL thread's fsync returned: what was appended is durable, and the Readys
    /// waiting for it are reported (their messages go out, raft-rs learns it).
    fn wal_thread_reports(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.persist_due_ms = None;
        let Some(mut shard) = node.shard.take() else {
            return;
        };
        node.disk.commit();
        let mut effects = Effects::default();
        let mut last = None;
        for (number, messages) in node.persisting.drain(..) {
            effects.messages.extend(messages);
            last = Some(number);
        }
        if let Some(number) = last {
            shard.on_persisted(number);
        }
        self.deliver(index, &mut shard, effects);
        self.nodes[index].shard = Some(shard);
    }

    /// The driver's `snapshot_effects`: compacts the simulated WAL up to a written snapshot,
    /// and runs a new snapshot's writer (at once; its report comes a little later).
    fn snapshot_effects(&mut self, index: usize, effects: &mut Effects) {
        for &(group, at, term) in &effects.compactions {
            self.nodes[index].disk.compact(group, at, term);
            let text = format!("n{}: snapshot and WAL compaction at {at}/{term}", index + 1);
            self.trace.log(self.now_ms, &text);
        }
        effects.compactions.clear();
        if let Some(writer) = effects.snapshot.take() {
            let text = format!("n{}: snapshot at {} started", index + 1, writer.index());
            self.trace.log(self.now_ms, &text);
            self.nodes[index].snapshot_writer = Some(writer);
            self.nodes[index].snapshot_due_ms =
                Some(self.now_ms + self.rng.between(0, SNAPSHOT_MS_MAX));
        }
    }

    /// The simulated snapshot thread writes the snapshot (the state of its start, whatever
    /// was applied since) and reports back: the shard ends the freeze and compacts.
    fn snapshot_thread_reports(&mut self, index: usize) {
        self.nodes[index].snapshot_due_ms = None;
        let Some(mut shard) = self.nodes[index].shard.take() else {
            return;
        };
        let applied_since = match self.nodes[index].snapshot_writer.take() {
            Some(writer) => {
                let since = shard.status().applied.saturating_sub(writer.index());
                writer.write();
                since
            }
            None => 0,
        };
        let mut effects = Effects::default();
        if shard.poll_snapshot(&mut effects) {
            self.snapshots_written += 1;
            self.applied_while_writing += applied_since;
        }
        self.snapshot_effects(index, &mut effects);
        self.deliver(index, &mut shard, effects);
        self.nodes[index].shard = Some(shard);
    }

    /// The simulated loading thread read a received snapshot: the shard steps it. Until then,
    /// the node's status shows it loading.
    fn snapshot_loaded(&mut self, index: usize) -> Result<(), String> {
        let Some((_, received)) = self.nodes[index].loading.take() else {
            return Ok(());
        };
        let Some(shard) = self.nodes[index].shard.as_mut() else {
            return Ok(());
        };
        let shown = shard.status().snapshot_receive;
        let expected = received.progress();
        if shown.as_ref() != Some(&expected) {
            return Err(format!(
                "n{} loads snapshot {:?} but its status shows {shown:?}",
                index + 1,
                received.index_term()
            ));
        }
        shard.set_time(self.now_ms, self.now_ms);
        drop(shard.snapshot_loaded(received.load()));
        Ok(())
    }

    /// Sends a Ready's messages (one batch per peer, as the driver does, with the same
    /// unreachable and snapshot reports) and hands replies to the waiting clients.
    fn deliver(&mut self, index: usize, shard: &mut Shard, effects: Effects) {
        let now = self.now_ms;
        let from = index as u64 + 1;
        let mut by_peer: BTreeMap<u64, Vec<raft::prelude::Message>> = BTreeMap::new();
        for msg in effects.messages {
            by_peer.entry(msg.to).or_default().push(msg);
        }
        for (to, messages) in by_peer {
            let mut snapshots = 0;
            let mut sent = true;
            for msg in messages {
                if msg.get_msg_type() == raft::prelude::MessageType::MsgSnapshot {
                    snapshots += 1;
                    self.snapshots_sent += 1;
                    let meta = msg.get_snapshot().get_metadata();
                    let cs = meta.get_conf_state();
                    let text = format!(
                        "n{from} → n{to}: snapshot at {}/{} (voters {:?}, learners {:?})",
                        meta.index, meta.term, cs.voters, cs.learners
                    );
                    self.trace.log(now, &text);
                    // As the driver streams it: the sender's snapshot file, piece by piece.
                    let path = shard.snapshot_path(meta.index, meta.term);
                    match read_pieces(&path, &msg, self.config.snapshot_piece_bytes) {
                        Ok(pieces) => {
                            for piece in pieces {
                                let packet = Packet::SnapshotPiece(piece);
                                sent &= self.network.send(now, from, to, packet, &mut self.rng);
                            }
                        }
                        Err(e) => {
                            self.trace
                                .log(now, &format!("n{from}: cannot send a snapshot: {e}"));
                            sent = false;
                        }
                    }
                    continue;
                }
                sent &= self
                    .network
                    .send(now, from, to, Packet::Raft(msg), &mut self.rng);
            }
            if !sent {
                shard.report_unreachable(to);
            }
            for _ in 0..snapshots {
                shard.report_snapshot(to, sent);
            }
        }
        let mut done_list = effects.done;
        done_list.append(&mut self.nodes[index].answered);
        // Reads whose round is confirmed run now, against the applied state, as a connection
        // runs them after `ReadBarrier::wait`.
        let barrier = shard.read_barrier();
        let confirmed: Vec<u64> = self.nodes[index]
            .reads
            .iter()
            .filter(|(_, (round, _))| barrier.is_confirmed(*round))
            .map(|(token, _)| *token)
            .collect();
        for token in confirmed {
            let Some((_, ops)) = self.nodes[index].reads.remove(&token) else {
                continue;
            };
            let result = Ok(read_applied(shard, &ops, now, token));
            done_list.push(Done { token, result });
        }
        for done in done_list {
            let Some(client) = self.nodes[index].waiters.remove(&done.token) else {
                continue;
            };
            let text = format!(
                "n{from} → c{client} token {}: {:?}",
                done.token, done.result
            );
            self.trace.log(now, &text);
            self.clients
                .answered(client, from, done.token, done.result, now, &mut self.rng);
        }
    }

    /// The running nodes the nemesis may kill now: no voter if a minority of voters is already
    /// down (a majority must stay up so the run makes progress), else every running node.
    /// Voters are those of any running node's configuration (old and new ones during a change,
    /// both halves of a joint configuration; removed nodes still listed count as down), and
    /// the smallest configuration sets the limit. Without membership changes this is every
    /// node, and the limit `(nodes - 1) / 2`.
    fn crashable(&self) -> Vec<u64> {
        if self.settling {
            return Vec::new();
        }
        let mut voters = std::collections::BTreeSet::new();
        let mut smallest = usize::MAX;
        for shard in self.nodes.iter().filter_map(|n| n.shard.as_ref()) {
            let status = shard.status();
            // A joint configuration needs a majority of each of its two voter sets.
            for set in [status.voters, status.voters_outgoing] {
                if !set.is_empty() {
                    smallest = smallest.min(set.len());
                    voters.extend(set);
                }
            }
        }
        let running = |id: u64| self.nodes[id as usize - 1].shard.is_some();
        let down = voters.iter().filter(|id| !running(**id)).count();
        let voters_may_crash = smallest != usize::MAX && down < (smallest - 1) / 2;
        self.nodes
            .iter()
            .filter(|n| n.shard.is_some() && (voters_may_crash || !voters.contains(&n.id)))
            .map(|n| n.id)
            .collect()
    }

    /// Kills node `index` (its shard must already be taken out or dropped by the caller).
    fn crash(&mut self, index: usize, mid_write: bool) {
        let now = self.now_ms;
        let how = if mid_write {
            "in the middle of a WAL write"
        } else {
            "(killed)"
        };
        let node = &mut self.nodes[index];
        node.shard = None;
        node.persisting.clear();
        node.persist_due_ms = None;
        node.snapshot_due_ms = None;
        node.snapshot_writer = None;
        node.loading = None;
        let (kept, torn) = node.disk.crash(&mut self.rng);
        node.waiters.clear();
        node.reads.clear();
        node.answered.clear();
        node.restart_at_ms = Some(now + self.rng.between(20, 1500));
        self.crashes += 1;
        self.crashes_mid_write += u64::from(mid_write);
        self.torn_tails += u64::from(torn);
        let id = node.id;
        self.clients.node_crashed(id, now, &mut self.rng);
        let text = format!(
            "n{id} crashed {how}; {kept} unsynced records reached the disk{}",
            if torn { ", the last one torn" } else { "" }
        );
        self.trace.log(now, &text);
    }

    /// Starts node `index` from its disk: snapshot folder plus recovered WAL.
    fn restart(&mut self, index: usize) -> Result<(), String> {
        let now = self.now_ms;
        let boot_id = self.rng.next_u64();
        let node = &mut self.nodes[index];
        node.restart_at_ms = None;
        let log = node
            .disk
            .recover(GROUP)
            .map_err(|e| format!("n{}: {e}", node.id))?;
        let snapshots = SnapshotStore::open(&node.disk.snapshot_dir())
            .map_err(|e| format!("n{}: snapshot folder: {e}", node.id))?;
        let config = ShardConfig {
            node_id: node.id,
            group: GROUP,
            // A joiner starts with no configuration: the leader's snapshot brings it.
            voters: if node.founding {
                (1..=self.config.nodes).collect()
            } else {
                Vec::new()
            },
            election_ticks: ELECTION_TICKS,
            heartbeat_ticks: HEARTBEAT_TICKS,
            lease_ms: if self.config.leases { LEASE_MS } else { 0 },
            snapshot_entries: self.config.snapshot_entries,
            snapshot_log_bytes: u64::MAX,
            randomized_election: false,
            boot_id,
            metrics: self.metrics.clone(),
        };
        let mut effects = Effects::default();
        let mut shard = Shard::open(config, log.as_ref(), snapshots, &self.logger, &mut effects)
            .map_err(|e| format!("n{} failed to start: {e}", node.id))?;
        shard.set_time(now, now);
        if !effects.records.is_empty() {
            node.disk.append(effects.records);
            node.disk.commit();
        }
        node.shard = Some(shard);
        node.waiters.clear();
        node.reads.clear();
        node.answered.clear();
        node.next_token = 1;
        node.next_tick_ms = now + self.rng.between(1, TICK_MS_MAX);
        let status = self.nodes[index].shard.as_ref().map(Shard::status);
        if let Some(s) = status {
            let text = format!(
                "n{} started: term {}, commit {}, applied {}, log {}..={}",
                index + 1,
                s.term,
                s.commit,
                s.applied,
                s.first_index,
                s.last_index
            );
            self.trace.log(now, &text);
        }
        Ok(())
    }

    /// Carries out the fault the nemesis picks for now, if any.
    fn run_nemesis(&mut self) {
        let now = self.now_ms;
        if !self.nemesis.due(now) {
            return;
        }
        let leader = self.current_leader();
        let crashable = self.crashable();
        let topology = self.topology(leader);
        let action = self.nemesis.next(
            now,
            leader,
            &crashable,
            &topology,
            &mut self.network,
            &mut self.rng,
        );
        self.act(action, leader);
    }

    /// Carries out one nemesis action (`leader`: the current leader, which proposes
    /// membership changes).
    fn act(&mut self, action: nemesis::Action, leader: Option<u64>) {
        let now = self.now_ms;
        match action {
            nemesis::Action::None => {}
            nemesis::Action::Crash(id) => self.crash(id as usize - 1, false),
            nemesis::Action::Network(text) => self.trace.log(now, &text),
            nemesis::Action::Transfer { via, to } => {
                let Some(shard) = self.nodes[via as usize - 1].shard.as_mut() else {
                    return;
                };
                let result = shard.transfer_leader(to);
                let text = format!("n{via} asked to transfer leadership to n{to}: {result:?}");
                self.trace.log(now, &text);
            }
            nemesis::Action::AddLearner(id) => {
                if id == self.nodes.len() as u64 + 1 {
                    let dir = self._dir.path().to_path_buf();
                    self.nodes.push(Node::new(id, false, &dir, now));
                    self.clients.set_nodes(self.live_ids());
                    self.trace.log(
                        now,
                        &format!("n{id} created, joining (empty configuration)"),
                    );
                }
                let addr = Some(format!("sim-n{id}"));
                self.change_members(leader, ConfChangeType::AddLearnerNode, id, addr);
            }
            nemesis::Action::Promote(id) => {
                self.change_members(leader, ConfChangeType::AddNode, id, None);
            }
            nemesis::Action::Remove(id) => {
                self.change_members(leader, ConfChangeType::RemoveNode, id, None);
            }
            nemesis::Action::Replace { remove, add } => {
                let Some(shard) = leader.and_then(|l| self.nodes[l as usize - 1].shard.as_mut())
                else {
                    return;
                };
                let result = shard.propose_replace(remove, add);
                let text = format!(
                    "n{} proposes replacing n{remove} by n{add} (joint): {result:?}",
                    leader.unwrap_or(0)
                );
                self.trace.log(now, &text);
            }
        }
    }

    /// Proposes a membership change on the leader.
    fn change_members(
        &mut self,
        leader: Option<u64>,
        change: ConfChangeType,
        id: u64,
        addr: Option<String>,
    ) {
        let Some(shard) = leader.and_then(|l| self.nodes[l as usize - 1].shard.as_mut()) else {
            return;
        };
        let result = shard.propose_member_change(change, id, addr);
        let text = format!(
            "n{} proposes {change:?} n{id}: {result:?}",
            leader.unwrap_or(0)
        );
        self.trace.log(self.now_ms, &text);
    }

    /// Ids of the nodes not removed.
    fn live_ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| !n.gone)
            .map(|n| n.id)
            .collect()
    }

    /// The cluster's shape, for the nemesis.
    fn topology(&self, leader: Option<u64>) -> nemesis::Topology {
        let leader_config = leader
            .and_then(|l| self.nodes[l as usize - 1].shard.as_ref())
            .map(|s| {
                let status = s.status();
                (status.voters, status.learners)
            });
        nemesis::Topology {
            live: self.live_ids(),
            running: self
                .nodes
                .iter()
                .filter(|n| !n.gone && n.shard.is_some())
                .map(|n| n.id)
                .collect(),
            leader_config,
            joining: self
                .nodes
                .iter()
                .find(|n| !n.gone && n.admitted_at.is_none())
                .map(|n| n.id),
            next_id: self.nodes.len() as u64 + 1,
        }
    }

    /// Follows every running node's applied configuration. A node listed in a configuration
    /// (an outgoing voter of a joint one too) is admitted; a node is removed (stopped for
    /// good, as the production driver stops itself) once some node's applied configuration no
    /// longer lists it although that node applied past the entry that added it, or once it
    /// applied its own removal. Applied entries are committed, so neither can be a stale or
    /// uncommitted view. Joint configurations applied anywhere are counted as replacements.
    fn observe_membership(&mut self) {
        let mut changed = false;
        for node in &mut self.nodes {
            let Some(shard) = node.shard.as_ref() else {
                continue;
            };
            if let Some(joint) = shard.joint_config() {
                if self.joint_configs.insert(joint.clone()) {
                    let text = format!(
                        "n{} applied a joint configuration: outgoing voters {:?}, incoming {:?}",
                        node.id, joint.0, joint.1
                    );
                    self.trace.log(self.now_ms, &text);
                }
            }
            let ids: Vec<u64> = shard.member_ids().into_iter().collect();
            let removed_self = shard.removed();
            if ids != node.members || removed_self {
                let status = shard.status();
                node.members = ids;
                node.members_applied = status.applied;
                changed = true;
                if !node.was_voter && status.voters.contains(&node.id) {
                    node.was_voter = true;
                    self.members_promoted += 1;
                    let text = format!("n{} is a voter (seen on itself)", node.id);
                    self.trace.log(self.now_ms, &text);
                }
            }
        }
        if !changed {
            return;
        }
        let now = self.now_ms;
        let mut admitted = Vec::new();
        for node in &self.nodes {
            for &id in &node.members {
                if self.nodes[id as usize - 1].admitted_at.is_none() {
                    admitted.push((id, node.members_applied));
                }
            }
        }
        for (id, applied) in admitted {
            let node = &mut self.nodes[id as usize - 1];
            if node.admitted_at.is_none() {
                node.admitted_at = Some(applied);
                self.members_added += 1;
                self.trace
                    .log(now, &format!("n{id} is a member (applied index {applied})"));
            }
        }
        let mut removed = Vec::new();
        for candidate in self.nodes.iter().filter(|n| !n.gone) {
            let Some(added) = candidate.admitted_at else {
                continue;
            };
            let removed_self = candidate.shard.as_ref().is_some_and(Shard::removed);
            let seen_removed = self.nodes.iter().any(|n| {
                !n.members.is_empty()
                    && n.members_applied >= added
                    && !n.members.contains(&candidate.id)
            });
            if removed_self || seen_removed {
                removed.push(candidate.id);
            }
        }
        for id in removed {
            let node = &mut self.nodes[id as usize - 1];
            if node
                .shard
                .as_ref()
                .is_some_and(|s| s.status().role == "leader")
            {
                self.removed_while_leading += 1;
                self.trace
                    .log(now, &format!("n{id} leads as it leaves the configuration"));
            }
            node.gone = true;
            node.shard = None;
            node.loading = None;
            node.restart_at_ms = None;
            node.waiters.clear();
            node.reads.clear();
            node.answered.clear();
            node.answered.clear();
            self.members_removed += 1;
            self.clients.node_crashed(id, now, &mut self.rng);
            self.clients.set_nodes(self.live_ids());
            self.trace.log(
                now,
                &format!("n{id} removed from the cluster; stopped for good"),
            );
        }
    }

    /// Some node that believes it leads, if any (the highest term wins).
    fn current_leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter_map(|n| {
                n.shard
                    .as_ref()
                    .filter(|s| s.is_leader())
                    .map(|s| (s.status().term, n.id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// Invariant 5: a node reading under its lease is the only leader of any term from its
    /// own on, which is what makes those reads linearizable without a round.
    fn check_lease_safety(&self) {
        let leaders: Vec<(u64, u64)> = self
            .nodes
            .iter()
            .filter_map(|n| {
                n.shard
                    .as_ref()
                    .filter(|s| s.is_leader())
                    .map(|s| (n.id, s.status().term))
            })
            .collect();
        for node in &self.nodes {
            let Some(shard) = node.shard.as_ref().filter(|s| s.lease_holds_now()) else {
                continue;
            };
            let term = shard.status().term;
            for &(other, other_term) in &leaders {
                assert!(
                    other == node.id || other_term <= term,
                    "n{} reads under its lease of term {term} while n{other} leads term {other_term}",
                    node.id
                );
            }
        }
    }

    /// Invariant 2: at most one leader per term.
    fn check_election_safety(&mut self) {
        let mut elected = Vec::new();
        for node in &self.nodes {
            let Some(shard) = node.shard.as_ref().filter(|s| s.is_leader()) else {
                continue;
            };
            let term = shard.status().term;
            match self.leaders.get(&term) {
                Some(&known) => assert!(
                    known == node.id,
                    "two leaders in term {term}: n{known} and n{}",
                    node.id
                ),
                None => elected.push((term, node.id)),
            }
        }
        for (term, id) in elected {
            self.leaders.insert(term, id);
            self.trace
                .log(self.now_ms, &format!("n{id} leads term {term}"));
        }
    }

    /// The clients are done: heal everything, restart every node, stop faults.
    fn start_settling(&mut self) {
        self.settling = true;
        self.network.heal();
        self.network.calm();
        for node in &mut self.nodes {
            if node.shard.is_none() && !node.gone {
                node.restart_at_ms = Some(self.now_ms);
            }
        }
        self.trace.log(
            self.now_ms,
            "clients done: network healed and calm, every node restarting; settling",
        );
    }

    /// Whether every node not removed runs, a leader is known and has committed its whole
    /// log (so no membership change is in flight) and is not in a joint configuration (every
    /// replacement finished), no removed node is still waiting to be noticed, and every
    /// member of the leader's configuration has applied that same log. A joiner that never
    /// made it into a configuration is not a member and is not waited for.
    fn settled(&mut self) -> bool {
        if self.nodes.iter().any(|n| !n.gone && n.shard.is_none()) {
            return false;
        }
        let statuses: Vec<_> = self
            .nodes
            .iter()
            .filter_map(|n| n.shard.as_ref().map(Shard::status))
            .collect();
        let Some(leader) = statuses
            .iter()
            .filter(|s| s.role == "leader")
            .max_by_key(|s| s.term)
        else {
            return false;
        };
        // A joint configuration must have been left: the run checks that it always is.
        if !leader.caught_up
            || leader.last_index != leader.commit
            || !leader.voters_outgoing.is_empty()
        {
            return false;
        }
        let mut members: Vec<u64> = leader
            .voters
            .iter()
            .chain(&leader.learners)
            .copied()
            .collect();
        members.sort_unstable();
        let listed_and_running = members.iter().all(|id| {
            self.nodes
                .get(*id as usize - 1)
                .is_some_and(|n| n.shard.is_some())
        });
        // A live node that was admitted but is no longer listed is about to be removed.
        let removal_pending = self
            .nodes
            .iter()
            .any(|n| !n.gone && n.admitted_at.is_some() && !members.contains(&n.id));
        if !listed_and_running || removal_pending {
            return false;
        }
        let caught_up = statuses
            .iter()
            .filter(|s| members.contains(&s.node_id))
            .all(|s| {
                s.applied == leader.commit
                    && s.commit == leader.commit
                    && s.leader == leader.node_id
            });
        if caught_up {
            self.final_members = members;
        }
        caught_up
    }

    /// A running node keeps a received snapshot's file only while it receives, loads or is
    /// about to install it: every other path deletes it.
    fn check_no_stray_transfer_files(&self) -> Result<(), String> {
        for node in &self.nodes {
            let Some(shard) = node.shard.as_ref() else {
                continue;
            };
            if node.loading.is_some() || shard.status().snapshot_receive.is_some() {
                continue;
            }
            let path = shard.snapshot_path(1, 1);
            let Some(dir) = path.parent() else {
                continue;
            };
            let entries = std::fs::read_dir(dir).map_err(|e| format!("n{}: {e}", node.id))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.contains(".recv-") {
                    return Err(format!("n{} left a transfer file behind: {name}", node.id));
                }
            }
        }
        Ok(())
    }

    /// Invariant 3: every state machine holds exactly the same bytes.
    fn check_replicas_identical(&mut self) -> Result<(), String> {
        let mut first: Option<(u64, Vec<u8>)> = None;
        let members = &self.final_members;
        for node in self.nodes.iter().filter(|n| members.contains(&n.id)) {
            let Some(shard) = &node.shard else {
                return Err(format!("n{} is down after settling", node.id));
            };
            let mut bytes = Vec::new();
            shard
                .state()
                .write_snapshot(&mut bytes)
                .map_err(|e| format!("n{}: state snapshot: {e}", node.id))?;
            match &first {
                None => first = Some((node.id, bytes)),
                Some((id, other)) if *other != bytes => {
                    return Err(format!(
                        "replicas diverged: n{id} and n{} applied the same index {} but hold \
                         different state ({} vs {} bytes): {}",
                        node.id,
                        shard.status().applied,
                        other.len(),
                        bytes.len(),
                        self.describe_nodes()
                    ));
                }
                Some(_) => {}
            }
        }
        let text = format!("settled: {}", self.describe_nodes());
        self.trace.log(self.now_ms, &text);
        Ok(())
    }

    /// Invariant 1: the clients' history is linearizable.
    fn check_history(self) -> Result<Report, String> {
        let history = self.clients.history();
        let result = check_kv(history, Budget::steps(CHECK_STEPS_MAX));
        if let CheckResult::NotLinearizable { .. } = result {
            return Err(format!(
                "history is not linearizable:\n{}",
                render(history, &result)
            ));
        }
        Ok(Report {
            trace_hash: self.trace.hash(),
            events: self.trace.events(),
            history_ops: history.len(),
            unknown_ops: history.iter().filter(|op| !op.is_returned()).count(),
            check_inconclusive: result == CheckResult::Unknown,
            crashes: self.crashes,
            crashes_mid_write: self.crashes_mid_write,
            torn_tails: self.torn_tails,
            partitions: self.nemesis.partitions(),
            snapshots_sent: self.snapshots_sent,
            snapshots_installed: self.metrics.snapshot_transfers().1,
            snapshots_written: self.snapshots_written,
            applied_while_writing: self.applied_while_writing,
            leaders_elected: self.leaders.len(),
            transfers: self.transfers,
            lease_reads: self.lease_reads,
            members_added: self.members_added,
            members_promoted: self.members_promoted,
            members_removed: self.members_removed,
            members_replaced: self.joint_configs.len() as u64,
            removed_while_leading: self.removed_while_leading,
            final_applied: self
                .nodes
                .iter()
                .filter_map(|n| n.shard.as_ref())
                .map(|s| s.status().applied)
                .max()
                .unwrap_or(0),
            end_ms: self.now_ms,
        })
    }

    /// One line per node, for failure messages.
    fn describe_nodes(&self) -> String {
        let lines: Vec<String> = self
            .nodes
            .iter()
            .map(|n| match &n.shard {
                None if n.gone => format!("n{}: removed", n.id),
                None => format!("n{}: down", n.id),
                Some(shard) => {
                    let s = shard.status();
                    format!(
                        "n{}: {} term {} leader {} commit {} applied {} log {}..={} voters {:?} \
                         learners {:?} progress {:?}",
                        n.id,
                        s.role,
                        s.term,
                        s.leader,
                        s.commit,
                        s.applied,
                        s.first_index,
                        s.last_index,
                        s.voters,
                        s.learners,
                        s.progress
                            .iter()
                            .map(|p| (p.id, p.matched, p.state.clone()))
                            .collect::<Vec<_>>()
                    )
                }
            })
            .collect();
        lines.join("; ")
    }
}

/// A folder for one run's disks: in memory (`/dev/shm`) where available, since snapshots
/// fsync and a CI run writes thousands of them.
fn sim_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("tinkerdb-sim-");
        b
    };
    if shm.is_dir() {
        if let Ok(dir) = builder.tempdir_in(shm) {
            return dir;
        }
    }
    builder
        .tempdir()
        .expect("create a temp folder for the simulation")
}

/// Runs one seed; the error explains the failure and how to replay it.
fn run_seed(seed: u64, ops: u64, verbose: bool) -> Result<Report, String> {
    run_config(SimConfig::from_seed(seed, ops, verbose))
}

/// Runs one seed without leadership transfers and membership changes, whatever the seed
/// says: exactly the run the seed made before those faults existed.
fn run_seed_without_topology_faults(seed: u64, ops: u64) -> Result<Report, String> {
    let mut config = SimConfig::from_seed(seed, ops, false);
    config.topology_faults = false;
    run_config(config)
}

/// Runs one configuration; the error explains the failure and how to replay it.
fn run_config(config: SimConfig) -> Result<Report, String> {
    let seed = config.seed;
    let outcome = std::panic::catch_unwind(move || Sim::new(config).run());
    let error = match outcome {
        Ok(Ok(report)) => return Ok(report),
        Ok(Err(error)) => error,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            format!("panicked: {message}")
        }
    };
    Err(format!(
        "simulation seed {seed} failed: {error}\n  replay with: TINKERDB_SIM_SEED={seed} \
         cargo test -p tinkerdb --lib sim:: -- --nocapture"
    ))
}

#[cfg(test)]
mod tests;
