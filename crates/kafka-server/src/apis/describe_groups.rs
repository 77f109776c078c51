//! DescribeGroups (15): state, protocol and members of groups (their metadata and assignments
//! once the group is stable, as Kafka shows them).

use super::group_common::{group_cluster, str_bytes};
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

/// "Not requested" for the authorized-operations field.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: DescribeGroupsRequest = decode_body(&mut request.body, version)?;
    let access = group_cluster(session)?;
    let now = Instant::now();
    let groups = body
        .groups
        .iter()
        .map(|group_id| {
            let described = DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(OPERATIONS_NOT_REQUESTED);
            let cluster = match &access {
                Ok(cluster) => cluster,
                Err(error) => return described.with_error_code(error.code()),
            };
            let Some(group) = cluster.groups.describe(group_id.0.as_str(), now) else {
                // Kafka describes an unknown group as a dead one (v6 made it an error).
                return match version {
                    6.. => described.with_error_code(ResponseError::GroupIdNotFound.code()),
                    _ => described.with_group_state(StrBytes::from_static_str("Dead")),
                };
            };
            let members = group
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.instance_id.map(str_bytes))
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            described
                .with_group_state(StrBytes::from_static_str(group.state.name()))
                .with_protocol_type(str_bytes(group.protocol_type))
                .with_protocol_data(str_bytes(group.protocol))
                .with_members(members)
        })
        .collect();
    encode_body(&DescribeGroupsResponse::default().with_groups(groups), version)
}
