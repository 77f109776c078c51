//! Partitions served by this node: each wraps a `kafka_log::PartitionLog` and tells waiting
//! requests when records arrive (Fetch long polls) or reach the disk (acks=all). `Storage` owns
//! the disk seam and the storage thread that fsyncs with group commit, flushes every second,
//! and applies retention and compaction.

use crate::topic_config::TopicConfig;
use kafka_log::{CleanupPolicy, LockedLog, LogConfig, PartitionLog, ReadSlice, SegmentDisk, TimestampType};
use parking_lot::{Condvar, Mutex};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often data appended with acks=0/1 is fsynced at the latest.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Data appended with acks=0/1 is also fsynced once this much waits: a second's worth at
/// hundreds of MB/s written back at once stalls the appends that land meanwhile (tens of
/// milliseconds of produce latency), where small regular fsyncs do not.
pub const EARLY_SYNC_BYTES: u64 = 1024 * 1024;
/// How often retention and compaction run over every partition.
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(30);

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The disk seam and the storage thread shared by every partition of a broker.
pub struct Storage {
    pub disk: Arc<dyn SegmentDisk>,
    /// Partitions with appends waiting for an fsync (acks=all).
    sync_queue: Mutex<Vec<Arc<Partition>>>,
    wake: Condvar,
    partitions: Mutex<Vec<Weak<Partition>>>,
    /// How often retention and compaction run (`CLEANUP_INTERVAL` unless the broker's limits
    /// say otherwise; tests shorten it). Checked once per flush interval.
    cleanup_interval_ms: AtomicU64,
    /// Capacity of a compaction round's offset map (`BrokerLimits::compaction_map_entries`).
    compaction_map_entries: AtomicUsize,
}

impl Storage {
    pub fn new(disk: Arc<dyn SegmentDisk>) -> Arc<Storage> {
        Arc::new(Storage {
            disk,
            sync_queue: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            partitions: Mutex::new(Vec::new()),
            cleanup_interval_ms: AtomicU64::new(CLEANUP_INTERVAL.as_millis() as u64),
            compaction_map_entries: AtomicUsize::new(kafka_log::DEFAULT_COMPACTION_MAP_ENTRIES),
        })
    }

    pub fn set_cleanup_interval(&self, interval: Duration) {
        self.cleanup_interval_ms.store(interval.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn set_compaction_map_entries(&self, entries: usize) {
        self.compaction_map_entries.store(entries, Ordering::Relaxed);
    }

    fn cleanup_interval(&self) -> Duration {
        Duration::from_millis(self.cleanup_interval_ms.load(Ordering::Relaxed))
    }

    /// Storage on the real file system.
    pub fn on_real_disk() -> Arc<Storage> {
        Storage::new(Arc::new(kafka_log::RealDisk))
    }

    /// Starts the storage thread (once per broker).
    pub fn spawn(self: &Arc<Self>) -> std::io::Result<()> {
        let storage = self.clone();
        std::thread::Builder::new().name("kafka-storage".into()).spawn(move || storage.run())?;
        Ok(())
    }

    fn request_sync(&self, partition: Arc<Partition>) {
        if !partition.sync_queued.swap(true, Ordering::AcqRel) {
            self.sync_queue.lock().push(partition);
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        let mut last_flush = Instant::now();
        let mut last_cleanup = Instant::now();
        loop {
            let queued = {
                let mut queue = self.sync_queue.lock();
                if queue.is_empty() {
                    self.wake.wait_for(&mut queue, FLUSH_INTERVAL);
                }
                std::mem::take(&mut *queue)
            };
            // One fsync per partition covers every append queued so far (group commit).
            for partition in queued {
                partition.sync_queued.store(false, Ordering::Release);
                partition.sync();
            }
            if last_flush.elapsed() >= FLUSH_INTERVAL {
                last_flush = Instant::now();
                for partition in self.live_partitions() {
                    partition.sync();
                }
            }
            if last_cleanup.elapsed() >= self.cleanup_interval() {
                last_cleanup = Instant::now();
                let map_entries = self.compaction_map_entries.load(Ordering::Relaxed);
                for partition in self.live_partitions() {
                    partition.clean_up(now_ms(), map_entries);
                }
            }
        }
    }

    fn live_partitions(&self) -> Vec<Arc<Partition>> {
        let mut list = self.partitions.lock();
        list.retain(|p| p.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Storage settings of a partition from its topic's settings.
pub fn log_config(topic: &TopicConfig) -> LogConfig {
    let optional = |v: i64| (v >= 0).then_some(v);
    let policy = topic.get("cleanup.policy");
    let (compact, delete) = (policy.contains("compact"), policy.contains("delete"));
    LogConfig {
        segment_bytes: topic.int("segment.bytes").max(14) as u64,
        index_interval_bytes: topic.int("index.interval.bytes").max(1) as u64,
        retention_ms: optional(topic.int("retention.ms")),
        retention_bytes: optional(topic.int("retention.bytes")).map(|v| v as u64),
        cleanup_policy: match (compact, delete) {
            (true, true) => CleanupPolicy::CompactDelete,
            (true, false) => CleanupPolicy::Compact,
            _ => CleanupPolicy::Delete,
        },
        delete_retention_ms: topic.int("delete.retention.ms").max(0),
        min_cleanable_dirty_ratio: topic.double("min.cleanable.dirty.ratio").clamp(0.0, 1.0),
        min_compaction_lag_ms: topic.int("min.compaction.lag.ms").max(0),
        max_compaction_lag_ms: topic.int("max.compaction.lag.ms").max(1),
        max_message_bytes: topic.int("max.message.bytes").max(1) as u64,
        timestamp_type: if topic.get("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        ..LogConfig::default()
    }
}

/// Why a partition cannot serve a request.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(transparent)]
    Append(#[from] kafka_log::AppendError),
    #[error(transparent)]
    Read(#[from] kafka_log::ReadError),
    #[error("the partition was deleted")]
    Closed,
    #[error("storage error: {0}")]
    Storage(String),
}

pub struct Partition {
    pub index: i32,
    pub dir: PathBuf,
    /// `None` once the topic was deleted.
    log: Mutex<Option<PartitionLog>>,
    /// Offsets below this are on disk; acks=all producers wait on it.
    durable: tokio::sync::watch::Sender<i64>,
    sync_queued: AtomicBool,
    /// Bytes appended since the last fsync started (see `EARLY_SYNC_BYTES`).
    unsynced_bytes: AtomicU64,
    storage: Weak<Storage>,
    /// The cluster's signal that records arrived somewhere (Fetch long polls wait on it).
    arrivals: Arc<tokio::sync::Notify>,
}

impl Partition {
    pub fn open(
        storage: &Arc<Storage>,
        index: i32,
        dir: &Path,
        config: &TopicConfig,
        arrivals: Arc<tokio::sync::Notify>,
    ) -> anyhow::Result<Arc<Partition>> {
        let log = PartitionLog::open(storage.disk.clone(), dir, log_config(config), now_ms())?;
        let partition = Arc::new(Partition {
            index,
            dir: dir.to_path_buf(),
            durable: tokio::sync::watch::Sender::new(log.durable_offset()),
            log: Mutex::new(Some(log)),
            sync_queued: AtomicBool::new(false),
            unsynced_bytes: AtomicU64::new(0),
            storage: Arc::downgrade(storage),
            arrivals,
        });
        storage.partitions.lock().push(Arc::downgrade(&partition));
        Ok(partition)
    }

    /// Stops serving (topic deleted): later requests get an error.
    pub fn close(&self) {
        *self.log.lock() = None;
        self.durable.send_modify(|_| {});
    }

    pub fn apply_config(&self, config: &TopicConfig) {
        if let Some(log) = self.log.lock().as_mut() {
            if let Err(e) = log.set_config(log_config(config)) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "topic settings not applied to a partition");
            }
        }
    }

    fn with_log<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> Result<T, PartitionError> {
        self.with_log_locked(f).ok_or(PartitionError::Closed)
    }

    /// Appends the records of one Produce partition.
    pub fn append(self: &Arc<Self>, records: &[u8]) -> Result<kafka_log::AppendOutcome, PartitionError> {
        let outcome = self.with_log(|log| log.append(records, now_ms()))??;
        if !outcome.duplicate {
            self.arrivals.notify_waiters();
            let len = records.len() as u64;
            if self.unsynced_bytes.fetch_add(len, Ordering::Relaxed) + len >= EARLY_SYNC_BYTES {
                if let Some(storage) = self.storage.upgrade() {
                    storage.request_sync(self.clone());
                }
            }
        }
        Ok(outcome)
    }

    /// Waits until every offset below `end_offset` is on disk, asking the storage thread for
    /// an fsync (shared with other appends).
    pub async fn wait_durable(self: &Arc<Self>, end_offset: i64) -> Result<(), PartitionError> {
        let mut durable = self.durable.subscribe();
        if *durable.borrow_and_update() >= end_offset {
            return Ok(());
        }
        if let Some(storage) = self.storage.upgrade() {
            storage.request_sync(self.clone());
        }
        loop {
            if *durable.borrow_and_update() >= end_offset {
                return Ok(());
            }
            if let Some(failure) = self.with_log(|log| log.storage_failure())? {
                return Err(PartitionError::Storage(failure));
            }
            if durable.changed().await.is_err() {
                return Err(PartitionError::Closed);
            }
        }
    }

    fn sync(&self) {
        self.unsynced_bytes.store(0, Ordering::Relaxed);
        let job = match self.log.lock().as_mut() {
            Some(log) => log.sync_job(),
            None => return,
        };
        // The fsync runs without the partition lock, so appends continue meanwhile.
        if let Some(job) = job {
            match job.run() {
                Ok(offset) => {
                    self.durable.send_if_modified(|d| {
                        let advanced = offset > *d;
                        *d = (*d).max(offset);
                        advanced
                    });
                }
                Err(e) => {
                    tracing::error!(dir = %self.dir.display(), error = %e, "partition fsync failed");
                    // Wakes acks=all producers so they see the failure.
                    self.durable.send_modify(|_| {});
                }
            }
        }
    }

    /// Retention (under the lock: it only unlinks files), then one compaction round that
    /// takes the lock only to start and to swap each cleaned segment in, so appends and reads
    /// of the partition do not wait for it.
    fn clean_up(&self, now_ms: i64, map_entries: usize) {
        let dir = self.dir.display();
        match self.with_log(|log| log.enforce_retention(now_ms)) {
            Ok(Ok(retention)) if retention.deleted_segments > 0 => {
                tracing::info!(%dir, segments = retention.deleted_segments, bytes = retention.deleted_bytes, "retention deleted old segments");
            }
            Ok(Err(e)) => tracing::warn!(%dir, error = %e, "retention failed"),
            Ok(Ok(_)) | Err(_) => {}
        }
        match kafka_log::compact_with_short_locks(self, now_ms, map_entries) {
            Ok(c) if c.segments_rewritten > 0 => {
                tracing::info!(%dir, trigger = ?c.trigger, removed = c.records_removed, before = c.bytes_before, after = c.bytes_after, map_entries = c.map_entries, map_full_at = ?c.map_full_at, "compacted");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%dir, error = %e, "compaction failed"),
        }
    }

    /// Reads whole batches from the one containing `offset`, at most `max_bytes` (at least one
    /// batch), as file ranges: the bytes are read (or sent) after the lock is released.
    pub fn read(&self, offset: i64, max_bytes: u64) -> Result<(ReadSlice, Offsets), PartitionError> {
        Ok(self.with_log(|log| log.read(offset, max_bytes).map(|s| (s, offsets_of(log))))??)
    }

    pub fn offsets(&self) -> Result<Offsets, PartitionError> {
        self.with_log(|log| offsets_of(log))
    }

    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, PartitionError> {
        self.with_log(|log| log.offset_for_timestamp(timestamp_ms))?.map_err(|e| PartitionError::Storage(e.to_string()))
    }

    pub fn delete_records_before(&self, offset: i64) -> Result<i64, PartitionError> {
        Ok(self.with_log(|log| log.delete_records_before(offset))??)
    }

    pub fn size_bytes(&self) -> u64 {
        self.with_log(|log| log.size_bytes()).unwrap_or(0)
    }
}

/// Compaction takes the partition lock only for its short steps.
impl LockedLog for Partition {
    fn with_log_locked<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> Option<T> {
        self.log.lock().as_mut().map(f)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Offsets {
    pub log_start: i64,
    /// The next offset to be written; with one copy per region it is also the high watermark.
    pub log_end: i64,
}

fn offsets_of(log: &PartitionLog) -> Offsets {
    Offsets { log_start: log.log_start_offset(), log_end: log.log_end_offset() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_log::records::decode_records;
    use kafka_log::testing::{keyed_batch, GateDisk};
    use kafka_log::BatchIter;

    /// The values of every record of the partition, in offset order.
    fn values(partition: &Partition) -> Vec<String> {
        let mut out = Vec::new();
        let mut offset = partition.offsets().unwrap().log_start;
        while offset < partition.offsets().unwrap().log_end {
            let bytes = partition.read(offset, 1 << 20).unwrap().0.to_vec().unwrap();
            for batch in BatchIter::new(&bytes) {
                let (header, records) = decode_records(batch.unwrap().bytes).unwrap();
                out.extend(records.into_iter().filter_map(|r| r.value).map(|v| String::from_utf8(v).unwrap()));
                offset = header.last_offset() + 1;
            }
        }
        out
    }

    #[test]
    fn appends_and_reads_proceed_while_the_partition_is_compacted() {
        let dir = std::env::temp_dir().join(format!("tern-partition-compaction-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (disk, entered, release) = GateDisk::new(".log.cleaned");
        let storage = Storage::new(disk);
        let mut config = TopicConfig::default();
        config.0.insert("cleanup.policy".into(), "compact".into());
        config.0.insert("segment.bytes".into(), "1024".into());
        let partition = Partition::open(&storage, 0, &dir, &config, Arc::new(tokio::sync::Notify::new())).unwrap();
        for round in 0..40 {
            partition.append(&keyed_batch(&[("k", Some(&format!("v{round}")))], now_ms())).unwrap();
        }
        let size_before = partition.size_bytes();
        let cleaner = {
            let partition = partition.clone();
            std::thread::spawn(move || partition.clean_up(now_ms(), kafka_log::DEFAULT_COMPACTION_MAP_ENTRIES))
        };
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        // The round is writing its cleaned copy: the partition lock is free meanwhile.
        assert!(partition.log.try_lock().is_some(), "compaction holds the partition lock while it writes");
        let during = partition.append(&keyed_batch(&[("k", Some("during"))], now_ms())).unwrap();
        assert!(!partition.read(during.base_offset, 1 << 20).unwrap().0.is_empty());
        release.send(()).unwrap();
        cleaner.join().unwrap();
        assert!(partition.size_bytes() < size_before, "the round compacted the closed segments");
        let values = values(&partition);
        assert!(!values.contains(&"v0".to_string()), "{values:?}");
        assert_eq!(values.last().map(String::as_str), Some("during"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn compacted_topic() -> TopicConfig {
        let mut config = TopicConfig::default();
        config.0.insert("cleanup.policy".into(), "compact".into());
        config.0.insert("segment.bytes".into(), "1024".into());
        config
    }

    #[test]
    fn cleanup_reads_nothing_of_an_idle_partition_and_its_position_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("tern-partition-cleaner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let disk = kafka_log::FaultyDisk::new();
        let storage = Storage::new(Arc::new(disk.clone()));
        let arrivals = Arc::new(tokio::sync::Notify::new());
        let partition = Partition::open(&storage, 0, &dir, &compacted_topic(), arrivals.clone()).unwrap();
        for round in 0..40 {
            partition.append(&keyed_batch(&[("k", Some(&format!("v{round}")))], now_ms())).unwrap();
        }
        let first_dirty = |p: &Partition| p.with_log(|log| log.first_dirty_offset()).unwrap();
        partition.clean_up(now_ms(), kafka_log::DEFAULT_COMPACTION_MAP_ENTRIES);
        let cleaned_upto = first_dirty(&partition);
        assert!(cleaned_upto > 0, "the first round compacted");
        let reads = disk.faults.reads.load(Ordering::SeqCst);
        for _ in 0..3 {
            partition.clean_up(now_ms(), kafka_log::DEFAULT_COMPACTION_MAP_ENTRIES);
        }
        assert_eq!(disk.faults.reads.load(Ordering::SeqCst), reads, "idle cleanups read no segment");
        partition.close();
        drop(partition);
        let reopened = Partition::open(&storage, 0, &dir, &compacted_topic(), arrivals).unwrap();
        assert_eq!(first_dirty(&reopened), cleaned_upto, "restored from the cleaner checkpoint");
        // Opening reads every batch header; the cleanup after it reads nothing more.
        let reads = disk.faults.reads.load(Ordering::SeqCst);
        reopened.clean_up(now_ms(), kafka_log::DEFAULT_COMPACTION_MAP_ENTRIES);
        assert_eq!(disk.faults.reads.load(Ordering::SeqCst), reads, "nor after a restart");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
