//! DescribeConfigs (32): every setting of a topic with its value and whether it was set on the
//! topic (dynamic) or is the default, and a few read-only values of the broker. Synonyms and
//! documentation are not given.

use super::config_resources::{check, Refusal, ResourceType};
use crate::access::Operation;
use crate::cluster::Cluster;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use crate::topic_config::{ValueKind, TOPIC_CONFIG_KEYS};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

/// Kafka's `ConfigSource` codes.
#[derive(Clone, Copy)]
enum Source {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// Kafka's `ConfigType` codes (v3+).
#[derive(Clone, Copy)]
enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// One value as described.
struct Entry {
    name: String,
    value: String,
    source: Source,
    config_type: ConfigType,
    read_only: bool,
}

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: DescribeConfigsRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let results = body
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let entries =
                check(session, resource.resource_type, name, Operation::Describe).and_then(|kind| match kind {
                    ResourceType::Topic => topic_entries(&cluster, name),
                    ResourceType::Broker => Ok(broker_entries(session, &cluster)),
                });
            match entries {
                Ok(entries) => result.with_configs(
                    entries
                        .into_iter()
                        .filter(|e| wanted(resource.configuration_keys.as_deref(), &e.name))
                        .map(encode_entry)
                        .collect(),
                ),
                Err(refusal) => result
                    .with_error_code(refusal.error.code())
                    .with_error_message(Some(StrBytes::from_string(refusal.message))),
            }
        })
        .collect();
    encode_body(&DescribeConfigsResponse::default().with_results(results), version)
}

/// `None` or an empty list asks for every key, a list for those named: Kafka's
/// `ConfigHelper` treats null and empty alike, and `kafka-protocol`'s default is empty.
fn wanted(keys: Option<&[StrBytes]>, name: &str) -> bool {
    match keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|k| k.as_str() == name),
        _ => true,
    }
}

fn topic_entries(cluster: &Cluster, name: &str) -> Result<Vec<Entry>, Refusal> {
    let Some(topic) = cluster.topic(name) else {
        return Err(Refusal::new(ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist")));
    };
    let config = topic.config.read();
    Ok(TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| Entry {
            name: key.name.to_string(),
            value: config.get(key.name).to_string(),
            source: if config.is_explicit(key.name) { Source::DynamicTopic } else { Source::Default },
            config_type: match key.kind {
                ValueKind::Int(_, max) if max <= i64::from(i32::MAX) => ConfigType::Int,
                ValueKind::Int(..) => ConfigType::Long,
                ValueKind::Double(..) => ConfigType::Double,
                ValueKind::OneOf(_) => ConfigType::String,
                ValueKind::List(_) => ConfigType::List,
            },
            read_only: false,
        })
        .collect())
}

/// What a client may want to know about the broker; none of it can be changed by a tenant.
fn broker_entries(session: &Session, cluster: &Cluster) -> Vec<Entry> {
    let limits = cluster.limits.read().clone();
    let entry = |name: &str, value: String, config_type| Entry {
        name: name.to_string(),
        value,
        source: Source::StaticBroker,
        config_type,
        read_only: true,
    };
    vec![
        entry("broker.id", session.broker.node_id.to_string(), ConfigType::Int),
        entry("auto.create.topics.enable", limits.auto_create_topics.to_string(), ConfigType::Boolean),
        entry("num.partitions", limits.default_partitions.to_string(), ConfigType::Int),
        entry("default.replication.factor", "1".to_string(), ConfigType::Int),
        entry("message.max.bytes", session.broker.limits.max_request_bytes.to_string(), ConfigType::Int),
        entry("delete.topic.enable", "true".to_string(), ConfigType::Boolean),
    ]
}

fn encode_entry(entry: Entry) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(entry.name))
        .with_value(Some(StrBytes::from_string(entry.value)))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source as i8)
        .with_config_type(entry.config_type as i8)
        .with_is_sensitive(false)
}

#[cfg(test)]
mod tests {
    use crate::access::{Access, TopicScope};
    use crate::testing::{call, session};
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
    use kafka_protocol::protocol::StrBytes;

    fn describe(
        session: &mut crate::session::Session,
        version: i16,
        resources: &[(i8, &str)],
    ) -> DescribeConfigsResponse {
        let request = DescribeConfigsRequest::default().with_resources(
            resources
                .iter()
                .map(|(kind, name)| {
                    DescribeConfigsResource::default()
                        .with_resource_type(*kind)
                        .with_resource_name(StrBytes::from_string(name.to_string()))
                })
                .collect(),
        );
        call(super::handle, session, ApiKey::DescribeConfigs, version, &request)
    }

    #[test]
    fn topics_list_every_key_with_its_source() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        let mut config = crate::topic_config::TopicConfig::default();
        config.0.insert("retention.ms".into(), "1000".into());
        cluster.set_topic_config("mine", config).unwrap();
        for version in [1, 4] {
            let response = describe(&mut session, version, &[(2, "mine")]);
            let result = &response.results[0];
            assert_eq!(result.error_code, 0);
            assert_eq!(result.configs.len(), crate::topic_config::TOPIC_CONFIG_KEYS.len());
            let find = |name: &str| result.configs.iter().find(|c| c.name.as_str() == name).unwrap();
            let retention = find("retention.ms");
            assert_eq!((retention.value.as_ref().unwrap().as_str(), retention.config_source), ("1000", 1));
            let policy = find("cleanup.policy");
            assert_eq!((policy.value.as_ref().unwrap().as_str(), policy.config_source), ("delete", 5));
            if version >= 3 {
                assert_eq!((retention.config_type, policy.config_type), (5, 7));
            }
        }
    }

    #[test]
    fn the_cleaner_settings_are_listed_with_kafka_defaults_and_types() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        cluster.set_topic_config("mine", crate::topic_config::TopicConfig::default()).unwrap();
        let response = describe(&mut session, 4, &[(2, "mine")]);
        let configs = &response.results[0].configs;
        let find = |name: &str| configs.iter().find(|c| c.name.as_str() == name).unwrap();
        for (name, value, config_type) in [
            ("min.cleanable.dirty.ratio", "0.5", 6),
            ("min.compaction.lag.ms", "0", 5),
            ("max.compaction.lag.ms", "9223372036854775807", 5),
        ] {
            let entry = find(name);
            let described = (entry.value.as_ref().unwrap().as_str(), entry.config_source, entry.config_type);
            assert_eq!(described, (value, 5, config_type), "{name}");
        }
    }

    #[test]
    fn named_keys_filter_the_answer() {
        let mut session = session(Access::Full, TopicScope::All);
        let resource = |keys: Option<Vec<StrBytes>>| {
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("mine"))
                .with_configuration_keys(keys)
        };
        let request = DescribeConfigsRequest::default().with_resources(vec![
            resource(Some(vec![StrBytes::from_static_str("retention.ms"), StrBytes::from_static_str("nope")])),
            resource(Some(vec![])),
        ]);
        let response: DescribeConfigsResponse = call(super::handle, &mut session, ApiKey::DescribeConfigs, 4, &request);
        let names: Vec<Vec<&str>> =
            response.results.iter().map(|r| r.configs.iter().map(|c| c.name.as_str()).collect()).collect();
        assert_eq!(names[0], vec!["retention.ms"]);
        assert_eq!(names[1].len(), crate::topic_config::TOPIC_CONFIG_KEYS.len());
    }

    #[test]
    fn unknown_topics_scopes_and_broker_resources() {
        let mut session = session(Access::Full, TopicScope::Prefix("mine".into()));
        let response = describe(&mut session, 4, &[(2, "mine-gone"), (2, "theirs"), (4, "1"), (4, "7"), (8, "1")]);
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                ResponseError::UnknownTopicOrPartition.code(),
                ResponseError::TopicAuthorizationFailed.code(),
                0,
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
            ]
        );
        let broker = &response.results[2].configs;
        assert!(broker.iter().all(|c| c.read_only && c.config_source == 4));
        assert!(broker.iter().any(|c| c.name.as_str() == "broker.id" && c.value.as_deref() == Some("1")));
    }
}
