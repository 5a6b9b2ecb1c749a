"""`TransactionMonitor`: how long transactions take, how often they fail, and why.

Wrap a function (``@monitor.wrap``) or a block (``with monitor.track("transfer")``,
``async with`` alike) and the monitor records each run: its duration, its outcome
(ok, or the exception's type) and its WATCH conflicts. A conflict is counted for a
`redis.exceptions.WatchError`, for `TransactionConflictError` (one per attempt it
lost), for any exception with an integer ``conflicts`` attribute, for the retries a
returned `Committed` reports, and for each explicit ``monitor.conflict(name)`` (or
``tracking.conflict()`` inside a block), so code that retries by itself can say so.

Memory is bounded whatever the traffic: all-time figures are counters and a
fixed logarithmic histogram per function (at most *max_functions* names; later
names are pooled under ``"(other)"``), windowed figures come from the last
*history* records, and the recent failures from the last *failures*. One lock
guards the state, held for a few assignments, so threads and asyncio tasks may
share a monitor.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, NamedTuple, ParamSpec, TypeVar, cast, overload

from redis.exceptions import WatchError

from redlua._checks import finite
from redlua._report import nearest_rank
from redlua._stats import Histogram
from redlua.errors import TransactionConflictError
from redlua.txn.watch import Committed

_log = logging.getLogger("redlua.ops")

P = ParamSpec("P")
R = TypeVar("R")

OTHER = "(other)"
"""The name runs are pooled under once *max_functions* names are known."""
DURATION_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)  # fmt: skip
"""Upper bounds (seconds) of the duration buckets exporters publish (plus +Inf)."""


def conflicts_of(error: BaseException | None = None, result: object = None) -> int:
    """Return how many WATCH conflicts an outcome shows (see the module's rules)."""
    if error is None:
        if isinstance(result, Committed):
            return max(0, int(result.attempts) - 1)
        return 0
    counted = getattr(error, "conflicts", None)
    if isinstance(counted, int) and not isinstance(counted, bool):
        return max(0, counted)
    if isinstance(error, TransactionConflictError):
        return max(1, int(error.attempts))
    return 1 if isinstance(error, WatchError) else 0


@dataclass(frozen=True)
class Durations:
    """Durations of runs, in seconds; None when there is none.

    Windowed figures are exact; all-time percentiles come from a histogram with
    buckets 10 % wide (exact to ±5 %), min, mean and max are exact.
    """

    count: int
    min: float | None
    mean: float | None
    max: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-safe values."""
        return asdict(self)


@dataclass(frozen=True)
class FunctionStats:
    """The runs of one function or block: counts, errors by type, conflicts, durations."""

    name: str
    calls: int
    succeeded: int
    failed: int
    conflicts: int
    errors: dict[str, int]
    durations: Durations

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-safe values."""
        return {**asdict(self), "durations": self.durations.to_dict()}


@dataclass(frozen=True)
class MonitorStats:
    """Figures of the runs from ``since`` to ``until`` (unix seconds).

    ``period`` is the window asked for in seconds, or None for every run since the
    monitor was made or reset.

    ``success_rate`` is a fraction from 0 to 1 (None without runs). ``complete`` is
    False when the period reaches further back than the records the monitor keeps.
    """

    period: float | None
    since: float
    until: float
    calls: int
    succeeded: int
    failed: int
    conflicts: int
    success_rate: float | None
    durations: Durations
    functions: dict[str, FunctionStats]
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-safe values."""
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("durations", "functions")},
            "durations": self.durations.to_dict(),
            "functions": {name: f.to_dict() for name, f in self.functions.items()},
        }


@dataclass(frozen=True)
class Failure:
    """One failed run: when it ended (unix seconds), how long it took, what was raised."""

    name: str
    at: float
    duration: float
    error_type: str
    message: str
    conflicts: int

    def to_dict(self) -> dict[str, Any]:
        """Return the failure as JSON-safe values."""
        return asdict(self)


class _Record(NamedTuple):
    at: float
    name: str
    duration: float | None  # None: a conflict reported on its own, not a run
    error_type: str | None
    conflicts: int


class FunctionTotals(NamedTuple):
    """All-time figures of one name for exporters: the stats, the duration sum and buckets.

    ``buckets[i]`` counts runs no longer than ``DURATION_BOUNDS[i]`` (cumulative);
    ``stats.calls`` is the +Inf bucket.
    """

    stats: FunctionStats
    sum: float
    buckets: tuple[int, ...]


class _Totals:
    __slots__ = ("bounded", "calls", "conflicts", "errors", "hist", "min", "succeeded")

    def __init__(self) -> None:
        self.calls = self.succeeded = self.conflicts = 0
        self.errors: dict[str, int] = {}
        self.hist = Histogram()
        self.min = math.inf
        self.bounded = [0] * len(DURATION_BOUNDS)

    def add(self, record: _Record) -> None:
        self.conflicts += record.conflicts
        if record.duration is None:
            return
        self.calls += 1
        if record.error_type is None:
            self.succeeded += 1
        else:
            self.errors[record.error_type] = self.errors.get(record.error_type, 0) + 1
        self.hist.add(record.duration)
        self.min = min(self.min, record.duration)
        index = bisect.bisect_left(DURATION_BOUNDS, record.duration)
        if index < len(self.bounded):
            self.bounded[index] += 1

    def durations(self) -> Durations:
        h = self.hist
        if not h.total:
            return Durations(0, None, None, None, None, None, None)
        return Durations(
            h.total, self.min, h.sum / h.total, h.max,
            h.percentile(50), h.percentile(95), h.percentile(99),
        )  # fmt: skip

    def function(self, name: str) -> FunctionStats:
        return FunctionStats(
            name, self.calls, self.succeeded, self.calls - self.succeeded, self.conflicts,
            dict(sorted(self.errors.items())), self.durations(),
        )  # fmt: skip


def _exact(samples: list[float]) -> Durations:
    if not samples:
        return Durations(0, None, None, None, None, None, None)
    ordered = sorted(samples)
    n = len(ordered)
    return Durations(
        n, ordered[0], sum(ordered) / n, ordered[-1],
        nearest_rank(ordered, 50), nearest_rank(ordered, 95), nearest_rank(ordered, 99),
    )  # fmt: skip


def _positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{what} must be >= 1, got {value}")
    return value


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name or len(name) > 200:
        raise ValueError("name must be 1 to 200 characters")
    return name


class Tracking:
    """One run of a block under `TransactionMonitor.track`; ``with`` or ``async with``."""

    __slots__ = ("_conflicts", "_monitor", "_started", "name")

    def __init__(self, monitor: TransactionMonitor, name: str) -> None:
        self._monitor = monitor
        self.name = name
        self._started = 0.0
        self._conflicts = 0

    def conflict(self, n: int = 1) -> None:
        """Count *n* WATCH conflicts in this run (retries that ended well count too)."""
        self._conflicts += _positive_int("n", n)

    def __enter__(self) -> Tracking:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        elapsed = time.perf_counter() - self._started
        self._monitor.record(self.name, elapsed, error=exc, conflicts=self._conflicts)

    async def __aenter__(self) -> Tracking:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, exc, tb)


class TransactionMonitor:
    """Record runs of transactions (or any code) and summarise them; thread- and task-safe.

    *history* records are kept for windowed statistics, *failures* for
    `recent_failures`, and at most *max_functions* names are told apart. *clock*
    gives the wall time in seconds (a test may pass its own).
    """

    def __init__(
        self,
        *,
        history: int = 10_000,
        failures: int = 100,
        max_functions: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records: deque[_Record] = deque(maxlen=_positive_int("history", history))
        self._failures: deque[Failure] = deque(maxlen=_positive_int("failures", failures))
        self._max_functions = _positive_int("max_functions", max_functions)
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: dict[str, _Totals] = {}
        self._all = _Totals()
        self._since = clock()

    # -- recording ---------------------------------------------------------------------------

    def track(self, name: str) -> Tracking:
        """Return a context manager (``with`` or ``async with``) that records one run as *name*."""
        return Tracking(self, _check_name(name))

    @overload
    def wrap(self, fn: Callable[P, R], *, name: str | None = None) -> Callable[P, R]: ...
    @overload
    def wrap(
        self, fn: None = None, *, name: str | None = None
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def wrap(self, fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Decorate a function or coroutine function so each call is recorded.

        Use as ``@monitor.wrap`` or ``@monitor.wrap(name="transfer")``; the name
        defaults to the function's qualified name.
        """
        if fn is None:
            return lambda f: self.wrap(f, name=name)
        if not callable(fn):
            raise TypeError(f"wrap needs a callable, not {type(fn).__name__}")
        label = _check_name(name if name is not None else getattr(fn, "__qualname__", repr(fn)))
        if inspect.iscoroutinefunction(fn):
            return self._wrap_async(fn, label)
        return self._wrap_sync(fn, label)

    def _wrap_sync(self, fn: Callable[P, R], label: str) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self.record(label, time.perf_counter() - started, error=exc)
                raise
            self.record(label, time.perf_counter() - started, result=result)
            return result

        return run

    def _wrap_async(self, fn: Callable[P, Awaitable[R]], label: str) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self.record(label, time.perf_counter() - started, error=exc)
                raise
            self.record(label, time.perf_counter() - started, result=result)
            return result

        return run

    def conflict(self, name: str, n: int = 1) -> None:
        """Count *n* WATCH conflicts of *name* that happened outside a recorded failure."""
        count = _positive_int("n", n)
        self._add(_Record(self._clock(), _check_name(name), None, None, count), None)

    def record(
        self,
        name: str,
        duration: float,
        *,
        error: BaseException | None = None,
        result: object = None,
        conflicts: int = 0,
    ) -> None:
        """Record one finished run of *name* that took *duration* seconds.

        *error* is what it raised (None when it returned *result*); its conflicts
        are added to *conflicts* by the rules of `conflicts_of`.
        """
        counted = conflicts + conflicts_of(error, result)
        kind = type(error).__name__ if error is not None else None
        record = _Record(self._clock(), _check_name(name), max(0.0, duration), kind, counted)
        failure = None
        if error is not None:
            failure = Failure(record.name, record.at, duration, kind or "", str(error)[:500],
                              counted)  # fmt: skip
            _log.debug(
                "transaction %s failed: %s",
                name,
                kind,
                extra={"redlua_function": name, "redlua_duration": duration},
            )
        self._add(record, failure)

    def _add(self, record: _Record, failure: Failure | None) -> None:
        with self._lock:
            totals = self._totals.get(record.name)
            if totals is None:
                if len(self._totals) >= self._max_functions:
                    record = record._replace(name=OTHER)
                    totals = self._totals.get(OTHER)
                if totals is None:
                    totals = self._totals.setdefault(record.name, _Totals())
            totals.add(record)
            self._all.add(record)
            self._records.append(record)
            if failure is not None:
                self._failures.append(failure)

    # -- reading -----------------------------------------------------------------------------

    def stats(self, period: float | None = None) -> MonitorStats:
        """Return figures over the last *period* seconds, or since the start (None)."""
        if period is None:
            with self._lock:
                functions = {n: t.function(n) for n, t in sorted(self._totals.items())}
                total, since = self._all.function("*"), self._since
            return _summary(
                total, functions, period=None, since=since, until=self._clock(), complete=True
            )
        if isinstance(period, bool) or not isinstance(period, (int, float)):
            raise TypeError(f"period must be a number of seconds, not {type(period).__name__}")
        if not (finite("period", period) and period > 0):
            raise ValueError(f"period must be a finite number of seconds > 0, got {period!r}")
        now = self._clock()
        cutoff = now - period
        with self._lock:
            records = [r for r in self._records if r.at >= cutoff]
            full = len(self._records) == self._records.maxlen
            complete = not full or self._records[0].at < cutoff  # nothing dropped in the window
            since = max(cutoff, self._since)
        by_name: dict[str, list[_Record]] = {}
        for r in records:
            by_name.setdefault(r.name, []).append(r)
        functions = {n: _exact_function(n, rs) for n, rs in sorted(by_name.items())}
        total = _exact_function("*", records)
        return _summary(
            total, functions, period=float(period), since=since, until=now, complete=complete
        )

    def recent_failures(self, limit: int = 10) -> list[Failure]:
        """Return up to *limit* of the latest failures, newest first."""
        count = _positive_int("limit", limit)
        with self._lock:
            kept = list(self._failures)
        return kept[::-1][:count]

    def reset(self) -> None:
        """Forget every record and figure."""
        with self._lock:
            self._records.clear()
            self._failures.clear()
            self._totals.clear()
            self._all = _Totals()
            self._since = self._clock()

    def totals(self) -> dict[str, FunctionTotals]:
        """Return each name's all-time figures with its duration sum and buckets (exporters)."""
        with self._lock:
            return {
                name: FunctionTotals(
                    t.function(name), t.hist.sum, tuple(itertools.accumulate(t.bounded))
                )
                for name, t in sorted(self._totals.items())
            }


def _exact_function(name: str, records: list[_Record]) -> FunctionStats:
    runs = [r for r in records if r.duration is not None]
    errors: dict[str, int] = {}
    for r in runs:
        if r.error_type is not None:
            errors[r.error_type] = errors.get(r.error_type, 0) + 1
    failed = sum(errors.values())
    return FunctionStats(
        name=name,
        calls=len(runs),
        succeeded=len(runs) - failed,
        failed=failed,
        conflicts=sum(r.conflicts for r in records),
        errors=dict(sorted(errors.items())),
        durations=_exact([cast("float", r.duration) for r in runs]),
    )


def _summary(
    total: FunctionStats,
    functions: dict[str, FunctionStats],
    *,
    period: float | None,
    since: float,
    until: float,
    complete: bool,
) -> MonitorStats:
    return MonitorStats(
        period=period,
        since=since,
        until=until,
        calls=total.calls,
        succeeded=total.succeeded,
        failed=total.failed,
        conflicts=total.conflicts,
        success_rate=total.succeeded / total.calls if total.calls else None,
        durations=total.durations,
        functions=functions,
        complete=complete,
    )
