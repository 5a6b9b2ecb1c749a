"""One renewer per engine: keeps every auto-renewed lock of that engine alive.

A lock made with ``auto_renew=True`` registers with its engine's renewer while it is
held. The renewer wakes every ttl/3 (the smallest ttl among its locks, divided by 3)
and renews *all* its locks in one ``run_many``: one round trip per node, however many
locks. A renewal that finds a lock gone or taken marks it lost (see
`LockCore.lost`). `Renewer` runs in one daemon thread (for `Engine`), `AsyncRenewer`
in one asyncio task (for `AsyncEngine`); each starts on first use and stops once a
whole period passed with no lock registered, so a loop of short holds does not start
a thread per hold.

Renewal is a lease extension, not a guarantee: a process paused longer than the
ttl (GC, swap, SIGSTOP) loses its lock all the same, and is told so by the next
renewal. Pair the lock with fencing when that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redlua._core import Call
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine
    from redlua.locks.lock import Hold, LockCore

_log = logging.getLogger("redlua.locks")

RETRY_FRACTION = 0.25
"""After a renewal failed for a reason other than a lost lock, try again this much sooner."""

Batch = list[tuple["LockCore", "Hold"]]


class RenewerCore(ABC):
    """The registered locks, the period and the batch: everything but the loop."""

    def __init__(self) -> None:
        self._locks: weakref.WeakSet[LockCore] = weakref.WeakSet()
        self._mutex = threading.Lock()
        self._period = 0.0  # the period the loop waits now; 0 before it starts
        self._failed = False  # the last round had a failure: the next comes sooner

    def __len__(self) -> int:
        return len(self._locks)

    def _next_pause(self) -> float | None:
        """Return the pause before the next round; None (and the loop forgotten) when idle."""
        with self._mutex:
            if not self._locks:
                self._period = 0.0
                self._stopped()  # under the mutex: an `add` now starts a new loop
                return None
            self._period = min(lock.ttl for lock in self._locks) / 3
        return self._period * RETRY_FRACTION if self._failed else self._period

    @abstractmethod
    def add(self, lock: LockCore) -> None:
        """Renew *lock* from now on (starts the loop if none runs)."""

    @abstractmethod
    def _stopped(self) -> None:
        """Forget the loop, which is about to end (called with the mutex held)."""

    @abstractmethod
    def _started(self) -> None:
        """Start the loop (called with the mutex held, only when none runs)."""

    @abstractmethod
    def _running(self) -> bool:
        """Implemented by the sync and async subclasses."""

    def _register(self, lock: LockCore) -> bool:
        """Add *lock*, start the loop if none runs; True when it must shorten its period."""
        with self._mutex:
            self._locks.add(lock)
            if not self._running():
                self._started()
                return False
            return lock.ttl / 3 < self._period

    def discard(self, lock: LockCore) -> None:
        """Stop renewing *lock* unless it has a hold to renew.

        The check runs under the mutex: a hold is recorded before its lock is added,
        so a hold taken meanwhile (by another thread) keeps its lock registered.
        """
        with self._mutex:
            if not lock._needs_renewal():  # the renewer is the lock's partner
                self._locks.discard(lock)

    def _batch(self) -> tuple[Batch, list[Call[Any]]]:
        """Snapshot the holds to renew and their calls; drop locks that hold nothing."""
        with self._mutex:
            locks = list(self._locks)
        pairs: Batch = []
        calls: list[Call[Any]] = []
        for lock in locks:
            holds = lock._renewals()
            if not holds:
                self.discard(lock)
            for hold, call in holds:
                pairs.append((lock, hold))
                calls.append(call)
        return pairs, calls

    def _settle(self, pairs: Batch, replies: list[Any], ended: float) -> None:
        """Hand each renewal's reply (or error) back to its lock."""
        self._failed = False
        for (lock, hold), reply in zip(pairs, replies, strict=True):
            if not lock._renewed(hold, reply, ended):
                self._failed = True


class Renewer(RenewerCore):
    """The renewer of one `Engine`: a daemon thread while locks are registered."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = weakref.ref(engine)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def add(self, lock: LockCore) -> None:
        """Renew *lock* from now on (starts the thread if it is not running)."""
        if self._register(lock):
            self._wake.set()

    def _running(self) -> bool:
        return self._thread is not None

    def _started(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="redlua-lock-renewer", daemon=True)
        self._thread.start()

    def _stopped(self) -> None:
        self._thread = None

    def _loop(self) -> None:
        while True:
            pause = self._next_pause()
            if pause is None:
                return
            self._wake.wait(pause)
            self._wake.clear()
            self.renew_now()

    def renew_now(self) -> None:
        """Renew every registered lock in one batch (the loop does this each period)."""
        engine = self._engine()
        pairs, calls = self._batch()
        if engine is None or not calls:
            return
        try:
            replies = engine.run_many(calls, return_exceptions=True)
        except Exception as exc:  # noqa: BLE001 - logged; the locks are retried sooner
            replies = [exc] * len(calls)
        self._settle(pairs, replies, time.monotonic())


class AsyncRenewer(RenewerCore):
    """The renewer of one `AsyncEngine`: an asyncio task while locks are registered."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = weakref.ref(engine)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the task runs."""
        return self._task is not None and not self._task.done()

    def add(self, lock: LockCore) -> None:
        """Renew *lock* from now on (starts the task, in the running loop, if needed)."""
        if self._register(lock):
            self._wake.set()

    def _running(self) -> bool:
        task = self._task  # a task left behind by a closed loop does not count
        return task is not None and not task.done() and task.get_loop() is _running_loop()

    def _started(self) -> None:
        self._wake = asyncio.Event()  # an event belongs to the loop that first waits on it
        self._task = _running_loop().create_task(self._loop(), name="redlua-lock-renewer")

    def _stopped(self) -> None:
        self._task = None

    async def _loop(self) -> None:
        while True:
            pause = self._next_pause()
            if pause is None:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()
            await self.renew_now()

    async def renew_now(self) -> None:
        """Renew every registered lock in one batch (the loop does this each period)."""
        engine = self._engine()
        pairs, calls = self._batch()
        if engine is None or not calls:
            return
        try:
            replies = await engine.run_many(calls, return_exceptions=True)
        except Exception as exc:  # noqa: BLE001 - logged; the locks are retried sooner
            replies = [exc] * len(calls)
        self._settle(pairs, replies, time.monotonic())


def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


_renewers: weakref.WeakKeyDictionary[Any, RenewerCore] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def renewer_for(engine: Engine) -> Renewer:
    """Return the one `Renewer` of *engine*, made on first use."""
    with _guard:
        found = _renewers.get(engine)
        if found is None:
            found = _renewers[engine] = Renewer(engine)
    return found  # type: ignore[return-value]


def async_renewer_for(engine: AsyncEngine) -> AsyncRenewer:
    """Return the one `AsyncRenewer` of *engine*, made on first use."""
    with _guard:
        found = _renewers.get(engine)
        if found is None:
            found = _renewers[engine] = AsyncRenewer(engine)
    return found  # type: ignore[return-value]
