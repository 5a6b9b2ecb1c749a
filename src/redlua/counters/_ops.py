"""`CounterOps`: pure builders of the counter calls, their result type and the key spelling.

A counter is a Redis string holding a signed 64-bit integer; an absent counter reads as
0. Its keys, under one hash tag so a counter and its event stream share a slot::

    redlua:counter:{<name>}               the counter
    redlua:counter:{<name>}#events        its threshold notifications (XADD, MAXLEN ~)

or, for the counters of a *group* (one slot for all, so a batch over them can be
all-or-nothing)::

    redlua:counter:{<group>}:<name>
    redlua:counter:{<group>}#events:<name>

A counter key continues with ``:`` or nothing after the tag and an event stream with
``#``, so no name can spell another counter's stream. The builders check everything
before any I/O: names (non-empty, no ``{``, ``}`` or control characters), amounts (int,
not bool, 1 to 2^63-1), values (64-bit), maxima (0 to 2^63-1), ttls (finite seconds > 0,
sent as milliseconds). Values travel as decimal text both ways and come back as exact
Python ints, also past 2^53 where a Lua number would round.

They cover the seed's ``AtomicCounter`` (``increment_with_limit``, ``decrement_if_positive``,
``batch_operations``, ``get_value``, ``reset``) and its counter that publishes a
notification at a threshold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from redlua._checks import check_name
from redlua._core import Call
from redlua._registry import load_script
from redlua._script import Script
from redlua._slots import key_slot
from redlua.counters.batch import (
    MAX_CALL_KEYS,
    Batch,
    CounterChange,
    Decrement,
    Increment,
    SetValue,
    decoder,
    group_by_slot,
    ttl_ms,
)
from redlua.counters.thresholds import (
    INT64_MAX,
    Change,
    Notify,
    ThresholdEvent,
    check_int,
    notify_args,
)
from redlua.errors import CrossSlotError

DEFAULT_PREFIX = "redlua:counter:"
MAX_EVENTS = 10**6
MAX_REMEMBERED = 4096
"""How many names' keys and slots a `CounterOps` remembers (then it starts over)."""
_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


# -- argument checks ---------------------------------------------------------------------------


def check_prefix(prefix: object) -> str:
    """Return *prefix* if it can lead counter keys (may be empty), else raise."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if prefix:
        check_name("prefix", prefix)
    return prefix


# -- keys and results --------------------------------------------------------------------------


class CounterKeys(NamedTuple):
    """The keys of one counter and their common hash slot."""

    counter: str
    events: str
    slot: int


@dataclass(frozen=True)
class CounterUpdate:
    """What a change did: ``applied`` (true when it was made), the counter's ``value``
    after it (or as it stays, when refused) and the threshold levels it ``crossed``
    (each announced once, by this change)."""

    applied: bool
    value: int
    crossed: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return self.applied


def _update(reply: Any) -> CounterUpdate:
    if type(reply) is int:  # the hot path: an applied increment without ceiling, below 2^53
        return CounterUpdate(True, reply)
    if len(reply) == 2:  # no threshold crossed
        return CounterUpdate(reply[0] == 1, int(reply[1]))
    return CounterUpdate(reply[0] == 1, int(reply[1]), tuple(int(x) for x in reply[2:]))


def _pair(applied: Any, value: Any) -> CounterUpdate:
    return CounterUpdate(applied == 1, int(value))


def _value(value: Any, _: Any) -> int:
    return int(value)


def _first(reply: Any) -> int:
    return int(reply[0])


def _events(reply: Any) -> list[ThresholdEvent]:
    return [ThresholdEvent.from_entry(entry[0], entry[1]) for entry in reply]


def _exact_types(name: object, amount: object, maximum: object, ttl: object) -> bool:
    """Tell whether the arguments have exact types that cannot alias another value in a dict.

    ``True == 1`` and ``hash(True) == hash(1)``: a bool must never find the call made for
    an int, so only exact ints (and floats for the ttl) use the remembered calls; anything
    else takes the checked path and raises there.
    """
    return (
        type(name) is str
        and type(amount) is int
        and (maximum is None or type(maximum) is int)
        and (ttl is None or type(ttl) is int or type(ttl) is float)
    )


# -- builders ----------------------------------------------------------------------------------


class CounterOps:
    """Build the counter calls for keys under *prefix* (and *group*); run them with any engine.

    ::

        ops = CounterOps()
        engine.run(ops.increment_with_limit("daily", maximum=1000, ttl=86400))
        engine.run(ops.decrement_if_positive("tokens", 5))   # CounterUpdate(applied, value)
        batch = ops.batch([Increment("a", 5), Decrement("b")])
        batch.collect(engine.run_many(batch.calls))           # one result per change
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX, *, group: str | None = None) -> None:
        self.prefix = check_prefix(prefix)
        self.group = None if group is None else check_name("group", group)
        self._increment = load_script("counter_increment")
        self._decrement = load_script("counter_decrement")
        self._set = load_script("counter_set")
        self._get = load_script("counter_get")
        self._reset = load_script("counter_reset")
        self._batch = load_script("counter_batch")
        self._read_events = load_script("counter_events")
        self._located: dict[str, tuple[str, int]] = {}
        self._made: dict[tuple[str, int, int | None, float | None], Call[CounterUpdate]] = {}
        if self.group is None:
            self._slot: int | None = None
        else:
            self._slot = key_slot(f"{self.prefix}{{{self.group}}}")

    def __repr__(self) -> str:
        group = "" if self.group is None else f", group={self.group!r}"
        return f"CounterOps(prefix={self.prefix!r}{group})"

    def keys(self, name: str) -> CounterKeys:
        """Spell the keys of counter *name* (checked)."""
        check_name("name", name)
        if self.group is None:
            base = f"{self.prefix}{{{name}}}"
            return CounterKeys(base, base + "#events", key_slot(base))
        tag = f"{self.prefix}{{{self.group}}}"
        slot = self._slot if self._slot is not None else key_slot(tag)
        return CounterKeys(f"{tag}:{name}", f"{tag}#events:{name}", slot)

    def _key(self, name: str) -> tuple[str, int]:
        """Return the counter key of *name* and its slot, remembered for the hot path."""
        found = self._located.get(name) if type(name) is str else None
        if found is None:
            keys = self.keys(name)  # checks the name
            found = (keys.counter, keys.slot)
            if len(self._located) >= MAX_REMEMBERED:
                self._located.clear()
            self._located[name] = found
        return found

    # -- single changes (inputs checked here, so the calls skip the generic checks) ---------

    def increment_with_limit(
        self,
        name: str,
        amount: int = 1,
        maximum: int | None = None,
        ttl: float | None = None,
        *,
        notify: Notify = None,
    ) -> Call[CounterUpdate]:
        """Add *amount* to counter *name* unless the result would pass *maximum*.

        No ceiling when *maximum* is None (then `CounterOverflowError` past 2^63-1). A
        refused increment changes nothing and its result says so, with the current value.
        *ttl* (seconds) is given to the counter when this call creates it; increments never
        refresh it, so a counter with a ttl counts over a fixed window from its first
        increment. *notify*: a `Threshold` (or several) announced when crossed upward.
        """
        plain = notify is None and _exact_types(name, amount, maximum, ttl)
        if plain:  # calls are values: the same plain increment is made once, then reused
            known = self._made.get((name, amount, maximum, ttl))
            if known is not None:
                return known
        check_int("amount", amount, 1, INT64_MAX)
        ceiling = (
            "" if maximum is None else str(check_int("maximum", maximum, 0, INT64_MAX) - amount)
        )
        head = (str(amount), ceiling, "" if ttl is None else ttl_ms(ttl))
        call = self._change(
            self._increment, name, head, notify=notify, change="incr", amount=amount
        )
        if plain:
            if len(self._made) >= MAX_REMEMBERED:
                self._made.clear()
            self._made[name, amount, maximum, ttl] = call
        return call

    def decrement_if_positive(
        self, name: str, amount: int = 1, *, notify: Notify = None
    ) -> Call[CounterUpdate]:
        """Take *amount* from counter *name* only if it holds at least that much.

        The counter never goes below zero: a refused decrement changes nothing and its
        result says so, with the current value. *notify*: thresholds announced when
        crossed downward.
        """
        check_int("amount", amount, 1, INT64_MAX)
        head = (str(amount),)
        return self._change(
            self._decrement, name, head, notify=notify, change="decr", amount=amount
        )

    def set(
        self, name: str, value: int, *, ttl: float | None = None, notify: Notify = None
    ) -> Call[CounterUpdate]:
        """Set counter *name* to *value* (always applied).

        *ttl* (seconds) replaces the counter's expiry; None keeps it (a new counter gets
        none). *notify*: thresholds announced when the jump crosses them.
        """
        check_int("value", value)
        args, stream = notify_args(notify, "set", value)
        key, slot = self._key(name)
        keys = (key, self.keys(name).events) if stream else (key,)

        def decode(reply: Any) -> CounterUpdate:
            return CounterUpdate(True, value, tuple(int(x) for x in reply[1:]))

        head = (str(value), ttl_ms(ttl))
        return Call.trusted(self._set, keys, (*head, *args), decode, slot)

    def _change(
        self,
        script: Script,
        name: str,
        head: tuple[str, ...],
        *,
        notify: Notify,
        change: Change,
        amount: int,
    ) -> Call[CounterUpdate]:
        key, slot = self._key(name)
        if notify is None:
            return Call.trusted(script, (key,), head, _update, slot)
        args, stream = notify_args(notify, change, amount)
        keys = (key, self.keys(name).events) if stream else (key,)
        return Call.trusted(script, keys, (*head, *args), _update, slot)

    # -- reads and resets ------------------------------------------------------------------

    def get(self, name: str) -> Call[int]:
        """Read counter *name* (0 when absent)."""
        key, slot = self._key(name)
        return Call.trusted(self._get, (key,), (), _first, slot)

    def reset(self, name: str) -> Call[int]:
        """Delete counter *name* and return the value it held (no notification)."""
        key, slot = self._key(name)
        return Call.trusted(self._reset, (key,), (), int, slot)

    def events(
        self, name: str, *, after: str = "0-0", count: int = 100
    ) -> Call[list[ThresholdEvent]]:
        """Read up to *count* notifications of *name*'s event stream after id *after*."""
        if not isinstance(after, str):
            raise TypeError(f"after must be a stream id str, not {type(after).__name__}")
        if not _STREAM_ID.fullmatch(after):
            raise ValueError(f"after must be a stream id like '0-0', got {after!r}")
        check_int("count", count, 1, MAX_EVENTS)
        keys = self.keys(name)
        args = (after, str(count))
        return Call.trusted(self._read_events, (keys.events,), args, _events, keys.slot)

    def get_many(self, names: Iterable[str]) -> Batch[int]:
        """Plan the read of many counters: one call per slot (a name may repeat)."""
        listed = list(names)
        located = [self._key(name) for name in listed]
        calls: list[Call[list[int]]] = []
        places: list[list[int]] = []
        read = decoder(False, _value)
        for slot, indexes in group_by_slot([slot for _, slot in located]):
            keys = tuple(located[i][0] for i in indexes)
            calls.append(Call.trusted(self._get, keys, (), read, slot))
            places.append(indexes)
        return Batch(len(listed), calls, places)

    # -- batches ---------------------------------------------------------------------------

    def batch(
        self, changes: Iterable[CounterChange], *, all_or_nothing: bool = False
    ) -> Batch[CounterUpdate]:
        """Plan many changes: one ``counter_batch`` call per slot, per-change results.

        Each counter may appear once. Without *all_or_nothing* each change applies or is
        refused on its own. With it, one refusal refuses them all; the counters must then
        share one slot (a *group*), else `CrossSlotError` before any I/O.
        """
        if not isinstance(all_or_nothing, bool):
            raise TypeError(f"all_or_nothing must be a bool, not {type(all_or_nothing).__name__}")
        listed = list(changes)
        seen: set[str] = set()
        located: list[tuple[str, int]] = []
        for index, change in enumerate(listed):
            if not isinstance(change, (Increment, Decrement, SetValue)):
                raise TypeError(
                    f"changes[{index}] must be Increment, Decrement or SetValue, not"
                    f" {type(change).__name__}"
                )
            if change.name in seen:
                raise ValueError(f"counter {change.name!r} appears twice in one batch")
            seen.add(change.name)
            located.append(self._key(change.name))
        mode = "all" if all_or_nothing else "each"
        limit = max(len(listed), 1) if all_or_nothing else MAX_CALL_KEYS
        groups = group_by_slot([slot for _, slot in located], limit)
        if all_or_nothing and len(groups) > 1:
            first, other = groups[0][1][0], groups[1][1][0]
            raise CrossSlotError(
                f"an all-or-nothing batch needs its counters in one slot: {listed[first].name!r}"
                f" and {listed[other].name!r} differ; use Counters(..., group=...)"
            )
        read = decoder(True, _pair)
        calls: list[Call[list[CounterUpdate]]] = []
        places: list[list[int]] = []
        for slot, indexes in groups:
            keys = tuple(located[i][0] for i in indexes)
            args = tuple(arg for i in indexes for arg in listed[i].args())
            calls.append(Call.trusted(self._batch, keys, (mode, *args), read, slot))
            places.append(indexes)
        return Batch(len(listed), calls, places)
