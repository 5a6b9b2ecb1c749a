"""Helpers for the rate-limit tests: one limiter face over both engines, and key snapshots."""

from __future__ import annotations

from typing import Any

import redis

from redlua.ratelimit import AsyncRateLimiter, Limit, RateLimiter
from tests.conftest import Blocking

T0 = 1_700_000_000.0
"""A fixed "now" (seconds) for tests that pass the time themselves."""


def make_limiter(engine: Any, *limits: Limit, **kwargs: Any) -> Any:
    """`RateLimiter` on a sync engine, `AsyncRateLimiter` behind the blocking face otherwise."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncRateLimiter(engine.inner, *limits, **kwargs), engine.loop)
    return RateLimiter(engine, *limits, **kwargs)


def snapshot(r: redis.Redis) -> dict[str, Any]:
    """Return every key of the test database with its type and full contents."""
    state: dict[str, Any] = {}
    for key in sorted(r.scan_iter(count=1000)):
        kind = r.type(key)
        if kind == "zset":
            state[key] = ("zset", r.zrange(key, 0, -1, withscores=True))
        elif kind == "list":
            state[key] = ("list", r.lrange(key, 0, -1))
        else:
            state[key] = (kind, r.get(key))
    return state


def ttls(r: redis.Redis) -> dict[str, int]:
    """Return the PTTL of every key of the test database."""
    return {key: r.pttl(key) for key in r.scan_iter(count=1000)}
