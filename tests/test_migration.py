"""A slot migration in progress: ASK is followed, TRYAGAIN is waited out within the deadline."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redlua import AsyncEngine, Call, EmbeddedCluster, Engine, Script, key_slot

from .scripts import INCR

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PAIR = Script.from_source(
    "test_pair",
    "--[[\n  Increment two keys of one slot.\n\n  KEYS[1]  first\n  KEYS[2]  second\n\n"
    "  Returns  the sum of both new values.\n]]\n"
    "return redis.call('INCR', KEYS[1]) + redis.call('INCR', KEYS[2])\n",
)


class Migration:
    """Move the slot of ``{mig}`` from its owner to another master, step by step."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.slot = key_slot("{mig}")
        self.clients = [node.client(decode_responses=True) for node in cluster.nodes]
        owners = [c for c in self.clients if self._owns(c)]
        self.src = owners[0]
        self.dst = next(c for c in self.clients if c is not self.src)
        self.src_id = self.src.execute_command("CLUSTER", "MYID")
        self.dst_id = self.dst.execute_command("CLUSTER", "MYID")

    def _owns(self, client: redis.Redis) -> bool:
        port = client.connection_pool.connection_kwargs["port"]
        for start, end, primary, *_replicas in client.execute_command("CLUSTER", "SLOTS"):
            if start <= self.slot <= end and primary[1] == port:
                return True
        return False

    def begin(self) -> None:
        self.dst.execute_command("CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.src_id)
        self.src.execute_command("CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.dst_id)

    def move(self, key: str) -> None:
        port = self.dst.connection_pool.connection_kwargs["port"]
        self.src.execute_command("MIGRATE", "127.0.0.1", port, "", 0, 5000, "KEYS", key)

    def finish(self) -> None:
        for client in self.clients:
            client.execute_command("CLUSTER", "SETSLOT", self.slot, "NODE", self.dst_id)

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def migrating() -> Iterator[tuple[EmbeddedCluster, Migration]]:
    """A fresh cluster (the slot map changes) with ``{mig}1`` already moved, ``{mig}2`` not."""
    with EmbeddedCluster(masters=3) as cluster:
        migration = Migration(cluster)
        migration.src.set("{mig}1", 10)
        migration.src.set("{mig}2", 20)
        migration.begin()
        migration.move("{mig}1")
        yield cluster, migration
        migration.close()


def _finish_later(migration: Migration, delay: float) -> threading.Thread:
    def later() -> None:
        time.sleep(delay)
        migration.move("{mig}2")
        migration.finish()

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_sync_engine_follows_ask_and_waits_out_tryagain(
    migrating: tuple[EmbeddedCluster, Migration],
) -> None:
    """ASK reaches the moved key; a two-key call waits through TRYAGAIN until the move ends."""
    cluster, migration = migrating
    client = cluster.client(decode_responses=True)
    engine = Engine(client)
    try:
        assert engine.run(Call(INCR, ("{mig}1",), (1,))) == 11  # ASK -> ASKING + EVALSHA
        thread = _finish_later(migration, 0.5)
        assert engine.run(Call(PAIR, ("{mig}1", "{mig}2"))) == 12 + 21  # TRYAGAIN, then runs
        thread.join()
        assert engine.stats()["test_pair"].retries >= 1
        assert migration.dst.mget("{mig}1", "{mig}2") == ["12", "21"]
    finally:
        client.close()


def test_async_engine_follows_ask_and_waits_out_tryagain(
    migrating: tuple[EmbeddedCluster, Migration],
) -> None:
    """The async engine follows the same redirects."""
    cluster, migration = migrating

    async def main() -> tuple[Any, Any]:
        client = cluster.async_client(decode_responses=True)
        engine = AsyncEngine(client)
        try:
            first = await engine.run(Call(INCR, ("{mig}1",), (1,)))
            thread = _finish_later(migration, 0.5)
            second = await engine.run(Call(PAIR, ("{mig}1", "{mig}2")))
            thread.join()
            return first, second
        finally:
            await client.aclose()

    assert asyncio.run(main()) == (11, 33)
