"""Crash tests of the Kafka broker: idempotent producers with acks=all keep sending while the
node is SIGKILLed at random moments and restarted on the same data folder; afterwards every
acknowledged message is in the log exactly once, in order per partition. A torn-tail round
cuts the last segment file short between runs: the node starts and serves everything before
the cut."""

import os
import random
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_node import KafkaNode

ROUNDS = 12
PARTITIONS = 2
PRODUCERS = 2


def create_topic(node, partitions):
    name = f"crash-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(node.config())
    admin.create_topics([NewTopic(name, partitions)])[name].result(10)
    return name


def read_partition(node, topic, partition, timeout=30):
    """Every record of a partition from its start to its current end."""
    consumer = Consumer(node.config(**{"group.id": "crash-reader", "enable.auto.commit": False,
                                       "enable.partition.eof": True}))
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    consumer.assign([TopicPartition(topic, partition, 0)])
    records = []
    deadline = time.time() + timeout
    while time.time() < deadline and (not records or records[-1][0] < high - 1) and high > 0:
        msg = consumer.poll(0.5)
        if msg is None or (msg.error() and msg.error().code() == KafkaError._PARTITION_EOF):
            continue
        if msg.error():
            raise KafkaException(msg.error())
        records.append((msg.offset(), msg.value().decode()))
    consumer.close()
    assert len(records) == high, f"partition {partition}: read {len(records)} of {high} records"
    return [value for _, value in records]


class NumberedProducer:
    """Sends `p<id>-<n>` with increasing n, alternating partitions, until stopped; remembers
    which numbers the broker acknowledged."""

    def __init__(self, node, topic, producer_id):
        self.topic, self.id = topic, producer_id
        self.producer = Producer(node.config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 2, "message.timeout.ms": 60000,
            "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200, "retry.backoff.ms": 50,
        }))
        self.acked, self.failed = set(), []
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err:
            self.failed.append((msg.value().decode(), err))
        else:
            self.acked.add(msg.value().decode())

    def run(self):
        while not self.stop.is_set():
            value = f"p{self.id}-{self.sent}"
            try:
                self.producer.produce(self.topic, value=value.encode(), partition=self.sent % PARTITIONS,
                                      on_delivery=self.on_delivery)
                self.sent += 1
            except BufferError:
                pass
            self.producer.poll(0.001 if self.sent % 20 == 0 else 0)

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        assert self.producer.flush(90) == 0, "messages still undelivered long after the last restart"


def test_acknowledged_messages_survive_random_kills_exactly_once():
    node = KafkaNode(keep_port=True)
    rng = random.Random(os.environ.get("CRASH_SEED", time.time()))
    try:
        topic = create_topic(node, PARTITIONS)
        producers = [NumberedProducer(node, topic, i) for i in range(PRODUCERS)]
        for producer in producers:
            producer.thread.start()
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(0.2, 1.2))
            before = sum(len(p.acked) for p in producers)
            node.proc.kill()  # SIGKILL: no chance to flush anything
            node.proc.wait(5)
            node.log.close()
            node.start()
            # Let the producers reconnect and get acknowledgements before the next kill.
            deadline = time.time() + 20
            while sum(len(p.acked) for p in producers) <= before and time.time() < deadline:
                time.sleep(0.05)
        for producer in producers:
            producer.finish()
        assert all(p.failed == [] for p in producers), [p.failed[:3] for p in producers]
        logs = [read_partition(node, topic, partition) for partition in range(PARTITIONS)]
        print(f"acknowledged {[len(p.acked) for p in producers]}, in the log {[len(log) for log in logs]}")
        for producer in producers:
            prefix = f"p{producer.id}-"
            assert len(producer.acked) > 100, "too few messages to prove anything"
            for partition, log in enumerate(logs):
                numbers = [int(v[len(prefix):]) for v in log if v.startswith(prefix)]
                assert len(numbers) == len(set(numbers)), f"duplicates of producer {producer.id} in {partition}"
                assert numbers == sorted(numbers), f"producer {producer.id} out of order in {partition}"
            present = {v for log in logs for v in log if v.startswith(prefix)}
            lost = producer.acked - present
            assert not lost, f"{len(lost)} acknowledged messages lost, e.g. {sorted(lost)[:5]}"
    finally:
        node.stop()


def newest_segment(node, topic, partition):
    topic_dirs = list(Path(node.data_dir, "kafka").glob(f"*/topics/{topic}-*"))
    assert len(topic_dirs) == 1, topic_dirs
    return max(Path(topic_dirs[0], str(partition)).glob("*.log"))


def test_torn_tail_is_cut_and_everything_before_it_served():
    node = KafkaNode()
    try:
        topic = create_topic(node, 1)
        producer = Producer(node.config(**{"acks": "all", "linger.ms": 0}))
        values = [f"v{i}" for i in range(50)]
        for value in values:
            # One record per batch, so cutting the last batch loses exactly the last record.
            producer.produce(topic, value=value.encode())
            assert producer.flush(10) == 0
        node.proc.kill()
        node.proc.wait(5)
        node.log.close()
        segment = newest_segment(node, topic, 0)
        size = segment.stat().st_size
        os.truncate(segment, size - 5)
        node.start()
        assert read_partition(node, topic, 0) == values[:-1]
        # The log goes on from the cut: the next record takes the lost one's offset.
        producer = Producer(node.config(**{"acks": "all"}))
        producer.produce(topic, value=b"after")
        assert producer.flush(10) == 0
        assert read_partition(node, topic, 0) == values[:-1] + ["after"]
        assert "torn tail" in node.log_path.read_text()
    finally:
        node.stop()
