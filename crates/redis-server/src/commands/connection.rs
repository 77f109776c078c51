//! Connection commands: AUTH, HELLO, PING, ECHO, QUIT, RESET, SELECT, CLIENT.

use crate::args::{int, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{Ctx, ReplyMode};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use resp::{Protocol, Reply};

const F: Flags = Flags::FAST;

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "auth",
        -2,
        Flags::NO_AUTH.union(Flags::FREE).union(F).union(Flags::NOSCRIPT).union(Flags::LOADING).union(Flags::STALE),
        auth,
    ),
    spec(
        "hello",
        -1,
        Flags::NO_AUTH.union(Flags::FREE).union(F).union(Flags::NOSCRIPT).union(Flags::LOADING).union(Flags::STALE),
        hello,
    ),
    spec("ping", -1, Flags::FREE.union(F).union(Flags::SUBSCRIBE_CONTEXT), ping),
    spec("echo", 2, F, echo),
    spec(
        "quit",
        -1,
        Flags::NO_AUTH
            .union(Flags::FREE)
            .union(F)
            .union(Flags::NO_MULTI_QUEUE)
            .union(Flags::SUBSCRIBE_CONTEXT)
            .union(Flags::NOSCRIPT),
        quit,
    ),
    spec(
        "reset",
        1,
        Flags::NO_AUTH
            .union(Flags::FREE)
            .union(F)
            .union(Flags::NO_MULTI_QUEUE)
            .union(Flags::SUBSCRIBE_CONTEXT)
            .union(Flags::NOSCRIPT),
        reset,
    ),
    spec("select", 2, F.union(Flags::LOADING).union(Flags::STALE), select),
    spec("client", -2, Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE), client),
];

const fn spec(name: &'static str, arity: i32, flags: Flags, handler: crate::command::Handler) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::NONE, group: "connection", handler }
}

fn wrongpass() -> CommandError {
    CommandError::Other("WRONGPASS invalid username-password pair or user is disabled.".into())
}

/// Finds the tenant for `AUTH [user] password`; only the `default` user exists.
fn authenticate(ctx: &mut Ctx, user: Option<&[u8]>, password: &[u8]) -> Result<(), CommandError> {
    if let Some(user) = user {
        if user != b"default" {
            return Err(wrongpass());
        }
    }
    let tenant = ctx.node.tenants.by_password(password).ok_or_else(wrongpass)?;
    ctx.client.pending_auth = Some(tenant);
    Ok(())
}

fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    match args.len() {
        2 => authenticate(ctx, None, &args[1])?,
        3 => authenticate(ctx, Some(&args[1]), &args[2])?,
        _ => return Err(CommandError::Syntax),
    }
    Ok(Reply::ok())
}

fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut protocol = ctx.client.protocol;
    let mut i = 1;
    if args.len() > 1 {
        let v = crate::args::parse_i64(&args[1])
            .ok_or_else(|| CommandError::err("Protocol version is not an integer or out of range"))?;
        protocol = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(CommandError::Other("NOPROTO unsupported protocol version".into())),
        };
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        if is(&args[i], "AUTH") && i + 2 < args.len() {
            authenticate(ctx, Some(&args[i + 1]), &args[i + 2])?;
            i += 3;
        } else if is(&args[i], "SETNAME") && i + 1 < args.len() {
            setname = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(CommandError::err(format!(
                "Syntax error in HELLO option '{}'",
                crate::exec::printable(&args[i], 64)
            )));
        }
    }
    if ctx.client.tenant.is_none() && ctx.client.pending_auth.is_none() {
        return Err(CommandError::Other("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    if let Some(name) = setname {
        validate_client_name(&name)?;
        ctx.client.handle.info.lock().name = Some(name);
    }
    ctx.client.protocol = protocol;
    ctx.client.handle.info.lock().protocol = if protocol == Protocol::Resp3 { 3 } else { 2 };
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    Ok(Reply::Map(vec![
        (bulk("server"), bulk("redis")),
        (bulk("version"), bulk(crate::commands::connection::REDIS_VERSION)),
        (bulk("proto"), Reply::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 })),
        (bulk("id"), Reply::Integer(ctx.client.id as i64)),
        (bulk("mode"), bulk("standalone")),
        (bulk("role"), bulk("master")),
        (bulk("modules"), Reply::Array(vec![])),
    ]))
}

/// The Redis version this server reports (clients such as BullMQ check it).
pub const REDIS_VERSION: &str = "7.2.4";

fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() > 2 {
        return Err(CommandError::WrongArity("ping".into()));
    }
    if ctx.client.in_subscribe_mode() {
        let payload = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![Reply::Bulk(Bytes::from_static(b"pong")), Reply::Bulk(payload)]));
    }
    Ok(match args.get(1) {
        Some(msg) => Reply::Bulk(msg.clone()),
        None => Reply::status("PONG"),
    })
}

fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(Reply::Bulk(args[1].clone()))
}

fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    ctx.client.close_after_reply = true;
    Ok(Reply::ok())
}

fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    if let Some(tenant) = ctx.client.tenant.clone() {
        let _ = tenant;
        let watched = std::mem::take(&mut ctx.client.watched);
        ctx.db.unwatch_all(ctx.client.id, &watched);
    }
    ctx.client.multi = None;
    ctx.client.protocol = Protocol::Resp2;
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.pending_reset = true;
    let mut info = ctx.client.handle.info.lock();
    info.name = None;
    info.protocol = 2;
    Ok(Reply::status("RESET"))
}

fn select(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let n = int(&args[1]).map_err(|_| CommandError::err("value is not an integer or out of range"))?;
    if n != 0 {
        return Err(CommandError::err(format!("Only 0th database is supported! Selected DB: {n}")));
    }
    Ok(Reply::ok())
}

fn validate_client_name(name: &[u8]) -> Result<(), CommandError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CommandError::err("Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

/// One line of CLIENT LIST / CLIENT INFO.
fn client_line(c: &crate::context::ClientHandle, now_ms: u64) -> String {
    let info = c.info.lock().clone();
    let name = info.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
    let age = now_ms.saturating_sub(c.created_ms) / 1000;
    let idle = now_ms.saturating_sub(c.last_interaction_ms.load(std::sync::atomic::Ordering::Relaxed)) / 1000;
    let mut flags = String::new();
    if info.in_multi {
        flags.push('x');
    }
    if info.blocked {
        flags.push('b');
    }
    if info.subscriptions + info.patterns > 0 {
        flags.push('P');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let lib = |v: &Option<Bytes>| v.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
    format!(
        "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db=0 sub={} psub={} ssub=0 multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        name,
        age,
        idle,
        flags,
        info.subscriptions,
        info.patterns,
        if info.in_multi { 0 } else { -1 },
        if info.last_command.is_empty() { "NULL" } else { info.last_command },
        info.protocol,
        lib(&info.lib_name),
        lib(&info.lib_ver),
    )
}

fn client(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = crate::args::lower_name(&args[1]);
    let now = crate::context::unix_time_ms();
    match (sub.as_str(), args.len()) {
        ("id", 2) => Ok(Reply::Integer(ctx.client.id as i64)),
        ("getname", 2) => Ok(ctx.client.handle.info.lock().name.clone().map_or(Reply::Nil, Reply::Bulk)),
        ("setname", 3) => {
            validate_client_name(&args[2])?;
            ctx.client.handle.info.lock().name = if args[2].is_empty() { None } else { Some(args[2].clone()) };
            Ok(Reply::ok())
        }
        ("setinfo", 4) => {
            let value = args[3].clone();
            if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
                return Err(CommandError::err(format!(
                    "{} cannot contain spaces, newlines or special characters.",
                    crate::exec::printable(&args[2], 32)
                )));
            }
            let mut info = ctx.client.handle.info.lock();
            if is(&args[2], "LIB-NAME") {
                info.lib_name = Some(value);
            } else if is(&args[2], "LIB-VER") {
                info.lib_ver = Some(value);
            } else {
                return Err(CommandError::err(format!(
                    "Unrecognized option '{}'",
                    crate::exec::printable(&args[2], 32)
                )));
            }
            Ok(Reply::ok())
        }
        ("info", 2) => Ok(Reply::Verbatim(Bytes::from(client_line(&ctx.client.handle, now) + "\n"))),
        ("list", _) => {
            let Some(tenant) = ctx.tenant().cloned() else {
                return Err(CommandError::NoAuth);
            };
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < args.len() {
                if is(&args[i], "TYPE") && i + 1 < args.len() {
                    i += 2;
                } else if is(&args[i], "ID") && i + 1 < args.len() {
                    let mut list = Vec::new();
                    for a in &args[i + 1..] {
                        let v = int(a).map_err(|_| CommandError::err("Invalid client ID"))?;
                        list.push(v as u64);
                    }
                    ids = Some(list);
                    i = args.len();
                } else {
                    return Err(CommandError::Syntax);
                }
            }
            let clients: Vec<_> = tenant.clients.lock().values().cloned().collect();
            let mut clients: Vec<_> =
                clients.into_iter().filter(|c| ids.as_ref().is_none_or(|l| l.contains(&c.id))).collect();
            clients.sort_by_key(|c| c.id);
            let mut out = String::new();
            for c in clients {
                out.push_str(&client_line(&c, now));
                out.push('\n');
            }
            Ok(Reply::Verbatim(Bytes::from(out)))
        }
        ("kill", _) => client_kill(ctx, args),
        ("reply", 3) => {
            ctx.client.reply_mode = if is(&args[2], "ON") {
                ReplyMode::On
            } else if is(&args[2], "OFF") {
                ReplyMode::Off
            } else if is(&args[2], "SKIP") {
                ReplyMode::SkipNext
            } else {
                return Err(CommandError::Syntax);
            };
            Ok(Reply::ok())
        }
        ("no-evict", 3) | ("no-touch", 3) => Ok(Reply::ok()),
        ("help", 2) => Ok(Reply::Array(
            [
                "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
                "ID",
                "GETNAME",
                "SETNAME <name>",
                "SETINFO <option> <value>",
                "INFO",
                "LIST [ID id ...]",
                "KILL <ip:port> | ID <id> | ADDR <ip:port> | LADDR <ip:port> | SKIPME yes|no",
                "REPLY ON|OFF|SKIP",
            ]
            .iter()
            .map(|s| Reply::Status(Bytes::copy_from_slice(s.as_bytes())))
            .collect(),
        )),
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else {
        return Err(CommandError::NoAuth);
    };
    let clients: Vec<_> = tenant.clients.lock().values().cloned().collect();
    if args.len() == 3 {
        // Old form: CLIENT KILL ip:port
        let target = clients.iter().find(|c| c.addr.as_bytes() == args[2].as_ref());
        return match target {
            Some(c) => {
                c.kill();
                Ok(Reply::ok())
            }
            None => Err(CommandError::err("No such client")),
        };
    }
    let mut skipme = true;
    let mut filters: Vec<(String, Bytes)> = Vec::new();
    let mut i = 2;
    while i + 1 < args.len() {
        let key = crate::args::lower_name(&args[i]);
        match key.as_str() {
            "id" | "addr" | "laddr" | "user" | "type" => filters.push((key, args[i + 1].clone())),
            "skipme" => {
                skipme = if is(&args[i + 1], "yes") {
                    true
                } else if is(&args[i + 1], "no") {
                    false
                } else {
                    return Err(CommandError::Syntax);
                }
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 2;
    }
    if i != args.len() {
        return Err(CommandError::Syntax);
    }
    let mut killed = 0;
    for c in clients {
        if skipme && c.id == ctx.client.id {
            continue;
        }
        let matches = filters.iter().all(|(k, v)| match k.as_str() {
            "id" => crate::args::parse_i64(v).is_some_and(|id| id as u64 == c.id),
            "addr" => c.addr.as_bytes() == v.as_ref(),
            "laddr" => c.laddr.as_bytes() == v.as_ref(),
            "user" => v.as_ref() == b"default",
            "type" => is(v, "normal") || (is(v, "pubsub") && c.info.lock().subscriptions > 0),
            _ => false,
        });
        if matches {
            c.kill();
            killed += 1;
        }
    }
    Ok(Reply::Integer(killed))
}
