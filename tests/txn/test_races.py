"""Races on a real server: processes, threads and tasks incrementing one number optimistically.

Each increment is a read-modify-write: through `Versioned.update` (compare-and-set on
the version) or through `Transactions.run` (GET under WATCH, SET in EXEC). A single
lost update would leave the final count short; every writer also reports its counts,
which must add up (every attempt either committed or conflicted).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, Engine
from redlua.txn import (
    AsyncTransactions,
    AsyncVersioned,
    ConflictStats,
    Transactions,
    Versioned,
)

WORKERS = 8
ROUNDS = 100
SETTINGS: dict[str, Any] = {"attempts": 10_000, "base": 0.001, "cap": 0.02}
RECORD = "redlua:ver:{counter}"


def _bump(value: Any) -> str:
    return str(int(value or 0) + 1)


def _watched_incr(t: Any) -> None:
    n = int(t.get("{counter}n") or 0)
    t.multi()
    t.set("{counter}n", n + 1)


async def _watched_incr_async(t: Any) -> None:
    n = int(await t.get("{counter}n") or 0)
    await asyncio.sleep(0)  # let the other tasks read in between
    t.multi()
    t.set("{counter}n", n + 1)


def _check(stats: list[ConflictStats], total: int) -> None:
    runs = sum(s.runs for s in stats)
    committed = sum(s.committed for s in stats)
    attempts = sum(s.attempts for s in stats)
    conflicts = sum(s.conflicts for s in stats)
    assert runs == committed == total
    assert attempts == committed + conflicts
    assert sum(s.exhausted for s in stats) == 0


# -- processes ---------------------------------------------------------------------------------


def _writer(url: str, recipe: str, kind: str, barrier: Any, results: Any) -> None:
    """Process body: wait for the others, then ROUNDS increments; report the helper's counts."""
    if kind == "async":
        asyncio.run(_writer_async(url, recipe, barrier, results))
        return
    client = redis.Redis.from_url(url, decode_responses=True)
    engine = Engine(client)
    if recipe == "versioned":
        records = Versioned(engine, **SETTINGS)
        records.get("counter")  # connect and load the script before the start line
        barrier.wait()
        for _ in range(ROUNDS):
            records.update("counter", _bump)
        results.put(records.stats())
    else:
        tx = Transactions(engine, **SETTINGS)
        client.ping()
        barrier.wait()
        for _ in range(ROUNDS):
            tx.run(_watched_incr, "{counter}n")
        results.put(tx.stats())
    client.close()


async def _writer_async(url: str, recipe: str, barrier: Any, results: Any) -> None:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    engine = AsyncEngine(client)
    if recipe == "versioned":
        records = AsyncVersioned(engine, **SETTINGS)
        await records.get("counter")
        barrier.wait()
        for _ in range(ROUNDS):
            await records.update("counter", _bump)
        results.put(records.stats())
    else:
        tx = AsyncTransactions(engine, **SETTINGS)
        await client.ping()
        barrier.wait()
        for _ in range(ROUNDS):
            await tx.run(_watched_incr_async, "{counter}n")
        results.put(tx.stats())
    await client.aclose()


@pytest.mark.parametrize("recipe", ["versioned", "watch"])
def test_8_processes_lose_no_update(server_url: str, r: redis.Redis, recipe: str) -> None:
    """8 processes (4 sync, 4 asyncio) x 100 optimistic increments end exactly at 800."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    kinds = ["sync", "async"] * (WORKERS // 2)
    procs = [
        context.Process(target=_writer, args=(server_url, recipe, kind, barrier, results))
        for kind in kinds
    ]
    for proc in procs:
        proc.start()
    stats = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    total = WORKERS * ROUNDS
    if recipe == "versioned":
        assert r.hgetall(RECORD) == {"v": str(total), "n": str(total)}
    else:
        assert r.get("{counter}n") == str(total)
    _check(stats, total)


# -- tasks and threads -------------------------------------------------------------------------


def test_8_tasks_sharing_one_async_versioned_lose_no_update(
    server_url: str, r: redis.Redis
) -> None:
    """8 asyncio tasks x 100 updates through one AsyncVersioned end at 800, version 800."""

    async def main() -> ConflictStats:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        records = AsyncVersioned(AsyncEngine(client), **SETTINGS)

        async def worker() -> None:
            for _ in range(ROUNDS):
                await records.update("counter", _bump)

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        await client.aclose()
        return records.stats()

    stats = asyncio.run(main())
    assert r.hgetall(RECORD) == {"v": "800", "n": "800"}
    _check([stats], WORKERS * ROUNDS)
    assert stats.conflicts > 0  # tasks interleave at every await: they did collide


def test_8_tasks_sharing_one_async_transactions_lose_no_update(
    server_url: str, r: redis.Redis
) -> None:
    """8 asyncio tasks x 100 WATCH increments through one AsyncTransactions end at 800."""

    async def main() -> ConflictStats:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        tx = AsyncTransactions(AsyncEngine(client), **SETTINGS)

        async def worker() -> None:
            for _ in range(ROUNDS):
                await tx.run(_watched_incr_async, "{counter}n")

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        await client.aclose()
        return tx.stats()

    stats = asyncio.run(main())
    assert r.get("{counter}n") == "800"
    _check([stats], WORKERS * ROUNDS)
    assert stats.conflicts > 0


@pytest.mark.parametrize("recipe", ["versioned", "watch"])
def test_8_threads_sharing_one_helper_lose_no_update(
    server_url: str, r: redis.Redis, recipe: str
) -> None:
    """8 threads x 100 increments through one Versioned (or Transactions) end at 800."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    engine = Engine(client)
    helper: Any = (
        Versioned(engine, **SETTINGS) if recipe == "versioned" else Transactions(engine, **SETTINGS)
    )
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(ROUNDS):
                if recipe == "versioned":
                    helper.update("counter", _bump)
                else:
                    helper.run(_watched_incr, "{counter}n")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    assert errors == []
    if recipe == "versioned":
        assert r.hget(RECORD, "v") == "800"
    else:
        assert r.get("{counter}n") == "800"
    _check([helper.stats()], WORKERS * ROUNDS)


@pytest.mark.cluster
def test_8_tasks_on_a_cluster_lose_no_update(cluster: Any) -> None:
    """On the cluster, 8 tasks x 50 updates and 8 x 50 WATCH increments both end at 400."""
    from redis.asyncio.cluster import RedisCluster

    host, port = cluster.startup_nodes[0]

    async def main() -> tuple[Any, Any]:
        client = RedisCluster(host=host, port=port, decode_responses=True)
        await client.delete(RECORD, "{counter}n")
        engine = AsyncEngine(client)
        records = AsyncVersioned(engine, **SETTINGS)
        tx = AsyncTransactions(engine, **SETTINGS)

        async def worker() -> None:
            for _ in range(50):
                await records.update("counter", _bump)
                await tx.run(_watched_incr_async, "{counter}n")

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        got = (await client.hget(RECORD, "v"), await client.get("{counter}n"))
        await client.aclose()
        _check([records.stats()], WORKERS * 50)
        _check([tx.stats()], WORKERS * 50)
        return got

    assert asyncio.run(main()) == ("400", "400")
