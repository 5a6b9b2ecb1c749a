"""Rate limiters: exact or O(1), one script and one round trip per request, on the server's clock.

* `Limit`: *limit* units per *period* seconds by one of five algorithms
  (``sliding_log``, ``sliding_window``, ``fixed_window``, ``token_bucket``, ``gcra``).
* `RateLimiter` / `AsyncRateLimiter`: several limits checked together, all or
  nothing -- ``hit`` (consume *cost* units), ``peek``, ``refund``, ``reset``.
* `Decision`: every answer -- allowed, remaining, retry_after, reset_after, limit.
* `RateLimitOps`: the same calls as pure builders, run on any engine (``run_many``
  too); `check_sliding_window` and `check_token_bucket` are the seed's two checks.

Keys: ``redlua:rl:{<identity>}:<limit name>``, or with a tag (a tenant)
``redlua:rl:{<tag>}:<limit name>:<identity>`` and, for ``scope="tag"`` limits,
``redlua:rl:{<tag>}:<limit name>``; one hash slot per request, each key with a TTL.
"""

from __future__ import annotations

from redlua.ratelimit._ops import (
    DEFAULT_PREFIX,
    RateLimitOps,
    check_sliding_window,
    check_token_bucket,
)
from redlua.ratelimit.decision import Decision
from redlua.ratelimit.limit import ALGORITHMS, Algorithm, Limit
from redlua.ratelimit.limiter import AsyncRateLimiter, RateLimiter, RateLimiterCore

__all__ = [
    "Algorithm",
    "ALGORITHMS",
    "AsyncRateLimiter",
    "check_sliding_window",
    "check_token_bucket",
    "Decision",
    "DEFAULT_PREFIX",
    "Limit",
    "RateLimiter",
    "RateLimiterCore",
    "RateLimitOps",
]
