"""pool_stats: created, in use and available connections of sync and asyncio pools."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from redlua import AsyncEngine, EmbeddedCluster, Engine, load_script
from redlua.ops import pool_stats
from redlua.ops.pools import PoolStats, _counts

PING = load_script("core_ping")


def _consistent(row: PoolStats) -> None:
    assert row.created is not None and row.in_use is not None and row.available is not None
    assert row.kept is not None
    assert row.created == row.in_use + row.kept + row.available


def test_sync_pool_counts_after_eight_threads(server_url: str) -> None:
    """After 8 threads ran scripts at once, at most 8 connections exist and none is in use."""
    client = redis.Redis.from_url(server_url, max_connections=20)
    engine = Engine(client)
    assert pool_stats(engine)[0].created == 0
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            engine.run_script("core_ping", args=("x",))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (row,) = pool_stats(engine)
    _consistent(row)
    assert 1 <= row.created <= 8 and row.in_use == 0 and row.kept == row.created - row.available
    assert 1 <= row.kept <= 20 // 4  # an engine keeps at most a quarter of the pool
    assert row.max_connections == 20 and row.kind == "ConnectionPool"
    assert row.to_dict()["created"] == row.created
    engine.close()
    (row,) = pool_stats(engine)
    assert row.kept == 0 and row.available == row.created  # every connection is back
    client.close()


def test_in_use_counts_a_borrowed_connection(server_url: str) -> None:
    """A connection taken from the pool shows as in use until it is given back."""
    client = redis.Redis.from_url(server_url)
    pool = client.connection_pool
    conn = pool.get_connection()
    (row,) = pool_stats(client)
    assert (row.created, row.in_use, row.available) == (1, 1, 0)
    pool.release(conn)
    (row,) = pool_stats(client)
    assert (row.created, row.in_use, row.available) == (1, 0, 1)
    client.close()


def test_blocking_pool_counts(server_url: str) -> None:
    """A BlockingConnectionPool reports the connections it made, lent and holds."""
    pool = redis.BlockingConnectionPool.from_url(server_url, max_connections=5)
    client = redis.Redis(connection_pool=pool)
    client.ping()
    conn = pool.get_connection()
    (row,) = pool_stats(client)
    _consistent(row)
    assert (row.created, row.in_use, row.available, row.max_connections) == (1, 1, 0, 5)
    pool.release(conn)
    (row,) = pool_stats(client)
    assert (row.created, row.in_use, row.available) == (1, 0, 1)
    client.close()


def test_async_pool_counts_after_fifty_tasks(server_url: str) -> None:
    """After 50 tasks ran scripts at once, the asyncio pool's counts add up and none is in use."""

    async def main() -> PoolStats:
        client = redis.asyncio.Redis.from_url(server_url)
        engine = AsyncEngine(client)

        async def worker() -> None:
            for _ in range(10):
                await engine.run_script("core_ping", args=("x",))

        await asyncio.gather(*(worker() for _ in range(50)))
        (row,) = pool_stats(engine)
        _consistent(row)
        assert row.kept is not None and row.kept >= 1
        await engine.aclose()
        (after,) = pool_stats(engine)
        await client.aclose()
        assert after.kept == 0 and after.available == after.created
        return row

    row = asyncio.run(main())
    assert 1 <= (row.created or 0) <= 50 and row.in_use == 0


def test_unknown_pool_internals_give_none_not_an_error() -> None:
    """A pool object without the known attributes yields no counts instead of raising."""
    assert _counts(object()) is None


@pytest.mark.cluster
def test_cluster_pools_are_listed_per_node(cluster: EmbeddedCluster) -> None:
    """A sync and an asyncio cluster client list one consistent row per node."""
    client = cluster.client()
    engine = Engine(client)
    for i in range(30):
        engine.run_script("core_ping", args=(str(i),))
    rows = pool_stats(engine)
    assert len(rows) == len(client.get_nodes()) >= 3
    for row in rows:
        _consistent(row)
        assert row.in_use == 0
    assert sum(row.created or 0 for row in rows) >= 1
    client.close()

    async def main() -> list[PoolStats]:
        host, port = cluster.startup_nodes[0]
        aclient = AsyncRedisCluster(host=host, port=port)
        aengine = AsyncEngine(aclient)
        assert pool_stats(aengine) == []  # no topology yet
        await aengine.run_script("core_ping", args=("x",))
        found = pool_stats(aengine)
        await aclient.aclose()
        return found

    arows = asyncio.run(main())
    assert len(arows) >= 3
    for row in arows:
        _consistent(row)
