//! Tenants (databases) hosted by a node and the registry that maps passwords to them.

use crate::blocking::BlockedClients;
use crate::context::ClientHandle;
use crate::pubsub::PubSub;
use bytes::Bytes;
use keyspace::Db;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::limits::TenantLimits;

/// Identifier of a database, stable across restarts (the control plane's id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub String);

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a command may change, behind one lock per tenant so that a tenant's commands
/// are atomic and ordered while different tenants never wait for each other.
pub struct TenantState {
    pub db: Db,
    pub blocked: BlockedClients,
}

pub struct Tenant {
    pub id: TenantId,
    pub password: RwLock<Bytes>,
    /// This is a `parking_lot` mutex and not a Tokio one: no `.await` happens while it is held.
    pub state: Mutex<TenantState>,
    pub pubsub: Mutex<PubSub>,
    pub clients: Mutex<HashMap<u64, Arc<ClientHandle>>>,
    /// Settings changed with CONFIG SET (those a tenant may change), by lower-case name.
    pub config: Mutex<std::collections::BTreeMap<String, String>>,
    /// When the database was created on this node, Unix seconds (LASTSAVE until snapshots exist).
    pub created_unix_s: u64,
    /// Newest change-log offset known to be on disk (fsynced); connections wait on it under
    /// the `always` policy.
    pub durable_offset: tokio::sync::watch::Sender<u64>,
    /// The change log cannot be written (disk full, failed fsync): writes are refused.
    pub disk_error: std::sync::atomic::AtomicBool,
    /// Size of the change log on disk, for INFO.
    pub log_bytes: std::sync::atomic::AtomicU64,
    /// The Lua state, script cache and functions (EVAL, FCALL), created on first use.
    pub scripting: crate::scripting::ScriptState,
    /// The plan's limits; the data-size ones are also copied into the database (`apply_limits`).
    pub limits: RwLock<TenantLimits>,
    /// Command-rate bucket (taken once per batch of requests, never under the state lock).
    pub rate: Mutex<crate::limits::RateBucket>,
    /// Commands and bytes counted for billing (`usage.rs`).
    pub usage: crate::usage::Usage,
    /// Primary or replica, and how a replica follows its primary (`replication`).
    pub replication: crate::replication::TenantReplication,
}

impl Tenant {
    pub fn new(id: TenantId, password: Bytes, limits: &crate::node::NodeLimits) -> Self {
        let tenant_limits = TenantLimits::default();
        Tenant {
            id,
            password: RwLock::new(password),
            state: Mutex::new(TenantState { db: Db::default(), blocked: BlockedClients::default() }),
            pubsub: Mutex::new(PubSub::new(limits.max_pending_push_bytes)),
            clients: Mutex::new(HashMap::new()),
            config: Mutex::new(std::collections::BTreeMap::new()),
            created_unix_s: crate::context::unix_time_ms() / 1000,
            durable_offset: tokio::sync::watch::Sender::new(0),
            disk_error: std::sync::atomic::AtomicBool::new(false),
            log_bytes: std::sync::atomic::AtomicU64::new(0),
            scripting: crate::scripting::ScriptState::default(),
            limits: RwLock::new(tenant_limits),
            rate: Mutex::new(crate::limits::RateBucket::new(tenant_limits.max_commands_per_second)),
            usage: crate::usage::Usage::default(),
            replication: crate::replication::TenantReplication::new(),
        }
    }

    /// The usage counters with the data size and connection count now. The data size is
    /// read only if the lock is free (a script may hold it for long); else the last one.
    pub fn usage_sample(&self) -> crate::usage::UsageSample {
        let data_bytes = self.state.try_lock().map(|mut state| state.db.used_bytes());
        let connections = self.clients.lock().len() as u64;
        self.usage.sample(data_bytes, connections)
    }

    /// Applies new plan limits to the live database (a plan or eviction change).
    pub fn apply_limits(&self, limits: &TenantLimits) {
        *self.limits.write() = *limits;
        self.rate.lock().set_rate(limits.max_commands_per_second);
        let mut policy = limits.memory_policy();
        if self.replication.is_replica() {
            // A replica holds what its primary holds: the primary enforces the size and sends
            // its evictions as DELs; evicting here on its own would diverge.
            policy.max_data_bytes = 0;
        }
        let expiry = match self.replication.is_replica() {
            true => keyspace::Expiry::Hides,
            false => keyspace::Expiry::Deletes,
        };
        let mut state = self.state.lock();
        state.db.set_memory_policy(policy);
        state.db.set_expiry(expiry);
    }

    /// Disconnects every client of this tenant (password reset, removal).
    pub fn kill_all_clients(&self) {
        for c in self.clients.lock().values() {
            c.kill();
        }
    }
}

/// Declares a tenant to host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantConfig {
    pub id: TenantId,
    pub password: String,
    pub limits: TenantLimits,
    /// Primary, or a replica following a primary elsewhere (`replication`).
    pub role: crate::replication::Role,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("password already used by another database")]
    PasswordInUse,
    #[error("no such database: {0}")]
    NotFound(TenantId),
    #[error("database {0} cannot be loaded: {1}")]
    Load(TenantId, String),
}

/// Tenants of a node, found by id (admin) or by password (AUTH).
#[derive(Default)]
pub struct TenantRegistry {
    inner: RwLock<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    by_id: HashMap<TenantId, Arc<Tenant>>,
    by_password: HashMap<Bytes, Arc<Tenant>>,
}

impl TenantRegistry {
    /// Adds a tenant, or updates the password of an existing one (old password stops working
    /// and its connections are closed).
    pub fn upsert(&self, cfg: &TenantConfig, limits: &crate::node::NodeLimits) -> Result<Arc<Tenant>, RegistryError> {
        self.upsert_with(cfg, limits, |_| Ok(()))
    }

    /// Like `upsert`; a new tenant is first passed to `init` (which loads its data) and only
    /// becomes reachable if that succeeds.
    pub fn upsert_with(
        &self,
        cfg: &TenantConfig,
        limits: &crate::node::NodeLimits,
        init: impl FnOnce(&Tenant) -> Result<(), String>,
    ) -> Result<Arc<Tenant>, RegistryError> {
        let tenant = self.upsert_locked(cfg, limits, init)?;
        // Outside the registry lock: a connection re-authenticating holds its tenant's state
        // lock while it looks a password up, so state locks are never taken under this one.
        tenant.apply_limits(&cfg.limits);
        Ok(tenant)
    }

    fn upsert_locked(
        &self,
        cfg: &TenantConfig,
        limits: &crate::node::NodeLimits,
        init: impl FnOnce(&Tenant) -> Result<(), String>,
    ) -> Result<Arc<Tenant>, RegistryError> {
        let password = Bytes::copy_from_slice(cfg.password.as_bytes());
        let mut inner = self.inner.write();
        if let Some(other) = inner.by_password.get(&password) {
            if other.id != cfg.id {
                return Err(RegistryError::PasswordInUse);
            }
        }
        if let Some(existing) = inner.by_id.get(&cfg.id).cloned() {
            if existing.replication.role() != cfg.role {
                existing.replication.set_role(cfg.role.clone());
            }
            let old = existing.password.read().clone();
            if old != password {
                inner.by_password.remove(&old);
                *existing.password.write() = password.clone();
                inner.by_password.insert(password, existing.clone());
                existing.kill_all_clients();
            }
            return Ok(existing);
        }
        let tenant = Arc::new(Tenant::new(cfg.id.clone(), password.clone(), limits));
        tenant.replication.set_role(cfg.role.clone());
        init(&tenant).map_err(|e| RegistryError::Load(cfg.id.clone(), e))?;
        // Not reachable yet, so taking its state lock here cannot wait on anyone.
        tenant.apply_limits(&cfg.limits);
        inner.by_id.insert(cfg.id.clone(), tenant.clone());
        inner.by_password.insert(password, tenant.clone());
        Ok(tenant)
    }

    /// Removes a tenant and disconnects its clients; its data is dropped with the last user.
    pub fn remove(&self, id: &TenantId) -> Result<(), RegistryError> {
        let mut inner = self.inner.write();
        let tenant = inner.by_id.remove(id).ok_or_else(|| RegistryError::NotFound(id.clone()))?;
        let password = tenant.password.read().clone();
        inner.by_password.remove(&password);
        tenant.kill_all_clients();
        Ok(())
    }

    pub fn by_password(&self, password: &[u8]) -> Option<Arc<Tenant>> {
        self.inner.read().by_password.get(password).cloned()
    }

    pub fn get(&self, id: &TenantId) -> Option<Arc<Tenant>> {
        self.inner.read().by_id.get(id).cloned()
    }

    pub fn ids(&self) -> Vec<TenantId> {
        self.inner.read().by_id.keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Arc<Tenant>> {
        self.inner.read().by_id.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(id: &str, pw: &str) -> TenantConfig {
        TenantConfig {
            id: TenantId(id.into()),
            password: pw.into(),
            limits: TenantLimits::default(),
            role: Default::default(),
        }
    }

    #[test]
    fn passwords_select_tenants_and_reset_revokes_old() {
        let reg = TenantRegistry::default();
        let limits = crate::node::NodeLimits::default();
        let a = reg.upsert(&cfg("a", "pa"), &limits).unwrap();
        reg.upsert(&cfg("b", "pb"), &limits).unwrap();
        assert_eq!(reg.by_password(b"pa").unwrap().id, a.id);
        assert_eq!(reg.upsert(&cfg("c", "pa"), &limits).err(), Some(RegistryError::PasswordInUse));
        reg.upsert(&cfg("a", "pa2"), &limits).unwrap();
        assert!(reg.by_password(b"pa").is_none());
        assert_eq!(reg.by_password(b"pa2").unwrap().id, a.id);
        reg.remove(&TenantId("a".into())).unwrap();
        assert!(reg.by_password(b"pa2").is_none());
    }
}
