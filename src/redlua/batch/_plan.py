"""`BatchOps`: pure builders that turn a batch into script calls, and `Plan`, their result.

A batch becomes chunks of at most *chunk* operations, one script call per chunk, and
the calls go to ``engine.run_many``, which sends them in one round trip per node. On a
cluster (*by_slot*) a chunk holds the operations of one hash slot only (a script's keys
must share a slot there); on a standalone server chunks follow the batch's order
whatever the slots, since one server holds every key. Either way each operation keeps
its own result, and operations on one key run in the batch's order.

`update_all` is different: one script checks every key before it writes any, so it can
only take keys of one slot, on any server (`CrossSlotError` before any I/O otherwise;
across slots all-or-nothing would need a two-phase protocol that Redis scripts cannot
give).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, NamedTuple, TypeVar

from redlua._checks import text, to_millis
from redlua._core import Call
from redlua._registry import load_script
from redlua._slots import common_slot, key_slot
from redlua.batch._ops import MAX_MILLIS, Key, Op, check_key, check_value, parse_op
from redlua.errors import from_reply

T = TypeVar("T")

DEFAULT_CHUNK = 100
"""Operations per script call: small enough to keep each script short on the server."""
MAX_CHUNK = 10_000
MAX_UPDATE = 10_000
"""The most keys one `update_all` may change (one script runs them all at once)."""


class Updated(NamedTuple):
    """What `update_all` did: every key changed (``ok``), or none, with the missing keys."""

    ok: bool
    missing: tuple[Key, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Plan(Generic[T]):
    """The calls of one batch, the positions of the items each call covers, each item's key.

    ``collect`` takes the calls' replies from ``run_many(..., return_exceptions=True)``
    and returns one result per item, in the batch's order. A call that failed as a
    whole (a lost connection, an unknown outcome) gives its error to each of its items.
    """

    calls: list[Call[list[Any]]]
    spans: list[list[int]]
    keys: tuple[Key, ...]

    def collect(self, replies: list[Any], return_exceptions: bool = False) -> list[Any]:
        """Spread *replies* (one per call) over the items; raise the first error unless asked."""
        results: list[Any] = [None] * len(self.keys)
        for span, reply in zip(self.spans, replies, strict=True):
            if isinstance(reply, BaseException):
                for i in span:
                    results[i] = reply
            else:
                for i, value in zip(span, reply, strict=True):
                    results[i] = value
        if not return_exceptions:
            error = next((r for r in results if isinstance(r, BaseException)), None)
            if error is not None:
                raise error
        return results


def check_chunk(chunk: object) -> int:
    """Return *chunk* if it is an int from 1 to `MAX_CHUNK`, else raise naming it."""
    if isinstance(chunk, bool) or not isinstance(chunk, int):
        raise TypeError(f"chunk must be an int, not {type(chunk).__name__}")
    if not 1 <= chunk <= MAX_CHUNK:
        raise ValueError(f"chunk must be from 1 to {MAX_CHUNK}, got {chunk}")
    return chunk


def _process_reply(ops: list[Op], reply: Any) -> list[Any]:
    out: list[Any] = []
    for i, op in enumerate(ops):
        if int(reply[2 * i]) == 1:
            out.append(op.decode(reply[2 * i + 1]))
        else:
            out.append(from_reply(text(reply[2 * i + 1]), script="batch_process"))
    return out


def _set_reply(count: int, reply: Any) -> list[Any]:
    return [True] * count


def _get_reply(reply: Any) -> list[Any]:
    return list(reply)


def _updated(keys: tuple[Key, ...], reply: Any) -> Updated:
    if int(reply[0]) == 1:
        return Updated(True)
    return Updated(False, tuple(keys[int(i) - 1] for i in reply[1:]))


class BatchOps:
    """Build the calls of batches of at most *chunk* operations per script call."""

    def __init__(self, chunk: int = DEFAULT_CHUNK) -> None:
        self.chunk = check_chunk(chunk)
        self._process = load_script("batch_process")
        self._set = load_script("batch_set")
        self._get = load_script("batch_get")
        self._update = load_script("batch_update")

    def __repr__(self) -> str:
        return f"BatchOps(chunk={self.chunk})"

    def _chunks(self, keys: list[Key], by_slot: bool) -> Iterable[list[int]]:
        """Yield positions of *keys* in chunks: per slot when *by_slot*, else in order."""
        size = self.chunk
        if by_slot:
            groups: dict[int, list[int]] = {}
            for i, key in enumerate(keys):
                groups.setdefault(key_slot(key), []).append(i)
            for group in groups.values():
                for start in range(0, len(group), size):
                    yield group[start : start + size]
        else:
            for start in range(0, len(keys), size):
                yield list(range(start, min(start + size, len(keys))))

    @staticmethod
    def _where(keys: tuple[Key, ...]) -> tuple[int, bool]:
        """Return the slot of the first key and whether the keys span several slots."""
        slot = key_slot(keys[0])
        return slot, any(key_slot(k) != slot for k in keys[1:])

    def process(self, ops: Iterable[object], *, by_slot: bool = True) -> Plan[Any]:
        """Plan *ops* (`Op` values or tuples such as ``("incr", key, 5)``), all checked first."""
        parsed = [parse_op(i, op) for i, op in enumerate(ops)]
        keys = [op.key for op in parsed]
        calls: list[Call[list[Any]]] = []
        spans = list(self._chunks(keys, by_slot))
        for span in spans:
            chunk = [parsed[i] for i in span]
            chunk_keys = tuple(op.key for op in chunk)
            args = tuple(arg for op in chunk for arg in op.args())
            slot, spread = self._where(chunk_keys)
            decode = partial(_process_reply, chunk)
            calls.append(
                Call.trusted(self._process, chunk_keys, args, decode, slot, cross_slot=spread)
            )
        return Plan(calls, spans, tuple(keys))

    def bulk_set(
        self, mapping: Mapping[Key, object], ttl: float | None = None, *, by_slot: bool = True
    ) -> Plan[Any]:
        """Plan setting every key of *mapping* to its value, each expiring in *ttl* seconds."""
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping must be a mapping, not {type(mapping).__name__}")
        px = "0" if ttl is None else str(to_millis("ttl", ttl, most=MAX_MILLIS))
        keys = [check_key("key", key) for key in mapping]
        values = [check_value(f"value of {key!r}", value) for key, value in mapping.items()]
        calls: list[Call[list[Any]]] = []
        spans = list(self._chunks(keys, by_slot))
        for span in spans:
            chunk_keys = tuple(keys[i] for i in span)
            args = (px, *(values[i] for i in span))
            slot, spread = self._where(chunk_keys)
            decode = partial(_set_reply, len(span))
            calls.append(Call.trusted(self._set, chunk_keys, args, decode, slot, cross_slot=spread))
        return Plan(calls, spans, tuple(keys))

    def bulk_get(self, keys: Iterable[Key], *, by_slot: bool = True) -> Plan[Any]:
        """Plan reading every key of *keys*: one value (or None) per key, in order."""
        if isinstance(keys, (str, bytes)):
            raise TypeError("keys must be an iterable of keys, not a single key")
        wanted = [check_key("key", key) for key in keys]
        calls: list[Call[list[Any]]] = []
        spans = list(self._chunks(wanted, by_slot))
        for span in spans:
            chunk_keys = tuple(wanted[i] for i in span)
            slot, spread = self._where(chunk_keys)
            calls.append(
                Call.trusted(self._get, chunk_keys, (), _get_reply, slot, cross_slot=spread)
            )
        return Plan(calls, spans, tuple(wanted))

    def update_all(
        self, mapping: Mapping[Key, object], require_existing: bool = True
    ) -> Call[Updated]:
        """Build the call that sets every key of *mapping*, or none (keys of one slot only).

        With *require_existing* nothing is written when any key is missing (the result
        names them); existing keys keep their time to live; a key that holds another
        type than a string is refused (`ServerError` WRONGTYPE, nothing written).
        """
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping must be a mapping, not {type(mapping).__name__}")
        if not isinstance(require_existing, bool):
            raise TypeError(
                f"require_existing must be a bool, not {type(require_existing).__name__}"
            )
        if len(mapping) > MAX_UPDATE:
            raise ValueError(f"mapping must hold at most {MAX_UPDATE} keys, got {len(mapping)}")
        keys = tuple(check_key("key", key) for key in mapping)
        values = tuple(check_value(f"value of {key!r}", value) for key, value in mapping.items())
        slot = common_slot(keys)  # CrossSlotError here, before any I/O
        args = ("1" if require_existing else "0", *values)
        return Call.trusted(self._update, keys, args, partial(_updated, keys), slot)
