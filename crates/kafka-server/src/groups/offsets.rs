//! The durable offsets log of a cluster: every committed offset and group deletion as a
//! CRC-framed record (the `durability` crate's framing, with its torn-tail recovery), replayed
//! on open and rewritten compactly from memory once it has grown to twice its compacted size.

use super::group::CommittedOffset;
use durability::{Disk, LogWriter};
use parking_lot::Mutex;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One change of the offsets state, as stored (JSON inside a framed record).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Commit { group: String, topic: String, partition: i32, committed: CommittedOffset },
    DeleteOffset { group: String, topic: String, partition: i32 },
    DeleteGroup { group: String },
}

/// Changes applied in memory and waiting to be written, numbered by a sequence that only grows
/// (file offsets restart after each compaction; the sequence does not).
#[derive(Default)]
pub struct Journal {
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    last_seq: u64,
}

impl Journal {
    /// Queues a change; returns its sequence number, to wait on with `OffsetLog::sync_through`.
    pub fn record(&mut self, change: &Change) -> u64 {
        // Serializing plain strings and integers cannot fail; an empty record would be skipped
        // on replay, so nothing is lost but that change.
        let payload = serde_json::to_vec(change).unwrap_or_default();
        self.pending_bytes += payload.len();
        self.pending.push(payload);
        self.last_seq += 1;
        self.last_seq
    }

    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn take(&mut self) -> Vec<Vec<u8>> {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }
}

/// Where the journal's records go: the file and its writer.
pub struct OffsetLog {
    path: PathBuf,
    disk: Arc<dyn Disk>,
    state: Mutex<WriterState>,
    compaction_min_bytes: u64,
}

struct WriterState {
    writer: LogWriter,
    next_offset: u64,
    durable_seq: u64,
    /// Size of the file right after the last compaction (or open).
    compacted_bytes: u64,
    /// A compaction failed after the pending records were taken: the next sync must rewrite
    /// from memory, which holds them.
    must_rewrite: bool,
}

/// What `OffsetLog::open` found.
pub struct Replay {
    pub log: OffsetLog,
    pub changes: Vec<Change>,
    pub torn_tail_bytes: u64,
}

impl OffsetLog {
    pub fn open(disk: Arc<dyn Disk>, path: &Path, compaction_min_bytes: u64) -> anyhow::Result<Replay> {
        let recovery =
            durability::recover(disk.as_ref(), path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut changes = Vec::with_capacity(recovery.records.len());
        for (offset, payload) in &recovery.records {
            let change: Change = serde_json::from_slice(payload)
                .map_err(|e| anyhow::anyhow!("{}: record {offset} is not an offsets change: {e}", path.display()))?;
            changes.push(change);
        }
        let last_offset = recovery.records.last().map(|(o, _)| *o).unwrap_or(0);
        let writer = LogWriter::open(disk.clone(), path, recovery.good_len, last_offset)?;
        let state = WriterState {
            writer,
            next_offset: last_offset + 1,
            durable_seq: 0,
            compacted_bytes: recovery.good_len,
            must_rewrite: false,
        };
        let log = OffsetLog { path: path.to_path_buf(), disk, state: Mutex::new(state), compaction_min_bytes };
        Ok(Replay { log, changes, torn_tail_bytes: recovery.torn_tail_bytes })
    }

    /// Makes every change up to `seq` durable. Blocking (fsync): run it off the async threads.
    /// Group commit: whoever holds the writer writes everything queued so far, so callers that
    /// queued while an fsync ran are covered by the next single fsync.
    /// `take` drains the journal; `snapshot` lists the whole state for a compaction. Both are
    /// called under the caller's state lock, briefly.
    pub fn sync_through(&self, seq: u64, source: &dyn JournalSource) -> io::Result<()> {
        let mut state = self.state.lock();
        if state.durable_seq >= seq {
            return Ok(());
        }
        let compact = state.must_rewrite
            || (state.writer.bytes > self.compaction_min_bytes && state.writer.bytes > 2 * state.compacted_bytes);
        let (records, last_seq, snapshot) = source.drain(compact);
        match snapshot {
            Some(snapshot) => {
                state.must_rewrite = true;
                self.rewrite(&mut state, &snapshot)?;
                state.must_rewrite = false;
            }
            None => {
                for payload in &records {
                    let offset = state.next_offset;
                    state.writer.push(offset, payload);
                    state.next_offset += 1;
                }
                state.writer.flush(true)?;
            }
        }
        state.durable_seq = last_seq;
        Ok(())
    }

    /// Replaces the file with one record per live change, atomically (temporary file, fsync,
    /// rename), then appends after it.
    fn rewrite(&self, state: &mut WriterState, snapshot: &[Change]) -> io::Result<()> {
        let mut data = Vec::new();
        for (index, change) in snapshot.iter().enumerate() {
            durability::frame(&mut data, index as u64 + 1, &serde_json::to_vec(change).unwrap_or_default());
        }
        crate::fsutil::write_atomically(&self.path, &data)?;
        let count = snapshot.len() as u64;
        state.writer = LogWriter::open(self.disk.clone(), &self.path, data.len() as u64, count)?;
        state.next_offset = count + 1;
        state.compacted_bytes = data.len() as u64;
        tracing::info!(path = %self.path.display(), bytes = data.len(), records = count, "offsets log compacted");
        Ok(())
    }

    pub fn file_bytes(&self) -> u64 {
        self.state.lock().writer.bytes
    }
}

/// The in-memory side the log drains: queued records, and the whole state for compaction.
pub trait JournalSource {
    /// Returns the queued records, the sequence number of the last one, and with `snapshot`
    /// the whole live state (which then replaces the records).
    fn drain(&self, snapshot: bool) -> (Vec<Vec<u8>>, u64, Option<Vec<Change>>);
}

impl Journal {
    pub fn drain(&mut self) -> (Vec<Vec<u8>>, u64) {
        let records = self.take();
        (records, self.last_seq)
    }
}
