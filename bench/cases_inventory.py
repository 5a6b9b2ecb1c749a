"""Inventory and batch rows: what the recipes cost over the raw floor of the same work.

**Inventory.** Every row is one reserve of one unit followed by its confirm (or its
cancel), a "pair". The baseline is the **raw floor**: redis-py ``evalsha`` of the very
same shipped scripts (``inventory_reserve``, ``inventory_confirm``/``inventory_cancel``)
with the same keys and arguments, the reservation id from `secrets` -- what a user
calling the scripts by hand would pay. Each side has its own inventory (one product
with ample stock, the same *keep*), so their records never mix; the scripts are
preloaded and both sides share one client.

**Batches.** ``Batch.bulk_set`` / ``bulk_get`` / ``process_batch`` of `BATCH` keys
against a raw redis-py ``pipeline(transaction=False)`` of the same plain commands
(SET, GET, or the mixed commands) on the same client: the price of going through
scripts and the engine instead of plain commands. Informational on a standalone
server (where a chunk is one script whatever the slots).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import redis
import redis.asyncio as aredis

from harness import AsyncCase, Case, Suite, Target
from redlua import AsyncEngine, Engine, load_script
from redlua.batch import Batch, Get, Incr, SAdd, Set
from redlua.inventory import AsyncInventory, Inventory, InventoryOps

PREFIX = "redlua-bench:inv:"
STOCK = 10**14  # never runs out during a run
TTL = 300.0  # seconds; no reservation expires during a run
KEEP = 5.0  # seconds a settled record is remembered: bounds the records a run leaves
BATCH = 100
BATCH_PREFIX = "redlua-bench:batch:"


# -- the raw floor -------------------------------------------------------------------------


class RawInventory:
    """The shipped inventory scripts called by hand with ``client.evalsha``."""

    def __init__(self, client: Any, name: str) -> None:
        ops = InventoryOps(name, prefix=PREFIX, keep=KEEP)
        k = ops.keys
        self.client = client
        self.moving = (k.stock, k.reserved, k.reservations, k.deadlines, k.settled)
        self.selling = (k.reserved, k.sold, k.reservations, k.deadlines, k.settled)
        self.limit, self.keep, self.ttl = "100", str(int(KEEP * 1000)), str(int(TTL * 1000))
        self.reserve_sha = load_script("inventory_reserve").sha
        self.confirm_sha = load_script("inventory_confirm").sha
        self.cancel_sha = load_script("inventory_cancel").sha

    def reserve(self) -> str:
        rid = secrets.token_hex(16)
        reply = self.client.evalsha(
            self.reserve_sha, 5, *self.moving, rid, "bench", self.ttl, self.limit, self.keep,
            "sku", "1",
        )  # fmt: skip
        if int(reply[0]) != 1:
            raise RuntimeError(f"raw floor: reserve refused: {reply!r}")
        return rid

    def pair(self, verb: str) -> None:
        """Reserve one unit, then confirm or cancel it: two EVALSHA."""
        rid = self.reserve()
        if verb == "confirm":
            reply = self.client.evalsha(self.confirm_sha, 5, *self.selling, rid, self.keep)
        else:
            reply = self.client.evalsha(self.cancel_sha, 5, *self.moving, rid, self.keep)
        if int(reply[0]) != 1:
            raise RuntimeError(f"raw floor: {verb} did nothing: {reply!r}")

    async def pair_async(self, verb: str) -> None:
        """`pair` on `redis.asyncio`."""
        rid = secrets.token_hex(16)
        reply = await self.client.evalsha(
            self.reserve_sha, 5, *self.moving, rid, "bench", self.ttl, self.limit, self.keep,
            "sku", "1",
        )  # fmt: skip
        if int(reply[0]) != 1:
            raise RuntimeError(f"raw floor: reserve refused: {reply!r}")
        keys = self.selling if verb == "confirm" else self.moving
        sha = self.confirm_sha if verb == "confirm" else self.cancel_sha
        reply = await self.client.evalsha(sha, 5, *keys, rid, self.keep)
        if int(reply[0]) != 1:
            raise RuntimeError(f"raw floor: {verb} did nothing: {reply!r}")


def redlua_pair(inv: Inventory, verb: str) -> None:
    """Reserve one unit with `Inventory.reserve`, then confirm or cancel it."""
    held = inv.reserve("sku", 1, "bench", TTL)
    if not held:
        raise RuntimeError(f"redlua: reserve refused: {held!r}")
    getattr(inv, verb)(held.reservation)


async def redlua_pair_async(inv: AsyncInventory, verb: str) -> None:
    """`redlua_pair` on `AsyncInventory`."""
    held = await inv.reserve("sku", 1, "bench", TTL)
    if not held:
        raise RuntimeError(f"redlua: reserve refused: {held!r}")
    await getattr(inv, verb)(held.reservation)


def _cleanup(client: redis.Redis) -> None:
    for pattern in (f"{PREFIX}*", f"{BATCH_PREFIX}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])


# -- batches -------------------------------------------------------------------------------


def _keys(side: str) -> list[str]:
    return [f"{BATCH_PREFIX}{side}:{i}" for i in range(BATCH)]


def _mixed(keys: list[str]) -> list[Any]:
    """BATCH operations: a quarter each of SET, INCR, GET and SADD over the side's keys."""
    ops: list[Any] = []
    for i, key in enumerate(keys):
        kind = i % 4
        if kind == 0:
            ops.append(Set(key, "v"))
        elif kind == 1:
            ops.append(Incr(key + ":n"))
        elif kind == 2:
            ops.append(Get(key))
        else:
            ops.append(SAdd(key + ":s", "m"))
    return ops


def raw_mixed(client: redis.Redis, keys: list[str]) -> list[Any]:
    """The same commands as `_mixed` in one ``pipeline(transaction=False)``."""
    pipe = client.pipeline(transaction=False)
    for i, key in enumerate(keys):
        kind = i % 4
        if kind == 0:
            pipe.set(key, "v")
        elif kind == 1:
            pipe.incr(key + ":n")
        elif kind == 2:
            pipe.get(key)
        else:
            pipe.sadd(key + ":s", "m")
    return pipe.execute()


def raw_set(client: redis.Redis, mapping: dict[str, str]) -> list[Any]:
    """SET of every key in one ``pipeline(transaction=False)``."""
    pipe = client.pipeline(transaction=False)
    for key, value in mapping.items():
        pipe.set(key, value)
    return pipe.execute()


def raw_get(client: redis.Redis, keys: list[str]) -> list[Any]:
    """GET of every key in one ``pipeline(transaction=False)``."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return pipe.execute()


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, stock both sides' inventories, yield the rows."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        _cleanup(client)
        engine = Engine(client)
        engine.preload()
        inv = Inventory(engine, "candidate", prefix=PREFIX, keep=KEEP)
        inv.add_product("sku", STOCK, 1999)
        raw = RawInventory(client, "floor")
        Inventory(engine, "floor", prefix=PREFIX, keep=KEEP).add_product("sku", STOCK, 1999)
        control = RawInventory(client, "control")
        Inventory(engine, "control", prefix=PREFIX, keep=KEEP).add_product("sku", STOCK, 1999)
        for verb in ("confirm", "cancel"):  # check each side once before timing
            redlua_pair(inv, verb)
            raw.pair(verb)
        batch = Batch(engine)
        cand_keys, base_keys = _keys("candidate"), _keys("floor")
        cand_map = dict.fromkeys(cand_keys, "v")
        base_map = dict.fromkeys(base_keys, "v")
        if batch.bulk_set(cand_map) != BATCH or len(raw_set(client, base_map)) != BATCH:
            raise AssertionError("bulk_set and the raw pipeline must each set every key")
        got = batch.bulk_get(cand_keys)
        if len(got) != BATCH or any(v in (None, b"") for v in got.values()):
            raise AssertionError("bulk_get must read back every key")
        mixed = _mixed(cand_keys)
        if len(batch.process_batch(mixed)) != BATCH or len(raw_mixed(client, base_keys)) != BATCH:
            raise AssertionError("process_batch and the raw pipeline must run every operation")
        yield [
            Case(
                name="inventory.control",
                candidate=partial(control.pair, "confirm"),
                baseline=partial(raw.pair, "confirm"),
                note="A/A control: the raw reserve+confirm EVALSHA floor vs itself",
            ),
            Case(
                name="inventory.reserve_confirm",
                candidate=partial(redlua_pair, inv, "confirm"),
                baseline=partial(raw.pair, "confirm"),
                target=0.9,
                note="Inventory.reserve()+confirm() vs raw EVALSHA of the same two scripts",
            ),
            Case(
                name="inventory.reserve_cancel",
                candidate=partial(redlua_pair, inv, "cancel"),
                baseline=partial(raw.pair, "cancel"),
                target=0.9,
                note="Inventory.reserve()+cancel() vs raw EVALSHA of the same two scripts",
            ),
            Case(
                name="batch.bulk_set",
                candidate=partial(batch.bulk_set, cand_map),
                baseline=partial(raw_set, client, base_map),
                batch=BATCH,
                note=f"Batch.bulk_set({BATCH} keys) vs pipeline(transaction=False) of {BATCH} SET",
            ),
            Case(
                name="batch.bulk_get",
                candidate=partial(batch.bulk_get, cand_keys),
                baseline=partial(raw_get, client, base_keys),
                batch=BATCH,
                note=f"Batch.bulk_get({BATCH} keys) vs pipeline(transaction=False) of {BATCH} GET",
            ),
            Case(
                name="batch.process_batch",
                candidate=partial(batch.process_batch, mixed),
                baseline=partial(raw_mixed, client, base_keys),
                batch=BATCH,
                note=f"Batch.process_batch({BATCH} mixed SET/INCR/GET/SADD) vs the same commands"
                " in pipeline(transaction=False)",
            ),
        ]
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()


@asynccontextmanager
async def async_cases(target: Target) -> AsyncIterator[list[AsyncCase]]:
    """Open one `redis.asyncio.Redis`; yield `AsyncInventory` vs the raw floor on it."""
    client = aredis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        engine = AsyncEngine(client)
        await engine.preload()
        inv = AsyncInventory(engine, "aio-candidate", prefix=PREFIX, keep=KEEP)
        await inv.add_product("sku", STOCK, 1999)
        await AsyncInventory(engine, "aio-floor", prefix=PREFIX, keep=KEEP).add_product(
            "sku", STOCK, 1999
        )
        raw = RawInventory(client, "aio-floor")
        await redlua_pair_async(inv, "confirm")
        await raw.pair_async("confirm")
        yield [
            AsyncCase(
                name="aio.inventory.reserve_confirm",
                candidate=partial(redlua_pair_async, inv, "confirm"),
                baseline=partial(raw.pair_async, "confirm"),
                target=0.9,
                note="await AsyncInventory.reserve()+confirm() vs raw async EVALSHA of the"
                " same two scripts",
            )
        ]
    finally:
        try:
            keys = [k async for k in client.scan_iter(match=f"{PREFIX}*", count=1000)]
            for i in range(0, len(keys), 500):
                await client.delete(*keys[i : i + 500])
        finally:
            await client.aclose()


SUITE = Suite(name="inventory", sync=sync_cases, async_=async_cases)
