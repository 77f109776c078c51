//! Redis 7 functions: FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/KILL and FCALL,
//! FCALL_RO. Libraries are stored in the database (`Db::libraries`) so that the change log
//! and snapshots carry them; the compiled functions live in the tenant's Lua engine
//! (`scripting::functions`), rebuilt from the database when they do not match it.

use crate::args;
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::commands::scripting::eval_keys;
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use crate::glob::glob_match;
use crate::scripting::functions::{self, FunctionFlags, Registry};
use crate::scripting::{self, Engine, RunOptions, ScriptKind};
use bytes::Bytes;
use resp::Reply;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::scripting::{spec, S as FCALL};

pub static COMMANDS: &[CommandSpec] = &[
    spec("fcall", -3, FCALL, KeySpec::movable(0, 0, 0, eval_keys), fcall),
    spec("fcall_ro", -3, FCALL.union(Flags::READONLY), KeySpec::movable(0, 0, 0, eval_keys), fcall_ro),
    // A container: LOAD, DELETE, FLUSH and RESTORE write (and are logged when they change
    // the libraries); KILL and STATS are allowed while a script keeps the database busy.
    spec("function", -2, Flags::WRITE.union(Flags::NOSCRIPT), KeySpec::NONE, function),
];

fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    fcall_generic(ctx, args, true)
}

/// `numkeys` of FCALL: like EVAL's, but a non-number is "Bad number of keys provided".
fn split_fcall_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), CommandError> {
    if args::parse_i64(&args[2]).is_none() {
        return Err(CommandError::err("Bad number of keys provided"));
    }
    crate::commands::scripting::split_keys(args)
}

fn fcall_generic(ctx: &mut Ctx, args: &[Bytes], ro_command: bool) -> CommandResult {
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let libraries = ctx.db.libraries.clone();
    scripting::with_engine(&tenant, |engine, state| {
        engine.sync_functions(&libraries);
        publish_counts(state, &engine.functions);
        let Some(def) = engine.functions.function(&name) else {
            return Err(CommandError::err("Function not found"));
        };
        let no_writes = def.flags.contains(FunctionFlags::NO_WRITES);
        if ro_command && !no_writes {
            return Err(CommandError::err("Can not execute a script with write flag using *_ro command."));
        }
        let (keys, argv) = split_fcall_keys(args)?;
        let opts = RunOptions {
            read_only: no_writes || ro_command,
            name: &name,
            kind: ScriptKind::Function,
            command: args,
            pace: &def.pace,
        };
        scripting::run(ctx, engine, state, &def.func, keys, argv, &opts)
    })
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

fn function(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = args::lower_name(&args[1]);
    let arity_ok = match sub.as_str() {
        "load" => args.len() == 3 || args.len() == 4,
        "delete" => args.len() == 3,
        "flush" => args.len() <= 3,
        "list" => true,
        "restore" => args.len() == 3 || args.len() == 4,
        "dump" | "stats" | "kill" | "help" => args.len() == 2,
        _ => {
            return Err(CommandError::err(format!(
                "unknown subcommand '{}'. Try FUNCTION HELP.",
                crate::exec::printable(&args[1], 128)
            )))
        }
    };
    if !arity_ok {
        return Err(CommandError::err(format!("wrong number of arguments for 'function|{sub}' command")));
    }
    let Some(tenant) = ctx.tenant().cloned() else { return replay(ctx, &sub, args) };
    match sub.as_str() {
        "load" => load(ctx, &tenant, args),
        "delete" => delete(ctx, &args[2]),
        "flush" => flush(ctx, args.get(2)),
        "list" => list(ctx, &tenant, &args[2..]),
        "dump" => Ok(Reply::Bulk(functions::dump(&ctx.db.libraries))),
        "restore" => restore(ctx, &tenant, &args[2], args.get(3)),
        "stats" => stats(ctx, &tenant),
        "kill" => Ok(scripting::kill(&tenant.scripting, ScriptKind::Function)),
        _ => Ok(Reply::Array(FUNCTION_HELP.iter().map(|s| Reply::Status(Bytes::from_static(s.as_bytes()))).collect())),
    }
}

/// A logged FUNCTION command replayed at load (no client, no Lua engine yet): the code was
/// checked when it was first run, so only the library map changes; the engine compiles it
/// on first use.
fn replay(ctx: &mut Ctx, sub: &str, args: &[Bytes]) -> CommandResult {
    let mut working = (*ctx.db.libraries).clone();
    match sub {
        "load" => {
            let code = args[args.len() - 1].clone();
            let name = functions::library_name(&code).map_err(CommandError::Other)?;
            working.insert(name, code);
        }
        "restore" => {
            let libraries = functions::undump(&args[2])
                .ok_or_else(|| CommandError::err("DUMP payload version or checksum are wrong"))?;
            if args.get(3).is_some_and(|p| args::is(p, "FLUSH")) {
                working.clear();
            }
            working.extend(libraries);
        }
        "delete" | "flush" => return function_without_engine(ctx, sub, args),
        _ => return Err(CommandError::NoAuth),
    }
    store(ctx, working)?;
    Ok(Reply::ok())
}

fn function_without_engine(ctx: &mut Ctx, sub: &str, args: &[Bytes]) -> CommandResult {
    match sub {
        "delete" => delete(ctx, &args[2]),
        _ => flush(ctx, args.get(2)),
    }
}

/// Stores a new library map in the database (counted as one change, so it is logged).
fn store(ctx: &mut Ctx, libraries: BTreeMap<String, Bytes>) -> Result<keyspace::db::Libraries, CommandError> {
    let total: usize = libraries.values().map(Bytes::len).sum();
    if total > functions::MAX_LIBRARIES_BYTES {
        return Err(CommandError::err(format!(
            "function libraries would exceed the limit of {} bytes per database",
            functions::MAX_LIBRARIES_BYTES
        )));
    }
    let libraries = Arc::new(libraries);
    ctx.db.libraries = libraries.clone();
    ctx.db.dirty += 1;
    Ok(libraries)
}

/// Adds one library to `working` (checked and compiled in `engine`), as LOAD and RESTORE do.
fn add_library(
    engine: &mut Engine,
    working: &mut BTreeMap<String, Bytes>,
    code: &Bytes,
    replace: bool,
) -> Result<String, CommandError> {
    let name = functions::library_name(code).map_err(CommandError::Other)?;
    if working.contains_key(&name) && !replace {
        return Err(CommandError::Other(format!("ERR Library '{name}' already exists")));
    }
    let lib = engine.compile_library(code).map_err(CommandError::Other)?;
    engine.functions.install(&name, lib).map_err(CommandError::Other)?;
    working.insert(name.clone(), code.clone());
    Ok(name)
}

/// Applies `change` to a copy of the libraries with the engine in step; commits both on
/// success, leaves the database untouched (and the engine to be rebuilt) on failure.
fn change_libraries<R>(
    ctx: &mut Ctx,
    tenant: &crate::tenant::Tenant,
    change: impl FnOnce(&mut Engine, &mut BTreeMap<String, Bytes>) -> Result<R, CommandError>,
) -> Result<R, CommandError> {
    let current = ctx.db.libraries.clone();
    scripting::with_engine(tenant, |engine, _| {
        engine.sync_functions(&current);
        let mut working = (*current).clone();
        let outcome = change(engine, &mut working).and_then(|r| store(ctx, working).map(|stored| (r, stored)));
        match outcome {
            Ok((r, stored)) => {
                engine.functions.commit(&stored);
                Ok(r)
            }
            Err(e) => {
                engine.functions.abandon();
                Err(e)
            }
        }
    })
}

fn load(ctx: &mut Ctx, tenant: &crate::tenant::Tenant, args: &[Bytes]) -> CommandResult {
    let replace = match args.len() {
        4 if args::is(&args[2], "REPLACE") => true,
        4 => return Err(CommandError::err(format!("Unknown option given: {}", crate::exec::printable(&args[2], 128)))),
        _ => false,
    };
    let code = args[args.len() - 1].clone();
    let name = change_libraries(ctx, tenant, |engine, working| add_library(engine, working, &code, replace))?;
    Ok(Reply::Bulk(Bytes::from(name)))
}

fn delete(ctx: &mut Ctx, name: &[u8]) -> CommandResult {
    let name = String::from_utf8_lossy(name);
    let mut working = (*ctx.db.libraries).clone();
    if working.remove(name.as_ref()).is_none() {
        return Err(CommandError::err("Library not found"));
    }
    store(ctx, working)?;
    Ok(Reply::ok())
}

fn flush(ctx: &mut Ctx, mode: Option<&Bytes>) -> CommandResult {
    if let Some(mode) = mode {
        if !args::is(mode, "SYNC") && !args::is(mode, "ASYNC") {
            return Err(CommandError::err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
        }
    }
    store(ctx, BTreeMap::new())?;
    Ok(Reply::ok())
}

fn restore(ctx: &mut Ctx, tenant: &crate::tenant::Tenant, payload: &[u8], policy: Option<&Bytes>) -> CommandResult {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy = match policy {
        None => Policy::Append,
        Some(p) if args::is(p, "FLUSH") => Policy::Flush,
        Some(p) if args::is(p, "APPEND") => Policy::Append,
        Some(p) if args::is(p, "REPLACE") => Policy::Replace,
        Some(_) => {
            return Err(CommandError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let Some(libraries) = functions::undump(payload) else {
        return Err(CommandError::err("DUMP payload version or checksum are wrong"));
    };
    change_libraries(ctx, tenant, |engine, working| {
        if policy == Policy::Flush {
            working.clear();
            engine.functions.clear();
        }
        for (_, code) in &libraries {
            add_library(engine, working, code, policy == Policy::Replace)?;
        }
        Ok(())
    })?;
    Ok(Reply::ok())
}

fn list(ctx: &mut Ctx, tenant: &crate::tenant::Tenant, options: &[Bytes]) -> CommandResult {
    let mut pattern: Option<&Bytes> = None;
    let mut with_code = false;
    let mut i = 0;
    while i < options.len() {
        if args::is(&options[i], "WITHCODE") && !with_code {
            with_code = true;
        } else if args::is(&options[i], "LIBRARYNAME") && pattern.is_none() {
            i += 1;
            pattern = Some(options.get(i).ok_or_else(|| CommandError::err("library name argument was not given"))?);
        } else {
            return Err(CommandError::err(format!("Unknown argument {}", crate::exec::printable(&options[i], 128))));
        }
        i += 1;
    }
    let libraries = ctx.db.libraries.clone();
    scripting::with_engine(tenant, |engine, _| {
        engine.sync_functions(&libraries);
        let out = engine
            .functions
            .libraries
            .iter()
            .filter(|(name, _)| pattern.is_none_or(|p| glob_match(p, name.as_bytes(), true)))
            .map(|(name, lib)| library_reply(name, lib, with_code))
            .collect();
        Ok(Reply::Array(out))
    })
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn library_reply(name: &str, lib: &functions::CompiledLibrary, with_code: bool) -> Reply {
    let fns = lib
        .functions
        .iter()
        .map(|(fname, def)| {
            Reply::Map(vec![
                (bulk("name"), bulk(fname)),
                (bulk("description"), def.description.as_deref().map_or(Reply::Nil, bulk)),
                (bulk("flags"), Reply::Set(def.flags.names().map(Reply::status).collect())),
            ])
        })
        .collect();
    let mut fields =
        vec![(bulk("library_name"), bulk(name)), (bulk("engine"), bulk("LUA")), (bulk("functions"), Reply::Array(fns))];
    if with_code {
        fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
    }
    Reply::Map(fields)
}

/// FUNCTION STATS with no script running (under the tenant lock).
fn stats(ctx: &mut Ctx, tenant: &crate::tenant::Tenant) -> CommandResult {
    let libraries = ctx.db.libraries.clone();
    let counts = scripting::with_engine(tenant, |engine, state| {
        engine.sync_functions(&libraries);
        Ok(publish_counts(state, &engine.functions))
    })?;
    Ok(stats_reply(None, counts))
}

/// Records the library and function counts FUNCTION STATS shows while a function runs
/// (the engine is in use then).
pub fn publish_counts(state: &scripting::ScriptState, registry: &Registry) -> (usize, usize) {
    let counts = (registry.libraries.len(), registry.function_count());
    scripting::set_counts(state, counts);
    counts
}

/// The FUNCTION STATS reply.
pub fn stats_reply(running: Option<scripting::RunningFunction>, (libraries, functions): (usize, usize)) -> Reply {
    let running = match running {
        Some(f) => Reply::Map(vec![
            (bulk("name"), bulk(&f.name)),
            (bulk("command"), Reply::Array(f.command.iter().cloned().map(Reply::Bulk).collect())),
            (bulk("duration_ms"), Reply::Integer(f.started.elapsed().as_millis() as i64)),
        ]),
        None => Reply::Nil,
    };
    let lua = Reply::Map(vec![
        (bulk("libraries_count"), Reply::Integer(libraries as i64)),
        (bulk("functions_count"), Reply::Integer(functions as i64)),
    ]);
    Reply::Map(vec![(bulk("running_script"), running), (bulk("engines"), Reply::Map(vec![(bulk("LUA"), lua)]))])
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    const LIB: &str = "#!lua name=mylib
local function echo(keys, args) return {keys[1], args[1]} end
redis.register_function('echo', echo)
redis.register_function{function_name='get', callback=function(k) return redis.call('get', k[1]) end,
  flags={'no-writes'}, description='reads'}
redis.register_function{function_name='set', callback=function(k, a) return redis.call('set', k[1], a[1]) end}
redis.register_function{function_name='sneaky', callback=function(k, a) return redis.call('set', k[1], a[1]) end,
  flags={'no-writes', 'allow-oom'}}
redis.register_function('boom', function() error('bad') end)
";

    fn load_errors() -> Vec<(&'static str, &'static str)> {
        vec![
            ("return 1", "ERR Missing library metadata"),
            ("#!lua", "ERR Invalid library metadata"),
            ("#!lua\nreturn 1", "ERR Library name was not given"),
            ("#!lua name=x foo=bar\n", "ERR Invalid metadata value given: foo=bar"),
            ("#!lua name=x name=y\n", "ERR Invalid metadata value, name argument was given multiple times"),
            ("#!foo name=x\n", "ERR Engine 'foo' not found"),
            ("#!lua name=a-b\n", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
            ("#!lua name=x\nreturn 1", "ERR No functions registered"),
            ("#!lua name=x\n+", "ERR Error compiling function: user_function:2: unexpected symbol near '+'"),
            ("#!lua name=x\nredis.call('ping')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"),
            ("#!lua name=x\nerror('x')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'error'"),
            ("#!lua name=x\nredis.register_function{function_name='z', callback=function() end, flags={'bad'}}", "ERR Error registering functions: ERR unknown flag given"),
            ("#!lua name=x\nredis.register_function{function_name='z', callback=function() end, foo=1}", "ERR Error registering functions: ERR unknown argument given to redis.register_function"),
            ("#!lua name=x\nredis.register_function{callback=function() end}", "ERR Error registering functions: ERR redis.register_function must get a function name argument"),
            ("#!lua name=x\nredis.register_function{function_name='z'}", "ERR Error registering functions: ERR redis.register_function must get a callback argument"),
            ("#!lua name=x\nredis.register_function('z')", "ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
            ("#!lua name=x\nredis.register_function('z', 1)", "ERR Error registering functions: ERR second argument to redis.register_function must be a function"),
            ("#!lua name=x\nredis.register_function('a-b', function() end)", "ERR Error registering functions: ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
            ("#!lua name=x\nredis.register_function('z', function() end) redis.register_function('z', function() end)", "ERR Error registering functions: ERR Function already exists in the library"),
            ("#!lua name=x\nwhile true do end", "ERR Error registering functions: ERR FUNCTION LOAD timeout"),
        ]
    }

    #[test]
    fn load_errors_match_redis() {
        let mut c = TestClient::new();
        for (code, expected) in load_errors() {
            assert_eq!(c.cmd(&["FUNCTION", "LOAD", code]), Reply::error(expected), "{code}");
        }
        assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
        assert!(c.change_log().is_empty(), "failed loads are not logged");
    }

    #[test]
    fn load_call_and_errors() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), bulk("mylib"));
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", LIB]), Reply::error("ERR Library 'mylib' already exists"));
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", "REPLACE", LIB]), bulk("mylib"));
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", "FOO", LIB]), Reply::error("ERR Unknown option given: FOO"));
        let other = "#!lua name=other\nredis.register_function('echo', function() return 1 end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", other]), Reply::error("ERR Function echo already exists"));
        assert_eq!(c.cmd(&["FCALL", "echo", "1", "k", "a"]), arr(&["k", "a"]));
        assert_eq!(c.cmd(&["FCALL", "nosuch", "0"]), Reply::error("ERR Function not found"));
        assert_eq!(c.cmd(&["FCALL", "echo", "x"]), Reply::error("ERR Bad number of keys provided"));
        assert_eq!(c.cmd(&["FCALL", "echo", "-1"]), Reply::error("ERR Number of keys can't be negative"));
        assert_eq!(
            c.cmd(&["FCALL", "echo", "2", "k"]),
            Reply::error("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(c.cmd(&["FCALL", "set", "1", "k", "v"]), ok());
        assert_eq!(c.cmd(&["FCALL_RO", "get", "1", "k"]), bulk("v"));
        assert_eq!(
            c.cmd(&["FCALL_RO", "set", "1", "k", "v"]),
            Reply::error("ERR Can not execute a script with write flag using *_ro command.")
        );
        assert_eq!(
            c.cmd(&["FCALL", "sneaky", "1", "k", "v"]),
            Reply::error(
                "ERR Write commands are not allowed from read-only scripts. script: sneaky, on @user_function:7."
            )
        );
        assert_eq!(
            c.cmd(&["FCALL", "boom", "0"]),
            Reply::error("ERR user_function:9: bad script: boom, on @user_function:9.")
        );
        // Functions see the full API at run time, not the load sandbox.
        let lib2 = "#!lua name=lib2\nredis.register_function('t', function() return type(cjson.encode({1})) end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib2]), bulk("lib2"));
        assert_eq!(c.cmd(&["FCALL", "t", "0"]), bulk("string"));
        // A function cannot register more functions once loaded.
        let lib3 = "#!lua name=lib3\nredis.register_function('r', function() return redis.register_function('q', function() end) end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib3]), bulk("lib3"));
        assert!(matches!(c.cmd(&["FCALL", "r", "0"]), Reply::Error(_)));
        // SCRIPT FLUSH drops the Lua state; functions come back from the database.
        assert_eq!(c.cmd(&["SCRIPT", "FLUSH"]), ok());
        assert_eq!(c.cmd(&["FCALL", "echo", "1", "k", "a"]), arr(&["k", "a"]));
    }

    fn names(list: &Reply) -> Vec<String> {
        let Reply::Array(libs) = list else { panic!("{list:?}") };
        libs.iter()
            .map(|l| match l {
                Reply::Map(fields) => match &fields[0].1 {
                    Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn list_delete_flush_stats() {
        let mut c = TestClient::new();
        c.cmd(&["FUNCTION", "LOAD", LIB]);
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('o', function() return 1 end)"]);
        assert_eq!(names(&c.cmd(&["FUNCTION", "LIST"])), vec!["mylib", "other"]);
        assert_eq!(names(&c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "my*"])), vec!["mylib"]);
        let Reply::Array(libs) = c.cmd(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "other"]) else { panic!() };
        let Reply::Map(fields) = &libs[0] else { panic!() };
        assert_eq!(fields[1], (bulk("engine"), bulk("LUA")));
        assert_eq!(fields[3].0, bulk("library_code"));
        let Reply::Array(libs) = c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "mylib"]) else { panic!() };
        let Reply::Map(fields) = &libs[0] else { panic!() };
        let Reply::Array(fns) = &fields[2].1 else { panic!() };
        let sneaky = fns.iter().find(|f| matches!(f, Reply::Map(m) if m[0].1 == bulk("sneaky"))).unwrap();
        assert_eq!(
            sneaky,
            &Reply::Map(vec![
                (bulk("name"), bulk("sneaky")),
                (bulk("description"), Reply::Nil),
                (bulk("flags"), Reply::Set(vec![Reply::status("no-writes"), Reply::status("allow-oom")])),
            ])
        );
        assert!(err("ERR library name argument was not given")(&c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME"])));
        assert!(err("ERR Unknown argument foo")(&c.cmd(&["FUNCTION", "LIST", "foo"])));
        let stats = c.cmd(&["FUNCTION", "STATS"]);
        let Reply::Map(stats) = stats else { panic!() };
        assert_eq!(stats[0], (bulk("running_script"), Reply::Nil));
        let lua = Reply::Map(vec![(bulk("libraries_count"), int(2)), (bulk("functions_count"), int(6))]);
        assert_eq!(stats[1], (bulk("engines"), Reply::Map(vec![(bulk("LUA"), lua)])));
        assert_eq!(c.cmd(&["FUNCTION", "KILL"]), Reply::error("NOTBUSY No scripts in execution right now."));
        assert_eq!(c.cmd(&["FUNCTION", "DELETE", "nosuch"]), Reply::error("ERR Library not found"));
        assert_eq!(c.cmd(&["FUNCTION", "DELETE", "other"]), ok());
        assert_eq!(c.cmd(&["FCALL", "o", "0"]), Reply::error("ERR Function not found"));
        assert!(err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")(&c.cmd(&["FUNCTION", "FLUSH", "x"])));
        assert_eq!(c.cmd(&["FUNCTION", "FLUSH", "ASYNC"]), ok());
        assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
        assert!(err("ERR unknown subcommand 'FOO'. Try FUNCTION HELP.")(&c.cmd(&["FUNCTION", "FOO"])));
        assert!(err("ERR wrong number of arguments for 'function|load' command")(&c.cmd(&["FUNCTION", "LOAD"])));
        assert!(err("ERR wrong number of arguments for 'fcall' command")(&c.cmd(&["FCALL"])));
    }

    #[test]
    fn changes_are_logged_and_replay_restores_them() {
        let mut c = TestClient::new();
        c.cmd(&["FUNCTION", "LOAD", LIB]);
        c.cmd(&["FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('o', function() return 1 end)"]);
        c.cmd(&["FUNCTION", "DELETE", "other"]);
        c.cmd(&["FCALL", "set", "1", "k", "v"]);
        c.cmd(&["FUNCTION", "LIST"]);
        let log = c.change_log();
        let commands: Vec<String> = log.iter().map(|r| r[..2.min(r.len())].join(" ")).collect();
        assert_eq!(commands, vec!["FUNCTION LOAD", "FUNCTION LOAD", "FUNCTION DELETE", "set k"]);
        // Replay the records into a fresh database, as loading from disk does.
        let state = c.tenant.state.lock();
        let records: Vec<(u64, Vec<u8>)> =
            state.db.change_log.read_after(0).unwrap().map(|r| (r.offset, r.encoded().to_vec())).collect();
        drop(state);
        let mut fresh = TestClient::new();
        {
            let mut state = fresh.tenant.state.lock();
            crate::persistence::replay(&fresh.node, &mut state.db, &records);
        }
        assert_eq!(fresh.cmd(&["FCALL", "echo", "1", "k", "a"]), arr(&["k", "a"]));
        assert_eq!(fresh.cmd(&["FCALL", "o", "0"]), Reply::error("ERR Function not found"));
        assert_eq!(fresh.cmd(&["GET", "k"]), bulk("v"));
    }

    #[test]
    fn dump_and_restore() {
        let mut c = TestClient::new();
        c.cmd(&["FUNCTION", "LOAD", LIB]);
        let Reply::Bulk(payload) = c.cmd(&["FUNCTION", "DUMP"]) else { panic!() };
        let restore = |c: &mut TestClient, policy: &[&[u8]]| {
            let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", &payload];
            args.extend_from_slice(policy);
            c.cmd_bytes(&args)
        };
        assert_eq!(restore(&mut c, &[]), Reply::error("ERR Library 'mylib' already exists"));
        assert_eq!(restore(&mut c, &[b"REPLACE"]), ok());
        assert_eq!(
            c.cmd(&["FUNCTION", "RESTORE", "garbage"]),
            Reply::error("ERR DUMP payload version or checksum are wrong")
        );
        let mut damaged = payload.to_vec();
        damaged[10] ^= 1;
        assert!(err("ERR DUMP payload")(&c.cmd_bytes(&[b"FUNCTION", b"RESTORE", &damaged])));
        assert!(err("ERR Wrong restore policy given")(&restore(&mut c, &[b"x"])));
        let mut other = TestClient::new();
        other.cmd(&["FUNCTION", "LOAD", "#!lua name=old\nredis.register_function('old', function() return 1 end)"]);
        assert_eq!(restore(&mut other, &[b"FLUSH"]), ok());
        assert_eq!(names(&other.cmd(&["FUNCTION", "LIST"])), vec!["mylib"]);
        assert_eq!(other.cmd(&["FCALL", "echo", "1", "k", "a"]), arr(&["k", "a"]));
    }

    #[test]
    fn tenants_do_not_share_functions() {
        let mut a = TestClient::new();
        let mut b = TestClient::new();
        a.cmd(&["FUNCTION", "LOAD", LIB]);
        assert_eq!(b.cmd(&["FCALL", "echo", "0"]), Reply::error("ERR Function not found"));
        assert_eq!(b.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
    }
}
