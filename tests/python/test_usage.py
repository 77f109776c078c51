"""Usage metering end to end: `tern dev`, known Redis commands (billable and free) and Kafka
messages, the node's report, `tern usage --json`; then a restart of everything, after which
the counts neither reset nor double."""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.maint_notifications import MaintNotificationsConfig
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
TERN_BIN = os.environ.get("TERN_BIN", str(ROOT / "target" / "debug" / "tern"))

BILLABLE_SETS = 25
BILLABLE_GETS = 10
MESSAGES = 20


class Dev:
    """`tern dev` on free ports with one region; its printed settings."""

    def __init__(self, data_dir):
        args = [TERN_BIN, "dev", "--data-dir", data_dir, "--regions", "mad", "--redis-addr", "127.0.0.1:0",
                "--api-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0"]
        self.log_path = Path(data_dir) / "dev.log"
        self.out_path = Path(data_dir) / "dev.out"
        self.proc = subprocess.Popen(args, stdout=open(self.out_path, "w"), stderr=open(self.log_path, "a"))
        self.env = dict(os.environ)
        deadline = time.time() + 60
        while "Press Ctrl-C" not in self.out_path.read_text():
            assert self.proc.poll() is None and time.time() < deadline, self.log_path.read_text()
            time.sleep(0.1)
        for line in self.out_path.read_text().splitlines():
            if line.startswith("export "):
                key, value = line[len("export "):].split("=", 1)
                self.env[key] = value
            if line.startswith("redis://"):
                self.redis_url = line.strip()

    def usage(self, *args):
        out = subprocess.run([TERN_BIN, "usage", *args], env=self.env, capture_output=True, text=True, check=True)
        return out.stdout

    def counts(self):
        """(billable, free, bytes in, bytes out) of the dev database and (produced, consumed) of
        the dev Kafka cluster, today."""
        report = json.loads(self.usage("dev", "--json"))
        by_kind = {r["kind"]: r["days"] for r in report["resources"]}
        redis_days, kafka_days = by_kind["redis"], by_kind["kafka"]
        total = lambda days, field: sum(d[field] for d in days)
        return (
            total(redis_days, "billable_commands"),
            total(redis_days, "free_commands"),
            total(redis_days, "bytes_in"),
            total(redis_days, "bytes_out"),
            total(kafka_days, "messages_produced"),
            total(kafka_days, "messages_consumed"),
        )

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for(dev, predicate, timeout=30):
    deadline = time.time() + timeout
    while True:
        counts = dev.counts()
        if predicate(counts):
            return counts
        assert time.time() < deadline, f"usage never matched: {counts}"
        time.sleep(0.5)


def kafka_conf(dev):
    return {
        "bootstrap.servers": dev.env["TCP_ENDPOINT"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": dev.env["KAFKA_USERNAME"],
        "sasl.password": dev.env["KAFKA_PASSWORD"],
    }


def client(url, **kw):
    """A client that sends only HELLO/AUTH on connect (free, and before the connection has a
    database): no CLIENT SETINFO, no CLIENT MAINT_NOTIFICATIONS (redis-py 8)."""
    return redis.Redis.from_url(url, driver_info=None, lib_name=None, lib_version=None,
                                maint_notifications_config=MaintNotificationsConfig(enabled=False), **kw)


def run_redis_commands(dev):
    r = client(dev.redis_url, decode_responses=True)
    for i in range(BILLABLE_SETS):
        r.set(f"k{i}", "v" * 100)
    for i in range(BILLABLE_GETS):
        assert r.get(f"k{i}") == "v" * 100
    # Free: 3 PINGs, 2 GETs of a missing key (nil), a BLPOP that times out.
    for _ in range(3):
        r.ping()
    assert r.get("missing-1") is None and r.get("missing-2") is None
    assert r.blpop(["empty-queue"], timeout=1) is None
    # A transaction: SET and INCR billed, MULTI and EXEC free.
    pipe = r.pipeline(transaction=True)
    pipe.set("counter", 1).incr("counter")
    assert pipe.execute() == [True, 2]
    r.close()
    return BILLABLE_SETS + BILLABLE_GETS + 2, 3 + 2 + 1 + 2


def run_kafka(dev):
    admin = AdminClient(kafka_conf(dev))
    for future in admin.create_topics([NewTopic("metered", num_partitions=1, replication_factor=1)]).values():
        future.result(timeout=20)
    producer = Producer({**kafka_conf(dev), "enable.idempotence": True, "linger.ms": 5})
    for i in range(MESSAGES):
        producer.produce("metered", key=b"k", value=f"message {i}".encode())
    assert producer.flush(20) == 0
    consumer = Consumer({**kafka_conf(dev), "group.id": "metering-test", "auto.offset.reset": "earliest"})
    consumer.subscribe(["metered"])
    received = 0
    deadline = time.time() + 30
    while received < MESSAGES and time.time() < deadline:
        msg = consumer.poll(1)
        if msg is not None and not msg.error():
            received += 1
    consumer.close()
    assert received == MESSAGES


def test_usage_is_counted_reported_and_survives_restarts():
    with tempfile.TemporaryDirectory() as data_dir:
        dev = Dev(data_dir)
        try:
            billable, free = run_redis_commands(dev)
            run_kafka(dev)
            counts = wait_for(dev, lambda c: c[0] >= billable and c[4] >= MESSAGES and c[5] >= MESSAGES)
            assert counts[:2] == (billable, free), counts
            assert counts[2] > BILLABLE_SETS * 100 and counts[3] > BILLABLE_GETS * 100, counts
            assert counts[4:] == (MESSAGES, MESSAGES), counts
            # Several more reports of the same hour: replaced, not added.
            time.sleep(5)
            assert dev.counts() == counts
            text = dev.usage()
            assert "Bill for" in text and "Total: $" in text, text
        finally:
            dev.stop()

        dev = Dev(data_dir)
        try:
            time.sleep(5)
            assert dev.counts() == counts, "a restart reset or doubled the counts"
            r = client(dev.redis_url)
            for i in range(5):
                r.set(f"after-restart-{i}", "x")
            r.close()
            after = wait_for(dev, lambda c: c[0] >= billable + 5)
            assert after[:2] == (billable + 5, free), after
            status = subprocess.run([TERN_BIN, "redis", "status", "dev"], env=dev.env, capture_output=True,
                                    text=True, check=True).stdout
            assert f"{billable + 5} billable" in status, status
        finally:
            dev.stop()
