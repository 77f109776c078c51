//! What protects data against races and lost state, on SQLite and on PostgreSQL: one free
//! database per org however many requests race for it, and the state's `deployment_id` that
//! nodes compare before deleting anything (with what they report holding back).

mod common;

use common::{assert_error, Server, SECRET};
use serde_json::{json, Value};

on_both_backends!(
    concurrent_free_creates_make_one_free_database,
    concurrent_plan_changes_to_free_make_one_free_database,
    intents_and_registrations_carry_the_deployment_id,
    regions_show_nodes_holding_back,
);

/// Rounds of racing requests: a race lost once may be won the next time.
const ROUNDS: usize = 5;

/// Sends each of `requests` (method, path, body) from its own thread at once.
fn race(s: &Server, token: &str, requests: &[(&str, String, Value)]) -> Vec<(u16, Value)> {
    std::thread::scope(|scope| {
        let calls: Vec<_> = requests
            .iter()
            .map(|(method, path, body)| scope.spawn(|| s.call(method, path, Some(token), Some(body.clone()))))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    })
}

/// Exactly one of `replies` succeeded with `ok`; the others got the one-free-database 409.
fn assert_one_free(replies: &[(u16, Value)], ok: u16) {
    assert_eq!(replies.iter().filter(|r| r.0 == ok).count(), 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.0 != ok) {
        assert_error(r, 409, "this org already has its one free database; choose another plan");
    }
}

fn free_databases(s: &Server, token: &str) -> usize {
    let (_, list) = s.call("GET", "/v1/databases", Some(token), None);
    list.as_array().unwrap().iter().filter(|d| d["plan"] == "free").count()
}

fn concurrent_free_creates_make_one_free_database(s: &Server) {
    s.live_nodes(&["mad"]);
    for round in 0..ROUNDS {
        let t = s.org(&format!("org-{round}"));
        // No name: each request gets its own generated one, so only the plan collides.
        let create = ("POST", "/v1/databases".to_string(), json!({"primary_region": "mad", "plan": "free"}));
        let replies = race(s, &t, &[create.clone(), create.clone(), create]);
        assert_one_free(&replies, 201);
        assert_eq!(free_databases(s, &t), 1);
    }
}

fn concurrent_plan_changes_to_free_make_one_free_database(s: &Server) {
    s.live_nodes(&["mad"]);
    for round in 0..ROUNDS {
        let t = s.org(&format!("org-{round}"));
        let mut patches = Vec::new();
        for name in ["one", "two", "three"] {
            let body = json!({"name": name, "primary_region": "mad", "plan": "payg"});
            assert_eq!(s.call("POST", "/v1/databases", Some(&t), Some(body)).0, 201);
            patches.push(("PATCH", format!("/v1/databases/{name}"), json!({"plan": "free"})));
        }
        assert_one_free(&race(s, &t, &patches), 200);
        assert_eq!(free_databases(s, &t), 1);
    }
}

fn intents_and_registrations_carry_the_deployment_id(s: &Server) {
    let body = json!({"id": "n1", "region": "mad", "redis_addr": "127.0.0.1:7001"});
    let (st, reg) = s.call("POST", "/v1/nodes/register", Some(SECRET), Some(body));
    assert_eq!(st, 200, "{reg}");
    let id = reg["deployment_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("dep_"), "{reg}");
    let (st, intent) = s.call("GET", "/v1/nodes/n1/intent", Some(SECRET), None);
    assert_eq!(st, 200, "{intent}");
    assert_eq!(intent["deployment_id"], json!(id));
}

fn regions_show_nodes_holding_back(s: &Server) {
    let t = s.org("acme");
    s.live_nodes(&["mad", "ams"]);
    let held = json!({"served_deployment": "dep_old", "kept_tenants": ["db_1", "db_2"]});
    let hb = json!({"tenants": ["db_1", "db_2"], "held_back": held});
    assert_eq!(s.call("POST", "/v1/nodes/live-mad/heartbeat", Some(SECRET), Some(hb)).0, 204);
    let region = |code: &str| {
        let (_, regions) = s.call("GET", "/v1/regions", Some(&t), None);
        regions.as_array().unwrap().iter().find(|r| r["code"] == code).unwrap().clone()
    };
    let mad = region("mad");
    assert_eq!(mad["held_back"][0]["node"], "live-mad", "{mad}");
    assert_eq!(mad["held_back"][0]["served_deployment"], "dep_old", "{mad}");
    assert_eq!(mad["held_back"][0]["kept_tenants"], json!(["db_1", "db_2"]), "{mad}");
    assert!(region("ams").get("held_back").is_none());
    // A heartbeat without it (the node adopted this state, or is back on its own) clears it.
    assert_eq!(s.call("POST", "/v1/nodes/live-mad/heartbeat", Some(SECRET), Some(json!({"tenants": []}))).0, 204);
    assert!(region("mad").get("held_back").is_none());
}
