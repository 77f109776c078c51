//! placeholder
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {}
