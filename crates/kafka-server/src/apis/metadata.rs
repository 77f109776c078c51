//! Metadata (3): the broker (this node leads every partition) and the cluster's topics,
//! creating unknown topics when the cluster allows it and the client asks.

use crate::access::Operation;
use crate::cluster::Topic;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// "Not requested" for the authorized-operations fields.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: MetadataRequest = decode_body(&mut request.body, version)?;
    let (credential, cluster) = session.principal()?;
    let (credential, cluster) = (credential.clone(), cluster.clone());
    // Before v4 there is no flag and Kafka creates topics on Metadata when the cluster allows.
    let auto_create = version < 4 || body.allow_auto_topic_creation;
    let topics: Vec<MetadataResponseTopic> = match &body.topics {
        None => {
            cluster.topics().iter().filter(|t| session.allows(Operation::Describe, &t.name)).map(describe).collect()
        }
        Some(wanted) => wanted
            .iter()
            .map(|w| {
                let by_id = (!w.topic_id.is_nil()).then(|| cluster.topic_by_id(w.topic_id)).flatten();
                let name = match (&w.name, &by_id) {
                    (_, Some(t)) => t.name.clone(),
                    (Some(n), None) => n.0.as_str().to_string(),
                    (None, None) => return error_topic(String::new(), w.topic_id, ResponseError::UnknownTopicId),
                };
                if !session.allows(Operation::Describe, &name) {
                    return error_topic(name, w.topic_id, ResponseError::TopicAuthorizationFailed);
                }
                if let Some(topic) = by_id.or_else(|| cluster.topic(&name)) {
                    return describe(&topic);
                }
                if auto_create && session.allows(Operation::Produce, &name) {
                    match cluster.auto_create(&name) {
                        Ok(Some(topic)) => return describe(&topic),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::info!(topic = %name, error = %e, "cannot auto-create topic");
                            return error_topic(name, w.topic_id, ResponseError::InvalidTopicException);
                        }
                    }
                }
                error_topic(name, w.topic_id, ResponseError::UnknownTopicOrPartition)
            })
            .collect(),
    };
    let (host, port) = session.broker.advertised();
    let node_id = BrokerId(session.broker.node_id);
    let response = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node_id)
            .with_host(StrBytes::from_string(host))
            .with_port(port)])
        .with_cluster_id(Some(StrBytes::from_string(cluster.id.0.clone())))
        .with_controller_id(node_id)
        .with_cluster_authorized_operations(if body.include_cluster_authorized_operations {
            // librdkafka's DescribeCluster is a Metadata request asking for these.
            super::describe_cluster::authorized_operations(credential.config.access)
        } else {
            OPERATIONS_NOT_REQUESTED
        })
        .with_topics(topics);
    encode_body(&response, version)
}

fn describe(topic: &Arc<Topic>) -> MetadataResponseTopic {
    let node = BrokerId(crate::broker::NODE_ID);
    let partitions = (0..topic.partition_count())
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

fn error_topic(name: String, id: uuid::Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(Some(TopicName(StrBytes::from_string(name))))
        .with_topic_id(id)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}
