//! `GET /v1/kafka/clusters/{name}/topics` and `…/topics/{topic}/messages` against a real broker (the `kafka-server` crate on
//! 127.0.0.1:0) serving the cluster with the credentials the control plane generated.

mod common;

use common::{assert_error, Server};
use kafka_server::partition::Storage;
use kafka_server::{Access, Broker, BrokerLimits, ClusterConfig, ClusterId, CredentialConfig, TopicScope};
use serde_json::{json, Value};
use std::sync::Arc;

/// A broker on a free port, registered as region `mad`'s Kafka node, and its data folder
/// (unique per broker; the test removes it).
fn real_broker(s: &Server) -> (Arc<Broker>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tern-cp-topics-{}", control_plane::store::random_hex(8)));
    let storage = Storage::on_real_disk();
    storage.spawn().unwrap();
    let broker = Arc::new(Broker::new(dir.clone(), storage, BrokerLimits::default()));
    let server = kafka_server::server::start(broker.clone(), "127.0.0.1:0".parse().unwrap(), 1).unwrap();
    s.kafka_node("kafka-mad", "mad", &server.local_addr.to_string());
    (broker, dir)
}

/// Creates cluster `name` and serves it on `broker` with its credentials, as a node would.
fn served_cluster(s: &Server, broker: &Broker, token: &str, name: &str) -> Value {
    let body = json!({"name": name, "primary_region": "mad"});
    let (st, c) = s.call("POST", "/v1/kafka/clusters", Some(token), Some(body));
    assert_eq!(st, 201, "{c}");
    let id = ClusterId(c["id"].as_str().unwrap().into());
    let credentials = c["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| CredentialConfig {
            cluster: id.clone(),
            username: k["username"].as_str().unwrap().into(),
            password: k["password"].as_str().unwrap().into(),
            access: Access::Full,
            scope: TopicScope::All,
        })
        .collect();
    broker.upsert_cluster(&ClusterConfig { id, credentials }).unwrap();
    c
}

fn topics_are_listed_from_the_broker(s: &Server) {
    let (broker, dir) = real_broker(s);
    let t = s.org("acme");
    let c = served_cluster(s, &broker, &t, "events");
    let (st, v) = s.call("GET", "/v1/kafka/clusters/events/topics", Some(&t), None);
    assert_eq!((st, v), (200, json!([])));
    let credential = &c["credentials"][0];
    let mut admin = kafka_admin::KafkaAdmin::connect(
        c["endpoint"].as_str().unwrap(),
        credential["username"].as_str().unwrap(),
        credential["password"].as_str().unwrap(),
    )
    .unwrap();
    admin.create_topic("orders", 3, &[]).unwrap();
    admin.create_topic("audit", 1, &[]).unwrap();
    let (st, v) = s.call("GET", "/v1/kafka/clusters/events/topics", Some(&t), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!([{"name": "audit", "partitions": 1}, {"name": "orders", "partitions": 3}]));

    // Messages are read with ListOffsets and Fetch (records produced are checked end to end
    // by tests/python/test_console.py; this client has no Produce).
    let (st, v) = s.call("GET", "/v1/kafka/clusters/events/topics/orders/messages", Some(&t), None);
    assert_eq!((st, v), (200, json!([])));
    let missing = s.call("GET", "/v1/kafka/clusters/events/topics/nope/messages", Some(&t), None);
    assert_error(&missing, 502, "topic 'nope'");

    let other = s.org("globex");
    for path in ["/v1/kafka/clusters/events/topics", "/v1/kafka/clusters/events/topics/orders/messages"] {
        assert_error(&s.call("GET", path, Some(&other), None), 404, "not found");
        assert_error(&s.call("GET", path, None, None), 401, "missing API token");
    }
    let _ = std::fs::remove_dir_all(dir);
}

on_both_backends!(topics_are_listed_from_the_broker);

/// A broker that accepts and never answers ends at the timeout; a closed port is a 502.
#[test]
fn silent_and_missing_brokers_are_reported() {
    let s = common::start(common::TestDb::create(common::Backend::Sqlite).unwrap());
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s.kafka_node("silent", "mad", &silent.local_addr().unwrap().to_string());
    let t = s.org("acme");
    let (st, c) =
        s.call("POST", "/v1/kafka/clusters", Some(&t), Some(json!({"name": "events", "primary_region": "mad"})));
    assert_eq!(st, 201, "{c}");
    assert_error(&s.call("GET", "/v1/kafka/clusters/events/topics", Some(&t), None), 504, "within 5 s");
    drop(silent);
    assert_error(&s.call("GET", "/v1/kafka/clusters/events/topics", Some(&t), None), 502, "reading 'events'");
}
