"""Cluster faults on 3 masters + 3 replicas: a slot migration, a master killed mid-run, a lossy failover.

Replication is asynchronous: a promoted replica has every write its master sent it, in
order, and may miss the last ones. So after a failover the conservation laws hold
(ledger totals, stock + reserved + sold, counters under their ceilings, limits), a
script's effects are there entirely or not at all, and what can be lost is a suffix of
acknowledged writes: a lock grant among them makes a second holder possible, with the
same fencing token. The tests show each of these, and the last one what fencing does not
cover today.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from redlua import (
    AsyncEngine,
    EmbeddedCluster,
    EmbeddedServer,
    Engine,
    OutcomeUnknownError,
    RetryPolicy,
    key_slot,
    load_script,
)
from redlua.counters import AsyncCounters
from redlua.locks import Lock, fenced_set, lock_keys

from ._cluster import Migration, in_sync, promoted, rejoin, shard_of, shards, wait_for
from ._world import NOT_RUN, Tally, World, mode_of, tagged

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

FAILOVER_BOUND = 15.0
"""Seconds a replica may take to be promoted (cluster-node-timeout is 2 s here)."""


@pytest.fixture(scope="module")
def six() -> Iterator[EmbeddedCluster]:
    """Three masters, each with one replica, for this module (tests kill and restore nodes)."""
    with EmbeddedCluster(masters=3, replicas=3) as cluster:
        yield cluster


@pytest.fixture
def cluster_client(six: EmbeddedCluster) -> Iterator[Any]:
    """A RedisCluster client on the six nodes, closed after the test."""
    client = six.client(decode_responses=True)
    yield client
    client.close()


def _run_async_counter(six: EmbeddedCluster, name: str, stop: threading.Event) -> Tally:
    """Increment *name* from an AsyncEngine until *stop*; return what the callers were told."""
    tally = Tally()

    async def main() -> None:
        client = six.async_client(decode_responses=True)
        try:
            counters = AsyncCounters(AsyncEngine(client, retry=RetryPolicy(deadline=12)))
            while not stop.is_set():
                try:
                    await counters.increment_with_limit(name, maximum=10**9)
                except OutcomeUnknownError:
                    tally.unknown += 1
                except NOT_RUN as exc:
                    tally.not_run += 1
                    tally.errors.append(repr(exc))
                else:
                    tally.applied += 1
            tally.refused = await counters.get(name)  # the value, reported in `refused`
        finally:
            await client.aclose()

    asyncio.run(main())
    return tally


def test_slot_migration_is_waited_out(six: EmbeddedCluster, cluster_client: Any) -> None:
    """Every recipe's keys in one slot, half of them moved: calls wait out ASK/TRYAGAIN, in bound."""
    slot = key_slot(tagged("w-lock0"))  # any slot; every recipe below is placed in it
    engine = Engine(cluster_client, retry=RetryPolicy(deadline=5))
    world = World(engine, "mig", where=lambda s: s == slot).setup()
    world.work(80)
    migration = Migration(six, slot)
    try:
        keys = migration.begin()
        assert len(keys) > 10
        migration.move(keys[: len(keys) // 2])
        finisher = threading.Timer(0.8, migration.finish)
        finisher.start()
        engine.reset_stats()
        started = time.monotonic()
        world.work(80, seed=1)
        finisher.join()
        world.work(40, seed=2)
    finally:
        migration.close()
    assert time.monotonic() - started < 5 + 2  # nothing waited past its deadline
    assert sum(s.retries for s in engine.stats().values()) >= 1  # TRYAGAIN/ASK/MOVED met
    for tally in world.tally.values():
        assert tally.unknown == 0 and tally.not_run == 0, tally.errors[:3]
    world.check()
    assert shard_of(six, slot).master is migration.dst.master


def test_master_killed_mid_run(six: EmbeddedCluster, cluster_client: Any) -> None:
    """SIGKILL a master under load: its replica takes over, scripts reload there, invariants hold."""
    victim = shards(six)[0]
    replica = victim.replicas[0]
    engine = Engine(cluster_client, retry=RetryPolicy(deadline=12))
    world = World(engine, "kill", where=victim.owns).setup()
    counter = next(f"akill{i}" for i in range(100_000) if victim.owns(key_slot(f"{{akill{i}}}")))
    stop = threading.Event()
    workers = [
        threading.Thread(target=world.work, args=(1_000_000, seed, stop)) for seed in range(3)
    ]
    results: list[Tally] = []
    aworker = threading.Thread(
        target=lambda: results.append(_run_async_counter(six, counter, stop))
    )
    for worker in (*workers, aworker):
        worker.start()
    try:
        time.sleep(0.7)
        victim.master.kill()
        killed = time.monotonic()
        took = wait_for("the replica's promotion", lambda: promoted(replica), FAILOVER_BOUND)
        engine.reset_stats()  # from here on every call runs on the new primary
        before = {kind: tally.applied for kind, tally in world.tally.items()}
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in (*workers, aworker):
            worker.join(30)
    try:
        assert took < FAILOVER_BOUND
        after = sum(t.applied for t in world.tally.values()) - sum(before.values())
        assert after > 0, world.summary()  # work resumed on the new primary
        seen = world.check(lossy=True)
        assert all(at >= killed for at, _ in seen["overlaps"]), seen["overlaps"]
        assert sum(t.not_run for t in world.tally.values()) == 0, world.summary()
        _assert_reloaded(engine, replica)
        (atally,) = results
        assert atally.not_run == 0, atally.errors[:3]
        assert atally.refused <= atally.applied + atally.unknown  # never ran twice
    finally:
        rejoin(six, victim.master)


def _assert_reloaded(engine: Engine, primary: EmbeddedServer) -> None:
    """The scripts *engine* ran since its stats were reset are on *primary* (or its library)."""
    used = [load_script(name) for name, stats in engine.stats().items() if stats.calls]
    admin = primary.client(decode_responses=True)
    try:
        if mode_of(engine) == "functions":  # replicated with the data: nothing to reload
            library = engine.library.name
            assert admin.execute_command("FUNCTION", "LIST", "LIBRARYNAME", library)
        else:  # the promoted replica had none of them: redlua loaded them there
            assert admin.script_exists(*(s.sha for s in used)) == [True] * len(used)
    finally:
        admin.close()


def test_lossy_failover_allows_a_second_lock_holder(
    six: EmbeddedCluster, cluster_client: Any
) -> None:
    """A grant the replica never applied is lost with its fencing INCR: two holders, one token."""
    victim = next(s for s in shards(six)[1:] if s.replicas and in_sync(s.replicas[0]))
    replica = victim.replicas[0]
    engine = Engine(cluster_client, retry=RetryPolicy(deadline=12))
    world = World(engine, "lossy", where=victim.owns).setup()
    world.work(60)
    name = next(f"lossy{i}" for i in range(100_000) if victim.owns(lock_keys(f"lossy{i}").slot))
    admin = replica.client()
    try:
        wait_for("the replica to catch up", lambda: _caught_up(victim.master, replica), 5)
        admin.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")  # it stops applying the stream
        first = Lock(engine, name, ttl=60, fencing=True)
        assert first.acquire(blocking=False)
        world.work(40, seed=1)  # acknowledged by the master, never applied by the replica
        victim.master.kill()
        wait_for("the paused replica's promotion", lambda: promoted(replica), FAILOVER_BOUND)
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    try:
        second = Lock(engine, name, ttl=60, fencing=True)
        assert second.acquire(blocking=False)  # while the first holder's lease still runs
        assert not first.lost and first.fence == second.fence  # one token: fencing cannot tell
        assert not first.owned() and second.owned()
        world.check(lossy=True)  # the conservation laws survive losing a suffix of writes
        second.release()
    finally:
        rejoin(six, victim.master)


def _caught_up(master: EmbeddedServer, replica: EmbeddedServer) -> bool:
    """True when the replica has applied everything its master sent."""
    madmin, radmin = master.client(), replica.client()
    try:
        sent = int(madmin.info("replication")["master_repl_offset"])
        applied = int(radmin.info("replication")["slave_repl_offset"])
        return applied >= sent
    finally:
        madmin.close()
        radmin.close()


@pytest.fixture
def primary_and_replica(
    servers: Callable[..., EmbeddedServer],
) -> tuple[EmbeddedServer, EmbeddedServer]:
    """A standalone primary and a replica in sync with it (stopped by `servers`)."""
    primary = servers(config={"repl-diskless-sync-delay": "0"})
    replica = servers()
    admin = replica.client()
    try:
        admin.replicaof(primary.host, primary.port)
        wait_for("the replica's link", lambda: _linked(admin), 10)
    finally:
        admin.close()
    return primary, replica


def _linked(admin: redis.Redis) -> bool:
    return bool(admin.info("replication").get("master_link_status") == "up")


def test_fencing_refuses_the_holder_a_failover_forgot(
    primary_and_replica: tuple[EmbeddedServer, EmbeddedServer],
    clients: Callable[..., redis.Redis],
) -> None:
    """After a lossy failover the forgotten holder's fenced write is refused (holder given)."""
    primary, replica = primary_and_replica
    old = Engine(clients(primary.url))
    first = Lock(old, "fenced", ttl=60, fencing=True)
    assert first.acquire(blocking=False)
    first.release()
    paused = clients(replica.url)
    assert clients(primary.url).wait(1, 10_000) == 1  # the replica has fence 1
    fence = lock_keys("fenced").fence
    wait_for("fence 1 on the replica", lambda: paused.get(fence) == "1", 10)
    paused.execute_command("CLIENT", "PAUSE", 30_000, "WRITE")
    first = Lock(old, "fenced", ttl=60, fencing=True)
    assert first.acquire(blocking=False)  # fence 2, never applied by the replica
    primary.kill()
    paused.execute_command("REPLICAOF", "NO", "ONE")  # the failover
    paused.execute_command("CLIENT", "UNPAUSE")
    new = Engine(clients(replica.url))
    second = Lock(new, "fenced", ttl=60, fencing=True)
    assert second.acquire(blocking=False)
    # the lost grant's INCR was lost too, so both hold the same fence: only holder= tells them apart
    assert second.fence == first.fence == 2
    data = "{fenced}:data"
    assert new.run(fenced_set(data, "second", second.fence, holder=second.token)) is True
    late = new.run(fenced_set(data, "first", first.fence, holder=first.token))  # forgotten
    assert late is False and clients(replica.url).get("{fenced}:data") == "second"
