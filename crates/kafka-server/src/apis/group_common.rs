//! What the consumer-group APIs share: the access check, waiting for an answer the group holds
//! back (rebalances), making offsets durable before acknowledging, and string conversions.

use crate::cluster::Cluster;
use crate::groups::group::Reply;
use crate::session::Session;
use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a held request lets time act on its group (expired sessions, the rebalance
/// deadline), so no timer task per group is needed.
const WAIT_TICK: Duration = Duration::from_millis(500);

/// The cluster of a connection whose credential may use consumer groups, or the error to
/// answer with.
pub fn group_cluster(session: &Session) -> anyhow::Result<Result<Arc<Cluster>, ResponseError>> {
    let (credential, cluster) = session.principal()?;
    Ok(if credential.may_use_groups() { Ok(cluster.clone()) } else { Err(ResponseError::GroupAuthorizationFailed) })
}

/// The answer, waiting for it if the group holds it back. `lost` is the answer when the group
/// dropped the request (the member was removed) or nothing happened for far too long.
pub async fn wait_for<T>(cluster: &Cluster, group_id: &str, reply: Reply<T>, lost: impl Fn() -> T) -> T {
    let mut receiver = match reply {
        Reply::Now(answer) => return answer,
        Reply::Later(receiver) => receiver,
    };
    let limits = &cluster.groups.limits;
    let give_up = Instant::now() + limits.max_rebalance_timeout + limits.max_session_timeout;
    loop {
        match tokio::time::timeout(WAIT_TICK, &mut receiver).await {
            Ok(Ok(answer)) => return answer,
            Ok(Err(_)) => return lost(),
            Err(_) => {
                let now = Instant::now();
                if now >= give_up {
                    return lost();
                }
                cluster.groups.tick(group_id, now);
            }
        }
    }
}

/// Waits until the changes up to `seq` are fsynced (nothing to wait for in memory-only clusters).
pub async fn make_durable(cluster: &Arc<Cluster>, seq: Option<u64>) -> Result<(), ResponseError> {
    let Some(seq) = seq else { return Ok(()) };
    let owner = cluster.clone();
    match tokio::task::spawn_blocking(move || owner.groups.make_durable(seq)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(cluster = %cluster.id, error = %e, "cannot write the offsets log");
            Err(ResponseError::CoordinatorNotAvailable)
        }
        Err(e) => {
            tracing::warn!(cluster = %cluster.id, error = %e, "offsets log writer failed");
            Err(ResponseError::CoordinatorNotAvailable)
        }
    }
}

pub fn text(s: &StrBytes) -> String {
    s.as_str().to_string()
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn code(error: Option<ResponseError>) -> i16 {
    error.map(|e| e.code()).unwrap_or(0)
}

/// A duration in milliseconds from the wire; negative values are zero.
pub fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use crate::access::{Access, TopicScope};
    use crate::testing::{decode, request, session};
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{
        ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetFetchRequest, OffsetFetchResponse,
        TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn producers_may_not_use_groups() {
        let mut producer = session(Access::ProduceOnly, TopicScope::All);
        let find = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
        let answer =
            crate::apis::find_coordinator::handle(&mut producer, &mut request(ApiKey::FindCoordinator, 2, &find));
        let response: FindCoordinatorResponse = decode(answer.unwrap(), 2);
        assert_eq!(response.error_code, ResponseError::GroupAuthorizationFailed.code());
        let mut consumer = session(Access::ConsumeOnly, TopicScope::All);
        let answer =
            crate::apis::find_coordinator::handle(&mut consumer, &mut request(ApiKey::FindCoordinator, 2, &find));
        let response: FindCoordinatorResponse = decode(answer.unwrap(), 2);
        assert_eq!((response.error_code, response.node_id.0), (0, crate::broker::NODE_ID));
        let transactions = find.with_key_type(1);
        let answer = crate::apis::find_coordinator::handle(
            &mut consumer,
            &mut request(ApiKey::FindCoordinator, 2, &transactions),
        );
        let response: FindCoordinatorResponse = decode(answer.unwrap(), 2);
        assert_eq!(response.error_code, ResponseError::InvalidRequest.code());
    }

    #[test]
    fn offsets_of_topics_outside_the_scope_are_refused() {
        let mut consumer = session(Access::ConsumeOnly, TopicScope::Topic("mine".into()));
        let topic = |name: &'static str| {
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_partition_indexes(vec![0])
        };
        let fetch = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_topics(Some(vec![topic("mine"), topic("theirs")]));
        let answer = crate::apis::offset_fetch::handle(&mut consumer, &mut request(ApiKey::OffsetFetch, 7, &fetch));
        let response: OffsetFetchResponse = decode(answer.unwrap(), 7);
        let errors: Vec<(String, i16, i64)> = response
            .topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partitions[0].error_code, t.partitions[0].committed_offset))
            .collect();
        assert_eq!(
            errors,
            vec![("mine".into(), 0, -1), ("theirs".into(), ResponseError::TopicAuthorizationFailed.code(), -1)]
        );
    }
}
