//! Memory accounting and eviction for one database: a running `used_bytes` kept equal to the
//! sum of a deterministic per-key size estimate, refreshed for the keys each write touches.
//!
//! How it stays O(1)-ish per write without caching a size in every entry: before a key is
//! changed it is *detached* (its current estimate is subtracted and it is remembered); when
//! the command ends the detached keys are *settled* (their new estimate is added). A removed
//! key that was not detached has its estimate subtracted directly. The estimate is a pure
//! function of the key, its deadline and its value's content and capacities (samples of big
//! collections are taken at fixed positions), so what is subtracted is always what was added.

use super::{Db, Entry};
use crate::value::{Blob, Value};
use crate::IndexSet;
use rand::Rng;

/// Collections up to this many elements are measured exactly; bigger ones from a sample.
pub const EXACT_ELEMENTS: usize = 64;
/// Elements sampled (at evenly spaced positions) in a bigger collection.
pub const SAMPLED_ELEMENTS: usize = 16;
/// Bytes of a key's slot in the main table: the `(Blob, Entry)` pair (64 bytes), its 4-byte
/// position and control byte in the hash index at the table's load factor, and the average
/// spare capacity of the doubling entry vector (calibrated against jemalloc, ARCHITECTURE.md).
pub const KEY_SLOT_BYTES: u64 = 90;
/// Bytes a TTL adds besides a second copy of the key: its slot in the `volatile` index set.
pub const VOLATILE_SLOT_BYTES: u64 = 48;
/// Keys evicted at most before one command; if the database is still full after that, the
/// command is refused with the quota error (bounds the pause one command can cause).
pub const MAX_EVICTIONS_PER_COMMAND: usize = 64;

/// What a full database does with a command that may grow it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Eviction {
    /// Refuse it (Redis's `noeviction`).
    #[default]
    Off,
    /// Evict random keys with a TTL first, then random keys of any kind.
    On,
}

impl Eviction {
    /// The `maxmemory-policy` name Redis clients look for.
    pub fn policy_name(self) -> &'static str {
        match self {
            Eviction::Off => "noeviction",
            Eviction::On => "volatile-random",
        }
    }
}

/// Size limit of a database and what happens when it is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// 0: no limit.
    pub max_data_bytes: u64,
    pub eviction: Eviction,
}

/// Outcome of making room before a command that may grow the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    Available,
    /// Full, and eviction is off or could not free enough within its bound.
    Full,
}

/// The running total and the keys changed since the last settle.
#[derive(Default)]
pub(crate) struct MemoryAccount {
    used_bytes: u64,
    detached: IndexSet<Blob>,
    pub(crate) policy: MemoryPolicy,
}

/// Bytes jemalloc really hands out for a request of `n` bytes: its size classes are 8, then
/// multiples of 16 up to 128, then four classes per doubling.
pub fn alloc_size(n: usize) -> u64 {
    let n = n as u64;
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            let log = 63 - (n - 1).leading_zeros() as u64; // 2^log < n <= 2^(log+1)
            let step = 1u64 << (log - 2);
            n.div_ceil(step) * step
        }
    }
}

/// Heap bytes of a byte string (short ones live inline in the table or collection slot).
pub fn blob_heap(b: &Blob) -> u64 {
    if b.spilled() {
        alloc_size(b.capacity())
    } else {
        0
    }
}

/// Sum of `per_element(i)` over `len` elements: exact up to `EXACT_ELEMENTS`, otherwise the
/// mean of `SAMPLED_ELEMENTS` evenly spaced positions times `len`.
fn elements(len: usize, per_element: impl Fn(usize) -> u64) -> u64 {
    if len <= EXACT_ELEMENTS {
        return (0..len).map(per_element).sum();
    }
    let sum: u64 = (0..SAMPLED_ELEMENTS).map(|i| per_element(i * len / SAMPLED_ELEMENTS)).sum();
    sum * len as u64 / SAMPLED_ELEMENTS as u64
}

/// Bytes of an `IndexMap`/`IndexSet` table: the entry vector and the hash index of `usize`
/// positions plus one control byte per bucket (buckets: capacity × 8/7, a power of two).
fn index_table(capacity: usize, slot: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).max(4).next_power_of_two();
    alloc_size(capacity * slot) + alloc_size(buckets * 9 + 16)
}

/// Bytes of a `BTreeSet`/`BTreeMap` of `len` elements of `slot` bytes: nodes of 11 slots,
/// between half full (keys appended in order) and three quarters full (random order).
fn btree(len: usize, slot: usize) -> u64 {
    (len * (slot + 2) * 7 / 4) as u64
}

/// Estimated bytes of a value, its box and everything it owns.
pub fn value_bytes(value: &Value) -> u64 {
    const BLOB: usize = std::mem::size_of::<Blob>();
    match value {
        Value::Str(s) => blob_heap(s),
        Value::List(l) => {
            alloc_size(std::mem::size_of_val(&**l))
                + alloc_size(l.capacity() * BLOB)
                + elements(l.len(), |i| l.get(i).map_or(0, blob_heap))
        }
        Value::Hash(h) => {
            alloc_size(std::mem::size_of_val(&**h))
                + index_table(h.capacity(), 8 + 2 * BLOB)
                + elements(h.len(), |i| h.get_index(i).map_or(0, |(k, v)| blob_heap(k) + blob_heap(v)))
        }
        Value::Set(s) => {
            alloc_size(std::mem::size_of_val(&**s))
                + index_table(s.capacity(), 8 + BLOB)
                + elements(s.len(), |i| s.get_index(i).map_or(0, blob_heap))
        }
        Value::ZSet(z) => {
            // Each member is held twice: in the score map and in the ordered set.
            alloc_size(std::mem::size_of_val(&**z))
                + index_table(z.scores.capacity(), 8 + BLOB + 8)
                + btree(z.len(), 8 + BLOB)
                + elements(z.len(), |i| z.scores.get_index(i).map_or(0, |(m, _)| 2 * blob_heap(m)))
        }
        Value::Stream(st) => stream_bytes(st),
    }
}

/// A stream: its entries estimated from the first `SAMPLED_ELEMENTS` (a B-tree cannot be
/// indexed; trimming removes from the front, which is a write and re-estimates), plus its
/// consumer groups from their sizes.
fn stream_bytes(st: &crate::stream::StreamValue) -> u64 {
    const BLOB: u64 = std::mem::size_of::<Blob>() as u64;
    let entry = |f: &crate::stream::Fields| -> u64 {
        alloc_size(f.capacity() * 2 * BLOB as usize) + f.iter().map(|(k, v)| blob_heap(k) + blob_heap(v)).sum::<u64>()
    };
    let len = st.entries.len();
    let sampled: Vec<u64> = st.entries.values().take(SAMPLED_ELEMENTS).map(entry).collect();
    let mean = sampled.iter().sum::<u64>().checked_div(sampled.len() as u64).unwrap_or(0);
    let groups: u64 = st
        .groups
        .iter()
        .map(|(name, g)| 128 + blob_heap(name) + g.pel.len() as u64 * 96 + g.consumers.len() as u64 * 128)
        .sum();
    alloc_size(std::mem::size_of_val(st)) + btree(len, 16 + 24) + mean * len as u64 + groups
}

/// Estimated bytes of one key: its table slot, the key bytes, the value, and the TTL index.
pub fn entry_bytes(key: &[u8], entry: &Entry) -> u64 {
    let key_heap = if key.len() > 16 { alloc_size(key.len()) } else { 0 };
    let ttl = if entry.expire_at_ms != 0 { VOLATILE_SLOT_BYTES + key_heap } else { 0 };
    KEY_SLOT_BYTES + key_heap + value_bytes(&entry.value) + ttl
}

impl Db {
    /// Called before `key` changes (value, deadline, or creation): takes its estimate out of
    /// the total until the command settles.
    pub(super) fn detach(&mut self, key: &[u8]) {
        if self.memory.detached.contains(key) {
            return;
        }
        if let Some(entry) = self.entries.get(key) {
            let bytes = entry_bytes(key, entry);
            self.memory.used_bytes = self.memory.used_bytes.saturating_sub(bytes);
        }
        self.memory.detached.insert(crate::value::blob(key));
    }

    /// Whether `key` was detached by the command running now (its settle will count it).
    pub(super) fn is_detached(&self, key: &[u8]) -> bool {
        !self.memory.detached.is_empty() && self.memory.detached.contains(key)
    }

    /// A key replaced whole (`insert`): the old estimate leaves and the new one enters at
    /// once, without detaching (no remembered key, no second lookup at settle time).
    pub(super) fn account_replaced(&mut self, old_bytes: u64, new_bytes: u64) {
        self.memory.used_bytes = self.memory.used_bytes.saturating_sub(old_bytes) + new_bytes;
    }

    /// `detach` for a key that may be absent (TTL changes): an absent key is not remembered.
    pub(super) fn detach_if_present(&mut self, key: &[u8]) {
        if self.entries.contains_key(key) {
            self.detach(key);
        }
    }

    /// Called after `key` was removed with `entry`: its estimate leaves the total (unless it
    /// was detached, in which case it already left).
    pub(super) fn account_removed(&mut self, key: &[u8], entry: &Entry) {
        if self.memory.detached.swap_remove(key) {
            return;
        }
        let bytes = entry_bytes(key, entry);
        self.memory.used_bytes = self.memory.used_bytes.saturating_sub(bytes);
    }

    /// Called after loading `key` from a snapshot with an estimate of `bytes`, replacing
    /// `old` if it was there.
    pub(super) fn account_loaded(&mut self, key: &[u8], bytes: u64, old: Option<&Entry>) {
        if let Some(old) = old {
            self.account_removed(key, old);
        }
        self.memory.used_bytes += bytes;
    }

    /// Forgets everything (FLUSHDB).
    pub(super) fn account_flushed(&mut self) {
        self.memory.used_bytes = 0;
        self.memory.detached = IndexSet::default();
    }

    /// Adds the new estimates of the keys changed since the last call. The server calls it
    /// after every command; it costs one lookup and one estimate per changed key.
    #[inline]
    pub fn settle_memory(&mut self) {
        if !self.memory.detached.is_empty() {
            self.settle_detached();
        }
    }

    fn settle_detached(&mut self) {
        let detached = std::mem::take(&mut self.memory.detached);
        for key in &detached {
            if let Some(entry) = self.entries.get(key.as_slice()) {
                self.memory.used_bytes += entry_bytes(key, entry);
            }
        }
        // Keep the set's allocation for the next command unless it grew large.
        let mut detached = detached;
        detached.clear();
        if detached.capacity() <= 1024 {
            self.memory.detached = detached;
        }
    }

    /// Estimated bytes of the database's keys and values (INFO's `used_memory`).
    pub fn used_bytes(&mut self) -> u64 {
        self.settle_memory();
        self.memory.used_bytes
    }

    /// Estimated bytes of one key (MEMORY USAGE), `None` when it does not exist.
    pub fn key_bytes(&mut self, key: &[u8]) -> Option<u64> {
        self.entry(key)?;
        self.entries.get(key).map(|e| entry_bytes(key, e))
    }

    /// The sum of every key's estimate, walking the whole table: what `used_bytes` must equal.
    /// For tests and checks only (O(n)).
    pub fn recount_used_bytes(&self) -> u64 {
        self.entries.iter().map(|(k, e)| entry_bytes(k, e)).sum()
    }

    pub fn memory_policy(&self) -> MemoryPolicy {
        self.memory.policy
    }

    pub fn set_memory_policy(&mut self, policy: MemoryPolicy) {
        self.memory.policy = policy;
    }

    /// Whether the database is at or past its size limit.
    #[inline]
    pub fn is_full(&mut self) -> bool {
        let max = self.memory.policy.max_data_bytes;
        max != 0 && self.used_bytes() >= max
    }

    /// Before a command that may grow the database: when it is full and eviction is on,
    /// evicts random keys (those with a TTL first) until it is under its limit, at most
    /// `MAX_EVICTIONS_PER_COMMAND` of them. Evicted keys are returned through `evicted` so
    /// the caller can log each as a `DEL`.
    pub fn make_room(&mut self, evicted: &mut Vec<Blob>) -> Room {
        if !self.is_full() {
            return Room::Available;
        }
        if self.memory.policy.eviction == Eviction::Off {
            return Room::Full;
        }
        for _ in 0..MAX_EVICTIONS_PER_COMMAND {
            let Some(key) = self.eviction_candidate() else { return Room::Full };
            if self.remove(&key).is_some() {
                self.stats.evicted_keys += 1;
                evicted.push(key);
            }
            if !self.is_full() {
                return Room::Available;
            }
        }
        Room::Full
    }

    /// A random key with a TTL (volatile-random); when none has one, any random key
    /// (allkeys-random). Expired keys met on the way are reclaimed, not evicted.
    fn eviction_candidate(&mut self) -> Option<Blob> {
        if !self.volatile.is_empty() {
            let i = self.rng.gen_range(0..self.volatile.len());
            return self.volatile.get_index(i).cloned();
        }
        self.random_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::blob;

    fn s(v: &[u8]) -> Value {
        Value::Str(blob(v))
    }

    #[test]
    fn size_classes_match_jemalloc() {
        let cases = [(1, 8), (8, 8), (9, 16), (17, 32), (100, 112), (129, 160), (200, 224), (257, 320), (1000, 1024)];
        for (n, class) in cases {
            assert_eq!(alloc_size(n), class, "{n}");
        }
    }

    #[test]
    fn total_follows_inserts_changes_and_removals() {
        let mut db = Db::default();
        db.set_clock(1);
        db.insert(b"a", s(b"small"));
        db.insert(b"b", s(&[b'x'; 1000]));
        db.settle_memory();
        assert_eq!(db.used_bytes(), db.recount_used_bytes());
        assert!(db.used_bytes() >= 2 * KEY_SLOT_BYTES + 1000);
        db.set_expire_at(b"a", 100);
        assert_eq!(db.used_bytes(), db.recount_used_bytes());
        if let Some(Value::Str(v)) = db.get_mut(b"b") {
            v.extend_from_slice(&[b'y'; 5000]);
        }
        assert_eq!(db.used_bytes(), db.recount_used_bytes());
        assert!(db.used_bytes() > 6000);
        db.set_clock(200);
        assert!(db.get(b"a").is_none());
        db.remove(b"b");
        assert_eq!(db.used_bytes(), 0);
    }

    #[test]
    fn big_collections_are_estimated_from_samples_and_cancel_out() {
        let mut db = Db::default();
        let h = db.hash_mut(b"h", true).unwrap().unwrap();
        for i in 0..10_000 {
            h.insert(blob(format!("field-{i:020}").as_bytes()), blob(b"v"));
        }
        let bytes = db.used_bytes();
        assert_eq!(bytes, db.recount_used_bytes());
        // 10,000 fields of 26 bytes: at least their key bytes plus a 56-byte slot each.
        assert!(bytes > 10_000 * (32 + 56), "{bytes}");
        db.hash_mut(b"h", false).unwrap().unwrap().swap_remove(b"field-00000000000000000007".as_slice());
        assert_eq!(db.used_bytes(), db.recount_used_bytes());
        db.remove(b"h");
        assert_eq!(db.used_bytes(), 0);
    }

    #[test]
    fn eviction_prefers_keys_with_a_ttl() {
        let mut db = Db::default();
        db.set_clock(1);
        for i in 0..20 {
            db.insert(format!("keep{i}").as_bytes(), s(b"v"));
        }
        for i in 0..5 {
            let k = format!("ttl{i}");
            db.insert(k.as_bytes(), s(b"v"));
            db.set_expire_at(k.as_bytes(), 1_000_000);
        }
        let full = db.used_bytes();
        db.set_memory_policy(MemoryPolicy { max_data_bytes: full - 3 * KEY_SLOT_BYTES, eviction: Eviction::On });
        let mut evicted = Vec::new();
        assert_eq!(db.make_room(&mut evicted), Room::Available);
        assert!(!evicted.is_empty() && evicted.iter().all(|k| k.starts_with(b"ttl")), "{evicted:?}");
        assert_eq!(db.stats.evicted_keys, evicted.len() as u64);
        // Without keys with a TTL, any key goes.
        db.set_memory_policy(MemoryPolicy { max_data_bytes: 10 * KEY_SLOT_BYTES, eviction: Eviction::On });
        let mut evicted = Vec::new();
        db.make_room(&mut evicted);
        assert!(db.volatile_len() == 0);
        assert!(db.used_bytes() < 10 * KEY_SLOT_BYTES);
        assert_eq!(db.used_bytes(), db.recount_used_bytes());
    }

    #[test]
    fn without_eviction_a_full_database_stays_full() {
        let mut db = Db::default();
        db.insert(b"a", s(b"v"));
        db.set_memory_policy(MemoryPolicy { max_data_bytes: 1, eviction: Eviction::Off });
        let mut evicted = Vec::new();
        assert_eq!(db.make_room(&mut evicted), Room::Full);
        assert!(evicted.is_empty());
        assert!(db.contains(b"a"));
    }
}
