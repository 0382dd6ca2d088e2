//! What a Raft log entry of a data shard carries. Every change to the state machine is exactly
//! one of these, decided on the leader and applied identically everywhere: wall-clock inputs
//! (`now_ms`) are fixed inside the entry, so replicas never consult their own clocks in apply.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tinkerdb_kv::Command;

use crate::acl::{AclRule, User};

/// One command with the database it runs in (SELECT can change the db between commands).
pub type DbCommand = (u8, Command);

/// A WATCHed key and the version it had when watched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Database of the key.
    pub db: u8,
    /// The key.
    pub key: Bytes,
    /// Version seen at WATCH time (0: absent).
    pub version: u64,
}

/// The payload of a normal log entry, encoded with bincode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// A client's pipelined commands, applied in order; one reply per command.
    Batch {
        /// The client's tenant.
        tenant: String,
        /// The leader's clock when it proposed the entry.
        now_ms: u64,
        /// The commands.
        ops: Vec<DbCommand>,
    },
    /// `MULTI ... EXEC`: all or nothing, aborted (null reply) if a watched key changed.
    Exec {
        /// The client's tenant.
        tenant: String,
        /// The leader's clock when it proposed the entry.
        now_ms: u64,
        /// Keys watched by the client.
        watched: Vec<Watched>,
        /// The queued commands.
        ops: Vec<DbCommand>,
    },
    /// Active expiry: delete these keys if they are still expired at `now_ms`.
    Purge {
        /// The leader's clock when it proposed the entry.
        now_ms: u64,
        /// `(tenant, db, key)` of keys the leader saw expired.
        keys: Vec<(String, u8, Bytes)>,
    },
    /// `ACL SETUSER`.
    SetUser {
        /// The user's name.
        name: String,
        /// Rules to apply, passwords already hashed.
        rules: Vec<AclRule>,
        /// The config-file definition to start from if the user is not yet replicated.
        base: Option<User>,
    },
    /// `ACL DELUSER`.
    DelUsers {
        /// Names to delete.
        names: Vec<String>,
    },
}

/// A random id for this run of the process, so replies are never matched to tokens handed out
/// by an earlier run.
pub fn new_boot_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Errors decoding an entry: only possible with a damaged or foreign log.
#[derive(Debug, thiserror::Error)]
#[error("log entry does not decode: {0}")]
pub struct DecodeError(String);

impl Payload {
    /// Serializes the payload for `RawNode::propose`.
    pub fn encode(&self) -> Vec<u8> {
        bincode::serialize(self).expect("serializing an in-memory payload cannot fail")
    }

    /// Fixes the leader's clock inside the payload, just before it is proposed.
    pub fn set_now(&mut self, now: u64) {
        match self {
            Payload::Batch { now_ms, .. }
            | Payload::Exec { now_ms, .. }
            | Payload::Purge { now_ms, .. } => *now_ms = now,
            Payload::SetUser { .. } | Payload::DelUsers { .. } => {}
        }
    }

    /// Deserializes a committed entry's data.
    pub fn decode(data: &[u8]) -> Result<Payload, DecodeError> {
        bincode::deserialize(data).map_err(|e| DecodeError(e.to_string()))
    }
}

/// The proposal context: which node (and which run of its process) proposed the entry, and the
/// token its waiting client has. Only that process replies; other replicas, and the same node
/// replaying its log after a restart, apply silently. Without the boot id, a restarted node
/// replaying old entries would hand their replies to new clients holding the same token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalTag {
    /// The proposing node.
    pub node: u64,
    /// A random id of the proposing process's current run.
    pub boot: u64,
    /// The proposer's token for the waiting client.
    pub token: u64,
}

impl ProposalTag {
    /// Encodes the tag as the entry's context bytes.
    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&self.node.to_le_bytes());
        out.extend_from_slice(&self.boot.to_le_bytes());
        out.extend_from_slice(&self.token.to_le_bytes());
        out
    }

    /// Decodes an entry's context; `None` for entries without one (e.g. leader no-ops).
    pub fn decode(context: &[u8]) -> Option<ProposalTag> {
        let node = u64::from_le_bytes(context.get(0..8)?.try_into().ok()?);
        let boot = u64::from_le_bytes(context.get(8..16)?.try_into().ok()?);
        let token = u64::from_le_bytes(context.get(16..24)?.try_into().ok()?);
        Some(ProposalTag { node, boot, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_short_contexts_are_none() {
        let tag = ProposalTag {
            node: 3,
            boot: 7,
            token: 99,
        };
        assert_eq!(ProposalTag::decode(&tag.encode()), Some(tag));
        assert_eq!(ProposalTag::decode(b"short"), None);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(Payload::decode(&[0xff; 3]).is_err());
    }
}
