//! Produce (0): appends record batches as received (validated, offsets assigned) and answers
//! after the leader's log has them (acks=1), after they are fsynced (acks=all), or not at
//! all (acks=0).

use crate::access::Operation;
use crate::frame::{decode_body, encode_body, Request};
use crate::partition::{Partition, PartitionError};
use crate::router::HandlerFuture;
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Kafka's error code for a failed append.
pub fn append_error_code(error: &PartitionError) -> ResponseError {
    use kafka_log::AppendError;
    match error {
        PartitionError::Append(AppendError::Corrupt(_)) => ResponseError::CorruptMessage,
        PartitionError::Append(AppendError::UnsupportedMagic(_)) => ResponseError::UnsupportedForMessageFormat,
        PartitionError::Append(AppendError::InvalidRecord(_)) => ResponseError::InvalidRecord,
        PartitionError::Append(AppendError::MessageTooLarge { .. }) => ResponseError::MessageTooLarge,
        PartitionError::Append(AppendError::InvalidProducerEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        PartitionError::Append(AppendError::OutOfOrderSequence { .. }) => ResponseError::OutOfOrderSequenceNumber,
        PartitionError::Append(AppendError::Io(_)) | PartitionError::Storage(_) => ResponseError::KafkaStorageError,
        PartitionError::Read(kafka_log::ReadError::OffsetOutOfRange { .. }) => ResponseError::OffsetOutOfRange,
        PartitionError::Read(_) => ResponseError::KafkaStorageError,
        PartitionError::Closed => ResponseError::UnknownTopicOrPartition,
    }
}

pub fn handle(session: &mut Session, request: Request) -> HandlerFuture<'_> {
    Box::pin(async move { append(session, request)?.await })
}

/// The rest of a Produce once its records are appended: waiting for the fsync (acks=all),
/// then the response body. It borrows nothing, so a connection can read and append its next
/// requests meanwhile (`conn.rs`), and one fsync then covers several requests.
pub type Answer = Pin<Box<dyn Future<Output = anyhow::Result<Bytes>> + Send + 'static>>;

/// Where one partition's answer stands.
struct Pending {
    topic: usize,
    response: PartitionProduceResponse,
    /// For acks=all: the partition and the offset that must be durable first.
    wait: Option<(Arc<Partition>, i64)>,
}

/// Validates and appends every partition's records now; the answer comes from the returned
/// future.
pub fn append(session: &mut Session, mut request: Request) -> anyhow::Result<Answer> {
    let version = request.version;
    let body: ProduceRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let acks = body.acks;
    let mut topics = Vec::with_capacity(body.topic_data.len());
    let mut pending = Vec::new();
    for (topic_index, data) in body.topic_data.iter().enumerate() {
        let name = data.name.0.as_str();
        topics.push(TopicProduceResponse::default().with_name(data.name.clone()));
        let topic = cluster.topic(name);
        for partition_data in &data.partition_data {
            let mut response = PartitionProduceResponse::default()
                .with_index(partition_data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let error = if !matches!(acks, -1..=1) {
                Some(ResponseError::InvalidRequiredAcks)
            } else if !session.allows(Operation::Produce, name) {
                Some(ResponseError::TopicAuthorizationFailed)
            } else if body.transactional_id.is_some() {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            } else {
                None
            };
            let partition = topic.as_ref().and_then(|t| t.partition(partition_data.index));
            let mut wait = None;
            match (error, partition, &partition_data.records) {
                (Some(error), _, _) => response.error_code = error.code(),
                (None, None, _) => response.error_code = ResponseError::UnknownTopicOrPartition.code(),
                (None, Some(_), None) => {}
                (None, Some(partition), Some(records)) => match partition.append(records) {
                    Ok(outcome) => {
                        if !outcome.duplicate {
                            cluster.usage.count_produced(records);
                        }
                        response.base_offset = outcome.base_offset;
                        response.log_append_time_ms = outcome.log_append_time_ms;
                        response.log_start_offset = outcome.log_start_offset;
                        if acks == -1 {
                            wait = Some((partition, outcome.last_offset + 1));
                        }
                    }
                    Err(e) => {
                        tracing::debug!(topic = name, partition = partition_data.index, error = %e, "produce refused");
                        response.error_code = append_error_code(&e).code();
                        response.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                },
            }
            pending.push(Pending { topic: topic_index, response, wait });
        }
    }
    if acks == 0 {
        return Ok(Box::pin(std::future::ready(Ok(Bytes::new()))));
    }
    let timeout = Duration::from_millis(body.timeout_ms.max(0) as u64);
    Ok(Box::pin(answer(topics, pending, timeout, version)))
}

async fn answer(
    mut topics: Vec<TopicProduceResponse>,
    mut pending: Vec<Pending>,
    timeout: Duration,
    version: i16,
) -> anyhow::Result<Bytes> {
    for item in &mut pending {
        if let Some((partition, end_offset)) = item.wait.take() {
            match tokio::time::timeout(timeout, partition.wait_durable(end_offset)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    item.response.error_code = append_error_code(&e).code();
                    item.response.error_message = Some(StrBytes::from_string(e.to_string()));
                }
                Err(_) => item.response.error_code = ResponseError::RequestTimedOut.code(),
            }
        }
    }
    for item in pending {
        topics[item.topic].partition_responses.push(item.response);
    }
    encode_body(&ProduceResponse::default().with_responses(topics), version)
}
