#!/usr/bin/env python3
"""Counts what idle queue workers (BullMQ, Sidekiq) send to a database and how many replies
are empty (nil, empty array, timed-out blocking pop): the metering issue bills by command and
leaves empty replies free, so these numbers say what an idle poller would cost.

A counting proxy sits between the worker and a real `tern node`; it parses RESP both ways and
pairs each reply with its command (in order per connection).

    python3 bench/idle_pollers.py --seconds 60
"""

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TERN_BIN = os.environ.get("TERN_BIN", str(ROOT / "target" / "release" / "tern"))
PASSWORD = "idle-pollers-pw"


def parse(buf, pos=0):
    """Parses one RESP value at `pos`: returns (value, is_empty, next_pos) or None if incomplete."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line = buf[pos:pos + 1], buf[pos + 1:end]
    nxt = end + 2
    if kind in (b"+", b"-", b":", b",", b"#", b"("):
        return line, False, nxt
    if kind == b"_":
        return None, True, nxt
    if kind in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return None, True, nxt
        if len(buf) < nxt + n + 2:
            return None
        return bytes(buf[nxt:nxt + n]), False, nxt + n + 2
    if kind in (b"*", b"~", b">", b"%"):
        n = int(line)
        if n < 0:
            return None, True, nxt
        count = n * 2 if kind == b"%" else n
        items = []
        for _ in range(count):
            got = parse(buf, nxt)
            if got is None:
                return None
            items.append(got[0])
            nxt = got[2]
        return items, n == 0, nxt
    # Inline command (redis-cli style): one line of words.
    return line.split() if kind else [], False, nxt


class Counts:
    def __init__(self):
        self.commands = collections.Counter()
        self.empty = collections.Counter()


async def pipe(reader, writer, on_value):
    buf = bytearray()
    while True:
        try:
            data = await reader.read(65536)
        except ConnectionError:
            data = b""
        if not data:
            writer.close()
            return
        writer.write(data)
        buf += data
        pos = 0
        while True:
            got = parse(buf, pos)
            if got is None:
                break
            on_value(got[0], got[1])
            pos = got[2]
        del buf[:pos]


async def serve_proxy(target_port, counts):
    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        pending = collections.deque()

        def on_command(value, _empty):
            name = (value[0] if value else b"?").decode(errors="replace").upper()
            counts.commands[name] += 1
            pending.append(name)

        def on_reply(_value, empty):
            name = pending.popleft() if pending else "?"
            if empty:
                counts.empty[name] += 1

        await asyncio.gather(pipe(client_reader, server_writer, on_command),
                             pipe(server_reader, client_writer, on_reply), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def report(name, counts, seconds):
    total, empty = sum(counts.commands.values()), sum(counts.empty.values())
    print(f"\n{name}: {total} commands in {seconds} s, {empty} empty replies, {total - empty} non-empty")
    for cmd, n in counts.commands.most_common():
        print(f"  {cmd:<12} {n:>6}  empty {counts.empty[cmd]}")


async def idle_bullmq(port, seconds):
    import bullmq

    async def process(job, token):
        return None

    conn = f"redis://default:{PASSWORD}@127.0.0.1:{port}"
    worker = bullmq.Worker("idle-queue", process, {"connection": conn})
    await asyncio.sleep(seconds)
    await worker.close()


def idle_sidekiq(port, seconds):
    env = dict(os.environ, TERN_REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    app = ROOT / "tests" / "python" / "sidekiq_app"
    proc = subprocess.Popen(["sidekiq", "-r", str(app / "worker.rb"), "-c", "5"], env=env, cwd=app,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.terminate()
    proc.wait(30)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    ready = Path(tmp.name) / "ready"
    node = subprocess.Popen([TERN_BIN, "node", "--redis-addr", "127.0.0.1:0", "--tenant", f"idle:{PASSWORD}",
                             "--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready.exists() or not ready.read_text():
            time.sleep(0.02)
        tern_port = int(ready.read_text().rsplit(":", 1)[1])
        print(f"tern node {TERN_BIN} on port {tern_port}; each worker idles {args.seconds} s")
        counts = Counts()
        server, port = await serve_proxy(tern_port, counts)
        await idle_bullmq(port, args.seconds)
        report("BullMQ worker (Python bullmq, one queue, default options)", counts, args.seconds)
        counts.commands.clear()
        counts.empty.clear()
        await asyncio.get_running_loop().run_in_executor(None, idle_sidekiq, port, args.seconds)
        report("Sidekiq 6.4 process (-c 5, one queue)", counts, args.seconds)
        server.close()
    finally:
        node.terminate()
        node.wait(10)
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
