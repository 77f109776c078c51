//! Tern's Kafka broker: the Kafka wire protocol (through the `kafka-protocol` crate) served to
//! many clusters on one listener, each reached by its SASL credentials.

pub mod access;
pub mod apis;
pub mod broker;
pub mod cluster;
pub mod conn;
pub mod frame;
pub mod fsutil;
pub mod groups;
pub mod partition;
pub mod router;
pub mod sasl;
pub mod server;
pub mod session;
#[cfg(test)]
pub mod testing;
pub mod topic_config;
pub mod usage;

pub use access::{Access, ClusterId, CredentialConfig, TopicScope};
pub use broker::{Broker, BrokerLimits, ClusterConfig};
