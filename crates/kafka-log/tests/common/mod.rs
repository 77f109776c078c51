//! Helpers shared by the integration tests: opening logs in temporary folders and reading
//! back what they hold.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use kafka_log::records::decode_records;
use kafka_log::{BatchHeader, BatchIter, CleanupPolicy, LogConfig, PartitionLog, RealDisk, SegmentDisk};

pub const NOW_MS: i64 = 1_700_000_000_000;

pub fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(Arc::new(RealDisk), dir, config, NOW_MS).unwrap()
}

pub fn open_with(disk: Arc<dyn SegmentDisk>, dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(disk, dir, config, NOW_MS).unwrap()
}

pub fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 1024, index_interval_bytes: 128, ..LogConfig::default() }
}

/// Small segments, `cleanup.policy=compact`, tombstones kept for a second.
pub fn compacted() -> LogConfig {
    LogConfig { cleanup_policy: CleanupPolicy::Compact, delete_retention_ms: 1000, ..small_segments() }
}

/// Headers of the batches returned by a read at `offset`.
pub fn read_headers(log: &PartitionLog, offset: i64, max_bytes: u64) -> Vec<BatchHeader> {
    let bytes = log.read(offset, max_bytes).unwrap().to_vec().unwrap();
    BatchIter::new(&bytes).map(|batch| batch.unwrap().header).collect()
}

/// `(offset, key, value)` of one record.
pub type KeyedRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every `(offset, key, value)` of the log, read from the start with small reads.
pub fn all_records(log: &PartitionLog) -> Vec<KeyedRecord> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1).unwrap().to_vec().unwrap();
        assert!(!bytes.is_empty(), "empty read at {offset} below the log end");
        for batch in BatchIter::new(&bytes) {
            let (header, records) = decode_records(batch.unwrap().bytes).unwrap();
            for record in records {
                let record_offset = record.offset(&header);
                if record_offset >= offset {
                    out.push((record_offset, record.key, record.value));
                }
            }
            offset = header.last_offset() + 1;
        }
    }
    out
}

/// Paths of the folder's `.log` files, oldest segment first.
pub fn segment_paths(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    logs.sort();
    logs
}

/// Path of the single `.log` file with the highest base offset.
pub fn active_segment_path(dir: &Path) -> std::path::PathBuf {
    segment_paths(dir).pop().unwrap()
}
