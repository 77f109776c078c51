//! Recovery on open and storage faults: torn tails, flipped bits, missing indexes, failed
//! fsyncs and a full disk.

mod common;

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use kafka_log::testing::values_batch;
use kafka_log::{AppendError, FaultyDisk, LogConfig, LogError, PartitionLog, RealDisk};

fn cut_file(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

fn flip_bit(path: &Path, position: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[position as usize] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// A log of `batches` batches of 3 records; returns the size of each batch.
fn write_log(dir: &Path, batches: usize) -> Vec<u64> {
    let mut log = open(dir, LogConfig::default());
    (0..batches)
        .map(|i| {
            let batch = values_batch(3, NOW_MS + i as i64);
            log.append(&batch, NOW_MS).unwrap();
            batch.len() as u64
        })
        .collect()
}

#[test]
fn torn_tail_is_cut_at_every_byte_of_the_last_batch() {
    let source = tempfile::tempdir().unwrap();
    let sizes = write_log(source.path(), 4);
    let good_len: u64 = sizes[..3].iter().sum();
    let full = std::fs::read(active_segment_path(source.path())).unwrap();
    for cut in good_len..full.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        std::fs::write(&path, &full[..cut as usize]).unwrap();
        let mut log = open(dir.path(), LogConfig::default());
        assert_eq!(log.log_end_offset(), 9, "cut at {cut}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
        assert_eq!(all_records(&log).len(), 9);
        assert_eq!(log.append(&values_batch(1, NOW_MS), NOW_MS).unwrap().base_offset, 9);
    }
}

#[test]
fn flipped_bit_in_the_tail_batch_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = write_log(dir.path(), 5);
    let good_len: u64 = sizes[..4].iter().sum();
    let path = active_segment_path(dir.path());
    // Every byte of the last batch, except base offset and partition leader epoch (not
    // covered by the CRC).
    for position in good_len + 17..good_len + sizes[4] {
        let copy = tempfile::tempdir().unwrap();
        let target = copy.path().join(path.file_name().unwrap());
        std::fs::copy(&path, &target).unwrap();
        flip_bit(&target, position);
        let log = open(copy.path(), LogConfig::default());
        assert_eq!(log.log_end_offset(), 12, "flip at {position}");
        assert_eq!(std::fs::metadata(&target).unwrap().len(), good_len);
    }
}

#[test]
fn flipped_bit_followed_by_good_batches_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = write_log(dir.path(), 5);
    let path = active_segment_path(dir.path());
    let second_batch = sizes[0];
    for offset_in_batch in [17, 30, 60, sizes[1] - 1] {
        let copy = tempfile::tempdir().unwrap();
        let target = copy.path().join(path.file_name().unwrap());
        std::fs::copy(&path, &target).unwrap();
        flip_bit(&target, second_batch + offset_in_batch);
        let error = PartitionLog::open(Arc::new(RealDisk), copy.path(), LogConfig::default(), NOW_MS).unwrap_err();
        match error {
            LogError::Corrupt { position, .. } => assert_eq!(position, second_batch),
            other => panic!("expected Corrupt, got {other}"),
        }
        assert_eq!(std::fs::metadata(&target).unwrap().len(), sizes.iter().sum::<u64>(), "nothing cut");
    }
}

#[test]
fn damage_in_a_closed_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    for i in 0..40 {
        log.append(&values_batch(3, NOW_MS + i), NOW_MS).unwrap();
    }
    drop(log);
    let first = dir.path().join("00000000000000000000.log");
    let len = std::fs::metadata(&first).unwrap().len();
    cut_file(&first, len - 5);
    let error = PartitionLog::open(Arc::new(RealDisk), dir.path(), small_segments(), NOW_MS).unwrap_err();
    assert!(matches!(error, LogError::Corrupt { .. }), "{error}");
}

#[test]
fn missing_and_short_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    for i in 0..60 {
        log.append(&values_batch(1 + (i % 3) as usize, NOW_MS + i * 10), NOW_MS).unwrap();
    }
    let end = log.log_end_offset();
    let reads: Vec<Vec<u8>> = (0..end).map(|o| log.read(o, 1).unwrap().to_vec().unwrap()).collect();
    let times: Vec<_> = (0..600).step_by(7).map(|t| log.offset_for_timestamp(NOW_MS + t).unwrap()).collect();
    drop(log);
    let mut index_files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "index" || e == "timeindex"))
        .collect();
    index_files.sort();
    let originals: Vec<Vec<u8>> = index_files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(originals.iter().any(|bytes| !bytes.is_empty()), "the test needs non-empty indexes");
    for (number, path) in index_files.iter().enumerate() {
        match number % 3 {
            0 => std::fs::remove_file(path).unwrap(),
            1 => cut_file(path, std::fs::metadata(path).unwrap().len() / 2),
            _ => std::fs::write(path, b"garbage").unwrap(),
        }
    }
    let log = open(dir.path(), small_segments());
    let rebuilt: Vec<Vec<u8>> = index_files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(rebuilt, originals);
    assert_eq!((0..end).map(|o| log.read(o, 1).unwrap().to_vec().unwrap()).collect::<Vec<_>>(), reads);
    let times_after: Vec<_> = (0..600).step_by(7).map(|t| log.offset_for_timestamp(NOW_MS + t).unwrap()).collect();
    assert_eq!(times_after, times);
}

#[test]
fn leftover_cleaned_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 2);
    let leftover = dir.path().join("00000000000000000000.log.cleaned");
    std::fs::write(&leftover, b"half written").unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert!(!leftover.exists());
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn group_commit_advances_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    if let Some(job) = log.sync_job() {
        job.run().unwrap();
    }
    assert!(log.sync_job().is_none(), "nothing to sync");
    log.append(&values_batch(2, NOW_MS), NOW_MS).unwrap();
    let job = log.sync_job().unwrap();
    // Appends continue while the job is out of the partition.
    log.append(&values_batch(2, NOW_MS), NOW_MS).unwrap();
    assert_eq!(job.target_offset(), 2);
    assert_eq!(job.run().unwrap(), 2);
    assert_eq!(log.durable_offset(), 2);
    let job = log.sync_job().unwrap();
    job.run().unwrap();
    assert_eq!(log.durable_offset(), 4);
}

#[test]
fn failed_fsync_is_not_durable_and_stops_appends() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), LogConfig::default());
    log.append(&values_batch(2, NOW_MS), NOW_MS).unwrap();
    log.sync_job().unwrap().run().unwrap();
    assert_eq!(log.durable_offset(), 2);
    log.append(&values_batch(2, NOW_MS), NOW_MS).unwrap();
    disk.faults.fail_sync.store(true, Ordering::SeqCst);
    assert!(log.sync_job().unwrap().run().is_err());
    assert_eq!(log.durable_offset(), 2, "never report what fsync did not confirm");
    assert!(log.storage_failure().is_some());
    assert!(matches!(log.append(&values_batch(1, NOW_MS), NOW_MS), Err(AppendError::Io(_))));
    assert!(log.sync_job().is_none());
    assert_eq!(log.read(0, 1000).unwrap().len() as usize, 2 * values_batch(2, NOW_MS).len(), "reads go on");
    disk.faults.fail_sync.store(false, Ordering::SeqCst);
    drop(log);
    let mut log = open_with(Arc::new(disk), dir.path(), LogConfig::default());
    assert_eq!(log.append(&values_batch(1, NOW_MS), NOW_MS).unwrap().base_offset, 4);
}

/// A log of small segments in a new folder, on a disk whose fsyncs can be made to fail.
fn faulty_small_segments() -> (tempfile::TempDir, FaultyDisk, PartitionLog) {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::new();
    let log = open_with(Arc::new(disk.clone()), dir.path(), small_segments());
    (dir, disk, log)
}

/// Appends 2-record batches until the log has `segments` segments.
fn append_until_segments(log: &mut PartitionLog, segments: usize) {
    while log.segment_count() < segments {
        log.append(&values_batch(2, NOW_MS), NOW_MS).unwrap();
    }
}

#[test]
fn roll_leaves_the_closed_segments_fsync_to_the_sync_job() {
    let (_dir, disk, mut log) = faulty_small_segments();
    append_until_segments(&mut log, 2);
    assert_eq!(disk.faults.file_syncs.load(Ordering::SeqCst), 0, "the roll did not fsync under the partition");
    let job = log.sync_job().unwrap();
    assert_eq!(job.run().unwrap(), log.log_end_offset());
    assert_eq!(disk.faults.file_syncs.load(Ordering::SeqCst), 2, "the rolled segment, then the active one");
    append_until_segments(&mut log, 3);
    log.sync_job().unwrap().run().unwrap();
    assert_eq!(disk.faults.file_syncs.load(Ordering::SeqCst), 4, "the first rolled segment is not synced twice");
}

#[test]
fn second_roll_before_a_job_syncs_the_first_one() {
    let (_dir, disk, mut log) = faulty_small_segments();
    append_until_segments(&mut log, 3);
    assert_eq!(disk.faults.file_syncs.load(Ordering::SeqCst), 1, "only the older rolled segment");
}

#[test]
fn failed_fsync_of_a_rolled_segment_is_not_durable_and_stops_appends() {
    let (_dir, disk, mut log) = faulty_small_segments();
    append_until_segments(&mut log, 1);
    log.sync_job().unwrap().run().unwrap();
    let durable = log.durable_offset();
    disk.faults.fail_sync.store(true, Ordering::SeqCst);
    // The roll itself needs no fsync, so this append still succeeds.
    append_until_segments(&mut log, 2);
    assert!(log.sync_job().unwrap().run().is_err());
    assert_eq!(log.durable_offset(), durable, "never report what fsync did not confirm");
    assert!(log.storage_failure().is_some());
    assert!(matches!(log.append(&values_batch(2, NOW_MS), NOW_MS), Err(AppendError::Io(_))));
}

#[test]
fn failed_fsync_at_a_second_roll_refuses_the_append() {
    let (_dir, disk, mut log) = faulty_small_segments();
    append_until_segments(&mut log, 2);
    let batch = values_batch(2, NOW_MS);
    disk.faults.fail_sync.store(true, Ordering::SeqCst);
    let mut refused = false;
    for _ in 0..20 {
        if log.append(&batch, NOW_MS).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused);
    assert_eq!(log.segment_count(), 2, "no segment rolled past an unsynced one");
    assert!(log.storage_failure().is_some());
}

/// A log of small segments with at least three segments; returns the folder's `.log` files
/// in order and the log end offset.
fn write_segments(dir: &Path) -> (Vec<std::path::PathBuf>, i64) {
    let mut log = open(dir, small_segments());
    for i in 0..40 {
        log.append(&values_batch(3, NOW_MS + i), NOW_MS).unwrap();
    }
    let end = log.log_end_offset();
    drop(log);
    let logs = segment_paths(dir);
    assert!(logs.len() >= 3, "the test needs three segments");
    (logs, end)
}

#[test]
fn torn_tail_of_the_segment_rolled_last_ends_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = write_segments(dir.path());
    let rolled = &logs[logs.len() - 2];
    let active = &logs[logs.len() - 1];
    assert!(std::fs::metadata(active).unwrap().len() > 0, "the active segment holds data");
    let rolled_len = std::fs::metadata(rolled).unwrap().len();
    // As if the machine stopped before the rolled segment's deferred fsync: its last bytes
    // never reached the disk, while the active segment's did.
    cut_file(rolled, rolled_len - 5);
    let mut log = open(dir.path(), small_segments());
    assert!(!active.exists(), "the active segment after the tear is removed");
    assert_eq!(log.segment_count(), logs.len() - 1);
    let records = all_records(&log);
    assert_eq!(records.len() as i64, log.log_end_offset());
    assert!(std::fs::metadata(rolled).unwrap().len() < rolled_len - 5, "cut to the last whole batch");
    let next = log.log_end_offset();
    assert_eq!(log.append(&values_batch(1, NOW_MS), NOW_MS).unwrap().base_offset, next);
    drop(log);
    let log = open(dir.path(), small_segments());
    assert_eq!(log.log_end_offset(), next + 1, "the repaired log opens as it was left");
}

#[test]
fn flipped_bit_inside_the_segment_rolled_last_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = write_segments(dir.path());
    let rolled = &logs[logs.len() - 2];
    // A bit of the first batch's records (past the 61-byte header), with whole batches after it.
    flip_bit(rolled, 70);
    let error = PartitionLog::open(Arc::new(RealDisk), dir.path(), small_segments(), NOW_MS).unwrap_err();
    assert!(matches!(error, LogError::Corrupt { position: 0, .. }), "{error}");
    assert!(logs.iter().all(|path| path.exists()), "nothing removed");
}

#[test]
fn full_disk_fails_the_append_and_keeps_earlier_data() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), LogConfig::default());
    for i in 0..5 {
        log.append(&values_batch(3, NOW_MS + i), NOW_MS).unwrap();
    }
    let before = all_records(&log);
    let segment = active_segment_path(dir.path());
    let length_before = std::fs::metadata(&segment).unwrap().len();
    disk.faults.space_left_bytes.store(40, Ordering::SeqCst);
    assert!(matches!(log.append(&values_batch(3, NOW_MS), NOW_MS), Err(AppendError::Io(_))));
    assert!(matches!(log.append(&values_batch(3, NOW_MS), NOW_MS), Err(AppendError::Io(_))));
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), length_before, "partial write cut back");
    drop(log);
    disk.faults.space_left_bytes.store(u64::MAX, Ordering::SeqCst);
    let mut log = open_with(Arc::new(disk), dir.path(), LogConfig::default());
    assert_eq!(all_records(&log), before);
    assert_eq!(log.append(&values_batch(1, NOW_MS), NOW_MS).unwrap().base_offset, 15);
}
