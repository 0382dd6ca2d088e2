//! The replicated state machine of a data shard: the keyspace plus the replicated ACL users.
//! It changes only through [`StateMachine::apply`], from committed log entries, and is
//! deterministic: the same entries in the same order give byte-identical state on every replica.
//! It never reads a clock, draws a random number or does I/O other than snapshot streams.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tinkerdb_kv::{ApplyCtx, FrozenWriter, Keyspace, Namespace, ReadCtx};
use tinkerdb_resp::Frame;

use super::entry::{DbCommand, Payload, Watched};
use crate::acl::UserTable;

/// Largest encoded user table accepted from a snapshot (a bound on input from disk).
const MAX_USERS_BYTES: u64 = 64 << 20;

/// A read-only view of the replicated users, shared with connections for `AUTH`.
pub type SharedUsers = Arc<RwLock<UserTable>>;

/// The keyspace, written only by apply and read by local (lease) reads on connections.
pub type SharedKeyspace = Arc<RwLock<Keyspace>>;

/// Errors reading a snapshot body.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The stream ended or failed.
    #[error("snapshot read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The content is not a valid snapshot body.
    #[error("snapshot body is invalid: {0}")]
    Invalid(String),
}

/// Keyspace + users.
#[derive(Debug, Default)]
pub struct StateMachine {
    keyspace: SharedKeyspace,
    users: SharedUsers,
    /// Peer addresses of members added after the initial cluster, set by conf changes: every
    /// node must be able to dial every member, including after a restart from a snapshot.
    members: BTreeMap<u64, String>,
}

/// A state machine's content as of one moment, to be written from any thread while the
/// state machine keeps applying (see [`StateMachine::snapshot_source`]).
#[derive(Debug)]
pub struct SnapshotSource {
    /// The users and members, encoded when the snapshot started (they are small).
    users: Vec<u8>,
    keyspace: SharedKeyspace,
    frozen: FrozenWriter,
}

/// A state machine's content read from a snapshot body but not yet installed: a follower
/// reads the leader's snapshot into one of these off the Raft loop, and installing it is then a
/// swap ([`StateMachine::install`]).
#[derive(Debug, Default)]
pub struct LoadedState {
    keyspace: Keyspace,
    users: UserTable,
    members: BTreeMap<u64, String>,
}

impl LoadedState {
    /// Reads a snapshot body (users and members, then the keyspace).
    pub fn read(r: &mut impl Read) -> Result<LoadedState, LoadError> {
        let mut len = [0u8; 8];
        r.read_exact(&mut len)?;
        let len = u64::from_le_bytes(len);
        if len > MAX_USERS_BYTES {
            return Err(LoadError::Invalid(format!("user table of {len} bytes")));
        }
        let mut users = vec![0u8; len as usize];
        r.read_exact(&mut users)?;
        let (users, members): (UserTable, BTreeMap<u64, String>) =
            bincode::deserialize(&users).map_err(|e| LoadError::Invalid(e.to_string()))?;
        let keyspace = Keyspace::read_snapshot(r).map_err(|e| LoadError::Invalid(e.to_string()))?;
        Ok(LoadedState {
            keyspace,
            users,
            members,
        })
    }
}

/// Keyspace bytes a snapshot writer gathers under the read lock before writing them out.
const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

impl SnapshotSource {
    /// Streams the state (users, then keyspace) into a snapshot body. The keyspace goes chunk
    /// by chunk, each under a short read lock, so commands keep applying in between; what it
    /// writes is still the state of the moment the source was made (the keyspace's freeze).
    pub fn write(&mut self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&(self.users.len() as u64).to_le_bytes())?;
        w.write_all(&self.users)?;
        let mut chunk = Vec::with_capacity(SNAPSHOT_CHUNK_BYTES);
        loop {
            let done = {
                let keyspace = self.keyspace.read().unwrap_or_else(|p| p.into_inner());
                self.frozen
                    .write_chunk(&keyspace, &mut chunk)
                    .map_err(std::io::Error::other)?
            };
            w.write_all(&chunk)?;
            chunk.clear();
            if done {
                return Ok(());
            }
        }
    }
}

impl StateMachine {
    /// Applies one committed entry at `index`; returns the replies for the proposing client.
    pub fn apply(&mut self, index: u64, payload: &Payload) -> Vec<Frame> {
        match payload {
            Payload::Batch {
                tenant,
                now_ms,
                ops,
            } => {
                let ctx = ApplyCtx {
                    now_ms: *now_ms,
                    index,
                };
                self.execute_all(tenant, ops, &ctx)
            }
            Payload::Exec {
                tenant,
                now_ms,
                watched,
                ops,
            } => {
                let ctx = ApplyCtx {
                    now_ms: *now_ms,
                    index,
                };
                if !self.watched_unchanged(tenant, watched, *now_ms) {
                    return vec![Frame::NullArray];
                }
                vec![Frame::Array(self.execute_all(tenant, ops, &ctx))]
            }
            Payload::Purge { now_ms, keys } => {
                let ctx = ApplyCtx {
                    now_ms: *now_ms,
                    index,
                };
                let keys: Vec<_> = keys
                    .iter()
                    .map(|(tenant, db, key)| (namespace(tenant, *db), key.clone()))
                    .collect();
                let purged = self.keyspace_mut().purge_expired(&keys, &ctx);
                vec![Frame::Integer(purged as i64)]
            }
            Payload::SetUser { name, rules, base } => {
                self.users_mut().set_user(name, rules, base.as_ref());
                vec![Frame::ok()]
            }
            Payload::DelUsers { names } => {
                let mut users = self.users_mut();
                let deleted = names.iter().filter(|n| users.delete_user(n)).count();
                vec![Frame::Integer(deleted as i64)]
            }
        }
    }

    /// The keyspace, for INFO and active expiry sampling.
    pub fn keyspace_read(&self) -> RwLockReadGuard<'_, Keyspace> {
        self.keyspace.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared keyspace handle, for local reads on connections.
    pub fn shared_keyspace(&self) -> SharedKeyspace {
        Arc::clone(&self.keyspace)
    }

    fn keyspace_mut(&self) -> RwLockWriteGuard<'_, Keyspace> {
        self.keyspace.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a member's peer address (conf change applied).
    pub fn set_member(&mut self, id: u64, addr: Option<String>) {
        match addr {
            Some(addr) => {
                self.members.insert(id, addr);
            }
            None => {
                self.members.remove(&id);
            }
        }
    }

    /// Peer addresses of members added by conf changes.
    pub fn members(&self) -> &BTreeMap<u64, String> {
        &self.members
    }

    /// The replicated users, shared with connections.
    pub fn users(&self) -> SharedUsers {
        Arc::clone(&self.users)
    }

    /// Streams the state (users, then keyspace) into a snapshot body, here and now.
    #[cfg(test)]
    pub fn write_snapshot(&self, w: &mut impl Write) -> std::io::Result<()> {
        let users = self.encode_users()?;
        w.write_all(&(users.len() as u64).to_le_bytes())?;
        w.write_all(&users)?;
        self.keyspace_read().write_snapshot(w)
    }

    /// The users and members as a snapshot holds them.
    fn encode_users(&self) -> std::io::Result<Vec<u8>> {
        let table = self.users.read().unwrap_or_else(|p| p.into_inner());
        bincode::serialize(&(&*table, &self.members))
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    /// The state as of now, for a snapshot writer on another thread: the users encoded now,
    /// and the keyspace frozen now (copy-on-write: see `Keyspace::freeze`), so applying goes
    /// on while the writer works. [`StateMachine::end_snapshot`] ends the freeze.
    pub fn snapshot_source(&self) -> std::io::Result<SnapshotSource> {
        Ok(SnapshotSource {
            users: self.encode_users()?,
            keyspace: Arc::clone(&self.keyspace),
            frozen: self.keyspace_mut().freeze(),
        })
    }

    /// Ends the keyspace's freeze for a snapshot (written, failed or abandoned), dropping the
    /// copies it kept.
    pub fn end_snapshot(&self) {
        self.keyspace_mut().thaw();
    }

    /// Takes over a state read from a snapshot body, keeping the shared keyspace and users
    /// handles (connections and lease reads hold them). Returns the state it replaced, for the
    /// caller to drop where the time it takes does not matter.
    pub fn install(&mut self, loaded: LoadedState) -> LoadedState {
        let keyspace = std::mem::replace(&mut *self.keyspace_mut(), loaded.keyspace);
        let users = std::mem::replace(&mut *self.users_mut(), loaded.users);
        let members = std::mem::replace(&mut self.members, loaded.members);
        LoadedState {
            keyspace,
            users,
            members,
        }
    }

    fn execute_all(&mut self, tenant: &str, ops: &[DbCommand], ctx: &ApplyCtx) -> Vec<Frame> {
        let mut keyspace = self.keyspace_mut();
        ops.iter()
            .map(|(db, cmd)| keyspace.execute(&namespace(tenant, *db), cmd, ctx))
            .collect()
    }

    fn watched_unchanged(&self, tenant: &str, watched: &[Watched], now_ms: u64) -> bool {
        let keyspace = self.keyspace_read();
        watched
            .iter()
            .all(|w| keyspace.key_version(&namespace(tenant, w.db), &w.key, now_ms) == w.version)
    }

    fn users_mut(&self) -> std::sync::RwLockWriteGuard<'_, UserTable> {
        self.users
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs read-only commands against a keyspace.
pub fn read_commands(
    keyspace: &Keyspace,
    tenant: &str,
    ops: &[DbCommand],
    ctx: &ReadCtx,
) -> Vec<Frame> {
    ops.iter()
        .map(|(db, cmd)| keyspace.read(&namespace(tenant, *db), cmd, ctx))
        .collect()
}

/// Reads key versions (for `WATCH`) from a keyspace.
pub fn read_versions(
    keyspace: &Keyspace,
    tenant: &str,
    keys: &[(u8, bytes::Bytes)],
    now_ms: u64,
) -> Vec<u64> {
    keys.iter()
        .map(|(db, key)| keyspace.key_version(&namespace(tenant, *db), key, now_ms))
        .collect()
}

/// Builds the keyspace namespace of a tenant's database.
pub fn namespace(tenant: &str, db: u8) -> Namespace {
    Namespace {
        tenant: tenant.into(),
        db,
    }
}
