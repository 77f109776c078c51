//! OffsetDelete (47): removes committed offsets of chosen partitions from a group without
//! members (durably).

use super::group_common::{group_cluster, make_durable, text};
use crate::access::Operation;
use crate::frame::{decode_body, encode_body, Request};
use crate::router::HandlerFuture;
use crate::session::Session;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use std::time::Instant;

pub fn handle(session: &mut Session, mut request: Request) -> HandlerFuture<'_> {
    Box::pin(async move {
        let version = request.version;
        let body: OffsetDeleteRequest = decode_body(&mut request.body, version)?;
        let readable = |topic: &str| session.allows(Operation::Consume, topic);
        let partitions: Vec<(String, i32)> = body
            .topics
            .iter()
            .filter(|t| readable(t.name.0.as_str()))
            .flat_map(|t| t.partitions.iter().map(|p| (text(&t.name.0), p.partition_index)))
            .collect();
        let group_error = match group_cluster(session)? {
            Err(error) => Some(error),
            Ok(cluster) => match cluster.groups.delete_offsets(body.group_id.0.as_str(), &partitions, Instant::now()) {
                Ok(seq) => make_durable(&cluster, seq).await.err(),
                Err(error) => Some(error),
            },
        };
        let topics = body
            .topics
            .iter()
            .map(|t| {
                let error = (!readable(t.name.0.as_str())).then_some(ResponseError::TopicAuthorizationFailed);
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.map(|e| e.code()).unwrap_or(0))
                    })
                    .collect();
                OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
            })
            .collect();
        let error_code = group_error.map(|e| e.code()).unwrap_or(0);
        encode_body(&OffsetDeleteResponse::default().with_error_code(error_code).with_topics(topics), version)
    })
}
