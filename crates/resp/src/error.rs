//! The one error type of the codec.
//!
//! Every [`ProtocolError`] is fatal for the connection that produced it: the input is no longer
//! in sync with the protocol, so nothing after it can be trusted. The server answers
//! `-ERR <Display>` and closes, exactly as Redis does; the request-side texts are Redis's own,
//! byte for byte, so clients and tests written against Redis see the same reply.

use thiserror::Error;

use crate::parse::MAX_DEPTH;

/// Why bytes from a peer are not valid RESP. The first seven variants are what a client can
/// provoke with a request; the rest only arise when parsing replies with
/// [`parse_frame`](crate::parse_frame).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// `*<count>` is not a strict integer, or the count exceeds
    /// [`Limits::max_multibulk_len`](crate::Limits::max_multibulk_len) (or `i32::MAX`, as in
    /// Redis).
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<len>` is not a strict integer, is negative where null is not allowed, or exceeds
    /// [`Limits::max_bulk_len`](crate::Limits::max_bulk_len).
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An argument of a multibulk request does not start with `$`. Holds the offending byte;
    /// it is shown as the character with that code point, as Redis's `%c` would.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// An inline command longer than [`Limits::max_inline_len`](crate::Limits::max_inline_len)
    /// bytes without a newline.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// A `*<count>` line longer than the inline limit without a CR.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCountString,
    /// A `$<len>` line longer than the inline limit without a CR.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCountString,
    /// An inline command with an unterminated quote, or a closing quote followed by something
    /// other than a space (`"foo"bar`).
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A reply starts with a byte that is no RESP2 or RESP3 type marker.
    #[error("Protocol error: unknown reply type '{}'", char::from(*.0))]
    UnknownType(u8),
    /// A reply line longer than the inline limit.
    #[error("Protocol error: too big line")]
    TooBigLine,
    /// A reply nests aggregates deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) levels.
    #[error("Protocol error: nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A reply's content does not match its type; the text names what was wrong.
    #[error("Protocol error: invalid {0}")]
    Malformed(&'static str),
}
