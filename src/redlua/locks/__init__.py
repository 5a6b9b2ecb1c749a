"""Locks: leases on a name, with waiting, reentrancy, auto-renewal and fencing.

* `Lock` / `AsyncLock`: acquire (waiting without polling), release, extend/renew,
  ``locked``/``owned``, context managers; owned by a thread or an asyncio task;
  ``reentrant``, ``auto_renew`` (one renewer per engine, batched) and ``fencing``.
* `LockOps`: the same scripts as pure call builders (the seed's
  ``DistributedLock.acquire/release/renew(name, identifier, ttl)``), run on any engine.
* `fenced_set` / `fenced_get`: a resource that refuses writers with an older fencing
  token.
* `Semaphore` / `AsyncSemaphore`: at most *limit* holders, each permit with its own
  expiry on the server's clock, expired permits reclaimed by the next acquire.
* `ReadWriteLock` / `AsyncReadWriteLock`: many readers or one writer, each hold a lease;
  a waiting writer keeps new readers out, so writers are not starved.

Keys of lock ``<name>``: ``redlua:lock:{<name>}``, ``...:fence`` (with fencing only,
kept) and ``...:wake`` (short-lived), one hash slot.
"""

from __future__ import annotations

from redlua.errors import LockLostError, NotOwnerError
from redlua.locks._ops import Acquired, LockKeys, LockOps, LockState, lock_keys
from redlua.locks.fencing import Fenced, fence_key_for, fenced_get, fenced_set
from redlua.locks.lock import AsyncLock, Lock, LockCore
from redlua.locks.renewer import AsyncRenewer, Renewer
from redlua.locks.rwlock import AsyncReadWriteLock, ReadWriteLock, RWState
from redlua.locks.semaphore import AsyncSemaphore, PermitLostError, Semaphore

__all__ = [
    "Acquired",
    "AsyncLock",
    "AsyncReadWriteLock",
    "AsyncRenewer",
    "AsyncSemaphore",
    "Fenced",
    "fence_key_for",
    "fenced_get",
    "fenced_set",
    "Lock",
    "LockCore",
    "LockKeys",
    "LockLostError",
    "LockOps",
    "LockState",
    "lock_keys",
    "NotOwnerError",
    "PermitLostError",
    "ReadWriteLock",
    "Renewer",
    "RWState",
    "Semaphore",
]
