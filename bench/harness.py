"""Paired-slice benchmarking: a candidate's throughput as a ratio of its baseline's.

Absolute ops/s on a shared VM move by 2x within minutes (CPU steal), so a case
is never timed alone. One process alternates short slices of the baseline (B)
and the candidate (C)::

    B C B C B ... C B        (cycles candidate slices, cycles + 1 baseline slices)

Each cycle's ratio is the candidate's rate divided by the mean rate of the two
baseline slices around it, so drift slower than a slice cancels out. A case
reports the median ratio over all cycles with its interquartile range, and the
median absolute rate of each side (for orientation only).

A `Case` holds two synchronous callables, an `AsyncCase` two coroutine
functions; each call does one operation, or one batch of ``batch`` operations.
Async cases run inside one event loop and time slices with the loop's clock,
awaiting operations one after another, or from ``concurrency`` tasks at once.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

Op = Callable[[], object]
AsyncOp = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Target:
    """Where and how cases connect: a server URL and the reply decoding both sides use."""

    url: str
    decode_responses: bool = False


@dataclass(frozen=True)
class Case:
    """A synchronous pair: *candidate* measured against *baseline*.

    *batch* is how many operations one call does (ops/s counts operations, not
    calls). *target* is the lowest acceptable median ratio, ``None`` for an
    informational row.
    """

    name: str
    candidate: Op
    baseline: Op
    batch: int = 1
    target: float | None = None
    note: str = ""


@dataclass(frozen=True)
class AsyncCase:
    """An asyncio pair: coroutine functions run in one event loop.

    *concurrency* tasks run each side at once (1: awaited one after another).
    """

    name: str
    candidate: AsyncOp
    baseline: AsyncOp
    batch: int = 1
    target: float | None = None
    note: str = ""
    concurrency: int = 1


@dataclass(frozen=True)
class Settings:
    """How long to measure: *cycles* pairs of *slice_s*-second slices after a warm-up.

    The warm-up runs each side for ``warmup_slices`` slices before the first
    measured one (connections open, caches and branch predictors settle).
    """

    cycles: int = 20
    slice_s: float = 0.1
    warmup_slices: int = 2

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ValueError(f"cycles must be >= 1, got {self.cycles}")
        if not self.slice_s > 0:
            raise ValueError(f"slice_s must be > 0, got {self.slice_s}")
        if self.warmup_slices < 0:
            raise ValueError(f"warmup_slices must be >= 0, got {self.warmup_slices}")


@dataclass(frozen=True)
class Result:
    """What one case measured: per-cycle ratios and the rates of every slice."""

    name: str
    target: float | None
    batch: int
    concurrency: int
    note: str
    ratios: list[float]
    candidate_rates: list[float] = field(repr=False)
    baseline_rates: list[float] = field(repr=False)

    @property
    def ratio(self) -> float:
        """Return the median per-cycle ratio, candidate ÷ baseline."""
        return statistics.median(self.ratios)

    @property
    def iqr(self) -> tuple[float, float]:
        """Return the first and third quartiles of the per-cycle ratios."""
        return quartiles(self.ratios)

    @property
    def candidate_ops(self) -> float:
        """Return the candidate's median slice rate in ops/s."""
        return statistics.median(self.candidate_rates)

    @property
    def baseline_ops(self) -> float:
        """Return the baseline's median slice rate in ops/s."""
        return statistics.median(self.baseline_rates)

    @property
    def passed(self) -> bool | None:
        """Return whether the median ratio meets the target; ``None`` without one."""
        return None if self.target is None else self.ratio >= self.target

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary plus the raw per-slice figures."""
        q1, q3 = self.iqr
        return {
            "name": self.name,
            "note": self.note,
            "batch": self.batch,
            "concurrency": self.concurrency,
            "cycles": len(self.ratios),
            "ratio_median": self.ratio,
            "ratio_q1": q1,
            "ratio_q3": q3,
            "candidate_ops_median": self.candidate_ops,
            "baseline_ops_median": self.baseline_ops,
            "target": self.target,
            "passed": self.passed,
            "ratios": self.ratios,
            "candidate_rates": self.candidate_rates,
            "baseline_rates": self.baseline_rates,
        }


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """Return the first and third quartiles of *values* (inclusive method)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def paired_ratios(candidate: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Return each candidate rate ÷ the mean of the baseline rates before and after it."""
    if len(baseline) != len(candidate) + 1:
        raise ValueError("need exactly one more baseline slice than candidate slices")
    return [c / ((baseline[i] + baseline[i + 1]) / 2) for i, c in enumerate(candidate)]


def _result(
    *,
    name: str,
    target: float | None,
    batch: int,
    concurrency: int,
    note: str,
    candidate: list[float],
    baseline: list[float],
) -> Result:
    return Result(
        name=name,
        target=target,
        batch=batch,
        concurrency=concurrency,
        note=note,
        ratios=paired_ratios(candidate, baseline),
        candidate_rates=candidate,
        baseline_rates=baseline,
    )


# -- synchronous ---------------------------------------------------------------------------


class Threads:
    """An op run by *threads* threads at once, *per* calls each: ``batch = threads * per``.

    The threads live as long as the object (``close()`` stops them), so a slice pays
    two barrier waits per round, not thread starts::

        with Threads(partial(engine.run, call), threads=8, per=50) as op:
            Case("engine.run_8_threads", op, baseline, batch=op.batch)
    """

    def __init__(self, op: Op, *, threads: int, per: int) -> None:
        self.op, self.per, self.batch = op, per, threads * per
        self._start = threading.Barrier(threads + 1)
        self._end = threading.Barrier(threads + 1)
        self._stop = False
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while True:
            self._start.wait()
            if self._stop:
                return
            try:
                for _ in range(self.per):
                    self.op()
            except BaseException as exc:  # noqa: BLE001 - reported by the round
                self._errors.append(exc)
            self._end.wait()

    def __call__(self) -> None:
        """Run one round: every thread makes *per* calls."""
        self._start.wait()
        self._end.wait()
        if self._errors:
            raise self._errors[0]

    def close(self) -> None:
        """Stop the threads."""
        self._stop = True
        self._start.wait()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> Threads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_slice(op: Op, batch: int, seconds: float) -> float:
    """Call *op* back to back for about *seconds* and return operations per second.

    The slice ends after the first call that finishes past the deadline, so it
    always holds at least one call and its length is measured, not assumed.
    """
    clock = time.perf_counter
    calls = 0
    start = clock()
    deadline = start + seconds
    while True:
        op()
        calls += 1
        now = clock()
        if now >= deadline:
            return calls * batch / (now - start)


def measure(case: Case, settings: Settings) -> Result:
    """Warm up both sides of *case*, then run the paired slices and return the result."""
    gc.collect()
    for _ in range(settings.warmup_slices):
        run_slice(case.baseline, case.batch, settings.slice_s)
        run_slice(case.candidate, case.batch, settings.slice_s)
    baseline = [run_slice(case.baseline, case.batch, settings.slice_s)]
    candidate: list[float] = []
    for _ in range(settings.cycles):
        candidate.append(run_slice(case.candidate, case.batch, settings.slice_s))
        baseline.append(run_slice(case.baseline, case.batch, settings.slice_s))
    return _result(
        name=case.name,
        target=case.target,
        batch=case.batch,
        concurrency=1,
        note=case.note,
        candidate=candidate,
        baseline=baseline,
    )


# -- asyncio -------------------------------------------------------------------------------


async def _worker(op: AsyncOp, clock: Callable[[], float], deadline: float) -> int:
    calls = 0
    while True:
        await op()
        calls += 1
        if clock() >= deadline:
            return calls


async def run_slice_async(op: AsyncOp, batch: int, seconds: float, concurrency: int = 1) -> float:
    """Await *op* for about *seconds* from *concurrency* tasks; return operations per second.

    Time comes from the running loop's clock. With one task the calls are
    awaited inline (no task is created); with several, each task stops after
    its first call that finishes past the deadline and the slice lasts until
    the last one does.
    """
    clock = asyncio.get_running_loop().time
    start = clock()
    deadline = start + seconds
    if concurrency == 1:
        calls = await _worker(op, clock, deadline)
    else:
        counts = await asyncio.gather(*(_worker(op, clock, deadline) for _ in range(concurrency)))
        calls = sum(counts)
    return calls * batch / (clock() - start)


async def measure_async(case: AsyncCase, settings: Settings) -> Result:
    """Warm up both sides of *case*, then run the paired slices in the running loop."""
    gc.collect()
    n, size, span = case.concurrency, case.batch, settings.slice_s
    for _ in range(settings.warmup_slices):
        await run_slice_async(case.baseline, size, span, n)
        await run_slice_async(case.candidate, size, span, n)
    baseline = [await run_slice_async(case.baseline, size, span, n)]
    candidate: list[float] = []
    for _ in range(settings.cycles):
        candidate.append(await run_slice_async(case.candidate, size, span, n))
        baseline.append(await run_slice_async(case.baseline, size, span, n))
    return _result(
        name=case.name,
        target=case.target,
        batch=size,
        concurrency=n,
        note=case.note,
        candidate=candidate,
        baseline=baseline,
    )


# -- tables: measurements that are not a paired ratio -------------------------------------


@dataclass(frozen=True)
class Scenario:
    """How big the multi-process scenarios are: *runs* repetitions, *ops* per worker.

    ``runs=0`` skips them. A table builder reads what applies to it and ignores the rest.
    """

    runs: int = 3
    ops: int = 200
    workers: int = 8

    def __post_init__(self) -> None:
        if self.runs < 0 or self.ops < 1 or self.workers < 1:
            raise ValueError(
                f"need runs >= 0, ops >= 1 and workers >= 1, got {self.runs}, {self.ops},"
                f" {self.workers}"
            )


@dataclass(frozen=True)
class Table:
    """A report section that is not a paired ratio (a wall time, a memory footprint).

    *markdown* is printed under a ``### name`` heading, *data* goes to the JSON
    as is, and *missed* names the targets the table missed (for ``--strict``).
    """

    name: str
    markdown: str
    data: dict[str, Any]
    missed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready table."""
        return {"name": self.name, "missed": list(self.missed), "data": self.data}


# -- suites --------------------------------------------------------------------------------

SyncBuilder = Callable[[Target], AbstractContextManager[list[Case]]]
AsyncBuilder = Callable[[Target], AbstractAsyncContextManager[list[AsyncCase]]]
TableBuilder = Callable[[Target, Scenario, Callable[[str], bool]], Iterator[Table]]


@dataclass(frozen=True)
class Suite:
    """A module's cases: builders that open clients for a `Target` and close them after.

    *sync* is a context manager factory yielding `Case`s; *async_* an async one
    yielding `AsyncCase`s, entered inside the event loop that measures them.
    *tables* yields `Table`s (run after the suite's paired rows), each skipped
    unless the name filter it is given accepts its name.
    """

    name: str
    sync: SyncBuilder | None = None
    async_: AsyncBuilder | None = None
    tables: TableBuilder | None = None


def run_suite(
    suite: Suite, target: Target, settings: Settings, wanted: Callable[[str], bool]
) -> Iterator[Result]:
    """Measure every case of *suite* whose name *wanted* accepts, yielding each result."""
    if suite.sync is not None:
        with suite.sync(target) as cases:
            for case in cases:
                if wanted(case.name):
                    yield measure(case, settings)
    if suite.async_ is not None:
        yield from asyncio.run(_collect(suite.async_, target, settings, wanted))


async def _collect(
    build: AsyncBuilder, target: Target, settings: Settings, wanted: Callable[[str], bool]
) -> list[Result]:
    async with build(target) as cases:
        return [await measure_async(case, settings) for case in cases if wanted(case.name)]


def run_tables(
    suite: Suite, target: Target, scenario: Scenario, wanted: Callable[[str], bool]
) -> Iterator[Table]:
    """Yield the tables of *suite* whose name *wanted* accepts (none without a builder)."""
    if suite.tables is not None:
        yield from suite.tables(target, scenario, wanted)
