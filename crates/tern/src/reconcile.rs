//! Makes a node's tenants match a wanted set: from a tenants file (`--tenants-file`) or from
//! the control plane's intent (`--control-plane`), through the same `apply_tenants`; and the
//! node's Kafka clusters match the intent's (`apply_kafka_clusters`).

use anyhow::Context;
use control_api as api;
use kafka_server::{Broker, ClusterConfig, ClusterId};
use redis_server::{Node, TenantConfig, TenantId};
use std::sync::Arc;
use std::time::Duration;

/// Makes the node host exactly `wanted` plus `pinned` (databases given with `--tenant`, kept
/// whatever the source says). New ones are added, changed passwords revoke the old ones at
/// once, others are removed (their clients disconnected).
pub fn apply_tenants(node: &std::sync::Arc<Node>, wanted: &[TenantConfig], pinned: &[TenantConfig], source: &str) {
    for t in wanted {
        if let Err(e) = node.upsert_tenant(t) {
            tracing::error!(tenant = %t.id, error = %e, "cannot host database");
        }
    }
    for id in node.tenants.ids() {
        let listed = wanted.iter().chain(pinned).any(|t| t.id == id);
        if !listed {
            tracing::info!(tenant = %id, "database no longer in the {source}: dropping it");
            let _ = node.remove_tenant(&id);
        }
    }
}

/// Makes the broker host exactly `wanted` plus `pinned` (clusters given with `--kafka-cluster`).
/// Credentials follow the intent: a removed or changed one stops authenticating new
/// connections at once, and its open connections are closed at their next request
/// (`Session::is_authenticated`). A cluster no longer wanted is removed with its data.
pub fn apply_kafka_clusters(broker: &Broker, wanted: &[ClusterConfig], pinned: &[ClusterId]) {
    for cluster in wanted {
        if let Err(e) = broker.upsert_cluster(cluster) {
            tracing::error!(cluster = %cluster.id, error = format!("{e:#}"), "cannot host Kafka cluster");
        }
    }
    for cluster in broker.clusters() {
        let listed = wanted.iter().any(|c| c.id == cluster.id) || pinned.contains(&cluster.id);
        if !listed {
            tracing::info!(cluster = %cluster.id, "Kafka cluster no longer in the control plane's intent: removing it");
            broker.remove_cluster(&cluster.id);
        }
    }
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
}

impl Reconciler {
    pub fn new(link: ControlPlaneLink, node: Arc<Node>, pinned: Vec<TenantConfig>, kafka: Option<KafkaSide>) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        Reconciler { link, node, pinned, kafka, agent, registered: false, meter: None }
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
        };
        let reply: api::RegisteredNode = self
            .agent
            .post(&self.url("/v1/nodes/register"))
            .set("Authorization", &self.auth())
            .send_json(&body)
            .map_err(http_error)?
            .into_json()?;
        tracing::info!(node = %reply.id, region = %self.link.region, "registered with the control plane");
        self.registered = true;
        Ok(())
    }

    /// One round: register if needed, fetch the intent, apply it, report what is hosted.
    pub fn sync_once(&mut self) -> anyhow::Result<()> {
        if !self.registered {
            self.register()?;
        }
        let path = format!("/v1/nodes/{}/intent", self.link.node_id);
        let intent: api::NodeIntent = match self.agent.get(&self.url(&path)).set("Authorization", &self.auth()).call() {
            Ok(r) => r.into_json()?,
            Err(ureq::Error::Status(404, _)) => {
                // The control plane lost this node (new state): register again next round.
                self.registered = false;
                anyhow::bail!("the control plane does not know this node; registering again");
            }
            Err(e) => return Err(http_error(e)),
        };
        let wanted: Vec<TenantConfig> = intent
            .tenants
            .into_iter()
            .map(|t| TenantConfig {
                id: TenantId(t.id),
                password: t.password,
                limits: crate::limits::from_intent(&t.limits),
            })
            .collect();
        apply_tenants(&self.node, &wanted, &self.pinned, "control plane's intent");
        let mut kafka_clusters = Vec::new();
        if let Some(kafka) = &self.kafka {
            let wanted: Vec<ClusterConfig> = intent.kafka_clusters.into_iter().map(kafka_cluster_config).collect();
            apply_kafka_clusters(&kafka.broker, &wanted, &kafka.pinned);
            kafka_clusters = kafka.broker.clusters().iter().map(|c| c.id.0.clone()).collect();
        }
        let hosted =
            api::Heartbeat { tenants: self.node.tenants.ids().into_iter().map(|id| id.0).collect(), kafka_clusters };
        let path = format!("/v1/nodes/{}/heartbeat", self.link.node_id);
        self.agent.post(&self.url(&path)).set("Authorization", &self.auth()).send_json(&hosted).map_err(http_error)?;
        Ok(())
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
