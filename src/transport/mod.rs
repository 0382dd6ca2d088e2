//! # Peer transport
//!
//! Moves opaque messages between the nodes of a cluster over TCP. The Raft loop hands a message
//! to [`Transport::send`] and never waits: each peer has a bounded queue drained by its own task,
//! and a full queue drops the message (Raft retransmits what matters). Bulk messages (snapshot
//! pieces) come from a task of their own through [`Transport::send_bulk`], which waits instead
//! while [`BULK_IN_FLIGHT`] of them are unwritten. Incoming messages arrive
//! on one bounded channel, tagged with the sender's node id.
//!
//! Wire format, per connection: a handshake frame, then message frames. A frame is
//! `[u32 len][u32 crc32c(payload)][payload]` (little-endian). The handshake payload is
//! `"TKDBPEER" | u32 version | u64 cluster id | u64 from | u64 to | addr resp | addr admin`,
//! where each `addr` is `u16 len | UTF-8 host:port` (at most [`MAX_ADVERTISED_ADDR_LEN`] bytes):
//! the dialer's RESP and admin HTTP addresses. A receiver drops connections from another
//! cluster or addressed to another node, with a log line saying which; otherwise it records
//! the advertised addresses in the [`PeerDirectory`] (the admin API's `/api/nodes` reads it).
//! An advertised address on an unspecified IP (`0.0.0.0:7381`) is recorded with the IP the
//! connection came from instead, which is how that node is reached from here.
//!
//! Connections are one-way (the dialer sends, the acceptor receives), so each pair of nodes
//! holds two; reconnection backs off exponentially up to a cap.

mod frame;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn, Instrument};

pub use frame::{FrameError, MAX_FRAME_BYTES};

/// Messages queued for one peer before new ones are dropped.
pub const PEER_QUEUE_LEN: usize = 4096;
/// Bulk messages (snapshot pieces, up to a MiB each) queued or being written to one peer at
/// once: bounds the memory a transfer holds and how many of them a raft message can queue
/// behind.
pub const BULK_IN_FLIGHT: usize = 4;
/// Incoming messages queued for the Raft loop before new ones are dropped.
pub const INBOX_LEN: usize = 8192;
/// Bytes of large incoming messages (snapshot pieces) queued for the Raft loop at once. A
/// connection whose next large message would go over waits for the loop to take some, and TCP
/// then makes the sender wait: a fast leader cannot pile a snapshot up in a slow follower's
/// memory, nor hand its loop more than this in one round.
pub const INBOX_BULK_BYTES: usize = 8 << 20;
/// Messages from this size on count against [`INBOX_BULK_BYTES`]; raft messages are smaller
/// and are dropped rather than waited for when the inbox is full.
const BULK_MESSAGE_BYTES: usize = 64 << 10;
/// First reconnection delay; doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(50);
/// Longest reconnection delay.
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// Time allowed for a dial or a handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most messages written before a flush.
const WRITE_BATCH: usize = 256;
/// Read buffer of a peer connection: one `read` takes in every frame the peer flushed at once,
/// instead of two reads (header, payload) per frame.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Longest advertised address in a handshake.
pub const MAX_ADVERTISED_ADDR_LEN: usize = 256;
/// Largest handshake frame: the fixed part and two addresses. Read before the peer is known,
/// so it is bounded far below [`MAX_FRAME_BYTES`].
const MAX_HANDSHAKE_BYTES: u32 = 36 + 2 * (2 + MAX_ADVERTISED_ADDR_LEN as u32);
/// Most peers the [`PeerDirectory`] remembers (a cluster has a handful; this only bounds what
/// a misbehaving member of the same cluster could make it hold).
pub const MAX_DIRECTORY_ENTRIES: usize = 1024;

const MAGIC: &[u8; 8] = b"TKDBPEER";
/// Version 2 added the advertised addresses; version 1 peers are refused with a log line.
const VERSION: u32 = 2;

/// A message from a peer.
#[derive(Debug)]
pub struct Incoming {
    /// The sender's node id (checked in the handshake).
    pub from: u64,
    /// The message bytes.
    pub bytes: Vec<u8>,
    /// A large message's share of [`INBOX_BULK_BYTES`], given back when this is dropped.
    _bulk: Option<OwnedSemaphorePermit>,
}

/// The receiving connections' way into the inbox.
#[derive(Debug, Clone)]
struct InboxSender {
    tx: mpsc::Sender<Incoming>,
    /// [`INBOX_BULK_BYTES`] in KiB.
    bulk: Arc<Semaphore>,
}

impl InboxSender {
    fn new(tx: mpsc::Sender<Incoming>) -> InboxSender {
        InboxSender {
            tx,
            bulk: Arc::new(Semaphore::new(INBOX_BULK_BYTES >> 10)),
        }
    }

    /// Queues a message for the Raft loop. A large one waits for room in the bulk budget
    /// (this connection reads nothing meanwhile); a small one is dropped if the inbox is full
    /// (the loop is behind, and Raft retries).
    async fn deliver(&self, from: u64, bytes: Vec<u8>) {
        if bytes.len() < BULK_MESSAGE_BYTES {
            let _ = self.tx.try_send(Incoming {
                from,
                bytes,
                _bulk: None,
            });
            return;
        }
        let kib = (bytes.len() >> 10).min(INBOX_BULK_BYTES >> 10) as u32;
        let Ok(permit) = Arc::clone(&self.bulk).acquire_many_owned(kib).await else {
            return;
        };
        // A piece dropped here would end its whole transfer: wait for a slot too (the loop
        // drains the inbox every round, so the wait is short).
        if let Ok(slot) = self.tx.reserve().await {
            slot.send(Incoming {
                from,
                bytes,
                _bulk: Some(permit),
            });
        }
    }
}

/// Sends messages to peers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Transport {
    identity: Identity,
    peers: HashMap<u64, PeerQueue>,
    directory: PeerDirectory,
    shutdown: watch::Receiver<bool>,
    /// The node's runtime, where `add_peer` spawns a new member's dialer (the Raft loop runs on
    /// it too, but a handle spawns from any thread).
    runtime: tokio::runtime::Handle,
}

impl Transport {
    /// The addresses peers advertised (shared: later handshakes show up in every clone).
    pub fn directory(&self) -> PeerDirectory {
        self.directory.clone()
    }

    /// Whether `id` is a known peer.
    pub fn knows(&self, id: u64) -> bool {
        id == self.identity.node_id || self.peers.contains_key(&id)
    }

    /// Starts dialing a peer added to the cluster after start (a no-op for known peers).
    pub fn add_peer(&mut self, id: u64, addr: String) {
        if self.knows(id) {
            return;
        }
        info!(peer = id, %addr, "dialing a new member");
        let (queue, rx) = PeerQueue::new();
        self.peers.insert(id, queue);
        self.runtime.spawn(dial_loop(
            self.identity,
            id,
            addr,
            rx,
            self.shutdown.clone(),
        ));
    }

    /// Queues `bytes` for `to`; returns false (and drops it) if the peer is unknown or its
    /// queue is full.
    pub fn send(&self, to: u64, bytes: Vec<u8>) -> bool {
        match self.peers.get(&to) {
            Some(queue) => queue.tx.try_send(Outgoing { bytes, _bulk: None }).is_ok(),
            None => false,
        }
    }

    /// The number of `to`'s connection (it grows each time a connection ends, which drops
    /// whatever was queued): a bulk stream starts with it and ends when it changes.
    pub fn connection_epoch(&self, to: u64) -> Option<u64> {
        self.peers
            .get(&to)
            .map(|queue| queue.epoch.load(Ordering::Acquire))
    }

    /// Queues a bulk message for `to`, first waiting until fewer than [`BULK_IN_FLIGHT`] are
    /// queued or being written (and for room in the queue). False if the peer is unknown, its
    /// connection task has ended, or its connection is no longer the one numbered `epoch`
    /// ([`Transport::connection_epoch`]): an earlier piece of the stream may have been
    /// dropped with it. The caller bounds the wait.
    pub async fn send_bulk(&self, to: u64, epoch: u64, bytes: Vec<u8>) -> bool {
        let Some(queue) = self.peers.get(&to) else {
            return false;
        };
        let Ok(permit) = Arc::clone(&queue.bulk).acquire_owned().await else {
            return false;
        };
        if queue.epoch.load(Ordering::Acquire) != epoch {
            return false;
        }
        queue
            .tx
            .send(Outgoing {
                bytes,
                _bulk: Some(permit),
            })
            .await
            .is_ok()
    }
}

/// The sending side of one peer's queue.
#[derive(Debug, Clone)]
struct PeerQueue {
    tx: mpsc::Sender<Outgoing>,
    /// Places for bulk messages ([`BULK_IN_FLIGHT`]).
    bulk: Arc<Semaphore>,
    /// Connections that ended so far (see [`Transport::connection_epoch`]).
    epoch: Arc<AtomicU64>,
}

impl PeerQueue {
    fn new() -> (PeerQueue, PeerOutbox) {
        let (tx, rx) = mpsc::channel(PEER_QUEUE_LEN);
        let bulk = Arc::new(Semaphore::new(BULK_IN_FLIGHT));
        let epoch = Arc::new(AtomicU64::new(0));
        let outbox = PeerOutbox {
            queue: rx,
            epoch: Arc::clone(&epoch),
        };
        (PeerQueue { tx, bulk, epoch }, outbox)
    }
}

/// The connection task's side of a peer's queue.
#[derive(Debug)]
struct PeerOutbox {
    queue: mpsc::Receiver<Outgoing>,
    epoch: Arc<AtomicU64>,
}

/// A message waiting for a peer's connection.
#[derive(Debug)]
struct Outgoing {
    bytes: Vec<u8>,
    /// A bulk message's place, given back when the message is written or dropped.
    _bulk: Option<OwnedSemaphorePermit>,
}

/// Identity of this node on the peer network.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// The cluster every peer must belong to.
    pub cluster_id: u64,
    /// This node's id.
    pub node_id: u64,
    /// What this node tells its peers about itself in every handshake.
    pub advertised: Advertised,
}

/// The addresses a node advertises to its peers: where its clients and operators reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertised {
    /// RESP client address (`listen`).
    pub resp: SocketAddr,
    /// Admin HTTP address (`admin_listen`).
    pub admin: SocketAddr,
}

/// What a peer advertised when it last connected to this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its RESP client address.
    pub resp: SocketAddr,
    /// Its admin HTTP address.
    pub admin: SocketAddr,
    /// When its handshake arrived.
    pub learned: Instant,
}

/// The addresses peers advertised in their handshakes, by node id; cheap to clone (shared).
///
/// Written only by the transport's receive tasks, read by the admin API; the Raft loop never
/// touches it. A lock is held only to copy or insert one small entry.
#[derive(Debug, Clone, Default)]
pub struct PeerDirectory {
    peers: Arc<Mutex<BTreeMap<u64, PeerInfo>>>,
}

impl PeerDirectory {
    /// What node `id` advertised, if it has connected since this node started.
    pub fn get(&self, id: u64) -> Option<PeerInfo> {
        self.lock().get(&id).cloned()
    }

    /// Every peer that has connected, by id.
    pub fn all(&self) -> BTreeMap<u64, PeerInfo> {
        self.lock().clone()
    }

    /// Records (or refreshes) what `id` advertised; ignores new ids once
    /// [`MAX_DIRECTORY_ENTRIES`] are known.
    fn record(&self, id: u64, resp: SocketAddr, admin: SocketAddr) {
        let mut peers = self.lock();
        if peers.len() >= MAX_DIRECTORY_ENTRIES && !peers.contains_key(&id) {
            return;
        }
        let learned = Instant::now();
        peers.insert(
            id,
            PeerInfo {
                resp,
                admin,
                learned,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, PeerInfo>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts the dialers (one per peer) and the acceptor. Returns the sender and the inbox.
pub fn start(
    identity: Identity,
    listener: TcpListener,
    peers: &[(u64, String)],
    shutdown: watch::Receiver<bool>,
) -> (Transport, mpsc::Receiver<Incoming>) {
    let (inbox_tx, inbox) = mpsc::channel(INBOX_LEN);
    let inbox_tx = InboxSender::new(inbox_tx);
    let mut queues = HashMap::new();
    for (id, addr) in peers.iter().filter(|(id, _)| *id != identity.node_id) {
        let (queue, rx) = PeerQueue::new();
        queues.insert(*id, queue);
        tokio::spawn(
            dial_loop(identity, *id, addr.clone(), rx, shutdown.clone()).in_current_span(),
        );
    }
    let directory = PeerDirectory::default();
    tokio::spawn(
        accept_loop(
            identity,
            listener,
            inbox_tx,
            directory.clone(),
            shutdown.clone(),
        )
        .in_current_span(),
    );
    let transport = Transport {
        identity,
        peers: queues,
        directory,
        shutdown,
        runtime: tokio::runtime::Handle::current(),
    };
    (transport, inbox)
}

async fn dial_loop(
    identity: Identity,
    peer: u64,
    addr: String,
    outbox: PeerOutbox,
    mut shutdown: watch::Receiver<bool>,
) {
    let PeerOutbox {
        mut queue,
        epoch: connections_ended,
    } = outbox;
    let mut delay = RECONNECT_MIN;
    loop {
        let session = async {
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&addr))
                .await
                .map_err(|_| std::io::Error::other("connect timed out"))??;
            stream.set_nodelay(true)?;
            let mut writer = BufWriter::new(stream);
            let hello = handshake_bytes(identity, peer);
            frame::write(&mut writer, &hello).await?;
            writer.flush().await?;
            debug!(peer, %addr, "connected to peer");
            send_loop(&mut writer, &mut queue).await
        };
        let result = tokio::select! {
            r = session => r,
            _ = shutdown.changed() => return,
        };
        if let Err(e) = result {
            debug!(peer, %addr, error = %e, "peer connection lost; reconnecting");
        }
        if queue.is_closed() {
            return;
        }
        // Messages queued while disconnected are stale by now: Raft resends what it needs. A
        // bulk stream that lost pieces here sees the new epoch and stops.
        connections_ended.fetch_add(1, Ordering::AcqRel);
        while queue.try_recv().is_ok() {}
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

async fn send_loop(
    writer: &mut BufWriter<TcpStream>,
    queue: &mut mpsc::Receiver<Outgoing>,
) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        if queue.recv_many(&mut batch, WRITE_BATCH).await == 0 {
            return Ok(());
        }
        for message in batch.drain(..) {
            frame::write(writer, &message.bytes).await?;
        }
        writer.flush().await?;
    }
}

async fn accept_loop(
    identity: Identity,
    listener: TcpListener,
    inbox: InboxSender,
    directory: PeerDirectory,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, addr)) => {
                let inbox = inbox.clone();
                let directory = directory.clone();
                tokio::spawn(
                    async move {
                        if let Err(e) = receive(identity, stream, addr, inbox, directory).await {
                            debug!(%addr, error = %e, "peer connection closed");
                        }
                    }
                    .in_current_span(),
                );
            }
            Err(e) => {
                warn!(error = %e, "peer accept failed");
                tokio::time::sleep(RECONNECT_MIN).await;
            }
        }
    }
}

async fn receive(
    identity: Identity,
    mut stream: TcpStream,
    addr: SocketAddr,
    inbox: InboxSender,
    directory: PeerDirectory,
) -> Result<(), FrameError> {
    let hello = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        frame::read_max(&mut stream, MAX_HANDSHAKE_BYTES),
    )
    .await
    .map_err(|_| FrameError::Io(std::io::Error::other("handshake timed out")))??;
    let (from, advertised) = match check_handshake(identity, &hello) {
        Ok(hello) => hello,
        Err(why) => {
            warn!(%addr, "refused a peer connection: {why}");
            return Ok(());
        }
    };
    let resp = reachable_from(advertised.resp, addr);
    let admin = reachable_from(advertised.admin, addr);
    directory.record(from, resp, admin);
    info!(peer = from, %addr, %resp, %admin, "peer connected");
    let mut stream = BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    loop {
        let bytes = frame::read(&mut stream).await?;
        inbox.deliver(from, bytes).await;
    }
}

/// An advertised address on an unspecified IP (`0.0.0.0`, `::`) means "every interface": the
/// peer is reachable at the IP its connection came from.
fn reachable_from(advertised: SocketAddr, connection: SocketAddr) -> SocketAddr {
    if advertised.ip().is_unspecified() {
        SocketAddr::new(connection.ip(), advertised.port())
    } else {
        advertised
    }
}

fn handshake_bytes(identity: Identity, to: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HANDSHAKE_BYTES as usize);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&identity.cluster_id.to_le_bytes());
    out.extend_from_slice(&identity.node_id.to_le_bytes());
    out.extend_from_slice(&to.to_le_bytes());
    for addr in [identity.advertised.resp, identity.advertised.admin] {
        let text = addr.to_string();
        // A socket address prints in at most ~50 bytes, far below the limit.
        debug_assert!(text.len() <= MAX_ADVERTISED_ADDR_LEN, "address too long");
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// Reads the advertised addresses after the fixed part of a handshake.
fn parse_advertised(mut rest: &[u8]) -> Result<Advertised, String> {
    let mut next = || -> Result<SocketAddr, String> {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or("handshake cut short in its addresses")?;
        let len = usize::from(u16::from_le_bytes(*len));
        if len > MAX_ADVERTISED_ADDR_LEN || tail.len() < len {
            return Err("handshake address too long or cut short".into());
        }
        let (text, tail) = tail.split_at(len);
        rest = tail;
        std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| "handshake address is not host:port".to_string())
    };
    let resp = next()?;
    let admin = next()?;
    if !rest.is_empty() {
        return Err("handshake has trailing bytes".into());
    }
    Ok(Advertised { resp, admin })
}

/// Checks a handshake; returns the sender's id and addresses, or why it is refused.
fn check_handshake(identity: Identity, hello: &[u8]) -> Result<(u64, Advertised), String> {
    if hello.len() < 36 || &hello[..8] != MAGIC {
        return Err("not a TinkerDB peer".into());
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&hello[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let mut v = [0u8; 4];
    v.copy_from_slice(&hello[8..12]);
    let version = u32::from_le_bytes(v);
    if version != VERSION {
        return Err(format!(
            "peer protocol version {version}, ours is {VERSION}"
        ));
    }
    let (cluster, from, to) = (u64_at(12), u64_at(20), u64_at(28));
    if cluster != identity.cluster_id {
        return Err(format!(
            "node {from} belongs to cluster {cluster:016x}, this node to cluster {:016x} (check --initial-cluster)",
            identity.cluster_id
        ));
    }
    if to != identity.node_id {
        return Err(format!(
            "node {from} addressed node {to}, but this is node {} (check the peer addresses)",
            identity.node_id
        ));
    }
    Ok((from, parse_advertised(&hello[36..])?))
}

/// The cluster id: a stable hash of the initial member list, identical on every node started
/// with the same `--initial-cluster`.
pub fn cluster_id(members: &[(u64, String)]) -> u64 {
    let mut sorted: Vec<_> = members.iter().collect();
    sorted.sort();
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (id, addr) in sorted {
        for byte in format!("{id}={addr};").bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(cluster_id: u64, node_id: u64) -> Identity {
        let port = 7000 + node_id as u16 * 10;
        Identity {
            cluster_id,
            node_id,
            advertised: Advertised {
                resp: SocketAddr::from(([127, 0, 0, 1], port)),
                admin: SocketAddr::from(([0, 0, 0, 0], port + 2)),
            },
        }
    }

    #[tokio::test]
    async fn large_messages_wait_for_the_loop_and_small_ones_never_do() {
        let (tx, mut rx) = mpsc::channel(INBOX_LEN);
        let inbox = InboxSender::new(tx);
        let piece = || vec![7u8; 1 << 20];
        for _ in 0..INBOX_BULK_BYTES >> 20 {
            inbox.deliver(2, piece()).await;
        }
        let wait = Duration::from_millis(50);
        let over = tokio::time::timeout(wait, inbox.deliver(2, piece())).await;
        assert!(over.is_err(), "the budget is spent: the next piece waits");
        // Raft messages still get through meanwhile.
        inbox.deliver(3, vec![1u8; 100]).await;
        // The loop takes one piece: its share comes back, and the next piece goes in.
        let taken = rx.recv().await.expect("a piece");
        assert_eq!(taken.bytes.len(), 1 << 20);
        drop(taken);
        tokio::time::timeout(wait, inbox.deliver(2, piece()))
            .await
            .expect("room again");
        let mut queued = Vec::new();
        while let Ok(incoming) = rx.try_recv() {
            queued.push((incoming.from, incoming.bytes.len()));
        }
        let pieces = queued.iter().filter(|(_, len)| *len == 1 << 20).count();
        assert_eq!(pieces, INBOX_BULK_BYTES >> 20);
        assert!(queued.contains(&(3, 100)));
        // One message larger than the whole budget still goes through, alone.
        drop(queued);
        inbox.deliver(2, vec![0u8; INBOX_BULK_BYTES + 1]).await;
        assert_eq!(
            rx.recv().await.map(|m| m.bytes.len()),
            Some(INBOX_BULK_BYTES + 1)
        );
    }

    #[tokio::test]
    async fn a_bulk_stream_waits_for_room_and_ends_with_its_connection() {
        // A peer address nobody listens on: every dial fails, and each failure ends a
        // "connection", dropping what was queued.
        let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dead_addr = dead.local_addr().expect("addr").to_string();
        drop(dead);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (_stop, shutdown) = watch::channel(false);
        let peers = [(2, dead_addr)];
        let (transport, _inbox) = start(identity(7, 1), listener, &peers, shutdown);
        assert!(!transport.send_bulk(9, 0, vec![1]).await, "unknown peer");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut refused = false;
        while Instant::now() < deadline {
            let Some(epoch) = transport.connection_epoch(2) else {
                panic!("known peer");
            };
            // Queue until the connection task drops the queue and moves on.
            let sent = tokio::time::timeout(
                Duration::from_secs(5),
                transport.send_bulk(2, epoch, vec![0; 16]),
            )
            .await
            .expect("a dead peer's queue is emptied within a reconnect cycle");
            if !sent {
                assert!(transport.connection_epoch(2) > Some(epoch));
                refused = true;
                break;
            }
        }
        assert!(refused, "a stream that outlived its connection is refused");
    }

    #[test]
    fn handshakes_from_other_clusters_or_for_other_nodes_are_refused() {
        let me = identity(7, 2);
        let from1 = identity(7, 1);
        assert_eq!(
            check_handshake(me, &handshake_bytes(from1, 2)),
            Ok((1, from1.advertised))
        );
        let err = check_handshake(me, &handshake_bytes(from1, 3)).expect_err("wrong node");
        assert!(err.contains("addressed node 3"), "{err}");
        let stranger = identity(8, 1);
        let err = check_handshake(me, &handshake_bytes(stranger, 2)).expect_err("wrong cluster");
        assert!(err.contains("belongs to cluster"), "{err}");
        assert!(check_handshake(me, b"GET / HTTP/1.1").is_err());
    }

    #[test]
    fn advertised_addresses_are_checked_and_unspecified_ips_resolved() {
        let me = identity(7, 2);
        let hello = handshake_bytes(identity(7, 1), 2);
        for cut in 36..hello.len() {
            assert!(check_handshake(me, &hello[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = hello.clone();
        trailing.push(0);
        assert!(check_handshake(me, &trailing).is_err());
        let mut old = hello[..36].to_vec();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        let err = check_handshake(me, &old).expect_err("version 1");
        assert!(err.contains("version 1"), "{err}");
        let from: SocketAddr = "10.1.2.3:40000".parse().expect("addr");
        let any: SocketAddr = "0.0.0.0:7381".parse().expect("addr");
        let fixed: SocketAddr = "127.0.0.1:7381".parse().expect("addr");
        assert_eq!(reachable_from(any, from).to_string(), "10.1.2.3:7381");
        assert_eq!(reachable_from(fixed, from), fixed);
    }

    #[test]
    fn the_directory_is_bounded() {
        let directory = PeerDirectory::default();
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        for id in 0..(MAX_DIRECTORY_ENTRIES as u64 + 10) {
            directory.record(id, addr, addr);
        }
        assert_eq!(directory.all().len(), MAX_DIRECTORY_ENTRIES);
        let other: SocketAddr = "127.0.0.1:2".parse().expect("addr");
        directory.record(0, other, other);
        assert_eq!(directory.get(0).map(|p| p.admin), Some(other));
    }

    #[test]
    fn cluster_id_ignores_member_order() {
        let a = vec![(1, "a:1".to_string()), (2, "b:2".to_string())];
        let b = vec![(2, "b:2".to_string()), (1, "a:1".to_string())];
        assert_eq!(cluster_id(&a), cluster_id(&b));
        assert_ne!(cluster_id(&a), cluster_id(&a[..1]));
    }
}
