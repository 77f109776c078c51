//! The stream type: entries ordered by ID, consumer groups with their pending entries lists,
//! and the listpack-node bookkeeping that approximate (`~`) trimming depends on.

use crate::value::Blob;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// An entry ID: milliseconds and a sequence number within that millisecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The next ID, or `None` after the last possible one.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, or `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Parses `ms-seq`, or `ms` alone with `missing_seq` as the sequence.
    pub fn parse(arg: &[u8], missing_seq: u64) -> Option<StreamId> {
        let s = std::str::from_utf8(arg).ok()?;
        let (ms, seq) = match s.split_once('-') {
            Some((ms, seq)) => (ms, Some(seq)),
            None => (s, None),
        };
        let ms = parse_u64(ms)?;
        let seq = match seq {
            Some(seq) => parse_u64(seq)?,
            None => missing_seq,
        };
        Some(StreamId::new(ms, seq))
    }
}

/// Unsigned decimal as Redis's `string2ull` accepts it (digits only, no sign).
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One field-value list of an entry.
pub type Fields = Vec<(Blob, Blob)>;

/// An entry delivered to a consumer and not acknowledged yet.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingEntry {
    pub consumer: Blob,
    /// Last delivery time, Unix ms.
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    /// Last time the consumer tried to read or claim (Unix ms).
    pub seen_time_ms: u64,
    /// Last time it actually read or claimed something; `None` if never.
    pub active_time_ms: Option<u64>,
    /// IDs of the group's pending entries owned by this consumer.
    pub pending: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Logical read counter; `None` when unknown (Redis's -1).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, PendingEntry>,
    /// Ordered by name, as Redis's radix tree lists them.
    pub consumers: BTreeMap<Blob, Consumer>,
}

/// A group of consecutive entries standing for one of Redis's listpack nodes: approximate
/// trimming only removes whole nodes, so its effect depends on where nodes start.
/// Visible to the crate so that snapshots (`codec.rs`) keep it exactly.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) first: StreamId,
    /// Entries still present.
    pub(crate) live: usize,
    /// Entries ever appended (deleted ones keep their slot, as in a listpack).
    pub(crate) total: usize,
    /// Estimated listpack size, as Redis compares it with `stream-node-max-bytes`.
    pub(crate) bytes: usize,
    /// Field names of the node's first entry (Redis's master entry).
    pub(crate) master: Vec<Blob>,
}

/// Bytes of an integer element in a listpack (encoding and back-length).
fn lp_int_size(v: i64) -> usize {
    match v {
        0..=127 => 2,
        -4096..=4095 => 3,
        -32768..=32767 => 4,
        -8_388_608..=8_388_607 => 5,
        -2_147_483_648..=2_147_483_647 => 6,
        _ => 10,
    }
}

/// Bytes of a string element in a listpack (integers are stored as integers).
fn lp_elem_size(v: &[u8]) -> usize {
    if v.len() <= 20 {
        if let Some(i) = std::str::from_utf8(v).ok().and_then(|t| t.parse::<i64>().ok()) {
            if i.to_string().as_bytes() == v {
                return lp_int_size(i);
            }
        }
    }
    let header = match v.len() {
        0..=63 => 1,
        64..=4095 => 2,
        _ => 5,
    };
    let t = header + v.len();
    let backlen = match t {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        _ => 4,
    };
    t + backlen
}

/// Redis's defaults for `stream-node-max-entries` and `stream-node-max-bytes`.
pub const NODE_MAX_ENTRIES: usize = 100;
pub const NODE_MAX_BYTES: usize = 4096;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamValue {
    pub entries: BTreeMap<StreamId, Fields>,
    pub last_id: StreamId,
    /// Entries ever added (XADD), Redis's `entries_added`.
    pub entries_added: u64,
    pub max_deleted_id: StreamId,
    pub groups: BTreeMap<Blob, ConsumerGroup>,
    pub(crate) nodes: VecDeque<Node>,
}

/// How a trim picks what to remove.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl StreamValue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// First entry ID, or 0-0 when empty (XINFO's recorded-first-entry-id).
    pub fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// Number of listpack nodes the stream would have in Redis (XINFO radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The ID `*` generates at `now_ms`; `None` when the stream reached the last ID.
    pub fn auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// The ID `ms-*` generates; `None` when no greater ID exists in that millisecond.
    pub fn auto_seq_id(&self, ms: u64) -> Option<StreamId> {
        if ms > self.last_id.ms {
            Some(StreamId::new(ms, 0))
        } else if ms == self.last_id.ms && self.last_id.seq < u64::MAX {
            Some(StreamId::new(ms, self.last_id.seq + 1))
        } else {
            None
        }
    }

    /// Appends an entry; the caller checked that `id` > `last_id`. Node boundaries follow
    /// Redis's rule: a new listpack when the tail one holds `stream-node-max-entries` entries
    /// (deleted ones included) or the entry's field and value bytes would take it to
    /// `stream-node-max-bytes`.
    pub fn append(&mut self, id: StreamId, fields: Fields) {
        let payload: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        let new_node = match self.nodes.back() {
            Some(n) => n.total >= NODE_MAX_ENTRIES || n.bytes + payload >= NODE_MAX_BYTES,
            None => true,
        };
        if new_node {
            let master: Vec<Blob> = fields.iter().map(|(f, _)| f.clone()).collect();
            // Listpack header and end, then count, deleted, field count, names, terminator.
            let bytes = 7
                + 2
                + 2
                + lp_int_size(master.len() as i64)
                + master.iter().map(|f| lp_elem_size(f)).sum::<usize>()
                + 2;
            self.nodes.push_back(Node { first: id, live: 0, total: 0, bytes, master });
        }
        if let Some(n) = self.nodes.back_mut() {
            let same = n.master.len() == fields.len() && n.master.iter().zip(&fields).all(|(m, (f, _))| m == f);
            let ms_diff = id.ms.wrapping_sub(n.first.ms) as i64;
            let seq_diff = id.seq.wrapping_sub(n.first.seq) as i64;
            let mut bytes = 2 + lp_int_size(ms_diff) + lp_int_size(seq_diff);
            let elements = if same {
                bytes += fields.iter().map(|(_, v)| lp_elem_size(v)).sum::<usize>();
                fields.len() + 3
            } else {
                bytes += lp_int_size(fields.len() as i64);
                bytes += fields.iter().map(|(f, v)| lp_elem_size(f) + lp_elem_size(v)).sum::<usize>();
                fields.len() * 2 + 4
            };
            bytes += lp_int_size(elements as i64);
            n.live += 1;
            n.total += 1;
            n.bytes += bytes;
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Index of the node holding `id`.
    fn node_of(&self, id: StreamId) -> Option<usize> {
        self.nodes.partition_point(|n| n.first <= id).checked_sub(1)
    }

    fn forget_in_node(&mut self, id: StreamId) {
        if let Some(i) = self.node_of(id) {
            if let Some(n) = self.nodes.get_mut(i) {
                n.live = n.live.saturating_sub(1);
                if n.live == 0 {
                    self.nodes.remove(i);
                }
            }
        }
    }

    /// XDEL of one ID; returns whether it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        self.forget_in_node(id);
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        true
    }

    /// Trims as XADD/XTRIM do. Approximate trimming removes whole nodes only and stops at
    /// `limit` removed entries (0 = no limit). Returns the number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        while let Some(node) = self.nodes.front().cloned() {
            let len = self.entries.len() as u64;
            let whole_node = match how {
                Trim::MaxLen(max) => len - node.live as u64 >= max,
                Trim::MinId(min) => {
                    // The node ends before the next node's first ID (or at the stream end).
                    let last_in_node = match self.nodes.get(1) {
                        Some(next) => self.entries.range(..next.first).next_back().map(|(id, _)| *id),
                        None => self.entries.keys().next_back().copied(),
                    };
                    last_in_node.is_some_and(|l| l < min)
                }
            };
            if whole_node {
                if approx && limit != 0 && removed + node.live as u64 > limit {
                    break;
                }
                let ids: Vec<StreamId> = match self.nodes.get(1) {
                    Some(next) => self.entries.range(..next.first).map(|(id, _)| *id).collect(),
                    None => self.entries.keys().copied().collect(),
                };
                for id in &ids {
                    self.entries.remove(id);
                }
                removed += ids.len() as u64;
                self.nodes.pop_front();
                continue;
            }
            if approx {
                break;
            }
            // Exact: remove single entries from the first node while needed.
            while let Some((&id, _)) = self.entries.iter().next() {
                let needed = match how {
                    Trim::MaxLen(max) => self.entries.len() as u64 > max,
                    Trim::MinId(min) => id < min,
                };
                if !needed {
                    break;
                }
                self.entries.remove(&id);
                self.forget_in_node(id);
                removed += 1;
            }
            break;
        }
        removed
    }

    /// Whether a deleted entry may lie in `[start, end]`, making counters unreliable
    /// (Redis's `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId) -> bool {
        if self.is_empty() || self.max_deleted_id == StreamId::MIN {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the entries_read counter a group
    /// whose last delivered ID is `id` has, or `None` when it cannot be known.
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted_id == StreamId::MIN || self.max_deleted_id < first {
            let base = self.entries_added - self.len() as u64;
            if id < first {
                return Some(base);
            }
            if id == first {
                return Some(base + 1);
            }
        }
        None
    }

    /// A group's lag (entries not delivered yet), or `None` when unknown. Negative when a
    /// client set entries_read beyond the stream (Redis reports it as is).
    pub fn lag(&self, group: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if let Some(read) = group.entries_read {
            if !self.range_has_tombstones(group.last_id) {
                return Some(added.wrapping_sub(read as i64));
            }
        }
        self.estimate_entries_read(group.last_id).map(|read| added.wrapping_sub(read as i64))
    }

    /// Approximate heap size in bytes.
    pub fn approx_size(&self) -> usize {
        let entries: usize =
            self.entries.values().map(|f| 32 + f.iter().map(|(a, b)| a.len() + b.len() + 4).sum::<usize>()).sum();
        let groups: usize = self.groups.values().map(|g| 128 + g.pel.len() * 64 + g.consumers.len() * 96).sum();
        128 + entries + groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::blob;

    fn add(s: &mut StreamValue, n: u64) {
        for i in 1..=n {
            s.append(StreamId::new(i, 0), vec![(blob(b"f"), blob(b"v"))]);
        }
    }

    #[test]
    fn ids_parse_and_order() {
        assert_eq!(StreamId::parse(b"5-3", 0), Some(StreamId::new(5, 3)));
        assert_eq!(StreamId::parse(b"5", 7), Some(StreamId::new(5, 7)));
        assert_eq!(StreamId::parse(b"-5", 0), None);
        assert_eq!(StreamId::parse(b"5-", 0), None);
        assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
    }

    #[test]
    fn approximate_trim_removes_whole_nodes_only() {
        let mut s = StreamValue::default();
        add(&mut s, 250);
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.trim(Trim::MaxLen(200), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(10), true, 50), 0);
        assert_eq!(s.trim(Trim::MaxLen(10), false, 0), 140);
        assert_eq!(s.len(), 10);
        assert_eq!(s.first_id(), StreamId::new(241, 0));
    }

    #[test]
    fn minid_trim_and_delete_keep_nodes_consistent() {
        let mut s = StreamValue::default();
        add(&mut s, 150);
        assert!(s.delete(StreamId::new(3, 0)));
        assert!(!s.delete(StreamId::new(3, 0)));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(120, 0)), true, 0), 99);
        assert_eq!(s.trim(Trim::MinId(StreamId::new(120, 0)), false, 0), 19);
        assert_eq!(s.first_id(), StreamId::new(120, 0));
        assert_eq!(s.max_deleted_id, StreamId::new(3, 0));
    }
}
