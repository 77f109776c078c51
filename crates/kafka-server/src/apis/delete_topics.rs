//! DeleteTopics (20): deletes topics by name (or by id, v6+) with their data.

use crate::access::Operation;
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: DeleteTopicsRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    // Up to v5 topics come by name; v6 sends (name or id) pairs.
    let wanted: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        body.topics.iter().map(|t| (t.name.as_ref().map(|n| n.0.as_str().to_string()), t.topic_id)).collect()
    } else {
        body.topic_names.iter().map(|n| (Some(n.0.as_str().to_string()), uuid::Uuid::nil())).collect()
    };
    let mut results = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let topic = match &name {
            Some(name) => cluster.topic(name),
            None => cluster.topic_by_id(id),
        };
        let shown_name = name.clone().or_else(|| topic.as_ref().map(|t| t.name.clone()));
        let mut result = DeletableTopicResult::default()
            .with_name(shown_name.clone().map(|n| TopicName(StrBytes::from_string(n))))
            .with_topic_id(topic.as_ref().map(|t| t.id).unwrap_or(id));
        let error = match (&topic, shown_name) {
            (_, Some(n)) if !session.allows(Operation::Manage, &n) => Some(ResponseError::TopicAuthorizationFailed),
            (None, _) if name.is_none() => Some(ResponseError::UnknownTopicId),
            (None, _) => Some(ResponseError::UnknownTopicOrPartition),
            (Some(t), _) => cluster.delete_topic(&t.name).err().map(|e| super::create_topics::topic_error_code(&e)),
        };
        if let Some(error) = error {
            result.error_code = error.code();
        }
        results.push(result);
    }
    encode_body(&DeleteTopicsResponse::default().with_responses(results), version)
}
