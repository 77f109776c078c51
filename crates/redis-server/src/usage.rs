//! Usage metering of one database: whether a command is billed (`billing`, the one place that
//! decides it) and the database's running counters (`Usage`), which the node's reporter reads.
//!
//! What is counted, where: a top-level command when it has its reply (`exec::dispatch`), each
//! command run by EXEC (`commands/transactions.rs`), a blocking command when it is served or
//! times out (`conn.rs`). MULTI, EXEC and DISCARD themselves are free (the commands inside
//! are counted, as Upstash does); a script (EVAL, FCALL, …) is one command, the commands it
//! runs with `redis.call` are not counted. Requests refused before they run (unknown command,
//! wrong arity, NOAUTH, quota errors, QUEUED inside MULTI) are not counted.

use crate::command::{CommandSpec, Flags};
use crate::context::ClientState;
use resp::Reply;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether one command is billed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    Billable,
    /// Connection handling (AUTH, HELLO, PING, QUIT, INFO, COMMAND, MULTI/EXEC/DISCARD: the
    /// table's `Flags::FREE`) or an empty response (nil, empty array, a blocking pop that
    /// timed out, an empty stream read): idle queue pollers must not run up a bill.
    Free,
}

/// The billing of a command from its table entry and its reply.
pub fn billing(spec: &CommandSpec, reply: &Reply) -> Billing {
    if spec.flags.contains(Flags::FREE) || reply.is_empty_response() {
        Billing::Free
    } else {
        Billing::Billable
    }
}

/// A database's counters since it was loaded on this node. Monotonic: the reporter keeps
/// hourly totals by difference. Relaxed atomics: every connection of a tenant runs on the
/// tenant's home thread, so the cache line stays on one core and an increment costs a few
/// cycles; readers only need eventually consistent values.
#[derive(Debug, Default)]
pub struct Usage {
    billable_commands: AtomicU64,
    free_commands: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Last data size seen by `Tenant::usage_sample` (kept when the lock was busy).
    data_bytes: AtomicU64,
}

/// A reading of `Usage` plus the database's gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageSample {
    pub billable_commands: u64,
    pub free_commands: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The database's `used_memory` now.
    pub data_bytes: u64,
    /// Connected clients now.
    pub connections: u64,
}

impl Usage {
    pub fn count(&self, billing: Billing) {
        let counter = match billing {
            Billing::Billable => &self.billable_commands,
            Billing::Free => &self.free_commands,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_bytes_in(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn add_bytes_out(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counters, with the gauges given (or the last data size when `data_bytes` is None).
    pub fn sample(&self, data_bytes: Option<u64>, connections: u64) -> UsageSample {
        if let Some(bytes) = data_bytes {
            self.data_bytes.store(bytes, Ordering::Relaxed);
        }
        UsageSample {
            billable_commands: self.billable_commands.load(Ordering::Relaxed),
            free_commands: self.free_commands.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            data_bytes: self.data_bytes.load(Ordering::Relaxed),
            connections,
        }
    }
}

/// Counts one command of an authenticated client with its reply.
pub fn record(client: &ClientState, spec: &CommandSpec, reply: &Reply) {
    if let Some(tenant) = &client.tenant {
        tenant.usage.count(billing(spec, reply));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::COMMANDS;
    use crate::testing::TestClient;
    use bytes::Bytes;

    fn spec(name: &str) -> &'static CommandSpec {
        COMMANDS.lookup(name.as_bytes()).unwrap()
    }

    #[test]
    fn classification_uses_the_table_and_the_reply() {
        let value = Reply::Bulk(Bytes::from_static(b"v"));
        assert_eq!(billing(spec("get"), &value), Billing::Billable);
        assert_eq!(billing(spec("get"), &Reply::Nil), Billing::Free);
        assert_eq!(billing(spec("lrange"), &Reply::Array(vec![])), Billing::Free);
        assert_eq!(billing(spec("blpop"), &Reply::NilArray), Billing::Free);
        assert_eq!(billing(spec("xread"), &Reply::Map(vec![])), Billing::Free);
        assert_eq!(billing(spec("set"), &Reply::ok()), Billing::Billable);
        assert_eq!(billing(spec("set"), &Reply::error("ERR x")), Billing::Billable);
        for free in ["auth", "hello", "ping", "quit", "info", "command", "multi", "exec", "discard"] {
            assert_eq!(billing(spec(free), &value), Billing::Free, "{free}");
        }
    }

    fn counts(c: &TestClient) -> (u64, u64) {
        let s = c.tenant.usage.sample(None, 0);
        (s.billable_commands, s.free_commands)
    }

    #[test]
    fn transactions_count_their_commands_and_scripts_count_once() {
        let mut c = TestClient::new();
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["GET", "missing"]);
        c.cmd(&["PING"]);
        assert_eq!(counts(&c), (1, 2));
        c.cmd(&["MULTI"]);
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["INCR", "a"]);
        c.cmd(&["GET", "nothing"]);
        c.cmd(&["EXEC"]);
        // SET, INCR billed; MULTI, EXEC and the empty GET free; QUEUED replies not counted.
        assert_eq!(counts(&c), (3, 5));
        c.cmd(&["EVAL", "redis.call('SET', 'x', '1'); redis.call('INCR', 'x'); return 1", "0"]);
        assert_eq!(counts(&c), (4, 5));
        // Refused before running: not counted.
        c.cmd(&["GET"]);
        c.cmd(&["NOSUCHCOMMAND"]);
        assert_eq!(counts(&c), (4, 5));
    }

    #[test]
    fn a_script_handed_over_is_counted_once_where_it_runs() {
        use crate::context::ScriptThread;
        let mut c = TestClient::new();
        let script = ["EVAL", "return redis.call('INCR', 'n')", "0"];
        // Never ran: the worker thread hands it over, uncounted.
        assert_eq!(c.run_on_worker(&script).1, ScriptThread::HandOver);
        assert_eq!(counts(&c), (0, 0));
        assert_eq!(c.cmd(&script), Reply::Integer(1));
        assert_eq!(counts(&c), (1, 0));
        // Quick last time: now it runs on the worker thread, counted there.
        assert_eq!(c.run_on_worker(&script), (Reply::Integer(2), ScriptThread::Worker));
        assert_eq!(counts(&c), (2, 0));
    }

    #[test]
    fn blocking_pops_are_counted_when_answered() {
        let mut c = TestClient::new();
        let (_, block) = c.run(&[b"BLPOP", b"q", b"0"]);
        assert!(block.is_some(), "waits: counted later, by the connection");
        assert_eq!(counts(&c), (0, 0));
        c.cmd(&["RPUSH", "q", "x"]);
        c.cmd(&["BLPOP", "q", "0"]);
        assert_eq!(counts(&c), (2, 0));
        c.cmd(&["MULTI"]);
        c.cmd(&["BLPOP", "q", "0"]);
        c.cmd(&["EXEC"]);
        assert_eq!(counts(&c), (2, 3), "an empty pop inside EXEC is free");
    }
}
