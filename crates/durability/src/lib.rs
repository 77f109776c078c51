//! Durable change logs: the `Disk` seam (real files, or a fault-injecting fake for tests), the
//! on-disk record framing with checksums, and recovery that tells a torn tail (truncated, with
//! a log line by the caller) from corruption in the middle (refused). Records are opaque bytes
//! with an offset: this crate knows nothing of Redis or of any protocol. Snapshot files
//! (`snapshot.rs`) and log segments (`segments.rs`) let a database's log be truncated.

mod disk;
mod log;
pub mod segments;
mod snapshot;

pub use disk::{log_path, Disk, Faults, FaultyDisk, LogFile, RealDisk};
pub use log::{frame, recover, LogWriter, Recovery, RecoveryError, RECORD_HEADER_BYTES};
pub use snapshot::{snapshot_name, SnapshotError, SnapshotReader, SnapshotWriter};
