//! Sparse index files of a segment, laid out as Kafka's: `.index` maps a batch's last offset
//! (relative to the segment base, u32) to its file position (u32); `.timeindex` maps the
//! largest timestamp seen so far (i64) to the relative offset holding it. Entries live in the
//! file only (binary search by positioned reads, served by the page cache), so memory does not
//! grow with the log; the entry count is kept in memory and is what lookups trust.

use std::io;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use crate::disk::{read_whole, OpenMode, SegmentDisk, SegmentFile};

/// One fixed-size entry of an index file.
pub(crate) trait IndexEntry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
    /// What lookups search by (offset or timestamp).
    fn key(&self) -> i64;
}

/// `.index` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Self {
        Self {
            relative_offset: crate::batch::read_i32(bytes, 0) as u32,
            position: crate::batch::read_i32(bytes, 4) as u32,
        }
    }

    fn key(&self) -> i64 {
        i64::from(self.relative_offset)
    }
}

/// `.timeindex` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Self {
        Self { timestamp: crate::batch::read_i64(bytes, 0), relative_offset: crate::batch::read_i32(bytes, 8) as u32 }
    }

    fn key(&self) -> i64 {
        self.timestamp
    }
}

/// An index file and the number of entries in it that lookups may use.
#[derive(Debug)]
pub(crate) struct SparseIndex<E> {
    file: Arc<dyn SegmentFile>,
    entries: u64,
    entry: PhantomData<E>,
}

impl<E: IndexEntry> SparseIndex<E> {
    /// Opens the index at `path`, rewriting it when its content differs from `expected` (the
    /// entries rebuilt from the log: a missing, short or stale index is thereby repaired).
    pub fn open_expecting(disk: &dyn SegmentDisk, path: &Path, expected: &[E]) -> io::Result<(Self, bool)> {
        let mut bytes = Vec::with_capacity(expected.len() * E::SIZE);
        for entry in expected {
            entry.encode(&mut bytes);
        }
        let current = read_whole(disk, path)?;
        let rebuilt = current.as_deref() != Some(&bytes[..]);
        let file = if rebuilt {
            let file = disk.open(path, OpenMode::Truncate)?;
            file.write_at(&bytes, 0)?;
            file
        } else {
            disk.open(path, OpenMode::Existing)?
        };
        let index = Self { file, entries: expected.len() as u64, entry: PhantomData };
        Ok((index, rebuilt))
    }

    pub fn create(disk: &dyn SegmentDisk, path: &Path) -> io::Result<Self> {
        Ok(Self { file: disk.open(path, OpenMode::Truncate)?, entries: 0, entry: PhantomData })
    }

    /// Appends an entry. A failed write only makes the index sparser (lookups trust the
    /// in-memory count), so it is logged, not returned.
    pub fn push(&mut self, entry: E) {
        let mut bytes = Vec::with_capacity(E::SIZE);
        entry.encode(&mut bytes);
        match self.file.write_at(&bytes, self.entries * E::SIZE as u64) {
            Ok(()) => self.entries += 1,
            Err(error) => tracing::warn!(%error, "index entry not written; the index is rebuilt on next open"),
        }
    }

    fn entry_at(&self, slot: u64) -> io::Result<E> {
        let mut bytes = vec![0u8; E::SIZE];
        self.file.read_at(&mut bytes, slot * E::SIZE as u64)?;
        Ok(E::decode(&bytes))
    }

    /// The last entry whose key is at most `key` (entries are sorted by key).
    pub fn floor(&self, key: i64) -> io::Result<Option<E>> {
        let (mut low, mut high) = (0u64, self.entries);
        let mut found = None;
        while low < high {
            let middle = low + (high - low) / 2;
            let entry = self.entry_at(middle)?;
            if entry.key() <= key {
                found = Some(entry);
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(found)
    }
}
