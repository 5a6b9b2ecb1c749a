"""Which servers an engine or client talks to, and a short private conversation with each.

Operations commands (PING, INFO, SCRIPT EXISTS, SLOWLOG) go over a fresh
connection per node with no retries and a short timeout, made from the client's
own connection settings (address, TLS, password, database). So a health check
measures the server and not the pool, an unreachable node fails in one attempt
instead of redis-py's back-off, and the pools the application uses are not
touched. ``exchange`` and ``async_exchange`` are twins that differ only by
``await``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError
from redis.retry import Retry

from redlua._engine_core import EngineCore


@dataclass(frozen=True)
class NodeRef:
    """One server to ask: its address, its role as the client sees it, how to connect."""

    address: str
    role: str | None  # "primary" or "replica" on a cluster; None on a standalone server
    connection_class: Any
    kwargs: dict[str, Any]
    pool: Any  # the client's pool for this node (read by pool_stats, never used here)


@dataclass(frozen=True)
class Exchange:
    """The replies of a few commands sent on one connection, and how long each took."""

    replies: list[Any]  # a reply, or the ResponseError the server answered
    seconds: list[float]


def client_of(target: Any) -> Any:
    """Return the redis-py client of *target*: an engine's client, or *target* itself."""
    if isinstance(target, EngineCore):
        return target.client  # type: ignore[attr-defined]
    if isinstance(target, (redis.Redis, RedisCluster, aredis.Redis, AsyncRedisCluster)):
        return target
    raise TypeError(
        "expected an Engine, an AsyncEngine or a redis-py client (Redis or RedisCluster), "
        f"not {type(target).__name__}"
    )


def is_async(client: Any) -> bool:
    """True for a ``redis.asyncio`` client."""
    return isinstance(client, (aredis.Redis, AsyncRedisCluster))


def is_cluster(client: Any) -> bool:
    """True for a cluster client, sync or async."""
    return isinstance(client, (RedisCluster, AsyncRedisCluster))


def _address(kwargs: dict[str, Any]) -> str:
    path = kwargs.get("path")
    if path:
        return str(path)
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def nodes_of(client: Any, *, primaries_only: bool = False) -> list[NodeRef]:
    """Return the nodes of *client* as it knows them now (an async cluster: once initialized)."""
    if isinstance(client, RedisCluster):
        found = []
        for node in client.get_nodes():  # type: ignore[no-untyped-call]
            if primaries_only and node.server_type != "primary":
                continue
            pool = client.get_redis_connection(node).connection_pool
            kwargs = dict(pool.connection_kwargs)
            found.append(
                NodeRef(f"{node.host}:{node.port}", node.server_type, pool.connection_class,
                        kwargs, pool)
            )  # fmt: skip
        return sorted(found, key=lambda n: n.address)
    if isinstance(client, AsyncRedisCluster):
        found = [
            NodeRef(f"{node.host}:{node.port}", node.server_type, node.connection_class,
                    dict(node.connection_kwargs), node)
            for node in client.get_nodes()
            if not primaries_only or node.server_type == "primary"
        ]  # fmt: skip
        return sorted(found, key=lambda n: n.address)
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    return [NodeRef(_address(kwargs), None, pool.connection_class, kwargs, pool)]


def _settings(node: NodeRef, timeout: float, retry: Any) -> dict[str, Any]:
    kwargs = dict(node.kwargs)
    kwargs.update(
        socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry, client_name=None
    )
    kwargs["decode_responses"] = False  # SLOWLOG may hold binary arguments: decode leniently
    return kwargs


def exchange(node: NodeRef, commands: Sequence[tuple[Any, ...]], timeout: float) -> Exchange:
    """Send *commands* one by one on a fresh connection to *node*; raise if it cannot talk."""
    conn = node.connection_class(**_settings(node, timeout, Retry(NoBackoff(), 0)))
    try:
        conn.connect()
        replies: list[Any] = []
        seconds: list[float] = []
        for command in commands:
            started = time.perf_counter()
            conn.send_command(*command)
            try:
                replies.append(conn.read_response())
            except ResponseError as exc:
                replies.append(exc)
            seconds.append(time.perf_counter() - started)
        return Exchange(replies, seconds)
    finally:
        conn.disconnect()


async def async_exchange(
    node: NodeRef, commands: Sequence[tuple[Any, ...]], timeout: float
) -> Exchange:
    """Send *commands* one by one on a fresh connection to *node*; raise if it cannot talk."""
    conn = node.connection_class(**_settings(node, timeout, AsyncRetry(NoBackoff(), 0)))
    try:
        await conn.connect()
        replies: list[Any] = []
        seconds: list[float] = []
        for command in commands:
            started = time.perf_counter()
            await conn.send_command(*command)
            try:
                replies.append(await conn.read_response())
            except ResponseError as exc:
                replies.append(exc)
            seconds.append(time.perf_counter() - started)
        return Exchange(replies, seconds)
    finally:
        await conn.disconnect()


def describe_error(exc: BaseException) -> str:
    """Return ``Type: message`` for an exception, the form every report uses."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
