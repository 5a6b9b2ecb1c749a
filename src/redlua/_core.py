"""`Call`, `Sleep` and `Flow`: pure values that recipes build and engines run.

A `Call` is one script invocation: the script, its keys, its arguments and a
decoder for the reply. It is checked when it is made (argument types, the
script's contract, one hash slot for all keys), so a bad call fails before any
I/O, on a standalone server exactly as on a cluster. A `Flow` is a generator
that yields `Call` and `Sleep` steps and receives each call's decoded reply; it
is how multi-step recipes (wait for a lock, retry a write) stay free of I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._checks import finite
from ._script import Script
from ._slots import common_slot, key_slot

T = TypeVar("T")

Key = str | bytes
Arg = str | bytes | int | float


_KEY_TYPES = frozenset({str, bytes})
_PLAIN_ARG_TYPES = frozenset({str, bytes, int})  # floats and subclasses take the full check


def _identity(reply: Any) -> Any:
    return reply


def _check_key(index: int, key: object) -> None:
    if not isinstance(key, (str, bytes)):
        raise TypeError(f"keys[{index}] must be str or bytes, not {type(key).__name__}")


def _check_arg(index: int, arg: object) -> None:
    if isinstance(arg, bool) or not isinstance(arg, (str, bytes, int, float)):
        raise TypeError(f"args[{index}] must be str, bytes, int or float, not {type(arg).__name__}")
    if isinstance(arg, float) and not math.isfinite(arg):
        raise ValueError(f"args[{index}] must be a finite number, got {arg!r}")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One script invocation, ready to run on either engine.

    ``slot`` is the hash slot shared by all keys (``None`` without keys);
    keys in different slots raise `CrossSlotError` here, before any I/O, unless
    *cross_slot* says the keys belong to a legacy layout meant for a standalone
    server (engines on a cluster refuse such a call).
    """

    script: Script
    keys: tuple[Key, ...] = ()
    args: tuple[Arg, ...] = ()
    decode: Callable[[Any], T] = _identity
    cross_slot: bool = False
    slot: int | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.script, Script):
            raise TypeError(f"script must be a Script, not {type(self.script).__name__}")
        keys, args = self.keys, self.args
        if not isinstance(keys, tuple):
            keys = _as_tuple("keys", keys)
            object.__setattr__(self, "keys", keys)
        if not isinstance(args, tuple):
            args = _as_tuple("args", args)
            object.__setattr__(self, "args", args)
        for i, key in enumerate(keys):
            if type(key) not in _KEY_TYPES:  # exact types fast; anything else checked fully
                _check_key(i, key)
        for i, arg in enumerate(args):
            if type(arg) not in _PLAIN_ARG_TYPES:
                _check_arg(i, arg)
        if self.script.contract is not None:
            self.script.contract.check(self.script.name, len(keys), len(args))
        if not keys:
            slot = None
        elif self.cross_slot or len(keys) == 1:  # cross_slot: a legacy, standalone-only layout
            slot = key_slot(keys[0])
        else:
            slot = common_slot(keys)
        object.__setattr__(self, "slot", slot)

    @classmethod
    def trusted(
        cls,
        script: Script,
        keys: tuple[Key, ...],
        args: tuple[Arg, ...],
        decode: Callable[[Any], T],
        slot: int | None,
        *,
        cross_slot: bool = False,
    ) -> Call[T]:
        """Make a call without checking it again: for builders that already did.

        A recipe builder that checked its inputs, spelled its keys with one hash tag
        and formatted its arguments as text passes *slot* itself; this skips the
        per-call checks of the constructor (a few microseconds on the hot path).
        Tests of each builder keep it honest.
        """
        call: Call[T] = object.__new__(cls)
        put = object.__setattr__
        put(call, "script", script)
        put(call, "keys", keys)
        put(call, "args", args)
        put(call, "decode", decode)
        put(call, "cross_slot", cross_slot)
        put(call, "slot", slot)
        return call


def _as_tuple(what: str, value: object) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{what} must be a sequence (tuple or list) of values")
    return tuple(value)


@dataclass(frozen=True)
class Sleep:
    """A pause inside a `Flow`; the engine sleeps (or awaits) *seconds*."""

    seconds: float

    def __post_init__(self) -> None:
        if not isinstance(self.seconds, (int, float)) or isinstance(self.seconds, bool):
            raise TypeError("seconds must be a number")
        if not (finite("seconds", self.seconds) and self.seconds >= 0):
            raise ValueError(f"seconds must be finite and >= 0, got {self.seconds!r}")


@dataclass(frozen=True)
class Wait:
    """A pause inside a `Flow` that ends early when a list gets an element (BLPOP).

    The engine pops from the first of *keys* that has an element, waiting at most
    *seconds* (cut to the client's socket timeout), and sends the flow
    ``(key, value)`` or ``None`` when nothing came. A recipe whose release pushes to
    such a list wakes its waiters without polling; since a wake-up can be missed
    (a dropped connection, a waiter that was not waiting yet), flows treat it as a
    hint and keep a bounded timeout.
    """

    keys: tuple[Key, ...]
    seconds: float
    slot: int | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        keys = self.keys if isinstance(self.keys, tuple) else _as_tuple("keys", self.keys)
        object.__setattr__(self, "keys", keys)
        if not keys:
            raise ValueError("Wait needs at least one key")
        for i, key in enumerate(keys):
            _check_key(i, key)
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise TypeError("seconds must be a number")
        if not (finite("seconds", self.seconds) and self.seconds > 0):
            raise ValueError(f"seconds must be finite and > 0, got {self.seconds!r}")
        object.__setattr__(self, "slot", common_slot(keys))


Step = Call[Any] | Sleep | Wait
Flow = Generator[Step, Any, T]
