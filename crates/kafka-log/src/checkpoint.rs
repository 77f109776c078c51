//! The cleaner checkpoint of one partition (`cleaner-offset-checkpoint` in its folder): where
//! compaction stopped (`first_dirty_offset`) and the timestamp of the oldest tombstone it kept,
//! so a restart neither remaps the clean part of the log nor forgets a tombstone falling due.
//!
//! One text line, `v1 <first dirty offset> <oldest tombstone ms or -1> <crc32c hex>`, the
//! CRC-32C covering what precedes it. The file is replaced atomically (temporary file, fsync,
//! rename, folder fsync). A missing file is a log nobody compacted yet; an unreadable or damaged
//! one is logged and ignored: starting again from offset 0 only costs a remap, while trusting a
//! wrong offset could let an expired tombstone go before the older records of its key.

use std::io;
use std::path::Path;

use crate::disk::{read_whole, write_atomically, SegmentDisk};

pub(crate) const CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
pub(crate) const CHECKPOINT_TMP_FILE: &str = "cleaner-offset-checkpoint.tmp";
const VERSION: &str = "v1";

/// What compaction knows about a partition between rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CleanerCheckpoint {
    /// Every record below this offset was deduplicated against the records before it.
    pub first_dirty_offset: i64,
    /// Newest-record timestamp of the batch of the oldest tombstone kept below
    /// `first_dirty_offset`: a round is due once it passes `delete.retention.ms`, whatever the
    /// dirty ratio. `None` when no tombstone was kept.
    pub oldest_tombstone_ms: Option<i64>,
}

impl CleanerCheckpoint {
    fn encode(&self) -> String {
        let body = format!("{VERSION} {} {}", self.first_dirty_offset, self.oldest_tombstone_ms.unwrap_or(-1));
        format!("{body} {:08x}\n", crc32c::crc32c(body.as_bytes()))
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let line = text.strip_suffix('\n').ok_or("no line end")?;
        let (body, crc) = line.rsplit_once(' ').ok_or("no checksum")?;
        let crc = u32::from_str_radix(crc, 16).map_err(|_| format!("bad checksum {crc:?}"))?;
        if crc != crc32c::crc32c(body.as_bytes()) {
            return Err("checksum mismatch".to_owned());
        }
        let fields: Vec<&str> = body.split(' ').collect();
        let [VERSION, offset, tombstone] = fields[..] else { return Err(format!("unknown layout {body:?}")) };
        let number = |field: &str| field.parse::<i64>().map_err(|_| format!("bad number {field:?}"));
        let oldest_tombstone_ms = Some(number(tombstone)?).filter(|&ms| ms >= 0);
        Ok(Self { first_dirty_offset: number(offset)?.max(0), oldest_tombstone_ms })
    }
}

/// Reads the checkpoint of the log in `dir`; never fails: a missing, unreadable or damaged file
/// reads as the empty checkpoint (everything dirty), logged unless missing.
pub(crate) fn read_checkpoint(disk: &dyn SegmentDisk, dir: &Path) -> CleanerCheckpoint {
    let path = dir.join(CHECKPOINT_FILE);
    let problem = match read_whole(disk, &path) {
        Ok(None) => return CleanerCheckpoint::default(),
        Ok(Some(bytes)) => match CleanerCheckpoint::decode(&bytes) {
            Ok(checkpoint) => return checkpoint,
            Err(problem) => problem,
        },
        Err(error) => error.to_string(),
    };
    tracing::warn!(path = %path.display(), %problem, "ignoring the cleaner checkpoint: the whole log counts as dirty");
    CleanerCheckpoint::default()
}

pub(crate) fn write_checkpoint(disk: &dyn SegmentDisk, dir: &Path, checkpoint: &CleanerCheckpoint) -> io::Result<()> {
    write_atomically(disk, dir, CHECKPOINT_FILE, CHECKPOINT_TMP_FILE, checkpoint.encode().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_and_damage_is_detected() {
        let checkpoint = CleanerCheckpoint { first_dirty_offset: 1234, oldest_tombstone_ms: Some(1_700_000_000_000) };
        let encoded = checkpoint.encode();
        assert_eq!(CleanerCheckpoint::decode(encoded.as_bytes()), Ok(checkpoint));
        let empty = CleanerCheckpoint::default();
        assert_eq!(CleanerCheckpoint::decode(empty.encode().as_bytes()), Ok(empty));
        // One digit changed, a cut, garbage: all refused.
        assert!(CleanerCheckpoint::decode(encoded.replacen("1234", "1235", 1).as_bytes()).is_err());
        assert!(CleanerCheckpoint::decode(&encoded.as_bytes()[..encoded.len() - 3]).is_err());
        assert!(CleanerCheckpoint::decode(b"\xff\x00garbage\n").is_err());
        assert!(CleanerCheckpoint::decode(b"").is_err());
    }
}
