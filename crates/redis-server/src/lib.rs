//! The Redis-compatible data plane of a node: the command table and command families, client
//! connections, tenants, blocking, pub/sub, and the threads that serve them.

pub mod args;
pub mod blocking;
pub mod busy_poll;
pub mod command;
pub mod commands;
pub mod conn;
pub mod context;
pub mod durable_wait;
pub mod error;
pub mod exec;
pub mod glob;
pub mod limits;
pub mod long_double;
pub mod node;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scan;
pub mod scripting;
pub mod server;
pub mod snapshotter;
pub mod tenant;
#[cfg(test)]
pub mod testing;
pub mod usage;

pub use keyspace::Eviction;
pub use limits::TenantLimits;
pub use node::{Node, NodeLimits};
pub use server::{default_threads, start, RedisServer};
pub use tenant::{TenantConfig, TenantId};
