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

from ._script import Script
from ._slots import common_slot, key_slot

T = TypeVar("T")

Key = str | bytes
Arg = str | bytes | int | float


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
            _check_key(i, key)
        for i, arg in enumerate(args):
            _check_arg(i, arg)
        if self.script.contract is not None:
            self.script.contract.check(self.script.name, len(keys), len(args))
        if self.cross_slot:  # a legacy key layout: standalone servers only
            slot = key_slot(keys[0]) if keys else None
        else:
            slot = common_slot(keys) if keys else None
        object.__setattr__(self, "slot", slot)


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
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"seconds must be finite and >= 0, got {self.seconds!r}")


Step = Call[Any] | Sleep
Flow = Generator[Step, Any, T]
