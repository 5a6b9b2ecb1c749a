"""`Inventory` and `AsyncInventory` on a real server: stock moves, expiry, replays, bad input."""

from __future__ import annotations

import asyncio
import math
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import (
    AsyncEngine,
    Call,
    CorruptDataError,
    Engine,
    InvalidArgumentError,
    key_slot,
    load_script,
)
from redlua.inventory import (
    AsyncInventory,
    Inventory,
    InventoryOps,
    ProductNotFoundError,
    ReservationClosedError,
    ReservationExistsError,
    ReservationNotFoundError,
    Status,
    inventory_keys,
)
from redlua.inventory._ops import pause_after
from redlua.inventory.inventory import Reaped
from tests.inventory import counts, make_inv, snapshot

LUA = Path(__file__).resolve().parents[2] / "src" / "redlua" / "lua"
KEYS = inventory_keys("shop")


# -- products ----------------------------------------------------------------------------------


def test_add_product_once_and_read_it(engine: Any, r: redis.Redis) -> None:
    """add_product creates a product once; a second add changes nothing; info reads it back."""
    inv = make_inv(engine)
    assert inv.add_product("mug", 50, 1999, name="Mug", description="Blue, 0.3 l") is True
    assert inv.add_product("mug", 7, 5, name="Other") is False
    info = inv.product_info("mug")
    assert (info.stock, info.reserved, info.sold, info.price) == (50, 0, 0, 1999)
    assert (info.name, info.description, info.total) == ("Mug", "Blue, 0.3 l", 50)
    assert inv.stock("mug") == 50
    assert counts(r, "mug") == (50, 0, 0)


def test_restock_adds_units_and_refuses_an_unknown_product(engine: Any, r: redis.Redis) -> None:
    """restock adds to the stock and returns it; an unknown product raises and writes nothing."""
    inv = make_inv(engine)
    inv.add_product("mug", 0, 100)
    assert inv.restock("mug", 5) == 5
    assert inv.restock("mug", 3) == 8
    before = snapshot(r)
    with pytest.raises(ProductNotFoundError, match="nope"):
        inv.restock("nope", 1)
    with pytest.raises(ProductNotFoundError):
        inv.product_info("nope")
    assert snapshot(r) == before


def test_restock_refuses_totals_that_would_lose_precision(engine: Any, r: redis.Redis) -> None:
    """Stock + reserved + sold stays below 10^15: a restock past it is refused, nothing changed."""
    inv = make_inv(engine)
    inv.add_product("mug", 10**15 - 10, 1)
    with pytest.raises(InvalidArgumentError, match="10\\^15"):
        inv.restock("mug", 10)
    assert inv.restock("mug", 9) == 10**15 - 1


# -- reserve, confirm, cancel ------------------------------------------------------------------


def test_reserve_then_confirm_moves_units_to_sold(engine: Any, r: redis.Redis) -> None:
    """A reservation moves units from stock to reserved; its confirm moves them to sold."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 3, "alice", ttl=30)
    assert held and held.ok and not held.replayed and held.stock == {"mug": 7}
    assert re.fullmatch(r"[0-9a-f]{32}", held.reservation)
    assert counts(r, "mug") == (7, 3, 0)
    assert 29 < held.expires_at - time.time() <= 31
    assert r.zscore(KEYS.deadlines, held.reservation) == pytest.approx(held.expires_at * 1000)
    done = inv.confirm(held.reservation)
    assert (done.status, done.items, done.changed) == (Status.CONFIRMED, {"mug": 3}, True)
    assert counts(r, "mug") == (7, 0, 3)
    assert r.zscore(KEYS.deadlines, held.reservation) is None
    info = inv.reservation_info(held.reservation)
    assert (info.customer, info.items, info.status) == ("alice", {"mug": 3}, Status.CONFIRMED)
    assert info.settled_at is not None and info.created_at <= info.settled_at


def test_cancel_returns_the_stock_once(engine: Any, r: redis.Redis) -> None:
    """A cancel gives the units back; cancelling again answers the same and moves nothing."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 4, "alice", ttl=30)
    first = inv.cancel(held.reservation)
    assert (first.status, first.changed) == (Status.CANCELLED, True)
    assert counts(r, "mug") == (10, 0, 0)
    again = inv.cancel(held.reservation)
    assert (again.status, again.items, again.changed) == (Status.CANCELLED, {"mug": 4}, False)
    assert counts(r, "mug") == (10, 0, 0)


def test_confirm_is_idempotent(engine: Any, r: redis.Redis) -> None:
    """Confirming twice sells once; the second answer says nothing changed."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 2, "alice", ttl=30)
    assert inv.confirm(held.reservation).changed is True
    again = inv.confirm(held.reservation)
    assert (again.status, again.changed) == (Status.CONFIRMED, False)
    assert counts(r, "mug") == (8, 0, 2)


def test_confirm_and_cancel_exclude_each_other(engine: Any, r: redis.Redis) -> None:
    """After a confirm a cancel raises RESERVATION_CLOSED, and after a cancel a confirm does."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    sold = inv.reserve("mug", 1, "alice", ttl=30).reservation
    freed = inv.reserve("mug", 1, "bob", ttl=30).reservation
    inv.confirm(sold)
    inv.cancel(freed)
    before = snapshot(r)
    with pytest.raises(ReservationClosedError) as lost:
        inv.cancel(sold)
    assert (lost.value.status, lost.value.reservation) == ("confirmed", sold)
    with pytest.raises(ReservationClosedError) as late:
        inv.confirm(freed)
    assert (late.value.status, late.value.code) == ("cancelled", "RESERVATION_CLOSED")
    assert snapshot(r) == before
    assert counts(r, "mug") == (9, 0, 1)


def test_unknown_reservations_raise_and_write_nothing(engine: Any, r: redis.Redis) -> None:
    """confirm and cancel of an id never reserved raise RESERVATION_NOT_FOUND; lookup gives None."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    before = snapshot(r)
    with pytest.raises(ReservationNotFoundError):
        inv.confirm("f" * 32)
    with pytest.raises(ReservationNotFoundError):
        inv.cancel("f" * 32)
    assert inv.reservation_info("f" * 32) is None
    assert snapshot(r) == before


def test_reserve_never_oversells_and_a_refusal_writes_nothing(engine: Any, r: redis.Redis) -> None:
    """A reservation larger than the stock is refused with the units available; nothing changes."""
    inv = make_inv(engine)
    inv.add_product("mug", 5, 1999)
    assert inv.reserve("mug", 3, "alice", ttl=30)
    before = snapshot(r)
    refused = inv.reserve("mug", 3, "bob", ttl=30)
    assert not refused and refused.stock == {"mug": 2} and refused.expires_at is None
    assert snapshot(r) == before
    assert inv.reserve("mug", 2, "bob", ttl=30).stock == {"mug": 0}
    assert not inv.reserve("mug", 1, "carol", ttl=30)


def test_a_cart_is_reserved_whole_or_not_at_all(engine: Any, r: redis.Redis) -> None:
    """reserve_many holds every product or none: one short product refuses the whole cart."""
    inv = make_inv(engine)
    inv.add_product("mug", 5, 1999)
    inv.add_product("tea", 1, 450)
    before = snapshot(r)
    refused = inv.reserve_many({"mug": 2, "tea": 2}, "alice", ttl=30)
    assert not refused and refused.stock == {"mug": 5, "tea": 1}
    assert snapshot(r) == before
    held = inv.reserve_many({"mug": 2, "tea": 1}, "alice", ttl=30)
    assert held.ok and held.stock == {"mug": 3, "tea": 0}
    assert counts(r, "mug") == (3, 2, 0) and counts(r, "tea") == (0, 1, 0)
    assert inv.cancel(held.reservation).items == {"mug": 2, "tea": 1}
    assert counts(r, "mug") == (5, 0, 0) and counts(r, "tea") == (1, 0, 0)
    with pytest.raises(ProductNotFoundError, match="nope"):
        inv.reserve_many({"mug": 1, "nope": 1}, "alice", ttl=30)
    assert counts(r, "mug") == (5, 0, 0)


def test_a_resent_reserve_reserves_once(engine: Any, r: redis.Redis) -> None:
    """The same reservation id again is a replay: nothing more is held; other items are refused."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    first = inv.reserve("mug", 2, "alice", ttl=30, reservation="order-17")
    again = inv.reserve("mug", 2, "alice", ttl=30, reservation="order-17")
    assert first.ok and again.ok and again.replayed and not first.replayed
    assert again.expires_at == first.expires_at and again.stock == {"mug": 8}
    assert counts(r, "mug") == (8, 2, 0)
    with pytest.raises(ReservationExistsError):
        inv.reserve("mug", 3, "alice", ttl=30, reservation="order-17")
    assert counts(r, "mug") == (8, 2, 0)


# -- expiry ------------------------------------------------------------------------------------


def test_an_expired_reservation_returns_its_stock_exactly_once(engine: Any, r: redis.Redis) -> None:
    """reap gives an expired reservation's units back once; confirm then raises, cancel says so."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 4, "alice", ttl=0.3)
    assert inv.reservation_info(held.reservation).status is Status.RESERVED
    time.sleep(0.35)
    assert inv.reservation_info(held.reservation).status is Status.EXPIRED  # before the reaper
    assert counts(r, "mug") == (6, 4, 0)
    assert inv.reap() == Reaped(1, 0, 0)
    assert counts(r, "mug") == (10, 0, 0)
    assert inv.reap() == Reaped(0, 0, 0)
    late = inv.cancel(held.reservation)
    assert (late.status, late.changed) == (Status.EXPIRED, False)
    with pytest.raises(ReservationClosedError, match="expired"):
        inv.confirm(held.reservation)
    assert counts(r, "mug") == (10, 0, 0)


def test_confirm_after_the_deadline_fails_even_before_the_reaper(
    engine: Any, r: redis.Redis
) -> None:
    """A reservation past its deadline cannot be confirmed, reaped or not; nothing is written."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 1, "alice", ttl=0.05)
    time.sleep(0.1)
    before = snapshot(r)
    with pytest.raises(ReservationClosedError, match="expired"):
        inv.confirm(held.reservation)
    assert snapshot(r) == before


def test_cancel_after_the_deadline_returns_the_stock_as_expired(
    engine: Any, r: redis.Redis
) -> None:
    """A cancel that beats the reaper returns the units once and settles it as expired."""
    inv = make_inv(engine)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 3, "alice", ttl=0.05)
    time.sleep(0.1)
    done = inv.cancel(held.reservation)
    assert (done.status, done.changed) == (Status.EXPIRED, True)
    assert counts(r, "mug") == (10, 0, 0)
    assert inv.reap().reaped == 0
    assert counts(r, "mug") == (10, 0, 0)


def test_every_reserve_reaps_first(engine: Any, r: redis.Redis) -> None:
    """The last unit, held by an expired reservation, is reserved again without an explicit reap."""
    inv = make_inv(engine)
    inv.add_product("mug", 1, 1999)
    first = inv.reserve("mug", 1, "alice", ttl=0.3)
    assert not inv.reserve("mug", 1, "bob", ttl=30)
    time.sleep(0.35)
    second = inv.reserve("mug", 1, "bob", ttl=30)
    assert second.ok and second.stock == {"mug": 0}
    assert counts(r, "mug") == (0, 1, 0)
    assert inv.reservation_info(first.reservation).status is Status.EXPIRED


def test_reaping_is_bounded_per_call(engine: Any, r: redis.Redis) -> None:
    """With reap_limit 3, a reserve reaps 3 of 7 expired reservations; reap() says how many wait."""
    inv = make_inv(engine, reap_limit=3)
    inv.add_product("mug", 7, 1999)
    inv.add_product("tea", 5, 450)
    for _ in range(7):
        inv.reserve("mug", 1, "alice", ttl=0.05)
    time.sleep(0.1)
    inv.reserve("tea", 1, "bob", ttl=30)
    assert counts(r, "mug") == (3, 4, 0)
    assert inv.reap() == Reaped(3, 0, 1)
    assert inv.reap(limit=10) == Reaped(1, 0, 0)
    assert counts(r, "mug") == (7, 0, 0)
    assert pause_after(Reaped(3, 0, 1), 5.0) == 0.0 and pause_after(Reaped(1, 0, 0), 5.0) == 5.0


def test_settled_records_are_forgotten_after_keep(engine: Any, r: redis.Redis) -> None:
    """A settled reservation is remembered for keep seconds, then a reap forgets it."""
    inv = make_inv(engine, keep=0.05)
    inv.add_product("mug", 10, 1999)
    held = inv.reserve("mug", 1, "alice", ttl=30)
    inv.confirm(held.reservation)
    assert r.hexists(KEYS.reservations, held.reservation)
    time.sleep(0.1)
    assert inv.reap() == Reaped(0, 1, 0)
    assert inv.reservation_info(held.reservation) is None
    with pytest.raises(ReservationNotFoundError):
        inv.confirm(held.reservation)
    assert not r.exists(KEYS.settled) and not r.exists(KEYS.reservations)
    assert counts(r, "mug") == (9, 0, 1)


def test_a_background_reaper_thread_returns_expired_stock(server_url: str, r: redis.Redis) -> None:
    """Inventory.start_reaper reaps in a thread without any reserve; stop_reaper ends it."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    inv = Inventory(Engine(client), "shop")
    inv.add_product("mug", 5, 1999)
    inv.reserve("mug", 5, "alice", ttl=0.05)
    inv.start_reaper(interval=0.02)
    try:
        assert inv.reaping
        with pytest.raises(RuntimeError, match="already"):
            inv.start_reaper()
        deadline = time.monotonic() + 5
        while counts(r, "mug") != (5, 0, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counts(r, "mug") == (5, 0, 0)
    finally:
        inv.stop_reaper()
        client.close()
    assert not inv.reaping
    inv.stop_reaper()  # a second stop is a no-op


def test_a_background_reaper_task_returns_expired_stock(server_url: str, r: redis.Redis) -> None:
    """AsyncInventory.start_reaper reaps in a task of the running loop; stop_reaper cancels it."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        inv = AsyncInventory(AsyncEngine(client), "shop")
        await inv.add_product("mug", 5, 1999)
        await inv.reserve("mug", 5, "alice", ttl=0.05)
        await inv.start_reaper(interval=0.02)
        try:
            assert inv.reaping
            deadline = time.monotonic() + 5
            while (await inv.product_info("mug")).reserved and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert (await inv.product_info("mug")).stock == 5
        finally:
            await inv.stop_reaper()
            await inv.engine.aclose()  # a cancelled reap may still be in a pipelined batch
            await client.aclose()
        assert not inv.reaping

    asyncio.run(main())


def test_stop_reaper_ends_a_reaper_whose_cancellation_was_swallowed(server_url: str) -> None:
    """stop_reaper returns even when the reaper's cancellation is lost mid-call (3.11 wait_for)."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        inv = AsyncInventory(AsyncEngine(client), "shop")
        in_call = asyncio.Event()

        async def swallowing_run(call: Any) -> Any:
            in_call.set()
            try:
                await asyncio.sleep(5)  # the cancellation lands here ...
            except asyncio.CancelledError:
                return Reaped(0, 0, 0)  # ... and is lost, as asyncio.wait_for does on 3.11
            raise AssertionError("the reaper was not cancelled")

        inv.engine.run = swallowing_run  # type: ignore[method-assign]
        try:
            await inv.start_reaper(interval=30)
            await asyncio.wait_for(in_call.wait(), 5)
            await asyncio.wait_for(inv.stop_reaper(), 5)
            assert not inv.reaping
        finally:
            await client.aclose()

    asyncio.run(main())


# -- keys, replies, scripts --------------------------------------------------------------------


def test_every_key_shares_the_inventory_hash_tag(engine: Any, r: redis.Redis) -> None:
    """All keys an inventory writes are redlua:inv:{<name>}:..., one hash slot."""
    inv = make_inv(engine, "north")
    inv.add_product("mug", 5, 1999)
    inv.confirm(inv.reserve("mug", 1, "alice", ttl=30).reservation)
    inv.reserve("mug", 1, "bob", ttl=30)
    keys = inventory_keys("north")
    written = r.keys()
    assert set(written) == {
        keys.stock, keys.reserved, keys.sold, keys.price, keys.details,
        keys.reservations, keys.deadlines, keys.settled,
    }  # fmt: skip
    assert all(k.startswith("redlua:inv:{north}:") for k in written)
    assert len({key_slot(k) for k in written}) == 1


def test_replies_decode_without_decode_responses(
    make_engine: Any, server_url: str, r: redis.Redis
) -> None:
    """With bytes replies the results hold str products and ints all the same."""
    inv = make_inv(make_engine(server_url, decode_responses=False))
    inv.add_product("mug", 5, 1999, name="Mug")
    held = inv.reserve_many({"mug": 2}, "alice", ttl=30)
    assert held.stock == {"mug": 3}
    assert inv.confirm(held.reservation).items == {"mug": 2}
    assert inv.product_info("mug").name == "Mug"
    assert inv.reservation_info(held.reservation).customer == "alice"


def test_reserve_and_reap_share_one_reaper() -> None:
    """The reap function lives once, in lua/lib/inventory_reaper.lua, spliced into both."""
    for name in ("inventory_reserve", "inventory_reap"):
        assert "--!include inventory_reaper" in (LUA / f"{name}.lua").read_text()
        assert "local function reap(at, most, keep_ms)" in load_script(name).source


def test_corrupt_counts_are_refused_before_any_write(engine: Any, r: redis.Redis) -> None:
    """A stock that is not an integer makes reserve raise CORRUPT_DATA and write nothing."""
    inv = make_inv(engine)
    inv.add_product("mug", 5, 1999)
    r.hset(KEYS.stock, "mug", "lots")
    before = snapshot(r)
    with pytest.raises(CorruptDataError):
        inv.reserve("mug", 1, "alice", ttl=30)
    with pytest.raises(CorruptDataError):
        inv.restock("mug", 1)
    assert snapshot(r) == before


def test_a_pending_entry_without_record_blocks_with_corrupt_data(
    engine: Any, r: redis.Redis
) -> None:
    """A deadline entry whose record is gone is refused by the reaper (CORRUPT_DATA), not guessed."""
    inv = make_inv(engine)
    inv.add_product("mug", 5, 1999)
    r.zadd(KEYS.deadlines, {"ghost": 1})
    before = snapshot(r)
    with pytest.raises(CorruptDataError, match="ghost"):
        inv.reap()
    with pytest.raises(CorruptDataError, match="ghost"):
        inv.reserve("mug", 1, "alice", ttl=30)
    assert snapshot(r) == before


def test_records_with_malformed_items_are_refused_before_any_write(
    engine: Any, r: redis.Redis
) -> None:
    """Confirm and cancel refuse a record whose items are not product, quantity pairs."""
    inv = make_inv(engine)
    inv.add_product("mug", 5, 1999)
    held = inv.reserve("mug", 2, "alice", ttl=30)
    record = r.hget(KEYS.reservations, held.reservation)
    for items in ('[["mug"], "2"]', '["mug", "2.5"]', '["mug"]', "[]", '{"mug": "2"}'):
        r.hset(
            KEYS.reservations,
            held.reservation,
            re.sub(r'"items":\[[^]]*\]', f'"items":{items}', record),
        )
        before = snapshot(r)
        with pytest.raises(CorruptDataError, match="items"):
            inv.confirm(held.reservation)
        with pytest.raises(CorruptDataError, match="items"):
            inv.cancel(held.reservation)
        assert snapshot(r) == before


@pytest.mark.parametrize(
    ("script", "args", "match"),
    [
        ("inventory_reserve", ("bad id!", "c", "1000", "10", "1000", "mug", "1"), "id"),
        ("inventory_reserve", ("r1", "c\n", "1000", "10", "1000", "mug", "1"), "customer"),
        ("inventory_reserve", ("r1", "c", "0", "10", "1000", "mug", "1"), "ttl"),
        ("inventory_reserve", ("r1", "c", "1000", "0", "1000", "mug", "1"), "reap limit"),
        ("inventory_reserve", ("r1", "c", "1000", "10", "1000", "mug", "0"), "quantity"),
        ("inventory_reserve", ("r1", "c", "1000", "10", "1000", "mug", "1.5"), "quantity"),
        ("inventory_reserve", ("r1", "c", "1000", "10", "1000", "mug", "-1"), "quantity"),
        ("inventory_reserve", ("r1", "c", "1000", "10", "1000", "mug"), "pairs"),
        ("inventory_reserve", ("r1", "c", "1000", "10", "1000", "m", "1", "m", "1"), "distinct"),
        ("inventory_confirm", ("r1", "1.5"), "keep"),
        ("inventory_cancel", ("", "1000"), "id"),
        ("inventory_reap", ("1001", "1000"), "limit"),
        ("inventory_add", ("mug", "-1", "0", "{}"), "stock"),
        ("inventory_add", ("mug", "1", "1.99", "{}"), "price"),
        ("inventory_add", ("mug", "01", "1", "{}"), "stock"),
        ("inventory_restock", ("mug", "0"), "quantity"),
    ],
)
def test_scripts_refuse_malformed_arguments(
    engine: Any, r: redis.Redis, script: str, args: tuple[str, ...], match: str
) -> None:
    """Each script checks its own arguments (INVALID_ARGUMENT) and writes nothing."""
    make_inv(engine).add_product("mug", 5, 1999)
    before = snapshot(r)
    keys = {
        "inventory_add": (KEYS.stock, KEYS.reserved, KEYS.sold, KEYS.price, KEYS.details),
        "inventory_restock": (KEYS.stock, KEYS.reserved, KEYS.sold),
        "inventory_confirm": (
            KEYS.reserved,
            KEYS.sold,
            KEYS.reservations,
            KEYS.deadlines,
            KEYS.settled,
        ),
    }.get(script, (KEYS.stock, KEYS.reserved, KEYS.reservations, KEYS.deadlines, KEYS.settled))
    with pytest.raises(InvalidArgumentError, match=match):
        engine.run(Call(load_script(script), keys, args))
    assert snapshot(r) == before


# -- checks before any I/O ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda inv: inv.reserve("mug", 0, "c", 30), ValueError, "qty"),
        (lambda inv: inv.reserve("mug", -2, "c", 30), ValueError, "qty"),
        (lambda inv: inv.reserve("mug", 1.0, "c", 30), TypeError, "qty"),
        (lambda inv: inv.reserve("mug", True, "c", 30), TypeError, "qty"),
        (lambda inv: inv.reserve("mug", "1", "c", 30), TypeError, "qty"),
        (lambda inv: inv.reserve("mug", 10**12, "c", 30), ValueError, "qty"),
        (lambda inv: inv.reserve("mug", 1, "c", 0), ValueError, "ttl"),
        (lambda inv: inv.reserve("mug", 1, "c", math.nan), ValueError, "ttl"),
        (lambda inv: inv.reserve("mug", 1, "c", math.inf), ValueError, "ttl"),
        (lambda inv: inv.reserve("mug", 1, "c", "30"), TypeError, "ttl"),
        (lambda inv: inv.reserve("m{x}", 1, "c", 30), ValueError, "product"),
        (lambda inv: inv.reserve("", 1, "c", 30), ValueError, "product"),
        (lambda inv: inv.reserve("mug", 1, "", 30), ValueError, "customer"),
        (lambda inv: inv.reserve("mug", 1, "c\n", 30), ValueError, "customer"),
        (lambda inv: inv.reserve("mug", 1, "c", 30, reservation="a b"), ValueError, "reservation"),
        (lambda inv: inv.reserve_many({}, "c", 30), ValueError, "items"),
        (lambda inv: inv.reserve_many([("mug", 1)], "c", 30), TypeError, "items"),
        (lambda inv: inv.reserve_many({"mug": 0}, "c", 30), ValueError, "quantity"),
        (lambda inv: inv.reserve_many({"mug": 1.5}, "c", 30), TypeError, "quantity"),
        (
            lambda inv: inv.reserve_many({f"p{i}": 1 for i in range(101)}, "c", 30),
            ValueError,
            "items",
        ),
        (lambda inv: inv.add_product("mug", -1, 1), ValueError, "stock"),
        (lambda inv: inv.add_product("mug", 1, 19.99), TypeError, "price"),
        (lambda inv: inv.add_product("mug", 1, Decimal("19.99")), TypeError, "price"),
        (lambda inv: inv.add_product("mug", 1, -1), ValueError, "price"),
        (lambda inv: inv.add_product("mug", 1, 1, name=3), TypeError, "name"),
        (lambda inv: inv.restock("mug", 0), ValueError, "qty"),
        (lambda inv: inv.confirm("x" * 65), ValueError, "reservation"),
        (lambda inv: inv.cancel(None), TypeError, "reservation"),
        (lambda inv: inv.reap(0), ValueError, "limit"),
        (lambda inv: inv.reap(1001), ValueError, "limit"),
    ],
)
def test_bad_input_raises_before_any_io(
    engine: Any, r: redis.Redis, call: Any, error: type[Exception], match: str
) -> None:
    """Bad quantities, ttls, names, prices and ids raise TypeError/ValueError; nothing is written."""
    inv = make_inv(engine)
    with pytest.raises(error, match=match):
        call(inv)
    assert r.dbsize() == 0


def test_bad_constructor_arguments_raise() -> None:
    """Inventory names, prefixes, keep and reap_limit are checked when the builder is made."""
    with pytest.raises(ValueError, match="name"):
        InventoryOps("a{b}")
    with pytest.raises(TypeError, match="name"):
        InventoryOps(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep"):
        InventoryOps("shop", keep=0)
    with pytest.raises(ValueError, match="reap_limit"):
        InventoryOps("shop", reap_limit=0)
    with pytest.raises(TypeError, match="reap_limit"):
        InventoryOps("shop", reap_limit=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefix"):
        InventoryOps("shop", prefix=None)  # type: ignore[arg-type]
    assert InventoryOps("shop", prefix="").keys.stock == "{shop}:stock"
    assert repr(InventoryOps("shop")) == "InventoryOps('shop', keep=86400, reap_limit=100)"
