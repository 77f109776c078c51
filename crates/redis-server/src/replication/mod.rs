//! Replication of a database to its read regions: a copy's role, the per-database link state
//! and change signal, and how a replica applies its primary's records (through the command
//! table, as log replay does). The wire format is `frame.rs` (no I/O); the primary's side of
//! the link is `primary.rs`, the replica's `replica.rs`.

pub mod frame;
mod link;
mod primary;
mod replica;

pub use primary::{listen, serve};

use crate::context::{ClientHandle, ClientState};
use crate::node::Node;
use crate::tenant::{Tenant, TenantId};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a node's copy of a database is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Takes writes and ships its change log to replicas.
    #[default]
    Primary,
    /// Follows a primary on another node; serves reads and refuses writes (`READONLY`).
    Replica(ReplicaOf),
}

/// Where a replica's primary is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaOf {
    pub primary_node: String,
    /// The primary node's replication listener, `HOST:PORT`.
    pub primary_addr: String,
    /// The primary node's Redis address, where writes are forwarded (`None`: refused).
    pub primary_redis_addr: Option<String>,
}

/// Where a replica is in following its primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    FullSync,
    /// Applying the primary's records live, caught up at least once since connecting.
    Streaming,
}

impl LinkState {
    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::FullSync,
            2 => LinkState::Streaming,
            _ => LinkState::Connecting,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            LinkState::Connecting => 0,
            LinkState::FullSync => 1,
            LinkState::Streaming => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::FullSync => "full_sync",
            LinkState::Streaming => "streaming",
        }
    }
}

const ROLE_PRIMARY: u8 = 0;
const ROLE_REPLICA: u8 = 1;

/// One database's replication state on this node.
pub struct TenantReplication {
    role: RwLock<Role>,
    /// `ROLE_PRIMARY` or `ROLE_REPLICA`, read on every write command (no lock).
    role_kind: AtomicU8,
    state: AtomicU8,
    /// The primary's newest offset, as last heard from it (a replica's lag is measured to it).
    primary_offset: AtomicU64,
    /// On a primary: this run's history id (random per load; offsets of two runs need not name
    /// the same records). On a replica: the history its data comes from, 0 for none.
    history: AtomicU64,
    /// Signalled after writes, for the links shipping this database.
    pub changes: ChangeSignal,
    /// On a replica: the offset applied, after each batch (forwarded writes wait on it).
    pub applied: tokio::sync::watch::Sender<u64>,
}

impl TenantReplication {
    pub fn new() -> Self {
        TenantReplication {
            role: RwLock::new(Role::Primary),
            role_kind: AtomicU8::new(ROLE_PRIMARY),
            state: AtomicU8::new(LinkState::Connecting.to_u8()),
            primary_offset: AtomicU64::new(0),
            history: AtomicU64::new(new_history()),
            changes: ChangeSignal::default(),
            applied: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn role(&self) -> Role {
        self.role.read().clone()
    }

    pub fn set_role(&self, role: Role) {
        let kind = match role {
            Role::Primary => ROLE_PRIMARY,
            Role::Replica(_) => ROLE_REPLICA,
        };
        let was = self.role_kind.swap(kind, Ordering::SeqCst);
        if was == ROLE_REPLICA && kind == ROLE_PRIMARY {
            // A new primary run: its offsets continue the replica's, from a new history.
            self.history.store(new_history(), Ordering::SeqCst);
        }
        if was == ROLE_PRIMARY && kind == ROLE_REPLICA {
            // Data written as a primary is not the new primary's history: copy it whole.
            self.history.store(0, Ordering::SeqCst);
        }
        *self.role.write() = role;
    }

    pub fn is_replica(&self) -> bool {
        self.role_kind.load(Ordering::Relaxed) == ROLE_REPLICA
    }

    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Relaxed))
    }

    fn set_state(&self, state: LinkState) {
        self.state.store(state.to_u8(), Ordering::Relaxed);
    }

    pub fn primary_offset(&self) -> u64 {
        self.primary_offset.load(Ordering::Relaxed)
    }

    pub fn history(&self) -> u64 {
        self.history.load(Ordering::SeqCst)
    }

    pub(crate) fn set_history(&self, history: u64) {
        self.history.store(history, Ordering::SeqCst);
    }
}

impl Default for TenantReplication {
    fn default() -> Self {
        Self::new()
    }
}

/// A random non-zero history id.
fn new_history() -> u64 {
    rand::random::<u64>().max(1)
}

/// Wakes threads waiting for a database's next write. Connections call `notify` after every
/// batch that wrote; it costs one atomic load while nobody waits.
#[derive(Default)]
pub struct ChangeSignal {
    waiters: AtomicUsize,
    seq: Mutex<u64>,
    changed: Condvar,
}

impl ChangeSignal {
    pub fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            *self.seq.lock() += 1;
            self.changed.notify_all();
        }
    }

    /// Registers a waiter for as long as the guard lives. Register before reading the log:
    /// a write after that read then always finds the waiter and signals it.
    pub fn subscribe(&self) -> Subscription<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Subscription { signal: self }
    }
}

pub struct Subscription<'a> {
    signal: &'a ChangeSignal,
}

impl Subscription<'_> {
    /// The current sequence number, to pass to `wait` after reading the log.
    pub fn seen(&self) -> u64 {
        *self.signal.seq.lock()
    }

    /// Waits until a write after `seen`, or `timeout`.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let mut seq = self.signal.seq.lock();
        if *seq == seen {
            self.signal.changed.wait_for(&mut seq, timeout);
        }
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        self.signal.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The node's replication: the cluster secret that authenticates links, and the follower
/// threads of its replicas.
pub struct Replication {
    pub(crate) secret: Vec<u8>,
    followers: Mutex<HashMap<TenantId, Arc<AtomicBool>>>,
}

impl Replication {
    pub fn new(cluster_secret: &str) -> Arc<Self> {
        Arc::new(Replication { secret: cluster_secret.as_bytes().to_vec(), followers: Mutex::new(HashMap::new()) })
    }

    /// Starts following the primary of `tenant` unless a follower runs already.
    pub(crate) fn ensure_follower(self: &Arc<Self>, node: &Arc<Node>, tenant: &Arc<Tenant>) {
        let mut followers = self.followers.lock();
        if followers.contains_key(&tenant.id) {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        followers.insert(tenant.id.clone(), stop.clone());
        let id = tenant.id.clone();
        let (node, tenant, me) = (node.clone(), tenant.clone(), self.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("replica-{id}"))
            .spawn(move || replica::follow(&node, &tenant, &me.secret, &stop));
        if let Err(e) = spawned {
            followers.remove(&id);
            tracing::error!(db = %id, error = %e, "cannot start a replica's follower thread");
        }
    }

    /// Stops the follower of a database (removed, or no longer a replica here).
    pub(crate) fn stop_follower(&self, id: &TenantId) {
        if let Some(stop) = self.followers.lock().remove(id) {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Before a new replica database is loaded: its keys never expire on their own here.
pub(crate) fn prepare_replica(tenant: &Tenant) {
    if tenant.replication.is_replica() {
        tenant.state.lock().db.set_expiry(keyspace::Expiry::Hides);
    }
}

/// A client state for running logged commands (replay at load, a replica's apply): no
/// connection, inside EXEC so blocking commands never wait.
pub(crate) fn log_client() -> ClientState {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let handle = Arc::new(ClientHandle::new(0, "replay".into(), "replay".into(), 0, tx.clone()));
    let mut client = ClientState::new(handle, tx);
    client.in_exec = true;
    client
}

/// Runs one primary record on a replica's database and logs it under the primary's offset
/// and bytes (whatever the run itself would have logged is dropped), so the replica's log is
/// the primary's. Nothing expires while it runs: the primary decided on its own clock and
/// sends a `DEL` for each key it expires.
pub(crate) fn apply_record(
    node: &Arc<Node>,
    db: &mut keyspace::Db,
    client: &mut ClientState,
    offset: u64,
    payload: &Bytes,
) -> Result<(), keyspace::changelog::OffsetGap> {
    let mark = db.change_log.last_offset();
    if offset != mark + 1 {
        return Err(keyspace::changelog::OffsetGap { expected: mark + 1, got: offset });
    }
    db.set_expiry(keyspace::Expiry::Suspended);
    crate::persistence::run_logged(node, db, client, offset, &keyspace::changelog::decode_args(payload));
    db.set_expiry(keyspace::Expiry::Hides);
    db.change_log.truncate_after(mark);
    db.change_log.append_replicated(offset, payload.clone())
}

/// The error a replica answers to a write it cannot forward.
pub const READONLY: &str = "READONLY You can't write against a read only replica.";

/// Whether the calling client's database is a replica here (its writes are refused).
pub fn refuses_writes(client: &ClientState) -> bool {
    client.tenant.as_ref().is_some_and(|t| t.replication.is_replica())
}

/// Whether a write inside this client's MULTI on a replica is queued, for the whole
/// transaction to be forwarded at EXEC: the replica knows its primary's address and the
/// client WATCHes nothing (a WATCH would have to hold on the primary; not forwarded yet).
pub fn queues_for_primary(client: &ClientState) -> bool {
    client.multi.is_some()
        && client.watched.is_empty()
        && client.tenant.as_ref().is_some_and(|t| match &*t.replication.role.read() {
            Role::Replica(of) => of.primary_redis_addr.is_some(),
            Role::Primary => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeLimits;
    use crate::tenant::TenantConfig;
    use crate::testing::{bulk, ok, TestClient};
    use resp::Reply;
    use std::time::Instant;

    const SECRET: &str = "cluster-secret";

    /// A node with replication on, serving links on a fresh port; returns it and that port.
    fn node(secret: &str, data_dir: Option<&std::path::Path>) -> (Arc<Node>, std::net::SocketAddr) {
        let mut node = Node::new(NodeLimits::default(), "test".into(), 0);
        let replication = Replication::new(secret);
        node.replication = Some(replication.clone());
        if let Some(dir) = data_dir {
            let disk = Arc::new(durability::RealDisk);
            node.persistence = Some(crate::persistence::Persistence::new(
                dir.to_path_buf(),
                crate::persistence::FsyncPolicy::EverySec,
                disk,
            ));
        }
        let node = Arc::new(node);
        if let Some(p) = node.persistence.clone() {
            p.start_writers(&node).unwrap();
        }
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = node.clone();
        std::thread::spawn(move || serve(serving, listener, replication));
        (node, addr)
    }

    fn cfg(role: Role) -> TenantConfig {
        TenantConfig { id: TenantId("db".into()), password: "pw".into(), limits: Default::default(), role }
    }

    fn replica_of(addr: std::net::SocketAddr) -> Role {
        Role::Replica(ReplicaOf { primary_node: "p".into(), primary_addr: addr.to_string(), primary_redis_addr: None })
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn offset(t: &Tenant) -> u64 {
        t.state.lock().db.change_log.last_offset()
    }

    #[test]
    fn a_replica_copies_its_primary_then_follows_it_live_hides_expired_keys_and_refuses_writes() {
        let (primary_node, addr) = node(SECRET, None);
        let primary = primary_node.upsert_tenant(&cfg(Role::Primary)).unwrap();
        let mut p = TestClient::attach(primary_node.clone(), primary.clone());
        for i in 0..500 {
            p.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]);
        }
        p.cmd(&["HSET", "h", "f1", "a", "f2", "b"]);
        p.cmd(&["SET", "short", "x", "PX", "300"]);
        p.cmd(&["SET", "long", "y", "EX", "100"]);

        let (replica_node, _) = node(SECRET, None);
        let replica = replica_node.upsert_tenant(&cfg(replica_of(addr))).unwrap();
        wait_until("streaming", || replica.replication.state() == LinkState::Streaming);
        assert_eq!(offset(&replica), offset(&primary));
        let mut r = TestClient::attach(replica_node.clone(), replica.clone());
        assert_eq!(r.cmd(&["GET", "k499"]), bulk("v499"));
        let info = match r.cmd(&["INFO", "replication"]) {
            Reply::Verbatim(text) => String::from_utf8(text.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert!(info.contains("role:slave\r\n") && info.contains("master_link_status:up\r\n"), "{info}");
        assert_eq!(r.cmd(&["HGET", "h", "f2"]), bulk("b"));
        assert!(matches!(r.cmd(&["TTL", "long"]), Reply::Integer(t) if (98..=100).contains(&t)));

        // Live: a write on the primary shows on the replica, with the same offset.
        p.cmd(&["SET", "live", "1"]);
        p.cmd(&["MULTI"]);
        p.cmd(&["INCR", "live"]);
        p.cmd(&["HDEL", "h", "f1"]);
        p.cmd(&["EXEC"]);
        wait_until("live records", || offset(&replica) == offset(&primary));
        assert_eq!(r.cmd(&["GET", "live"]), bulk("2"));
        assert_eq!(r.cmd(&["HGET", "h", "f1"]), Reply::Nil);
        assert_eq!(r.cmd(&["HLEN", "h"]), Reply::Integer(1));

        // Past its deadline the key is hidden at once, and deleted only by the primary's DEL.
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(r.cmd(&["GET", "short"]), Reply::Nil);
        assert_eq!(r.cmd(&["EXISTS", "short"]), Reply::Integer(0));
        let before = replica.state.lock().db.len();
        assert_eq!(p.cmd(&["GET", "short"]), Reply::Nil);
        wait_until("the primary's DEL", || offset(&replica) == offset(&primary));
        assert_eq!(replica.state.lock().db.len(), before - 1);

        // Writes are refused, never applied locally, in a transaction and in a script too.
        assert_eq!(r.cmd(&["SET", "k1", "mine"]), Reply::error(READONLY));
        assert_eq!(r.cmd(&["MULTI"]), ok());
        assert_eq!(r.cmd(&["DEL", "k1"]), Reply::error(READONLY));
        assert!(matches!(r.cmd(&["EXEC"]), Reply::Error(e) if e.starts_with("EXECABORT")));
        assert!(
            matches!(r.cmd(&["EVAL", "return redis.call('SET', 'k1', 'x')", "0"]), Reply::Error(e) if e.contains("READONLY"))
        );
        assert_eq!(r.cmd(&["GET", "k1"]), bulk("v1"));
        assert_eq!(offset(&replica), offset(&primary));
    }

    #[test]
    fn a_transaction_queued_for_the_primary_is_never_applied_by_a_local_exec() {
        let node = Arc::new(Node::new(NodeLimits::default(), "test".into(), 0));
        let of = ReplicaOf {
            primary_node: "p".into(),
            primary_addr: "127.0.0.1:1".into(),
            primary_redis_addr: Some("127.0.0.1:2".into()),
        };
        let replica = node.upsert_tenant(&cfg(Role::Replica(of))).unwrap();
        let mut r = TestClient::attach(node, replica.clone());
        assert_eq!(r.cmd(&["MULTI"]), ok());
        // Queued for forwarding at EXEC (the connection forwards it); run here, it refuses.
        assert_eq!(r.cmd(&["SET", "k", "v"]), Reply::status("QUEUED"));
        assert!(matches!(r.cmd(&["EXEC"]), Reply::Error(e) if e.starts_with("EXECABORT READONLY")));
        assert_eq!(r.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(offset(&replica), 0);
        // With a WATCH it is not queued at all.
        assert_eq!(r.cmd(&["WATCH", "k"]), ok());
        assert_eq!(r.cmd(&["MULTI"]), ok());
        assert_eq!(r.cmd(&["SET", "k", "v"]), Reply::error(READONLY));
    }

    #[test]
    fn a_wrong_cluster_secret_gets_nothing() {
        let (primary_node, addr) = node(SECRET, None);
        let primary = primary_node.upsert_tenant(&cfg(Role::Primary)).unwrap();
        TestClient::attach(primary_node, primary).cmd(&["SET", "k", "v"]);
        let (replica_node, _) = node("another-secret", None);
        let replica = replica_node.upsert_tenant(&cfg(replica_of(addr))).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(replica.replication.state(), LinkState::Connecting);
        assert_eq!(offset(&replica), 0);
        assert_eq!(replica.state.lock().db.len(), 0);
    }

    #[test]
    fn a_restarted_replica_resumes_from_its_offset_with_the_writes_made_while_it_was_away() {
        let dir = std::env::temp_dir().join(format!("tern-repl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (primary_node, addr) = node(SECRET, None);
        let primary = primary_node.upsert_tenant(&cfg(Role::Primary)).unwrap();
        let mut p = TestClient::attach(primary_node.clone(), primary.clone());
        p.cmd(&["SET", "a", "1"]);
        {
            let (replica_node, _) = node(SECRET, Some(&dir));
            let replica = replica_node.upsert_tenant(&cfg(replica_of(addr))).unwrap();
            wait_until("streaming", || replica.replication.state() == LinkState::Streaming);
            p.cmd(&["SET", "b", "2"]);
            wait_until("b", || offset(&replica) == offset(&primary));
            let history = replica.replication.history();
            assert_eq!(history, primary.replication.history());
            // The node stops: its records are on disk, its follower and database gone.
            if let Some(p) = &replica_node.persistence {
                p.write_tenant(&replica, true);
            }
            replica_node.replication.as_ref().unwrap().stop_follower(&replica.id);
            replica_node.tenants.remove(&replica.id).unwrap();
        }
        // Written while the replica is away.
        p.cmd(&["SET", "c", "3"]);
        let (replica_node, _) = node(SECRET, Some(&dir));
        let replica = replica_node.upsert_tenant(&cfg(replica_of(addr))).unwrap();
        // Loaded from its own files, with the primary history they belong to: it resumes.
        assert_eq!(replica.replication.history(), primary.replication.history());
        let mut r = TestClient::attach(replica_node.clone(), replica.clone());
        assert_eq!(r.cmd(&["GET", "b"]), bulk("2"));
        wait_until("c", || offset(&replica) == offset(&primary));
        assert_eq!(r.cmd(&["GET", "c"]), bulk("3"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
