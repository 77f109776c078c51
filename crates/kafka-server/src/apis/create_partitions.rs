//! CreatePartitions (37): grows a topic to a new partition count (it never shrinks); the new
//! partitions start empty and are served at once.

use super::config_resources::{error_fields, Refusal};
use crate::access::Operation;
use crate::cluster::{Cluster, TopicError};
use crate::frame::{decode_body, encode_body, Request};
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub fn handle(session: &mut Session, request: &mut Request) -> anyhow::Result<Bytes> {
    let version = request.version;
    let body: CreatePartitionsRequest = decode_body(&mut request.body, version)?;
    let cluster = session.cluster()?.clone();
    let results = body
        .topics
        .iter()
        .map(|wanted| {
            let (error_code, error_message) = error_fields(grow(session, &cluster, wanted, body.validate_only));
            CreatePartitionsTopicResult::default()
                .with_name(wanted.name.clone())
                .with_error_code(error_code)
                .with_error_message(error_message)
        })
        .collect();
    encode_body(&CreatePartitionsResponse::default().with_results(results), version)
}

fn grow(
    session: &Session,
    cluster: &Cluster,
    wanted: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), Refusal> {
    let name = wanted.name.0.as_str();
    if !session.allows(Operation::Manage, name) {
        return Err(Refusal::new(
            ResponseError::TopicAuthorizationFailed,
            format!("Not authorized to alter topic {name}"),
        ));
    }
    // This node holds every partition of the region: there is nothing to assign.
    if wanted.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(Refusal::new(
            ResponseError::InvalidReplicaAssignment,
            "Manual replica assignment is not supported",
        ));
    }
    let current = cluster.topic(name).map(|t| t.partition_count());
    match (current, cluster.add_partitions(name, wanted.count, validate_only)) {
        (_, Ok(())) => Ok(()),
        (Some(current), Err(TopicError::InvalidPartitions { asked, .. })) if asked <= current => Err(Refusal::new(
            ResponseError::InvalidPartitions,
            format!(
                "Topic currently has {current} partitions, which is higher than or equal to the requested {asked}."
            ),
        )),
        (_, Err(e)) => Err(Refusal::from_topic_error(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Access, TopicScope};
    use crate::testing::{call, session};
    use kafka_protocol::messages::{ApiKey, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn send(session: &mut Session, version: i16, topic: &str, count: i32, validate_only: bool) -> i16 {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_count(count)])
            .with_validate_only(validate_only);
        let response: CreatePartitionsResponse =
            call(super::handle, session, ApiKey::CreatePartitions, version, &request);
        response.results[0].error_code
    }

    #[test]
    fn partitions_only_grow_and_new_ones_take_records() {
        let mut session = session(Access::Full, TopicScope::All);
        let cluster = session.cluster().unwrap().clone();
        assert_eq!(send(&mut session, 3, "mine", 4, true), 0);
        assert_eq!(cluster.topic("mine").unwrap().partition_count(), 1);
        assert_eq!(send(&mut session, 0, "mine", 4, false), 0);
        assert_eq!(cluster.topic("mine").unwrap().partition_count(), 4);
        assert_eq!(send(&mut session, 3, "mine", 2, false), ResponseError::InvalidPartitions.code());
        assert_eq!(send(&mut session, 3, "mine", 1000, false), ResponseError::InvalidPartitions.code());
        assert_eq!(send(&mut session, 3, "nope", 2, false), ResponseError::UnknownTopicOrPartition.code());
        let partition = cluster.topic("mine").unwrap().partition(3).unwrap();
        assert_eq!(partition.offsets().unwrap().log_end, 0);
    }

    #[test]
    fn growing_needs_manage_access() {
        let mut session = session(Access::ConsumeOnly, TopicScope::All);
        assert_eq!(send(&mut session, 1, "mine", 2, false), ResponseError::TopicAuthorizationFailed.code());
    }
}
