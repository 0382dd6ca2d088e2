//! The active segment: the only file the WAL writes to.
//!
//! A [`SegmentWriter`] owns the open file of the newest segment and its bookkeeping. A new
//! segment is preallocated: [`SegmentWriter::create`] fills it with zeros up to the rotation size
//! by really writing them (not `set_len` or `fallocate`, which leave holes or unwritten extents
//! whose first write again needs a journal commit), then `fsync`s it. Records then overwrite
//! those zeros in place from offset 0, so the `fdatasync` of a commit has no file size or extent
//! metadata to commit, only data (on ext4 we measured ~6,500 such 4 KiB commits/s against
//! ~1,900/s when appending to a growing file).
//!
//! Each call to [`SegmentWriter::write`] is one `write_all` of an already-encoded batch at the
//! write position (one syscall in the common case); [`SegmentWriter::sync`] is one `fdatasync`.
//! It never decides *when* to sync or rotate, nor whether a batch fits: that is
//! [`crate::Wal`]'s policy. A batch written past the preallocated size grows the file.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Result, WalError};
use crate::segment::{self, SegmentInfo};

/// Zeros are written in chunks of this size when preallocating.
const PREALLOCATE_CHUNK_BYTES: u64 = 1 << 20;

/// Longest pause between two chunks of a spare's zeros ([`Pace::Gentle`]).
const GENTLE_PAUSE_MAX: Duration = Duration::from_millis(20);

/// Suffix of a spare segment prepared in the background ([`SegmentWriter::prepare_spare`]):
/// not a segment name, so recovery never reads one, and the WAL deletes them when it opens.
pub(crate) const SPARE_SUFFIX: &str = ".spare";

/// Numbers spare files, so that a spare still being written by a WAL that was dropped never
/// shares a name with a newer one.
static NEXT_SPARE: AtomicU64 = AtomicU64::new(0);

/// The open, newest segment.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    file: File,
    info: SegmentInfo,
}

impl SegmentWriter {
    /// Creates (or empties) segment `seq` in `dir`, preallocated to `size` bytes of zeros and
    /// `fsync`ed (one fsync, which the caller counts), positioned to write at offset 0. The
    /// caller syncs the directory before writing records to it.
    pub fn create(dir: &Path, seq: u64, size: u64) -> Result<Self> {
        let path = dir.join(segment::file_name(seq));
        let file = create_preallocated(&path, size, Pace::Urgent)?;
        let mut info = SegmentInfo::new(seq, path);
        info.allocated = size;
        Ok(SegmentWriter { file, info })
    }

    /// Blocking (it writes `size` bytes): creates a spare segment file in `dir`, preallocated and
    /// `fsync`ed as [`SegmentWriter::create`] would, for a later rotation to adopt. Run off the
    /// write path, so that a rotation is a rename instead of writing a whole segment of zeros.
    pub fn prepare_spare(dir: &Path, size: u64) -> Result<PathBuf> {
        let n = NEXT_SPARE.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("next-{}-{n}{SPARE_SUFFIX}", std::process::id()));
        if let Err(e) = create_preallocated(&path, size, Pace::Gentle) {
            // A part-written spare (a full disk) must not keep the room the next one needs.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Makes the spare file `spare` (from [`SegmentWriter::prepare_spare`] with the same `size`)
    /// segment `seq` in `dir`, positioned to write at offset 0. The caller syncs the directory
    /// before writing records to it, as after [`SegmentWriter::create`].
    pub fn adopt_spare(spare: &Path, dir: &Path, seq: u64, size: u64) -> Result<Self> {
        let on_disk = std::fs::metadata(spare)
            .map_err(|e| WalError::io(spare, e))?
            .len();
        if on_disk != size {
            return Err(WalError::io(
                spare,
                std::io::Error::other(format!("spare segment holds {on_disk} bytes, not {size}")),
            ));
        }
        let path = dir.join(segment::file_name(seq));
        std::fs::rename(spare, &path).map_err(|e| WalError::io(&path, e))?;
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| WalError::io(&path, e))?;
        let mut info = SegmentInfo::new(seq, path);
        info.allocated = size;
        Ok(SegmentWriter { file, info })
    }

    /// Reopens a recovered segment to write after its last good record, overwriting the zeros
    /// that follow it (recovery has already zeroed any torn tail).
    pub fn reopen(info: SegmentInfo) -> Result<Self> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(&info.path)
            .map_err(|e| WalError::io(&info.path, e))?;
        let on_disk = file
            .metadata()
            .map_err(|e| WalError::io(&info.path, e))?
            .len();
        assert!(
            on_disk >= info.bytes && on_disk == info.allocated,
            "recovery must describe the last segment as it is on disk"
        );
        file.seek(SeekFrom::Start(info.bytes))
            .map_err(|e| WalError::io(&info.path, e))?;
        Ok(SegmentWriter { file, info })
    }

    /// Hands `bytes` to the OS at the write position. Not durable until
    /// [`SegmentWriter::sync`].
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| WalError::io(&self.info.path, e))?;
        self.info.bytes += bytes.len() as u64;
        self.info.allocated = self.info.allocated.max(self.info.bytes);
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

/// How fast zeros are written when preallocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// As fast as the disk takes them: a rotation (or the first segment) waits for this file.
    Urgent,
    /// A spare, written while the active segment takes commits on the same disk. Each chunk is
    /// made durable before the next is written, followed by a pause as long as that took (at
    /// most [`GENTLE_PAUSE_MAX`]). Written at full speed, a segment's worth of dirty pages
    /// reaches the disk as one burst that every commit's `fdatasync` (ours, and on a shared
    /// disk every other process's) queues behind. Measured in a three-node cluster on one disk
    /// (SET at `-P 16`): the round with a rotation had a p99 of 16-28 ms at full speed, 11-13 ms
    /// paced, against 4-7 ms in rounds without; throughput was the same either way.
    Gentle,
}

/// Creates (or empties) the file at `path` and preallocates it to `size` zeros, durably.
fn create_preallocated(path: &Path, size: u64, pace: Pace) -> Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    preallocate(&mut file, size, pace).map_err(|e| WalError::io(path, e))?;
    Ok(file)
}

/// Writes `size` zero bytes to the (empty) `file`, makes them and the file's size durable, and
/// rewinds to offset 0.
fn preallocate(file: &mut File, size: u64, pace: Pace) -> std::io::Result<()> {
    let zeros = vec![0u8; size.min(PREALLOCATE_CHUNK_BYTES) as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(PREALLOCATE_CHUNK_BYTES);
        let started = Instant::now();
        file.write_all(&zeros[..n as usize])?;
        left -= n;
        if pace == Pace::Gentle && left > 0 {
            file.sync_data()?;
            std::thread::sleep(started.elapsed().min(GENTLE_PAUSE_MAX));
        }
    }
    file.sync_all()?;
    file.seek(SeekFrom::Start(0))?;
    Ok(())
}
