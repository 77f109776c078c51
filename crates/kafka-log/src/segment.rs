//! One segment of a partition log: `<20-digit base offset>.log` holding whole batches, its
//! sparse `.index` and `.timeindex`, the walk that recovers it on open (torn tail vs
//! corruption), and lookups by offset and timestamp.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::{BatchHeader, HEADER_BYTES, MAGIC_V2};
use crate::disk::{OpenMode, SegmentDisk, SegmentFile};
use crate::index::{OffsetEntry, SparseIndex, TimeEntry};
use crate::{BatchError, LogError};

pub(crate) const LOG_SUFFIX: &str = ".log";
const INDEX_SUFFIX: &str = ".index";
const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Added to each of a segment's three file names while a compacted copy is written; a
/// leftover one is deleted on open.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";

/// Which set of names a segment's files have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Files {
    /// The segment's own names, the ones recovery reads.
    Live,
    /// A compacted copy in the making (`<base>.log.cleaned`, ...).
    Cleaned,
}

/// Path of one of a segment's files.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}{suffix}"))
}

fn file_path(dir: &Path, base_offset: i64, suffix: &str, files: Files) -> PathBuf {
    match files {
        Files::Live => segment_path(dir, base_offset, suffix),
        Files::Cleaned => dir.join(format!("{base_offset:020}{suffix}{CLEANED_SUFFIX}")),
    }
}

/// The base offset named by a `.log` file name.
pub(crate) fn parse_log_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(LOG_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// How much a segment is trusted when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Older than the last roll, so its fsync finished before any later data was reported
    /// durable: headers are checked, any damage is corruption.
    Closed,
    /// Rolled last, just before the active segment. Its fsync runs after the roll, off the
    /// partition lock, so a machine that stopped meanwhile may have left it with a torn tail:
    /// it is checked like the active segment.
    Rolled,
    /// Written last: every batch's CRC is checked and a damaged tail is cut off.
    Active,
}

impl Role {
    /// Whether this segment may end with a torn write (checked batch by batch, tail cut).
    fn may_be_torn(self) -> bool {
        matches!(self, Role::Rolled | Role::Active)
    }
}

/// What recovery did to a segment's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// The file ends with its last whole batch.
    Whole,
    /// A torn write was cut off the end.
    Cut,
}

/// Decides where sparse index entries go, for appends and for rebuilding on open alike.
#[derive(Debug, Clone)]
struct IndexTracker {
    interval_bytes: u64,
    bytes_since_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    last_time_entry: i64,
    /// Newest timestamp of the first batch (what Kafka's `max.compaction.lag.ms` looks at).
    first_batch_max_timestamp: Option<i64>,
}

impl IndexTracker {
    fn new(interval_bytes: u64) -> Self {
        Self {
            interval_bytes,
            bytes_since_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            last_time_entry: i64::MIN,
            first_batch_max_timestamp: None,
        }
    }

    /// Accounts for one batch at `position`; returns the index entries to add (Kafka's rule:
    /// an entry once more than `interval_bytes` were written since the last one).
    fn observe(&mut self, header: &BatchHeader, position: u64, base_offset: i64) -> Entries {
        self.first_batch_max_timestamp.get_or_insert(header.max_timestamp);
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        let mut entries = Entries { offset: None, time: None };
        if self.bytes_since_entry > self.interval_bytes {
            entries.offset = Some(OffsetEntry {
                relative_offset: relative(header.last_offset(), base_offset),
                position: position as u32,
            });
            if self.max_timestamp > self.last_time_entry {
                self.last_time_entry = self.max_timestamp;
                entries.time = Some(TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset: relative(self.offset_of_max_timestamp, base_offset),
                });
            }
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += header.size_bytes() as u64;
        entries
    }
}

struct Entries {
    offset: Option<OffsetEntry>,
    time: Option<TimeEntry>,
}

fn relative(offset: i64, base_offset: i64) -> u32 {
    (offset - base_offset) as u32
}

/// A damaged batch found by a walk.
#[derive(Debug)]
pub(crate) struct Damage {
    pub position: u64,
    pub reason: BatchError,
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub log: Arc<dyn SegmentFile>,
    /// Bytes of whole batches; anything past it in the file is not part of the log.
    pub size_bytes: u64,
    /// One past the last offset in the segment (`base_offset` when empty).
    pub next_offset: i64,
    tracker: IndexTracker,
    offset_index: SparseIndex<OffsetEntry>,
    time_index: SparseIndex<TimeEntry>,
}

impl Segment {
    pub fn create(disk: &dyn SegmentDisk, dir: &Path, base_offset: i64, index_interval_bytes: u64) -> io::Result<Self> {
        Self::create_files(disk, dir, base_offset, index_interval_bytes, Files::Live)
    }

    /// Creates an empty segment under the names of `files`.
    pub fn create_files(
        disk: &dyn SegmentDisk,
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        files: Files,
    ) -> io::Result<Self> {
        Ok(Self {
            base_offset,
            log: disk.open(&file_path(dir, base_offset, LOG_SUFFIX, files), OpenMode::Truncate)?,
            size_bytes: 0,
            next_offset: base_offset,
            tracker: IndexTracker::new(index_interval_bytes),
            offset_index: SparseIndex::create(disk, &file_path(dir, base_offset, INDEX_SUFFIX, files))?,
            time_index: SparseIndex::create(disk, &file_path(dir, base_offset, TIME_INDEX_SUFFIX, files))?,
        })
    }

    /// Renames a compacted copy's files (created with `Files::Cleaned`) over the live ones:
    /// the indexes first, the log last. A crash after any of these renames leaves a valid
    /// segment: either log is whole and fsynced, and an index that does not match its log is
    /// rebuilt on open. Open handles (readers of the old log) keep the old file.
    pub fn promote_cleaned(&self, disk: &dyn SegmentDisk, dir: &Path) -> io::Result<()> {
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
            let live = file_path(dir, self.base_offset, suffix, Files::Live);
            disk.rename(&file_path(dir, self.base_offset, suffix, Files::Cleaned), &live)?;
        }
        Ok(())
    }

    /// Opens and recovers a segment, calling `visit` for every batch header kept (in order).
    pub fn open(
        disk: &dyn SegmentDisk,
        dir: &Path,
        base_offset: i64,
        role: Role,
        index_interval_bytes: u64,
        visit: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(Self, Tail), LogError> {
        let path = segment_path(dir, base_offset, LOG_SUFFIX);
        let io_error = |source| LogError::Io { path: path.clone(), source };
        let log = disk.open(&path, OpenMode::Existing).map_err(io_error)?;
        let file_len = log.size_bytes().map_err(io_error)?;
        let mut walk = Walk::new(base_offset, index_interval_bytes);
        let damage = walk.run(&*log, file_len, role, visit).map_err(io_error)?;
        let tail = match damage {
            Some(damage) => {
                settle_damage(&*log, &path, file_len, walk.size_bytes, walk.next_offset, role, damage)?;
                Tail::Cut
            }
            None => Tail::Whole,
        };
        let index_path = segment_path(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_path(dir, base_offset, TIME_INDEX_SUFFIX);
        let (offset_index, rebuilt_offsets) = SparseIndex::open_expecting(disk, &index_path, &walk.offset_entries)
            .map_err(|source| LogError::Io { path: index_path.clone(), source })?;
        let (time_index, rebuilt_times) = SparseIndex::open_expecting(disk, &time_path, &walk.time_entries)
            .map_err(|source| LogError::Io { path: time_path.clone(), source })?;
        if rebuilt_offsets || rebuilt_times {
            tracing::info!(path = %path.display(), "rebuilt the segment's index files from its batches");
        }
        let segment = Self {
            base_offset,
            log,
            size_bytes: walk.size_bytes,
            next_offset: walk.next_offset,
            tracker: walk.tracker,
            offset_index,
            time_index,
        };
        Ok((segment, tail))
    }

    /// Newest batch timestamp in the segment, -1 when empty.
    pub fn max_timestamp(&self) -> i64 {
        self.tracker.max_timestamp
    }

    /// Newest timestamp of the first batch, -1 when empty.
    pub fn first_batch_timestamp(&self) -> i64 {
        self.tracker.first_batch_max_timestamp.unwrap_or(-1)
    }

    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    /// Writes whole, offset-assigned batches at the end: `parts` laid end to end are the
    /// batches, `batches` gives each one's position inside them. On error nothing is accounted
    /// (the caller cuts the file back).
    pub fn append(&mut self, parts: &[&[u8]], batches: &[(usize, BatchHeader)]) -> io::Result<()> {
        self.log.write_parts_at(parts, self.size_bytes)?;
        let len: usize = parts.iter().map(|part| part.len()).sum();
        for (position, header) in batches {
            let position = self.size_bytes + *position as u64;
            let entries = self.tracker.observe(header, position, self.base_offset);
            if let Some(entry) = entries.offset {
                self.offset_index.push(entry);
            }
            if let Some(entry) = entries.time {
                self.time_index.push(entry);
            }
            self.next_offset = header.last_offset() + 1;
        }
        self.size_bytes += len as u64;
        Ok(())
    }

    /// Whether `extra_bytes` more, up to offset `last_offset`, still fit this segment.
    pub fn fits(&self, extra_bytes: u64, last_offset: i64, segment_bytes: u64) -> bool {
        let offsets_fit = last_offset - self.base_offset <= i64::from(u32::MAX);
        self.is_empty() || (self.size_bytes + extra_bytes <= segment_bytes && offsets_fit)
    }

    /// Batch headers from `position` to the end of the segment.
    pub fn headers_from(&self, position: u64) -> HeaderScan<'_> {
        HeaderScan::new(&*self.log, position, self.size_bytes)
    }

    /// The first batch whose last offset is at least `offset`.
    pub fn locate_offset(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let relative_target = (offset - self.base_offset).max(0);
        let start = self.offset_index.floor(relative_target)?.map_or(0, |entry| u64::from(entry.position));
        self.first_batch_from(start, |header| header.last_offset() >= offset)
    }

    /// The first batch whose max timestamp is at least `timestamp`.
    pub fn locate_timestamp(&self, timestamp: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if self.max_timestamp() < timestamp {
            return Ok(None);
        }
        // Every batch up to an entry with a smaller timestamp is too old: start from there.
        let start = match self.time_index.floor(timestamp.saturating_sub(1))? {
            Some(entry) => {
                let offset = i64::from(entry.relative_offset);
                self.offset_index.floor(offset)?.map_or(0, |entry| u64::from(entry.position))
            }
            None => 0,
        };
        self.first_batch_from(start, |header| header.max_timestamp >= timestamp)
    }

    fn first_batch_from(
        &self,
        position: u64,
        wanted: impl Fn(&BatchHeader) -> bool,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        for item in self.headers_from(position) {
            let (position, header) = item?;
            if wanted(&header) {
                return Ok(Some((position, header)));
            }
        }
        Ok(None)
    }

    /// Unlinks the segment's files. Readers holding the log file keep reading it.
    pub fn remove_files(&self, disk: &dyn SegmentDisk, dir: &Path) -> io::Result<()> {
        remove_segment_files(disk, dir, self.base_offset, Files::Live)
    }
}

/// Unlinks the three files of segment `base_offset` named as `files` (absent ones are fine).
pub(crate) fn remove_segment_files(
    disk: &dyn SegmentDisk,
    dir: &Path,
    base_offset: i64,
    files: Files,
) -> io::Result<()> {
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        disk.remove(&file_path(dir, base_offset, suffix, files))?;
    }
    Ok(())
}

/// Iterator over `(position, header)` of the batches of a segment file, up to `end`.
pub(crate) struct HeaderScan<'a> {
    file: &'a dyn SegmentFile,
    position: u64,
    end: u64,
}

impl<'a> HeaderScan<'a> {
    /// Batch headers of `file` from `position` to `end` (a segment's `size_bytes`): closed
    /// segments are immutable, so a scan needs only the file, not the segment.
    pub fn new(file: &'a dyn SegmentFile, position: u64, end: u64) -> Self {
        Self { file, position, end }
    }
}

impl Iterator for HeaderScan<'_> {
    type Item = io::Result<(u64, BatchHeader)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.end {
            return None;
        }
        let position = self.position;
        let result = read_header(self.file, position)
            .and_then(|parsed| parsed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)));
        match &result {
            Ok(header) => self.position += header.size_bytes() as u64,
            Err(_) => self.position = self.end,
        }
        Some(result.map(|header| (position, header)))
    }
}

/// Reads and parses the header at `position`; the outer error is I/O, the inner a bad batch.
fn read_header(file: &dyn SegmentFile, position: u64) -> io::Result<Result<BatchHeader, BatchError>> {
    let mut bytes = [0u8; HEADER_BYTES];
    file.read_at(&mut bytes, position)?;
    Ok(BatchHeader::parse(&bytes))
}

/// State of a recovery walk through one segment file.
struct Walk {
    base_offset: i64,
    size_bytes: u64,
    next_offset: i64,
    tracker: IndexTracker,
    offset_entries: Vec<OffsetEntry>,
    time_entries: Vec<TimeEntry>,
}

impl Walk {
    fn new(base_offset: i64, index_interval_bytes: u64) -> Self {
        Self {
            base_offset,
            size_bytes: 0,
            next_offset: base_offset,
            tracker: IndexTracker::new(index_interval_bytes),
            offset_entries: Vec::new(),
            time_entries: Vec::new(),
        }
    }

    /// Walks batches until the end of the file or the first damaged one.
    fn run(
        &mut self,
        file: &dyn SegmentFile,
        file_len: u64,
        role: Role,
        visit: &mut dyn FnMut(&BatchHeader),
    ) -> io::Result<Option<Damage>> {
        let mut buffer = Vec::new();
        while self.size_bytes < file_len {
            let position = self.size_bytes;
            let header = match check_batch(file, position, file_len, role, self.next_offset, &mut buffer)? {
                Ok(header) => header,
                Err(reason) => return Ok(Some(Damage { position, reason })),
            };
            let entries = self.tracker.observe(&header, position, self.base_offset);
            self.offset_entries.extend(entries.offset);
            self.time_entries.extend(entries.time);
            visit(&header);
            self.next_offset = header.last_offset() + 1;
            self.size_bytes += header.size_bytes() as u64;
        }
        Ok(None)
    }
}

/// Checks the batch at `position`: complete, v2, offsets moving forward, and (for the active
/// segment and the one rolled last) its CRC, using `buffer` for the batch bytes.
fn check_batch(
    file: &dyn SegmentFile,
    position: u64,
    file_len: u64,
    role: Role,
    next_offset: i64,
    buffer: &mut Vec<u8>,
) -> io::Result<Result<BatchHeader, BatchError>> {
    let available = file_len - position;
    if available < HEADER_BYTES as u64 {
        return Ok(Err(BatchError::Truncated { needed: HEADER_BYTES, available: available as usize }));
    }
    let header = match read_header(file, position)? {
        Ok(header) => header,
        Err(reason) => return Ok(Err(reason)),
    };
    if header.size_bytes() as u64 > available {
        return Ok(Err(BatchError::Truncated { needed: header.size_bytes(), available: available as usize }));
    }
    if header.base_offset < next_offset || header.last_offset_delta < 0 {
        return Ok(Err(BatchError::OffsetOrder { base_offset: header.base_offset, expected_at_least: next_offset }));
    }
    if role.may_be_torn() {
        buffer.resize(header.size_bytes(), 0);
        file.read_at(buffer, position)?;
        if let Err(reason) = crate::batch::validate(buffer) {
            return Ok(Err(reason));
        }
    }
    Ok(Ok(header))
}

/// A damaged batch in a segment that may be torn (the active one, the one rolled last) with
/// nothing valid after it is a torn write: cut it off. Anything else is corruption and the
/// log is refused.
fn settle_damage(
    file: &dyn SegmentFile,
    path: &Path,
    file_len: u64,
    good_len: u64,
    next_offset: i64,
    role: Role,
    damage: Damage,
) -> Result<(), LogError> {
    let io_error = |source| LogError::Io { path: path.to_owned(), source };
    let corrupt =
        |damage: Damage| LogError::Corrupt { path: path.to_owned(), position: damage.position, reason: damage.reason };
    if !role.may_be_torn() {
        return Err(corrupt(damage));
    }
    if valid_batch_after(file, damage.position, file_len, next_offset).map_err(io_error)? {
        return Err(corrupt(damage));
    }
    tracing::warn!(
        path = %path.display(),
        position = damage.position,
        cut_bytes = file_len - good_len,
        reason = %damage.reason,
        ?role,
        "torn tail in a segment written last: truncating to the last good batch"
    );
    file.set_len(good_len).map_err(io_error)?;
    file.sync().map_err(io_error)
}

/// Whether a complete, CRC-valid batch with offsets past `next_offset` starts anywhere after
/// `damaged_at`. Only runs when damage was found, and reads at most the rest of one segment.
fn valid_batch_after(file: &dyn SegmentFile, damaged_at: u64, file_len: u64, next_offset: i64) -> io::Result<bool> {
    let start = damaged_at + 1;
    let mut rest = vec![0u8; (file_len.saturating_sub(start)) as usize];
    file.read_at(&mut rest, start)?;
    let candidates = rest.len().saturating_sub(HEADER_BYTES - 1);
    Ok((0..candidates).any(|at| looks_like_batch(&rest[at..], next_offset)))
}

fn looks_like_batch(bytes: &[u8], next_offset: i64) -> bool {
    if bytes[16] as i8 != MAGIC_V2 {
        return false;
    }
    let Ok(header) = BatchHeader::parse(bytes) else { return false };
    header.base_offset >= next_offset
        && header.size_bytes() <= bytes.len()
        && crate::batch::validate(&bytes[..header.size_bytes()]).is_ok()
}
