//! Connection commands: AUTH, HELLO, PING, ECHO, QUIT, RESET, SELECT, CLIENT.

use crate::args::{int, is};
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::{ClientHandle, Ctx, ReplyMode};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use resp::{Protocol, Reply};

const F: Flags = Flags::FAST;

pub static COMMANDS: &[CommandSpec] = &[
    spec(
        "auth",
        -2,
        Flags::NO_AUTH
            .union(Flags::FREE)
            .union(F)
            .union(Flags::NOSCRIPT)
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::ALLOW_BUSY),
        auth,
    ),
    spec(
        "hello",
        -1,
        Flags::NO_AUTH
            .union(Flags::FREE)
            .union(F)
            .union(Flags::NOSCRIPT)
            .union(Flags::LOADING)
            .union(Flags::STALE)
            .union(Flags::ALLOW_BUSY),
        hello,
    ),
    spec("ping", -1, Flags::FREE.union(F).union(Flags::SUBSCRIBE_CONTEXT), ping),
    spec("echo", 2, F, echo),
    spec(
        "quit",
        -1,
        Flags::NO_AUTH
            .union(Flags::ALLOW_BUSY)
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
    reserve_connection(&tenant, &ctx.client.handle)?;
    ctx.client.pending_auth = Some(tenant);
    Ok(())
}

/// Counts the client among the tenant's connections, unless its plan's limit is reached.
/// Check and insert happen under one lock, so concurrent AUTHs cannot pass the limit.
fn reserve_connection(
    tenant: &std::sync::Arc<crate::tenant::Tenant>,
    handle: &std::sync::Arc<crate::context::ClientHandle>,
) -> Result<(), CommandError> {
    let max = tenant.limits.read().max_connections;
    let mut clients = tenant.clients.lock();
    if clients.contains_key(&handle.id) {
        return Ok(());
    }
    let live = clients.values().filter(|c| !c.is_killed()).count() as u64;
    if max != 0 && live >= max {
        return Err(CommandError::Other(crate::limits::TOO_MANY_CONNECTIONS.into()));
    }
    clients.insert(handle.id, handle.clone());
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
            let mut kind = None;
            let mut i = 2;
            while i < args.len() {
                if is(&args[i], "TYPE") && i + 1 < args.len() {
                    kind = Some(ClientType::parse(&args[i + 1])?);
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
            let mut clients: Vec<_> = live_clients(&tenant)
                .into_iter()
                .filter(|c| ids.as_ref().is_none_or(|l| l.contains(&c.id)))
                .filter(|c| kind.is_none_or(|k| k.matches(c)))
                .collect();
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
        ("no-evict", 3) | ("no-touch", 3) => {
            if !is(&args[2], "ON") && !is(&args[2], "OFF") {
                return Err(CommandError::Syntax);
            }
            Ok(Reply::ok())
        }
        // Client-side caching (CLIENT TRACKING) is not implemented: tracking is always off,
        // which is what these report.
        ("getredir", 2) => Ok(Reply::Integer(-1)),
        ("trackinginfo", 2) => {
            let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
            Ok(Reply::Map(vec![
                (bulk("flags"), Reply::Set(vec![bulk("off")])),
                (bulk("redirect"), Reply::Integer(-1)),
                (bulk("prefixes"), Reply::Array(vec![])),
            ]))
        }
        // CLIENT PAUSE is not implemented, so no pause is ever in effect.
        ("unpause", 2) => Ok(Reply::ok()),
        ("unblock", 3) | ("unblock", 4) => client_unblock(ctx, args),
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
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "UNPAUSE",
                "GETREDIR",
                "TRACKINGINFO",
                "NO-EVICT ON|OFF",
                "NO-TOUCH ON|OFF",
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

/// The tenant's clients that have not been killed. A killed connection stays in the
/// tenant's list until its task notices and exits, but for CLIENT LIST and CLIENT KILL it is
/// gone already, as in Redis, where CLIENT KILL frees the client at once.
fn live_clients(tenant: &crate::tenant::Tenant) -> Vec<std::sync::Arc<ClientHandle>> {
    tenant.clients.lock().values().filter(|c| !c.is_killed()).cloned().collect()
}

/// The TYPE filter of CLIENT LIST and CLIENT KILL. Tern's client connections are never
/// masters or replicas, so those types match nobody.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    PubSub,
    Replication,
}

impl ClientType {
    fn parse(name: &[u8]) -> Result<ClientType, CommandError> {
        if is(name, "normal") {
            Ok(ClientType::Normal)
        } else if is(name, "pubsub") {
            Ok(ClientType::PubSub)
        } else if is(name, "master") || is(name, "replica") || is(name, "slave") {
            Ok(ClientType::Replication)
        } else {
            Err(CommandError::err(format!("Unknown client type '{}'", crate::exec::printable(name, 64))))
        }
    }

    /// A client is of type pubsub while it has channel or pattern subscriptions.
    fn matches(self, c: &ClientHandle) -> bool {
        let pubsub = {
            let info = c.info.lock();
            info.subscriptions + info.patterns > 0
        };
        match self {
            ClientType::Normal => !pubsub,
            ClientType::PubSub => pubsub,
            ClientType::Replication => false,
        }
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 0 when the client is not blocked (or not one of this
/// database's clients). Waking a blocked client from another connection needs the
/// connection layer, which does not offer it yet, so that case is refused rather than
/// answered with a false 0.
fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let id = int(&args[2])?;
    if args.len() == 4 && !is(&args[3], "TIMEOUT") && !is(&args[3], "ERROR") {
        return Err(CommandError::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
    }
    let Some(tenant) = ctx.tenant().cloned() else {
        return Err(CommandError::NoAuth);
    };
    let blocked = u64::try_from(id)
        .ok()
        .and_then(|id| tenant.clients.lock().get(&id).cloned())
        .is_some_and(|c| !c.is_killed() && c.info.lock().blocked);
    if blocked {
        return Err(CommandError::err("CLIENT UNBLOCK of a blocked client is not supported yet"));
    }
    Ok(Reply::Integer(0))
}

fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else {
        return Err(CommandError::NoAuth);
    };
    let clients = live_clients(&tenant);
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
    let mut kind = None;
    let mut i = 2;
    while i + 1 < args.len() {
        let key = crate::args::lower_name(&args[i]);
        match key.as_str() {
            "id" => {
                if crate::args::parse_i64(&args[i + 1]).is_none_or(|id| id <= 0) {
                    return Err(CommandError::err("client-id should be greater than 0"));
                }
                filters.push((key, args[i + 1].clone()))
            }
            "type" => kind = Some(ClientType::parse(&args[i + 1])?),
            "addr" | "laddr" | "user" => filters.push((key, args[i + 1].clone())),
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
            _ => false,
        }) && kind.is_none_or(|k| k.matches(&c));
        if matches {
            c.kill();
            killed += 1;
        }
    }
    Ok(Reply::Integer(killed))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    fn list(c: &mut TestClient, args: &[&str]) -> String {
        let mut full = vec!["CLIENT", "LIST"];
        full.extend_from_slice(args);
        match c.cmd(&full) {
            Reply::Verbatim(text) => String::from_utf8(text.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn killed_client_leaves_client_list_at_once() {
        let mut a = TestClient::new();
        let mut b = a.another();
        b.cmd(&["CLIENT", "SETNAME", "victim"]);
        let b_id = b.client.id.to_string();
        assert!(list(&mut a, &[]).contains("name=victim"));
        assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &b_id]), int(1));
        // b's connection task has not run since: it is still registered, but killed.
        assert!(!list(&mut a, &[]).contains("name=victim"));
        assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &b_id]), int(0));
        let Reply::Verbatim(info) = a.cmd(&["INFO", "clients"]) else { panic!() };
        assert!(String::from_utf8(info.to_vec()).unwrap().contains("connected_clients:1\r\n"));
        assert!(err("ERR client-id should be greater than 0")(&a.cmd(&["CLIENT", "KILL", "ID", "0"])));
        assert!(err("ERR client-id should be greater than 0")(&a.cmd(&["CLIENT", "KILL", "ID", "x"])));
    }

    #[test]
    fn client_type_filters() {
        let mut a = TestClient::new();
        let mut b = a.another();
        a.cmd(&["CLIENT", "SETNAME", "plain"]);
        b.cmd(&["CLIENT", "SETNAME", "listener"]);
        b.cmd(&["SUBSCRIBE", "news"]);
        let pubsub = list(&mut a, &["TYPE", "pubsub"]);
        assert!(pubsub.contains("name=listener") && !pubsub.contains("name=plain"));
        let normal = list(&mut a, &["TYPE", "NORMAL"]);
        assert!(normal.contains("name=plain") && !normal.contains("name=listener"));
        assert_eq!(list(&mut a, &["TYPE", "replica"]), "");
        assert!(err("ERR Unknown client type 'foo'")(&a.cmd(&["CLIENT", "LIST", "TYPE", "foo"])));
        assert!(err("ERR Unknown client type 'foo'")(&a.cmd(&["CLIENT", "KILL", "TYPE", "foo"])));
        // The caller is skipped and the other client is a pub/sub one: nobody to kill.
        assert_eq!(a.cmd(&["CLIENT", "KILL", "TYPE", "normal"]), int(0));
        assert_eq!(a.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), int(1));
        assert!(b.client.handle.is_killed());
    }

    #[test]
    fn tracking_pause_and_unblock_replies() {
        let mut a = TestClient::new();
        let b = a.another();
        assert_eq!(a.cmd(&["CLIENT", "GETREDIR"]), int(-1));
        assert_eq!(
            a.cmd(&["CLIENT", "TRACKINGINFO"]),
            Reply::Map(vec![
                (bulk("flags"), Reply::Set(vec![bulk("off")])),
                (bulk("redirect"), int(-1)),
                (bulk("prefixes"), Reply::Array(vec![])),
            ])
        );
        assert_eq!(a.cmd(&["CLIENT", "UNPAUSE"]), ok());
        let me = a.client.id.to_string();
        assert_eq!(a.cmd(&["CLIENT", "UNBLOCK", &me]), int(0));
        assert_eq!(a.cmd(&["CLIENT", "UNBLOCK", &me, "ERROR"]), int(0));
        assert_eq!(a.cmd(&["CLIENT", "UNBLOCK", "999999", "timeout"]), int(0));
        assert!(err("ERR value is not an integer")(&a.cmd(&["CLIENT", "UNBLOCK", "x"])));
        assert!(err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")(
            &a.cmd(&["CLIENT", "UNBLOCK", &me, "NOW"])
        ));
        b.client.handle.info.lock().blocked = true;
        let other = b.client.id.to_string();
        assert!(err("ERR CLIENT UNBLOCK of a blocked client is not supported")(&a.cmd(&["CLIENT", "UNBLOCK", &other])));
        assert_eq!(a.cmd(&["CLIENT", "NO-EVICT", "on"]), ok());
        assert!(err("ERR syntax error")(&a.cmd(&["CLIENT", "NO-EVICT", "maybe"])));
        assert!(err("ERR syntax error")(&a.cmd(&["CLIENT", "NO-TOUCH", "maybe"])));
    }
}
