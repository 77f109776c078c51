//! List commands (Redis's `t_list.c`): pushes, pops, ranges, LPOS, moves between lists, and
//! the blocking pops BLPOP, BRPOP, BRPOPLPUSH, BLMOVE and BLMPOP.
//!
//! Writes only touch a key (`list_mut`, which counts a change and invalidates WATCH) when they
//! really change it, so that no-op writes are neither logged nor break transactions, as in
//! Redis. Blocking commands follow the contract in `context.rs`: when nothing can be served
//! they ask to block (or, when they may not block, give the timeout reply at once); the server
//! re-runs them without blocking when a key they wait on receives elements.

use crate::args::{self, is, parse_i64};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{BlockRequest, Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::{blob, Blob, ListValue};
use keyspace::{Db, Value};
use resp::Reply;
use std::time::Duration;

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;

pub static COMMANDS: &[CommandSpec] = &[
    spec("lpush", -3, W.union(Flags::DENYOOM).union(Flags::FAST), KeySpec::FIRST, lpush),
    spec("rpush", -3, W.union(Flags::DENYOOM).union(Flags::FAST), KeySpec::FIRST, rpush),
    spec("lpushx", -3, W.union(Flags::DENYOOM).union(Flags::FAST), KeySpec::FIRST, lpushx),
    spec("rpushx", -3, W.union(Flags::DENYOOM).union(Flags::FAST), KeySpec::FIRST, rpushx),
    spec("lpop", -2, W.union(Flags::FAST), KeySpec::FIRST, lpop),
    spec("rpop", -2, W.union(Flags::FAST), KeySpec::FIRST, rpop),
    spec("llen", 2, R.union(Flags::FAST), KeySpec::FIRST, llen),
    spec("lrange", 4, R, KeySpec::FIRST, lrange),
    spec("lindex", 3, R, KeySpec::FIRST, lindex),
    spec("lset", 4, W.union(Flags::DENYOOM), KeySpec::FIRST, lset),
    spec("linsert", 5, W.union(Flags::DENYOOM), KeySpec::FIRST, linsert),
    spec("lrem", 4, W, KeySpec::FIRST, lrem),
    spec("ltrim", 4, W, KeySpec::FIRST, ltrim),
    spec("lpos", -3, R, KeySpec::FIRST, lpos),
    spec("rpoplpush", 3, W.union(Flags::DENYOOM), KeySpec::range(1, 2, 1), rpoplpush),
    spec("lmove", 5, W.union(Flags::DENYOOM), KeySpec::range(1, 2, 1), lmove),
    spec("lmpop", -4, W.union(Flags::MOVABLE_KEYS), KeySpec::movable(0, 0, 0, lmpop_keys), lmpop),
    spec("blpop", -3, W.union(Flags::NOSCRIPT).union(Flags::BLOCKING), KeySpec::range(1, -2, 1), blpop),
    spec("brpop", -3, W.union(Flags::NOSCRIPT).union(Flags::BLOCKING), KeySpec::range(1, -2, 1), brpop),
    spec(
        "brpoplpush",
        4,
        W.union(Flags::DENYOOM).union(Flags::NOSCRIPT).union(Flags::BLOCKING),
        KeySpec::range(1, 2, 1),
        brpoplpush,
    ),
    spec(
        "blmove",
        6,
        W.union(Flags::DENYOOM).union(Flags::NOSCRIPT).union(Flags::BLOCKING),
        KeySpec::range(1, 2, 1),
        blmove,
    ),
    spec(
        "blmpop",
        -5,
        W.union(Flags::BLOCKING).union(Flags::MOVABLE_KEYS),
        KeySpec::movable(0, 0, 0, blmpop_keys),
        blmpop,
    ),
];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "list", handler }
}

// ----- helpers ------------------------------------------------------------------------------

/// Which end of a list an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    fn parse(arg: &[u8]) -> Result<End, CommandError> {
        if is(arg, "LEFT") {
            Ok(End::Left)
        } else if is(arg, "RIGHT") {
            Ok(End::Right)
        } else {
            Err(CommandError::Syntax)
        }
    }

    /// The non-blocking single-key pop a blocking pop from this end is logged as.
    fn pop_command(self) -> Bytes {
        Bytes::from_static(match self {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        })
    }
}

fn pop_end(list: &mut ListValue, end: End) -> Option<Blob> {
    match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
}

fn push_end(list: &mut ListValue, end: End, value: Blob) {
    match end {
        End::Left => list.push_front(value),
        End::Right => list.push_back(value),
    }
}

/// The list at `key` for a write command's checks: neither marks the key modified nor counts
/// a keyspace hit or miss (Redis's `lookupKeyWrite`).
fn peek_list<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a ListValue>, CommandError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::List(list)) => Ok(Some(list)),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// Length of the list at `key` for a write command (0 when absent).
fn write_len(db: &mut Db, key: &[u8]) -> Result<usize, CommandError> {
    Ok(peek_list(db, key)?.map_or(0, |l| l.len()))
}

/// Mutable access to a list the caller has just checked exists.
fn existing_mut<'a>(db: &'a mut Db, key: &[u8]) -> Result<&'a mut ListValue, CommandError> {
    db.list_mut(key, false)?.ok_or(CommandError::NoSuchKey)
}

/// Resolves a possibly negative index against `len`; `None` when out of range.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

/// Normalises an inclusive start/stop pair as LRANGE and LTRIM do; `None` for an empty range.
fn resolve_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

/// Redis's `getRangeLongFromObjectOrReply` with a custom message for both a non-integer and
/// an out-of-range value.
fn int_in_range(arg: &[u8], min: i64, max: i64, msg: &str) -> Result<i64, CommandError> {
    match parse_i64(arg) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(CommandError::err(msg)),
    }
}

fn bulk_of(b: &[u8]) -> Reply {
    Reply::bulk(b)
}

// ----- pushes -------------------------------------------------------------------------------

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    push(ctx, args, End::Right, true)
}

fn push(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CommandResult {
    let key = &args[1];
    let Some(list) = ctx.db.list_mut(key, !only_existing)? else {
        return Ok(Reply::Integer(0));
    };
    for element in &args[2..] {
        push_end(list, end, blob(element));
    }
    let len = list.len();
    ctx.db.signal_ready(key);
    Ok(Reply::Integer(len as i64))
}

// ----- pops ---------------------------------------------------------------------------------

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    pop(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    pop(ctx, args, End::Right)
}

/// LPOP/RPOP key [count]: one element as a bulk string, or with a count an array of up to
/// count elements (a missing key gives a null array then, a plain nil without count).
fn pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CommandResult {
    if args.len() > 3 {
        return Err(CommandError::WrongArity(args::lower_name(&args[0])));
    }
    let count = match args.get(2) {
        Some(arg) => Some(int_in_range(arg, 0, i64::MAX, "value is out of range, must be positive")?),
        None => None,
    };
    let key = &args[1];
    let len = match peek_list(ctx.db, key)? {
        None => return Ok(if count.is_some() { Reply::NilArray } else { Reply::Nil }),
        Some(list) => list.len(),
    };
    let Some(count) = count else {
        let list = existing_mut(ctx.db, key)?;
        let value = pop_end(list, end);
        ctx.db.remove_if_empty(key);
        return Ok(value.map_or(Reply::Nil, |v| bulk_of(&v)));
    };
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let n = len.min(count as usize);
    let items = pop_many(ctx.db, key, end, n)?;
    Ok(Reply::Array(items.iter().map(|v| bulk_of(v)).collect()))
}

/// Pops `n` elements (at most the list's length) and deletes the key if it empties.
fn pop_many(db: &mut Db, key: &[u8], end: End, n: usize) -> Result<Vec<Blob>, CommandError> {
    let list = existing_mut(db, key)?;
    let n = n.min(list.len());
    let items: Vec<Blob> = match end {
        End::Left => list.drain(..n).collect(),
        End::Right => {
            let start = list.len() - n;
            list.drain(start..).rev().collect()
        }
    };
    db.remove_if_empty(key);
    Ok(items)
}

// ----- reads --------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.list(&args[1])?.map_or(0, |l| l.len() as i64)))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let start = args::int(&args[2])?;
    let stop = args::int(&args[3])?;
    let Some(list) = ctx.db.list(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Some((start, stop)) = resolve_range(start, stop, list.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::Array(list.range(start..=stop).map(|v| bulk_of(v)).collect()))
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    // As in Redis, a missing key answers nil before the index is even parsed.
    let Some(list) = ctx.db.list(&args[1])? else {
        return Ok(Reply::Nil);
    };
    let index = args::int(&args[2])?;
    Ok(resolve_index(index, list.len()).and_then(|i| list.get(i)).map_or(Reply::Nil, |v| bulk_of(v)))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut j = 3;
    while j < args.len() {
        let has_value = j + 1 < args.len();
        if is(&args[j], "RANK") && has_value {
            let v = args::int(&args[j + 1])?;
            if v == i64::MIN {
                return Err(CommandError::err(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if v == 0 {
                return Err(CommandError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
            rank = v;
        } else if is(&args[j], "COUNT") && has_value {
            count = Some(int_in_range(&args[j + 1], 0, i64::MAX, "COUNT can't be negative")? as u64);
        } else if is(&args[j], "MAXLEN") && has_value {
            maxlen = int_in_range(&args[j + 1], 0, i64::MAX, "MAXLEN can't be negative")? as u64;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 2;
    }
    let Some(list) = ctx.db.list(&args[1])? else {
        return Ok(if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Nil });
    };
    let element = args[2].as_ref();
    let len = list.len();
    let from_tail = rank < 0;
    let skip = rank.unsigned_abs() - 1;
    let limit = if maxlen == 0 { len } else { len.min(usize::try_from(maxlen).unwrap_or(usize::MAX)) };
    // Without COUNT only the first match (after skipping `rank - 1`) is wanted; COUNT 0 means
    // every match.
    let wanted = match count {
        None => 1,
        Some(0) => u64::MAX,
        Some(c) => c,
    };
    let mut matches: u64 = 0;
    let mut found = Vec::new();
    for step in 0..limit {
        let idx = if from_tail { len - 1 - step } else { step };
        if list[idx].as_slice() == element {
            matches += 1;
            if matches > skip {
                found.push(idx);
                if found.len() as u64 >= wanted {
                    break;
                }
            }
        }
    }
    Ok(match count {
        None => found.first().map_or(Reply::Nil, |&i| Reply::Integer(i as i64)),
        Some(_) => Reply::Array(found.into_iter().map(|i| Reply::Integer(i as i64)).collect()),
    })
}

// ----- in-place edits -------------------------------------------------------------------------

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let len = match peek_list(ctx.db, key)? {
        None => return Err(CommandError::NoSuchKey),
        Some(list) => list.len(),
    };
    let index = args::int(&args[2])?;
    let Some(i) = resolve_index(index, len) else {
        return Err(CommandError::err("index out of range"));
    };
    let list = existing_mut(ctx.db, key)?;
    list[i] = blob(&args[3]);
    Ok(Reply::ok())
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0 without
/// the key.
fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let after = if is(&args[2], "AFTER") {
        true
    } else if is(&args[2], "BEFORE") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    let key = &args[1];
    let Some(list) = peek_list(ctx.db, key)? else {
        return Ok(Reply::Integer(0));
    };
    let Some(pos) = list.iter().position(|e| e.as_slice() == args[3].as_ref()) else {
        return Ok(Reply::Integer(-1));
    };
    let list = existing_mut(ctx.db, key)?;
    list.insert(if after { pos + 1 } else { pos }, blob(&args[4]));
    Ok(Reply::Integer(list.len() as i64))
}

/// LREM key count element: removes up to |count| matches from the head (count > 0), from the
/// tail (count < 0), or all of them (0).
fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let count = args::int(&args[2])?;
    let key = &args[1];
    let element = args[3].as_ref();
    let Some(list) = peek_list(ctx.db, key)? else {
        return Ok(Reply::Integer(0));
    };
    let limit = if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
    // Positions to remove, found without touching the key so that a miss changes nothing.
    let mut doomed: Vec<usize> = Vec::new();
    let len = list.len();
    for step in 0..len {
        if doomed.len() >= limit {
            break;
        }
        let idx = if count < 0 { len - 1 - step } else { step };
        if list[idx].as_slice() == element {
            doomed.push(idx);
        }
    }
    if doomed.is_empty() {
        return Ok(Reply::Integer(0));
    }
    doomed.sort_unstable();
    let list = existing_mut(ctx.db, key)?;
    let mut idx = 0;
    let mut next = 0;
    list.retain(|_| {
        let remove = doomed.get(next) == Some(&idx);
        if remove {
            next += 1;
        }
        idx += 1;
        !remove
    });
    ctx.db.remove_if_empty(key);
    Ok(Reply::Integer(doomed.len() as i64))
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let start = args::int(&args[2])?;
    let stop = args::int(&args[3])?;
    let key = &args[1];
    let Some(list) = peek_list(ctx.db, key)? else {
        return Ok(Reply::ok());
    };
    let len = list.len();
    let (front, back) = match resolve_range(start, stop, len) {
        None => (len, 0),
        Some((start, stop)) => (start, len - stop - 1),
    };
    let list = existing_mut(ctx.db, key)?;
    list.drain(..front);
    list.truncate(list.len() - back);
    if front + back == 0 {
        // Redis touches the key (WATCH sees it) but counts no change, so logs nothing.
        ctx.propagate = Propagate::Nothing;
    }
    ctx.db.remove_if_empty(key);
    Ok(Reply::ok())
}

// ----- moves ----------------------------------------------------------------------------------

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    move_element(ctx, &args[1], &args[2], End::Right, End::Left)
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    move_element(ctx, &args[1], &args[2], from, to)
}

/// Pops from `src` and pushes onto `dst`; nil when `src` is missing. The destination's type
/// is checked before anything changes.
fn move_element(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CommandResult {
    if write_len(ctx.db, src)? == 0 {
        return Ok(Reply::Nil);
    }
    peek_list(ctx.db, dst)?;
    let Some(value) = pop_end(existing_mut(ctx.db, src)?, from) else {
        return Ok(Reply::Nil);
    };
    let reply = bulk_of(&value);
    // When src == dst the (possibly now empty) source list still exists here, so a rotation
    // of a one-element list works; emptiness is checked only after the push.
    if let Some(list) = ctx.db.list_mut(dst, true)? {
        push_end(list, to, value);
    }
    ctx.db.signal_ready(dst);
    ctx.db.remove_if_empty(src);
    Ok(reply)
}

// ----- multi-key pops -------------------------------------------------------------------------

/// Parsed `numkeys key [key ...] LEFT|RIGHT [COUNT count]` of LMPOP and BLMPOP.
struct MpopArgs {
    keys: std::ops::Range<usize>,
    end: End,
    count: usize,
}

fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs, CommandError> {
    let numkeys = int_in_range(&args[numkeys_idx], 1, i64::MAX, "numkeys should be greater than 0")? as u64;
    let first_key = numkeys_idx + 1;
    let remaining = (args.len() - first_key) as u64;
    if numkeys >= remaining {
        return Err(CommandError::Syntax);
    }
    let where_idx = first_key + numkeys as usize;
    let end = End::parse(&args[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "COUNT") && j + 1 < args.len() {
            count = Some(int_in_range(&args[j + 1], 1, i64::MAX, "count should be greater than 0")?);
            j += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    Ok(MpopArgs { keys: first_key..where_idx, end, count })
}

/// Key positions of LMPOP/BLMPOP for the command table (numkeys at `numkeys_idx`).
fn mpop_keys(args: &[Bytes], numkeys_idx: usize) -> Vec<usize> {
    let Some(n) = args.get(numkeys_idx).and_then(|a| parse_i64(a)) else {
        return Vec::new();
    };
    let first = numkeys_idx + 1;
    let n = (n.max(0) as u64).min(args.len().saturating_sub(first) as u64) as usize;
    (first..first + n).collect()
}

fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    mpop_keys(args, 1)
}

fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    mpop_keys(args, 2)
}

/// Pops from the first non-empty list among `keys` (in argument order): `[key, [elements]]`,
/// logged as `LPOP|RPOP key n`. `None` when every list is empty or missing.
fn mpop_serve(ctx: &mut Ctx, keys: &[Bytes], end: End, count: usize) -> Result<Option<Reply>, CommandError> {
    for key in keys {
        let len = write_len(ctx.db, key)?;
        if len == 0 {
            continue;
        }
        let n = len.min(count);
        let items = pop_many(ctx.db, key, end, n)?;
        ctx.propagate = Propagate::Rewrite(vec![vec![end.pop_command(), key.clone(), args::int_bytes(n as i64)]]);
        let elements = Reply::Array(items.iter().map(|v| bulk_of(v)).collect());
        return Ok(Some(Reply::Array(vec![Reply::Bulk(key.clone()), elements])));
    }
    Ok(None)
}

fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let m = parse_mpop(args, 1)?;
    Ok(mpop_serve(ctx, &args[m.keys], m.end, m.count)?.unwrap_or(Reply::NilArray))
}

// ----- blocking -------------------------------------------------------------------------------

/// Asks to block on `keys` if the client may block, with `timeout_reply` for when the time
/// runs out; returns `now`, the reply for "nothing to serve now" (inside MULTI, or a re-run
/// that still finds nothing).
fn block_or(
    ctx: &mut Ctx,
    keys: Vec<Bytes>,
    timeout: Option<Duration>,
    timeout_reply: Reply,
    now: Reply,
) -> CommandResult {
    if ctx.may_block() {
        ctx.block = Some(BlockRequest { keys, timeout, timeout_reply, rerun_args: None });
    }
    Ok(now)
}

fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    blocking_pop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    blocking_pop(ctx, args, End::Right)
}

/// BLPOP/BRPOP key [key ...] timeout: `[key, element]` from the first non-empty list.
fn blocking_pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CommandResult {
    let timeout = args::timeout_secs(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if write_len(ctx.db, key)? == 0 {
            continue;
        }
        let Some(value) = pop_end(existing_mut(ctx.db, key)?, end) else {
            continue;
        };
        ctx.db.remove_if_empty(key);
        ctx.propagate = Propagate::Rewrite(vec![vec![end.pop_command(), key.clone()]]);
        return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), bulk_of(&value)]));
    }
    block_or(ctx, keys.to_vec(), timeout, Reply::NilArray, Reply::NilArray)
}

fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let timeout = args::timeout_secs(&args[3])?;
    let rewrite = vec![Bytes::from_static(b"RPOPLPUSH"), args[1].clone(), args[2].clone()];
    blocking_move(ctx, args, End::Right, End::Left, timeout, rewrite)
}

fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    let timeout = args::timeout_secs(&args[5])?;
    let mut rewrite = vec![Bytes::from_static(b"LMOVE")];
    rewrite.extend_from_slice(&args[1..5]);
    blocking_move(ctx, args, from, to, timeout, rewrite)
}

/// BRPOPLPUSH/BLMOVE: a move if the source has elements (logged as `rewrite`), else block on
/// the source.
fn blocking_move(
    ctx: &mut Ctx,
    args: &[Bytes],
    from: End,
    to: End,
    timeout: Option<Duration>,
    rewrite: Vec<Bytes>,
) -> CommandResult {
    if write_len(ctx.db, &args[1])? == 0 {
        // Redis answers a timed-out BRPOPLPUSH/BLMOVE with a null *array* (`*-1` in RESP2, as
        // for every list block), but a null bulk string when it may not block (MULTI).
        return block_or(ctx, vec![args[1].clone()], timeout, Reply::NilArray, Reply::Nil);
    }
    let reply = move_element(ctx, &args[1], &args[2], from, to)?;
    ctx.propagate = Propagate::Rewrite(vec![rewrite]);
    Ok(reply)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    // Redis checks numkeys, the direction and COUNT before the timeout.
    let m = parse_mpop(args, 2)?;
    let timeout = args::timeout_secs(&args[1])?;
    if let Some(reply) = mpop_serve(ctx, &args[m.keys.clone()], m.end, m.count)? {
        return Ok(reply);
    }
    block_or(ctx, args[m.keys].to_vec(), timeout, Reply::NilArray, Reply::NilArray)
}

#[cfg(test)]
mod tests {
    use crate::testing::{arr, bulk, err, int, ok, TestClient};
    use resp::Reply;

    fn nested(key: &str, items: &[&str]) -> Reply {
        Reply::Array(vec![bulk(key), arr(items)])
    }

    fn wrongtype(r: &Reply) -> bool {
        err("WRONGTYPE")(r)
    }

    fn err_is(r: &Reply, text: &str) -> bool {
        matches!(r, Reply::Error(e) if e == text)
    }

    #[test]
    fn push_and_range() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["RPUSH", "l", "a", "b", "c"]), int(3));
        assert_eq!(c.cmd(&["LPUSH", "l", "x", "y"]), int(5));
        assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["y", "x", "a", "b", "c"]));
        assert_eq!(c.cmd(&["LRANGE", "l", "-2", "100"]), arr(&["b", "c"]));
        assert_eq!(c.cmd(&["LRANGE", "l", "-100", "1"]), arr(&["y", "x"]));
        assert_eq!(c.cmd(&["LRANGE", "l", "3", "1"]), arr(&[]));
        assert_eq!(c.cmd(&["LRANGE", "l", "5", "10"]), arr(&[]));
        assert_eq!(
            c.cmd(&["LRANGE", "l", "-9223372036854775808", "9223372036854775807"]),
            c.cmd(&["LRANGE", "l", "0", "-1"])
        );
        assert_eq!(c.cmd(&["LRANGE", "none", "0", "-1"]), arr(&[]));
        assert!(err_is(&c.cmd(&["LRANGE", "l", "a", "1"]), "ERR value is not an integer or out of range"));
        assert_eq!(c.cmd(&["LLEN", "l"]), int(5));
        assert_eq!(c.cmd(&["LLEN", "none"]), int(0));
        assert_eq!(c.cmd(&["LPUSHX", "none", "a"]), int(0));
        assert_eq!(c.cmd(&["RPUSHX", "none", "a"]), int(0));
        assert_eq!(c.cmd(&["GET", "none"]), Reply::Nil);
        assert_eq!(c.cmd(&["RPUSHX", "l", "z1", "z2"]), int(7));
        assert_eq!(c.cmd(&["LPUSHX", "l", "a0"]), int(8));
        assert_eq!(c.cmd(&["LINDEX", "l", "0"]), bulk("a0"));
        assert_eq!(c.cmd(&["LINDEX", "l", "-1"]), bulk("z2"));
        assert_eq!(c.cmd(&["LINDEX", "l", "8"]), Reply::Nil);
        assert_eq!(c.cmd(&["LINDEX", "l", "-9"]), Reply::Nil);
        assert_eq!(c.cmd(&["LINDEX", "none", "x"]), Reply::Nil);
        assert!(err_is(&c.cmd(&["LINDEX", "l", "x"]), "ERR value is not an integer or out of range"));
        assert!(err_is(&c.cmd(&["LPUSH", "l"]), "ERR wrong number of arguments for 'lpush' command"));
    }

    #[test]
    fn wrong_type_everywhere() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "s", "v"]);
        c.cmd(&["RPUSH", "l", "a"]);
        for cmd in [
            vec!["LPUSH", "s", "a"],
            vec!["RPUSH", "s", "a"],
            vec!["LPUSHX", "s", "a"],
            vec!["RPUSHX", "s", "a"],
            vec!["LPOP", "s"],
            vec!["RPOP", "s", "2"],
            vec!["LLEN", "s"],
            vec!["LRANGE", "s", "0", "-1"],
            vec!["LINDEX", "s", "0"],
            vec!["LSET", "s", "0", "x"],
            vec!["LINSERT", "s", "BEFORE", "a", "b"],
            vec!["LREM", "s", "0", "a"],
            vec!["LTRIM", "s", "0", "1"],
            vec!["LPOS", "s", "a"],
            vec!["RPOPLPUSH", "s", "l"],
            vec!["RPOPLPUSH", "l", "s"],
            vec!["LMOVE", "l", "s", "LEFT", "RIGHT"],
            vec!["LMPOP", "2", "none", "s", "LEFT"],
            vec!["BLPOP", "none", "s", "0"],
            vec!["BRPOPLPUSH", "s", "l", "0"],
            vec!["BLMOVE", "l", "s", "LEFT", "LEFT", "0"],
            vec!["BLMPOP", "0", "1", "s", "LEFT"],
        ] {
            assert!(wrongtype(&c.cmd(&cmd)), "{cmd:?}");
        }
        // Nothing moved when the destination had the wrong type.
        assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["a"]));
        // A non-empty earlier key is served before a wrong-typed later one is looked at.
        assert_eq!(c.cmd(&["BLPOP", "l", "s", "0"]), arr(&["l", "a"]));
    }

    #[test]
    fn pops_with_and_without_count() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "l", "a", "b", "c", "d", "e"]);
        assert_eq!(c.cmd(&["LPOP", "l"]), bulk("a"));
        assert_eq!(c.cmd(&["RPOP", "l"]), bulk("e"));
        assert_eq!(c.cmd(&["LPOP", "l", "2"]), arr(&["b", "c"]));
        assert_eq!(c.cmd(&["LPOP", "l", "0"]), arr(&[]));
        assert_eq!(c.cmd(&["RPOP", "l", "10"]), arr(&["d"]));
        // The emptied list is gone: GET no longer sees a list.
        assert_eq!(c.cmd(&["GET", "l"]), Reply::Nil);
        assert_eq!(c.cmd(&["LPOP", "l"]), Reply::Nil);
        assert_eq!(c.cmd(&["LPOP", "l", "2"]), Reply::NilArray);
        assert_eq!(c.cmd(&["LPOP", "l", "0"]), Reply::NilArray);
        let positive = "ERR value is out of range, must be positive";
        assert!(err_is(&c.cmd(&["LPOP", "l", "-1"]), positive));
        assert!(err_is(&c.cmd(&["RPOP", "l", "x"]), positive));
        assert!(err_is(&c.cmd(&["LPOP", "l", "1", "2"]), "ERR wrong number of arguments for 'lpop' command"));
        c.cmd(&["RPUSH", "r", "a", "b", "c"]);
        assert_eq!(c.cmd(&["RPOP", "r", "2"]), arr(&["c", "b"]));
    }

    #[test]
    fn lset_linsert_lrem_ltrim() {
        let mut c = TestClient::new();
        assert!(err_is(&c.cmd(&["LSET", "none", "x", "v"]), "ERR no such key"));
        c.cmd(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(c.cmd(&["LSET", "l", "-1", "z"]), ok());
        assert!(err_is(&c.cmd(&["LSET", "l", "5", "v"]), "ERR index out of range"));
        assert!(err_is(&c.cmd(&["LSET", "l", "x", "v"]), "ERR value is not an integer or out of range"));
        assert_eq!(c.cmd(&["LINSERT", "l", "before", "b", "B"]), int(6));
        assert_eq!(c.cmd(&["LINSERT", "l", "AFTER", "z", "Z"]), int(7));
        assert_eq!(c.cmd(&["LINSERT", "l", "AFTER", "nope", "Z"]), int(-1));
        assert_eq!(c.cmd(&["LINSERT", "none", "AFTER", "a", "Z"]), int(0));
        assert!(err_is(&c.cmd(&["LINSERT", "none", "middle", "a", "Z"]), "ERR syntax error"));
        assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["a", "B", "b", "a", "c", "z", "Z"]));
        assert_eq!(c.cmd(&["LREM", "l", "-1", "a"]), int(1));
        assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["a", "B", "b", "c", "z", "Z"]));
        c.cmd(&["RPUSH", "l", "a", "a"]);
        assert_eq!(c.cmd(&["LREM", "l", "2", "a"]), int(2));
        assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["B", "b", "c", "z", "Z", "a"]));
        assert_eq!(c.cmd(&["LREM", "l", "0", "nope"]), int(0));
        assert_eq!(c.cmd(&["LREM", "none", "0", "a"]), int(0));
        assert!(err_is(&c.cmd(&["LREM", "none", "x", "a"]), "ERR value is not an integer or out of range"));
        assert_eq!(c.cmd(&["LTRIM", "l", "1", "-2"]), ok());
        assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), arr(&["b", "c", "z", "Z"]));
        assert_eq!(c.cmd(&["LTRIM", "l", "-100", "100"]), ok());
        assert_eq!(c.cmd(&["LLEN", "l"]), int(4));
        assert_eq!(c.cmd(&["LTRIM", "l", "3", "1"]), ok());
        assert_eq!(c.cmd(&["GET", "l"]), Reply::Nil);
        c.cmd(&["RPUSH", "m", "a", "a"]);
        assert_eq!(c.cmd(&["LREM", "m", "-5", "a"]), int(2));
        assert_eq!(c.cmd(&["GET", "m"]), Reply::Nil);
    }

    #[test]
    fn lpos_options_and_errors() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(c.cmd(&["LPOS", "l", "c"]), int(2));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "2"]), int(6));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "-1"]), int(7));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "-3"]), int(2));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "4"]), Reply::Nil);
        assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "2"]), Reply::Array(vec![int(2), int(6)]));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "0"]), Reply::Array(vec![int(2), int(6), int(7)]));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "0", "RANK", "-2"]), Reply::Array(vec![int(6), int(2)]));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]), Reply::Array(vec![int(2), int(6)]));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1"]), int(7));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "0"]), int(7));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "MAXLEN", "2"]), Reply::Nil);
        assert_eq!(c.cmd(&["LPOS", "l", "x", "COUNT", "0"]), arr(&[]));
        assert_eq!(c.cmd(&["LPOS", "none", "x", "COUNT", "0"]), arr(&[]));
        assert_eq!(c.cmd(&["LPOS", "none", "x"]), Reply::Nil);
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "RANK", "0"]), "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
        assert!(err_is(
            &c.cmd(&["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        ));
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "RANK", "x"]), "ERR value is not an integer or out of range"));
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "COUNT", "-1"]), "ERR COUNT can't be negative"));
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "COUNT", "x"]), "ERR COUNT can't be negative"));
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "MAXLEN", "-1"]), "ERR MAXLEN can't be negative"));
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "RANK"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["LPOS", "l", "c", "FOO", "1"]), "ERR syntax error"));
    }

    #[test]
    fn moves() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "src", "a", "b", "c"]);
        assert_eq!(c.cmd(&["RPOPLPUSH", "src", "dst"]), bulk("c"));
        assert_eq!(c.cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
        assert_eq!(c.cmd(&["LRANGE", "dst", "0", "-1"]), arr(&["c", "a"]));
        // Rotation of a one-element list onto itself keeps the key.
        assert_eq!(c.cmd(&["LMOVE", "src", "src", "LEFT", "RIGHT"]), bulk("b"));
        assert_eq!(c.cmd(&["LRANGE", "src", "0", "-1"]), arr(&["b"]));
        assert_eq!(c.cmd(&["RPOPLPUSH", "src", "dst"]), bulk("b"));
        assert_eq!(c.cmd(&["GET", "src"]), Reply::Nil);
        assert_eq!(c.cmd(&["RPOPLPUSH", "src", "dst"]), Reply::Nil);
        assert!(err_is(&c.cmd(&["LMOVE", "src", "dst", "LEFT", "UP"]), "ERR syntax error"));
        assert_eq!(c.cmd(&["LMOVE", "dst", "dst", "RIGHT", "LEFT"]), bulk("a"));
        assert_eq!(c.cmd(&["LRANGE", "dst", "0", "-1"]), arr(&["a", "b", "c"]));
    }

    #[test]
    fn lmpop_and_errors() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "b", "1", "2", "3"]);
        assert_eq!(c.cmd(&["LMPOP", "2", "a", "b", "LEFT"]), nested("b", &["1"]));
        assert_eq!(c.cmd(&["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "5"]), nested("b", &["3", "2"]));
        assert_eq!(c.cmd(&["LMPOP", "2", "a", "b", "RIGHT"]), Reply::NilArray);
        let numkeys = "ERR numkeys should be greater than 0";
        assert!(err_is(&c.cmd(&["LMPOP", "0", "a", "LEFT"]), numkeys));
        assert!(err_is(&c.cmd(&["LMPOP", "x", "a", "LEFT"]), numkeys));
        assert!(err_is(&c.cmd(&["LMPOP", "2", "a", "LEFT"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["LMPOP", "9223372036854775807", "a", "LEFT"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["LMPOP", "1", "a", "UP"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT", "0"]), "ERR count should be greater than 0"));
        assert!(err_is(&c.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["BLMPOP", "x", "1", "a", "LEFT"]), "ERR timeout is not a float or out of range"));
        assert!(err_is(&c.cmd(&["BLMPOP", "x", "0", "a", "LEFT"]), numkeys));
        assert!(err_is(&c.cmd(&["BLMPOP", "-1", "1", "a", "LEFT"]), "ERR timeout is negative"));
    }

    #[test]
    fn key_positions_of_movable_commands() {
        use bytes::Bytes;
        let args: Vec<Bytes> = ["BLMPOP", "0", "2", "a", "b", "LEFT"].iter().map(|s| Bytes::from(*s)).collect();
        let spec = crate::command::COMMANDS.lookup(b"blmpop").map(|s| s.keys.positions(&args));
        assert_eq!(spec, Some(vec![3, 4]));
        let args: Vec<Bytes> = ["LMPOP", "5", "a", "LEFT"].iter().map(|s| Bytes::from(*s)).collect();
        let spec = crate::command::COMMANDS.lookup(b"lmpop").map(|s| s.keys.positions(&args));
        assert_eq!(spec, Some(vec![2, 3]));
    }

    #[test]
    fn blocking_commands_serve_immediately_and_log_the_plain_form() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "k2", "a", "b", "c"]);
        assert_eq!(c.cmd(&["BLPOP", "k1", "k2", "0"]), arr(&["k2", "a"]));
        assert_eq!(c.cmd(&["BRPOP", "k1", "k2", "0"]), arr(&["k2", "c"]));
        assert_eq!(c.cmd(&["BRPOPLPUSH", "k2", "d", "0"]), bulk("b"));
        assert_eq!(c.cmd(&["BLMOVE", "d", "e", "LEFT", "RIGHT", "0.5"]), bulk("b"));
        c.cmd(&["RPUSH", "k3", "x", "y"]);
        assert_eq!(c.cmd(&["BLMPOP", "0", "2", "k2", "k3", "RIGHT", "COUNT", "9"]), nested("k3", &["y", "x"]));
        c.cmd(&["RPUSH", "k3", "x", "y"]);
        assert_eq!(c.cmd(&["LMPOP", "1", "k3", "LEFT"]), nested("k3", &["x"]));
        let log = c.change_log();
        let expected: Vec<Vec<&str>> = vec![
            vec!["RPUSH", "k2", "a", "b", "c"],
            vec!["LPOP", "k2"],
            vec!["RPOP", "k2"],
            vec!["RPOPLPUSH", "k2", "d"],
            vec!["LMOVE", "d", "e", "LEFT", "RIGHT"],
            vec!["RPUSH", "k3", "x", "y"],
            vec!["RPOP", "k3", "2"],
            vec!["RPUSH", "k3", "x", "y"],
            vec!["LPOP", "k3", "1"],
        ];
        assert_eq!(
            log,
            expected.iter().map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn no_op_writes_are_not_logged() {
        let mut c = TestClient::new();
        c.cmd(&["RPUSH", "l", "a", "b"]);
        c.cmd(&["LREM", "l", "0", "zz"]);
        c.cmd(&["LINSERT", "l", "BEFORE", "zz", "x"]);
        c.cmd(&["LTRIM", "l", "0", "-1"]);
        c.cmd(&["LPOP", "l", "0"]);
        c.cmd(&["LPOP", "none"]);
        c.cmd(&["LPUSHX", "none", "a"]);
        c.cmd(&["LTRIM", "l", "1", "-1"]);
        assert_eq!(c.change_log(), vec![vec!["RPUSH", "l", "a", "b"], vec!["LTRIM", "l", "1", "-1"]]);
    }

    #[test]
    fn blocking_commands_ask_to_block_with_their_timeout_reply() {
        let mut c = TestClient::new();
        let (_, block) = c.run(&[b"BLPOP", b"a", b"b", b"1.5"]);
        let block = block.expect("BLPOP on empty lists blocks");
        assert_eq!(block.keys, vec![bytes::Bytes::from("a"), bytes::Bytes::from("b")]);
        assert_eq!(block.timeout, Some(std::time::Duration::from_millis(1500)));
        assert_eq!(block.timeout_reply, Reply::NilArray);
        let (_, block) = c.run(&[b"BLMOVE", b"a", b"b", b"LEFT", b"LEFT", b"0"]);
        let block = block.expect("BLMOVE on an empty source blocks");
        assert_eq!(block.keys, vec![bytes::Bytes::from("a")]);
        assert_eq!(block.timeout, None);
        assert_eq!(block.timeout_reply, Reply::NilArray);
        let (_, block) = c.run(&[b"BRPOPLPUSH", b"a", b"b", b"0"]);
        assert_eq!(block.map(|b| b.timeout_reply), Some(Reply::NilArray));
        let (_, block) = c.run(&[b"BLMPOP", b"0", b"2", b"x", b"y", b"LEFT"]);
        assert_eq!(block.map(|b| b.keys.len()), Some(2));
        assert!(err_is(&c.cmd(&["BLPOP", "a", "-1"]), "ERR timeout is negative"));
        assert!(err_is(&c.cmd(&["BLPOP", "a", "x"]), "ERR timeout is not a float or out of range"));
        assert!(err_is(&c.cmd(&["BLMOVE", "a", "b", "LEFT", "UP", "x"]), "ERR syntax error"));
        assert!(err_is(&c.cmd(&["BRPOPLPUSH", "a", "b", "x"]), "ERR timeout is not a float or out of range"));
        // Nothing was logged for commands that only blocked.
        assert!(c.change_log().is_empty());
    }

    #[test]
    fn blocking_commands_do_not_block_inside_exec() {
        let mut c = TestClient::new();
        c.client.in_exec = true;
        let cases: [(&[&[u8]], Reply); 5] = [
            (&[b"BLPOP", b"a", b"0"], Reply::NilArray),
            (&[b"BRPOP", b"a", b"b", b"0"], Reply::NilArray),
            (&[b"BLMPOP", b"0", b"1", b"a", b"LEFT"], Reply::NilArray),
            (&[b"BLMOVE", b"a", b"b", b"LEFT", b"LEFT", b"0"], Reply::Nil),
            (&[b"BRPOPLPUSH", b"a", b"b", b"0"], Reply::Nil),
        ];
        for (cmd, expected) in cases {
            let (reply, block) = c.run(cmd);
            assert_eq!(reply, expected);
            assert!(block.is_none());
        }
        c.cmd(&["RPUSH", "a", "x"]);
        assert_eq!(c.cmd(&["BLPOP", "a", "0"]), arr(&["a", "x"]));
    }

    /// Registers `c`'s blocking command as a waiter, as the connection loop does.
    fn block(c: &mut TestClient, args: &[&str]) -> tokio::sync::oneshot::Receiver<Reply> {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let (_, req) = c.run(&bytes);
        let req = req.expect("the command blocks");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut guard = c.tenant.state.lock();
        let state = &mut *guard;
        state.blocked.add(
            &mut state.db,
            crate::blocking::Waiter {
                keys: req.keys,
                args: args.iter().map(|a| bytes::Bytes::copy_from_slice(a.as_bytes())).collect(),
                reply_tx: tx,
                protocol: c.client.protocol,
                tenant: Some(c.tenant.clone()),
                handle: c.client.handle.clone(),
                push_tx: c.client.push_tx.clone(),
            },
        );
        rx
    }

    #[test]
    fn waiters_are_served_in_fifo_order_and_logged_as_plain_pops() {
        let mut a = TestClient::new();
        let mut b = a.another();
        let mut p = a.another();
        let mut rx_a = block(&mut a, &["BLPOP", "q", "0"]);
        let mut rx_b = block(&mut b, &["BRPOP", "other", "q", "0"]);
        assert_eq!(p.cmd(&["RPUSH", "q", "1"]), int(1));
        assert_eq!(rx_a.try_recv().ok(), Some(arr(&["q", "1"])));
        assert!(rx_b.try_recv().is_err());
        assert_eq!(p.cmd(&["RPUSH", "q", "2", "3"]), int(2));
        assert_eq!(rx_b.try_recv().ok(), Some(arr(&["q", "3"])));
        assert_eq!(p.cmd(&["LRANGE", "q", "0", "-1"]), arr(&["2"]));
        let log = p.change_log();
        assert_eq!(
            log,
            vec![vec!["RPUSH", "q", "1"], vec!["LPOP", "q"], vec!["RPUSH", "q", "2", "3"], vec!["RPOP", "q"]]
        );
    }

    #[test]
    fn blmove_waiter_chains_to_a_blpop_waiter_on_its_destination() {
        let mut a = TestClient::new();
        let mut b = a.another();
        let mut p = a.another();
        let mut rx_a = block(&mut a, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
        let mut rx_b = block(&mut b, &["BLPOP", "dst", "0"]);
        p.cmd(&["LPUSH", "src", "v"]);
        assert_eq!(rx_a.try_recv().ok(), Some(bulk("v")));
        assert_eq!(rx_b.try_recv().ok(), Some(arr(&["dst", "v"])));
        assert_eq!(p.cmd(&["LLEN", "dst"]), int(0));
        assert_eq!(
            p.change_log(),
            vec![vec!["LPUSH", "src", "v"], vec!["LMOVE", "src", "dst", "RIGHT", "LEFT"], vec!["LPOP", "dst"]]
        );
    }

    #[test]
    fn blmpop_waiter_gets_up_to_count() {
        let mut a = TestClient::new();
        let mut p = a.another();
        let mut rx = block(&mut a, &["BLMPOP", "0", "2", "x", "y", "LEFT", "COUNT", "2"]);
        p.cmd(&["RPUSH", "y", "1", "2", "3"]);
        assert_eq!(rx.try_recv().ok(), Some(nested("y", &["1", "2"])));
        assert_eq!(p.change_log().last(), Some(&vec!["LPOP".to_string(), "y".into(), "2".into()]));
    }
}
