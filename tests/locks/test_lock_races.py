"""Races on a real server: processes, threads and tasks contending for one lock.

Each critical section is a non-atomic read-modify-write (GET, then SET), so a single
overlap between two holders would lose an increment and the final count would fall
short.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, Engine
from redlua.locks import AsyncLock, Lock
from tests.locks import Locks

WORKERS = 8
ROUNDS = 200
KEY = "redlua:lock:{counter}"


# -- mutual exclusion --------------------------------------------------------------------------


def _increment_in_process(url: str, kind: str, barrier: Any, rounds: int) -> None:
    """Process body: wait for the others, then *rounds* locked GET/SET increments."""
    if kind == "async":
        asyncio.run(_increment_async(url, barrier, rounds))
        return
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        lock = Lock(Engine(client), "counter", ttl=10)
        lock.locked()  # connect and load the scripts before the start line
        barrier.wait()
        for _ in range(rounds):
            with lock:
                value = int(client.get("count") or 0)
                client.set("count", value + 1)
    finally:
        client.close()


async def _increment_async(url: str, barrier: Any, rounds: int) -> None:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        lock = AsyncLock(AsyncEngine(client), "counter", ttl=10)
        await lock.locked()
        barrier.wait()
        for _ in range(rounds):
            async with lock:
                value = int(await client.get("count") or 0)
                await client.set("count", value + 1)
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_processes_never_overlap(server_url: str, r: redis.Redis, kind: str) -> None:
    """8 processes x 200 locked increments end exactly at 1600 (Lock, or AsyncLock per process)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    procs = [
        context.Process(target=_increment_in_process, args=(server_url, kind, barrier, ROUNDS))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=90)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    assert r.get("count") == str(WORKERS * ROUNDS)
    assert r.get(KEY) is None
    assert r.llen(KEY + ":wake") <= 1 and r.pttl(KEY + ":wake") <= 2000  # one wake-up at most


def test_tasks_sharing_one_async_lock_never_overlap(server_url: str, r: redis.Redis) -> None:
    """8 tasks x 200 locked increments on one AsyncLock object in one loop end at 1600."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        lock = AsyncLock(AsyncEngine(client), "counter", ttl=10)

        async def worker() -> None:
            for _ in range(ROUNDS):
                async with lock:
                    value = int(await client.get("count") or 0)
                    await asyncio.sleep(0)  # let the other tasks run inside the section
                    await client.set("count", value + 1)

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        await client.aclose()

    asyncio.run(main())
    assert r.get("count") == str(WORKERS * ROUNDS)


def test_threads_sharing_one_lock_never_overlap(server_url: str, r: redis.Redis) -> None:
    """8 threads x 100 locked increments on one Lock object end at 800; each thread owns its hold."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    lock = Lock(Engine(client), "counter", ttl=10)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(100):
                with lock:
                    value = int(client.get("count") or 0)
                    client.set("count", value + 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    assert errors == []
    assert r.get("count") == str(WORKERS * 100)


# -- fencing tokens ----------------------------------------------------------------------------


def test_fencing_tokens_strictly_increase_across_8_threads(server_url: str, r: redis.Redis) -> None:
    """1000 grants among 8 threads: in grant order the tokens are exactly 1..1000."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    engine = Engine(client)

    def worker() -> None:
        lock = Lock(engine, "counter", ttl=10, fencing=True)
        for _ in range(1000 // WORKERS):
            with lock:
                client.rpush("fences", lock.fence)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    client.close()
    assert [int(f) for f in r.lrange("fences", 0, -1)] == list(range(1, 1001))


def test_fencing_tokens_strictly_increase_across_8_tasks(server_url: str, r: redis.Redis) -> None:
    """1000 grants among 8 tasks: in grant order the tokens are exactly 1..1000."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        engine = AsyncEngine(client)

        async def worker() -> None:
            lock = AsyncLock(engine, "counter", ttl=10, fencing=True)
            for _ in range(1000 // WORKERS):
                async with lock:
                    await client.rpush("fences", lock.fence)

        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        await client.aclose()

    asyncio.run(main())
    assert [int(f) for f in r.lrange("fences", 0, -1)] == list(range(1, 1001))


# -- waking up ---------------------------------------------------------------------------------


def _wait_in_background(locks: Locks, name: str, hold: float = 0.0) -> Callable[[], dict]:
    """Start a waiter (a thread or a task) for lock *name*; return a join() giving its times."""
    times: dict[str, Any] = {}
    lock = locks.lock(name, ttl=10)
    if isinstance(lock, AsyncLock):
        loop = locks.loop
        assert loop is not None

        async def run() -> None:
            times["got"] = await lock.acquire(timeout=5)
            times["at"] = time.monotonic()
            await asyncio.sleep(hold)
            await lock.release()

        task = loop.create_task(run())
        return lambda: (loop.run_until_complete(task), times)[1]

    def run_sync() -> None:
        times["got"] = lock.acquire(timeout=5)
        times["at"] = time.monotonic()
        time.sleep(hold)
        lock.release()

    thread = threading.Thread(target=run_sync)
    thread.start()
    return lambda: (thread.join(timeout=10), times)[1]


@pytest.fixture
def locks(engine: Any) -> Any:
    """Lock factory on the test database, sync and async."""
    made = Locks(engine)
    yield made
    made.close()


def test_a_waiter_is_woken_promptly_on_release(locks: Locks) -> None:
    """A blocked waiter takes the lock within 50 ms of the release, far below its 1 s poll bound."""
    holder = locks.make("job", ttl=10)
    holder.acquire()
    join = _wait_in_background(locks, "job")
    locks.sleep(0.3)  # the waiter tried, marked the holder and blocks on the wake-up list
    released = time.monotonic()
    holder.release()
    times = join()
    assert times["got"] is True
    assert times["at"] - released < 0.05


def test_waiters_are_woken_one_after_another(locks: Locks) -> None:
    """Five blocked waiters each take the lock in turn, each woken by the previous release."""
    holder = locks.make("job", ttl=10)
    holder.acquire()
    joins = [_wait_in_background(locks, "job", hold=0.02) for _ in range(5)]
    locks.sleep(0.3)
    released = time.monotonic()
    holder.release()
    results = [join() for join in joins]
    assert all(t["got"] for t in results)
    assert max(t["at"] for t in results) - released < 0.6  # polling would need about 1 s each


def _hold_and_die(url: str, ready: Any) -> None:
    """Process body: take the lock for 0.5 s, say so, and die without releasing it."""
    client = redis.Redis.from_url(url, decode_responses=True)
    Lock(Engine(client), "job", ttl=0.5).acquire()
    ready.set()
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_crashed_holders_lock_is_taken_soon_after_its_ttl(
    server_url: str, locks: Locks, r: redis.Redis
) -> None:
    """A holder killed with the lock held: a waiter gets it within 100 ms of the ttl's end."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    proc = context.Process(target=_hold_and_die, args=(server_url, ready))
    proc.start()
    assert ready.wait(timeout=30)
    proc.join(timeout=10)
    assert proc.exitcode == -signal.SIGKILL
    left = r.pttl("redlua:lock:{job}") / 1000
    assert left > 0.2
    waiter = locks.make("job", ttl=5)
    started = time.monotonic()
    assert waiter.acquire(timeout=5) is True
    waited = time.monotonic() - started
    assert left - 0.05 < waited < left + 0.1
    waiter.release()
