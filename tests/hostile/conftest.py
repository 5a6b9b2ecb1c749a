"""Fixtures of the hostile tests: engines and clients that leave replies as bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redlua import Engine
from tests.conftest import EngineFactory
from tests.hostile._support import raw_client


@pytest.fixture
def bengine(make_engine: EngineFactory, server_url: str, r: redis.Redis) -> Any:
    """An engine (sync and async) whose client leaves replies as bytes, on the emptied database."""
    return make_engine(server_url, decode_responses=False)


@pytest.fixture
def raw(server_url: str, r: redis.Redis) -> Iterator[redis.Redis]:
    """A bytes client on the emptied test database."""
    client = raw_client(server_url)
    yield client
    client.close()


@pytest.fixture
def sync(server_url: str, r: redis.Redis) -> Iterator[tuple[Engine, redis.Redis]]:
    """A sync engine (str replies) and a bytes client on the emptied test database."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    raw = raw_client(server_url)
    yield Engine(client), raw
    raw.close()
    client.close()
