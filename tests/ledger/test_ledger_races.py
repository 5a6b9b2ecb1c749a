"""Races on a real server: processes, threads and tasks moving money in one ledger at once.

Every test checks an invariant after the race, not timing: the total of all balances
is unchanged, no balance is below its floor, every account's history sums to its
balance, a replayed key moves money once, a hold ends exactly once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio

from redlua import AsyncEngine, Engine
from redlua.ledger import (
    AsyncLedger,
    Hold,
    HoldNotPendingError,
    InsufficientFundsError,
    Ledger,
    Transfer,
)
from tests.ledger import history_sum

WORKERS = 8
ROUNDS = 500
ACCOUNTS = [f"acct-{i:02d}" for i in range(20)]
HISTORY_CAP = 5000  # above any account's share of 8 x 500 transfers: the sums see everything
BASE = "redlua:ledger:{bank}"
HOLD_TTL = 0.5  # seconds; the holds a worker leaves to expire are due soon after the race


def _opening(i: int) -> tuple[int, int]:
    """Return (opening balance, overdraft limit) of account *i*: every fourth may go negative."""
    return 1000 + 250 * i, 2000 if i % 4 == 0 else 0


# -- money is conserved ------------------------------------------------------------------------


def _plan(seed: int) -> list[tuple[str, str, str, int, str]]:
    """Return one worker's operations: (op, src, dst, amount, what to do with a hold)."""
    rng = random.Random(seed)
    plan = []
    for i in range(ROUNDS):
        src, dst = rng.sample(ACCOUNTS, 2)
        op = rng.choices(["transfer", "keyed", "hold"], [75, 10, 15])[0]
        extra = rng.choice(["capture", "void", "expire"]) if op == "hold" else f"w{seed}-{i}"
        plan.append((op, src, dst, rng.randint(1, 3000), extra))
    return plan


def _trade(url: str, kind: str, seed: int, barrier: Any, results: Any) -> None:
    """Process body: wait for the others, then run this worker's plan; report the counts."""
    if kind == "async":
        counts = asyncio.run(_trade_async(url, seed, barrier))
    else:
        client = redis.Redis.from_url(url, decode_responses=True)
        ledger = Ledger(Engine(client), "bank", history_cap=HISTORY_CAP)
        ledger.audit(limit=1)  # connect and load a script before the start line
        barrier.wait()
        counts: Counter[str] = Counter()
        for op, src, dst, amount, extra in _plan(seed):
            try:
                if op == "hold":
                    hold = ledger.hold(src, dst, amount, ttl=HOLD_TTL)
                    if extra == "capture":
                        ledger.capture(hold)
                    elif extra == "void":
                        ledger.void(hold)
                    counts[extra] += 1
                    continue
                key = extra if op == "keyed" else None
                done = ledger.transfer(src, dst, amount, idempotency_key=key, memo=op)
                if key is not None:
                    again = ledger.transfer(src, dst, amount, idempotency_key=key)
                    assert again == done._replace(replayed=True)
                counts["transfer"] += 1
            except InsufficientFundsError:
                counts["refused"] += 1
        client.close()
    results.put(dict(counts))


async def _trade_async(url: str, seed: int, barrier: Any) -> Counter[str]:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    ledger = AsyncLedger(AsyncEngine(client), "bank", history_cap=HISTORY_CAP)
    await ledger.audit(limit=1)
    barrier.wait()
    counts: Counter[str] = Counter()
    for op, src, dst, amount, extra in _plan(seed):
        try:
            if op == "hold":
                hold = await ledger.hold(src, dst, amount, ttl=HOLD_TTL)
                if extra == "capture":
                    await ledger.capture(hold.id)
                elif extra == "void":
                    await ledger.void(hold.id)
                counts[extra] += 1
                continue
            key = extra if op == "keyed" else None
            done = await ledger.transfer(src, dst, amount, idempotency_key=key, memo=op)
            if key is not None:
                again = await ledger.transfer(src, dst, amount, idempotency_key=key)
                assert again == done._replace(replayed=True)
            counts["transfer"] += 1
        except InsufficientFundsError:
            counts["refused"] += 1
    await client.aclose()
    return counts


def test_money_is_conserved_under_8_processes(server_url: str, r: redis.Redis) -> None:
    """8 processes x 500 random transfers and holds among 20 accounts conserve the total.

    No balance ends below its floor, held sums return to zero once every hold has ended,
    each account's history sums to its balance, and each transfer id has two entries
    that cancel out.
    """
    client = redis.Redis.from_url(server_url, decode_responses=True)
    ledger = Ledger(Engine(client), "bank", history_cap=HISTORY_CAP)
    for i, name in enumerate(ACCOUNTS):
        opening, overdraft = _opening(i)
        ledger.create(name, "USD", opening=opening, overdraft=overdraft)
    total = sum(_opening(i)[0] for i in range(len(ACCOUNTS)))

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    procs = [
        context.Process(
            target=_trade, args=(server_url, "async" if n % 2 else "sync", n, barrier, results)
        )
        for n in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    counts: Counter[str] = Counter()
    for _ in procs:
        counts.update(results.get(timeout=90))
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    assert sum(counts.values()) == WORKERS * ROUNDS
    assert counts["transfer"] > 1000 and counts["refused"] > 0 and counts["capture"] > 0

    time.sleep(HOLD_TTL + 0.05)  # every hold left to expire is due now
    while ledger.reap():
        pass
    balances = {name: int(v) for name, v in r.hgetall(f"{BASE}:balances").items()}
    assert sum(balances.values()) == total
    assert r.hlen(f"{BASE}:held") == 0 and r.zcard(f"{BASE}:holds:pending") == 0
    legs: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(ACCOUNTS):
        info = ledger.info(name)
        assert info.balance == balances[name] >= -_opening(i)[1]
        assert info.available == info.balance + info.overdraft
        deltas, entries = history_sum(r, "bank", name)
        assert deltas == info.balance and entries < HISTORY_CAP
        for _, fields in r.xrange(f"{BASE}:history:{name}"):
            legs[fields["tx"]].append(int(fields["delta"]))
    moves = {tx: d for tx, d in legs.items() if len(d) == 2}
    assert all(sum(d) == 0 for d in moves.values())
    assert len(legs) - len(moves) == len(ACCOUNTS)  # the opening entries, one leg each
    assert (
        r.xlen(f"{BASE}:audit")
        == len(legs)
        == len(ACCOUNTS) + counts["transfer"] + counts["capture"]
    )
    client.close()


# -- an idempotency key moves money once -------------------------------------------------------


def _race(workers: int, body: Callable[[], Any]) -> list[Any]:
    """Run *body* in *workers* threads released together; return their results."""
    barrier = threading.Barrier(workers)
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            out.append(body())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return out


def _open_pair(ledger: Ledger) -> None:
    ledger.create("a", "USD", opening=1_000_000)
    ledger.create("b", "USD")


def test_a_key_raced_by_threads_moves_money_once(server_url: str, r: redis.Redis) -> None:
    """8 threads x 20 keys, all at once per key: one transfer per key, the rest replays of it."""
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=16)
    ledger = Ledger(Engine(client), "bank")
    _open_pair(ledger)
    for n in range(20):
        results = _race(
            WORKERS, lambda n=n: ledger.transfer("a", "b", 100, idempotency_key=f"k{n}")
        )
        assert sum(not t.replayed for t in results) == 1
        assert len({t._replace(replayed=False) for t in results}) == 1
    assert (ledger.balance("a"), ledger.balance("b")) == (1_000_000 - 2000, 2000)
    assert r.xlen(f"{BASE}:audit") == 21
    client.close()


def test_a_key_raced_by_tasks_moves_money_once(server_url: str, r: redis.Redis) -> None:
    """8 asyncio tasks x 20 keys on one AsyncLedger: one transfer per key, the rest replays."""

    async def main() -> tuple[int, int]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        ledger = AsyncLedger(AsyncEngine(client), "bank")
        await ledger.create("a", "USD", opening=1_000_000)
        await ledger.create("b", "USD")
        for n in range(20):
            results: list[Transfer] = await asyncio.gather(
                *(ledger.transfer("a", "b", 100, idempotency_key=f"k{n}") for _ in range(WORKERS))
            )
            assert sum(not t.replayed for t in results) == 1
            assert len({t._replace(replayed=False) for t in results}) == 1
        balances = (await ledger.balance("a"), await ledger.balance("b"))
        await client.aclose()
        return balances

    assert asyncio.run(main()) == (1_000_000 - 2000, 2000)
    assert r.xlen(f"{BASE}:audit") == 21


# -- a hold ends exactly once ------------------------------------------------------------------


def _end(ledger: Ledger, hold: Hold, rng: random.Random) -> tuple[int, str, bool]:
    """Capture or void *hold* at random: (hold id, what was tried, whether this call ended it)."""
    if rng.random() < 0.5:
        try:
            return hold.id, "capture", not ledger.capture(hold).replayed
        except HoldNotPendingError:
            return hold.id, "capture", False
    try:
        return hold.id, "void", not ledger.void(hold).replayed
    except HoldNotPendingError:
        return hold.id, "void", False


def test_capture_and_void_races_have_one_winner(server_url: str, r: redis.Redis) -> None:
    """8 threads each capture or void every one of 100 holds: exactly one call ends each."""
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=16)
    ledger = Ledger(Engine(client), "bank")
    _open_pair(ledger)
    holds = [ledger.hold("a", "b", 10 + i, ttl=60) for i in range(100)]
    seeds = iter(range(WORKERS))

    def worker() -> list[tuple[int, str, bool]]:
        rng = random.Random(next(seeds))
        return [_end(ledger, hold, rng) for hold in rng.sample(holds, len(holds))]

    outcomes = [o for results in _race(WORKERS, worker) for o in results]
    winners = [(hold, what) for hold, what, won in outcomes if won]
    assert sorted(hold for hold, _ in winners) == [h.id for h in holds]
    captured = {hold for hold, what in winners if what == "capture"}
    for hold in holds:
        state = ledger.hold_info(hold.id).state
        assert state == ("captured" if hold.id in captured else "voided")
    moved = sum(h.amount for h in holds if h.id in captured)
    assert 0 < len(captured) < 100
    assert (ledger.balance("a"), ledger.balance("b")) == (1_000_000 - moved, moved)
    assert ledger.info("a").held == 0 and r.xlen(f"{BASE}:audit") == 1 + len(captured)
    client.close()


def test_capture_and_void_races_between_tasks_have_one_winner(
    server_url: str, r: redis.Redis
) -> None:
    """8 tasks race a capture or a void of each of 50 holds: exactly one call ends each."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        ledger = AsyncLedger(AsyncEngine(client), "bank")
        await ledger.create("a", "USD", opening=10_000)
        await ledger.create("b", "USD")
        ends = 0
        for n in range(50):
            hold = await ledger.hold("a", "b", 100, ttl=60)

            async def end(capture: bool, hold: Hold = hold) -> bool:
                try:
                    if capture:
                        return not (await ledger.capture(hold)).replayed
                    return not (await ledger.void(hold)).replayed
                except HoldNotPendingError:
                    return False

            won = await asyncio.gather(*(end(i % 2 == n % 2) for i in range(WORKERS)))
            assert sum(won) == 1
            ends += 1
        info = await ledger.info("a")
        assert ends == 50 and info.held == 0
        assert info.balance + await ledger.balance("b") == 10_000
        await client.aclose()

    asyncio.run(main())


def test_expired_holds_return_their_money_exactly_once(server_url: str, r: redis.Redis) -> None:
    """100 expired holds, 8 threads racing reap() and void(): each released once, none twice.

    A hold released twice would leave the held sum below zero (it is deleted only at
    exactly zero), and the calls that report a release would count more than 100.
    """
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=16)
    ledger = Ledger(Engine(client), "bank", reap_batch=7)
    ledger.create("a", "USD", opening=5050)
    ledger.create("b", "USD")
    holds = [ledger.hold("a", "b", i, ttl=HOLD_TTL) for i in range(1, 101)]
    assert ledger.info("a").available == 0
    time.sleep(HOLD_TTL + 0.05)
    seeds = iter(range(WORKERS))

    def worker() -> int:
        rng = random.Random(next(seeds))
        released = 0
        for hold in rng.sample(holds, 30):
            released += ledger.reap()
            ended = ledger.void(hold)
            assert ended.state == "expired"
            released += not ended.replayed
        return released

    assert sum(_race(WORKERS, worker)) <= 100
    assert not r.hexists(f"{BASE}:held", "a")
    info = ledger.info("a")
    assert (info.balance, info.held, info.available) == (5050, 0, 5050)
    assert r.zcard(f"{BASE}:holds:pending") == 0 and r.zcard(f"{BASE}:holds:finished") == 100
    assert {ledger.hold_info(h.id).state for h in holds} == {"expired"}
    client.close()
