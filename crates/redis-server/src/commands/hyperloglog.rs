//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE) over Redis's own string format, so values
//! move between Tern and Redis byte for byte: a 16-byte header ("HYLL", encoding, 3 unused
//! bytes, 8-byte little-endian cached cardinality whose top bit marks it stale) followed by
//! 16384 6-bit registers (dense) or Redis's run-length opcodes (sparse). Elements are hashed
//! with MurmurHash64A (seed 0xadc83b19) and counted with Ertl's estimator, as Redis 5+ does,
//! so counts equal Redis's for the same inputs.
//!
//! New values start sparse and are edited with Redis's own algorithm (`hllSparseSet`), turning
//! dense past 3000 bytes (Redis's default `hll-sparse-max-bytes`) or when a register exceeds
//! 32, so even the raw bytes match what Redis stores for the same commands.

use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::Blob;
use keyspace::Value;
use resp::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        arity: -2,
        flags: Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST),
        keys: KeySpec::FIRST,
        group: "hyperloglog",
        handler: pfadd,
    },
    CommandSpec {
        name: "pfcount",
        arity: -2,
        flags: Flags::READONLY,
        keys: KeySpec::ALL,
        group: "hyperloglog",
        handler: pfcount,
    },
    CommandSpec {
        name: "pfmerge",
        arity: -2,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::ALL,
        group: "hyperloglog",
        handler: pfmerge,
    },
];

/// Bits of the hash that select a register.
const P: u32 = 14;
/// Bits of the hash left for the run of zeros.
const Q: u32 = 64 - P;
pub const REGISTERS: usize = 1 << P;
const REGISTER_MAX: u32 = 63;
pub const HEADER_LEN: usize = 16;
pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * 6).div_ceil(8);
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
const SEED: u64 = 0xadc8_3b19;
/// Redis's default `hll-sparse-max-bytes`: a sparse value that would grow past this (header
/// included) becomes dense.
const SPARSE_MAX_BYTES: usize = 3000;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
/// 0.5 / ln(2), the limit of the HyperLogLog bias constant for many registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

fn not_hll() -> CommandError {
    CommandError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

fn corrupt() -> CommandError {
    CommandError::Other("INVALIDOBJ Corrupted HLL object detected".into())
}

/// MurmurHash64A as Redis ships it (little-endian word reads).
pub fn murmurhash64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut k = u64::from_le_bytes(word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Register index of an element and the length of its zero run plus one (Redis's
/// `hllPatLen`): the low P bits pick the register, the rest give the run.
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the count at Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `i` of a dense register array (6 bits each, least significant bits first).
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, fb) = (bit / 8, (bit % 8) as u32);
    let b0 = regs.get(byte).copied().unwrap_or(0) as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX) as u8
}

fn dense_set(regs: &mut [u8], i: usize, value: u8) {
    let v = value as u32 & REGISTER_MAX;
    let bit = i * 6;
    let (byte, fb) = (bit / 8, (bit % 8) as u32);
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((REGISTER_MAX << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((REGISTER_MAX >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    Dense,
    Sparse,
}

/// Checks that a string is a HyperLogLog, as Redis's `isHLLObjectOrReply` does.
fn encoding_of(s: &[u8]) -> Result<Encoding, CommandError> {
    if s.len() < HEADER_LEN || &s[..4] != b"HYLL" {
        return Err(not_hll());
    }
    match s[4] {
        ENCODING_DENSE if s.len() == DENSE_LEN => Ok(Encoding::Dense),
        ENCODING_SPARSE => Ok(Encoding::Sparse),
        _ => Err(not_hll()),
    }
}

/// Raises `max[i]` to each register of a sparse body; fails unless the opcodes describe
/// exactly 16384 registers.
fn merge_sparse(max: &mut [u8], body: &[u8]) -> Result<(), CommandError> {
    let mut idx = 0usize;
    let mut p = 0usize;
    while p < body.len() {
        let op = body[p];
        if op & 0xc0 == 0 {
            // ZERO: 00xxxxxx, a run of xxxxxx+1 empty registers.
            idx += (op & 0x3f) as usize + 1;
            p += 1;
        } else if op & 0xc0 == 0x40 {
            // XZERO: 01xxxxxx yyyyyyyy, a 14-bit run length minus one.
            let low = *body.get(p + 1).ok_or_else(corrupt)? as usize;
            idx += ((((op & 0x3f) as usize) << 8) | low) + 1;
            p += 2;
        } else {
            // VAL: 1vvvvvxx, xx+1 registers set to vvvvv+1.
            let run = (op & 0x3) as usize + 1;
            let value = ((op >> 2) & 0x1f) + 1;
            if idx + run > REGISTERS {
                return Err(corrupt());
            }
            for r in &mut max[idx..idx + run] {
                *r = (*r).max(value);
            }
            idx += run;
            p += 1;
        }
    }
    if idx != REGISTERS {
        return Err(corrupt());
    }
    Ok(())
}

/// Raises `max[i]` to each register of a validated HyperLogLog string.
fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), CommandError> {
    match encoding_of(s)? {
        Encoding::Dense => {
            let regs = &s[HEADER_LEN..];
            for (i, m) in max.iter_mut().enumerate() {
                *m = (*m).max(dense_get(regs, i));
            }
            Ok(())
        }
        Encoding::Sparse => merge_sparse(max, &s[HEADER_LEN..]),
    }
}

/// All registers of a validated HyperLogLog string, one byte each.
fn registers_of(s: &[u8]) -> Result<Vec<u8>, CommandError> {
    let mut regs = vec![0u8; REGISTERS];
    merge_into(&mut regs, s)?;
    Ok(regs)
}

/// A dense HyperLogLog with the given header (magic and cache kept, encoding set to dense,
/// cache marked stale) and registers.
fn dense_from(header: &[u8], regs: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; DENSE_LEN];
    out[..HEADER_LEN].copy_from_slice(&header[..HEADER_LEN]);
    out[4] = ENCODING_DENSE;
    invalidate_cache(&mut out);
    let body = &mut out[HEADER_LEN..];
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            dense_set(body, i, r);
        }
    }
    out
}

/// The header of a new HyperLogLog (cache zero, then marked stale as the first write does).
fn fresh_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(b"HYLL");
    h
}

/// A new, empty HyperLogLog: sparse, one XZERO run over all registers (Redis's
/// `createHLLObject`).
fn new_sparse() -> Vec<u8> {
    let mut v = fresh_header().to_vec();
    v[4] = ENCODING_SPARSE;
    let run = REGISTERS - 1;
    v.extend_from_slice(&[0x40 | (run >> 8) as u8, (run & 0xff) as u8]);
    v
}

// Sparse opcodes: ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx.
fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}

fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}

fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}

fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}

fn val_len(op: u8) -> usize {
    (op & 0x3) as usize + 1
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

/// Appends a run of `len` empty registers as ZERO or, when longer than 64, XZERO.
fn push_zero_run(seq: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&[0x40 | (l >> 8) as u8, (l & 0xff) as u8]);
    } else {
        seq.push(l as u8);
    }
}

/// Turns a sparse value dense, keeping its header (Redis's `hllSparseToDense`).
fn promote(v: &mut Vec<u8>) -> Result<(), CommandError> {
    if v[4] == ENCODING_DENSE {
        return Ok(());
    }
    let regs = registers_of(v)?;
    let mut dense = dense_from(v, &regs);
    // The conversion itself keeps the cache flag as it was; callers mark it stale.
    dense[15] = v[15];
    *v = dense;
    Ok(())
}

/// Raises register `index` to `count` if lower, in either encoding (Redis's `hllSet`).
/// Returns whether the register changed.
fn raise(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, CommandError> {
    if v[4] == ENCODING_SPARSE {
        return sparse_set(v, index, count);
    }
    let regs = &mut v[HEADER_LEN..];
    if count > dense_get(regs, index) {
        dense_set(regs, index, count);
        return Ok(true);
    }
    Ok(false)
}

/// Redis's `hllSparseSet`, step by step, so the opcodes come out exactly as Redis writes them:
/// find the opcode covering `index`, update it in place or split it into at most three
/// opcodes, merge equal neighbouring VALs, and go dense when the value or size limit is hit.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, CommandError> {
    if count > SPARSE_VAL_MAX_VALUE {
        promote(v)?;
        return raise(v, index, count);
    }
    // Step 1: locate the opcode covering the register.
    let end = v.len();
    let mut p = HEADER_LEN;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let op = v[p];
        let oplen = if is_xzero(op) { 2 } else { 1 };
        span = if is_zero(op) {
            (op & 0x3f) as usize + 1
        } else if is_val(op) {
            val_len(op)
        } else {
            let low = *v.get(p + 1).ok_or_else(corrupt)? as usize;
            ((((op & 0x3f) as usize) << 8) | low) + 1
        };
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(corrupt());
    }
    let op = v[p];
    // Step 2: the easy cases, updated in place.
    if is_val(op) {
        if val_value(op) >= count {
            return Ok(false);
        }
        if val_len(op) == 1 {
            v[p] = val_op(count, 1);
            merge_adjacent_vals(v, prev);
            return Ok(true);
        }
    }
    if is_zero(op) && span == 1 {
        v[p] = val_op(count, 1);
        merge_adjacent_vals(v, prev);
        return Ok(true);
    }
    // General case: split the run around the register.
    let last = first + span - 1;
    let mut seq: Vec<u8> = Vec::with_capacity(5);
    if is_val(op) {
        let current = val_value(op);
        if index != first {
            seq.push(val_op(current, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(current, last - index));
        }
    } else {
        if index != first {
            push_zero_run(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            push_zero_run(&mut seq, last - index);
        }
    }
    // Step 3: substitute the sequence, unless the value would outgrow the sparse limit.
    let oldlen = if is_xzero(op) { 2 } else { 1 };
    if seq.len() > oldlen && v.len() + seq.len() - oldlen > SPARSE_MAX_BYTES {
        promote(v)?;
        return raise(v, index, count);
    }
    v.splice(p..p + oldlen, seq);
    merge_adjacent_vals(v, prev);
    Ok(true)
}

/// Step 4 of `hllSparseSet`: from the opcode before the edit, look at up to 5 opcodes and
/// merge two adjacent VALs of the same value when their runs fit in one.
fn merge_adjacent_vals(v: &mut Vec<u8>, prev: Option<usize>) {
    let mut p = prev.unwrap_or(HEADER_LEN);
    let mut budget = 5;
    while p < v.len() && budget > 0 {
        budget -= 1;
        let op = v[p];
        if is_xzero(op) {
            p += 2;
            continue;
        }
        if is_zero(op) {
            p += 1;
            continue;
        }
        if let Some(&next) = v.get(p + 1) {
            if is_val(next) && val_value(op) == val_value(next) {
                let len = val_len(op) + val_len(next);
                if len <= SPARSE_VAL_MAX_LEN {
                    v[p + 1] = val_op(val_value(op), len);
                    v.remove(p);
                    // Try again from the same place: the merged run may merge further right.
                    continue;
                }
            }
        }
        p += 1;
    }
}

fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

fn cached_cardinality(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut card = [0u8; 8];
    card.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(card))
}

fn histogram(regs: impl Iterator<Item = u8>) -> [u32; 64] {
    let mut h = [0u32; 64];
    for r in regs {
        h[(r as usize) & 63] += 1;
    }
    h
}

/// Ertl's sigma function; the loop ends when the sum stops changing (x squares towards 0).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    for _ in 0..1100 {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            break;
        }
    }
    z
}

/// Ertl's tau function; y halves each round, so the sum settles within ~1100 rounds at most.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..1100 {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            break;
        }
    }
    z / 3.0
}

/// Cardinality estimate from a register histogram (Redis's `hllCount`, Ertl's improved
/// raw estimator, arXiv:1702.01284).
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - h[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// Cardinality of a validated HyperLogLog string, ignoring its cache.
fn count(s: &[u8]) -> Result<u64, CommandError> {
    let h = match encoding_of(s)? {
        Encoding::Dense => {
            let regs = &s[HEADER_LEN..];
            histogram((0..REGISTERS).map(|i| dense_get(regs, i)))
        }
        Encoding::Sparse => histogram(registers_of(s)?.into_iter()),
    };
    Ok(estimate(&h))
}

/// The string at `key`, which the caller checked exists and is a string; keeps the TTL.
fn str_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a mut Blob> {
    match ctx.db.get_mut(key) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let hits: Vec<(usize, u8)> = args[2..].iter().map(|e| pattern(e)).collect();
    let Some(s) = ctx.db.get_str(key)? else {
        // Creating the key counts as an update even without elements.
        let mut v = new_sparse();
        for &(i, c) in &hits {
            raise(&mut v, i, c)?;
        }
        invalidate_cache(&mut v);
        ctx.db.insert(key, Value::Str(Blob::from_vec(v)));
        return Ok(Reply::Integer(1));
    };
    let encoding = encoding_of(s)?;
    if hits.is_empty() {
        return Ok(Reply::Integer(0));
    }
    // Decide on the stored value first, so a PFADD that raises no register leaves the key
    // (and its cached cardinality) untouched and is not logged.
    match encoding {
        Encoding::Dense => {
            // Edited in place: no copy of the 12 KB value.
            let regs = &s[HEADER_LEN..];
            let raises: Vec<(usize, u8)> = hits.into_iter().filter(|&(i, c)| c > dense_get(regs, i)).collect();
            if raises.is_empty() {
                return Ok(Reply::Integer(0));
            }
            let Some(s) = str_mut(ctx, key) else {
                return Err(CommandError::WrongType);
            };
            for (i, c) in raises {
                let body = &mut s[HEADER_LEN..];
                if c > dense_get(body, i) {
                    dense_set(body, i, c);
                }
            }
            invalidate_cache(s);
        }
        Encoding::Sparse => {
            // Sparse values are at most 3000 bytes: edit a copy, store it if it changed.
            let mut v = s.to_vec();
            let mut raised = false;
            for (i, c) in hits {
                raised |= raise(&mut v, i, c)?;
            }
            if !raised {
                return Ok(Reply::Integer(0));
            }
            invalidate_cache(&mut v);
            let Some(s) = str_mut(ctx, key) else {
                return Err(CommandError::WrongType);
            };
            *s = Blob::from_vec(v);
        }
    }
    Ok(Reply::Integer(1))
}

fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() > 2 {
        // Union count: merge into scratch registers, never touching the keys.
        let mut max = vec![0u8; REGISTERS];
        for key in &args[1..] {
            if let Some(s) = ctx.db.get_str(key)? {
                merge_into(&mut max, s)?;
            }
        }
        return Ok(Reply::Integer(estimate(&histogram(max.into_iter())) as i64));
    }
    let key = &args[1];
    let Some(s) = ctx.db.get_str(key)? else {
        return Ok(Reply::Integer(0));
    };
    encoding_of(s)?;
    if let Some(card) = cached_cardinality(s) {
        return Ok(Reply::Integer(card as i64));
    }
    let card = count(s)?;
    // Like Redis, remember the count in the header. This modifies the key (WATCH sees it)
    // but PFCOUNT is a read command, so it is not logged: a replica keeps a stale cache
    // flag, which only changes the raw bytes, never a count.
    if let Some(s) = str_mut(ctx, key) {
        s[8..16].copy_from_slice(&card.to_le_bytes());
    }
    Ok(Reply::Integer(card as i64))
}

fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    // The destination is one of the sources, as in Redis.
    let mut max = vec![0u8; REGISTERS];
    let mut any_dense = false;
    for key in &args[1..] {
        if let Some(s) = ctx.db.get_str(key)? {
            any_dense |= encoding_of(s)? == Encoding::Dense;
            merge_into(&mut max, s)?;
        }
    }
    let dest = &args[1];
    let mut v = match ctx.db.get_str(dest)? {
        Some(s) => s.to_vec(),
        None => new_sparse(),
    };
    // As in Redis: a dense input makes the destination dense at once; otherwise it stays
    // sparse until the registers written into it need a dense value.
    if any_dense {
        promote(&mut v)?;
    }
    for (i, &m) in max.iter().enumerate() {
        if m != 0 {
            raise(&mut v, i, m)?;
        }
    }
    invalidate_cache(&mut v);
    let merged = Blob::from_vec(v);
    match str_mut(ctx, dest) {
        Some(s) => *s = merged,
        None => ctx.db.insert(dest, Value::Str(merged)),
    }
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn get_raw(c: &mut TestClient, key: &str) -> Vec<u8> {
        match c.cmd(&["GET", key]) {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("GET {key}: {other:?}"),
        }
    }

    fn set_raw(c: &mut TestClient, key: &str, value: &[u8]) {
        assert_eq!(c.cmd_bytes(&[b"SET", key.as_bytes(), value]), ok());
    }

    /// Adds `n` distinct elements `prefix0`, `prefix1`, … in batches.
    fn add_many(c: &mut TestClient, key: &str, prefix: &str, range: std::ops::Range<usize>) {
        let elems: Vec<String> = range.map(|i| format!("{prefix}{i}")).collect();
        for batch in elems.chunks(1000) {
            let mut cmd = vec!["PFADD", key];
            cmd.extend(batch.iter().map(|s| s.as_str()));
            c.cmd(&cmd);
        }
    }

    fn hex(data: &[u8]) -> String {
        data.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Hex decoding for the fixtures below.
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
    }

    #[test]
    fn hashing_matches_redis() {
        // Non-zero registers of the dense HLL that redis-server 7.0 built from these elements
        // (with hll-sparse-max-bytes 0): covers every MurmurHash tail length and the
        // index/run split.
        let elems: [&[u8]; 6] = [b"a", b"b", b"c", b"hello world", b"0123456789abcdefg", b""];
        let mut regs = std::collections::BTreeMap::new();
        for e in elems {
            let (i, n) = pattern(e);
            let r = regs.entry(i).or_insert(0u8);
            *r = (*r).max(n);
        }
        let expected = [(5938, 2), (8436, 1), (9399, 4), (12711, 2), (14057, 2), (15780, 1)];
        assert_eq!(regs.into_iter().collect::<Vec<_>>(), expected.to_vec());
        assert_eq!(murmurhash64a(b"", 0), 0);
    }

    #[test]
    fn reads_a_sparse_value_written_by_redis() {
        // GET of `PFADD s a b c foo` on redis-server 7.0 (sparse encoding).
        let raw = unhex("48594c4c0100000000000000000000805cb390443e8050b1844bfb80425a");
        let mut c = TestClient::new();
        set_raw(&mut c, "s", &raw);
        assert_eq!(c.cmd(&["PFCOUNT", "s"]), int(4));
        let mut expected = vec![0u8; REGISTERS];
        for e in [&b"a"[..], b"b", b"c", b"foo"] {
            let (i, n) = pattern(e);
            expected[i] = expected[i].max(n);
        }
        assert_eq!(registers_of(&raw).ok(), Some(expected));
        assert_eq!(c.cmd(&["PFADD", "s", "a", "b", "c", "foo"]), int(0));
        // Tern writes the very same bytes for the same command.
        assert_eq!(c.cmd(&["PFADD", "t", "a", "b", "c", "foo"]), int(1));
        assert_eq!(hex(&get_raw(&mut c, "t")), hex(&raw));
    }

    /// Checks a value against the registers it should describe and the size limits of its
    /// encoding (byte equality with Redis's own edits is checked in the pytest suite).
    fn check_sparse(v: &[u8], expected: &[u8]) {
        assert_eq!(registers_of(v).ok().as_deref(), Some(expected));
        if v[4] == ENCODING_SPARSE {
            assert!(v.len() <= SPARSE_MAX_BYTES, "sparse value of {} bytes", v.len());
        } else {
            assert_eq!(v.len(), DENSE_LEN);
        }
    }

    #[test]
    fn sparse_set_keeps_registers_and_promotes() {
        let mut rng_state = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            rng_state
        };
        let mut v = new_sparse();
        let mut regs = vec![0u8; REGISTERS];
        let mut promoted_at = None;
        for step in 0..6000 {
            // Clustered indexes exercise VAL splits and merges; a few wide ones XZERO splits.
            let index = if step % 3 == 0 { (next() % REGISTERS as u64) as usize } else { (next() % 64) as usize * 7 };
            let count = (next() % 8) as u8 + 1;
            let changed = raise(&mut v, index, count).expect("valid value");
            assert_eq!(changed, count > regs[index]);
            regs[index] = regs[index].max(count);
            check_sparse(&v, &regs);
            if v[4] == ENCODING_DENSE && promoted_at.is_none() {
                promoted_at = Some(step);
            }
        }
        assert!(promoted_at.is_some(), "grew past 3000 bytes without turning dense");
        // A register above 32 cannot be sparse.
        let mut v = new_sparse();
        assert_eq!(raise(&mut v, 5, 33).ok(), Some(true));
        assert_eq!(v[4], ENCODING_DENSE);
        assert_eq!(dense_get(&v[HEADER_LEN..], 5), 33);
    }

    #[test]
    fn sparse_runs_merge_like_redis() {
        let mut v = new_sparse();
        // Four neighbours with the same value become one VAL of length 4.
        for i in 10..14 {
            raise(&mut v, i, 2).ok();
        }
        assert_eq!(
            hex(&v[HEADER_LEN..]),
            format!("09{:02x}{:02x}{:02x}", val_op(2, 4), 0x40 | (16369 >> 8), 16369 & 0xff)
        );
        // Raising one in the middle splits it again.
        raise(&mut v, 11, 3).ok();
        assert_eq!(
            hex(&v[HEADER_LEN..]),
            format!(
                "09{:02x}{:02x}{:02x}{:02x}{:02x}",
                val_op(2, 1),
                val_op(3, 1),
                val_op(2, 2),
                0x40 | (16369 >> 8),
                16369 & 0xff
            )
        );
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_LEN - HEADER_LEN];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        dense_set(&mut regs, 5, 0);
        assert_eq!(dense_get(&regs, 4), 4);
        assert_eq!(dense_get(&regs, 5), 0);
        assert_eq!(dense_get(&regs, 6), 6);
        assert_eq!(dense_get(&regs, REGISTERS - 1), ((REGISTERS - 1) % 64) as u8);
    }

    #[test]
    fn pattern_counts_are_bounded() {
        for i in 0..10_000u32 {
            let (idx, count) = pattern(&i.to_le_bytes());
            assert!(idx < REGISTERS);
            assert!((1..=Q as u8 + 1).contains(&count));
        }
    }

    #[test]
    fn estimator_edges() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32;
        assert_eq!(estimate(&h), 0);
        h[0] -= 1;
        h[1] = 1;
        assert_eq!(estimate(&h), 1);
        // Every register saturated: finite, huge.
        let mut full = [0u32; 64];
        full[Q as usize + 1] = REGISTERS as u32;
        assert!(estimate(&full) > 1 << 60);
    }

    #[test]
    fn pfadd_pfcount_basics_and_cache() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["PFADD", "h", "a", "b", "c"]), int(1));
        assert_eq!(c.cmd(&["PFADD", "h", "a", "b"]), int(0));
        let raw = get_raw(&mut c, "h");
        assert_eq!(&raw[..5], b"HYLL\x01", "small values are sparse");
        assert_eq!(raw[15] & 0x80, 0x80, "cache is stale after a write");
        assert_eq!(c.cmd(&["PFCOUNT", "h"]), int(3));
        let raw = get_raw(&mut c, "h");
        assert_eq!(&raw[8..16], &3u64.to_le_bytes(), "PFCOUNT stores the count");
        // A PFADD that raises nothing keeps the cache.
        assert_eq!(c.cmd(&["PFADD", "h", "c"]), int(0));
        assert_eq!(get_raw(&mut c, "h")[15], 0);
        assert_eq!(c.cmd(&["PFADD", "h", "d"]), int(1));
        assert_eq!(get_raw(&mut c, "h")[15] & 0x80, 0x80);
        assert_eq!(c.cmd(&["PFCOUNT", "h"]), int(4));
        // Creating with no element still creates the key.
        assert_eq!(c.cmd(&["PFADD", "empty"]), int(1));
        assert_eq!(c.cmd(&["PFADD", "empty"]), int(0));
        assert_eq!(c.cmd(&["PFCOUNT", "empty"]), int(0));
        assert_eq!(c.cmd(&["PFCOUNT", "missing"]), int(0));
        // The cache is trusted, as in Redis.
        let mut raw = get_raw(&mut c, "h");
        raw[8..16].copy_from_slice(&42u64.to_le_bytes());
        set_raw(&mut c, "h", &raw);
        assert_eq!(c.cmd(&["PFCOUNT", "h"]), int(42));
        // Only the writes are logged (PFCOUNT is a read command).
        let log = c.change_log();
        let names: Vec<&str> = log.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(names, vec!["PFADD", "PFADD", "PFADD", "SET"]);
    }

    #[test]
    fn accuracy_within_two_percent() {
        let mut c = TestClient::new();
        add_many(&mut c, "h", "elem:", 0..100_000);
        let Reply::Integer(n) = c.cmd(&["PFCOUNT", "h"]) else { panic!("not an integer") };
        let err = (n as f64 - 100_000.0).abs() / 100_000.0;
        assert!(err < 0.02, "count {n}");
        // What redis-server 7.0 answers for the same elements.
        assert_eq!(n, 99_904);
        // Union of overlapping sets.
        add_many(&mut c, "g", "elem:", 50_000..150_000);
        let Reply::Integer(u) = c.cmd(&["PFCOUNT", "h", "g"]) else { panic!("not an integer") };
        assert!((u as f64 - 150_000.0).abs() / 150_000.0 < 0.02, "union {u}");
        assert_eq!(c.cmd(&["PFMERGE", "m", "h", "g"]), ok());
        assert_eq!(c.cmd(&["PFCOUNT", "m"]), int(u));
        // Small counts are close (redis-server 7.0 also answers 99 here).
        add_many(&mut c, "small", "x", 0..100);
        assert_eq!(c.cmd(&["PFCOUNT", "small"]), int(99));
    }

    #[test]
    fn pfcount_multi_does_not_modify() {
        let mut c = TestClient::new();
        c.cmd(&["PFADD", "a", "1", "2", "3"]);
        c.cmd(&["PFADD", "b", "3", "4"]);
        let before = (get_raw(&mut c, "a"), get_raw(&mut c, "b"));
        assert_eq!(c.cmd(&["PFCOUNT", "a", "b", "missing"]), int(4));
        assert_eq!((get_raw(&mut c, "a"), get_raw(&mut c, "b")), before);
        assert_eq!(c.cmd(&["PFCOUNT", "missing", "missing2"]), int(0));
    }

    #[test]
    fn pfmerge_semantics() {
        let mut c = TestClient::new();
        c.cmd(&["PFADD", "a", "1", "2", "3"]);
        c.cmd(&["PFADD", "b", "3", "4", "5"]);
        c.cmd(&["PFADD", "d", "9"]);
        assert_eq!(c.cmd(&["PFMERGE", "d", "a", "b"]), ok());
        assert_eq!(c.cmd(&["PFCOUNT", "d"]), int(6), "destination is also a source");
        assert_eq!(c.cmd(&["PFMERGE", "new"]), ok());
        assert_eq!(c.cmd(&["PFCOUNT", "new"]), int(0));
        assert_eq!(c.cmd(&["PFMERGE", "new2", "missing"]), ok());
        let mut empty = new_sparse();
        invalidate_cache(&mut empty);
        assert_eq!(get_raw(&mut c, "new2"), empty);
        assert_eq!(hex(&empty), "48594c4c010000000000000000000080".to_owned() + "7fff");
        // PFMERGE always writes (and is logged), as in Redis.
        let n = c.change_log().len();
        c.cmd(&["PFMERGE", "d", "a"]);
        assert_eq!(c.change_log().len(), n + 1);
    }

    #[test]
    fn pfmerge_keeps_ttl() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1_000);
        c.cmd(&["PFADD", "d", "x"]);
        c.tenant.state.lock().db.set_expire_at(b"d", 60_000);
        c.cmd(&["PFADD", "s", "y"]);
        c.cmd(&["PFMERGE", "d", "s"]);
        c.cmd(&["PFADD", "d", "z"]);
        assert_eq!(c.tenant.state.lock().db.expire_at(b"d"), Some(60_000));
    }

    #[test]
    fn invalid_values_are_refused() {
        let mut c = TestClient::new();
        let not_hll = Reply::Error("WRONGTYPE Key is not a valid HyperLogLog string value.".into());
        set_raw(&mut c, "s", b"hello");
        set_raw(&mut c, "short", b"HYLL\x00");
        let mut bad_len = vec![0u8; DENSE_LEN - 1];
        bad_len[..4].copy_from_slice(b"HYLL");
        set_raw(&mut c, "badlen", &bad_len);
        let mut bad_enc = fresh_header().to_vec();
        bad_enc[4] = 2;
        set_raw(&mut c, "badenc", &bad_enc);
        for key in ["s", "short", "badlen", "badenc"] {
            assert_eq!(c.cmd(&["PFADD", key, "a"]), not_hll, "{key}");
            assert_eq!(c.cmd(&["PFCOUNT", key]), not_hll, "{key}");
            assert_eq!(c.cmd(&["PFCOUNT", key, "s"]), not_hll, "{key}");
            assert_eq!(c.cmd(&["PFMERGE", "dst", key]), not_hll, "{key}");
            assert_eq!(c.cmd(&["PFADD", key]), not_hll, "{key}");
        }
        assert_eq!(c.cmd(&["PFMERGE", "s", "missing"]), not_hll);
        assert_eq!(c.cmd(&["GET", "dst"]), Reply::Nil);
        {
            let mut state = c.tenant.state.lock();
            if let Ok(Some(l)) = state.db.list_mut(b"l", true) {
                l.push_back(keyspace::value::blob(b"x"));
            }
        }
        let wrongtype = Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into());
        assert_eq!(c.cmd(&["PFADD", "l", "a"]), wrongtype);
        assert_eq!(c.cmd(&["PFCOUNT", "l"]), wrongtype);
        assert_eq!(c.cmd(&["PFMERGE", "l", "missing"]), wrongtype);
        assert!(err("ERR wrong number of arguments for 'pfadd'")(&c.cmd(&["PFADD"])));
        assert!(err("ERR wrong number of arguments for 'pfcount'")(&c.cmd(&["PFCOUNT"])));
    }

    /// A sparse value: header plus opcodes.
    fn sparse(ops: &[u8]) -> Vec<u8> {
        let mut v = fresh_header().to_vec();
        v[4] = ENCODING_SPARSE;
        v[15] = 0x80;
        v.extend_from_slice(ops);
        v
    }

    #[test]
    fn sparse_values_are_read_and_turned_dense_on_write() {
        let mut c = TestClient::new();
        // Registers 0..=99 zero, 100..=101 set to 3, the rest (16282) zero.
        let rest = REGISTERS - 102 - 1;
        let ops = [0x40, 99, 0x80 | (2 << 2) | 1, 0x40 | (rest >> 8) as u8, (rest & 0xff) as u8];
        set_raw(&mut c, "sp", &sparse(&ops));
        assert_eq!(c.cmd(&["PFCOUNT", "sp"]), int(2));
        let mut expected = vec![0u8; REGISTERS];
        expected[100] = 3;
        expected[101] = 3;
        assert_eq!(registers_of(&sparse(&ops)).ok(), Some(expected.clone()));
        // Merging sparse and dense.
        c.cmd(&["PFADD", "d", "foo"]);
        let (i, n) = pattern(b"foo");
        expected[i] = expected[i].max(n);
        assert_eq!(c.cmd(&["PFMERGE", "m", "sp", "d"]), ok());
        assert_eq!(registers_of(&get_raw(&mut c, "m")).ok(), Some(expected.clone()));
        // A PFADD that raises nothing leaves the sparse value as it was.
        let before = get_raw(&mut c, "sp");
        assert_eq!(c.cmd(&["PFADD", "sp"]), int(0));
        assert_eq!(get_raw(&mut c, "sp"), before);
        assert_eq!(c.cmd(&["PFADD", "sp", "foo"]), int(1));
        let after = get_raw(&mut c, "sp");
        assert_eq!(after[4], ENCODING_SPARSE);
        let mut single = vec![0u8; REGISTERS];
        single[100] = 3;
        single[101] = 3;
        single[i] = single[i].max(n);
        assert_eq!(registers_of(&after).ok(), Some(single));
        assert_eq!(c.cmd(&["PFCOUNT", "sp"]), int(3));
    }

    #[test]
    fn corrupt_sparse_values() {
        let mut c = TestClient::new();
        let invalid = Reply::Error("INVALIDOBJ Corrupted HLL object detected".into());
        // Too few registers, too many, a run overflowing the end, a truncated XZERO.
        let cases: Vec<Vec<u8>> = vec![vec![0x3f], vec![0x7f, 0xff, 0x00], vec![0x7f, 0xfe, 0x83], vec![0x7f]];
        for (n, ops) in cases.iter().enumerate() {
            set_raw(&mut c, "bad", &sparse(ops));
            assert_eq!(c.cmd(&["PFCOUNT", "bad"]), invalid, "case {n}");
            assert_eq!(c.cmd(&["PFCOUNT", "bad", "missing"]), invalid, "case {n}");
            assert_eq!(c.cmd(&["PFMERGE", "dst", "bad"]), invalid, "case {n}");
        }
        // PFADD notices corruption only where it edits (as Redis does): a register past the
        // described ones, or a truncated opcode on the way.
        let far = (0..1000).map(|i| format!("e{i}")).find(|e| pattern(e.as_bytes()).0 >= 64);
        let Some(far) = far else { panic!("no element maps past register 63") };
        set_raw(&mut c, "bad", &sparse(&[0x3f]));
        assert_eq!(c.cmd(&["PFADD", "bad", &far]), invalid);
        set_raw(&mut c, "bad", &sparse(&[0x7f]));
        assert_eq!(c.cmd(&["PFADD", "bad", &far]), invalid);
        assert_eq!(c.cmd(&["GET", "dst"]), Reply::Nil);
    }

    #[test]
    fn commands_are_declared_like_redis() {
        use crate::command::COMMANDS as TABLE;
        let spec = |n: &str| TABLE.lookup(n.as_bytes()).map(|s| (s.is_write(), s.arity));
        assert_eq!(spec("pfadd"), Some((true, -2)));
        assert_eq!(spec("pfcount"), Some((false, -2)));
        assert_eq!(spec("pfmerge"), Some((true, -2)));
    }
}
