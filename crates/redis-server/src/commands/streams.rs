//! Stream commands (Redis's `t_stream.c`): XADD, XRANGE, XREAD, consumer groups (XGROUP,
//! XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM), XINFO, XDEL, XTRIM and XSETID.
//!
//! Replication follows Redis: anything depending on the clock or on generated IDs is logged as
//! its effect (XADD with the concrete ID and an exact trim, XREADGROUP and XAUTOCLAIM as
//! XCLAIM … FORCE JUSTID plus XGROUP SETID), so replaying the change log gives the same state.

use crate::args::{self, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{BlockRequest, Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use keyspace::stream::{Consumer, ConsumerGroup, Fields, PendingEntry, StreamId, StreamValue, Trim};
use keyspace::value::{blob, Blob};
use resp::{Protocol, Reply};

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;

pub static COMMANDS: &[CommandSpec] = &[
    spec("xadd", -5, W.union(Flags::DENYOOM).union(Flags::FAST), KeySpec::FIRST, xadd),
    spec("xlen", 2, R.union(Flags::FAST), KeySpec::FIRST, xlen),
    spec("xrange", -4, R, KeySpec::FIRST, xrange),
    spec("xrevrange", -4, R, KeySpec::FIRST, xrevrange),
    spec("xdel", -3, W.union(Flags::FAST), KeySpec::FIRST, xdel),
    spec("xtrim", -4, W, KeySpec::FIRST, xtrim),
    spec(
        "xread",
        -4,
        R.union(Flags::BLOCKING).union(Flags::MOVABLE_KEYS),
        KeySpec::movable(0, 0, 0, xread_keys),
        xread,
    ),
    spec(
        "xreadgroup",
        -7,
        W.union(Flags::BLOCKING).union(Flags::MOVABLE_KEYS),
        KeySpec::movable(0, 0, 0, xread_keys),
        xreadgroup,
    ),
    spec("xgroup", -2, W, KeySpec::range(2, 2, 1), xgroup),
    spec("xack", -4, W.union(Flags::FAST), KeySpec::FIRST, xack),
    spec("xpending", -3, R, KeySpec::FIRST, xpending),
    spec("xclaim", -6, W.union(Flags::FAST), KeySpec::FIRST, xclaim),
    spec("xautoclaim", -6, W.union(Flags::FAST), KeySpec::FIRST, xautoclaim),
    spec("xinfo", -2, R, KeySpec::range(2, 2, 1), xinfo),
    spec("xsetid", -3, W.union(Flags::DENYOOM).union(Flags::FAST), KeySpec::FIRST, xsetid),
];

const fn spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "stream", handler }
}

// ----- IDs and replies ----------------------------------------------------------------------

fn invalid_id() -> CommandError {
    CommandError::err("Invalid stream ID specified as stream command argument")
}

/// An ID in a command (`ms-seq`, or `ms` with `missing_seq`); `-` and `+` allowed when
/// `special` (ranges, XGROUP, LASTID).
fn parse_id(arg: &[u8], missing_seq: u64, special: bool) -> Result<StreamId, CommandError> {
    if special && arg == b"-" {
        return Ok(StreamId::MIN);
    }
    if special && arg == b"+" {
        return Ok(StreamId::MAX);
    }
    StreamId::parse(arg, missing_seq).ok_or_else(invalid_id)
}

/// Start or end of an interval: `-`, `+`, an ID, or `(ID` for an exclusive bound.
fn parse_interval(arg: &[u8], is_start: bool) -> Result<StreamId, CommandError> {
    let missing_seq = if is_start { 0 } else { u64::MAX };
    if let Some(rest) = arg.strip_prefix(b"(") {
        let id = StreamId::parse(rest, missing_seq).ok_or_else(invalid_id)?;
        let moved = if is_start { id.next() } else { id.prev() };
        return moved.ok_or_else(|| {
            CommandError::err(if is_start {
                "invalid start ID for the interval"
            } else {
                "invalid end ID for the interval"
            })
        });
    }
    parse_id(arg, missing_seq, true)
}

fn id_bulk(id: StreamId) -> Reply {
    Reply::Bulk(Bytes::from(id.to_string()))
}

fn id_bytes(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    let flat = fields.iter().flat_map(|(f, v)| [Reply::bulk(f), Reply::bulk(v)]).collect();
    Reply::Array(vec![id_bulk(id), Reply::Array(flat)])
}

/// Entries in `[start, end]`, ascending (or descending with `rev`), at most `count` (0 = all).
fn range(s: &StreamValue, start: StreamId, end: StreamId, count: usize, rev: bool) -> Vec<(StreamId, &Fields)> {
    if start > end {
        return Vec::new();
    }
    let it = s.entries.range(start..=end).map(|(id, f)| (*id, f));
    let limit = if count == 0 { usize::MAX } else { count };
    if rev {
        it.rev().take(limit).collect()
    } else {
        it.take(limit).collect()
    }
}

fn no_group_error(key: &[u8], group: &[u8]) -> CommandError {
    CommandError::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn no_group_for_key(key: &[u8], group: &[u8]) -> CommandError {
    CommandError::Other(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

// ----- XADD / XTRIM -------------------------------------------------------------------------

/// Trimming options shared by XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
}

/// Parses options from `args[2..]`; for XADD stops at the ID and returns its position.
fn parse_trim_args(args: &[Bytes], xadd: bool) -> Result<(TrimArgs, usize), CommandError> {
    let mut t = TrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            break;
        }
        if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            let maxlen = is(opt, "MAXLEN");
            if t.how.is_some() {
                return Err(CommandError::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            t.approx = false;
            let next = &args[i + 1][..];
            if (next == b"~" || next == b"=") && more >= 2 {
                t.approx = next == b"~";
                i += 1;
            }
            let arg = &args[i + 1][..];
            t.how = Some(if maxlen {
                let n = args::int(arg)?;
                if n < 0 {
                    return Err(CommandError::err("The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_id(arg, 0, false)?)
            });
            i += 2;
        } else if is(opt, "LIMIT") && more > 0 {
            let n = args::int(&args[i + 1])?;
            if n < 0 {
                return Err(CommandError::err("The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 2;
        } else if xadd && is(opt, "NOMKSTREAM") {
            t.nomkstream = true;
            i += 1;
        } else if xadd {
            break;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if limit_given && t.how.is_none() {
        return Err(CommandError::err("syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && t.how.is_none() {
        return Err(CommandError::err("syntax error, XTRIM must be called with a trimming strategy"));
    }
    if limit_given {
        if !t.approx {
            return Err(CommandError::err("syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if t.approx {
        t.limit = 100 * keyspace::stream::NODE_MAX_ENTRIES as u64;
    } else {
        t.limit = 0;
    }
    Ok((t, i))
}

/// The exact trim arguments equivalent to what a trim did (`MAXLEN = len` / `MINID = first`).
fn exact_trim_args(s: &StreamValue, how: Trim) -> Vec<Bytes> {
    match how {
        Trim::MaxLen(_) => vec![b("MAXLEN"), b("="), args::int_bytes(s.len() as i64)],
        Trim::MinId(_) => vec![b("MINID"), b("="), id_bytes(s.first_id())],
    }
}

fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (t, id_pos) = parse_trim_args(args, true)?;
    let field_count = args.len().saturating_sub(id_pos + 1);
    if id_pos >= args.len() || field_count < 2 || field_count % 2 == 1 {
        return Err(CommandError::WrongArity("xadd".into()));
    }
    // None = `*`, Some((id, seq_given)).
    let explicit = if args[id_pos][..] == *b"*" {
        None
    } else {
        let arg = &args[id_pos][..];
        if let Some(ms) = arg.strip_suffix(b"-*") {
            Some((parse_id(ms, 0, false).map_err(|_| invalid_id())?, false))
        } else {
            Some((parse_id(arg, 0, false)?, true))
        }
    };
    if let Some((id, true)) = explicit {
        if id == StreamId::MIN {
            return Err(CommandError::err("The ID specified in XADD must be greater than 0-0"));
        }
    }
    let now = ctx.now_ms();
    let key = &args[1];
    if ctx.db.stream(key)?.is_none() && t.nomkstream {
        return Ok(Reply::Nil);
    }
    // Check the ID before creating anything, so a refused XADD leaves no empty stream.
    let current = ctx.db.stream(key)?;
    let (last, empty_default) = match current {
        Some(s) => (s.last_id, false),
        None => (StreamId::MIN, true),
    };
    let mut probe = StreamValue::default();
    probe.last_id = last;
    let id = match explicit {
        None => {
            if last == StreamId::MAX {
                return Err(CommandError::err(
                    "The stream has exhausted the last possible ID, unable to add more items",
                ));
            }
            probe.auto_id(now)
        }
        Some((ms, false)) => probe.auto_seq_id(ms.ms),
        Some((id, true)) => (id > last || (empty_default && id > StreamId::MIN)).then_some(id),
    };
    let Some(id) = id else {
        return Err(CommandError::err("The ID specified in XADD is equal or smaller than the target stream top item"));
    };
    let fields: Fields = args[id_pos + 1..].chunks_exact(2).map(|p| (blob(&p[0]), blob(&p[1]))).collect();
    let Some(s) = ctx.db.stream_mut(key, true)? else {
        return Ok(Reply::Nil);
    };
    s.append(id, fields);
    let mut trim_rewrite = None;
    if let Some(how) = t.how {
        s.trim(how, t.approx, t.limit);
        if t.approx {
            trim_rewrite = Some(exact_trim_args(s, how));
        }
    }
    if explicit.is_none() || matches!(explicit, Some((_, false))) || trim_rewrite.is_some() {
        let mut argv = vec![args[0].clone(), key.clone()];
        if t.nomkstream {
            argv.push(b("NOMKSTREAM"));
        }
        match (trim_rewrite, t.how) {
            (Some(exact), _) => argv.extend(exact),
            (None, Some(how)) => argv.extend(match how {
                Trim::MaxLen(n) => vec![b("MAXLEN"), b("="), args::int_bytes(n as i64)],
                Trim::MinId(m) => vec![b("MINID"), b("="), id_bytes(m)],
            }),
            (None, None) => {}
        }
        argv.push(id_bytes(id));
        argv.extend(args[id_pos + 1..].iter().cloned());
        ctx.propagate = Propagate::Rewrite(vec![argv]);
    }
    ctx.db.signal_ready(key);
    Ok(id_bulk(id))
}

fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if ctx.db.stream(&args[1])?.is_none() {
        return Ok(Reply::Integer(0));
    }
    let (t, _) = parse_trim_args(args, false)?;
    let Some(how) = t.how else {
        return Err(CommandError::Syntax);
    };
    // Only take write access when something goes (no-op trims are neither logged nor dirty).
    let mut probe = ctx.db.stream(&args[1])?.cloned().unwrap_or_default();
    let would = probe.trim(how, t.approx, t.limit);
    if would == 0 {
        ctx.propagate = Propagate::Nothing;
        return Ok(Reply::Integer(0));
    }
    let Some(s) = ctx.db.stream_mut(&args[1], false)? else {
        return Ok(Reply::Integer(0));
    };
    let removed = s.trim(how, t.approx, t.limit);
    if t.approx {
        let mut argv = vec![args[0].clone(), args[1].clone()];
        argv.extend(exact_trim_args(s, how));
        ctx.propagate = Propagate::Rewrite(vec![argv]);
    }
    Ok(Reply::Integer(removed as i64))
}

// ----- XLEN / XRANGE / XDEL -------------------------------------------------------------------

fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.stream(&args[1])?.map_or(0, |s| s.len() as i64)))
}

fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    xrange_generic(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    xrange_generic(ctx, args, true)
}

fn xrange_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CommandResult {
    let (start_arg, end_arg) = if rev { (&args[3], &args[2]) } else { (&args[2], &args[3]) };
    let start = parse_interval(start_arg, true)?;
    let end = parse_interval(end_arg, false)?;
    let mut count: Option<usize> = None;
    let mut i = 4;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            count = Some(args::int(&args[i + 1])?.max(0) as usize);
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if count == Some(0) {
        return Ok(Reply::NilArray);
    }
    let Some(s) = ctx.db.stream(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = range(s, start, end, count.unwrap_or(0), rev);
    Ok(Reply::Array(items.into_iter().map(|(id, f)| entry_reply(id, f)).collect()))
}

fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let ids = args[2..].iter().map(|a| parse_id(a, 0, false)).collect::<Result<Vec<_>, _>>()?;
    let Some(s) = ctx.db.stream(&args[1])? else {
        return Ok(Reply::Integer(0));
    };
    if !ids.iter().any(|id| s.entries.contains_key(id)) {
        ctx.propagate = Propagate::Nothing;
        return Ok(Reply::Integer(0));
    }
    let Some(s) = ctx.db.stream_mut(&args[1], false)? else {
        return Ok(Reply::Integer(0));
    };
    let deleted = ids.iter().filter(|id| s.delete(**id)).count();
    Ok(Reply::Integer(deleted as i64))
}

// ----- XSETID ---------------------------------------------------------------------------------

fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let id = parse_id(&args[2], 0, false)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "ENTRIESADDED") && i + 1 < args.len() {
            let n = args::int(&args[i + 1])?;
            if n < 0 {
                return Err(CommandError::err("entries_added must be positive"));
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if is(&args[i], "MAXDELETEDID") && i + 1 < args.len() {
            let m = parse_id(&args[i + 1], 0, false)?;
            if id < m {
                return Err(CommandError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let Some(s) = ctx.db.stream(&args[1])? else {
        return Err(CommandError::NoSuchKey);
    };
    if let Some(n) = entries_added {
        if (s.len() as u64) > n {
            return Err(CommandError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    if let Some((&top, _)) = s.entries.iter().next_back() {
        if id < top {
            return Err(CommandError::err("The ID specified in XSETID is smaller than the target stream top item"));
        }
    }
    let Some(s) = ctx.db.stream_mut(&args[1], false)? else {
        return Err(CommandError::NoSuchKey);
    };
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if let Some(m) = max_deleted {
        s.max_deleted_id = m;
    }
    Ok(Reply::ok())
}

// ----- XREAD / XREADGROUP ---------------------------------------------------------------------

/// Keys of XREAD/XREADGROUP: the first half of the arguments after STREAMS.
fn xread_keys(args: &[Bytes]) -> Vec<usize> {
    let Some(pos) = args.iter().position(|a| is(a, "STREAMS")) else {
        return Vec::new();
    };
    let rest = args.len() - pos - 1;
    (pos + 1..pos + 1 + rest / 2).collect()
}

struct ReadArgs {
    count: usize,
    block: Option<Option<std::time::Duration>>,
    noack: bool,
    group: Option<(Bytes, Bytes)>,
    streams_pos: usize,
    nkeys: usize,
}

fn parse_read_args(args: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, CommandError> {
    let mut r = ReadArgs { count: 0, block: None, noack: false, group: None, streams_pos: 0, nkeys: 0 };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i][..];
        if is(a, "BLOCK") && more > 0 {
            let ms = args::parse_i64(&args[i + 1])
                .ok_or_else(|| CommandError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CommandError::err("timeout is negative"));
            }
            r.block = Some(if ms == 0 { None } else { Some(std::time::Duration::from_millis(ms as u64)) });
            i += 2;
        } else if is(a, "COUNT") && more > 0 {
            r.count = args::int(&args[i + 1])?.max(0) as usize;
            i += 2;
        } else if is(a, "STREAMS") && more > 0 {
            r.streams_pos = i + 1;
            let n = args.len() - r.streams_pos;
            if !n.is_multiple_of(2) {
                let name = if xreadgroup { "xreadgroup" } else { "xread" };
                return Err(CommandError::err(format!(
                    "Unbalanced '{name}' list of streams: for each stream key an ID or '$' must be specified."
                )));
            }
            r.nkeys = n / 2;
            break;
        } else if is(a, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err(CommandError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if is(a, "NOACK") && xreadgroup {
            r.noack = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if r.streams_pos == 0 {
        return Err(CommandError::Syntax);
    }
    if xreadgroup && r.group.is_none() {
        return Err(CommandError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// `[key, entries]` pairs as an array (RESP2) or a map (RESP3).
fn streams_reply(proto: Protocol, items: Vec<(Bytes, Reply)>) -> Reply {
    if proto == Protocol::Resp3 {
        Reply::Map(items.into_iter().map(|(k, v)| (Reply::Bulk(k), v)).collect())
    } else {
        Reply::Array(items.into_iter().map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v])).collect())
    }
}

fn block_or_nil(ctx: &mut Ctx, r: &ReadArgs, keys: Vec<Bytes>, rerun: Option<Vec<Bytes>>) -> CommandResult {
    if let Some(timeout) = r.block {
        if ctx.may_block() {
            ctx.block = Some(BlockRequest { keys, timeout, timeout_reply: Reply::NilArray, rerun_args: rerun });
        }
    }
    Ok(Reply::NilArray)
}

fn xread(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let r = parse_read_args(args, false)?;
    let keys = &args[r.streams_pos..r.streams_pos + r.nkeys];
    let id_args = &args[r.streams_pos + r.nkeys..];
    // Resolve IDs (`$` = current last ID, `+` = last entry) before reading anything; each
    // start is "entries after this ID" (`None`: nothing to read from that stream now).
    let mut starts: Vec<Option<StreamId>> = Vec::with_capacity(keys.len());
    // The IDs a re-run after blocking uses: `$` and `+` become the last ID seen now.
    let mut rerun_ids: Vec<Bytes> = Vec::with_capacity(keys.len());
    let mut rewritten = false;
    for (key, id_arg) in keys.iter().zip(id_args) {
        let last_id = ctx.db.stream(key)?.map_or(StreamId::MIN, |s| s.last_id);
        if &id_arg[..] == b"$" {
            rewritten = true;
            starts.push(Some(last_id));
            rerun_ids.push(id_bytes(last_id));
        } else if &id_arg[..] == b"+" {
            // Redis 7.4: the last entry itself.
            rewritten = true;
            starts.push(ctx.db.stream(key)?.and_then(|s| s.entries.keys().next_back().and_then(|id| id.prev())));
            rerun_ids.push(id_bytes(last_id));
        } else if &id_arg[..] == b">" {
            return Err(CommandError::err(
                "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else {
            starts.push(Some(parse_id(id_arg, 0, false)?));
            rerun_ids.push(id_arg.clone());
        }
    }
    let mut out = Vec::new();
    for (key, start) in keys.iter().zip(&starts) {
        let Some(s) = ctx.db.stream(key)? else { continue };
        let Some(from) = start.and_then(|after| after.next()) else { continue };
        let items = range(s, from, StreamId::MAX, r.count, false);
        if items.is_empty() {
            continue;
        }
        out.push((key.clone(), Reply::Array(items.into_iter().map(|(id, f)| entry_reply(id, f)).collect())));
    }
    if !out.is_empty() {
        return Ok(streams_reply(ctx.client.protocol, out));
    }
    let rerun = rewritten.then(|| {
        let mut argv = args[..r.streams_pos + r.nkeys].to_vec();
        argv.extend(rerun_ids);
        argv
    });
    block_or_nil(ctx, &r, keys.to_vec(), rerun)
}

/// Records a delivery of `id` to `consumer` in the group PEL (moving it from another
/// consumer if needed) and returns the XCLAIM that replicates it.
fn deliver(
    g: &mut ConsumerGroup,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    id: StreamId,
    now: u64,
    history: bool,
) -> Vec<Bytes> {
    let previous = g.pel.get(&id).map(|p| (p.consumer.clone(), p.delivery_count));
    let count = match (&previous, history) {
        (Some((_, n)), true) => n + 1,
        _ => 1,
    };
    if let Some((owner, _)) = &previous {
        if owner.as_slice() != &consumer[..] {
            if let Some(c) = g.consumers.get_mut(owner) {
                c.pending.remove(&id);
            }
        }
    }
    g.pel.insert(id, PendingEntry { consumer: blob(consumer), delivery_time_ms: now, delivery_count: count });
    if let Some(c) = g.consumers.get_mut(&consumer[..]) {
        c.pending.insert(id);
    }
    xclaim_propagation(key, group, consumer, id, now, count, g.last_id)
}

fn xclaim_propagation(
    key: &Bytes,
    group: &Bytes,
    consumer: &[u8],
    id: StreamId,
    time: u64,
    count: u64,
    last_id: StreamId,
) -> Vec<Bytes> {
    vec![
        b("XCLAIM"),
        key.clone(),
        group.clone(),
        Bytes::copy_from_slice(consumer),
        b("0"),
        id_bytes(id),
        b("TIME"),
        args::int_bytes(time as i64),
        b("RETRYCOUNT"),
        args::int_bytes(count as i64),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        id_bytes(last_id),
    ]
}

fn setid_propagation(key: &Bytes, group: &Bytes, g: &ConsumerGroup) -> Vec<Bytes> {
    vec![
        b("XGROUP"),
        b("SETID"),
        key.clone(),
        group.clone(),
        id_bytes(g.last_id),
        b("ENTRIESREAD"),
        args::int_bytes(g.entries_read.map_or(-1, |n| n as i64)),
    ]
}

/// Creates `consumer` in the group if missing; returns whether it did.
/// The entries and the group XCLAIM/XAUTOCLAIM work on (NOGROUP when the group is missing).
/// Like Redis 7.2 it creates the claiming consumer up front (logged) and marks it seen.
fn claim_target<'a>(
    db: &'a mut keyspace::Db,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    now: u64,
    log: &mut Vec<Vec<Bytes>>,
) -> Result<(&'a std::collections::BTreeMap<StreamId, Fields>, &'a mut ConsumerGroup), CommandError> {
    let Some(s) = db.stream_mut(key, false)? else {
        return Err(no_group_error(key, group));
    };
    let StreamValue { entries, groups, .. } = &mut *s;
    let Some(g) = groups.get_mut(&group[..]) else {
        return Err(no_group_error(key, group));
    };
    if ensure_consumer(g, consumer, now) {
        log.push(vec![b("XGROUP"), b("CREATECONSUMER"), key.clone(), group.clone(), consumer.clone()]);
    }
    if let Some(c) = g.consumers.get_mut(&consumer[..]) {
        c.seen_time_ms = now;
    }
    Ok((entries, g))
}

fn ensure_consumer(g: &mut ConsumerGroup, consumer: &[u8], now: u64) -> bool {
    if g.consumers.contains_key(consumer) {
        return false;
    }
    g.consumers.insert(blob(consumer), Consumer { seen_time_ms: now, active_time_ms: None, ..Consumer::default() });
    true
}

fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let r = parse_read_args(args, true)?;
    let Some((group, consumer)) = r.group.clone() else {
        return Err(CommandError::Syntax);
    };
    let keys = &args[r.streams_pos..r.streams_pos + r.nkeys];
    let id_args = &args[r.streams_pos + r.nkeys..];
    // None = `>`.
    let mut wanted: Vec<Option<StreamId>> = Vec::with_capacity(keys.len());
    for id_arg in id_args {
        if &id_arg[..] == b">" {
            wanted.push(None);
        } else if &id_arg[..] == b"$" {
            return Err(CommandError::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        } else {
            wanted.push(Some(parse_id(id_arg, 0, false)?));
        }
    }
    for key in keys {
        let exists = ctx.db.stream(key)?.is_some_and(|s| s.groups.contains_key(&group[..]));
        if !exists {
            return Err(CommandError::Other(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&group)
            )));
        }
    }
    // Serve only if something is there: a `>` read of a stream without new entries must
    // not touch the key (no change, nothing logged) so that the client can block.
    let mut any = false;
    for (key, want) in keys.iter().zip(&wanted) {
        let Some(s) = ctx.db.stream(key)? else { continue };
        let Some(g) = s.groups.get(&group[..]) else { continue };
        match want {
            Some(_) => any = true,
            None => {
                if g.last_id.next().is_some_and(|from| s.entries.range(from..).next().is_some()) {
                    any = true;
                }
            }
        }
    }
    if !any {
        return block_or_nil(ctx, &r, keys.to_vec(), None);
    }
    let now = ctx.now_ms();
    let mut log: Vec<Vec<Bytes>> = Vec::new();
    let mut out = Vec::new();
    for (key, want) in keys.iter().zip(&wanted) {
        let Some(s) = ctx.db.stream_mut(key, false)? else { continue };
        let limit = if r.count == 0 { usize::MAX } else { r.count };
        // What a `>` read delivers and the group's entries_read afterwards, computed on the
        // whole stream before borrowing its parts.
        let fresh: Option<(Vec<StreamId>, Option<u64>)> = match (want, s.groups.get(&group[..])) {
            (None, Some(g)) => {
                let ids: Vec<StreamId> = match g.last_id.next() {
                    Some(from) => s.entries.range(from..).take(limit).map(|(id, _)| *id).collect(),
                    None => Vec::new(),
                };
                let mut read = g.entries_read;
                for id in &ids {
                    read = match read {
                        Some(n) if !s.range_has_tombstones(*id) => Some(n + 1),
                        _ if s.entries_added > 0 => s.estimate_entries_read(*id),
                        other => other,
                    };
                }
                Some((ids, read))
            }
            _ => None,
        };
        let StreamValue { entries, groups, .. } = &mut *s;
        let Some(g) = groups.get_mut(&group[..]) else { continue };
        if ensure_consumer(g, &consumer, now) {
            log.push(vec![b("XGROUP"), b("CREATECONSUMER"), key.clone(), group.clone(), consumer.clone()]);
        }
        if let Some(c) = g.consumers.get_mut(&consumer[..]) {
            c.seen_time_ms = now;
        }
        let mut items = Vec::new();
        match (want, fresh) {
            (None, Some((ids, read))) => {
                let Some(&last) = ids.last() else { continue };
                for id in &ids {
                    if let Some(f) = entries.get(id) {
                        items.push(entry_reply(*id, f));
                    }
                }
                g.last_id = last;
                g.entries_read = read;
                if !r.noack {
                    for id in &ids {
                        log.push(deliver(g, key, &group, &consumer, *id, now, false));
                    }
                }
                if let Some(c) = g.consumers.get_mut(&consumer[..]) {
                    c.active_time_ms = Some(now);
                }
                log.push(setid_propagation(key, &group, g));
            }
            (None, None) => continue,
            (Some(after), _) => {
                let ids: Vec<StreamId> = match (g.consumers.get(&consumer[..]), after.next()) {
                    (Some(c), Some(from)) => c.pending.range(from..).take(limit).copied().collect(),
                    _ => Vec::new(),
                };
                for id in ids {
                    match entries.get(&id) {
                        Some(f) => {
                            items.push(entry_reply(id, f));
                            log.push(deliver(g, key, &group, &consumer, id, now, true));
                        }
                        // Deleted since delivery: reported with no fields, left as it is.
                        None => items.push(Reply::Array(vec![id_bulk(id), Reply::NilArray])),
                    }
                }
            }
        }
        out.push((key.clone(), Reply::Array(items)));
    }
    if out.is_empty() {
        return block_or_nil(ctx, &r, keys.to_vec(), None);
    }
    ctx.propagate = if log.is_empty() { Propagate::Nothing } else { Propagate::Rewrite(log) };
    Ok(streams_reply(ctx.client.protocol, out))
}

// ----- XGROUP ---------------------------------------------------------------------------------

fn subcommand_arity_error(sub: &str) -> CommandError {
    CommandError::Other(format!("ERR wrong number of arguments for 'xgroup|{sub}' command"))
}

fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = args::lower_name(&args[1]);
    let (min, max) = match sub.as_str() {
        "help" => return Ok(help(XGROUP_HELP)),
        "create" => (5, 8),
        "setid" => (5, 7),
        "destroy" => (4, 4),
        "createconsumer" | "delconsumer" => (5, 5),
        _ => {
            return Err(CommandError::err(format!(
                "unknown subcommand '{}'. Try XGROUP HELP.",
                String::from_utf8_lossy(&args[1])
            )))
        }
    };
    if args.len() < min || args.len() > max {
        return Err(subcommand_arity_error(&sub));
    }
    let syntax = || {
        CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
            String::from_utf8_lossy(&args[1])
        ))
    };
    let key = &args[2];
    let group = &args[3];
    // Options of CREATE and SETID.
    let mut mkstream = false;
    let mut entries_read: Option<Option<u64>> = None;
    if sub == "create" || sub == "setid" {
        let mut i = 5;
        while i < args.len() {
            if sub == "create" && is(&args[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if is(&args[i], "ENTRIESREAD") && i + 1 < args.len() {
                let n = args::int(&args[i + 1])?;
                if n < -1 {
                    return Err(CommandError::err("value for ENTRIESREAD must be positive or -1"));
                }
                entries_read = Some((n >= 0).then_some(n as u64));
                i += 2;
            } else {
                return Err(syntax());
            }
        }
    }
    let exists = ctx.db.stream(key)?.is_some();
    if !(exists || (sub == "create" && mkstream)) {
        return Err(CommandError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
    }
    let now = ctx.now_ms();
    match sub.as_str() {
        "create" => {
            let id_arg = &args[4][..];
            let s = ctx.db.stream(key)?;
            let id = if id_arg == b"$" { s.map_or(StreamId::MIN, |s| s.last_id) } else { parse_id(id_arg, 0, true)? };
            if s.is_some_and(|s| s.groups.contains_key(&group[..])) {
                return Err(CommandError::Other("BUSYGROUP Consumer Group name already exists".into()));
            }
            let Some(s) = ctx.db.stream_mut(key, true)? else {
                return Err(CommandError::NoSuchKey);
            };
            let read = entries_read.unwrap_or(None);
            s.groups.insert(blob(group), ConsumerGroup { last_id: id, entries_read: read, ..ConsumerGroup::default() });
            if id_arg == b"$" {
                // Log the concrete ID: `$` depends on the stream at the time.
                let mut argv = vec![args[0].clone(), args[1].clone(), key.clone(), group.clone(), id_bytes(id)];
                argv.extend(args[5..].iter().cloned());
                ctx.propagate = Propagate::Rewrite(vec![argv]);
            }
            Ok(Reply::ok())
        }
        "setid" => {
            let id_arg = &args[4][..];
            let s = ctx.db.stream(key)?;
            let id = if id_arg == b"$" { s.map_or(StreamId::MIN, |s| s.last_id) } else { parse_id(id_arg, 0, true)? };
            if !s.is_some_and(|s| s.groups.contains_key(&group[..])) {
                return Err(no_group_for_key(key, group));
            }
            let Some(s) = ctx.db.stream_mut(key, false)? else {
                return Err(CommandError::NoSuchKey);
            };
            if let Some(g) = s.groups.get_mut(&group[..]) {
                g.last_id = id;
                g.entries_read = entries_read.unwrap_or(None);
            }
            if id_arg == b"$" {
                let mut argv = vec![args[0].clone(), args[1].clone(), key.clone(), group.clone(), id_bytes(id)];
                argv.extend(args[5..].iter().cloned());
                ctx.propagate = Propagate::Rewrite(vec![argv]);
            }
            Ok(Reply::ok())
        }
        "destroy" => {
            if !ctx.db.stream(key)?.is_some_and(|s| s.groups.contains_key(&group[..])) {
                ctx.propagate = Propagate::Nothing;
                return Ok(Reply::Integer(0));
            }
            if let Some(s) = ctx.db.stream_mut(key, false)? {
                s.groups.remove(&group[..]);
            }
            Ok(Reply::Integer(1))
        }
        "createconsumer" => {
            let Some(g) = ctx.db.stream(key)?.and_then(|s| s.groups.get(&group[..])) else {
                return Err(no_group_for_key(key, group));
            };
            if g.consumers.contains_key(&args[4][..]) {
                ctx.propagate = Propagate::Nothing;
                return Ok(Reply::Integer(0));
            }
            let Some(g) = ctx.db.stream_mut(key, false)?.and_then(|s| s.groups.get_mut(&group[..])) else {
                return Err(no_group_for_key(key, group));
            };
            ensure_consumer(g, &args[4], now);
            Ok(Reply::Integer(1))
        }
        _ => {
            // delconsumer
            let Some(g) = ctx.db.stream(key)?.and_then(|s| s.groups.get(&group[..])) else {
                return Err(no_group_for_key(key, group));
            };
            if !g.consumers.contains_key(&args[4][..]) {
                ctx.propagate = Propagate::Nothing;
                return Ok(Reply::Integer(0));
            }
            let Some(g) = ctx.db.stream_mut(key, false)?.and_then(|s| s.groups.get_mut(&group[..])) else {
                return Err(no_group_for_key(key, group));
            };
            let Some(c) = g.consumers.remove(&args[4][..]) else {
                return Ok(Reply::Integer(0));
            };
            for id in &c.pending {
                g.pel.remove(id);
            }
            Ok(Reply::Integer(c.pending.len() as i64))
        }
    }
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn help(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::Status(Bytes::copy_from_slice(l.as_bytes()))).collect())
}

// ----- XACK / XPENDING ------------------------------------------------------------------------

fn xack(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let ids = args[3..].iter().map(|a| parse_id(a, 0, false)).collect::<Result<Vec<_>, _>>()?;
    let group = &args[2][..];
    let Some(g) = ctx.db.stream(&args[1])?.and_then(|s| s.groups.get(group)) else {
        return Ok(Reply::Integer(0));
    };
    if !ids.iter().any(|id| g.pel.contains_key(id)) {
        ctx.propagate = Propagate::Nothing;
        return Ok(Reply::Integer(0));
    }
    let Some(g) = ctx.db.stream_mut(&args[1], false)?.and_then(|s| s.groups.get_mut(group)) else {
        return Ok(Reply::Integer(0));
    };
    let mut acked = 0;
    for id in ids {
        if let Some(p) = g.pel.remove(&id) {
            if let Some(c) = g.consumers.get_mut(&p.consumer) {
                c.pending.remove(&id);
            }
            acked += 1;
        }
    }
    Ok(Reply::Integer(acked))
}

fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let justinfo = args.len() == 3;
    if !justinfo && args.len() < 6 {
        return Err(CommandError::Syntax);
    }
    let mut min_idle: Option<u64> = None;
    let mut i = 3;
    if !justinfo && is(&args[3], "IDLE") {
        min_idle = Some(args::int(&args[4])?.max(0) as u64);
        if args.len() < 8 {
            return Err(CommandError::Syntax);
        }
        i += 2;
    }
    let mut bounds = None;
    let mut consumer: Option<&Bytes> = None;
    if !justinfo {
        let start = parse_interval(&args[i], true)?;
        let end = parse_interval(&args[i + 1], false)?;
        let count = args::int(&args[i + 2])?.max(0) as usize;
        if args.len() > i + 4 {
            return Err(CommandError::Syntax);
        }
        consumer = args.get(i + 3);
        bounds = Some((start, end, count));
    }
    let now = ctx.now_ms();
    let Some(g) = ctx.db.stream(&args[1])?.and_then(|s| s.groups.get(&args[2][..])) else {
        return Err(no_group_error(&args[1], &args[2]));
    };
    let Some((start, end, count)) = bounds else {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![Reply::Integer(0), Reply::Nil, Reply::Nil, Reply::NilArray]));
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let per_consumer = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![Reply::bulk(name), Reply::Bulk(args::int_bytes(c.pending.len() as i64))])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Integer(g.pel.len() as i64),
            id_bulk(first),
            id_bulk(last),
            Reply::Array(per_consumer),
        ]));
    };
    if start > end || count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(name) => match g.consumers.get(&name[..]) {
            Some(c) => Box::new(c.pending.range(start..=end).copied()),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None => Box::new(g.pel.range(start..=end).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    for id in ids {
        if out.len() >= count {
            break;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        let idle = now.saturating_sub(p.delivery_time_ms);
        if min_idle.is_some_and(|m| idle < m) {
            continue;
        }
        out.push(Reply::Array(vec![
            id_bulk(id),
            Reply::bulk(&p.consumer),
            Reply::Integer(idle as i64),
            Reply::Integer(p.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

// ----- XCLAIM / XAUTOCLAIM --------------------------------------------------------------------

/// Moves a pending entry to `consumer` as XCLAIM does; returns the XCLAIM that replicates it.
#[allow(clippy::too_many_arguments)]
fn claim(
    g: &mut ConsumerGroup,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    id: StreamId,
    time: u64,
    retry: Option<u64>,
    justid: bool,
    now: u64,
) -> Vec<Bytes> {
    ensure_consumer(g, consumer, now);
    let Some(p) = g.pel.get_mut(&id) else {
        return Vec::new();
    };
    let old = std::mem::replace(&mut p.consumer, blob(consumer));
    p.delivery_time_ms = time;
    if let Some(n) = retry {
        p.delivery_count = n;
    } else if !justid {
        p.delivery_count += 1;
    }
    let count = p.delivery_count;
    if old.as_slice() != &consumer[..] {
        if let Some(c) = g.consumers.get_mut(&old) {
            c.pending.remove(&id);
        }
    }
    if let Some(c) = g.consumers.get_mut(&consumer[..]) {
        c.pending.insert(id);
        c.active_time_ms = Some(now);
    }
    xclaim_propagation(key, group, consumer, id, time, count, g.last_id)
}

/// Drops the pending entry of a deleted stream entry; returns the XCLAIM that replicates it
/// (an XCLAIM of a missing entry removes it from the PEL, as in Redis).
fn drop_deleted(g: &mut ConsumerGroup, key: &Bytes, group: &Bytes, id: StreamId) -> Option<Vec<Bytes>> {
    let p = g.pel.remove(&id)?;
    if let Some(c) = g.consumers.get_mut(&p.consumer) {
        c.pending.remove(&id);
    }
    Some(xclaim_propagation(key, group, &p.consumer, id, p.delivery_time_ms, p.delivery_count, g.last_id))
}

fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = args::parse_i64(&args[4])
        .ok_or_else(|| CommandError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0) as u64;
    let mut j = 5;
    let mut ids = Vec::new();
    while j < args.len() {
        match StreamId::parse(&args[j], 0) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now_ms();
    let mut time: Option<i64> = None;
    let mut retry: Option<u64> = None;
    let (mut force, mut justid) = (false, false);
    let mut last_id: Option<StreamId> = None;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j][..];
        if is(a, "FORCE") {
            force = true;
        } else if is(a, "JUSTID") {
            justid = true;
        } else if is(a, "IDLE") && more > 0 {
            j += 1;
            let idle = args::parse_i64(&args[j])
                .ok_or_else(|| CommandError::err("Invalid IDLE option argument for XCLAIM"))?;
            time = Some(now as i64 - idle);
        } else if is(a, "TIME") && more > 0 {
            j += 1;
            time = Some(
                args::parse_i64(&args[j])
                    .ok_or_else(|| CommandError::err("Invalid TIME option argument for XCLAIM"))?,
            );
        } else if is(a, "RETRYCOUNT") && more > 0 {
            j += 1;
            let n = args::parse_i64(&args[j])
                .ok_or_else(|| CommandError::err("Invalid RETRYCOUNT option argument for XCLAIM"))?;
            retry = Some(n.max(0) as u64);
        } else if is(a, "LASTID") && more > 0 {
            j += 1;
            last_id = Some(parse_id(&args[j], 0, false)?);
        } else {
            return Err(CommandError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(&args[j])
            )));
        }
        j += 1;
    }
    let time = match time {
        Some(t) if t >= 0 && (t as u64) <= now => t as u64,
        _ => now,
    };
    if !ctx.db.stream(key)?.is_some_and(|s| s.groups.contains_key(&group[..])) {
        return Err(no_group_error(key, group));
    }
    let mut log = Vec::new();
    let (entries, g) = claim_target(ctx.db, key, group, consumer, now, &mut log)?;
    let mut propagate_last_id = false;
    if let Some(l) = last_id {
        if l > g.last_id {
            g.last_id = l;
            propagate_last_id = true;
        }
    }
    let mut out = Vec::new();
    for id in ids {
        let Some(fields) = entries.get(&id) else {
            if let Some(rec) = drop_deleted(g, key, group, id) {
                log.push(rec);
                propagate_last_id = false;
            }
            continue;
        };
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(id, PendingEntry { consumer: Blob::new(), delivery_time_ms: now, delivery_count: 0 });
        }
        let Some(p) = g.pel.get(&id) else { continue };
        if min_idle > 0 && now.saturating_sub(p.delivery_time_ms) < min_idle {
            continue;
        }
        log.push(claim(g, key, group, consumer, id, time, retry, justid, now));
        out.push(if justid { id_bulk(id) } else { entry_reply(id, fields) });
        propagate_last_id = false;
    }
    if propagate_last_id {
        log.push(setid_propagation(key, group, g));
    }
    ctx.propagate = if log.is_empty() { Propagate::Nothing } else { Propagate::Rewrite(log) };
    Ok(Reply::Array(out))
}

fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = args::parse_i64(&args[4])
        .ok_or_else(|| CommandError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0) as u64;
    let start = parse_interval(&args[5], true)?;
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        if is(&args[j], "COUNT") && j + 1 < args.len() {
            let n = args::parse_i64(&args[j + 1]).ok_or(CommandError::NotInteger)?;
            if !(1..=i64::MAX / 10).contains(&n) {
                return Err(CommandError::err("COUNT must be > 0"));
            }
            count = n as u64;
            j += 2;
        } else if is(&args[j], "JUSTID") {
            justid = true;
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if !ctx.db.stream(key)?.is_some_and(|s| s.groups.contains_key(&group[..])) {
        return Err(no_group_error(key, group));
    }
    let now = ctx.now_ms();
    let mut log = Vec::new();
    let (entries, g) = claim_target(ctx.db, key, group, consumer, now, &mut log)?;
    let mut attempts = count.saturating_mul(10);
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let candidates: Vec<StreamId> = g.pel.range(start..).map(|(id, _)| *id).take(attempts as usize).collect();
    let mut next = StreamId::MIN;
    let mut examined = 0;
    for id in &candidates {
        if attempts == 0 || claimed.len() as u64 >= count {
            break;
        }
        attempts -= 1;
        examined += 1;
        let Some(fields) = entries.get(id) else {
            if let Some(rec) = drop_deleted(g, key, group, *id) {
                log.push(rec);
            }
            deleted.push(id_bulk(*id));
            continue;
        };
        let Some(p) = g.pel.get(id) else { continue };
        if min_idle > 0 && now.saturating_sub(p.delivery_time_ms) < min_idle {
            continue;
        }
        log.push(claim(g, key, group, consumer, *id, now, None, justid, now));
        claimed.push(if justid { id_bulk(*id) } else { entry_reply(*id, fields) });
    }
    // The cursor is the next pending ID after the last one examined (0-0 at the end).
    if let Some(last) = candidates.get(examined.max(1) - 1) {
        if examined > 0 {
            if let Some(after) = last.next() {
                next = g.pel.range(after..).next().map_or(StreamId::MIN, |(id, _)| *id);
            }
        }
    }
    ctx.propagate = if log.is_empty() { Propagate::Nothing } else { Propagate::Rewrite(log) };
    Ok(Reply::Array(vec![id_bulk(next), Reply::Array(claimed), Reply::Array(deleted)]))
}

// ----- XINFO ----------------------------------------------------------------------------------

fn map(pairs: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(pairs.into_iter().map(|(k, v)| (Reply::bulk(k.as_bytes()), v)).collect())
}

fn opt_int(v: Option<u64>) -> Reply {
    v.map_or(Reply::Nil, |n| Reply::Integer(n as i64))
}

fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = args::lower_name(&args[1]);
    let arity_err = || CommandError::Other(format!("ERR wrong number of arguments for 'xinfo|{sub}' command"));
    match sub.as_str() {
        "help" => return Ok(help(XINFO_HELP)),
        "consumers" if args.len() != 4 => return Err(arity_err()),
        "groups" if args.len() != 3 => return Err(arity_err()),
        "stream" if args.len() < 3 => return Err(arity_err()),
        "consumers" | "groups" | "stream" => {}
        _ => {
            return Err(CommandError::err(format!(
                "unknown subcommand '{}'. Try XINFO HELP.",
                String::from_utf8_lossy(&args[1])
            )))
        }
    }
    let now = ctx.now_ms();
    let Some(s) = ctx.db.stream(&args[2])? else {
        return Err(CommandError::NoSuchKey);
    };
    match sub.as_str() {
        "consumers" => {
            let Some(g) = s.groups.get(&args[3][..]) else {
                return Err(no_group_for_key(&args[2], &args[3]));
            };
            Ok(Reply::Array(
                g.consumers
                    .iter()
                    .map(|(name, c)| {
                        map(vec![
                            ("name", Reply::bulk(name)),
                            ("pending", Reply::Integer(c.pending.len() as i64)),
                            ("idle", Reply::Integer(now.saturating_sub(c.seen_time_ms) as i64)),
                            (
                                "inactive",
                                c.active_time_ms
                                    .map_or(Reply::Integer(-1), |t| Reply::Integer(now.saturating_sub(t) as i64)),
                            ),
                        ])
                    })
                    .collect(),
            ))
        }
        "groups" => Ok(Reply::Array(
            s.groups
                .iter()
                .map(|(name, g)| {
                    map(vec![
                        ("name", Reply::bulk(name)),
                        ("consumers", Reply::Integer(g.consumers.len() as i64)),
                        ("pending", Reply::Integer(g.pel.len() as i64)),
                        ("last-delivered-id", id_bulk(g.last_id)),
                        ("entries-read", opt_int(g.entries_read)),
                        ("lag", s.lag(g).map_or(Reply::Nil, Reply::Integer)),
                    ])
                })
                .collect(),
        )),
        _ => xinfo_stream(s, &args[1], &args[3..], now),
    }
}

fn xinfo_stream(s: &StreamValue, sub: &[u8], opts: &[Bytes], now: u64) -> CommandResult {
    let _ = now;
    let syntax = || {
        CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(sub)
        ))
    };
    let mut full = false;
    let mut count: usize = 10;
    let mut i = 0;
    while i < opts.len() {
        if is(&opts[i], "FULL") && i == 0 {
            full = true;
            i += 1;
        } else if full && is(&opts[i], "COUNT") && i + 1 < opts.len() {
            count = args::int(&opts[i + 1])?.max(0) as usize;
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let nodes = s.node_count() as i64;
    let mut pairs = vec![
        ("length", Reply::Integer(s.len() as i64)),
        ("radix-tree-keys", Reply::Integer(nodes)),
        ("radix-tree-nodes", Reply::Integer(nodes + 1)),
        ("last-generated-id", id_bulk(s.last_id)),
        ("max-deleted-entry-id", id_bulk(s.max_deleted_id)),
        ("entries-added", Reply::Integer(s.entries_added as i64)),
        ("recorded-first-entry-id", id_bulk(s.first_id())),
    ];
    if !full {
        pairs.push(("groups", Reply::Integer(s.groups.len() as i64)));
        let first = s.entries.iter().next().map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        let last = s.entries.iter().next_back().map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        pairs.push(("first-entry", first));
        pairs.push(("last-entry", last));
        return Ok(map(pairs));
    }
    let limit = if count == 0 { usize::MAX } else { count };
    pairs.push(("entries", Reply::Array(s.entries.iter().take(limit).map(|(id, f)| entry_reply(*id, f)).collect())));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pel = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_bulk(*id),
                        Reply::bulk(&p.consumer),
                        Reply::Integer(p.delivery_time_ms as i64),
                        Reply::Integer(p.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pending
                        .iter()
                        .take(limit)
                        .filter_map(|id| g.pel.get(id).map(|p| (id, p)))
                        .map(|(id, p)| {
                            Reply::Array(vec![
                                id_bulk(*id),
                                Reply::Integer(p.delivery_time_ms as i64),
                                Reply::Integer(p.delivery_count as i64),
                            ])
                        })
                        .collect();
                    map(vec![
                        ("name", Reply::bulk(cname)),
                        ("seen-time", Reply::Integer(c.seen_time_ms as i64)),
                        ("active-time", c.active_time_ms.map_or(Reply::Integer(-1), |t| Reply::Integer(t as i64))),
                        ("pel-count", Reply::Integer(c.pending.len() as i64)),
                        ("pending", Reply::Array(pending)),
                    ])
                })
                .collect();
            map(vec![
                ("name", Reply::bulk(name)),
                ("last-delivered-id", id_bulk(g.last_id)),
                ("entries-read", opt_int(g.entries_read)),
                ("lag", s.lag(g).map_or(Reply::Nil, Reply::Integer)),
                ("pel-count", Reply::Integer(g.pel.len() as i64)),
                ("pending", Reply::Array(pel)),
                ("consumers", Reply::Array(consumers)),
            ])
        })
        .collect();
    pairs.push(("groups", Reply::Array(groups)));
    Ok(map(pairs))
}

#[cfg(test)]
mod tests {
    use crate::testing::{arr, bulk, err, int, ok, TestClient};
    use resp::Reply;

    fn entry(id: &str, fields: &[&str]) -> Reply {
        Reply::Array(vec![bulk(id), arr(fields)])
    }

    #[test]
    fn xadd_generates_ids_and_logs_them() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1000);
        assert_eq!(c.cmd(&["XADD", "s", "*", "a", "1"]), bulk("1000-0"));
        assert_eq!(c.cmd(&["XADD", "s", "*", "a", "2"]), bulk("1000-1"));
        assert_eq!(c.cmd(&["XADD", "s", "1000-*", "a", "3"]), bulk("1000-2"));
        assert_eq!(c.cmd(&["XADD", "s", "2000", "a", "4"]), bulk("2000-0"));
        assert!(err("ERR The ID specified in XADD is equal or smaller")(&c.cmd(&["XADD", "s", "2000-0", "a", "5"])));
        assert!(err("ERR The ID specified in XADD must be greater than 0-0")(&c.cmd(&["XADD", "t", "0-0", "a", "5"])));
        assert!(!matches!(c.cmd(&["EXISTS", "t"]), Reply::Integer(1)));
        assert_eq!(c.cmd(&["XADD", "n", "NOMKSTREAM", "*", "a", "1"]), Reply::Nil);
        assert!(err("ERR wrong number of arguments for 'xadd'")(&c.cmd(&["XADD", "s", "*", "a"])));
        let log = c.change_log();
        assert_eq!(log[0], vec!["XADD", "s", "1000-0", "a", "1"]);
        assert_eq!(log[2], vec!["XADD", "s", "1000-2", "a", "3"]);
        assert_eq!(log[3], vec!["XADD", "s", "2000", "a", "4"]);
        assert_eq!(log.len(), 4);
    }

    #[test]
    fn approximate_trim_is_logged_as_its_exact_effect() {
        let mut c = TestClient::new();
        for i in 1..=150 {
            c.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
        }
        assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "~", "120"]), int(0));
        assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "~", "10"]), int(100));
        assert_eq!(c.cmd(&["XADD", "s", "MAXLEN", "~", "1", "151-0", "f", "v"]), bulk("151-0"));
        assert_eq!(c.cmd(&["XLEN", "s"]), int(51));
        assert_eq!(c.cmd(&["XTRIM", "s", "MINID", "140"]), int(39));
        let log = c.change_log();
        let n = log.len();
        assert_eq!(log[n - 3], vec!["XTRIM", "s", "MAXLEN", "=", "50"]);
        assert_eq!(log[n - 2], vec!["XADD", "s", "MAXLEN", "=", "51", "151-0", "f", "v"]);
        assert_eq!(log[n - 1], vec!["XTRIM", "s", "MINID", "140"]);
        assert!(err("ERR syntax error, LIMIT cannot be used without the special ~ option")(
            &c.cmd(&["XTRIM", "s", "MAXLEN", "1", "LIMIT", "2"])
        ));
    }

    #[test]
    fn ranges_and_exclusive_bounds() {
        let mut c = TestClient::new();
        for id in ["1-1", "2-1", "3-1"] {
            c.cmd(&["XADD", "s", id, "k", id]);
        }
        assert_eq!(c.cmd(&["XRANGE", "s", "(1-1", "+", "COUNT", "1"]), Reply::Array(vec![entry("2-1", &["k", "2-1"])]));
        assert_eq!(c.cmd(&["XREVRANGE", "s", "+", "-", "COUNT", "1"]), Reply::Array(vec![entry("3-1", &["k", "3-1"])]));
        assert_eq!(c.cmd(&["XRANGE", "s", "2", "2"]), Reply::Array(vec![entry("2-1", &["k", "2-1"])]));
        assert!(err("ERR invalid end ID for the interval")(&c.cmd(&["XRANGE", "s", "-", "(0-0"])));
        assert_eq!(c.cmd(&["XDEL", "s", "2-1", "9-9"]), int(1));
        assert_eq!(c.cmd(&["XLEN", "s"]), int(2));
        assert_eq!(c.cmd(&["SET", "x", "1"]), ok());
        assert!(err("WRONGTYPE")(&c.cmd(&["XLEN", "x"])));
    }

    #[test]
    fn xreadgroup_tracks_pending_entries_and_logs_claims() {
        let mut c = TestClient::new();
        c.clock_ms = Some(5000);
        c.cmd(&["XADD", "s", "1-1", "a", "1"]);
        c.cmd(&["XADD", "s", "2-1", "b", "2"]);
        assert_eq!(c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]), ok());
        let r = c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">"]);
        assert_eq!(r, Reply::Array(vec![Reply::Array(vec![bulk("s"), Reply::Array(vec![entry("1-1", &["a", "1"])])])]));
        let log = c.change_log();
        let n = log.len();
        assert_eq!(log[n - 3], vec!["XGROUP", "CREATECONSUMER", "s", "g", "alice"]);
        assert_eq!(
            log[n - 2],
            vec![
                "XCLAIM",
                "s",
                "g",
                "alice",
                "0",
                "1-1",
                "TIME",
                "5000",
                "RETRYCOUNT",
                "1",
                "FORCE",
                "JUSTID",
                "LASTID",
                "1-1"
            ]
        );
        assert_eq!(log[n - 1], vec!["XGROUP", "SETID", "s", "g", "1-1", "ENTRIESREAD", "1"]);
        c.clock_ms = Some(6000);
        let p = c.cmd(&["XPENDING", "s", "g", "-", "+", "10"]);
        assert_eq!(p, Reply::Array(vec![Reply::Array(vec![bulk("1-1"), bulk("alice"), int(1000), int(1)])]));
        // History read: delivery count goes up.
        c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]);
        let p = c.cmd(&["XPENDING", "s", "g", "-", "+", "10", "alice"]);
        assert_eq!(p, Reply::Array(vec![Reply::Array(vec![bulk("1-1"), bulk("alice"), int(0), int(2)])]));
        c.clock_ms = Some(9000);
        let claimed = c.cmd(&["XCLAIM", "s", "g", "bob", "1000", "1-1", "JUSTID"]);
        assert_eq!(claimed, arr(&["1-1"]));
        assert_eq!(c.cmd(&["XACK", "s", "g", "1-1", "1-1"]), int(1));
        assert_eq!(c.cmd(&["XPENDING", "s", "g"]), Reply::Array(vec![int(0), Reply::Nil, Reply::Nil, Reply::NilArray]));
        assert!(err("NOGROUP")(&c.cmd(&["XREADGROUP", "GROUP", "nog", "a", "STREAMS", "s", ">"])));
    }

    #[test]
    fn blocking_reads_ask_to_block_with_the_concrete_id() {
        let mut c = TestClient::new();
        c.cmd(&["XADD", "s", "7-1", "a", "1"]);
        let (_, block) = c.run(&[b"XREAD", b"BLOCK", b"100", b"STREAMS", b"s", b"$"]);
        let block = block.expect("nothing new: XREAD blocks");
        assert_eq!(block.timeout, Some(std::time::Duration::from_millis(100)));
        assert_eq!(block.timeout_reply, Reply::NilArray);
        let rerun: Vec<&[u8]> = block.rerun_args.as_ref().expect("$ is replaced").iter().map(|a| &a[..]).collect();
        assert_eq!(rerun, vec![&b"XREAD"[..], b"BLOCK", b"100", b"STREAMS", b"s", b"7-1"]);
        c.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
        let (_, block) = c.run(&[b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]);
        assert_eq!(block.map(|b| b.timeout), Some(None));
        // Without BLOCK: a null array at once.
        assert_eq!(c.cmd(&["XREAD", "STREAMS", "s", "$"]), Reply::NilArray);
    }

    #[test]
    fn xautoclaim_reports_deleted_entries() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1000);
        for id in ["1-1", "2-1", "3-1"] {
            c.cmd(&["XADD", "s", id, "k", "v"]);
        }
        c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
        c.cmd(&["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"]);
        c.cmd(&["XDEL", "s", "2-1"]);
        c.clock_ms = Some(3000);
        let r = c.cmd(&["XAUTOCLAIM", "s", "g", "b", "1000", "0", "COUNT", "1", "JUSTID"]);
        assert_eq!(r, Reply::Array(vec![bulk("2-1"), arr(&["1-1"]), arr(&[])]));
        let r = c.cmd(&["XAUTOCLAIM", "s", "g", "b", "1000", "2-1", "JUSTID"]);
        assert_eq!(r, Reply::Array(vec![bulk("0-0"), arr(&["3-1"]), arr(&["2-1"])]));
        assert_eq!(c.cmd(&["XGROUP", "DELCONSUMER", "s", "g", "b"]), int(2));
        assert_eq!(c.cmd(&["XPENDING", "s", "g"]), Reply::Array(vec![int(0), Reply::Nil, Reply::Nil, Reply::NilArray]));
    }
}
