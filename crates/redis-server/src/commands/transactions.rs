//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use crate::command::{CommandSpec, Flags, KeySpec, COMMANDS as TABLE};
use crate::context::{Ctx, Propagate};
use crate::error::{CommandError, CommandResult};
use bytes::Bytes;
use resp::Reply;

const T: Flags = Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE).union(Flags::FAST);
/// MULTI, EXEC and DISCARD frame a transaction: the commands inside are billed, not them.
const FRAME: Flags = T.union(Flags::NO_MULTI_QUEUE).union(Flags::FREE);

const fn t(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "transactions", handler }
}

pub static COMMANDS: &[CommandSpec] = &[
    t("multi", 1, FRAME.union(Flags::ALLOW_BUSY), KeySpec::NONE, multi),
    t("exec", 1, FRAME.difference(Flags::FAST), KeySpec::NONE, exec),
    t("discard", 1, FRAME, KeySpec::NONE, discard),
    t("watch", -2, T.union(Flags::NO_MULTI_QUEUE), KeySpec::ALL, watch),
    t("unwatch", 1, T, KeySpec::NONE, unwatch),
];

fn set_in_multi(ctx: &mut Ctx, on: bool) {
    ctx.client.handle.info.lock().in_multi = on;
}

/// Marks the client out of MULTI when a replica forwarded its transaction to the primary.
pub fn leave_multi(client: &mut crate::context::ClientState) {
    client.handle.info.lock().in_multi = false;
}

fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    crate::exec::begin_multi(ctx).map_err(|r| match r {
        Reply::Error(e) => CommandError::Other(e),
        _ => CommandError::err("MULTI failed"),
    })?;
    set_in_multi(ctx, true);
    Ok(Reply::ok())
}

fn forget_watches(ctx: &mut Ctx) {
    let watched = std::mem::take(&mut ctx.client.watched);
    ctx.db.unwatch_all(ctx.client.id, &watched);
}

fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let Some(multi) = ctx.client.multi.take() else { return Err(CommandError::err("EXEC without MULTI")) };
    set_in_multi(ctx, false);
    let watched = std::mem::take(&mut ctx.client.watched);
    let watch_failed = ctx.db.is_watch_dirty(ctx.client.id, &watched);
    ctx.db.unwatch_all(ctx.client.id, &watched);
    if multi.aborted {
        return Err(CommandError::Other("EXECABORT Transaction discarded because of previous errors.".into()));
    }
    if watch_failed {
        return Ok(Reply::NilArray);
    }
    let specs: Vec<_> = multi.queue.iter().map(|args| TABLE.lookup(&args[0])).collect();
    if crate::replication::refuses_writes(ctx.client) && specs.iter().flatten().any(|s| s.is_write()) {
        // Queued for the primary, but this EXEC was not forwarded (the connection forwards
        // it): never applied here.
        return Err(CommandError::Other(format!("EXECABORT {}", crate::replication::READONLY)));
    }
    // Like Redis, a transaction that may grow the data is refused as a whole when the
    // database is full (it may have been queued while there was room).
    let may_grow = specs.iter().flatten().any(|s| s.flags.contains(Flags::DENYOOM));
    if may_grow && crate::limits::make_room(ctx) == keyspace::Room::Full {
        let reason = crate::limits::QUOTA_EXCEEDED.trim_start_matches("ERR ");
        return Err(CommandError::Other(format!("EXECABORT Transaction discarded because of: {reason}")));
    }
    // Writes of a transaction reach the change log between MULTI and EXEC records, so a
    // replica applies them as one unit.
    let writes = specs.iter().flatten().filter(|s| s.is_write()).count();
    let wrap = writes > 1;
    if wrap {
        ctx.db.change_log.append(&[Bytes::from_static(b"MULTI")]);
    }
    ctx.client.in_exec = true;
    let mut replies = Vec::with_capacity(multi.queue.len());
    for (args, spec) in multi.queue.iter().zip(specs) {
        let reply = match spec {
            Some(spec) => {
                let reply = crate::exec::call(ctx, spec, args);
                crate::usage::record(ctx.client, spec, &reply);
                reply
            }
            None => Reply::error("ERR unknown command"),
        };
        replies.push(reply);
    }
    ctx.client.in_exec = false;
    if wrap {
        ctx.db.change_log.append(&[Bytes::from_static(b"EXEC")]);
    }
    ctx.propagate = Propagate::Nothing;
    Ok(Reply::Array(replies))
}

fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.take().is_none() {
        return Err(CommandError::err("DISCARD without MULTI"));
    }
    set_in_multi(ctx, false);
    forget_watches(ctx);
    Ok(Reply::ok())
}

/// Most keys one client may WATCH (each costs memory in the database's watch table).
const MAX_WATCHED_KEYS: usize = 100_000;

fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    if ctx.client.multi.is_some() {
        return Err(CommandError::err("WATCH inside MULTI is not allowed"));
    }
    if ctx.client.watched.len() + args.len() > MAX_WATCHED_KEYS {
        return Err(CommandError::err(format!("too many watched keys (limit {MAX_WATCHED_KEYS})")));
    }
    for key in &args[1..] {
        if !ctx.client.watched.contains(key) {
            // A key that expires after WATCH counts as changed: touch it now so an already
            // expired key is not mistaken for one that expires later.
            ctx.db.contains(key);
            ctx.db.watch(ctx.client.id, key);
            ctx.client.watched.push(key.clone());
        }
    }
    Ok(Reply::ok())
}

fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    forget_watches(ctx);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    #[test]
    fn exec_runs_queued_commands_and_wraps_the_log() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["MULTI"]), ok());
        assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["INCR", "a"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["GET", "a"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![ok(), int(2), bulk("2")]));
        let log = c.change_log();
        assert_eq!(log, vec![vec!["MULTI"], vec!["SET", "a", "1"], vec!["INCR", "a"], vec!["EXEC"]]);
    }

    #[test]
    fn queueing_errors_abort_and_runtime_errors_do_not() {
        let mut c = TestClient::new();
        c.cmd(&["MULTI"]);
        assert!(err("ERR wrong number of arguments for 'get' command")(&c.cmd(&["GET"])));
        assert!(err("EXECABORT")(&c.cmd(&["EXEC"])));
        c.cmd(&["SET", "s", "x"]);
        c.cmd(&["MULTI"]);
        c.cmd(&["INCR", "s"]);
        c.cmd(&["SET", "t", "1"]);
        let Reply::Array(replies) = c.cmd(&["EXEC"]) else { panic!() };
        assert!(err("ERR value is not an integer")(&replies[0]));
        assert_eq!(replies[1], ok());
        assert!(err("ERR EXEC without MULTI")(&c.cmd(&["EXEC"])));
        assert!(err("ERR DISCARD without MULTI")(&c.cmd(&["DISCARD"])));
        c.cmd(&["MULTI"]);
        assert!(err("ERR MULTI calls can not be nested")(&c.cmd(&["MULTI"])));
        assert_eq!(c.cmd(&["DISCARD"]), ok());
    }

    #[test]
    fn watch_conflict_aborts_exec() {
        let mut a = TestClient::new();
        let mut b = a.another();
        a.cmd(&["SET", "w", "1"]);
        assert_eq!(a.cmd(&["WATCH", "w"]), ok());
        b.cmd(&["SET", "w", "2"]);
        a.cmd(&["MULTI"]);
        a.cmd(&["SET", "w", "3"]);
        assert_eq!(a.cmd(&["EXEC"]), Reply::NilArray);
        assert_eq!(a.cmd(&["GET", "w"]), bulk("2"));
        // Without interference the transaction runs.
        a.cmd(&["WATCH", "w"]);
        a.cmd(&["MULTI"]);
        a.cmd(&["SET", "w", "3"]);
        assert_eq!(a.cmd(&["EXEC"]), Reply::Array(vec![ok()]));
        assert!(err("ERR WATCH inside MULTI is not allowed")(&{
            a.cmd(&["MULTI"]);
            a.cmd(&["WATCH", "w"])
        }));
    }
}
