"""The Kafka broker against real clients: kcat (Debian's librdkafka 2.0.2) and confluent-kafka
(a modern librdkafka): SASL, topics, produce/consume with every codec, idempotence, offsets by
time, limits, restarts and isolation between clusters."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_node import KafkaNode


@pytest.fixture(scope="module")
def kafka():
    node = KafkaNode(clusters={"c1": ("alice", "alice-secret"), "c2": ("bob", "bob-secret")})
    yield node
    assert node.alive(), "tern node crashed during the Kafka tests"
    node.stop()


def topic_name():
    return f"t-{uuid.uuid4().hex[:10]}"


def kcat(node, *args, input=None, cluster="c1", mechanism="SCRAM-SHA-256", timeout=20):
    return subprocess.run(node.kcat_args(cluster, mechanism) + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout)


def create_topic(node, name, partitions=1, config=None, cluster="c1"):
    admin = AdminClient(node.config(cluster))
    futures = admin.create_topics([NewTopic(name, partitions, config=config or {})])
    futures[name].result(10)


def consume_all(node, topic, partition=0, expected=None, cluster="c1", timeout=15):
    """Reads a partition from the start (no consumer group) until `expected` messages came."""
    consumer = Consumer(node.config(cluster, **{"group.id": "reader", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, partition, 0)])
    messages = []
    deadline = time.time() + timeout
    while time.time() < deadline and (expected is None or len(messages) < expected):
        msg = consumer.poll(0.5)
        if msg is None:
            if expected is None:
                break
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(msg.error())
        messages.append(msg)
    consumer.close()
    return messages


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_mechanisms_authenticate_and_wrong_passwords_fail(kafka, mechanism):
    ok = kcat(kafka, "-L", mechanism=mechanism)
    assert ok.returncode == 0, ok.stderr
    assert "1 brokers" in ok.stdout and kafka.bootstrap in ok.stdout
    user = kafka.clusters["c1"][0]
    bad = subprocess.run(["kcat", "-b", kafka.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT", "-X",
                          f"sasl.mechanisms={mechanism}", "-X", f"sasl.username={user}", "-X",
                          "sasl.password=wrong", "-L", "-m", "3"], capture_output=True, text=True, timeout=20)
    assert bad.returncode != 0
    assert "Authentication failed" in bad.stderr


def test_kcat_produce_consume_every_codec(kafka):
    topic = topic_name()
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        out = kcat(kafka, "-P", "-t", topic, "-K:", "-z", codec, input=f"{codec}:v-{codec}\n{codec}2:w-{codec}\n")
        assert out.returncode == 0, out.stderr
    out = kcat(kafka, "-C", "-t", topic, "-e", "-f", "%k=%s@%o\n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines == [f"{k}={v}@{i}" for i, (k, v) in enumerate(
        (k, f"{p}-{c}") for c in ["none", "gzip", "snappy", "lz4", "zstd"] for k, p in [(c, "v"), (c + "2", "w")])]
    # An offset inside a compressed batch: the whole batch comes, the client skips to it.
    out = kcat(kafka, "-C", "-t", topic, "-o", "3", "-e", "-f", "%o %s\n")
    assert out.stdout.splitlines()[0] == "3 w-gzip"


def test_metadata_auto_creates_topics_and_admin_api(kafka):
    admin = AdminClient(kafka.config())
    topic = topic_name()
    create_topic(kafka, topic, partitions=3, config={"retention.ms": "3600000"})
    meta = admin.list_topics(timeout=10)
    assert len(meta.topics[topic].partitions) == 3
    with pytest.raises(KafkaException) as exc:
        create_topic(kafka, topic)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    with pytest.raises(KafkaException) as exc:
        create_topic(kafka, topic_name(), config={"retention.mss": "1"})
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    with pytest.raises(KafkaException) as exc:
        create_topic(kafka, "bad/name")
    assert exc.value.args[0].code() == KafkaError.TOPIC_EXCEPTION
    # Producing to a topic nobody created: Metadata creates it (auto.create.topics.enable).
    auto = topic_name()
    producer = Producer(kafka.config())
    producer.produce(auto, b"hello")
    assert producer.flush(10) == 0
    assert auto in admin.list_topics(timeout=10).topics
    admin.delete_topics([topic])[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics


def test_idempotent_producer_messages_arrive_once_in_order(kafka):
    topic = topic_name()
    create_topic(kafka, topic)
    producer = Producer(kafka.config(**{"enable.idempotence": True, "linger.ms": 5}))
    errors = []
    for i in range(2000):
        producer.produce(topic, value=f"m{i}".encode(), key=str(i % 7).encode(),
                         on_delivery=lambda err, msg: err and errors.append(err))
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(20) == 0
    assert errors == []
    got = consume_all(kafka, topic, expected=2000)
    assert [m.value().decode() for m in got] == [f"m{i}" for i in range(2000)]
    assert [m.offset() for m in got] == list(range(2000))


def test_acks_all_and_acks_zero(kafka):
    topic = topic_name()
    create_topic(kafka, topic)
    for acks in ["all", "1", "0"]:
        producer = Producer(kafka.config(**{"acks": acks, "enable.idempotence": False}))
        delivered = []
        for i in range(50):
            producer.produce(topic, value=f"{acks}-{i}".encode(), on_delivery=lambda e, m: delivered.append(e))
        assert producer.flush(10) == 0
        assert delivered == [None] * 50
    values = [m.value().decode() for m in consume_all(kafka, topic, expected=150)]
    assert values == [f"{a}-{i}" for a in ["all", "1", "0"] for i in range(50)]


def test_pipelined_acks_all_requests_are_answered_in_order(kafka):
    """One record per request and no linger: many Produce requests wait for their fsync on one
    connection at once, with Metadata requests between them; every answer matches its request."""
    topic = topic_name()
    create_topic(kafka, topic)
    producer = Producer(kafka.config(**{"acks": "all", "linger.ms": 0, "batch.num.messages": 1,
                                        "enable.idempotence": False, "max.in.flight": 100}))
    offsets = []
    for i in range(600):
        producer.produce(topic, value=f"r{i}".encode(), partition=0,
                         on_delivery=lambda e, m: offsets.append((e, m.value().decode(), m.offset())))
        if i % 100 == 0:
            assert topic in producer.list_topics(topic, timeout=10).topics
    assert producer.flush(20) == 0
    assert offsets == [(None, f"r{i}", i) for i in range(600)]


def test_offsets_for_times_and_watermarks(kafka):
    topic = topic_name()
    create_topic(kafka, topic)
    producer = Producer(kafka.config())
    base = int(time.time() * 1000) - 100_000
    for i in range(10):
        producer.produce(topic, value=b"x", timestamp=base + i * 1000)
        producer.flush(5)
    consumer = Consumer(kafka.config(**{"group.id": "times", "enable.auto.commit": False}))
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, 10)
    found = consumer.offsets_for_times([TopicPartition(topic, 0, base + 4500)], timeout=10)
    assert found[0].offset == 5
    after_end = consumer.offsets_for_times([TopicPartition(topic, 0, base + 999_999)], timeout=10)
    assert after_end[0].offset in (-1, 10)
    consumer.close()


def test_max_message_bytes_is_enforced(kafka):
    topic = topic_name()
    create_topic(kafka, topic, config={"max.message.bytes": "2000"})
    producer = Producer(kafka.config(**{"compression.type": "none", "enable.idempotence": False}))
    results = []
    # Separate flushes: Kafka refuses a whole batch when it is too large.
    producer.produce(topic, value=b"x" * 5000, on_delivery=lambda e, m: results.append(e))
    producer.flush(10)
    producer.produce(topic, value=b"y" * 100, on_delivery=lambda e, m: results.append(e))
    producer.flush(10)
    codes = sorted(e.code() if e else 0 for e in results)
    assert codes == [0, KafkaError.MSG_SIZE_TOO_LARGE]
    assert [m.value() for m in consume_all(kafka, topic, expected=1)] == [b"y" * 100]


def test_clusters_are_isolated(kafka):
    topic = topic_name()
    create_topic(kafka, topic, cluster="c1")
    other = AdminClient(kafka.config("c2"))
    assert topic not in other.list_topics(timeout=10).topics
    # The same name in the other cluster is a different topic with its own records.
    create_topic(kafka, topic, cluster="c2")
    p1 = Producer(kafka.config("c1"))
    p1.produce(topic, b"from-c1")
    p1.flush(10)
    p2 = Producer(kafka.config("c2"))
    p2.produce(topic, b"from-c2")
    p2.flush(10)
    assert [m.value() for m in consume_all(kafka, topic, cluster="c1", expected=1)] == [b"from-c1"]
    assert [m.value() for m in consume_all(kafka, topic, cluster="c2", expected=1)] == [b"from-c2"]


def test_records_survive_a_restart():
    node = KafkaNode()
    try:
        topic = topic_name()
        create_topic(node, topic, partitions=2)
        producer = Producer(node.config(**{"acks": "all"}))
        for i in range(300):
            producer.produce(topic, value=f"r{i}".encode(), partition=i % 2)
        assert producer.flush(10) == 0
        node.restart()
        admin = AdminClient(node.config())
        assert len(admin.list_topics(timeout=10).topics[topic].partitions) == 2
        for p in range(2):
            values = [m.value().decode() for m in consume_all(node, topic, partition=p, expected=150)]
            assert values == [f"r{i}" for i in range(p, 300, 2)]
        # Appends continue after the old end.
        producer = Producer(node.config())
        producer.produce(topic, value=b"after", partition=0)
        producer.flush(10)
        got = consume_all(node, topic, partition=0, expected=151)
        assert got[-1].value() == b"after" and got[-1].offset() == 150
    finally:
        node.stop()
