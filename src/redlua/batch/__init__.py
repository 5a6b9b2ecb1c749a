"""Batches: many simple operations in few round trips, and all-or-nothing updates.

* `Batch` / `AsyncBatch`: ``process_batch(ops)`` (set, get, incr, decr, del, expire,
  hset, hget, lpush, rpush, sadd, zadd; keys declared, grouped by hash slot on a
  cluster, chunked, one result per operation), ``bulk_set``, ``bulk_get`` and
  ``update_all`` (every key or none, keys of one slot).
* The operations as values: `Set`, `Get`, `Incr`, `Decr`, `Delete`, `Expire`, `HSet`,
  `HGet`, `LPush`, `RPush`, `SAdd`, `ZAdd`, or tuples such as ``("incr", key, 5)``.
* `BatchOps`: the same scripts as pure call builders.

The seed's ``BatchProcessor`` (process_batch, bulk_set, bulk_get) and batch update with
rollback, without their defects: keys are declared (never built inside Lua), an
unknown operation is an error before any I/O (not a string result), and the update
checks every key before writing any, so there is nothing to roll back.
"""

from __future__ import annotations

from redlua.batch._ops import (
    OPS,
    Decr,
    Delete,
    Expire,
    Get,
    HGet,
    HSet,
    Incr,
    LPush,
    Op,
    RPush,
    SAdd,
    Set,
    ZAdd,
    parse_op,
)
from redlua.batch._plan import BatchOps, Plan, Updated
from redlua.batch.batch import AsyncBatch, Batch

__all__ = [
    "AsyncBatch",
    "Batch",
    "BatchOps",
    "Decr",
    "Delete",
    "Expire",
    "Get",
    "HGet",
    "HSet",
    "Incr",
    "LPush",
    "Op",
    "OPS",
    "parse_op",
    "Plan",
    "RPush",
    "SAdd",
    "Set",
    "Updated",
    "ZAdd",
]
