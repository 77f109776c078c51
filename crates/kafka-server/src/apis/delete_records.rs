//! DeleteRecords (21): raises partitions' log start offset (durably), dropping the segments
//! wholly below it; the answer carries the new low watermark.

use crate::access::Operation;
use crate::cluster::Cluster;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

/// The offset a client sends to mean "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: DeleteRecordsRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let topics = body
        .topics
        .iter()
        .map(|wanted| {
            let name = wanted.name.0.as_str();
            let allowed = session.allows(Operation::Manage, name);
            let partitions = wanted
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                    match delete(&cluster, allowed, name, p.partition_index, p.offset) {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(error) => result.with_low_watermark(-1).with_error_code(error.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(wanted.name.clone()).with_partitions(partitions)
        })
        .collect();
    encode_body(&DeleteRecordsResponse::default().with_topics(topics), version)
}

fn delete(cluster: &Cluster, allowed: bool, topic: &str, index: i32, offset: i64) -> Result<i64, ResponseError> {
    if !allowed {
        return Err(ResponseError::TopicAuthorizationFailed);
    }
    let partition =
        cluster.topic(topic).and_then(|t| t.partition(index)).ok_or(ResponseError::UnknownTopicOrPartition)?;
    let offset = match offset {
        HIGH_WATERMARK => partition.offsets().map_err(|e| super::produce::append_error_code(&e))?.log_end,
        offset => offset,
    };
    partition.delete_records_before(offset).map_err(|e| super::produce::append_error_code(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Access, TopicScope};
    use crate::testing::{call, session};
    use kafka_log::testing::values_batch;
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use kafka_protocol::messages::{ApiKey, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn send(session: &mut Session, version: i16, topic: &str, offset: i64) -> (i16, i64) {
        let request = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![DeleteRecordsPartition::default().with_partition_index(0).with_offset(offset)])]);
        let response: DeleteRecordsResponse = call(super::handle, session, ApiKey::DeleteRecords, version, &request);
        let result = &response.topics[0].partitions[0];
        (result.error_code, result.low_watermark)
    }

    #[test]
    fn raises_the_log_start_offset() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        let partition = cluster.topic("mine").unwrap().partition(0).unwrap();
        for _ in 0..10 {
            partition.append(&values_batch(1, 1_000)).unwrap();
        }
        assert_eq!(send(&mut session, 0, "mine", 4), (0, 4));
        assert_eq!(partition.offsets().unwrap().log_start, 4);
        assert_eq!(send(&mut session, 2, "mine", 2), (0, 4), "the start never moves back");
        assert_eq!(send(&mut session, 2, "mine", 11), (ResponseError::OffsetOutOfRange.code(), -1));
        assert_eq!(send(&mut session, 1, "mine", -1), (0, 10));
        assert_eq!(send(&mut session, 1, "nope", 1), (ResponseError::UnknownTopicOrPartition.code(), -1));
    }

    #[test]
    fn deleting_needs_manage_access() {
        let mut session = session(Access::ProduceOnly, TopicScope::All);
        assert_eq!(send(&mut session, 1, "mine", 0), (ResponseError::TopicAuthorizationFailed.code(), -1));
    }
}
