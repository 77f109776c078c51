//! Usage metering and billing bodies: what nodes report (`POST /v1/nodes/{id}/usage`), what the
//! CLI reads (`GET /v1/usage`, `GET /v1/notifications`) and the usage shown in statuses.

use serde::{Deserialize, Serialize};

/// What is metered.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum UsageKind {
    /// A Redis database (counts commands, bytes in and out, data size).
    #[default]
    Redis,
    /// A Kafka cluster (counts messages and bytes produced and consumed).
    Kafka,
}

/// What one node counted for one database or cluster during one UTC hour. Values are the
/// node's totals for that hour so far (never deltas): the control plane replaces the row of
/// (node, kind, id, hour), so a repeated report cannot count anything twice.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageRecord {
    pub kind: UsageKind,
    /// The database's or cluster's id.
    pub id: String,
    /// Start of the hour, Unix seconds (a multiple of 3600).
    pub hour: i64,
    #[serde(default)]
    pub billable_commands: u64,
    #[serde(default)]
    pub free_commands: u64,
    #[serde(default)]
    pub bytes_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    /// Largest data size (`used_memory`) seen during the hour.
    #[serde(default)]
    pub peak_data_bytes: u64,
    /// The data size at the last sample.
    #[serde(default)]
    pub data_bytes: u64,
    #[serde(default)]
    pub peak_connections: u64,
    /// Connections at the last sample.
    #[serde(default)]
    pub connections: u64,
    #[serde(default)]
    pub messages_produced: u64,
    #[serde(default)]
    pub messages_consumed: u64,
    #[serde(default)]
    pub bytes_produced: u64,
    #[serde(default)]
    pub bytes_consumed: u64,
}

/// `POST /v1/nodes/{id}/usage` (cluster secret).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub records: Vec<UsageRecord>,
}

/// One UTC day of a database or cluster, summed over nodes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayUsage {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub billable_commands: u64,
    pub free_commands: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Largest hourly data size of the day.
    pub peak_data_bytes: u64,
    pub messages_produced: u64,
    pub messages_consumed: u64,
    pub bytes_produced: u64,
    pub bytes_consumed: u64,
}

/// One line of the bill. Amounts are in micro-dollars (1 USD = 1,000,000) so per-command
/// prices stay exact in integers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillLine {
    pub kind: UsageKind,
    pub name: String,
    pub plan: String,
    /// What is charged, e.g. `12,345 commands over the free allowance`.
    pub description: String,
    pub amount_micros: i64,
}

/// A database's or cluster's usage this month.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceUsage {
    pub kind: UsageKind,
    pub id: String,
    pub name: String,
    pub plan: String,
    /// Days with usage, oldest first.
    pub days: Vec<DayUsage>,
}

/// `GET /v1/usage[?name=NAME]`: usage per day this month and the running bill.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUsage {
    pub org: String,
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub resources: Vec<ResourceUsage>,
    pub bill: Vec<BillLine>,
    pub total_micros: i64,
}

/// Current usage in a database's status.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatabaseUsage {
    /// Commands today (UTC), billable and free.
    pub billable_commands_today: u64,
    pub free_commands_today: u64,
    /// At the last report, summed over regions.
    pub data_bytes: u64,
    pub connections: u64,
}

/// Current usage in a Kafka cluster's status.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KafkaUsage {
    /// Today (UTC).
    pub messages_produced_today: u64,
    pub messages_consumed_today: u64,
    pub bytes_produced_today: u64,
    pub bytes_consumed_today: u64,
}

/// `GET /v1/notifications`: newest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: String,
    /// `free-allowance-exceeded`.
    pub kind: String,
    pub message: String,
    pub created_at: i64,
}

impl UsageKind {
    /// The name used in the API and the state (`redis`, `kafka`).
    pub fn as_str(self) -> &'static str {
        match self {
            UsageKind::Redis => "redis",
            UsageKind::Kafka => "kafka",
        }
    }
}
