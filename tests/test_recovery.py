"""NOSCRIPT recovery on every path, the engine's retry rules, SCRIPT KILL.

These tests change server-wide state (SCRIPT FLUSH, CONFIG SET), so they run on
a server the session started itself (``private_server``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from redlua import (
    AsyncEngine,
    Call,
    ConnectionFailedError,
    EmbeddedServer,
    Engine,
    OutcomeUnknownError,
    RetryPolicy,
)
from redlua.errors import ScriptKilledError

from .scripts import APPEND, GET, INCR, SLOW_INCR, SPIN

pytestmark = pytest.mark.private_server


def evalsha_calls(r: redis.Redis) -> int:
    """Return EVALSHA + EVALSHA_RO calls the server ran, from INFO commandstats."""
    stats = r.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "evalsha_ro")
    )


def test_flush_between_calls_is_healed_once(private_engine: Any, pr: redis.Redis) -> None:
    """After SCRIPT FLUSH the next call reloads and runs exactly once."""
    assert private_engine.run(Call(INCR, ("n",), (1,))) == 1
    pr.script_flush()
    assert private_engine.run(Call(INCR, ("n",), (1,))) == 2
    assert pr.get("n") == "2"
    assert private_engine.stats()["test_incr"].reloads >= 1


def test_batch_resends_only_the_calls_that_got_noscript(
    private_engine: Any, pr: redis.Redis
) -> None:
    """In a pipelined batch only NOSCRIPT calls are re-sent, never ones that ran."""
    private_engine.preload([INCR, APPEND])
    pr.script_flush()
    pr.script_load(INCR.source)  # the engine believes both are loaded; APPEND is not
    before = evalsha_calls(pr)
    calls = [Call(INCR, ("n",), (1,)) if i % 2 else Call(APPEND, ("l",), (i,)) for i in range(20)]
    replies = private_engine.run_many(calls)
    assert replies == [(i + 1) // 2 if i % 2 else i // 2 + 1 for i in range(20)]
    assert pr.get("n") == "10"
    assert pr.llen("l") == 10
    assert evalsha_calls(pr) - before == 20 + 10  # each APPEND sent twice, each INCR once


def test_first_batch_loads_its_scripts_in_the_same_write(
    private_engine: Any, pr: redis.Redis
) -> None:
    """Scripts this engine never loaded ride in the batch's own write: no NOSCRIPT at all."""
    pr.script_flush()
    before = evalsha_calls(pr)
    calls = [Call(INCR, ("{o}n",), (1,)), Call(GET, ("{o}n",)), Call(APPEND, ("{o}l",), ("x",))]
    assert private_engine.run_many(calls) == [1, "1", 1]  # in order
    assert evalsha_calls(pr) - before == 3
    assert all(s.reloads == 0 for s in private_engine.stats().values())


def test_batch_after_full_flush(private_engine: Any, pr: redis.Redis) -> None:
    """A batch whose every script was flushed reloads once and keeps reply order."""
    private_engine.run(Call(INCR, ("n",), (0,)))
    pr.script_flush()
    replies = private_engine.run_many([Call(INCR, ("n",), (1,)) for _ in range(30)])
    assert replies == list(range(1, 31))


def test_atomic_batch_loads_its_scripts_inside_multi(private_engine: Any, pr: redis.Redis) -> None:
    """MULTI/EXEC queues SCRIPT LOAD itself, so a flushed cache cannot split the transaction."""
    pr.script_flush()
    calls = [Call(INCR, ("{t}a",), (1,)), Call(APPEND, ("{t}l",), ("x",)), Call(GET, ("{t}a",))]
    assert private_engine.run_many(calls, atomic=True) == [1, 1, "1"]
    pr.script_flush()
    assert private_engine.run_many(calls, atomic=True) == [2, 2, "2"]


def test_flushes_between_multi_and_exec_cannot_split_a_transaction(
    private_server: EmbeddedServer,
) -> None:
    """SCRIPT FLUSH storms from another client never leave a MULTI/EXEC batch half-applied."""
    client = private_server.client(db=9, decode_responses=True)
    admin = private_server.client(db=9)
    engine = Engine(client)
    client.delete("{m}a", "{m}b")
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            admin.script_flush()

    noise = threading.Thread(target=flusher)
    noise.start()
    try:
        for _ in range(200):
            calls = [Call(INCR, ("{m}a",), (-1,)), Call(INCR, ("{m}b",), (1,))]
            a, b = engine.run_many(calls, atomic=True)
            assert a + b == 0
    finally:
        stop.set()
        noise.join()
    try:
        assert client.mget("{m}a", "{m}b") == ["-200", "200"]
    finally:
        client.close()
        admin.close()


def test_concurrent_flushes_never_lose_or_repeat_a_call(private_server: EmbeddedServer) -> None:
    """8 threads x 200 increments with SCRIPT FLUSH storms end exactly at 1600."""
    client = private_server.client(db=9, decode_responses=True, max_connections=16)
    admin = private_server.client(db=9)
    engine = Engine(client)
    client.delete("race")
    stop = threading.Event()

    def flusher() -> None:
        while not stop.is_set():
            admin.script_flush()
            time.sleep(0.005)

    def worker() -> None:
        for _ in range(200):
            engine.run(Call(INCR, ("race",), (1,)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    noise = threading.Thread(target=flusher)
    noise.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    noise.join()
    try:
        assert client.get("race") == "1600"
        assert engine.stats()["test_incr"].calls == 1600
    finally:
        client.close()
        admin.close()


def test_noscript_storm_of_async_tasks(private_server: EmbeddedServer) -> None:
    """200 asyncio tasks right after a flush all succeed and the counter is exact."""

    async def main() -> tuple[str | None, int]:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            private_server.url.rsplit("/", 1)[0] + "/9", decode_responses=True, max_connections=20
        )
        client = redis.asyncio.Redis(connection_pool=pool)
        engine = AsyncEngine(client)
        await client.delete("storm")
        await client.script_flush()
        await asyncio.gather(*(engine.run(Call(INCR, ("storm",), (1,))) for _ in range(200)))
        value = await client.get("storm")
        reloads = engine.stats()["test_incr"].reloads
        await client.aclose()
        await pool.aclose()
        return value, reloads

    value, reloads = asyncio.run(main())
    assert value == "200"
    assert 1 <= reloads <= 200


def _spin_iterations(client: redis.Redis, seconds: float) -> int:
    """Return how many empty Lua loop turns take about *seconds* on this server."""
    started = time.perf_counter()
    client.eval("for _ = 1, tonumber(ARGV[1]) do end return 1", 0, 5_000_000)
    per_turn = (time.perf_counter() - started) / 5_000_000
    return int(seconds / per_turn)


def test_slow_reply_raises_outcome_unknown_and_runs_once(private_server: EmbeddedServer) -> None:
    """A script outliving the client timeout runs once and raises OutcomeUnknownError."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.delete("slow")
    spins = _spin_iterations(admin, 0.8)
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=0.2)
    engine = Engine(client)
    engine.preload([SLOW_INCR])
    with pytest.raises(OutcomeUnknownError, match="test_slow_incr") as caught:
        engine.run(Call(SLOW_INCR, ("slow",), (spins,)))
    assert "was not retried" in str(caught.value)
    time.sleep(1.2)  # let the script finish on the server
    try:
        assert admin.get("slow") == "1"
        assert engine.stats()["test_slow_incr"].outcome_unknown == 1
        assert engine.run(Call(INCR, ("slow",), (1,))) == 2  # the pool is healthy again
    finally:
        client.close()
        admin.close()


def test_slow_reply_async(private_server: EmbeddedServer) -> None:
    """The async engine raises OutcomeUnknownError on a timeout too, and runs the script once."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.delete("slow")
    spins = _spin_iterations(admin, 0.8)

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(url, decode_responses=True, socket_timeout=0.2)
        engine = AsyncEngine(client)
        await engine.preload([SLOW_INCR])
        with pytest.raises(OutcomeUnknownError):
            await engine.run(Call(SLOW_INCR, ("slow",), (spins,)))
        await asyncio.sleep(1.2)
        assert await engine.run(Call(INCR, ("slow",), (1,))) == 2
        await client.aclose()

    try:
        asyncio.run(main())
        assert admin.get("slow") == "2"
    finally:
        admin.close()


def test_busy_server_is_waited_out(private_server: EmbeddedServer) -> None:
    """A call that meets BUSY (another script past the threshold) is retried until it runs."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.config_set("lua-time-limit", 100)
    spins = _spin_iterations(admin, 0.7)
    runner = redis.Redis.from_url(url, decode_responses=True)
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=3)
    engine = Engine(client, retry=RetryPolicy(deadline=5.0))
    engine.preload([INCR, SPIN])
    client.delete("b")
    spinner = threading.Thread(target=lambda: Engine(runner).run(Call(SPIN, (), (spins,))))
    try:
        spinner.start()
        time.sleep(0.3)  # past the 100 ms threshold: the server answers BUSY
        assert engine.run(Call(INCR, ("b",), (1,))) == 1
        assert engine.stats()["test_incr"].retries >= 1
    finally:
        spinner.join()
        admin.config_set("lua-time-limit", 5000)
        for c in (admin, runner, client):
            c.close()


def test_kill_stops_a_read_only_script(private_server: EmbeddedServer) -> None:
    """kill() stops a running no-writes script; its caller gets ScriptKilledError."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    admin = redis.Redis.from_url(url)
    admin.config_set("lua-time-limit", 100)
    spins = _spin_iterations(admin, 5.0)
    caller = Engine(redis.Redis.from_url(url, decode_responses=True, socket_timeout=10))
    killer = Engine(redis.Redis.from_url(url, decode_responses=True))
    caller.preload([SPIN])
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            caller.run(Call(SPIN, (), (spins,)))
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    thread = threading.Thread(target=run)
    try:
        thread.start()
        time.sleep(0.4)
        assert killer.kill() is True
        thread.join(timeout=5)
        assert outcome and isinstance(outcome[0], ScriptKilledError)
        assert killer.kill() is False  # nothing left to kill
    finally:
        thread.join()
        admin.config_set("lua-time-limit", 5000)
        admin.close()
        caller.client.close()
        killer.client.close()


def test_preload_exists_and_flush(private_engine: Any, pr: redis.Redis) -> None:
    """preload() loads every known script; exists() reports them; flush() empties the cache."""
    private_engine.register("test_incr", INCR)
    count = private_engine.preload()
    assert count >= 2  # core_ping and test_incr
    assert all(private_engine.exists().values())
    private_engine.flush()
    assert not any(private_engine.exists().values())
    assert private_engine.run(Call(INCR, ("n",), (1,))) == 1


def test_idempotent_script_is_resent_after_unknown_outcome(private_server: EmbeddedServer) -> None:
    """A script declared idempotent is re-sent once after a timeout; others never are."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    admin = redis.Redis.from_url(url, decode_responses=True)
    spins = _spin_iterations(admin, 0.5)
    slow_read = GET.__class__.from_source(
        "test_slow_read",
        "#!lua flags=no-writes\n--[[\n  Spin, then read.\n\n  KEYS[1]  key\n  ARGV[1]  turns\n\n"
        "  Returns  the value.\n  Idempotent  yes\n]]\n"
        "for _ = 1, tonumber(ARGV[1]) do end\nreturn redis.call('GET', KEYS[1])\n",
    )
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=0.2)
    engine = Engine(client)
    engine.preload([slow_read])
    try:
        with pytest.raises(OutcomeUnknownError):
            engine.run(Call(slow_read, ("k",), (spins,)))
        stats = engine.stats()["test_slow_read"]
        assert (stats.retries, stats.outcome_unknown) == (1, 1)
    finally:
        time.sleep(1.2)
        client.close()
        admin.close()


def test_cancelled_call_leaves_no_reply_on_the_connection(private_server: EmbeddedServer) -> None:
    """Cancelling a task mid-EVALSHA drops its connection; the next call gets its own reply."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    admin = redis.Redis.from_url(url, decode_responses=True)
    admin.delete("c", "c2")
    spins = _spin_iterations(admin, 0.4)

    async def main() -> tuple[int, str | None]:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=1
        )
        client = redis.asyncio.Redis(connection_pool=pool)
        engine = AsyncEngine(client)
        await engine.preload([SLOW_INCR, INCR])
        task = asyncio.create_task(engine.run(Call(SLOW_INCR, ("c",), (spins,))))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        value = await engine.run(Call(INCR, ("c2",), (7,)))  # same single connection slot
        await asyncio.sleep(0.5)
        ran = await client.get("c")
        await client.aclose()
        await pool.aclose()
        return value, ran

    try:
        assert asyncio.run(main()) == (7, "1")  # the cancelled script still ran, once
    finally:
        admin.close()


def test_refused_connection_is_retried_then_reported() -> None:
    """A server that is down gives ConnectionFailedError after the deadline: nothing was sent."""
    server = EmbeddedServer(unix_socket=False).start()
    client = server.client(socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    engine = Engine(client, retry=RetryPolicy(deadline=0.3))
    try:
        assert engine.run(Call(INCR, ("k",), (1,))) == 1
        server.stop()
        with pytest.raises(ConnectionFailedError, match="test_incr"):
            engine.run(Call(INCR, ("k",), (1,)))
        assert engine.stats()["test_incr"].outcome_unknown == 0
    finally:
        client.close()
        server.stop()


def test_server_back_within_the_deadline_is_used() -> None:
    """A call made while the server restarts waits for it and runs once it answers."""
    server = EmbeddedServer(unix_socket=False).start()
    client = server.client(socket_connect_timeout=0.2, decode_responses=True)
    engine = Engine(client, retry=RetryPolicy(deadline=10.0, cap=0.1))
    try:
        engine.run(Call(INCR, ("k",), (1,)))
        server.stop()
        timer = threading.Timer(0.5, server.start)
        timer.start()
        assert engine.run(Call(INCR, ("k",), (5,))) == 5  # a fresh server: no data, no scripts
        timer.join()
        assert engine.stats()["test_incr"].reloads == 2  # first use, then the empty cache
    finally:
        client.close()
        server.stop()
