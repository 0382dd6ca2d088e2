//! The WAL handle: append, group commit, rotation and segment deletion.
//!
//! [`Wal`] owns the active [`SegmentWriter`], the bookkeeping of sealed segments, and a small
//! summary of each group (latest metadata, compaction point, next expected index). It never holds
//! entries in memory: recovery hands them to the caller once, at open.
//!
//! Invariants:
//! - Segments are preallocated to `segment_bytes` and written in place. A batch that does not fit
//!   in the active segment's remaining space rotates first (unless the segment holds nothing but
//!   its head, where rotating would not help: a batch bigger than a whole segment is written
//!   anyway and grows the file). So no segment grows past its preallocated size except to hold
//!   one such batch.
//! - Nothing is fsynced in `append`, except when a batch must rotate first: the old segment is
//!   then fsynced before the new one is created. `commit`/`sync` fsync everything appended so far
//!   at once.
//! - Every group's latest HardState, ConfState and compaction point are in the active segment or
//!   copied to its head, so sealed segments only hold superseded metadata.
//! - A segment is deleted only when everything appended is durable, it is not the active one,
//!   every older segment is deleted, and every entry it holds is at or below its group's
//!   compaction point. Deleting oldest first keeps the retained segments a contiguous run, and
//!   keeps replay order intact: an overwrite in a deleted segment can never be needed to trim
//!   entries in an older, retained one.
//! - After a failed write or fsync the handle is poisoned: the page cache may have dropped our
//!   data, so the only safe way on is to reopen and re-read the disk.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Result, WalError};
use crate::options::{FsyncObserver, SyncPolicy, WalOptions, WalStats};
use crate::record::{self, HardState, Record};
use crate::recovery::{self, GroupLog, Recovered};
use crate::segment::{self, SegmentInfo};
use crate::writer::{SegmentWriter, SPARE_SUFFIX};

/// The encode buffer keeps at most this much capacity between appends, so one huge batch does
/// not pin its memory forever.
const RETAINED_BUFFER_BYTES: usize = 4 << 20;

/// One node's write-ahead log, shared by all of its Raft groups: it is their Raft log.
#[derive(Debug)]
pub struct Wal {
    opts: WalOptions,
    active: SegmentWriter,
    /// Bytes of rotation metadata at the head of the active segment (0 if reopened).
    active_head_bytes: u64,
    sealed: VecDeque<SegmentInfo>,
    groups: BTreeMap<u64, GroupState>,
    buf: Vec<u8>,
    unsynced: bool,
    deadline: Option<Instant>,
    poisoned: Option<String>,
    stats: WalStats,
    fsync_observer: Option<FsyncObserver>,
    /// The next segment, being preallocated on a thread of its own (see
    /// [`SegmentWriter::prepare_spare`]): a rotation adopts it, so the write path never writes
    /// a segment's worth of zeros.
    spare: Option<JoinHandle<Result<PathBuf>>>,
}

/// What the writer must know about a group: its metadata to copy on rotation, and the order
/// rules recovery will apply.
#[derive(Clone, Debug, Default)]
struct GroupState {
    hard_state: Option<HardState>,
    conf_state: Option<Vec<u8>>,
    compacted: Option<(u64, u64)>,
    cursor: Cursor,
}

/// A group's position in its log, mirroring [`GroupLog::next_index`] during replay.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    next_index: u64,
    compacted_index: u64,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            next_index: 1,
            compacted_index: 0,
        }
    }
}

impl Cursor {
    /// Refuses entries that would leave a gap recovery could not tell from lost data.
    fn check(&self, record: &Record) -> Result<()> {
        if let Record::Entries { group, entries } = record {
            if let Some(first) = entries.first().filter(|e| e.index > self.next_index) {
                return Err(WalError::InvalidRecord {
                    group: *group,
                    reason: format!(
                        "entries start at {} but the log's next index is {}",
                        first.index, self.next_index
                    ),
                });
            }
        }
        Ok(())
    }

    fn advance(&mut self, record: &Record) {
        match record {
            Record::Entries { entries, .. } => {
                if let Some(last) = entries.last() {
                    self.next_index = last.index.max(self.compacted_index) + 1;
                }
            }
            Record::Compact { index, .. } if *index > self.compacted_index => {
                self.compacted_index = *index;
                self.next_index = self.next_index.max(index + 1);
            }
            Record::Restore { index, .. } => {
                self.compacted_index = self.compacted_index.max(*index);
                self.next_index = self.compacted_index + 1;
            }
            _ => {}
        }
    }
}

impl GroupState {
    fn from_log(log: &GroupLog) -> Self {
        GroupState {
            hard_state: log.hard_state,
            conf_state: log.conf_state.clone(),
            compacted: log.compacted,
            cursor: Cursor {
                next_index: log.next_index(),
                compacted_index: log.compacted.map_or(0, |(index, _)| index),
            },
        }
    }

    fn remember(&mut self, record: &Record) {
        self.cursor.advance(record);
        match record {
            Record::HardState { state, .. } => self.hard_state = Some(*state),
            Record::ConfState { data, .. } => self.conf_state = Some(data.clone()),
            Record::Compact { index, term, .. } | Record::Restore { index, term, .. } => {
                if !matches!(self.compacted, Some((old, _)) if old > *index) {
                    self.compacted = Some((*index, *term));
                }
            }
            Record::Entries { .. } => {}
        }
    }

    /// The records that restate this group's metadata at the head of a new segment.
    fn head_records(&self, group: u64) -> impl Iterator<Item = Record> + '_ {
        let hard = self
            .hard_state
            .map(|state| Record::HardState { group, state });
        let conf = self
            .conf_state
            .clone()
            .map(|data| Record::ConfState { group, data });
        let compact = self
            .compacted
            .map(|(index, term)| Record::Compact { group, index, term });
        hard.into_iter().chain(conf).chain(compact)
    }
}

impl Wal {
    /// Opens (or creates) the WAL in `opts.dir` and recovers every group's log. A torn tail left
    /// by a crash is zeroed out and reported in [`Recovered::truncated_tail`]; any other damage
    /// is an error, because starting anyway could silently lose acknowledged writes.
    ///
    /// The writer resumes right after the last good record of the last segment, unless that
    /// segment is not preallocated to `opts.segment_bytes` (written by a version without
    /// preallocation, or under a smaller `segment_bytes`) or is already full: then it rotates to
    /// a fresh preallocated segment at once.
    pub fn open(opts: WalOptions) -> Result<(Wal, Recovered)> {
        fs::create_dir_all(&opts.dir).map_err(|e| WalError::io(&opts.dir, e))?;
        remove_spares(&opts.dir)?;
        let (recovered, mut infos) = recovery::recover(&opts.dir)?;
        let mut stats = WalStats::default();
        let mut rotate_now = false;
        let active = match infos.pop() {
            Some(info) => {
                let full = info.bytes > 0 && info.bytes >= opts.segment_bytes;
                rotate_now = info.allocated < opts.segment_bytes || full;
                SegmentWriter::reopen(info)?
            }
            None => {
                let writer = SegmentWriter::create(&opts.dir, 1, opts.segment_bytes)?;
                segment::sync_dir(&opts.dir)?;
                stats.fsyncs += 2;
                writer
            }
        };
        let groups = recovered
            .groups
            .iter()
            .map(|(id, log)| (*id, GroupState::from_log(log)))
            .collect();
        let mut wal = Wal {
            opts,
            active,
            active_head_bytes: 0,
            sealed: infos.into(),
            groups,
            buf: Vec::new(),
            unsynced: false,
            deadline: None,
            poisoned: None,
            stats,
            fsync_observer: None,
            spare: None,
        };
        if rotate_now {
            wal.rotate()?;
        } else if !wal.sealed.is_empty() {
            wal.restate_metadata()?;
        }
        wal.prepare_spare();
        Ok((wal, recovered))
    }

    /// Buffers `records` and writes them to the OS in one write, without fsync. Put all groups'
    /// records from one Raft Ready round in one call so one `commit` makes them all durable.
    /// Records are validated first: on [`WalError::InvalidRecord`] nothing is written.
    ///
    /// If the batch does not fit in the active segment's remaining preallocated space, the
    /// segment is fsynced (making earlier appends durable too) and the WAL rotates before the
    /// batch is written.
    pub fn append(&mut self, records: &[Record]) -> Result<()> {
        self.check_usable()?;
        self.check_order(records)?;
        self.buf.clear();
        record::encode_records(records, &mut self.buf)?;
        if !self.fits(self.buf.len() as u64) {
            if self.unsynced {
                self.sync_active()?;
            }
            self.rotate()?;
        }
        self.write_buf()?;
        for record in records {
            self.active.info_mut().track(record);
            self.groups
                .entry(record.group())
                .or_default()
                .remember(record);
        }
        self.stats.appends += 1;
        self.stats.records += records.len() as u64;
        Ok(())
    }

    /// Makes everything appended so far durable according to the sync policy. Returns true if
    /// it is now durable (the caller may send messages and acknowledge clients that depend on
    /// it); false if an [`SyncPolicy::IntervalMs`] sync is still pending.
    pub fn commit(&mut self) -> Result<bool> {
        self.check_usable()?;
        if !self.unsynced {
            return Ok(true);
        }
        let due = match self.opts.sync {
            SyncPolicy::Always => true,
            SyncPolicy::IntervalMs(_) => self.deadline.is_some_and(|d| Instant::now() >= d),
        };
        if due {
            self.sync()?;
        }
        Ok(due)
    }

    /// Forces an fdatasync of everything appended now; used when a
    /// [`Wal::sync_deadline`] passes and at shutdown. Rotates to a new segment afterwards if
    /// the active one is full.
    pub fn sync(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.unsynced {
            self.sync_active()?;
        }
        let bytes = self.active.info().bytes;
        if bytes >= self.opts.segment_bytes && bytes > self.active_head_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// When an [`SyncPolicy::IntervalMs`] policy has unsynced data: the instant by which
    /// [`Wal::sync`] should be called. None when everything is durable (or under `Always`).
    pub fn sync_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Records that `group`'s log up to `index` is covered by a snapshot, makes everything
    /// durable (one fsync, whatever the policy: compaction is rare), and deletes the oldest
    /// segments that no longer hold anything needed.
    pub fn compact(&mut self, group: u64, index: u64, term: u64) -> Result<()> {
        self.append(&[Record::Compact { group, index, term }])?;
        self.sync()?;
        self.delete_compacted_segments()
    }

    /// From now on, tells `observer` how long each segment fdatasync took (fsyncs during
    /// `open` are not observed).
    pub fn observe_fsyncs(&mut self, observer: FsyncObserver) {
        self.fsync_observer = Some(observer);
    }

    /// Counters for INFO and metrics.
    pub fn stats(&self) -> WalStats {
        let all = || self.sealed.iter().chain([self.active.info()]);
        WalStats {
            segments: self.sealed.len() as u64 + 1,
            disk_bytes: all().map(|s| s.bytes).sum(),
            allocated_bytes: all().map(|s| s.allocated).sum(),
            ..self.stats
        }
    }

    /// Whether a batch of `len` bytes may be written to the active segment without rotating:
    /// it fits in the preallocated space, or the segment holds nothing but its head (a fresh
    /// segment would not have more room, so the batch is written and grows the file).
    fn fits(&self, len: u64) -> bool {
        let bytes = self.active.info().bytes;
        len == 0
            || bytes.saturating_add(len) <= self.opts.segment_bytes
            || bytes <= self.active_head_bytes
    }

    fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(reason) => Err(WalError::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }

    /// Remembers a write or sync failure so no later call trusts the page cache.
    fn poison(&mut self, err: WalError) -> WalError {
        tracing::error!(error = %err, "WAL write or sync failed; the WAL must be reopened");
        self.poisoned = Some(err.to_string());
        err
    }

    /// Applies the writer's order rules to the batch as a whole, before anything is written.
    fn check_order(&self, records: &[Record]) -> Result<()> {
        let mut cursors: BTreeMap<u64, Cursor> = BTreeMap::new();
        for record in records {
            let group = record.group();
            let cursor = cursors.entry(group).or_insert_with(|| {
                self.groups
                    .get(&group)
                    .map_or_else(Cursor::default, |g| g.cursor)
            });
            cursor.check(record)?;
            cursor.advance(record);
        }
        Ok(())
    }

    /// Writes the encode buffer to the active segment and marks it unsynced.
    fn write_buf(&mut self) -> Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let result = self.write_active(&buf);
        if buf.capacity() <= RETAINED_BUFFER_BYTES {
            self.buf = buf;
        }
        result
    }

    /// Writes `bytes` to the active segment and marks it unsynced.
    fn write_active(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if let Err(err) = self.active.write(bytes) {
            return Err(self.poison(err));
        }
        self.stats.bytes_written += bytes.len() as u64;
        self.unsynced = true;
        if let SyncPolicy::IntervalMs(ms) = self.opts.sync {
            let interval = Duration::from_millis(ms);
            self.deadline
                .get_or_insert_with(|| Instant::now() + interval);
        }
        Ok(())
    }

    fn sync_active(&mut self) -> Result<()> {
        match self.active.sync() {
            Ok(took) => {
                self.stats.fsyncs += 1;
                self.stats.last_fsync = Some(took);
                if let Some(observer) = &self.fsync_observer {
                    observer.observe(took);
                }
                self.unsynced = false;
                self.deadline = None;
                Ok(())
            }
            Err(err) => Err(self.poison(err)),
        }
    }

    /// Seals the (already synced) active segment and starts the next one, preallocated, whose
    /// head restates every group's metadata. The new file and its head are made durable before
    /// returning. Any failure poisons the handle: a half-made next segment may be on disk, and
    /// writing on to the old one would leave unsynced data in what recovery will treat as an
    /// older segment, where no torn tail is forgiven.
    fn rotate(&mut self) -> Result<()> {
        match self.try_rotate() {
            Ok(()) => Ok(()),
            Err(err) => Err(self.poison(err)),
        }
    }

    fn try_rotate(&mut self) -> Result<()> {
        assert!(
            !self.unsynced,
            "rotation must follow a sync of the old segment"
        );
        let seq = self.active.info().seq + 1;
        let (dir, size) = (&self.opts.dir, self.opts.segment_bytes);
        // The spare is usually ready; if not, waiting for it is no slower than starting over.
        let adopted = match self.spare.take().map(|thread| thread.join()) {
            Some(Ok(Ok(path))) => SegmentWriter::adopt_spare(&path, dir, seq, size)
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot use the spare WAL segment; creating one");
                    let _ = fs::remove_file(&path);
                })
                .ok(),
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "the spare WAL segment failed; creating one");
                None
            }
            Some(Err(_)) => {
                tracing::warn!("the spare WAL segment's thread panicked; creating one");
                None
            }
            None => None,
        };
        let next = match adopted {
            Some(writer) => writer,
            None => {
                self.stats.fsyncs += 1;
                SegmentWriter::create(dir, seq, size)?
            }
        };
        segment::sync_dir(dir)?;
        self.stats.fsyncs += 1;
        let sealed = std::mem::replace(&mut self.active, next).into_info();
        tracing::debug!(
            sealed = sealed.seq,
            active = seq,
            "WAL rotated to a new segment"
        );
        self.sealed.push_back(sealed);
        let head: Vec<Record> = self
            .groups
            .iter()
            .flat_map(|(id, g)| g.head_records(*id))
            .collect();
        let mut bytes = Vec::new();
        record::encode_records(&head, &mut bytes)?;
        self.active_head_bytes = bytes.len() as u64;
        self.write_active(&bytes)?;
        if self.unsynced {
            self.sync_active()?;
        }
        self.prepare_spare();
        Ok(())
    }

    /// Starts preallocating the next segment on a thread of its own, unless one is under way.
    /// Without a thread, the next rotation preallocates in the write path, as it always could.
    fn prepare_spare(&mut self) {
        if self.spare.is_some() || !self.opts.spare_segment {
            return;
        }
        let (dir, size) = (self.opts.dir.clone(), self.opts.segment_bytes);
        self.spare = std::thread::Builder::new()
            .name("wal-spare".into())
            .spawn(move || SegmentWriter::prepare_spare(&dir, size))
            .ok();
    }

    /// Writes every group's latest metadata into the active segment and syncs it. Needed at
    /// open: a crash right after a rotation can leave the active segment without its head, and
    /// once compaction deletes the older segments their metadata would be gone.
    fn restate_metadata(&mut self) -> Result<()> {
        let head: Vec<Record> = self
            .groups
            .iter()
            .flat_map(|(id, g)| g.head_records(*id))
            .collect();
        if head.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        record::encode_records(&head, &mut bytes)?;
        if !self.fits(bytes.len() as u64) {
            return self.rotate();
        }
        self.write_active(&bytes)?;
        self.sync_active()
    }

    /// Deletes sealed segments oldest first while every entry they hold is compacted away.
    fn delete_compacted_segments(&mut self) -> Result<()> {
        assert!(
            !self.unsynced,
            "segments may only be deleted once everything is durable"
        );
        while let Some(oldest) = self.sealed.front() {
            if !self.is_obsolete(oldest) {
                break;
            }
            fs::remove_file(&oldest.path).map_err(|e| WalError::io(&oldest.path, e))?;
            tracing::debug!(segment = oldest.seq, "WAL deleted a compacted segment");
            self.sealed.pop_front();
            segment::sync_dir(&self.opts.dir)?;
            self.stats.fsyncs += 1;
        }
        Ok(())
    }

    fn is_obsolete(&self, segment: &SegmentInfo) -> bool {
        segment.max_index.iter().all(|(group, max)| {
            self.groups
                .get(group)
                .is_some_and(|g| g.cursor.compacted_index >= *max && g.compacted.is_some())
        })
    }

    /// The directory this WAL lives in.
    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }
}

/// Deletes spare segments left by an earlier run (a crash, or a WAL dropped while preparing
/// one): they hold nothing, and a new one is prepared.
fn remove_spares(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let path = entry.map_err(|e| WalError::io(dir, e))?.path();
        if path.to_string_lossy().ends_with(SPARE_SUFFIX) {
            fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
        }
    }
    Ok(())
}
