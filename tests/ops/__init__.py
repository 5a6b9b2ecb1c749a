"""Tests of redlua.ops, and `both`: run a sync or async ops function on the `engine` fixture."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import Blocking


def both(engine: Any, sync_fn: Callable[..., Any], async_fn: Callable[..., Any], *args: Any,
         **kwargs: Any) -> Any:  # fmt: skip
    """Call *sync_fn* on a sync engine, or run *async_fn* on the inner `AsyncEngine`."""
    if isinstance(engine, Blocking):
        return engine.loop.run_until_complete(async_fn(engine.inner, *args, **kwargs))
    return sync_fn(engine, *args, **kwargs)


def target(engine: Any) -> Any:
    """Return what ops functions take: the engine itself, or the `AsyncEngine` behind `Blocking`."""
    return engine.inner if isinstance(engine, Blocking) else engine
