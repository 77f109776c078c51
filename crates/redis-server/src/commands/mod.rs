//! Command families, one file each (as Redis's `t_string.c`, `t_list.c`, …). Each file
//! declares its commands in a `COMMANDS` slice; `FAMILIES` lists them for the command table.

use crate::command::CommandSpec;

pub mod connection;
pub mod strings;
pub mod zset_ranges;
pub mod zsets;

/// Every family's command list; the command table is built from these.
pub static FAMILIES: &[&[CommandSpec]] = &[connection::COMMANDS, strings::COMMANDS, zsets::COMMANDS];
