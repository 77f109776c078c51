//! TEMPORARY
#[derive(Default)]
pub struct Groups {}
