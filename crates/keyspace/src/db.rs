//! The keyspace of one database: lookups with lazy expiry, TTL bookkeeping, active expiry,
//! random sampling, cursor scans, and the signals (watch, ready keys) commands raise.

use crate::changelog::ChangeLog;
use crate::value::{blob, Blob, HashValue, ListValue, SetValue, Value, ZSetValue};
use crate::IndexSet;
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};

mod memory;
pub use memory::{entry_bytes, Eviction, MemoryPolicy, Room, MAX_EVICTIONS_PER_COMMAND};
mod snapshot;
pub use snapshot::{for_each_copied, SliceBudget, SliceProgress};

/// A value and its deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Unix time in milliseconds after which the key no longer exists; 0 means no TTL.
    pub expire_at_ms: u64,
}

/// The key holds a value of another type than the command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// Counters that `INFO stats` reports.
#[derive(Clone, Debug, Default)]
pub struct DbStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// Commands run against this database (INFO's total_commands_processed).
    pub commands_processed: u64,
    /// Connections that authenticated to this database.
    pub connections_received: u64,
}

/// Who removes keys whose deadline passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    /// This copy deletes them (lazily and actively) and the server logs a `DEL` for each: a
    /// primary.
    #[default]
    Deletes,
    /// They are hidden from every read but kept: a replica, which deletes a key only when its
    /// primary's `DEL` arrives, so it never diverges when the clocks disagree.
    Hides,
    /// Nothing expires: while a replica applies its primary's records, which the primary
    /// decided on its own clock (Redis replicas apply their master's stream the same way).
    Suspended,
}

/// Default in-memory change-log backlog per database.
pub const DEFAULT_BACKLOG_BYTES: usize = 1024 * 1024;

pub struct Db {
    entries: crate::table::KeyTable<Blob, Entry>,
    /// Keys that carry a TTL, for sampling by active expiry (and volatile eviction).
    volatile: IndexSet<Blob>,
    now_ms: u64,
    rng: SmallRng,
    pub change_log: ChangeLog,
    pub stats: DbStats,
    /// Number of changes since start (Redis's `dirty`), also `rdb_changes_since_last_save`.
    pub dirty: u64,
    /// Keys removed by expiry since the server last drained them; each becomes a `DEL` record
    /// in the change log so replicas and the disk see expiries in order.
    expired_pending: Vec<Blob>,
    /// WATCHed keys → ids of the clients watching them.
    watched: HashMap<Blob, Vec<u64>>,
    /// Clients whose watched keys changed; their next EXEC fails.
    dirty_watchers: HashSet<u64>,
    /// Keys some client is blocked on → number of such clients.
    blocked_keys: HashMap<Blob, usize>,
    /// Keys that received elements while clients were blocked on them, in signal order.
    ready_keys: Vec<Blob>,
    /// Running size estimate and size limit (`memory.rs`).
    memory: memory::MemoryAccount,
    /// The running copy-on-write snapshot, if any (see `db/snapshot.rs`).
    snapshot: Option<Box<snapshot::CowState>>,
    /// Function libraries (FUNCTION LOAD), part of the database like keys: name → source.
    /// Replaced whole on change (copy-on-write), so a snapshot keeps the map of its offset.
    pub libraries: Libraries,
    expiry: Expiry,
}

/// The function libraries of a database, by library name, each with its source code. The
/// keyspace only stores them; compiling and running them is the server's business.
pub type Libraries = std::sync::Arc<std::collections::BTreeMap<String, bytes::Bytes>>;

impl Default for Db {
    fn default() -> Self {
        Self::new(DEFAULT_BACKLOG_BYTES)
    }
}

impl Db {
    pub fn new(backlog_bytes: usize) -> Self {
        Db {
            entries: crate::table::KeyTable::default(),
            volatile: IndexSet::default(),
            now_ms: 0,
            rng: SmallRng::from_entropy(),
            change_log: ChangeLog::new(backlog_bytes),
            stats: DbStats::default(),
            dirty: 0,
            expired_pending: Vec::new(),
            watched: HashMap::new(),
            dirty_watchers: HashSet::new(),
            blocked_keys: HashMap::new(),
            ready_keys: Vec::new(),
            memory: memory::MemoryAccount::default(),
            snapshot: None,
            libraries: Libraries::default(),
            expiry: Expiry::Deletes,
        }
    }

    /// Sets who removes expired keys (a replica hides them, and suspends expiry while it
    /// applies its primary's records).
    pub fn set_expiry(&mut self, expiry: Expiry) {
        self.expiry = expiry;
    }

    pub fn expiry(&self) -> Expiry {
        self.expiry
    }

    /// Sets the clock used for every expiry decision until the next call. The server calls
    /// it once per command so that a command sees one consistent time, as in Redis.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }

    /// Number of keys, including ones whose deadline passed but that were not reclaimed yet.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn is_expired(&self, entry: &Entry) -> bool {
        entry.expire_at_ms != 0 && entry.expire_at_ms <= self.now_ms && self.expiry != Expiry::Suspended
    }

    /// Removes `key` if its deadline has passed. Returns true when it did.
    fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let expired = match self.entries.get(key) {
            Some(e) => self.is_expired(e),
            None => false,
        };
        if expired {
            self.delete_expired(key);
        }
        expired
    }

    /// Position of a live key, with one hash lookup: an expired key is deleted and `None`.
    fn live_position(&mut self, key: &[u8]) -> Option<usize> {
        let position = self.entries.position(key)?;
        let expired = self.entries.get_index(position).is_some_and(|(_, e)| self.is_expired(e));
        if expired {
            self.delete_expired(key);
            return None;
        }
        Some(position)
    }

    fn delete_expired(&mut self, key: &[u8]) {
        if self.expiry != Expiry::Deletes {
            return;
        }
        self.cow_key(key);
        if let Some((_, entry)) = self.entries.swap_remove(key) {
            self.account_removed(key, &entry);
        }
        self.volatile.swap_remove(key);
        self.stats.expired_keys += 1;
        self.signal_modified(key);
        self.expired_pending.push(blob(key));
    }

    /// Keys removed by expiry since the last call, oldest first.
    pub fn drain_expired(&mut self) -> Vec<Blob> {
        std::mem::take(&mut self.expired_pending)
    }

    pub fn has_expired_pending(&self) -> bool {
        !self.expired_pending.is_empty()
    }

    pub fn entry(&mut self, key: &[u8]) -> Option<&Entry> {
        let position = self.live_position(key)?;
        self.entries.get_index(position).map(|(_, e)| e)
    }

    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }

    /// Read lookup that also counts keyspace hits and misses.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&Value> {
        match self.live_position(key).and_then(|p| self.entries.get_index(p)).map(|(_, e)| e) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                Some(&e.value)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.live_position(key).is_some()
    }

    /// Mutable access for a write; marks the key modified.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Value> {
        let position = self.live_position(key)?;
        self.cow_position(position);
        self.signal_modified(key);
        self.detach(key);
        self.entries.get_index_mut(position).map(|e| &mut e.value)
    }

    /// Stores `value`, dropping any TTL the key had (as `SET` does).
    pub fn insert(&mut self, key: &[u8], value: Value) {
        let position = self.live_position(key);
        if let Some(p) = position {
            self.cow_position(p);
        }
        self.signal_modified(key);
        let new_entry = Entry { value, expire_at_ms: 0 };
        // The whole value is known here, so its estimate is settled at once (one lookup per
        // SET); a key this command already detached is counted by its settle instead.
        let account_now = !self.is_detached(key);
        let new_bytes = if account_now { memory::entry_bytes(key, &new_entry) } else { 0 };
        let mut old_bytes = 0;
        match position.and_then(|p| self.entries.get_index_mut(p)) {
            Some(entry) => {
                if account_now {
                    old_bytes = memory::entry_bytes(key, entry);
                }
                let had_ttl = entry.expire_at_ms != 0;
                *entry = new_entry;
                if had_ttl {
                    self.volatile.swap_remove(key);
                }
            }
            None => self.entries.insert_new(blob(key), new_entry),
        }
        if account_now {
            self.account_replaced(old_bytes, new_bytes);
        }
    }

    /// Stores `value`, keeping the key's TTL if it has one.
    pub fn insert_keep_ttl(&mut self, key: &[u8], value: Value) {
        self.expire_if_needed(key);
        self.cow_key(key);
        self.signal_modified(key);
        self.detach(key);
        match self.entries.get_mut(key) {
            Some(e) => e.value = value,
            None => {
                self.entries.insert(blob(key), Entry { value, expire_at_ms: 0 });
            }
        }
    }

    /// Stores a whole entry (value and deadline), as RESTORE-like operations and COPY need.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        let ttl = entry.expire_at_ms;
        self.insert(key, entry.value);
        if ttl != 0 {
            self.set_expire_at(key, ttl);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.remove_entry(key).map(|e| e.value)
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<Entry> {
        self.expire_if_needed(key);
        self.cow_key(key);
        let (_, entry) = self.entries.swap_remove(key)?;
        self.account_removed(key, &entry);
        if entry.expire_at_ms != 0 {
            self.volatile.swap_remove(key);
        }
        self.signal_modified(key);
        Some(entry)
    }

    /// Deletes the key if it holds an empty collection (Redis never keeps empty ones).
    pub fn remove_if_empty(&mut self, key: &[u8]) {
        if self.entries.get(key).is_some_and(|e| e.value.is_empty_collection()) {
            self.remove(key);
        }
    }

    /// Sets an absolute deadline; a deadline in the past deletes the key. Returns false when
    /// the key does not exist.
    pub fn set_expire_at(&mut self, key: &[u8], at_ms: u64) -> bool {
        self.expire_if_needed(key);
        self.cow_key(key);
        self.detach_if_present(key);
        let now = self.now_ms;
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        if at_ms <= now {
            self.remove(key);
            return true;
        }
        if entry.expire_at_ms == 0 {
            self.volatile.insert(blob(key));
        }
        entry.expire_at_ms = at_ms;
        self.signal_modified(key);
        true
    }

    /// Deadline of the key: `None` if missing, `Some(0)` if it has no TTL.
    pub fn expire_at(&mut self, key: &[u8]) -> Option<u64> {
        self.entry(key).map(|e| e.expire_at_ms)
    }

    /// Removes the TTL; returns true when there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expire_if_needed(key);
        self.cow_key(key);
        self.detach_if_present(key);
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        if entry.expire_at_ms == 0 {
            return false;
        }
        entry.expire_at_ms = 0;
        self.volatile.swap_remove(key);
        self.signal_modified(key);
        true
    }

    /// Deletes every key; watchers of any key are marked dirty.
    pub fn flush(&mut self) {
        self.cow_replace_table();
        self.volatile = IndexSet::default();
        self.account_flushed();
        self.dirty += 1;
        let watchers: Vec<u64> = self.watched.values().flatten().copied().collect();
        self.dirty_watchers.extend(watchers);
    }

    /// A random live key, or `None` if the database is empty.
    pub fn random_key(&mut self) -> Option<Blob> {
        for _ in 0..100 {
            if self.entries.is_empty() {
                return None;
            }
            let i = self.rng.gen_range(0..self.entries.len());
            let (key, entry) = self.entries.get_index(i)?;
            if !self.is_expired(entry) {
                return Some(key.clone());
            }
            let key = key.clone();
            self.delete_expired(&key);
        }
        // Mostly expired keys: fall back to any key, as Redis does after its attempts.
        self.entries.get_index(0).map(|(k, _)| k.clone())
    }

    /// One step of a cursor scan over the keys; see [`scan_positions`]. Expired keys are
    /// skipped (not deleted, so the positions stay stable during the step).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Blob, &Entry)) -> u64 {
        let (positions, next) = scan_positions(self.entries.len(), cursor, count);
        for i in positions {
            if let Some((k, e)) = self.entries.get_index(i) {
                if !self.is_expired(e) {
                    visit(k, e);
                }
            }
        }
        next
    }

    /// Every live key (for `KEYS`); callers bound their own output.
    pub fn for_each_live(&self, mut visit: impl FnMut(&Blob, &Entry)) {
        for (k, e) in self.entries.iter() {
            if !self.is_expired(e) {
                visit(k, e);
            }
        }
    }

    /// Active expiry: samples keys with a TTL and deletes the expired ones, repeating while
    /// many samples were expired, and never examining more than `max_samples` keys, so one
    /// call is short whatever the database size. Returns the number of keys deleted.
    pub fn active_expire(&mut self, max_samples: usize) -> usize {
        if self.expiry != Expiry::Deletes {
            return 0;
        }
        let mut examined = 0;
        let mut deleted = 0;
        loop {
            let batch = 20.min(self.volatile.len());
            if batch == 0 {
                return deleted;
            }
            let mut expired_in_batch = 0;
            for _ in 0..batch {
                let i = self.rng.gen_range(0..self.volatile.len());
                let Some(key) = self.volatile.get_index(i).cloned() else {
                    break;
                };
                examined += 1;
                let is_expired = self.entries.get(key.as_slice()).is_none_or(|e| self.is_expired(e));
                if is_expired {
                    if self.entries.contains_key(key.as_slice()) {
                        self.delete_expired(&key);
                    } else {
                        self.volatile.swap_remove(key.as_slice());
                    }
                    expired_in_batch += 1;
                    deleted += 1;
                }
                if self.volatile.is_empty() {
                    return deleted;
                }
            }
            if examined >= max_samples || expired_in_batch * 4 < batch {
                return deleted;
            }
        }
    }

    // ----- typed access -------------------------------------------------------------------

    pub fn get_str(&mut self, key: &[u8]) -> Result<Option<&Blob>, WrongType> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(WrongType),
        }
    }

    /// Checks the type of `key` without touching it: `Ok(true)` if it holds `type_name`,
    /// `Ok(false)` if absent, `Err(WrongType)` otherwise.
    pub fn check_type(&mut self, key: &[u8], type_name: &str) -> Result<bool, WrongType> {
        match self.get(key) {
            None => Ok(false),
            Some(v) if v.type_name() == type_name => Ok(true),
            Some(_) => Err(WrongType),
        }
    }
}

macro_rules! typed_access {
    ($read:ident, $write:ident, $variant:ident, $ty:ty, $new:expr) => {
        impl Db {
            /// Read access to a value of this type; `Ok(None)` when the key is absent.
            pub fn $read(&mut self, key: &[u8]) -> Result<Option<&$ty>, WrongType> {
                match self.lookup_read(key) {
                    None => Ok(None),
                    Some(Value::$variant(v)) => Ok(Some(v)),
                    Some(_) => Err(WrongType),
                }
            }

            /// Write access; with `create`, an absent key is created empty (the caller must
            /// add to it or call `remove_if_empty`). Marks the key modified.
            pub fn $write(&mut self, key: &[u8], create: bool) -> Result<Option<&mut $ty>, WrongType> {
                match self.get(key) {
                    None if create => self.insert(key, Value::$variant(Box::new($new))),
                    None => return Ok(None),
                    Some(Value::$variant(_)) => {}
                    Some(_) => return Err(WrongType),
                }
                match self.get_mut(key) {
                    Some(Value::$variant(v)) => Ok(Some(v)),
                    _ => Ok(None),
                }
            }
        }
    };
}

typed_access!(list, list_mut, List, ListValue, ListValue::new());
typed_access!(hash, hash_mut, Hash, HashValue, HashValue::default());
typed_access!(set, set_mut, Set, SetValue, SetValue::default());
typed_access!(zset, zset_mut, ZSet, ZSetValue, ZSetValue::default());
typed_access!(stream, stream_mut, Stream, crate::stream::StreamValue, crate::stream::StreamValue::default());

// ----- signals ----------------------------------------------------------------------------

impl Db {
    /// Records that `key` changed: counts a change and invalidates WATCHes on it.
    pub fn signal_modified(&mut self, key: &[u8]) {
        self.dirty += 1;
        if !self.watched.is_empty() {
            if let Some(ids) = self.watched.get(key) {
                self.dirty_watchers.extend(ids.iter().copied());
            }
        }
    }

    pub fn watch(&mut self, client_id: u64, key: &[u8]) {
        let ids = self.watched.entry(blob(key)).or_default();
        if !ids.contains(&client_id) {
            ids.push(client_id);
        }
    }

    /// Drops all of a client's WATCHes and its dirty mark.
    pub fn unwatch_all(&mut self, client_id: u64, keys: &[Bytes]) {
        for key in keys {
            if let Some(ids) = self.watched.get_mut(key.as_ref()) {
                ids.retain(|&id| id != client_id);
                if ids.is_empty() {
                    self.watched.remove(key.as_ref());
                }
            }
        }
        self.dirty_watchers.remove(&client_id);
    }

    /// Whether a watched key of this client changed (or expired) since WATCH.
    pub fn is_watch_dirty(&mut self, client_id: u64, keys: &[Bytes]) -> bool {
        // A watched key that reached its deadline counts as modified, as in Redis 7.
        for key in keys {
            if self.expire_if_needed(key) {
                self.dirty_watchers.insert(client_id);
            }
        }
        self.dirty_watchers.contains(&client_id)
    }

    pub fn block_on(&mut self, key: &[u8]) {
        *self.blocked_keys.entry(blob(key)).or_insert(0) += 1;
    }

    pub fn unblock_from(&mut self, key: &[u8]) {
        if let Some(n) = self.blocked_keys.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.blocked_keys.remove(key);
            }
        }
    }

    /// Records that `key` may now serve blocked clients (a push, an add, a rename onto it).
    pub fn signal_ready(&mut self, key: &[u8]) {
        if !self.blocked_keys.is_empty()
            && self.blocked_keys.contains_key(key)
            && !self.ready_keys.iter().any(|k| k.as_slice() == key)
        {
            self.ready_keys.push(blob(key));
        }
    }

    pub fn take_ready_keys(&mut self) -> Vec<Blob> {
        std::mem::take(&mut self.ready_keys)
    }

    pub fn has_ready_keys(&self) -> bool {
        !self.ready_keys.is_empty()
    }
}

/// Positions visited by one step of a cursor scan over an index-addressed table of `len`
/// entries, and the cursor to return.
///
/// Tables here delete with `swap_remove` (the last entry moves into the hole) and append on
/// insert, so the scan walks positions from the end towards 0: an entry not yet visited can
/// only move to a lower, still unvisited position, which gives Redis's guarantee that every
/// entry present for the whole scan is returned at least once. Cursor 0 starts a scan and a
/// returned 0 ends it; any other cursor is "next position + 1".
pub fn scan_positions(len: usize, cursor: u64, count: usize) -> (impl Iterator<Item = usize>, u64) {
    if len == 0 {
        return ((0..0).rev(), 0);
    }
    let top = if cursor == 0 { len - 1 } else { (cursor as usize - 1).min(len - 1) };
    let count = count.max(1);
    let low = (top + 1).saturating_sub(count);
    let next = low as u64; // position low-1, encoded +1
    ((low..top + 1).rev(), next)
}

#[cfg(test)]
mod expiry_mode_tests {
    use super::*;

    #[test]
    fn a_replica_hides_expired_keys_without_deleting_them_and_applies_on_the_primary_clock() {
        let mut db = Db::default();
        db.set_clock(1000);
        db.insert(b"k", Value::Str(blob(b"v")));
        assert!(db.set_expire_at(b"k", 1500));
        db.set_expiry(Expiry::Hides);
        db.set_clock(2000);
        assert!(db.get(b"k").is_none());
        assert!(!db.contains(b"k"));
        assert_eq!(db.active_expire(100), 0);
        assert_eq!(db.len(), 1);
        assert!(!db.has_expired_pending());
        // While applying the primary's records the key is still there (the primary's DEL
        // decides), then it goes when that DEL is applied.
        db.set_expiry(Expiry::Suspended);
        assert!(db.get(b"k").is_some());
        assert!(db.remove(b"k").is_some());
        assert_eq!(db.len(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(blob(v.as_bytes()))
    }

    #[test]
    fn ttl_hides_key_at_deadline_and_reports_expiry() {
        let mut db = Db::default();
        db.set_clock(1000);
        db.insert(b"k", s("v"));
        assert!(db.set_expire_at(b"k", 1500));
        db.set_clock(1499);
        assert!(db.get(b"k").is_some());
        db.set_clock(1500);
        assert!(db.get(b"k").is_none());
        assert_eq!(db.drain_expired(), vec![blob(b"k")]);
        assert_eq!(db.stats.expired_keys, 1);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn set_clears_ttl_and_keep_ttl_keeps_it() {
        let mut db = Db::default();
        db.insert(b"k", s("v"));
        db.set_expire_at(b"k", 10_000);
        db.insert_keep_ttl(b"k", s("w"));
        assert_eq!(db.expire_at(b"k"), Some(10_000));
        db.insert(b"k", s("x"));
        assert_eq!(db.expire_at(b"k"), Some(0));
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn active_expiry_reclaims_in_bounded_steps() {
        let mut db = Db::default();
        db.set_clock(1);
        for i in 0..10_000 {
            let k = format!("k{i}");
            db.insert(k.as_bytes(), s("v"));
            db.set_expire_at(k.as_bytes(), 5);
        }
        db.insert(b"keep", s("v"));
        db.set_clock(10);
        let mut total = 0;
        let mut rounds = 0;
        while db.volatile_len() > 0 {
            let n = db.active_expire(200);
            assert!(n <= 200);
            total += n;
            rounds += 1;
        }
        assert_eq!(total, 10_000);
        assert!(rounds >= 50);
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn scan_returns_every_stable_key_despite_deletes() {
        let mut db = Db::default();
        for i in 0..1000 {
            db.insert(format!("k{i}").as_bytes(), s("v"));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let mut batch = Vec::new();
            cursor = db.scan(cursor, 10, |k, _| batch.push(k.clone()));
            seen.extend(batch);
            // Delete keys that are not part of the stable set while scanning.
            step += 1;
            let victim = format!("k{}", 999 - step);
            if step < 500 {
                db.remove(victim.as_bytes());
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(&blob(format!("k{i}").as_bytes())), "missing k{i}");
        }
    }

    #[test]
    fn watch_is_invalidated_by_writes_and_flush() {
        let mut db = Db::default();
        let keys = vec![Bytes::from("w")];
        db.watch(7, b"w");
        assert!(!db.is_watch_dirty(7, &keys));
        db.insert(b"other", s("x"));
        assert!(!db.is_watch_dirty(7, &keys));
        db.insert(b"w", s("x"));
        assert!(db.is_watch_dirty(7, &keys));
        db.unwatch_all(7, &keys);
        db.watch(7, b"w");
        db.flush();
        assert!(db.is_watch_dirty(7, &keys));
    }

    #[test]
    fn typed_access_checks_types() {
        let mut db = Db::default();
        db.insert(b"s", s("v"));
        assert_eq!(db.list_mut(b"s", true).err(), Some(WrongType));
        db.list_mut(b"l", true).unwrap().unwrap().push_back(blob(b"a"));
        assert_eq!(db.list(b"l").unwrap().unwrap().len(), 1);
        assert!(db.list_mut(b"none", false).unwrap().is_none());
        db.list_mut(b"l", false).unwrap().unwrap().clear();
        db.remove_if_empty(b"l");
        assert!(!db.contains(b"l"));
    }

    #[test]
    fn ready_keys_only_for_blocked_keys() {
        let mut db = Db::default();
        db.signal_ready(b"q");
        assert!(!db.has_ready_keys());
        db.block_on(b"q");
        db.signal_ready(b"q");
        db.signal_ready(b"q");
        assert_eq!(db.take_ready_keys(), vec![blob(b"q")]);
        db.unblock_from(b"q");
        db.signal_ready(b"q");
        assert!(!db.has_ready_keys());
    }
}
