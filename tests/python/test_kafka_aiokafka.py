"""aiokafka (pure-Python asyncio client) against the broker: an idempotent producer with
compression, a consumer group reading everything back and committing, a second member of the
group resuming from the commits, and the admin client's topic and config calls."""

import asyncio
import uuid

import pytest

from kafka_node import KafkaNode

aiokafka = pytest.importorskip("aiokafka")
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: E402

PARTITIONS = 3
COUNT = 300


@pytest.fixture(scope="module")
def kafka():
    node = KafkaNode()
    yield node
    assert node.alive(), "tern node crashed during the aiokafka tests"
    node.stop()


def settings(node):
    user, password = node.clusters["c1"]
    return {"bootstrap_servers": node.bootstrap, "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": user, "sasl_plain_password": password}


async def create_topic(node, name, partitions, configs=None):
    admin = AIOKafkaAdminClient(**settings(node))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    finally:
        await admin.close()


async def consume(node, topic, group, count, timeout=30):
    consumer = aiokafka.AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest",
                                         enable_auto_commit=False, **settings(node))
    await consumer.start()
    got = []
    try:
        async def drain():
            while len(got) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    got.extend(records)
        await asyncio.wait_for(drain(), timeout)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


def test_idempotent_produce_then_group_consume_and_resume(kafka):
    topic, group = f"aio-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:6]}"

    async def scenario():
        await create_topic(kafka, topic, PARTITIONS)
        producer = aiokafka.AIOKafkaProducer(enable_idempotence=True, acks="all", compression_type="gzip",
                                             **settings(kafka))
        await producer.start()
        try:
            sent = [producer.send(topic, key=f"k{i % 7}".encode(), value=f"v{i}".encode()) for i in range(COUNT)]
            metadata = await asyncio.gather(*[await s for s in sent])
        finally:
            await producer.stop()
        got = await consume(kafka, topic, group, COUNT)
        # Per partition, the records come back in the order they were sent, at the offsets acked.
        for partition in range(PARTITIONS):
            acked = [(m.offset, f"v{i}") for i, m in enumerate(metadata) if m.partition == partition]
            read = [(r.offset, r.value.decode()) for r in got if r.partition == partition]
            assert read == acked
        assert sorted(r.key for r in got if r.key == b"k0") == [b"k0"] * len(range(0, COUNT, 7))
        # A new member of the group starts from the commits: nothing left, then only new records.
        producer = aiokafka.AIOKafkaProducer(**settings(kafka))
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=b"late", value=b"late", partition=1)
        finally:
            await producer.stop()
        resumed = await consume(kafka, topic, group, 1)
        assert [(r.partition, r.value) for r in resumed] == [(1, b"late")]

    asyncio.run(scenario())


def test_admin_describes_configs_and_lists_topics(kafka):
    topic = f"aio-{uuid.uuid4().hex[:8]}"

    async def scenario():
        await create_topic(kafka, topic, 2, {"retention.ms": "120000"})
        admin = AIOKafkaAdminClient(**settings(kafka))
        await admin.start()
        try:
            assert topic in await admin.list_topics()
            responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            [(error_code, _, _, name, entries)] = responses[0].resources
            assert (error_code, name) == (0, topic)
            values = {entry[0]: entry[1] for entry in entries}
            assert values["retention.ms"] == "120000"
            assert values["cleanup.policy"] == "delete"
        finally:
            await admin.close()

    asyncio.run(scenario())
