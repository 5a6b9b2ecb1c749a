"""Shared writes under network faults: a batch's connection lost or cut between two calls.

AsyncEngine's auto-pipeline (tasks) first, then Engine's shared writer (threads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, Call, EmbeddedServer, Engine, OutcomeUnknownError, Script
from tests._batched import queued_calls
from tests.faults._proxy import Fault, Proxy


@pytest.fixture(autouse=True)
def one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """One batch in flight per node, no call sent alone: a tick's calls share the faulted write."""
    monkeypatch.setattr("redlua._autopipe.IN_FLIGHT", 1)
    monkeypatch.setattr("redlua._autopipe.DIRECT", False)


INCR = Script.from_source("pipe_incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])")


def _client(url: str, **kwargs: Any) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(url, decode_responses=True, **kwargs)


def _kill(direct: redis.Redis, name: str) -> None:
    """Close the server side of every connection named *name* (the engine's, mid-batch)."""
    for client in direct.client_list():
        if client.get("name") == name:
            direct.client_kill_filter(_id=client["id"])


async def _burst(engine: AsyncEngine, prefix: str, n: int) -> list[Any]:
    """Add i + 1 to key prefix+i from n concurrent tasks; each result or error, in order."""
    calls = (engine.run(Call(INCR, (f"{prefix}{i}",), (i + 1,))) for i in range(n))
    return list(await asyncio.gather(*calls, return_exceptions=True))


@pytest.mark.parametrize("fault", [Fault.CUT_AFTER_REPLY, Fault.RESET_AFTER_REPLY])
def test_a_connection_lost_mid_batch_gives_each_call_unknown_outcome(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
    fault: Fault,
) -> None:
    """A batch whose replies are lost: every call raises OutcomeUnknownError, none gets another's."""
    server = servers()
    proxy = proxies(server)

    async def main() -> list[Any]:
        client = _client(proxy.url(), socket_timeout=2)
        engine = AsyncEngine(client)
        await engine.run(Call(INCR, ("warm",), (1,)))  # loaded, connection made
        proxy.add(fault)
        try:
            return await _burst(engine, "lost", 30)
        finally:
            await client.aclose()

    results = asyncio.run(main())
    assert all(isinstance(x, OutcomeUnknownError) for x in results), results
    direct = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    try:
        values = [direct.get(f"lost{i}") for i in range(30)]
    finally:
        direct.close()
    assert values == [str(i + 1) for i in range(30)]  # each ran once, none twice


def test_a_connection_cut_between_two_calls_of_a_batch(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """Cut after the 10th call of a write: the first nine have their replies, the rest unknown."""
    server = servers()
    proxy = proxies(server)
    direct = redis.Redis(host=server.host, port=server.port, decode_responses=True)

    async def main() -> list[Any]:
        client = _client(proxy.url(), socket_timeout=2, client_name="pipelined")
        engine = AsyncEngine(client)
        await engine.run(Call(INCR, ("warm",), (1,)))
        proxy.split(b"EVALSHA", partial(_kill, direct, "pipelined"), nth=10)
        try:
            return await _burst(engine, "cut", 30)
        finally:
            await client.aclose()

    try:
        results = asyncio.run(main())
        assert results[:9] == list(range(1, 10))  # answered before the cut: their own replies
        assert all(isinstance(x, OutcomeUnknownError) for x in results[9:]), results[9:]
        assert all(direct.get(f"cut{i}") is None for i in range(9, 30))  # never reached
    finally:
        direct.close()


def test_a_late_batch_times_out_within_two_socket_timeouts(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """Replies held past socket_timeout: each call is unknown in 1-2 timeouts; the next is right."""
    server = servers()
    proxy = proxies(server)
    timeout = 0.3

    async def main() -> tuple[list[Any], float, Any]:
        client = _client(proxy.url(), socket_timeout=timeout)
        engine = AsyncEngine(client)
        await engine.run(Call(INCR, ("warm",), (1,)))
        proxy.add(Fault.DELAY, delay=timeout * 4)
        try:
            started = asyncio.get_running_loop().time()
            results = await asyncio.gather(
                *(engine.run(Call(INCR, (f"late{i}",), (1,))) for i in range(20)),
                return_exceptions=True,
            )
            took = asyncio.get_running_loop().time() - started
            await asyncio.sleep(timeout * 4)  # the late replies arrive on a closed connection
            return list(results), took, await engine.run(Call(INCR, ("warm",), (1,)))
        finally:
            await client.aclose()

    results, took, after = asyncio.run(main())
    assert all(isinstance(x, OutcomeUnknownError) for x in results), results
    assert timeout <= took < timeout * 2 + 0.5
    assert after == 2  # the next call reads its own reply, not a late one


# -- the sync engine's shared writer: threads whose calls share one write ------------------


@pytest.mark.parametrize("fault", [Fault.CUT_AFTER_REPLY, Fault.RESET_AFTER_REPLY])
def test_threads_whose_batch_loses_its_connection_each_get_unknown_outcome(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
    fault: Fault,
) -> None:
    """A shared write whose replies are lost: each thread's call is unknown, each ran once."""
    server = servers()
    proxy = proxies(server)
    client = redis.Redis.from_url(proxy.url(), decode_responses=True, socket_timeout=2)
    engine = Engine(client)
    direct = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    try:
        engine.run(Call(INCR, ("warm",), (1,)))  # loaded, connection made
        proxy.add(fault)
        results = queued_calls(engine, [Call(INCR, (f"lost{i}",), (i + 1,)) for i in range(30)])
        assert all(isinstance(x, OutcomeUnknownError) for x in results), results
        assert [direct.get(f"lost{i}") for i in range(30)] == [str(i + 1) for i in range(30)]
        assert engine.run(Call(INCR, ("warm",), (1,))) == 2  # the next call reads its own reply
    finally:
        client.close()
        direct.close()


def test_threads_whose_batch_is_cut_between_two_calls(
    servers: Callable[..., EmbeddedServer],
    proxies: Callable[[EmbeddedServer], Proxy],
) -> None:
    """Cut before the 10th call of a shared write: nine threads get their replies, the rest unknown."""
    server = servers()
    proxy = proxies(server)
    client = redis.Redis.from_url(
        proxy.url(), decode_responses=True, socket_timeout=2, client_name="batched"
    )
    engine = Engine(client)
    direct = redis.Redis(host=server.host, port=server.port, decode_responses=True)

    try:
        engine.run(Call(INCR, ("warm",), (1,)))
        proxy.split(b"EVALSHA", partial(_kill, direct, "batched"), nth=10)
        results = queued_calls(engine, [Call(INCR, (f"cut{i}",), (i + 1,)) for i in range(30)])
        assert results[:9] == list(range(1, 10))  # answered before the cut: their own replies
        assert all(isinstance(x, OutcomeUnknownError) for x in results[9:]), results[9:]
        assert all(direct.get(f"cut{i}") is None for i in range(9, 30))  # never reached
    finally:
        client.close()
        direct.close()
