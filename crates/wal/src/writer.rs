//! The active segment: the only file the WAL writes to.
//!
//! A [`SegmentWriter`] owns the open file of the newest segment and its bookkeeping. Each call to
//! [`SegmentWriter::write`] is one `write_all` of an already-encoded batch (one syscall in the
//! common case); [`SegmentWriter::sync`] is one `fdatasync`. It never decides *when* to sync or
//! rotate: that is [`crate::Wal`]'s policy.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Result, WalError};
use crate::segment::{self, SegmentInfo};

/// The open, newest segment.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    file: File,
    info: SegmentInfo,
}

impl SegmentWriter {
    /// Creates (or empties) segment `seq` in `dir`. The caller syncs the directory.
    pub fn create(dir: &Path, seq: u64) -> Result<Self> {
        let path = dir.join(segment::file_name(seq));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| WalError::io(&path, e))?;
        let info = SegmentInfo::new(seq, path);
        Ok(SegmentWriter { file, info })
    }

    /// Reopens a recovered segment to append after its last good record.
    pub fn reopen(info: SegmentInfo) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(&info.path)
            .map_err(|e| WalError::io(&info.path, e))?;
        let on_disk = file
            .metadata()
            .map_err(|e| WalError::io(&info.path, e))?
            .len();
        assert_eq!(
            on_disk, info.bytes,
            "recovery must leave the last segment ending at its last good record"
        );
        Ok(SegmentWriter { file, info })
    }

    /// Hands `bytes` to the OS. Not durable until [`SegmentWriter::sync`].
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| WalError::io(&self.info.path, e))?;
        self.info.bytes += bytes.len() as u64;
        Ok(())
    }

    /// `fdatasync`s the segment and reports how long it took.
    pub fn sync(&mut self) -> Result<Duration> {
        let start = Instant::now();
        self.file
            .sync_data()
            .map_err(|e| WalError::io(&self.info.path, e))?;
        Ok(start.elapsed())
    }

    /// The segment's bookkeeping.
    pub fn info(&self) -> &SegmentInfo {
        &self.info
    }

    /// The segment's bookkeeping, to note the entries just written.
    pub fn info_mut(&mut self) -> &mut SegmentInfo {
        &mut self.info
    }

    /// Closes the file, keeping the bookkeeping for the now sealed segment.
    pub fn into_info(self) -> SegmentInfo {
        self.info
    }
}
