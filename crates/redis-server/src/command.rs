//! The static command table: one `CommandSpec` per command, the single source of truth for
//! dispatch, arity checks, `COMMAND` output, ACL categories, and which commands write (for the
//! change log, replication, forwarding and eviction), block, or are free of charge.

use crate::context::Ctx;
use crate::error::CommandResult;
use bytes::Bytes;
use std::sync::LazyLock;

/// Handler of one command. `args[0]` is the command name as the client sent it.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> CommandResult;

/// Command properties, as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// Changes the dataset: goes to the change log, is forwarded by replicas.
    pub const WRITE: Flags = Flags(1 << 0);
    pub const READONLY: Flags = Flags(1 << 1);
    /// May grow memory use: refused when the database is full (eviction off).
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    /// Not allowed inside Lua scripts.
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    /// May block the client (blocking pops, XREAD BLOCK).
    pub const BLOCKING: Flags = Flags(1 << 6);
    /// Runs before authentication (AUTH, HELLO, QUIT).
    pub const NO_AUTH: Flags = Flags(1 << 7);
    /// Runs immediately even inside MULTI (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    pub const NO_MULTI_QUEUE: Flags = Flags(1 << 8);
    /// Allowed while a RESP2 connection is in subscribe mode.
    pub const SUBSCRIBE_CONTEXT: Flags = Flags(1 << 9);
    /// Never billed (AUTH, HELLO, PING, QUIT, INFO, COMMAND; MULTI, EXEC, DISCARD, whose
    /// inner commands are billed): see `usage::billing`.
    pub const FREE: Flags = Flags(1 << 10);
    pub const FAST: Flags = Flags(1 << 11);
    pub const LOADING: Flags = Flags(1 << 12);
    pub const STALE: Flags = Flags(1 << 13);
    /// Keys are found by a function (e.g. `numkeys` arguments).
    pub const MOVABLE_KEYS: Flags = Flags(1 << 14);
    /// Not allowed inside MULTI (WATCH).
    pub const NO_MULTI: Flags = Flags(1 << 15);
    /// Answered while a script keeps the database busy, without the database (AUTH, HELLO,
    /// MULTI, QUIT; SCRIPT KILL, FUNCTION KILL and FUNCTION STATS are answered by the
    /// scripting module itself).
    pub const ALLOW_BUSY: Flags = Flags(1 << 16);
    /// Runs a Lua script (EVAL…, FCALL…): the connection hands it to a script thread so that
    /// its worker thread keeps serving while it runs (`scripting/busy.rs`).
    pub const RUNS_SCRIPT: Flags = Flags(1 << 17);

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// Finds the key positions of a movable-keys command in its arguments.
pub type KeyFinder = fn(&[Bytes]) -> Vec<usize>;

/// Where the keys of a command are, Redis's legacy (first, last, step) triple; `last` < 0
/// counts from the end. A movable-keys command also gives a function for the exact positions.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
    pub find: Option<KeyFinder>,
}

impl KeySpec {
    pub const NONE: KeySpec = KeySpec { first: 0, last: 0, step: 0, find: None };
    pub const FIRST: KeySpec = KeySpec { first: 1, last: 1, step: 1, find: None };
    pub const ALL: KeySpec = KeySpec { first: 1, last: -1, step: 1, find: None };

    pub const fn range(first: i32, last: i32, step: i32) -> KeySpec {
        KeySpec { first, last, step, find: None }
    }

    pub const fn movable(first: i32, last: i32, step: i32, find: KeyFinder) -> KeySpec {
        KeySpec { first, last, step, find: Some(find) }
    }

    /// Positions of the keys in `args`.
    pub fn positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(find) = self.find {
            return find(args).into_iter().filter(|&i| i < args.len()).collect();
        }
        if self.first <= 0 || self.step <= 0 {
            return Vec::new();
        }
        let last = if self.last < 0 { args.len() as i64 + self.last as i64 } else { self.last as i64 };
        let mut out = Vec::new();
        let mut i = self.first as i64;
        while i <= last && (i as usize) < args.len() {
            out.push(i as usize);
            i += self.step as i64;
        }
        out
    }
}

#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lower-case name; container commands (CLIENT, CONFIG…) dispatch subcommands themselves.
    pub name: &'static str,
    /// Redis convention: N means exactly N arguments (name included), -N means at least N.
    pub arity: i32,
    pub flags: Flags,
    pub keys: KeySpec,
    /// Redis command group (`string`, `list`, …) for `COMMAND DOCS` and ACL categories.
    pub group: &'static str,
    pub handler: Handler,
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags.contains(Flags::WRITE)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= (-a) as usize
        }
    }

    /// The flag words `COMMAND INFO` reports.
    pub fn flag_names(&self) -> Vec<&'static str> {
        const NAMES: &[(Flags, &str)] = &[
            (Flags::WRITE, "write"),
            (Flags::READONLY, "readonly"),
            (Flags::DENYOOM, "denyoom"),
            (Flags::ADMIN, "admin"),
            (Flags::PUBSUB, "pubsub"),
            (Flags::NOSCRIPT, "noscript"),
            (Flags::BLOCKING, "blocking"),
            (Flags::NO_AUTH, "no_auth"),
            (Flags::LOADING, "loading"),
            (Flags::STALE, "stale"),
            (Flags::FAST, "fast"),
            (Flags::MOVABLE_KEYS, "movablekeys"),
            (Flags::NO_MULTI, "no_multi"),
            (Flags::ALLOW_BUSY, "allow_busy"),
        ];
        NAMES.iter().filter(|(f, _)| self.flags.contains(*f)).map(|(_, n)| *n).collect()
    }

    /// ACL categories, derived from the flags and the group as Redis does.
    pub fn acl_categories(&self) -> Vec<String> {
        let mut cats = Vec::new();
        let f = self.flags;
        if f.contains(Flags::WRITE) {
            cats.push("@write");
        }
        if f.contains(Flags::READONLY) {
            cats.push("@read");
        }
        if f.contains(Flags::ADMIN) {
            cats.push("@admin");
            cats.push("@dangerous");
        }
        if f.contains(Flags::PUBSUB) {
            cats.push("@pubsub");
        }
        if f.contains(Flags::FAST) {
            cats.push("@fast");
        } else {
            cats.push("@slow");
        }
        if f.contains(Flags::BLOCKING) {
            cats.push("@blocking");
        }
        let group_cat = match self.group {
            "string" => Some("@string"),
            "list" => Some("@list"),
            "hash" => Some("@hash"),
            "set" => Some("@set"),
            "sorted-set" => Some("@sortedset"),
            "hyperloglog" => Some("@hyperloglog"),
            "geo" => Some("@geo"),
            "bitmap" => Some("@bitmap"),
            "stream" => Some("@stream"),
            "generic" => Some("@keyspace"),
            "transactions" => Some("@transaction"),
            "connection" => Some("@connection"),
            "scripting" => Some("@scripting"),
            _ => None,
        };
        cats.extend(group_cat);
        cats.into_iter().map(String::from).collect()
    }
}

/// Longest command name the table holds; longer names are unknown without a look.
const MAX_NAME_LEN: usize = 32;
/// Buckets per name length: the first byte's low five bits (letters and `_`, any case).
const FIRST_BYTE_BUCKETS: usize = 32;

/// Every command the server knows. A lookup runs on every request, so it avoids hashing and
/// UTF-8 checks: names are bucketed by length and first letter (a bucket holds one to three
/// names) and compared without regard to ASCII case.
pub struct CommandTable {
    buckets: Vec<Vec<&'static CommandSpec>>,
    count: usize,
}

impl CommandTable {
    fn bucket(len: usize, first: u8) -> usize {
        len * FIRST_BYTE_BUCKETS + usize::from(first & 0x1f)
    }

    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let (&first, _) = name.split_first()?;
        if name.len() > MAX_NAME_LEN {
            return None;
        }
        let bucket = &self.buckets[Self::bucket(name.len(), first)];
        bucket.iter().copied().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.buckets.iter().flatten().copied()
    }
}

pub static COMMANDS: LazyLock<CommandTable> = LazyLock::new(|| {
    let mut table = CommandTable { buckets: vec![Vec::new(); (MAX_NAME_LEN + 1) * FIRST_BYTE_BUCKETS], count: 0 };
    for family in crate::commands::FAMILIES {
        for spec in family.iter() {
            assert!(!spec.name.is_empty() && spec.name.len() <= MAX_NAME_LEN, "command name {} is too long", spec.name);
            assert!(table.lookup(spec.name.as_bytes()).is_none(), "command {} is declared twice", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase(), "command names are lower case");
            table.buckets[CommandTable::bucket(spec.name.len(), spec.name.as_bytes()[0])].push(spec);
            table.count += 1;
        }
    }
    table
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert!(COMMANDS.len() > 5);
        for spec in COMMANDS.iter() {
            assert!(spec.arity != 0, "{} has arity 0", spec.name);
            assert!(
                !(spec.flags.contains(Flags::WRITE) && spec.flags.contains(Flags::READONLY)),
                "{} is both write and readonly",
                spec.name
            );
        }
        assert!(COMMANDS.lookup(b"GeT").is_some());
        assert!(COMMANDS.lookup(b"nope").is_none());
        assert!(COMMANDS.lookup(b"").is_none());
        assert!(COMMANDS.lookup(&[b'g'; 40]).is_none());
        // Bytes that only differ from a name in bit 5 outside letters must not match.
        assert!(COMMANDS.lookup(b"\x07et").is_none());
        for spec in COMMANDS.iter() {
            assert!(std::ptr::eq(COMMANDS.lookup(spec.name.to_ascii_uppercase().as_bytes()).unwrap(), spec));
        }
    }

    #[test]
    fn key_positions() {
        let args: Vec<Bytes> = ["MSET", "a", "1", "b", "2"].iter().map(|s| Bytes::from(*s)).collect();
        assert_eq!(KeySpec::range(1, -1, 2).positions(&args), vec![1, 3]);
        assert_eq!(KeySpec::FIRST.positions(&args), vec![1]);
        assert_eq!(KeySpec::NONE.positions(&args), Vec::<usize>::new());
    }
}
