//! # Admin HTTP API
//!
//! Bound on `admin_listen`:
//! - `GET /health`: the process is alive.
//! - `GET /ready`: the data shard knows a leader and has applied its committed log (200), or
//!   not (503).
//! - `GET /api/cluster`: this node's view of the cluster as JSON: role, term, leader,
//!   commit/applied indexes, voters, learners, members' peer addresses, and (on the leader)
//!   each peer's replication progress.
//! - `POST /api/cluster/transfer-leader?to=N`: ask leadership to move to node N.
//! - `POST /api/cluster/add-node?id=N&peer_addr=HOST:PORT`: add node N as a learner (leader only).
//! - `POST /api/cluster/promote?id=N`: make learner N a voter (leader only).
//! - `POST /api/cluster/remove-node?id=N`: remove node N, which then stops (leader only).
//!
//! Errors are JSON `{"error": "..."}` with a fitting status code. Metrics and the dashboard
//! arrive with the operations work.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::ServerContext;
use crate::shard::{MemberChange, NodeStatus, ShardError};

/// Serves the admin API until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/api/cluster", get(cluster))
        .route("/api/cluster/transfer-leader", post(transfer_leader))
        .route("/api/cluster/add-node", post(add_node))
        .route("/api/cluster/promote", post(promote))
        .route("/api/cluster/remove-node", post(remove_node))
        .with_state(ctx);
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "admin API stopped");
    }
}

async fn ready(State(ctx): State<Arc<ServerContext>>) -> (StatusCode, String) {
    match status(&ctx).await {
        Ok(status) if status.raft.caught_up => (
            StatusCode::OK,
            format!(
                "ready: leader {} term {}\n",
                status.raft.leader, status.raft.term
            ),
        ),
        Ok(status) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: leader {} (0: none), applied {} of {}\n",
                status.raft.leader, status.raft.applied, status.raft.commit
            ),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn cluster(State(ctx): State<Arc<ServerContext>>) -> Response {
    match status(&ctx).await {
        Ok(status) => Json(cluster_json(&ctx, &status)).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The JSON of `/api/cluster` (also what `tinkerdb cluster status --json` prints).
pub fn cluster_json(ctx: &ServerContext, status: &NodeStatus) -> Value {
    let r = &status.raft;
    let members: Vec<Value> = ctx
        .member_addresses(status)
        .into_iter()
        .map(|(id, addr)| json!({"id": id, "peer_addr": addr}))
        .collect();
    let progress: Vec<Value> = r
        .progress
        .iter()
        .map(|p| json!({"id": p.id, "matched": p.matched, "next": p.next, "state": p.state, "voter": p.voter}))
        .collect();
    json!({
        "node_id": r.node_id,
        "group": r.group,
        "role": r.role,
        "term": r.term,
        "leader": r.leader,
        "commit_index": r.commit,
        "applied_index": r.applied,
        "last_index": r.last_index,
        "first_index": r.first_index,
        "voters": r.voters,
        "learners": r.learners,
        "members": members,
        "progress": progress,
        "caught_up": r.caught_up,
        "snapshot_index": r.snapshot.as_ref().map_or(0, |s| s.index),
        "keys": status.keyspace.keys,
        "resp_addr": ctx.config.listen.to_string(),
    })
}

async fn transfer_leader(
    State(ctx): State<Arc<ServerContext>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(to) = params.get("to").and_then(|v| v.parse::<u64>().ok()) else {
        return bad_request("give the target node as ?to=<node id>");
    };
    match ctx.router.primary().transfer_leader(to).await {
        Ok(()) => Json(json!({"requested": true, "to": to})).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn add_node(
    State(ctx): State<Arc<ServerContext>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (Some(id), Some(addr)) = (node_param(&params), params.get("peer_addr")) else {
        return bad_request("give ?id=<new node id>&peer_addr=<host:port>");
    };
    change(
        &ctx,
        MemberChange::AddLearner {
            id,
            addr: addr.clone(),
        },
    )
    .await
}

async fn promote(
    State(ctx): State<Arc<ServerContext>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match node_param(&params) {
        Some(id) => change(&ctx, MemberChange::Promote { id }).await,
        None => bad_request("give ?id=<learner id>"),
    }
}

async fn remove_node(
    State(ctx): State<Arc<ServerContext>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match node_param(&params) {
        Some(id) => change(&ctx, MemberChange::Remove { id }).await,
        None => bad_request("give ?id=<node id>"),
    }
}

async fn change(ctx: &ServerContext, change: MemberChange) -> Response {
    match ctx.router.primary().change_members(change).await {
        Ok(()) => Json(json!({"proposed": true})).into_response(),
        Err(e) => error_response(&e),
    }
}

fn node_param(params: &HashMap<String, String>) -> Option<u64> {
    params
        .get("id")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|id| *id > 0)
}

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": why}))).into_response()
}

async fn status(ctx: &ServerContext) -> Result<NodeStatus, ShardError> {
    ctx.router
        .primary()
        .status(crate::acl::DEFAULT_TENANT)
        .await
}

fn error_response(e: &ShardError) -> Response {
    let code = match e {
        ShardError::NotLeader { leader } if *leader != 0 => {
            let msg = format!("node {leader} leads the cluster: send this to its admin address");
            return (
                StatusCode::MISDIRECTED_REQUEST,
                Json(json!({"error": msg, "leader": leader})),
            )
                .into_response();
        }
        ShardError::NotLeader { .. } | ShardError::Retry(_) | ShardError::Stopped => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ShardError::Fatal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, Json(json!({"error": e.to_string()}))).into_response()
}
