//! The web dashboard: three static files (`src/dashboard/`) compiled into the binary with
//! `include_str!`, so it works offline, needs no build step and always matches the node's API.
//! The page itself is plain JavaScript polling the JSON endpoints of the node that served it
//! (`/api/nodes`, `/api/events`, `/api/keys`, `/api/command`, `/metrics`); it never talks to
//! other nodes directly (a browser would need their credentials and CORS), except through the
//! links it shows when this node stops answering.

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::server::ServerContext;

const INDEX_HTML: &str = include_str!("../dashboard/index.html");
const APP_JS: &str = include_str!("../dashboard/app.js");
const APP_CSS: &str = include_str!("../dashboard/app.css");

/// `GET /`, `/dashboard/`, `/dashboard/app.js`, `/dashboard/app.css`.
pub fn routes() -> Router<Arc<ServerContext>> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/dashboard/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    // no-cache: a browser revalidates, so an upgraded node's dashboard is picked up at once.
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}
