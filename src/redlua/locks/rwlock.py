"""`ReadWriteLock` and `AsyncReadWriteLock`: many readers or one writer, each hold a lease.

Every acquisition gets a fresh holder id made in Python; the server keeps, in one slot::

    redlua:rw:{<name>}:readers   ZSET reader id -> expiry in server milliseconds (TIME)
    redlua:rw:{<name>}:writer    STRING the writer's id, PX its ttl
    redlua:rw:{<name>}:intent    STRING the id of a writer kept waiting, PX a few seconds
    redlua:rw:{<name>}:wake:r    LIST wake-ups for waiting readers, short PEXPIRE
    redlua:rw:{<name>}:wake:w    LIST wake-ups for waiting writers, short PEXPIRE

A reader gets in when no writer holds the lock and none waits; a writer when nobody
holds it. A writer kept out leaves an *intent* that makes readers arriving after it
wait, so a stream of readers cannot starve writers; the intent lives `INTENT_MS` and is
renewed by each of the writer's attempts, and a writer that gives up withdraws it.
Waiting blocks on a wake list (BLPOP), not a poll: the writer's or the last reader's
release wakes a waiting writer if one waits, else a reader, and each woken reader that
gets in wakes the next. Waiters also wake when the hold that keeps them out expires
(at most `MAX_PAUSE` apart, should a wake-up be lost), so a crashed holder's lease
comes back soon after its ttl. Holds expire on the server's clock; nothing is left
behind when everyone leaves.

`ReadWriteLockCore` holds the pure part (checks, `Call` builders, acquire `Flow`);
`ReadWriteLock` and `AsyncReadWriteLock` run it on an engine and differ only by
``async``/``await``.
"""

from __future__ import annotations

import contextlib
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from redlua._checks import corrupt
from redlua._checks import text as _text
from redlua._core import Call, Flow, Wait
from redlua._registry import load_script
from redlua._slots import key_slot
from redlua.errors import LockLostError, OutcomeUnknownError, RedluaError
from redlua.locks.semaphore import (
    MAX_PAUSE,
    WAKE_TTL_MS,
    Grant,
    _grant,
    check_name,
    check_permit,
    check_wait,
    new_permit,
    ttl_ms,
)

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine

PREFIX = "redlua:rw:"
INTENT_MS = 5000
"""How long a waiting writer's intent keeps new readers out without a new attempt."""

Mode = Literal["read", "write"]


class RWState(NamedTuple):
    """Who holds a read-write lock: the writer's id ("" when none) and seconds left, the
    number of readers, and the id of a writer waiting ("" when none)."""

    writer: str
    writer_left: float
    readers: int
    waiting_writer: str


@corrupt("a read-write lock state")
def _state(reply: Any) -> RWState:
    return RWState(_text(reply[0]), int(reply[1]) / 1000, int(reply[2]), _text(reply[3]))


def _flag(reply: Any) -> bool:
    return int(reply) > 0


def check_mode(mode: object) -> Mode:
    """Return *mode* if it is "read" or "write", else raise naming the argument."""
    if mode == "read":
        return "read"
    if mode == "write":
        return "write"
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, not {type(mode).__name__}")
    raise ValueError(f'mode must be "read" or "write", got {mode!r}')


class ReadWriteLockCore:
    """The checks, `Call` builders and acquire flow of one read-write lock name; no I/O."""

    def __init__(self, name: str, ttl: float) -> None:
        self.name = check_name(name)
        self.ttl_ms = ttl_ms(ttl)
        base = f"{PREFIX}{{{name}}}"
        self.keys = (
            f"{base}:readers",
            f"{base}:writer",
            f"{base}:intent",
            f"{base}:wake:r",
            f"{base}:wake:w",
        )
        self.slot = key_slot(base)
        self._ttl = str(self.ttl_ms)
        self._wake_ttl = str(WAKE_TTL_MS)
        self._intent = str(INTENT_MS)
        self._wake = {"read": (self.keys[3],), "write": (self.keys[4],)}

    @property
    def spec(self) -> str:
        """Return the constructor's arguments as text, for the reprs."""
        return f"{self.name!r}, ttl={self.ttl_ms / 1000:g}"

    # -- builders (inputs checked here, so the calls skip the generic checks) ---------------

    def acquire_call(self, mode: Mode, holder: str, *, woken: bool = False) -> Call[Grant]:
        """Build one acquire attempt of *holder* in *mode* (a held id is renewed)."""
        return self._acquire(check_mode(mode), check_permit(holder, "holder"), woken)

    def release_call(self, mode: Mode | Literal["intent"], holder: str) -> Call[bool]:
        """Build the release of *holder*'s hold (or a writer's intent); False when not held."""
        if mode != "intent":
            check_mode(mode)
        args = (mode, check_permit(holder, "holder"), self._wake_ttl)
        script = load_script("rwlock_release")
        return Call.trusted(script, self.keys, args, _flag, self.slot)

    def renew_call(self, mode: Mode, holder: str, ttl: float | None = None) -> Call[bool]:
        """Build the renewal of *holder*'s hold to now + *ttl* (default: the lock's ttl)."""
        ms = self._ttl if ttl is None else str(ttl_ms(ttl))
        args = (check_mode(mode), check_permit(holder, "holder"), ms)
        return Call.trusted(load_script("rwlock_renew"), self.keys, args, _flag, self.slot)

    def state_call(self) -> Call[RWState]:
        """Build the read of who holds the lock."""
        return Call.trusted(load_script("rwlock_state"), self.keys, (), _state, self.slot)

    def _acquire(self, mode: Mode, holder: str, woken: bool) -> Call[Grant]:
        args = (mode, holder, self._ttl, "1" if woken else "0", self._wake_ttl, self._intent)
        return Call.trusted(load_script("rwlock_acquire"), self.keys, args, _grant, self.slot)

    # -- flows -----------------------------------------------------------------------------

    def acquire_flow(
        self, mode: Mode, blocking: bool = True, timeout: float | None = None
    ) -> Flow[str | None]:
        """Return the flow of one acquire: the new holder id, or None when it did not get in.

        The arguments are checked now, before the flow runs.
        """
        mode = check_mode(mode)
        wait = check_wait(blocking, timeout)
        deadline = None if wait is None else time.monotonic() + wait
        return self._acquire_flow(mode, new_permit(), blocking, deadline)

    def _acquire_flow(
        self, mode: Mode, holder: str, blocking: bool, deadline: float | None
    ) -> Flow[str | None]:
        woken = False
        while True:
            grant = yield from self._attempt(mode, holder, woken)
            if grant.ok:
                return holder
            pause = min(grant.ms / 1000 + 0.001, MAX_PAUSE)  # just past the blocker's expiry
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if not blocking or pause <= 0:
                if mode == "write":  # stop keeping readers out for a writer that left
                    with contextlib.suppress(RedluaError):
                        yield self.release_call("intent", holder)
                return None
            woken = (yield Wait(self._wake[mode], pause)) is not None

    def _attempt(self, mode: Mode, holder: str, woken: bool) -> Flow[Grant]:
        try:
            grant: Grant = yield self._acquire(mode, holder, woken)
        except OutcomeUnknownError:
            with contextlib.suppress(RedluaError):  # it may have got in: give it back
                yield self.release_call(mode, holder)
            raise
        return grant


def _lost(core: ReadWriteLockCore, mode: str, holder: str) -> LockLostError:
    return LockLostError(
        f"read-write lock {core.name!r}: the {mode} hold {holder} expired before its with"
        f" block ended (ttl {core.ttl_ms / 1000:g} s); others may have entered"
    )


# -- the twins ---------------------------------------------------------------------------------


class ReadWriteLock:
    """Many readers or one writer of *name*, on a synchronous `Engine`::

    rw = ReadWriteLock(engine, "doc:42", ttl=10)
    with rw.read():                      # shared with other readers
        ...
    with rw.write(timeout=5) as holder:  # alone; LockLostError if it expired meanwhile
        ...
    holder = rw.acquire("write", timeout=5)   # -> holder id, or None after 5 s
    rw.release("write", holder)               # -> False if it had expired
    """

    def __init__(self, engine: Engine, name: str, ttl: float) -> None:
        self.engine = engine
        self.core = ReadWriteLockCore(name, ttl)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    def acquire(
        self, mode: Mode, blocking: bool = True, timeout: float | None = None
    ) -> str | None:
        """Hold the lock in *mode*; the holder id, or None when *timeout* (or not *blocking*)
        left no chance."""
        return self.engine.drive(self.core.acquire_flow(mode, blocking, timeout))

    def release(self, mode: Mode, holder: str) -> bool:
        """End *holder*'s hold; False (nothing changed) when it was unknown or expired."""
        return self.engine.run(self.core.release_call(check_mode(mode), holder))

    def renew(self, mode: Mode, holder: str, ttl: float | None = None) -> bool:
        """Extend *holder*'s hold to now + *ttl* (default: the lock's); False if not held."""
        return self.engine.run(self.core.renew_call(mode, holder, ttl))

    def state(self) -> RWState:
        """Return who holds the lock now."""
        return self.engine.run(self.core.state_call())

    def read(self, timeout: float | None = None) -> Held:
        """A ``with`` block holding the lock for reading (TimeoutError after *timeout*)."""
        return Held(self, "read", timeout)

    def write(self, timeout: float | None = None) -> Held:
        """A ``with`` block holding the lock for writing (TimeoutError after *timeout*)."""
        return Held(self, "write", timeout)


class Held:
    """One ``with`` block of a `ReadWriteLock`: acquires on entry, releases on exit."""

    def __init__(self, lock: ReadWriteLock, mode: Mode, timeout: float | None) -> None:
        self.lock, self.mode, self.timeout = lock, mode, timeout
        check_wait(True, timeout)
        self.holder: str | None = None

    def __enter__(self) -> str:
        holder = self.lock.acquire(self.mode, timeout=self.timeout)
        if holder is None:
            raise TimeoutError(f"{self.lock!r}: no {self.mode} hold within {self.timeout} s")
        self.holder = holder
        return holder

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        holder, self.holder = self.holder, None
        if holder is not None and not self.lock.release(self.mode, holder) and exc_type is None:
            raise _lost(self.lock.core, self.mode, holder)


class AsyncReadWriteLock:
    """Many readers or one writer of *name*, on an `AsyncEngine`: `ReadWriteLock` with await::

    rw = AsyncReadWriteLock(engine, "doc:42", ttl=10)
    async with rw.read():
        ...
    """

    def __init__(self, engine: AsyncEngine, name: str, ttl: float) -> None:
        self.engine = engine
        self.core = ReadWriteLockCore(name, ttl)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    async def acquire(
        self, mode: Mode, blocking: bool = True, timeout: float | None = None
    ) -> str | None:
        """Hold the lock in *mode*; the holder id, or None when *timeout* (or not *blocking*)
        left no chance."""
        return await self.engine.drive(self.core.acquire_flow(mode, blocking, timeout))

    async def release(self, mode: Mode, holder: str) -> bool:
        """End *holder*'s hold; False (nothing changed) when it was unknown or expired."""
        return await self.engine.run(self.core.release_call(check_mode(mode), holder))

    async def renew(self, mode: Mode, holder: str, ttl: float | None = None) -> bool:
        """Extend *holder*'s hold to now + *ttl* (default: the lock's); False if not held."""
        return await self.engine.run(self.core.renew_call(mode, holder, ttl))

    async def state(self) -> RWState:
        """Return who holds the lock now."""
        return await self.engine.run(self.core.state_call())

    def read(self, timeout: float | None = None) -> AsyncHeld:
        """An ``async with`` block holding the lock for reading (TimeoutError after *timeout*)."""
        return AsyncHeld(self, "read", timeout)

    def write(self, timeout: float | None = None) -> AsyncHeld:
        """An ``async with`` block holding the lock for writing (TimeoutError after *timeout*)."""
        return AsyncHeld(self, "write", timeout)


class AsyncHeld:
    """One ``async with`` block of an `AsyncReadWriteLock`: acquires, then releases.

    A task cancelled inside the block still releases on the way out.
    """

    def __init__(self, lock: AsyncReadWriteLock, mode: Mode, timeout: float | None) -> None:
        self.lock, self.mode, self.timeout = lock, mode, timeout
        check_wait(True, timeout)
        self.holder: str | None = None

    async def __aenter__(self) -> str:
        holder = await self.lock.acquire(self.mode, timeout=self.timeout)
        if holder is None:
            raise TimeoutError(f"{self.lock!r}: no {self.mode} hold within {self.timeout} s")
        self.holder = holder
        return holder

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        holder, self.holder = self.holder, None
        if (
            holder is not None
            and not await self.lock.release(self.mode, holder)
            and exc_type is None
        ):
            raise _lost(self.lock.core, self.mode, holder)
