"""`Limit`: one rate limit as a value -- how many units per period, by which algorithm.

A `Limit` is checked when it is made and then only spelled into script arguments, so a
bad limit fails before any I/O. Python speaks seconds; the period becomes whole
milliseconds here, once (at least 1 ms).

The algorithms, each kept once in ``lua/lib/ratelimit_<algorithm>.lua`` (run by
``ratelimit_apply`` for several limits, by ``ratelimit_apply_<algorithm>`` for one),
on one key per limit:

``sliding_log``
    Exact: at most *limit* units in any *period* ending now. One list entry per
    unit, its millisecond, newest first (two hits in one millisecond are two
    entries), so memory is O(limit); *limit* is at most 10^6. A hit stamped before
    the newest entry (a clock that went back) is recorded at that entry's time.
``sliding_window``
    The sliding-window counter: the current window's count plus the previous
    window's, weighted by how much of it still overlaps the sliding period.
    Approximate (it assumes the previous window's hits were spread evenly), O(1).
``fixed_window``
    At most *limit* units per window; windows are aligned on multiples of *period*
    since the epoch, so every client agrees where one ends. O(1); up to twice the
    limit can pass around a window boundary.
``token_bucket``
    A bucket of *burst* tokens (default: *limit*) refilled continuously, *limit*
    tokens per *period*, to the millisecond and by fractions of a token. O(1).
``gcra``
    The generic cell rate algorithm: the same admissions as the token bucket, kept
    as one theoretical arrival time. O(1); exactly *burst* units pass at once.

The bucket algorithms never admit more than ``burst + limit * elapsed / period``
units over any span; every sum is exact integer arithmetic on the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from redlua._checks import check_name, to_millis

Algorithm = Literal["sliding_log", "sliding_window", "fixed_window", "token_bucket", "gcra"]
Scope = Literal["identity", "tag"]

ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
MAX_LIMIT = 10**9
MAX_LOG_LIMIT = 10**6
"""A sliding log keeps one entry per unit: its limit is capped lower than the others."""
MAX_PERIOD_MS = 10**12
MAX_PRODUCT = 10**15
"""limit x period (ms) for sliding_window, burst x period for the buckets: exact in Lua."""


def check_units(what: str, value: object, most: int = MAX_LIMIT) -> int:
    """Return *value* if it is an int from 1 to *most*, else raise naming *what*."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 1 <= value <= most:
        raise ValueError(f"{what} must be an int from 1 to {most}, got {value}")
    return value


@dataclass(frozen=True)
class Limit:
    """*limit* units per *period* seconds, counted by *algorithm*.

    ::

        Limit(10, 1)                              # 10 per second, GCRA, burst 10
        Limit(1000, 3600, "sliding_log")          # exactly 1000 in any hour
        Limit(5, 1, "token_bucket", burst=20)     # 5/s sustained, 20 at once
        Limit(10_000, 60, scope="tag")            # shared by every identity of a tag

    *burst* (token_bucket and gcra only) is how many units may pass at once; it
    defaults to *limit*. *name* spells the limit in its key (default
    ``<algorithm>/<limit>/<period ms>ms``): give one to keep a limit's state when you
    change its numbers. *scope* ``"identity"`` counts each identity apart;
    ``"tag"`` counts every identity under one hash tag together (a tenant's limit
    beside its users' limits).
    """

    limit: int
    period: float
    algorithm: Algorithm = "gcra"
    burst: int | None = None
    name: str | None = None
    scope: Scope = "identity"
    period_ms: int = field(init=False, repr=False, compare=False)
    capacity: int = field(init=False, repr=False, compare=False)
    """The most units one request may ask for: *burst* for the buckets, else *limit*."""
    args: tuple[str, str, str, str] = field(init=False, repr=False, compare=False)
    """The limit's four entries in ``ratelimit_apply``'s ARGV."""
    bucket: bool = field(init=False, repr=False, compare=False)
    """True for token_bucket and gcra, whose capacity is *burst*."""

    def __post_init__(self) -> None:
        algorithm = self.algorithm
        if not isinstance(algorithm, str):
            raise TypeError(f"algorithm must be a str, not {type(algorithm).__name__}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}")
        most = MAX_LOG_LIMIT if algorithm == "sliding_log" else MAX_LIMIT
        limit = check_units("limit", self.limit, most)
        period_ms = to_millis("period", self.period, most=MAX_PERIOD_MS)
        bucket = algorithm in ("token_bucket", "gcra")
        if self.burst is not None and not bucket:
            raise ValueError(f"burst applies to token_bucket and gcra, not to {algorithm}")
        burst = limit if self.burst is None else check_units("burst", self.burst)
        if algorithm == "sliding_window" and limit * period_ms > MAX_PRODUCT:
            raise ValueError(
                f"limit x period must be at most {MAX_PRODUCT} (ms), got {limit} x {period_ms}"
            )
        if bucket and burst * period_ms > MAX_PRODUCT:
            raise ValueError(
                f"burst x period must be at most {MAX_PRODUCT} (ms), got {burst} x {period_ms}"
            )
        if self.scope not in ("identity", "tag"):
            raise ValueError(f"scope must be 'identity' or 'tag', got {self.scope!r}")
        name = self.name
        if name is None:
            name = f"{algorithm}/{limit}/{period_ms}ms"
        else:
            check_name("name", name, reserved=":")
        put = object.__setattr__
        put(self, "name", name)
        put(self, "period_ms", period_ms)
        put(self, "capacity", burst if bucket else limit)
        put(self, "bucket", bucket)
        put(self, "args", (algorithm, str(limit), str(period_ms), str(burst)))

    @property
    def key_name(self) -> str:
        """Return the name this limit's keys carry."""
        assert self.name is not None  # set by __post_init__
        return self.name
