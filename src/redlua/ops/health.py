"""`health_check`: is the server (every node of a cluster) up, and how is it doing.

Each node is asked on a fresh connection, with no retries and a short timeout:
PING (its round trip is the figure reported), INFO, SCRIPT EXISTS over the shipped
scripts, and CLUSTER INFO on a cluster. What comes back is a `HealthReport` with
one `NodeHealth` row per node. A node that cannot be reached, or answers with an
error, is a row with ``healthy=False`` and the error's text: the check never
raises for a server problem, so a probe or a CLI can print it as it is.

The server is told apart by what INFO contains, not by version numbers: Valkey
sends ``server_name:valkey`` and ``valkey_version`` besides the ``redis_version``
it keeps for compatibility.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from redlua._checks import finite
from redlua._functions import function_library
from redlua._registry import shipped_scripts
from redlua.ops._info import as_int, parse_info
from redlua.ops._nodes import (
    Exchange,
    NodeRef,
    async_exchange,
    client_of,
    describe_error,
    exchange,
    is_async,
    is_cluster,
    nodes_of,
)

_log = logging.getLogger("redlua.ops")

DEFAULT_TIMEOUT = 5.0
"""Seconds a health check waits for a node to connect or answer."""


@dataclass(frozen=True)
class NodeHealth:
    """How one server is doing. Durations are seconds, memory is bytes.

    ``healthy`` is False when the node cannot be reached or answered with an
    error (``error`` says which), is still loading its data set, is a replica
    whose link to its primary is down, or is a cluster node whose cluster state
    is not ``ok``.
    """

    address: str
    healthy: bool
    error: str | None = None
    role: str | None = None
    ping: float | None = None
    server: str | None = None  # "valkey" or "redis"
    version: str | None = None  # the server's own version (valkey_version on Valkey)
    redis_version: str | None = None  # the Redis version it reports (compatibility on Valkey)
    mode: str | None = None  # standalone, cluster or sentinel
    connected_clients: int | None = None
    used_memory: int | None = None
    maxmemory: int | None = None
    memory_percent: float | None = None  # None when maxmemory is 0 (no limit)
    uptime: int | None = None
    commands_processed: int | None = None
    cached_scripts: int | None = None
    scripts_memory: int | None = None
    shipped_loaded: int | None = None
    shipped_total: int | None = None
    shipped_missing: tuple[str, ...] = ()
    cluster_state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-safe values."""
        found = asdict(self)
        found["shipped_missing"] = list(self.shipped_missing)
        return found


@dataclass(frozen=True)
class ClusterState:
    """What CLUSTER INFO says, as seen from one node (``seen_from``)."""

    state: str
    seen_from: str
    slots_assigned: int | None = None
    slots_ok: int | None = None
    slots_pfail: int | None = None
    slots_fail: int | None = None
    known_nodes: int | None = None
    size: int | None = None  # primaries serving at least one slot
    current_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-safe values."""
        return asdict(self)


@dataclass(frozen=True)
class HealthReport:
    """The health of a server or a cluster: one row per node, and the cluster's state."""

    healthy: bool
    cluster: bool
    nodes: tuple[NodeHealth, ...]
    cluster_state: ClusterState | None = None
    error: str | None = None  # a failure before any node was asked (cluster discovery)
    checked_at: float = field(default_factory=time.time)

    @property
    def problems(self) -> list[str]:
        """Every reason the report is unhealthy, one line each (empty when healthy)."""
        found = [f"{n.address}: {n.error}" for n in self.nodes if not n.healthy]
        if self.error:
            found.insert(0, self.error)
        state = self.cluster_state
        if state is not None and state.state != "ok":
            found.append(f"cluster state is {state.state} (seen from {state.seen_from})")
        return found

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-safe values."""
        return {
            "healthy": self.healthy,
            "cluster": self.cluster,
            "checked_at": self.checked_at,
            "error": self.error,
            "problems": self.problems,
            "cluster_state": self.cluster_state.to_dict() if self.cluster_state else None,
            "nodes": [n.to_dict() for n in self.nodes],
        }


# -- the pure part: what to ask and how to read the answers ------------------------------------


def _shipped_shas() -> list[tuple[str, str, str]]:
    return [(s.name, s.sha, s.legacy_sha) for s in shipped_scripts().values()]


def probe_commands(cluster: bool) -> list[tuple[Any, ...]]:
    """Return the commands a health check sends to one node, PING first."""
    shas = [sha for _, sha, legacy in _shipped_shas() for sha in (sha, legacy)]
    commands: list[tuple[Any, ...]] = [
        ("PING",),
        ("INFO",),
        ("SCRIPT", "EXISTS", *shas),
        ("FUNCTION", "LIST", "LIBRARYNAME", function_library().name),  # an error before 7.0
    ]
    if cluster:
        commands.append(("CLUSTER", "INFO"))
    return commands


def _failed(reply: Any) -> str | None:
    return describe_error(reply) if isinstance(reply, BaseException) else None


def node_health(node: NodeRef, got: Exchange) -> NodeHealth:
    """Build the row of *node* from the replies to `probe_commands`."""
    ping, info_reply, exists = got.replies[:3]
    problem = _failed(ping) or _failed(info_reply)
    if problem is not None:
        return NodeHealth(node.address, healthy=False, error=problem, role=node.role)
    info = parse_info(info_reply)
    problems = []
    if info.get("loading") == "1":
        problems.append("loading its data set")
    role = {"master": "primary", "slave": "replica"}.get(info.get("role", ""), node.role)
    if role == "replica" and info.get("master_link_status", "up") != "up":
        problems.append("replica link to its primary is down")
    state = None
    if len(got.replies) > 4:
        cluster_reply = got.replies[4]
        if isinstance(cluster_reply, BaseException):
            problems.append(f"CLUSTER INFO failed: {describe_error(cluster_reply)}")
        else:
            state = parse_info(cluster_reply).get("cluster_state")
            if state != "ok":
                problems.append(f"cluster state is {state}")
    loaded, missing = _loaded(exists, _library_loaded(got.replies[3]))
    used, limit = as_int(info.get("used_memory")), as_int(info.get("maxmemory"))
    return NodeHealth(
        node.address,
        healthy=not problems,
        error="; ".join(problems) or None,
        role=role,
        ping=got.seconds[0],
        server=info.get("server_name", "redis"),
        version=info.get("valkey_version", info.get("redis_version")),
        redis_version=info.get("redis_version"),
        mode=info.get("redis_mode", info.get("server_mode")),
        connected_clients=as_int(info.get("connected_clients")),
        used_memory=used,
        maxmemory=limit,
        memory_percent=_percent(used, limit),
        uptime=as_int(info.get("uptime_in_seconds")),
        commands_processed=as_int(info.get("total_commands_processed")),
        cached_scripts=as_int(info.get("number_of_cached_scripts")),
        scripts_memory=as_int(info.get("used_memory_scripts", info.get("used_memory_lua"))),
        shipped_loaded=loaded,
        shipped_total=len(_shipped_shas()),
        shipped_missing=missing,
        cluster_state=state,
    )


def _percent(used: int | None, limit: int | None) -> float | None:
    if used is None or not limit:
        return None
    return round(100.0 * used / limit, 2)


def _library_loaded(reply: Any) -> bool:
    """True when FUNCTION LIST named this release's library (functions mode needs no scripts)."""
    return isinstance(reply, list) and len(reply) > 0


def _loaded(exists: Any, library: bool = False) -> tuple[int | None, tuple[str, ...]]:
    if library:
        return len(_shipped_shas()), ()
    if not isinstance(exists, list):
        return None, ()
    pairs = zip(exists[::2], exists[1::2], strict=True)
    missing = tuple(
        name for (name, _, _), pair in zip(_shipped_shas(), pairs, strict=False) if not any(pair)
    )
    return len(_shipped_shas()) - len(missing), missing


def cluster_state(node: NodeRef, got: Exchange) -> ClusterState | None:
    """Return what CLUSTER INFO said on *node*, if it answered."""
    if len(got.replies) < 5 or isinstance(got.replies[4], BaseException):
        return None
    info = parse_info(got.replies[4])
    return ClusterState(
        state=info.get("cluster_state", "unknown"),
        seen_from=node.address,
        slots_assigned=as_int(info.get("cluster_slots_assigned")),
        slots_ok=as_int(info.get("cluster_slots_ok")),
        slots_pfail=as_int(info.get("cluster_slots_pfail")),
        slots_fail=as_int(info.get("cluster_slots_fail")),
        known_nodes=as_int(info.get("cluster_known_nodes")),
        size=as_int(info.get("cluster_size")),
        current_epoch=as_int(info.get("cluster_current_epoch")),
    )


def report(
    cluster: bool, rows: list[tuple[NodeRef, Exchange | BaseException]], error: str | None = None
) -> HealthReport:
    """Put the rows of every node together; the cluster state is a primary's view."""
    nodes: list[NodeHealth] = []
    views: list[tuple[NodeRef, ClusterState]] = []
    for node, got in rows:
        if isinstance(got, BaseException):
            nodes.append(NodeHealth(node.address, False, describe_error(got), role=node.role))
            continue
        nodes.append(node_health(node, got))
        seen = cluster_state(node, got)
        if seen is not None:
            views.append((node, seen))
    state = next((s for n, s in views if n.role == "primary"), None)
    if state is None and views:
        state = views[0][1]
    healthy = error is None and bool(nodes) and all(n.healthy for n in nodes)
    if state is not None and state.state != "ok":
        healthy = False
    result = HealthReport(healthy, cluster, tuple(nodes), state, error)
    if not healthy:
        _log.info("health check: unhealthy", extra={"redlua_problems": result.problems})
    return result


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (finite("timeout", timeout) and timeout > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    return float(timeout)


# -- the two faces: sync and asyncio -----------------------------------------------------------


def health_check(target: Any, *, timeout: float = DEFAULT_TIMEOUT) -> HealthReport:
    """Check the server behind an `Engine` or a sync redis-py client; never raises for it.

    *timeout* bounds, in seconds, each node's connect and each reply.
    """
    seconds = _check_timeout(timeout)
    client = client_of(target)
    if is_async(client):
        raise TypeError("health_check needs a sync engine or client; use async_health_check")
    cluster = is_cluster(client)
    commands = probe_commands(cluster)
    rows: list[tuple[NodeRef, Exchange | BaseException]] = []
    for node in nodes_of(client):
        try:
            rows.append((node, exchange(node, commands, seconds)))
        except Exception as exc:  # noqa: BLE001 - an unreachable node is a row, not a raise
            rows.append((node, exc))
    return report(cluster, rows)


async def async_health_check(target: Any, *, timeout: float = DEFAULT_TIMEOUT) -> HealthReport:
    """Check the server behind an `AsyncEngine` or an asyncio client; never raises for it.

    *timeout* bounds, in seconds, each node's connect and each reply.
    """
    seconds = _check_timeout(timeout)
    client = client_of(target)
    if not is_async(client):
        raise TypeError("async_health_check needs an asyncio engine or client; use health_check")
    cluster = is_cluster(client)
    if cluster:
        try:
            await client.initialize()  # learns the nodes once; a no-op afterwards
        except Exception as exc:  # noqa: BLE001 - no node to ask is an unhealthy report
            return report(cluster, [], f"cluster discovery failed: {describe_error(exc)}")
    commands = probe_commands(cluster)
    rows: list[tuple[NodeRef, Exchange | BaseException]] = []
    for node in nodes_of(client):
        try:
            rows.append((node, await async_exchange(node, commands, seconds)))
        except Exception as exc:  # noqa: BLE001 - an unreachable node is a row, not a raise
            rows.append((node, exc))
    return report(cluster, rows)
