#!/usr/bin/env bash
# Runs redis-py's own upstream command tests (tests/test_commands.py of the redis-py sdist)
# against a `tern node` and against Debian's `redis-server`, with the same password, and prints
# both pass/fail/skip counts side by side. Both runs write JUnit XML and the list of failing
# tests into the output directory, so the failures can be listed and diffed.
#
# Usage: bash tests/compat/run_redis_py_suite.sh [pytest args...]
#   TERN_BIN        tern binary (default: target/debug/tern; build it with `cargo build -p tern`)
#   REDIS_PY_VERSION redis-py release whose tests are run (default: 5.2.1)
#   REDIS_PY_SDIST  path of its sdist (default: downloaded with pip into the work directory)
#   COMPAT_OUT      where the reports go (default: target/compat)
#   COMPAT_WORK     scratch directory kept between runs (default: target/compat/work)
#   COMPAT_TESTS    test files of the suite to run (default: tests/test_commands.py)
#   SKIP_REDIS=1    do not run against redis-server
# Extra arguments go to both pytest runs (e.g. `-k hset`).
# The exit status is 0 when both runs completed (test failures are expected and reported),
# non-zero when the setup itself failed.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

VERSION="${REDIS_PY_VERSION:-5.2.1}"
TERN_BIN="${TERN_BIN:-$ROOT/target/debug/tern}"
OUT="${COMPAT_OUT:-$ROOT/target/compat}"
WORK="${COMPAT_WORK:-$OUT/work}"
TESTS="${COMPAT_TESTS:-tests/test_commands.py}"
PASSWORD="compat-$(date +%s)-$$"
mkdir -p "$OUT" "$WORK"
# Absolute paths: the suite runs from inside the extracted sdist.
OUT="$(cd "$OUT" && pwd)"
WORK="$(cd "$WORK" && pwd)"

[ -x "$TERN_BIN" ] || { echo "tern binary not found at $TERN_BIN (cargo build -p tern)" >&2; exit 2; }
if [ -z "${SKIP_REDIS:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found (apt-get install redis-server), or set SKIP_REDIS=1" >&2
  exit 2
fi

# --- the suite: the sdist of the pinned redis-py release, fetched from PyPI with pip --------
SDIST="${REDIS_PY_SDIST:-}"
if [ -z "$SDIST" ]; then
  SDIST="$WORK/redis-$VERSION.tar.gz"
  if [ ! -f "$SDIST" ]; then
    python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$WORK" "redis==$VERSION"
  fi
fi
SRC="$WORK/redis-$VERSION"
if [ ! -d "$SRC/tests" ]; then
  tar -xzf "$SDIST" -C "$WORK"
fi

# --- a virtualenv with the suite's test dependencies and this very redis-py ----------------
# The suite tests the library it ships with, so it must run against redis==$VERSION, not
# whatever redis-py the machine has; a venv keeps both apart.
VENV="$WORK/venv"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.ready-$VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "pytest>=7,<9" "pytest-asyncio<0.24" pytest-timeout mock packaging \
    "async-timeout>=4.0.3"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "$SRC"
  touch "$VENV/.ready-$VERSION"
fi

# --- servers -------------------------------------------------------------------------------
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ping() { # port
  local i
  for i in $(seq 1 200); do
    if "$VENV/bin/python" - "$1" "$PASSWORD" <<'EOF' 2>/dev/null; then return 0; fi
import sys, redis
redis.Redis(port=int(sys.argv[1]), password=sys.argv[2], socket_timeout=1).ping()
EOF
    sleep 0.05
  done
  echo "server on port $1 did not answer" >&2
  return 1
}

TERN_PORT="$(free_port)"
"$TERN_BIN" node --redis-addr "127.0.0.1:$TERN_PORT" --tenant "compat:$PASSWORD" \
  >"$OUT/tern.log" 2>&1 &
PIDS+=($!)
wait_ping "$TERN_PORT"

if [ -z "${SKIP_REDIS:-}" ]; then
  REDIS_PORT="$(free_port)"
  REDIS_DIR="$WORK/redis-data"
  mkdir -p "$REDIS_DIR"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass "$PASSWORD" --save '' \
    --appendonly no --dir "$REDIS_DIR" --enable-debug-command yes --enable-module-command yes \
    >"$OUT/redis.log" 2>&1 &
  PIDS+=($!)
  wait_ping "$REDIS_PORT"
fi

# --- the runs ------------------------------------------------------------------------------
run_suite() { # name port [pytest args]
  local name="$1" port="$2"; shift 2
  echo "== redis-py $VERSION $TESTS against $name (port $port)"
  # The suite imports `tests.conftest`, so it runs from the sdist's root. Its
  # --redis-url carries the password of the `default` user.
  (cd "$SRC" && "$VENV/bin/python" -m pytest $TESTS \
      --redis-url="redis://default:$PASSWORD@127.0.0.1:$port/0" \
      -p no:cacheprovider -o asyncio_mode=auto --timeout=60 -q -rfE --tb=line \
      --junitxml="$OUT/$name.xml" "$@" >"$OUT/$name.txt" 2>&1) || true
  tail -n 1 "$OUT/$name.txt"
  "$VENV/bin/python" - "$OUT/$name.xml" "$OUT/$name-failures.txt" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
bad = []
for case in root.iter("testcase"):
    for tag in ("failure", "error"):
        el = case.find(tag)
        if el is not None:
            msg = (el.get("message") or "").splitlines()[0][:200] if el.get("message") else ""
            bad.append(f"{case.get('classname')}::{case.get('name')}\t{tag}\t{msg}")
open(sys.argv[2], "w").write("".join(line + "\n" for line in sorted(bad)))
EOF
}

counts() { # junit xml -> "passed failed skipped", one outcome per test
  # pytest writes a second <testcase> for a teardown error of a test; a test counts as failed
  # if any of its entries failed or errored, else skipped (xfail included) if skipped.
  "$VENV/bin/python" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
outcome = {}
rank = {"passed": 0, "skipped": 1, "failed": 2}
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        o = "failed"
    elif case.find("skipped") is not None:
        o = "skipped"
    else:
        o = "passed"
    key = (case.get("classname"), case.get("name"))
    if rank[o] >= rank[outcome.get(key, "passed")]:
        outcome[key] = o
values = list(outcome.values())
print(values.count("passed"), values.count("failed"), values.count("skipped"))
EOF
}

run_suite tern "$TERN_PORT" "$@"
kill -0 "${PIDS[0]}" 2>/dev/null || echo "WARNING: tern node died during the run (see $OUT/tern.log)"
if [ -z "${SKIP_REDIS:-}" ]; then
  run_suite redis "$REDIS_PORT" "$@"
fi

echo
echo "one outcome per test: an error counts as failed, an xfail as skipped"
printf '%-14s %8s %8s %8s\n' server passed failed skipped
read -r tp tf ts < <(counts "$OUT/tern.xml")
printf '%-14s %8s %8s %8s\n' tern "$tp" "$tf" "$ts"
if [ -z "${SKIP_REDIS:-}" ]; then
  read -r rp rf rs < <(counts "$OUT/redis.xml")
  printf '%-14s %8s %8s %8s\n' "redis-server" "$rp" "$rf" "$rs"
  # Tests redis-server passes but tern does not: the real compatibility gap.
  comm -23 <(cut -f1 "$OUT/tern-failures.txt" | sort -u) <(cut -f1 "$OUT/redis-failures.txt" | sort -u) \
    >"$OUT/gap.txt"
  echo "tests failing on tern only: $(wc -l <"$OUT/gap.txt") (list: $OUT/gap.txt)"
fi
echo "reports: $OUT/{tern,redis}.{txt,xml} and *-failures.txt"
