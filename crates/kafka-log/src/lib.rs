//! Durable partition logs for Tern's Kafka broker: record batches v2 as the on-disk format
//! (validated, never re-encoded on append), segments with Kafka's sparse indexes, recovery
//! (torn tail vs corruption), idempotent producers, reads as file ranges for zero-copy
//! Fetch, group-commit durability, retention and compaction. No networking and no wire
//! protocol beyond the record batch itself.

pub mod batch;
mod checkpoint;
mod compact;
pub mod compression;
mod config;
pub mod disk;
mod error;
mod index;
mod partition;
mod producer;
pub mod records;
mod segment;
pub mod testing;

pub use batch::{BatchHeader, BatchIter, Compression, TimestampType};
pub use compact::{
    compact_with_short_locks, CompactionReport, CompactionTrigger, LockedLog, DEFAULT_COMPACTION_MAP_ENTRIES,
};
pub use config::{CleanupPolicy, LogConfig, MAX_SEGMENT_BYTES};
pub use disk::{Faults, FaultyDisk, OpenMode, RealDisk, SegmentDisk, SegmentFile};
pub use error::{AppendError, BatchError, LogError, ReadError};
pub use partition::{AppendOutcome, FileRange, PartitionLog, ReadSlice, RetentionReport, SyncJob};
pub use producer::{ProducerBatch, BATCHES_PER_PRODUCER};
