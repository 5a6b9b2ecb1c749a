"""Where the async engine gets connections: the asyncio twin of ``_transport.py``."""

from __future__ import annotations

import weakref
from typing import Any, Protocol, cast

import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ResponseError

from ._idle import AsyncIdleConnections, astale

Node = Any  # None for a standalone server, a ClusterNode in a cluster


class Conn(Protocol):
    """The part of a redis-py connection the engine uses."""

    is_connected: bool

    async def connect(self) -> None: ...
    async def send_command(self, *args: Any) -> None: ...
    async def send_packed_command(self, command: Any) -> None: ...
    def pack_commands(self, commands: Any) -> Any: ...
    async def read_response(self, timeout: float | None = None) -> Any: ...
    async def disconnect(self) -> None: ...
    async def can_read(self) -> bool: ...
    async def can_read_destructive(self) -> bool: ...


class StandaloneTransport:
    """Connections of one `redis.asyncio.Redis` client."""

    cluster = False

    def __init__(self, client: aredis.Redis) -> None:
        if client.connection is not None:
            raise ValueError("single_connection_client=True is not supported: give a pooled client")
        self.client = client
        self._c: Any = client
        self._pool: Any = client.connection_pool
        self._idle = AsyncIdleConnections(self._pool)
        weakref.finalize(self, self._idle.close_later)

    async def ready(self) -> None:
        """Nothing to prepare for a standalone server."""

    def node_for(self, slot: int | None) -> Node:
        """Return the node serving *slot*: the one server."""
        return None

    def node_at(self, host: str, port: int) -> Node:
        """Return the node at *host*:*port*: the one server."""
        return None

    def primaries(self) -> list[Node]:
        """Return every primary: the one server."""
        return [None]

    async def acquire(self, node: Node) -> Conn:
        """Take a connected connection, a kept one first (raises before anything is sent)."""
        return await _take(self._idle)

    async def release(self, node: Node, conn: Conn) -> None:
        """Keep *conn* for the next call, or give it back to the pool."""
        if not self._idle.keep(conn):
            await self._pool.release(conn)

    async def close(self) -> None:
        """Give every kept connection back to the pool."""
        await self._idle.aclose()

    async def refresh(self) -> None:
        """Nothing to refresh for a standalone server."""

    async def execute(self, node: Node, *args: Any) -> Any:
        """Run an idempotent admin command (SCRIPT LOAD, SCRIPT EXISTS, ...); its raw reply.

        On a checked connection, as the calls: a server restarted since the pool's
        connections were made costs no failed reload.
        """
        conn = await self.acquire(node)
        try:
            await conn.send_command(*args)
            return await conn.read_response()
        except ResponseError:
            raise
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await self.release(node, conn)

    def fresh_connection(self, node: Node) -> Conn:
        """Open a new connection on db 0 with no name: it works while the server is BUSY."""
        kwargs = {**self._pool.connection_kwargs, "db": 0, "client_name": None}
        conn: Conn = self._pool.connection_class(**kwargs)
        return conn

    def describe(self, node: Node) -> str:
        """Return host:port (or the socket path) of *node*."""
        kw = self._pool.connection_kwargs
        return str(kw.get("path") or f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}")


class ClusterTransport:
    """Connections of a `redis.asyncio.cluster.RedisCluster`, per node."""

    cluster = True

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self._c: Any = client
        self._ready = False

    async def ready(self) -> None:
        """Learn the topology once, before the first call."""
        if not self._ready:
            await self._c.initialize()
            self._ready = True

    def node_for(self, slot: int | None) -> Node:
        """Return the primary serving *slot* (the default node for keyless calls)."""
        if slot is None:
            return self._c.get_default_node()
        return self._c.nodes_manager.get_node_from_slot(slot)

    def node_at(self, host: str, port: int) -> Node:
        """Return the node at *host*:*port*, or a new handle on it."""
        node = self._c.get_node(host=host, port=port)
        if node is None:
            return ClusterNode(host, port, **self._c.nodes_manager.connection_kwargs)
        return node

    def primaries(self) -> list[Node]:
        """Return every primary node."""
        return list(self._c.get_primaries())

    async def acquire(self, node: Node) -> Conn:
        """Take a connection to *node* and connect it (raises before anything is sent)."""
        conn: Conn = node.acquire_connection()
        try:
            if not conn.is_connected:
                await conn.connect()
        except BaseException:
            node.release(conn)
            raise
        return conn

    async def release(self, node: Node, conn: Conn) -> None:
        """Give *conn* back to *node*."""
        node.release(conn)

    async def close(self) -> None:
        """Nothing kept: a cluster node's own free list is already cheap."""

    async def refresh(self) -> None:
        """Learn the slot map again (after MOVED, a failover or a refused connection)."""
        await self._c.nodes_manager.initialize()

    async def execute(self, node: Node, *args: Any) -> Any:
        """Run an idempotent admin command on *node*."""
        return await node.execute_command(*args)

    def fresh_connection(self, node: Node) -> Conn:
        """Open a new connection to *node* with no name: it works while the node is BUSY."""
        kwargs = {**node.connection_kwargs, "client_name": None}
        conn: Conn = node.connection_class(**kwargs)
        return conn

    def describe(self, node: Node) -> str:
        """Return host:port of *node*."""
        return f"{node.host}:{node.port}"


async def _take(idle: AsyncIdleConnections) -> Conn:
    """Return a kept connection, checked and connected, else one from the pool."""
    kept = idle.take()
    if kept is None:
        return cast("Conn", await idle.pool.get_connection())
    conn, _ = kept  # checked however fresh: no system call in asyncio, the loop read the socket
    try:
        if await astale(conn):
            await conn.disconnect()
        await conn.connect()  # a no-op when connected
    except BaseException:
        await conn.disconnect()  # a connect cut short may have opened the socket
        await idle.pool.release(conn)
        raise
    return cast("Conn", conn)


def transport_for(client: Any) -> StandaloneTransport | ClusterTransport:
    """Pick the transport for an asyncio redis-py client."""
    if isinstance(client, RedisCluster):
        return ClusterTransport(client)
    if isinstance(client, aredis.Redis):
        return StandaloneTransport(client)
    raise TypeError(
        f"AsyncEngine needs a redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster, "
        f"not {type(client).__name__} (use Engine for sync clients)"
    )
