//! The Kafka broker of a node: its identity and advertised address, the clusters it hosts and
//! the credentials that lead to them.

use crate::access::{ClusterId, CredentialConfig, Credentials};
use crate::cluster::{Cluster, ClusterLimits};
use crate::partition::Storage;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Kafka's broker id of every node: a region is served by one node, which presents itself as
/// the leader of every partition.
pub const NODE_ID: i32 = 1;

/// Limits of the broker as a whole.
#[derive(Clone, Debug)]
pub struct BrokerLimits {
    /// Largest request frame read; a bigger one closes the connection before it is buffered.
    pub max_request_bytes: usize,
    /// Longest a Fetch may wait for data, whatever the client asks.
    pub max_fetch_wait_ms: u64,
    /// Most bytes one Fetch response carries.
    pub max_fetch_response_bytes: usize,
    /// How often retention and compaction run over every partition.
    pub cleanup_interval: std::time::Duration,
    /// Most keys (and producers) one compaction round maps: bounds its memory (about 28
    /// bytes each); a partition with more distinct keys is compacted over several rounds.
    pub compaction_map_entries: usize,
}

impl Default for BrokerLimits {
    fn default() -> Self {
        BrokerLimits {
            max_request_bytes: 100 * 1024 * 1024,
            max_fetch_wait_ms: 30_000,
            max_fetch_response_bytes: 64 * 1024 * 1024,
            cleanup_interval: crate::partition::CLEANUP_INTERVAL,
            compaction_map_entries: kafka_log::DEFAULT_COMPACTION_MAP_ENTRIES,
        }
    }
}

/// How a cluster is declared to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub id: ClusterId,
    pub credentials: Vec<CredentialConfig>,
}

pub struct Broker {
    /// Kafka's broker id; one broker per node, so every partition leader is this node.
    pub node_id: i32,
    /// Host and port clients are told to connect to (Metadata, FindCoordinator).
    pub advertised: RwLock<(String, i32)>,
    pub credentials: Credentials,
    clusters: RwLock<HashMap<ClusterId, Arc<Cluster>>>,
    /// Where cluster folders live.
    pub data_dir: PathBuf,
    pub storage: Arc<Storage>,
    pub limits: BrokerLimits,
}

impl Broker {
    pub fn new(data_dir: PathBuf, storage: Arc<Storage>, limits: BrokerLimits) -> Broker {
        storage.set_cleanup_interval(limits.cleanup_interval);
        storage.set_compaction_map_entries(limits.compaction_map_entries);
        Broker {
            node_id: NODE_ID,
            // Filled in by `server::start` from the bound address unless set before.
            advertised: RwLock::new((String::new(), 0)),
            credentials: Credentials::default(),
            clusters: RwLock::new(HashMap::new()),
            data_dir,
            storage,
            limits,
        }
    }

    pub fn cluster(&self, id: &ClusterId) -> Option<Arc<Cluster>> {
        self.clusters.read().get(id).cloned()
    }

    pub fn clusters(&self) -> Vec<Arc<Cluster>> {
        self.clusters.read().values().cloned().collect()
    }

    /// Adds a cluster (loading its topics from disk) or updates its credentials.
    pub fn upsert_cluster(&self, config: &ClusterConfig) -> anyhow::Result<Arc<Cluster>> {
        let cluster = match self.cluster(&config.id) {
            Some(existing) => existing,
            None => {
                let dir = self.data_dir.join(&config.id.0);
                let cluster =
                    Arc::new(Cluster::open(config.id.clone(), dir, ClusterLimits::default(), self.storage.clone())?);
                self.clusters.write().insert(config.id.clone(), cluster.clone());
                tracing::info!(cluster = %config.id, "kafka cluster loaded");
                cluster
            }
        };
        for old in self.credentials.all() {
            let kept = config.credentials.iter().any(|c| c.username == old.config.username);
            if old.config.cluster == config.id && !kept {
                self.credentials.remove(&old.config.username);
            }
        }
        for credential in &config.credentials {
            if credential.cluster != config.id {
                anyhow::bail!("credential {} belongs to another cluster", credential.username);
            }
            if let Some(existing) = self.credentials.get(&credential.username) {
                if existing.config.cluster != config.id {
                    anyhow::bail!("user name {} is already used by another cluster", credential.username);
                }
            }
            self.credentials.upsert(credential.clone());
        }
        Ok(cluster)
    }

    /// Removes a cluster and its data from this node.
    pub fn remove_cluster(&self, id: &ClusterId) {
        for credential in self.credentials.all() {
            if &credential.config.cluster == id {
                self.credentials.remove(&credential.config.username);
            }
        }
        if let Some(cluster) = self.clusters.write().remove(id) {
            for topic in cluster.topics() {
                for partition in topic.partitions.read().iter() {
                    partition.close();
                }
            }
            if let Err(e) = std::fs::remove_dir_all(&cluster.dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %cluster.dir.display(), error = %e, "cannot remove a deleted cluster's files");
                }
            }
            tracing::info!(cluster = %id, "kafka cluster removed");
        }
    }

    pub fn advertised(&self) -> (String, i32) {
        self.advertised.read().clone()
    }
}
