"""Rate limiters on a local 3-master cluster: every request's keys on one slot, on one node."""

from __future__ import annotations

from typing import Any

import pytest

from redlua import key_slot
from redlua.ratelimit import ALGORITHMS, Limit, RateLimitOps
from tests.ratelimit import T0, make_limiter

pytestmark = pytest.mark.cluster


def test_every_algorithm_and_tagged_multi_limits_run_on_a_cluster(cluster_engine: Any) -> None:
    """Each algorithm, and per-user plus per-tenant limits together, work across the nodes."""
    limits = [Limit(3, 60, algorithm) for algorithm in ALGORITHMS]
    limits.append(Limit(4, 60, "sliding_log", name="tenant", scope="tag"))
    limiter = make_limiter(cluster_engine, *limits)
    tenants = [f"tenant{i}" for i in range(12)]  # spread over the three masters
    assert len({key_slot("{" + t + "}") * 3 // 16384 for t in tenants}) == 3
    for tenant in tenants:
        assert all(limiter.hit("alice", tag=tenant, now=T0) for _ in range(3))
        assert not limiter.hit("alice", tag=tenant, now=T0)
        bob = limiter.hit("bob", tag=tenant, now=T0)
        assert bob and bob.parts[-1].remaining == 0
        assert not limiter.hit("carol", tag=tenant, now=T0).parts[-1].allowed
        assert limiter.refund("bob", tag=tenant, now=T0).parts[-1].remaining == 1
        assert limiter.reset("alice", tag=tenant) == len(limits)


def test_batches_group_identities_by_node(cluster_engine: Any) -> None:
    """run_many of hits for many identities comes back in order, one decision each."""
    ops = RateLimitOps(Limit(2, 60, "gcra"))
    calls = [ops.hit(f"user{i % 20}", now=T0) for i in range(60)]
    decisions = cluster_engine.run_many(calls)
    assert [d.allowed for d in decisions] == [True] * 40 + [False] * 20


def test_one_limit_requests_run_their_own_script_on_every_node(cluster_engine: Any) -> None:
    """Lone limits take the lean scripts on all three masters, alternating with the generic one."""
    identities = [f"user{i}" for i in range(12)]
    assert len({key_slot("{" + name + "}") * 3 // 16384 for name in identities}) == 3
    for algorithm in ALGORITHMS:
        limit = Limit(3, 60, algorithm)
        lean = RateLimitOps(limit)
        both = RateLimitOps(limit, Limit(10**6, 60, "fixed_window", name="wide"))
        assert lean.hit("u").script.name == f"ratelimit_apply_{algorithm}"
        for name in identities:
            got = [
                cluster_engine.run(lean.hit(name, now=T0)),
                cluster_engine.run(both.hit(name, now=T0)).parts[0],
                cluster_engine.run(lean.hit(name, now=T0)),
                cluster_engine.run(both.hit(name, now=T0)).parts[0],
            ]
            assert [d.allowed for d in got] == [True, True, True, False], (algorithm, name)
            assert [d.remaining for d in got] == [2, 1, 0, 0]
            assert cluster_engine.run(lean.refund(name, now=T0)).remaining == 1
        assert cluster_engine.run_many([lean.peek(n, now=T0) for n in identities]) == [
            cluster_engine.run(lean.peek(identities[0], now=T0))
        ] * len(identities)
