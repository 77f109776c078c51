//! Keeps every database's change log on disk: replays it when the database is loaded, and a
//! writer thread appends new records with group commit. Under `always` a connection sends
//! the replies of a batch that wrote only once the batch's last record is fsynced; under
//! `everysec` the log is fsynced at least once a second.

use crate::context::{ClientHandle, ClientState, Ctx};
use crate::node::Node;
use crate::tenant::{Tenant, TenantId};
use bytes::Bytes;
use durability::{Disk, LogWriter};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// A reply leaves only after its write is on disk (many writes share one fsync).
    Always,
    /// fsync at least once a second: a crash loses at most about one second of writes.
    EverySec,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            other => Err(format!("unknown fsync policy '{other}' (use always or everysec)")),
        }
    }
}

impl FsyncPolicy {
    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
        }
    }
}

/// In-memory backlog per database when persistence is on: the writer must find every record
/// it has not written yet, so the backlog is sized for bursts between two writer rounds.
pub const PERSISTENT_BACKLOG_BYTES: usize = 64 * 1024 * 1024;

pub struct Persistence {
    pub data_dir: PathBuf,
    pub policy: FsyncPolicy,
    disk: Arc<dyn Disk>,
    writers: Mutex<HashMap<TenantId, LogWriter>>,
    dirty: Mutex<HashSet<TenantId>>,
    wake: Condvar,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Recovery(#[from] durability::RecoveryError),
    #[error("opening the change log: {0}")]
    Io(#[from] std::io::Error),
}

impl Persistence {
    pub fn new(data_dir: PathBuf, policy: FsyncPolicy, disk: Arc<dyn Disk>) -> Arc<Self> {
        Arc::new(Persistence {
            data_dir,
            policy,
            disk,
            writers: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            wake: Condvar::new(),
        })
    }

    fn log_path(&self, id: &TenantId) -> PathBuf {
        durability::log_path(&self.data_dir, &id.0)
    }

    /// Replays a database's log into its (fresh) keyspace and opens the log for appending.
    /// Runs before the database is reachable by any client.
    pub fn load(&self, node: &Arc<Node>, tenant: &Tenant) -> Result<(), LoadError> {
        let path = self.log_path(&tenant.id);
        let recovery = durability::recover(self.disk.as_ref(), &path)?;
        if recovery.torn_tail_bytes > 0 {
            tracing::warn!(
                db = %tenant.id,
                bytes = recovery.torn_tail_bytes,
                "change log ends in a torn write (crash during append): cutting it to the last good record"
            );
        }
        let last_offset = recovery.records.last().map_or(0, |(o, _)| *o);
        let mut state = tenant.state.lock();
        replay(node, &mut state.db, &recovery.records);
        state.db.change_log = keyspace::ChangeLog::starting_after(last_offset, PERSISTENT_BACKLOG_BYTES);
        drop(state);
        let writer = LogWriter::open(self.disk.clone(), &path, recovery.good_len, last_offset)?;
        tenant.durable_offset.send_replace(last_offset);
        tracing::info!(db = %tenant.id, records = recovery.records.len(), "database loaded from its change log");
        self.writers.lock().insert(tenant.id.clone(), writer);
        Ok(())
    }

    /// Forgets a database and deletes its files (the database was destroyed).
    pub fn destroy(&self, id: &TenantId) {
        self.writers.lock().remove(id);
        if let Some(dir) = self.log_path(id).parent() {
            if let Err(e) = self.disk.remove_dir_all(dir) {
                tracing::error!(db = %id, error = %e, "cannot delete the files of a destroyed database");
            }
        }
    }

    /// Tells the writer that a database has new records.
    pub fn notify(&self, id: &TenantId) {
        let mut dirty = self.dirty.lock();
        if !dirty.contains(id) {
            dirty.insert(id.clone());
        }
        self.wake.notify_one();
    }

    /// The writer loop (one thread per node): group commit across all connections.
    pub fn run_writer(self: Arc<Self>, node: Arc<Node>) {
        let mut last_sync = Instant::now();
        loop {
            let ids: Vec<TenantId> = {
                let mut dirty = self.dirty.lock();
                if dirty.is_empty() {
                    self.wake.wait_for(&mut dirty, Duration::from_millis(200));
                }
                dirty.drain().collect()
            };
            let sync_due = self.policy == FsyncPolicy::EverySec && last_sync.elapsed() >= Duration::from_secs(1);
            let ids: Vec<TenantId> = if sync_due { self.writers.lock().keys().cloned().collect() } else { ids };
            for id in ids {
                if let Some(tenant) = node.tenants.get(&id) {
                    self.write_tenant(&tenant, sync_due);
                }
            }
            if sync_due {
                last_sync = Instant::now();
            }
        }
    }

    fn write_tenant(&self, tenant: &Tenant, sync_due: bool) {
        let mut writers = self.writers.lock();
        let Some(writer) = writers.get_mut(&tenant.id) else { return };
        let state = tenant.state.lock();
        let trimmed = match state.db.change_log.read_after(writer.last_written_offset) {
            Ok(records) => {
                for r in records {
                    writer.push(r.offset, r.encoded());
                }
                None
            }
            Err(trimmed) => Some(trimmed),
        };
        drop(state);
        if let Some(trimmed) = trimmed {
            tracing::error!(db = %tenant.id, oldest = trimmed.oldest_available, written = writer.last_written_offset,
                "change-log backlog overflowed before the writer caught up: the disk copy misses records");
            tenant.disk_error.store(true, Ordering::SeqCst);
            return;
        }
        let sync = self.policy == FsyncPolicy::Always || sync_due;
        match writer.flush(sync) {
            Ok(()) => {
                if tenant.disk_error.swap(false, Ordering::SeqCst) {
                    tracing::info!(db = %tenant.id, "change log writable again");
                }
                tenant.log_bytes.store(writer.bytes, Ordering::Relaxed);
                tenant.durable_offset.send_replace(writer.last_synced_offset);
            }
            Err(e) => {
                if !tenant.disk_error.swap(true, Ordering::SeqCst) {
                    tracing::error!(db = %tenant.id, error = %e, "cannot write the change log: refusing writes until it works again");
                }
                // Wake waiting connections so they see the error instead of hanging.
                tenant.durable_offset.send_modify(|_| {});
                // Retry soon.
                self.dirty.lock().insert(tenant.id.clone());
            }
        }
    }
}

/// Re-applies logged commands, through the same command table as clients use.
fn replay(node: &Arc<Node>, db: &mut keyspace::Db, records: &[(u64, Vec<u8>)]) {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let handle = Arc::new(ClientHandle::new(0, "replay".into(), "replay".into(), 0, tx.clone()));
    let mut client = ClientState::new(handle, tx);
    client.in_exec = true;
    db.set_clock(crate::context::unix_time_ms());
    for (offset, payload) in records {
        let args = keyspace::changelog::decode_args(&Bytes::copy_from_slice(payload));
        let Some(name) = args.first() else { continue };
        if crate::args::is(name, "MULTI") || crate::args::is(name, "EXEC") {
            continue;
        }
        let Some(spec) = crate::command::COMMANDS.lookup(name) else {
            tracing::error!(offset, command = %crate::exec::printable(name, 64), "unknown command in the change log: skipped");
            continue;
        };
        let mut ctx = Ctx::new(db, &mut client, node);
        if let resp::Reply::Error(e) = crate::exec::call(&mut ctx, spec, &args) {
            tracing::warn!(offset, error = %e, "a logged command failed on replay");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeLimits;
    use crate::tenant::TenantConfig;
    use crate::testing::{bulk, ok, TestClient};
    use durability::{Faults, FaultyDisk};
    use std::sync::atomic::Ordering;

    fn node_with(dir: &std::path::Path, policy: FsyncPolicy, disk: Arc<dyn Disk>) -> (Arc<Node>, Arc<Persistence>) {
        let mut node = Node::new(NodeLimits::default(), "test".into(), 0);
        let p = Persistence::new(dir.to_path_buf(), policy, disk);
        node.persistence = Some(p.clone());
        (Arc::new(node), p)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tern-persist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn cfg() -> TenantConfig {
        TenantConfig { id: TenantId("db".into()), password: "pw".into(), limits: Default::default() }
    }

    #[test]
    fn data_survives_a_reload_with_ttls() {
        let dir = temp_dir("reload");
        let (node, p) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let tenant = node.upsert_tenant(&cfg()).unwrap();
        let mut c = TestClient::attach(node.clone(), tenant.clone());
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["SET", "gone", "x", "PX", "1"]);
        c.cmd(&["SET", "ttl", "x", "EX", "100"]);
        c.cmd(&["MULTI"]);
        c.cmd(&["INCR", "a"]);
        c.cmd(&["RPUSH", "l", "p", "q"]);
        c.cmd(&["EXEC"]);
        p.write_tenant(&tenant, false);
        assert_eq!(*tenant.durable_offset.borrow(), tenant.state.lock().db.change_log.last_offset());
        std::thread::sleep(Duration::from_millis(5));
        // A fresh node on the same folder sees the same data; the expired key stays gone.
        let (node2, _) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let tenant2 = node2.upsert_tenant(&cfg()).unwrap();
        let mut c2 = TestClient::attach(node2, tenant2.clone());
        assert_eq!(c2.cmd(&["GET", "a"]), bulk("2"));
        assert_eq!(c2.cmd(&["GET", "gone"]), resp::Reply::Nil);
        assert!(matches!(c2.cmd(&["TTL", "ttl"]), resp::Reply::Integer(t) if (98..=100).contains(&t)));
        assert_eq!(c2.cmd(&["LRANGE", "l", "0", "-1"]), crate::testing::arr(&["p", "q"]));
        // New writes continue the offsets.
        let before = tenant2.state.lock().db.change_log.last_offset();
        c2.cmd(&["SET", "b", "1"]);
        assert_eq!(tenant2.state.lock().db.change_log.last_offset(), before + 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn full_disk_and_failed_fsync_refuse_writes_but_not_reads() {
        let dir = temp_dir("faults");
        let faults = Arc::new(Faults::default());
        let (node, p) = node_with(&dir, FsyncPolicy::Always, Arc::new(FaultyDisk { faults: faults.clone() }));
        let tenant = node.upsert_tenant(&cfg()).unwrap();
        let mut c = TestClient::attach(node.clone(), tenant.clone());
        assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
        p.write_tenant(&tenant, false);
        assert!(!tenant.disk_error.load(Ordering::SeqCst));
        // Disk full.
        faults.space_left_bytes.store(faults.written_bytes.load(Ordering::SeqCst) + 5, Ordering::SeqCst);
        c.cmd(&["SET", "k2", "a value that does not fit"]);
        p.write_tenant(&tenant, false);
        assert!(tenant.disk_error.load(Ordering::SeqCst));
        assert!(matches!(c.cmd(&["SET", "k3", "v"]), resp::Reply::Error(e) if e.starts_with("MISCONF")));
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
        // Space is back: the pending record is written and writes work again.
        faults.space_left_bytes.store(0, Ordering::SeqCst);
        p.write_tenant(&tenant, false);
        assert!(!tenant.disk_error.load(Ordering::SeqCst));
        assert_eq!(c.cmd(&["SET", "k3", "v"]), ok());
        // A failed fsync: nothing becomes durable, writes are refused.
        faults.fail_sync.store(true, Ordering::SeqCst);
        p.write_tenant(&tenant, false);
        assert!(tenant.disk_error.load(Ordering::SeqCst));
        assert!(*tenant.durable_offset.borrow() < tenant.state.lock().db.change_log.last_offset());
        faults.fail_sync.store(false, Ordering::SeqCst);
        p.write_tenant(&tenant, false);
        assert_eq!(*tenant.durable_offset.borrow(), tenant.state.lock().db.change_log.last_offset());
        // Everything acknowledged is on disk and reloads.
        let (node2, _) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let tenant2 = node2.upsert_tenant(&cfg()).unwrap();
        let mut c2 = TestClient::attach(node2, tenant2);
        assert_eq!(c2.cmd(&["MGET", "k", "k2", "k3"]), crate::testing::arr(&["v", "a value that does not fit", "v"]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corruption_in_the_middle_refuses_the_database() {
        let dir = temp_dir("corrupt");
        let (node, p) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let tenant = node.upsert_tenant(&cfg()).unwrap();
        let mut c = TestClient::attach(node, tenant.clone());
        for i in 0..10 {
            c.cmd(&["SET", &format!("k{i}"), "v"]);
        }
        p.write_tenant(&tenant, false);
        let path = durability::log_path(&dir, "db");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (node2, _) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let err = node2.upsert_tenant(&cfg()).err().expect("refused");
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(node2.tenants.by_password(b"pw").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
