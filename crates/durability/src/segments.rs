//! The files of one database's folder: change-log segments and snapshots, which of them a
//! restart needs, and which a finished snapshot makes obsolete.
//!
//! A segment named by its base B holds records with offsets greater than B, up to the next
//! segment's base: `changes.log` (base 0, the first), then `changes.<B>.log`. Only the last
//! segment is ever appended to; an older one was fsynced before the next was created, so a
//! torn tail can only be in the last one, and anything wrong elsewhere is corruption.

use crate::disk::Disk;
use crate::log::{recover, RecoveryError};
use std::io;
use std::path::{Path, PathBuf};

/// File name of the segment whose records follow offset `base`.
pub fn segment_name(base: u64) -> String {
    if base == 0 {
        "changes.log".to_string()
    } else {
        format!("changes.{base}.log")
    }
}

pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(segment_name(base))
}

/// What a database folder holds, each list sorted by offset.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub segment_bases: Vec<u64>,
    pub snapshot_offsets: Vec<u64>,
    /// Unfinished snapshot files left by a crash.
    pub temp_files: Vec<String>,
}

fn number_between(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
}

pub fn list(disk: &dyn Disk, dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for name in disk.list(dir)? {
        if name == "changes.log" {
            listing.segment_bases.push(0);
        } else if let Some(base) = number_between(&name, "changes.", ".log") {
            listing.segment_bases.push(base);
        } else if let Some(offset) = number_between(&name, "snapshot.", ".tern") {
            listing.snapshot_offsets.push(offset);
        } else if name.starts_with("snapshot.") && name.ends_with(".tmp") {
            listing.temp_files.push(name);
        }
    }
    listing.segment_bases.sort_unstable();
    listing.snapshot_offsets.sort_unstable();
    Ok(listing)
}

/// File names that are no longer needed once the snapshot at `offset` is durable: older
/// snapshots, unfinished ones, and segments whose records are all at or below `offset`.
pub fn obsolete(listing: &Listing, offset: u64) -> Vec<String> {
    let mut names: Vec<String> = listing.temp_files.clone();
    names.extend(listing.snapshot_offsets.iter().filter(|&&o| o < offset).map(|&o| crate::snapshot_name(o)));
    for pair in listing.segment_bases.windows(2) {
        if pair[1] <= offset {
            names.push(segment_name(pair[0]));
        }
    }
    names
}

/// The log after a snapshot: the records a restart must replay.
#[derive(Debug, Default)]
pub struct LogRecovery {
    /// Records with an offset above the snapshot's, in order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Newest offset in the log (0 when it holds no record).
    pub last_offset: u64,
    /// Base of the last segment (the one to append to) and its good length.
    pub tail_base: u64,
    pub tail_good_len: u64,
    /// Bytes of torn tail cut from the last segment.
    pub torn_tail_bytes: u64,
    /// Bytes of every segment read (the log's size on disk after the cut).
    pub log_bytes: u64,
}

/// Reads the segments a restart from the snapshot at `after` needs (all of them when
/// `after` is 0), checking that offsets continue from segment to segment.
pub fn recover_after(disk: &dyn Disk, dir: &Path, bases: &[u64], after: u64) -> Result<LogRecovery, RecoveryError> {
    // Segments before the last one based at or below `after` hold only older records.
    let start = bases.iter().rposition(|&b| b <= after).unwrap_or(0);
    let mut out = LogRecovery::default();
    let mut previous: Option<u64> = None;
    let chosen = bases.get(start..).unwrap_or(&[]);
    for (i, &base) in chosen.iter().enumerate() {
        let path = segment_path(dir, base);
        let recovery = recover(disk, &path)?;
        let is_last = i + 1 == chosen.len();
        if recovery.torn_tail_bytes > 0 && !is_last {
            return Err(RecoveryError::Corrupt { position: recovery.good_len, after_offset: previous.unwrap_or(base) });
        }
        if let Some(&(first, _)) = recovery.records.first() {
            let expected = previous.map_or(base + 1, |p| p + 1);
            if first != expected || first != base + 1 {
                return Err(RecoveryError::Gap { segment: path.display().to_string(), expected, found: first });
            }
        }
        if let Some(&(last, _)) = recovery.records.last() {
            previous = Some(last);
        }
        out.log_bytes += recovery.good_len;
        out.tail_base = base;
        out.tail_good_len = recovery.good_len;
        out.torn_tail_bytes = recovery.torn_tail_bytes;
        out.records.extend(recovery.records.into_iter().filter(|(o, _)| *o > after));
    }
    out.last_offset = previous.unwrap_or(0);
    if let Some(&(first, _)) = out.records.first() {
        if first != after + 1 {
            return Err(RecoveryError::Gap { segment: segment_name(out.tail_base), expected: after + 1, found: first });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::RealDisk;
    use crate::log::LogWriter;
    use std::sync::Arc;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tern-segments-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes records `first..=last` into the segment based at `base`.
    fn segment(dir: &Path, base: u64, first: u64, last: u64) {
        let mut w = LogWriter::open(Arc::new(RealDisk), &segment_path(dir, base), 0, first - 1).unwrap();
        for o in first..=last {
            w.push(o, format!("r{o}").as_bytes());
        }
        w.flush(true).unwrap();
    }

    #[test]
    fn names_list_and_obsolete_files() {
        let dir = temp_dir("names");
        segment(&dir, 0, 1, 10);
        segment(&dir, 10, 11, 20);
        segment(&dir, 20, 21, 25);
        std::fs::write(dir.join("snapshot.5.tern"), b"").unwrap();
        std::fs::write(dir.join("snapshot.15.tern"), b"").unwrap();
        std::fs::write(dir.join("snapshot.18.tern.tmp"), b"").unwrap();
        let l = list(&RealDisk, &dir).unwrap();
        assert_eq!(l.segment_bases, vec![0, 10, 20]);
        assert_eq!(l.snapshot_offsets, vec![5, 15]);
        assert_eq!(obsolete(&l, 15), vec!["snapshot.18.tern.tmp", "snapshot.5.tern", "changes.log"]);
        assert_eq!(obsolete(&l, 20).len(), 5, "two snapshots, the temp file, two segments");
        // Records after the snapshot at 15, read from the segments that hold them.
        let r = recover_after(&RealDisk, &dir, &l.segment_bases, 15).unwrap();
        assert_eq!(r.records.iter().map(|(o, _)| *o).collect::<Vec<_>>(), (16..=25).collect::<Vec<_>>());
        assert_eq!((r.last_offset, r.tail_base), (25, 20));
        let all = recover_after(&RealDisk, &dir, &l.segment_bases, 0).unwrap();
        assert_eq!(all.records.len(), 25);
    }

    #[test]
    fn gaps_between_segments_and_torn_middles_are_refused() {
        let dir = temp_dir("gaps");
        segment(&dir, 0, 1, 10);
        segment(&dir, 12, 13, 20);
        let l = list(&RealDisk, &dir).unwrap();
        assert!(matches!(recover_after(&RealDisk, &dir, &l.segment_bases, 0), Err(RecoveryError::Gap { .. })));
        // A snapshot at 12 needs nothing from the first segment: fine.
        assert_eq!(recover_after(&RealDisk, &dir, &l.segment_bases, 12).unwrap().records.len(), 8);
        // Records after the snapshot must start right after it.
        let dir = temp_dir("gaps2");
        segment(&dir, 30, 31, 40);
        assert!(recover_after(&RealDisk, &dir, &[30], 20).is_err());
        // A torn tail is only allowed in the last segment.
        let dir = temp_dir("torn");
        segment(&dir, 0, 1, 10);
        segment(&dir, 10, 11, 12);
        let first = segment_path(&dir, 0);
        let mut bytes = std::fs::read(&first).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&first, &bytes).unwrap();
        assert!(recover_after(&RealDisk, &dir, &[0, 10], 0).is_err());
        let last = segment_path(&dir, 10);
        let mut bytes = std::fs::read(&last).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&last, &bytes).unwrap();
        std::fs::write(&first, {
            let d = temp_dir("torn-rewrite");
            segment(&d, 0, 1, 10);
            std::fs::read(segment_path(&d, 0)).unwrap()
        })
        .unwrap();
        let r = recover_after(&RealDisk, &dir, &[0, 10], 0).unwrap();
        assert_eq!((r.last_offset, r.tail_base), (11, 10));
        assert!(r.torn_tail_bytes > 0);
    }
}
