//! Server commands: INFO, COMMAND, CONFIG, TIME, DBSIZE, FLUSHDB/FLUSHALL, LASTSAVE, MEMORY,
//! WAIT, ROLE, MODULE, LATENCY, LOLWUT, REPLICAOF, and the refusal of cluster commands.
//! Everything reports the caller's own database only: no figure from another tenant is ever
//! shown.

use crate::args::{int, is};
use crate::command::{CommandSpec, Flags, KeySpec, COMMANDS as TABLE};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use crate::glob::glob_match;
use bytes::Bytes;
use resp::Reply;
use std::fmt::Write as _;

const fn s(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "server", handler }
}

const LS: Flags = Flags::LOADING.union(Flags::STALE);

pub static COMMANDS: &[CommandSpec] = &[
    s("info", -1, Flags::FREE.union(LS), KeySpec::NONE, info),
    s("command", -1, Flags::FREE.union(LS), KeySpec::NONE, command),
    s("config", -2, Flags::ADMIN.union(Flags::NOSCRIPT).union(LS), KeySpec::NONE, config),
    s("time", 1, Flags::FAST.union(LS), KeySpec::NONE, time),
    s("ternoffset", 1, Flags::FAST.union(Flags::FREE).union(Flags::NOSCRIPT), KeySpec::NONE, tern_offset),
    s("dbsize", 1, Flags::READONLY.union(Flags::FAST), KeySpec::NONE, dbsize),
    s("flushdb", -1, Flags::WRITE, KeySpec::NONE, flushdb),
    s("flushall", -1, Flags::WRITE, KeySpec::NONE, flushdb),
    s("lastsave", 1, Flags::FAST.union(LS), KeySpec::NONE, lastsave),
    s("memory", -2, Flags::READONLY, KeySpec::range(2, 2, 1), memory),
    s("wait", 3, Flags::NOSCRIPT, KeySpec::NONE, wait),
    s("role", 1, Flags::FAST.union(LS).union(Flags::NOSCRIPT), KeySpec::NONE, role),
    s("module", -2, Flags::ADMIN.union(Flags::NOSCRIPT), KeySpec::NONE, module),
    s("latency", -2, Flags::ADMIN.union(Flags::NOSCRIPT).union(LS), KeySpec::NONE, latency),
    s("lolwut", -1, Flags::READONLY.union(Flags::FAST), KeySpec::NONE, lolwut),
    s("replicaof", 3, Flags::ADMIN.union(Flags::NOSCRIPT).union(Flags::STALE), KeySpec::NONE, replicaof),
    s("slaveof", 3, Flags::ADMIN.union(Flags::NOSCRIPT).union(Flags::STALE), KeySpec::NONE, replicaof),
    s("cluster", -2, Flags::NONE, KeySpec::NONE, cluster),
    s("readonly", 1, Flags::FAST.union(LS), KeySpec::NONE, cluster),
    s("readwrite", 1, Flags::FAST.union(LS), KeySpec::NONE, cluster),
];

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[u])
    }
}

fn info(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    const DEFAULT: &[&str] = &[
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "errorstats",
        "cluster",
        "keyspace",
    ];
    let wanted: Vec<String> = args[1..].iter().map(|a| crate::args::lower_name(a)).collect();
    let everything = wanted.iter().any(|w| w == "all" || w == "everything");
    let show = |section: &str| wanted.is_empty() || everything || wanted.iter().any(|w| w == section || w == "default");
    let tenant = ctx.tenant().cloned();
    let node = ctx.node.clone();
    let mut out = String::new();
    for section in DEFAULT {
        if !show(section) {
            continue;
        }
        let mut body = String::new();
        match *section {
            "server" => {
                let uptime = node.started.elapsed().as_secs();
                let _ = write!(
                    body,
                    "redis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nexecutable:tern\r\ntern_version:{}\r\ntern_region:{}\r\n",
                    super::connection::REDIS_VERSION,
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    std::process::id(),
                    node.run_id,
                    node.tcp_port,
                    uptime,
                    uptime / 86400,
                    env!("CARGO_PKG_VERSION"),
                    node.region,
                );
            }
            "clients" => {
                let (connected, blocked) = match &tenant {
                    Some(t) => {
                        let clients = t.clients.lock();
                        // A killed client is gone for CLIENT LIST; it is for INFO too.
                        let live = clients.values().filter(|c| !c.is_killed());
                        (live.clone().count(), live.filter(|c| c.info.lock().blocked).count())
                    }
                    None => (0, 0),
                };
                let _ = write!(
                    body,
                    "connected_clients:{connected}\r\ncluster_connections:0\r\nmaxclients:10000\r\nblocked_clients:{blocked}\r\ntracking_clients:0\r\n"
                );
            }
            "memory" => memory_section(ctx, &mut body),
            "persistence" => {
                let created = last_save_unix_s(ctx);
                let persistence = node.persistence.as_ref();
                let snapshot = match (persistence, &tenant) {
                    (Some(p), Some(t)) => p.status(&t.id),
                    _ => Default::default(),
                };
                let (log_bytes, disk_ok, durable) = tenant.as_ref().map_or((0, true, 0), |t| {
                    (
                        t.log_bytes.load(std::sync::atomic::Ordering::Relaxed),
                        !t.disk_error.load(std::sync::atomic::Ordering::Relaxed),
                        *t.durable_offset.borrow(),
                    )
                });
                let _ = write!(
                    body,
                    "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{created}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_last_write_status:{}\r\naof_fsync:{}\r\ntern_change_log_bytes:{log_bytes}\r\ntern_durable_offset:{durable}\r\ntern_snapshot_bytes:{}\r\ntern_snapshot_max_pause_us:{}\r\n",
                    ctx.db.dirty.saturating_sub(snapshot.dirty_at_last_save),
                    snapshot.in_progress as u8,
                    if snapshot.last_failed { "err" } else { "ok" },
                    snapshot.last_duration_ms / 1000,
                    persistence.is_some() as u8,
                    if disk_ok { "ok" } else { "err" },
                    fsync_policy_name(ctx),
                    snapshot.last_snapshot_bytes,
                    snapshot.last_max_pause_us,
                );
            }
            "stats" => {
                let st = &ctx.db.stats;
                let (channels, patterns) = tenant.as_ref().map_or((0, 0), |t| {
                    let ps = t.pubsub.lock();
                    (ps.channel_names(crate::pubsub::ChannelKind::Plain, None).len(), ps.pattern_count())
                });
                let _ = write!(
                    body,
                    "total_connections_received:{}\r\ntotal_commands_processed:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\n",
                    st.connections_received,
                    st.commands_processed,
                    st.expired_keys,
                    st.evicted_keys,
                    st.keyspace_hits,
                    st.keyspace_misses,
                );
            }
            "replication" => match ctx.client.tenant.as_ref().map(|t| (t.replication.role(), &t.replication)) {
                Some((crate::replication::Role::Replica(of), replication)) => {
                    let applied = ctx.db.change_log.last_offset();
                    let state = replication.state();
                    let link = if state == crate::replication::LinkState::Streaming { "up" } else { "down" };
                    let _ = write!(
                        body,
                        "role:slave\r\nmaster_host:{}\r\nmaster_link_status:{link}\r\nslave_read_only:1\r\n\
                         slave_repl_offset:{applied}\r\nmaster_repl_offset:{}\r\ntern_replication_state:{}\r\n\
                         tern_replication_lag_records:{}\r\n",
                        of.primary_addr,
                        replication.primary_offset().max(applied),
                        state.as_str(),
                        replication.primary_offset().saturating_sub(applied),
                    );
                }
                _ => {
                    let _ = write!(
                        body,
                        "role:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\nmaster_repl_offset:{}\r\n",
                        node.run_id,
                        ctx.db.change_log.last_offset()
                    );
                }
            },
            "cpu" => {
                let (user, sys) = cpu_times();
                let _ = write!(body, "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n");
            }
            "cluster" => body.push_str("cluster_enabled:0\r\n"),
            "keyspace" if !ctx.db.is_empty() => {
                let _ = write!(body, "db0:keys={},expires={},avg_ttl=0\r\n", ctx.db.len(), ctx.db.volatile_len());
            }
            _ => {}
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let mut title = section.to_string();
        if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let _ = write!(out, "# {title}\r\n{body}");
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

/// INFO memory for the caller's database: `used_memory` is its own data size estimate (the
/// allocator's figure is the whole node's), `maxmemory` its plan's data size.
fn memory_section(ctx: &mut Ctx, body: &mut String) {
    let used = ctx.db.used_bytes();
    let policy = ctx.db.memory_policy();
    let max = policy.max_data_bytes;
    let _ = write!(
        body,
        "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_dataset:{used}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:jemalloc\r\n",
        human_bytes(used),
        human_bytes(max),
        policy.eviction.policy_name(),
    );
    if let Some(tenant) = ctx.tenant() {
        let (cached, evicted) = crate::scripting::cache_figures(&tenant.scripting);
        let _ = write!(body, "number_of_cached_scripts:{cached}\r\nevicted_scripts:{evicted}\r\n");
    }
}

/// Process CPU time (user, system) in seconds.
fn cpu_times() -> (f64, f64) {
    // /proc/self/stat fields 14 and 15 are utime and stime in clock ticks (100 per second on Linux).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (0.0, 0.0) };
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

fn command_info(spec: &CommandSpec) -> Reply {
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Integer(spec.arity as i64),
        Reply::Set(spec.flag_names().into_iter().map(|f| Reply::Status(Bytes::from_static(f.as_bytes()))).collect()),
        Reply::Integer(spec.keys.first as i64),
        Reply::Integer(spec.keys.last as i64),
        Reply::Integer(spec.keys.step as i64),
        Reply::Set(spec.acl_categories().iter().map(|c| Reply::Status(Bytes::from(c.clone()))).collect()),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let mut all: Vec<_> = TABLE.iter().collect();
    all.sort_by_key(|s| s.name);
    if args.len() == 1 {
        return Ok(Reply::Array(all.into_iter().map(command_info).collect()));
    }
    let sub = crate::args::lower_name(&args[1]);
    match sub.as_str() {
        "count" => Ok(Reply::Integer(TABLE.len() as i64)),
        "info" => {
            Ok(Reply::Array(args[2..].iter().map(|n| TABLE.lookup(n).map_or(Reply::NilArray, command_info)).collect()))
        }
        "list" => {
            let mut pattern = None;
            if args.len() == 5 && is(&args[2], "FILTERBY") && is(&args[3], "PATTERN") {
                pattern = Some(args[4].clone());
            } else if args.len() != 2 {
                return Err(CommandError::Syntax);
            }
            Ok(Reply::Array(
                all.into_iter()
                    .filter(|s| pattern.as_ref().is_none_or(|p| glob_match(p, s.name.as_bytes(), true)))
                    .map(|s| Reply::Bulk(Bytes::from_static(s.name.as_bytes())))
                    .collect(),
            ))
        }
        "docs" => {
            let specs: Vec<_> =
                if args.len() == 2 { all } else { args[2..].iter().filter_map(|n| TABLE.lookup(n)).collect() };
            let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
            Ok(Reply::Map(
                specs
                    .into_iter()
                    .map(|s| {
                        (bulk(s.name), Reply::Map(vec![(bulk("summary"), bulk("")), (bulk("group"), bulk(s.group))]))
                    })
                    .collect(),
            ))
        }
        "getkeys" if args.len() >= 3 => {
            let cmd = &args[2..];
            let Some(spec) = TABLE.lookup(&cmd[0]) else { return Err(CommandError::err("Invalid command specified")) };
            if !spec.arity_ok(cmd.len()) {
                return Err(CommandError::err("Invalid number of arguments specified for command"));
            }
            let positions = spec.keys.positions(cmd);
            if positions.is_empty() {
                return Err(CommandError::err("The command has no key arguments"));
            }
            Ok(Reply::Array(positions.into_iter().map(|i| Reply::Bulk(cmd[i].clone())).collect()))
        }
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

/// Settings CONFIG GET reports, with their fixed or default values. Only those marked
/// settable can be changed by a tenant; the rest belong to the plan or the operator.
const CONFIG_DEFAULTS: &[(&str, &str, bool)] = &[
    ("maxmemory", "0", false),
    ("maxmemory-policy", "noeviction", false),
    ("maxclients", "10000", false),
    ("databases", "1", false),
    ("save", "", false),
    ("appendonly", "no", false),
    ("appendfsync", "everysec", false),
    ("timeout", "0", false),
    ("tcp-keepalive", "300", false),
    ("proto-max-bulk-len", "67108864", false),
    ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", false),
    ("cluster-enabled", "no", false),
    ("lua-time-limit", "5000", true),
    ("busy-reply-threshold", "5000", true),
    ("hz", "10", false),
    ("notify-keyspace-events", "", true),
    ("slowlog-log-slower-than", "10000", true),
    ("slowlog-max-len", "128", true),
    ("hash-max-listpack-entries", "128", true),
    ("hash-max-listpack-value", "64", true),
    ("hash-max-ziplist-entries", "128", true),
    ("hash-max-ziplist-value", "64", true),
    ("list-max-listpack-size", "-2", true),
    ("list-max-ziplist-size", "-2", true),
    ("set-max-intset-entries", "512", true),
    ("set-max-listpack-entries", "128", true),
    ("zset-max-listpack-entries", "128", true),
    ("zset-max-listpack-value", "64", true),
    ("zset-max-ziplist-entries", "128", true),
    ("zset-max-ziplist-value", "64", true),
    ("stream-node-max-bytes", "4096", true),
    ("stream-node-max-entries", "100", true),
    ("lazyfree-lazy-user-del", "no", true),
    ("latency-monitor-threshold", "0", false),
    ("latency-tracking", "no", false),
];

/// The calling database's fsync policy as INFO and CONFIG show it (`none` for INFO's
/// `aof_fsync` when the node keeps nothing on disk).
fn fsync_policy_name(ctx: &Ctx) -> &'static str {
    match (ctx.node.persistence.as_ref(), ctx.tenant()) {
        (Some(p), Some(t)) => p.policy_of(t).name(),
        (Some(p), None) => p.default_policy.name(),
        (None, _) => "none",
    }
}

/// The name a setting is stored under: Redis 7 renamed `lua-time-limit` to
/// `busy-reply-threshold` and keeps the old name as an alias.
fn config_alias(name: &str) -> &str {
    match name {
        "lua-time-limit" => "busy-reply-threshold",
        other => other,
    }
}

fn config(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    let sub = crate::args::lower_name(&args[1]);
    match sub.as_str() {
        "get" if args.len() >= 3 => {
            let overrides = tenant.config.lock();
            let policy = ctx.db.memory_policy();
            let maxmemory = policy.max_data_bytes.to_string();
            let mut out = Vec::new();
            for (name, default, _) in CONFIG_DEFAULTS {
                if args[2..].iter().any(|p| glob_match(p, name.as_bytes(), true)) {
                    // The plan's values, which a tenant cannot set.
                    let value = match *name {
                        "maxmemory" => maxmemory.as_str(),
                        "maxmemory-policy" => policy.eviction.policy_name(),
                        "appendonly" if ctx.node.persistence.is_some() => "yes",
                        "appendfsync" if ctx.node.persistence.is_some() => fsync_policy_name(ctx),
                        _ => overrides.get(config_alias(name)).map(String::as_str).unwrap_or(default),
                    };
                    out.push((Reply::bulk(name.as_bytes()), Reply::bulk(value.as_bytes())));
                }
            }
            Ok(Reply::Map(out))
        }
        "set" if args.len() >= 4 && args.len().is_multiple_of(2) => {
            let mut changes = Vec::new();
            for pair in args[2..].chunks(2) {
                let name = crate::args::lower_name(&pair[0]);
                match CONFIG_DEFAULTS.iter().find(|(n, _, _)| *n == name) {
                    Some((_, _, true)) => {
                        let value = String::from_utf8_lossy(&pair[1]).into_owned();
                        if config_alias(&name) == "busy-reply-threshold" && value.parse::<u64>().is_err() {
                            return Err(CommandError::err(format!(
                                "CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
                            )));
                        }
                        changes.push((config_alias(&name).to_string(), value))
                    }
                    Some((_, _, false)) => {
                        return Err(CommandError::err(format!(
                            "CONFIG SET failed (possibly related to argument '{name}') - {name} is set by the database plan; change it with `tern redis update`"
                        )))
                    }
                    None => {
                        return Err(CommandError::err(format!(
                            "Unknown option or number of arguments for CONFIG SET - '{name}'"
                        )))
                    }
                }
            }
            tenant.config.lock().extend(changes);
            Ok(Reply::ok())
        }
        "resetstat" if args.len() == 2 => {
            ctx.db.stats = Default::default();
            Ok(Reply::ok())
        }
        "rewrite" if args.len() == 2 => {
            Err(CommandError::err("CONFIG REWRITE is not available: settings belong to the database plan"))
        }
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

/// TERNOFFSET: the database's newest change-log offset. A replica forwarding a write sends it
/// right after the write, then answers once it has applied that offset (read-your-writes).
fn tern_offset(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.change_log.last_offset().min(i64::MAX as u64) as i64))
}

fn time(_ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ]))
}

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(ctx.db.len() as i64))
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() > 2 || (args.len() == 2 && !is(&args[1], "ASYNC") && !is(&args[1], "SYNC")) {
        return Err(CommandError::Syntax);
    }
    ctx.db.flush();
    Ok(Reply::ok())
}

fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Integer(last_save_unix_s(ctx) as i64))
}

/// The newest snapshot's time; before any, when the database was created on this node.
fn last_save_unix_s(ctx: &Ctx) -> u64 {
    let Some(tenant) = ctx.tenant() else { return 0 };
    let saved = ctx.node.persistence.as_ref().map_or(0, |p| p.status(&tenant.id).last_save_unix_s);
    if saved == 0 {
        tenant.created_unix_s
    } else {
        saved
    }
}

fn memory(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = crate::args::lower_name(&args[1]);
    match sub.as_str() {
        "usage" if args.len() == 3 || (args.len() == 5 && is(&args[3], "SAMPLES")) => {
            if args.len() == 5 {
                int(&args[4])?;
            }
            Ok(ctx.db.key_bytes(&args[2]).map_or(Reply::Nil, |n| Reply::Integer(n.min(i64::MAX as u64) as i64)))
        }
        "stats" if args.len() == 2 => Ok(memory_stats(ctx)),
        // The allocator is shared by every database of the node: its statistics are not
        // this database's to see, so this answers as Redis does without jemalloc.
        "malloc-stats" if args.len() == 2 => {
            Ok(Reply::Verbatim(Bytes::from_static(b"Stats not supported for the current allocator")))
        }
        "doctor" if args.len() == 2 => Ok(Reply::Verbatim(Bytes::from_static(
            b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
        ))),
        "purge" if args.len() == 2 => Ok(Reply::ok()),
        "help" if args.len() == 2 => Ok(Reply::Array(
            [
                "MEMORY <subcommand> [<arg> ...]. Subcommands are:",
                "DOCTOR",
                "MALLOC-STATS",
                "PURGE",
                "STATS",
                "USAGE <key> [SAMPLES <count>]",
            ]
            .iter()
            .map(|s| Reply::Status(Bytes::copy_from_slice(s.as_bytes())))
            .collect(),
        )),
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try MEMORY HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

/// Keys sampled by MEMORY STATS to estimate the dataset size, and elements sampled per
/// collection: the estimate costs the same whatever the size of the database.
const STATS_KEY_SAMPLES: usize = 16;
const STATS_ELEMENT_SAMPLES: usize = 8;

/// Bytes of one value, estimated from at most `STATS_ELEMENT_SAMPLES` of its elements.
fn sampled_value_bytes(v: &keyspace::Value) -> u64 {
    use keyspace::Value;
    fn blob(x: &[u8]) -> u64 {
        // Short values live inline in the 24-byte small vector.
        if x.len() <= 16 {
            24
        } else {
            x.len() as u64 + 24
        }
    }
    fn scaled(len: usize, sample: impl Iterator<Item = u64>) -> u64 {
        let (mut n, mut sum) = (0u64, 0u64);
        for b in sample.take(STATS_ELEMENT_SAMPLES) {
            n += 1;
            sum += b;
        }
        sum.checked_div(n).unwrap_or(0).saturating_mul(len as u64)
    }
    match v {
        Value::Str(s) => blob(s),
        Value::List(l) => 32 + scaled(l.len(), l.iter().map(|e| blob(e))),
        Value::Hash(h) => 64 + scaled(h.len(), h.iter().map(|(k, v)| blob(k) + blob(v) + 16)),
        Value::Set(st) => 64 + scaled(st.len(), st.iter().map(|m| blob(m) + 16)),
        Value::ZSet(z) => 96 + scaled(z.scores.len(), z.scores.keys().map(|m| 2 * blob(m) + 40)),
        Value::Stream(st) => st.approx_size() as u64,
    }
}

/// MEMORY STATS for the caller's database alone. The allocator figures of Redis
/// (peak.allocated, fragmentation, …) describe the whole node, shared with other databases,
/// so they are left out; the dataset size is an estimate from a sample of keys.
fn memory_stats(ctx: &mut Ctx) -> Reply {
    const ENTRY_OVERHEAD: u64 = 72;
    let keys = ctx.db.len() as u64;
    let (mut sampled, mut sampled_bytes) = (0u64, 0u64);
    ctx.db.scan(0, STATS_KEY_SAMPLES, |k, e| {
        sampled += 1;
        sampled_bytes += k.len() as u64 + sampled_value_bytes(&e.value);
    });
    let dataset = sampled_bytes.checked_div(sampled).unwrap_or(0).saturating_mul(keys);
    let main = keys * ENTRY_OVERHEAD;
    let expires = ctx.db.volatile_len() as u64 * 16;
    let overhead = main + expires;
    let total = dataset.saturating_add(overhead);
    let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
    let int = |n: u64| Reply::Integer(n.min(i64::MAX as u64) as i64);
    let percentage = if total == 0 { 0.0 } else { dataset as f64 * 100.0 / total as f64 };
    Reply::Map(vec![
        (bulk("total.allocated"), int(total)),
        (
            bulk("db.0"),
            Reply::Map(vec![
                (bulk("overhead.hashtable.main"), int(main)),
                (bulk("overhead.hashtable.expires"), int(expires)),
            ]),
        ),
        (bulk("overhead.total"), int(overhead)),
        (bulk("keys.count"), int(keys)),
        (bulk("keys.bytes-per-key"), int(total.checked_div(keys).unwrap_or(0))),
        (bulk("dataset.bytes"), int(dataset)),
        (bulk("dataset.percentage"), Reply::Double(percentage)),
    ])
}

/// MODULE: no module can be loaded into a tern node, so the list is empty.
fn module(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = crate::args::lower_name(&args[1]);
    match sub.as_str() {
        "list" if args.len() == 2 => Ok(Reply::Array(vec![])),
        "load" | "loadex" | "unload" => Err(CommandError::err("MODULE is not available: tern does not load modules")),
        "help" if args.len() == 2 => Ok(Reply::Array(
            ["MODULE <subcommand> [<arg> ...]. Subcommands are:", "LIST"]
                .iter()
                .map(|s| Reply::Status(Bytes::copy_from_slice(s.as_bytes())))
                .collect(),
        )),
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try MODULE HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

/// LATENCY: the latency monitor is off (`latency-monitor-threshold` 0, Redis's default and
/// not settable here), so no event is ever recorded; the replies are Redis's for that state.
fn latency(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = crate::args::lower_name(&args[1]);
    match sub.as_str() {
        "latest" if args.len() == 2 => Ok(Reply::Array(vec![])),
        "history" if args.len() == 3 => Ok(Reply::Array(vec![])),
        "reset" => Ok(Reply::Integer(0)),
        "graph" if args.len() == 3 => {
            Err(CommandError::err(format!("No samples available for event '{}'", String::from_utf8_lossy(&args[2]))))
        }
        "doctor" if args.len() == 2 => Ok(Reply::Verbatim(Bytes::from_static(
            b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance.\n",
        ))),
        "help" if args.len() == 2 => Ok(Reply::Array(
            [
                "LATENCY <subcommand> [<arg> ...]. Subcommands are:",
                "DOCTOR",
                "GRAPH <event>",
                "HISTORY <event>",
                "LATEST",
                "RESET [<event> ...]",
            ]
            .iter()
            .map(|s| Reply::Status(Bytes::copy_from_slice(s.as_bytes())))
            .collect(),
        )),
        _ => Err(CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try LATENCY HELP.",
            crate::exec::printable(&args[1], 64)
        ))),
    }
}

/// LOLWUT [VERSION v ...]: Redis draws art; tern states its versions.
fn lolwut(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if args.len() >= 3 && is(&args[1], "VERSION") {
        int(&args[2])?;
    }
    Ok(Reply::Verbatim(Bytes::from(format!(
        "Tern ver. {}\nRedis ver. {}\n",
        env!("CARGO_PKG_VERSION"),
        super::connection::REDIS_VERSION
    ))))
}

/// REPLICAOF / SLAVEOF: every tern database is a primary; replication between regions is
/// run by tern itself, so only `NO ONE` (stay a primary) is accepted.
fn replicaof(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if is(&args[1], "NO") && is(&args[2], "ONE") {
        return Ok(Reply::ok());
    }
    Err(CommandError::err("REPLICAOF is not available: replication between regions is managed by tern"))
}

/// No replica acknowledges yet (replication is not built), so WAIT reports 0 replicas
/// right away instead of pretending.
fn wait(_ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    int(&args[1])?;
    let timeout = int(&args[2])?;
    if timeout < 0 {
        return Err(CommandError::err("timeout is negative"));
    }
    Ok(Reply::Integer(0))
}

fn role(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Ok(Reply::Array(vec![
        Reply::bulk(b"master"),
        Reply::Integer(ctx.db.change_log.last_offset() as i64),
        Reply::Array(vec![]),
    ]))
}

fn cluster(_ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    Err(CommandError::err("This instance has cluster support disabled"))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    #[test]
    fn info_reports_own_keyspace_and_noeviction() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "a", "1"]);
        let Reply::Verbatim(text) = c.cmd(&["INFO"]) else { panic!() };
        let text = String::from_utf8(text.to_vec()).unwrap();
        assert!(text.contains("redis_version:7."));
        assert!(text.contains("maxmemory_policy:noeviction"));
        assert!(text.contains("db0:keys=1,expires=0"));
        let Reply::Verbatim(mem) = c.cmd(&["INFO", "memory"]) else { panic!() };
        assert!(!String::from_utf8(mem.to_vec()).unwrap().contains("redis_version"));
    }

    #[test]
    fn command_introspection() {
        let mut c = TestClient::new();
        let Reply::Integer(n) = c.cmd(&["COMMAND", "COUNT"]) else { panic!() };
        assert!(n > 20);
        let Reply::Array(info) = c.cmd(&["COMMAND", "INFO", "get"]) else { panic!() };
        let Reply::Array(get) = &info[0] else { panic!() };
        assert_eq!(get[0], bulk("get"));
        assert_eq!(get[1], int(2));
        assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]), arr(&["a", "b"]));
    }

    #[test]
    fn memory_stats_counts_own_keys_only() {
        let mut c = TestClient::new();
        let mut stranger = TestClient::new();
        stranger.cmd(&["SET", "theirs", "x"]);
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["HSET", "h", "f", "v", "g", "w"]);
        let Reply::Map(stats) = c.cmd(&["MEMORY", "STATS"]) else { panic!() };
        let get = |name: &str| stats.iter().find(|(k, _)| *k == bulk(name)).map(|(_, v)| v.clone());
        assert_eq!(get("keys.count"), Some(int(2)));
        let Some(Reply::Integer(dataset)) = get("dataset.bytes") else { panic!() };
        assert!(dataset > 0);
        assert!(matches!(get("db.0"), Some(Reply::Map(_))));
        assert!(matches!(c.cmd(&["MEMORY", "MALLOC-STATS"]), Reply::Verbatim(_)));
        assert!(matches!(c.cmd(&["MEMORY", "DOCTOR"]), Reply::Verbatim(_)));
        assert_eq!(c.cmd(&["MEMORY", "PURGE"]), ok());
        assert!(err("ERR unknown subcommand or wrong number of arguments for 'STATS'")(
            &c.cmd(&["MEMORY", "STATS", "x"])
        ));
        let mut empty = TestClient::new();
        let Reply::Map(stats) = empty.cmd(&["MEMORY", "STATS"]) else { panic!() };
        assert!(stats.contains(&(bulk("dataset.bytes"), int(0))));
    }

    #[test]
    fn module_latency_lolwut_replicaof() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["MODULE", "LIST"]), Reply::Array(vec![]));
        assert!(err("ERR MODULE is not available")(&c.cmd(&["MODULE", "LOAD", "/x.so"])));
        assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["LATENCY", "HISTORY", "command"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["LATENCY", "RESET"]), int(0));
        assert_eq!(c.cmd(&["LATENCY", "RESET", "command", "fork"]), int(0));
        assert!(err("ERR No samples available for event 'command'")(&c.cmd(&["LATENCY", "GRAPH", "command"])));
        let Reply::Verbatim(art) = c.cmd(&["LOLWUT", "VERSION", "5", "1", "2"]) else { panic!() };
        assert!(String::from_utf8(art.to_vec()).unwrap().contains("Redis ver. 7."));
        assert!(err("ERR value is not an integer")(&c.cmd(&["LOLWUT", "VERSION", "x"])));
        assert_eq!(c.cmd(&["REPLICAOF", "no", "one"]), ok());
        assert_eq!(c.cmd(&["SLAVEOF", "NO", "ONE"]), ok());
        assert!(err("ERR REPLICAOF is not available")(&c.cmd(&["REPLICAOF", "127.0.0.1", "6379"])));
        assert!(err("ERR wrong number of arguments")(&c.cmd(&["REPLICAOF", "NO ONE"])));
        let Reply::Map(m) = c.cmd(&["CONFIG", "GET", "latency-*"]) else { panic!() };
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn config_get_set() {
        let mut c = TestClient::new();
        let Reply::Map(m) = c.cmd(&["CONFIG", "GET", "maxmemory-policy"]) else { panic!() };
        assert_eq!(m[0].1, bulk("noeviction"));
        assert_eq!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]), ok());
        assert!(err("ERR Unknown option")(&c.cmd(&["CONFIG", "SET", "nope", "1"])));
        assert!(err("ERR CONFIG SET failed")(&c.cmd(&["CONFIG", "SET", "maxmemory", "1"])));
        assert_eq!(c.cmd(&["DBSIZE"]), int(0));
        assert!(err("ERR This instance has cluster support disabled")(&c.cmd(&["CLUSTER", "INFO"])));
    }
}
