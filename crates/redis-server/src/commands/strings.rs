//! String commands: GET, SET and friends, counters, ranges, bit operations.

use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::CommandResult;
use bytes::Bytes;
use keyspace::value::blob;
use keyspace::Value;
use resp::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: Flags::READONLY.union(Flags::FAST),
        keys: KeySpec::FIRST,
        group: "string",
        handler: get,
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: Flags::WRITE.union(Flags::DENYOOM),
        keys: KeySpec::FIRST,
        group: "string",
        handler: set,
    },
];

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    Ok(ctx.db.get_str(&args[1])?.map_or(Reply::Nil, |v| Reply::bulk(v)))
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    ctx.db.insert(&args[1], Value::Str(blob(&args[2])));
    Ok(Reply::ok())
}
