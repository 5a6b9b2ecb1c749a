"""The shared writer of `Engine`: calls that threads make while a node is busy share writes.

The first call to a node that finds it idle is sent by its own thread, as without
the writer. Calls that come while it is in flight queue on the node's lane and
their threads sleep. When the call in flight is answered, its thread hands the
lane to the first queued thread, which writes every queued call (up to
`MAX_BATCH`) in one ``send`` on one connection, reads the replies in order and
wakes each thread as its reply arrives; then it hands the lane on in turn. So a
thread writes at most one batch, the one that holds its own call, and under load
N threads cost one write and one read per batch instead of N of each (a group
commit).

Everything else (NOSCRIPT reloads, retries, redirects, statistics) stays with the
engine: each thread plans its own recovery from its own `Outcome`, so a NOSCRIPT
re-sends only the calls that got it and one call's error never reaches its
neighbours. A connection lost mid-batch gives each unanswered call that error
(sent, so its outcome is unknown to the engine); calls answered before it keep
their replies. A thread interrupted while it writes (``KeyboardInterrupt``) raises
there; the calls of its batch still unanswered get a connection error. A thread
interrupted while it waits leaves the queue (its call unsent) unless its call was
already taken into a batch.

``_autopipe.py`` is the asyncio counterpart, where the waiting is free and the
batching waits one loop tick.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from ._engine_core import ACQUIRE_ERRORS, CONNECTION_ERRORS, Outcome
from ._pack import coalesce, pack

if TYPE_CHECKING:
    from ._transport import ClusterTransport, Node, StandaloneTransport

MAX_BATCH = 512
"""At most this many calls go in one write."""


class _Waiter:
    """One call: its command, and what its thread gets back (an outcome or an error)."""

    __slots__ = ("command", "error", "gate", "lead", "out")

    def __init__(self, command: tuple[Any, ...], gate: threading.Lock) -> None:
        self.command = command
        self.gate = gate  # held until the call is answered or the lane is handed over
        self.lead = False  # True: the lane was handed to this thread, to write the queue
        self.out: Outcome | None = None
        self.error: BaseException | None = None

    def result(self) -> Outcome:
        """Return the outcome, or raise the error the batch met for this call."""
        if self.error is not None:
            raise self.error
        assert self.out is not None  # every waiter woken is answered
        return self.out


class _Lane:
    """One node's queue, whether a call to it is in flight, and what it wrote.

    The counts change only in the thread that holds the lane (``busy``), one at a time.
    """

    __slots__ = ("batches", "busy", "calls", "lock", "pending")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = False
        self.pending: list[_Waiter] = []
        self.batches = 0
        self.calls = 0


class SharedWriter:
    """Per node, the calls that come while one is in flight go out together.

    `batches` and `calls` count the writes and the calls in them (for tests and
    statistics): ``calls / batches`` is the mean batch.
    """

    def __init__(
        self,
        transport: StandaloneTransport | ClusterTransport,
        send: Callable[[Node, tuple[Any, ...]], Outcome],
    ) -> None:
        self._t = transport
        self._send = send  # the engine's own one-call send, for a call that finds its node idle
        self._lanes: dict[str | None, _Lane] = {}
        self._guard = threading.Lock()
        _WRITERS.add(self)

    @property
    def batches(self) -> int:
        """Return how many writes the lanes made (a lone call is a write of its own)."""
        return sum(lane.batches for lane in list(self._lanes.values()))

    @property
    def calls(self) -> int:
        """Return how many calls those writes carried."""
        return sum(lane.calls for lane in list(self._lanes.values()))

    def submit(self, node: Node, command: tuple[Any, ...]) -> Outcome:
        """Send *command* to *node* (alone, or with the calls of other threads); its outcome."""
        if node is None:  # a standalone server: one lane
            lane = self._lanes.get(None) or self._lane(None)
        else:
            key = self._t.describe(node)
            lane = self._lanes.get(key) or self._lane(key)
        with lane.lock:
            idle = not lane.busy
            if idle:
                lane.busy = True
            else:
                gate = threading.Lock()
                gate.acquire()
                mine = _Waiter(command, gate)
                lane.pending.append(mine)
        if idle:  # send it now, from this thread, as without the writer
            lane.batches += 1
            lane.calls += 1
            try:
                return self._send(node, command)
            finally:
                self._hand_over(lane)
        try:
            mine.gate.acquire()
        except BaseException:
            self._leave(lane, mine)
            raise
        if mine.lead:
            try:
                with lane.lock:
                    batch = lane.pending[:MAX_BATCH]
                    del lane.pending[: len(batch)]
                self._write(lane, node, batch, mine)
            finally:
                self._hand_over(lane)
        return mine.result()

    def _lane(self, key: str | None) -> _Lane:
        with self._guard:
            return self._lanes.setdefault(key, _Lane())

    def _hand_over(self, lane: _Lane) -> None:
        """Give the lane to the first queued thread, or mark it idle."""
        with lane.lock:
            if lane.pending:
                first = lane.pending[0]
                first.lead = True
                first.gate.release()
            else:
                lane.busy = False

    def _leave(self, lane: _Lane, mine: _Waiter) -> None:
        """Take an interrupted waiter off the queue, passing the lane on if it had it."""
        with lane.lock:
            if not any(waiter is mine for waiter in lane.pending):
                return  # already in a batch: its reply will be dropped
            lane.pending.remove(mine)
            if not mine.lead:
                return
        self._hand_over(lane)

    def _write(self, lane: _Lane, node: Node, batch: list[_Waiter], mine: _Waiter) -> None:
        """Write *batch* in one send, read its replies in order, answer and wake each call."""
        try:
            conn = self._t.acquire(node)
        except ACQUIRE_ERRORS as exc:
            _answer(batch, mine, out=Outcome(error=exc, sent=False))
            return
        except Exception as exc:  # noqa: BLE001 - each call raises it, as without the writer
            _answer(batch, mine, error=exc)
            return
        except BaseException as exc:
            lost = RedisConnectionError(f"the thread writing this call's batch stopped: {exc!r}")
            _answer([w for w in batch if w is not mine], mine, out=Outcome(error=lost, sent=False))
            raise
        sent: list[_Waiter] = []
        done = 0
        try:
            chunks: list[Any] = []
            for waiter in batch:
                try:
                    chunks += pack(conn, waiter.command)
                except Exception as exc:  # noqa: BLE001 - a bad argument fails its own call
                    _answer([waiter], mine, error=exc)
                    continue
                sent.append(waiter)
            if not sent:
                return
            lane.batches += 1
            lane.calls += len(sent)
            conn.send_packed_command(coalesce(chunks))  # redis-py sends each chunk by itself
            for waiter in sent:
                try:
                    out = Outcome(conn.read_response())
                except (ResponseError, BusyLoadingError) as exc:
                    out = Outcome(error=exc)
                done += 1
                _answer([waiter], mine, out=out)
        except BaseException as exc:
            conn.disconnect()
            unanswered = sent[done:]
            if isinstance(exc, CONNECTION_ERRORS):
                _answer(unanswered, mine, out=Outcome(error=exc))  # sent: outcome unknown
                return
            if isinstance(exc, Exception):
                _answer(unanswered, mine, error=exc)
                return
            lost = RedisConnectionError(f"the thread writing this call's batch stopped: {exc!r}")
            _answer([w for w in unanswered if w is not mine], mine, out=Outcome(error=lost))
            raise
        finally:
            self._t.release(node, conn)

    def _forget(self) -> None:
        """Start afresh in a forked child: the parent's threads and queues are not here."""
        self._guard = threading.Lock()
        self._lanes = {}


def _answer(
    waiters: list[_Waiter],
    mine: _Waiter,
    *,
    out: Outcome | None = None,
    error: BaseException | None = None,
) -> None:
    """Give each of *waiters* its outcome (or error) and wake its thread (not *mine*)."""
    for waiter in waiters:
        waiter.out, waiter.error = out, error
        if waiter is not mine:
            waiter.gate.release()


_WRITERS: weakref.WeakSet[SharedWriter] = weakref.WeakSet()


def _after_fork() -> None:
    """Reset every writer in a forked child."""
    for writer in list(_WRITERS):
        writer._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
