"""redis-cli (Debian's redis-tools) against a real tern node."""

import os
import shutil
import subprocess

import pytest

from conftest import PASSWORD_A

pytestmark = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")


def cli(node, *args, stdin=None, resp3=False):
    cmd = ["redis-cli", "-h", node.host, "-p", str(node.port)]
    if resp3:
        cmd.append("-3")
    env = dict(os.environ, REDISCLI_AUTH=PASSWORD_A)
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True, env=env, timeout=20)


def test_set_get_and_errors(node):
    assert cli(node, "SET", "cli-key", "hello").stdout.strip() == "OK"
    assert cli(node, "GET", "cli-key").stdout.strip() == "hello"
    out = cli(node, "SELECT", "2").stdout.strip()
    assert out == "(error) ERR Only 0th database is supported! Selected DB: 2" or out.startswith("ERR Only 0th")


def test_pipe_mode_and_interactive_lines(node):
    script = "".join(f"SET pipe:{i} {i}\n" for i in range(500)) + "DBSIZE\n"
    res = cli(node, stdin=script)
    assert res.returncode == 0
    assert "OK" in res.stdout
    res = cli(node, "--pipe", stdin="".join(f"SET p2:{i} {i}\r\n" for i in range(1000)))
    assert "errors: 0, replies: 1000" in res.stdout, res.stdout + res.stderr


def test_resp3_and_info(node):
    res = cli(node, "HELLO", "3", resp3=True)
    assert "proto" in res.stdout
    res = cli(node, "INFO", "server")
    assert "redis_version:7." in res.stdout


def test_scan_and_keys(node):
    for i in range(30):
        cli(node, "SET", f"scan:{i}", "x")
    res = cli(node, "--scan", "--pattern", "scan:*")
    assert len(res.stdout.split()) == 30
