//! LeaveGroup (13): members leave at once instead of waiting for their session to expire
//! (one member up to v2, a batch by member or instance id from v3).

use super::group_common::{group_cluster, text};
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use std::time::Instant;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: LeaveGroupRequest = decode_body(&mut request.body, version)?;
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        body.members.iter().map(|m| (text(&m.member_id), m.group_instance_id.as_ref().map(text))).collect()
    } else {
        vec![(text(&body.member_id), None)]
    };
    let results = match group_cluster(session)? {
        Ok(cluster) => cluster.groups.leave(&text(&body.group_id.0), &leaving, Instant::now()),
        Err(error) => leaving.iter().map(|_| Err(error)).collect(),
    };
    let codes: Vec<i16> = results.iter().map(|r| r.err().map(|e| e.code()).unwrap_or(0)).collect();
    let response = if version >= 3 {
        let members = leaving
            .into_iter()
            .zip(&codes)
            .map(|((member_id, instance_id), code)| {
                MemberResponse::default()
                    .with_member_id(member_id.into())
                    .with_group_instance_id(instance_id.map(Into::into))
                    .with_error_code(*code)
            })
            .collect();
        LeaveGroupResponse::default().with_members(members)
    } else {
        LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0))
    };
    encode_body(&response, version)
}
