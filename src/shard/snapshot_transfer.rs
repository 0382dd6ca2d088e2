//! Both ends of a snapshot transfer, streamed from the leader's snapshot file to a file on the
//! follower, so that neither side ever holds a whole snapshot in memory.
//!
//! raft-rs's `MsgSnapshot` travels without its data (the log store hands out only the
//! metadata). The leader reads its snapshot file a piece at a time ([`PieceReader`], off the
//! Raft loop) and queues each piece for the peer as it goes, waiting while a few pieces are
//! still unwritten (`Transport::send_bulk`), so a large snapshot holds little memory and
//! raft messages to that peer wait behind at most a few pieces. Every piece carries the
//! raft message (`header`) and the transfer's total length, so any piece can be checked
//! against the transfer it claims to belong to.
//!
//! The follower ([`SnapshotReceiver`]) appends pieces to a temp file in its snapshot folder,
//! keeping a running CRC32C of the file's body, and when the last piece arrives compares it
//! with the file's trailing checksum: a damaged transfer is refused before raft-rs sees the
//! message. The whole file ([`ReceivedSnapshot`]) is then fsynced and read into a state of its
//! own off the Raft loop (`LoadedSnapshot`, seconds for millions of keys), and only then is the
//! `MsgSnapshot` stepped. If raft-rs accepts it (it becomes raft-rs's pending snapshot), the
//! shard keeps the loaded snapshot until raft-rs hands it back in a Ready and installs it: a
//! rename into place and a swap of state (`SnapshotStore::install_loaded`). If raft-rs ignores
//! it (stale, a duplicate), it is dropped and its file deleted at once.
//!
//! A piece out of order (a reconnect lost one) ends the current transfer and deletes its
//! file; the leader, told by raft-rs that the follower still lacks the snapshot, starts over.
//! A later piece from another peer (an old leader still streaming) is ignored; a first piece
//! from anyone starts a new transfer. Temp files left by a crash are deleted when the folder
//! opens.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use protobuf::Message as _;
use raft::prelude::Message;

use super::snapshot::{LoadedSnapshot, SnapshotError, TempFile};
use super::wire::decode_raft;

/// Size of a snapshot piece: small enough that raft messages queued behind a piece wait little.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// Largest snapshot a follower accepts (a bound on the disk a peer's claim can make us fill).
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 30;

/// Write buffer of a file being received.
const RECEIVE_BUFFER_BYTES: usize = 1 << 20;

/// Why a piece could not be read or received.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// File system trouble on either side.
    #[error("snapshot transfer file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The peer announced more than [`MAX_SNAPSHOT_BYTES`].
    #[error("snapshot of {0} bytes is over the limit")]
    TooLarge(u64),
    /// The received file does not match its checksum, or is too short to have one.
    #[error("the received snapshot {index}/{term} is damaged: {reason}")]
    Damaged {
        /// Snapshot index.
        index: u64,
        /// Snapshot term.
        term: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The raft message in a piece does not decode, or is not the snapshot the pieces hold.
    #[error("snapshot piece header: {0}")]
    Header(String),
}

/// One piece of a snapshot file, as the transport (`PeerMessage::SnapshotChunk`) and the
/// simulator carry it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotPiece {
    /// The snapshot's index and term: identifies the transfer.
    pub transfer: (u64, u64),
    /// The raft-rs `MsgSnapshot`, without data, protobuf-encoded.
    pub header: Bytes,
    /// Where this piece starts in the file.
    pub offset: u64,
    /// The file's length.
    pub total: u64,
    /// The bytes.
    pub data: Bytes,
}

/// Reads a snapshot file as pieces, in order. Blocking: the driver runs it off the Raft loop.
#[derive(Debug)]
pub struct PieceReader {
    file: File,
    path: PathBuf,
    header: Bytes,
    transfer: (u64, u64),
    total: u64,
    offset: u64,
    chunk_bytes: usize,
    done: bool,
}

impl PieceReader {
    /// Opens the snapshot file `path` for sending `msg` (a `MsgSnapshot`) in pieces of
    /// `chunk_bytes`. The open file stays readable if the snapshot is pruned meanwhile.
    pub fn open(path: &Path, msg: &Message, chunk_bytes: usize) -> Result<Self, TransferError> {
        let io = |source| TransferError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let total = file.metadata().map_err(io)?.len();
        if total > MAX_SNAPSHOT_BYTES {
            // Followers would refuse it after the whole transfer.
            return Err(TransferError::TooLarge(total));
        }
        let meta = msg.get_snapshot().get_metadata();
        let mut header = msg.clone();
        header.mut_snapshot().data = Bytes::new();
        let header = Bytes::from(
            header
                .write_to_bytes()
                .expect("encoding an in-memory raft message cannot fail"),
        );
        Ok(PieceReader {
            file,
            path: path.to_path_buf(),
            header,
            transfer: (meta.index, meta.term),
            total,
            offset: 0,
            chunk_bytes: chunk_bytes.max(1),
            done: false,
        })
    }

    /// The next piece; `None` after the last (an empty file is one empty piece).
    pub fn next_piece(&mut self) -> Result<Option<SnapshotPiece>, TransferError> {
        if self.done {
            return Ok(None);
        }
        let want = (self.total - self.offset).min(self.chunk_bytes as u64) as usize;
        let mut data = vec![0u8; want];
        self.file
            .read_exact(&mut data)
            .map_err(|source| TransferError::Io {
                path: self.path.clone(),
                source,
            })?;
        let piece = SnapshotPiece {
            transfer: self.transfer,
            header: self.header.clone(),
            offset: self.offset,
            total: self.total,
            data: data.into(),
        };
        self.offset += want as u64;
        self.done = self.offset >= self.total;
        Ok(Some(piece))
    }
}

/// The follower's end: writes pieces to a temp file and checks the whole, then hands the file
/// over. At most one transfer is received at a time.
#[derive(Debug)]
pub struct SnapshotReceiver {
    dir: PathBuf,
    current: Option<Receiving>,
    next_seq: u64,
}

/// A whole snapshot file from the leader, its checksum checked, with the raft message to step
/// once it is loaded ([`ReceivedSnapshot::load`]). Dropping it deletes the file; the shard
/// that handed it out waits for its outcome (`Shard::snapshot_loaded`), and drops the leader's
/// entries until then.
#[derive(Debug)]
#[must_use = "the shard waits for Shard::snapshot_loaded with this snapshot's outcome"]
pub struct ReceivedSnapshot {
    /// The leader's `MsgSnapshot`, without data.
    pub msg: Message,
    file: TempFile,
    total: u64,
}

/// Where a leader's snapshot on its way into this node stands, for `INFO raft`, the admin API
/// and the dashboard: a new node shows this while it cannot serve yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveProgress {
    /// The sending leader.
    pub from: u64,
    /// The snapshot's index.
    pub index: u64,
    /// The snapshot's term.
    pub term: u64,
    /// Bytes received so far.
    pub bytes: u64,
    /// The file's length.
    pub total: u64,
    /// Receiving pieces, or loading the whole file.
    pub stage: ReceiveStage,
}

/// The stages of [`ReceiveProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveStage {
    /// Pieces are arriving.
    Receiving,
    /// The file is whole and being fsynced and read, off the Raft loop.
    Loading,
}

impl ReceiveStage {
    /// The name `INFO raft` and the admin API show.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiveStage::Receiving => "receiving",
            ReceiveStage::Loading => "loading",
        }
    }
}

impl ReceivedSnapshot {
    /// The snapshot's index and term.
    pub fn index_term(&self) -> (u64, u64) {
        let meta = self.msg.get_snapshot().get_metadata();
        (meta.index, meta.term)
    }

    /// What status shows while it loads.
    pub fn progress(&self) -> ReceiveProgress {
        let (index, term) = self.index_term();
        ReceiveProgress {
            from: self.msg.from,
            index,
            term,
            bytes: self.total,
            total: self.total,
            stage: ReceiveStage::Loading,
        }
    }

    /// Blocking (seconds for a large snapshot): makes the file durable and reads it, see
    /// [`LoadedSnapshot::load`]. Returns the message to step with the loaded snapshot.
    pub fn load(self) -> Result<(Message, LoadedSnapshot), SnapshotError> {
        let (index, term) = self.index_term();
        let loaded = LoadedSnapshot::load(self.file, index, term)?;
        Ok((self.msg, loaded))
    }

    /// Where the file is (for tests).
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

#[derive(Debug)]
struct Receiving {
    from: u64,
    transfer: (u64, u64),
    total: u64,
    written: u64,
    path: PathBuf,
    file: BufWriter<File>,
    /// CRC32C of the bytes before the trailing checksum.
    crc: u32,
    /// The trailing checksum's bytes, as they arrive.
    trailer: Vec<u8>,
}

impl SnapshotReceiver {
    /// Receives into `dir` (the shard's snapshot folder, whose opening deletes leftovers).
    pub fn new(dir: &Path) -> SnapshotReceiver {
        SnapshotReceiver {
            dir: dir.to_path_buf(),
            current: None,
            next_seq: 0,
        }
    }

    /// Adds a piece from peer `from`. Returns the received snapshot once the last piece
    /// arrived and the file checks out. A piece that does not continue the current transfer
    /// ends it (nothing is returned); an error also ends it, and its file is deleted.
    pub fn add(
        &mut self,
        from: u64,
        piece: &SnapshotPiece,
    ) -> Result<Option<ReceivedSnapshot>, TransferError> {
        let result = self.add_inner(from, piece);
        if result.is_err() {
            self.abandon();
        }
        result
    }

    fn add_inner(
        &mut self,
        from: u64,
        piece: &SnapshotPiece,
    ) -> Result<Option<ReceivedSnapshot>, TransferError> {
        if piece.total > MAX_SNAPSHOT_BYTES {
            return Err(TransferError::TooLarge(piece.total));
        }
        if piece.offset == 0 {
            self.abandon();
            self.start(from, piece)?;
        } else if self.current.as_ref().is_some_and(|r| r.from != from) {
            return Ok(None);
        }
        let continues = self.current.as_ref().is_some_and(|r| {
            r.from == from
                && r.transfer == piece.transfer
                && r.total == piece.total
                && r.written == piece.offset
                && piece.offset + piece.data.len() as u64 <= piece.total
        });
        if !continues {
            self.abandon();
            return Ok(None);
        }
        let Some(r) = self.current.as_mut() else {
            return Ok(None);
        };
        let body_end = r.total.saturating_sub(4);
        let split = body_end
            .saturating_sub(r.written)
            .min(piece.data.len() as u64) as usize;
        r.crc = crc32c::crc32c_append(r.crc, &piece.data[..split]);
        r.trailer.extend_from_slice(&piece.data[split..]);
        let path = r.path.clone();
        let io = |source| TransferError::Io {
            path: path.clone(),
            source,
        };
        r.file.write_all(&piece.data).map_err(io)?;
        r.written += piece.data.len() as u64;
        if r.written < r.total {
            return Ok(None);
        }
        let Some(mut done) = self.current.take() else {
            return Ok(None);
        };
        let (index, term) = done.transfer;
        let damaged = |reason| TransferError::Damaged {
            index,
            term,
            reason,
        };
        let check = if done.total < 4 {
            Err(damaged("shorter than its checksum"))
        } else if done.trailer[..] != done.crc.to_le_bytes() {
            Err(damaged("checksum mismatch"))
        } else {
            done.file.flush().map_err(io)
        };
        drop(done.file);
        let file = TempFile::new(done.path);
        check?;
        let msg = decode_header(&piece.header, done.transfer)?;
        Ok(Some(ReceivedSnapshot {
            msg,
            file,
            total: done.total,
        }))
    }

    /// Whether a transfer is under way (for tests).
    #[cfg(test)]
    pub fn receiving(&self) -> bool {
        self.current.is_some()
    }

    /// The transfer under way, if any.
    pub fn progress(&self) -> Option<ReceiveProgress> {
        self.current.as_ref().map(|r| ReceiveProgress {
            from: r.from,
            index: r.transfer.0,
            term: r.transfer.1,
            bytes: r.written,
            total: r.total,
            stage: ReceiveStage::Receiving,
        })
    }

    fn start(&mut self, from: u64, piece: &SnapshotPiece) -> Result<(), TransferError> {
        let (index, term) = piece.transfer;
        self.next_seq += 1;
        let path = self.dir.join(format!(
            "{index:020}-{term:020}.recv-{from}-{}.snap.tmp",
            self.next_seq
        ));
        let file = File::create(&path).map_err(|source| TransferError::Io {
            path: path.clone(),
            source,
        })?;
        self.current = Some(Receiving {
            from,
            transfer: piece.transfer,
            total: piece.total,
            written: 0,
            path,
            file: BufWriter::with_capacity(RECEIVE_BUFFER_BYTES, file),
            crc: 0,
            trailer: Vec::with_capacity(4),
        });
        Ok(())
    }

    fn abandon(&mut self) {
        if let Some(r) = self.current.take() {
            drop(r.file);
            let _ = fs::remove_file(&r.path);
        }
    }
}

/// The raft message of a completed transfer: it must be the `MsgSnapshot` of the snapshot the
/// pieces hold.
fn decode_header(header: &[u8], transfer: (u64, u64)) -> Result<Message, TransferError> {
    let msg = decode_raft(header).map_err(|e| TransferError::Header(e.to_string()))?;
    let meta = msg.get_snapshot().get_metadata();
    if msg.get_msg_type() != raft::prelude::MessageType::MsgSnapshot
        || (meta.index, meta.term) != transfer
    {
        return Err(TransferError::Header(format!(
            "not the snapshot message of transfer {}/{}",
            transfer.0, transfer.1
        )));
    }
    Ok(msg)
}

impl Drop for SnapshotReceiver {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::prelude::MessageType;

    /// A file shaped as a snapshot file: a body and its CRC32C.
    fn snapshot_file(dir: &Path, body_len: usize) -> PathBuf {
        let body: Vec<u8> = (0..body_len).map(|i| (i * 7 % 251) as u8).collect();
        let mut bytes = body.clone();
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        let path = dir.join("00000000000000000042-00000000000000000003.snap");
        fs::write(&path, bytes).expect("write");
        path
    }

    fn message() -> Message {
        message_at(42)
    }

    fn message_at(index: u64) -> Message {
        let mut msg = Message::default();
        msg.set_msg_type(MessageType::MsgSnapshot);
        msg.from = 1;
        msg.to = 2;
        msg.term = 3;
        let meta = msg.mut_snapshot().mut_metadata();
        meta.index = index;
        meta.term = 3;
        msg
    }

    fn pieces(path: &Path, chunk: usize) -> Vec<SnapshotPiece> {
        let mut reader = PieceReader::open(path, &message(), chunk).expect("open");
        let mut out = Vec::new();
        while let Some(piece) = reader.next_piece().expect("read") {
            out.push(piece);
        }
        out
    }

    fn temp_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".snap.tmp"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn a_file_travels_in_pieces_and_arrives_whole() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        let path = snapshot_file(from.path(), 10_000);
        let sent = pieces(&path, 1024);
        assert_eq!(sent.len(), 10, "10,004 bytes in pieces of 1 KiB");
        let mut rx = SnapshotReceiver::new(to.path());
        let mut stepped = None;
        assert_eq!(rx.progress(), None);
        for piece in &sent {
            assert!(
                stepped.is_none(),
                "nothing is stepped before the last piece"
            );
            stepped = rx.add(1, piece).expect("add");
            if stepped.is_none() {
                let progress = rx.progress().expect("under way");
                assert_eq!(
                    (progress.from, progress.index, progress.term, progress.total),
                    (1, 42, 3, 10_004)
                );
                assert_eq!(progress.bytes, piece.offset + piece.data.len() as u64);
                assert_eq!(progress.stage, ReceiveStage::Receiving);
            }
        }
        assert_eq!(rx.progress(), None, "the file is handed over");
        let received = stepped.expect("the last piece yields the snapshot");
        let loading = received.progress();
        assert_eq!(
            (loading.bytes, loading.total, loading.stage),
            (10_004, 10_004, ReceiveStage::Loading)
        );
        assert_eq!(received.index_term(), (42, 3));
        assert_eq!(received.msg.get_msg_type(), MessageType::MsgSnapshot);
        assert!(
            received.msg.get_snapshot().data.is_empty(),
            "the data travels as a file"
        );
        assert_eq!(
            fs::read(received.path()).expect("read"),
            fs::read(&path).expect("read")
        );
        let file = received.path().to_path_buf();
        drop(received);
        assert!(!file.exists(), "a received file nobody loads is deleted");
    }

    #[test]
    fn a_lost_or_foreign_piece_ends_the_transfer_and_deletes_its_file() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        let sent = pieces(&snapshot_file(from.path(), 5000), 1000);
        let mut rx = SnapshotReceiver::new(to.path());
        rx.add(1, &sent[0]).expect("add");
        assert!(rx.receiving());
        assert_eq!(temp_files(to.path()).len(), 1);
        // Piece 1 is lost: piece 2 does not continue the transfer.
        assert!(rx.add(1, &sent[2]).expect("add").is_none());
        assert!(!rx.receiving());
        assert!(
            temp_files(to.path()).is_empty(),
            "the partial file is deleted"
        );
        for piece in &sent[3..] {
            assert!(rx.add(1, piece).expect("add").is_none());
        }
        // A later piece from another peer (an old leader) neither joins nor ends node 1's
        // transfer.
        rx.add(1, &sent[0]).expect("add");
        assert!(rx.add(3, &sent[1]).expect("add").is_none());
        assert!(rx.receiving());
        // Started over, the transfer completes.
        let mut stepped = None;
        for piece in &sent {
            stepped = rx.add(1, piece).expect("add");
        }
        assert!(stepped.is_some());
        assert_eq!(
            temp_files(to.path()).len(),
            1,
            "only the received file remains"
        );
    }

    #[test]
    fn a_damaged_transfer_is_refused_before_raft_sees_it() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        let mut sent = pieces(&snapshot_file(from.path(), 3000), 1000);
        let mut data = sent[1].data.to_vec();
        data[17] ^= 0x40;
        sent[1].data = data.into();
        let mut rx = SnapshotReceiver::new(to.path());
        rx.add(1, &sent[0]).expect("add");
        rx.add(1, &sent[1]).expect("add");
        rx.add(1, &sent[2]).expect("add");
        let err = rx.add(1, &sent[3]).expect_err("damaged");
        assert!(
            matches!(
                err,
                TransferError::Damaged {
                    index: 42,
                    term: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(temp_files(to.path()).is_empty());
    }

    #[test]
    fn an_oversized_claim_is_refused_without_allocating() {
        let to = tempfile::tempdir().expect("tempdir");
        let mut rx = SnapshotReceiver::new(to.path());
        let piece = SnapshotPiece {
            transfer: (1, 1),
            header: Bytes::new(),
            offset: 0,
            total: MAX_SNAPSHOT_BYTES + 1,
            data: Bytes::from_static(b"x"),
        };
        assert!(matches!(rx.add(1, &piece), Err(TransferError::TooLarge(_))));
        assert!(temp_files(to.path()).is_empty());
    }

    #[test]
    fn a_received_file_outlives_the_receiver_and_a_partial_one_does_not() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        let path = snapshot_file(from.path(), 100);
        let mut rx = SnapshotReceiver::new(to.path());
        let whole = PieceReader::open(&path, &message_at(42), 1 << 20)
            .expect("open")
            .next_piece()
            .expect("read")
            .expect("one piece");
        let received = rx.add(1, &whole).expect("add").expect("complete");
        let mut reader = PieceReader::open(&path, &message_at(43), 10).expect("open");
        let first = reader.next_piece().expect("read").expect("piece");
        assert!(rx.add(1, &first).expect("add").is_none());
        assert_eq!(temp_files(to.path()).len(), 2);
        drop(rx);
        assert_eq!(
            temp_files(to.path()),
            vec![received.path().to_path_buf()],
            "the partial transfer is deleted, the handed-over file is not"
        );
    }

    #[test]
    fn a_header_that_is_not_the_transfers_snapshot_is_refused() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        let path = snapshot_file(from.path(), 100);
        let mut piece = PieceReader::open(&path, &message_at(42), 1 << 20)
            .expect("open")
            .next_piece()
            .expect("read")
            .expect("piece");
        piece.transfer = (41, 3);
        let mut rx = SnapshotReceiver::new(to.path());
        assert!(matches!(rx.add(1, &piece), Err(TransferError::Header(_))));
        assert!(temp_files(to.path()).is_empty());
    }
}
