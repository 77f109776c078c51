//! What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: the resource types
//! Tern serves (topics, and the broker read-only), the access check per resource, and how a
//! refused resource is reported.

use crate::access::Operation;
use crate::cluster::{Apply, TopicError};
use crate::session::Session;
use crate::topic_config::TopicConfig;
use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

/// Kafka's resource type codes (`ConfigResource.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Topic,
    Broker,
}

impl ResourceType {
    pub fn from_code(code: i8) -> Option<ResourceType> {
        match code {
            2 => Some(ResourceType::Topic),
            4 => Some(ResourceType::Broker),
            _ => None,
        }
    }
}

/// Why a resource of a config request is not served; the code and message go to the client.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub error: ResponseError,
    pub message: String,
}

impl Refusal {
    pub fn new(error: ResponseError, message: impl Into<String>) -> Refusal {
        Refusal { error, message: message.into() }
    }

    pub fn from_topic_error(error: &TopicError) -> Refusal {
        Refusal::new(super::create_topics::topic_error_code(error), error.to_string())
    }
}

/// Checks the resource type and the credential's right to `operation` on it. Broker
/// resources are named by the broker id (or empty for cluster-wide defaults) and may only be
/// read: they are this node's, not the tenant's.
pub fn check(session: &Session, code: i8, name: &str, operation: Operation) -> Result<ResourceType, Refusal> {
    match ResourceType::from_code(code) {
        Some(ResourceType::Topic) if !session.allows(operation, name) => {
            Err(Refusal::new(ResponseError::TopicAuthorizationFailed, format!("Not authorized to access topic {name}")))
        }
        Some(ResourceType::Topic) => Ok(ResourceType::Topic),
        Some(ResourceType::Broker) if operation == Operation::Manage => Err(Refusal::new(
            ResponseError::ClusterAuthorizationFailed,
            "Broker settings are managed by Tern and cannot be changed",
        )),
        Some(ResourceType::Broker) if name.is_empty() || name == session.broker.node_id.to_string() => {
            Ok(ResourceType::Broker)
        }
        Some(ResourceType::Broker) => {
            Err(Refusal::new(ResponseError::InvalidRequest, format!("Unknown broker id {name}")))
        }
        None => Err(Refusal::new(ResponseError::InvalidRequest, format!("Unsupported resource type {code}"))),
    }
}

/// Changes a topic's settings for AlterConfigs and IncrementalAlterConfigs: checks the
/// resource and the right to manage it, then computes, validates and (unless only
/// validating) applies the new settings to the live partitions.
pub fn alter(
    session: &Session,
    code: i8,
    name: &str,
    apply: Apply,
    change: impl FnOnce(&TopicConfig) -> Result<TopicConfig, TopicError>,
) -> Result<(), Refusal> {
    check(session, code, name, Operation::Manage)?;
    let cluster =
        session.cluster().map_err(|e| Refusal::new(ResponseError::SaslAuthenticationFailed, e.to_string()))?;
    cluster.update_topic_config(name, apply, change).map(|_| ()).map_err(|e| Refusal::from_topic_error(&e))
}

/// The error code and message of a resource's answer (0 and none when it succeeded).
pub fn error_fields(outcome: Result<(), Refusal>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err(refusal) => (refusal.error.code(), Some(StrBytes::from_string(refusal.message))),
    }
}
