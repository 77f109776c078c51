//! Starts a Kafka broker in-process on a free loopback port, with one cluster and one
//! full-access SASL user, for client integration tests (`tests/`).

use kafka_server::partition::Storage;
use kafka_server::{Access, Broker, BrokerLimits, ClusterConfig, ClusterId, CredentialConfig, TopicScope};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A running broker; its data folder is removed when dropped (the listener threads end with
/// the test process).
pub struct TestBroker {
    pub addr: SocketAddr,
    pub username: String,
    pub password: String,
    dir: PathBuf,
}

impl TestBroker {
    pub fn start() -> std::io::Result<TestBroker> {
        let dir = std::env::temp_dir().join(format!("tern-client-tests-{}-{}", std::process::id(), unique()));
        let storage = Storage::on_real_disk();
        storage.spawn()?;
        let broker = Arc::new(Broker::new(dir.clone(), storage, BrokerLimits::default()));
        let (username, password) = ("client-test".to_string(), "client-secret".to_string());
        let cluster = ClusterConfig {
            id: ClusterId("c1".into()),
            credentials: vec![CredentialConfig {
                cluster: ClusterId("c1".into()),
                username: username.clone(),
                password: password.clone(),
                access: Access::Full,
                scope: TopicScope::All,
            }],
        };
        broker.upsert_cluster(&cluster).map_err(std::io::Error::other)?;
        let server = kafka_server::server::start(broker, "127.0.0.1:0".parse().map_err(std::io::Error::other)?, 2)?;
        Ok(TestBroker { addr: server.local_addr, username, password, dir })
    }

    /// librdkafka settings reaching this broker with SCRAM-SHA-256.
    pub fn client_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("bootstrap.servers", self.addr.to_string()),
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanisms", "SCRAM-SHA-256".into()),
            ("sasl.username", self.username.clone()),
            ("sasl.password", self.password.clone()),
        ]
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}
