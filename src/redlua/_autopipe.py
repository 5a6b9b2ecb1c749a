"""Auto-pipelining for `AsyncEngine`: the calls of one event-loop tick share writes.

Concurrent tasks that call ``engine.run`` in the same tick each put their command
on the queue of its node and wait on a future. The first one also starts a flush
task, whose first step runs in the next tick, after every task of this tick has
queued: it takes a connection, writes its share of the queue in one ``send``, reads
the replies in order and hands each waiter its own `Outcome` (see `AutoPipeline`
for how the queue is shared among up to `IN_FLIGHT` writes). Everything else (NOSCRIPT
reloads, retries, redirects, statistics) stays with the engine: a waiter whose
outcome is an error plans its recovery alone, so a NOSCRIPT re-sends only the calls
that got it and one call's error never reaches its neighbours.

The I/O of a batch runs in the flush task, not in a waiter, so cancelling a waiting
task cancels only its wait: the batch is written and read whole, and the connection
is neither torn nor left with an unread reply. A call that finds its node idle is
sent at once by its own task (a lone task waits for no tick); cancelling that one
mid-call closes its connection, as without pipelining. A connection lost mid-batch gives each
unanswered call that error (sent, so its outcome is unknown to the engine); calls
answered before it keep their replies.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._engine_core import ACQUIRE_ERRORS, CONNECTION_ERRORS, Outcome
from ._pack import pack

if TYPE_CHECKING:
    from ._atransport import ClusterTransport, Node, StandaloneTransport

IN_FLIGHT = 2
"""At most this many batches per node are written and not yet read (one connection each).

Two let the server run one batch while the client packs or reads the other; more split
a burst into smaller writes. On 2026-11-22 (2-core VM, 32 tasks) 2 beat 4 on every
row of ``bench/cases_pipelining.py`` but the limiter's (equal) and on ``aio.run_32_tasks``
(5.0x raw ``redis.asyncio`` against 3.7x); 1 and 8 were worse than both."""

MAX_BATCH = 512
"""At most this many calls go in one write."""

DIRECT = True
"""A call that finds its node idle is sent at once by its own task (tests turn it off
to study batches alone)."""

_Item = tuple[tuple[Any, ...], "asyncio.Future[Outcome]"]


class _Lane:
    """The calls waiting for one node, and its batches in flight."""

    __slots__ = ("in_flight", "loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop  # a lane serves one event loop; another loop starts afresh
        self.pending: list[_Item] = []
        self.in_flight = 0
        self.scheduled = False  # a flush task is about to take from `pending`


class AutoPipeline:
    """Per node, the calls queued in a tick go out in up to `IN_FLIGHT` concurrent writes.

    A flush takes its share of the queue (the queue split over the free slots), so
    the server starts on the first write while the client still packs the next, and
    the client reads one batch while the server runs another: on a loaded machine
    the two overlap instead of taking turns. When every slot is busy, calls wait in
    the queue and the next free slot takes them all (up to `MAX_BATCH`): a burst of
    thousands of calls needs `IN_FLIGHT` connections, not thousands.
    """

    def __init__(self, transport: StandaloneTransport | ClusterTransport) -> None:
        self._t = transport
        self._lanes: dict[str | None, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # flushes written, for tests and statistics
        self.calls = 0  # calls written in them

    def submit(self, node: Node, command: tuple[Any, ...]) -> Awaitable[Outcome]:
        """Send *command* to *node*; await the result for its `Outcome`.

        A call that finds its node idle (nothing queued, nothing in flight) is sent at
        once by its own task, with no tick to wait: a lone task pays nothing for the
        pipeline. The calls that come while it is in flight are queued and batched.
        """
        loop = asyncio.get_running_loop()
        key = self._t.describe(node) if self._t.cluster else None
        lane = self._lanes.get(key)
        if lane is None or lane.loop is not loop:
            lane = self._lanes[key] = _Lane(loop)
        if DIRECT and not lane.in_flight and not lane.pending and not lane.scheduled:
            lane.in_flight += 1
            return self._direct(lane, node, command)
        future: asyncio.Future[Outcome] = loop.create_future()
        lane.pending.append((command, future))
        if not lane.scheduled and lane.in_flight < IN_FLIGHT:
            self._schedule(loop, lane, node)
        return future

    async def _direct(self, lane: _Lane, node: Node, command: tuple[Any, ...]) -> Outcome:
        """Send one call and read its reply in the caller's task (as without pipelining)."""
        try:
            try:
                conn = await self._t.acquire(node)
            except ACQUIRE_ERRORS as exc:
                return Outcome(error=exc, sent=False)
            try:
                self.batches += 1
                self.calls += 1
                await _send(conn, pack(conn, command))
                return Outcome(await conn.read_response())
            except (ResponseError, BusyLoadingError) as exc:
                return Outcome(error=exc)
            except BaseException as exc:
                await conn.disconnect()  # cancelled or failed mid-call: no reply left unread
                if isinstance(exc, CONNECTION_ERRORS):
                    return Outcome(error=exc)
                raise
            finally:
                await self._t.release(node, conn)
        finally:
            lane.in_flight -= 1
            if lane.pending and not lane.scheduled and lane.loop is asyncio.get_running_loop():
                self._schedule(lane.loop, lane, node)

    def _schedule(self, loop: asyncio.AbstractEventLoop, lane: _Lane, node: Node) -> None:
        lane.scheduled = True
        task = loop.create_task(self._flush(lane, node))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self, lane: _Lane) -> list[_Item]:
        """Take this flush's share of the queue: an even split over the free slots."""
        free = max(1, IN_FLIGHT - lane.in_flight)
        share = min(MAX_BATCH, -(-len(lane.pending) // free))
        items, lane.pending = lane.pending[:share], lane.pending[share:]
        return items

    async def _flush(self, lane: _Lane, node: Node) -> None:
        lane.scheduled = False
        items = self._take(lane)
        if not items:
            return
        lane.in_flight += 1
        loop = asyncio.get_running_loop()
        if lane.pending and lane.in_flight < IN_FLIGHT:
            self._schedule(loop, lane, node)  # the rest go out at once, on another connection
        try:
            await self._write_and_read(node, items)
        finally:
            lane.in_flight -= 1
            if lane.pending and not lane.scheduled:
                self._schedule(loop, lane, node)

    async def _write_and_read(self, node: Node, items: list[_Item]) -> None:
        items = [item for item in items if not item[1].done()]
        if not items:
            return  # every waiter was cancelled before the write: no connection is taken
        try:
            conn = await self._t.acquire(node)
        except ACQUIRE_ERRORS as exc:
            _settle([f for _, f in items], 0, Outcome(error=exc, sent=False))
            return
        except Exception as exc:  # noqa: BLE001 - each waiter raises it, as without pipelining
            _fail([f for _, f in items], 0, exc)
            return
        except BaseException:
            _cancel([f for _, f in items], 0)
            raise
        futures: list[asyncio.Future[Outcome]] = []
        done = 0
        watchdog: _Watchdog | None = None
        try:
            chunks: list[Any] = []
            for command, future in items:
                if future.done():
                    continue  # its waiter was cancelled before the write: never sent
                try:
                    chunks += pack(conn, command)
                except Exception as exc:  # noqa: BLE001 - a bad argument fails its own call
                    future.set_exception(exc)
                    continue
                futures.append(future)
            if not futures:
                return
            self.batches += 1
            self.calls += len(futures)
            await _send(conn, chunks)
            limit = getattr(conn, "socket_timeout", None)
            watchdog = _Watchdog(limit) if limit else None
            timeout = math.inf if watchdog else None  # the watchdog times the batch instead
            try:
                for future in futures:
                    try:
                        out = Outcome(reply=await conn.read_response(timeout=timeout))
                    except (ResponseError, BusyLoadingError) as exc:
                        out = Outcome(error=exc)
                    done += 1
                    if watchdog:
                        watchdog.read = done
                    if not future.done():  # a waiter cancelled meanwhile gets nothing
                        future.set_result(out)
            finally:
                if watchdog:
                    watchdog.stop()
        except BaseException as exc:
            await conn.disconnect()
            if watchdog and watchdog.fired and isinstance(exc, asyncio.CancelledError):
                exc = watchdog.expired()
            if isinstance(exc, CONNECTION_ERRORS):
                _settle(futures, done, Outcome(error=exc))  # sent: each outcome is unknown
            elif isinstance(exc, Exception):
                _fail(futures, done, exc)
            else:
                _cancel(futures, done)
                raise  # cancelled (the loop is closing) or interrupted
        finally:
            await self._t.release(node, conn)

    async def close(self) -> None:
        """Wait for the batches in flight (their waiters get their replies)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))


async def _send(conn: Any, chunks: list[Any]) -> None:
    """Write *chunks* on *conn*: straight into its stream when redis-py would only add cost.

    redis-py wraps every write in ``asyncio.wait_for`` when ``socket_timeout`` is set: a
    task and a timer per write, and on Python 3.11 a place where a cancellation can be
    lost (CPython gh-86296). The kernel takes a batch at once unless the server stops
    reading, so the write goes to the stream and only a backlog is waited for, within
    the timeout. Connections with health checks, or without the expected stream, go
    through redis-py.
    """
    writer = getattr(conn, "_writer", None)
    checks: float | None = getattr(conn, "health_check_interval", None)
    if writer is None or checks or not conn.is_connected:
        await conn.send_packed_command(chunks)
        return
    try:
        writer.writelines(chunks)
        if writer.transport.get_write_buffer_size():
            limit = getattr(conn, "socket_timeout", None)
            await asyncio.wait_for(writer.drain(), limit) if limit else await writer.drain()
    except asyncio.TimeoutError:
        raise RedisTimeoutError("Timeout writing to socket") from None
    except OSError as exc:
        raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc


class _Watchdog:
    """Time a batch's replies with one timer, not one per reply as redis-py would.

    Like ``socket_timeout`` for each read, coarsely: the flush is cancelled when no
    reply came in a whole period (so a stalled reply is found after one to two
    periods), and the cancellation becomes redis-py's `TimeoutError`.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.read = 0  # replies read so far, set by the flush
        self.fired = False
        self._seen = 0
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(seconds, self._check)

    def _check(self) -> None:
        if self.read == self._seen and self._task is not None:
            self.fired = True
            self._task.cancel()
            return
        self._seen = self.read
        self._handle = self._loop.call_later(self.seconds, self._check)

    def stop(self) -> None:
        """Stop timing (the batch is read, or failed)."""
        self._handle.cancel()

    def expired(self) -> RedisTimeoutError:
        """Take back the cancellation it made; return the timeout error to report."""
        uncancel = getattr(self._task, "uncancel", None)
        if uncancel is not None:
            uncancel()
        return RedisTimeoutError(f"no reply within {self.seconds} s (socket_timeout)")


def _settle(futures: list[asyncio.Future[Outcome]], start: int, out: Outcome) -> None:
    for future in futures[start:]:
        if not future.done():
            future.set_result(out)


def _fail(futures: list[asyncio.Future[Outcome]], start: int, exc: BaseException) -> None:
    for future in futures[start:]:
        if not future.done():
            future.set_exception(exc)


def _cancel(futures: list[asyncio.Future[Outcome]], start: int) -> None:
    for future in futures[start:]:
        future.cancel()
