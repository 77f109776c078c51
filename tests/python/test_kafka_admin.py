"""Kafka admin APIs against real clients: confluent-kafka's AdminClient (DescribeConfigs,
AlterConfigs, IncrementalAlterConfigs, CreatePartitions, DeleteRecords, DescribeCluster) and
kcat (Debian's librdkafka 2.0.2) seeing their effects."""

import subprocess
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic, ResourceType)

from kafka_node import KafkaNode


@pytest.fixture(scope="module")
def kafka():
    node = KafkaNode(clusters={"c1": ("alice", "alice-secret"), "c2": ("bob", "bob-secret")})
    yield node
    assert node.alive(), "tern node crashed during the admin tests"
    node.stop()


@pytest.fixture
def admin(kafka):
    return AdminClient(kafka.config())


def new_topic(admin, partitions=1, config=None):
    name = f"a-{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(name, partitions, config=config or {})])[name].result(10)
    return name


def describe(admin, topic):
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(10)


def produce(kafka, topic, count, partition=0, **extra):
    producer = Producer(kafka.config(**extra))
    errors = []
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=f"m{i}".encode(), partition=partition,
                         on_delivery=lambda err, msg: err and errors.append(err))
    producer.flush(10)
    return errors


def kcat(kafka, *args, timeout=20):
    return subprocess.run(kafka.kcat_args() + list(args), capture_output=True, text=True, timeout=timeout)


def test_describe_configs_lists_every_topic_key_with_its_source(kafka, admin):
    topic = new_topic(admin, config={"retention.ms": "3600000"})
    configs = describe(admin, topic)
    for key in ["cleanup.policy", "retention.ms", "retention.bytes", "max.message.bytes", "segment.bytes",
                "message.timestamp.type", "compression.type", "min.insync.replicas", "min.cleanable.dirty.ratio",
                "min.compaction.lag.ms", "max.compaction.lag.ms"]:
        assert key in configs, key
    assert configs["min.cleanable.dirty.ratio"].value == "0.5"
    assert configs["max.compaction.lag.ms"].value == "9223372036854775807"
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert not configs["retention.ms"].is_read_only


def test_describe_configs_of_the_broker_and_unknown_topics(kafka, admin):
    broker = ConfigResource(ResourceType.BROKER, "1")
    configs = admin.describe_configs([broker])[broker].result(10)
    assert configs["broker.id"].value == "1"
    assert all(entry.is_read_only for entry in configs.values())
    missing = ConfigResource(ResourceType.TOPIC, "no-such-topic-here")
    with pytest.raises(KafkaException) as exc:
        admin.describe_configs([missing])[missing].result(10)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_alter_configs_replaces_the_set_and_reports_invalid_values(kafka, admin):
    topic = new_topic(admin, config={"retention.ms": "3600000"})
    resource = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.bytes": "1048576"})
    admin.alter_configs([resource])[resource].result(10)
    configs = describe(admin, topic)
    assert configs["retention.bytes"].value == "1048576"
    # AlterConfigs is not incremental: the key it did not name is back to its default.
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.bytes": "lots"})
    with pytest.raises(KafkaException) as exc:
        admin.alter_configs([bad])[bad].result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "Invalid value lots for configuration retention.bytes" in exc.value.args[0].str()
    ratio = ConfigResource(ResourceType.TOPIC, topic, set_config={"min.cleanable.dirty.ratio": "0.2"})
    admin.alter_configs([ratio])[ratio].result(10)
    assert describe(admin, topic)["min.cleanable.dirty.ratio"].value == "0.2"
    bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"min.cleanable.dirty.ratio": "1.5"})
    with pytest.raises(KafkaException) as exc:
        admin.alter_configs([bad])[bad].result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    broker = ConfigResource(ResourceType.BROKER, "1", set_config={"num.partitions": "3"})
    with pytest.raises(KafkaException):
        admin.alter_configs([broker])[broker].result(10)


def test_incremental_alter_configs_apply_to_live_partitions(kafka, admin):
    topic = new_topic(admin)
    assert produce(kafka, topic, 1, **{"enable.idempotence": False}) == []
    ops = [ConfigEntry("max.message.bytes", "500", incremental_operation=AlterConfigOpType.SET),
           ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=ops)
    admin.incremental_alter_configs([resource])[resource].result(10)
    configs = describe(admin, topic)
    assert configs["max.message.bytes"].value == "500"
    assert configs["cleanup.policy"].value == "delete,compact"
    # The smaller limit holds for the partition that already exists.
    producer = Producer(kafka.config(**{"compression.type": "none", "enable.idempotence": False}))
    results = []
    producer.produce(topic, key=b"k", value=b"x" * 2000, on_delivery=lambda err, msg: results.append(err))
    producer.flush(10)
    assert [e.code() for e in results] == [KafkaError.MSG_SIZE_TOO_LARGE]
    delete = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([delete])[delete].result(10)
    assert describe(admin, topic)["max.message.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    # A compacted topic takes keyed records only (Kafka's rule); `produce` sends keys.
    assert produce(kafka, topic, 1, **{"enable.idempotence": False}) == []
    bad = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.APPEND)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([bad])[bad].result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_create_partitions_grows_topics_and_new_partitions_serve(kafka, admin):
    topic = new_topic(admin, partitions=2)
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 5
    assert produce(kafka, topic, 3, partition=4) == []
    out = kcat(kafka, "-C", "-t", topic, "-p", "4", "-e", "-f", "%s\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["m0", "m1", "m2"]
    listing = kcat(kafka, "-L", "-t", topic)
    assert "5 partitions" in listing.stdout
    with pytest.raises(KafkaException) as exc:
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    admin.create_partitions([NewPartitions(topic, 8)], validate_only=True)[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 5


def test_delete_records_raises_the_low_watermark(kafka, admin):
    topic = new_topic(admin)
    assert produce(kafka, topic, 10) == []
    deleted = admin.delete_records([TopicPartition(topic, 0, 4)])
    result = list(deleted.values())[0].result(10)
    assert result.low_watermark == 4
    out = kcat(kafka, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%o:%s\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [f"{i}:m{i}" for i in range(4, 10)]
    out = kcat(kafka, "-Q", "-t", f"{topic}:0:-2")
    assert out.returncode == 0, out.stderr
    assert f"{topic} [0] offset 4" in out.stdout
    with pytest.raises(KafkaException) as exc:
        list(admin.delete_records([TopicPartition(topic, 0, 99)]).values())[0].result(10)
    assert exc.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_describe_cluster_names_this_node(kafka, admin):
    result = admin.describe_cluster(include_authorized_operations=True).result(10)
    assert result.cluster_id == "c1"
    assert [f"{n.host}:{n.port}" for n in result.nodes] == [kafka.bootstrap]
    assert result.controller.id == 1
    names = {op.name for op in result.authorized_operations}
    assert {"DESCRIBE", "ALTER_CONFIGS"} <= names
    other = AdminClient(kafka.config("c2"))
    assert other.describe_cluster().result(10).cluster_id == "c2"
