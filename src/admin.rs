//! # Admin HTTP API and dashboard
//!
//! Bound on `admin_listen`. Every route answers JSON (errors as `{"error": "..."}` with a
//! fitting status), except the probes' plain text and the dashboard's files.
//!
//! - `GET /health`: the process is alive. No credentials needed.
//! - `GET /ready`: the data shard knows a leader and has applied its committed log (200), or
//!   not (503). No credentials needed (orchestrators probe it).
//! - `GET /api/cluster`: this node's view of the cluster: role, term, leader,
//!   commit/applied indexes, voters, learners, outgoing voters while the configuration is
//!   joint, members' peer addresses, and (on the leader) each peer's replication progress.
//! - `GET /api/nodes`: every member's admin address and live `/api/cluster` (see [`nodes`]).
//! - `GET /api/node`: version, pid, uptime, addresses, bytes on disk, config without secrets.
//! - `GET /api/events`: recent leader, term and role changes seen by this node ([`events`]).
//! - `GET /api/keys?match=&cursor=&count=&db=`: a SCAN page with each key's type and TTL.
//! - `POST /api/command` `{"args": [...]}` or `{"command": "..."}`: runs one command ([`data`]).
//! - `POST /api/cluster/transfer-leader?to=N`: ask leadership to move to node N.
//! - `POST /api/cluster/add-node?id=N&peer_addr=HOST:PORT`: add node N as a learner (leader only).
//! - `POST /api/cluster/promote?id=N`: make learner N a voter (leader only).
//! - `POST /api/cluster/remove-node?id=N`: remove node N, which then stops (leader only).
//! - `POST /api/cluster/replace-node?remove=OLD&add=NEW`: in one joint-consensus change, make
//!   learner NEW a voter and remove voter OLD, which then stops (leader only).
//! - `GET /` and `/dashboard/...`: the web dashboard ([`dashboard`]).
//!
//! Authentication ([`auth`]): one middleware wraps the whole router, so every route, including
//! ones added later, needs HTTP Basic credentials of a TinkerDB user once users are
//! configured, except `/health` and `/ready`. The membership routes also need the admin role;
//! data commands get the user's tenant and role checks in the session, as over RESP.
//!
//! Nothing here blocks the Raft loop: handlers send it ordinary requests (status, reads,
//! proposals) like any client, and the events poller sends one status request per 200 ms.

mod auth;
mod dashboard;
mod data;
mod events;
mod host_guard;
mod node_info;
mod nodes;

pub use auth::{basic_header, OPEN_PATHS};
pub use data::{frame_json, MAX_COMMAND_BODY_BYTES, MAX_REPLY_BYTES, MAX_SCAN_COUNT};
pub use events::{Event, EVENT_LOG_CAPACITY};
pub use nodes::NODE_FETCH_TIMEOUT;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

use crate::acl::Access;
use crate::metrics::ReadPath;
use crate::server::ServerContext;
use crate::shard::{MemberChange, NodeStatus, ShardError};

use auth::Caller;
use events::EventLog;

/// Serves the admin API until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let events = Arc::new(EventLog::default());
    tokio::spawn(
        events::watch(Arc::clone(&ctx), Arc::clone(&events), shutdown.clone()).in_current_span(),
    );
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/cluster", get(cluster))
        .route("/api/cluster/transfer-leader", post(transfer_leader))
        .route("/api/cluster/add-node", post(add_node))
        .route("/api/cluster/promote", post(promote))
        .route("/api/cluster/remove-node", post(remove_node))
        .route("/api/cluster/replace-node", post(replace_node))
        .route("/api/node", get(node_info::node))
        .route("/api/nodes", get(nodes::nodes))
        .route("/api/keys", get(data::keys))
        .route(
            "/api/command",
            post(data::command).layer(DefaultBodyLimit::max(MAX_COMMAND_BODY_BYTES)),
        )
        .route(
            "/api/events",
            get(move || events::answer(Arc::clone(&events))),
        )
        .merge(dashboard::routes())
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(Arc::clone(&ctx));
    // Last, so that they wrap every route above (and any added there later); the outermost
    // layer runs first: a forged cross-site POST is refused before credentials are looked at.
    let app = app
        .layer(axum::middleware::from_fn_with_state(
            ctx,
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(require_api_header));
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "admin API stopped");
    }
}

/// Header every request that changes something (any method but GET and HEAD) must carry.
///
/// A web page on another origin can make a browser send a plain POST (a form, or `fetch` in
/// `no-cors` mode) to a local admin port, with the browser's cached credentials; it cannot add a
/// custom header without a CORS preflight, which this API never grants. So the header is what
/// tells a request from the dashboard, `tinkerdb cluster` or `curl` apart from a forged one.
pub const API_REQUEST_HEADER: &str = "x-tinkerdb-request";

async fn require_api_header(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method();
    let safe = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    if safe || request.headers().contains_key(API_REQUEST_HEADER) {
        return next.run(request).await;
    }
    json_error(
        StatusCode::FORBIDDEN,
        "requests that change something must carry the header `X-TinkerDB-Request: 1` \
         (it keeps other web pages from sending them through your browser)",
    )
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
        .map(|p| {
            json!({
                "id": p.id,
                "matched": p.matched,
                "next": p.next,
                "state": p.state,
                "voter": p.voter,
                "pending_snapshot": p.pending_snapshot,
            })
        })
        .collect();
    let snapshot_receive = r.snapshot_receive.as_ref().map(|p| {
        json!({
            "from": p.from,
            "index": p.index,
            "term": p.term,
            "bytes": p.bytes,
            "total": p.total,
            "stage": p.stage.as_str(),
        })
    });
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
        "voters_outgoing": r.voters_outgoing,
        "joint": !r.voters_outgoing.is_empty(),
        "learners": r.learners,
        "members": members,
        "progress": progress,
        "caught_up": r.caught_up,
        "snapshot_index": r.snapshot.as_ref().map_or(0, |s| s.index),
        // A leader's snapshot on its way into this node (null when none).
        "snapshot_receive": snapshot_receive,
        "keys": status.keyspace.keys,
        "resp_addr": ctx.config.listen.to_string(),
        "read_mode": ctx.config.read_mode.as_str(),
        // Read batches by how they were confirmed, as `tinkerdb_reads_total` counts them.
        "reads": ReadPath::ALL
            .iter()
            .map(|&path| (path.name().to_string(), json!(ctx.metrics.shard.reads(path))))
            .collect::<serde_json::Map<_, _>>(),
    })
}

async fn transfer_leader(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = caller.require(Access::Admin) {
        return denied.into_response();
    }
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
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = caller.require(Access::Admin) {
        return denied.into_response();
    }
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
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = caller.require(Access::Admin) {
        return denied.into_response();
    }
    match node_param(&params) {
        Some(id) => change(&ctx, MemberChange::Promote { id }).await,
        None => bad_request("give ?id=<learner id>"),
    }
}

async fn remove_node(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = caller.require(Access::Admin) {
        return denied.into_response();
    }
    match node_param(&params) {
        Some(id) => change(&ctx, MemberChange::Remove { id }).await,
        None => bad_request("give ?id=<node id>"),
    }
}

async fn replace_node(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = caller.require(Access::Admin) {
        return denied.into_response();
    }
    match (id_param(&params, "remove"), id_param(&params, "add")) {
        (Some(remove), Some(add)) => change(&ctx, MemberChange::Replace { remove, add }).await,
        _ => bad_request("give ?remove=<voter id>&add=<learner id>"),
    }
}

async fn change(ctx: &ServerContext, change: MemberChange) -> Response {
    match ctx.router.primary().change_members(change).await {
        Ok(()) => Json(json!({"proposed": true})).into_response(),
        Err(e) => error_response(&e),
    }
}

fn node_param(params: &HashMap<String, String>) -> Option<u64> {
    id_param(params, "id")
}

/// A positive node id in query parameter `name`.
fn id_param(params: &HashMap<String, String>, name: &str) -> Option<u64> {
    params
        .get(name)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|id| *id > 0)
}

fn bad_request(why: &str) -> Response {
    json_error(StatusCode::BAD_REQUEST, why)
}

/// `{"error": why}` with `status`.
fn json_error(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({"error": why}))).into_response()
}

/// An error answer, `{"error": message}` with `status`, small enough to travel in a `Result`
/// (a whole `Response` is not).
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_error(self.status, &self.message)
    }
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
        ShardError::Invalid(_) => StatusCode::BAD_REQUEST,
        ShardError::Fatal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (code, Json(json!({"error": e.to_string()}))).into_response()
}

/// `GET /metrics`: the node's Prometheus metrics as OpenMetrics text ([`crate::metrics`]).
/// Per-tenant samples are an admin's to see: other users get only their own tenant's.
async fn metrics(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let mut body = crate::metrics::scrape(&ctx).await;
    if !caller.user.role.allows(Access::Admin) {
        body = only_own_tenant(&body, &caller.user.tenant);
    }
    let content_type = [(
        axum::http::header::CONTENT_TYPE,
        crate::metrics::CONTENT_TYPE,
    )];
    (content_type, body).into_response()
}

/// Drops the samples labelled with a tenant other than `tenant` from OpenMetrics text, keeping
/// every other line (descriptions, unlabelled and other samples).
fn only_own_tenant(body: &str, tenant: &str) -> String {
    let own = format!("tenant=\"{tenant}\"");
    body.lines()
        .filter(|line| {
            let Some(at) = line.find("tenant=\"") else {
                return true;
            };
            line.starts_with('#')
                || line[at..]
                    .strip_prefix(own.as_str())
                    .is_some_and(|rest| rest.starts_with(',') || rest.starts_with('}'))
        })
        .flat_map(|line| [line, "\n"])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::only_own_tenant;

    #[test]
    fn users_see_only_their_own_tenants_samples() {
        let body = "# HELP tinkerdb_keys Keys stored per tenant\n\
                    tinkerdb_keys{tenant=\"acme\"} 5\n\
                    tinkerdb_keys{tenant=\"acme2\"} 7\n\
                    tinkerdb_keys{db=\"0\",tenant=\"globex\"} 9\n\
                    tinkerdb_raft_term 3\n\
                    # EOF\n";
        assert_eq!(
            only_own_tenant(body, "acme"),
            "# HELP tinkerdb_keys Keys stored per tenant\n\
             tinkerdb_keys{tenant=\"acme\"} 5\n\
             tinkerdb_raft_term 3\n\
             # EOF\n"
        );
    }
}
