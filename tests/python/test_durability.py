"""Durability: acknowledged writes survive SIGKILL under fsync=always (also while snapshots
run, and for an `always` database beside an `everysec` one on the same node); restarts keep
data, from the log or from a snapshot plus the log after it; a torn log tail is cut;
corruption in the middle refuses the database; snapshots keep disk use bounded."""

import random
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from conftest import PASSWORD_A, TernNode


def start(data_dir, fsync="always", snapshot_min_log_bytes=None, extra_args=()):
    extra = ["--data-dir", str(data_dir), "--fsync", fsync, *extra_args]
    if snapshot_min_log_bytes is not None:
        extra += ["--snapshot-min-log-bytes", str(snapshot_min_log_bytes)]
    return TernNode(extra_args=tuple(extra))


def kill9(node):
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(5)
    node.log.close()


# With a tiny threshold, snapshots run back to back while the writer writes, so the kills
# land before, during and after snapshot steps (temp file, rename, log cut).
@pytest.mark.parametrize("snapshot_min_log_bytes", [None, 4096], ids=["log-only", "snapshotting"])
def test_acknowledged_writes_survive_sigkill_under_always(tmp_path, snapshot_min_log_bytes):
    rng = random.Random(11)
    acked = {}          # key -> value acknowledged by the server
    in_flight = {}      # key -> value sent but maybe not acknowledged
    counter_acked = 0
    n = 0
    for round_no in range(20):
        node = start(tmp_path, snapshot_min_log_bytes=snapshot_min_log_bytes)
        c = node.client(socket_timeout=5)
        # Everything acknowledged in earlier rounds is here, nothing else was invented.
        if acked or in_flight:
            keys = list(acked) + list(in_flight)
            values = c.mget(keys)
            got = dict(zip(keys, values))
            for k, v in acked.items():
                assert got[k] == v, f"round {round_no}: acknowledged {k} lost"
            for k, v in in_flight.items():
                assert got[k] in (None, v), f"round {round_no}: {k} has an invented value"
                if got[k] is not None:
                    acked[k] = v
            counter = int(c.get("counter") or 0)
            assert counter_acked <= counter <= counter_acked + 1
            counter_acked = counter
        in_flight = {}
        stop = threading.Event()
        errors = []

        def writer():
            nonlocal n, counter_acked
            w = node.client(socket_timeout=5, retry=Retry(NoBackoff(), 0))
            while not stop.is_set():
                n += 1
                key, value = f"key:{n}".encode(), f"value:{n}".encode()
                in_flight[key] = value
                try:
                    w.set(key, value)
                    acked[key] = in_flight.pop(key)
                    counter_acked = w.incr("counter")
                except redis.ConnectionError:
                    return
                except Exception as e:  # noqa: BLE001
                    errors.append(e)
                    return

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        kill9(node)
        stop.set()
        t.join(10)
        assert not errors, errors
        node.tmp.cleanup()
    assert len(acked) > 50, "the test wrote too little to mean anything"
    if snapshot_min_log_bytes:
        assert list((tmp_path / "alpha").glob("snapshot.*.tern")), "no snapshot was ever taken"


class Ledger:
    """One database's writes across kills: what was acknowledged, what was in flight."""

    def __init__(self, password, prefix):
        self.password, self.prefix = password, prefix
        self.acked, self.in_flight, self.errors = {}, {}, []
        self.n = 0
        self.lost = 0

    def check(self, node, round_no, keeps_every_ack):
        """After a restart: nothing invented; with `keeps_every_ack`, nothing acknowledged lost
        (else lost acknowledged writes are counted and forgotten)."""
        keys = list(self.acked) + list(self.in_flight)
        got = dict(zip(keys, node.client(password=self.password).mget(keys))) if keys else {}
        for k, v in list(self.acked.items()):
            if got[k] != v:
                assert not keeps_every_ack, f"round {round_no}: acknowledged {k} of {self.prefix} lost"
                assert got[k] is None, f"round {round_no}: {k} has an invented value"
                del self.acked[k]
                self.lost += 1
        for k, v in self.in_flight.items():
            assert got[k] in (None, v), f"round {round_no}: {k} has an invented value"
            if got[k] is not None:
                self.acked[k] = v
        self.in_flight = {}

    def write(self, node, stop):
        w = node.client(password=self.password, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        while not stop.is_set():
            self.n += 1
            key, value = f"{self.prefix}:{self.n}".encode(), f"value:{self.n}".encode()
            self.in_flight[key] = value
            try:
                w.set(key, value)
                self.acked[key] = self.in_flight.pop(key)
            except redis.ConnectionError:
                return
            except Exception as e:  # noqa: BLE001
                self.errors.append(e)
                return


def test_always_database_beside_an_everysec_one_keeps_every_ack_across_sigkill(tmp_path):
    """One node, default everysec; the tenants file makes `strict` always and `loose` everysec.
    Both are written at once and the node is SIGKILLed; `strict` never loses an acknowledged
    write (an everysec database may lose its last ~10 ms, not yet handed to the OS)."""
    tenants = tmp_path / "tenants.txt"
    tenants.write_text("strict:pw-strict fsync=always\nloose:pw-loose fsync=everysec\n")
    data = tmp_path / "data"
    strict, loose = Ledger("pw-strict", "strict"), Ledger("pw-loose", "loose")
    rng = random.Random(7)
    for round_no in range(10):
        node = start(data, fsync="everysec", extra_args=("--tenants-file", str(tenants)))
        policies = {
            pw: node.client(password=pw).info("persistence")["aof_fsync"]
            for pw in ("pw-strict", "pw-loose", PASSWORD_A)
        }
        assert policies == {"pw-strict": "always", "pw-loose": "everysec", PASSWORD_A: "everysec"}
        strict_config = node.client(password="pw-strict", decode_responses=True).config_get("append*")
        assert strict_config == {"appendfsync": "always", "appendonly": "yes"}
        strict.check(node, round_no, keeps_every_ack=True)
        loose.check(node, round_no, keeps_every_ack=False)
        stop = threading.Event()
        threads = [threading.Thread(target=ledger.write, args=(node, stop)) for ledger in (strict, loose)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.1, 0.4))
        kill9(node)
        stop.set()
        for t in threads:
            t.join(10)
        assert not strict.errors and not loose.errors, (strict.errors, loose.errors)
        node.tmp.cleanup()
    node = start(data, fsync="everysec", extra_args=("--tenants-file", str(tenants)))
    try:
        strict.check(node, "last", keeps_every_ack=True)
        loose.check(node, "last", keeps_every_ack=False)
    finally:
        node.stop()
    assert len(strict.acked) > 50 and len(loose.acked) > 50, "the test wrote too little to mean anything"
    print(f"acknowledged: strict {len(strict.acked)}, loose {len(loose.acked)}; loose lost {loose.lost}")


def test_everysec_loses_at_most_about_a_second(tmp_path):
    node = start(tmp_path, fsync="everysec")
    c = node.client()
    for i in range(200):
        c.set(f"k{i}", i)
    time.sleep(1.5)
    kill9(node)
    node.tmp.cleanup()
    node = start(tmp_path, fsync="everysec")
    try:
        assert node.client().dbsize() == 200
    finally:
        node.stop()


def test_clean_restart_keeps_every_type_and_ttl(tmp_path):
    node = start(tmp_path, fsync="everysec")
    c = node.client(decode_responses=True)
    c.set("s", "v")
    c.set("ttl", "v", ex=100)
    c.set("expired", "v", px=50)
    c.rpush("l", "a", "b")
    c.hset("h", mapping={"f": "1"})
    c.sadd("set", "x", "y")
    c.zadd("z", {"m": 1.5})
    c.incrbyfloat("f", 0.1)
    time.sleep(0.1)
    node.stop()
    node = start(tmp_path, fsync="everysec")
    try:
        c = node.client(decode_responses=True)
        assert c.get("s") == "v"
        assert 95 <= c.ttl("ttl") <= 100
        assert c.get("expired") is None
        assert c.lrange("l", 0, -1) == ["a", "b"]
        assert c.hgetall("h") == {"f": "1"}
        assert c.smembers("set") == {"x", "y"}
        assert c.zscore("z", "m") == 1.5
        assert c.get("f") == "0.1"
        info = c.info("persistence")
        assert info["aof_enabled"] == 1 and info["aof_fsync"] == "everysec"
    finally:
        node.stop()


def log_file(data_dir):
    return Path(data_dir) / "alpha" / "changes.log"


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_torn_tail_is_cut_and_the_database_starts(tmp_path, fsync):
    node = start(tmp_path, fsync=fsync)
    node.client().set("before", "1")
    node.stop()
    data = log_file(tmp_path).read_bytes()
    # An `always` log keeps zeroed space after its last record (it ends in "1", the value):
    # a half-written record lands there, before the zeros, as it would have when the process died.
    end = len(data.rstrip(b"\0"))
    assert fsync == "always" or end == len(data), "only always logs write zeros ahead"
    assert fsync == "everysec" or end < len(data), "always logs write zeros ahead"
    torn = b"\x30\x00\x00\x00garbage-of-a-half-written-record"
    log_file(tmp_path).write_bytes(data[:end] + torn + data[end + len(torn):])
    node = start(tmp_path, fsync=fsync)
    try:
        c = node.client()
        assert c.get("before") == b"1"
        c.set("after", "2")
    finally:
        node.stop()
    node = start(tmp_path, fsync=fsync)
    try:
        assert node.client().mget("before", "after") == [b"1", b"2"]
    finally:
        node.stop()


def test_corruption_in_the_middle_refuses_to_start(tmp_path):
    node = start(tmp_path)
    c = node.client()
    for i in range(20):
        c.set(f"k{i}", "v" * 20)
    node.stop()
    data = bytearray(log_file(tmp_path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    log_file(tmp_path).write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="corrupt"):
        start(tmp_path)


def wait_for_snapshot(c, timeout=10.0):
    deadline = time.time() + timeout
    while c.info("persistence")["rdb_bgsave_in_progress"]:
        assert time.time() < deadline, "snapshot did not finish"
        time.sleep(0.02)


def snapshot_files(data_dir):
    return sorted(p.name for p in (Path(data_dir) / "alpha").iterdir())


def test_restart_from_a_snapshot_keeps_every_type_and_ttl(tmp_path):
    node = start(tmp_path, fsync="everysec")
    c = node.client(decode_responses=True)
    c.set("s", "v")
    c.set("ttl", "v", ex=100)
    c.set("expired", "v", px=300)
    c.rpush("l", "a", "b")
    c.hset("h", mapping={"f": "1"})
    c.sadd("set", "x", "y")
    c.zadd("z", {"m": 1.5})
    c.xadd("st", {"f": "v"}, id="1-1")
    c.xgroup_create("st", "g", id="0")
    c.xreadgroup("g", "alice", {"st": ">"})
    before = c.lastsave()
    time.sleep(1.1)
    assert c.bgsave()
    wait_for_snapshot(c)
    assert c.lastsave() > before
    info = c.info("persistence")
    assert info["rdb_changes_since_last_save"] == 0
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["tern_snapshot_bytes"] > 0
    c.set("after", "snapshot")  # only in the log after the snapshot
    c.delete("s")
    time.sleep(0.4)  # "expired" passes its deadline while it is in the snapshot
    node.stop()
    names = snapshot_files(tmp_path)
    assert any(n.startswith("snapshot.") and n.endswith(".tern") for n in names), names
    node = start(tmp_path, fsync="everysec")
    try:
        c = node.client(decode_responses=True)
        assert c.get("s") is None
        assert c.get("after") == "snapshot"
        assert 95 <= c.ttl("ttl") <= 100
        assert c.get("expired") is None
        assert c.lrange("l", 0, -1) == ["a", "b"]
        assert c.hgetall("h") == {"f": "1"}
        assert c.smembers("set") == {"x", "y"}
        assert c.zscore("z", "m") == 1.5
        assert c.xpending("st", "g")["pending"] == 1
        assert c.lastsave() >= before
    finally:
        node.stop()


def test_bgsave_save_and_lastsave(tmp_path):
    node = start(tmp_path)
    try:
        c = node.client(decode_responses=True)
        c.set("k", "v")
        assert c.info("persistence")["rdb_changes_since_last_save"] >= 1
        assert c.save()
        assert c.info("persistence")["rdb_changes_since_last_save"] == 0
        c.set_response_callback("BGSAVE", lambda reply, **_: reply)  # keep the status text
        assert c.execute_command("BGSAVE") == "Background saving started"
        with pytest.raises(redis.ResponseError, match="syntax"):
            c.execute_command("BGSAVE", "NOW")
        wait_for_snapshot(c)
        assert abs(c.lastsave().timestamp() - time.time()) < 5
    finally:
        node.stop()


def test_bgsave_without_a_data_dir_is_an_error(r):
    with pytest.raises(redis.ResponseError, match="persistence"):
        r.bgsave()


def test_disk_use_stays_bounded_when_overwriting_the_same_keys(tmp_path):
    node = start(tmp_path, fsync="everysec", snapshot_min_log_bytes=64 * 1024)
    try:
        c = node.client()
        value = b"x" * 100
        for round_no in range(200):
            pipe = c.pipeline(transaction=False)
            for i in range(100):
                pipe.set(f"key:{i}", value + str(round_no).encode())
            pipe.execute()
        time.sleep(0.5)
        wait_for_snapshot(c)
        written = 200 * 100 * 130  # bytes of log records written, about
        used = sum(p.stat().st_size for p in (tmp_path / "alpha").iterdir())
        assert used < 512 * 1024 < written, (used, snapshot_files(tmp_path))
        assert c.get("key:7") == value + b"199"
    finally:
        node.stop()
    node = start(tmp_path, fsync="everysec")
    try:
        c = node.client()
        assert c.dbsize() == 100
        assert c.get("key:99") == value + b"199"
    finally:
        node.stop()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_clean_stop_keeps_every_acknowledged_everysec_write(tmp_path, stop_signal):
    # systemd, Docker and Kubernetes stop a process with SIGTERM, a terminal with Ctrl-C:
    # either way the node writes what it acknowledged before it exits, as redis-server does,
    # even the writes still in the everysec gathering pause.
    node = start(tmp_path, fsync="everysec")
    c = node.client()
    pipe = c.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"key:{i}", f"value-{i}")
    assert all(pipe.execute())
    c.set("last", "written just before the stop")
    node.proc.send_signal(stop_signal)
    assert node.proc.wait(10) == 0, "a stop signal is a clean exit"
    node.log.close()
    node = start(tmp_path, fsync="everysec")
    try:
        c = node.client()
        assert c.dbsize() == 2001
        assert c.get("last") == b"written just before the stop"
        assert c.get("key:1999") == b"value-1999"
    finally:
        node.stop()
