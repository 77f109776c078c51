//! The router table: every API the broker serves, the versions that work, whether it is
//! allowed before authentication, and its handler. The ApiVersions reply is generated from
//! this table, so a client is never told about an API or version that is not served.

use crate::apis;
use crate::frame::Request;
use crate::session::Session;
use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use std::future::Future;
use std::pin::Pin;

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Bytes>> + Send + 'a>>;

pub enum Handler {
    /// Answers at once.
    Now(fn(&mut Session, &mut Request) -> anyhow::Result<Bytes>),
    /// May wait (long-poll Fetch, Produce waiting for fsync, group rebalances).
    Later(for<'a> fn(&'a mut Session, Request) -> HandlerFuture<'a>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Served before SASL authentication (ApiVersions and the SASL APIs themselves).
    NotNeeded,
    Required,
}

pub struct Route {
    pub key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
    pub auth: Auth,
    pub handler: Handler,
}

const fn served(key: ApiKey, min_version: i16, max_version: i16, auth: Auth, handler: Handler) -> Route {
    Route { key, min_version, max_version, auth, handler }
}

use Auth::{NotNeeded, Required};
use Handler::{Later, Now};

/// Every API served. Versions: from the oldest the codec decodes (Kafka 2.1's floor, which
/// Debian's librdkafka 2.0.2 is above) to the newest that is implemented and tested.
/// SaslHandshake v0 is served too: librdkafka only enables SASL when v0 is listed.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    served(ApiKey::ApiVersions, 0, 3, NotNeeded, Now(apis::api_versions::handle)),
    served(ApiKey::SaslHandshake, 0, 1, NotNeeded, Now(apis::sasl::handshake)),
    served(ApiKey::SaslAuthenticate, 0, 2, NotNeeded, Now(apis::sasl::authenticate)),
    served(ApiKey::Metadata, 0, 12, Required, Now(apis::metadata::handle)),
    served(ApiKey::CreateTopics, 2, 7, Required, Now(apis::create_topics::handle)),
    served(ApiKey::DeleteTopics, 1, 6, Required, Now(apis::delete_topics::handle)),
    served(ApiKey::Produce, 3, 9, Required, Later(apis::produce::handle)),
    served(ApiKey::Fetch, 4, 12, Required, Later(apis::fetch::handle)),
    served(ApiKey::ListOffsets, 1, 7, Required, Now(apis::list_offsets::handle)),
    served(ApiKey::InitProducerId, 0, 4, Required, Now(apis::init_producer_id::handle)),
    served(ApiKey::FindCoordinator, 0, 4, Required, Now(apis::find_coordinator::handle)),
    served(ApiKey::JoinGroup, 0, 9, Required, Later(apis::join_group::handle)),
    served(ApiKey::SyncGroup, 0, 5, Required, Later(apis::sync_group::handle)),
    served(ApiKey::Heartbeat, 0, 4, Required, Now(apis::heartbeat::handle)),
    served(ApiKey::LeaveGroup, 0, 5, Required, Now(apis::leave_group::handle)),
    served(ApiKey::OffsetCommit, 2, 8, Required, Later(apis::offset_commit::handle)),
    served(ApiKey::OffsetFetch, 1, 8, Required, Now(apis::offset_fetch::handle)),
    served(ApiKey::DescribeGroups, 0, 5, Required, Now(apis::describe_groups::handle)),
    served(ApiKey::ListGroups, 0, 5, Required, Now(apis::list_groups::handle)),
    served(ApiKey::DeleteGroups, 0, 2, Required, Later(apis::delete_groups::handle)),
    served(ApiKey::OffsetDelete, 0, 0, Required, Later(apis::offset_delete::handle)),
    served(ApiKey::DescribeConfigs, 1, 4, Required, Now(apis::describe_configs::handle)),
    served(ApiKey::AlterConfigs, 0, 2, Required, Now(apis::alter_configs::handle)),
    served(ApiKey::IncrementalAlterConfigs, 0, 1, Required, Now(apis::incremental_alter_configs::handle)),
    served(ApiKey::CreatePartitions, 0, 3, Required, Now(apis::create_partitions::handle)),
    served(ApiKey::DeleteRecords, 0, 2, Required, Now(apis::delete_records::handle)),
    served(ApiKey::DescribeCluster, 0, 2, Required, Now(apis::describe_cluster::handle)),
];

pub fn route(key: ApiKey) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.key == key)
}
