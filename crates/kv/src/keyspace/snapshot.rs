//! Snapshot encoding: the whole keyspace as one byte stream, written key by key.
//!
//! Place in the data flow: the shard writes a snapshot when it compacts its log and streams it
//! to replicas that fell behind; a restarting or new replica reads it back. Checksums, files and
//! chunking are the caller's job; this module only defines the bytes.
//!
//! Format (little-endian), version 1:
//! ```text
//! "TKDBSNAP" version:u8
//! then records, each starting with a tag byte:
//!   1 TENANT  name_len:u32 name          (tenants in increasing order)
//!   2 DB      db:u8                      (within a tenant, increasing, < 16)
//!   3 ENTRY   key_len:u32 key type:u8 value_len:u32 value deadline_ms:u64 version:u64
//! 255 END     entries:u64                (the total number of ENTRY records)
//! ```
//! Only non-empty databases are written, buckets in hash order and keys in byte order within a
//! bucket, so two replicas with the same state write the same bytes.
//!
//! Reading never panics and never trusts a length: every length is bounded by a named limit and
//! bytes are read as they arrive, so a corrupt length cannot allocate gigabytes up front.
//! The reader stops right after the END record, so a caller may keep a trailer after it.

use std::collections::btree_map::Entry as MapEntry;
use std::io::{self, BufWriter, Read, Write};

use super::db::{Bucket, Entry};
use super::{Keyspace, Tenant, Value, DATABASES};

const MAGIC: &[u8; 8] = b"TKDBSNAP";
const FORMAT_VERSION: u8 = 1;
const TAG_TENANT: u8 = 1;
const TAG_DB: u8 = 2;
const TAG_ENTRY: u8 = 3;
const TAG_END: u8 = 255;
const VALUE_STRING: u8 = 1;

/// Longest tenant name a snapshot may hold.
pub const TENANT_NAME_LEN_MAX: u32 = 1024;
/// Longest key or string value a snapshot may hold: Redis's 512 MiB bulk limit.
pub const VALUE_LEN_MAX: u32 = 512 * 1024 * 1024;
/// Bytes buffered while writing before they are handed to the writer.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// Buckets a [`FrozenWriter`] visits per chunk: the keyspace's read lock is held that long
/// (a few hundred microseconds), so commands wait at most about as long between chunks.
pub const FROZEN_CHUNK_BUCKETS: usize = 4096;

/// Why a frozen snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FrozenError {
    /// The freeze ended before the writer was done: the keyspace was replaced (a snapshot
    /// from the leader was installed) or frozen again.
    #[error("the keyspace changed under the snapshot writer (freeze {0} ended); the snapshot is abandoned")]
    Ended(u64),
}

/// Writes a frozen keyspace (see [`Keyspace::freeze`]) in chunks.
#[derive(Debug)]
pub struct FrozenWriter {
    freeze: u64,
    /// The tenants that existed at the freeze, in order; later ones are not in the snapshot.
    tenants: Vec<String>,
    tenant: usize,
    db: u8,
    /// Headers are written before a tenant's or database's first entry, so only non-empty
    /// ones appear, as in [`Keyspace::write_snapshot`].
    tenant_started: bool,
    db_started: bool,
    entries: u64,
    started: bool,
    done: bool,
    chunk_buckets: usize,
}

impl FrozenWriter {
    pub(super) fn new(freeze: u64, tenants: Vec<String>) -> FrozenWriter {
        FrozenWriter {
            freeze,
            tenants,
            tenant: 0,
            db: 0,
            tenant_started: false,
            db_started: false,
            entries: 0,
            started: false,
            done: false,
            chunk_buckets: FROZEN_CHUNK_BUCKETS,
        }
    }

    /// Visits at most `buckets` buckets per chunk instead of `FROZEN_CHUNK_BUCKETS` (at
    /// least one): small chunks let tests interleave changes with the writing.
    pub fn with_chunk_buckets(mut self, buckets: usize) -> FrozenWriter {
        self.chunk_buckets = buckets.max(1);
        self
    }

    /// Appends the next chunk of the snapshot to `out`; returns whether it was the last. Call
    /// it with the keyspace it froze (read-locked for the call) until it returns true.
    pub fn write_chunk(&mut self, ks: &Keyspace, out: &mut Vec<u8>) -> Result<bool, FrozenError> {
        if ks.frozen != Some(self.freeze) {
            return Err(FrozenError::Ended(self.freeze));
        }
        if !self.started {
            out.extend_from_slice(MAGIC);
            out.push(FORMAT_VERSION);
            self.started = true;
        }
        let mut budget = self.chunk_buckets;
        while budget > 0 && !self.done {
            let Some(name) = self.tenants.get(self.tenant) else {
                out.push(TAG_END);
                out.extend_from_slice(&self.entries.to_le_bytes());
                self.done = true;
                break;
            };
            let db = ks
                .tenants
                .get(name)
                .and_then(|t| t.dbs.get(usize::from(self.db)))
                .filter(|db| db.is_frozen())
                .ok_or(FrozenError::Ended(self.freeze))?;
            let mut emitted = 0;
            let mut headers = Headers {
                tenant: name,
                db: self.db,
                tenant_started: self.tenant_started,
                db_started: self.db_started,
            };
            let finished = db
                .frozen_buckets(budget, |bucket: &Bucket| {
                    for e in bucket.entries() {
                        headers.before_entry(out);
                        // Writing into a Vec cannot fail; a field over 4 GiB cannot be stored.
                        let _ = write_entry(out, e);
                        emitted += 1;
                    }
                })
                .ok_or(FrozenError::Ended(self.freeze))?;
            self.tenant_started = headers.tenant_started;
            self.db_started = headers.db_started;
            self.entries += emitted;
            // A chunk is bounded by buckets visited; a database done early leaves the rest of
            // the budget to the next one (at least one unit per database keeps this finite).
            budget = budget.saturating_sub((emitted as usize).max(1));
            if finished {
                self.db += 1;
                self.db_started = false;
                if self.db >= DATABASES {
                    self.db = 0;
                    self.tenant += 1;
                    self.tenant_started = false;
                }
            }
        }
        Ok(self.done)
    }
}

/// The tenant and database headers a [`FrozenWriter`] still owes before the next entry.
struct Headers<'a> {
    tenant: &'a str,
    db: u8,
    tenant_started: bool,
    db_started: bool,
}

impl Headers<'_> {
    fn before_entry(&mut self, out: &mut Vec<u8>) {
        if !self.tenant_started {
            out.push(TAG_TENANT);
            push_bytes(out, self.tenant.as_bytes());
            self.tenant_started = true;
        }
        if !self.db_started {
            out.extend_from_slice(&[TAG_DB, self.db]);
            self.db_started = true;
        }
    }
}

fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn write_entry(w: &mut impl Write, e: &Entry) -> io::Result<()> {
    w.write_all(&[TAG_ENTRY])?;
    write_bytes(w, &e.key)?;
    match &e.value {
        Value::Str(s) => {
            w.write_all(&[VALUE_STRING])?;
            write_bytes(w, s)?;
        }
    }
    w.write_all(&e.deadline_ms.to_le_bytes())?;
    w.write_all(&e.version.to_le_bytes())
}

/// Why a snapshot could not be read. Any of these means the snapshot is unusable as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The reader failed.
    #[error("snapshot I/O error: {0}")]
    Io(#[from] io::Error),
    /// The stream ended before the END record.
    #[error("snapshot is truncated")]
    Truncated,
    /// The stream does not start with the snapshot magic.
    #[error("not a TinkerDB snapshot (bad magic)")]
    BadMagic,
    /// Written by a format version this build does not know.
    #[error("unsupported snapshot format version {0}")]
    UnsupportedVersion(u8),
    /// The bytes break the format; says which rule.
    #[error("corrupt snapshot: {0}")]
    Corrupt(&'static str),
}

impl Keyspace {
    /// Writes the whole keyspace to `w`, key by key through a bounded buffer.
    pub fn write_snapshot(&self, w: &mut impl Write) -> io::Result<()> {
        let mut w = BufWriter::with_capacity(WRITE_BUFFER_BYTES, w);
        w.write_all(MAGIC)?;
        w.write_all(&[FORMAT_VERSION])?;
        let mut entries: u64 = 0;
        for (name, tenant) in &self.tenants {
            if tenant.dbs.iter().all(|db| db.len() == 0) {
                continue;
            }
            w.write_all(&[TAG_TENANT])?;
            write_bytes(&mut w, name.as_bytes())?;
            for (index, db) in (0..DATABASES).zip(&tenant.dbs) {
                if db.len() == 0 {
                    continue;
                }
                w.write_all(&[TAG_DB, index])?;
                for e in db.buckets_from(0).flat_map(|(_, b)| b.entries()) {
                    write_entry(&mut w, e)?;
                    entries += 1;
                }
            }
        }
        w.write_all(&[TAG_END])?;
        w.write_all(&entries.to_le_bytes())?;
        w.flush()
    }

    /// Reads a snapshot written by [`Keyspace::write_snapshot`]. Pass a buffered reader: this
    /// reads small fields one by one and never reads past the END record.
    pub fn read_snapshot(r: &mut impl Read) -> Result<Keyspace, SnapshotError> {
        let mut magic = [0u8; 8];
        read_exact(r, &mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = read_u8(r)?;
        if version != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let mut loader = Loader::default();
        loop {
            match read_u8(r)? {
                TAG_TENANT => loader.tenant(r)?,
                TAG_DB => loader.db(read_u8(r)?)?,
                TAG_ENTRY => loader.entry(r)?,
                TAG_END => return loader.finish(read_u64(r)?),
                _ => return Err(SnapshotError::Corrupt("unknown record tag")),
            }
        }
    }
}

/// The state of a snapshot being read: where the next entry goes.
#[derive(Default)]
struct Loader {
    keyspace: Keyspace,
    tenant: Option<String>,
    db: Option<u8>,
    entries: u64,
}

impl Loader {
    fn tenant(&mut self, r: &mut impl Read) -> Result<(), SnapshotError> {
        let name = read_bytes(r, TENANT_NAME_LEN_MAX)?;
        let name = String::from_utf8(name)
            .map_err(|_| SnapshotError::Corrupt("tenant name is not UTF-8"))?;
        if self.tenant.as_ref().is_some_and(|prev| *prev >= name) {
            return Err(SnapshotError::Corrupt("tenants out of order"));
        }
        match self.keyspace.tenants.entry(name.clone()) {
            MapEntry::Occupied(_) => return Err(SnapshotError::Corrupt("duplicate tenant")),
            MapEntry::Vacant(v) => {
                v.insert(Tenant::new());
            }
        }
        self.tenant = Some(name);
        self.db = None;
        Ok(())
    }

    fn db(&mut self, index: u8) -> Result<(), SnapshotError> {
        if self.tenant.is_none() {
            return Err(SnapshotError::Corrupt("database record before any tenant"));
        }
        if index >= DATABASES || self.db.is_some_and(|prev| prev >= index) {
            return Err(SnapshotError::Corrupt(
                "database index out of range or order",
            ));
        }
        self.db = Some(index);
        Ok(())
    }

    fn entry(&mut self, r: &mut impl Read) -> Result<(), SnapshotError> {
        let (Some(tenant), Some(index)) = (&self.tenant, self.db) else {
            return Err(SnapshotError::Corrupt("entry before its database record"));
        };
        let key = read_bytes(r, VALUE_LEN_MAX)?;
        let value = match read_u8(r)? {
            VALUE_STRING => Value::Str(read_bytes(r, VALUE_LEN_MAX)?.into()),
            _ => return Err(SnapshotError::Corrupt("unknown value type")),
        };
        let deadline_ms = read_u64(r)?;
        let version = read_u64(r)?;
        let db = self
            .keyspace
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.dbs.get_mut(usize::from(index)))
            .ok_or(SnapshotError::Corrupt("entry outside a database"))?;
        if db.insert(&key, value, deadline_ms, version).is_some() {
            return Err(SnapshotError::Corrupt("duplicate key"));
        }
        self.entries += 1;
        Ok(())
    }

    fn finish(self, entries: u64) -> Result<Keyspace, SnapshotError> {
        if entries != self.entries {
            return Err(SnapshotError::Corrupt(
                "entry count does not match the END record",
            ));
        }
        Ok(self.keyspace)
    }
}

fn write_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    let len = u32::try_from(b.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "field over 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(b)
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), SnapshotError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => SnapshotError::Truncated,
        _ => SnapshotError::Io(e),
    })
}

fn read_u8(r: &mut impl Read) -> Result<u8, SnapshotError> {
    let mut b = [0u8; 1];
    read_exact(r, &mut b)?;
    Ok(b[0])
}

fn read_u64(r: &mut impl Read) -> Result<u64, SnapshotError> {
    let mut b = [0u8; 8];
    read_exact(r, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Reads a `u32` length and that many bytes, refusing lengths over `len_max` and growing the
/// buffer only as bytes actually arrive.
fn read_bytes(r: &mut impl Read, len_max: u32) -> Result<Vec<u8>, SnapshotError> {
    let mut b = [0u8; 4];
    read_exact(r, &mut b)?;
    let len = u32::from_le_bytes(b);
    if len > len_max {
        return Err(SnapshotError::Corrupt("length over its limit"));
    }
    let mut out = Vec::new();
    r.by_ref().take(u64::from(len)).read_to_end(&mut out)?;
    if out.len() != len as usize {
        return Err(SnapshotError::Truncated);
    }
    Ok(out)
}
