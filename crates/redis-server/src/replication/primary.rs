//! The primary's side of replication: a listener (one thread) accepting replicas' links, and
//! one thread per link that authenticates it, sends a full copy when the replica's offset is
//! not in the in-memory backlog (a copy-on-write walk in slices of about a millisecond under
//! the tenant lock, as the snapshotter's), then streams new change-log records in order.

use super::frame::{self, HelloRequest, Message};
use super::link::{protocol, Link, LinkError};
use super::Replication;
use crate::node::Node;
use crate::tenant::{Tenant, TenantId};
use keyspace::db::{for_each_copied, SliceBudget, SliceProgress};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Links served at once; more are closed at once (the replica retries with backoff).
const MAX_LINKS: usize = 256;
/// Time a replica has to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A replica that accepts nothing for this long is dropped (its kernel buffer is full).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Records and bytes sent per look at the change log (one tenant-lock acquisition).
const BATCH_RECORDS: usize = 1024;
const BATCH_BYTES: usize = 4 << 20;
/// While idle, a heartbeat this often (the replica treats 5 s of silence as a dead link).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for a write signal before looking at the log again (writes from paths that
/// do not signal are shipped within this).
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long a full copy waits for a running snapshot (one per database at a time) to end.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// Binds the replication listener.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Accepts replicas' links forever, each on a thread of its own.
pub fn serve(node: Arc<Node>, listener: TcpListener, replication: Arc<Replication>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "replication listener: accept failed");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_LINKS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (node, replication, active) = (node.clone(), replication.clone(), active.clone());
        let spawned = std::thread::Builder::new().name("replication-out".into()).spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            if let Err(e) = serve_link(&node, stream, &replication.secret) {
                tracing::info!(%peer, error = %e, "replication link to a replica ended");
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a replication thread");
        }
    }
}

/// One link: handshake, then a full copy or not, then records until the link or the
/// database goes away.
fn serve_link(node: &Arc<Node>, stream: TcpStream, secret: &[u8]) -> Result<(), LinkError> {
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut link = Link::new(stream)?;
    let challenge = frame::nonce();
    link.send(&Message::Challenge { nonce: challenge })?;
    let Message::Hello { database, applied_offset, history, nonce, mac } = link.read()? else {
        return Err(protocol("expected Hello"));
    };
    let req = HelloRequest { database: &database, applied_offset, history, nonce: &nonce };
    if !frame::hello_mac_ok(secret, &challenge, &req, &mac) {
        // Same answer whatever was wrong: nothing to learn for a peer without the secret.
        let _ = link.send(&Message::Refused { reason: "authentication failed".into() });
        return Err(LinkError::Refused("a replica failed to prove the cluster secret".into()));
    }
    let tenant = match node.tenants.get(&TenantId(database.clone())) {
        Some(t) if !t.replication.is_replica() => t,
        _ => {
            let reason = format!("database {database} has no primary copy on this node");
            let _ = link.send(&Message::Refused { reason: reason.clone() });
            return Err(LinkError::Refused(reason));
        }
    };
    let our_history = tenant.replication.history();
    link.send(&Message::Accepted { history: our_history, mac: frame::accepted_mac(secret, &nonce, &database) })?;
    let resumable = history == our_history && {
        let state = tenant.state.lock();
        applied_offset <= state.db.change_log.last_offset() && state.db.change_log.read_after(applied_offset).is_ok()
    };
    let cursor = if resumable { applied_offset } else { full_copy(&tenant, &mut link)? };
    tracing::info!(db = %tenant.id, from = cursor, full_copy = !resumable, "replica following");
    stream_records(node, &tenant, &mut link, cursor)
}

/// Aborts the database's snapshot if the copy stops before its end.
struct SnapshotGuard<'a> {
    tenant: &'a Tenant,
    done: bool,
}

impl Drop for SnapshotGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tenant.state.lock().db.abort_snapshot();
        }
    }
}

/// Sends every key and library as of a change-log offset O and returns O. The tenant lock
/// is held for one slice at a time; sending happens without it, and a slow replica only
/// slows the copy (TCP pushes back), never the tenant.
fn full_copy(tenant: &Tenant, link: &mut Link) -> Result<u64, LinkError> {
    let offset = begin_snapshot(tenant)?;
    let mut guard = SnapshotGuard { tenant, done: false };
    link.queue(&Message::FullSyncBegin { offset })?;
    let budget = SliceBudget::default();
    let mut buf = Vec::new();
    loop {
        let progress = tenant.state.lock().db.snapshot_slice(&mut buf, &budget);
        let mut sent = Ok(());
        for_each_copied(&buf, |entry| {
            if sent.is_ok() {
                sent = link.queue(&Message::SnapshotEntry { entry: bytes::Bytes::copy_from_slice(entry) });
            }
        });
        sent?;
        buf.clear();
        if progress == SliceProgress::Done {
            break;
        }
        // Let the tenant's connections take the lock before the next slice.
        std::thread::yield_now();
    }
    guard.done = true;
    link.queue(&Message::FullSyncEnd)?;
    link.flush()?;
    Ok(offset)
}

/// Starts the copy-on-write snapshot, waiting while another one (the disk's) runs.
fn begin_snapshot(tenant: &Tenant) -> Result<u64, LinkError> {
    let deadline = Instant::now() + SNAPSHOT_WAIT;
    loop {
        if let Some(offset) = tenant.state.lock().db.begin_snapshot() {
            return Ok(offset);
        }
        if Instant::now() >= deadline {
            return Err(protocol("another snapshot of the database kept running; retrying later"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Streams the records after `cursor` as they are written, with heartbeats carrying the
/// newest offset. A replica that fell behind the in-memory backlog gets a new full copy.
fn stream_records(node: &Arc<Node>, tenant: &Arc<Tenant>, link: &mut Link, mut cursor: u64) -> Result<(), LinkError> {
    let subscription = tenant.replication.changes.subscribe();
    let mut last_sent = Instant::now();
    let mut heartbeat_due = true;
    loop {
        if !node.tenants.get(&tenant.id).is_some_and(|t| Arc::ptr_eq(&t, tenant)) || tenant.replication.is_replica() {
            let _ = link.send(&Message::Refused { reason: "database no longer primary on this node".into() });
            return Ok(());
        }
        let seen = subscription.seen();
        let (batch, last_offset) = {
            let state = tenant.state.lock();
            let batch = state.db.change_log.read_after(cursor).ok().map(|records| {
                let mut bytes = 0;
                records
                    .take_while(|r| {
                        // The first record goes whatever its size, so none can stall the link.
                        let fits = bytes == 0 || bytes + r.encoded().len() <= BATCH_BYTES;
                        bytes += r.encoded().len();
                        fits
                    })
                    .take(BATCH_RECORDS)
                    .map(|r| (r.offset, r.encoded().clone()))
                    .collect::<Vec<_>>()
            });
            (batch, state.db.change_log.last_offset())
        };
        let Some(batch) = batch else {
            tracing::info!(db = %tenant.id, cursor, "replica fell behind the change-log backlog: sending a full copy");
            cursor = full_copy(tenant, link)?;
            heartbeat_due = true;
            continue;
        };
        if batch.is_empty() {
            if heartbeat_due || last_sent.elapsed() >= HEARTBEAT_EVERY {
                link.send(&Message::Heartbeat { last_offset })?;
                last_sent = Instant::now();
                heartbeat_due = false;
            }
            subscription.wait(seen, POLL_EVERY);
            continue;
        }
        for (offset, payload) in batch {
            link.queue(&Message::Record { offset, payload })?;
            cursor = offset;
        }
        // Tells the replica how far the primary is, so it can measure its lag.
        link.queue(&Message::Heartbeat { last_offset })?;
        link.flush()?;
        last_sent = Instant::now();
    }
}
