//! Segment files: naming, listing, reading, and what we remember about each.
//!
//! A segment is `dir/<20-digit zero-padded sequence>.log`; sequences start at 1 and the retained
//! segments always form a contiguous run (old ones are deleted oldest first), so a missing number
//! in the middle means a lost file. Only the newest segment is ever written. Segments are
//! preallocated (filled with zeros to the rotation size when created), so a segment's data ends
//! where only zero bytes remain, not at the end of the file. This module reads whole segments and
//! splits them into records; it never writes segment contents.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Result, WalError};
use crate::record::{data_end, decode_frame, Frame, Record};

/// Characters in a segment's sequence number, so names sort in sequence order.
const SEQUENCE_DIGITS: usize = 20;

/// What the WAL remembers about one segment, rebuilt from its records at open.
#[derive(Debug)]
pub(crate) struct SegmentInfo {
    /// Sequence number from the file name.
    pub seq: u64,
    /// Full path of the file.
    pub path: PathBuf,
    /// Bytes of valid records: where the next record goes (for the active segment) and where
    /// the zero tail starts. Less than `allocated` in a preallocated segment.
    pub bytes: u64,
    /// Length of the file: its preallocated size, or more if a batch bigger than a segment grew
    /// it. Segments written before preallocation existed are exactly `bytes` long.
    pub allocated: u64,
    /// For each group with entries here, the highest entry index this segment holds. The segment
    /// may be deleted once every group's compacted index has reached its maximum.
    pub max_index: BTreeMap<u64, u64>,
}

impl SegmentInfo {
    /// An empty segment's bookkeeping.
    pub fn new(seq: u64, path: PathBuf) -> Self {
        SegmentInfo {
            seq,
            path,
            bytes: 0,
            allocated: 0,
            max_index: BTreeMap::new(),
        }
    }

    /// Notes the entries of `record` as living in this segment.
    pub fn track(&mut self, record: &Record) {
        if let Record::Entries { group, entries } = record {
            if let Some(last) = entries.last() {
                let max = self.max_index.entry(*group).or_insert(0);
                *max = (*max).max(last.index);
            }
        }
    }
}

/// The file name of segment `seq`.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:0width$}.log", width = SEQUENCE_DIGITS)
}

/// The sequence number of a segment file name, or None for any other file.
fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    let all_digits = digits.len() == SEQUENCE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| digits.parse().ok()).flatten()
}

/// The segments in `dir`, oldest first. Other files are ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) {
            found.push((seq, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(found)
}

/// Makes creations and deletions of files in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, e))
}

/// A segment's records, and where and why reading stopped early if it did.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Good records with the byte offset of each frame.
    pub records: Vec<(u64, Record)>,
    /// Offset just past the last good record.
    pub good_bytes: u64,
    /// Offset just past the last non-zero byte: from here to the end the file is all zeros.
    /// At most `good_bytes` unless there is damage (a good record may itself end in zeros).
    pub data_end: u64,
    /// Bytes in the file.
    pub file_bytes: u64,
    /// The first damaged frame, if any.
    pub damage: Option<Damage>,
}

/// A damaged frame found while scanning.
#[derive(Debug)]
pub(crate) struct Damage {
    /// Offset of the frame's header.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
    /// Whether it looks like an interrupted final write (see [`Frame::Bad`]).
    pub torn: bool,
}

/// Reads the whole segment at `path` and splits it into records, stopping at the first damage or
/// where only zero bytes remain (the clean end of a preallocated segment; an all-zero frame header
/// never passes its checksum, so zeros cannot be mistaken for a record). We keep it simple and read a
/// segment whole: segments are bounded by the rotation size, or by one batch if that is bigger.
pub(crate) fn scan(path: &Path) -> Result<Scan> {
    let bytes = fs::read(path).map_err(|e| WalError::io(path, e))?;
    let data_end = data_end(&bytes);
    let mut records = Vec::new();
    let mut offset = 0usize;
    let mut damage = None;
    while offset < data_end {
        match decode_frame(&bytes[offset..]) {
            Frame::Good { record, len } => {
                records.push((offset as u64, record));
                offset += len;
            }
            Frame::Bad { reason, torn } => {
                let offset = offset as u64;
                damage = Some(Damage {
                    offset,
                    reason,
                    torn,
                });
                break;
            }
        }
    }
    Ok(Scan {
        records,
        good_bytes: offset as u64,
        data_end: data_end as u64,
        file_bytes: bytes.len() as u64,
        damage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_sort() {
        assert_eq!(file_name(1), "00000000000000000001.log");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("1.log"), None);
        assert_eq!(parse_file_name("0000000000000000000a.log"), None);
        assert_eq!(parse_file_name("99999999999999999999.log"), None);
        assert_eq!(parse_file_name("00000000000000000001.log.tmp"), None);
    }
}
