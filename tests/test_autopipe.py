"""AsyncEngine auto-pipelining: the calls of one loop tick share a write, each gets its own reply.

Every test runs on the real server, with the engine's default (pipelining on), and
checks both what each task got and what the server holds afterwards.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, Call, EmbeddedServer, Script, ServerError
from redlua._autopipe import IN_FLIGHT
from redlua.ops import pool_stats

ECHO = Script.from_source("pipe_echo", "return ARGV[1]")
INCR = Script.from_source("pipe_incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])")
FAIL = Script.from_source(
    "pipe_fail",
    "if ARGV[1] == 'fail' then return redis.error_reply('BOOM call ' .. ARGV[2]) end\n"
    "return redis.call('INCR', KEYS[1])",
)
SPIN = Script.from_source(
    "pipe_spin",
    "for _ = 1, tonumber(ARGV[1]) do end return redis.call('INCR', KEYS[1])",
)


@pytest.fixture
def one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """One batch in flight per node, and no call sent alone: a tick's calls share one write."""
    monkeypatch.setattr("redlua._autopipe.IN_FLIGHT", 1)
    monkeypatch.setattr("redlua._autopipe.DIRECT", False)


def _client(url: str, **kwargs: Any) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(url, decode_responses=True, **kwargs)


def test_pipelining_is_on_by_default_and_can_be_turned_off(server_url: str) -> None:
    """AsyncEngine pipelines unless pipelining=False; both give the same replies."""

    async def main() -> tuple[bool, bool, list[Any]]:
        client = _client(server_url)
        try:
            on, off = AsyncEngine(client), AsyncEngine(client, pipelining=False)
            replies = [await e.run(Call(ECHO, (), ("x",))) for e in (on, off)]
            return on.pipelining, off.pipelining, replies
        finally:
            await client.aclose()

    assert asyncio.run(main()) == (True, False, ["x", "x"])


def test_a_thousand_tasks_with_mixed_scripts_get_their_own_replies(
    server_url: str, r: redis.Redis
) -> None:
    """1000 concurrent tasks, two scripts, seven keys: every reply is the task's own, few writes."""

    async def main() -> tuple[list[Any], int]:
        client = _client(server_url)
        engine = AsyncEngine(client)
        await engine.preload([ECHO, INCR])

        async def one(i: int) -> Any:
            await asyncio.sleep(random.random() * 0.01)  # spread over ticks
            if i % 3 == 0:
                return await engine.run(Call(ECHO, (), (f"task-{i}",)))
            return await engine.run(Call(INCR, (f"k{i % 7}",), (i,)))

        try:
            replies = await asyncio.gather(*(one(i) for i in range(1000)))
            assert engine._pipe is not None
            (pool,) = pool_stats(engine)
            return replies, engine._pipe.batches, pool.created or 0
        finally:
            await client.aclose()

    replies, batches, created = asyncio.run(main())
    for i, reply in enumerate(replies):
        if i % 3 == 0:
            assert reply == f"task-{i}"
    for k in range(7):
        own = [i for i in range(1000) if i % 3 and i % 7 == k]
        assert int(r.get(f"k{k}") or 0) == sum(own)
        seen = sorted(replies[i] for i in own)  # running totals: distinct, the last is the total
        assert len(set(seen)) == len(own) and seen[-1] == sum(own)
    assert batches < 1000 / 2  # the calls of a tick shared writes
    assert created <= IN_FLIGHT + 1  # a burst needs a few connections, not one per task


def test_an_error_in_the_middle_of_a_batch_is_that_call_s_own(
    server_url: str, r: redis.Redis
) -> None:
    """Calls around a failing one in the same write succeed; only the failing ones raise."""

    async def main() -> list[Any]:
        client = _client(server_url)
        engine = AsyncEngine(client)
        await engine.preload([FAIL])

        async def one(i: int) -> Any:
            mode = "fail" if i % 5 == 2 else "ok"
            try:
                return await engine.run(Call(FAIL, ("n",), (mode, i)))
            except ServerError as exc:
                return exc

        try:
            results = await asyncio.gather(*(one(i) for i in range(50)))
            assert engine._pipe is not None and engine._pipe.calls == 50
            assert engine._pipe.batches <= 10  # several calls per write: errors among them
            return results
        finally:
            await client.aclose()

    results = asyncio.run(main())
    for i, result in enumerate(results):
        if i % 5 == 2:
            assert isinstance(result, ServerError) and f"BOOM call {i}" in str(result)
        else:
            assert isinstance(result, int)
    assert sorted(x for x in results if isinstance(x, int)) == list(range(1, 41))
    assert r.get("n") == "40"


def test_noscript_mid_batch_resends_only_the_calls_that_got_it(
    private_server: EmbeddedServer, pr: redis.Redis
) -> None:
    """After a flush, the calls whose script is gone are reloaded once and re-sent; none runs twice."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"

    async def main() -> tuple[dict[str, int], int]:
        client = _client(url)
        engine = AsyncEngine(client)
        await engine.preload([INCR, FAIL])
        await client.script_flush()
        await client.script_load(INCR.source)  # INCR is back, FAIL is not

        async def one(i: int) -> Any:
            if i % 2:
                return await engine.run(Call(INCR, ("a",), (1,)))
            return await engine.run(Call(FAIL, ("b",), ("ok", i)))

        try:
            await asyncio.gather(*(one(i) for i in range(200)))
            stats = engine.stats()
            loads = int((await client.info("stats"))["total_commands_processed"])
            return {n: stats[n].reloads for n in ("pipe_incr", "pipe_fail")}, loads
        finally:
            await client.aclose()

    reloads, _ = asyncio.run(main())
    assert pr.get("a") == "100" and pr.get("b") == "100"  # each call ran exactly once
    assert reloads["pipe_incr"] == 0
    assert 1 <= reloads["pipe_fail"] <= 100
    assert pr.script_exists(FAIL.sha) == [True]


def test_a_burst_of_noscript_sends_one_script_load(
    private_server: EmbeddedServer, pr: redis.Redis
) -> None:
    """500 tasks that all get NOSCRIPT in one tick share one SCRIPT LOAD."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"

    async def main() -> int:
        client = _client(url)
        engine = AsyncEngine(client)
        await client.script_flush()
        before = await _loads(client)
        try:
            await asyncio.gather(*(engine.run(Call(INCR, ("burst",), (1,))) for _ in range(500)))
            return await _loads(client) - before
        finally:
            await client.aclose()

    assert asyncio.run(main()) == 1
    assert pr.get("burst") == "500"


async def _loads(client: redis.asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_script|load", {}).get("calls", 0))


def test_a_task_cancelled_before_the_write_never_runs(server_url: str, r: redis.Redis) -> None:
    """Tasks cancelled in the tick they queued are left out of the write; the rest run once."""

    async def main() -> None:
        client = _client(server_url)
        engine = AsyncEngine(client)
        await engine.preload([INCR])
        try:
            tasks = [
                asyncio.ensure_future(engine.run(Call(INCR, ("c",), (1,)))) for _ in range(100)
            ]
            await asyncio.sleep(0)  # the first call went at once; the others wait in the queue
            for task in tasks[1::2]:
                task.cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            cancelled = [d for d in done if isinstance(d, asyncio.CancelledError)]
            assert len(cancelled) == 50
            assert await engine.run(Call(INCR, ("c",), (0,))) == 50
        finally:
            await client.aclose()

    asyncio.run(main())
    assert r.get("c") == "50"


def test_a_task_cancelled_while_its_batch_is_in_flight_leaves_the_connection_clean(
    server_url: str, r: redis.Redis, one_write: None
) -> None:
    """Cancelling waiters of a batch in flight: the batch is read whole; the next calls are right."""
    spins = _spins(r, 0.2)

    async def main() -> list[Any]:
        client = _client(server_url, max_connections=4)  # keep at most one idle connection
        engine = AsyncEngine(client)
        await engine.preload([SPIN, ECHO])
        try:
            tasks = [
                asyncio.ensure_future(engine.run(Call(SPIN, ("s",), (spins if i == 0 else 0,))))
                for i in range(20)
            ]
            await asyncio.sleep(0.05)  # written; the server spins on the first call
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            echoes = [engine.run(Call(ECHO, (), (f"after-{i}",))) for i in range(20)]
            return list(await asyncio.gather(*echoes))
        finally:
            await client.aclose()

    assert asyncio.run(main()) == [f"after-{i}" for i in range(20)]
    assert r.get("s") == "20"  # written before the cancel: they all ran, once


def _spins(client: redis.Redis, seconds: float) -> int:
    """Return how many empty Lua loop turns take about *seconds* on this server."""
    started = time.perf_counter()
    client.eval("for _ = 1, tonumber(ARGV[1]) do end return 1", 0, 2_000_000)
    per_turn = (time.perf_counter() - started) / 2_000_000
    return int(seconds / per_turn)


def test_a_lone_call_is_sent_at_once_and_the_calls_behind_it_are_batched(
    server_url: str, r: redis.Redis
) -> None:
    """A call on an idle node goes by itself in its own task; the 99 queued behind it share writes."""

    async def main() -> tuple[int, int, list[Any]]:
        client = _client(server_url)
        engine = AsyncEngine(client)
        await engine.preload([INCR])
        assert engine._pipe is not None
        try:
            await engine.run(Call(INCR, ("lone",), (1,)))
            lone = engine._pipe.batches
            replies = await asyncio.gather(
                *(engine.run(Call(INCR, ("many",), (1,))) for _ in range(100))
            )
            return lone, engine._pipe.batches - lone, list(replies)
        finally:
            await client.aclose()

    lone, batches, replies = asyncio.run(main())
    assert lone == 1
    assert batches <= 1 + IN_FLIGHT  # the first alone, the other 99 in a few writes
    assert sorted(replies) == list(range(1, 101)) and r.get("many") == "100"


def test_a_batch_whose_waiters_were_all_cancelled_takes_no_connection(
    server_url: str, one_write: None
) -> None:
    """Calls all cancelled before their flush: nothing is sent and no connection is opened."""

    async def main() -> int | None:
        client = _client(server_url)
        engine = AsyncEngine(client)
        try:
            tasks = [asyncio.ensure_future(engine.run(Call(ECHO, (), ("x",)))) for _ in range(5)]
            await asyncio.sleep(0)  # queued; the flush task has not run
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0.05)  # the flush task ran and found nothing to send
            (pool,) = pool_stats(engine)
            return pool.created
        finally:
            await client.aclose()

    assert asyncio.run(main()) == 0
