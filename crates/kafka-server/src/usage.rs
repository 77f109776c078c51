//! Usage metering of one Kafka cluster: messages and bytes produced and consumed, counted from
//! the record batch headers (Produce: the batches appended, retries of a batch already in the
//! log excluded; Fetch: the batches answered, records before the fetch offset excluded). An
//! empty fetch adds nothing, so idle consumers are free.

use kafka_log::batch::{HEADER_BYTES, LOG_OVERHEAD};
use kafka_log::{BatchHeader, FileRange, ReadSlice};
use std::sync::atomic::{AtomicU64, Ordering};

/// A cluster's counters since it was opened on this node; monotonic (the node's reporter keeps
/// hourly totals by difference).
#[derive(Debug, Default)]
pub struct ClusterUsage {
    messages_produced: AtomicU64,
    bytes_produced: AtomicU64,
    messages_consumed: AtomicU64,
    bytes_consumed: AtomicU64,
}

/// A reading of `ClusterUsage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterUsageSample {
    pub messages_produced: u64,
    pub bytes_produced: u64,
    pub messages_consumed: u64,
    pub bytes_consumed: u64,
}

impl ClusterUsage {
    /// Counts the batches of one Produce partition that were appended (not a duplicate).
    pub fn count_produced(&self, records: &[u8]) {
        let messages: u64 = batch_headers(records).map(|h| h.record_count.max(0) as u64).sum();
        self.messages_produced.fetch_add(messages, Ordering::Relaxed);
        self.bytes_produced.fetch_add(records.len() as u64, Ordering::Relaxed);
    }

    /// Counts one partition's answered records, read from `fetch_offset`. Reads each batch's
    /// header from the segment file (page cache: the batches were just located by the same
    /// headers).
    pub fn count_consumed(&self, records: &ReadSlice, fetch_offset: i64) {
        let mut messages = 0;
        for range in &records.ranges {
            messages += messages_in_range(range, fetch_offset);
        }
        self.messages_consumed.fetch_add(messages, Ordering::Relaxed);
        self.bytes_consumed.fetch_add(records.len(), Ordering::Relaxed);
    }

    pub fn sample(&self) -> ClusterUsageSample {
        ClusterUsageSample {
            messages_produced: self.messages_produced.load(Ordering::Relaxed),
            bytes_produced: self.bytes_produced.load(Ordering::Relaxed),
            messages_consumed: self.messages_consumed.load(Ordering::Relaxed),
            bytes_consumed: self.bytes_consumed.load(Ordering::Relaxed),
        }
    }
}

/// Records of a batch that a consumer reading from `fetch_offset` receives: all of them when
/// the batch starts at or after it, else those from the fetch offset to the batch's end (the
/// client drops the ones before).
fn consumed_records(header: &BatchHeader, fetch_offset: i64) -> u64 {
    let count = header.record_count.max(0) as u64;
    if header.base_offset >= fetch_offset {
        return count;
    }
    let after = header.last_offset() - fetch_offset + 1;
    (after.max(0) as u64).min(count)
}

/// Headers of the whole batches in a buffer (stops at the first one that does not parse:
/// the append validated them already).
fn batch_headers(mut bytes: &[u8]) -> impl Iterator<Item = BatchHeader> + '_ {
    std::iter::from_fn(move || {
        let header = BatchHeader::parse(bytes).ok()?;
        bytes = bytes.get(header.size_bytes()..)?;
        Some(header)
    })
}

fn messages_in_range(range: &FileRange, fetch_offset: i64) -> u64 {
    let mut messages = 0;
    let mut at = 0u64;
    let mut buf = [0u8; HEADER_BYTES];
    while at + HEADER_BYTES as u64 <= range.len {
        if range.file.read_at(&mut buf, range.position + at).is_err() {
            break;
        }
        let Ok(header) = BatchHeader::parse(&buf) else { break };
        messages += consumed_records(&header, fetch_offset);
        at += (LOG_OVERHEAD as u64).max(header.size_bytes() as u64);
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_log::testing::values_batch;

    #[test]
    fn produced_messages_come_from_batch_headers() {
        let usage = ClusterUsage::default();
        let mut records = values_batch(2, 0);
        records.extend_from_slice(&values_batch(5, 0));
        usage.count_produced(&records);
        let s = usage.sample();
        assert_eq!((s.messages_produced, s.bytes_produced), (7, records.len() as u64));
    }

    #[test]
    fn a_batch_starting_before_the_fetch_offset_counts_from_it() {
        let mut header = BatchHeader::parse(&values_batch(3, 0)).unwrap();
        header.base_offset = 10;
        assert_eq!(consumed_records(&header, 0), 3);
        assert_eq!(consumed_records(&header, 11), 2);
        assert_eq!(consumed_records(&header, 13), 0);
    }
}
