//! TEMPORARY: placeholder until kafka-log lands.
use crate::topic_config::TopicConfig;
use std::path::PathBuf;
#[derive(Default)]
pub struct Storage {}
pub struct Partition {
    pub index: i32,
}
impl Partition {
    pub fn open(_s: &Storage, index: i32, _dir: Option<PathBuf>, _c: &TopicConfig) -> anyhow::Result<Partition> {
        Ok(Partition { index })
    }
    pub fn close(&self) {}
    pub fn apply_config(&self, _c: &TopicConfig) {}
}
