//! Finding the end of a line without ever scanning unbounded input.
//!
//! Both parsers read header lines (`*3`, `$5`, `+OK`, an inline command) whose terminator may
//! not have arrived yet. Looking for it is the only step whose cost grows with the buffer, so
//! the search stops after [`Limits::max_inline_len`](crate::Limits::max_inline_len) + 1 bytes:
//! either the terminator is there, or the line is already too long to be valid.

/// Outcome of looking for a line terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// The first terminator byte is at this absolute index.
    At(usize),
    /// No terminator yet, and the line is still short enough to wait for it.
    Pending,
    /// No terminator within the limit: the peer sent an over-long line.
    TooLong,
}

/// Looks for the first byte satisfying `is_end` in `buf[from..]`, within `max_len + 1` bytes.
/// A line is too long when more than `max_len` bytes are buffered without a terminator, which
/// is Redis's condition whenever the terminator lies within that window.
pub(crate) fn find_line_end(
    buf: &[u8],
    from: usize,
    max_len: usize,
    is_end: impl Fn(u8) -> bool,
) -> LineEnd {
    let rest = buf.get(from..).unwrap_or_default();
    let window = rest.get(..max_len.saturating_add(1)).unwrap_or(rest);
    match window.iter().position(|&byte| is_end(byte)) {
        Some(offset) => LineEnd::At(from + offset),
        None if rest.len() > max_len => LineEnd::TooLong,
        None => LineEnd::Pending,
    }
}
