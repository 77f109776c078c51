//! The main key table: entries in one dense vector, found through a hash index of 4-byte
//! positions. Compact (about 80 bytes per small key at a million keys, where a general map
//! that reserves entry space to match its index spends much more), O(1) random access by
//! position (RANDOMKEY, sampling for expiry and eviction), and stable positions for SCAN.

use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Largest number of keys one table holds (positions are 32-bit).
pub const MAX_KEYS: usize = u32::MAX as usize;

pub struct KeyTable<K, V> {
    index: HashTable<u32>,
    entries: Vec<(K, V)>,
    hasher: crate::RandomState,
    /// While a snapshot runs: one bit per position, set when the entry there needs no copy in
    /// the snapshot (already copied, or created after the snapshot started). The bits move
    /// with their entries, so the snapshot's bookkeeping survives `swap_remove`.
    settled: Option<PositionBits>,
}

impl<K, V> Default for KeyTable<K, V> {
    fn default() -> Self {
        KeyTable { index: HashTable::new(), entries: Vec::new(), hasher: crate::RandomState::default(), settled: None }
    }
}

/// A growable bit per table position.
#[derive(Default)]
struct PositionBits(Vec<u64>);

impl PositionBits {
    fn get(&self, position: usize) -> bool {
        self.0.get(position / 64).is_some_and(|w| w & (1 << (position % 64)) != 0)
    }

    fn set(&mut self, position: usize, on: bool) {
        let word = position / 64;
        if word >= self.0.len() {
            if !on {
                return;
            }
            self.0.resize(word + 1, 0);
        }
        if on {
            self.0[word] |= 1 << (position % 64);
        } else {
            self.0[word] &= !(1 << (position % 64));
        }
    }
}

impl<K, V> KeyTable<K, V> {
    /// Starts tracking which entries are settled; every present entry starts unsettled. The
    /// bit vector is zero-filled by the allocator (calloc), so this is cheap even for
    /// millions of keys.
    pub fn start_tracking(&mut self) {
        self.settled = Some(PositionBits(vec![0; self.entries.len().div_ceil(64)]));
    }

    pub fn stop_tracking(&mut self) {
        self.settled = None;
    }

    pub fn is_tracking(&self) -> bool {
        self.settled.is_some()
    }

    /// Whether the entry at `position` needs no snapshot copy (always true when not tracking).
    pub fn is_settled(&self, position: usize) -> bool {
        self.settled.as_ref().is_none_or(|bits| bits.get(position))
    }

    pub fn settle(&mut self, position: usize) {
        if let Some(bits) = &mut self.settled {
            bits.set(position, true);
        }
    }

    /// A new entry at the end is settled: it did not exist when the snapshot started.
    fn settle_new_last(&mut self) {
        let last = self.entries.len() - 1;
        self.settle(last);
    }

    /// `swap_remove` moved the last entry into `position`: its bit moves along.
    fn move_bit(&mut self, from: usize, to: usize) {
        if let Some(bits) = &mut self.settled {
            let bit = bits.get(from);
            bits.set(to, bit);
            bits.set(from, false);
        }
    }
}

impl<K: AsRef<[u8]>, V> KeyTable<K, V> {
    fn hash(hasher: &crate::RandomState, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes room for `additional` more keys at once (loading a snapshot), so the table is
    /// not regrown and rehashed step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.reserve(additional, |&i| Self::hash(hasher, entries[i as usize].0.as_ref()));
    }

    /// Position of `key`, if present.
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        let hash = Self::hash(&self.hasher, key);
        let entries = &self.entries;
        self.index.find(hash, |&i| entries[i as usize].0.as_ref() == key).map(|&i| i as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.position(key).map(move |i| &mut self.entries[i].1)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    pub fn get_index(&self, position: usize) -> Option<(&K, &V)> {
        self.entries.get(position).map(|(k, v)| (k, v))
    }

    pub fn get_index_mut(&mut self, position: usize) -> Option<&mut V> {
        self.entries.get_mut(position).map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the previous value. Panics only past `MAX_KEYS` keys,
    /// which the memory limits of any plan keep far away.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = Self::hash(&self.hasher, key.as_ref());
        let entries = &self.entries;
        if let Some(&i) = self.index.find(hash, |&i| entries[i as usize].0.as_ref() == key.as_ref()) {
            return Some(std::mem::replace(&mut self.entries[i as usize].1, value));
        }
        assert!(self.entries.len() < MAX_KEYS, "key table is full");
        let position = self.entries.len() as u32;
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, position, |&i| Self::hash(hasher, entries[i as usize].0.as_ref()));
        self.entries.push((key, value));
        self.settle_new_last();
        None
    }

    /// Adds a key the caller knows is absent (one hash lookup less than `insert`).
    pub fn insert_new(&mut self, key: K, value: V) {
        debug_assert!(!self.contains_key(key.as_ref()));
        assert!(self.entries.len() < MAX_KEYS, "key table is full");
        let hash = Self::hash(&self.hasher, key.as_ref());
        let position = self.entries.len() as u32;
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, position, |&i| Self::hash(hasher, entries[i as usize].0.as_ref()));
        self.entries.push((key, value));
        self.settle_new_last();
    }

    /// Removes `key`; the last entry moves into its position.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<(K, V)> {
        let hash = Self::hash(&self.hasher, key);
        let entries = &self.entries;
        let slot = self.index.find_entry(hash, |&i| entries[i as usize].0.as_ref() == key).ok()?;
        let (position, _) = slot.remove();
        let position = position as usize;
        let last = self.entries.len() - 1;
        if position != last {
            // Re-point the index slot of the last entry to the position it moves to.
            let last_hash = Self::hash(&self.hasher, self.entries[last].0.as_ref());
            if let Some(slot) = self.index.find_mut(last_hash, |&i| i as usize == last) {
                *slot = position as u32;
            }
        }
        let removed = self.entries.swap_remove(position);
        self.move_bit(last, position);
        // Give memory back when the table has shrunk a lot (after FLUSHDB-like mass deletes
        // the vector is replaced instead).
        if self.entries.capacity() > 1024 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
            let (entries, hasher) = (&self.entries, &self.hasher);
            self.index.shrink_to(entries.len(), |&i| Self::hash(hasher, entries[i as usize].0.as_ref()));
        }
        Some(removed)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Model-based check against `HashMap` with a deterministic mix of operations.
    #[test]
    fn behaves_like_a_map() {
        let mut table: KeyTable<Vec<u8>, u64> = KeyTable::default();
        let mut model: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut x: u64 = 12345;
        for step in 0..50_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 2000).into_bytes();
            match x % 3 {
                0 | 1 => assert_eq!(table.insert(key.clone(), step), model.insert(key, step)),
                _ => assert_eq!(table.swap_remove(&key).map(|(_, v)| v), model.remove(&key)),
            }
            assert_eq!(table.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(table.get(k), Some(v));
        }
        for i in 0..table.len() {
            let (k, v) = table.get_index(i).unwrap();
            assert_eq!(model.get(k), Some(v));
            assert_eq!(table.position(k), Some(i));
        }
    }
}
