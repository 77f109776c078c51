//! Sorted-set commands (Redis's `t_zset.c`): ZADD and friends, ranges by rank, score and lex,
//! set algebra (ZUNION/ZINTER/ZDIFF, their STORE forms, ZINTERCARD), pops, blocking pops, ZSCAN.

use super::zset_ranges::{self, by_lex, by_rank, by_score, Items, LexRange, ScoreRange};
use crate::args::{self, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{BlockRequest, Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::value::Blob;
use keyspace::{Db, SetValue, Value, ZSetValue};
use rand::Rng;
use resp::{Protocol, Reply};
use std::collections::HashMap;
use std::time::Duration;

const R: Flags = Flags::READONLY;
const W: Flags = Flags::WRITE;
const FAST: Flags = Flags::FAST;
const DENYOOM: Flags = Flags::DENYOOM;
const MOVABLE: Flags = Flags::MOVABLE_KEYS;
const BLOCKING: Flags = Flags::BLOCKING;

const fn spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "sorted-set", handler }
}

const ONE: KeySpec = KeySpec::FIRST;

pub static COMMANDS: &[CommandSpec] = &[
    spec("zadd", -4, W.union(DENYOOM).union(FAST), ONE, zadd),
    spec("zincrby", 4, W.union(DENYOOM).union(FAST), ONE, zincrby),
    spec("zrem", -3, W.union(FAST), ONE, zrem),
    spec("zcard", 2, R.union(FAST), ONE, zcard),
    spec("zscore", 3, R.union(FAST), ONE, zscore),
    spec("zmscore", -3, R.union(FAST), ONE, zmscore),
    spec("zrank", -3, R.union(FAST), ONE, zrank),
    spec("zrevrank", -3, R.union(FAST), ONE, zrevrank),
    spec("zcount", 4, R.union(FAST), ONE, zcount),
    spec("zlexcount", 4, R.union(FAST), ONE, zlexcount),
    spec("zrange", -4, R, ONE, zrange),
    spec("zrangestore", -5, W.union(DENYOOM), KeySpec::range(1, 2, 1), zrangestore),
    spec("zrangebyscore", -4, R, ONE, zrangebyscore),
    spec("zrevrangebyscore", -4, R, ONE, zrevrangebyscore),
    spec("zrangebylex", -4, R, ONE, zrangebylex),
    spec("zrevrangebylex", -4, R, ONE, zrevrangebylex),
    spec("zrevrange", -4, R, ONE, zrevrange),
    spec("zremrangebyrank", 4, W, ONE, zremrangebyrank),
    spec("zremrangebyscore", 4, W, ONE, zremrangebyscore),
    spec("zremrangebylex", 4, W, ONE, zremrangebylex),
    spec("zunion", -3, R.union(MOVABLE), KeySpec::movable(0, 0, 0, keys_after_numkeys_1), zunion),
    spec("zinter", -3, R.union(MOVABLE), KeySpec::movable(0, 0, 0, keys_after_numkeys_1), zinter),
    spec("zdiff", -3, R.union(MOVABLE), KeySpec::movable(0, 0, 0, keys_after_numkeys_1), zdiff),
    spec("zunionstore", -4, W.union(DENYOOM).union(MOVABLE), KeySpec::movable(1, 1, 1, keys_of_store), zunionstore),
    spec("zinterstore", -4, W.union(DENYOOM).union(MOVABLE), KeySpec::movable(1, 1, 1, keys_of_store), zinterstore),
    spec("zdiffstore", -4, W.union(DENYOOM).union(MOVABLE), KeySpec::movable(1, 1, 1, keys_of_store), zdiffstore),
    spec("zintercard", -3, R.union(MOVABLE), KeySpec::movable(0, 0, 0, keys_after_numkeys_1), zintercard),
    spec("zrandmember", -2, R, ONE, zrandmember),
    spec("zpopmin", -2, W.union(FAST), ONE, zpopmin),
    spec("zpopmax", -2, W.union(FAST), ONE, zpopmax),
    spec("zmpop", -4, W.union(MOVABLE), KeySpec::movable(0, 0, 0, keys_after_numkeys_1), zmpop),
    spec("zscan", -3, R, ONE, zscan),
    spec("bzpopmin", -3, W.union(Flags::NOSCRIPT).union(BLOCKING).union(FAST), KeySpec::range(1, -2, 1), bzpopmin),
    spec("bzpopmax", -3, W.union(Flags::NOSCRIPT).union(BLOCKING).union(FAST), KeySpec::range(1, -2, 1), bzpopmax),
    spec("bzmpop", -5, W.union(BLOCKING).union(MOVABLE), KeySpec::movable(0, 0, 0, keys_after_numkeys_2), bzmpop),
];

// ----- key finders -----------------------------------------------------------------------

/// Positions of the `numkeys` keys that follow the count at `idx`; nothing if the count is
/// not a positive integer, and never past the end of the arguments.
fn keys_after_numkeys(args: &[Bytes], idx: usize) -> Vec<usize> {
    let Some(n) = args.get(idx).and_then(|a| args::parse_i64(a)) else {
        return Vec::new();
    };
    if n < 1 {
        return Vec::new();
    }
    let first = idx + 1;
    let end = (first as u64).saturating_add(n as u64).min(args.len() as u64) as usize;
    (first..end).collect()
}

/// ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZMPOP: `numkeys key…` from argument 1.
fn keys_after_numkeys_1(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 1)
}

/// BZMPOP: `timeout numkeys key…`.
fn keys_after_numkeys_2(args: &[Bytes]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

/// The STORE forms: `destination numkeys key…`.
fn keys_of_store(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(keys_after_numkeys(args, 2));
    keys
}

// ----- shared helpers ----------------------------------------------------------------------

fn nan_error() -> CommandError {
    CommandError::err("resulting score is not a number (NaN)")
}

/// A score or weight as Redis reads it: like `strtod`, but a literal that overflows to an
/// infinity or underflows to zero is refused (Redis checks `ERANGE`), and -0 becomes 0.
fn parse_score(arg: &[u8]) -> Option<f64> {
    let v = args::parse_f64(arg)?;
    let lower = arg.to_ascii_lowercase();
    if v.is_infinite() && !lower.windows(3).any(|w| w == b"inf") {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split(|&c| c == b'e').next().unwrap_or(&[]);
        if mantissa.iter().any(|c| (b'1'..=b'9').contains(c)) {
            return None;
        }
    }
    Some(v + 0.0)
}

/// Looks a sorted set up for a write command: type-checked, without counting a keyspace
/// hit or miss (Redis's `lookupKeyWrite`). Writers plan with this and take write access only
/// when something will change, so no-op writes neither log nor invalidate WATCH.
fn peek<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a ZSetValue>, CommandError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// Members, optionally with scores: flat `m, s, m, s` in RESP2, `[m, s]` pairs in RESP3.
fn items_reply(proto: Protocol, items: &Items, withscores: bool) -> Reply {
    if !withscores {
        return Reply::Array(items.iter().map(|(m, _)| Reply::bulk(m)).collect());
    }
    if proto == Protocol::Resp3 {
        return nested_pairs(items);
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        out.push(Reply::bulk(m));
        out.push(Reply::Double(*s));
    }
    Reply::Array(out)
}

/// `[m, s]` pairs in both protocols (ZMPOP, BZMPOP).
fn nested_pairs(items: &Items) -> Reply {
    Reply::Array(items.iter().map(|(m, s)| Reply::Array(vec![Reply::bulk(m), Reply::Double(*s)])).collect())
}

/// Replaces `dst` with the members of `z` (deleting it when `z` is empty) and wakes clients
/// blocked on it; the reply is the new cardinality.
fn store_zset(db: &mut Db, dst: &[u8], z: ZSetValue) -> Reply {
    let n = z.len();
    if n == 0 {
        db.remove(dst);
    } else {
        db.insert(dst, Value::ZSet(Box::new(z)));
        db.signal_ready(dst);
    }
    Reply::Integer(n as i64)
}

fn zset_of(items: impl IntoIterator<Item = (Blob, f64)>) -> ZSetValue {
    let mut z = ZSetValue::default();
    for (m, s) in items {
        z.insert(&m, s + 0.0);
    }
    z
}

// ----- ZADD, ZINCRBY, ZREM ----------------------------------------------------------------

#[derive(Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "NX") {
            f.nx = true;
        } else if is(a, "XX") {
            f.xx = true;
        } else if is(a, "GT") {
            f.gt = true;
        } else if is(a, "LT") {
            f.lt = true;
        } else if is(a, "CH") {
            f.ch = true;
        } else if is(a, "INCR") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CommandError::err("XX and NX options at the same time are not compatible"));
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&on| on).count() > 1 {
        return Err(CommandError::err("GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && rest.len() > 2 {
        return Err(CommandError::err("INCR option supports a single increment-element pair"));
    }
    // All scores are checked before anything changes: the command applies fully or not at all.
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks_exact(2) {
        pairs.push((parse_score(&pair[0]).ok_or(CommandError::NotFloat)?, &pair[1][..]));
    }
    add_members(ctx, &args[1], f, &pairs)
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let incr = parse_score(&args[2]).ok_or(CommandError::NotFloat)?;
    add_members(ctx, &args[1], AddFlags { incr: true, ..AddFlags::default() }, &[(incr, &args[3][..])])
}

/// The core of ZADD and ZINCRBY. Plans every change against the current set (members may
/// repeat, so later pairs see earlier ones), then applies the plan in one write.
fn add_members(ctx: &mut Ctx, key: &[u8], f: AddFlags, pairs: &[(f64, &[u8])]) -> CommandResult {
    let aborted = if f.incr { Reply::Nil } else { Reply::Integer(0) };
    let (mut added, mut updated, mut processed, mut last_score) = (0i64, 0i64, 0, 0.0);
    let mut planned: HashMap<&[u8], f64> = HashMap::new();
    {
        let current = peek(ctx.db, key)?;
        if current.is_none() && f.xx {
            return Ok(aborted);
        }
        for &(score, member) in pairs {
            let existing = planned.get(member).copied().or_else(|| current.and_then(|z| z.score(member)));
            match existing {
                Some(cur) => {
                    if f.nx {
                        continue;
                    }
                    let new = if f.incr { cur + score } else { score };
                    if new.is_nan() {
                        return Err(nan_error());
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        continue;
                    }
                    processed += 1;
                    last_score = new + 0.0;
                    if new != cur {
                        planned.insert(member, new + 0.0);
                        updated += 1;
                    }
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    planned.insert(member, score);
                    added += 1;
                    processed += 1;
                    last_score = score;
                }
            }
        }
    }
    if !planned.is_empty() {
        if let Some(z) = ctx.db.zset_mut(key, true)? {
            for (member, score) in &planned {
                z.insert(member, *score);
            }
        }
        ctx.db.remove_if_empty(key);
        ctx.db.signal_ready(key);
    }
    if f.incr {
        return Ok(if processed > 0 { Reply::Double(last_score) } else { Reply::Nil });
    }
    Ok(Reply::Integer(if f.ch { added + updated } else { added }))
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    let members = &args[2..];
    match peek(ctx.db, key)? {
        Some(z) if members.iter().any(|m| z.score(m).is_some()) => {}
        _ => return Ok(Reply::Integer(0)),
    }
    let mut removed = 0;
    if let Some(z) = ctx.db.zset_mut(key, false)? {
        removed = members.iter().filter(|m| z.remove(m).is_some()).count();
    }
    ctx.db.remove_if_empty(key);
    Ok(Reply::Integer(removed as i64))
}

// ----- point reads -----------------------------------------------------------------------

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.zset(&args[1])?.map_or(0, |z| z.len() as i64)))
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(ctx.db.zset(&args[1])?.and_then(|z| z.score(&args[2])).map_or(Reply::Nil, Reply::Double))
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let z = ctx.db.zset(&args[1])?;
    let scores = args[2..].iter().map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double)).collect();
    Ok(Reply::Array(scores))
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    rank_generic(ctx, args, true)
}

/// ZRANK/ZREVRANK key member [WITHSCORE] (the option is Redis 7.2's).
fn rank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CommandResult {
    if args.len() > 4 {
        return Err(CommandError::WrongArity(args::lower_name(&args[0])));
    }
    let withscore = match args.get(3) {
        None => false,
        Some(a) if is(a, "WITHSCORE") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    let missing = if withscore { Reply::NilArray } else { Reply::Nil };
    let Some(z) = ctx.db.zset(&args[1])? else {
        return Ok(missing);
    };
    let (Some(rank), Some(score)) = (zset_ranges::rank_of(z, &args[2]), z.score(&args[2])) else {
        return Ok(missing);
    };
    let rank = if rev { z.len() - 1 - rank } else { rank } as i64;
    if withscore {
        return Ok(Reply::Array(vec![Reply::Integer(rank), Reply::Double(score)]));
    }
    Ok(Reply::Integer(rank))
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    Ok(Reply::Integer(ctx.db.zset(&args[1])?.map_or(0, |z| by_score(z, &range, false).count() as i64)))
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let range = LexRange::parse(&args[2], &args[3])?;
    Ok(Reply::Integer(ctx.db.zset(&args[1])?.map_or(0, |z| by_lex(z, &range, false).count() as i64)))
}

// ----- ZRANGE and its older forms ------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum RangeKind {
    /// Not chosen yet: ZRANGE takes BYSCORE/BYLEX, defaulting to ranks.
    Auto,
    Rank,
    Score,
    Lex,
}

/// What a range command selects, parsed.
enum Selector {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// The members `sel` selects, in order, after LIMIT (which ranks ignore).
fn select(z: &ZSetValue, sel: &Selector, rev: bool, offset: i64, count: i64) -> Items {
    match sel {
        Selector::Rank(start, stop) => by_rank(z, *start, *stop, rev).map(|(m, s)| (m.clone(), s)).collect(),
        Selector::Score(r) => zset_ranges::limit(by_score(z, r, rev), offset, count),
        Selector::Lex(r) => zset_ranges::limit(by_lex(z, r, rev), offset, count),
    }
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, false, RangeKind::Auto, None)
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, true, RangeKind::Auto, None)
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, false, RangeKind::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, false, RangeKind::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, false, RangeKind::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, false, RangeKind::Lex, Some(true))
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    range_generic(ctx, args, false, RangeKind::Rank, Some(true))
}

/// Every ranged read (Redis's `zrangeGenericCommand`): `[dst] src min max [options]`. The
/// older commands preset the kind and direction, which makes BYSCORE/BYLEX/REV syntax
/// errors for them, exactly as in Redis.
fn range_generic(ctx: &mut Ctx, args: &[Bytes], store: bool, mut kind: RangeKind, rev: Option<bool>) -> CommandResult {
    let src_idx = if store { 2 } else { 1 };
    let (mut min_idx, mut max_idx) = (src_idx + 1, src_idx + 2);
    if args.len() <= max_idx {
        return Err(CommandError::WrongArity(args::lower_name(&args[0])));
    }
    let mut rev_opt = rev;
    let (mut withscores, mut offset, mut count) = (false, 0i64, -1i64);
    let mut j = max_idx + 1;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "WITHSCORES") {
            withscores = true;
        } else if is(a, "LIMIT") && left >= 2 {
            offset = args::int(&args[j + 1])?;
            count = args::int(&args[j + 2])?;
            j += 2;
        } else if rev_opt.is_none() && is(a, "REV") {
            rev_opt = Some(true);
        } else if kind == RangeKind::Auto && is(a, "BYLEX") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && is(a, "BYSCORE") {
            kind = RangeKind::Score;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    let rev = rev_opt.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if count != -1 && kind == RangeKind::Rank {
        return Err(CommandError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(CommandError::err("syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    if rev && kind != RangeKind::Rank {
        // Reversed score and lex ranges are written max first.
        std::mem::swap(&mut min_idx, &mut max_idx);
    }
    let sel = match kind {
        RangeKind::Score => Selector::Score(ScoreRange::parse(&args[min_idx], &args[max_idx])?),
        RangeKind::Lex => Selector::Lex(LexRange::parse(&args[min_idx], &args[max_idx])?),
        _ => Selector::Rank(args::int(&args[min_idx])?, args::int(&args[max_idx])?),
    };
    let items = ctx.db.zset(&args[src_idx])?.map_or_else(Vec::new, |z| select(z, &sel, rev, offset, count));
    if store {
        return Ok(store_zset(ctx.db, &args[1], zset_of(items)));
    }
    Ok(items_reply(ctx.client.protocol, &items, withscores))
}

// ----- ZREMRANGEBY* ------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sel = Selector::Rank(args::int(&args[2])?, args::int(&args[3])?);
    remove_range(ctx, &args[1], &sel)
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sel = Selector::Score(ScoreRange::parse(&args[2], &args[3])?);
    remove_range(ctx, &args[1], &sel)
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sel = Selector::Lex(LexRange::parse(&args[2], &args[3])?);
    remove_range(ctx, &args[1], &sel)
}

fn remove_range(ctx: &mut Ctx, key: &[u8], sel: &Selector) -> CommandResult {
    let victims = match peek(ctx.db, key)? {
        None => return Ok(Reply::Integer(0)),
        Some(z) => select(z, sel, false, 0, -1),
    };
    if victims.is_empty() {
        return Ok(Reply::Integer(0));
    }
    if let Some(z) = ctx.db.zset_mut(key, false)? {
        for (m, _) in &victims {
            z.remove(m);
        }
    }
    ctx.db.remove_if_empty(key);
    Ok(Reply::Integer(victims.len() as i64))
}

// ----- set algebra -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Combines two scores of a member as Redis does; a sum of opposite infinities is 0.
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = acc + v;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => {
                if v < acc {
                    v
                } else {
                    acc
                }
            }
            Aggregate::Max => {
                if v > acc {
                    v
                } else {
                    acc
                }
            }
        }
    }
}

/// `score * weight`, where 0 × ±inf counts as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// An input of the set algebra: a sorted set, or a plain set whose members score 1.
enum Source<'a> {
    Z(&'a ZSetValue),
    S(&'a SetValue),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Z(z) => z.len(),
            Source::S(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Z(z) => z.score(member),
            Source::S(s) => s.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&Blob, f64)) {
        match self {
            Source::Z(z) => z.scores.iter().for_each(|(m, s)| f(m, *s)),
            Source::S(s) => s.iter().for_each(|m| f(m, 1.0)),
        }
    }
}

/// Runs `f` on the input stored at `key`. The database hands out one borrow at a time, so
/// the algorithms below visit inputs one after another, accumulating into owned results.
fn with_source<T>(db: &mut Db, key: &[u8], f: impl FnOnce(Option<Source>) -> T) -> T {
    match db.get(key) {
        Some(Value::ZSet(z)) => f(Some(Source::Z(z))),
        Some(Value::Set(s)) => f(Some(Source::S(s))),
        _ => f(None),
    }
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, None, 1, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, None, 1, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, Some(&args[1]), 2, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, Some(&args[1]), 2, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, Some(&args[1]), 2, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    set_op_generic(ctx, args, None, 1, SetOp::Inter, true)
}

/// Redis's `zunionInterDiffGenericCommand`: parse `numkeys`, type-check every input, parse
/// options, compute, then reply, store, or count.
fn set_op_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CommandResult {
    let setnum = args::int(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(CommandError::err(format!(
            "at least 1 input key is needed for '{}' command",
            args::lower_name(&args[0])
        )));
    }
    let first_key = numkeys_idx + 1;
    if setnum as u64 > (args.len() - first_key) as u64 {
        return Err(CommandError::Syntax);
    }
    let setnum = setnum as usize;
    let keys = &args[first_key..first_key + setnum];
    // Cardinality of each input (`None` when missing); wrong types fail before the options.
    let mut lens = Vec::with_capacity(setnum);
    for key in keys {
        lens.push(match ctx.db.lookup_read(key) {
            None => None,
            Some(Value::ZSet(z)) => Some(z.len()),
            Some(Value::Set(s)) => Some(s.len()),
            Some(_) => return Err(CommandError::WrongType),
        });
    }
    let mut weights = vec![1.0; setnum];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = first_key + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(a, "WEIGHTS") {
            for (k, w) in weights.iter_mut().enumerate() {
                *w = parse_score(&args[j + 1 + k]).ok_or_else(|| CommandError::err("weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(a, "AGGREGATE") {
            let v = &args[j + 1];
            aggregate = if is(v, "SUM") {
                Aggregate::Sum
            } else if is(v, "MIN") {
                Aggregate::Min
            } else if is(v, "MAX") {
                Aggregate::Max
            } else {
                return Err(CommandError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(a, "WITHSCORES") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "LIMIT") {
            let v = args::parse_i64(&args[j + 1])
                .filter(|v| *v >= 0)
                .ok_or_else(|| CommandError::err("LIMIT can't be negative"))?;
            limit = usize::try_from(v).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }

    let result: Vec<(Blob, f64)> = match op {
        SetOp::Union => union(ctx.db, keys, &lens, &weights, aggregate),
        SetOp::Inter => inter(ctx.db, keys, &lens, &weights, aggregate),
        SetOp::Diff => diff(ctx.db, keys, &lens),
    };
    if card_only {
        let n = if limit > 0 { result.len().min(limit) } else { result.len() };
        return Ok(Reply::Integer(n as i64));
    }
    let z = zset_of(result);
    if let Some(dst) = dst {
        return Ok(store_zset(ctx.db, dst, z));
    }
    let items: Items = z.iter().map(|(m, s)| (m.clone(), s)).collect();
    Ok(items_reply(ctx.client.protocol, &items, withscores))
}

fn union(db: &mut Db, keys: &[Bytes], lens: &[Option<usize>], weights: &[f64], agg: Aggregate) -> Items {
    let mut acc: HashMap<Blob, f64> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if lens[i].is_none() {
            continue;
        }
        with_source(db, key, |src| {
            if let Some(src) = src {
                src.for_each(|m, s| {
                    let v = weighted(s, weights[i]);
                    match acc.get_mut(m.as_slice()) {
                        Some(t) => *t = agg.apply(*t, v),
                        None => {
                            acc.insert(m.clone(), v);
                        }
                    }
                });
            }
        });
    }
    acc.into_iter().collect()
}

/// Starts from the smallest input and probes the others in size order, dropping members
/// that are missing, so the cost is bounded by the smallest input times the input count.
fn inter(db: &mut Db, keys: &[Bytes], lens: &[Option<usize>], weights: &[f64], agg: Aggregate) -> Items {
    if lens.iter().any(|l| l.is_none()) {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| lens[i]);
    let first = order[0];
    let mut acc: Items = Vec::new();
    with_source(db, &keys[first], |src| {
        if let Some(src) = src {
            acc.reserve(src.len());
            src.for_each(|m, s| acc.push((m.clone(), weighted(s, weights[first]))));
        }
    });
    for &i in &order[1..] {
        if acc.is_empty() {
            break;
        }
        with_source(db, &keys[i], |src| match src {
            None => acc.clear(),
            Some(src) => acc.retain_mut(|(m, t)| match src.score(m) {
                Some(s) => {
                    *t = agg.apply(*t, s * weights[i]);
                    true
                }
                None => false,
            }),
        });
    }
    acc
}

/// Members of the first input found in none of the others, with their first-input scores.
fn diff(db: &mut Db, keys: &[Bytes], lens: &[Option<usize>]) -> Items {
    if lens[0].is_none() {
        return Vec::new();
    }
    let mut acc: HashMap<Blob, f64> = HashMap::new();
    with_source(db, &keys[0], |src| {
        if let Some(src) = src {
            src.for_each(|m, s| {
                acc.insert(m.clone(), s);
            });
        }
    });
    for (i, key) in keys.iter().enumerate().skip(1) {
        if acc.is_empty() {
            break;
        }
        if lens[i].is_none() {
            continue;
        }
        with_source(db, key, |src| {
            let Some(src) = src else {
                return;
            };
            // Walk whichever side is smaller.
            if src.len() < acc.len() {
                src.for_each(|m, _| {
                    acc.remove(m.as_slice());
                });
            } else {
                acc.retain(|m, _| src.score(m).is_none());
            }
        });
    }
    acc.into_iter().collect()
}

// ----- ZRANDMEMBER -------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    if args.len() == 2 {
        let Some(len) = ctx.db.zset(key)?.map(|z| z.len()) else {
            return Ok(Reply::Nil);
        };
        let i = ctx.db.rng().gen_range(0..len);
        return Ok(peek(ctx.db, key)?.and_then(|z| z.scores.get_index(i)).map_or(Reply::Nil, |(m, _)| Reply::bulk(m)));
    }
    let l = match args::parse_i64(&args[2]) {
        None => return Err(CommandError::NotInteger),
        Some(i64::MIN) => {
            return Err(CommandError::err(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(l) => l,
    };
    let withscores = match args.len() {
        3 => false,
        4 if is(&args[3], "WITHSCORES") => true,
        _ => return Err(CommandError::Syntax),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CommandError::err("value is out of range"));
    }
    let Some(len) = ctx.db.zset(key)?.map(|z| z.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    if l == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let wanted = l.unsigned_abs();
    let picks: Option<Vec<usize>> = if l < 0 {
        // Repeats allowed: one draw per requested element. A count past the node's reply
        // limit is refused up front instead of building a reply that large.
        if wanted > ctx.node.limits.max_keys_reply as u64 {
            return Err(CommandError::err("value is out of range, the reply would be too large"));
        }
        let rng = ctx.db.rng();
        Some((0..wanted).map(|_| rng.gen_range(0..len)).collect())
    } else if wanted >= len as u64 {
        None
    } else {
        Some(rand::seq::index::sample(ctx.db.rng(), len, wanted as usize).into_vec())
    };
    let Some(z) = peek(ctx.db, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items: Items = match picks {
        None => z.iter().map(|(m, s)| (m.clone(), s)).collect(),
        Some(picks) => picks.iter().filter_map(|&i| z.scores.get_index(i)).map(|(m, s)| (m.clone(), *s)).collect(),
    };
    Ok(items_reply(ctx.client.protocol, &items, withscores))
}

// ----- pops ----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum End {
    Min,
    Max,
}

impl End {
    fn pop_command(self) -> Bytes {
        Bytes::from_static(if self == End::Min { b"ZPOPMIN" } else { b"ZPOPMAX" })
    }
}

/// Pops up to `count` members from the first of `keys` that exists. Keys are type-checked in
/// order up to that one, as in Redis.
fn pop_first(db: &mut Db, keys: &[Bytes], end: End, count: usize) -> Result<Option<(Bytes, Items)>, CommandError> {
    for key in keys {
        let items: Items = match peek(db, key)? {
            None => continue,
            Some(z) if end == End::Min => z.iter().take(count).map(|(m, s)| (m.clone(), s)).collect(),
            Some(z) => z.iter().rev().take(count).map(|(m, s)| (m.clone(), s)).collect(),
        };
        if let Some(z) = db.zset_mut(key, false)? {
            for (m, _) in &items {
                z.remove(m);
            }
        }
        db.remove_if_empty(key);
        return Ok(Some((key.clone(), items)));
    }
    Ok(None)
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    zpop(ctx, args, End::Min)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    zpop(ctx, args, End::Max)
}

/// ZPOPMIN/ZPOPMAX key [count]: without a count a flat `[member, score]`, with one a list
/// (pairs in RESP3); deterministic, so logged as is.
fn zpop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CommandResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => Some(
            args::parse_i64(a)
                .filter(|v| *v >= 0)
                .ok_or_else(|| CommandError::err("value is out of range, must be positive"))?,
        ),
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let take = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let Some((_, items)) = pop_first(ctx.db, &args[1..2], end, take)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count.is_some() {
        return Ok(items_reply(ctx.client.protocol, &items, true));
    }
    Ok(Reply::Array(items.iter().flat_map(|(m, s)| [Reply::bulk(m), Reply::Double(*s)]).collect()))
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    mpop_generic(ctx, args, 1, None)
}

fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let timeout = args::timeout_secs(&args[1])?;
    mpop_generic(ctx, args, 2, Some(timeout))
}

/// ZMPOP / BZMPOP: `numkeys key… MIN|MAX [COUNT count]`; `blocking` carries BZMPOP's
/// timeout. A pop is logged as `ZPOPMIN|ZPOPMAX key count`.
fn mpop_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    numkeys_idx: usize,
    blocking: Option<Option<Duration>>,
) -> CommandResult {
    let numkeys = args::parse_i64(&args[numkeys_idx])
        .filter(|n| *n >= 1)
        .ok_or_else(|| CommandError::err("numkeys should be greater than 0"))?;
    let where_idx = (numkeys_idx as u64).saturating_add(numkeys as u64).saturating_add(1);
    if where_idx >= args.len() as u64 {
        return Err(CommandError::Syntax);
    }
    let where_idx = where_idx as usize;
    let end = if is(&args[where_idx], "MIN") {
        End::Min
    } else if is(&args[where_idx], "MAX") {
        End::Max
    } else {
        return Err(CommandError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "COUNT") && j + 1 < args.len() {
            count = Some(
                args::parse_i64(&args[j + 1])
                    .filter(|c| *c >= 1)
                    .ok_or_else(|| CommandError::err("count should be greater than 0"))?,
            );
            j += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let count = count.unwrap_or(1);
    let keys = &args[numkeys_idx + 1..where_idx];
    match pop_first(ctx.db, keys, end, usize::try_from(count).unwrap_or(usize::MAX))? {
        Some((key, items)) => {
            ctx.propagate = Propagate::Rewrite(vec![vec![end.pop_command(), key.clone(), args::int_bytes(count)]]);
            Ok(Reply::Array(vec![Reply::Bulk(key), nested_pairs(&items)]))
        }
        None => {
            if let Some(timeout) = blocking {
                block(ctx, keys, timeout);
            }
            Ok(Reply::NilArray)
        }
    }
}

/// Asks the connection to wait on `keys`, unless blocking is not allowed here (MULTI,
/// scripts, or a re-run after a wake-up), where the null reply stands as the timeout.
fn block(ctx: &mut Ctx, keys: &[Bytes], timeout: Option<Duration>) {
    if ctx.may_block() {
        ctx.block =
            Some(BlockRequest { keys: keys.to_vec(), timeout, timeout_reply: Reply::NilArray, rerun_args: None });
    }
}

fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    bzpop(ctx, args, End::Min)
}

fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    bzpop(ctx, args, End::Max)
}

/// BZPOPMIN/BZPOPMAX key… timeout: `[key, member, score]` from the first non-empty key,
/// logged as `ZPOPMIN|ZPOPMAX key`.
fn bzpop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CommandResult {
    let timeout = args::timeout_secs(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    match pop_first(ctx.db, keys, end, 1)? {
        Some((key, items)) => {
            ctx.propagate = Propagate::Rewrite(vec![vec![end.pop_command(), key.clone()]]);
            let Some((m, s)) = items.first() else {
                return Ok(Reply::NilArray);
            };
            Ok(Reply::Array(vec![Reply::Bulk(key), Reply::bulk(m), Reply::Double(*s)]))
        }
        None => {
            block(ctx, keys, timeout);
            Ok(Reply::NilArray)
        }
    }
}

// ----- ZSCAN ---------------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let cursor = crate::scan::parse_cursor(&args[2])?;
    // Redis answers a missing key before it looks at the options.
    let options = crate::scan::ScanOptions::parse(&args[3..], false, false);
    let Some(z) = ctx.db.zset(&args[1])? else {
        return Ok(crate::scan::scan_reply(0, Vec::new()));
    };
    let options = options?;
    let (positions, next) = keyspace::db::scan_positions(z.scores.len(), cursor, options.count);
    let mut out = Vec::new();
    for i in positions {
        if let Some((m, s)) = z.scores.get_index(i) {
            if options.matches(m) {
                out.push(Reply::bulk(m));
                out.push(Reply::bulk(resp::format_double(*s).as_bytes()));
            }
        }
    }
    Ok(crate::scan::scan_reply(next, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{arr, bulk, err, int, TestClient};
    use keyspace::value::blob;

    fn dbl(v: f64) -> Reply {
        Reply::Double(v)
    }

    fn seed(c: &mut TestClient) {
        assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]), int(3));
    }

    #[test]
    fn zadd_options_and_errors() {
        let mut c = TestClient::new();
        seed(&mut c);
        assert_eq!(c.cmd(&["ZADD", "z", "NX", "9", "a", "4", "d"]), int(1));
        assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), dbl(1.0));
        assert_eq!(c.cmd(&["ZADD", "z", "XX", "CH", "9", "a", "5", "e"]), int(1));
        assert_eq!(c.cmd(&["ZSCORE", "z", "e"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZADD", "z", "GT", "CH", "1", "a", "10", "b"]), int(1));
        assert_eq!(c.cmd(&["ZADD", "z", "LT", "CH", "20", "a", "0", "c"]), int(1));
        assert_eq!(c.cmd(&["ZADD", "z", "INCR", "1.5", "a"]), dbl(10.5));
        assert_eq!(c.cmd(&["ZADD", "z", "NX", "INCR", "1", "a"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZADD", "z", "LT", "INCR", "1", "a"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZADD", "nokey", "XX", "INCR", "1", "a"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZADD", "nokey", "XX", "1", "a"]), int(0));
        assert_eq!(c.cmd(&["ZCARD", "nokey"]), int(0));
        // Repeated members: the later pair wins; the first one counts as the addition.
        assert_eq!(c.cmd(&["ZADD", "r", "CH", "1", "x", "2", "x"]), int(2));
        assert_eq!(c.cmd(&["ZSCORE", "r", "x"]), dbl(2.0));

        assert!(err("ERR XX and NX options at the same time are not compatible")(
            &c.cmd(&["ZADD", "z", "NX", "XX", "1", "a"])
        ));
        for opts in [["GT", "LT"], ["GT", "NX"], ["NX", "LT"]] {
            let r = c.cmd(&["ZADD", "z", opts[0], opts[1], "1", "a"]);
            assert!(err("ERR GT, LT, and/or NX options at the same time are not compatible")(&r));
        }
        assert!(err("ERR INCR option supports a single increment-element pair")(
            &c.cmd(&["ZADD", "z", "INCR", "1", "a", "2", "b"])
        ));
        assert!(err("ERR syntax error")(&c.cmd(&["ZADD", "z", "1", "a", "2"])));
        assert!(err("ERR syntax error")(&c.cmd(&["ZADD", "z", "NX", "1"])));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["ZADD", "z", "x", "a"])));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["ZADD", "z", "nan", "a"])));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["ZADD", "z", "1e400", "a"])));
        assert!(err("ERR wrong number of arguments for 'zadd'")(&c.cmd(&["ZADD", "z", "1"])));
        // A bad score anywhere means nothing is added.
        assert!(err("ERR value is not a valid float")(&c.cmd(&["ZADD", "z", "1", "new", "x", "a"])));
        assert_eq!(c.cmd(&["ZSCORE", "z", "new"]), Reply::Nil);
        c.cmd(&["SET", "s", "v"]);
        assert!(err("WRONGTYPE")(&c.cmd(&["ZADD", "s", "1", "a"])));
    }

    #[test]
    fn zincrby_and_nan() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["ZINCRBY", "z", "2.5", "m"]), dbl(2.5));
        assert_eq!(c.cmd(&["ZINCRBY", "z", "-1", "m"]), dbl(1.5));
        assert_eq!(c.cmd(&["ZINCRBY", "z", "inf", "m"]), dbl(f64::INFINITY));
        assert!(err("ERR resulting score is not a number (NaN)")(&c.cmd(&["ZINCRBY", "z", "-inf", "m"])));
        assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), dbl(f64::INFINITY));
        assert!(err("ERR value is not a valid float")(&c.cmd(&["ZINCRBY", "z", "x", "m"])));
        // -0 is stored as 0 so it sorts with the other zeros.
        c.cmd(&["ZADD", "zero", "-0", "b", "0", "a"]);
        assert_eq!(c.cmd(&["ZRANGE", "zero", "0", "-1"]), arr(&["a", "b"]));
        assert_eq!(c.cmd(&["ZSCORE", "zero", "b"]), dbl(0.0));
    }

    #[test]
    fn noop_writes_are_not_logged() {
        let mut c = TestClient::new();
        seed(&mut c);
        c.cmd(&["ZADD", "z", "NX", "5", "a"]);
        c.cmd(&["ZADD", "z", "1", "a"]);
        c.cmd(&["ZREM", "z", "nope"]);
        c.cmd(&["ZREMRANGEBYSCORE", "z", "10", "20"]);
        c.cmd(&["ZPOPMIN", "nokey"]);
        c.cmd(&["ZREM", "z", "a"]);
        let log = c.change_log();
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(log[1], ["ZREM", "z", "a"]);
    }

    #[test]
    fn zrem_deletes_empty_key() {
        let mut c = TestClient::new();
        seed(&mut c);
        assert_eq!(c.cmd(&["ZREM", "z", "a", "a", "x"]), int(1));
        assert_eq!(c.cmd(&["ZREM", "z", "b", "c"]), int(2));
        assert!(!c.tenant.state.lock().db.contains(b"z"));
        assert_eq!(c.cmd(&["ZREM", "z", "b"]), int(0));
    }

    #[test]
    fn point_reads() {
        let mut c = TestClient::new();
        seed(&mut c);
        assert_eq!(c.cmd(&["ZCARD", "z"]), int(3));
        assert_eq!(c.cmd(&["ZMSCORE", "z", "a", "x", "c"]), Reply::Array(vec![dbl(1.0), Reply::Nil, dbl(3.0)]));
        assert_eq!(c.cmd(&["ZMSCORE", "nokey", "a"]), Reply::Array(vec![Reply::Nil]));
        assert_eq!(c.cmd(&["ZRANK", "z", "c"]), int(2));
        assert_eq!(c.cmd(&["ZREVRANK", "z", "c"]), int(0));
        assert_eq!(c.cmd(&["ZRANK", "z", "x"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZRANK", "z", "b", "WITHSCORE"]), Reply::Array(vec![int(1), dbl(2.0)]));
        assert_eq!(c.cmd(&["ZREVRANK", "z", "x", "WITHSCORE"]), Reply::NilArray);
        assert!(err("ERR syntax error")(&c.cmd(&["ZRANK", "z", "b", "WITHSCORES"])));
        assert!(err("ERR wrong number of arguments for 'zrank'")(&c.cmd(&["ZRANK", "z", "b", "WITHSCORE", "x"])));
        assert_eq!(c.cmd(&["ZCOUNT", "z", "(1", "+inf"]), int(2));
        assert!(err("ERR min or max is not a float")(&c.cmd(&["ZCOUNT", "z", "a", "1"])));
        c.cmd(&["ZADD", "lex", "0", "a", "0", "b", "0", "c"]);
        assert_eq!(c.cmd(&["ZLEXCOUNT", "lex", "(a", "+"]), int(2));
        assert!(err("ERR min or max not valid string range item")(&c.cmd(&["ZLEXCOUNT", "lex", "a", "+"])));
    }

    #[test]
    fn zrange_forms() {
        let mut c = TestClient::new();
        c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(c.cmd(&["ZRANGE", "z", "1", "-2"]), arr(&["b", "c"]));
        assert_eq!(c.cmd(&["ZRANGE", "z", "0", "1", "REV"]), arr(&["d", "c"]));
        assert_eq!(c.cmd(&["ZREVRANGE", "z", "0", "0", "WITHSCORES"]), Reply::Array(vec![bulk("d"), dbl(4.0)]));
        assert_eq!(c.cmd(&["ZRANGE", "z", "(1", "3", "BYSCORE"]), arr(&["b", "c"]));
        assert_eq!(c.cmd(&["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "LIMIT", "1", "5"]), arr(&["c", "b"]));
        assert_eq!(c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "-1"]), arr(&["b", "c", "d"]));
        assert_eq!(c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"]), arr(&[]));
        assert_eq!(c.cmd(&["ZREVRANGEBYSCORE", "z", "3", "2"]), arr(&["c", "b"]));
        assert_eq!(c.cmd(&["ZRANGE", "nokey", "0", "-1"]), arr(&[]));
        c.client.protocol = Protocol::Resp3;
        assert_eq!(
            c.cmd(&["ZRANGE", "z", "0", "0", "WITHSCORES"]),
            Reply::Array(vec![Reply::Array(vec![bulk("a"), dbl(1.0)])])
        );
        c.client.protocol = Protocol::Resp2;

        c.cmd(&["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"]);
        assert_eq!(c.cmd(&["ZRANGE", "lex", "[b", "(d", "BYLEX"]), arr(&["b", "c"]));
        assert_eq!(c.cmd(&["ZRANGE", "lex", "+", "-", "BYLEX", "REV", "LIMIT", "1", "2"]), arr(&["c", "b"]));
        assert_eq!(c.cmd(&["ZRANGEBYLEX", "lex", "-", "[b"]), arr(&["a", "b"]));
        assert_eq!(c.cmd(&["ZREVRANGEBYLEX", "lex", "(c", "-"]), arr(&["b", "a"]));

        let e = |c: &mut TestClient, args: &[&str], prefix: &str| {
            let r = c.cmd(args);
            assert!(err(prefix)(&r), "{args:?} -> {r:?}");
        };
        e(&mut c, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], "ERR syntax error, LIMIT is only supported");
        e(&mut c, &["ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"], "ERR syntax error, LIMIT is only supported");
        e(&mut c, &["ZRANGE", "z", "a", "b", "BYSCORE"], "ERR min or max is not a float");
        e(&mut c, &["ZRANGE", "z", "a", "b", "BYLEX"], "ERR min or max not valid string range item");
        e(&mut c, &["ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"], "ERR syntax error, WITHSCORES not supported");
        e(&mut c, &["ZRANGE", "z", "0", "1", "REV", "REV"], "ERR syntax error");
        e(&mut c, &["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"], "ERR syntax error");
        e(&mut c, &["ZRANGEBYSCORE", "z", "0", "1", "REV"], "ERR syntax error");
        e(&mut c, &["ZRANGE", "z", "0", "1", "LIMIT", "0"], "ERR syntax error");
        e(&mut c, &["ZRANGE", "z", "x", "1"], "ERR value is not an integer");
        e(&mut c, &["ZRANGESTORE", "d", "z", "0", "1", "WITHSCORES"], "ERR syntax error");
    }

    #[test]
    fn zrangestore_replaces_and_deletes() {
        let mut c = TestClient::new();
        seed(&mut c);
        assert_eq!(c.cmd(&["ZRANGESTORE", "d", "z", "(1", "+inf", "BYSCORE"]), int(2));
        assert_eq!(
            c.cmd(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
            Reply::Array(vec![bulk("b"), dbl(2.0), bulk("c"), dbl(3.0)])
        );
        c.cmd(&["SET", "s", "v"]);
        assert_eq!(c.cmd(&["ZRANGESTORE", "s", "z", "0", "0"]), int(1));
        assert_eq!(c.cmd(&["ZRANGESTORE", "d", "z", "5", "6"]), int(0));
        assert!(!c.tenant.state.lock().db.contains(b"d"));
        assert_eq!(c.cmd(&["ZRANGESTORE", "d", "nokey", "0", "-1"]), int(0));
        c.cmd(&["SET", "str", "v"]);
        assert!(err("WRONGTYPE")(&c.cmd(&["ZRANGESTORE", "d", "str", "0", "-1"])));
    }

    #[test]
    fn zremrange_family() {
        let mut c = TestClient::new();
        c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "-1", "-1"]), int(1));
        assert_eq!(c.cmd(&["ZREMRANGEBYSCORE", "z", "(1", "2"]), int(1));
        assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), arr(&["a", "c"]));
        assert!(err("ERR value is not an integer")(&c.cmd(&["ZREMRANGEBYRANK", "z", "x", "1"])));
        assert!(err("ERR min or max is not a float")(&c.cmd(&["ZREMRANGEBYSCORE", "z", "x", "1"])));
        assert!(err("ERR min or max not valid string range item")(&c.cmd(&["ZREMRANGEBYLEX", "z", "x", "1"])));
        c.cmd(&["ZADD", "lex", "0", "a", "0", "b", "0", "c"]);
        assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "lex", "-", "+"]), int(3));
        assert!(!c.tenant.state.lock().db.contains(b"lex"));
        assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "lex", "-", "+"]), int(0));
    }

    fn put_set(c: &TestClient, key: &str, members: &[&str]) {
        let mut s = SetValue::default();
        for m in members {
            s.insert(blob(m.as_bytes()));
        }
        c.tenant.state.lock().db.insert(key.as_bytes(), Value::Set(Box::new(s)));
    }

    #[test]
    fn set_algebra() {
        let mut c = TestClient::new();
        c.cmd(&["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
        c.cmd(&["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
        put_set(&c, "plain", &["y", "q"]);
        let with = |items: &[(&str, f64)]| Reply::Array(items.iter().flat_map(|(m, s)| [bulk(m), dbl(*s)]).collect());
        assert_eq!(
            c.cmd(&["ZUNION", "2", "a", "b", "WITHSCORES"]),
            with(&[("x", 1.0), ("y", 12.0), ("z", 23.0), ("w", 30.0)])
        );
        assert_eq!(
            c.cmd(&["ZUNION", "2", "a", "b", "WEIGHTS", "2", "1", "AGGREGATE", "MIN", "WITHSCORES"]),
            with(&[("x", 2.0), ("y", 4.0), ("z", 6.0), ("w", 30.0)])
        );
        assert_eq!(
            c.cmd(&["ZINTER", "2", "a", "b", "AGGREGATE", "max", "WITHSCORES"]),
            with(&[("y", 10.0), ("z", 20.0)])
        );
        assert_eq!(c.cmd(&["ZINTER", "3", "a", "b", "plain", "WITHSCORES"]), with(&[("y", 13.0)]));
        assert_eq!(c.cmd(&["ZINTER", "2", "a", "nokey"]), arr(&[]));
        assert_eq!(c.cmd(&["ZDIFF", "2", "a", "b", "WITHSCORES"]), with(&[("x", 1.0)]));
        assert_eq!(c.cmd(&["ZDIFF", "2", "a", "plain"]), arr(&["x", "z"]));
        assert_eq!(c.cmd(&["ZUNION", "1", "plain", "WITHSCORES"]), with(&[("q", 1.0), ("y", 1.0)]));
        assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b"]), int(2));
        assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
        assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b", "LIMIT", "0"]), int(2));

        assert_eq!(c.cmd(&["ZUNIONSTORE", "d", "2", "a", "b"]), int(4));
        assert_eq!(c.cmd(&["ZINTERSTORE", "d", "2", "a", "d", "WEIGHTS", "1", "0.5"]), int(3));
        assert_eq!(c.cmd(&["ZSCORE", "d", "z"]), dbl(14.5));
        assert_eq!(c.cmd(&["ZDIFFSTORE", "d", "2", "a", "a"]), int(0));
        assert!(!c.tenant.state.lock().db.contains(b"d"));

        // Infinities: 0 * inf and inf + -inf count as 0.
        c.cmd(&["ZADD", "inf", "inf", "m"]);
        c.cmd(&["ZADD", "ninf", "-inf", "m"]);
        assert_eq!(c.cmd(&["ZUNION", "1", "inf", "WEIGHTS", "0", "WITHSCORES"]), with(&[("m", 0.0)]));
        assert_eq!(c.cmd(&["ZINTER", "2", "inf", "ninf", "WITHSCORES"]), with(&[("m", 0.0)]));

        let e = |c: &mut TestClient, args: &[&str], prefix: &str| {
            let r = c.cmd(args);
            assert!(err(prefix)(&r), "{args:?} -> {r:?}");
        };
        e(&mut c, &["ZUNION", "0", "a"], "ERR at least 1 input key is needed for 'zunion' command");
        e(&mut c, &["ZUNIONSTORE", "d", "0", "a"], "ERR at least 1 input key is needed for 'zunionstore' command");
        e(&mut c, &["ZINTERCARD", "0", "a"], "ERR at least 1 input key is needed for 'zintercard' command");
        e(&mut c, &["ZUNION", "x", "a"], "ERR value is not an integer");
        e(&mut c, &["ZUNION", "3", "a", "b"], "ERR syntax error");
        e(&mut c, &["ZUNION", "2", "a", "b", "WEIGHTS", "1"], "ERR syntax error");
        e(&mut c, &["ZUNION", "1", "a", "WEIGHTS", "x"], "ERR weight value is not a float");
        e(&mut c, &["ZUNION", "1", "a", "AGGREGATE", "avg"], "ERR syntax error");
        e(&mut c, &["ZDIFF", "1", "a", "WEIGHTS", "1"], "ERR syntax error");
        e(&mut c, &["ZUNIONSTORE", "d", "1", "a", "WITHSCORES"], "ERR syntax error");
        e(&mut c, &["ZINTERCARD", "1", "a", "LIMIT", "-1"], "ERR LIMIT can't be negative");
        e(&mut c, &["ZINTERCARD", "1", "a", "WITHSCORES"], "ERR syntax error");
        c.cmd(&["SET", "str", "v"]);
        e(&mut c, &["ZUNION", "2", "a", "str", "WEIGHTS", "x"], "WRONGTYPE");
    }

    #[test]
    fn set_algebra_resp3_pairs() {
        let mut c = TestClient::new();
        c.client.protocol = Protocol::Resp3;
        c.cmd(&["ZADD", "a", "1", "x"]);
        assert_eq!(
            c.cmd(&["ZUNION", "1", "a", "WITHSCORES"]),
            Reply::Array(vec![Reply::Array(vec![bulk("x"), dbl(1.0)])])
        );
    }

    #[test]
    fn zrandmember_variants() {
        let mut c = TestClient::new();
        seed(&mut c);
        assert!(matches!(c.cmd(&["ZRANDMEMBER", "z"]), Reply::Bulk(_)));
        assert_eq!(c.cmd(&["ZRANDMEMBER", "nokey"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZRANDMEMBER", "nokey", "3"]), arr(&[]));
        assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "0"]), arr(&[]));
        assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "10"]), arr(&["a", "b", "c"]));
        let Reply::Array(two) = c.cmd(&["ZRANDMEMBER", "z", "2"]) else { panic!() };
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let Reply::Array(many) = c.cmd(&["ZRANDMEMBER", "z", "-20", "WITHSCORES"]) else { panic!() };
        assert_eq!(many.len(), 40);
        assert!(err("ERR value is not an integer")(&c.cmd(&["ZRANDMEMBER", "z", "x"])));
        assert!(err("ERR syntax error")(&c.cmd(&["ZRANDMEMBER", "z", "1", "x"])));
        assert!(err("ERR value is out of range")(&c.cmd(&["ZRANDMEMBER", "z", "-9223372036854775808"])));
        assert!(err("ERR value is out of range")(&c.cmd(&["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"])));
        assert!(err("ERR value is out of range")(&c.cmd(&["ZRANDMEMBER", "z", "-999999999999"])));
    }

    #[test]
    fn pops() {
        let mut c = TestClient::new();
        c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(c.cmd(&["ZPOPMIN", "z"]), Reply::Array(vec![bulk("a"), dbl(1.0)]));
        assert_eq!(c.cmd(&["ZPOPMAX", "z", "2"]), Reply::Array(vec![bulk("d"), dbl(4.0), bulk("c"), dbl(3.0)]));
        assert_eq!(c.cmd(&["ZPOPMIN", "z", "0"]), arr(&[]));
        assert_eq!(c.cmd(&["ZPOPMIN", "nokey"]), arr(&[]));
        assert!(err("ERR value is out of range, must be positive")(&c.cmd(&["ZPOPMIN", "z", "-1"])));
        assert!(err("ERR syntax error")(&c.cmd(&["ZPOPMIN", "z", "1", "2"])));
        c.client.protocol = Protocol::Resp3;
        assert_eq!(c.cmd(&["ZPOPMIN", "z", "5"]), Reply::Array(vec![Reply::Array(vec![bulk("b"), dbl(2.0)])]));
        assert!(!c.tenant.state.lock().db.contains(b"z"));
        c.client.protocol = Protocol::Resp2;

        c.cmd(&["ZADD", "y", "1", "a", "2", "b"]);
        assert_eq!(
            c.cmd(&["ZMPOP", "2", "nokey", "y", "MAX", "COUNT", "5"]),
            Reply::Array(vec![
                bulk("y"),
                Reply::Array(vec![Reply::Array(vec![bulk("b"), dbl(2.0)]), Reply::Array(vec![bulk("a"), dbl(1.0)])])
            ])
        );
        assert_eq!(c.cmd(&["ZMPOP", "1", "y", "MIN"]), Reply::NilArray);
        let e = |c: &mut TestClient, args: &[&str], prefix: &str| {
            let r = c.cmd(args);
            assert!(err(prefix)(&r), "{args:?} -> {r:?}");
        };
        e(&mut c, &["ZMPOP", "0", "y", "MIN"], "ERR numkeys should be greater than 0");
        e(&mut c, &["ZMPOP", "x", "y", "MIN"], "ERR numkeys should be greater than 0");
        e(&mut c, &["ZMPOP", "2", "y", "MIN"], "ERR syntax error");
        e(&mut c, &["ZMPOP", "1", "y", "MIDDLE"], "ERR syntax error");
        e(&mut c, &["ZMPOP", "1", "y", "MIN", "COUNT", "0"], "ERR count should be greater than 0");
        e(&mut c, &["ZMPOP", "1", "y", "MIN", "COUNT", "1", "COUNT", "1"], "ERR syntax error");
        c.cmd(&["SET", "s", "v"]);
        e(&mut c, &["ZMPOP", "1", "s", "MIN"], "WRONGTYPE");
        e(&mut c, &["ZPOPMIN", "s"], "WRONGTYPE");
        assert_eq!(c.cmd(&["ZPOPMIN", "s", "0"]), arr(&[]));

        let log = c.change_log();
        assert!(log.contains(&vec!["ZPOPMAX".to_string(), "y".into(), "5".into()]), "{log:?}");
        assert!(!log.iter().any(|r| r[0].eq_ignore_ascii_case("zmpop")));
    }

    #[test]
    fn blocking_pops_serve_block_and_rewrite() {
        let mut c = TestClient::new();
        c.cmd(&["ZADD", "b", "5", "m", "6", "n"]);
        assert_eq!(c.cmd(&["BZPOPMAX", "a", "b", "0"]), Reply::Array(vec![bulk("b"), bulk("n"), dbl(6.0)]));
        let (reply, block) = c.run(&[b"BZPOPMIN", b"a", b"c", b"1.5"]);
        assert_eq!(reply, Reply::NilArray);
        let block = block.expect("blocks on empty keys");
        assert_eq!(block.keys, vec![Bytes::from("a"), Bytes::from("c")]);
        assert_eq!(block.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(block.timeout_reply, Reply::NilArray);
        let (_, block) = c.run(&[b"BZMPOP", b"0", b"2", b"a", b"c", b"MIN"]);
        assert_eq!(block.expect("blocks").timeout, None);

        // A re-run after a wake-up (or inside MULTI) never blocks.
        c.client.in_exec = true;
        let (reply, block) = c.run(&[b"BZPOPMIN", b"a", b"c", b"0"]);
        assert_eq!((reply, block.is_none()), (Reply::NilArray, true));
        c.cmd(&["ZADD", "c", "1", "x", "2", "y", "3", "z"]);
        assert_eq!(c.cmd(&["BZPOPMIN", "a", "c", "0"]), Reply::Array(vec![bulk("c"), bulk("x"), dbl(1.0)]));
        assert_eq!(
            c.cmd(&["BZMPOP", "0", "2", "a", "c", "MAX", "COUNT", "1"]),
            Reply::Array(vec![bulk("c"), Reply::Array(vec![Reply::Array(vec![bulk("z"), dbl(3.0)])])])
        );
        let log = c.change_log();
        assert!(log.contains(&vec!["ZPOPMAX".to_string(), "b".into()]), "{log:?}");
        assert!(log.contains(&vec!["ZPOPMIN".to_string(), "c".into()]), "{log:?}");
        assert!(log.contains(&vec!["ZPOPMAX".to_string(), "c".into(), "1".into()]), "{log:?}");
        assert!(!log.iter().any(|r| r[0].starts_with("BZ")), "{log:?}");

        let e = |c: &mut TestClient, args: &[&str], prefix: &str| {
            let r = c.cmd(args);
            assert!(err(prefix)(&r), "{args:?} -> {r:?}");
        };
        e(&mut c, &["BZPOPMIN", "a", "x"], "ERR timeout is not a float or out of range");
        e(&mut c, &["BZPOPMIN", "a", "-1"], "ERR timeout is negative");
        e(&mut c, &["BZMPOP", "x", "1", "a", "MIN"], "ERR timeout is not a float or out of range");
        e(&mut c, &["BZMPOP", "0", "0", "a", "MIN"], "ERR numkeys should be greater than 0");
        c.cmd(&["SET", "s", "v"]);
        e(&mut c, &["BZPOPMIN", "s", "0"], "WRONGTYPE");
    }

    #[test]
    fn zscan_walks_everything() {
        let mut c = TestClient::new();
        for i in 0..50 {
            c.cmd(&["ZADD", "z", &i.to_string(), &format!("m{i}")]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..100 {
            let Reply::Array(parts) = c.cmd(&["ZSCAN", "z", &cursor, "COUNT", "7"]) else { panic!() };
            let (Reply::Bulk(next), Reply::Array(items)) = (&parts[0], &parts[1]) else { panic!() };
            for pair in items.chunks(2) {
                let (Reply::Bulk(m), Reply::Bulk(s)) = (&pair[0], &pair[1]) else { panic!() };
                assert_eq!(format!("m{}", String::from_utf8_lossy(s)), String::from_utf8_lossy(m));
                seen.insert(m.clone());
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 50);
        let Reply::Array(parts) = c.cmd(&["ZSCAN", "z", "0", "MATCH", "m1*", "COUNT", "1000"]) else { panic!() };
        // m1 and m10..m19, each with its score.
        assert!(matches!(&parts[1], Reply::Array(v) if v.len() == 22), "{parts:?}");
        assert_eq!(c.cmd(&["ZSCAN", "nokey", "0", "BAD"]), Reply::Array(vec![bulk("0"), arr(&[])]));
        assert!(err("ERR invalid cursor")(&c.cmd(&["ZSCAN", "z", "x"])));
        assert!(err("ERR syntax error")(&c.cmd(&["ZSCAN", "z", "0", "COUNT", "0"])));
        assert!(err("ERR syntax error")(&c.cmd(&["ZSCAN", "z", "0", "FOO", "1"])));
        assert!(err("ERR value is not an integer")(&c.cmd(&["ZSCAN", "z", "0", "COUNT", "x"])));
    }

    #[test]
    fn key_finders() {
        let a = |v: &[&str]| v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect::<Vec<_>>();
        assert_eq!(keys_after_numkeys_1(&a(&["ZUNION", "2", "a", "b", "WEIGHTS", "1", "2"])), vec![2, 3]);
        assert_eq!(keys_after_numkeys_1(&a(&["ZUNION", "5", "a"])), vec![2]);
        assert_eq!(keys_after_numkeys_1(&a(&["ZUNION", "-1", "a"])), Vec::<usize>::new());
        assert_eq!(keys_of_store(&a(&["ZUNIONSTORE", "d", "2", "a", "b"])), vec![1, 3, 4]);
        assert_eq!(keys_after_numkeys_2(&a(&["BZMPOP", "0", "1", "k", "MIN"])), vec![3]);
        assert_eq!(keys_after_numkeys_1(&a(&["ZMPOP", "9223372036854775807", "k", "MIN"])), vec![2, 3]);
        let spec = crate::command::COMMANDS.lookup(b"zinterstore").expect("registered");
        assert_eq!(spec.keys.positions(&a(&["ZINTERSTORE", "d", "2", "a", "b", "AGGREGATE", "MAX"])), vec![1, 3, 4]);
        let spec = crate::command::COMMANDS.lookup(b"bzpopmin").expect("registered");
        assert_eq!(spec.keys.positions(&a(&["BZPOPMIN", "a", "b", "0"])), vec![1, 2]);
    }
}
