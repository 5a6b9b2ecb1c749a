"""Counters: atomic increments under a ceiling, decrements with a floor, batches, thresholds.

* `Counters` / `AsyncCounters`: counters by name on an engine:
  ``increment_with_limit(name, amount=1, maximum=None, ttl=None)``,
  ``decrement_if_positive(name, amount=1)``, ``set``, ``get``, ``get_many``, ``reset``,
  ``batch`` and ``events``. A refused change writes nothing and says so
  (`CounterUpdate` ``applied`` False, with the current value).
* `Threshold`: announce a crossing of a level exactly once, by ``PUBLISH`` or ``XADD``
  from the script that made the change; `ThresholdEvent` reads the message back.
* `Increment`, `Decrement`, `SetValue`: the changes of a batch (one script call per hash
  slot, one round trip per node, per-change results; all-or-nothing within one slot).
* `CounterOps`: the same scripts as pure call builders (the seed's ``AtomicCounter``).

Values are exact signed 64-bit integers, also past 2^53 (they travel as decimal text);
an increment past 2^63-1 raises `CounterOverflowError` and changes nothing.

Keys of counter ``<name>``: ``redlua:counter:{<name>}`` and, for stream notifications,
``redlua:counter:{<name>}#events``; with a group, ``redlua:counter:{<group>}:<name>``.
"""

from __future__ import annotations

from redlua.counters._ops import CounterKeys, CounterOps, CounterUpdate
from redlua.counters.api import AsyncCounters, Counters
from redlua.counters.batch import Batch, CounterChange, Decrement, Increment, SetValue
from redlua.counters.thresholds import Threshold, ThresholdEvent
from redlua.errors import CounterOverflowError

__all__ = [
    "AsyncCounters",
    "Batch",
    "CounterChange",
    "CounterKeys",
    "CounterOps",
    "CounterOverflowError",
    "Counters",
    "CounterUpdate",
    "Decrement",
    "Increment",
    "SetValue",
    "Threshold",
    "ThresholdEvent",
]
