"""Redis 7 functions (FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS, FCALL, FCALL_RO),
their persistence across restarts (from the log and from a snapshot), and the script time
limit: BUSY for the script's database only, SCRIPT KILL / FUNCTION KILL from another
connection, UNKILLABLE for a script that wrote and the node's hard limit as its escape."""

import threading
import time

import pytest
import redis

from conftest import PASSWORD_A, PASSWORD_B, TernNode

LIB = """#!lua name=mylib
local function echo(keys, args) return {keys[1], args[1]} end
redis.register_function('echo', echo)
redis.register_function{function_name='get', callback=function(k) return redis.call('get', k[1]) end,
  flags={'no-writes'}, description='reads a key'}
redis.register_function{function_name='set', callback=function(k, a) return redis.call('set', k[1], a[1]) end}
redis.register_function{function_name='sneaky', callback=function(k, a) return redis.call('set', k[1], a[1]) end,
  flags={'no-writes'}}
"""

SPIN = """#!lua name=spin
redis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}
redis.register_function('spin_write', function(k) redis.call('set', k[1], '1') while true do end end)
"""


def pairs(flat):
    """A RESP2 map (a flat list of keys and values) as a dict (redis-py parses some)."""
    if isinstance(flat, dict):
        return flat
    return dict(zip(flat[::2], flat[1::2]))


def libraries(c, **kw):
    out = []
    for lib in c.function_list(**kw):
        lib = pairs(lib)
        lib["functions"] = [pairs(fn) for fn in lib["functions"]]
        out.append(lib)
    return out


def stats(c):
    s = pairs(c.function_stats())
    s["engines"] = {k: pairs(v) for k, v in pairs(s["engines"]).items()}
    if s["running_script"] is not None:
        s["running_script"] = pairs(s["running_script"])
    return s


@pytest.fixture
def f(r):
    r.function_flush()
    yield r
    r.function_flush()


def test_load_call_list_delete(f, other):
    assert f.function_load(LIB) == "mylib"
    with pytest.raises(redis.ResponseError, match="^Library 'mylib' already exists$"):
        f.function_load(LIB)
    assert f.function_load(LIB, replace=True) == "mylib"
    assert f.fcall("echo", 1, "k", "a") == ["k", "a"]
    assert f.fcall("set", 1, "k", "v") == "OK"
    assert f.fcall_ro("get", 1, "k") == "v"
    with pytest.raises(redis.ResponseError, match="^Function not found$"):
        f.fcall("nosuch", 0)
    with pytest.raises(redis.ResponseError, match=r"^Can not execute a script with write flag using \*_ro command.$"):
        f.fcall_ro("set", 1, "k", "v")
    with pytest.raises(redis.ResponseError, match="^Write commands are not allowed from read-only scripts."):
        f.fcall("sneaky", 1, "k", "v")
    with pytest.raises(redis.ResponseError, match="^Bad number of keys provided$"):
        f.execute_command("FCALL", "echo", "x")
    libs = libraries(f)
    assert [l["library_name"] for l in libs] == ["mylib"]
    fns = {fn["name"]: fn for fn in libs[0]["functions"]}
    assert set(fns) == {"echo", "get", "set", "sneaky"}
    assert fns["get"]["flags"] == ["no-writes"] and fns["get"]["description"] == "reads a key"
    assert fns["echo"]["description"] is None and fns["echo"]["flags"] == []
    assert libraries(f, library="my*", withcode=True)[0]["library_code"] == LIB
    assert f.function_list(library="zz*") == []
    # Another tenant sees none of it.
    assert other.function_list() == []
    with pytest.raises(redis.ResponseError, match="^Function not found$"):
        other.fcall("echo", 0)
    # FLUSHALL keeps functions, as in Redis.
    f.flushall()
    assert f.fcall("echo", 1, "k", "a") == ["k", "a"]
    with pytest.raises(redis.ResponseError, match="^Library not found$"):
        f.function_delete("nosuch")
    assert f.function_delete("mylib")
    with pytest.raises(redis.ResponseError, match="^Function not found$"):
        f.fcall("echo", 0)


@pytest.mark.parametrize("code,error", [
    ("return 1", "Missing library metadata"),
    ("#!lua name=x\nreturn 1", "No functions registered"),
    ("#!lua name=x\n+", "Error compiling function: user_function:2: unexpected symbol near '+'"),
    ("#!lua name=x\nredis.call('ping')", "Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"),
    ("#!lua name=x\nredis.register_function{function_name='z', callback=function() end, flags={'bad'}}", "Error registering functions: ERR unknown flag given"),
    ("#!lua name=x\nwhile true do end", "Error registering functions: ERR FUNCTION LOAD timeout"),
    ("#!py name=x\n", "Engine 'py' not found"),
])
def test_load_errors(f, code, error):
    with pytest.raises(redis.ResponseError) as e:
        f.function_load(code)
    assert str(e.value) == error


def test_collision_flush_stats_dump_restore(f):
    f.function_load(LIB)
    with pytest.raises(redis.ResponseError, match="^Function echo already exists$"):
        f.function_load("#!lua name=two\nredis.register_function('echo', function() return 1 end)")
    st = stats(f)
    assert st["running_script"] is None
    assert st["engines"] == {"LUA": {"libraries_count": 1, "functions_count": 4}}
    with pytest.raises(redis.ResponseError, match="^NOTBUSY No scripts in execution right now.$"):
        f.function_kill()
    payload = f.function_dump()
    assert f.function_flush()
    assert f.function_list() == []
    assert f.function_restore(payload)
    with pytest.raises(redis.ResponseError, match="^Library 'mylib' already exists$"):
        f.function_restore(payload)
    assert f.function_restore(payload, "REPLACE")
    with pytest.raises(redis.ResponseError, match="payload version or checksum are wrong"):
        f.function_restore(b"nonsense")
    assert f.fcall("echo", 1, "k", "a") == ["k", "a"]


def test_resp3(node):
    c = node.client(decode_responses=True, protocol=3)
    try:
        c.function_flush()
        c.function_load(LIB)
        lib = c.function_list()[0]
        assert lib["library_name"] == "mylib"
        flags = {fn["name"]: fn["flags"] for fn in lib["functions"]}
        assert flags["get"] == ["no-writes"]  # a RESP3 set, which redis-py gives as a list
    finally:
        c.function_flush()
        c.close()


def test_functions_survive_restarts_and_snapshots(tmp_path):
    n = TernNode(extra_args=("--data-dir", str(tmp_path), "--fsync", "always"))
    try:
        c = n.client(decode_responses=True)
        c.function_load(LIB)
        c.function_load("#!lua name=gone\nredis.register_function('gone', function() return 1 end)")
        c.function_delete("gone")
        c.fcall("set", 1, "k", "v")
    finally:
        n.stop()
    # Restart: the log is replayed.
    n = TernNode(extra_args=("--data-dir", str(tmp_path), "--fsync", "always"))
    try:
        c = n.client(decode_responses=True)
        assert c.fcall_ro("get", 1, "k") == "v"
        assert [l["library_name"] for l in libraries(c)] == ["mylib"]
        # A snapshot cuts the log that held FUNCTION LOAD: the snapshot carries it.
        c.function_load("#!lua name=late\nredis.register_function('late', function() return 'late' end)")
        c.bgsave()
        deadline = time.time() + 10
        while c.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        snapshots = list((tmp_path / "alpha").glob("snapshot.*.tern"))
        assert snapshots, "BGSAVE wrote a snapshot"
    finally:
        n.stop()
    n = TernNode(extra_args=("--data-dir", str(tmp_path), "--fsync", "always"))
    try:
        c = n.client(decode_responses=True)
        assert c.fcall("late", 0) == "late"
        assert c.fcall("echo", 1, "a", "b") == ["a", "b"]
        assert c.get("k") == "v"
    finally:
        n.stop()


# --- The script time limit ------------------------------------------------------------------

@pytest.fixture(scope="module")
def busy_node():
    """One worker thread (so both databases share it) and a 4 s hard script limit."""
    n = TernNode(extra_args=("--threads", "1", "--script-time-limit-ms", "4000"))
    yield n
    assert n.alive()
    n.stop()


def run_in_thread(fn):
    out = {}

    def target():
        try:
            out["result"] = fn()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            out["error"] = e
    t = threading.Thread(target=target)
    t.start()
    return t, out


def wait_busy(c, limit=5):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            c.ping()
        except redis.ResponseError as e:
            if str(e).startswith("BUSY"):
                return str(e)
            raise
        time.sleep(0.02)
    raise AssertionError("the database never became busy")


def test_busy_and_script_kill(busy_node):
    runner = busy_node.client(decode_responses=True)
    c = busy_node.client(decode_responses=True)
    other = busy_node.client(password=PASSWORD_B, decode_responses=True)
    c.config_set("busy-reply-threshold", 100)
    assert c.config_get("lua-time-limit") == {"lua-time-limit": "100"}
    t, out = run_in_thread(lambda: runner.eval("while true do end", 0))
    started = time.time()
    text = wait_busy(c)
    assert text == "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    # The other database (same worker thread) is unaffected.
    assert other.set("x", "1") and other.get("x") == "1"
    with pytest.raises(redis.ResponseError, match="^BUSY"):
        c.get("a")
    with pytest.raises(redis.ResponseError, match="^BUSY Redis is busy running a script. You can only call SCRIPT KILL"):
        c.function_kill()
    assert c.script_kill()
    t.join(5)
    assert "Script killed by user with SCRIPT KILL..." in str(out.get("error"))
    assert time.time() - started < 4, "killed by SCRIPT KILL, not by the hard limit"
    assert c.ping()
    with pytest.raises(redis.ResponseError, match="NOTBUSY"):
        c.script_kill()


def test_quick_script_that_turns_slow_is_still_killable(busy_node):
    """A script whose last run was quick runs on the connection's worker thread; when a later
    run loops without writing, it is moved to a script thread, so BUSY, other databases on
    that thread and SCRIPT KILL keep working."""
    runner = busy_node.client(decode_responses=True)
    c = busy_node.client(decode_responses=True)
    other = busy_node.client(password=PASSWORD_B, decode_responses=True)
    c.config_set("busy-reply-threshold", 100)
    spin = "local n = tonumber(ARGV[1]) local i = 0 while n == 0 or i < n do i = i + 1 end return i"
    for _ in range(3):
        assert runner.eval(spin, 0, 10) == 10
    # A run past the inline budget with no effect finishes correctly after the move.
    assert runner.eval(spin, 0, 3_000_000) == 3_000_000
    assert runner.eval(spin, 0, 10) == 10
    t, out = run_in_thread(lambda: runner.eval(spin, 0, 0))
    started = time.time()
    wait_busy(c)
    assert other.set("y", "1") and other.get("y") == "1"
    assert c.script_kill()
    t.join(5)
    assert "Script killed by user with SCRIPT KILL..." in str(out.get("error"))
    assert time.time() - started < 4, "killed by SCRIPT KILL, not by the hard limit"


def test_function_kill_and_stats(busy_node):
    runner = busy_node.client(decode_responses=True)
    c = busy_node.client(decode_responses=True)
    c.config_set("busy-reply-threshold", 100)
    c.function_load(SPIN, replace=True)
    t, out = run_in_thread(lambda: runner.fcall_ro("spin", 0))
    text = wait_busy(c)
    assert text == "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    st = stats(c)
    assert st["running_script"]["name"] == "spin"
    assert [a.lower() for a in st["running_script"]["command"]] == ["fcall_ro", "spin", "0"]
    with pytest.raises(redis.ResponseError, match="You can only call FUNCTION KILL"):
        c.script_kill()
    assert c.function_kill()
    t.join(5)
    assert "Script killed by user" in str(out.get("error"))
    assert c.ping()


def test_writing_script_is_unkillable_until_the_hard_limit(busy_node):
    runner = busy_node.client(decode_responses=True)
    c = busy_node.client(decode_responses=True)
    c.config_set("busy-reply-threshold", 100)
    c.delete("w")
    t, out = run_in_thread(lambda: runner.eval("redis.call('set', 'w', '1') while true do end", 0))
    wait_busy(c)
    with pytest.raises(redis.ResponseError, match="^UNKILLABLE Sorry the script already executed write commands"):
        c.script_kill()
    # The escape: the node's hard limit (4 s here) stops it; its write stays.
    t.join(10)
    assert not t.is_alive()
    assert "Script killed by the server" in str(out.get("error"))
    assert c.get("w") == "1"


def test_short_scripts_only_delay_other_clients(busy_node):
    runner = busy_node.client(decode_responses=True)
    c = busy_node.client(decode_responses=True)
    c.config_set("busy-reply-threshold", 5000)
    t, out = run_in_thread(lambda: runner.eval(
        "local i = 0 while i < 20000000 do i = i + 1 end return i", 0))
    time.sleep(0.05)
    # Below the threshold a command waits for the script instead of getting BUSY.
    assert c.set("after", "1")
    t.join(10)
    assert out.get("result") == 20000000
    with pytest.raises(redis.ResponseError):
        c.config_set("busy-reply-threshold", "abc")


def test_multi_during_busy_is_aborted(busy_node):
    runner = busy_node.client(decode_responses=True)
    c = busy_node.client(decode_responses=True)
    c.config_set("busy-reply-threshold", 100)
    t, out = run_in_thread(lambda: runner.eval("while true do end", 0))
    wait_busy(c)
    conn = c.connection_pool.get_connection()
    try:
        conn.send_command("MULTI")
        assert conn.read_response() == "OK"
        conn.send_command("SET", "a", "1")
        with pytest.raises(redis.ResponseError, match="^BUSY"):
            conn.read_response()
        assert c.script_kill()
        t.join(5)
        conn.send_command("EXEC")
        with pytest.raises(redis.exceptions.ExecAbortError, match="Transaction discarded"):
            conn.read_response()
    finally:
        c.connection_pool.release(conn)
