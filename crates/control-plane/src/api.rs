//! HTTP handlers: authentication, validation, and the JSON shape of every reply.

mod command;
mod doc;
mod kafka;
mod topics;
mod usage;

use crate::store::{self, DbRow, PlacementRow, StoreError};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use control_api as api;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use command::MAX_CONCURRENT as MAX_CONCURRENT_COMMANDS;

/// Every route. Each is added with `routes!`, which takes its method and path from the
/// handler's `#[utoipa::path]`: the router and the OpenAPI document (`doc.rs`) come from the
/// same attributes, so a route cannot be served undocumented or documented at a wrong path.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(doc::base())
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(list_regions))
        .routes(routes!(list_plans))
        .routes(routes!(list_databases, create_database))
        .routes(routes!(get_database, update_database, delete_database))
        .routes(routes!(reset_password))
        .routes(routes!(command::run))
        .routes(routes!(kafka::list, kafka::create))
        .routes(routes!(kafka::get, kafka::update, kafka::destroy))
        .routes(routes!(kafka::list_credentials, kafka::create_credential))
        .routes(routes!(kafka::revoke_credential))
        .routes(routes!(topics::list))
        .routes(routes!(topics::recent_messages))
        .routes(routes!(register_node))
        .routes(routes!(heartbeat))
        .routes(routes!(intent))
        .routes(routes!(usage::report))
        .routes(routes!(usage::usage))
        .routes(routes!(usage::notifications))
        .routes(routes!(doc::openapi_json))
        .merge(crate::console::routes())
}

pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.fallback(|| async { ApiErr::new(StatusCode::NOT_FOUND, "no such API route") }).with_state(state)
}

/// The OpenAPI document of every route, with the common error replies and auth schemes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().into_openapi();
    doc::finish(&mut doc);
    doc
}

/// An error reply: `{"error": "...", "status": N}`.
pub struct ApiErr(StatusCode, String);

impl ApiErr {
    fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiErr(status, msg.into())
    }
    fn bad(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
}

impl From<StoreError> for ApiErr {
    fn from(e: StoreError) -> Self {
        if e.is_conflict() {
            return ApiErr::new(StatusCode::CONFLICT, "it already exists: another request created it at the same time");
        }
        tracing::error!(error = %e, "state error");
        ApiErr::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error in the control plane's state (see its log)")
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        (self.0, Json(api::ApiError { error: self.1, status: self.0.as_u16() })).into_response()
    }
}

type Res<T> = Result<T, ApiErr>;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The org of the request's API token.
async fn org(s: &AppState, headers: &HeaderMap) -> Res<api::Org> {
    let token = bearer(headers).ok_or_else(|| {
        ApiErr::new(StatusCode::UNAUTHORIZED, "missing API token: send `Authorization: Bearer TOKEN` (TERN_API_TOKEN)")
    })?;
    s.store
        .org_for_token(token)
        .await?
        .ok_or_else(|| ApiErr::new(StatusCode::UNAUTHORIZED, "invalid API token: check TERN_API_TOKEN"))
}

/// Checks the cluster secret (nodes and operators).
fn cluster(s: &AppState, headers: &HeaderMap) -> Res<()> {
    let given = bearer(headers).unwrap_or_default();
    let want = &s.config.cluster_secret;
    // Compare hashes so the comparison takes the same time whatever the prefix matched.
    if want.is_empty() || store::sha256_hex(given) != store::sha256_hex(want) {
        return Err(ApiErr::new(StatusCode::UNAUTHORIZED, "invalid cluster secret"));
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Res<T> {
    serde_json::from_slice(body).map_err(|e| ApiErr::bad(format!("invalid JSON body: {e}")))
}

// ---- orgs, regions, plans

/// Creates an org and its first API token (an operator's action).
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", security(("cluster_secret" = [])),
    request_body = api::CreateOrg,
    responses(
        (status = 201, description = "The org and its first API token, shown only this once", body = api::CreatedOrg),
        (status = 400, description = "Invalid org name", body = api::ApiError),
        (status = 409, description = "An org of this name exists", body = api::ApiError),
    ))]
async fn create_org(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Res<impl IntoResponse> {
    cluster(&s, &headers)?;
    let req: api::CreateOrg = parse(&body)?;
    if !crate::names::valid(&req.name) {
        return Err(ApiErr::bad("org name must be 1-63 characters of a-z, 0-9 and '-'"));
    }
    let created = s
        .store
        .create_org(&req.name)
        .await?
        .ok_or_else(|| ApiErr::new(StatusCode::CONFLICT, format!("org '{}' already exists", req.name)))?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The org of the token.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", security(("org_token" = [])),
    responses((status = 200, description = "The org of the token", body = Vec<api::Org>)))]
async fn list_orgs(State(s): State<AppState>, headers: HeaderMap) -> Res<Json<Vec<api::Org>>> {
    Ok(Json(vec![org(&s, &headers).await?]))
}

/// Regions and how many live nodes each has.
#[utoipa::path(get, path = "/v1/regions", tag = "regions", security(("org_token" = [])),
    responses((status = 200, description = "Every region, with its live nodes", body = Vec<api::Region>)))]
async fn list_regions(State(s): State<AppState>, headers: HeaderMap) -> Res<Json<Vec<api::Region>>> {
    org(&s, &headers).await?;
    Ok(Json(s.store.regions(s.config.node_timeout_secs).await?))
}

/// Plans with their limits and prices.
#[utoipa::path(get, path = "/v1/plans", tag = "plans", security(("org_token" = [])),
    responses((status = 200, description = "Every plan with its limits and prices", body = Vec<api::Plan>)))]
async fn list_plans(State(s): State<AppState>, headers: HeaderMap) -> Res<Json<Vec<api::Plan>>> {
    org(&s, &headers).await?;
    Ok(Json(s.store.plans().await?))
}

// ---- databases

/// `ready` (its node reported hosting it), `pending` (not applied yet), `pending: …` (no node
/// of the region with room when it was placed), or
/// `unreachable: …` (its node has not been heard from within the timeout).
fn placement_status(s: &AppState, p: &PlacementRow) -> String {
    let now = store::now();
    match (&p.node_id, p.last_seen) {
        (None, _) => format!("pending: waiting for a node of region {} with room", p.region),
        (Some(node), Some(seen)) if now - seen > s.config.node_timeout_secs => {
            format!("unreachable: node {node} last seen {}s ago", now - seen)
        }
        (Some(_), _) if p.observed => "ready".to_string(),
        (Some(_), _) => "pending".to_string(),
    }
}

/// A read region's status: `ready` (with its endpoint) only once its node reported the
/// replica streaming the primary's records (caught up with a full copy); until then
/// `pending: …` saying where it is, or the placement's own `pending`/`unreachable`.
fn replica_status(s: &AppState, p: &PlacementRow, replicas: &[store::ReplicaStateRow]) -> String {
    let placed = placement_status(s, p);
    if placed != "ready" {
        return placed;
    }
    let reported = replicas.iter().find(|r| Some(&r.node_id) == p.node_id.as_ref());
    match reported.map(|r| r.state) {
        Some(Some(api::ReplicationState::Streaming)) => "ready".to_string(),
        Some(Some(api::ReplicationState::FullSync)) => "pending: copying the data from the primary".to_string(),
        Some(Some(api::ReplicationState::Connecting)) => "pending: connecting to the primary".to_string(),
        Some(None) => "pending: replication state unknown to this control plane".to_string(),
        // Hosted without a replication report: a node too old to replicate.
        None => "pending: the node does not report replication".to_string(),
    }
}

async fn to_api(s: &AppState, d: DbRow) -> Res<api::Database> {
    let placements = s.store.placements(&store::REDIS, &d.id).await?;
    let replicas = s.store.replica_states(&d.id).await?;
    let mut regions = Vec::new();
    let mut url = None;
    let mut read_regions = Vec::new();
    for p in placements {
        if p.role == "primary" {
            let status = placement_status(s, &p);
            url = p.addr.as_ref().map(|a| format!("redis://default:{}@{a}", d.password));
            regions.push(api::RegionStatus { region: p.region, role: p.role, status, endpoint: p.addr });
        } else {
            read_regions.push(p.region.clone());
            let status = replica_status(s, &p, &replicas);
            let endpoint = if status == "ready" { p.addr } else { None };
            regions.push(api::RegionStatus { region: p.region, role: p.role, status, endpoint });
        }
    }
    let usage = usage::database_usage(s, &d.id).await?;
    Ok(api::Database {
        usage,
        id: d.id,
        name: d.name,
        org: d.org_name,
        plan: d.plan,
        primary_region: d.primary_region,
        read_regions,
        eviction: d.eviction,
        password: d.password,
        url,
        regions,
        created_at: d.created_at,
    })
}

async fn find(s: &AppState, org_id: &str, name: &str) -> Res<DbRow> {
    s.store.database(org_id, name).await?.ok_or_else(|| {
        ApiErr::new(StatusCode::NOT_FOUND, format!("database '{name}' not found; `tern redis list` shows yours"))
    })
}

/// The read (replica) regions after an update: `replace` if given, then `add` and `remove` applied.
fn merge_regions(
    current: &[String],
    replace: Option<&Vec<String>>,
    add: Option<&Vec<String>>,
    remove: Option<&Vec<String>>,
    what: &str,
    owner: &str,
) -> Res<Vec<String>> {
    let mut out = replace.cloned().unwrap_or_else(|| current.to_vec());
    for r in add.into_iter().flatten() {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    if let Some(remove) = remove {
        if let Some(missing) = remove.iter().find(|r| !out.contains(r)) {
            return Err(ApiErr::bad(format!("'{missing}' is not a {what} of '{owner}'")));
        }
        out.retain(|r| !remove.contains(r));
    }
    Ok(out)
}

async fn check_regions(s: &AppState, primary: &str, read: &[String]) -> Res<()> {
    for r in std::iter::once(&primary.to_string()).chain(read) {
        if !s.store.region_exists(r).await? {
            return Err(ApiErr::bad(format!("unknown region '{r}'; `tern regions` lists them")));
        }
    }
    if read.iter().any(|r| r == primary) {
        return Err(ApiErr::bad(format!("'{primary}' is the primary region; it cannot also be a read region")));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = read.iter().find(|r| !seen.insert(*r)) {
        return Err(ApiErr::bad(format!("read region '{dup}' is listed twice")));
    }
    Ok(())
}

/// What a region's nodes must serve to take a new database or Kafka cluster.
#[derive(Clone, Copy)]
pub(crate) enum Service {
    Redis,
    Kafka,
}

impl Service {
    /// Live nodes of `region` serving this.
    fn nodes(self, region: &api::Region) -> i64 {
        match self {
            Service::Redis => region.nodes,
            Service::Kafka => region.kafka_nodes,
        }
    }

    fn node(self) -> &'static str {
        match self {
            Service::Redis => "node",
            Service::Kafka => "Kafka node",
        }
    }
}

/// Refuses `wanted` regions without a live node serving `service`. Placed there, a database
/// would only wait for a node that may never come, its name taken and `create` reporting
/// success; refusing says at once where it can go instead.
pub(crate) async fn check_live<'a>(
    s: &AppState,
    service: Service,
    wanted: impl IntoIterator<Item = &'a String>,
) -> Res<()> {
    let regions = s.store.regions(s.config.node_timeout_secs).await?;
    let live: Vec<&str> = regions.iter().filter(|r| service.nodes(r) > 0).map(|r| r.code.as_str()).collect();
    match wanted.into_iter().find(|w| !live.contains(&w.as_str())) {
        None => Ok(()),
        Some(region) => Err(ApiErr::new(
            StatusCode::CONFLICT,
            format!(
                "no {} serves region {region} yet; regions with {}s: {}",
                service.node(),
                service.node(),
                if live.is_empty() { "none".to_string() } else { live.join(", ") }
            ),
        )),
    }
}

fn second_free_database() -> ApiErr {
    ApiErr::new(StatusCode::CONFLICT, "this org already has its one free database; choose another plan")
}

/// Checks the plan exists and, for the free plan, that the org has no free database yet. The
/// check gives the friendly message; the unique index `databases_one_free_per_org` refuses a
/// second free database that another request writes between this check and the write
/// (`free_plan_conflict`).
async fn check_plan(s: &AppState, org_id: &str, plan: &str) -> Res<()> {
    if !s.store.plan_exists(plan).await? {
        return Err(ApiErr::bad(format!("unknown plan '{plan}'; `tern redis plans` lists them")));
    }
    if plan == "free" && s.store.count_plan(org_id, "free").await? > 0 {
        return Err(second_free_database());
    }
    Ok(())
}

/// The error of a write of a database with `plan`: a unique violation while the org now has a
/// free database is the one-free-database rule (another request won the race), answered as
/// the check before the write answers it.
async fn free_plan_conflict(s: &AppState, org_id: &str, plan: &str, e: StoreError) -> ApiErr {
    if e.is_conflict() && plan == "free" && s.store.count_plan(org_id, "free").await.is_ok_and(|n| n > 0) {
        return second_free_database();
    }
    e.into()
}

/// The org's Redis databases.
#[utoipa::path(get, path = "/v1/databases", tag = "databases", security(("org_token" = [])),
    responses((status = 200, description = "The org's databases", body = Vec<api::Database>)))]
async fn list_databases(State(s): State<AppState>, headers: HeaderMap) -> Res<Json<Vec<api::Database>>> {
    let org = org(&s, &headers).await?;
    let mut out = Vec::new();
    for d in s.store.databases(&org.id).await? {
        out.push(to_api(&s, d).await?);
    }
    Ok(Json(out))
}

/// The requested name, or a generated one when none is given; checked either way.
pub(crate) fn chosen_name(requested: Option<&str>) -> Res<String> {
    let name = match requested.map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => crate::names::generate(),
    };
    if !crate::names::valid(&name) {
        return Err(ApiErr::bad(format!(
            "invalid name '{name}': use 1-63 characters of a-z, 0-9 and '-' (or leave it out for a generated one)"
        )));
    }
    Ok(name)
}

pub(crate) fn required_primary(primary: Option<String>) -> Res<String> {
    primary.ok_or_else(|| ApiErr::bad("primary_region is required (`--region`); `tern regions` lists them"))
}

/// Creates a Redis database and places it on a node of each region.
#[utoipa::path(post, path = "/v1/databases", tag = "databases", security(("org_token" = [])),
    request_body = api::CreateDatabase,
    responses(
        (status = 201, description = "The new database, placed on a node of each region", body = api::Database),
        (status = 400, description = "Invalid name, unknown region or plan, or no primary region", body = api::ApiError),
        (status = 409, description = "The name is taken, a region has no live node, or the free plan is used", body = api::ApiError),
    ))]
async fn create_database(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Res<impl IntoResponse> {
    let org = org(&s, &headers).await?;
    let req: api::CreateDatabase = parse(&body)?;
    let name = chosen_name(req.name.as_deref())?;
    let primary = required_primary(req.primary_region)?;
    check_regions(&s, &primary, &req.read_regions).await?;
    check_live(&s, Service::Redis, std::iter::once(&primary).chain(&req.read_regions)).await?;
    let plan = req.plan.unwrap_or_else(|| "payg".into());
    check_plan(&s, &org.id, &plan).await?;
    if s.store.database(&org.id, &name).await?.is_some() {
        return Err(ApiErr::new(StatusCode::CONFLICT, format!("a database named '{name}' already exists in this org")));
    }
    let password = store::random_hex(16);
    let inserted = s
        .store
        .insert_database(
            &org.id,
            &name,
            &plan,
            &primary,
            &req.read_regions,
            req.eviction,
            &password,
            s.config.node_timeout_secs,
        )
        .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) => return Err(free_plan_conflict(&s, &org.id, &plan, e).await),
    };
    let d = find(&s, &org.id, &id).await?;
    Ok((StatusCode::CREATED, Json(to_api(&s, d).await?)))
}

/// One database and its state in each region.
#[utoipa::path(get, path = "/v1/databases/{name}", tag = "databases", security(("org_token" = [])),
    params(("name" = String, Path, description = "the database's name or id")),
    responses(
        (status = 200, description = "The database and its state in each region", body = api::Database),
        (status = 404, description = "No such database in this org", body = api::ApiError),
    ))]
async fn get_database(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<api::Database>> {
    let org = org(&s, &headers).await?;
    let d = find(&s, &org.id, &name).await?;
    Ok(Json(to_api(&s, d).await?))
}

/// Changes a database's plan, eviction or read regions.
#[utoipa::path(patch, path = "/v1/databases/{name}", tag = "databases", security(("org_token" = [])),
    params(("name" = String, Path, description = "the database's name or id")),
    request_body = api::UpdateDatabase,
    responses(
        (status = 200, description = "The database after the change", body = api::Database),
        (status = 400, description = "A field that cannot change, or an unknown region or plan", body = api::ApiError),
        (status = 404, description = "No such database in this org", body = api::ApiError),
        (status = 409, description = "An added region has no live node, or the free plan is used", body = api::ApiError),
    ))]
async fn update_database(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res<Json<api::Database>> {
    let org = org(&s, &headers).await?;
    let req: api::UpdateDatabase = parse(&body)?;
    let d = find(&s, &org.id, &name).await?;
    if req.name.as_ref().is_some_and(|n| *n != d.name) {
        return Err(ApiErr::bad(
            "the name of a database cannot be changed; create a new database and move the data instead",
        ));
    }
    if req.primary_region.as_ref().is_some_and(|r| *r != d.primary_region) {
        return Err(ApiErr::bad(
            "the primary region of a database cannot be changed; add read regions, or create a new database there",
        ));
    }
    let current = to_api(&s, find(&s, &org.id, &d.id).await?).await?.read_regions;
    let read = merge_regions(
        &current,
        req.read_regions.as_ref(),
        req.add_read_regions.as_ref(),
        req.remove_read_regions.as_ref(),
        "read region",
        &d.name,
    )?;
    check_regions(&s, &d.primary_region, &read).await?;
    // Only regions being added need a node now: one of the current ones may be down.
    check_live(&s, Service::Redis, read.iter().filter(|r| !current.contains(r))).await?;
    if let Some(plan) = &req.plan {
        if *plan != d.plan {
            check_plan(&s, &org.id, plan).await?;
        }
    }
    // Validated: now apply.
    if let Some(plan) = &req.plan {
        if let Err(e) = s.store.set_plan(&d.id, plan).await {
            return Err(free_plan_conflict(&s, &org.id, plan, e).await);
        }
    }
    if let Some(eviction) = req.eviction {
        s.store.set_eviction(&d.id, eviction).await?;
    }
    if read != current {
        s.store.set_replica_regions(&store::REDIS, &d.id, &read, s.config.node_timeout_secs).await?;
    }
    let d = find(&s, &org.id, &d.id).await?;
    Ok(Json(to_api(&s, d).await?))
}

/// Gives a database a new password; the old one stops working.
#[utoipa::path(post, path = "/v1/databases/{name}/reset-password", tag = "databases", security(("org_token" = [])),
    params(("name" = String, Path, description = "the database's name or id")),
    responses(
        (status = 200, description = "The database with its new password", body = api::Database),
        (status = 404, description = "No such database in this org", body = api::ApiError),
    ))]
async fn reset_password(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<api::Database>> {
    let org = org(&s, &headers).await?;
    let d = find(&s, &org.id, &name).await?;
    s.store.set_password(&d.id, &store::random_hex(16)).await?;
    let d = find(&s, &org.id, &d.id).await?;
    Ok(Json(to_api(&s, d).await?))
}

/// Deletes a database; its data is removed from every node.
#[utoipa::path(delete, path = "/v1/databases/{name}", tag = "databases", security(("org_token" = [])),
    params(("name" = String, Path, description = "the database's name or id")),
    responses(
        (status = 200, description = "The database as it was before deletion", body = api::Database),
        (status = 404, description = "No such database in this org", body = api::ApiError),
    ))]
async fn delete_database(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res<Json<api::Database>> {
    let org = org(&s, &headers).await?;
    let d = find(&s, &org.id, &name).await?;
    let id = d.id.clone();
    let out = to_api(&s, d).await?;
    s.store.delete_database(&id).await?;
    Ok(Json(out))
}

// ---- nodes

/// Registers a node (again after a restart).
#[utoipa::path(post, path = "/v1/nodes/register", tag = "nodes", security(("cluster_secret" = [])),
    request_body = api::RegisterNode,
    responses(
        (status = 200, description = "The node's id (generated when none was given)", body = api::RegisteredNode),
        (status = 400, description = "Unknown region or an address that is not HOST:PORT", body = api::ApiError),
        (status = 409, description = "The id is registered in another region", body = api::ApiError),
    ))]
async fn register_node(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Res<Json<api::RegisteredNode>> {
    cluster(&s, &headers)?;
    let req: api::RegisterNode = parse(&body)?;
    if !s.store.region_exists(&req.region).await? {
        return Err(ApiErr::bad(format!("unknown region '{}'", req.region)));
    }
    if !host_port(&req.redis_addr) {
        return Err(ApiErr::bad("redis_addr must be HOST:PORT"));
    }
    if req.kafka_addr.as_deref().is_some_and(|a| !host_port(a)) {
        return Err(ApiErr::bad("kafka_addr must be HOST:PORT"));
    }
    match s.store.register_node(&req).await? {
        Ok(id) => Ok(Json(api::RegisteredNode { id, deployment_id: Some(s.store.deployment_id().clone()) })),
        Err(msg) => Err(ApiErr::new(StatusCode::CONFLICT, msg)),
    }
}

fn host_port(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>().is_ok()
        || addr.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

fn unknown_node(id: &str) -> ApiErr {
    ApiErr::new(StatusCode::NOT_FOUND, format!("node '{id}' is not registered; register it first"))
}

/// Reports what a node hosts now.
#[utoipa::path(post, path = "/v1/nodes/{id}/heartbeat", operation_id = "node_heartbeat", tag = "nodes", security(("cluster_secret" = [])),
    params(("id" = String, Path, description = "the node's id")),
    request_body = api::Heartbeat,
    responses(
        (status = 204, description = "Recorded"),
        (status = 404, description = "The node is not registered", body = api::ApiError),
    ))]
async fn heartbeat(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Res<StatusCode> {
    cluster(&s, &headers)?;
    let hb: api::Heartbeat = parse(&body)?;
    if !s.store.heartbeat(&id, &hb).await? {
        return Err(unknown_node(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Everything a node must host.
#[utoipa::path(get, path = "/v1/nodes/{id}/intent", operation_id = "get_node_intent", tag = "nodes", security(("cluster_secret" = [])),
    params(("id" = String, Path, description = "the node's id")),
    responses(
        (status = 200, description = "Everything the node must host", body = api::NodeIntent),
        (status = 404, description = "The node is not registered", body = api::ApiError),
    ))]
async fn intent(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Res<Json<api::NodeIntent>> {
    cluster(&s, &headers)?;
    s.store.node_intent(&id).await?.map(Json).ok_or_else(|| unknown_node(&id))
}
