//! Fetch (1): whole record batches from the one containing the fetch offset, waiting up to
//! `max_wait_ms` until `min_bytes` are available (long poll). Sessions (KIP-227) are not kept:
//! every response has session id 0, which tells clients to send full requests.
//! Records are answered as file ranges (`frame::Parts`): the connection sends them from the
//! segment files with `sendfile`; `handle` (the router's path) copies them instead.

use crate::access::Operation;
use crate::cluster::Cluster;
use crate::frame::{self, decode_body, BytesEncoding, Parts, Request};
use crate::router::HandlerFuture;
use crate::session::Session;
use bytes::Bytes;
use kafka_log::ReadSlice;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The copying path: the response body as one buffer.
pub fn handle(session: &mut Session, request: Request) -> HandlerFuture<'_> {
    Box::pin(async move { Ok(fetch(session, request).await?.to_bytes()?) })
}

/// The response body with the records as file ranges, for the connection to send.
pub async fn fetch(session: &mut Session, mut request: Request) -> anyhow::Result<Parts> {
    let version = request.version;
    let body: FetchRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let limits = session.broker.limits.clone();
    let max_wait = Duration::from_millis((body.max_wait_ms.max(0) as u64).min(limits.max_fetch_wait_ms));
    let deadline = Instant::now() + max_wait;
    let max_bytes = if body.max_bytes > 0 { body.max_bytes as usize } else { limits.max_fetch_response_bytes }
        .min(limits.max_fetch_response_bytes);
    loop {
        // Registered before reading, so an append between the read and the wait is not missed.
        let arrivals = cluster.arrivals.clone();
        let notified = arrivals.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (topics, records, fetch_offsets) = read_all(session, &cluster, &body, max_bytes);
        let bytes: u64 = records.iter().map(ReadSlice::len).sum();
        let now = Instant::now();
        if bytes >= body.min_bytes.max(1) as u64 || now >= deadline {
            for (slice, offset) in records.iter().zip(fetch_offsets) {
                cluster.usage.count_consumed(slice, offset);
            }
            let response = FetchResponse::default().with_responses(topics);
            let encoding = if version >= 12 { BytesEncoding::Compact } else { BytesEncoding::Classic };
            return frame::encode_body_with_files(&response, version, encoding, records);
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

/// One pass over the requested partitions; returns the answers, whose records fields are
/// placeholders, the records found for them, in the same order, and the offset each read
/// started at (for metering).
fn read_all(
    session: &Session,
    cluster: &Arc<Cluster>,
    body: &FetchRequest,
    max_bytes: usize,
) -> (Vec<FetchableTopicResponse>, Vec<ReadSlice>, Vec<i64>) {
    let mut total = 0usize;
    let mut found = Vec::new();
    let mut fetch_offsets = Vec::new();
    let mut topics = Vec::with_capacity(body.topics.len());
    for wanted in &body.topics {
        let topic = if wanted.topic_id.is_nil() {
            cluster.topic(wanted.topic.0.as_str())
        } else {
            cluster.topic_by_id(wanted.topic_id)
        };
        let name = topic.as_ref().map(|t| t.name.clone()).unwrap_or_else(|| wanted.topic.0.as_str().to_string());
        let allowed = session.allows(Operation::Consume, &name);
        let mut partitions = Vec::with_capacity(wanted.partitions.len());
        for p in &wanted.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_aborted_transactions(Some(Vec::new()))
                .with_preferred_read_replica(BrokerId(-1));
            let partition = topic.as_ref().and_then(|t| t.partition(p.partition));
            match (allowed, partition) {
                (false, _) => data.error_code = ResponseError::TopicAuthorizationFailed.code(),
                (true, None) => data.error_code = ResponseError::UnknownTopicOrPartition.code(),
                (true, Some(partition)) => {
                    // Past the response budget a partition is still described, without records.
                    let budget = (p.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
                    let result = if budget == 0 && total > 0 {
                        partition.offsets().map(|o| (ReadSlice::default(), o))
                    } else {
                        partition.read(p.fetch_offset, budget.max(1) as u64)
                    };
                    match result {
                        Ok((records, offsets)) => {
                            data.high_watermark = offsets.log_end;
                            data.last_stable_offset = offsets.log_end;
                            data.log_start_offset = offsets.log_start;
                            if records.is_empty() {
                                data.records = Some(Bytes::new());
                            } else {
                                total += records.len() as usize;
                                data.records = Some(frame::records_placeholder());
                                found.push(records);
                                fetch_offsets.push(p.fetch_offset);
                            }
                        }
                        Err(e) => {
                            if let Ok(offsets) = partition.offsets() {
                                data.high_watermark = offsets.log_end;
                                data.last_stable_offset = offsets.log_end;
                                data.log_start_offset = offsets.log_start;
                            }
                            data.error_code = super::produce::append_error_code(&e).code();
                        }
                    }
                }
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(wanted.topic.clone())
                .with_topic_id(topic.as_ref().map(|t| t.id).unwrap_or(wanted.topic_id))
                .with_partitions(partitions),
        );
    }
    (topics, found, fetch_offsets)
}
