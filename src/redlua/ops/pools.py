"""`pool_stats`: how many connections each of a client's pools made, lends and keeps.

redis-py publishes no pool counters, so they are read from the pools' private
attributes in one place, `_counts`, for every pool kind redis-py has (sync and
asyncio `ConnectionPool`, `BlockingConnectionPool`, an asyncio cluster node). A
pool whose internals are not recognised (a future redis-py) gives a row whose
counts are ``None`` rather than a wrong number or an exception. Reading the
counts does no I/O, so the one function serves sync and asyncio clients alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from redlua._idle import kept
from redlua.ops._nodes import client_of, is_async, is_cluster, nodes_of


@dataclass(frozen=True)
class PoolStats:
    """One pool: its limit, and its connections made, lent out, kept and idle.

    ``created == in_use + kept + available`` for every pool kind redis-py has; the
    four are ``None`` when the pool's internals are not recognised. *kept* are the
    idle connections redlua engines hold between calls (see `Engine.close`): the
    pool itself counts them as lent.
    """

    address: str
    kind: str  # the pool's class name
    max_connections: int | None
    created: int | None
    in_use: int | None
    available: int | None
    kept: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-safe values."""
        return asdict(self)


def _counts(pool: Any) -> tuple[int, int, int] | None:
    """Return (created, in use, available) from *pool*'s internals, None if unrecognised."""
    try:
        if hasattr(pool, "_free") and hasattr(pool, "_connections"):  # asyncio ClusterNode
            created, available = len(pool._connections), len(pool._free)
            return created, created - available, available
        if hasattr(pool, "pool") and hasattr(pool, "_connections"):  # BlockingConnectionPool
            created = len(pool._connections)
            available = sum(1 for conn in list(pool.pool.queue) if conn is not None)
            return created, created - available, available
        available = len(pool._available_connections)  # ConnectionPool, sync or asyncio
        in_use = len(pool._in_use_connections)
        created = getattr(pool, "_created_connections", available + in_use)
        return int(created), in_use, available
    except (AttributeError, TypeError):
        return None


def pool_stats(target: Any) -> list[PoolStats]:
    """Return one row per pool of an engine or redis-py client (per node on a cluster).

    An asyncio cluster client lists its nodes once it has run a command (or was
    initialized); before that it has no pools and the list is empty.
    """
    client = client_of(target)
    if is_async(client) and is_cluster(client) and not client.get_nodes():
        return []
    rows = []
    for node in nodes_of(client):
        pool = node.pool
        counts = _counts(pool)
        limit = getattr(pool, "max_connections", None)
        created, in_use, available = counts if counts is not None else (None, None, None)
        held = kept(pool) if in_use is not None else None
        if in_use is not None and held is not None:
            in_use -= held
        rows.append(
            PoolStats(
                address=node.address,
                kind=type(pool).__name__,
                max_connections=limit if isinstance(limit, int) else None,
                created=created,
                in_use=in_use,
                available=available,
                kept=held,
            )
        )
    return rows
