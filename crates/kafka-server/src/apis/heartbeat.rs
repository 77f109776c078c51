//! Heartbeat (12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use super::group_common::{group_cluster, text};
use crate::frame::{decode_body, encode_body, Request};
use crate::groups::group::MemberClaim;
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use std::time::Instant;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: HeartbeatRequest = decode_body(&mut request.body, version)?;
    let result = group_cluster(session)?.and_then(|cluster| {
        let member_id = text(&body.member_id);
        let instance_id = body.group_instance_id.as_ref().map(text);
        let claim =
            MemberClaim { member_id: &member_id, instance_id: instance_id.as_deref(), generation: body.generation_id };
        cluster.groups.heartbeat(&text(&body.group_id.0), &claim, Instant::now())
    });
    let error_code = result.err().map(|e| e.code()).unwrap_or(0);
    encode_body(&HeartbeatResponse::default().with_error_code(error_code), version)
}
