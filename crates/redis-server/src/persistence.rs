//! Keeps every database's change log on disk: loads the newest snapshot and replays the log
//! after it when the database is loaded, and a writer thread appends new records with group
//! commit. Each database has its own fsync policy (its plan's, else the node's): under
//! `always` a connection sends the replies of a batch that wrote only once the batch's last
//! record is fsynced; under `everysec` replies never wait and the log is fsynced about once a
//! second. Taking snapshots and cutting the log is in `snapshotter.rs`.

use crate::context::{ClientState, Ctx};
use crate::durable_wait::DurableWaits;
use crate::node::Node;
use crate::tenant::{Tenant, TenantId};
use bytes::Bytes;
use durability::segments::{self, segment_path};
use durability::{Disk, LogWriter, SnapshotReader};
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

/// Under `everysec`, how long the writer lets records gather before writing them to the
/// page cache (what a process crash can lose on top of what the OS has not yet synced).
const EVERYSEC_GATHER: Duration = Duration::from_millis(10);

/// In-memory backlog per database when persistence is on: the writer must find every record
/// it has not written yet, so the backlog is sized for bursts between two writer rounds.
pub const PERSISTENT_BACKLOG_BYTES: usize = 64 * 1024 * 1024;

/// Below this much log since the last snapshot, no automatic snapshot is taken.
pub const DEFAULT_SNAPSHOT_MIN_LOG_BYTES: u64 = 64 * 1024 * 1024;

/// How often, at least, the writer fsyncs the logs of `everysec` databases.
const EVERYSEC_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// An `everysec` log is fsynced as soon as this much is written since its last fsync (and at
/// least once a second).
const EVERYSEC_SYNC_STEP_BYTES: u64 = 4 << 20;

/// After a round with `always` records the writer stays awake (yielding its core) this long
/// for the next ones before it sleeps.
const ALWAYS_STAY_AWAKE: Duration = Duration::from_micros(100);

pub struct Persistence {
    pub data_dir: PathBuf,
    /// The policy of databases whose limits do not name one (`tern node --fsync`).
    pub default_policy: FsyncPolicy,
    pub(crate) disk: Arc<dyn Disk>,
    /// Each database's open log, behind a lock of its own: the two writer threads and the
    /// snapshot thread hold the map's lock only to find a log, never across disk work, so an
    /// fsync of one database never waits behind another's. Lock order: map → one log →
    /// tenant state → `statuses`.
    pub(crate) writers: Mutex<HashMap<TenantId, Arc<Mutex<TenantLog>>>>,
    /// Databases whose replies wait for the disk (`always`), for the `always` writer thread.
    always_lane: LaneQueue,
    /// `everysec` databases, for the thread that writes them and fsyncs every log once a
    /// second; it also serves, at once, an `everysec` database whose backlog overflowed.
    everysec_lane: LaneQueue,
    /// Snapshot bookkeeping per database (INFO, LASTSAVE, when to take the next one).
    pub(crate) statuses: Mutex<HashMap<TenantId, SnapshotStatus>>,
    /// Databases whose snapshot was asked for (BGSAVE), for the snapshot thread.
    pub(crate) requested: Mutex<HashSet<TenantId>>,
    pub(crate) snapshot_wake: Condvar,
    /// An automatic snapshot starts when the log since the last one exceeds
    /// max(this, the last snapshot's size).
    pub snapshot_min_log_bytes: std::sync::atomic::AtomicU64,
    /// Connections of `always` databases waiting for their replies' records to be durable.
    pub durable_waits: Arc<DurableWaits>,
}

/// The two writer threads. Why two: an `everysec` fsync can carry a second of a heavy
/// writer's data and take hundreds of milliseconds; on one thread every `always` reply of
/// every other database waited behind it (a neighbour dropped from 30k to 0.7k SET/s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Always,
    EverySec,
}

/// When a lane writes a database's new records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Urgency {
    /// At once, fsynced: replies wait for it.
    Now,
    /// After the `EVERYSEC_GATHER` pause, not fsynced (nobody waits).
    Gather,
}

/// The databases one writer thread has to write, and how it is woken.
#[derive(Default)]
struct LaneQueue {
    dirty: Mutex<Dirty>,
    wake: Condvar,
}

/// Databases with records a lane has not written yet.
#[derive(Default)]
struct Dirty {
    now: HashSet<TenantId>,
    gathering: HashSet<TenantId>,
    /// When the first of the gathering databases became dirty.
    gathering_since: Option<Instant>,
}

impl LaneQueue {
    fn mark(&self, id: &TenantId, urgency: Urgency) {
        let mut dirty = self.dirty.lock();
        // The lane sleeps only while nothing is due, so only the first notice after that
        // needs to wake it; the others would cost a thread switch each for nothing.
        let wake = match urgency {
            Urgency::Now => {
                let first = dirty.now.is_empty();
                if !dirty.now.contains(id) {
                    dirty.now.insert(id.clone());
                }
                first
            }
            Urgency::Gather => {
                // Woken once, the lane then waits for the gathering to end, not for more.
                let first = dirty.gathering_since.is_none();
                if first {
                    dirty.gathering_since = Some(Instant::now());
                }
                if !dirty.gathering.contains(id) {
                    dirty.gathering.insert(id.clone());
                }
                first
            }
        };
        drop(dirty);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Waits until something is due (a database to write now, the gathering pause over, or
    /// `periodic_sync_at`) and takes it. After a round that answered waiting clients the lane
    /// may `stay_awake` a moment for their next writes instead of sleeping.
    fn next_round(&self, periodic_sync_at: Option<Instant>, stay_awake: bool) -> Round {
        let mut dirty = self.dirty.lock();
        let stay_awake_until = stay_awake.then(|| Instant::now() + ALWAYS_STAY_AWAKE);
        loop {
            let now = Instant::now();
            let gathered_at = dirty.gathering_since.map(|since| since + EVERYSEC_GATHER);
            let due = match (gathered_at, periodic_sync_at) {
                (Some(gathered), Some(sync)) => Some(gathered.min(sync)),
                (one, other) => one.or(other),
            };
            if !dirty.now.is_empty() || due.is_some_and(|due| due <= now) {
                let sync_all = periodic_sync_at.is_some_and(|sync| sync <= now);
                let take_gathered = sync_all || gathered_at.is_some_and(|gathered| gathered <= now);
                let now_ids = dirty.now.drain().collect();
                let mut gathered = Vec::new();
                if take_gathered {
                    dirty.gathering_since = None;
                    gathered = dirty.gathering.drain().collect();
                }
                return Round { now: now_ids, gathered, sync_all };
            }
            if stay_awake_until.is_some_and(|until| now < until) {
                // Waiting clients answer the replies of the round just done within tens of
                // microseconds: yielding the core until then, instead of sleeping, saves the
                // futex wake-up (a thread switch through the scheduler) on their next write.
                parking_lot::MutexGuard::unlocked(&mut dirty, std::thread::yield_now);
                continue;
            }
            match due {
                Some(due) => {
                    self.wake.wait_until(&mut dirty, due);
                }
                None => self.wake.wait(&mut dirty),
            }
        }
    }
}

/// Whether a database's change-log backlog has outgrown its size (read under its lock by
/// whoever just wrote records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    WithinLimit,
    OverLimit,
}

impl Backlog {
    pub fn of(log: &keyspace::ChangeLog) -> Self {
        if log.is_over_limit() {
            Backlog::OverLimit
        } else {
            Backlog::WithinLimit
        }
    }
}

/// Whether a write round fsyncs a database's log whatever its policy: the `always` list also
/// holds `everysec` databases whose backlog overflowed, and their waiting clients need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncWhen {
    Now,
    ByPolicy,
}

/// What one lane round writes: databases to write and fsync now, gathered ones, and whether
/// every log is due for its periodic fsync.
struct Round {
    now: Vec<TenantId>,
    gathered: Vec<TenantId>,
    sync_all: bool,
}

/// The open log of one database: its writer and the base offset of its current segment.
pub(crate) struct TenantLog {
    pub(crate) writer: LogWriter,
    pub(crate) base: u64,
    /// Set by `close_log`: a writer that found this log before it was closed must not write
    /// it any more (its folder may be deleted or refilled next).
    pub(crate) closed: bool,
}

impl TenantLog {
    pub(crate) fn new(writer: LogWriter, base: u64) -> Arc<Mutex<TenantLog>> {
        Arc::new(Mutex::new(TenantLog { writer, base, closed: false }))
    }
}

#[derive(Clone, Debug, Default)]
pub struct SnapshotStatus {
    /// When the newest snapshot was written, Unix seconds (0: never).
    pub last_save_unix_s: u64,
    pub in_progress: bool,
    pub last_failed: bool,
    /// `Db::dirty` when the newest snapshot started (for `rdb_changes_since_last_save`).
    pub dirty_at_last_save: u64,
    pub last_snapshot_bytes: u64,
    /// Longest time one slice of the last snapshot held the tenant lock.
    pub last_max_pause_us: u64,
    pub last_duration_ms: u64,
    /// Bytes of the log segments before the current one (kept until a snapshot covers them).
    pub older_log_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Recovery(#[from] durability::RecoveryError),
    #[error(transparent)]
    Snapshot(#[from] durability::SnapshotError),
    #[error("snapshot {path}: {error}: refusing to serve this database")]
    Entry { path: String, error: keyspace::codec::CodecError },
    #[error("opening the change log: {0}")]
    Io(#[from] std::io::Error),
}

impl Persistence {
    pub fn new(data_dir: PathBuf, default_policy: FsyncPolicy, disk: Arc<dyn Disk>) -> Arc<Self> {
        Arc::new(Persistence {
            data_dir,
            default_policy,
            disk,
            writers: Mutex::new(HashMap::new()),
            always_lane: LaneQueue::default(),
            everysec_lane: LaneQueue::default(),
            statuses: Mutex::new(HashMap::new()),
            requested: Mutex::new(HashSet::new()),
            snapshot_wake: Condvar::new(),
            snapshot_min_log_bytes: std::sync::atomic::AtomicU64::new(DEFAULT_SNAPSHOT_MIN_LOG_BYTES),
            durable_waits: Arc::new(DurableWaits::default()),
        })
    }

    /// The folder of one database: its log segments and snapshots.
    pub(crate) fn tenant_dir(&self, id: &TenantId) -> PathBuf {
        self.data_dir.join(&id.0)
    }

    /// Loads a database into its (fresh) keyspace: the newest snapshot, then the log records
    /// after it; opens the log for appending and removes files a crash left behind. Runs
    /// before the database is reachable by any client.
    pub fn load(&self, node: &Arc<Node>, tenant: &Tenant) -> Result<(), LoadError> {
        let started = Instant::now();
        let dir = self.tenant_dir(&tenant.id);
        let mut listing = segments::list(self.disk.as_ref(), &dir)?;
        let mut state = tenant.state.lock();
        state.db.set_clock(crate::context::unix_time_ms());
        // A replica's records were decided on the primary's clock: nothing expires while they
        // are replayed (nor while its snapshot loads); reads then hide expired keys.
        let expiry = state.db.expiry();
        if expiry == keyspace::Expiry::Hides {
            state.db.set_expiry(keyspace::Expiry::Suspended);
        }
        let snapshot = match listing.snapshot_offsets.last() {
            Some(&offset) => Some(self.load_snapshot(&mut state.db, &dir.join(durability::snapshot_name(offset)))?),
            None => None,
        };
        let snapshot_offset = snapshot.as_ref().map_or(0, |s| s.offset);
        let recovery = segments::recover_after(self.disk.as_ref(), &dir, &listing.segment_bases, snapshot_offset)?;
        if recovery.torn_tail_bytes > 0 {
            tracing::warn!(
                db = %tenant.id,
                bytes = recovery.torn_tail_bytes,
                "change log ends in a torn write (crash during append): cutting it to the last good record"
            );
        }
        replay(node, &mut state.db, &recovery.records);
        state.db.set_expiry(expiry);
        let last_offset = recovery.last_offset.max(snapshot_offset);
        state.db.change_log = keyspace::ChangeLog::starting_after(last_offset, PERSISTENT_BACKLOG_BYTES);
        state.db.change_log.keep_records_after(last_offset);
        let dirty = state.db.dirty;
        drop(state);
        // A snapshot newer than the log's end (the log had not reached the disk): new records
        // go to a segment starting after the snapshot, and the older segments are obsolete.
        let (base, good_len) = if recovery.last_offset < snapshot_offset {
            (snapshot_offset, 0)
        } else {
            (recovery.tail_base, recovery.tail_good_len)
        };
        let writer = LogWriter::open(self.disk.clone(), &segment_path(&dir, base), good_len, last_offset)?;
        if !listing.segment_bases.contains(&base) {
            self.disk.sync_dir(&dir)?;
            listing.segment_bases.push(base);
        }
        let older_log_bytes = self.remove_obsolete(&tenant.id, &listing, snapshot_offset);
        tenant.durable_offset.send_replace(last_offset);
        if tenant.replication.is_replica() {
            tenant.replication.set_history(self.read_history(tenant));
        }
        tenant.log_bytes.store(older_log_bytes + good_len, Ordering::Relaxed);
        let status = SnapshotStatus {
            last_save_unix_s: snapshot.as_ref().map_or(0, |s| s.created_unix_ms / 1000),
            dirty_at_last_save: dirty,
            last_snapshot_bytes: snapshot.as_ref().map_or(0, |s| s.bytes),
            older_log_bytes,
            ..SnapshotStatus::default()
        };
        self.statuses.lock().insert(tenant.id.clone(), status);
        tracing::info!(db = %tenant.id, snapshot_offset, snapshot_keys = snapshot.map_or(0, |s| s.keys),
            records = recovery.records.len(), ms = started.elapsed().as_millis() as u64, "database loaded");
        self.writers.lock().insert(tenant.id.clone(), TenantLog::new(writer, base));
        Ok(())
    }

    /// Loads a snapshot file into `db`. A second thread reads, checks and decodes records
    /// while this one inserts them (the two halves take about as long), handing over
    /// batches through a bounded queue.
    pub(crate) fn load_snapshot(
        &self,
        db: &mut keyspace::Db,
        path: &std::path::Path,
    ) -> Result<LoadedSnapshot, LoadError> {
        let mut reader = SnapshotReader::open(self.disk.as_ref(), path)?;
        let (offset, created_unix_ms) = (reader.offset, reader.created_unix_ms);
        // The hint sizes the table once; bounded so a damaged header cannot ask for much.
        db.reserve_keys(reader.keys_hint.min(1 << 28) as usize);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(keyspace::Blob, keyspace::Entry)>>(LOAD_QUEUE_BATCHES);
        let mut keys = 0u64;
        let decoded = std::thread::scope(|scope| {
            let decoder = scope.spawn(move || decode_snapshot(&mut reader, path, tx));
            for batch in rx {
                keys += batch.len() as u64;
                for (key, entry) in batch {
                    db.load_entry(key, entry);
                }
            }
            decoder.join().unwrap_or_else(|_| Err(LoadError::Io(std::io::Error::other("snapshot decoder panicked"))))
        });
        db.libraries = std::sync::Arc::new(decoded?);
        let bytes = self.disk.size(path)?;
        Ok(LoadedSnapshot { offset, created_unix_ms, keys, bytes })
    }

    /// Deletes what the snapshot at `offset` made obsolete (older snapshots, unfinished ones,
    /// segments entirely at or below it) and returns the size of the remaining segments
    /// before the current (last) one. Failures are logged: they only cost disk space.
    pub(crate) fn remove_obsolete(&self, id: &TenantId, listing: &segments::Listing, offset: u64) -> u64 {
        let dir = self.tenant_dir(id);
        let obsolete = segments::obsolete(listing, offset);
        for name in &obsolete {
            if let Err(e) = self.disk.remove_file(&dir.join(name)) {
                tracing::warn!(db = %id, file = %name, error = %e, "cannot remove an obsolete file");
            }
        }
        if !obsolete.is_empty() {
            if let Err(e) = self.disk.sync_dir(&dir) {
                tracing::warn!(db = %id, error = %e, "cannot sync the database folder");
            }
        }
        let bases = &listing.segment_bases;
        let older = bases.get(..bases.len().saturating_sub(1)).unwrap_or(&[]);
        older
            .iter()
            .map(|&b| segments::segment_name(b))
            .filter(|name| !obsolete.contains(name))
            .map(|name| self.disk.size(&dir.join(name)).unwrap_or(0))
            .sum()
    }

    /// Forgets a database and deletes its files (the database was destroyed).
    pub fn destroy(&self, id: &TenantId) {
        self.close_log(id);
        self.statuses.lock().remove(id);
        if let Err(e) = self.disk.remove_dir_all(&self.tenant_dir(id)) {
            tracing::error!(db = %id, error = %e, "cannot delete the files of a destroyed database");
        }
    }

    /// Snapshot bookkeeping of a database (default when it has none yet).
    pub fn status(&self, id: &TenantId) -> SnapshotStatus {
        self.statuses.lock().get(id).cloned().unwrap_or_default()
    }

    /// The fsync policy of a database now: its plan's, else the node's.
    pub fn policy_of(&self, tenant: &Tenant) -> FsyncPolicy {
        tenant.limits.read().fsync.unwrap_or(self.default_policy)
    }

    /// Tells the writers that a database has new records, and returns the policy its
    /// connection's replies follow. A backlog over its size (records kept for a writer that
    /// fell behind, see `ChangeLog::keep_records_after`) is served as `always`: written and
    /// fsynced at once, and the replies wait for it, which holds the writing clients back
    /// until the disk has caught up instead of losing records. That stays on the `everysec`
    /// lane, so a heavy writer's fsyncs never delay the `always` databases' replies.
    pub fn notify(&self, tenant: &Tenant, backlog: Backlog) -> FsyncPolicy {
        let (lane, urgency) = match (self.policy_of(tenant), backlog) {
            (FsyncPolicy::Always, _) => (&self.always_lane, Urgency::Now),
            (FsyncPolicy::EverySec, Backlog::OverLimit) => (&self.everysec_lane, Urgency::Now),
            (FsyncPolicy::EverySec, Backlog::WithinLimit) => (&self.everysec_lane, Urgency::Gather),
        };
        lane.mark(&tenant.id, urgency);
        match urgency {
            Urgency::Now => FsyncPolicy::Always,
            Urgency::Gather => FsyncPolicy::EverySec,
        }
    }

    /// Starts the log writers: group commit across all connections. One thread writes and
    /// fsyncs `always` databases as soon as they have records, a second one serves
    /// `everysec` databases, written after gathering for `EVERYSEC_GATHER` and fsynced every
    /// `EVERYSEC_SYNC_INTERVAL`. Nobody waits for an `everysec` write, and its fsyncs run on
    /// the other thread, so a slow one delays no `always` reply.
    pub fn start_writers(self: &Arc<Self>, node: &Arc<Node>) -> std::io::Result<()> {
        for (lane, name) in [(Lane::Always, "log-writer"), (Lane::EverySec, "log-writer-everysec")] {
            let (persistence, node) = (self.clone(), node.clone());
            std::thread::Builder::new().name(name.into()).spawn(move || persistence.run_lane(&node, lane))?;
        }
        Ok(())
    }

    fn lane(&self, lane: Lane) -> &LaneQueue {
        match lane {
            Lane::Always => &self.always_lane,
            Lane::EverySec => &self.everysec_lane,
        }
    }

    fn run_lane(&self, node: &Arc<Node>, lane: Lane) {
        let queue = self.lane(lane);
        let mut last_sync = Instant::now();
        let mut stay_awake = false;
        loop {
            let periodic_sync_at = (lane == Lane::EverySec).then(|| last_sync + EVERYSEC_SYNC_INTERVAL);
            let round = queue.next_round(periodic_sync_at, stay_awake);
            stay_awake = lane == Lane::Always && !round.now.is_empty();
            self.write_ids(node, &round.now, SyncWhen::Now, lane);
            self.write_ids(node, &round.gathered, SyncWhen::ByPolicy, lane);
            if round.sync_all {
                self.sync_all(node);
                last_sync = Instant::now();
            }
        }
    }

    /// Writes and fsyncs every log's pending records, whatever the database's policy; returns
    /// how many logs there were. The periodic fsync of the `everysec` lane (which also covers
    /// databases whose policy just became `always`).
    fn sync_all(&self, node: &Arc<Node>) -> usize {
        let ids: Vec<TenantId> = self.writers.lock().keys().cloned().collect();
        for id in &ids {
            if let Some(tenant) = node.tenants.get(id) {
                self.write_tenant_on(&tenant, true, Lane::EverySec);
            }
        }
        ids.len()
    }

    /// Called when the node is asked to stop, so a clean shutdown loses nothing that was
    /// acknowledged (an `everysec` write may otherwise still wait in the gathering pause).
    pub fn flush_for_shutdown(&self, node: &Arc<Node>) {
        let databases = self.sync_all(node);
        tracing::info!(databases, "change logs written and fsynced for shutdown");
    }

    /// Writes the new records of these databases, fsynced when `sync` says so or their
    /// policy is `always`.
    fn write_ids(&self, node: &Arc<Node>, ids: &[TenantId], sync: SyncWhen, lane: Lane) {
        for id in ids {
            if let Some(tenant) = node.tenants.get(id) {
                self.write_tenant_on(&tenant, sync == SyncWhen::Now, lane);
            }
        }
    }

    /// The open log of a database, if it has one.
    pub(crate) fn log_of(&self, id: &TenantId) -> Option<Arc<Mutex<TenantLog>>> {
        self.writers.lock().get(id).cloned()
    }

    /// Stops writing a database's log, waiting for a write in progress to end (its files may
    /// be removed next). A writer thread may still hold the log: the mark keeps it off.
    pub(crate) fn close_log(&self, id: &TenantId) {
        let log = self.writers.lock().remove(id);
        if let Some(log) = log {
            log.lock().closed = true;
        }
    }

    /// Writes a database's new records from a test, in place of the writer threads; a
    /// failure is retried by the `everysec` lane.
    #[cfg(test)]
    pub(crate) fn write_tenant(&self, tenant: &Tenant, sync_due: bool) {
        self.write_tenant_on(tenant, sync_due, Lane::EverySec);
    }

    /// Writes a database's new records, fsynced when `sync_due` or under `always`; a failure
    /// is retried by `lane` after a gathering pause.
    fn write_tenant_on(&self, tenant: &Tenant, sync_due: bool, lane: Lane) {
        if let Some(log) = self.log_of(&tenant.id) {
            self.write_log(tenant, &log, sync_due, lane);
        }
    }

    /// `write_tenant_on` once the log is found (it may have been closed since).
    fn write_log(&self, tenant: &Tenant, log: &Mutex<TenantLog>, sync_due: bool, lane: Lane) {
        let mut log = log.lock();
        if log.closed {
            return;
        }
        let writer = &mut log.writer;
        // Only reference-counted handles are taken under the tenant lock; framing and
        // checksumming happen after it is released, so connections wait as little as possible.
        let mut state = tenant.state.lock();
        let pending = (state.db.change_log.read_after(writer.last_written_offset))
            .map(|records| records.map(|r| (r.offset, r.encoded().clone())).collect::<Vec<_>>());
        if let Ok(records) = &pending {
            // Taken into the writer's buffer (kept there until written, even if a write
            // fails): the backlog may let them go.
            let taken = records.last().map_or(writer.last_written_offset, |(offset, _)| *offset);
            state.db.change_log.keep_records_after(taken);
        }
        drop(state);
        let records = match pending {
            Ok(records) => records,
            Err(trimmed) => {
                tracing::error!(db = %tenant.id, oldest = trimmed.oldest_available, written = writer.last_written_offset,
                    "change-log backlog overflowed before the writer caught up: the disk copy misses records");
                tenant.disk_error.store(true, Ordering::SeqCst);
                return;
            }
        };
        for (offset, payload) in &records {
            writer.push(*offset, payload);
        }
        let always = self.policy_of(tenant) == FsyncPolicy::Always;
        // Every `always` reply waits for an fsync, so its log keeps zeroed space ahead: an
        // fsync of an overwrite is cheaper than one of an append (see `LogFile`).
        writer.zero_fill_ahead_bytes = if always { ALWAYS_ZERO_FILL_AHEAD_BYTES } else { 0 };
        // A heavy `everysec` writer is fsynced in steps instead of once a second: the
        // neighbours' fsyncs then queue behind a few MiB of its writeback, not hundreds.
        let sync_step_due = writer.unsynced_bytes() >= EVERYSEC_SYNC_STEP_BYTES;
        match writer.flush(sync_due || always || sync_step_due) {
            Ok(()) => {
                if tenant.disk_error.swap(false, Ordering::SeqCst) {
                    tracing::info!(db = %tenant.id, "change log writable again");
                }
                let older = self.statuses.lock().get(&tenant.id).map_or(0, |s| s.older_log_bytes);
                tenant.log_bytes.store(older + writer.bytes, Ordering::Relaxed);
                tenant.durable_offset.send_replace(writer.last_synced_offset);
                self.durable_waits.ring();
            }
            Err(e) => {
                if !tenant.disk_error.swap(true, Ordering::SeqCst) {
                    tracing::error!(db = %tenant.id, error = %e, "cannot write the change log: refusing writes until it works again");
                }
                // Wake waiting connections so they see the error instead of hanging.
                tenant.durable_offset.send_modify(|_| {});
                self.durable_waits.ring();
                // Retry after a gathering pause (not at once: a full disk would spin the writer).
                self.lane(lane).mark(&tenant.id, Urgency::Gather);
            }
        }
    }
}

/// Zeroed space kept ahead of an `always` database's log (at most this much disk per
/// database; refilled each time half of it is used).
const ALWAYS_ZERO_FILL_AHEAD_BYTES: u64 = 1 << 20;

/// Batches of decoded keys queued between the snapshot decoder and the loader.
const LOAD_QUEUE_BATCHES: usize = 8;
const LOAD_BATCH_KEYS: usize = 4096;

/// Reads and decodes every record of a snapshot, sending keys in batches and returning the
/// function libraries; stops early (returning the error) on damage, or quietly if the loader
/// went away.
fn decode_snapshot(
    reader: &mut SnapshotReader,
    path: &std::path::Path,
    tx: std::sync::mpsc::SyncSender<Vec<(keyspace::Blob, keyspace::Entry)>>,
) -> Result<std::collections::BTreeMap<String, Bytes>, LoadError> {
    let mut payload = Vec::new();
    let mut batch = Vec::with_capacity(LOAD_BATCH_KEYS);
    let mut libraries = std::collections::BTreeMap::new();
    while reader.next_record(&mut payload)? {
        let decoded = keyspace::codec::decode_record(&payload)
            .map_err(|error| LoadError::Entry { path: path.display().to_string(), error })?;
        let decoded = match decoded {
            keyspace::codec::Record::Key(key, entry) => (key, entry),
            keyspace::codec::Record::Library { name, code } => {
                libraries.insert(name, code);
                continue;
            }
        };
        batch.push(decoded);
        if batch.len() == LOAD_BATCH_KEYS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH_KEYS));
            if tx.send(full).is_err() {
                return Ok(libraries);
            }
        }
    }
    let _ = tx.send(batch);
    Ok(libraries)
}

pub(crate) struct LoadedSnapshot {
    offset: u64,
    created_unix_ms: u64,
    keys: u64,
    bytes: u64,
}

/// Re-applies logged commands, through the same command table as clients use.
pub(crate) fn replay(node: &Arc<Node>, db: &mut keyspace::Db, records: &[(u64, Vec<u8>)]) {
    let mut client = crate::replication::log_client();
    db.set_clock(crate::context::unix_time_ms());
    for (offset, payload) in records {
        let args = keyspace::changelog::decode_args(&Bytes::copy_from_slice(payload));
        run_logged(node, db, &mut client, *offset, &args);
    }
}

/// Runs one logged command (`MULTI`/`EXEC` records only mark a transaction's bounds: the
/// commands between them are logged one by one).
pub(crate) fn run_logged(
    node: &Arc<Node>,
    db: &mut keyspace::Db,
    client: &mut ClientState,
    offset: u64,
    args: &[Bytes],
) {
    let Some(name) = args.first() else { return };
    if crate::args::is(name, "MULTI") || crate::args::is(name, "EXEC") {
        return;
    }
    let Some(spec) = crate::command::COMMANDS.lookup(name) else {
        tracing::error!(offset, command = %crate::exec::printable(name, 64), "unknown command in the change log: skipped");
        return;
    };
    let mut ctx = Ctx::new(db, client, node);
    if let resp::Reply::Error(e) = crate::exec::call(&mut ctx, spec, args) {
        tracing::warn!(offset, error = %e, "a logged command failed on replay");
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
        TenantConfig {
            id: TenantId("db".into()),
            password: "pw".into(),
            limits: Default::default(),
            role: Default::default(),
        }
    }

    #[test]
    fn a_writer_that_falls_behind_loses_no_record_and_holds_writers_back() {
        let dir = temp_dir("backlog");
        let (node, p) = node_with(&dir, FsyncPolicy::EverySec, Arc::new(durability::RealDisk));
        let tenant = node.upsert_tenant(&cfg()).unwrap();
        let mut c = TestClient::attach(node.clone(), tenant.clone());
        // More than the whole backlog (64 MiB) while the writer does not run.
        let value = "v".repeat(64 << 10);
        let keys = PERSISTENT_BACKLOG_BYTES / value.len() + 200;
        for i in 0..keys {
            assert_eq!(c.cmd(&["SET", &format!("key:{i}"), &value]), ok());
        }
        let backlog = Backlog::of(&tenant.state.lock().db.change_log);
        assert_eq!(backlog, Backlog::OverLimit, "records are kept for the writer");
        assert_eq!(p.notify(&tenant, backlog), FsyncPolicy::Always, "writers wait for the disk now");
        p.write_tenant(&tenant, true);
        assert!(!tenant.disk_error.load(Ordering::SeqCst), "no record was dropped before the writer took it");
        assert_eq!(*tenant.durable_offset.borrow(), tenant.state.lock().db.change_log.last_offset());
        assert_eq!(Backlog::of(&tenant.state.lock().db.change_log), Backlog::WithinLimit);
        drop(c);
        drop(node);
        let (node2, _) = node_with(&dir, FsyncPolicy::EverySec, Arc::new(durability::RealDisk));
        let tenant2 = node2.upsert_tenant(&cfg()).unwrap();
        let mut c2 = TestClient::attach(node2.clone(), tenant2);
        assert_eq!(c2.cmd(&["DBSIZE"]), resp::Reply::Integer(keys as i64));
        assert_eq!(c2.cmd(&["STRLEN", "key:0"]), resp::Reply::Integer(value.len() as i64));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_closed_log_is_not_written_by_a_writer_that_found_it_before() {
        let dir = temp_dir("closed");
        let (node, p) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let tenant = node.upsert_tenant(&cfg()).unwrap();
        let mut c = TestClient::attach(node.clone(), tenant.clone());
        c.cmd(&["SET", "a", "1"]);
        p.write_tenant(&tenant, true);
        // A writer thread looked the log up, then the database's log was closed.
        let found = p.log_of(&tenant.id).unwrap();
        let written = found.lock().writer.last_written_offset;
        p.close_log(&tenant.id);
        c.cmd(&["SET", "b", "1"]);
        assert!(found.lock().closed);
        p.write_log(&tenant, &found, true, Lane::EverySec);
        assert_eq!(found.lock().writer.last_written_offset, written, "nothing written after the close");
        assert!(p.log_of(&tenant.id).is_none());
        let _ = std::fs::remove_dir_all(&dir);
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

    /// A real disk whose log fsyncs wait while the gate is closed: a test holds a database's
    /// fsync as long as it likes and sees when the writer is stuck in one.
    #[derive(Default)]
    struct SyncGate {
        closed: Mutex<bool>,
        opened: Condvar,
        waiting: std::sync::atomic::AtomicU64,
    }

    impl SyncGate {
        fn set_closed(&self, closed: bool) {
            *self.closed.lock() = closed;
            self.opened.notify_all();
        }

        fn pass(&self) {
            let mut closed = self.closed.lock();
            if *closed {
                self.waiting.fetch_add(1, Ordering::SeqCst);
                while *closed {
                    self.opened.wait(&mut closed);
                }
                self.waiting.fetch_sub(1, Ordering::SeqCst);
            }
        }

        /// Waits (at most 5 s) until an fsync is held at the gate.
        fn await_held_fsync(&self) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.waiting.load(Ordering::SeqCst) == 0 {
                assert!(Instant::now() < deadline, "no fsync reached the gate");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// A real disk whose log files fsync through the gate: every log, or only those in the
    /// folder of database `only_db`.
    struct GatedDisk {
        gate: Arc<SyncGate>,
        only_db: Option<&'static str>,
    }

    struct UngatedFile(Box<dyn durability::LogFile>);

    impl durability::LogFile for UngatedFile {
        fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
            self.0.append(data)
        }
        fn sync(&mut self) -> std::io::Result<()> {
            self.0.sync()
        }
    }

    struct GatedFile {
        inner: Box<dyn durability::LogFile>,
        gate: Arc<SyncGate>,
    }

    impl durability::LogFile for GatedFile {
        fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
            self.inner.append(data)
        }

        fn sync(&mut self) -> std::io::Result<()> {
            self.gate.pass();
            self.inner.sync()
        }
    }

    impl Disk for GatedDisk {
        fn open_append(&self, path: &std::path::Path, len: u64) -> std::io::Result<Box<dyn durability::LogFile>> {
            let inner = durability::RealDisk.open_append(path, len)?;
            let gated = self.only_db.is_none_or(|db| path.parent().is_some_and(|folder| folder.ends_with(db)));
            if !gated {
                return Ok(Box::new(UngatedFile(inner)));
            }
            Ok(Box::new(GatedFile { inner, gate: self.gate.clone() }))
        }
        fn read(&self, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
            durability::RealDisk.read(path)
        }
        fn remove_dir_all(&self, path: &std::path::Path) -> std::io::Result<()> {
            durability::RealDisk.remove_dir_all(path)
        }
        fn open_read(&self, path: &std::path::Path) -> std::io::Result<Box<dyn std::io::Read + Send>> {
            durability::RealDisk.open_read(path)
        }
        fn list(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
            durability::RealDisk.list(dir)
        }
        fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
            durability::RealDisk.rename(from, to)
        }
        fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
            durability::RealDisk.sync_dir(dir)
        }
        fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
            durability::RealDisk.remove_file(path)
        }
        fn size(&self, path: &std::path::Path) -> std::io::Result<u64> {
            durability::RealDisk.size(path)
        }
    }

    fn cfg_with(id: &str, fsync: Option<FsyncPolicy>) -> TenantConfig {
        let limits = crate::TenantLimits { fsync, ..Default::default() };
        TenantConfig { id: TenantId(id.into()), password: format!("pw-{id}"), limits, role: Default::default() }
    }

    /// A client on a real socket of the node's listener, authenticated to one database.
    struct SocketClient(std::net::TcpStream);

    impl SocketClient {
        fn connect(addr: std::net::SocketAddr, password: &str) -> SocketClient {
            let mut c = SocketClient(std::net::TcpStream::connect(addr).unwrap());
            c.send(&["AUTH", password]);
            assert_eq!(c.reply(Duration::from_secs(5)).unwrap(), "+OK");
            c
        }

        fn send(&mut self, args: &[&str]) {
            use std::io::Write;
            let mut out = format!("*{}\r\n", args.len());
            for a in args {
                out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
            self.0.write_all(out.as_bytes()).unwrap();
        }

        /// One reply line, or `None` if none came within `wait`.
        fn reply(&mut self, wait: Duration) -> Option<String> {
            use std::io::Read;
            self.0.set_read_timeout(Some(wait)).unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                match self.0.read(&mut byte) {
                    Ok(1) => line.push(byte[0]),
                    Ok(_) => panic!("connection closed"),
                    Err(e)
                        if line.is_empty()
                            && matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                    {
                        return None
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Some(String::from_utf8(line).unwrap().trim_end().to_string())
        }
    }

    fn last_offset(tenant: &Tenant) -> u64 {
        tenant.state.lock().db.change_log.last_offset()
    }

    /// Waits (at most 5 s) until everything `tenant` logged is fsynced.
    fn await_durable(tenant: &Tenant) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while *tenant.durable_offset.borrow() < last_offset(tenant) {
            assert!(Instant::now() < deadline, "{} not fsynced within 5 s", tenant.id);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A running node whose default policy is `everysec`, with database `a` (`always`) and
    /// `e` (the default), a client of each, and the gate of its disk (for every log, or only
    /// `only_db`'s).
    struct TwoDatabases {
        gate: Arc<SyncGate>,
        a: Arc<Tenant>,
        e: Arc<Tenant>,
        ca: SocketClient,
        ce: SocketClient,
    }

    fn two_databases(dir: &std::path::Path, only_db: Option<&'static str>) -> TwoDatabases {
        let gate = Arc::new(SyncGate::default());
        let (node, p) = node_with(dir, FsyncPolicy::EverySec, Arc::new(GatedDisk { gate: gate.clone(), only_db }));
        let a = node.upsert_tenant(&cfg_with("a", Some(FsyncPolicy::Always))).unwrap();
        let e = node.upsert_tenant(&cfg_with("e", None)).unwrap();
        p.start_writers(&node).unwrap();
        let server = crate::server::start(node.clone(), "127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let ca = SocketClient::connect(server.local_addr, "pw-a");
        let ce = SocketClient::connect(server.local_addr, "pw-e");
        TwoDatabases { gate, a, e, ca, ce }
    }

    #[test]
    fn the_writers_serve_always_and_everysec_databases_and_follow_plan_changes() {
        let dir = temp_dir("mixed");
        let TwoDatabases { gate, a, e, mut ca, mut ce } = two_databases(&dir, None);

        // `a`'s write waits at the closed gate: its reply is not sent before its fsync.
        gate.set_closed(true);
        ca.send(&["SET", "k", "1"]);
        gate.await_held_fsync();
        assert_eq!(ca.reply(Duration::from_millis(300)), None);
        assert!(*a.durable_offset.borrow() < last_offset(&a));
        // Meanwhile `e`'s writes are answered: the writer being stuck does not hold them.
        for i in 0..3 {
            ce.send(&["SET", &format!("k{i}"), "v"]);
            assert_eq!(ce.reply(Duration::from_secs(5)).as_deref(), Some("+OK"));
        }
        assert!(*e.durable_offset.borrow() < last_offset(&e));
        gate.set_closed(false);
        assert_eq!(ca.reply(Duration::from_secs(5)).as_deref(), Some("+OK"));
        assert!(*a.durable_offset.borrow() >= last_offset(&a));
        // `e` is fsynced by the periodic round, though nobody waits for it.
        await_durable(&e);

        // A plan change swaps the policies; the writes after it follow the new ones.
        e.apply_limits(&crate::TenantLimits { fsync: Some(FsyncPolicy::Always), ..Default::default() });
        a.apply_limits(&crate::TenantLimits { fsync: Some(FsyncPolicy::EverySec), ..Default::default() });
        gate.set_closed(true);
        ce.send(&["SET", "after", "1"]);
        gate.await_held_fsync();
        assert_eq!(ce.reply(Duration::from_millis(300)), None);
        ca.send(&["SET", "after", "1"]);
        assert_eq!(ca.reply(Duration::from_secs(5)).as_deref(), Some("+OK"));
        gate.set_closed(false);
        assert_eq!(ce.reply(Duration::from_secs(5)).as_deref(), Some("+OK"));
        assert!(*e.durable_offset.borrow() >= last_offset(&e));
        await_durable(&a);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_held_everysec_fsync_does_not_delay_always_replies() {
        let dir = temp_dir("lanes");
        // Only `e`'s log fsyncs through the gate: it stands for a heavy writer's long fsync.
        let TwoDatabases { gate, a, e, mut ca, mut ce } = two_databases(&dir, Some("e"));

        gate.set_closed(true);
        ce.send(&["SET", "k", "v"]);
        assert_eq!(ce.reply(Duration::from_secs(5)).as_deref(), Some("+OK"));
        // The periodic fsync (within a second) gets stuck in `e`'s log.
        gate.await_held_fsync();
        // `a`'s writes are still fsynced and answered, each after its own fsync.
        for i in 0..20 {
            ca.send(&["SET", &format!("k{i}"), "v"]);
            assert_eq!(ca.reply(Duration::from_secs(2)).as_deref(), Some("+OK"), "write {i} of `a`");
        }
        assert!(*a.durable_offset.borrow() >= last_offset(&a));
        assert!(*e.durable_offset.borrow() < last_offset(&e), "`e`'s fsync is still held");
        gate.set_closed(false);
        await_durable(&e);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn info_and_config_show_the_database_policy() {
        let dir = temp_dir("show");
        let (node, _p) = node_with(&dir, FsyncPolicy::Always, Arc::new(durability::RealDisk));
        let tenant = node.upsert_tenant(&cfg_with("s", Some(FsyncPolicy::EverySec))).unwrap();
        let mut c = TestClient::attach(node.clone(), tenant.clone());
        let config = |c: &mut TestClient, name: &str| match c.cmd(&["CONFIG", "GET", name]) {
            resp::Reply::Map(m) => m,
            other => panic!("{other:?}"),
        };
        let info = |c: &mut TestClient| match c.cmd(&["INFO", "persistence"]) {
            resp::Reply::Verbatim(text) => String::from_utf8(text.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(config(&mut c, "appendfsync"), vec![(bulk("appendfsync"), bulk("everysec"))]);
        assert_eq!(config(&mut c, "appendonly"), vec![(bulk("appendonly"), bulk("yes"))]);
        assert!(info(&mut c).contains("aof_fsync:everysec\r\n"));
        // The node's default applies when the limits do not say; a change shows at once.
        tenant.apply_limits(&crate::TenantLimits::default());
        assert_eq!(config(&mut c, "appendfsync"), vec![(bulk("appendfsync"), bulk("always"))]);
        assert!(info(&mut c).contains("aof_fsync:always\r\n"));
        // Without persistence nothing is appended.
        let memory_only = Arc::new(Node::new(NodeLimits::default(), "test".into(), 0));
        let t = memory_only.upsert_tenant(&cfg()).unwrap();
        let mut m = TestClient::attach(memory_only, t);
        assert_eq!(config(&mut m, "appendonly"), vec![(bulk("appendonly"), bulk("no"))]);
        assert!(info(&mut m).contains("aof_fsync:none\r\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
