//! Limits on what a peer may ask the codec to buffer.
//!
//! Every length in RESP comes from the peer, so every length is checked against a limit before
//! the codec waits for (or allocates for) the bytes it announces. The defaults are Redis 7's,
//! except the array limit, which is tighter on purpose (see [`Limits::max_multibulk_len`]).
//! A connection that breaks a limit gets a protocol error and is closed, as in Redis.

/// The bounds both parsers enforce on input from the network. One value per server, shared by
/// all connections; the defaults suit a Redis-compatible server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string payload, in bytes: Redis's `proto-max-bulk-len` (512 MiB). A larger
    /// `$<len>` is refused before a single payload byte is buffered, so a client cannot make us
    /// hold more than this per argument.
    pub max_bulk_len: usize,
    /// Largest element count of an array (`*<count>`), and of every other aggregate when parsing
    /// replies (a map of N pairs counts N). Redis accepts up to `i32::MAX` arguments; we refuse
    /// more than 1024 * 1024, because an argument vector of two billion entries is never a real
    /// command and the count alone would let a client pin gigabytes of argument slots.
    pub max_multibulk_len: usize,
    /// Longest line without its terminator, in bytes: an inline command, or the `*<count>` and
    /// `$<len>` header lines (Redis's `PROTO_INLINE_MAX_SIZE`, 64 KiB). When parsing replies it
    /// also bounds simple strings, errors, numbers and every other line-based type. Searching for
    /// a line end never looks further than this, which keeps each call's work bounded.
    pub max_inline_len: usize,
}

impl Limits {
    /// Redis 7's limits, with arrays capped at 1024 * 1024 elements. A `const` so it can seed
    /// static configuration.
    pub const DEFAULT: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        max_multibulk_len: 1024 * 1024,
        max_inline_len: 64 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
