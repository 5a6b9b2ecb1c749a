"""The engine on a local 3-master cluster: routing, per-node batches, per-node NOSCRIPT."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from redlua import Call, CrossSlotError, EmbeddedCluster, Engine, key_slot

from .scripts import APPEND, GET, INCR

pytestmark = pytest.mark.cluster


def _keys_on_every_node(cluster: EmbeddedCluster) -> list[str]:
    """Return one key per master (found by slot ranges)."""
    found: dict[int, str] = {}
    bounds = [0, 5461, 10923, 16384]
    for i in range(10_000):
        key = f"k{i}"
        node = next(n for n in range(3) if bounds[n] <= key_slot(key) < bounds[n + 1])
        found.setdefault(node, key)
        if len(found) == 3:
            break
    return [found[n] for n in range(3)]


def test_calls_route_to_the_slot_owner(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """Each call runs on the master that owns its slot."""
    for key in _keys_on_every_node(cluster):
        assert cluster_engine.run(Call(INCR, (key,), (3,))) == 3
        assert cluster_engine.run(Call(GET, (key,))) == "3"


def test_batch_is_grouped_per_node(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """run_many over keys of three nodes returns every reply in call order."""
    keys = _keys_on_every_node(cluster)
    calls = [Call(APPEND, (keys[i % 3],), (str(i),)) for i in range(30)]
    assert cluster_engine.run_many(calls) == [i // 3 + 1 for i in range(30)]


def test_noscript_on_one_node_is_healed_there(
    cluster_engine: Any, cluster: EmbeddedCluster
) -> None:
    """A SCRIPT FLUSH on one master is healed on that node, single calls and batches alike."""
    keys = _keys_on_every_node(cluster)
    cluster_engine.run_many([Call(INCR, (k,), (1,)) for k in keys])
    victim = cluster.nodes[1].client()
    victim.script_flush()
    victim.close()
    assert cluster_engine.run_many([Call(INCR, (k,), (1,)) for k in keys]) == [2, 2, 2]
    victim = cluster.nodes[2].client()
    victim.script_flush()
    victim.close()
    assert cluster_engine.run(Call(INCR, (keys[2],), (1,))) == 3


def test_atomic_batch_on_one_slot(cluster_engine: Any) -> None:
    """A MULTI/EXEC batch on one hash tag runs on its node."""
    calls = [Call(INCR, ("{acct:7}:a",), (-4,)), Call(INCR, ("{acct:7}:b",), (4,))]
    assert cluster_engine.run_many(calls, atomic=True) == [-4, 4]


def test_atomic_batch_refuses_several_slots(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """An atomic batch over keys of several slots raises CrossSlotError before any I/O."""
    keys = _keys_on_every_node(cluster)
    with pytest.raises(CrossSlotError):
        cluster_engine.run_many([Call(INCR, (k,), (1,)) for k in keys], atomic=True)


def test_preload_reaches_every_primary(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """preload() loads the scripts on every master; exists() is true on all."""
    for node in cluster.nodes:
        c = node.client()
        c.script_flush()
        c.close()
    cluster_engine.register("test_incr", INCR)
    cluster_engine.preload()
    loaded = cluster_engine.exists()
    assert loaded["test_incr"] and loaded["core_ping"]
    assert all(loaded.values())
    for node in cluster.nodes:
        c: redis.Redis = node.client()
        assert c.script_exists(INCR.sha) == [True]
        c.close()


def test_keyless_call_runs_on_some_primary(cluster_engine: Any) -> None:
    """A call without keys runs on the default node."""
    from redlua import load_script

    assert cluster_engine.run(Call(load_script("core_ping")))[0] in ("redis", "valkey")


def test_threads_share_writes_per_node(cluster: EmbeddedCluster) -> None:
    """16 threads on a sync cluster engine: keys on every node, each reply the thread's own."""
    host, port = cluster.startup_nodes[0]
    client = RedisCluster(host=host, port=port, decode_responses=True)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    engine = Engine(client)
    keys = _keys_on_every_node(cluster)
    engine.preload([INCR])
    wrong: list[Any] = []
    start = threading.Barrier(16)

    def work(t: int) -> None:
        start.wait()
        for i in range(100):
            got = engine.run(Call(INCR, (keys[(t + i) % len(keys)],), (1,)))
            if not isinstance(got, int):
                wrong.append(got)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not wrong
        assert sum(int(client.get(key) or 0) for key in keys) == 1600
        assert engine.pipelining
        assert engine._pipe is not None and engine._pipe.calls == 1600
    finally:
        client.close()
