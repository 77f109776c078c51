//! Generic key commands: DEL, EXISTS, EXPIRE family, TTL, TYPE, RENAME, COPY, KEYS, SCAN,
//! RANDOMKEY, TOUCH, OBJECT.

use crate::args::{int, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use crate::glob::glob_match;
use bytes::Bytes;
use resp::Reply;

const R: Flags = Flags::READONLY;
const W: Flags = Flags::WRITE;
const FAST: Flags = Flags::FAST;

const fn g(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "generic", handler }
}

pub static COMMANDS: &[CommandSpec] = &[
    g("del", -2, W, KeySpec::ALL, del),
    g("unlink", -2, W.union(FAST), KeySpec::ALL, del),
    g("exists", -2, R.union(FAST), KeySpec::ALL, exists),
    g("touch", -2, R.union(FAST), KeySpec::ALL, exists),
    g("expire", -3, W.union(FAST), KeySpec::FIRST, expire),
    g("pexpire", -3, W.union(FAST), KeySpec::FIRST, expire),
    g("expireat", -3, W.union(FAST), KeySpec::FIRST, expire),
    g("pexpireat", -3, W.union(FAST), KeySpec::FIRST, expire),
    g("ttl", 2, R.union(FAST), KeySpec::FIRST, ttl),
    g("pttl", 2, R.union(FAST), KeySpec::FIRST, ttl),
    g("expiretime", 2, R.union(FAST), KeySpec::FIRST, ttl),
    g("pexpiretime", 2, R.union(FAST), KeySpec::FIRST, ttl),
    g("persist", 2, W.union(FAST), KeySpec::FIRST, persist),
    g("type", 2, R.union(FAST), KeySpec::FIRST, type_),
    g("rename", 3, W, KeySpec::range(1, 2, 1), rename),
    g("renamenx", 3, W.union(FAST), KeySpec::range(1, 2, 1), rename),
    g("copy", -3, W.union(Flags::DENYOOM), KeySpec::range(1, 2, 1), copy),
    g("keys", 2, R, KeySpec::NONE, keys),
    g("scan", -2, R, KeySpec::NONE, scan),
    g("randomkey", 1, R, KeySpec::NONE, randomkey),
    g("object", -2, R, KeySpec::range(2, 2, 1), object),
    g("move", 3, W.union(FAST), KeySpec::FIRST, move_),
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut n = 0;
    for key in &args[1..] {
        if ctx.db.remove(key).is_some() {
            n += 1;
        }
    }
    Ok(Reply::Integer(n))
}

/// EXISTS and TOUCH: count keys that exist (a key given twice counts twice).
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let n = args[1..].iter().filter(|k| ctx.db.contains(k)).count();
    Ok(Reply::Integer(n as i64))
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let name = crate::args::lower_name(&args[0]);
    let key = &args[1];
    let amount = int(&args[2])?;
    let (unit, absolute) = match name.as_str() {
        "expire" => (1000, false),
        "pexpire" => (1, false),
        "expireat" => (1000, true),
        _ => (1, true),
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return Err(CommandError::err(format!("Unsupported option {}", crate::exec::printable(opt, 64))));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::err("NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(CommandError::err("GT and LT options at the same time are not compatible"));
    }
    let invalid = || CommandError::err(format!("invalid expire time in '{name}' command"));
    let now = ctx.now_ms() as i128;
    let at = (amount as i128) * unit + if absolute { 0 } else { now };
    if at > i64::MAX as i128 || (amount as i128).abs() * unit > i64::MAX as i128 {
        return Err(invalid());
    }
    let Some(current) = ctx.db.expire_at(key) else { return Ok(Reply::Integer(0)) };
    // A key without TTL counts as an infinite TTL for GT/LT.
    let current_ttl = if current == 0 { None } else { Some(current as i128) };
    let allowed = if nx {
        current_ttl.is_none()
    } else if xx && current_ttl.is_none() {
        false
    } else if gt {
        current_ttl.is_some_and(|c| at > c)
    } else if lt {
        current_ttl.is_none_or(|c| at < c)
    } else {
        true
    };
    if !allowed {
        return Ok(Reply::Integer(0));
    }
    if at <= now {
        ctx.db.remove(key);
        ctx.propagate = Propagate::Rewrite(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
    } else {
        ctx.db.set_expire_at(key, at as u64);
        ctx.propagate =
            Propagate::Rewrite(vec![vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), Bytes::from(at.to_string())]]);
    }
    Ok(Reply::Integer(1))
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let name = crate::args::lower_name(&args[0]);
    let now = ctx.now_ms();
    let Some(at) = ctx.db.expire_at(&args[1]) else { return Ok(Reply::Integer(-2)) };
    if at == 0 {
        return Ok(Reply::Integer(-1));
    }
    let v = match name.as_str() {
        "ttl" => (at.saturating_sub(now) as i64 + 500) / 1000,
        "pttl" => at.saturating_sub(now) as i64,
        "expiretime" => at as i64 / 1000,
        _ => at as i64,
    };
    Ok(Reply::Integer(v))
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.persist(&args[1]) as i64))
}

fn type_(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let name = ctx.db.get(&args[1]).map_or("none", |v| v.type_name());
    Ok(Reply::Status(Bytes::from_static(name.as_bytes())))
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let nx = is(&args[0], "renamenx");
    let (src, dst) = (&args[1], &args[2]);
    if !ctx.db.contains(src) {
        return Err(CommandError::NoSuchKey);
    }
    if src == dst {
        return Ok(if nx { Reply::Integer(0) } else { Reply::ok() });
    }
    if nx && ctx.db.contains(dst) {
        return Ok(Reply::Integer(0));
    }
    let Some(entry) = ctx.db.remove_entry(src) else { return Err(CommandError::NoSuchKey) };
    ctx.db.remove(dst);
    ctx.db.insert_entry(dst, entry);
    ctx.db.signal_ready(dst);
    Ok(if nx { Reply::Integer(1) } else { Reply::ok() })
}

fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (src, dst) = (&args[1], &args[2]);
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "REPLACE") {
            replace = true;
        } else if is(&args[i], "DB") && i + 1 < args.len() {
            let db = int(&args[i + 1])?;
            if db != 0 {
                return Err(CommandError::err(format!("Only 0th database is supported! Selected DB: {db}")));
            }
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if src == dst {
        return Err(CommandError::err("source and destination objects are the same"));
    }
    let Some(entry) = ctx.db.entry(src).cloned() else { return Ok(Reply::Integer(0)) };
    if ctx.db.contains(dst) {
        if !replace {
            return Ok(Reply::Integer(0));
        }
        ctx.db.remove(dst);
    }
    ctx.db.insert_entry(dst, entry);
    ctx.db.signal_ready(dst);
    Ok(Reply::Integer(1))
}

fn keys(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let limit = ctx.node.limits.max_keys_reply;
    let mut out = Vec::new();
    let mut too_many = false;
    ctx.db.for_each_live(|k, _| {
        if too_many {
            return;
        }
        if all || glob_match(pattern, k, false) {
            if out.len() >= limit {
                too_many = true;
                return;
            }
            out.push(Reply::bulk(k));
        }
    });
    if too_many {
        return Err(CommandError::err(format!("KEYS would return more than {limit} keys; use SCAN")));
    }
    Ok(Reply::Array(out))
}

fn scan(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let cursor = crate::scan::parse_cursor(&args[1])?;
    let opts = crate::scan::ScanOptions::parse(&args[2..], true, false)?;
    let mut found = Vec::new();
    let next = ctx.db.scan(cursor, opts.count, |k, e| {
        if opts.pattern.as_ref().is_some_and(|p| !glob_match(p, k, false)) {
            return;
        }
        if opts.type_filter.as_ref().is_some_and(|t| t != e.value.type_name()) {
            return;
        }
        found.push(Reply::bulk(k));
    });
    Ok(crate::scan::scan_reply(next, found))
}

fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(ctx.db.random_key().map_or(Reply::Nil, |k| Reply::bulk(&k)))
}

fn object(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = crate::args::lower_name(&args[1]);
    if sub == "help" {
        return Ok(Reply::Array(
            [
                "OBJECT <subcommand> [<arg> ...]. Subcommands are:",
                "ENCODING <key>",
                "FREQ <key>",
                "IDLETIME <key>",
                "REFCOUNT <key>",
            ]
            .iter()
            .map(|s| Reply::Status(Bytes::copy_from_slice(s.as_bytes())))
            .collect(),
        ));
    }
    if args.len() != 3 {
        return Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            crate::exec::printable(&args[1], 64)
        )));
    }
    let Some(value) = ctx.db.get(&args[2]) else { return Ok(Reply::Nil) };
    match sub.as_str() {
        "encoding" => Ok(Reply::Bulk(Bytes::from_static(value.encoding().as_bytes()))),
        "refcount" => Ok(Reply::Integer(1)),
        "idletime" => Ok(Reply::Integer(0)),
        "freq" => Err(CommandError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

fn move_(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let db = int(&args[2]).map_err(|_| CommandError::err("value is not an integer or out of range"))?;
    Err(CommandError::err(format!("Only 0th database is supported! Selected DB: {db}")))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    #[test]
    fn expire_family_with_flags() {
        let mut c = TestClient::new();
        c.clock_ms = Some(10_000);
        c.cmd(&["SET", "k", "v"]);
        assert_eq!(c.cmd(&["TTL", "k"]), int(-1));
        assert_eq!(c.cmd(&["TTL", "nope"]), int(-2));
        assert_eq!(c.cmd(&["EXPIRE", "k", "100", "XX"]), int(0));
        assert_eq!(c.cmd(&["EXPIRE", "k", "100", "NX"]), int(1));
        assert_eq!(c.cmd(&["EXPIRE", "k", "50", "GT"]), int(0));
        assert_eq!(c.cmd(&["EXPIRE", "k", "50", "LT"]), int(1));
        assert_eq!(c.cmd(&["PTTL", "k"]), int(50_000));
        assert_eq!(c.cmd(&["EXPIRETIME", "k"]), int(60));
        assert_eq!(c.change_log().last().unwrap(), &vec!["PEXPIREAT", "k", "60000"]);
        assert!(err("ERR NX and XX, GT or LT options at the same time are not compatible")(
            &c.cmd(&["EXPIRE", "k", "1", "NX", "XX"])
        ));
        assert_eq!(c.cmd(&["PERSIST", "k"]), int(1));
        assert_eq!(c.cmd(&["PERSIST", "k"]), int(0));
        assert_eq!(c.cmd(&["EXPIRE", "k", "-1"]), int(1));
        assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));
        assert_eq!(c.change_log().last().unwrap(), &vec!["DEL", "k"]);
    }

    #[test]
    fn rename_and_copy_keep_ttl() {
        let mut c = TestClient::new();
        c.clock_ms = Some(10_000);
        c.cmd(&["SET", "a", "1", "PX", "5000"]);
        assert_eq!(c.cmd(&["RENAME", "a", "b"]), ok());
        assert_eq!(c.cmd(&["PTTL", "b"]), int(5000));
        assert!(err("ERR no such key")(&c.cmd(&["RENAME", "a", "b"])));
        assert_eq!(c.cmd(&["COPY", "b", "c"]), int(1));
        assert_eq!(c.cmd(&["COPY", "b", "c"]), int(0));
        assert_eq!(c.cmd(&["PTTL", "c"]), int(5000));
        c.cmd(&["SET", "d", "x"]);
        assert_eq!(c.cmd(&["RENAMENX", "b", "d"]), int(0));
    }

    #[test]
    fn scan_and_keys() {
        let mut c = TestClient::new();
        for i in 0..100 {
            c.cmd(&["SET", &format!("user:{i}"), "x"]);
        }
        c.cmd(&["SET", "other", "x"]);
        let Reply::Array(keys) = c.cmd(&["KEYS", "user:*"]) else { panic!() };
        assert_eq!(keys.len(), 100);
        let mut cursor = "0".to_string();
        let mut seen = 0;
        loop {
            let Reply::Array(parts) = c.cmd(&["SCAN", &cursor, "MATCH", "user:*", "COUNT", "7"]) else { panic!() };
            let (Reply::Bulk(next), Reply::Array(batch)) = (&parts[0], &parts[1]) else { panic!() };
            seen += batch.len();
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen, 100);
        assert_eq!(c.cmd(&["TYPE", "other"]), Reply::status("string"));
        assert_eq!(c.cmd(&["TYPE", "none"]), Reply::status("none"));
    }
}
