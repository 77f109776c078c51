"""HyperLogLog commands (PFADD, PFCOUNT, PFMERGE) driven by redis-py against a real tern node,
with counts and raw values compared against a real redis-server."""


import pytest
import redis

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."
CORRUPT = "INVALIDOBJ Corrupted HLL object detected"
DENSE_LEN = 16 + 16384 * 6 // 8


@pytest.fixture(scope="module")
def real(reference_redis_socket):
    """A client of a real redis-server (see conftest.reference_redis_socket)."""
    client = redis.Redis(unix_socket_path=reference_redis_socket)
    yield client
    client.close()


@pytest.fixture
def redis_sparse(real):
    """The real server, emptied, with its default sparse encoding for small HyperLogLogs."""
    real.flushall()
    real.config_set("hll-sparse-max-bytes", 3000)
    return real


def err(fn, *args):
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


def add_many(client, key, elements, batch=2000):
    p = client.pipeline(transaction=False)
    for i in range(0, len(elements), batch):
        p.pfadd(key, *elements[i : i + batch])
    return p.execute()


# ----- tern on its own -----------------------------------------------------------------------


def test_pfadd_pfcount(r):
    assert r.pfadd("h", "a", "b", "c") == 1
    assert r.pfadd("h", "a", "b") == 0
    assert r.pfcount("h") == 3
    assert r.pfadd("h", "d") == 1
    assert r.pfcount("h") == 4
    assert r.pfcount("missing") == 0
    assert r.type("h") == "string"
    assert r.getrange("h", 0, 4) == "HYLL\x01"  # small values are sparse, as in Redis
    # Creating a key without elements counts as a change.
    assert r.pfadd("empty") == 1
    assert r.pfadd("empty") == 0
    assert r.pfcount("empty") == 0
    assert r.exists("empty") == 1


def test_cached_cardinality(rb):
    rb.pfadd("h", "a", "b", "c")
    assert rb.getrange("h", 15, 15) == b"\x80"  # stale after a write
    assert rb.pfcount("h") == 3
    assert rb.getrange("h", 8, 15) == (3).to_bytes(8, "little")
    rb.pfadd("h", "a", "b", "c")
    assert rb.getrange("h", 15, 15) == b"\x00"  # nothing changed: cache kept
    rb.pfadd("h", "1", "2", "3")
    assert rb.getrange("h", 15, 15) == b"\x80"
    assert rb.pfcount("h") == 6
    # The cache is trusted, as in Redis.
    rb.setrange("h", 8, (1234).to_bytes(8, "little"))
    assert rb.pfcount("h") == 1234


def test_accuracy_100k(r):
    n = 100_000
    add_many(r, "big", [f"element:{i}" for i in range(n)])
    count = r.pfcount("big")
    assert abs(count - n) / n < 0.02, count
    add_many(r, "big2", [f"element:{i}" for i in range(n // 2, n + n // 2)])
    union = r.pfcount("big", "big2")
    assert abs(union - 1.5 * n) / (1.5 * n) < 0.02, union
    assert r.pfmerge("merged", "big", "big2")
    assert r.pfcount("merged") == union


def test_pfcount_multiple_keys_does_not_modify(rb):
    rb.pfadd("a", "1", "2", "3")
    rb.pfadd("b", "3", "4")
    before = rb.get("a"), rb.get("b")
    assert rb.pfcount("a", "b", "missing") == 4
    assert (rb.get("a"), rb.get("b")) == before
    assert rb.pfcount("missing", "missing2") == 0
    assert rb.exists("missing") == 0


def test_pfmerge(r):
    r.pfadd("a", "1", "2", "3")
    r.pfadd("b", "3", "4", "5")
    r.pfadd("d", "9")
    assert r.pfmerge("d", "a", "b")
    assert r.pfcount("d") == 6  # the destination is also a source
    assert r.pfmerge("new", "missing")
    assert r.pfcount("new") == 0
    assert r.strlen("new") == 18  # header and one XZERO run
    assert r.execute_command("PFMERGE", "alone") is True
    assert r.exists("alone") == 1


def test_ttl_is_kept(r):
    r.pfadd("h", "a")
    r.expire("h", 100)
    r.pfadd("h", "b", "c")
    r.pfadd("s", "x")
    r.pfmerge("h", "s")
    r.pfcount("h")
    assert 0 < r.ttl("h") <= 100


def test_invalid_values(rb):
    rb.set("s", "hello")
    rb.set("short", "HYLL\x00")
    rb.set("badlen", b"HYLL" + b"\x00" * (DENSE_LEN - 5))
    rb.set("badenc", b"HYLL\x02" + b"\x00" * 11)
    rb.set("int", 12345)
    for key in ("s", "short", "badlen", "badenc", "int"):
        assert err(rb.pfadd, key, "a") == NOT_HLL, key
        assert err(rb.pfadd, key) == NOT_HLL, key
        assert err(rb.pfcount, key) == NOT_HLL, key
        assert err(rb.pfcount, "missing", key) == NOT_HLL, key
        assert err(rb.pfmerge, "dest", key) == NOT_HLL, key
        assert err(rb.pfmerge, key, "missing") == NOT_HLL, key
    assert rb.exists("dest") == 0
    assert rb.get("s") == b"hello"


def test_corrupt_sparse_values(rb):
    header = b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80"
    # Too few registers, too many, a run past the end, a truncated XZERO.
    for ops in (b"\x3f", b"\x7f\xff\x00", b"\x7f\xfe\x83", b"\x7f"):
        rb.set("bad", header + ops)
        assert err(rb.pfcount, "bad") == CORRUPT, ops
        assert err(rb.pfcount, "bad", "missing") == CORRUPT, ops
        assert err(rb.pfmerge, "dest", "bad") == CORRUPT, ops
    assert rb.exists("dest") == 0


def test_pfadd_on_corrupt_values_like_redis(rb, redis_sparse):
    """PFADD notices a corrupt sparse value only where its edit walks, exactly as Redis does."""
    header = b"HYLL\x01\x00\x00\x00" + b"\x00" * 7 + b"\x80"
    for ops in (b"\x3f", b"\x7f\xff\x00", b"\x7f\xfe\x83"):
        for element in ("x", "e0", "e1", "foo"):
            replies = []
            for client in (rb, redis_sparse):
                client.set("bad", header + ops)
                try:
                    replies.append(client.pfadd("bad", element))
                except redis.ResponseError as e:
                    replies.append(str(e))
                replies.append(client.get("bad"))
            assert replies[:2] == replies[2:], (ops, element)
    # A truncated XZERO opcode at the very end is refused; Redis reads the string's hidden
    # terminator as its second byte instead.
    rb.set("bad", header + b"\x7f")
    assert err(rb.pfadd, "bad", "e0") == CORRUPT


def test_wrongtype(r):
    for cmd in (("RPUSH", "other", "x"), ("HSET", "other", "f", "v"), ("SADD", "other", "m"), ("ZADD", "other", "1", "m")):
        try:
            r.execute_command(*cmd)
            break
        except redis.ResponseError:
            continue
    else:
        pytest.skip("no non-string type in this build")
    wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert err(r.pfadd, "other", "a") == wrongtype
    assert err(r.pfcount, "other") == wrongtype
    assert err(r.pfcount, "missing", "other") == wrongtype
    assert err(r.pfmerge, "other", "missing") == wrongtype
    assert err(r.pfmerge, "d", "other") == wrongtype


def test_arity(r):
    for name in ("pfadd", "pfcount", "pfmerge"):
        assert err(r.execute_command, name.upper()) == f"wrong number of arguments for '{name}' command"


def test_resp3_and_transactions(r3):
    assert r3.pfadd("h", "x", "y") == 1
    assert r3.pfcount("h") == 2
    p = r3.pipeline(transaction=True)
    p.pfadd("t", "a").pfadd("t", "a").pfcount("t").pfmerge("t2", "t", "h").pfcount("t2")
    assert p.execute() == [1, 0, 1, True, 3]


# ----- Against a real redis-server ----------------------------------------------------------

SIZES = [1, 2, 10, 100, 1000, 5000, 20000, 100_000]


@pytest.mark.parametrize("n", SIZES)
def test_counts_equal_real_redis(r, redis_sparse, n):
    """Same elements, same counts: hashing, registers and estimator all match Redis's."""
    elements = [f"user:{i}:{i * 7919 % 1000}" for i in range(n)]
    add_many(r, "h", elements)
    add_many(redis_sparse, "h", elements)
    assert r.pfcount("h") == redis_sparse.pfcount("h")


def test_binary_elements_and_unions_equal_real_redis(rb, redis_sparse):
    groups = {
        "bin": [bytes([i % 256, (i * 31) % 256]) * (i % 5) for i in range(3000)],
        "nums": [str(i).encode() for i in range(0, 60000, 3)],
        "mixed": [f"{i}-\u00e9\u4e2d".encode() for i in range(7000)],
    }
    for key, elements in groups.items():
        add_many(rb, key, elements)
        add_many(redis_sparse, key, elements)
        assert rb.pfcount(key) == redis_sparse.pfcount(key), key
    assert rb.pfcount("bin", "nums", "mixed", "missing") == redis_sparse.pfcount("bin", "nums", "mixed", "missing")
    assert rb.pfcount("bin", "mixed") == redis_sparse.pfcount("bin", "mixed")
    rb.pfmerge("all", "bin", "nums", "mixed")
    redis_sparse.pfmerge("all", "bin", "nums", "mixed")
    assert rb.pfcount("all") == redis_sparse.pfcount("all")


@pytest.mark.parametrize("n,batch", [(1, 1), (20, 1), (300, 7), (1500, 100), (3000, 1000), (12000, 500)])
def test_stored_bytes_equal_real_redis(rb, redis_sparse, n, batch):
    """The same commands leave the very same bytes as in Redis: sparse opcodes (split, merged,
    grown), the switch to dense past 3000 bytes, and the cached-cardinality bytes."""
    real = redis_sparse
    elements = [f"e{i}:{i * 31 % 97}" for i in range(n)]
    for i in range(0, n, batch):
        chunk = elements[i : i + batch]
        assert rb.pfadd("h", *chunk) == real.pfadd("h", *chunk)
        if i % (batch * 10) == 0:
            assert rb.get("h") == real.get("h"), f"after {i + len(chunk)} elements"
    assert rb.get("h") == real.get("h")
    assert rb.pfcount("h") == real.pfcount("h")
    assert rb.get("h") == real.get("h")
    for client in (rb, real):
        client.pfadd("small", "x", "y", "z")
        client.pfmerge("m1", "small", "missing")
        client.pfmerge("m2", "small", "h")
        client.pfmerge("small", "h")
    for key in ("m1", "m2", "small"):
        assert rb.get(key) == real.get(key), key
    assert rb.pfadd("h", elements[0]) == real.pfadd("h", elements[0]) == 0
    assert rb.get("h") == real.get("h")


def test_switch_to_dense_at_the_same_element_as_redis(rb, redis_sparse):
    """Adding one element at a time, both servers store the same bytes after every command and
    leave the sparse encoding at the same element (when it would pass 3000 bytes)."""
    for i in range(20000):
        rb.pfadd("h", f"r{i}")
        redis_sparse.pfadd("h", f"r{i}")
        mine, theirs = rb.get("h"), redis_sparse.get("h")
        assert mine == theirs, i
        if mine[4] == 0:
            break
    assert rb.getrange("h", 4, 4) == b"\x00"


def test_sparse_values_from_real_redis(rb, redis_sparse):
    """Sparse strings written by Redis are read, merged and updated by tern."""
    for n in (0, 1, 3, 50, 400):
        redis_sparse.delete("s")
        redis_sparse.pfadd("s", *[f"s{i}" for i in range(n)])
        raw = redis_sparse.get("s")
        assert raw[4] == 1, "redis wrote a sparse value"
        rb.set("s", raw)
        assert rb.pfcount("s") == redis_sparse.pfcount("s"), n
        # Multi-key and merge with a dense tern value.
        rb.delete("d")
        redis_sparse.delete("d")
        rb.pfadd("d", "dense-1", "dense-2")
        redis_sparse.pfadd("d", "dense-1", "dense-2")
        assert rb.pfcount("s", "d") == redis_sparse.pfcount("s", "d"), n
        rb.pfmerge("m", "s", "d")
        redis_sparse.pfmerge("m", "s", "d")
        assert rb.pfcount("m") == redis_sparse.pfcount("m"), n
        # Adding nothing new leaves the sparse value untouched; adding edits it as Redis does.
        rb.set("s", raw)
        redis_sparse.set("s", raw)
        assert rb.pfadd("s", *[f"s{i}" for i in range(n)][:5]) == 0
        assert rb.get("s") == raw
        more = [f"t{i}" for i in range(30)]
        assert rb.pfadd("s", *more) == redis_sparse.pfadd("s", *more) == 1
        assert rb.get("s") == redis_sparse.get("s"), n
        assert rb.pfcount("s") == redis_sparse.pfcount("s"), n


def test_tern_values_readable_by_real_redis(rb, redis_sparse):
    add_many(rb, "h", [f"z{i}" for i in range(777)])
    redis_sparse.set("h", rb.get("h"))
    assert redis_sparse.pfcount("h") == rb.pfcount("h")
    assert redis_sparse.pfadd("h", "z1") == 0


def test_pfcount_cache_write_invalidates_watch_like_redis(node, redis_sparse):
    """Redis counts PFCOUNT's cache update as a modification of the key for WATCH."""
    results = []
    mine = node.client()
    for client in (mine, redis_sparse):
        client.delete("w")
        client.pfadd("w", "a")
        p = client.pipeline(transaction=True)
        p.watch("w")
        client.pfcount("w")  # refreshes the stale cache
        p.multi()
        p.get("nothing")
        try:
            results.append(p.execute())
        except redis.WatchError:
            results.append("aborted")
        # With a fresh cache, PFCOUNT no longer writes.
        p = client.pipeline(transaction=True)
        p.watch("w")
        client.pfcount("w")
        p.multi()
        p.get("nothing")
        try:
            results.append(p.execute())
        except redis.WatchError:
            results.append("aborted")
    mine.close()
    assert results[:2] == results[2:]
    assert results[:2] == ["aborted", [None]]
