//! Error types of the crate: batch format errors, log open errors, append and read errors.
//! Each append error maps to one Kafka error code (named in its doc) so the broker's mapping
//! is mechanical.

use std::io;
use std::path::PathBuf;

/// A record batch that is malformed or of an unsupported format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("message format with magic {0} is not supported: only record batches v2 (magic 2) are stored")]
    UnsupportedMagic(i8),
    #[error("batch cut short: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("impossible batch length {0}")]
    BadLength(i32),
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    #[error("cannot decompress records: {0}")]
    Decompress(String),
    #[error("bad record: {0}")]
    BadRecord(&'static str),
    #[error("batch base offset {base_offset} is below the previous batch's end {expected_at_least}")]
    OffsetOrder { base_offset: i64, expected_at_least: i64 },
}

/// Failure to open (recover) a partition log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Damage followed by valid data: refusing it is the only way not to serve wrong data.
    #[error("{path}: corrupt batch at byte {position} with valid data after it ({reason})")]
    Corrupt { path: PathBuf, position: u64, reason: BatchError },
    #[error("invalid log config: {0}")]
    InvalidConfig(String),
}

/// Why an append was refused. Nothing of the refused records was made visible.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// CORRUPT_MESSAGE (2): bad CRC or malformed batch.
    #[error("corrupt batch: {0}")]
    Corrupt(BatchError),
    /// UNSUPPORTED_FOR_MESSAGE_FORMAT (43): magic 0/1 message sets.
    #[error("message format with magic {0} is not supported: send record batches v2")]
    UnsupportedMagic(i8),
    /// INVALID_RECORD (87): a well-formed batch this log refuses.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// MESSAGE_TOO_LARGE (10).
    #[error("batch of {size_bytes} bytes exceeds max.message.bytes {max_bytes}")]
    MessageTooLarge { size_bytes: u64, max_bytes: u64 },
    /// INVALID_PRODUCER_EPOCH (47): the producer was fenced by a newer epoch.
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current_epoch}")]
    InvalidProducerEpoch { producer_id: i64, epoch: i16, current_epoch: i16 },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45).
    #[error("producer {producer_id}: sequence {received} where {expected} was expected")]
    OutOfOrderSequence { producer_id: i64, expected: i32, received: i32 },
    /// KAFKA_STORAGE_ERROR (56): the disk failed; the log refuses appends until reopened.
    #[error("storage error: {0}")]
    Io(io::Error),
}

/// Why a read (or DeleteRecords) could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// OFFSET_OUT_OF_RANGE (1).
    #[error("offset {offset} is outside [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange { offset: i64, log_start_offset: i64, log_end_offset: i64 },
    /// KAFKA_STORAGE_ERROR (56).
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
}
