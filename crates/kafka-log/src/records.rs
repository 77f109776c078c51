//! The records inside a v2 batch (varint encoded, possibly compressed): decoding for
//! compaction, timestamp lookup and key checks, and encoding for rewritten batches and tests.

use crate::batch::{BatchFields, BatchHeader, Compression, HEADER_BYTES};
use crate::compression::{self, SnappyFraming, MAX_DECOMPRESSED_BYTES};
use crate::BatchError;

/// One record header (key is a string in Kafka, kept as bytes here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// One decoded record. Offsets and timestamps are deltas from the batch header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// Absolute offset, given the batch it belongs to.
    pub fn offset(&self, header: &BatchHeader) -> i64 {
        header.base_offset + i64::from(self.offset_delta)
    }

    /// Absolute timestamp; LogAppendTime batches give every record the batch's max timestamp.
    pub fn timestamp(&self, header: &BatchHeader) -> i64 {
        match header.timestamp_type() {
            crate::TimestampType::LogAppendTime => header.max_timestamp,
            crate::TimestampType::CreateTime => header.first_timestamp.saturating_add(self.timestamp_delta),
        }
    }
}

/// Decodes every record of a complete, validated batch.
pub fn decode_records(batch: &[u8]) -> Result<(BatchHeader, Vec<Record>), BatchError> {
    let header = BatchHeader::parse(batch)?;
    let section = batch
        .get(HEADER_BYTES..header.size_bytes())
        .ok_or(BatchError::Truncated { needed: header.size_bytes(), available: batch.len() })?;
    let plain = compression::decompress(header.compression()?, section, MAX_DECOMPRESSED_BYTES)?;
    let count = usize::try_from(header.record_count).map_err(|_| bad("negative record count"))?;
    let mut reader = Reader { bytes: &plain, at: 0 };
    // The count comes from the batch: never reserve more than the bytes could hold.
    let mut records = Vec::with_capacity(count.min(plain.len()));
    for _ in 0..count {
        records.push(reader.record()?);
    }
    if reader.at != plain.len() {
        return Err(bad("bytes left after the last record"));
    }
    Ok((header, records))
}

fn bad(what: &'static str) -> BatchError {
    BatchError::BadRecord(what)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, BatchError> {
        let byte = *self.bytes.get(self.at).ok_or(bad("record cut short"))?;
        self.at += 1;
        Ok(byte)
    }

    fn varlong(&mut self) -> Result<i64, BatchError> {
        let mut raw: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
        }
        Err(bad("varint longer than 10 bytes"))
    }

    fn varint(&mut self) -> Result<i32, BatchError> {
        i32::try_from(self.varlong()?).map_err(|_| bad("varint out of range"))
    }

    fn take(&mut self, length: usize) -> Result<&[u8], BatchError> {
        let end = self.at.checked_add(length).ok_or(bad("length overflow"))?;
        let out = self.bytes.get(self.at..end).ok_or(bad("record field cut short"))?;
        self.at = end;
        Ok(out)
    }

    /// A length-prefixed byte field; length -1 is null.
    fn nullable_bytes(&mut self) -> Result<Option<Vec<u8>>, BatchError> {
        match self.varint()? {
            -1 => Ok(None),
            length if length < 0 => Err(bad("negative field length")),
            length => Ok(Some(self.take(length as usize)?.to_vec())),
        }
    }

    fn record(&mut self) -> Result<Record, BatchError> {
        let length = usize::try_from(self.varint()?).map_err(|_| bad("negative record length"))?;
        let end = self.at.checked_add(length).ok_or(bad("length overflow"))?;
        let mut inner = Reader { bytes: self.bytes.get(..end).ok_or(bad("record cut short"))?, at: self.at };
        let record = inner.record_body()?;
        if inner.at != end {
            return Err(bad("record length does not match its fields"));
        }
        self.at = end;
        Ok(record)
    }

    fn record_body(&mut self) -> Result<Record, BatchError> {
        let attributes = self.byte()? as i8;
        let timestamp_delta = self.varlong()?;
        let offset_delta = self.varint()?;
        let key = self.nullable_bytes()?;
        let value = self.nullable_bytes()?;
        let header_count = usize::try_from(self.varint()?).map_err(|_| bad("negative header count"))?;
        let mut headers = Vec::with_capacity(header_count.min(self.bytes.len() - self.at));
        for _ in 0..header_count {
            let key = self.nullable_bytes()?.ok_or(bad("null header key"))?;
            headers.push(RecordHeader { key, value: self.nullable_bytes()? });
        }
        Ok(Record { attributes, timestamp_delta, offset_delta, key, value, headers })
    }
}

fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

fn put_nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varlong(out, -1),
        Some(bytes) => {
            put_varlong(out, bytes.len() as i64);
            out.extend_from_slice(bytes);
        }
    }
}

/// Encodes records (uncompressed) as a batch's records section.
pub fn encode_records(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    for record in records {
        body.clear();
        body.push(record.attributes as u8);
        put_varlong(&mut body, record.timestamp_delta);
        put_varlong(&mut body, i64::from(record.offset_delta));
        put_nullable(&mut body, record.key.as_deref());
        put_nullable(&mut body, record.value.as_deref());
        put_varlong(&mut body, record.headers.len() as i64);
        for header in &record.headers {
            put_nullable(&mut body, Some(&header.key));
            put_nullable(&mut body, header.value.as_deref());
        }
        put_varlong(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

/// Builds a complete batch from header fields and records, compressing the records section.
pub fn encode_batch(
    fields: &BatchFields,
    records: &[Record],
    codec: Compression,
    snappy_framing: SnappyFraming,
) -> std::io::Result<Vec<u8>> {
    let section = compression::compress(codec, &encode_records(records), snappy_framing)?;
    Ok(fields.write_batch(codec, records.len() as i32, &section))
}
