//! Sorted-set ranges: score intervals (`(1.5 +inf`), lex intervals (`[a (b - +`) and rank
//! windows, how Redis parses them, and the members of a `ZSetValue` each one selects.

use crate::error::CommandError;
use keyspace::value::{Blob, Score};
use keyspace::ZSetValue;
use std::cmp::Ordering;
use std::ops::Bound;

/// Members with their scores, in the order a command selected them.
pub type Items = Vec<(Blob, f64)>;

/// A boxed walk over selected members; ranges are consumed lazily so LIMIT stays cheap.
pub type Walk<'a> = Box<dyn Iterator<Item = (&'a Blob, f64)> + 'a>;

/// One end of a walk over the ordered `(score, member)` index.
type IndexBound = Bound<(Score, Blob)>;

/// A score interval; `minex`/`maxex` mark exclusive (`(`) ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

/// One end of a score interval. Redis reads it with `strtod`, which turns an empty string
/// into 0, so `(` alone means "greater than 0"; infinities are accepted, NaN is not.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    let v = if text.is_empty() { 0.0 } else { crate::args::parse_f64(text)? };
    // -0 and 0 are the same score; the ordered index only ever holds +0.
    Some((v + 0.0, exclusive))
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<Self, CommandError> {
        let bad = || CommandError::err("min or max is not a float");
        let (min, minex) = parse_score_bound(min).ok_or_else(bad)?;
        let (max, maxex) = parse_score_bound(max).ok_or_else(bad)?;
        Ok(ScoreRange { min, max, minex, maxex })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    /// Bounds on the ordered `(score, member)` index covering exactly this interval; the
    /// empty member is the smallest, so `(s, "")` sits before every member scored `s`.
    fn index_bounds(&self) -> (IndexBound, IndexBound) {
        let lower = if self.minex {
            Bound::Included((Score(self.min.next_up()), Blob::new()))
        } else {
            Bound::Included((Score(self.min), Blob::new()))
        };
        let upper = if self.maxex {
            Bound::Excluded((Score(self.max), Blob::new()))
        } else if self.max == f64::INFINITY {
            Bound::Unbounded
        } else {
            Bound::Excluded((Score(self.max.next_up()), Blob::new()))
        };
        (lower, upper)
    }
}

/// One end of a lex interval.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    /// `-`: before every string.
    Min,
    /// `+`: after every string.
    Max,
    Incl(Blob),
    Excl(Blob),
}

impl LexBound {
    fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first() {
            Some(b'+') if arg.len() == 1 => Some(LexBound::Max),
            Some(b'-') if arg.len() == 1 => Some(LexBound::Min),
            Some(b'[') => Some(LexBound::Incl(Blob::from_slice(&arg[1..]))),
            Some(b'(') => Some(LexBound::Excl(Blob::from_slice(&arg[1..]))),
            _ => None,
        }
    }

    /// Order of bounds as strings, `-` lowest and `+` highest (Redis's `sdscmplex`).
    fn cmp_bound(&self, other: &LexBound) -> Ordering {
        match (self.text(), other.text()) {
            (Some(a), Some(b)) => a.cmp(b),
            _ => self.rank_of_sentinel().cmp(&other.rank_of_sentinel()),
        }
    }

    fn text(&self) -> Option<&[u8]> {
        match self {
            LexBound::Incl(t) | LexBound::Excl(t) => Some(t),
            _ => None,
        }
    }

    fn rank_of_sentinel(&self) -> u8 {
        match self {
            LexBound::Min => 0,
            LexBound::Incl(_) | LexBound::Excl(_) => 1,
            LexBound::Max => 2,
        }
    }

    /// `-` and `+` count as exclusive ends, as in Redis.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<Self, CommandError> {
        let bad = || CommandError::err("min or max not valid string range item");
        Ok(LexRange { min: LexBound::parse(min).ok_or_else(bad)?, max: LexBound::parse(max).ok_or_else(bad)? })
    }

    pub fn is_empty(&self) -> bool {
        match self.min.cmp_bound(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }

    pub fn gte_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(t) => member >= t.as_slice(),
            LexBound::Excl(t) => member > t.as_slice(),
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(t) => member <= t.as_slice(),
            LexBound::Excl(t) => member < t.as_slice(),
        }
    }
}

/// Members whose score is in `range`, ascending (or descending with `rev`).
pub fn by_score<'a>(z: &'a ZSetValue, range: &ScoreRange, rev: bool) -> Walk<'a> {
    if range.is_empty() || z.is_empty() {
        return Box::new(std::iter::empty());
    }
    let walk = z.order.range(range.index_bounds()).map(|(s, m)| (m, s.0));
    if rev {
        Box::new(walk.rev())
    } else {
        Box::new(walk)
    }
}

/// Members in the lex interval `range`, ascending (or descending with `rev`).
///
/// Lex ranges are meant for sets whose members all have the same score; then the ordered
/// index is searched directly. With mixed scores the answer is unspecified in Redis; this
/// follows what Redis does for small sets: walk from one end to the first member inside the
/// near bound, then continue while members are inside the far bound.
pub fn by_lex<'a>(z: &'a ZSetValue, range: &'a LexRange, rev: bool) -> Walk<'a> {
    let (Some(first), Some(last)) = (z.order.first(), z.order.last()) else {
        return Box::new(std::iter::empty());
    };
    if range.is_empty() {
        return Box::new(std::iter::empty());
    }
    let uniform = first.0 == last.0;
    if !rev {
        if !uniform {
            let walk = z.iter().skip_while(|(m, _)| !range.gte_min(m)).take_while(|(m, _)| range.lte_max(m));
            return Box::new(walk);
        }
        let lower = match &range.min {
            LexBound::Min => Bound::Unbounded,
            LexBound::Max => return Box::new(std::iter::empty()),
            LexBound::Incl(t) => Bound::Included((first.0, t.clone())),
            LexBound::Excl(t) => Bound::Excluded((first.0, t.clone())),
        };
        let walk = z.order.range((lower, Bound::Unbounded)).map(|(s, m)| (m, s.0));
        Box::new(walk.take_while(|(m, _)| range.lte_max(m)))
    } else {
        if !uniform {
            let walk = z.iter().rev().skip_while(|(m, _)| !range.lte_max(m)).take_while(|(m, _)| range.gte_min(m));
            return Box::new(walk);
        }
        let upper = match &range.max {
            LexBound::Max => Bound::Unbounded,
            LexBound::Min => return Box::new(std::iter::empty()),
            LexBound::Incl(t) => Bound::Included((last.0, t.clone())),
            LexBound::Excl(t) => Bound::Excluded((last.0, t.clone())),
        };
        let walk = z.order.range((Bound::Unbounded, upper)).rev().map(|(s, m)| (m, s.0));
        Box::new(walk.take_while(|(m, _)| range.gte_min(m)))
    }
}

/// The inclusive 0-based window `start..=stop` of a collection of `len` elements, with
/// negative indexes counted from the end; `None` when it selects nothing.
pub fn rank_window(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// Members ranked `start..=stop` (negative = from the end), from the top with `rev`.
///
/// Reaching a rank means walking to it, so the window is approached from whichever end of
/// the set is nearer: `ZRANGE z -10 -1` on a big set costs 10 steps, not the whole set.
pub fn by_rank(z: &ZSetValue, start: i64, stop: i64, rev: bool) -> Walk<'_> {
    let len = z.len();
    let Some((from, to)) = rank_window(len, start, stop) else {
        return Box::new(std::iter::empty());
    };
    let n = to - from + 1;
    // The window in ascending ranks, and its distance from each end.
    let (lo, hi) = if rev { (len - 1 - to, len - 1 - from) } else { (from, to) };
    let from_top = len - 1 - hi;
    if lo <= from_top {
        let ascending = z.iter().skip(lo).take(n);
        if rev {
            Box::new(ascending.collect::<Vec<_>>().into_iter().rev())
        } else {
            Box::new(ascending)
        }
    } else {
        let descending = z.iter().rev().skip(from_top).take(n);
        if rev {
            Box::new(descending)
        } else {
            Box::new(descending.collect::<Vec<_>>().into_iter().rev())
        }
    }
}

/// 0-based ascending rank of `member`, counted from whichever end of the set is nearer (the
/// two sides are walked in step), so members near the top rank as cheaply as the bottom.
pub fn rank_of(z: &ZSetValue, member: &[u8]) -> Option<usize> {
    let score = z.score(member)?;
    let key = (Score(score), Blob::from_slice(member));
    let mut below = z.order.range((Bound::Unbounded, Bound::Excluded(key.clone())));
    let mut above = z.order.range((Bound::Excluded(key), Bound::Unbounded));
    for steps in 0..z.len() {
        if below.next().is_none() {
            return Some(steps);
        }
        if above.next().is_none() {
            return Some(z.len() - 1 - steps);
        }
    }
    None
}

/// Applies `LIMIT offset count` (a negative offset selects nothing, a negative count means
/// "all the rest") and copies the selected members out.
pub fn limit(walk: Walk<'_>, offset: i64, count: i64) -> Items {
    if offset < 0 {
        return Vec::new();
    }
    let walk = walk.skip(usize::try_from(offset).unwrap_or(usize::MAX));
    let take = if count < 0 { usize::MAX } else { usize::try_from(count).unwrap_or(usize::MAX) };
    walk.take(take).map(|(m, s)| (m.clone(), s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zset(items: &[(f64, &str)]) -> ZSetValue {
        let mut z = ZSetValue::default();
        for (s, m) in items {
            z.insert(m.as_bytes(), *s);
        }
        z
    }

    fn names(walk: Walk<'_>) -> Vec<String> {
        walk.map(|(m, _)| String::from_utf8_lossy(m).into_owned()).collect()
    }

    #[test]
    fn score_ranges_respect_exclusive_ends() {
        let z = zset(&[(1.0, "a"), (2.0, "b"), (2.0, "bb"), (3.0, "c")]);
        let r = |a: &str, b: &str| ScoreRange::parse(a.as_bytes(), b.as_bytes()).unwrap();
        assert_eq!(names(by_score(&z, &r("-inf", "+inf"), false)), ["a", "b", "bb", "c"]);
        assert_eq!(names(by_score(&z, &r("(1", "(3",), false)), ["b", "bb"]);
        assert_eq!(names(by_score(&z, &r("2", "2"), true)), ["bb", "b"]);
        assert_eq!(names(by_score(&z, &r("(2", "2"), false)), Vec::<String>::new());
        assert_eq!(names(by_score(&z, &r("3", "1"), false)), Vec::<String>::new());
        assert_eq!(names(by_score(&z, &r("(", "1"), false)), ["a"]);
        assert!(ScoreRange::parse(b"x", b"1").is_err());
        assert!(ScoreRange::parse(b"1", b"nan").is_err());
    }

    #[test]
    fn lex_ranges() {
        let z = zset(&[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")]);
        let r = |a: &str, b: &str| LexRange::parse(a.as_bytes(), b.as_bytes()).unwrap();
        assert_eq!(names(by_lex(&z, &r("-", "+"), false)), ["a", "b", "c", "d"]);
        assert_eq!(names(by_lex(&z, &r("(a", "[c"), false)), ["b", "c"]);
        assert_eq!(names(by_lex(&z, &r("(a", "[c"), true)), ["c", "b"]);
        assert_eq!(names(by_lex(&z, &r("+", "-"), false)), Vec::<String>::new());
        assert_eq!(names(by_lex(&z, &r("[b", "[b"), false)), ["b"]);
        assert_eq!(names(by_lex(&z, &r("(b", "[b"), false)), Vec::<String>::new());
        assert!(LexRange::parse(b"a", b"+").is_err());
        assert!(LexRange::parse(b"", b"+").is_err());
        // Mixed scores: walk from the end to the first member inside the near bound.
        let mixed = zset(&[(0.0, "aa"), (0.0, "bb"), (1.0, "a"), (2.0, "c")]);
        assert_eq!(names(by_lex(&mixed, &r("[bb", "-"), true)), Vec::<String>::new());
        assert_eq!(names(by_lex(&mixed, &r("-", "[bb"), true)), ["a", "bb", "aa"]);
        assert_eq!(names(by_lex(&mixed, &r("[a", "(c"), false)), ["aa", "bb", "a"]);
    }

    #[test]
    fn rank_walks_agree_from_both_ends() {
        let names_list: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
        let items: Vec<(f64, &str)> = names_list.iter().enumerate().map(|(i, m)| (i as f64, m.as_str())).collect();
        let z = zset(&items);
        for start in -10..10 {
            for stop in -10..10 {
                let asc: Vec<String> = match rank_window(9, start, stop) {
                    Some((a, b)) => names_list[a..=b].to_vec(),
                    None => Vec::new(),
                };
                assert_eq!(names(by_rank(&z, start, stop, false)), asc, "{start} {stop}");
                let mut desc_all = names_list.clone();
                desc_all.reverse();
                let desc: Vec<String> = match rank_window(9, start, stop) {
                    Some((a, b)) => desc_all[a..=b].to_vec(),
                    None => Vec::new(),
                };
                assert_eq!(names(by_rank(&z, start, stop, true)), desc, "rev {start} {stop}");
            }
        }
    }

    #[test]
    fn ranks_from_either_end() {
        let z = zset(&[(1.0, "a"), (2.0, "b"), (2.0, "c"), (3.0, "d"), (4.0, "e")]);
        for (i, m) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            assert_eq!(rank_of(&z, m.as_bytes()), Some(i));
            assert_eq!(z.rank(m.as_bytes()), Some(i));
        }
        assert_eq!(rank_of(&z, b"x"), None);
        assert_eq!(rank_of(&zset(&[(1.0, "only")]), b"only"), Some(0));
    }

    #[test]
    fn rank_windows() {
        assert_eq!(rank_window(5, 0, -1), Some((0, 4)));
        assert_eq!(rank_window(5, -2, -1), Some((3, 4)));
        assert_eq!(rank_window(5, -100, 1), Some((0, 1)));
        assert_eq!(rank_window(5, 3, 100), Some((3, 4)));
        assert_eq!(rank_window(5, 5, 10), None);
        assert_eq!(rank_window(5, 2, 1), None);
        assert_eq!(rank_window(0, 0, -1), None);
        assert_eq!(rank_window(5, i64::MIN, i64::MAX), Some((0, 4)));
    }
}
