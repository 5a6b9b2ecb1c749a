"""Ledger tests: helpers shared by the behaviour and race modules."""

from __future__ import annotations

from typing import Any

import redis

from redlua.ledger import AsyncLedger, Ledger
from tests.conftest import Blocking


def make_ledger(engine: Any, name: str = "bank", **options: Any) -> Any:
    """`Ledger` on a sync engine, `AsyncLedger` behind the blocking face on an async one."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncLedger(engine.inner, name, **options), engine.loop)
    return Ledger(engine, name, **options)


def snapshot(r: redis.Redis) -> dict[str, Any]:
    """Every key of the database with its serialized value, to prove nothing was written."""
    return {key: r.dump(key) for key in sorted(r.keys("*"))}


def history_sum(r: redis.Redis, ledger: str, account: str) -> tuple[int, int]:
    """Return (sum of the deltas, number of entries) of an account's whole history stream."""
    entries = r.xrange(f"redlua:ledger:{{{ledger}}}:history:{account}")
    return sum(int(fields["delta"]) for _, fields in entries), len(entries)
