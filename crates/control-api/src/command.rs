//! `POST /v1/databases/{name}/command`: one Redis command the control plane runs on the
//! database's primary node for the console (its command box and key browser).

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
