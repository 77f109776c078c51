//! The control plane started on 127.0.0.1:0 with in-memory SQLite, and a JSON caller.

#![allow(dead_code)]

use serde_json::{json, Value};

pub const SECRET: &str = "test-cluster-secret";

pub struct Server {
    base: String,
}

pub fn start() -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let store = control_plane::Store::open("sqlite::memory:").await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let config = control_plane::Config { cluster_secret: SECRET.into(), node_timeout_secs: 15 };
            control_plane::serve(listener, store, config).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Server { base: format!("http://{addr}") }
}

impl Server {
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap();
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        (status, value)
    }

    /// A new org; returns its token.
    pub fn org(&self, name: &str) -> String {
        let (st, v) = self.call("POST", "/v1/orgs", Some(SECRET), Some(json!({"name": name})));
        assert_eq!(st, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    pub fn node(&self, id: &str, region: &str, addr: &str) {
        let body = json!({"id": id, "region": region, "redis_addr": addr});
        let (st, v) = self.call("POST", "/v1/nodes/register", Some(SECRET), Some(body));
        assert_eq!(st, 200, "{v}");
    }

    /// Registers a node that serves Kafka at `kafka_addr`; returns its id.
    pub fn kafka_node(&self, id: &str, region: &str, kafka_addr: &str) -> String {
        let body = json!({"id": id, "region": region, "redis_addr": "127.0.0.1:6379", "kafka_addr": kafka_addr});
        let (st, v) = self.call("POST", "/v1/nodes/register", Some(SECRET), Some(body));
        assert_eq!(st, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

pub fn assert_error(r: &(u16, Value), status: u16, contains: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    assert_eq!(r.1["status"], status, "{}", r.1);
    let msg = r.1["error"].as_str().unwrap_or_default();
    assert!(msg.contains(contains), "expected '{contains}' in '{msg}'");
}
