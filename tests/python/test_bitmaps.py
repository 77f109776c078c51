"""Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) driven by
redis-py against a real tern node, plus a randomized comparison with a real redis-server."""

import random

import pytest
import redis

OFFSET_ERR = "bit offset is not an integer or out of range"
TYPE_ERR = "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."


@pytest.fixture(scope="module")
def real(reference_redis_socket):
    """A client of a real redis-server (see conftest.reference_redis_socket)."""
    client = redis.Redis(unix_socket_path=reference_redis_socket)
    yield client
    client.close()


@pytest.fixture
def non_string(r):
    """The name of a key holding a value of another type than string, made with whatever type
    commands this tern build has (lists, hashes, sets and sorted sets are other families)."""
    for cmd in (("RPUSH", "other", "x"), ("HSET", "other", "f", "v"), ("SADD", "other", "m"), ("ZADD", "other", "1", "m")):
        try:
            r.execute_command(*cmd)
            return "other"
        except redis.ResponseError:
            continue
    pytest.skip("no non-string type in this build")


def err(fn, *args):
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


# ----- SETBIT / GETBIT ------------------------------------------------------------------------


def test_setbit_getbit(rb):
    assert rb.setbit("b", 7, 1) == 0
    assert rb.get("b") == b"\x01"
    assert rb.setbit("b", 7, 1) == 1
    assert rb.setbit("b", 7, 0) == 1
    assert rb.setbit("b", 1, 1) == 0
    assert rb.get("b") == b"\x40"
    assert rb.setbit("b", 23, 0) == 0
    assert rb.get("b") == b"\x40\x00\x00"
    assert rb.getbit("b", 1) == 1
    assert rb.getbit("b", 2) == 0
    assert rb.getbit("b", 1_000_000) == 0
    assert rb.getbit("missing", 0) == 0
    assert rb.exists("missing") == 0
    # The bit order is the big-endian one: "`" is 0x60.
    rb.set("s", "`")
    assert [rb.getbit("s", i) for i in range(8)] == [0, 1, 1, 0, 0, 0, 0, 0]
    # Largest offset is readable without allocating anything.
    assert rb.getbit("s", 2**32 - 1) == 0
    assert rb.strlen("s") == 1


def test_setbit_errors(r):
    for off in (-1, 2**32, "abc", "1.5", ""):
        assert err(r.setbit, "b", off, 1) == OFFSET_ERR
        assert err(r.getbit, "b", off) == OFFSET_ERR
    for val in (2, -1, "x", "1.0"):
        assert err(r.execute_command, "SETBIT", "b", 0, val) == "bit is not an integer or out of range"
    assert "wrong number of arguments for 'setbit'" in err(r.execute_command, "SETBIT", "b", 1)
    assert "wrong number of arguments for 'getbit'" in err(r.execute_command, "GETBIT", "b")
    assert r.exists("b") == 0


def test_wrongtype(r, non_string):
    other = non_string
    for args in (
        ("SETBIT", other, 0, 1),
        ("GETBIT", other, 0),
        ("BITCOUNT", other),
        ("BITCOUNT", other, 0, 1),
        ("BITPOS", other, 1),
        ("BITOP", "OR", "d", other),
        ("BITOP", "OR", "d", "missing", other),
        ("BITFIELD", other, "GET", "u8", 0),
        ("BITFIELD", other, "SET", "u8", 0, 1),
        ("BITFIELD_RO", other, "GET", "u8", 0),
    ):
        assert err(r.execute_command, *args).startswith("WRONGTYPE Operation against a key"), args
    assert r.exists("d") == 0
    # A destination of another type is simply replaced.
    r.set("a", "x")
    assert r.bitop("OR", other, "a") == 1
    assert r.get(other) == "x"


def test_setbit_keeps_ttl_and_grows_in_place(r):
    r.set("k", "a")
    r.expire("k", 100)
    assert r.setbit("k", 100, 1) == 0
    assert 0 < r.ttl("k") <= 100
    assert r.strlen("k") == 13
    assert r.get("k").startswith("a")


# ----- BITCOUNT ---------------------------------------------------------------------------


def test_bitcount(r):
    r.set("s", "foobar")
    assert r.bitcount("s") == 26
    assert r.bitcount("s", 0, 0) == 4
    assert r.bitcount("s", 1, 1) == 6
    assert r.bitcount("s", -2, -1) == 7
    assert r.bitcount("s", -1, -2) == 0
    assert r.bitcount("s", 3, 1) == 0
    assert r.bitcount("s", -100, 100) == 26
    assert r.bitcount("s", 1, 1, "BYTE") == 6
    assert r.bitcount("s", 5, 30, "BIT") == 17
    assert r.bitcount("s", 0, -1, "bit") == 26
    assert r.bitcount("s", -1, -1, "BIT") == 0
    assert r.bitcount("s", -3, -1, "BIT") == 1
    assert r.bitcount("missing") == 0
    assert r.bitcount("missing", 0, 10) == 0
    r.set("empty", "")
    assert r.bitcount("empty") == 0
    assert r.bitcount("empty", 0, -1) == 0


def test_bitcount_errors(r):
    r.set("s", "foobar")
    assert err(r.execute_command, "BITCOUNT", "s", 0) == "syntax error"
    assert err(r.execute_command, "BITCOUNT", "s", 0, 1, "BITS") == "syntax error"
    assert err(r.execute_command, "BITCOUNT", "s", 0, 1, "BIT", "x") == "syntax error"
    assert err(r.execute_command, "BITCOUNT", "s", "a", 1) == "value is not an integer or out of range"
    assert err(r.execute_command, "BITCOUNT", "s", 0, "1.5") == "value is not an integer or out of range"
    assert "wrong number of arguments for 'bitcount'" in err(r.execute_command, "BITCOUNT")


# ----- BITPOS -----------------------------------------------------------------------------


def test_bitpos(rb):
    rb.set("s", b"\xff\xf0\x00")
    assert rb.bitpos("s", 0) == 12
    assert rb.bitpos("s", 1) == 0
    assert rb.bitpos("s", 1, 2) == -1
    assert rb.bitpos("s", 1, 1) == 8
    assert rb.bitpos("s", 0, 2, -1) == 16
    assert rb.bitpos("s", 1, 7, 15, "BIT") == 7
    assert rb.bitpos("s", 0, 7, 15, "bit") == 12
    assert rb.bitpos("s", 1, 13, -1, "BIT") == -1
    assert rb.bitpos("s", 1, -1) == -1
    assert rb.bitpos("s", 1, 5, 2) == -1
    rb.set("ones", b"\xff\xff")
    # No end given: the string counts as padded with zeros on the right.
    assert rb.bitpos("ones", 0) == 16
    assert rb.bitpos("ones", 0, 1) == 16
    # An explicit end: no clear bit inside the range.
    assert rb.bitpos("ones", 0, 0, -1) == -1
    assert rb.bitpos("ones", 0, 0, -1, "BYTE") == -1
    assert rb.bitpos("ones", 0, 3, 12, "BIT") == -1
    assert rb.bitpos("missing", 0) == 0
    assert rb.bitpos("missing", 1) == -1
    rb.set("zeros", b"\x00\x00")
    assert rb.bitpos("zeros", 1) == -1
    assert rb.bitpos("zeros", 0, 1) == 8


def test_bitpos_errors(r):
    r.set("s", "x")
    assert err(r.execute_command, "BITPOS", "s", 2) == "The bit argument must be 1 or 0."
    assert err(r.execute_command, "BITPOS", "s", "x") == "value is not an integer or out of range"
    assert err(r.execute_command, "BITPOS", "s", 1, "a") == "value is not an integer or out of range"
    assert err(r.execute_command, "BITPOS", "s", 1, 0, "a") == "value is not an integer or out of range"
    assert err(r.execute_command, "BITPOS", "s", 1, 0, 1, "BITS") == "syntax error"
    assert err(r.execute_command, "BITPOS", "s", 1, 0, 1, "BIT", "x") == "syntax error"
    assert "wrong number of arguments for 'bitpos'" in err(r.execute_command, "BITPOS", "s")


# ----- BITOP ------------------------------------------------------------------------------


def test_bitop(rb):
    rb.set("a", b"\xff\x0f\xaa")
    rb.set("b", b"\x0f\xff")
    assert rb.bitop("AND", "d", "a", "b") == 3
    assert rb.get("d") == b"\x0f\x0f\x00"
    assert rb.bitop("OR", "d", "a", "b", "missing") == 3
    assert rb.get("d") == b"\xff\xff\xaa"
    assert rb.bitop("xor", "d", "a", "b") == 3
    assert rb.get("d") == b"\xf0\xf0\xaa"
    assert rb.bitop("NOT", "d", "a") == 3
    assert rb.get("d") == b"\x00\xf0\x55"
    assert rb.bitop("AND", "d", "b", "a") == 3
    assert rb.get("d") == b"\x0f\x0f\x00"
    assert rb.bitop("AND", "d", "a", "missing") == 3
    assert rb.get("d") == b"\x00\x00\x00"
    assert rb.bitop("OR", "a", "a", "b") == 3
    assert rb.get("a") == b"\xff\xff\xaa"
    # The destination is replaced, dropping its TTL.
    rb.expire("d", 100)
    rb.bitop("OR", "d", "b")
    assert rb.ttl("d") == -1
    # An empty result deletes the destination.
    assert rb.bitop("OR", "d", "m1", "m2") == 0
    assert rb.exists("d") == 0
    rb.set("empty", b"")
    assert rb.bitop("NOT", "d", "empty") == 0
    assert rb.exists("d") == 0


def test_bitop_errors(r):
    r.set("a", "x")
    assert err(r.execute_command, "BITOP", "NOT", "d", "a", "a") == "BITOP NOT must be called with a single source key."
    assert err(r.execute_command, "BITOP", "NAND", "d", "a") == "syntax error"
    assert "wrong number of arguments for 'bitop'" in err(r.execute_command, "BITOP", "AND", "d")


# ----- BITFIELD ---------------------------------------------------------------------------


def test_bitfield_basics(r):
    assert r.execute_command("BITFIELD", "f", "SET", "i8", 0, 100, "GET", "i8", 0) == [0, 100]
    assert r.execute_command("BITFIELD", "f", "INCRBY", "i8", 0, 100) == [-56]
    assert r.execute_command("BITFIELD", "f", "OVERFLOW", "SAT", "INCRBY", "i8", 0, -100) == [-128]
    assert r.execute_command("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "i8", 0, -1, "GET", "u8", 0) == [None, 128]
    assert r.execute_command("BITFIELD", "f", "SET", "u4", "#1", 15, "GET", "u4", 4) == [0, 15]
    assert r.execute_command("BITFIELD", "f", "GET", "u16", 0) == [0x8F00]
    assert r.execute_command("BITFIELD", "f", "OVERFLOW", "WRAP", "INCRBY", "u2", 102, 5, "GET", "u2", 102) == [1, 1]
    assert r.execute_command("BITFIELD", "f") == []
    assert r.execute_command("BITFIELD", "missing", "GET", "u8", 0, "GET", "i64", 100) == [0, 0]
    assert r.exists("missing") == 0
    assert r.execute_command("BITFIELD", "g", "SET", "i64", 0, -1, "GET", "u63", 0, "GET", "i64", 0) == [0, 2**63 - 1, -1]
    # Overflow modes apply to the following operations only.
    r.delete("o")
    reply = r.execute_command(
        "BITFIELD", "o", "INCRBY", "u2", 0, 5, "OVERFLOW", "SAT", "INCRBY", "u2", 2, 5,
        "OVERFLOW", "FAIL", "INCRBY", "u2", 4, 5, "INCRBY", "u2", 4, 3,
    )
    assert reply == [1, 3, None, 3]


def test_bitfield_with_redis_py_helper(r):
    bf = r.bitfield("h")
    assert bf.set("u8", 0, 255).get("u8", 0).incrby("u8", 0, 10, overflow="SAT").execute() == [0, 255, 255]
    assert r.bitfield_ro("h", "u8", 0, items=[("u4", 4)]) == [255, 15]


def test_bitfield_ro(r):
    r.execute_command("BITFIELD", "f", "SET", "u8", 0, 42)
    assert r.execute_command("BITFIELD_RO", "f", "GET", "u8", 0, "GET", "u4", "#1") == [42, 10]
    assert r.execute_command("BITFIELD_RO", "missing", "GET", "u8", 0) == [0]
    assert (
        err(r.execute_command, "BITFIELD_RO", "f", "GET", "u8", 0, "SET", "u8", 0, 1)
        == "BITFIELD_RO only supports the GET subcommand"
    )
    assert err(r.execute_command, "BITFIELD_RO", "f", "INCRBY", "u8", 0, 1) == "BITFIELD_RO only supports the GET subcommand"
    assert "wrong number of arguments for 'bitfield_ro'" in err(r.execute_command, "BITFIELD_RO")
    assert r.execute_command("BITFIELD_RO", "f", "GET", "u8", 0) == [42]


def test_bitfield_errors(r):
    for t in ("u64", "i65", "x8", "i0", "u", "i-1", "8"):
        assert err(r.execute_command, "BITFIELD", "f", "GET", t, 0) == TYPE_ERR, t
    for off in ("-1", "#", "#-1", "x", str(2**32), "#536870912"):
        assert err(r.execute_command, "BITFIELD", "f", "GET", "u8", off) == OFFSET_ERR, off
    assert err(r.execute_command, "BITFIELD", "f", "GET", "u8") == "syntax error"
    assert err(r.execute_command, "BITFIELD", "f", "SET", "u8", 0) == "syntax error"
    assert err(r.execute_command, "BITFIELD", "f", "NOPE", "u8", 0) == "syntax error"
    assert err(r.execute_command, "BITFIELD", "f", "OVERFLOW") == "syntax error"
    assert err(r.execute_command, "BITFIELD", "f", "OVERFLOW", "MAYBE") == "Invalid OVERFLOW type specified"
    assert err(r.execute_command, "BITFIELD", "f", "SET", "u8", 0, "x") == "value is not an integer or out of range"
    assert err(r.execute_command, "BITFIELD", "f", "INCRBY", "u8", 0, "1.5") == "value is not an integer or out of range"
    # A write reaching past the 512 MB limit is refused.
    assert err(r.execute_command, "BITFIELD", "f", "SET", "u8", 2**32 - 1, 1) == OFFSET_ERR
    # An error in a later operation means none runs.
    assert err(r.execute_command, "BITFIELD", "f", "SET", "u8", 0, 1, "GET", "u99", 0) == TYPE_ERR
    assert r.exists("f") == 0
    assert "wrong number of arguments for 'bitfield'" in err(r.execute_command, "BITFIELD")


def test_bitfield_fail_still_grows_string(rb):
    assert rb.execute_command("BITFIELD", "g", "OVERFLOW", "FAIL", "SET", "u2", 20, 9) == [None]
    assert rb.get("g") == b"\x00\x00\x00"


def test_bitfield_resp3_null(r3):
    assert r3.execute_command("BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u1", 0, 2) == [None]
    assert r3.execute_command("BITFIELD", "f", "GET", "i1", 0) == [0]


def test_bit_commands_in_transaction(r):
    p = r.pipeline(transaction=True)
    p.setbit("t", 3, 1).getbit("t", 3).bitcount("t").bitpos("t", 1)
    p.execute_command("BITFIELD", "t", "INCRBY", "u4", 0, 1)
    assert p.execute() == [0, 1, 1, 3, [2]]


# ----- Against a real redis-server ----------------------------------------------------------


def _reply(client, args):
    try:
        return client.execute_command(*args)
    except redis.ResponseError as e:
        return ("error", str(e))


def _random_command(rng, keys):
    key = rng.choice(keys)
    kind = rng.randrange(7)

    def small_index():
        return rng.randint(-40, 40)

    if kind == 0:
        return ["SETBIT", key, rng.randint(0, 120), rng.randint(0, 1)]
    if kind == 1:
        return ["GETBIT", key, rng.randint(0, 130)]
    if kind == 2:
        cmd = ["BITCOUNT", key]
        if rng.random() < 0.8:
            cmd += [small_index(), small_index()]
            if rng.random() < 0.6:
                cmd.append(rng.choice(["BIT", "BYTE", "bit"]))
        return cmd
    if kind == 3:
        cmd = ["BITPOS", key, rng.randint(0, 1)]
        n = rng.randint(0, 3)
        if n >= 1:
            cmd.append(small_index())
        if n >= 2:
            cmd.append(small_index())
        if n >= 3:
            cmd.append(rng.choice(["BIT", "BYTE"]))
        return cmd
    if kind == 4:
        op = rng.choice(["AND", "OR", "XOR", "NOT"])
        srcs = [rng.choice(keys)] if op == "NOT" else rng.sample(keys, rng.randint(1, 3))
        return ["BITOP", op, rng.choice(keys), *srcs]
    # BITFIELD with random types, offsets, values and overflow modes.
    cmd = ["BITFIELD" if kind == 5 else "BITFIELD_RO", key]
    for _ in range(rng.randint(1, 4)):
        signed = rng.random() < 0.5
        bits = rng.randint(1, 64 if signed else 63)
        typ = ("i" if signed else "u") + str(bits)
        offset = f"#{rng.randint(0, 3)}" if rng.random() < 0.2 else str(rng.randint(0, 100))
        choice = rng.random()
        if kind == 6 or choice < 0.3:
            cmd += ["GET", typ, offset]
        else:
            if rng.random() < 0.3:
                cmd += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"])]
            limit = 2 ** min(bits + 1, 63)
            value = rng.choice(
                [rng.randint(-limit, limit - 1), rng.randint(-5, 5), -(2**63), 2**63 - 1, 2 ** (bits - 1), -(2 ** (bits - 1)) - 1]
            )
            cmd += [rng.choice(["SET", "INCRBY"]), typ, offset, value]
    return cmd


def test_random_commands_match_real_redis(rb, real):
    """Runs the same random bit commands on tern and on redis-server; every reply and the
    final values must be identical."""
    real.flushall()
    rng = random.Random(20240607)
    keys = ["k1", "k2", "k3"]
    seed_values = [b"foobar", b"\xff\x00\xf0\x0f", b"\x80"]
    for k, v in zip(keys, seed_values):
        rb.set(k, v)
        real.set(k, v)
    for i in range(3000):
        cmd = _random_command(rng, keys)
        mine, theirs = _reply(rb, cmd), _reply(real, cmd)
        assert mine == theirs, f"command #{i} {cmd}: tern {mine!r} redis {theirs!r}"
    for k in keys:
        assert rb.get(k) == real.get(k), k


def test_bitfield_edge_values_match_real_redis(rb, real):
    real.flushall()
    cases = [
        ["BITFIELD", "e", "SET", "i8", 0, -(2**63)],
        ["BITFIELD", "e", "OVERFLOW", "SAT", "SET", "i8", 0, -(2**63)],
        ["BITFIELD", "e", "OVERFLOW", "SAT", "SET", "u8", 0, -1],
        ["BITFIELD", "e", "OVERFLOW", "FAIL", "SET", "u8", 0, -1],
        ["BITFIELD", "e", "OVERFLOW", "SAT", "SET", "i64", 0, 2**63 - 1, "INCRBY", "i64", 0, 1],
        ["BITFIELD", "e", "OVERFLOW", "WRAP", "INCRBY", "i64", 0, 2**63 - 1],
        ["BITFIELD", "e", "OVERFLOW", "SAT", "INCRBY", "u63", 0, -(2**63)],
        ["BITFIELD", "e", "SET", "u63", 1, -1, "INCRBY", "u63", 1, 2**63 - 1],
        ["BITFIELD", "e", "OVERFLOW", "SAT", "INCRBY", "i1", 7, 1, "INCRBY", "i1", 7, -5],
        ["BITFIELD", "e", "SET", "i3", "#5", 3, "INCRBY", "i3", "#5", 1, "GET", "u3", 15],
        ["BITPOS", "e", 0, 0, -1, "BIT"],
        ["BITCOUNT", "e", 0, -1, "BIT"],
    ]
    for cmd in cases:
        assert _reply(rb, cmd) == _reply(real, cmd), cmd
    assert rb.get("e") == real.get("e")
