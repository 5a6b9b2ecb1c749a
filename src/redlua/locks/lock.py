"""`Lock` and `AsyncLock`: a lease on a name, held by one thread or asyncio task at a time.

::

    lock = Lock(engine, "orders", ttl=30, auto_renew=True, fencing=True)
    with lock:                        # one EVALSHA to take it, one to give it back
        lock.assert_held()            # LockLostError once a renewal found it gone
        store.write(data, fence=lock.fence)

What it is: a single-primary lease. The holder's random token (made in Python, per
acquisition) sits in ``redlua:lock:{<name>}`` with a ttl, so a crashed holder's lock
frees itself. It does not protect against a holder paused past its ttl (GC, swap,
SIGSTOP) nor against a failover that loses the key before it reached a replica: for
that, give the protected resource the fencing token (``fencing=True``, `fenced_set`).

Ownership: the thread (`Lock`) or the asyncio task (`AsyncLock`) that acquired owns
the hold; another thread or task asking to release or extend gets `NotOwnerError`
without any I/O, and two tasks of one event loop never share a hold. One `Lock` object
may serve many threads (each gets its own hold while it holds the lock); two objects of
the same name in one thread are two owners, and the second waits for the first.

The twins differ only by ``async``/``await`` and the few lines that name the owner,
the event type, what counts as an interruption and how an interrupted call cleans up
(a test checks this); every decision lives in `LockCore`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar

from redlua._checks import finite, text
from redlua._core import Call, Flow, Sleep, Wait
from redlua._recipe_stats import RecipeStats, recipe_stats
from redlua._registry import load_script
from redlua.aio import AsyncEngine
from redlua.engine import Engine
from redlua.errors import LockLostError, NotOwnerError, OutcomeUnknownError
from redlua.locks._ops import (
    DEFAULT_PREFIX,
    LockKeys,
    check_flag,
    grant,
    lock_keys,
    reply,
    to_millis,
    waiter_entry,
)
from redlua.locks.renewer import RenewerCore, async_renewer_for, renewer_for

_log = logging.getLogger("redlua.locks")

MAX_WAIT = 1.0
"""The longest single wait for a wake-up before trying again (a missed wake-up costs this)."""
EXPIRY_SLACK = 0.002
"""Waiting for an expiry, try this long after the holder's ttl ends."""
TIMER_GRAIN = 0.1
"""How late a BLPOP timeout may end: servers check them on their timer (hz 10 by default)."""

OnLost = Callable[[Any], object]


class Hold:
    """One owner's hold on a lock: token, fencing token, nesting count and lease state."""

    __slots__ = (
        "count",
        "entry",
        "expires",
        "fence",
        "lost",
        "owner",
        "releasing",
        "since",
        "token",
    )

    def __init__(
        self, owner: object, token: str, fence: int | None, expires: float, entry: str | None
    ) -> None:
        self.owner = owner
        self.token = token
        self.fence = fence
        self.entry = entry  # its place in the waiter set when a grant gave it the lock
        self.since = time.monotonic()  # when it was granted, for the hold-time figures
        self.count = 1
        self.expires = expires  # time.monotonic() after which the server has surely expired it
        self.lost = False  # a renewal or an extend found it gone or taken
        self.releasing = False  # a release is on its way: renewals leave it alone


def _check_timeout(blocking: object, timeout: object) -> None:
    check_flag("blocking", blocking)
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be None or a number of seconds, not {type(timeout).__name__}"
        )
    if not (finite("timeout", timeout) and timeout >= 0):
        raise ValueError(
            f"timeout must be None or a finite number of seconds >= 0, got {timeout!r}"
        )
    if not blocking:
        raise ValueError("a timeout makes no sense with blocking=False")


class LockCore(ABC):
    """What `Lock` and `AsyncLock` share: settings, holds, calls and flows; no I/O.

    *name* is checked and spelled into keys before any I/O (see `lock_keys`); *ttl*
    is seconds (a finite number > 0; default 30). *reentrant*: the owner may acquire
    again, counted locally, released on the server by the last release. *auto_renew*:
    the engine's renewer renews the lock every ttl/3 while it is held. *fencing*: each
    grant also returns the next fencing token of *name* (`fence`); the counter key is
    kept forever, so leave it off when no resource checks tokens: without it no key
    is left behind after release. *fair*: a release hands the lock straight to the
    waiter that has waited longest (FIFO, no barging, no second round trip for it);
    without it (the default, like most locks) a release frees the lock and wakes one
    waiter, and whoever asks first gets it, which keeps a busy holder's lock hot and
    passes it between processes less often. *on_lost(lock)* is called (from the
    renewer's thread or task) when a renewal or an extend finds the lock gone or taken.
    """

    engine: Any
    _stats: RecipeStats
    _interrupts: ClassVar[tuple[type[BaseException], ...]]
    _event_type: ClassVar[type[Any]]
    _renewer_for: ClassVar[staticmethod[[Any], RenewerCore]]

    def __init__(
        self,
        name: str,
        ttl: float,
        *,
        reentrant: bool,
        auto_renew: bool,
        fencing: bool,
        fair: bool,
        on_lost: OnLost | None,
        prefix: str,
    ) -> None:
        self.keys: LockKeys = lock_keys(name, prefix)
        self.name = name
        self.prefix = prefix
        millis = to_millis("ttl", ttl)
        self.ttl = millis / 1000
        self.reentrant = check_flag("reentrant", reentrant)
        self.auto_renew = check_flag("auto_renew", auto_renew)
        self.fencing = check_flag("fencing", fencing)
        self.fair = check_flag("fair", fair)
        if on_lost is not None and not callable(on_lost):
            raise TypeError("on_lost must be None or a callable taking the lock")
        self.on_lost = on_lost
        self.lost_event = self._event_type()
        self._holds: dict[object, Hold] = {}
        self._renewer: RenewerCore | None = None
        keys = self.keys
        self._slot = keys.slot
        self._ttl_arg = str(millis)
        queue = (keys.lock, keys.wake, keys.waiters)
        self._acquire_keys = (*queue, keys.fence) if fencing else queue
        self._release_keys = (*queue, keys.fence) if fair else queue  # fair grants fence
        self._wait_arg = str(round(MAX_WAIT * 1000))
        self._lock_keys = (keys.lock,)
        self._wake_keys = (keys.wake,)
        self._acquire_script = load_script("locks_acquire")
        self._release_script = load_script("locks_release")
        self._leave_script = load_script("locks_leave")
        self._extend_script = load_script("locks_extend")
        self._owner_script = load_script("locks_owner")

    def __repr__(self) -> str:
        options = "".join(
            f", {flag}=True"
            for flag in ("reentrant", "auto_renew", "fencing", "fair")
            if getattr(self, flag)
        )
        return f"{type(self).__name__}({self.name!r}, ttl={self.ttl}{options})"

    @staticmethod
    @abstractmethod
    def _current() -> object:
        """Return the caller's identity as an owner (a thread id, an asyncio task)."""

    # -- what the caller holds (no I/O) ------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The random token of the caller's hold, or None when it holds nothing."""
        hold = self._holds.get(self._current())
        return None if hold is None else hold.token

    @property
    def fence(self) -> int | None:
        """The fencing token of the caller's hold (None without fencing or without a hold)."""
        hold = self._holds.get(self._current())
        return None if hold is None else hold.fence

    @property
    def lost(self) -> bool:
        """True when the caller's hold is known gone: a renewal found it so, or its ttl ran out."""
        hold = self._holds.get(self._current())
        return hold is not None and (hold.lost or time.monotonic() > hold.expires)

    def assert_held(self) -> None:
        """Raise unless the caller still holds the lock, as far as is known without I/O.

        `NotOwnerError` when the caller holds nothing; `LockLostError` when a renewal
        (or an extend) found the lock gone or taken, or its ttl ran out without one.
        Use `owned` to ask the server.
        """
        hold = self._holds.get(self._current())
        if hold is None:
            raise self._not_owner()
        if hold.lost:
            raise LockLostError(f"lock {self.name!r} was found gone or taken by another owner")
        if time.monotonic() > hold.expires:
            raise LockLostError(f"lock {self.name!r} ran out its ttl without being renewed")

    def _not_owner(self) -> NotOwnerError:
        return NotOwnerError(
            f"lock {self.name!r} is not held by the calling thread or task", code="NOT_OWNER"
        )

    # -- acquiring ---------------------------------------------------------------------------

    def _local(self, owner: object, blocking: bool, timeout: float | None) -> bool | None:
        """Check the arguments and settle an acquire the caller's own hold decides.

        Return True when a reentrant hold was entered again (counted, no I/O), False
        for a non-blocking try on a non-reentrant hold, None to go to the server. A
        blocking acquire of a non-reentrant lock the caller holds would wait for
        itself: `RuntimeError`; a hold known lost is forgotten and taken anew (but a
        lost reentrant hold cannot be nested: `LockLostError`).
        """
        _check_timeout(blocking, timeout)
        hold = self._holds.get(owner)
        if hold is None:
            return None
        gone = hold.lost or time.monotonic() > hold.expires
        if self.reentrant:
            if gone:
                raise LockLostError(f"lock {self.name!r} was lost; release it before nesting")
            hold.count += 1
            return True
        if gone:
            self._left(hold)
            return None
        if not blocking:
            return False
        raise RuntimeError(
            f"lock {self.name!r} is already held by this thread or task: acquiring it again "
            "would wait for itself (use reentrant=True to nest)"
        )

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    def _acquire_call(self, token: str, mode: str, longest: float = MAX_WAIT) -> Call[Any]:
        """Build an attempt; *mode* "0": one try, "1": will wait *longest* s, "2": last try."""
        if mode == "1":
            wait = self._wait_arg if longest == MAX_WAIT else str(max(1, round(longest * 1000)))
            args: tuple[str, ...] = (token, self._ttl_arg, mode, wait)
        else:
            args = (token, self._ttl_arg, mode)
        return Call.trusted(self._acquire_script, self._acquire_keys, args, reply, self._slot)

    def _try_call(self, token: str, deadline: float | None) -> Call[Any]:
        """Build the next attempt of a waiter: queued for a grant, or its last try."""
        if deadline is None:
            return self._acquire_call(token, "1")
        left = deadline - time.monotonic()
        if left <= 0.001:
            return self._acquire_call(token, "2")
        return self._acquire_call(token, "1", min(MAX_WAIT, left))

    def _won(
        self,
        owner: object,
        token: str,
        fence: int,
        ttl: float | None = None,
        entry: str | None = None,
    ) -> None:
        """Record the caller's new hold (after the server granted it)."""
        self._stats.count("lock.acquired")
        expires = time.monotonic() + (self.ttl if ttl is None else ttl)
        self._holds[owner] = Hold(owner, token, fence or None, expires, entry)
        if self.lost_event.is_set():
            self.lost_event.clear()
        if self.auto_renew:
            renewer = self._renewer
            if renewer is None:
                renewer = self._renewer = self._renewer_for(self.engine)
            renewer.add(self)

    def _granted(self, owner: object, token: str, popped: Any) -> bool:
        """Take the lock a fair release gave this waiter; False for a plain wake-up ("-")."""
        if text(popped[1]) == "-":
            return False
        self._stats.count("lock.handed_over")
        given = grant(popped[1])
        entry = waiter_entry(token, int(self._ttl_arg), self.fencing)
        self._won(owner, given.token, given.fence if self.fencing else 0, given.ttl, entry)
        return True

    @staticmethod
    def _pause(pttl: int, deadline: float | None) -> tuple[float, bool] | None:
        """Return how long to wait and whether the end must be exact; None when time is up.

        The wait lasts at most the holder's remaining ttl (an expired holder is taken
        soon), at most the time left, both exact ends; else `MAX_WAIT`, which only
        bounds the cost of a missed wake-up and need not be exact.
        """
        if pttl < 0 or pttl / 1000 + EXPIRY_SLACK >= MAX_WAIT:
            bound, exact = MAX_WAIT, False
        else:
            bound, exact = pttl / 1000 + EXPIRY_SLACK, True
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if left < bound:
                bound, exact = left, True
        return max(bound, 0.001), exact

    def _waiting(
        self,
        owner: object,
        token: str,
        pttl: int,
        deadline: float | None,
        queued: bool,
        *,
        halted: Callable[[], bool] = bool,
    ) -> Flow[bool]:
        """Wait on the wake list for a grant, trying again until granted or *deadline*.

        The busy attempt queued this waiter; a release then gives it the lock through
        the wake list (BLPOP returns the grant: no further round trip). Without a
        grant the waiter tries again when the holder's ttl ends (a crashed holder),
        after `MAX_WAIT` (a missed grant is taken by that try) or at the deadline,
        where its last try leaves the queue (*queued*: the busy attempt queued it);
        once *halted()* is true (the caller was cancelled) it stops after the current
        wait, keeping a grant that wait brought for the caller to hand on. The server
        ends a BLPOP's timeout on its timer tick (`TIMER_GRAIN`), so an exact end is
        reached in two steps: a wait one tick shorter, then a plain sleep for what is
        left. The time spent waiting goes to the engine's recipe statistics.
        """
        started = time.monotonic()
        got = yield from self._wait_loop(owner, token, pttl, deadline, queued, halted=halted)
        stats = self._stats
        stats.observe("lock.wait", time.monotonic() - started)
        stats.count("lock.waited" if got else "lock.timed_out")
        return got

    def _wait_loop(
        self,
        owner: object,
        token: str,
        pttl: int,
        deadline: float | None,
        queued: bool,
        *,
        halted: Callable[[], bool],
    ) -> Flow[bool]:
        """The loop of `_waiting`: wait for a grant, try again, until granted or out of time."""
        while True:
            planned = self._pause(pttl, deadline)
            if planned is None:
                if not queued:
                    return False
                answer = yield self._acquire_call(token, "2")
                if answer[0] == 1:
                    self._won(owner, token, answer[1])
                    return True
                return False
            pause, exact = planned
            popped = None
            if not exact:
                popped = yield Wait(self._wake_keys, pause)
            elif pause > TIMER_GRAIN:
                popped = yield Wait(self._wake_keys, pause - TIMER_GRAIN)
            else:
                yield Sleep(pause)
            if popped is not None and self._granted(owner, token, popped):
                return True
            if halted():
                return False
            call = self._try_call(token, deadline)
            answer = yield call
            if answer[0] == 1:
                self._won(owner, token, answer[1])
                return True
            queued, pttl = call.args[2] == "1", answer[1]

    # -- releasing, extending ----------------------------------------------------------------

    def _leaving(self, owner: object) -> Hold | None:
        """Return the hold to release on the server, or None when a nested hold remains."""
        hold = self._holds.get(owner)
        if hold is None:
            raise self._not_owner()
        if hold.count > 1:
            hold.count -= 1
            return None
        hold.releasing = True
        return hold

    def _release_call(self, token: str, entry: str | None = None) -> Call[Any]:
        if self.fair:
            args: tuple[str, ...] = (token, entry or "", "1")
        else:
            args = (token,) if entry is None else (token, entry)
        return Call.trusted(self._release_script, self._release_keys, args, reply, self._slot)

    def _cleanup_calls(self, token: str) -> list[Call[Any]]:
        """Calls that undo an acquire by *token* whose outcome is unknown or was interrupted.

        Release what the token may have taken, then leave the waiter queue (freeing a
        grant no waiter received): a waiter that stopped waiting must not be given the
        lock by the next release.
        """
        entry = waiter_entry(token, int(self._ttl_arg), self.fencing)
        leave = Call.trusted(
            self._leave_script, self._release_keys[:3], (entry,), reply, self._slot
        )
        return [self._release_call(token), leave]

    def _left(self, hold: Hold) -> None:
        """Forget *hold* (released, or known not to hold the lock any more)."""
        self._stats.observe("lock.held", time.monotonic() - hold.since)
        if self._holds.get(hold.owner) is hold:
            del self._holds[hold.owner]
        if self._renewer is not None:
            self._renewer.discard(self)

    def _kept(self, hold: Hold) -> None:
        """Take *hold* back after a release that was not sent: renew it again."""
        hold.releasing = False
        if self._renewer is not None:
            self._renewer.add(self)

    def _extending(self, owner: object, seconds: float, replace: bool) -> tuple[Hold, Call[Any]]:
        millis = to_millis("seconds", seconds)
        mode = "1" if check_flag("replace", replace) else "0"
        hold = self._holds.get(owner)
        if hold is None:
            raise self._not_owner()
        args = (hold.token, str(millis), mode)
        return hold, Call.trusted(self._extend_script, self._lock_keys, args, reply, self._slot)

    @staticmethod
    def _extended(hold: Hold, millis: int) -> float:
        hold.expires = time.monotonic() + millis / 1000
        return millis / 1000

    def _state_call(self, token: str | None) -> Call[Any]:
        args = () if token is None else (token,)
        return Call.trusted(self._owner_script, self._lock_keys, args, reply, self._slot)

    def _mark_lost(self, hold: Hold) -> None:
        """Record that *hold* is gone or taken: flag, event, callback."""
        self._stats.count("lock.lost")
        hold.lost = True
        self.lost_event.set()
        if self.on_lost is not None:
            try:
                self.on_lost(self)
            except Exception:  # noqa: BLE001 - a broken callback must not stop the renewer
                _log.exception("on_lost callback of lock %r failed", self.name)

    # -- the renewer's side ------------------------------------------------------------------

    def _needs_renewal(self) -> bool:
        """True while some hold of this lock is to be kept alive."""
        return any(not (hold.lost or hold.releasing) for hold in list(self._holds.values()))

    def _renewals(self) -> list[tuple[Hold, Call[Any]]]:
        """Return a renewal call (back to the full ttl) for each hold to keep alive."""
        args = self._ttl_arg
        return [
            (hold, self._renew_call(hold.token, args))
            for hold in list(self._holds.values())
            if not (hold.lost or hold.releasing)
        ]

    def _renew_call(self, token: str, millis: str) -> Call[Any]:
        args = (token, millis, "1")
        return Call.trusted(self._extend_script, self._lock_keys, args, reply, self._slot)

    def _renewed(self, hold: Hold, answer: Any, ended: float) -> bool:
        """Take a renewal's reply (or error); False when it failed and should come sooner."""
        if isinstance(answer, NotOwnerError):
            if self._holds.get(hold.owner) is hold and not hold.releasing:
                self._mark_lost(hold)
            return True
        if isinstance(answer, BaseException):
            _log.warning("renewing lock %r failed, trying again soon: %s", self.name, answer)
            return False
        hold.expires = ended + int(answer) / 1000
        return True


class Lock(LockCore):
    """A lock on a name for a synchronous `Engine`; see the module for the contract.

    ``acquire(blocking=True, timeout=None)`` waits without polling: a busy attempt
    tells how long the holder has left; the waiter then blocks on the lock's wake-up
    list (BLPOP) until the holder's release pushes to it, at most until the holder's
    ttl ends (a crashed holder) and at most one second (a missed wake-up), then tries
    again. ``timeout=None`` waits forever, ``blocking=False`` tries once.
    """

    engine: Engine
    _interrupts = (KeyboardInterrupt,)
    _event_type = threading.Event
    _renewer_for = staticmethod(renewer_for)

    def __init__(
        self,
        engine: Engine,
        name: str,
        ttl: float = 30.0,
        *,
        reentrant: bool = False,
        auto_renew: bool = False,
        fencing: bool = False,
        fair: bool = False,
        on_lost: OnLost | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if not isinstance(engine, Engine):
            raise TypeError("engine must be an Engine (AsyncLock takes an AsyncEngine)")
        super().__init__(
            name,
            ttl,
            reentrant=reentrant,
            auto_renew=auto_renew,
            fencing=fencing,
            fair=fair,
            on_lost=on_lost,
            prefix=prefix,
        )
        self.engine = engine
        self._stats = recipe_stats(engine)

    @staticmethod
    def _current() -> object:
        return threading.get_ident()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; True when taken, False when *blocking* is off or *timeout* passed.

        One EVALSHA when the lock is free; a reentrant owner's nested acquire makes
        none. The owner of a non-reentrant hold gets False without blocking and
        `RuntimeError` when blocking (it would wait for itself). A call interrupted
        after it was sent releases what it may have taken.
        """
        owner = self._current()
        if blocking is not True or timeout is not None or owner in self._holds:
            entered = self._local(owner, blocking, timeout)
            if entered is not None:
                return entered
        deadline = self._deadline(timeout)
        token = secrets.token_hex(16)
        try:
            call = self._try_call(token, deadline) if blocking else self._acquire_call(token, "0")
            answer = self.engine.run(call)
            if answer[0] == 1:
                self._won(owner, token, answer[1])
                return True
            if not blocking:
                return False
            queued = call.args[2] == "1"
            flow = self._waiting(owner, token, answer[1], deadline, queued)
            return self.engine.drive(flow)
        except OutcomeUnknownError:
            self._undo(token)
            raise
        except self._interrupts:
            self._abandon(token)
            raise

    def release(self) -> None:
        """Release the caller's hold (a nested one only counts down); one EVALSHA.

        `NotOwnerError` when the caller holds nothing (no I/O) or the server says its
        token no longer holds the lock (expired, taken): nothing changed then. A release
        whose reply was lost is sent once more; it raises only if that fails too.
        """
        hold = self._leaving(self._current())
        if hold is None:
            return
        try:
            self.engine.run(self._release_call(hold.token, hold.entry))
        except NotOwnerError:
            self._left(hold)
            raise
        except OutcomeUnknownError:
            self._left(hold)
            if not self._release_quietly(hold.token, hold.entry):
                raise
        except self._interrupts:
            self._left(hold)
            self._abandon(hold.token)
            raise
        except BaseException:
            self._kept(hold)  # not sent: the caller still holds it and may try again
            raise
        else:
            self._left(hold)

    def try_release(self) -> bool:
        """Release like `release`, but return False instead of raising `NotOwnerError`."""
        try:
            self.release()
        except NotOwnerError:
            return False
        return True

    def extend(self, seconds: float, *, replace: bool = False) -> float:
        """Add *seconds* to the time the lock has left (set it, with *replace*).

        Return the new time left in seconds. `NotOwnerError` when the caller does not
        hold it (no I/O) or the server says so; the hold is then marked lost.
        """
        hold, call = self._extending(self._current(), seconds, replace)
        try:
            millis = self.engine.run(call)
        except NotOwnerError:
            self._mark_lost(hold)
            raise
        return self._extended(hold, millis)

    def renew(self) -> float:
        """Set the time the lock has left back to its ttl; return it in seconds."""
        return self.extend(self.ttl, replace=True)

    def locked(self) -> bool:
        """True when anyone holds the lock (one read-only round trip)."""
        answer = self.engine.run(self._state_call(None))
        return bool(answer[0] != -2)

    def owned(self) -> bool:
        """True when the server says the caller's hold is the lock's holder."""
        token = self.token
        if token is None:
            return False
        answer = self.engine.run(self._state_call(token))
        return bool(answer[1] == 1)

    def _release_quietly(self, token: str, entry: str | None = None) -> bool:
        """Release *token*'s lock if it holds it; True when the server answered either way."""
        try:
            self.engine.run(self._release_call(token, entry))
        except NotOwnerError:
            return True
        except Exception:  # noqa: BLE001 - best effort: the ttl frees the lock anyway
            return False
        return True

    def _undo(self, token: str) -> None:
        """Undo an acquire by *token*: release what it may hold and leave the queue."""
        try:
            self.engine.run_many(self._cleanup_calls(token), return_exceptions=True)
        except Exception:  # noqa: BLE001 - best effort: ttls and deadlines end it anyway
            _log.warning("cleaning up after an acquire of lock %r failed", self.name)

    def _abandon(self, token: str) -> None:
        """Clean up after an interrupted acquire: release and leave the queue, now."""
        self._undo(token)

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except NotOwnerError:
            if exc is None:
                raise
            _log.warning("lock %r was lost before its block ended with an error", self.name)


_background: set[asyncio.Task[Any]] = set()


def _current_task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("an AsyncLock is owned by an asyncio task: call it from one")
    return task


class AsyncLock(LockCore):
    """`Lock` for an `AsyncEngine`: the same methods awaited; the owner is the current task.

    Cancelling a task inside ``async with lock:`` releases the lock; a cancelled
    acquire or release finishes its cleanup in a background task.
    """

    engine: AsyncEngine
    _interrupts = (asyncio.CancelledError,)
    _event_type = asyncio.Event
    _renewer_for = staticmethod(async_renewer_for)

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        ttl: float = 30.0,
        *,
        reentrant: bool = False,
        auto_renew: bool = False,
        fencing: bool = False,
        fair: bool = False,
        on_lost: OnLost | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if not isinstance(engine, AsyncEngine):
            raise TypeError("engine must be an AsyncEngine (Lock takes an Engine)")
        super().__init__(
            name,
            ttl,
            reentrant=reentrant,
            auto_renew=auto_renew,
            fencing=fencing,
            fair=fair,
            on_lost=on_lost,
            prefix=prefix,
        )
        self.engine = engine
        self._stats = recipe_stats(engine)

    @staticmethod
    def _current() -> object:
        return _current_task()

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; True when taken, False when *blocking* is off or *timeout* passed.

        One EVALSHA when the lock is free; a reentrant owner's nested acquire makes
        none. The owner of a non-reentrant hold gets False without blocking and
        `RuntimeError` when blocking (it would wait for itself). A call interrupted
        after it was sent releases what it may have taken.
        """
        owner = self._current()
        if blocking is not True or timeout is not None or owner in self._holds:
            entered = self._local(owner, blocking, timeout)
            if entered is not None:
                return entered
        deadline = self._deadline(timeout)
        token = secrets.token_hex(16)
        try:
            call = self._try_call(token, deadline) if blocking else self._acquire_call(token, "0")
            answer = await self.engine.run(call)
            if answer[0] == 1:
                self._won(owner, token, answer[1])
                return True
            if not blocking:
                return False
            stop = asyncio.Event()
            queued = call.args[2] == "1"
            flow = self._waiting(owner, token, answer[1], deadline, queued, halted=stop.is_set)
            return await self._drive_to_the_end(owner, flow, stop)
        except OutcomeUnknownError:
            await self._undo(token)
            raise
        except self._interrupts:
            self._abandon(token)
            raise

    async def release(self) -> None:
        """Release the caller's hold (a nested one only counts down); one EVALSHA.

        `NotOwnerError` when the caller holds nothing (no I/O) or the server says its
        token no longer holds the lock (expired, taken): nothing changed then. A release
        whose reply was lost is sent once more; it raises only if that fails too.
        """
        hold = self._leaving(self._current())
        if hold is None:
            return
        try:
            await self.engine.run(self._release_call(hold.token, hold.entry))
        except NotOwnerError:
            self._left(hold)
            raise
        except OutcomeUnknownError:
            self._left(hold)
            if not await self._release_quietly(hold.token, hold.entry):
                raise
        except self._interrupts:
            self._left(hold)
            self._abandon(hold.token)
            raise
        except BaseException:
            self._kept(hold)  # not sent: the caller still holds it and may try again
            raise
        else:
            self._left(hold)

    async def try_release(self) -> bool:
        """Release like `release`, but return False instead of raising `NotOwnerError`."""
        try:
            await self.release()
        except NotOwnerError:
            return False
        return True

    async def extend(self, seconds: float, *, replace: bool = False) -> float:
        """Add *seconds* to the time the lock has left (set it, with *replace*).

        Return the new time left in seconds. `NotOwnerError` when the caller does not
        hold it (no I/O) or the server says so; the hold is then marked lost.
        """
        hold, call = self._extending(self._current(), seconds, replace)
        try:
            millis = await self.engine.run(call)
        except NotOwnerError:
            self._mark_lost(hold)
            raise
        return self._extended(hold, millis)

    async def renew(self) -> float:
        """Set the time the lock has left back to its ttl; return it in seconds."""
        return await self.extend(self.ttl, replace=True)

    async def locked(self) -> bool:
        """True when anyone holds the lock (one read-only round trip)."""
        answer = await self.engine.run(self._state_call(None))
        return bool(answer[0] != -2)

    async def owned(self) -> bool:
        """True when the server says the caller's hold is the lock's holder."""
        token = self.token
        if token is None:
            return False
        answer = await self.engine.run(self._state_call(token))
        return bool(answer[1] == 1)

    async def _release_quietly(self, token: str, entry: str | None = None) -> bool:
        """Release *token*'s lock if it holds it; True when the server answered either way."""
        try:
            await self.engine.run(self._release_call(token, entry))
        except NotOwnerError:
            return True
        except Exception:  # noqa: BLE001 - best effort: the ttl frees the lock anyway
            return False
        return True

    async def _undo(self, token: str) -> None:
        """Undo an acquire by *token*: release what it may hold and leave the queue."""
        try:
            await self.engine.run_many(self._cleanup_calls(token), return_exceptions=True)
        except Exception:  # noqa: BLE001 - best effort: ttls and deadlines end it anyway
            _log.warning("cleaning up after an acquire of lock %r failed", self.name)

    async def _drive_to_the_end(self, owner: object, flow: Flow[bool], stop: asyncio.Event) -> bool:
        """Drive a waiting flow so that cancelling the caller cannot lose a grant in flight.

        The flow runs in a task of its own (its BLPOP is never cut off mid-reply); a
        cancelled caller stops it after its current wait, and a grant that wait brings
        is released at once, which hands the lock to the next waiter.
        """
        inner = asyncio.ensure_future(self.engine.drive(flow))
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            stop.set()
            inner.add_done_callback(functools.partial(self._hand_on, owner))
            raise

    def _hand_on(self, owner: object, done: asyncio.Future[bool]) -> None:
        """Release a grant that reached a waiter after it was cancelled."""
        if done.cancelled() or done.exception() is not None or not done.result():
            return
        hold = self._holds.get(owner)
        if hold is not None:
            self._left(hold)
            task = asyncio.get_running_loop().create_task(
                self._release_quietly(hold.token, hold.entry)
            )
            _background.add(task)
            task.add_done_callback(_background.discard)

    def _abandon(self, token: str) -> None:
        """Clean up after a cancelled acquire: release and leave the queue, in the background."""
        task = asyncio.get_running_loop().create_task(self._undo(token))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def __aenter__(self) -> AsyncLock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.release()
        except NotOwnerError:
            if exc is None:
                raise
            _log.warning("lock %r was lost before its block ended with an error", self.name)
