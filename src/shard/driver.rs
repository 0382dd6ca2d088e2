//! The node's Raft loop: one task that owns the shards and turns requests, ticks and Readys
//! into I/O. It runs on the node's tokio runtime beside the connections and the peer
//! transport, so handing it a request or a peer message is a wake-up within the runtime, not a
//! switch to another OS thread (on two cores, a separate Raft thread spent much of its time in
//! context switches). The WAL runs on a
//! thread of its own ([`WalWorker`]), so the loop never waits for an `fdatasync`: while one
//! runs, it keeps proposing, stepping peers' messages and applying what a quorum committed, and
//! everything it hands the WAL meanwhile shares the next fsync (group commit).
//!
//! Order within a round: take every queued request and peer message, propose/step them, then
//! loop over Readys: collect (apply committed, gather entries + hard state) → send the leader's
//! messages → hand the records to the WAL → advance raft-rs (`advance_async`: serve reads,
//! maybe snapshot) → deliver replies. When the WAL reports a Ready durable, the messages that
//! promise durability (votes, append responses) go out and raft-rs learns it
//! (`on_persist_ready`), which lets the next Ready commit and apply more.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tinkerdb_resp::Frame;
use tinkerdb_wal::{FsyncObserver, SyncPolicy, Wal, WalOptions};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn, Instrument};

use super::core::{lease_ms_for, Effects, Shard, ShardConfig, SnapshotStart};
use super::entry::Payload;
use super::handle::{LocalReads, MemberChange, NodeStatus, Reply, Request, ShardHandle};
use super::snapshot::{LoadedSnapshot, SnapshotError, SnapshotInfo, SnapshotStore};
use super::snapshot_transfer::{PieceReader, SNAPSHOT_CHUNK_BYTES};
use super::wal_worker::{Done as WalDone, WalWorker};
use super::wire::{decode_raft, PeerMessage, WireFrame};
use super::ShardError;
use crate::config::{Config, FsyncPolicy, ReadMode};
use crate::metrics::ShardMetrics;
use crate::transport::{Incoming, Transport};

/// The only Raft group until sharding arrives.
pub const DATA_GROUP: u64 = 1;

/// Most requests taken from the channel in one round (bounds a round's latency).
const MAX_REQUESTS_PER_ROUND: usize = 1024;

/// Most Ready iterations per round; more work waits for the next round.
const MAX_READY_ITERATIONS: usize = 16;

/// Opens the WAL and the data shard, and spawns the Raft loop on the current tokio runtime
/// (call it from inside the node's runtime). The returned receiver
/// resolves when the loop stops (with its error, if it failed). The shard and the WAL record
/// their events in `metrics`.
pub fn start(
    config: &Config,
    transport: Transport,
    inbox: mpsc::Receiver<Incoming>,
    metrics: ShardMetrics,
) -> Result<(ShardHandle, oneshot::Receiver<Result<(), ShardError>>), ShardError> {
    let fatal = |e: &dyn std::fmt::Display| ShardError::Fatal(e.to_string());
    let sync = match config.fsync {
        FsyncPolicy::Always => SyncPolicy::Always,
        FsyncPolicy::Batch => SyncPolicy::IntervalMs(config.fsync_interval_ms),
    };
    let (mut wal, recovered) = Wal::open(WalOptions {
        dir: config.data_dir.join("wal"),
        segment_bytes: config.wal_segment_bytes,
        sync,
        spare_segment: true,
    })
    .map_err(|e| fatal(&e))?;
    let fsyncs = metrics.clone();
    let read_metrics = metrics.clone();
    wal.observe_fsyncs(FsyncObserver::new(move |took| fsyncs.wal_fsynced(took)));
    if let Some(tail) = &recovered.truncated_tail {
        warn!(
            ?tail,
            "WAL had a torn tail (an interrupted write); it was truncated"
        );
    }
    let snapshots =
        SnapshotStore::open(&config.data_dir.join("snap").join(DATA_GROUP.to_string()))?;
    let shard_config = ShardConfig {
        node_id: config.node_id,
        group: DATA_GROUP,
        // A joining node starts with no voters: the leader's log (or snapshot) tells it the
        // configuration once an operator adds it.
        voters: if config.join.is_some() {
            Vec::new()
        } else {
            config
                .parse_initial_cluster()
                .map_err(|e| fatal(&e))?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        },
        election_ticks: config.election_ticks,
        heartbeat_ticks: config.heartbeat_ticks,
        lease_ms: lease_ms(config),
        snapshot_entries: config.snapshot_entries,
        snapshot_log_bytes: config.snapshot_log_bytes,
        randomized_election: true,
        boot_id: super::entry::new_boot_id(),
        metrics,
    };
    let logger = crate::logging::raft_logger();
    let mut effects = Effects::default();
    let shard = Shard::open(
        shard_config,
        recovered.groups.get(&DATA_GROUP),
        snapshots,
        &logger,
        &mut effects,
    )?;
    if !effects.records.is_empty() {
        wal.append(&effects.records).map_err(|e| fatal(&e))?;
        wal.sync().map_err(|e| fatal(&e))?;
    }
    let status = shard.status();
    info!(
        node = config.node_id,
        applied = status.applied,
        last_index = status.last_index,
        snapshot = status.snapshot.as_ref().map_or(0, |s| s.index),
        "recovered data shard"
    );
    let (tx, rx) = mpsc::channel(config.max_pending_requests);
    let (exit_tx, exit_rx) = oneshot::channel();
    let (wal_done_tx, wal_done) = mpsc::unbounded_channel();
    let (snapshot_written_tx, snapshot_written) = mpsc::unbounded_channel();
    let (snapshot_sent_tx, snapshot_sent) = mpsc::unbounded_channel();
    let wal = WalWorker::start(wal, wal_done_tx)?;
    let users = shard.users();
    let local = Arc::new(LocalReads {
        enabled: AtomicBool::new(false),
        lease_until_ms: AtomicU64::new(0),
        lease_epoch: AtomicU64::new(0),
        leader: AtomicU64::new(0),
        barrier: shard.read_barrier(),
        metrics: read_metrics,
        keyspace: shard.state().shared_keyspace(),
        random: AtomicU64::new(now_ms()),
    });
    let mut driver = Driver {
        rx,
        inbox,
        transport,
        wal,
        wal_done,
        persisting: VecDeque::new(),
        shard,
        waiters: HashMap::new(),
        forwarded: HashMap::new(),
        members: std::collections::BTreeSet::new(),
        told_removed: false,
        snapshot_sends: HashMap::new(),
        next_snapshot_send: 0,
        snapshot_sent,
        snapshot_sent_tx,
        next_token: 1,
        purge_in_flight: false,
        tick: Duration::from_millis(config.tick_ms),
        expire_interval: Duration::from_millis(config.expire_interval_ms),
        expire_batch: config.expire_batch,
        fsync_always: config.fsync == FsyncPolicy::Always,
        local: Arc::clone(&local),
        published_lease_term: 0,
        snapshot_written,
        snapshot_written_tx,
        save_waiters: Vec::new(),
        loading: None,
    };
    let span = tracing::info_span!("raft", node = config.node_id, shard = DATA_GROUP);
    tokio::spawn(
        async move {
            let result = driver.run().await;
            if let Err(e) = &result {
                error!(error = %e, "raft loop stopped");
            }
            let _ = exit_tx.send(result);
        }
        .instrument(span),
    );
    Ok((ShardHandle { tx, users, local }, exit_rx))
}

/// Who waits for a token's answer.
enum Waiter {
    /// A client on this node.
    Client(Reply<Vec<Frame>>),
    /// The active-expiry round.
    Purge,
    /// A client on a follower that forwarded its write here.
    Remote { peer: u64, token: u64 },
}

/// Longest wait to queue one snapshot piece for a peer: a peer that takes no bytes for this
/// long ends the transfer (raft-rs, told it failed, tries again later). A connection that
/// breaks ends it at once (`Transport::connection_epoch`).
const SNAPSHOT_PIECE_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the snapshot file `path` piece by piece (on the blocking pool) and queues each piece
/// for `to`; true once every piece is queued.
async fn stream_snapshot(
    transport: &Transport,
    to: u64,
    path: std::path::PathBuf,
    msg: raft::prelude::Message,
) -> bool {
    let opened =
        tokio::task::spawn_blocking(move || PieceReader::open(&path, &msg, SNAPSHOT_CHUNK_BYTES))
            .await;
    let mut reader = match opened {
        Ok(Ok(reader)) => reader,
        Ok(Err(e)) => {
            warn!(peer = to, error = %e, "cannot send a snapshot");
            return false;
        }
        Err(_) => return false,
    };
    let Some(epoch) = transport.connection_epoch(to) else {
        return false;
    };
    let started = Instant::now();
    let mut bytes_sent = 0u64;
    loop {
        let Ok((back, next)) = tokio::task::spawn_blocking(move || {
            let next = reader.next_piece();
            (reader, next)
        })
        .await
        else {
            return false;
        };
        reader = back;
        let piece = match next {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(e) => {
                warn!(peer = to, error = %e, "cannot send a snapshot");
                return false;
            }
        };
        bytes_sent += piece.data.len() as u64;
        let bytes = PeerMessage::SnapshotChunk {
            group: DATA_GROUP,
            piece,
        }
        .encode();
        let queued = tokio::time::timeout(
            SNAPSHOT_PIECE_TIMEOUT,
            transport.send_bulk(to, epoch, bytes),
        );
        if !matches!(queued.await, Ok(true)) {
            warn!(
                peer = to,
                bytes_sent, "snapshot transfer stopped: the connection broke or takes no data"
            );
            return false;
        }
    }
    info!(
        peer = to,
        bytes = bytes_sent,
        ms = started.elapsed().as_millis() as u64,
        "snapshot streamed to a peer"
    );
    true
}

/// How long a request may wait for the cluster before its client gets an error. A write that
/// times out may still be applied later, and the error says so.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Driver {
    rx: mpsc::Receiver<Request>,
    inbox: mpsc::Receiver<Incoming>,
    transport: Transport,
    wal: WalWorker,
    /// The WAL thread's reports.
    wal_done: mpsc::UnboundedReceiver<WalDone>,
    /// Readys handed to the WAL and not yet reported durable, oldest first, with the messages
    /// that may go out only then.
    persisting: VecDeque<(u64, Vec<raft::prelude::Message>)>,
    shard: Shard,
    waiters: HashMap<u64, (Waiter, Instant)>,
    /// Tokens of writes forwarded to a leader, with that leader: if leadership moves, their
    /// clients hear at once instead of waiting for the timeout.
    forwarded: HashMap<u64, u64>,
    /// Members (voters, outgoing voters, learners) after the previous round, to notice
    /// removals.
    members: std::collections::BTreeSet<u64>,
    /// Set when the leader said this node was removed.
    told_removed: bool,
    /// Snapshot transfers under way, by peer, with their number (a new one to the same peer
    /// replaces the old).
    snapshot_sends: HashMap<u64, (u64, tokio::task::JoinHandle<()>)>,
    next_snapshot_send: u64,
    /// Each finished transfer's peer and number, and whether every piece was queued.
    snapshot_sent: mpsc::UnboundedReceiver<(u64, u64, bool)>,
    snapshot_sent_tx: mpsc::UnboundedSender<(u64, u64, bool)>,
    next_token: u64,
    purge_in_flight: bool,
    tick: Duration,
    expire_interval: Duration,
    expire_batch: usize,
    fsync_always: bool,
    local: Arc<LocalReads>,
    /// The term of the lease last published to connections (0: none), see `publish_lease`.
    published_lease_term: u64,
    /// Wakes the loop when a snapshot writer thread is done.
    snapshot_written: mpsc::UnboundedReceiver<()>,
    snapshot_written_tx: mpsc::UnboundedSender<()>,
    /// `SAVE`s waiting for the snapshot being written.
    save_waiters: Vec<Reply<SnapshotInfo>>,
    /// A leader's snapshot being loaded on a blocking thread, with its index.
    loading: Option<(u64, tokio::task::JoinHandle<LoadResult>)>,
}

/// A received snapshot loaded off the Raft loop, with the message to step (see
/// `Shard::snapshot_loaded`).
type LoadResult = Result<(raft::prelude::Message, LoadedSnapshot), SnapshotError>;

/// Frees a whole keyspace (a replaced or unwanted snapshot state) on tokio's blocking pool:
/// dropping millions of keys would stall the Raft loop.
fn drop_off_loop<T: Send + 'static>(state: T) {
    tokio::task::spawn_blocking(move || drop(state));
}

/// Waits for the snapshot being loaded; never resolves if none is.
async fn loaded_snapshot(
    loading: &mut Option<(u64, tokio::task::JoinHandle<LoadResult>)>,
) -> LoadResult {
    let Some((index, task)) = loading.as_mut() else {
        return std::future::pending().await;
    };
    let index = *index;
    task.await
        .unwrap_or(Err(SnapshotError::Abandoned { index }))
}

impl Driver {
    async fn run(&mut self) -> Result<(), ShardError> {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut expiry = tokio::time::interval(self.expire_interval);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut requests = Vec::with_capacity(MAX_REQUESTS_PER_ROUND);
        let mut incoming = Vec::with_capacity(MAX_REQUESTS_PER_ROUND);
        // Set when a round stopped at MAX_READY_ITERATIONS with work left: the next round then
        // starts at once instead of waiting for a message or the next tick.
        let mut more_ready = false;
        loop {
            self.shard.set_time(now_ms(), mono_ms());
            tokio::select! {
                () = std::future::ready(()), if more_ready => {}
                received = self.rx.recv_many(&mut requests, MAX_REQUESTS_PER_ROUND) => {
                    if received == 0 {
                        break;
                    }
                }
                received = self.inbox.recv_many(&mut incoming, MAX_REQUESTS_PER_ROUND) => {
                    if received == 0 {
                        // The transport is gone (shutdown); keep serving local requests.
                        self.inbox = mpsc::channel(1).1;
                    }
                }
                _ = ticker.tick() => {
                    self.shard.tick();
                    self.expire_waiters();
                }
                _ = expiry.tick() => self.propose_expiry(),
                () = self.local.barrier.wanted() => {}
                done = self.wal_done.recv() => self.wal_reported(done)?,
                Some((to, number, sent)) = self.snapshot_sent.recv() => {
                    // A report from a transfer replaced since is stale.
                    if self.snapshot_sends.get(&to).is_some_and(|(n, _)| *n == number) {
                        self.snapshot_sends.remove(&to);
                        self.shard.report_snapshot(to, sent);
                    }
                }
                loaded = loaded_snapshot(&mut self.loading) => {
                    self.loading = None;
                    if let Some(unwanted) = self.shard.snapshot_loaded(loaded) {
                        drop_off_loop(unwanted);
                    }
                }
                Some(()) = self.snapshot_written.recv() => {
                    let mut effects = Effects::default();
                    self.shard.poll_snapshot(&mut effects);
                    self.snapshot_effects(&mut effects);
                    self.deliver(effects);
                }
            }
            // Let the tasks that are already runnable (connections, peer readers) hand over
            // what they hold before this round drains the channels: otherwise the loop, woken
            // by the first request, runs right after it (tokio runs a just-woken task next) and
            // every round takes one message, one Ready and one WAL job.
            tokio::task::yield_now().await;
            while let Ok(done) = self.wal_done.try_recv() {
                self.wal_reported(Some(done))?;
            }
            // Whatever else is already waiting joins this round, so that one fsync serves
            // client writes and peers' appends alike (group commit across both sources).
            top_up(&mut self.rx, &mut requests);
            for request in requests.drain(..) {
                if let Some(reply) = self.handle(request) {
                    return self.stop(reply);
                }
            }
            top_up(&mut self.inbox, &mut incoming);
            for message in incoming.drain(..) {
                if let Err(e) = self.handle_peer(message) {
                    return Err(self.fail_all(e.to_string()));
                }
            }
            more_ready = self.process_readies()?;
            // Only a leader's snapshot is wanted (a new leader sends its own), and only by a
            // member.
            let (leading, members) = (self.shard.is_leader(), &self.members);
            self.snapshot_sends.retain(|to, (_, task)| {
                let wanted = leading && members.contains(to);
                if !wanted {
                    task.abort();
                }
                wanted
            });
            for (id, addr) in self.shard.added_members() {
                if !self.transport.knows(*id) {
                    self.transport.add_peer(*id, addr.clone());
                }
            }
            self.notify_removed_members();
            if self.shard.removed() || self.told_removed {
                info!("this node was removed from the cluster; stopping");
                let _ = self.wal.stop();
                return Ok(());
            }
        }
        self.wal.stop().map_err(|e| self.fail_all(e.to_string()))
    }

    /// The WAL made Readys durable (or failed): release their messages, tell raft-rs.
    fn wal_reported(&mut self, done: Option<WalDone>) -> Result<(), ShardError> {
        match done {
            Some(WalDone::Persisted(number)) => {
                while self.persisting.front().is_some_and(|(n, _)| *n <= number) {
                    if let Some((_, messages)) = self.persisting.pop_front() {
                        self.send_raft_messages(messages);
                    }
                }
                self.shard.on_persisted(number);
                Ok(())
            }
            Some(WalDone::Failed(e)) => Err(self.fail_all(e)),
            None => Err(self.fail_all("the WAL thread stopped".into())),
        }
    }

    /// Handles one request; returns the reply channel of a shutdown request.
    fn handle(&mut self, request: Request) -> Option<oneshot::Sender<()>> {
        match request {
            Request::Propose { payload, reply } => {
                let token = self.token();
                if let Err(e) = self.propose_or_forward(payload, token) {
                    let _ = reply.send(Err(e));
                } else {
                    self.wait(token, Waiter::Client(reply));
                }
            }
            Request::Save { reply } => {
                let mut effects = Effects::default();
                match self.start_snapshot(&mut effects) {
                    Ok(None) => self.save_waiters.push(reply),
                    Ok(Some(info)) => {
                        let _ = reply.send(Ok(info));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                self.snapshot_effects(&mut effects);
            }
            Request::BackgroundSave { reply } => {
                let mut effects = Effects::default();
                let _ = reply.send(self.start_snapshot(&mut effects).map(|_| ()));
                self.snapshot_effects(&mut effects);
            }
            Request::Status { tenant, reply } => {
                let keyspace = self.shard.state().keyspace_read();
                let _ = reply.send(Ok(NodeStatus {
                    raft: self.shard.status(),
                    wal: self.wal.stats(),
                    keyspace: keyspace.stats(),
                    tenant_dbs: keyspace.tenant_dbs(&tenant),
                    tenants: keyspace.tenant_stats(),
                    fsync_always: self.fsync_always,
                    added_members: self
                        .shard
                        .added_members()
                        .iter()
                        .map(|(id, addr)| (*id, addr.clone()))
                        .collect(),
                }));
            }
            Request::ChangeMembers { change, reply } => {
                // Connections stop reading under the lease before the change can go out.
                self.publish_lease(0);
                use raft::prelude::ConfChangeType;
                let result = match change {
                    MemberChange::AddLearner { id, addr } => self.shard.propose_member_change(
                        ConfChangeType::AddLearnerNode,
                        id,
                        Some(addr),
                    ),
                    MemberChange::Promote { id } => {
                        self.shard
                            .propose_member_change(ConfChangeType::AddNode, id, None)
                    }
                    MemberChange::Remove { id } => {
                        self.shard
                            .propose_member_change(ConfChangeType::RemoveNode, id, None)
                    }
                    MemberChange::Replace { remove, add } => {
                        self.shard.propose_replace(remove, add)
                    }
                };
                let _ = reply.send(result);
            }
            Request::TransferLeader { to, reply } => {
                // Before the target can hear it may campaign: it will not wait for the lease.
                self.publish_lease(0);
                let _ = reply.send(self.shard.transfer_leader(to));
            }
            Request::Shutdown { reply } => return Some(reply),
        }
        None
    }

    /// Runs up to [`MAX_READY_ITERATIONS`] Readys; returns whether raft-rs has more.
    fn process_readies(&mut self) -> Result<bool, ShardError> {
        // raft-rs asks storage for a snapshot while stepping a message, outside any Ready.
        let mut effects = Effects::default();
        if let Err(e) = self.shard.prepare_wanted_snapshot(&mut effects) {
            warn!(error = %e, "could not prepare a snapshot for a follower");
        }
        self.snapshot_effects(&mut effects);
        for _ in 0..MAX_READY_ITERATIONS {
            self.shard.flush_reads();
            let mut effects = Effects::default();
            let Some(ready) = self.shard.collect_ready(&mut effects)? else {
                self.deliver(effects);
                self.publish_read_state();
                return Ok(false);
            };
            // raft-rs allows a Ready's plain messages (a leader's appends and heartbeats) to go
            // out before its entries are durable, so the followers' fsyncs overlap ours.
            self.send_raft_messages(std::mem::take(&mut effects.messages));
            let records = std::mem::take(&mut effects.records);
            let commit_only = effects.commit_only;
            let (number, persisted) = self.shard.advance_async(ready, &mut effects);
            // Nothing to wait for when there is nothing to fsync (a commit-only round rides on
            // the next fsync: see `Effects`) and no earlier Ready is still in flight.
            let wait = !(records.is_empty() || commit_only) || !self.persisting.is_empty();
            if !records.is_empty() || wait {
                // An empty job still keeps this Ready's place in the WAL's order.
                let sync = !records.is_empty() && !commit_only;
                if let Err(e) = self.wal.persist(number, records, sync) {
                    return Err(self.fail_all(e.to_string()));
                }
            }
            if wait {
                self.persisting.push_back((number, persisted));
            } else {
                // The WAL's later report of this number finds nothing left to release.
                self.send_raft_messages(persisted);
                self.shard.on_persisted(number);
            }
            self.snapshot_effects(&mut effects);
            self.deliver(effects);
            self.publish_read_state();
        }
        // Reads queued behind a round that came back in the last iteration start theirs now.
        self.shard.flush_reads();
        Ok(self.shard.has_ready())
    }

    /// Publishes the lease deadline (0: none). Each lease (a term's, up to its end or its
    /// revocation) gets its own epoch, bumped before the deadline changes hands, so that a
    /// connection that read under one lease can tell it is still the same one afterwards.
    fn publish_lease(&mut self, until: u64) {
        let term = if until == 0 { 0 } else { self.shard.term() };
        if term != self.published_lease_term {
            self.local.lease_epoch.fetch_add(1, Ordering::SeqCst);
            self.published_lease_term = term;
        }
        self.local.lease_until_ms.store(until, Ordering::SeqCst);
    }

    /// Tells connections whether they may read without a round, and whom the node follows.
    fn publish_read_state(&mut self) {
        self.local
            .enabled
            .store(self.shard.local_reads_safe(), Ordering::Release);
        self.publish_lease(self.shard.lease_until_ms());
        self.local
            .leader
            .store(self.shard.leader(), Ordering::Release);
    }

    fn propose_expiry(&mut self) {
        if self.purge_in_flight || !self.shard.is_leader() {
            return;
        }
        let now = now_ms();
        let expired = self
            .shard
            .state()
            .keyspace_read()
            .sample_expired(now, self.expire_batch);
        if expired.is_empty() {
            return;
        }
        let keys = expired
            .into_iter()
            .map(|(ns, key)| (ns.tenant.to_string(), ns.db, key))
            .collect();
        let token = self.token();
        if self
            .shard
            .propose(Payload::Purge { now_ms: now, keys }, token)
            .is_ok()
        {
            self.purge_in_flight = true;
            self.wait(token, Waiter::Purge);
        }
    }

    fn deliver(&mut self, effects: Effects) {
        if let Some(replaced) = effects.replaced_state {
            drop_off_loop(replaced);
        }
        self.send_raft_messages(effects.messages);
        for done in effects.done {
            self.answer(done.token, done.result);
        }
    }

    fn answer(&mut self, token: u64, result: Result<Vec<Frame>, ShardError>) {
        self.forwarded.remove(&token);
        match self.waiters.remove(&token).map(|(w, _)| w) {
            Some(Waiter::Client(reply)) => {
                let _ = reply.send(result);
            }
            Some(Waiter::Purge) => self.purge_in_flight = false,
            Some(Waiter::Remote { peer, token }) => {
                let result = result.map(|frames| frames.iter().map(WireFrame::from).collect());
                let reply = PeerMessage::ForwardReply { token, result };
                self.transport.send(peer, reply.encode());
            }
            None => {}
        }
    }

    fn wait(&mut self, token: u64, waiter: Waiter) {
        self.waiters
            .insert(token, (waiter, Instant::now() + REQUEST_TIMEOUT));
    }

    /// Fails requests that waited too long (a lost leader, a partition): the client hears
    /// that the outcome is unknown rather than waiting forever.
    fn expire_waiters(&mut self) {
        let leader = self.shard.leader();
        let orphaned: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, to)| **to != leader)
            .map(|(token, _)| *token)
            .collect();
        for token in orphaned {
            self.answer(
                token,
                Err(ShardError::Retry(
                    "the leader changed while the command was in flight; it may or may not have been applied".into(),
                )),
            );
        }
        let now = Instant::now();
        let expired: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            self.answer(
                token,
                Err(ShardError::Retry(
                    "timed out waiting for the cluster; the command may or may not have been applied".into(),
                )),
            );
        }
    }

    /// Proposes here if this node leads, else forwards to the leader.
    fn propose_or_forward(&mut self, payload: Payload, token: u64) -> Result<(), ShardError> {
        if self.shard.is_leader() {
            return self.shard.propose(payload, token);
        }
        let leader = self.shard.leader();
        if leader == 0 {
            return Err(ShardError::NotLeader { leader: 0 });
        }
        let message = PeerMessage::Forward { token, payload };
        if self.transport.send(leader, message.encode()) {
            self.forwarded.insert(token, leader);
            Ok(())
        } else {
            Err(ShardError::Retry(format!(
                "cannot reach the leader (node {leader}); retry"
            )))
        }
    }

    /// On the leader: tells nodes that just left the configuration to stop. An outgoing voter
    /// of a joint configuration has not left yet: it hears once the joint configuration is.
    fn notify_removed_members(&mut self) {
        let current = self.shard.member_ids();
        if current == self.members {
            return;
        }
        if self.shard.is_leader() {
            for gone in self.members.difference(&current) {
                self.transport.send(*gone, PeerMessage::Removed.encode());
            }
        }
        self.members = current;
    }

    fn handle_peer(&mut self, incoming: Incoming) -> Result<(), ShardError> {
        let message = match PeerMessage::decode(&incoming.bytes) {
            Ok(message) => message,
            Err(e) => {
                warn!(peer = incoming.from, error = %e, "dropping a peer message");
                return Ok(());
            }
        };
        match message {
            PeerMessage::Raft { group, messages } => {
                if group != DATA_GROUP {
                    return Ok(());
                }
                // A leader may answer a follower's read-index request from its lease at once:
                // that decision needs the time now, not when this round began.
                self.shard.set_time(now_ms(), mono_ms());
                for bytes in messages {
                    match decode_raft(&bytes) {
                        Ok(msg) => self.shard.step(msg)?,
                        Err(e) => {
                            warn!(peer = incoming.from, error = %e, "dropping a raft message")
                        }
                    }
                }
            }
            PeerMessage::Forward { token, payload } => {
                let local = self.token();
                let waiter = Waiter::Remote {
                    peer: incoming.from,
                    token,
                };
                let result = if self.shard.is_leader() {
                    self.shard.propose(payload, local)
                } else {
                    Err(ShardError::NotLeader {
                        leader: self.shard.leader(),
                    })
                };
                self.wait(local, waiter);
                if let Err(e) = result {
                    self.answer(local, Err(e));
                }
            }
            PeerMessage::SnapshotChunk { group, piece } => {
                if group != DATA_GROUP {
                    return Ok(());
                }
                if let Some(received) = self.shard.receive_snapshot_piece(incoming.from, &piece) {
                    // Fsyncing and reading a large snapshot takes seconds: meanwhile the loop
                    // keeps answering heartbeats, so the leader does not lose this follower.
                    let index = received.index_term().0;
                    let task = tokio::task::spawn_blocking(move || received.load());
                    self.loading = Some((index, task));
                }
            }
            PeerMessage::Removed => {
                warn!(
                    by = incoming.from,
                    "the leader says this node was removed from the cluster"
                );
                self.told_removed = true;
            }
            PeerMessage::ForwardReply { token, result } => {
                let result = result.and_then(|frames| {
                    frames
                        .into_iter()
                        .map(WireFrame::into_frame)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ShardError::Fatal("the leader sent an oversized reply".into())
                        })
                });
                self.answer(token, result);
            }
        }
        Ok(())
    }

    fn send_raft_messages(&mut self, messages: Vec<raft::prelude::Message>) {
        if messages.is_empty() {
            return;
        }
        let mut by_peer: std::collections::BTreeMap<u64, Vec<raft::prelude::Message>> =
            std::collections::BTreeMap::new();
        for msg in messages {
            by_peer.entry(msg.to).or_default().push(msg);
        }
        for (to, mut msgs) in by_peer {
            let (snapshots, others): (Vec<_>, Vec<_>) = msgs
                .drain(..)
                .partition(|m| m.get_msg_type() == raft::prelude::MessageType::MsgSnapshot);
            if !others.is_empty() {
                let sent = self
                    .transport
                    .send(to, PeerMessage::raft(DATA_GROUP, &others).encode());
                if !sent {
                    self.shard.report_unreachable(to);
                }
            }
            for snapshot in snapshots {
                self.start_snapshot_send(to, snapshot);
            }
        }
    }

    /// Streams the snapshot file a `MsgSnapshot` stands for to `to` on a task of its own; its
    /// report (`snapshot_sent`) tells raft-rs. A transfer still running to the same peer is
    /// stale (raft-rs asked anew) and stops.
    fn start_snapshot_send(&mut self, to: u64, msg: raft::prelude::Message) {
        let meta = msg.get_snapshot().get_metadata();
        let path = self.shard.snapshot_path(meta.index, meta.term);
        let transport = self.transport.clone();
        let done = self.snapshot_sent_tx.clone();
        self.next_snapshot_send += 1;
        let number = self.next_snapshot_send;
        let task = tokio::spawn(
            async move {
                let sent = stream_snapshot(&transport, to, path, msg).await;
                let _ = done.send((to, number, sent));
            }
            .in_current_span(),
        );
        if let Some((_, stale)) = self.snapshot_sends.insert(to, (number, task)) {
            stale.abort();
        }
    }

    /// Starts a snapshot for `SAVE`/`BGSAVE`: `None` once one has started, the newest one if it
    /// already covers everything applied, or the error Redis gives while one is being written.
    fn start_snapshot(
        &mut self,
        effects: &mut Effects,
    ) -> Result<Option<SnapshotInfo>, ShardError> {
        match self.shard.start_snapshot(effects)? {
            SnapshotStart::Started => Ok(None),
            SnapshotStart::UpToDate(info) => Ok(Some(info)),
            SnapshotStart::AlreadyRunning => Err(ShardError::Invalid(
                "Background save already in progress".into(),
            )),
        }
    }

    /// Acts on a shard's snapshot work: compacts the WAL up to a written snapshot, answers the
    /// `SAVE`s that waited for it, and starts the writer of a new one on a thread of its own
    /// (it reports back on `snapshot_written`).
    fn snapshot_effects(&mut self, effects: &mut Effects) {
        for &(group, index, term) in &effects.compactions {
            if let Err(e) = self.wal.compact(group, index, term) {
                // The snapshot is durable; old segments just stay until the next compaction.
                warn!(error = %e, "WAL compaction failed");
            }
        }
        effects.compactions.clear();
        if let Some(result) = effects.snapshot_written.take() {
            for reply in self.save_waiters.drain(..) {
                let _ = reply.send(result.clone());
            }
        }
        if let Some(writer) = effects.snapshot.take() {
            let wake = WakeOnDrop(self.snapshot_written_tx.clone());
            let index = writer.index();
            let spawned = std::thread::Builder::new()
                .name("tinkerdb-snapshot".into())
                .spawn(move || {
                    let _wake = wake;
                    writer.write();
                });
            if let Err(e) = spawned {
                // The writer was dropped with the closure and told the shard; the wake went
                // with it too, so finish here.
                error!(error = %e, index, "cannot start the snapshot thread");
                self.shard.poll_snapshot(effects);
                self.snapshot_effects(effects);
            }
        }
    }

    fn token(&mut self) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        token
    }

    /// Fails every waiting client after a storage error; the node then stops, because a Raft
    /// log that cannot be written must not keep acknowledging anything.
    fn fail_all(&mut self, reason: String) -> ShardError {
        let error = ShardError::Fatal(format!("storage failure: {reason}"));
        for (_, (waiter, _)) in self.waiters.drain() {
            if let Waiter::Client(reply) = waiter {
                let _ = reply.send(Err(error.clone()));
            }
        }
        error
    }

    fn stop(&mut self, reply: oneshot::Sender<()>) -> Result<(), ShardError> {
        let result = self.wal.stop().map_err(|e| self.fail_all(e.to_string()));
        for (_, (waiter, _)) in self.waiters.drain() {
            if let Waiter::Client(reply) = waiter {
                let _ = reply.send(Err(ShardError::Stopped));
            }
        }
        for reply in self.save_waiters.drain(..) {
            let _ = reply.send(Err(ShardError::Stopped));
        }
        info!("raft loop stopped; WAL synced");
        let _ = reply.send(());
        result
    }
}

/// Wakes the Raft loop when a snapshot thread ends, however it ends (a panic included).
struct WakeOnDrop(mpsc::UnboundedSender<()>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Moves what `rx` already holds into `batch`, up to [`MAX_REQUESTS_PER_ROUND`], without
/// waiting.
fn top_up<T>(rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>) {
    while batch.len() < MAX_REQUESTS_PER_ROUND {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

/// Milliseconds on the monotonic clock since this process first asked: what leases are
/// measured in (never jumps with the wall clock).
pub fn mono_ms() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The leader lease `read_mode = lease` grants (see `lease_ms_for`); 0 with
/// `read_mode = read-index`.
fn lease_ms(config: &Config) -> u64 {
    match config.read_mode {
        ReadMode::ReadIndex => 0,
        ReadMode::Lease => lease_ms_for(config.election_ticks, config.tick_ms),
    }
}

/// Milliseconds since the Unix epoch: the clock the leader writes into entries.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
