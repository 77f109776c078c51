//! String commands: GET/SET and their variants, counters, APPEND, ranges, MGET/MSET, LCS.

use crate::args::{int, is, parse_i64};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::blob;
use keyspace::{Blob, Value};
use resp::Reply;

/// Largest string value, as Redis's default `proto-max-bulk-len`.
pub const MAX_STRING_BYTES: usize = 512 * 1024 * 1024;

const R: Flags = Flags::READONLY;
const W: Flags = Flags::WRITE;
const FAST: Flags = Flags::FAST;
const OOM: Flags = Flags::DENYOOM;

const fn s(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "string", handler }
}

pub static COMMANDS: &[CommandSpec] = &[
    s("get", 2, R.union(FAST), KeySpec::FIRST, get),
    s("set", -3, W.union(OOM), KeySpec::FIRST, set),
    s("setnx", 3, W.union(OOM).union(FAST), KeySpec::FIRST, setnx),
    s("setex", 4, W.union(OOM), KeySpec::FIRST, setex),
    s("psetex", 4, W.union(OOM), KeySpec::FIRST, psetex),
    s("getset", 3, W.union(OOM).union(FAST), KeySpec::FIRST, getset),
    s("getdel", 2, W.union(FAST), KeySpec::FIRST, getdel),
    s("getex", -2, W.union(FAST), KeySpec::FIRST, getex),
    s("mget", -2, R.union(FAST), KeySpec::ALL, mget),
    s("mset", -3, W.union(OOM), KeySpec::range(1, -1, 2), mset),
    s("msetnx", -3, W.union(OOM), KeySpec::range(1, -1, 2), msetnx),
    s("incr", 2, W.union(OOM).union(FAST), KeySpec::FIRST, incr),
    s("decr", 2, W.union(OOM).union(FAST), KeySpec::FIRST, decr),
    s("incrby", 3, W.union(OOM).union(FAST), KeySpec::FIRST, incrby),
    s("decrby", 3, W.union(OOM).union(FAST), KeySpec::FIRST, decrby),
    s("incrbyfloat", 3, W.union(OOM).union(FAST), KeySpec::FIRST, incrbyfloat),
    s("append", 3, W.union(OOM).union(FAST), KeySpec::FIRST, append),
    s("strlen", 2, R.union(FAST), KeySpec::FIRST, strlen),
    s("getrange", 4, R, KeySpec::FIRST, getrange),
    s("substr", 4, R, KeySpec::FIRST, getrange),
    s("setrange", 4, W.union(OOM), KeySpec::FIRST, setrange),
    s("lcs", -3, R, KeySpec::range(1, 2, 1), lcs),
];

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(ctx.db.get_str(&args[1])?.map_or(Reply::Nil, |v| Reply::bulk(v)))
}

/// How a SET-like command sets the TTL.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Ttl {
    /// Drop any TTL (plain SET).
    Clear,
    Keep,
    /// Absolute deadline in Unix milliseconds.
    At(u64),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Condition {
    Always,
    IfMissing,
    IfExists,
}

fn invalid_expire(cmd: &str) -> CommandError {
    CommandError::err(format!("invalid expire time in '{cmd}' command"))
}

/// Turns a relative or absolute expire argument into an absolute deadline in ms.
fn deadline_ms(now_ms: u64, amount: &[u8], unit_ms: u64, absolute: bool, cmd: &str) -> Result<u64, CommandError> {
    let v = int(amount)?;
    if v <= 0 {
        return Err(invalid_expire(cmd));
    }
    let v = (v as u64).checked_mul(unit_ms).ok_or_else(|| invalid_expire(cmd))?;
    let at = if absolute { v } else { now_ms.checked_add(v).ok_or_else(|| invalid_expire(cmd))? };
    if at > i64::MAX as u64 {
        return Err(invalid_expire(cmd));
    }
    Ok(at)
}

/// Stores a string with a TTL policy and logs it as an absolute, replayable SET.
fn store(ctx: &mut Ctx, key: &Bytes, value: &[u8], ttl: Ttl) {
    match ttl {
        Ttl::Clear => ctx.db.insert(key, Value::Str(blob(value))),
        Ttl::Keep => ctx.db.insert_keep_ttl(key, Value::Str(blob(value))),
        Ttl::At(at) => {
            ctx.db.insert(key, Value::Str(blob(value)));
            ctx.db.set_expire_at(key, at);
        }
    }
    let mut record = vec![Bytes::from_static(b"SET"), key.clone(), Bytes::copy_from_slice(value)];
    match ttl {
        Ttl::Clear => {}
        Ttl::Keep => record.push(Bytes::from_static(b"KEEPTTL")),
        Ttl::At(at) if at <= ctx.now_ms() => record = vec![Bytes::from_static(b"DEL"), key.clone()],
        Ttl::At(at) => {
            record.push(Bytes::from_static(b"PXAT"));
            record.push(Bytes::from(at.to_string()));
        }
    }
    push_record(ctx, record);
}

/// Appends a record to this command's rewritten change-log entries.
fn push_record(ctx: &mut Ctx, record: Vec<Bytes>) {
    match &mut ctx.propagate {
        Propagate::Rewrite(records) => records.push(record),
        other => *other = Propagate::Rewrite(vec![record]),
    }
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut ttl = Ttl::Clear;
    let mut cond = Condition::Always;
    let mut want_old = false;
    let mut i = 3;
    let now = ctx.now_ms();
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        if is(a, "NX") && cond == Condition::Always {
            cond = Condition::IfMissing;
        } else if is(a, "XX") && cond == Condition::Always {
            cond = Condition::IfExists;
        } else if is(a, "GET") {
            want_old = true;
        } else if is(a, "KEEPTTL") && ttl == Ttl::Clear {
            ttl = Ttl::Keep;
        } else if has_next && ttl == Ttl::Clear && (is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT")) {
            let unit = if is(a, "EX") || is(a, "EXAT") { 1000 } else { 1 };
            let absolute = is(a, "EXAT") || is(a, "PXAT");
            ttl = Ttl::At(deadline_ms(now, &args[i + 1], unit, absolute, "set")?);
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let key = &args[1];
    let old = if want_old { ctx.db.get_str(key)?.map(|v| Bytes::copy_from_slice(v)) } else { None };
    let proceed = match cond {
        Condition::Always => true,
        Condition::IfMissing => !ctx.db.contains(key),
        Condition::IfExists => ctx.db.contains(key),
    };
    if proceed {
        if ttl == Ttl::Clear {
            // Replaying the command as received gives the same result: no rewrite needed.
            ctx.db.insert(key, Value::Str(blob(&args[2])));
        } else {
            store(ctx, key, &args[2], ttl);
        }
    }
    if want_old {
        return Ok(old.map_or(Reply::Nil, Reply::Bulk));
    }
    Ok(if proceed { Reply::ok() } else { Reply::Nil })
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if ctx.db.contains(&args[1]) {
        return Ok(Reply::Integer(0));
    }
    ctx.db.insert(&args[1], Value::Str(blob(&args[2])));
    Ok(Reply::Integer(1))
}

fn setex_common(ctx: &mut Ctx, args: &[Bytes], unit_ms: u64) -> CommandResult {
    let name = crate::args::lower_name(&args[0]);
    let at = deadline_ms(ctx.now_ms(), &args[2], unit_ms, false, &name)?;
    store(ctx, &args[1], &args[3], Ttl::At(at));
    Ok(Reply::ok())
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    setex_common(ctx, args, 1000)
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    setex_common(ctx, args, 1)
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let old = ctx.db.get_str(&args[1])?.map(|v| Bytes::copy_from_slice(v));
    ctx.db.insert(&args[1], Value::Str(blob(&args[2])));
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let old = ctx.db.get_str(&args[1])?.map(|v| Bytes::copy_from_slice(v));
    if old.is_some() {
        ctx.db.remove(&args[1]);
    }
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let now = ctx.now_ms();
    let mut ttl: Option<Ttl> = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "PERSIST") && ttl.is_none() {
            ttl = Some(Ttl::Clear);
        } else if ttl.is_none() && i + 1 < args.len() && (is(a, "EX") || is(a, "PX") || is(a, "EXAT") || is(a, "PXAT"))
        {
            let unit = if is(a, "EX") || is(a, "EXAT") { 1000 } else { 1 };
            let absolute = is(a, "EXAT") || is(a, "PXAT");
            ttl = Some(Ttl::At(deadline_ms(now, &args[i + 1], unit, absolute, "getex")?));
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let key = &args[1];
    let Some(value) = ctx.db.get_str(key)?.map(|v| Bytes::copy_from_slice(v)) else {
        return Ok(Reply::Nil);
    };
    match ttl {
        None | Some(Ttl::Keep) => {}
        Some(Ttl::Clear) => {
            if ctx.db.persist(key) {
                push_record(ctx, vec![Bytes::from_static(b"PERSIST"), key.clone()]);
            }
        }
        Some(Ttl::At(at)) => {
            ctx.db.set_expire_at(key, at);
            if at <= now {
                push_record(ctx, vec![Bytes::from_static(b"DEL"), key.clone()]);
            } else {
                push_record(ctx, vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), Bytes::from(at.to_string())]);
            }
        }
    }
    Ok(Reply::Bulk(value))
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut out = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        out.push(match ctx.db.get_str(key) {
            Ok(Some(v)) => Reply::bulk(v),
            _ => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(crate::args::lower_name(&args[0])));
    }
    for pair in args[1..].chunks(2) {
        ctx.db.insert(&pair[0], Value::Str(blob(&pair[1])));
    }
    Ok(Reply::ok())
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(crate::args::lower_name(&args[0])));
    }
    if args[1..].chunks(2).any(|pair| ctx.db.contains(&pair[0])) {
        return Ok(Reply::Integer(0));
    }
    for pair in args[1..].chunks(2) {
        ctx.db.insert(&pair[0], Value::Str(blob(&pair[1])));
    }
    Ok(Reply::Integer(1))
}

/// Adds `delta` to the integer stored at `key` (0 if missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64) -> CommandResult {
    let current = match ctx.db.get_str(key)? {
        None => 0,
        Some(v) => parse_i64(v).ok_or(CommandError::NotInteger)?,
    };
    let next = current.checked_add(delta).ok_or(CommandError::Overflow)?;
    let mut buf = itoa_blob(next);
    ctx.db.insert_keep_ttl(key, Value::Str(std::mem::take(&mut buf)));
    Ok(Reply::Integer(next))
}

fn itoa_blob(v: i64) -> Blob {
    use std::io::Write;
    let mut b = Blob::new();
    let _ = write!(b, "{v}");
    b
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    incr_by(ctx, &args[1], int(&args[2])?)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let d = int(&args[2])?;
    incr_by(ctx, &args[1], d.checked_neg().ok_or_else(|| CommandError::err("decrement would overflow"))?)
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    use crate::long_double;
    let key = &args[1];
    let delta = long_double::parse(&args[2]).ok_or(CommandError::NotFloat)?;
    if !delta.is_finite() {
        return Err(CommandError::err("value is NaN or Infinity"));
    }
    let current = match ctx.db.get_str(key)? {
        None => long_double::Ld::ZERO,
        Some(v) => long_double::parse(v).ok_or(CommandError::NotFloat)?,
    };
    // Redis computes in x87 long double; doing the same gives the same digits.
    let next = long_double::add(current, delta);
    if !next.is_finite() {
        return Err(CommandError::err("increment would produce NaN or Infinity"));
    }
    let text = long_double::format_human(next);
    ctx.db.insert_keep_ttl(key, Value::Str(blob(text.as_bytes())));
    // Replaying the addition could round differently; the result is what replicas store.
    ctx.propagate = Propagate::Rewrite(vec![vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        Bytes::from(text.clone()),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    Ok(Reply::Bulk(Bytes::from(text)))
}

fn too_big() -> CommandError {
    CommandError::err("string exceeds maximum allowed size (proto-max-bulk-len)")
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let existing_len = ctx.db.get_str(key)?.map(|v| v.len());
    match existing_len {
        None => {
            ctx.db.insert(key, Value::Str(blob(&args[2])));
            Ok(Reply::Integer(args[2].len() as i64))
        }
        Some(len) => {
            if len + args[2].len() > MAX_STRING_BYTES {
                return Err(too_big());
            }
            crate::limits::check_grown_record(ctx, len + args[2].len())?;
            match ctx.db.get_mut(key) {
                Some(Value::Str(v)) => {
                    v.extend_from_slice(&args[2]);
                    Ok(Reply::Integer(v.len() as i64))
                }
                _ => Err(CommandError::WrongType),
            }
        }
    }
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.get_str(&args[1])?.map_or(0, |v| v.len() as i64)))
}

/// Resolves Redis-style inclusive `start..=end` indexes (negative from the end) against
/// `len`; `None` when the range is empty.
pub fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if len == 0 {
        return None;
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if end < 0 {
        end = 0;
    }
    if end >= len {
        end = len - 1;
    }
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let Some(v) = ctx.db.get_str(&args[1])? else { return Ok(Reply::Bulk(Bytes::new())) };
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    Ok(match resolve_range(start, end, v.len()) {
        Some((a, b)) => Reply::bulk(&v[a..=b]),
        None => Reply::Bulk(Bytes::new()),
    })
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let offset = int(&args[2])?;
    if offset < 0 {
        return Err(CommandError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let value = &args[3];
    let existing = ctx.db.get_str(key)?.map(|v| v.len());
    if value.is_empty() {
        return Ok(Reply::Integer(existing.unwrap_or(0) as i64));
    }
    if offset.saturating_add(value.len()) > MAX_STRING_BYTES {
        return Err(too_big());
    }
    crate::limits::check_grown_record(ctx, existing.unwrap_or(0).max(offset + value.len()))?;
    if existing.is_none() {
        ctx.db.insert(key, Value::Str(Blob::new()));
    }
    match ctx.db.get_mut(key) {
        Some(Value::Str(v)) => {
            if v.len() < offset + value.len() {
                v.resize(offset + value.len(), 0);
            }
            v[offset..offset + value.len()].copy_from_slice(value);
            Ok(Reply::Integer(v.len() as i64))
        }
        _ => Err(CommandError::WrongType),
    }
}

/// Most cells of the dynamic-programming table LCS may allocate (bounds memory and time).
const LCS_MAX_CELLS: usize = 64 * 1024 * 1024;

fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let a = ctx.db.get_str(&args[1])?.map(|v| v.to_vec()).unwrap_or_default();
    let b = ctx.db.get_str(&args[2])?.map(|v| v.to_vec()).unwrap_or_default();
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len = 0i64;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "LEN") {
            want_len = true;
        } else if is(&args[i], "IDX") {
            want_idx = true;
        } else if is(&args[i], "WITHMATCHLEN") {
            with_len = true;
        } else if is(&args[i], "MINMATCHLEN") && i + 1 < args.len() {
            min_len = int(&args[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(CommandError::err("If you want both the length and indexes, please just use IDX."));
    }
    if (a.len() + 1).saturating_mul(b.len() + 1) > LCS_MAX_CELLS {
        return Err(CommandError::err("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let (n, m) = (a.len(), b.len());
    let mut dp = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in 1..=n {
        for j in 1..=m {
            dp[at(i, j)] =
                if a[i - 1] == b[j - 1] { dp[at(i - 1, j - 1)] + 1 } else { dp[at(i - 1, j)].max(dp[at(i, j - 1)]) };
        }
    }
    let total = dp[at(n, m)] as usize;
    if want_len {
        return Ok(Reply::Integer(total as i64));
    }
    // Walk back from the end collecting the common string and the matching ranges.
    let mut result = vec![0u8; total];
    let mut k = total;
    let (mut i, mut j) = (n, m);
    let mut matches: Vec<((usize, usize), (usize, usize))> = Vec::new();
    let mut current: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            k -= 1;
            result[k] = a[i - 1];
            let (ai, bj) = (i - 1, j - 1);
            current = match current {
                Some(((a_start, a_end), (b_start, b_end))) if a_start == ai + 1 && b_start == bj + 1 => {
                    Some(((ai, a_end), (bj, b_end)))
                }
                Some(done) => {
                    matches.push(done);
                    Some(((ai, ai), (bj, bj)))
                }
                None => Some(((ai, ai), (bj, bj))),
            };
            i -= 1;
            j -= 1;
        } else if dp[at(i - 1, j)] > dp[at(i, j - 1)] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some(done) = current {
        matches.push(done);
    }
    if !want_idx {
        return Ok(Reply::Bulk(Bytes::from(result)));
    }
    let range = |(s, e): (usize, usize)| Reply::Array(vec![Reply::Integer(s as i64), Reply::Integer(e as i64)]);
    let items = matches
        .into_iter()
        .filter(|(ra, _)| (ra.1 - ra.0 + 1) as i64 >= min_len)
        .map(|(ra, rb)| {
            let mut item = vec![range(ra), range(rb)];
            if with_len {
                item.push(Reply::Integer((ra.1 - ra.0 + 1) as i64));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Reply::Map(vec![
        (Reply::bulk(b"matches"), Reply::Array(items)),
        (Reply::bulk(b"len"), Reply::Integer(total as i64)),
    ]))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    #[test]
    fn set_then_get_and_change_log() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
        assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
        assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
        assert_eq!(c.change_log(), vec![vec!["SET", "k", "v"]]);
    }

    #[test]
    fn set_options() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1_000_000);
        assert_eq!(c.cmd(&["SET", "k", "v", "NX"]), ok());
        assert_eq!(c.cmd(&["SET", "k", "w", "NX"]), Reply::Nil);
        assert_eq!(c.cmd(&["SET", "k", "w", "XX", "GET"]), bulk("v"));
        assert_eq!(c.cmd(&["SET", "n", "w", "XX"]), Reply::Nil);
        assert_eq!(c.cmd(&["SET", "k", "x", "EX", "10"]), ok());
        assert!(err("ERR syntax error")(&c.cmd(&["SET", "k", "x", "EX", "10", "PX", "5"])));
        assert!(err("ERR invalid expire time in 'set' command")(&c.cmd(&["SET", "k", "x", "EX", "0"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SET", "k", "x", "NX", "XX"])));
        let log = c.change_log();
        assert_eq!(log.last().unwrap(), &vec!["SET", "k", "x", "PXAT", "1010000"]);
        c.clock_ms = Some(1_010_000);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    }

    #[test]
    fn counters() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["INCR", "n"]), int(1));
        assert_eq!(c.cmd(&["INCRBY", "n", "41"]), int(42));
        assert_eq!(c.cmd(&["DECRBY", "n", "2"]), int(40));
        assert_eq!(c.cmd(&["SET", "m", "9223372036854775807"]), ok());
        assert!(err("ERR increment or decrement would overflow")(&c.cmd(&["INCR", "m"])));
        assert_eq!(c.cmd(&["SET", "s", "abc"]), ok());
        assert!(err("ERR value is not an integer or out of range")(&c.cmd(&["INCR", "s"])));
        assert_eq!(c.cmd(&["SET", "f", "10.50"]), ok());
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "5.0e3"]), bulk("5010.60000000000000009"));
        assert_eq!(c.change_log().last().unwrap(), &vec!["SET", "f", "5010.60000000000000009", "KEEPTTL"]);
    }

    #[test]
    fn ranges() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "k", "This is a string"]);
        assert_eq!(c.cmd(&["GETRANGE", "k", "0", "3"]), bulk("This"));
        assert_eq!(c.cmd(&["GETRANGE", "k", "-3", "-1"]), bulk("ing"));
        assert_eq!(c.cmd(&["GETRANGE", "k", "0", "-1"]), bulk("This is a string"));
        assert_eq!(c.cmd(&["GETRANGE", "k", "10", "100"]), bulk("string"));
        assert_eq!(c.cmd(&["SETRANGE", "new", "5", "x"]), int(6));
        assert_eq!(c.cmd(&["GET", "new"]), Reply::Bulk(bytes::Bytes::from_static(b"\0\0\0\0\0x")));
        assert_eq!(c.cmd(&["APPEND", "k", "!"]), int(17));
    }

    #[test]
    fn lcs_matches_redis_example() {
        let mut c = TestClient::new();
        c.cmd(&["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
        assert_eq!(c.cmd(&["LCS", "key1", "key2"]), bulk("mytext"));
        assert_eq!(c.cmd(&["LCS", "key1", "key2", "LEN"]), int(6));
    }
}
