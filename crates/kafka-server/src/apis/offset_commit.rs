//! OffsetCommit (8): committed offsets with their metadata, per group, topic and partition;
//! acknowledged only once written and fsynced to the cluster's offsets log.

use super::group_common::{group_cluster, make_durable, text};
use crate::access::Operation;
use crate::cluster::Cluster;
use crate::frame::{decode_body, encode_body, Request};
use crate::groups::group::{CommittedOffset, MemberClaim};
use crate::router::HandlerFuture;
use crate::session::Session;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};
use std::sync::Arc;
use std::time::Instant;

/// Each partition's verdict: `Some(error)` refused alone, `None` accepted so far (it then
/// shares the group's outcome).
type Verdicts = Vec<(TopicName, Vec<(i32, Option<ResponseError>)>)>;

pub fn handle(session: &mut Session, mut request: Request) -> HandlerFuture<'_> {
    Box::pin(async move {
        let version = request.version;
        let body: OffsetCommitRequest = decode_body(&mut request.body, version)?;
        let (verdicts, group_error) = match group_cluster(session)? {
            Err(error) => (verdicts_of(&body.topics, |_, _| None), Some(error)),
            Ok(cluster) => {
                let mut accepted = Vec::new();
                let verdicts = verdicts_of(&body.topics, |topic, partition| {
                    let name = text(&topic.name.0);
                    let error = check_partition(session, &cluster, &name, partition);
                    if error.is_none() {
                        accepted.push((name, partition.partition_index, committed(partition, version)));
                    }
                    error
                });
                (verdicts, commit(&cluster, &body, accepted).await.err())
            }
        };
        let topics = verdicts
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(index, error)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(error.or(group_error).map(|e| e.code()).unwrap_or(0))
                    })
                    .collect();
                OffsetCommitResponseTopic::default().with_name(name).with_partitions(partitions)
            })
            .collect();
        encode_body(&OffsetCommitResponse::default().with_topics(topics), version)
    })
}

type Partition = kafka_protocol::messages::offset_commit_request::OffsetCommitRequestPartition;

fn verdicts_of(
    topics: &[OffsetCommitRequestTopic],
    mut check: impl FnMut(&OffsetCommitRequestTopic, &Partition) -> Option<ResponseError>,
) -> Verdicts {
    topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.iter().map(|p| (p.partition_index, check(t, p))).collect()))
        .collect()
}

fn check_partition(session: &Session, cluster: &Cluster, topic: &str, partition: &Partition) -> Option<ResponseError> {
    if !session.allows(Operation::Consume, topic) {
        return Some(ResponseError::TopicAuthorizationFailed);
    }
    let exists = cluster.topic(topic).is_some_and(|t| (0..t.partition_count()).contains(&partition.partition_index));
    if !exists {
        return Some(ResponseError::UnknownTopicOrPartition);
    }
    let metadata_bytes = partition.committed_metadata.as_ref().map(|m| m.len()).unwrap_or(0);
    (metadata_bytes > cluster.groups.limits.max_offset_metadata_bytes).then_some(ResponseError::OffsetMetadataTooLarge)
}

fn committed(partition: &Partition, version: i16) -> CommittedOffset {
    CommittedOffset {
        offset: partition.committed_offset,
        leader_epoch: if version >= 6 { partition.committed_leader_epoch } else { -1 },
        metadata: partition.committed_metadata.as_ref().map(text),
        commit_timestamp_ms: unix_ms(),
    }
}

async fn commit(
    cluster: &Arc<Cluster>,
    body: &OffsetCommitRequest,
    accepted: Vec<(String, i32, CommittedOffset)>,
) -> Result<(), ResponseError> {
    if accepted.is_empty() {
        return Ok(());
    }
    let member_id = text(&body.member_id);
    let instance_id = body.group_instance_id.as_ref().map(text);
    let claim = MemberClaim {
        member_id: &member_id,
        instance_id: instance_id.as_deref(),
        generation: body.generation_id_or_member_epoch,
    };
    let seq = cluster.groups.commit(&text(&body.group_id.0), &claim, accepted, Instant::now())?;
    make_durable(cluster, seq).await
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
