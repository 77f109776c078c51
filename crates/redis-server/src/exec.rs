//! Command execution: validation (auth, arity, MULTI queueing, subscribe mode), the call
//! itself, and the post-processing every command gets (change-log records, counters).

use crate::command::{CommandSpec, Flags, COMMANDS};
use crate::context::{Ctx, MultiState, Propagate};
use bytes::Bytes;
use resp::Reply;

/// Runs a command that already passed validation, and records its effects: a `DEL` for each
/// key that expired during it, then the command itself (or its rewrite) if it changed data.
pub fn call(ctx: &mut Ctx, spec: &CommandSpec, args: &[Bytes]) -> Reply {
    let dirty_before = ctx.db.dirty;
    ctx.db.stats.commands_processed += 1;
    ctx.propagate = Propagate::AsIs;
    let reply = match (spec.handler)(ctx, args) {
        Ok(reply) => reply,
        Err(e) => e.to_reply(),
    };
    ctx.db.settle_memory();
    let mut expiry_changes = 0;
    if ctx.db.has_expired_pending() {
        for key in ctx.db.drain_expired() {
            expiry_changes += 1;
            ctx.db.change_log.append(&[Bytes::from_static(b"DEL"), Bytes::copy_from_slice(&key)]);
        }
    }
    let changed = ctx.db.dirty.saturating_sub(dirty_before) > expiry_changes;
    if spec.is_write() && changed {
        match std::mem::take(&mut ctx.propagate) {
            Propagate::AsIs => {
                ctx.db.change_log.append(args);
            }
            Propagate::Rewrite(records) => {
                for record in records {
                    ctx.db.change_log.append(&record);
                }
            }
            Propagate::Nothing => {}
        }
    }
    reply
}

fn unknown_command(args: &[Bytes]) -> Reply {
    let mut msg = format!("ERR unknown command '{}', with args beginning with: ", printable(&args[0], 128));
    for arg in args.iter().skip(1).take(16) {
        msg.push_str(&format!("'{}' ", printable(arg, 128)));
    }
    Reply::Error(msg)
}

/// Text of an argument for an error message: lossy UTF-8, shortened.
pub fn printable(arg: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(&arg[..arg.len().min(max)]);
    s.replace(['\r', '\n'], " ")
}

/// Validates and runs one top-level command from a client. A blocking command that has to
/// wait leaves its request in `ctx.block`.
pub fn dispatch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    dispatch_spec(ctx, COMMANDS.lookup(&args[0]), args)
}

/// `dispatch` for a caller that already looked the command up (`None`: unknown command).
pub fn dispatch_spec(ctx: &mut Ctx, spec: Option<&'static CommandSpec>, args: &[Bytes]) -> Reply {
    let Some(spec) = spec else {
        if let Some(multi) = ctx.client.multi.as_mut() {
            multi.aborted = true;
        }
        return unknown_command(args);
    };
    ctx.client.last_command = spec.name;
    if ctx.client.tenant.is_none() && !spec.flags.contains(Flags::NO_AUTH) {
        return crate::error::CommandError::NoAuth.to_reply();
    }
    if !spec.arity_ok(args.len()) {
        if let Some(multi) = ctx.client.multi.as_mut() {
            multi.aborted = true;
        }
        return crate::error::CommandError::WrongArity(spec.name.to_string()).to_reply();
    }
    if let Err(e) = crate::limits::admit(ctx, spec, args, true) {
        // Refused while queueing: the transaction fails at EXEC, as with Redis's OOM.
        if let Some(multi) = ctx.client.multi.as_mut() {
            multi.aborted = true;
        }
        return e.to_reply();
    }
    if spec.is_write()
        && crate::replication::refuses_writes(ctx.client)
        && !crate::replication::queues_for_primary(ctx.client)
    {
        // Never applied locally: a replica's data is only what its primary sends.
        if let Some(multi) = ctx.client.multi.as_mut() {
            multi.aborted = true;
        }
        return Reply::error(crate::replication::READONLY);
    }
    if let Some(multi) = ctx.client.multi.as_mut() {
        if !spec.flags.contains(Flags::NO_MULTI_QUEUE) {
            if spec.flags.contains(Flags::NO_MULTI) {
                multi.aborted = true;
                return Reply::error("ERR Command not allowed inside a transaction");
            }
            multi.queue.push(args.to_vec());
            return Reply::status("QUEUED");
        }
    }
    if spec.is_write()
        && ctx.client.tenant.as_ref().is_some_and(|t| t.disk_error.load(std::sync::atomic::Ordering::Relaxed))
    {
        return Reply::error("MISCONF Errors writing to the change log on disk: write commands are refused until it works again; reads keep working");
    }
    if ctx.client.in_subscribe_mode() && !spec.flags.contains(Flags::SUBSCRIBE_CONTEXT) {
        return Reply::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        ));
    }
    let reply = call(ctx, spec, args);
    if ctx.block.is_none() && ctx.script_thread != crate::context::ScriptThread::HandOver {
        // A command that waits is counted when it is answered (`conn.rs`); a script handed
        // over to a script thread when it runs there.
        crate::usage::record(ctx.client, spec, &reply);
    }
    reply
}

/// Starts a MULTI block (used by the MULTI command).
pub fn begin_multi(ctx: &mut Ctx) -> Result<(), Reply> {
    if ctx.client.multi.is_some() {
        return Err(Reply::error("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    Ok(())
}
