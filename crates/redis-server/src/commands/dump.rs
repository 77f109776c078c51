//! DUMP and RESTORE in Redis's own serialization format (an RDB value, the RDB version and a
//! CRC64), so that keys move between tern and Redis in both directions.
//!
//! DUMP writes only the plain encodings (string, linked list, set, hash, binary-score sorted
//! set) that every Redis since 5.0 reads, and stamps them with RDB version 9. RESTORE reads
//! those and the compact encodings Redis 6 and 7 write (integer and LZF strings, intsets,
//! ziplists, listpacks, quicklists) up to RDB version 11, Redis 7.2's. Streams and module
//! values are refused as "Bad data format": tern has neither.

use crate::args::{int, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::blob;
use keyspace::{Blob, HashValue, ListValue, SetValue, Value, ZSetValue};
use resp::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "dump",
        arity: 2,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "generic",
        handler: dump,
    },
    CommandSpec {
        name: "restore",
        arity: -4,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::FIRST,
        group: "generic",
        handler: restore,
    },
];

/// Version stamped on DUMP payloads: the encodings DUMP writes all exist in RDB 9 (Redis 5
/// and 6), so any Redis from 5.0 on accepts them.
const DUMP_RDB_VERSION: u16 = 9;
/// Newest version RESTORE accepts: Redis 7.2's, the version tern reports.
const MAX_RDB_VERSION: u16 = 11;

const T_STRING: u8 = 0;
const T_LIST: u8 = 1;
const T_SET: u8 = 2;
const T_ZSET: u8 = 3;
const T_HASH: u8 = 4;
const T_ZSET_2: u8 = 5;
const T_LIST_ZIPLIST: u8 = 10;
const T_SET_INTSET: u8 = 11;
const T_ZSET_ZIPLIST: u8 = 12;
const T_HASH_ZIPLIST: u8 = 13;
const T_LIST_QUICKLIST: u8 = 14;
const T_HASH_LISTPACK: u8 = 16;
const T_ZSET_LISTPACK: u8 = 17;
const T_LIST_QUICKLIST_2: u8 = 18;
const T_SET_LISTPACK: u8 = 20;

// ---------------------------------------------------------------------------------------
// CRC64 (Jones polynomial, reflected, as Redis's crc64.c)

const CRC64_TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn crc64(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |crc, &b| CRC64_TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8))
}

// ---------------------------------------------------------------------------------------
// DUMP

fn write_len(out: &mut Vec<u8>, n: usize) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0x80);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len());
    out.extend_from_slice(s);
}

/// The DUMP payload of a value.
pub fn serialize(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Str(s) => {
            out.push(T_STRING);
            write_string(&mut out, s);
        }
        Value::List(l) => {
            out.push(T_LIST);
            write_len(&mut out, l.len());
            for e in l.iter() {
                write_string(&mut out, e);
            }
        }
        Value::Set(s) => {
            out.push(T_SET);
            write_len(&mut out, s.len());
            for m in s.iter() {
                write_string(&mut out, m);
            }
        }
        Value::Hash(h) => {
            out.push(T_HASH);
            write_len(&mut out, h.len());
            for (f, v) in h.iter() {
                write_string(&mut out, f);
                write_string(&mut out, v);
            }
        }
        Value::ZSet(z) => {
            out.push(T_ZSET_2);
            write_len(&mut out, z.len());
            for (m, score) in z.iter() {
                write_string(&mut out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        // Streams have no DUMP payload yet: `dump` refuses them before getting here, and an
        // empty body is one RESTORE rejects.
        Value::Stream(_) => {}
    }
    out.extend_from_slice(&DUMP_RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if matches!(ctx.db.get(&args[1]), Some(Value::Stream(_))) {
        return Err(CommandError::err("DUMP of stream values is not supported"));
    }
    Ok(ctx.db.get(&args[1]).map_or(Reply::Nil, |v| Reply::Bulk(Bytes::from(serialize(v)))))
}

// ---------------------------------------------------------------------------------------
// RESTORE

/// The payload does not describe a value tern can hold.
#[derive(Debug, PartialEq)]
pub struct BadFormat;

type Parsed<T> = Result<T, BadFormat>;

/// Checks the footer (version, CRC64) and returns the body.
pub fn verify(payload: &[u8]) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let (body_and_version, crc) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([
        body_and_version[body_and_version.len() - 2],
        body_and_version[body_and_version.len() - 1],
    ]);
    if version > MAX_RDB_VERSION {
        return None;
    }
    let crc = u64::from_le_bytes(crc.try_into().ok()?);
    if crc64(body_and_version) != crc {
        return None;
    }
    Some(&body_and_version[..body_and_version.len() - 2])
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A length, or one of the special string encodings (integers, LZF).
enum Len {
    Plain(usize),
    Special(u8),
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Parsed<&'a [u8]> {
        if n > self.remaining() {
            return Err(BadFormat);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Parsed<u8> {
        Ok(self.take(1)?[0])
    }

    fn raw_len(&mut self) -> Parsed<Len> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3f) as usize),
            1 => Len::Plain((((first & 0x3f) as usize) << 8) | self.byte()? as usize),
            2 => match first {
                0x80 => Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| BadFormat)?) as usize),
                0x81 => Len::Plain(
                    usize::try_from(u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| BadFormat)?))
                        .map_err(|_| BadFormat)?,
                ),
                _ => return Err(BadFormat),
            },
            _ => Len::Special(first & 0x3f),
        })
    }

    /// A count of elements; each takes at least one byte, which bounds what a forged count
    /// can make us allocate.
    fn count(&mut self) -> Parsed<usize> {
        match self.raw_len()? {
            Len::Plain(n) if n <= self.remaining() => Ok(n),
            _ => Err(BadFormat),
        }
    }

    fn string(&mut self) -> Parsed<Vec<u8>> {
        match self.raw_len()? {
            Len::Plain(n) => Ok(self.take(n)?.to_vec()),
            Len::Special(0) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Len::Special(1) => {
                Ok(i16::from_le_bytes(self.take(2)?.try_into().map_err(|_| BadFormat)?).to_string().into_bytes())
            }
            Len::Special(2) => {
                Ok(i32::from_le_bytes(self.take(4)?.try_into().map_err(|_| BadFormat)?).to_string().into_bytes())
            }
            Len::Special(3) => {
                let Len::Plain(clen) = self.raw_len()? else { return Err(BadFormat) };
                let Len::Plain(ulen) = self.raw_len()? else { return Err(BadFormat) };
                lzf_decompress(self.take(clen)?, ulen)
            }
            Len::Special(_) => Err(BadFormat),
        }
    }

    /// A score of the old sorted-set encoding: a length byte and the number as text.
    fn text_double(&mut self) -> Parsed<f64> {
        match self.byte()? {
            253 => Err(BadFormat),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = std::str::from_utf8(self.take(n as usize)?).map_err(|_| BadFormat)?;
                text.parse().map_err(|_| BadFormat)
            }
        }
    }

    fn binary_double(&mut self) -> Parsed<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().map_err(|_| BadFormat)?))
    }
}

/// LZF decompression (liblzf's format, as Redis uses it); the result must be `ulen` bytes.
fn lzf_decompress(input: &[u8], ulen: usize) -> Parsed<Vec<u8>> {
    // A back-reference of 3 input bytes yields at most 264 bytes: a larger claim is forged.
    if ulen > input.len().saturating_mul(88).saturating_add(64) {
        return Err(BadFormat);
    }
    let mut out: Vec<u8> = Vec::with_capacity(ulen);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            let lit = input.get(i..i + len).ok_or(BadFormat)?;
            out.extend_from_slice(lit);
            i += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or(BadFormat)? as usize;
                i += 1;
            }
            len += 2;
            let low = *input.get(i).ok_or(BadFormat)? as usize;
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() {
                return Err(BadFormat);
            }
            let start = out.len() - back;
            // Byte by byte: the copy may overlap what it produces.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > ulen {
            return Err(BadFormat);
        }
    }
    if out.len() != ulen {
        return Err(BadFormat);
    }
    Ok(out)
}

fn le_int(bytes: &[u8]) -> i64 {
    // Sign-extend a little-endian integer of 1 to 8 bytes.
    let mut v: i64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        v |= (b as i64) << (8 * i);
    }
    let bits = 8 * bytes.len() as u32;
    if bits < 64 {
        let shift = 64 - bits;
        v = (v << shift) >> shift;
    }
    v
}

/// Elements of a listpack (Redis 7's compact encoding), integers as decimal text.
fn listpack_entries(lp: &[u8]) -> Parsed<Vec<Vec<u8>>> {
    if lp.len() < 7 || u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize != lp.len() {
        return Err(BadFormat);
    }
    let mut out = Vec::new();
    let mut p = 6;
    loop {
        let b = *lp.get(p).ok_or(BadFormat)?;
        if b == 0xff {
            if p + 1 != lp.len() {
                return Err(BadFormat);
            }
            break;
        }
        let get = |from: usize, n: usize| lp.get(from..from + n).ok_or(BadFormat);
        // (header bytes, payload bytes, the element)
        let (head, size, value): (usize, usize, Vec<u8>) = if b & 0x80 == 0 {
            (1, 0, (b & 0x7f).to_string().into_bytes())
        } else if b & 0xc0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (1, n, get(p + 1, n)?.to_vec())
        } else if b & 0xe0 == 0xc0 {
            let raw = (((b & 0x1f) as u16) << 8) | *lp.get(p + 1).ok_or(BadFormat)? as u16;
            let v = ((raw << 3) as i16) >> 3;
            (2, 0, v.to_string().into_bytes())
        } else if b & 0xf0 == 0xe0 {
            let n = (((b & 0x0f) as usize) << 8) | *lp.get(p + 1).ok_or(BadFormat)? as usize;
            (2, n, get(p + 2, n)?.to_vec())
        } else {
            match b {
                0xf0 => {
                    let n = le_int(get(p + 1, 4)?) as u32 as usize;
                    (5, n, get(p + 5, n)?.to_vec())
                }
                0xf1 => (1, 2, le_int(get(p + 1, 2)?).to_string().into_bytes()),
                0xf2 => (1, 3, le_int(get(p + 1, 3)?).to_string().into_bytes()),
                0xf3 => (1, 4, le_int(get(p + 1, 4)?).to_string().into_bytes()),
                0xf4 => (1, 8, le_int(get(p + 1, 8)?).to_string().into_bytes()),
                _ => return Err(BadFormat),
            }
        };
        let entry = head + size;
        let backlen = match entry {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        p += entry + backlen;
        out.push(value);
    }
    if out.len() != u16::from_le_bytes([lp[4], lp[5]]) as usize && u16::from_le_bytes([lp[4], lp[5]]) != u16::MAX {
        return Err(BadFormat);
    }
    Ok(out)
}

/// Elements of a ziplist (the compact encoding of Redis 6 and before).
fn ziplist_entries(zl: &[u8]) -> Parsed<Vec<Vec<u8>>> {
    if zl.len() < 11 || u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize != zl.len() {
        return Err(BadFormat);
    }
    let mut out = Vec::new();
    let mut p = 10;
    loop {
        let first = *zl.get(p).ok_or(BadFormat)?;
        if first == 0xff {
            if p + 1 != zl.len() {
                return Err(BadFormat);
            }
            break;
        }
        p += if first == 0xfe { 5 } else { 1 };
        let get = |from: usize, n: usize| zl.get(from..from + n).ok_or(BadFormat);
        let enc = *zl.get(p).ok_or(BadFormat)?;
        let (head, size, value): (usize, usize, Vec<u8>) = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                (1, n, get(p + 1, n)?.to_vec())
            }
            1 => {
                let n = (((enc & 0x3f) as usize) << 8) | *zl.get(p + 1).ok_or(BadFormat)? as usize;
                (2, n, get(p + 2, n)?.to_vec())
            }
            2 => {
                let n = u32::from_be_bytes(get(p + 1, 4)?.try_into().map_err(|_| BadFormat)?) as usize;
                (5, n, get(p + 5, n)?.to_vec())
            }
            _ => match enc {
                0xc0 => (1, 2, le_int(get(p + 1, 2)?).to_string().into_bytes()),
                0xd0 => (1, 4, le_int(get(p + 1, 4)?).to_string().into_bytes()),
                0xe0 => (1, 8, le_int(get(p + 1, 8)?).to_string().into_bytes()),
                0xf0 => (1, 3, le_int(get(p + 1, 3)?).to_string().into_bytes()),
                0xfe => (1, 1, le_int(get(p + 1, 1)?).to_string().into_bytes()),
                0xf1..=0xfd => (1, 0, ((enc & 0x0f) - 1).to_string().into_bytes()),
                _ => return Err(BadFormat),
            },
        };
        p += head + size;
        out.push(value);
    }
    Ok(out)
}

fn intset_entries(is: &[u8]) -> Parsed<Vec<Vec<u8>>> {
    if is.len() < 8 {
        return Err(BadFormat);
    }
    let width = u32::from_le_bytes([is[0], is[1], is[2], is[3]]) as usize;
    let n = u32::from_le_bytes([is[4], is[5], is[6], is[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || is.len() != 8 + width.saturating_mul(n) {
        return Err(BadFormat);
    }
    Ok(is[8..].chunks(width).map(|c| le_int(c).to_string().into_bytes()).collect())
}

fn build_set(members: impl IntoIterator<Item = Vec<u8>>) -> Parsed<Value> {
    let mut set = SetValue::default();
    for m in members {
        // Redis refuses duplicates in a payload as corruption; so does tern.
        if !set.insert(blob(&m)) {
            return Err(BadFormat);
        }
    }
    Ok(Value::Set(Box::new(set)))
}

fn build_hash(pairs: Vec<Vec<u8>>) -> Parsed<Value> {
    if !pairs.len().is_multiple_of(2) {
        return Err(BadFormat);
    }
    let mut hash = HashValue::default();
    let mut it = pairs.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        if hash.insert(blob(&f), blob(&v)).is_some() {
            return Err(BadFormat);
        }
    }
    Ok(Value::Hash(Box::new(hash)))
}

fn build_zset(pairs: impl IntoIterator<Item = (Vec<u8>, f64)>) -> Parsed<Value> {
    let mut z = ZSetValue::default();
    for (m, score) in pairs {
        if score.is_nan() || z.insert(&m, score).is_some() {
            return Err(BadFormat);
        }
    }
    Ok(Value::ZSet(Box::new(z)))
}

fn zset_from_flat(flat: Vec<Vec<u8>>) -> Parsed<Value> {
    if !flat.len().is_multiple_of(2) {
        return Err(BadFormat);
    }
    let mut pairs = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        let score = crate::args::parse_f64(&s).ok_or(BadFormat)?;
        pairs.push((m, score));
    }
    build_zset(pairs)
}

fn list_of(elements: impl IntoIterator<Item = Vec<u8>>) -> Value {
    Value::List(Box::new(elements.into_iter().map(|e| blob(&e)).collect::<ListValue>()))
}

/// Decodes the body of a verified payload.
pub fn deserialize(body: &[u8]) -> Parsed<Value> {
    let mut r = Reader { data: body, pos: 0 };
    let value = match r.byte()? {
        T_STRING => Value::Str(Blob::from_vec(r.string()?)),
        T_LIST => {
            let n = r.count()?;
            let mut l = ListValue::with_capacity(n);
            for _ in 0..n {
                l.push_back(blob(&r.string()?));
            }
            Value::List(Box::new(l))
        }
        T_SET => {
            let n = r.count()?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.string()?);
            }
            build_set(members)?
        }
        t @ (T_ZSET | T_ZSET_2) => {
            let n = r.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let score = if t == T_ZSET { r.text_double()? } else { r.binary_double()? };
                pairs.push((m, score));
            }
            build_zset(pairs)?
        }
        T_HASH => {
            let n = r.count()?;
            let mut flat = Vec::with_capacity(n.saturating_mul(2));
            for _ in 0..n {
                flat.push(r.string()?);
                flat.push(r.string()?);
            }
            build_hash(flat)?
        }
        T_SET_INTSET => build_set(intset_entries(&r.string()?)?)?,
        T_SET_LISTPACK => build_set(listpack_entries(&r.string()?)?)?,
        T_HASH_LISTPACK => build_hash(listpack_entries(&r.string()?)?)?,
        T_HASH_ZIPLIST => build_hash(ziplist_entries(&r.string()?)?)?,
        T_ZSET_LISTPACK => zset_from_flat(listpack_entries(&r.string()?)?)?,
        T_ZSET_ZIPLIST => zset_from_flat(ziplist_entries(&r.string()?)?)?,
        T_LIST_ZIPLIST => list_of(ziplist_entries(&r.string()?)?),
        T_LIST_QUICKLIST => {
            let nodes = r.count()?;
            let mut all = Vec::new();
            for _ in 0..nodes {
                all.extend(ziplist_entries(&r.string()?)?);
            }
            list_of(all)
        }
        T_LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut all = Vec::new();
            for _ in 0..nodes {
                // Container 1 holds one plain element, 2 a listpack of elements.
                match r.raw_len()? {
                    Len::Plain(1) => all.push(r.string()?),
                    Len::Plain(2) => all.extend(listpack_entries(&r.string()?)?),
                    _ => return Err(BadFormat),
                }
            }
            list_of(all)
        }
        _ => return Err(BadFormat),
    };
    if r.remaining() != 0 || value.is_empty_collection() {
        return Err(BadFormat);
    }
    Ok(value)
}

fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut i = 4;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "REPLACE") {
            replace = true;
        } else if is(&args[i], "ABSTTL") {
            absttl = true;
        } else if is(&args[i], "IDLETIME") && more && freq.is_none() {
            let v = int(&args[i + 1])?;
            if v < 0 {
                return Err(CommandError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            i += 1;
        } else if is(&args[i], "FREQ") && more && idle.is_none() {
            let v = int(&args[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CommandError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if !replace && ctx.db.contains(key) {
        return Err(CommandError::Other("BUSYKEY Target key name already exists.".into()));
    }
    let ttl = int(&args[2])?;
    if ttl < 0 {
        return Err(CommandError::err("Invalid TTL value, must be >= 0"));
    }
    let Some(body) = verify(&args[3]) else {
        return Err(CommandError::err("DUMP payload version or checksum are wrong"));
    };
    let value = deserialize(body).map_err(|_| CommandError::err("Bad data format"))?;
    // Tern keeps no per-key access time or frequency: IDLETIME and FREQ are checked and
    // otherwise have no effect, as with Redis under a policy that does not use them.
    let _ = (idle, freq);
    let deleted = replace && ctx.db.remove(key).is_some();
    let now = ctx.now_ms() as i64;
    let at = if ttl == 0 {
        0
    } else if absttl {
        ttl
    } else {
        now.saturating_add(ttl)
    };
    if at != 0 && at <= now {
        // Already expired: nothing is created; a replaced key is simply deleted.
        ctx.propagate = if deleted {
            Propagate::Rewrite(vec![vec![Bytes::from_static(b"DEL"), key.clone()]])
        } else {
            Propagate::Nothing
        };
        return Ok(Reply::ok());
    }
    ctx.db.insert(key, value);
    if at != 0 {
        ctx.db.set_expire_at(key, at as u64);
        if !absttl {
            // Replayed later, a relative TTL would be wrong: log the deadline.
            let mut argv = args.to_vec();
            argv[2] = Bytes::from(at.to_string());
            argv.push(Bytes::from_static(b"ABSTTL"));
            ctx.propagate = Propagate::Rewrite(vec![argv]);
        }
    }
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::{
        build_hash, build_set, build_zset, crc64, deserialize, list_of, serialize, verify, BadFormat, Reply, Value,
        T_HASH_LISTPACK, T_HASH_ZIPLIST, T_LIST, T_LIST_QUICKLIST, T_SET, T_SET_INTSET, T_STRING,
    };
    use crate::testing::{bulk, err, int, ok, TestClient};
    use keyspace::value::blob;
    use keyspace::Blob;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn crc64_matches_redis() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    /// Payloads written by redis-server 7.0.15's DUMP.
    #[test]
    fn reads_redis_7_payloads() {
        let cases: &[(&str, Value)] = &[
            ("000568656c6c6f0a006372df766534200a", Value::Str(blob(b"hello"))),
            ("00c139300a009d94ea2793fc08b9", Value::Str(blob(b"12345"))),
            ("00c0fb0a0049c4c6f4d7263f68", Value::Str(blob(b"-5"))),
            ("00c2a08601000a00f12403506f2fa674", Value::Str(blob(b"100000"))),
            ("00c30940c8017878e0bb000178780a00aa8db44a0ad79dcd", Value::Str(Blob::from_vec(vec![b'x'; 200]))),
            (
                "120102151500000005008161028162020101c0c802dffd02ff0a009eff618ac616f11c",
                list_of([b"a".to_vec(), b"b".to_vec(), b"1".to_vec(), b"200".to_vec(), b"-3".to_vec()]),
            ),
        ];
        for (payload, expected) in cases {
            let payload = hex(payload);
            let body = verify(&payload).expect("valid footer");
            assert_eq!(&deserialize(body).unwrap(), expected, "{payload:?}");
        }
        let hash =
            deserialize(verify(&hex("1012120000000400816602817602816e020701ff0a00b82adea8407ffaa8")).unwrap()).unwrap();
        let Value::Hash(h) = hash else { panic!() };
        assert_eq!(h.get(b"n".as_slice()).map(|v| v.as_slice()), Some(b"7".as_slice()));
        let set =
            deserialize(verify(&hex("0b1404000000030000000100000002000000701101000a0085d5c1065b1dd055")).unwrap())
                .unwrap();
        let Value::Set(s) = set else { panic!() };
        assert!(s.contains(b"70000".as_slice()) && s.len() == 3);
        let zset = deserialize(
            verify(&hex("111a1a0000000600816302dffd02816102010181620283322e3504ff0a00a68a1ab1a9f2dcc2")).unwrap(),
        )
        .unwrap();
        let Value::ZSet(z) = zset else { panic!() };
        assert_eq!((z.score(b"a"), z.score(b"b"), z.score(b"c")), (Some(1.0), Some(2.5), Some(-3.0)));
    }

    #[test]
    fn round_trip_and_refusals() {
        let mut c = TestClient::new();
        c.cmd(&["HSET", "h", "f", "v", "g", "w"]);
        let Reply::Bulk(payload) = c.cmd(&["DUMP", "h"]) else { panic!() };
        assert_eq!(c.cmd(&["DUMP", "missing"]), Reply::Nil);
        let run = |c: &mut TestClient, extra: &[&[u8]]| {
            let mut argv: Vec<&[u8]> = vec![b"RESTORE", b"h2", b"0", &payload];
            argv.extend_from_slice(extra);
            c.cmd_bytes(&argv)
        };
        assert_eq!(run(&mut c, &[]), ok());
        assert_eq!(c.cmd(&["HGET", "h2", "g"]), bulk("w"));
        assert!(err("BUSYKEY Target key name already exists.")(&run(&mut c, &[])));
        assert_eq!(run(&mut c, &[b"REPLACE", b"IDLETIME", b"5"]), ok());
        assert!(err("ERR syntax error")(&run(&mut c, &[b"REPLACE", b"IDLETIME", b"5", b"FREQ", b"1"])));
        assert!(err("ERR Invalid FREQ value")(&run(&mut c, &[b"REPLACE", b"FREQ", b"256"])));
        assert!(err("ERR Invalid IDLETIME value")(&run(&mut c, &[b"REPLACE", b"IDLETIME", b"-1"])));
        let mut bad = payload.to_vec();
        bad[1] ^= 1;
        assert!(err("ERR DUMP payload version or checksum are wrong")(&c.cmd_bytes(&[b"RESTORE", b"x", b"0", &bad])));
        assert!(err("ERR Invalid TTL value, must be >= 0")(&c.cmd_bytes(&[b"RESTORE", b"x", b"-1", &payload])));
        // A newer RDB version than Redis 7.2's is refused.
        let mut newer = vec![T_STRING, 1, b'a'];
        newer.extend_from_slice(&12u16.to_le_bytes());
        let crc = crc64(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert!(err("ERR DUMP payload version")(&c.cmd_bytes(&[b"RESTORE", b"x", b"0", &newer])));
        // A valid footer around a stream (type 15) body.
        let mut stream = vec![15u8, 0];
        stream.extend_from_slice(&9u16.to_le_bytes());
        let crc = crc64(&stream);
        stream.extend_from_slice(&crc.to_le_bytes());
        assert!(err("ERR Bad data format")(&c.cmd_bytes(&[b"RESTORE", b"x", b"0", &stream])));
    }

    #[test]
    fn ttl_is_logged_as_a_deadline() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1_000_000);
        c.cmd(&["SET", "a", "v"]);
        let Reply::Bulk(payload) = c.cmd(&["DUMP", "a"]) else { panic!() };
        assert_eq!(c.cmd_bytes(&[b"RESTORE", b"b", b"5000", &payload]), ok());
        assert_eq!(c.cmd(&["PTTL", "b"]), int(5000));
        let log = c.change_log();
        let last = log.last().unwrap();
        assert_eq!((last[0].as_str(), last[2].as_str(), last[4].as_str()), ("RESTORE", "1005000", "ABSTTL"));
        // A deadline already past: nothing is created, a replaced key is deleted.
        assert_eq!(c.cmd_bytes(&[b"RESTORE", b"b", b"999", &payload, b"ABSTTL", b"REPLACE"]), ok());
        assert_eq!(c.cmd(&["EXISTS", "b"]), int(0));
        assert_eq!(c.change_log().last().unwrap(), &vec!["DEL".to_string(), "b".to_string()]);
    }

    /// Ziplists, the compact encoding of Redis 6 payloads (built by hand: no Redis 6 here).
    #[test]
    fn reads_ziplists() {
        let mut zl = vec![23, 0, 0, 0, 18, 0, 0, 0, 4, 0];
        zl.extend_from_slice(&[0x00, 0x01, b'f']); // "f"
        zl.extend_from_slice(&[0x03, 0xf8]); // immediate 7
        zl.extend_from_slice(&[0x02, 0x01, b'n']); // "n"
        zl.extend_from_slice(&[0x03, 0xc0, 0x2c, 0x01]); // int16 300
        zl.push(0xff);
        assert_eq!(zl.len(), 23);
        let mut body = vec![T_HASH_ZIPLIST, 23];
        body.extend_from_slice(&zl);
        assert_eq!(
            deserialize(&body).unwrap(),
            build_hash(vec![b"f".to_vec(), b"7".to_vec(), b"n".to_vec(), b"300".to_vec()]).unwrap()
        );
        let mut quicklist = vec![T_LIST_QUICKLIST, 1, 23];
        quicklist.extend_from_slice(&zl);
        assert_eq!(
            deserialize(&quicklist).unwrap(),
            list_of([b"f".to_vec(), b"7".to_vec(), b"n".to_vec(), b"300".to_vec()])
        );
        // A ziplist whose byte count disagrees with its length.
        let mut cut = body.clone();
        cut[1] = 22;
        cut.remove(cut.len() - 2);
        assert_eq!(deserialize(&cut), Err(BadFormat));
    }

    #[test]
    fn every_type_round_trips() {
        let values = [
            Value::Str(blob(b"")),
            list_of([b"x".to_vec(), vec![7u8; 300]]),
            build_set([b"1".to_vec(), b"m".to_vec()]).unwrap(),
            build_zset([(b"a".to_vec(), f64::INFINITY), (b"b".to_vec(), -0.5)]).unwrap(),
            build_hash(vec![b"f".to_vec(), vec![1u8; 20000]]).unwrap(),
        ];
        for v in values {
            let payload = serialize(&v);
            assert_eq!(deserialize(verify(&payload).unwrap()).unwrap(), v);
        }
    }

    #[test]
    fn forged_lengths_are_refused() {
        for body in [
            vec![T_LIST, 0x80, 0xff, 0xff, 0xff, 0xff],
            vec![T_STRING, 0xc3, 0x01, 0x80, 0x7f, 0xff, 0xff, 0xff, 0x00],
            vec![T_SET_INTSET, 9, 8, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0],
            vec![T_HASH_LISTPACK, 7, 7, 0, 0, 0, 1, 0, 0xff],
            vec![T_SET, 0],
        ] {
            assert_eq!(deserialize(&body), Err(BadFormat), "{body:?}");
        }
    }
}
