//! `POST /v1/databases/{name}/command` against a real node (the `redis-server` crate on
//! 127.0.0.1:0), and the console's pages: replies as JSON, org scoping, refused commands,
//! request and reply limits, and a node that does not answer.

mod common;

use common::{assert_error, Server};
use redis_server::{Node, NodeLimits, TenantConfig, TenantId, TenantLimits};
use serde_json::{json, Value};
use std::sync::Arc;

/// Starts a node with one worker thread and registers it as region `mad`'s node.
fn real_node(s: &Server) -> Arc<Node> {
    let node = Arc::new(Node::new(NodeLimits::default(), "mad".into(), 0));
    let server = redis_server::start(node.clone(), "127.0.0.1:0".parse().unwrap(), 1).unwrap();
    s.node("real-mad", "mad", &server.local_addr.to_string());
    node
}

/// Creates database `name` in org `token` and hosts it on `node` with its password, as the
/// node's reconciler would.
fn hosted_database(s: &Server, node: &Node, token: &str, name: &str) -> Value {
    let (st, db) = s.call("POST", "/v1/databases", Some(token), Some(json!({"name": name, "primary_region": "mad"})));
    assert_eq!(st, 201, "{db}");
    let cfg = TenantConfig {
        id: TenantId(db["id"].as_str().unwrap().into()),
        password: db["password"].as_str().unwrap().into(),
        limits: TenantLimits::default(),
        role: Default::default(),
    };
    node.tenants.upsert(&cfg, &node.limits).unwrap();
    db
}

fn run(s: &Server, token: &str, db: &str, args: Value) -> (u16, Value) {
    s.call("POST", &format!("/v1/databases/{db}/command"), Some(token), Some(args))
}

fn reply(s: &Server, token: &str, db: &str, args: Value) -> Value {
    let (st, v) = run(s, token, db, args);
    assert_eq!(st, 200, "{v}");
    v["reply"].clone()
}

fn replies_are_json(s: &Server) {
    let node = real_node(s);
    let t = s.org("acme");
    hosted_database(s, &node, &t, "cache");
    assert_eq!(reply(s, &t, "cache", json!(["SET", "foo", "bar"])), json!("OK"));
    assert_eq!(reply(s, &t, "cache", json!(["get", "foo"])), json!("bar"));
    assert_eq!(reply(s, &t, "cache", json!(["GET", "missing"])), Value::Null);
    assert_eq!(reply(s, &t, "cache", json!(["RPUSH", "list", "a", "b"])), json!(2));
    assert_eq!(reply(s, &t, "cache", json!(["LRANGE", "list", "0", "-1"])), json!(["a", "b"]));
    let wrong = reply(s, &t, "cache", json!(["GET", "list"]));
    assert!(wrong["error"].as_str().unwrap().starts_with("WRONGTYPE"), "{wrong}");
    assert_eq!(reply(s, &t, "cache", json!(["SCAN", "0", "MATCH", "f*", "COUNT", "100"])), json!(["0", ["foo"]]));
    assert_eq!(reply(s, &t, "cache", json!(["TYPE", "foo"])), json!("string"));
}

fn other_orgs_and_bad_tokens_see_nothing(s: &Server) {
    let node = real_node(s);
    let t = s.org("acme");
    let other = s.org("globex");
    hosted_database(s, &node, &t, "cache");
    assert_error(&run(s, &other, "cache", json!(["GET", "foo"])), 404, "not found");
    assert_error(&run(s, "not-a-token", "cache", json!(["GET", "foo"])), 401, "invalid API token");
    let (st, _) = s.call("POST", "/v1/databases/cache/command", None, Some(json!(["GET", "foo"])));
    assert_eq!(st, 401);
    // The other org's database of the same name is its own.
    hosted_database(s, &node, &other, "cache");
    assert_eq!(reply(s, &t, "cache", json!(["SET", "k", "acme"])), json!("OK"));
    assert_eq!(reply(s, &other, "cache", json!(["GET", "k"])), Value::Null);
}

fn blocking_and_subscribing_commands_are_refused(s: &Server) {
    let node = real_node(s);
    let t = s.org("acme");
    hosted_database(s, &node, &t, "cache");
    assert_error(&run(s, &t, "cache", json!(["BLPOP", "q", "0"])), 400, "BLPOP is not run from the console: it blocks");
    let xread = json!(["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_error(&run(s, &t, "cache", xread), 400, "XREAD is not run from the console: it blocks");
    assert_error(&run(s, &t, "cache", json!(["subscribe", "c"])), 400, "SUBSCRIBE is not run from the console");
    assert_error(&run(s, &t, "cache", json!(["MULTI"])), 400, "MULTI is not run from the console");
    assert_error(&run(s, &t, "cache", json!([])), 400, "non-empty JSON array");
    assert_error(&run(s, &t, "cache", json!({"command": "GET"})), 400, "invalid JSON body");
    // A refused command never reached the node: the list is still empty.
    assert_eq!(reply(s, &t, "cache", json!(["LLEN", "q"])), json!(0));
}

fn requests_and_replies_are_bounded(s: &Server) {
    let node = real_node(s);
    let t = s.org("acme");
    hosted_database(s, &node, &t, "cache");
    let too_big = "x".repeat(1 << 20);
    assert_error(&run(s, &t, "cache", json!(["SET", "k", too_big])), 413, "larger than");
    let many: Vec<String> = std::iter::once("DEL".to_string()).chain((0..1100).map(|i| format!("k{i}"))).collect();
    assert_error(&run(s, &t, "cache", json!(many)), 413, "at most 1024 arguments");
    // Two appends of 600 KB make a value whose GET reply passes 1 MiB.
    let part = "y".repeat(600_000);
    assert_eq!(reply(s, &t, "cache", json!(["APPEND", "big", part])), json!(600_000));
    assert_eq!(reply(s, &t, "cache", json!(["APPEND", "big", part])), json!(1_200_000));
    assert_error(&run(s, &t, "cache", json!(["GET", "big"])), 422, "larger than 1048576 bytes");
    assert_eq!(reply(s, &t, "cache", json!(["GETRANGE", "big", "0", "2"])), json!("yyy"));
}

on_both_backends!(
    replies_are_json,
    other_orgs_and_bad_tokens_see_nothing,
    blocking_and_subscribing_commands_are_refused,
    requests_and_replies_are_bounded,
);

fn sqlite_server() -> Server {
    common::start(common::TestDb::create(common::Backend::Sqlite).unwrap())
}

/// A node that accepts connections and never answers: the request ends at the timeout; a node
/// that is gone is reported as unreachable.
#[test]
fn silent_and_missing_nodes_are_reported() {
    let s = sqlite_server();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s.node("silent", "mad", &silent.local_addr().unwrap().to_string());
    let t = s.org("acme");
    let (st, db) = s.call("POST", "/v1/databases", Some(&t), Some(json!({"name": "cache", "primary_region": "mad"})));
    assert_eq!(st, 201, "{db}");
    let started = std::time::Instant::now();
    assert_error(&run(&s, &t, "cache", json!(["GET", "k"])), 504, "did not answer within 5 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    drop(silent);
    assert_error(&run(&s, &t, "cache", json!(["GET", "k"])), 503, "cannot reach");
}

/// A database the node does not host (yet): its password is refused.
#[test]
fn a_database_unknown_to_its_node_is_reported() {
    let s = sqlite_server();
    real_node(&s);
    let t = s.org("acme");
    let (st, db) = s.call("POST", "/v1/databases", Some(&t), Some(json!({"name": "cache", "primary_region": "mad"})));
    assert_eq!(st, 201, "{db}");
    assert_error(&run(&s, &t, "cache", json!(["GET", "k"])), 503, "refused the database's password");
}

#[test]
fn console_files_are_served_with_a_strict_policy() {
    let s = sqlite_server();
    for (path, content_type) in [
        ("/console", "text/html"),
        ("/console/redis/cache", "text/html"),
        ("/console/kafka", "text/html"),
        ("/console/kafka/events", "text/html"),
        ("/console/usage", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let resp = ureq::get(&format!("{}{path}", s.base())).call().unwrap();
        assert!(resp.content_type().starts_with(content_type), "{path}: {}", resp.content_type());
        let csp = resp.header("content-security-policy").unwrap().to_string();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        let body = resp.into_string().unwrap();
        // No asset from anywhere else: every src/href is this server's.
        for marker in ["src=\"http", "href=\"http", "//cdn", "@import"] {
            assert!(!body.contains(marker), "{path} refers to an external asset ({marker})");
        }
    }
    let page = ureq::get(&format!("{}/console", s.base())).call().unwrap().into_string().unwrap();
    assert!(page.contains("src=\"/console/app.js\""));
    let script = ureq::get(&format!("{}/console/app.js", s.base())).call().unwrap().into_string().unwrap();
    assert!(!script.contains("innerHTML"), "the script must not insert HTML");
}
