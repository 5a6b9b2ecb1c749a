"""`Counters` and `AsyncCounters`: atomic counters by name, on a sync or an async engine.

Every decision lives in `CounterOps` (checks, keys, calls, batch plans); the twins only
run its calls and differ by ``async``/``await`` alone (a test checks it). Each method is
one script call, one round trip; a batch is one round trip per cluster node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from redlua.counters._ops import DEFAULT_PREFIX, CounterOps, CounterUpdate
from redlua.counters.batch import CounterChange
from redlua.counters.thresholds import Notify, ThresholdEvent

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine


class Counters:
    """Atomic counters on a synchronous `Engine`, by name::

        counters = Counters(engine)
        counters.increment_with_limit("daily", maximum=1000, ttl=86400)  # CounterUpdate
        counters.decrement_if_positive("tokens", 5)     # refused (applied False) below 5
        counters.get("daily")                           # -> int, 0 when absent
        counters.batch([Increment("a"), Decrement("b", 2), SetValue("c", 0)])

    *prefix* leads every key; with *group* all counters share one hash slot (and a batch
    over them may be all-or-nothing).
    """

    def __init__(
        self, engine: Engine, prefix: str = DEFAULT_PREFIX, *, group: str | None = None
    ) -> None:
        self.engine = engine
        self.ops = CounterOps(prefix, group=group)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ops!r})"

    def increment_with_limit(
        self,
        name: str,
        amount: int = 1,
        maximum: int | None = None,
        ttl: float | None = None,
        *,
        notify: Notify = None,
    ) -> CounterUpdate:
        """Add *amount* unless the result would pass *maximum*; refused: nothing changes."""
        call = self.ops.increment_with_limit(name, amount, maximum, ttl, notify=notify)
        return self.engine.run(call)

    def decrement_if_positive(
        self, name: str, amount: int = 1, *, notify: Notify = None
    ) -> CounterUpdate:
        """Take *amount* only if the counter holds that much; never below zero."""
        return self.engine.run(self.ops.decrement_if_positive(name, amount, notify=notify))

    def set(
        self, name: str, value: int, *, ttl: float | None = None, notify: Notify = None
    ) -> CounterUpdate:
        """Set the counter to *value*; *ttl* replaces its expiry, None keeps it."""
        return self.engine.run(self.ops.set(name, value, ttl=ttl, notify=notify))

    def get(self, name: str) -> int:
        """Return the counter's value, 0 when it does not exist."""
        return self.engine.run(self.ops.get(name))

    def get_many(self, names: Iterable[str]) -> list[int]:
        """Return the values of *names*, in order (one round trip per node)."""
        plan = self.ops.get_many(names)
        return plan.collect(self.engine.run_many(plan.calls))

    def reset(self, name: str) -> int:
        """Delete the counter and return the value it held."""
        return self.engine.run(self.ops.reset(name))

    def batch(
        self, changes: Iterable[CounterChange], *, all_or_nothing: bool = False
    ) -> list[CounterUpdate]:
        """Apply many changes, one round trip per node; one `CounterUpdate` per change."""
        plan = self.ops.batch(changes, all_or_nothing=all_or_nothing)
        return plan.collect(self.engine.run_many(plan.calls))

    def events(self, name: str, *, after: str = "0-0", count: int = 100) -> list[ThresholdEvent]:
        """Return up to *count* stream notifications of *name* after stream id *after*."""
        return self.engine.run(self.ops.events(name, after=after, count=count))


class AsyncCounters:
    """Atomic counters on an `AsyncEngine`: `Counters` with ``await``::

    counters = AsyncCounters(engine)
    update = await counters.increment_with_limit("daily", maximum=1000)
    """

    def __init__(
        self, engine: AsyncEngine, prefix: str = DEFAULT_PREFIX, *, group: str | None = None
    ) -> None:
        self.engine = engine
        self.ops = CounterOps(prefix, group=group)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ops!r})"

    async def increment_with_limit(
        self,
        name: str,
        amount: int = 1,
        maximum: int | None = None,
        ttl: float | None = None,
        *,
        notify: Notify = None,
    ) -> CounterUpdate:
        """Add *amount* unless the result would pass *maximum*; refused: nothing changes."""
        call = self.ops.increment_with_limit(name, amount, maximum, ttl, notify=notify)
        return await self.engine.run(call)

    async def decrement_if_positive(
        self, name: str, amount: int = 1, *, notify: Notify = None
    ) -> CounterUpdate:
        """Take *amount* only if the counter holds that much; never below zero."""
        return await self.engine.run(self.ops.decrement_if_positive(name, amount, notify=notify))

    async def set(
        self, name: str, value: int, *, ttl: float | None = None, notify: Notify = None
    ) -> CounterUpdate:
        """Set the counter to *value*; *ttl* replaces its expiry, None keeps it."""
        return await self.engine.run(self.ops.set(name, value, ttl=ttl, notify=notify))

    async def get(self, name: str) -> int:
        """Return the counter's value, 0 when it does not exist."""
        return await self.engine.run(self.ops.get(name))

    async def get_many(self, names: Iterable[str]) -> list[int]:
        """Return the values of *names*, in order (one round trip per node)."""
        plan = self.ops.get_many(names)
        return plan.collect(await self.engine.run_many(plan.calls))

    async def reset(self, name: str) -> int:
        """Delete the counter and return the value it held."""
        return await self.engine.run(self.ops.reset(name))

    async def batch(
        self, changes: Iterable[CounterChange], *, all_or_nothing: bool = False
    ) -> list[CounterUpdate]:
        """Apply many changes, one round trip per node; one `CounterUpdate` per change."""
        plan = self.ops.batch(changes, all_or_nothing=all_or_nothing)
        return plan.collect(await self.engine.run_many(plan.calls))

    async def events(
        self, name: str, *, after: str = "0-0", count: int = 100
    ) -> list[ThresholdEvent]:
        """Return up to *count* stream notifications of *name* after stream id *after*."""
        return await self.engine.run(self.ops.events(name, after=after, count=count))
