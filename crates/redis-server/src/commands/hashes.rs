//! Hash commands (Redis's `t_hash.c`): HSET and friends, counters, random fields, HSCAN.
//! Also the helpers the set family shares: *SCAN cursors and options, random sampling.

use crate::args::{int, is, parse_i64};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use crate::scan::{parse_cursor, scan_reply, ScanOptions};
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
    let incr = crate::long_double::parse(&args[3]).ok_or(CommandError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CommandError::err("value is NaN or Infinity"));
    }
    let current = match peek_hash(ctx.db, &args[1])?.and_then(|h| h.get(args[2].as_ref())) {
        Some(v) => crate::long_double::parse(v).ok_or_else(|| CommandError::err("hash value is not a float"))?,
        None => crate::long_double::Ld::ZERO,
    };
    let new = crate::long_double::add(current, incr);
    if !new.is_finite() {
        return Err(CommandError::err("increment would produce NaN or Infinity"));
    }
    let text = Bytes::from(crate::long_double::format_human(new));
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
    let opts = ScanOptions::parse(&args[3..], false, true)?;
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
        assert_eq!(c.cmd(&["HSCAN", "nokey", "0"]), crate::scan::scan_reply(0, vec![]));
        assert!(err("ERR invalid cursor")(&c.cmd(&["HSCAN", "nokey", "x"])));
        c.cmd(&["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(
            c.cmd(&["HSCAN", "h", "0", "COUNT", "1"]),
            crate::scan::scan_reply(0, vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")])
        );
        assert_eq!(c.cmd(&["HSCAN", "h", "0", "MATCH", "b*", "NOVALUES"]), crate::scan::scan_reply(0, vec![bulk("b")]));
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
        use crate::scan::parse_cursor;
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
