"""Races on a real server: processes, threads and tasks pushing counters at their bounds.

Every check is on the final state and on what each racer was told: a ceiling is never
passed and is reached exactly, a floor is never crossed, and a threshold is announced by
exactly one change (one PUBLISH heard by a subscriber, one stream entry), however many
racers cross it at once.
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
from redlua.counters import (
    AsyncCounters,
    Counters,
    Decrement,
    Increment,
    Threshold,
    ThresholdEvent,
)

WORKERS = 8
ROUNDS = 500
MAXIMUM = 3000  # below WORKERS x ROUNDS: the ceiling is reached and then refuses
KEY = "redlua:counter:{hits}"
ALERTS = (Threshold(2000, channel="hits-alerts"), Threshold(2500, stream=True))


def _increment_in_process(url: str, kind: str, barrier: Any, out: Any) -> None:
    """Process body: wait for the others, then ROUNDS increments under the ceiling."""
    if kind == "async":
        asyncio.run(_increment_async(url, barrier, out))
        return
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        counters = Counters(Engine(client))
        counters.get("hits")  # connect and load the scripts before the start line
        barrier.wait()
        applied, crossed, highest = 0, 0, 0
        for _ in range(ROUNDS):
            update = counters.increment_with_limit("hits", 1, MAXIMUM, notify=ALERTS)
            applied += update.applied
            crossed += len(update.crossed)
            highest = max(highest, update.value)
        out.put((applied, crossed, highest))
    finally:
        client.close()


async def _increment_async(url: str, barrier: Any, out: Any) -> None:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        counters = AsyncCounters(AsyncEngine(client))
        await counters.get("hits")
        barrier.wait()
        applied, crossed, highest = 0, 0, 0
        for _ in range(ROUNDS):
            update = await counters.increment_with_limit("hits", 1, MAXIMUM, notify=ALERTS)
            applied += update.applied
            crossed += len(update.crossed)
            highest = max(highest, update.value)
        out.put((applied, crossed, highest))
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_processes_never_pass_the_ceiling(server_url: str, r: redis.Redis, kind: str) -> None:
    """8 processes x 500 increments under a ceiling of 3000 end at 3000; each level heard once."""
    pubsub = r.pubsub()
    pubsub.subscribe("hits-alerts")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    out = context.Queue()
    procs = [
        context.Process(target=_increment_in_process, args=(server_url, kind, barrier, out))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    reports = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    assert r.get(KEY) == str(MAXIMUM)
    assert sum(applied for applied, _, _ in reports) == MAXIMUM
    assert max(highest for _, _, highest in reports) == MAXIMUM
    assert sum(crossed for _, crossed, _ in reports) == 2  # 2000 and 2500, one racer each
    heard = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        heard.append(ThresholdEvent.from_message(message["data"]))
    pubsub.close()
    assert heard == [ThresholdEvent(KEY, 2000, "up", 1999, 2000)]
    entries = r.xrange(KEY + "#events")
    assert [ThresholdEvent.from_entry(i, f).level for i, f in entries] == [2500]


DOWN = Threshold(500, stream=True, direction="down")


def test_threads_never_pass_the_floor(server_url: str, r: redis.Redis) -> None:
    """8 threads x 200 decrements of a counter at 1000 take exactly 1000; 500 is logged once."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    counters = Counters(Engine(client))
    counters.set("stock", 1000)
    applied: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            mine = 0
            for _ in range(200):
                update = counters.decrement_if_positive("stock", notify=DOWN)
                assert update.value >= 0
                mine += update.applied
            applied.append(mine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    events = counters.events("stock")
    client.close()
    assert errors == [] and sum(applied) == 1000
    assert r.get("redlua:counter:{stock}") == "0"
    assert [(e.level, e.before, e.after) for e in events] == [(500, 500, 499)]


def test_tasks_never_pass_the_floor(server_url: str, r: redis.Redis) -> None:
    """8 tasks x 200 decrements of 2 from 1001 take exactly 1000 and leave 1; 500 logged once."""

    async def main() -> tuple[list[int], list[ThresholdEvent]]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        counters = AsyncCounters(AsyncEngine(client))
        await counters.set("stock", 1001)

        async def worker() -> int:
            mine = 0
            for _ in range(200):
                update = await counters.decrement_if_positive("stock", 2, notify=DOWN)
                assert update.value >= 1
                mine += update.applied
            return mine

        taken = await asyncio.gather(*(worker() for _ in range(WORKERS)))
        events = await counters.events("stock")
        await client.aclose()
        return list(taken), events

    taken, events = asyncio.run(main())
    assert sum(taken) == 500 and r.get("redlua:counter:{stock}") == "1"
    assert [(e.level, e.before, e.after) for e in events] == [(500, 501, 499)]


def test_threads_racing_batches_keep_a_group_consistent(server_url: str, r: redis.Redis) -> None:
    """All-or-nothing transfers between two counters of a group never lose or make a unit."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    cart = Counters(Engine(client), group="pair")
    cart.set("left", 300)
    moved: list[int] = []

    def worker(source: str, target: str) -> None:
        done = 0
        for _ in range(150):
            results = cart.batch([Decrement(source, 3), Increment(target, 3)], all_or_nothing=True)
            assert results[0].applied == results[1].applied
            done += results[0].applied
        moved.append(done)

    threads = [
        threading.Thread(target=worker, args=(("left", "right") if i % 2 else ("right", "left")))
        for i in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    left, right = cart.get_many(["left", "right"])
    client.close()
    assert len(moved) == WORKERS and left + right == 300 and left >= 0 and right >= 0
    assert sum(moved) > 0


def test_threads_counting_without_a_ceiling_lose_nothing(server_url: str, r: redis.Redis) -> None:
    """8 threads x 100 plain increments (the fast path) end at 800; the ttl is set once."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    counters = Counters(Engine(client))
    values: list[int] = []

    def worker() -> None:
        for _ in range(100):
            values.append(counters.increment_with_limit("plain", 1, None, 30).value)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    assert sorted(values) == list(range(1, 801))  # every increment saw its own value
    assert r.get("redlua:counter:{plain}") == "800"
    assert 25_000 < r.pttl("redlua:counter:{plain}") <= 30_000
