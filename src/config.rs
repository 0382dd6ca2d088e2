//! Node configuration: one struct, filled from defaults, then a TOML file, then environment
//! variables and flags (the last wins), and validated before anything starts.
//!
//! Every limit on input from outside the process lives here as a named, documented field, so an
//! operator can find and change it in one place.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::acl::Role;

/// Why a configuration was refused. Each message names the setting, so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file named by `--config`.
        path: PathBuf,
        /// The TOML parser's explanation, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent with another one.
    #[error("invalid setting `{field}`: {reason}")]
    Invalid {
        /// The setting's name as written in the TOML file.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Most names `admin_allowed_hosts` may list.
pub const MAX_ADMIN_ALLOWED_HOSTS: usize = 64;
/// Longest name `admin_allowed_hosts` may list (DNS's limit).
pub const MAX_ADMIN_HOST_NAME_LEN: usize = 253;

/// Most runtime threads `io_threads` may ask for.
pub const MAX_IO_THREADS: usize = 1024;

/// When the WAL makes an appended write durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncPolicy {
    /// fdatasync before any write is acknowledged (group commit shares one fsync among many
    /// writes). An acknowledged write survives power loss.
    Always,
    /// fdatasync at most every `fsync_interval_ms`; writes are acknowledged once written to the
    /// OS, so a power loss (not a process crash) may lose the last interval of writes.
    Batch,
}

/// How a leader makes sure a linearizable read sees every acknowledged write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// Every read waits for a ReadIndex round: a heartbeat answered by a quorum, after the
    /// read arrived (reads that arrive together share one). Relies on no clock.
    ReadIndex,
    /// A confirmed ReadIndex round grants the leader a lease of 80% of the shortest election
    /// timeout, renewed every tick, during which its reads take no round. Relies on every
    /// node's monotonic clock running at about the same rate (within 20%); a read is checked
    /// against the lease again after it ran, so a stalled process falls back to a round.
    Lease,
}

impl ReadMode {
    /// The name the flag, the environment and TOML use (also shown by the admin API).
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMode::ReadIndex => "read-index",
            ReadMode::Lease => "lease",
        }
    }
}

/// A user defined in the config file. Users created with `ACL SETUSER` live in the replicated
/// state instead and take precedence over these.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name given to `AUTH`.
    pub name: String,
    /// Plain-text password; hashed (SHA-256) before it is kept in memory.
    pub password: Option<String>,
    /// Hex SHA-256 of the password, for configs that must not hold the password itself.
    pub password_sha256: Option<String>,
    /// The tenant (isolated keyspace) the user works in.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// What the user may do.
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_tenant() -> String {
    crate::acl::DEFAULT_TENANT.to_string()
}

fn default_role() -> Role {
    Role::Admin
}

/// Everything a node needs to run. Field names are the TOML keys; `TINKERDB_<FIELD>` environment
/// variables and `--field-name` flags override them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// This node's id in the cluster (non-zero, unique).
    pub node_id: u64,
    /// Where the WAL, snapshots and node identity live.
    pub data_dir: PathBuf,
    /// RESP client address.
    pub listen: SocketAddr,
    /// Peer (Raft) address.
    pub peer_listen: SocketAddr,
    /// HTTP admin address.
    pub admin_listen: SocketAddr,
    /// Host names the admin API answers unauthenticated requests for, besides IP addresses
    /// and `localhost` (see `admin::host_guard`: the DNS-rebinding guard).
    pub admin_allowed_hosts: Vec<String>,
    /// Initial voters as `id=host:port,...` (peer addresses); empty means a single-node cluster.
    pub initial_cluster: String,
    /// Set when this node joins an existing cluster instead of founding it: it starts with no
    /// voters and waits for the leader (after `tinkerdb cluster add-node`). The value is an
    /// existing member's peer address; `initial_cluster` must be the cluster's original one
    /// (it identifies the cluster).
    pub join: Option<String>,
    /// When the WAL fsyncs.
    pub fsync: FsyncPolicy,
    /// With `fsync = "batch"`: the longest time an acknowledged write may stay un-fsynced.
    pub fsync_interval_ms: u64,
    /// Take a snapshot after this many log entries since the previous one.
    pub snapshot_entries: u64,
    /// Take a snapshot once the log since the previous one holds this many bytes.
    pub snapshot_log_bytes: u64,
    /// WAL segment size before rotating to a new file.
    pub wal_segment_bytes: u64,
    /// Most client connections served at once; more are refused with Redis's error.
    pub max_clients: usize,
    /// Largest bulk string a client may send (Redis `proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Most arguments in one request.
    pub max_multibulk_len: usize,
    /// Largest inline (non-RESP) request line.
    pub max_inline_len: usize,
    /// Most requests queued for the Raft loop before clients wait (backpressure).
    pub max_pending_requests: usize,
    /// Threads of the node's async runtime (connections, peer transport, the Raft loop);
    /// 0 means [`Config::runtime_threads`]'s default, one per CPU core but one. Nodes that
    /// share a host can each take their share of its cores: fewer threads than runnable tasks
    /// means fewer cross-thread wake-ups.
    pub io_threads: usize,
    /// How linearizable reads are confirmed (ReadIndex round per read batch, or leader lease).
    pub read_mode: ReadMode,
    /// Raft logical clock period.
    pub tick_ms: u64,
    /// Ticks without a leader before a follower campaigns.
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Keys the leader examines per active-expiry round (each round proposes their deletion).
    pub expire_batch: usize,
    /// Period of active expiry rounds.
    pub expire_interval_ms: u64,
    /// `tracing` filter, e.g. `info` or `tinkerdb=debug`.
    pub log_level: String,
    /// `text` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// Users defined in the file.
    pub users: Vec<UserConfig>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            data_dir: PathBuf::from("./tinkerdb-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7379)),
            peer_listen: SocketAddr::from(([127, 0, 0, 1], 7380)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 7381)),
            admin_allowed_hosts: Vec::new(),
            initial_cluster: String::new(),
            join: None,
            fsync: FsyncPolicy::Always,
            fsync_interval_ms: 10,
            snapshot_entries: 200_000,
            snapshot_log_bytes: 256 << 20,
            wal_segment_bytes: 64 << 20,
            max_clients: 10_000,
            max_bulk_len: 512 << 20,
            max_multibulk_len: 1 << 20,
            max_inline_len: 64 << 10,
            max_pending_requests: 4096,
            io_threads: 0,
            read_mode: ReadMode::ReadIndex,
            tick_ms: 100,
            election_ticks: 5,
            heartbeat_ticks: 1,
            expire_batch: 200,
            expire_interval_ms: 100,
            log_level: "info".to_string(),
            log_format: LogFormat::Text,
            users: Vec::new(),
        }
    }
}

/// The CPU cores this process may use (1 if the host will not say): the base of every
/// default thread count.
pub fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Config {
    /// How many runtime threads the node starts: `io_threads`, or by default one per CPU
    /// core but one (at least one). The core left over serves what runs beside the runtime:
    /// the WAL's fsync thread, the snapshot writer and the kernel's network stack. With two
    /// cores, one runtime thread served as many requests as two on one node, and 15-40% more
    /// GETs on a three-node cluster, since its tasks no longer wake each other
    /// across threads (docs/OPERATIONS.md, "Sizing a node").
    pub fn runtime_threads(&self) -> usize {
        if self.io_threads > 0 {
            return self.io_threads;
        }
        host_cores().saturating_sub(1).max(1)
    }

    /// Reads a TOML config file; keys not set in it keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks ranges and cross-field rules, so a bad value fails at start with its name rather
    /// than later as a strange runtime error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.admin_allowed_hosts.len() > MAX_ADMIN_ALLOWED_HOSTS
            || self.admin_allowed_hosts.iter().any(|h| {
                h.is_empty() || h.len() > MAX_ADMIN_HOST_NAME_LEN || h.contains([':', '/', ' '])
            })
        {
            return invalid(
                "admin_allowed_hosts",
                &format!(
                    "at most {MAX_ADMIN_ALLOWED_HOSTS} host names, each 1-{MAX_ADMIN_HOST_NAME_LEN} \
                     characters without a port, ':', '/' or spaces"
                ),
            );
        }
        if self.node_id == 0 {
            return invalid("node_id", "must be at least 1");
        }
        if self.listen == self.peer_listen
            || self.listen == self.admin_listen
            || self.peer_listen == self.admin_listen
        {
            return invalid("listen", "listen, peer_listen and admin_listen must differ");
        }
        if self.fsync_interval_ms == 0 || self.fsync_interval_ms > 10_000 {
            return invalid("fsync_interval_ms", "must be between 1 and 10000");
        }
        if self.io_threads > MAX_IO_THREADS {
            return invalid("io_threads", "must be between 0 (one per core) and 1024");
        }
        if self.snapshot_entries < 100 {
            return invalid("snapshot_entries", "must be at least 100");
        }
        if self.wal_segment_bytes < 1 << 20 {
            return invalid("wal_segment_bytes", "must be at least 1 MiB");
        }
        if self.max_clients == 0 || self.max_pending_requests == 0 {
            return invalid(
                "max_clients",
                "max_clients and max_pending_requests must be positive",
            );
        }
        if self.max_bulk_len < 1024 || self.max_inline_len < 1024 || self.max_multibulk_len < 16 {
            return invalid("max_bulk_len", "protocol limits are too small to be usable");
        }
        if self.tick_ms == 0
            || self.heartbeat_ticks == 0
            || self.election_ticks <= self.heartbeat_ticks
        {
            return invalid(
                "election_ticks",
                "need tick_ms > 0 and election_ticks > heartbeat_ticks > 0",
            );
        }
        if self.expire_batch == 0 || self.expire_interval_ms == 0 {
            return invalid(
                "expire_batch",
                "expire_batch and expire_interval_ms must be positive",
            );
        }
        let members = self.parse_initial_cluster()?;
        if let Some(join) = &self.join {
            if !members.iter().any(|(_, addr)| addr == join) {
                return invalid(
                    "join",
                    "must be the peer address of a member listed in initial_cluster",
                );
            }
            if members.len() < 2 {
                return invalid(
                    "join",
                    "needs the existing cluster's initial_cluster as well",
                );
            }
        }
        for user in &self.users {
            crate::acl::User::from_config(user).map_err(|reason| ConfigError::Invalid {
                field: "users",
                reason,
            })?;
        }
        Ok(())
    }

    /// The initial voters with their peer addresses; a single-node cluster of this node when
    /// `initial_cluster` is empty.
    pub fn parse_initial_cluster(&self) -> Result<Vec<(u64, String)>, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            field: "initial_cluster",
            reason,
        };
        if self.initial_cluster.trim().is_empty() {
            return Ok(vec![(self.node_id, self.peer_listen.to_string())]);
        }
        let mut members = Vec::new();
        for part in self.initial_cluster.split(',') {
            let (id, addr) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| invalid(format!("`{part}` is not of the form id=host:port")))?;
            let id: u64 =
                id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                    invalid(format!("`{id}` is not a node id (a positive integer)"))
                })?;
            if members.iter().any(|(other, _)| *other == id) {
                return Err(invalid(format!("node id {id} appears twice")));
            }
            members.push((id, addr.to_string()));
        }
        if self.join.is_none() && !members.iter().any(|(id, _)| *id == self.node_id) {
            return Err(invalid(format!(
                "does not contain this node's id {}",
                self.node_id
            )));
        }
        Ok(members)
    }
}

/// The node id of the host `hostname` names, `<name>-<ordinal>` (a StatefulSet pod's name, or
/// its FQDN): ordinal + 1, since ordinals start at 0 and node ids at 1. Anything else is refused
/// rather than guessed, so `tinkerdb3` never silently becomes node 4.
pub fn node_id_from_hostname(hostname: &str) -> Result<u64, ConfigError> {
    let invalid = || ConfigError::Invalid {
        field: "node_id",
        reason: format!(
            "host name `{hostname}` does not end in -<ordinal> (like `tinkerdb-0`), \
             which --node-id-from-hostname needs"
        ),
    };
    let short = hostname.split('.').next().unwrap_or_default();
    let (_, ordinal) = short.rsplit_once('-').ok_or_else(invalid)?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    ordinal
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default()
            .validate()
            .expect("defaults must validate");
    }

    #[test]
    fn file_keys_override_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nfsync = \"batch\"\nread_mode = \"lease\"\n",
        )
        .expect("write");
        let config = Config::from_file(&path).expect("parse");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.fsync, FsyncPolicy::Batch);
        assert_eq!(config.read_mode, ReadMode::Lease);
        assert_eq!(Config::default().read_mode, ReadMode::ReadIndex);
        std::fs::write(&path, "lisen = 1\n").expect("write");
        let err = Config::from_file(&path).expect_err("typo must be refused");
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn admin_allowed_hosts_are_names_without_ports() {
        let mut config = Config {
            admin_allowed_hosts: vec!["db1.internal".into()],
            ..Config::default()
        };
        config.validate().expect("a plain name is fine");
        for bad in ["db1:7381", "", "http://db1", "a b"] {
            config.admin_allowed_hosts = vec![bad.into()];
            let err = config.validate().expect_err(bad);
            assert!(err.to_string().contains("admin_allowed_hosts"), "{err}");
        }
    }

    #[test]
    fn io_threads_are_bounded() {
        let mut config = Config {
            io_threads: 1,
            ..Config::default()
        };
        config.validate().expect("one thread is fine");
        config.io_threads = MAX_IO_THREADS + 1;
        let err = config.validate().expect_err("too many threads");
        assert!(err.to_string().contains("io_threads"), "{err}");
    }

    #[test]
    fn runtime_threads_default_leaves_a_core() {
        let mut config = Config::default();
        assert_eq!(config.runtime_threads(), (host_cores() - 1).max(1));
        config.io_threads = 3;
        assert_eq!(config.runtime_threads(), 3);
    }

    #[test]
    fn initial_cluster_is_checked() {
        let mut config = Config {
            initial_cluster: "1=a:1,2=b:2".to_string(),
            ..Config::default()
        };
        assert_eq!(config.parse_initial_cluster().expect("ok").len(), 2);
        config.initial_cluster = "1=a:1,1=b:2".to_string();
        assert!(config.validate().is_err());
        config.initial_cluster = "2=a:1".to_string();
        assert!(config.validate().is_err());
        config.initial_cluster = "x".to_string();
        assert!(config.validate().is_err());
    }

    #[test]
    fn node_id_from_hostname_is_the_ordinal_plus_one() {
        assert_eq!(node_id_from_hostname("tinkerdb-0").expect("ordinal 0"), 1);
        assert_eq!(node_id_from_hostname("my-db-12").expect("ordinal 12"), 13);
        let fqdn = "tinkerdb-2.tinkerdb-headless.default.svc.cluster.local";
        assert_eq!(node_id_from_hostname(fqdn).expect("an FQDN"), 3);
        for bad in [
            "tinkerdb3",
            "tinkerdb-",
            "tinkerdb-x1",
            "-",
            "",
            "db-18446744073709551615",
        ] {
            let err = node_id_from_hostname(bad).expect_err(bad);
            assert!(err.to_string().contains("-<ordinal>"), "{bad}: {err}");
        }
    }
}
