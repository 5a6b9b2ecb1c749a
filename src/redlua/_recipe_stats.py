"""What recipes record about themselves, per engine: counts and bounded latency histograms.

An engine's own statistics are per script (calls, errors, reloads, latency). Some
figures only a recipe knows: how long a lock waited and was held, how many leases
were lost, how many limiter requests were allowed or denied. Recipes record them
here under dotted names (``lock.wait``, ``lock.lost``, ``ratelimit.denied``), in
the `RecipeStats` of the engine they run on; `redlua.ops` and its Prometheus
collector read them. Memory is fixed per name (the histograms of `redlua._stats`),
and recording costs a lock and a few additions.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from ._stats import Histogram


@dataclass(frozen=True)
class Timing:
    """A recorded duration's figures, in seconds (``None`` when nothing was recorded)."""

    count: int
    sum: float
    max: float
    p50: float | None
    p95: float | None
    p99: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-safe values."""
        return {
            "count": self.count,
            "sum": self.sum,
            "max": self.max,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
        }


@dataclass(frozen=True)
class RecipeSnapshot:
    """Every count and timing recorded so far, by name."""

    counts: dict[str, int]
    timings: dict[str, Timing]

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-safe values."""
        return {
            "counts": dict(self.counts),
            "timings": {name: t.to_dict() for name, t in self.timings.items()},
        }


class RecipeStats:
    """Counts and duration histograms that recipes record for one engine; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._timings: dict[str, Histogram] = {}

    def count(self, name: str, n: int = 1) -> None:
        """Add *n* to the count *name*."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def observe(self, name: str, seconds: float) -> None:
        """Record one duration of *seconds* under *name*."""
        with self._lock:
            histogram = self._timings.get(name)
            if histogram is None:
                histogram = self._timings[name] = Histogram()
            histogram.add(max(0.0, seconds))

    def snapshot(self) -> RecipeSnapshot:
        """Return a copy of every count and timing's figures."""
        with self._lock:
            timings = {
                name: Timing(
                    h.total, h.sum, h.max, h.percentile(50), h.percentile(95), h.percentile(99)
                )
                for name, h in self._timings.items()
            }
            return RecipeSnapshot(dict(self._counts), timings)

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._counts.clear()
            self._timings.clear()


_BY_ENGINE: weakref.WeakKeyDictionary[Any, RecipeStats] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def recipe_stats(engine: Any) -> RecipeStats:
    """Return the `RecipeStats` of *engine* (made on first use, gone with the engine)."""
    stats = _BY_ENGINE.get(engine)
    if stats is None:
        with _GUARD:
            stats = _BY_ENGINE.get(engine)
            if stats is None:
                stats = _BY_ENGINE[engine] = RecipeStats()
    return stats
