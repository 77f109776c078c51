"""Connection, auth, tenant isolation, strings, keys, transactions, pub/sub and server
commands, driven by redis-py against a real tern node."""

import time

import pytest
import redis

from conftest import PASSWORD_A, recv_until, resp_command


def test_noauth_before_auth_and_wrongpass(node):
    c = redis.Redis(host=node.host, port=node.port)
    with pytest.raises(redis.AuthenticationError):
        c.get("x")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=node.host, port=node.port, password="nope").ping()
    s = node.raw()
    s.sendall(resp_command("GET", "x"))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"-NOAUTH Authentication required.\r\n"
    s.sendall(resp_command("AUTH", "default", PASSWORD_A) + resp_command("PING"))
    assert recv_until(s, lambda d: d.count(b"\r\n") >= 2) == b"+OK\r\n+PONG\r\n"


def test_auth_with_username_and_select(node):
    c = redis.Redis(host=node.host, port=node.port, username="default", password=PASSWORD_A)
    assert c.ping()
    assert c.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match=r"^Only 0th database is supported! Selected DB: 1$"):
        c.execute_command("SELECT", 1)


def test_tenants_are_isolated(r, other, node):
    r.set("shared-name", "alpha")
    other.set("shared-name", "beta")
    assert r.get("shared-name") == "alpha"
    assert other.get("shared-name") == "beta"
    assert r.keys("*") == ["shared-name"]
    assert r.dbsize() == 1
    other.flushdb()
    assert r.get("shared-name") == "alpha"
    # Client lists and INFO show only the tenant's own clients and keys.
    r.client_setname("alpha-client")
    names = [c["name"] for c in other.client_list()]
    assert "alpha-client" not in names
    assert "db0:keys" not in other.info("keyspace").__repr__() or other.info("keyspace") == {}
    # Pub/sub messages stay inside the tenant.
    p = other.pubsub()
    p.subscribe("news")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    assert r.publish("news", "for alpha only") == 0
    assert p.get_message(timeout=0.3) is None
    p.close()


def test_strings_roundtrip_binary_safe(rb):
    value = bytes(range(256)) * 10
    rb.set(b"\x00bin\xff", value)
    assert rb.get(b"\x00bin\xff") == value
    assert rb.strlen(b"\x00bin\xff") == 2560
    assert rb.append(b"\x00bin\xff", b"\r\n") == 2562


def test_string_commands(r):
    assert r.set("k", "v", nx=True)
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True, get=True) == "v"
    assert r.getex("k", px=5000) == "w"
    assert 4000 < r.pttl("k") <= 5000
    assert r.getex("k", persist=True) == "w"
    assert r.ttl("k") == -1
    assert r.getdel("k") == "w"
    assert r.get("k") is None
    r.mset({"a": "1", "b": "2"})
    assert r.mget("a", "b", "c") == ["1", "2", None]
    assert r.msetnx({"a": "x", "z": "y"}) is False
    assert r.incr("a") == 2
    assert r.incrby("a", 10) == 12
    assert r.decr("a") == 11
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.setrange("s", 2, "xy") == 4
    assert r.getrange("s", 2, -1) == "xy"
    assert r.setex("e", 100, "v")
    assert 99 <= r.ttl("e") <= 100
    assert r.psetex("pe", 100000, "v")
    with pytest.raises(redis.ResponseError, match="unknown command 'NOPE', with args beginning with: 'a'"):
        r.execute_command("NOPE", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")


def test_ttl_precision_and_background_expiry(r):
    r.set("short", "v", px=100)
    assert r.get("short") == "v"
    time.sleep(0.12)
    assert r.get("short") is None
    for i in range(200):
        r.set(f"vol:{i}", "v", px=50)
    time.sleep(0.6)
    # The background cycle reclaims keys nobody reads.
    assert r.dbsize() == 0
    info = r.info("stats")
    assert info["expired_keys"] >= 200


def test_generic_commands(r):
    r.set("a", "1")
    assert r.exists("a", "a", "nope") == 2
    assert r.type("a") == "string"
    assert r.expire("a", 100, nx=True)
    assert not r.expire("a", 200, nx=True)
    assert r.expire("a", 200, gt=True)
    assert r.persist("a")
    assert r.rename("a", "b")
    assert r.renamenx("b", "c")
    assert r.copy("c", "d")
    assert r.object("encoding", "d") == "int"
    assert r.randomkey() in ("c", "d")
    assert sorted(r.scan_iter(match="*")) == ["c", "d"]
    assert r.delete("c", "d", "zz") == 2
    assert r.touch("c") == 0
    assert r.unlink("c") == 0
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.rename("nope", "x")


def test_scan_type_filter_and_count(r):
    for i in range(50):
        r.set(f"s{i}", "x")
    keys = list(r.scan_iter(count=5, _type="string"))
    assert len(keys) == 50 and len(set(keys)) == 50


def test_multi_exec_and_watch(node, r):
    with r.pipeline(transaction=True) as p:
        p.set("x", 1).incr("x").get("x")
        assert p.execute() == [True, 2, "2"]
    other_client = node.client(decode_responses=True)
    with r.pipeline() as p:
        p.watch("x")
        other_client.set("x", 100)
        p.multi()
        p.set("x", 5)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("x") == "100"
    other_client.close()


def test_pubsub_channels_and_patterns(node, r):
    sub = node.client(decode_responses=True).pubsub()
    sub.subscribe("chan")
    sub.psubscribe("pat.*")
    for _ in range(2):
        assert sub.get_message(timeout=1)["type"] in ("subscribe", "psubscribe")
    assert r.publish("chan", "one") == 1
    assert r.publish("pat.x", "two") == 1
    m1 = sub.get_message(timeout=1)
    m2 = sub.get_message(timeout=1)
    assert (m1["type"], m1["data"]) == ("message", "one")
    assert (m2["type"], m2["pattern"], m2["channel"], m2["data"]) == ("pmessage", "pat.*", "pat.x", "two")
    assert r.pubsub_numsub("chan") == [("chan", 1)]
    assert r.pubsub_numpat() == 1
    sub.close()


def test_resp3_pubsub_push(node):
    c = node.client(decode_responses=True, protocol=3)
    p = c.pubsub()
    p.subscribe("r3")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    node.client().publish("r3", "hi")
    msg = p.get_message(timeout=1)
    assert msg["data"] == "hi"
    p.close()


def test_resp3_hello_and_types(r3):
    hello = r3.execute_command("HELLO", "3")
    assert hello["proto"] == 3
    r3.set("n", "1")
    assert r3.get("n") == "1"
    info = r3.info()
    assert info["redis_version"].startswith("7.")


def test_server_commands(r):
    r.set("a", "1")
    t = r.time()
    assert abs(t[0] - time.time()) < 5
    assert r.dbsize() == 1
    assert r.info("memory")["maxmemory_policy"] == "noeviction"
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert r.command_count() > 50
    assert r.memory_usage("a") > 0
    assert r.lastsave()
    assert r.flushall()
    assert r.dbsize() == 0
    with pytest.raises(redis.ResponseError, match="cluster support disabled"):
        r.execute_command("CLUSTER", "SLOTS")


def test_client_commands(node, r):
    r.client_setname("me")
    assert r.client_getname() == "me"
    my_id = r.client_id()
    victim = node.raw()
    victim.sendall(resp_command("AUTH", PASSWORD_A) + resp_command("CLIENT", "SETNAME", "victim") + resp_command("CLIENT", "ID"))
    reply = recv_until(victim, lambda d: d.count(b"\r\n") >= 3)
    victim_id = int(reply.split(b"\r\n")[2][1:])
    listed = {c["name"]: int(c["id"]) for c in r.client_list()}
    assert listed["me"] == my_id and listed["victim"] == victim_id
    assert r.client_kill_filter(_id=victim_id) == 1
    victim.settimeout(2)
    assert victim.recv(100) == b""


def test_pipelining_many_commands(rb):
    with rb.pipeline(transaction=False) as p:
        for i in range(5000):
            p.set(f"k{i}", i)
        for i in range(5000):
            p.get(f"k{i}")
        out = p.execute()
    assert out[5000:] == [str(i).encode() for i in range(5000)]


def test_inline_commands(node):
    s = node.raw()
    s.sendall(f"AUTH {PASSWORD_A}\r\nSET inline \"a b\"\r\nGET inline\r\n".encode())
    assert recv_until(s, lambda d: d.count(b"\r\n") >= 4) == b"+OK\r\n+OK\r\n$3\r\na b\r\n"


@pytest.mark.parametrize("garbage", [
    b"*1\r\n+PING\r\n",
    b"*-x\r\n",
    b"*1\r\n$-20\r\n",
    b"*1\r\n$3\r\nabcdef\r\n",
    b"\"unbalanced\r\n",
    b"*99999999999999999999\r\n",
])
def test_malformed_input_gets_error_and_close(node, garbage):
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
    s.sendall(garbage)
    data = recv_until(s, lambda d: False, timeout=2)
    assert data.startswith(b"-ERR Protocol error") or data.startswith(b"-ERR max request"), data
    assert node.alive()


def test_huge_length_is_refused_without_buffering(node):
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A))
    recv_until(s, lambda d: d.endswith(b"\r\n"))
    s.sendall(b"*2\r\n$3\r\nGET\r\n$4000000000\r\n")
    data = recv_until(s, lambda d: False, timeout=2)
    assert data.startswith(b"-ERR max request size exceeded"), data


def test_half_frames_and_slow_client(node):
    s = node.raw()
    frame = resp_command("AUTH", PASSWORD_A) + resp_command("SET", "slow", "x" * 100) + resp_command("GET", "slow")
    for b in frame:
        s.sendall(bytes([b]))
    data = recv_until(s, lambda d: d.endswith(b"x" * 100 + b"\r\n"))
    assert data == b"+OK\r\n+OK\r\n$100\r\n" + b"x" * 100 + b"\r\n"


def test_client_that_never_reads_does_not_hurt_others(node, r):
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A))
    recv_until(s, lambda d: d.endswith(b"\r\n"))
    r.set("big", "x" * 100_000)
    # Ask for lots of output and never read it.
    s.sendall(resp_command("GET", "big") * 200)
    time.sleep(0.2)
    assert r.get("big") is not None
    s.close()


def test_random_garbage_never_crashes(node):
    import random
    rng = random.Random(7)
    for _ in range(50):
        s = node.raw()
        s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
        recv_until(s, lambda d: False, timeout=0.05)
        s.close()
    assert node.alive()
    assert node.client().ping()


def test_shard_channels_are_a_separate_namespace(node, r):
    """Regression: SSUBSCRIBE used to share the plain channel table, so PUBLISH reached shard
    subscribers (and SPUBLISH plain ones) and messages came as `message`, not `smessage`."""
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A) + resp_command("SSUBSCRIBE", "orders"))
    got = recv_until(s, lambda d: d.count(b"\r\n") >= 7)
    assert got == b"+OK\r\n*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"
    assert r.publish("orders", "plain") == 0
    assert r.execute_command("SPUBLISH", "orders", "sharded") == 1
    msg = recv_until(s, lambda d: d.endswith(b"sharded\r\n"))
    assert msg == b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$7\r\nsharded\r\n"
    assert r.execute_command("PUBSUB", "SHARDNUMSUB", "orders") == [b"orders", 1] or \
        r.execute_command("PUBSUB", "SHARDNUMSUB", "orders") == ["orders", 1]
    assert r.pubsub_numsub("orders") == [("orders", 0)]
