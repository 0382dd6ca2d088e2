//! # Admin HTTP API
//!
//! Bound on `admin_listen`. For now it answers `/health` (the process is alive) and `/ready`
//! (the data shard has a leader and can serve); metrics, the cluster API and the dashboard
//! arrive with the operations work.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::ServerContext;

/// Serves the admin API until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
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
    match ctx
        .router
        .primary()
        .status(crate::acl::DEFAULT_TENANT)
        .await
    {
        Ok(status) if status.raft.leader != 0 => (
            StatusCode::OK,
            format!(
                "ready: leader {} term {}\n",
                status.raft.leader, status.raft.term
            ),
        ),
        Ok(_) => (StatusCode::SERVICE_UNAVAILABLE, "no leader\n".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}
