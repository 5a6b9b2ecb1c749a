"""Auto-pipelining rows: recipes at 32 asyncio tasks, pipelining on against off.

Each row runs the same recipe on the same `redis.asyncio.Redis` client from 32 tasks at
once; the candidate's `AsyncEngine` pipelines (the default), the baseline's has
``pipelining=False``. The recipes and their keys are chosen so that no call waits for
another (no contention): what is measured is the client's cost per call.

* locks: `AsyncLock` acquire + release, each pair on the next of 1024 names;
* limiter: `AsyncRateLimiter.hit` (sliding window, never limited) on 64 identities;
* links: `AsyncLinks.set_link` then `get_link` on 1024 UIDs;
* transfers: `AsyncLedger.transfer` of 1 cent between 64 accounts, in a ring.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aredis

from harness import AsyncCase, Suite, Target

TASKS = 32
PREFIX = "redlua:bench:pipe"
NAMES = 1024
ACCOUNTS = 64
TARGET = 2.5


def _cycle(what: str, n: int) -> Iterator[str]:
    return itertools.cycle([f"{what}-{i}" for i in range(n)])


async def _lock_op(locks: Iterator[Any]) -> None:
    lock = next(locks)
    await lock.acquire()
    await lock.release()


async def _limiter_op(limiter: Any, identities: Iterator[str]) -> None:
    decision = await limiter.hit(next(identities))
    if not decision.allowed:
        raise AssertionError("the benchmark's limit must never deny")


async def _links_op(links: Any, uids: Iterator[str], pods: Iterator[int]) -> None:
    uid = next(uids)
    await links.set_link(uid, "game", next(pods))
    await links.get_link(uid, "game")


async def _transfer_op(ledger: Any, pairs: Iterator[tuple[str, str]]) -> None:
    src, dst = next(pairs)
    await ledger.transfer(src, dst, 1)


async def _recipes(
    client: aredis.Redis, pipelining: bool, side: str
) -> list[Callable[[], Awaitable[None]]]:
    from redlua import AsyncEngine
    from redlua.ledger import AsyncLedger
    from redlua.locks import AsyncLock
    from redlua.ratelimit import AsyncRateLimiter, Limit
    from redlua.stateful import AsyncLinks, KeySchema

    engine = AsyncEngine(client, pipelining=pipelining)
    locks = itertools.cycle(
        [AsyncLock(engine, f"{PREFIX}:{side}:lock-{i}", ttl=10) for i in range(NAMES)]
    )
    limiter = AsyncRateLimiter(
        engine, Limit(10**9, 60, "sliding_window"), prefix=f"{PREFIX}:{side}:rl"
    )
    links = AsyncLinks(engine, KeySchema.sf(f"{PREFIX}:{side}"))
    ledger = AsyncLedger(engine, f"{PREFIX}:{side}:ledger")
    accounts = [f"acct-{i}" for i in range(ACCOUNTS)]
    for account in accounts:
        await ledger.create(account, "USD", opening=10**12)
    ring = itertools.cycle(list(zip(accounts, accounts[1:] + accounts[:1], strict=True)))
    return [
        lambda: _lock_op(locks),
        lambda: _limiter_op(limiter, _identities[side]),
        lambda: _links_op(links, _uids[side], _pods),
        lambda: _transfer_op(ledger, ring),
    ]


_identities = {side: _cycle("id", 64) for side in ("on", "off")}
_uids = {side: _cycle("uid", NAMES) for side in ("on", "off")}
_pods = itertools.cycle(range(1, 9))


async def _cleanup(client: aredis.Redis) -> None:
    keys = [k async for k in client.scan_iter(match=f"*{PREFIX}*", count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i : i + 500])


@asynccontextmanager
async def async_cases(target: Target) -> AsyncIterator[list[AsyncCase]]:
    """Open one `redis.asyncio.Redis`; yield each recipe with pipelining on against off."""
    client = aredis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        await _cleanup(client)
        on = await _recipes(client, True, "on")
        off = await _recipes(client, False, "off")
        for op in (*on, *off):
            await op()
        names = ("locks", "limiter", "links", "transfers")
        what = (
            "AsyncLock acquire()+release()",
            "AsyncRateLimiter.hit (sliding window)",
            "AsyncLinks.set_link + get_link",
            "AsyncLedger.transfer",
        )
        yield [
            AsyncCase(
                name=f"aio.pipelining.{name}",
                candidate=candidate,
                baseline=baseline,
                concurrency=TASKS,
                target=TARGET,
                note=f"{doing}, {TASKS} tasks: AsyncEngine() vs AsyncEngine(pipelining=False)",
            )
            for name, doing, candidate, baseline in zip(names, what, on, off, strict=True)
        ]
    finally:
        try:
            await _cleanup(client)
        finally:
            await client.aclose()


SUITE = Suite(name="pipelining", async_=async_cases)
