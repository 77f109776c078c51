//! InitProducerId (22): gives idempotent producers their id and epoch (transactions are not
//! served, so a transactional id is refused).

use crate::access::Access;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: InitProducerIdRequest = decode_body(&mut request.body, version)?;
    let (credential, cluster) = session.principal()?;
    let mut response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if credential.config.access == Access::ConsumeOnly {
        response.error_code = ResponseError::ClusterAuthorizationFailed.code();
    } else if body.transactional_id.is_some() {
        response.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
    } else if body.producer_id.0 >= 0 && body.producer_epoch >= 0 && body.producer_epoch < i16::MAX - 1 {
        // KIP-360: a producer that lost track of its sequences bumps its epoch and keeps its id.
        response.producer_id = body.producer_id;
        response.producer_epoch = body.producer_epoch + 1;
    } else {
        response.producer_id = ProducerId(cluster.allocate_producer_id());
        response.producer_epoch = 0;
    }
    encode_body(&response, version)
}
