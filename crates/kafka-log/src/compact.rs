//! Log compaction (`cleanup.policy=compact`): closed segments are rewritten keeping, per key,
//! only the record with the highest offset; tombstones are kept for `delete_retention_ms`.
//! Offsets are preserved (gaps are normal). Each segment is swapped atomically: the copy is
//! written to `.log.cleaned`, fsynced, then renamed over the `.log`, so a crash leaves either
//! the old or the new segment, both valid.

use std::collections::HashMap;
use std::io;

use crate::batch::{BatchFields, BatchHeader, Compression};
use crate::disk::OpenMode;
use crate::partition::{read_batch, PartitionLog};
use crate::records::{decode_records, encode_records, Record};
use crate::segment::{segment_path, Role, Segment, CLEANED_SUFFIX, LOG_SUFFIX};

/// What a compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// What the pass learnt from reading the closed segments once.
#[derive(Default)]
struct OffsetMap {
    /// Highest offset of each key.
    latest: HashMap<Vec<u8>, i64>,
    /// Base offset of each producer's last batch: kept (possibly empty) so the producer's
    /// sequence state survives a restart.
    last_producer_batch: HashMap<i64, i64>,
}

/// The records kept from one batch.
enum Verdict {
    Unchanged,
    Rewrite(Vec<Record>),
    Drop,
}

impl PartitionLog {
    /// Compacts the closed segments (never the active one).
    pub fn compact(&mut self, now_ms: i64) -> io::Result<CompactionReport> {
        let mut report = CompactionReport::default();
        if !self.config.cleanup_policy.compacts() || self.segments.len() < 2 {
            return Ok(report);
        }
        let closed = self.segments.len() - 1;
        let map = self.build_offset_map(closed)?;
        let tombstone_horizon_ms = now_ms.saturating_sub(self.config.delete_retention_ms);
        for number in 0..closed {
            report.bytes_before += self.segments[number].size_bytes;
            self.clean_segment(number, &map, tombstone_horizon_ms, &mut report)?;
            report.bytes_after += self.segments[number].size_bytes;
        }
        Ok(report)
    }

    fn build_offset_map(&self, closed: usize) -> io::Result<OffsetMap> {
        let mut map = OffsetMap::default();
        for segment in &self.segments[..closed] {
            for item in segment.headers_from(0) {
                let (position, header) = item?;
                if header.has_producer_id() {
                    map.last_producer_batch.insert(header.producer_id, header.base_offset);
                }
                if header.is_control() {
                    continue;
                }
                let (header, records) = decode(segment, position, &header)?;
                for record in records {
                    if let Some(key) = record.key {
                        map.latest.insert(key, header.base_offset + i64::from(record.offset_delta));
                    }
                }
            }
        }
        Ok(map)
    }

    fn clean_segment(
        &mut self,
        number: usize,
        map: &OffsetMap,
        tombstone_horizon_ms: i64,
        report: &mut CompactionReport,
    ) -> io::Result<()> {
        let segment = &self.segments[number];
        let mut cleaned = Vec::new();
        let mut changed = false;
        for item in segment.headers_from(0) {
            let (position, header) = item?;
            let bytes = read_batch(segment, position, &header)?;
            match verdict(&bytes, map, tombstone_horizon_ms, report)? {
                Verdict::Unchanged => cleaned.extend_from_slice(&bytes),
                Verdict::Rewrite(kept) => {
                    changed = true;
                    let fields = BatchFields::from_header(&header);
                    cleaned.extend_from_slice(&fields.write_batch(
                        Compression::None,
                        kept.len() as i32,
                        &encode_records(&kept),
                    ));
                }
                Verdict::Drop => changed = true,
            }
        }
        if changed {
            let base_offset = segment.base_offset;
            self.segments[number] = self.swap_in(base_offset, &cleaned)?;
            report.segments_rewritten += 1;
        }
        Ok(())
    }

    /// Writes `bytes` as the new content of segment `base_offset`, atomically, and reopens it.
    fn swap_in(&self, base_offset: i64, bytes: &[u8]) -> io::Result<Segment> {
        let cleaned_path = segment_path(&self.dir, base_offset, CLEANED_SUFFIX);
        let file = self.disk.open(&cleaned_path, OpenMode::Truncate)?;
        file.write_at(bytes, 0)?;
        file.sync()?;
        self.disk.rename(&cleaned_path, &segment_path(&self.dir, base_offset, LOG_SUFFIX))?;
        self.disk.sync_dir(&self.dir)?;
        Segment::open(&*self.disk, &self.dir, base_offset, Role::Closed, self.config.index_interval_bytes, &mut |_| {})
            .map_err(io::Error::other)
    }
}

fn decode(segment: &Segment, position: u64, header: &BatchHeader) -> io::Result<(BatchHeader, Vec<Record>)> {
    let bytes = read_batch(segment, position, header)?;
    decode_records(&bytes).map_err(invalid_data)
}

fn invalid_data(error: crate::BatchError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// Which records of a batch survive: the newest of their key, and tombstones younger than the
/// horizon. Control batches are kept as they are.
fn verdict(
    bytes: &[u8],
    map: &OffsetMap,
    tombstone_horizon_ms: i64,
    report: &mut CompactionReport,
) -> io::Result<Verdict> {
    let (header, records) = decode_records(bytes).map_err(invalid_data)?;
    if header.is_control() {
        return Ok(Verdict::Unchanged);
    }
    let total = records.len();
    let kept: Vec<Record> = records
        .into_iter()
        .filter(|record| {
            let offset = record.offset(&header);
            let newest = record.key.as_ref().and_then(|key| map.latest.get(key)) == Some(&offset);
            newest && (record.value.is_some() || header.max_timestamp >= tombstone_horizon_ms)
        })
        .collect();
    report.records_removed += (total - kept.len()) as u64;
    if kept.len() == total {
        return Ok(Verdict::Unchanged);
    }
    let producer_keeps_it =
        header.has_producer_id() && map.last_producer_batch.get(&header.producer_id) == Some(&header.base_offset);
    if kept.is_empty() && !producer_keeps_it {
        return Ok(Verdict::Drop);
    }
    Ok(Verdict::Rewrite(kept))
}
