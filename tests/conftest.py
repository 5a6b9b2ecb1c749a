"""Fixtures: real servers only.

* ``server_url``: the server in ``REDIS_URL`` when set (its database number must
  be non-zero: the tests flush that database and nothing else), otherwise an
  `EmbeddedServer` started for the session.
* ``private_server``: a server the tests started themselves, for tests that
  change server-wide state (SCRIPT FLUSH, CONFIG SET, SCRIPT KILL). It is the
  session's embedded server when ``REDIS_URL`` is unset, else a second one
  (``REDLUA_SERVER_BIN`` picks its binary, e.g. the system ``redis-server``).
* ``engine``: each test body runs twice, on `Engine` and on `AsyncEngine`, behind
  one blocking face.
* ``cluster``: a local 3-master `EmbeddedCluster`, for tests marked ``cluster``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from redlua import AsyncEngine, EmbeddedCluster, EmbeddedServer, Engine


def _db_of(url: str) -> int:
    parsed = urlparse(url)
    path = parsed.path.strip("/")
    if path.isdigit():
        return int(path)
    query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    return int(query.get("db", "0"))


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedServer | None]:
    """The session's own server, unless REDIS_URL names one."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    with EmbeddedServer() as server:
        yield server


@pytest.fixture(scope="session")
def server_url(embedded: EmbeddedServer | None) -> str:
    """URL of the server the behaviour tests use (database included)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        assert embedded is not None
        return embedded.url.rsplit("/", 1)[0] + "/9"
    if _db_of(url) == 0:
        pytest.exit("REDIS_URL must name a database other than 0: the tests flush it", 2)
    return url


@pytest.fixture(scope="session")
def private_server(embedded: EmbeddedServer | None) -> Iterator[EmbeddedServer]:
    """A server this test session started and may change server-wide."""
    if embedded is not None:
        yield embedded
        return
    with EmbeddedServer() as server:
        yield server


@pytest.fixture
def r(server_url: str) -> Iterator[redis.Redis]:
    """A raw client on the test database, emptied before each test."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def pr(private_server: EmbeddedServer) -> Iterator[redis.Redis]:
    """A raw client on database 9 of the private server, emptied before each test."""
    client = private_server.client(db=9, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


class Blocking:
    """Drive an `AsyncEngine` from sync test code: every coroutine runs to completion."""

    def __init__(self, inner: AsyncEngine, loop: asyncio.AbstractEventLoop) -> None:
        self.inner = inner
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if inspect.iscoroutinefunction(attr):

            def blocking(*args: Any, **kwargs: Any) -> Any:
                return self.loop.run_until_complete(attr(*args, **kwargs))

            return blocking
        return attr


EngineFactory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make_engine(request: pytest.FixtureRequest) -> Iterator[EngineFactory]:
    """Build engines for a URL, sync or async by the parameter; close them after the test."""
    closers: list[Callable[[], None]] = []
    loop = asyncio.new_event_loop()

    def make(url: str, **client_kwargs: Any) -> Any:
        client_kwargs.setdefault("decode_responses", True)
        if request.param == "sync":
            client = redis.Redis.from_url(url, **client_kwargs)
            closers.append(client.close)
            return Engine(client)
        aclient = redis.asyncio.Redis.from_url(url, **client_kwargs)
        closers.append(lambda: loop.run_until_complete(aclient.aclose()))
        return Blocking(AsyncEngine(aclient), loop)

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for close in closers:
        close()
    loop.close()


@pytest.fixture
def engine(make_engine: EngineFactory, server_url: str, r: redis.Redis) -> Any:
    """An engine on the test database; the test body runs on both engines."""
    return make_engine(server_url)


@pytest.fixture
def private_engine(
    make_engine: EngineFactory, private_server: EmbeddedServer, pr: redis.Redis
) -> Any:
    """An engine on database 9 of the private server, sync and async."""
    return make_engine(private_server.url.rsplit("/", 1)[0] + "/9")


@pytest.fixture(scope="session")
def cluster() -> Iterator[EmbeddedCluster]:
    """A local cluster of three masters, started once per session."""
    with EmbeddedCluster(masters=3) as started:
        yield started


@pytest.fixture(params=["sync", "async"])
def cluster_engine(request: pytest.FixtureRequest, cluster: EmbeddedCluster) -> Iterator[Any]:
    """An engine on the cluster, sync and async, on a cluster emptied first."""
    host, port = cluster.startup_nodes[0]
    client = RedisCluster(host=host, port=port, decode_responses=True)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    if request.param == "sync":
        yield Engine(client)
        client.close()
        return
    client.close()
    loop = asyncio.new_event_loop()
    aclient = AsyncRedisCluster(host=host, port=port, decode_responses=True)
    yield Blocking(AsyncEngine(aclient), loop)
    loop.run_until_complete(aclient.aclose())
    loop.close()
