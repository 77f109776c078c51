"""Stream commands against a real tern node: XADD and trimming, ranges, XREAD (also blocking,
woken by another client), consumer groups with pending entries, claiming, XINFO, errors, and
RESP3 forms. Expected replies were checked against redis-server 7.0."""

import threading
import time

import pytest
import redis

from conftest import PASSWORD_A, recv_until, resp_command


def error_of(fn, *args):
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


def test_xadd_ids_and_errors(r):
    assert r.xadd("s", {"a": 1}, id="1-1") == "1-1"
    assert r.xadd("s", {"b": 2}, id="1-*") == "1-2"
    assert r.xadd("s", {"c": 3}, id="5") == "5-0"
    auto = r.xadd("s", {"d": 4})
    ms, seq = auto.split("-")
    assert int(ms) > 5 and seq == "0"
    assert error_of(r.xadd, "s", {"a": 1}, "1-1") == (
        "The ID specified in XADD is equal or smaller than the target stream top item"
    )
    assert error_of(r.xadd, "t", {"a": 1}, "0-0") == "The ID specified in XADD must be greater than 0-0"
    assert r.exists("t") == 0
    assert error_of(r.xadd, "s", {"a": 1}, "abc") == "Invalid stream ID specified as stream command argument"
    assert error_of(r.execute_command, "XADD", "s", "*", "a") == "wrong number of arguments for 'xadd' command"
    assert r.xadd("missing", {"a": 1}, nomkstream=True) is None
    assert r.exists("missing") == 0
    r.set("str", "x")
    assert error_of(r.xadd, "str", {"a": 1}).startswith("WRONGTYPE")
    assert r.type("s") == "stream"
    assert r.object("encoding", "s") == "stream"
    assert r.xlen("s") == 4 and r.xlen("nothing") == 0


def test_xadd_trimming_options(r):
    for i in range(1, 11):
        r.xadd("s", {"i": i}, id=f"{i}-0")
    r.xadd("s", {"i": 11}, id="11-0", maxlen=5, approximate=False)
    assert r.xlen("s") == 5
    r.xadd("s", {"i": 12}, id="12-0", minid="10", approximate=False)
    assert [e[0] for e in r.xrange("s")] == ["10-0", "11-0", "12-0"]
    # ~ only drops whole nodes (100 entries): nothing goes on a small stream.
    r.xadd("s", {"i": 13}, id="13-0", maxlen=1, approximate=True)
    assert r.xlen("s") == 4
    assert error_of(r.execute_command, "XADD", "s", "MAXLEN", "1", "LIMIT", "1", "*", "a", "1") == (
        "syntax error, LIMIT cannot be used without the special ~ option"
    )
    assert error_of(r.execute_command, "XADD", "s", "MAXLEN", "-1", "*", "a", "1") == (
        "The MAXLEN argument must be >= 0."
    )
    assert error_of(r.execute_command, "XADD", "s", "LIMIT", "5", "*", "a", "1") == (
        "syntax error, LIMIT cannot be used without specifying a trimming strategy"
    )


def test_xtrim(r):
    assert r.xtrim("missing", maxlen=0) == 0
    for i in range(1, 251):
        r.xadd("s", {"f": "v"}, id=f"{i}-0")
    assert r.xtrim("s", maxlen=200, approximate=True) == 0
    assert r.xtrim("s", maxlen=120, approximate=True) == 100
    assert r.xtrim("s", maxlen=10, approximate=True, limit=50) == 0
    assert r.xtrim("s", maxlen=100, approximate=False) == 50
    # ~ MINID drops the node 151-200 only; the exact form goes up to the ID.
    assert r.xtrim("s", minid="240") == 50
    assert r.xtrim("s", minid="240", approximate=False) == 39
    assert r.xrange("s", count=1)[0][0] == "240-0"
    assert error_of(r.execute_command, "XTRIM", "s") == "wrong number of arguments for 'xtrim' command"
    assert error_of(r.execute_command, "XTRIM", "s", "FOO", "1") == "syntax error"


def test_ranges(r):
    for id in ["1-1", "2-1", "3-1"]:
        r.xadd("s", {"k": id}, id=id)
    assert r.xrange("s") == [("1-1", {"k": "1-1"}), ("2-1", {"k": "2-1"}), ("3-1", {"k": "3-1"})]
    assert r.xrange("s", "(1-1", "+", count=1) == [("2-1", {"k": "2-1"})]
    assert r.xrevrange("s", "+", "-", count=2) == [("3-1", {"k": "3-1"}), ("2-1", {"k": "2-1"})]
    assert r.xrevrange("s", "(3-1", "-") == [("2-1", {"k": "2-1"}), ("1-1", {"k": "1-1"})]
    assert r.xrange("s", "2", "2") == [("2-1", {"k": "2-1"})]
    assert r.xrange("missing") == []
    assert r.execute_command("XRANGE", "s", "-", "+", "COUNT", "0") is None
    assert error_of(r.xrange, "s", "-", "(0-0") == "invalid end ID for the interval"
    assert error_of(r.xrange, "s", "(+", "+") == "Invalid stream ID specified as stream command argument"
    assert r.xdel("s", "2-1", "9-9") == 1
    assert r.xdel("missing", "1-1") == 0
    # An emptied stream stays (Redis keeps empty streams).
    assert r.xdel("s", "1-1", "3-1") == 2
    assert r.exists("s") == 1 and r.xlen("s") == 0


def test_xread(node, r, r3):
    r.xadd("a", {"x": 1}, id="1-0")
    r.xadd("a", {"x": 2}, id="2-0")
    r.xadd("b", {"y": 1}, id="1-0")
    assert r.xread({"a": "0", "b": "1-0"}) == [["a", [("1-0", {"x": "1"}), ("2-0", {"x": "2"})]]]
    assert r.xread({"a": "0"}, count=1) == [["a", [("1-0", {"x": "1"})]]]
    assert r.xread({"a": "$"}) == []
    sock = node.raw()
    sock.sendall(resp_command("AUTH", PASSWORD_A) + resp_command("XREAD", "STREAMS", "a", "$"))
    assert recv_until(sock, lambda d: d.endswith(b"*-1\r\n")) == b"+OK\r\n*-1\r\n"
    sock.close()
    raw = r3.execute_command("XREAD", "STREAMS", "a", "1-0")
    assert isinstance(raw, dict) and list(raw) == ["a"]
    assert error_of(r.execute_command, "XREAD", "STREAMS", "a", "b", "0") == (
        "Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
    )
    assert error_of(r.execute_command, "XREAD", "STREAMS", "a", ">").startswith("The > ID can be specified only")
    assert error_of(r.execute_command, "XREAD", "BLOCK", "-1", "STREAMS", "a", "0") == "timeout is negative"


class Call(threading.Thread):
    def __init__(self, fn, *args, **kw):
        super().__init__(daemon=True)
        self.fn, self.args, self.kw = fn, args, kw
        self.result = None
        self.start()

    def run(self):
        self.result = self.fn(*self.args, **self.kw)


def test_blocking_xread_is_woken_by_xadd_from_another_client(node, r):
    r.xadd("s", {"old": 1}, id="1-0")
    reader = node.client(decode_responses=True)
    call = Call(reader.xread, {"s": "$"}, block=0)
    time.sleep(0.2)
    assert call.is_alive()
    r.xadd("s", {"new": 1}, id="2-0")
    call.join(5)
    assert call.result == [["s", [("2-0", {"new": "1"})]]]
    # A timeout gives a null reply.
    start = time.time()
    assert reader.xread({"s": "$"}, block=100) == []
    assert time.time() - start >= 0.09
    sock = node.raw()
    sock.sendall(resp_command("AUTH", PASSWORD_A) + resp_command("XREAD", "BLOCK", "50", "STREAMS", "s", "$"))
    assert recv_until(sock, lambda d: d.endswith(b"*-1\r\n")) == b"+OK\r\n*-1\r\n"
    sock.close()


def test_blocking_xreadgroup_is_woken_by_xadd(node, r):
    r.xgroup_create("s", "g", "$", mkstream=True)
    reader = node.client(decode_responses=True)
    call = Call(reader.xreadgroup, "g", "c", {"s": ">"}, block=2000)
    time.sleep(0.2)
    r.xadd("s", {"f": "v"}, id="5-0")
    call.join(5)
    assert call.result == [["s", [("5-0", {"f": "v"})]]]
    assert r.xpending("s", "g")["pending"] == 1


def test_consumer_groups_and_pending_entries(node, r):
    for i in range(1, 4):
        r.xadd("s", {"n": i}, id=f"{i}-0")
    assert r.xgroup_create("s", "g", "0")
    assert error_of(r.xgroup_create, "s", "g", "0") == "BUSYGROUP Consumer Group name already exists"
    assert error_of(r.xgroup_create, "nokey", "g", "0").startswith("The XGROUP subcommand requires the key to exist")
    assert r.xgroup_create("mk", "g", "$", mkstream=True) and r.xlen("mk") == 0
    assert r.xreadgroup("g", "alice", {"s": ">"}, count=2) == [["s", [("1-0", {"n": "1"}), ("2-0", {"n": "2"})]]]
    assert r.xreadgroup("g", "bob", {"s": ">"}) == [["s", [("3-0", {"n": "3"})]]]
    assert r.xreadgroup("g", "bob", {"s": ">"}) == []
    summary = r.xpending("s", "g")
    assert summary["pending"] == 3 and summary["min"] == "1-0" and summary["max"] == "3-0"
    assert summary["consumers"] == [{"name": "alice", "pending": 2}, {"name": "bob", "pending": 1}]
    rows = r.xpending_range("s", "g", "-", "+", 10, consumername="alice")
    assert [(x["message_id"], x["times_delivered"]) for x in rows] == [("1-0", 1), ("2-0", 1)]
    # History read by ID: only this consumer's pending entries, delivery count goes up.
    assert r.xreadgroup("g", "alice", {"s": "0"}) == [["s", [("1-0", {"n": "1"}), ("2-0", {"n": "2"})]]]
    assert r.xpending_range("s", "g", "-", "+", 1)[0]["times_delivered"] == 2
    # A deleted entry shows up with no fields in the history.
    r.xdel("s", "2-0")
    sock = node.raw()
    sock.sendall(resp_command("AUTH", PASSWORD_A) + resp_command("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"))
    history = recv_until(sock, lambda d: d.endswith(b"*-1\r\n"))
    assert history.endswith(b"*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nn\r\n$1\r\n1\r\n*2\r\n$3\r\n2-0\r\n*-1\r\n")
    sock.close()
    assert r.xack("s", "g", "1-0", "2-0", "9-0") == 2
    assert r.xack("s", "nog", "1-0") == 0
    assert r.xpending("s", "g")["pending"] == 1
    assert r.xreadgroup("g", "carol", {"s": ">"}, noack=True) == []
    assert error_of(r.xreadgroup, "nog", "c", {"s": ">"}) == (
        "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
    )
    assert error_of(r.execute_command, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$").startswith(
        "The $ ID is meaningless"
    )
    assert r.xgroup_createconsumer("s", "g", "dave") == 1
    assert r.xgroup_createconsumer("s", "g", "dave") == 0
    assert r.xgroup_delconsumer("s", "g", "bob") == 1
    assert r.xgroup_delconsumer("s", "g", "nobody") == 0
    assert r.xgroup_setid("s", "g", "0", entries_read=0)
    assert error_of(r.xgroup_setid, "s", "nog", "0") == "NOGROUP No such consumer group 'nog' for key name 's'"
    assert r.xgroup_destroy("s", "g") == 1 and r.xgroup_destroy("s", "g") == 0


def test_noack_reads_leave_no_pending_entries(r):
    r.xadd("s", {"a": 1}, id="1-0")
    r.xgroup_create("s", "g", "0")
    assert r.xreadgroup("g", "c", {"s": ">"}, noack=True) == [["s", [("1-0", {"a": "1"})]]]
    assert r.xpending("s", "g")["pending"] == 0
    assert r.xinfo_groups("s")[0]["last-delivered-id"] == "1-0"


def test_xclaim_and_xautoclaim(r):
    for i in range(1, 4):
        r.xadd("s", {"n": i}, id=f"{i}-0")
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "alice", {"s": ">"})
    time.sleep(0.05)
    assert r.xclaim("s", "g", "bob", 10000, ["1-0"]) == []
    assert r.xclaim("s", "g", "bob", 10, ["1-0"]) == [("1-0", {"n": "1"})]
    assert r.xclaim("s", "g", "bob", 0, ["2-0"], justid=True) == ["2-0"]
    rows = r.xpending_range("s", "g", "-", "+", 10)
    assert [(x["message_id"], x["consumer"], x["times_delivered"]) for x in rows] == [
        ("1-0", "bob", 2),
        ("2-0", "bob", 1),
        ("3-0", "alice", 1),
    ]
    assert r.xclaim("s", "g", "bob", 0, ["3-0"], retrycount=7, idle=5000, justid=True) == ["3-0"]
    row = r.xpending_range("s", "g", "-", "+", 10, consumername="bob")[2]
    assert row["times_delivered"] == 7 and row["time_since_delivered"] >= 5000
    assert len(r.xpending_range("s", "g", "-", "+", 10, idle=4000)) == 1
    assert error_of(r.execute_command, "XCLAIM", "s", "g", "c", "0", "1-0", "BAD") == "Unrecognized XCLAIM option 'BAD'"
    assert error_of(r.execute_command, "XCLAIM", "s", "nog", "c", "0", "1-0") == (
        "NOGROUP No such key 's' or consumer group 'nog'"
    )
    # XAUTOCLAIM walks the PEL with a cursor and reports entries deleted meanwhile.
    r.xdel("s", "2-0")
    assert r.xautoclaim("s", "g", "carol", 0, "0", count=1) == ["2-0", [("1-0", {"n": "1"})], []]
    assert r.xautoclaim("s", "g", "carol", 0, "2-0", justid=True) == ["3-0"]
    r.xadd("s", {"n": 4}, id="4-0")
    assert r.xautoclaim("s", "g", "dave", 0, "0", justid=True) == ["1-0", "3-0"]
    assert error_of(r.execute_command, "XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0") == "COUNT must be > 0"


def test_xautoclaim_deleted_entries(r):
    for i in range(1, 4):
        r.xadd("s", {"n": i}, id=f"{i}-0")
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "alice", {"s": ">"})
    r.xdel("s", "2-0")
    assert r.xautoclaim("s", "g", "bob", 0, "0", justid=True) == ["1-0", "3-0"]
    assert r.xpending("s", "g")["pending"] == 2


def test_xinfo(r, r3):
    r.xadd("s", {"a": 1}, id="1-0")
    r.xadd("s", {"b": 2}, id="2-0")
    r.xgroup_create("s", "g", "0")
    r.xreadgroup("g", "c", {"s": ">"}, count=1)
    info = r.xinfo_stream("s")
    assert info["length"] == 2
    assert info["last-generated-id"] == "2-0"
    assert info["entries-added"] == 2
    assert info["groups"] == 1
    assert info["first-entry"] == ("1-0", {"a": "1"})
    assert info["last-entry"] == ("2-0", {"b": "2"})
    groups = r.xinfo_groups("s")
    assert groups[0]["name"] == "g" and groups[0]["pending"] == 1
    assert groups[0]["entries-read"] == 1 and groups[0]["lag"] == 1
    consumers = r.xinfo_consumers("s", "g")
    assert consumers[0]["name"] == "c" and consumers[0]["pending"] == 1
    full = r.xinfo_stream("s", full=True)
    assert full["entries"] == {"1-0": {"a": "1"}, "2-0": {"b": "2"}}
    assert full["groups"][0]["pel-count"] == 1
    assert isinstance(r3.execute_command("XINFO", "STREAM", "s"), dict)
    assert error_of(r.xinfo_stream, "missing") == "no such key"
    assert error_of(r.xinfo_consumers, "s", "nog") == "NOGROUP No such consumer group 'nog' for key name 's'"
    assert error_of(r.execute_command, "XINFO", "FOO") == "unknown subcommand 'FOO'. Try XINFO HELP."


def test_xsetid(r):
    r.xadd("s", {"a": 1}, id="5-0")
    assert error_of(r.execute_command, "XSETID", "s", "1-0") == "The ID specified in XSETID is smaller than the target stream top item"
    assert r.execute_command("XSETID", "s", "10-0", "ENTRIESADDED", "3", "MAXDELETEDID", "2-0")
    info = r.xinfo_stream("s")
    assert info["last-generated-id"] == "10-0" and info["entries-added"] == 3
    assert info["max-deleted-entry-id"] == "2-0"
    assert error_of(r.xadd, "s", {"a": 1}, "9-0").startswith("The ID specified in XADD is equal or smaller")
    assert error_of(r.execute_command, "XSETID", "missing", "1-0") == "no such key"


def test_transactions_do_not_block(r):
    r.xadd("s", {"a": 1}, id="1-0")
    pipe = r.pipeline(transaction=True)
    pipe.xread({"s": "$"}, block=0)
    pipe.xlen("s")
    assert pipe.execute() == [[], 1]
