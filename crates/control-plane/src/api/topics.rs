//! `GET /v1/kafka/clusters/{name}/topics`: the console's topic list. The cluster is the one
//! record of its topics, so the control plane asks its broker (Metadata, with the cluster's
//! admin credential) rather than keeping a copy; an admin path, like `command.rs`.

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
    let org = org(&s, &headers).await?;
    let c = to_api(&s, find(&s, &org.id, &name).await?).await?;
    let endpoint = c.endpoint.clone().ok_or_else(|| conflict(format!("'{}' is not placed on a node yet", c.name)))?;
    let credential = c.admin_credential().cloned().ok_or_else(|| {
        conflict(format!("'{}' has no credential with full access to all topics to list them with", c.name))
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
        admin.topics(None)
    });
    let broker_error = |e: String| {
        ApiErr::new(StatusCode::BAD_GATEWAY, format!("listing the topics of '{}' at {endpoint}: {e}", c.name))
    };
    let topics = match tokio::time::timeout(TIMEOUT, task).await {
        Err(_) => return Err(ApiErr::new(StatusCode::GATEWAY_TIMEOUT, "the broker did not answer within 5 s")),
        Ok(Err(join)) => return Err(broker_error(join.to_string())),
        Ok(Ok(Err(e))) => return Err(broker_error(format!("{e:#}"))),
        Ok(Ok(Ok(topics))) => topics,
    };
    let out = topics
        .into_iter()
        .map(|t| api::KafkaTopic { name: t.name, partitions: u32::try_from(t.partitions).unwrap_or(u32::MAX) })
        .collect();
    Ok(Json(out))
}
