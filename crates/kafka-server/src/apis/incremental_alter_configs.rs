//! IncrementalAlterConfigs (44): sets, deletes (back to the default), appends to or subtracts
//! from single topic settings, leaving the others as they are.

use super::config_resources::{alter, error_fields};
use crate::cluster::{Apply, TopicError};
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use crate::topic_config::{TopicConfig, ValueKind};
use bytes::Bytes;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

/// Kafka's `AlterConfigOp.OpType` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    Set,
    Delete,
    Append,
    Subtract,
}

impl Operation {
    fn from_code(code: i8) -> Option<Operation> {
        match code {
            0 => Some(Operation::Set),
            1 => Some(Operation::Delete),
            2 => Some(Operation::Append),
            3 => Some(Operation::Subtract),
            _ => None,
        }
    }
}

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: IncrementalAlterConfigsRequest = decode_body(&mut request.body, version)?;
    let apply = Apply::from_validate_only(body.validate_only);
    let responses = body
        .resources
        .iter()
        .map(|resource| {
            let outcome = alter(session, resource.resource_type, resource.resource_name.as_str(), apply, |current| {
                changed(current, &resource.configs)
            });
            let (error_code, error_message) = error_fields(outcome);
            AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_code(error_code)
                .with_error_message(error_message)
        })
        .collect();
    encode_body(&IncrementalAlterConfigsResponse::default().with_responses(responses), version)
}

/// The topic's settings after every operation of the request, in order.
fn changed(current: &TopicConfig, operations: &[AlterableConfig]) -> Result<TopicConfig, TopicError> {
    let mut config = current.clone();
    for entry in operations {
        let name = entry.name.as_str();
        let value = entry.value.as_ref().map(|v| v.as_str()).unwrap_or("");
        let invalid = |why: &str| TopicError::InvalidConfig(format!("{why} for config key {name}"));
        let Some(key) = crate::topic_config::key(name) else {
            return Err(TopicError::InvalidConfig(format!("Unknown topic config name: {name}")));
        };
        let is_list = matches!(key.kind, ValueKind::List(_));
        match Operation::from_code(entry.config_operation) {
            Some(Operation::Set) => {
                config.0.insert(name.to_string(), value.to_string());
            }
            Some(Operation::Delete) => {
                config.0.remove(name);
            }
            Some(Operation::Append | Operation::Subtract) if !is_list => {
                return Err(invalid("Config value append or subtract is only allowed for a list"));
            }
            Some(Operation::Append) => {
                let mut items = list_items(config.get(name));
                for item in list_items(value) {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
                config.0.insert(name.to_string(), items.join(","));
            }
            Some(Operation::Subtract) => {
                let removed = list_items(value);
                let items: Vec<String> =
                    list_items(config.get(name)).into_iter().filter(|v| !removed.contains(v)).collect();
                config.0.insert(name.to_string(), items.join(","));
            }
            None => return Err(invalid(&format!("Unknown operation {}", entry.config_operation))),
        }
    }
    Ok(config)
}

fn list_items(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Access, TopicScope};
    use crate::testing::{call, session};
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::StrBytes;

    fn op(name: &str, operation: i8, value: &str) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_config_operation(operation)
            .with_value(Some(StrBytes::from_string(value.to_string())))
    }

    fn send(session: &mut Session, version: i16, operations: Vec<AlterableConfig>) -> (i16, Option<String>) {
        let resource = AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("mine"))
            .with_configs(operations);
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
        let response: IncrementalAlterConfigsResponse =
            call(super::handle, session, ApiKey::IncrementalAlterConfigs, version, &request);
        let result = &response.responses[0];
        (result.error_code, result.error_message.as_ref().map(|m| m.to_string()))
    }

    #[test]
    fn operations_change_single_keys() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        let config = || cluster.topic("mine").unwrap().config.read().clone();
        assert_eq!(send(&mut session, 1, vec![op("retention.ms", 0, "5000"), op("segment.bytes", 0, "4096")]).0, 0);
        assert_eq!(send(&mut session, 0, vec![op("segment.bytes", 1, "")]).0, 0);
        assert_eq!((config().get("retention.ms"), config().is_explicit("segment.bytes")), ("5000", false));
        assert_eq!(send(&mut session, 1, vec![op("cleanup.policy", 2, "compact")]).0, 0);
        assert_eq!(config().get("cleanup.policy"), "delete,compact");
        assert_eq!(send(&mut session, 1, vec![op("cleanup.policy", 3, "delete")]).0, 0);
        assert_eq!(config().get("cleanup.policy"), "compact");
        assert!(cluster.topic("mine").unwrap().partition(0).is_some());
    }

    #[test]
    fn invalid_values_and_operations_are_refused_whole() {
        let mut session = session(Access::Full, TopicScope::All);
        let (code, message) = send(&mut session, 1, vec![op("retention.ms", 0, "1"), op("retention.bytes", 0, "x")]);
        assert_eq!(code, ResponseError::InvalidConfig.code());
        assert_eq!(message.as_deref(), Some("Invalid value x for configuration retention.bytes"));
        let cluster = session.cluster().unwrap().clone();
        assert!(!cluster.topic("mine").unwrap().config.read().is_explicit("retention.ms"));
        let (code, _) = send(&mut session, 1, vec![op("retention.ms", 2, "1")]);
        assert_eq!(code, ResponseError::InvalidConfig.code());
        let (code, _) = send(&mut session, 1, vec![op("retention.ms", 9, "1")]);
        assert_eq!(code, ResponseError::InvalidConfig.code());
    }
}
