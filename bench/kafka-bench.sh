#!/usr/bin/env bash
# Kafka benchmark: tern (release build) vs Tansu (memory and SQLite engines) vs librdkafka's
# mock broker vs the raw disk, interleaved rounds (see bench/kafka_bench.py and
# docs/benchmarks.md). Tansu is installed into ./tools once (cargo install, ~15 min on 2
# cores); set SKIP_TANSU=1 to run without it. Extra arguments go to the driver, e.g.
#   bash bench/kafka-bench.sh --tern before=/tmp/tern-before --tern after=target/release/tern
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q confluent-kafka
if [ -z "${SKIP_TANSU:-}" ] && [ ! -x tools/bin/tansu ]; then
  cargo install tansu --version 0.6.0 --features dynostore,libsql --root "$PWD/tools" --locked \
    || echo "tansu did not build; running without it" >&2
fi
cargo build --release -p tern
cargo build --release -p kafka-client-tests --example produce_latency
exec python3 bench/kafka_bench.py "$@"
