"""Where the sync engine gets connections: a standalone client or a cluster's nodes.

Both transports hand out redis-py connections taken from the client's own pools,
so the engine writes and reads itself and redis-py's silent re-sends never apply
to scripts. A connection given back is kept by the engine for its next call when the
pool is unbounded (see ``_idle.py``). ``_atransport.py`` is the asyncio twin.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol, cast

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ResponseError

from ._idle import FRESH, IdleConnections, IdlePools, stale

Node = Any  # None for a standalone server, a ClusterNode in a cluster


class Conn(Protocol):
    """The part of a redis-py connection the engine uses."""

    is_connected: bool

    def connect(self) -> None: ...
    def send_command(self, *args: Any) -> None: ...
    def send_packed_command(self, command: Any) -> None: ...
    def pack_commands(self, commands: Any) -> Any: ...
    def read_response(self) -> Any: ...
    def disconnect(self) -> None: ...


class StandaloneTransport:
    """Connections of one `redis.Redis` client."""

    cluster = False

    def __init__(self, client: redis.Redis) -> None:
        if client.connection is not None:
            raise ValueError("single_connection_client=True is not supported: give a pooled client")
        self.client = client
        self._c: Any = client
        self._pool: Any = client.connection_pool
        self._idle = IdleConnections(self._pool)
        weakref.finalize(self, self._idle.close_later)

    def ready(self) -> None:
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

    def acquire(self, node: Node) -> Conn:
        """Take a connected connection, a kept one first (raises before anything is sent)."""
        return _take(self._idle)

    def release(self, node: Node, conn: Conn) -> None:
        """Keep *conn* for the next call, or give it back to the pool."""
        if not self._idle.keep(conn):
            self._pool.release(conn)

    def close(self) -> None:
        """Give every kept connection back to the pool."""
        self._idle.close()

    def refresh(self) -> None:
        """Nothing to refresh for a standalone server."""

    def execute(self, node: Node, *args: Any) -> Any:
        """Run an idempotent admin command (SCRIPT LOAD, SCRIPT EXISTS, ...); its raw reply.

        On a checked connection, as the calls: a server restarted since the pool's
        connections were made costs no failed reload.
        """
        conn = self.acquire(node)
        try:
            conn.send_command(*args)
            return conn.read_response()
        except ResponseError:
            raise
        except BaseException:
            conn.disconnect()
            raise
        finally:
            self.release(node, conn)

    def fresh_connection(self, node: Node) -> Conn:
        """Open a new connection on db 0 with no name: it works while the server is BUSY."""
        kwargs = {**self._pool.connection_kwargs, "db": 0, "client_name": None}
        return cast("Conn", self._pool.connection_class(**kwargs))

    def describe(self, node: Node) -> str:
        """Return host:port (or the socket path) of *node*."""
        kw = self._pool.connection_kwargs
        return str(kw.get("path") or f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}")


class ClusterTransport:
    """Connections of a `redis.cluster.RedisCluster`, one pool per node."""

    cluster = True

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self._c: Any = client
        self._idle = IdlePools()
        weakref.finalize(self, self._idle.close_later)

    def ready(self) -> None:
        """The sync cluster client learns its topology when it is created."""

    def node_for(self, slot: int | None) -> Node:
        """Return the primary serving *slot* (the default node for keyless calls)."""
        if slot is None:
            return self._c.get_default_node()
        return self._c.nodes_manager.get_node_from_slot(slot)

    def node_at(self, host: str, port: int) -> Node:
        """Return the node at *host*:*port*, learning the topology again if unknown."""
        node = self._c.get_node(host=host, port=port)
        if node is None:
            self.refresh()
            node = self._c.get_node(host=host, port=port)
        if node is None:
            return ClusterNode(host, port)  # type: ignore[no-untyped-call]
        return node

    def primaries(self) -> list[Node]:
        """Return every primary node."""
        return list(self._c.get_primaries())

    def _redis(self, node: ClusterNode) -> Any:
        return node.redis_connection or self._c.get_redis_connection(node)

    def acquire(self, node: Node) -> Conn:
        """Take a connected connection to *node*, a kept one first (raises before sending)."""
        return _take(self._idle.of(self._redis(node).connection_pool))

    def release(self, node: Node, conn: Conn) -> None:
        """Keep *conn* for the next call to *node*, or give it back to *node*'s pool."""
        idle = self._idle.of(self._redis(node).connection_pool)
        if not idle.keep(conn):
            idle.pool.release(conn)

    def close(self) -> None:
        """Give every kept connection back to its node's pool."""
        self._idle.close()

    def refresh(self) -> None:
        """Learn the slot map again (after MOVED, a failover or a refused connection)."""
        self._c.nodes_manager.initialize()

    def execute(self, node: Node, *args: Any) -> Any:
        """Run an idempotent admin command on *node*."""
        return self._redis(node).execute_command(*args)

    def fresh_connection(self, node: Node) -> Conn:
        """Open a new connection to *node* with no name: it works while the node is BUSY."""
        pool = self._redis(node).connection_pool
        return cast(
            "Conn", pool.connection_class(**{**pool.connection_kwargs, "client_name": None})
        )

    def describe(self, node: Node) -> str:
        """Return host:port of *node*."""
        return f"{node.host}:{node.port}"


def _take(idle: IdleConnections) -> Conn:
    """Return a kept connection, checked and connected, else one from the pool."""
    kept = idle.take()
    if kept is None:
        return cast("Conn", idle.pool.get_connection())
    conn, idle_for = kept
    try:
        if idle_for > FRESH and stale(conn):
            conn.disconnect()
        if getattr(conn, "_sock", None) is None:  # connect() itself costs a retry wrapper
            conn.connect()
    except BaseException:
        conn.disconnect()  # a connect cut short may have opened the socket
        idle.pool.release(conn)
        raise
    return cast("Conn", conn)


def transport_for(client: Any) -> StandaloneTransport | ClusterTransport:
    """Pick the transport for a sync redis-py client."""
    if isinstance(client, RedisCluster):
        return ClusterTransport(client)
    if isinstance(client, redis.Redis):
        return StandaloneTransport(client)
    raise TypeError(
        f"Engine needs a redis.Redis or redis.cluster.RedisCluster, not {type(client).__name__}"
        " (use AsyncEngine for redis.asyncio clients)"
    )
