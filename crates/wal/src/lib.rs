//! TinkerDB's write-ahead log: the Raft log of every Raft group on a node.
//!
//! One WAL per node serves all of its groups, so one `fdatasync` commits many groups' entries
//! (group commit, as TiKV's raft engine does). It sits under `shard` in the write path:
//! `shard` turns each raft-rs `Ready` into [`Record`]s, calls [`Wal::append`] once for all groups,
//! then [`Wal::commit`] once, and only then sends messages and acknowledges clients that depend
//! on them. Payloads are opaque bytes: this crate knows nothing of raft-rs types.
//!
//! # Layout
//! - `record`: the record types and their byte format (no I/O).
//! - `segment`: segment file names, listing, reading a segment into records.
//! - `writer`: the active segment file: preallocation, one write per append, one fdatasync per
//!   sync.
//! - `recovery`: replaying segments into per-group logs; torn-tail handling.
//! - `wal`: the [`Wal`] handle: group commit, rotation, deletion of compacted segments.
//! - `options`, `error`: configuration, statistics and the error type.
//!
//! # On disk
//! `dir/<20-digit zero-padded sequence>.log`, starting at 1; the retained segments are always a
//! contiguous run of sequences. Each segment is a sequence of frames followed by zero bytes up to
//! the file's preallocated size:
//! ```text
//! [frame][frame]...[frame][00 00 00 ... 00]      file length = WalOptions::segment_bytes
//! frame = [u32 len][u32 crc32c(type ‖ payload)][u8 type][payload: len bytes]     little-endian
//! ```
//! `len` ≤ [`MAX_RECORD_BYTES`] (64 MiB), so a corrupt length cannot make recovery allocate
//! unbounded memory. Payloads are varints and length-prefixed bytes; see [`Record`]. A segment's
//! data ends where only zero bytes remain (an all-zero frame never passes its checksum, so the
//! zeros cannot be read as a record); the writer resumes right there at open, not at the end of
//! the file. A segment is longer than `segment_bytes` only if it holds a single batch bigger
//! than a whole segment (the file grows to hold it). Segments written before preallocation
//! (file length = data length, no zero tail) are still read; the WAL rotates away from such a
//! last segment at open rather than appending to it.
//!
//! # Why preallocate
//! `fdatasync` after appending to a growing file must also commit the new file size and extents
//! through the file system journal; after overwriting bytes that are already allocated and
//! written, it only flushes data. On ext4 we measured ~1,900 4 KiB write+fdatasync per second
//! appending to a growing file against ~6,500 per second overwriting in place, and every group
//! commit pays this. So, as etcd does, a new segment (at first open and at each rotation) is
//! filled with real zeros (in 1 MiB writes: `set_len` or `fallocate` alone would leave holes or
//! unwritten extents whose first write again needs a metadata commit), `fsync`ed, and the
//! directory `fsync`ed, before any record is written to it; records then overwrite the zeros in
//! place. The cost is writing `segment_bytes` of zeros per segment: done ahead of time on a
//! thread of its own (a spare file, `*.spare`, that the next rotation renames into place), so
//! commits do not wait for it unless segments fill faster than zeros can be written. The spare's
//! zeros are written at a gentle pace (each 1 MiB made durable, then a pause), so that they do not
//! reach the disk as one burst that commits queue behind.
//!
//! # Invariants
//! - Only the newest segment is written. Before rotating, the old segment is fsynced; the new one
//!   is created and preallocated, the directory fsynced, and every group's latest HardState,
//!   ConfState and compaction point are copied to the new segment's head, so older segments only
//!   ever hold superseded metadata.
//! - A batch that does not fit in the active segment's remaining preallocated space rotates first
//!   (which fsyncs the active segment inside `append`); a batch too big for even a fresh segment
//!   is written anyway, growing the file.
//! - A group's entries are appended without gaps: an Entries record must start at or below the
//!   group's next index (last index + 1, or compaction point + 1). The writer refuses a gap, so
//!   recovery can treat one as lost data.
//! - Segments are deleted oldest first, only when everything is durable and every entry they
//!   hold is at or below its group's compaction point.
//!
//! # What survives power loss
//! Everything for which [`Wal::commit`] returned true, or [`Wal::sync`] returned. Under
//! [`SyncPolicy::IntervalMs`], `commit` may return false: records appended since the last sync
//! survive a process crash (they are in the page cache) but not a power loss. A process crash
//! never loses a record whose `append` returned.
//!
//! # What recovery forgives
//! A zero tail is not damage: it is the unwritten part of a preallocated segment (or what some
//! file systems leave when a size was extended but the data never landed), in any segment.
//! Besides that, only a torn tail: damage at the end of the last segment's data that an
//! interrupted write can leave. That is a final record that is incomplete (the file ends in its
//! header or payload, or its length runs past the end of the file), or a final record whose
//! checksum fails and after which only zero bytes (or nothing) remain, in both cases provided
//! no run of intact records hides inside it (the signature of a damaged length field). The torn
//! bytes are overwritten with zeros in place (and fsynced) before the writer resumes where they
//! began, so no remains of them can follow the records written next; the drop is reported in
//! [`Recovered::truncated_tail`]. Any other damage (a bad record followed by non-zero data, any
//! bad record in an older segment, a checksummed record this version cannot decode, a missing
//! segment, a gap in a group's entries) is [`WalError::Corrupt`] or [`WalError::Gap`]: the node
//! refuses to start rather than silently lose acknowledged writes.
//!
//! A known limit of per-record framing: if a power loss persists a later page of the final,
//! unsynced write but not an earlier one, the damage is followed by data and is reported as
//! corruption, though nothing acknowledged was lost.

#![deny(missing_docs, unsafe_code)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod options;
mod record;
mod recovery;
mod segment;
mod wal;
mod writer;

pub use error::WalError;
pub use options::{FsyncObserver, SyncPolicy, WalOptions, WalStats, DEFAULT_SEGMENT_BYTES};
pub use record::{HardState, LogEntry, Record, HEADER_BYTES, MAX_RECORD_BYTES};
pub use recovery::{GroupLog, Recovered, TornTail};
pub use wal::Wal;
