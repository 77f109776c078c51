#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs
# formatting and lint checks, Rust unit and integration tests, and the redis-py suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v sidekiq >/dev/null 2>&1 || need_apt+=(ruby-sidekiq)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# The rdkafka crate's tests (crates/kafka-client-tests) link the system's librdkafka.
pkg-config --exists rdkafka 2>/dev/null || need_apt+=(librdkafka-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo build -p tern
cargo test --workspace
echo "== pytest (redis-py against a real tern node)"
python3 -m pytest -q tests/python
