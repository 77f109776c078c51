//! Bitmap commands over ordinary string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO, with Redis's bit order (bit 0 is the most significant bit of the
//! first byte), its range rules, and its overflow arithmetic.

use crate::args;
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::Blob;
use keyspace::{Db, Value};
use resp::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setbit",
        arity: 4,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::FIRST,
        group: "bitmap",
        handler: setbit,
    },
    CommandSpec {
        name: "getbit",
        arity: 3,
        flags: Flags::READONLY.union(Flags::FAST),
        keys: KeySpec::FIRST,
        group: "bitmap",
        handler: getbit,
    },
    CommandSpec {
        name: "bitcount",
        arity: -2,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "bitmap",
        handler: bitcount,
    },
    CommandSpec {
        name: "bitpos",
        arity: -3,
        flags: Flags::READONLY,
        keys: KeySpec::FIRST,
        group: "bitmap",
        handler: bitpos,
    },
    CommandSpec {
        name: "bitop",
        arity: -4,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::range(2, -1, 1),
        group: "bitmap",
        handler: bitop,
    },
    CommandSpec {
        name: "bitfield",
        arity: -2,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::FIRST,
        group: "bitmap",
        handler: bitfield,
    },
    CommandSpec {
        name: "bitfield_ro",
        arity: -2,
        flags: Flags::READONLY.union(Flags::FAST),
        keys: KeySpec::FIRST,
        group: "bitmap",
        handler: bitfield_ro,
    },
];

/// Largest string a bit command may produce (Redis's default `proto-max-bulk-len`).
const MAX_STRING_BYTES: u64 = super::strings::MAX_STRING_BYTES as u64;

const OFFSET_ERR: &str = "bit offset is not an integer or out of range";

/// Parses a bit offset. With `field_bits`, the `#N` form means `N * field_bits` (BITFIELD).
/// Offsets whose byte would lie past the 512 MB string limit are refused, so the largest
/// offset is 2^32 - 1 as in Redis.
fn bit_offset(arg: &[u8], field_bits: Option<u32>) -> Result<u64, CommandError> {
    let bad = || CommandError::err(OFFSET_ERR);
    let offset = match field_bits {
        Some(bits) if arg.len() > 1 && arg[0] == b'#' => {
            args::parse_i64(&arg[1..]).and_then(|n| n.checked_mul(bits as i64)).ok_or_else(bad)?
        }
        _ => args::parse_i64(arg).ok_or_else(bad)?,
    };
    if offset < 0 || (offset as u64 >> 3) >= MAX_STRING_BYTES {
        return Err(bad());
    }
    Ok(offset as u64)
}

/// Value of one bit; bytes past the end of `data` read as zero.
fn get_bit(data: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    data.get(byte).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

/// Mutable access to the string at `key`, which the caller checked exists and is a string.
/// Keeps the key's TTL (bit commands modify strings in place, as Redis does).
fn str_mut<'a>(db: &'a mut Db, key: &[u8]) -> Option<&'a mut Blob> {
    match db.get_mut(key) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

/// The string at `key` for writing, created or zero-padded so that it has at least `len`
/// bytes. The caller has already checked the type.
fn grown_str<'a>(db: &'a mut Db, key: &[u8], len: usize) -> Option<&'a mut Blob> {
    if !db.contains(key) {
        db.insert(key, Value::Str(Blob::new()));
    }
    let s = str_mut(db, key)?;
    if s.len() < len {
        s.resize(len, 0);
    }
    Some(s)
}

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let offset = bit_offset(&args[2], None)?;
    let on = match args::parse_i64(&args[3]) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return Err(CommandError::err("bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    // Read first: a SETBIT that changes nothing does not touch (or log) the key.
    let old = match ctx.db.get_str(key)? {
        Some(s) if s.len() > byte => {
            let old = get_bit(s, offset);
            if old == on {
                return Ok(Reply::Integer(old as i64));
            }
            old
        }
        Some(_) | None => {
            crate::limits::check_grown_record(ctx, byte + 1)?;
            0
        }
    };
    let Some(s) = grown_str(ctx.db, key, byte + 1) else {
        return Err(CommandError::WrongType);
    };
    let mask = 0x80u8 >> (offset & 7);
    if on == 1 {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    Ok(Reply::Integer(old as i64))
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let offset = bit_offset(&args[2], None)?;
    let bit = ctx.db.get_str(&args[1])?.map_or(0, |s| get_bit(s, offset));
    Ok(Reply::Integer(bit as i64))
}

/// Turns Redis's `start end` (negative counts from the end) into a clamped inclusive range
/// over `total` units; `start > end` afterwards means the range is empty.
fn clamp_range(start: i64, end: i64, total: i64) -> (i64, i64) {
    let mut start = if start < 0 { total.saturating_add(start) } else { start };
    let mut end = if end < 0 { total.saturating_add(end) } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start, end)
}

/// Mask of the bits `first..=last` (0 = most significant) within one byte.
fn byte_mask(first: u64, last: u64) -> u8 {
    (0xFFu8 >> first) & (0xFFu8 << (7 - last))
}

/// Number of set bits in the inclusive bit range, which lies inside `data`.
fn count_bits(data: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    if fb == lb {
        return (data[fb] & byte_mask(first & 7, last & 7)).count_ones() as u64;
    }
    let head = (data[fb] & byte_mask(first & 7, 7)).count_ones() as u64;
    let tail = (data[lb] & byte_mask(0, last & 7)).count_ones() as u64;
    let middle: u64 = data[fb + 1..lb].iter().map(|b| b.count_ones() as u64).sum();
    head + middle + tail
}

/// Position of the first bit equal to `bit` in the inclusive range inside `data`.
fn find_bit(data: &[u8], first: u64, last: u64, bit: u8) -> Option<u64> {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    // Look for a set bit in `b` (inverted when searching zeros), within the mask.
    let hit = |i: usize, mask: u8| -> Option<u64> {
        let b = if bit == 1 { data[i] } else { !data[i] } & mask;
        (b != 0).then(|| i as u64 * 8 + b.leading_zeros() as u64)
    };
    if fb == lb {
        return hit(fb, byte_mask(first & 7, last & 7));
    }
    if let Some(p) = hit(fb, byte_mask(first & 7, 7)) {
        return Some(p);
    }
    let skip = if bit == 1 { 0x00 } else { 0xFF };
    if let Some(i) = data[fb + 1..lb].iter().position(|&b| b != skip) {
        return hit(fb + 1 + i, 0xFF);
    }
    hit(lb, byte_mask(0, last & 7))
}

/// Reads the optional `BYTE|BIT` unit argument.
fn is_bit_unit(arg: Option<&Bytes>) -> Result<bool, CommandError> {
    match arg {
        None => Ok(false),
        Some(a) if args::is(a, "BIT") => Ok(true),
        Some(a) if args::is(a, "BYTE") => Ok(false),
        Some(_) => Err(CommandError::Syntax),
    }
}

fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    // Arguments are checked before the key is looked up, so a missing key with bad
    // arguments is an error (Redis 7.2 behaviour).
    let range = match args.len() {
        2 => None,
        4 | 5 => Some((args::int(&args[2])?, args::int(&args[3])?, is_bit_unit(args.get(4))?)),
        _ => return Err(CommandError::Syntax),
    };
    let Some(s) = ctx.db.get_str(&args[1])? else {
        return Ok(Reply::Integer(0));
    };
    let len = s.len() as i64;
    let (first, last) = match range {
        None => (0, len * 8 - 1),
        Some((start, end, _)) if start < 0 && end < 0 && start > end => return Ok(Reply::Integer(0)),
        Some((start, end, true)) => clamp_range(start, end, len * 8),
        Some((start, end, false)) => {
            let (s, e) = clamp_range(start, end, len);
            (s.saturating_mul(8), e * 8 + 7)
        }
    };
    if first > last {
        return Ok(Reply::Integer(0));
    }
    Ok(Reply::Integer(count_bits(s, first as u64, last as u64) as i64))
}

fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let bit = match args::int(&args[2])? {
        b @ (0 | 1) => b as u8,
        _ => return Err(CommandError::err("The bit argument must be 1 or 0.")),
    };
    if args.len() > 6 {
        return Err(CommandError::Syntax);
    }
    let start = match args.get(3) {
        Some(a) => args::int(a)?,
        None => 0,
    };
    let end = match args.get(4) {
        Some(a) => Some(args::int(a)?),
        None => None,
    };
    let bit_unit = is_bit_unit(args.get(5))?;
    let Some(s) = ctx.db.get_str(&args[1])? else {
        // A missing key is an infinite run of zeros.
        return Ok(Reply::Integer(if bit == 1 { -1 } else { 0 }));
    };
    let len = s.len() as i64;
    let (first, last) = if bit_unit {
        clamp_range(start, end.unwrap_or(-1), len * 8)
    } else {
        let (s, e) = clamp_range(start, end.unwrap_or(-1), len);
        (s.saturating_mul(8), e * 8 + 7)
    };
    if first > last {
        return Ok(Reply::Integer(-1));
    }
    let pos = match find_bit(s, first as u64, last as u64, bit) {
        Some(p) => p as i64,
        // Without an explicit end the string counts as padded with zeros on the right, so
        // the first clear bit of an all-ones range is the one just past it.
        None if bit == 0 && end.is_none() => last + 1,
        None => -1,
    };
    Ok(Reply::Integer(pos))
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let op = match &args[1] {
        a if args::is(a, "AND") => BitOp::And,
        a if args::is(a, "OR") => BitOp::Or,
        a if args::is(a, "XOR") => BitOp::Xor,
        a if args::is(a, "NOT") => BitOp::Not,
        _ => return Err(CommandError::Syntax),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CommandError::err("BITOP NOT must be called with a single source key."));
    }
    // Folds the sources one by one; a missing key is an empty string, and every source is
    // zero-padded to the longest, so bytes past a shorter source count as zero.
    let mut res: Vec<u8> = Vec::new();
    for (i, key) in args[3..].iter().enumerate() {
        let src: &[u8] = ctx.db.get_str(key)?.map_or(&[], |s| s.as_slice());
        if i == 0 {
            res.extend_from_slice(src);
            if op == BitOp::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        if src.len() > res.len() {
            res.resize(src.len(), 0);
        }
        match op {
            BitOp::And => {
                res.iter_mut().zip(src).for_each(|(r, s)| *r &= s);
                res[src.len()..].iter_mut().for_each(|r| *r = 0);
            }
            BitOp::Or => res.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
            BitOp::Xor => res.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            BitOp::Not => {}
        }
    }
    let dest = &args[2];
    let len = res.len() as i64;
    if res.is_empty() {
        ctx.db.remove(dest);
    } else {
        ctx.db.insert(dest, Value::Str(Blob::from_vec(res)));
    }
    Ok(Reply::Integer(len))
}

// ----- BITFIELD ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Parses `i1`..`i64` / `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CommandError> {
    let bad = || {
        CommandError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(bad()),
    };
    match args::parse_i64(&arg[1..]) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(bad()),
    }
}

fn parse_fields(args: &[Bytes]) -> Result<Vec<Field>, CommandError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j];
        let op_get = args::is(sub, "GET") && remaining >= 2;
        let op_set = args::is(sub, "SET") && remaining >= 3;
        let op_incr = args::is(sub, "INCRBY") && remaining >= 3;
        if args::is(sub, "OVERFLOW") && remaining >= 1 {
            let kind = &args[j + 1];
            overflow = if args::is(kind, "WRAP") {
                Overflow::Wrap
            } else if args::is(kind, "SAT") {
                Overflow::Sat
            } else if args::is(kind, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CommandError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        }
        if !(op_get || op_set || op_incr) {
            return Err(CommandError::Syntax);
        }
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(bits))?;
        let op = if op_get {
            FieldOp::Get
        } else {
            // A write may reach `bits - 1` bits past the offset: keep it under the limit too.
            if (offset + bits as u64 - 1) >> 3 >= MAX_STRING_BYTES {
                return Err(CommandError::err(OFFSET_ERR));
            }
            let v = args::int(&args[j + 3])?;
            if op_set {
                FieldOp::Set(v)
            } else {
                FieldOp::IncrBy(v)
            }
        };
        fields.push(Field { op, signed, bits, offset, overflow });
        j += if op_get { 3 } else { 4 };
    }
    Ok(fields)
}

/// Reads `bits` bits (most significant first) at `offset`; bytes past the end read as zero.
fn get_unsigned(data: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, j| (v << 1) | get_bit(data, offset + j) as u64)
}

fn get_signed(data: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(data, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` bits of `value` at `offset`; `data` must be long enough.
fn set_field(data: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - j)) & 1;
        let pos = offset + j;
        let mask = 0x80u8 >> (pos & 7);
        let byte = &mut data[(pos >> 3) as usize];
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves the `bits`-wide
/// unsigned range, and the value to store instead under WRAP or SAT.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > (max - value) as i64) {
        return Some(if ow == Overflow::Sat { max } else { wrap() });
    }
    if incr < 0 && incr < (value as i64).wrapping_neg() {
        return Some(if ow == Overflow::Sat { 0 } else { wrap() });
    }
    None
}

/// Redis's `checkSignedBitfieldOverflow`, with its wrapping intermediate arithmetic kept as is
/// so that results match Redis even for out-of-range SET values.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        let c = if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c | mask
            } else {
                c & !mask
            }
        } else {
            c
        };
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        return Some(if ow == Overflow::Sat { max } else { wrap() });
    }
    if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        return Some(if ow == Overflow::Sat { min } else { wrap() });
    }
    None
}

/// Outcome of one field operation on the current bytes.
struct Step {
    reply: Reply,
    /// `(old, new)` raw field bits when the operation stores a value.
    write: Option<(u64, u64)>,
}

fn step(f: &Field, data: &[u8]) -> Step {
    let (incr, base) = match f.op {
        FieldOp::Get => {
            let v =
                if f.signed { get_signed(data, f.offset, f.bits) } else { get_unsigned(data, f.offset, f.bits) as i64 };
            return Step { reply: Reply::Integer(v), write: None };
        }
        FieldOp::Set(v) => (0, Some(v)),
        FieldOp::IncrBy(by) => (by, None),
    };
    let old_raw = get_unsigned(data, f.offset, f.bits);
    let (new, reply_value, overflowed) = if f.signed {
        let old = get_signed(data, f.offset, f.bits);
        let value = base.unwrap_or(old);
        let ow = signed_overflow(value, incr, f.bits, f.overflow);
        let new = ow.unwrap_or_else(|| value.wrapping_add(incr));
        (new as u64, if base.is_some() { old } else { new }, ow.is_some())
    } else {
        let value = base.map_or(old_raw, |v| v as u64);
        let ow = unsigned_overflow(value, incr, f.bits, f.overflow);
        let new = ow.unwrap_or_else(|| value.wrapping_add(incr as u64));
        (new, if base.is_some() { old_raw as i64 } else { new as i64 }, ow.is_some())
    };
    if overflowed && f.overflow == Overflow::Fail {
        return Step { reply: Reply::Nil, write: None };
    }
    let mask = if f.bits == 64 { u64::MAX } else { (1u64 << f.bits) - 1 };
    Step { reply: Reply::Integer(reply_value), write: Some((old_raw, new & mask)) }
}

fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only: bool) -> CommandResult {
    let fields = parse_fields(args)?;
    let key = &args[1];
    let highest = fields.iter().filter(|f| f.op != FieldOp::Get).map(|f| f.offset + f.bits as u64 - 1).max();
    let Some(highest) = highest else {
        let data: &[u8] = ctx.db.get_str(key)?.map_or(&[], |s| s.as_slice());
        return Ok(Reply::Array(fields.iter().map(|f| step(f, data).reply).collect()));
    };
    if read_only {
        return Err(CommandError::err("BITFIELD_RO only supports the GET subcommand"));
    }
    let needed = (highest >> 3) as usize + 1;
    // Dry run on the stored bytes: if the key needs no growth and no operation changes a
    // field, the replies are final and the key is left untouched (and nothing is logged).
    if let Some(data) = ctx.db.get_str(key)? {
        if data.len() >= needed {
            let mut replies = Vec::with_capacity(fields.len());
            for f in &fields {
                let s = step(f, data);
                if matches!(s.write, Some((old, new)) if old != new) {
                    break;
                }
                replies.push(s.reply);
            }
            if replies.len() == fields.len() {
                return Ok(Reply::Array(replies));
            }
        }
    }
    // As in Redis, the string is created or grown to the furthest written bit even if every
    // write then fails its overflow check.
    let Some(data) = grown_str(ctx.db, key, needed) else {
        return Err(CommandError::WrongType);
    };
    let mut replies = Vec::with_capacity(fields.len());
    for f in &fields {
        let s = step(f, data);
        if let Some((_, new)) = s.write {
            set_field(data, f.offset, f.bits, new);
        }
        replies.push(s.reply);
    }
    Ok(Reply::Array(replies))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// Stores a list under `key` (the list commands live in another family).
    fn put_list(c: &TestClient, key: &str) {
        let mut state = c.tenant.state.lock();
        if let Ok(Some(l)) = state.db.list_mut(key.as_bytes(), true) {
            l.push_back(keyspace::value::blob(b"x"));
        }
    }

    fn exists(c: &TestClient, key: &str) -> bool {
        c.tenant.state.lock().db.contains(key.as_bytes())
    }

    fn ints(v: &[i64]) -> Reply {
        Reply::Array(v.iter().map(|&i| Reply::Integer(i)).collect())
    }

    #[test]
    fn setbit_getbit_grow_and_log_only_changes() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["SETBIT", "b", "7", "1"]), int(0));
        assert_eq!(c.cmd(&["GET", "b"]), bulk("\x01"));
        assert_eq!(c.cmd(&["SETBIT", "b", "7", "1"]), int(1));
        assert_eq!(c.cmd(&["SETBIT", "b", "1", "1"]), int(0));
        assert_eq!(c.cmd(&["GET", "b"]), bulk("\x41"));
        assert_eq!(c.cmd(&["SETBIT", "b", "23", "0"]), int(0));
        assert_eq!(c.cmd(&["GET", "b"]), bulk("A\x00\x00"));
        assert_eq!(c.cmd(&["GETBIT", "b", "1"]), int(1));
        assert_eq!(c.cmd(&["GETBIT", "b", "0"]), int(0));
        assert_eq!(c.cmd(&["GETBIT", "b", "100000"]), int(0));
        assert_eq!(c.cmd(&["GETBIT", "missing", "3"]), int(0));
        assert_eq!(c.cmd(&["SETBIT", "b", "1", "0"]), int(1));
        assert_eq!(
            c.change_log(),
            vec![
                vec!["SETBIT", "b", "7", "1"],
                vec!["SETBIT", "b", "1", "1"],
                vec!["SETBIT", "b", "23", "0"],
                vec!["SETBIT", "b", "1", "0"],
            ]
        );
    }

    #[test]
    fn setbit_errors() {
        let mut c = TestClient::new();
        let off = err("ERR bit offset is not an integer or out of range");
        assert!(off(&c.cmd(&["SETBIT", "b", "-1", "1"])));
        assert!(off(&c.cmd(&["SETBIT", "b", "4294967296", "1"])));
        assert!(off(&c.cmd(&["SETBIT", "b", "abc", "1"])));
        assert!(off(&c.cmd(&["GETBIT", "b", "4294967296"])));
        let val = err("ERR bit is not an integer or out of range");
        assert!(val(&c.cmd(&["SETBIT", "b", "1", "2"])));
        assert!(val(&c.cmd(&["SETBIT", "b", "1", "-1"])));
        assert!(val(&c.cmd(&["SETBIT", "b", "1", "x"])));
        assert_eq!(c.cmd(&["GETBIT", "b", "4294967295"]), int(0));
        put_list(&c, "h");
        assert!(err("WRONGTYPE")(&c.cmd(&["SETBIT", "h", "1", "1"])));
        assert!(err("WRONGTYPE")(&c.cmd(&["GETBIT", "h", "1"])));
        assert!(c.change_log().iter().all(|r| r[0] != "SETBIT"));
    }

    #[test]
    fn setbit_keeps_ttl() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1_000);
        c.cmd(&["SET", "k", "a"]);
        c.tenant.state.lock().db.set_expire_at(b"k", 50_000);
        c.cmd(&["SETBIT", "k", "100", "1"]);
        assert_eq!(c.tenant.state.lock().db.expire_at(b"k"), Some(50_000));
    }

    #[test]
    fn bitcount_ranges() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "s", "foobar"]);
        assert_eq!(c.cmd(&["BITCOUNT", "s"]), int(26));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "0", "0"]), int(4));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "1", "1"]), int(6));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "1", "1", "BYTE"]), int(6));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "5", "30", "bit"]), int(17));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "-2", "-1"]), int(7));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "-1", "-2"]), int(0));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "-100", "100"]), int(26));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "3", "1"]), int(0));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "0", "-1", "BIT"]), int(26));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "1", "1", "BIT"]), int(1));
        assert_eq!(c.cmd(&["BITCOUNT", "missing"]), int(0));
        assert_eq!(c.cmd(&["BITCOUNT", "missing", "0", "1"]), int(0));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "0"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "0", "1", "NOPE"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(c.cmd(&["BITCOUNT", "s", "0", "1", "BIT", "x"]), Reply::Error("ERR syntax error".into()));
        assert!(err("ERR value is not an integer")(&c.cmd(&["BITCOUNT", "missing", "a", "1"])));
    }

    #[test]
    fn bitpos_rules() {
        let mut c = TestClient::new();
        c.cmd_bytes(&[b"SET", b"s", b"\xff\xf0\x00"]);
        assert_eq!(c.cmd(&["BITPOS", "s", "0"]), int(12));
        assert_eq!(c.cmd(&["BITPOS", "s", "1", "2"]), int(-1));
        assert_eq!(c.cmd(&["BITPOS", "s", "1", "1"]), int(8));
        assert_eq!(c.cmd(&["BITPOS", "s", "0", "2", "-1", "BYTE"]), int(16));
        assert_eq!(c.cmd(&["BITPOS", "s", "1", "7", "15", "BIT"]), int(7));
        assert_eq!(c.cmd(&["BITPOS", "s", "0", "7", "15", "BIT"]), int(12));
        assert_eq!(c.cmd(&["BITPOS", "s", "1", "13", "-1", "BIT"]), int(-1));
        c.cmd_bytes(&[b"SET", b"ones", b"\xff\xff"]);
        // No end given: the string is zero-padded to the right.
        assert_eq!(c.cmd(&["BITPOS", "ones", "0"]), int(16));
        assert_eq!(c.cmd(&["BITPOS", "ones", "0", "1"]), int(16));
        // An explicit end: no clear bit in the range.
        assert_eq!(c.cmd(&["BITPOS", "ones", "0", "0", "-1"]), int(-1));
        assert_eq!(c.cmd(&["BITPOS", "ones", "0", "0", "-1", "BIT"]), int(-1));
        assert_eq!(c.cmd(&["BITPOS", "ones", "0", "5"]), int(-1));
        assert_eq!(c.cmd(&["BITPOS", "missing", "0"]), int(0));
        assert_eq!(c.cmd(&["BITPOS", "missing", "1"]), int(-1));
        c.cmd(&["SET", "empty", ""]);
        assert_eq!(c.cmd(&["BITPOS", "empty", "0"]), int(-1));
        assert_eq!(c.cmd(&["BITPOS", "s", "2"]), Reply::Error("ERR The bit argument must be 1 or 0.".into()));
        assert!(err("ERR value is not an integer")(&c.cmd(&["BITPOS", "s", "x"])));
        assert_eq!(c.cmd(&["BITPOS", "s", "1", "0", "1", "BITS"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(c.cmd(&["BITPOS", "s", "1", "0", "1", "BIT", "x"]), Reply::Error("ERR syntax error".into()));
        put_list(&c, "l");
        assert!(err("WRONGTYPE")(&c.cmd(&["BITPOS", "l", "1"])));
    }

    #[test]
    fn find_and_count_agree_with_bit_by_bit() {
        let data: Vec<u8> = (0..40u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let total = data.len() as u64 * 8;
        for first in (0..total).step_by(3) {
            for last in (first..total).step_by(5) {
                let ones = (first..=last).filter(|&o| get_bit(&data, o) == 1).count() as u64;
                assert_eq!(count_bits(&data, first, last), ones);
                for bit in [0, 1] {
                    let expect = (first..=last).find(|&o| get_bit(&data, o) == bit);
                    assert_eq!(find_bit(&data, first, last, bit), expect);
                }
            }
        }
    }

    #[test]
    fn bitop_operations() {
        let mut c = TestClient::new();
        c.cmd_bytes(&[b"SET", b"a", b"\xff\x0f\xaa"]);
        c.cmd_bytes(&[b"SET", b"b", b"\x0f\xff"]);
        assert_eq!(c.cmd(&["BITOP", "AND", "d", "a", "b"]), int(3));
        assert_eq!(c.cmd_bytes(&[b"GET", b"d"]), Reply::bulk(b"\x0f\x0f\x00"));
        assert_eq!(c.cmd(&["BITOP", "or", "d", "a", "b", "missing"]), int(3));
        assert_eq!(c.cmd_bytes(&[b"GET", b"d"]), Reply::bulk(b"\xff\xff\xaa"));
        assert_eq!(c.cmd(&["BITOP", "XOR", "d", "a", "b"]), int(3));
        assert_eq!(c.cmd_bytes(&[b"GET", b"d"]), Reply::bulk(b"\xf0\xf0\xaa"));
        assert_eq!(c.cmd(&["BITOP", "NOT", "d", "a"]), int(3));
        assert_eq!(c.cmd_bytes(&[b"GET", b"d"]), Reply::bulk(b"\x00\xf0\x55"));
        assert_eq!(c.cmd(&["BITOP", "AND", "d", "a", "missing"]), int(3));
        assert_eq!(c.cmd_bytes(&[b"GET", b"d"]), Reply::bulk(b"\x00\x00\x00"));
        // AND with a shorter first source still zeroes the tail.
        assert_eq!(c.cmd(&["BITOP", "AND", "d", "b", "a"]), int(3));
        assert_eq!(c.cmd_bytes(&[b"GET", b"d"]), Reply::bulk(b"\x0f\x0f\x00"));
        assert_eq!(c.cmd(&["BITOP", "AND", "d", "m1", "m2"]), int(0));
        assert!(!exists(&c, "d"));
        assert_eq!(
            c.cmd(&["BITOP", "NOT", "d", "a", "b"]),
            Reply::Error("ERR BITOP NOT must be called with a single source key.".into())
        );
        assert_eq!(c.cmd(&["BITOP", "NAND", "d", "a"]), Reply::Error("ERR syntax error".into()));
        put_list(&c, "l");
        assert!(err("WRONGTYPE")(&c.cmd(&["BITOP", "OR", "d", "a", "l"])));
        assert!(err("ERR wrong number of arguments for 'bitop'")(&c.cmd(&["BITOP", "OR", "d"])));
        // Deleting a missing destination changes nothing and logs nothing.
        let before = c.change_log().len();
        c.cmd(&["BITOP", "OR", "nothing", "m1"]);
        assert_eq!(c.change_log().len(), before);
    }

    #[test]
    fn bitfield_get_set_incr() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["BITFIELD", "f", "SET", "i8", "0", "100", "GET", "i8", "0"]), ints(&[0, 100]));
        assert_eq!(c.cmd(&["BITFIELD", "f", "INCRBY", "i8", "0", "100"]), ints(&[-56]));
        assert_eq!(c.cmd(&["BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-100"]), ints(&[-128]));
        assert_eq!(
            c.cmd(&["BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1", "GET", "u8", "0"]),
            Reply::Array(vec![Reply::Nil, int(128)])
        );
        assert_eq!(c.cmd(&["BITFIELD", "f", "SET", "u4", "#1", "15", "GET", "u4", "4"]), ints(&[0, 15]));
        assert_eq!(c.cmd(&["BITFIELD", "f", "GET", "u16", "0"]), ints(&[0x8f00]));
        assert_eq!(
            c.cmd(&["BITFIELD", "f", "GET", "i64", "0", "GET", "u63", "1"]),
            ints(&[-8142508126285856768, 0x0f00_0000_0000_0000])
        );
        assert_eq!(c.cmd(&["BITFIELD", "f"]), ints(&[]));
        assert_eq!(c.cmd(&["BITFIELD_RO", "f", "GET", "u8", "0"]), ints(&[0x8f]));
        assert_eq!(c.cmd(&["BITFIELD", "missing", "GET", "u8", "0"]), ints(&[0]));
        assert!(!exists(&c, "missing"));
        // u63 SET of a large value wraps to 63 bits.
        assert_eq!(c.cmd(&["BITFIELD", "g", "SET", "u63", "0", "-1", "GET", "u63", "0"]), ints(&[0, i64::MAX]));
        assert_eq!(
            c.cmd(&["BITFIELD", "g", "SET", "i64", "0", "-9223372036854775808", "INCRBY", "i64", "0", "-1"]),
            ints(&[-2, i64::MAX])
        );
    }

    #[test]
    fn bitfield_overflow_modes_match_redis_arithmetic() {
        // Unsigned.
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Wrap), Some(251));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -5, 8, Overflow::Sat), None);
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Overflow::Wrap), Some(255));
        assert_eq!(unsigned_overflow(1 << 62, 1 << 62, 63, Overflow::Wrap), Some(0));
        // Signed.
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Wrap), Some(127));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_overflow(100, 27, 8, Overflow::Sat), None);
        assert_eq!(signed_overflow(300, 0, 8, Overflow::Wrap), Some(44));
        assert_eq!(signed_overflow(-300, 0, 8, Overflow::Sat), Some(-128));
        // Redis quirk: i64::MIN as a SET value of a narrow field counts as a positive overflow.
        assert_eq!(signed_overflow(i64::MIN, 0, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Overflow::Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(0, 0, 1, Overflow::Sat), None);
        assert_eq!(signed_overflow(0, 1, 1, Overflow::Sat), Some(0));
        assert_eq!(signed_overflow(0, -1, 1, Overflow::Wrap), None);
    }

    #[test]
    fn bitfield_errors_and_ro() {
        let mut c = TestClient::new();
        let ty =
            err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
        for t in ["u64", "i65", "x8", "i0", "", "u", "i-1"] {
            assert!(ty(&c.cmd(&["BITFIELD", "f", "GET", t, "0"])), "{t}");
        }
        let off = err("ERR bit offset is not an integer or out of range");
        for o in ["-1", "#", "#-1", "x", "4294967296", "#536870912"] {
            assert!(off(&c.cmd(&["BITFIELD", "f", "GET", "u8", o])), "{o}");
        }
        // A write reaching past the 512 MB limit is refused; a read there is fine.
        assert!(off(&c.cmd(&["BITFIELD", "f", "SET", "u8", "4294967295", "1"])));
        assert_eq!(c.cmd(&["BITFIELD", "f", "GET", "u8", "4294967295"]), ints(&[0]));
        assert_eq!(c.cmd(&["BITFIELD", "f", "GET", "u8"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(c.cmd(&["BITFIELD", "f", "SET", "u8", "0"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(c.cmd(&["BITFIELD", "f", "FOO", "u8", "0"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(c.cmd(&["BITFIELD", "f", "OVERFLOW"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(
            c.cmd(&["BITFIELD", "f", "OVERFLOW", "MAYBE"]),
            Reply::Error("ERR Invalid OVERFLOW type specified".into())
        );
        assert!(err("ERR value is not an integer")(&c.cmd(&["BITFIELD", "f", "SET", "u8", "0", "x"])));
        assert_eq!(
            c.cmd(&["BITFIELD_RO", "f", "GET", "u8", "0", "SET", "u8", "0", "1"]),
            Reply::Error("ERR BITFIELD_RO only supports the GET subcommand".into())
        );
        assert_eq!(c.cmd(&["BITFIELD_RO", "f", "INCRBY", "u8", "0"]), Reply::Error("ERR syntax error".into()));
        put_list(&c, "l");
        assert!(err("WRONGTYPE")(&c.cmd(&["BITFIELD", "l", "GET", "u8", "0"])));
        assert!(err("WRONGTYPE")(&c.cmd(&["BITFIELD", "l", "SET", "u8", "0", "1"])));
        assert!(err("WRONGTYPE")(&c.cmd(&["BITFIELD_RO", "l", "GET", "u8", "0"])));
        assert!(!exists(&c, "f"));
    }

    #[test]
    fn bitfield_logs_only_real_changes() {
        let mut c = TestClient::new();
        c.cmd(&["BITFIELD", "f", "SET", "u8", "0", "7"]);
        c.cmd(&["BITFIELD", "f", "SET", "u8", "0", "7", "GET", "u8", "0"]);
        c.cmd(&["BITFIELD", "f", "GET", "u8", "0"]);
        c.cmd(&["BITFIELD", "f", "INCRBY", "u8", "0", "0"]);
        c.cmd(&["BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000"]);
        // A no-op first and a change second: the dry run must not hide the change.
        assert_eq!(c.cmd(&["BITFIELD", "f", "SET", "u8", "0", "7", "INCRBY", "u8", "0", "1"]), ints(&[7, 8]));
        // A failed write past the end still grows the string, as in Redis.
        assert_eq!(
            c.cmd(&["BITFIELD", "f", "OVERFLOW", "FAIL", "SET", "u2", "20", "9"]),
            Reply::Array(vec![Reply::Nil])
        );
        assert_eq!(c.cmd_bytes(&[b"GET", b"f"]), Reply::bulk(b"\x08\x00\x00"));
        let log = c.change_log();
        assert_eq!(log.len(), 3, "{log:?}");
        assert_eq!(log[1], vec!["BITFIELD", "f", "SET", "u8", "0", "7", "INCRBY", "u8", "0", "1"]);
    }

    #[test]
    fn commands_are_declared_like_redis() {
        use crate::command::COMMANDS as TABLE;
        let w = |n: &str| TABLE.lookup(n.as_bytes()).map(|s| s.is_write());
        assert_eq!(w("setbit"), Some(true));
        assert_eq!(w("bitop"), Some(true));
        assert_eq!(w("bitfield"), Some(true));
        assert_eq!(w("getbit"), Some(false));
        assert_eq!(w("bitfield_ro"), Some(false));
        let args: Vec<Bytes> = ["BITOP", "AND", "d", "a", "b"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(TABLE.lookup(b"bitop").map(|s| s.keys.positions(&args)), Some(vec![2, 3, 4]));
    }
}
