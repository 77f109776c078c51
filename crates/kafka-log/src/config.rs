//! Per-partition log settings (Kafka's topic configs that concern storage), with Kafka's
//! defaults.

use crate::batch::TimestampType;
use crate::LogError;

/// `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Segments are deleted by age and size.
    #[default]
    Delete,
    /// Only the newest record per key is kept; no deletion by age or size.
    Compact,
    /// Both.
    CompactDelete,
}

impl CleanupPolicy {
    pub fn compacts(self) -> bool {
        matches!(self, Self::Compact | Self::CompactDelete)
    }

    pub fn deletes(self) -> bool {
        matches!(self, Self::Delete | Self::CompactDelete)
    }
}

/// Largest segment a 32-bit index position can address (Kafka's limit too).
pub const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: a new segment starts once the active one would grow past this.
    pub segment_bytes: u64,
    /// `index.interval.bytes`: bytes of batches between two sparse index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`; `None` keeps data forever.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`; `None` is unlimited.
    pub retention_bytes: Option<u64>,
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: a compaction round starts only once the dirty bytes are
    /// at least this share of the cleanable closed segments (0 to 1).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: batches newer than this are neither mapped nor cleaned yet.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: dirty records older than this start a round whatever the
    /// ratio.
    pub max_compaction_lag_ms: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: u64,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `producer.id.expiration.ms`: idempotence state of a producer silent this long is dropped.
    pub producer_id_expiration_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 128 << 20,
            index_interval_bytes: 4096,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            producer_id_expiration_ms: 24 * 3600 * 1000,
        }
    }
}

impl LogConfig {
    pub fn validate(&self) -> Result<(), LogError> {
        let fail = |what: &str| Err(LogError::InvalidConfig(what.to_owned()));
        if self.segment_bytes < 14 || self.segment_bytes > MAX_SEGMENT_BYTES {
            return fail("segment_bytes must be between 14 and 2^31-1");
        }
        if self.index_interval_bytes == 0 {
            return fail("index_interval_bytes must be positive");
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > MAX_SEGMENT_BYTES {
            return fail("max_message_bytes must be between 1 and 2^31-1");
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return fail("min_cleanable_dirty_ratio must be between 0 and 1");
        }
        if self.max_compaction_lag_ms < 1 {
            return fail("max_compaction_lag_ms must be positive");
        }
        if self.delete_retention_ms < 0 || self.producer_id_expiration_ms < 0 || self.min_compaction_lag_ms < 0 {
            return fail("durations must not be negative");
        }
        Ok(())
    }
}
