"""Bugs and gaps found by running redis-py's upstream test suite against tern
(tests/compat/run_redis_py_suite.sh, docs/compat.md), each checked here against a real
`tern node`: CLIENT LIST/KILL after a kill and with TYPE, the CLIENT tracking/pause/unblock
replies, MEMORY STATS/MALLOC-STATS/DOCTOR/PURGE, MODULE LIST, LATENCY, LOLWUT, REPLICAOF."""

import pytest
import redis

from conftest import PASSWORD_A, recv_until, resp_command


def names(client):
    return {c.get("name") for c in client.client_list()}


def test_killed_client_is_gone_from_client_list_at_once(node, r):
    # redis-py's test_client_kill lists clients right after the kill: the victim must not
    # linger while its connection task is still winding down.
    for _ in range(20):
        victim = node.client(decode_responses=True)
        victim.client_setname("victim")
        addr = next(c["addr"] for c in r.client_list() if c.get("name") == "victim")
        assert r.client_kill(addr) is True
        assert "victim" not in names(r)
        with pytest.raises(redis.ResponseError, match="^No such client$"):
            r.client_kill(addr)
        victim.close()
    # Kill and list in one MULTI/EXEC: the victim's connection cannot have gone away yet.
    for _ in range(5):
        victim = node.client(decode_responses=True)
        victim.client_setname("victim-tx")
        pipe = r.pipeline(transaction=True)
        pipe.client_kill_filter(_id=victim.client_id())
        pipe.client_list()
        pipe.info("clients")
        killed, listed, info = pipe.execute()
        assert killed == 1
        assert "victim-tx" not in {c.get("name") for c in listed}
        assert info["connected_clients"] == len(listed)
        victim.close()
    victim = node.client(decode_responses=True)
    victim.client_setname("victim2")
    # Taken once: a killed redis-py client reconnects (with a new id) when used again.
    victim_id = victim.client_id()
    assert r.client_kill_filter(_id=victim_id) == 1
    assert "victim2" not in names(r)
    assert r.client_kill_filter(_id=victim_id) == 0
    victim.close()
    info = r.info("clients")
    assert info["connected_clients"] == len(r.client_list())


def test_client_kill_id_must_be_positive(r):
    with pytest.raises(redis.ResponseError, match="^client-id should be greater than 0$"):
        r.execute_command("CLIENT", "KILL", "ID", "0")
    with pytest.raises(redis.ResponseError, match="^client-id should be greater than 0$"):
        r.execute_command("CLIENT", "KILL", "ID", "abc")


def test_client_list_and_kill_by_type(node, r):
    r.client_setname("plain")
    listener = node.client(decode_responses=True)
    p = listener.pubsub()
    p.subscribe("news")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    pubsub_names = {c.get("name") for c in r.client_list(_type="pubsub")}
    normal_names = {c.get("name") for c in r.client_list(_type="normal")}
    assert "plain" in normal_names and "plain" not in pubsub_names
    assert len(pubsub_names) == 1 and not pubsub_names & normal_names
    assert r.client_list(_type="replica") == []
    with pytest.raises(redis.ResponseError, match="^Unknown client type 'foo'$"):
        r.execute_command("CLIENT", "LIST", "TYPE", "foo")
    with pytest.raises(redis.ResponseError, match="^Unknown client type 'foo'$"):
        r.execute_command("CLIENT", "KILL", "TYPE", "foo")
    # TYPE normal spares pub/sub clients (and the caller, SKIPME yes by default).
    r.client_kill_filter(_type="normal")
    assert {c.get("name") for c in r.client_list(_type="pubsub")} == pubsub_names
    assert r.client_kill_filter(_type="pubsub") == 1
    assert r.client_list(_type="pubsub") == []
    p.close()
    listener.close()


def test_client_tracking_replies_say_tracking_is_off(node, r, r3):
    assert r.client_getredir() == -1
    assert r.client_trackinginfo() == ["flags", ["off"], "redirect", -1, "prefixes", []]
    assert r3.client_trackinginfo() == {"flags": ["off"], "redirect": -1, "prefixes": []}
    # RESP3: a map whose flags are a set, as Redis sends it.
    s = node.raw()
    s.sendall(resp_command("HELLO", "3", "AUTH", "default", PASSWORD_A))
    recv_until(s, lambda d: b"modules" in d)
    s.sendall(resp_command("CLIENT", "TRACKINGINFO"))
    expected = b"%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
    assert recv_until(s, lambda d: d.endswith(b"*0\r\n")) == expected


def test_client_unpause_unblock_and_no_evict(node, r):
    assert r.client_unpause() == "OK"
    me = r.client_id()
    assert r.client_unblock(me) == 0
    assert r.client_unblock(me, error=True) == 0
    assert r.client_unblock(2**40) == 0
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("CLIENT", "UNBLOCK", "x")
    with pytest.raises(redis.ResponseError, match="^CLIENT UNBLOCK reason should be TIMEOUT or ERROR$"):
        r.execute_command("CLIENT", "UNBLOCK", me, "NOW")
    assert r.client_no_evict("on") == "OK"
    assert r.client_no_touch("OFF") == "OK"
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("CLIENT", "NO-EVICT", "maybe")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("CLIENT", "NO-TOUCH", "maybe")


def test_memory_stats_and_friends(r, rb, r3, other):
    other.set("theirs", "x" * 1000)
    r.set("foo", "bar")
    r.hset("h", mapping={f"f{i}": "v" * 100 for i in range(50)})
    stats = r.memory_stats()
    assert stats["keys.count"] == 2
    assert stats["dataset.bytes"] > 50 * 100
    assert isinstance(stats["db.0"], dict)
    assert set(stats["db.0"]) == {"overhead.hashtable.main", "overhead.hashtable.expires"}
    stats3 = r3.memory_stats()
    assert stats3["keys.count"] == 2 and isinstance(stats3["dataset.percentage"], float)
    assert rb.memory_malloc_stats()
    assert r.execute_command("MEMORY", "DOCTOR")
    assert r.memory_purge() is True
    with pytest.raises(redis.ResponseError, match="Try MEMORY HELP"):
        r.execute_command("MEMORY", "STATS", "extra")
    r.flushdb()
    assert r.memory_stats()["keys.count"] == 0
    assert r.memory_stats()["dataset.bytes"] == 0


def test_module_latency_lolwut(r, rb):
    assert r.module_list() == []
    with pytest.raises(redis.ResponseError, match="^MODULE is not available"):
        r.module_load("/tmp/nothing.so")
    assert r.latency_latest() == []
    assert r.latency_history("command") == []
    assert r.latency_reset() == 0
    assert r.latency_reset("command", "fork") == 0
    with pytest.raises(redis.ResponseError, match="^No samples available for event 'command'$"):
        r.execute_command("LATENCY", "GRAPH", "command")
    assert r.config_get("latency-monitor-threshold") == {"latency-monitor-threshold": "0"}
    assert "Redis ver. 7." in rb.lolwut().decode()
    assert "Redis ver. 7." in rb.lolwut(5, 6, 7, 8).decode()
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("LOLWUT", "VERSION", "five")


def test_replicaof_no_one_only(r, node):
    assert r.replicaof("NO", "ONE") == "OK"
    assert r.execute_command("SLAVEOF", "no", "one") is True
    with pytest.raises(redis.ResponseError):
        r.replicaof("NO ONE")
    with pytest.raises(redis.ResponseError, match="^REPLICAOF is not available"):
        r.replicaof("127.0.0.1", 6379)
    # The raw reply, as clients that do not map it see it.
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A) + resp_command("REPLICAOF", "NO", "ONE"))
    assert recv_until(s, lambda d: d.count(b"\r\n") >= 2) == b"+OK\r\n+OK\r\n"
