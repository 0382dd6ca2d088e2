//! Snapshot files: the whole state machine at one log index, so the log before it can be
//! deleted and a restart does not replay history from the beginning.
//!
//! A snapshot is streamed to `snap/<index>-<term>.snap.tmp`, checksummed, fsynced, then renamed
//! into place and the directory fsynced: a crash leaves either the old set of snapshots or the
//! new one, never a half-written file under a final name. Format (little-endian):
//!
//! ```text
//! "TKDBSNAP" | u32 version=1 | u64 index | u64 term | u32 len | ConfState (protobuf)
//! | state machine body ... | u32 crc32c of everything before it
//! ```
//!
//! The two newest snapshots are kept; older ones are deleted after a new one is durable.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use protobuf::Message as _;
use raft::prelude::ConfState;

use super::state_machine::{LoadError, LoadedState, SnapshotSource, StateMachine};

const MAGIC: &[u8; 8] = b"TKDBSNAP";
const VERSION: u32 = 1;
/// Largest encoded ConfState accepted from disk.
const MAX_CONF_STATE_BYTES: u32 = 1 << 20;
/// Snapshots kept on disk: the newest, and one before it for forensic comparison.
const KEEP_SNAPSHOTS: usize = 2;
/// Read/write buffer for snapshot streams.
const IO_BUFFER_BYTES: usize = 1 << 20;
/// Bytes of a snapshot being written between two fdatasyncs (see `SyncEvery`).
const SYNC_EVERY_BYTES: u64 = 32 << 20;

/// Errors writing or loading snapshots.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// File system trouble.
    #[error("snapshot I/O on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A snapshot file is damaged.
    #[error("snapshot {path} is corrupt: {reason}; refusing to start (restore it from a replica or backup)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A background snapshot writer ended without writing (it could not start, or panicked).
    #[error(
        "the snapshot at index {index} was abandoned (its thread could not start, or panicked)"
    )]
    Abandoned {
        /// The index it was to cover.
        index: u64,
    },
}

/// What is known about one snapshot on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    /// Last log index it covers.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
    /// Cluster configuration at that index.
    pub conf_state: ConfState,
    /// File size.
    pub bytes: u64,
    /// How long writing (or loading) it took.
    pub duration_ms: u64,
}

/// The `snap/` folder of one shard. Cloned for the thread that writes a snapshot in the
/// background.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    /// Opens (creating) the folder and removes temp files of interrupted snapshots.
    pub fn open(dir: &Path) -> Result<SnapshotStore, SnapshotError> {
        fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
        let store = SnapshotStore {
            dir: dir.to_path_buf(),
        };
        for path in store.list()?.1 {
            fs::remove_file(&path).map_err(|source| io_err(&path, source))?;
        }
        Ok(store)
    }

    /// Writes the state machine as of `index`/`term` durably and prunes old snapshots.
    pub fn save(
        &self,
        source: &mut SnapshotSource,
        index: u64,
        term: u64,
        conf_state: &ConfState,
    ) -> Result<SnapshotInfo, SnapshotError> {
        let started = Instant::now();
        let final_path = self.path_of(index, term);
        let tmp_path = final_path.with_extension("snap.tmp");
        let file = File::create(&tmp_path).map_err(|source| io_err(&tmp_path, source))?;
        let file = SyncEvery { file, unsynced: 0 };
        let mut w = CrcWriter::new(BufWriter::with_capacity(IO_BUFFER_BYTES, file));
        let result = (|| -> std::io::Result<()> {
            w.write_all(MAGIC)?;
            w.write_all(&VERSION.to_le_bytes())?;
            w.write_all(&index.to_le_bytes())?;
            w.write_all(&term.to_le_bytes())?;
            let cs = conf_state
                .write_to_bytes()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            w.write_all(&(cs.len() as u32).to_le_bytes())?;
            w.write_all(&cs)?;
            source.write(&mut w)?;
            let crc = w.crc;
            let mut inner = w.inner.into_inner().map_err(|e| e.into_error())?;
            inner.write_all(&crc.to_le_bytes())?;
            inner.file.sync_all()
        })();
        result.map_err(|source| io_err(&tmp_path, source))?;
        fs::rename(&tmp_path, &final_path).map_err(|source| io_err(&final_path, source))?;
        sync_dir(&self.dir)?;
        let bytes = fs::metadata(&final_path)
            .map_err(|source| io_err(&final_path, source))?
            .len();
        self.prune()?;
        Ok(SnapshotInfo {
            index,
            term,
            conf_state: conf_state.clone(),
            bytes,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// The folder (received snapshots are written into it before they are installed).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the snapshot at `index`/`term` is (or would be) stored.
    pub fn path_of(&self, index: u64, term: u64) -> PathBuf {
        self.dir.join(format!("{index:020}-{term:020}.snap"))
    }

    /// Installs a snapshot received from the leader and loaded off the Raft loop: renames its
    /// (already fsynced) file into place, fsyncs the folder, and swaps the loaded state into
    /// `sm`. Returns the snapshot's description and the state it replaced (see
    /// [`StateMachine::install`]).
    pub fn install_loaded(
        &self,
        loaded: LoadedSnapshot,
        sm: &mut StateMachine,
    ) -> Result<(SnapshotInfo, LoadedState), SnapshotError> {
        let LoadedSnapshot {
            mut file,
            state,
            info,
        } = loaded;
        let final_path = self.path_of(info.index, info.term);
        file.persist_as(&final_path)?;
        sync_dir(&self.dir)?;
        self.prune()?;
        Ok((info, sm.install(state)))
    }

    /// Loads the newest snapshot into `sm`; `None` if there is none yet.
    pub fn load_newest(
        &self,
        sm: &mut StateMachine,
    ) -> Result<Option<SnapshotInfo>, SnapshotError> {
        let Some(path) = self.list()?.0.pop() else {
            return Ok(None);
        };
        let bytes = verify_checksum(&path)?;
        let (info, state) = read_file(&path, bytes)?;
        sm.install(state);
        Ok(Some(info))
    }

    /// Final snapshot files in index order, and leftover temp files.
    fn list(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>), SnapshotError> {
        let mut done = Vec::new();
        let mut tmp = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|source| io_err(&self.dir, source))?;
        for entry in entries {
            let path = entry.map_err(|source| io_err(&self.dir, source))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".snap.tmp") {
                tmp.push(path);
            } else if name.ends_with(".snap") {
                done.push(path);
            }
        }
        done.sort();
        Ok((done, tmp))
    }

    fn prune(&self) -> Result<(), SnapshotError> {
        let (done, _) = self.list()?;
        let excess = done.len().saturating_sub(KEEP_SNAPSHOTS);
        for path in &done[..excess] {
            match fs::remove_file(path) {
                // A background writer and an install may prune at the same time.
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err(path, e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Reads the snapshot file `path` of `bytes` bytes (checksum already checked).
fn read_file(path: &Path, bytes: u64) -> Result<(SnapshotInfo, LoadedState), SnapshotError> {
    let started = Instant::now();
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes < 4 {
        return Err(corrupt("shorter than its checksum".into()));
    }
    let file = File::open(path).map_err(|source| io_err(path, source))?;
    let mut r = BufReader::with_capacity(IO_BUFFER_BYTES, file).take(bytes - 4);
    let (index, term, conf_state) = read_header(&mut r).map_err(corrupt)?;
    let state = LoadedState::read(&mut r).map_err(|e: LoadError| corrupt(e.to_string()))?;
    if r.limit() != 0 {
        return Err(corrupt(format!(
            "{} unread bytes after the state",
            r.limit()
        )));
    }
    let info = SnapshotInfo {
        index,
        term,
        conf_state,
        bytes,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    Ok((info, state))
}

/// A file in the snapshot folder that is deleted when dropped, unless it was renamed into
/// place: a received snapshot is removed on every path that does not install it.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// Takes charge of the file at `path`.
    pub fn new(path: PathBuf) -> TempFile {
        TempFile { path: Some(path) }
    }

    /// Where the file is (empty once persisted).
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Renames the file to `target`; from then on it is no longer deleted.
    fn persist_as(&mut self, target: &Path) -> Result<(), SnapshotError> {
        let Some(path) = self.path.as_ref() else {
            return Err(io_err(
                target,
                std::io::Error::new(std::io::ErrorKind::NotFound, "already persisted"),
            ));
        };
        fs::rename(path, target).map_err(|source| io_err(target, source))?;
        self.path = None;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// A snapshot file received from the leader, made durable and read into a state of its own:
/// the slow part of installing a snapshot (for a large one, seconds), done off the Raft loop so
/// the follower keeps answering heartbeats meanwhile.
#[derive(Debug)]
pub struct LoadedSnapshot {
    file: TempFile,
    state: LoadedState,
    info: SnapshotInfo,
}

impl LoadedSnapshot {
    /// Blocking: fsyncs the received `file` (its checksum checked by the receiver as it
    /// arrived) and reads it. A file that holds another snapshot than the announced
    /// `index`/`term` is refused.
    pub fn load(file: TempFile, index: u64, term: u64) -> Result<LoadedSnapshot, SnapshotError> {
        let path = file.path().to_path_buf();
        let opened = File::open(&path).map_err(|source| io_err(&path, source))?;
        opened.sync_all().map_err(|source| io_err(&path, source))?;
        let bytes = opened
            .metadata()
            .map_err(|source| io_err(&path, source))?
            .len();
        drop(opened);
        let (info, state) = read_file(&path, bytes)?;
        if (info.index, info.term) != (index, term) {
            return Err(SnapshotError::Corrupt {
                path,
                reason: format!(
                    "holds {}/{} but the leader announced {index}/{term}",
                    info.index, info.term
                ),
            });
        }
        Ok(LoadedSnapshot { file, state, info })
    }

    /// The snapshot's index and term.
    pub fn index_term(&self) -> (u64, u64) {
        (self.info.index, self.info.term)
    }
}

fn read_header(r: &mut impl Read) -> Result<(u64, u64, ConfState), String> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| e.to_string())?;
    if &magic != MAGIC {
        return Err("not a TinkerDB snapshot (bad magic)".to_string());
    }
    let version = read_u32(r)?;
    if version != VERSION {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let index = read_u64(r)?;
    let term = read_u64(r)?;
    let len = read_u32(r)?;
    if len > MAX_CONF_STATE_BYTES {
        return Err(format!("conf state of {len} bytes"));
    }
    let mut cs = vec![0u8; len as usize];
    r.read_exact(&mut cs).map_err(|e| e.to_string())?;
    let conf_state = ConfState::parse_from_bytes(&cs).map_err(|e| e.to_string())?;
    Ok((index, term, conf_state))
}

fn read_u32(r: &mut impl Read) -> Result<u32, String> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).map_err(|e| e.to_string())?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> Result<u64, String> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).map_err(|e| e.to_string())?;
    Ok(u64::from_le_bytes(b))
}

/// Checks the trailing CRC in one streaming pass; returns the file size.
fn verify_checksum(path: &Path) -> Result<u64, SnapshotError> {
    let mut file = File::open(path).map_err(|source| io_err(path, source))?;
    let size = file
        .metadata()
        .map_err(|source| io_err(path, source))?
        .len();
    let corrupt = |reason: &str| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if size < 4 {
        return Err(corrupt("shorter than its checksum"));
    }
    let mut remaining = size - 4;
    let mut crc = 0u32;
    let mut buf = vec![0u8; IO_BUFFER_BYTES];
    while remaining > 0 {
        let want = remaining.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..want])
            .map_err(|source| io_err(path, source))?;
        crc = crc32c::crc32c_append(crc, &buf[..want]);
        remaining -= want as u64;
    }
    let mut stored = [0u8; 4];
    file.read_exact(&mut stored)
        .map_err(|source| io_err(path, source))?;
    if u32::from_le_bytes(stored) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(size)
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_err(dir, source))
}

fn io_err(path: &Path, source: std::io::Error) -> SnapshotError {
    SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A writer that keeps a running CRC32C of everything written through it.
/// A file that is fdatasync'ed every [`SYNC_EVERY_BYTES`] written, as Redis's
/// `rdb-save-incremental-fsync`: without it, hundreds of megabytes of dirty pages reach the
/// disk at once at the final sync, and the WAL's fsyncs (every acknowledged write's) queue
/// behind them.
struct SyncEvery {
    file: File,
    unsynced: u64,
}

impl Write for SyncEvery {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> CrcWriter<W> {
    fn new(inner: W) -> Self {
        CrcWriter { inner, crc: 0 }
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::entry::Payload;
    use bytes::Bytes;
    use tinkerdb_kv::Command;

    fn state_with_keys(n: u64) -> StateMachine {
        let mut sm = StateMachine::default();
        for i in 1..=n {
            let args = [
                Bytes::from("SET"),
                Bytes::from(format!("k{i}")),
                Bytes::from(format!("v{i}")),
            ];
            let cmd: Command = tinkerdb_kv::parse(&args)
                .expect("parse")
                .expect("data command");
            let payload = Payload::Batch {
                tenant: "default".into(),
                now_ms: 1,
                ops: vec![(0, cmd)],
            };
            sm.apply(i, &payload);
        }
        sm
    }

    fn voters() -> ConfState {
        ConfState {
            voters: vec![1],
            ..Default::default()
        }
    }

    fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<_> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn save_then_load_gives_the_same_state_and_point() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::open(dir.path()).expect("open");
        let sm = state_with_keys(50);
        let saved = store
            .save(&mut sm.snapshot_source().expect("source"), 50, 3, &voters())
            .expect("save");
        let mut loaded = StateMachine::default();
        let info = store
            .load_newest(&mut loaded)
            .expect("load")
            .expect("a snapshot");
        assert_eq!(
            (info.index, info.term, info.conf_state.clone()),
            (50, 3, voters())
        );
        assert_eq!(info.bytes, saved.bytes);
        let mut a = Vec::new();
        let mut b = Vec::new();
        sm.write_snapshot(&mut a).expect("write");
        loaded.write_snapshot(&mut b).expect("write");
        assert_eq!(a, b, "the loaded state is byte-identical");
    }

    #[test]
    fn a_received_file_is_loaded_then_installed_under_its_name_or_refused_if_it_holds_another() {
        let leader = tempfile::tempdir().expect("tempdir");
        let follower = tempfile::tempdir().expect("tempdir");
        let sent = SnapshotStore::open(leader.path()).expect("open");
        let sm = state_with_keys(30);
        sent.save(&mut sm.snapshot_source().expect("source"), 30, 2, &voters())
            .expect("save");
        let store = SnapshotStore::open(follower.path()).expect("open");
        let received = follower.path().join("x.recv-1-1.snap.tmp");
        fs::copy(sent.path_of(30, 2), &received).expect("copy");
        let err = LoadedSnapshot::load(TempFile::new(received.clone()), 31, 2)
            .expect_err("announced as another snapshot");
        assert!(err.to_string().contains("holds 30/2"), "{err}");
        assert!(!received.exists(), "a refused file is deleted");
        fs::copy(sent.path_of(30, 2), &received).expect("copy");
        let dropped = LoadedSnapshot::load(TempFile::new(received.clone()), 30, 2).expect("load");
        drop(dropped);
        assert!(
            !received.exists(),
            "a loaded file never installed is deleted"
        );
        fs::copy(sent.path_of(30, 2), &received).expect("copy");
        let ready = LoadedSnapshot::load(TempFile::new(received.clone()), 30, 2).expect("load");
        assert_eq!(ready.index_term(), (30, 2));
        assert!(
            received.exists() && !store.path_of(30, 2).exists(),
            "loading installs nothing"
        );
        let mut loaded = state_with_keys(3);
        let (info, old) = store.install_loaded(ready, &mut loaded).expect("install");
        assert_eq!((info.index, info.term), (30, 2));
        assert!(!received.exists() && store.path_of(30, 2).exists());
        let mut replaced = StateMachine::default();
        replaced.install(old);
        let (mut before, mut was) = (Vec::new(), Vec::new());
        state_with_keys(3)
            .write_snapshot(&mut before)
            .expect("write");
        replaced.write_snapshot(&mut was).expect("write");
        assert_eq!(before, was, "the replaced state is handed back");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        sm.write_snapshot(&mut a).expect("write");
        loaded.write_snapshot(&mut b).expect("write");
        assert_eq!(a, b, "the installed state is the leader's");
    }

    #[test]
    fn a_joint_configuration_survives_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::open(dir.path()).expect("open");
        let joint = ConfState {
            voters: vec![2, 3, 4],
            voters_outgoing: vec![1, 2, 3],
            learners: vec![6],
            learners_next: vec![5],
            auto_leave: true,
            ..Default::default()
        };
        store
            .save(
                &mut state_with_keys(3).snapshot_source().expect("source"),
                9,
                2,
                &joint,
            )
            .expect("save");
        let info = store
            .load_newest(&mut StateMachine::default())
            .expect("load")
            .expect("a snapshot");
        assert_eq!(info.conf_state, joint);
    }

    #[test]
    fn keeps_two_snapshots_and_removes_leftover_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path()
                .join("00000000000000000001-00000000000000000001.snap.tmp"),
            b"half",
        )
        .expect("write");
        let store = SnapshotStore::open(dir.path()).expect("open");
        assert!(
            snapshot_files(dir.path()).is_empty(),
            "temp file removed at open"
        );
        let sm = state_with_keys(5);
        for index in [10, 20, 30] {
            store
                .save(
                    &mut sm.snapshot_source().expect("source"),
                    index,
                    1,
                    &voters(),
                )
                .expect("save");
        }
        let names: Vec<_> = snapshot_files(dir.path())
            .iter()
            .map(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "00000000000000000020-00000000000000000001.snap",
                "00000000000000000030-00000000000000000001.snap"
            ]
        );
    }

    #[test]
    fn any_flipped_bit_or_truncation_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::open(dir.path()).expect("open");
        store
            .save(
                &mut state_with_keys(3).snapshot_source().expect("source"),
                3,
                1,
                &voters(),
            )
            .expect("save");
        let path = snapshot_files(dir.path()).pop().expect("file");
        let good = fs::read(&path).expect("read");
        for offset in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[offset] ^= 0x10;
            fs::write(&path, &bad).expect("write");
            let err = store
                .load_newest(&mut StateMachine::default())
                .expect_err("a flipped bit must be detected");
            assert!(
                matches!(err, SnapshotError::Corrupt { .. }),
                "offset {offset}: {err}"
            );
            fs::write(&path, &good[..offset]).expect("write");
            assert!(
                store.load_newest(&mut StateMachine::default()).is_err(),
                "truncation at {offset} must be detected"
            );
        }
    }
}
