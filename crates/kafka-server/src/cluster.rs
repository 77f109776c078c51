//! A Kafka cluster hosted by a node: its topics and their partitions, persisted in a small
//! metadata file beside the partition logs. A connection only ever reaches its own cluster.

use crate::access::ClusterId;
use crate::partition::Partition;
use crate::topic_config::TopicConfig;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// Limits of a cluster (from its plan).
#[derive(Clone, Debug)]
pub struct ClusterLimits {
    pub max_topics: usize,
    pub max_partitions_per_topic: i32,
    /// Partitions of a topic created by Metadata or Produce without CreateTopics.
    pub default_partitions: i32,
    pub auto_create_topics: bool,
}

impl Default for ClusterLimits {
    fn default() -> Self {
        ClusterLimits {
            max_topics: 1000,
            max_partitions_per_topic: 100,
            default_partitions: 1,
            auto_create_topics: true,
        }
    }
}

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: RwLock<TopicConfig>,
    pub partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.read().get(i).cloned())
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }
}

/// What is saved about a topic (its records live in the partition logs).
#[derive(serde::Serialize, serde::Deserialize)]
struct TopicRecord {
    name: String,
    id: Uuid,
    partitions: i32,
    config: TopicConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("Number of partitions must be between 1 and {max}: {asked}")]
    InvalidPartitions { asked: i32, max: i32 },
    #[error("The cluster already has its maximum of {0} topics")]
    TooManyTopics(usize),
    #[error("This server does not host this topic-partition.")]
    Unknown,
    #[error("storage error: {0}")]
    Storage(String),
}

/// Whether an admin request changes anything or only checks (`validate_only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    Now,
    ValidateOnly,
}

impl Apply {
    pub fn from_validate_only(validate_only: bool) -> Apply {
        if validate_only {
            Apply::ValidateOnly
        } else {
            Apply::Now
        }
    }
}

pub struct Cluster {
    pub id: ClusterId,
    /// Where topics and groups are stored.
    pub dir: PathBuf,
    pub limits: RwLock<ClusterLimits>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serializes topic creation and deletion with the metadata file that records them.
    topic_changes: Mutex<()>,
    next_producer_id: AtomicI64,
    pub groups: crate::groups::Groups,
    pub storage: Arc<crate::partition::Storage>,
    /// Notified whenever records are appended to any partition (Fetch long polls wait on it).
    pub arrivals: Arc<tokio::sync::Notify>,
    /// Messages and bytes produced and consumed, for billing (`usage.rs`).
    pub usage: crate::usage::ClusterUsage,
}

impl Cluster {
    /// Opens a cluster, reloading its topics and partition logs from `dir`.
    pub fn open(
        id: ClusterId,
        dir: PathBuf,
        limits: ClusterLimits,
        storage: Arc<crate::partition::Storage>,
    ) -> anyhow::Result<Cluster> {
        let groups = crate::groups::Groups::open(Some(&dir), crate::groups::GroupLimits::default())?;
        let cluster = Cluster {
            id,
            dir,
            limits: RwLock::new(limits),
            topics: RwLock::new(BTreeMap::new()),
            topic_changes: Mutex::new(()),
            next_producer_id: AtomicI64::new(initial_producer_id()),
            groups,
            storage,
            arrivals: Arc::new(tokio::sync::Notify::new()),
            usage: Default::default(),
        };
        let file = cluster.metadata_path();
        if file.exists() {
            let text = std::fs::read_to_string(&file)?;
            let records: Vec<TopicRecord> = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: not a topic metadata file: {e}", file.display()))?;
            let mut topics = cluster.topics.write();
            for record in records {
                let topic = cluster.build_topic(record.name.clone(), record.id, record.partitions, record.config)?;
                topics.insert(record.name, topic);
            }
        }
        Ok(cluster)
    }

    fn metadata_path(&self) -> PathBuf {
        self.dir.join("topics.json")
    }

    fn topic_dir(&self, name: &str, id: Uuid) -> PathBuf {
        // The id in the folder name keeps a re-created topic from seeing a deleted one's data.
        self.dir.join("topics").join(format!("{name}-{}", id.simple()))
    }

    fn open_partition(
        &self,
        topic_dir: &std::path::Path,
        index: i32,
        config: &TopicConfig,
    ) -> anyhow::Result<Arc<Partition>> {
        Partition::open(&self.storage, index, &topic_dir.join(index.to_string()), config, self.arrivals.clone())
    }

    fn build_topic(&self, name: String, id: Uuid, partitions: i32, config: TopicConfig) -> anyhow::Result<Arc<Topic>> {
        let dir = self.topic_dir(&name, id);
        let mut list = Vec::with_capacity(partitions.max(0) as usize);
        for index in 0..partitions {
            list.push(self.open_partition(&dir, index, &config)?);
        }
        Ok(Arc::new(Topic { name, id, config: RwLock::new(config), partitions: RwLock::new(list) }))
    }

    fn save_metadata(&self) -> anyhow::Result<()> {
        let path = self.metadata_path();
        let records: Vec<TopicRecord> = self
            .topics
            .read()
            .values()
            .map(|t| TopicRecord {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count(),
                config: t.config.read().clone(),
            })
            .collect();
        crate::fsutil::write_atomically(&path, serde_json::to_string_pretty(&records)?.as_bytes())?;
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == id).cloned()
    }

    /// Creates a topic (checks only when `validate_only`).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        config: TopicConfig,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        crate::topic_config::validate_topic_name(name).map_err(TopicError::InvalidName)?;
        config.validate().map_err(TopicError::InvalidConfig)?;
        let limits = self.limits.read().clone();
        let partitions = if partitions == -1 { limits.default_partitions } else { partitions };
        if partitions < 1 || partitions > limits.max_partitions_per_topic {
            return Err(TopicError::InvalidPartitions { asked: partitions, max: limits.max_partitions_per_topic });
        }
        let _guard = self.topic_changes.lock();
        if self.topics.read().contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if self.topics.read().len() >= limits.max_topics {
            return Err(TopicError::TooManyTopics(limits.max_topics));
        }
        let id = Uuid::new_v4();
        if validate_only {
            return Ok(Arc::new(Topic {
                name: name.to_string(),
                id,
                config: RwLock::new(config),
                partitions: RwLock::new(Vec::new()),
            }));
        }
        let topic = self
            .build_topic(name.to_string(), id, partitions, config)
            .map_err(|e| TopicError::Storage(format!("{e:#}")))?;
        self.topics.write().insert(name.to_string(), topic.clone());
        if let Err(e) = self.save_metadata() {
            self.topics.write().remove(name);
            return Err(TopicError::Storage(format!("{e:#}")));
        }
        tracing::info!(cluster = %self.id, topic = name, partitions, "topic created");
        Ok(topic)
    }

    /// Creates a topic with the defaults when the cluster allows it (Metadata and Produce on
    /// a topic that does not exist, as Kafka's `auto.create.topics.enable`).
    pub fn auto_create(&self, name: &str) -> Result<Option<Arc<Topic>>, TopicError> {
        if !self.limits.read().auto_create_topics {
            return Ok(None);
        }
        match self.create_topic(name, -1, TopicConfig::default(), false) {
            Ok(topic) => Ok(Some(topic)),
            Err(TopicError::AlreadyExists(_)) => Ok(self.topic(name)),
            Err(e) => Err(e),
        }
    }

    pub fn delete_topic(&self, name: &str) -> Result<(), TopicError> {
        let _guard = self.topic_changes.lock();
        let Some(topic) = self.topics.write().remove(name) else {
            return Err(TopicError::Unknown);
        };
        if let Err(e) = self.save_metadata() {
            self.topics.write().insert(name.to_string(), topic);
            return Err(TopicError::Storage(format!("{e:#}")));
        }
        for partition in topic.partitions.read().iter() {
            partition.close();
        }
        let dir = self.topic_dir(&topic.name, topic.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove a deleted topic's files");
        }
        tracing::info!(cluster = %self.id, topic = name, "topic deleted");
        Ok(())
    }

    /// Adds partitions to a topic (CreatePartitions); the count can only grow.
    pub fn add_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let _guard = self.topic_changes.lock();
        let topic = self.topic(name).ok_or(TopicError::Unknown)?;
        let max = self.limits.read().max_partitions_per_topic;
        let current = topic.partition_count();
        if count <= current || count > max {
            return Err(TopicError::InvalidPartitions { asked: count, max });
        }
        if validate_only {
            return Ok(());
        }
        let config = topic.config.read().clone();
        let dir = self.topic_dir(&topic.name, topic.id);
        let mut added = Vec::new();
        for index in current..count {
            let partition =
                self.open_partition(&dir, index, &config).map_err(|e| TopicError::Storage(format!("{e:#}")))?;
            added.push(partition);
        }
        topic.partitions.write().extend(added);
        self.save_metadata().map_err(|e| TopicError::Storage(format!("{e:#}")))
    }

    /// Changes settings of a topic and applies them to its partitions.
    pub fn set_topic_config(&self, name: &str, config: TopicConfig) -> Result<(), TopicError> {
        self.update_topic_config(name, Apply::Now, |_| Ok(config)).map(|_| ())
    }

    /// Computes a topic's new settings from its current ones under the lock that orders topic
    /// changes (so two concurrent alterations cannot lose each other's keys), validates them,
    /// and with `Apply::Now` saves them and applies them to the live partitions.
    pub fn update_topic_config(
        &self,
        name: &str,
        apply: Apply,
        change: impl FnOnce(&TopicConfig) -> Result<TopicConfig, TopicError>,
    ) -> Result<TopicConfig, TopicError> {
        let _guard = self.topic_changes.lock();
        let topic = self.topic(name).ok_or(TopicError::Unknown)?;
        let config = change(&topic.config.read())?;
        config.validate().map_err(TopicError::InvalidConfig)?;
        if apply == Apply::ValidateOnly {
            return Ok(config);
        }
        *topic.config.write() = config.clone();
        for partition in topic.partitions.read().iter() {
            partition.apply_config(&config);
        }
        self.save_metadata().map_err(|e| TopicError::Storage(format!("{e:#}")))?;
        Ok(config)
    }

    /// A producer id for InitProducerId; ids only grow, across restarts too (they start from
    /// the clock, in microseconds, so a restarted node never hands out an id twice).
    pub fn allocate_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }
}

fn initial_producer_id() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(1)
}
