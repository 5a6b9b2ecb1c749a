"""TransactionMonitor: outcomes, conflicts, windows, bounded memory, threads and tasks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any

import pytest
import redis
from redis.exceptions import WatchError

from redlua.errors import TransactionConflictError
from redlua.ops import TransactionMonitor
from redlua.ops.monitor import OTHER, conflicts_of
from redlua.txn import Transactions
from redlua.txn.watch import Committed


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_outcomes_durations_and_failures_are_recorded() -> None:
    """ok runs, failures by type, min/avg/max and the recent failures newest first."""
    monitor = TransactionMonitor()

    @monitor.wrap
    def ok(x: int) -> int:
        return x * 2

    @monitor.wrap(name="boom")
    def boom(kind: type[Exception]) -> None:
        raise kind("nope")

    assert [ok(i) for i in range(3)] == [0, 2, 4]
    for kind in (KeyError, ValueError, ValueError):
        with pytest.raises(kind):
            boom(kind)
    stats = monitor.stats()
    assert (stats.calls, stats.succeeded, stats.failed) == (6, 3, 3)
    assert stats.success_rate == 0.5 and stats.period is None and stats.complete
    fn = stats.functions["boom"]
    assert fn.errors == {"KeyError": 1, "ValueError": 2} and fn.failed == 3
    name = next(n for n in stats.functions if n.endswith("ok"))
    assert stats.functions[name].calls == 3 and stats.functions[name].succeeded == 3
    d = stats.durations
    assert d.count == 6 and d.min is not None and d.max is not None and d.mean is not None
    assert d.min <= d.mean <= d.max and d.p50 is not None and d.p99 is not None
    failures = monitor.recent_failures(2)
    assert [f.error_type for f in failures] == ["ValueError", "ValueError"]
    assert failures[0].at >= failures[1].at and failures[0].name == "boom"
    json.dumps(stats.to_dict())
    json.dumps([f.to_dict() for f in failures])


def test_conflicts_are_counted_by_every_rule() -> None:
    """WatchError, TransactionConflictError, a conflicts attribute, Committed and the hooks count."""

    class RetriedError(Exception):
        conflicts = 4

    assert conflicts_of(WatchError()) == 1
    assert conflicts_of(TransactionConflictError("run", ("k",), 3)) == 3
    assert conflicts_of(RetriedError()) == 4
    assert conflicts_of(ValueError()) == 0
    assert conflicts_of(None, Committed(1, [], 3)) == 2
    monitor = TransactionMonitor()
    with pytest.raises(WatchError), monitor.track("tx"):
        raise WatchError("watched key changed")
    with monitor.track("tx") as tracking:
        tracking.conflict(2)
    monitor.conflict("tx")
    fn = monitor.stats().functions["tx"]
    assert (fn.calls, fn.failed, fn.conflicts) == (2, 1, 4)


def test_a_real_watch_conflict_is_counted(r: redis.Redis, server_url: str) -> None:
    """A WATCH transaction broken by another client records one conflict and a WatchError."""
    monitor = TransactionMonitor()
    other = redis.Redis.from_url(server_url)
    r.set("ops:watched", 1)

    @monitor.wrap(name="transfer")
    def transfer() -> None:
        with r.pipeline() as pipe:
            pipe.watch("ops:watched")
            value = int(pipe.get("ops:watched") or 0)
            other.set("ops:watched", 100)  # a concurrent writer
            pipe.multi()
            pipe.set("ops:watched", value + 1)
            pipe.execute()

    with pytest.raises(WatchError):
        transfer()
    fn = monitor.stats().functions["transfer"]
    assert fn.conflicts == 1 and fn.errors == {"WatchError": 1}
    assert r.get("ops:watched") == "100"
    other.close()


def test_committed_retries_of_redlua_transactions_count(r: redis.Redis, server_url: str) -> None:
    """A Transactions.run that committed on its 2nd try reports one conflict."""
    from redlua import Engine

    client = redis.Redis.from_url(server_url, decode_responses=True)
    monitor = TransactionMonitor()
    tx = Transactions(Engine(client))
    tries = []

    def incr(t: Any) -> None:
        t.get("{ops}n")
        if not tries:
            r.set("{ops}n", 10)  # a concurrent writer breaks the first try
        tries.append(1)
        t.multi()
        t.incr("{ops}n")

    done = monitor.wrap(tx.run, name="incr")(incr, "{ops}n")
    assert isinstance(done, Committed) and done.attempts == 2
    fn = monitor.stats().functions["incr"]
    assert (fn.calls, fn.succeeded, fn.conflicts) == (1, 1, 1)
    assert r.get("{ops}n") == "11"
    client.close()


def test_windowed_stats_cover_only_the_period() -> None:
    """stats(period) counts the runs of the last period seconds, exactly."""
    clock = Clock()
    monitor = TransactionMonitor(clock=clock)
    monitor.record("a", 0.010)
    clock.now += 100
    monitor.record("a", 0.020)
    monitor.record("b", 0.030, error=RuntimeError("x"))
    recent = monitor.stats(period=50)
    assert (recent.calls, recent.failed) == (2, 1) and recent.since == clock.now - 50
    assert recent.durations.min == 0.020 and recent.durations.max == 0.030
    assert recent.durations.p50 == 0.020 and recent.durations.p99 == 0.030
    assert monitor.stats(period=500).calls == 3 and monitor.stats().calls == 3
    with pytest.raises(ValueError, match="period"):
        monitor.stats(period=0)


def test_memory_is_bounded() -> None:
    """history, failures and names are capped; a window past the history says it is incomplete."""
    clock = Clock()
    monitor = TransactionMonitor(history=10, failures=3, max_functions=2, clock=clock)
    for i in range(25):
        clock.now += 1
        monitor.record(f"f{i % 5}", 0.001, error=KeyError() if i % 2 else None)
    assert len(monitor.recent_failures(100)) == 3
    assert monitor.stats().calls == 25  # all-time counters stay exact
    assert set(monitor.stats().functions) == {"f0", "f1", OTHER}
    window = monitor.stats(period=100)
    assert window.calls == 10 and not window.complete
    assert monitor.stats(period=5).complete
    monitor.reset()
    assert monitor.stats().calls == 0 and monitor.recent_failures() == []


def test_eight_threads_are_counted_exactly() -> None:
    """8 threads x 500 runs through one monitor: every run and conflict counted once."""
    monitor = TransactionMonitor(history=100)
    barrier = threading.Barrier(8)

    @monitor.wrap(name="work")
    def work(i: int) -> None:
        if i % 10 == 0:
            raise WatchError("conflict")

    def worker() -> None:
        barrier.wait()
        for i in range(500):
            with contextlib.suppress(WatchError):
                work(i)
            if i % 50 == 0:
                monitor.conflict("work")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fn = monitor.stats().functions["work"]
    assert (fn.calls, fn.failed, fn.succeeded) == (4000, 400, 3600)
    assert fn.conflicts == 400 + 8 * 10
    assert fn.durations.count == 4000


def test_fifty_tasks_are_counted_exactly() -> None:
    """50 asyncio tasks x 40 runs via wrap and async with: exact counts."""
    monitor = TransactionMonitor()

    @monitor.wrap
    async def step(i: int) -> int:
        await asyncio.sleep(0)
        if i % 4 == 0:
            raise ValueError(i)
        return i

    async def task() -> None:
        for i in range(20):
            with contextlib.suppress(ValueError):
                await step(i)
            async with monitor.track("block") as tracking:
                await asyncio.sleep(0)
                if i % 5 == 0:
                    tracking.conflict()

    async def main() -> None:
        await asyncio.gather(*(task() for _ in range(50)))

    asyncio.run(main())
    stats = monitor.stats()
    name = next(n for n in stats.functions if n.endswith("step"))
    assert (stats.functions[name].calls, stats.functions[name].failed) == (1000, 250)
    assert stats.functions["block"].calls == 1000 and stats.functions["block"].conflicts == 200
    assert stats.calls == 2000 and stats.conflicts == 200


def test_bad_arguments_raise() -> None:
    """Bad names, counts and sizes raise TypeError/ValueError naming the argument."""
    monitor = TransactionMonitor()
    with pytest.raises(TypeError, match="name"):
        monitor.track(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        monitor.conflict("")
    with pytest.raises(ValueError, match="n must"):
        monitor.conflict("x", 0)
    with pytest.raises(ValueError, match="history"):
        TransactionMonitor(history=0)
    with pytest.raises(TypeError, match="callable"):
        monitor.wrap(3)  # type: ignore[call-overload]
