"""Races on a real server: threads, tasks and processes contending for one inventory.

Every test ends on the accounting invariant: for each product, stock + reserved + sold
equals what was stocked, and the counts agree with the reservations' records.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, EmbeddedCluster, Engine
from redlua.inventory import AsyncInventory, Inventory, ReservationClosedError, Status
from tests.inventory import counts

STOCK = 50
ATTEMPTS = 200


@pytest.fixture
def inv(server_url: str, r: redis.Redis) -> Iterator[Inventory]:
    """A sync inventory "shop" on the emptied test database, shared by threads."""
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=64)
    yield Inventory(Engine(client), "shop")
    client.close()


def _threads(count: int, body: Callable[[int], None]) -> None:
    """Run *body(i)* in *count* threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            body(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]


# -- never oversell ----------------------------------------------------------------------------


def test_threads_get_exactly_the_stock(inv: Inventory, r: redis.Redis) -> None:
    """200 one-unit reservations from 20 threads against stock 50: exactly 50 succeed."""
    inv.add_product("mug", STOCK, 1999)
    granted: list[str] = []

    def body(i: int) -> None:
        for j in range(ATTEMPTS // 20):
            held = inv.reserve("mug", 1, f"customer-{i}-{j}", ttl=30)
            if held:
                granted.append(held.reservation)

    _threads(20, body)
    assert len(granted) == STOCK == len(set(granted))
    assert counts(r, "mug") == (0, STOCK, 0)


def test_tasks_get_exactly_the_stock(server_url: str, r: redis.Redis) -> None:
    """200 one-unit reservations from 200 asyncio tasks against stock 50: exactly 50 succeed."""

    async def main() -> list[bool]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        inv = AsyncInventory(AsyncEngine(client), "shop")
        await inv.add_product("mug", STOCK, 1999)
        results = await asyncio.gather(
            *(inv.reserve("mug", 1, f"customer-{i}", ttl=30) for i in range(ATTEMPTS))
        )
        await client.aclose()
        return [held.ok for held in results]

    assert sum(asyncio.run(main())) == STOCK
    assert counts(r, "mug") == (0, STOCK, 0)


def _reserve_in_process(url: str, kind: str, barrier: Any, attempts: int, out: Any) -> None:
    """Process body: wait for the others, then *attempts* one-unit reservations; count grants."""
    if kind == "async":
        out.put(asyncio.run(_reserve_async(url, barrier, attempts)))
        return
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        inv = Inventory(Engine(client), "shop")
        inv.stock("mug")  # connect and load the scripts before the start line
        barrier.wait()
        out.put(sum(inv.reserve("mug", 1, "c", ttl=30).ok for _ in range(attempts)))
    finally:
        client.close()


async def _reserve_async(url: str, barrier: Any, attempts: int) -> int:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        inv = AsyncInventory(AsyncEngine(client), "shop")
        await inv.stock("mug")
        barrier.wait()
        results = await asyncio.gather(
            *(inv.reserve("mug", 1, "c", ttl=30) for _ in range(attempts))
        )
        return sum(held.ok for held in results)
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_processes_get_exactly_the_stock(server_url: str, r: redis.Redis, kind: str) -> None:
    """4 processes x 50 one-unit reservations against stock 50: exactly 50 succeed in all."""
    Inventory(Engine(redis.Redis.from_url(server_url)), "shop").add_product("mug", STOCK, 1999)
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(4), context.Queue()
    procs = [
        context.Process(
            target=_reserve_in_process, args=(server_url, kind, barrier, ATTEMPTS // 4, out)
        )
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    granted = [out.get(timeout=90) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0] * 4
    assert sum(granted) == STOCK
    assert counts(r, "mug") == (0, STOCK, 0)


# -- expiry ------------------------------------------------------------------------------------


def test_expired_stock_comes_back_once_under_racing_reapers(inv: Inventory, r: redis.Redis) -> None:
    """50 expired reservations raced by reaps, cancels and new reserves return 50 units, once."""
    inv.add_product("mug", STOCK, 1999)
    held = [inv.reserve("mug", 1, f"c{i}", ttl=0.5).reservation for i in range(STOCK)]
    assert counts(r, "mug") == (0, STOCK, 0)
    time.sleep(0.55)
    settled: list[str] = []
    fresh: list[str] = []

    def body(i: int) -> None:
        order = held[:]
        random.Random(i).shuffle(order)
        for rid in order[: STOCK // 2]:
            if i % 3 == 0:
                inv.reap(limit=5)
            elif i % 3 == 1:
                settled.append(inv.cancel(rid).status.value)
            elif inv.reserve("mug", 1, f"late{i}", ttl=30):
                fresh.append(rid)

    _threads(9, body)
    inv.reap()
    stock, reserved, sold = counts(r, "mug")
    assert (stock + reserved + sold, sold) == (STOCK, 0)
    assert reserved == len(fresh) and stock == STOCK - len(fresh)
    assert set(settled) <= {"expired"}
    statuses = {inv.reservation_info(rid).status for rid in held}
    assert statuses == {Status.EXPIRED}


# -- confirm against cancel --------------------------------------------------------------------


def test_racing_confirms_and_cancels_have_one_winner_each(inv: Inventory, r: redis.Redis) -> None:
    """100 reservations, each confirmed and cancelled at once from 16 threads: one wins each."""
    inv.add_product("mug", 100, 1999)
    ids = [inv.reserve("mug", 1, f"c{i}", ttl=30).reservation for i in range(100)]
    work = [(verb, rid) for rid in ids for verb in ("confirm", "cancel")]
    random.Random(7).shuffle(work)
    wins: Counter[str] = Counter()
    outcome: dict[str, list[str]] = {rid: [] for rid in ids}
    lock = threading.Lock()

    def body(i: int) -> None:
        for verb, rid in work[i::16]:
            try:
                done = getattr(inv, verb)(rid)
            except ReservationClosedError as lost:
                with lock:
                    outcome[rid].append(f"lost:{lost.status}")
                continue
            with lock:
                outcome[rid].append(f"won:{done.status.value}")
                wins[verb] += done.changed

    _threads(16, body)
    assert sum(wins.values()) == 100
    for rid, results in outcome.items():
        assert sorted(results) in (
            ["lost:confirmed", "won:confirmed"],
            ["lost:cancelled", "won:cancelled"],
        ), rid
    assert counts(r, "mug") == (wins["cancel"], 0, wins["confirm"])


def test_racing_confirm_and_cancel_tasks_have_one_winner_each(
    server_url: str, r: redis.Redis
) -> None:
    """100 pairs of a confirm task and a cancel task, gathered together: exactly one wins each."""

    async def main() -> tuple[int, int]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        inv = AsyncInventory(AsyncEngine(client), "shop")
        await inv.add_product("mug", 100, 1999)
        ids = [(await inv.reserve("mug", 1, f"c{i}", ttl=30)).reservation for i in range(100)]
        calls = [getattr(inv, verb)(rid) for rid in ids for verb in ("cancel", "confirm")]
        results = await asyncio.gather(*calls, return_exceptions=True)
        await client.aclose()
        for pair in zip(results[::2], results[1::2], strict=True):
            lost = [x for x in pair if isinstance(x, ReservationClosedError)]
            assert len(lost) == 1, pair
        confirmed = sum(1 for x in results[1::2] if not isinstance(x, BaseException))
        cancelled = sum(1 for x in results[::2] if not isinstance(x, BaseException))
        return confirmed, cancelled

    confirmed, cancelled = asyncio.run(main())
    assert confirmed + cancelled == 100
    assert counts(r, "mug") == (cancelled, 0, confirmed)


# -- the cluster -------------------------------------------------------------------------------


@pytest.mark.cluster
def test_an_inventory_works_on_a_cluster(cluster_engine: Any) -> None:
    """Reserve, cart, confirm, cancel, expiry and reaping work on a 3-master cluster."""
    from tests.inventory import make_inv

    inventories = [make_inv(cluster_engine, f"shop-{i}") for i in range(3)]
    for inv in inventories:
        inv.add_product("mug", 3, 1999)
        inv.add_product("tea", 1, 450)
        cart = inv.reserve_many({"mug": 1, "tea": 1}, "alice", ttl=30)
        assert cart.ok and not inv.reserve_many({"mug": 1, "tea": 1}, "bob", ttl=30)
        assert inv.confirm(cart.reservation).changed
        freed = inv.reserve("mug", 1, "bob", ttl=30)
        assert inv.cancel(freed.reservation).status is Status.CANCELLED
        inv.reserve("mug", 2, "carol", ttl=0.05)
    time.sleep(0.1)
    for inv in inventories:
        assert inv.reap().reaped == 1
        info = inv.product_info("mug")
        assert (info.stock, info.reserved, info.sold) == (2, 0, 1)


@pytest.mark.cluster
def test_racing_reservations_on_a_cluster(cluster: EmbeddedCluster) -> None:
    """200 one-unit reservations from 20 threads on a cluster against stock 50: exactly 50."""
    from redis.cluster import RedisCluster

    host, port = cluster.startup_nodes[0]
    client = RedisCluster(host=host, port=port, decode_responses=True)
    try:
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
        inv = Inventory(Engine(client), "race")
        inv.add_product("mug", STOCK, 1999)
        granted: list[bool] = []

        def body(i: int) -> None:
            granted.extend(inv.reserve("mug", 1, f"c{i}", ttl=30).ok for _ in range(10))

        _threads(20, body)
        assert sum(granted) == STOCK
        info = inv.product_info("mug")
        assert (info.stock, info.reserved) == (0, STOCK)
    finally:
        client.close()
