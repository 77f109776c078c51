//! `/v1/kafka/clusters…`: Kafka clusters and their credentials, with the same auth,
//! validation-error and not-found conventions as databases (another org's cluster is a 404).

use super::{
    check_live, check_regions, chosen_name, merge_regions, org, parse, placement_status, required_primary, ApiErr, Res,
    Service,
};
use crate::store::{self, KafkaClusterRow};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use control_api as api;

/// What a replica region shows: the intent is recorded, but no data follows it yet.
const REPLICA_STATUS: &str = "not replicated: cross-region replication of Kafka clusters is not built yet";

/// Longest topic name or prefix a credential may be scoped to (Kafka's topic name limit).
const MAX_TOPIC_NAME_CHARS: usize = 249;

pub(super) async fn to_api(s: &AppState, c: KafkaClusterRow) -> Res<api::KafkaCluster> {
    let mut regions = Vec::new();
    let mut replica_regions = Vec::new();
    let mut endpoint = None;
    let mut status = "pending".to_string();
    for p in s.store.placements(&store::KAFKA, &c.id).await? {
        if p.role == "primary" {
            status = placement_status(s, &p);
            endpoint = p.addr.clone();
            regions.push(api::RegionStatus {
                region: p.region,
                role: p.role,
                status: status.clone(),
                endpoint: p.addr,
            });
        } else {
            replica_regions.push(p.region.clone());
            regions.push(api::RegionStatus {
                region: p.region,
                role: p.role,
                status: REPLICA_STATUS.into(),
                endpoint: None,
            });
        }
    }
    Ok(api::KafkaCluster {
        usage: super::usage::kafka_usage(s, &c.id).await?,
        credentials: s.store.kafka_credentials(&c.id).await?,
        id: c.id,
        name: c.name,
        org: c.org_name,
        plan: c.plan,
        primary_region: c.primary_region,
        replica_regions,
        status,
        endpoint,
        regions,
        created_at: c.created_at,
    })
}

pub(super) async fn find(s: &AppState, org_id: &str, name: &str) -> Res<KafkaClusterRow> {
    s.store.kafka_cluster(org_id, name).await?.ok_or_else(|| {
        ApiErr::new(StatusCode::NOT_FOUND, format!("Kafka cluster '{name}' not found; `tern kafka list` shows yours"))
    })
}

/// The org's Kafka clusters.
#[utoipa::path(get, path = "/v1/kafka/clusters", operation_id = "list_kafka_clusters", tag = "kafka", security(("org_token" = [])),
    responses((status = 200, description = "The org's Kafka clusters", body = Vec<api::KafkaCluster>)))]
pub async fn list(State(s): State<AppState>, headers: HeaderMap) -> Res<Json<Vec<api::KafkaCluster>>> {
    let org = org(&s, &headers).await?;
    let mut out = Vec::new();
    for c in s.store.kafka_clusters(&org.id).await? {
        out.push(to_api(&s, c).await?);
    }
    Ok(Json(out))
}

/// Creates a Kafka cluster with a first full-access credential.
#[utoipa::path(post, path = "/v1/kafka/clusters", operation_id = "create_kafka_cluster", tag = "kafka", security(("org_token" = [])),
    request_body = api::CreateKafkaCluster,
    responses(
        (status = 201, description = "The new cluster with its first full-access credential", body = api::KafkaCluster),
        (status = 400, description = "Invalid name, unknown region or plan, or no primary region", body = api::ApiError),
        (status = 409, description = "The name is taken, or a region has no live Kafka node", body = api::ApiError),
    ))]
pub async fn create(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Res<impl IntoResponse> {
    let org = org(&s, &headers).await?;
    let req: api::CreateKafkaCluster = parse(&body)?;
    let name = chosen_name(req.name.as_deref())?;
    let primary = required_primary(req.primary_region)?;
    check_regions(&s, &primary, &req.replica_regions).await?;
    check_live(&s, Service::Kafka, std::iter::once(&primary).chain(&req.replica_regions)).await?;
    let plan = req.plan.unwrap_or_else(|| "payg".into());
    if !s.store.plan_exists(&plan).await? {
        return Err(ApiErr::bad(format!("unknown plan '{plan}'; `tern redis plans` lists them")));
    }
    if s.store.kafka_cluster(&org.id, &name).await?.is_some() {
        return Err(ApiErr::new(
            StatusCode::CONFLICT,
            format!("a Kafka cluster named '{name}' already exists in this org"),
        ));
    }
    let id = s
        .store
        .insert_kafka_cluster(&org.id, &name, &plan, &primary, &req.replica_regions, s.config.node_timeout_secs)
        .await?;
    let c = find(&s, &org.id, &id).await?;
    Ok((StatusCode::CREATED, Json(to_api(&s, c).await?)))
}

/// One Kafka cluster, its credentials and its state in each region.
#[utoipa::path(get, path = "/v1/kafka/clusters/{name}", operation_id = "get_kafka_cluster", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id")),
    responses(
        (status = 200, description = "The cluster, its credentials and its state in each region", body = api::KafkaCluster),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
    ))]
pub async fn get(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<api::KafkaCluster>> {
    let org = org(&s, &headers).await?;
    let c = find(&s, &org.id, &name).await?;
    Ok(Json(to_api(&s, c).await?))
}

/// Changes a Kafka cluster's replica regions.
#[utoipa::path(patch, path = "/v1/kafka/clusters/{name}", operation_id = "update_kafka_cluster", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id")),
    request_body = api::UpdateKafkaCluster,
    responses(
        (status = 200, description = "The cluster after the change", body = api::KafkaCluster),
        (status = 400, description = "A field that cannot change, or an unknown region", body = api::ApiError),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
        (status = 409, description = "An added region has no live Kafka node", body = api::ApiError),
    ))]
pub async fn update(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res<Json<api::KafkaCluster>> {
    let org = org(&s, &headers).await?;
    let req: api::UpdateKafkaCluster = parse(&body)?;
    let c = find(&s, &org.id, &name).await?;
    if req.name.as_ref().is_some_and(|n| *n != c.name) {
        return Err(ApiErr::bad("the name of a Kafka cluster cannot be changed; create a new cluster instead"));
    }
    if req.primary_region.as_ref().is_some_and(|r| *r != c.primary_region) {
        return Err(ApiErr::bad(
            "the primary region of a Kafka cluster cannot be changed; add replica regions, or create a new cluster there",
        ));
    }
    let current = to_api(&s, find(&s, &org.id, &c.id).await?).await?.replica_regions;
    let replicas = merge_regions(
        &current,
        req.replica_regions.as_ref(),
        req.add_replica_regions.as_ref(),
        req.remove_replica_regions.as_ref(),
        "replica region",
        &c.name,
    )?;
    check_regions(&s, &c.primary_region, &replicas).await?;
    check_live(&s, Service::Kafka, replicas.iter().filter(|r| !current.contains(r))).await?;
    if replicas != current {
        s.store.set_replica_regions(&store::KAFKA, &c.id, &replicas, s.config.node_timeout_secs).await?;
    }
    let c = find(&s, &org.id, &c.id).await?;
    Ok(Json(to_api(&s, c).await?))
}

/// Deletes a Kafka cluster; its topics and records are removed from the node.
#[utoipa::path(delete, path = "/v1/kafka/clusters/{name}", operation_id = "delete_kafka_cluster", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id")),
    responses(
        (status = 200, description = "The cluster as it was before deletion", body = api::KafkaCluster),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
    ))]
pub async fn destroy(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<api::KafkaCluster>> {
    let org = org(&s, &headers).await?;
    let c = find(&s, &org.id, &name).await?;
    let id = c.id.clone();
    let out = to_api(&s, c).await?;
    s.store.delete_kafka_cluster(&id).await?;
    Ok(Json(out))
}

// ---- credentials

/// A Kafka cluster's credentials.
#[utoipa::path(get, path = "/v1/kafka/clusters/{name}/credentials", operation_id = "list_kafka_credentials", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id")),
    responses(
        (status = 200, description = "The cluster's credentials", body = Vec<api::KafkaCredential>),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
    ))]
pub async fn list_credentials(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<Vec<api::KafkaCredential>>> {
    let org = org(&s, &headers).await?;
    let c = find(&s, &org.id, &name).await?;
    Ok(Json(s.store.kafka_credentials(&c.id).await?))
}

/// A topic name or prefix a credential may be scoped to: Kafka's topic name characters.
fn check_scope(scope: &api::KafkaScope) -> Res<()> {
    let (what, value) = match scope {
        api::KafkaScope::All => return Ok(()),
        api::KafkaScope::Topic(t) => ("topic", t),
        api::KafkaScope::Prefix(p) => ("prefix", p),
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.is_empty() || value.chars().count() > MAX_TOPIC_NAME_CHARS || !value.chars().all(allowed) {
        return Err(ApiErr::bad(format!(
            "invalid {what} '{value}': use 1-{MAX_TOPIC_NAME_CHARS} characters of a-z, A-Z, 0-9, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Creates a credential with a generated user name and password.
#[utoipa::path(post, path = "/v1/kafka/clusters/{name}/credentials", operation_id = "create_kafka_credential", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id")),
    request_body = api::CreateKafkaCredential,
    responses(
        (status = 201, description = "The new credential with its generated user name and password", body = api::KafkaCredential),
        (status = 400, description = "Invalid topic name or prefix", body = api::ApiError),
        (status = 404, description = "No such cluster in this org", body = api::ApiError),
    ))]
pub async fn create_credential(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res<impl IntoResponse> {
    let org = org(&s, &headers).await?;
    let req: api::CreateKafkaCredential = parse(&body)?;
    let c = find(&s, &org.id, &name).await?;
    check_scope(&req.scope)?;
    let access = req.access.unwrap_or(api::KafkaAccess::Full);
    let credential = s.store.insert_kafka_credential(&c.id, &c.name, access, &req.scope).await?;
    Ok((StatusCode::CREATED, Json(credential)))
}

/// Revokes a credential.
#[utoipa::path(delete, path = "/v1/kafka/clusters/{name}/credentials/{username}", operation_id = "revoke_kafka_credential", tag = "kafka", security(("org_token" = [])),
    params(("name" = String, Path, description = "the cluster's name or id"), ("username" = String, Path, description = "the credential's user name")),
    responses(
        (status = 204, description = "Revoked: new logins fail and open connections are closed"),
        (status = 404, description = "No such cluster in this org, or no such credential in it", body = api::ApiError),
    ))]
pub async fn revoke_credential(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((name, username)): Path<(String, String)>,
) -> Res<StatusCode> {
    let org = org(&s, &headers).await?;
    let c = find(&s, &org.id, &name).await?;
    if !s.store.delete_kafka_credential(&c.id, &username).await? {
        return Err(ApiErr::new(
            StatusCode::NOT_FOUND,
            format!(
                "credential '{username}' not found in '{}'; `tern kafka credentials list {}` shows them",
                c.name, c.name
            ),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}
