//! Conformance of `PartitionLog`: append and read back, rolling, index lookups, restart,
//! timestamps, retention, DeleteRecords, idempotence and append validation.

mod common;

use common::*;
use kafka_log::records::decode_records;
use kafka_log::testing::{keyed_batch, values_batch, BatchBuilder};
use kafka_log::{AppendError, CleanupPolicy, LogConfig, ReadError, TimestampType};

#[test]
fn append_and_read_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    for i in 0..10 {
        let outcome = log.append(&values_batch(3, NOW_MS + i), NOW_MS).unwrap();
        assert_eq!((outcome.base_offset, outcome.last_offset), (i * 3, i * 3 + 2));
        assert_eq!(outcome.log_append_time_ms, -1);
        assert!(!outcome.duplicate);
    }
    assert_eq!(log.log_end_offset(), 30);
    for offset in 0..30 {
        let headers = read_headers(&log, offset, 1);
        assert_eq!(headers.len(), 1, "one whole batch even past max_bytes");
        assert!(headers[0].base_offset <= offset && offset <= headers[0].last_offset());
    }
    assert_eq!(read_headers(&log, 4, u64::MAX).len(), 9);
    assert!(log.read(30, 1000).unwrap().is_empty());
    assert!(matches!(log.read(31, 1000), Err(ReadError::OffsetOutOfRange { offset: 31, .. })));
    assert!(matches!(log.read(-1, 1000), Err(ReadError::OffsetOutOfRange { .. })));
    let values: Vec<_> = all_records(&log).into_iter().map(|(_, _, v)| v.unwrap()).collect();
    assert_eq!(values.len(), 30);
    assert_eq!(values[4], b"value-1");
}

#[test]
fn read_respects_max_bytes_and_upper_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let batch = values_batch(2, NOW_MS);
    for _ in 0..5 {
        log.append(&batch, NOW_MS).unwrap();
    }
    let two = 2 * batch.len() as u64;
    assert_eq!(log.read(0, two).unwrap().len(), two);
    assert_eq!(log.read(0, two + 10).unwrap().len(), two);
    assert_eq!(read_headers(&log, 0, u64::MAX).len(), 5);
    let bounded = log.read_upto(0, u64::MAX, 6).unwrap().to_vec().unwrap();
    assert_eq!(kafka_log::BatchIter::new(&bounded).count(), 3);
    assert!(log.read_upto(6, u64::MAX, 6).unwrap().is_empty());
}

#[test]
fn many_segments_roll_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    for i in 0..200 {
        log.append(&values_batch(1 + (i % 4) as usize, NOW_MS + i), NOW_MS).unwrap();
    }
    assert!(log.segment_count() > 10, "{} segments", log.segment_count());
    let end = log.log_end_offset();
    let before: Vec<Vec<u8>> = (0..=end).map(|o| log.read(o, 300).unwrap().to_vec().unwrap()).collect();
    let records = all_records(&log);
    assert_eq!(records.len() as i64, end);
    assert!(records.iter().enumerate().all(|(i, (offset, _, _))| *offset == i as i64));
    drop(log);
    let log = open(dir.path(), small_segments());
    assert_eq!(log.log_end_offset(), end);
    let after: Vec<Vec<u8>> = (0..=end).map(|o| log.read(o, 300).unwrap().to_vec().unwrap()).collect();
    assert_eq!(before, after);
}

#[test]
fn offset_for_timestamp_finds_the_exact_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    // Batch i holds records at i*100, i*100+10, i*100+20.
    for i in 0..60i64 {
        let base = NOW_MS + i * 100;
        let batch = BatchBuilder::new(base)
            .record_at(None, Some(b"a"), base)
            .record_at(None, Some(b"b"), base + 10)
            .record_at(None, Some(b"c"), base + 20)
            .build();
        log.append(&batch, NOW_MS).unwrap();
    }
    assert!(log.segment_count() > 3);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, NOW_MS)));
    assert_eq!(log.offset_for_timestamp(NOW_MS + 1005).unwrap(), Some((31, NOW_MS + 1010)));
    assert_eq!(log.offset_for_timestamp(NOW_MS + 1020).unwrap(), Some((32, NOW_MS + 1020)));
    assert_eq!(log.offset_for_timestamp(NOW_MS + 1021).unwrap(), Some((33, NOW_MS + 1100)));
    assert_eq!(log.offset_for_timestamp(NOW_MS + 5920).unwrap(), Some((179, NOW_MS + 5920)));
    assert_eq!(log.offset_for_timestamp(NOW_MS + 5921).unwrap(), None);
    for target in (0..=5920).step_by(37) {
        let (offset, ts) = log.offset_for_timestamp(NOW_MS + target).unwrap().unwrap();
        let expected_offset = (0..180).find(|o| (o / 3) * 100 + (o % 3) * 10 >= target).unwrap();
        assert_eq!((offset, ts - NOW_MS), (expected_offset, (offset / 3) * 100 + (offset % 3) * 10));
    }
}

#[test]
fn log_append_time_stamps_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { timestamp_type: TimestampType::LogAppendTime, ..LogConfig::default() };
    let mut log = open(dir.path(), config);
    let outcome = log.append(&values_batch(3, 5), NOW_MS).unwrap();
    assert_eq!(outcome.log_append_time_ms, NOW_MS);
    let bytes = log.read(0, 1000).unwrap().to_vec().unwrap();
    let header = kafka_log::batch::validate(&bytes).unwrap();
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(header.max_timestamp, NOW_MS);
    let (header, records) = decode_records(&bytes).unwrap();
    assert!(records.iter().all(|r| r.timestamp(&header) == NOW_MS));
    assert_eq!(log.offset_for_timestamp(NOW_MS).unwrap(), Some((0, NOW_MS)));
}

#[test]
fn retention_by_time_deletes_old_closed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_ms: Some(1000), ..small_segments() };
    let mut log = open(dir.path(), config);
    for i in 0..100 {
        log.append(&values_batch(2, NOW_MS + i * 100), NOW_MS).unwrap();
    }
    let segments = log.segment_count();
    let report = log.enforce_retention(NOW_MS + 5000).unwrap();
    assert!(report.deleted_segments > 0 && report.deleted_segments < segments);
    assert_eq!(report.log_start_offset, log.log_start_offset());
    let first = all_records(&log)[0].0;
    assert_eq!(first, log.log_start_offset());
    let (start_ts_offset, _) = log.offset_for_timestamp(0).unwrap().unwrap();
    assert_eq!(start_ts_offset, log.log_start_offset());
    // Everything kept is newer than the horizon, except within the first kept segment.
    let horizon_offset = log.offset_for_timestamp(NOW_MS + 4000).unwrap().unwrap().0;
    assert!(log.log_start_offset() <= horizon_offset);
    // Far in the future: everything but the active segment goes.
    log.enforce_retention(NOW_MS + 1_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert!(matches!(log.read(0, 10), Err(ReadError::OffsetOutOfRange { .. })));
    assert_eq!(log.log_end_offset(), 200);
}

#[test]
fn retention_by_size_keeps_at_least_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_bytes: Some(3000), retention_ms: None, ..small_segments() };
    let mut log = open(dir.path(), config);
    for i in 0..100 {
        log.append(&values_batch(2, NOW_MS + i), NOW_MS).unwrap();
    }
    let before = log.size_bytes();
    let report = log.enforce_retention(NOW_MS).unwrap();
    assert!(report.deleted_segments > 0);
    assert_eq!(log.size_bytes(), before - report.deleted_bytes);
    assert!(log.size_bytes() >= 3000 && log.size_bytes() < 3000 + 1024, "{}", log.size_bytes());
    assert_eq!(all_records(&log).len() as i64, log.log_end_offset() - log.log_start_offset());
}

#[test]
fn compact_only_topics_are_not_deleted_by_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { retention_ms: Some(1), cleanup_policy: CleanupPolicy::Compact, ..small_segments() };
    let mut log = open(dir.path(), config);
    for i in 0..50 {
        log.append(&keyed_batch(&[("k", Some("v"))], NOW_MS + i), NOW_MS).unwrap();
    }
    assert_eq!(log.enforce_retention(NOW_MS * 2).unwrap().deleted_segments, 0);
}

#[test]
fn delete_records_raises_log_start_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    for i in 0..100 {
        log.append(&values_batch(2, NOW_MS + i), NOW_MS).unwrap();
    }
    let segments = log.segment_count();
    assert_eq!(log.delete_records_before(101).unwrap(), 101);
    assert!(log.segment_count() < segments);
    assert!(matches!(log.read(100, 10), Err(ReadError::OffsetOutOfRange { .. })));
    // The batch holding 101 starts at 100: it is returned whole, the client skips offset 100.
    assert_eq!(read_headers(&log, 101, 1)[0].base_offset, 100);
    assert_eq!(log.delete_records_before(50).unwrap(), 101, "never lowered");
    assert!(matches!(log.delete_records_before(201), Err(ReadError::OffsetOutOfRange { .. })));
    assert_eq!(all_records(&log).first().unwrap().0, 101);
    drop(log);
    let log = open(dir.path(), small_segments());
    assert_eq!(log.log_start_offset(), 101);
    assert_eq!(log.log_end_offset(), 200);
}

#[test]
fn append_validation_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { max_message_bytes: 200, ..LogConfig::default() };
    let mut log = open(dir.path(), config);
    let big = values_batch(20, NOW_MS);
    assert!(matches!(log.append(&big, NOW_MS), Err(AppendError::MessageTooLarge { .. })));
    let mut bad_crc = values_batch(1, NOW_MS);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(matches!(log.append(&bad_crc, NOW_MS), Err(AppendError::Corrupt(_))));
    let mut old_format = values_batch(1, NOW_MS);
    old_format[16] = 1;
    assert!(matches!(log.append(&old_format, NOW_MS), Err(AppendError::UnsupportedMagic(1))));
    let mut cut = values_batch(1, NOW_MS);
    cut.pop();
    assert!(matches!(log.append(&cut, NOW_MS), Err(AppendError::Corrupt(_))));
    assert!(matches!(log.append(&[], NOW_MS), Err(AppendError::InvalidRecord(_))));
    // A good batch followed by a bad one: nothing is written.
    let mut two = values_batch(1, NOW_MS);
    two.extend_from_slice(&bad_crc);
    assert!(log.append(&two, NOW_MS).is_err());
    assert_eq!(log.log_end_offset(), 0);
    // Several good batches in one append get consecutive offsets.
    let mut three = values_batch(2, NOW_MS);
    three.extend_from_slice(&values_batch(3, NOW_MS));
    three.extend_from_slice(&values_batch(1, NOW_MS));
    let outcome = log.append(&three, NOW_MS).unwrap();
    assert_eq!((outcome.base_offset, outcome.last_offset), (0, 5));
    assert_eq!(read_headers(&log, 0, u64::MAX).iter().map(|h| h.base_offset).collect::<Vec<_>>(), [0, 2, 5]);
}

#[test]
fn compacted_topics_reject_records_without_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
    let mut log = open(dir.path(), config);
    assert!(matches!(log.append(&values_batch(1, NOW_MS), NOW_MS), Err(AppendError::InvalidRecord(_))));
    log.append(&keyed_batch(&[("a", Some("1"))], NOW_MS), NOW_MS).unwrap();
}

fn idempotent(sequence: i32, count: usize, epoch: i16) -> Vec<u8> {
    let builder = (0..count).fold(BatchBuilder::new(NOW_MS), |b, i| b.record(None, Some(format!("v{i}").as_bytes())));
    builder.producer(7, epoch, sequence).build()
}

#[test]
fn idempotent_producer_duplicates_gaps_and_fencing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(log.append(&idempotent(0, 3, 0), NOW_MS).unwrap().base_offset, 0);
    assert_eq!(log.append(&idempotent(3, 2, 0), NOW_MS).unwrap().base_offset, 3);
    let retry = log.append(&idempotent(0, 3, 0), NOW_MS).unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 5, "a duplicate is not written again");
    assert!(matches!(
        log.append(&idempotent(6, 1, 0), NOW_MS),
        Err(AppendError::OutOfOrderSequence { expected: 5, received: 6, .. })
    ));
    // A new epoch must start at 0; then the old epoch is fenced.
    assert!(matches!(
        log.append(&idempotent(5, 1, 1), NOW_MS),
        Err(AppendError::OutOfOrderSequence { expected: 0, .. })
    ));
    log.append(&idempotent(0, 1, 1), NOW_MS).unwrap();
    assert!(matches!(log.append(&idempotent(5, 1, 0), NOW_MS), Err(AppendError::InvalidProducerEpoch { .. })));
    assert_eq!(log.producer_epoch(7), Some(1));
    // Only the last five batches are remembered.
    for sequence in 1..7 {
        log.append(&idempotent(sequence, 1, 1), NOW_MS).unwrap();
    }
    assert!(log.append(&idempotent(6, 1, 1), NOW_MS).unwrap().duplicate);
    assert!(log.append(&idempotent(1, 1, 1), NOW_MS).is_err(), "too old to be recognised");
    let end = log.log_end_offset();
    drop(log);
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!(log.producer_epoch(7), Some(1), "state rebuilt from batch headers");
    let retry = log.append(&idempotent(5, 1, 1), NOW_MS).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, end - 2);
    assert!(matches!(log.append(&idempotent(9, 1, 1), NOW_MS), Err(AppendError::OutOfOrderSequence { .. })));
    assert!(matches!(log.append(&idempotent(0, 1, 0), NOW_MS), Err(AppendError::InvalidProducerEpoch { .. })));
    assert_eq!(log.append(&idempotent(7, 1, 1), NOW_MS).unwrap().base_offset, end);
}

#[test]
fn idempotent_batches_in_one_append_are_checked_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut request = idempotent(0, 2, 0);
    request.extend_from_slice(&idempotent(2, 2, 0));
    assert_eq!(log.append(&request, NOW_MS).unwrap().last_offset, 3);
    let mut gap = idempotent(4, 1, 0);
    gap.extend_from_slice(&idempotent(6, 1, 0));
    assert!(log.append(&gap, NOW_MS).is_err());
    assert_eq!(log.log_end_offset(), 4);
    assert!(log.append(&idempotent(2, 2, 0), NOW_MS).unwrap().duplicate);
}

#[test]
fn producer_state_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append(&idempotent(0, 1, 0), NOW_MS).unwrap();
    assert_eq!(log.producer_count(), 1);
    log.enforce_retention(NOW_MS + LogConfig::default().producer_id_expiration_ms + 1).unwrap();
    assert_eq!(log.producer_count(), 0);
}

#[test]
fn reads_continue_on_a_deleted_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    for i in 0..50 {
        log.append(&values_batch(2, NOW_MS + i), NOW_MS).unwrap();
    }
    let slice = log.read(0, 100_000).unwrap();
    let expected = slice.to_vec().unwrap();
    log.delete_records_before(80).unwrap();
    assert_eq!(slice.to_vec().unwrap(), expected, "a live slice outlives segment deletion");
}

#[test]
fn a_slice_stays_valid_while_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    log.append(&values_batch(3, NOW_MS), NOW_MS).unwrap();
    let slice = log.read(0, u64::MAX).unwrap();
    let expected = slice.to_vec().unwrap();
    for i in 0..40 {
        log.append(&values_batch(3, NOW_MS + i), NOW_MS).unwrap();
    }
    assert!(log.segment_count() > 1);
    assert_eq!(slice.to_vec().unwrap(), expected);
    assert!(slice.ranges[0].file.raw_fd().is_some(), "real files can be sent with sendfile");
}
