"""Sorted-set commands against a real tern node, through redis-py (RESP2 and RESP3) and raw RESP."""

import threading
import time

import pytest
import redis

from conftest import PASSWORD_A, recv_until, resp_command


def err(match):
    return pytest.raises(redis.ResponseError, match=match)


def assert_gone(r, key):
    """The key holds no sorted set any more (Redis never keeps empty collections)."""
    assert r.zcard(key) == 0
    assert r.exists(key) == 0


def send(sock, *args):
    sock.sendall(resp_command(*args))


def scored(reply):
    """(member, score) pairs from a WITHSCORES reply, flat or nested, scores as floats."""
    if reply and isinstance(reply[0], (list, tuple)):
        pairs = reply
    else:
        pairs = list(zip(reply[::2], reply[1::2]))
    return [(m.decode() if isinstance(m, bytes) else m, float(s)) for m, s in pairs]


def has_command(r, name):
    try:
        r.execute_command(name)
    except redis.ResponseError as e:
        return "unknown command" not in str(e)
    return True


class Later:
    """Runs a command from another connection after a short delay."""

    def __init__(self, node, delay, *args):
        self.client = node.client(decode_responses=True)
        self.thread = threading.Thread(target=self._run, args=(delay, args))
        self.result = None
        self.thread.start()

    def _run(self, delay, args):
        time.sleep(delay)
        self.result = self.client.execute_command(*args)

    def join(self):
        self.thread.join(10)
        self.client.close()
        return self.result


# ----- ZADD / ZINCRBY / ZREM / point reads -------------------------------------------------------


def test_zadd_basic_and_options(r):
    assert r.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd("z", {"a": 5, "d": 4}) == 1
    assert r.zscore("z", "a") == 5.0
    assert r.zadd("z", {"a": 9, "e": 1}, nx=True) == 1
    assert r.zscore("z", "a") == 5.0
    assert r.zadd("z", {"a": 9, "f": 1}, xx=True) == 0
    assert r.zscore("z", "a") == 9.0 and r.zscore("z", "f") is None
    assert r.zadd("z", {"a": 1, "b": 20}, gt=True, ch=True) == 1
    assert r.zscore("z", "a") == 9.0 and r.zscore("z", "b") == 20.0
    assert r.zadd("z", {"a": 10, "b": 2}, lt=True, ch=True) == 1
    assert r.zadd("z", {"new": 3}, gt=True) == 1  # GT/LT never prevent additions
    assert r.zadd("z", {"a": 1, "b": 2, "zz": 0}, ch=True) == 2
    assert r.execute_command("ZADD", "z", "XX", "GT", "CH", "100", "a") == 1


def test_zadd_incr(r):
    assert r.zadd("z", {"m": 1.5}, incr=True) == 1.5
    assert r.zadd("z", {"m": 1}, incr=True) == 2.5
    assert r.zadd("z", {"m": 1}, incr=True, nx=True) is None
    assert r.zadd("z", {"other": 1}, incr=True, xx=True) is None
    assert r.zadd("z", {"m": -1}, incr=True, gt=True) is None
    assert r.zadd("z", {"m": -1}, incr=True, lt=True) == 1.5
    assert r.zadd("nokey", {"m": 1}, incr=True, xx=True) is None
    assert_gone(r, "nokey")


def test_zadd_errors(r):
    r.zadd("z", {"a": 1})
    with err("^XX and NX options at the same time are not compatible$"):
        r.execute_command("ZADD", "z", "XX", "NX", "1", "a")
    for opts in (("GT", "LT"), ("NX", "GT"), ("LT", "NX")):
        with err("^GT, LT, and/or NX options at the same time are not compatible$"):
            r.execute_command("ZADD", "z", *opts, "1", "a")
    with err("^INCR option supports a single increment-element pair$"):
        r.execute_command("ZADD", "z", "INCR", "1", "a", "2", "b")
    with err("^syntax error$"):
        r.execute_command("ZADD", "z", "1", "a", "2")
    with err("^syntax error$"):
        r.execute_command("ZADD", "z", "NX", "1")
    with err("^value is not a valid float$"):
        r.execute_command("ZADD", "z", "1", "b", "abc", "c")
    with err("^value is not a valid float$"):
        r.execute_command("ZADD", "z", "nan", "a")
    with err("wrong number of arguments for 'zadd' command"):
        r.execute_command("ZADD", "z", "1")
    # Nothing was added by the failed commands.
    assert r.zrange("z", 0, -1) == ["a"]
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.zadd("str", {"a": 1})


def test_zincrby(r):
    assert r.zincrby("z", 2, "m") == 2.0
    assert r.zincrby("z", -0.5, "m") == 1.5
    assert r.zincrby("z", "+inf", "m") == float("inf")
    with err(r"^resulting score is not a number \(NaN\)$"):
        r.zincrby("z", "-inf", "m")
    with err("^resulting score is not a number"):
        r.zadd("z", {"m": float("-inf")}, incr=True)
    assert r.zscore("z", "m") == float("inf")
    with err("^value is not a valid float$"):
        r.zincrby("z", "x", "m")
    with err("wrong number of arguments for 'zincrby' command"):
        r.execute_command("ZINCRBY", "z", "1")


def test_zrem_zcard_and_empty_key(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zcard("z") == 3
    assert r.zrem("z", "a", "a", "nope") == 1
    assert r.zrem("z", "nope") == 0
    assert r.zrem("z", "b", "c") == 2
    assert_gone(r, "z")
    assert r.zrem("z", "b") == 0
    assert r.zcard("nokey") == 0
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.zrem("str", "a")
    with err("^WRONGTYPE"):
        r.zcard("str")


def test_zscore_zmscore(r):
    r.zadd("z", {"a": 1.5, "b": -2, "i": float("inf")})
    assert r.zscore("z", "a") == 1.5
    assert r.zscore("z", "x") is None
    assert r.zscore("nokey", "x") is None
    assert r.zmscore("z", ["a", "x", "b", "i"]) == [1.5, None, -2.0, float("inf")]
    assert r.zmscore("nokey", ["a", "b"]) == [None, None]
    with err("wrong number of arguments for 'zmscore' command"):
        r.execute_command("ZMSCORE", "z")


def test_score_formatting(node, rb):
    rb.zadd("z", {"a": 1, "b": 0.1, "c": -2.5, "d": 1e300, "e": float("-inf")})
    s = node.raw()
    send(s, "AUTH", PASSWORD_A)
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
    # Shortest round-trip text, as Redis 7.2 (7.0 printed 17 significant digits).
    expected = {"a": b"1", "b": b"0.1", "c": b"-2.5", "d": b"1e+300", "e": b"-inf"}
    for member, text in expected.items():
        send(s, "ZSCORE", "z", member)
        reply = b"$%d\r\n%s\r\n" % (len(text), text)
        assert recv_until(s, lambda d, n=len(reply): len(d) >= n) == reply, member
    s.close()
    # -0 is the same score as 0.
    rb.zadd("zero", {"b": "-0", "a": 0})
    assert rb.zrange("zero", 0, -1) == [b"a", b"b"]


def test_zrank_zrevrank(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zrank("z", "a") == 0
    assert r.zrank("z", "c") == 2
    assert r.zrevrank("z", "c") == 0
    assert r.zrevrank("z", "a") == 2
    assert r.zrank("z", "x") is None
    assert r.zrank("nokey", "x") is None
    # WITHSCORE is Redis 7.2's.
    rank, score = r.execute_command("ZRANK", "z", "b", "WITHSCORE")
    assert (rank, float(score)) == (1, 2.0)
    rank, score = r.execute_command("ZREVRANK", "z", "c", "WITHSCORE")
    assert (rank, float(score)) == (0, 3.0)
    assert r.execute_command("ZREVRANK", "z", "x", "WITHSCORE") is None
    with err("^syntax error$"):
        r.execute_command("ZRANK", "z", "b", "WITHSCORES")
    with err("wrong number of arguments for 'zrank' command"):
        r.execute_command("ZRANK", "z", "b", "WITHSCORE", "x")
    with err("wrong number of arguments for 'zrevrank' command"):
        r.execute_command("ZREVRANK", "z")


def test_zcount_zlexcount(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.zcount("z", "-inf", "+inf") == 4
    assert r.zcount("z", "(1", "(4") == 2
    assert r.zcount("z", 2, 2) == 1
    assert r.zcount("z", "(2", 2) == 0
    assert r.zcount("z", 4, 1) == 0
    assert r.zcount("nokey", 0, 10) == 0
    with err("^min or max is not a float$"):
        r.zcount("z", "x", 1)
    with err("^min or max is not a float$"):
        r.zcount("z", 1, "(nan")
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zlexcount("lex", "-", "+") == 4
    assert r.zlexcount("lex", "[b", "(d") == 2
    assert r.zlexcount("lex", "(a", "[a") == 0
    assert r.zlexcount("lex", "+", "-") == 0
    assert r.zlexcount("nokey", "-", "+") == 0
    with err("^min or max not valid string range item$"):
        r.zlexcount("lex", "a", "+")


# ----- ranges -----------------------------------------------------------------------------------


@pytest.fixture
def z4(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    return r


def test_zrange_by_rank(z4):
    r = z4
    assert r.zrange("z", 0, -1) == ["a", "b", "c", "d"]
    assert r.zrange("z", 1, 2) == ["b", "c"]
    assert r.zrange("z", -2, -1) == ["c", "d"]
    assert r.zrange("z", -100, 0) == ["a"]
    assert r.zrange("z", 2, 100) == ["c", "d"]
    assert r.zrange("z", 3, 1) == []
    assert r.zrange("z", 10, 20) == []
    assert r.zrange("z", 0, 1, desc=True) == ["d", "c"]
    assert r.zrange("z", 0, 0, withscores=True) == [("a", 1.0)]
    assert r.zrevrange("z", 0, 1, withscores=True) == [("d", 4.0), ("c", 3.0)]
    assert r.zrange("nokey", 0, -1) == []
    with err("^value is not an integer or out of range$"):
        r.zrange("z", "x", 1)
    # An explicit LIMIT with count -1 is accepted with ranks, as in Redis.
    assert r.execute_command("ZRANGE", "z", 0, 0, "LIMIT", 0, -1) == ["a"]


def test_zrange_by_score(z4):
    r = z4
    assert r.zrange("z", "(1", 3, byscore=True) == ["b", "c"]
    assert r.zrange("z", "-inf", "+inf", byscore=True, offset=1, num=2) == ["b", "c"]
    assert r.zrange("z", "+inf", "(1", byscore=True, desc=True, withscores=True) == [
        ("d", 4.0),
        ("c", 3.0),
        ("b", 2.0),
    ]
    assert r.zrangebyscore("z", 2, 3) == ["b", "c"]
    assert r.zrangebyscore("z", "(2", "(3") == []
    assert r.zrangebyscore("z", "-inf", "+inf", start=1, num=-1) == ["b", "c", "d"]
    assert r.zrangebyscore("z", "-inf", "+inf", start=-1, num=2) == []
    assert r.zrangebyscore("z", "-inf", "+inf", start=10, num=2) == []
    assert r.zrangebyscore("z", 1, 2, withscores=True) == [("a", 1.0), ("b", 2.0)]
    assert r.zrevrangebyscore("z", 3, 1) == ["c", "b", "a"]
    assert r.zrevrangebyscore("z", "+inf", "-inf", start=0, num=1, withscores=True) == [("d", 4.0)]
    with err("^min or max is not a float$"):
        r.zrangebyscore("z", "a", 1)
    with err("^min or max is not a float$"):
        r.zrange("z", 1, "b", byscore=True)


def test_zrange_by_lex(r):
    r.zadd("lex", {m: 0 for m in ["a", "b", "c", "d", "e"]})
    assert r.zrange("lex", "[b", "(d", bylex=True) == ["b", "c"]
    assert r.zrange("lex", "-", "+", bylex=True, offset=1, num=2) == ["b", "c"]
    assert r.zrange("lex", "+", "-", bylex=True, desc=True, offset=0, num=2) == ["e", "d"]
    assert r.zrangebylex("lex", "-", "[b") == ["a", "b"]
    assert r.zrangebylex("lex", "(a", "(a") == []
    assert r.zrevrangebylex("lex", "(c", "-") == ["b", "a"]
    assert r.zrevrangebylex("lex", "+", "[d", start=1, num=5) == ["d"]
    with err("^min or max not valid string range item$"):
        r.zrangebylex("lex", "a", "+")
    with err("^min or max not valid string range item$"):
        r.zrange("lex", "[a", "z", bylex=True)
    with err("^syntax error, WITHSCORES not supported in combination with BYLEX$"):
        r.execute_command("ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES")


def test_zrange_option_errors(z4):
    r = z4
    cases = [
        (("ZRANGE", "z", 0, 1, "LIMIT", 0, 1),
         "^syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX$"),
        (("ZREVRANGE", "z", 0, 1, "LIMIT", 0, 1), "^syntax error, LIMIT is only supported"),
        (("ZRANGE", "z", 0, 1, "REV", "REV"), "^syntax error$"),
        (("ZRANGE", "z", 0, 1, "BYSCORE", "BYLEX"), "^syntax error$"),
        (("ZRANGEBYSCORE", "z", 0, 1, "REV"), "^syntax error$"),
        (("ZRANGEBYSCORE", "z", 0, 1, "BYLEX"), "^syntax error$"),
        (("ZREVRANGE", "z", 0, 1, "REV"), "^syntax error$"),
        (("ZRANGE", "z", 0, 1, "LIMIT", 0), "^syntax error$"),
        (("ZRANGE", "z", 0, 1, "FOO"), "^syntax error$"),
        (("ZRANGEBYSCORE", "z", 0, 1, "LIMIT", "x", 1), "^value is not an integer or out of range$"),
        (("ZRANGE", "z", 0), "wrong number of arguments for 'zrange' command"),
    ]
    for args, match in cases:
        with err(match):
            r.execute_command(*args)
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.zrange("str", 0, -1)


def test_zrangestore(z4):
    r = z4
    assert r.zrangestore("dst", "z", 1, 2) == 2
    assert r.zrange("dst", 0, -1, withscores=True) == [("b", 2.0), ("c", 3.0)]
    assert r.zrangestore("dst", "z", "(1", "+inf", byscore=True, desc=False, offset=0, num=2) == 2
    assert r.zrange("dst", 0, -1) == ["b", "c"]
    assert r.zrangestore("dst", "z", "+", "-", bylex=True, desc=True, offset=0, num=1) == 1
    assert r.zrange("dst", 0, -1) == ["d"]
    r.set("str", "v")
    assert r.zrangestore("str", "z", 0, 0) == 1  # the destination is overwritten whatever it held
    assert r.zrange("str", 0, -1) == ["a"]
    assert r.zrangestore("dst", "z", 10, 20) == 0
    assert_gone(r, "dst")
    assert r.zrangestore("dst", "nokey", 0, -1) == 0
    with err("^syntax error$"):
        r.execute_command("ZRANGESTORE", "dst", "z", 0, -1, "WITHSCORES")
    r.set("str2", "v")
    with err("^WRONGTYPE"):
        r.zrangestore("dst", "str2", 0, -1)


def test_zremrangeby(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zremrangebyrank("z", -1, -1) == 1
    assert r.zremrangebyrank("z", 10, 20) == 0
    assert r.zremrangebyscore("z", "(1", 2) == 1
    assert r.zremrangebyscore("z", 100, 200) == 0
    assert r.zrange("z", 0, -1) == ["a", "c", "d"]
    assert r.zremrangebyrank("z", 0, -1) == 3
    assert_gone(r, "z")
    r.zadd("lex", {"a": 0, "b": 0, "c": 0})
    assert r.zremrangebylex("lex", "(a", "+") == 2
    assert r.zremrangebylex("lex", "-", "+") == 1
    assert_gone(r, "lex")
    assert r.zremrangebylex("nokey", "-", "+") == 0
    with err("^value is not an integer or out of range$"):
        r.zremrangebyrank("z", "x", 1)
    with err("^min or max is not a float$"):
        r.zremrangebyscore("z", "x", 1)
    with err("^min or max not valid string range item$"):
        r.zremrangebylex("z", "x", "+")


# ----- set algebra --------------------------------------------------------------------------------


@pytest.fixture
def ab(r):
    r.zadd("a", {"x": 1, "y": 2, "z": 3})
    r.zadd("b", {"y": 10, "z": 20, "w": 30})
    return r


def test_zunion(ab):
    r = ab
    assert r.zunion(["a", "b"]) == ["x", "y", "z", "w"]
    assert r.zunion(["a", "b"], withscores=True) == [("x", 1), ("y", 12), ("z", 23), ("w", 30)]
    assert r.zunion({"a": 2, "b": 1}, aggregate="MIN", withscores=True) == [
        ("x", 2), ("y", 4), ("z", 6), ("w", 30)]
    assert r.zunion(["a", "b"], aggregate="MAX", withscores=True) == [("x", 1), ("y", 10), ("z", 20), ("w", 30)]
    assert r.zunion(["a", "nokey"]) == ["x", "y", "z"]
    assert r.zunion(["nokey"]) == []


def test_zinter_zdiff(ab):
    r = ab
    assert r.zinter(["a", "b"], withscores=True) == [("y", 12), ("z", 23)]
    assert r.zinter({"a": 1, "b": 0.5}, aggregate="min", withscores=True) == [("y", 2), ("z", 3)]
    assert r.zinter(["a", "nokey"]) == []
    assert scored(r.execute_command("ZDIFF", 2, "a", "b", "WITHSCORES")) == [("x", 1.0)]
    assert r.zdiff(["b", "a"]) == ["w"]
    assert r.zdiff(["a", "nokey"]) == ["x", "y", "z"]
    assert r.zdiff(["nokey", "a"]) == []


def test_store_forms(ab):
    r = ab
    assert r.zunionstore("dst", ["a", "b"]) == 4
    assert r.zrange("dst", 0, -1, withscores=True) == [("x", 1), ("y", 12), ("z", 23), ("w", 30)]
    assert r.zinterstore("dst", {"a": 1, "dst": 0.5}) == 3  # the destination may be an input
    assert r.zscore("dst", "z") == 14.5
    assert r.zdiffstore("dst", ["b", "a"]) == 1
    assert r.zrange("dst", 0, -1) == ["w"]
    assert r.zinterstore("dst", ["a", "nokey"]) == 0
    assert_gone(r, "dst")
    r.set("str", "v")
    assert r.zunionstore("str", ["a"]) == 3
    assert r.zcard("str") == 3
    with err("^syntax error$"):
        r.execute_command("ZUNIONSTORE", "dst", 1, "a", "WITHSCORES")


def test_zintercard(ab):
    r = ab
    assert r.zintercard(2, ["a", "b"]) == 2
    assert r.zintercard(2, ["a", "b"], limit=1) == 1
    assert r.zintercard(2, ["a", "b"], limit=0) == 2
    assert r.zintercard(2, ["a", "nokey"]) == 0
    with err("^LIMIT can't be negative$"):
        r.zintercard(2, ["a", "b"], limit=-1)
    with err("^at least 1 input key is needed for 'zintercard' command$"):
        r.execute_command("ZINTERCARD", 0, "a")
    with err("^syntax error$"):
        r.execute_command("ZINTERCARD", 1, "a", "WITHSCORES")


def test_set_algebra_errors(ab):
    r = ab
    cases = [
        (("ZUNION", 0, "a"), "^at least 1 input key is needed for 'zunion' command$"),
        (("ZINTER", -1, "a"), "^at least 1 input key is needed for 'zinter' command$"),
        (("ZDIFFSTORE", "d", 0, "a"), "^at least 1 input key is needed for 'zdiffstore' command$"),
        (("ZUNION", "x", "a"), "^value is not an integer or out of range$"),
        (("ZUNION", 3, "a", "b"), "^syntax error$"),
        (("ZUNION", 2, "a", "b", "WEIGHTS", 1), "^syntax error$"),
        (("ZUNION", 1, "a", "WEIGHTS", "x"), "^weight value is not a float$"),
        (("ZINTER", 1, "a", "AGGREGATE", "AVG"), "^syntax error$"),
        (("ZDIFF", 1, "a", "WEIGHTS", 1), "^syntax error$"),
        (("ZDIFF", 1, "a", "AGGREGATE", "SUM"), "^syntax error$"),
        (("ZUNION", 1, "a", "FOO"), "^syntax error$"),
        (("ZUNIONSTORE", "d", 1), "wrong number of arguments for 'zunionstore' command"),
    ]
    for args, match in cases:
        with err(match):
            r.execute_command(*args)
    r.set("str", "v")
    # Types are checked before the options.
    with err("^WRONGTYPE"):
        r.execute_command("ZUNION", 2, "a", "str", "WEIGHTS", "x")
    with err("^WRONGTYPE"):
        r.zintercard(2, ["str", "a"])


def test_infinities_in_set_algebra(r):
    r.zadd("inf", {"m": "inf"})
    r.zadd("ninf", {"m": "-inf"})
    assert r.zunion({"inf": 0}, withscores=True) == [("m", 0)]
    assert r.zunion(["inf", "ninf"], withscores=True) == [("m", 0)]
    assert r.zinter(["inf", "ninf"], withscores=True) == [("m", 0)]
    assert r.zinter(["inf", "ninf"], aggregate="MAX", withscores=True) == [("m", float("inf"))]


def test_plain_sets_as_inputs(ab):
    r = ab
    if not has_command(r, "SADD"):
        pytest.skip("SADD is not available in this build")
    r.sadd("plain", "y", "q")
    assert r.zunion(["plain"], withscores=True) == [("q", 1), ("y", 1)]
    assert r.zinter(["a", "b", "plain"], withscores=True) == [("y", 13)]
    assert r.zinter({"a": 1, "plain": 5}, withscores=True) == [("y", 7)]
    assert r.zdiff(["a", "plain"]) == ["x", "z"]
    assert r.zintercard(2, ["plain", "b"]) == 1
    assert r.zunionstore("dst", ["plain", "a"]) == 4


# ----- random members and pops ---------------------------------------------------------------------


def test_zrandmember(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zrandmember("z") in {"a", "b", "c"}
    assert r.zrandmember("nokey") is None
    assert r.zrandmember("nokey", 3) == []
    assert r.zrandmember("z", 0) == []
    assert sorted(r.zrandmember("z", 10)) == ["a", "b", "c"]
    two = r.zrandmember("z", 2)
    assert len(two) == 2 and len(set(two)) == 2
    many = r.zrandmember("z", -20)
    assert len(many) == 20 and set(many) <= {"a", "b", "c"}
    picked = scored(r.execute_command("ZRANDMEMBER", "z", -5, "WITHSCORES"))
    assert len(picked) == 5
    for m, s in picked:
        assert {"a": 1.0, "b": 2.0, "c": 3.0}[m] == s
    with err("^value is not an integer or out of range$"):
        r.zrandmember("z", "x")
    with err("^syntax error$"):
        r.execute_command("ZRANDMEMBER", "z", 1, "FOO")
    with err("^value is out of range"):
        r.execute_command("ZRANDMEMBER", "z", "-9223372036854775808")
    with err("^value is out of range$"):
        r.execute_command("ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES")


def test_zpopmin_zpopmax(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.zpopmin("z") == [("a", 1)]
    assert r.zpopmax("z", 2) == [("d", 4), ("c", 3)]
    assert r.zpopmin("z", 0) == []
    assert r.zpopmin("z", 10) == [("b", 2)]
    assert_gone(r, "z")
    assert r.zpopmin("z") == []
    assert r.zpopmax("z", 3) == []
    with err("^value is out of range, must be positive$"):
        r.zpopmin("z", -1)
    with err("^syntax error$"):
        r.execute_command("ZPOPMIN", "z", 1, 2)
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.zpopmax("str")


def test_zmpop(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    key, popped = r.execute_command("ZMPOP", 2, "nokey", "z", "MIN")
    assert (key, scored(popped)) == ("z", [("a", 1.0)])
    key, popped = r.execute_command("ZMPOP", 2, "nokey", "z", "MAX", "COUNT", 5)
    assert (key, scored(popped)) == ("z", [("c", 3.0), ("b", 2.0)])
    assert_gone(r, "z")
    assert r.execute_command("ZMPOP", 1, "z", "MIN") is None
    cases = [
        (("ZMPOP", 0, "z", "MIN"), "^numkeys should be greater than 0$"),
        (("ZMPOP", "x", "z", "MIN"), "^numkeys should be greater than 0$"),
        (("ZMPOP", 2, "z", "MIN"), "^syntax error$"),
        (("ZMPOP", 1, "z", "MIDDLE"), "^syntax error$"),
        (("ZMPOP", 1, "z", "MIN", "COUNT", 0), "^count should be greater than 0$"),
        (("ZMPOP", 1, "z", "MIN", "COUNT"), "^syntax error$"),
        (("ZMPOP", 1, "z", "MIN", "COUNT", 1, "COUNT", 1), "^syntax error$"),
    ]
    for args, match in cases:
        with err(match):
            r.execute_command(*args)
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.execute_command("ZMPOP", 1, "str", "MIN")


# ----- blocking ------------------------------------------------------------------------------------


def test_bzpopmin_serves_immediately_from_first_nonempty_key(r):
    r.zadd("b", {"m": 5, "n": 6})
    r.zadd("c", {"x": 1})
    assert r.bzpopmin(["a", "b", "c"], timeout=1) == ("b", "m", 5.0)
    assert r.bzpopmax(["a", "b", "c"], timeout=1) == ("b", "n", 6.0)
    assert r.bzpopmax(["a", "b", "c"], timeout=1) == ("c", "x", 1.0)
    assert_gone(r, "c")


def test_bzpopmin_times_out(r):
    start = time.time()
    assert r.bzpopmin(["nokey1", "nokey2"], timeout=0.3) is None
    elapsed = time.time() - start
    assert 0.25 <= elapsed < 3
    assert r.bzmpop(0.2, 1, ["nokey"], min=True) is None


def test_bzpopmin_woken_by_zadd_from_another_client(node, r):
    later = Later(node, 0.3, "ZADD", "q", 3, "c", 1, "a", 2, "b")
    start = time.time()
    assert r.bzpopmin(["other", "q"], timeout=5) == ("q", "a", 1.0)
    assert time.time() - start < 4
    assert later.join() == 3
    assert r.zrange("q", 0, -1) == ["b", "c"]


def test_bzpopmax_woken_by_zincrby_and_store(node, r):
    later = Later(node, 0.2, "ZINCRBY", "q", 7, "m")
    assert r.bzpopmax("q", timeout=5) == ("q", "m", 7.0)
    later.join()
    r.zadd("src", {"s": 4})
    later = Later(node, 0.2, "ZUNIONSTORE", "q2", 1, "src")
    assert r.bzpopmin("q2", timeout=5) == ("q2", "s", 4.0)
    later.join()
    later = Later(node, 0.2, "ZRANGESTORE", "q3", "src", 0, -1)
    assert r.bzpopmin("q3", timeout=5) == ("q3", "s", 4.0)
    later.join()


def test_blocked_clients_are_served_in_fifo_order(node, r):
    results = {}

    def waiter(name):
        c = node.client(decode_responses=True)
        results[name] = c.bzpopmin("fifo", timeout=5)
        c.close()

    first = threading.Thread(target=waiter, args=("first",))
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=waiter, args=("second",))
    second.start()
    time.sleep(0.2)
    assert r.zadd("fifo", {"a": 1}) == 1
    time.sleep(0.2)
    assert r.zadd("fifo", {"b": 2}) == 1
    first.join(10)
    second.join(10)
    assert results == {"first": ("fifo", "a", 1.0), "second": ("fifo", "b", 2.0)}


def test_one_zadd_serves_several_waiters(node, r):
    results = []

    def waiter():
        c = node.client(decode_responses=True)
        results.append(c.bzpopmin("many", timeout=5))
        c.close()

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    r.zadd("many", {"a": 1, "b": 2, "c": 3})
    for t in threads:
        t.join(10)
    assert sorted(results) == [("many", "a", 1.0), ("many", "b", 2.0)]
    assert r.zrange("many", 0, -1) == ["c"]


def test_bzmpop_woken(node, r):
    later = Later(node, 0.2, "ZADD", "k2", 1, "a", 2, "b", 3, "c")
    raw = r.execute_command("BZMPOP", 5, 2, "k1", "k2", "MAX", "COUNT", 2)
    later.join()
    assert raw[0] == "k2"
    assert [m for m, _ in raw[1]] == ["c", "b"]
    assert r.zrange("k2", 0, -1) == ["a"]


def test_blocking_errors(r):
    with err("^timeout is not a float or out of range$"):
        r.execute_command("BZPOPMIN", "k", "x")
    with err("^timeout is negative$"):
        r.execute_command("BZPOPMIN", "k", -1)
    with err("^timeout is not a float or out of range$"):
        r.execute_command("BZMPOP", "x", 1, "k", "MIN")
    with err("^numkeys should be greater than 0$"):
        r.execute_command("BZMPOP", 0, 0, "k", "MIN")
    with err("^syntax error$"):
        r.execute_command("BZMPOP", 0, 1, "k", "SIDEWAYS")
    with err("wrong number of arguments for 'bzpopmin' command"):
        r.execute_command("BZPOPMIN", "k")
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.bzpopmin(["str"], timeout=0.1)


def test_other_tenant_does_not_wake_waiter(node, r, other):
    threading.Timer(0.2, lambda: other.zadd("iso", {"x": 1})).start()
    assert r.bzpopmin("iso", timeout=0.6) is None
    assert other.zcard("iso") == 1


# ----- ZSCAN ------------------------------------------------------------------------------------------


def test_zscan(r):
    members = {f"m{i}": float(i) for i in range(200)}
    r.zadd("z", members)
    assert dict(r.zscan_iter("z", count=7)) == members
    matched = dict(r.zscan_iter("z", match="m1?", count=1000))
    assert matched == {f"m1{i}": float(10 + i) for i in range(10)}
    assert r.zscan("nokey") == (0, [])
    with err("^invalid cursor$"):
        r.execute_command("ZSCAN", "z", "x")
    with err("^syntax error$"):
        r.execute_command("ZSCAN", "z", 0, "COUNT", 0)
    with err("^syntax error$"):
        r.execute_command("ZSCAN", "z", 0, "FOO", 1)
    with err("^value is not an integer or out of range$"):
        r.execute_command("ZSCAN", "z", 0, "COUNT", "x")
    r.set("str", "v")
    with err("^WRONGTYPE"):
        r.zscan("str")


# ----- RESP3 --------------------------------------------------------------------------------------------


def test_resp3_replies(r3):
    r3.zadd("z", {"a": 1, "b": 2.5, "c": 3})
    assert r3.zscore("z", "b") == 2.5
    assert r3.zmscore("z", ["a", "x"]) == [1.0, None]
    assert r3.zincrby("z", 1, "a") == 2.0
    assert r3.zrange("z", 0, -1, withscores=True) == [["a", 2.0], ["b", 2.5], ["c", 3.0]]
    assert r3.zunion(["z"], withscores=True) == [["a", 2.0], ["b", 2.5], ["c", 3.0]]
    assert r3.zrandmember("z", -2, withscores=True)[0][0] in {"a", "b", "c"}
    assert r3.zpopmin("z") == ["a", 2.0]
    assert r3.zpopmax("z", 1) == [["c", 3.0]]
    assert r3.bzpopmin("z", timeout=1) == ["z", "b", 2.5]
    assert r3.bzpopmin("z", timeout=0.1) is None
    r3.zadd("z", {"a": 1})
    assert r3.zmpop(1, ["z"], min=True) == ["z", [["a", 1.0]]]
    assert r3.zmpop(1, ["z"], min=True) is None


def test_resp3_wire_format(node):
    s = node.raw()
    send(s, "HELLO", "3", "AUTH", "default", PASSWORD_A)
    assert recv_until(s, lambda d: b"proto" in d and d.endswith(b"\r\n"))
    s.settimeout(5)
    exchanges = [
        (("ZADD", "wire", "1", "a", "2.5", "b"), b":2\r\n"),
        (("ZSCORE", "wire", "b"), b",2.5\r\n"),
        (("ZSCORE", "wire", "x"), b"_\r\n"),
        (("ZRANGE", "wire", "0", "-1", "WITHSCORES"), b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"),
        (("ZRANGE", "wire", "0", "0"), b"*1\r\n$1\r\na\r\n"),
        (("ZPOPMIN", "wire"), b"*2\r\n$1\r\na\r\n,1\r\n"),
        (("ZSCAN", "wire", "0"), b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n"),
        (("BZPOPMIN", "wire", "0"), b"*3\r\n$4\r\nwire\r\n$1\r\nb\r\n,2.5\r\n"),
        (("BZPOPMIN", "wire", "0.05"), b"_\r\n"),
        (("ZMPOP", "1", "wire", "MIN"), b"_\r\n"),
        (("ZADD", "wire", "INCR", "NX", "1", "a"), b",1\r\n"),
        (("ZADD", "wire", "INCR", "NX", "1", "a"), b"_\r\n"),
        (("ZRANK", "wire", "nope", "WITHSCORE"), b"_\r\n"),
    ]
    for args, expected in exchanges:
        send(s, *args)
        got = recv_until(s, lambda d, e=expected: len(d) >= len(e))
        assert got == expected, (args, got)
    s.close()


def test_resp2_wire_format(node):
    s = node.raw()
    send(s, "AUTH", PASSWORD_A)
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
    exchanges = [
        (("ZADD", "wire2", "1", "a", "2.5", "b"), b":2\r\n"),
        (("ZSCORE", "wire2", "b"), b"$3\r\n2.5\r\n"),
        (("ZRANGE", "wire2", "0", "-1", "WITHSCORES"), b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"),
        (("ZMPOP", "1", "wire2", "MIN"), b"*2\r\n$5\r\nwire2\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (("BZPOPMIN", "nokey", "0.05"), b"*-1\r\n"),
        (("ZMPOP", "1", "nokey", "MIN"), b"*-1\r\n"),
        (("ZRANK", "wire2", "nope", "WITHSCORE"), b"*-1\r\n"),
        (("ZRANK", "wire2", "nope"), b"$-1\r\n"),
    ]
    for args, expected in exchanges:
        send(s, *args)
        got = recv_until(s, lambda d, e=expected: len(d) >= len(e))
        assert got == expected, (args, got)
    s.close()


def test_command_getkeys(r):
    try:
        r.command_getkeys("ZCARD", "k")
    except redis.ResponseError as e:
        pytest.skip(f"COMMAND GETKEYS is not available in this build: {e}")
    assert r.command_getkeys("ZUNIONSTORE", "d", 2, "a", "b", "WEIGHTS", 1, 2) == ["d", "a", "b"]
    assert r.command_getkeys("ZINTER", 2, "a", "b") == ["a", "b"]
    assert r.command_getkeys("ZINTERCARD", 1, "a", "LIMIT", 1) == ["a"]
    assert r.command_getkeys("ZMPOP", 2, "k1", "k2", "MIN") == ["k1", "k2"]
    assert r.command_getkeys("BZMPOP", 0, 2, "k1", "k2", "MIN") == ["k1", "k2"]
    assert r.command_getkeys("BZPOPMIN", "k1", "k2", 0) == ["k1", "k2"]
    assert r.command_getkeys("ZRANGESTORE", "d", "s", 0, -1) == ["d", "s"]
