//! `tern redis ...`, `tern regions`, `tern orgs`: the CLI side of the control plane's API, and
//! the API client and output helpers `tern kafka ...` shares.

use crate::prompt::{self, Interaction};
use crate::reconcile::http_error;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use control_api as api;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ApiArgs {
    /// The control plane's URL (printed by `tern dev`).
    #[arg(long, env = "TERN_API_URL", global = true, hide_env_values = true)]
    api_url: Option<String>,
    /// An API token of your org (printed by `tern dev`).
    #[arg(long, env = "TERN_API_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub enum RedisCmd {
    /// Create a database.
    Create(CreateArgs),
    /// List your databases.
    #[command(alias = "ls")]
    List,
    /// Show a database: settings, connection string, state per region.
    Status { name: String },
    /// Change plan, eviction or read regions (name and primary region cannot change).
    Update(UpdateArgs),
    /// Give a database a new password; the old one stops working.
    Reset { name: String },
    /// Destroy a database and its data on every node. Cannot be undone.
    #[command(alias = "delete")]
    Destroy {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// List the plans.
    Plans,
    /// Open a local proxy to the database and a redis-cli (or built-in) prompt on it.
    Connect(crate::redis_connect::ConnectArgs),
    /// Open a local proxy to the database (port 16379) until Ctrl-C; prints the password.
    Proxy(crate::redis_connect::ConnectArgs),
    /// Print the console URL of your databases, or of one database.
    Dashboard { name: Option<String> },
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
    /// Read regions, comma-separated; can be changed later.
    #[arg(long, value_delimiter = ',', conflicts_with = "no_replicas")]
    replica_regions: Vec<String>,
    /// No read regions.
    #[arg(long)]
    no_replicas: bool,
    /// Plan (default: payg; `tern redis plans` lists them).
    #[arg(long)]
    plan: Option<String>,
    /// Evict keys when the plan's data size is reached instead of refusing writes.
    #[arg(long, conflicts_with = "disable_eviction")]
    enable_eviction: bool,
    /// Refuse writes when the plan's data size is reached (the default).
    #[arg(long)]
    disable_eviction: bool,
    /// Return at once instead of waiting until the primary region serves the database.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
pub struct UpdateArgs {
    name: String,
    #[arg(long)]
    plan: Option<String>,
    #[arg(long, conflicts_with = "disable_eviction")]
    enable_eviction: bool,
    #[arg(long)]
    disable_eviction: bool,
    /// Read regions to add, comma-separated.
    #[arg(long, value_delimiter = ',')]
    add_read_regions: Vec<String>,
    /// Read regions to remove, comma-separated.
    #[arg(long, value_delimiter = ',')]
    remove_read_regions: Vec<String>,
    /// Not changeable: given only to be told so.
    #[arg(long, hide = true)]
    region: Option<String>,
}

pub(crate) struct Client {
    pub(crate) base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for the URL and token of the flags, the environment or `tern login`, in that
    /// order.
    pub(crate) fn new(args: &ApiArgs) -> anyhow::Result<Client> {
        let login = crate::config::resolve(args.api_url.as_deref(), args.token.as_deref())?;
        Ok(Client::from_login(&login))
    }

    pub(crate) fn from_login(login: &crate::config::Login) -> Client {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Client { base: login.api_url.trim_end_matches('/').to_string(), token: login.token.clone(), agent }
    }

    pub(crate) fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        Ok(self.request(method, path, body)?.into_json()?)
    }

    /// A call whose success has no body (204).
    pub(crate) fn send_no_content(&self, method: &str, path: &str) -> anyhow::Result<()> {
        self.request(method, path, None).map(drop)
    }

    fn request(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<ureq::Response> {
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match res {
            Ok(r) => Ok(r),
            Err(ureq::Error::Transport(t)) => bail!(
                "cannot reach the control plane at {}: {t}\nIs it running? Start it with `tern dev` (or `tern control-plane`) \
                 and check TERN_API_URL (or `tern login --api-url`)",
                self.base
            ),
            Err(ureq::Error::Status(401, _)) => bail!(
                "the control plane at {} refused the API token (HTTP 401): run `tern login` again or check \
                 TERN_API_TOKEN",
                self.base
            ),
            Err(e) => Err(http_error(e)),
        }
    }

    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send("GET", path, None)
    }
}

/// Prints the console's URL of `page` (`redis/NAME`, `kafka`, …; empty for its home page):
/// under TERN_CONSOLE_URL when set, else under the API's `/console`.
pub(crate) fn print_console_url(c: &Client, json: bool, page: &str) -> anyhow::Result<()> {
    let base = std::env::var("TERN_CONSOLE_URL").unwrap_or_else(|_| format!("{}/console", c.base));
    let base = base.trim_end_matches('/');
    let url = if page.is_empty() { base.to_string() } else { format!("{base}/{page}") };
    if json {
        return print_json(&serde_json::json!({ "url": url }));
    }
    println!("{url}");
    Ok(())
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints rows under a header, columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub(crate) fn vertical(rows: &[(&str, String)]) {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<w$}  {v}");
    }
}

pub(crate) fn regions_or_none(r: &[String]) -> String {
    if r.is_empty() {
        "None".into()
    } else {
        r.join(", ")
    }
}

/// The plan a database gets when none is chosen (pay as you go).
const DEFAULT_PLAN: &str = "payg";

fn eviction(b: bool) -> String {
    if b { "Enabled" } else { "Disabled" }.into()
}

fn size(bytes: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    if bytes >= GB && bytes % GB == 0 {
        format!("{} GB", bytes / GB)
    } else {
        format!("{} MB", bytes / MB)
    }
}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

fn price(p: &api::Plan) -> String {
    if p.monthly_price_cents > 0 {
        format!("{}/month", dollars(p.monthly_price_cents))
    } else if p.price_per_100k_commands_cents > 0 {
        format!("{} per 100K commands", dollars(p.price_per_100k_commands_cents))
    } else {
        "Free".into()
    }
}

pub fn regions(args: &ApiArgs) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    let mut regions: Vec<api::Region> = c.get("/v1/regions")?;
    if args.json {
        return print_json(&regions);
    }
    // Regions that can take a database first (a stable sort keeps the API's order within each).
    regions.sort_by_key(|r| r.nodes == 0);
    let rows: Vec<Vec<String>> = regions
        .iter()
        .map(|r| {
            vec![
                r.code.clone(),
                r.name.clone(),
                r.nodes.to_string(),
                r.kafka_nodes.to_string(),
                format!("{:.4}, {:.4}", r.latitude, r.longitude),
            ]
        })
        .collect();
    table(&["Code", "Name", "Live Nodes", "Kafka Nodes", "Coordinates"], &rows);
    if regions.iter().all(|r| r.nodes == 0) {
        println!("No region has a live node yet: start one with `tern node --region CODE --control-plane URL`.");
    }
    Ok(())
}

pub fn orgs(args: &ApiArgs) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    let orgs: Vec<api::Org> = c.get("/v1/orgs")?;
    if args.json {
        return print_json(&orgs);
    }
    table(&["Name", "ID"], &orgs.iter().map(|o| vec![o.name.clone(), o.id.clone()]).collect::<Vec<_>>());
    Ok(())
}

pub fn redis(args: &ApiArgs, cmd: RedisCmd) -> anyhow::Result<()> {
    let c = Client::new(args)?;
    match cmd {
        RedisCmd::Create(a) => create(&c, args.json, a),
        RedisCmd::Connect(a) => crate::redis_connect::run(&c, a, crate::redis_connect::Front::Prompt),
        RedisCmd::Proxy(a) => crate::redis_connect::run(&c, a, crate::redis_connect::Front::ProxyOnly),
        RedisCmd::Dashboard { name } => {
            let page = match name {
                Some(name) => format!("redis/{}", c.get::<api::Database>(&format!("/v1/databases/{name}"))?.name),
                None => String::new(),
            };
            print_console_url(&c, args.json, &page)
        }
        RedisCmd::List => {
            let dbs: Vec<api::Database> = c.get("/v1/databases")?;
            if args.json {
                return print_json(&dbs);
            }
            if dbs.is_empty() {
                println!("No databases yet. Create one with `tern redis create --region REGION`.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = dbs
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        d.org.clone(),
                        d.plan.clone(),
                        eviction(d.eviction),
                        d.primary_region.clone(),
                        regions_or_none(&d.read_regions),
                    ]
                })
                .collect();
            table(&["Name", "Org", "Plan", "Eviction", "Primary Region", "Read Regions"], &rows);
            Ok(())
        }
        RedisCmd::Status { name } => {
            let d: api::Database = c.get(&format!("/v1/databases/{name}"))?;
            if args.json {
                return print_json(&d);
            }
            status(&d);
            Ok(())
        }
        RedisCmd::Update(a) => {
            let mut body = serde_json::Map::new();
            if let Some(p) = a.plan {
                body.insert("plan".into(), p.into());
            }
            if a.enable_eviction || a.disable_eviction {
                body.insert("eviction".into(), a.enable_eviction.into());
            }
            if !a.add_read_regions.is_empty() {
                body.insert("add_read_regions".into(), a.add_read_regions.into());
            }
            if !a.remove_read_regions.is_empty() {
                body.insert("remove_read_regions".into(), a.remove_read_regions.into());
            }
            if let Some(r) = a.region {
                body.insert("primary_region".into(), r.into());
            }
            if body.is_empty() {
                bail!(
                    "nothing to update: pass --plan, --enable-eviction/--disable-eviction, --add-read-regions or \
                     --remove-read-regions (name and primary region cannot be changed)"
                );
            }
            let d: api::Database = c.send("PATCH", &format!("/v1/databases/{}", a.name), Some(body.into()))?;
            if args.json {
                return print_json(&d);
            }
            println!("Updated {}.", d.name);
            status(&d);
            Ok(())
        }
        RedisCmd::Reset { name } => {
            let d: api::Database = c.send("POST", &format!("/v1/databases/{name}/reset-password"), None)?;
            if args.json {
                return print_json(&d);
            }
            println!("New password for {}; the old one stops working within a second on every node.", d.name);
            println!("{}", d.url.unwrap_or_else(|| format!("password: {} (not placed on a node yet)", d.password)));
            Ok(())
        }
        RedisCmd::Destroy { name, yes } => {
            confirm_destroy(yes, &name, "database")?;
            let d: api::Database = c.send("DELETE", &format!("/v1/databases/{name}"), None)?;
            if args.json {
                return print_json(&d);
            }
            println!("Destroyed {}.", d.name);
            Ok(())
        }
        RedisCmd::Plans => {
            let plans: Vec<api::Plan> = c.get("/v1/plans")?;
            if args.json {
                return print_json(&plans);
            }
            let rows: Vec<Vec<String>> = plans
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        size(p.max_data_bytes),
                        price(p),
                        p.fsync.as_str().into(),
                        p.description.clone(),
                    ]
                })
                .collect();
            table(&["Name", "Max Data Size", "Price", "Fsync", "Description"], &rows);
            Ok(())
        }
    }
}

fn status(d: &api::Database) {
    let mut rows = vec![
        ("ID", d.id.clone()),
        ("Name", d.name.clone()),
        ("Org", d.org.clone()),
        ("Plan", d.plan.clone()),
        ("Primary Region", d.primary_region.clone()),
        ("Read Regions", regions_or_none(&d.read_regions)),
        ("Eviction", eviction(d.eviction)),
        ("Private URL", d.url.clone().unwrap_or_else(|| "pending (no node in the primary region yet)".into())),
    ];
    for r in &d.regions {
        rows.push(("Region", format!("{} ({}): {}", r.region, r.role, r.status)));
    }
    rows.extend(crate::usage_cli::database_rows(d.usage.as_ref()));
    vertical(&rows);
}

/// Asks before destroying `name` unless `yes`; without a terminal, `--yes` is required.
pub(crate) fn confirm_destroy(yes: bool, name: &str, what: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if Interaction::detect() == Interaction::NoPrompt {
        bail!("destroying '{name}' cannot be undone: pass -y/--yes to confirm");
    }
    let question = format!("Destroy {what} '{name}' and all its data on every node? This cannot be undone");
    if !prompt::confirm(&question, false)? {
        bail!("not destroyed");
    }
    Ok(())
}

/// Eviction from the flags, else asked, else off.
fn eviction_choice(a: &CreateArgs, ui: Interaction) -> anyhow::Result<bool> {
    match (a.enable_eviction, a.disable_eviction, ui) {
        (true, _, _) => Ok(true),
        (_, true, _) | (_, _, Interaction::NoPrompt) => Ok(false),
        (false, false, Interaction::Prompt) => prompt::confirm(
            "Enable eviction? (when full, remove keys, those with a TTL first, instead of refusing writes)",
            false,
        ),
    }
}

/// The plan from `--plan`, else chosen (pay-as-you-go first), else the API's default.
fn plan_choice(c: &Client, given: Option<String>, ui: Interaction) -> anyhow::Result<Option<String>> {
    if given.is_some() || ui == Interaction::NoPrompt {
        return Ok(given);
    }
    let plans: Vec<api::Plan> = c.get("/v1/plans")?;
    if plans.is_empty() {
        return Ok(None);
    }
    let labels: Vec<String> =
        plans.iter().map(|p| format!("{:<14} {:<8} {}", p.name, size(p.max_data_bytes), price(p))).collect();
    let default = plans.iter().position(|p| p.name == DEFAULT_PLAN).unwrap_or(0);
    let i = prompt::select("Plan", &labels, default)?;
    Ok(Some(plans[i].name.clone()))
}

/// Replica regions from the flags, else chosen, else none.
fn replica_choice(
    a: &mut CreateArgs,
    regions: &[api::Region],
    primary: &str,
    ui: Interaction,
) -> anyhow::Result<Vec<String>> {
    if a.no_replicas || !a.replica_regions.is_empty() {
        return Ok(std::mem::take(&mut a.replica_regions));
    }
    prompt::replica_regions(regions, primary, ui)
}

fn create(c: &Client, json: bool, mut a: CreateArgs) -> anyhow::Result<()> {
    // The order of the questions is the product's: org, name, primary region, eviction, plan,
    // replica regions.
    let ui = Interaction::detect();
    prompt::org(c, a.org.as_deref(), ui)?;
    let name = prompt::name(a.name.take(), ui)?;
    let regions = prompt::regions_if_asking(c, ui, prompt::Hosting::Redis)?;
    let region = prompt::primary_region(a.region.take(), &regions, ui)?;
    let eviction = eviction_choice(&a, ui)?;
    let plan = plan_choice(c, a.plan.take(), ui)?;
    let read_regions = replica_choice(&mut a, &regions, &region, ui)?;
    let req = api::CreateDatabase { name, primary_region: Some(region), read_regions, plan, eviction };
    let mut d: api::Database = c.send("POST", "/v1/databases", Some(serde_json::to_value(&req)?))?;
    if !a.no_wait {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !primary_ready(&d) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            d = c.get(&format!("/v1/databases/{}", d.id)).context("waiting for the database to be ready")?;
        }
    }
    if json {
        return print_json(&d);
    }
    println!("Your Redis database {} is {}.", d.name, if primary_ready(&d) { "ready" } else { "created (pending)" });
    println!();
    match &d.url {
        Some(url) => println!("Connection string: {url}"),
        None => {
            println!("No node serves region {} yet; `tern redis status {}` shows progress.", d.primary_region, d.name)
        }
    }
    println!();
    if d.plan == DEFAULT_PLAN {
        println!(
            "Billing: pay as you go, $0.20 per 100K commands after 10,000 free commands a day. Queue pollers such as \
             Sidekiq or BullMQ send commands constantly and may fit a fixed plan better (`tern redis plans`)."
        );
    } else {
        println!("Billing: plan {} (`tern redis plans`).", d.plan);
    }
    Ok(())
}

fn primary_ready(d: &api::Database) -> bool {
    d.regions.iter().any(|r| r.role == "primary" && r.status == "ready")
}
