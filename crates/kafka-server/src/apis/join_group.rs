//! JoinGroup (11): a member joins (or rejoins) a group; the answer is held until the
//! rebalance completes, and the leader receives every member's metadata.

use super::group_common::{code, group_cluster, millis, str_bytes, text, wait_for};
use crate::frame::{decode_body, encode_body, Request};
use crate::groups::group::{JoinOutcome, JoinRequest, MemberIdPolicy};
use crate::router::HandlerFuture;
use crate::session::Session;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

pub fn handle(session: &mut Session, mut request: Request) -> HandlerFuture<'_> {
    Box::pin(async move {
        let version = request.version;
        let body: JoinGroupRequest = decode_body(&mut request.body, version)?;
        let member_id = text(&body.member_id);
        let outcome = match group_cluster(session)? {
            Err(error) => JoinOutcome::failed(member_id, error),
            Ok(cluster) => {
                let group_id = text(&body.group_id.0);
                let session_timeout = millis(body.session_timeout_ms);
                // v0 has no rebalance timeout: Kafka uses the session timeout.
                let rebalance_timeout = if version >= 1 { millis(body.rebalance_timeout_ms) } else { session_timeout };
                let join = JoinRequest {
                    member_id: member_id.clone(),
                    instance_id: body.group_instance_id.as_ref().map(text),
                    client_id: request.header.client_id.as_ref().map(text).unwrap_or_default(),
                    client_host: format!("/{}", session.peer.ip()),
                    session_timeout,
                    rebalance_timeout: rebalance_timeout.min(cluster.groups.limits.max_rebalance_timeout),
                    protocol_type: text(&body.protocol_type),
                    protocols: body.protocols.iter().map(|p| (text(&p.name), p.metadata.clone())).collect(),
                    id_policy: if version >= 4 {
                        MemberIdPolicy::RequireKnownId
                    } else {
                        MemberIdPolicy::AssignAndAdmit
                    },
                };
                let reply = cluster.groups.join(&group_id, join, Instant::now());
                wait_for(&cluster, &group_id, reply, || {
                    JoinOutcome::failed(member_id.clone(), ResponseError::UnknownMemberId)
                })
                .await
            }
        };
        encode_body(&response(outcome, version), version)
    })
}

fn response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    // The protocol name is nullable from v7 only; older versions get an empty string.
    let protocol_name = match outcome.protocol_name {
        Some(name) => Some(str_bytes(name)),
        None if version >= 7 => None,
        None => Some(StrBytes::default()),
    };
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.instance_id.map(str_bytes))
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(code(outcome.error))
        .with_generation_id(outcome.generation)
        .with_protocol_type(outcome.protocol_type.map(str_bytes))
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(outcome.leader))
        .with_member_id(str_bytes(outcome.member_id))
        .with_members(members)
}
