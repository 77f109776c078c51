//! Kafka clusters in the state: clusters, their SASL credentials, and the intent nodes get.
//! Placements share `add_placements`/`Store::placements` with databases (`KAFKA` tables).

use super::{add_placements, now, random_hex, Store, StoreError, KAFKA};
use control_api as api;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A Kafka cluster row before its placements and credentials are attached.
pub struct KafkaClusterRow {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub name: String,
    pub plan: String,
    pub primary_region: String,
    pub created_at: i64,
}

fn cluster_row(r: &AnyRow) -> Result<KafkaClusterRow, sqlx::Error> {
    Ok(KafkaClusterRow {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        org_name: r.try_get("org_name")?,
        name: r.try_get("name")?,
        plan: r.try_get("plan")?,
        primary_region: r.try_get("primary_region")?,
        created_at: r.try_get("created_at")?,
    })
}

const CLUSTER_SELECT: &str = "SELECT c.id, c.org_id, o.name AS org_name, c.name, c.plan, c.primary_region, \
     c.created_at FROM kafka_clusters c JOIN orgs o ON o.id = c.org_id";

fn scope_columns(scope: &api::KafkaScope) -> (&'static str, &str) {
    match scope {
        api::KafkaScope::All => ("all", ""),
        api::KafkaScope::Topic(t) => ("topic", t),
        api::KafkaScope::Prefix(p) => ("prefix", p),
    }
}

fn credential_row(r: &AnyRow) -> Result<api::KafkaCredential, StoreError> {
    let access: String = r.try_get("access")?;
    let kind: String = r.try_get("scope_kind")?;
    let value: String = r.try_get("scope_value")?;
    let scope = match kind.as_str() {
        "topic" => api::KafkaScope::Topic(value),
        "prefix" => api::KafkaScope::Prefix(value),
        _ => api::KafkaScope::All,
    };
    Ok(api::KafkaCredential {
        username: r.try_get("username")?,
        password: r.try_get("password")?,
        // Only the three words are ever written; anything else would be a hand edit, and
        // the least access is the safe reading of it.
        access: api::KafkaAccess::parse(&access).unwrap_or(api::KafkaAccess::Consume),
        scope,
        created_at: r.try_get("created_at")?,
    })
}

/// A user name for a new credential: the cluster's name and a random suffix, unique across
/// every cluster (a node looks credentials up by user name alone).
fn generate_username(cluster_name: &str) -> String {
    let stem: String = cluster_name.chars().take(40).collect();
    format!("{stem}-{}", random_hex(5))
}

/// Stores a new credential (a generated user name and password) of a cluster.
async fn insert_credential(
    conn: &mut AnyConnection,
    cluster_id: &str,
    cluster_name: &str,
    access: api::KafkaAccess,
    scope: &api::KafkaScope,
) -> Result<api::KafkaCredential, StoreError> {
    let credential = api::KafkaCredential {
        username: generate_username(cluster_name),
        password: random_hex(24),
        access,
        scope: scope.clone(),
        created_at: now(),
    };
    let (kind, value) = scope_columns(scope);
    sqlx::query(
        "INSERT INTO kafka_credentials (username, cluster_id, password, access, scope_kind, scope_value, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&credential.username)
    .bind(cluster_id)
    .bind(&credential.password)
    .bind(access.as_str())
    .bind(kind)
    .bind(value)
    .bind(credential.created_at)
    .execute(conn)
    .await?;
    Ok(credential)
}

impl Store {
    pub async fn kafka_clusters(&self, org_id: &str) -> Result<Vec<KafkaClusterRow>, StoreError> {
        let rows =
            sqlx::query(&format!("{CLUSTER_SELECT} WHERE c.org_id = $1")).bind(org_id).fetch_all(&self.pool).await?;
        let mut out = rows.iter().map(cluster_row).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A Kafka cluster of this org, by name or id.
    pub async fn kafka_cluster(&self, org_id: &str, name_or_id: &str) -> Result<Option<KafkaClusterRow>, StoreError> {
        let row = sqlx::query(&format!("{CLUSTER_SELECT} WHERE c.org_id = $1 AND (c.name = $2 OR c.id = $2)"))
            .bind(org_id)
            .bind(name_or_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(cluster_row).transpose()?)
    }

    /// Inserts a cluster, its placements and its first (full, every topic) credential. The
    /// caller has validated everything. Returns the new cluster's id.
    pub async fn insert_kafka_cluster(
        &self,
        org_id: &str,
        name: &str,
        plan: &str,
        primary_region: &str,
        replica_regions: &[String],
        node_timeout: i64,
    ) -> Result<String, StoreError> {
        let id = format!("kc_{}", random_hex(8));
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO kafka_clusters (id, org_id, name, plan, primary_region, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(name)
        .bind(plan)
        .bind(primary_region)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        insert_credential(&mut tx, &id, name, api::KafkaAccess::Full, &api::KafkaScope::All).await?;
        add_placements(&mut tx, &KAFKA, &id, primary_region, replica_regions, node_timeout).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn insert_kafka_credential(
        &self,
        cluster_id: &str,
        cluster_name: &str,
        access: api::KafkaAccess,
        scope: &api::KafkaScope,
    ) -> Result<api::KafkaCredential, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_credential(&mut conn, cluster_id, cluster_name, access, scope).await
    }

    /// A cluster's credentials, oldest first (the first is the one created with the cluster).
    pub async fn kafka_credentials(&self, cluster_id: &str) -> Result<Vec<api::KafkaCredential>, StoreError> {
        let rows = sqlx::query(
            "SELECT username, password, access, scope_kind, scope_value, created_at FROM kafka_credentials \
             WHERE cluster_id = $1",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows.iter().map(credential_row).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.created_at, &a.username).cmp(&(b.created_at, &b.username)));
        Ok(out)
    }

    /// Removes a credential of the cluster; `false` if it has none of that name.
    pub async fn delete_kafka_credential(&self, cluster_id: &str, username: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM kafka_credentials WHERE cluster_id = $1 AND username = $2")
            .bind(cluster_id)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_kafka_cluster(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM kafka_credentials WHERE cluster_id = $1",
            "DELETE FROM kafka_placements WHERE cluster_id = $1",
            "DELETE FROM node_kafka_clusters WHERE cluster_id = $1",
            "DELETE FROM kafka_clusters WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The Kafka clusters whose primary region is placed on this node, with their credentials.
    /// Replica placements are recorded intent only: replication is not built, so a replica
    /// region's node hosts nothing (an empty copy would accept writes of its own).
    pub(super) async fn kafka_intent(&self, node_id: &str) -> Result<Vec<api::KafkaClusterIntent>, StoreError> {
        let rows = sqlx::query("SELECT cluster_id FROM kafka_placements WHERE node_id = $1 AND role = 'primary'")
            .bind(node_id)
            .fetch_all(&self.pool)
            .await?;
        let mut ids = rows.iter().map(|r| r.try_get::<String, _>("cluster_id")).collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let credentials = self
                .kafka_credentials(&id)
                .await?
                .into_iter()
                .map(|c| api::KafkaCredentialIntent {
                    username: c.username,
                    password: c.password,
                    access: c.access,
                    scope: c.scope,
                })
                .collect();
            out.push(api::KafkaClusterIntent { id, credentials });
        }
        Ok(out)
    }
}
