//! Errors of the data commands, and their one mapping to Redis error text.
//!
//! Place in the data flow: [`CommandError`] is returned by [`crate::parse`] before a command ever
//! reaches the Raft log; [`ExecError`] is produced while a committed command is applied to the
//! keyspace and becomes a `Frame::Error` reply. The `Display` text of both is exactly what Redis 7
//! sends after the `-`, because real clients and Redis's own test suite match on it.
//!
//! Invariant: no other module spells an error string; they all come from here.

use tinkerdb_resp::Frame;

/// Why a request could not be turned into a [`crate::Command`]. The server replies with
/// `-{self}` and never proposes the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Wrong argument count; carries the lowercase command name as Redis prints it.
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// An unknown option, or options that may not be combined.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be a 64-bit signed integer is not one.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument that must be a float is not one (or is NaN).
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// An expiry that is non-positive or overflows when converted; carries the command name.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    /// A negative SETRANGE offset.
    #[error("ERR offset is out of range")]
    OffsetOutOfRange,
    /// A SCAN cursor that is not an unsigned 64-bit integer.
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// A SCAN TYPE filter naming no Redis type.
    #[error("ERR unknown type name '{0}'")]
    UnknownType(String),
    /// An EXPIRE option other than NX, XX, GT, LT (Redis echoes the option as typed).
    #[error("ERR Unsupported option {0}")]
    UnsupportedOption(String),
    /// EXPIRE NX combined with XX, GT or LT.
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxConflict,
    /// EXPIRE GT combined with LT.
    #[error("ERR GT and LT options at the same time are not compatible")]
    ExpireGtLtConflict,
    /// `DECRBY key -9223372036854775808`, whose negation does not fit.
    #[error("ERR decrement would overflow")]
    DecrementOverflow,
}

/// Why applying a committed command failed. Execution is deterministic, so every replica
/// produces the same error for the same log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The key holds a value of another type (kept ready for lists and hashes).
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// The stored string is not an integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// The stored string is not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// INCR/DECR family result outside `i64`.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// INCRBYFLOAT result is NaN or infinite.
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    /// APPEND/SETRANGE would grow a string past 512 MiB.
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// RENAME of a missing key.
    #[error("ERR no such key")]
    NoSuchKey,
    /// A relative expiry that overflows when added to the entry's time; carries the command.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    /// A write command was passed to the read-only path: a caller bug, reported, not panicked.
    #[error("ERR write command '{0}' on the read path")]
    WriteOnReadPath(&'static str),
}

impl ExecError {
    /// The error reply sent to the client.
    pub fn into_frame(self) -> Frame {
        Frame::Error(self.to_string())
    }
}

impl From<ExecError> for Frame {
    fn from(e: ExecError) -> Frame {
        e.into_frame()
    }
}
