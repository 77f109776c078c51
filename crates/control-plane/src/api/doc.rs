//! The OpenAPI document of the HTTP API: its header, the two bearer schemes, the error replies
//! every route shares, and `GET /v1/openapi.json` serving it. The paths themselves come from
//! the handlers' `#[utoipa::path]` attributes as `api::routes` registers them.

use super::{ApiErr, Res};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use control_api as api;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::OpenApi as _;

/// Security scheme of the routes an org's API token opens.
pub const ORG_TOKEN: &str = "org_token";
/// Security scheme of the routes for nodes and operators (the cluster secret).
pub const CLUSTER_SECRET: &str = "cluster_secret";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tern control plane",
        version = "1",
        description = "Orgs, regions, plans, Redis databases, Kafka clusters, nodes and usage. \
            Every error reply is `{\"error\": \"...\", \"status\": N}` (schema `ApiError`), \
            including the 404 of a route that does not exist.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(api::ApiError)),
    tags(
        (name = "orgs", description = "Orgs and their API tokens"),
        (name = "regions", description = "Where databases and clusters can be placed"),
        (name = "plans", description = "Limits and prices"),
        (name = "databases", description = "Redis databases"),
        (name = "kafka", description = "Kafka clusters and their credentials"),
        (name = "nodes", description = "What nodes call: registration, heartbeats, intent, usage reports"),
        (name = "usage", description = "Usage, the running bill and notifications"),
        (name = "meta", description = "This document"),
        (name = "console", description = "The web console's page, script and style sheet"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer schemes and, to every operation, the error replies all routes of its kind
/// give: a bad or missing token (401) and a state failure (500) behind either scheme, and a
/// body that is not the documented JSON (400) wherever a body is read.
pub fn finish(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(ORG_TOKEN, bearer("An org's API token (`tern login`, TERN_API_TOKEN)"));
    components.add_security_scheme(
        CLUSTER_SECRET,
        bearer("The cluster secret shared by the control plane, its nodes and operators"),
    );
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            let mut add = |status: StatusCode, description: &str| {
                responses.entry(status.as_u16().to_string()).or_insert_with(|| error_reply(description));
            };
            if operation.request_body.is_some() {
                add(StatusCode::BAD_REQUEST, "The body is not valid JSON of the expected shape");
            }
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add(StatusCode::UNAUTHORIZED, "Missing or invalid bearer token");
                add(StatusCode::INTERNAL_SERVER_ERROR, "The control plane's state failed (see its log)");
            }
        }
    }
}

fn bearer(description: &str) -> SecurityScheme {
    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build())
}

fn error_reply(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// The header the paths are added to.
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

// Built on each request, which are rare (tools fetching it once), rather than kept for the
// life of the process; the same bytes as `docs/openapi.json`.
/// This document, without a token.
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "get_openapi", tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1 JSON)", content_type = "application/json")))]
pub async fn openapi_json() -> Res<impl IntoResponse> {
    let text = crate::openapi_json().map_err(|e| {
        tracing::error!(error = %e, "encoding the OpenAPI document");
        ApiErr::new(StatusCode::INTERNAL_SERVER_ERROR, "the OpenAPI document could not be encoded")
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text))
}
