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
# The console's browser test (tests/python/test_console.py) drives Debian's Chromium.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# The rdkafka crate's tests (crates/kafka-client-tests) link the system's librdkafka.
pkg-config --exists rdkafka 2>/dev/null || need_apt+=(librdkafka-dev)
# The control plane's tests also run against PostgreSQL (unless TERN_TEST_POSTGRES_URL is given).
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "${TERN_TEST_POSTGRES_URL:-}" ] || [ -n "$(pg_bin)" ] || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# A throwaway PostgreSQL cluster for the control plane's tests: in a temp dir, on a free port,
# listening on 127.0.0.1 and a socket in that dir only, trusted (nothing else can reach it),
# without fsync (the data is thrown away), stopped and deleted on exit. As root it runs as the
# postgres user, because postgres refuses to run as root.
if [ -z "${TERN_TEST_POSTGRES_URL:-}" ]; then
  PG_BIN="$(pg_bin)"
  PG_DIR="$(mktemp -d /tmp/tern-pg.XXXXXX)"
  as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; fi
  stop_pg() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  }
  trap stop_pg EXIT
  PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o \
    "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  export TERN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "== PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') for the control plane's tests on port $PG_PORT"
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
