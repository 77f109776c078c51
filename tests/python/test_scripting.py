"""Lua scripting (EVAL, EVALSHA, SCRIPT, FUNCTION/FCALL) against a real tern node, with
outputs compared to a real redis-server where one is installed."""

import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def real():
    """A real redis-server to compare with, or skip."""
    exe = shutil.which("redis-server")
    if not exe:
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    c = redis.Redis(port=port)
    deadline = time.time() + 10
    while True:
        try:
            c.ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield c
    c.close()
    proc.terminate()
    proc.wait(5)


def both(rb, real, script, *args, numkeys=0):
    """Runs a script on tern and on redis-server; returns both results (or error texts)."""
    out = []
    for c in (rb, real):
        c.flushdb()
        try:
            out.append(c.eval(script, numkeys, *args))
        except redis.ResponseError as e:
            out.append(("error", str(e)))
    return out


def test_return_types(r):
    assert r.eval("return 1", 0) == 1
    assert r.eval("return 3.99", 0) == 3
    assert r.eval("return -3.99", 0) == -3
    assert r.eval("return 'x'", 0) == "x"
    assert r.eval("return true", 0) == 1
    assert r.eval("return false", 0) is None
    assert r.eval("return nil", 0) is None
    assert r.eval("return {1,2,3.7,'a',true,false,nil,5}", 0) == [1, 2, 3, "a", 1, None]
    assert r.eval("return {ok='FINE'}", 0) == "FINE"
    assert r.eval("return redis.status_reply('PONG')", 0) == "PONG"
    assert r.eval("return {KEYS[1], KEYS[2], ARGV[1]}", 2, "k1", "k2", "a1") == ["k1", "k2", "a1"]


def test_same_as_real_redis(rb, real):
    scripts = [
        "return {1,2,3.7,'a',true,false,nil,5}",
        "return {{1,{2,{'x'}}}, 'y'}",
        "return redis.call('ping')",
        "redis.call('hset','h','a','1','b','2') return redis.call('hgetall','h')",
        "redis.setresp(3) redis.call('hset','h','a','1') return redis.call('hgetall','h')",
        "redis.call('zadd','z',1.5,'m') return redis.call('zscore','z','m')",
        "redis.setresp(3) redis.call('zadd','z',1.5,'m') return redis.call('zscore','z','m')",
        "redis.setresp(3) redis.call('zadd','z',1.5,'m') return redis.call('zscore','z','m').double",
        "redis.setresp(3) redis.call('sadd','s','a') return redis.call('smembers','s')",
        "redis.setresp(3) return redis.call('get','nokey') == nil",
        "return redis.call('get','nokey') == false",
        "return redis.call('incrbyfloat','f','1.5')",
        "return redis.call('set','n',0.1)",
        "return {double=3.5}",
        "return redis.sha1hex('abc')",
        "return x",
        "x = 1",
        "error('boom')",
        "error({err='MYCODE custom'})",
        "return redis.call('nosuch')",
        "return redis.pcall('nosuch')",
        "return redis.call('get')",
        "redis.call('set','s','x') return redis.call('incr','s')",
        "redis.call('set','s','x') return redis.pcall('incr','s')",
        "return redis.error_reply('My Error')",
        "return redis.error_reply('-My Error')",
        "return {err='x y'}",
        "return redis.setresp(4)",
        "return redis.call()",
        "return redis.call('get', {})",
        "return +",
        "return type(os)",
        "return type(loadstring)",
        "return _VERSION",
        "return tostring(1e300 * 10)",
    ]
    for s in scripts:
        ours, theirs = both(rb, real, s)
        assert ours == theirs, s


def test_errors(r):
    with pytest.raises(redis.ResponseError, match="^Number of keys can't be negative"):
        r.eval("return 1", -1)
    with pytest.raises(redis.ResponseError, match="^Number of keys can't be greater than number of args"):
        r.eval("return 1", 3, "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'eval' command"):
        r.execute_command("EVAL", "return 1")
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha("0" * 40, 0)
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("SCRIPT", "NOPE")


def test_sandbox(r):
    for g in ["os", "io", "require", "dofile", "loadfile", "debug", "print", "setfenv", "getfenv", "module"]:
        with pytest.raises(redis.ResponseError, match="Script attempted to access nonexistent global variable"):
            r.eval(f"return type({g})", 0)
    with pytest.raises(redis.ResponseError, match="Attempt to modify a readonly table"):
        r.eval("newglobal = 1", 0)
    with pytest.raises(redis.ResponseError, match="cannot change a protected metatable"):
        r.eval("setmetatable(_G, nil)", 0)
    assert r.eval("local x = 5 return x", 0) == 5
    for lib in ["cjson", "cmsgpack", "bit", "struct", "string", "table", "math", "redis"]:
        assert r.eval(f"return type({lib})", 0) == "table", lib


def test_script_cache(r):
    sha = r.script_load("return 'cached'")
    assert sha == "3ad9d0c8a6ec4f1f39a2dd1cb1d3326bbce65b1f" or len(sha) == 40
    assert r.evalsha(sha, 0) == "cached"
    assert r.evalsha(sha.upper(), 0) == "cached"
    assert r.script_exists(sha, "f" * 40) == [True, False]
    assert r.script_flush() is True
    assert r.script_exists(sha) == [False]
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha(sha, 0)
    assert r.execute_command("SCRIPT", "FLUSH", "ASYNC")
    with pytest.raises(redis.ResponseError, match="NOTBUSY"):
        r.script_kill()


def test_a_script_cannot_break_redis_call_for_the_next(r):
    # The Rust callbacks are made once per Lua state; a script that replaces them in the
    # `redis` table must not leave later scripts without them.
    r.eval("redis.call = nil; redis.pcall = function() return 'fake' end; return 1", 0)
    assert r.eval("return redis.call('SET', KEYS[1], 'v')", 1, "cb:key") == "OK"
    assert r.eval("return redis.pcall('GET', KEYS[1])", 1, "cb:key") == "v"


def test_the_same_body_after_a_flush_is_compiled_again(r):
    body = "return ARGV[1] .. '!'"
    assert r.eval(body, 0, "a") == "a!"
    sha = r.script_load(body)
    assert r.script_flush() is True
    assert r.script_exists(sha) == [False]
    assert r.eval(body, 0, "b") == "b!"
    assert r.script_exists(sha) == [True]
    assert r.evalsha(sha, 0, "c") == "c!"


def test_script_cache_is_per_tenant(r, other):
    sha = r.script_load("return 1")
    assert other.script_exists(sha) == [False]


def test_read_only_variants(r):
    r.set("a", "1")
    assert r.eval_ro("return redis.call('get', KEYS[1])", 1, "a") == "1"
    with pytest.raises(redis.ResponseError, match="Write commands are not allowed from read-only scripts"):
        r.eval_ro("return redis.call('set', 'a', 'b')", 0)
    sha = r.script_load("return redis.call('get', 'a')")
    assert r.evalsha_ro(sha, 0) == "1"


def test_undeclared_keys_work(r):
    assert r.eval("redis.call('set', 'undeclared', 'v') return redis.call('get', 'undeclared')", 0) == "v"


def test_resp3_client(r3):
    r3.flushdb()
    r3.hset("h", "f", "v")
    assert r3.eval("return redis.call('hgetall', 'h')", 0) == ["f", "v"]
    assert r3.eval("redis.setresp(3) return redis.call('hgetall', 'h')", 0) == {"f": "v"}
    assert r3.eval("redis.setresp(3) return true", 0) is True
    assert r3.eval("return {double=1.5}", 0) == 1.5


def test_atomicity(node, r):
    """A script's read-modify-write is never interleaved with other clients' commands."""
    r.set("counter", 0)
    script = "local v = tonumber(redis.call('get', 'counter')) redis.call('set', 'counter', v + 1) return v"
    errors = []

    def worker():
        c = node.client(decode_responses=True)
        try:
            for _ in range(100):
                c.eval(script, 0)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert r.get("counter") == "400"


def test_redis_py_lock(r):
    lock = r.lock("resource", timeout=5)
    assert lock.acquire(blocking=False)
    assert not r.lock("resource").acquire(blocking=False)
    assert lock.extend(5)
    assert lock.reacquire()
    lock.release()
    assert r.get("resource") is None
    with r.lock("resource2", timeout=5):
        assert r.exists("resource2") == 1


def test_blpop_woken_by_push_in_script(node, r):
    result = {}

    def waiter():
        c = node.client(decode_responses=True)
        result["v"] = c.blpop(["jobs"], timeout=5)
        c.close()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    r.eval("redis.call('lpush', KEYS[1], ARGV[1])", 1, "jobs", "job1")
    t.join(6)
    assert result.get("v") == ("jobs", "job1")


def test_pipelined_scripts_keep_order_with_other_commands(node, r):
    """Scripts pipelined between plain commands, a blocking pop that must wait, CLIENT
    REPLY and a transaction all answer in request order."""
    incr = "return redis.call('incr', KEYS[1])"
    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.eval(incr, 1, "pc")
        pipe.set(f"pk{i}", i)
        pipe.get("pc")
    replies = pipe.execute()
    assert replies[0::3] == list(range(1, 51))
    assert replies[2::3] == [str(n) for n in range(1, 51)]

    # A BLPOP behind a script waits for a push from another connection.
    pusher = node.client(decode_responses=True)
    timer = threading.Timer(0.3, lambda: pusher.eval("return redis.call('rpush', KEYS[1], 'x')", 1, "pq"))
    timer.start()
    pipe = r.pipeline(transaction=False)
    pipe.eval(incr, 1, "pc")
    pipe.blpop(["pq"], timeout=5)
    pipe.eval(incr, 1, "pc")
    assert pipe.execute() == [51, ("pq", "x"), 52]
    timer.join()
    pusher.close()

    # MULTI holding a script, then a script, in one pipeline.
    pipe = r.pipeline(transaction=True)
    pipe.eval(incr, 1, "pc")
    pipe.get("pc")
    assert pipe.execute() == [53, "53"]


def test_script_kill_not_busy(r):
    with pytest.raises(redis.ResponseError, match="NOTBUSY No scripts in execution right now."):
        r.script_kill()


LIB_SCRIPTS = [
    "return cjson.encode({1,2,{a=1}})",
    "return cjson.encode({a=1.5})",
    "return cjson.encode({})",
    "return cjson.encode(0.1)",
    "return cjson.encode(1e20)",
    "return cjson.encode(-0.5)",
    "return cjson.encode('a\"/\\n\\1')",
    "local t = {} t[1]=1 t[3]=3 return cjson.encode(t)",
    "local t = {} t[1]=1 t[30]=3 return cjson.encode(t)",
    "return cjson.encode({true, false, cjson.null})",
    "return cjson.encode(cjson.decode('[1,2,{\"a\":null}]'))",
    "return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null",
    "return cjson.decode('{\"k\":[1,\"x\",true]}').k",
    "return cjson.decode('\"\\\\u00e9\\\\n\"')",
    "return cjson.decode('{')",
    "return cjson.decode('[1,]')",
    "return cjson.decode('[1] x')",
    "return cjson.decode('')",
    "return cjson.encode(function() end)",
    "return cmsgpack.pack({1,2,'a',{x=1}})",
    "return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)",
    "return cmsgpack.pack(1.5, 0.1, -2.25, 1e300)",
    "return cmsgpack.pack(true, false, nil)",
    "return cmsgpack.pack(string.rep('x', 31), string.rep('y', 32), string.rep('z', 300), string.rep('w', 70000))",
    "return cmsgpack.pack({})",
    "local t = {} for i=1,20 do t[i]=i end return cmsgpack.pack(t)",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, -5))}",
    "return cmsgpack.unpack(cmsgpack.pack({a={b={c='deep'}}})).a.b.c",
    "return cmsgpack.unpack(cmsgpack.pack(0.1)) == 0.1",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2))}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return cmsgpack.unpack('\\205')",
    "return bit.band(0xff, 0x0f)",
    "return {bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4)}",
    "return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.tobit(0xffffffff), bit.tobit(2^32 + 5)}",
    "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2)}",
    "return struct.pack('>iHb', 1, 2, -3)",
    "return struct.pack('<i2', 258)",
    "return {struct.unpack('>iHb', struct.pack('>iHb', -7, 65535, -3))}",
    "return {struct.unpack('<d', struct.pack('<d', 1.5))}",
    "return {struct.unpack('s', struct.pack('s', 'hello'))}",
    "return struct.pack('c5', 'abcdefg')",
    "return struct.size('>iHbd')",
    "return {struct.unpack('B c0', struct.pack('B', 3) .. 'abc')}",
    "return struct.pack('y', 1)",
]


@pytest.mark.parametrize("script", LIB_SCRIPTS)
def test_libraries_same_as_real_redis(rb, real, script):
    ours, theirs = both(rb, real, script)
    assert ours == theirs


def test_cjson_cmsgpack_round_trip(r):
    doc = '{"name":"x","list":[1,2,3],"nested":{"ok":true}}'
    back = r.eval("return cjson.encode(cjson.decode(ARGV[1]))", 0, doc)
    import json
    assert json.loads(back) == json.loads(doc)
    assert r.eval("local v = cmsgpack.unpack(cmsgpack.pack(cjson.decode(ARGV[1]))) return v.list[3]", 0, doc) == 3
