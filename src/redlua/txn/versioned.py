"""`Versioned` and `AsyncVersioned`: records written by compare-and-set on a version.

Each record is one hash holding its value and its version (see `redlua.txn._ops`),
and each verb is one script: ``get`` reads both at once (read-only, so replicas may
serve it), ``set_if_version`` writes only when the version is still the one the
writer read and then bumps it, ``delete`` does the same and leaves a tombstone. A
refused write changes nothing, not even the version (the seed's script bumped it
first, so one failed writer made every later writer fail too).

``update(name, fn)`` is the read-modify-write loop on top: read, compute
``fn(value)``, compare-and-set; when another writer got there first, the refusal
already carries the new value and version, so the next attempt computes again
without reading. Attempts are bounded and spaced by full-jitter backoff; after the
last one `TransactionConflictError` says so (never a silent ``None``). *fn* may run
several times, so it must be a pure function of the value it gets. A write whose
reply is lost raises `OutcomeUnknownError` and is not re-sent (it may have
landed: ``get`` tells by the version).

`VersionedCore` holds every decision (checks, builders, the update `Flow`);
`Versioned` and `AsyncVersioned` run it and differ only by ``async``/``await``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from redlua._checks import to_millis
from redlua._core import Call, Flow, Sleep
from redlua.errors import TransactionConflictError
from redlua.txn._ops import (
    DEFAULT_PREFIX,
    DEFAULT_TOMBSTONE,
    Record,
    VersionedOps,
    Written,
    check_value,
)
from redlua.txn._retry import (
    Backoff,
    ConflictStats,
    Counters,
    check_attempts,
)

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine

Update = Callable[[Any], "str | bytes | int"]
"""The user's step of an update: the current value (None when absent) -> the new value."""


class VersionedCore:
    """The checks, `Call` builders and update flow of versioned records; no I/O."""

    def __init__(
        self,
        prefix: str = DEFAULT_PREFIX,
        *,
        attempts: int = 10,
        base: float = 0.002,
        cap: float = 0.1,
        tombstone: float = DEFAULT_TOMBSTONE,
    ) -> None:
        self.ops = VersionedOps(prefix, tombstone=tombstone)
        self.backoff = Backoff(attempts, base, cap)
        self.counters = Counters()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec})"

    @property
    def spec(self) -> str:
        """Return the constructor's arguments as text, for the reprs."""
        b = self.backoff
        return f"prefix={self.ops.prefix!r}, attempts={b.attempts}, base={b.base:g}, cap={b.cap:g}"

    def get_call(self, name: str) -> Call[Record]:
        """Build the read of record *name*."""
        return self.ops.get(name)

    def set_call(
        self, name: str, value: str | bytes | int, expected: int, ttl: float | None
    ) -> Call[Written]:
        """Build the compare-and-set of record *name*."""
        return self.ops.set_if_version(name, value, expected, ttl)

    def delete_call(self, name: str, expected: int) -> Call[Written]:
        """Build the compare-and-delete of record *name*."""
        return self.ops.delete(name, expected)

    def update_flow(
        self, name: str, fn: Update, attempts: int | None = None, ttl: float | None = None
    ) -> Flow[Record]:
        """Return the flow of one update: the value written and its version.

        Everything is checked now, before the flow runs; a value *fn* returns is
        checked before it is sent (a bad one raises `TypeError`, nothing written).
        """
        first = self.ops.get(name)
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        tries = self.backoff.attempts if attempts is None else check_attempts(attempts)
        ttl_ms = None if ttl is None else str(to_millis("ttl", ttl))
        return self._update(first, name, fn, attempts=tries, ttl_ms=ttl_ms)

    def _update(
        self,
        first: Call[Record],
        name: str,
        fn: Update,
        *,
        attempts: int,
        ttl_ms: str | None,
    ) -> Flow[Record]:
        keys, slot = first.keys, cast("int", first.slot)
        build = self.ops.set_checked
        sent = conflicts = 0
        try:
            current: Record = yield first
            value, version = current
            for attempt in range(1, attempts + 1):
                new = fn(value)
                call = build(keys, slot, check_value(new), str(version), ttl_ms)
                sent += 1
                result: Written = yield call
                if result.ok:
                    self.counters.add(runs=1, attempts=sent, conflicts=conflicts, committed=1)
                    return Record(new, result.version)
                conflicts += 1
                if attempt < attempts:
                    yield Sleep(self.backoff.delay(attempt))
                value, version = result.current, result.version
        except BaseException:  # fn, a bad value or the server: counted, then raised as is
            self.counters.add(runs=1, attempts=sent, conflicts=conflicts)
            raise
        self.counters.add(runs=1, attempts=sent, conflicts=conflicts, exhausted=1)
        raise TransactionConflictError(f"update of record {name!r}", keys, attempts)


class Versioned:
    """Versioned records on a synchronous `Engine`::

    records = Versioned(engine)
    value, version = records.get("cart:42")                    # (None, 0): never written
    records.set_if_version("cart:42", "[]", version)           # Written(ok=True, version=1)
    records.update("cart:42", lambda v: v + ",1")              # Record('[],1', 2), retried
                                                               # on conflicts, bounded
    """

    def __init__(
        self,
        engine: Engine,
        prefix: str = DEFAULT_PREFIX,
        *,
        attempts: int = 10,
        base: float = 0.002,
        cap: float = 0.1,
        tombstone: float = DEFAULT_TOMBSTONE,
    ) -> None:
        self.engine = engine
        self.core = VersionedCore(
            prefix, attempts=attempts, base=base, cap=cap, tombstone=tombstone
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    def key(self, name: str) -> str:
        """Return the key of record *name*."""
        return self.core.ops.key(name)

    def get(self, name: str) -> Record:
        """Return ``Record(value, version)`` of *name*; ``(None, 0)`` when absent."""
        return self.engine.run(self.core.get_call(name))

    def set_if_version(
        self, name: str, value: str | bytes | int, expected: int, ttl: float | None = None
    ) -> Written:
        """Write *value* if the version is *expected* (0: absent); a refusal changes nothing."""
        return self.engine.run(self.core.set_call(name, value, expected, ttl))

    def delete(self, name: str, expected: int) -> Written:
        """Delete the record if the version is *expected*; a refusal changes nothing."""
        return self.engine.run(self.core.delete_call(name, expected))

    def update(
        self, name: str, fn: Update, *, attempts: int | None = None, ttl: float | None = None
    ) -> Record:
        """Write ``fn(value)`` by compare-and-set, retrying on conflicts; return what was written.

        Raises `TransactionConflictError` when every attempt lost to another writer.
        """
        return self.engine.drive(self.core.update_flow(name, fn, attempts, ttl))

    def stats(self) -> ConflictStats:
        """Return the update counts: runs, attempts, conflicts, committed, exhausted."""
        return self.core.counters.snapshot()

    def reset_stats(self) -> None:
        """Start the update counts from zero."""
        self.core.counters.reset()


class AsyncVersioned:
    """Versioned records on an `AsyncEngine`: `Versioned` with await::

    records = AsyncVersioned(engine)
    await records.update("cart:42", lambda v: (v or "") + ",1")
    """

    def __init__(
        self,
        engine: AsyncEngine,
        prefix: str = DEFAULT_PREFIX,
        *,
        attempts: int = 10,
        base: float = 0.002,
        cap: float = 0.1,
        tombstone: float = DEFAULT_TOMBSTONE,
    ) -> None:
        self.engine = engine
        self.core = VersionedCore(
            prefix, attempts=attempts, base=base, cap=cap, tombstone=tombstone
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    def key(self, name: str) -> str:
        """Return the key of record *name*."""
        return self.core.ops.key(name)

    async def get(self, name: str) -> Record:
        """Return ``Record(value, version)`` of *name*; ``(None, 0)`` when absent."""
        return await self.engine.run(self.core.get_call(name))

    async def set_if_version(
        self, name: str, value: str | bytes | int, expected: int, ttl: float | None = None
    ) -> Written:
        """Write *value* if the version is *expected* (0: absent); a refusal changes nothing."""
        return await self.engine.run(self.core.set_call(name, value, expected, ttl))

    async def delete(self, name: str, expected: int) -> Written:
        """Delete the record if the version is *expected*; a refusal changes nothing."""
        return await self.engine.run(self.core.delete_call(name, expected))

    async def update(
        self, name: str, fn: Update, *, attempts: int | None = None, ttl: float | None = None
    ) -> Record:
        """Write ``fn(value)`` by compare-and-set, retrying on conflicts; return what was written.

        Raises `TransactionConflictError` when every attempt lost to another writer.
        """
        return await self.engine.drive(self.core.update_flow(name, fn, attempts, ttl))

    def stats(self) -> ConflictStats:
        """Return the update counts: runs, attempts, conflicts, committed, exhausted."""
        return self.core.counters.snapshot()

    def reset_stats(self) -> None:
        """Start the update counts from zero."""
        self.core.counters.reset()
