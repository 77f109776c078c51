//! Node-wide shared state: the tenant registry, limits, identity and counters.

use crate::tenant::TenantRegistry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Limits that protect the node from any single client.
#[derive(Clone, Debug)]
pub struct NodeLimits {
    pub parse: resp::Limits,
    /// Bytes of pub/sub messages queued for one subscriber before it is disconnected (Redis's
    /// `client-output-buffer-limit pubsub 32mb`).
    pub max_pending_push_bytes: usize,
    /// Pub/sub messages queued for one subscriber before it is disconnected.
    pub max_pending_push_messages: usize,
    /// Most keys `KEYS` may return before it refuses (use SCAN).
    pub max_keys_reply: usize,
    /// Hard bound on one script or function's run time: past it the script is stopped even
    /// if it wrote (then SCRIPT KILL refuses it), so no script holds a database forever.
    pub script_time_limit: std::time::Duration,
    /// How long a worker thread keeps polling after a read before it sleeps (`busy_poll.rs`);
    /// `None`: it sleeps as soon as it has nothing to do.
    pub busy_poll_window: Option<std::time::Duration>,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            parse: resp::Limits {
                max_request_bytes: 64 * 1024 * 1024,
                max_bulk_bytes: 64 * 1024 * 1024,
                ..resp::Limits::default()
            },
            max_pending_push_bytes: 32 * 1024 * 1024,
            max_pending_push_messages: 16 * 1024,
            max_keys_reply: 10_000_000,
            script_time_limit: std::time::Duration::from_secs(60),
            busy_poll_window: None,
        }
    }
}

pub struct Node {
    pub tenants: TenantRegistry,
    pub limits: NodeLimits,
    pub region: String,
    pub run_id: String,
    pub started: Instant,
    pub tcp_port: u16,
    next_client_id: AtomicU64,
    /// Bytes the process has allocated, when the binary's allocator can tell (jemalloc).
    pub allocated_bytes_probe: Option<fn() -> u64>,
    /// Hand-off queues of the worker threads, set once they run. Each holds at most the
    /// connections in transit, so it is bounded by the number of open connections.
    workers: std::sync::OnceLock<Vec<tokio::sync::mpsc::UnboundedSender<Box<crate::conn::Handoff>>>>,
    /// Disk persistence of change logs; `None` keeps data in memory only.
    pub persistence: Option<std::sync::Arc<crate::persistence::Persistence>>,
    /// Replication links (the cluster secret and replicas' followers); `None`: this node
    /// neither follows nor serves replicas.
    pub replication: Option<std::sync::Arc<crate::replication::Replication>>,
}

impl Node {
    pub fn new(limits: NodeLimits, region: String, tcp_port: u16) -> Self {
        use rand::Rng;
        let run_id: String =
            (0..40).map(|_| char::from(b"0123456789abcdef"[rand::thread_rng().gen_range(0..16)])).collect();
        Node {
            tenants: TenantRegistry::default(),
            limits,
            region,
            run_id,
            started: Instant::now(),
            tcp_port,
            next_client_id: AtomicU64::new(1),
            allocated_bytes_probe: None,
            workers: std::sync::OnceLock::new(),
            persistence: None,
            replication: None,
        }
    }

    /// Hosts a database (or updates its password), with this node's limits. A new database
    /// is loaded from its change log first, when persistence is on.
    pub fn upsert_tenant(
        self: &std::sync::Arc<Self>,
        cfg: &crate::tenant::TenantConfig,
    ) -> Result<std::sync::Arc<crate::tenant::Tenant>, crate::tenant::RegistryError> {
        let tenant = match &self.persistence {
            None => self.tenants.upsert_with(cfg, &self.limits, |t| {
                crate::replication::prepare_replica(t);
                Ok(())
            })?,
            Some(p) => self.tenants.upsert_with(cfg, &self.limits, |t| {
                crate::replication::prepare_replica(t);
                p.load(self, t).map_err(|e| e.to_string())
            })?,
        };
        if let Some(replication) = &self.replication {
            match cfg.role {
                crate::replication::Role::Replica(_) => replication.ensure_follower(self, &tenant),
                crate::replication::Role::Primary => replication.stop_follower(&tenant.id),
            }
        }
        Ok(tenant)
    }

    /// Stops hosting a database, disconnects its clients and deletes its files.
    pub fn remove_tenant(&self, id: &crate::tenant::TenantId) -> Result<(), crate::tenant::RegistryError> {
        self.tenants.remove(id)?;
        if let Some(replication) = &self.replication {
            replication.stop_follower(id);
        }
        if let Some(p) = &self.persistence {
            p.destroy(id);
        }
        Ok(())
    }

    /// Registers the worker threads' hand-off queues (once, at start).
    pub fn set_workers(&self, senders: Vec<tokio::sync::mpsc::UnboundedSender<Box<crate::conn::Handoff>>>) {
        let _ = self.workers.set(senders);
    }

    /// The worker thread that serves every connection of this tenant (none with one worker).
    pub fn home_worker(&self, id: &crate::tenant::TenantId) -> Option<usize> {
        use std::hash::BuildHasher;
        let n = self.workers.get()?.len();
        if n < 2 {
            return None;
        }
        // A fixed hasher: the home of a tenant must be the same on every call.
        let hash = foldhash::fast::FixedState::with_seed(0x7e2d).hash_one(id);
        Some((hash % n as u64) as usize)
    }

    /// Queues a connection for another worker thread; gives it back if that thread is gone.
    pub fn send_to_worker(
        &self,
        worker: usize,
        handoff: Box<crate::conn::Handoff>,
    ) -> Result<(), Box<crate::conn::Handoff>> {
        match self.workers.get().and_then(|w| w.get(worker)) {
            Some(tx) => tx.send(handoff).map_err(|e| e.0),
            None => Err(handoff),
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}
