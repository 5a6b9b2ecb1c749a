"""`Batch` and `AsyncBatch`: many simple operations in few round trips, and all-or-nothing updates.

* ``process_batch(ops)`` runs `Set`, `Get`, `Incr`, ... (or their tuples) in chunks of
  one script each, sent by ``engine.run_many`` in one round trip per node, and returns
  one result per operation in order; an operation's error is its own (``WRONGTYPE`` on
  one key does not stop the others). Not atomic as a whole: each chunk is.
* ``bulk_set(mapping, ttl=None)`` and ``bulk_get(keys)``: the common cases, lighter.
* ``update_all(mapping, require_existing=True)``: every key changes or none does (one
  script checks them all before it writes), for keys that share one hash slot.

Every operation is checked before any I/O: a bad value, an unknown operation name or
keys of several slots for ``update_all`` raise at once, and nothing is sent. The two
classes differ only by ``async``/``await``; every decision is in `BatchOps`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from redlua.batch._ops import Key
from redlua.batch._plan import DEFAULT_CHUNK, BatchOps, Updated

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine


class Batch:
    """Batches of simple operations on a synchronous `Engine`::

    batch = Batch(engine)
    batch.process_batch([Set("a", 1), Incr("a", 5), Get("a"), ("sadd", "s", "x")])
    # -> [True, 6, '6', 1]
    batch.bulk_set({"k1": "v1", "k2": "v2"}, ttl=60)
    batch.bulk_get(["k1", "k2", "nope"])   # {'k1': 'v1', 'k2': 'v2', 'nope': None}
    batch.update_all({"acct:{7}:a": "1", "acct:{7}:b": "2"})   # Updated(ok=True, missing=())
    """

    def __init__(self, engine: Engine, *, chunk: int = DEFAULT_CHUNK) -> None:
        self.engine = engine
        self.ops = BatchOps(chunk)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(chunk={self.ops.chunk})"

    def process_batch(self, ops: Iterable[object], *, return_exceptions: bool = False) -> list[Any]:
        """Run *ops* and return their results in order.

        The first error is raised once every operation ran, unless *return_exceptions*
        leaves each error in its operation's place.
        """
        plan = self.ops.process(ops, by_slot=self.engine.cluster)
        replies = self.engine.run_many(plan.calls, return_exceptions=True)
        return plan.collect(replies, return_exceptions)

    def bulk_set(self, mapping: Mapping[Key, object], ttl: float | None = None) -> int:
        """Set every key of *mapping* to its value (expiring in *ttl* seconds); return the count."""
        plan = self.ops.bulk_set(mapping, ttl, by_slot=self.engine.cluster)
        return len(plan.collect(self.engine.run_many(plan.calls, return_exceptions=True)))

    def bulk_get(self, keys: Iterable[Key]) -> dict[Key, Any]:
        """Return ``{key: value}`` for *keys*; None for a missing key or one holding no string."""
        plan = self.ops.bulk_get(keys, by_slot=self.engine.cluster)
        values = plan.collect(self.engine.run_many(plan.calls, return_exceptions=True))
        return dict(zip(plan.keys, values, strict=True))

    def update_all(self, mapping: Mapping[Key, object], require_existing: bool = True) -> Updated:
        """Set every key of *mapping* (keys of one hash slot), or none (`BatchOps.update_all`)."""
        return self.engine.run(self.ops.update_all(mapping, require_existing))


class AsyncBatch:
    """`Batch` on an `AsyncEngine`: the same methods, awaited."""

    def __init__(self, engine: AsyncEngine, *, chunk: int = DEFAULT_CHUNK) -> None:
        self.engine = engine
        self.ops = BatchOps(chunk)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(chunk={self.ops.chunk})"

    async def process_batch(
        self, ops: Iterable[object], *, return_exceptions: bool = False
    ) -> list[Any]:
        """Run *ops* and return their results in order (see `Batch.process_batch`)."""
        plan = self.ops.process(ops, by_slot=self.engine.cluster)
        replies = await self.engine.run_many(plan.calls, return_exceptions=True)
        return plan.collect(replies, return_exceptions)

    async def bulk_set(self, mapping: Mapping[Key, object], ttl: float | None = None) -> int:
        """Set every key of *mapping* to its value (expiring in *ttl* seconds); return the count."""
        plan = self.ops.bulk_set(mapping, ttl, by_slot=self.engine.cluster)
        return len(plan.collect(await self.engine.run_many(plan.calls, return_exceptions=True)))

    async def bulk_get(self, keys: Iterable[Key]) -> dict[Key, Any]:
        """Return ``{key: value}`` for *keys*; None for a missing key or one holding no string."""
        plan = self.ops.bulk_get(keys, by_slot=self.engine.cluster)
        values = plan.collect(await self.engine.run_many(plan.calls, return_exceptions=True))
        return dict(zip(plan.keys, values, strict=True))

    async def update_all(
        self, mapping: Mapping[Key, object], require_existing: bool = True
    ) -> Updated:
        """Set every key of *mapping* (keys of one hash slot), or none (`BatchOps.update_all`)."""
        return await self.engine.run(self.ops.update_all(mapping, require_existing))
