//! The frame type: one RESP value, in the union of RESP2 and RESP3.

use bytes::Bytes;

/// Which protocol a connection speaks, chosen with `HELLO 2|3`. Replies are built once as a
/// [`Frame`] and downgraded on encoding when the client speaks RESP2 (maps become flat arrays,
/// doubles become bulk strings, booleans become integers), exactly as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default for every new connection.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// One RESP value. Commands build their replies as frames; the codec turns them into bytes for
/// the connection's [`Protocol`].
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`: a short status line without CR or LF.
    Simple(String),
    /// `-ERR ...`: an error line; the text starts with the error code (`ERR`, `WRONGTYPE`, ...).
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`: binary-safe string.
    Bulk(Bytes),
    /// The null value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array: `*-1` in RESP2 (e.g. an aborted `EXEC`), `_` in RESP3.
    NullArray,
    /// `*N`: an ordered list of frames.
    Array(Vec<Frame>),
    /// `,3.14` in RESP3; a bulk string in RESP2.
    Double(f64),
    /// `#t` / `#f` in RESP3; the integer 1 / 0 in RESP2.
    Boolean(bool),
    /// `(123...` in RESP3; a bulk string in RESP2.
    BigNumber(String),
    /// `=15\r\ntxt:...` in RESP3 (`format` is three bytes such as `txt`); a bulk string in RESP2.
    Verbatim {
        /// The three-byte format tag, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The text itself, without the format prefix.
        text: Bytes,
    },
    /// `%N` in RESP3; a flat array of 2N frames in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// `~N` in RESP3; an array in RESP2.
    Set(Vec<Frame>),
    /// `>N` in RESP3 (out-of-band messages); an array in RESP2.
    Push(Vec<Frame>),
}

impl Frame {
    /// The `+OK` reply, the most common of all.
    pub fn ok() -> Frame {
        Frame::Simple("OK".to_string())
    }

    /// An error reply. `text` must start with the error code, e.g. `"ERR syntax error"`.
    pub fn error(text: impl Into<String>) -> Frame {
        Frame::Error(text.into())
    }

    /// A bulk string reply from anything that can become [`Bytes`].
    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    /// True for error replies, which callers count and log differently.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }
}
