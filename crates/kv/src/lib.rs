//! # tinkerdb-kv: typed data commands and the deterministic keyspace
//!
//! Where this crate sits in TinkerDB's write path:
//! ```text
//! args ──parse──▶ Command ──(Raft log, bincode)──▶ Keyspace::execute(ns, cmd, ApplyCtx) ──▶ Frame
//! ```
//! Reads may skip the log: after a ReadIndex the shard calls [`Keyspace::read`].
//!
//! ## Layout
//! - [`command`](crate::Command): request arguments → typed [`Command`], with Redis 7's exact
//!   errors ([`CommandError`]); one file per command group.
//! - `keyspace`: the replicated state machine — tenants, 16 databases each, keys ordered by a
//!   stable hash, an expiry index, snapshots.
//! - [`glob`]: Redis glob matching for KEYS and SCAN MATCH.
//! - [`table`]: metadata of every command TinkerDB answers (COMMAND INFO/DOCS, ACL categories).
//! - `error`: the one place error texts are spelled.
//!
//! ## The rule
//! Applying a log entry is deterministic: no clock, no randomness, no unordered iteration. The
//! leader puts the time in the entry ([`ApplyCtx::now_ms`]); everything else follows from the
//! entry and the prior state, so every replica holds byte-identical snapshots at a given index.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod command;
mod error;
pub mod glob;
mod keyspace;
pub mod table;

pub use command::{
    parse, parse_at, Command, ExpireCondition, Expiry, GetExOption, ScanArgs, SetArgs,
    SetCondition, TimeUnit,
};
pub use error::{CommandError, ExecError};
pub use keyspace::{
    ApplyCtx, FrozenError, FrozenWriter, Keyspace, KeyspaceStats, Namespace, ReadCtx,
    SnapshotError, Value, DATABASES,
};
