//! Who is calling the admin port: HTTP Basic authentication against the same users `AUTH`
//! checks (config users, then replicated `ACL SETUSER` users), as one middleware around the
//! whole router.
//!
//! Rules, in order:
//! - [`OPEN_PATHS`] (`/health`, `/ready`) never need credentials: orchestrators probe them
//!   without any. They reveal only liveness and whether the node is caught up.
//! - A request with an `Authorization: Basic ...` header is that user, if the user exists, is
//!   enabled and the password matches; otherwise it gets 401.
//! - A request without credentials is the user a fresh RESP connection starts as: `default`
//!   when it needs no password (no users configured, as in a fresh Redis), provided its
//!   `Host` passes the DNS-rebinding guard ([`super::host_guard`]; else 403). When there is no
//!   such user (users are configured, or `default` got a password), it gets 401.
//!
//! Every 401 carries `WWW-Authenticate: Basic realm="tinkerdb"`, so a browser opening the
//! dashboard asks for a user name and password and then sends them with every request.
//! The user is passed to handlers as a [`Caller`] request extension; data commands then run
//! with that user's tenant and role, exactly as over RESP.
//!
//! Not here (yet): TLS (Basic credentials travel in clear text, so keep the admin port on a
//! trusted network) and any throttling of wrong passwords.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use base64::Engine as _;

use super::ApiError;
use crate::acl::{Access, User};
use crate::server::ServerContext;

/// Paths served to anyone, without credentials.
pub const OPEN_PATHS: &[&str] = &["/health", "/ready"];

/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "tinkerdb";

/// Longest `Authorization` header value looked at (user and password names are short).
const MAX_AUTHORIZATION_LEN: usize = 1024;

/// The authenticated user of a request, and the header it came with (forwarded when the node
/// asks its peers on the caller's behalf, see `/api/nodes`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user the request runs as.
    pub user: User,
    /// The request's `Authorization` header, if it had one.
    pub authorization: Option<HeaderValue>,
}

impl Caller {
    /// `Ok` when the caller's role allows `access`, else the 403 to answer.
    pub(super) fn require(&self, access: Access) -> Result<(), ApiError> {
        if self.user.role.allows(access) {
            return Ok(());
        }
        let msg = format!(
            "user {} (role {}) may not do this: it needs the admin role",
            self.user.name,
            self.user.role.as_str()
        );
        Err(ApiError::new(StatusCode::FORBIDDEN, msg))
    }
}

/// The `Authorization` header value for `user` and `password`.
pub fn basic_header(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}").as_bytes())
    )
}

/// The middleware: authenticates every request except [`OPEN_PATHS`] and attaches the
/// [`Caller`], or answers 401.
pub async fn authenticate(
    State(ctx): State<Arc<ServerContext>>,
    mut request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match caller(&ctx, request.headers()) {
        Ok(caller) if caller.authorization.is_none() && !host_allowed(&ctx, request.headers()) => {
            let host = request
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("?");
            let msg = format!(
                "Host {host:?} is not answered without credentials: this node has no users, so \
                 its admin API serves only requests addressed to an IP address or localhost \
                 (a DNS-rebinding guard). Use an IP address, list the name in \
                 admin_allowed_hosts (--admin-allowed-host), or configure users."
            );
            (StatusCode::FORBIDDEN, Json(json!({"error": msg}))).into_response()
        }
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(why) => unauthorized(why),
    }
}

/// Whether the request's `Host` passes the DNS-rebinding guard (see `host_guard`).
fn host_allowed(ctx: &ServerContext, headers: &HeaderMap) -> bool {
    let host = match headers.get(HOST) {
        None => None,
        Some(value) => match value.to_str() {
            Ok(text) => Some(text),
            Err(_) => return false,
        },
    };
    super::host_guard::allowed(host, &ctx.config.admin_allowed_hosts)
}

/// Resolves the caller, or why it is refused.
fn caller(ctx: &ServerContext, headers: &HeaderMap) -> Result<Caller, &'static str> {
    let table = ctx.router.primary().users().read();
    let table = table.unwrap_or_else(|p| p.into_inner());
    let Some(header) = headers.get(AUTHORIZATION) else {
        return ctx
            .directory
            .initial_user(&table)
            .map(|user| Caller {
                user,
                authorization: None,
            })
            .ok_or("authentication required: send HTTP Basic credentials of a TinkerDB user");
    };
    let (name, password) =
        parse_basic(header).ok_or("malformed Authorization header: expected Basic credentials")?;
    let user = ctx
        .directory
        .lookup(&table, &name)
        .filter(|u| u.accepts(password.as_bytes()))
        .ok_or("invalid username-password pair or user is disabled")?;
    Ok(Caller {
        user,
        authorization: Some(header.clone()),
    })
}

/// `Basic base64(user:password)` → `(user, password)`.
fn parse_basic(header: &HeaderValue) -> Option<(String, String)> {
    let text = header.to_str().ok()?;
    if text.len() > MAX_AUTHORIZATION_LEN {
        return None;
    }
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    )
    .ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn unauthorized(why: &str) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, Json(json!({"error": why}))).into_response();
    let challenge = format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_round_trip() {
        let header = HeaderValue::from_str(&basic_header("alice", "pa:ss word")).expect("ascii");
        assert_eq!(
            parse_basic(&header),
            Some(("alice".to_string(), "pa:ss word".to_string()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic Zm9v"] {
            let header = HeaderValue::from_static(bad);
            assert_eq!(parse_basic(&header), None, "{bad}");
        }
    }
}
