//! # Shards: Raft groups and the loop that drives them
//!
//! A shard is one Raft group (raft-rs `RawNode`) with its own state machine (keyspace + users)
//! and snapshot folder. All shards of a node share one WAL, so one fsync commits entries of
//! many groups. Today a node runs one shard that owns all keys; the driver is already a
//! loop over a node's groups' Readys, so more groups fit without changing its shape.
//!
//! Data flow of a write: a connection sends a propose request through a [`ShardHandle`];
//! the driver proposes it, writes the Ready's entries to the WAL, fsyncs once for everything
//! gathered in that round (group commit), advances raft-rs, applies the committed entries and
//! sends each client its replies. A read takes a ReadIndex round (one round serves every read
//! that arrived meanwhile); once the state machine has applied that index, the connection
//! reads the shared keyspace itself (see `read_barrier`).
//!
//! Nothing outside this module touches raft-rs types.

mod append_merge;
mod core;
mod driver;
mod entry;
mod handle;
mod read_barrier;
mod snapshot;
mod snapshot_job;
mod snapshot_transfer;
mod state_machine;
mod storage;
mod wal_worker;
mod wire;

#[cfg(test)]
mod sim;

pub use self::core::{RaftStatus, ReadOp};
pub use driver::start;
pub use entry::{DbCommand, Payload, Watched};
pub use handle::{MemberChange, NodeStatus, ShardHandle};
pub use snapshot::SnapshotInfo;
pub use state_machine::SharedUsers;

/// Why a shard could not serve a request. Mapped to RESP errors in one place (the server).
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ShardError {
    /// This node does not lead the group (0: leader unknown, e.g. during an election).
    #[error("this node is not the leader (leader: {leader})")]
    NotLeader {
        /// The leader's node id, if known.
        leader: u64,
    },
    /// A transient condition; the client may retry.
    #[error("{0}")]
    Retry(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// Storage failed; the node stops.
    #[error("{0}")]
    Fatal(String),
    /// The request cannot succeed as given (an unknown node, a node in the wrong role, a
    /// contradictory membership change): retrying it unchanged will not help, so the admin
    /// API answers it with a 4xx rather than a 503. Nothing was proposed. (Added last: peers
    /// exchange this enum with bincode, which numbers variants in order.)
    #[error("{0}")]
    Invalid(String),
}
