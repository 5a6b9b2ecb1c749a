"""Single flights: concurrent callers of one key share one run (threads and asyncio tasks)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest

from redlua._flight import AsyncSingleFlight, SingleFlight, _Flight


def _threads(n: int, body: Any) -> list[Any]:
    """Run *body* in *n* threads started together; each one's result or exception."""
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = body()
        except BaseException as exc:  # noqa: BLE001 - the test looks at each one
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_threads_of_one_key_share_one_run() -> None:
    """Eight threads asking for one key while it runs: one run, one result for all."""
    flights, runs = SingleFlight(), []

    def load() -> str:
        runs.append(1)
        time.sleep(0.2)
        return "loaded"

    assert _threads(8, lambda: flights.run("k", load)) == ["loaded"] * 8
    assert len(runs) == 1 and len(flights) == 0


def test_each_key_runs_on_its_own() -> None:
    """A run of one key does not wait for the run of another: a would time out if it did."""
    flights = SingleFlight()
    b_started = threading.Event()

    def load_a() -> str:
        return "a" if b_started.wait(5) else "a waited for b"

    def load_b() -> str:
        b_started.set()
        return "b"

    first = threading.Thread(target=lambda: results.append(flights.run("a", load_a)))
    results: list[str] = []
    first.start()
    time.sleep(0.05)  # a's run is in flight
    results.append(flights.run("b", load_b))
    first.join(10)
    assert sorted(results) == ["a", "b"]


def test_an_error_of_the_run_reaches_every_waiter() -> None:
    """The run raises: each thread that waited for it raises the same error."""
    flights = SingleFlight()

    def fail() -> None:
        time.sleep(0.2)
        raise ValueError("no script")

    results = _threads(5, lambda: flights.run("k", fail))
    assert all(isinstance(r, ValueError) for r in results)
    assert len({id(r) for r in results}) == 1 and len(flights) == 0


def test_an_interrupted_run_lets_the_others_run_their_own() -> None:
    """The leading thread's run stops with a BaseException: waiters run it again, not raise it."""
    flights, runs = SingleFlight(), []

    class Stop(BaseException):
        pass

    def load() -> str:
        runs.append(threading.get_ident())
        time.sleep(0.2)
        if len(runs) == 1:
            raise Stop
        return "loaded"

    results = _threads(4, lambda: flights.run("k", load))
    assert sum(isinstance(r, Stop) for r in results) == 1
    assert sorted(r for r in results if isinstance(r, str)) == ["loaded"] * 3
    assert len(runs) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_wait_for_the_parent_s_runs() -> None:
    """A run in flight at fork time (its thread not in the child): the child runs its own."""
    flights = SingleFlight()
    flights._flights["k"] = _Flight()  # as if a parent thread were loading at the fork
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if flights.run("k", lambda: "child") == "child" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_tasks_of_one_key_share_one_run() -> None:
    """Eight tasks asking for one key: one run; a cancelled waiter does not cancel it."""

    async def main() -> tuple[list[Any], int]:
        flights, runs = AsyncSingleFlight(), []

        async def load() -> str:
            runs.append(1)
            await asyncio.sleep(0.1)
            return "loaded"

        tasks = [asyncio.ensure_future(flights.run("k", load)) for _ in range(8)]
        await asyncio.sleep(0.01)
        tasks[0].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return results, len(runs)

    results, runs = asyncio.run(main())
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == ["loaded"] * 7 and runs == 1
