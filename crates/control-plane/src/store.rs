//! State: every SQL statement of the control plane. Queries go through sqlx's `Any` driver
//! with `$N` placeholders and portable SQL, so SQLite and PostgreSQL share this code path.
//!
//! Portability rules (ARCHITECTURE.md, "Control plane"): integers are BIGINT and read as
//! `i64` (booleans too, as 0/1); SQL orders rows by numbers only, text is sorted here by its
//! bytes, because PostgreSQL orders text by its database's collation (which may ignore '-')
//! where SQLite compares bytes; "insert unless present" is `ON CONFLICT … DO NOTHING` and
//! its row count, never a look-up first, which races once PostgreSQL serves requests in
//! parallel.

use control_api as api;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Row};

/// Migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    ("0002_kafka", include_str!("../migrations/0002_kafka.sql")),
    ("0003_usage", include_str!("../migrations/0003_usage.sql")),
    ("0004_deployment", include_str!("../migrations/0004_deployment.sql")),
    ("0005_plan_fsync", include_str!("../migrations/0005_plan_fsync.sql")),
    ("0006_replication", include_str!("../migrations/0006_replication.sql")),
];

mod kafka;
pub mod usage;
pub use kafka::KafkaClusterRow;

/// The tables of one kind of placed thing (Redis databases or Kafka clusters): placement
/// intent, observed state, and the node column clients connect to. Placement code is shared.
pub struct Kind {
    /// Intent: (owner, region, role, node_id).
    placements: &'static str,
    /// The owner column in `placements` and `observed`.
    owner: &'static str,
    /// What nodes reported hosting: (node_id, owner).
    observed: &'static str,
    /// The node's address column for this kind; nodes where it is NULL are never chosen.
    addr: &'static str,
}

pub const REDIS: Kind =
    Kind { placements: "placements", owner: "database_id", observed: "node_tenants", addr: "redis_addr" };
pub const KAFKA: Kind =
    Kind { placements: "kafka_placements", owner: "cluster_id", observed: "node_kafka_clusters", addr: "kafka_addr" };

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration {name} failed: {source}")]
    Migration { name: String, source: sqlx::Error },
    /// The state holds data a migration cannot take as it is; nothing was changed.
    #[error("migration {name} cannot run: {reason}")]
    MigrationRefused { name: String, reason: String },
}

impl StoreError {
    /// A UNIQUE or primary key constraint refused a write: another request created the same
    /// thing at the same time (the check before it passed for both).
    pub fn is_conflict(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// This state's identity (`deployment` table), read once at open: it never changes.
    deployment_id: api::DeploymentId,
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A database row before its regions are attached.
pub struct DbRow {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub name: String,
    pub plan: String,
    pub primary_region: String,
    pub eviction: bool,
    pub password: String,
    pub created_at: i64,
}

pub struct PlacementRow {
    pub region: String,
    pub role: String,
    pub node_id: Option<String>,
    /// The node's address for this kind of placement (Redis or Kafka), once placed.
    pub addr: Option<String>,
    pub last_seen: Option<i64>,
    pub observed: bool,
}

/// A replica's replication state as its node last reported it.
pub struct ReplicaStateRow {
    pub node_id: String,
    /// `None` for a state this control plane does not know (a newer node).
    pub state: Option<api::ReplicationState>,
    pub lag_records: i64,
}

/// The role of a placement row of `node_intent`; `None` for a replica whose primary cannot
/// be followed yet (not placed, or its node has no replication listener).
fn intent_role(r: &AnyRow) -> Result<Option<api::TenantRole>, sqlx::Error> {
    let role: String = r.try_get("role")?;
    if role == "primary" {
        return Ok(Some(api::TenantRole::Primary));
    }
    let primary_node: Option<String> = r.try_get("primary_node")?;
    let addr: Option<String> = r.try_get("primary_replication_addr")?;
    let primary_redis_addr: Option<String> = r.try_get("primary_redis_addr")?;
    Ok(primary_node.zip(addr).map(|(primary_node, primary_replication_addr)| {
        api::TenantRole::Replica(api::ReplicaOf { primary_node, primary_replication_addr, primary_redis_addr })
    }))
}

fn db_row(r: &AnyRow) -> Result<DbRow, sqlx::Error> {
    Ok(DbRow {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        org_name: r.try_get("org_name")?,
        name: r.try_get("name")?,
        plan: r.try_get("plan")?,
        primary_region: r.try_get("primary_region")?,
        eviction: r.try_get::<i64, _>("eviction")? != 0,
        password: r.try_get("password")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Largest key a database accepts, the same for every plan (the plans table has no column
/// for it): 32 KiB, far above any real key and far below Redis's 512 MB.
pub const MAX_KEY_BYTES: i64 = 32 * 1024;

const DB_SELECT: &str = "SELECT d.id, d.org_id, o.name AS org_name, d.name, d.plan, d.primary_region, d.eviction, \
     d.password, d.created_at FROM databases d JOIN orgs o ON o.id = d.org_id";

impl Store {
    /// Opens (creating if needed) the state at `url` (`sqlite://PATH?mode=rwc`, `sqlite::memory:`,
    /// later `postgres://...`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_migrated(url, MIGRATIONS.len()).await
    }

    /// Opens the state with only its first `migrations` migrations applied: for tests of
    /// what an upgrade finds in an older state.
    #[doc(hidden)]
    pub async fn open_migrated(url: &str, migrations: usize) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        // SQLite serializes writers anyway; one connection avoids "database is locked" and
        // keeps an in-memory database a single database.
        let max = if url.starts_with("sqlite:") { 1 } else { 10 };
        let pool = AnyPoolOptions::new().max_connections(max).connect(url).await?;
        migrate(&pool, &MIGRATIONS[..migrations.min(MIGRATIONS.len())]).await?;
        let deployment_id = deployment_id(&pool).await?;
        Ok(Store { pool, deployment_id })
    }

    /// The identity of this state, sent with every node intent.
    pub fn deployment_id(&self) -> &api::DeploymentId {
        &self.deployment_id
    }
}

/// The state's identity: created by the first control plane opening it (a second one starting
/// at the same moment inserts nothing and reads the winner's), then only read.
async fn deployment_id(pool: &AnyPool) -> Result<api::DeploymentId, StoreError> {
    // Older states (before 0004) have no identity: nothing to read or create.
    let has_table = sqlx::query("SELECT 1 FROM schema_migrations WHERE name = '0004_deployment'")
        .fetch_optional(pool)
        .await?
        .is_some();
    if !has_table {
        return Ok(api::DeploymentId::default());
    }
    sqlx::query(
        "INSERT INTO deployment (singleton, id, created_at) VALUES (1, $1, $2) ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(format!("dep_{}", random_hex(16)))
    .bind(now())
    .execute(pool)
    .await?;
    let row = sqlx::query("SELECT id FROM deployment WHERE singleton = 1").fetch_one(pool).await?;
    Ok(api::DeploymentId(row.try_get("id")?))
}

/// Applies the migrations not applied yet, in order.
async fn migrate(pool: &AnyPool, migrations: &[(&str, &str)]) -> Result<(), StoreError> {
    let created =
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .execute(pool)
            .await;
    // PostgreSQL's IF NOT EXISTS is not atomic: when another control plane creates the
    // table at the same moment, this one fails on a unique index of the catalog (23505) or,
    // depending on timing, with "type already exists" (42710) or "relation already exists"
    // (42P07). The table exists then, which is all this statement is for.
    let lost_the_race = |e: &sqlx::Error| match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() || matches!(db.code().as_deref(), Some("42710") | Some("42P07"))
        }
        _ => false,
    };
    match created {
        Err(e) if !lost_the_race(&e) => return Err(e.into()),
        _ => {}
    }
    for (name, sql) in migrations {
        let fail = |source| StoreError::Migration { name: name.to_string(), source };
        let mut tx = pool.begin().await.map_err(fail)?;
        // The migration's row is written first, in its transaction: a second control
        // plane starting at the same time waits on that row and then finds it there.
        let claimed = sqlx::query(
            "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(*name)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        if let Some(reason) = refusal(name, &mut tx).await.map_err(fail)? {
            // Dropping the transaction rolls the claim back: the next start tries again.
            return Err(StoreError::MigrationRefused { name: name.to_string(), reason });
        }
        for stmt in split_statements(sql) {
            sqlx::query(&stmt).execute(&mut *tx).await.map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        tracing::info!(migration = name, "applied");
    }
    Ok(())
}

/// Why a migration cannot run on this state's data, checked in its transaction before it
/// runs: a clear message naming what to change, instead of a failed statement.
async fn refusal(name: &str, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<Option<String>, sqlx::Error> {
    if name != "0004_deployment" {
        return Ok(None);
    }
    // 0004 enforces one free database per org with a unique index; a state from before it
    // may hold more (two creates racing past the API's check).
    let rows = sqlx::query(
        "SELECT o.name AS org, d.name AS db FROM databases d JOIN orgs o ON o.id = d.org_id \
         WHERE d.plan = 'free' AND d.org_id IN \
         (SELECT org_id FROM databases WHERE plan = 'free' GROUP BY org_id HAVING COUNT(*) > 1) \
         ORDER BY o.name, d.created_at, d.name",
    )
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut by_org: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let (org, db): (String, String) = (row.try_get("org")?, row.try_get("db")?);
        match by_org.last_mut() {
            Some((last, dbs)) if *last == org => dbs.push(db),
            _ => by_org.push((org, vec![db])),
        }
    }
    let listed: Vec<String> =
        by_org.iter().map(|(org, dbs)| format!("org {org} has free databases {}", dbs.join(", "))).collect();
    Ok(Some(format!(
        "{}; an org may have one free database: move the others to another plan (with the previous \
         control plane: `tern redis update NAME --plan payg`) and start again",
        listed.join("; ")
    )))
}

impl Store {
    // ---- orgs and tokens

    /// Creates an org and its first token; `None` if the name is taken.
    pub async fn create_org(&self, name: &str) -> Result<Option<api::CreatedOrg>, StoreError> {
        let org = api::Org { id: format!("org_{}", random_hex(8)), name: name.to_string() };
        let mut tx = self.pool.begin().await?;
        let inserted =
            sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(&org.id)
                .bind(&org.name)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        if inserted.rows_affected() == 0 {
            return Ok(None);
        }
        let token = format!("tern_{}", random_hex(24));
        insert_token(&mut tx, &org.id, &token).await?;
        tx.commit().await?;
        Ok(Some(api::CreatedOrg { org, token }))
    }

    pub async fn org_by_name(&self, name: &str) -> Result<Option<api::Org>, StoreError> {
        let row =
            sqlx::query("SELECT id, name FROM orgs WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => Some(api::Org { id: r.try_get("id")?, name: r.try_get("name")? }),
            None => None,
        })
    }

    /// Stores a token (its SHA-256 only) for an org; a token already stored is left alone.
    pub async fn add_token(&self, org_id: &str, token: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_token(&mut conn, org_id, token).await
    }

    /// The org a token belongs to.
    pub async fn org_for_token(&self, token: &str) -> Result<Option<api::Org>, StoreError> {
        let row =
            sqlx::query("SELECT o.id, o.name FROM api_tokens t JOIN orgs o ON o.id = t.org_id WHERE t.sha256 = $1")
                .bind(sha256_hex(token))
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Some(api::Org { id: r.try_get("id")?, name: r.try_get("name")? }),
            None => None,
        })
    }

    // ---- regions and plans

    /// Every region, with how many of its nodes were heard from within `node_timeout` seconds
    /// and how many of those serve Kafka.
    pub async fn regions(&self, node_timeout: i64) -> Result<Vec<api::Region>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.code, r.name, r.latitude, r.longitude, \
             (SELECT COUNT(*) FROM nodes n WHERE n.region = r.code AND n.last_seen >= $1) AS nodes, \
             (SELECT COUNT(*) FROM nodes n WHERE n.region = r.code AND n.last_seen >= $1 \
              AND n.kafka_addr IS NOT NULL) AS kafka_nodes \
             FROM regions r",
        )
        .bind(now() - node_timeout)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(api::Region {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                latitude: r.try_get("latitude")?,
                longitude: r.try_get("longitude")?,
                nodes: r.try_get("nodes")?,
                kafka_nodes: r.try_get("kafka_nodes")?,
                held_back: Vec::new(),
            });
        }
        for (region, held) in self.held_back_nodes(node_timeout).await? {
            if let Some(r) = out.iter_mut().find(|r| r.code == region) {
                r.held_back.push(held);
            }
        }
        out.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(out)
    }

    /// Live nodes that keep databases of another state, with their region, by node id.
    async fn held_back_nodes(&self, node_timeout: i64) -> Result<Vec<(String, api::NodeHeldBack)>, StoreError> {
        let rows =
            sqlx::query("SELECT id, region, held_back FROM nodes WHERE held_back IS NOT NULL AND last_seen >= $1")
                .bind(now() - node_timeout)
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::new();
        for r in rows {
            let node: String = r.try_get("id")?;
            let json: String = r.try_get("held_back")?;
            // Written by `heartbeat` from a parsed report; a row that no longer parses (an
            // older format) is left out rather than failing the whole list.
            match serde_json::from_str(&json) {
                Ok(held_back) => out.push((r.try_get("region")?, api::NodeHeldBack { node, held_back })),
                Err(e) => tracing::warn!(node = %node, error = %e, "unreadable held_back report; not shown"),
            }
        }
        out.sort_by(|a, b| a.1.node.cmp(&b.1.node));
        Ok(out)
    }

    pub async fn region_exists(&self, code: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT code FROM regions WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    pub async fn plans(&self) -> Result<Vec<api::Plan>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, description, max_data_bytes, max_request_bytes, max_record_bytes, max_connections, \
             max_commands_per_second, free_commands_per_day, max_commands_per_day, price_per_100k_commands_cents, \
             price_per_gb_month_cents, monthly_price_cents, fsync FROM plans ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(api::Plan {
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                max_data_bytes: r.try_get("max_data_bytes")?,
                max_request_bytes: r.try_get("max_request_bytes")?,
                max_record_bytes: r.try_get("max_record_bytes")?,
                max_connections: r.try_get("max_connections")?,
                max_commands_per_second: r.try_get("max_commands_per_second")?,
                free_commands_per_day: r.try_get("free_commands_per_day")?,
                max_commands_per_day: r.try_get("max_commands_per_day")?,
                price_per_100k_commands_cents: r.try_get("price_per_100k_commands_cents")?,
                price_per_gb_month_cents: r.try_get("price_per_gb_month_cents")?,
                monthly_price_cents: r.try_get("monthly_price_cents")?,
                fsync: fsync_policy(&r)?,
            });
        }
        Ok(out)
    }

    // ---- databases

    pub async fn databases(&self, org_id: &str) -> Result<Vec<DbRow>, StoreError> {
        let rows = sqlx::query(&format!("{DB_SELECT} WHERE d.org_id = $1")).bind(org_id).fetch_all(&self.pool).await?;
        let mut out = rows.iter().map(db_row).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A database of this org, by name or id.
    pub async fn database(&self, org_id: &str, name_or_id: &str) -> Result<Option<DbRow>, StoreError> {
        let row = sqlx::query(&format!("{DB_SELECT} WHERE d.org_id = $1 AND (d.name = $2 OR d.id = $2)"))
            .bind(org_id)
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(db_row).transpose()?)
    }

    pub async fn count_plan(&self, org_id: &str, plan: &str) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM databases WHERE org_id = $1 AND plan = $2")
            .bind(org_id)
            .bind(plan)
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("n")?)
    }

    pub async fn plan_exists(&self, plan: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT name FROM plans WHERE name = $1").bind(plan).fetch_optional(&self.pool).await?.is_some())
    }

    /// Inserts a database and its placements (one per region, on a live node of the region
    /// when there is one). The caller has validated everything.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_database(
        &self,
        org_id: &str,
        name: &str,
        plan: &str,
        primary_region: &str,
        read_regions: &[String],
        eviction: bool,
        password: &str,
        node_timeout: i64,
    ) -> Result<String, StoreError> {
        let id = format!("db_{}", random_hex(8));
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO databases (id, org_id, name, plan, primary_region, eviction, password, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(name)
        .bind(plan)
        .bind(primary_region)
        .bind(eviction as i64)
        .bind(password)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        add_placements(&mut tx, &REDIS, &id, primary_region, read_regions, node_timeout).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Where a database (`REDIS`) or Kafka cluster (`KAFKA`) is placed, primary first.
    pub async fn placements(&self, kind: &Kind, owner_id: &str) -> Result<Vec<PlacementRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT p.region, p.role, p.node_id, n.{addr} AS addr, n.last_seen, \
             (SELECT COUNT(*) FROM {observed} t WHERE t.node_id = p.node_id AND t.{owner} = p.{owner}) AS observed \
             FROM {placements} p LEFT JOIN nodes n ON n.id = p.node_id WHERE p.{owner} = $1",
            addr = kind.addr,
            observed = kind.observed,
            owner = kind.owner,
            placements = kind.placements,
        ))
        .bind(owner_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(PlacementRow {
                region: r.try_get("region")?,
                role: r.try_get("role")?,
                node_id: r.try_get("node_id")?,
                addr: r.try_get("addr")?,
                last_seen: r.try_get("last_seen")?,
                observed: r.try_get::<i64, _>("observed")? > 0,
            });
        }
        out.sort_by(|a, b| (a.role != "primary", &a.region).cmp(&(b.role != "primary", &b.region)));
        Ok(out)
    }

    pub async fn set_plan(&self, id: &str, plan: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE databases SET plan = $1 WHERE id = $2").bind(plan).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn set_eviction(&self, id: &str, eviction: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE databases SET eviction = $1 WHERE id = $2")
            .bind(eviction as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_password(&self, id: &str, password: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE databases SET password = $1 WHERE id = $2")
            .bind(password)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes the replica regions exactly `regions` (adding and removing placements).
    pub async fn set_replica_regions(
        &self,
        kind: &Kind,
        owner_id: &str,
        regions: &[String],
        node_timeout: i64,
    ) -> Result<(), StoreError> {
        let current: Vec<String> = self
            .placements(kind, owner_id)
            .await?
            .into_iter()
            .filter(|p| p.role == "replica")
            .map(|p| p.region)
            .collect();
        let mut tx = self.pool.begin().await?;
        for r in current.iter().filter(|r| !regions.contains(r)) {
            sqlx::query(&format!("DELETE FROM {} WHERE {} = $1 AND region = $2", kind.placements, kind.owner))
                .bind(owner_id)
                .bind(r)
                .execute(&mut *tx)
                .await?;
        }
        for r in regions.iter().filter(|r| !current.contains(r)) {
            add_placement(&mut tx, kind, owner_id, r, "replica", node_timeout).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_database(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM placements WHERE database_id = $1",
            "DELETE FROM node_tenants WHERE database_id = $1",
            "DELETE FROM databases WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- nodes

    /// Registers (or re-registers) a node; `Err` text if the id is known in another region.
    pub async fn register_node(&self, req: &api::RegisterNode) -> Result<Result<String, String>, StoreError> {
        let id = req.id.clone().unwrap_or_else(|| format!("node_{}", random_hex(8)));
        let existing =
            sqlx::query("SELECT region FROM nodes WHERE id = $1").bind(&id).fetch_optional(&self.pool).await?;
        match existing {
            Some(r) => {
                let region: String = r.try_get("region")?;
                if region != req.region {
                    return Ok(Err(format!(
                        "node '{id}' is registered in region '{region}', not '{}'; use another node id",
                        req.region
                    )));
                }
                sqlx::query(
                    "UPDATE nodes SET redis_addr = $1, capacity = $2, last_seen = $3, kafka_addr = $4, \
                     replication_addr = $5 WHERE id = $6",
                )
                .bind(&req.redis_addr)
                .bind(req.capacity)
                .bind(now())
                .bind(&req.kafka_addr)
                .bind(&req.replication_addr)
                .bind(&id)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO nodes (id, region, redis_addr, capacity, registered_at, last_seen, kafka_addr, \
                     replication_addr) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
                )
                .bind(&id)
                .bind(&req.region)
                .bind(&req.redis_addr)
                .bind(req.capacity)
                .bind(now())
                .bind(&req.kafka_addr)
                .bind(&req.replication_addr)
                .execute(&self.pool)
                .await?;
            }
        }
        self.claim_unplaced(&id, &req.region).await?;
        Ok(Ok(id))
    }

    /// Places the region's databases and Kafka clusters that have no node yet on this node
    /// (Kafka clusters only when the node serves Kafka).
    async fn claim_unplaced(&self, node_id: &str, region: &str) -> Result<(), StoreError> {
        for kind in [&REDIS, &KAFKA] {
            sqlx::query(&format!(
                "UPDATE {} SET node_id = $1 WHERE region = $2 AND node_id IS NULL \
                 AND EXISTS (SELECT 1 FROM nodes n WHERE n.id = $1 AND n.{} IS NOT NULL)",
                kind.placements, kind.addr
            ))
            .bind(node_id)
            .bind(region)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Marks the node alive and returns its region, or `None` for an unknown node.
    pub async fn touch_node(&self, node_id: &str) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT region FROM nodes WHERE id = $1").bind(node_id).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let region: String = row.try_get("region")?;
        sqlx::query("UPDATE nodes SET last_seen = $1 WHERE id = $2")
            .bind(now())
            .bind(node_id)
            .execute(&self.pool)
            .await?;
        Ok(Some(region))
    }

    /// What `node_id` must host: the databases placed on it, primaries and replicas, and its
    /// Kafka clusters. A replica is listed only once its primary is placed on a node with a
    /// replication listener: without one there is nothing to follow, and an empty copy must
    /// never serve as if it were the data.
    pub async fn node_intent(&self, node_id: &str) -> Result<Option<api::NodeIntent>, StoreError> {
        let Some(region) = self.touch_node(node_id).await? else { return Ok(None) };
        self.claim_unplaced(node_id, &region).await?;
        let rows = sqlx::query(
            "SELECT d.id, d.password, d.eviction, pl.max_data_bytes, pl.max_request_bytes, pl.max_record_bytes, \
             pl.max_connections, pl.max_commands_per_second, pl.fsync, p.role, \
             pp.node_id AS primary_node, pn.replication_addr AS primary_replication_addr, \
             pn.redis_addr AS primary_redis_addr \
             FROM placements p JOIN databases d ON d.id = p.database_id JOIN plans pl ON pl.name = d.plan \
             LEFT JOIN placements pp ON pp.database_id = p.database_id AND pp.role = 'primary' \
             LEFT JOIN nodes pn ON pn.id = pp.node_id \
             WHERE p.node_id = $1",
        )
        .bind(node_id)
        .fetch_all(&self.pool)
        .await?;
        let mut tenants = Vec::new();
        for r in rows {
            let limits = api::TenantLimits {
                max_data_bytes: r.try_get("max_data_bytes")?,
                max_request_bytes: r.try_get("max_request_bytes")?,
                max_record_bytes: r.try_get("max_record_bytes")?,
                max_key_bytes: MAX_KEY_BYTES,
                max_connections: r.try_get("max_connections")?,
                max_commands_per_second: r.try_get("max_commands_per_second")?,
                eviction: r.try_get::<i64, _>("eviction")? != 0,
                fsync: Some(fsync_policy(&r)?),
            };
            let Some(role) = intent_role(&r)? else { continue };
            tenants.push(api::TenantIntent { id: r.try_get("id")?, password: r.try_get("password")?, limits, role });
        }
        tenants.sort_by(|a, b| a.id.cmp(&b.id));
        let kafka_clusters = self.kafka_intent(node_id).await?;
        Ok(Some(api::NodeIntent { tenants, kafka_clusters, deployment_id: Some(self.deployment_id.clone()) }))
    }

    /// The replication state each node reported for its replicas of a database, by node id.
    pub async fn replica_states(&self, database_id: &str) -> Result<Vec<ReplicaStateRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_id, replication, lag_records FROM node_tenants \
             WHERE database_id = $1 AND replication IS NOT NULL",
        )
        .bind(database_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let state: String = r.try_get("replication")?;
            out.push(ReplicaStateRow {
                node_id: r.try_get("node_id")?,
                state: api::ReplicationState::parse(&state),
                lag_records: r.try_get("lag_records")?,
            });
        }
        Ok(out)
    }

    /// Records what a node hosts now; `false` for an unknown node.
    pub async fn heartbeat(&self, node_id: &str, hb: &api::Heartbeat) -> Result<bool, StoreError> {
        if self.touch_node(node_id).await?.is_none() {
            return Ok(false);
        }
        let held_back =
            hb.held_back.as_ref().map(serde_json::to_string).transpose().map_err(|e| sqlx::Error::Encode(e.into()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE nodes SET held_back = $1 WHERE id = $2")
            .bind(held_back)
            .bind(node_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM node_tenants WHERE node_id = $1").bind(node_id).execute(&mut *tx).await?;
        for t in &hb.tenants {
            let replica = hb.replicas.iter().find(|r| r.id == *t);
            sqlx::query(
                "INSERT INTO node_tenants (node_id, database_id, replication, lag_records) VALUES ($1, $2, $3, $4)",
            )
            .bind(node_id)
            .bind(t)
            .bind(replica.map(|r| r.state.as_str()))
            .bind(replica.map_or(0, |r| r.lag_records.min(i64::MAX as u64) as i64))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM node_kafka_clusters WHERE node_id = $1").bind(node_id).execute(&mut *tx).await?;
        for c in &hb.kafka_clusters {
            sqlx::query("INSERT INTO node_kafka_clusters (node_id, cluster_id) VALUES ($1, $2)")
                .bind(node_id)
                .bind(c)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// The placements of a new database or Kafka cluster: its primary region, then each replica.
pub(super) async fn add_placements(
    conn: &mut AnyConnection,
    kind: &Kind,
    owner_id: &str,
    primary_region: &str,
    replica_regions: &[String],
    node_timeout: i64,
) -> Result<(), StoreError> {
    add_placement(conn, kind, owner_id, primary_region, "primary", node_timeout).await?;
    for r in replica_regions {
        add_placement(conn, kind, owner_id, r, "replica", node_timeout).await?;
    }
    Ok(())
}

async fn add_placement(
    conn: &mut AnyConnection,
    kind: &Kind,
    owner_id: &str,
    region: &str,
    role: &str,
    node_timeout: i64,
) -> Result<(), StoreError> {
    // The live node of the region serving this kind with room left and the fewest
    // placements of it; ties go to the smallest id.
    let rows = sqlx::query(&format!(
        "SELECT n.id, n.capacity, (SELECT COUNT(*) FROM {p} p WHERE p.node_id = n.id) AS used \
         FROM nodes n WHERE n.region = $1 AND n.last_seen >= $2 AND n.{addr} IS NOT NULL",
        p = kind.placements,
        addr = kind.addr,
    ))
    .bind(region)
    .bind(now() - node_timeout)
    .fetch_all(&mut *conn)
    .await?;
    let mut candidates = Vec::with_capacity(rows.len());
    for r in rows {
        let capacity: i64 = r.try_get("capacity")?;
        let used: i64 = r.try_get("used")?;
        if capacity == 0 || used < capacity {
            candidates.push((used, r.try_get::<String, _>("id")?));
        }
    }
    let node = candidates.into_iter().min().map(|(_, id)| id);
    sqlx::query(&format!(
        "INSERT INTO {} ({}, region, role, node_id) VALUES ($1, $2, $3, $4)",
        kind.placements, kind.owner
    ))
    .bind(owner_id)
    .bind(region)
    .bind(role)
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores a token's SHA-256 for an org unless that hash is stored already.
async fn insert_token(conn: &mut AnyConnection, org_id: &str, token: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (sha256, org_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256_hex(token))
    .bind(org_id)
    .bind(now())
    .execute(conn)
    .await?;
    Ok(())
}

/// A plan row's `fsync` column.
fn fsync_policy(row: &AnyRow) -> Result<api::FsyncPolicy, StoreError> {
    let name: String = row.try_get("fsync")?;
    let unknown = || sqlx::Error::Decode(format!("unknown fsync policy '{name}' in the plans table").into());
    Ok(api::FsyncPolicy::parse(&name).ok_or_else(unknown)?)
}

/// Splits a migration into statements: each ends with `;` at the end of a line.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if trimmed.ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}
