//! `GET /api/node`: what this process is: version, pid, uptime, addresses, the bytes its data
//! takes on disk, and its configuration without secrets.
//!
//! The configuration is listed field by field on purpose (not serialized wholesale), so a
//! secret added to `Config` later cannot leak here by accident. Users appear only as name,
//! tenant and role, and only to admins; passwords and their digests never appear.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use crate::acl::Access;
use crate::config::{Config, FsyncPolicy, LogFormat};
use crate::server::ServerContext;

/// Most directory entries visited when adding up the data's size (a data folder holds a few
/// WAL segments and snapshots; this only bounds the walk if someone filled it with files).
pub const MAX_DISK_WALK_ENTRIES: usize = 100_000;

/// `GET /api/node`.
pub async fn node(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let data_dir = ctx.config.data_dir.clone();
    let disk = tokio::task::spawn_blocking(move || disk_usage(&data_dir))
        .await
        .unwrap_or_else(|e| json!({"error": e.to_string()}));
    let config = &ctx.config;
    let show_users = caller.user.role.allows(Access::Admin);
    Json(json!({
        "node_id": config.node_id,
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_seconds": ctx.started.elapsed().as_secs(),
        "addresses": {
            "resp": config.listen.to_string(),
            "peer": config.peer_listen.to_string(),
            "admin": config.admin_listen.to_string(),
        },
        "data_dir": config.data_dir.display().to_string(),
        "disk": disk,
        "config": config_json(config, show_users),
    }))
    .into_response()
}

/// Every setting of `Config` that is not a secret; the file's users (name, tenant, role) only
/// when `show_users`.
fn config_json(c: &Config, show_users: bool) -> Value {
    let users: Value = if show_users {
        c.users
            .iter()
            .map(|u| json!({"name": u.name, "tenant": u.tenant, "role": u.role.as_str()}))
            .collect()
    } else {
        Value::String("hidden: only admins see the users".into())
    };
    json!({
        "node_id": c.node_id,
        "data_dir": c.data_dir.display().to_string(),
        "listen": c.listen.to_string(),
        "peer_listen": c.peer_listen.to_string(),
        "admin_listen": c.admin_listen.to_string(),
        "initial_cluster": c.initial_cluster,
        "join": c.join,
        "fsync": match c.fsync { FsyncPolicy::Always => "always", FsyncPolicy::Batch => "batch" },
        "fsync_interval_ms": c.fsync_interval_ms,
        "io_threads": c.io_threads,
        "runtime_threads": c.runtime_threads(),
        "read_mode": c.read_mode.as_str(),
        "snapshot_entries": c.snapshot_entries,
        "snapshot_log_bytes": c.snapshot_log_bytes,
        "wal_segment_bytes": c.wal_segment_bytes,
        "max_clients": c.max_clients,
        "max_bulk_len": c.max_bulk_len,
        "max_multibulk_len": c.max_multibulk_len,
        "max_inline_len": c.max_inline_len,
        "max_pending_requests": c.max_pending_requests,
        "tick_ms": c.tick_ms,
        "election_ticks": c.election_ticks,
        "heartbeat_ticks": c.heartbeat_ticks,
        "expire_batch": c.expire_batch,
        "expire_interval_ms": c.expire_interval_ms,
        "log_level": c.log_level,
        "log_format": match c.log_format { LogFormat::Text => "text", LogFormat::Json => "json" },
        "users": users,
    })
}

/// Bytes of the WAL (`wal/`) and of the snapshots (`snap/`) under `data_dir`.
fn disk_usage(data_dir: &Path) -> Value {
    let mut budget = MAX_DISK_WALK_ENTRIES;
    let wal = dir_bytes(&data_dir.join("wal"), &mut budget);
    let snapshots = dir_bytes(&data_dir.join("snap"), &mut budget);
    json!({
        "wal_bytes": wal,
        "snapshot_bytes": snapshots,
        "total_bytes": wal + snapshots,
        "complete": budget > 0,
    })
}

/// Sum of the sizes of the files under `dir` (0 if it does not exist), visiting at most
/// `budget` entries in all.
fn dir_bytes(dir: &Path, budget: &mut usize) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += dir_bytes(&entry.path(), budget);
        } else {
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_adds_up_wal_and_snapshots() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("wal")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("snap/1")).expect("mkdir");
        std::fs::write(dir.path().join("wal/1.log"), [0u8; 100]).expect("write");
        std::fs::write(dir.path().join("snap/1/a.snap"), [0u8; 30]).expect("write");
        std::fs::write(dir.path().join("other"), [0u8; 7]).expect("write");
        let usage = disk_usage(dir.path());
        assert_eq!(usage["wal_bytes"], 100);
        assert_eq!(usage["snapshot_bytes"], 30);
        assert_eq!(usage["total_bytes"], 130);
    }

    use crate::acl::Role;

    #[test]
    fn the_config_shows_no_secret() {
        let config = Config {
            users: vec![crate::config::UserConfig {
                name: "alice".into(),
                password: Some("hunter2".into()),
                password_sha256: Some("ab".repeat(32)),
                tenant: "acme".into(),
                role: Role::Readonly,
            }],
            ..Config::default()
        };
        let text = config_json(&config, true).to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("abab"),
            "{text}"
        );
        assert!(
            text.contains("\"alice\"") && text.contains("readonly"),
            "{text}"
        );
        let hidden = config_json(&config, false).to_string();
        assert!(!hidden.contains("alice"), "{hidden}");
    }
}
