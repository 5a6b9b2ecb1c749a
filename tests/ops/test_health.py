"""health_check / async_health_check against real servers, an unreachable one and the cluster."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, EmbeddedServer, Engine, shipped_scripts
from redlua.ops import async_health_check, health_check
from tests.ops import both


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_live_server_is_healthy_with_its_figures(engine: Any) -> None:
    """A reachable server reports healthy with ping, server name, role, clients, memory, uptime."""
    report = both(engine, health_check, async_health_check)
    assert report.healthy and not report.cluster and report.problems == []
    (node,) = report.nodes
    assert node.healthy and node.error is None
    assert node.ping is not None and 0 < node.ping < 5
    assert node.server in ("valkey", "redis") and node.version and node.redis_version
    assert node.role == "primary" and node.mode == "standalone"
    assert node.connected_clients is not None and node.connected_clients >= 1
    assert node.used_memory is not None and node.used_memory > 0
    assert node.uptime is not None and node.commands_processed is not None
    assert node.cached_scripts is not None and node.scripts_memory is not None
    assert node.shipped_total == len(shipped_scripts())
    json.dumps(report.to_dict())  # JSON-safe


def test_valkey_is_told_apart_by_its_info_fields(engine: Any, r: redis.Redis) -> None:
    """The server name and version come from INFO fields (valkey_version on Valkey), not versions."""
    info = r.info("server")
    (node,) = both(engine, health_check, async_health_check).nodes
    if "valkey_version" in info:
        assert node.server == "valkey" and node.version == info["valkey_version"]
    else:
        assert node.server == "redis" and node.version == info["redis_version"]
    assert node.redis_version == info["redis_version"]


def test_shipped_scripts_show_as_loaded_after_preload(engine: Any) -> None:
    """After preload every shipped script is found by SCRIPT EXISTS."""
    engine.preload()
    (node,) = both(engine, health_check, async_health_check).nodes
    assert node.shipped_loaded == node.shipped_total and node.shipped_missing == ()


def test_a_plain_client_can_be_checked(server_url: str) -> None:
    """health_check takes a redis-py client as well as an engine."""
    client = redis.Redis.from_url(server_url)
    try:
        assert health_check(client).healthy
    finally:
        client.close()


def test_memory_percent_follows_maxmemory(private_server: EmbeddedServer, pr: redis.Redis) -> None:
    """memory_percent is None without maxmemory and used/maxmemory*100 with one."""
    before = pr.config_get("maxmemory")["maxmemory"]
    try:
        pr.config_set("maxmemory", 0)
        assert health_check(pr).nodes[0].memory_percent is None
        pr.config_set("maxmemory", 1 << 30)
        node = health_check(pr).nodes[0]
        assert node.maxmemory == 1 << 30 and node.used_memory is not None
        assert node.memory_percent == pytest.approx(100 * node.used_memory / (1 << 30), abs=0.05)
    finally:
        pr.config_set("maxmemory", before)


def test_an_unreachable_server_is_unhealthy_not_an_exception() -> None:
    """A closed port gives healthy=False with the connection error's text, sync and async."""
    port = _closed_port()
    client = redis.Redis(host="127.0.0.1", port=port)
    report = health_check(Engine(client), timeout=1.0)
    assert not report.healthy
    (node,) = report.nodes
    assert not node.healthy and node.address == f"127.0.0.1:{port}"
    assert node.error is not None and "ConnectionError" in node.error
    assert report.problems == [f"127.0.0.1:{port}: {node.error}"]
    json.dumps(report.to_dict())

    async def main() -> Any:
        aclient = redis.asyncio.Redis(host="127.0.0.1", port=port)
        try:
            return await async_health_check(AsyncEngine(aclient), timeout=1.0)
        finally:
            await aclient.aclose()

    areport = asyncio.run(main())
    assert not areport.healthy and "ConnectionError" in (areport.nodes[0].error or "")


def test_bad_arguments_raise_before_any_io(server_url: str) -> None:
    """A non-client target or a bad timeout raises TypeError/ValueError naming it."""
    with pytest.raises(TypeError, match="expected an Engine"):
        health_check("redis://localhost")
    client = redis.Redis.from_url(server_url)
    with pytest.raises(ValueError, match="timeout"):
        health_check(client, timeout=0)
    with pytest.raises(TypeError, match="timeout"):
        health_check(client, timeout=True)
    with pytest.raises(TypeError, match="async_health_check"):
        health_check(redis.asyncio.Redis.from_url(server_url))
    client.close()


@pytest.mark.cluster
def test_a_cluster_has_one_row_per_node_and_its_state(cluster_engine: Any) -> None:
    """On the cluster every node has a row, three primaries, and the cluster state is ok."""
    report = both(cluster_engine, health_check, async_health_check)
    assert report.cluster and report.healthy, report.problems
    primaries = [n for n in report.nodes if n.role == "primary"]
    assert len(primaries) == 3 and all(n.healthy and n.cluster_state == "ok" for n in report.nodes)
    assert len({n.address for n in report.nodes}) == len(report.nodes)
    state = report.cluster_state
    assert state is not None and state.state == "ok" and state.slots_assigned == 16384
    assert state.size == 3 and state.seen_from in {n.address for n in primaries}
    json.dumps(report.to_dict())


def test_logging_is_quiet_by_default_and_structured(caplog: pytest.LogCaptureFixture) -> None:
    """redlua.ops logs through `logging` (a NullHandler on "redlua") with redlua_* fields."""
    import logging

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("redlua").handlers)
    with caplog.at_level(logging.INFO, logger="redlua.ops"):
        health_check(redis.Redis(host="127.0.0.1", port=_closed_port()), timeout=1.0)
    (record,) = [r for r in caplog.records if r.name == "redlua.ops"]
    assert record.levelno == logging.INFO and "ConnectionError" in record.redlua_problems[0]
