//! Test helpers: an authenticated session on a fresh broker in a temporary folder, and
//! requests encoded and responses decoded at a given version, so handlers are tested without
//! sockets.

use crate::access::{Access, ClusterId, CredentialConfig, TopicScope};
use crate::broker::{Broker, BrokerLimits, ClusterConfig};
use crate::frame::Request;
use crate::session::{AuthState, Session};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::sync::Arc;

/// A session authenticated as a credential of cluster c1 with this access and scope; the
/// cluster has the topics `mine` and `theirs` with one partition each.
pub fn session(access: Access, scope: TopicScope) -> Session {
    let dir = std::env::temp_dir().join(format!("tern-kafka-test-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
    let storage = crate::partition::Storage::on_real_disk();
    let broker = Arc::new(Broker::new(dir, storage, BrokerLimits::default()));
    let credential =
        CredentialConfig { cluster: ClusterId("c1".into()), username: "u".into(), password: "p".into(), access, scope };
    let config = ClusterConfig { id: ClusterId("c1".into()), credentials: vec![credential] };
    let cluster = broker.upsert_cluster(&config).unwrap();
    cluster.create_topic("mine", 1, Default::default(), false).unwrap();
    cluster.create_topic("theirs", 1, Default::default(), false).unwrap();
    let credential = broker.credentials.get("u").unwrap();
    let mut session = Session::new(broker, "127.0.0.1:1".parse().unwrap());
    session.auth = AuthState::Authenticated { credential, cluster };
    session
}

pub fn request(api_key: ApiKey, version: i16, body: &impl Encodable) -> Request {
    let mut bytes = BytesMut::new();
    body.encode(&mut bytes, version).unwrap();
    Request { api_key, version, header: RequestHeader::default(), body: bytes.freeze() }
}

pub fn decode<T: Decodable>(mut bytes: Bytes, version: i16) -> T {
    T::decode(&mut bytes, version).unwrap()
}

/// Runs a `Now` handler and decodes its answer.
pub fn call<T: Decodable>(
    handler: fn(&mut Session, &mut Request) -> anyhow::Result<Bytes>,
    session: &mut Session,
    api_key: ApiKey,
    version: i16,
    body: &impl Encodable,
) -> T {
    let answer = handler(session, &mut request(api_key, version, body)).unwrap();
    decode(answer, version)
}
