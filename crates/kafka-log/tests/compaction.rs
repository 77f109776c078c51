//! Compaction: last value per key, offsets preserved, tombstone expiry, producer state, a
//! bounded offset map over several rounds, a crash at every step, and appends while a round
//! writes (the partition lock is free then).

mod common;

use common::*;
use kafka_log::testing::{keyed_batch, BatchBuilder, GateDisk};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_log::{
    compact_with_short_locks, CompactionReport, FaultyDisk, LockedLog, PartitionLog, DEFAULT_COMPACTION_MAP_ENTRIES,
};

fn key_value(record: &KeyedRecord) -> (i64, String, Option<String>) {
    let text = |bytes: &Option<Vec<u8>>| bytes.as_ref().map(|b| String::from_utf8(b.clone()).unwrap());
    (record.0, text(&record.1).unwrap(), text(&record.2))
}

/// Writes rounds of updates of keys k0..k9 (value = round), one batch of 5 records each.
fn write_updates(log: &mut PartitionLog, rounds: usize) {
    for round in 0..rounds {
        for half in 0..2 {
            let values: Vec<String> = (0..5).map(|_| format!("r{round}")).collect();
            let keys: Vec<String> = (0..5).map(|k| format!("k{}", half * 5 + k)).collect();
            let entries: Vec<(&str, Option<&str>)> =
                keys.iter().zip(&values).map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
            log.append(&keyed_batch(&entries, NOW_MS), NOW_MS).unwrap();
        }
    }
}

#[test]
fn compaction_keeps_the_last_value_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    write_updates(&mut log, 20);
    let before: Vec<_> = all_records(&log).iter().map(key_value).collect();
    let end = log.log_end_offset();
    let size_before = log.size_bytes();
    let report = log.compact(NOW_MS).unwrap();
    assert!(report.segments_rewritten > 0 && report.records_removed > 0);
    assert!(log.size_bytes() < size_before);
    assert_eq!(log.log_end_offset(), end);
    let after: Vec<_> = all_records(&log).iter().map(key_value).collect();
    // Every surviving record is the one at the same offset before; below the active segment
    // (the part compaction reads) it is the newest of its key, and the active segment is intact.
    let active_base = log.active_segment_base_offset();
    for record in &after {
        assert!(before.contains(record));
        let newer = before.iter().filter(|r| r.1 == record.1 && r.0 > record.0 && r.0 < active_base).count();
        assert_eq!(newer, 0, "{record:?} superseded");
    }
    assert!(before.iter().filter(|r| r.0 >= active_base).all(|r| after.contains(r)));
    assert_eq!(after.iter().filter(|r| r.0 < active_base).count(), 10, "one record per key");
    // The latest value of every key is still readable.
    for key in 0..10 {
        let name = format!("k{key}");
        let latest_before = before.iter().rev().find(|r| r.1 == name).unwrap();
        assert!(after.contains(latest_before));
    }
    let offsets: Vec<i64> = after.iter().map(|r| r.0).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    // Reads at a removed offset return the next surviving batch.
    let gap = (0..end).find(|o| !offsets.contains(o)).unwrap();
    assert!(read_headers(&log, gap, 1)[0].last_offset() >= gap);
    drop(log);
    let log = open(dir.path(), compacted());
    assert_eq!(all_records(&log).iter().map(key_value).collect::<Vec<_>>(), after);
    // Compacting again changes nothing.
    let mut log = log;
    assert_eq!(log.compact(NOW_MS).unwrap().segments_rewritten, 0);
}

#[test]
fn tombstones_are_kept_for_delete_retention_then_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    log.append(&keyed_batch(&[("gone", Some("v1")), ("kept", Some("v1"))], NOW_MS), NOW_MS).unwrap();
    log.append(&keyed_batch(&[("gone", None)], NOW_MS), NOW_MS).unwrap();
    while log.segment_count() < 3 {
        log.append(&keyed_batch(&[("filler", Some("x"))], NOW_MS + 10_000), NOW_MS).unwrap();
    }
    log.compact(NOW_MS).unwrap();
    let records: Vec<_> = all_records(&log).iter().map(key_value).collect();
    assert!(records.contains(&(2, "gone".into(), None)), "tombstone kept while young");
    assert!(!records.iter().any(|r| r.1 == "gone" && r.2.is_some()));
    log.compact(NOW_MS + 5000).unwrap();
    let records: Vec<_> = all_records(&log).iter().map(key_value).collect();
    assert!(!records.iter().any(|r| r.1 == "gone"), "tombstone dropped after delete_retention_ms");
    assert!(records.contains(&(1, "kept".into(), Some("v1".into()))));
}

#[test]
fn compaction_keeps_the_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    for sequence in 0..30 {
        let batch = BatchBuilder::new(NOW_MS).record(Some(b"same"), Some(b"v")).producer(9, 0, sequence).build();
        log.append(&batch, NOW_MS).unwrap();
    }
    log.compact(NOW_MS).unwrap();
    drop(log);
    let mut log = open(dir.path(), compacted());
    let next = BatchBuilder::new(NOW_MS).record(Some(b"same"), Some(b"v")).producer(9, 0, 30).build();
    assert!(!log.append(&next, NOW_MS).unwrap().duplicate);
    let gap = BatchBuilder::new(NOW_MS).record(Some(b"same"), Some(b"v")).producer(9, 0, 40).build();
    assert!(log.append(&gap, NOW_MS).is_err(), "sequence state survived compaction and restart");
}

#[test]
fn delete_policy_does_not_compact() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_segments());
    write_updates(&mut log, 10);
    assert_eq!(log.compact(NOW_MS).unwrap(), Default::default());
}

#[test]
fn compressed_batches_are_compacted_into_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    for round in 0..30 {
        let value = format!("round-{round}");
        let batch = BatchBuilder::new(NOW_MS)
            .record(Some(b"a"), Some(value.as_bytes()))
            .record(Some(format!("unique-{round}").as_bytes()), Some(b"u"))
            .compression(kafka_log::Compression::Zstd)
            .build();
        log.append(&batch, NOW_MS).unwrap();
    }
    let before: Vec<_> = all_records(&log).iter().map(key_value).collect();
    log.compact(NOW_MS).unwrap();
    let after: Vec<_> = all_records(&log).iter().map(key_value).collect();
    let active_base = log.active_segment_base_offset();
    let uniques = before.iter().filter(|r| r.1.starts_with("unique")).count();
    assert_eq!(after.iter().filter(|r| r.1.starts_with("unique")).count(), uniques);
    assert_eq!(after.iter().filter(|r| r.1 == "a" && r.0 < active_base).count(), 1);
    assert!(after.iter().all(|r| before.contains(r)));
}

/// The newest `(offset, key, value)` of every key in `records`.
fn newest_per_key(records: &[(i64, String, Option<String>)]) -> BTreeMap<String, (i64, Option<String>)> {
    records.iter().map(|(offset, key, value)| (key.clone(), (*offset, value.clone()))).collect()
}

fn cleaned_leftovers(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".cleaned"))
        .count()
}

#[test]
fn a_small_offset_map_compacts_over_several_rounds_within_its_capacity() {
    // Several capacities, so that rounds stop at different places relative to segments and
    // to the tombstone.
    for capacity in 2..=6 {
        compact_in_rounds(capacity);
    }
}

fn compact_in_rounds(capacity: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compacted());
    write_updates(&mut log, 20);
    // An expired tombstone of k3, then other keys, so that it lies well inside the closed
    // segments: it may only go once every older k3 is gone.
    let old_ms = NOW_MS - 10_000;
    log.append(&keyed_batch(&[("pad", Some("p")), ("k3", None)], old_ms), NOW_MS).unwrap();
    for round in 0..20 {
        log.append(&keyed_batch(&[("filler", Some(&format!("f{round}")))], NOW_MS), NOW_MS).unwrap();
    }
    let before: Vec<_> = all_records(&log).iter().map(key_value).collect();
    let active_base = log.active_segment_base_offset();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 1000, "compaction does not converge");
        let report = log.compact_bounded(NOW_MS, capacity).unwrap();
        assert!(report.map_entries <= capacity, "{report:?}");
        if report.map_full_at.is_none() {
            break;
        }
    }
    assert!(rounds > 10, "a {capacity}-entry map cannot cover 12 keys in one round ({rounds} rounds)");
    let after: Vec<_> = all_records(&log).iter().map(key_value).collect();
    assert!(after.iter().all(|record| before.contains(record)));
    let closed: Vec<_> = after.iter().filter(|r| r.0 < active_base).collect();
    let mut expected = newest_per_key(&before);
    expected.remove("k3");
    assert_eq!(closed.len(), expected.len(), "one record per key below the active segment: {closed:?}");
    assert_eq!(newest_per_key(&after), expected, "k3's tombstone expired after every older k3 was removed");
    // A round with nothing new to map leaves the log as it is.
    assert_eq!(log.compact_bounded(NOW_MS, capacity).unwrap().segments_rewritten, 0);
}

#[test]
fn a_crash_at_any_step_of_compaction_leaves_the_old_or_the_new_segment() {
    let mut steps = 0;
    let mut crashed_with_leftovers = 0;
    loop {
        assert!(steps < 10_000, "compaction never finished");
        let dir = tempfile::tempdir().unwrap();
        let disk = FaultyDisk::new();
        let mut log = open_with(Arc::new(disk.clone()), dir.path(), compacted());
        write_updates(&mut log, 20);
        let before: Vec<_> = all_records(&log).iter().map(key_value).collect();
        disk.faults.mutations_left.store(steps, Ordering::SeqCst);
        let finished = log.compact(NOW_MS).is_ok();
        drop(log);
        crashed_with_leftovers += usize::from(cleaned_leftovers(dir.path()) > 0);
        let log = open(dir.path(), compacted());
        assert_eq!(cleaned_leftovers(dir.path()), 0, "leftovers removed on open");
        let after: Vec<_> = all_records(&log).iter().map(key_value).collect();
        assert!(after.iter().all(|record| before.contains(record)), "crash after {steps} steps");
        assert_eq!(newest_per_key(&after), newest_per_key(&before), "crash after {steps} steps");
        if finished {
            assert!(after.len() < before.len());
            break;
        }
        steps += 1;
    }
    assert!(steps > 10 && crashed_with_leftovers > 0, "{steps} steps, {crashed_with_leftovers} with leftovers");
}

/// A log shared with appends, as the broker shares it.
struct SharedLog(Mutex<PartitionLog>);

impl LockedLog for SharedLog {
    fn with_log_locked<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> Option<T> {
        Some(f(&mut self.0.lock().unwrap()))
    }
}

/// A compaction round stopped by the gate while it writes its first cleaned copy.
struct PausedRound {
    log: Arc<SharedLog>,
    /// What the log held when the round began.
    before: Vec<(i64, String, Option<String>)>,
    worker: std::thread::JoinHandle<io::Result<CompactionReport>>,
    release: Sender<()>,
}

impl PausedRound {
    fn finish(self) -> CompactionReport {
        self.release.send(()).unwrap();
        self.worker.join().unwrap().unwrap()
    }
}

/// Starts a compaction round on a thread and returns once it is writing its first cleaned
/// copy.
fn compaction_paused_in_its_unlocked_phase(dir: &Path) -> PausedRound {
    let (disk, entered, release) = GateDisk::new(".log.cleaned");
    let mut log = open_with(disk, dir, compacted());
    write_updates(&mut log, 20);
    let before: Vec<_> = all_records(&log).iter().map(key_value).collect();
    let shared = Arc::new(SharedLog(Mutex::new(log)));
    let worker = {
        let shared = shared.clone();
        std::thread::spawn(move || compact_with_short_locks(&*shared, NOW_MS, DEFAULT_COMPACTION_MAP_ENTRIES))
    };
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    PausedRound { log: shared, before, worker, release }
}

#[test]
fn appends_proceed_while_a_compaction_writes_its_copies() {
    let dir = tempfile::tempdir().unwrap();
    let paused = compaction_paused_in_its_unlocked_phase(dir.path());
    let (shared, before) = (paused.log.clone(), paused.before.clone());
    {
        let mut log = shared.0.try_lock().expect("the round holds the partition lock while it writes");
        let segments = log.segment_count();
        for round in 0..30 {
            log.append(&keyed_batch(&[("k0", Some(&format!("late{round}"))), ("new", Some("n"))], NOW_MS), NOW_MS)
                .unwrap();
        }
        assert!(log.segment_count() > segments, "appends rolled new segments meanwhile");
    }
    let report = paused.finish();
    assert!(report.segments_rewritten > 0 && report.records_removed > 0, "{report:?}");
    let log = shared.0.lock().unwrap();
    let after: Vec<_> = all_records(&log).iter().map(key_value).collect();
    let newest = newest_per_key(&after);
    assert_eq!(newest["k0"].1.as_deref(), Some("late29"));
    assert_eq!(newest["new"].1.as_deref(), Some("n"));
    for key in 1..10 {
        let name = format!("k{key}");
        assert_eq!(newest[&name], newest_per_key(&before)[&name]);
    }
    assert_eq!(after.iter().filter(|r| r.1 == "new").count(), 30, "the active part is left as it is");
    assert_eq!(cleaned_leftovers(dir.path()), 0);
}

#[test]
fn a_segment_deleted_during_compaction_is_not_brought_back() {
    let dir = tempfile::tempdir().unwrap();
    let paused = compaction_paused_in_its_unlocked_phase(dir.path());
    let shared = paused.log.clone();
    let end = {
        let mut log = shared.0.try_lock().unwrap();
        let end = log.log_end_offset();
        log.delete_records_before(end).unwrap();
        assert_eq!(log.segment_count(), 1);
        end
    };
    let report = paused.finish();
    assert_eq!(report.segments_rewritten, 0, "{report:?}");
    let log = shared.0.lock().unwrap();
    assert_eq!((log.segment_count(), log.log_start_offset()), (1, end));
    assert_eq!(cleaned_leftovers(dir.path()), 0);
    drop(log);
    let log = open(dir.path(), compacted());
    assert_eq!((log.segment_count(), log.log_start_offset(), log.log_end_offset()), (1, end, end));
}
