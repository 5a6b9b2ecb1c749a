"""Binary, unicode, empty and very long names and values come back exactly as given.

Values a recipe stores (versioned records, batch values, fenced resources, product details,
memos) are read back byte for byte, on engines that leave replies as bytes; names that are
legal key parts (unicode, quotes, Lua comment markers, ``%d``, 512 characters) spell exactly
the key the recipe documents and round-trip through every reply that names them. Each test
body runs on the sync and the async engine; the Hypothesis ones run on a sync engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redlua import Engine
from redlua.batch import AsyncBatch, Batch, Get, HGet, HSet, Set
from redlua.counters import AsyncCounters, Counters
from redlua.inventory import AsyncInventory, Inventory
from redlua.ledger import AsyncLedger, Ledger
from redlua.locks import LockOps, fenced_get, fenced_set
from redlua.ratelimit import AsyncRateLimiter, Limit, RateLimiter
from redlua.stateful import AsyncLinks, KeySchema, Links
from redlua.txn import AsyncVersioned, Versioned
from tests.hostile._support import ODD_NAMES, ODD_VALUES, raw_client, twin

# -- values stored byte for byte ---------------------------------------------------------------


def test_versioned_values_round_trip(bengine: Any) -> None:
    """Versioned records keep empty, NUL, invalid UTF-8 and RESP-looking values exactly."""
    records = twin(bengine, Versioned, AsyncVersioned)
    for i, value in enumerate(ODD_VALUES):
        assert records.set_if_version(f"v{i}", value, 0).ok
        assert records.get(f"v{i}") == (value, 1)
        assert records.set_if_version(f"v{i}", value + b"!", 1).ok
        assert records.get(f"v{i}").value == value + b"!"


def test_batch_values_and_keys_round_trip(bengine: Any, raw: redis.Redis) -> None:
    """Batches store odd values under odd keys (bytes, braces, NUL, empty) and read them back."""
    batch = twin(bengine, Batch, AsyncBatch)
    keys: list[bytes] = [b"k\x00", b"{tag}x", b"}{", "ключ".encode(), b"\xff\xfe", b"x" * 1000]
    ops: list[Any] = [Set(k, v) for k, v in zip(keys, ODD_VALUES, strict=False)]
    ops += [HSet(b"h", v or b"empty", v) for v in ODD_VALUES]
    assert all(batch.process_batch(ops)[: len(keys)])
    got = batch.process_batch(
        [Get(k) for k in keys] + [HGet(b"h", v or b"empty") for v in ODD_VALUES]
    )
    assert got == list(ODD_VALUES[: len(keys)]) + list(ODD_VALUES)
    assert batch.bulk_set(dict(zip(keys, reversed(ODD_VALUES), strict=False))) == len(keys)
    assert batch.bulk_get(keys) == dict(zip(keys, reversed(ODD_VALUES), strict=False))
    assert raw.get(b"k\x00") == ODD_VALUES[-1]
    tagged = {b"{t}" + v: v for v in ODD_VALUES}
    assert batch.update_all(tagged, require_existing=False).ok
    assert [raw.get(k) for k in tagged] == list(tagged.values())


def test_empty_key_is_a_key_like_any_other(bengine: Any, raw: redis.Redis) -> None:
    """The empty key (legal in Redis) is set, read and updated by the batch recipe."""
    batch = twin(bengine, Batch, AsyncBatch)
    assert batch.process_batch([Set(b"", b"empty"), Get(b"")]) == [True, b"empty"]
    assert batch.update_all({b"": b"again"}).ok
    assert raw.get(b"") == b"again"


def test_fenced_values_round_trip(bengine: Any) -> None:
    """A fenced resource keeps binary values exactly, under a binary key."""
    for i, value in enumerate(ODD_VALUES):
        key = b"res:\xff" + bytes([i])
        assert bengine.run(fenced_set(key, value, i + 1))
        assert bengine.run(fenced_get(key)) == (value, i + 1)


def test_inventory_details_round_trip(engine: Any) -> None:
    """Product names, descriptions and customers that look like JSON, Lua or escapes come back."""
    shop = twin(engine, Inventory, AsyncInventory, "shop")
    nasty = [
        '{"a": [1, {"b": null}]}',
        '\\u0000 \\" \x00 \n \t',
        "]]--[[",
        "名前 😀",
        "",
        "x" * 30_000,
    ]
    for i, text in enumerate(nasty):
        product = ODD_NAMES[i]
        assert shop.add_product(product, 5, 10, name=text, description=text[::-1])
        info = shop.product_info(product)
        assert (info.product, info.name, info.description) == (product, text, text[::-1])
        held = shop.reserve(product, 1, ODD_NAMES[-1 - i], 60)
        record = shop.reservation_info(held.reservation)
        assert (record.customer, record.items) == (ODD_NAMES[-1 - i], {product: 1})


def test_ledger_names_and_memos_round_trip(engine: Any) -> None:
    """Account ids, idempotency keys and memos with unicode and quotes come back exactly."""
    bank = twin(engine, Ledger, AsyncLedger, "Bänk 😀")
    memo = 'rent "May" -- [[x]] %d ü'
    for name in ODD_NAMES:
        bank.create(name, "USD", opening=1000)
    for src, dst in itertools.pairwise(ODD_NAMES):
        done = bank.transfer(src, dst, Decimal("1.25"), idempotency_key=f"{src[:200]}-k", memo=memo)
        assert (done.src, done.dst, done.amount) == (src, dst, 125)
        assert bank.transfer(src, dst, 125, idempotency_key=f"{src[:200]}-k", memo=memo).replayed
    entry = bank.history(ODD_NAMES[1]).entries[0]
    assert (entry.peer, entry.memo) == (ODD_NAMES[2], memo)
    assert bank.balance(ODD_NAMES[0]) == 875


def test_counter_lock_and_limit_names_spell_exact_keys(engine: Any, raw: redis.Redis) -> None:
    """Odd names become exactly the documented keys of counters, locks and rate limits."""
    counters = twin(engine, Counters, AsyncCounters)
    limiter = twin(engine, RateLimiter, AsyncRateLimiter, Limit(5, 60, name="per-min"))
    locks = LockOps()
    for name in ODD_NAMES:
        assert counters.increment_with_limit(name, 3).value == 3
        assert raw.get(f"redlua:counter:{{{name}}}".encode()) == b"3"
        assert engine.run(locks.acquire(name, "tok", 30)).ok
        assert raw.get(f"redlua:lock:{{{name}}}".encode()) == b"tok"
        assert engine.run(locks.release(name, "tok"))
        assert limiter.hit(name, tag=name).allowed
        assert raw.exists(f"redlua:rl:{{{name}}}:per-min:{name}".encode())


def test_link_names_round_trip(engine: Any) -> None:
    """UIDs and service names with unicode and quotes round-trip through the link replies."""
    links = twin(engine, Links, AsyncLinks, KeySchema.sf("név"))
    services = [n for n in ODD_NAMES if len(n) < 100]
    for pod, service in enumerate(services):
        links.set_link("ü-1", service, pod)
    assert links.linked_services("ü-1") == {s: i for i, s in enumerate(services)}
    assert links.get_link("ü-1", services[-1]) == len(services) - 1


# -- random values (Hypothesis, one sync engine) -----------------------------------------------


@pytest.fixture(scope="module")
def env(server_url: str) -> Iterator[tuple[Engine, redis.Redis]]:
    """A bytes engine and client on the test database, for the whole module."""
    raw, client = raw_client(server_url), raw_client(server_url)
    yield Engine(client), raw
    raw.flushdb()
    raw.close()
    client.close()


names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60).filter(
    lambda s: not any(c in "{}\x7f" or ord(c) < 0x20 for c in s)
)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(name=names, value=st.binary(max_size=2000))
def test_random_values_round_trip(env: tuple[Engine, redis.Redis], name: str, value: bytes) -> None:
    """Any bytes under any legal name: written, read back equal, key spelled as documented."""
    engine, raw = env
    records = Versioned(engine)
    current = records.get(name)
    assert records.set_if_version(name, value, current.version).ok
    assert records.get(name) == (value, current.version + 1)
    assert raw.hget(f"redlua:ver:{{{name}}}".encode(), "v") == value
    batch = Batch(engine)
    assert batch.process_batch([Set(name, value), Get(name)]) == [True, value]
    assert batch.bulk_get([name]) == {name: value}
