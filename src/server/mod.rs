//! # The RESP front end
//!
//! Accepts client connections, reads pipelined requests with the `resp` codec, runs each through
//! the connection's [`session::Session`] (authentication, tenant, selected db, MULTI state) and
//! writes the replies back in order. Data commands go to the shard through the router; commands
//! about the connection or the server (PING, HELLO, CLIENT, INFO, CONFIG, ACL, ...) are answered
//! here.
//!
//! Limits: at most `max_clients` connections (more get Redis's "max number of clients reached"),
//! request sizes as configured in the codec's limits, and a bounded read buffer per connection.

mod clients;
mod connection;
mod errors;
mod info;
mod server_commands;
mod session;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn, Instrument};

use crate::acl::Directory;
use crate::config::Config;
use crate::router::Router;

pub use clients::ClientRegistry;
pub use session::Flow;

/// Counters reported by INFO stats.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted since start.
    pub connections_received: AtomicU64,
    /// Connections refused because of `max_clients`.
    pub rejected_connections: AtomicU64,
    /// Commands processed since start.
    pub commands_processed: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Last successful snapshot (Unix seconds), for LASTSAVE and INFO persistence.
    pub last_save_unix: AtomicU64,
    /// Snapshots requested by SAVE/BGSAVE that failed.
    pub save_failures: AtomicU64,
}

/// What every connection shares: configuration, the router, users, clients, counters.
#[derive(Debug)]
pub struct ServerContext {
    /// The node's configuration (read-only; `CONFIG SET` changes only `max_clients`).
    pub config: Config,
    /// Where data commands go.
    pub router: Router,
    /// Config-file users.
    pub directory: Directory,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Counters.
    pub stats: Stats,
    /// Current client limit (CONFIG SET maxclients changes it).
    pub max_clients: AtomicUsize,
    /// When the server started, for uptime.
    pub started: Instant,
    /// A random run id, as Redis reports one.
    pub run_id: String,
    /// The RESP and admin addresses peers advertised when they connected (empty until the
    /// node's transport is started; the admin API's `/api/nodes` reads it).
    pub peer_directory: crate::transport::PeerDirectory,
    /// The node's Prometheus metrics: sessions count commands into it, `/metrics` encodes it.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl ServerContext {
    /// Builds the shared context.
    pub fn new(
        config: Config,
        router: Router,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> ServerContext {
        let directory = Directory::new(&config.users);
        let max_clients = AtomicUsize::new(config.max_clients);
        ServerContext {
            config,
            router,
            directory,
            clients: ClientRegistry::default(),
            stats: Stats::default(),
            max_clients,
            started: Instant::now(),
            run_id: run_id(),
            peer_directory: crate::transport::PeerDirectory::default(),
            metrics,
        }
    }
}

/// Accepts connections until `shutdown` flips to true, then stops accepting and asks every
/// connection to close.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "accepting RESP clients");
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (mut socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE: back off briefly instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        ctx.stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        if ctx.clients.len() >= ctx.max_clients.load(Ordering::Relaxed) {
            ctx.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            let _ = socket
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            continue;
        }
        let _ = socket.set_nodelay(true);
        let ctx = Arc::clone(&ctx);
        let shutdown = shutdown.clone();
        tokio::spawn(
            async move {
                connection::run(socket, peer, ctx, shutdown).await;
            }
            .in_current_span(),
        );
    }
    ctx.clients.kill_all();
}

impl ServerContext {
    /// Peer addresses of the current voters (outgoing ones too, during a joint
    /// configuration) and learners: the initial cluster's plus those added by membership
    /// changes (for `CLUSTER NODES` and `/api/cluster`).
    pub fn member_addresses(
        &self,
        status: &crate::shard::NodeStatus,
    ) -> std::collections::BTreeMap<u64, String> {
        let mut members: std::collections::BTreeMap<u64, String> = self
            .config
            .parse_initial_cluster()
            .unwrap_or_default()
            .into_iter()
            .collect();
        members.extend(status.added_members.iter().cloned());
        let r = &status.raft;
        members.retain(|id, _| {
            r.voters.contains(id) || r.voters_outgoing.contains(id) || r.learners.contains(id)
        });
        members
    }
}

/// A session that is not a TCP connection: the admin API runs a user's commands through it
/// (`/api/command`, `/api/keys`), so they take exactly the path a RESP client's commands take:
/// authentication already decided, then the session's parsing, role checks, batching, MULTI
/// state and server commands. Its replies come out encoded as they would go to a client
/// speaking RESP3, which keeps every reply type.
///
/// It is listed by `CLIENT LIST` (lib-name `tinkerdb-admin-http`) while it exists, and
/// unregistered when dropped.
pub struct DetachedSession {
    session: session::Session,
}

impl DetachedSession {
    /// A session for a client at `peer`, logged in as `user`.
    pub fn new(
        ctx: Arc<ServerContext>,
        user: crate::acl::User,
        peer: std::net::SocketAddr,
    ) -> DetachedSession {
        let laddr = ctx.config.admin_listen;
        let mut session = session::Session::new(ctx, peer, laddr);
        session.login(user);
        session.set_protocol(tinkerdb_resp::Protocol::Resp3);
        session.client().details().lib_name = "tinkerdb-admin-http".to_string();
        DetachedSession { session }
    }

    /// Runs `requests` in order (as one pipelined round) and appends their RESP3-encoded
    /// replies to `out`; [`Flow::Close`] after `QUIT`.
    pub async fn run(
        &mut self,
        requests: &mut Vec<Vec<bytes::Bytes>>,
        out: &mut bytes::BytesMut,
    ) -> Flow {
        self.session.run(requests, out).await
    }
}

impl Drop for DetachedSession {
    fn drop(&mut self) {
        self.session.close();
    }
}

fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}
