"""Databases are added, re-keyed and removed at run time through the node's tenants file."""


import pytest
import redis

from conftest import TernNode, wait_until


def can_auth(node, password):
    try:
        return redis.Redis(host=node.host, port=node.port, password=password, socket_timeout=2).ping()
    except redis.AuthenticationError:
        return False


def test_runtime_add_reset_and_remove(tmp_path):
    tenants = tmp_path / "tenants"
    tenants.write_text("# id:password\nruntime-db:first-password\n")
    node = TernNode(extra_args=("--tenants-file", str(tenants)))
    try:
        assert can_auth(node, "first-password")
        c = redis.Redis(host=node.host, port=node.port, password="first-password")
        c.set("k", "v")
        # Password reset: the old one stops working at once and its connections are closed.
        tenants.write_text("runtime-db:second-password\nother-db:third\n")
        assert wait_until(lambda: can_auth(node, "second-password"))
        assert not can_auth(node, "first-password")
        with pytest.raises(redis.ConnectionError):
            c.get("k")
        assert redis.Redis(host=node.host, port=node.port, password="second-password").get("k") == b"v"
        assert can_auth(node, "third")
        # Removal.
        tenants.write_text("other-db:third\n")
        assert wait_until(lambda: not can_auth(node, "second-password"))
        # Databases given with --tenant stay.
        assert can_auth(node, "pw-alpha-0123456789")
    finally:
        node.stop()
