//! Command-line parsing and the `node`, `dev` and `control-plane` subcommands. Only this binary reads
//! configuration (flags, environment); libraries receive plain values.

use crate::reconcile::{ControlPlaneLink, KafkaSide, Reconciler};
use anyhow::Context;
use clap::{Parser, Subcommand};
use redis_server::persistence::{FsyncPolicy, Persistence};
use redis_server::{Node, NodeLimits, TenantConfig, TenantId};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often a node fetches its intent from the control plane.
const RECONCILE_PERIOD: Duration = Duration::from_secs(1);
/// How often `tern dev` nodes report usage (production nodes: `--usage-report-secs`).
const DEV_USAGE_REPORT_PERIOD: Duration = Duration::from_secs(2);

#[derive(Parser)]
#[command(name = "tern", version, about = "Managed, pay-as-you-go Redis and Kafka across regions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a data-plane node for one region.
    Node(Box<NodeArgs>),
    /// Run the whole platform on this machine: control plane, a node per region, a ready database.
    Dev(DevArgs),
    /// Run the control plane (HTTP API and state).
    ControlPlane(ControlPlaneArgs),
    /// Manage Redis databases.
    Redis {
        #[command(flatten)]
        api: crate::client::ApiArgs,
        #[command(subcommand)]
        cmd: crate::client::RedisCmd,
    },
    /// Manage Kafka clusters, topics and credentials.
    Kafka {
        #[command(flatten)]
        api: crate::client::ApiArgs,
        #[command(subcommand)]
        cmd: crate::kafka_cli::KafkaCmd,
    },
    /// Extensions: `tern ext kafka …` is `tern kafka …`.
    #[command(subcommand)]
    Ext(ExtCmd),
    /// List the regions.
    Regions {
        #[command(flatten)]
        api: crate::client::ApiArgs,
    },
    /// List your orgs.
    Orgs {
        #[command(flatten)]
        api: crate::client::ApiArgs,
    },
    /// Store a control plane URL and API token for the next commands (checked first).
    Login(crate::config::LoginArgs),
    /// Forget the stored URL and token.
    Logout,
    /// Usage per day and the running bill for the month (of one database or cluster with NAME).
    Usage {
        #[command(flatten)]
        api: crate::client::ApiArgs,
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum ExtCmd {
    /// Manage Kafka clusters, topics and credentials (the same as `tern kafka`).
    Kafka {
        #[command(flatten)]
        api: crate::client::ApiArgs,
        #[command(subcommand)]
        cmd: crate::kafka_cli::KafkaCmd,
    },
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Region this node serves.
    #[arg(long, default_value = "dev")]
    region: String,
    /// Address for Redis clients.
    #[arg(long, default_value = "127.0.0.1:6379")]
    redis_addr: SocketAddr,
    /// A database to host, as ID:PASSWORD, optionally followed by limits as in the tenants
    /// file (repeatable).
    #[arg(long = "tenant", value_parser = parse_tenant)]
    tenants: Vec<TenantConfig>,
    /// A file listing databases to host, one `ID:PASSWORD [NAME=VALUE ...]` per line (`#`
    /// starts a comment). Limits: max_data_bytes, max_request_bytes, max_record_bytes,
    /// max_key_bytes, max_connections, max_commands_per_second (numbers, sizes may end in
    /// kb/mb/gb; absent means no limit), eviction=on|off and fsync=always|everysec (absent:
    /// the node's --fsync). It is re-read when it changes:
    /// new lines add databases, removed lines remove them (disconnecting their clients), a
    /// changed password revokes the old one at once, changed limits apply at once.
    #[arg(long, conflicts_with = "control_plane")]
    tenants_file: Option<PathBuf>,
    /// Keep databases on disk in this folder (one change log per database); without it,
    /// data lives in memory only.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// When writes reach the disk, for databases whose limits do not say (`fsync=` in the
    /// tenants file; the control plane sends each plan's): `always` (a reply leaves after its
    /// write is fsynced; many writes share one fsync) or `everysec` (at most about a second
    /// lost in a crash).
    #[arg(long, default_value = "everysec")]
    fsync: FsyncPolicy,
    /// A database is snapshotted (and its log cut) once its log since the last snapshot
    /// exceeds the larger of this and the last snapshot's size.
    #[arg(long, default_value_t = redis_server::persistence::DEFAULT_SNAPSHOT_MIN_LOG_BYTES)]
    snapshot_min_log_bytes: u64,
    /// Hard bound on one Lua script or function's run time, in milliseconds: past it the
    /// script is stopped even if it wrote (SCRIPT KILL refuses those), so no script keeps
    /// its database busy forever.
    #[arg(long, default_value_t = 60_000)]
    script_time_limit_ms: u64,
    /// After a client's read, each worker thread keeps polling its sockets this long (in
    /// microseconds) before it sleeps: the next requests find it awake, which saves each of
    /// them a scheduler wake-up (lower latency, more requests per second from a client at
    /// pipeline 1), at the price of a busy core while traffic flows. An idle node sleeps.
    /// 0: off (sleep as soon as there is nothing to do). `tern dev` keeps it off.
    #[arg(long, default_value_t = 50)]
    busy_poll_us: u64,
    /// The control plane's URL: register there and host the databases it places on this node
    /// (polled every second).
    #[arg(long, env = "TERN_CONTROL_PLANE", requires = "cluster_secret")]
    control_plane: Option<String>,
    /// Secret shared by the nodes and the control plane.
    #[arg(long, env = "TERN_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// Accept the control plane's state even if it is not the one this node served (kept in
    /// DATA_DIR/deployment-id), and apply its intent fully: databases it does not list are
    /// deleted. Without it, a control plane on another (say new, empty) state can only add.
    #[arg(long, requires = "control_plane")]
    adopt_control_plane: bool,
    /// This node's id at the control plane (default: REGION-HOST-PORT of the advertised address).
    #[arg(long)]
    node_id: Option<String>,
    /// The HOST:PORT clients use to reach this node (default: the bound Redis address).
    #[arg(long)]
    advertise_addr: Option<String>,
    /// Address of the replication listener other nodes' replicas connect to (authenticated
    /// with the cluster secret; only with --control-plane). Default: the Redis address's IP
    /// on a free port.
    #[arg(long)]
    replication_addr: Option<SocketAddr>,
    /// The HOST:PORT other nodes use to reach the replication listener (default: the bound
    /// replication address).
    #[arg(long)]
    replication_advertise: Option<String>,
    /// Worker threads (default: the cores this process may use).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the bound Redis address to this file once listening (for scripts and tests).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Address for Kafka clients; without it the node serves no Kafka.
    #[arg(long)]
    kafka_addr: Option<SocketAddr>,
    /// How often usage is reported to the control plane, in seconds (kept in
    /// DATA_DIR/usage.json meanwhile).
    #[arg(long, env = "TERN_USAGE_REPORT_SECS", default_value_t = 3600)]
    usage_report_secs: u64,
    /// A Kafka cluster to host with one full-access SASL user, as CLUSTER:USER:PASSWORD
    /// (repeatable).
    #[arg(long = "kafka-cluster", value_parser = parse_kafka_cluster)]
    kafka_clusters: Vec<kafka_server::ClusterConfig>,
    /// The HOST:PORT Kafka clients are told to connect to (default: the bound Kafka address).
    #[arg(long)]
    kafka_advertise: Option<String>,
    /// Write the bound Kafka address to this file once listening.
    #[arg(long)]
    kafka_ready_file: Option<PathBuf>,
    /// How often Kafka retention and compaction run, in milliseconds (tests shorten it).
    #[arg(long, hide = true)]
    kafka_cleanup_interval_ms: Option<u64>,
    /// Most keys one Kafka compaction round maps (its memory bound; tests shrink it).
    #[arg(long, hide = true)]
    kafka_compaction_map_entries: Option<usize>,
}

#[derive(clap::Args)]
struct DevArgs {
    /// Where state lives (default: the user's data directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address for Redis clients (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6399")]
    redis_addr: SocketAddr,
    /// Address of the control plane's HTTP API (if busy, a free port is used).
    #[arg(long, default_value = "127.0.0.1:7399")]
    api_addr: SocketAddr,
    /// Address for Kafka clients of the first region's node; the next regions take the next
    /// ports (a busy port falls back to a free one; port 0 picks free ports).
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka_addr: SocketAddr,
    /// Regions to run a node for, comma-separated; the first one holds the `dev` database and
    /// the `dev` Kafka cluster.
    #[arg(long, value_delimiter = ',', default_value = "mad,ams,iad")]
    regions: Vec<String>,
    /// Let the nodes accept a control plane state other than the one they served (a deleted
    /// control-plane.db) and delete the databases it does not list.
    #[arg(long)]
    adopt_control_plane: bool,
}

#[derive(clap::Args)]
struct ControlPlaneArgs {
    /// Where the cluster secret lives, and the state unless --database-url is given (SQLite
    /// file `control-plane.db`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The state's database instead of SQLite under DATA_DIR:
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (PostgreSQL, for production), or a
    /// `sqlite://PATH?mode=rwc` URL. Migrations are applied at start.
    #[arg(long, env = "TERN_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:7399")]
    listen: SocketAddr,
    /// Secret shared with the nodes (default: generated once, kept in DATA_DIR/cluster-secret).
    #[arg(long, env = "TERN_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// A node not heard from for this many seconds is shown as unreachable, its region as
    /// without live nodes, and gets no new databases (nodes report every second).
    #[arg(long, default_value_t = control_plane::Config::default().node_timeout_secs)]
    node_timeout_secs: i64,
    #[command(subcommand)]
    action: Option<ControlPlaneAction>,
}

/// What `tern control-plane` does instead of serving.
#[derive(Subcommand)]
enum ControlPlaneAction {
    /// Print the OpenAPI document of the HTTP API (what `docs/openapi.json` holds) and exit.
    Openapi,
}

/// `ID:PASSWORD [NAME=VALUE ...]`: a database and its limits (see `limits::parse_options`).
fn parse_tenant(s: &str) -> Result<TenantConfig, String> {
    let mut words = s.split_whitespace();
    let first = words.next().unwrap_or("");
    let (id, password) = first.split_once(':').ok_or("expected ID:PASSWORD")?;
    if id.is_empty() || password.is_empty() {
        return Err("ID and PASSWORD must not be empty".into());
    }
    let limits = crate::limits::parse_options(words)?;
    Ok(TenantConfig { id: TenantId(id.into()), password: password.into(), limits, role: Default::default() })
}

pub fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node(args) => run_node(*args),
        Command::Dev(args) => run_dev(args),
        Command::ControlPlane(args) => run_control_plane(args),
        Command::Redis { api, cmd } => crate::client::redis(&api, cmd),
        Command::Kafka { api, cmd } | Command::Ext(ExtCmd::Kafka { api, cmd }) => crate::kafka_cli::kafka(&api, cmd),
        Command::Regions { api } => crate::client::regions(&api),
        Command::Orgs { api } => crate::client::orgs(&api),
        Command::Login(args) => crate::config::login(args),
        Command::Logout => crate::config::logout(),
        Command::Usage { api, name } => crate::usage_cli::usage(&api, name),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where and how a node keeps its databases on disk.
struct Storage {
    data_dir: PathBuf,
    fsync: FsyncPolicy,
    snapshot_min_log_bytes: u64,
}

/// A node's replication listener: where it binds and the secret links prove.
struct ReplicationSetup {
    addr: SocketAddr,
    cluster_secret: String,
}

/// A started node: the node, its bound Redis address, and its replication listener's.
struct StartedNode {
    node: Arc<Node>,
    addr: SocketAddr,
    replication_addr: Option<SocketAddr>,
}

fn start_node(
    region: &str,
    addr: SocketAddr,
    tenants: &[TenantConfig],
    threads: Option<usize>,
    storage: Option<Storage>,
    limits: NodeLimits,
    replication: Option<ReplicationSetup>,
) -> anyhow::Result<StartedNode> {
    let mut node = Node::new(limits, region.to_string(), addr.port());
    node.allocated_bytes_probe = Some(allocated_bytes);
    let replication = match replication {
        Some(setup) => {
            let listener = redis_server::replication::listen(setup.addr)
                .with_context(|| format!("binding the replication listener on {}", setup.addr))?;
            let shared = redis_server::replication::Replication::new(&setup.cluster_secret);
            node.replication = Some(shared.clone());
            Some((listener, shared))
        }
        None => None,
    };
    if let Some(storage) = &storage {
        std::fs::create_dir_all(&storage.data_dir)
            .with_context(|| format!("creating {}", storage.data_dir.display()))?;
        let persistence = Persistence::new(storage.data_dir.clone(), storage.fsync, Arc::new(durability::RealDisk));
        persistence.snapshot_min_log_bytes.store(storage.snapshot_min_log_bytes, std::sync::atomic::Ordering::Relaxed);
        node.persistence = Some(persistence);
    }
    let node = Arc::new(node);
    if let Some(persistence) = node.persistence.clone() {
        let snapshot_node = node.clone();
        let snapshotter = persistence.clone();
        persistence.start_writers(&node)?;
        std::thread::Builder::new()
            .name("snapshotter".into())
            .spawn(move || snapshotter.run_snapshotter(snapshot_node))?;
    }
    for t in tenants {
        node.upsert_tenant(t).with_context(|| format!("adding database {}", t.id))?;
    }
    let server = redis_server::start(node.clone(), addr, threads.unwrap_or_else(redis_server::default_threads))
        .with_context(|| format!("listening on {addr}"))?;
    let mut replication_addr = None;
    if let Some((listener, shared)) = replication {
        replication_addr = Some(listener.local_addr()?);
        let serving = node.clone();
        std::thread::Builder::new()
            .name("replication-listener".into())
            .spawn(move || redis_server::replication::serve(serving, listener, shared))?;
    }
    Ok(StartedNode { node, addr: server.local_addr, replication_addr })
}

/// The replication listener's default address: the Redis address's IP, any free port.
fn default_replication_addr(redis_addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(redis_addr.ip(), 0)
}

/// Bytes allocated through jemalloc (INFO's `used_memory`).
fn allocated_bytes() -> u64 {
    #[cfg(not(target_env = "msvc"))]
    {
        // jemalloc caches statistics; advancing the epoch refreshes them.
        let _ = tikv_jemalloc_ctl::epoch::advance();
        tikv_jemalloc_ctl::stats::allocated::read().map(|v| v as u64).unwrap_or(0)
    }
    #[cfg(target_env = "msvc")]
    {
        0
    }
}

pub(crate) fn wait_for_ctrl_c() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    Ok(())
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, the signal service managers (systemd, Docker,
/// Kubernetes) send to stop a process; returns which one came.
pub(crate) fn wait_for_stop_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        })
    })
}

/// Waits for a stop signal, then writes every database's pending change-log records to disk
/// before the process exits.
fn stop_on_signal(nodes: &[Arc<Node>]) -> anyhow::Result<()> {
    let signal = wait_for_stop_signal()?;
    tracing::info!(signal, "stopping");
    for node in nodes {
        if let Some(persistence) = &node.persistence {
            persistence.flush_for_shutdown(node);
        }
    }
    Ok(())
}

fn parse_tenants_file(text: &str) -> anyhow::Result<Vec<TenantConfig>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_tenant(line).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?);
    }
    Ok(out)
}

/// Makes the node host exactly the databases listed in `path`. Databases given with
/// `--tenant` are kept whatever the file says.
fn apply_tenants_file(node: &Arc<Node>, path: &std::path::Path, pinned: &[TenantConfig]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let wanted = parse_tenants_file(&text).with_context(|| format!("parsing {}", path.display()))?;
    crate::reconcile::apply_tenants(node, &wanted, pinned, "tenants file");
    Ok(())
}

/// Re-reads the tenants file whenever its modification time changes.
fn watch_tenants_file(node: Arc<Node>, path: PathBuf, pinned: Vec<TenantConfig>) {
    let mut last_seen = None;
    loop {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if modified != last_seen {
            last_seen = modified;
            if let Err(e) = apply_tenants_file(&node, &path, &pinned) {
                tracing::error!(error = format!("{e:#}"), "tenants file not applied");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let storage = args.data_dir.clone().map(|data_dir| Storage {
        data_dir,
        fsync: args.fsync,
        snapshot_min_log_bytes: args.snapshot_min_log_bytes,
    });
    let limits = NodeLimits {
        script_time_limit: std::time::Duration::from_millis(args.script_time_limit_ms),
        busy_poll_window: (args.busy_poll_us > 0).then(|| std::time::Duration::from_micros(args.busy_poll_us)),
        ..NodeLimits::default()
    };
    let replication =
        args.cluster_secret.as_ref().filter(|_| args.control_plane.is_some()).map(|secret| ReplicationSetup {
            addr: args.replication_addr.unwrap_or_else(|| default_replication_addr(args.redis_addr)),
            cluster_secret: secret.clone(),
        });
    let started = start_node(&args.region, args.redis_addr, &args.tenants, args.threads, storage, limits, replication)?;
    let (node, addr) = (started.node, started.addr);
    if let Some(bound) = started.replication_addr {
        tracing::info!(addr = %bound, "node listening for replicas");
    }
    if let Some(path) = args.tenants_file.clone() {
        apply_tenants_file(&node, &path, &args.tenants)?;
        let pinned = args.tenants.clone();
        std::thread::Builder::new().name("tenants-file".into()).spawn({
            let node = node.clone();
            move || watch_tenants_file(node, path, pinned)
        })?;
    }
    tracing::info!(%addr, region = %args.region, "node listening for Redis clients");
    let mut kafka = None;
    if let Some(kafka_addr) = args.kafka_addr {
        // Without --data-dir, Kafka data goes to a fresh temporary folder (Redis data is kept
        // in memory then, and Kafka's logs need files).
        let data_dir = match &args.data_dir {
            Some(dir) => dir.join("kafka"),
            None => std::env::temp_dir().join(format!("tern-kafka-{}-{}", std::process::id(), random_password())),
        };
        let mut limits = kafka_server::BrokerLimits::default();
        if let Some(ms) = args.kafka_cleanup_interval_ms {
            limits.cleanup_interval = std::time::Duration::from_millis(ms);
        }
        if let Some(entries) = args.kafka_compaction_map_entries {
            limits.compaction_map_entries = entries;
        }
        let (broker, bound) = start_kafka(
            kafka_addr,
            data_dir,
            args.kafka_advertise.as_deref(),
            &args.kafka_clusters,
            limits,
            PortChoice::Exact,
        )?;
        tracing::info!(addr = %bound, "node listening for Kafka clients");
        if let Some(path) = &args.kafka_ready_file {
            std::fs::write(path, bound.to_string()).with_context(|| format!("writing {}", path.display()))?;
        }
        let pinned = args.kafka_clusters.iter().map(|c| c.id.clone()).collect();
        kafka = Some(KafkaSide { broker, pinned });
    }
    if let (Some(url), Some(secret)) = (args.control_plane.clone(), args.cluster_secret.clone()) {
        let advertised = args.advertise_addr.clone().unwrap_or_else(|| addr.to_string());
        let node_id = node_id(&args, &advertised)?;
        let link = ControlPlaneLink {
            url,
            cluster_secret: secret,
            node_id,
            region: args.region.clone(),
            redis_addr: advertised,
            kafka_addr: kafka.as_ref().map(|k| kafka_advertised(&k.broker)),
            replication_addr: args
                .replication_advertise
                .clone()
                .or_else(|| started.replication_addr.map(|a| a.to_string())),
        };
        let usage_file = args.data_dir.as_ref().map(|d| d.join("usage.json"));
        let meter = crate::metering::Meter::open(usage_file, Duration::from_secs(args.usage_report_secs))?;
        let mut reconciler = Reconciler::new(link, node.clone(), args.tenants.clone(), kafka)
            .with_meter(meter)
            .with_served_deployment(args.data_dir.as_deref(), adoption(args.adopt_control_plane))?;
        if let Some(dir) = &args.data_dir {
            reconciler = reconciler.with_saved_intent(dir);
        }
        if let Err(e) = reconciler.sync_once() {
            tracing::warn!(error = format!("{e:#}"), "first sync with the control plane failed; retrying every second");
        }
        reconciler.spawn(RECONCILE_PERIOD)?;
    }
    tracing::info!(%addr, region = %args.region, "node listening for Redis clients");
    if let Some(path) = args.ready_file {
        std::fs::write(&path, addr.to_string()).with_context(|| format!("writing {}", path.display()))?;
    }
    stop_on_signal(&[node])
}

/// The node's id at the control plane: `--node-id`, else the one kept in the data folder
/// (`DATA_DIR/node-id`, written at the first start), else REGION-HOST-PORT. Placements belong
/// to a node id, so a node restarted with its data folder on another port (`--redis-addr
/// 127.0.0.1:0`, a new machine address) must stay the node that holds those databases.
fn node_id(args: &NodeArgs, advertised: &str) -> anyhow::Result<String> {
    if let Some(id) = &args.node_id {
        return Ok(id.clone());
    }
    let generated = || format!("{}-{}", args.region, advertised.replace([':', '.', '[', ']'], "-"));
    match &args.data_dir {
        Some(dir) => kept_in_file(&dir.join("node-id"), generated),
        None => Ok(generated()),
    }
}

/// What a node does with another control plane state (`--adopt-control-plane`).
fn adoption(adopt_control_plane: bool) -> crate::saved_intent::Adoption {
    match adopt_control_plane {
        true => crate::saved_intent::Adoption::AdoptNew,
        false => crate::saved_intent::Adoption::KeepServed,
    }
}

/// What to do when a listening port is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PortChoice {
    /// Fail (`tern node`: the operator asked for that port).
    Exact,
    /// Take a free port instead (`tern dev`: any port will do, the output says which).
    FreeIfBusy,
}

/// `HOST:PORT` the broker tells clients to connect to.
fn kafka_advertised(broker: &kafka_server::Broker) -> String {
    let (host, port) = broker.advertised();
    format!("{host}:{port}")
}

/// Starts the Kafka broker with its clusters; returns it and the bound address.
fn start_kafka(
    addr: SocketAddr,
    data_dir: PathBuf,
    advertise: Option<&str>,
    clusters: &[kafka_server::ClusterConfig],
    limits: kafka_server::BrokerLimits,
    ports: PortChoice,
) -> anyhow::Result<(Arc<kafka_server::Broker>, SocketAddr)> {
    let storage = kafka_server::partition::Storage::on_real_disk();
    storage.spawn()?;
    let broker = Arc::new(kafka_server::Broker::new(data_dir, storage, limits));
    if let Some(advertise) = advertise {
        let (host, port) = advertise.rsplit_once(':').context("--kafka-advertise must be HOST:PORT")?;
        *broker.advertised.write() = (host.to_string(), port.parse().context("--kafka-advertise port")?);
    }
    for cluster in clusters {
        broker.upsert_cluster(cluster).with_context(|| format!("adding Kafka cluster {}", cluster.id))?;
    }
    let server = match kafka_server::server::start(broker.clone(), addr, 2) {
        Err(e) if ports == PortChoice::FreeIfBusy && e.kind() == std::io::ErrorKind::AddrInUse => {
            tracing::info!(%addr, "Kafka port busy; using a free one");
            kafka_server::server::start(broker.clone(), SocketAddr::new(addr.ip(), 0), 2)
        }
        other => other,
    }
    .with_context(|| format!("listening on {addr}"))?;
    Ok((broker, server.local_addr))
}

fn parse_kafka_cluster(s: &str) -> Result<kafka_server::ClusterConfig, String> {
    let mut parts = s.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(user), Some(password)) if !id.is_empty() && !user.is_empty() && !password.is_empty() => {
            let id = kafka_server::ClusterId(id.to_string());
            Ok(kafka_server::ClusterConfig {
                credentials: vec![kafka_server::CredentialConfig {
                    cluster: id.clone(),
                    username: user.to_string(),
                    password: password.to_string(),
                    access: kafka_server::Access::Full,
                    scope: kafka_server::TopicScope::All,
                }],
                id,
            })
        }
        _ => Err("expected CLUSTER:USER:PASSWORD".to_string()),
    }
}

fn random_password() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("tern");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".local/share/tern");
    }
    PathBuf::from(".tern")
}

/// Opens the state, runs `setup` on it, then serves the API on its own thread. Returns the
/// bound address and what `setup` returned. With `fallback`, a busy address gives a free port.
fn spawn_control_plane<T, F, Fut>(
    url: String,
    listen: SocketAddr,
    fallback: bool,
    config: control_plane::Config,
    setup: F,
) -> anyhow::Result<(SocketAddr, T)>
where
    T: Send + 'static,
    F: FnOnce(control_plane::Store) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name("control-plane".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(anyhow::Error::from(e)));
                return;
            }
        };
        rt.block_on(async move {
            let started = async {
                let store = control_plane::Store::open(&url)
                    .await
                    .with_context(|| format!("opening {}", without_password(&url)))?;
                let value = setup(store.clone()).await?;
                let listener = match tokio::net::TcpListener::bind(listen).await {
                    Ok(l) => l,
                    Err(e) if fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
                        tokio::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0)).await?
                    }
                    Err(e) => return Err(anyhow::Error::from(e).context(format!("listening on {listen}"))),
                };
                let addr = listener.local_addr()?;
                anyhow::Ok((store, listener, addr, value))
            }
            .await;
            match started {
                Ok((store, listener, addr, value)) => {
                    let _ = tx.send(Ok((addr, value)));
                    if let Err(e) = control_plane::serve(listener, store, config).await {
                        tracing::error!(error = %e, "control plane stopped");
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    })?;
    rx.recv().context("the control plane thread ended")?
}

/// A database URL fit for logs: the password of `scheme://user:password@host/…` (if any)
/// replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// A value (a secret, a token, the node id) kept in an owner-only file of the data directory,
/// created on first use.
fn kept_in_file(path: &std::path::Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            let s = make();
            write_private(path, &s)?;
            Ok(s)
        }
    }
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn run_control_plane(args: ControlPlaneArgs) -> anyhow::Result<()> {
    if let Some(ControlPlaneAction::Openapi) = args.action {
        let text = control_plane::openapi_json().context("encoding the OpenAPI document")?;
        std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
        return Ok(());
    }
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let secret_file = data_dir.join("cluster-secret");
    let secret = match args.cluster_secret {
        Some(s) if !s.is_empty() => s,
        _ => kept_in_file(&secret_file, random_password)?,
    };
    anyhow::ensure!(args.node_timeout_secs > 0, "--node-timeout-secs must be at least 1");
    let config = control_plane::Config { cluster_secret: secret, node_timeout_secs: args.node_timeout_secs };
    let url = match args.database_url {
        Some(url) if !url.is_empty() => url,
        _ => control_plane::sqlite_url(&data_dir),
    };
    let shown = without_password(&url);
    let (addr, first) = spawn_control_plane(url, args.listen, false, config, |store| async move {
        // The first start creates an org and shows its token once (only its hash is kept).
        Ok(store.create_org("personal").await?)
    })?;
    println!("Control plane listening on http://{addr} (state in {shown}).");
    println!("Nodes join with: tern node --region REGION --control-plane http://{addr} --cluster-secret SECRET");
    if secret_file.exists() {
        println!("(SECRET is in {})", secret_file.display());
    }
    if let Some(created) = first {
        println!("Created org '{}'. Its API token, shown only this once:", created.org.name);
        println!("export TERN_API_URL=http://{addr}");
        println!("export TERN_API_TOKEN={}", created.token);
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    wait_for_ctrl_c()
}

fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let regions = args.regions.clone();
    let Some(first_region) = regions.first().cloned() else { anyhow::bail!("--regions must name at least one region") };
    // Secrets and the dev database's password are kept across runs so saved URLs keep working.
    let secret = kept_in_file(&data_dir.join("cluster-secret"), random_password)?;
    let token = kept_in_file(&data_dir.join("dev-token"), || format!("tern_{}", random_password()))?;
    let dev_password = kept_in_file(&data_dir.join("dev-password"), random_password)?;
    let config = control_plane::Config { cluster_secret: secret.clone(), ..Default::default() };
    let url = control_plane::sqlite_url(&data_dir);
    let setup_token = token.clone();
    let (api_addr, ()) = spawn_control_plane(url, args.api_addr, true, config, move |store| async move {
        let org = match store.org_by_name("personal").await? {
            Some(org) => org,
            None => store.create_org("personal").await?.context("creating org 'personal'")?.org,
        };
        store.add_token(&org.id, &setup_token).await?;
        if store.database(&org.id, "dev").await?.is_none() {
            for r in &regions {
                anyhow::ensure!(store.region_exists(r).await?, "unknown region '{r}' in --regions");
            }
            store.insert_database(&org.id, "dev", "payg", &first_region, &[], false, &dev_password, 15).await?;
        }
        if store.kafka_cluster(&org.id, "dev").await?.is_none() {
            store.insert_kafka_cluster(&org.id, "dev", "payg", &first_region, &[], 15).await?;
        }
        Ok(())
    })?;
    let api_url = format!("http://{api_addr}");

    let mut nodes = Vec::new();
    for (i, region) in args.regions.iter().enumerate() {
        let mut addr = args.redis_addr;
        if addr.port() != 0 {
            addr.set_port(addr.port() + i as u16);
        }
        let started = start_node(
            region,
            addr,
            &[],
            None,
            Some(Storage {
                data_dir: data_dir.join("redis").join(region),
                fsync: FsyncPolicy::EverySec,
                snapshot_min_log_bytes: redis_server::persistence::DEFAULT_SNAPSHOT_MIN_LOG_BYTES,
            }),
            NodeLimits::default(),
            Some(ReplicationSetup { addr: default_replication_addr(addr), cluster_secret: secret.clone() }),
        )
        .with_context(|| format!("starting the {region} node"))?;
        let (node, bound) = (started.node, started.addr);
        let mut kafka_addr = args.kafka_addr;
        if kafka_addr.port() != 0 {
            kafka_addr.set_port(kafka_addr.port() + i as u16);
        }
        let kafka_dir = data_dir.join("kafka").join(region);
        let (broker, kafka_bound) =
            start_kafka(kafka_addr, kafka_dir, None, &[], Default::default(), PortChoice::FreeIfBusy)
                .with_context(|| format!("starting the {region} node's Kafka listener"))?;
        let link = ControlPlaneLink {
            url: api_url.clone(),
            cluster_secret: secret.clone(),
            node_id: format!("dev-{region}"),
            region: region.clone(),
            redis_addr: bound.to_string(),
            kafka_addr: Some(kafka_advertised(&broker)),
            replication_addr: started.replication_addr.map(|a| a.to_string()),
        };
        let kafka = KafkaSide { broker, pinned: Vec::new() };
        let node_dir = data_dir.join("redis").join(region);
        let meter = crate::metering::Meter::open(Some(node_dir.join("usage.json")), DEV_USAGE_REPORT_PERIOD)?;
        let mut reconciler = Reconciler::new(link, node.clone(), Vec::new(), Some(kafka))
            .with_meter(meter)
            .with_served_deployment(Some(&node_dir), adoption(args.adopt_control_plane))?;
        reconciler.sync_once().with_context(|| format!("connecting the {region} node to the control plane"))?;
        reconciler.spawn(RECONCILE_PERIOD)?;
        nodes.push((region.clone(), bound, kafka_bound, node));
    }

    let dev_db = dev_database(&api_url, &token)?;
    println!("tern dev is running (data in {}).", data_dir.display());
    println!("Control plane: {api_url}");
    println!("Console: {api_url}/console");
    for (region, addr, kafka_addr, _) in &nodes {
        println!("Node {region}: Redis {addr}, Kafka {kafka_addr}");
    }
    println!();
    println!("Point the CLI at it (paste into your shell):");
    println!("export TERN_API_URL={api_url}");
    println!("export TERN_API_TOKEN={token}");
    println!();
    println!("Redis database '{}' is ready:", dev_db.name);
    let url = dev_db.url.unwrap_or_default();
    println!("{url}");
    println!();
    print_dev_kafka(&api_url, &token)?;
    println!();
    println!("Next: redis-cli -u {url} PING");
    println!("  or: tern login --api-url {api_url} --token {token}   (then no exports are needed)");
    println!("  or: tern redis create --region {}", args.regions[0]);
    println!("Press Ctrl-C to stop.");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let nodes: Vec<Arc<Node>> = nodes.into_iter().map(|(_, _, _, node)| node).collect();
    stop_on_signal(&nodes)
}

/// The `dev` Kafka cluster's lines: its endpoint and its first full credential as `export`
/// lines, for kcat and client libraries.
fn print_dev_kafka(api_url: &str, token: &str) -> anyhow::Result<()> {
    let resp = ureq::get(&format!("{api_url}/v1/kafka/clusters/dev"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(crate::reconcile::http_error)
        .context("reading the dev Kafka cluster from the control plane")?;
    let cluster: control_api::KafkaCluster = resp.into_json()?;
    println!("Kafka cluster '{}' is {} (SASL PLAIN or SCRAM-SHA-256):", cluster.name, cluster.status);
    crate::kafka_cli::print_exports(&cluster);
    Ok(())
}

/// The `dev` database as the API shows it.
fn dev_database(api_url: &str, token: &str) -> anyhow::Result<control_api::Database> {
    let resp = ureq::get(&format!("{api_url}/v1/databases/dev"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(crate::reconcile::http_error)
        .context("reading the dev database from the control plane")?;
    Ok(resp.into_json()?)
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn database_urls_are_shown_without_their_password() {
        assert_eq!(
            without_password("postgres://tern:s3cr@t@db.internal:5432/tern"),
            "postgres://tern:***@db.internal:5432/tern"
        );
        assert_eq!(
            without_password("postgres://tern@db/tern?sslmode=require"),
            "postgres://tern@db/tern?sslmode=require"
        );
        assert_eq!(without_password("postgres://db/x@y"), "postgres://db/x@y");
        assert_eq!(
            without_password("sqlite:///var/lib/tern/control-plane.db?mode=rwc"),
            "sqlite:///var/lib/tern/control-plane.db?mode=rwc"
        );
    }
}
