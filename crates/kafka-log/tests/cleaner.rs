//! When compaction runs and where it resumes: an idle partition costs no read, the dirty
//! ratio gates rounds, `min.compaction.lag.ms` holds recent records back,
//! `max.compaction.lag.ms` and due tombstones start rounds below the ratio, and the cleaner
//! checkpoint survives restarts, damage and a crash while it is written.

mod common;

use common::*;
use kafka_log::testing::keyed_batch;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use kafka_log::{CompactionTrigger, Faults, FaultyDisk, LogConfig, PartitionLog};

const CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// `(key, value)` of every record, by offset.
fn contents(log: &PartitionLog) -> BTreeMap<i64, (String, Option<String>)> {
    let text = |bytes: Option<Vec<u8>>| bytes.map(|b| String::from_utf8(b).unwrap());
    all_records(log).into_iter().map(|(offset, key, value)| (offset, (text(key).unwrap(), text(value)))).collect()
}

/// The newest `(offset, value)` of every key.
fn newest_per_key(log: &PartitionLog) -> BTreeMap<String, (i64, Option<String>)> {
    contents(log).into_iter().map(|(offset, (key, value))| (key, (offset, value))).collect()
}

/// Appends one batch per key, each `key=value` stamped `timestamp_ms`.
fn put(log: &mut PartitionLog, keys: impl IntoIterator<Item = String>, value: &str, timestamp_ms: i64) {
    for key in keys {
        log.append(&keyed_batch(&[(&key, Some(value))], timestamp_ms), NOW_MS).unwrap();
    }
}

fn keys(prefix: &str, count: usize) -> impl Iterator<Item = String> + '_ {
    (0..count).map(move |k| format!("{prefix}{k}"))
}

/// Reads and disk-changing operations of a faulty disk so far.
fn io_counts(faults: &Faults) -> (u64, u64) {
    (faults.reads.load(Ordering::SeqCst), u64::MAX - faults.mutations_left.load(Ordering::SeqCst))
}

/// Sizes of the closed `.log` files below and from `offset` (the ratio's clean and dirty
/// bytes, measured on disk).
fn closed_bytes_around(dir: &Path, offset: i64) -> (u64, u64) {
    let mut logs: Vec<(i64, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix(".log")?.parse().ok()?;
            Some((base, entry.metadata().unwrap().len()))
        })
        .collect();
    logs.sort();
    logs.pop();
    let clean = logs.iter().filter(|(base, _)| *base < offset).map(|(_, size)| size).sum();
    let dirty = logs.iter().filter(|(base, _)| *base >= offset).map(|(_, size)| size).sum();
    (clean, dirty)
}

#[test]
fn a_round_with_no_new_writes_reads_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
    for round in 0..20 {
        put(&mut log, keys("k", 10), &format!("r{round}"), NOW_MS);
    }
    let first = log.compact(NOW_MS).unwrap();
    assert_eq!(first.trigger, Some(CompactionTrigger::DirtyRatio));
    assert!(first.segments_rewritten > 0);
    let before = contents(&log);
    let counts = io_counts(&disk.faults);
    for _ in 0..3 {
        assert_eq!(log.compact(NOW_MS + 1).unwrap(), Default::default(), "no round without new writes");
    }
    assert_eq!(io_counts(&disk.faults), counts, "an idle round costs no read and no write");
    assert_eq!(contents(&log), before);
}

#[test]
fn below_the_dirty_ratio_no_round_runs_above_it_the_newest_values_stay() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
    put(&mut log, keys("unique", 200), "u", NOW_MS);
    assert_eq!(log.compact(NOW_MS).unwrap().trigger, Some(CompactionTrigger::DirtyRatio));
    let clean_end = log.first_dirty_offset();
    assert_eq!(clean_end, log.active_segment_base_offset());
    // A few updates, enough to close a segment or two: well under half of the closed bytes.
    while log.active_segment_base_offset() == clean_end || log.segment_count() < 2 {
        put(&mut log, keys("hot", 5), "early", NOW_MS);
    }
    put(&mut log, keys("hot", 5), "early", NOW_MS);
    let (clean, dirty) = closed_bytes_around(dir.path(), clean_end);
    assert!(dirty > 0 && dirty * 2 < clean, "the setup is below a ratio of 0.5: {dirty} dirty of {}", clean + dirty);
    let reads = disk.faults.reads.load(Ordering::SeqCst);
    assert_eq!(log.compact(NOW_MS).unwrap().trigger, None, "below min.cleanable.dirty.ratio");
    assert_eq!(disk.faults.reads.load(Ordering::SeqCst), reads);
    // The same dirty bytes pass a lower ratio.
    log.set_config(LogConfig { min_cleanable_dirty_ratio: 0.01, ..compacted() }).unwrap();
    let report = log.compact(NOW_MS).unwrap();
    assert_eq!(report.trigger, Some(CompactionTrigger::DirtyRatio), "{report:?}");
    log.set_config(compacted()).unwrap();
    // Many more updates: now the dirty part outweighs the clean one.
    for round in 0..80 {
        put(&mut log, keys("hot", 5), &format!("late{round}"), NOW_MS);
    }
    let expected = newest_per_key(&log);
    let active_base = log.active_segment_base_offset();
    let (clean, dirty) = closed_bytes_around(dir.path(), log.first_dirty_offset());
    assert!(dirty >= clean, "the setup is above a ratio of 0.5: {dirty} dirty of {}", clean + dirty);
    let report = log.compact(NOW_MS).unwrap();
    assert_eq!(report.trigger, Some(CompactionTrigger::DirtyRatio));
    assert!(report.records_removed > 0);
    assert_eq!(newest_per_key(&log), expected);
    let closed_hot = contents(&log).into_iter().filter(|(o, (k, _))| *o < active_base && k.starts_with("hot")).count();
    assert_eq!(closed_hot, 5, "one record per key below the active segment");
}

#[test]
fn records_newer_than_the_min_compaction_lag_survive_a_round() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { min_compaction_lag_ms: 60_000, ..compacted() };
    let mut log = open(dir.path(), config);
    let old_ms = NOW_MS - 120_000;
    for round in 0..10 {
        put(&mut log, keys("k", 5), &format!("old{round}"), old_ms);
    }
    let first_recent = log.log_end_offset();
    for round in 0..20 {
        put(&mut log, keys("k", 5), &format!("new{round}"), NOW_MS);
    }
    let before = contents(&log);
    let report = log.compact(NOW_MS).unwrap();
    assert_eq!(report.lag_held_from, Some(first_recent), "{report:?}");
    let after = contents(&log);
    assert!(after.len() < before.len(), "the old records were compacted among themselves");
    for (offset, record) in before.range(first_recent..) {
        assert_eq!(after.get(offset), Some(record), "a record newer than the lag survives though superseded");
    }
    // Once they are older than the lag, the same records are compacted.
    let later = log.compact(NOW_MS + 120_000).unwrap();
    assert_eq!(later.lag_held_from, None, "{later:?}");
    let active_base = log.active_segment_base_offset();
    assert_eq!(contents(&log).range(..active_base).count(), 5, "one record per key below the active segment");
}

#[test]
fn a_dirty_segment_older_than_the_max_compaction_lag_is_cleaned_below_the_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let strict = LogConfig { min_cleanable_dirty_ratio: 0.99, ..compacted() };
    let mut log = open(dir.path(), strict.clone());
    let old_ms = NOW_MS - 10_000;
    put(&mut log, keys("unique", 100), "u", old_ms);
    assert!(log.compact(NOW_MS).unwrap().trigger.is_some());
    let clean_end = log.first_dirty_offset();
    while log.active_segment_base_offset() == clean_end {
        put(&mut log, keys("hot", 3), "v", old_ms);
    }
    assert_eq!(log.compact(NOW_MS).unwrap().trigger, None, "below the ratio, no lag limit");
    log.set_config(LogConfig { max_compaction_lag_ms: 20_000, ..strict.clone() }).unwrap();
    assert_eq!(log.compact(NOW_MS).unwrap().trigger, None, "not older than the lag limit yet");
    log.set_config(LogConfig { max_compaction_lag_ms: 5_000, ..strict }).unwrap();
    let report = log.compact(NOW_MS).unwrap();
    assert_eq!(report.trigger, Some(CompactionTrigger::MaxCompactionLag));
    assert!(report.records_removed > 0 && log.first_dirty_offset() > clean_end, "{report:?}");
}

#[test]
fn a_kept_tombstone_starts_a_round_when_it_falls_due_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
    put(&mut log, keys("k", 10), "v", NOW_MS);
    log.append(&keyed_batch(&[("k3", None)], NOW_MS), NOW_MS).unwrap();
    put(&mut log, keys("filler", 40), "f", NOW_MS);
    assert!(log.compact(NOW_MS).unwrap().trigger.is_some());
    assert!(contents(&log).values().any(|r| r == &("k3".to_string(), None)), "young tombstone kept");
    // Not due yet: no round, no read.
    let counts = io_counts(&disk.faults);
    assert_eq!(log.compact(NOW_MS + 500).unwrap().trigger, None);
    assert_eq!(io_counts(&disk.faults), counts);
    drop(log);
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
    let reads_before = disk.faults.reads.load(Ordering::SeqCst);
    let report = log.compact(NOW_MS + 5000).unwrap();
    assert_eq!(report.trigger, Some(CompactionTrigger::TombstonesDue), "{report:?}");
    assert!(!contents(&log).values().any(|(key, _)| key == "k3"), "the expired tombstone went");
    // What every round cost before the gate: a pass over all closed segments, even with
    // nothing dirty.
    let reads = disk.faults.reads.load(Ordering::SeqCst) - reads_before;
    eprintln!("a round with nothing dirty read {reads} times ({} closed segments)", log.segment_count() - 1);
    assert!(reads > 0);
    assert_eq!(log.compact(NOW_MS + 5000).unwrap().trigger, None, "no tombstone is left to expire");
}

#[test]
fn the_cleaner_position_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    for round in 0..20 {
        put(&mut log, keys("k", 10), &format!("r{round}"), NOW_MS);
    }
    // Other keys after them, so the active segment (dirty after the round) holds no k.
    put(&mut log, keys("c", 20), "c", NOW_MS);
    log.compact(NOW_MS).unwrap();
    let clean_end = log.first_dirty_offset();
    assert!(clean_end > 0);
    drop(log);
    let disk = FaultyDisk::new();
    let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
    assert_eq!(log.first_dirty_offset(), clean_end, "restored from the checkpoint");
    let counts = io_counts(&disk.faults);
    assert_eq!(log.compact(NOW_MS).unwrap(), Default::default(), "nothing dirty after the restart");
    assert_eq!(io_counts(&disk.faults), counts);
    // New keys only: the next round maps just them, and rewrites no clean segment.
    let clean_files = segment_files_below(dir.path(), clean_end);
    for round in 0..20 {
        put(&mut log, keys("n", 4), &format!("n{round}"), NOW_MS);
    }
    let dirty_keys = distinct_keys(&log, clean_end);
    let all_keys = distinct_keys(&log, 0);
    assert!(dirty_keys < all_keys, "{dirty_keys} keys in the dirty part, {all_keys} in all");
    let report = log.compact(NOW_MS).unwrap();
    assert_eq!(report.trigger, Some(CompactionTrigger::DirtyRatio));
    assert_eq!(report.map_entries, dirty_keys, "only the dirty part is mapped: {report:?}");
    assert_eq!(segment_files_below(dir.path(), clean_end), clean_files, "the clean part is left as it was");
    // Without the checkpoint the whole log is dirty again: the clean keys are mapped too.
    drop(log);
    std::fs::remove_file(dir.path().join(CHECKPOINT)).unwrap();
    let mut log = open(dir.path(), compacted());
    assert_eq!(log.first_dirty_offset(), log.log_start_offset());
    let all_keys = distinct_keys(&log, 0);
    assert_eq!(log.compact(NOW_MS).unwrap().map_entries, all_keys);
}

/// Keys of the closed segments from `offset` on.
fn distinct_keys(log: &PartitionLog, offset: i64) -> usize {
    let records = contents(log);
    let keys: std::collections::BTreeSet<_> =
        records.range(offset..log.active_segment_base_offset()).map(|(_, (key, _))| key.clone()).collect();
    keys.len()
}

/// Contents of the `.log` files of the segments based below `offset`.
fn segment_files_below(dir: &Path, offset: i64) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .filter(|path| path.file_stem().unwrap().to_string_lossy().parse::<i64>().unwrap() < offset)
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect()
}

#[test]
fn a_damaged_checkpoint_is_ignored_and_a_stale_one_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    for round in 0..10 {
        put(&mut log, keys("k", 10), &format!("r{round}"), NOW_MS);
    }
    log.compact(NOW_MS).unwrap();
    let clean_end = log.first_dirty_offset();
    let expected = newest_per_key(&log);
    drop(log);
    let path = dir.path().join(CHECKPOINT);
    let good = std::fs::read(&path).unwrap();
    for damaged in [good[..good.len() / 2].to_vec(), b"garbage\n".to_vec(), good.iter().map(|b| b ^ 1).collect()] {
        std::fs::write(&path, &damaged).unwrap();
        let mut log = open(dir.path(), compacted());
        assert_eq!(log.first_dirty_offset(), log.log_start_offset(), "damaged checkpoint {damaged:?} ignored");
        assert!(log.first_dirty_offset() < clean_end);
        log.compact(NOW_MS).unwrap();
        assert_eq!(newest_per_key(&log), expected);
    }
    // DeleteRecords past the checkpointed offset: on open it is clamped to the log's start.
    let mut log = open(dir.path(), compacted());
    assert_eq!(log.first_dirty_offset(), clean_end);
    put(&mut log, keys("later", 30), "l", NOW_MS);
    let end = log.log_end_offset();
    log.delete_records_before(end).unwrap();
    drop(log);
    let log = open(dir.path(), compacted());
    assert_eq!(log.first_dirty_offset(), log.active_segment_base_offset());
    assert!(log.first_dirty_offset() > clean_end);
}

#[test]
fn a_crash_while_the_checkpoint_is_written_leaves_a_usable_state() {
    let (mut steps, mut tmp_left) = (0, 0);
    loop {
        assert!(steps < 10_000, "compaction never finished");
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), compacted());
        for round in 0..10 {
            put(&mut log, keys("k", 10), &format!("a{round}"), NOW_MS);
        }
        log.compact(NOW_MS).unwrap();
        let first_end = log.first_dirty_offset();
        for round in 0..10 {
            put(&mut log, keys("k", 10), &format!("b{round}"), NOW_MS);
        }
        let expected = newest_per_key(&log);
        drop(log);
        let disk = FaultyDisk::new();
        let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
        disk.faults.mutations_left.store(steps, Ordering::SeqCst);
        let finished = log.compact(NOW_MS).is_ok();
        let second_end = log.first_dirty_offset();
        drop(log);
        tmp_left += usize::from(dir.path().join(format!("{CHECKPOINT}.tmp")).exists());
        let mut log = open(dir.path(), compacted());
        let restored = log.first_dirty_offset();
        assert!(restored == first_end || restored == second_end, "crash after {steps} steps");
        assert!(!dir.path().join(format!("{CHECKPOINT}.tmp")).exists(), "leftover removed on open");
        assert_eq!(newest_per_key(&log), expected, "crash after {steps} steps");
        log.compact(NOW_MS).unwrap();
        assert_eq!(newest_per_key(&log), expected, "a round after the crash, {steps} steps");
        if finished {
            assert!(second_end > first_end);
            break;
        }
        steps += 1;
    }
    assert!(tmp_left > 0, "some crash fell between the temporary file and its rename");
}
