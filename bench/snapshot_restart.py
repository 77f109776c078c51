#!/usr/bin/env python3
"""Snapshot and restart of a ~1 GB database (not a timed test).

Loads N keys of V-byte values into a `tern node --data-dir` (release build) through
`redis-cli --pipe`, takes a snapshot with BGSAVE while a client keeps sending GETs, and
reports: the snapshot's duration, the longest time one slice held the tenant lock (the
node logs every slice's statistics; INFO shows `tern_snapshot_max_pause_us`), the worst
latency the client saw meanwhile, the files on disk; then restarts the node and reports how
long loading took (snapshot + log after it).

    cargo build --release -p tern && python3 bench/snapshot_restart.py --keys 10000000 --value-bytes 100
"""

import argparse
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
TERN = ROOT / "target" / "release" / "tern"
PASSWORD = "bench-password-0123456789"


def start(data_dir, work):
    ready = work / "ready"
    ready.unlink(missing_ok=True)
    log = open(work / "node.log", "a")
    args = [
        str(TERN), "node", "--redis-addr", "127.0.0.1:0", "--tenant", f"alpha:{PASSWORD}",
        "--data-dir", str(data_dir), "--fsync", "everysec",
        # Only the BGSAVE below takes a snapshot, so the figures are about that one.
        "--snapshot-min-log-bytes", str(1 << 50), "--ready-file", str(ready),
    ]
    began = time.time()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    while not ready.exists() or not ready.read_text():
        if proc.poll() is not None:
            raise RuntimeError((work / "node.log").read_text()[-2000:])
        time.sleep(0.01)
    host, port = ready.read_text().rsplit(":", 1)
    return proc, int(port), time.time() - began


def load(port, keys, value_bytes):
    cli = subprocess.Popen(
        ["redis-cli", "-p", str(port), "-a", PASSWORD, "--no-auth-warning", "--pipe"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    value = b"v" * value_bytes
    tail = b"\r\n$%d\r\n%s\r\n" % (value_bytes, value)
    chunk = 200_000
    for first in range(0, keys, chunk):
        cli.stdin.write(b"".join(
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d" % i + tail for i in range(first, min(first + chunk, keys))
        ))
    cli.stdin.close()
    out = cli.stdout.read().decode()
    cli.wait()
    return out.strip().splitlines()[-1]


def probe(port, stop, worst):
    c = redis.Redis(port=port, password=PASSWORD)
    while not stop.is_set():
        t = time.perf_counter()
        c.get("key:000000000042")
        worst.append(time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tern-snapshot-bench-"))
    data = work / "data"
    proc, port, _ = start(data, work)
    c = redis.Redis(port=port, password=PASSWORD)
    t = time.time()
    summary = load(port, args.keys, args.value_bytes)
    load_s = time.time() - t
    used = c.info("memory")["used_memory"]
    print(f"loaded {c.dbsize()} keys in {load_s:.1f} s ({summary}); used_memory {used / 2**30:.2f} GiB")

    stop, latencies = threading.Event(), []
    prober = threading.Thread(target=probe, args=(port, stop, latencies))
    prober.start()
    time.sleep(1)
    before = len(latencies)
    t = time.time()
    c.bgsave()
    while c.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.05)
    snapshot_s = time.time() - t
    time.sleep(0.5)
    stop.set()
    prober.join()
    during = sorted(latencies[before:])
    info = c.info("persistence")
    line = [l for l in (work / "node.log").read_text().splitlines() if "snapshot written" in l][-1]
    print(f"snapshot: {snapshot_s:.1f} s, {info['tern_snapshot_bytes'] / 2**30:.2f} GiB; "
          f"longest slice holding the lock: {info['tern_snapshot_max_pause_us'] / 1000:.2f} ms")
    print("node log:", re.sub(r"\x1b\[[0-9;]*m", "", line))
    print(f"client GETs during the snapshot: {len(during)}, p50 {during[len(during) // 2] * 1000:.3f} ms, "
          f"p99 {during[int(len(during) * 0.99)] * 1000:.3f} ms, max {during[-1] * 1000:.3f} ms")
    proc.terminate()
    proc.wait(60)
    files = {p.name: p.stat().st_size for p in (data / "alpha").iterdir()}
    print("files:", {k: f"{v / 2**20:.1f} MiB" for k, v in sorted(files.items())})

    proc, port, restart_s = start(data, work)
    c = redis.Redis(port=port, password=PASSWORD)
    n = c.dbsize()
    loaded = [l for l in (work / "node.log").read_text().splitlines() if "database loaded" in l][-1]
    print(f"restart: ready after {restart_s:.2f} s with {n} keys")
    print("node log:", re.sub(r"\x1b\[[0-9;]*m", "", loaded))
    assert n == args.keys, n
    proc.terminate()
    proc.wait(60)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
