//! Request and response bodies of the control plane's HTTP JSON API (`/v1/...`), shared by the
//! server (`control-plane`) and the CLI (`tern`). Plain data only: no I/O, no validation.
//!
//! Authentication: `Authorization: Bearer TOKEN`, where TOKEN is an org's API token for the
//! `/v1/orgs`, `/v1/regions`, `/v1/plans`, `/v1/databases` and `/v1/kafka/clusters` routes, and the cluster secret for
//! `/v1/nodes/...` and for creating orgs (`POST /v1/orgs`, an operator's action).

use serde::{Deserialize, Serialize};

mod console;
mod usage;
pub use console::*;
pub use usage::*;

/// Every error reply: `{"error": "...", "status": N}` with the HTTP status repeated.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub error: String,
    pub status: u16,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Org {
    pub id: String,
    pub name: String,
}

/// `POST /v1/orgs` (cluster secret): creates an org and its first API token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateOrg {
    pub name: String,
}

/// The reply to `POST /v1/orgs`. The token is shown once; only its SHA-256 is stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedOrg {
    pub org: Org,
    pub token: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Region {
    pub code: String,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Nodes of the region heard from lately (within the control plane's node timeout): only
    /// a region with one can take a new database.
    #[serde(default)]
    pub nodes: i64,
    /// Those of them that serve Kafka: only a region with one can take a new Kafka cluster.
    #[serde(default)]
    pub kafka_nodes: i64,
    /// Live nodes of the region that keep databases of another control plane state than
    /// this one (they refuse to delete them until restarted with `--adopt-control-plane`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<NodeHeldBack>,
}

/// A node of a region holding back deletions (`Region::held_back`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeHeldBack {
    pub node: String,
    #[serde(flatten)]
    pub held_back: HeldBack,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub max_data_bytes: i64,
    pub max_request_bytes: i64,
    pub max_record_bytes: i64,
    pub max_connections: i64,
    pub max_commands_per_second: i64,
    /// Commands per day that are not billed (`None`: no daily allowance applies).
    pub free_commands_per_day: Option<i64>,
    /// Hard daily command limit (the free plan), `None` for none.
    pub max_commands_per_day: Option<i64>,
    /// Price of 100,000 commands past the allowance, in US cents (0: not billed per command).
    pub price_per_100k_commands_cents: i64,
    /// Storage price per GB-month, in US cents.
    pub price_per_gb_month_cents: i64,
    /// Fixed monthly price in US cents (0 for usage-priced plans).
    pub monthly_price_cents: i64,
    /// When a database's writes reach the disk under this plan.
    pub fsync: FsyncPolicy,
}

/// State of a database in one of its regions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegionStatus {
    pub region: String,
    /// `primary` or `replica`.
    pub role: String,
    /// `ready` (a live node hosts it), `pending` (not yet placed or not yet applied), or an
    /// error message.
    pub status: String,
    /// `HOST:PORT` of the node that holds it, once placed.
    pub endpoint: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Database {
    pub id: String,
    pub name: String,
    pub org: String,
    pub plan: String,
    pub primary_region: String,
    pub read_regions: Vec<String>,
    pub eviction: bool,
    pub password: String,
    /// `redis://default:PASSWORD@HOST:PORT` of the primary region's node, once placed.
    pub url: Option<String>,
    pub regions: Vec<RegionStatus>,
    pub created_at: i64,
    /// Usage today, once a node reported some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<DatabaseUsage>,
}

/// `POST /v1/databases`. Missing fields take defaults: a generated name, plan `payg`,
/// eviction off, no read regions. `primary_region` is required.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateDatabase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    #[serde(default)]
    pub read_regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default)]
    pub eviction: bool,
}

/// `PATCH /v1/databases/{name}`: only the fields given change. `name` and `primary_region`
/// are accepted only to answer with a clear "cannot be changed" error.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateDatabase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction: Option<bool>,
    /// Replaces the read regions when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_read_regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_read_regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
}

/// `POST /v1/nodes/register` (cluster secret). Registering again with the same `id` updates
/// the node (a restart).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub region: String,
    /// `HOST:PORT` Redis clients use to reach this node.
    pub redis_addr: String,
    /// How many databases the node accepts (0: no limit).
    #[serde(default)]
    pub capacity: i64,
    /// `HOST:PORT` Kafka clients use to reach this node; `None` when it serves no Kafka (no
    /// Kafka cluster is placed on it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_addr: Option<String>,
    /// `HOST:PORT` other nodes reach for replication (the node's replication listener,
    /// authenticated with the cluster secret); `None` from an older node, whose primaries
    /// cannot be followed (their read regions stay `pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_addr: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisteredNode {
    pub id: String,
    /// The identity of the control plane's state (absent from an older control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<DeploymentId>,
}

/// The identity of one control plane state: random, created once with the state and never
/// changed. A node compares it with the one it served before deleting anything: another one
/// means the control plane runs on another (perhaps new, empty) state, whose intent must not
/// delete data it never knew.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct DeploymentId(pub String);

impl std::fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node holding back deletions because its intent comes from another control plane state
/// than the one it served (reported in its heartbeat, shown by `GET /v1/regions`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldBack {
    /// The deployment the node served, whose databases it keeps.
    pub served_deployment: DeploymentId,
    /// Databases it keeps that the intent does not list.
    pub kept_tenants: Vec<String>,
    /// Kafka clusters it keeps that the intent does not list.
    #[serde(default)]
    pub kept_kafka_clusters: Vec<String>,
}

/// `POST /v1/nodes/{id}/heartbeat` (cluster secret): the databases the node hosts now.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Heartbeat {
    pub tenants: Vec<String>,
    /// Ids of the Kafka clusters the node hosts now.
    #[serde(default)]
    pub kafka_clusters: Vec<String>,
    /// Set while the node refuses the intent's deletions (another control plane state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_back: Option<HeldBack>,
    /// How each hosted replica follows its primary (absent from an older node: its
    /// databases count as primaries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaReport>,
}

/// One replica's replication state, in a heartbeat.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaReport {
    pub id: String,
    pub state: ReplicationState,
    /// Change-log offset applied here.
    pub applied_offset: u64,
    /// Records the primary had that were not applied here yet, as last heard from it.
    pub lag_records: u64,
}

/// Where a replica is in following its primary.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplicationState {
    /// Not connected to the primary (starting, or reconnecting after a drop).
    Connecting,
    /// Receiving a full copy.
    FullSync,
    /// Applying the primary's records live.
    Streaming,
}

impl ReplicationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationState::Connecting => "connecting",
            ReplicationState::FullSync => "full_sync",
            ReplicationState::Streaming => "streaming",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connecting" => Some(ReplicationState::Connecting),
            "full_sync" => Some(ReplicationState::FullSync),
            "streaming" => Some(ReplicationState::Streaming),
            _ => None,
        }
    }
}

/// Limits a node enforces for one database, from its plan and settings. 0 means no limit;
/// a missing field (an older control plane) is no limit too.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TenantLimits {
    pub max_data_bytes: i64,
    pub max_request_bytes: i64,
    pub max_record_bytes: i64,
    pub max_key_bytes: i64,
    pub max_connections: i64,
    pub max_commands_per_second: i64,
    /// Evict random keys (those with a TTL first) when full, instead of refusing writes.
    pub eviction: bool,
    /// When the database's writes reach the disk; absent (an older control plane): the node's
    /// own `--fsync`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsync: Option<FsyncPolicy>,
}

/// When a database's writes reach the disk.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// A reply leaves only after its write is fsynced (many writes share one fsync).
    Always,
    /// fsynced about once a second; replies never wait for the disk.
    EverySec,
}

impl FsyncPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
        }
    }

    /// The policy named `always` or `everysec` (as stored in the plans table).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            _ => None,
        }
    }
}

/// One database a node must host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantIntent {
    pub id: String,
    pub password: String,
    #[serde(default)]
    pub limits: TenantLimits,
    /// Primary (takes writes) or a replica following a primary on another node; absent (an
    /// older control plane): primary.
    #[serde(default)]
    pub role: TenantRole,
}

/// What a node's copy of a database is.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum TenantRole {
    #[default]
    Primary,
    /// Follows the primary's change log; serves reads, refuses writes.
    Replica(ReplicaOf),
}

/// Where a replica's primary is. The link is authenticated with the cluster secret both nodes
/// share with the control plane (never with the database password).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicaOf {
    /// The node holding the primary copy.
    pub primary_node: String,
    /// That node's replication listener, `HOST:PORT`.
    pub primary_replication_addr: String,
    /// That node's Redis address, where the replica forwards writes (absent from an older
    /// control plane: writes are refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_redis_addr: Option<String>,
}

/// `GET /v1/nodes/{id}/intent` (cluster secret): the complete set the node must host; anything
/// else it hosts is to be removed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeIntent {
    pub tenants: Vec<TenantIntent>,
    /// Kafka clusters whose primary region this node serves (empty for a node without Kafka).
    #[serde(default)]
    pub kafka_clusters: Vec<KafkaClusterIntent>,
    /// The control plane state this intent comes from (absent from an older control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<DeploymentId>,
}

// ---- Kafka clusters (`/v1/kafka/clusters...`, org API token)

/// What a Kafka credential may do.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KafkaAccess {
    Full,
    Produce,
    Consume,
}

impl KafkaAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaAccess::Full => "full",
            KafkaAccess::Produce => "produce",
            KafkaAccess::Consume => "consume",
        }
    }

    pub fn parse(s: &str) -> Option<KafkaAccess> {
        match s {
            "full" => Some(KafkaAccess::Full),
            "produce" => Some(KafkaAccess::Produce),
            "consume" => Some(KafkaAccess::Consume),
            _ => None,
        }
    }
}

/// Which topics a Kafka credential reaches.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum KafkaScope {
    #[default]
    All,
    Topic(String),
    Prefix(String),
}

impl std::fmt::Display for KafkaScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KafkaScope::All => f.write_str("all topics"),
            KafkaScope::Topic(t) => write!(f, "topic {t}"),
            KafkaScope::Prefix(p) => write!(f, "prefix {p}"),
        }
    }
}

/// A SASL credential of a Kafka cluster (PLAIN and SCRAM-SHA-256/512 accept it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaCredential {
    pub username: String,
    pub password: String,
    pub access: KafkaAccess,
    pub scope: KafkaScope,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaCluster {
    pub id: String,
    pub name: String,
    pub org: String,
    pub plan: String,
    pub primary_region: String,
    pub replica_regions: Vec<String>,
    /// `ready`, `pending` or `unreachable: …` for the primary region.
    pub status: String,
    /// `HOST:PORT` of the primary region's node (the bootstrap server), once placed.
    pub endpoint: Option<String>,
    pub regions: Vec<RegionStatus>,
    pub credentials: Vec<KafkaCredential>,
    pub created_at: i64,
    /// Usage today, once a node reported some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<KafkaUsage>,
}

impl KafkaCluster {
    /// The first credential with full access to all topics: what admin tools (`tern kafka
    /// topics`, the console's topic list) connect with.
    pub fn admin_credential(&self) -> Option<&KafkaCredential> {
        self.credentials.iter().find(|c| c.access == KafkaAccess::Full && c.scope == KafkaScope::All)
    }
}

/// `POST /v1/kafka/clusters`. Missing fields take defaults: a generated name, plan `payg`, no
/// replica regions. `primary_region` is required. A first full-access credential is created
/// with the cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateKafkaCluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    #[serde(default)]
    pub replica_regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// `PATCH /v1/kafka/clusters/{name}`: replica regions (replace, add or remove). `name` and
/// `primary_region` are accepted only to answer with a clear "cannot be changed" error.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateKafkaCluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_replica_regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_replica_regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
}

/// `POST /v1/kafka/clusters/{name}/credentials`: a new credential with a generated user name
/// and password (default: full access to every topic).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateKafkaCredential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<KafkaAccess>,
    #[serde(default)]
    pub scope: KafkaScope,
}

/// One credential as a node receives it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaCredentialIntent {
    pub username: String,
    pub password: String,
    pub access: KafkaAccess,
    pub scope: KafkaScope,
}

/// One Kafka cluster a node must host, with every credential that may reach it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaClusterIntent {
    pub id: String,
    pub credentials: Vec<KafkaCredentialIntent>,
}
