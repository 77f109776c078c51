//! Command families, one file each (as Redis's `t_string.c`, `t_list.c`, …). Each file
//! declares its commands in a `COMMANDS` slice; `FAMILIES` lists them for the command table.

use crate::command::CommandSpec;

pub mod bitmaps;
pub mod connection;
pub mod dump;
pub mod functions;
pub mod generic;
pub mod geo;
pub mod geohash;
pub mod hashes;
pub mod hyperloglog;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod snapshots;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zset_ranges;
pub mod zsets;

/// Every family's command list; the command table is built from these.
pub static FAMILIES: &[&[CommandSpec]] = &[
    bitmaps::COMMANDS,
    connection::COMMANDS,
    dump::COMMANDS,
    functions::COMMANDS,
    generic::COMMANDS,
    geo::COMMANDS,
    hashes::COMMANDS,
    hyperloglog::COMMANDS,
    lists::COMMANDS,
    pubsub::COMMANDS,
    scripting::COMMANDS,
    server::COMMANDS,
    sets::COMMANDS,
    snapshots::COMMANDS,
    sort::COMMANDS,
    streams::COMMANDS,
    strings::COMMANDS,
    transactions::COMMANDS,
    zsets::COMMANDS,
];
