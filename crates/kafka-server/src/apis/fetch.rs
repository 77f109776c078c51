//! Fetch (1): whole record batches from the one containing the fetch offset, waiting up to
//! `max_wait_ms` until `min_bytes` are available (long poll). Sessions (KIP-227) are not kept:
//! every response has session id 0, which tells clients to send full requests.

use crate::access::Operation;
use crate::cluster::Cluster;
use crate::frame::{decode_body, encode_body, Request};
use crate::router::HandlerFuture;
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn handle(session: &mut Session, request: Request) -> HandlerFuture<'_> {
    Box::pin(fetch(session, request))
}

async fn fetch(session: &mut Session, mut request: Request) -> anyhow::Result<Bytes> {
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
        let (topics, bytes) = read_all(session, &cluster, &body, max_bytes);
        let now = Instant::now();
        if bytes >= body.min_bytes.max(1) as usize || now >= deadline {
            let response = FetchResponse::default().with_responses(topics);
            return encode_body(&response, version);
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

/// One pass over the requested partitions; returns the answers and the record bytes found.
fn read_all(
    session: &Session,
    cluster: &Arc<Cluster>,
    body: &FetchRequest,
    max_bytes: usize,
) -> (Vec<FetchableTopicResponse>, usize) {
    let mut total = 0usize;
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
                        partition.offsets().map(|o| (Bytes::new(), o))
                    } else {
                        partition.read(p.fetch_offset, budget.max(1) as u64)
                    };
                    match result {
                        Ok((records, offsets)) => {
                            total += records.len();
                            data.high_watermark = offsets.log_end;
                            data.last_stable_offset = offsets.log_end;
                            data.log_start_offset = offsets.log_start;
                            data.records = Some(records);
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
    (topics, total)
}
