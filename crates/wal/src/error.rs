//! The WAL's error type: what went wrong, and where on disk.
//!
//! Errors fall in three families, and the node should react differently to each:
//! - [`WalError::Io`] and [`WalError::Poisoned`]: the disk or the OS failed us. After a failed
//!   write or fsync the page cache can no longer be trusted, so the handle refuses further work
//!   and the node must reopen the WAL (which re-reads what really is on disk).
//! - [`WalError::Corrupt`] and [`WalError::Gap`]: what is on disk is damaged in a way that is not
//!   a torn tail. Starting anyway could silently lose acknowledged writes, so we refuse to start.
//! - [`WalError::InvalidRecord`]: the caller handed us something that breaks the log's rules
//!   (non-contiguous entries, an entry over the size limit). Nothing was written.

use std::path::PathBuf;

/// Everything that can go wrong opening, writing, syncing or compacting the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operating-system call failed on `path`; the WAL is poisoned if it was a write or sync.
    #[error("WAL I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the failed call touched.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A record that is not at the torn tail of the last segment is damaged.
    #[error(
        "WAL corrupt in {} at offset {offset}: {reason}; refusing to start (the damage is not a \
         torn tail: move the file aside or restore from a replica)",
        file.display()
    )]
    Corrupt {
        /// The segment file holding the damaged record.
        file: PathBuf,
        /// Byte offset of the damaged record's header within `file`.
        offset: u64,
        /// What the check found (e.g. "checksum mismatch").
        reason: String,
    },
    /// A group's entries jump forward past indexes that no record supplies and no compaction
    /// covers: some records are missing, so the log cannot be trusted.
    #[error(
        "WAL gap in {} at offset {offset}: group {group} expects index {expected_index} next but \
         the record starts at {first_index}; refusing to start (entries are missing: restore \
         from a replica)",
        file.display()
    )]
    Gap {
        /// The segment file holding the record that starts past the gap.
        file: PathBuf,
        /// Byte offset of that record's header.
        offset: u64,
        /// The Raft group whose log has the gap.
        group: u64,
        /// The index the log needed next (last index + 1, or compacted index + 1).
        expected_index: u64,
        /// The index the record actually starts at.
        first_index: u64,
    },
    /// The caller asked to append a record that breaks the log's rules; nothing was written.
    #[error("invalid WAL record for group {group}: {reason}")]
    InvalidRecord {
        /// The group the record belongs to.
        group: u64,
        /// Which rule it broke.
        reason: String,
    },
    /// An earlier write or fsync failed, so what is on disk is unknown; reopen the WAL.
    #[error(
        "WAL unusable after an earlier failure ({0}); reopen it to recover from what is on disk"
    )]
    Poisoned(String),
}

impl WalError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
