#!/usr/bin/env python3
"""Where does produce latency's tail come from? The same fixed-rate librdkafka run (every
record timed by `crates/kafka-client-tests/examples/produce_latency.rs`) against:

  tern-disk    a tern node with its data folder on the real disk (what users get)
  tern-tmpfs   the same node with its data folder in /dev/shm (no disk at all)
  rdkafka-mock librdkafka's in-process mock broker (no server process, no disk)

interleaved for several rounds, with the VM's stolen time per run. If the mock and tmpfs runs
show the same tail as the disk runs in the same rounds, the tail is the machine's (CPU stolen
by the hypervisor, the client), not the broker's storage path.

    cargo build --release -p tern -p kafka-client-tests --example produce_latency
    python3 bench/kafka_latency_probe.py [--rate 200000] [--seconds 10] [--rounds 4] [--acks 1|all]
        [--before-bin OLD_TERN] [--targets tern-disk,tern-disk-before,...]

`--before-bin` adds `tern-disk-before`: another tern binary (an older commit) on the disk, in
the same rounds, for before/after comparisons.
"""

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kafka_bench import ROOT, Meter, Mock, Tern, latency_tool, settle_disk  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=200_000, help="records per second (1 KiB each)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--acks", default="1", choices=["1", "all"])
    ap.add_argument("--tern-bin", default=str(ROOT / "target" / "release" / "tern"))
    ap.add_argument("--before-bin", help="an older tern binary, run on the disk as tern-disk-before")
    ap.add_argument("--targets", help="comma-separated subset of the targets to run")
    args = ap.parse_args()
    acks = -1 if args.acks == "all" else 1
    disk_dir = tempfile.mkdtemp(prefix="latency-probe-")
    shm_dir = tempfile.mkdtemp(prefix="latency-probe-", dir="/dev/shm")
    makers = {
        "tern-disk": lambda: Tern("tern-disk", args.tern_bin, disk_dir),
        "tern-tmpfs": lambda: Tern("tern-tmpfs", args.tern_bin, shm_dir),
        "rdkafka-mock": Mock,
    }
    if args.before_bin:
        makers["tern-disk-before"] = lambda: Tern("tern-disk-before", args.before_bin, disk_dir)
    if args.targets:
        wanted = args.targets.split(",")
        unknown = [name for name in wanted if name not in makers]
        if unknown:
            ap.error(f"unknown targets {unknown}; known: {list(makers)}")
        makers = {name: makers[name] for name in wanted}
    rows = {name: [] for name in makers}
    print(f"# {args.rate} rec/s, {args.seconds} s per run, acks={args.acks}, {args.rounds} rounds", flush=True)
    print("| round | target | achieved rec/s | p50 ms | p99 ms | max ms | VM stalled (cores) | other load (cores) |")
    print("|---|---|---|---|---|---|---|---|")
    for round_no in range(1, args.rounds + 1):
        for name, make in makers.items():
            settle_disk()
            target = make()
            try:
                meter = Meter(target.pid)
                result = latency_tool(target, f"probe-{uuid.uuid4().hex[:6]}", acks, args.rate, args.seconds)
                load = meter.stop(max(1, result["records"]) * 1024)
            finally:
                target.stop()
            rows[name].append(result["p99_ms"])
            print(f"| {round_no} | {name} | {result['rate_rec_s']:.0f} | {result['p50_ms']:.2f} | "
                  f"{result['p99_ms']:.2f} | {result['max_ms']:.1f} | {load['stalled_cores']:.2f} | "
                  f"{load['foreign_cores']:.2f} |", flush=True)
    print()
    print("| target | p99 ms median (min-max) |")
    print("|---|---|")
    for name, p99s in rows.items():
        print(f"| {name} | {statistics.median(p99s):.2f} ({min(p99s):.2f}-{max(p99s):.2f}) |")
    for d in (disk_dir, shm_dir):
        os.system(f"rm -rf {d}")


if __name__ == "__main__":
    main()
