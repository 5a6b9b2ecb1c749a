"""Hand-over on release: a fair lock goes straight to a queued waiter; a plain one wakes it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, Call, CorruptDataError, Engine
from redlua._registry import load_script
from redlua.locks import AsyncLock, Lock, LockOps
from redlua.locks._ops import grant, waiter_entry

KEY = "redlua:lock:{job}"
WAKE = KEY + ":wake"
WAITERS = KEY + ":waiters"
FENCE = KEY + ":fence"


def _until(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def _leave(entry: str) -> Call[Any]:
    return Call(load_script("locks_leave"), (KEY, WAKE, WAITERS), (entry,))


def test_release_hands_the_lock_to_the_blocked_waiter(server_url: str, r: redis.Redis) -> None:
    """A blocked waiter holds the lock when its BLPOP returns: no second acquire, no key left."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    engine = Engine(client)
    holder, waiter = Lock(engine, "job", ttl=10, fair=True), Lock(engine, "job", ttl=10, fair=True)
    holder.acquire()
    seen: dict[str, Any] = {}

    def wait() -> None:
        seen["got"] = waiter.acquire(timeout=5)
        seen["token"], seen["value"] = waiter.token, r.get(KEY)
        waiter.release()

    thread = threading.Thread(target=wait)
    thread.start()
    _until(lambda: r.exists(WAITERS) == 1)
    time.sleep(0.02)  # the waiter's BLPOP is on its way
    holder.release()
    thread.join(5)
    assert seen["got"] is True and seen["value"] == seen["token"]
    assert engine.stats()["locks_acquire"].calls == 2  # the holder's and the waiter's busy try
    assert engine.stats()["locks_release"].calls == 2
    assert r.keys("*") == []
    client.close()


def test_async_release_hands_the_lock_to_the_waiting_task(server_url: str, r: redis.Redis) -> None:
    """A task waiting on an AsyncLock is handed the lock by the release; nothing is left."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        engine = AsyncEngine(client)
        holder, waiter = (
            AsyncLock(engine, "job", ttl=10, fair=True),
            AsyncLock(engine, "job", ttl=10, fair=True),
        )
        await holder.acquire()

        async def wait() -> tuple[bool, str | None, str | None]:
            got = await waiter.acquire(timeout=5)
            token, value = waiter.token, await client.get(KEY)
            await waiter.release()
            return got, token, value

        task = asyncio.create_task(wait())
        while not await client.exists(WAITERS):
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        await holder.release()
        got, token, value = await asyncio.wait_for(task, 5)
        assert got is True and value == token
        assert engine.stats()["locks_acquire"].calls == 2
        assert await client.keys("*") == []
        await client.aclose()

    asyncio.run(main())


def test_waiters_are_served_in_turn_with_fencing(server_url: str, r: redis.Redis) -> None:
    """Four blocked waiters each get the lock by a grant, with strictly increasing fences."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    engine = Engine(client)
    holder = Lock(engine, "job", ttl=10, fencing=True, fair=True)
    holder.acquire()
    fences: list[int] = []
    guard = threading.Lock()

    def wait() -> None:
        lock = Lock(engine, "job", ttl=10, fencing=True, fair=True)
        assert lock.acquire(timeout=10)
        with guard:
            fences.append(lock.fence or 0)
        time.sleep(0.01)
        lock.release()

    threads = [threading.Thread(target=wait) for _ in range(4)]
    for thread in threads:
        thread.start()
    _until(lambda: r.zcard(WAITERS) == 4)
    time.sleep(0.02)
    holder.release()
    for thread in threads:
        thread.join(10)
    assert fences == [2, 3, 4, 5]
    assert engine.stats()["locks_acquire"].calls == 5
    assert r.keys("*") == [FENCE]
    client.close()


def test_a_grant_nobody_received_is_taken_by_the_next_acquire(engine: Any, r: redis.Redis) -> None:
    """A grant left in the wake list (its waiter was not blocked) goes to the next acquire."""
    ops = LockOps()
    assert engine.run(ops.acquire("job", "h", 10, fencing=True)).fence == 1
    assert not engine.run(ops.acquire("job", "w", 20, fencing=True, wait="will"))
    assert r.zrange(WAITERS, 0, -1) == [waiter_entry("w", 20000, True)]
    assert engine.run(ops.release("job", "h", fair=True)) is True
    given = grant(r.lindex(WAKE, 0))
    assert r.get(KEY) == given.token and given.fence == 2 and given.ttl == 20
    assert 19_000 < r.pttl(KEY) <= 20_000 and 19_000 < r.pttl(WAKE) <= 20_000
    taken = engine.run(ops.acquire("job", "late", 5, fencing=True))
    assert taken.ok and taken.fence == 2  # the grant's fencing token, not a new one
    assert r.get(KEY) == "late" and r.exists(WAKE) == 0
    assert (
        engine.run(ops.release("job", "late", fair=True)) is True
    )  # "w" is still queued: granted again
    assert engine.run(ops.acquire("job", "w", 20, fencing=True, wait="last")).fence == 3
    engine.run(ops.release("job", "w", fair=True))
    assert sorted(r.keys("*")) == [FENCE]


def test_leaving_frees_a_grant_nobody_received(engine: Any, r: redis.Redis) -> None:
    """A waiter that stops waiting leaves the queue and frees a grant it never received."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "w", 10, wait="will"))
    engine.run(ops.release("job", "h", fair=True))
    assert r.exists(KEY, WAKE) == 2
    assert engine.run(_leave(waiter_entry("w", 10000, False))) == 1
    assert r.keys("*") == []
    assert engine.run(_leave(waiter_entry("w", 10000, False))) == 0  # idempotent


def test_leaving_keeps_a_grant_other_waiters_may_take(engine: Any, r: redis.Redis) -> None:
    """With another live waiter queued, leaving keeps the pending grant for it."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "w1", 10, wait="will"))
    engine.run(ops.acquire("job", "w2", 10, wait="will"))
    engine.run(ops.release("job", "h", fair=True))
    assert engine.run(_leave(waiter_entry("w1", 10000, False))) == 0
    assert r.exists(KEY, WAKE) == 2 and r.zcard(WAITERS) == 1
    assert engine.run(ops.acquire("job", "w2", 10, wait="last")).ok
    assert r.get(KEY) == "w2" and r.exists(WAITERS, WAKE) == 0


def test_a_waiter_past_its_deadline_gets_no_grant(engine: Any, r: redis.Redis) -> None:
    """A queued waiter that stopped renewing its place is dropped: the release frees the lock."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "w", 10, wait="will", longest=0.001))
    time.sleep(0.3)  # past 1 ms + the 250 ms margin
    assert engine.run(ops.release("job", "h", fair=True)) is True
    assert r.keys("*") == []


def test_the_grant_lasts_the_longest_queued_ttl(engine: Any, r: redis.Redis) -> None:
    """A grant may go to any queued waiter, so it lasts the longest ttl among them."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "short", 5, wait="will"))
    engine.run(ops.acquire("job", "long", 30, wait="will"))
    engine.run(ops.release("job", "h", fair=True))
    assert grant(r.lindex(WAKE, 0)).ttl == 30 and 29_000 < r.pttl(KEY) <= 30_000


def test_a_timed_out_waiter_leaves_nothing_behind(engine: Any, r: redis.Redis) -> None:
    """The last try of a waiter whose time is up takes it out of the queue."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "w", 10, wait="will"))
    assert r.zcard(WAITERS) == 1
    assert not engine.run(ops.acquire("job", "w", 10, wait="last"))
    assert r.exists(WAITERS) == 0
    engine.run(ops.release("job", "h", fair=True))
    assert r.keys("*") == []


@pytest.mark.parametrize("kind", ["hash", "string"])
def test_a_foreign_waiter_set_is_reported_before_any_write(
    engine: Any, r: redis.Redis, kind: str
) -> None:
    """A waiter set of the wrong type refuses a waiting acquire of a busy lock, writing nothing."""
    engine.run(LockOps().acquire("job", "h", 10))
    if kind == "hash":
        r.hset(WAITERS, "a", "b")
    else:
        r.set(WAITERS, "x")
    before = r.dump(KEY), r.dump(WAITERS)
    with pytest.raises(CorruptDataError, match="waiter set"):
        engine.run(LockOps().acquire("job", "w", 10, wait="will"))
    assert (r.dump(KEY), r.dump(WAITERS)) == before


def test_a_waiter_cancelled_as_its_grant_arrives_hands_it_on(
    server_url: str, r: redis.Redis
) -> None:
    """Cancelling a waiting task right as the release grants it the lock strands nothing."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        engine = AsyncEngine(client)
        holder, waiter = (
            AsyncLock(engine, "job", ttl=30, fair=True),
            AsyncLock(engine, "job", ttl=30, fair=True),
        )

        async def wait() -> None:
            if await waiter.acquire(timeout=5):  # granted before the cancel landed
                try:
                    await asyncio.sleep(10)
                finally:
                    await waiter.release()

        for _ in range(20):
            await holder.acquire()
            task = asyncio.create_task(wait())
            while not await client.exists(WAITERS):
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.01)
            await holder.release()  # the grant is on its way to the waiter's BLPOP
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(200):  # the hand-on runs in the background
                if not await client.exists(KEY):
                    break
                await asyncio.sleep(0.005)
            assert await client.keys("*") == []
        await client.aclose()

    asyncio.run(main())


def test_a_plain_release_frees_the_lock_and_wakes_a_waiter(server_url: str, r: redis.Redis) -> None:
    """Not fair: the release frees the lock and wakes the waiter, which takes it on its try."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    engine = Engine(client)
    holder, waiter = Lock(engine, "job", ttl=10), Lock(engine, "job", ttl=10)
    holder.acquire()
    seen: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        seen["got"] = waiter.acquire(timeout=5)
        seen["waited"] = time.monotonic() - started
        seen["token"], seen["value"] = waiter.token, r.get(KEY)
        waiter.release()

    thread = threading.Thread(target=wait)
    thread.start()
    _until(lambda: r.exists(WAITERS) == 1)
    time.sleep(0.05)
    holder.release()
    thread.join(5)
    assert seen["got"] is True and seen["value"] == seen["token"]
    assert 0.04 < seen["waited"] < 0.5  # woken by the release, not by a timeout
    assert engine.stats()["locks_acquire"].calls == 3  # the waiter tried again once
    assert r.exists(KEY, WAITERS) == 0
    client.close()


def test_a_plain_release_lets_the_releaser_take_the_lock_back(engine: Any, r: redis.Redis) -> None:
    """Not fair: after a plain release with a waiter queued, anyone may take the lock first."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "w", 10, wait="will"))
    assert engine.run(ops.release("job", "h")) is True
    assert r.get(KEY) is None and r.lrange(WAKE, 0, -1) == ["-"] and r.pttl(WAKE) <= 2000
    assert engine.run(ops.acquire("job", "h2", 10)).ok  # barging is allowed
    assert not engine.run(ops.acquire("job", "w", 10, wait="last"))


def test_the_first_waiter_drops_a_wake_up_that_woke_nobody(engine: Any, r: redis.Redis) -> None:
    """A "-" left in the wake list when nobody is queued is deleted by the next waiter to queue."""
    ops = LockOps()
    engine.run(ops.acquire("job", "h", 10))
    engine.run(ops.acquire("job", "w", 10, wait="will"))
    assert engine.run(ops.release("job", "h")) is True  # wakes "w" with a "-"
    assert engine.run(ops.acquire("job", "w", 10, wait="will")).ok  # "w" wins before its BLPOP
    assert r.lrange(WAKE, 0, -1) == ["-"] and r.exists(WAITERS) == 0  # a wake-up for nobody
    engine.run(ops.acquire("job", "w2", 10, wait="will"))
    assert r.exists(WAKE) == 0 and r.zcard(WAITERS) == 1
    r.delete(WAITERS)
    r.rpush(WAKE, "-")
    r.zadd(WAITERS, {"10000:-:other": int(time.time() * 1000) + 60_000})
    engine.run(ops.acquire("job", "w3", 10, wait="will"))  # someone is queued: the "-" is theirs
    assert r.lrange(WAKE, 0, -1) == ["-"] and r.zcard(WAITERS) == 2
