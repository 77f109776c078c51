//! `/v1/usage`, `/v1/notifications` and the nodes' `POST /v1/nodes/{id}/usage`: usage reports
//! in, usage per day and the running bill out, and the notification when a database passes
//! its daily free allowance.

use super::{cluster, org, parse, unknown_node, ApiErr, Res};
use crate::billing::{self, Billed};
use crate::store::usage::SECONDS_PER_DAY;
use crate::store::{self, Kind};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use control_api as api;

/// Most records one report may carry (a node with 1,000 databases reporting a day late).
const MAX_REPORT_RECORDS: usize = 100_000;
/// Notifications `GET /v1/notifications` returns.
const NOTIFICATIONS_SHOWN: i64 = 100;
pub const ALLOWANCE_NOTIFICATION: &str = "free-allowance-exceeded";

/// A node's usage totals per hour.
#[utoipa::path(post, path = "/v1/nodes/{id}/usage", operation_id = "report_usage", tag = "nodes", security(("cluster_secret" = [])),
    params(("id" = String, Path, description = "the node's id")),
    request_body = api::UsageReport,
    responses(
        (status = 204, description = "Recorded (each record replaces the node's row of its hour)"),
        (status = 400, description = "Too many records, or an hour that is not the start of an hour", body = api::ApiError),
        (status = 404, description = "The node is not registered", body = api::ApiError),
    ))]
pub async fn report(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Res<StatusCode> {
    cluster(&s, &headers)?;
    let report: api::UsageReport = parse(&body)?;
    if report.records.len() > MAX_REPORT_RECORDS {
        return Err(ApiErr::bad(format!("at most {MAX_REPORT_RECORDS} usage records per report")));
    }
    if let Some(bad) = report.records.iter().find(|r| r.hour.rem_euclid(3600) != 0) {
        return Err(ApiErr::bad(format!("hour {} is not the start of an hour", bad.hour)));
    }
    if s.store.touch_node(&id).await?.is_none() {
        return Err(unknown_node(&id));
    }
    s.store.upsert_usage(&id, &report.records).await?;
    check_allowances(&s, &report.records).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records a notification for each database of the report that went over its plan's daily
/// free allowance on a reported day (once per database and day).
async fn check_allowances(s: &AppState, records: &[api::UsageRecord]) -> Res<()> {
    let mut days: Vec<(&str, i64)> = records
        .iter()
        .filter(|r| r.kind == api::UsageKind::Redis && r.billable_commands > 0)
        .map(|r| (r.id.as_str(), r.hour.div_euclid(SECONDS_PER_DAY)))
        .collect();
    days.sort_unstable();
    days.dedup();
    for (id, day) in days {
        let Some((org_id, name, Some(free))) = s.store.allowance_of(id).await? else { continue };
        let used = s.store.usage_today(api::UsageKind::Redis, id, day * SECONDS_PER_DAY).await?.billable_commands;
        if used > free.max(0) as u64 {
            let date = billing::date(day * SECONDS_PER_DAY);
            let message = format!(
                "database '{name}' passed its free allowance of {} commands on {date} ({} commands so far)",
                billing::thousands(free.max(0) as u64),
                billing::thousands(used)
            );
            s.store.notify_once(&org_id, ALLOWANCE_NOTIFICATION, id, day, &message).await?;
        }
    }
    Ok(())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Only this database or Kafka cluster (name or id).
    name: Option<String>,
}

/// A database or cluster of the org, as billed.
struct Resource {
    kind: api::UsageKind,
    id: String,
    name: String,
    plan: String,
    read_regions: usize,
}

async fn resources(s: &AppState, org_id: &str) -> Res<Vec<Resource>> {
    let mut out = Vec::new();
    for d in s.store.databases(org_id).await? {
        let read_regions = replica_count(s, &store::REDIS, &d.id).await?;
        out.push(Resource { kind: api::UsageKind::Redis, id: d.id, name: d.name, plan: d.plan, read_regions });
    }
    for c in s.store.kafka_clusters(org_id).await? {
        let read_regions = replica_count(s, &store::KAFKA, &c.id).await?;
        out.push(Resource { kind: api::UsageKind::Kafka, id: c.id, name: c.name, plan: c.plan, read_regions });
    }
    Ok(out)
}

async fn replica_count(s: &AppState, kind: &Kind, id: &str) -> Res<usize> {
    Ok(s.store.placements(kind, id).await?.iter().filter(|p| p.role == "replica").count())
}

/// Usage per day this month and the running bill.
#[utoipa::path(get, path = "/v1/usage", operation_id = "get_usage", tag = "usage", security(("org_token" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "Usage per day this month (UTC) and the running bill", body = api::OrgUsage),
        (status = 404, description = "No database or Kafka cluster of this name", body = api::ApiError),
    ))]
pub async fn usage(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<UsageQuery>,
) -> Res<Json<api::OrgUsage>> {
    let org = org(&s, &headers).await?;
    let mut wanted = resources(&s, &org.id).await?;
    if let Some(name) = &q.name {
        wanted.retain(|r| r.name == *name || r.id == *name);
        if wanted.is_empty() {
            return Err(ApiErr::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no database or Kafka cluster named '{name}'; `tern redis list` and `tern kafka list` show yours"
                ),
            ));
        }
    }
    let (month, month_start, hours_in_month) = billing::month_of(store::now());
    let mut out = api::OrgUsage { org: org.name, month, ..Default::default() };
    for r in wanted {
        let hours = s.store.usage_hours(r.kind, &r.id, month_start).await?;
        let prices = s.store.plan_prices(&r.plan).await?.unwrap_or_default();
        out.bill.extend(billing::bill_lines(&Billed {
            kind: r.kind,
            name: &r.name,
            plan: &r.plan,
            prices,
            read_regions: r.read_regions,
            hours: &hours,
            hours_in_month,
        }));
        out.resources.push(api::ResourceUsage {
            kind: r.kind,
            id: r.id,
            name: r.name,
            plan: r.plan,
            days: billing::days(&hours),
        });
    }
    out.total_micros = out.bill.iter().map(|l| l.amount_micros).sum();
    Ok(Json(out))
}

/// The org's notifications.
#[utoipa::path(get, path = "/v1/notifications", operation_id = "list_notifications", tag = "usage", security(("org_token" = [])),
    responses((status = 200, description = "The org's newest notifications, newest first", body = Vec<api::Notification>)))]
pub async fn notifications(State(s): State<AppState>, headers: HeaderMap) -> Res<Json<Vec<api::Notification>>> {
    let org = org(&s, &headers).await?;
    Ok(Json(s.store.notifications(&org.id, NOTIFICATIONS_SHOWN).await?))
}

/// A database's usage today for its status; `None` before any report.
pub async fn database_usage(s: &AppState, id: &str) -> Res<Option<api::DatabaseUsage>> {
    if !s.store.has_usage(api::UsageKind::Redis, id).await? {
        return Ok(None);
    }
    let today = s.store.usage_today(api::UsageKind::Redis, id, store::now()).await?;
    Ok(Some(api::DatabaseUsage {
        billable_commands_today: today.billable_commands,
        free_commands_today: today.free_commands,
        data_bytes: today.data_bytes,
        connections: today.connections,
    }))
}

/// A Kafka cluster's usage today for its status; `None` before any report.
pub async fn kafka_usage(s: &AppState, id: &str) -> Res<Option<api::KafkaUsage>> {
    if !s.store.has_usage(api::UsageKind::Kafka, id).await? {
        return Ok(None);
    }
    let today = s.store.usage_today(api::UsageKind::Kafka, id, store::now()).await?;
    Ok(Some(api::KafkaUsage {
        messages_produced_today: today.messages_produced,
        messages_consumed_today: today.messages_consumed,
        bytes_produced_today: today.bytes_produced,
        bytes_consumed_today: today.bytes_consumed,
    }))
}
