//! Copy-on-write snapshots of one database, taken without fork and without long pauses.
//!
//! `begin_snapshot` (O(1)) records the change-log offset O and starts tracking, per table
//! position, whether an entry is *settled*: already copied into the snapshot, or created after
//! O. A background walker calls `snapshot_slice` under the tenant lock for short slices; it
//! visits positions from the top of the table down and copies unsettled entries. Every
//! mutation path of `Db` first calls the hook (`cow_position`/`cow_key`), which copies the
//! entry's value *before* it changes if it is still unsettled. So each key present at O is
//! copied exactly once, with its value at O, and keys created later are never copied.
//!
//! Why the downward walk misses nothing: the table deletes with `swap_remove` (the last entry
//! moves into the hole, with its settled bit) and appends new keys at the end. An entry not
//! yet visited sits below the walk's cursor; it can only move when it is the last entry, and
//! then only to a lower position, which is still below the cursor. FLUSHDB detaches the
//! whole table (O(1)); the walker copies the detached table's unsettled entries first.

use super::{Db, Entry};
use crate::codec::{encode_entry, encode_library};
use crate::table::KeyTable;
use crate::value::Blob;
use std::time::{Duration, Instant};

/// State of a running snapshot.
pub(super) struct CowState {
    offset: u64,
    /// Positions of the live table below this one were not visited yet.
    next_position: usize,
    /// Tables FLUSHDB detached during the snapshot, each with its own walk cursor.
    detached: Vec<(KeyTable<Blob, Entry>, usize)>,
    /// Entries copied by the hook since the last slice, in the slice output format.
    copied: Vec<u8>,
    /// The function libraries at O, emitted by the first slice.
    libraries: Option<super::Libraries>,
}

/// How much one slice may do while it holds the tenant lock.
#[derive(Clone, Copy, Debug)]
pub struct SliceBudget {
    pub max_time: Duration,
    /// The output buffer is handed over once it holds this much.
    pub max_bytes: usize,
}

impl Default for SliceBudget {
    fn default() -> Self {
        SliceBudget { max_time: Duration::from_millis(1), max_bytes: 4 << 20 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceProgress {
    /// More entries remain: call again.
    More,
    /// Every entry of the snapshot was copied; tracking stopped.
    Done,
}

/// Calls `visit` with each entry encoding of a slice output (`[u32 length][entry]...`).
pub fn for_each_copied(buf: &[u8], mut visit: impl FnMut(&[u8])) {
    let mut pos = 0;
    while pos + 4 <= buf.len() {
        let len = u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let end = (pos + 4 + len).min(buf.len());
        visit(&buf[pos + 4..end]);
        pos = end;
    }
}

/// Appends `[u32 length][entry]` to `out`.
fn copy_entry(out: &mut Vec<u8>, key: &[u8], entry: &Entry) {
    copy_record(out, |out| encode_entry(out, key, entry));
}

/// Appends `[u32 length]` and the record `encode` writes.
fn copy_record(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    encode(out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Copies unsettled entries of `table` below `*cursor`, walking down, until the budget ends.
/// Returns true when the walk reached position 0.
fn walk(
    table: &mut KeyTable<Blob, Entry>,
    cursor: &mut usize,
    out: &mut Vec<u8>,
    budget: &SliceBudget,
    started: Instant,
) -> bool {
    *cursor = (*cursor).min(table.len());
    let mut visited = 0u32;
    while *cursor > 0 {
        let position = *cursor - 1;
        if !table.is_settled(position) {
            if let Some((k, e)) = table.get_index(position) {
                copy_entry(out, k, e);
            }
            table.settle(position);
        }
        *cursor = position;
        visited += 1;
        // Reading the clock costs ~20 ns; once every 64 entries keeps that negligible.
        if visited.is_multiple_of(64) && (out.len() >= budget.max_bytes || started.elapsed() >= budget.max_time) {
            return *cursor == 0;
        }
    }
    true
}

impl Db {
    /// Starts a snapshot of the current state and returns its change-log offset O, or `None`
    /// when one is already running. O(1): nothing is copied here.
    pub fn begin_snapshot(&mut self) -> Option<u64> {
        if self.snapshot.is_some() {
            return None;
        }
        let offset = self.change_log.last_offset();
        self.entries.start_tracking();
        self.snapshot = Some(Box::new(CowState {
            offset,
            next_position: self.entries.len(),
            detached: Vec::new(),
            copied: Vec::new(),
            libraries: Some(self.libraries.clone()),
        }));
        Some(offset)
    }

    /// Offset of the running snapshot, if any.
    pub fn snapshot_offset(&self) -> Option<u64> {
        self.snapshot.as_ref().map(|s| s.offset)
    }

    /// Copies the next part of the running snapshot into `out` (as `[u32 length][entry]`
    /// items, see [`for_each_copied`]): first what the hook copied, then unsettled entries,
    /// for at most about `budget`. With no snapshot running, returns `Done` at once.
    pub fn snapshot_slice(&mut self, out: &mut Vec<u8>, budget: &SliceBudget) -> SliceProgress {
        let started = Instant::now();
        let Some(state) = self.snapshot.as_mut() else { return SliceProgress::Done };
        for (name, code) in state.libraries.take().iter().flat_map(|l| l.iter()) {
            copy_record(out, |out| encode_library(out, name, code));
        }
        out.append(&mut state.copied);
        while let Some((table, cursor)) = state.detached.last_mut() {
            if !walk(table, cursor, out, budget, started) {
                return SliceProgress::More;
            }
            state.detached.pop();
        }
        if !walk(&mut self.entries, &mut state.next_position, out, budget, started) {
            return SliceProgress::More;
        }
        self.abort_snapshot();
        SliceProgress::Done
    }

    /// Stops the running snapshot (finished or abandoned); mutations stop copying.
    pub fn abort_snapshot(&mut self) {
        self.snapshot = None;
        self.entries.stop_tracking();
    }

    /// The copy-on-write hook, called before the entry at `position` changes or goes away.
    #[inline]
    pub(super) fn cow_position(&mut self, position: usize) {
        if let Some(state) = self.snapshot.as_mut() {
            if !self.entries.is_settled(position) {
                if let Some((k, e)) = self.entries.get_index(position) {
                    copy_entry(&mut state.copied, k, e);
                }
                self.entries.settle(position);
            }
        }
    }

    /// The hook by key (one more lookup, only while a snapshot runs).
    #[inline]
    pub(super) fn cow_key(&mut self, key: &[u8]) {
        if self.snapshot.is_some() {
            if let Some(position) = self.entries.position(key) {
                self.cow_position(position);
            }
        }
    }

    /// FLUSHDB: replaces the table; a running snapshot keeps the old one to finish copying it.
    pub(super) fn cow_replace_table(&mut self) {
        let old = std::mem::take(&mut self.entries);
        if let Some(state) = self.snapshot.as_mut() {
            state.detached.push((old, usize::MAX));
            state.next_position = 0;
            self.entries.start_tracking();
        }
    }

    /// Makes room for `keys` more keys (before loading a snapshot of about that many).
    pub fn reserve_keys(&mut self, keys: usize) {
        self.entries.reserve(keys);
    }

    /// Adds an entry read from a snapshot file (loading, before the database is reachable).
    /// An entry whose deadline has passed is dropped, as expiry would have dropped it.
    pub fn load_entry(&mut self, key: Blob, entry: Entry) {
        if self.is_expired(&entry) {
            return;
        }
        let has_ttl = entry.expire_at_ms != 0;
        if has_ttl {
            self.volatile.insert(key.clone());
        }
        let bytes = super::entry_bytes(&key, &entry);
        let replaced = self.entries.insert(key.clone(), entry);
        self.account_loaded(&key, bytes, replaced.as_ref());
        if !has_ttl && replaced.is_some_and(|old| old.expire_at_ms != 0) {
            self.volatile.swap_remove(key.as_slice());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_entry;
    use crate::stream::StreamId;
    use crate::value::{blob, Value};
    use std::collections::BTreeMap;

    type State = BTreeMap<Vec<u8>, Entry>;

    /// Everything in the table, expired-but-not-reclaimed entries included.
    fn state(db: &Db) -> State {
        db.entries.iter().map(|(k, e)| (k.to_vec(), e.clone())).collect()
    }

    fn decode_all(buf: &[u8]) -> State {
        let mut out = State::new();
        for_each_copied(buf, |item| {
            let (k, e) = decode_entry(item).unwrap();
            assert!(out.insert(k.to_vec(), e).is_none(), "a key was copied twice");
        });
        out
    }

    /// A small deterministic generator, so failures replay.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn key(i: u64) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    /// One random mutation through the public API, as commands do it.
    fn mutate(db: &mut Db, rng: &mut Rng, keys: u64) {
        let k = key(rng.next(keys));
        match rng.next(12) {
            0 | 1 => db.insert(&k, Value::Str(blob(format!("v{}", rng.next(1000)).as_bytes()))),
            2 => {
                if let Ok(Some(l)) = db.list_mut(&k, true) {
                    l.push_back(blob(b"pushed"));
                }
            }
            3 => {
                db.remove(&k);
            }
            4 => {
                let at = db.now_ms() + 1 + rng.next(50);
                db.set_expire_at(&k, at);
            }
            5 => {
                db.persist(&k);
            }
            6 => {
                // RENAME: the source goes away, the destination changes.
                let dst = key(rng.next(keys));
                if let Some(e) = db.remove_entry(&k) {
                    db.insert_entry(&dst, e);
                }
            }
            7 => {
                if let Ok(Some(s)) = db.stream_mut(&k, true) {
                    let id = StreamId::new(s.last_id.ms + 1, 0);
                    s.append(id, vec![(blob(b"f"), blob(b"v"))]);
                }
            }
            8 => {
                if let Ok(Some(z)) = db.zset_mut(&k, true) {
                    z.insert(b"m", rng.next(100) as f64);
                }
            }
            9 => {
                if let Ok(Some(h)) = db.hash_mut(&k, true) {
                    h.insert(blob(b"f"), blob(b"x"));
                }
            }
            10 => {
                db.set_clock(db.now_ms() + rng.next(5));
                db.active_expire(20);
                db.get(&k);
            }
            _ => {
                db.insert_keep_ttl(&k, Value::Str(blob(b"kept ttl")));
            }
        }
    }

    fn filled(rng: &mut Rng, keys: u64, ops: usize) -> Db {
        let mut db = Db::default();
        db.set_clock(1_000);
        for _ in 0..ops {
            mutate(&mut db, rng, keys);
        }
        db
    }

    fn run_to_end(db: &mut Db, out: &mut Vec<u8>, rng: &mut Rng, keys: u64, flush_every: u64) {
        let budget = SliceBudget { max_time: Duration::ZERO, max_bytes: 0 };
        for round in 0..1_000_000u64 {
            if db.snapshot_slice(out, &budget) == SliceProgress::Done {
                return;
            }
            for _ in 0..rng.next(40) {
                mutate(db, rng, keys);
            }
            if flush_every != 0 && round % flush_every == flush_every - 1 {
                db.flush();
            }
        }
        panic!("the snapshot never finished");
    }

    #[test]
    fn snapshot_equals_the_state_at_its_start_despite_writes() {
        for seed in 1..=12u64 {
            let mut rng = Rng(seed * 7919);
            let keys = 300 + seed * 50;
            let mut db = filled(&mut rng, keys, 3_000);
            db.change_log.append(&[bytes::Bytes::from_static(b"SET")]);
            let expected = state(&db);
            assert_eq!(db.begin_snapshot(), Some(1));
            assert_eq!(db.begin_snapshot(), None, "one snapshot at a time");
            let mut out = Vec::new();
            let flush_every = if seed % 3 == 0 { 5 } else { 0 };
            run_to_end(&mut db, &mut out, &mut rng, keys, flush_every);
            assert_eq!(decode_all(&out), expected, "seed {seed}");
            assert!(db.snapshot.is_none() && !db.entries.is_tracking());
            // The next snapshot starts from the new state.
            let now = state(&db);
            db.begin_snapshot();
            let mut out = Vec::new();
            run_to_end(&mut db, &mut out, &mut rng, keys, 0);
            assert_eq!(decode_all(&out), now, "seed {seed}, second snapshot");
        }
    }

    #[test]
    fn flush_during_a_snapshot_keeps_the_old_keys_and_skips_new_ones() {
        let mut db = Db::default();
        for i in 0..500 {
            db.insert(&key(i), Value::Str(blob(b"old")));
        }
        let expected = state(&db);
        db.begin_snapshot();
        let mut out = Vec::new();
        let budget = SliceBudget { max_time: Duration::ZERO, max_bytes: 0 };
        assert_eq!(db.snapshot_slice(&mut out, &budget), SliceProgress::More);
        db.flush();
        db.insert(&key(1), Value::Str(blob(b"new")));
        db.insert(b"fresh", Value::Str(blob(b"new")));
        while db.snapshot_slice(&mut out, &budget) == SliceProgress::More {}
        assert_eq!(decode_all(&out), expected);
        assert_eq!(db.len(), 2);
    }

    #[test]
    fn mass_deletes_that_shrink_the_table_below_the_walk_lose_nothing() {
        let mut db = Db::default();
        for i in 0..1000 {
            db.insert(&key(i), Value::Str(blob(format!("{i}").as_bytes())));
        }
        let expected = state(&db);
        db.begin_snapshot();
        let mut out = Vec::new();
        let budget = SliceBudget { max_time: Duration::ZERO, max_bytes: 0 };
        db.snapshot_slice(&mut out, &budget);
        // Deleting every other key from the bottom moves unvisited entries around below
        // the walk once the table is shorter than the walk's cursor.
        for i in (0..700).step_by(2) {
            db.remove(&key(i));
        }
        while db.snapshot_slice(&mut out, &budget) == SliceProgress::More {}
        assert_eq!(decode_all(&out), expected);
    }

    #[test]
    fn deleted_then_recreated_key_keeps_its_old_value() {
        let mut db = Db::default();
        db.insert(b"k", Value::Str(blob(b"before")));
        db.set_expire_at(b"k", 99_999);
        db.begin_snapshot();
        db.remove(b"k");
        db.insert(b"k", Value::Str(blob(b"after")));
        let mut out = Vec::new();
        assert_eq!(db.snapshot_slice(&mut out, &SliceBudget::default()), SliceProgress::Done);
        let got = decode_all(&out);
        assert_eq!(got[&b"k".to_vec()], Entry { value: Value::Str(blob(b"before")), expire_at_ms: 99_999 });
    }

    #[test]
    fn libraries_are_those_at_the_snapshot_offset() {
        let mut db = Db::default();
        let v1: std::collections::BTreeMap<String, bytes::Bytes> =
            [("a".to_string(), bytes::Bytes::from_static(b"code a"))].into_iter().collect();
        db.libraries = std::sync::Arc::new(v1);
        db.insert(b"k", Value::Str(blob(b"v")));
        db.begin_snapshot().unwrap();
        // A later FUNCTION FLUSH replaces the map; the snapshot keeps the old one.
        db.libraries = Default::default();
        let mut out = Vec::new();
        while db.snapshot_slice(&mut out, &SliceBudget::default()) == SliceProgress::More {}
        let mut records = Vec::new();
        for_each_copied(&out, |r| records.push(crate::codec::decode_record(r).unwrap()));
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0],
            crate::codec::Record::Library { name: "a".into(), code: bytes::Bytes::from_static(b"code a") }
        );
        assert!(matches!(&records[1], crate::codec::Record::Key(k, _) if k.as_slice() == b"k"));
    }

    #[test]
    fn loader_drops_expired_entries() {
        let mut db = Db::default();
        db.set_clock(100);
        db.load_entry(blob(b"gone"), Entry { value: Value::Str(blob(b"x")), expire_at_ms: 100 });
        db.load_entry(blob(b"kept"), Entry { value: Value::Str(blob(b"x")), expire_at_ms: 101 });
        db.load_entry(blob(b"plain"), Entry { value: Value::Str(blob(b"x")), expire_at_ms: 0 });
        assert_eq!(db.len(), 2);
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.expire_at(b"kept"), Some(101));
        // Loaded keys count in the memory estimate, a replaced key only once.
        db.load_entry(blob(b"plain"), Entry { value: Value::Str(blob(&[7u8; 300])), expire_at_ms: 0 });
        assert!(db.used_bytes() > 300);
        assert_eq!(db.used_bytes(), db.recount_used_bytes());
    }
}
