//! `POST /v1/databases/{name}/command`: the console's command box and key browser. An admin
//! path: the control plane runs one command on the database's primary node over a fresh
//! connection (`node_command.rs`); client traffic never goes through here. The node meters
//! it like any other command.

use super::{find, org, parse, ApiErr, Res};
use crate::node_command::{self, NodeCommandError};
use crate::store;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use control_api as api;

/// Largest request body (the command as JSON).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Most arguments in one command.
const MAX_ARGS: usize = 1024;
/// Console requests to nodes running at once (commands here, topic lists in `topics.rs`), across
/// all orgs; more are answered 429 rather than queued.
pub const MAX_CONCURRENT: usize = 32;

/// Why a command is not run through the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// It waits for data another client sends.
    Blocking,
    /// It turns the connection into a stream of pushed messages.
    Subscribe,
    /// It only means something on a connection that lives on after it.
    ConnectionState,
}

impl Refusal {
    fn message(self, name: &str) -> String {
        let why = match self {
            Refusal::Blocking => "it blocks waiting for data",
            Refusal::Subscribe => "it subscribes the connection to pushed messages",
            Refusal::ConnectionState => "it changes the state of a connection that ends after this one command",
        };
        format!("{name} is not run from the console: {why}; use `tern redis connect` for it")
    }
}

/// The refusal of a command (name uppercased, all arguments), if any.
fn refusal(name: &str, args: &[String]) -> Option<Refusal> {
    match name {
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX" | "BZMPOP" | "WAIT"
        | "WAITAOF" => Some(Refusal::Blocking),
        "XREAD" | "XREADGROUP" if args.iter().any(|a| a.eq_ignore_ascii_case("BLOCK")) => Some(Refusal::Blocking),
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE" | "SUNSUBSCRIBE" | "MONITOR" => {
            Some(Refusal::Subscribe)
        }
        "AUTH" | "HELLO" | "RESET" | "QUIT" | "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH" | "SYNC" | "PSYNC"
        | "REPLCONF" => Some(Refusal::ConnectionState),
        _ => None,
    }
}

/// The command of a request body, checked: size, shape, and not a refused command.
fn command(body: &Bytes) -> Res<Vec<String>> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ApiErr::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the command is larger than {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    let args: Vec<String> = parse(body)?;
    let Some(first) = args.first() else {
        return Err(ApiErr::bad("the body must be the command as a non-empty JSON array of strings"));
    };
    if args.len() > MAX_ARGS {
        return Err(ApiErr::new(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {MAX_ARGS} arguments per command")));
    }
    let name = first.to_ascii_uppercase();
    if let Some(r) = refusal(&name, &args) {
        return Err(ApiErr::bad(r.message(&name)));
    }
    Ok(args)
}

fn node_error(e: NodeCommandError) -> ApiErr {
    let status = match e {
        NodeCommandError::ReplyTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
        NodeCommandError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        NodeCommandError::Connect { .. } | NodeCommandError::Auth(_) => StatusCode::SERVICE_UNAVAILABLE,
        NodeCommandError::Io { .. } | NodeCommandError::Protocol(_) => StatusCode::BAD_GATEWAY,
    };
    ApiErr::new(status, e.to_string())
}

/// Runs one Redis command on the database's primary node (the console's command box).
#[utoipa::path(post, path = "/v1/databases/{name}/command", operation_id = "run_database_command", tag = "databases",
    security(("org_token" = [])),
    params(("name" = String, Path, description = "the database's name or id")),
    request_body(content = Vec<String>, description = "The command and its arguments, such as `[\"GET\", \"foo\"]`"),
    responses(
        (status = 200, description = "The node's reply (a Redis error reply too, as `{\"error\": ...}`)", body = api::CommandReply),
        (status = 400, description = "Not a non-empty array of strings, or a blocking, subscribing or connection-state command", body = api::ApiError),
        (status = 404, description = "No such database in this org", body = api::ApiError),
        (status = 409, description = "The database is not placed on a node yet", body = api::ApiError),
        (status = 413, description = "The command is larger than 1 MiB or has more than 1024 arguments", body = api::ApiError),
        (status = 422, description = "The reply is larger than 1 MiB", body = api::ApiError),
        (status = 429, description = "Too many console commands are running", body = api::ApiError),
        (status = 502, description = "The node failed during the command", body = api::ApiError),
        (status = 503, description = "The node cannot be reached or does not know the database yet", body = api::ApiError),
        (status = 504, description = "The node did not answer within 5 s", body = api::ApiError),
    ))]
pub async fn run(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res<Json<api::CommandReply>> {
    let org = org(&s, &headers).await?;
    let d = find(&s, &org.id, &name).await?;
    let args = command(&body)?;
    let placements = s.store.placements(&store::REDIS, &d.id).await?;
    let addr = placements.into_iter().find(|p| p.role == "primary").and_then(|p| p.addr).ok_or_else(|| {
        ApiErr::new(StatusCode::CONFLICT, format!("database '{}' is not placed on a node yet", d.name))
    })?;
    let _permit =
        s.commands.clone().try_acquire_owned().map_err(|_| {
            ApiErr::new(StatusCode::TOO_MANY_REQUESTS, "too many console commands are running; try again")
        })?;
    let reply = node_command::run(&addr, &d.password, &args).await.map_err(node_error)?;
    Ok(Json(api::CommandReply { reply }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn blocking_subscribing_and_stateful_commands_are_refused() {
        assert_eq!(refusal("BLPOP", &strings(&["blpop", "q", "0"])), Some(Refusal::Blocking));
        assert_eq!(refusal("XREAD", &strings(&["xread", "block", "0", "streams", "s", "$"])), Some(Refusal::Blocking));
        assert_eq!(refusal("XREAD", &strings(&["xread", "streams", "s", "0"])), None);
        assert_eq!(refusal("SUBSCRIBE", &strings(&["subscribe", "c"])), Some(Refusal::Subscribe));
        assert_eq!(refusal("MULTI", &strings(&["multi"])), Some(Refusal::ConnectionState));
        assert_eq!(refusal("GET", &strings(&["get", "k"])), None);
    }

    #[test]
    fn bodies_are_checked() {
        let body = |text: &str| Bytes::from(text.to_string());
        assert_eq!(command(&body(r#"["get","k"]"#)).ok(), Some(strings(&["get", "k"])));
        assert!(command(&body("[]")).is_err());
        assert!(command(&body(r#"{"cmd": "get"}"#)).is_err());
        assert!(command(&body(r#"["brpop","q","0"]"#)).is_err());
        let big = format!(r#"["SET","k","{}"]"#, "x".repeat(MAX_REQUEST_BYTES));
        assert!(command(&body(&big)).is_err());
    }
}
