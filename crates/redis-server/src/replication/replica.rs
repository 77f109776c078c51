//! The replica's side of replication: one thread per replica database connects to the
//! primary's node, asks for the records after its applied offset (a full copy comes first
//! when the primary cannot resume there), applies them through the command table and keeps
//! them in its own change log (and on disk, so a restart resumes from its offset), and
//! reconnects with backoff when the link drops.

use super::frame::{self, HelloRequest, Message};
use super::link::{protocol, Link, LinkError};
use super::{apply_record, log_client, LinkState, Role};
use crate::context::ClientState;
use crate::node::Node;
use crate::persistence::Persistence;
use crate::tenant::Tenant;
use bytes::Bytes;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The primary sends a heartbeat every second while idle: this much silence is a dead link.
const SILENCE_LIMIT: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Records applied per acquisition of the tenant lock.
const APPLY_BATCH_RECORDS: usize = 1024;
/// In the database's folder: the primary history its data comes from (see `frame::Message::Hello`).
const HISTORY_FILE: &str = "replica-history";

/// Follows the primary of `tenant` until `stop` is set or the database leaves the node.
pub(super) fn follow(node: &Arc<Node>, tenant: &Arc<Tenant>, secret: &[u8], stop: &AtomicBool) {
    let mut backoff = RECONNECT_MIN;
    let mut last_error = String::new();
    while !stop.load(Ordering::SeqCst) && hosted(node, tenant) {
        tenant.replication.set_state(LinkState::Connecting);
        match follow_once(node, tenant, secret, stop) {
            Ok(()) => {}
            Err(e) => {
                let message = e.to_string();
                if message != last_error {
                    tracing::warn!(db = %tenant.id, error = %message, "replication link to the primary failed; retrying");
                    last_error = message;
                }
            }
        }
        if tenant.replication.state() == LinkState::Streaming {
            backoff = RECONNECT_MIN;
        }
        tenant.replication.set_state(LinkState::Connecting);
        sleep_unless_stopped(backoff, stop);
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

fn hosted(node: &Node, tenant: &Arc<Tenant>) -> bool {
    node.tenants.get(&tenant.id).is_some_and(|t| Arc::ptr_eq(&t, tenant))
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        slept += step;
    }
}

/// One connection: handshake, then apply what the primary sends until the link fails
/// (`Err`) or the follower is stopped (`Ok`).
fn follow_once(node: &Arc<Node>, tenant: &Arc<Tenant>, secret: &[u8], stop: &AtomicBool) -> Result<(), LinkError> {
    let Role::Replica(of) = tenant.replication.role() else { return Ok(()) };
    let addr = of
        .primary_addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| protocol(format!("{} resolves to no address", of.primary_addr)))?;
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(SILENCE_LIMIT))?;
    stream.set_write_timeout(Some(SILENCE_LIMIT))?;
    let mut link = Link::new(stream)?;
    let Message::Challenge { nonce: challenge } = link.read()? else { return Err(protocol("expected a challenge")) };
    let applied_offset = tenant.state.lock().db.change_log.last_offset();
    // What was loaded from disk counts as applied for writes forwarded from now on.
    tenant.replication.applied.send_replace(applied_offset);
    let history = tenant.replication.history();
    let nonce = frame::nonce();
    let req = HelloRequest { database: &tenant.id.0, applied_offset, history, nonce: &nonce };
    let mac = frame::hello_mac(secret, &challenge, &req);
    link.send(&Message::Hello { database: tenant.id.0.clone(), applied_offset, history, nonce, mac })?;
    let primary_history = match link.read()? {
        Message::Accepted { history, mac } if frame::accepted_mac_ok(secret, &nonce, &tenant.id.0, &mac) => history,
        Message::Accepted { .. } => return Err(protocol("the primary's node failed to prove the cluster secret")),
        Message::Refused { reason } => return Err(LinkError::Refused(reason)),
        _ => return Err(protocol("expected Accepted")),
    };
    let mut client = log_client();
    while !stop.load(Ordering::SeqCst) && hosted(node, tenant) {
        match link.read()? {
            Message::FullSyncBegin { offset } => receive_full_copy(node, tenant, &mut link, offset, primary_history)?,
            Message::Record { offset, payload } => {
                apply_batch(node, tenant, &mut link, &mut client, (offset, payload))?
            }
            Message::Heartbeat { last_offset } => caught_up(tenant, last_offset, primary_history),
            Message::Refused { reason } => return Err(LinkError::Refused(reason)),
            _ => return Err(protocol("unexpected message while following")),
        }
    }
    Ok(())
}

/// Notes the primary's newest offset; the replica is `Streaming` once it has applied it.
fn caught_up(tenant: &Tenant, primary_offset: u64, primary_history: u64) {
    tenant.replication.primary_offset.store(primary_offset, Ordering::Relaxed);
    let applied = tenant.state.lock().db.change_log.last_offset();
    if applied >= primary_offset && tenant.replication.history() == primary_history {
        tenant.replication.set_state(LinkState::Streaming);
    }
}

/// Applies `first` and the records already received after it, under one lock.
fn apply_batch(
    node: &Arc<Node>,
    tenant: &Tenant,
    link: &mut Link,
    client: &mut ClientState,
    first: (u64, Bytes),
) -> Result<(), LinkError> {
    let mut in_transaction = transaction_bound(&first.1) == Some(TransactionBound::Begin);
    let mut records = vec![first];
    let mut next = None;
    // A transaction's records are applied under one lock, so that readers of the replica see
    // all of it or none, however the primary's batches cut it.
    while records.len() < APPLY_BATCH_RECORDS || in_transaction {
        let received = if in_transaction { Some(link.read()?) } else { link.buffered()? };
        match received {
            Some(Message::Record { offset, payload }) => {
                match transaction_bound(&payload) {
                    Some(TransactionBound::Begin) => in_transaction = true,
                    Some(TransactionBound::End) => in_transaction = false,
                    None => {}
                }
                records.push((offset, payload));
            }
            other => {
                next = other;
                break;
            }
        }
    }
    let mut state = tenant.state.lock();
    state.db.set_clock(crate::context::unix_time_ms());
    let mut result = Ok(());
    for (offset, payload) in &records {
        if let Err(gap) = apply_record(node, &mut state.db, client, *offset, payload) {
            result = Err(protocol(format!("record {} does not follow offset {}", gap.got, gap.expected - 1)));
            break;
        }
    }
    drop(state);
    after_apply(node, tenant);
    result?;
    match next {
        Some(Message::Heartbeat { last_offset }) => {
            tenant.replication.primary_offset.store(last_offset, Ordering::Relaxed);
            Ok(())
        }
        Some(Message::Refused { reason }) => Err(LinkError::Refused(reason)),
        Some(_) => Err(protocol("unexpected message among records")),
        None => Ok(()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransactionBound {
    Begin,
    End,
}

/// Whether a record is the `MULTI` or `EXEC` around a transaction's records.
fn transaction_bound(payload: &Bytes) -> Option<TransactionBound> {
    let first = keyspace::changelog::decode_args(payload).into_iter().next()?;
    if crate::args::is(&first, "MULTI") {
        return Some(TransactionBound::Begin);
    }
    crate::args::is(&first, "EXEC").then_some(TransactionBound::End)
}

/// Tells the log writer (and anyone waiting on this database) that records were applied.
fn after_apply(node: &Node, tenant: &Tenant) {
    if let Some(p) = &node.persistence {
        let backlog = crate::persistence::Backlog::of(&tenant.state.lock().db.change_log);
        p.notify(tenant, backlog);
    }
    let applied = tenant.state.lock().db.change_log.last_offset();
    tenant.replication.applied.send_replace(applied);
    tenant.replication.changes.notify();
}

/// Receives a full copy at `offset` into a fresh keyspace (the old one keeps serving reads
/// meanwhile), then puts it in place and, with persistence, restarts the database's files
/// from a snapshot of it.
fn receive_full_copy(
    node: &Arc<Node>,
    tenant: &Arc<Tenant>,
    link: &mut Link,
    offset: u64,
    primary_history: u64,
) -> Result<(), LinkError> {
    tenant.replication.set_state(LinkState::FullSync);
    let mut fresh = keyspace::Db::new(backlog_bytes(node));
    // Keys are kept as the primary had them: expired ones go when its DEL arrives.
    fresh.set_expiry(keyspace::Expiry::Suspended);
    let mut libraries = std::collections::BTreeMap::new();
    let mut keys = 0u64;
    loop {
        match link.read()? {
            Message::SnapshotEntry { entry } => match keyspace::codec::decode_record(&entry) {
                Ok(keyspace::codec::Record::Key(key, value)) => {
                    fresh.load_entry(key, value);
                    keys += 1;
                }
                Ok(keyspace::codec::Record::Library { name, code }) => {
                    libraries.insert(name, code);
                }
                Err(e) => return Err(protocol(format!("undecodable entry in a full copy: {e}"))),
            },
            Message::FullSyncEnd => break,
            Message::Refused { reason } => return Err(LinkError::Refused(reason)),
            _ => return Err(protocol("unexpected message in a full copy")),
        }
    }
    if !hosted(node, tenant) {
        // Removed meanwhile: its files are gone and must stay gone.
        return Ok(());
    }
    fresh.libraries = Arc::new(libraries);
    fresh.change_log = keyspace::ChangeLog::starting_after(offset, backlog_bytes(node));
    fresh.set_expiry(keyspace::Expiry::Hides);
    // Until the copy is in place (and on disk), this data belongs to no history.
    tenant.replication.set_history(0);
    if let Some(p) = &node.persistence {
        p.await_no_snapshot(tenant)?;
        p.forget_log(tenant);
    }
    let old = {
        let mut state = tenant.state.lock();
        fresh.set_memory_policy(state.db.memory_policy());
        std::mem::replace(&mut state.db, fresh)
    };
    // Dropped without the lock: freeing a large keyspace takes a while.
    drop(old);
    if let Some(p) = &node.persistence {
        p.restart_from_copy(tenant, offset, primary_history)?;
    }
    tenant.replication.set_history(primary_history);
    after_apply(node, tenant);
    tracing::info!(db = %tenant.id, offset, keys, "full copy from the primary in place");
    Ok(())
}

fn backlog_bytes(node: &Node) -> usize {
    match node.persistence {
        Some(_) => crate::persistence::PERSISTENT_BACKLOG_BYTES,
        None => keyspace::db::DEFAULT_BACKLOG_BYTES,
    }
}

impl Persistence {
    /// Waits (bounded) until no disk snapshot of the database runs: its files are about to be
    /// replaced, and a snapshot of the old keyspace must not land among the new ones.
    fn await_no_snapshot(&self, tenant: &Tenant) -> std::io::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.status(&tenant.id).in_progress {
            if std::time::Instant::now() >= deadline {
                return Err(std::io::Error::other("a snapshot of the replica kept running"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops writing a replica's log (a full copy replaces its data and files).
    fn forget_log(&self, tenant: &Tenant) {
        self.close_log(&tenant.id);
        // No writer takes its records any more: the backlog goes back to its size limit.
        tenant.state.lock().db.change_log.stop_keeping();
    }

    /// Replaces a replica's files with a snapshot of its new full copy at `offset` and a
    /// fresh log after it, then records the primary history the data belongs to. The history
    /// file is written last: a crash before it leaves a copy the primary resends whole.
    fn restart_from_copy(&self, tenant: &Tenant, offset: u64, history: u64) -> std::io::Result<()> {
        let dir = self.tenant_dir(&tenant.id);
        self.disk.remove_dir_all(&dir)?;
        let path = durability::segments::segment_path(&dir, offset);
        let writer = durability::LogWriter::open(self.disk.clone(), &path, 0, offset)?;
        self.disk.sync_dir(&dir)?;
        self.writers.lock().insert(tenant.id.clone(), crate::persistence::TenantLog::new(writer, offset));
        tenant.durable_offset.send_replace(offset);
        {
            let mut state = tenant.state.lock();
            self.save_now(tenant, &mut state.db).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        self.write_history(tenant, history)
    }

    fn write_history(&self, tenant: &Tenant, history: u64) -> std::io::Result<()> {
        let dir = self.tenant_dir(&tenant.id);
        let path = dir.join(HISTORY_FILE);
        self.disk.remove_file(&path)?;
        let mut file = self.disk.open_append(&path, 0)?;
        file.append(history.to_string().as_bytes())?;
        file.sync()?;
        self.disk.sync_dir(&dir)
    }

    /// The primary history a replica's files belong to (0: none known).
    pub(crate) fn read_history(&self, tenant: &Tenant) -> u64 {
        let path = self.tenant_dir(&tenant.id).join(HISTORY_FILE);
        let text = self.disk.read(&path).unwrap_or_default();
        String::from_utf8_lossy(&text).trim().parse().unwrap_or(0)
    }
}
