"""`RateLimiter` and `AsyncRateLimiter`: limits checked together, one round trip a request.

`RateLimiterCore` holds everything but the I/O (the limits, their checks and the
`RateLimitOps` that builds each call); the twins run those calls on an engine and
differ only by ``async``/``await`` (a test checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redlua._recipe_stats import RecipeStats, recipe_stats
from redlua.ratelimit._ops import DEFAULT_PREFIX, RateLimitOps
from redlua.ratelimit.decision import Decision
from redlua.ratelimit.limit import Limit

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine


class RateLimiterCore:
    """The limits of a rate limiter and the builders of its calls; no I/O."""

    def __init__(self, limits: tuple[Limit, ...], prefix: str) -> None:
        self.ops = RateLimitOps(*limits, prefix=prefix)
        self.limits = self.ops.limits

    engine: Any
    _stats: RecipeStats | None = None

    def _decided(self, decision: Decision) -> Decision:
        """Count *decision* in the engine's recipe statistics and return it."""
        stats = self._stats
        if stats is None:
            stats = self._stats = recipe_stats(self.engine)
        stats.count("ratelimit.allowed" if decision else "ratelimit.denied")
        return decision

    def __repr__(self) -> str:
        limits = ", ".join(repr(limit) for limit in self.limits)
        return f"{type(self).__name__}({limits}, prefix={self.ops.prefix!r})"


class RateLimiter(RateLimiterCore):
    """Rate limits checked together on a synchronous `Engine`, all or nothing::

    limiter = RateLimiter(engine, Limit(10, 1), Limit(1000, 3600, "sliding_window"))
    decision = limiter.hit("u42")          # Decision(allowed=True, remaining=9, ...)
    if not decision:
        wait(decision.retry_after)
    limiter.hit("u42", tag="acme")         # u42's limits and acme's scope="tag" ones
    """

    engine: Engine

    def __init__(self, engine: Engine, *limits: Limit, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(limits, prefix)
        self.engine = engine

    def hit(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Decision:
        """Consume *cost* units from every limit if all admit it (else nothing); say which."""
        return self._decided(self.engine.run(self.ops.hit(identity, cost, tag=tag, now=now)))

    def peek(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Decision:
        """Say what a hit of *cost* would get now, consuming nothing."""
        return self.engine.run(self.ops.peek(identity, cost, tag=tag, now=now))

    def refund(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Decision:
        """Give *cost* units back to every limit (never beyond full)."""
        return self.engine.run(self.ops.refund(identity, cost, tag=tag, now=now))

    def reset(self, identity: str, *, tag: str | None = None) -> int:
        """Forget every limit of this request; return how many keys existed."""
        return self.engine.run(self.ops.reset(identity, tag=tag))


class AsyncRateLimiter(RateLimiterCore):
    """Rate limits checked together on an `AsyncEngine`: `RateLimiter` with await::

    limiter = AsyncRateLimiter(engine, Limit(10, 1))
    if not (decision := await limiter.hit("u42")):
        await asyncio.sleep(decision.retry_after)
    """

    engine: AsyncEngine

    def __init__(self, engine: AsyncEngine, *limits: Limit, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(limits, prefix)
        self.engine = engine

    async def hit(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Decision:
        """Consume *cost* units from every limit if all admit it (else nothing); say which."""
        return self._decided(await self.engine.run(self.ops.hit(identity, cost, tag=tag, now=now)))

    async def peek(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Decision:
        """Say what a hit of *cost* would get now, consuming nothing."""
        return await self.engine.run(self.ops.peek(identity, cost, tag=tag, now=now))

    async def refund(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Decision:
        """Give *cost* units back to every limit (never beyond full)."""
        return await self.engine.run(self.ops.refund(identity, cost, tag=tag, now=now))

    async def reset(self, identity: str, *, tag: str | None = None) -> int:
        """Forget every limit of this request; return how many keys existed."""
        return await self.engine.run(self.ops.reset(identity, tag=tag))
