"""Recipe statistics: what locks record about waits, hand-overs, holds and lost leases."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from redlua import Engine, NotOwnerError
from redlua.locks import Lock
from redlua.ops import RecipeStats, recipe_stats
from redlua.ops.metrics import register


def test_recipe_stats_count_and_time() -> None:
    """Counts add up, timings keep count, sum, max and percentiles; reset forgets."""
    stats = RecipeStats()
    stats.count("x.done")
    stats.count("x.done", 2)
    for ms in (1, 2, 3, 4):
        stats.observe("x.wait", ms / 1000)
    snap = stats.snapshot()
    assert snap.counts == {"x.done": 3}
    timing = snap.timings["x.wait"]
    assert timing.count == 4 and abs(timing.sum - 0.010) < 1e-9 and timing.max == 0.004
    assert timing.p50 is not None and 0.0019 < timing.p50 < 0.0022
    assert snap.to_dict()["timings"]["x.wait"]["count"] == 4
    stats.reset()
    assert stats.snapshot().counts == {} and stats.snapshot().timings == {}


def test_each_engine_has_its_own_recipe_stats(server_url: str) -> None:
    """recipe_stats(engine) is made once per engine and kept for it."""
    one = Engine(redis.Redis.from_url(server_url))
    two = Engine(redis.Redis.from_url(server_url))
    assert recipe_stats(one) is recipe_stats(one) is not recipe_stats(two)


def test_locks_record_waits_hand_overs_holds_and_losses(server_url: str, r: redis.Redis) -> None:
    """A contended fair lock records a wait, a hand-over and hold times; a lost lease a loss."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    engine = Engine(client)
    holder = Lock(engine, "stats", ttl=10, fair=True)
    waiter = Lock(engine, "stats", ttl=10, fair=True)
    holder.acquire()
    thread = threading.Thread(target=lambda: (waiter.acquire(timeout=5), waiter.release()))
    thread.start()
    deadline = time.monotonic() + 5
    while not r.exists("redlua:lock:{stats}:waiters"):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(0.05)
    holder.release()
    thread.join(5)
    lost = Lock(engine, "gone", ttl=10)
    lost.acquire()
    r.delete("redlua:lock:{gone}")
    with pytest.raises(NotOwnerError):
        lost.renew()
    snap = recipe_stats(engine).snapshot()
    assert snap.counts["lock.acquired"] == 3
    assert snap.counts["lock.waited"] == 1 and snap.counts["lock.handed_over"] == 1
    assert snap.counts["lock.lost"] == 1
    assert snap.timings["lock.wait"].count == 1 and snap.timings["lock.wait"].max >= 0.04
    assert snap.timings["lock.held"].count == 2
    registry = CollectorRegistry()
    register(engines={"main": engine}, registry=registry)
    text = generate_latest(registry).decode()
    assert 'redlua_recipe_events_total{engine="main",event="lock.handed_over"} 1.0' in text
    assert 'redlua_recipe_seconds_count{engine="main",timing="lock.wait"} 1.0' in text
    client.close()


def test_rate_limiters_count_their_decisions(server_url: str) -> None:
    """Every hit counts as allowed or denied in the engine's recipe statistics."""
    from redlua.ratelimit import Limit, RateLimiter

    engine = Engine(redis.Redis.from_url(server_url))
    limiter = RateLimiter(engine, Limit(3, 60, "fixed_window"))
    for _ in range(5):
        limiter.hit("u1", now=1000.0)
    counts = recipe_stats(engine).snapshot().counts
    assert counts["ratelimit.allowed"] == 3 and counts["ratelimit.denied"] == 2
