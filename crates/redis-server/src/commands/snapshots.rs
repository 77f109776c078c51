//! BGSAVE and SAVE: snapshots of the caller's database (see `snapshotter.rs`).

use crate::args::is;
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use crate::persistence::Persistence;
use bytes::Bytes;
use resp::Reply;
use std::sync::Arc;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "bgsave",
        arity: -1,
        flags: Flags::ADMIN.union(Flags::NOSCRIPT),
        keys: KeySpec::NONE,
        group: "server",
        handler: bgsave,
    },
    CommandSpec {
        name: "save",
        arity: 1,
        flags: Flags::ADMIN.union(Flags::NOSCRIPT).union(Flags::NO_MULTI),
        keys: KeySpec::NONE,
        group: "server",
        handler: save,
    },
];

fn persistence(ctx: &Ctx) -> Result<Arc<Persistence>, CommandError> {
    ctx.node
        .persistence
        .clone()
        .ok_or_else(|| CommandError::Other("ERR snapshots need persistence (this node runs without --data-dir)".into()))
}

fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let schedule = match args {
        [_] => false,
        [_, option] if is(option, "SCHEDULE") => true,
        _ => return Err(CommandError::Syntax),
    };
    let persistence = persistence(ctx)?;
    let Some(tenant) = ctx.tenant() else { return Err(CommandError::Other("ERR no database".into())) };
    if persistence.request_snapshot(&tenant.id) {
        return Ok(Reply::Status("Background saving started".into()));
    }
    // One is running: SCHEDULE asks for another after it, as Redis does behind an AOF rewrite.
    if schedule {
        persistence.requested.lock().insert(tenant.id.clone());
        return Ok(Reply::Status("Background saving scheduled".into()));
    }
    Err(CommandError::Other("ERR Background save already in progress".into()))
}

fn save(ctx: &mut Ctx, _args: &[Bytes]) -> CommandResult {
    let persistence = persistence(ctx)?;
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::Other("ERR no database".into())) };
    match persistence.save_now(&tenant, ctx.db) {
        Ok(_) => Ok(Reply::ok()),
        Err(crate::snapshotter::SnapshotFailure::Running) => {
            Err(CommandError::Other("ERR Background save already in progress".into()))
        }
        Err(e) => Err(CommandError::Other(format!("ERR {e}"))),
    }
}
