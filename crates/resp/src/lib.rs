//! # RESP: the Redis serialization protocol, versions 2 and 3
//!
//! This crate is the outermost layer of TinkerDB's data flow: bytes from a client socket come in,
//! [`Frame`]s and request argument vectors come out; reply frames go back out as bytes.
//! It owns no state and knows nothing about commands, shards or storage.
//!
//! (The codec lands in the next commit; this file pins down the frame type every other part
//! of TinkerDB builds replies with.)

mod frame;

pub use frame::{Frame, Protocol};
