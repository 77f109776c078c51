//! A tiny blocking Kafka admin client for `tern kafka topics …` and the console's topic list:
//! one TCP connection (std::net), SASL PLAIN, then requests encoded and responses decoded by
//! the `kafka-protocol` crate. Versions are the highest both sides know (from the broker's
//! ApiVersions reply).

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::{
    create_topics_request, delete_topics_request, describe_configs_request, fetch_request, list_offsets_request,
    metadata_request, ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response accepted; admin responses are small, so more means a confused peer.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long one request may take (connect, write, read), unless the caller says otherwise.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the broker may take to create or delete a topic.
const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Kafka's config source of a value set on the topic itself (others are defaults).
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
/// Kafka's resource type code of a topic (DescribeConfigs).
const RESOURCE_TOPIC: i8 = 2;

/// A topic as Metadata shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TopicInfo {
    pub name: String,
    pub topic_id: String,
    pub partitions: usize,
}

/// One topic setting as DescribeConfigs shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TopicSetting {
    pub name: String,
    pub value: Option<String>,
    /// Set on the topic (not a default).
    pub explicit: bool,
}

/// A record as Fetch returns it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Message {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// ListOffsets' timestamps asking for a partition's first and next offsets.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

pub struct KafkaAdmin {
    stream: TcpStream,
    correlation_id: i32,
    /// (API key, min version, max version) the broker serves.
    versions: Vec<(i16, i16, i16)>,
}

/// `Err` with the broker's words when `code` is an error.
fn check(code: i16, message: Option<&StrBytes>, what: &str) -> anyhow::Result<()> {
    match code.err() {
        None => Ok(()),
        Some(e) => match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
            Some(m) => bail!("{what}: {m} ({e})"),
            None => bail!("{what}: {e}"),
        },
    }
}

impl KafkaAdmin {
    /// Connects to `endpoint` (`HOST:PORT`) and authenticates with SASL PLAIN.
    pub fn connect(endpoint: &str, username: &str, password: &str) -> anyhow::Result<KafkaAdmin> {
        Self::connect_with_timeout(endpoint, username, password, IO_TIMEOUT)
    }

    /// `connect`, with `timeout` for the connection and for each read and write after it.
    pub fn connect_with_timeout(
        endpoint: &str,
        username: &str,
        password: &str,
        timeout: Duration,
    ) -> anyhow::Result<KafkaAdmin> {
        let addr = endpoint
            .to_socket_addrs()
            .with_context(|| format!("resolving {endpoint}"))?
            .next()
            .with_context(|| format!("{endpoint} has no address"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {endpoint}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let _ = stream.set_nodelay(true);
        let mut admin = KafkaAdmin { stream, correlation_id: 0, versions: Vec::new() };
        let versions = admin.call(&ApiVersionsRequest::default(), 0)?;
        check(versions.error_code, None, "ApiVersions")?;
        admin.versions = versions.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect();
        admin.authenticate(username, password)?;
        Ok(admin)
    }

    fn authenticate(&mut self, username: &str, password: &str) -> anyhow::Result<()> {
        let version = self.version(ApiKey::SaslHandshake, 1)?;
        let mechanism = StrBytes::from_static_str("PLAIN");
        let hs = self.call(&SaslHandshakeRequest::default().with_mechanism(mechanism), version)?;
        check(hs.error_code, None, "SASL handshake")?;
        let version = self.version(ApiKey::SaslAuthenticate, 2)?;
        let token = Bytes::from(format!("\0{username}\0{password}"));
        let auth = self.call(&SaslAuthenticateRequest::default().with_auth_bytes(token), version)?;
        check(auth.error_code, auth.error_message.as_ref(), "SASL authentication")
    }

    /// The highest version of `key` both the broker and this client (`ours`) speak.
    fn version(&self, key: ApiKey, ours: i16) -> anyhow::Result<i16> {
        self.served_version(key, ours)
            .with_context(|| format!("the broker does not serve {key:?} in a version this client speaks"))
    }

    fn served_version(&self, key: ApiKey, ours: i16) -> Option<i16> {
        let (_, min, max) = *self.versions.iter().find(|(k, _, _)| *k == key as i16)?;
        let version = max.min(ours).min(key.valid_versions().max);
        (version >= min).then_some(version)
    }

    /// Sends one request and reads its response (requests are answered in order).
    fn call<R: Request>(&mut self, request: &R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow::anyhow!("unknown API key {}", R::KEY))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("tern-cli")));
        let mut body = BytesMut::new();
        header.encode(&mut body, key.request_header_version(version))?;
        request.encode(&mut body, version)?;
        let size = u32::try_from(body.len()).context("request too large")?;
        self.stream.write_all(&size.to_be_bytes())?;
        self.stream.write_all(&body)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).context("reading the broker's response")?;
        let size = u32::from_be_bytes(size) as usize;
        if size > MAX_RESPONSE_BYTES {
            bail!("the broker sent a response of {size} bytes (limit {MAX_RESPONSE_BYTES})");
        }
        let mut frame = vec![0u8; size];
        self.stream.read_exact(&mut frame).context("reading the broker's response")?;
        let mut frame = Bytes::from(frame);
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))?;
        if header.correlation_id != self.correlation_id {
            bail!("the broker answered request {} instead of {}", header.correlation_id, self.correlation_id);
        }
        R::Response::decode(&mut frame, version)
    }

    /// Every topic the credential may see (`only` = one topic, which must exist).
    pub fn topics(&mut self, only: Option<&str>) -> anyhow::Result<Vec<TopicInfo>> {
        let version = self.version(ApiKey::Metadata, 12)?;
        let topics = only.map(|name| {
            vec![metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))]
        });
        let request = MetadataRequest::default().with_topics(topics).with_allow_auto_topic_creation(false);
        let response = self.call(&request, version)?;
        let mut out = Vec::new();
        for t in response.topics {
            let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
            check(t.error_code, None, &format!("topic '{name}'"))?;
            out.push(TopicInfo { name, topic_id: t.topic_id.to_string(), partitions: t.partitions.len() });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The first and the next offset of each of the topic's `partitions` (ListOffsets).
    fn offsets(&mut self, topic: &str, partitions: usize, which: i64) -> anyhow::Result<Vec<(i32, i64)>> {
        let version = self.version(ApiKey::ListOffsets, 7)?;
        let wanted = (0..partitions)
            .filter_map(|p| i32::try_from(p).ok())
            .map(|p| {
                list_offsets_request::ListOffsetsPartition::default().with_partition_index(p).with_timestamp(which)
            })
            .collect();
        let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(wanted),
        ]);
        let response = self.call(&request, version)?;
        let mut out = Vec::new();
        for p in response.topics.iter().flat_map(|t| &t.partitions) {
            check(p.error_code, None, &format!("offsets of '{topic}' partition {}", p.partition_index))?;
            out.push((p.partition_index, p.offset));
        }
        Ok(out)
    }

    /// The last `per_partition` records of each partition of `topic` (fewer when a partition
    /// has fewer, or when `max_bytes` of batches were read), newest first. Reading with Fetch
    /// outside any consumer group moves no group's position. Batches this client cannot decode
    /// (compressed: no codecs are built in) end that partition's list.
    pub fn recent_messages(&mut self, topic: &str, per_partition: i64, max_bytes: i32) -> anyhow::Result<Vec<Message>> {
        let info = self.topics(Some(topic))?;
        let partitions = info.first().map_or(0, |t| t.partitions);
        let starts = self.offsets(topic, partitions, EARLIEST)?;
        let ends = self.offsets(topic, partitions, LATEST)?;
        let wanted: Vec<_> = ends
            .iter()
            .map(|&(partition, end)| {
                let start = starts.iter().find(|(p, _)| *p == partition).map_or(0, |(_, s)| *s);
                let from = end.saturating_sub(per_partition).max(start);
                fetch_request::FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(from)
                    .with_partition_max_bytes(max_bytes)
            })
            .collect();
        let version = self.version(ApiKey::Fetch, 12)?;
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(max_bytes)
            .with_session_epoch(-1)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(wanted)]);
        let response = self.call(&request, version)?;
        check(response.error_code, None, "Fetch")?;
        let mut out = Vec::new();
        for p in response.responses.iter().flat_map(|t| &t.partitions) {
            check(p.error_code, None, &format!("reading '{topic}' partition {}", p.partition_index))?;
            let (from, end) =
                ends.iter().find(|(q, _)| *q == p.partition_index).map_or((0, 0), |(_, e)| (e - per_partition, *e));
            let mut records = p.records.clone().unwrap_or_default();
            // A batch cut short by max_bytes, or one this client cannot decode, ends the list.
            while !records.is_empty() {
                let Ok(batch) = RecordBatchDecoder::decode(&mut records) else { break };
                let kept = batch.records.into_iter().filter(|r| !r.control && r.offset >= from && r.offset < end);
                out.extend(kept.map(|r| Message {
                    partition: p.partition_index,
                    offset: r.offset,
                    timestamp_ms: r.timestamp,
                    key: r.key.map(|k| k.to_vec()),
                    value: r.value.map(|v| v.to_vec()),
                }));
            }
        }
        out.sort_by(|a, b| b.timestamp_ms.cmp(&a.timestamp_ms).then(b.offset.cmp(&a.offset)));
        Ok(out)
    }

    /// Creates a topic; returns its settings as the broker reports them (CreateTopics v5+).
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(String, String)],
    ) -> anyhow::Result<Vec<TopicSetting>> {
        let version = self.version(ApiKey::CreateTopics, 7)?;
        let configs = configs
            .iter()
            .map(|(k, v)| {
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_value(Some(StrBytes::from_string(v.clone())))
            })
            .collect();
        let topic = create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(-1)
            .with_configs(configs);
        let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(ADMIN_TIMEOUT_MS);
        let response = self.call(&request, version)?;
        let result = response.topics.first().context("the broker answered CreateTopics without a result")?;
        check(result.error_code, result.error_message.as_ref(), &format!("creating topic '{name}'"))?;
        let settings = result.configs.iter().flatten().map(|c| TopicSetting {
            name: c.name.to_string(),
            value: c.value.as_ref().map(|v| v.to_string()),
            explicit: c.config_source == DYNAMIC_TOPIC_CONFIG,
        });
        Ok(settings.collect())
    }

    pub fn delete_topic(&mut self, name: &str) -> anyhow::Result<()> {
        let version = self.version(ApiKey::DeleteTopics, 6)?;
        let topic_name = TopicName(StrBytes::from_string(name.to_string()));
        // Version 6 names topics in `topics`; older versions in `topic_names`.
        let request = if version >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default().with_name(Some(topic_name))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name])
        };
        let response = self.call(&request.with_timeout_ms(ADMIN_TIMEOUT_MS), version)?;
        let result = response.responses.first().context("the broker answered DeleteTopics without a result")?;
        check(result.error_code, result.error_message.as_ref(), &format!("deleting topic '{name}'"))
    }

    /// The topic's settings, or `None` when the broker does not serve DescribeConfigs.
    pub fn topic_settings(&mut self, name: &str) -> anyhow::Result<Option<Vec<TopicSetting>>> {
        let Some(version) = self.served_version(ApiKey::DescribeConfigs, 4) else { return Ok(None) };
        let resource = describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(name.to_string()));
        let response = self.call(&DescribeConfigsRequest::default().with_resources(vec![resource]), version)?;
        let result = response.results.first().context("the broker answered DescribeConfigs without a result")?;
        check(result.error_code, result.error_message.as_ref(), &format!("describing topic '{name}'"))?;
        let settings = result
            .configs
            .iter()
            .map(|c| TopicSetting {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                explicit: c.config_source == DYNAMIC_TOPIC_CONFIG,
            })
            .collect();
        Ok(Some(settings))
    }
}
