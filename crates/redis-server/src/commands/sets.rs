//! Set commands (Redis's `t_set.c`): membership, random members and pops, SMOVE, the
//! intersection/union/difference family and their STORE forms, SSCAN.

use super::hashes::{pick_indexes, random_count};
use crate::args::{is, parse_i64};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use crate::scan::{parse_cursor, scan_reply, ScanOptions};
use bytes::Bytes;
use keyspace::value::blob;
use keyspace::{Blob, Db, SetValue, Value};
use rand::Rng;
use resp::Reply;

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const F: Flags = Flags::FAST;
const D: Flags = Flags::DENYOOM;

pub static COMMANDS: &[CommandSpec] = &[
    spec("sadd", -3, W.union(D).union(F), KeySpec::FIRST, sadd),
    spec("srem", -3, W.union(F), KeySpec::FIRST, srem),
    spec("smembers", 2, R, KeySpec::FIRST, smembers),
    spec("sismember", 3, R.union(F), KeySpec::FIRST, sismember),
    spec("smismember", -3, R.union(F), KeySpec::FIRST, smismember),
    spec("scard", 2, R.union(F), KeySpec::FIRST, scard),
    spec("spop", -2, W.union(F), KeySpec::FIRST, spop),
    spec("srandmember", -2, R, KeySpec::FIRST, srandmember),
    spec("smove", 4, W.union(F), KeySpec::range(1, 2, 1), smove),
    spec("sinter", -2, R, KeySpec::ALL, sinter),
    spec("sinterstore", -3, W.union(D), KeySpec::ALL, sinterstore),
    spec("sintercard", -3, R.union(Flags::MOVABLE_KEYS), KeySpec::movable(0, 0, 0, sintercard_keys), sintercard),
    spec("sunion", -2, R, KeySpec::ALL, sunion),
    spec("sunionstore", -3, W.union(D), KeySpec::ALL, sunionstore),
    spec("sdiff", -2, R, KeySpec::ALL, sdiff),
    spec("sdiffstore", -3, W.union(D), KeySpec::ALL, sdiffstore),
    spec("sscan", -3, R, KeySpec::FIRST, sscan),
];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "set", handler }
}

/// The set at `key` without counting a keyspace hit or miss (write commands look before
/// they touch, so that a no-op neither logs nor breaks WATCH).
fn peek_set<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a SetValue>, CommandError> {
    match db.get(key) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CommandError::WrongType),
    }
}

fn set_for_write<'a>(db: &'a mut Db, key: &[u8]) -> Result<&'a mut SetValue, CommandError> {
    db.set_mut(key, true)?.ok_or_else(|| CommandError::err("internal error: set not created"))
}

fn members_reply<'a>(members: impl Iterator<Item = &'a Blob>) -> Vec<Reply> {
    members.map(|m| Reply::bulk(m)).collect()
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = &args[2..];
    if peek_set(ctx.db, &args[1])?.is_some_and(|s| members.iter().all(|m| s.contains(m.as_ref()))) {
        return Ok(Reply::Integer(0));
    }
    let set = set_for_write(ctx.db, &args[1])?;
    let added = members.iter().filter(|m| set.insert(blob(m))).count();
    Ok(Reply::Integer(added as i64))
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = &args[2..];
    if !peek_set(ctx.db, &args[1])?.is_some_and(|s| members.iter().any(|m| s.contains(m.as_ref()))) {
        return Ok(Reply::Integer(0));
    }
    let set = set_for_write(ctx.db, &args[1])?;
    let removed = members.iter().filter(|m| set.swap_remove(m.as_ref())).count();
    ctx.db.remove_if_empty(&args[1]);
    Ok(Reply::Integer(removed as i64))
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = ctx.db.set(&args[1])?.map(|s| members_reply(s.iter()));
    Ok(Reply::Set(members.unwrap_or_default()))
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let found = ctx.db.set(&args[1])?.is_some_and(|s| s.contains(args[2].as_ref()));
    Ok(Reply::Integer(found as i64))
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let set = ctx.db.set(&args[1])?;
    let flags = args[2..].iter().map(|m| Reply::Integer(set.is_some_and(|s| s.contains(m.as_ref())) as i64));
    Ok(Reply::Array(flags.collect()))
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.set(&args[1])?.map_or(0, |s| s.len() as i64)))
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let key = &args[1];
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    if args.len() == 2 {
        let Some(len) = peek_set(ctx.db, key)?.map(|s| s.len()) else {
            return Ok(Reply::Nil);
        };
        let i = ctx.db.rng().gen_range(0..len.max(1));
        let Some(member) = set_for_write(ctx.db, key)?.swap_remove_index(i) else {
            return Ok(Reply::Nil);
        };
        ctx.db.remove_if_empty(key);
        // The choice was random: log what was removed.
        ctx.propagate =
            Propagate::Rewrite(vec![vec![Bytes::from_static(b"SREM"), key.clone(), Bytes::copy_from_slice(&member)]]);
        return Ok(Reply::bulk(&member));
    }
    let count = match parse_i64(&args[2]) {
        Some(n) if n >= 0 => n as u64,
        _ => return Err(CommandError::err("value is out of range, must be positive")),
    };
    let Some(len) = peek_set(ctx.db, key)?.map(|s| s.len()) else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    if count >= len as u64 {
        // Everything goes: the whole key is deleted, and logged as such.
        let members = match ctx.db.remove(key) {
            Some(Value::Set(s)) => members_reply(s.iter()),
            _ => Vec::new(),
        };
        ctx.propagate = Propagate::Rewrite(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
        return Ok(Reply::Set(members));
    }
    let mut picks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let n = picks.len();
        let i = ctx.db.rng().gen_range(0..len - n);
        picks.push(i);
    }
    let set = set_for_write(ctx.db, key)?;
    let popped: Vec<Blob> = picks.into_iter().filter_map(|i| set.swap_remove_index(i)).collect();
    let mut record = Vec::with_capacity(popped.len() + 2);
    record.push(Bytes::from_static(b"SREM"));
    record.push(key.clone());
    record.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
    ctx.propagate = Propagate::Rewrite(vec![record]);
    Ok(Reply::Set(members_reply(popped.iter())))
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    if args.len() == 2 {
        let Some(len) = ctx.db.set(&args[1])?.map(|s| s.len()) else {
            return Ok(Reply::Nil);
        };
        let i = ctx.db.rng().gen_range(0..len.max(1));
        let member = peek_set(ctx.db, &args[1])?.and_then(|s| s.get_index(i)).map(|m| Reply::bulk(m));
        return Ok(member.unwrap_or(Reply::Nil));
    }
    let count = random_count(&args[2])?;
    let limit = ctx.node.limits.max_keys_reply;
    let Some(len) = ctx.db.set(&args[1])?.map(|s| s.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let indexes = pick_indexes(ctx.db, len, count, limit)?;
    let Some(set) = peek_set(ctx.db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::Array(members_reply(indexes.into_iter().filter_map(|i| set.get_index(i)))))
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    // Redis answers 0 for a missing source before it checks the destination's type.
    let Some(in_src) = peek_set(ctx.db, src)?.map(|s| s.contains(member.as_ref())) else {
        return Ok(Reply::Integer(0));
    };
    peek_set(ctx.db, dst)?;
    if src == dst || !in_src {
        return Ok(Reply::Integer(in_src as i64));
    }
    set_for_write(ctx.db, src)?.swap_remove(member.as_ref());
    ctx.db.remove_if_empty(src);
    set_for_write(ctx.db, dst)?.insert(blob(member));
    Ok(Reply::Integer(1))
}

/// Checks every key (a wrong type anywhere is an error, even after a missing key, as in
/// Redis) and returns the sizes of the sets, `None` for missing keys.
fn source_sizes(db: &mut Db, keys: &[Bytes]) -> Result<Vec<Option<usize>>, CommandError> {
    keys.iter().map(|k| Ok(db.set(k)?.map(|s| s.len()))).collect()
}

/// Members of the intersection of `keys`, stopping once `limit` are found (0: no limit).
fn intersection(db: &mut Db, keys: &[Bytes], limit: usize) -> Result<Vec<Blob>, CommandError> {
    let sizes = source_sizes(db, keys)?;
    if sizes.iter().any(|s| s.is_none_or(|n| n == 0)) {
        return Ok(Vec::new());
    }
    // Walk the smallest set and probe the others, smallest first, as Redis does.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let Some(smallest) = peek_set(db, &keys[order[0]])? else {
        return Ok(Vec::new());
    };
    let mut candidates: Vec<Blob> = smallest.iter().cloned().collect();
    for &i in &order[1..] {
        let Some(other) = peek_set(db, &keys[i])? else {
            return Ok(Vec::new());
        };
        candidates.retain(|m| other.contains(m));
        if candidates.is_empty() {
            break;
        }
    }
    if limit > 0 {
        candidates.truncate(limit);
    }
    Ok(candidates)
}

fn union(db: &mut Db, keys: &[Bytes]) -> Result<SetValue, CommandError> {
    source_sizes(db, keys)?;
    let mut out = SetValue::default();
    for key in keys {
        if let Some(s) = peek_set(db, key)? {
            out.extend(s.iter().cloned());
        }
    }
    Ok(out)
}

fn difference(db: &mut Db, keys: &[Bytes]) -> Result<SetValue, CommandError> {
    source_sizes(db, keys)?;
    let mut out = match peek_set(db, &keys[0])? {
        Some(s) => s.clone(),
        None => return Ok(SetValue::default()),
    };
    for key in &keys[1..] {
        if out.is_empty() {
            break;
        }
        if let Some(s) = peek_set(db, key)? {
            if s.len() < out.len() {
                for m in s {
                    out.swap_remove(m);
                }
            } else {
                out.retain(|m| !s.contains(m));
            }
        }
    }
    Ok(out)
}

/// Stores a computed set at `dst` (replacing whatever was there, TTL included), or deletes
/// `dst` when the result is empty, as Redis does. Returns the stored size.
fn store(db: &mut Db, dst: &[u8], set: SetValue) -> Reply {
    let len = set.len();
    if len == 0 {
        db.remove(dst);
    } else {
        db.insert(dst, Value::Set(Box::new(set)));
    }
    Reply::Integer(len as i64)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Set(members_reply(intersection(ctx.db, &args[1..], 0)?.iter())))
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let members = intersection(ctx.db, &args[2..], 0)?;
    Ok(store(ctx.db, &args[1], members.into_iter().collect()))
}

/// Key positions of `SINTERCARD numkeys key… [LIMIT n]`; none when `numkeys` is invalid.
fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    match args.get(1).and_then(|a| parse_i64(a)) {
        Some(n) if n > 0 && (n as u64) <= (args.len() as u64).saturating_sub(2) => (2..2 + n as usize).collect(),
        _ => Vec::new(),
    }
}

fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let numkeys = match parse_i64(&args[1]) {
        Some(n) if n > 0 => n as u64,
        _ => return Err(CommandError::err("numkeys should be greater than 0")),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(CommandError::err("Number of keys can't be greater than number of args"));
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = keys_end;
    while i < args.len() {
        if is(&args[i], "LIMIT") && i + 1 < args.len() {
            limit = match parse_i64(&args[i + 1]) {
                Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(CommandError::err("LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(Reply::Integer(intersection(ctx.db, &args[2..keys_end], limit)?.len() as i64))
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Set(members_reply(union(ctx.db, &args[1..])?.iter())))
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let set = union(ctx.db, &args[2..])?;
    Ok(store(ctx.db, &args[1], set))
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Set(members_reply(difference(ctx.db, &args[1..])?.iter())))
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let set = difference(ctx.db, &args[2..])?;
    Ok(store(ctx.db, &args[1], set))
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let cursor = parse_cursor(&args[2])?;
    let Some(set) = ctx.db.set(&args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOptions::parse(&args[3..], false, false)?;
    // Small sets (intset or listpack in Redis) are returned whole in one call, as Redis does.
    let small = (set.len() <= 512 && set.iter().all(|m| parse_i64(m).is_some()))
        || (set.len() <= 128 && set.iter().all(|m| m.len() <= 64));
    let mut items = Vec::new();
    let next = if small {
        items.extend(set.iter().filter(|m| opts.matches(m)).map(|m| Reply::bulk(m)));
        0
    } else {
        let (positions, next) = keyspace::db::scan_positions(set.len(), cursor, opts.count);
        items.extend(positions.filter_map(|i| set.get_index(i)).filter(|m| opts.matches(m)).map(|m| Reply::bulk(m)));
        next
    };
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    fn sorted(r: Reply) -> Vec<String> {
        let v = match r {
            Reply::Array(v) | Reply::Set(v) => v,
            other => panic!("not an array: {other:?}"),
        };
        let mut out: Vec<String> = v
            .into_iter()
            .map(|x| match x {
                Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    fn set(items: &[&str]) -> Reply {
        Reply::Set(items.iter().map(|s| bulk(s)).collect())
    }

    #[test]
    fn add_remove_members() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["SADD", "s", "a", "b", "a"]), int(2));
        assert_eq!(c.cmd(&["SADD", "s", "a"]), int(0));
        assert_eq!(c.cmd(&["SCARD", "s"]), int(2));
        assert_eq!(c.cmd(&["SISMEMBER", "s", "a"]), int(1));
        assert_eq!(c.cmd(&["SISMEMBER", "s", "z"]), int(0));
        assert_eq!(c.cmd(&["SMISMEMBER", "s", "a", "z"]), Reply::Array(vec![int(1), int(0)]));
        assert_eq!(c.cmd(&["SMISMEMBER", "nokey", "a"]), Reply::Array(vec![int(0)]));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", "s"])), vec!["a", "b"]);
        assert_eq!(c.cmd(&["SMEMBERS", "nokey"]), set(&[]));
        assert_eq!(c.cmd(&["SREM", "s", "z"]), int(0));
        assert_eq!(c.cmd(&["SREM", "s", "a", "b", "z"]), int(2));
        assert_eq!(c.cmd(&["SCARD", "s"]), int(0));
        assert_eq!(c.cmd(&["SET", "s", "x"]), ok(), "emptied set is deleted");
        // No-ops (SADD of existing members, SREM of missing ones) are not logged.
        assert_eq!(c.change_log().len(), 3);
    }

    #[test]
    fn wrong_type() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "str", "v"]);
        c.cmd(&["SADD", "s", "a"]);
        for cmd in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "0"],
            &["SRANDMEMBER", "str", "1"],
            &["SINTER", "nokey", "str"],
            &["SINTERCARD", "2", "nokey", "str"],
            &["SUNION", "s", "str"],
            &["SDIFF", "nokey", "str"],
            &["SINTERSTORE", "d", "s", "str"],
            &["SMOVE", "s", "str", "a"],
            &["SMOVE", "str", "s", "a"],
            &["SSCAN", "str", "0"],
        ] {
            assert!(err("WRONGTYPE")(&c.cmd(cmd)), "{cmd:?}");
        }
        assert_eq!(c.cmd(&["SMOVE", "nokey", "str", "a"]), int(0));
    }

    #[test]
    fn spop_logs_removals() {
        let mut c = TestClient::new();
        c.cmd(&["SADD", "s", "a", "b", "c", "d"]);
        let Reply::Bulk(one) = c.cmd(&["SPOP", "s"]) else { panic!() };
        let popped = String::from_utf8_lossy(&one).into_owned();
        assert_eq!(c.change_log()[1], vec!["SREM".to_string(), "s".into(), popped.clone()]);
        let two = sorted(c.cmd(&["SPOP", "s", "2"]));
        assert_eq!(two.len(), 2);
        assert!(!two.contains(&popped));
        let mut log = c.change_log()[2].clone();
        assert_eq!(&log[..2], &["SREM", "s"]);
        log.drain(..2);
        log.sort();
        assert_eq!(log, two);
        assert_eq!(c.cmd(&["SCARD", "s"]), int(1));
        assert_eq!(sorted(c.cmd(&["SPOP", "s", "5"])).len(), 1);
        assert_eq!(c.change_log()[3], vec!["DEL", "s"]);
        assert_eq!(c.cmd(&["SPOP", "s"]), Reply::Nil);
        assert_eq!(c.cmd(&["SPOP", "s", "3"]), set(&[]));
        assert!(err("ERR value is out of range, must be positive")(&c.cmd(&["SPOP", "s", "-1"])));
        assert!(err("ERR value is out of range, must be positive")(&c.cmd(&["SPOP", "s", "x"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SPOP", "s", "1", "2"])));
        assert_eq!(c.change_log().len(), 4);
    }

    #[test]
    fn srandmember() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["SRANDMEMBER", "nokey"]), Reply::Nil);
        assert_eq!(c.cmd(&["SRANDMEMBER", "nokey", "2"]), arr(&[]));
        c.cmd(&["SADD", "s", "a", "b", "c"]);
        assert_eq!(sorted(c.cmd(&["SRANDMEMBER", "s", "5"])), vec!["a", "b", "c"]);
        let two = sorted(c.cmd(&["SRANDMEMBER", "s", "2"]));
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert_eq!(sorted(c.cmd(&["SRANDMEMBER", "s", "-10"])).len(), 10);
        assert_eq!(c.cmd(&["SRANDMEMBER", "s", "0"]), arr(&[]));
        assert!(err("ERR value is not an integer")(&c.cmd(&["SRANDMEMBER", "s", "x"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SRANDMEMBER", "s", "1", "2"])));
        assert_eq!(c.cmd(&["SCARD", "s"]), int(3));
    }

    #[test]
    fn smove() {
        let mut c = TestClient::new();
        c.cmd(&["SADD", "a", "x", "y"]);
        assert_eq!(c.cmd(&["SMOVE", "a", "b", "x"]), int(1));
        assert_eq!(c.cmd(&["SMOVE", "a", "b", "zz"]), int(0));
        assert_eq!(c.cmd(&["SMOVE", "a", "a", "y"]), int(1));
        assert_eq!(c.cmd(&["SMOVE", "a", "a", "zz"]), int(0));
        assert_eq!(c.cmd(&["SMOVE", "a", "b", "y"]), int(1));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", "b"])), vec!["x", "y"]);
        assert_eq!(c.cmd(&["SCARD", "a"]), int(0));
        assert_eq!(c.change_log().len(), 3);
    }

    #[test]
    fn algebra() {
        let mut c = TestClient::new();
        c.cmd(&["SADD", "a", "1", "2", "3", "4"]);
        c.cmd(&["SADD", "b", "2", "3", "5"]);
        c.cmd(&["SADD", "c", "3", "2", "9"]);
        assert_eq!(sorted(c.cmd(&["SINTER", "a", "b", "c"])), vec!["2", "3"]);
        assert_eq!(c.cmd(&["SINTER", "a", "nokey"]), set(&[]));
        assert_eq!(sorted(c.cmd(&["SUNION", "a", "b", "nokey"])), vec!["1", "2", "3", "4", "5"]);
        assert_eq!(sorted(c.cmd(&["SDIFF", "a", "b"])), vec!["1", "4"]);
        assert_eq!(sorted(c.cmd(&["SDIFF", "a", "nokey"])), vec!["1", "2", "3", "4"]);
        assert_eq!(c.cmd(&["SDIFF", "nokey", "a"]), set(&[]));
        assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b"]), int(2));
        assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
        assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "0"]), int(2));
        assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "nokey"]), int(0));
        assert!(err("ERR numkeys should be greater than 0")(&c.cmd(&["SINTERCARD", "0", "a"])));
        assert!(err("ERR numkeys should be greater than 0")(&c.cmd(&["SINTERCARD", "x", "a"])));
        assert!(err("ERR Number of keys can't be greater than number of args")(&c.cmd(&["SINTERCARD", "3", "a"])));
        assert!(err("ERR LIMIT can't be negative")(&c.cmd(&["SINTERCARD", "1", "a", "LIMIT", "-1"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SINTERCARD", "1", "a", "FOO"])));
        assert!(err("ERR syntax error")(&c.cmd(&["SINTERCARD", "1", "a", "LIMIT"])));

        c.cmd(&["SET", "dst", "string"]);
        assert_eq!(c.cmd(&["SINTERSTORE", "dst", "a", "b"]), int(2));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", "dst"])), vec!["2", "3"]);
        assert_eq!(c.cmd(&["SUNIONSTORE", "dst", "dst", "c"]), int(3));
        assert_eq!(c.cmd(&["SDIFFSTORE", "d2", "a", "b"]), int(2));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", "d2"])), vec!["1", "4"]);
        assert_eq!(c.cmd(&["SINTERSTORE", "dst", "a", "nokey"]), int(0));
        assert_eq!(c.cmd(&["SCARD", "dst"]), int(0));
        assert_eq!(c.cmd(&["SET", "dst", "x"]), ok(), "an empty result deletes the destination");
        let n = c.change_log().len();
        assert_eq!(c.cmd(&["SDIFFSTORE", "none", "nokey"]), int(0));
        assert_eq!(c.change_log().len(), n, "nothing changed, nothing logged");
    }

    #[test]
    fn ttls_kept_by_updates_and_dropped_by_stores() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1_000);
        c.cmd(&["SADD", "s", "a"]);
        c.cmd(&["SADD", "dst", "z"]);
        {
            let mut state = c.tenant.state.lock();
            state.db.set_expire_at(b"s", 50_000);
            state.db.set_expire_at(b"dst", 50_000);
        }
        c.cmd(&["SADD", "s", "b"]);
        c.cmd(&["SUNIONSTORE", "dst", "s"]);
        let mut state = c.tenant.state.lock();
        assert_eq!(state.db.expire_at(b"s"), Some(50_000));
        assert_eq!(state.db.expire_at(b"dst"), Some(0));
    }

    #[test]
    fn huge_negative_count_is_refused_not_served() {
        let mut c = TestClient::new();
        c.cmd(&["SADD", "s", "a"]);
        assert!(err("ERR count is too large")(&c.cmd(&["SRANDMEMBER", "s", "-9223372036854775807"])));
        c.cmd(&["HSET", "h", "f", "v"]);
        assert!(err("ERR count is too large")(&c.cmd(&["HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES"])));
    }

    #[test]
    fn sintercard_key_positions() {
        use crate::command::COMMANDS;
        let spec = COMMANDS.lookup(b"sintercard").unwrap();
        let args: Vec<bytes::Bytes> =
            ["SINTERCARD", "2", "a", "b", "LIMIT", "1"].iter().map(|s| bytes::Bytes::from(*s)).collect();
        assert_eq!(spec.keys.positions(&args), vec![2, 3]);
        let bad: Vec<bytes::Bytes> = ["SINTERCARD", "5", "a"].iter().map(|s| bytes::Bytes::from(*s)).collect();
        assert!(spec.keys.positions(&bad).is_empty());
        let store = COMMANDS.lookup(b"sunionstore").unwrap();
        assert_eq!(store.keys.positions(&args[..4]), vec![1, 2, 3]);
    }

    #[test]
    fn sscan() {
        let mut c = TestClient::new();
        assert!(err("ERR invalid cursor")(&c.cmd(&["SSCAN", "s", "abc"])));
        c.cmd(&["SADD", "s", "a1", "a2", "b1"]);
        let Reply::Array(parts) = c.cmd(&["SSCAN", "s", "0", "MATCH", "a*"]) else { panic!() };
        assert_eq!(parts[0], bulk("0"));
        assert_eq!(sorted(parts[1].clone()), vec!["a1", "a2"]);
        assert!(err("ERR syntax error")(&c.cmd(&["SSCAN", "s", "0", "NOVALUES"])));
        let mut args = vec!["SADD".to_string(), "big".into()];
        for i in 0..1000 {
            args.push(format!("member-{i}"));
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        c.cmd(&refs);
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        for _ in 0..1000 {
            let Reply::Array(parts) = c.cmd(&["SSCAN", "big", &cursor, "COUNT", "100"]) else { panic!() };
            seen.extend(sorted(parts[1].clone()));
            let Reply::Bulk(next) = &parts[0] else { panic!() };
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(cursor, "0");
        assert_eq!(seen.len(), 1000);
    }
}
