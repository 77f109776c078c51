#!/usr/bin/env python3
"""User-space instructions per request of tern and of Debian's redis-server, counted by
valgrind's callgrind while redis-benchmark runs against each.

Wall-clock figures on a shared 2-core machine move by 10-20% from run to run; instruction
counts do not (the same build gives the same count within a fraction of a percent), so this
is the check for "did this change add work to the hot path". It is not a speed figure: it
ignores the kernel (syscalls are most of a pipeline-1 request), cache misses and threads.

Both servers run under `valgrind --tool=callgrind --instr-atstart=no`; the keyspace is
preloaded, then instrumentation is switched on (`callgrind_control -i on`) for exactly one
redis-benchmark run and off again. Needs valgrind (Debian `valgrind`) and redis-tools.

    python3 bench/redis_instructions.py [--tern-bin target/release/tern] [--scripts]
"""

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from redis_bench import CUSTOM_TESTS, PASSWORD, free_port, wait_port  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = [("set", 1, 100_000), ("get", 1, 100_000), ("set", 16, 200_000), ("get", 16, 200_000)]
# `--scripts`: the one-line script of `redis_bench.py --scripts`.
SCRIPT_CASES = [("eval", 1, 50_000), ("eval", 16, 100_000)]
PRELOAD_KEYS = 300_000
KEYSPACE = 1_000_000


def server_command(kind, port, tern_bin):
    if kind == "redis":
        return ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                "--requirepass", PASSWORD, "--bind", "127.0.0.1", "--protected-mode", "no"]
    return [tern_bin, "node", "--redis-addr", f"127.0.0.1:{port}", "--tenant", f"bench:{PASSWORD}"]


def bench(port, test, pipeline, requests):
    what = CUSTOM_TESTS.get(test) or ["-t", test]
    subprocess.run(["redis-benchmark", "-p", str(port), "-a", PASSWORD, "-c", "50", "-n", str(requests),
                    "-P", str(pipeline), "-r", str(KEYSPACE), "-q", *what],
                   capture_output=True, check=True)


def instructions_per_request(kind, test, pipeline, requests, tern_bin):
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        out = pathlib.Path(tmp) / "callgrind.out"
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                 f"--callgrind-out-file={out}", *server_command(kind, port, tern_bin)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, timeout=120)
            time.sleep(0.5)
            bench(port, "set", 64, PRELOAD_KEYS)
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, check=True)
            bench(port, test, pipeline, requests)
            subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True, check=True)
        finally:
            proc.terminate()
            proc.wait(60)
        summary = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True).stdout
    match = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", summary, re.M)
    if not match:
        raise RuntimeError(f"no totals from callgrind for {kind}")
    return int(match.group(1).replace(",", "")) / requests


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tern-bin", default=str(ROOT / "target" / "release" / "tern"))
    ap.add_argument("--scripts", action="store_true", help="EVAL of a one-line script instead of SET/GET")
    args = ap.parse_args()
    print("| test | P | redis-server instructions/request | tern instructions/request | tern/redis |")
    print("|---|---|---|---|---|")
    for test, pipeline, requests in (SCRIPT_CASES if args.scripts else CASES):
        counts = {kind: instructions_per_request(kind, test, pipeline, requests, args.tern_bin)
                  for kind in ("redis", "tern")}
        print(f"| {test.upper()} | {pipeline} | {counts['redis']:.0f} | {counts['tern']:.0f} | "
              f"**{counts['tern'] / counts['redis']:.2f}x** |", flush=True)


if __name__ == "__main__":
    main()
