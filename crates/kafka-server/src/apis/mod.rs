//! One file per Kafka API; the router table (`router.rs`) lists them.

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod metadata;
pub mod sasl;
