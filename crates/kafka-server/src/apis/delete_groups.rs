//! DeleteGroups (42): removes groups without members, with their committed offsets (durably).

use super::group_common::{group_cluster, make_durable};
use crate::frame::{decode_body, encode_body, Request};
use crate::router::HandlerFuture;
use crate::session::Session;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};
use std::time::Instant;

pub fn handle(session: &mut Session, mut request: Request) -> HandlerFuture<'_> {
    Box::pin(async move {
        let version = request.version;
        let body: DeleteGroupsRequest = decode_body(&mut request.body, version)?;
        let access = group_cluster(session)?;
        let mut results = Vec::with_capacity(body.groups_names.len());
        for group_id in &body.groups_names {
            let outcome = match &access {
                Err(error) => Err(*error),
                Ok(cluster) => match cluster.groups.delete(group_id.0.as_str(), Instant::now()) {
                    Ok(seq) => make_durable(cluster, seq).await,
                    Err(error) => Err(error),
                },
            };
            let error_code = outcome.err().map(|e| e.code()).unwrap_or(0);
            results.push(DeletableGroupResult::default().with_group_id(group_id.clone()).with_error_code(error_code));
        }
        encode_body(&DeleteGroupsResponse::default().with_results(results), version)
    })
}
