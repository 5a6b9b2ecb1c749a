"""`Semaphore` and `AsyncSemaphore`: at most *limit* holders, each permit with its own expiry.

A permit is a random id made in Python; the server keeps one sorted set per name::

    redlua:sem:{<name>}         ZSET permit id -> expiry in server milliseconds (TIME)
    redlua:sem:{<name>}:wake    LIST of wake-up tokens for waiters, short PEXPIRE

Both keys share the hash tag, so every call touches one slot. Every client measures
expiry with the server's clock, so clocks that disagree cannot stretch a permit.
Expired permits are reclaimed atomically by the next acquire; the set carries a
PEXPIRE of its furthest expiry and is deleted with its last permit, so nothing is left
behind when every holder leaves, or crashes. A release of a full semaphore pushes one
wake-up that a blocked waiter takes with BLPOP (the `Wait` step); waiters also wake
when the earliest permit expires, so a crashed holder's permit comes back soon after
its TTL without polling. Waiting is not FIFO. Every client of one name must use the
same *limit*.

`SemaphoreCore` holds the pure part (argument checks, the `Call` builders and the
acquire `Flow`); `Semaphore` and `AsyncSemaphore` run it on an engine and differ only
by ``async``/``await`` and by whom a ``with`` block's permit belongs to (the thread,
or the task); a test checks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from redlua._checks import check_name as _check_name
from redlua._checks import corrupt, finite, to_millis
from redlua._checks import text as _text
from redlua._core import Call, Flow, Wait
from redlua._registry import load_script
from redlua._slots import key_slot
from redlua.errors import OutcomeUnknownError, RedluaError

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine

PREFIX = "redlua:sem:"
MAX_NAME = 512
MAX_LIMIT = 10**10 - 1
MAX_TTL_MS = 10**15 - 1
WAKE_TTL_MS = 1000
"""How long a wake-up waits in the list for a waiter that is not blocked yet."""
MAX_PAUSE = 2.0
"""The longest a waiter blocks before it tries again, should a wake-up have been lost."""

_BAD_NAME = re.compile(r"[{}\x00-\x1f\x7f]")
_PERMIT = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PermitLostError(RedluaError):
    """A ``with`` block's permit had expired when the block ended: others may have entered."""


# -- argument checks ---------------------------------------------------------------------------


def check_name(name: object) -> str:
    """Return *name* if it can name a semaphore, else raise naming the argument."""
    return _check_name("name", name)


def check_limit(limit: object) -> int:
    """Return *limit* if it is an int from 1 to `MAX_LIMIT`, else raise naming the argument."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int, not {type(limit).__name__}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
    return limit


def ttl_ms(ttl: object, what: str = "ttl") -> int:
    """Return *ttl* seconds as whole milliseconds (at least 1), else raise naming *what*."""
    return to_millis(what, ttl, most=MAX_TTL_MS)


def check_permit(permit: object, what: str = "permit") -> str:
    """Return *permit* if it has the shape of a permit id, else raise naming *what*."""
    if not isinstance(permit, str):
        raise TypeError(f"{what} must be a str, not {type(permit).__name__}")
    if not _PERMIT.fullmatch(permit):
        raise ValueError(f"{what} must be 1 to 64 letters, digits, _ or -, got {permit!r}")
    return permit


def check_wait(blocking: object, timeout: object) -> float | None:
    """Return the wait's *timeout* in seconds (None: no limit), else raise naming the argument."""
    if not isinstance(blocking, bool):
        raise TypeError(f"blocking must be a bool, not {type(blocking).__name__}")
    if timeout is None:
        return None
    if not blocking:
        raise ValueError("timeout cannot be given with blocking=False")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be None or a number of seconds, not {type(timeout).__name__}"
        )
    if not (finite("timeout", timeout) and timeout >= 0):
        raise ValueError(f"timeout must be None or a finite number >= 0, got {timeout!r}")
    return float(timeout)


def new_permit() -> str:
    """Return a fresh permit id: 32 random hex digits."""
    return secrets.token_hex(16)


# -- reply decoding ----------------------------------------------------------------------------


class Grant(NamedTuple):
    """What one acquire attempt got.

    ``ok``: the permit is held; ``ms``: its expiry (server ms) when held, else how long
    until the earliest permit expires; ``free``: permits left after a grant.
    """

    ok: bool
    ms: int
    free: int


def _grant(reply: Any) -> Grant:
    return Grant(int(reply[0]) == 1, int(reply[1]), int(reply[2]))


def _flag(reply: Any) -> bool:
    return int(reply) > 0


@corrupt("a permit set")
def _holders(reply: Any) -> dict[str, float]:
    now, flat = int(reply[0]), reply[1]
    return {
        _text(permit): (int(float(expiry)) - now) / 1000
        for permit, expiry in zip(flat[::2], flat[1::2], strict=True)
    }


def _count(reply: Any) -> int:
    return int(reply[1])


# -- the pure core -----------------------------------------------------------------------------


class SemaphoreCore:
    """The checks, `Call` builders and acquire flow of one semaphore name; no I/O."""

    def __init__(self, name: str, limit: int, ttl: float) -> None:
        self.name = check_name(name)
        self.limit = check_limit(limit)
        self.ttl_ms = ttl_ms(ttl)
        self.key = f"{PREFIX}{{{name}}}"
        self.wake_key = f"{self.key}:wake"
        self.slot = key_slot(self.key)
        self._keys = (self.key, self.wake_key)
        self._wake = (self.wake_key,)
        self._limit = str(self.limit)
        self._ttl = str(self.ttl_ms)
        self._wake_ttl = str(WAKE_TTL_MS)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec})"

    @property
    def spec(self) -> str:
        """Return the constructor's arguments as text, for the reprs."""
        return f"{self.name!r}, limit={self.limit}, ttl={self.ttl_ms / 1000:g}"

    # -- builders (inputs checked once here, so the calls skip the generic checks) -----------

    def acquire_call(self, permit: str, *, woken: bool = False) -> Call[Grant]:
        """Build one acquire attempt of *permit* (re-acquiring a held permit renews it)."""
        return self._acquire(check_permit(permit), woken)

    def release_call(self, permit: str) -> Call[bool]:
        """Build the release of *permit*; its reply is False when it was not held."""
        args = (check_permit(permit), self._limit, self._wake_ttl)
        return Call.trusted(load_script("semaphore_release"), self._keys, args, _flag, self.slot)

    def renew_call(self, permit: str, ttl: float | None = None) -> Call[bool]:
        """Build the renewal of *permit* to now + *ttl* (default: the semaphore's ttl)."""
        ms = self._ttl if ttl is None else str(ttl_ms(ttl))
        args = (check_permit(permit), ms)
        return Call.trusted(load_script("semaphore_renew"), (self.key,), args, _flag, self.slot)

    def holders_call(self) -> Call[dict[str, float]]:
        """Build the read of the held permits: ``{permit: seconds left}``, soonest first."""
        return Call.trusted(load_script("semaphore_holders"), (self.key,), (), _holders, self.slot)

    def count_call(self) -> Call[int]:
        """Build the read of how many permits are held."""
        script = load_script("semaphore_holders")
        return Call.trusted(script, (self.key,), ("count",), _count, self.slot)

    def _acquire(self, permit: str, woken: bool) -> Call[Grant]:
        args = (permit, self._limit, self._ttl, "1" if woken else "0", self._wake_ttl)
        return Call.trusted(load_script("semaphore_acquire"), self._keys, args, _grant, self.slot)

    # -- flows -----------------------------------------------------------------------------

    def acquire_flow(self, blocking: bool = True, timeout: float | None = None) -> Flow[str | None]:
        """Return the flow of one acquire: the new permit id, or None when none came in time.

        The arguments are checked now, before the flow runs.
        """
        wait = check_wait(blocking, timeout)
        deadline = None if wait is None else time.monotonic() + wait
        return self._acquire_flow(new_permit(), blocking, deadline)

    def hold_flow(self) -> Flow[str]:
        """Return the flow that waits as long as it takes for a permit (``with`` blocks)."""
        while True:
            permit = yield from self._acquire_flow(new_permit(), True, None)
            if permit is not None:
                return permit

    def _acquire_flow(
        self, permit: str, blocking: bool, deadline: float | None
    ) -> Flow[str | None]:
        woken = False
        while True:
            grant = yield from self._attempt(permit, woken)
            if grant.ok:
                return permit
            if not blocking:
                return None
            pause = min(grant.ms / 1000 + 0.001, MAX_PAUSE)  # just past the earliest expiry
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                pause = min(pause, left)
            woken = (yield Wait(self._wake, pause)) is not None

    def _attempt(self, permit: str, woken: bool) -> Flow[Grant]:
        try:
            grant: Grant = yield self._acquire(permit, woken)
        except OutcomeUnknownError:
            with contextlib.suppress(RedluaError):  # the grant may have happened: give it back
                yield self.release_call(permit)
            raise
        return grant


class _Held:
    """The permits of ``with`` blocks, a stack per owner (thread or task)."""

    def __init__(self) -> None:
        self._stacks: dict[object, list[str]] = {}
        self._guard = threading.Lock()

    def push(self, owner: object, permit: str) -> None:
        with self._guard:
            self._stacks.setdefault(owner, []).append(permit)

    def pop(self, owner: object) -> str:
        with self._guard:
            stack = self._stacks.get(owner)
            if not stack:
                raise RuntimeError("this semaphore's with block was not entered by this owner")
            permit = stack.pop()
            if not stack:
                del self._stacks[owner]
            return permit


def _lost(core: SemaphoreCore, permit: str) -> PermitLostError:
    return PermitLostError(
        f"semaphore {core.name!r}: permit {permit} expired before its with block ended "
        f"(ttl {core.ttl_ms / 1000:g} s); other holders may have entered"
    )


def _current_task() -> object:
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("async with on an AsyncSemaphore needs a running task")
    return task


# -- the twins ---------------------------------------------------------------------------------


class Semaphore:
    """At most *limit* holders of *name* at once, on a synchronous `Engine`::

    sem = Semaphore(engine, "exports", limit=3, ttl=30)
    permit = sem.acquire(timeout=5)      # -> permit id, or None after 5 s
    ...
    sem.release(permit)                  # -> False if it had expired
    with sem as permit:                  # one permit for this thread's block
        ...
    """

    def __init__(self, engine: Engine, name: str, limit: int, ttl: float) -> None:
        self.engine = engine
        self.core = SemaphoreCore(name, limit, ttl)
        self._held = _Held()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> str | None:
        """Take a permit and return its id; None if *timeout* (or not *blocking*) ran out."""
        return self.engine.drive(self.core.acquire_flow(blocking, timeout))

    def release(self, permit: str) -> bool:
        """Give *permit* back; False (nothing changed) when it was unknown or expired."""
        return self.engine.run(self.core.release_call(permit))

    def renew(self, permit: str, ttl: float | None = None) -> bool:
        """Extend *permit* to now + *ttl* (default: the semaphore's); False if not held."""
        return self.engine.run(self.core.renew_call(permit, ttl))

    def holders(self) -> dict[str, float]:
        """Return the held permits: ``{permit: seconds left}``, soonest to expire first."""
        return self.engine.run(self.core.holders_call())

    def available(self) -> int:
        """Return how many permits could be taken now."""
        return max(self.core.limit - self.engine.run(self.core.count_call()), 0)

    def __enter__(self) -> str:
        owner = threading.get_ident()
        permit = self.engine.drive(self.core.hold_flow())
        self._held.push(owner, permit)
        return permit

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        permit = self._held.pop(threading.get_ident())
        if not self.engine.run(self.core.release_call(permit)) and exc_type is None:
            raise _lost(self.core, permit)


class AsyncSemaphore:
    """At most *limit* holders of *name* at once, on an `AsyncEngine`: `Semaphore` with await::

    sem = AsyncSemaphore(engine, "exports", limit=3, ttl=30)
    async with sem as permit:            # one permit for this task's block
        ...
    """

    def __init__(self, engine: AsyncEngine, name: str, limit: int, ttl: float) -> None:
        self.engine = engine
        self.core = SemaphoreCore(name, limit, ttl)
        self._held = _Held()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> str | None:
        """Take a permit and return its id; None if *timeout* (or not *blocking*) ran out."""
        return await self.engine.drive(self.core.acquire_flow(blocking, timeout))

    async def release(self, permit: str) -> bool:
        """Give *permit* back; False (nothing changed) when it was unknown or expired."""
        return await self.engine.run(self.core.release_call(permit))

    async def renew(self, permit: str, ttl: float | None = None) -> bool:
        """Extend *permit* to now + *ttl* (default: the semaphore's); False if not held."""
        return await self.engine.run(self.core.renew_call(permit, ttl))

    async def holders(self) -> dict[str, float]:
        """Return the held permits: ``{permit: seconds left}``, soonest to expire first."""
        return await self.engine.run(self.core.holders_call())

    async def available(self) -> int:
        """Return how many permits could be taken now."""
        return max(self.core.limit - await self.engine.run(self.core.count_call()), 0)

    async def __aenter__(self) -> str:
        owner = _current_task()
        permit = await self.engine.drive(self.core.hold_flow())
        self._held.push(owner, permit)
        return permit

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        permit = self._held.pop(_current_task())
        if not await self.engine.run(self.core.release_call(permit)) and exc_type is None:
            raise _lost(self.core, permit)
