//! # Peer transport
//!
//! Moves opaque messages between the nodes of a cluster over TCP. The Raft loop hands a message
//! to [`Transport::send`] and never waits: each peer has a bounded queue drained by its own task,
//! and a full queue drops the message (Raft retransmits what matters). Incoming messages arrive
//! on one bounded channel, tagged with the sender's node id.
//!
//! Wire format, per connection: a handshake frame, then message frames. A frame is
//! `[u32 len][u32 crc32c(payload)][payload]` (little-endian). The handshake payload is
//! `"TKDBPEER" | u32 version | u64 cluster id | u64 from | u64 to`; a receiver drops connections
//! from another cluster or addressed to another node, with a log line saying which.
//!
//! Connections are one-way (the dialer sends, the acceptor receives), so each pair of nodes
//! holds two; reconnection backs off exponentially up to a cap.

mod frame;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn, Instrument};

pub use frame::{FrameError, MAX_FRAME_BYTES};

/// Messages queued for one peer before new ones are dropped.
pub const PEER_QUEUE_LEN: usize = 4096;
/// Incoming messages queued for the Raft loop before new ones are dropped.
pub const INBOX_LEN: usize = 8192;
/// First reconnection delay; doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(50);
/// Longest reconnection delay.
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// Time allowed for a dial or a handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most messages written before a flush.
const WRITE_BATCH: usize = 256;

const MAGIC: &[u8; 8] = b"TKDBPEER";
const VERSION: u32 = 1;

/// A message from a peer.
#[derive(Debug)]
pub struct Incoming {
    /// The sender's node id (checked in the handshake).
    pub from: u64,
    /// The message bytes.
    pub bytes: Vec<u8>,
}

/// Sends messages to peers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Transport {
    identity: Identity,
    peers: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    shutdown: watch::Receiver<bool>,
    /// The I/O runtime: the Raft loop calls `add_peer` from its own timer-only runtime, so
    /// dialers must be spawned here explicitly.
    runtime: tokio::runtime::Handle,
}

impl Transport {
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
        let (tx, rx) = mpsc::channel(PEER_QUEUE_LEN);
        self.peers.insert(id, tx);
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
            Some(queue) => queue.try_send(bytes).is_ok(),
            None => false,
        }
    }
}

/// Identity of this node on the peer network.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// The cluster every peer must belong to.
    pub cluster_id: u64,
    /// This node's id.
    pub node_id: u64,
}

/// Starts the dialers (one per peer) and the acceptor. Returns the sender and the inbox.
pub fn start(
    identity: Identity,
    listener: TcpListener,
    peers: &[(u64, String)],
    shutdown: watch::Receiver<bool>,
) -> (Transport, mpsc::Receiver<Incoming>) {
    let (inbox_tx, inbox) = mpsc::channel(INBOX_LEN);
    let mut queues = HashMap::new();
    for (id, addr) in peers.iter().filter(|(id, _)| *id != identity.node_id) {
        let (tx, rx) = mpsc::channel(PEER_QUEUE_LEN);
        queues.insert(*id, tx);
        tokio::spawn(
            dial_loop(identity, *id, addr.clone(), rx, shutdown.clone()).in_current_span(),
        );
    }
    tokio::spawn(accept_loop(identity, listener, inbox_tx, shutdown.clone()).in_current_span());
    let transport = Transport {
        identity,
        peers: queues,
        shutdown,
        runtime: tokio::runtime::Handle::current(),
    };
    (transport, inbox)
}

async fn dial_loop(
    identity: Identity,
    peer: u64,
    addr: String,
    mut queue: mpsc::Receiver<Vec<u8>>,
    mut shutdown: watch::Receiver<bool>,
) {
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
        // Messages queued while disconnected are stale by now: Raft resends what it needs.
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
    queue: &mut mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        if queue.recv_many(&mut batch, WRITE_BATCH).await == 0 {
            return Ok(());
        }
        for message in batch.drain(..) {
            frame::write(writer, &message).await?;
        }
        writer.flush().await?;
    }
}

async fn accept_loop(
    identity: Identity,
    listener: TcpListener,
    inbox: mpsc::Sender<Incoming>,
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
                tokio::spawn(
                    async move {
                        if let Err(e) = receive(identity, stream, addr, inbox).await {
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
    inbox: mpsc::Sender<Incoming>,
) -> Result<(), FrameError> {
    let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, frame::read(&mut stream))
        .await
        .map_err(|_| FrameError::Io(std::io::Error::other("handshake timed out")))??;
    let from = match check_handshake(identity, &hello) {
        Ok(from) => from,
        Err(why) => {
            warn!(%addr, "refused a peer connection: {why}");
            return Ok(());
        }
    };
    info!(peer = from, %addr, "peer connected");
    loop {
        let bytes = frame::read(&mut stream).await?;
        // A full inbox means the Raft loop is behind; dropping is safe (Raft retries).
        let _ = inbox.try_send(Incoming { from, bytes });
    }
}

fn handshake_bytes(identity: Identity, to: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&identity.cluster_id.to_le_bytes());
    out.extend_from_slice(&identity.node_id.to_le_bytes());
    out.extend_from_slice(&to.to_le_bytes());
    out
}

/// Checks a handshake; returns the sender's id or why it is refused.
fn check_handshake(identity: Identity, hello: &[u8]) -> Result<u64, String> {
    if hello.len() != 36 || &hello[..8] != MAGIC {
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
    Ok(from)
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

    #[test]
    fn handshakes_from_other_clusters_or_for_other_nodes_are_refused() {
        let me = Identity {
            cluster_id: 7,
            node_id: 2,
        };
        let from1 = Identity {
            cluster_id: 7,
            node_id: 1,
        };
        assert_eq!(check_handshake(me, &handshake_bytes(from1, 2)), Ok(1));
        let err = check_handshake(me, &handshake_bytes(from1, 3)).expect_err("wrong node");
        assert!(err.contains("addressed node 3"), "{err}");
        let stranger = Identity {
            cluster_id: 8,
            node_id: 1,
        };
        let err = check_handshake(me, &handshake_bytes(stranger, 2)).expect_err("wrong cluster");
        assert!(err.contains("belongs to cluster"), "{err}");
        assert!(check_handshake(me, b"GET / HTTP/1.1").is_err());
    }

    #[test]
    fn cluster_id_ignores_member_order() {
        let a = vec![(1, "a:1".to_string()), (2, "b:2".to_string())];
        let b = vec![(2, "b:2".to_string()), (1, "a:1".to_string())];
        assert_eq!(cluster_id(&a), cluster_id(&b));
        assert_ne!(cluster_id(&a), cluster_id(&a[..1]));
    }
}
