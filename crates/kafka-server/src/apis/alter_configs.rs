//! AlterConfigs (33): replaces a topic's settings with the given set (keys not given return
//! to their defaults), as Kafka's legacy call does. Broker settings are read-only.

use super::config_resources::{alter, error_fields};
use crate::cluster::{Apply, TopicError};
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use crate::topic_config::TopicConfig;
use bytes::Bytes;
use kafka_protocol::messages::alter_configs_request::AlterableConfig;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: AlterConfigsRequest = decode_body(&mut request.body, version)?;
    let apply = Apply::from_validate_only(body.validate_only);
    let responses = body
        .resources
        .iter()
        .map(|resource| {
            let outcome = alter(session, resource.resource_type, resource.resource_name.as_str(), apply, |_| {
                replacement(&resource.configs)
            });
            let (error_code, error_message) = error_fields(outcome);
            AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_code(error_code)
                .with_error_message(error_message)
        })
        .collect();
    encode_body(&AlterConfigsResponse::default().with_responses(responses), version)
}

/// The whole new set; a null value leaves the key at its default.
fn replacement(configs: &[AlterableConfig]) -> Result<TopicConfig, TopicError> {
    let mut config = TopicConfig::default();
    for entry in configs {
        if let Some(value) = &entry.value {
            config.0.insert(entry.name.as_str().to_string(), value.as_str().to_string());
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use crate::access::{Access, TopicScope};
    use crate::testing::{call, session};
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};
    use kafka_protocol::protocol::StrBytes;

    fn alter(
        session: &mut crate::session::Session,
        topic: &str,
        configs: &[(&str, &str)],
        validate_only: bool,
    ) -> (i16, Option<String>) {
        let resource = AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_value(Some(StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            );
        let request = AlterConfigsRequest::default().with_resources(vec![resource]).with_validate_only(validate_only);
        let response: AlterConfigsResponse = call(super::handle, session, ApiKey::AlterConfigs, 1, &request);
        let result = &response.responses[0];
        (result.error_code, result.error_message.as_ref().map(|m| m.to_string()))
    }

    #[test]
    fn replaces_the_whole_set_and_validates() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        let config = || cluster.topic("mine").unwrap().config.read().clone();
        assert_eq!(alter(&mut session, "mine", &[("retention.ms", "5000"), ("segment.bytes", "4096")], false).0, 0);
        assert_eq!(config().get("retention.ms"), "5000");
        // Keys not given go back to their defaults.
        assert_eq!(alter(&mut session, "mine", &[("retention.ms", "6000")], false).0, 0);
        assert!(!config().is_explicit("segment.bytes"));
        assert_eq!(alter(&mut session, "mine", &[("retention.ms", "7000")], true).0, 0);
        assert_eq!(config().get("retention.ms"), "6000", "validate_only changes nothing");
        let (code, message) = alter(&mut session, "mine", &[("retention.ms", "soon")], false);
        assert_eq!(code, ResponseError::InvalidConfig.code());
        assert_eq!(message.as_deref(), Some("Invalid value soon for configuration retention.ms"));
        assert_eq!(alter(&mut session, "nope", &[], false).0, ResponseError::UnknownTopicOrPartition.code());
    }

    #[test]
    fn cleaner_settings_are_validated_and_reach_the_partitions_config() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        let settings =
            [("cleanup.policy", "compact"), ("min.cleanable.dirty.ratio", "0.2"), ("min.compaction.lag.ms", "100")];
        assert_eq!(alter(&mut session, "mine", &settings, false).0, 0);
        let log = crate::partition::log_config(&cluster.topic("mine").unwrap().config.read());
        assert_eq!((log.min_cleanable_dirty_ratio, log.min_compaction_lag_ms), (0.2, 100));
        assert_eq!(log.max_compaction_lag_ms, i64::MAX);
        let refused = [
            vec![("min.cleanable.dirty.ratio", "1.5")],
            vec![("min.cleanable.dirty.ratio", "lots")],
            vec![("min.compaction.lag.ms", "-5")],
            vec![("max.compaction.lag.ms", "0")],
            vec![("min.compaction.lag.ms", "5000"), ("max.compaction.lag.ms", "4000")],
        ];
        for configs in refused {
            let (code, message) = alter(&mut session, "mine", &configs, false);
            assert_eq!(code, ResponseError::InvalidConfig.code(), "{configs:?}: {message:?}");
        }
        let log = crate::partition::log_config(&cluster.topic("mine").unwrap().config.read());
        assert_eq!(log.min_cleanable_dirty_ratio, 0.2, "refused changes left the settings as they were");
    }

    #[test]
    fn changing_needs_manage_access() {
        let mut session = session(Access::ProduceOnly, TopicScope::All);
        let (code, _) = alter(&mut session, "mine", &[("retention.ms", "5000")], false);
        assert_eq!(code, ResponseError::TopicAuthorizationFailed.code());
    }
}
