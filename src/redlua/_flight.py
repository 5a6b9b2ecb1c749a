"""Single flights: concurrent callers of one key share one run (one SCRIPT LOAD).

After a SCRIPT FLUSH, every call of a shared write gets NOSCRIPT at once; without this
each would send its own SCRIPT LOAD (a thousand loads, and as many pool connections,
for one script). With it the first caller runs the load and the others wait for the
same one. `SingleFlight` serves threads (`Engine`), `AsyncSingleFlight` tasks
(`AsyncEngine`), where the run is shielded: a cancelled waiter does not cancel it for
the rest.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class _Flight:
    """One run: done when it ended, with its result or its error."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """One run in flight per key; the threads that come meanwhile wait and share its result.

    An error of the run (an `Exception`) is raised in every thread that waited for it.
    A run stopped by ``KeyboardInterrupt`` or ``SystemExit`` stops only its own thread:
    the others start a run of their own.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}
        _THREADED.add(self)

    def __len__(self) -> int:
        return len(self._flights)

    def run(self, key: Hashable, make: Callable[[], T]) -> T:
        """Return the result of the run of *key* in flight, running ``make()`` if none is."""
        while True:
            with self._guard:
                flight = self._flights.get(key)
                lead = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if lead:
                return self._lead(key, flight, make)
            flight.done.wait()
            if flight.error is None:
                result: T = flight.result
                return result
            if isinstance(flight.error, Exception):
                raise flight.error
            # the leading thread was interrupted: run it again, from this thread

    def _lead(self, key: Hashable, flight: _Flight, make: Callable[[], T]) -> T:
        try:
            result = make()
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.result = result
            return result
        finally:
            with self._guard:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    def _forget(self) -> None:
        """Start afresh in a forked child: the parent's runs have no thread here."""
        self._guard = threading.Lock()
        self._flights = {}


_THREADED: weakref.WeakSet[SingleFlight] = weakref.WeakSet()


def _after_fork() -> None:
    """Reset every thread single flight in a forked child."""
    for flights in list(_THREADED):
        flights._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class AsyncSingleFlight:
    """One run in flight per key; the tasks that come meanwhile share its result."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def run(self, key: Hashable, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Return the result of the run of *key* in flight, starting ``make()`` if none is."""
        flight = self._flights.get(key)
        if flight is None or flight.get_loop() is not asyncio.get_running_loop():
            flight = asyncio.ensure_future(make())
            self._flights[key] = flight
            flight.add_done_callback(functools.partial(self._landed, key))
        result: T = await asyncio.shield(flight)
        return result

    def _landed(self, key: Hashable, flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # each waiter raises it; none left is not an unretrieved error
