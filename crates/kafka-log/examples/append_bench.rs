//! Appends 1 GiB of 16 KiB batches (16 records of 1 KiB) to a partition log and prints MB/s,
//! without fsync and with one group-commit fsync per 16 batches (256 KiB). Usage:
//! `cargo run --release -p kafka-log --example append_bench [DIR]`.

use std::sync::Arc;
use std::time::Instant;

use kafka_log::testing::BatchBuilder;
use kafka_log::{LogConfig, PartitionLog, RealDisk};

const TOTAL_BYTES: usize = 1 << 30;
const RECORDS_PER_BATCH: usize = 16;
const RECORD_BYTES: usize = 1024;
const BATCHES_PER_SYNC: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    Never,
    EveryGroup,
}

fn run(root: &std::path::Path, batch: &[u8], sync: Sync) -> f64 {
    let dir = root.join(if sync == Sync::Never { "nosync" } else { "sync" });
    let _ = std::fs::remove_dir_all(&dir);
    let mut log = match PartitionLog::open(Arc::new(RealDisk), &dir, LogConfig::default(), 0) {
        Ok(log) => log,
        Err(error) => panic!("open failed: {error}"),
    };
    let batches = TOTAL_BYTES / batch.len();
    let started = Instant::now();
    for number in 0..batches {
        if let Err(error) = log.append(batch, 0) {
            panic!("append failed: {error}");
        }
        if sync == Sync::EveryGroup && number % BATCHES_PER_SYNC == BATCHES_PER_SYNC - 1 {
            if let Some(job) = log.sync_job() {
                if let Err(error) = job.run() {
                    panic!("fsync failed: {error}");
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    (batches * batch.len()) as f64 / seconds / 1e6
}

fn main() {
    let root = std::env::args().nth(1).map_or_else(std::env::temp_dir, std::path::PathBuf::from).join("append_bench");
    let value = vec![b'x'; RECORD_BYTES];
    // Not idempotent: the same batch is appended again and again.
    let batch =
        (0..RECORDS_PER_BATCH).fold(BatchBuilder::new(0), |builder, _| builder.record(None, Some(&value))).build();
    println!("batch {} bytes, {} MiB total", batch.len(), TOTAL_BYTES >> 20);
    println!("no fsync:                      {:8.0} MB/s", run(&root, &batch, Sync::Never));
    println!("fsync every {BATCHES_PER_SYNC} batches (256 KiB): {:8.0} MB/s", run(&root, &batch, Sync::EveryGroup));
}
