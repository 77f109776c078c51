//! The control plane: the HTTP JSON API (`api.rs`, types in the `control-api` crate) over the
//! state (`store.rs`: orgs, hashed API tokens, regions, plans, databases, nodes, placements).
//! It never sits on the data path: nodes fetch their intent from it and report what they host.
//! It also serves the web console (`console.rs`), whose command box runs single commands on a
//! database's node through the API (`node_command.rs`), an admin path only.

mod api;
pub mod billing;
mod console;
pub mod names;
mod node_command;
pub mod store;

pub use store::{Store, StoreError};

use std::sync::Arc;

/// What the server needs besides its state.
#[derive(Clone)]
pub struct Config {
    /// Shared by nodes and the operator: authenticates `/v1/nodes/...` and `POST /v1/orgs`.
    pub cluster_secret: String,
    /// A node not heard from for this many seconds is not used for new placements and its
    /// databases show as unreachable.
    pub node_timeout_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config { cluster_secret: String::new(), node_timeout_secs: 15 }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Permits for the console's requests to nodes running at once (`api/command.rs`, `api/topics.rs`).
    pub commands: Arc<tokio::sync::Semaphore>,
}

/// The HTTP routes, ready to serve.
pub fn router(store: Store, config: Config) -> axum::Router {
    let commands = Arc::new(tokio::sync::Semaphore::new(api::MAX_CONCURRENT_COMMANDS));
    api::router(AppState { store, config: Arc::new(config), commands })
}

/// The OpenAPI document of the HTTP API, as `docs/openapi.json` holds it and
/// `GET /v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::openapi()
}

/// [`openapi`] as pretty-printed JSON with a final newline (`tern control-plane openapi`).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    Ok(api::openapi().to_pretty_json()? + "\n")
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, store: Store, config: Config) -> std::io::Result<()> {
    axum::serve(listener, router(store, config)).await
}

/// `sqlite://DIR/control-plane.db?mode=rwc`: the default state location under a data directory.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("control-plane.db").display())
}
