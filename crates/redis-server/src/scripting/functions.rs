//! Redis 7 functions inside the Lua engine: parsing a library's `#!lua name=…` header,
//! running its code in a load-time sandbox where only `redis.register_function` and
//! `redis.log` exist, and the registry of compiled functions. The libraries' source code is
//! part of the database (`Db::libraries`, logged and snapshotted); the registry here is only
//! a cache of it, rebuilt from the database whenever it does not match (after a restart, a
//! SCRIPT FLUSH, a failed load).

use super::{raise, Engine};
use bytes::Bytes;
use keyspace::db::Libraries;
use mlua::{Function, HookTriggers, Lua, Table, Value, VmState};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Longest the top level of a library may run in FUNCTION LOAD (Redis's limit too).
const LOAD_TIME_LIMIT: Duration = Duration::from_millis(500);
/// Instructions between two looks at the clock while a library loads.
const LOAD_HOOK_EVERY: u32 = 10_000;
/// Source bytes of all libraries of one database together: function code is not counted in
/// the data quota, so it has its own bound.
pub const MAX_LIBRARIES_BYTES: usize = 16 << 20;

/// Flags a function may be registered with, in the order FUNCTION LIST shows them.
pub const FLAG_NAMES: [&str; 5] = ["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"];

/// Function flags as a bit set over [`FLAG_NAMES`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionFlags(u8);

impl FunctionFlags {
    pub const NO_WRITES: FunctionFlags = FunctionFlags(1);

    fn from_name(name: &str) -> Option<FunctionFlags> {
        FLAG_NAMES.iter().position(|n| *n == name).map(|i| FunctionFlags(1 << i))
    }

    pub fn contains(self, other: FunctionFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES.iter().enumerate().filter(move |(i, _)| self.0 & (1 << i) != 0).map(|(_, n)| *n)
    }
}

/// One registered function.
pub struct FunctionDef {
    pub func: Function,
    pub flags: FunctionFlags,
    pub description: Option<String>,
    pub pace: super::ScriptPace,
}

/// A library compiled in the engine: its source and the functions it registered.
pub struct CompiledLibrary {
    pub code: Bytes,
    pub functions: BTreeMap<String, FunctionDef>,
}

/// The compiled functions of a database.
#[derive(Default)]
pub struct Registry {
    /// The database's library map this registry reflects; `None` after an unfinished change.
    synced: Option<Libraries>,
    pub libraries: BTreeMap<String, CompiledLibrary>,
    /// Function name → library name (function names are unique across libraries).
    owner: HashMap<String, String>,
}

impl Registry {
    /// The function called `name`, with its library.
    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        let lib = self.owner.get(name)?;
        self.libraries.get(lib)?.functions.get(name)
    }

    pub fn function_count(&self) -> usize {
        self.owner.len()
    }

    /// Adds or replaces a library, after checking that its functions do not collide with
    /// another library's. The registry no longer matches the database until [`Self::commit`].
    pub fn install(&mut self, name: &str, lib: CompiledLibrary) -> Result<(), String> {
        for f in lib.functions.keys() {
            if self.owner.get(f).is_some_and(|owner| owner != name) {
                return Err(format!("ERR Function {f} already exists"));
            }
        }
        self.synced = None;
        self.remove(name);
        for f in lib.functions.keys() {
            self.owner.insert(f.clone(), name.to_string());
        }
        self.libraries.insert(name.to_string(), lib);
        Ok(())
    }

    fn remove(&mut self, name: &str) {
        if let Some(old) = self.libraries.remove(name) {
            for f in old.functions.keys() {
                self.owner.remove(f);
            }
        }
    }

    pub fn clear(&mut self) {
        self.synced = None;
        self.libraries.clear();
        self.owner.clear();
    }

    /// Records that the registry now reflects `libraries` (just stored in the database).
    pub fn commit(&mut self, libraries: &Libraries) {
        self.synced = Some(libraries.clone());
    }

    /// Forgets any change not committed: the next [`Engine::sync_functions`] rebuilds.
    pub fn abandon(&mut self) {
        self.synced = None;
    }
}

/// Name of the library a `#!lua name=…` header declares, with Redis's errors.
pub fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let header = String::from_utf8_lossy(&code[2..end]);
    let mut parts = header.split_ascii_whitespace();
    let engine = parts.next().unwrap_or("");
    let mut name = None;
    for part in parts {
        let Some(value) = part.get(..5).filter(|p| p.eq_ignore_ascii_case("name=")).map(|_| &part[5..]) else {
            return Err(format!("ERR Invalid metadata value given: {part}"));
        };
        if name.is_some() {
            return Err("ERR Invalid metadata value, name argument was given multiple times".into());
        }
        name = Some(value.to_string());
    }
    let Some(name) = name else { return Err("ERR Library name was not given".into()) };
    if !valid_name(&name) {
        return Err(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into(),
        );
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok(name)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Lua run once per engine: `load_library(chunk)` runs a library's top level in a sandbox
/// whose only global is a reduced `redis` table, then turns the library's environment into
/// the normal (read-only) globals for when its functions run.
pub(super) const FUNCTIONS_PRELUDE: &str = r#"
local runner = ...
local setfenv, setmetatable, rawget, error, tostring, type, pairs, ipairs, select =
  setfenv, setmetatable, rawget, error, tostring, type, pairs, ipairs, select
local G, redis = _G, redis
local known_flags = {['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
  ['no-cluster'] = true, ['allow-cross-slot-keys'] = true}
local function strict(api)
  return {
    __index = function(_, k)
      local v = rawget(api(), k)
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = function() error('Attempt to modify a readonly table', 2) end,
    __metatable = false,
  }
end
local function fail(msg) error({err = 'ERR ' .. msg}) end
local current
local function check_name(name)
  if name:len() == 0 or name:find('[^%w_]') then
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
end
local function named(t)
  local name, callback, flags, description
  for k, v in pairs(t) do
    if k == 'function_name' then
      if type(v) ~= 'string' then fail('function_name argument given to redis.register_function must be a string') end
      name = v
    elseif k == 'callback' then
      if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
      callback = v
    elseif k == 'flags' then
      if type(v) ~= 'table' then fail('flags argument to redis.register_function must be a table representing function flags') end
      flags = {}
      for _, f in pairs(v) do
        if type(f) ~= 'string' or not known_flags[f] then fail('unknown flag given') end
        flags[#flags + 1] = f
      end
    elseif k == 'description' then
      if type(v) ~= 'string' then fail('description argument given to redis.register_function must be a string') end
      description = v
    else
      fail('unknown argument given to redis.register_function')
    end
  end
  if name == nil then fail('redis.register_function must get a function name argument') end
  if callback == nil then fail('redis.register_function must get a callback argument') end
  return name, callback, flags, description
end
local function register(...)
  if current == nil then fail('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  local name, callback, flags, description
  if n == 1 then
    if type((...)) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    name, callback, flags, description = named((...))
  elseif n == 2 then
    name, callback = ...
    if type(name) ~= 'string' then fail('first argument to redis.register_function must be a string') end
    if type(callback) ~= 'function' then fail('second argument to redis.register_function must be a function') end
  else
    fail('wrong number of arguments to redis.register_function')
  end
  check_name(name)
  if current[name] then fail('Function already exists in the library') end
  current[name] = {callback = callback, flags = flags or {}, description = description}
end
local load_redis_api = {register_function = register, log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE, LOG_NOTICE = redis.LOG_NOTICE,
  LOG_WARNING = redis.LOG_WARNING, REDIS_VERSION = redis.REDIS_VERSION,
  REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}
local load_api = {redis = setmetatable({}, strict(function() return load_redis_api end))}
local function load_library(chunk)
  local api = load_api
  setfenv(chunk, setmetatable({}, strict(function() return api end)))
  current = {}
  local ok, result = runner(chunk)
  local registered = current
  current = nil
  api = G
  if not ok then return false, result end
  return true, registered
end
return load_library
"#;

impl Engine {
    /// Makes the registry match the database's libraries, compiling those that changed. A
    /// library that no longer compiles (it did when it was loaded) is left out, logged.
    pub fn sync_functions(&mut self, libraries: &Libraries) {
        if self.functions.synced.as_ref().is_some_and(|s| std::sync::Arc::ptr_eq(s, libraries)) {
            return;
        }
        let mut old = std::mem::take(&mut self.functions);
        for (name, code) in libraries.iter() {
            let lib = match old.libraries.remove(name) {
                Some(lib) if lib.code == *code => lib,
                _ => match self.compile_library(code) {
                    Ok(lib) => lib,
                    Err(e) => {
                        tracing::warn!(library = %name, error = %e, "a stored function library failed to load");
                        continue;
                    }
                },
            };
            if let Err(e) = self.functions.install(name, lib) {
                tracing::warn!(library = %name, error = %e, "a stored function library collides with another");
            }
        }
        self.functions.commit(libraries);
    }

    /// Runs a library's code in the load sandbox (at most [`LOAD_TIME_LIMIT`]) and collects
    /// the functions it registered. Errors are Redis's texts.
    pub fn compile_library(&self, code: &Bytes) -> Result<CompiledLibrary, String> {
        let lua = &self.lua;
        // The code runs from the end of the `#!` line, whose newline keeps line numbers right.
        let body = &code[code.iter().position(|&b| b == b'\n').unwrap_or(code.len())..];
        let chunk =
            super::compile(lua, body, "@user_function").map_err(|m| format!("ERR Error compiling function: {m}"))?;
        let deadline = Instant::now() + LOAD_TIME_LIMIT;
        lua.set_hook(HookTriggers::new().every_nth_instruction(LOAD_HOOK_EVERY), move |_, _| {
            if Instant::now() > deadline {
                return Err(raise("ERR FUNCTION LOAD timeout"));
            }
            Ok(VmState::Continue)
        });
        let result = self.load_library.call::<(bool, Value)>(chunk);
        lua.remove_hook();
        let (ok, value) = result.map_err(|e| format!("ERR Error registering functions: {e}"))?;
        let Value::Table(t) = value else { return Err("ERR Error registering functions: unknown error".into()) };
        if !ok {
            let msg = match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => "unknown error".into(),
            };
            return Err(format!("ERR Error registering functions: {msg}"));
        }
        let functions = registered_functions(&t).map_err(|e| format!("ERR Error registering functions: {e}"))?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok(CompiledLibrary { code: code.clone(), functions })
    }
}

/// The `{name = {callback, flags, description}}` table `load_library` returns, in Rust.
fn registered_functions(t: &Table) -> mlua::Result<BTreeMap<String, FunctionDef>> {
    let mut out = BTreeMap::new();
    for pair in t.clone().pairs::<String, Table>() {
        let (name, def) = pair?;
        let mut flags = FunctionFlags::default();
        for f in def.get::<Table>("flags")?.sequence_values::<String>() {
            if let Some(flag) = FunctionFlags::from_name(&f?) {
                flags.0 |= flag.0;
            }
        }
        let description = def.get::<Option<String>>("description")?;
        let func = def.get::<Function>("callback")?;
        out.insert(name, FunctionDef { func, flags, description, pace: super::ScriptPace::default() });
    }
    Ok(out)
}

/// Builds the `load_library` helper of a new engine (before the sandbox hides `setfenv`).
pub(super) fn load_library_helper(lua: &Lua, runner: &Function) -> mlua::Result<Function> {
    lua.load(FUNCTIONS_PRELUDE).set_name("=[redis]").call(runner.clone())
}

/// FUNCTION DUMP payload: a magic, each library as a length-prefixed snapshot record, and
/// the SHA1 of all that. It is our own format (Redis's is its RDB encoding), understood by
/// FUNCTION RESTORE here.
const DUMP_MAGIC: &[u8; 8] = b"TERNFN01";

pub fn dump(libraries: &Libraries) -> Bytes {
    let mut out = DUMP_MAGIC.to_vec();
    for (name, code) in libraries.iter() {
        let mut record = Vec::new();
        keyspace::codec::encode_library(&mut record, name, code);
        out.extend_from_slice(&(record.len() as u32).to_le_bytes());
        out.extend_from_slice(&record);
    }
    let digest = sha1_smol::Sha1::from(&out).digest().bytes();
    out.extend_from_slice(&digest);
    Bytes::from(out)
}

/// The libraries of a FUNCTION DUMP payload, in order; `None` if it is damaged.
pub fn undump(payload: &[u8]) -> Option<Vec<(String, Bytes)>> {
    let body_len = payload.len().checked_sub(20)?;
    let (body, digest) = payload.split_at(body_len);
    if !body.starts_with(DUMP_MAGIC) || sha1_smol::Sha1::from(body).digest().bytes() != digest {
        return None;
    }
    let mut rest = &body[DUMP_MAGIC.len()..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let record = rest.get(4..4usize.checked_add(len)?)?;
        match keyspace::codec::decode_record(record).ok()? {
            keyspace::codec::Record::Library { name, code } => out.push((name, code)),
            keyspace::codec::Record::Key(..) => return None,
        }
        rest = &rest[4 + len..];
    }
    Some(out)
}
