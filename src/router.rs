//! # Router: which shard serves a request
//!
//! Today one Raft group owns every key, so routing is trivial; this is the seam where hash slots
//! (CRC16 mod 16384, `{tags}`), the slot map and forwarding to other nodes' leaders will go.
//! Connections never hold a shard directly: they ask the router.

use crate::shard::ShardHandle;

/// Maps requests to the shard that serves them.
#[derive(Debug, Clone)]
pub struct Router {
    data: ShardHandle,
}

impl Router {
    /// A router over the node's single data shard.
    pub fn single(data: ShardHandle) -> Router {
        Router { data }
    }

    /// The shard that owns `keys` (every key, for now).
    pub fn shard_for(&self, _keys: &[&[u8]]) -> &ShardHandle {
        &self.data
    }

    /// The shard holding node-wide state (users) and answering node status.
    pub fn primary(&self) -> &ShardHandle {
        &self.data
    }
}
