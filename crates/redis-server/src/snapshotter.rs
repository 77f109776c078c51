//! Snapshots of databases and the log truncation they allow: a snapshot thread per node
//! takes them when the log since the last one grows past max(64 MiB, the last snapshot's
//! size), or on BGSAVE, holding the tenant lock only for short slices (copy-on-write per key
//! in `keyspace::db::snapshot`); SAVE takes one at once under the lock, as Redis's SAVE does.
//! Once a snapshot at offset O is durable, older snapshots and log segments entirely at or
//! below O are deleted.

use crate::node::Node;
use crate::persistence::{Persistence, SnapshotStatus};
use crate::tenant::{Tenant, TenantId};
use durability::segments;
use keyspace::db::{for_each_copied, SliceBudget, SliceProgress};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFailure {
    #[error("Background save already in progress")]
    Running,
    #[error("writing the snapshot: {0}")]
    Io(#[from] std::io::Error),
}

/// What one finished snapshot did.
#[derive(Clone, Debug, Default)]
pub struct SnapshotReport {
    pub offset: u64,
    pub keys: u64,
    pub bytes: u64,
    pub slices: u64,
    /// Longest time one slice held the tenant lock.
    pub max_pause: Duration,
    pub duration: Duration,
}

/// Pause statistics of the slices of one snapshot.
#[derive(Default)]
struct Pauses {
    slices: u64,
    longest: Duration,
    total: Duration,
    /// Slices that held the lock for more than 2 ms (the budget is 1 ms).
    over_2ms: u64,
}

impl Pauses {
    fn add(&mut self, held: Duration) {
        self.slices += 1;
        self.longest = self.longest.max(held);
        self.total += held;
        self.over_2ms += u64::from(held > Duration::from_millis(2));
    }
}

impl Persistence {
    /// Asks the snapshot thread for a snapshot (BGSAVE). False when one is already running
    /// or asked for.
    pub fn request_snapshot(&self, id: &TenantId) -> bool {
        {
            let mut statuses = self.statuses.lock();
            let status = statuses.entry(id.clone()).or_default();
            if status.in_progress {
                return false;
            }
            status.in_progress = true;
        }
        self.requested.lock().insert(id.clone());
        self.snapshot_wake.notify_one();
        true
    }

    /// The snapshot thread: serves BGSAVE requests and takes automatic snapshots, one at a
    /// time, so that at most one database's snapshot competes with the traffic.
    pub fn run_snapshotter(self: Arc<Self>, node: Arc<Node>) {
        loop {
            let mut ids: Vec<TenantId> = {
                let mut requested = self.requested.lock();
                if requested.is_empty() {
                    self.snapshot_wake.wait_for(&mut requested, Duration::from_millis(100));
                }
                requested.drain().collect()
            };
            for id in self.due_for_snapshot() {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            for id in ids {
                match node.tenants.get(&id) {
                    Some(tenant) => {
                        let _ = self.snapshot_in_background(&tenant);
                    }
                    None => self.set_status(&id, |s| s.in_progress = false),
                }
            }
        }
    }

    /// Databases whose log since their last snapshot passed the threshold.
    fn due_for_snapshot(&self) -> Vec<TenantId> {
        let min_bytes = self.snapshot_min_log_bytes.load(Ordering::Relaxed);
        // Each log is looked at after the map's lock is released: a writer may hold one
        // across an fsync.
        let logs: Vec<_> = self.writers.lock().iter().map(|(id, log)| (id.clone(), log.clone())).collect();
        logs.into_iter()
            .filter(|(id, log)| {
                let bytes = log.lock().writer.bytes;
                let last_snapshot = self.statuses.lock().get(id).map_or(0, |s| s.last_snapshot_bytes);
                bytes > min_bytes.max(last_snapshot)
            })
            .map(|(id, _)| id)
            .collect()
    }

    fn set_status(&self, id: &TenantId, change: impl FnOnce(&mut SnapshotStatus)) {
        change(self.statuses.lock().entry(id.clone()).or_default());
    }

    /// Takes a snapshot of `tenant`, holding its lock only for slices of about a
    /// millisecond, then cuts the log. Used by the snapshot thread (and tests).
    pub fn snapshot_in_background(&self, tenant: &Tenant) -> Result<SnapshotReport, SnapshotFailure> {
        let started = Instant::now();
        let began = {
            let mut state = tenant.state.lock();
            let (dirty, keys) = (state.db.dirty, state.db.len() as u64);
            state.db.begin_snapshot().map(|offset| (offset, dirty, keys))
        };
        let Some((offset, dirty, keys_hint)) = began else {
            // Another snapshot of the keyspace runs (a replica's full copy): this one is not
            // taken, and a BGSAVE that asked for it must not stay "in progress".
            self.set_status(&tenant.id, |s| s.in_progress = false);
            return Err(SnapshotFailure::Running);
        };
        self.set_status(&tenant.id, |s| s.in_progress = true);
        // New records go to a fresh segment, so that once the snapshot is durable every
        // older segment holds only records it covers.
        self.rotate_log(tenant);
        let budget = SliceBudget::default();
        let mut pauses = Pauses::default();
        let written = self.write_snapshot(&tenant.id, (offset, keys_hint), |buf| {
            let mut state = tenant.state.lock();
            let held = Instant::now();
            let progress = state.db.snapshot_slice(buf, &budget);
            drop(state);
            pauses.add(held.elapsed());
            // Let the tenant's connections take the lock before the next slice.
            std::thread::yield_now();
            progress
        });
        if written.is_err() {
            tenant.state.lock().db.abort_snapshot();
        }
        self.finish(tenant, offset, dirty, written, pauses, started)
    }

    /// SAVE: the whole snapshot at once, under the tenant lock the caller holds (`db`).
    pub fn save_now(&self, tenant: &Tenant, db: &mut keyspace::Db) -> Result<SnapshotReport, SnapshotFailure> {
        let started = Instant::now();
        if self.status(&tenant.id).in_progress {
            return Err(SnapshotFailure::Running);
        }
        let dirty = db.dirty;
        let offset = db.begin_snapshot().ok_or(SnapshotFailure::Running)?;
        self.set_status(&tenant.id, |s| s.in_progress = true);
        let budget = SliceBudget { max_time: Duration::MAX, max_bytes: 4 << 20 };
        let mut pauses = Pauses::default();
        let written = self.write_snapshot(&tenant.id, (offset, db.len() as u64), |buf| {
            pauses.slices += 1;
            db.snapshot_slice(buf, &budget)
        });
        if written.is_err() {
            db.abort_snapshot();
        }
        pauses.longest = started.elapsed();
        self.finish(tenant, offset, dirty, written, pauses, started)
    }

    /// Writes the snapshot file from successive slices; returns its path and entry count.
    fn write_snapshot(
        &self,
        id: &TenantId,
        (offset, keys_hint): (u64, u64),
        mut next_slice: impl FnMut(&mut Vec<u8>) -> SliceProgress,
    ) -> std::io::Result<(PathBuf, u64)> {
        let created_ms = crate::context::unix_time_ms();
        let dir = self.tenant_dir(id);
        let mut file = durability::SnapshotWriter::create(self.disk.clone(), &dir, offset, created_ms, keys_hint)?;
        let mut buf = Vec::new();
        loop {
            let progress = next_slice(&mut buf);
            let mut result = Ok(());
            for_each_copied(&buf, |entry| {
                if result.is_ok() {
                    result = file.append(entry);
                }
            });
            result?;
            buf.clear();
            if progress == SliceProgress::Done {
                break;
            }
        }
        let keys = file.records;
        Ok((file.finish()?, keys))
    }

    /// Records the outcome; after a success deletes what the snapshot made obsolete.
    fn finish(
        &self,
        tenant: &Tenant,
        offset: u64,
        dirty: u64,
        written: std::io::Result<(PathBuf, u64)>,
        pauses: Pauses,
        started: Instant,
    ) -> Result<SnapshotReport, SnapshotFailure> {
        let (path, keys) = match written {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(db = %tenant.id, offset, error = %e, "snapshot failed; the change log is kept whole");
                self.set_status(&tenant.id, |s| {
                    s.in_progress = false;
                    s.last_failed = true;
                });
                return Err(SnapshotFailure::Io(e));
            }
        };
        let bytes = self.disk.size(&path).unwrap_or(0);
        let listing = segments::list(self.disk.as_ref(), &self.tenant_dir(&tenant.id));
        let older_log_bytes = match listing {
            Ok(listing) => Some(self.remove_obsolete(&tenant.id, &listing, offset)),
            Err(e) => {
                tracing::warn!(db = %tenant.id, error = %e, "cannot list the database folder to cut the log");
                None
            }
        };
        let report = SnapshotReport {
            offset,
            keys,
            bytes,
            slices: pauses.slices,
            max_pause: pauses.longest,
            duration: started.elapsed(),
        };
        self.set_status(&tenant.id, |s| {
            *s = SnapshotStatus {
                last_save_unix_s: crate::context::unix_time_ms() / 1000,
                in_progress: false,
                last_failed: false,
                dirty_at_last_save: dirty,
                last_snapshot_bytes: bytes,
                last_max_pause_us: report.max_pause.as_micros() as u64,
                last_duration_ms: report.duration.as_millis() as u64,
                older_log_bytes: older_log_bytes.unwrap_or(s.older_log_bytes),
            }
        });
        tracing::info!(db = %tenant.id, offset, keys, bytes, slices = report.slices,
            max_pause_us = report.max_pause.as_micros() as u64,
            mean_pause_us = pauses.total.as_micros() as u64 / pauses.slices.max(1),
            slices_over_2ms = pauses.over_2ms, ms = report.duration.as_millis() as u64,
            "snapshot written; older log segments removed");
        Ok(report)
    }

    /// Starts a new log segment after the last record written, unless the current segment
    /// holds no record yet. A failure only means the log is cut later.
    fn rotate_log(&self, tenant: &Tenant) {
        let Some(log) = self.log_of(&tenant.id) else { return };
        let mut log = log.lock();
        let base = log.writer.last_written_offset;
        if log.closed || base <= log.base {
            return;
        }
        let old_bytes = log.writer.bytes;
        match log.writer.rotate(&segments::segment_path(&self.tenant_dir(&tenant.id), base)) {
            Ok(()) => {
                log.base = base;
                self.set_status(&tenant.id, |s| s.older_log_bytes += old_bytes);
                let synced = log.writer.last_synced_offset;
                let moved = tenant.durable_offset.send_if_modified(|d| {
                    let moved = synced > *d;
                    *d = (*d).max(synced);
                    moved
                });
                if moved {
                    self.durable_waits.ring();
                }
            }
            Err(e) => tracing::warn!(db = %tenant.id, error = %e, "cannot start a new log segment"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeLimits;
    use crate::persistence::FsyncPolicy;
    use crate::tenant::TenantConfig;
    use crate::testing::TestClient;
    use durability::{Disk, RealDisk};
    use keyspace::Entry;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tern-snapshotter-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn cfg() -> TenantConfig {
        TenantConfig {
            id: TenantId("db".into()),
            password: "pw".into(),
            limits: Default::default(),
            role: Default::default(),
        }
    }

    fn node_on(dir: &Path, disk: Arc<dyn Disk>) -> (Arc<Node>, Arc<Persistence>, Arc<Tenant>) {
        let mut node = Node::new(NodeLimits::default(), "test".into(), 0);
        let p = Persistence::new(dir.to_path_buf(), FsyncPolicy::Always, disk);
        node.persistence = Some(p.clone());
        let node = Arc::new(node);
        let tenant = node.upsert_tenant(&cfg()).unwrap();
        (node, p, tenant)
    }

    type State = BTreeMap<Vec<u8>, Entry>;

    fn live_state(db: &mut keyspace::Db, now_ms: u64) -> State {
        db.set_clock(now_ms);
        let mut out = State::new();
        db.for_each_live(|k, e| {
            let mut e = e.clone();
            // Replaying XREADGROUP from the log stamps consumers with the replay clock (a
            // known imprecision of log replay that snapshots do not have): not compared.
            if let keyspace::Value::Stream(st) = &mut e.value {
                for c in st.groups.values_mut().flat_map(|g| g.consumers.values_mut()) {
                    c.seen_time_ms = 0;
                    c.active_time_ms = None;
                }
            }
            out.insert(k.to_vec(), e);
        });
        out
    }

    /// The keys on which two states differ (a short list, readable in a failure).
    fn differences(a: &State, b: &State) -> Vec<String> {
        let keys: std::collections::BTreeSet<&Vec<u8>> = a.keys().chain(b.keys()).collect();
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .take(5)
            .map(|k| format!("{}: {:?} vs {:?}", String::from_utf8_lossy(k), a.get(k), b.get(k)))
            .collect()
    }

    /// Commands touching every type, TTLs, deletes, renames and stream groups.
    fn random_command(c: &mut TestClient, i: u64) {
        let k = format!("k{}", (i * 7919) % 40_000);
        let other = format!("k{}", (i * 104_729) % 40_000);
        let n = i.to_string();
        let args: Vec<&str> = match i % 11 {
            0 => vec!["SET", &k, &n],
            1 => vec!["DEL", &k],
            2 => vec!["RPUSH", &k, &n, "x"],
            3 => vec!["HSET", &k, "f", &n],
            4 => vec!["SADD", &k, &n],
            5 => vec!["ZADD", &k, &n, "m"],
            6 => vec!["XADD", &k, "*", "f", &n],
            7 => vec!["EXPIRE", &k, "1000"],
            8 => vec!["RENAME", &k, &other],
            9 => vec!["INCR", &k],
            _ => vec!["PERSIST", &k],
        };
        c.cmd(&args);
        if i.is_multiple_of(50) {
            c.cmd(&["XGROUP", "CREATE", &k, "g", "0", "MKSTREAM"]);
            c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", &k, ">"]);
        }
    }

    /// State at `offset`, from replaying the whole log up to it on a fresh database.
    fn replayed_until(node: &Arc<Node>, dir: &Path, offset: u64) -> keyspace::Db {
        let tdir = dir.join("db");
        let listing = segments::list(&RealDisk, &tdir).unwrap();
        let all = segments::recover_after(&RealDisk, &tdir, &listing.segment_bases, 0).unwrap();
        let until: Vec<(u64, Vec<u8>)> = all.records.into_iter().filter(|(o, _)| *o <= offset).collect();
        assert_eq!(until.last().map(|r| r.0), Some(offset), "the log holds every record up to the snapshot");
        let mut db = keyspace::Db::default();
        crate::persistence::replay(node, &mut db, &until);
        db
    }

    #[test]
    fn snapshot_during_writes_is_the_state_at_its_offset_and_reload_gives_the_live_state() {
        let dir = temp_dir("concurrent");
        let (node, p, tenant) = node_on(&dir, {
            // Segments are kept so the test can replay the whole history.
            let faults = durability::Faults::default();
            faults.keep_files.store(true, std::sync::atomic::Ordering::SeqCst);
            Arc::new(durability::FaultyDisk { faults: Arc::new(faults) })
        });
        let mut c = TestClient::attach(node.clone(), tenant.clone());
        for i in 0..60_000 {
            random_command(&mut c, i);
        }
        c.cmd(&["SET", "short", "v", "PX", "1"]);
        p.write_tenant(&tenant, false);
        let worker = {
            let (p, tenant) = (p.clone(), tenant.clone());
            std::thread::spawn(move || p.snapshot_in_background(&tenant).unwrap())
        };
        let mut during = 0u64;
        while !worker.is_finished() && during < 200_000 {
            random_command(&mut c, 60_000 + during);
            if during == 300 {
                c.cmd(&["FLUSHDB"]);
            }
            during += 1;
            if during.is_multiple_of(20) {
                p.write_tenant(&tenant, false);
            }
        }
        let report = worker.join().unwrap();
        for i in 0..500 {
            random_command(&mut c, 300_000 + i);
        }
        p.write_tenant(&tenant, false);
        assert!(report.slices > 1, "the snapshot ran in slices");
        assert!(during > 0, "writes ran during the snapshot");
        let now = crate::context::unix_time_ms();

        // The snapshot alone is exactly the state at its offset.
        let mut from_log = replayed_until(&node, &dir, report.offset);
        let mut from_snapshot = keyspace::Db::default();
        let snapshot_path = dir.join("db").join(durability::snapshot_name(report.offset));
        p.load_snapshot(&mut from_snapshot, &snapshot_path).unwrap();
        let diff = differences(&live_state(&mut from_snapshot, now), &live_state(&mut from_log, now));
        assert!(diff.is_empty(), "snapshot vs log replayed to its offset: {diff:#?}");

        // Snapshot + the log after it = the live state.
        let live = live_state(&mut tenant.state.lock().db, now);
        let (_node2, _p2, tenant2) = node_on(&dir, Arc::new(RealDisk));
        let diff = differences(&live_state(&mut tenant2.state.lock().db, now), &live);
        assert!(diff.is_empty(), "reloaded vs live: {diff:#?}");
        assert_eq!(tenant2.state.lock().db.change_log.last_offset(), tenant.state.lock().db.change_log.last_offset());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names = RealDisk.list(&dir.join("db")).unwrap();
        names.sort();
        names
    }

    #[test]
    fn truncation_keeps_one_snapshot_and_the_segment_after_it() {
        let dir = temp_dir("truncate");
        let (node, p, tenant) = node_on(&dir, Arc::new(RealDisk));
        let mut c = TestClient::attach(node, tenant.clone());
        for round in 0..4u64 {
            for i in 0..500 {
                c.cmd(&["SET", &format!("k{}", i % 50), &format!("{round}-{i}")]);
            }
            p.write_tenant(&tenant, false);
            let report = p.snapshot_in_background(&tenant).unwrap();
            let names = files(&dir);
            let log = segments::segment_name(report.offset);
            assert_eq!(names, vec![log, durability::snapshot_name(report.offset)], "round {round}");
        }
        assert!(p.status(&tenant.id).last_save_unix_s > 0);
        assert_eq!(p.status(&tenant.id).older_log_bytes, 0);
        let (_n, _p, t2) = node_on(&dir, Arc::new(RealDisk));
        let mut c2 = TestClient::attach(_n, t2);
        assert_eq!(c2.cmd(&["GET", "k49"]), crate::testing::bulk("3-499"));
        assert_eq!(c2.cmd(&["DBSIZE"]), resp::Reply::Integer(50));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn copy_dir(from: &Path, to: &Path) {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to.join("db")).unwrap();
        for name in RealDisk.list(&from.join("db")).unwrap() {
            std::fs::copy(from.join("db").join(&name), to.join("db").join(&name)).unwrap();
        }
    }

    fn reload_get(dir: &Path, keys: &[&str]) -> Result<resp::Reply, String> {
        let mut node = Node::new(NodeLimits::default(), "test".into(), 0);
        node.persistence = Some(Persistence::new(dir.to_path_buf(), FsyncPolicy::Always, Arc::new(RealDisk)));
        let node = Arc::new(node);
        let tenant = node.upsert_tenant(&cfg()).map_err(|e| e.to_string())?;
        let mut c = TestClient::attach(node, tenant);
        let mut args = vec!["MGET"];
        args.extend_from_slice(keys);
        Ok(c.cmd(&args))
    }

    #[test]
    fn a_crash_at_each_step_recovers() {
        let dir = temp_dir("steps");
        let (node, p, tenant) = node_on(&dir, Arc::new(RealDisk));
        let mut c = TestClient::attach(node, tenant.clone());
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["SET", "b", "1"]);
        p.write_tenant(&tenant, false);
        let before = temp_dir("steps-before");
        copy_dir(&dir, &before);
        let report = p.snapshot_in_background(&tenant).unwrap();
        c.cmd(&["SET", "b", "2"]);
        p.write_tenant(&tenant, false);
        let want = crate::testing::arr(&["1", "2"]);
        let snapshot = durability::snapshot_name(report.offset);
        let scratch = temp_dir("steps-scratch");

        // Crash while writing: only a temporary file exists beside the old log.
        copy_dir(&before, &scratch);
        std::fs::write(scratch.join("db").join(format!("{snapshot}.tmp")), b"half a snapshot").unwrap();
        assert_eq!(reload_get(&scratch, &["a", "b"]).unwrap(), crate::testing::arr(&["1", "1"]));
        assert!(!files(&scratch).iter().any(|n| n.ends_with(".tmp")), "leftover removed");

        // The log was rotated, but the snapshot never written: old and new segments chain.
        copy_dir(&before, &scratch);
        let newer = segments::segment_name(report.offset);
        std::fs::copy(dir.join("db").join(&newer), scratch.join("db").join(&newer)).unwrap();
        assert_eq!(reload_get(&scratch, &["a", "b"]).unwrap(), want);

        // Renamed, but the old log not cut yet (and the newer segment present).
        copy_dir(&before, &scratch);
        for name in files(&dir) {
            std::fs::copy(dir.join("db").join(&name), scratch.join("db").join(&name)).unwrap();
        }
        assert_eq!(reload_get(&scratch, &["a", "b"]).unwrap(), want);
        assert_eq!(files(&scratch), files(&dir), "obsolete segments removed on load");

        // The snapshot reached the disk but the log's last records did not (everysec).
        copy_dir(&before, &scratch);
        std::fs::write(scratch.join("db").join("changes.log"), b"").unwrap();
        std::fs::copy(dir.join("db").join(&snapshot), scratch.join("db").join(&snapshot)).unwrap();
        assert_eq!(reload_get(&scratch, &["a", "b"]).unwrap(), crate::testing::arr(&["1", "1"]));
        // ... and it keeps working: a write, then another reload.
        {
            let mut node = Node::new(NodeLimits::default(), "test".into(), 0);
            let p3 = Persistence::new(scratch.clone(), FsyncPolicy::Always, Arc::new(RealDisk));
            node.persistence = Some(p3.clone());
            let node = Arc::new(node);
            let t3 = node.upsert_tenant(&cfg()).unwrap();
            TestClient::attach(node, t3.clone()).cmd(&["SET", "b", "3"]);
            p3.write_tenant(&t3, false);
        }
        assert_eq!(reload_get(&scratch, &["a", "b"]).unwrap(), crate::testing::arr(&["1", "3"]));

        // A damaged snapshot refuses the database.
        copy_dir(&dir, &scratch);
        let path = scratch.join("db").join(&snapshot);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let err = reload_get(&scratch, &["a"]).unwrap_err();
        assert!(err.contains("corrupt"), "{err}");
        for d in [dir, before, scratch] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn a_failed_fsync_abandons_the_snapshot_and_keeps_the_log() {
        use durability::{Faults, FaultyDisk};
        let dir = temp_dir("fsync");
        let faults = Arc::new(Faults::default());
        let (node, p, tenant) = node_on(&dir, Arc::new(FaultyDisk { faults: faults.clone() }));
        let mut c = TestClient::attach(node, tenant.clone());
        c.cmd(&["SET", "a", "1"]);
        p.write_tenant(&tenant, false);
        faults.fail_sync.store(true, Ordering::SeqCst);
        assert!(matches!(p.snapshot_in_background(&tenant), Err(SnapshotFailure::Io(_))));
        let status = p.status(&tenant.id);
        assert!(status.last_failed && !status.in_progress);
        assert_eq!(tenant.state.lock().db.snapshot_offset(), None, "tracking stopped");
        assert!(files(&dir).contains(&"changes.log".to_string()), "the log is kept whole");
        faults.fail_sync.store(false, Ordering::SeqCst);
        c.cmd(&["SET", "b", "2"]);
        p.write_tenant(&tenant, false);
        p.snapshot_in_background(&tenant).unwrap();
        assert!(!p.status(&tenant.id).last_failed);
        assert_eq!(reload_get(&dir, &["a", "b"]).unwrap(), crate::testing::arr(&["1", "2"]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn functions_survive_a_snapshot_that_cut_the_log() {
        let dir = temp_dir("functions");
        let (node, p, tenant) = node_on(&dir, Arc::new(RealDisk));
        let mut c = TestClient::attach(node, tenant.clone());
        let lib = "#!lua name=lib\nredis.register_function('f', function(k) return redis.call('get', k[1]) end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), crate::testing::bulk("lib"));
        c.cmd(&["SET", "k", "v"]);
        p.write_tenant(&tenant, false);
        p.snapshot_in_background(&tenant).unwrap();
        // The log that held FUNCTION LOAD is gone: only the snapshot can bring it back.
        assert_eq!(files(&dir), vec!["changes.2.log", "snapshot.2.tern"]);
        let mut node2 = Node::new(NodeLimits::default(), "test".into(), 0);
        node2.persistence = Some(Persistence::new(dir.to_path_buf(), FsyncPolicy::Always, Arc::new(RealDisk)));
        let node2 = Arc::new(node2);
        let tenant2 = node2.upsert_tenant(&cfg()).unwrap();
        let mut c2 = TestClient::attach(node2, tenant2);
        assert_eq!(c2.cmd(&["FCALL", "f", "1", "k"]), crate::testing::bulk("v"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_and_bgsave_commands() {
        let dir = temp_dir("commands");
        let (node, p, tenant) = node_on(&dir, Arc::new(RealDisk));
        let mut c = TestClient::attach(node, tenant.clone());
        c.cmd(&["SET", "k", "v"]);
        assert_eq!(c.cmd(&["SAVE"]), crate::testing::ok());
        assert_eq!(p.status(&tenant.id).dirty_at_last_save, tenant.state.lock().db.dirty);
        assert_eq!(c.cmd(&["BGSAVE"]), resp::Reply::Status("Background saving started".into()));
        assert!(matches!(c.cmd(&["BGSAVE"]), resp::Reply::Error(e) if e.contains("already in progress")));
        assert_eq!(c.cmd(&["BGSAVE", "SCHEDULE"]), resp::Reply::Status("Background saving scheduled".into()));
        assert!(matches!(c.cmd(&["BGSAVE", "NOW"]), resp::Reply::Error(e) if e.contains("syntax")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
