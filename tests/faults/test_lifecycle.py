"""Server lifecycle faults: a restart between calls, kill -9 in the middle of a script, LOADING.

The servers here persist with ``appendonly yes`` and ``appendfsync always``: every write
a caller saw acknowledged is on disk, and a script's effects reach the AOF together,
after it ends, or not at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from redlua import Call, EmbeddedServer, Engine, OutcomeUnknownError, RetryPolicy, Script
from redlua.locks import Lock

from ._world import World, mode_of, spins_for, url_of

pytestmark = pytest.mark.timeout(60)

ALWAYS = {"appendfsync": "always"}

SLOW_MOVE = Script.from_source(
    "faults_slow_move",
    """--[[
  Move ARGV[1] from one counter to another, then spin ARGV[2] loop turns: a long script
  whose writes are all done when it is killed.

  KEYS[1]  source counter
  KEYS[2]  destination counter
  ARGV[1]  amount
  ARGV[2]  loop turns

  Returns  the destination's new value.
  Idempotent  no
]]
redis.call('DECRBY', KEYS[1], ARGV[1])
local after = redis.call('INCRBY', KEYS[2], ARGV[1])
for _ = 1, tonumber(ARGV[2]) do end
return after
""",
)


def reloads(engine: Any) -> int:
    """Return the reloads the engine made (NOSCRIPT, or a missing function library)."""
    return sum(stats.reloads for stats in engine.stats().values())


def test_restart_between_calls_keeps_every_invariant(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """Work, restart, work: operations resume on the same engine and every invariant holds."""
    server = servers(persistence=True, config=ALWAYS)
    engine = Engine(clients(url_of(server, 3)), retry=RetryPolicy(deadline=10))
    world = World(engine).setup()
    held = Lock(engine, "across", ttl=60)
    assert held.acquire(blocking=False)
    world.work(150)
    before = world.check()
    loads = reloads(engine)
    server.restart()  # SIGTERM: a clean shutdown; the data comes back from the AOF
    assert not Lock(engine, "across", ttl=60).acquire(blocking=False)  # still one holder
    held.release()  # the holder's token survived the restart
    assert Lock(engine, "across", ttl=60).acquire(blocking=False)
    after = world.check()
    assert (after["balances"], after["counter"], after["limiter"]) == (
        before["balances"],
        before["counter"],
        before["limiter"],
    )
    world.work(150, seed=1)
    for tally in world.tally.values():
        assert tally.unknown == 0 and tally.not_run == 0, tally.errors[:3]
    world.check()
    if mode_of(engine) == "functions":
        assert reloads(engine) == loads  # the library came back with the data
    else:
        assert reloads(engine) > loads  # the script cache did not: NOSCRIPT, reload


def test_server_down_between_calls_is_waited_for(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """Calls made while the server is down wait for it within the deadline, then run once."""
    server = servers(persistence=True, config=ALWAYS)
    client = clients(url_of(server, 3), socket_connect_timeout=0.2)
    world = World(Engine(client, retry=RetryPolicy(deadline=10, cap=0.1))).setup()
    world.work(60)
    server.kill()
    restarter = threading.Timer(0.7, server.start)
    restarter.start()
    world.work(60, seed=1)  # the first calls meet a refused connection, then the new server
    restarter.join()
    for tally in world.tally.values():
        assert tally.unknown == 0 and tally.not_run == 0, tally.errors[:3]
    world.check()


def test_kill_during_a_long_script_leaves_no_partial_effect(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """kill -9 while a script spins after its writes: the caller is told, the AOF has none of them."""
    server = servers(persistence=True, config=ALWAYS)
    admin = clients(url_of(server, 3))
    engine = Engine(clients(url_of(server, 3), socket_timeout=10), retry=RetryPolicy(deadline=1))
    world = World(engine).setup()
    world.work(150)
    before = world.check()
    admin.mset({"{m}src": 100, "{m}dst": 0})
    engine.preload([SLOW_MOVE])
    spins = spins_for(admin, 5.0)
    outcome: list[BaseException] = []

    def mover() -> None:
        try:
            engine.run(Call(SLOW_MOVE, ("{m}src", "{m}dst"), (30, spins)))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    thread = threading.Thread(target=mover)
    thread.start()
    time.sleep(0.5)  # the script has written both keys and spins
    killed = time.monotonic()
    server.kill()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - killed < 2.0
    assert len(outcome) == 1 and isinstance(outcome[0], OutcomeUnknownError), outcome
    assert "faults_slow_move" in str(outcome[0])
    server.start()  # from the AOF
    assert admin.mget("{m}src", "{m}dst") == ["100", "0"]  # neither write survived
    after = world.check()  # every acknowledged write did (appendfsync always)
    assert (after["balances"], after["counter"], after["inventory"]) == (
        before["balances"],
        before["counter"],
        before["inventory"],
    )
    world.work(60, seed=2)
    world.check()


def test_calls_wait_out_a_server_still_loading(
    servers: Callable[..., EmbeddedServer], clients: Callable[..., redis.Redis]
) -> None:
    """A restart that loads for about a second: calls get LOADING, wait, then run; none fails."""
    # key-load-delay (a debug config the Redis and Valkey suites use) slows loading to
    # ~200 us a key, and answering clients every 1 kB of the RDB lets calls meet LOADING.
    config = {"key-load-delay": "200", "loading-process-events-interval-bytes": "1024"}
    server = servers(config=config)
    admin = clients(server.url)
    engine = Engine(clients(server.url, socket_connect_timeout=0.5), retry=RetryPolicy(deadline=15))
    world = World(engine).setup()
    world.work(100)
    pipe = admin.pipeline(transaction=False)
    for i in range(5000):
        pipe.set(f"filler:{i}", "x")
    pipe.execute()
    admin.save()  # the RDB the restart loads (no AOF here, no save on shutdown)
    before = world.check()
    restarter = threading.Thread(target=server.restart)
    restarter.start()
    seen: list[Any] = []
    deadline = time.monotonic() + 10
    loading = redis.exceptions.BusyLoadingError
    while not any(isinstance(x, loading) for x in seen) and time.monotonic() < deadline:
        try:
            probe = redis.Redis(host=server.host, port=server.port, socket_timeout=1, retry=None)
            seen.append(probe.ping())
            probe.close()
        except redis.RedisError as exc:
            seen.append(exc)
        time.sleep(0.02)
    engine.reset_stats()
    world.work(60, seed=1)  # starts while the server loads
    restarter.join()
    assert any(isinstance(x, loading) for x in seen), seen
    assert sum(s.retries for s in engine.stats().values()) >= 1  # LOADING was waited out
    for tally in world.tally.values():
        assert tally.unknown == 0 and tally.not_run == 0, tally.errors[:3]
    after = world.check()
    assert after["balances"] != [] and before["inventory"].total == after["inventory"].total
    assert admin.dbsize() >= 5000
