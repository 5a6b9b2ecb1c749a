"""Script cache faults: SCRIPT FLUSH at every point of a call, EVAL-cache eviction, NOSCRIPT storms.

The caller must see nothing but the engine's reload count: the same replies, each call
run exactly once. The engines here run EVALSHA (``REDLUA_MODE=scripts``): functions mode
does not use the script cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from redlua import AsyncEngine, Call, EmbeddedServer, Engine, Script, load_script, shipped_scripts
from redlua.counters import AsyncCounters, CounterOps, Counters
from redlua.ledger import AsyncLedger, Ledger, LedgerOps
from redlua.ratelimit import AsyncRateLimiter, Limit

from ._proxy import Proxy
from ._world import World, url_of

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("scripts_mode")]

EVALSHA = b"$7\r\nEVALSHA\r\n"
EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def reloads(engine: Any) -> int:
    """Return the NOSCRIPT reloads the engine made, over every script."""
    return sum(stats.reloads for stats in engine.stats().values())


def quiet(world: World) -> None:
    """Assert no caller of *world* was told anything but a plain answer."""
    for kind, tally in world.tally.items():
        assert (tally.not_run, tally.unknown) == (0, 0), (kind, tally.errors[:3])


def test_flush_between_calls_of_every_recipe(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """SCRIPT FLUSH after every few calls: every recipe answers as usual, only reloads count."""
    server = servers()
    engine = Engine(clients(url_of(server, 3)))
    admin = clients(server.url)
    world = World(engine).setup()
    for round_ in range(8):
        world.work(40, seed=round_)
        admin.script_flush()
    world.work(40, seed=99)
    quiet(world)
    world.check()
    assert reloads(engine) >= 8


def test_flush_in_the_middle_of_a_batch(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """A flush between the 10th and 11th call of one pipelined write: the rest reload, in order."""
    server = servers()
    proxy = proxies(server)
    admin = clients(server.url)
    engine = Engine(clients(proxy.url(3)))
    counters, bank = CounterOps(), LedgerOps("fb")
    bank_api = Ledger(engine, "fb")
    bank_api.create("a", "USD", opening=1000)
    bank_api.create("b", "USD")

    def batch() -> list[Call[Any]]:
        calls: list[Call[Any]] = []
        for i in range(10):
            calls.append(counters.increment_with_limit(f"mid{i}", 1, maximum=100))
            calls.append(bank.transfer("a", "b", 1))
        return calls

    engine.run_many(batch())  # loads the scripts
    engine.reset_stats()
    proxy.split(EVALSHA, admin.script_flush, nth=11)
    replies = engine.run_many(batch())
    assert [r.value for r in replies[0::2]] == [2] * 10
    assert all(r.applied for r in replies[0::2])
    assert [t.src_balance for t in replies[1::2]] == list(range(989, 979, -1))
    assert reloads(engine) == 10  # exactly the calls after the flush, each sent twice
    assert [Counters(engine).get(f"mid{i}") for i in range(10)] == [2] * 10
    assert (bank_api.balance("a"), bank_api.balance("b")) == (980, 20)


def test_flush_between_multi_and_exec(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """A flush just before EXEC splits a plain pipeline but never redlua's atomic batch."""
    server = servers()
    proxy = proxies(server)
    admin = clients(server.url)
    # the control: redis-py's own transaction, its script loaded beforehand
    raw = clients(proxy.url())
    ops = LedgerOps("mx")
    script = load_script("ledger_balance")
    raw.script_load(script.source)
    pipe = raw.pipeline(transaction=True)
    pipe.incr("{mx}plain")
    pipe.evalsha(script.sha, 2, *ops.balance("a").keys, "a")
    proxy.split(EXEC, admin.script_flush)
    plain = pipe.execute(raise_on_error=False)
    assert plain[0] == 1 and isinstance(plain[1], NoScriptError)  # half of it committed
    # redlua: SCRIPT LOAD rides inside MULTI, so the flush cannot split the transaction
    engine = Engine(clients(proxy.url()))
    bank = Ledger(engine, "mx")
    bank.create("a", "USD", opening=100)
    bank.create("b", "USD")
    calls = [ops.transfer("a", "b", 30), ops.transfer("b", "a", 10), ops.balance("a")]
    engine.reset_stats()
    proxy.split(EXEC, admin.script_flush)
    done = engine.run_many(calls, atomic=True)
    assert [done[0].src_balance, done[1].src_balance, done[2]] == [70, 20, 80]
    assert (bank.balance("a"), bank.balance("b")) == (80, 20)
    assert reloads(engine) == 0  # nothing was ever missing inside the transaction


def _flood(client: redis.Redis, count: int) -> None:
    """Run *count* distinct EVAL bodies, as another application would."""
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.eval(f"return {i}", 0)
    pipe.execute()


def _probe(name: str) -> Script:
    """A read-only user script nobody loads by SCRIPT LOAD (unlike every shipped one here)."""
    return Script.from_source(
        name,
        f"""#!lua flags=no-writes
--[[
  Read a key ({name}).

  KEYS[1]  key

  Returns  its value or nil.
  Idempotent  yes
]]
return redis.call('GET', KEYS[1])
""",
    )


def test_foreign_evals_evict_only_eval_cached_scripts(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """1000 foreign EVALs: scripts redlua loaded stay; a body only EVAL had cached is evicted."""
    server = servers()
    foreign = clients(server.url)
    lru = "evicted_scripts" in foreign.info("stats")  # Redis >= 7.4, Valkey >= 8.0
    engine = Engine(clients(url_of(server, 3)))
    world = World(engine).setup()
    world.work(120)
    shipped = list(shipped_scripts().values())
    engine.preload(shipped)  # every recipe script, by SCRIPT LOAD
    # a body another client first ran with EVAL; this engine reaches it by EVALSHA only
    cached, promoted = _probe("faults_eval_cached"), _probe("faults_promoted")
    foreign.eval(cached.source, 1, "k")
    fresh = Engine(clients(server.url))
    assert fresh.run(Call(cached, ("k",))) is None
    assert reloads(fresh) == 0  # the EVAL-cached body answered: no SCRIPT LOAD happened
    # a body EVAL-cached first, then SCRIPT LOADed by redlua
    foreign.eval(promoted.source, 1, "k")
    fresh.preload([promoted])
    evicted_before = int(foreign.info("stats").get("evicted_scripts", 0))
    _flood(foreign, 1000)
    if lru:
        assert int(foreign.info("stats")["evicted_scripts"]) - evicted_before >= 500
    assert foreign.script_exists(*(s.sha for s in shipped)) == [True] * len(shipped)
    assert foreign.script_exists(cached.sha) == [not lru]
    kept = foreign.script_exists(promoted.sha)[0]
    if server.server_name == "valkey" or not lru:
        assert kept  # Valkey promotes an EVAL-cached body on SCRIPT LOAD (valkey#637)
    else:
        assert not kept  # Redis >= 7.4 leaves it evictable: NOSCRIPT healing covers it
    engine.reset_stats()
    world.work(120, seed=1)
    quiet(world)
    world.check()
    assert reloads(engine) == 0  # SCRIPT LOAD-ed scripts are never evicted
    assert fresh.run(Call(cached, ("k",))) is None
    assert reloads(fresh) == (1 if lru else 0)  # healed like any NOSCRIPT


def test_two_hundred_threads_recover_from_one_flush(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """200 threads released together right after a flush: every call answers, each runs once."""
    server = servers()
    engine = Engine(clients(url_of(server, 3), max_connections=256))  # the default is 100
    world = World(engine).setup()
    world.work(40)
    clients(server.url).script_flush()
    engine.reset_stats()
    gate = threading.Barrier(200)

    def worker(seed: int) -> None:
        gate.wait()
        world.work(2, seed=seed)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    quiet(world)
    world.check()
    assert 1 <= reloads(engine) <= 400


NOOP = Script.from_source(
    "faults_noop",
    """#!lua flags=no-writes
--[[
  Answer ARGV[1]: a script nobody loaded, for NOSCRIPT storms.

  ARGV[1]  anything

  Returns  ARGV[1].
  Idempotent  yes
]]
return ARGV[1]
""",
)


def test_two_hundred_tasks_recover_from_one_flush(
    servers: Callable[..., EmbeddedServer], loop: asyncio.AbstractEventLoop
) -> None:
    """200 asyncio tasks after a flush: exact counters, limits and balances; only reloads show."""
    server = servers()

    async def main() -> tuple[list[Any], list[Any], list[Any], int, int]:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            server.url, decode_responses=True, max_connections=40
        )
        client = redis.asyncio.Redis(connection_pool=pool)
        try:
            engine = AsyncEngine(client)
            counters = AsyncCounters(engine)
            limiter = AsyncRateLimiter(engine, Limit(60, 3600, "sliding_log"))
            bank = AsyncLedger(engine, "storm")
            await bank.create("a", "USD", opening=10_000)
            await bank.create("b", "USD")
            await engine.run(Call(NOOP, (), ("warm",)))
            await client.script_flush()
            engine.reset_stats()
            counted, limited, moved, echoed = await asyncio.gather(
                asyncio.gather(
                    *(counters.increment_with_limit("n", maximum=120) for _ in range(200))
                ),
                asyncio.gather(*(limiter.hit("u") for _ in range(200))),
                asyncio.gather(*(bank.transfer("a", "b", 7) for _ in range(200))),
                asyncio.gather(*(engine.run(Call(NOOP, (), (str(i),))) for i in range(200))),
            )
            assert echoed == [str(i) for i in range(200)]
            balances = await bank.balance("a"), await bank.balance("b")
            assert balances == (10_000 - 1400, 1400)
            calls = sum(s.calls for s in engine.stats().values())
            assert reloads(engine) <= calls  # at most one per call
            return counted, limited, moved, await counters.get("n"), reloads(engine)
        finally:
            await client.aclose()
            await pool.aclose()

    counted, limited, moved, value, reloaded = loop.run_until_complete(main())
    assert sum(u.applied for u in counted) == 120 and value == 120
    assert sum(d.allowed for d in limited) == 60
    assert len({t.id for t in moved}) == 200
    assert reloaded >= 5  # at least one per script
