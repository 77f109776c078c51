//! Idempotent-producer state of a partition: per producer id, the epoch and the last five
//! batches' sequence ranges and offsets. Detects duplicates (a retried batch), sequence gaps
//! and fenced epochs; rebuilt from batch headers when the log is opened.

use std::collections::{HashMap, VecDeque};

use crate::batch::BatchHeader;
use crate::AppendError;

/// How many recent batches per producer are remembered (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub const BATCHES_PER_PRODUCER: usize = 5;

/// A remembered batch of one producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<ProducerBatch>,
    last_timestamp_ms: i64,
}

/// What an idempotent batch is, relative to what the producer wrote before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// New data: append it.
    Fresh,
    /// A retry of a batch already in the log, at these offsets.
    Duplicate(ProducerBatch),
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks a batch (with a producer id) against the producer's state, as updated by the
    /// earlier batches of the same append (`staged`).
    pub fn check(&self, staged: &ProducerStates, header: &BatchHeader) -> Result<SequenceCheck, AppendError> {
        let id = header.producer_id;
        check_entry(staged.producers.get(&id).or_else(|| self.producers.get(&id)), header)
    }

    /// Records an accepted batch of an append in `staged`, starting from the committed state.
    pub fn stage(&self, staged: &mut ProducerStates, header: &BatchHeader) {
        if let Some(entry) = self.producers.get(&header.producer_id) {
            staged.producers.entry(header.producer_id).or_insert_with(|| entry.clone());
        }
        staged.observe(header);
    }

    /// Makes an append's staged state the committed one.
    pub fn commit(&mut self, staged: ProducerStates) {
        self.producers.extend(staged.producers);
    }

    /// Records a batch written to the log (its base offset already assigned).
    pub fn observe(&mut self, header: &BatchHeader) {
        if !header.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_insert_with(|| ProducerEntry {
            epoch: header.producer_epoch,
            batches: VecDeque::with_capacity(BATCHES_PER_PRODUCER),
            last_timestamp_ms: header.max_timestamp,
        });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(ProducerBatch {
            first_sequence: header.base_sequence,
            last_sequence: header.last_sequence(),
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
        });
        entry.last_timestamp_ms = entry.last_timestamp_ms.max(header.max_timestamp);
    }

    /// Forgets producers silent for longer than `expiration_ms` (bounds the map).
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        let horizon = now_ms.saturating_sub(expiration_ms);
        self.producers.retain(|_, entry| entry.last_timestamp_ms >= horizon);
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|entry| entry.epoch)
    }
}

fn check_entry(entry: Option<&ProducerEntry>, header: &BatchHeader) -> Result<SequenceCheck, AppendError> {
    // Unknown producer (new, or its state expired): Kafka accepts any sequence.
    let Some(entry) = entry else { return Ok(SequenceCheck::Fresh) };
    let producer_id = header.producer_id;
    if header.producer_epoch < entry.epoch {
        return Err(AppendError::InvalidProducerEpoch {
            producer_id,
            epoch: header.producer_epoch,
            current_epoch: entry.epoch,
        });
    }
    let out_of_order =
        |expected| AppendError::OutOfOrderSequence { producer_id, expected, received: header.base_sequence };
    if header.producer_epoch > entry.epoch {
        // A new epoch starts its sequences again at 0.
        return if header.base_sequence == 0 { Ok(SequenceCheck::Fresh) } else { Err(out_of_order(0)) };
    }
    let last_sequence = header.last_sequence();
    if let Some(batch) =
        entry.batches.iter().find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last_sequence)
    {
        return Ok(SequenceCheck::Duplicate(*batch));
    }
    let Some(latest) = entry.batches.back() else { return Ok(SequenceCheck::Fresh) };
    let expected = next_sequence(latest.last_sequence);
    if header.base_sequence != expected {
        return Err(out_of_order(expected));
    }
    Ok(SequenceCheck::Fresh)
}

/// The sequence after `sequence`; sequences wrap from `i32::MAX` to 0.
fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}
