//! Bodies of the routes the web console uses besides the others: `POST
//! /v1/databases/{name}/command` (one Redis command run on the database's primary node, for
//! the command box and key browser), `GET /v1/kafka/clusters/{name}/topics` and
//! `GET /v1/kafka/clusters/{name}/topics/{topic}/messages`.

use serde::{Deserialize, Serialize};

/// The reply of one command. The request body is the command as a JSON array of strings,
/// such as `["SET", "foo", "bar"]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandReply {
    /// The node's RESP2 reply as JSON: a status or bulk string is a string (bytes that are
    /// not UTF-8 shown as U+FFFD), an integer a number, nil `null`, an array an array, and an
    /// error reply (such as `WRONGTYPE …`) the object `{"error": "..."}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Value))]
    pub reply: serde_json::Value,
}

/// A topic as the cluster's broker lists it (`GET /v1/kafka/clusters/{name}/topics`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaTopic {
    pub name: String,
    pub partitions: u32,
}

/// A recent record of a topic. Key and value are cut to their first 1 KiB and shown as
/// UTF-8 (other bytes as U+FFFD).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaMessage {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<String>,
    pub value: Option<String>,
}
