"""Races on a real server: processes, threads and tasks hitting the same limits at once.

The window algorithms must admit exactly their limit (a window long enough not to roll
during the test); the buckets at most ``burst + rate x elapsed``, the time measured on
the server's clock around the race.
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
from redlua.ratelimit import AsyncRateLimiter, Limit, RateLimiter
from tests.ratelimit import T0

WORKERS = 8
HITS = 125  # per worker: 1000 in all
WINDOW_LIMITS = [Limit(100, 3600, algorithm) for algorithm in ("sliding_log", "sliding_window", "fixed_window")]  # fmt: skip
BUCKET_LIMITS = [Limit(50, 1, "token_bucket", burst=20), Limit(50, 1, "gcra", burst=20)]
ALL_LIMITS = WINDOW_LIMITS + BUCKET_LIMITS


def _server_seconds(r: redis.Redis) -> float:
    seconds, micros = r.time()
    return seconds + micros / 1e6


def _check(admitted: list[int], elapsed: float) -> None:
    """Windows admitted exactly 100 of 1000; buckets no more than burst + rate x elapsed."""
    assert admitted[:3] == [100, 100, 100]
    for count in admitted[3:]:
        assert 20 <= count <= 20 + 50 * elapsed + 1, (count, elapsed)


def _hit_in_process(url: str, barrier: Any, results: Any, kind: str) -> None:
    """Process body: after the start line, HITS hits on each limit; report admissions."""
    if kind == "async":
        results.put(asyncio.run(_hit_async(url, barrier)))
        return
    client = redis.Redis.from_url(url, decode_responses=True)
    limiters = [RateLimiter(Engine(client), limit) for limit in ALL_LIMITS]
    limiters[0].peek("warm")  # connect and load the script before the start line
    barrier.wait()
    counts = [0] * len(limiters)
    for _ in range(HITS):
        for i, limiter in enumerate(limiters):
            counts[i] += limiter.hit("shared").allowed
    client.close()
    results.put(counts)


async def _hit_async(url: str, barrier: Any) -> list[int]:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    limiters = [AsyncRateLimiter(AsyncEngine(client), limit) for limit in ALL_LIMITS]
    await limiters[0].peek("warm")
    barrier.wait()
    counts = [0] * len(limiters)
    for _ in range(HITS):
        for i, limiter in enumerate(limiters):
            decision = await limiter.hit("shared")
            counts[i] += decision.allowed
    await client.aclose()
    return counts


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_eight_processes_never_over_admit(server_url: str, r: redis.Redis, kind: str) -> None:
    """8 processes x 125 hits per limit: windows admit exactly 100, buckets within their bound."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS + 1)
    results = context.Queue()
    procs = [
        context.Process(target=_hit_in_process, args=(server_url, barrier, results, kind))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=60)
    started = _server_seconds(r)
    counts = [results.get(timeout=90) for _ in procs]
    elapsed = _server_seconds(r) - started
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    _check([sum(c[i] for c in counts) for i in range(len(ALL_LIMITS))], elapsed)


def test_eight_tasks_never_over_admit(server_url: str, r: redis.Redis) -> None:
    """8 tasks x 125 hits per limit on shared AsyncRateLimiters: the same bounds hold."""

    async def main() -> tuple[list[int], float]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        limiters = [AsyncRateLimiter(AsyncEngine(client), limit) for limit in ALL_LIMITS]
        await limiters[0].peek("warm")
        counts = [0] * len(limiters)

        async def worker() -> None:
            for _ in range(HITS):
                for i, limiter in enumerate(limiters):
                    decision = await limiter.hit("shared")  # await first: += reads before
                    counts[i] += decision.allowed

        started = _server_seconds(r)
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        elapsed = _server_seconds(r) - started
        await client.aclose()
        return counts, elapsed

    counts, elapsed = asyncio.run(main())
    _check(counts, elapsed)


def test_eight_threads_in_one_millisecond_admit_exactly_the_limit(
    server_url: str, r: redis.Redis
) -> None:
    """8 threads x 125 hits all stamped with one millisecond: every window admits exactly 100."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    limiters = [RateLimiter(Engine(client), limit) for limit in WINDOW_LIMITS]
    counts = [0] * len(limiters)
    guard = threading.Lock()
    start = threading.Barrier(WORKERS)

    def worker() -> None:
        start.wait()
        for _ in range(HITS):
            for i, limiter in enumerate(limiters):
                if limiter.hit("shared", now=T0).allowed:
                    with guard:
                        counts[i] += 1

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    assert counts == [100, 100, 100]
    assert r.llen("redlua:rl:{shared}:sliding_log/100/3600000ms") == 100


def test_multi_limit_races_admit_exactly_the_tightest(server_url: str, r: redis.Redis) -> None:
    """8 threads hit a 30/h log together with a 1000/h window: both end at exactly 30 units."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    limiter = RateLimiter(
        Engine(client), Limit(1000, 3600, "fixed_window"), Limit(30, 3600, "sliding_log")
    )
    admitted: list[bool] = []

    def worker() -> None:
        for _ in range(40):
            admitted.append(limiter.hit("shared").allowed)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    assert sum(admitted) == 30
    assert r.get("redlua:rl:{shared}:fixed_window/1000/3600000ms").endswith(":30")
    assert r.llen("redlua:rl:{shared}:sliding_log/30/3600000ms") == 30
