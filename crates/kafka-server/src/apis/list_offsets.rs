//! ListOffsets (2): the earliest or latest offset of partitions, or the first offset at or
//! after a timestamp.

use crate::access::Operation;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: ListOffsetsRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let mut topics = Vec::with_capacity(body.topics.len());
    for wanted in &body.topics {
        let name = wanted.name.0.as_str();
        let topic = cluster.topic(name);
        let allowed = session.allows(Operation::Consume, name);
        let partitions = wanted
            .partitions
            .iter()
            .map(|p| {
                let mut response = ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_timestamp(-1)
                    .with_offset(-1);
                if version >= 4 {
                    response.leader_epoch = 0;
                }
                let partition = topic.as_ref().and_then(|t| t.partition(p.partition_index));
                let result = match (allowed, partition) {
                    (false, _) => Err(ResponseError::TopicAuthorizationFailed),
                    (true, None) => Err(ResponseError::UnknownTopicOrPartition),
                    (true, Some(partition)) => match p.timestamp {
                        LATEST => partition.offsets().map(|o| (o.log_end, -1)),
                        EARLIEST => partition.offsets().map(|o| (o.log_start, -1)),
                        ts => partition.offset_for_timestamp(ts).map(|found| match found {
                            Some((offset, timestamp)) => (offset, timestamp),
                            // Nothing at or after the timestamp: Kafka answers -1.
                            None => (-1, -1),
                        }),
                    }
                    .map_err(|e| super::produce::append_error_code(&e)),
                };
                match result {
                    Ok((offset, timestamp)) => {
                        response.offset = offset;
                        response.timestamp = timestamp;
                    }
                    Err(error) => response.error_code = error.code(),
                }
                response
            })
            .collect();
        topics.push(ListOffsetsTopicResponse::default().with_name(wanted.name.clone()).with_partitions(partitions));
    }
    encode_body(&ListOffsetsResponse::default().with_topics(topics), version)
}
