"""Transactions and versioned records: optimistic writes that retry, bounded, and say so.

* `Transactions` / `AsyncTransactions`: ``run(fn, *keys)`` runs the user's
  read-modify-write under WATCH on one pinned connection (reads included), retries
  conflicts with full-jitter backoff at most *attempts* times, then raises
  `TransactionConflictError`; ``multi(fn)`` is a plain MULTI/EXEC. ``stats()``
  counts attempts and conflicts.
* `Versioned` / `AsyncVersioned`: a value and its version in one hash, one script
  per verb: ``get`` -> ``Record(value, version)``, ``set_if_version`` (compare-and-set;
  a refusal changes nothing), ``delete`` (leaves a tombstone holding the version) and
  ``update(name, fn)`` (compare-and-set in a bounded, jittered retry loop).
* `VersionedOps`: the same scripts as pure `Call` builders, for any engine or
  ``run_many``.

Keys of record ``<name>``: ``redlua:ver:{<name>}`` (one hash: ``v`` value, ``n`` version).
"""

from __future__ import annotations

from redlua.errors import TransactionConflictError
from redlua.txn._ops import Record, VersionedOps, Written
from redlua.txn._retry import Backoff, ConflictStats
from redlua.txn._session import AsyncWatched, Watched
from redlua.txn.versioned import AsyncVersioned, Versioned, VersionedCore
from redlua.txn.watch import AsyncTransactions, Committed, Transactions, WatchCore

__all__ = [
    "AsyncTransactions",
    "AsyncVersioned",
    "AsyncWatched",
    "Backoff",
    "Committed",
    "ConflictStats",
    "Record",
    "TransactionConflictError",
    "Transactions",
    "Versioned",
    "VersionedCore",
    "VersionedOps",
    "WatchCore",
    "Watched",
    "Written",
]
