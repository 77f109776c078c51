//! Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT LOAD/EXISTS/FLUSH/KILL, the Lua
//! engine itself being in `crate::scripting`. A script runs inside its command, under the
//! tenant lock, so it is atomic; its writes reach the change log as their own records.

use crate::args;
use crate::command::{CommandSpec, Flags, KeySpec};
use crate::context::Ctx;
use crate::error::{CommandError, CommandResult};
use crate::scripting::{self, RunOptions, ScriptKind};
use bytes::Bytes;
use resp::Reply;

/// Flags of every command that runs a script or function (EVAL*, FCALL*).
pub(crate) const S: Flags = Flags::NOSCRIPT.union(Flags::STALE).union(Flags::MOVABLE_KEYS).union(Flags::RUNS_SCRIPT);

/// A command of the "scripting" group (EVAL and SCRIPT here, FUNCTION and FCALL in functions.rs).
pub(crate) const fn spec(
    name: &'static str,
    arity: i32,
    flags: Flags,
    keys: KeySpec,
    handler: crate::command::Handler,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, group: "scripting", handler }
}

pub static COMMANDS: &[CommandSpec] = &[
    spec("eval", -3, S, KeySpec::movable(0, 0, 0, eval_keys), eval),
    spec("evalsha", -3, S, KeySpec::movable(0, 0, 0, eval_keys), evalsha),
    spec("eval_ro", -3, S.union(Flags::READONLY), KeySpec::movable(0, 0, 0, eval_keys), eval_ro),
    spec("evalsha_ro", -3, S.union(Flags::READONLY), KeySpec::movable(0, 0, 0, eval_keys), evalsha_ro),
    spec("script", -2, Flags::NOSCRIPT, KeySpec::NONE, script),
];

/// Keys of `EVAL script numkeys key… arg…`: the `numkeys` arguments after the count.
pub fn eval_keys(args: &[Bytes]) -> Vec<usize> {
    let Some(n) = args.get(2).and_then(|a| args::parse_i64(a)) else {
        return Vec::new();
    };
    if n < 1 {
        return Vec::new();
    }
    let end = 3u64.saturating_add(n as u64).min(args.len() as u64) as usize;
    (3..end).collect()
}

/// Splits `numkeys key… arg…` (from `args[2]`) into keys and arguments.
pub fn split_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), CommandError> {
    let n = args::int(&args[2])?;
    if n < 0 {
        return Err(CommandError::err("Number of keys can't be negative"));
    }
    let rest = &args[3..];
    if n as u64 > rest.len() as u64 {
        return Err(CommandError::err("Number of keys can't be greater than number of args"));
    }
    Ok(rest.split_at(n as usize))
}

fn eval(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, false, false)
}

fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, true, false)
}

fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, false, true)
}

fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    eval_generic(ctx, args, true, true)
}

fn noscript() -> CommandError {
    CommandError::Other("NOSCRIPT No matching script. Please use EVAL.".into())
}

fn eval_generic(ctx: &mut Ctx, args: &[Bytes], by_sha: bool, read_only: bool) -> CommandResult {
    let (keys, argv) = split_keys(args)?;
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    scripting::with_engine(&tenant, |engine, state| {
        let sha = if by_sha {
            if args[1].len() != 40 {
                return Err(noscript());
            }
            String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
        } else {
            engine.load_script(&args[1], scripting::ScriptOrigin::Eval)?
        };
        let script = engine.script(&sha).ok_or_else(noscript)?;
        let opts = RunOptions { read_only, name: &sha, kind: ScriptKind::Eval, command: args, pace: &script.pace };
        scripting::run(ctx, engine, state, &script.func, keys, argv, &opts)
    })
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

fn script(ctx: &mut Ctx, args: &[Bytes]) -> CommandResult {
    let sub = args::lower_name(&args[1]);
    let arity_ok = match sub.as_str() {
        "load" => args.len() == 3,
        "exists" => args.len() >= 3,
        "flush" => args.len() <= 3,
        "kill" | "help" => args.len() == 2,
        "debug" => args.len() == 3,
        _ => {
            return Err(CommandError::err(format!(
                "unknown subcommand '{}'. Try SCRIPT HELP.",
                crate::exec::printable(&args[1], 128)
            )))
        }
    };
    if !arity_ok {
        return Err(CommandError::err(format!("wrong number of arguments for 'script|{sub}' command")));
    }
    let Some(tenant) = ctx.tenant().cloned() else { return Err(CommandError::NoAuth) };
    match sub.as_str() {
        "help" => {
            Ok(Reply::Array(SCRIPT_HELP.iter().map(|s| Reply::Status(Bytes::from_static(s.as_bytes()))).collect()))
        }
        "load" => scripting::with_engine(&tenant, |engine, _| {
            let sha = engine.load_script(&args[2], scripting::ScriptOrigin::Loaded)?;
            Ok(Reply::Bulk(Bytes::from(sha)))
        }),
        "exists" => {
            let state = &tenant.scripting;
            let found: Vec<Reply> = args[2..]
                .iter()
                .map(|a| {
                    let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
                    Reply::Integer(scripting::has_script(state, &sha) as i64)
                })
                .collect();
            Ok(Reply::Array(found))
        }
        "flush" => {
            if let Some(mode) = args.get(2) {
                if !args::is(mode, "SYNC") && !args::is(mode, "ASYNC") {
                    return Err(CommandError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
                }
            }
            scripting::flush(&tenant.scripting);
            Ok(Reply::ok())
        }
        "kill" => Ok(scripting::kill(&tenant.scripting, ScriptKind::Eval)),
        _ => {
            if args::is(&args[2], "NO") {
                Ok(Reply::ok())
            } else {
                Err(CommandError::err("SCRIPT DEBUG is not supported"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use resp::Reply;

    fn info_field(c: &mut TestClient, field: &str) -> String {
        let Reply::Verbatim(text) = c.cmd(&["INFO", "memory"]) else { panic!("INFO is not verbatim") };
        let text = String::from_utf8_lossy(&text).to_string();
        let line = text.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("{text}"));
        line.split_once(':').unwrap().1.to_string()
    }

    #[test]
    fn eval_bodies_are_evicted_least_recently_used_first_and_loaded_scripts_stay() {
        let mut c = TestClient::new();
        let sha_of = |c: &mut TestClient, body: &str| match c.cmd(&["SCRIPT", "LOAD", body]) {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        let loaded = sha_of(&mut c, "return 'loaded'");
        assert_eq!(c.cmd(&["EVAL", "return 'first'", "0"]), bulk("first"));
        assert_eq!(c.cmd(&["EVAL", "return 'second'", "0"]), bulk("second"));
        let max = crate::scripting::MAX_EVAL_SCRIPTS;
        for i in 2..max {
            assert_eq!(c.cmd(&["EVAL", &format!("return {i}"), "0"]), int(i as i64));
        }
        // Full: using "first" again makes "second" the least recently used.
        assert_eq!(c.cmd(&["EVAL", "return 'first'", "0"]), bulk("first"));
        assert_eq!(info_field(&mut c, "evicted_scripts"), "0");
        assert_eq!(c.cmd(&["EVAL", "return 'one too many'", "0"]), bulk("one too many"));
        assert_eq!(info_field(&mut c, "evicted_scripts"), "1");
        assert_eq!(info_field(&mut c, "number_of_cached_scripts"), (max + 1).to_string());
        let second = crate::scripting::sha1_hex(b"return 'second'");
        let first = crate::scripting::sha1_hex(b"return 'first'");
        assert!(matches!(c.cmd(&["EVALSHA", &second, "0"]), Reply::Error(e) if e.starts_with("NOSCRIPT")));
        assert_eq!(c.cmd(&["EVALSHA", &first, "0"]), bulk("first"));
        // Many more bodies never evict what SCRIPT LOAD stored, and EVAL of an evicted body
        // compiles it again.
        for i in 0..max {
            c.cmd(&["EVAL", &format!("return 'more {i}'"), "0"]);
        }
        assert_eq!(c.cmd(&["EVALSHA", &loaded, "0"]), bulk("loaded"));
        assert_eq!(c.cmd(&["EVAL", "return 'second'", "0"]), bulk("second"));
        assert_eq!(info_field(&mut c, "number_of_cached_scripts"), (max + 1).to_string());
    }

    #[test]
    fn script_load_of_an_eval_body_makes_it_permanent() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["EVAL", "return 'kept'", "0"]), bulk("kept"));
        let Reply::Bulk(sha) = c.cmd(&["SCRIPT", "LOAD", "return 'kept'"]) else { panic!() };
        let sha = String::from_utf8(sha.to_vec()).unwrap();
        for i in 0..crate::scripting::MAX_EVAL_SCRIPTS + 10 {
            c.cmd(&["EVAL", &format!("return {i}"), "0"]);
        }
        assert_eq!(c.cmd(&["EVALSHA", &sha, "0"]), bulk("kept"));
    }

    #[test]
    fn eval_returns_converted_values() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["EVAL", "return 1", "0"]), int(1));
        assert_eq!(c.cmd(&["EVAL", "return 3.99", "0"]), int(3));
        assert_eq!(c.cmd(&["EVAL", "return 'x'", "0"]), bulk("x"));
        assert_eq!(c.cmd(&["EVAL", "return true", "0"]), int(1));
        assert_eq!(c.cmd(&["EVAL", "return false", "0"]), Reply::Nil);
        assert_eq!(c.cmd(&["EVAL", "return nil", "0"]), Reply::Nil);
        assert_eq!(
            c.cmd(&["EVAL", "return {1,'a',{2},nil,5}", "0"]),
            Reply::Array(vec![int(1), bulk("a"), Reply::Array(vec![int(2)])])
        );
        assert_eq!(c.cmd(&["EVAL", "return {ok='FINE'}", "0"]), Reply::status("FINE"));
        assert_eq!(c.cmd(&["EVAL", "return redis.error_reply('MY err')", "0"]), Reply::error("MY err"));
        assert_eq!(
            c.cmd(&["EVAL", "return {KEYS[1], ARGV[1], #KEYS, #ARGV}", "1", "k", "a"]),
            Reply::Array(vec![bulk("k"), bulk("a"), int(1), int(1)])
        );
    }

    #[test]
    fn redis_call_and_conversions() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "k", "v"]), ok());
        assert_eq!(c.cmd(&["EVAL", "return redis.call('get', 'k')", "0"]), bulk("v"));
        assert_eq!(c.cmd(&["EVAL", "return redis.call('get', 'missing') == false", "0"]), int(1));
        assert_eq!(c.cmd(&["EVAL", "return redis.call('set', 'k', 'v')['ok']", "0"]), bulk("OK"));
        assert_eq!(c.cmd(&["EVAL", "return redis.call('incrby', 'n', 5)", "0"]), int(5));
        c.cmd(&["HSET", "h", "f", "v"]);
        assert_eq!(c.cmd(&["EVAL", "return redis.call('hgetall', 'h')", "0"]), arr(&["f", "v"]));
        assert_eq!(c.cmd(&["EVAL", "redis.setresp(3); return redis.call('hgetall', 'h').map.f", "0"]), bulk("v"));
        assert_eq!(
            c.cmd(&["EVAL", "redis.setresp(3); return redis.call('get', 'missing') == nil", "0"]),
            Reply::Boolean(true)
        );
        assert_eq!(c.cmd(&["EVAL", "redis.setresp(3); return true", "0"]), Reply::Boolean(true));
        assert_eq!(
            c.cmd(&["EVAL", "local ok, e = pcall(redis.call, 'nosuch'); return e.err", "0"]),
            bulk("ERR Unknown Redis command called from script")
        );
        let e = c.cmd(&["EVAL", "redis.setresp(4)", "0"]);
        assert!(err("ERR RESP version must be 2 or 3. script:")(&e), "{e:?}");
    }

    #[test]
    fn errors_match_redis() {
        let mut c = TestClient::new();
        let e = c.cmd(&["EVAL", "return x", "0"]);
        assert_eq!(
            e,
            Reply::error("ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: 03c387736bb5cc009ff35151572cee04677aa374, on @user_script:1.")
        );
        let e = c.cmd(&["EVAL", "x=1", "0"]);
        assert!(err("ERR user_script:1: Attempt to modify a readonly table script:")(&e), "{e:?}");
        let e = c.cmd(&["EVAL", "return redis.call('nosuch')", "0"]);
        assert_eq!(
            e,
            Reply::error("ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.")
        );
        assert_eq!(
            c.cmd(&["EVAL", "return redis.pcall('nosuch')", "0"]),
            Reply::error("ERR Unknown Redis command called from script")
        );
        let e = c.cmd(&["EVAL", "error('boom')", "0"]);
        assert_eq!(
            e,
            Reply::error(
                "ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1."
            )
        );
        assert_eq!(
            c.cmd(&["EVAL", "return +", "0"]),
            Reply::error("ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'")
        );
        assert!(err("ERR Wrong number of args calling Redis command from script")(&c.cmd(&[
            "EVAL",
            "return redis.call('get')",
            "0"
        ])));
        assert!(err("ERR This Redis command is not allowed from script")(&c.cmd(&[
            "EVAL",
            "return redis.call('eval', 'return 1', 0)",
            "0"
        ])));
        assert!(err("ERR Lua redis lib command arguments must be strings or integers")(&c.cmd(&[
            "EVAL",
            "return redis.call('get', {})",
            "0"
        ])));
        assert!(err("ERR Please specify at least one argument for this redis lib call")(&c.cmd(&[
            "EVAL",
            "return redis.call()",
            "0"
        ])));
        assert_eq!(c.cmd(&["EVAL", "return 1", "-1"]), Reply::error("ERR Number of keys can't be negative"));
        assert_eq!(
            c.cmd(&["EVAL", "return 1", "3", "a"]),
            Reply::error("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(c.cmd(&["EVAL", "return 1", "x"]), Reply::error("ERR value is not an integer or out of range"));
        for g in ["os", "io", "require", "dofile", "loadfile", "debug", "setfenv", "print"] {
            let e = c.cmd(&["EVAL", &format!("return type({g})"), "0"]);
            assert!(err("ERR user_script:1: Script attempted to access nonexistent global variable")(&e), "{g}: {e:?}");
        }
    }

    #[test]
    fn evalsha_and_script_cache() {
        let mut c = TestClient::new();
        let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
        assert_eq!(c.cmd(&["EVALSHA", sha, "0"]), Reply::error("NOSCRIPT No matching script. Please use EVAL."));
        assert_eq!(c.cmd(&["EVALSHA", "abc", "0"]), Reply::error("NOSCRIPT No matching script. Please use EVAL."));
        assert_eq!(c.cmd(&["SCRIPT", "LOAD", "return 1"]), bulk(sha));
        assert_eq!(c.cmd(&["EVALSHA", &sha.to_uppercase(), "0"]), int(1));
        assert_eq!(c.cmd(&["SCRIPT", "EXISTS", sha, "ffff"]), Reply::Array(vec![int(1), int(0)]));
        assert_eq!(c.cmd(&["SCRIPT", "FLUSH"]), ok());
        assert_eq!(c.cmd(&["SCRIPT", "EXISTS", sha]), Reply::Array(vec![int(0)]));
        assert_eq!(c.cmd(&["SCRIPT", "KILL"]), Reply::error("NOTBUSY No scripts in execution right now."));
        assert_eq!(c.cmd(&["SCRIPT", "FOO"]), Reply::error("ERR unknown subcommand 'FOO'. Try SCRIPT HELP."));
        assert!(err("ERR wrong number of arguments for 'script|load' command")(&c.cmd(&["SCRIPT", "LOAD"])));
        assert!(err("ERR SCRIPT FLUSH only support SYNC|ASYNC option")(&c.cmd(&["SCRIPT", "FLUSH", "x"])));
        // EVAL caches the script too.
        c.cmd(&["EVAL", "return 1", "0"]);
        assert_eq!(c.cmd(&["EVALSHA", sha, "0"]), int(1));
    }

    #[test]
    fn read_only_variants_refuse_writes() {
        let mut c = TestClient::new();
        let e = c.cmd(&["EVAL_RO", "return redis.call('set', 'a', 'b')", "0"]);
        assert!(err("ERR Write commands are not allowed from read-only scripts. script:")(&e), "{e:?}");
        c.cmd(&["SET", "a", "1"]);
        assert_eq!(c.cmd(&["EVAL_RO", "return redis.call('get', 'a')", "0"]), bulk("1"));
        let sha = match c.cmd(&["SCRIPT", "LOAD", "return redis.call('get', 'a')"]) {
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(c.cmd(&["EVALSHA_RO", &sha, "0"]), bulk("1"));
    }

    #[test]
    fn writes_are_logged_as_effects() {
        let mut c = TestClient::new();
        c.cmd(&["EVAL", "redis.call('set', 'a', '1')", "0"]);
        assert_eq!(c.change_log(), vec![vec!["set", "a", "1"]]);
        c.cmd(&["EVAL", "redis.call('set', 'b', '1'); redis.call('get', 'b'); redis.call('incr', 'b')", "0"]);
        let log = c.change_log();
        assert_eq!(&log[1..], &[vec!["MULTI"], vec!["set", "b", "1"], vec!["incr", "b"], vec!["EXEC"]]);
        // A read-only script logs nothing.
        c.cmd(&["EVAL", "return redis.call('get', 'b')", "0"]);
        assert_eq!(c.change_log().len(), 5);
    }

    #[test]
    fn push_inside_script_wakes_blocked_client() {
        let mut a = TestClient::new();
        let mut b = a.another();
        let (_, block) = b.run(&[b"BLPOP", b"q", b"0"]);
        let block = block.expect("BLPOP blocks on an empty list");
        assert_eq!(block.keys, vec![bytes::Bytes::from_static(b"q")]);
        a.cmd(&["EVAL", "return redis.call('lpush', 'q', 'x')", "0"]);
        let state = a.tenant.state.lock();
        assert!(!state.db.has_ready_keys(), "ready keys were served after the script");
    }

    #[test]
    fn blocking_command_inside_script_is_refused() {
        // BLPOP is flagged noscript, in Redis 7 too.
        let mut c = TestClient::new();
        let (reply, block) = c.run(&[b"EVAL", b"return redis.call('blpop', 'nothing', 0)", b"0"]);
        assert!(block.is_none());
        assert!(err("ERR This Redis command is not allowed from script script:")(&reply), "{reply:?}");
    }

    #[test]
    fn script_kill_stops_a_read_only_loop() {
        let mut c = TestClient::new();
        let tenant = c.tenant.clone();
        let killer = std::thread::spawn(move || {
            for _ in 0..500 {
                std::thread::sleep(std::time::Duration::from_millis(10));
                if crate::scripting::kill(&tenant.scripting, crate::scripting::ScriptKind::Eval) == Reply::ok() {
                    return true;
                }
            }
            false
        });
        let e = c.cmd(&["EVAL", "while true do end", "0"]);
        assert!(killer.join().unwrap_or(false));
        assert!(err("ERR Script killed by user with SCRIPT KILL... script:")(&e), "{e:?}");
        // The state is usable afterwards.
        assert_eq!(c.cmd(&["EVAL", "return 1", "0"]), int(1));
    }

    #[test]
    fn script_that_wrote_is_unkillable() {
        let mut c = TestClient::new();
        let tenant = c.tenant.clone();
        let killer = std::thread::spawn(move || {
            for _ in 0..500 {
                std::thread::sleep(std::time::Duration::from_millis(5));
                if let Reply::Error(e) = crate::scripting::kill(&tenant.scripting, crate::scripting::ScriptKind::Eval) {
                    if e.starts_with("UNKILLABLE") {
                        return true;
                    }
                }
            }
            false
        });
        let r =
            c.cmd(&["EVAL", "redis.call('set','w','1') local i = 0 while i < 30000000 do i = i + 1 end return i", "0"]);
        assert!(killer.join().unwrap_or(false));
        assert_eq!(r, int(30000000));
    }

    #[test]
    fn preloaded_libraries() {
        let mut c = TestClient::new();
        assert_eq!(c.cmd(&["EVAL", "return cjson.encode({1,2,{a=1}})", "0"]), bulk("[1,2,{\"a\":1}]"));
        assert_eq!(c.cmd(&["EVAL", "return cjson.decode('[1,{\"a\":[2]}]')[2].a[1]", "0"]), int(2));
        let e = c.cmd(&["EVAL", "return cjson.decode('{')", "0"]);
        assert!(
            err("ERR user_script:1: Expected object key string but found T_END at character 2 script:")(&e),
            "{e:?}"
        );
        assert_eq!(
            c.cmd(&["EVAL", "return cmsgpack.pack({1,2,'a'})", "0"]),
            Reply::Bulk(bytes::Bytes::from_static(b"\x93\x01\x02\xa1a"))
        );
        assert_eq!(c.cmd(&["EVAL", "return cmsgpack.unpack(cmsgpack.pack({x={y=7}})).x.y", "0"]), int(7));
        assert_eq!(c.cmd(&["EVAL", "return bit.band(0xff, 0x0f)", "0"]), int(15));
        assert_eq!(c.cmd(&["EVAL", "return bit.tohex(-1, -4)", "0"]), bulk("FFFF"));
        assert_eq!(c.cmd(&["EVAL", "return struct.size('>iHb')", "0"]), int(7));
        assert_eq!(
            c.cmd(&["EVAL", "return {struct.unpack('>h', struct.pack('>h', -2))}", "0"]),
            Reply::Array(vec![int(-2), int(3)])
        );
    }
}
