//! `tern redis connect` and `tern redis proxy`: a local TCP proxy on 127.0.0.1 to the node
//! holding a database, with redis-cli (or the built-in prompt of `repl.rs`) on top for
//! `connect`.

use crate::client::Client;
use crate::prompt::{self, Interaction};
use anyhow::{bail, Context};
use control_api as api;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Connections the proxy carries at once; more are closed at once (a local proxy for one
/// developer needs few).
const MAX_PROXY_CONNECTIONS: usize = 256;

/// How long the proxy waits for the node to accept a connection.
const NODE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The database (default: your only one, or a choice on a terminal).
    name: Option<String>,
    /// Local port of the proxy (0: any free port).
    #[arg(long, default_value_t = 16379)]
    port: u16,
}

/// What runs on top of the proxy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Front {
    /// redis-cli, or the built-in prompt without it.
    Prompt,
    /// Nothing: proxy until Ctrl-C.
    ProxyOnly,
}

pub(crate) fn run(c: &Client, a: ConnectArgs, front: Front) -> anyhow::Result<()> {
    let db = pick_database(c, a.name, Interaction::detect())?;
    let remote = node_endpoint(&db)?;
    let port = start_proxy(a.port, remote.clone())?;
    println!("Proxying localhost:{port} to remote {remote}");
    match front {
        Front::ProxyOnly => {
            println!("Port: {port}");
            println!("Password: {}", db.password);
            println!("Connect with: redis-cli -p {port} (password in REDISCLI_AUTH) or redis://default:PASSWORD@localhost:{port}");
            println!("Press Ctrl-C to stop.");
            use std::io::Write;
            let _ = std::io::stdout().flush();
            crate::cli::wait_for_ctrl_c()
        }
        Front::Prompt => match find_on_path("redis-cli") {
            Some(redis_cli) => run_redis_cli(&redis_cli, port, &db.password),
            None => crate::repl::run(port, &db.password),
        },
    }
}

/// `name`'s database, else the only one, else one chosen on a terminal.
fn pick_database(c: &Client, name: Option<String>, ui: Interaction) -> anyhow::Result<api::Database> {
    if let Some(name) = name {
        return c.get(&format!("/v1/databases/{name}"));
    }
    let mut dbs: Vec<api::Database> = c.get("/v1/databases")?;
    let names: Vec<&str> = dbs.iter().map(|d| d.name.as_str()).collect();
    let i = match (names.len(), ui) {
        (0, _) => bail!("you have no databases yet: create one with `tern redis create`"),
        (1, _) => 0,
        (_, Interaction::Prompt) => prompt::select("Database", &names, 0)?,
        (_, Interaction::NoPrompt) => {
            bail!("you have several databases ({}): name one, as in `tern redis connect NAME`", names.join(", "))
        }
    };
    Ok(dbs.swap_remove(i))
}

/// `HOST:PORT` of the node to connect to: the primary region's. Replication across regions is
/// not built yet, so a read region's node may not hold the data; when it is, this is where
/// the nearest region (by the regions' coordinates or measured latency) gets chosen.
fn node_endpoint(db: &api::Database) -> anyhow::Result<String> {
    let primary = db.regions.iter().find(|r| r.role == "primary");
    match primary.and_then(|r| r.endpoint.clone()) {
        Some(endpoint) => Ok(endpoint),
        None => bail!(
            "no node serves {}'s region {} yet: `tern redis status {}` shows progress",
            db.name,
            db.primary_region,
            db.name
        ),
    }
}

/// Binds 127.0.0.1:`port` and proxies every connection to `remote` on a thread of its own;
/// returns the bound port.
fn start_proxy(port: u16, remote: String) -> anyhow::Result<u16> {
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            bail!("port {port} is in use (another proxy?): pass --port with a free one, or --port 0 for any")
        }
        Err(e) => return Err(e).with_context(|| format!("listening on 127.0.0.1:{port}")),
    };
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("proxy".into()).spawn(move || {
        rt.block_on(async move {
            if let Err(e) = proxy(listener, Arc::from(remote)).await {
                eprintln!("error: the proxy stopped: {e:#}");
            }
        })
    })?;
    Ok(port)
}

async fn proxy(listener: std::net::TcpListener, remote: Arc<str>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_PROXY_CONNECTIONS));
    loop {
        let (mut local, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                eprintln!("error: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
        let remote = remote.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(NODE_CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&*remote)).await {
                Ok(Ok(mut node)) => {
                    let _ = node.set_nodelay(true);
                    let _ = local.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut local, &mut node).await;
                }
                Ok(Err(e)) => eprintln!("error: cannot reach the node at {remote}: {e}"),
                Err(_) => eprintln!("error: the node at {remote} did not answer within {NODE_CONNECT_TIMEOUT:?}"),
            }
        });
    }
}

/// The first executable `name` in PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &std::path::Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Runs `redis-cli -p PORT` on this terminal, the password in REDISCLI_AUTH (not on its
/// command line, where `ps` would show it).
fn run_redis_cli(redis_cli: &std::path::Path, port: u16, password: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new(redis_cli)
        .arg("-p")
        .arg(port.to_string())
        .env("REDISCLI_AUTH", password)
        .status()
        .with_context(|| format!("running {}", redis_cli.display()))?;
    if !status.success() {
        bail!("redis-cli ended with {status}");
    }
    Ok(())
}
