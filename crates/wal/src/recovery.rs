//! Rebuilding every group's log from the segments at open.
//!
//! Recovery reads all segments oldest first, forgives damage only at the tail of the last one
//! (overwriting it with zeros in place, durably, so the writer can resume right after the last
//! good record), and replays the records into one [`GroupLog`] per group. A segment's zero tail
//! (preallocated space never written) is its clean end, not damage. It
//! owns the replay rules, which the writer mirrors when it validates appends:
//! - Entries starting at `i` discard the group's entries `>= i`, then extend the log. Entries
//!   starting past the next expected index are a [`WalError::Gap`], unless every missing index is
//!   covered by the group's final compaction (their segment was deleted after compaction).
//! - Compact `(i, t)` drops entries `<= i`; Restore `(i, t)` drops every entry. Both move the
//!   compaction point to `(i, t)` unless it is already past `i` (it never moves back).
//! - HardState and ConfState: the latest wins.
//!
//! Invariant on the result: each group's entries are contiguous and all above its compacted
//! index. Recovery must never panic on file contents and never forgive damage that is followed by
//! more data or that lies in a segment other than the last.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, WalError};
use crate::record::{HardState, LogEntry, Record};
use crate::segment::{self, Scan, SegmentInfo};

/// Everything the WAL holds for one Raft group: what the shard needs to rebuild its raft-rs
/// storage after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupLog {
    /// Latest vote state, if one was ever written.
    pub hard_state: Option<HardState>,
    /// Latest encoded ConfState, if one was ever written.
    pub conf_state: Option<Vec<u8>>,
    /// `(index, term)` of the latest snapshot point; entries up to it are gone.
    pub compacted: Option<(u64, u64)>,
    /// Contiguous entries, all above the compacted index.
    pub entries: Vec<LogEntry>,
}

impl GroupLog {
    /// The index the next Entries record must start at or below.
    pub fn next_index(&self) -> u64 {
        match self.entries.last() {
            Some(last) => last.index + 1,
            None => self.compacted_index() + 1,
        }
    }

    /// The compacted index, 0 if the group was never compacted.
    fn compacted_index(&self) -> u64 {
        self.compacted.map_or(0, |(index, _)| index)
    }

    /// Applies Raft's overwrite rule. `floor` is the group's final compacted index: a jump past
    /// the expected index is allowed only if the skipped entries would be compacted anyway.
    /// Returns the expected index on a gap.
    fn append(&mut self, entries: Vec<LogEntry>, floor: u64) -> Result<(), u64> {
        let Some(first) = entries.first().map(|e| e.index) else {
            return Ok(());
        };
        let expected = self.next_index();
        if first > expected {
            if first > floor.saturating_add(1) {
                return Err(expected);
            }
            self.entries.clear();
        }
        let keep = self.entries.partition_point(|e| e.index < first);
        self.entries.truncate(keep);
        self.entries.extend(entries);
        self.drop_through(self.compacted_index());
        Ok(())
    }

    /// Moves the compaction point to `(index, term)` unless it is already past `index`.
    fn compact(&mut self, index: u64, term: u64) {
        if !matches!(self.compacted, Some((old, _)) if old > index) {
            self.compacted = Some((index, term));
            self.drop_through(index);
        }
    }

    fn restore(&mut self, index: u64, term: u64) {
        self.entries.clear();
        self.compact(index, term);
    }

    fn drop_through(&mut self, index: u64) {
        let drop = self.entries.partition_point(|e| e.index <= index);
        self.entries.drain(..drop);
    }
}

/// Describes the damaged tail recovery cut off the last segment, for a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment whose tail was dropped.
    pub file: PathBuf,
    /// Where the damaged record started; the segment's valid data now ends here, and the file
    /// holds only zeros from here on (it keeps its preallocated length).
    pub offset: u64,
    /// How many bytes were dropped (overwritten with zeros): from `offset` to the last non-zero
    /// byte of the file.
    pub dropped_bytes: u64,
    /// What was wrong with the first dropped record.
    pub reason: String,
}

/// What [`crate::Wal::open`] found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every group that has anything in the WAL, by group id.
    pub groups: BTreeMap<u64, GroupLog>,
    /// The torn tail dropped from the last segment, if there was one. Expected after a crash:
    /// those records were never acknowledged as durable.
    pub truncated_tail: Option<TornTail>,
}

/// Reads the segments in `dir`, zeroing out a torn tail, and replays them. Returns what was found
/// and the bookkeeping for each segment, oldest first (empty if there are no segments).
pub(crate) fn recover(dir: &Path) -> Result<(Recovered, Vec<SegmentInfo>)> {
    let files = segment::list(dir)?;
    check_contiguous(&files)?;
    let mut recovered = Recovered::default();
    let mut infos = Vec::with_capacity(files.len());
    let mut records = Vec::new();
    for (i, (seq, path)) in files.iter().enumerate() {
        let scan = segment::scan(path)?;
        let is_last = i + 1 == files.len();
        if let Some(tail) = forgive_tail(path, &scan, is_last)? {
            recovered.truncated_tail = Some(tail);
        }
        let mut info = SegmentInfo::new(*seq, path.clone());
        info.bytes = scan.good_bytes;
        info.allocated = scan.file_bytes;
        for (offset, record) in scan.records {
            info.track(&record);
            records.push((i, offset, record));
        }
        infos.push(info);
    }
    recovered.groups = replay(records, &files)?;
    Ok((recovered, infos))
}

/// Retained segments are a contiguous run of sequence numbers; a hole is a lost file.
fn check_contiguous(files: &[(u64, PathBuf)]) -> Result<()> {
    for pair in files.windows(2) {
        let ((prev, _), (seq, path)) = (&pair[0], &pair[1]);
        if prev.checked_add(1) != Some(*seq) {
            return Err(WalError::Corrupt {
                file: path.clone(),
                offset: 0,
                reason: format!(
                    "segment sequence jumps from {prev} to {seq}: a segment is missing"
                ),
            });
        }
    }
    Ok(())
}

/// Decides what to do about damage found by a scan: a torn tail of the last segment is
/// overwritten with zeros in place (durably) and reported; anything else is corruption.
///
/// Zeroing rather than truncating keeps the segment preallocated, and it must happen before the
/// writer resumes at `good_bytes`: otherwise, if the new records were shorter than the torn
/// bytes, the torn bytes' remains would follow them and the next open would see damage followed
/// by data, which is corruption.
fn forgive_tail(path: &Path, scan: &Scan, is_last: bool) -> Result<Option<TornTail>> {
    let Some(damage) = &scan.damage else {
        return Ok(None);
    };
    if !(is_last && damage.torn) {
        return Err(WalError::Corrupt {
            file: path.to_path_buf(),
            offset: damage.offset,
            reason: damage.reason.clone(),
        });
    }
    debug_assert_eq!(
        damage.offset, scan.good_bytes,
        "damage must start where good data ends"
    );
    let dropped_bytes = scan.data_end.saturating_sub(scan.good_bytes);
    zero_range(path, scan.good_bytes, dropped_bytes)?;
    let tail = TornTail {
        file: path.to_path_buf(),
        offset: damage.offset,
        dropped_bytes,
        reason: damage.reason.clone(),
    };
    tracing::warn!(
        file = %path.display(),
        offset = tail.offset,
        dropped_bytes = tail.dropped_bytes,
        reason = %tail.reason,
        "WAL: dropped a torn tail left by a crash"
    );
    Ok(Some(tail))
}

/// Overwrites `len` bytes of `path` at `offset` with zeros and makes that durable.
fn zero_range(path: &Path, offset: u64, len: u64) -> Result<()> {
    const CHUNK_BYTES: u64 = 1 << 20;
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    let zeros = vec![0u8; len.min(CHUNK_BYTES) as usize];
    let mut write = || -> std::io::Result<()> {
        file.seek(SeekFrom::Start(offset))?;
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK_BYTES);
            file.write_all(&zeros[..n as usize])?;
            left -= n;
        }
        file.sync_data()
    };
    write().map_err(|e| WalError::io(path, e))
}

/// Replays records (segment index, offset, record) in order into per-group logs.
fn replay(
    records: Vec<(usize, u64, Record)>,
    files: &[(u64, PathBuf)],
) -> Result<BTreeMap<u64, GroupLog>> {
    let floors = final_compaction(&records);
    let mut groups: BTreeMap<u64, GroupLog> = BTreeMap::new();
    for (segment, offset, record) in records {
        let log = groups.entry(record.group()).or_default();
        match record {
            Record::Entries { group, entries } => {
                let first_index = entries.first().map_or(0, |e| e.index);
                let floor = floors.get(&group).copied().unwrap_or(0);
                log.append(entries, floor)
                    .map_err(|expected_index| WalError::Gap {
                        file: files[segment].1.clone(),
                        offset,
                        group,
                        expected_index,
                        first_index,
                    })?;
            }
            Record::HardState { state, .. } => log.hard_state = Some(state),
            Record::ConfState { data, .. } => log.conf_state = Some(data),
            Record::Compact { index, term, .. } => log.compact(index, term),
            Record::Restore { index, term, .. } => log.restore(index, term),
        }
    }
    Ok(groups)
}

/// Each group's highest compaction point anywhere in the WAL.
fn final_compaction(records: &[(usize, u64, Record)]) -> BTreeMap<u64, u64> {
    let mut floors = BTreeMap::new();
    for (_, _, record) in records {
        if let Record::Compact { group, index, .. } | Record::Restore { group, index, .. } = record
        {
            let floor = floors.entry(*group).or_insert(0);
            *floor = (*floor).max(*index);
        }
    }
    floors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<LogEntry> {
        range
            .map(|index| LogEntry {
                index,
                term,
                data: vec![],
            })
            .collect()
    }

    fn indexes(log: &GroupLog) -> Vec<(u64, u64)> {
        log.entries.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn overwrite_discards_the_suffix() {
        let mut log = GroupLog::default();
        log.append(entries(1..=5, 1), 0).unwrap();
        log.append(entries(3..=4, 2), 0).unwrap();
        assert_eq!(indexes(&log), vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
    }

    #[test]
    fn gap_is_refused_unless_compaction_covers_it() {
        let mut log = GroupLog::default();
        log.append(entries(1..=3, 1), 0).unwrap();
        assert_eq!(log.append(entries(6..=7, 1), 0), Err(4));
        log.append(entries(6..=7, 1), 5).unwrap();
        assert_eq!(indexes(&log), vec![(6, 1), (7, 1)]);
    }

    #[test]
    fn compact_keeps_the_suffix_and_restore_does_not() {
        let mut log = GroupLog::default();
        log.append(entries(1..=5, 1), 0).unwrap();
        log.compact(3, 1);
        assert_eq!(indexes(&log), vec![(4, 1), (5, 1)]);
        log.compact(2, 1);
        assert_eq!(log.compacted, Some((3, 1)));
        log.restore(4, 2);
        assert!(log.entries.is_empty());
        assert_eq!((log.compacted, log.next_index()), (Some((4, 2)), 5));
    }

    #[test]
    fn entries_below_the_compaction_point_are_dropped() {
        let mut log = GroupLog::default();
        log.compact(10, 3);
        log.append(entries(8..=12, 3), 10).unwrap();
        assert_eq!(indexes(&log), vec![(11, 3), (12, 3)]);
    }
}
