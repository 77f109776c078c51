//! Snapshot files: a header naming the change-log offset the snapshot stands for, then
//! opaque entry records framed exactly like log records (length, CRC-32, sequence number),
//! then an empty end record. A snapshot is written to a temporary name, fsynced, renamed
//! and its folder fsynced, so a visible `snapshot.<offset>.tern` is complete; any damage
//! found when reading it (bad checksum, missing end record, data after it) is corruption.

use crate::disk::{Disk, LogFile};
use crate::log::{checksum, frame, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"TERNSNP1";
/// Magic, offset, creation time, number of keys expected, CRC-32 of the four.
const HEADER_BYTES: usize = 36;
/// Records are written to the file in chunks of about this size.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("reading snapshot: {0}")]
    Io(#[from] io::Error),
    #[error("snapshot {path} corrupt at byte {position} ({reason}): refusing to serve this database")]
    Corrupt { path: String, position: u64, reason: &'static str },
}

/// File name of the snapshot at change-log offset `offset`.
pub fn snapshot_name(offset: u64) -> String {
    format!("snapshot.{offset}.tern")
}

fn temp_name(offset: u64) -> String {
    format!("{}.tmp", snapshot_name(offset))
}

/// Writes one snapshot file.
pub struct SnapshotWriter {
    disk: Arc<dyn Disk>,
    file: Box<dyn LogFile>,
    buffer: Vec<u8>,
    seq: u64,
    dir: PathBuf,
    offset: u64,
    /// Bytes written so far (the file size once finished).
    pub bytes: u64,
    pub records: u64,
}

impl SnapshotWriter {
    /// Starts `snapshot.<offset>.tmp` in `dir` (replacing any leftover of a crashed attempt).
    /// `keys_hint` (about how many records will follow) lets the loader size its tables once.
    pub fn create(
        disk: Arc<dyn Disk>,
        dir: &Path,
        offset: u64,
        created_unix_ms: u64,
        keys_hint: u64,
    ) -> io::Result<Self> {
        let file = disk.open_append(&dir.join(temp_name(offset)), 0)?;
        let mut buffer = Vec::with_capacity(WRITE_CHUNK_BYTES + 4096);
        buffer.extend_from_slice(MAGIC);
        buffer.extend_from_slice(&offset.to_le_bytes());
        buffer.extend_from_slice(&created_unix_ms.to_le_bytes());
        buffer.extend_from_slice(&keys_hint.to_le_bytes());
        let crc = checksum(0, &buffer);
        buffer.extend_from_slice(&crc.to_le_bytes());
        Ok(SnapshotWriter { disk, file, buffer, seq: 0, dir: dir.to_path_buf(), offset, bytes: 0, records: 0 })
    }

    /// Adds one record; payloads must not be empty (the empty record ends the file).
    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty snapshot record"));
        }
        self.seq += 1;
        self.records += 1;
        frame(&mut self.buffer, self.seq, payload);
        if self.buffer.len() >= WRITE_CHUNK_BYTES {
            self.write_buffer()?;
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        self.file.append(&self.buffer)?;
        self.bytes += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Ends the file and makes it durable under its final name; returns that path.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.seq += 1;
        frame(&mut self.buffer, self.seq, b"");
        self.write_buffer()?;
        self.file.sync()?;
        let path = self.dir.join(snapshot_name(self.offset));
        self.disk.rename(&self.dir.join(temp_name(self.offset)), &path)?;
        self.disk.sync_dir(&self.dir)?;
        Ok(path)
    }
}

/// Reads one snapshot file record by record.
pub struct SnapshotReader {
    input: BufReader<Box<dyn Read + Send>>,
    path: String,
    position: u64,
    seq: u64,
    /// Change-log offset the snapshot stands for.
    pub offset: u64,
    pub created_unix_ms: u64,
    /// How many records the writer expected (a hint for sizing, not checked).
    pub keys_hint: u64,
}

/// Fills `buf` completely; `Ok(false)` when the input ended first.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl SnapshotReader {
    pub fn open(disk: &dyn Disk, path: &Path) -> Result<Self, SnapshotError> {
        let mut input = BufReader::with_capacity(1 << 20, disk.open_read(path)?);
        let mut header = [0u8; HEADER_BYTES];
        let mut reader = SnapshotReader {
            input: BufReader::new(Box::new(io::empty())),
            path: path.display().to_string(),
            position: 0,
            seq: 0,
            offset: 0,
            created_unix_ms: 0,
            keys_hint: 0,
        };
        if !read_full(&mut input, &mut header)? {
            return Err(reader.corrupt("file shorter than its header"));
        }
        if &header[..8] != MAGIC || checksum(0, &header[..32]) != le_u32(&header[32..]) {
            return Err(reader.corrupt("bad header"));
        }
        reader.input = input;
        reader.offset = le_u64(&header[8..]);
        reader.created_unix_ms = le_u64(&header[16..]);
        reader.keys_hint = le_u64(&header[24..]);
        reader.position = HEADER_BYTES as u64;
        Ok(reader)
    }

    fn corrupt(&self, reason: &'static str) -> SnapshotError {
        SnapshotError::Corrupt { path: self.path.clone(), position: self.position, reason }
    }

    /// Reads the next record into `payload`; `Ok(false)` after the end record (having checked
    /// that nothing follows it).
    pub fn next_record(&mut self, payload: &mut Vec<u8>) -> Result<bool, SnapshotError> {
        let mut head = [0u8; RECORD_HEADER_BYTES];
        if !read_full(&mut self.input, &mut head)? {
            return Err(self.corrupt("ends without its end record"));
        }
        let len = le_u32(&head) as usize;
        if len > MAX_PAYLOAD_BYTES {
            return Err(self.corrupt("record length out of range"));
        }
        payload.resize(len, 0);
        if !read_full(&mut self.input, payload)? {
            return Err(self.corrupt("ends inside a record"));
        }
        let seq = le_u64(&head[8..]);
        if checksum(seq, payload) != le_u32(&head[4..]) {
            return Err(self.corrupt("record fails its checksum"));
        }
        if seq != self.seq + 1 {
            return Err(self.corrupt("record out of sequence"));
        }
        self.seq = seq;
        self.position += (RECORD_HEADER_BYTES + len) as u64;
        if len > 0 {
            return Ok(true);
        }
        let mut extra = [0u8; 1];
        if read_full(&mut self.input, &mut extra)? {
            return Err(self.corrupt("data after the end record"));
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::RealDisk;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tern-snapshot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, records: &[&[u8]]) -> PathBuf {
        let mut w = SnapshotWriter::create(Arc::new(RealDisk), dir, 42, 1234, 2).unwrap();
        for r in records {
            w.append(r).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(path: &Path) -> Result<Vec<Vec<u8>>, SnapshotError> {
        let mut r = SnapshotReader::open(&RealDisk, path)?;
        assert_eq!((r.offset, r.created_unix_ms), (42, 1234));
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while r.next_record(&mut buf)? {
            out.push(buf.clone());
        }
        Ok(out)
    }

    #[test]
    fn round_trip_and_temp_name_is_gone() {
        let dir = temp_dir("rt");
        let path = write(&dir, &[b"one", b"two", &[9u8; 3_000_000]]);
        assert_eq!(path.file_name().unwrap(), "snapshot.42.tern");
        assert!(!dir.join("snapshot.42.tern.tmp").exists());
        let got = read_all(&path).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].len(), 3_000_000);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let dir = temp_dir("damage");
        let path = write(&dir, &[b"alpha", b"beta"]);
        let full = std::fs::read(&path).unwrap();
        for cut in 0..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            assert!(read_all_quiet(&path).is_err(), "cut at {cut} accepted");
        }
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0x04;
            std::fs::write(&path, &bad).unwrap();
            assert!(read_all_quiet(&path).is_err(), "flip at {i} accepted");
        }
        let mut longer = full.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert!(read_all_quiet(&path).is_err());
    }

    fn read_all_quiet(path: &Path) -> Result<usize, SnapshotError> {
        let mut r = SnapshotReader::open(&RealDisk, path)?;
        let mut buf = Vec::new();
        let mut n = 0;
        while r.next_record(&mut buf)? {
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn empty_payloads_are_refused() {
        let dir = temp_dir("empty");
        let mut w = SnapshotWriter::create(Arc::new(RealDisk), &dir, 1, 0, 0).unwrap();
        assert!(w.append(b"").is_err());
    }
}
