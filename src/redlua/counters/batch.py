"""Batches: many counter changes, one script call per hash slot, one round trip per node.

A batch is a list of changes, `Increment`, `Decrement` and `SetValue`, each naming
its counter; a counter appears at most once per batch. `CounterOps.batch` groups the
counters by hash slot and makes one ``counter_batch`` call per slot (split every
`MAX_CALL_KEYS` counters, so no call holds the server long); an engine's ``run_many``
pipelines the calls of one node in one write. `Batch.collect` puts the replies back in
the order of the changes.

Within one call every counter is read and every change decided before the first write,
and nothing else runs in between. Without *all_or_nothing* each change applies or is
refused on its own (a refused change says so: ``applied`` False and the value as it
stays). With *all_or_nothing* one refusal refuses every change; since one script can
only touch one slot, such a batch must keep its counters in one slot (a `Counters`
*group*), else `CrossSlotError` before any I/O. Batches do not send threshold
notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from redlua._checks import check_name
from redlua._checks import to_millis as _to_millis
from redlua._core import Call
from redlua.counters.thresholds import INT64_MAX, check_int

T = TypeVar("T")

MAX_CALL_KEYS = 200
"""The most counters one script call changes or reads; larger groups take several calls."""
MAX_TTL_MS = 10**15 - 1


def ttl_ms(ttl: object) -> str:
    """Return *ttl* (None, or seconds > 0) as the scripts' text: ``""`` or milliseconds."""
    return "" if ttl is None else str(_to_millis("ttl", ttl, most=MAX_TTL_MS))


@dataclass(frozen=True)
class Increment:
    """Add *amount* to counter *name* unless that would take it above *maximum*.

    *ttl* (seconds) is given to the counter when this change creates it.
    """

    name: str
    amount: int = 1
    maximum: int | None = None
    ttl: float | None = None

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_int("amount", self.amount, 1, INT64_MAX)
        if self.maximum is not None:
            check_int("maximum", self.maximum, 0, INT64_MAX)
        ttl_ms(self.ttl)

    def args(self) -> tuple[str, str, str, str]:
        """Return this change's four ``counter_batch`` arguments."""
        ceiling = "" if self.maximum is None else str(self.maximum - self.amount)
        return ("incr", str(self.amount), ceiling, ttl_ms(self.ttl))


@dataclass(frozen=True)
class Decrement:
    """Take *amount* from counter *name* if it holds at least that much (never below zero)."""

    name: str
    amount: int = 1

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_int("amount", self.amount, 1, INT64_MAX)

    def args(self) -> tuple[str, str, str, str]:
        """Return this change's four ``counter_batch`` arguments."""
        return ("decr", str(self.amount), "", "")


@dataclass(frozen=True)
class SetValue:
    """Set counter *name* to *value*; *ttl* (seconds) replaces its expiry, None keeps it."""

    name: str
    value: int
    ttl: float | None = None

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_int("value", self.value)
        ttl_ms(self.ttl)

    def args(self) -> tuple[str, str, str, str]:
        """Return this change's four ``counter_batch`` arguments."""
        return ("set", str(self.value), "", ttl_ms(self.ttl))


CounterChange = Increment | Decrement | SetValue


class Batch(Generic[T]):
    """The calls of one batch and where each reply item belongs.

    ``calls`` go to ``engine.run_many`` (one round trip per node); `collect` takes
    their decoded replies, one list per call, and returns one result per item, in the
    order the items were given.
    """

    def __init__(self, size: int, calls: list[Call[list[T]]], places: list[list[int]]) -> None:
        self.size = size
        self.calls = calls
        self.places = places

    def __repr__(self) -> str:
        return f"Batch({self.size} items in {len(self.calls)} calls)"

    def collect(self, replies: Sequence[list[T]]) -> list[T]:
        """Return the items of *replies* (one list per call) in the batch's order."""
        if len(replies) != len(self.calls):
            raise ValueError(f"expected {len(self.calls)} replies, got {len(replies)}")
        out: list[Any] = [None] * self.size
        for places, values in zip(self.places, replies, strict=True):
            for place, value in zip(places, values, strict=True):
                out[place] = value
        return out


def group_by_slot(slots: Sequence[int], limit: int = MAX_CALL_KEYS) -> list[tuple[int, list[int]]]:
    """Return ``(slot, indexes)`` groups of *slots*, first-seen order, at most *limit* each."""
    by_slot: dict[int, list[int]] = {}
    for index, slot in enumerate(slots):
        by_slot.setdefault(slot, []).append(index)
    groups: list[tuple[int, list[int]]] = []
    for slot, indexes in by_slot.items():
        for start in range(0, len(indexes), limit):
            groups.append((slot, indexes[start : start + limit]))
    return groups


def decoder(pairs: bool, make: Callable[[Any, Any], T]) -> Callable[[Any], list[T]]:
    """Return a decoder of a flat reply: pairs (``counter_batch``) or single values."""
    if pairs:
        return lambda reply: [make(a, b) for a, b in zip(reply[::2], reply[1::2], strict=True)]
    return lambda reply: [make(v, None) for v in reply]
