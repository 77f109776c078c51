//! The snapshot encoding of one key: key, absolute deadline and value, in a compact binary
//! form of our own. Redis's DUMP format was not used because it has no encoding for streams
//! with consumer groups here, carries a CRC-64 per value that the snapshot file's per-record
//! CRC-32 already covers, and would lose what tern keeps beyond Redis (stream node
//! bookkeeping, insertion order of hashes and sets, which SCAN order depends on).
//!
//! Layout: `varint key_len, key, u64 expire_at_ms, u8 type, body`; lengths and counts are
//! LEB128 varints, integers that are often large are little-endian u64, scores are f64 bits.

use crate::db::Entry;
use crate::stream::{Consumer, ConsumerGroup, Node, PendingEntry, StreamId, StreamValue};
use crate::value::{blob, Blob, HashValue, ListValue, SetValue, Value, ZSetValue};
use std::collections::VecDeque;

const T_STR: u8 = 0;
const T_LIST: u8 = 1;
const T_HASH: u8 = 2;
const T_SET: u8 = 3;
const T_ZSET: u8 = 4;
const T_STREAM: u8 = 5;
/// Not a key: a function library (name in the key's place, no deadline, source as body).
const T_LIBRARY: u8 = 6;

/// One snapshot record: a key, or a function library.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Key(Blob, Entry),
    Library { name: String, code: bytes::Bytes },
}

/// The bytes do not hold a valid entry (the file was damaged or written by another version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    pub reason: &'static str,
    pub position: usize,
}

impl std::error::Error for CodecError {}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad snapshot entry: {} at byte {}", self.reason, self.position)
    }
}

// ----- writing ------------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_u64(out, id.ms);
    put_u64(out, id.seq);
}

fn put_option(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(n) => {
            out.push(1);
            put_u64(out, n);
        }
        None => out.push(0),
    }
}

/// Appends the encoding of one key to `out`.
pub fn encode_entry(out: &mut Vec<u8>, key: &[u8], entry: &Entry) {
    put_bytes(out, key);
    put_u64(out, entry.expire_at_ms);
    match &entry.value {
        Value::Str(s) => {
            out.push(T_STR);
            put_bytes(out, s);
        }
        Value::List(l) => {
            out.push(T_LIST);
            put_varint(out, l.len() as u64);
            l.iter().for_each(|e| put_bytes(out, e));
        }
        Value::Hash(h) => {
            out.push(T_HASH);
            put_varint(out, h.len() as u64);
            for (k, v) in h.iter() {
                put_bytes(out, k);
                put_bytes(out, v);
            }
        }
        Value::Set(s) => {
            out.push(T_SET);
            put_varint(out, s.len() as u64);
            s.iter().for_each(|m| put_bytes(out, m));
        }
        Value::ZSet(z) => {
            out.push(T_ZSET);
            put_varint(out, z.len() as u64);
            for (m, score) in z.scores.iter() {
                put_bytes(out, m);
                put_u64(out, score.to_bits());
            }
        }
        Value::Stream(st) => {
            out.push(T_STREAM);
            encode_stream(out, st);
        }
    }
}

/// Appends the encoding of one function library (decoded by [`decode_record`]).
pub fn encode_library(out: &mut Vec<u8>, name: &str, code: &[u8]) {
    put_bytes(out, name.as_bytes());
    put_u64(out, 0);
    out.push(T_LIBRARY);
    put_bytes(out, code);
}

fn encode_stream(out: &mut Vec<u8>, st: &StreamValue) {
    put_varint(out, st.entries.len() as u64);
    for (id, fields) in &st.entries {
        put_id(out, *id);
        put_varint(out, fields.len() as u64);
        for (f, v) in fields {
            put_bytes(out, f);
            put_bytes(out, v);
        }
    }
    put_id(out, st.last_id);
    put_u64(out, st.entries_added);
    put_id(out, st.max_deleted_id);
    put_varint(out, st.groups.len() as u64);
    for (name, g) in &st.groups {
        put_bytes(out, name);
        encode_group(out, g);
    }
    put_varint(out, st.nodes.len() as u64);
    for n in &st.nodes {
        put_id(out, n.first);
        put_varint(out, n.live as u64);
        put_varint(out, n.total as u64);
        put_varint(out, n.bytes as u64);
        put_varint(out, n.master.len() as u64);
        n.master.iter().for_each(|m| put_bytes(out, m));
    }
}

fn encode_group(out: &mut Vec<u8>, g: &ConsumerGroup) {
    put_id(out, g.last_id);
    put_option(out, g.entries_read);
    put_varint(out, g.pel.len() as u64);
    for (id, p) in &g.pel {
        put_id(out, *id);
        put_bytes(out, &p.consumer);
        put_u64(out, p.delivery_time_ms);
        put_u64(out, p.delivery_count);
    }
    put_varint(out, g.consumers.len() as u64);
    for (name, c) in &g.consumers {
        put_bytes(out, name);
        put_u64(out, c.seen_time_ms);
        put_option(out, c.active_time_ms);
        put_varint(out, c.pending.len() as u64);
        c.pending.iter().for_each(|id| put_id(out, *id));
    }
}

// ----- reading ------------------------------------------------------------------------------

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

type Parsed<T> = Result<T, CodecError>;

impl<'a> Reader<'a> {
    fn fail<T>(&self, reason: &'static str) -> Parsed<T> {
        Err(CodecError { reason, position: self.pos })
    }

    fn u8(&mut self) -> Parsed<u8> {
        let Some(&b) = self.data.get(self.pos) else { return self.fail("truncated") };
        self.pos += 1;
        Ok(b)
    }

    fn u64(&mut self) -> Parsed<u64> {
        let Some(b) = self.data.get(self.pos..self.pos + 8) else { return self.fail("truncated") };
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn varint(&mut self) -> Parsed<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        self.fail("varint too long")
    }

    /// A count of items that each take at least one byte: larger than what is left can only
    /// be garbage, and must not size an allocation.
    fn count(&mut self) -> Parsed<usize> {
        let n = self.varint()?;
        if n > (self.data.len() - self.pos) as u64 {
            return self.fail("count larger than the data");
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Parsed<&'a [u8]> {
        let n = self.count()?;
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    fn blob(&mut self) -> Parsed<Blob> {
        self.bytes().map(blob)
    }

    fn id(&mut self) -> Parsed<StreamId> {
        Ok(StreamId::new(self.u64()?, self.u64()?))
    }

    fn option(&mut self) -> Parsed<Option<u64>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.u64().map(Some),
            _ => self.fail("bad option tag"),
        }
    }

    fn usize(&mut self) -> Parsed<usize> {
        usize::try_from(self.varint()?).or_else(|_| self.fail("number too large"))
    }
}

/// Decodes one key written by [`encode_entry`]; the whole input must be used.
pub fn decode_entry(data: &[u8]) -> Result<(Blob, Entry), CodecError> {
    match decode_record(data)? {
        Record::Key(key, entry) => Ok((key, entry)),
        Record::Library { .. } => {
            Err(CodecError { reason: "a function library where a key was expected", position: 0 })
        }
    }
}

/// Decodes one snapshot record: a key ([`encode_entry`]) or a library ([`encode_library`]).
pub fn decode_record(data: &[u8]) -> Result<Record, CodecError> {
    let mut r = Reader { data, pos: 0 };
    let key = r.blob()?;
    let expire_at_ms = r.u64()?;
    let value = match r.u8()? {
        T_LIBRARY => {
            let code = bytes::Bytes::copy_from_slice(r.bytes()?);
            let Ok(name) = String::from_utf8(key.to_vec()) else { return r.fail("library name is not UTF-8") };
            if r.pos != data.len() {
                return r.fail("trailing bytes");
            }
            return Ok(Record::Library { name, code });
        }
        T_STR => Value::Str(r.blob()?),
        T_LIST => {
            let n = r.count()?;
            let mut l = ListValue::with_capacity(n);
            for _ in 0..n {
                l.push_back(r.blob()?);
            }
            Value::List(Box::new(l))
        }
        T_HASH => {
            let n = r.count()?;
            let mut h = HashValue::with_capacity_and_hasher(n, Default::default());
            for _ in 0..n {
                let k = r.blob()?;
                h.insert(k, r.blob()?);
            }
            Value::Hash(Box::new(h))
        }
        T_SET => {
            let n = r.count()?;
            let mut s = SetValue::with_capacity_and_hasher(n, Default::default());
            for _ in 0..n {
                s.insert(r.blob()?);
            }
            Value::Set(Box::new(s))
        }
        T_ZSET => decode_zset(&mut r)?,
        T_STREAM => Value::Stream(Box::new(decode_stream(&mut r)?)),
        _ => return r.fail("unknown value type"),
    };
    if r.pos != data.len() {
        return r.fail("trailing bytes");
    }
    Ok(Record::Key(key, Entry { value, expire_at_ms }))
}

fn decode_zset(r: &mut Reader) -> Parsed<Value> {
    let n = r.count()?;
    let mut z = ZSetValue::default();
    for _ in 0..n {
        let m = r.bytes()?;
        let score = f64::from_bits(r.u64()?);
        if score.is_nan() {
            return r.fail("NaN score");
        }
        z.insert(m, score);
    }
    Ok(Value::ZSet(Box::new(z)))
}

fn decode_stream(r: &mut Reader) -> Parsed<StreamValue> {
    let mut st = StreamValue::default();
    let n = r.count()?;
    for _ in 0..n {
        let id = r.id()?;
        let nf = r.count()?;
        let mut fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            let f = r.blob()?;
            fields.push((f, r.blob()?));
        }
        st.entries.insert(id, fields);
    }
    st.last_id = r.id()?;
    st.entries_added = r.u64()?;
    st.max_deleted_id = r.id()?;
    let groups = r.count()?;
    for _ in 0..groups {
        let name = r.blob()?;
        let g = decode_group(r)?;
        st.groups.insert(name, g);
    }
    let nodes = r.count()?;
    let mut out = VecDeque::with_capacity(nodes);
    for _ in 0..nodes {
        let first = r.id()?;
        let (live, total, bytes) = (r.usize()?, r.usize()?, r.usize()?);
        let nm = r.count()?;
        let mut master = Vec::with_capacity(nm);
        for _ in 0..nm {
            master.push(r.blob()?);
        }
        out.push_back(Node { first, live, total, bytes, master });
    }
    st.nodes = out;
    Ok(st)
}

fn decode_group(r: &mut Reader) -> Parsed<ConsumerGroup> {
    let mut g = ConsumerGroup { last_id: r.id()?, entries_read: r.option()?, ..Default::default() };
    let pel = r.count()?;
    for _ in 0..pel {
        let id = r.id()?;
        let consumer = r.blob()?;
        let delivery_time_ms = r.u64()?;
        let delivery_count = r.u64()?;
        g.pel.insert(id, PendingEntry { consumer, delivery_time_ms, delivery_count });
    }
    let consumers = r.count()?;
    for _ in 0..consumers {
        let name = r.blob()?;
        let mut c = Consumer { seen_time_ms: r.u64()?, active_time_ms: r.option()?, ..Default::default() };
        let pending = r.count()?;
        for _ in 0..pending {
            c.pending.insert(r.id()?);
        }
        g.consumers.insert(name, c);
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Trim;

    fn round_trip(value: Value, expire_at_ms: u64) {
        let entry = Entry { value, expire_at_ms };
        let mut out = Vec::new();
        encode_entry(&mut out, b"some key", &entry);
        let (key, back) = decode_entry(&out).unwrap();
        assert_eq!(key.as_slice(), b"some key");
        assert_eq!(back, entry);
        // Every strict prefix is refused, never mistaken for a shorter entry.
        for cut in 0..out.len() {
            assert!(decode_entry(&out[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
    }

    #[test]
    fn libraries_round_trip_and_are_not_keys() {
        let mut out = Vec::new();
        encode_library(&mut out, "mylib", b"#!lua name=mylib\n");
        let back = decode_record(&out).unwrap();
        assert_eq!(
            back,
            Record::Library { name: "mylib".into(), code: bytes::Bytes::from_static(b"#!lua name=mylib\n") }
        );
        assert!(decode_entry(&out).is_err());
        for cut in 0..out.len() {
            assert!(decode_record(&out[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
    }

    #[test]
    fn every_type_round_trips() {
        round_trip(Value::Str(blob(b"")), 0);
        round_trip(Value::Str(blob(&[7u8; 300])), 1_700_000_000_123);
        round_trip(Value::List(Box::new([blob(b"a"), blob(b""), blob(b"c")].into_iter().collect())), 0);
        let mut h = HashValue::default();
        h.insert(blob(b"f2"), blob(b"v2"));
        h.insert(blob(b"f1"), blob(b"v1"));
        round_trip(Value::Hash(Box::new(h)), 5);
        let s: SetValue = [blob(b"z"), blob(b"a")].into_iter().collect();
        round_trip(Value::Set(Box::new(s)), 0);
        let mut z = ZSetValue::default();
        z.insert(b"m", -0.0);
        z.insert(b"n", f64::INFINITY);
        z.insert(b"o", 1.5);
        round_trip(Value::ZSet(Box::new(z)), 0);
    }

    #[test]
    fn streams_keep_groups_and_nodes() {
        let mut st = StreamValue::default();
        for i in 1..=250u64 {
            st.append(StreamId::new(i, 0), vec![(blob(b"f"), blob(format!("{i}").as_bytes()))]);
        }
        st.delete(StreamId::new(3, 0));
        st.trim(Trim::MaxLen(200), true, 0);
        let mut g = ConsumerGroup { last_id: StreamId::new(9, 0), entries_read: Some(9), ..Default::default() };
        g.pel.insert(
            StreamId::new(60, 0),
            PendingEntry { consumer: blob(b"alice"), delivery_time_ms: 77, delivery_count: 2 },
        );
        let mut c = Consumer { seen_time_ms: 88, active_time_ms: None, ..Default::default() };
        c.pending.insert(StreamId::new(60, 0));
        g.consumers.insert(blob(b"alice"), c);
        st.groups.insert(blob(b"g"), g);
        assert!(!st.nodes.is_empty());
        round_trip(Value::Stream(Box::new(st)), 0);
    }

    #[test]
    fn garbage_is_refused_without_huge_allocations() {
        let mut out = Vec::new();
        encode_entry(&mut out, b"k", &Entry { value: Value::Str(blob(b"v")), expire_at_ms: 0 });
        out[10] = T_LIST;
        out.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode_entry(&out).is_err());
        let mut out = Vec::new();
        encode_entry(&mut out, b"k", &Entry { value: Value::Str(blob(b"v")), expire_at_ms: 0 });
        out.push(0);
        assert_eq!(decode_entry(&out).unwrap_err().reason, "trailing bytes");
    }
}
