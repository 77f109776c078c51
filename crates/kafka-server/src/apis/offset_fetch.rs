//! OffsetFetch (9): committed offsets of a group (up to v7) or of several groups (v8);
//! partitions never committed answer offset -1.

use super::group_common::{group_cluster, str_bytes, text};
use crate::access::Operation;
use crate::frame::{decode_body, encode_body, Request};
use crate::groups::group::CommittedOffset;
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};

/// One partition's answer.
struct Fetched {
    partition: i32,
    committed: Option<CommittedOffset>,
    error: Option<ResponseError>,
}

/// One group's answer: a group-level error, or its topics.
struct GroupOffsets {
    error: Option<ResponseError>,
    topics: Vec<(String, Vec<Fetched>)>,
}

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: OffsetFetchRequest = decode_body(&mut request.body, version)?;
    if version >= 8 {
        let mut groups = Vec::with_capacity(body.groups.len());
        for group in &body.groups {
            let wanted = group
                .topics
                .as_ref()
                .map(|topics| topics.iter().map(|t| (text(&t.name.0), t.partition_indexes.clone())).collect());
            let answer = fetch_group(session, &text(&group.group_id.0), wanted)?;
            groups.push(batched(group.group_id.clone(), answer));
        }
        return encode_body(&OffsetFetchResponse::default().with_groups(groups), version);
    }
    let wanted = body
        .topics
        .as_ref()
        .map(|topics| topics.iter().map(|t| (text(&t.name.0), t.partition_indexes.clone())).collect());
    let answer = fetch_group(session, &text(&body.group_id.0), wanted)?;
    let topics = answer
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions.into_iter().map(|f| fill!(OffsetFetchResponsePartition, f)).collect();
            OffsetFetchResponseTopic::default().with_name(TopicName(str_bytes(name))).with_partitions(partitions)
        })
        .collect();
    let error_code = answer.error.map(|e| e.code()).unwrap_or(0);
    encode_body(&OffsetFetchResponse::default().with_topics(topics).with_error_code(error_code), version)
}

/// Both partition types of the response (single group, batched groups) have the same fields.
macro_rules! fill {
    ($kind:ident, $fetched:expr) => {{
        let f = $fetched;
        let (offset, epoch, metadata) = match f.committed {
            Some(c) => (c.offset, c.leader_epoch, c.metadata.unwrap_or_default()),
            None => (-1, -1, String::new()),
        };
        $kind::default()
            .with_partition_index(f.partition)
            .with_committed_offset(offset)
            .with_committed_leader_epoch(epoch)
            .with_metadata(Some(str_bytes(metadata)))
            .with_error_code(f.error.map(|e| e.code()).unwrap_or(0))
    }};
}
use fill;

fn batched(group_id: GroupId, answer: GroupOffsets) -> OffsetFetchResponseGroup {
    let topics = answer
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions.into_iter().map(|f| fill!(OffsetFetchResponsePartitions, f)).collect();
            OffsetFetchResponseTopics::default().with_name(TopicName(str_bytes(name))).with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
        .with_error_code(answer.error.map(|e| e.code()).unwrap_or(0))
}

/// The committed offsets of `wanted` topics' partitions (`None`: every topic the group
/// committed and the credential may read).
fn fetch_group(
    session: &Session,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> anyhow::Result<GroupOffsets> {
    let cluster = match group_cluster(session)? {
        Ok(cluster) => cluster,
        Err(error) => {
            // Old clients read errors per partition only, so they get it there too.
            let topics = wanted.unwrap_or_default().into_iter().map(|(t, ps)| (t, refused(&ps, error))).collect();
            return Ok(GroupOffsets { error: Some(error), topics });
        }
    };
    let readable = |topic: &str| session.allows(Operation::Consume, topic);
    let Some(wanted) = wanted else {
        let topics = cluster
            .groups
            .fetch_all(group_id)
            .into_iter()
            .filter(|(topic, _)| readable(topic))
            .map(|(topic, offsets)| (topic, found(offsets)))
            .collect();
        return Ok(GroupOffsets { error: None, topics });
    };
    let (allowed, denied): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|(topic, _)| readable(topic));
    let offsets = cluster.groups.fetch(group_id, &allowed);
    let mut topics: Vec<(String, Vec<Fetched>)> =
        allowed.into_iter().zip(offsets).map(|((topic, _), offsets)| (topic, found(offsets))).collect();
    topics.extend(denied.into_iter().map(|(t, ps)| (t, refused(&ps, ResponseError::TopicAuthorizationFailed))));
    Ok(GroupOffsets { error: None, topics })
}

fn found(offsets: crate::groups::TopicOffsets) -> Vec<Fetched> {
    offsets.into_iter().map(|(partition, committed)| Fetched { partition, committed, error: None }).collect()
}

fn refused(partitions: &[i32], error: ResponseError) -> Vec<Fetched> {
    partitions.iter().map(|p| Fetched { partition: *p, committed: None, error: Some(error) }).collect()
}
