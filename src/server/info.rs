//! `INFO`: Redis's sections with the fields clients and dashboards read, plus a `raft` section
//! with TinkerDB's consensus state. Lines are `field:value` with CRLF, sections start with
//! `# Name`, exactly as Redis formats them.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tinkerdb_resp::Frame;

use super::server_commands::REDIS_COMPAT_VERSION;
use super::session::Session;
use crate::metrics::ReadPath;
use crate::shard::NodeStatus;

/// Sections in the default `INFO` reply, in Redis's order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "keyspace",
    "raft",
];

/// Renders the requested sections (none, `default`, `all` or `everything`: every section).
pub async fn render(session: &Session, args: &[Bytes]) -> Frame {
    let mut wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"))
    {
        wanted = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let status = match session.status().await {
        Ok(status) => status,
        Err(frame) => return frame,
    };
    let mut out = String::new();
    for section in DEFAULT_SECTIONS
        .iter()
        .filter(|s| wanted.iter().any(|w| w == *s))
    {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        write_section(&mut out, section, session, &status);
    }
    Frame::Verbatim {
        format: *b"txt",
        text: Bytes::from(out),
    }
}

fn write_section(out: &mut String, section: &str, session: &Session, status: &NodeStatus) {
    let ctx = session.ctx();
    let mut title = section.to_string();
    title[..1].make_ascii_uppercase();
    let _ = write!(out, "# {title}\r\n");
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(out, "{name}:{value}\r\n");
    };
    match section {
        "server" => {
            let uptime = ctx.started.elapsed().as_secs();
            field("redis_version", &REDIS_COMPAT_VERSION);
            field("tinkerdb_version", &env!("CARGO_PKG_VERSION"));
            field("redis_mode", &"standalone");
            field("os", &std::env::consts::OS);
            field("arch_bits", &(usize::BITS));
            field("process_id", &std::process::id());
            field("run_id", &ctx.run_id);
            field("tcp_port", &ctx.config.listen.port());
            field("uptime_in_seconds", &uptime);
            field("uptime_in_days", &(uptime / 86_400));
            field("node_id", &ctx.config.node_id);
        }
        "clients" => {
            field("connected_clients", &ctx.clients.len());
            field("maxclients", &ctx.max_clients.load(Ordering::Relaxed));
            field("blocked_clients", &0);
        }
        "memory" => {
            let (rss, peak) = process_memory();
            field("used_memory", &status.keyspace.used_bytes);
            field(
                "used_memory_human",
                &human_bytes(status.keyspace.used_bytes),
            );
            field("used_memory_rss", &rss);
            field("used_memory_rss_human", &human_bytes(rss));
            field("used_memory_peak", &peak);
            field("used_memory_peak_human", &human_bytes(peak));
            field("raft_log_memory_bytes", &status.raft.log_bytes);
            field("maxmemory", &0);
            field("maxmemory_policy", &"noeviction");
        }
        "persistence" => {
            let snap = status.raft.snapshot.as_ref();
            field("loading", &0);
            field("aof_enabled", &1);
            field(
                "appendfsync",
                &if status.fsync_always {
                    "always"
                } else {
                    "batch"
                },
            );
            field(
                "rdb_last_save_time",
                &ctx.stats.last_save_unix.load(Ordering::Relaxed),
            );
            field(
                "rdb_last_bgsave_status",
                &if ctx.stats.save_failures.load(Ordering::Relaxed) == 0 {
                    "ok"
                } else {
                    "err"
                },
            );
            field(
                "rdb_bgsave_in_progress",
                &u8::from(status.raft.snapshot_in_progress),
            );
            field("snapshot_last_index", &snap.map_or(0, |s| s.index));
            field("snapshot_last_term", &snap.map_or(0, |s| s.term));
            field("snapshot_last_bytes", &snap.map_or(0, |s| s.bytes));
            field(
                "snapshot_last_duration_ms",
                &snap.map_or(0, |s| s.duration_ms),
            );
            field("wal_appends", &status.wal.appends);
            field("wal_bytes_written", &status.wal.bytes_written);
            field("wal_fsyncs", &status.wal.fsyncs);
            field("wal_segments", &status.wal.segments);
            field("wal_log_bytes", &status.wal.disk_bytes);
            field("wal_allocated_bytes", &status.wal.allocated_bytes);
            field(
                "wal_last_fsync_us",
                &status.wal.last_fsync.map_or(0, |d| d.as_micros()),
            );
        }
        "stats" => {
            let s = &ctx.stats;
            let counters = [
                ("total_connections_received", &s.connections_received),
                ("total_commands_processed", &s.commands_processed),
                ("total_net_input_bytes", &s.net_input_bytes),
                ("total_net_output_bytes", &s.net_output_bytes),
                ("rejected_connections", &s.rejected_connections),
            ];
            for (name, counter) in counters {
                field(name, &counter.load(Ordering::Relaxed));
            }
            field("evicted_keys", &0);
        }
        "replication" => {
            let r = &status.raft;
            let leader = r.role == "leader";
            field("role", &if leader { "master" } else { "slave" });
            if !leader {
                field(
                    "master_link_status",
                    &if r.leader != 0 { "up" } else { "down" },
                );
            }
            let peers: Vec<_> = r.progress.iter().filter(|p| p.id != r.node_id).collect();
            field("connected_slaves", &peers.len());
            for (i, p) in peers.iter().enumerate() {
                field(
                    &format!("slave{i}"),
                    &format!(
                        "node_id={},state={},offset={},lag={},voter={}",
                        p.id,
                        p.state,
                        p.matched,
                        r.last_index.saturating_sub(p.matched),
                        p.voter
                    ),
                );
            }
            field("master_repl_offset", &r.applied);
            field("raft_leader_id", &r.leader);
            field("raft_term", &r.term);
            field("raft_commit_index", &r.commit);
            field("raft_applied_index", &r.applied);
        }
        "keyspace" => {
            for (db, keys, expires) in &status.tenant_dbs {
                if *keys > 0 {
                    field(
                        &format!("db{db}"),
                        &format!("keys={keys},expires={expires},avg_ttl=0"),
                    );
                }
            }
        }
        "raft" => {
            let r = &status.raft;
            field("raft_node_id", &r.node_id);
            field("raft_group", &r.group);
            field("raft_role", &r.role);
            field("raft_term", &r.term);
            field("raft_leader_id", &r.leader);
            field("raft_commit_index", &r.commit);
            field("raft_applied_index", &r.applied);
            field("raft_last_index", &r.last_index);
            field("raft_first_index", &r.first_index);
            let ids = |ids: &[u64]| {
                ids.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            field("raft_voters", &ids(&r.voters));
            // Non-empty only during a joint configuration (a replace-node in progress).
            field("raft_voters_outgoing", &ids(&r.voters_outgoing));
            // Read batches by how they were confirmed (see `read_mode`).
            for path in ReadPath::ALL {
                field(
                    &format!("raft_reads_{}", path.name()),
                    &ctx.metrics.shard.reads(path),
                );
            }
            field("raft_read_index_rounds", &ctx.metrics.shard.read_rounds());
            let (sent, installed) = ctx.metrics.shard.snapshot_transfers();
            field("raft_snapshots_sent", &sent);
            field("raft_snapshots_installed", &installed);
            // A leader's snapshot on its way into this node: none, receiving or loading.
            let receive = r.snapshot_receive.as_ref();
            field(
                "raft_snapshot_receive_stage",
                &receive.map_or("none", |p| p.stage.as_str()),
            );
            field("raft_snapshot_receive_from", &receive.map_or(0, |p| p.from));
            field(
                "raft_snapshot_receive_index",
                &receive.map_or(0, |p| p.index),
            );
            field(
                "raft_snapshot_receive_bytes",
                &receive.map_or(0, |p| p.bytes),
            );
            field(
                "raft_snapshot_receive_total",
                &receive.map_or(0, |p| p.total),
            );
        }
        _ => {}
    }
}

/// `(current RSS, peak RSS)` in bytes, from /proc (0 where unavailable).
pub fn process_memory() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let read = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (read("VmRSS:"), read("VmHWM:"))
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}
