//! The simulated network between the nodes: raft-rs messages and snapshot pieces in flight,
//! with seeded delay, loss, duplication and reordering, and partitions that cut links one way
//! or both.
//!
//! It owns only messages and link state; it knows nothing of nodes being up or down (the
//! simulator drops what arrives at a crashed node). Reordering needs no code of its own: two
//! messages on one link draw independent delays, so the later one often arrives first, as
//! after a TCP reconnect. Snapshot pieces are the exception: a stream's pieces keep their
//! order and are never duplicated (one connection carries them), only lost. Invariant: a
//! message is delivered at most `1 + duplicates` times and never before its send time plus the
//! minimum delay.

use std::collections::{BTreeMap, BTreeSet};

use raft::prelude::Message;

use super::rng::Rng;
use crate::shard::snapshot_transfer::SnapshotPiece;

/// How badly the network behaves in one run (drawn per seed).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Chance that a message is lost, per mille.
    pub drop_per_mille: u64,
    /// Chance that a message is delivered twice, per mille.
    pub duplicate_per_mille: u64,
    /// Smallest one-way delay.
    pub delay_ms_min: u64,
    /// Largest one-way delay.
    pub delay_ms_max: u64,
}

/// What travels between nodes, as the driver's `PeerMessage` carries it.
#[derive(Debug, Clone)]
pub enum Packet {
    /// A raft-rs message.
    Raft(Message),
    /// A piece of a snapshot file (each piece is lost, duplicated and reordered on its own).
    SnapshotPiece(SnapshotPiece),
}

/// One message on the wire.
#[derive(Debug)]
pub struct Envelope {
    /// Sender.
    pub from: u64,
    /// Receiver.
    pub to: u64,
    /// What it carries.
    pub packet: Packet,
}

/// Messages in flight and the links that are cut.
#[derive(Debug)]
pub struct Network {
    config: NetworkConfig,
    /// Keyed by (delivery time, send sequence): a total, seed-determined order.
    in_flight: BTreeMap<(u64, u64), Envelope>,
    /// Directed links `(from, to)` that currently lose everything.
    cut: BTreeSet<(u64, u64)>,
    /// When the latest snapshot piece on each link arrives: pieces keep their order, as on
    /// one TCP connection.
    last_piece_ms: BTreeMap<(u64, u64), u64>,
    next_seq: u64,
}

/// Most messages in flight; a run that exceeds it has a message storm, which is a bug.
const IN_FLIGHT_MAX: usize = 200_000;

impl Network {
    /// An empty network with no cut links.
    pub fn new(config: NetworkConfig) -> Network {
        Network {
            config,
            in_flight: BTreeMap::new(),
            cut: BTreeSet::new(),
            last_piece_ms: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Sends `msg`; false if the link is cut right now (the transport notices it has no
    /// connection, so the driver reports the peer unreachable). Loss and duplication are
    /// silent, as on a real network.
    pub fn send(&mut self, now_ms: u64, from: u64, to: u64, msg: Packet, rng: &mut Rng) -> bool {
        if self.cut.contains(&(from, to)) {
            return false;
        }
        if rng.chance(self.config.drop_per_mille) {
            return true;
        }
        if let Packet::SnapshotPiece(_) = msg {
            // A stream's pieces are lost (a broken connection) but never duplicated or
            // reordered among themselves.
            let delay = rng.between(self.config.delay_ms_min, self.config.delay_ms_max);
            let last = self.last_piece_ms.entry((from, to)).or_insert(0);
            let at = (now_ms + delay).max(*last);
            *last = at;
            self.insert(at, from, to, msg);
            return true;
        }
        if rng.chance(self.config.duplicate_per_mille) {
            self.enqueue(now_ms, from, to, msg.clone(), rng);
        }
        self.enqueue(now_ms, from, to, msg, rng);
        true
    }

    fn enqueue(&mut self, now_ms: u64, from: u64, to: u64, packet: Packet, rng: &mut Rng) {
        let delay = rng.between(self.config.delay_ms_min, self.config.delay_ms_max);
        self.insert(now_ms + delay, from, to, packet);
    }

    fn insert(&mut self, at_ms: u64, from: u64, to: u64, packet: Packet) {
        self.next_seq += 1;
        self.in_flight
            .insert((at_ms, self.next_seq), Envelope { from, to, packet });
        assert!(
            self.in_flight.len() <= IN_FLIGHT_MAX,
            "message storm: {} messages in flight",
            self.in_flight.len()
        );
    }

    /// When the next message arrives, if any is in flight.
    pub fn next_delivery_ms(&self) -> Option<u64> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the messages due by `now_ms`, in delivery order. Messages on a link
    /// that was cut while they were in flight are lost.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<Envelope> {
        let later = self.in_flight.split_off(&(now_ms + 1, 0));
        let due = std::mem::replace(&mut self.in_flight, later);
        due.into_values()
            .filter(|e| !self.cut.contains(&(e.from, e.to)))
            .collect()
    }

    /// Cuts the directed link `from → to`.
    pub fn cut(&mut self, from: u64, to: u64) {
        self.cut.insert((from, to));
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Whether any link is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }

    /// Stops losing and duplicating messages (for the final quiet period).
    pub fn calm(&mut self) {
        self.config.drop_per_mille = 0;
        self.config.duplicate_per_mille = 0;
    }
}
