//! The rdkafka crate (Debian's librdkafka 2.0.2) against the broker: an idempotent producer,
//! then a consumer group reading everything back in order and committing its offsets.

use kafka_client_tests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

fn config(broker: &TestBroker, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in broker.client_settings() {
        config.set(key, value);
    }
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

#[test]
fn produce_then_consume_in_a_group() {
    let broker = TestBroker::start().unwrap();
    let topic = "rdkafka-round-trip";
    let producer: ThreadedProducer<DefaultProducerContext> =
        config(&broker, &[("enable.idempotence", "true"), ("linger.ms", "5")]).create().unwrap();
    let count = 500;
    for i in 0..count {
        let (key, value) = (format!("k{}", i % 3), format!("v{i}"));
        producer.send(BaseRecord::to(topic).key(&key).payload(&value)).unwrap();
    }
    producer.flush(Duration::from_secs(20)).unwrap();

    let consumer: BaseConsumer = config(
        &broker,
        &[("group.id", "rdkafka-group"), ("auto.offset.reset", "earliest"), ("enable.auto.commit", "false")],
    )
    .create()
    .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while values.len() < count && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    let expected: Vec<String> = (0..count).map(|i| format!("v{i}")).collect();
    assert_eq!(values, expected);
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition(topic, 0);
    let committed = consumer.committed_offsets(partitions, Duration::from_secs(10)).unwrap();
    assert_eq!(committed.find_partition(topic, 0).unwrap().offset(), Offset::Offset(count as i64));
}
