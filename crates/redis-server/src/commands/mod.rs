//! Command families, one file each (as Redis's `t_string.c`, `t_list.c`, …). Each file
//! declares its commands in a `COMMANDS` slice; `FAMILIES` lists them for the command table.

use crate::command::CommandSpec;

pub mod bitmaps;
pub mod connection;
pub mod generic;
pub mod hyperloglog;
pub mod pubsub;
pub mod server;
pub mod strings;
pub mod transactions;

/// Every family's command list; the command table is built from these.
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    generic::COMMANDS,
    strings::COMMANDS,
    transactions::COMMANDS,
    pubsub::COMMANDS,
    server::COMMANDS,
    bitmaps::COMMANDS,
    hyperloglog::COMMANDS,
];
