//! What the WAL stores and how it is laid out in bytes.
//!
//! This module owns the record types ([`Record`], [`LogEntry`], [`HardState`]), the frame format
//! and the compact payload encoding. It does no I/O: [`encode_records`] appends frames to a byte
//! buffer and [`decode_frame`] reads one frame from a byte slice. It must never panic on any
//! input and never allocate more than the input can justify.
//!
//! # Frame
//! ```text
//! [u32 len][u32 crc][u8 type][payload: len bytes]       all integers little-endian
//! ```
//! `len` counts the payload only and is at most [`MAX_RECORD_BYTES`]; `crc` is CRC-32C over the
//! type byte and the payload. The header is [`HEADER_BYTES`] = 9 bytes.
//!
//! # Payloads
//! Integers are unsigned LEB128 varints (1 to 10 bytes); byte strings are a varint length then
//! the bytes. A payload must be consumed exactly: trailing bytes are corruption.
//! ```text
//! 1 Entries    group, first_index, count, then count × (term, data_len, data)
//! 2 HardState  group, term, vote, commit
//! 3 ConfState  group, data_len, data
//! 4 Compact    group, index, term
//! 5 Restore    group, index, term
//! ```
//! Entries carry only the first index: indexes are contiguous by construction.

use crate::error::{Result, WalError};

/// Largest payload one frame may carry (64 MiB). It bounds the allocation a corrupt length field
/// can cause during recovery, and so the largest single [`LogEntry`] the WAL accepts.
pub const MAX_RECORD_BYTES: u32 = 64 << 20;

/// Bytes in a frame header: length, checksum, type.
pub const HEADER_BYTES: usize = 9;

/// Worst-case bytes of an Entries payload outside its entries: the group, first-index and
/// count varints. Each entry's own overhead is counted in [`entry_cost`].
const ENTRIES_OVERHEAD_BYTES: usize = 30;

/// One Raft log entry as the WAL sees it. `data` is the opaque encoded raft-rs `Entry`; the WAL
/// keeps `index` and `term` beside it so it can apply Raft's overwrite rule without decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the group's Raft log.
    pub index: u64,
    /// Raft term the entry was proposed in.
    pub term: u64,
    /// Opaque encoded raft-rs `Entry`.
    pub data: Vec<u8>,
}

/// Raft's persistent vote state, which must be durable before the node votes or acknowledges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    /// Current term.
    pub term: u64,
    /// Node voted for in `term` (0 = nobody).
    pub vote: u64,
    /// Highest index known committed.
    pub commit: u64,
}

/// One thing a Raft group asks the WAL to remember. Several groups' records share one WAL and
/// one fsync; each record names its group.
///
/// On disk each record is one frame, `[u32 len][u32 crc32c(type ‖ payload)][u8 type][payload]`,
/// little-endian, `len` ≤ [`MAX_RECORD_BYTES`]; payload encodings are in the module docs. Type
/// bytes: Entries 1, HardState 2, ConfState 3, Compact 4, Restore 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Appending entries starting at index i discards that group's existing entries >= i (Raft
    /// log overwrite). The entries must have contiguous indexes. An Entries record too large for
    /// one frame is split into several consecutive ones, which replay to the same log.
    Entries {
        /// Raft group id.
        group: u64,
        /// Contiguous entries, lowest index first.
        entries: Vec<LogEntry>,
    },
    /// The group's latest vote state (latest wins).
    HardState {
        /// Raft group id.
        group: u64,
        /// The new state.
        state: HardState,
    },
    /// Opaque encoded raft-rs ConfState (latest wins).
    ConfState {
        /// Raft group id.
        group: u64,
        /// Opaque encoded raft-rs `ConfState`.
        data: Vec<u8>,
    },
    /// A snapshot taken locally covers everything <= index: entries up to index are no longer
    /// needed. Entries above index are kept.
    Compact {
        /// Raft group id.
        group: u64,
        /// Last index the snapshot covers.
        index: u64,
        /// Term of the entry at `index`.
        term: u64,
    },
    /// A snapshot received from the leader replaced the whole log (raft-rs restores it when its
    /// log does not match the snapshot): every entry is discarded, whatever its index, and the
    /// log restarts after `index`. Unlike [`Record::Compact`] it keeps no suffix, because a
    /// suffix that did not match the snapshot would break Raft's log-matching property.
    Restore {
        /// Raft group id.
        group: u64,
        /// Last index the snapshot covers.
        index: u64,
        /// Term of the entry at `index`.
        term: u64,
    },
}

impl Record {
    /// The Raft group this record belongs to.
    pub fn group(&self) -> u64 {
        match self {
            Record::Entries { group, .. }
            | Record::HardState { group, .. }
            | Record::ConfState { group, .. }
            | Record::Compact { group, .. }
            | Record::Restore { group, .. } => *group,
        }
    }
}

const TYPE_ENTRIES: u8 = 1;
const TYPE_HARD_STATE: u8 = 2;
const TYPE_CONF_STATE: u8 = 3;
const TYPE_COMPACT: u8 = 4;
const TYPE_RESTORE: u8 = 5;

/// Appends the frames for `records` to `out`. Validates everything first, so on error `out` is
/// left exactly as it was and nothing should be written.
pub(crate) fn encode_records(records: &[Record], out: &mut Vec<u8>) -> Result<()> {
    for record in records {
        validate(record)?;
    }
    for record in records {
        encode_record(record, out);
    }
    Ok(())
}

/// Checks a record against the log's rules and the frame size limit.
fn validate(record: &Record) -> Result<()> {
    let group = record.group();
    let invalid = |reason: String| WalError::InvalidRecord { group, reason };
    match record {
        Record::Entries { entries, .. } => {
            for pair in entries.windows(2) {
                if pair[1].index != pair[0].index.wrapping_add(1) {
                    return Err(invalid(format!(
                        "entries not contiguous: index {} follows {}",
                        pair[1].index, pair[0].index
                    )));
                }
            }
            match entries
                .iter()
                .find(|e| entry_cost(e) > max_entries_budget())
            {
                Some(e) => Err(invalid(format!(
                    "entry {} is {} bytes, over the {MAX_RECORD_BYTES}-byte record limit",
                    e.index,
                    e.data.len()
                ))),
                None => Ok(()),
            }
        }
        Record::ConfState { data, .. } if data.len() > max_entries_budget() => Err(invalid(
            format!("conf state is {} bytes, over the record limit", data.len()),
        )),
        _ => Ok(()),
    }
}

/// Payload bytes available to entries in one Entries frame.
fn max_entries_budget() -> usize {
    MAX_RECORD_BYTES as usize - ENTRIES_OVERHEAD_BYTES
}

/// Worst-case encoded size of one entry inside an Entries payload: term and length varints
/// (at most 10 bytes each) plus the data.
fn entry_cost(entry: &LogEntry) -> usize {
    20 + entry.data.len()
}

/// Encodes one validated record, splitting Entries that would overflow a frame.
fn encode_record(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Entries { group, entries } => {
            for chunk in split_entries(entries) {
                write_frame(out, TYPE_ENTRIES, |p| encode_entries(*group, chunk, p));
            }
        }
        Record::HardState { group, state } => write_frame(out, TYPE_HARD_STATE, |p| {
            for v in [*group, state.term, state.vote, state.commit] {
                put_varint(p, v);
            }
        }),
        Record::ConfState { group, data } => write_frame(out, TYPE_CONF_STATE, |p| {
            put_varint(p, *group);
            put_bytes(p, data);
        }),
        Record::Compact { group, index, term } => write_frame(out, TYPE_COMPACT, |p| {
            for v in [*group, *index, *term] {
                put_varint(p, v);
            }
        }),
        Record::Restore { group, index, term } => write_frame(out, TYPE_RESTORE, |p| {
            for v in [*group, *index, *term] {
                put_varint(p, v);
            }
        }),
    }
}

/// Splits entries into runs that each fit in one frame. Empty input yields no runs, so an empty
/// Entries record writes nothing (it would change nothing on replay).
fn split_entries(entries: &[LogEntry]) -> Vec<&[LogEntry]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        if i > start && size + entry_cost(entry) > max_entries_budget() {
            chunks.push(&entries[start..i]);
            (start, size) = (i, 0);
        }
        size += entry_cost(entry);
    }
    if start < entries.len() {
        chunks.push(&entries[start..]);
    }
    chunks
}

fn encode_entries(group: u64, entries: &[LogEntry], p: &mut Vec<u8>) {
    put_varint(p, group);
    put_varint(p, entries[0].index);
    put_varint(p, entries.len() as u64);
    for entry in entries {
        put_varint(p, entry.term);
        put_bytes(p, &entry.data);
    }
}

/// Writes header placeholder, type and payload, then fills in length and checksum.
fn write_frame(out: &mut Vec<u8>, kind: u8, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(kind);
    payload(out);
    let len = out.len() - start - HEADER_BYTES;
    assert!(
        len <= MAX_RECORD_BYTES as usize,
        "validated record encoded to {len} bytes, over the limit"
    );
    let crc = crc32c::crc32c(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// What [`decode_frame`] found at the start of a byte slice.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A complete, checksummed, decodable record occupying `len` bytes.
    Good { record: Record, len: usize },
    /// The frame is damaged. `torn` says whether the damage looks like an interrupted write at
    /// the end of the data: the frame's header is incomplete, or the frame runs past the end of
    /// the file, or it fails its checksum and only zero bytes (or nothing) follow it; in the
    /// last two cases only if no run of intact frames hides inside it. Only such damage may be
    /// forgiven, and only in the last segment.
    Bad { reason: String, torn: bool },
}

/// Most checksum work [`intact_frames_follow`] may do before giving up, so proving a torn
/// tail stays linear in practice even on a hostile file.
const TAIL_SCAN_BUDGET_BYTES: usize = 64 << 20;

/// Decodes the frame at the start of `buf` (which runs to the end of the segment file, zero
/// tail included). Never panics; allocates only for a frame whose bytes are all present. The
/// caller must not call it where only zeros remain: that is the clean end of a segment, not a
/// frame.
pub(crate) fn decode_frame(buf: &[u8]) -> Frame {
    let bad = |reason: &str, torn: bool| Frame::Bad {
        reason: reason.to_string(),
        torn,
    };
    let Some((len, crc)) = read_header(buf) else {
        return bad("incomplete record header", true);
    };
    if len > MAX_RECORD_BYTES as usize {
        // The writer never writes such a length, so it is damage, not an interrupted write.
        return bad("record length over the limit", false);
    }
    let end = HEADER_BYTES + len;
    if end > buf.len() {
        // An interrupted write, unless intact records follow: then the length itself is damaged.
        let torn = !intact_frames_follow(buf);
        return bad("record runs past the end of the file", torn);
    }
    let body = &buf[8..end];
    if crc32c::crc32c(body) != crc {
        // Torn only if nothing but zeros (never-written preallocated space) follows the frame,
        // and no intact frames hide inside it: a damaged length must not swallow good records.
        let torn = end >= data_end(buf) && !intact_frames_follow(buf);
        return bad("checksum mismatch", torn);
    }
    match decode_payload(body[0], &body[1..]) {
        Ok(record) => Frame::Good { record, len: end },
        Err(reason) => Frame::Bad {
            reason,
            torn: false,
        },
    }
}

/// Length and checksum from a frame header, if the header is all there.
fn read_header(buf: &[u8]) -> Option<(usize, u32)> {
    let header = buf.get(..HEADER_BYTES)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    Some((len as usize, crc))
}

/// Where the data in `buf` ends: everything from there on is zero bytes (the never-written part
/// of a preallocated segment).
pub(crate) fn data_end(buf: &[u8]) -> usize {
    buf.len() - buf.iter().rev().take_while(|b| **b == 0).count()
}

/// Whether some position after the start of `buf` begins a run of good frames that reaches the
/// data's end (only zeros, or nothing, after it). That is the signature of a damaged length field
/// in the middle of the log, which must not be mistaken for a torn tail.
fn intact_frames_follow(buf: &[u8]) -> bool {
    let mut budget = TAIL_SCAN_BUDGET_BYTES;
    let end = data_end(buf);
    (1..end).any(|start| frames_reach_end(&buf[start..], end - start, &mut budget))
}

/// Whether `buf` starts with one or more good frames that reach `zeros_from` (after which `buf`
/// holds only zeros). Charges checksum work to `budget`.
fn frames_reach_end(buf: &[u8], zeros_from: usize, budget: &mut usize) -> bool {
    let mut offset = 0;
    while offset < zeros_from {
        match good_frame_len(&buf[offset..], budget) {
            Some(len) => offset += len,
            None => return false,
        }
    }
    offset > 0
}

/// The length of the good frame at the start of `buf`, if there is one and budget remains.
fn good_frame_len(buf: &[u8], budget: &mut usize) -> Option<usize> {
    let (len, crc) = read_header(buf)?;
    let end = HEADER_BYTES.checked_add(len)?;
    if len > MAX_RECORD_BYTES as usize || end > buf.len() || *budget < len {
        return None;
    }
    *budget -= len;
    let body = &buf[8..end];
    let good = crc32c::crc32c(body) == crc && decode_payload(body[0], &body[1..]).is_ok();
    good.then_some(end)
}

/// Decodes a checksummed payload. Errors here mean the writer wrote something this version
/// cannot read (or a checksum collision), never a torn write.
fn decode_payload(kind: u8, payload: &[u8]) -> Result<Record, String> {
    let mut r = Reader { buf: payload };
    let record = match kind {
        TYPE_ENTRIES => decode_entries(&mut r)?,
        TYPE_HARD_STATE => {
            let group = r.varint()?;
            let (term, vote, commit) = (r.varint()?, r.varint()?, r.varint()?);
            let state = HardState { term, vote, commit };
            Record::HardState { group, state }
        }
        TYPE_CONF_STATE => Record::ConfState {
            group: r.varint()?,
            data: r.bytes()?.to_vec(),
        },
        TYPE_COMPACT | TYPE_RESTORE => {
            let (group, index, term) = (r.varint()?, r.varint()?, r.varint()?);
            if kind == TYPE_COMPACT {
                Record::Compact { group, index, term }
            } else {
                Record::Restore { group, index, term }
            }
        }
        other => return Err(format!("unknown record type {other}")),
    };
    match r.buf.is_empty() {
        true => Ok(record),
        false => Err(format!("{} trailing bytes after the payload", r.buf.len())),
    }
}

fn decode_entries(r: &mut Reader<'_>) -> Result<Record, String> {
    let group = r.varint()?;
    let first = r.varint()?;
    let count = r.varint()?;
    // Each entry takes at least two bytes, so a corrupt count cannot over-allocate.
    if count == 0 || count > r.buf.len() as u64 / 2 {
        return Err(format!("entry count {count} does not fit the payload"));
    }
    if first.checked_add(count - 1).is_none() {
        return Err(format!("entry indexes overflow from {first}"));
    }
    let mut entries = Vec::with_capacity(count as usize);
    for index in first..first + count {
        let term = r.varint()?;
        let data = r.bytes()?.to_vec();
        entries.push(LogEntry { index, term, data });
    }
    Ok(Record::Entries { group, entries })
}

/// A cursor over a payload whose every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for (i, byte) in self.buf.iter().take(10).enumerate() {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err("varint overflows u64".to_string());
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err("truncated varint".to_string())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()?;
        if len > self.buf.len() as u64 {
            return Err(format!("byte string of {len} bytes runs past the payload"));
        }
        let (head, tail) = self.buf.split_at(len as usize);
        self.buf = tail;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(record: Record) {
        let mut buf = Vec::new();
        encode_records(std::slice::from_ref(&record), &mut buf).unwrap();
        match decode_frame(&buf) {
            Frame::Good { record: got, len } => {
                assert_eq!(got, record);
                assert_eq!(len, buf.len());
            }
            Frame::Bad { reason, .. } => panic!("decode failed: {reason}"),
        }
    }

    #[test]
    fn every_record_type_roundtrips() {
        let entries = (5..8)
            .map(|index| LogEntry {
                index,
                term: u64::MAX,
                data: vec![index as u8; index as usize],
            })
            .collect();
        roundtrip(Record::Entries { group: 7, entries });
        let state = HardState {
            term: 3,
            vote: 2,
            commit: 1 << 40,
        };
        roundtrip(Record::HardState { group: 0, state });
        roundtrip(Record::ConfState {
            group: 1,
            data: vec![],
        });
        roundtrip(Record::Compact {
            group: u64::MAX,
            index: 9,
            term: 2,
        });
        roundtrip(Record::Restore {
            group: 3,
            index: 0,
            term: 0,
        });
    }

    #[test]
    fn empty_entries_write_nothing() {
        let mut buf = Vec::new();
        let record = Record::Entries {
            group: 1,
            entries: vec![],
        };
        encode_records(&[record], &mut buf).unwrap();
        assert!(buf.is_empty());
    }

    #[test]
    fn non_contiguous_entries_are_rejected_and_nothing_is_encoded() {
        let entry = |index| LogEntry {
            index,
            term: 1,
            data: vec![],
        };
        let mut buf = Vec::new();
        let ok = Record::Compact {
            group: 1,
            index: 1,
            term: 1,
        };
        let bad = Record::Entries {
            group: 1,
            entries: vec![entry(1), entry(3)],
        };
        let err = encode_records(&[ok, bad], &mut buf).unwrap_err();
        assert!(matches!(err, WalError::InvalidRecord { group: 1, .. }));
        assert!(buf.is_empty());
    }

    fn frame(record: Record) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_records(&[record], &mut buf).unwrap();
        buf
    }

    fn compact(index: u64) -> Record {
        Record::Compact {
            group: 1,
            index,
            term: 1,
        }
    }

    #[test]
    fn a_length_running_past_the_end_is_torn() {
        let mut buf = frame(compact(1));
        buf[0] = 200;
        assert!(matches!(decode_frame(&buf), Frame::Bad { torn: true, .. }));
    }

    #[test]
    fn a_length_over_the_limit_is_never_torn() {
        let mut buf = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1];
        buf.extend_from_slice(&[0; 16]);
        assert!(matches!(decode_frame(&buf), Frame::Bad { torn: false, .. }));
    }

    #[test]
    fn a_length_running_past_intact_records_is_not_torn() {
        let mut buf = frame(compact(1));
        buf.extend(frame(compact(2)));
        buf.extend(frame(compact(3)));
        buf[0] = 200;
        assert!(matches!(decode_frame(&buf), Frame::Bad { torn: false, .. }));
    }

    #[test]
    fn a_torn_frame_followed_by_zeros_is_torn_and_followed_by_data_is_not() {
        let mut buf = frame(compact(1));
        buf[10] ^= 1; // break the checksum
        buf.extend_from_slice(&[0; 64]);
        assert!(matches!(decode_frame(&buf), Frame::Bad { torn: true, .. }));
        let last = buf.len() - 1;
        buf[last] = 1;
        assert!(matches!(decode_frame(&buf), Frame::Bad { torn: false, .. }));
    }

    #[test]
    fn a_length_swallowing_intact_frames_into_zeros_is_not_torn() {
        let mut buf = frame(compact(1));
        buf.extend(frame(compact(2)));
        buf.extend_from_slice(&[0; 64]);
        buf[0] = 40; // ends inside the zeros, past the second frame
        assert!(matches!(decode_frame(&buf), Frame::Bad { torn: false, .. }));
    }

    #[test]
    fn zeros_are_never_a_good_frame() {
        assert!(matches!(decode_frame(&[0; 64]), Frame::Bad { .. }));
        assert_eq!(data_end(&[1, 0, 2, 0, 0]), 3);
        assert_eq!(data_end(&[0, 0]), 0);
    }

    #[test]
    fn checksummed_garbage_payloads_never_panic() {
        for kind in 0..=6u8 {
            for len in 0..24usize {
                let payload: Vec<u8> = (0..len)
                    .map(|i| (i as u8).wrapping_mul(37) | 0x80)
                    .collect();
                let mut body = vec![kind];
                body.extend_from_slice(&payload);
                let mut frame = (len as u32).to_le_bytes().to_vec();
                frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
                frame.extend_from_slice(&body);
                let _ = decode_frame(&frame);
            }
        }
    }

    #[test]
    fn varint_rejects_overflow() {
        let mut r = Reader { buf: &[0xff; 10] };
        assert!(r.varint().is_err());
        let mut r = Reader {
            buf: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        };
        assert_eq!(r.varint(), Ok(u64::MAX));
    }
}
