//! The ordered, offset-numbered log of writes of one database.
//!
//! Every command that changed the database appends one record holding the command as it must
//! be replayed (relative TTLs already turned into absolute deadlines, random choices already
//! made). Durability writes the records to disk; replication ships them. The in-memory backlog
//! is bounded by bytes: a consumer that falls further behind than the backlog must resync.

use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;

/// Records are carved out of shared chunks of this size, so appending does not allocate per
/// record; a chunk is freed once every record in it has left the backlog.
const CHUNK_BYTES: usize = 16 * 1024;

/// One change. The arguments are copied into a single allocation of their own, so a record
/// never keeps a connection's read buffer alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRecord {
    /// Offset of this record; the first record of a database has offset 1.
    pub offset: u64,
    /// The arguments, each as a little-endian u32 length followed by its bytes.
    encoded: Bytes,
}

impl ChangeRecord {
    /// Encodes `args` into `chunk` (refilled when too small) and returns the record.
    fn encode(offset: u64, args: &[Bytes], chunk: &mut BytesMut) -> Self {
        let total: usize = args.iter().map(|a| a.len() + 4).sum();
        if chunk.capacity() - chunk.len() < total {
            *chunk = BytesMut::with_capacity(total.max(CHUNK_BYTES));
        }
        for a in args {
            chunk.put_u32_le(a.len() as u32);
            chunk.put_slice(a);
        }
        ChangeRecord { offset, encoded: chunk.split().freeze() }
    }

    /// The record's bytes as stored on disk and shipped to replicas.
    pub fn encoded(&self) -> &Bytes {
        &self.encoded
    }

    /// The command of this record, as arguments (zero-copy slices of the record).
    pub fn args(&self) -> Vec<Bytes> {
        decode_args(&self.encoded)
    }

    fn size_bytes(&self) -> usize {
        self.encoded.len() + 48
    }
}

/// Arguments of an encoded record (see [`ChangeRecord::encoded`]); a truncated last argument
/// is cut at the end of the data.
pub fn decode_args(data: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= data.len() {
        let len = u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        pos += 4;
        let end = (pos + len).min(data.len());
        out.push(data.slice(pos..end));
        pos = end;
    }
    out
}

/// A replicated record does not follow the log's last offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetGap {
    pub expected: u64,
    pub got: u64,
}

#[derive(Debug)]
pub struct ChangeLog {
    last_offset: u64,
    backlog: VecDeque<ChangeRecord>,
    backlog_bytes: usize,
    max_backlog_bytes: usize,
    /// Records after this offset are kept even past `max_backlog_bytes`: the disk writer has
    /// not taken them yet, and dropping them would leave a hole in the database's log. The
    /// writer's owner holds writes back while the backlog is over its size (`is_over_limit`).
    keep_after: Option<u64>,
    chunk: BytesMut,
}

/// The requested offset is older than what the backlog still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetTrimmed {
    pub oldest_available: u64,
}

impl ChangeLog {
    /// A log whose next record gets offset `last_offset + 1` (after a restart).
    pub fn starting_after(last_offset: u64, max_backlog_bytes: usize) -> Self {
        ChangeLog { last_offset, ..ChangeLog::new(max_backlog_bytes) }
    }

    pub fn new(max_backlog_bytes: usize) -> Self {
        ChangeLog {
            last_offset: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            max_backlog_bytes,
            keep_after: None,
            chunk: BytesMut::new(),
        }
    }

    /// Keeps every record after `offset` until this is called again with a later offset
    /// (the disk writer calls it with what it has taken).
    pub fn keep_records_after(&mut self, offset: u64) {
        self.keep_after = Some(offset);
        self.trim();
    }

    /// Lets the backlog drop old records by size alone again.
    pub fn stop_keeping(&mut self) {
        self.keep_after = None;
        self.trim();
    }

    /// Whether the backlog holds more than its size, because records are kept for the disk
    /// writer.
    pub fn is_over_limit(&self) -> bool {
        self.backlog_bytes > self.max_backlog_bytes
    }

    /// Offset of the newest record (0 when nothing was ever written).
    pub fn last_offset(&self) -> u64 {
        self.last_offset
    }

    pub fn backlog_bytes(&self) -> usize {
        self.backlog_bytes
    }

    pub fn append(&mut self, args: &[Bytes]) -> u64 {
        self.last_offset += 1;
        let record = ChangeRecord::encode(self.last_offset, args, &mut self.chunk);
        self.backlog_bytes += record.size_bytes();
        self.backlog.push_back(record);
        self.trim();
        self.last_offset
    }

    /// Drops the records after `offset` (those a replica's own run of a replicated command
    /// produced, replaced by the primary's record with `append_replicated`).
    pub fn truncate_after(&mut self, offset: u64) {
        while self.backlog.back().is_some_and(|r| r.offset > offset) {
            if let Some(r) = self.backlog.pop_back() {
                self.backlog_bytes -= r.size_bytes();
            }
        }
        self.last_offset = self.last_offset.min(offset);
    }

    /// Appends a record received from the primary, keeping its offset and bytes, so that a
    /// replica's log is the primary's. Refused unless `offset` follows the last one.
    pub fn append_replicated(&mut self, offset: u64, encoded: Bytes) -> Result<(), OffsetGap> {
        if offset != self.last_offset + 1 {
            return Err(OffsetGap { expected: self.last_offset + 1, got: offset });
        }
        self.last_offset = offset;
        let record = ChangeRecord { offset, encoded };
        self.backlog_bytes += record.size_bytes();
        self.backlog.push_back(record);
        self.trim();
        Ok(())
    }

    fn trim(&mut self) {
        // Keep at least the newest record so a consumer that is exactly one behind can read it.
        let keep_after = self.keep_after.unwrap_or(u64::MAX);
        while self.backlog_bytes > self.max_backlog_bytes
            && self.backlog.len() > 1
            && self.backlog.front().is_some_and(|r| r.offset <= keep_after)
        {
            if let Some(old) = self.backlog.pop_front() {
                self.backlog_bytes -= old.size_bytes();
            }
        }
    }

    /// Records with an offset strictly greater than `after`, oldest first.
    pub fn read_after(&self, after: u64) -> Result<impl Iterator<Item = &ChangeRecord>, OffsetTrimmed> {
        let oldest = self.backlog.front().map_or(self.last_offset + 1, |r| r.offset);
        if after + 1 < oldest {
            return Err(OffsetTrimmed { oldest_available: oldest });
        }
        let skip = (after + 1 - oldest) as usize;
        Ok(self.backlog.iter().skip(skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replicated_record_replaces_what_the_replica_logged_and_keeps_the_primary_offset() {
        let mut log = ChangeLog::new(1 << 20);
        log.append(&rec("SET a 1"));
        let mark = log.last_offset();
        log.append(&rec("DEL x"));
        log.append(&rec("SET b 2"));
        log.truncate_after(mark);
        assert_eq!(log.last_offset(), 1);
        let primary = ChangeRecord::encode(2, &rec("SET b 2"), &mut BytesMut::new());
        log.append_replicated(2, primary.encoded().clone()).unwrap();
        assert_eq!(log.append_replicated(4, Bytes::new()), Err(OffsetGap { expected: 3, got: 4 }));
        let got: Vec<_> = log.read_after(0).unwrap().map(|r| (r.offset, r.args())).collect();
        assert_eq!(got, vec![(1, rec("SET a 1")), (2, rec("SET b 2"))]);
    }

    fn rec(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
    }

    #[test]
    fn offsets_are_dense_and_readable() {
        let mut log = ChangeLog::new(1 << 20);
        assert_eq!(log.append(&rec("SET a 1")), 1);
        assert_eq!(log.append(&rec("DEL a")), 2);
        let got: Vec<u64> = log.read_after(0).unwrap().map(|r| r.offset).collect();
        assert_eq!(got, vec![1, 2]);
        let first = log.read_after(0).unwrap().next().unwrap().args();
        assert_eq!(first, rec("SET a 1"));
        assert_eq!(log.read_after(2).unwrap().count(), 0);
    }

    #[test]
    fn backlog_is_bounded_and_reports_trimming() {
        let mut log = ChangeLog::new(300);
        for _ in 0..100 {
            log.append(&rec("SET key value"));
        }
        assert!(log.backlog_bytes() <= 300);
        assert!(log.read_after(0).is_err());
        assert_eq!(log.read_after(99).unwrap().count(), 1);
    }

    #[test]
    fn records_kept_for_the_disk_writer_survive_the_size_limit() {
        let value = Bytes::from(vec![b'x'; 100]);
        let mut log = ChangeLog::new(1000);
        log.keep_records_after(0);
        for _ in 0..50 {
            log.append(&[Bytes::from_static(b"SET"), Bytes::from_static(b"k"), value.clone()]);
        }
        assert!(log.is_over_limit());
        assert_eq!(log.read_after(0).map(|records| records.count()).ok(), Some(50), "nothing dropped");
        // The writer took the first 45 (about 165 bytes each): those may go, the last 5 stay.
        log.keep_records_after(45);
        assert!(!log.is_over_limit());
        assert!(log.read_after(45).is_ok());
        assert!(log.read_after(0).is_err());
        // Without a writer the size alone decides again.
        log.stop_keeping();
        for _ in 0..50 {
            log.append(&[Bytes::from_static(b"SET"), Bytes::from_static(b"k"), value.clone()]);
        }
        assert!(!log.is_over_limit());
    }
}
