//! ListGroups (16): the cluster's groups, filtered by state (v4+) and type (v5+; every group
//! here is a classic one).

use super::group_common::{group_cluster, str_bytes};
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

const GROUP_TYPE: &str = "classic";

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: ListGroupsRequest = decode_body(&mut request.body, version)?;
    let cluster = match group_cluster(session)? {
        Ok(cluster) => cluster,
        Err(error) => return encode_body(&ListGroupsResponse::default().with_error_code(error.code()), version),
    };
    let wanted =
        |filter: &[StrBytes], value: &str| filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value));
    let groups = if wanted(&body.types_filter, GROUP_TYPE) { cluster.groups.list(Instant::now()) } else { Vec::new() };
    let listed = groups
        .into_iter()
        .filter(|g| wanted(&body.states_filter, g.state.name()))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(g.state.name()))
                .with_group_type(StrBytes::from_static_str(GROUP_TYPE))
        })
        .collect();
    encode_body(&ListGroupsResponse::default().with_groups(listed), version)
}
