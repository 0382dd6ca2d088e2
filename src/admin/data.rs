//! Data over HTTP: `GET /api/keys` (a key browser on SCAN) and `POST /api/command` (one command,
//! as a console). Both run through a [`DetachedSession`] as the authenticated user, so tenancy,
//! roles, the selected database and every command's behaviour and error text are exactly what
//! a RESP client gets; nothing here implements a command.
//!
//! Replies become JSON with their type kept ([`frame_json`]). Keys and values are bytes; JSON
//! strings are Unicode, so bytes that are not UTF-8 are replaced (U+FFFD) and the value is
//! marked `"lossy": true`.
//!
//! Limits: request bodies up to [`MAX_COMMAND_BODY_BYTES`], SCAN's `COUNT` up to
//! [`MAX_SCAN_COUNT`], replies up to [`MAX_REPLY_BYTES`] of RESP (a bigger one is refused
//! with 400 rather than built as JSON: use SCAN, GETRANGE, ...).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tinkerdb_resp::{parse_frame, Frame, Limits};

use super::auth::Caller;
use super::{json_error, ApiError};
use crate::server::{DetachedSession, ServerContext};

/// Largest `/api/command` body.
pub const MAX_COMMAND_BODY_BYTES: usize = 1 << 20;
/// Largest `count` of `/api/keys` (SCAN's COUNT: hash buckets visited per call).
pub const MAX_SCAN_COUNT: u64 = 1000;
/// `count` when none is given.
pub const DEFAULT_SCAN_COUNT: u64 = 100;
/// Largest reply, as RESP bytes, turned into JSON.
pub const MAX_REPLY_BYTES: usize = 8 << 20;

/// `GET /api/keys?match=&cursor=&count=&db=`.
pub async fn keys(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let cursor = params.get("cursor").map_or("0", String::as_str);
    if cursor.parse::<u64>().is_err() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "cursor must be an unsigned integer (0 starts a scan)",
        );
    }
    let count = match params.get("count").map(|c| c.parse::<u64>()) {
        None => DEFAULT_SCAN_COUNT,
        Some(Ok(n)) if n > 0 => n.min(MAX_SCAN_COUNT),
        Some(_) => return json_error(StatusCode::BAD_REQUEST, "count must be a positive integer"),
    };
    let db = match db_param(params.get("db").map(String::as_str)) {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    let mut session = DetachedSession::new(ctx, caller.user, peer);
    if let Some(response) = select(&mut session, db).await {
        return response;
    }
    let mut scan = vec![b"SCAN".to_vec(), cursor.as_bytes().to_vec()];
    if let Some(pattern) = params.get("match").filter(|p| !p.is_empty()) {
        scan.extend([b"MATCH".to_vec(), pattern.as_bytes().to_vec()]);
    }
    scan.extend([b"COUNT".to_vec(), count.to_string().into_bytes()]);
    let reply = match run(&mut session, vec![scan]).await {
        Ok(mut frames) => frames.pop().unwrap_or(Frame::Null),
        Err(e) => return e.into_response(),
    };
    let (next, found) = match reply {
        Frame::Array(mut parts) if parts.len() == 2 => {
            let found = parts.pop().unwrap_or(Frame::Null);
            (parts.pop().unwrap_or(Frame::Null), found)
        }
        Frame::Error(e) => return command_error(&e),
        other => return unexpected(&other),
    };
    let (Frame::Bulk(next), Frame::Array(found)) = (next, found) else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SCAN answered an unexpected shape",
        );
    };
    let names: Vec<Bytes> = found
        .into_iter()
        .filter_map(|f| match f {
            Frame::Bulk(name) => Some(name),
            _ => None,
        })
        .collect();
    // One pipelined round: TYPE and PTTL of every key, read together.
    let details: Vec<Vec<Vec<u8>>> = names
        .iter()
        .flat_map(|k| {
            [
                vec![b"TYPE".to_vec(), k.to_vec()],
                vec![b"PTTL".to_vec(), k.to_vec()],
            ]
        })
        .collect();
    let replies = if details.is_empty() {
        Vec::new()
    } else {
        match run(&mut session, details).await {
            Ok(frames) => frames,
            Err(e) => return e.into_response(),
        }
    };
    let mut keys = Vec::with_capacity(names.len());
    for (name, pair) in names.iter().zip(replies.chunks(2)) {
        let kind = match pair.first() {
            Some(Frame::Simple(t)) => t.clone(),
            Some(Frame::Error(e)) => return command_error(e),
            _ => "unknown".to_string(),
        };
        if kind == "none" {
            continue; // deleted or expired between SCAN and TYPE
        }
        let ttl_ms = match pair.get(1) {
            Some(Frame::Integer(ms)) if *ms >= 0 => json!(ms),
            _ => Value::Null,
        };
        let (text, lossy) = text_of(name);
        let mut key = Map::new();
        key.insert("key".into(), json!(text));
        key.insert("type".into(), json!(kind));
        key.insert("ttl_ms".into(), ttl_ms);
        if lossy {
            key.insert("lossy".into(), json!(true));
        }
        keys.push(Value::Object(key));
    }
    Json(json!({
        "cursor": String::from_utf8_lossy(&next),
        "count": count,
        "db": db.unwrap_or(0),
        "keys": keys,
    }))
    .into_response()
}

/// The body of `POST /api/command`: `args` (one string per argument) or `command` (one line,
/// split with Redis's inline quoting rules, as `redis-cli` splits what you type), and an
/// optional database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    args: Option<Vec<String>>,
    command: Option<String>,
    db: Option<i64>,
}

/// `POST /api/command`.
pub async fn command(
    State(ctx): State<Arc<ServerContext>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is over the limit of {MAX_COMMAND_BODY_BYTES} bytes"),
            )
        }
        Err(rejection) => return json_error(rejection.status(), &rejection.body_text()),
    };
    let body: CommandBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be JSON like {{\"args\": [\"GET\", \"key\"]}}: {e}"),
            )
        }
    };
    let args: Vec<Vec<u8>> = match (body.args, body.command) {
        (Some(args), None) => args.into_iter().map(String::into_bytes).collect(),
        (None, Some(line)) => match tinkerdb_resp::split_args(line.as_bytes()) {
            Ok(args) => args.into_iter().map(|a| a.to_vec()).collect(),
            Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("command: {e}")),
        },
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "give exactly one of \"args\" (a list of strings) and \"command\" (one line)",
            )
        }
    };
    if args.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "the command is empty");
    }
    let db = match body.db.map(|db| db.to_string()) {
        Some(db) => match db_param(Some(&db)) {
            Ok(db) => db,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let mut session = DetachedSession::new(ctx, caller.user, peer);
    if let Some(response) = select(&mut session, db).await {
        return response;
    }
    let reply = match run(&mut session, vec![args]).await {
        Ok(mut frames) => frames.pop().unwrap_or(Frame::Null),
        Err(e) => return e.into_response(),
    };
    match &reply {
        Frame::Error(e) => {
            let status = error_status(e);
            (
                status,
                Json(json!({"error": e, "reply": frame_json(&reply)})),
            )
                .into_response()
        }
        _ => Json(json!({"reply": frame_json(&reply)})).into_response(),
    }
}

/// `?db=N` checked as `SELECT` would (0-15); `None` when absent.
fn db_param(db: Option<&str>) -> Result<Option<u8>, ApiError> {
    let Some(db) = db else { return Ok(None) };
    match db.parse::<u8>() {
        Ok(n) if n < tinkerdb_kv::DATABASES => Ok(Some(n)),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "db must be a database number from 0 to {}",
                tinkerdb_kv::DATABASES - 1
            ),
        )),
    }
}

/// `SELECT db` on the session when a database was asked for.
async fn select(session: &mut DetachedSession, db: Option<u8>) -> Option<Response> {
    let db = db?;
    match run(
        session,
        vec![vec![b"SELECT".to_vec(), db.to_string().into_bytes()]],
    )
    .await
    {
        Ok(frames) => match frames.first() {
            Some(Frame::Error(e)) => Some(command_error(e)),
            _ => None,
        },
        Err(e) => Some(e.into_response()),
    }
}

/// Runs `requests` through the session and decodes one reply per request.
async fn run(
    session: &mut DetachedSession,
    requests: Vec<Vec<Vec<u8>>>,
) -> Result<Vec<Frame>, ApiError> {
    let count = requests.len();
    debug_assert!(requests.iter().all(|r| !r.is_empty()), "no empty request");
    let mut requests: Vec<Vec<Bytes>> = requests
        .into_iter()
        .map(|args| args.into_iter().map(Bytes::from).collect())
        .collect();
    let mut out = BytesMut::new();
    session.run(&mut requests, &mut out).await;
    if out.len() > MAX_REPLY_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the reply is {} bytes, over the admin API's limit of {MAX_REPLY_BYTES}; ask for less (SCAN instead of KEYS, GETRANGE, ...)",
                out.len()
            ),
        ));
    }
    let limits = Limits {
        max_bulk_len: MAX_REPLY_BYTES,
        max_multibulk_len: MAX_REPLY_BYTES,
        max_inline_len: MAX_REPLY_BYTES,
    };
    let mut frames = Vec::with_capacity(count);
    while frames.len() < count {
        match parse_frame(&mut out, &limits) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) | Err(_) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the session's reply could not be decoded",
                ))
            }
        }
    }
    Ok(frames)
}

/// The HTTP status for a Redis error reply, by its code: 403 for a missing permission, 503 for
/// what a client should retry, 400 for the rest (the command was refused as given; that
/// includes `AUTH` failing inside the console: the HTTP login itself was fine, so not 401).
fn error_status(error: &str) -> StatusCode {
    let code = error.split_whitespace().next().unwrap_or("");
    match code {
        "NOPERM" => StatusCode::FORBIDDEN,
        "TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "BUSY" => StatusCode::SERVICE_UNAVAILABLE,
        _ if error.contains("shutting down") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn command_error(error: &str) -> Response {
    json_error(error_status(error), error)
}

fn unexpected(frame: &Frame) -> Response {
    let msg = format!("unexpected reply {}", frame_json(frame));
    json_error(StatusCode::INTERNAL_SERVER_ERROR, &msg)
}

/// Text of bytes for JSON, and whether it had to replace bytes that are not UTF-8.
fn text_of(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    }
}

/// A reply as typed JSON: `{"type": ..., "value": ...}` with type `string` (`"simple": true`
/// for a status line such as `OK`), `integer`, `double`, `boolean`, `bignumber`, `null`,
/// `error`, `array` (also RESP3 sets and pushes, with `"resp3": "set"`), or `map` (a list of
/// `{"key", "value"}` pairs, since keys need not be strings). Strings that are not UTF-8 carry
/// `"lossy": true`.
pub fn frame_json(frame: &Frame) -> Value {
    let bytes_json = |bytes: &[u8], simple: bool| {
        let (text, lossy) = text_of(bytes);
        let mut v = Map::new();
        v.insert("type".into(), json!("string"));
        v.insert("value".into(), json!(text));
        if simple {
            v.insert("simple".into(), json!(true));
        }
        if lossy {
            v.insert("lossy".into(), json!(true));
        }
        Value::Object(v)
    };
    let list = |items: &[Frame]| Value::Array(items.iter().map(frame_json).collect());
    match frame {
        Frame::Simple(s) => bytes_json(s.as_bytes(), true),
        Frame::Bulk(b) => bytes_json(b, false),
        Frame::Verbatim { text, .. } => bytes_json(text, false),
        Frame::Error(e) => json!({"type": "error", "value": e}),
        Frame::Integer(n) => json!({"type": "integer", "value": n}),
        Frame::Double(d) if d.is_finite() => json!({"type": "double", "value": d}),
        Frame::Double(d) => json!({"type": "double", "value": d.to_string()}),
        Frame::Boolean(b) => json!({"type": "boolean", "value": b}),
        Frame::BigNumber(n) => json!({"type": "bignumber", "value": n}),
        Frame::Null | Frame::NullArray => json!({"type": "null"}),
        Frame::Array(items) => json!({"type": "array", "value": list(items)}),
        Frame::Set(items) => json!({"type": "array", "resp3": "set", "value": list(items)}),
        Frame::Push(items) => json!({"type": "array", "resp3": "push", "value": list(items)}),
        Frame::Map(pairs) => {
            let pairs: Vec<Value> = pairs
                .iter()
                .map(|(k, v)| json!({"key": frame_json(k), "value": frame_json(v)}))
                .collect();
            json!({"type": "map", "value": pairs})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_their_types() {
        let reply = Frame::Array(vec![
            Frame::ok(),
            Frame::bulk(&b"\xffv"[..]),
            Frame::Integer(3),
            Frame::Null,
            Frame::Map(vec![(Frame::bulk("k"), Frame::Double(f64::INFINITY))]),
        ]);
        assert_eq!(
            frame_json(&reply),
            json!({"type": "array", "value": [
                {"type": "string", "value": "OK", "simple": true},
                {"type": "string", "value": "\u{fffd}v", "lossy": true},
                {"type": "integer", "value": 3},
                {"type": "null"},
                {"type": "map", "value": [
                    {"key": {"type": "string", "value": "k"}, "value": {"type": "double", "value": "inf"}}
                ]},
            ]})
        );
    }

    #[test]
    fn error_codes_pick_the_status() {
        assert_eq!(error_status("NOPERM User x ..."), StatusCode::FORBIDDEN);
        assert_eq!(
            error_status("TRYAGAIN retry"),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            error_status("ERR unknown command 'x'"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(error_status("WRONGTYPE Operation"), StatusCode::BAD_REQUEST);
    }
}
