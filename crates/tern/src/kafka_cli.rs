//! `tern kafka …` (also `tern ext kafka …`): clusters and credentials through the control
//! plane's API; topics through the Kafka protocol, straight to the cluster's endpoint with a
//! full credential (the `kafka-admin` crate), so the cluster itself stays the one record of its topics.

use crate::client::{confirm_destroy, print_json, regions_or_none, table, vertical, ApiArgs, Client};
use crate::prompt::{self, Interaction};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use control_api as api;
use kafka_admin::{KafkaAdmin, TopicInfo, TopicSetting};
use std::time::{Duration, Instant};

/// How long `create` waits for the primary region's node to serve the new cluster.
const READY_WAIT: Duration = Duration::from_secs(15);

#[derive(Subcommand)]
pub enum KafkaCmd {
    /// Create a Kafka cluster with a first full-access credential.
    Create(CreateArgs),
    /// List your Kafka clusters.
    #[command(alias = "ls")]
    List,
    /// Show a cluster: state, region, endpoint, usage.
    Status { name: String },
    /// Change replica regions (name and primary region cannot change).
    Update(UpdateArgs),
    /// Destroy a cluster and its data on every node. Cannot be undone.
    #[command(alias = "delete")]
    Destroy {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Print the console URL of your Kafka clusters, or of one cluster.
    Dashboard { name: Option<String> },
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topics(TopicsCmd),
    /// Create, list and revoke SASL credentials.
    #[command(subcommand)]
    Credentials(CredentialsCmd),
}

#[derive(Args)]
pub struct CreateArgs {
    /// Name (default: generated, like `late-waterfall-1133`).
    #[arg(long)]
    name: Option<String>,
    /// Org (default: the org of your token).
    #[arg(short = 'o', long)]
    org: Option<String>,
    /// Primary region; can't be changed later (`tern regions` lists them).
    #[arg(long)]
    region: Option<String>,
    /// Replica regions, comma-separated; can be changed later.
    #[arg(long, value_delimiter = ',')]
    replica_regions: Option<Vec<String>>,
    /// Return at once instead of waiting until the primary region serves the cluster.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
pub struct UpdateArgs {
    name: String,
    /// Replica regions to add, comma-separated.
    #[arg(long, value_delimiter = ',')]
    add_replica_regions: Vec<String>,
    /// Replica regions to remove, comma-separated.
    #[arg(long, value_delimiter = ',')]
    remove_replica_regions: Vec<String>,
    /// The complete list of replica regions, comma-separated (empty: none).
    #[arg(long, value_delimiter = ',')]
    replica_regions: Option<Vec<String>>,
    /// Not changeable: given only to be told so.
    #[arg(long, hide = true)]
    region: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CleanupPolicy {
    Delete,
    Compact,
}

#[derive(Subcommand)]
pub enum TopicsCmd {
    /// Create a topic.
    Create {
        cluster: String,
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// How long records are kept, in milliseconds (-1: forever).
        #[arg(long, allow_hyphen_values = true)]
        retention_ms: Option<i64>,
        /// Most bytes kept per partition (-1: no limit).
        #[arg(long, allow_hyphen_values = true)]
        retention_bytes: Option<i64>,
        /// Largest record batch accepted, in bytes.
        #[arg(long)]
        max_message_bytes: Option<i64>,
        #[arg(long, value_enum)]
        cleanup_policy: Option<CleanupPolicy>,
    },
    /// List the topics of a cluster.
    #[command(alias = "ls")]
    List { cluster: String },
    /// Show a topic's partitions and settings.
    Describe { cluster: String, topic: String },
    /// Delete a topic and its records.
    Delete { cluster: String, topic: String },
}

#[derive(Subcommand)]
pub enum CredentialsCmd {
    /// Create a credential (generated user name and password).
    Create(CredentialArgs),
    /// List a cluster's credentials.
    #[command(alias = "ls")]
    List { cluster: String },
    /// Revoke a credential: it stops working at once, open connections are closed.
    Revoke { cluster: String, username: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AccessArg {
    Full,
    Produce,
    Consume,
}

#[derive(Args)]
pub struct CredentialArgs {
    cluster: String,
    /// What the credential may do.
    #[arg(long, value_enum, default_value = "full")]
    access: AccessArg,
    /// Only this topic.
    #[arg(long, conflicts_with = "prefix")]
    topic: Option<String>,
    /// Only topics starting with this prefix.
    #[arg(long)]
    prefix: Option<String>,
}

pub fn kafka(args: &ApiArgs, cmd: KafkaCmd) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    let json = args.json;
    match cmd {
        KafkaCmd::Create(a) => create(&c, json, a),
        KafkaCmd::List => list(&c, json),
        KafkaCmd::Status { name } => {
            let cluster = get(&c, &name)?;
            if json {
                return print_json(&cluster);
            }
            status(&cluster);
            Ok(())
        }
        KafkaCmd::Update(a) => update(&c, json, a),
        KafkaCmd::Destroy { name, yes } => {
            confirm_destroy(yes, &name, "Kafka cluster")?;
            let cluster: api::KafkaCluster = c.send("DELETE", &format!("/v1/kafka/clusters/{name}"), None)?;
            if json {
                return print_json(&cluster);
            }
            println!("Destroyed {}; its topics and records are removed from the nodes.", cluster.name);
            Ok(())
        }
        KafkaCmd::Dashboard { name } => dashboard(&c, json, name),
        KafkaCmd::Topics(cmd) => topics(&c, json, cmd),
        KafkaCmd::Credentials(cmd) => credentials(&c, json, cmd),
    }
}

fn get(c: &Client, name: &str) -> anyhow::Result<api::KafkaCluster> {
    c.get(&format!("/v1/kafka/clusters/{name}"))
}

/// The credential shown by `create` and `tern dev`: the first full one on every topic.
/// The `export` lines for a shell: user name, password and endpoint.
pub fn print_exports(cluster: &api::KafkaCluster) {
    if let Some(credential) = cluster.admin_credential() {
        println!("export KAFKA_USERNAME={}", credential.username);
        println!("export KAFKA_PASSWORD={}", credential.password);
    }
    match &cluster.endpoint {
        Some(endpoint) => println!("export TCP_ENDPOINT={endpoint}"),
        None => println!("# no node serves region {} yet: TCP_ENDPOINT is not known", cluster.primary_region),
    }
}

fn create(c: &Client, json: bool, a: CreateArgs) -> anyhow::Result<()> {
    // Questions in the product's order: org, name, primary region, replica regions.
    let ui = Interaction::detect();
    prompt::org(c, a.org.as_deref(), ui)?;
    let name = prompt::name(a.name, ui)?;
    let regions = prompt::regions_if_asking(c, ui, prompt::Hosting::Kafka)?;
    let region = prompt::primary_region(a.region, &regions, ui)?;
    let replica_regions = match a.replica_regions {
        Some(given) => given.into_iter().filter(|r| !r.is_empty()).collect(),
        None => prompt::replica_regions(&regions, &region, ui)?,
    };
    let req = api::CreateKafkaCluster { name, primary_region: Some(region), replica_regions, plan: None };
    let mut cluster: api::KafkaCluster = c.send("POST", "/v1/kafka/clusters", Some(serde_json::to_value(&req)?))?;
    if !a.no_wait {
        let deadline = Instant::now() + READY_WAIT;
        while cluster.status != "ready" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            cluster = get(c, &cluster.id).context("waiting for the cluster to be ready")?;
        }
    }
    if json {
        return print_json(&cluster);
    }
    let state = if cluster.status == "ready" { "ready" } else { "created (pending)" };
    println!("Your Kafka cluster {} is {state}.", cluster.name);
    println!();
    if let Some(endpoint) = &cluster.endpoint {
        println!("Bootstrap endpoint: {endpoint}");
    }
    if let Some(credential) = cluster.admin_credential() {
        println!("Username: {}", credential.username);
        println!("Password: {}", credential.password);
    }
    println!("SASL mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512");
    println!();
    print_exports(&cluster);
    if !cluster.replica_regions.is_empty() {
        println!();
        println!("Replica regions are recorded, but cross-region replication of Kafka clusters is not built yet.");
    }
    Ok(())
}

fn list(c: &Client, json: bool) -> anyhow::Result<()> {
    let clusters: Vec<api::KafkaCluster> = c.get("/v1/kafka/clusters")?;
    if json {
        return print_json(&clusters);
    }
    if clusters.is_empty() {
        println!("No Kafka clusters yet. Create one with `tern kafka create --region REGION`.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = clusters
        .iter()
        .map(|k| vec![k.name.clone(), k.org.clone(), k.primary_region.clone(), regions_or_none(&k.replica_regions)])
        .collect();
    table(&["Name", "Org", "Region", "Replica Regions"], &rows);
    Ok(())
}

fn status(k: &api::KafkaCluster) {
    let mut rows = vec![
        ("ID", k.id.clone()),
        ("Name", k.name.clone()),
        ("Org", k.org.clone()),
        ("Plan", k.plan.clone()),
        ("Status", k.status.clone()),
        ("Region", k.primary_region.clone()),
        ("Replica Regions", regions_or_none(&k.replica_regions)),
        ("TCP Endpoint", k.endpoint.clone().unwrap_or_else(|| "pending (no node in the region yet)".into())),
        ("Credentials", k.credentials.len().to_string()),
    ];
    for r in k.regions.iter().filter(|r| r.role != "primary") {
        rows.push(("Replica", format!("{}: {}", r.region, r.status)));
    }
    rows.extend(crate::usage_cli::kafka_rows(k.usage.as_ref()));
    vertical(&rows);
}

fn update(c: &Client, json: bool, a: UpdateArgs) -> anyhow::Result<()> {
    let nonempty = |v: Vec<String>| Some(v).filter(|v| !v.is_empty());
    let body = api::UpdateKafkaCluster {
        replica_regions: a.replica_regions.map(|v| v.into_iter().filter(|r| !r.is_empty()).collect()),
        add_replica_regions: nonempty(a.add_replica_regions),
        remove_replica_regions: nonempty(a.remove_replica_regions),
        name: None,
        primary_region: a.region,
    };
    if body == api::UpdateKafkaCluster::default() {
        bail!(
            "nothing to update: pass --add-replica-regions, --remove-replica-regions or --replica-regions (name and \
             primary region cannot be changed)"
        );
    }
    let path = format!("/v1/kafka/clusters/{}", a.name);
    let cluster: api::KafkaCluster = c.send("PATCH", &path, Some(serde_json::to_value(&body)?))?;
    if json {
        return print_json(&cluster);
    }
    println!("Updated {}.", cluster.name);
    status(&cluster);
    Ok(())
}

fn dashboard(c: &Client, json: bool, name: Option<String>) -> anyhow::Result<()> {
    let page = match name {
        Some(name) => format!("kafka/{}", get(c, &name)?.name),
        None => "kafka".to_string(),
    };
    crate::client::print_console_url(c, json, &page)
}

// ---- topics

/// Connects to the cluster's endpoint with its first full credential.
fn connect(c: &Client, cluster: &str) -> anyhow::Result<KafkaAdmin> {
    let k = get(c, cluster)?;
    let endpoint = k.endpoint.as_deref().with_context(|| format!("no node serves region {} yet", k.primary_region))?;
    let credential = k.admin_credential().with_context(|| {
        format!(
            "'{}' has no full credential on every topic; create one with `tern kafka credentials create {}`",
            k.name, k.name
        )
    })?;
    KafkaAdmin::connect(endpoint, &credential.username, &credential.password)
        .with_context(|| format!("talking to Kafka cluster '{}' at {endpoint}", k.name))
}

fn topic_configs(
    retention_ms: Option<i64>,
    retention_bytes: Option<i64>,
    max_message_bytes: Option<i64>,
    cleanup_policy: Option<CleanupPolicy>,
) -> Vec<(String, String)> {
    let policy = cleanup_policy.map(|p| match p {
        CleanupPolicy::Delete => "delete".to_string(),
        CleanupPolicy::Compact => "compact".to_string(),
    });
    [
        ("retention.ms", retention_ms.map(|v| v.to_string())),
        ("retention.bytes", retention_bytes.map(|v| v.to_string())),
        ("max.message.bytes", max_message_bytes.map(|v| v.to_string())),
        ("cleanup.policy", policy),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v?)))
    .collect()
}

fn describe(admin: &mut KafkaAdmin, json: bool, topic: &str) -> anyhow::Result<()> {
    let info = admin.topics(Some(topic))?.into_iter().next().with_context(|| format!("no topic '{topic}'"))?;
    let settings = admin.topic_settings(topic)?;
    if json {
        return print_json(&serde_json::json!({ "topic": info, "settings": settings }));
    }
    print_topic(&info, settings.as_deref());
    Ok(())
}

/// A topic's partitions and settings (`None`: the broker cannot show them).
fn print_topic(info: &TopicInfo, settings: Option<&[TopicSetting]>) {
    let mut rows = vec![
        ("Name", info.name.clone()),
        ("Topic ID", info.topic_id.clone()),
        ("Partitions", info.partitions.to_string()),
    ];
    match settings {
        Some(settings) => {
            for s in settings {
                let origin = if s.explicit { "" } else { " (default)" };
                rows.push((s.name.as_str(), format!("{}{origin}", s.value.as_deref().unwrap_or("-"))));
            }
        }
        None => rows.push(("Settings", "not shown: this node does not serve DescribeConfigs yet".into())),
    }
    vertical(&rows);
}

fn topics(c: &Client, json: bool, cmd: TopicsCmd) -> anyhow::Result<()> {
    match cmd {
        TopicsCmd::Create {
            cluster,
            topic,
            partitions,
            retention_ms,
            retention_bytes,
            max_message_bytes,
            cleanup_policy,
        } => {
            let mut admin = connect(c, &cluster)?;
            let configs = topic_configs(retention_ms, retention_bytes, max_message_bytes, cleanup_policy);
            let settings = admin.create_topic(&topic, partitions, &configs)?;
            let info = admin.topics(Some(&topic))?.into_iter().next().with_context(|| format!("no topic '{topic}'"))?;
            if json {
                return print_json(&serde_json::json!({ "topic": info, "settings": settings }));
            }
            println!("Created topic {topic} in {cluster}.");
            print_topic(&info, Some(&settings));
            Ok(())
        }
        TopicsCmd::List { cluster } => {
            let topics = connect(c, &cluster)?.topics(None)?;
            if json {
                return print_json(&topics);
            }
            if topics.is_empty() {
                println!("No topics yet. Create one with `tern kafka topics create {cluster} TOPIC`.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> =
                topics.iter().map(|t| vec![t.name.clone(), t.partitions.to_string(), t.topic_id.clone()]).collect();
            table(&["Name", "Partitions", "Topic ID"], &rows);
            Ok(())
        }
        TopicsCmd::Describe { cluster, topic } => describe(&mut connect(c, &cluster)?, json, &topic),
        TopicsCmd::Delete { cluster, topic } => {
            connect(c, &cluster)?.delete_topic(&topic)?;
            if json {
                return print_json(&serde_json::json!({ "deleted": topic }));
            }
            println!("Deleted topic {topic} from {cluster}.");
            Ok(())
        }
    }
}

// ---- credentials

fn access_label(a: api::KafkaAccess) -> &'static str {
    match a {
        api::KafkaAccess::Full => "full",
        api::KafkaAccess::Produce => "produce only",
        api::KafkaAccess::Consume => "consume only",
    }
}

fn credentials(c: &Client, json: bool, cmd: CredentialsCmd) -> anyhow::Result<()> {
    match cmd {
        CredentialsCmd::Create(a) => {
            let scope = match (a.topic, a.prefix) {
                (Some(t), _) => api::KafkaScope::Topic(t),
                (None, Some(p)) => api::KafkaScope::Prefix(p),
                (None, None) => api::KafkaScope::All,
            };
            let access = match a.access {
                AccessArg::Full => api::KafkaAccess::Full,
                AccessArg::Produce => api::KafkaAccess::Produce,
                AccessArg::Consume => api::KafkaAccess::Consume,
            };
            let body = api::CreateKafkaCredential { access: Some(access), scope };
            let path = format!("/v1/kafka/clusters/{}/credentials", a.cluster);
            let credential: api::KafkaCredential = c.send("POST", &path, Some(serde_json::to_value(&body)?))?;
            if json {
                return print_json(&credential);
            }
            println!(
                "Created credential {} ({}, {}); it works within a second on the cluster's node.",
                credential.username,
                access_label(credential.access),
                credential.scope
            );
            println!("export KAFKA_USERNAME={}", credential.username);
            println!("export KAFKA_PASSWORD={}", credential.password);
            Ok(())
        }
        CredentialsCmd::List { cluster } => {
            let list: Vec<api::KafkaCredential> = c.get(&format!("/v1/kafka/clusters/{cluster}/credentials"))?;
            if json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|k| vec![k.username.clone(), access_label(k.access).into(), k.scope.to_string()])
                .collect();
            table(&["Username", "Access", "Scope"], &rows);
            Ok(())
        }
        CredentialsCmd::Revoke { cluster, username } => {
            let path = format!("/v1/kafka/clusters/{cluster}/credentials/{username}");
            c.send_no_content("DELETE", &path)?;
            if json {
                return print_json(&serde_json::json!({ "revoked": username }));
            }
            println!(
                "Revoked {username}; new connections with it are refused within a second and open ones are closed."
            );
            Ok(())
        }
    }
}
