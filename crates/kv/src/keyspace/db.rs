//! One database (one of a tenant's 16): keys ordered by a fixed 64-bit hash.
//!
//! Layout: `BTreeMap<hash, Bucket>`; a bucket is almost always one entry, and holds the few keys
//! that share a hash sorted by key bytes. Ordering by a hash that never changes (FNV-1a with a
//! 64-bit finalizer: the same on every machine, process and restart) gives SCAN a stateless
//! cursor: the next hash to visit. Keys present for a whole scan are returned at least once
//! whatever is inserted or deleted meanwhile, because positions never move.
//!
//! Memory per key: a BTreeMap slot (8-byte hash + 48-byte entry), two boxed slices (key, value)
//! and, for keys with a deadline, 24 bytes in the expiry index: about 100 bytes beyond the
//! key and value bytes.
//!
//! Invariants: `keys` counts entries, `expires` counts entries with a deadline, the expiry index
//! holds exactly the entries' deadlines, `used_bytes` is the sum of the entries' sizes. Every
//! change goes through the methods below to keep them. This module knows no clock: callers pass
//! `now_ms`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::expiry::ExpiryIndex;
use super::Value;

/// What we count per entry beyond its key and value bytes in [`Db::used_bytes`]: the tree slot,
/// node slack and two allocation headers. An estimate, for INFO and memory limits.
const ENTRY_OVERHEAD_BYTES: u64 = 96;

/// One key with its value, its deadline (Unix ms, 0 = none) and the log index of its last write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: Box<[u8]>,
    pub(crate) value: Value,
    pub(crate) deadline_ms: u64,
    pub(crate) version: u64,
}

impl Entry {
    /// Not expired at `now_ms`. A key whose deadline equals `now_ms` is gone.
    pub(crate) fn is_live(&self, now_ms: u64) -> bool {
        self.deadline_ms == 0 || self.deadline_ms > now_ms
    }

    fn size_bytes(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// The keys sharing one hash, sorted by key.
#[derive(Debug, Clone)]
pub(crate) enum Bucket {
    One(Entry),
    Many(Vec<Entry>),
}

impl Bucket {
    /// The entries of the bucket, sorted by key.
    pub(crate) fn entries(&self) -> &[Entry] {
        match self {
            Bucket::One(e) => std::slice::from_ref(e),
            Bucket::Many(v) => v,
        }
    }

    fn entries_mut(&mut self) -> &mut [Entry] {
        match self {
            Bucket::One(e) => std::slice::from_mut(e),
            Bucket::Many(v) => v,
        }
    }
}

/// The stable hash that orders a database and positions SCAN cursors. Never change it: cursors
/// held by clients and snapshot order depend on it.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One database. See the module docs for its invariants.
#[derive(Debug, Default)]
pub(crate) struct Db {
    buckets: BTreeMap<u64, Bucket>,
    expiry: ExpiryIndex,
    keys: u64,
    expires: u64,
    used_bytes: u64,
    /// Set while a snapshot of the moment it was set is being written (see [`Freeze`]).
    freeze: Option<Freeze>,
}

/// Copy-on-write for a snapshot written while the database keeps changing.
///
/// The writer visits buckets in hash order and publishes how far it got (`next`: every hash
/// below it is written; `done`: all are). Before a change touches a bucket the writer has not
/// reached yet, the bucket as it was (or `None`: it did not exist) is kept in `preimages`,
/// once: the first preimage of a hash is the bucket as of the freeze, and later changes find
/// it kept. The writer then reads a hash's preimage if there is one, else the live bucket,
/// which nothing changed since the freeze. A flush (FLUSHDB) moves the buckets the writer has
/// not reached aside whole (`flushed`); from then on the writer reads those instead of the
/// live map, whose later changes it no longer sees, so nothing more needs keeping. Changes
/// take the keyspace's write lock and the writer its read lock, so the atomics only carry
/// `next` between them; no torn state is ever seen.
#[derive(Debug, Default)]
struct Freeze {
    next: AtomicU64,
    done: AtomicBool,
    preimages: BTreeMap<u64, Option<Bucket>>,
    flushed: Option<BTreeMap<u64, Bucket>>,
}

impl Freeze {
    /// Whether the writer has still to write the bucket at `hash`.
    fn pending(&self, hash: u64) -> bool {
        !self.done.load(Ordering::Acquire) && hash >= self.next.load(Ordering::Acquire)
    }
}

impl Db {
    /// An empty database; `const` so reads of a missing tenant can borrow a `static` one.
    pub(crate) const fn new() -> Self {
        Db {
            buckets: BTreeMap::new(),
            expiry: ExpiryIndex::new(),
            keys: 0,
            expires: 0,
            used_bytes: 0,
            freeze: None,
        }
    }

    /// Starts keeping this database as it is now for a snapshot writer (see [`Freeze`]).
    pub(crate) fn freeze(&mut self) {
        self.freeze = Some(Freeze::default());
    }

    /// Stops keeping it; drops what was kept.
    pub(crate) fn thaw(&mut self) {
        self.freeze = None;
    }

    /// Whether a freeze is on.
    pub(crate) fn is_frozen(&self) -> bool {
        self.freeze.is_some()
    }

    /// Keeps the bucket at `hash` as it is, if a freeze is on and its writer has not reached it.
    fn preserve(&mut self, hash: u64) {
        if let Some(freeze) = &mut self.freeze {
            if freeze.flushed.is_none()
                && freeze.pending(hash)
                && !freeze.preimages.contains_key(&hash)
            {
                freeze
                    .preimages
                    .insert(hash, self.buckets.get(&hash).cloned());
            }
        }
    }

    /// For the snapshot writer: visits up to `limit` buckets of the frozen database from where
    /// it stopped, in hash order, handing `emit` each one as of the freeze; returns whether it
    /// has visited them all. `None` when no freeze is on.
    pub(crate) fn frozen_buckets(
        &self,
        limit: usize,
        mut emit: impl FnMut(&Bucket),
    ) -> Option<bool> {
        let freeze = self.freeze.as_ref()?;
        if freeze.done.load(Ordering::Acquire) {
            return Some(true);
        }
        let from = freeze.next.load(Ordering::Acquire);
        // After a flush, the buckets moved aside stand for the whole unwritten rest.
        let base = freeze.flushed.as_ref().unwrap_or(&self.buckets);
        let mut unchanged = base.range(from..).peekable();
        let mut kept = freeze.preimages.range(from..).peekable();
        for _ in 0..limit {
            let unchanged_hash = unchanged.peek().map(|(h, _)| **h);
            let kept_hash = kept.peek().map(|(h, _)| **h);
            let hash = match (unchanged_hash, kept_hash) {
                (None, None) => {
                    freeze.done.store(true, Ordering::Release);
                    return Some(true);
                }
                (Some(u), Some(k)) => u.min(k),
                (Some(h), None) | (None, Some(h)) => h,
            };
            let from_base = if unchanged_hash == Some(hash) {
                unchanged.next().map(|(_, b)| b)
            } else {
                None
            };
            if kept_hash == Some(hash) {
                // The bucket as of the freeze (`None`: it did not exist then).
                if let Some((_, Some(bucket))) = kept.next() {
                    emit(bucket);
                }
            } else if let Some(bucket) = from_base {
                emit(bucket);
            }
            match hash.checked_add(1) {
                Some(next) => freeze.next.store(next, Ordering::Release),
                None => {
                    freeze.done.store(true, Ordering::Release);
                    return Some(true);
                }
            }
        }
        Some(false)
    }

    /// Entries stored, including expired ones not purged yet (Redis's DBSIZE counts them too).
    pub(crate) fn len(&self) -> u64 {
        self.keys
    }

    /// Entries with a deadline.
    pub(crate) fn expires(&self) -> u64 {
        self.expires
    }

    /// Approximate bytes held by the entries.
    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// The entry for `key`, expired or not.
    pub(crate) fn get_any(&self, key: &[u8]) -> Option<&Entry> {
        let bucket = self.buckets.get(&key_hash(key))?;
        let entries = bucket.entries();
        entries
            .binary_search_by(|e| e.key[..].cmp(key))
            .ok()
            .map(|i| &entries[i])
    }

    /// The entry for `key` if it has not expired at `now_ms`; expired entries are hidden.
    pub(crate) fn get(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.get_any(key).filter(|e| e.is_live(now_ms))
    }

    /// Inserts or replaces the entry for `key`; returns the old entry.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        deadline_ms: u64,
        version: u64,
    ) -> Option<Entry> {
        let hash = key_hash(key);
        self.preserve(hash);
        let old = self.remove(key);
        let entry = Entry {
            key: key.into(),
            value,
            deadline_ms,
            version,
        };
        self.account_add(&entry, hash);
        match self.buckets.remove(&hash) {
            None => {
                self.buckets.insert(hash, Bucket::One(entry));
            }
            Some(Bucket::One(other)) => {
                let mut v = vec![other, entry];
                v.sort_by(|a, b| a.key.cmp(&b.key));
                self.buckets.insert(hash, Bucket::Many(v));
            }
            Some(Bucket::Many(mut v)) => {
                let at = v.partition_point(|e| e.key[..] < *key);
                v.insert(at, entry);
                self.buckets.insert(hash, Bucket::Many(v));
            }
        }
        old
    }

    /// Removes the entry for `key`, expired or not; returns it.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let hash = key_hash(key);
        // Under a freeze, a removal keeps the bucket first (only if the key is there: a miss
        // changes nothing). Without one, no extra lookup on this hot path.
        if self.freeze.is_some() {
            self.get_any(key)?;
            self.preserve(hash);
        }
        let bucket = self.buckets.get_mut(&hash)?;
        let entry = match bucket {
            Bucket::One(e) if e.key[..] == *key => match self.buckets.remove(&hash) {
                Some(Bucket::One(e)) => e,
                _ => unreachable!("bucket changed between get and remove"),
            },
            Bucket::One(_) => return None,
            Bucket::Many(v) => {
                let at = v.binary_search_by(|e| e.key[..].cmp(key)).ok()?;
                let e = v.remove(at);
                if v.len() == 1 {
                    if let Some(last) = v.pop() {
                        *bucket = Bucket::One(last);
                    }
                }
                e
            }
        };
        self.account_remove(&entry, hash);
        Some(entry)
    }

    /// Deletes `key` if it has expired at `now_ms`; writes call this first so that they treat
    /// an expired key as absent. Returns true if it deleted.
    pub(crate) fn remove_if_expired(&mut self, key: &[u8], now_ms: u64) -> bool {
        let expired = self.get_any(key).is_some_and(|e| !e.is_live(now_ms));
        if expired {
            self.remove(key);
        }
        expired
    }

    /// Sets the deadline of an existing `key` (0 clears it). Returns false if there is no key.
    pub(crate) fn set_deadline(&mut self, key: &[u8], deadline_ms: u64, version: u64) -> bool {
        let hash = key_hash(key);
        self.preserve(hash);
        let Some(entry) = self.entry_mut(hash, key) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.deadline_ms, deadline_ms);
        entry.version = version;
        self.expiry.remove(old, hash);
        self.expiry.add(deadline_ms, hash);
        self.expires = self.expires + u64::from(deadline_ms != 0) - u64::from(old != 0);
        true
    }

    /// Replaces the value of `key`, keeping its deadline, or creates it without one.
    pub(crate) fn set_value(&mut self, key: &[u8], value: Value, version: u64) {
        let hash = key_hash(key);
        self.preserve(hash);
        let new_len = value.len() as u64;
        match self.entry_mut(hash, key) {
            Some(entry) => {
                let old_len = entry.value.len() as u64;
                entry.value = value;
                entry.version = version;
                self.used_bytes = self.used_bytes - old_len + new_len;
            }
            None => {
                self.insert(key, value, 0, version);
            }
        }
    }

    /// Buckets in hash order starting at `from`, for SCAN, KEYS, RANDOMKEY and snapshots.
    pub(crate) fn buckets_from(&self, from: u64) -> impl Iterator<Item = (u64, &Bucket)> + '_ {
        self.buckets.range(from..).map(|(&h, b)| (h, b))
    }

    /// Up to `limit` keys that have expired at `now_ms`, earliest deadline first.
    pub(crate) fn expired_keys(&self, now_ms: u64, limit: usize) -> Vec<Box<[u8]>> {
        let mut out = Vec::new();
        for (deadline, hash) in self.expiry.due(now_ms) {
            if out.len() >= limit {
                break;
            }
            let Some(bucket) = self.buckets.get(&hash) else {
                continue;
            };
            let due = bucket
                .entries()
                .iter()
                .filter(|e| e.deadline_ms == deadline);
            out.extend(due.take(limit - out.len()).map(|e| e.key.clone()));
        }
        out
    }

    /// Deletes every key (FLUSHDB). Under a freeze, the buckets its writer has not reached
    /// are moved aside whole for it first (the first flush of the freeze; after it, the live
    /// map holds nothing the writer reads).
    pub(crate) fn clear(&mut self) {
        let mut freeze = self.freeze.take();
        let mut buckets = std::mem::take(&mut self.buckets);
        if let Some(freeze) = &mut freeze {
            if freeze.flushed.is_none() && !freeze.done.load(Ordering::Acquire) {
                let from = freeze.next.load(Ordering::Acquire);
                freeze.flushed = Some(buckets.split_off(&from));
            }
        }
        drop(buckets);
        *self = Db::new();
        self.freeze = freeze;
    }

    fn entry_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        let entries = self.buckets.get_mut(&hash)?.entries_mut();
        let at = entries.binary_search_by(|e| e.key[..].cmp(key)).ok()?;
        Some(&mut entries[at])
    }

    fn account_add(&mut self, e: &Entry, hash: u64) {
        self.keys += 1;
        self.expires += u64::from(e.deadline_ms != 0);
        self.used_bytes += e.size_bytes();
        self.expiry.add(e.deadline_ms, hash);
    }

    fn account_remove(&mut self, e: &Entry, hash: u64) {
        self.keys -= 1;
        self.expires -= u64::from(e.deadline_ms != 0);
        self.used_bytes -= e.size_bytes();
        self.expiry.remove(e.deadline_ms, hash);
    }
}
