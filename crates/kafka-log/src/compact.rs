//! Log compaction (`cleanup.policy=compact`), modelled on Kafka's log cleaner: closed segments
//! are rewritten keeping, per key, only the record with the highest offset; tombstones are
//! kept for `delete_retention_ms`. Offsets are preserved (gaps are normal).
//!
//! Bounded memory: the offset map is keyed by the MD5 digest of each key (16 bytes, as Kafka's
//! dedupe buffer) and holds at most `map_entries` entries. A round maps the dirty records
//! (from `first_dirty_offset` on) until the map is full, then cleans every segment up to where
//! mapping stopped; the next round continues from there. Cleaned copies are written in chunks
//! of `WRITE_CHUNK_BYTES` to `<base>.{log,index,timeindex}.cleaned`, the log fsynced, then
//! renamed over the live files (see `Segment::promote_cleaned` for why any crash point is
//! safe; leftovers are deleted on open).
//!
//! When: a round starts only when the closed segments are dirty enough
//! (`min.cleanable.dirty.ratio`, computed from segment sizes in memory, so an idle partition
//! costs no read), when its oldest dirty segment passed `max.compaction.lag.ms`, or when a
//! tombstone kept by an earlier round falls due. Batches newer than `min.compaction.lag.ms`
//! stop the mapping, like a full map. Where a round stopped is kept in the cleaner checkpoint
//! (`checkpoint.rs`), written after the round's swaps are durable.
//!
//! Short lock: the partition lock (`LockedLog`) is taken to start a round (the closed
//! segments' files and bounds are copied out), then once per cleaned segment to swap it in.
//! Reading, mapping and writing run without it: closed segments are immutable, and a swap
//! checks the segment is still the one read (retention, DeleteRecords or another compaction
//! may have replaced or deleted it meanwhile; the work is then dropped).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest, Md5};

use crate::batch::{BatchFields, BatchHeader, Compression};
use crate::checkpoint::{write_checkpoint, CleanerCheckpoint};
use crate::disk::{SegmentDisk, SegmentFile};
use crate::partition::{read_batch, PartitionLog};
use crate::records::{decode_records, encode_records, Record};
use crate::segment::{remove_segment_files, Files, HeaderScan, Segment};

/// Default capacity of the offset map: 7/8 of 2²⁰ (917,504), the most a hash table of 2²⁰
/// buckets holds (hashbrown fills to 7/8), so the table never grows past them: 25 bytes a
/// bucket (digest, offset, control byte) is at most 26 MB, 39 MB while it last grows.
pub const DEFAULT_COMPACTION_MAP_ENTRIES: usize = 7 << 17;
/// The smallest map that always makes progress: one producer and one key of the first dirty
/// record fit in an empty map.
const MIN_MAP_ENTRIES: usize = 2;
/// Bytes of kept batches gathered before one write to the cleaned copy.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// Why a compaction round started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionTrigger {
    /// The dirty bytes reached `min.cleanable.dirty.ratio` of the cleanable bytes.
    DirtyRatio,
    /// The oldest dirty segment is older than `max.compaction.lag.ms`.
    MaxCompactionLag,
    /// A tombstone kept by an earlier round is past `delete.retention.ms`.
    TombstonesDue,
}

/// What a compaction round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    /// Why the round ran; `None`: it did not (nothing to do, or not dirty enough).
    pub trigger: Option<CompactionTrigger>,
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The offset map filled up at this offset: the round cleaned up to there and the next
    /// one continues from it. `None` when every closed segment was mapped.
    pub map_full_at: Option<i64>,
    /// Mapping stopped at this offset: its batch is newer than `min.compaction.lag.ms`.
    pub lag_held_from: Option<i64>,
    /// Entries the offset map held (never more than its capacity).
    pub map_entries: usize,
}

/// Access to a partition log that is shared with appends: each call takes the log's lock
/// for the duration of `f` only.
pub trait LockedLog {
    /// Runs `f` on the log under its lock; `None` when the log is gone (topic deleted).
    fn with_log_locked<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> Option<T>;
}

/// A log owned by the caller: no one else can append meanwhile.
impl LockedLog for RefCell<&mut PartitionLog> {
    fn with_log_locked<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> Option<T> {
        Some(f(&mut self.borrow_mut()))
    }
}

/// Runs one compaction round, holding the log's lock only to start it and to swap each
/// cleaned segment in.
pub fn compact_with_short_locks(log: &impl LockedLog, now_ms: i64, map_entries: usize) -> io::Result<CompactionReport> {
    let Some(Some(mut job)) = log.with_log_locked(|log| log.begin_compaction(now_ms, map_entries)) else {
        return Ok(CompactionReport::default());
    };
    job.build_map()?;
    clean_and_swap(log, &mut job)?;
    finish_round(log, &job)?;
    Ok(job.report)
}

/// Cleans the segments below where the map stopped and swaps each one in.
fn clean_and_swap(log: &impl LockedLog, job: &mut CompactionJob) -> io::Result<()> {
    let mut swapped_any = false;
    while let Some(cleaned) = job.clean_next()? {
        let bytes_before = cleaned.bytes_before;
        let (records_removed, bytes_after) = (cleaned.records_removed, cleaned.segment.size_bytes);
        match swap_under_lock(log, job, cleaned)? {
            Swap::Done => {
                swapped_any = true;
                job.report.segments_rewritten += 1;
                job.report.records_removed += records_removed;
                job.report.bytes_after += bytes_after;
            }
            Swap::SegmentGone => job.report.bytes_after += bytes_before,
            Swap::LogGone => return Ok(()),
        }
    }
    if swapped_any {
        // The renames are atomic on their own; this makes them durable, outside the lock.
        job.disk.sync_dir(&job.dir)?;
    }
    Ok(())
}

/// Records where the round stopped: in memory, then in the checkpoint file (outside the lock).
/// The file is written only after the swaps are durable: a checkpoint ahead of the segments
/// on disk could let a tombstone expire while an older record of its key survived.
fn finish_round(log: &impl LockedLog, job: &CompactionJob) -> io::Result<()> {
    let (mapped_upto, oldest_tombstone_ms) = (job.map.mapped_upto, job.oldest_kept_tombstone_ms.get());
    let to_persist = log.with_log_locked(|log| {
        log.cleaner = CleanerCheckpoint {
            first_dirty_offset: log.cleaner.first_dirty_offset.max(mapped_upto),
            oldest_tombstone_ms,
        };
        (log.cleaner != log.cleaner_persisted).then_some(log.cleaner)
    });
    let Some(Some(checkpoint)) = to_persist else { return Ok(()) };
    write_checkpoint(&*job.disk, &job.dir, &checkpoint)?;
    log.with_log_locked(|log| log.cleaner_persisted = checkpoint);
    Ok(())
}

enum Swap {
    Done,
    /// The segment was deleted or replaced meanwhile: the cleaned copy was dropped.
    SegmentGone,
    /// The log itself is gone.
    LogGone,
}

fn swap_under_lock(log: &impl LockedLog, job: &CompactionJob, cleaned: CleanedSegment) -> io::Result<Swap> {
    let mut pending = Some(cleaned);
    let swapped = log.with_log_locked(|log| pending.take().map(|cleaned| log.swap_cleaned(cleaned)));
    match (swapped.flatten(), pending) {
        (Some(Ok(true)), _) => Ok(Swap::Done),
        (Some(Ok(false)), _) => Ok(Swap::SegmentGone),
        (Some(Err(error)), _) => Err(error),
        (None, cleaned) => {
            if let Some(cleaned) = cleaned {
                job.discard(cleaned.segment.base_offset);
            }
            Ok(Swap::LogGone)
        }
    }
}

impl PartitionLog {
    /// Compacts the closed segments (never the active one) with the default map capacity.
    pub fn compact(&mut self, now_ms: i64) -> io::Result<CompactionReport> {
        self.compact_bounded(now_ms, DEFAULT_COMPACTION_MAP_ENTRIES)
    }

    /// One compaction round whose offset map holds at most `map_entries` keys and producers.
    pub fn compact_bounded(&mut self, now_ms: i64, map_entries: usize) -> io::Result<CompactionReport> {
        compact_with_short_locks(&RefCell::new(self), now_ms, map_entries)
    }

    /// Under the lock: what a round needs (the closed segments' files and bounds), or `None`
    /// when no round is due. Decided from memory only: no file is read.
    fn begin_compaction(&mut self, now_ms: i64, map_entries: usize) -> Option<CompactionJob> {
        if !self.config.cleanup_policy.compacts() || self.segments.len() < 2 {
            return None;
        }
        let closed = &self.segments[..self.segments.len() - 1];
        let dirty_from = self.cleaner.first_dirty_offset.max(closed[0].base_offset);
        let lag_horizon_ms =
            (self.config.min_compaction_lag_ms > 0).then(|| now_ms.saturating_sub(self.config.min_compaction_lag_ms));
        let tombstone_horizon_ms = now_ms.saturating_sub(self.config.delete_retention_ms);
        let trigger = self.compaction_trigger(closed, dirty_from, lag_horizon_ms, now_ms, tombstone_horizon_ms)?;
        Some(CompactionJob {
            disk: self.disk.clone(),
            dir: self.dir.clone(),
            index_interval_bytes: self.config.index_interval_bytes,
            segments: closed.iter().map(ClosedSegment::of).collect(),
            dirty_from,
            closed_end: self.active().base_offset,
            tombstone_horizon_ms,
            lag_horizon_ms,
            map: OffsetMap::new(map_entries, dirty_from),
            next_segment: 0,
            oldest_kept_tombstone_ms: Cell::new(None),
            report: CompactionReport { trigger: Some(trigger), ..CompactionReport::default() },
        })
    }

    /// Why a round should run now, if it should.
    fn compaction_trigger(
        &self,
        closed: &[Segment],
        dirty_from: i64,
        lag_horizon_ms: Option<i64>,
        now_ms: i64,
        tombstone_horizon_ms: i64,
    ) -> Option<CompactionTrigger> {
        let bytes = CleanableBytes::of(closed, dirty_from, lag_horizon_ms);
        let max_lag_horizon_ms = now_ms.saturating_sub(self.config.max_compaction_lag_ms);
        if bytes.dirty > 0 && bytes.dirty_ratio() >= self.config.min_cleanable_dirty_ratio {
            Some(CompactionTrigger::DirtyRatio)
        } else if bytes.dirty > 0 && bytes.first_dirty_segment_timestamp_ms < max_lag_horizon_ms {
            Some(CompactionTrigger::MaxCompactionLag)
        } else if self.cleaner.oldest_tombstone_ms.is_some_and(|ms| ms < tombstone_horizon_ms) {
            Some(CompactionTrigger::TombstonesDue)
        } else {
            None
        }
    }

    /// Under the lock: puts a cleaned copy in place of its segment, if that segment is still
    /// the one the copy was made from. `Ok(false)`: it is not, and the copy was dropped.
    fn swap_cleaned(&mut self, cleaned: CleanedSegment) -> io::Result<bool> {
        let base_offset = cleaned.segment.base_offset;
        let found = self
            .segments
            .iter()
            .position(|segment| segment.base_offset == base_offset && Arc::ptr_eq(&segment.log, &cleaned.replaces));
        let Some(number) = found else {
            discard_cleaned(&*self.disk, &self.dir, base_offset);
            return Ok(false);
        };
        if let Err(error) = cleaned.segment.promote_cleaned(&*self.disk, &self.dir) {
            discard_cleaned(&*self.disk, &self.dir, base_offset);
            return Err(error);
        }
        self.segments[number] = cleaned.segment;
        Ok(true)
    }
}

/// Sizes of the cleanable closed segments, from memory (Kafka's `cleanableRatio`).
struct CleanableBytes {
    /// Bytes below the first dirty offset.
    clean: u64,
    /// Bytes from the first dirty offset on.
    dirty: u64,
    /// Timestamp of the first batch of the first segment holding dirty bytes (-1 when none),
    /// as Kafka's `max.compaction.lag.ms` check takes it. When the first dirty offset lies
    /// inside that segment, its first batch is clean and older: the round comes sooner.
    first_dirty_segment_timestamp_ms: i64,
}

impl CleanableBytes {
    /// Counts the closed segments up to the first one holding a batch newer than the lag
    /// horizon (Kafka's first uncleanable offset, at segment granularity; with no lag every
    /// closed segment counts). The segment holding the first dirty offset is split in
    /// proportion to its offsets on either side: exact sizes would need a read. Its cleaned
    /// part has offset gaps, so the split counts too few dirty bytes, at most one segment's
    /// worth: the round may come slightly later than exact sizes would start it.
    fn of(closed: &[Segment], dirty_from: i64, lag_horizon_ms: Option<i64>) -> Self {
        let mut bytes = Self { clean: 0, dirty: 0, first_dirty_segment_timestamp_ms: -1 };
        let cleanable = closed.iter().take_while(|s| lag_horizon_ms.is_none_or(|h| s.max_timestamp() <= h));
        for segment in cleanable {
            let dirty = dirty_part(segment, dirty_from);
            if dirty > 0 && bytes.dirty == 0 {
                bytes.first_dirty_segment_timestamp_ms = segment.first_batch_timestamp();
            }
            bytes.dirty += dirty;
            bytes.clean += segment.size_bytes - dirty;
        }
        bytes
    }

    fn dirty_ratio(&self) -> f64 {
        self.dirty as f64 / (self.clean + self.dirty).max(1) as f64
    }
}

/// Bytes of `segment` at or after `dirty_from`, split by offsets when it holds both sides.
fn dirty_part(segment: &Segment, dirty_from: i64) -> u64 {
    if segment.next_offset <= dirty_from {
        0
    } else if segment.base_offset >= dirty_from {
        segment.size_bytes
    } else {
        let dirty_offsets = (segment.next_offset - dirty_from) as u128;
        let all_offsets = (segment.next_offset - segment.base_offset) as u128;
        (u128::from(segment.size_bytes) * dirty_offsets / all_offsets) as u64
    }
}

/// A closed segment as a round sees it, copied out under the lock.
struct ClosedSegment {
    base_offset: i64,
    log: Arc<dyn SegmentFile>,
    size_bytes: u64,
    next_offset: i64,
}

impl ClosedSegment {
    fn of(segment: &Segment) -> Self {
        Self {
            base_offset: segment.base_offset,
            log: segment.log.clone(),
            size_bytes: segment.size_bytes,
            next_offset: segment.next_offset,
        }
    }

    fn headers(&self) -> HeaderScan<'_> {
        HeaderScan::new(&*self.log, 0, self.size_bytes)
    }
}

/// A segment rewritten under the `.cleaned` names, fsynced, waiting to be swapped in.
struct CleanedSegment {
    segment: Segment,
    /// The log file it was made from: the swap happens only if that is still the segment's.
    replaces: Arc<dyn SegmentFile>,
    records_removed: u64,
    bytes_before: u64,
}

/// The 128-bit digest standing for a key in the offset map. Two keys with the same digest
/// would count as one (the older record of either would be dropped); for n keys the chance is
/// about n² / 2¹²⁹, 10⁻²⁷ for a million keys. Keys are chosen by clients, who could build an
/// MD5 collision on purpose, but only within their own topic, so only against their own data.
type KeyDigest = [u8; 16];

fn digest(key: &[u8]) -> KeyDigest {
    Md5::digest(key).into()
}

/// What a round learnt from the dirty records. The tables use std's randomly seeded hasher,
/// not the digest's own bits, so keys crafted to collide in the table cannot slow it down.
struct OffsetMap {
    /// Highest offset of each key digest.
    latest: HashMap<KeyDigest, i64>,
    /// Base offset of each producer's last batch: kept (possibly empty) so the producer's
    /// sequence state survives a restart.
    last_producer_batch: HashMap<i64, i64>,
    /// Most entries of both tables together.
    capacity: usize,
    /// Every dirty record below this offset is mapped (the first one left out when the map
    /// filled up, else the end of the closed segments).
    mapped_upto: i64,
}

impl OffsetMap {
    fn new(capacity: usize, dirty_from: i64) -> Self {
        Self {
            latest: HashMap::new(),
            last_producer_batch: HashMap::new(),
            capacity: capacity.max(MIN_MAP_ENTRIES),
            mapped_upto: dirty_from,
        }
    }

    fn len(&self) -> usize {
        self.latest.len() + self.last_producer_batch.len()
    }

    fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// Maps the batch's records from offset `from` on. `Ok(false)`: the map filled up first,
    /// and `mapped_upto` is the first record left out.
    fn add_batch(
        &mut self,
        file: &dyn SegmentFile,
        position: u64,
        header: &BatchHeader,
        from: i64,
    ) -> io::Result<bool> {
        if header.has_producer_id() {
            if !self.last_producer_batch.contains_key(&header.producer_id) && self.is_full() {
                self.mapped_upto = header.base_offset.max(from);
                return Ok(false);
            }
            self.last_producer_batch.insert(header.producer_id, header.base_offset);
        }
        if header.is_control() {
            return Ok(true);
        }
        let (header, records) = decode(file, position, header)?;
        for record in records {
            let offset = record.offset(&header);
            let Some(key) = record.key.filter(|_| offset >= from) else { continue };
            let key = digest(&key);
            if !self.latest.contains_key(&key) && self.is_full() {
                self.mapped_upto = offset;
                return Ok(false);
            }
            self.latest.insert(key, offset);
        }
        Ok(true)
    }

    /// Whether a record survives: it has a key, no newer record of its key was mapped, and
    /// it is not a tombstone past the horizon. Tombstones are dropped only once mapped (this
    /// round or before): by then every older record of their key is gone, since a round cleans
    /// all segments below where it mapped, oldest first.
    fn keeps(&self, record: &Record, header: &BatchHeader, tombstone_horizon_ms: i64) -> bool {
        let offset = record.offset(header);
        let Some(key) = &record.key else { return false };
        let newest = self.latest.get(&digest(key)).is_none_or(|&latest| offset >= latest);
        newest && !(self.is_mapped_tombstone(record, header) && header.max_timestamp < tombstone_horizon_ms)
    }

    /// A tombstone below where mapping stopped: it may expire (every older record of its key
    /// is gone by the end of the round).
    fn is_mapped_tombstone(&self, record: &Record, header: &BatchHeader) -> bool {
        record.value.is_none() && record.offset(header) < self.mapped_upto
    }

    /// An emptied batch of a producer is kept unless a later batch of the producer is known,
    /// so the producer's sequence state survives a restart.
    fn keeps_empty(&self, header: &BatchHeader) -> bool {
        header.has_producer_id()
            && self.last_producer_batch.get(&header.producer_id).is_none_or(|&last| last <= header.base_offset)
    }
}

/// The records kept from one batch.
enum Verdict {
    Unchanged,
    Rewrite { kept: Vec<Record>, removed: u64 },
    Drop { removed: u64 },
}

impl Verdict {
    fn removed(&self) -> u64 {
        match self {
            Self::Unchanged => 0,
            Self::Rewrite { removed, .. } | Self::Drop { removed } => *removed,
        }
    }
}

/// One round: built under the lock by `begin_compaction`, run without it.
struct CompactionJob {
    disk: Arc<dyn SegmentDisk>,
    dir: PathBuf,
    index_interval_bytes: u64,
    segments: Vec<ClosedSegment>,
    /// First offset not yet mapped by an earlier round.
    dirty_from: i64,
    /// Base offset of the active segment when the round began.
    closed_end: i64,
    tombstone_horizon_ms: i64,
    /// Batches newer than this are not mapped (`min.compaction.lag.ms`); `None`: no lag.
    lag_horizon_ms: Option<i64>,
    map: OffsetMap,
    next_segment: usize,
    /// Newest-record timestamp of the batch of the oldest mapped tombstone kept so far: the
    /// round that must run when it expires.
    oldest_kept_tombstone_ms: Cell<Option<i64>>,
    report: CompactionReport,
}

impl CompactionJob {
    /// Maps the dirty records, oldest first, until the map is full or they are all mapped.
    fn build_map(&mut self) -> io::Result<()> {
        let result = self.fill_map();
        self.report.map_entries = self.map.len();
        result
    }

    fn fill_map(&mut self) -> io::Result<()> {
        for segment in self.segments.iter().filter(|segment| segment.next_offset > self.dirty_from) {
            for item in segment.headers() {
                let (position, header) = item?;
                if header.last_offset() < self.dirty_from {
                    continue;
                }
                if self.lag_horizon_ms.is_some_and(|horizon| header.max_timestamp > horizon) {
                    self.map.mapped_upto = header.base_offset.max(self.dirty_from);
                    self.report.lag_held_from = Some(self.map.mapped_upto);
                    return Ok(());
                }
                if !self.map.add_batch(&*segment.log, position, &header, self.dirty_from)? {
                    self.report.map_full_at = Some(self.map.mapped_upto);
                    return Ok(());
                }
            }
        }
        self.map.mapped_upto = self.closed_end;
        Ok(())
    }

    /// The next segment below where the map stopped that loses records, cleaned; `None` once
    /// every such segment was done.
    fn clean_next(&mut self) -> io::Result<Option<CleanedSegment>> {
        while let Some(segment) = self.segments.get(self.next_segment) {
            if segment.base_offset >= self.map.mapped_upto {
                break;
            }
            self.next_segment += 1;
            self.report.bytes_before += segment.size_bytes;
            if self.loses_records(segment)? {
                return self.write_cleaned(segment).map(Some);
            }
            self.report.bytes_after += segment.size_bytes;
        }
        Ok(None)
    }

    /// Whether cleaning would change the segment (read only, so an unchanged segment costs
    /// no write).
    fn loses_records(&self, segment: &ClosedSegment) -> io::Result<bool> {
        for item in segment.headers() {
            let (position, header) = item?;
            if !matches!(self.judge(&*segment.log, position, &header)?.1, Verdict::Unchanged) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn write_cleaned(&self, segment: &ClosedSegment) -> io::Result<CleanedSegment> {
        let result = self.write_cleaned_files(segment);
        if result.is_err() {
            self.discard(segment.base_offset);
        }
        result
    }

    fn write_cleaned_files(&self, segment: &ClosedSegment) -> io::Result<CleanedSegment> {
        let (disk, dir) = (&*self.disk, &self.dir);
        let mut out = Segment::create_files(disk, dir, segment.base_offset, self.index_interval_bytes, Files::Cleaned)?;
        let mut chunk = Chunk::default();
        let mut records_removed = 0;
        for item in segment.headers() {
            let (position, header) = item?;
            let (bytes, verdict) = self.judge(&*segment.log, position, &header)?;
            records_removed += verdict.removed();
            match verdict {
                Verdict::Unchanged => chunk.push(&bytes, header),
                Verdict::Rewrite { kept, .. } => {
                    let fields = BatchFields::from_header(&header);
                    let rewritten = fields.write_batch(Compression::None, kept.len() as i32, &encode_records(&kept));
                    chunk.push(&rewritten, BatchHeader::parse(&rewritten).map_err(invalid_data)?);
                }
                Verdict::Drop { .. } => {}
            }
            if chunk.bytes.len() >= WRITE_CHUNK_BYTES {
                chunk.write_to(&mut out)?;
            }
        }
        chunk.write_to(&mut out)?;
        out.log.sync()?;
        Ok(CleanedSegment {
            segment: out,
            replaces: segment.log.clone(),
            records_removed,
            bytes_before: segment.size_bytes,
        })
    }

    /// Reads one batch and decides what survives of it.
    fn judge(&self, file: &dyn SegmentFile, position: u64, header: &BatchHeader) -> io::Result<(Vec<u8>, Verdict)> {
        let bytes = read_batch(file, position, header)?;
        if header.is_control() {
            return Ok((bytes, Verdict::Unchanged));
        }
        let (header, records) = decode_records(&bytes).map_err(invalid_data)?;
        let total = records.len();
        let kept: Vec<Record> =
            records.into_iter().filter(|record| self.map.keeps(record, &header, self.tombstone_horizon_ms)).collect();
        if kept.iter().any(|record| self.map.is_mapped_tombstone(record, &header)) {
            let oldest =
                self.oldest_kept_tombstone_ms.get().map_or(header.max_timestamp, |ms| ms.min(header.max_timestamp));
            self.oldest_kept_tombstone_ms.set(Some(oldest));
        }
        let removed = (total - kept.len()) as u64;
        let verdict = if removed == 0 {
            Verdict::Unchanged
        } else if kept.is_empty() && !self.map.keeps_empty(&header) {
            Verdict::Drop { removed }
        } else {
            Verdict::Rewrite { kept, removed }
        };
        Ok((bytes, verdict))
    }

    fn discard(&self, base_offset: i64) {
        discard_cleaned(&*self.disk, &self.dir, base_offset);
    }
}

/// Removes a cleaned copy's files (best effort: a leftover is removed on next open).
fn discard_cleaned(disk: &dyn SegmentDisk, dir: &Path, base_offset: i64) {
    if let Err(error) = remove_segment_files(disk, dir, base_offset, Files::Cleaned) {
        tracing::warn!(%error, "could not remove a cleaned copy; it is removed on next open");
    }
}

/// Kept batches waiting to be written to the cleaned copy (at most `WRITE_CHUNK_BYTES` plus
/// one batch).
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Position in `bytes` and header of each batch.
    batches: Vec<(usize, BatchHeader)>,
}

impl Chunk {
    fn push(&mut self, batch: &[u8], header: BatchHeader) {
        self.batches.push((self.bytes.len(), header));
        self.bytes.extend_from_slice(batch);
    }

    fn write_to(&mut self, segment: &mut Segment) -> io::Result<()> {
        if !self.batches.is_empty() {
            segment.append(&[&self.bytes], &self.batches)?;
            self.bytes.clear();
            self.batches.clear();
        }
        Ok(())
    }
}

fn decode(file: &dyn SegmentFile, position: u64, header: &BatchHeader) -> io::Result<(BatchHeader, Vec<Record>)> {
    let bytes = read_batch(file, position, header)?;
    decode_records(&bytes).map_err(invalid_data)
}

fn invalid_data(error: crate::BatchError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}
