"""Resource faults: another script past busy-reply-threshold (BUSY), and maxmemory reached (OOM).

BUSY proves a call did not run, so the engine waits it out within its `RetryPolicy`;
`engine.kill()` ends a read-only runaway. Under OOM, scripts that write refuse before
their first write (nothing half done), while the scripts that free memory
(``allow-oom``) still run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from redlua import Call, EmbeddedServer, Engine, RetryPolicy, Script, shipped_scripts
from redlua.counters import Counters
from redlua.errors import ScriptKilledError, ServerBusyError, ServerError
from redlua.inventory import Inventory
from redlua.ledger import Ledger
from redlua.locks import Lock, Semaphore
from redlua.ratelimit import Limit, RateLimiter
from redlua.stateful import KeySchema, Links

from ._world import LIMIT, World, spins_for, url_of

pytestmark = pytest.mark.timeout(60)

THRESHOLD = {"busy-reply-threshold": "100"}

RUNAWAY = Script.from_source(
    "faults_runaway",
    """#!lua flags=no-writes
--[[
  Spin ARGV[1] loop turns without writing: a runaway that SCRIPT KILL may stop.

  ARGV[1]  loop turns

  Returns  1.
]]
for _ = 1, tonumber(ARGV[1]) do end
return 1
""",
)

WRITING_RUNAWAY = Script.from_source(
    "faults_writing_runaway",
    """--[[
  Write KEYS[1], then spin ARGV[1] loop turns: SCRIPT KILL refuses it (UNKILLABLE).

  KEYS[1]  a key to set
  ARGV[1]  loop turns

  Returns  1.
]]
redis.call('SET', KEYS[1], '1')
for _ = 1, tonumber(ARGV[1]) do end
return 1
""",
)


class Runaway:
    """Run one long script on its own engine and thread; keep what its caller got."""

    def __init__(self, server: EmbeddedServer, script: Script, call_args: tuple[Any, ...]) -> None:
        self.server = server
        self.client = redis.Redis.from_url(server.url, socket_timeout=30)
        self.engine = Engine(self.client)
        self.engine.preload([script])
        keys = ("{runaway}k",) if script is WRITING_RUNAWAY else ()
        self.call = Call(script, keys, call_args)
        self.outcome: list[Any] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.outcome.append(self.engine.run(self.call))
        except Exception as exc:  # noqa: BLE001 - inspected by the test
            self.outcome.append(exc)

    def start(self) -> Runaway:
        """Start the script and return once the server answers BUSY to everyone else."""
        self.thread.start()
        probe = redis.Redis(host=self.server.host, port=self.server.port, socket_timeout=5)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    probe.ping()
                except redis.ResponseError as exc:
                    if str(exc).startswith("BUSY"):
                        return self
                assert self.thread.is_alive(), f"the runaway ended first: {self.outcome}"
                assert time.monotonic() < deadline, "the runaway never made the server BUSY"
                time.sleep(0.02)
        finally:
            probe.close()

    def join(self) -> Any:
        self.thread.join(30)
        self.client.close()
        return self.outcome[0]


@pytest.fixture
def busy_server(servers: Callable[..., EmbeddedServer]) -> EmbeddedServer:
    """A server answering BUSY 100 ms into any script (stopped by `servers`)."""
    return servers(config=THRESHOLD)


def test_busy_server_is_waited_out_by_every_recipe(
    busy_server: EmbeddedServer, clients: Callable[..., redis.Redis]
) -> None:
    """A foreign script runs 0.8 s past the threshold: every recipe call waits, then runs once."""
    engine = Engine(clients(busy_server.url, socket_timeout=5), retry=RetryPolicy(deadline=5))
    world = World(engine).setup()
    world.work(80)
    runaway = Runaway(busy_server, RUNAWAY, (spins_for(clients(busy_server.url), 1.0),)).start()
    engine.reset_stats()
    world.work(80, seed=1)
    assert runaway.join() == 1
    assert sum(s.retries for s in engine.stats().values()) >= 1  # BUSY met, waited out
    for tally in world.tally.values():
        assert tally.unknown == 0 and tally.not_run == 0, tally.errors[:3]
    world.check()


def test_busy_past_the_deadline_raises_and_runs_nothing(
    busy_server: EmbeddedServer, clients: Callable[..., redis.Redis]
) -> None:
    """BUSY for longer than the deadline: ServerBusyError, and the call never ran."""
    engine = Engine(clients(busy_server.url), retry=RetryPolicy(deadline=0.3))
    counters = Counters(engine)
    counters.increment_with_limit("b")
    runaway = Runaway(busy_server, RUNAWAY, (spins_for(clients(busy_server.url), 1.5),)).start()
    started = time.monotonic()
    with pytest.raises(ServerBusyError) as caught:
        counters.increment_with_limit("b")
    assert time.monotonic() - started < 0.3 + 0.6
    assert caught.value.code == "BUSY"
    assert runaway.join() == 1
    assert counters.get("b") == 1


def test_kill_ends_a_read_only_runaway(
    busy_server: EmbeddedServer, clients: Callable[..., redis.Redis]
) -> None:
    """engine.kill() stops a no-writes runaway; its caller gets ScriptKilledError; work goes on."""
    engine = Engine(clients(busy_server.url))
    world = World(engine).setup()
    runaway = Runaway(busy_server, RUNAWAY, (spins_for(clients(busy_server.url), 20.0),)).start()
    started = time.monotonic()
    assert engine.kill() is True
    assert isinstance(runaway.join(), ScriptKilledError)
    assert time.monotonic() - started < 2.0
    assert engine.kill() is False  # nothing left to kill
    world.work(60)
    world.check()


def test_kill_refuses_a_runaway_that_wrote(
    busy_server: EmbeddedServer, clients: Callable[..., redis.Redis]
) -> None:
    """A runaway that wrote cannot be killed: ServerError UNKILLABLE; calls resume after it ends."""
    engine = Engine(clients(busy_server.url), retry=RetryPolicy(deadline=5))
    turns = spins_for(clients(busy_server.url), 1.0)
    runaway = Runaway(busy_server, WRITING_RUNAWAY, (turns,)).start()
    with pytest.raises(ServerError) as caught:
        engine.kill()
    assert caught.value.code == "UNKILLABLE"
    counters = Counters(engine)
    assert counters.increment_with_limit("after").value == 1  # waited for the runaway's end
    assert runaway.join() == 1


def test_busy_met_by_a_new_connection_is_waited_out(
    busy_server: EmbeddedServer, clients: Callable[..., redis.Redis]
) -> None:
    """A call that must open a connection on db 3 during BUSY waits like one on a pooled one."""
    engine = Engine(clients(url_of(busy_server, 3)), retry=RetryPolicy(deadline=5))
    runaway = Runaway(busy_server, RUNAWAY, (spins_for(clients(busy_server.url), 1.0),)).start()
    try:
        assert Counters(engine).increment_with_limit("fresh").value == 1
    finally:
        runaway.join()


# -- maxmemory -------------------------------------------------------------------------------


class Full:
    """A server at maxmemory with something of every recipe in it, and its keyspace's bytes."""

    def __init__(self, server: EmbeddedServer, clients: Callable[..., redis.Redis]) -> None:
        self.admin = clients(url_of(server, 3), decode_responses=False)
        self.engine = Engine(clients(url_of(server, 3)))
        engine = self.engine
        self.lock = Lock(engine, "oom", ttl=60)
        assert self.lock.acquire(blocking=False)
        self.semaphore = Semaphore(engine, "oom", limit=2, ttl=60)
        self.permit = self.semaphore.acquire(blocking=False)
        self.shop = Inventory(engine, "oom")
        self.shop.add_product("mug", stock=10, price=100)
        self.held = [self.shop.reserve("mug", 2, customer="c", ttl=600) for _ in range(3)]
        self.bank = Ledger(engine, "oom")
        self.bank.create("a", "USD", opening=1000)
        self.bank.create("b", "USD")
        self.holds = [self.bank.hold("a", "b", 100, ttl=600) for _ in range(2)]
        self.counters = Counters(engine)
        self.counters.increment_with_limit("n", maximum=10)
        self.limiter = RateLimiter(engine, Limit(LIMIT, 3600, "sliding_log"))
        self.limiter.hit("u")
        self.links = Links(engine, KeySchema.sf("oom"))
        self.links.claim("u1", "game", 3)
        engine.preload(shipped_scripts().values())
        self.admin.config_set("maxmemory-policy", "noeviction")
        self.admin.config_set("maxmemory", 1)  # far below what is used: every deny-oom write fails

    def dump(self) -> dict[bytes, bytes]:
        """Return every key's DUMP: the exact contents, to compare before and after."""
        return {key: self.admin.dump(key) for key in sorted(self.admin.keys("*"))}

    def relieve(self) -> None:
        """Lift the limit again."""
        self.admin.config_set("maxmemory", 0)


@pytest.fixture
def full(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> Iterator[Full]:
    """A server with one of each recipe, then maxmemory set far below its use."""
    state = Full(servers(), clients)
    yield state
    state.relieve()


def test_oom_refuses_every_write_before_it_starts(full: Full) -> None:
    """Under OOM, writes that need memory are refused with code OOM and change no byte."""
    before = full.dump()
    attempts: dict[str, Callable[[], Any]] = {
        "lock acquire": lambda: Lock(full.engine, "oom2").acquire(blocking=False),
        "counter increment": lambda: full.counters.increment_with_limit("n", maximum=10),
        "counter decrement": lambda: full.counters.decrement_if_positive("n"),
        "inventory reserve": lambda: full.shop.reserve("mug", 1, customer="d", ttl=60),
        "inventory confirm": lambda: full.shop.confirm(full.held[0].reservation),
        "ledger transfer": lambda: full.bank.transfer("a", "b", 5),
        "ledger hold": lambda: full.bank.hold("a", "b", 5, ttl=60),
        "ledger capture": lambda: full.bank.capture(full.holds[0]),
        "link claim": lambda: full.links.claim("u2", "game", 1),
    }
    codes = {}
    for what, attempt in attempts.items():
        try:
            attempt()
        except ServerError as exc:
            codes[what] = exc.code
        else:
            codes[what] = "ran"
    assert codes == dict.fromkeys(attempts, "OOM")
    assert full.dump() == before  # nothing half done, nothing at all
    # reads still answer
    assert full.shop.product_info("mug").reserved == 6
    assert full.bank.balance("a") == 1000
    assert full.counters.get("n") == 1
    assert full.links.get_link("u1", "game") == 3


def test_oom_still_lets_holders_let_go(full: Full) -> None:
    """Under OOM, lock release/extend, permit release, limiter reset and link release still work."""
    assert full.lock.extend(5.0) > 0
    full.lock.release()
    assert full.semaphore.release(full.permit) is True
    assert full.limiter.reset("u") == 1
    assert full.links.release("u1", "game", 3)[0] is True
    assert full.counters.reset("n") == 1  # DEL needs no memory
    full.relieve()
    assert Lock(full.engine, "oom", ttl=5).acquire(blocking=False)


def test_oom_limiter_and_semaphore_keep_counting_within_their_limits(full: Full) -> None:
    """Limiter hits and permits still go through under OOM, but never past their limits.

    Their scripts carry no flags and make a first write that needs no memory (the
    sliding log's trim or expiry, the semaphore's drop of expired holders); the server
    checks OOM only up to a script's first write (so on Valkey 8.1 in both modes,
    EVALSHA and FCALL), and their later LPUSH or ZADD passes.
    """
    before = full.dump()
    hits = [full.limiter.hit("u").allowed for _ in range(LIMIT + 5)]
    assert hits.count(True) == LIMIT - 1  # one hit was made before maxmemory was set
    assert LIMIT - full.limiter.peek("u").remaining == LIMIT
    permits = [full.semaphore.acquire(blocking=False) for _ in range(3)]
    assert sum(p is not None for p in permits) == 1  # one of the two was held already
    assert len(full.semaphore.holders()) == 2
    assert full.dump() != before


def test_oom_still_lets_a_reservation_be_cancelled(full: Full) -> None:
    """Under OOM a cancel gives the reserved stock back."""
    done = full.shop.cancel(full.held[1].reservation)
    assert done.changed and full.shop.product_info("mug").stock == 6


def test_oom_still_lets_a_hold_be_voided(full: Full) -> None:
    """Under OOM a void releases the held amount."""
    full.bank.void(full.holds[1])
    assert full.bank.info("a").held == 100
