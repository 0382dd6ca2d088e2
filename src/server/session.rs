//! A connection's session: who the client is (user, tenant), what it selected (db, protocol),
//! its MULTI queue and WATCHed keys, and the batching of pipelined data commands.
//!
//! Pipelined data commands that follow each other are sent to the shard as one request: one
//! log entry if any of them writes (applied in order, so a read after a write in the same
//! pipeline sees it), else one linearizable read. Anything else (a server command, an error)
//! first flushes the batch, so replies always come back in request order.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tinkerdb_resp::{encode, Frame, Protocol};

use super::clients::ClientState;
use super::errors::{shard_error, unknown_command};
use super::server_commands;
use super::ServerContext;
use crate::acl::{Access, User};
use crate::metrics::CommandId;
use crate::shard::{DbCommand, Payload, ReadOp, Watched};

/// Whether the connection stays open after a round of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Close after writing the replies (QUIT, a protocol error).
    Close,
}

/// Commands a client may send before authenticating, as in Redis.
const PRE_AUTH_COMMANDS: &[&str] = &["auth", "hello", "quit", "reset"];

/// Most commands queued in one MULTI (a bound on a client-controlled queue).
pub const MAX_MULTI_COMMANDS: usize = 100_000;

/// Commands' room a session's batch buffer keeps between reads: a pipeline of this depth
/// allocates nothing, and an idle connection that once sent a deep pipeline holds little.
const BATCH_CAPACITY_KEPT: usize = 64;

/// The MULTI state.
#[derive(Debug, Default)]
struct Multi {
    ops: Vec<DbCommand>,
    failed: bool,
}

/// One connection's state.
pub struct Session {
    ctx: Arc<ServerContext>,
    client: Arc<ClientState>,
    protocol: Protocol,
    user: Option<User>,
    db: u8,
    multi: Option<Multi>,
    watched: Vec<Watched>,
    batch: Vec<DbCommand>,
    batch_writes: bool,
    /// Beside `batch`: each command's metric slot and when it was read, to record its outcome
    /// and latency when the batch's replies arrive. Reused, so counting allocates nothing.
    batch_metrics: Vec<(CommandId, Instant)>,
    /// `READONLY`: reads on this connection may be served from this node's applied state
    /// without a ReadIndex round (possibly stale on a follower), as on a Redis Cluster replica.
    stale_reads: bool,
}

impl Session {
    /// A new session, logged in as `default` if that user needs no password.
    pub fn new(ctx: Arc<ServerContext>, peer: SocketAddr, laddr: SocketAddr) -> Session {
        let user = {
            let table = ctx.router.primary().users().read();
            let table = table.unwrap_or_else(|p| p.into_inner());
            ctx.directory.initial_user(&table)
        };
        let user_name = user.as_ref().map_or("", |u| u.name.as_str());
        let client = ctx.clients.register(peer, laddr, user_name);
        Session {
            ctx,
            client,
            protocol: Protocol::Resp2,
            user,
            db: 0,
            multi: None,
            watched: Vec::new(),
            batch: Vec::new(),
            batch_writes: false,
            batch_metrics: Vec::new(),
            stale_reads: false,
        }
    }

    /// This connection's registry entry.
    pub fn client(&self) -> Arc<ClientState> {
        Arc::clone(&self.client)
    }

    /// The protocol replies are encoded in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Unregisters the connection.
    pub fn close(&self) {
        self.ctx.clients.unregister(self.client.id);
    }

    /// Runs every request in `requests` (draining it) and encodes the replies into `out`.
    pub async fn run(&mut self, requests: &mut Vec<Vec<Bytes>>, out: &mut BytesMut) -> Flow {
        let mut flow = Flow::Continue;
        let count = requests.len() as u64;
        self.ctx
            .stats
            .commands_processed
            .fetch_add(count, Ordering::Relaxed);
        let mut last_args = None;
        // The requests of one call arrived in one read: one clock reading serves them all.
        let arrived = Instant::now();
        for args in requests.drain(..) {
            if flow == Flow::Close {
                break;
            }
            let position = tinkerdb_kv::table::position(&args[0]);
            let command = self.ctx.metrics.server.command_at(position);
            match self.step(&args, position) {
                Step::Batch(op, writes) => {
                    self.batch.push(op);
                    self.batch_writes |= writes;
                    self.batch_metrics.push((command, arrived));
                }
                Step::Reply(frame) => {
                    self.flush(out).await;
                    self.emit(&frame, out);
                    self.ctx
                        .metrics
                        .server
                        .record(command, !frame.is_error(), Duration::ZERO);
                }
                Step::Server => {
                    self.flush(out).await;
                    let started = Instant::now();
                    let (frame, next) = server_commands::execute(self, &args).await;
                    self.emit(&frame, out);
                    self.ctx
                        .metrics
                        .server
                        .record(command, !frame.is_error(), started.elapsed());
                    flow = next;
                }
            }
            last_args = Some(args);
        }
        self.flush(out).await;
        self.touch(last_args.as_ref().map(|args| &args[0]));
        flow
    }

    /// Decides what to do with one request without running it.
    /// `position`: the command's place in the command table (`table::position(&args[0])`).
    fn step(&mut self, args: &[Bytes], position: Option<usize>) -> Step {
        let Some(user) = &self.user else {
            if !is_one_of(&args[0], PRE_AUTH_COMMANDS) {
                return Step::Reply(Frame::error("NOAUTH Authentication required."));
            }
            return Step::Server;
        };
        let role = user.role;
        let cmd = match tinkerdb_kv::parse_at(position, args) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => {
                if self.multi.is_some() && !server_commands::allowed_in_multi(&args[0]) {
                    return self.fail_multi(if server_commands::is_known(&args[0]) {
                        Frame::error("ERR Command not allowed inside a transaction")
                    } else {
                        unknown_command(args)
                    });
                }
                return Step::Server;
            }
            Err(e) => return self.fail_multi(Frame::error(e.to_string())),
        };
        let writes = cmd.is_write();
        let access = if writes { Access::Write } else { Access::Read };
        if !role.allows(access) {
            let denied = no_permission(&user.name, cmd.name());
            return self.fail_multi(denied);
        }
        let op = (self.db, cmd);
        if let Some(multi) = &mut self.multi {
            if multi.ops.len() >= MAX_MULTI_COMMANDS {
                return self.fail_multi(Frame::error(format!(
                    "ERR a transaction may queue at most {MAX_MULTI_COMMANDS} commands"
                )));
            }
            multi.ops.push(op);
            self.client.details().multi = Some(multi.ops.len());
            return Step::Reply(Frame::Simple("QUEUED".into()));
        }
        Step::Batch(op, writes)
    }

    /// An error reply that also dooms an open transaction (EXECABORT), as in Redis.
    fn fail_multi(&mut self, frame: Frame) -> Step {
        if let Some(multi) = &mut self.multi {
            multi.failed = true;
        }
        Step::Reply(frame)
    }

    /// Sends the pending batch to the shard and encodes its replies.
    async fn flush(&mut self, out: &mut BytesMut) {
        if self.batch.is_empty() {
            return;
        }
        let writes = std::mem::replace(&mut self.batch_writes, false);
        let count = self.batch.len();
        let shard = self.ctx.router.shard_for(&[]);
        let result = if writes {
            // A write's commands go into the log entry: the batch is handed over.
            shard
                .propose(Payload::Batch {
                    tenant: self.tenant().to_string(),
                    now_ms: 0,
                    ops: std::mem::take(&mut self.batch),
                })
                .await
        } else {
            // A read only borrows them: the batch's buffer serves the next round too.
            let read = ReadOp::Commands {
                tenant: self.tenant(),
                ops: &self.batch,
            };
            let result = if self.stale_reads {
                Ok(shard.read_stale(&read))
            } else {
                shard.read(&read).await
            };
            self.batch.clear();
            self.batch.shrink_to(BATCH_CAPACITY_KEPT);
            result
        };
        debug_assert_eq!(
            self.batch_metrics.len(),
            count,
            "a metric slot per batched command"
        );
        let now = Instant::now();
        let metrics = &self.ctx.metrics.server;
        let mut slots = self.batch_metrics.drain(..);
        match result {
            Ok(frames) => {
                debug_assert_eq!(frames.len(), count, "one reply per command");
                for frame in &frames {
                    if let Some((command, read_at)) = slots.next() {
                        metrics.record(command, !frame.is_error(), now - read_at);
                    }
                    encode(frame, self.protocol, out);
                }
            }
            Err(e) => {
                let frame = shard_error(&e);
                for (command, read_at) in slots {
                    metrics.record(command, false, now - read_at);
                    encode(&frame, self.protocol, out);
                }
            }
        }
    }

    fn emit(&self, frame: &Frame, out: &mut BytesMut) {
        encode(frame, self.protocol, out);
    }

    fn touch(&self, last_name: Option<&Bytes>) {
        let elapsed = self.client.created.elapsed().as_millis() as u64;
        self.client.last_active_ms.store(elapsed, Ordering::Relaxed);
        if let Some(name) = last_name {
            let mut details = self.client.details();
            // Reuses the string's buffer: this runs once per pipelined round on every connection.
            details.last_cmd.clear();
            details.last_cmd.extend(
                String::from_utf8_lossy(name)
                    .chars()
                    .map(|c| c.to_ascii_lowercase()),
            );
        }
    }

    // ---- accessors and state changes used by server commands ----

    /// The server context.
    pub fn ctx(&self) -> &Arc<ServerContext> {
        &self.ctx
    }

    /// The node's status as the connection's tenant sees it, or the error reply to send.
    pub async fn status(&self) -> Result<crate::shard::NodeStatus, Frame> {
        self.ctx
            .router
            .primary()
            .status(self.tenant())
            .await
            .map_err(|e| shard_error(&e))
    }

    /// The logged-in user (None before AUTH when a password is required).
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The tenant whose keyspace this connection sees.
    pub fn tenant(&self) -> &str {
        self.user
            .as_ref()
            .map_or(crate::acl::DEFAULT_TENANT, |u| u.tenant.as_str())
    }

    /// Logs in as `user`.
    pub fn login(&mut self, user: User) {
        self.client.details().user = user.name.clone();
        self.user = Some(user);
    }

    /// Switches RESP2/RESP3.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        let version = if protocol == Protocol::Resp3 { 3 } else { 2 };
        self.client.resp.store(version, Ordering::Relaxed);
    }

    /// The selected database.
    pub fn db(&self) -> u8 {
        self.db
    }

    /// `SELECT`.
    pub fn select(&mut self, db: u8) {
        self.db = db;
        self.client.db.store(db, Ordering::Relaxed);
    }

    /// Whether a MULTI is open.
    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// `MULTI`.
    pub fn begin_multi(&mut self) {
        self.multi = Some(Multi::default());
        self.client.details().multi = Some(0);
    }

    /// Ends the MULTI: its queued commands, or `None` if an error doomed it (EXECABORT).
    /// Clears the WATCHed keys and returns them too.
    pub fn end_multi(&mut self) -> Option<(Option<Vec<DbCommand>>, Vec<Watched>)> {
        let multi = self.multi.take()?;
        self.client.details().multi = None;
        let watched = std::mem::take(&mut self.watched);
        Some(((!multi.failed).then_some(multi.ops), watched))
    }

    /// Adds WATCHed keys with the versions read for them.
    pub fn watch(&mut self, keys: Vec<Watched>) {
        self.watched.extend(keys);
    }

    /// `UNWATCH`.
    pub fn unwatch(&mut self) {
        self.watched.clear();
    }

    /// `READONLY` / `READWRITE`.
    pub fn set_stale_reads(&mut self, allowed: bool) {
        self.stale_reads = allowed;
    }

    /// `RESET`: back to a fresh connection's state.
    pub fn reset(&mut self) {
        self.stale_reads = false;
        self.multi = None;
        self.watched.clear();
        self.select(0);
        self.set_protocol(Protocol::Resp2);
        let user = {
            let table = self.ctx.router.primary().users().read();
            let table = table.unwrap_or_else(|p| p.into_inner());
            self.ctx.directory.initial_user(&table)
        };
        let mut details = self.client.details();
        details.name.clear();
        details.multi = None;
        details.user = user.as_ref().map_or(String::new(), |u| u.name.clone());
        drop(details);
        self.user = user;
    }
}

/// What to do with a request.
enum Step {
    /// A data command that joins the pipelined batch (`true`: it writes).
    Batch(DbCommand, bool),
    /// Answer with this frame without touching the shard.
    Reply(Frame),
    /// A server command: run it now.
    Server,
}

/// Case-insensitive membership of a command name in a list of lowercase names.
pub fn is_one_of(name: &[u8], list: &[&str]) -> bool {
    list.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// Redis 7's `NOPERM` text for a command (`name` like `set` or `acl|setuser`).
pub fn no_permission(user: &str, name: &str) -> Frame {
    Frame::error(format!(
        "NOPERM User {user} has no permissions to run the '{name}' command"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kept_batch_room_is_small() {
        let command = std::mem::size_of::<crate::shard::DbCommand>();
        assert!(
            command * super::BATCH_CAPACITY_KEPT <= 16 * 1024,
            "{command} bytes per command"
        );
    }
}
