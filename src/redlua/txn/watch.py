"""`Transactions` and `AsyncTransactions`: the user's read-modify-write under WATCH, bounded.

When the logic of a write cannot be a script (it lives in Python, or calls other
services between the read and the write), WATCH/MULTI/EXEC is Redis's optimistic
transaction: watch the keys, read them, queue the writes, and EXEC applies the
writes only if no watched key changed since the WATCH. ``run(fn, *keys)`` does this
the way the seed meant to::

    tx = Transactions(engine)

    def move(t):                                  # t: a `Watched` handle
        a = int(t.get("acct:{7}:a") or 0)         # reads run at once, on the watched connection
        if a < 10:
            raise InsufficientFunds(a)            # aborts: nothing queued is sent
        t.multi()                                 # from here commands are queued
        t.decrby("acct:{7}:a", 10)
        t.incrby("acct:{7}:b", 10)
        return a - 10

    done = tx.run(move, "acct:{7}:a", "acct:{7}:b")   # Committed(value=90, replies=[90, 10], ...)

* The reads go through the connection that sent WATCH (the seed read on another
  one, which WATCH does not see). The function runs once per attempt, so it must
  not act outside Redis unless that is safe to repeat.
* A conflict (EXEC refused because a watched key changed) runs the function again
  after an exponential pause with full jitter, at most *attempts* times in all, then
  raises `TransactionConflictError`: never the seed's silent ``None``.
* The function's reads are a consistent snapshot: EXEC runs even when it queued
  nothing, and a conflict retries it.
* Keys watched together must share a hash slot (`CrossSlotError` before any I/O,
  on a standalone server too); on a cluster the transaction runs on the node
  serving that slot. Commands in *fn* should stay in that slot too: a cluster
  refuses others (MOVED/CROSSSLOT, raised; EXEC then discards everything), a
  standalone server cannot tell. A slot that moves mid-transaction raises MOVED
  the same way (nothing committed); run it again.
* A connection lost before EXEC raises `ConnectionFailedError` (nothing
  committed); lost after EXEC was sent, `OutcomeUnknownError` (not re-sent).
* A command that fails inside EXEC does not undo the others (Redis has no
  rollback); its error is raised after the commit. One refused while queueing
  (a wrong number of arguments) makes EXEC discard everything: raised too.

``multi(fn, *keys)`` is the plain MULTI/EXEC: *fn* queues commands, and one round
trip runs them atomically and returns their replies (errors raised, never
swallowed into ``None`` as the seed's ``simple_transaction`` did).

`WatchCore` holds every decision (checks, the EXEC verdict, backoff, counts);
`Transactions` and `AsyncTransactions` do the I/O and differ only by ``async``/``await``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from redis.exceptions import ResponseError

from redlua._core import Key
from redlua._engine_core import reply_text
from redlua._slots import common_slot
from redlua.errors import TransactionConflictError, from_reply
from redlua.txn._retry import (
    Backoff,
    ConflictStats,
    Counters,
    check_attempts,
)
from redlua.txn._session import AsyncPin, AsyncWatched, Command, Pin, Watched, parse

if TYPE_CHECKING:
    from collections.abc import Mapping

    from redlua.aio import AsyncEngine
    from redlua.engine import Engine

T = TypeVar("T")


@dataclass(frozen=True)
class Committed(Generic[T]):
    """A transaction that committed.

    ``value``: what the function returned; ``replies``: one parsed reply per queued
    command; ``attempts``: how many tries it took (1 without a conflict).
    """

    value: T
    replies: list[Any]
    attempts: int


class Plan(NamedTuple):
    """One transaction, checked: its watched keys, their slot, and its attempts."""

    keys: tuple[Key, ...]
    slot: int | None
    attempts: int


def _check_keys(keys: tuple[object, ...]) -> tuple[Key, ...]:
    for i, key in enumerate(keys):
        if not isinstance(key, (str, bytes)):
            raise TypeError(f"keys[{i}] must be str or bytes, not {type(key).__name__}")
        if not key:
            raise ValueError(f"keys[{i}] must not be empty")
    return keys  # type: ignore[return-value]


class WatchCore:
    """The checks, EXEC verdicts, backoff and counts of WATCH transactions; no I/O."""

    def __init__(self, attempts: int = 5, base: float = 0.005, cap: float = 0.2) -> None:
        self.backoff = Backoff(attempts, base, cap)
        self.counters = Counters()

    @property
    def spec(self) -> str:
        """Return the constructor's arguments as text, for the reprs."""
        b = self.backoff
        return f"attempts={b.attempts}, base={b.base:g}, cap={b.cap:g}"

    def plan(self, fn: object, keys: tuple[object, ...], attempts: int | None) -> Plan:
        """Check a WATCH transaction before any I/O; return its plan."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        if not keys:
            raise ValueError("give at least one key to watch (multi() runs without WATCH)")
        checked = _check_keys(keys)
        tries = self.backoff.attempts if attempts is None else check_attempts(attempts)
        return Plan(checked, common_slot(checked), tries)

    def multi_plan(self, fn: object, keys: tuple[object, ...], cluster: bool) -> Plan:
        """Check a plain MULTI/EXEC before any I/O (*keys* find its node on a cluster)."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        checked = _check_keys(keys)
        if cluster and not checked:
            raise ValueError("on a cluster, give the keys the transaction touches (its node)")
        return Plan(checked, common_slot(checked), 1)

    @staticmethod
    def watch_command(plan: Plan) -> tuple[Any, ...]:
        """Return the WATCH command of *plan*."""
        return ("WATCH", *plan.keys)

    @staticmethod
    def exec_commands(queued: list[Command]) -> list[tuple[Any, ...]]:
        """Return MULTI, the queued commands and EXEC, for one write."""
        return [("MULTI",), *(args for args, _ in queued), ("EXEC",)]

    def verdict(
        self, callbacks: Mapping[str, Any], queued: list[Command], replies: list[Any]
    ) -> list[Any] | None:
        """Judge the replies of MULTI ... EXEC: the parsed replies, or None on a conflict.

        Raise the error of a command refused while queueing (EXEC discarded all),
        or of one that failed inside EXEC (the others ran: Redis has no rollback).
        """
        result = replies[-1]
        if isinstance(result, ResponseError):  # EXECABORT: nothing ran
            first = next((r for r in replies[:-1] if isinstance(r, ResponseError)), result)
            raise from_reply(reply_text(first))
        if isinstance(replies[0], ResponseError):
            raise from_reply(reply_text(replies[0]))
        if result is None:
            self.counters.add(conflicts=1)
            return None
        values = [
            parse(callbacks, args, reply, options)
            for (args, options), reply in zip(queued, result, strict=True)
        ]
        error = next((v for v in values if isinstance(v, Exception)), None)
        if error is not None:
            raise error
        return values

    def plain_verdict(
        self, callbacks: Mapping[str, Any], queued: list[Command], replies: list[Any]
    ) -> list[Any]:
        """Judge the replies of a MULTI ... EXEC without WATCH; count the commit."""
        values = self.verdict(callbacks, queued, replies)
        if values is None:  # only WATCH makes EXEC refuse; nothing ran
            raise from_reply("ERR EXEC refused the transaction without a WATCH")
        return self.committed(None, values, 1).replies

    def started(self) -> None:
        """Count one attempt."""
        self.counters.add(attempts=1)

    def committed(self, value: T, replies: list[Any], attempt: int) -> Committed[T]:
        """Count a commit and return its result."""
        self.counters.add(committed=1)
        return Committed(value, replies, attempt)

    def pause(self, plan: Plan, attempt: int) -> float | None:
        """Return the pause after conflicting attempt *attempt*; None after the last."""
        return self.backoff.delay(attempt) if attempt < plan.attempts else None

    def exhausted(self, plan: Plan) -> TransactionConflictError:
        """Count and return the error for a transaction whose every attempt conflicted."""
        self.counters.add(exhausted=1)
        return TransactionConflictError("WATCH transaction", plan.keys, plan.attempts)


class Transactions:
    """WATCH and MULTI/EXEC transactions on a synchronous `Engine`'s client.

    *attempts* bounds the tries of one ``run``; conflicting tries pause for a random
    time of at most ``min(cap, base * 2**(k-1))`` seconds after try *k*.
    """

    def __init__(
        self, engine: Engine, *, attempts: int = 5, base: float = 0.005, cap: float = 0.2
    ) -> None:
        self.engine = engine
        self.core = WatchCore(attempts, base, cap)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    def run(
        self, fn: Callable[[Watched], T], *keys: Key, attempts: int | None = None
    ) -> Committed[T]:
        """Run *fn* under WATCH of *keys* until EXEC commits; at most *attempts* tries.

        Raises `TransactionConflictError` when every try lost to a concurrent
        writer; an exception from *fn* ends the transaction (nothing queued is sent).
        """
        plan = self.core.plan(fn, keys, attempts)
        self.core.counters.add(runs=1)
        pin = Pin(self.engine.client, self.engine.cluster, plan.slot)
        try:
            for attempt in range(1, plan.attempts + 1):
                self.core.started()
                pin.call(self.core.watch_command(plan), {})
                tx = Watched(pin)
                value = fn(tx)
                replies = pin.commit(self.core.exec_commands(tx.queued))
                values = self.core.verdict(pin.callbacks, tx.queued, replies)
                if values is not None:
                    return self.core.committed(value, values, attempt)
                pause = self.core.pause(plan, attempt)
                if pause:
                    time.sleep(pause)
            raise self.core.exhausted(plan)
        finally:
            pin.close()

    def multi(self, fn: Callable[[Watched], object], *keys: Key) -> list[Any]:
        """Queue *fn*'s commands and run them in one MULTI/EXEC; return their replies.

        *keys* (the keys the commands touch, one slot) are needed on a cluster only,
        to find the node.
        """
        plan = self.core.multi_plan(fn, keys, self.engine.cluster)
        self.core.counters.add(runs=1)
        pin = Pin(self.engine.client, self.engine.cluster, plan.slot)
        try:
            self.core.started()
            tx = Watched(pin, queueing=True)
            fn(tx)
            replies = pin.commit(self.core.exec_commands(tx.queued))
            return self.core.plain_verdict(pin.callbacks, tx.queued, replies)
        finally:
            pin.close()

    def stats(self) -> ConflictStats:
        """Return the counts: runs, attempts, conflicts, committed, exhausted."""
        return self.core.counters.snapshot()

    def reset_stats(self) -> None:
        """Start the counts from zero."""
        self.core.counters.reset()


async def _settle(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class AsyncTransactions:
    """`Transactions` on an `AsyncEngine`'s client; *fn* may be ``async def``::

    async def move(t):
        a = int(await t.get("acct:{7}:a") or 0)
        t.multi()
        t.decrby("acct:{7}:a", 10)         # queued: not awaited
        return a - 10

    await AsyncTransactions(engine).run(move, "acct:{7}:a")
    """

    def __init__(
        self, engine: AsyncEngine, *, attempts: int = 5, base: float = 0.005, cap: float = 0.2
    ) -> None:
        self.engine = engine
        self.core = WatchCore(attempts, base, cap)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.core.spec})"

    async def run(
        self,
        fn: Callable[[AsyncWatched], Awaitable[T] | T],
        *keys: Key,
        attempts: int | None = None,
    ) -> Committed[T]:
        """Run *fn* under WATCH of *keys* until EXEC commits; at most *attempts* tries.

        Raises `TransactionConflictError` when every try lost to a concurrent
        writer; an exception from *fn* ends the transaction (nothing queued is sent).
        """
        plan = self.core.plan(fn, keys, attempts)
        self.core.counters.add(runs=1)
        pin = await AsyncPin(self.engine.client, self.engine.cluster, plan.slot).open()
        try:
            for attempt in range(1, plan.attempts + 1):
                self.core.started()
                await pin.call(self.core.watch_command(plan), {})
                tx = AsyncWatched(pin)
                value = await _settle(fn(tx))
                replies = await pin.commit(self.core.exec_commands(tx.queued))
                values = self.core.verdict(pin.callbacks, tx.queued, replies)
                if values is not None:
                    return self.core.committed(value, values, attempt)
                pause = self.core.pause(plan, attempt)
                if pause:
                    await asyncio.sleep(pause)
            raise self.core.exhausted(plan)
        finally:
            await pin.close()

    async def multi(self, fn: Callable[[AsyncWatched], object], *keys: Key) -> list[Any]:
        """Queue *fn*'s commands and run them in one MULTI/EXEC; return their replies.

        *keys* (the keys the commands touch, one slot) are needed on a cluster only,
        to find the node.
        """
        plan = self.core.multi_plan(fn, keys, self.engine.cluster)
        self.core.counters.add(runs=1)
        pin = await AsyncPin(self.engine.client, self.engine.cluster, plan.slot).open()
        try:
            self.core.started()
            tx = AsyncWatched(pin, queueing=True)
            await _settle(fn(tx))
            replies = await pin.commit(self.core.exec_commands(tx.queued))
            return self.core.plain_verdict(pin.callbacks, tx.queued, replies)
        finally:
            await pin.close()

    def stats(self) -> ConflictStats:
        """Return the counts: runs, attempts, conflicts, committed, exhausted."""
        return self.core.counters.snapshot()

    def reset_stats(self) -> None:
        """Start the counts from zero."""
        self.core.counters.reset()
