"""Connections an engine keeps between calls, so that a call skips the pool's bookkeeping.

redis-py's pools take a lock, check the pid, record observability counters and poll
the socket on every checkout and return; on a loopback round trip that is about a
third of a call. An engine therefore keeps the connections it used in a LIFO list of
its own (at most `KEEP`) and checks the one it takes, when it was idle for more than
`FRESH`, with one non-blocking poll: a connection the server closed (idle timeout,
CLIENT KILL, a restart) is reconnected before anything is sent, so such a close is
not taken for a call whose outcome is unknown.

An engine keeps at most a quarter of the pool's ``max_connections`` (and at most
`KEEP`), so that it never starves the client's other users: redis-py 8's default pool
of 100 lets an engine keep 25. Kept connections count as "in use" for the pool;
`IdleConnections.close` (called when the engine is collected, or by ``Engine.close``)
gives them back. A forked child forgets its parent's.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

KEEP = 64
"""At most this many idle connections per pool stay with one engine."""

FRESH = 0.01
"""A sync connection kept for less than this many seconds is reused without the poll.

The check costs a system call (several µs on a VM, a tenth of a loopback call), and a
connection reused within 10 ms is one a busy program hands from call to call. One the
server closed in those 10 ms (a CLIENT KILL; a restart takes longer) makes that call's
outcome unknown (`OutcomeUnknownError`, or a retry for an idempotent script), as if
the server had closed it during the call.
"""

_caches: weakref.WeakSet[IdleConnections] = weakref.WeakSet()


def keep_limit(pool: Any) -> int:
    """How many idle connections of *pool* one engine may keep: a quarter of its limit."""
    limit = getattr(pool, "max_connections", None)
    if not isinstance(limit, int):
        return 0
    return min(KEEP, limit // 4)


def stale(conn: Any) -> bool:
    """True when a connected sync connection may not be written to: EOF or stray bytes.

    redis-py's own check (one ``poll``), the one its pool runs on every checkout.
    """
    if getattr(conn, "_sock", None) is None:
        return False  # not connected: connect() opens it
    try:
        return bool(conn.can_read())
    except (RedisConnectionError, OSError):
        return True


async def astale(conn: Any) -> bool:
    """`stale` for an asyncio connection (no system call: the loop already read the socket)."""
    if not conn.is_connected:
        return False
    check = getattr(conn, "can_read", None) or conn.can_read_destructive  # redis-py < 8
    try:
        return bool(await check())
    except (RedisConnectionError, OSError):
        return True


def kept(pool: Any) -> int:
    """Return how many of *pool*'s connections engines keep idle (the pool counts them in use)."""
    return sum(len(cache) for cache in list(_caches) if cache.pool is pool)


class IdleConnections:
    """The idle connections of one pool that one engine keeps (a LIFO list).

    ``list.append`` and ``list.pop`` are atomic, so threads share it without a lock.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.limit = keep_limit(pool)
        self._idle: list[tuple[Any, float]] = []  # (connection, when it was kept)
        _caches.add(self)

    def __len__(self) -> int:
        return len(self._idle)

    def take(self) -> tuple[Any, float] | None:
        """Return a kept connection and how long it was idle, or None (take from the pool)."""
        try:
            conn, since = self._idle.pop()
        except IndexError:
            return None
        return conn, time.monotonic() - since

    def keep(self, conn: Any) -> bool:
        """Keep *conn* for the next call; False when it must go back to the pool."""
        if len(self._idle) >= self.limit:
            return False
        self._idle.append((conn, time.monotonic()))
        return True

    def drain(self) -> list[Any]:
        """Remove and return every kept connection."""
        kept, self._idle = self._idle, []
        return [conn for conn, _ in kept]

    def close(self) -> None:
        """Give every kept connection back to a sync pool."""
        for conn in self.drain():
            self.pool.release(conn)

    async def aclose(self) -> None:
        """Give every kept connection back to an asyncio pool."""
        for conn in self.drain():
            await self.pool.release(conn)

    def close_later(self) -> None:
        """Give kept connections back from a finalizer: now if sync, in a task if async."""
        if not asyncio.iscoroutinefunction(self.pool.release):
            self.close()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to give them back on: the pool's disconnect still closes them
        if getattr(self, "loop", None) is not loop:
            return  # they belong to another loop (a closed one): leave them to the pool
        task = loop.create_task(self.aclose())
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    def _forget(self) -> None:
        self._idle = []  # the parent's sockets: neither used nor closed here


class IdlePools:
    """One `IdleConnections` per pool, for a cluster client's node pools."""

    def __init__(self) -> None:
        self._by_pool: weakref.WeakKeyDictionary[Any, IdleConnections] = weakref.WeakKeyDictionary()

    def of(self, pool: Any) -> IdleConnections:
        """Return the kept connections of *pool*, made on first use."""
        idle = self._by_pool.get(pool)
        if idle is None:
            idle = self._by_pool.setdefault(pool, IdleConnections(pool))
        return idle

    def close(self) -> None:
        """Give every kept connection back to its pool."""
        for idle in list(self._by_pool.values()):
            idle.close()

    def close_later(self) -> None:
        """`close`, from a finalizer."""
        self.close()


class AsyncIdleConnections(IdleConnections):
    """`IdleConnections` of an asyncio pool: kept connections serve the loop that made them."""

    loop: asyncio.AbstractEventLoop | None = None

    def take(self) -> tuple[Any, float] | None:
        """Return a kept connection of the running loop and its idle time, or None."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.drain()  # another loop's connections (a closed one's) cannot serve this one
            self.loop = loop
        return super().take()


_pending: set[asyncio.Task[None]] = set()


def _after_fork() -> None:
    for cache in list(_caches):
        cache._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
