//! # RESP: the Redis serialization protocol, versions 2 and 3
//!
//! This crate is the outermost layer of TinkerDB's data flow: bytes from a client socket come in,
//! [`Frame`]s and request argument vectors come out; reply frames go back out as bytes.
//! It owns no state and knows nothing about commands, shards or storage.
//!
//! # Layout
//!
//! - `frame`: [`Frame`], one RESP value in the union of RESP2 and RESP3, and [`Protocol`].
//! - `request`: [`parse_request`], the server side. Client bytes (multibulk or inline) become
//!   argument vectors, one request per call; inline quoting lives in `inline`, whose
//!   [`split_args`] the admin API also uses to split a command typed as one line.
//! - `encode`: [`encode`], reply frames to bytes, downgrading RESP3 types for RESP2 clients.
//! - `parse`: [`parse_frame`], any RESP2/RESP3 frame from bytes, for replies forwarded from other
//!   nodes and for tests.
//! - `limits`: [`Limits`], the bounds on everything a peer sends.
//! - `error`: [`ProtocolError`], whose `Display` is Redis's text, ready for `-ERR <text>`.
//! - `number` and `line`: strict integer parsing, number formatting, bounded line search.
//!
//! # Contract of the parsers
//!
//! Both parsers take the connection's `BytesMut` read buffer and return `Ok(None)` when it holds
//! only part of a message (the buffer is untouched; read more and call again), `Ok(Some(_))`
//! after consuming exactly one message from the front, or `Err` when the peer broke the
//! protocol, after which the connection must be closed. Each first checks cheaply, without
//! allocating, that a whole message is there, then splits it off: bulk payloads share the read
//! buffer's memory and are never copied.
//!
//! # Limits
//!
//! Every length and count from the network is checked against [`Limits`] before the parser waits
//! for or allocates the bytes it announces: bulk strings up to 512 MiB, arrays up to 1024 * 1024
//! elements, lines up to 64 KiB (Redis's defaults, except the array cap, which Redis sets at
//! `i32::MAX`). Nesting in replies is bounded by [`MAX_DEPTH`]. Line searches never scan past the
//! line limit, so the work of one call is bounded by the limits, and a buffer of N pipelined
//! requests parses in O(N).
//!
//! # What this crate never does
//!
//! - No I/O, no async, no threads: it only transforms bytes and frames.
//! - It never panics on input bytes: no `unwrap`, no unchecked indexing, no `unsafe` (enforced
//!   by the lints below and by property tests that feed it arbitrary bytes).
//! - It never emits a CR or LF inside a simple string, error or big number.
//! - It never accepts RESP3 streamed types (`$?`, `*?`), which Redis never sends.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod encode;
mod error;
mod frame;
mod inline;
mod limits;
mod line;
mod number;
mod parse;
mod request;

pub use encode::encode;
pub use error::ProtocolError;
pub use frame::{Frame, Protocol};
pub use inline::split_args;
pub use limits::Limits;
pub use parse::{parse_frame, MAX_DEPTH};
pub use request::parse_request;
