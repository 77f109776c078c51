//! Usage in the state: hourly counters reported by nodes (`usage_hours`, replaced per
//! (node, kind, id, hour) so reports are idempotent) and the org notifications they trigger.

use super::{now, random_hex, Store, StoreError};
use control_api as api;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The counter columns of `usage_hours`, in `api::UsageRecord` order.
const COUNTERS: [&str; 12] = [
    "billable_commands",
    "free_commands",
    "bytes_in",
    "bytes_out",
    "peak_data_bytes",
    "data_bytes",
    "peak_connections",
    "connections",
    "messages_produced",
    "messages_consumed",
    "bytes_produced",
    "bytes_consumed",
];

fn counters(r: &api::UsageRecord) -> [u64; 12] {
    [
        r.billable_commands,
        r.free_commands,
        r.bytes_in,
        r.bytes_out,
        r.peak_data_bytes,
        r.data_bytes,
        r.peak_connections,
        r.connections,
        r.messages_produced,
        r.messages_consumed,
        r.bytes_produced,
        r.bytes_consumed,
    ]
}

/// A row of summed counters (named as the columns) back into a record.
fn summed_record(row: &AnyRow, kind: api::UsageKind, id: &str) -> Result<api::UsageRecord, sqlx::Error> {
    let get = |name: &str| -> Result<u64, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0).max(0) as u64)
    };
    Ok(api::UsageRecord {
        kind,
        id: id.to_string(),
        hour: row.try_get::<Option<i64>, _>("hour")?.unwrap_or(0),
        billable_commands: get("billable_commands")?,
        free_commands: get("free_commands")?,
        bytes_in: get("bytes_in")?,
        bytes_out: get("bytes_out")?,
        peak_data_bytes: get("peak_data_bytes")?,
        data_bytes: get("data_bytes")?,
        peak_connections: get("peak_connections")?,
        connections: get("connections")?,
        messages_produced: get("messages_produced")?,
        messages_consumed: get("messages_consumed")?,
        bytes_produced: get("bytes_produced")?,
        bytes_consumed: get("bytes_consumed")?,
    })
}

/// `CAST(SUM(c) AS BIGINT) AS c, …` for every counter (PostgreSQL's SUM of BIGINT is NUMERIC).
/// The data size gauge is the largest node's, not the sum: every node hosting a database
/// holds a whole copy, and a user with a read region has one database's data, not two.
/// `peak_data_bytes` stays summed: storage is billed per stored copy, as the fixed plans
/// charge per read region.
fn summed_columns() -> String {
    COUNTERS
        .iter()
        .map(|c| match *c {
            "data_bytes" => format!("CAST(MAX({c}) AS BIGINT) AS {c}"),
            _ => format!("CAST(SUM({c}) AS BIGINT) AS {c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A counter as a BIGINT (saturating: no real counter reaches 2^63).
fn bigint(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub const SECONDS_PER_DAY: i64 = 86_400;

impl Store {
    /// Stores a node's report: each record replaces the row of its (node, kind, id, hour).
    pub async fn upsert_usage(&self, node_id: &str, records: &[api::UsageRecord]) -> Result<(), StoreError> {
        let columns = COUNTERS.join(", ");
        let placeholders = (5..5 + COUNTERS.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let updates = COUNTERS.iter().map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO usage_hours (node_id, kind, owner_id, hour, {columns}, reported_at) \
             VALUES ($1, $2, $3, $4, {placeholders}, ${at}) \
             ON CONFLICT (node_id, kind, owner_id, hour) DO UPDATE SET {updates}, reported_at = excluded.reported_at",
            at = 5 + COUNTERS.len(),
        );
        let mut tx = self.pool.begin().await?;
        for r in records {
            let mut q = sqlx::query(&sql).bind(node_id).bind(r.kind.as_str()).bind(&r.id).bind(r.hour);
            for v in counters(r) {
                q = q.bind(bigint(v));
            }
            q.bind(now()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Hourly totals (summed over nodes) of a database or cluster from `from_hour` on, oldest
    /// first.
    pub async fn usage_hours(
        &self,
        kind: api::UsageKind,
        id: &str,
        from_hour: i64,
    ) -> Result<Vec<api::UsageRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT hour, {} FROM usage_hours WHERE kind = $1 AND owner_id = $2 AND hour >= $3 \
             GROUP BY hour ORDER BY hour",
            summed_columns()
        ))
        .bind(kind.as_str())
        .bind(id)
        .bind(from_hour)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| summed_record(r, kind, id)).collect::<Result<_, _>>()?)
    }

    /// Totals of a database or cluster for the UTC day containing `at` (Unix seconds), with the
    /// gauges (data size, connections) of its latest reported hour.
    pub async fn usage_today(&self, kind: api::UsageKind, id: &str, at: i64) -> Result<api::UsageRecord, StoreError> {
        let day_start = at - at.rem_euclid(SECONDS_PER_DAY);
        let mut total = api::UsageRecord { kind, id: id.to_string(), hour: day_start, ..Default::default() };
        for h in self.usage_hours(kind, id, day_start).await? {
            total.billable_commands += h.billable_commands;
            total.free_commands += h.free_commands;
            total.messages_produced += h.messages_produced;
            total.messages_consumed += h.messages_consumed;
            total.bytes_produced += h.bytes_produced;
            total.bytes_consumed += h.bytes_consumed;
            total.bytes_in += h.bytes_in;
            total.bytes_out += h.bytes_out;
            total.data_bytes = h.data_bytes;
            total.connections = h.connections;
        }
        Ok(total)
    }

    /// Whether any node reported usage for this database or cluster.
    pub async fn has_usage(&self, kind: api::UsageKind, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT hour FROM usage_hours WHERE kind = $1 AND owner_id = $2 LIMIT 1")
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Records a notification once per (org, kind, subject, day); later calls do nothing.
    pub async fn notify_once(
        &self,
        org_id: &str,
        kind: &str,
        subject: &str,
        day: i64,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notifications (id, org_id, kind, subject, day, message, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, kind, subject, day) DO NOTHING",
        )
        .bind(format!("ntf_{}", random_hex(8)))
        .bind(org_id)
        .bind(kind)
        .bind(subject)
        .bind(day)
        .bind(message)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The org's newest notifications (at most `limit`).
    pub async fn notifications(&self, org_id: &str, limit: i64) -> Result<Vec<api::Notification>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, message, created_at FROM notifications WHERE org_id = $1 \
             ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(org_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(api::Notification {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                message: r.try_get("message")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(out)
    }

    /// A database's org, name and daily free allowance (`None` when its plan has none), if
    /// the database exists.
    pub async fn allowance_of(&self, database_id: &str) -> Result<Option<(String, String, Option<i64>)>, StoreError> {
        let row = sqlx::query(
            "SELECT d.org_id, d.name, pl.free_commands_per_day FROM databases d JOIN plans pl ON pl.name = d.plan \
             WHERE d.id = $1",
        )
        .bind(database_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("org_id")?, r.try_get("name")?, r.try_get("free_commands_per_day")?)),
            None => None,
        })
    }

    /// A plan's prices, if the plan exists.
    pub async fn plan_prices(&self, plan: &str) -> Result<Option<crate::billing::PlanPrices>, StoreError> {
        let row = sqlx::query(
            "SELECT free_commands_per_day, price_per_100k_commands_cents, price_per_gb_month_cents, \
             monthly_price_cents FROM plans WHERE name = $1",
        )
        .bind(plan)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some(crate::billing::PlanPrices {
                free_commands_per_day: r.try_get("free_commands_per_day")?,
                cents_per_100k: r.try_get("price_per_100k_commands_cents")?,
                cents_per_gb_month: r.try_get("price_per_gb_month_cents")?,
                monthly_cents: r.try_get("monthly_price_cents")?,
            }),
            None => None,
        })
    }
}
