//! Helpers shared by the scenario tests: building records, opening WALs, poking at files.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use tinkerdb_wal::{GroupLog, HardState, LogEntry, Record, Recovered, SyncPolicy, Wal, WalOptions};

/// Segment size of [`open`]: small, because every segment is preallocated (written with zeros)
/// and tests copy and rewrite whole segment files.
pub const SEGMENT_BYTES: u64 = 64 << 10;

/// Options for a WAL in `dir` with the given segment size.
pub fn options(dir: &Path, segment_bytes: u64) -> WalOptions {
    WalOptions {
        dir: dir.to_path_buf(),
        segment_bytes,
        sync: SyncPolicy::Always,
        spare_segment: true,
    }
}

/// Opens with [`SEGMENT_BYTES`] segments, panicking on error (tests only).
pub fn open(dir: &Path) -> (Wal, Recovered) {
    Wal::open(options(dir, SEGMENT_BYTES)).expect("open WAL")
}

/// A recognisable entry: data is derived from group, index and term.
pub fn entry(group: u64, index: u64, term: u64) -> LogEntry {
    let data = format!("g{group}-i{index}-t{term}").into_bytes();
    LogEntry { index, term, data }
}

/// An Entries record for indexes `first..=last` in `term`.
pub fn entries(group: u64, first: u64, last: u64, term: u64) -> Record {
    let entries = (first..=last).map(|i| entry(group, i, term)).collect();
    Record::Entries { group, entries }
}

pub fn hard_state(group: u64, term: u64, vote: u64, commit: u64) -> Record {
    Record::HardState {
        group,
        state: HardState { term, vote, commit },
    }
}

pub fn conf_state(group: u64, data: &[u8]) -> Record {
    Record::ConfState {
        group,
        data: data.to_vec(),
    }
}

/// Appends and commits one batch.
pub fn write(wal: &mut Wal, records: &[Record]) {
    wal.append(records).expect("append");
    assert!(
        wal.commit().expect("commit"),
        "Always policy commits at once"
    );
}

/// `(index, term)` pairs of a group's recovered log.
pub fn index_terms(log: &GroupLog) -> Vec<(u64, u64)> {
    log.entries.iter().map(|e| (e.index, e.term)).collect()
}

/// Segment files in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).expect("metadata").len()
}

/// Length of a segment's data: the file length minus its zero tail (the preallocated space).
/// Test records never end in a zero byte, so this is where the last record ends.
pub fn data_len(path: &Path) -> u64 {
    let bytes = fs::read(path).expect("read");
    (bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count()) as u64
}

/// What a crash leaves of a preallocated segment whose writes from `offset` on never landed:
/// zeros from `offset` to the end of the file (which keeps its length).
pub fn zero_from(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset as usize..].fill(0);
    fs::write(path, bytes).expect("write");
}

/// Rewrites a segment as the version before preallocation wrote it: the file ends at its data.
pub fn unpreallocate(path: &Path) {
    let len = data_len(path);
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .expect("truncate");
}

/// Whether bytes `from..` of `path` are all zero.
pub fn zeros_from(path: &Path, from: u64) -> bool {
    fs::read(path).expect("read")[from as usize..]
        .iter()
        .all(|b| *b == 0)
}

/// Copies every file of `from` into a fresh temporary directory.
pub fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for file in fs::read_dir(from).expect("read dir") {
        let path = file.expect("dir entry").path();
        fs::copy(&path, to.path().join(path.file_name().expect("name"))).expect("copy");
    }
    to
}

/// Flips bit `bit` of byte `offset` in `path`.
pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset as usize] ^= 1 << bit;
    fs::write(path, bytes).expect("write");
}
