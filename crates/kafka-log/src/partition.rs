//! `PartitionLog`: one partition's log as a list of segments (the last one active). Owns
//! recovery on open, appends (validation, offsets, idempotence, rolling), reads as file ranges,
//! timestamp lookup, DeleteRecords, group-commit durability and retention. Compaction is in
//! `compact.rs`.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::batch::{self, BatchHeader, BatchIter, TimestampType};
use crate::checkpoint::{read_checkpoint, CleanerCheckpoint, CHECKPOINT_TMP_FILE};
use crate::disk::{read_whole, write_atomically, SegmentDisk, SegmentFile};
use crate::producer::{ProducerStates, SequenceCheck};
use crate::records::decode_records;
use crate::segment::{parse_log_name, remove_segment_files, segment_path, Files, Role, Segment, Tail, CLEANED_SUFFIX};
use crate::{AppendError, BatchError, LogConfig, LogError, ReadError};

/// Name of the file holding the log start offset raised by DeleteRecords.
const LOG_START_FILE: &str = "log-start-offset";
const LOG_START_TMP_FILE: &str = "log-start-offset.tmp";

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's clock stamped on the batches, -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// The batch was a producer retry already in the log: nothing was written and the offsets
    /// are those of the original.
    pub duplicate: bool,
}

/// A contiguous byte range of a segment file.
#[derive(Debug, Clone)]
pub struct FileRange {
    /// Kept open by this `Arc`: the range stays readable even if the segment is deleted.
    pub file: Arc<dyn SegmentFile>,
    pub position: u64,
    pub len: u64,
}

/// The answer to a read: whole batches, as file ranges to copy or `sendfile`.
#[derive(Debug, Clone, Default)]
pub struct ReadSlice {
    pub ranges: Vec<FileRange>,
}

impl ReadSlice {
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|range| range.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Copies the ranges into one buffer.
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; usize::try_from(self.len()).map_err(io::Error::other)?];
        let mut at = 0;
        for range in &self.ranges {
            let end = at + range.len as usize;
            range.file.read_at(&mut out[at..end], range.position)?;
            at = end;
        }
        Ok(out)
    }

    fn push(&mut self, file: &Arc<dyn SegmentFile>, position: u64, len: u64) {
        if let Some(last) = self.ranges.last_mut() {
            if Arc::ptr_eq(&last.file, file) && last.position + last.len == position {
                last.len += len;
                return;
            }
        }
        self.ranges.push(FileRange { file: file.clone(), position, len });
    }
}

/// What retention deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub deleted_segments: usize,
    pub deleted_bytes: u64,
    pub log_start_offset: i64,
}

/// Durability shared between the log and its sync jobs.
struct Durability {
    durable_offset: AtomicI64,
    /// Set by the first storage failure; appends are refused from then on.
    failure: Mutex<Option<String>>,
    /// The segment rolled last, when its fsync has not run yet (a roll leaves it to the next
    /// sync job so that no append waits for it). Never more than one: recovery trusts every
    /// segment before the one rolled last.
    unsynced_rolled: Mutex<Option<Arc<dyn SegmentFile>>>,
    /// Held while a job runs, so jobs of one log never overlap: a later job cannot report its
    /// offset durable while an earlier one still syncs the rolled segment below it.
    job_running: Mutex<()>,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("durable_offset", &self.durable_offset.load(Ordering::SeqCst))
            .field("failure", &self.failure())
            .finish_non_exhaustive()
    }
}

impl Durability {
    fn new(durable_offset: i64) -> Self {
        Self {
            durable_offset: AtomicI64::new(durable_offset),
            failure: Mutex::new(None),
            unsynced_rolled: Mutex::new(None),
            job_running: Mutex::new(()),
        }
    }

    fn fail(&self, error: &io::Error) {
        let mut failure = self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failure.get_or_insert_with(|| error.to_string());
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn unsynced_rolled(&self) -> std::sync::MutexGuard<'_, Option<Arc<dyn SegmentFile>>> {
        self.unsynced_rolled.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fsyncs the segment rolled last if it still waits for it, and forgets it once done.
    fn sync_rolled(&self) -> io::Result<()> {
        let Some(file) = self.unsynced_rolled().clone() else { return Ok(()) };
        file.sync()?;
        let mut pending = self.unsynced_rolled();
        // A roll may have replaced it meanwhile (after syncing it itself); keep the newer one.
        if pending.as_ref().is_some_and(|still| Arc::ptr_eq(still, &file)) {
            *pending = None;
        }
        Ok(())
    }
}

/// The fsync that makes everything appended before it was created durable. Run it without
/// holding the partition (appends continue meanwhile); several appends share one job.
#[derive(Debug)]
pub struct SyncJob {
    file: Arc<dyn SegmentFile>,
    /// The partition folder, when files were created in it since the last job.
    dir: Option<(Arc<dyn SegmentDisk>, PathBuf)>,
    target_offset: i64,
    durability: Arc<Durability>,
}

impl SyncJob {
    /// Offsets below this are durable once `run` succeeds.
    pub fn target_offset(&self) -> i64 {
        self.target_offset
    }

    /// Fsyncs, then advances the log's durable offset. A failure marks the log failed (it
    /// refuses appends until reopened) and nothing more is reported durable.
    pub fn run(self) -> io::Result<i64> {
        let _one_at_a_time = self.durability.job_running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The rolled segment holds offsets below the active file's: it goes first.
        let result = self.durability.sync_rolled().and_then(|()| self.file.sync()).and_then(|()| match &self.dir {
            Some((disk, dir)) => disk.sync_dir(dir),
            None => Ok(()),
        });
        match result {
            Ok(()) => {
                self.durability.durable_offset.fetch_max(self.target_offset, Ordering::SeqCst);
                Ok(self.target_offset)
            }
            Err(error) => {
                tracing::error!(%error, "fsync failed: the partition log refuses appends until reopened");
                self.durability.fail(&error);
                Err(error)
            }
        }
    }
}

/// A validated append, before it is written.
struct AppendPlan<'a> {
    /// The batches as received, or, for LogAppendTime, a copy with the fields covered by the
    /// CRC rewritten (base offsets included).
    bytes: Cow<'a, [u8]>,
    batches: Vec<(usize, BatchHeader)>,
    staged_producers: ProducerStates,
}

impl AppendPlan<'_> {
    /// The bytes to write, as pieces: the received batches with each one's first 8 bytes (its
    /// base offset, outside the CRC) replaced by `base_offsets`, so the records are written
    /// from the request's buffer without a copy.
    fn parts<'p>(&'p self, base_offsets: &'p [[u8; 8]]) -> Vec<&'p [u8]> {
        let Cow::Borrowed(bytes) = self.bytes else { return vec![&self.bytes] };
        let mut parts = Vec::with_capacity(2 * self.batches.len() + 1);
        let mut at = 0;
        for ((position, _), offset) in self.batches.iter().zip(base_offsets) {
            parts.push(&bytes[at..*position]);
            parts.push(&offset[..]);
            at = position + BASE_OFFSET_BYTES;
        }
        parts.push(&bytes[at..]);
        parts
    }
}

/// A batch starts with its base offset, an i64.
const BASE_OFFSET_BYTES: usize = 8;

pub struct PartitionLog {
    pub(crate) disk: Arc<dyn SegmentDisk>,
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// Sorted by base offset; never empty; the last one is the active segment.
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    /// Where compaction stopped (every record below `first_dirty_offset` is deduplicated
    /// against the records before it) and the oldest tombstone it kept; read from the
    /// checkpoint file on open.
    pub(crate) cleaner: CleanerCheckpoint,
    /// What the checkpoint file holds (written again only when `cleaner` differs).
    pub(crate) cleaner_persisted: CleanerCheckpoint,
    producers: ProducerStates,
    durability: Arc<Durability>,
    /// Files were created in `dir` since the last sync job.
    dir_dirty: bool,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("log_start_offset", &self.log_start_offset)
            .field("log_end_offset", &self.log_end_offset())
            .finish()
    }
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir` and recovers it: a torn tail of the active
    /// segment is cut off, indexes are rebuilt when stale, producer state is rebuilt from
    /// batch headers, and corruption followed by valid data is refused.
    pub fn open(disk: Arc<dyn SegmentDisk>, dir: &Path, config: LogConfig, now_ms: i64) -> Result<Self, LogError> {
        config.validate()?;
        let io_error = |source| LogError::Io { path: dir.to_owned(), source };
        disk.create_dir_all(dir).map_err(io_error)?;
        let bases = scan_dir(&*disk, dir).map_err(io_error)?;
        let checkpoint = read_log_start(&*disk, dir)?;
        let mut producers = ProducerStates::default();
        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
        for (number, &base) in bases.iter().enumerate() {
            let role = match bases.len() - number {
                1 => Role::Active,
                2 => Role::Rolled,
                _ => Role::Closed,
            };
            let (segment, tail) =
                Segment::open(&*disk, dir, base, role, config.index_interval_bytes, &mut |h| producers.observe(h))?;
            check_continuity(segments.last(), &segment, dir)?;
            segments.push(segment);
            if role == Role::Rolled && tail == Tail::Cut {
                // The rolled segment's fsync never finished, so no offset after its tear was
                // ever reported durable: the log ends at the tear, as Kafka's recovery does.
                let active_base = bases[number + 1];
                tracing::warn!(dir = %dir.display(), active_base, "the segment rolled last had a torn tail: removing the active segment after it");
                remove_segment_files(&*disk, dir, active_base, Files::Live).map_err(io_error)?;
                break;
            }
        }
        if segments.is_empty() {
            let base = checkpoint.unwrap_or(0).max(0);
            segments.push(Segment::create(&*disk, dir, base, config.index_interval_bytes).map_err(io_error)?);
        }
        producers.expire(now_ms, config.producer_id_expiration_ms);
        let log_end = segments.last().map_or(0, |segment| segment.next_offset);
        let first_base = segments.first().map_or(0, |segment| segment.base_offset);
        let log_start_offset = checkpoint.unwrap_or(first_base).clamp(first_base, log_end);
        let cleaner_persisted = read_checkpoint(&*disk, dir);
        let mut log = Self {
            disk,
            dir: dir.to_owned(),
            config,
            segments,
            log_start_offset,
            cleaner: cleaner_persisted,
            cleaner_persisted,
            producers,
            durability: Arc::new(Durability::new(log_end)),
            dir_dirty: true,
        };
        log.drop_segments_below_start().map_err(io_error)?;
        // DeleteRecords or retention may have moved the start past the checkpoint, and a torn
        // tail may have cut the end below it (offsets written again after that are dirty).
        let first_offset = log.segments.first().map_or(0, |segment| segment.base_offset);
        log.cleaner.first_dirty_offset = log.cleaner.first_dirty_offset.clamp(first_offset, log_end);
        Ok(log)
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes the settings; they apply to later appends, rolls and cleanups.
    pub fn set_config(&mut self, config: LogConfig) -> Result<(), LogError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Offsets below this are on disk (fsynced).
    pub fn durable_offset(&self) -> i64 {
        self.durability.durable_offset.load(Ordering::SeqCst)
    }

    /// The storage failure that stopped appends, if any.
    pub fn storage_failure(&self) -> Option<String> {
        self.durability.failure()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.size_bytes).sum()
    }

    /// Where the active segment starts: compaction never touches offsets from here on.
    pub fn active_segment_base_offset(&self) -> i64 {
        self.active().base_offset
    }

    /// Compaction has deduplicated every record below this offset (restored from the cleaner
    /// checkpoint on open).
    pub fn first_dirty_offset(&self) -> i64 {
        self.cleaner.first_dirty_offset
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub(crate) fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Appends the records field of one partition of a Produce request (one or more batches).
    pub fn append(&mut self, records: &[u8], now_ms: i64) -> Result<AppendOutcome, AppendError> {
        if let Some(failure) = self.storage_failure() {
            return Err(AppendError::Io(io::Error::other(format!(
                "the log refuses appends after a storage failure ({failure}); reopen it"
            ))));
        }
        let plan = match self.plan_append(records, now_ms)? {
            Ok(plan) => plan,
            Err(duplicate) => return Ok(duplicate),
        };
        let base_offset = plan.batches.first().map_or(0, |(_, header)| header.base_offset);
        let last_offset = plan.batches.last().map_or(0, |(_, header)| header.last_offset());
        if !self.active().fits(plan.bytes.len() as u64, last_offset, self.config.segment_bytes) {
            self.roll().map_err(|error| self.storage_error(error))?;
        }
        let base_offsets: Vec<[u8; 8]> =
            plan.batches.iter().map(|(_, header)| header.base_offset.to_be_bytes()).collect();
        if let Err(error) = self.active_mut().append(&plan.parts(&base_offsets), &plan.batches) {
            // Cut back whatever part was written, so the file ends at the last whole batch.
            let active = self.active();
            if let Err(cut_error) = active.log.set_len(active.size_bytes) {
                tracing::error!(%cut_error, "could not cut a failed append off the segment");
            }
            return Err(self.storage_error(error));
        }
        self.producers.commit(plan.staged_producers);
        let log_append_time_ms = match self.config.timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => -1,
        };
        Ok(AppendOutcome {
            base_offset,
            last_offset,
            log_append_time_ms,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    fn storage_error(&self, error: io::Error) -> AppendError {
        tracing::error!(%error, dir = %self.dir.display(), "storage failure: the partition log refuses appends until reopened");
        self.durability.fail(&error);
        AppendError::Io(error)
    }

    /// Validates every batch, checks producer sequences and assigns offsets. `Ok(Err(_))` is a
    /// duplicate: the outcome to return without writing.
    fn plan_append<'a>(
        &self,
        records: &'a [u8],
        now_ms: i64,
    ) -> Result<Result<AppendPlan<'a>, AppendOutcome>, AppendError> {
        if records.is_empty() {
            return Err(AppendError::InvalidRecord("no record batch in the request".to_owned()));
        }
        let mut bytes = Cow::Borrowed(records);
        let mut batches = Vec::new();
        let mut staged_producers = ProducerStates::default();
        let mut next_offset = self.log_end_offset();
        for item in BatchIter::new(records) {
            let batch = item.map_err(append_batch_error)?;
            self.validate_batch(batch.header, batch.bytes)?;
            let mut header = batch.header;
            if header.has_producer_id() {
                if let SequenceCheck::Duplicate(original) = self.producers.check(&staged_producers, &header)? {
                    return Ok(Err(self.duplicate_outcome(original.base_offset, original.last_offset)));
                }
            }
            header.base_offset = next_offset;
            if self.config.timestamp_type == TimestampType::LogAppendTime {
                let slot = &mut bytes.to_mut()[batch.position..batch.position + batch.bytes.len()];
                batch::set_base_offset(slot, next_offset);
                batch::set_log_append_time(slot, now_ms);
                header.max_timestamp = now_ms;
                header.attributes |= batch::TIMESTAMP_TYPE_BIT;
            }
            self.producers.stage(&mut staged_producers, &header);
            next_offset = header.last_offset() + 1;
            batches.push((batch.position, header));
        }
        Ok(Ok(AppendPlan { bytes, batches, staged_producers }))
    }

    fn duplicate_outcome(&self, base_offset: i64, last_offset: i64) -> AppendOutcome {
        AppendOutcome {
            base_offset,
            last_offset,
            log_append_time_ms: -1,
            log_start_offset: self.log_start_offset,
            duplicate: true,
        }
    }

    /// The checks Kafka makes of a client's batch beyond its format.
    fn validate_batch(&self, header: BatchHeader, bytes: &[u8]) -> Result<(), AppendError> {
        let invalid = |what: &str| Err(AppendError::InvalidRecord(what.to_owned()));
        if bytes.len() as u64 > self.config.max_message_bytes {
            return Err(AppendError::MessageTooLarge {
                size_bytes: bytes.len() as u64,
                max_bytes: self.config.max_message_bytes,
            });
        }
        if header.record_count <= 0 || i64::from(header.last_offset_delta) != i64::from(header.record_count) - 1 {
            return invalid("record count does not match the batch's last offset delta");
        }
        if header.is_control() {
            return invalid("clients may not produce control batches");
        }
        if header.has_producer_id() && header.base_sequence < 0 {
            return invalid("idempotent batch without a base sequence");
        }
        if self.config.cleanup_policy.compacts() {
            let (_, records) = decode_records(bytes).map_err(append_batch_error)?;
            if records.iter().any(|record| record.key.is_none()) {
                return invalid("compacted topics need a key on every record");
            }
        }
        Ok(())
    }

    /// Closes the active segment and starts a new one at the log end. The closed segment's
    /// fsync is left to the next sync job, which runs without the partition lock: a slow disk
    /// must not hold every append of the partition (Kafka defers it the same way). Only the
    /// segment rolled last may lack its fsync, so a roll that finds the previous one still
    /// waiting syncs that one here (rare: a job runs after every few appended megabytes).
    fn roll(&mut self) -> io::Result<()> {
        self.durability.sync_rolled()?;
        let closed = self.active().log.clone();
        let base = self.log_end_offset();
        let segment = Segment::create(&*self.disk, &self.dir, base, self.config.index_interval_bytes)?;
        self.segments.push(segment);
        *self.durability.unsynced_rolled() = Some(closed);
        self.dir_dirty = true;
        Ok(())
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes` (at least one batch).
    pub fn read(&self, offset: i64, max_bytes: u64) -> Result<ReadSlice, ReadError> {
        self.read_upto(offset, max_bytes, i64::MAX)
    }

    /// Like `read`, but only batches entirely below `upper_offset` (a high watermark or the
    /// durable offset).
    pub fn read_upto(&self, offset: i64, max_bytes: u64, upper_offset: i64) -> Result<ReadSlice, ReadError> {
        self.check_range(offset)?;
        let upper = upper_offset.min(self.log_end_offset());
        let mut slice = ReadSlice::default();
        if offset >= upper {
            return Ok(slice);
        }
        let first = self.segment_index_for(offset);
        for segment in &self.segments[first..] {
            let Some((start, _)) = segment.locate_offset(offset)? else { continue };
            for item in segment.headers_from(start) {
                let (position, header) = item?;
                let size = header.size_bytes() as u64;
                if header.last_offset() >= upper || (!slice.is_empty() && slice.len() + size > max_bytes) {
                    break;
                }
                slice.push(&segment.log, position, size);
            }
            // One segment per read, as Kafka does: the next read continues in the next one.
            break;
        }
        Ok(slice)
    }

    fn check_range(&self, offset: i64) -> Result<(), ReadError> {
        if offset < self.log_start_offset || offset > self.log_end_offset() {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        Ok(())
    }

    /// Index of the last segment whose base offset is at most `offset` (0 if none).
    fn segment_index_for(&self, offset: i64) -> usize {
        self.segments.partition_point(|segment| segment.base_offset <= offset).saturating_sub(1)
    }

    /// The first record at or after the log start whose timestamp is at least `timestamp_ms`:
    /// `(offset, timestamp)`, or `None` when every record is older.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> io::Result<Option<(i64, i64)>> {
        for segment in &self.segments {
            if segment.next_offset <= self.log_start_offset {
                continue;
            }
            let Some((start, _)) = segment.locate_timestamp(timestamp_ms)? else { continue };
            for item in segment.headers_from(start) {
                let (position, header) = item?;
                if header.max_timestamp < timestamp_ms || header.last_offset() < self.log_start_offset {
                    continue;
                }
                if let Some(found) = self.record_at_or_after(segment, position, &header, timestamp_ms)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    fn record_at_or_after(
        &self,
        segment: &Segment,
        position: u64,
        header: &BatchHeader,
        timestamp_ms: i64,
    ) -> io::Result<Option<(i64, i64)>> {
        let bytes = read_batch(&*segment.log, position, header)?;
        let (header, records) = decode_records(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(records
            .iter()
            .map(|record| (record.offset(&header), record.timestamp(&header)))
            .find(|&(offset, timestamp)| timestamp >= timestamp_ms && offset >= self.log_start_offset))
    }

    /// DeleteRecords: raises the log start offset to `offset` (durably) and deletes the
    /// segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, ReadError> {
        if offset > self.log_end_offset() || offset < 0 {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        if offset > self.log_start_offset {
            write_log_start(&*self.disk, &self.dir, offset)?;
            self.log_start_offset = offset;
            self.drop_segments_below_start()?;
        }
        Ok(self.log_start_offset)
    }

    fn drop_segments_below_start(&mut self) -> io::Result<RetentionReport> {
        let start = self.log_start_offset;
        self.delete_oldest_while(|segment, _| segment.next_offset <= start)
    }

    /// Deletes closed segments from the oldest while `condition(segment, size_of_log)` holds.
    fn delete_oldest_while(&mut self, condition: impl Fn(&Segment, u64) -> bool) -> io::Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let mut total_bytes = self.size_bytes();
        while self.segments.len() > 1 && condition(&self.segments[0], total_bytes) {
            let segment = &self.segments[0];
            segment.remove_files(&*self.disk, &self.dir)?;
            report.deleted_segments += 1;
            report.deleted_bytes += segment.size_bytes;
            total_bytes -= segment.size_bytes;
            self.segments.remove(0);
            self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        }
        report.log_start_offset = self.log_start_offset;
        Ok(report)
    }

    /// The fsync needed to make everything appended so far durable, `None` when it already
    /// is (or when the log has failed: nothing more can become durable).
    pub fn sync_job(&mut self) -> Option<SyncJob> {
        let target_offset = self.log_end_offset();
        if self.storage_failure().is_some() || (target_offset <= self.durable_offset() && !self.dir_dirty) {
            return None;
        }
        let dir = std::mem::take(&mut self.dir_dirty).then(|| (self.disk.clone(), self.dir.clone()));
        Some(SyncJob { file: self.active().log.clone(), dir, target_offset, durability: self.durability.clone() })
    }

    /// Deletes closed segments past `retention_ms` (by their newest timestamp) and the oldest
    /// ones while the log exceeds `retention_bytes`. Also forgets expired producers.
    pub fn enforce_retention(&mut self, now_ms: i64) -> io::Result<RetentionReport> {
        self.producers.expire(now_ms, self.config.producer_id_expiration_ms);
        let mut report = RetentionReport { log_start_offset: self.log_start_offset, ..Default::default() };
        if !self.config.cleanup_policy.deletes() {
            return Ok(report);
        }
        if let Some(retention_ms) = self.config.retention_ms {
            let horizon = now_ms.saturating_sub(retention_ms);
            add(&mut report, self.delete_oldest_while(|segment, _| segment.max_timestamp() < horizon)?);
        }
        if let Some(retention_bytes) = self.config.retention_bytes {
            // Kafka's rule: delete a segment only if the log stays at least this large.
            add(
                &mut report,
                self.delete_oldest_while(|segment, total| total.saturating_sub(segment.size_bytes) >= retention_bytes)?,
            );
        }
        Ok(report)
    }

    /// Producer ids with idempotence state (for metrics and tests).
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// The current epoch of a producer, if the log knows it.
    pub fn producer_epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.epoch(producer_id)
    }
}

fn add(total: &mut RetentionReport, part: RetentionReport) {
    total.deleted_segments += part.deleted_segments;
    total.deleted_bytes += part.deleted_bytes;
    total.log_start_offset = part.log_start_offset;
}

fn append_batch_error(error: BatchError) -> AppendError {
    match error {
        BatchError::UnsupportedMagic(magic) => AppendError::UnsupportedMagic(magic),
        other => AppendError::Corrupt(other),
    }
}

/// Reads one whole batch of a segment.
pub(crate) fn read_batch(file: &dyn SegmentFile, position: u64, header: &BatchHeader) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; header.size_bytes()];
    file.read_at(&mut bytes, position)?;
    Ok(bytes)
}

/// Base offsets of the segments in `dir`, sorted; removes leftovers of an interrupted
/// compaction (any `*.cleaned` file) or log start update.
fn scan_dir(disk: &dyn SegmentDisk, dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
    for name in disk.list_dir(dir)? {
        if name.ends_with(CLEANED_SUFFIX) || name == LOG_START_TMP_FILE || name == CHECKPOINT_TMP_FILE {
            tracing::warn!(file = %name, "removing a leftover of an interrupted write");
            disk.remove(&dir.join(&name))?;
        } else if let Some(base) = parse_log_name(&name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn check_continuity(previous: Option<&Segment>, segment: &Segment, dir: &Path) -> Result<(), LogError> {
    match previous {
        Some(previous) if segment.base_offset < previous.next_offset => Err(LogError::Corrupt {
            path: segment_path(dir, segment.base_offset, crate::segment::LOG_SUFFIX),
            position: 0,
            reason: BatchError::OffsetOrder {
                base_offset: segment.base_offset,
                expected_at_least: previous.next_offset,
            },
        }),
        _ => Ok(()),
    }
}

fn read_log_start(disk: &dyn SegmentDisk, dir: &Path) -> Result<Option<i64>, LogError> {
    let path = dir.join(LOG_START_FILE);
    let bytes = read_whole(disk, &path).map_err(|source| LogError::Io { path: path.clone(), source })?;
    let Some(bytes) = bytes else { return Ok(None) };
    let text = String::from_utf8_lossy(&bytes);
    let offset = text.trim().parse::<i64>().map_err(|error| LogError::Io {
        path: path.clone(),
        source: io::Error::new(io::ErrorKind::InvalidData, format!("bad log start offset {text:?}: {error}")),
    })?;
    Ok(Some(offset))
}

/// Writes the log start offset durably: a temporary file, fsynced, renamed over the old one.
fn write_log_start(disk: &dyn SegmentDisk, dir: &Path, offset: i64) -> io::Result<()> {
    write_atomically(disk, dir, LOG_START_FILE, LOG_START_TMP_FILE, format!("{offset}\n").as_bytes())
}
