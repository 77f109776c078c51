"""Storage of the Kafka broker against a real node: retention by size and by time deletes old
segments, compaction keeps the newest value per key, LogAppendTime topics stamp the broker's
clock. The node runs retention and compaction every 300 ms (a hidden `tern node` flag) instead
of every 30 s."""

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, Producer, \
    TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from kafka_node import KafkaNode

CLEANUP_INTERVAL_MS = 300


@pytest.fixture(scope="module")
def kafka():
    node = KafkaNode(extra_args=["--kafka-cleanup-interval-ms", str(CLEANUP_INTERVAL_MS)])
    yield node
    assert node.alive(), "tern node crashed during the storage tests"
    node.stop()


def create_topic(node, config):
    name = f"s-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(node.config())
    admin.create_topics([NewTopic(name, 1, config=config)])[name].result(10)
    return name


def segment_files(node, topic):
    [topic_dir] = Path(node.data_dir, "kafka").glob(f"*/topics/{topic}-*")
    return sorted(Path(topic_dir, "0").glob("*.log"))


def produce(node, topic, records):
    """Sends (key, value, timestamp_ms or None) one batch each, so segments fill up evenly."""
    producer = Producer(node.config(**{"linger.ms": 0, "compression.type": "none", "acks": "all"}))
    for key, value, timestamp in records:
        extra = {"timestamp": timestamp} if timestamp else {}
        producer.produce(topic, key=key, value=value, **extra)
        assert producer.flush(10) == 0


def read_all(node, topic):
    consumer = Consumer(node.config(**{"group.id": "storage-reader", "enable.auto.commit": False,
                                       "enable.partition.eof": True}))
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.assign([TopicPartition(topic, 0, low)])
    messages = []
    deadline = time.time() + 20
    while time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            break
        messages.append(msg)
    consumer.close()
    return low, high, messages


def wait_until(condition, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_retention_by_size_deletes_the_oldest_segments(kafka):
    topic = create_topic(kafka, {"segment.bytes": "2048"})
    produce(kafka, topic, [(None, b"x" * 200, None) for _ in range(100)])
    total = 100 * 200
    # The limit is set on the live topic: its partition applies it at the next cleanup.
    admin = AdminClient(kafka.config())
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.bytes", "6144", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(10)
    assert wait_until(lambda: sum(f.stat().st_size for f in segment_files(kafka, topic)) < total / 2)
    sizes = [f.stat().st_size for f in segment_files(kafka, topic)]
    # Kafka's rule: whole segments go while the log stays at least retention.bytes big.
    assert 6144 <= sum(sizes) <= 6144 + 2 * 2048 + 300, sizes
    low, high, messages = read_all(kafka, topic)
    assert high == 100 and 0 < low < 100
    assert [m.offset() for m in messages] == list(range(low, 100))


def test_retention_by_time_deletes_segments_whose_records_are_old(kafka):
    topic = create_topic(kafka, {"segment.bytes": "2048", "retention.ms": "60000"})
    old = int(time.time() * 1000) - 3_600_000
    produce(kafka, topic, [(None, f"old{i}".encode() * 20, old + i) for i in range(60)])
    produce(kafka, topic, [(None, f"new{i}".encode() * 20, None) for i in range(5)])
    assert wait_until(lambda: read_all(kafka, topic)[0] > 0)
    low, high, messages = read_all(kafka, topic)
    values = [m.value().decode() for m in messages]
    # Every new record is kept; of the old ones only those sharing a segment with new ones.
    assert values[-5:] == [f"new{i}" * 20 for i in range(5)]
    assert len(values) < 65 and high == 65
    # Whole segments went: the log now starts where its oldest remaining segment does.
    assert low == int(segment_files(kafka, topic)[0].name.split(".")[0])


def test_compaction_keeps_the_newest_value_per_key(kafka):
    topic = create_topic(kafka, {"cleanup.policy": "compact", "segment.bytes": "2048"})
    rounds, keys = 30, 10
    produce(kafka, topic, [(f"k{k}".encode(), f"v{r}-{k}".encode(), None) for r in range(rounds) for k in range(keys)])
    assert wait_until(lambda: len(read_all(kafka, topic)[2]) < rounds * keys / 2)
    _, high, messages = read_all(kafka, topic)
    assert high == rounds * keys
    offsets = [m.offset() for m in messages]
    assert offsets == sorted(offsets) and offsets[-1] == high - 1
    latest = {}
    for m in messages:
        latest[m.key().decode()] = m.value().decode()
    assert latest == {f"k{k}": f"v{rounds - 1}-{k}" for k in range(keys)}
    # Closed segments hold each key at most once; only the active one may repeat keys.
    per_key = {}
    for m in messages:
        per_key[m.key()] = per_key.get(m.key(), 0) + 1
    assert max(per_key.values()) <= 1 + 2048 // 70
    # Where the cleaner stopped is kept beside the segments, for the next start.
    assert (segment_files(kafka, topic)[0].parent / "cleaner-offset-checkpoint").exists()


def test_records_younger_than_the_min_compaction_lag_are_not_compacted(kafka):
    topic = create_topic(kafka, {"cleanup.policy": "compact", "segment.bytes": "2048",
                                 "min.compaction.lag.ms": "3600000"})
    rounds, keys = 30, 10
    produce(kafka, topic, [(f"k{k}".encode(), f"v{r}-{k}".encode(), None) for r in range(rounds) for k in range(keys)])
    assert len(segment_files(kafka, topic)) > 2
    time.sleep(5 * CLEANUP_INTERVAL_MS / 1000)
    assert len(read_all(kafka, topic)[2]) == rounds * keys, "every superseded record is younger than the lag"


def test_log_append_time_topics_stamp_the_broker_clock(kafka):
    topic = create_topic(kafka, {"message.timestamp.type": "LogAppendTime"})
    old = int(time.time() * 1000) - 3_600_000
    before = int(time.time() * 1000)
    produce(kafka, topic, [(None, b"a", old), (None, b"b", old + 1)])
    after = int(time.time() * 1000)
    _, _, messages = read_all(kafka, topic)
    for m in messages:
        kind, timestamp = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= timestamp <= after + 1000
    # Looking up by time uses the broker's stamps too: nothing is as old as the producer said.
    consumer = Consumer(kafka.config(**{"group.id": "times"}))
    found = consumer.offsets_for_times([TopicPartition(topic, 0, before - 1000)], timeout=10)
    assert found[0].offset == 0
    consumer.close()
    # Switching a live topic back to CreateTime keeps the producer's timestamps from then on.
    admin = AdminClient(kafka.config())
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("message.timestamp.type", "CreateTime", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(10)
    produce(kafka, topic, [(None, b"c", old)])
    last = read_all(kafka, topic)[2][-1]
    assert last.timestamp() == (TIMESTAMP_CREATE_TIME, old)
