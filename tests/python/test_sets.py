"""Set commands against a real tern node, with redis-py (RESP2 and RESP3)."""

import pytest
import redis

from conftest import PASSWORD_A, recv_until, resp_command

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def err(fn, *args):
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


def test_sadd_srem_scard(r):
    assert r.sadd("s", "a", "b", "a") == 2
    assert r.sadd("s", "a") == 0
    assert r.sadd("s", "c", "a") == 1
    assert r.scard("s") == 3
    assert r.scard("nokey") == 0
    assert r.srem("s", "zz") == 0
    assert r.srem("nokey", "a") == 0
    assert r.srem("s", "a", "b", "zz") == 2
    assert r.smembers("s") == {"c"}
    assert r.srem("s", "c") == 1
    assert r.exists("s") == 0


def test_binary_and_integer_members(rb):
    assert rb.sadd("s", b"\x00\xff", b"1", b"-2", b"01") == 4
    assert rb.smembers("s") == {b"\x00\xff", b"1", b"-2", b"01"}
    assert rb.sismember("s", b"01") == 1
    assert rb.sismember("s", b"2") == 0


def test_smembers_sismember_smismember(r):
    r.sadd("s", "a", "b")
    assert r.smembers("s") == {"a", "b"}
    assert r.smembers("nokey") == set()
    assert r.sismember("s", "a") == 1
    assert r.sismember("s", "z") == 0
    assert r.sismember("nokey", "a") == 0
    assert r.smismember("s", ["a", "z", "b"]) == [1, 0, 1]
    assert r.smismember("nokey", ["a"]) == [0]
    assert err(r.execute_command, "SMISMEMBER", "s") == "wrong number of arguments for 'smismember' command"


def test_spop(r):
    members = {f"m{i}" for i in range(10)}
    r.sadd("s", *members)
    one = r.spop("s")
    assert one in members
    assert r.sismember("s", one) == 0
    three = r.spop("s", 3)
    assert len(three) == 3 and set(three) <= members and one not in three
    assert r.scard("s") == 6
    assert r.spop("s", 0) == []
    rest = r.spop("s", 100)
    assert len(rest) == 6
    assert {one, *three, *rest} == members
    assert r.exists("s") == 0
    assert r.spop("s") is None
    assert r.spop("s", 2) == []


def test_spop_errors(r):
    r.sadd("s", "a")
    assert err(r.execute_command, "SPOP", "s", "-1") == "value is out of range, must be positive"
    assert err(r.execute_command, "SPOP", "s", "x") == "value is out of range, must be positive"
    assert err(r.execute_command, "SPOP", "s", "1", "2") == "syntax error"
    assert r.smembers("s") == {"a"}


def test_spop_last_member_deletes_key(r):
    r.sadd("s", "only")
    assert r.spop("s") == "only"
    assert r.exists("s") == 0


def test_srandmember(r):
    assert r.srandmember("nokey") is None
    assert r.srandmember("nokey", 3) == []
    members = {f"m{i}" for i in range(10)}
    r.sadd("s", *members)
    assert r.srandmember("s") in members
    some = r.srandmember("s", 4)
    assert len(some) == 4 and len(set(some)) == 4 and set(some) <= members
    assert sorted(r.srandmember("s", 10)) == sorted(members)
    assert sorted(r.srandmember("s", 50)) == sorted(members)
    many = r.srandmember("s", -40)
    assert len(many) == 40 and set(many) <= members
    assert r.srandmember("s", 0) == []
    assert r.scard("s") == 10
    r.sadd("one", "x")
    assert r.srandmember("one", -3) == ["x", "x", "x"]


def test_srandmember_errors(r):
    r.sadd("s", "a")
    assert err(r.execute_command, "SRANDMEMBER", "s", "x") == "value is not an integer or out of range"
    assert err(r.execute_command, "SRANDMEMBER", "s", "1", "2") == "syntax error"
    assert err(r.execute_command, "SRANDMEMBER", "s", str(-(2**63))).startswith(
        "value is out of range, value must between"
    )
    # Redis would try to build a reply of 2^63 elements; tern refuses instead.
    assert err(r.execute_command, "SRANDMEMBER", "s", str(-(2**63 - 1))).startswith("count is too large")


def test_smove(r):
    r.sadd("a", "x", "y")
    r.sadd("b", "z")
    assert r.smove("a", "b", "x") is True
    assert r.smembers("a") == {"y"} and r.smembers("b") == {"x", "z"}
    assert r.smove("a", "b", "nope") is False
    assert r.smove("nokey", "b", "x") is False
    assert r.smove("a", "a", "y") is True
    assert r.smove("a", "a", "nope") is False
    assert r.smove("a", "new", "y") is True
    assert r.exists("a") == 0
    assert r.smembers("new") == {"y"}
    r.set("str", "v")
    assert err(r.smove, "b", "str", "x") == WRONGTYPE
    assert err(r.smove, "str", "b", "x") == WRONGTYPE
    # A missing source answers 0 before the destination's type is looked at, as in Redis.
    assert r.smove("nokey", "str", "x") is False


def setup_abc(r):
    r.sadd("a", "1", "2", "3", "4")
    r.sadd("b", "2", "3", "5")
    r.sadd("c", "3", "2", "9")


def test_sinter(r):
    setup_abc(r)
    assert r.sinter("a", "b", "c") == {"2", "3"}
    assert r.sinter("a") == {"1", "2", "3", "4"}
    assert r.sinter("a", "nokey") == set()
    assert r.sinter("nokey") == set()


def test_sinterstore(r):
    setup_abc(r)
    r.set("dst", "a string")
    assert r.sinterstore("dst", ["a", "b"]) == 2
    assert r.smembers("dst") == {"2", "3"}
    assert r.sinterstore("dst", ["dst", "c", "a"]) == 2
    # An empty result deletes the destination.
    assert r.sinterstore("dst", ["a", "nokey"]) == 0
    assert r.exists("dst") == 0


def test_sintercard(r):
    setup_abc(r)
    assert r.sintercard(2, ["a", "b"]) == 2
    assert r.sintercard(3, ["a", "b", "c"]) == 2
    assert r.sintercard(2, ["a", "b"], limit=1) == 1
    assert r.sintercard(2, ["a", "b"], limit=0) == 2
    assert r.sintercard(2, ["a", "nokey"]) == 0
    assert r.sintercard(1, ["a"]) == 4


def test_sintercard_errors(r):
    r.sadd("a", "1")
    ex = r.execute_command
    assert err(ex, "SINTERCARD", "0", "a") == "numkeys should be greater than 0"
    assert err(ex, "SINTERCARD", "-1", "a") == "numkeys should be greater than 0"
    assert err(ex, "SINTERCARD", "x", "a") == "numkeys should be greater than 0"
    assert err(ex, "SINTERCARD", "3", "a") == "Number of keys can't be greater than number of args"
    assert err(ex, "SINTERCARD", "1", "a", "LIMIT", "-1") == "LIMIT can't be negative"
    assert err(ex, "SINTERCARD", "1", "a", "LIMIT", "x") == "LIMIT can't be negative"
    assert err(ex, "SINTERCARD", "1", "a", "LIMIT") == "syntax error"
    assert err(ex, "SINTERCARD", "1", "a", "FOO", "1") == "syntax error"
    assert err(ex, "SINTERCARD", "1") == "wrong number of arguments for 'sintercard' command"


def test_sunion_sunionstore(r):
    setup_abc(r)
    assert r.sunion("a", "b") == {"1", "2", "3", "4", "5"}
    assert r.sunion("nokey", "c") == {"2", "3", "9"}
    assert r.sunion("nokey") == set()
    assert r.sunionstore("dst", ["a", "b", "c"]) == 6
    assert r.smembers("dst") == {"1", "2", "3", "4", "5", "9"}
    assert r.sunionstore("dst", ["nokey"]) == 0
    assert r.exists("dst") == 0


def test_sdiff_sdiffstore(r):
    setup_abc(r)
    assert r.sdiff("a", "b") == {"1", "4"}
    assert r.sdiff("a", "b", "c") == {"1", "4"}
    assert r.sdiff("a", "nokey") == {"1", "2", "3", "4"}
    assert r.sdiff("nokey", "a") == set()
    assert r.sdiff("a", "a") == set()
    assert r.sdiffstore("dst", ["a", "b"]) == 2
    assert r.smembers("dst") == {"1", "4"}
    assert r.sdiffstore("a", ["a", "dst"]) == 2
    assert r.smembers("a") == {"2", "3"}
    assert r.sdiffstore("dst", ["b", "b"]) == 0
    assert r.exists("dst") == 0


def test_store_commands_replace_any_type(r):
    r.sadd("a", "1")
    r.set("dst", "x")
    assert r.sunionstore("dst", ["a"]) == 1
    assert r.smembers("dst") == {"1"}


@pytest.mark.parametrize(
    "cmd",
    [
        ("SADD", "str", "a"),
        ("SREM", "str", "a"),
        ("SMEMBERS", "str"),
        ("SISMEMBER", "str", "a"),
        ("SMISMEMBER", "str", "a"),
        ("SCARD", "str"),
        ("SPOP", "str"),
        ("SPOP", "str", "0"),
        ("SRANDMEMBER", "str"),
        ("SRANDMEMBER", "str", "2"),
        ("SINTER", "nokey", "str"),
        ("SINTERSTORE", "dst", "s", "str"),
        ("SINTERCARD", "2", "nokey", "str"),
        ("SUNION", "s", "str"),
        ("SUNIONSTORE", "dst", "s", "str"),
        ("SDIFF", "nokey", "str"),
        ("SDIFFSTORE", "dst", "s", "str"),
        ("SSCAN", "str", "0"),
    ],
)
def test_wrongtype(r, cmd):
    r.set("str", "x")
    r.sadd("s", "a")
    assert err(r.execute_command, *cmd) == WRONGTYPE
    assert r.get("str") == "x"
    assert r.exists("dst") == 0


def test_sscan(r):
    # A small set of integers (an intset in Redis) comes back whole in one call.
    r.sadd("small", "11", "12", "21")
    cursor, items = r.sscan("small", 0, count=1)
    assert cursor == 0 and sorted(items) == ["11", "12", "21"]
    assert sorted(r.sscan("small", 0, match="1*")[1]) == ["11", "12"]
    assert r.sscan("nokey", 0) == (0, [])
    members = {f"member:{i}" for i in range(2000)}
    r.sadd("big", *members)
    seen, cursor, calls = set(), 0, 0
    while True:
        cursor, items = r.sscan("big", cursor, count=100)
        seen.update(items)
        calls += 1
        if cursor == 0 or calls > 2000:
            break
    assert seen == members and calls > 10
    assert set(r.sscan_iter("big", match="member:19?")) == {f"member:19{i}" for i in range(10)}


def test_sscan_errors(r):
    r.sadd("s", "a")
    ex = r.execute_command
    assert err(ex, "SSCAN", "s", "x") == "invalid cursor"
    assert err(ex, "SSCAN", "s", "0", "COUNT", "0") == "syntax error"
    assert err(ex, "SSCAN", "s", "0", "NOVALUES") == "syntax error"
    assert err(ex, "SSCAN", "s", "0", "MATCH") == "syntax error"


def test_resp3_types(r3):
    r3.sadd("s", "a", "b")
    assert r3.smembers("s") == {"a", "b"}
    assert r3.sinter("s", "s") == {"a", "b"}
    assert sorted(r3.srandmember("s", 5)) == ["a", "b"]
    assert r3.smismember("s", ["a", "z"]) == [1, 0]


def test_resp3_raw_encoding(node):
    s = node.raw()
    s.sendall(resp_command("HELLO", "3", "AUTH", "default", PASSWORD_A))
    recv_until(s, lambda d: b"proto" in d and d.endswith(b"\r\n"))
    s.sendall(resp_command("DEL", "raws") + resp_command("SADD", "raws", "a"))
    recv_until(s, lambda d: d.count(b"\r\n") >= 2)
    s.sendall(resp_command("SMEMBERS", "raws"))
    assert recv_until(s, lambda d: d.endswith(b"$1\r\na\r\n")) == b"~1\r\n$1\r\na\r\n"
    s.sendall(resp_command("SMEMBERS", "nokey-raws"))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"~0\r\n"
    s.sendall(resp_command("SRANDMEMBER", "raws", "5"))
    assert recv_until(s, lambda d: d.endswith(b"$1\r\na\r\n")) == b"*1\r\n$1\r\na\r\n"
    s.sendall(resp_command("SPOP", "raws", "5"))
    assert recv_until(s, lambda d: d.endswith(b"$1\r\na\r\n")) == b"~1\r\n$1\r\na\r\n"
    s.sendall(resp_command("SPOP", "raws"))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"_\r\n"
    s.close()


def test_tenant_isolation(r, other):
    r.sadd("s", "a")
    assert other.smembers("s") == set()
    assert other.sadd("s", "b") == 1
    assert r.smembers("s") == {"a"}
