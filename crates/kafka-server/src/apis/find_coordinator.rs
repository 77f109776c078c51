//! FindCoordinator (10): this broker coordinates every group of the clusters it serves.
//! Transactions are not served, so transaction coordinators are refused.

use super::group_common::str_bytes;
use crate::broker::NODE_ID;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

/// `key_type` of a consumer group (1 is a transactional id).
const KEY_TYPE_GROUP: i8 = 0;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: FindCoordinatorRequest = decode_body(&mut request.body, version)?;
    let (credential, _) = session.principal()?;
    let error = match body.key_type {
        KEY_TYPE_GROUP if credential.may_use_groups() => None,
        KEY_TYPE_GROUP => {
            Some((ResponseError::GroupAuthorizationFailed, "This credential may not use consumer groups"))
        }
        _ => Some((ResponseError::InvalidRequest, "Transactions are not supported")),
    };
    let (host, port) = session.broker.advertised();
    let answer = |key: &StrBytes| match error {
        None => Coordinator::default()
            .with_key(key.clone())
            .with_node_id(BrokerId(NODE_ID))
            .with_host(str_bytes(host.clone()))
            .with_port(port),
        Some((error, message)) => Coordinator::default()
            .with_key(key.clone())
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_static_str(message))),
    };
    let response = if version >= 4 {
        FindCoordinatorResponse::default().with_coordinators(body.coordinator_keys.iter().map(answer).collect())
    } else {
        let one = answer(&body.key);
        FindCoordinatorResponse::default()
            .with_error_code(one.error_code)
            .with_error_message(one.error_message)
            .with_node_id(one.node_id)
            .with_host(one.host)
            .with_port(one.port)
    };
    encode_body(&response, version)
}
