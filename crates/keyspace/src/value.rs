//! Typed Redis values and the compact byte string they are built from.

use crate::{IndexMap, IndexSet};
use smallvec::SmallVec;
use std::collections::{BTreeSet, VecDeque};

/// A binary-safe byte string that keeps up to 16 bytes inline (no heap allocation), which
/// covers most keys, small values, and every integer.
pub type Blob = SmallVec<[u8; 16]>;

pub fn blob(data: &[u8]) -> Blob {
    SmallVec::from_slice(data)
}

pub type ListValue = VecDeque<Blob>;
pub type HashValue = IndexMap<Blob, Blob>;
pub type SetValue = IndexSet<Blob>;

/// The value stored under a key. Collections are boxed so that the common case (a short
/// string) keeps the main table small.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Blob),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Stream(Box<crate::stream::StreamValue>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Whether the value is an empty collection (such keys are deleted, as in Redis).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // Redis keeps empty streams (their IDs and groups still matter).
            Value::Stream(_) => false,
        }
    }

    /// The encoding `OBJECT ENCODING` reports, using Redis's default size thresholds.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && std::str::from_utf8(s).ok().and_then(|t| t.parse::<i64>().ok()).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(l) => {
                if l.len() <= 128 && l.iter().all(|e| e.len() <= 64) {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            Value::Hash(h) => {
                if h.len() <= 128 && h.iter().all(|(k, v)| k.len() <= 64 && v.len() <= 64) {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::Set(s) => {
                let all_ints =
                    s.iter().all(|m| std::str::from_utf8(m).ok().and_then(|t| t.parse::<i64>().ok()).is_some());
                if all_ints && s.len() <= 512 {
                    "intset"
                } else if s.len() <= 128 && s.iter().all(|m| m.len() <= 64) {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            Value::ZSet(z) => {
                if z.len() <= 128 && z.scores.keys().all(|m| m.len() <= 64) {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
            Value::Stream(_) => "stream",
        }
    }

    /// Rough heap footprint in bytes, used by `MEMORY USAGE`.
    pub fn approx_size_bytes(&self) -> usize {
        fn b(x: &Blob) -> usize {
            if x.spilled() {
                x.capacity() + 24
            } else {
                24
            }
        }
        match self {
            Value::Str(s) => b(s),
            Value::List(l) => 32 + l.iter().map(b).sum::<usize>(),
            Value::Hash(h) => 64 + h.iter().map(|(k, v)| b(k) + b(v) + 16).sum::<usize>(),
            Value::Set(s) => 64 + s.iter().map(|m| b(m) + 16).sum::<usize>(),
            Value::ZSet(z) => 96 + z.scores.keys().map(|m| 2 * b(m) + 40).sum::<usize>(),
            Value::Stream(st) => st.approx_size(),
        }
    }
}

/// A score with a total order, so it can key a `BTreeSet`. Sorted sets never hold NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: members ordered by (score, member bytes), with O(1) score lookup.
///
/// Rank-based operations walk the ordered set (O(rank)); an order-statistic tree would make
/// them O(log n) and is a known improvement for very large sets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSetValue {
    pub scores: IndexMap<Blob, f64>,
    pub order: BTreeSet<(Score, Blob)>,
}

impl ZSetValue {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Inserts or updates; returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let old = self.scores.insert(crate::value::blob(member), score);
        if let Some(old_score) = old {
            // Normalise -0.0 to 0.0 when comparing so the ordered copy is found.
            self.order.remove(&(Score(old_score), crate::value::blob(member)));
        }
        self.order.insert((Score(score), crate::value::blob(member)));
        old
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let old = self.scores.swap_remove(member)?;
        self.order.remove(&(Score(old), crate::value::blob(member)));
        Some(old)
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Blob, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// 0-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.order.range(..(Score(score), crate::value::blob(member))).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_is_compact() {
        assert_eq!(std::mem::size_of::<Blob>(), 24);
        assert!(std::mem::size_of::<Value>() <= 32);
    }

    #[test]
    fn zset_orders_by_score_then_member() {
        let mut z = ZSetValue::default();
        z.insert(b"b", 1.0);
        z.insert(b"a", 1.0);
        z.insert(b"c", 0.5);
        let order: Vec<&[u8]> = z.iter().map(|(m, _)| m.as_slice()).collect();
        assert_eq!(order, vec![&b"c"[..], b"a", b"b"]);
        assert_eq!(z.insert(b"c", 2.0), Some(0.5));
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.remove(b"a"), Some(1.0));
        assert_eq!(z.len(), 2);
        assert_eq!(z.order.len(), 2);
    }

    #[test]
    fn encodings() {
        assert_eq!(Value::Str(blob(b"123")).encoding(), "int");
        assert_eq!(Value::Str(blob(b"abc")).encoding(), "embstr");
        assert_eq!(Value::Str(blob(&[b'x'; 45])).encoding(), "raw");
    }
}
