"""Per-script statistics kept by an engine: counts and a bounded latency histogram.

Latencies go into logarithmic buckets 10 % wide from 1 µs to about 1 hour, so
memory stays fixed (at most ~230 counters per script) however many calls run,
and a percentile is exact to within one bucket (±5 %).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

_BASE = 1e-6
_GROWTH = 1.1
_LOG_GROWTH = math.log(_GROWTH)
_BUCKETS = 230
_log = math.log


def _bucket(seconds: float) -> int:
    if seconds <= _BASE:
        return 0
    return min(_BUCKETS - 1, int(math.log(seconds / _BASE) / _LOG_GROWTH) + 1)


def _value(bucket: int) -> float:
    """Return the geometric middle of *bucket*, in seconds."""
    if bucket == 0:
        return _BASE
    return float(_BASE * _GROWTH ** (bucket - 0.5))


@dataclass
class Histogram:
    """Counts of latencies in fixed logarithmic buckets."""

    counts: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    total: int = 0
    sum: float = 0.0
    max: float = 0.0

    def add(self, seconds: float, n: int = 1) -> None:
        """Count *n* latencies of *seconds*."""
        self.counts[_bucket(seconds)] += n
        self.total += n
        self.sum += seconds * n
        self.max = max(self.max, seconds)

    def percentile(self, q: float) -> float | None:
        """Return the *q*-th percentile (0 < q <= 100) in seconds; ``None`` when empty.

        The rank is ``ceil(q/100 * n)``, so p99 of 10 samples is the largest one,
        never an index past the end.
        """
        if not 0 < q <= 100:
            raise ValueError("q must be in (0, 100]")
        if self.total == 0:
            return None
        rank = max(1, math.ceil(q / 100 * self.total))
        seen = 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min(_value(bucket), self.max)
        return self.max  # pragma: no cover - counts always add up to total


@dataclass(frozen=True)
class ScriptStats:
    """A snapshot of one script's figures since the engine started (or was reset)."""

    name: str
    calls: int
    errors: int
    reloads: int
    retries: int
    outcome_unknown: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class _Counters:
    __slots__ = ("calls", "errors", "hist", "outcome_unknown", "reloads", "retries")

    def __init__(self) -> None:
        self.calls = self.errors = self.reloads = self.retries = self.outcome_unknown = 0
        self.hist = Histogram()


class Stats:
    """Thread-safe statistics for every script an engine ran."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Counters] = {}
        self._lock = threading.Lock()

    def _get(self, name: str) -> _Counters:
        counters = self._by_name.get(name)
        if counters is None:
            counters = self._by_name.setdefault(name, _Counters())
        return counters

    def record(self, name: str, seconds: float, *, error: bool = False) -> None:
        """Count one finished call of *name* that took *seconds* (`Histogram.add`, inlined)."""
        bucket = 0 if seconds <= _BASE else int(_log(seconds / _BASE) / _LOG_GROWTH) + 1
        with self._lock:
            c = self._by_name.get(name) or self._get(name)
            c.calls += 1
            if error:
                c.errors += 1
            hist = c.hist
            hist.counts[bucket if bucket < _BUCKETS else _BUCKETS - 1] += 1
            hist.total += 1
            hist.sum += seconds
            hist.max = max(hist.max, seconds)

    def record_many(self, done: dict[str, int], seconds: float) -> None:
        """Count finished calls of a batch: *done* maps a script name to its number of calls."""
        with self._lock:
            for name, n in done.items():
                c = self._get(name)
                c.calls += n
                c.hist.add(seconds, n)

    def count(self, name: str, what: str, n: int = 1) -> None:
        """Add *n* to a counter of *name*: ``reloads``, ``retries`` or ``outcome_unknown``."""
        with self._lock:
            c = self._get(name)
            setattr(c, what, getattr(c, what) + n)

    def snapshot(self) -> dict[str, ScriptStats]:
        """Return the current figures of every script, by name."""
        with self._lock:
            return {name: _freeze(name, c) for name, c in sorted(self._by_name.items())}

    def reset(self) -> None:
        """Forget every figure."""
        with self._lock:
            self._by_name.clear()


def _freeze(name: str, c: _Counters) -> ScriptStats:
    h = c.hist
    return ScriptStats(
        name=name,
        calls=c.calls,
        errors=c.errors,
        reloads=c.reloads,
        retries=c.retries,
        outcome_unknown=c.outcome_unknown,
        mean=h.sum / h.total if h.total else None,
        p50=h.percentile(50),
        p95=h.percentile(95),
        p99=h.percentile(99),
        max=h.max if h.total else None,
    )
