//! `/v1/kafka/clusters…` against the real server: success, validation errors, auth failures,
//! not found, another org's cluster invisible, and the Kafka part of a node's intent; on
//! SQLite and on PostgreSQL.

mod common;

use common::{assert_error, assert_one_created, Server, NAMES_IN_BYTE_ORDER, SECRET};
use serde_json::{json, Value};

on_both_backends!(
    cluster_lifecycle,
    cluster_validation_errors,
    cluster_auth_and_not_found,
    another_orgs_cluster_is_invisible,
    kafka_in_node_intent_and_heartbeat,
    cluster_names_sort_by_bytes_and_race_to_one,
);

fn cluster_lifecycle(s: &Server) {
    let t = s.org("acme");
    s.kafka_node("k-mad", "mad", "127.0.0.1:9092");
    s.live_nodes(&["ams", "iad", "fra"]);

    // Create: generated name, payg, a first full credential, placed on the Kafka node.
    let (st, c) = s.call("POST", "/v1/kafka/clusters", Some(&t), Some(json!({"primary_region": "mad"})));
    assert_eq!(st, 201, "{c}");
    let name = c["name"].as_str().unwrap().to_string();
    assert_eq!(name.split('-').count(), 3, "{name}");
    assert!(c["id"].as_str().unwrap().starts_with("kc_"), "{c}");
    assert_eq!(c["plan"], "payg");
    assert_eq!(c["org"], "acme");
    assert_eq!(c["replica_regions"], json!([]));
    assert_eq!(c["endpoint"], "127.0.0.1:9092");
    assert_eq!(c["status"], "pending");
    let creds = c["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["access"], "full");
    assert_eq!(creds[0]["scope"], json!({"kind": "all"}));
    assert!(creds[0]["username"].as_str().unwrap().starts_with(&name), "{c}");
    assert!(creds[0]["password"].as_str().unwrap().len() >= 32, "{c}");

    // Named, with a replica region: recorded, and said not to be replicated.
    let body = json!({"name": "events", "primary_region": "mad", "replica_regions": ["ams"]});
    let (st, c2) = s.call("POST", "/v1/kafka/clusters", Some(&t), Some(body));
    assert_eq!(st, 201, "{c2}");
    assert_eq!(c2["replica_regions"], json!(["ams"]));
    assert_eq!(c2["regions"][1]["region"], "ams");
    assert!(c2["regions"][1]["status"].as_str().unwrap().contains("not built"), "{c2}");

    // List and get by name and id.
    let (st, list) = s.call("GET", "/v1/kafka/clusters", Some(&t), None);
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (st, got) = s.call("GET", &format!("/v1/kafka/clusters/{}", c2["id"].as_str().unwrap()), Some(&t), None);
    assert_eq!((st, got["name"].as_str()), (200, Some("events")));

    // Update replica regions.
    let patch = json!({"add_replica_regions": ["iad", "fra"], "remove_replica_regions": ["ams"]});
    let (st, up) = s.call("PATCH", "/v1/kafka/clusters/events", Some(&t), Some(patch));
    assert_eq!(st, 200, "{up}");
    let mut replicas: Vec<String> = serde_json::from_value(up["replica_regions"].clone()).unwrap();
    replicas.sort();
    assert_eq!(replicas, ["fra", "iad"]);
    let (st, up) = s.call("PATCH", "/v1/kafka/clusters/events", Some(&t), Some(json!({"replica_regions": []})));
    assert_eq!((st, up["replica_regions"].clone()), (200, json!([])));

    // Credentials: create with access and scope, list, revoke.
    let path = "/v1/kafka/clusters/events/credentials";
    let (st, p) = s.call(
        "POST",
        path,
        Some(&t),
        Some(json!({"access": "produce", "scope": {"kind": "prefix", "value": "orders."}})),
    );
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["access"], "produce");
    assert_eq!(p["scope"], json!({"kind": "prefix", "value": "orders."}));
    let (st, d) = s.call("POST", path, Some(&t), Some(json!({})));
    assert_eq!((st, d["access"].as_str()), (201, Some("full")));
    let (st, creds) = s.call("GET", path, Some(&t), None);
    assert_eq!(st, 200);
    assert_eq!(creds.as_array().unwrap().len(), 3);
    let user = p["username"].as_str().unwrap();
    assert_eq!(s.call("DELETE", &format!("{path}/{user}"), Some(&t), None).0, 204);
    assert_error(&s.call("DELETE", &format!("{path}/{user}"), Some(&t), None), 404, "not found");
    let (_, creds) = s.call("GET", path, Some(&t), None);
    assert_eq!(creds.as_array().unwrap().len(), 2);

    // Destroy.
    let (st, gone) = s.call("DELETE", "/v1/kafka/clusters/events", Some(&t), None);
    assert_eq!((st, gone["name"].as_str()), (200, Some("events")));
    assert_error(&s.call("GET", "/v1/kafka/clusters/events", Some(&t), None), 404, "not found");
    let (_, list) = s.call("GET", "/v1/kafka/clusters", Some(&t), None);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

fn cluster_validation_errors(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad", "ams"]);
    let create = |body: Value| s.call("POST", "/v1/kafka/clusters", Some(&t), Some(body));
    assert_error(&create(json!({})), 400, "primary_region is required");
    assert_error(&create(json!({"primary_region": "xyz"})), 400, "unknown region 'xyz'");
    assert_error(&create(json!({"primary_region": "mad", "replica_regions": ["mad"]})), 400, "primary region");
    assert_error(&create(json!({"primary_region": "mad", "replica_regions": ["ams", "ams"]})), 400, "twice");
    assert_error(&create(json!({"primary_region": "mad", "plan": "gold"})), 400, "unknown plan");
    assert_error(&create(json!({"primary_region": "mad", "name": "Not Valid"})), 400, "invalid name");
    assert_error(&create(json!({"primary_region": "mad", "replica_regions": "ams"})), 400, "invalid JSON");
    assert_error(&s.call("POST", "/v1/kafka/clusters", Some(&t), None), 400, "invalid JSON");
    assert_eq!(create(json!({"primary_region": "mad", "name": "one"})).0, 201);
    assert_error(&create(json!({"primary_region": "ams", "name": "one"})), 409, "already exists");

    let patch = |body: Value| s.call("PATCH", "/v1/kafka/clusters/one", Some(&t), Some(body));
    assert_error(&patch(json!({"name": "two"})), 400, "name of a Kafka cluster cannot be changed");
    assert_error(&patch(json!({"primary_region": "ams"})), 400, "primary region of a Kafka cluster cannot");
    assert_error(&patch(json!({"add_replica_regions": ["mad"]})), 400, "primary region");
    assert_error(&patch(json!({"add_replica_regions": ["zzz"]})), 400, "unknown region");
    assert_error(&patch(json!({"remove_replica_regions": ["ams"]})), 400, "not a replica region");
    assert_eq!(patch(json!({"name": "one", "primary_region": "mad"})).0, 200);

    let cred = |body: Value| s.call("POST", "/v1/kafka/clusters/one/credentials", Some(&t), Some(body));
    assert_error(&cred(json!({"access": "admin"})), 400, "invalid JSON");
    assert_error(&cred(json!({"scope": {"kind": "topic", "value": ""}})), 400, "invalid topic");
    assert_error(&cred(json!({"scope": {"kind": "prefix", "value": "a b"}})), 400, "invalid prefix");
    assert_error(&cred(json!({"scope": {"kind": "prefix", "value": "x".repeat(250)}})), 400, "invalid prefix");
    assert_error(&cred(json!({"scope": {"kind": "everything"}})), 400, "invalid JSON");
}

fn cluster_auth_and_not_found(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad"]);
    let (_, c) = s.call("POST", "/v1/kafka/clusters", Some(&t), Some(json!({"name": "x", "primary_region": "mad"})));
    let user = c["credentials"][0]["username"].as_str().unwrap().to_string();
    let revoke = format!("/v1/kafka/clusters/x/credentials/{user}");
    for (method, path) in [
        ("GET", "/v1/kafka/clusters"),
        ("POST", "/v1/kafka/clusters"),
        ("GET", "/v1/kafka/clusters/x"),
        ("PATCH", "/v1/kafka/clusters/x"),
        ("DELETE", "/v1/kafka/clusters/x"),
        ("GET", "/v1/kafka/clusters/x/credentials"),
        ("POST", "/v1/kafka/clusters/x/credentials"),
        ("DELETE", revoke.as_str()),
    ] {
        let body = (method == "POST" || method == "PATCH").then(|| json!({}));
        assert_error(&s.call(method, path, None, body.clone()), 401, "missing API token");
        assert_error(&s.call(method, path, Some("tern_bad"), body.clone()), 401, "invalid API token");
        assert_error(&s.call(method, path, Some(SECRET), body), 401, "invalid API token");
    }
    for (method, path) in [
        ("GET", "/v1/kafka/clusters/missing"),
        ("PATCH", "/v1/kafka/clusters/missing"),
        ("DELETE", "/v1/kafka/clusters/missing"),
        ("GET", "/v1/kafka/clusters/missing/credentials"),
        ("POST", "/v1/kafka/clusters/missing/credentials"),
        ("DELETE", "/v1/kafka/clusters/missing/credentials/someone"),
        ("DELETE", "/v1/kafka/clusters/x/credentials/someone"),
    ] {
        let body = (method == "POST" || method == "PATCH").then(|| json!({}));
        assert_error(&s.call(method, path, Some(&t), body), 404, "not found");
    }
    // Still there after all the refused calls.
    assert_eq!(s.call("GET", "/v1/kafka/clusters/x", Some(&t), None).0, 200);
}

fn another_orgs_cluster_is_invisible(s: &Server) {
    let a = s.org("alpha");
    let b = s.org("beta");
    s.live_nodes(&["mad"]);
    let (_, c) =
        s.call("POST", "/v1/kafka/clusters", Some(&a), Some(json!({"name": "secret", "primary_region": "mad"})));
    let id = c["id"].as_str().unwrap();
    let user = c["credentials"][0]["username"].as_str().unwrap();
    let (_, list) = s.call("GET", "/v1/kafka/clusters", Some(&b), None);
    assert_eq!(list, json!([]));
    for path in ["/v1/kafka/clusters/secret".to_string(), format!("/v1/kafka/clusters/{id}")] {
        assert_error(&s.call("GET", &path, Some(&b), None), 404, "not found");
        assert_error(&s.call("PATCH", &path, Some(&b), Some(json!({"replica_regions": []}))), 404, "not found");
        assert_error(&s.call("DELETE", &path, Some(&b), None), 404, "not found");
        assert_error(&s.call("GET", &format!("{path}/credentials"), Some(&b), None), 404, "not found");
        assert_error(&s.call("POST", &format!("{path}/credentials"), Some(&b), Some(json!({}))), 404, "not found");
        assert_error(&s.call("DELETE", &format!("{path}/credentials/{user}"), Some(&b), None), 404, "not found");
    }
    // Names are unique per org; user names are unique everywhere.
    let (st, other) =
        s.call("POST", "/v1/kafka/clusters", Some(&b), Some(json!({"name": "secret", "primary_region": "mad"})));
    assert_eq!(st, 201);
    assert_ne!(other["credentials"][0]["username"], c["credentials"][0]["username"]);
    let (st, again) = s.call("GET", "/v1/kafka/clusters/secret", Some(&a), None);
    assert_eq!((st, &again["credentials"]), (200, &c["credentials"]));
}

fn kafka_in_node_intent_and_heartbeat(s: &Server) {
    let t = s.org("acme");
    let body = json!({"name": "k", "primary_region": "ams", "replica_regions": ["mad"]});
    let create = || s.call("POST", "/v1/kafka/clusters", Some(&t), Some(body.clone()));
    // A node without Kafka never gets it: no cluster before a Kafka node of its region exists.
    s.node("redis-only", "ams", "127.0.0.1:7001");
    assert_error(&create(), 409, "no Kafka node serves region ams yet; regions with Kafka nodes: none");
    let (_, intent) = s.call("GET", "/v1/nodes/redis-only/intent", Some(SECRET), None);
    assert_eq!(intent["kafka_clusters"], json!([]));
    let bad = json!({"region": "ams", "redis_addr": "127.0.0.1:1", "kafka_addr": "nothing"});
    assert_error(&s.call("POST", "/v1/nodes/register", Some(SECRET), Some(bad)), 400, "kafka_addr");

    let node = s.kafka_node("k-ams", "ams", "127.0.0.1:9093");
    let replica_node = s.kafka_node("k-mad", "mad", "127.0.0.1:9094");
    let (st, c) = create();
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (st, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(st, 200);
    let clusters = intent["kafka_clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{intent}");
    assert_eq!(clusters[0]["id"], json!(id));
    assert_eq!(clusters[0]["credentials"][0]["username"], c["credentials"][0]["username"]);
    assert_eq!(clusters[0]["credentials"][0]["password"], c["credentials"][0]["password"]);
    assert_eq!(clusters[0]["credentials"][0]["access"], "full");
    // The replica region's node hosts nothing: replication is not built.
    let (_, replica_intent) = s.call("GET", &format!("/v1/nodes/{replica_node}/intent"), Some(SECRET), None);
    assert_eq!(replica_intent["kafka_clusters"], json!([]));

    let (_, before) = s.call("GET", "/v1/kafka/clusters/k", Some(&t), None);
    assert_eq!((before["status"].as_str(), before["endpoint"].as_str()), (Some("pending"), Some("127.0.0.1:9093")));
    let hb = json!({"tenants": [], "kafka_clusters": [id]});
    assert_eq!(s.call("POST", &format!("/v1/nodes/{node}/heartbeat"), Some(SECRET), Some(hb)).0, 204);
    let (_, after) = s.call("GET", "/v1/kafka/clusters/k", Some(&t), None);
    assert_eq!(after["status"], "ready", "{after}");

    // New credentials and revocations reach the intent; destroy empties it.
    let (_, extra) = s.call(
        "POST",
        "/v1/kafka/clusters/k/credentials",
        Some(&t),
        Some(json!({"access": "consume", "scope": {"kind": "topic", "value": "t"}})),
    );
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    let creds = intent["kafka_clusters"][0]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 2);
    let scoped = creds.iter().find(|c| c["username"] == extra["username"]).unwrap();
    assert_eq!(scoped["scope"], json!({"kind": "topic", "value": "t"}));
    assert_eq!(scoped["password"], extra["password"]);
    let first = c["credentials"][0]["username"].as_str().unwrap();
    s.call("DELETE", &format!("/v1/kafka/clusters/k/credentials/{first}"), Some(&t), None);
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(intent["kafka_clusters"][0]["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(intent["kafka_clusters"][0]["credentials"][0]["username"], extra["username"]);
    s.call("DELETE", "/v1/kafka/clusters/k", Some(&t), None);
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(intent["kafka_clusters"], json!([]));
}

/// Clusters are listed by name in byte order on both backends, and one name created from
/// many connections at once gives one cluster.
fn cluster_names_sort_by_bytes_and_race_to_one(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad"]);
    let names = s.names_listed_after_creating(&t, "/v1/kafka/clusters", json!({"primary_region": "mad"}));
    assert_eq!(names, NAMES_IN_BYTE_ORDER);
    let body = json!({"name": "same", "primary_region": "mad"});
    assert_one_created(&s.concurrently(8, "POST", "/v1/kafka/clusters", &t, body));
}
