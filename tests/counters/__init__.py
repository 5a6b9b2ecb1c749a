"""Helpers for the counter tests: one blocking face over `Counters` and `AsyncCounters`."""

from __future__ import annotations

from typing import Any

from redlua.counters import AsyncCounters, Counters
from tests.conftest import Blocking

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def make_counters(engine: Any, **kwargs: Any) -> Any:
    """`Counters` on a sync engine, `AsyncCounters` behind the blocking face on an async one."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncCounters(engine.inner, **kwargs), engine.loop)
    return Counters(engine, **kwargs)
