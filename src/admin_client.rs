//! A tiny blocking HTTP/1.1 client for `tinkerdb cluster ...`: one request per connection to a
//! node's admin port, JSON in the body. Kept minimal on purpose: the admin API is ours, local,
//! and answers with `Content-Length` bodies.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest time a request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response accepted.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

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
}

/// An HTTP response: status code and body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body text.
    pub body: String,
}

/// Sends `method path` to `addr` (host:port) and returns the response.
pub fn request(addr: &str, method: &str, path: &str) -> Result<Response, ClientError> {
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
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(connect_err)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .map_err(connect_err)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ClientError::Malformed(addr.to_string()))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| ClientError::Malformed(addr.to_string()))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}
