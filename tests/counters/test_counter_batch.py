"""Counter batches on a standalone server and on a cluster: per-change results, slots, atomicity."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from redlua import CorruptDataError, CrossSlotError, EmbeddedCluster
from redlua.counters import (
    CounterOps,
    CounterOverflowError,
    CounterUpdate,
    Decrement,
    Increment,
    SetValue,
    Threshold,
)
from redlua.counters.batch import MAX_CALL_KEYS
from tests.counters import INT64_MAX, make_counters


def test_each_change_applies_or_is_refused_on_its_own(engine: Any, r: redis.Redis) -> None:
    """A batch returns one result per change, in order; refused changes leave their counter."""
    counters = make_counters(engine)
    counters.set("b", 1)
    counters.set("d", 9)
    results = counters.batch(
        [
            Increment("a", 5, maximum=10),
            Decrement("b", 2),
            SetValue("c", -4),
            Increment("d", 2, maximum=10),
            Decrement("d2"),
            Increment("e", 2**62, maximum=INT64_MAX),
        ]
    )
    assert results == [
        CounterUpdate(True, 5),
        CounterUpdate(False, 1),
        CounterUpdate(True, -4),
        CounterUpdate(False, 9),
        CounterUpdate(False, 0),
        CounterUpdate(True, 2**62),
    ]
    assert counters.get_many(["a", "b", "c", "d", "d2", "e"]) == [5, 1, -4, 9, 0, 2**62]
    assert r.exists("redlua:counter:{d2}") == 0


def test_all_or_nothing_refuses_every_change(engine: Any, r: redis.Redis) -> None:
    """In a group, one refused change refuses the whole batch; a batch that fits applies whole."""
    cart = make_counters(engine, group="cart:7")
    cart.set("apples", 3)
    changes = [Decrement("apples", 2), Increment("pears", 1, maximum=5), Decrement("plums")]
    refused = cart.batch(changes, all_or_nothing=True)
    assert refused == [CounterUpdate(False, 3), CounterUpdate(False, 0), CounterUpdate(False, 0)]
    assert r.keys("*") == ["redlua:counter:{cart:7}:apples"] and r.get(r.keys("*")[0]) == "3"
    cart.set("plums", 1)
    applied = cart.batch(changes, all_or_nothing=True)
    assert applied == [CounterUpdate(True, 1), CounterUpdate(True, 1), CounterUpdate(True, 0)]
    assert cart.batch(changes) == [
        CounterUpdate(False, 1),
        CounterUpdate(True, 2),
        CounterUpdate(False, 0),
    ]


def test_all_or_nothing_needs_one_slot(engine: Any, r: redis.Redis) -> None:
    """Without a group, an all-or-nothing batch over several slots raises before any I/O."""
    counters = make_counters(engine)
    with pytest.raises(CrossSlotError, match="group"):
        counters.batch([Increment("a"), Increment("b")], all_or_nothing=True)
    assert counters.batch([Increment("a")], all_or_nothing=True) == [CounterUpdate(True, 1)]
    assert counters.batch([]) == [] and counters.get_many([]) == []
    assert r.keys("*") == ["redlua:counter:{a}"]


def test_batch_ttls(engine: Any, r: redis.Redis) -> None:
    """Increment's ttl is given on create only; SetValue's replaces the expiry, None keeps it."""
    counters = make_counters(engine)
    counters.set("old", 1)
    counters.batch([Increment("new", ttl=5), Increment("old", ttl=5), SetValue("s", 1, ttl=5)])
    assert 4800 < r.pttl("redlua:counter:{new}") <= 5000
    assert r.pttl("redlua:counter:{old}") == -1
    assert 4800 < r.pttl("redlua:counter:{s}") <= 5000
    counters.batch([SetValue("s", 2), Increment("new", ttl=50)])
    assert 4500 < r.pttl("redlua:counter:{s}") <= 5000
    assert 4500 < r.pttl("redlua:counter:{new}") <= 5000


def test_a_broken_counter_or_an_overflow_fails_its_call_whole(engine: Any, r: redis.Redis) -> None:
    """A corrupt counter or an overflow in a group's call raises; nothing of that call is written."""
    cart = make_counters(engine, group="g")
    cart.set("top", INT64_MAX)
    with pytest.raises(CounterOverflowError):
        cart.batch([SetValue("x", 5), Increment("top")])
    r.set("redlua:counter:{g}:bad", "x")
    with pytest.raises(CorruptDataError):
        cart.batch([Increment("y"), Decrement("bad")])
    assert sorted(r.keys("*")) == ["redlua:counter:{g}:bad", "redlua:counter:{g}:top"]
    assert cart.get("top") == INT64_MAX


def test_bad_batches_raise_before_any_io(engine: Any, r: redis.Redis) -> None:
    """Repeated names, foreign items and bad changes raise naming the problem; nothing is sent."""
    counters = make_counters(engine)
    with pytest.raises(ValueError, match="twice"):
        counters.batch([Increment("a"), Decrement("a")])
    with pytest.raises(TypeError, match="changes\\[1\\]"):
        counters.batch([Increment("a"), ("incr", "b", 1)])
    with pytest.raises(TypeError, match="all_or_nothing"):
        counters.batch([Increment("a")], all_or_nothing=1)
    bad: list[tuple[Any, type[Exception], str]] = [
        (lambda: Increment("a", 0), ValueError, "amount"),
        (lambda: Increment("a", 1.0), TypeError, "amount"),
        (lambda: Increment("a", 1, -1), ValueError, "maximum"),
        (lambda: Increment("a", ttl=float("nan")), ValueError, "ttl"),
        (lambda: Increment("{a}"), ValueError, "name"),
        (lambda: Decrement("a", -1), ValueError, "amount"),
        (lambda: Decrement("a", True), TypeError, "amount"),
        (lambda: SetValue("a", 2**63), ValueError, "value"),
        (lambda: SetValue("a", float("inf")), TypeError, "value"),
        (lambda: SetValue("a", 1, ttl=-2), ValueError, "ttl"),
    ]
    for make, error, word in bad:
        with pytest.raises(error, match=word):
            make()
    assert r.keys("*") == []


def test_one_call_per_slot_and_long_groups_split() -> None:
    """A batch plans one call per slot; a group's counters share one, split every MAX_CALL_KEYS."""
    ops, grouped = CounterOps(), CounterOps(group="g")
    names = [f"n{i}" for i in range(50)]
    plan = ops.batch([Increment(n) for n in names])
    assert len(plan.calls) == len({ops.keys(n).slot for n in names})
    assert sorted(i for places in plan.places for i in places) == list(range(50))
    many = [Increment(f"n{i}") for i in range(MAX_CALL_KEYS * 2 + 1)]
    assert [len(c.keys) for c in grouped.batch(many).calls] == [MAX_CALL_KEYS] * 2 + [1]
    whole = grouped.batch(many, all_or_nothing=True)
    assert len(whole.calls) == 1 and whole.calls[0].args[0] == "all"
    with pytest.raises(ValueError, match="expected 1 replies"):
        whole.collect([])


def test_get_many_keeps_order_and_repeats(engine: Any, r: redis.Redis) -> None:
    """get_many returns one value per name in the order given, repeats included."""
    counters = make_counters(engine)
    counters.batch([SetValue(f"n{i}", i) for i in range(30)])
    names = [f"n{i}" for i in reversed(range(30))] + ["n3", "absent"]
    assert counters.get_many(names) == [*reversed(range(30)), 3, 0]


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_batches_and_thresholds_on_the_cluster(
    cluster_engine: Any, cluster: EmbeddedCluster
) -> None:
    """Batches over counters on every master, a group's all-or-nothing batch, streams, reads."""
    host, port = cluster.startup_nodes[0]
    raw = RedisCluster(host=host, port=port, decode_responses=True)
    counters = make_counters(cluster_engine)
    names = [f"c{i}" for i in range(40)]
    nodes = {raw.get_node_from_key(counters.ops.keys(n).counter).name for n in names}
    assert len(nodes) == 3  # the batch spans every master
    first = counters.batch([Increment(n, i + 1, maximum=30) for i, n in enumerate(names)])
    assert [u.applied for u in first] == [i + 1 <= 30 for i in range(40)]
    assert counters.get_many(names) == [i + 1 if i + 1 <= 30 else 0 for i in range(40)]
    second = counters.batch([Decrement(n, 5) for n in names] + [SetValue("big", 2**62 + 7)])
    assert [u.value for u in second[:40]] == [
        i - 4 if 5 <= i + 1 <= 30 else (i + 1 if i + 1 <= 30 else 0) for i in range(40)
    ]
    assert second[40] == CounterUpdate(True, 2**62 + 7) and raw.get("redlua:counter:{big}") == str(
        2**62 + 7
    )
    cart = make_counters(cluster_engine, group="cart")
    assert cart.batch([Increment("a"), Decrement("b")], all_or_nothing=True) == [
        CounterUpdate(False, 0),
        CounterUpdate(False, 0),
    ]
    assert raw.exists("redlua:counter:{cart}:a") == 0
    alert = Threshold(2, stream=True)
    before = counters.get_many(names[:8])
    for name in names[:8]:
        counters.increment_with_limit(name, 2, notify=alert)
    crossed = [len(counters.events(n)) for n in names[:8]]
    assert crossed == [1 if 0 <= b < 2 else 0 for b in before] and 0 < sum(crossed) < 8
    raw.close()
