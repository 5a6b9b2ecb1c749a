"""Keys of the wrong type (or holding junk) already in Redis: a clear error and no write.

Every script call of every recipe is tried against a database where one of the keys it
touches was replaced by a value of another type, or kept its type and got junk inside (a
string "junk" where a number was, hash fields set to "junk", sorted-set scores set to
infinity, list items set to "junk"). The call must either answer normally, or raise a
redlua error (`ScriptReplyError` such as CORRUPT_DATA, or `ServerError` WRONGTYPE) having
written nothing: the database is compared key by key (``DUMP``) before and after.

The keys come from the calls themselves (``call.keys``), so a key a recipe adds later is
attacked too. One sync engine runs the matrix: the property is the scripts', and the async
engine sends the very same EVALSHA (``tests/test_package.py`` checks the twins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from redlua import Call, Engine, RedluaError
from redlua.batch import BatchOps
from redlua.counters import CounterOps, Increment, SetValue, Threshold
from redlua.inventory import InventoryOps
from redlua.ledger import LedgerOps
from redlua.locks import LockOps, fenced_get, fenced_set
from redlua.locks.rwlock import ReadWriteLockCore
from redlua.locks.semaphore import SemaphoreCore
from redlua.ratelimit import Limit, RateLimitOps
from redlua.stateful import KeySchema, LinkOps
from redlua.stateful import registry as pods_api
from redlua.txn import VersionedOps
from tests.hostile._support import Snapshot, changed_keys, raw_client, restore, snapshot

Setup = Callable[[Engine], Any]
Build = Callable[[Any], Call[Any]]


@dataclass(frozen=True)
class Case:
    """One script call: the state it expects (*setup*), then the call to attack (*build*)."""

    label: str
    setup: Setup
    build: Build

    def __repr__(self) -> str:
        return self.label


TYPES = ("string", "list", "hash", "zset", "stream")


def nothing(engine: Engine) -> None:
    """A case that starts from an empty database."""


# -- the recipes' calls ------------------------------------------------------------------------

LOCK = LockOps()
SEM = SemaphoreCore("s", 2, 30)
RW = ReadWriteLockCore("d", 30)
LIMITS = RateLimitOps(
    Limit(10, 60, "sliding_log"),
    Limit(10, 60, "sliding_window"),
    Limit(10, 60, "fixed_window"),
    Limit(10, 60, "token_bucket"),
    Limit(10, 60, "gcra"),
)
COUNTERS = CounterOps()
GROUP = CounterOps(group="g")
STREAMED = Threshold(7, stream=True)
LEDGER = LedgerOps("bank")
SHOP = InventoryOps("shop")
BATCH = BatchOps()
RECORDS = VersionedOps()
SCHEMA = KeySchema.sf("ns")
LINKS = LinkOps(SCHEMA)


def _lock_held(engine: Engine) -> None:
    engine.run(LOCK.acquire("n", "tok", 30, fencing=True))


def _lock_queued(engine: Engine) -> None:
    engine.run(LOCK.acquire("n", "tok", 30, fencing=True))
    engine.run(LOCK.acquire("n", "other", 30, wait="will", longest=5))


def _sem_held(engine: Engine) -> None:
    engine.run(SEM.acquire_call("p1"))


def _rw_read(engine: Engine) -> None:
    engine.run(RW.acquire_call("read", "r1"))


def _rw_written(engine: Engine) -> None:
    engine.run(RW.acquire_call("write", "w1"))
    engine.run(RW.acquire_call("write", "w2"))  # kept out: its intent


def _limited(engine: Engine) -> None:
    engine.run(LIMITS.hit("u", 3))


def _counted(engine: Engine) -> None:
    engine.run(COUNTERS.set("c", 5, ttl=60))
    engine.run(COUNTERS.increment_with_limit("c", 1, notify=Threshold(6, stream=True)))


def _grouped(engine: Engine) -> None:
    engine.run(GROUP.set("a", 5))
    engine.run(GROUP.set("b", 5))


def _bank(engine: Engine) -> int:
    engine.run(LEDGER.create("a", "USD", opening=100_000))
    engine.run(LEDGER.create("b", "USD"))
    engine.run(LEDGER.transfer("a", "b", 100, idempotency_key="k1"))
    return engine.run(LEDGER.hold("a", "b", 50, 60)).id


def _shop(engine: Engine) -> str:
    engine.run(SHOP.add_product("mug", 10, 100, name="Mug"))
    engine.run(SHOP.add_product("tea", 10, 50))
    done = engine.run(SHOP.reserve("mug", 2, "alice", 60, reservation="r1"))
    engine.run(SHOP.reserve("tea", 1, "bob", 60, reservation="r2"))
    engine.run(SHOP.confirm("r2"))
    return done.reservation


def _records(engine: Engine) -> None:
    engine.run(RECORDS.set_if_version("r", "v1", 0, ttl=60))


def _strings(engine: Engine) -> None:
    engine.run(BATCH.update_all({"{b}:1": "x", "{b}:2": "y"}, require_existing=False))


def _linked(engine: Engine) -> None:
    engine.run(LINKS.set_link("u", "game", 1))
    engine.run(LINKS.set_link("u", "chat", 2, ttl=60))
    engine.run(pods_api.heartbeat(SCHEMA, "game", 1, 5, capacity=10, incarnation="i1", lease=60))
    engine.run(pods_api.reserve(SCHEMA, "game", 1, 2))
    engine.run(pods_api.set_workload(SCHEMA, "game", "w"))


CASES: tuple[Case, ...] = (
    # locks and semaphores
    Case("locks.acquire", nothing, lambda _: LOCK.acquire("n", "tok", 30, fencing=True)),
    Case("locks.acquire busy, waiting", _lock_held, lambda _: LOCK.acquire("n", "w", 30, wait="will", longest=2)),
    Case("locks.acquire last try", _lock_queued, lambda _: LOCK.acquire("n", "other", 30, wait="last")),
    Case("locks.release", _lock_held, lambda _: LOCK.release("n", "tok")),
    Case("locks.release to a waiter", _lock_queued, lambda _: LOCK.release("n", "tok")),
    Case("locks.extend", _lock_held, lambda _: LOCK.extend("n", "tok", 5)),
    Case("locks.state", _lock_held, lambda _: LOCK.state("n", "tok")),
    Case("locks.fenced_set", nothing, lambda _: fenced_set("{res}", "v", 5, ttl=60)),
    Case("locks.fenced_get", nothing, lambda _: fenced_get("{res}")),
    Case("semaphore.acquire", _sem_held, lambda _: SEM.acquire_call("p2")),
    Case("semaphore.release", _sem_held, lambda _: SEM.release_call("p1")),
    Case("semaphore.renew", _sem_held, lambda _: SEM.renew_call("p1")),
    Case("semaphore.holders", _sem_held, lambda _: SEM.holders_call()),
    Case("rwlock.acquire_read", _rw_written, lambda _: RW.acquire_call("read", "r9", woken=True)),
    Case("rwlock.acquire_write", _rw_read, lambda _: RW.acquire_call("write", "w9")),
    Case("rwlock.release_read", _rw_read, lambda _: RW.release_call("read", "r1")),
    Case("rwlock.release_write", _rw_written, lambda _: RW.release_call("write", "w1")),
    Case("rwlock.release_intent", _rw_written, lambda _: RW.release_call("intent", "w2")),
    Case("rwlock.renew", _rw_read, lambda _: RW.renew_call("read", "r1")),
    Case("rwlock.state", _rw_written, lambda _: RW.state_call()),
    # rate limits (public builders only)
    Case("ratelimit.hit", _limited, lambda _: LIMITS.hit("u", 2)),
    Case("ratelimit.peek", _limited, lambda _: LIMITS.peek("u")),
    Case("ratelimit.refund", _limited, lambda _: LIMITS.refund("u", 1)),
    Case("ratelimit.reset", _limited, lambda _: LIMITS.reset("u")),
    # counters
    Case("counters.increment", _counted, lambda _: COUNTERS.increment_with_limit("c", 1, 100, ttl=60)),
    Case("counters.increment notify", _counted, lambda _: COUNTERS.increment_with_limit("c", 5, notify=Threshold(10, stream=True))),
    Case("counters.decrement notify", _counted, lambda _: COUNTERS.decrement_if_positive("c", 5, notify=Threshold(3, stream=True, direction="down"))),
    Case("counters.set notify", _counted, lambda _: COUNTERS.set("c", 50, notify=Threshold(10, stream=True))),
    Case("counters.get", _counted, lambda _: COUNTERS.get("c")),
    Case("counters.reset", _counted, lambda _: COUNTERS.reset("c")),
    Case("counters.events", _counted, lambda _: COUNTERS.events("c")),
    Case("counters.batch all", _grouped, lambda _: GROUP.batch([Increment("a", 1, maximum=9), SetValue("b", 7), Increment("c", 2)], all_or_nothing=True).calls[0]),
    # ledger
    Case("ledger.create", _bank, lambda _: LEDGER.create("c", "USD", opening=10)),
    Case("ledger.balance", _bank, lambda _: LEDGER.balance("a")),
    Case("ledger.info", _bank, lambda _: LEDGER.info("a")),
    Case("ledger.freeze", _bank, lambda _: LEDGER.freeze("b")),
    Case("ledger.transfer", _bank, lambda _: LEDGER.transfer("a", "b", 10, idempotency_key="k2", memo="m")),
    Case("ledger.hold", _bank, lambda _: LEDGER.hold("a", "b", 10, 60, idempotency_key="k3")),
    Case("ledger.capture", _bank, lambda hold: LEDGER.capture(hold, "a", "b")),
    Case("ledger.void", _bank, LEDGER.void),
    Case("ledger.hold_info", _bank, LEDGER.hold_info),
    Case("ledger.reap", _bank, lambda _: LEDGER.reap()),
    Case("ledger.history", _bank, lambda _: LEDGER.history("a")),
    Case("ledger.audit", _bank, lambda _: LEDGER.audit()),
    # inventory
    Case("inventory.add_product", _shop, lambda _: SHOP.add_product("pen", 5, 10, name="Pen")),
    Case("inventory.restock", _shop, lambda _: SHOP.restock("mug", 5)),
    Case("inventory.product_info", _shop, lambda _: SHOP.product_info("mug")),
    Case("inventory.reserve", _shop, lambda _: SHOP.reserve_many({"mug": 1, "tea": 1}, "carol", 60, reservation="r3")),
    Case("inventory.confirm", _shop, SHOP.confirm),
    Case("inventory.cancel", _shop, SHOP.cancel),
    Case("inventory.reap", _shop, lambda _: SHOP.reap()),
    Case("inventory.reservation_info", _shop, SHOP.reservation_info),
    # batches and versioned records
    Case("batch.update_all", _strings, lambda _: BATCH.update_all({"{b}:1": "1", "{b}:2": "2", "{b}:3": "3"}, require_existing=False)),
    Case("batch.bulk_get", _strings, lambda _: BATCH.bulk_get(["{b}:1", "{b}:2"]).calls[0]),
    Case("versioned.get", _records, lambda _: RECORDS.get("r")),
    Case("versioned.set_if_version", _records, lambda _: RECORDS.set_if_version("r", "v2", 1, ttl=30)),
    Case("versioned.delete", _records, lambda _: RECORDS.delete("r", 1)),
    # stateful links and pods
    Case("links.set_link", _linked, lambda _: LINKS.set_link("u", "game", 3)),
    Case("links.try_set_link", _linked, lambda _: LINKS.try_set_link("u", "chat", 3, ttl=30)),
    Case("links.set_link_if_absent", _linked, lambda _: LINKS.set_link_if_absent("u", "chat", 3)),
    Case("links.remove_link", _linked, lambda _: LINKS.remove_link("u", "game", 10)),
    Case("links.remove_link_if", _linked, lambda _: LINKS.remove_link_if("u", "game", 1)),
    Case("links.get_link", _linked, lambda _: LINKS.get_link("u", "game")),
    Case("links.get_link_if_persist", _linked, lambda _: LINKS.get_link_if_persist("u", "game")),
    Case("links.linked_services", _linked, lambda _: LINKS.linked_services("u")),
    Case("links.claim", _linked, lambda _: LINKS.claim("u", "chat", 2)),
    Case("links.release", _linked, lambda _: LINKS.release("u", "game", 1, grace=5)),
    Case("links.replace_link_if", _linked, lambda _: LINKS.replace_link_if("u", "game", 1, 4)),
    Case("links.version", _linked, lambda _: LINKS.version("u", "game")),
    Case("pods.heartbeat", _linked, lambda _: pods_api.heartbeat(SCHEMA, "game", 1, 6, incarnation="i1", lease=60)),
    Case("pods.view", _linked, lambda _: pods_api.pods(SCHEMA, "game", expire=60)),
    Case("pods.reserve", _linked, lambda _: pods_api.reserve(SCHEMA, "game", 1, 1)),
    Case("pods.set_state", _linked, lambda _: pods_api.set_state(SCHEMA, "game", 2, "3-1700000000000")),
    Case("pods.remove_pod", _linked, lambda _: pods_api.remove_pod(SCHEMA, "game", 1)),
    Case("pods.workload", _linked, lambda _: pods_api.workload(SCHEMA, "game")),
    Case("pods.set_workload", _linked, lambda _: pods_api.set_workload(SCHEMA, "game", "w2")),
)  # fmt: skip


# -- the corruptions ---------------------------------------------------------------------------


def _kind(raw: redis.Redis, key: bytes) -> str:
    return raw.type(key).decode()


def corruptions(raw: redis.Redis, key: bytes) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Yield (name, apply) for each way *key* can be spoiled, given what it holds now."""
    kind = _kind(raw, key)

    def replace(kind: str) -> Callable[[], Any]:
        def apply() -> None:
            raw.delete(key)
            if kind == "string":
                raw.set(key, "junk")
            elif kind == "list":
                raw.rpush(key, "junk")
            elif kind == "hash":
                raw.hset(key, "junk", "junk")
            elif kind == "zset":
                raw.zadd(key, {"junk": 1})
            elif kind == "stream":
                raw.xadd(key, {"junk": "junk"})

        return apply

    for other in ("string", "list", "hash", "zset", "stream"):
        if other != kind:
            yield other, replace(other)
    if kind == "string":
        yield "junk", lambda: raw.set(key, "junk", keepttl=True)
        yield "huge", lambda: raw.set(key, "9" * 25, keepttl=True)
    elif kind == "hash":
        yield "junk", lambda: raw.hset(key, mapping=dict.fromkeys(raw.hkeys(key), "junk"))
    elif kind == "zset":
        yield "inf", lambda: raw.zadd(key, dict.fromkeys(raw.zrange(key, 0, -1), float("inf")))
    elif kind == "list":
        yield "junk", lambda: [raw.lset(key, i, "junk") for i in range(raw.llen(key))]


def _suffix(key: bytes) -> str:
    text = key.decode()
    return text[text.index("}") + 1 :] if "}" in text else text


@dataclass
class Attack:
    """What one corruption of one key did to one call."""

    key: str
    corruption: str
    outcome: str
    changed: list[bytes]

    @property
    def partial(self) -> bool:
        """True when the call failed and yet changed the database."""
        return self.outcome.startswith("error") and bool(self.changed)


def attack(
    engine: Engine, raw: redis.Redis, case: Case, only: tuple[str, str] | None = None
) -> list[Attack]:
    """Run *case* once per corruption of each of its keys (or *only* one); report each run."""
    raw.flushdb()
    context = case.setup(engine)
    call = case.build(context)
    valid: Snapshot = snapshot(raw)
    found: list[Attack] = []
    for key in call.keys:
        name = key if isinstance(key, bytes) else key.encode()
        if only is not None and only[0] != _suffix(name):
            continue
        restore(raw, valid)
        for corruption, _ in list(corruptions(raw, name)):
            if only is not None and only[1] != corruption:
                continue
            restore(raw, valid)
            apply = dict(corruptions(raw, name))[corruption]
            apply()
            before = snapshot(raw)
            try:
                engine.run(case.build(context))
            except RedluaError as exc:
                outcome = f"error {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            except Exception as exc:  # noqa: BLE001 - anything else is a finding
                outcome = f"crash {type(exc).__name__}: {exc}"
            else:
                outcome = "ok"
            found.append(
                Attack(_suffix(name), corruption, outcome, changed_keys(before, snapshot(raw)))
            )
    return found


# -- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(server_url: str) -> Iterator[tuple[Engine, redis.Redis]]:
    """A sync engine and a bytes client on the test database, for the whole module."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    raw = raw_client(server_url)
    yield Engine(client), raw
    raw.flushdb()
    raw.close()
    client.close()


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_wrong_types_fail_cleanly(env: tuple[Engine, redis.Redis], case: Case) -> None:
    """Each call facing a spoiled key answers, or raises a redlua error having written nothing."""
    engine, raw = env
    problems = []
    for hit in attack(engine, raw, case):
        if hit.outcome.startswith("crash"):
            problems.append(f"{hit.key} as {hit.corruption}: {hit.outcome}")
        elif hit.partial:
            problems.append(f"{hit.key} as {hit.corruption}: {hit.outcome}; wrote {hit.changed}")
    assert problems == []
