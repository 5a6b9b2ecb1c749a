"""The connection a transaction holds, and the handle its user's function gets.

WATCH only protects reads made on the connection that sent it, so a transaction
takes one connection from the client's pool (on a cluster, from the node serving
its slot) and keeps it from WATCH to EXEC: the seed read the watched values on
another connection, which WATCH does not see. `Watched` (and `AsyncWatched`) is
the user's handle on it: every redis-py data command (``get``, ``hgetall``,
``zadd``, ...) runs at once on that connection until ``multi()``, and is queued
after it, for one ``MULTI ... EXEC`` round trip at the end.

The pins talk to the connection themselves, so no redis-py retry ever re-sends a
command on a fresh connection, where the WATCH would be silently gone: a
connection lost before EXEC raises `ConnectionFailedError` (nothing was
committed), one lost after EXEC was sent raises `OutcomeUnknownError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from redis.commands.core import AsyncDataAccessCommands, DataAccessCommands
from redis.exceptions import ResponseError

from redlua._engine_core import CONNECTION_ERRORS, reply_text
from redlua._slots import common_slot
from redlua.errors import ConnectionFailedError, CrossSlotError, OutcomeUnknownError, from_reply

Command = tuple[tuple[Any, ...], dict[str, Any]]
"""One command as redis-py's mixins hand it over: its arguments and parse options."""

_NOT_PARSE_OPTIONS = ("keys", "NEVER_DECODE", "EMPTY_RESPONSE")


def parse(
    callbacks: Mapping[str, Any], args: tuple[Any, ...], reply: Any, options: dict[str, Any]
) -> Any:
    """Apply the client's response callback for command *args* to *reply*."""
    if isinstance(reply, ResponseError):
        return from_reply(reply_text(reply))
    callback = callbacks.get(args[0])
    if callback is None:
        return reply
    extra = {k: v for k, v in options.items() if k not in _NOT_PARSE_OPTIONS}
    return callback(reply, **extra)


def lost(what: str, exc: BaseException) -> ConnectionFailedError:
    """Return the error for a connection lost before anything was committed."""
    error = ConnectionFailedError(f"{what}: {type(exc).__name__}: {exc}; nothing was committed")
    error.__cause__ = exc
    return error


def _owner(client: Any, cluster: bool, slot: int | None) -> Any:
    """Return what serves *slot*: the client itself, or the cluster node of *slot*."""
    if not cluster:
        return client
    if slot is None:
        raise ValueError("a transaction on a cluster needs at least one key to find its node")
    return client.nodes_manager.get_node_from_slot(slot)


class Pin:
    """One connection of a sync client, held from WATCH to EXEC."""

    def __init__(self, client: Any, cluster: bool, slot: int | None) -> None:
        owner = _owner(client, cluster, slot)
        if cluster:
            owner = client.get_redis_connection(owner)
        self.callbacks: Mapping[str, Any] = owner.response_callbacks
        self.slot = slot
        self._pool = owner.connection_pool
        try:
            self._conn: Any = self._pool.get_connection()
        except CONNECTION_ERRORS as exc:
            raise lost("transaction", exc) from exc
        self.watching = False
        self.closed = False
        self._broken = False

    def call(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """Send one command now and return its parsed reply."""
        if self.closed:
            raise RuntimeError("this transaction is over: its handle cannot run commands")
        try:
            self._conn.send_command(*args)
            reply = self._conn.read_response(disable_decoding="NEVER_DECODE" in options)
        except ResponseError as exc:
            raise from_reply(reply_text(exc)) from None
        except CONNECTION_ERRORS as exc:
            self._broken = True
            raise lost(f"transaction ({args[0]})", exc) from exc
        except BaseException:
            self._broken = True
            raise
        if args[0] == "WATCH":
            self.watching = True
        return parse(self.callbacks, args, reply, options)

    def commit(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send MULTI, *commands*, EXEC in one write; return every raw reply (errors as values)."""
        conn = self._conn
        replies: list[Any] = []
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        except CONNECTION_ERRORS as exc:
            self._broken = True
            raise OutcomeUnknownError("MULTI/EXEC transaction", exc) from exc
        except BaseException:
            self._broken = True
            raise
        self.watching = False
        return replies

    def close(self) -> None:
        """Give the connection back: unwatched, or disconnected when its state is unknown."""
        if self.closed:
            return
        self.closed = True
        conn = self._conn
        try:
            if self.watching and not self._broken:
                try:
                    conn.send_command("UNWATCH")
                    conn.read_response()
                except BaseException:  # noqa: BLE001 - the connection is dropped instead
                    self._broken = True
            if self._broken:
                conn.disconnect()
        finally:
            self._pool.release(conn)


class AsyncPin:
    """One connection of an asyncio client, held from WATCH to EXEC: `Pin` with await."""

    def __init__(self, client: Any, cluster: bool, slot: int | None) -> None:
        self._client = client
        self._cluster = cluster
        self.slot = slot
        self.callbacks: Mapping[str, Any] = {}
        self._conn: Any = None
        self._node: Any = None
        self.watching = False
        self.closed = False
        self._broken = False

    async def open(self) -> AsyncPin:
        """Take the connection (a cluster client learns its topology first)."""
        try:
            if self._cluster:
                await self._client.initialize()
                node = self._node = _owner(self._client, True, self.slot)
                self.callbacks = node.response_callbacks
                self._conn = node.acquire_connection()
                if not self._conn.is_connected:
                    await self._conn.connect()
            else:
                self.callbacks = self._client.response_callbacks
                self._conn = await self._client.connection_pool.get_connection()
        except CONNECTION_ERRORS as exc:
            await self.close()
            raise lost("transaction", exc) from exc
        return self

    async def call(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        """Send one command now and return its parsed reply."""
        if self.closed:
            raise RuntimeError("this transaction is over: its handle cannot run commands")
        try:
            await self._conn.send_command(*args)
            reply = await self._conn.read_response(disable_decoding="NEVER_DECODE" in options)
        except ResponseError as exc:
            raise from_reply(reply_text(exc)) from None
        except CONNECTION_ERRORS as exc:
            self._broken = True
            raise lost(f"transaction ({args[0]})", exc) from exc
        except BaseException:
            self._broken = True
            raise
        if args[0] == "WATCH":
            self.watching = True
        return parse(self.callbacks, args, reply, options)

    async def commit(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send MULTI, *commands*, EXEC in one write; return every raw reply (errors as values)."""
        conn = self._conn
        replies: list[Any] = []
        try:
            await conn.send_packed_command(conn.pack_commands(commands))
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        except CONNECTION_ERRORS as exc:
            self._broken = True
            raise OutcomeUnknownError("MULTI/EXEC transaction", exc) from exc
        except BaseException:
            self._broken = True
            raise
        self.watching = False
        return replies

    async def close(self) -> None:
        """Give the connection back: unwatched, or disconnected when its state is unknown."""
        if self.closed:
            return
        self.closed = True
        conn = self._conn
        if conn is None:
            return
        try:
            if self.watching and not self._broken:
                try:
                    await conn.send_command("UNWATCH")
                    await conn.read_response()
                except BaseException:  # noqa: BLE001 - the connection is dropped instead
                    self._broken = True
            if self._broken:
                await conn.disconnect()
        finally:
            if self._node is not None:
                self._node.release(conn)
            else:
                await self._client.connection_pool.release(conn)


# -- the user's handles ------------------------------------------------------------------------


class _Queue:
    """What both handles keep: the queued commands and whether ``multi()`` was called."""

    def __init__(self, slot: int | None, queueing: bool) -> None:
        self.slot = slot
        self.queueing = queueing
        self.queue: list[Command] = []

    def enter_multi(self) -> None:
        if self.queueing:
            raise RuntimeError("multi() was already called in this transaction")
        self.queueing = True

    def watch_args(self, keys: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.queueing:
            raise RuntimeError("watch() must come before multi()")
        if not keys:
            raise ValueError("watch() needs at least one key")
        slot = common_slot(keys)
        if self.slot is not None and slot != self.slot:
            raise CrossSlotError(
                f"watch({keys[0]!r}, ...): slot {slot}, but this transaction's keys are in slot "
                f"{self.slot}; keys watched together need one {{hash tag}}"
            )
        return ("WATCH", *keys)


class Watched(DataAccessCommands):
    """A transaction's handle: redis-py's data commands on the watched connection.

    Before ``multi()`` each command runs at once and returns its reply (reads the
    WATCH protects); after it, commands are queued (each returns this handle) and
    run in one ``MULTI ... EXEC`` when the function returns.
    """

    _event_dispatcher: Any = None  # redis-py's command protocol names it; nothing here uses it
    _is_async_client: Literal[False] = False  # so typed user code sees a sync client

    def __init__(self, pin: Pin, *, queueing: bool = False) -> None:
        self._pin = pin
        self._state = _Queue(pin.slot, queueing)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run the command now, or queue it after ``multi()``."""
        if self._pin.closed:
            raise RuntimeError("this transaction is over: its handle cannot run commands")
        if self._state.queueing:
            self._state.queue.append((args, options))
            return self
        return self._pin.call(args, options)

    def watch(self, *keys: Any) -> None:
        """Watch more *keys* (in the transaction's slot) before ``multi()``."""
        self._pin.call(self._state.watch_args(keys), {})

    def multi(self) -> None:
        """Queue the commands that follow, for the transaction's EXEC."""
        self._state.enter_multi()

    @property
    def queued(self) -> list[Command]:
        """Return the commands queued so far."""
        return self._state.queue


class AsyncWatched(AsyncDataAccessCommands):
    """`Watched` for asyncio: ``await tx.get(key)`` before ``multi()``, plain calls after."""

    _event_dispatcher: Any = None
    _is_async_client: Literal[True] = True

    def __init__(self, pin: AsyncPin, *, queueing: bool = False) -> None:
        self._pin = pin
        self._state = _Queue(pin.slot, queueing)

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Return the awaitable reply of the command now, or queue it after ``multi()``."""
        if self._pin.closed:
            raise RuntimeError("this transaction is over: its handle cannot run commands")
        if self._state.queueing:
            self._state.queue.append((args, options))
            return self
        return self._pin.call(args, options)

    async def watch(self, *keys: Any) -> None:  # type: ignore[override]  # async, as redis-py's
        """Watch more *keys* (in the transaction's slot) before ``multi()``."""
        await self._pin.call(self._state.watch_args(keys), {})

    def multi(self) -> None:
        """Queue the commands that follow, for the transaction's EXEC."""
        self._state.enter_multi()

    @property
    def queued(self) -> list[Command]:
        """Return the commands queued so far."""
        return self._state.queue
