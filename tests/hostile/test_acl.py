"""Security: least-privilege ACL users, authenticated by username and password in the URL.

`NEEDS` is the table the README gives operators: for each recipe, the commands its scripts
send (ACL checks every command a script runs, and every key it touches, against the calling
user) and the extra commands its Python side sends, with the key patterns and channels it
uses. The tests keep that table true:

* it names every command found in the recipe's scripts (a new ``redis.call`` fails here
  until the table, and so the README, says so), and every shipped script belongs to a row;
* a user granted exactly one row (plus `ENGINE` and `CONNECTION`) and nothing else runs the
  whole recipe, on both engines, connecting as ``redis://user:password@host:port/9``;
* a user granted *only the keys a call declares* (``~key`` for each of ``call.keys``) runs
  every call of every recipe: no script touches a key it did not declare;
* a key outside the user's patterns is refused with NOPERM before the script runs, and a
  wrong password is refused at connection time.

The users live on the private server (ACL SETUSER is server-wide) and are deleted after.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatch
from typing import Any

import pytest
import redis

from redlua import (
    Call,
    EmbeddedServer,
    Engine,
    Flow,
    Script,
    ServerError,
    Wait,
    load_script,
    shipped_scripts,
)
from redlua.batch import (
    AsyncBatch,
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
from redlua.counters import (
    AsyncCounters,
    Counters,
    Decrement,
    Increment,
    SetValue,
    Threshold,
)
from redlua.inventory import AsyncInventory, Inventory
from redlua.ledger import AsyncLedger, Ledger
from redlua.locks import LockOps, fenced_get, fenced_set
from redlua.locks.rwlock import ReadWriteLockCore
from redlua.locks.semaphore import SemaphoreCore
from redlua.ratelimit import AsyncRateLimiter, Limit, RateLimiter
from redlua.stateful import AsyncLinks, AsyncRouter, KeySchema, Links, Router
from redlua.stateful import registry as pods_api
from redlua.txn import AsyncTransactions, AsyncVersioned, Transactions, Versioned
from tests.conftest import Blocking, EngineFactory
from tests.hostile._support import changed_keys, raw_client, snapshot, twin
from tests.hostile.test_wrong_types import CASES

pytestmark = pytest.mark.private_server

ENGINE = ("EVALSHA", "EVALSHA_RO", "SCRIPT|LOAD")
"""What every engine sends: scripts by SHA1, loaded with SCRIPT LOAD (never EVAL)."""
CONNECTION = ("SELECT",)
"""What redis-py sends on connecting to a database other than 0 (CLIENT SETINFO may be refused)."""


@dataclass(frozen=True)
class Need:
    """One row of the table: a recipe's scripts, commands, key patterns and channels."""

    scripts: tuple[str, ...]  # globs of the shipped script names it runs
    commands: tuple[str, ...]  # sent by its scripts
    python: tuple[str, ...]  # sent by its Python side besides ENGINE
    keys: tuple[str, ...]  # ACL key patterns of its default prefixes
    channels: tuple[str, ...] = ()
    note: str = ""


NEEDS: dict[str, Need] = {
    "locks": Need(
        ("locks_*", "semaphore_*", "rwlock_*"),
        ("DEL", "EXISTS", "GET", "INCR", "LINDEX", "LTRIM", "PEXPIRE", "PTTL", "RPUSH", "SET",
         "TIME", "TYPE", "ZADD", "ZCARD", "ZCOUNT", "ZRANGE", "ZRANGEBYSCORE", "ZREM",
         "ZREMRANGEBYSCORE", "ZSCORE"),
        ("BLPOP",),
        ("redlua:lock:*", "redlua:sem:*", "redlua:rw:*"),
        note="BLPOP: a blocked acquire waits on the wake list; fenced_set/fenced_get also touch"
        " the protected key and its fence key (the caller's keys)",
    ),
    "ratelimit": Need(
        ("ratelimit_*",),
        ("DEL", "GET", "LINDEX", "LLEN", "LPUSH", "LTRIM", "PEXPIRE", "SET", "TIME"),
        (),
        ("redlua:rl:*",),
        note="TIME unless every call passes now=",
    ),
    "counters": Need(
        ("counter_*",),
        ("DECRBY", "DEL", "GET", "INCRBY", "PEXPIRE", "PUBLISH", "SET", "TYPE", "XADD",
         "XRANGE"),
        (),
        ("redlua:counter:*",),
        ("alerts",),
        note="PUBLISH needs &<channel> for each Threshold(channel=...)",
    ),
    "ledger": Need(
        ("ledger_*",),
        ("GET", "HDEL", "HEXISTS", "HGET", "HINCRBY", "HMGET", "HSET", "INCR", "SET", "TIME",
         "TYPE", "XADD", "XREVRANGE", "ZADD", "ZRANGEBYSCORE", "ZREM"),
        (),
        ("redlua:ledger:*",),
    ),
    "inventory": Need(
        ("inventory_*",),
        ("HDEL", "HEXISTS", "HGET", "HINCRBY", "HSET", "TIME", "TYPE", "ZADD", "ZCOUNT",
         "ZRANGEBYSCORE", "ZREM"),
        (),
        ("redlua:inv:*",),
    ),
    "batch": Need(
        ("batch_*",),
        ("DEL", "GET", "HGET", "HSET", "INCRBY", "LPUSH", "PEXPIRE", "RPUSH", "SADD", "SET",
         "TYPE", "ZADD"),
        (),
        ("app:*",),
        note="keys are the caller's own (app:* in the test)",
    ),
    "versioned": Need(
        ("versioned_*",),
        ("HDEL", "HMGET", "HSET", "PERSIST", "PEXPIRE"),
        (),
        ("redlua:ver:*",),
    ),
    "transactions": Need(
        (),
        (),
        ("WATCH", "MULTI", "EXEC", "UNWATCH", "GET", "INCRBY"),
        ("acct:*",),
        note="plus whatever the caller's function sends (GET and INCRBY in the test)",
    ),
    "stateful": Need(
        ("stateful_*",),
        ("DEL", "EXPIRE", "GET", "HDEL", "HGET", "HGETALL", "HINCRBY", "HSET", "INCR",
         "PEXPIRE", "PTTL", "SET", "TIME", "TTL", "TYPE"),
        (),
        ("sf:*",),
        note="KeySchema.slug(...) uses slug-lk:* and slug-state:* instead",
    ),
    "engine": Need(
        ("core_*",),
        ("TIME",),
        ("MULTI", "EXEC"),
        (),
        note="MULTI/EXEC only for run_many(atomic=True); engine.exists() adds SCRIPT|EXISTS,"
        " engine.flush() SCRIPT|FLUSH, engine.kill() SCRIPT|KILL",
    ),
}  # fmt: skip


def _sent(source: str) -> set[str]:
    """Return the commands a script's source sends with redis.call/pcall (literal or chosen)."""
    found: set[str] = set()
    for first in re.findall(r"redis\.p?call\(\s*([^,)]+)", source):
        found.update(re.findall(r"'([A-Z][A-Z_|]*)'", first))
        found.update(re.findall(r'"([A-Z][A-Z_|]*)"', first))
    return found


def test_table_covers_every_script_and_command() -> None:
    """Every shipped script belongs to one row; each row names every command its scripts send."""
    owners: dict[str, list[str]] = {}
    for name in shipped_scripts():
        owners[name] = [
            r for r, need in NEEDS.items() if any(fnmatch(name, g) for g in need.scripts)
        ]
    assert {n: o for n, o in owners.items() if len(o) != 1} == {}
    missing = {}
    for recipe, need in NEEDS.items():
        sent: set[str] = set()
        for name, script in shipped_scripts().items():
            if owners[name] == [recipe]:
                sent |= _sent(script.source)
        if sent - set(need.commands):
            missing[recipe] = sorted(sent - set(need.commands))
    assert missing == {}


def test_the_command_scan_sees_chosen_commands() -> None:
    """The scan finds commands chosen by an expression, as counter_batch chooses INCRBY/DECRBY."""
    assert _sent("redis.call(op == 'incr' and 'INCRBY' or 'DECRBY', KEYS[1], a)") == {
        "INCRBY",
        "DECRBY",
    }
    assert _sent("redis.pcall('GET', KEYS[1]) redis.call(\"SET\", k, v)") == {"GET", "SET"}


# -- users -----------------------------------------------------------------------------------------


def acl_refusal(exc: BaseException) -> bool:
    """Tell whether *exc* is the server refusing a command, key or channel to this user.

    At top level the reply is ``NOPERM ...``; inside a script it reads ``ERR ACL failure in
    script: No permissions to access a key`` (Valkey) or ``ERR The user executing the script
    can't access ...`` (Redis), depending on the server.
    """
    text = str(exc).lower()
    return isinstance(exc, ServerError) and (
        exc.code == "NOPERM"
        or any(w in text for w in ("acl failure", "can't access", "no permissions"))
    )


def _escape(key: str | bytes) -> str:
    text = key.decode() if isinstance(key, bytes) else key
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class Users:
    """Create ACL users on the private server and delete them afterwards."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.admin = server.client()
        self.made: list[str] = []

    def make(
        self,
        commands: tuple[str, ...] | str,
        keys: tuple[str, ...],
        channels: tuple[str, ...] = (),
        *,
        exact: bool = False,
    ) -> str:
        """Create a user with *commands* (or a rule such as "+@all") on *keys*; return its URL."""
        name = f"hostile_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        rules = ["on", f">{password}", "resetkeys", "resetchannels", "-@all"]
        if isinstance(commands, str):
            rules.append(commands)
        else:
            rules += [f"+{c.lower()}" for c in commands]
        rules += [f"~{_escape(k)}" if exact else f"~{k}" for k in keys]
        rules += [f"&{c}" for c in channels]
        self.admin.execute_command("ACL", "SETUSER", name, *rules)
        self.made.append(name)
        return f"redis://{name}:{password}@{self.server.host}:{self.server.port}/9"

    def close(self) -> None:
        """Delete every user made."""
        if self.made:
            self.admin.execute_command("ACL", "DELUSER", *self.made)
        self.admin.close()


@pytest.fixture
def users(private_server: EmbeddedServer, pr: redis.Redis) -> Iterator[Users]:
    """A maker of ACL users on the private server (database 9 emptied first)."""
    made = Users(private_server)
    yield made
    made.close()


def _url_for(users: Users, recipe: str, *extra: str) -> str:
    need = NEEDS[recipe]
    commands = (*ENGINE, *CONNECTION, *need.python, *need.commands, *extra)
    return users.make(commands, need.keys, need.channels)


# -- each recipe under its row ---------------------------------------------------------------


def _locks(engine: Any) -> None:
    ops = LockOps()
    assert engine.run(ops.acquire("job", "tok", 30, fencing=True)).ok
    assert not engine.run(ops.acquire("job", "w", 30, wait="will", longest=1)).ok
    assert engine.run(ops.acquire("job", "w", 30, wait="last")).holder_ttl is not None
    assert engine.run(ops.extend("job", "tok", 5)) > 0
    assert engine.run(ops.state("job", "tok")).mine
    assert engine.run(ops.release("job", "tok"))
    sem = SemaphoreCore("pool", 1, 30)
    assert engine.run(sem.acquire_call("p1")).ok
    assert not engine.run(sem.acquire_call("p2")).ok
    assert engine.run(sem.renew_call("p1"))
    assert list(engine.run(sem.holders_call())) == ["p1"]
    assert engine.run(sem.count_call()) == 1
    assert engine.run(sem.release_call("p1"))
    rw = ReadWriteLockCore("doc", 30)
    assert engine.run(rw.acquire_call("read", "r1")).ok
    assert not engine.run(rw.acquire_call("write", "w1")).ok  # leaves its intent
    assert engine.run(rw.renew_call("read", "r1"))
    assert engine.run(rw.state_call()).readers == 1
    assert engine.run(rw.release_call("read", "r1"))
    assert engine.run(rw.acquire_call("write", "w1", woken=True)).ok
    assert engine.run(rw.release_call("write", "w1"))

    def wait() -> Flow[Any]:  # what a blocked acquire does: wait on the wake list (BLPOP)
        return (yield Wait((ops.keys("job").wake,), 0.05))

    assert engine.drive(wait()) is None
    assert engine.run(fenced_set("redlua:lock:{res}", "v", 1, fence_key="redlua:lock:{res}:f"))
    assert engine.run(fenced_get("redlua:lock:{res}", fence_key="redlua:lock:{res}:f")).token == 1


def _ratelimit(engine: Any) -> None:
    limits = [
        Limit(5, 60, a)
        for a in ("sliding_log", "sliding_window", "fixed_window", "token_bucket", "gcra")
    ]
    limiter = twin(engine, RateLimiter, AsyncRateLimiter, *limits)
    assert limiter.hit("u", 2).allowed
    assert limiter.peek("u").allowed
    assert limiter.refund("u", 1).allowed
    assert limiter.reset("u") == 5


def _counters(engine: Any) -> None:
    counters = twin(engine, Counters, AsyncCounters)
    alert = Threshold(3, channel="alerts")
    assert counters.increment_with_limit("c", 2, 10, ttl=60).value == 2
    assert counters.increment_with_limit(
        "c", 2, notify=[alert, Threshold(4, stream=True)]
    ).crossed == (3, 4)
    assert counters.decrement_if_positive("c", 1).value == 3
    assert counters.set("c", 9, notify=Threshold(5, stream=True)).value == 9
    assert counters.get("c") == 9
    assert len(counters.events("c")) == 2
    assert [
        u.value for u in counters.batch([Increment("a", 1), Decrement("c", 1), SetValue("b", 4)])
    ] == [1, 8, 4]
    assert counters.get_many(["a", "b"]) == [1, 4]
    assert counters.reset("c") == 8


def _ledger(engine: Any) -> None:
    bank = twin(engine, Ledger, AsyncLedger, "bank")
    bank.create("a", "USD", opening=Decimal("10.00"))
    bank.create("b", "USD")
    assert bank.transfer("a", "b", 100, idempotency_key="t1", memo="m").amount == 100
    hold = bank.hold("a", "b", 50, 60, idempotency_key="h1")
    assert bank.hold_info(hold.id).state == "pending"
    assert bank.capture(hold).amount == 50
    voided = bank.void(bank.hold("a", "b", 5, 60))
    assert voided.state == "voided"
    assert bank.balance("a") == 850 and bank.info("b").balance == 150
    assert bank.freeze("b") and bank.unfreeze("b")
    assert bank.reap() == 0
    assert len(bank.history("a").entries) == 3 and len(bank.audit().entries) == 3


def _inventory(engine: Any) -> None:
    shop = twin(engine, Inventory, AsyncInventory, "shop")
    assert shop.add_product("mug", 5, 100, name="Mug")
    assert shop.restock("mug", 5) == 10
    held = shop.reserve("mug", 2, "alice", 60)
    cart = shop.reserve_many({"mug": 1}, "bob", 60)
    assert shop.confirm(held.reservation).changed
    assert shop.cancel(cart.reservation).changed
    assert shop.reservation_info(held.reservation).customer == "alice"
    assert shop.reap().reaped == 0
    assert shop.product_info("mug").sold == 2


def _batch(engine: Any) -> None:
    batch = twin(engine, Batch, AsyncBatch)
    ops = [Set("app:s", "1"), Incr("app:s", 2), Decr("app:s"), Get("app:s"), Expire("app:s", 60),
           HSet("app:h", "f", "v"), HGet("app:h", "f"), LPush("app:l", "x"), RPush("app:l", "y"),
           SAdd("app:set", "m"), ZAdd("app:z", "m", 1.5), Delete("app:h")]  # fmt: skip
    assert batch.process_batch(ops) == [True, 3, 2, "2", True, 1, "v", 1, 2, 1, 1, 1]
    assert batch.bulk_set({"app:a": "1", "app:b": "2"}, ttl=60) == 2
    assert batch.bulk_get(["app:a", "app:b"]) == {"app:a": "1", "app:b": "2"}
    assert batch.update_all({"app:{t}1": "x", "app:{t}2": "y"}, require_existing=False).ok


def _versioned(engine: Any) -> None:
    records = twin(engine, Versioned, AsyncVersioned)
    assert records.set_if_version("cart", "[]", 0, ttl=60).ok
    assert records.get("cart") == ("[]", 1)
    assert records.update("cart", lambda v: v + "!") == ("[]!", 2)
    assert records.delete("cart", 2).ok


def _transactions(engine: Any) -> None:
    tx = twin(engine, Transactions, AsyncTransactions)

    def move(t: Any) -> Any:
        t.get("acct:{7}:a")
        t.multi()
        t.incrby("acct:{7}:a", 5)
        t.incrby("acct:{7}:b", 5)

    async def amove(t: Any) -> Any:
        await t.get("acct:{7}:a")
        t.multi()
        t.incrby("acct:{7}:a", 5)
        t.incrby("acct:{7}:b", 5)

    done = tx.run(amove if isinstance(engine, Blocking) else move, "acct:{7}:a", "acct:{7}:b")
    assert done.replies == [5, 5]


def _stateful(engine: Any) -> None:
    schema = KeySchema.sf("prod")
    links = twin(engine, Links, AsyncLinks, schema)
    assert links.set_link("u1", "game", 1) is None
    assert links.try_set_link("u2", "game", 2, ttl=60).ok
    assert links.set_link_if_absent("u3", "game", 3) == 3
    assert links.get_link("u1", "game") == 1 and links.get_link_if_persist("u1", "game") == 1
    assert links.linked_services("u1") == {"game": 1}
    assert links.claim("u2", "game", 2).ok
    assert links.release("u2", "game", 2, grace=5)
    assert links.replace_link_if("u3", "game", 3, 4) == (True, 4)
    assert links.version("u3", "game") >= 1
    assert links.remove_link_if("u3", "game", 4) and links.remove_link("u1", "game")
    assert links.batch_get(["u1", "u2"], "game") == [None, 2]
    beat = pods_api.heartbeat(schema, "game", 0, 1, capacity=10, incarnation="i", lease=60)
    engine.run(beat)
    engine.run(pods_api.reserve(schema, "game", 0, 1))
    assert engine.run(pods_api.pods(schema, "game", expire=60)).get(0) is not None
    engine.run(pods_api.set_workload(schema, "game", "w"))
    assert engine.run(pods_api.workload(schema, "game")) == "w"
    router = twin(engine, Router, AsyncRouter, schema)
    assert router.route("u9", "game") == 0
    engine.run(pods_api.set_state(schema, "game", 1, f"0-{int(time.time() * 1000)}"))
    assert engine.run(pods_api.remove_pod(schema, "game", 1))


def _engine(engine: Any) -> None:
    ping = load_script("core_ping")
    assert engine.run(Call(ping, (), ("hi",)))[3] == "hi"
    assert [
        r[3] for r in engine.run_many([Call(ping, (), ("a",)), Call(ping, (), ("b",))], atomic=True)
    ] == ["a", "b"]


SCENARIOS: dict[str, Callable[[Any], None]] = {
    "locks": _locks,
    "ratelimit": _ratelimit,
    "counters": _counters,
    "ledger": _ledger,
    "inventory": _inventory,
    "batch": _batch,
    "versioned": _versioned,
    "transactions": _transactions,
    "stateful": _stateful,
    "engine": _engine,
}


def test_every_row_has_a_scenario() -> None:
    """Each recipe of the table is exercised under its own least-privilege user."""
    assert sorted(SCENARIOS) == sorted(NEEDS)


@pytest.mark.parametrize("recipe", sorted(SCENARIOS))
def test_recipe_runs_under_its_row_only(
    users: Users, make_engine: EngineFactory, recipe: str
) -> None:
    """A user holding one row of the table (and a URL with its name and password) runs the recipe."""
    engine = make_engine(_url_for(users, recipe))
    SCENARIOS[recipe](engine)


# -- only the declared keys ----------------------------------------------------------------------


@pytest.fixture
def admin(private_server: EmbeddedServer, pr: redis.Redis) -> Iterator[Engine]:
    """A sync engine on database 9 of the private server, as the default (all-powerful) user."""
    client = private_server.client(db=9, decode_responses=True)
    yield Engine(client)
    client.close()


def test_scripts_touch_only_declared_keys(
    users: Users, admin: Engine, private_server: EmbeddedServer
) -> None:
    """Every call of every recipe runs for a user whose only keys are the ones the call declares."""
    refused = []
    raw = raw_client(private_server.url.rsplit("/", 1)[0] + "/9")
    try:
        for case in CASES:
            raw.flushdb()
            context = case.setup(admin)
            call = case.build(context)
            url = users.make("+@all", tuple(call.keys), ("*",), exact=True)
            client = redis.Redis.from_url(url, decode_responses=True)
            try:
                Engine(client).run(case.build(context))
            except ServerError as exc:
                if acl_refusal(exc):
                    refused.append(f"{case.label}: {exc}")
            finally:
                client.close()
    finally:
        raw.close()
    assert refused == []


def test_an_undeclared_key_would_be_caught(users: Users) -> None:
    """The check above has teeth: a script reading a key it did not declare gets NOPERM."""
    sneaky = Script.from_source(
        "hostile_sneaky",
        "--[[\n  Read a declared key and one it did not declare.\n\n  KEYS[1]  declared\n\n"
        "  Returns  both values.\n]]\nreturn {redis.call('GET', KEYS[1]), redis.call('GET', 'undeclared')}\n",
    )
    client = redis.Redis.from_url(users.make("+@all", ("declared",), exact=True))
    try:
        with pytest.raises(ServerError) as info:
            Engine(client).run(Call(sneaky, ("declared",)))
    finally:
        client.close()
    assert acl_refusal(info.value)


def test_keys_outside_the_patterns_are_refused_before_the_script_runs(
    users: Users, make_engine: EngineFactory, private_server: EmbeddedServer
) -> None:
    """A call on a key outside the user's patterns raises NOPERM and writes nothing."""
    url = users.make(
        (*ENGINE, *CONNECTION, *NEEDS["counters"].commands), ("redlua:counter:{mine}*",)
    )
    counters = twin(make_engine(url), Counters, AsyncCounters)
    assert counters.increment_with_limit("mine", 1).value == 1
    raw = raw_client(private_server.url.rsplit("/", 1)[0] + "/9")
    before = snapshot(raw)
    with pytest.raises(ServerError) as info:
        counters.increment_with_limit("theirs", 1)
    assert acl_refusal(info.value)
    assert changed_keys(before, snapshot(raw)) == []
    raw.close()


def test_a_wrong_password_is_refused(users: Users, private_server: EmbeddedServer) -> None:
    """Connecting with a wrong password fails with an authentication error, nothing runs."""
    url = users.make(ENGINE, ("*",))
    bad = re.sub(r":[^:@/]+@", ":wrong@", url)
    client = redis.Redis.from_url(bad)
    with pytest.raises(redis.AuthenticationError):
        client.ping()
    client.close()
