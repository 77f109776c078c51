"""Fixtures: a real `tern node` process on a free loopback port, hosting two databases."""

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
TERN_BIN = os.environ.get("TERN_BIN", str(ROOT / "target" / "debug" / "tern"))

PASSWORD_A = "pw-alpha-0123456789"
PASSWORD_B = "pw-beta-0123456789"


class TernNode:
    def __init__(self, extra_args=()):
        self.tmp = tempfile.TemporaryDirectory()
        ready = Path(self.tmp.name) / "ready"
        args = [
            TERN_BIN, "node", "--redis-addr", "127.0.0.1:0",
            "--tenant", f"alpha:{PASSWORD_A}", "--tenant", f"beta:{PASSWORD_B}",
            "--ready-file", str(ready), *extra_args,
        ]
        self.log = open(Path(self.tmp.name) / "node.log", "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not ready.exists() or not ready.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"tern node did not start: {Path(self.tmp.name, 'node.log').read_text()}")
            time.sleep(0.02)
        host, port = ready.read_text().rsplit(":", 1)
        self.host, self.port = host, int(port)

    def client(self, password=PASSWORD_A, **kw):
        return redis.Redis(host=self.host, port=self.port, password=password, **kw)

    def raw(self):
        """A plain socket, for speaking RESP by hand."""
        s = socket.create_connection((self.host, self.port), timeout=5)
        return s

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        self.tmp.cleanup()


@pytest.fixture(scope="session")
def node():
    n = TernNode()
    yield n
    assert n.alive(), "tern node crashed during the tests"
    n.stop()


@pytest.fixture
def r(node):
    """A RESP2 client of database alpha, emptied before each test."""
    c = node.client(decode_responses=True)
    c.flushdb()
    yield c
    c.close()


@pytest.fixture
def rb(node):
    """A RESP2 client of database alpha returning bytes."""
    c = node.client()
    c.flushdb()
    yield c
    c.close()


@pytest.fixture
def r3(node):
    """A RESP3 client of database alpha."""
    c = node.client(decode_responses=True, protocol=3)
    c.flushdb()
    yield c
    c.close()


@pytest.fixture
def other(node):
    """A client of database beta (another tenant)."""
    c = node.client(password=PASSWORD_B, decode_responses=True)
    c.flushdb()
    yield c
    c.close()


def wait_until(check, timeout=5):
    """Polls `check` until it returns true or `timeout` seconds pass; returns whether it did."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def resp_command(*args):
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += f"${len(a)}\r\n".encode() + a + b"\r\n"
    return out


def recv_until(sock, predicate, timeout=5):
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while not predicate(data) and time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(scope="module")
def reference_redis_socket():
    """Unix socket path of a real redis-server (Debian's), for side-by-side comparisons;
    the test is skipped when redis-server is not installed or does not start."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    tmp = tempfile.TemporaryDirectory()
    sock_path = os.path.join(tmp.name, "redis.sock")
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", sock_path, "--save", "", "--appendonly", "no", "--dir", tmp.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(unix_socket_path=sock_path)
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            break
        except (redis.ConnectionError, FileNotFoundError):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.skip("redis-server did not start")
            time.sleep(0.02)
    client.flushall()
    client.close()
    yield sock_path
    proc.terminate()
    proc.wait(5)
    tmp.cleanup()
