"""`SingleFlight`: concurrent asyncio callers of one key share one run of a coroutine.

After a SCRIPT FLUSH, every task of a pipelined batch gets NOSCRIPT in the same tick;
without this each would send its own SCRIPT LOAD (a thousand loads, and as many pool
connections, for one script). With it the first starts the load and the others await
the same one. The run is shielded: a cancelled waiter does not cancel it for the rest.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    """One run in flight per key; the callers that come meanwhile share its result."""

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
