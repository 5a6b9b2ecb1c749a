"""`VersionedOps`: pure builders of the versioned-record calls, and their result types.

A record *name* is one hash, so its value and its version are read and written
together (the seed kept them in two keys and bumped the version before comparing,
so a refused write still moved it and every later writer failed)::

    redlua:ver:{<name>}    HASH  v -> the value, n -> the version (decimal integer)

Version 0 means the key holds nothing (never written, or expired). Each accepted
write adds 1. A delete keeps the bumped version as a tombstone (the hash without
``v``) for *tombstone* seconds, so a writer holding a version from before the
delete cannot match a record created again meanwhile. The name sits in a hash tag,
so a record shares its slot with the caller's own ``{<name>}`` keys.

The builders check everything before any I/O: names with `redlua._checks.check_name`,
versions as ints from 0 to `MAX_VERSION`, values as str, bytes or int, seconds as
finite numbers > 0 (converted to the scripts' milliseconds here, once).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from redlua._checks import check_name, to_millis
from redlua._core import Arg, Call, Key
from redlua._registry import load_script
from redlua._slots import key_slot

DEFAULT_PREFIX = "redlua:ver:"
DEFAULT_TOMBSTONE = 86_400.0
"""How long a deleted record's version is kept, in seconds (one day)."""
MAX_VERSION = 10**15 - 1
"""The largest version a script accepts (15 digits: exact in a Lua double)."""
_CACHED_NAMES = 4096  # record names whose keys and read call are kept, per VersionedOps


# -- argument checks ---------------------------------------------------------------------------


def check_prefix(prefix: object) -> str:
    """Return *prefix* if it can lead record keys (may be empty), else raise."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if prefix:
        check_name("prefix", prefix)
    return prefix


def check_version(expected: object, what: str = "expected") -> str:
    """Return the version *expected* (an int from 0 to `MAX_VERSION`) as text, else raise."""
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise TypeError(f"{what} must be an int version, not {type(expected).__name__}")
    if not 0 <= expected <= MAX_VERSION:
        raise ValueError(f"{what} must be a version from 0 to {MAX_VERSION}, got {expected}")
    return str(expected)


def check_value(value: object) -> str | bytes:
    """Return *value* as the str or bytes to store (an int as its decimal text), else raise."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"value must be str, bytes or int, not {type(value).__name__}")


# -- results -----------------------------------------------------------------------------------


class Record(NamedTuple):
    """A record as read: its value (None when absent or deleted) and its version."""

    value: Any
    version: int


class Written(NamedTuple):
    """What a compare-and-set got; true when it wrote.

    ``version``: the new version when written, else the record's current version.
    ``current``: when refused, the record's current value (None when absent), so
    the caller can decide again without reading.
    """

    ok: bool
    version: int
    current: Any = None

    def __bool__(self) -> bool:
        return self.ok


def record(reply: Any) -> Record:
    """Decode the reply of ``versioned_get``."""
    return Record(reply[0], int(reply[1]))


def written(reply: Any) -> Written:
    """Decode the reply of ``versioned_set`` and ``versioned_delete``."""
    if int(reply[0]) == 1:
        return Written(True, int(reply[1]))
    return Written(False, int(reply[1]), reply[2] if len(reply) > 2 else None)


# -- builders ----------------------------------------------------------------------------------


class VersionedOps:
    """Build the versioned-record calls for keys under *prefix*; run them with any engine.

    ::

        ops = VersionedOps()
        value, version = engine.run(ops.get("cart:42"))            # (None, 0) at first
        engine.run(ops.set_if_version("cart:42", "[]", version))  # Written(ok=True, version=1)
        engine.run(ops.set_if_version("cart:42", "[1]", 0))       # ok=False: nothing changed
    """

    def __init__(
        self, prefix: str = DEFAULT_PREFIX, *, tombstone: float = DEFAULT_TOMBSTONE
    ) -> None:
        self.prefix = check_prefix(prefix)
        millis = to_millis("tombstone", tombstone)
        self.tombstone = millis / 1000
        self._tombstone = str(millis)
        self._get = load_script("versioned_get")
        self._set = load_script("versioned_set")
        self._delete = load_script("versioned_delete")
        self._names: dict[str, tuple[tuple[str], int, Call[Record]]] = {}

    def __repr__(self) -> str:
        return f"VersionedOps(prefix={self.prefix!r}, tombstone={self.tombstone:g})"

    def spelled(self, name: str) -> tuple[tuple[str], int, Call[Record]]:
        """Return record *name*'s keys, their slot and its read call (checked once, then cached)."""
        known = self._names.get(name) if type(name) is str else None
        if known is None:
            key = f"{self.prefix}{{{check_name('name', name)}}}"
            slot = key_slot(key)
            keys = (key,)
            known = (keys, slot, Call.trusted(self._get, keys, (), record, slot))
            if len(self._names) >= _CACHED_NAMES:
                self._names.clear()
            self._names[name] = known
        return known

    def key(self, name: str) -> str:
        """Spell the key of record *name* (checked)."""
        return self.spelled(name)[0][0]

    def get(self, name: str) -> Call[Record]:
        """Read record *name*: ``Record(value, version)``, ``(None, 0)`` when absent."""
        return self.spelled(name)[2]

    def set_if_version(
        self, name: str, value: str | bytes | int, expected: int, ttl: float | None = None
    ) -> Call[Written]:
        """Write *value* to record *name* only if its version is *expected*; bump it.

        *ttl* seconds make the record expire (None: it never does). A refused
        write changes nothing and its `Written` carries the current version and value.
        """
        keys, slot, _ = self.spelled(name)
        ttl_ms = None if ttl is None else str(to_millis("ttl", ttl))
        return self.set_checked(keys, slot, check_value(value), check_version(expected), ttl_ms)

    def set_checked(
        self,
        keys: tuple[Key, ...],
        slot: int,
        value: str | bytes,
        expected: str,
        ttl_ms: str | None,
    ) -> Call[Written]:
        """Build the compare-and-set from arguments already checked and spelled as text."""
        args: tuple[Arg, ...] = (value, expected) if ttl_ms is None else (value, expected, ttl_ms)
        return Call.trusted(self._set, keys, args, written, slot)

    def delete(self, name: str, expected: int) -> Call[Written]:
        """Delete record *name* only if its version is *expected*, keeping a tombstone.

        The tombstone holds the bumped version for *tombstone* seconds; a record
        already absent at *expected* is left alone (``ok`` with its version).
        """
        keys, slot, _ = self.spelled(name)
        args = (check_version(expected), self._tombstone)
        return Call.trusted(self._delete, keys, args, written, slot)
