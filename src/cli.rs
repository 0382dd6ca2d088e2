//! The `tinkerdb` command line: subcommands and how flags and `TINKERDB_*` variables override the
//! config file. `server` runs a node, `demo` a local cluster, `cluster` administers one, and
//! `health` is the probe container healthchecks run (a `FROM scratch` image has no curl).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigError, FsyncPolicy, LogFormat, ReadMode};

/// TinkerDB: a Raft-replicated key-value database that speaks the Redis protocol.
#[derive(Debug, Parser)]
#[command(name = "tinkerdb", version, about)]
pub struct Cli {
    /// What to do; with none, run a single-node server with default settings.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one node (with no flags: a single-node cluster, data in ./tinkerdb-data).
    Server(Box<ServerArgs>),
    /// Start a local multi-node cluster (separate processes) for learning and testing.
    Demo(DemoArgs),
    /// Inspect and administer a running cluster through a node's admin API.
    Cluster(ClusterArgs),
    /// Probe a node's admin API (`/health`, or `/ready` with --ready); exit 0 when it answers 200.
    Health(HealthArgs),
}

/// Flags of `tinkerdb health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Admin address (host:port) of the node to probe.
    #[arg(long, default_value = "127.0.0.1:7381", env = "TINKERDB_ADMIN")]
    pub admin: String,
    /// Probe `/ready` (knows a leader, caught up) instead of `/health` (alive).
    #[arg(long)]
    pub ready: bool,
}

/// Flags of `tinkerdb demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// RESP port of node 1; node i uses base + 10*(i-1) (+1 peer, +2 admin).
    #[arg(long, default_value_t = 7379)]
    pub base_port: u16,
    /// Folder holding each node's data folder.
    #[arg(long, default_value = "./tinkerdb-demo")]
    pub data_dir: PathBuf,
}

/// Flags of `tinkerdb cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Admin address (host:port) of any node.
    #[arg(long, default_value = "127.0.0.1:7381", env = "TINKERDB_ADMIN")]
    pub admin: String,
    /// Print the raw JSON instead of a table (before or after the action:
    /// `tinkerdb cluster status --json` works too).
    #[arg(long, global = true)]
    pub json: bool,
    /// User to log in to the admin API as (HTTP Basic), when the node has users configured.
    #[arg(long, env = "TINKERDB_ADMIN_USER")]
    pub user: Option<String>,
    /// That user's password (prefer the environment variable: flags show up in `ps`).
    #[arg(long, env = "TINKERDB_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub action: ClusterAction,
}

/// `tinkerdb cluster` actions.
#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Show roles, term, leader, indexes and replication progress.
    Status,
    /// Move leadership to another voter.
    TransferLeader {
        /// The node that should lead.
        #[arg(long)]
        to: u64,
    },
    /// Add a node as a learner (run against the leader's admin address).
    AddNode {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// The new node's peer address.
        #[arg(long)]
        peer_addr: String,
    },
    /// Make a learner a voter (run against the leader's admin address).
    Promote {
        /// The learner's id.
        #[arg(long)]
        id: u64,
    },
    /// Remove a node; it stops once it learns (run against the leader's admin address).
    RemoveNode {
        /// The node's id.
        #[arg(long)]
        id: u64,
    },
    /// Swap a voter for a caught-up learner in one joint-consensus change: the learner becomes
    /// a voter and the voter leaves, with the voter count unchanged throughout (run against
    /// the leader's admin address). The removed node stops once it learns.
    ReplaceNode {
        /// The voter that leaves the cluster.
        #[arg(long)]
        remove: u64,
        /// The learner (added with add-node and caught up) that takes its place.
        #[arg(long)]
        add: u64,
    },
}

/// Flags of `tinkerdb server`. Each one overrides the config file's key of the same name.
#[derive(Debug, Default, Args)]
pub struct ServerArgs {
    /// TOML config file.
    #[arg(long, env = "TINKERDB_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (positive, unique in the cluster).
    #[arg(long, env = "TINKERDB_NODE_ID")]
    pub node_id: Option<u64>,
    /// Take the node id from this host's name, `<name>-<ordinal>`, as ordinal + 1
    /// (`tinkerdb-0` is node 1): the pod names of a Kubernetes StatefulSet.
    #[arg(
        long,
        env = "TINKERDB_NODE_ID_FROM_HOSTNAME",
        conflicts_with = "node_id"
    )]
    pub node_id_from_hostname: bool,
    /// Data folder (WAL, snapshots).
    #[arg(long, env = "TINKERDB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// RESP client address.
    #[arg(long, env = "TINKERDB_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Peer (Raft) address.
    #[arg(long, env = "TINKERDB_PEER_LISTEN")]
    pub peer_listen: Option<SocketAddr>,
    /// HTTP admin address.
    #[arg(long, env = "TINKERDB_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// A host name the admin API answers unauthenticated requests for (repeat, or commas in
    /// the variable), besides IP addresses and `localhost`: the DNS-rebinding guard.
    #[arg(
        long = "admin-allowed-host",
        env = "TINKERDB_ADMIN_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub admin_allowed_hosts: Option<Vec<String>>,
    /// Initial voters: `1=host:7380,2=host:7380,...`.
    #[arg(long, env = "TINKERDB_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,
    /// Join an existing cluster through this member's peer address.
    #[arg(long, env = "TINKERDB_JOIN")]
    pub join: Option<String>,
    /// When the WAL fsyncs: `always` (before every acknowledgement) or `batch`.
    #[arg(long, env = "TINKERDB_FSYNC")]
    pub fsync: Option<FsyncPolicy>,
    /// With `--fsync batch`: the longest un-fsynced interval in milliseconds.
    #[arg(long, env = "TINKERDB_FSYNC_INTERVAL_MS")]
    pub fsync_interval_ms: Option<u64>,
    /// Log entries between snapshots.
    #[arg(long, env = "TINKERDB_SNAPSHOT_ENTRIES")]
    pub snapshot_entries: Option<u64>,
    /// Most client connections.
    #[arg(long, env = "TINKERDB_MAX_CLIENTS")]
    pub max_clients: Option<usize>,
    /// Runtime threads (0: one per CPU core but one, at least one).
    #[arg(long, env = "TINKERDB_IO_THREADS")]
    pub io_threads: Option<usize>,
    /// How linearizable reads are confirmed: `read-index` (a quorum round per batch of reads)
    /// or `lease` (the leader reads without a round while a recent round's lease holds).
    #[arg(long, env = "TINKERDB_READ_MODE")]
    pub read_mode: Option<ReadMode>,
    /// Log filter, e.g. `info`, `debug`, `tinkerdb=trace`.
    #[arg(long, env = "TINKERDB_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log format.
    #[arg(long, env = "TINKERDB_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

impl ServerArgs {
    /// The effective configuration: defaults, then the config file, then these flags; validated.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { config.$field = v; } )* };
        }
        set!(
            node_id,
            data_dir,
            listen,
            peer_listen,
            admin_listen,
            admin_allowed_hosts,
            initial_cluster,
            fsync,
            fsync_interval_ms,
            snapshot_entries,
            max_clients,
            io_threads,
            read_mode,
            log_level,
            log_format
        );
        if self.join.is_some() {
            config.join = self.join;
        }
        if self.node_id_from_hostname {
            config.node_id = crate::config::node_id_from_hostname(&hostname()?)?;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Where Linux publishes this host's (this container's, this pod's) name. Read from the file,
/// not through libc or `$HOSTNAME`, so it works the same in a `FROM scratch` image with no shell.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

fn hostname() -> Result<String, ConfigError> {
    std::fs::read_to_string(HOSTNAME_FILE)
        .map(|name| name.trim().to_string())
        .map_err(|e| ConfigError::Invalid {
            field: "node_id",
            reason: format!("--node-id-from-hostname: cannot read {HOSTNAME_FILE}: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn server_config(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(["tinkerdb", "server"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            Some(Command::Server(server)) => server.into_config(),
            other => panic!("not a server command: {other:?}"),
        }
    }

    #[test]
    fn admin_allowed_hosts_repeat_or_take_commas() {
        let config = server_config(&[
            "--admin-allowed-host",
            "db1.internal",
            "--admin-allowed-host",
            "db2.internal,db3.internal",
        ])
        .expect("valid");
        assert_eq!(
            config.admin_allowed_hosts,
            ["db1.internal", "db2.internal", "db3.internal"]
        );
        assert!(server_config(&[])
            .expect("defaults")
            .admin_allowed_hosts
            .is_empty());
        let err = server_config(&["--admin-allowed-host", "db1:7381"]).expect_err("a port");
        assert!(err.to_string().contains("admin_allowed_hosts"), "{err}");
    }
}
