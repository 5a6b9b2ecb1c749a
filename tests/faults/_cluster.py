"""Cluster helpers for fault tests: who serves a slot, waiting for a failover, moving a slot.

Everything reads the topology from ``CLUSTER NODES`` of a live node (``CLUSTER SLOTS``
leaves out replicas that have not reported an offset yet), and every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from redlua import EmbeddedCluster, EmbeddedServer


@dataclass(frozen=True)
class Shard:
    """A master, its replicas and the slot ranges it serves."""

    master: EmbeddedServer
    replicas: tuple[EmbeddedServer, ...]
    ranges: tuple[tuple[int, int], ...]
    master_id: str

    def owns(self, slot: int) -> bool:
        """True when *slot* is one of this master's."""
        return any(lo <= slot <= hi for lo, hi in self.ranges)


def _admin(node: EmbeddedServer) -> redis.Redis:
    return node.client(decode_responses=True, socket_timeout=2)


def shards(cluster: EmbeddedCluster) -> list[Shard]:
    """Return the shards as a live node sees them, masters with slots only."""
    by_port = {node.port: node for node in cluster.nodes}
    for node in cluster.nodes:
        if not node.is_running():
            continue
        admin = _admin(node)
        try:
            text = str(admin.execute_command("CLUSTER", "NODES"))
        finally:
            admin.close()
        rows = [line.split() for line in text.splitlines() if line.strip()]
        found = []
        for row in rows:
            flags = row[2]
            if "master" not in flags or "fail" in flags or len(row) < 9:
                continue
            port = int(row[1].split("@")[0].rsplit(":", 1)[1])
            ranges = []
            for part in row[8:]:
                if part.startswith("["):
                    continue  # a slot being migrated or imported
                lo, _, hi = part.partition("-")
                ranges.append((int(lo), int(hi or lo)))
            replicas = tuple(
                by_port[int(r[1].split("@")[0].rsplit(":", 1)[1])]
                for r in rows
                if r[3] == row[0] and "fail" not in r[2]
            )
            found.append(Shard(by_port[port], replicas, tuple(ranges), row[0]))
        return found
    raise AssertionError("no cluster node is running")


def shard_of(cluster: EmbeddedCluster, slot: int) -> Shard:
    """Return the shard serving *slot*."""
    return next(shard for shard in shards(cluster) if shard.owns(slot))


def wait_for(what: str, check: Callable[[], bool], within: float) -> float:
    """Poll *check* until true; return the seconds it took, or fail after *within* seconds."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except redis.RedisError:
            pass
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.05)


def promoted(replica: EmbeddedServer) -> bool:
    """True once *replica* is a master and its cluster state is ok."""
    admin = _admin(replica)
    try:
        role = admin.execute_command("ROLE")[0]
        state = str(admin.execute_command("CLUSTER", "INFO"))
        return bool(role == "master" and "cluster_state:ok" in state)
    finally:
        admin.close()


def in_sync(replica: EmbeddedServer) -> bool:
    """True while *replica* follows a master and its link is up."""
    admin = _admin(replica)
    try:
        info = admin.info("replication")
        return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")
    finally:
        admin.close()


def rejoin(cluster: EmbeddedCluster, node: EmbeddedServer, within: float = 15.0) -> None:
    """Start a killed node again (its nodes.conf kept) and wait until it is an in-sync replica."""
    node.start()
    wait_for("the old master to rejoin as a replica", lambda: in_sync(node), within)
    wait_for(
        "every shard to have a replica again",
        lambda: all(shard.replicas for shard in shards(cluster)),
        within,
    )


class Migration:
    """Move one slot from its master to another, by hand, in the steps ASK and TRYAGAIN need."""

    def __init__(self, cluster: EmbeddedCluster, slot: int) -> None:
        self.slot = slot
        self.all = shards(cluster)
        self.src = next(shard for shard in self.all if shard.owns(slot))
        self.dst = next(shard for shard in self.all if shard is not self.src)
        self.src_admin = _admin(self.src.master)
        self.dst_admin = _admin(self.dst.master)

    def begin(self) -> list[str]:
        """Mark the slot IMPORTING and MIGRATING; return the keys it holds."""
        self.dst_admin.execute_command(
            "CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.src.master_id
        )
        self.src_admin.execute_command(
            "CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.dst.master_id
        )
        keys = self.src_admin.execute_command("CLUSTER", "GETKEYSINSLOT", self.slot, 10_000)
        return [str(key) for key in keys]

    def move(self, keys: list[str]) -> None:
        """MIGRATE *keys* (those still on the source) to the destination."""
        if keys:
            self.src_admin.execute_command(
                "MIGRATE", self.dst.master.host, self.dst.master.port, "", 0, 5000, "KEYS", *keys
            )

    def finish(self) -> None:
        """Move what is left and give the slot to the destination on every master."""
        left = self.src_admin.execute_command("CLUSTER", "GETKEYSINSLOT", self.slot, 10_000)
        self.move([str(key) for key in left])
        for shard in (self.dst, self.src, *(s for s in self.all if s not in (self.src, self.dst))):
            admin = _admin(shard.master)
            try:
                admin.execute_command("CLUSTER", "SETSLOT", self.slot, "NODE", self.dst.master_id)
            finally:
                admin.close()

    def close(self) -> None:
        """Close the admin connections."""
        self.src_admin.close()
        self.dst_admin.close()
