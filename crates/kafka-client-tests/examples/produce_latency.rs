//! Produce latency benchmark driven by librdkafka (the rdkafka crate): sends 1 KiB records to
//! one partition at a fixed rate and prints the produce→acknowledgement latency of every
//! record as one JSON line. With `--rate 0` it sends as fast as it can and reports the rate
//! reached (the maximum that "half load" is taken from). Used by `bench/kafka_bench.py`,
//! where a Python client would be the bottleneck at these rates.
//!
//! ```text
//! cargo run --release -p kafka-client-tests --example produce_latency -- \
//!     --bootstrap 127.0.0.1:9092 [--sasl USER:PASSWORD] --topic T --acks all --rate 20000 --seconds 5
//! ```

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Collects one latency sample per acknowledged record.
#[derive(Default)]
struct LatencyContext {
    samples_us: Mutex<Vec<u64>>,
    errors: AtomicU64,
}

impl ClientContext for LatencyContext {}

impl ProducerContext for LatencyContext {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Self::DeliveryOpaque) {
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let micros = sent_at.elapsed().as_micros() as u64;
        if let Ok(mut samples) = self.samples_us.lock() {
            samples.push(micros);
        }
    }
}

#[derive(Clone)]
struct Options {
    bootstrap: String,
    sasl: Option<(String, String)>,
    mechanism: String,
    topic: String,
    acks: String,
    rate_per_s: u64,
    seconds: f64,
    record_bytes: usize,
    linger_ms: String,
    /// Extra librdkafka settings, `--set key=value` (repeatable).
    extra: Vec<(String, String)>,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        bootstrap: "127.0.0.1:9092".into(),
        sasl: None,
        mechanism: "PLAIN".into(),
        topic: "latency".into(),
        acks: "1".into(),
        rate_per_s: 0,
        seconds: 5.0,
        record_bytes: 1024,
        linger_ms: "1".into(),
        extra: Vec::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().ok_or_else(|| format!("{} needs a value", args[i]))?;
        let number = |v: &str| v.parse::<f64>().map_err(|_| format!("{}: not a number: {v}", args[i]));
        match args[i].as_str() {
            "--bootstrap" => o.bootstrap = value,
            "--sasl" => {
                let (user, password) = value.split_once(':').ok_or("--sasl takes USER:PASSWORD")?;
                o.sasl = Some((user.to_string(), password.to_string()));
            }
            "--mechanism" => o.mechanism = value,
            "--topic" => o.topic = value,
            "--acks" => o.acks = value,
            "--rate" => o.rate_per_s = number(&value)? as u64,
            "--seconds" => o.seconds = number(&value)?,
            "--record-bytes" => o.record_bytes = number(&value)? as usize,
            "--linger-ms" => o.linger_ms = value,
            "--set" => {
                let (key, v) = value.split_once('=').ok_or("--set takes KEY=VALUE")?;
                o.extra.push((key.to_string(), v.to_string()));
            }
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    Ok(o)
}

fn producer(o: &Options) -> Result<BaseProducer<LatencyContext>, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &o.bootstrap)
        .set("acks", &o.acks)
        .set("linger.ms", &o.linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    for (key, value) in &o.extra {
        config.set(key, value);
    }
    if let Some((user, password)) = &o.sasl {
        config
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanisms", &o.mechanism)
            .set("sasl.username", user)
            .set("sasl.password", password);
    }
    config.create_with_context(LatencyContext::default()).map_err(|e| format!("cannot create the producer: {e}"))
}

/// Sends records until `seconds` have passed: at `rate_per_s` (0: as fast as the client's
/// queue allows). Returns how many were sent.
fn send_all(producer: &BaseProducer<LatencyContext>, o: &Options) -> Result<u64, String> {
    let value = vec![0x5au8; o.record_bytes];
    let start = Instant::now();
    let duration = Duration::from_secs_f64(o.seconds);
    let mut sent = 0u64;
    while start.elapsed() < duration {
        let due =
            if o.rate_per_s == 0 { sent + 1000 } else { (start.elapsed().as_secs_f64() * o.rate_per_s as f64) as u64 };
        while sent < due {
            let record = BaseRecord::<(), [u8], Box<Instant>>::with_opaque_to(&o.topic, Box::new(Instant::now()))
                .payload(&value)
                .partition(0);
            match producer.send(record) {
                Ok(()) => sent += 1,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    _,
                )) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(format!("produce failed: {e}")),
            }
        }
        producer.poll(Duration::ZERO);
        if o.rate_per_s != 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    producer.flush(Duration::from_secs(60)).map_err(|e| format!("flush failed: {e}"))?;
    Ok(sent)
}

fn percentile_ms(sorted_us: &[u64], fraction: f64) -> f64 {
    let index = ((sorted_us.len() as f64 * fraction) as usize).min(sorted_us.len().saturating_sub(1));
    sorted_us.get(index).copied().unwrap_or(0) as f64 / 1000.0
}

fn main() {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("produce_latency: {e}");
            std::process::exit(2);
        }
    };
    let run = || -> Result<String, String> {
        let producer = producer(&o)?;
        // Warm-up: metadata, connection and authentication are not part of the latency.
        let warm = Options { seconds: 0.5, rate_per_s: 1000, ..o.clone() };
        send_all(&producer, &warm)?;
        producer.context().samples_us.lock().map_err(|_| "poisoned")?.clear();
        let started = Instant::now();
        let sent = send_all(&producer, &o)?;
        let elapsed = started.elapsed().as_secs_f64();
        let errors = producer.context().errors.load(Ordering::Relaxed);
        let mut samples = producer.context().samples_us.lock().map_err(|_| "poisoned")?.clone();
        if errors > 0 || (samples.len() as u64) < sent {
            return Err(format!("{} of {sent} records acknowledged, {errors} errors", samples.len()));
        }
        samples.sort_unstable();
        Ok(format!(
            "{{\"rate_rec_s\": {}, \"achieved_rec_s\": {:.0}, \"records\": {sent}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
            o.rate_per_s,
            sent as f64 / elapsed,
            percentile_ms(&samples, 0.5),
            percentile_ms(&samples, 0.99),
            percentile_ms(&samples, 1.0),
        ))
    };
    match run() {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("produce_latency: {e}");
            std::process::exit(1);
        }
    }
}
