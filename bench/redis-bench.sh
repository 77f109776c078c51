#!/usr/bin/env bash
# Benchmarks tern against Debian's redis-server, side by side (see bench/redis_bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-benchmark >/dev/null || ! command -v redis-server >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release -p tern
exec python3 bench/redis_bench.py "$@"
