"""Helpers for tests of Engine's shared writer: hold a lane busy so a burst is one batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redlua import Call, Engine
from redlua._writer import SharedWriter


def writer_of(engine: Engine) -> SharedWriter:
    """Return the engine's shared writer (pipelining must be on)."""
    assert isinstance(engine._pipe, SharedWriter)
    return engine._pipe


@contextmanager
def held(engine: Engine) -> Iterator[Callable[[int], None]]:
    """Hold the server's lane busy; yield a function that waits until n calls are queued."""
    writer = writer_of(engine)
    lane = writer._lane(None)
    with lane.lock:
        assert not lane.busy
        lane.busy = True

    def queued(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(lane.pending) < n:
            assert time.monotonic() < deadline, "calls did not queue"
            time.sleep(0.001)

    try:
        yield queued
    finally:
        writer._hand_over(lane)  # the first queued call writes them all


def queued_calls(engine: Engine, calls: list[Call[Any]]) -> list[Any]:
    """Run *calls* from one thread each, queued in order, written as one batch; each result."""
    results: list[Any] = [None] * len(calls)

    def one(i: int) -> None:
        try:
            results[i] = engine.run(calls[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at each call's own error
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    with held(engine) as queued:
        for n, thread in enumerate(threads, 1):
            thread.start()
            queued(n)
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    return results
