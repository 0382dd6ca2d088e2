//! # The keyspace: TinkerDB's replicated state machine
//!
//! Place in the data flow: a shard applies each committed log entry by calling
//! [`Keyspace::execute`] with the entry's [`Command`] and an [`ApplyCtx`] fixed by the leader
//! (`now_ms`, the log `index`). Linearizable reads call [`Keyspace::read`] once the shard has
//! applied up to a ReadIndex. Snapshots stream the whole keyspace to disk or to a new replica.
//!
//! What it owns: tenants → 16 databases each → keys ordered by a stable hash (see `db.rs`),
//! with an expiry index per database (see `expiry.rs`).
//!
//! The determinism rule: the result of `execute` — the reply and the new state — depends only
//! on the prior state and its arguments. This module never reads a clock, never draws a random
//! number, and iterates only ordered maps. Relative expiries become absolute deadlines from
//! `ctx.now_ms`; RANDOMKEY inside `execute` derives its choice from `ctx.index`.
//!
//! Expired keys: a key whose deadline is at or before `now_ms` is invisible to every command.
//! Reads only hide it; writes delete it before acting (deterministic: every replica applies the
//! same write at the same `now_ms`); the leader also proposes purges from
//! [`Keyspace::sample_expired`].

mod db;
mod expiry;
mod generic;
mod snapshot;
mod strings;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tinkerdb_resp::Frame;

use crate::command::Command;
use crate::error::ExecError;
use db::Db;

pub use snapshot::{FrozenError, FrozenWriter, SnapshotError};

/// Databases per tenant, numbered `0..DATABASES` as Redis's SELECT.
pub const DATABASES: u8 = 16;

/// Which keyspace a command runs in: a tenant's database. Tenants never see each other's keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Namespace {
    /// The tenant, chosen by AUTH.
    pub tenant: String,
    /// The database, chosen by SELECT; must be below [`DATABASES`].
    pub db: u8,
}

/// The inputs of one log entry's application that are not in the command itself. The leader
/// fixes them when it proposes the entry, so every replica applies the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyCtx {
    /// Wall-clock time chosen by the leader, in Unix milliseconds.
    pub now_ms: u64,
    /// The entry's log index: it becomes the version of every key the entry writes.
    pub index: u64,
}

/// The inputs of a read served outside the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCtx {
    /// The reading node's time in Unix milliseconds, to hide expired keys.
    pub now_ms: u64,
    /// Randomness for RANDOMKEY, drawn by the caller.
    pub random: u64,
}

/// A stored value. Only strings exist so far; lists and hashes will be new variants, and every
/// command already checks the variant so that they get Redis's WRONGTYPE error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A binary-safe string.
    Str(Box<[u8]>),
}

impl Value {
    /// The name TYPE prints and SCAN TYPE filters on.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// Payload bytes, for memory accounting.
    pub(crate) fn len(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
        }
    }
}

/// Totals for INFO and memory limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyspaceStats {
    /// Keys stored (expired but not yet purged ones included).
    pub keys: u64,
    /// Keys with a deadline.
    pub expires: u64,
    /// Approximate bytes used by keys, values and their bookkeeping.
    pub used_bytes: u64,
}

/// One tenant's databases.
#[derive(Debug)]
struct Tenant {
    dbs: Vec<Db>,
}

impl Tenant {
    fn new() -> Self {
        Tenant {
            dbs: (0..DATABASES).map(|_| Db::new()).collect(),
        }
    }
}

/// The reply for a namespace whose database number is out of range.
const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

/// Reads of a missing tenant borrow this.
static EMPTY_DB: Db = Db::new();

/// The sum of some databases' counters.
fn totals<'a>(dbs: impl IntoIterator<Item = &'a Db>) -> KeyspaceStats {
    let mut s = KeyspaceStats::default();
    for db in dbs {
        s.keys += db.len();
        s.expires += db.expires();
        s.used_bytes += db.used_bytes();
    }
    s
}

/// The replicated keyspace of one shard: every tenant's databases.
#[derive(Debug, Default)]
pub struct Keyspace {
    tenants: BTreeMap<String, Tenant>,
    /// The freeze a [`FrozenWriter`] is writing (see [`Keyspace::freeze`]), by number.
    frozen: Option<u64>,
    freezes: u64,
}

impl Keyspace {
    /// An empty keyspace, the state before log index 1.
    pub fn new() -> Self {
        Keyspace::default()
    }

    /// Freezes the keyspace as it is now for a snapshot written while it keeps changing:
    /// the returned writer, fed this keyspace chunk by chunk (under its read lock, on any
    /// thread), writes exactly the bytes [`Keyspace::write_snapshot`] would write now, while
    /// commands go on changing it in between (copy-on-write of each bucket the writer has not
    /// reached yet). A new freeze ends any earlier one, whose writer then fails.
    pub fn freeze(&mut self) -> FrozenWriter {
        self.thaw();
        self.freezes += 1;
        self.frozen = Some(self.freezes);
        for tenant in self.tenants.values_mut() {
            tenant.dbs.iter_mut().for_each(Db::freeze);
        }
        FrozenWriter::new(self.freezes, self.tenants.keys().cloned().collect())
    }

    /// Ends the freeze (its writer is done, or gave up) and drops what it kept.
    pub fn thaw(&mut self) {
        self.frozen = None;
        for tenant in self.tenants.values_mut() {
            tenant.dbs.iter_mut().for_each(Db::thaw);
        }
    }

    /// Applies one committed command. Deterministic: the same state, `ns`, `cmd` and `ctx` give
    /// the same reply and the same new state on every replica. Read commands are answered too
    /// (pipelined batches mixing reads and writes are applied from the log).
    pub fn execute(&mut self, ns: &Namespace, cmd: &Command, ctx: &ApplyCtx) -> Frame {
        if !cmd.is_write() {
            let random = mix64(ctx.index);
            return self.answer_read(
                ns,
                cmd,
                &ReadCtx {
                    now_ms: ctx.now_ms,
                    random,
                },
            );
        }
        if ns.db >= DATABASES {
            return Frame::error(DB_OUT_OF_RANGE);
        }
        let tenant = self
            .tenants
            .entry(ns.tenant.clone())
            .or_insert_with(Tenant::new);
        if matches!(cmd, Command::FlushAll) {
            tenant.dbs.iter_mut().for_each(Db::clear);
            return Frame::ok();
        }
        let db = &mut tenant.dbs[usize::from(ns.db)];
        for key in cmd.keys() {
            db.remove_if_expired(key, ctx.now_ms);
        }
        strings::write(db, cmd, ctx)
            .or_else(|| generic::write(db, cmd, ctx))
            .unwrap_or_else(|| ExecError::WriteOnReadPath(cmd.name()).into_frame())
    }

    /// Answers a read-only command without changing anything: expired keys are hidden, not
    /// deleted. A write command gets an error reply (a caller bug: writes go through the log).
    pub fn read(&self, ns: &Namespace, cmd: &Command, ctx: &ReadCtx) -> Frame {
        if cmd.is_write() {
            return ExecError::WriteOnReadPath(cmd.name()).into_frame();
        }
        self.answer_read(ns, cmd, ctx)
    }

    fn answer_read(&self, ns: &Namespace, cmd: &Command, ctx: &ReadCtx) -> Frame {
        if ns.db >= DATABASES {
            return Frame::error(DB_OUT_OF_RANGE);
        }
        let db = self.db(ns);
        strings::read(db, cmd, ctx.now_ms)
            .or_else(|| generic::read(db, cmd, ctx))
            .unwrap_or_else(|| ExecError::WriteOnReadPath(cmd.name()).into_frame())
    }

    fn db(&self, ns: &Namespace) -> &Db {
        self.tenants
            .get(&ns.tenant)
            .and_then(|t| t.dbs.get(usize::from(ns.db)))
            .unwrap_or(&EMPTY_DB)
    }

    /// The log index of the last write to `key`, 0 if it is absent or expired at `now_ms`.
    /// WATCH remembers it; EXEC aborts if it changed.
    pub fn key_version(&self, ns: &Namespace, key: &[u8], now_ms: u64) -> u64 {
        self.db(ns).get(key, now_ms).map_or(0, |e| e.version)
    }

    /// Keys stored in `ns` (expired ones not yet purged included, as Redis's DBSIZE).
    pub fn dbsize(&self, ns: &Namespace) -> u64 {
        self.db(ns).len()
    }

    /// Per-database `(db, keys, expires)` of a tenant, non-empty databases only, for INFO.
    pub fn tenant_dbs(&self, tenant: &str) -> Vec<(u8, u64, u64)> {
        let Some(t) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        (0..DATABASES)
            .zip(&t.dbs)
            .filter(|(_, db)| db.len() > 0)
            .map(|(i, db)| (i, db.len(), db.expires()))
            .collect()
    }

    /// Totals over all tenants.
    pub fn stats(&self) -> KeyspaceStats {
        totals(self.tenants.values().flat_map(|t| &t.dbs))
    }

    /// Totals of each tenant that has written anything, in tenant order (per-tenant metrics).
    /// Cheap: every database keeps its counts, so this is 16 additions per tenant.
    pub fn tenant_stats(&self) -> Vec<(String, KeyspaceStats)> {
        self.tenants
            .iter()
            .map(|(name, t)| (name.clone(), totals(&t.dbs)))
            .collect()
    }

    /// Up to `limit` keys expired at `now_ms`, read from the expiry indexes (cost proportional
    /// to `limit` plus the number of databases). The leader proposes them to
    /// [`Keyspace::purge_expired`].
    pub fn sample_expired(&self, now_ms: u64, limit: usize) -> Vec<(Namespace, Bytes)> {
        let mut out = Vec::new();
        for (tenant, t) in &self.tenants {
            for (db_index, db) in (0..DATABASES).zip(&t.dbs) {
                if out.len() >= limit {
                    return out;
                }
                for key in db.expired_keys(now_ms, limit - out.len()) {
                    let ns = Namespace {
                        tenant: tenant.clone(),
                        db: db_index,
                    };
                    out.push((ns, Bytes::from(key.into_vec())));
                }
            }
        }
        out
    }

    /// Deletes those of `keys` that are still expired at `ctx.now_ms` (a key rewritten since the
    /// sample survives). Returns how many were deleted.
    pub fn purge_expired(&mut self, keys: &[(Namespace, Bytes)], ctx: &ApplyCtx) -> usize {
        let mut purged = 0;
        for (ns, key) in keys {
            let db = self
                .tenants
                .get_mut(&ns.tenant)
                .and_then(|t| t.dbs.get_mut(usize::from(ns.db)));
            if let Some(db) = db {
                purged += usize::from(db.remove_if_expired(key, ctx.now_ms));
            }
        }
        purged
    }
}

/// Spreads a log index over 64 bits (splitmix64's finalizer) to pick RANDOMKEY's position.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
