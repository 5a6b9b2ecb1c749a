"""Transaction rows: versioned records over raw EVALSHA, and the WATCH helper over redis-py's.

* ``versioned.set``: `Versioned.set_if_version` with the version it holds (each op
  writes and bumps it) vs ``client.evalsha`` of ``versioned_set`` with the same KEYS
  and ARGV, on a record of its own.
* ``versioned.update``: `Versioned.update` (a read, then a compare-and-set: two round
  trips, no conflict) vs two raw EVALSHAs of the same scripts (``versioned_get``,
  then ``versioned_set`` with the version read).
* ``txn.watch``: `Transactions.run` of a WATCH/GET/MULTI/SET/EXEC increment vs the
  same increment hand-written with redis-py (``pipeline()``, ``watch``, ``get``,
  ``multi``, ``set``, ``execute``, a ``WatchError`` loop): informational.
* ``aio.versioned.update``: `AsyncVersioned.update` vs the two raw EVALSHAs on
  ``redis.asyncio``.

Both sides of a row share one client (the server, transport and
``decode_responses``), the scripts are preloaded, and nothing contends: the rows
measure the per-operation cost, not conflicts.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import redis
import redis.asyncio as aredis
from redis.exceptions import WatchError

from harness import AsyncCase, Case, Suite, Target
from redlua import AsyncEngine, Engine, load_script
from redlua.txn import AsyncVersioned, Transactions, Versioned

PREFIX = "redlua-bench:txn:"
GET = load_script("versioned_get")
SET = load_script("versioned_set")


def _int(value: Any) -> int:
    return int(value or 0)


def _bump(value: Any) -> str:
    return str(_int(value) + 1)


def _key(name: str) -> str:
    return f"{PREFIX}{{{name}}}"


def set_loop(records: Versioned, name: str) -> Callable[[], Any]:
    """Return an op writing record *name* with the version it holds (each op bumps it)."""
    versions = itertools.count(records.get(name).version)

    def op() -> Any:
        written = records.set_if_version(name, "value", next(versions))
        if not written:
            raise AssertionError(f"versioned.set: refused {written}")
        return written

    return op


def raw_set_loop(client: redis.Redis, name: str) -> Callable[[], Any]:
    """Return `set_loop` as raw ``client.evalsha`` of ``versioned_set``."""
    key = _key(name)
    versions = itertools.count(int(client.evalsha(GET.sha, 1, key)[1]))

    def op() -> Any:
        reply = client.evalsha(SET.sha, 1, key, "value", next(versions))
        if int(reply[0]) != 1:
            raise AssertionError(f"raw versioned_set refused: {reply}")
        return reply

    return op


def raw_update(client: redis.Redis, key: str) -> Any:
    """Read the record, then compare-and-set the incremented value: two raw EVALSHAs."""
    value, version = client.evalsha(GET.sha, 1, key)
    reply = client.evalsha(SET.sha, 1, key, _bump(value), version)
    if int(reply[0]) != 1:
        raise AssertionError(f"raw update refused: {reply}")
    return reply


def raw_watch_incr(client: redis.Redis, key: str) -> Any:
    """The redis-py WATCH loop a careful user writes by hand."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                n = _int(pipe.get(key))
                pipe.multi()
                pipe.set(key, n + 1)
                return pipe.execute()
            except WatchError:
                continue


def _watch_incr(key: str) -> Callable[[Any], None]:
    def incr(t: Any) -> None:
        n = _int(t.get(key))
        t.multi()
        t.set(key, n + 1)

    return incr


def _cleanup(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


def _check(what: str, ok: bool) -> None:
    if not ok:
        raise AssertionError(what)


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, preload the scripts and yield the rows."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        _cleanup(client)
        engine = Engine(client)
        engine.preload([GET, SET])
        records = Versioned(engine, prefix=PREFIX)
        tx = Transactions(engine)

        cand_set, base_set = set_loop(records, "cand-set"), raw_set_loop(client, "base-set")
        cand_set(), base_set()
        _check("set bumps the version", records.get("cand-set").version == 1)

        def update() -> Any:
            return records.update("cand-update", _bump)

        base_key = _key("base-update")
        update(), raw_update(client, base_key)
        _check("update writes 1", _int(records.get("cand-update").value) == 1)
        _check("raw update writes 1", _int(client.hget(base_key, "v")) == 1)

        watch_key, raw_key = f"{PREFIX}{{w}}cand", f"{PREFIX}{{w}}base"
        incr = _watch_incr(watch_key)

        def watched() -> Any:
            return tx.run(incr, watch_key)

        watched(), raw_watch_incr(client, raw_key)
        _check("watch increments", _int(client.get(watch_key)) == 1)
        _check("raw watch increments", _int(client.get(raw_key)) == 1)

        yield [
            Case(
                name="versioned.set",
                candidate=cand_set,
                baseline=base_set,
                target=0.9,
                note="Versioned.set_if_version (a write and a version bump each time) vs"
                " client.evalsha of versioned_set with the same KEYS/ARGV",
            ),
            Case(
                name="versioned.update",
                candidate=update,
                baseline=lambda: raw_update(client, base_key),
                target=0.9,
                note="Versioned.update(name, fn), no conflict (get + compare-and-set) vs"
                " client.evalsha of versioned_get then versioned_set",
            ),
            Case(
                name="txn.watch",
                candidate=watched,
                baseline=lambda: raw_watch_incr(client, raw_key),
                note="Transactions.run(WATCH, GET, MULTI, SET, EXEC) vs the same increment"
                " hand-written with a redis-py pipeline and a WatchError loop (informational)",
            ),
        ]
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()


async def raw_update_async(client: aredis.Redis, key: str) -> Any:
    """`raw_update` on `redis.asyncio`."""
    value, version = await client.evalsha(GET.sha, 1, key)
    reply = await client.evalsha(SET.sha, 1, key, _bump(value), version)
    if int(reply[0]) != 1:
        raise AssertionError(f"raw update refused: {reply}")
    return reply


@asynccontextmanager
async def async_cases(target: Target) -> AsyncIterator[list[AsyncCase]]:
    """Open one `redis.asyncio.Redis`; yield `AsyncVersioned.update` vs the raw EVALSHAs."""
    client = aredis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        engine = AsyncEngine(client)
        await engine.preload([GET, SET])
        records = AsyncVersioned(engine, prefix=PREFIX)
        base_key = _key("aio-base-update")

        async def update() -> Any:
            return await records.update("aio-cand-update", _bump)

        async def baseline() -> Any:
            return await raw_update_async(client, base_key)

        await update()
        await baseline()
        yield [
            AsyncCase(
                name="aio.versioned.update",
                candidate=update,
                baseline=baseline,
                target=0.9,
                note="await AsyncVersioned.update vs redis.asyncio evalsha of versioned_get"
                " then versioned_set",
            )
        ]
    finally:
        try:
            keys = [k async for k in client.scan_iter(match=f"{PREFIX}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


SUITE = Suite(name="txn", sync=sync_cases, async_=async_cases)
