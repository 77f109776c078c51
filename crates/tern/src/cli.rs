//! Command-line parsing and the `node` / `dev` subcommands. Only this binary reads
//! configuration (flags, environment); libraries receive plain values.

use anyhow::Context;
use clap::{Parser, Subcommand};
use redis_server::persistence::{FsyncPolicy, Persistence};
use redis_server::{Node, NodeLimits, TenantConfig, TenantId};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "tern", version, about = "Managed, pay-as-you-go Redis and Kafka across regions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a data-plane node for one region.
    Node(NodeArgs),
    /// Run the whole platform on this machine with a ready database.
    Dev(DevArgs),
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Region this node serves.
    #[arg(long, default_value = "dev")]
    region: String,
    /// Address for Redis clients.
    #[arg(long, default_value = "127.0.0.1:6379")]
    redis_addr: SocketAddr,
    /// A database to host, as ID:PASSWORD (repeatable).
    #[arg(long = "tenant", value_parser = parse_tenant)]
    tenants: Vec<TenantConfig>,
    /// A file listing databases to host, one `ID:PASSWORD` per line (`#` starts a comment).
    /// It is re-read when it changes: new lines add databases, removed lines remove them
    /// (disconnecting their clients), a changed password revokes the old one at once.
    #[arg(long)]
    tenants_file: Option<PathBuf>,
    /// Keep databases on disk in this folder (one change log per database); without it,
    /// data lives in memory only.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// When writes reach the disk: `always` (a reply leaves after its write is fsynced; many
    /// writes share one fsync) or `everysec` (at most about a second lost in a crash).
    #[arg(long, default_value = "everysec")]
    fsync: FsyncPolicy,
    /// Worker threads (default: the cores this process may use).
    #[arg(long)]
    threads: Option<usize>,
    /// Write the bound Redis address to this file once listening (for scripts and tests).
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct DevArgs {
    /// Where state lives (default: the user's data directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address for Redis clients (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6399")]
    redis_addr: SocketAddr,
}

fn parse_tenant(s: &str) -> Result<TenantConfig, String> {
    let (id, password) = s.split_once(':').ok_or("expected ID:PASSWORD")?;
    if id.is_empty() || password.is_empty() {
        return Err("ID and PASSWORD must not be empty".into());
    }
    Ok(TenantConfig { id: TenantId(id.into()), password: password.into() })
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
        Command::Node(args) => run_node(args),
        Command::Dev(args) => run_dev(args),
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
}

fn start_node(
    region: &str,
    addr: SocketAddr,
    tenants: &[TenantConfig],
    threads: Option<usize>,
    storage: Option<Storage>,
) -> anyhow::Result<(Arc<Node>, SocketAddr)> {
    let mut node = Node::new(NodeLimits::default(), region.to_string(), addr.port());
    node.allocated_bytes_probe = Some(allocated_bytes);
    if let Some(storage) = &storage {
        std::fs::create_dir_all(&storage.data_dir)
            .with_context(|| format!("creating {}", storage.data_dir.display()))?;
        node.persistence =
            Some(Persistence::new(storage.data_dir.clone(), storage.fsync, Arc::new(durability::RealDisk)));
    }
    let node = Arc::new(node);
    if let Some(persistence) = node.persistence.clone() {
        let writer_node = node.clone();
        std::thread::Builder::new().name("log-writer".into()).spawn(move || persistence.run_writer(writer_node))?;
    }
    for t in tenants {
        node.upsert_tenant(t).with_context(|| format!("adding database {}", t.id))?;
    }
    let server = redis_server::start(node.clone(), addr, threads.unwrap_or_else(redis_server::default_threads))
        .with_context(|| format!("listening on {addr}"))?;
    Ok((node, server.local_addr))
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

fn wait_for_ctrl_c() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
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
    for t in &wanted {
        if let Err(e) = node.upsert_tenant(t) {
            tracing::error!(tenant = %t.id, error = %e, "cannot host database");
        }
    }
    for id in node.tenants.ids() {
        let listed = wanted.iter().chain(pinned).any(|t| t.id == id);
        if !listed {
            tracing::info!(tenant = %id, "database removed from the tenants file: dropping it");
            let _ = node.remove_tenant(&id);
        }
    }
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
    let storage = args.data_dir.clone().map(|data_dir| Storage { data_dir, fsync: args.fsync });
    let (node, addr) = start_node(&args.region, args.redis_addr, &args.tenants, args.threads, storage)?;
    if let Some(path) = args.tenants_file.clone() {
        apply_tenants_file(&node, &path, &args.tenants)?;
        let pinned = args.tenants.clone();
        std::thread::Builder::new()
            .name("tenants-file".into())
            .spawn(move || watch_tenants_file(node, path, pinned))?;
    }
    tracing::info!(%addr, region = %args.region, "node listening for Redis clients");
    if let Some(path) = args.ready_file {
        std::fs::write(&path, addr.to_string()).with_context(|| format!("writing {}", path.display()))?;
    }
    wait_for_ctrl_c()
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

fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // The dev database keeps its password across runs so saved connection strings work.
    let password_file = data_dir.join("dev-password");
    let password = match std::fs::read_to_string(&password_file) {
        Ok(p) if !p.trim().is_empty() => p.trim().to_string(),
        _ => {
            let p = random_password();
            std::fs::write(&password_file, &p).with_context(|| format!("writing {}", password_file.display()))?;
            p
        }
    };
    let tenant = TenantConfig { id: TenantId("dev".into()), password: password.clone() };
    let storage = Storage { data_dir: data_dir.join("redis"), fsync: FsyncPolicy::EverySec };
    let (_node, addr) = start_node("dev", args.redis_addr, &[tenant], None, Some(storage))?;
    println!("tern dev is running (data in {}).", data_dir.display());
    println!("Redis database 'dev' is ready:");
    println!("redis://default:{password}@{addr}");
    println!();
    println!("Next: redis-cli -u redis://default:{password}@{addr} PING");
    println!("Press Ctrl-C to stop.");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    wait_for_ctrl_c()
}
