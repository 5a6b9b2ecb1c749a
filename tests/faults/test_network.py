"""Network faults through a TCP proxy: lost replies, resets, delays, black holes, cancellation, pools.

What must hold: a script never runs twice without its caller being told
(`OutcomeUnknownError`), no call waits past the timeouts it was given, a cancelled
asyncio call leaves no reply behind on a pooled connection, and an exhausted pool is a
clear error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from redlua import (
    AsyncEngine,
    ConnectionFailedError,
    EmbeddedServer,
    Engine,
    OutcomeUnknownError,
    RetryPolicy,
)
from redlua.counters import AsyncCounters, Counters
from redlua.inventory import Inventory
from redlua.ledger import Ledger
from redlua.locks import AsyncLock

from ._proxy import Fault, Proxy
from ._world import World, url_of

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 0.3
"""The socket timeout of the clients here: a reply later than this is lost."""

LOST = [Fault.CUT_BEFORE, Fault.CUT_AFTER_REPLY, Fault.RESET_AFTER_REPLY, Fault.DELAY]


def test_lost_reply_is_reported_once_and_never_repeated(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """Each way of losing a reply gives one OutcomeUnknownError; the increment ran at most once."""
    server = servers()
    proxy = proxies(server)
    engine = Engine(clients(proxy.url(), socket_timeout=TIMEOUT))
    counters = Counters(engine)
    for fault in LOST:
        name = f"lost-{fault.value}"
        counters.increment_with_limit("warm")  # a pooled connection and a loaded script
        proxy.add(fault, delay=TIMEOUT * 3)
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError, match="counter_increment"):
            counters.increment_with_limit(name, maximum=10)
        assert time.monotonic() - started < TIMEOUT + 1.0
        time.sleep(TIMEOUT * 3 if fault is Fault.DELAY else 0)  # the late reply comes and goes
        ran = 0 if fault is Fault.CUT_BEFORE else 1
        assert counters.get(name) == ran, fault  # never twice
        assert counters.increment_with_limit(name, maximum=10).value == ran + 1  # pool is fine
    assert engine.stats()["counter_increment"].outcome_unknown == len(LOST)


def test_lost_reply_async(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The asyncio engine tells the caller the same way, and never runs the increment twice."""
    server = servers()
    proxy = proxies(server)

    async def main() -> list[int]:
        client = redis.asyncio.Redis.from_url(proxy.url(), socket_timeout=TIMEOUT)
        try:
            counters = AsyncCounters(AsyncEngine(client))
            seen = []
            for fault in LOST:
                await counters.increment_with_limit("warm")
                proxy.add(fault, delay=TIMEOUT * 3)
                with pytest.raises(OutcomeUnknownError):
                    await counters.increment_with_limit(f"lost-{fault.value}")
                await asyncio.sleep(TIMEOUT * 3 if fault is Fault.DELAY else 0)
                seen.append(await counters.get(f"lost-{fault.value}"))
            return seen
        finally:
            await client.aclose()

    assert loop.run_until_complete(main()) == [0, 1, 1, 1]


def test_idempotent_recipes_replay_instead_of_repeating(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """A reset reply is re-sent only where a re-send is a replay: stock and money move once."""
    server = servers()
    proxy = proxies(server)
    engine = Engine(clients(proxy.url(), socket_timeout=TIMEOUT))
    shop = Inventory(engine, "idem")
    shop.add_product("mug", stock=11, price=100)
    assert shop.reserve("mug", 1, customer="c", ttl=60)  # loaded: the fault hits a run
    proxy.add(Fault.RESET_AFTER_REPLY)
    held = shop.reserve("mug", 3, customer="c", ttl=60, reservation="r-1")  # Idempotent yes
    assert held.ok and held.reservation == "r-1"
    assert shop.product_info("mug").stock == 7  # reserved once, not twice
    assert engine.stats()["inventory_reserve"].retries == 1
    bank = Ledger(engine, "idem")
    bank.create("a", "USD", opening=102)
    bank.create("b", "USD")
    bank.transfer("a", "b", 1)  # loaded: the fault hits a run
    proxy.add(Fault.RESET_AFTER_REPLY)
    done = bank.transfer("a", "b", 40, idempotency_key="order-1")  # the flow re-sends the key
    assert done.replayed and (bank.balance("a"), bank.balance("b")) == (61, 41)
    proxy.add(Fault.RESET_AFTER_REPLY)
    with pytest.raises(OutcomeUnknownError):
        bank.transfer("a", "b", 5)  # no key: never re-sent
    assert bank.balance("a") == 56  # it ran, once


def test_chaos_proxy_keeps_every_invariant(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """Random cuts, resets and late replies under 4 threads: every recipe's invariant holds.

    The threads share one engine, so their calls also share writes (a batch is one
    request to the proxy): 220 steps each give the chaos enough requests to fault.
    """
    server = servers()
    proxy = proxies(server)
    world = World(Engine(clients(proxy.url(3), socket_timeout=0.2))).setup()
    proxy.chaos(0.08, [Fault.CUT_BEFORE, Fault.CUT_AFTER_REPLY, Fault.RESET_AFTER_REPLY,
                       Fault.DELAY], delay=0.3, seed=7)  # fmt: skip
    workers = [threading.Thread(target=world.work, args=(220, seed)) for seed in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    proxy.clear()
    assert sum(proxy.injected.values()) >= 30, proxy.injected
    assert sum(t.unknown for t in world.tally.values()) > 0, world.summary()
    world.check()


def test_black_holed_call_ends_at_its_socket_timeout(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """A request the network swallows ends after the socket timeout: OutcomeUnknownError."""
    server = servers()
    proxy = proxies(server)
    engine = Engine(clients(proxy.url(), socket_timeout=TIMEOUT))
    counters = Counters(engine)
    counters.increment_with_limit("bh")
    proxy.add(Fault.BLACKHOLE)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError):
        counters.increment_with_limit("bh")
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 1.0
    assert counters.get("bh") == 1  # swallowed before the server: it never ran


def test_black_holed_server_ends_at_the_deadline(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """A server that accepts but never answers: ConnectionFailedError by deadline + one timeout."""
    server = servers()
    proxy = proxies(server)
    proxy.add(Fault.BLACKHOLE, times=1000, marker=b"")  # every connection, handshake included
    client = clients(
        proxy.url(3),
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    engine = Engine(client, retry=RetryPolicy(deadline=1.0))
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError, match="counter_increment"):
        Counters(engine).increment_with_limit("never")
    assert time.monotonic() - started < 1.0 + TIMEOUT + 0.7
    proxy.clear()
    assert Counters(Engine(clients(url_of(server, 3)))).get("never") == 0


def test_cancelled_call_leaves_no_reply_on_a_pooled_connection(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A task cancelled while its reply is late: the one pooled connection serves the next call."""
    server = servers()
    proxy = proxies(server)

    async def main() -> tuple[int, int, int]:
        pool = redis.asyncio.BlockingConnectionPool.from_url(proxy.url(), max_connections=1)
        client = redis.asyncio.Redis(connection_pool=pool)
        try:
            counters = AsyncCounters(AsyncEngine(client))
            await counters.increment_with_limit("late")  # loaded, connection made
            await counters.increment_with_limit("other", 5)
            proxy.add(Fault.DELAY, delay=0.5)
            task = asyncio.ensure_future(counters.increment_with_limit("late", 1000))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            own = await counters.get("other")  # must not read the increment's late reply
            await asyncio.sleep(0.6)
            return own, await counters.get("late"), await counters.get("other")
        finally:
            await client.aclose()
            await pool.aclose()

    assert loop.run_until_complete(main()) == (5, 1001, 5)  # the cancelled call ran, once


def test_cancelled_lock_acquire_frees_the_lock(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """An AsyncLock acquire cancelled while its grant is in flight: the lock is free again soon."""
    server = servers()
    proxy = proxies(server)

    async def main() -> tuple[bool, float]:
        client = redis.asyncio.Redis.from_url(proxy.url(), socket_timeout=2)
        try:
            engine = AsyncEngine(client)
            warm = AsyncLock(engine, "cy", ttl=30)  # scripts loaded, a connection made
            assert await warm.acquire(blocking=False)
            await warm.release()
            first = AsyncLock(engine, "cy", ttl=30)
            proxy.add(Fault.DELAY, delay=0.5)
            task = asyncio.ensure_future(first.acquire(blocking=False))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            started = time.monotonic()
            second = AsyncLock(engine, "cy", ttl=30)
            while not await second.acquire(blocking=False):  # the cleanup releases the grant
                assert time.monotonic() - started < 3.0
                await asyncio.sleep(0.05)
            waited = time.monotonic() - started
            await second.release()
            return first.token is None, waited
        finally:
            await client.aclose()

    no_hold, waited = loop.run_until_complete(main())
    assert no_hold and waited < 3.0  # well before the 30 s ttl


def test_pool_exhaustion_is_a_clear_error(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """No connection left: ConnectionFailedError naming the pool's refusal; the script never ran."""
    server = servers()
    proxy = proxies(server)
    pool = redis.BlockingConnectionPool.from_url(
        proxy.url(), max_connections=2, timeout=0.1, socket_timeout=5
    )
    client = redis.Redis(connection_pool=pool)
    try:
        engine = Engine(client, retry=RetryPolicy(deadline=0.5))
        counters = Counters(engine)
        counters.increment_with_limit("held")
        proxy.add(Fault.DELAY, times=2, delay=1.0)
        # two threads hold both connections: without the shared writer, which would queue
        # the second call behind the first on one connection
        alone = Counters(Engine(client, retry=RetryPolicy(deadline=0.5), pipelining=False))
        holders = [
            threading.Thread(target=alone.increment_with_limit, args=("held",)) for _ in range(2)
        ]
        for holder in holders:
            holder.start()
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(ConnectionFailedError, match="No connection available"):
            counters.increment_with_limit("starved")
        assert time.monotonic() - started < 0.9
        for holder in holders:
            holder.join()
        assert counters.get("starved") == 0 and counters.get("held") == 3
    finally:
        client.close()

    async def starve() -> None:
        aclient = redis.asyncio.Redis.from_url(proxy.url(), max_connections=2)
        try:
            aengine = AsyncEngine(aclient, retry=RetryPolicy(deadline=0.5))
            acounters = AsyncCounters(aengine)
            await acounters.increment_with_limit("aheld")
            proxy.add(Fault.DELAY, times=2, delay=1.0)
            # two tasks hold both connections: without auto-pipelining, which would queue
            # the calls behind its batches in flight instead of taking more connections
            alone = AsyncCounters(
                AsyncEngine(aclient, retry=RetryPolicy(deadline=0.5), pipelining=False)
            )
            busy = [asyncio.ensure_future(alone.increment_with_limit("aheld")) for _ in "ab"]
            await asyncio.sleep(0.2)
            with pytest.raises(ConnectionFailedError, match="Too many connections"):
                await acounters.increment_with_limit("astarved")
            await asyncio.gather(*busy)
            assert await acounters.get("astarved") == 0
        finally:
            await aclient.aclose()

    loop.run_until_complete(starve())


@pytest.mark.usefixtures("scripts_mode")
def test_connection_lost_during_a_reload_is_retried(
    servers: Callable[..., EmbeddedServer],
    clients: Callable[..., redis.Redis],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """A cut SCRIPT LOAD after NOSCRIPT is retried like a refused connection: the call succeeds."""
    server = servers()
    proxy = proxies(server)
    client = clients(proxy.url(), socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0))
    counters = Counters(Engine(client))
    counters.increment_with_limit("reload")
    clients(server.url).script_flush()
    proxy.add(Fault.CUT_BEFORE, marker=b"LOAD")
    assert counters.increment_with_limit("reload").value == 2
