//! CreateTopics (19): creates topics with their partition count and settings.

use crate::access::Operation;
use crate::cluster::TopicError;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use crate::topic_config::TopicConfig;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

/// Kafka's error code for a topic error.
pub fn topic_error_code(error: &TopicError) -> ResponseError {
    match error {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
        TopicError::TooManyTopics(_) => ResponseError::PolicyViolation,
        TopicError::Unknown => ResponseError::UnknownTopicOrPartition,
        TopicError::Storage(_) => ResponseError::KafkaStorageError,
    }
}

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: CreateTopicsRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let mut results = Vec::with_capacity(body.topics.len());
    for wanted in &body.topics {
        let name = wanted.name.0.as_str().to_string();
        let mut result = CreatableTopicResult::default().with_name(wanted.name.clone()).with_replication_factor(1);
        if !session.allows(Operation::Manage, &name) {
            result.error_code = ResponseError::TopicAuthorizationFailed.code();
            results.push(result);
            continue;
        }
        // One copy per region is what Tern keeps; -1 means the default.
        if wanted.replication_factor != -1 && wanted.replication_factor != 1 {
            result.error_code = ResponseError::InvalidReplicationFactor.code();
            result.error_message = Some(StrBytes::from_static_str("Replication factor must be 1 or -1 (the default)"));
            results.push(result);
            continue;
        }
        if !wanted.assignments.is_empty() {
            result.error_code = ResponseError::InvalidReplicaAssignment.code();
            result.error_message = Some(StrBytes::from_static_str("Manual replica assignment is not supported"));
            results.push(result);
            continue;
        }
        let config = TopicConfig(
            wanted
                .configs
                .iter()
                .filter_map(|c| Some((c.name.as_str().to_string(), c.value.as_ref()?.as_str().to_string())))
                .collect(),
        );
        match cluster.create_topic(&name, wanted.num_partitions, config, body.validate_only) {
            Ok(topic) => {
                result.topic_id = topic.id;
                result.num_partitions =
                    if body.validate_only { wanted.num_partitions } else { topic.partition_count() };
                let config = topic.config.read();
                result.configs = Some(
                    crate::topic_config::TOPIC_CONFIG_KEYS
                        .iter()
                        .map(|k| {
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_static_str(k.name))
                                .with_value(Some(StrBytes::from_string(config.get(k.name).to_string())))
                                .with_config_source(if config.is_explicit(k.name) { 1 } else { 5 })
                        })
                        .collect(),
                );
            }
            Err(e) => {
                result.error_code = topic_error_code(&e).code();
                result.error_message = Some(StrBytes::from_string(e.to_string()));
            }
        }
        results.push(result);
    }
    encode_body(&CreateTopicsResponse::default().with_topics(results), version)
}
