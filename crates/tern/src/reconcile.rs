//! Makes a node's tenants match a wanted set: from a tenants file (`--tenants-file`) or from
//! the control plane's intent (`--control-plane`), through the same `apply_tenants`; and the
//! node's Kafka clusters match the intent's (`apply_kafka_clusters`). An intent from another
//! control plane state than the one the node served only adds (`ServedDeployment`).

use crate::saved_intent::{Adoption, SavedIntent, ServedDeployment, Verdict};
use anyhow::Context;
use control_api as api;
use kafka_server::{Broker, ClusterConfig, ClusterId};
use redis_server::replication::{LinkState, ReplicaOf, Role};
use redis_server::{Node, TenantConfig, TenantId};
use std::sync::Arc;
use std::time::Duration;

/// Makes the node host exactly `wanted` plus `pinned` (databases given with `--tenant`, kept
/// whatever the source says). New ones are added, changed passwords revoke the old ones at
/// once, others are removed (their clients disconnected).
pub fn apply_tenants(node: &std::sync::Arc<Node>, wanted: &[TenantConfig], pinned: &[TenantConfig], source: &str) {
    add_tenants(node, wanted);
    for id in node.tenants.ids() {
        let listed = wanted.iter().chain(pinned).any(|t| t.id == id);
        if !listed {
            tracing::info!(tenant = %id, "database no longer in the {source}: dropping it");
            let _ = node.remove_tenant(&id);
        }
    }
}

/// Hosts `wanted` (new ones added, changed ones updated), removing nothing.
fn add_tenants(node: &Arc<Node>, wanted: &[TenantConfig]) {
    for t in wanted {
        if let Err(e) = node.upsert_tenant(t) {
            tracing::error!(tenant = %t.id, error = %e, "cannot host database");
        }
    }
}

/// Hosts the Kafka clusters `wanted` (new ones added, changed ones updated), removing nothing.
fn add_kafka_clusters(broker: &Broker, wanted: &[ClusterConfig]) {
    for cluster in wanted {
        if let Err(e) = broker.upsert_cluster(cluster) {
            tracing::error!(cluster = %cluster.id, error = format!("{e:#}"), "cannot host Kafka cluster");
        }
    }
}

/// Makes the broker host exactly `wanted` plus `pinned` (clusters given with `--kafka-cluster`).
/// Credentials follow the intent: a removed or changed one stops authenticating new
/// connections at once, and its open connections are closed at their next request
/// (`Session::is_authenticated`). A cluster no longer wanted is removed with its data.
pub fn apply_kafka_clusters(broker: &Broker, wanted: &[ClusterConfig], pinned: &[ClusterId]) {
    add_kafka_clusters(broker, wanted);
    for cluster in broker.clusters() {
        let listed = wanted.iter().any(|c| c.id == cluster.id) || pinned.contains(&cluster.id);
        if !listed {
            tracing::info!(cluster = %cluster.id, "Kafka cluster no longer in the control plane's intent: removing it");
            broker.remove_cluster(&cluster.id);
        }
    }
}

/// The databases of an intent as the node hosts them.
fn tenant_configs(intent: &api::NodeIntent) -> Vec<TenantConfig> {
    intent
        .tenants
        .iter()
        .map(|t| TenantConfig {
            id: TenantId(t.id.clone()),
            password: t.password.clone(),
            limits: crate::limits::from_intent(&t.limits),
            role: role(&t.role),
        })
        .collect()
}

/// A database's role as the node hosts it.
fn role(role: &api::TenantRole) -> Role {
    match role {
        api::TenantRole::Primary => Role::Primary,
        api::TenantRole::Replica(of) => Role::Replica(ReplicaOf {
            primary_node: of.primary_node.clone(),
            primary_addr: of.primary_replication_addr.clone(),
            primary_redis_addr: of.primary_redis_addr.clone(),
        }),
    }
}

/// How each hosted replica follows its primary, for the heartbeat.
fn replica_reports(node: &Node) -> Vec<api::ReplicaReport> {
    let mut out = Vec::new();
    for tenant in node.tenants.all() {
        if !tenant.replication.is_replica() {
            continue;
        }
        let applied_offset = tenant.state.lock().db.change_log.last_offset();
        let state = match tenant.replication.state() {
            LinkState::Connecting => api::ReplicationState::Connecting,
            LinkState::FullSync => api::ReplicationState::FullSync,
            LinkState::Streaming => api::ReplicationState::Streaming,
        };
        let lag_records = tenant.replication.primary_offset().saturating_sub(applied_offset);
        out.push(api::ReplicaReport { id: tenant.id.0.clone(), state, applied_offset, lag_records });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The Kafka clusters of an intent as the broker hosts them.
fn kafka_cluster_configs(intent: &api::NodeIntent) -> Vec<ClusterConfig> {
    intent.kafka_clusters.iter().cloned().map(kafka_cluster_config).collect()
}

/// The broker's form of a cluster in the intent.
fn kafka_cluster_config(intent: api::KafkaClusterIntent) -> ClusterConfig {
    let id = ClusterId(intent.id);
    let credentials = intent
        .credentials
        .into_iter()
        .map(|c| kafka_server::CredentialConfig {
            cluster: id.clone(),
            username: c.username,
            password: c.password,
            access: match c.access {
                api::KafkaAccess::Full => kafka_server::Access::Full,
                api::KafkaAccess::Produce => kafka_server::Access::ProduceOnly,
                api::KafkaAccess::Consume => kafka_server::Access::ConsumeOnly,
            },
            scope: match c.scope {
                api::KafkaScope::All => kafka_server::TopicScope::All,
                api::KafkaScope::Topic(t) => kafka_server::TopicScope::Topic(t),
                api::KafkaScope::Prefix(p) => kafka_server::TopicScope::Prefix(p),
            },
        })
        .collect();
    ClusterConfig { id, credentials }
}

/// The node's Kafka broker as the reconciler sees it.
pub struct KafkaSide {
    pub broker: Arc<Broker>,
    /// Clusters given with `--kafka-cluster`, kept whatever the intent says.
    pub pinned: Vec<ClusterId>,
}

/// Where a node finds its control plane and how it presents itself.
#[derive(Clone)]
pub struct ControlPlaneLink {
    pub url: String,
    pub cluster_secret: String,
    pub node_id: String,
    pub region: String,
    /// `HOST:PORT` that Redis clients use for this node.
    pub redis_addr: String,
    /// `HOST:PORT` that Kafka clients use for this node, when it serves Kafka.
    pub kafka_addr: Option<String>,
    /// `HOST:PORT` of this node's replication listener, for other nodes' replicas.
    pub replication_addr: Option<String>,
}

pub struct Reconciler {
    link: ControlPlaneLink,
    node: Arc<Node>,
    pinned: Vec<TenantConfig>,
    kafka: Option<KafkaSide>,
    agent: ureq::Agent,
    registered: bool,
    /// Usage metering, reported through this loop (`metering.rs`).
    meter: Option<crate::metering::Meter>,
    /// The last intent, kept in the node's data folder (none without `--data-dir`).
    saved: Option<SavedIntent>,
    /// Whether an intent (the control plane's or the saved one) was applied since start.
    applied: bool,
    /// The control plane state whose intents may delete data here.
    served: ServedDeployment,
    /// What to do with an intent of another state; `--adopt-control-plane` adopts the one of
    /// the first intent fetched by this process only, so a later change is held back again.
    adoption: Adoption,
    /// What is held back now (logged once per change of it), reported in heartbeats.
    held_back: Option<HeldBackState>,
}

/// The deployment pair a node currently holds back for.
#[derive(PartialEq)]
struct HeldBackState {
    served: api::DeploymentId,
    offered: api::DeploymentId,
}

impl Reconciler {
    pub fn new(link: ControlPlaneLink, node: Arc<Node>, pinned: Vec<TenantConfig>, kafka: Option<KafkaSide>) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        Reconciler {
            link,
            node,
            pinned,
            kafka,
            agent,
            registered: false,
            meter: None,
            saved: None,
            applied: false,
            served: ServedDeployment::in_memory(),
            adoption: Adoption::KeepServed,
            held_back: None,
        }
    }

    /// Keeps the served control plane state in `data_dir` and sets what to do with another
    /// one (`saved_intent.rs`). Without it the state is remembered in memory only.
    pub fn with_served_deployment(
        mut self,
        data_dir: Option<&std::path::Path>,
        adoption: Adoption,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = data_dir {
            self.served = ServedDeployment::open(dir)?;
        }
        self.adoption = adoption;
        Ok(self)
    }

    /// Meters usage and reports it to the control plane (after each sync once due).
    pub fn with_meter(mut self, meter: crate::metering::Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Samples the usage counters, saves them, and reports them when due. Runs whether or not
    /// the control plane answers: counting must not stop while it is away.
    fn meter_once(&mut self) -> anyhow::Result<()> {
        let Some(meter) = self.meter.as_mut() else { return Ok(()) };
        let now_s = control_plane::store::now();
        meter.sample(&self.node, self.kafka.as_ref().map(|k| &*k.broker), now_s);
        let due = self.registered && meter.report_due();
        // Saved before it is reported: the control plane never holds more than the disk.
        meter.persist(due)?;
        if !due {
            return Ok(());
        }
        let report = meter.report();
        let path = format!("/v1/nodes/{}/usage", self.link.node_id);
        self.agent.post(&self.url(&path)).set("Authorization", &self.auth()).send_json(&report).map_err(http_error)?;
        if let Some(meter) = self.meter.as_mut() {
            meter.reported(now_s);
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.link.url.trim_end_matches('/'))
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.link.cluster_secret)
    }

    fn register(&mut self) -> anyhow::Result<()> {
        let body = api::RegisterNode {
            id: Some(self.link.node_id.clone()),
            region: self.link.region.clone(),
            redis_addr: self.link.redis_addr.clone(),
            capacity: 0,
            kafka_addr: self.link.kafka_addr.clone(),
            replication_addr: self.link.replication_addr.clone(),
        };
        let reply: api::RegisteredNode = self
            .agent
            .post(&self.url("/v1/nodes/register"))
            .set("Authorization", &self.auth())
            .send_json(&body)
            .map_err(http_error)?
            .into_json()?;
        tracing::info!(node = %reply.id, region = %self.link.region, deployment = ?reply.deployment_id.map(|d| d.0),
            "registered with the control plane");
        self.registered = true;
        Ok(())
    }

    /// Keeps the last intent in `data_dir` and serves it when the control plane cannot be
    /// reached at start (`saved_intent.rs`).
    pub fn with_saved_intent(mut self, data_dir: &std::path::Path) -> Self {
        self.saved = Some(SavedIntent::open(data_dir, &self.link.node_id));
        self
    }

    /// Registers if needed, then fetches this node's intent.
    fn fetch_intent(&mut self) -> anyhow::Result<api::NodeIntent> {
        if !self.registered {
            self.register()?;
        }
        let path = format!("/v1/nodes/{}/intent", self.link.node_id);
        match self.agent.get(&self.url(&path)).set("Authorization", &self.auth()).call() {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(404, _)) => {
                // The control plane lost this node (new state): register again next round.
                self.registered = false;
                anyhow::bail!("the control plane does not know this node; registering again")
            }
            Err(e) => Err(http_error(e)),
        }
    }

    /// One round: register if needed, fetch the intent, apply it, report what is hosted. When
    /// the control plane cannot be reached before any intent was applied, the saved one is.
    pub fn sync_once(&mut self) -> anyhow::Result<()> {
        let intent = match self.fetch_intent() {
            Ok(intent) => intent,
            Err(e) => {
                self.serve_saved_intent();
                return Err(e);
            }
        };
        let verdict = self.served.check(intent.deployment_id.as_ref(), self.adoption);
        // Only the first intent of the process may be adopted (`--adopt-control-plane`).
        self.adoption = Adoption::KeepServed;
        let held_back = match verdict {
            Verdict::Apply => {
                self.apply_fully(&intent);
                None
            }
            Verdict::HoldBack { served } => Some(self.apply_additions(&intent, served)),
        };
        self.applied = true;
        let kafka_clusters = match &self.kafka {
            Some(kafka) => kafka.broker.clusters().iter().map(|c| c.id.0.clone()).collect(),
            None => Vec::new(),
        };
        let hosted = api::Heartbeat {
            tenants: self.node.tenants.ids().into_iter().map(|id| id.0).collect(),
            kafka_clusters,
            held_back,
            replicas: replica_reports(&self.node),
        };
        let path = format!("/v1/nodes/{}/heartbeat", self.link.node_id);
        self.agent.post(&self.url(&path)).set("Authorization", &self.auth()).send_json(&hosted).map_err(http_error)?;
        Ok(())
    }

    /// Applies an intent of the served state with its deletions, and keeps it on disk.
    fn apply_fully(&mut self, intent: &api::NodeIntent) {
        if self.held_back.take().is_some() {
            tracing::info!("the control plane's state is the one this node serves again: applying its intent");
        }
        self.forget_dropped(intent);
        self.apply(intent);
        if let Some(saved) = &mut self.saved {
            if let Err(e) = saved.save(intent) {
                tracing::error!(error = format!("{e:#}"), "cannot keep the intent on disk");
            }
        }
    }

    /// Applies an intent of another state than `served` without deleting anything: what it
    /// lists is added, everything hosted stays, and so do the databases of the served state's
    /// last intent (`intent.json`, kept as it is), which a restarted node loads from there.
    /// Logs once per change of states; returns what the heartbeat reports.
    fn apply_additions(&mut self, intent: &api::NodeIntent, served: api::DeploymentId) -> api::HeldBack {
        self.serve_saved_besides(intent);
        add_tenants(&self.node, &tenant_configs(intent));
        if let Some(kafka) = &self.kafka {
            add_kafka_clusters(&kafka.broker, &kafka_cluster_configs(intent));
        }
        let offered = intent.deployment_id.clone().unwrap_or_default();
        let kept_tenants: Vec<String> = self
            .node
            .tenants
            .ids()
            .into_iter()
            .filter(|id| !intent.tenants.iter().any(|t| t.id == id.0) && !self.pinned.iter().any(|p| p.id == *id))
            .map(|id| id.0)
            .collect();
        let kept_kafka_clusters: Vec<String> = match &self.kafka {
            Some(kafka) => kafka
                .broker
                .clusters()
                .iter()
                .filter(|c| !intent.kafka_clusters.iter().any(|w| w.id == c.id.0) && !kafka.pinned.contains(&c.id))
                .map(|c| c.id.0.clone())
                .collect(),
            None => Vec::new(),
        };
        let state = HeldBackState { served: served.clone(), offered: offered.clone() };
        if self.held_back.as_ref() != Some(&state) {
            tracing::error!(
                "the control plane's state is not the one this node served (deployment {offered}, was {served}): \
                 keeping {} databases; restart with --adopt-control-plane to accept it",
                kept_tenants.len()
            );
            self.held_back = Some(state);
        }
        api::HeldBack { served_deployment: served, kept_tenants, kept_kafka_clusters }
    }

    /// Hosts the databases and Kafka clusters of the saved intent that `intent` does not list
    /// (those of the served state, loaded from their folders after a restart).
    fn serve_saved_besides(&self, intent: &api::NodeIntent) {
        let Some(last) = self.saved.as_ref().and_then(|s| s.last()) else { return };
        let kept: Vec<TenantConfig> =
            tenant_configs(last).into_iter().filter(|t| !intent.tenants.iter().any(|w| w.id == t.id.0)).collect();
        add_tenants(&self.node, &kept);
        if let Some(kafka) = &self.kafka {
            let kept: Vec<ClusterConfig> = kafka_cluster_configs(last)
                .into_iter()
                .filter(|c| !intent.kafka_clusters.iter().any(|w| w.id == c.id.0))
                .collect();
            add_kafka_clusters(&kafka.broker, &kept);
        }
    }

    /// Makes the node's databases and Kafka clusters those of `intent`.
    fn apply(&self, intent: &api::NodeIntent) {
        apply_tenants(&self.node, &tenant_configs(intent), &self.pinned, "control plane's intent");
        if let Some(kafka) = &self.kafka {
            apply_kafka_clusters(&kafka.broker, &kafka_cluster_configs(intent), &kafka.pinned);
        }
    }

    /// Serves the saved intent, once, if nothing was applied since start: the data plane
    /// does not wait for the control plane.
    fn serve_saved_intent(&mut self) {
        if self.applied {
            return;
        }
        self.applied = true;
        let Some(intent) = self.saved.as_ref().and_then(|s| s.last()).cloned() else { return };
        tracing::warn!(
            databases = intent.tenants.len(),
            kafka_clusters = intent.kafka_clusters.len(),
            "control plane unreachable: serving the last intent saved in the data folder"
        );
        self.apply(&intent);
    }

    /// Deletes the files of databases and Kafka clusters of the saved intent that `intent` no
    /// longer lists and that are not loaded (destroyed while this node was down): loaded
    /// ones are removed with their files by `apply`.
    fn forget_dropped(&self, intent: &api::NodeIntent) {
        let Some(saved) = self.saved.as_ref().and_then(|s| s.last()) else { return };
        for t in &saved.tenants {
            let id = TenantId(t.id.clone());
            let kept = intent.tenants.iter().any(|w| w.id == t.id) || self.pinned.iter().any(|p| p.id == id);
            if !kept && self.node.tenants.get(&id).is_none() {
                if let Some(persistence) = &self.node.persistence {
                    tracing::info!(tenant = %id, "database destroyed while this node was away: deleting its files");
                    persistence.destroy(&id);
                }
            }
        }
        let Some(kafka) = &self.kafka else { return };
        let loaded = kafka.broker.clusters();
        for c in &saved.kafka_clusters {
            let id = ClusterId(c.id.clone());
            let kept = intent.kafka_clusters.iter().any(|w| w.id == c.id) || kafka.pinned.contains(&id);
            if !kept && !loaded.iter().any(|l| l.id == id) {
                tracing::info!(cluster = %id, "Kafka cluster destroyed while this node was away: deleting its files");
                remove_folder(&kafka.broker.data_dir.join(&c.id));
            }
        }
    }

    /// Syncs every `period` forever. While the control plane is unreachable the node keeps
    /// serving what it has.
    pub fn run(mut self, period: Duration) {
        let mut failing = false;
        let mut metering_failing = false;
        loop {
            match self.meter_once() {
                Ok(()) => metering_failing = false,
                Err(e) if !metering_failing => {
                    tracing::warn!(error = format!("{e:#}"), "usage not saved or reported; retrying");
                    metering_failing = true;
                }
                Err(_) => {}
            }
            match self.sync_once() {
                Ok(()) if failing => {
                    tracing::info!("control plane reachable again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = format!("{e:#}"), "cannot sync with the control plane; retrying");
                    }
                    failing = true;
                }
            }
            std::thread::sleep(period);
        }
    }

    pub fn spawn(self, period: Duration) -> anyhow::Result<()> {
        std::thread::Builder::new()
            .name("reconciler".into())
            .spawn(move || self.run(period))
            .context("starting the reconciler thread")?;
        Ok(())
    }
}

/// Deletes a folder and everything in it; an absent one is fine, a failure is logged.
fn remove_folder(path: &std::path::Path) {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::error!(path = %path.display(), error = %e, "cannot delete a destroyed cluster's files")
        }
        _ => {}
    }
}

/// An HTTP error with the server's JSON message when there is one.
pub fn http_error(e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, resp) => {
            let text = resp.into_string().unwrap_or_default();
            match serde_json::from_str::<api::ApiError>(&text) {
                Ok(err) => anyhow::anyhow!("{} (HTTP {code})", err.error),
                Err(_) => anyhow::anyhow!("HTTP {code}: {text}"),
            }
        }
        ureq::Error::Transport(t) => anyhow::anyhow!("{t}"),
    }
}
