//! One client connection: read bytes, parse every complete request in the buffer (pipelining),
//! let the session run them, write all replies in one go. A protocol error is answered with
//! Redis's text and the connection is closed, as Redis does.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tinkerdb_resp::{encode, parse_request, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::debug;

use super::session::{Flow, Session};
use super::ServerContext;

/// Initial read buffer; it grows for large requests up to the codec's limits.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Most requests parsed from the buffer before they are run (bounds a round's reply size).
const MAX_REQUESTS_PER_ROUND: usize = 1024;

/// Runs a connection until the client leaves, is killed, breaks the protocol, or the server
/// shuts down.
pub async fn run(
    mut socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let laddr = socket.local_addr().unwrap_or(peer);
    let mut session = Session::new(Arc::clone(&ctx), peer, laddr);
    let client = session.client();
    let limits = Limits {
        max_bulk_len: ctx.config.max_bulk_len,
        max_multibulk_len: ctx.config.max_multibulk_len,
        max_inline_len: ctx.config.max_inline_len,
    };
    let mut input = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut output = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut requests = Vec::new();
    'conn: loop {
        let read = tokio::select! {
            read = socket.read_buf(&mut input) => read,
            _ = client.kill_signal.notified() => break,
            _ = shutdown.changed() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                ctx.stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        let mut close_after = false;
        loop {
            let parsed = parse_request(&mut input, &limits);
            match parsed {
                Ok(Some(args)) if args.is_empty() => continue,
                Ok(Some(args)) => {
                    requests.push(args);
                    if requests.len() < MAX_REQUESTS_PER_ROUND {
                        continue;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    debug!(client = client.id, error = %e, "protocol error; closing");
                    if !requests.is_empty() {
                        session.run(&mut requests, &mut output).await;
                    }
                    encode(
                        &Frame::error(format!("ERR {e}")),
                        session.protocol(),
                        &mut output,
                    );
                    close_after = true;
                    break;
                }
            }
            if requests.is_empty() {
                break;
            }
            let flow = session.run(&mut requests, &mut output).await;
            if flow == Flow::Close {
                close_after = true;
                break;
            }
            if input.is_empty() {
                break;
            }
        }
        if !output.is_empty() {
            ctx.stats
                .net_output_bytes
                .fetch_add(output.len() as u64, Ordering::Relaxed);
            if socket.write_all(&output).await.is_err() {
                break 'conn;
            }
            output.clear();
        }
        if close_after || client.killed.load(Ordering::Relaxed) {
            break;
        }
    }
    let _ = socket.shutdown().await;
    session.close();
}
