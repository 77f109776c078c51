"""List commands against a real tern node: every command, its options and errors, RESP2 and
RESP3 reply forms, and real blocking behaviour (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP)."""

import threading
import time

import pytest
import redis

from conftest import PASSWORD_A, PASSWORD_B, TernNode, recv_until, resp_command

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


# Each test gets a fresh node: FLUSHDB (used by the shared fixtures) belongs to another command
# family and may be missing from this build, and a new process is as clean as it gets.
@pytest.fixture
def node():
    n = TernNode()
    yield n
    assert n.alive(), "tern node crashed during the test"
    n.stop()


@pytest.fixture
def r(node):
    c = node.client(decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def r3(node):
    c = node.client(decode_responses=True, protocol=3)
    yield c
    c.close()


def raw_reply(node, *args):
    """The exact bytes of the reply to one command (RESP2)."""
    s = node.raw()
    try:
        s.sendall(resp_command("AUTH", PASSWORD_A))
        assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
        s.sendall(resp_command(*args))
        return recv_until(s, lambda d: d.endswith(b"\r\n"), timeout=2)
    finally:
        s.close()


def error_of(fn, *args):
    with pytest.raises(redis.ResponseError) as e:
        fn(*args)
    return str(e.value)


def blocked_count(r):
    return sum(1 for c in r.client_list() if "b" in c["flags"])


def wait_blocked(r, n, timeout=5):
    deadline = time.time() + timeout
    while blocked_count(r) < n:
        assert time.time() < deadline, f"never saw {n} blocked clients"
        time.sleep(0.01)


class Call(threading.Thread):
    """Runs one command on its own connection in the background."""

    def __init__(self, node, *args, protocol=2):
        super().__init__(daemon=True)
        self.client = node.client(decode_responses=True, protocol=protocol)
        self.args = args
        self.result = None
        self.error = None
        self.elapsed = None

    def run(self):
        start = time.time()
        try:
            self.result = self.client.execute_command(*self.args)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        self.elapsed = time.time() - start

    def finish(self, timeout=5):
        self.join(timeout)
        assert not self.is_alive(), f"{self.args} is still blocked"
        assert self.error is None, self.error
        self.client.close()
        return self.result


# ----- non-blocking commands ----------------------------------------------------------------


def test_push_and_range(r):
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lpush("l", "x", "y") == 5
    assert r.lrange("l", 0, -1) == ["y", "x", "a", "b", "c"]
    assert r.lrange("l", -2, 100) == ["b", "c"]
    assert r.lrange("l", -100, 1) == ["y", "x"]
    assert r.lrange("l", 3, 1) == []
    assert r.lrange("l", 5, 10) == []
    assert r.lrange("missing", 0, -1) == []
    assert r.llen("l") == 5
    assert r.llen("missing") == 0
    assert error_of(r.lrange, "l", "a", 1) == "value is not an integer or out of range"


def test_pushx(r):
    assert r.lpushx("l", "a") == 0
    assert r.rpushx("l", "a") == 0
    assert r.get("l") is None  # no key was created
    r.rpush("l", "m")
    assert r.lpushx("l", "a", "b") == 3
    assert r.rpushx("l", "y", "z") == 5
    assert r.lrange("l", 0, -1) == ["b", "a", "m", "y", "z"]


def test_pop_without_and_with_count(r):
    r.rpush("l", "a", "b", "c", "d", "e")
    assert r.lpop("l") == "a"
    assert r.rpop("l") == "e"
    assert r.lpop("l", 2) == ["b", "c"]
    assert r.lpop("l", 0) == []
    assert r.rpop("l", 10) == ["d"]
    assert r.get("l") is None  # emptied list deleted (GET on a list would be WRONGTYPE)
    assert r.lpop("l") is None
    assert r.lpop("l", 2) is None
    r.rpush("l", "a", "b", "c")
    assert r.rpop("l", 2) == ["c", "b"]
    assert error_of(r.lpop, "l", -1) == "value is out of range, must be positive"
    assert error_of(r.execute_command, "RPOP", "l", "x") == "value is out of range, must be positive"
    assert error_of(r.execute_command, "LPOP", "l", "1", "2") == "wrong number of arguments for 'lpop' command"


def test_pop_null_forms_on_the_wire(node, r):
    r.rpush("l", "a")
    assert raw_reply(node, "LPOP", "missing") == b"$-1\r\n"
    assert raw_reply(node, "LPOP", "missing", "2") == b"*-1\r\n"
    assert raw_reply(node, "LPOP", "missing", "0") == b"*-1\r\n"
    assert raw_reply(node, "LPOP", "l", "0") == b"*0\r\n"
    assert raw_reply(node, "LMPOP", "1", "missing", "LEFT") == b"*-1\r\n"
    assert raw_reply(node, "LINDEX", "l", "5") == b"$-1\r\n"
    assert raw_reply(node, "LPOS", "l", "zz") == b"$-1\r\n"
    assert raw_reply(node, "RPOPLPUSH", "missing", "l") == b"$-1\r\n"


def test_resp3_forms(r3):
    r3.rpush("l", "a", "b")
    assert r3.lpop("missing", 2) is None
    assert r3.lpop("missing") is None
    assert r3.lpop("l", 1) == ["a"]
    assert r3.lrange("l", 0, -1) == ["b"]
    assert r3.lpos("l", "b", count=0) == [0]
    assert r3.lmpop(1, "missing", direction="LEFT") is None
    assert r3.lmpop(1, "l", direction="LEFT") == ["l", ["b"]]
    assert r3.blpop(["missing"], timeout=0.05) is None
    assert r3.blmove("missing", "d", 0.05, "LEFT", "RIGHT") is None


def test_lindex_and_lset(r):
    r.rpush("l", "a", "b", "c")
    assert r.lindex("l", 0) == "a"
    assert r.lindex("l", -1) == "c"
    assert r.lindex("l", 3) is None
    assert r.lindex("l", -4) is None
    assert r.lindex("missing", 0) is None
    # A missing key answers nil before the index is parsed, as in Redis.
    assert r.execute_command("LINDEX", "missing", "x") is None
    assert error_of(r.lindex, "l", "x") == "value is not an integer or out of range"
    assert r.lset("l", -1, "z") is True
    assert r.lset("l", 0, "A") is True
    assert r.lrange("l", 0, -1) == ["A", "b", "z"]
    assert error_of(r.lset, "l", 3, "v") == "index out of range"
    assert error_of(r.lset, "l", -4, "v") == "index out of range"
    assert error_of(r.lset, "missing", 0, "v") == "no such key"
    assert error_of(r.lset, "missing", "x", "v") == "no such key"
    assert error_of(r.lset, "l", "x", "v") == "value is not an integer or out of range"


def test_linsert(r):
    assert r.linsert("missing", "BEFORE", "a", "b") == 0
    r.rpush("l", "a", "c")
    assert r.linsert("l", "BEFORE", "c", "b") == 3
    assert r.linsert("l", "after", "c", "d") == 4
    assert r.linsert("l", "AFTER", "zz", "e") == -1
    assert r.lrange("l", 0, -1) == ["a", "b", "c", "d"]
    assert error_of(r.execute_command, "LINSERT", "l", "MIDDLE", "a", "b") == "syntax error"
    assert error_of(r.execute_command, "LINSERT", "l", "BEFORE", "a") == "wrong number of arguments for 'linsert' command"


def test_lrem(r):
    r.rpush("l", "a", "b", "a", "c", "a", "b")
    assert r.lrem("l", -1, "a") == 1
    assert r.lrange("l", 0, -1) == ["a", "b", "a", "c", "b"]
    assert r.lrem("l", 1, "b") == 1
    assert r.lrange("l", 0, -1) == ["a", "a", "c", "b"]
    assert r.lrem("l", 0, "a") == 2
    assert r.lrem("l", 0, "zz") == 0
    assert r.lrem("missing", 0, "a") == 0
    assert r.lrem("l", -10, "c") == 1
    assert r.lrem("l", 5, "b") == 1
    assert r.get("l") is None
    assert error_of(r.lrem, "l", "x", "a") == "value is not an integer or out of range"


def test_ltrim(r):
    r.rpush("l", *"abcdef")
    assert r.ltrim("l", 1, -2) is True
    assert r.lrange("l", 0, -1) == ["b", "c", "d", "e"]
    assert r.ltrim("l", -100, 100) is True
    assert r.llen("l") == 4
    assert r.ltrim("l", -2, -1) is True
    assert r.lrange("l", 0, -1) == ["d", "e"]
    assert r.ltrim("missing", 0, 1) is True
    assert error_of(r.ltrim, "l", 0, "x") == "value is not an integer or out of range"
    assert r.ltrim("l", 2, 1) is True
    assert r.get("l") is None


def test_lpos(r):
    r.rpush("l", "a", "b", "c", "1", "2", "3", "c", "c")
    assert r.lpos("l", "c") == 2
    assert r.lpos("l", "c", rank=2) == 6
    assert r.lpos("l", "c", rank=-1) == 7
    assert r.lpos("l", "c", rank=-3) == 2
    assert r.lpos("l", "c", rank=4) is None
    assert r.lpos("l", "c", count=2) == [2, 6]
    assert r.lpos("l", "c", count=0) == [2, 6, 7]
    assert r.lpos("l", "c", count=0, rank=-2) == [6, 2]
    assert r.lpos("l", "c", count=0, maxlen=7) == [2, 6]
    assert r.lpos("l", "c", rank=-1, maxlen=1) == 7
    assert r.lpos("l", "c", maxlen=2) is None
    assert r.lpos("l", "zz", count=0) == []
    assert r.lpos("missing", "a", count=0) == []
    assert r.lpos("missing", "a") is None
    rank0 = (
        "RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
        "or use negative to start from the end of the list"
    )
    assert error_of(r.lpos, "l", "c", 0) == rank0
    assert error_of(r.execute_command, "LPOS", "l", "c", "RANK", "x") == "value is not an integer or out of range"
    assert error_of(r.execute_command, "LPOS", "l", "c", "COUNT", "-1") == "COUNT can't be negative"
    assert error_of(r.execute_command, "LPOS", "l", "c", "MAXLEN", "-1") == "MAXLEN can't be negative"
    assert error_of(r.execute_command, "LPOS", "l", "c", "RANK") == "syntax error"
    assert error_of(r.execute_command, "LPOS", "l", "c", "FOO", "1") == "syntax error"
    assert error_of(r.execute_command, "LPOS", "l") == "wrong number of arguments for 'lpos' command"


def test_lmove_and_rpoplpush(r):
    r.rpush("src", "a", "b", "c")
    assert r.rpoplpush("src", "dst") == "c"
    assert r.lmove("src", "dst", "LEFT", "RIGHT") == "a"
    assert r.lrange("dst", 0, -1) == ["c", "a"]
    assert r.lmove("src", "src", "LEFT", "RIGHT") == "b"  # rotation of a one-element list
    assert r.lrange("src", 0, -1) == ["b"]
    assert r.rpoplpush("src", "dst") == "b"
    assert r.get("src") is None
    assert r.rpoplpush("src", "dst") is None
    assert r.lmove("dst", "dst", "RIGHT", "LEFT") == "a"
    assert r.lrange("dst", 0, -1) == ["a", "b", "c"]
    assert error_of(r.execute_command, "LMOVE", "dst", "x", "LEFT", "UP") == "syntax error"
    assert error_of(r.execute_command, "LMOVE", "missing", "x", "UP", "LEFT") == "syntax error"


def test_lmpop(r):
    r.rpush("b", "1", "2", "3")
    assert r.lmpop(2, "a", "b", direction="LEFT") == ["b", ["1"]]
    assert r.lmpop(2, "a", "b", direction="RIGHT", count=5) == ["b", ["3", "2"]]
    assert r.lmpop(2, "a", "b", direction="RIGHT") is None
    assert r.get("b") is None
    numkeys = "numkeys should be greater than 0"
    assert error_of(r.execute_command, "LMPOP", "0", "a", "LEFT") == numkeys
    assert error_of(r.execute_command, "LMPOP", "x", "a", "LEFT") == numkeys
    assert error_of(r.execute_command, "LMPOP", "2", "a", "LEFT") == "syntax error"
    assert error_of(r.execute_command, "LMPOP", "1", "a", "UP") == "syntax error"
    assert error_of(r.execute_command, "LMPOP", "1", "a", "LEFT", "COUNT", "0") == "count should be greater than 0"
    assert error_of(r.execute_command, "LMPOP", "1", "a", "LEFT", "COUNT") == "syntax error"
    assert error_of(r.execute_command, "LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1") == "syntax error"
    assert error_of(r.execute_command, "LMPOP", "1", "a") == "wrong number of arguments for 'lmpop' command"


def test_wrong_type(r):
    r.set("s", "v")
    r.rpush("l", "a")
    for args in [
        ("LPUSH", "s", "a"),
        ("RPUSH", "s", "a"),
        ("LPUSHX", "s", "a"),
        ("RPUSHX", "s", "a"),
        ("LPOP", "s"),
        ("RPOP", "s", "2"),
        ("LLEN", "s"),
        ("LRANGE", "s", "0", "-1"),
        ("LINDEX", "s", "0"),
        ("LSET", "s", "0", "x"),
        ("LINSERT", "s", "BEFORE", "a", "b"),
        ("LREM", "s", "0", "a"),
        ("LTRIM", "s", "0", "1"),
        ("LPOS", "s", "a"),
        ("RPOPLPUSH", "s", "l"),
        ("RPOPLPUSH", "l", "s"),
        ("LMOVE", "l", "s", "LEFT", "RIGHT"),
        ("LMPOP", "2", "missing", "s", "LEFT"),
        ("BLPOP", "missing", "s", "0"),
        ("BRPOP", "s", "0"),
        ("BRPOPLPUSH", "s", "l", "0"),
        ("BLMOVE", "l", "s", "LEFT", "LEFT", "0"),
        ("BLMPOP", "0", "1", "s", "LEFT"),
    ]:
        assert error_of(r.execute_command, *args) == WRONGTYPE, args
    assert r.lrange("l", 0, -1) == ["a"]  # nothing moved onto the string
    assert r.get("s") == "v"


def test_blocking_commands_serve_at_once_when_data_is_there(r):
    r.rpush("k2", "a", "b", "c")
    assert r.blpop(["k1", "k2"], timeout=0) == ("k2", "a")
    assert r.brpop(["k1", "k2"], timeout=0) == ("k2", "c")
    assert r.brpoplpush("k2", "d", timeout=0) == "b"
    assert r.blmove("d", "e", 0, "LEFT", "RIGHT") == "b"
    r.rpush("k3", "x", "y")
    assert r.blmpop(0, 2, "k2", "k3", direction="RIGHT", count=9) == ["k3", ["y", "x"]]
    assert r.get("k3") is None


def test_blocking_argument_errors(r):
    assert error_of(r.execute_command, "BLPOP", "k", "-1") == "timeout is negative"
    assert error_of(r.execute_command, "BLPOP", "k", "x") == "timeout is not a float or out of range"
    assert error_of(r.execute_command, "BRPOP", "k", "nan") == "timeout is not a float or out of range"
    assert error_of(r.execute_command, "BRPOPLPUSH", "k", "d", "x") == "timeout is not a float or out of range"
    assert error_of(r.execute_command, "BLMOVE", "k", "d", "LEFT", "UP", "x") == "syntax error"
    assert error_of(r.execute_command, "BLMOVE", "k", "d", "LEFT", "LEFT", "-2") == "timeout is negative"
    # BLMPOP checks numkeys before the timeout, as Redis does.
    assert error_of(r.execute_command, "BLMPOP", "x", "0", "k", "LEFT") == "numkeys should be greater than 0"
    assert error_of(r.execute_command, "BLMPOP", "x", "1", "k", "LEFT") == "timeout is not a float or out of range"
    assert error_of(r.execute_command, "BLMPOP", "0", "1", "k", "LEFT", "COUNT", "0") == "count should be greater than 0"
    assert error_of(r.execute_command, "BLPOP", "k") == "wrong number of arguments for 'blpop' command"
    assert error_of(r.execute_command, "BLMPOP", "0", "1", "k") == "wrong number of arguments for 'blmpop' command"


# ----- real blocking ------------------------------------------------------------------------


def test_blpop_is_woken_by_a_push_from_another_client(node, r):
    call = Call(node, "BLPOP", "q", "0")
    call.start()
    wait_blocked(r, 1)
    assert r.lpush("q", "hello") == 1
    assert call.finish() == ("q", "hello")
    assert r.get("q") is None  # the element went to the blocked client


def test_brpop_and_brpoplpush_are_woken(node, r):
    brpop = Call(node, "BRPOP", "q", "0")
    brpop.start()
    wait_blocked(r, 1)
    r.rpush("q", "a", "b")
    assert brpop.finish() == ("q", "b")
    move = Call(node, "BRPOPLPUSH", "src", "dst", "0")
    move.start()
    wait_blocked(r, 1)
    r.rpush("src", "x")
    assert move.finish() == "x"
    assert r.lrange("dst", 0, -1) == ["x"]
    assert r.get("src") is None


def test_blocked_clients_are_served_in_fifo_order(node, r):
    calls = []
    for i in range(3):
        call = Call(node, "BLPOP", "q", "0")
        call.client.client_setname(f"waiter{i}")
        call.start()
        wait_blocked(r, i + 1)  # block strictly one after the other
        calls.append(call)
    r.rpush("q", "first", "second", "third")
    assert [c.finish() for c in calls] == [("q", "first"), ("q", "second"), ("q", "third")]
    assert r.get("q") is None


def test_one_push_serves_only_the_oldest_waiter(node, r):
    first = Call(node, "BLPOP", "q", "0")
    first.start()
    wait_blocked(r, 1)
    second = Call(node, "BLPOP", "q", "0")
    second.start()
    wait_blocked(r, 2)
    r.rpush("q", "only")
    assert first.finish() == ("q", "only")
    time.sleep(0.1)
    assert second.is_alive()  # still waiting: nothing left for it
    assert blocked_count(r) == 1
    r.rpush("q", "next")
    assert second.finish() == ("q", "next")


def test_timeout_with_fractional_seconds(node, r):
    start = time.time()
    assert r.blpop(["q"], timeout=0.3) is None
    elapsed = time.time() - start
    assert 0.25 <= elapsed < 2.0, elapsed
    start = time.time()
    assert r.blmpop(0.2, 1, "q", direction="LEFT") is None
    assert 0.15 <= time.time() - start < 2.0


def test_timeout_replies_on_the_wire(node):
    s = node.raw()
    try:
        s.sendall(resp_command("AUTH", PASSWORD_A))
        assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
        # Redis 7 answers every timed-out list block with a null array, BLMOVE included.
        for args in [
            ("BLPOP", "q", "0.05"),
            ("BRPOP", "q", "p", "0.05"),
            ("BLMPOP", "0.05", "1", "q", "LEFT"),
            ("BRPOPLPUSH", "q", "d", "0.05"),
            ("BLMOVE", "q", "d", "LEFT", "LEFT", "0.05"),
        ]:
            s.sendall(resp_command(*args))
            assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"*-1\r\n", args
    finally:
        s.close()


def test_blmove_is_woken(node, r):
    call = Call(node, "BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
    call.start()
    wait_blocked(r, 1)
    r.rpush("dst", "old")
    time.sleep(0.05)
    assert call.is_alive()  # a push to the destination does not wake it
    r.rpush("src", "a", "b")
    assert call.finish() == "b"
    assert r.lrange("src", 0, -1) == ["a"]
    assert r.lrange("dst", 0, -1) == ["b", "old"]


def test_blmove_feeds_a_client_blocked_on_its_destination(node, r):
    pop = Call(node, "BLPOP", "dst", "0")
    pop.start()
    wait_blocked(r, 1)
    move = Call(node, "BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")
    move.start()
    wait_blocked(r, 2)
    r.rpush("src", "v")
    assert move.finish() == "v"
    assert pop.finish() == ("dst", "v")
    assert r.get("dst") is None


def test_blmpop_is_woken_with_count(node, r):
    call = Call(node, "BLMPOP", "0", "2", "x", "y", "RIGHT", "COUNT", "2")
    call.start()
    wait_blocked(r, 1)
    r.rpush("y", "1", "2", "3")
    assert call.finish() == ["y", ["3", "2"]]
    assert r.lrange("y", 0, -1) == ["1"]


def test_client_blocked_on_two_keys(node, r):
    call = Call(node, "BLPOP", "k1", "k2", "0")
    call.start()
    wait_blocked(r, 1)
    r.rpush("k2", "from-k2")
    assert call.finish() == ("k2", "from-k2")
    # Both keys non-empty: the first in argument order wins.
    r.rpush("k1", "a")
    r.rpush("k2", "b")
    assert r.blpop(["k2", "k1"], timeout=0) == ("k2", "b")


def test_push_inside_multi_wakes_a_blocked_client(node, r):
    try:
        r.execute_command("MULTI")
        r.execute_command("DISCARD")
    except redis.ResponseError as e:
        pytest.skip(f"MULTI/EXEC not in this build: {e}")
    call = Call(node, "BLPOP", "q", "0")
    call.start()
    wait_blocked(r, 1)
    pipe = r.pipeline(transaction=True)
    pipe.rpush("q", "a")
    pipe.rpush("q", "b")
    assert pipe.execute() == [1, 2]
    assert call.finish() == ("q", "a")
    assert r.lrange("q", 0, -1) == ["b"]


def test_blocking_commands_inside_multi_do_not_block(r):
    try:
        r.execute_command("MULTI")
        r.execute_command("DISCARD")
    except redis.ResponseError as e:
        pytest.skip(f"MULTI/EXEC not in this build: {e}")
    pipe = r.pipeline(transaction=True)
    pipe.blpop(["q"], timeout=0)
    pipe.blmove("q", "d", 0, "LEFT", "LEFT")
    pipe.rpush("q", "a")
    pipe.blpop(["q"], timeout=0)
    assert pipe.execute() == [None, None, 1, ("q", "a")]


def test_disconnected_waiter_does_not_lose_elements(node, r):
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A))
    assert recv_until(s, lambda d: d.endswith(b"\r\n")) == b"+OK\r\n"
    s.sendall(resp_command("BLPOP", "q", "0"))
    wait_blocked(r, 1)
    s.close()
    deadline = time.time() + 5
    while blocked_count(r) > 0:
        assert time.time() < deadline, "the closed client stayed blocked"
        time.sleep(0.01)
    assert r.rpush("q", "kept") == 1
    assert r.lpop("q") == "kept"
    # Same with a live waiter arriving afterwards.
    s = node.raw()
    s.sendall(resp_command("AUTH", PASSWORD_A))
    recv_until(s, lambda d: d.endswith(b"\r\n"))
    s.sendall(resp_command("BLPOP", "q", "0"))
    wait_blocked(r, 1)
    s.close()
    time.sleep(0.05)
    r.rpush("q", "again")
    assert r.blpop(["q"], timeout=1) == ("q", "again")


def test_timed_out_waiter_does_not_take_later_elements(node, r):
    assert r.brpop(["q"], timeout=0.1) is None
    r.rpush("q", "later")
    assert r.lrange("q", 0, -1) == ["later"]


def test_other_database_does_not_wake(node, r):
    other = node.client(password=PASSWORD_B, decode_responses=True)
    call = Call(node, "BLPOP", "q", "0.5")
    call.start()
    wait_blocked(r, 1)
    other.rpush("q", "elsewhere")
    assert call.finish() is None
    assert other.lrange("q", 0, -1) == ["elsewhere"]
    other.close()


def test_blmove_to_wrong_type_destination_unblocks_with_error_and_serves_next(node):
    """Regression: a waiter whose BLMOVE destination holds a string must get WRONGTYPE and let
    the next waiter on the same key be served (it used to stay blocked, and block the queue)."""
    import threading

    main = node.client(decode_responses=True)
    main.flushdb()
    main.set("dst", "a string")
    results = {}

    def mover():
        c = node.client(decode_responses=True)
        try:
            results["mover"] = c.execute_command("BLMOVE", "src", "dst", "LEFT", "RIGHT", 5)
        except Exception as e:  # noqa: BLE001 - the error text is the point
            results["mover"] = str(e)

    def popper():
        c = node.client(decode_responses=True)
        results["popper"] = c.blpop(["src"], 5)

    t1 = threading.Thread(target=mover)
    t1.start()
    time.sleep(0.2)
    t2 = threading.Thread(target=popper)
    t2.start()
    time.sleep(0.2)
    main.rpush("src", "x")
    t1.join(6)
    t2.join(6)
    assert results["mover"].startswith("WRONGTYPE"), results
    assert results["popper"] == ("src", "x") or results["popper"] == ["src", "x"], results
