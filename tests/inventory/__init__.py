"""Inventory tests: one face for `Inventory` and `AsyncInventory`, and a stock snapshot."""

from __future__ import annotations

from typing import Any

import redis

from redlua.inventory import AsyncInventory, Inventory
from tests.conftest import Blocking


def make_inv(engine: Any, name: str = "shop", **kwargs: Any) -> Any:
    """`Inventory` on a sync engine, `AsyncInventory` behind the blocking face on an async one."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncInventory(engine.inner, name, **kwargs), engine.loop)
    return Inventory(engine, name, **kwargs)


def counts(r: redis.Redis, product: str, name: str = "shop") -> tuple[int, int, int]:
    """Return (stock, reserved, sold) of *product* read straight from the hashes."""
    base = f"redlua:inv:{{{name}}}:"
    return (
        int(r.hget(base + "stock", product) or 0),
        int(r.hget(base + "reserved", product) or 0),
        int(r.hget(base + "sold", product) or 0),
    )


def snapshot(r: redis.Redis) -> dict[str, Any]:
    """Return every key of the database with its type and content (to prove nothing changed)."""
    out: dict[str, Any] = {}
    for key in sorted(r.scan_iter(count=1000)):
        kind = r.type(key)
        if kind == "hash":
            out[key] = r.hgetall(key)
        elif kind == "zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == "string":
            out[key] = r.get(key)
        else:
            out[key] = kind
    return out
