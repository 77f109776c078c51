//! Usage reports from nodes, usage per day, the bill, and the free-allowance notification,
//! against the real server on SQLite and on PostgreSQL.

mod common;

use common::{assert_error, Server, SECRET};
use serde_json::{json, Value};

on_both_backends!(
    reports_are_upserts_and_bill_follows_the_plan,
    report_validation_and_auth,
    kafka_clusters_and_fixed_plans_are_billed,
);

fn this_hour() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    now - now % 3600
}

fn report(s: &common::Server, node: &str, records: Value) -> (u16, Value) {
    s.call("POST", &format!("/v1/nodes/{node}/usage"), Some(SECRET), Some(json!({ "records": records })))
}

fn reports_are_upserts_and_bill_follows_the_plan(s: &Server) {
    let t = s.org("acme");
    s.node("n-mad", "mad", "127.0.0.1:7001");
    let (st, db) = s.call("POST", "/v1/databases", Some(&t), Some(json!({"name": "cache", "primary_region": "mad"})));
    assert_eq!(st, 201, "{db}");
    let id = db["id"].as_str().unwrap().to_string();
    assert!(db.get("usage").is_none(), "no usage before a report: {db}");
    let hour = this_hour();
    let rec = |billable: u64| {
        json!([{"kind": "redis", "id": id, "hour": hour, "billable_commands": billable, "free_commands": 3,
                "bytes_in": 100, "bytes_out": 200, "peak_data_bytes": 1000, "data_bytes": 900, "connections": 2}])
    };
    // The same hour reported three times (a retry, then a later total): replaced, not added.
    assert_eq!(report(s, "n-mad", rec(4_000)).0, 204);
    assert_eq!(report(s, "n-mad", rec(4_000)).0, 204);
    assert_eq!(report(s, "n-mad", rec(12_000)).0, 204);
    let (st, v) = s.call("GET", "/v1/usage?name=cache", Some(&t), None);
    assert_eq!(st, 200, "{v}");
    let days = &v["resources"][0]["days"];
    assert_eq!(days.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(days[0]["billable_commands"], 12_000);
    assert_eq!(days[0]["free_commands"], 3);
    assert_eq!(days[0]["bytes_out"], 200);
    // 2,000 commands over the 10,000 allowance at $0.20 per 100K = 4,000 micro-dollars,
    // plus a sliver of storage (1000 bytes for an hour).
    let lines = v["bill"].as_array().unwrap();
    let commands = lines.iter().find(|l| l["description"].as_str().unwrap().contains("commands")).unwrap();
    assert_eq!(commands["amount_micros"], 4_000, "{v}");
    assert!(commands["description"].as_str().unwrap().starts_with("2,000 "), "{commands}");

    // Another node's counts add to this one's; its copy of the data does not double the
    // database's size.
    s.node("n-mad-2", "mad", "127.0.0.1:7002");
    let other = json!([{"kind": "redis", "id": id, "hour": hour, "billable_commands": 1, "connections": 1,
                        "data_bytes": 850}]);
    assert_eq!(report(s, "n-mad-2", other).0, 204);
    let (_, db) = s.call("GET", "/v1/databases/cache", Some(&t), None);
    assert_eq!(db["usage"]["billable_commands_today"], 12_001, "{db}");
    assert_eq!(db["usage"]["connections"], 3, "{db}");
    assert_eq!(db["usage"]["data_bytes"], 900, "{db}");

    // One notification for the day, however many reports.
    let (st, n) = s.call("GET", "/v1/notifications", Some(&t), None);
    assert_eq!(st, 200);
    assert_eq!(n.as_array().unwrap().len(), 1, "{n}");
    assert_eq!(n[0]["kind"], "free-allowance-exceeded");
    assert!(n[0]["message"].as_str().unwrap().contains("'cache'"), "{n}");
    // Another org sees neither.
    let t2 = s.org("other");
    assert_eq!(s.call("GET", "/v1/notifications", Some(&t2), None).1, json!([]));
    assert_error(&s.call("GET", "/v1/usage?name=cache", Some(&t2), None), 404, "no database");
}

fn report_validation_and_auth(s: &Server) {
    let t = s.org("acme");
    s.node("n-mad", "mad", "127.0.0.1:7001");
    let hour = this_hour();
    let ok = json!([{"kind": "kafka", "id": "kc_x", "hour": hour, "messages_produced": 5}]);
    assert_error(
        &s.call("POST", "/v1/nodes/n-mad/usage", Some(&t), Some(json!({"records": ok}))),
        401,
        "cluster secret",
    );
    assert_error(&report(s, "nope", ok.clone()), 404, "not registered");
    let bad = json!([{"kind": "redis", "id": "db_x", "hour": hour + 5}]);
    assert_error(&report(s, "n-mad", bad), 400, "start of an hour");
    assert_eq!(report(s, "n-mad", ok).0, 204);
}

fn kafka_clusters_and_fixed_plans_are_billed(s: &Server) {
    let t = s.org("acme");
    s.kafka_node("n-mad", "mad", "127.0.0.1:9092");
    s.node("n-ams", "ams", "127.0.0.1:7002");
    let (st, c) =
        s.call("POST", "/v1/kafka/clusters", Some(&t), Some(json!({"name": "events", "primary_region": "mad"})));
    assert_eq!(st, 201, "{c}");
    let cid = c["id"].as_str().unwrap();
    let body = json!({"name": "fixed", "primary_region": "mad", "plan": "fixed-250mb", "read_regions": ["ams"]});
    assert_eq!(s.call("POST", "/v1/databases", Some(&t), Some(body)).0, 201);
    let hour = this_hour();
    let rec = json!([{"kind": "kafka", "id": cid, "hour": hour, "messages_produced": 60_000, "messages_consumed": 40_000,
                      "bytes_produced": 1234}]);
    assert_eq!(report(s, "n-mad", rec).0, 204);
    let (_, v) = s.call("GET", "/v1/usage", Some(&t), None);
    let line = |name: &str| -> i64 {
        v["bill"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["name"] == name)
            .map(|l| l["amount_micros"].as_i64().unwrap())
            .sum()
    };
    // 100K messages at $0.20 per 100K; $10 a month + 50% for one read region.
    assert_eq!(line("events"), 200_000, "{v}");
    assert_eq!(line("fixed"), 15_000_000, "{v}");
    assert_eq!(v["total_micros"], 15_200_000);
    let (_, c) = s.call("GET", "/v1/kafka/clusters/events", Some(&t), None);
    assert_eq!(c["usage"]["messages_produced_today"], 60_000, "{c}");
}
