"""Counter rows: what `redlua.counters` costs over raw redis-py commands and raw EVALSHA.

Each side cycles over `NAMES` counters of its own and increments by 1, on one shared
client (one server, transport and ``decode_responses``), scripts preloaded.

* ``counters.increment``: ``Counters.increment_with_limit(name)`` (no ceiling) against a
  raw ``INCRBY key 1``, the least any counter costs: the issue's ">= 0.9x raw INCRBY".
* ``counters.limit``: the same with a ceiling (``maximum``), against raw ``INCRBY``.
* ``counters.vs_evalsha``: ``increment_with_limit(name, maximum=...)`` against redis-py
  ``evalsha`` of the very same script with the same arguments: the Python-side cost of
  the API (checks, keys, call, decoding into `CounterUpdate`).
* ``counters.script_floor``: redis-py ``evalsha`` of ``return redis.call('INCRBY', KEYS[1],
  ARGV[1])`` against raw ``INCRBY``: what running any script costs over the bare command,
  the floor under every script-based counter (informational).
* ``counters.vs_floor``: ``increment_with_limit(name)`` against that floor: what the
  counter adds over the cheapest possible script.
* ``counters.decrement``: ``decrement_if_positive`` against raw ``DECRBY`` (informational).
* ``counters.batch``: ``Counters.batch`` of 100 `Increment`s over 100 counters (one slot
  each, one pipelined round trip) against a redis-py pipeline of 100 ``INCRBY``;
  ``counters.batch_group`` the same over 100 counters of one group (one script call).
* ``aio.counters.increment``: `AsyncCounters` against ``await client.incrby``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import redis
import redis.asyncio as aredis

from harness import AsyncCase, Case, Suite, Target

NAMES = 200  # counters each side cycles over
BATCH = 100
PREFIX = "redlua-bench:counter:"
MAXIMUM = 10**15  # never reached: every increment applies
FLOOR_SOURCE = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def _names(side: str) -> list[str]:
    return [f"{side}:{i}" for i in range(NAMES)]


def _raw_keys(side: str) -> list[str]:
    return [f"{PREFIX}raw:{{{name}}}" for name in _names(side)]


def _cleanup(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


def _applied(update: Any) -> None:
    if not update.applied:
        raise RuntimeError(f"an increment below the ceiling was refused: {update!r}")


def _incrby(client: redis.Redis, keys: Iterator[str]) -> None:
    client.incrby(next(keys), 1)


def _floor(client: redis.Redis, sha: str, keys: Iterator[str]) -> None:
    client.evalsha(sha, 1, next(keys), "1")


def _decrby(client: redis.Redis, keys: Iterator[str]) -> None:
    client.decrby(next(keys), 1)


def _evalsha(client: redis.Redis, sha: str, ceiling: str, keys: Iterator[str]) -> None:
    reply = client.evalsha(sha, 1, next(keys), "1", ceiling, "")
    if int(reply[0]) != 1:
        raise RuntimeError(f"raw EVALSHA was refused: {reply!r}")


def _increment(counters: Any, names: Iterator[str], maximum: int | None) -> None:
    _applied(counters.increment_with_limit(next(names), 1, maximum))


def _decrement(counters: Any, names: Iterator[str]) -> None:
    _applied(counters.decrement_if_positive(next(names), 1))


def _pipeline(client: redis.Redis, keys: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.incrby(key, 1)
    pipe.execute()


def _batch(counters: Any, changes: list[Any]) -> None:
    for update in counters.batch(changes):
        _applied(update)


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, preload the scripts and yield the sync rows."""
    from redlua import Engine, load_script
    from redlua.counters import Counters, Increment

    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        _cleanup(client)
        engine = Engine(client)
        engine.preload([load_script(n) for n in ("counter_increment", "counter_decrement")])
        engine.preload([load_script("counter_batch")])
        counters = Counters(engine, PREFIX)
        script_sha = load_script("counter_increment").sha
        floor_sha = client.script_load(FLOOR_SOURCE)
        big = 10**12  # decrements never reach zero
        for name in _names("decrement"):
            counters.set(name, big)
        client.mset(dict.fromkeys(_raw_keys("decr"), big))

        def raw(side: str) -> Callable[[], None]:
            return partial(_incrby, client, itertools.cycle(_raw_keys(side)))

        def ours(side: str, maximum: int | None) -> Callable[[], None]:
            return partial(_increment, counters, itertools.cycle(_names(side)), maximum)

        keys = [counters.ops.keys(name).counter for name in _names("evalsha-ours")]
        evalsha = partial(_evalsha, client, script_sha, str(MAXIMUM - 1), itertools.cycle(keys))
        changes = [Increment(name) for name in _names("batch")[:BATCH]]
        grouped = Counters(engine, PREFIX, group="bench")
        _batch(grouped, changes)
        for op in (raw("incr"), ours("incr", None), evalsha):
            op()
        _floor(client, floor_sha, iter(_raw_keys("floor")))
        _batch(counters, changes)
        yield [
            Case(
                name="counters.control",
                candidate=raw("control"),
                baseline=raw("incr"),
                note="A/A control: raw INCRBY vs itself",
            ),
            Case(
                name="counters.increment",
                candidate=ours("incr", None),
                baseline=raw("incr"),
                target=0.9,
                note="Counters.increment_with_limit(name) vs raw INCRBY key 1",
            ),
            Case(
                name="counters.limit",
                candidate=ours("limit", MAXIMUM),
                baseline=raw("incr"),
                note="Counters.increment_with_limit(name, 1, maximum) vs raw INCRBY key 1"
                " (informational: a ceiling needs GET before INCRBY inside the script)",
            ),
            Case(
                name="counters.vs_evalsha",
                candidate=ours("evalsha-ours", MAXIMUM),
                baseline=evalsha,
                target=0.95,
                note="increment_with_limit(name, 1, maximum) vs redis-py evalsha of the same"
                " script and arguments",
            ),
            Case(
                name="counters.script_floor",
                candidate=partial(_floor, client, floor_sha, itertools.cycle(_raw_keys("floor"))),
                baseline=raw("incr"),
                note="evalsha of a one-line INCRBY script vs raw INCRBY: the cost of any"
                " script (informational)",
            ),
            Case(
                name="counters.vs_floor",
                candidate=ours("floor-ours", None),
                baseline=partial(_floor, client, floor_sha, itertools.cycle(_raw_keys("floor"))),
                target=0.95,
                note="Counters.increment_with_limit(name) vs evalsha of a one-line INCRBY"
                " script (the script floor)",
            ),
            Case(
                name="counters.decrement",
                candidate=partial(_decrement, counters, itertools.cycle(_names("decrement"))),
                baseline=partial(_decrby, client, itertools.cycle(_raw_keys("decr"))),
                note="Counters.decrement_if_positive(name) vs raw DECRBY key 1 (informational)",
            ),
            Case(
                name="counters.batch",
                candidate=partial(_batch, counters, changes),
                baseline=partial(_pipeline, client, _raw_keys("batch")[:BATCH]),
                batch=BATCH,
                note=f"Counters.batch of {BATCH} Increments (one slot each) vs a redis-py"
                f" pipeline of {BATCH} INCRBY (informational)",
            ),
            Case(
                name="counters.batch_group",
                candidate=partial(_batch, grouped, changes),
                baseline=partial(_pipeline, client, _raw_keys("batch")[:BATCH]),
                batch=BATCH,
                note=f"Counters(group=...).batch of {BATCH} Increments (one script call) vs a"
                f" redis-py pipeline of {BATCH} INCRBY (informational)",
            ),
        ]
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()


async def _incrby_async(client: aredis.Redis, keys: Iterator[str]) -> None:
    await client.incrby(next(keys), 1)


async def _increment_async(counters: Any, names: Iterator[str]) -> None:
    _applied(await counters.increment_with_limit(next(names), 1))


@asynccontextmanager
async def async_cases(target: Target) -> AsyncIterator[list[AsyncCase]]:
    """Open one `redis.asyncio.Redis`; yield `AsyncCounters` vs raw INCRBY on that client."""
    from redlua import AsyncEngine
    from redlua.counters import AsyncCounters

    client = aredis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        counters = AsyncCounters(AsyncEngine(client), PREFIX)
        raw: Callable[[], Awaitable[None]] = partial(
            _incrby_async, client, itertools.cycle(_raw_keys("aio"))
        )
        ours: Callable[[], Awaitable[None]] = partial(
            _increment_async, counters, itertools.cycle(_names("aio"))
        )
        await raw()
        await ours()
        yield [
            AsyncCase(
                name="aio.counters.increment",
                candidate=ours,
                baseline=raw,
                target=0.9,
                note="await AsyncCounters.increment_with_limit(name) vs await client.incrby",
            )
        ]
    finally:
        try:
            keys = [k async for k in client.scan_iter(match=f"{PREFIX}*", count=1000)]
            for i in range(0, len(keys), 500):
                await client.delete(*keys[i : i + 500])
        finally:
            await client.aclose()


SUITE = Suite(name="counters", sync=sync_cases, async_=async_cases)
