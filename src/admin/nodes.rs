//! `GET /api/nodes`: this node's view of every member, for the dashboard's cluster page.
//!
//! Members are the current voters and learners (from this node's Raft configuration). For each
//! one the answer gives its admin and RESP addresses, and its own live `/api/cluster` answer,
//! which this node fetches with a short timeout ([`NODE_FETCH_TIMEOUT`]), all members at once;
//! a member that does not answer in time is `"reachable": false`. This node's entry is built
//! locally. The caller's credentials are forwarded, so a peer shows only what the caller may
//! see there, but only to an admin address on the host the operator configured for that member
//! (its peer address from `--initial-cluster` or `add-node`): the handshake that advertised the
//! address is not authenticated, so a stranger claiming a member's id must not be sent them.
//!
//! How the addresses are known: each node advertises its RESP and admin addresses in the peer
//! handshake (`crate::transport`), and the receiving node keeps them in its `PeerDirectory`.
//! A member that has never connected to this node since it started (down since then, or
//! partitioned) has no known admin address; its entry says so.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Caller;
use super::{cluster_json, error_response, status};
use crate::admin_client::{self, Request};
use crate::server::ServerContext;

/// How long a member may take to answer its `/api/cluster`.
pub const NODE_FETCH_TIMEOUT: Duration = Duration::from_millis(800);

/// Most members asked (a Raft group has a handful; this bounds the fan-out).
pub const MAX_NODES_ASKED: usize = 32;

/// `GET /api/nodes`.
pub async fn nodes(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let status = match status(&ctx).await {
        Ok(status) => status,
        Err(e) => return error_response(&e),
    };
    let me = ctx.config.node_id;
    let authorization = caller
        .authorization
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let members = ctx.member_addresses(&status);
    let mut asks = Vec::new();
    for (&id, peer_addr) in members.iter().take(MAX_NODES_ASKED) {
        if id == me {
            continue;
        }
        let known = ctx.peer_directory.get(id);
        let peer_addr = peer_addr.clone();
        let authorization = authorization.clone();
        asks.push(tokio::spawn(async move {
            let Some(info) = known else {
                return json!({
                    "id": id,
                    "peer_addr": peer_addr,
                    "admin_addr": null,
                    "resp_addr": null,
                    "reachable": false,
                    "error": "admin address unknown: this node has not heard from it since it started",
                });
            };
            let admin = info.admin.to_string();
            let mut entry = json!({
                "id": id,
                "peer_addr": peer_addr,
                "admin_addr": admin,
                "resp_addr": info.resp.to_string(),
                "addresses_learned_seconds_ago": info.learned.elapsed().as_secs(),
            });
            let trusted = match &authorization {
                Some(_) => on_configured_host(&peer_addr, info.admin).await,
                None => true,
            };
            if !trusted {
                entry["credentials_withheld"] = json!(
                    "its advertised admin address is not on the host configured for this member"
                );
            }
            let authorization = authorization.filter(|_| trusted);
            let (reachable, fields) = ask(&admin, authorization).await;
            entry["reachable"] = json!(reachable);
            if let (Some(entry), Value::Object(fields)) = (entry.as_object_mut(), fields) {
                entry.extend(fields);
            }
            entry
        }));
    }
    let mut nodes = vec![json!({
        "id": me,
        "self": true,
        "peer_addr": ctx.config.peer_listen.to_string(),
        "admin_addr": ctx.config.admin_listen.to_string(),
        "resp_addr": ctx.config.listen.to_string(),
        "reachable": true,
        "cluster": cluster_json(&ctx, &status),
    })];
    for ask in asks {
        if let Ok(entry) = ask.await {
            nodes.push(entry);
        }
    }
    nodes.sort_by_key(|n| n["id"].as_u64().unwrap_or(0));
    Json(json!({
        "node_id": me,
        "leader": status.raft.leader,
        "term": status.raft.term,
        "nodes": nodes,
    }))
    .into_response()
}

/// Whether `admin`'s IP is one the member's configured peer address resolves to.
async fn on_configured_host(peer_addr: &str, admin: std::net::SocketAddr) -> bool {
    match tokio::time::timeout(NODE_FETCH_TIMEOUT, tokio::net::lookup_host(peer_addr)).await {
        Ok(Ok(mut addrs)) => addrs.any(|a| a.ip() == admin.ip()),
        _ => false,
    }
}

/// Fetches `/api/cluster` from `admin`: whether it answered, and the fields to add.
async fn ask(admin: &str, authorization: Option<String>) -> (bool, Value) {
    let request = Request {
        method: "GET",
        path: "/api/cluster",
        authorization,
        ..Request::default()
    };
    match admin_client::send_async(admin, &request, NODE_FETCH_TIMEOUT).await {
        Ok(r) if r.status == 200 => match serde_json::from_str::<Value>(&r.body) {
            Ok(cluster) => (true, json!({"cluster": cluster})),
            Err(_) => (true, json!({"error": "its /api/cluster is not JSON"})),
        },
        Ok(r) => {
            let why = serde_json::from_str::<Value>(&r.body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| r.body.chars().take(200).collect());
            (true, json!({"http_status": r.status, "error": why}))
        }
        Err(e) => (false, json!({"error": e.to_string()})),
    }
}

#[cfg(test)]
mod tests {
    use super::on_configured_host;

    #[tokio::test]
    async fn credentials_go_only_to_the_configured_host() {
        let admin = |s: &str| s.parse().expect("address");
        assert!(on_configured_host("127.0.0.1:7380", admin("127.0.0.1:7381")).await);
        assert!(on_configured_host("localhost:7380", admin("127.0.0.1:7381")).await);
        assert!(!on_configured_host("127.0.0.1:7380", admin("10.1.2.3:7381")).await);
        assert!(!on_configured_host("not a host", admin("127.0.0.1:7381")).await);
    }
}
