//! Per-database plan limits: what they are (`TenantLimits`), the checks made before a command
//! runs (key and record sizes, the data-size quota with eviction), and the command-rate bucket.

use crate::command::{CommandSpec, Flags};
use crate::context::Ctx;
use crate::error::CommandError;
use crate::persistence::FsyncPolicy;
use bytes::Bytes;
use keyspace::{Eviction, MemoryPolicy, Room};
use std::time::{Duration, Instant};

/// The error a command gets when the database is full and nothing could be evicted.
pub const QUOTA_EXCEEDED: &str = "ERR DB capacity quota exceeded";
pub const RECORD_TOO_LARGE: &str = "ERR max single record size exceeded";
pub const TOO_MANY_CONNECTIONS: &str = "ERR max concurrent connections exceeded";
pub const RATE_EXCEEDED: &str =
    "ERR max requests limit exceeded: too many commands per second for this database's plan";

/// Limits of one database, from its plan. Every size and count uses 0 for "no limit".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantLimits {
    /// Data size (keys and values, as `used_memory` estimates it) past which commands that
    /// may grow the database are refused or make room by eviction.
    pub max_data_bytes: u64,
    /// Largest request (all arguments of one command), checked while reading it.
    pub max_request_bytes: u64,
    /// Largest single argument (value, element) of a write command.
    pub max_record_bytes: u64,
    /// Largest key a write command may name.
    pub max_key_bytes: u64,
    /// Connections authenticated to the database at once.
    pub max_connections: u64,
    /// Commands per second, averaged by a token bucket holding one second's worth.
    pub max_commands_per_second: u64,
    pub eviction: Eviction,
    /// When its writes reach the disk; `None` takes the node's `--fsync`. Read at every batch
    /// that writes, so a plan change applies to the writes after it.
    pub fsync: Option<FsyncPolicy>,
}

impl TenantLimits {
    pub fn memory_policy(&self) -> MemoryPolicy {
        MemoryPolicy { max_data_bytes: self.max_data_bytes, eviction: self.eviction }
    }

    /// The node's request parsing limits, narrowed by this database's request size.
    pub fn parse_limits(&self, node: &resp::Limits) -> resp::Limits {
        if self.max_request_bytes == 0 {
            return *node;
        }
        let max = usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX);
        resp::Limits {
            max_request_bytes: node.max_request_bytes.min(max),
            max_bulk_bytes: node.max_bulk_bytes.min(max),
            ..*node
        }
    }
}

fn key_too_large(limit: u64, actual: usize) -> CommandError {
    CommandError::err(format!("max key size exceeded. Limit: {limit} bytes, Actual: {actual} bytes"))
}

/// Key and record sizes of a write command's arguments. The key positions are only looked
/// up when some argument is longer than the key limit, so the common case is one pass over
/// argument lengths.
fn check_sizes(limits: &TenantLimits, spec: &CommandSpec, args: &[Bytes]) -> Result<(), CommandError> {
    let longest = args.iter().skip(1).map(Bytes::len).max().unwrap_or(0) as u64;
    let mut key_positions = Vec::new();
    if limits.max_key_bytes != 0 && longest > limits.max_key_bytes {
        key_positions = spec.keys.positions(args);
        if let Some(&i) = key_positions.iter().find(|&&i| args[i].len() as u64 > limits.max_key_bytes) {
            return Err(key_too_large(limits.max_key_bytes, args[i].len()));
        }
    }
    if limits.max_record_bytes != 0 && longest > limits.max_record_bytes {
        let is_key = |i: &usize| key_positions.contains(i);
        let too_large =
            args.iter().enumerate().skip(1).any(|(i, a)| a.len() as u64 > limits.max_record_bytes && !is_key(&i));
        if too_large {
            return Err(CommandError::Other(RECORD_TOO_LARGE.into()));
        }
    }
    Ok(())
}

/// For commands that grow a string in place (APPEND, SETRANGE, SETBIT): whether the value
/// they would leave, `len` bytes, fits the plan's record size. Their arguments alone are
/// small, so the argument check of `admit` cannot see it.
pub fn check_grown_record(ctx: &Ctx, len: usize) -> Result<(), CommandError> {
    let limit = ctx.client.tenant.as_ref().map_or(0, |t| t.limits.read().max_record_bytes);
    if limit != 0 && len as u64 > limit {
        return Err(CommandError::Other(RECORD_TOO_LARGE.into()));
    }
    Ok(())
}

/// Makes room for a command that may grow the database: evicts when the database is full
/// and eviction is on (each eviction goes to the change log as `DEL key`), and says whether
/// there is room now.
pub fn make_room(ctx: &mut Ctx) -> Room {
    let mut evicted = Vec::new();
    let room = ctx.db.make_room(&mut evicted);
    for key in evicted {
        ctx.db.change_log.append(&[Bytes::from_static(b"DEL"), Bytes::copy_from_slice(&key)]);
    }
    room
}

/// The checks a command passes before it runs, as Redis checks `maxmemory` before running a
/// command: a write's key and record sizes, then, for a command that may grow the data
/// (`DENYOOM`), the quota. `may_grow` is false where Redis lets a DENYOOM command through
/// anyway (a script that already wrote must be allowed to finish).
pub fn admit(ctx: &mut Ctx, spec: &CommandSpec, args: &[Bytes], may_grow: bool) -> Result<(), CommandError> {
    if !spec.is_write() {
        return Ok(());
    }
    let Some(limits) = ctx.client.tenant.as_ref().map(|t| *t.limits.read()) else { return Ok(()) };
    check_sizes(&limits, spec, args)?;
    // `is_full` first: the common case (room left) makes no call that builds an eviction list.
    if may_grow && spec.flags.contains(Flags::DENYOOM) && ctx.db.is_full() && make_room(ctx) == Room::Full {
        return Err(CommandError::Other(QUOTA_EXCEEDED.into()));
    }
    Ok(())
}

/// Longest a connection waits for the command-rate bucket before its excess is refused.
pub const MAX_RATE_DELAY: Duration = Duration::from_millis(100);

/// A token bucket of commands: `rate` tokens a second, holding at most one second's worth,
/// so a database may burst to its rate and then runs at it.
#[derive(Debug)]
pub struct RateBucket {
    rate: u64,
    tokens: f64,
    refilled: Instant,
}

impl RateBucket {
    pub fn new(rate: u64) -> Self {
        RateBucket { rate, tokens: rate as f64, refilled: Instant::now() }
    }

    /// Changes the rate (a plan change); the tokens already there stay, capped by the new one.
    pub fn set_rate(&mut self, rate: u64) {
        if rate != self.rate {
            self.rate = rate;
            self.tokens = self.tokens.min(rate as f64);
        }
    }

    /// Whether this bucket grants everything (the plan has no command rate).
    pub fn is_unlimited(&self) -> bool {
        self.rate == 0
    }

    /// Takes up to `want` tokens; returns how many it got and, when none, how long until one
    /// is there.
    pub fn take(&mut self, want: usize, now: Instant) -> (usize, Duration) {
        if self.rate == 0 {
            return (want, Duration::ZERO);
        }
        let rate = self.rate as f64;
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled = now;
        let granted = (self.tokens.floor() as usize).min(want);
        self.tokens -= granted as f64;
        let wait = if granted == 0 { Duration::from_secs_f64((1.0 - self.tokens) / rate) } else { Duration::ZERO };
        (granted, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use resp::Reply;

    fn limited(limits: TenantLimits) -> TestClient {
        let c = TestClient::new();
        c.tenant.apply_limits(&limits);
        c
    }

    fn info_field(c: &mut TestClient, section: &str, field: &str) -> String {
        let Reply::Verbatim(text) = c.cmd(&["INFO", section]) else { panic!() };
        let text = String::from_utf8(text.to_vec()).unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("{field}"));
        line.split_once(':').unwrap().1.to_string()
    }

    fn used(c: &mut TestClient) -> u64 {
        info_field(c, "memory", "used_memory").parse().unwrap()
    }

    fn recount(c: &TestClient) -> u64 {
        c.tenant.state.lock().db.recount_used_bytes()
    }

    #[test]
    fn accounting_follows_every_kind_of_write_and_returns_to_zero() {
        let mut c = TestClient::new();
        c.clock_ms = Some(1_000);
        assert_eq!(used(&mut c), 0);
        let mut last = 0;
        let steps: &[&[&str]] = &[
            &["SET", "s", "a-value-longer-than-sixteen-bytes"],
            &["APPEND", "s", "more-bytes-appended-to-the-string"],
            &["HSET", "h", "f1", "v1", "f2", "a-value-longer-than-sixteen-bytes"],
            &["LPUSH", "l", "a", "b", "c-value-longer-than-sixteen-bytes"],
            &["SADD", "st", "m1", "m2", "a-member-longer-than-sixteen-bytes"],
            &["ZADD", "z", "1", "a", "2", "a-member-longer-than-sixteen-bytes"],
            &["XADD", "x", "*", "field", "value"],
            &["SET", "ttl", "v", "PX", "500"],
        ];
        for step in steps {
            assert!(!matches!(c.cmd(step), Reply::Error(_)), "{step:?}");
            let now = used(&mut c);
            assert!(now > last, "{step:?} did not grow used_memory ({last} -> {now})");
            assert_eq!(now, recount(&c), "{step:?}");
            last = now;
        }
        let shrinking: &[&[&str]] = &[
            &["HDEL", "h", "f2"],
            &["LPOP", "l"],
            &["SREM", "st", "a-member-longer-than-sixteen-bytes"],
            &["ZREM", "z", "a-member-longer-than-sixteen-bytes"],
            &["DEL", "s"],
        ];
        for step in shrinking {
            c.cmd(step);
            let now = used(&mut c);
            assert!(now < last, "{step:?} did not shrink used_memory ({last} -> {now})");
            assert_eq!(now, recount(&c), "{step:?}");
            last = now;
        }
        // Expiry (lazy, on access) gives the key's bytes back.
        c.clock_ms = Some(2_000);
        assert_eq!(c.cmd(&["GET", "ttl"]), Reply::Nil);
        assert!(used(&mut c) < last);
        assert_eq!(used(&mut c), recount(&c));
        c.cmd(&["DEL", "h", "l", "st", "z", "x"]);
        assert_eq!(used(&mut c), 0);
        // FLUSHDB resets it too.
        c.cmd(&["MSET", "a", "1", "b", "2"]);
        assert!(used(&mut c) > 0);
        c.cmd(&["FLUSHDB"]);
        assert_eq!(used(&mut c), 0);
    }

    #[test]
    fn big_collections_stay_consistent_through_many_writes() {
        let mut c = TestClient::new();
        for i in 0..300 {
            c.cmd(&["HSET", "h", &format!("field-{i}"), &"v".repeat(i % 40)]);
            c.cmd(&["RPUSH", "l", &"x".repeat(i % 50)]);
            c.cmd(&["ZADD", "z", &i.to_string(), &format!("member-number-{i}")]);
        }
        assert_eq!(used(&mut c), recount(&c));
        for i in 0..300 {
            c.cmd(&["HDEL", "h", &format!("field-{i}")]);
            c.cmd(&["RPOP", "l"]);
            c.cmd(&["ZREM", "z", &format!("member-number-{i}")]);
        }
        assert_eq!(used(&mut c), 0);
    }

    #[test]
    fn memory_usage_and_info_report_the_estimate_and_the_plan() {
        let mut c = limited(TenantLimits { max_data_bytes: 1 << 20, ..TenantLimits::default() });
        c.cmd(&["SET", "k", &"v".repeat(1000)]);
        let Reply::Integer(n) = c.cmd(&["MEMORY", "USAGE", "k"]) else { panic!() };
        assert_eq!(n as u64, used(&mut c));
        assert!(n > 1000);
        assert_eq!(info_field(&mut c, "memory", "maxmemory"), (1 << 20).to_string());
        assert_eq!(info_field(&mut c, "memory", "maxmemory_policy"), "noeviction");
        c.tenant.apply_limits(&TenantLimits { max_data_bytes: 1 << 20, eviction: Eviction::On, ..Default::default() });
        assert_eq!(info_field(&mut c, "memory", "maxmemory_policy"), "volatile-random");
        let Reply::Map(m) = c.cmd(&["CONFIG", "GET", "maxmemory*"]) else { panic!() };
        assert!(m.contains(&(bulk("maxmemory"), bulk("1048576"))), "{m:?}");
        assert!(m.contains(&(bulk("maxmemory-policy"), bulk("volatile-random"))), "{m:?}");
        assert!(err("ERR CONFIG SET failed")(&c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])));
    }

    fn fill(c: &mut TestClient) -> usize {
        let mut n = 0;
        while c.cmd(&["SET", &format!("key:{n}"), "value"]) == ok() {
            n += 1;
            assert!(n < 100_000, "never full");
        }
        n
    }

    #[test]
    fn a_full_database_refuses_growth_but_serves_reads_and_deletes() {
        let mut c = limited(TenantLimits { max_data_bytes: 10_000, ..TenantLimits::default() });
        let n = fill(&mut c);
        assert!(n > 10);
        assert_eq!(c.cmd(&["SET", "another", "v"]), Reply::error(QUOTA_EXCEEDED));
        assert_eq!(c.cmd(&["LPUSH", "list", "v"]), Reply::error(QUOTA_EXCEEDED));
        assert_eq!(c.cmd(&["GET", "key:0"]), bulk("value"));
        // Non-DENYOOM writes still run.
        assert_eq!(c.cmd(&["EXPIRE", "key:1", "100"]), int(1));
        assert_eq!(c.cmd(&["DEL", "key:0", "key:1", "key:2"]), int(3));
        assert_eq!(c.cmd(&["SET", "another", "v"]), ok());
        // Nothing was evicted.
        assert_eq!(c.cmd(&["EXISTS", "key:3"]), int(1));
    }

    #[test]
    fn multi_refuses_at_queue_time_and_exec_when_full() {
        let mut c = limited(TenantLimits { max_data_bytes: 5_000, ..TenantLimits::default() });
        fill(&mut c);
        assert_eq!(c.cmd(&["MULTI"]), ok());
        assert_eq!(c.cmd(&["GET", "key:0"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["SET", "x", "y"]), Reply::error(QUOTA_EXCEEDED));
        assert!(err("EXECABORT")(&c.cmd(&["EXEC"])));
        // Queued while there was room, executed when full: the whole EXEC is refused.
        c.cmd(&["DEL", "key:0", "key:1"]);
        assert_eq!(c.cmd(&["MULTI"]), ok());
        assert_eq!(c.cmd(&["SET", "x", "y"]), Reply::status("QUEUED"));
        let mut other = c.another();
        fill(&mut other);
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::error("EXECABORT Transaction discarded because of: DB capacity quota exceeded")
        );
        assert_eq!(c.cmd(&["GET", "x"]), Reply::Nil);
    }

    #[test]
    fn scripts_get_the_quota_error_until_they_have_written() {
        let mut c = limited(TenantLimits { max_data_bytes: 5_000, ..TenantLimits::default() });
        fill(&mut c);
        let r = c.cmd(&["EVAL", "return redis.call('SET', 'x', 'y')", "0"]);
        assert!(err(QUOTA_EXCEEDED)(&r), "{r:?}");
        let r = c.cmd(&["EVAL", "return redis.pcall('SET', 'x', 'y')", "0"]);
        assert_eq!(r, Reply::error(QUOTA_EXCEEDED));
        // Reads and deletes work; once the script wrote, it may go on (atomicity first).
        let r = c.cmd(&["EVAL", "redis.call('DEL', 'key:0'); return redis.call('SET', 'x', 'y')", "0"]);
        assert_eq!(r, ok());
    }

    #[test]
    fn eviction_removes_keys_with_a_ttl_first_and_logs_them() {
        let mut c = limited(TenantLimits { max_data_bytes: 20_000, eviction: Eviction::On, ..Default::default() });
        for i in 0..20 {
            c.cmd(&["SET", &format!("ttl:{i}"), "v", "EX", "1000"]);
        }
        let mut i = 0;
        while c.tenant.state.lock().db.volatile_len() == 20 {
            assert_eq!(c.cmd(&["SET", &format!("plain:{i}"), "value"]), ok());
            i += 1;
            assert!(i < 10_000);
        }
        // The keys without TTL are all still there; a TTL key was evicted and logged as DEL.
        for j in 0..i {
            assert_eq!(c.cmd(&["EXISTS", &format!("plain:{j}")]), int(1));
        }
        let log = c.change_log();
        let dels: Vec<_> = log.iter().filter(|r| r[0] == "DEL").collect();
        assert!(!dels.is_empty() && dels.iter().all(|r| r[1].starts_with("ttl:")), "{dels:?}");
        assert_eq!(info_field(&mut c, "stats", "evicted_keys"), dels.len().to_string());
        // With no TTL key left, any key goes.
        for _ in 0..1000 {
            assert_eq!(c.cmd(&["SET", &format!("plain:{i}"), "value"]), ok());
            i += 1;
        }
        assert_eq!(c.tenant.state.lock().db.volatile_len(), 0);
        assert!(used(&mut c) <= 20_000 + 200);
        let evicted: u64 = info_field(&mut c, "stats", "evicted_keys").parse().unwrap();
        assert!(evicted > 20);
        assert_eq!(c.change_log().iter().filter(|r| r[0] == "DEL").count() as u64, evicted);
    }

    #[test]
    fn key_and_record_sizes() {
        let mut c = limited(TenantLimits { max_key_bytes: 10, max_record_bytes: 20, ..Default::default() });
        assert_eq!(
            c.cmd(&["SET", "a-key-of-21-bytes....", "v"]),
            Reply::error("ERR max key size exceeded. Limit: 10 bytes, Actual: 21 bytes")
        );
        assert_eq!(c.cmd(&["SET", "k", &"v".repeat(21)]), Reply::error(RECORD_TOO_LARGE));
        assert_eq!(c.cmd(&["HSET", "h", "f", &"v".repeat(21)]), Reply::error(RECORD_TOO_LARGE));
        assert_eq!(c.cmd(&["SET", "k", &"v".repeat(20)]), ok());
        // Reads are not limited.
        assert_eq!(c.cmd(&["GET", "a-key-of-21-bytes...."]), Reply::Nil);
    }

    #[test]
    fn rate_bucket_grants_its_rate_then_waits() {
        let start = Instant::now();
        let mut b = RateBucket::new(10);
        assert_eq!(b.take(25, start).0, 10);
        let (granted, wait) = b.take(1, start);
        assert_eq!(granted, 0);
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        assert_eq!(b.take(5, start + Duration::from_millis(300)).0, 3);
        assert_eq!(RateBucket::new(0).take(1000, start).0, 1000);
    }
}
