//! How the WAL is configured, and what it reports.

use std::path::PathBuf;
use std::time::Duration;

/// Default segment size: large enough that rotation (preallocating the next segment by writing
/// this many zeros, and four fsyncs) is rare, small enough that a compacted segment frees disk
/// space soon.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// When appended records become durable, and so what survives a power loss.
///
/// A process crash (kill -9, panic) loses nothing that `append` returned for, under either
/// policy: the bytes are in the OS page cache. Only a power loss or kernel crash depends on this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `commit` does one `fdatasync` before returning true. Everything committed survives power
    /// loss. This is what Raft's safety argument assumes.
    #[default]
    Always,
    /// `commit` syncs only once the oldest unsynced append is this many milliseconds old;
    /// otherwise it returns false and the caller must call `sync` by `sync_deadline`. If the
    /// caller acknowledges before durability, a power loss can drop up to the interval's worth of
    /// acknowledged entries and votes on this node. That is safe only if fewer than a quorum of
    /// replicas lose power at once; a node that lost a vote could vote twice in one term.
    IntervalMs(u64),
}

/// Everything needed to open the WAL. One struct, one place to configure it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Directory holding the segment files (created if missing). One WAL per directory: the
    /// caller must not open it twice at once.
    pub dir: PathBuf,
    /// Size of each segment file: new segments are preallocated (filled with zeros) to this
    /// size, and the WAL rotates before a batch that would not fit in the remaining space, or
    /// after a sync that leaves the segment full. Only a single batch bigger than a whole
    /// segment makes a file grow past it. Each segment costs this many bytes of zeros, written
    /// ahead of time with `spare_segment` (else at the rotation, in the write path), so keep it
    /// in the tens of MiB at most.
    pub segment_bytes: u64,
    /// When appends become durable.
    pub sync: SyncPolicy,
    /// Preallocate the next segment on a thread of its own, so that a rotation is a rename
    /// (one more segment's worth of disk). Off where something else owns the directory's
    /// contents between opens (the cluster simulator rebuilds it after each simulated crash).
    pub spare_segment: bool,
}

impl WalOptions {
    /// Options with the default segment size and [`SyncPolicy::Always`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalOptions {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            sync: SyncPolicy::Always,
            spare_segment: true,
        }
    }
}

/// Told the duration of every segment `fdatasync`, on the thread that synced, so the caller
/// can keep a latency histogram ([`WalStats`] holds only the latest). It runs in the commit
/// path: it must be cheap and must not block.
pub struct FsyncObserver(Box<dyn Fn(Duration) + Send>);

impl FsyncObserver {
    /// Wraps the function to call.
    pub fn new(observe: impl Fn(Duration) + Send + 'static) -> FsyncObserver {
        FsyncObserver(Box::new(observe))
    }

    pub(crate) fn observe(&self, took: Duration) {
        (self.0)(took);
    }
}

impl std::fmt::Debug for FsyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsyncObserver")
    }
}

/// Counters for INFO and metrics. Counts are since open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Calls to `append` that succeeded.
    pub appends: u64,
    /// Records appended (before splitting oversized Entries).
    pub records: u64,
    /// Bytes written to segments, including rotation's metadata copies.
    pub bytes_written: u64,
    /// `fdatasync`/`fsync` calls on segments and on the directory.
    pub fsyncs: u64,
    /// Segment files on disk.
    pub segments: u64,
    /// Bytes of valid log in all segment files (records, not the unwritten preallocated space).
    pub disk_bytes: u64,
    /// Bytes in all segment files, preallocated space included: what the WAL takes on disk.
    pub allocated_bytes: u64,
    /// How long the latest segment `fdatasync` took: the floor of commit latency.
    pub last_fsync: Option<Duration>,
}
