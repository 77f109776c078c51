//! `GET /v1/kafka/clusters/{name}/topics` and `…/topics/{topic}/messages`: the console's topic
//! list and recent messages. The cluster is the one record of its topics, so the control plane
//! asks its broker (Metadata, ListOffsets, Fetch, with the cluster's admin credential) rather
//! than keeping a copy; an admin path, like `command.rs`.

use super::kafka::{find, to_api};
use super::{org, ApiErr, Res};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use control_api as api;
use std::time::Duration;

/// The whole exchange with the broker must finish within this; each read and write of the
/// blocking client has the same limit, so its thread ends soon after too.
const TIMEOUT: Duration = Duration::from_secs(5);

fn conflict(msg: String) -> ApiErr {
    ApiErr::new(StatusCode::CONFLICT, msg)
}

/// Runs `f` with an admin client connected to the cluster `name` of the request's org, on a
/// blocking thread holding one of the console's permits, within `TIMEOUT`.
async fn with_admin<T: Send + 'static>(
    s: &AppState,
    headers: &HeaderMap,
    name: &str,
    f: impl FnOnce(&mut kafka_admin::KafkaAdmin) -> anyhow::Result<T> + Send + 'static,
) -> Res<T> {
    let org = org(s, headers).await?;
    let c = to_api(s, find(s, &org.id, name).await?).await?;
    let endpoint = c.endpoint.clone().ok_or_else(|| conflict(format!("'{}' is not placed on a node yet", c.name)))?;
    let credential = c.admin_credential().cloned().ok_or_else(|| {
        conflict(format!("'{}' has no credential with full access to all topics to read it with", c.name))
    })?;
    let permit = s.commands.clone().try_acquire_owned().map_err(|_| {
        ApiErr::new(StatusCode::TOO_MANY_REQUESTS, "too many console requests to nodes are running; try again")
    })?;
    let at = endpoint.clone();
    let task = tokio::task::spawn_blocking(move || {
        // Held until the blocking client is done, even after the request timed out.
        let _permit = permit;
        let mut admin =
            kafka_admin::KafkaAdmin::connect_with_timeout(&at, &credential.username, &credential.password, TIMEOUT)?;
        f(&mut admin)
    });
    let broker_error =
        |e: String| ApiErr::new(StatusCode::BAD_GATEWAY, format!("reading '{}' at {endpoint}: {e}", c.name));
    match tokio::time::timeout(TIMEOUT, task).await {
        Err(_) => Err(ApiErr::new(StatusCode::GATEWAY_TIMEOUT, "the broker did not answer within 5 s")),
        Ok(Err(join)) => Err(broker_error(join.to_string())),
        Ok(Ok(Err(e))) => Err(broker_error(format!("{e:#}"))),
        Ok(Ok(Ok(out))) => Ok(out),
    }
}

/// The topics of a Kafka cluster, as its broker lists them.
#[utoipa::path(get, path = "/v1/kafka/clusters/{name}/topics", operation_id = "list_kafka_topics", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id")),
    responses(
        (status = 200, description = "The cluster's topics, by name", body = Vec<api::KafkaTopic>),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
        (status = 409, description = "The cluster is not placed yet, or has no full credential on all topics", body = api::ApiError),
        (status = 429, description = "Too many console requests to nodes are running", body = api::ApiError),
        (status = 502, description = "The broker could not be reached or refused the request", body = api::ApiError),
        (status = 504, description = "The broker did not answer within 5 s", body = api::ApiError),
    ))]
pub async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<Vec<api::KafkaTopic>>> {
    let topics = with_admin(&s, &headers, &name, |admin| admin.topics(None)).await?;
    let out = topics
        .into_iter()
        .map(|t| api::KafkaTopic { name: t.name, partitions: u32::try_from(t.partitions).unwrap_or(u32::MAX) })
        .collect();
    Ok(Json(out))
}

/// Records read per partition for the console's recent messages.
const RECENT_PER_PARTITION: i64 = 20;
/// Bytes of record batches read for them, per partition and in all.
const RECENT_MAX_BYTES: i32 = 256 * 1024;
/// Messages answered at most, and bytes of each key and value shown.
const RECENT_MAX_MESSAGES: usize = 100;
const SHOWN_BYTES: usize = 1024;

fn shown(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(&b[..b.len().min(SHOWN_BYTES)]).into_owned())
}

/// The newest messages of a topic, read with Fetch outside any consumer group.
#[utoipa::path(get, path = "/v1/kafka/clusters/{name}/topics/{topic}/messages", operation_id = "list_kafka_recent_messages", tag = "kafka", security(("org_token" = [])),
    params(
        ("name" = String, Path, description = "the cluster's name or id"),
        ("topic" = String, Path, description = "the topic's name"),
    ),
    responses(
        (status = 200, description = "Up to 20 newest records per partition (100 in all, 256 KiB read), newest first; keys and values cut to 1 KiB", body = Vec<api::KafkaMessage>),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
        (status = 409, description = "The cluster is not placed yet, or has no full credential on all topics", body = api::ApiError),
        (status = 429, description = "Too many console requests to nodes are running", body = api::ApiError),
        (status = 502, description = "The broker could not be reached, or has no such topic", body = api::ApiError),
        (status = 504, description = "The broker did not answer within 5 s", body = api::ApiError),
    ))]
pub async fn recent_messages(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((name, topic)): Path<(String, String)>,
) -> Res<Json<Vec<api::KafkaMessage>>> {
    let read = move |admin: &mut kafka_admin::KafkaAdmin| {
        admin.recent_messages(&topic, RECENT_PER_PARTITION, RECENT_MAX_BYTES)
    };
    let messages = with_admin(&s, &headers, &name, read).await?;
    let out = messages
        .into_iter()
        .take(RECENT_MAX_MESSAGES)
        .map(|m| api::KafkaMessage {
            partition: m.partition,
            offset: m.offset,
            timestamp_ms: m.timestamp_ms,
            key: shown(m.key),
            value: shown(m.value),
        })
        .collect();
    Ok(Json(out))
}
