//! Hash commands (Redis's `t_hash.c`): HSET and friends, counters, random fields, HSCAN.
//! Also the helpers the set family shares: *SCAN cursors and options, random sampling.

use crate::args::{int, is, parse_i64};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use crate::glob::glob_match;
use bytes::Bytes;
use keyspace::value::blob;
use keyspace::{Db, HashValue, Value};
use rand::Rng;
use resp::{Protocol, Reply};
use std::collections::HashMap;

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const F: Flags = Flags::FAST;
const D: Flags = Flags::DENYOOM;

pub static COMMANDS: &[CommandSpec] = &[
    spec("hset", -4, W.union(D).union(F), hset),
    spec("hsetnx", 4, W.union(D).union(F), hsetnx),
    spec("hmset", -4, W.union(D).union(F), hset),
    spec("hget", 3, R.union(F), hget),
    spec("hmget", -3, R.union(F), hmget),
    spec("hgetall", 2, R, hgetall),
    spec("hdel", -3, W.union(F), hdel),
    spec("hlen", 2, R.union(F), hlen),
    spec("hstrlen", 3, R.union(F), hstrlen),
    spec("hexists", 3, R.union(F), hexists),
    spec("hkeys", 2, R, hkeys),
    spec("hvals", 2, R, hvals),
    spec("hincrby", 4, W.union(D).union(F), hincrby),
    spec("hincrbyfloat", 4, W.union(D).union(F), hincrbyfloat),
    spec("hrandfield", -2, R, hrandfield),
    spec("hscan", -3, R, hscan),
];

const fn spec(name: &'static str, arity: i32, flags: Flags, handler: crate::command::Handler) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::FIRST, group: "hash", handler }
}

/// The hash at `key` without counting a keyspace hit or miss: write commands look before
/// they touch, so that a no-op (HDEL of a missing field…) neither logs nor breaks WATCH.
fn peek_hash<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a HashValue>, CommandError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// The hash at `key` for writing, created empty when absent.
fn hash_for_write<'a>(db: &'a mut Db, key: &[u8]) -> Result<&'a mut HashValue, CommandError> {
    db.hash_mut(key, true)?.ok_or_else(|| CommandError::err("internal error: hash not created"))
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let is_hmset = is(&args[0], "hmset");
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(if is_hmset { "hmset" } else { "hset" }.into()));
    }
    let h = hash_for_write(ctx.db, &args[1])?;
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        if h.insert(blob(&pair[0]), blob(&pair[1])).is_none() {
            created += 1;
        }
    }
    Ok(if is_hmset { Reply::ok() } else { Reply::Integer(created) })
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if peek_hash(ctx.db, &args[1])?.is_some_and(|h| h.contains_key(args[2].as_ref())) {
        return Ok(Reply::Integer(0));
    }
    hash_for_write(ctx.db, &args[1])?.insert(blob(&args[2]), blob(&args[3]));
    Ok(Reply::Integer(1))
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let h = ctx.db.hash(&args[1])?;
    Ok(Reply::bulk_opt(h.and_then(|h| h.get(args[2].as_ref())).map(|v| v.as_slice())))
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let h = ctx.db.hash(&args[1])?;
    let values = args[2..].iter().map(|f| Reply::bulk_opt(h.and_then(|h| h.get(f.as_ref())).map(|v| v.as_slice())));
    Ok(Reply::Array(values.collect()))
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let pairs = match ctx.db.hash(&args[1])? {
        Some(h) => h.iter().map(|(k, v)| (Reply::bulk(k), Reply::bulk(v))).collect(),
        None => Vec::new(),
    };
    Ok(Reply::Map(pairs))
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let fields = &args[2..];
    let Some(h) = peek_hash(ctx.db, &args[1])? else {
        return Ok(Reply::Integer(0));
    };
    if !fields.iter().any(|f| h.contains_key(f.as_ref())) {
        return Ok(Reply::Integer(0));
    }
    let h = hash_for_write(ctx.db, &args[1])?;
    let removed = fields.iter().filter(|f| h.swap_remove(f.as_ref()).is_some()).count();
    ctx.db.remove_if_empty(&args[1]);
    Ok(Reply::Integer(removed as i64))
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.hash(&args[1])?.map_or(0, |h| h.len() as i64)))
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let len = ctx.db.hash(&args[1])?.and_then(|h| h.get(args[2].as_ref())).map_or(0, |v| v.len());
    Ok(Reply::Integer(len as i64))
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let found = ctx.db.hash(&args[1])?.is_some_and(|h| h.contains_key(args[2].as_ref()));
    Ok(Reply::Integer(found as i64))
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let keys = ctx.db.hash(&args[1])?.map(|h| h.keys().map(|k| Reply::bulk(k)).collect());
    Ok(Reply::Array(keys.unwrap_or_default()))
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let vals = ctx.db.hash(&args[1])?.map(|h| h.values().map(|v| Reply::bulk(v)).collect());
    Ok(Reply::Array(vals.unwrap_or_default()))
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    // Redis parses the increment before it looks at the key, so that error comes first.
    let incr = int(&args[3])?;
    // Validate before writing, so that a failed increment neither logs nor breaks WATCH.
    let current = match peek_hash(ctx.db, &args[1])?.and_then(|h| h.get(args[2].as_ref())) {
        Some(v) => parse_i64(v).ok_or_else(|| CommandError::err("hash value is not an integer"))?,
        None => 0,
    };
    let new = current.checked_add(incr).ok_or(CommandError::Overflow)?;
    hash_for_write(ctx.db, &args[1])?.insert(blob(&args[2]), blob(new.to_string().as_bytes()));
    Ok(Reply::Integer(new))
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let incr = long_double::parse(&args[3]).ok_or(CommandError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CommandError::err("value is NaN or Infinity"));
    }
    let current = match peek_hash(ctx.db, &args[1])?.and_then(|h| h.get(args[2].as_ref())) {
        Some(v) => long_double::parse(v).ok_or_else(|| CommandError::err("hash value is not a float"))?,
        None => long_double::Ld::ZERO,
    };
    let new = long_double::add(current, incr);
    if !new.is_finite() {
        return Err(CommandError::err("increment would produce NaN or Infinity"));
    }
    let text = Bytes::from(long_double::format_human(new));
    hash_for_write(ctx.db, &args[1])?.insert(blob(&args[2]), blob(&text));
    // Replicas and replay must not redo the arithmetic: log the result, as Redis does.
    ctx.propagate =
        Propagate::Rewrite(vec![vec![Bytes::from_static(b"HSET"), args[1].clone(), args[2].clone(), text.clone()]]);
    Ok(Reply::Bulk(text))
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() == 2 {
        let Some(h) = ctx.db.hash(&args[1])? else {
            return Ok(Reply::Nil);
        };
        if h.is_empty() {
            return Ok(Reply::Nil);
        }
        let len = h.len();
        let i = ctx.db.rng().gen_range(0..len);
        let field = peek_hash(ctx.db, &args[1])?.and_then(|h| h.get_index(i)).map(|(k, _)| Reply::bulk(k));
        return Ok(field.unwrap_or(Reply::Nil));
    }
    let count = random_count(&args[2])?;
    let with_values = match args.len() {
        3 => false,
        4 if is(&args[3], "WITHVALUES") => true,
        _ => return Err(CommandError::Syntax),
    };
    // Redis refuses counts whose doubled reply length would overflow.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::err("value is out of range"));
    }
    let limit = ctx.node.limits.max_keys_reply;
    let resp3 = ctx.client.protocol == Protocol::Resp3;
    let Some(len) = ctx.db.hash(&args[1])?.map(|h| h.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let indexes = pick_indexes(ctx.db, len, count, limit)?;
    let Some(h) = peek_hash(ctx.db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let mut out = Vec::with_capacity(indexes.len() * if with_values && !resp3 { 2 } else { 1 });
    for (k, v) in indexes.into_iter().filter_map(|i| h.get_index(i)) {
        match (with_values, resp3) {
            (false, _) => out.push(Reply::bulk(k)),
            // RESP3 gives each field-value pair its own array, RESP2 a flat list.
            (true, true) => out.push(Reply::Array(vec![Reply::bulk(k), Reply::bulk(v)])),
            (true, false) => {
                out.push(Reply::bulk(k));
                out.push(Reply::bulk(v));
            }
        }
    }
    Ok(Reply::Array(out))
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let cursor = parse_cursor(&args[2])?;
    let Some(h) = ctx.db.hash(&args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOptions::parse(&args[3..], true)?;
    // Small hashes (listpack-encoded in Redis) are returned whole in one call, as Redis does.
    let small = h.len() <= 128 && h.iter().all(|(k, v)| k.len() <= 64 && v.len() <= 64);
    let (positions, next) = if small {
        (Box::new(0..h.len()) as Box<dyn Iterator<Item = usize>>, 0)
    } else {
        let (p, n) = keyspace::db::scan_positions(h.len(), cursor, opts.count);
        (Box::new(p) as Box<dyn Iterator<Item = usize>>, n)
    };
    let mut items = Vec::new();
    for (k, v) in positions.filter_map(|i| h.get_index(i)) {
        if opts.matches(k) {
            items.push(Reply::bulk(k));
            if !opts.novalues {
                items.push(Reply::bulk(v));
            }
        }
    }
    Ok(scan_reply(next, items))
}

// ----- helpers shared with the set family ---------------------------------------------------

/// `[cursor, [items…]]`, the reply of every *SCAN command.
pub(crate) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(Bytes::from(cursor.to_string())), Reply::Array(items)])
}

/// Parses a scan cursor as Redis does with `strtoul`: an optional sign then decimal digits
/// (a negative cursor wraps around, as in C); anything else is an invalid cursor.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CommandError> {
    let invalid = || CommandError::err("invalid cursor");
    // `strtoul` of an empty string converts nothing and stops at the end: cursor 0.
    if arg.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(invalid());
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as u64)).ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Options of HSCAN/SSCAN: `MATCH pattern`, `COUNT n`, and for HSCAN `NOVALUES`.
pub(crate) struct ScanOptions {
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub novalues: bool,
}

impl ScanOptions {
    pub(crate) fn parse(opts: &[Bytes], allow_novalues: bool) -> Result<ScanOptions, CommandError> {
        let mut out = ScanOptions { pattern: None, count: 10, novalues: false };
        let mut i = 0;
        while i < opts.len() {
            let more = i + 1 < opts.len();
            if is(&opts[i], "COUNT") && more {
                let n = int(&opts[i + 1])?;
                if n < 1 {
                    return Err(CommandError::Syntax);
                }
                out.count = usize::try_from(n).unwrap_or(usize::MAX);
                i += 2;
            } else if is(&opts[i], "MATCH") && more {
                let p = &opts[i + 1];
                // "*" matches everything: skip the matching work.
                out.pattern = if p.as_ref() == b"*" { None } else { Some(p.clone()) };
                i += 2;
            } else if is(&opts[i], "NOVALUES") && allow_novalues {
                out.novalues = true;
                i += 1;
            } else {
                return Err(CommandError::Syntax);
            }
        }
        Ok(out)
    }

    pub(crate) fn matches(&self, item: &[u8]) -> bool {
        self.pattern.as_ref().is_none_or(|p| glob_match(p, item, false))
    }
}

/// The count of HRANDFIELD / SRANDMEMBER: any integer but `i64::MIN`, with Redis's wording.
pub(crate) fn random_count(arg: &[u8]) -> Result<i64, CommandError> {
    let n = int(arg)?;
    if n == i64::MIN {
        return Err(CommandError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

/// Indexes to return for a random-element request on a collection of `len` elements:
/// a positive count gives distinct elements (all of them, in order, when count >= len), a
/// negative count gives |count| independent picks that may repeat. `limit` bounds the reply
/// of a negative count, which does not depend on the collection size.
pub(crate) fn pick_indexes(db: &mut Db, len: usize, count: i64, limit: usize) -> Result<Vec<usize>, CommandError> {
    if len == 0 || count == 0 {
        return Ok(Vec::new());
    }
    if count < 0 {
        let n = count.unsigned_abs();
        if n > limit as u64 {
            return Err(CommandError::err("count is too large, the reply would exceed the server's limit"));
        }
        let rng = db.rng();
        return Ok((0..n).map(|_| rng.gen_range(0..len)).collect());
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= len {
        return Ok((0..len).collect());
    }
    Ok(sample_distinct(db.rng(), len, count))
}

/// `count` distinct indexes in `0..len`, uniformly at random, in O(count) time and memory:
/// a partial Fisher-Yates shuffle that only records the positions it disturbed.
pub(crate) fn sample_distinct(rng: &mut impl Rng, len: usize, count: usize) -> Vec<usize> {
    let count = count.min(len);
    let mut moved: HashMap<usize, usize> = HashMap::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let j = rng.gen_range(i..len);
        let at_j = moved.get(&j).copied().unwrap_or(j);
        let at_i = moved.get(&i).copied().unwrap_or(i);
        moved.insert(j, at_i);
        out.push(at_j);
    }
    out
}

pub(crate) mod long_double {
    //! Software x87 80-bit extended precision, the `long double` Redis uses on x86-64 for
    //! HINCRBYFLOAT (and INCRBYFLOAT): `strtold` parsing with Redis's checks, addition, and
    //! `%.17Lf` output with trailing zeros removed, all correctly rounded (ties to even), so
    //! results match Redis digit for digit.

    use std::cmp::Ordering;

    /// Exponent of the least significant mantissa bit of the smallest denormal.
    const MIN_E: i64 = -16445;
    /// Exponent of the least significant mantissa bit of the largest finite numbers.
    const MAX_E: i64 = 16320;
    /// Redis refuses float strings this long (MAX_LONG_DOUBLE_CHARS).
    const MAX_CHARS: usize = 5 * 1024;

    /// A long double: `(-1)^neg * m * 2^e` (zero when `m == 0`), or an infinity, or NaN.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Ld {
        Finite { neg: bool, m: u64, e: i32 },
        Inf { neg: bool },
        Nan,
    }

    impl Ld {
        pub const ZERO: Ld = Ld::Finite { neg: false, m: 0, e: 0 };

        pub fn is_finite(&self) -> bool {
            matches!(self, Ld::Finite { .. })
        }
    }

    /// Unsigned big integer, little-endian 32-bit limbs without high zero limbs.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Big(Vec<u32>);

    impl Big {
        fn from_u128(v: u128) -> Big {
            let mut b = Big(vec![v as u32, (v >> 32) as u32, (v >> 64) as u32, (v >> 96) as u32]);
            b.trim();
            b
        }

        fn trim(&mut self) {
            while self.0.last() == Some(&0) {
                self.0.pop();
            }
        }

        fn is_zero(&self) -> bool {
            self.0.is_empty()
        }

        fn bits(&self) -> u64 {
            match self.0.last() {
                None => 0,
                Some(&top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros()) as u64,
            }
        }

        fn bit(&self, i: u64) -> bool {
            let limb = (i / 32) as usize;
            limb < self.0.len() && (self.0[limb] >> (i % 32)) & 1 == 1
        }

        /// Whether any bit below position `i` is set.
        fn any_below(&self, i: u64) -> bool {
            let full = ((i / 32) as usize).min(self.0.len());
            if self.0[..full].iter().any(|&l| l != 0) {
                return true;
            }
            let rem = i % 32;
            full < self.0.len() && rem > 0 && self.0[full] & ((1u32 << rem) - 1) != 0
        }

        /// `self * m + a`.
        fn mul_add(&mut self, m: u32, a: u32) {
            let mut carry = a as u64;
            for limb in self.0.iter_mut() {
                let v = *limb as u64 * m as u64 + carry;
                *limb = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                self.0.push(carry as u32);
            }
            self.trim();
        }

        /// Divides in place by `d`; returns the remainder.
        fn div_rem_small(&mut self, d: u32) -> u32 {
            let mut rem = 0u64;
            for limb in self.0.iter_mut().rev() {
                let v = (rem << 32) | *limb as u64;
                *limb = (v / d as u64) as u32;
                rem = v % d as u64;
            }
            self.trim();
            rem as u32
        }

        fn shl(&self, n: u64) -> Big {
            if self.is_zero() {
                return self.clone();
            }
            let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
            let mut out = vec![0u32; limbs];
            out.reserve(self.0.len() + 1);
            let mut carry = 0u32;
            for &l in &self.0 {
                if bits == 0 {
                    out.push(l);
                } else {
                    out.push((l << bits) | carry);
                    carry = l >> (32 - bits);
                }
            }
            if carry != 0 {
                out.push(carry);
            }
            Big(out)
        }

        /// The low 128 bits of `self >> n`.
        fn shr_u128(&self, n: u64) -> u128 {
            let mut v = 0u128;
            for k in 0..128u64 {
                if self.bit(n + k) {
                    v |= 1u128 << k;
                }
            }
            v
        }

        fn add(&self, o: &Big) -> Big {
            let (long, short) = if self.0.len() >= o.0.len() { (self, o) } else { (o, self) };
            let mut out = Vec::with_capacity(long.0.len() + 1);
            let mut carry = 0u64;
            for (i, &l) in long.0.iter().enumerate() {
                let v = l as u64 + short.0.get(i).copied().unwrap_or(0) as u64 + carry;
                out.push(v as u32);
                carry = v >> 32;
            }
            if carry != 0 {
                out.push(carry as u32);
            }
            Big(out)
        }

        /// `self - o`, for `self >= o`.
        fn sub(&self, o: &Big) -> Big {
            let mut out = Vec::with_capacity(self.0.len());
            let mut borrow = 0i64;
            for (i, &l) in self.0.iter().enumerate() {
                let mut v = l as i64 - o.0.get(i).copied().unwrap_or(0) as i64 - borrow;
                borrow = 0;
                if v < 0 {
                    v += 1 << 32;
                    borrow = 1;
                }
                out.push(v as u32);
            }
            let mut b = Big(out);
            b.trim();
            b
        }

        fn cmp(&self, o: &Big) -> Ordering {
            self.0.len().cmp(&o.0.len()).then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
        }

        fn pow10(n: u64) -> Big {
            let mut b = Big(vec![1]);
            let mut left = n;
            while left >= 9 {
                b.mul_add(1_000_000_000, 0);
                left -= 9;
            }
            for _ in 0..left {
                b.mul_add(10, 0);
            }
            b
        }

        /// `(num / den, num % den != 0)` for a quotient known to be below 2^127.
        fn div_small_quotient(num: &Big, den: &Big) -> (u128, bool) {
            if num.cmp(den) == Ordering::Less {
                return (0, !num.is_zero());
            }
            let top = (num.bits() - den.bits()).min(126);
            let mut rem = num.clone();
            let mut q = 0u128;
            for i in (0..=top).rev() {
                let t = den.shl(i);
                if rem.cmp(&t) != Ordering::Less {
                    rem = rem.sub(&t);
                    q |= 1u128 << i;
                }
            }
            (q, !rem.is_zero())
        }

        fn to_decimal(&self) -> String {
            let mut n = self.clone();
            let mut chunks = Vec::new();
            while !n.is_zero() {
                chunks.push(n.div_rem_small(1_000_000_000));
            }
            let mut s = chunks.last().map_or_else(|| "0".to_string(), |c| c.to_string());
            for c in chunks.iter().rev().skip(1) {
                s.push_str(&format!("{c:09}"));
            }
            s
        }
    }

    /// Rounds `(n + sticky fraction) * 2^e` to a long double (to nearest, ties to even).
    /// When `sticky` is set, `n` must carry at least 66 significant bits.
    fn round(neg: bool, n: &Big, e: i64, sticky: bool) -> Ld {
        let len = n.bits() as i64;
        if len == 0 {
            return Ld::Finite { neg, m: 0, e: 0 };
        }
        let mut lsb = (e + len - 64).max(MIN_E);
        let shift = lsb - e;
        let mut m: u128 = if shift <= 0 {
            // Exact: fewer than 64 significant bits.
            n.shr_u128(0) << (-shift) as u32
        } else {
            let s = shift as u64;
            let mut m = n.shr_u128(s);
            let half = n.bit(s - 1);
            let rest = sticky || n.any_below(s - 1);
            if half && (rest || m & 1 == 1) {
                m += 1;
            }
            m
        };
        if m == 1u128 << 64 {
            m = 1u128 << 63;
            lsb += 1;
        }
        if m == 0 {
            return Ld::Finite { neg, m: 0, e: 0 };
        }
        if lsb > MAX_E {
            return Ld::Inf { neg };
        }
        Ld::Finite { neg, m: m as u64, e: lsb as i32 }
    }

    fn is_c_space(c: u8) -> bool {
        matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }

    /// Parses like Redis's `string2ld`: `strtold` syntax (decimal, hex `0x…p…`, `inf`,
    /// `infinity`), no leading space, nothing left over, no NaN, and no overflow or
    /// underflow to zero. `None` means "not a valid float".
    pub fn parse(arg: &[u8]) -> Option<Ld> {
        if arg.is_empty() || arg.len() >= MAX_CHARS {
            return None;
        }
        // Redis hands a C string to strtold: it ends at the first NUL byte.
        let s = match arg.iter().position(|&c| c == 0) {
            Some(i) => &arg[..i],
            None => arg,
        };
        if s.is_empty() {
            return Some(Ld::ZERO);
        }
        if is_c_space(s[0]) {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(Ld::Inf { neg });
        }
        if lower.starts_with(b"nan") {
            return None;
        }
        let value = if lower.len() > 2 && lower.starts_with(b"0x") {
            parse_hex(neg, &lower[2..])?
        } else {
            parse_decimal(neg, &lower)?
        };
        match value {
            Ld::Inf { .. } | Ld::Nan => None,
            v => Some(v),
        }
    }

    /// Decimal digits with an optional point and exponent; the exponent is clamped (values
    /// beyond it over- or underflow anyway).
    fn split_number(s: &[u8], is_digit: fn(u8) -> bool, exp_char: u8) -> Option<(Vec<u8>, i64, i64)> {
        let mut i = 0;
        let mut digits = Vec::new();
        let mut frac = 0i64;
        while i < s.len() && is_digit(s[i]) {
            digits.push(s[i]);
            i += 1;
        }
        if i < s.len() && s[i] == b'.' {
            i += 1;
            while i < s.len() && is_digit(s[i]) {
                digits.push(s[i]);
                frac += 1;
                i += 1;
            }
        }
        if digits.is_empty() {
            return None;
        }
        let mut exp = 0i64;
        if i < s.len() && s[i] == exp_char {
            i += 1;
            let mut eneg = false;
            if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
                eneg = s[i] == b'-';
                i += 1;
            }
            if i >= s.len() {
                return None;
            }
            while i < s.len() && s[i].is_ascii_digit() {
                exp = (exp * 10 + (s[i] - b'0') as i64).min(1_000_000_000);
                i += 1;
            }
            if eneg {
                exp = -exp;
            }
        }
        if i != s.len() {
            return None;
        }
        Some((digits, frac, exp))
    }

    fn parse_decimal(neg: bool, s: &[u8]) -> Option<Ld> {
        let (digits, frac, exp) = split_number(s, |c| c.is_ascii_digit(), b'e')?;
        let start = digits.iter().position(|&d| d != b'0');
        let Some(start) = start else {
            return Some(Ld::Finite { neg, m: 0, e: 0 });
        };
        let end = digits.iter().rposition(|&d| d != b'0').map_or(digits.len(), |p| p + 1);
        let sig = &digits[start..end];
        let e10 = exp - frac + (digits.len() - end) as i64;
        let magnitude = sig.len() as i64 + e10; // value < 10^magnitude
        if magnitude > 4934 {
            return Some(Ld::Inf { neg });
        }
        if magnitude < -4952 {
            return None; // underflows to zero
        }
        let mut d = Big(Vec::new());
        for chunk in sig.chunks(9) {
            let mut v = 0u32;
            for &c in chunk {
                v = v * 10 + (c - b'0') as u32;
            }
            d.mul_add(10u32.pow(chunk.len() as u32), v);
        }
        let value = if e10 >= 0 {
            let n = big_mul(&d, &Big::pow10(e10 as u64));
            round(neg, &n, 0, false)
        } else {
            let p = Big::pow10((-e10) as u64);
            // Scale so that the quotient has 69 to 71 bits: enough to round correctly.
            let k = 70 + p.bits() as i64 - d.bits() as i64;
            let (num, den) = if k >= 0 { (d.shl(k as u64), p) } else { (d, p.shl((-k) as u64)) };
            let (q, inexact) = Big::div_small_quotient(&num, &den);
            round(neg, &Big::from_u128(q), -k, inexact)
        };
        match value {
            Ld::Finite { m: 0, .. } => None, // nonzero input rounded to zero: ERANGE
            v => Some(v),
        }
    }

    fn parse_hex(neg: bool, s: &[u8]) -> Option<Ld> {
        let (digits, frac, exp) = split_number(s, |c| c.is_ascii_hexdigit(), b'p')?;
        let mut h = Big(Vec::new());
        for &c in &digits {
            let v = (c as char).to_digit(16)?;
            h.mul_add(16, v);
        }
        if h.is_zero() {
            return Some(Ld::Finite { neg, m: 0, e: 0 });
        }
        let e = exp - 4 * frac;
        if e + h.bits() as i64 > 16400 {
            return Some(Ld::Inf { neg });
        }
        match round(neg, &h, e.max(MIN_E - 200 - h.bits() as i64), false) {
            Ld::Finite { m: 0, .. } => None,
            v => Some(v),
        }
    }

    fn big_mul(a: &Big, b: &Big) -> Big {
        let mut out = vec![0u32; a.0.len() + b.0.len()];
        for (i, &x) in a.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &y) in b.0.iter().enumerate() {
                let v = out[i + j] as u64 + x as u64 * y as u64 + carry;
                out[i + j] = v as u32;
                carry = v >> 32;
            }
            let mut k = i + b.0.len();
            while carry != 0 && k < out.len() {
                let v = out[k] as u64 + carry;
                out[k] = v as u32;
                carry = v >> 32;
                k += 1;
            }
        }
        let mut r = Big(out);
        r.trim();
        r
    }

    /// `a + b`, rounded once, as the FPU does.
    pub fn add(a: Ld, b: Ld) -> Ld {
        match (a, b) {
            (Ld::Nan, _) | (_, Ld::Nan) => Ld::Nan,
            (Ld::Inf { neg: x }, Ld::Inf { neg: y }) => {
                if x == y {
                    a
                } else {
                    Ld::Nan
                }
            }
            (Ld::Inf { .. }, _) => a,
            (_, Ld::Inf { .. }) => b,
            (Ld::Finite { neg: na, m: ma, e: ea }, Ld::Finite { neg: nb, m: mb, e: eb }) => {
                if ma == 0 && mb == 0 {
                    return Ld::Finite { neg: na && nb, m: 0, e: 0 };
                }
                if ma == 0 {
                    return b;
                }
                if mb == 0 {
                    return a;
                }
                let e = ea.min(eb) as i64;
                let x = Big::from_u128(ma as u128).shl((ea as i64 - e) as u64);
                let y = Big::from_u128(mb as u128).shl((eb as i64 - e) as u64);
                if na == nb {
                    return round(na, &x.add(&y), e, false);
                }
                match x.cmp(&y) {
                    Ordering::Equal => Ld::ZERO,
                    Ordering::Greater => round(na, &x.sub(&y), e, false),
                    Ordering::Less => round(nb, &y.sub(&x), e, false),
                }
            }
        }
    }

    /// `%.17Lf` with trailing zeros (and a trailing point) removed, and "-0" written "0":
    /// Redis's `ld2string(…, LD_STR_HUMAN)`. Only for finite values.
    pub fn format_human(v: Ld) -> String {
        let Ld::Finite { neg, m, e } = v else {
            return if v == Ld::Nan { "nan".into() } else { "inf".into() };
        };
        let mut out = String::new();
        if e >= 0 {
            out.push_str(&Big::from_u128(m as u128).shl(e as u64).to_decimal());
        } else {
            // Scaled by 10^17 the value fits in a u128; round the binary fraction away.
            let num = m as u128 * 100_000_000_000_000_000u128;
            let s = (-e) as u32;
            let q = if s >= 129 {
                0
            } else if s == 128 {
                (num > 1u128 << 127) as u128
            } else {
                let q = num >> s;
                let rem = num & ((1u128 << s) - 1);
                let half = 1u128 << (s - 1);
                q + (rem > half || (rem == half && q & 1 == 1)) as u128
            };
            let int_part = q / 100_000_000_000_000_000u128;
            let frac = q % 100_000_000_000_000_000u128;
            out.push_str(&int_part.to_string());
            if frac != 0 {
                let f = format!("{frac:017}");
                out.push('.');
                out.push_str(f.trim_end_matches('0'));
            }
        }
        if neg && out != "0" {
            out.insert(0, '-');
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn incr(a: &str, b: &str) -> String {
            format_human(add(parse(a.as_bytes()).unwrap(), parse(b.as_bytes()).unwrap()))
        }

        #[test]
        fn matches_redis_outputs() {
            // Expected strings were produced by Redis 7.0 on x86-64.
            assert_eq!(incr("10", "0.1"), "10.1");
            assert_eq!(incr("0.1", "0.2"), "0.3");
            assert_eq!(incr("0.1", "0.7"), "0.8");
            assert_eq!(incr("10000000000", "0.1"), "10000000000.09999999962747097");
            assert_eq!(incr("0", "1e-20"), "0");
            assert_eq!(incr("0", "-1e-20"), "0");
            assert_eq!(incr("0", "1e20"), "100000000000000000000");
            assert_eq!(incr("0", "-5.0"), "-5");
            assert_eq!(incr("1e3", "1"), "1001");
            assert_eq!(incr("0", "0x10"), "16");
            assert_eq!(incr("0", "0x1p-3"), "0.125");
            assert_eq!(incr("0", "0X1.8P1"), "3");
            assert_eq!(incr("0", "+.5"), "0.5");
            assert_eq!(incr("0", "5."), "5");
            assert_eq!(incr("0", "3.0e3"), "3000");
            assert_eq!(incr("0", "123456789012345678901234567890"), "123456789012345678899921813504");
            assert_eq!(incr("5", "-5"), "0");
            assert_eq!(incr("0", "-0.0"), "0");
            assert_eq!(incr("0.00000000000000001", "0.000000000000000005"), "0.00000000000000002");
            assert_eq!(incr("0", "0.000003814697265625"), "0.00000381469726562");
            assert_eq!(incr("0", "0.000003814697265635"), "0.00000381469726563");
            assert_eq!(incr("0", "9007199254740993"), "9007199254740993");
            assert_eq!(incr("17179869184", "1.5"), "17179869185.5");
            assert_eq!(incr("0", "1e-4940"), "0");
            assert!(incr("0", "1e308").starts_with("99999999999999999996685879655845645660560099847415567207797047"));
            assert_eq!(incr("0", "1e308").len(), 308);
            assert!(incr("0", "1.5e400").starts_with("149999999999999999997875712581806327576020165562441099464"));
        }

        #[test]
        fn rejects_like_string2ld() {
            for bad in ["", " 1", "1 ", "1.5e", "1_0", ".e1", "nan", "-nan", "1e5000", "1e-4951", "0x", "abc", "--1"] {
                assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
            }
            assert_eq!(parse(b"inf"), Some(Ld::Inf { neg: false }));
            assert_eq!(parse(b"-Infinity"), Some(Ld::Inf { neg: true }));
            assert_eq!(parse(b"0e99999999999"), Some(Ld::ZERO));
            assert_eq!(parse(b"1\0junk").map(format_human), Some("1".to_string()));
        }

        #[test]
        fn overflow_gives_infinity() {
            let big = parse(b"1e4932").unwrap();
            assert!(add(big, big) == Ld::Inf { neg: false });
            assert_eq!(add(Ld::Inf { neg: false }, Ld::Inf { neg: true }), Ld::Nan);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    fn sorted(r: Reply) -> Vec<Reply> {
        let mut v = match r {
            Reply::Array(v) | Reply::Set(v) => v,
            other => panic!("not an array: {other:?}"),
        };
        v.sort_by_key(|x| format!("{x:?}"));
        v
    }

    #[test]
    fn hset_hget_and_log() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(c.cmd(&["HSET", "h", "a", "3", "c", "4"]), int(1));
        assert_eq!(c.cmd(&["HGET", "h", "a"]), bulk("3"));
        assert_eq!(c.cmd(&["HGET", "h", "zz"]), Reply::Nil);
        assert_eq!(c.cmd(&["HGET", "nokey", "a"]), Reply::Nil);
        assert_eq!(c.cmd(&["HMSET", "h", "d", "5"]), ok());
        assert_eq!(c.cmd(&["HLEN", "h"]), int(4));
        assert!(err("ERR wrong number of arguments for 'hset' command")(&c.cmd(&["HSET", "h", "a", "1", "b"])));
        assert!(err("ERR wrong number of arguments for 'hmset' command")(&c.cmd(&["hmset", "h", "a", "1", "b"])));
        assert_eq!(c.change_log().len(), 3);
    }

    #[test]
    fn wrong_type() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "s", "v"]);
        for cmd in [
            &["HSET", "s", "a", "1"][..],
            &["HGET", "s", "a"],
            &["HGETALL", "s"],
            &["HDEL", "s", "a"],
            &["HLEN", "s"],
            &["HINCRBY", "s", "a", "1"],
            &["HINCRBYFLOAT", "s", "a", "1"],
            &["HRANDFIELD", "s"],
            &["HSCAN", "s", "0"],
            &["HSETNX", "s", "a", "1"],
        ] {
            assert!(err("WRONGTYPE")(&c.cmd(cmd)), "{cmd:?}");
        }
    }

    #[test]
    fn hdel_deletes_empty_key_and_noops_do_not_log() {
        let mut c = TestClient::new();
        c.cmd(&["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(c.cmd(&["HDEL", "h", "zz"]), int(0));
        assert_eq!(c.cmd(&["HDEL", "nokey", "zz"]), int(0));
        assert_eq!(c.cmd(&["HSETNX", "h", "a", "9"]), int(0));
        assert_eq!(c.change_log().len(), 1);
        assert_eq!(c.cmd(&["HDEL", "h", "a", "b", "a"]), int(2));
        assert_eq!(c.cmd(&["HLEN", "h"]), int(0));
        // The key is gone: it can now hold another type.
        assert_eq!(c.cmd(&["SET", "h", "x"]), ok());
        assert_eq!(c.change_log().len(), 3);
    }

    #[test]
    fn hincrby() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["HINCRBY", "h", "n", "5"]), int(5));
        assert_eq!(c.cmd(&["HINCRBY", "h", "n", "-7"]), int(-2));
        c.cmd(&["HSET", "h", "s", "abc", "m", "9223372036854775807"]);
        assert!(err("ERR hash value is not an integer")(&c.cmd(&["HINCRBY", "h", "s", "1"])));
        assert!(err("ERR value is not an integer or out of range")(&c.cmd(&["HINCRBY", "h", "n", "x"])));
        assert!(err("ERR increment or decrement would overflow")(&c.cmd(&["HINCRBY", "h", "m", "1"])));
        assert_eq!(c.cmd(&["HGET", "h", "m"]), bulk("9223372036854775807"));
    }

    #[test]
    fn hincrbyfloat_logs_the_result() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "10.5"]), bulk("10.5"));
        assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
        assert_eq!(
            c.cmd(&["HINCRBYFLOAT", "h", "f", "5e3"]),
            bulk("5010.60000000000000009"),
            "x87 long double, as Redis"
        );
        assert!(err("ERR value is not a valid float")(&c.cmd(&["HINCRBYFLOAT", "h", "f", "x"])));
        assert!(err("ERR value is NaN or Infinity")(&c.cmd(&["HINCRBYFLOAT", "h", "f", "inf"])));
        c.cmd(&["HSET", "h", "s", "abc", "i", "inf"]);
        assert!(err("ERR hash value is not a float")(&c.cmd(&["HINCRBYFLOAT", "h", "s", "1"])));
        assert!(err("ERR increment would produce NaN or Infinity")(&c.cmd(&["HINCRBYFLOAT", "h", "i", "1"])));
        let log = c.change_log();
        assert_eq!(log[0], vec!["HSET", "h", "f", "10.5"]);
        assert_eq!(log[2], vec!["HSET", "h", "f", "5010.60000000000000009"]);
        assert_eq!(log.len(), 4);
    }

    #[test]
    fn getall_keys_vals_strlen_exists() {
        let mut c = TestClient::new();
        c.cmd(&["HSET", "h", "a", "1", "b", "22"]);
        assert_eq!(c.cmd(&["HGETALL", "h"]), Reply::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("22"))]));
        assert_eq!(c.cmd(&["HGETALL", "nokey"]), Reply::Map(vec![]));
        assert_eq!(c.cmd(&["HKEYS", "h"]), arr(&["a", "b"]));
        assert_eq!(c.cmd(&["HVALS", "h"]), arr(&["1", "22"]));
        assert_eq!(c.cmd(&["HKEYS", "nokey"]), arr(&[]));
        assert_eq!(c.cmd(&["HSTRLEN", "h", "b"]), int(2));
        assert_eq!(c.cmd(&["HSTRLEN", "h", "z"]), int(0));
        assert_eq!(c.cmd(&["HEXISTS", "h", "a"]), int(1));
        assert_eq!(c.cmd(&["HEXISTS", "h", "z"]), int(0));
        assert_eq!(c.cmd(&["HMGET", "h", "a", "z"]), Reply::Array(vec![bulk("1"), Reply::Nil]));
        assert_eq!(c.cmd(&["HMGET", "nokey", "a"]), Reply::Array(vec![Reply::Nil]));
    }

    #[test]
    fn hrandfield() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["HRANDFIELD", "nokey"]), Reply::Nil);
        assert_eq!(c.cmd(&["HRANDFIELD", "nokey", "3"]), arr(&[]));
        c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(sorted(c.cmd(&["HRANDFIELD", "h", "10"])), vec![bulk("a"), bulk("b"), bulk("c")]);
        let Reply::Array(two) = c.cmd(&["HRANDFIELD", "h", "2"]) else { panic!() };
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let Reply::Array(many) = c.cmd(&["HRANDFIELD", "h", "-20", "WITHVALUES"]) else { panic!() };
        assert_eq!(many.len(), 40);
        for pair in many.chunks(2) {
            let (Reply::Bulk(f), Reply::Bulk(v)) = (&pair[0], &pair[1]) else { panic!() };
            let want = match f.as_ref() {
                b"a" => "1",
                b"b" => "2",
                _ => "3",
            };
            assert_eq!(v.as_ref(), want.as_bytes());
        }
        assert_eq!(c.cmd(&["HRANDFIELD", "h", "0"]), arr(&[]));
        assert!(err("ERR syntax error")(&c.cmd(&["HRANDFIELD", "h", "1", "WITHVALUE"])));
        assert!(err("ERR value is not an integer")(&c.cmd(&["HRANDFIELD", "h", "x"])));
        assert!(err("ERR value is out of range, value must between")(&c.cmd(&[
            "HRANDFIELD",
            "h",
            "-9223372036854775808"
        ])));
        assert!(err("ERR value is out of range")(&c.cmd(&["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"])));
        assert!(c.change_log().len() == 1, "HRANDFIELD logs nothing");
    }

    #[test]
    fn hscan_small_and_large() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["HSCAN", "nokey", "0"]), super::scan_reply(0, vec![]));
        assert!(err("ERR invalid cursor")(&c.cmd(&["HSCAN", "nokey", "x"])));
        c.cmd(&["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(
            c.cmd(&["HSCAN", "h", "0", "COUNT", "1"]),
            super::scan_reply(0, vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")])
        );
        assert_eq!(c.cmd(&["HSCAN", "h", "0", "MATCH", "b*", "NOVALUES"]), super::scan_reply(0, vec![bulk("b")]));
        assert!(err("ERR syntax error")(&c.cmd(&["HSCAN", "h", "0", "COUNT", "0"])));
        assert!(err("ERR syntax error")(&c.cmd(&["HSCAN", "h", "0", "MATCH"])));
        // A large hash is walked in steps; every field comes back.
        let mut args = vec!["HSET".to_string(), "big".into()];
        for i in 0..500 {
            args.push(format!("f{i}"));
            args.push(i.to_string());
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_eq!(c.cmd(&refs), int(500));
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let Reply::Array(parts) = c.cmd(&["HSCAN", "big", &cursor, "COUNT", "50"]) else { panic!() };
            let (Reply::Bulk(next), Reply::Array(items)) = (&parts[0], &parts[1]) else { panic!() };
            for pair in items.chunks(2) {
                seen.insert(format!("{:?}", pair[0]));
            }
            calls += 1;
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        assert!(calls >= 10);
    }

    #[test]
    fn cursor_parsing_follows_strtoul() {
        use super::parse_cursor;
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert!(parse_cursor(b"18446744073709551616").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"-").is_err());
    }

    #[test]
    fn sampling_is_distinct_and_in_range() {
        let mut rng = rand::thread_rng();
        for len in [1usize, 5, 100] {
            for count in [1usize, len / 2 + 1, len] {
                let mut v = super::sample_distinct(&mut rng, len, count);
                assert_eq!(v.len(), count.min(len));
                assert!(v.iter().all(|&i| i < len));
                v.sort();
                v.dedup();
                assert_eq!(v.len(), count.min(len));
            }
        }
    }
}
