//! The Lua 5.1 scripting engine behind EVAL and FCALL: one sandboxed Lua state per tenant,
//! created on first use, a script cache keyed by SHA1, `redis.*` bindings that run commands
//! through the command table, and the conversions between Lua values and replies.

pub mod busy;
pub mod functions;
pub mod libs;

use crate::command::{Flags, COMMANDS};
use crate::context::{Ctx, ScriptThread};
use crate::error::CommandError;
use crate::tenant::Tenant;
use bytes::Bytes;
use keyspace::changelog::ChangeLog;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, Variadic, VmState};
use resp::{Protocol, Reply};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Text of the error a killed script ends with.
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
/// Text of the error that stops a script given up on a worker thread (never shown).
const GIVEN_UP: &str = "ERR script moved to a script thread";

/// Text of the error a script stopped by the node's hard time limit ends with.
fn hard_limit_error(limit: Duration) -> String {
    format!("ERR Script killed by the server: it ran longer than the limit of {} ms", limit.as_millis())
}
/// Deepest table nesting converted to or from a reply (a table may contain itself).
const MAX_DEPTH: usize = 200;
/// How many Lua instructions run between two looks at the kill flag.
const HOOK_EVERY: u32 = 100_000;
/// How long a script may run on a worker thread (which serves other connections meanwhile
/// blocked); one that passes it before any effect is given up and run on a script thread,
/// and one whose last run took longer starts there.
const INLINE_BUDGET: Duration = Duration::from_millis(2);

/// Scripting state of one tenant. The engine is only touched under the tenant lock; the flags
/// are atomics so that a SCRIPT KILL arriving on another connection can read and set them
/// without that lock.
pub struct ScriptState {
    engine: parking_lot::Mutex<Option<Engine>>,
    flags: Arc<RunFlags>,
    /// `Some(since)` from when a connection hands a script command to a script thread until
    /// that thread released the tenant lock (see `busy.rs`).
    gate: tokio::sync::watch::Sender<Option<Instant>>,
    /// Libraries and functions of the engine at the last FCALL, for FUNCTION STATS while
    /// the engine is busy.
    counts: parking_lot::Mutex<(usize, usize)>,
}

/// How long a script's last run took, against `INLINE_BUDGET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    Quick,
    Slow,
}

/// The pace of one compiled script or function, kept beside it in the engine (which only
/// the tenant-lock holder touches); unknown until it first ran.
#[derive(Default)]
pub struct ScriptPace(Cell<Option<Pace>>);

impl ScriptPace {
    fn is_quick(&self) -> bool {
        self.0.get() == Some(Pace::Quick)
    }

    fn note(&self, pace: Pace) {
        self.0.set(Some(pace));
    }
}

/// An EVAL body compiled in the engine.
pub struct CachedScript {
    pub func: Function,
    pub pace: ScriptPace,
    /// How it came: EVAL bodies are evicted least recently used first beyond
    /// `MAX_EVAL_SCRIPTS`; SCRIPT LOAD ones stay until SCRIPT FLUSH.
    origin: ScriptOrigin,
    /// `Engine::use_counter` at its last use, for the eviction order.
    last_used: Cell<u64>,
    body: Bytes,
}

/// Where a cached script came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOrigin {
    /// EVAL / EVAL_RO with a body: a cache entry, evictable.
    Eval,
    /// SCRIPT LOAD: the client counts on EVALSHA finding it.
    Loaded,
}

/// EVAL bodies kept compiled per database, as Redis 7.4: an application that builds a new
/// body per call (values pasted into the script) would otherwise grow the Lua state without
/// bound, outside the database's size limit. EVALSHA of an evicted one answers NOSCRIPT, and
/// clients then send the body again.
pub const MAX_EVAL_SCRIPTS: usize = 500;

impl Default for ScriptState {
    fn default() -> Self {
        ScriptState {
            engine: parking_lot::Mutex::default(),
            flags: Arc::default(),
            gate: tokio::sync::watch::Sender::new(None),
            counts: parking_lot::Mutex::default(),
        }
    }
}

pub fn set_counts(state: &ScriptState, counts: (usize, usize)) {
    *state.counts.lock() = counts;
}

pub fn last_counts(state: &ScriptState) -> (usize, usize) {
    *state.counts.lock()
}

#[derive(Default)]
struct RunFlags {
    running: AtomicBool,
    /// The running script executed a write command: it can no longer be killed.
    wrote: AtomicBool,
    /// The running script wrote or published: running it again would repeat that.
    had_effects: AtomicBool,
    kill: AtomicBool,
    /// The running script was given up on a worker thread, to run again on a script thread.
    gave_up: AtomicBool,
    /// What runs: [`ScriptKind`] as a number.
    kind: AtomicU8,
    /// The running function, for FUNCTION STATS.
    current: parking_lot::Mutex<Option<RunningFunction>>,
}

/// An EVAL script or a function (FCALL): SCRIPT KILL stops only the first, FUNCTION KILL
/// only the second, and BUSY replies name the matching one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptKind {
    Eval = 0,
    Function = 1,
}

impl ScriptKind {
    /// The BUSY error other clients get while a script of this kind runs too long.
    pub fn busy_error(self) -> &'static str {
        match self {
            ScriptKind::Eval => {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            }
            ScriptKind::Function => {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
        }
    }
}

/// The function being run, as FUNCTION STATS shows it.
#[derive(Clone, Debug)]
pub struct RunningFunction {
    pub name: String,
    pub command: Vec<Bytes>,
    pub started: Instant,
}

/// Outcome of a kill request (SCRIPT KILL with `kind` Eval, FUNCTION KILL with Function).
pub fn kill(state: &ScriptState, kind: ScriptKind) -> Reply {
    let f = &state.flags;
    if !f.running.load(Ordering::SeqCst) {
        return Reply::error("NOTBUSY No scripts in execution right now.");
    }
    if f.wrote.load(Ordering::SeqCst) {
        return Reply::error(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        );
    }
    let running = running_kind(state);
    if running != kind {
        return Reply::error(running.busy_error());
    }
    f.kill.store(true, Ordering::SeqCst);
    Reply::ok()
}

/// Kind of the script running (or last run).
pub fn running_kind(state: &ScriptState) -> ScriptKind {
    if state.flags.kind.load(Ordering::SeqCst) == ScriptKind::Function as u8 {
        ScriptKind::Function
    } else {
        ScriptKind::Eval
    }
}

/// The function running now, if one is.
pub fn running_function(state: &ScriptState) -> Option<RunningFunction> {
    if !is_running(state) {
        return None;
    }
    state.flags.current.lock().clone()
}

/// Whether a script is running now (for a connection that wants to answer BUSY).
pub fn is_running(state: &ScriptState) -> bool {
    state.flags.running.load(Ordering::SeqCst)
}

/// Whether a script with this SHA1 is cached (SCRIPT EXISTS); no Lua state is created.
pub fn has_script(state: &ScriptState, sha: &str) -> bool {
    state.engine.lock().as_ref().is_some_and(|e| e.has_script(sha))
}

/// Scripts cached now and EVAL scripts evicted so far, for INFO; zeros while the engine is
/// busy or was never made.
pub fn cache_figures(state: &ScriptState) -> (usize, u64) {
    match state.engine.try_lock().as_deref() {
        Some(Some(engine)) => (engine.cached_scripts(), engine.evicted_scripts),
        _ => (0, 0),
    }
}

/// Drops every cached script and the Lua state (SCRIPT FLUSH).
pub fn flush(state: &ScriptState) {
    *state.engine.lock() = None;
}

/// A tenant's Lua state and what was compiled in it.
pub struct Engine {
    lua: Lua,
    /// Compiled EVAL bodies by lower-case hex SHA1.
    scripts: HashMap<String, CachedScript>,
    /// The SHA1 of each cached body, so that running one again costs a hash lookup instead
    /// of a SHA1 (~2,000 instructions, a tenth of a short script's run). One entry per script.
    shas: HashMap<Bytes, String>,
    /// Cached scripts that came from EVAL (the evictable ones).
    eval_scripts: usize,
    /// Ticks at every script use, for least-recently-used eviction.
    use_counter: Cell<u64>,
    /// EVAL scripts evicted so far (INFO `evicted_scripts`).
    pub evicted_scripts: u64,
    /// `runner(f, ...)`: calls `f` under an error handler that records where it failed.
    runner: Function,
    /// `eval_runner(f, keys, argv)`: the same for an EVAL body, with KEYS and ARGV as globals.
    eval_runner: Function,
    /// The run `redis.call`, `redis.pcall` and `redis.setresp` act on.
    current: Arc<CurrentRun>,
    /// `load_library(chunk)`: runs a library's top level in the load sandbox.
    load_library: Function,
    /// Compiled functions, a cache of the database's libraries.
    pub functions: functions::Registry,
}

/// Lua code run once per state: the `redis` table and the error handler. Its chunk name
/// marks its frames so the error handler can skip them when reporting a position.
const PRELUDE: &str = r#"
local hidden = {}
local getinfo = debug.getinfo
local type, tostring, error, select, unpack, xpcall = type, tostring, error, select, unpack, xpcall
redis = {}
-- redis.call, redis.pcall and redis.setresp are Rust functions made once per state, acting on
-- the run in progress (`CurrentRun` on the Rust side). A Rust
-- callback cannot raise a table, so errors it raises are turned into {err = ...} tables here
-- (error handler) and by pcall.
local unwrap = function(e, where)
  if type(e) == 'userdata' then
    local msg, lib = hidden.errmsg(e)
    if lib then return (where or '') .. msg end
    if msg then return {err = msg} end
  end
  return e
end
local raw_pcall = pcall
local function fix(ok, ...)
  if ok then return ok, ... end
  return ok, unwrap((...))
end
pcall = function(f, ...) return fix(raw_pcall(f, ...)) end
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then error('wrong number or type of arguments', 2) end
  if msg:sub(1, 1) == '-' then msg = msg:sub(2) end
  return {err = msg}
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then error('wrong number or type of arguments', 2) end
  return {ok = msg}
end
redis.sha1hex = function(s)
  if s == nil then error('wrong number of arguments', 2) end
  return hidden.sha1hex(tostring(s))
end
redis.log = function(level, ...)
  if select('#', ...) == 0 then error('redis.log() requires two arguments or more.', 2) end
end
redis.set_repl = function(...) end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION = '7.0.15'
redis.REDIS_VERSION_NUM = 0x00070f
local function handler(err)
  local level = 2
  local i = getinfo(level, 'nSl')
  while i and (i.what == 'C' or i.source == '=[redis]') and level < 50 do
    level = level + 1
    i = getinfo(level, 'nSl')
  end
  err = unwrap(err, i and i.currentline and i.currentline > 0 and (i.short_src .. ':' .. i.currentline .. ': ') or nil)
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err.source = i.source
    err.line = i.currentline
  end
  return err
end
local redis_t, rawset, G = redis, rawset, _G
-- Puts the Rust callbacks (set once in `hidden`) back before each run: a script may have
-- replaced them in the `redis` table, and must not break the next script.
local function arm()
  redis_t.call, redis_t.pcall, redis_t.setresp = hidden.call, hidden.pcall, hidden.setresp
end
local runner = function(f, ...)
  arm()
  local n = select('#', ...)
  if n == 0 then return xpcall(f, handler) end
  local args = {...}
  return xpcall(function() return f(unpack(args, 1, n)) end, handler)
end
-- EVAL: KEYS and ARGV become globals (raw: `_G` refuses new keys), no closure to collect.
local eval_runner = function(f, keys, argv)
  arm()
  rawset(G, 'KEYS', keys)
  rawset(G, 'ARGV', argv)
  return xpcall(f, handler)
end
return runner, eval_runner, hidden
"#;

/// An error a Rust callback raises with a Redis error text (code included).
#[derive(Debug)]
struct RedisError(String);

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedisError {}

fn raise(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::external(RedisError(msg.into()))
}

/// The Redis error text inside an error value raised by a Rust callback, if it is one.
fn error_text(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(m) if m == KILLED => Some(m.clone()),
        other => other.downcast_ref::<RedisError>().map(|r| r.0.clone()),
    }
}

/// The message of an error raised by a library function (cjson, cmsgpack, struct, bit).
fn lib_error_text(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } => lib_error_text(cause),
        other => other.downcast_ref::<libs::LibError>().map(|r| r.0.clone()),
    }
}

/// Globals Redis removes from the scripts' environment.
const REMOVED_GLOBALS: &[&str] =
    &["dofile", "loadfile", "print", "setfenv", "getfenv", "newproxy", "module", "require", "debug"];

/// Makes `_G` read-only and turns reads of missing globals into errors, as Redis 7 does.
const PROTECT_GLOBALS: &str = r#"
local error, tostring = error, tostring
setmetatable(_G, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})
"#;

impl Engine {
    pub fn new() -> mlua::Result<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is only needed to build the error handler; the global
        // `debug` is removed before any user code runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        let (runner, eval_runner, hidden): (Function, Function, Table) =
            lua.load(PRELUDE).set_name("=[redis]").eval()?;
        let current = Arc::new(CurrentRun::default());
        install_callbacks(&lua, &hidden, &current)?;
        let sha1 = lua.create_function(|lua, s: mlua::String| lua.create_string(sha1_hex(&s.as_bytes())))?;
        hidden.raw_set("sha1hex", sha1)?;
        let errmsg = lua.create_function(|_, v: Value| {
            Ok(match v {
                Value::Error(e) => match lib_error_text(&e) {
                    Some(m) => (Some(m), true),
                    None => (error_text(&e), false),
                },
                _ => (None, false),
            })
        })?;
        hidden.raw_set("errmsg", errmsg)?;
        libs::register(&lua)?;
        let load_library = functions::load_library_helper(&lua, &runner)?;
        let globals = lua.globals();
        for name in REMOVED_GLOBALS {
            globals.raw_set(*name, Value::Nil)?;
        }
        lua.load(PROTECT_GLOBALS).set_name("=[redis]").exec()?;
        Ok(Engine {
            lua,
            scripts: HashMap::new(),
            shas: HashMap::new(),
            eval_scripts: 0,
            use_counter: Cell::new(0),
            evicted_scripts: 0,
            runner,
            eval_runner,
            current,
            load_library,
            functions: functions::Registry::default(),
        })
    }

    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Compiles an EVAL body (or finds it compiled) and returns its SHA1. `Loaded` (SCRIPT
    /// LOAD) also makes an EVAL-cached body permanent.
    pub fn load_script(&mut self, body: &[u8], origin: ScriptOrigin) -> Result<String, CommandError> {
        if let Some(sha) = self.shas.get(body) {
            let sha = sha.clone();
            if origin == ScriptOrigin::Loaded {
                if let Some(script) = self.scripts.get_mut(&sha) {
                    if script.origin == ScriptOrigin::Eval {
                        script.origin = ScriptOrigin::Loaded;
                        self.eval_scripts -= 1;
                    }
                }
            }
            return Ok(sha);
        }
        let sha = sha1_hex(body);
        let func = compile(&self.lua, body, "@user_script")
            .map_err(|m| CommandError::Other(format!("ERR Error compiling script (new function): {m}")))?;
        if origin == ScriptOrigin::Eval {
            if self.eval_scripts >= MAX_EVAL_SCRIPTS {
                self.evict_least_recently_used();
            }
            self.eval_scripts += 1;
        }
        let body = Bytes::copy_from_slice(body);
        self.shas.insert(body.clone(), sha.clone());
        let script = CachedScript { func, pace: ScriptPace::default(), origin, last_used: Cell::new(0), body };
        self.scripts.insert(sha.clone(), script);
        Ok(sha)
    }

    /// Drops the EVAL script used least recently (a scan of at most `MAX_EVAL_SCRIPTS`
    /// entries, only when a new body arrives at a full cache).
    fn evict_least_recently_used(&mut self) {
        let oldest = (self.scripts.iter())
            .filter(|(_, script)| script.origin == ScriptOrigin::Eval)
            .min_by_key(|(_, script)| script.last_used.get())
            .map(|(sha, _)| sha.clone());
        if let Some(script) = oldest.and_then(|sha| self.scripts.remove(&sha)) {
            self.shas.remove(&script.body);
            self.eval_scripts -= 1;
            self.evicted_scripts += 1;
        }
    }

    /// A cached script, noted as just used.
    pub fn script(&self, sha: &str) -> Option<&CachedScript> {
        let script = self.scripts.get(sha)?;
        let tick = self.use_counter.get() + 1;
        self.use_counter.set(tick);
        script.last_used.set(tick);
        Some(script)
    }

    /// Scripts cached now (INFO `number_of_cached_scripts`).
    pub fn cached_scripts(&self) -> usize {
        self.scripts.len()
    }

    pub fn has_script(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }
}

/// Compiles a chunk; the error is Lua's message (`user_script:1: unexpected symbol …`).
pub fn compile(lua: &Lua, body: &[u8], name: &str) -> Result<Function, String> {
    lua.load(body).set_name(name).into_function().map_err(|e| match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => other.to_string(),
    })
}

pub fn sha1_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha1_smol::Sha1::from(data).digest().bytes();
    // By hand rather than through `Display`: this runs for every EVAL.
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Runs `f` with the tenant's engine, creating the engine first if needed.
pub fn with_engine<R>(
    tenant: &Tenant,
    f: impl FnOnce(&mut Engine, &ScriptState) -> Result<R, CommandError>,
) -> Result<R, CommandError> {
    let state = &tenant.scripting;
    let mut guard = state.engine.lock();
    if guard.is_none() {
        *guard = Some(Engine::new().map_err(|e| CommandError::err(format!("Failed creating the Lua state: {e}")))?);
    }
    match guard.as_mut() {
        Some(engine) => f(engine, state),
        None => Err(CommandError::err("Lua state unavailable")),
    }
}

/// How a script is run.
pub struct RunOptions<'a> {
    /// EVAL_RO, EVALSHA_RO, FCALL_RO, or a function flagged `no-writes`.
    pub read_only: bool,
    /// Named in error texts: the script's SHA1, or the function's name.
    pub name: &'a str,
    /// An EVAL script (KEYS and ARGV set as globals) or a function (passed as arguments).
    pub kind: ScriptKind,
    /// The command that runs it, for FUNCTION STATS.
    pub command: &'a [Bytes],
    /// How long its last run took: decides whether a worker thread may run it.
    pub pace: &'a ScriptPace,
}

/// Runs a compiled script or function under the tenant lock (the caller holds it): inner
/// commands go through the command table, their change-log records are collected and
/// re-appended after the script, wrapped in MULTI/EXEC when there is more than one.
pub fn run(
    ctx: &mut Ctx,
    engine: &Engine,
    state: &ScriptState,
    func: &Function,
    keys: &[Bytes],
    argv: &[Bytes],
    opts: &RunOptions,
) -> Result<Reply, CommandError> {
    let on_worker = ctx.script_thread == ScriptThread::Worker;
    if on_worker && !opts.pace.is_quick() {
        ctx.script_thread = ScriptThread::HandOver;
        return Ok(Reply::Nil);
    }
    let started = Instant::now();
    let lua = &engine.lua;
    let flags = state.flags.clone();
    flags.wrote.store(false, Ordering::SeqCst);
    flags.had_effects.store(false, Ordering::SeqCst);
    flags.gave_up.store(false, Ordering::SeqCst);
    flags.kill.store(false, Ordering::SeqCst);
    flags.kind.store(opts.kind as u8, Ordering::SeqCst);
    *flags.current.lock() =
        Some(RunningFunction { name: opts.name.to_string(), command: opts.command.to_vec(), started: Instant::now() });
    flags.running.store(true, Ordering::SeqCst);
    let hook_flags = flags.clone();
    let hard_limit = ctx.node.limits.script_time_limit;
    let deadline = Instant::now() + hard_limit;
    lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
        if hook_flags.kill.load(Ordering::Relaxed) {
            return Err(mlua::Error::runtime(KILLED));
        }
        // Running it again elsewhere is the same as running it later, as long as it has
        // not changed anything yet.
        if on_worker && started.elapsed() > INLINE_BUDGET && !hook_flags.had_effects.load(Ordering::Relaxed) {
            hook_flags.gave_up.store(true, Ordering::Relaxed);
            return Err(mlua::Error::runtime(GIVEN_UP));
        }
        // The hard bound: even a script that wrote (UNKILLABLE) cannot hold its database
        // longer than this. Its writes so far stay (they are in the change log).
        if Instant::now() > deadline {
            return Err(raise(hard_limit_error(hard_limit)));
        }
        Ok(VmState::Continue)
    });
    let saved_log = std::mem::replace(&mut ctx.db.change_log, ChangeLog::new(usize::MAX));
    let saved_protocol = ctx.client.protocol;
    let saved_in_exec = ctx.client.in_exec;
    ctx.client.protocol = Protocol::Resp2;
    ctx.client.in_exec = true;

    let result = call_lua(ctx, engine, func, keys, argv, opts, &flags);

    lua.remove_hook();
    ctx.client.protocol = saved_protocol;
    ctx.client.in_exec = saved_in_exec;
    ctx.block = None;
    let inner = std::mem::replace(&mut ctx.db.change_log, saved_log);
    let records: Vec<Vec<Bytes>> = match inner.read_after(0) {
        Ok(it) => it.map(|r| r.args()).collect(),
        Err(_) => Vec::new(),
    };
    let wrap = records.len() > 1;
    if wrap {
        ctx.db.change_log.append(&[Bytes::from_static(b"MULTI")]);
    }
    for r in &records {
        ctx.db.change_log.append(r);
    }
    if wrap {
        ctx.db.change_log.append(&[Bytes::from_static(b"EXEC")]);
    }
    ctx.propagate = crate::context::Propagate::Nothing;
    let killed = flags.kill.swap(false, Ordering::SeqCst);
    flags.running.store(false, Ordering::SeqCst);
    *flags.current.lock() = None;
    if flags.gave_up.swap(false, Ordering::SeqCst) {
        opts.pace.note(Pace::Slow);
        ctx.script_thread = ScriptThread::HandOver;
        return Ok(Reply::Nil);
    }
    let pace = if started.elapsed() > INLINE_BUDGET { Pace::Slow } else { Pace::Quick };
    opts.pace.note(pace);
    match result {
        Ok(reply) => Ok(reply),
        Err(ScriptError { msg, source, line }) => {
            let msg = if killed { KILLED.to_string() } else { msg };
            let text = match (source, line) {
                (Some(s), Some(l)) => format!("{msg} script: {}, on {s}:{l}.", opts.name),
                _ => format!("{msg} script: {}", opts.name),
            };
            Ok(Reply::Error(text))
        }
    }
}

struct ScriptError {
    msg: String,
    source: Option<String>,
    line: Option<i64>,
}

impl From<mlua::Error> for ScriptError {
    fn from(e: mlua::Error) -> Self {
        ScriptError { msg: format!("ERR {e}"), source: None, line: None }
    }
}

/// A Lua array of byte strings. A valid UTF-8 item (most keys and arguments) is pushed
/// straight onto the Lua stack; others go through a registry reference (slower, same value).
fn bytes_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        match std::str::from_utf8(item) {
            Ok(text) => t.raw_set(i + 1, text)?,
            Err(_) => t.raw_set(i + 1, lua.create_string(item)?)?,
        }
    }
    Ok(t)
}

/// What `redis.call`, `redis.pcall` and `redis.setresp` act on during one run.
struct RunCalls<'a, 'c> {
    ctx: std::cell::RefCell<&'a mut Ctx<'c>>,
    read_only: bool,
    /// The protocol of replies given to the script (`redis.setresp`).
    resp: Cell<u8>,
    flags: &'a RunFlags,
}

impl RunCalls<'_, '_> {
    /// One `redis.call`/`redis.pcall`: the reply as a Lua value, or the error text.
    fn call(&self, lua: &Lua, args: Variadic<Value>) -> mlua::Result<Result<Value, String>> {
        let mut ctx = self.ctx.try_borrow_mut().map_err(|_| raise("ERR recursive call"))?;
        match script_call(&mut ctx, &args, self.read_only, self.resp.get(), self.flags) {
            Ok(Reply::Error(e)) => Ok(Err(e)),
            Ok(reply) => Ok(Ok(reply_to_lua(lua, &reply, self.resp.get(), 0)?)),
            Err(msg) => Ok(Err(msg)),
        }
    }
}

/// The run in progress in one Lua state, for its Rust callbacks. They are created once per
/// state (creating and destroying three scoped callbacks per run was ~18% of a short EVAL's
/// instructions, with their garbage), so they find their run here instead of capturing it.
#[derive(Default)]
struct CurrentRun(std::sync::atomic::AtomicPtr<()>);

/// Clears [`CurrentRun`] when a run ends, unwinding included.
struct RunGuard<'r> {
    current: &'r CurrentRun,
    previous: *mut (),
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.current.0.store(self.previous, Ordering::Release);
    }
}

impl CurrentRun {
    /// Makes `run` the run in progress until the guard is dropped.
    fn enter<'r>(&'r self, run: &RunCalls) -> RunGuard<'r> {
        let previous = self.0.swap(run as *const RunCalls as *mut (), Ordering::AcqRel);
        RunGuard { current: self, previous }
    }

    /// Calls `f` with the run in progress; an error if there is none (a library's top level
    /// at FUNCTION LOAD, or a callback kept by a script and called outside a run).
    fn with<R>(&self, f: impl for<'a, 'c> FnOnce(&RunCalls<'a, 'c>) -> mlua::Result<R>) -> mlua::Result<R> {
        let ptr = self.0.load(Ordering::Acquire) as *const RunCalls<'static, 'static>;
        if ptr.is_null() {
            return Err(raise("ERR redis.call, redis.pcall and redis.setresp work only while a script runs"));
        }
        // SAFETY: a non-null pointer was stored by `enter` from a `RunCalls` that lives in
        // `call_lua`'s frame, and `RunGuard` (dropped before that frame ends, also when
        // unwinding) takes it away again. Callbacks run inside that window only: the Lua state
        // is used by the one thread holding its tenant's lock, and `call_lua` holds it for the
        // whole run. The reference is used only for this call and never stored; the 'static
        // lifetimes are never observed beyond it (`f` is generic over them).
        let run = unsafe { &*ptr };
        f(run)
    }
}

/// Creates the Rust callbacks of the `redis` table once, into `hidden` (the prelude's
/// runners put them into `redis` before each run).
fn install_callbacks(lua: &Lua, hidden: &Table, current: &Arc<CurrentRun>) -> mlua::Result<()> {
    let run = current.clone();
    let call = lua.create_function(move |lua, args: Variadic<Value>| {
        run.with(|r| match r.call(lua, args)? {
            Ok(v) => Ok(v),
            Err(e) => Err(raise(e)),
        })
    })?;
    let run = current.clone();
    let pcall = lua.create_function(move |lua, args: Variadic<Value>| {
        run.with(|r| match r.call(lua, args)? {
            Ok(v) => Ok(v),
            Err(e) => Ok(Value::Table(error_table(lua, &e)?)),
        })
    })?;
    let run = current.clone();
    let setresp = lua.create_function(move |_, args: Variadic<Value>| {
        if args.len() != 1 {
            return Err(raise("ERR redis.setresp() requires one argument."));
        }
        let v = match &args[0] {
            Value::Integer(i) => Some(*i as f64),
            Value::Number(n) => Some(*n),
            Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()),
            _ => None,
        };
        match v {
            Some(v) if v == 2.0 || v == 3.0 => run.with(|r| {
                r.resp.set(v as u8);
                Ok(())
            }),
            _ => Err(raise("ERR RESP version must be 2 or 3.")),
        }
    })?;
    hidden.raw_set("call", call)?;
    hidden.raw_set("pcall", pcall)?;
    hidden.raw_set("setresp", setresp)?;
    Ok(())
}

fn call_lua(
    ctx: &mut Ctx,
    engine: &Engine,
    func: &Function,
    keys: &[Bytes],
    argv: &[Bytes],
    opts: &RunOptions,
    flags: &RunFlags,
) -> Result<Reply, ScriptError> {
    let lua = &engine.lua;
    let keys_t = bytes_table(lua, keys)?;
    let argv_t = bytes_table(lua, argv)?;
    let run =
        RunCalls { ctx: std::cell::RefCell::new(&mut *ctx), read_only: opts.read_only, resp: Cell::new(2), flags };
    let (ok, value): (bool, Value) = {
        let _running = engine.current.enter(&run);
        if opts.kind == ScriptKind::Eval {
            engine.eval_runner.call((func, keys_t, argv_t))?
        } else {
            engine.runner.call((func, keys_t, argv_t))?
        }
    };
    let resp = run.resp;
    if ok {
        return lua_to_reply(&value, resp.get(), 0).map_err(ScriptError::from);
    }
    let Value::Table(t) = value else {
        return Err(ScriptError { msg: "ERR unknown error".into(), source: None, line: None });
    };
    let msg = match t.raw_get::<Value>("err")? {
        Value::String(s) => s.to_string_lossy(),
        _ => "ERR unknown error".to_string(),
    };
    let source = match t.raw_get::<Value>("source")? {
        Value::String(s) => Some(s.to_string_lossy()),
        _ => None,
    };
    let line = match t.raw_get::<Value>("line")? {
        Value::Integer(i) => Some(i),
        Value::Number(n) => Some(n as i64),
        _ => None,
    };
    Err(ScriptError { msg, source, line })
}

/// `{err = msg}`, the value redis.pcall returns for a failed command.
fn error_table(lua: &Lua, msg: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    Ok(t)
}

/// One redis.call / redis.pcall: argument checks as Redis does them, then the command.
fn script_call(ctx: &mut Ctx, args: &[Value], read_only: bool, resp: u8, flags: &RunFlags) -> Result<Reply, String> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        let b = match a {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(i) => Bytes::from(i.to_string()),
            Value::Number(n) => Bytes::from(format_number(*n)),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers".into()),
        };
        argv.push(b);
    }
    let Some(spec) = COMMANDS.lookup(&argv[0]) else {
        return Err("ERR Unknown Redis command called from script".into());
    };
    if !spec.arity_ok(argv.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if spec.flags.contains(Flags::NOSCRIPT) {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    if spec.is_write() {
        if crate::replication::refuses_writes(ctx.client) {
            return Err(crate::replication::READONLY.into());
        }
        if read_only {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        // As in Redis, the quota stops a script only before its first write: refusing a
        // later one would leave the script's effects half done.
        let may_grow = !flags.wrote.load(Ordering::SeqCst);
        crate::limits::admit(ctx, spec, &argv, may_grow).map_err(|e| e.to_string())?;
        flags.wrote.store(true, Ordering::SeqCst);
    }
    if spec.is_write() || spec.flags.contains(Flags::PUBSUB) {
        flags.had_effects.store(true, Ordering::SeqCst);
    }
    ctx.client.protocol = if resp == 3 { Protocol::Resp3 } else { Protocol::Resp2 };
    let reply = crate::exec::call(ctx, spec, &argv);
    ctx.block = None;
    Ok(reply)
}

/// A Lua number as a command argument: integers without a fraction, others as `%.17g`.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        return format!("{}", n as i64);
    }
    libs::format_g(n, 17)
}

/// A command's reply as the Lua value a script sees, under the script's RESP version.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: u8, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Ok(Value::Nil);
    }
    let list = |items: &[Reply]| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, r) in items.iter().enumerate() {
            t.raw_set(i + 1, reply_to_lua(lua, r, resp, depth + 1)?)?;
        }
        Ok(Value::Table(t))
    };
    let single = |key: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(key, v)?;
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Status(s) => single("ok", Value::String(lua.create_string(s)?))?,
        Reply::Error(e) => single("err", Value::String(lua.create_string(e)?))?,
        Reply::Integer(i) => Value::Number(*i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray => {
            if resp == 3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) | Reply::Sequence(items) => list(items)?,
        Reply::Set(items) => {
            if resp == 3 {
                let inner = lua.create_table()?;
                for r in items {
                    let k = reply_to_lua(lua, r, resp, depth + 1)?;
                    if !k.is_nil() {
                        inner.raw_set(k, true)?;
                    }
                }
                single("set", Value::Table(inner))?
            } else {
                list(items)?
            }
        }
        Reply::Map(pairs) => {
            if resp == 3 {
                let inner = lua.create_table()?;
                for (k, v) in pairs {
                    let k = reply_to_lua(lua, k, resp, depth + 1)?;
                    if !k.is_nil() {
                        inner.raw_set(k, reply_to_lua(lua, v, resp, depth + 1)?)?;
                    }
                }
                single("map", Value::Table(inner))?
            } else {
                let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp, depth + 1)?)?;
                    t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp, depth + 1)?)?;
                }
                Value::Table(t)
            }
        }
        Reply::Double(d) => {
            if resp == 3 {
                single("double", Value::Number(*d))?
            } else {
                Value::String(lua.create_string(resp::format_double(*d))?)
            }
        }
        Reply::Boolean(b) => {
            if resp == 3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
        Reply::Verbatim(b) => {
            if resp == 3 {
                let inner = lua.create_table()?;
                inner.raw_set("format", "txt")?;
                inner.raw_set("string", lua.create_string(b)?)?;
                single("verbatim_string", Value::Table(inner))?
            } else {
                Value::String(lua.create_string(b)?)
            }
        }
    })
}

/// A script's return value as a reply, as Redis converts it.
pub fn lua_to_reply(v: &Value, resp: u8, depth: usize) -> mlua::Result<Reply> {
    if depth > MAX_DEPTH {
        return Ok(Reply::error("ERR reached lua stack limit"));
    }
    Ok(match v {
        Value::Nil => Reply::Nil,
        Value::Boolean(b) => match (resp, b) {
            (3, b) => Reply::Boolean(*b),
            (_, true) => Reply::Integer(1),
            (_, false) => Reply::Nil,
        },
        Value::Integer(i) => Reply::Integer(*i),
        Value::Number(n) => Reply::Integer(if n.is_finite() { *n as i64 } else { 0 }),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => {
            if let Value::String(e) = t.raw_get::<Value>("err")? {
                let e = e.to_string_lossy();
                return Ok(Reply::Error(e.strip_prefix('-').map(str::to_string).unwrap_or(e)));
            }
            if let Value::String(s) = t.raw_get::<Value>("ok")? {
                return Ok(Reply::Status(Bytes::copy_from_slice(&s.as_bytes())));
            }
            match t.raw_get::<Value>("double")? {
                Value::Number(n) => return Ok(Reply::Double(n)),
                Value::Integer(i) => return Ok(Reply::Double(i as f64)),
                _ => {}
            }
            if let Value::String(s) = t.raw_get::<Value>("big_number")? {
                return Ok(Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())));
            }
            if let Value::Table(m) = t.raw_get::<Value>("map")? {
                let mut pairs = Vec::new();
                for pair in m.pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    pairs.push((lua_to_reply(&k, resp, depth + 1)?, lua_to_reply(&v, resp, depth + 1)?));
                }
                return Ok(Reply::Map(pairs));
            }
            if let Value::Table(m) = t.raw_get::<Value>("set")? {
                let mut items = Vec::new();
                for pair in m.pairs::<Value, Value>() {
                    let (k, _) = pair?;
                    items.push(lua_to_reply(&k, resp, depth + 1)?);
                }
                return Ok(Reply::Set(items));
            }
            if let Value::Table(vt) = t.raw_get::<Value>("verbatim_string")? {
                if let Value::String(s) = vt.raw_get::<Value>("string")? {
                    return Ok(Reply::Verbatim(Bytes::copy_from_slice(&s.as_bytes())));
                }
            }
            let mut items = Vec::new();
            let len = t.raw_len();
            for i in 1..=len {
                let item: Value = t.raw_get(i)?;
                if item.is_nil() {
                    break;
                }
                items.push(lua_to_reply(&item, resp, depth + 1)?);
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_called_outside_a_run_refuse_instead_of_touching_a_gone_run() {
        let engine = Engine::new().unwrap();
        let hidden = engine.lua.create_table().unwrap();
        install_callbacks(&engine.lua, &hidden, &engine.current).unwrap();
        let call: Function = hidden.raw_get("call").unwrap();
        let err = call.call::<Value>("PING").unwrap_err().to_string();
        assert!(err.contains("only while a script runs"), "{err}");
        assert!(engine.current.0.load(Ordering::SeqCst).is_null());
    }
}
