//! A tiny HTTP/1.1 client for the admin API: one request per connection, `Connection: close`,
//! the body read to the end (bounded). Used blocking by `tinkerdb cluster ...` and the tests,
//! and async (with a short timeout) by a node asking its peers for `/api/nodes`. Kept minimal
//! on purpose: the admin API is ours and answers with `Content-Length` bodies (chunked bodies
//! are decoded too, in case a proxy re-frames them).
//!
//! Credentials: `tinkerdb cluster --user/--password` (or `TINKERDB_ADMIN_USER` and
//! `TINKERDB_ADMIN_PASSWORD`) become an HTTP Basic `Authorization` header ([`basic_auth`]).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest time a blocking request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response accepted.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// Largest response [`send_async`] accepts: it serves the admin API's fan-out to peers
/// (`/api/nodes`), whose answers are small, and many may be in flight at once.
pub const MAX_ASYNC_RESPONSE_BYTES: u64 = 1 << 20;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot reach the admin API at {addr}: {source}")]
    Connect {
        /// The address given.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The answer was not HTTP.
    #[error("the admin API at {0} sent a malformed response")]
    Malformed(String),
    /// No complete answer within the time allowed.
    #[error("the admin API at {0} did not answer in time")]
    Timeout(String),
}

/// An HTTP response: status code, headers and body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Path and query, e.g. `/api/cluster`.
    pub path: &'a str,
    /// The body (sent as `application/json` when not empty).
    pub body: &'a [u8],
    /// The `Authorization` header's value, e.g. from [`basic_auth`].
    pub authorization: Option<String>,
}

/// The `Authorization` value for HTTP Basic credentials.
pub fn basic_auth(user: &str, password: &str) -> String {
    crate::admin::basic_header(user, password)
}

/// Sends `method path` to `addr` (host:port) without a body or credentials.
pub fn request(addr: &str, method: &str, path: &str) -> Result<Response, ClientError> {
    send(
        addr,
        &Request {
            method,
            path,
            ..Request::default()
        },
    )
}

/// Sends `request` to `addr` (host:port) and returns the response (blocking).
pub fn send(addr: &str, request: &Request<'_>) -> Result<Response, ClientError> {
    let connect_err = |source| ClientError::Connect {
        addr: addr.to_string(),
        source,
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(connect_err)?
        .next()
        .ok_or_else(|| connect_err(std::io::Error::other("no address")))?;
    let mut stream = TcpStream::connect_timeout(&sock, TIMEOUT).map_err(connect_err)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(connect_err)?;
    stream
        .write_all(&request_bytes(addr, request))
        .map_err(connect_err)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .map_err(connect_err)?;
    parse_response(addr, &raw)
}

/// Sends `request` to `addr` and returns the response; the whole exchange (connect included)
/// gives up after `timeout`.
pub async fn send_async(
    addr: &str,
    request: &Request<'_>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(&request_bytes(addr, request)).await?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_ASYNC_RESPONSE_BYTES)
            .read_to_end(&mut raw)
            .await?;
        Ok::<_, std::io::Error>(raw)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(raw)) => parse_response(addr, &raw),
        Ok(Err(source)) => Err(ClientError::Connect {
            addr: addr.to_string(),
            source,
        }),
        Err(_) => Err(ClientError::Timeout(addr.to_string())),
    }
}

fn request_bytes(addr: &str, request: &Request<'_>) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\
         X-TinkerDB-Request: 1\r\n",
        request.method,
        request.path,
        request.body.len()
    );
    if !request.body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(authorization) = &request.authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(request.body);
    bytes
}

fn parse_response(addr: &str, raw: &[u8]) -> Result<Response, ClientError> {
    let malformed = || ClientError::Malformed(addr.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(malformed)?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(malformed)?;
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            Some((key.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body).ok_or_else(malformed)?
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.get(..len).ok_or_else(malformed)?.to_vec()
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Decodes a chunked body (extensions and trailers ignored).
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_by_length_or_chunks() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let r = parse_response("a", plain).expect("parse");
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
        assert_eq!(r.header("Content-Length"), Some("2"));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response("a", chunked).expect("parse");
        assert_eq!((r.status, r.body.as_str()), (404, "abcde"));
        assert!(parse_response("a", b"garbage").is_err());
    }
}
