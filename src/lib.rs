//! # TinkerDB
//!
//! A key-value database that speaks the Redis protocol and keeps its data consistent and
//! durable with Raft. This crate is the node: it wires the codec (`tinkerdb-resp`), the keyspace
//! and commands (`tinkerdb-kv`) and the write-ahead log (`tinkerdb-wal`) together.
//!
//! ## Layout, in the order a request flows through it
//!
//! - [`server`]: TCP accept loop, connections, sessions (auth, tenant, db, MULTI), server
//!   commands (PING, HELLO, INFO, CLIENT, CONFIG, ACL ...).
//! - [`router`]: picks the shard (Raft group) that serves a request.
//! - [`shard`]: a Raft group (raft-rs) with its log window, state machine and snapshots, driven
//!   by the node's Raft loop, which owns the WAL and group-commits.
//! - [`acl`]: users, tenants, roles.
//! - [`admin`]: the HTTP admin port; [`metrics`]: the Prometheus metrics it serves.
//! - [`config`], [`cli`], [`logging`], [`node`]: configuration, command line, logs, start/stop.
//!
//! Data flows one way: server → router → shard → WAL → state machine, and replies come back on
//! channels.

#![forbid(unsafe_code)]

pub mod acl;
pub mod admin;
pub mod admin_client;
pub mod cli;
pub mod config;
pub mod demo;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod router;
pub mod server;
pub mod shard;
pub mod transport;
