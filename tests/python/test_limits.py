"""Plan limits against a real node: data-size quota, eviction switched at run time, request,
record and key sizes, connections and command rate, with their exact errors."""

import time

import pytest
import redis

from conftest import TernNode, recv_until, resp_command, wait_until

QUOTA = "DB capacity quota exceeded"

# Small limits, one database per limit so tests do not disturb each other.
TENANTS = """\
# id:password limits...
full:pw-full max_data_bytes=64kb
evict:pw-evict max_data_bytes=64kb
sizes:pw-sizes max_key_bytes=100 max_record_bytes=1kb max_request_bytes=64kb
conns:pw-conns max_connections=3
rate:pw-rate max_commands_per_second=50
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    path = tmp_path_factory.mktemp("limits") / "tenants"
    path.write_text(TENANTS)
    n = TernNode(extra_args=("--tenants-file", str(path)))
    n.tenants_file = path
    yield n
    assert n.alive(), "tern node crashed during the limit tests"
    n.stop()


def client(node, password, **kw):
    return redis.Redis(host=node.host, port=node.port, password=password, decode_responses=True, **kw)


def fill(c, prefix="k", ttl=None):
    """Writes until the quota error; returns how many keys fit."""
    n = 0
    while True:
        try:
            c.set(f"{prefix}:{n}", "x" * 100, ex=ttl)
        except redis.ResponseError as e:
            assert str(e) == QUOTA
            return n
        n += 1
        assert n < 100_000, "the database never filled"


def memory_info(c):
    return c.info("memory")


def test_full_database_refuses_writes_but_serves_reads_and_deletes(limited):
    c = client(limited, "pw-full")
    c.flushdb()
    n = fill(c)
    assert n > 50
    info = memory_info(c)
    assert info["maxmemory"] == 64 * 1024
    assert info["maxmemory_policy"] == "noeviction"
    assert info["used_memory"] >= 64 * 1024
    with pytest.raises(redis.ResponseError, match=QUOTA):
        c.lpush("list", "a")
    with pytest.raises(redis.ResponseError, match=QUOTA):
        c.hset("h", "f", "v")
    assert c.get("k:0") == "x" * 100
    assert c.dbsize() == n
    assert c.delete("k:0", "k:1", "k:2") == 3
    assert c.set("again", "v")
    # MULTI: a write queued while full fails the transaction; reads are queued.
    fill(c, "more")
    p = c.pipeline(transaction=True)
    p.get("k:5")
    p.set("x", "y")
    with pytest.raises(redis.ResponseError):
        p.execute()
    # Scripts: the same error from redis.call.
    with pytest.raises(redis.ResponseError, match=QUOTA):
        c.eval("return redis.call('SET', 'x', 'y')", 0)
    c.flushdb()
    assert memory_info(c)["used_memory"] == 0
    assert c.set("x", "y")
    assert limited.alive()


def test_eviction_switched_on_at_run_time(limited):
    c = client(limited, "pw-evict")
    c.flushdb()
    for i in range(20):
        c.set(f"ttl:{i}", "v" * 100, ex=3600)
    fill(c, "plain")
    assert c.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    text = limited.tenants_file.read_text().replace(
        "evict:pw-evict max_data_bytes=64kb", "evict:pw-evict max_data_bytes=64kb eviction=on"
    )
    limited.tenants_file.write_text(text)
    assert wait_until(lambda: memory_info(c)["maxmemory_policy"] == "volatile-random")
    assert c.config_get("maxmemory*") == {"maxmemory": str(64 * 1024), "maxmemory-policy": "volatile-random"}
    with pytest.raises(redis.ResponseError, match="CONFIG SET failed"):
        c.config_set("maxmemory-policy", "allkeys-lru")
    # Writes now succeed by evicting: keys with a TTL first.
    for i in range(10):
        assert c.set(f"new:{i}", "v" * 100)
    ttl_left = len(c.keys("ttl:*"))
    assert ttl_left < 20
    plain = len(c.keys("plain:*"))
    evicted = c.info("stats")["evicted_keys"]
    assert evicted == 20 - ttl_left
    # Once no key has a TTL, any key goes.
    for i in range(200):
        assert c.set(f"newer:{i}", "v" * 100)
    assert c.keys("ttl:*") == []
    assert len(c.keys("plain:*")) < plain
    assert memory_info(c)["used_memory"] <= 64 * 1024 + 1024
    # TTL expiry stays exact whatever the setting.
    c.set("short", "v", px=100)
    time.sleep(0.15)
    assert c.get("short") is None
    assert c.info("stats")["expired_keys"] >= 1


def test_key_and_record_sizes(limited):
    c = client(limited, "pw-sizes")
    c.flushdb()
    with pytest.raises(redis.ResponseError) as e:
        c.set("k" * 150, "v")
    assert str(e.value) == "max key size exceeded. Limit: 100 bytes, Actual: 150 bytes"
    with pytest.raises(redis.ResponseError) as e:
        c.set("k", "v" * 2000)
    assert str(e.value) == "max single record size exceeded"
    with pytest.raises(redis.ResponseError, match="max single record size exceeded"):
        c.rpush("l", "a", "b" * 2000)
    assert c.set("k" * 100, "v" * 1024)
    assert c.get("k" * 150) is None


def test_strings_grown_in_place_respect_the_record_size(limited):
    """APPEND, SETRANGE and SETBIT send small arguments but grow a value: the value they
    would leave is checked against the record size (1 KiB here), and a refused one is unchanged."""
    c = client(limited, "pw-sizes")
    c.flushdb()
    c.set("s", "x" * 1000)
    with pytest.raises(redis.ResponseError, match="^max single record size exceeded$"):
        c.append("s", "y" * 100)
    assert c.append("s", "y" * 24) == 1024
    with pytest.raises(redis.ResponseError, match="^max single record size exceeded$"):
        c.setrange("s", 1024, "z")
    assert c.setrange("s", 0, "z") == 1024
    with pytest.raises(redis.ResponseError, match="^max single record size exceeded$"):
        c.setrange("new", 2000, "z")
    with pytest.raises(redis.ResponseError, match="^max single record size exceeded$"):
        c.setbit("bits", 1024 * 8, 1)
    assert c.setbit("bits", 1024 * 8 - 1, 1) == 0
    assert c.strlen("s") == 1024 and c.strlen("bits") == 1024 and c.exists("new") == 0


def test_request_size_closes_only_that_connection(limited):
    s = limited.raw()
    s.sendall(resp_command("AUTH", "pw-sizes"))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
    # Announce a 100 KB request: refused before its bytes are awaited.
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n")
    reply = recv_until(s, lambda d: d.endswith(b"\r\n"))
    assert reply == b"-ERR max request size exceeded\r\n"
    assert recv_until(s, lambda d: False, timeout=1) == b""  # closed
    s.close()
    # Another database on the same node takes big requests; this one still works.
    other = client(limited, "pw-full")
    other.flushdb()
    assert other.set("big", "x" * 60_000)
    other.flushdb()
    assert client(limited, "pw-sizes").ping()
    assert limited.alive()


def test_connection_limit(limited):
    clients = [client(limited, "pw-conns") for _ in range(3)]
    for c in clients:
        assert c.ping()
    with pytest.raises(redis.ResponseError, match="max concurrent connections exceeded"):
        client(limited, "pw-conns").ping()
    clients[0].close()
    assert wait_until(lambda: try_ping(limited, "pw-conns"))


def try_ping(node, password):
    c = client(node, password)
    try:
        return c.ping()
    except redis.ResponseError:
        return False
    finally:
        c.close()


def test_rate_limit_delays_then_refuses(limited):
    c = client(limited, "pw-rate")
    c.ping()
    time.sleep(1.1)  # a full bucket
    start = time.time()
    ok = refused = 0
    p = c.pipeline(transaction=False)
    for _ in range(200):
        p.incr("n")
    for reply in p.execute(raise_on_error=False):
        if isinstance(reply, redis.ResponseError):
            assert str(reply).startswith("max requests limit exceeded")
            refused += 1
        else:
            ok += 1
    elapsed = time.time() - start
    # One second's worth passes at once, a few more within the short wait; the rest is refused.
    assert 50 <= ok < 70, (ok, refused, elapsed)
    assert elapsed < 1, elapsed
    assert refused == 200 - ok
    assert int(c.get("n")) == ok
    # A client sending one command at a time is slowed to the rate, not refused.
    time.sleep(1.1)
    start = time.time()
    for _ in range(80):
        c.incr("m")
    assert time.time() - start > 0.4
    # Other databases are not slowed down.
    other = client(limited, "pw-full")
    t = time.time()
    for _ in range(200):
        other.ping()
    assert time.time() - t < 2
