//! Test support, public so the broker's tests can use it too: a builder of record batches v2
//! (keys, values, headers, timestamps, producer fields, any compression), and a disk that
//! pauses the first opening of a chosen kind of file (to act while a compaction runs).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use crate::batch::{BatchFields, Compression, NO_PRODUCER_ID};
use crate::compression::SnappyFraming;
use crate::disk::{OpenMode, RealDisk, SegmentDisk, SegmentFile};
use crate::records::{encode_batch, Record, RecordHeader};

/// Builds one batch with base offset 0 (the log assigns the real one).
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    first_timestamp_ms: i64,
    records: Vec<(Record, i64)>,
    compression: Compression,
    snappy_framing: SnappyFraming,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
}

impl BatchBuilder {
    /// A batch whose records default to `first_timestamp_ms`.
    pub fn new(first_timestamp_ms: i64) -> Self {
        Self {
            first_timestamp_ms,
            records: Vec::new(),
            compression: Compression::None,
            snappy_framing: SnappyFraming::Raw,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    /// Adds a record stamped with the batch's first timestamp.
    pub fn record(self, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        let timestamp_ms = self.first_timestamp_ms;
        self.record_at(key, value, timestamp_ms)
    }

    pub fn record_at(mut self, key: Option<&[u8]>, value: Option<&[u8]>, timestamp_ms: i64) -> Self {
        let record = Record {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            offset_delta: self.records.len() as i32,
            ..Record::default()
        };
        self.records.push((record, timestamp_ms));
        self
    }

    /// Adds a header to the last record added.
    pub fn header(mut self, key: &[u8], value: Option<&[u8]>) -> Self {
        if let Some((record, _)) = self.records.last_mut() {
            record.headers.push(RecordHeader { key: key.to_vec(), value: value.map(<[u8]>::to_vec) });
        }
        self
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    pub fn snappy_framing(mut self, framing: SnappyFraming) -> Self {
        self.snappy_framing = framing;
        self
    }

    /// Makes the batch idempotent: producer id, epoch and the first record's sequence.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn build(self) -> Vec<u8> {
        let max_timestamp = self.records.iter().map(|(_, ts)| *ts).max().unwrap_or(self.first_timestamp_ms);
        let records: Vec<Record> = self
            .records
            .into_iter()
            .map(|(record, ts)| Record { timestamp_delta: ts - self.first_timestamp_ms, ..record })
            .collect();
        let fields = BatchFields {
            base_offset: 0,
            partition_leader_epoch: 0,
            attributes_without_compression: 0,
            last_offset_delta: records.len() as i32 - 1,
            first_timestamp: self.first_timestamp_ms,
            max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
        };
        match encode_batch(&fields, &records, self.compression, self.snappy_framing) {
            Ok(batch) => batch,
            // Compressing into memory only fails on a codec bug; a test should see it loudly.
            Err(error) => panic!("test batch could not be compressed: {error}"),
        }
    }
}

/// A batch of `count` records with values `value-0`, `value-1`… and no keys.
pub fn values_batch(count: usize, timestamp_ms: i64) -> Vec<u8> {
    (0..count)
        .fold(BatchBuilder::new(timestamp_ms), |b, i| b.record(None, Some(format!("value-{i}").as_bytes())))
        .build()
}

/// A batch of one record per `(key, value)`; `None` values are tombstones.
pub fn keyed_batch(entries: &[(&str, Option<&str>)], timestamp_ms: i64) -> Vec<u8> {
    entries
        .iter()
        .fold(BatchBuilder::new(timestamp_ms), |b, (key, value)| {
            b.record(Some(key.as_bytes()), value.map(str::as_bytes))
        })
        .build()
}

/// The real disk, except that the first `open` of a path ending in `suffix` tells `entered`
/// and waits for `release` (tests use it to hold a compaction in its unlocked phase).
#[derive(Debug)]
pub struct GateDisk {
    suffix: String,
    armed: AtomicBool,
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

impl GateDisk {
    /// The disk, the signal that the gate was reached, and the sender that opens it.
    pub fn new(suffix: &str) -> (Arc<Self>, Receiver<()>, Sender<()>) {
        let (entered_tx, entered_rx) = channel();
        let (release_tx, release_rx) = channel();
        let disk = GateDisk {
            suffix: suffix.to_owned(),
            armed: AtomicBool::new(true),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        };
        (Arc::new(disk), entered_rx, release_tx)
    }

    fn pass(&self, path: &Path) {
        if path.to_string_lossy().ends_with(&self.suffix) && self.armed.swap(false, Ordering::SeqCst) {
            // A test that dropped its end of a channel has failed already; just go on.
            let _ = self.entered.lock().unwrap_or_else(PoisonError::into_inner).send(());
            let _ = self.release.lock().unwrap_or_else(PoisonError::into_inner).recv();
        }
    }
}

impl SegmentDisk for GateDisk {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn SegmentFile>> {
        self.pass(path);
        RealDisk.open(path, mode)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        RealDisk.remove(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealDisk.rename(from, to)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        RealDisk.list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealDisk.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealDisk.sync_dir(dir)
    }
}
