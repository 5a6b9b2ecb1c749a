"""Sizes no caller should send: 20 MB values, 10,000-item batches, deep JSON.

Redis' Lua is 5.1 with ``LUAI_MAXCSTACK`` 8000: ``unpack(t)`` of more than about 8000
elements fails with "too many results to unpack". Every ``unpack(`` in ``lua/*.lua`` and
``lua/lib/*.lua`` is listed in `UNPACKS` with the test that attacks it with more than 8000
items (a test checks the list is complete), and every batch a recipe takes is tried at
10,000 items. Values of 20 MB go through each recipe that stores values, byte for byte; names
and texts with a bound are refused at 20 MB by a `ValueError` naming them.
"""

from __future__ import annotations

import json
import os
import re
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import redis

from redlua import CorruptDataError, Engine, ScriptError
from redlua.batch import Batch, BatchOps, Get, Set
from redlua.counters import CounterOps, Counters, Increment, Threshold
from redlua.inventory import Inventory, InventoryOps
from redlua.ledger import Ledger, LedgerOps
from redlua.locks import LockOps, Semaphore, fenced_get, fenced_set
from redlua.locks.semaphore import SemaphoreCore
from redlua.ratelimit import Limit, RateLimiter
from redlua.stateful import KeySchema, LinkOps, Links
from redlua.txn import AsyncVersioned, Versioned
from tests.hostile._support import changed_keys, dead_engine, refuses, snapshot, twin

LUA = Path(__file__).resolve().parents[2] / "src" / "redlua" / "lua"
BIG = 20 * 2**20
MANY = 10_000


@pytest.fixture(scope="module")
def big() -> bytes:
    """20 MB of random bytes (not UTF-8, every byte value)."""
    return os.urandom(BIG)


# -- 20 MB -------------------------------------------------------------------------------------


def test_twenty_megabytes_through_every_value_store(bengine: Any, big: bytes) -> None:
    """A 20 MB binary value is stored and read back exactly by records, batches and fences."""
    records = twin(bengine, Versioned, AsyncVersioned)
    assert records.set_if_version("big", big, 0).ok
    assert records.get("big").value == big
    batch = BatchOps(chunk=10)
    plan = batch.process([Set(b"big", big), Get(b"big")])
    assert plan.collect(bengine.run_many(plan.calls)) == [True, big]
    plan = batch.bulk_set({b"a": big, b"b": b"small"})
    plan.collect(bengine.run_many(plan.calls))
    assert bengine.run(
        batch.update_all({b"{u}a": big, b"{u}b": big[:5]}, require_existing=False)
    ).ok
    plan = batch.bulk_get([b"a", b"{u}a"])
    assert plan.collect(bengine.run_many(plan.calls)) == [big, big]
    assert bengine.run(fenced_set(b"{f}res", big, 3)) is True
    assert bengine.run(fenced_get(b"{f}res")) == (big, 3)


def test_twenty_megabyte_names_and_texts_are_refused_by_name() -> None:
    """Bounded names, tokens, memos, keys and details of 20 MB raise ValueError naming them."""
    huge = "x" * BIG
    dead = dead_engine()
    refuses(lambda: Versioned(dead).get(huge), "name")
    refuses(lambda: LockOps().acquire(huge, "t", 1), "name")
    refuses(lambda: LockOps().acquire("n", huge, 1), "token")
    refuses(lambda: CounterOps().get(huge), "name")
    refuses(lambda: LedgerOps("l").transfer("a", "b", 1, memo=huge), "memo")
    refuses(lambda: LedgerOps("l").transfer("a", "b", 1, idempotency_key=huge), "idempotency_key")
    refuses(lambda: InventoryOps("i").add_product("p", 1, 1, name=huge), "name")
    refuses(lambda: InventoryOps("i").reserve("p", 1, huge, 60), "customer")
    refuses(lambda: LinkOps(KeySchema.sf("n")).set_link(huge, "s", 1), "uid")
    refuses(lambda: Threshold(1, channel=huge), "channel")


# -- 10,000-item batches -------------------------------------------------------------------------


def test_ten_thousand_operations_in_one_script(sync: tuple[Engine, redis.Redis]) -> None:
    """process_batch, bulk_set, bulk_get and update_all take 10,000 items in one script each."""
    engine, raw = sync
    batch = Batch(engine, chunk=MANY)
    keys = [f"{{b}}:{i}" for i in range(MANY)]
    assert batch.process_batch([Set(k, i) for i, k in enumerate(keys)]) == [True] * MANY
    assert batch.bulk_set({k: f"v{i}" for i, k in enumerate(keys)}) == MANY
    assert list(batch.bulk_get(keys).values()) == [f"v{i}" for i in range(MANY)]
    assert batch.update_all(dict.fromkeys(keys, "u")).ok
    assert raw.mget([keys[0], keys[-1]]) == [b"u", b"u"]
    refuses(lambda: batch.update_all({f"{{b}}:{i}": "x" for i in range(MANY + 1)}), "mapping")


def test_ten_thousand_counters_and_thresholds(sync: tuple[Engine, redis.Redis]) -> None:
    """An all-or-nothing batch of 10,000 counters is one script; 10,000 thresholds are announced."""
    engine, _ = sync
    group = Counters(engine, group="g")
    changes = [Increment(f"c{i}", 2, maximum=5) for i in range(MANY)]
    assert len(group.ops.batch(changes, all_or_nothing=True).calls) == 1
    assert all(u.applied and u.value == 2 for u in group.batch(changes, all_or_nothing=True))
    assert group.get_many([f"c{i}" for i in range(MANY)]) == [2] * MANY
    counters = Counters(engine)
    levels = [Threshold(level, stream=True, maxlen=MANY) for level in range(1, MANY + 1)]
    done = counters.increment_with_limit("t", MANY, notify=levels)
    assert done.crossed == tuple(range(1, MANY + 1))
    assert len(counters.events("t", count=MANY)) == MANY


def test_ten_thousand_limits_waiters_holders_and_links(sync: tuple[Engine, redis.Redis]) -> None:
    """10,000 limits in one request, 10,000 queued lock waiters, permits, links: all answered."""
    engine, raw = sync
    limiter = RateLimiter(engine, *(Limit(10, 60, name=f"l{i}") for i in range(MANY)))
    assert limiter.hit("u").allowed
    assert RateLimiter(engine, Limit(10**6, 60, "sliding_log")).hit("v", MANY * 2).allowed
    locks = LockOps()
    assert engine.run(locks.acquire("n", "holder", 30)).ok
    queued = engine.run_many(
        [locks.acquire("n", f"w{i}", 30, wait="will", longest=10) for i in range(MANY)]
    )
    assert not any(a.ok for a in queued)
    assert raw.zcard("redlua:lock:{n}:waiters") == MANY
    assert engine.run(locks.release("n", "holder"))
    sem = SemaphoreCore("s", MANY, 60)
    assert all(g.ok for g in engine.run_many([sem.acquire_call(f"p{i}") for i in range(MANY)]))
    assert len(Semaphore(engine, "s", MANY, 60).holders()) == MANY
    ops = LinkOps(KeySchema.sf("n"))
    engine.run_many([ops.set_link(f"u{i}", "game", i % 7) for i in range(MANY)])
    assert Links(engine, KeySchema.sf("n")).batch_get([f"u{i}" for i in range(MANY)], "game") == [
        i % 7 for i in range(MANY)
    ]


def test_oversized_carts_are_refused_by_name() -> None:
    """A cart of 10,000 products is refused before any I/O, naming items."""
    refuses(
        lambda: InventoryOps("i").reserve_many({f"p{i}": 1 for i in range(MANY)}, "c", 60), "items"
    )


# -- unpack ------------------------------------------------------------------------------------

UNPACKS = {
    "counter_batch.lua": "test_ten_thousand_counters_and_thresholds (4 values per change)",
    "lib/counter_notify.lua": "test_ten_thousand_counters_and_thresholds (6 values per threshold)",
    "*ratelimit_*.lua": "test_ten_thousand_limits_waiters_holders_and_links (sliding_log ZADD"
    " of 20,000 units)",
    "lib/inventory_reaper.lua": "test_inventory_reaper_forgets_at_most_its_limit",
    "lib/ledger_reaper.lua": "test_ledger_purges_more_than_8000_finished_holds",
}
"""Every Lua file (a glob) that calls unpack(), and the test feeding it more than 8000 items."""


def test_every_unpack_is_attacked() -> None:
    """Each Lua file that calls unpack( matches an UNPACKS entry, and each entry a file."""
    found = [
        str(path.relative_to(LUA))
        for path in [*LUA.glob("*.lua"), *LUA.glob("lib/*.lua")]
        if re.search(r"\bunpack\(", path.read_text())
    ]
    assert [f for f in found if not any(fnmatch(f, p) for p in UNPACKS)] == []
    assert [p for p in UNPACKS if not any(fnmatch(f, p) for f in found)] == []


def test_inventory_reaper_forgets_at_most_its_limit() -> None:
    """The inventory reaper's unpack() sees at most reap_limit (<= 1000) ids: more is refused."""
    refuses(lambda: InventoryOps("i", reap_limit=8001), "reap_limit")
    refuses(lambda: InventoryOps("i").reap(8001), "limit")


def test_ledger_purges_more_than_8000_finished_holds(sync: tuple[Engine, redis.Redis]) -> None:
    """With reap_batch=9999, 8100 finished holds are purged at once and the ledger goes on."""
    engine, raw = sync
    bank = Ledger(engine, "bank", reap_batch=9999)
    bank.create("a", "USD", opening=10**9)
    bank.create("b", "USD")
    holds = engine.run_many([bank.ops.hold("a", "b", 1, 60) for _ in range(8100)])
    engine.run_many([bank.ops.void(hold.id) for hold in holds])
    bank.hold("a", "b", 7, 0.05)
    finished = bank.ops.keys.finished
    raw.zadd(finished, dict.fromkeys(raw.zrange(finished, 0, -1), 0), xx=True)  # retention over
    time.sleep(0.1)  # the last hold is due: the reap releases it, then purges the 8100 records
    before = snapshot(raw)
    try:
        released = bank.reap()
    except ScriptError as exc:
        pytest.fail(f"the reap failed ({exc}) after writing {changed_keys(before, snapshot(raw))}")
    assert released == 1
    assert raw.zcard(finished) == 1
    assert bank.transfer("a", "b", 5).amount == 5


# -- JSON ----------------------------------------------------------------------------------------


def test_json_looking_names_round_trip(sync: tuple[Engine, redis.Redis]) -> None:
    """Deeply nested JSON text as a product name, a customer and a counter key stays plain text."""
    engine, _ = sync
    shop = Inventory(engine, "shop")
    deep = "[" * 20_000 + "]" * 20_000
    assert shop.add_product("p", 5, 1, name=deep, description='{"a":' * 3000)
    assert shop.product_info("p").name == deep
    customer = '["' + "[" * 490 + '", 1]'
    held = shop.reserve("p", 1, customer, 60)
    assert shop.reservation_info(held.reservation).customer == customer
    refuses(lambda: shop.add_product("q", 1, 1, name="[" * 70_000), "name")


def test_counter_messages_stay_json_for_any_key(sync: tuple[Engine, redis.Redis]) -> None:
    """A PUBLISH notification is valid JSON naming the key exactly, quotes and escapes included."""
    engine, raw = sync
    pubsub = raw.pubsub()
    pubsub.subscribe("alerts")
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    name = 'a"b\\c\u2028d]}{'.replace("{", "(").replace("}", ")")
    Counters(engine).increment_with_limit(name, 5, notify=Threshold(3, channel="alerts"))
    message = pubsub.get_message(timeout=2)
    pubsub.close()
    assert message is not None and message["type"] == "message"
    assert json.loads(message["data"])["key"] == f"redlua:counter:{{{name}}}"


DEEP_RECORD = "[" * 5000 + "]" * 5000


def test_deeply_nested_records_are_corrupt_data(sync: tuple[Engine, redis.Redis]) -> None:
    """A reservation record nested past cjson's depth is CORRUPT_DATA to every script, unchanged."""
    engine, raw = sync
    shop = Inventory(engine, "shop")
    shop.add_product("mug", 10, 1)
    raw.hset(shop.ops.keys.reservations, "deep", DEEP_RECORD)
    before = snapshot(raw)
    for attempt in (
        lambda: shop.confirm("deep"),
        lambda: shop.cancel("deep"),
        lambda: shop.reserve("mug", 1, "c", 60, reservation="deep"),
    ):
        with pytest.raises(CorruptDataError):
            attempt()
    assert changed_keys(before, snapshot(raw)) == []


def test_deeply_nested_record_lookup_is_corrupt_data(sync: tuple[Engine, redis.Redis]) -> None:
    """Reading a reservation record nested 5000 deep raises CorruptDataError."""
    engine, raw = sync
    shop = Inventory(engine, "shop")
    raw.hset(shop.ops.keys.reservations, "deep", DEEP_RECORD)
    with pytest.raises(CorruptDataError):
        shop.reservation_info("deep")


def test_reaper_checks_every_record_before_writing(sync: tuple[Engine, redis.Redis]) -> None:
    """A due record whose items nest arrays stops the reap before any write (CORRUPT_DATA)."""
    engine, raw = sync
    shop = Inventory(engine, "shop")
    shop.add_product("mug", 10, 1)
    shop.reserve("mug", 1, "a", 0.05)
    soon = int(time.time() * 1000) + 100
    bad = {
        "status": "reserved",
        "customer": "b",
        "items": [["mug"], "1"],
        "created": "1",
        "deadline": str(soon),
    }
    raw.hset(shop.ops.keys.reservations, "poison", json.dumps(bad))
    raw.zadd(shop.ops.keys.deadlines, {"poison": soon})
    time.sleep(0.2)
    before = snapshot(raw)
    with pytest.raises(CorruptDataError):
        shop.reap()
    assert changed_keys(before, snapshot(raw)) == []
