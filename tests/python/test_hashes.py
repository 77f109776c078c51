"""Hash commands against a real tern node, with redis-py (RESP2 and RESP3)."""

import pytest
import redis

from conftest import recv_until, resp_command

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def err(fn, *args):
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


def test_hset_hget_hmset(r):
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hset("h", mapping={"a": "3", "c": "4"}) == 1
    assert r.hget("h", "a") == "3"
    assert r.hget("h", "nope") is None
    assert r.hget("nokey", "a") is None
    assert r.execute_command("HMSET", "h", "d", "5", "e", "6") is True
    assert r.hlen("h") == 5
    assert r.hlen("nokey") == 0


def test_hset_arity_errors(r):
    assert err(r.execute_command, "HSET", "h", "a", "1", "b") == "wrong number of arguments for 'hset' command"
    assert err(r.execute_command, "HSET", "h", "a") == "wrong number of arguments for 'hset' command"
    assert err(r.execute_command, "HMSET", "h", "a", "1", "b") == "wrong number of arguments for 'hmset' command"
    assert err(r.execute_command, "HGET", "h") == "wrong number of arguments for 'hget' command"
    assert err(r.execute_command, "HLEN") == "wrong number of arguments for 'hlen' command"
    assert r.exists("h") == 0


def test_binary_fields_and_values(rb):
    field, value = b"f\x00\xff\r\n", b"v\x00\x01" * 100
    assert rb.hset("h", field, value) == 1
    assert rb.hget("h", field) == value
    assert rb.hstrlen("h", field) == 300
    assert rb.hgetall("h") == {field: value}


def test_hsetnx(r):
    assert r.hsetnx("h", "a", "1") == 1
    assert r.hsetnx("h", "a", "2") == 0
    assert r.hget("h", "a") == "1"


def test_hmget(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hmget("h", ["a", "x", "b"]) == ["1", None, "2"]
    assert r.hmget("nokey", ["a", "b"]) == [None, None]


def test_hgetall_hkeys_hvals(r):
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert r.hgetall("h") == {"a": "1", "b": "2", "c": "3"}
    assert sorted(r.hkeys("h")) == ["a", "b", "c"]
    assert sorted(r.hvals("h")) == ["1", "2", "3"]
    # Keys and values come in the same order.
    assert dict(zip(r.hkeys("h"), r.hvals("h"))) == r.hgetall("h")
    assert r.hgetall("nokey") == {}
    assert r.hkeys("nokey") == []
    assert r.hvals("nokey") == []


def test_hdel_deletes_emptied_key(r):
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert r.hdel("h", "a", "zz") == 1
    assert r.hdel("h", "zz") == 0
    assert r.hdel("nokey", "a") == 0
    assert r.hdel("h", "b", "c", "b") == 2
    assert r.exists("h") == 0


def test_hstrlen_hexists(r):
    r.hset("h", mapping={"a": "hello", "n": "12345"})
    assert r.hstrlen("h", "a") == 5
    assert r.hstrlen("h", "n") == 5
    assert r.hstrlen("h", "x") == 0
    assert r.hstrlen("nokey", "x") == 0
    assert r.hexists("h", "a") is True
    assert r.hexists("h", "x") is False
    assert r.hexists("nokey", "x") is False


def test_hincrby(r):
    assert r.hincrby("h", "n", 5) == 5
    assert r.hincrby("h", "n", -12) == -7
    assert r.hget("h", "n") == "-7"
    r.hset("h", mapping={"s": "abc", "sp": " 1", "max": str(2**63 - 1), "min": str(-(2**63))})
    assert err(r.hincrby, "h", "s", 1) == "hash value is not an integer"
    assert err(r.hincrby, "h", "sp", 1) == "hash value is not an integer"
    assert err(r.hincrby, "h", "n", "x") == "value is not an integer or out of range"
    assert err(r.hincrby, "h", "n", "1.5") == "value is not an integer or out of range"
    assert err(r.hincrby, "h", "max", 1) == "increment or decrement would overflow"
    assert err(r.hincrby, "h", "min", -1) == "increment or decrement would overflow"
    assert r.hget("h", "max") == str(2**63 - 1)
    # The increment is checked before the key's type.
    r.set("str", "x")
    assert err(r.hincrby, "str", "f", "x") == "value is not an integer or out of range"
    assert err(r.hincrby, "str", "f", 1) == WRONGTYPE


def test_hincrbyfloat(r):
    def incr(field, by):
        # redis-py turns the reply into a Python float: check the stored text instead.
        r.execute_command("HINCRBYFLOAT", "h", field, by)
        return r.hget("h", field)

    assert incr("f", "10.5") == "10.5"
    assert incr("f", "0.1") == "10.6"
    assert incr("g", "0.1") == "0.1"
    assert incr("g", "0.2") == "0.3"
    assert incr("e", "3.0e3") == "3000"
    assert incr("x", "0x10") == "16"
    assert incr("z", "-5") == "-5"
    assert incr("z", "5") == "0"
    assert incr("tiny", "-1e-20") == "0"
    assert incr("big", "1e20") == "100000000000000000000"
    # Redis computes in x87 long double and prints 17 decimals: these digits are Redis's.
    r.hset("h", "b", "10000000000")
    assert incr("b", "0.1") == "10000000000.09999999962747097"
    assert incr("f", "5e3") == "5010.60000000000000009"
    r.hset("h", "i", "17179869184")
    assert incr("i", "1.5") == "17179869185.5"


def test_hincrbyfloat_errors(r):
    def incr(field, by):
        return r.execute_command("HINCRBYFLOAT", "h", field, by)

    r.hset("h", mapping={"s": "abc", "inf": "inf", "n": "1"})
    assert err(incr, "n", "x") == "value is not a valid float"
    assert err(incr, "n", " 1") == "value is not a valid float"
    assert err(incr, "n", "1.5e") == "value is not a valid float"
    assert err(incr, "n", "nan") == "value is not a valid float"
    assert err(incr, "n", "1e5000") == "value is not a valid float"
    assert err(incr, "n", "inf") == "value is NaN or Infinity"
    assert err(incr, "n", "-infinity") == "value is NaN or Infinity"
    assert err(incr, "s", "1") == "hash value is not a float"
    assert err(incr, "inf", "1") == "increment would produce NaN or Infinity"
    r.hset("h", "huge", "1e4932")
    assert err(incr, "huge", "1e4932") == "increment would produce NaN or Infinity"
    assert r.hget("h", "n") == "1"
    assert r.hget("h", "huge") == "1e4932"
    r.set("str", "x")
    assert err(r.execute_command, "HINCRBYFLOAT", "str", "f", "1") == WRONGTYPE


def test_hrandfield(r):
    assert r.hrandfield("nokey") is None
    assert r.hrandfield("nokey", 3) == []
    assert r.hrandfield("nokey", 3, withvalues=True) == []
    fields = {f"f{i}": str(i) for i in range(10)}
    r.hset("h", mapping=fields)
    assert r.hrandfield("h") in fields
    # Positive counts give distinct fields; at least the whole hash gives the whole hash.
    some = r.hrandfield("h", 4)
    assert len(some) == 4 and len(set(some)) == 4 and set(some) <= set(fields)
    assert sorted(r.hrandfield("h", 100)) == sorted(fields)
    assert sorted(r.hrandfield("h", 10)) == sorted(fields)
    # Negative counts may repeat and give exactly |count| fields.
    many = r.hrandfield("h", -50)
    assert len(many) == 50 and set(many) <= set(fields)
    pairs = r.hrandfield("h", -30, withvalues=True)
    assert len(pairs) == 60
    for f, v in zip(pairs[::2], pairs[1::2]):
        assert fields[f] == v
    pairs = r.hrandfield("h", 3, withvalues=True)
    assert len(pairs) == 6 and len(set(pairs[::2])) == 3
    assert r.hrandfield("h", 0) == []
    assert r.hrandfield("h", 0, withvalues=True) == []


def test_hrandfield_single_field_hash(r):
    r.hset("h", "only", "v")
    assert r.hrandfield("h", -5) == ["only"] * 5
    assert r.hrandfield("h", 5, withvalues=True) == ["only", "v"]


def test_hrandfield_errors(r):
    r.hset("h", "a", "1")
    assert err(r.execute_command, "HRANDFIELD", "h", "x") == "value is not an integer or out of range"
    assert err(r.execute_command, "HRANDFIELD", "nokey", "x") == "value is not an integer or out of range"
    assert err(r.execute_command, "HRANDFIELD", "h", "1", "WITHVALUE") == "syntax error"
    assert err(r.execute_command, "HRANDFIELD", "h", "1", "WITHVALUES", "x") == "syntax error"
    assert err(r.execute_command, "HRANDFIELD", "h", str(-(2**63))).startswith("value is out of range, value must between")
    assert err(r.execute_command, "HRANDFIELD", "h", str(-(2**62)), "WITHVALUES") == "value is out of range"


def test_hrandfield_resp3(r3):
    r3.hset("h", mapping={"a": "1", "b": "2"})
    pairs = r3.execute_command("HRANDFIELD", "h", "5", "WITHVALUES")
    assert sorted(map(tuple, pairs)) == [("a", "1"), ("b", "2")]
    assert r3.execute_command("HRANDFIELD", "h", "-3", "WITHVALUES")[0] in (["a", "1"], ["b", "2"])
    assert sorted(r3.execute_command("HRANDFIELD", "h", "5")) == ["a", "b"]


def test_hgetall_resp3_is_a_map(r3):
    r3.hset("h", mapping={"a": "1", "b": "2"})
    assert r3.hgetall("h") == {"a": "1", "b": "2"}
    assert r3.hgetall("nokey") == {}
    assert r3.hmget("h", ["a", "zz"]) == ["1", None]


def test_resp3_raw_encoding(node):
    s = node.raw()
    from conftest import PASSWORD_A

    s.sendall(resp_command("HELLO", "3", "AUTH", "default", PASSWORD_A))
    recv_until(s, lambda d: b"proto" in d and d.endswith(b"\r\n"))
    s.sendall(resp_command("DEL", "rawh") + resp_command("HSET", "rawh", "a", "1"))
    recv_until(s, lambda d: d.count(b"\r\n") >= 2)
    s.sendall(resp_command("HGETALL", "rawh"))
    assert recv_until(s, lambda d: d.endswith(b"$1\r\n1\r\n")) == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    s.sendall(resp_command("HRANDFIELD", "rawh", "1", "WITHVALUES"))
    assert recv_until(s, lambda d: d.endswith(b"$1\r\n1\r\n")) == b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    s.sendall(resp_command("HINCRBYFLOAT", "rawh", "a", "0.5"))
    assert recv_until(s, lambda d: d.endswith(b"1.5\r\n")) == b"$3\r\n1.5\r\n"
    s.sendall(resp_command("HGET", "rawh", "zz"))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"_\r\n"
    s.sendall(resp_command("DEL", "rawh"))
    recv_until(s, lambda d: d.endswith(b"\r\n"))
    s.close()


def test_hscan_small_hash_in_one_call(r):
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    cursor, items = r.hscan("h", 0, count=1)
    assert cursor == 0 and items == {"a": "1", "b": "2", "c": "3"}
    assert r.hscan("h", 0, match="b*") == (0, {"b": "2"})
    assert r.hscan("nokey", 0) == (0, {})
    cursor, fields = r.hscan("h", 0, no_values=True)
    assert cursor == 0 and sorted(fields) == ["a", "b", "c"]


def test_hscan_large_hash_iterates(r):
    fields = {f"field:{i}": str(i) for i in range(1000)}
    r.hset("big", mapping=fields)
    seen = {}
    cursor, calls = 0, 0
    while True:
        cursor, items = r.hscan("big", cursor, count=100)
        seen.update(items)
        calls += 1
        if cursor == 0:
            break
        assert calls < 1000
    assert seen == fields
    assert calls > 5
    matched = dict(r.hscan_iter("big", match="field:99*"))
    assert matched == {k: v for k, v in fields.items() if k.startswith("field:99")}
    keys_only = list(r.hscan_iter("big", match="field:1?", no_values=True))
    assert sorted(keys_only) == [f"field:1{i}" for i in range(10)]


def test_hscan_errors(r):
    r.hset("h", "a", "1")
    r.set("str", "x")
    assert err(r.execute_command, "HSCAN", "h", "abc") == "invalid cursor"
    assert err(r.execute_command, "HSCAN", "nokey", "abc") == "invalid cursor"
    assert err(r.execute_command, "HSCAN", "h", "18446744073709551616") == "invalid cursor"
    assert err(r.execute_command, "HSCAN", "h", "0", "COUNT", "0") == "syntax error"
    assert err(r.execute_command, "HSCAN", "h", "0", "COUNT", "x") == "value is not an integer or out of range"
    assert err(r.execute_command, "HSCAN", "h", "0", "MATCH") == "syntax error"
    assert err(r.execute_command, "HSCAN", "h", "0", "FOO", "bar") == "syntax error"
    assert err(r.execute_command, "HSCAN", "str", "0") == WRONGTYPE
    # Options are not examined for a missing key, as in Redis.
    assert r.execute_command("HSCAN", "nokey", "0", "FOO") == (0, {})


@pytest.mark.parametrize(
    "cmd",
    [
        ("HSET", "str", "a", "1"),
        ("HSETNX", "str", "a", "1"),
        ("HMSET", "str", "a", "1"),
        ("HGET", "str", "a"),
        ("HMGET", "str", "a"),
        ("HGETALL", "str"),
        ("HDEL", "str", "a"),
        ("HLEN", "str"),
        ("HSTRLEN", "str", "a"),
        ("HEXISTS", "str", "a"),
        ("HKEYS", "str"),
        ("HVALS", "str"),
        ("HINCRBY", "str", "a", "1"),
        ("HINCRBYFLOAT", "str", "a", "1"),
        ("HRANDFIELD", "str"),
        ("HRANDFIELD", "str", "2"),
        ("HSCAN", "str", "0"),
    ],
)
def test_wrongtype(r, cmd):
    r.set("str", "x")
    assert err(r.execute_command, *cmd) == WRONGTYPE
    assert r.get("str") == "x"


def test_pipeline_and_tenant_isolation(r, other):
    with r.pipeline(transaction=False) as p:
        p.hset("h", "a", "1")
        p.hincrby("h", "a", 2)
        p.hgetall("h")
        assert p.execute() == [1, 3, {"a": "3"}]
    assert other.hgetall("h") == {}
