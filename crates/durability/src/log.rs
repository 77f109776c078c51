//! Change-log file format and recovery.
//!
//! A log is a sequence of records, each `[u32 payload length][u32 CRC-32 of offset and
//! payload][u64 offset][payload]`, little-endian. Offsets increase by one per record.
//! Recovery reads records until the end; a record that is incomplete or fails its checksum
//! *at the very end* is a torn write (the process died mid-append) and is cut off; a bad
//! record followed by more data is corruption, and the database is refused rather than
//! served with a hole in its history. Zeros after the last record are space the writer
//! filled ahead (`LogFile::zero_fill_ahead`), not data: they end the log, and a bad record
//! followed only by zeros is a torn tail. (No record is all zeros: its checksum covers the
//! offset, and the CRC-32 of eight zero bytes is not zero.)

use crate::disk::{Disk, LogFile};
use std::io;
use std::path::Path;

pub const RECORD_HEADER_BYTES: usize = 16;
/// Largest payload a record may claim; a larger length can only be garbage.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 1 << 30;

pub(crate) fn checksum(offset: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&offset.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends framed records to `out`.
pub fn frame(out: &mut Vec<u8>, offset: u64, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(offset, payload).to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(payload);
}

#[derive(Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Good records, in order: (offset, payload).
    pub records: Vec<(u64, Vec<u8>)>,
    /// Length of the good prefix of the file (the file is cut to this).
    pub good_len: u64,
    /// Bytes of torn tail that were dropped (0 when the file ended cleanly).
    pub torn_tail_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("reading the change log: {0}")]
    Io(#[from] io::Error),
    #[error("change log corrupt at byte {position} (record {after_offset}+1 fails its checksum and more data follows): refusing to serve this database")]
    Corrupt { position: u64, after_offset: u64 },
    #[error("change log out of order at byte {position}: offset {found} after {previous}")]
    OutOfOrder { position: u64, previous: u64, found: u64 },
    #[error("change log has a gap: {segment} starts at offset {found}, {expected} was expected: refusing to serve this database")]
    Gap { segment: String, expected: u64, found: u64 },
}

/// Reads and checks a whole log.
pub fn recover(disk: &dyn Disk, path: &Path) -> Result<Recovery, RecoveryError> {
    let data = disk.read(path)?;
    let mut pos = 0usize;
    let mut records = Vec::new();
    let mut previous = 0u64;
    while pos < data.len() {
        let rest = &data[pos..];
        let header_ok = rest.len() >= RECORD_HEADER_BYTES;
        let (len, crc, offset) = if header_ok {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let mut o = [0u8; 8];
            o.copy_from_slice(&rest[8..16]);
            (len, crc, u64::from_le_bytes(o))
        } else {
            (0, 0, 0)
        };
        let complete = header_ok && len <= MAX_PAYLOAD_BYTES && rest.len() >= RECORD_HEADER_BYTES + len;
        let valid = complete && checksum(offset, &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len]) == crc;
        if !valid {
            if only_zeros(rest) {
                return Ok(Recovery { records, good_len: pos as u64, torn_tail_bytes: 0 });
            }
            let record_end = if complete { pos + RECORD_HEADER_BYTES + len } else { data.len() };
            if record_end >= data.len() || only_zeros(&data[record_end..]) {
                let torn_tail_bytes = data[pos..].iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
                return Ok(Recovery { records, good_len: pos as u64, torn_tail_bytes: torn_tail_bytes as u64 });
            }
            return Err(RecoveryError::Corrupt { position: pos as u64, after_offset: previous });
        }
        if previous != 0 && offset != previous + 1 {
            return Err(RecoveryError::OutOfOrder { position: pos as u64, previous, found: offset });
        }
        previous = offset;
        records.push((offset, rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len].to_vec()));
        pos += RECORD_HEADER_BYTES + len;
    }
    Ok(Recovery { records, good_len: data.len() as u64, torn_tail_bytes: 0 })
}

fn only_zeros(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Appends records to one database's log.
pub struct LogWriter {
    disk: std::sync::Arc<dyn Disk>,
    path: std::path::PathBuf,
    /// `None` after a failed append: the file may end in a partial write, so it is reopened
    /// (cut back to `bytes`) before the next attempt.
    file: Option<Box<dyn LogFile>>,
    buffer: Vec<u8>,
    pub last_written_offset: u64,
    pub last_synced_offset: u64,
    pub bytes: u64,
    /// Bytes of the current file known to be on disk (fsynced).
    synced_bytes: u64,
    /// After each fsynced flush, keep at least half this many zeroed bytes ahead of the end
    /// (`LogFile::zero_fill_ahead`): worth it where every write waits for its fsync; 0 (the
    /// default) writes none.
    pub zero_fill_ahead_bytes: u64,
}

impl LogWriter {
    /// Opens the log after recovery: cut to `recovery.good_len`, continuing after `last_offset`.
    pub fn open(disk: std::sync::Arc<dyn Disk>, path: &Path, good_len: u64, last_offset: u64) -> io::Result<Self> {
        let file = disk.open_append(path, good_len)?;
        Ok(LogWriter {
            disk,
            path: path.to_path_buf(),
            file: Some(file),
            buffer: Vec::new(),
            last_written_offset: last_offset,
            last_synced_offset: last_offset,
            bytes: good_len,
            synced_bytes: good_len,
            zero_fill_ahead_bytes: 0,
        })
    }

    /// Queues a record (written by the next `flush`).
    pub fn push(&mut self, offset: u64, payload: &[u8]) {
        frame(&mut self.buffer, offset, payload);
        self.last_written_offset = offset;
    }

    /// Continues in a new segment file at `path`: everything so far is written and fsynced
    /// first, so that only the newest segment can ever end in a torn write.
    pub fn rotate(&mut self, path: &Path) -> io::Result<()> {
        self.flush(false)?;
        if let Some(file) = self.file.as_mut() {
            file.trim()?;
            file.sync()?;
        }
        self.last_synced_offset = self.last_written_offset;
        let file = self.disk.open_append(path, 0)?;
        if let Some(dir) = path.parent() {
            self.disk.sync_dir(dir)?;
        }
        self.file = Some(file);
        self.path = path.to_path_buf();
        self.bytes = 0;
        self.synced_bytes = 0;
        Ok(())
    }

    pub fn has_pending(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Bytes written or queued since the last fsync.
    pub fn unsynced_bytes(&self) -> u64 {
        (self.bytes + self.buffer.len() as u64).saturating_sub(self.synced_bytes)
    }

    /// Writes queued records; with `sync`, also makes them durable. On error the queued
    /// records stay queued (nothing is acknowledged), and the caller retries later.
    pub fn flush(&mut self, sync: bool) -> io::Result<()> {
        let mut file = match self.file.take() {
            Some(f) => f,
            None => self.disk.open_append(&self.path, self.bytes)?,
        };
        if !self.buffer.is_empty() {
            // On error `file` is dropped here: it is reopened and cut back next time.
            file.append(&self.buffer)?;
            self.bytes += self.buffer.len() as u64;
            self.buffer.clear();
        }
        if sync && self.last_synced_offset < self.last_written_offset {
            // After a failed fsync the page cache state is unknown (fsyncgate): keep the
            // file, but nothing counts as durable until an fsync succeeds.
            let result = file.sync();
            self.file = Some(file);
            result?;
            self.last_synced_offset = self.last_written_offset;
            self.synced_bytes = self.bytes;
            self.fill_ahead();
            return Ok(());
        }
        self.file = Some(file);
        Ok(())
    }

    /// Zeros ahead of the end once the previous ones are half used. Only the next fsync pays
    /// for writing them, and they are only an optimisation, so a failure is logged and
    /// otherwise ignored (the appends that follow extend the file as before).
    fn fill_ahead(&mut self) {
        if self.zero_fill_ahead_bytes == 0 {
            return;
        }
        if let Some(file) = self.file.as_mut() {
            if let Err(error) = file.zero_fill_ahead(self.zero_fill_ahead_bytes) {
                tracing::warn!(path = %self.path.display(), %error, "cannot write zeros ahead of the change log");
                // Whatever part was written is zeros past the end: recovery reads them as such.
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::RealDisk;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tern-durability-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("changes.log")
    }

    fn write(path: &Path, records: &[(u64, &[u8])]) {
        let mut w = LogWriter::open(std::sync::Arc::new(RealDisk), path, 0, 0).unwrap();
        for (o, p) in records {
            w.push(*o, p);
        }
        w.flush(true).unwrap();
    }

    #[test]
    fn unsynced_bytes_count_what_is_written_or_queued_since_the_last_fsync() {
        let path = temp_path("unsynced");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w = LogWriter::open(std::sync::Arc::new(RealDisk), &path, 0, 0).unwrap();
        w.push(1, &[7; 100]);
        let framed = w.unsynced_bytes();
        assert!(framed > 100, "queued, with its frame: {framed}");
        w.flush(false).unwrap();
        assert_eq!(w.unsynced_bytes(), framed, "written, not fsynced");
        w.push(2, &[7; 100]);
        assert_eq!(w.unsynced_bytes(), 2 * framed);
        w.flush(true).unwrap();
        assert_eq!(w.unsynced_bytes(), 0);
        w.push(3, &[7; 100]);
        w.rotate(&path.with_file_name("changes.3.log")).unwrap();
        assert_eq!(w.unsynced_bytes(), 0, "a rotation fsyncs the closed segment");
        w.push(4, &[7; 100]);
        assert_eq!(w.unsynced_bytes(), framed);
    }

    #[test]
    fn round_trip() {
        let path = temp_path("rt");
        write(&path, &[(1, b"one"), (2, b""), (3, b"three")]);
        let r = recover(&RealDisk, &path).unwrap();
        assert_eq!(r.records, vec![(1, b"one".to_vec()), (2, vec![]), (3, b"three".to_vec())]);
        assert_eq!(r.torn_tail_bytes, 0);
    }

    #[test]
    fn torn_tail_is_cut_at_every_length() {
        let path = temp_path("torn");
        write(&path, &[(1, b"first"), (2, b"second record")]);
        let full = std::fs::read(&path).unwrap();
        let first_len = RECORD_HEADER_BYTES + 5;
        for cut in first_len..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let r = recover(&RealDisk, &path).unwrap();
            assert_eq!(r.records.len(), 1, "cut at {cut}");
            assert_eq!(r.good_len as usize, first_len);
            // Reopening cuts the tail and appends after it.
            let mut w = LogWriter::open(std::sync::Arc::new(RealDisk), &path, r.good_len, 1).unwrap();
            w.push(2, b"again");
            w.flush(true).unwrap();
            let r = recover(&RealDisk, &path).unwrap();
            assert_eq!(r.records, vec![(1, b"first".to_vec()), (2, b"again".to_vec())]);
            std::fs::write(&path, &full).unwrap();
        }
    }

    #[test]
    fn flipped_bit_in_the_middle_is_refused_and_at_the_end_is_torn() {
        let path = temp_path("flip");
        write(&path, &[(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")]);
        let full = std::fs::read(&path).unwrap();
        let mut bad = full.clone();
        bad[RECORD_HEADER_BYTES + 1] ^= 0x10; // inside record 1's payload
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(recover(&RealDisk, &path), Err(RecoveryError::Corrupt { .. })));
        let mut bad = full.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01; // inside the last record
        std::fs::write(&path, &bad).unwrap();
        let r = recover(&RealDisk, &path).unwrap();
        assert_eq!(r.records.len(), 2);
        assert!(r.torn_tail_bytes > 0);
    }

    #[test]
    fn injected_faults_keep_records_queued() {
        use crate::disk::{Faults, FaultyDisk};
        use std::sync::atomic::Ordering;
        let path = temp_path("faults");
        let faults = std::sync::Arc::new(Faults::default());
        let disk = std::sync::Arc::new(FaultyDisk { faults: faults.clone() });
        let mut w = LogWriter::open(disk, &path, 0, 0).unwrap();
        faults.fail_sync.store(true, Ordering::SeqCst);
        w.push(1, b"x");
        assert!(w.flush(true).is_err());
        assert_eq!(w.last_synced_offset, 0);
        faults.fail_sync.store(false, Ordering::SeqCst);
        w.flush(true).unwrap();
        assert_eq!(w.last_synced_offset, 1);
        faults.space_left_bytes.store(faults.written_bytes.load(Ordering::SeqCst) + 10, Ordering::SeqCst);
        w.push(2, b"does not fit in ten bytes");
        let err = w.flush(true).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        assert!(w.has_pending());
        // Space comes back: the record is written once, and the log reads back cleanly.
        faults.space_left_bytes.store(0, Ordering::SeqCst);
        w.flush(true).unwrap();
        let r = recover(&RealDisk, &path).unwrap();
        assert_eq!(r.records.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec![1, 2]);
    }

    fn zero_filling_writer(path: &Path, records: &[(u64, &[u8])]) -> LogWriter {
        let mut w = LogWriter::open(std::sync::Arc::new(RealDisk), path, 0, 0).unwrap();
        w.zero_fill_ahead_bytes = 4096;
        for (o, p) in records {
            w.push(*o, p);
        }
        w.flush(true).unwrap();
        w
    }

    #[test]
    fn an_all_zero_header_is_never_a_record() {
        assert_ne!(checksum(0, &[]), 0);
    }

    #[test]
    fn zeros_written_ahead_end_the_log() {
        let path = temp_path("zeros");
        let mut w = zero_filling_writer(&path, &[(1, b"one"), (2, b""), (3, b"three")]);
        let logical = w.bytes;
        assert_eq!(std::fs::metadata(&path).unwrap().len(), logical + 4096, "zeros ahead of the end");
        let r = recover(&RealDisk, &path).unwrap();
        assert_eq!(r.records.len(), 3);
        assert_eq!((r.good_len, r.torn_tail_bytes), (logical, 0));
        // Appends overwrite the zeros; the file grows again only once half of them are used.
        w.push(4, &[7u8; 100]);
        w.flush(true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), logical + 4096);
        w.push(5, &[8u8; 3000]);
        w.flush(true).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), w.bytes + 4096, "refilled");
        let r = recover(&RealDisk, &path).unwrap();
        assert_eq!(r.records.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert_eq!(r.good_len, w.bytes);
        drop(w);
        // Reopening cuts the zeros and continues after the last record.
        let mut w = LogWriter::open(std::sync::Arc::new(RealDisk), &path, r.good_len, 5).unwrap();
        w.push(6, b"six");
        w.flush(true).unwrap();
        assert_eq!(recover(&RealDisk, &path).unwrap().records.len(), 6);
    }

    #[test]
    fn a_bad_record_before_the_zeros_is_torn_and_zeros_before_data_are_corruption() {
        let path = temp_path("zeros-torn");
        let w = zero_filling_writer(&path, &[(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")]);
        let logical = w.bytes as usize;
        drop(w);
        let full = std::fs::read(&path).unwrap();
        let record = RECORD_HEADER_BYTES + 4;
        // The last record half written, zeros after it.
        for cut in logical - record + 1..logical {
            let mut torn = full.clone();
            torn[cut..logical].fill(0);
            std::fs::write(&path, &torn).unwrap();
            let r = recover(&RealDisk, &path).unwrap();
            assert_eq!(r.records.len(), 2, "zeroed from {cut}");
            assert_eq!(r.good_len as usize, logical - record);
            assert!(r.torn_tail_bytes > 0);
        }
        // A flipped bit in the last record, zeros after it: torn.
        let mut flipped = full.clone();
        flipped[logical - 1] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(recover(&RealDisk, &path).unwrap().records.len(), 2);
        // A record zeroed out with a good one after it: a hole, refused.
        let mut hole = full.clone();
        hole[record..2 * record].fill(0);
        std::fs::write(&path, &hole).unwrap();
        assert!(matches!(recover(&RealDisk, &path), Err(RecoveryError::Corrupt { .. })));
        // Data after the zeros: refused as well.
        let mut late = full.clone();
        let at = late.len() - 10;
        late[at] = 1;
        std::fs::write(&path, &late).unwrap();
        assert!(matches!(recover(&RealDisk, &path), Err(RecoveryError::Corrupt { .. })));
    }

    #[test]
    fn rotation_cuts_the_zeros_off_the_closed_segment() {
        let dir = temp_path("zeros-rotate");
        let mut w = zero_filling_writer(&dir, &[(1, b"one")]);
        let closed_len = w.bytes;
        w.rotate(&dir.with_file_name("next.log")).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().len(), closed_len);
    }
}
