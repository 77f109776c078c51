//! SyncGroup (14): the leader hands out assignments; every member's SyncGroup is held until
//! the leader's arrives and is answered with that member's own assignment.

use super::group_common::{code, group_cluster, str_bytes, text, wait_for};
use crate::frame::{decode_body, encode_body, Request};
use crate::groups::group::{SyncOutcome, SyncRequest};
use crate::router::HandlerFuture;
use crate::session::Session;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use std::time::Instant;

pub fn handle(session: &mut Session, mut request: Request) -> HandlerFuture<'_> {
    Box::pin(async move {
        let version = request.version;
        let body: SyncGroupRequest = decode_body(&mut request.body, version)?;
        let outcome = match group_cluster(session)? {
            Err(error) => SyncOutcome::failed(error),
            Ok(cluster) => {
                let group_id = text(&body.group_id.0);
                let sync = SyncRequest {
                    member_id: text(&body.member_id),
                    instance_id: body.group_instance_id.as_ref().map(text),
                    generation: body.generation_id,
                    protocol_type: body.protocol_type.as_ref().map(text),
                    protocol_name: body.protocol_name.as_ref().map(text),
                    assignments: body.assignments.iter().map(|a| (text(&a.member_id), a.assignment.clone())).collect(),
                };
                let reply = cluster.groups.sync(&group_id, sync, Instant::now());
                wait_for(&cluster, &group_id, reply, || SyncOutcome::failed(ResponseError::RebalanceInProgress)).await
            }
        };
        let response = SyncGroupResponse::default()
            .with_error_code(code(outcome.error))
            .with_protocol_type(outcome.protocol_type.map(str_bytes))
            .with_protocol_name(outcome.protocol_name.map(str_bytes))
            .with_assignment(outcome.assignment);
        encode_body(&response, version)
    })
}
