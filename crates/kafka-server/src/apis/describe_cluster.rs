//! DescribeCluster (60): the cluster id, its one broker (this node, the controller too) and,
//! when asked, what the credential may do on the cluster.

use crate::access::Access;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

/// "Not requested" for the authorized-operations field.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// `endpoint_type` asking for brokers (2 asks for controllers, which clients reach only
/// through brokers here).
const BROKERS: i8 = 1;

/// Kafka's `AclOperation` codes used for the cluster resource.
#[derive(Clone, Copy)]
enum AclOperation {
    Create = 5,
    Alter = 7,
    Describe = 8,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: DescribeClusterRequest = decode_body(&mut request.body, version)?;
    let (credential, cluster) = session.principal()?;
    let mut response = DescribeClusterResponse::default()
        .with_endpoint_type(body.endpoint_type)
        .with_cluster_id(StrBytes::from_string(cluster.id.0.clone()))
        .with_controller_id(BrokerId(session.broker.node_id))
        .with_cluster_authorized_operations(OPERATIONS_NOT_REQUESTED);
    if version >= 1 && body.endpoint_type != BROKERS {
        let response = response
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str("Only brokers can be described")));
        return encode_body(&response, version);
    }
    let (host, port) = session.broker.advertised();
    response.brokers = vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(session.broker.node_id))
        .with_host(StrBytes::from_string(host))
        .with_port(port)];
    if body.include_cluster_authorized_operations {
        response.cluster_authorized_operations = authorized_operations(credential.config.access);
    }
    encode_body(&response, version)
}

/// The bit set of cluster operations a credential may perform.
pub fn authorized_operations(access: Access) -> i32 {
    let mut operations = vec![AclOperation::Describe, AclOperation::DescribeConfigs];
    match access {
        Access::Full => operations.extend([
            AclOperation::Create,
            AclOperation::Alter,
            AclOperation::AlterConfigs,
            AclOperation::IdempotentWrite,
        ]),
        Access::ProduceOnly => operations.push(AclOperation::IdempotentWrite),
        Access::ConsumeOnly => {}
    }
    operations.into_iter().fold(0, |bits, op| bits | (1 << op as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::TopicScope;
    use crate::testing::{call, session};
    use kafka_protocol::messages::ApiKey;

    #[test]
    fn describes_this_node_as_the_only_broker() {
        let mut session = session(Access::ConsumeOnly, TopicScope::All);
        *session.broker.advertised.write() = ("127.0.0.1".into(), 9092);
        for version in [0, 1, 2] {
            let request = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
            let response: DescribeClusterResponse =
                call(super::handle, &mut session, ApiKey::DescribeCluster, version, &request);
            assert_eq!(response.error_code, 0);
            assert_eq!(response.cluster_id.as_str(), "c1");
            assert_eq!(response.brokers.len(), 1);
            assert_eq!((response.brokers[0].host.as_str(), response.brokers[0].port), ("127.0.0.1", 9092));
            assert_eq!(response.cluster_authorized_operations, (1 << 8) | (1 << 10));
        }
        let controllers = DescribeClusterRequest::default().with_endpoint_type(2);
        let response: DescribeClusterResponse =
            call(super::handle, &mut session, ApiKey::DescribeCluster, 1, &controllers);
        assert_eq!(response.error_code, ResponseError::UnsupportedEndpointType.code());
    }
}
