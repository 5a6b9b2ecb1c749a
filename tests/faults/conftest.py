"""Fixtures of the fault suite: private servers, proxies and clients that are always closed.

Every test here starts the servers it breaks (`servers`), so a fault never leaks into
another test; each test carries a ``timeout`` marker, and the whole directory is marked
``faults`` (``pytest -m faults`` runs it alone, ``-m "not faults"`` skips it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redlua import EmbeddedServer

from ._proxy import Proxy

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``faults`` marker (strict markers are on)."""
    config.addinivalue_line(
        "markers", "faults: breaks real servers on purpose (restarts, kills, proxies, OOM)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``faults``."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def servers() -> Iterator[Callable[..., EmbeddedServer]]:
    """Start private servers (``servers(persistence=True, config={...})``); stop them after."""
    started: list[EmbeddedServer] = []

    def start(**kwargs: Any) -> EmbeddedServer:
        kwargs.setdefault("unix_socket", False)
        server = EmbeddedServer(**kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., redis.Redis]]:
    """Make sync clients (``clients(url, **kwargs)``, decoded); close them after the test."""
    made: list[redis.Redis] = []

    def make(url: str, **kwargs: Any) -> redis.Redis:
        kwargs.setdefault("decode_responses", True)
        client = redis.Redis.from_url(url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def proxies() -> Iterator[Callable[[EmbeddedServer], Proxy]]:
    """Start fault proxies in front of a server (``proxies(server)``); stop them after."""
    started: list[Proxy] = []

    def start(server: EmbeddedServer) -> Proxy:
        proxy = Proxy(server.host, server.port).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def scripts_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines made in this test run shipped scripts by EVALSHA (``REDLUA_MODE=scripts``).

    For faults of the script cache itself, which functions mode does not use.
    """
    monkeypatch.setenv("REDLUA_MODE", "scripts")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A private event loop for the asyncio halves of a test; closed after it."""
    created = asyncio.new_event_loop()
    yield created
    created.run_until_complete(created.shutdown_asyncgens())
    created.close()
