//! One node's simulated disk: its WAL as a list of records, and its snapshot folder.
//!
//! The WAL lives in memory as durable batches (fsynced) and pending records (appended, not yet
//! fsynced), because that split is what a crash is about. A crash keeps a random prefix of the
//! pending records (the part of the last write that reached the platter) and may tear the last
//! record of that prefix. A restart then goes through the *real* WAL: the surviving records are
//! written into a fresh folder with [`Wal`], the torn record is damaged on disk, and
//! [`Wal::open`] recovers them, torn-tail handling included. So recovery is exercised exactly as
//! in production, while the simulation itself stays in memory between crashes.
//!
//! Snapshot files live in a real folder that survives crashes: `SnapshotStore` fsyncs them
//! before the rename, so a crash never loses or tears a snapshot.
//!
//! Invariants: only pending records can be lost or torn; a torn record is always one of them
//! (so never an acknowledged one), and recovery must report it as a torn tail.

use std::fs;
use std::path::{Path, PathBuf};

use tinkerdb_wal::{GroupLog, Record, SyncPolicy, Wal, WalOptions};

use super::rng::Rng;

/// Small segments, so a run rotates segments and deletes compacted ones.
const SEGMENT_BYTES: u64 = 32 << 10;

/// Bytes of a WAL frame header: `[u32 len][u32 crc][u8 type]`.
const FRAME_HEADER_BYTES: usize = 9;

/// What survived the last crash beyond the durable records.
#[derive(Debug, Default)]
struct CrashTail {
    /// A prefix of the records that were pending at the crash.
    kept: Vec<Record>,
    /// Whether the last of `kept` is torn (half written) and so lost.
    torn: bool,
}

/// A node's disk.
#[derive(Debug)]
pub struct Disk {
    root: PathBuf,
    durable: Vec<Vec<Record>>,
    pending: Vec<Record>,
    tail: CrashTail,
}

impl Disk {
    /// An empty disk in `root` (created).
    pub fn new(root: &Path) -> Disk {
        fs::create_dir_all(root).expect("create the simulated node's folder");
        Disk {
            root: root.to_path_buf(),
            durable: Vec::new(),
            pending: Vec::new(),
            tail: CrashTail::default(),
        }
    }

    /// The node's snapshot folder (survives crashes).
    pub fn snapshot_dir(&self) -> PathBuf {
        self.root.join("snap")
    }

    /// `Wal::append`: the records are written, not yet durable.
    pub fn append(&mut self, records: Vec<Record>) {
        self.pending.extend(records);
    }

    /// `Wal::commit` under `SyncPolicy::Always`: everything appended becomes durable.
    pub fn commit(&mut self) {
        if !self.pending.is_empty() {
            self.durable.push(std::mem::take(&mut self.pending));
        }
    }

    /// `Wal::compact`: a Compact record, durable at once.
    pub fn compact(&mut self, group: u64, index: u64, term: u64) {
        self.commit();
        self.durable
            .push(vec![Record::Compact { group, index, term }]);
    }

    /// The process dies: a random prefix of the pending records reached the disk, and the last
    /// of those may be torn. Returns `(kept, torn)` for the trace.
    pub fn crash(&mut self, rng: &mut Rng) -> (usize, bool) {
        let pending = std::mem::take(&mut self.pending);
        let keep = rng.below(pending.len() as u64 + 1) as usize;
        let torn = keep > 0 && rng.chance(500);
        self.tail = CrashTail {
            kept: pending.into_iter().take(keep).collect(),
            torn,
        };
        (keep, torn)
    }

    /// The node starts again: rebuilds the WAL folder from what survived, lets the real WAL
    /// recover it, and returns group `group`'s log (None if the WAL holds nothing of it).
    pub fn recover(&mut self, group: u64) -> Result<Option<GroupLog>, String> {
        let dir = self.root.join("wal");
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("clear {}: {e}", dir.display()))?;
        }
        let options = WalOptions {
            dir: dir.clone(),
            segment_bytes: SEGMENT_BYTES,
            sync: SyncPolicy::Always,
            // The simulated disk rewrites this folder after every crash: no thread may write
            // into it behind its back (and the run stays deterministic).
            spare_segment: false,
        };
        let (mut wal, _) = Wal::open(options.clone()).map_err(|e| format!("WAL open: {e}"))?;
        for batch in &self.durable {
            match batch.as_slice() {
                [Record::Compact { group, index, term }] => wal.compact(*group, *index, *term),
                records => wal.append(records),
            }
            .map_err(|e| format!("WAL rebuild refused a record the shard wrote: {e}"))?;
        }
        wal.sync().map_err(|e| format!("WAL sync: {e}"))?;
        let tail = std::mem::take(&mut self.tail);
        if !tail.kept.is_empty() {
            wal.append(&tail.kept)
                .map_err(|e| format!("WAL append of the crash tail: {e}"))?;
        }
        drop(wal);
        if tail.torn {
            tear_last_record(&dir)?;
        }
        let (_, mut recovered) = Wal::open(options).map_err(|e| format!("WAL recovery: {e}"))?;
        assert_eq!(
            recovered.truncated_tail.is_some(),
            tail.torn,
            "WAL recovery must report exactly the tail the simulator tore"
        );
        let mut survived = tail.kept;
        if tail.torn {
            survived.pop();
        }
        if !survived.is_empty() {
            self.durable.push(survived);
        }
        Ok(recovered.groups.remove(&group))
    }
}

/// Zeroes the second half of the last record in the newest segment: what a write interrupted
/// by a crash leaves behind.
fn tear_last_record(dir: &Path) -> Result<(), String> {
    let mut segments: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("list {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    segments.sort();
    let path = segments.pop().ok_or("no WAL segment to tear")?;
    let mut bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut offset = 0;
    let mut last = None;
    while offset + FRAME_HEADER_BYTES <= bytes.len() {
        let header = &bytes[offset..offset + FRAME_HEADER_BYTES];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        last = Some((offset, FRAME_HEADER_BYTES + len));
        offset += FRAME_HEADER_BYTES + len;
    }
    let (start, len) = last.ok_or("the newest WAL segment holds no record to tear")?;
    let end = (start + len).min(bytes.len());
    bytes[start + len / 2..end].fill(0);
    fs::write(&path, &bytes).map_err(|e| format!("write {}: {e}", path.display()))
}
