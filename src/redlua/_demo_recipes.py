"""The recipes' scenarios of ``redlua demo``: each seed story, raced by threads and checked.

One function per recipe, each meant to be read as documentation: the story the seed
tells, the redlua calls that replace the seed's code, and the invariant that must hold
while threads race for the same keys: a lock admits one holder at a time, a limiter
admits exactly its limit, a counter stops at its ceiling, money and stock are
conserved, a confirm and a cancel never both win.

The rules of `redlua._demo` apply. The scenarios print with ``out.say``, and they check
with ``out.check``, never from a worker thread: workers return what they saw, and the
scenario checks it after the race. Every name carries the run's tag (``out.tag``), so
two demos, or a demo and an application, never share a key. Every key a recipe creates
is named for the clean-up, through that recipe's own key builders (`lock_keys`,
`ledger_keys`, `inventory_keys`, ``Counters.ops.keys``, ...). Nothing is flushed, and no
server-wide command is sent. Each scenario plays in well under two seconds on a local
server.

`RECIPES` lists them as ``(title, play)`` pairs and `redlua._demo` appends them to its
``SCENARIOS``. This module imports nothing from ``_demo`` at run time, so either
module can be imported first.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from redlua._checks import text
from redlua.batch import (
    Batch,
    Decr,
    Delete,
    Expire,
    Get,
    HGet,
    HSet,
    Incr,
    LPush,
    RPush,
    SAdd,
    Set,
    ZAdd,
)
from redlua.counters import Counters, CounterUpdate, Threshold, ThresholdEvent
from redlua.errors import RedluaError
from redlua.inventory import Inventory, ReservationClosedError, Status, inventory_keys
from redlua.ledger import InsufficientFundsError, Ledger, ledger_keys
from redlua.locks import (
    Lock,
    ReadWriteLock,
    RWState,
    Semaphore,
    fence_key_for,
    fenced_set,
    lock_keys,
)
from redlua.ratelimit import Decision, Limit, RateLimiter
from redlua.txn import Transactions, Versioned

if TYPE_CHECKING:
    from redlua._demo import Narrator
    from redlua.engine import Engine

T = TypeVar("T")

THREADS = 8
ROUNDS = 25
"""What each of the `THREADS` threads repeats in a race."""


# -- helpers -------------------------------------------------------------------------------


def together(work: Callable[[int], T], threads: int = THREADS) -> list[T]:
    """Run ``work(0)`` .. ``work(threads - 1)`` in as many threads released at once.

    Return their results in that order; the first error a thread raised is raised here.
    """
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


def named(out: Narrator, what: str) -> str:
    """Return the name of a lock, a ledger, ... of this run: ``demo-<tag>-<what>``."""
    return f"demo-{out.tag}-{what}"


def number(raw: Any) -> int:
    """Return a value read with GET as an int (0 when missing)."""
    return int(raw or 0)


def until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll *condition* every 5 ms for up to *seconds*; return whether it came true."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# -- locks ---------------------------------------------------------------------------------


def locks(engine: Engine, out: Narrator) -> None:
    """Seed: ``DistributedLock`` (SETNX, then PEXPIRE; acquire never waits). Here threads
    wait on a `Lock`, get strictly increasing fencing tokens, and a fair release hands the
    lock straight to the waiter; a `Semaphore` of 3 never has a fourth holder; readers share
    a `ReadWriteLock` and a writer holds it alone."""
    client, total = engine.client, THREADS * ROUNDS
    lock = Lock(engine, named(out, "counter"), ttl=5.0, fencing=True)
    for key in lock_keys(lock.name)[:4]:
        out.remember(key)
    count, fences = out.key("locked-count"), []

    def increment(_: int) -> None:
        for _ in range(ROUNDS):
            with lock:  # a non-atomic GET then SET: safe only if nobody else is inside
                fences.append(lock.fence or 0)  # appended while held: in the order of grants
                client.set(count, number(client.get(count)) + 1)

    together(increment)
    out.say(f"{THREADS} threads x {ROUNDS} increments by GET then SET, each inside `with lock:`")
    out.check(number(client.get(count)) == total, f"no increment was lost: {total}")
    out.check(
        len(fences) == total and fences == sorted(set(fences)),
        f"the {total} fencing tokens strictly increase, grant after grant ({fences[0]} .. "
        f"{fences[-1]})",
    )
    report = out.key("report")
    out.remember(text(fence_key_for(report)))
    newest = engine.run(fenced_set(report, "from the newest holder", fences[-1]))
    stale = engine.run(fenced_set(report, "from a holder paused past its ttl", fences[-2]))
    out.check(newest and not stale, "fenced_set takes the newest token and refuses an older one")

    keys = lock_keys(lock.name)
    lock = Lock(engine, lock.name, ttl=5.0, fencing=True, fair=True)
    before = engine.stats()["locks_acquire"].calls
    lock.acquire()
    holder_fence, seen = lock.fence or 0, dict[str, Any]()

    def wait() -> None:  # the same Lock object: its owner is the thread
        seen["got"], seen["fence"] = lock.acquire(timeout=5.0), lock.fence
        lock.release()

    waiter = threading.Thread(target=wait)
    waiter.start()
    queued = until(lambda: int(client.zcard(keys.waiters)) == 1)
    time.sleep(0.02)  # its BLPOP on the wake list is on the way
    lock.release()
    waiter.join(5.0)
    calls = engine.stats()["locks_acquire"].calls - before
    out.say(f"a waiter queues in {keys.waiters} and blocks on {keys.wake} (BLPOP, no polling)")
    out.check(
        queued and seen.get("got") is True and seen.get("fence") == holder_fence + 1,
        f"a fair release handed the lock to the waiter, with the next token ({holder_fence + 1})",
    )
    out.check(calls == 2, "2 acquire calls in all: the holder's and the waiter's first try")

    sem = Semaphore(engine, named(out, "exports"), limit=3, ttl=5.0)
    out.remember(sem.core.key)
    out.remember(sem.core.wake_key)
    inside, guard = [0, 0], threading.Lock()  # holders now, most holders seen

    def export(_: int) -> None:
        for _ in range(5):
            with sem:
                with guard:
                    inside[0] += 1
                    inside[1] = max(inside)
                time.sleep(0.005)
                with guard:
                    inside[0] -= 1

    together(export)
    out.say(
        f"{THREADS} threads x 5 exports through Semaphore(limit=3): at most {inside[1]} at once"
    )
    out.check(inside[1] <= 3, "never more than 3 holders")
    out.check(sem.available() == 3, "every permit came back")

    rw = ReadWriteLock(engine, named(out, "catalog"), ttl=5.0)
    for key in rw.core.keys:
        out.remember(key)
    seen = {"readers": 0, "most": 0, "clash": 0}

    def browse(worker: int) -> None:  # one thread in four edits, the others read
        for i in range(ROUNDS):
            editing = (worker + i) % 4 == 0
            with rw.write() if editing else rw.read():
                with guard:
                    if editing and seen["readers"]:
                        seen["clash"] += 1
                    seen["readers"] += 0 if editing else 1
                    seen["most"] = max(seen["most"], seen["readers"])
                time.sleep(0.002)
                with guard:
                    seen["readers"] -= 0 if editing else 1

    together(browse)
    out.say(
        f"{THREADS} threads x {ROUNDS} holds of ReadWriteLock (one in four writes): up to"
        f" {seen['most']} readers at once"
    )
    out.check(seen["clash"] == 0, "no writer ever held the lock beside a reader")
    out.check(rw.state() == RWState("", 0.0, 0, ""), "nobody holds it afterwards")


# -- rate limiter --------------------------------------------------------------------------


def admitted(limiter: RateLimiter, identity: str, hits: int, **options: Any) -> int:
    """Send *hits* requests of *identity* from each of `THREADS` threads; count the admitted."""

    def send(_: int) -> list[Decision]:
        return [limiter.hit(identity, **options) for _ in range(hits)]

    return sum(d.allowed for per_thread in together(send) for d in per_thread)


def rate_limiter(engine: Engine, out: Narrator) -> None:
    """Seed: ``check_sliding_window`` stores the millisecond as the ZSET member, so requests
    in the same millisecond count once and all pass. Here 80 racing requests that all carry
    one millisecond meet a limit of 10, and a request denied by one limit consumes nothing
    from the others."""
    now = time.time()  # now= pins the clock: every request carries the same millisecond
    client_id, hits = named(out, "client"), 10
    out.say(f"{THREADS} threads x {hits} requests, all at one millisecond (now= pins the clock)")
    for algorithm in ("sliding_log", "fixed_window"):
        limiter = RateLimiter(engine, Limit(10, 60, algorithm))
        for key in limiter.ops.keys(client_id):
            out.remember(key)
        got = admitted(limiter, client_id, hits, now=now)
        out.check(got == 10, f"{algorithm}, 10 per minute: exactly 10 of {THREADS * hits} in")
    out.say("(the seed's log, one ZSET member per millisecond, counts them as 1 and admits all)")

    tenant = named(out, "tenant")
    limiter = RateLimiter(
        engine,
        Limit(3, 60, "sliding_log", name="user"),
        Limit(100, 60, "fixed_window", scope="tag", name="tenant"),
    )
    for user in ("alice", "bob"):
        for key in limiter.ops.keys(user, tag=tenant):
            out.remember(key)
    out.say("alice's requests must pass her limit (3 a minute) and her tenant's (100 a minute)")
    got = admitted(limiter, "alice", 1, tag=tenant, now=now)
    out.check(got == 3, f"{THREADS} racing requests from alice: exactly 3 in")
    left = limiter.peek("bob", tag=tenant, now=now).parts[1].remaining
    out.check(left == 97, f"the tenant's limit has 97 left: the {THREADS - 3} denied took nothing")


# -- counters ------------------------------------------------------------------------------


def counters(engine: Engine, out: Narrator) -> None:
    """Seed: ``increment_with_limit`` with ``max_value=float('inf')`` and a counter that
    PUBLISHes at a threshold. Here threads race a counter to its ceiling, which it reaches
    and never passes, and the crossing of a threshold is published exactly once."""
    counts = Counters(engine)
    quota = named(out, "quota")
    keys = counts.ops.keys(quota)
    out.remember(keys.counter)
    out.remember(keys.events)
    channel = f"redlua:demo:{out.tag}:alerts"  # a channel, not a key: nothing to delete
    pubsub = engine.client.pubsub()
    try:
        pubsub.subscribe(channel)
        confirmed = pubsub.get_message(timeout=2.0)  # the subscription is active from here
        alert = Threshold(90, channel=channel)

        def spend(_: int) -> list[CounterUpdate]:
            step = counts.increment_with_limit
            return [step(quota, 1, maximum=100, ttl=60, notify=alert) for _ in range(ROUNDS)]

        updates = [u for per_thread in together(spend) for u in per_thread]
        messages = []
        while (message := pubsub.get_message(timeout=0.3)) is not None:
            if message["type"] in ("message", b"message"):
                messages.append(ThresholdEvent.from_message(message["data"]))
    finally:
        pubsub.close()
    applied = sum(u.applied for u in updates)
    out.say(f"{THREADS} threads x {ROUNDS} increments, maximum=100, Threshold(90) on {channel}")
    out.check(
        counts.get(quota) == 100 and applied == 100,
        f"it ends at its ceiling, 100: {applied} applied, {len(updates) - applied} refused",
    )
    crossing = [u for u in updates if u.crossed]
    out.check(
        confirmed is not None and len(crossing) == 1 and len(messages) == 1,
        "one increment crossed 90 and the subscriber got one message",
    )
    event = messages[0]
    out.say(f"message: level {event.level} {event.direction}, {event.before} -> {event.after}")
    out.check((event.before, event.after) == (89, 90), "it names the change that crossed: 89 -> 90")


# -- versioned records and WATCH -----------------------------------------------------------


def versioned_and_watch(engine: Engine, out: Narrator) -> None:
    """Seed: an optimistic write that INCRs the version before comparing, so one failed
    writer makes every later writer fail; ``watched_transaction`` reading on another
    connection. Here racing updates by compare-and-set and by WATCH lose nothing, and
    conflicts are retried and counted."""
    client, total = engine.client, THREADS * ROUNDS
    records = Versioned(engine, attempts=100)
    doc = named(out, "doc")
    out.remember(records.key(doc))

    def bump(_: int) -> None:
        for _ in range(ROUNDS):
            records.update(doc, lambda value: str(number(value) + 1))

    together(bump)
    value, version = records.get(doc)
    stats = records.stats()
    out.say(
        f"{THREADS} threads x {ROUNDS} Versioned.update(+1): {stats.conflicts} conflicts retried"
    )
    out.check(
        number(value) == total and version == total, f"nothing lost: value {total}, version {total}"
    )
    refused = records.set_if_version(doc, "stale", version - 1)
    out.check(
        not refused.ok and records.get(doc).version == version,
        "a write with an old version is refused and changes nothing, not even the version",
    )

    tx = Transactions(engine, attempts=100)
    checking, savings = out.key("checking"), out.key("savings")
    client.set(checking, total)
    client.set(savings, 0)

    def move(t: Any) -> int:  # t: the transaction's `Watched` handle
        left = number(t.get(checking))  # read on the watched connection
        t.multi()
        t.decrby(checking, 1)
        t.incrby(savings, 1)
        return left - 1

    together(lambda _: [tx.run(move, checking, savings) for _ in range(ROUNDS)])
    stats = tx.stats()
    out.say(f"{THREADS} threads x {ROUNDS} WATCH transfers of 1: {stats.conflicts} conflicts")
    balances = (number(client.get(checking)), number(client.get(savings)))
    out.check(balances == (0, total), f"every transfer landed once: checking 0, savings {total}")
    out.check(
        stats.committed == total and stats.attempts == stats.committed + stats.conflicts,
        "Transactions.stats(): every attempt either committed or conflicted and was retried",
    )
    tx.reset_stats()
    meddled: list[int] = []

    def meddle(t: Any) -> int:
        value = number(t.get(savings))
        if not meddled:  # another client writes a watched key between WATCH and EXEC
            meddled.append(int(client.incr(savings)))
        t.multi()
        t.set(checking, value)
        return value

    done = tx.run(meddle, checking, savings)
    out.check(
        done.attempts == 2 and tx.stats().conflicts == 1 and done.value == total + 1,
        "a write by another client between WATCH and EXEC: one conflict, then a commit that"
        " read the new value",
    )


# -- ledger --------------------------------------------------------------------------------


ACCOUNTS = ("alice", "bob", "carol", "dave", "erin")


def ledger(engine: Engine, out: Narrator) -> None:
    """Seed: ``BankTransferSystem`` (Decimal strings rewritten by SET after a read, no
    idempotency). Here threads move money at random between five accounts: the total is
    conserved and no balance goes below zero; a transfer sent 8 times with one
    idempotency key moves once; a hold that expires gives its money back."""
    bank = Ledger(engine, named(out, "bank"))
    for key in ledger_keys(bank.name)[:8]:
        out.remember(key)
    for account in (*ACCOUNTS, "shop", "customer"):
        out.remember(bank.ops.history_key(account))
        bank.create(account, "USD", opening=Decimal("100.00"))
    opening = 100_00 * len(ACCOUNTS)

    def trade(seed: int) -> tuple[int, int]:
        rng, moved, refused = random.Random(seed), 0, 0
        for _ in range(ROUNDS):
            src, dst = rng.sample(ACCOUNTS, 2)
            try:
                bank.transfer(src, dst, rng.randint(1, 60_00))  # minor units: cents
                moved += 1
            except InsufficientFundsError:
                refused += 1
        return moved, refused

    outcome = together(trade)
    moved = sum(m for m, _ in outcome)
    balances = {account: bank.balance(account) for account in ACCOUNTS}
    out.say(
        f"{THREADS} threads x {ROUNDS} random transfers: {moved} moved, "
        f"{THREADS * ROUNDS - moved} refused (insufficient funds)"
    )
    out.say("balances: " + ", ".join(f"{a} {b / 100:.2f}" for a, b in balances.items()))
    out.check(sum(balances.values()) == opening, f"the total is conserved: {opening / 100:.2f}")
    out.check(min(balances.values()) >= 0, "no balance went below zero")
    audit = bank.audit(limit=1000).entries
    out.check(
        sum(entry.kind == "transfer" for entry in audit) == moved,
        f"the audit stream holds each of the {moved} transfers once",
    )

    out.remember(bank.ops.idempotency_key("order-7"))
    sent = together(
        lambda _: bank.transfer("customer", "shop", Decimal("12.50"), idempotency_key="order-7")
    )
    first = [t for t in sent if not t.replayed]
    out.check(
        len(first) == 1 and len({t.id for t in sent}) == 1 and bank.balance("customer") == 87_50,
        f"{THREADS} threads send one transfer (idempotency_key='order-7'): it moved 12.50 once,"
        f" {THREADS - 1} got the same transfer back",
    )

    hold = bank.hold("customer", "shop", Decimal("20.00"), ttl=0.4)
    out.check(
        bank.info("customer").available == 67_50, "a hold of 20.00 for 0.4 s: 67.50 available"
    )
    time.sleep(0.5)
    info = bank.info("customer")  # the scripts reap due holds as they run
    out.check(
        bank.hold_info(hold.id).state == "expired" and info.available == info.balance == 87_50,
        "the hold expired and gave its 20.00 back: 87.50 available",
    )


# -- inventory -----------------------------------------------------------------------------


def inventory(engine: Engine, out: Narrator) -> None:
    """Seed: ``InventoryManager`` (expired reservations never return their stock; confirm
    and cancel read, check and write in separate round trips). Here 40 customers race for
    25 mugs, confirm races cancel, and an expired reservation returns its stock."""
    shop = Inventory(engine, named(out, "shop"))
    for key in inventory_keys(shop.ops.name)[:8]:
        out.remember(key)
    shop.add_product("mug", stock=25, price=1999, name="Mug")
    tries = together(lambda i: shop.reserve("mug", 1, customer=f"customer-{i}", ttl=30), 40)
    held = [r.reservation for r in tries if r]
    mug = shop.product_info("mug")
    out.say(f"40 threads reserve 1 mug each, stock 25: {len(held)} reserved")
    out.check(
        len(held) == 25 and (mug.stock, mug.reserved) == (0, 25),
        "exactly 25 reserved, stock 0: never oversold",
    )

    def settle(i: int) -> Status | None:
        act = shop.confirm if i % 2 == 0 else shop.cancel
        try:
            return act(held[i // 2]).status
        except ReservationClosedError:  # the other one won
            return None

    ends = together(settle, 2 * len(held))
    pairs = list(zip(ends[0::2], ends[1::2], strict=True))
    confirmed = sum(c is Status.CONFIRMED for c, _ in pairs)
    out.say(f"each reservation: a confirm and a cancel at once -> {confirmed} confirmed")
    out.check(
        all((c is None) != (x is None) for c, x in pairs),
        "for each of the 25, exactly one of the two won; the other got ReservationClosedError",
    )
    mug = shop.product_info("mug")
    out.check(
        (mug.sold, mug.stock, mug.reserved) == (confirmed, 25 - confirmed, 0),
        f"sold {mug.sold}, back in stock {mug.stock}: nothing counted twice",
    )

    shop.add_product("tea", stock=5, price=450)
    late = shop.reserve("tea", 3, customer="dawdler", ttl=0.2)
    time.sleep(0.3)
    reaped = shop.reap()
    record = shop.reservation_info(late.reservation)
    out.check(
        reaped.reaped == 1 and shop.stock("tea") == 5,
        "3 teas reserved for 0.2 s, never confirmed: the reaper returned them (stock 5)",
    )
    out.check(
        record is not None and record.status is Status.EXPIRED, "the reservation reads EXPIRED"
    )


# -- batches -------------------------------------------------------------------------------


def batches(engine: Engine, out: Narrator) -> None:
    """Seed: ``BatchProcessor`` (keys built inside Lua from JSON) and a batch update whose
    rollback writes the new values again. Here keys are declared, each operation keeps its
    own result, and ``update_all`` writes every key or none."""
    client, batch = engine.client, Batch(engine)
    greeting, hits, profile = out.key("greeting"), out.key("hits"), out.key("profile")
    queue, tags, board = out.key("queue"), out.key("tags"), out.key("board")
    results = batch.process_batch([
        Set(greeting, "hello", ttl=60), Get(greeting), Incr(hits, 5), Decr(hits, 2),
        HSet(profile, "name", "Ada"), HGet(profile, "name"), RPush(queue, "job-1"),
        LPush(queue, "job-0"), SAdd(tags, "redis"), ZAdd(board, "ada", 42.0),
        Expire(hits, 60), Delete(greeting),
    ])  # fmt: skip
    shown = [text(r) if isinstance(r, bytes) else r for r in results]
    out.say(f"process_batch of 12 operations (set .. del) -> {shown}")
    out.check(
        shown == [True, "hello", 5, 3, 1, "Ada", 1, 2, 1, 1, True, 1],
        "each operation has its own result, in order",
    )
    together(lambda i: batch.process_batch([Incr(hits, 1)] * 50 + [SAdd(tags, f"thread-{i}")]))
    out.check(
        number(client.get(hits)) == 3 + THREADS * 50 and int(client.scard(tags)) == 1 + THREADS,
        f"{THREADS} threads x 50 increments in batches: {3 + THREADS * 50}, no update lost",
    )
    mixed = batch.process_batch([Incr(queue, 1), Incr(hits, 1)], return_exceptions=True)
    out.check(
        isinstance(mixed[0], RedluaError) and mixed[1] == 4 + THREADS * 50,
        f"INCR on a list fails alone ({type(mixed[0]).__name__}); the next operation ran",
    )

    accounts = [out.key(f"balance-{n}") for n in "abc"]
    batch.bulk_set(dict.fromkeys(accounts, "start"))
    stop, reads, torn = threading.Event(), [0], [0]

    def watch() -> None:  # MGET reads the three at one instant (they share a slot)
        while not stop.is_set():
            reads[0] += 1
            torn[0] += len(set(client.mget(accounts))) != 1

    reader = threading.Thread(target=watch)
    reader.start()
    try:
        together(
            lambda i: [batch.update_all(dict.fromkeys(accounts, f"w{i}.{j}")) for j in range(50)]
        )
    finally:
        stop.set()
        reader.join()
    out.check(
        torn[0] == 0,
        f"{THREADS} threads x 50 update_all of 3 keys; a reader's {reads[0]} MGETs never saw"
        " two writers' values mixed",
    )
    missing = out.key("balance-missing")
    before = client.mget(accounts)
    refused = batch.update_all({accounts[0]: "x", accounts[1]: "x", missing: "x"})
    out.say(f"update_all with a missing key -> {refused}")
    out.check(
        not refused.ok and client.mget(accounts) == before and not client.exists(missing),
        "refused before any write: the two existing keys kept their values",
    )


RECIPES: tuple[tuple[str, Callable[[Engine, Narrator], None]], ...] = (
    ("locks and semaphores", locks),
    ("rate limiter", rate_limiter),
    ("counters", counters),
    ("versioned records and WATCH", versioned_and_watch),
    ("ledger", ledger),
    ("inventory", inventory),
    ("batches", batches),
)
"""The recipes' scenarios, in the README's order: ``(title, play)``."""
