//! Every endpoint against the real server on 127.0.0.1:0 on SQLite and on PostgreSQL: success,
//! validation errors, auth failures, not found, and isolation between orgs.

mod common;

use common::{assert_error, assert_one_created, Server, NAMES_IN_BYTE_ORDER, SECRET};
use serde_json::{json, Value};

on_both_backends!(
    orgs_create_list_and_auth,
    regions_and_plans,
    database_lifecycle,
    database_validation_errors,
    database_auth_and_not_found,
    another_orgs_database_is_invisible,
    nodes_register_heartbeat_intent,
    lists_sort_names_by_bytes,
    concurrent_creates_of_one_name_create_it_once,
    placement_picks_the_least_loaded_node_with_room,
);

fn orgs_create_list_and_auth(s: &Server) {
    let t = s.org("acme");
    let (st, v) = s.call("GET", "/v1/orgs", Some(&t), None);
    assert_eq!(st, 200);
    assert_eq!(v[0]["name"], "acme");
    assert_error(&s.call("POST", "/v1/orgs", Some(SECRET), Some(json!({"name": "acme"}))), 409, "already exists");
    assert_error(&s.call("POST", "/v1/orgs", Some(SECRET), Some(json!({"name": "Bad Name"}))), 400, "org name");
    assert_error(&s.call("POST", "/v1/orgs", Some(&t), Some(json!({"name": "x"}))), 401, "cluster secret");
    assert_error(&s.call("GET", "/v1/orgs", None, None), 401, "missing API token");
    assert_error(&s.call("GET", "/v1/orgs", Some("tern_wrong"), None), 401, "invalid API token");
    assert_error(&s.call("POST", "/v1/orgs", Some(SECRET), Some(json!({}))), 400, "invalid JSON");
    assert_error(&s.call("GET", "/v1/nope", Some(&t), None), 404, "no such API route");
}

fn regions_and_plans(s: &Server) {
    let t = s.org("acme");
    let (st, v) = s.call("GET", "/v1/regions", Some(&t), None);
    assert_eq!(st, 200);
    let codes: Vec<&str> = v.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    for c in ["ams", "cdg", "fra", "iad", "lhr", "mad", "nrt", "ord", "sjc", "syd", "gru", "sin"] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
    let mad = v.as_array().unwrap().iter().find(|r| r["code"] == "mad").unwrap();
    assert!((mad["latitude"].as_f64().unwrap() - 40.4).abs() < 0.1);
    assert!((mad["longitude"].as_f64().unwrap() + 3.7).abs() < 0.1);

    let (st, v) = s.call("GET", "/v1/plans", Some(&t), None);
    assert_eq!(st, 200);
    let plans = v.as_array().unwrap();
    let payg = plans.iter().find(|p| p["name"] == "payg").unwrap();
    assert_eq!(payg["free_commands_per_day"], 10000);
    assert_eq!(payg["price_per_100k_commands_cents"], 20);
    assert_eq!(payg["price_per_gb_month_cents"], 25);
    let free = plans.iter().find(|p| p["name"] == "free").unwrap();
    assert_eq!(free["max_data_bytes"], 256 * 1024 * 1024);
    let fixed = plans.iter().find(|p| p["name"] == "fixed-250mb").unwrap();
    assert_eq!(fixed["monthly_price_cents"], 1000);
    // Fixed plans pay for a reply that leaves only after its write is fsynced.
    for p in plans {
        let expected = if p["name"].as_str().unwrap().starts_with("fixed-") { "always" } else { "everysec" };
        assert_eq!(p["fsync"], expected, "{p}");
    }
    assert_eq!((payg["fsync"].as_str(), free["fsync"].as_str()), (Some("everysec"), Some("everysec")));

    // Live nodes per region: a node that serves Redis only counts for Redis.
    let counts = |code: &str| {
        let (_, v) = s.call("GET", "/v1/regions", Some(&t), None);
        let r = v.as_array().unwrap().iter().find(|r| r["code"] == code).unwrap().clone();
        (r["nodes"].as_i64().unwrap(), r["kafka_nodes"].as_i64().unwrap())
    };
    assert_eq!(counts("mad"), (0, 0));
    s.live_nodes(&["mad"]);
    s.node("redis-only", "mad", "127.0.0.1:7001");
    assert_eq!((counts("mad"), counts("ams")), ((2, 1), (0, 0)));

    assert_error(&s.call("GET", "/v1/regions", None, None), 401, "API token");
    assert_error(&s.call("GET", "/v1/plans", Some("nope"), None), 401, "API token");
}

fn database_lifecycle(s: &Server) {
    let t = s.org("acme");
    s.node("n-mad", "mad", "127.0.0.1:7001");
    s.live_nodes(&["ams", "iad", "fra"]);

    // Create: generated name, defaults, placement on the live node of the region.
    let (st, db) = s.call("POST", "/v1/databases", Some(&t), Some(json!({"primary_region": "mad"})));
    assert_eq!(st, 201, "{db}");
    let name = db["name"].as_str().unwrap().to_string();
    assert_eq!(name.split('-').count(), 3, "{name}");
    assert_eq!(db["plan"], "payg");
    assert_eq!(db["eviction"], false);
    assert_eq!(db["org"], "acme");
    assert_eq!(db["read_regions"], json!([]));
    let password = db["password"].as_str().unwrap().to_string();
    assert_eq!(db["url"], format!("redis://default:{password}@127.0.0.1:7001"));
    assert_eq!(db["regions"][0]["status"], "pending");

    // Named, with a read region: placed there too, pending (no endpoint) until its node
    // reports the replica caught up.
    let body = json!({"name": "cache", "primary_region": "mad", "read_regions": ["ams"], "plan": "fixed-250mb", "eviction": true});
    let (st, db2) = s.call("POST", "/v1/databases", Some(&t), Some(body));
    assert_eq!(st, 201, "{db2}");
    assert_eq!(db2["read_regions"], json!(["ams"]));
    assert_eq!(db2["regions"][1]["status"], "pending", "{db2}");
    assert_eq!(db2["regions"][1]["endpoint"], Value::Null);
    // A region without a live node is refused, naming those that have one.
    let refused = json!({"name": "nowhere", "primary_region": "cdg"});
    let message = "no node serves region cdg yet; regions with nodes: ams, fra, iad, mad";
    assert_error(&s.call("POST", "/v1/databases", Some(&t), Some(refused)), 409, message);
    let refused = json!({"name": "nowhere", "primary_region": "mad", "read_regions": ["cdg"]});
    assert_error(&s.call("POST", "/v1/databases", Some(&t), Some(refused)), 409, message);
    let add = json!({"add_read_regions": ["cdg"]});
    assert_error(&s.call("PATCH", "/v1/databases/cache", Some(&t), Some(add)), 409, message);

    // List and get (by name and by id).
    let (st, list) = s.call("GET", "/v1/databases", Some(&t), None);
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (st, got) = s.call("GET", "/v1/databases/cache", Some(&t), None);
    assert_eq!(st, 200);
    assert_eq!(got["id"], db2["id"]);
    let (st, got) = s.call("GET", &format!("/v1/databases/{}", db2["id"].as_str().unwrap()), Some(&t), None);
    assert_eq!((st, got["name"].as_str()), (200, Some("cache")));

    // Update: plan, eviction, read regions.
    let (st, up) = s.call(
        "PATCH",
        "/v1/databases/cache",
        Some(&t),
        Some(json!({"plan": "payg", "eviction": false, "add_read_regions": ["iad", "fra"], "remove_read_regions": ["ams"]})),
    );
    assert_eq!(st, 200, "{up}");
    assert_eq!(up["plan"], "payg");
    assert_eq!(up["eviction"], false);
    let mut read: Vec<String> = serde_json::from_value(up["read_regions"].clone()).unwrap();
    read.sort();
    assert_eq!(read, ["fra", "iad"]);
    let (st, up) = s.call("PATCH", "/v1/databases/cache", Some(&t), Some(json!({"read_regions": []})));
    assert_eq!((st, up["read_regions"].clone()), (200, json!([])));

    // Reset password.
    let (st, reset) = s.call("POST", "/v1/databases/cache/reset-password", Some(&t), None);
    assert_eq!(st, 200);
    assert_ne!(reset["password"], db2["password"]);

    // Delete.
    let (st, _) = s.call("DELETE", "/v1/databases/cache", Some(&t), None);
    assert_eq!(st, 200);
    assert_error(&s.call("GET", "/v1/databases/cache", Some(&t), None), 404, "not found");
    let (_, list) = s.call("GET", "/v1/databases", Some(&t), None);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

fn database_validation_errors(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad", "ams"]);
    let create = |body: Value| s.call("POST", "/v1/databases", Some(&t), Some(body));
    assert_error(&create(json!({})), 400, "primary_region is required");
    assert_error(&create(json!({"primary_region": "xyz"})), 400, "unknown region 'xyz'");
    assert_error(&create(json!({"primary_region": "mad", "read_regions": ["mad"]})), 400, "primary region");
    assert_error(&create(json!({"primary_region": "mad", "read_regions": ["ams", "ams"]})), 400, "twice");
    assert_error(&create(json!({"primary_region": "mad", "read_regions": ["zzz"]})), 400, "unknown region 'zzz'");
    assert_error(&create(json!({"primary_region": "mad", "plan": "gold"})), 400, "unknown plan");
    assert_error(&create(json!({"primary_region": "mad", "name": "Not Valid"})), 400, "invalid name");
    assert_error(&s.call("POST", "/v1/databases", Some(&t), None), 400, "invalid JSON");
    assert_eq!(create(json!({"primary_region": "mad", "name": "one", "plan": "free"})).0, 201);
    assert_error(&create(json!({"primary_region": "ams", "name": "one"})), 409, "already exists");
    assert_error(&create(json!({"primary_region": "mad", "plan": "free"})), 409, "one free database");

    let patch = |body: Value| s.call("PATCH", "/v1/databases/one", Some(&t), Some(body));
    assert_error(&patch(json!({"name": "two"})), 400, "name of a database cannot be changed");
    assert_error(&patch(json!({"primary_region": "ams"})), 400, "primary region of a database cannot be changed");
    assert_error(&patch(json!({"plan": "gold"})), 400, "unknown plan");
    assert_error(&patch(json!({"add_read_regions": ["mad"]})), 400, "primary region");
    assert_error(&patch(json!({"remove_read_regions": ["ams"]})), 400, "not a read region");
    // The same name and primary region are accepted (nothing changes).
    assert_eq!(patch(json!({"name": "one", "primary_region": "mad"})).0, 200);
}

fn database_auth_and_not_found(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad"]);
    assert_eq!(s.call("POST", "/v1/databases", Some(&t), Some(json!({"name": "x", "primary_region": "mad"}))).0, 201);
    for (method, path) in [
        ("GET", "/v1/databases"),
        ("POST", "/v1/databases"),
        ("GET", "/v1/databases/x"),
        ("PATCH", "/v1/databases/x"),
        ("DELETE", "/v1/databases/x"),
        ("POST", "/v1/databases/x/reset-password"),
    ] {
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        assert_error(&s.call(method, path, None, body.clone()), 401, "missing API token");
        assert_error(&s.call(method, path, Some("tern_bad"), body.clone()), 401, "invalid API token");
        assert_error(&s.call(method, path, Some(SECRET), body), 401, "invalid API token");
    }
    for (method, path) in [
        ("GET", "/v1/databases/missing"),
        ("PATCH", "/v1/databases/missing"),
        ("DELETE", "/v1/databases/missing"),
        ("POST", "/v1/databases/missing/reset-password"),
    ] {
        let body = (method == "PATCH").then(|| json!({}));
        assert_error(&s.call(method, path, Some(&t), body), 404, "not found");
    }
}

fn another_orgs_database_is_invisible(s: &Server) {
    let a = s.org("alpha");
    let b = s.org("beta");
    s.live_nodes(&["mad"]);
    let (_, db) = s.call("POST", "/v1/databases", Some(&a), Some(json!({"name": "secret", "primary_region": "mad"})));
    let id = db["id"].as_str().unwrap();
    let (_, list) = s.call("GET", "/v1/databases", Some(&b), None);
    assert_eq!(list, json!([]));
    for path in ["/v1/databases/secret".to_string(), format!("/v1/databases/{id}")] {
        assert_error(&s.call("GET", &path, Some(&b), None), 404, "not found");
        assert_error(&s.call("PATCH", &path, Some(&b), Some(json!({"plan": "payg"}))), 404, "not found");
        assert_error(&s.call("DELETE", &path, Some(&b), None), 404, "not found");
        assert_error(&s.call("POST", &format!("{path}/reset-password"), Some(&b), None), 404, "not found");
    }
    // Names are unique per org, not globally.
    let (st, _) = s.call("POST", "/v1/databases", Some(&b), Some(json!({"name": "secret", "primary_region": "mad"})));
    assert_eq!(st, 201);
    let (_, orgs) = s.call("GET", "/v1/orgs", Some(&b), None);
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["name"], "beta");
    // A still exists, unchanged.
    let (st, again) = s.call("GET", "/v1/databases/secret", Some(&a), None);
    assert_eq!((st, &again["password"]), (200, &db["password"]));
}

fn nodes_register_heartbeat_intent(s: &Server) {
    let t = s.org("acme");
    // No database before a node of its region exists.
    let create = || s.call("POST", "/v1/databases", Some(&t), Some(json!({"name": "a", "primary_region": "ams"})));
    assert_error(&create(), 409, "no node serves region ams yet; regions with nodes: none");

    let reg = |body: Value, token: &str| s.call("POST", "/v1/nodes/register", Some(token), Some(body));
    assert_error(&reg(json!({"region": "ams", "redis_addr": "127.0.0.1:1"}), &t), 401, "cluster secret");
    assert_error(&reg(json!({"region": "xyz", "redis_addr": "127.0.0.1:1"}), SECRET), 400, "unknown region");
    assert_error(&reg(json!({"region": "ams", "redis_addr": "nothing"}), SECRET), 400, "HOST:PORT");
    let (st, n) = reg(json!({"region": "ams", "redis_addr": "127.0.0.1:7002"}), SECRET);
    assert_eq!(st, 200, "{n}");
    let node = n["id"].as_str().unwrap().to_string();
    let (st, db) = create();
    assert_eq!((st, &db["regions"][0]["status"]), (201, &json!("pending")), "{db}");
    let id = db["id"].as_str().unwrap().to_string();
    // Same id, other region: refused.
    assert_error(&reg(json!({"id": node, "region": "mad", "redis_addr": "127.0.0.1:1"}), SECRET), 409, "registered in");

    let (st, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(st, 200);
    assert_eq!(intent["tenants"][0]["id"], json!(id));
    assert_eq!(intent["tenants"][0]["password"], db["password"]);
    // The limits come from the plan (payg by default) and the database's eviction setting.
    let limits = &intent["tenants"][0]["limits"];
    assert_eq!(limits["max_data_bytes"], json!(107374182400i64));
    assert_eq!(limits["max_connections"], json!(10000));
    assert_eq!(limits["max_key_bytes"], json!(32768));
    assert_eq!(limits["eviction"], json!(false));
    assert_eq!(limits["fsync"], json!("everysec"));
    s.call("PATCH", "/v1/databases/a", Some(&t), Some(json!({"eviction": true, "plan": "fixed-250mb"})));
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(intent["tenants"][0]["limits"]["eviction"], json!(true));
    assert_eq!(intent["tenants"][0]["limits"]["max_data_bytes"], json!(262144000));
    // A plan change changes the policy the node applies.
    assert_eq!(intent["tenants"][0]["limits"]["fsync"], json!("always"));
    assert_error(&s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(&t), None), 401, "cluster secret");
    assert_error(&s.call("GET", "/v1/nodes/ghost/intent", Some(SECRET), None), 404, "not registered");

    let (_, st1) = s.call("GET", "/v1/databases/a", Some(&t), None);
    assert_eq!(st1["regions"][0]["status"], "pending");
    assert_eq!(st1["url"], format!("redis://default:{}@127.0.0.1:7002", db["password"].as_str().unwrap()));
    let hb = json!({"tenants": [id]});
    assert_eq!(s.call("POST", &format!("/v1/nodes/{node}/heartbeat"), Some(SECRET), Some(hb.clone())).0, 204);
    assert_error(&s.call("POST", "/v1/nodes/ghost/heartbeat", Some(SECRET), Some(hb.clone())), 404, "not registered");
    assert_error(&s.call("POST", &format!("/v1/nodes/{node}/heartbeat"), None, Some(hb)), 401, "cluster secret");
    let (_, st2) = s.call("GET", "/v1/databases/a", Some(&t), None);
    assert_eq!(st2["regions"][0]["status"], "ready");

    // A read region places a replica on a node of that region, once the primary's node has a
    // replication listener to follow (this one registered without).
    let (st, m) =
        reg(json!({"region": "mad", "redis_addr": "127.0.0.1:7003", "replication_addr": "127.0.0.1:8003"}), SECRET);
    assert_eq!(st, 200, "{m}");
    let mad_node = m["id"].as_str().unwrap().to_string();
    let (st, up) = s.call("PATCH", "/v1/databases/a", Some(&t), Some(json!({"add_read_regions": ["mad"]})));
    assert_eq!((st, &up["read_regions"]), (200, &json!(["mad"])), "{up}");
    let (_, mad_intent) = s.call("GET", &format!("/v1/nodes/{mad_node}/intent"), Some(SECRET), None);
    assert_eq!(mad_intent["tenants"], json!([]), "{mad_intent}");
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(intent["tenants"][0]["id"], json!(id));
    assert_eq!(intent["tenants"][0]["role"], json!({"kind": "primary"}));
    let (st, _) = reg(
        json!({"id": node, "region": "ams", "redis_addr": "127.0.0.1:7002", "replication_addr": "127.0.0.1:8002"}),
        SECRET,
    );
    assert_eq!(st, 200);
    let (_, mad_intent) = s.call("GET", &format!("/v1/nodes/{mad_node}/intent"), Some(SECRET), None);
    assert_eq!(mad_intent["tenants"][0]["id"], json!(id), "{mad_intent}");
    assert_eq!(mad_intent["tenants"][0]["password"], db["password"]);
    let replica_of = json!({"kind": "replica", "primary_node": node, "primary_replication_addr": "127.0.0.1:8002",
        "primary_redis_addr": "127.0.0.1:7002"});
    assert_eq!(mad_intent["tenants"][0]["role"], replica_of, "{mad_intent}");
    let read_region = |s: &common::Server| {
        let (_, d) = s.call("GET", "/v1/databases/a", Some(&t), None);
        d["regions"].as_array().unwrap().iter().find(|r| r["region"] == "mad").cloned().unwrap()
    };
    let read = read_region(s);
    assert_eq!(
        (&read["role"], &read["status"], &read["endpoint"]),
        (&json!("replica"), &json!("pending"), &Value::Null)
    );
    // Its node hosts it while copying: still pending; streaming: ready, with its endpoint.
    let mad_hb = |state: &str| json!({"tenants": [id], "replicas": [{"id": id, "state": state, "applied_offset": 5, "lag_records": 0}]});
    assert_eq!(
        s.call("POST", &format!("/v1/nodes/{mad_node}/heartbeat"), Some(SECRET), Some(mad_hb("full_sync"))).0,
        204
    );
    let read = read_region(s);
    assert_eq!(
        (&read["status"], &read["endpoint"]),
        (&json!("pending: copying the data from the primary"), &Value::Null)
    );
    assert_eq!(
        s.call("POST", &format!("/v1/nodes/{mad_node}/heartbeat"), Some(SECRET), Some(mad_hb("streaming"))).0,
        204
    );
    let read = read_region(s);
    assert_eq!((&read["status"], &read["endpoint"]), (&json!("ready"), &json!("127.0.0.1:7003")));
    // Removed: the replica leaves the node's intent.
    s.call("PATCH", "/v1/databases/a", Some(&t), Some(json!({"remove_read_regions": ["mad"]})));
    let (_, mad_intent) = s.call("GET", &format!("/v1/nodes/{mad_node}/intent"), Some(SECRET), None);
    assert_eq!(mad_intent["tenants"], json!([]), "{mad_intent}");

    // Reset changes the intent's password; delete empties it.
    let (_, reset) = s.call("POST", "/v1/databases/a/reset-password", Some(&t), None);
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(intent["tenants"][0]["password"], reset["password"]);
    s.call("DELETE", "/v1/databases/a", Some(&t), None);
    let (_, intent) = s.call("GET", &format!("/v1/nodes/{node}/intent"), Some(SECRET), None);
    assert_eq!(intent["tenants"], json!([]));
}

/// Names sort by their bytes on both backends: '-' before digits before letters, although
/// the PostgreSQL test database's collation (like en_US.UTF-8) would ignore the '-'.
fn lists_sort_names_by_bytes(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad"]);
    let names = s.names_listed_after_creating(&t, "/v1/databases", json!({"primary_region": "mad"}));
    assert_eq!(names, NAMES_IN_BYTE_ORDER);
}

/// Creating one org, or one database name, from many connections at once (PostgreSQL runs
/// them in parallel) creates it once; every other request is told it exists, none fails.
fn concurrent_creates_of_one_name_create_it_once(s: &Server) {
    assert_one_created(&s.concurrently(8, "POST", "/v1/orgs", SECRET, json!({"name": "race"})));
    let t = s.org("acme");
    s.live_nodes(&["mad"]);
    let body = json!({"name": "same", "primary_region": "mad"});
    assert_one_created(&s.concurrently(8, "POST", "/v1/databases", &t, body));
    let (_, list) = s.call("GET", "/v1/databases", Some(&t), None);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

/// A new database goes to the live node of its region with the fewest databases and room
/// left (capacity counts placements; 0 is unlimited); ties go to the smaller node id by bytes.
fn placement_picks_the_least_loaded_node_with_room(s: &Server) {
    let t = s.org("acme");
    for (id, addr) in [("na", "127.0.0.1:7101"), ("n-b", "127.0.0.1:7102")] {
        let body = json!({"id": id, "region": "mad", "redis_addr": addr, "capacity": 1});
        assert_eq!(s.call("POST", "/v1/nodes/register", Some(SECRET), Some(body)).0, 200);
    }
    let endpoint = |name: &str| {
        let (st, db) = s.call("POST", "/v1/databases", Some(&t), Some(json!({"name": name, "primary_region": "mad"})));
        assert_eq!(st, 201, "{db}");
        db["regions"][0]["endpoint"].clone()
    };
    assert_eq!(endpoint("first"), json!("127.0.0.1:7102"));
    assert_eq!(endpoint("second"), json!("127.0.0.1:7101"));
    // Both nodes are full: the third waits for room, and says so.
    assert_eq!(endpoint("third"), Value::Null);
    let (_, third) = s.call("GET", "/v1/databases/third", Some(&t), None);
    assert_eq!(third["regions"][0]["status"], "pending: waiting for a node of region mad with room", "{third}");
}
