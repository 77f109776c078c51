//! The web console: one HTML page, its script and its style sheet, embedded in the binary and
//! served under `/console`. The script signs in with an API token and draws every page from
//! the JSON API; the server only hands out these three files (the page at each deep link).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::{router::OpenApiRouter, routes};

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");

/// Only this origin's script, style and API; no inline script, no frames, no other site.
/// Charts are inline SVG built with DOM calls, which this policy allows.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's routes, registered with the API's (`api::routes`) so the OpenAPI document
/// stays the one list of routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(home))
        .routes(routes!(database_page))
        .routes(routes!(kafka_list_page))
        .routes(routes!(kafka_page))
        .routes(routes!(usage_page))
        .routes(routes!(script))
        .routes(routes!(style))
}

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

fn page() -> impl IntoResponse {
    file("text/html; charset=utf-8", INDEX_HTML)
}

/// The console: sign in, then the org's databases and Kafka clusters.
#[utoipa::path(get, path = "/console", operation_id = "console", tag = "console",
    responses((status = 200, description = "The console's page", content_type = "text/html")))]
async fn home() -> impl IntoResponse {
    page()
}

/// The console's page of a database (`tern redis dashboard NAME`).
#[utoipa::path(get, path = "/console/redis/{name}", operation_id = "console_database", tag = "console",
    params(("name" = String, Path, description = "the database's name")),
    responses((status = 200, description = "The console's page; the script shows the database", content_type = "text/html")))]
async fn database_page() -> impl IntoResponse {
    page()
}

/// The console's list of Kafka clusters (`tern kafka dashboard`).
#[utoipa::path(get, path = "/console/kafka", operation_id = "console_kafka", tag = "console",
    responses((status = 200, description = "The console's page; the script shows the clusters", content_type = "text/html")))]
async fn kafka_list_page() -> impl IntoResponse {
    page()
}

/// The console's page of a Kafka cluster (`tern kafka dashboard NAME`).
#[utoipa::path(get, path = "/console/kafka/{name}", operation_id = "console_kafka_cluster", tag = "console",
    params(("name" = String, Path, description = "the cluster's name")),
    responses((status = 200, description = "The console's page; the script shows the cluster", content_type = "text/html")))]
async fn kafka_page() -> impl IntoResponse {
    page()
}

/// The console's usage and bill page.
#[utoipa::path(get, path = "/console/usage", operation_id = "console_usage", tag = "console",
    responses((status = 200, description = "The console's page; the script shows usage and the bill", content_type = "text/html")))]
async fn usage_page() -> impl IntoResponse {
    page()
}

/// The console's script.
#[utoipa::path(get, path = "/console/app.js", operation_id = "console_script", tag = "console",
    responses((status = 200, description = "The console's script", content_type = "text/javascript")))]
async fn script() -> impl IntoResponse {
    file("text/javascript; charset=utf-8", APP_JS)
}

/// The console's style sheet.
#[utoipa::path(get, path = "/console/app.css", operation_id = "console_style", tag = "console",
    responses((status = 200, description = "The console's style sheet", content_type = "text/css")))]
async fn style() -> impl IntoResponse {
    file("text/css; charset=utf-8", APP_CSS)
}
