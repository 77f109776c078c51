"""Kafka consumer groups against a real `tern node`: confluent-kafka consumers sharing a topic,
rebalances, committed offsets (also across a restart), the admin group APIs and kcat -G.

Produce and Fetch may not be served yet: consumers then log fetch errors, so these tests assert
on assignments and commits, never on messages."""

import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_node import KafkaNode

USER, PASSWORD = "alice", "secret"


class GroupsNode(KafkaNode):
    """A `tern node` serving Kafka cluster c1, with helpers for group tests."""

    def __init__(self):
        super().__init__(clusters={"c1": (USER, PASSWORD)})

    @property
    def addr(self):
        return self.bootstrap

    def admin(self):
        return AdminClient(self.config(mechanism="PLAIN"))

    def create_topic(self, partitions):
        name = f"t-{uuid.uuid4().hex[:8]}"
        admin = self.admin()  # kept alive until its futures resolve
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(10)
        return name

    def consumer(self, group, **extra):
        conf = self.config(mechanism="PLAIN", **{
            "group.id": group,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 300,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 3,
            **extra,
        })
        return Consumer(conf)


@pytest.fixture
def kafka():
    node = GroupsNode()
    yield node
    alive = node.alive()
    log = node.log_path.read_text()
    node.stop()
    assert alive, f"tern node crashed:\n{log[-4000:]}"


class Tracked:
    """A subscribed consumer that remembers its current assignment."""

    def __init__(self, consumer, topic):
        self.consumer = consumer
        self.partitions = []
        consumer.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, _consumer, partitions):
        self.partitions = sorted(p.partition for p in partitions)

    def _revoked(self, _consumer, _partitions):
        self.partitions = []


def poll_until(trackers, predicate, timeout=45):
    """Polls every consumer (callbacks run inside poll) until the predicate holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for tracker in trackers:
            tracker.consumer.poll(0.05)
        if predicate():
            return
    raise AssertionError(f"not reached in {timeout}s: {[t.partitions for t in trackers]}")


def shares(trackers, each):
    """Every consumer holds `each` partitions and together they hold each partition once."""
    owned = [p for t in trackers for p in t.partitions]
    return all(len(t.partitions) == each for t in trackers) and len(set(owned)) == len(owned)


def test_three_consumers_share_a_topic_and_rebalance_when_one_leaves(kafka):
    topic = kafka.create_topic(6)
    group = f"g-{uuid.uuid4().hex[:6]}"
    trackers = [Tracked(kafka.consumer(group), topic) for _ in range(3)]
    poll_until(trackers, lambda: shares(trackers, 2))
    assert sorted(p for t in trackers for p in t.partitions) == list(range(6))
    trackers[2].consumer.close()
    rest = trackers[:2]
    poll_until(rest, lambda: shares(rest, 3))
    assert sorted(p for t in rest for p in t.partitions) == list(range(6))
    for tracker in rest:
        tracker.consumer.close()


def test_committed_offsets_keep_their_metadata_and_survive_a_restart(kafka):
    topic = kafka.create_topic(4)
    group = f"g-{uuid.uuid4().hex[:6]}"
    consumer = kafka.consumer(group)
    consumer.commit(offsets=[TopicPartition(topic, 1, 42, metadata="m"), TopicPartition(topic, 3, 7)],
                    asynchronous=False)
    wanted = [TopicPartition(topic, p) for p in range(4)]

    def committed(c):
        return {tp.partition: (tp.offset, tp.metadata) for tp in c.committed(wanted, timeout=10)}

    first = committed(consumer)
    assert first[1] == (42, "m")
    assert first[3][0] == 7
    assert first[0][0] < 0 and first[2][0] < 0, "never committed partitions have no offset"
    consumer.close()
    kafka.restart()
    again = kafka.consumer(group)
    after = committed(again)
    assert after[1] == (42, "m")
    assert after[3][0] == 7
    assert after[0][0] < 0
    again.close()


def test_members_commit_inside_their_generation(kafka):
    topic = kafka.create_topic(2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    tracker = Tracked(kafka.consumer(group), topic)
    poll_until([tracker], lambda: tracker.partitions == [0, 1])
    tracker.consumer.commit(offsets=[TopicPartition(topic, 0, 5, metadata="gen")], asynchronous=False)
    result = tracker.consumer.committed([TopicPartition(topic, 0)], timeout=10)[0]
    assert (result.offset, result.metadata) == (5, "gen")
    # A topic that does not exist is refused per partition.
    with pytest.raises(KafkaException):
        tracker.consumer.commit(offsets=[TopicPartition("no-such-topic", 0, 1)], asynchronous=False)
    tracker.consumer.close()


def test_admin_lists_describes_and_deletes_groups(kafka):
    topic = kafka.create_topic(3)
    group = f"g-{uuid.uuid4().hex[:6]}"
    trackers = [Tracked(kafka.consumer(group, **{"client.id": f"member-{i}"}), topic) for i in range(2)]
    poll_until(trackers, lambda: sum(len(t.partitions) for t in trackers) == 3 and all(t.partitions for t in trackers))
    admin = kafka.admin()
    listed = {g.group_id: g for g in admin.list_consumer_groups().result(10).valid}
    assert group in listed
    assert str(listed[group].state).endswith("STABLE")
    described = admin.describe_consumer_groups([group])[group].result(10)
    assert str(described.state).endswith("STABLE")
    assert sorted(m.client_id for m in described.members) == ["member-0", "member-1"]
    assigned = sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions)
    assert assigned == [0, 1, 2]
    # A group with members cannot be deleted.
    with pytest.raises(KafkaException):
        admin.delete_consumer_groups([group])[group].result(10)
    trackers[0].consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    for tracker in trackers:
        tracker.consumer.close()
    listed = {g.group_id: g for g in admin.list_consumer_groups().result(10).valid}
    assert str(listed[group].state).endswith("EMPTY"), "a group with offsets stays, empty"
    admin.delete_consumer_groups([group])[group].result(10)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(10).valid}


def test_kcat_joins_in_group_mode(kafka):
    topic = kafka.create_topic(2)
    group = f"kcat-{uuid.uuid4().hex[:6]}"
    kcat = subprocess.Popen(
        kafka.kcat_args(mechanism="PLAIN") + ["-G", group, topic],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        admin = kafka.admin()
        deadline = time.time() + 30
        members = []
        while time.time() < deadline:
            described = admin.describe_consumer_groups([group])[group].result(10)
            members = described.members
            if str(described.state).endswith("STABLE") and members:
                break
            time.sleep(0.2)
        assert len(members) == 1
        assert sorted(tp.partition for tp in members[0].assignment.topic_partitions) == [0, 1]
    finally:
        kcat.terminate()
        kcat.wait(10)


def test_aiokafka_consumers_share_a_topic_and_commit(kafka):
    import aiokafka
    import asyncio

    from aiokafka.structs import OffsetAndMetadata
    from aiokafka.structs import TopicPartition as AioPartition

    topic = kafka.create_topic(4)
    group = f"aio-{uuid.uuid4().hex[:6]}"

    async def scenario():
        consumers = [
            aiokafka.AIOKafkaConsumer(
                topic, bootstrap_servers=kafka.addr, group_id=group, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN", sasl_plain_username=USER, sasl_plain_password=PASSWORD,
                enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=300,
            )
            for _ in range(2)
        ]
        for consumer in consumers:
            await consumer.start()
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                owned = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
                if all(len(o) == 2 for o in owned) and sorted(sum(owned, [])) == [0, 1, 2, 3]:
                    break
                await asyncio.sleep(0.1)
            assert sorted(sum(owned, [])) == [0, 1, 2, 3] and all(len(o) == 2 for o in owned), owned
            partition = AioPartition(topic, owned[0][0])
            await consumers[0].commit({partition: OffsetAndMetadata(42, "m")})
            assert await consumers[0].committed(partition) == 42
        finally:
            for consumer in consumers:
                await consumer.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
