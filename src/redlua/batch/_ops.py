"""Batch operations as values: `Set`, `Get`, `Incr`, ... and the tuple spelling of each.

An operation is a small frozen dataclass naming its key, checked when it is made (the
key a str or bytes, values str, bytes, int or float, finite; amounts int, not bool;
seconds finite and > 0), so a bad batch fails before any I/O. The tuple spelling
``("set", key, value)`` is parsed into the same classes by `parse_op`; an unknown name
raises `ValueError` there.

=========  ==========================================  ========================
name       class and arguments                          result
=========  ==========================================  ========================
set        ``Set(key, value, ttl=None)``                True
get        ``Get(key)``                                 the value, or None
incr       ``Incr(key, amount=1)``                      the new value (int)
decr       ``Decr(key, amount=1)``                      the new value (int)
del        ``Delete(key)``                              keys removed (0 or 1)
expire     ``Expire(key, seconds)``                     True if the key exists
hset       ``HSet(key, field, value)``                  fields added (0 or 1)
hget       ``HGet(key, field)``                         the value, or None
lpush      ``LPush(key, value)``                        the list's length
rpush      ``RPush(key, value)``                        the list's length
sadd       ``SAdd(key, member)``                        members added (0 or 1)
zadd       ``ZAdd(key, member, score)``                 members added (0 or 1)
=========  ==========================================  ========================
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from redlua._checks import finite, to_millis

Key = str | bytes
Value = str | bytes | int | float

MAX_MILLIS = 10**15 - 1
_INT64 = 2**63


def check_key(what: str, key: object) -> Key:
    """Return *key* if it is a str or bytes, else raise `TypeError` naming *what*."""
    if not isinstance(key, (str, bytes)):
        raise TypeError(f"{what} must be str or bytes, not {type(key).__name__}")
    return key


def check_value(what: str, value: object) -> str | bytes:
    """Return *value* as the text Redis stores (str, bytes, int or finite float), else raise."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be str, bytes, int or float, not {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        return repr(value)
    try:
        return str(value)
    except ValueError:  # past Python's int-to-text digit limit
        raise ValueError(f"{what} is too large an int to send as text; pass a str") from None


def _amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amount must be an int, not {type(value).__name__}")
    if not -_INT64 < value < _INT64:
        raise ValueError(f"amount must fit in 64 bits, got {value}")
    return value


def _ok(reply: Any) -> bool:
    return reply in ("OK", b"OK")


def _int(reply: Any) -> int:
    return int(reply)


def _flag(reply: Any) -> bool:
    return int(reply) == 1


def _raw(reply: Any) -> Any:
    return reply


@dataclass(frozen=True)
class Op(ABC):
    """One operation on one key; subclasses say how it travels and what it returns."""

    key: Key
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_key("key", self.key)

    @abstractmethod
    def args(self) -> tuple[str | bytes, ...]:
        """Return the opcode and arguments ``batch_process.lua`` reads for this operation."""

    def decode(self, reply: Any) -> Any:
        """Return the operation's result from its reply."""
        return reply


@dataclass(frozen=True)
class Set(Op):
    """SET *key* to *value*, with an expiry of *ttl* seconds when given."""

    value: Value
    ttl: float | None = None
    name: ClassVar[str] = "set"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_value("value", self.value)
        if self.ttl is not None:
            to_millis("ttl", self.ttl, most=MAX_MILLIS)

    def args(self) -> tuple[str | bytes, ...]:
        px = "0" if self.ttl is None else str(to_millis("ttl", self.ttl, most=MAX_MILLIS))
        return ("set", check_value("value", self.value), px)

    def decode(self, reply: Any) -> bool:
        return _ok(reply)


@dataclass(frozen=True)
class Get(Op):
    """GET *key*: its value, or None."""

    name: ClassVar[str] = "get"

    def args(self) -> tuple[str | bytes, ...]:
        return ("get",)


@dataclass(frozen=True)
class Incr(Op):
    """INCRBY *key* by *amount* (an int, default 1): the new value."""

    amount: int = 1
    name: ClassVar[str] = "incr"

    def __post_init__(self) -> None:
        super().__post_init__()
        _amount(self.amount)

    def args(self) -> tuple[str | bytes, ...]:
        return ("incrby", str(self.amount))

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class Decr(Op):
    """DECRBY *key* by *amount* (an int, default 1): the new value."""

    amount: int = 1
    name: ClassVar[str] = "decr"

    def __post_init__(self) -> None:
        super().__post_init__()
        if _amount(self.amount) == -_INT64 + 1:
            raise ValueError("amount must fit in 64 bits once negated")

    def args(self) -> tuple[str | bytes, ...]:
        return ("incrby", str(-self.amount))

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class Delete(Op):
    """DEL *key*: 1 if it existed, else 0."""

    name: ClassVar[str] = "del"

    def args(self) -> tuple[str | bytes, ...]:
        return ("del",)

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class Expire(Op):
    """Expire *key* in *seconds* (PEXPIRE): True if the key exists."""

    seconds: float
    name: ClassVar[str] = "expire"

    def __post_init__(self) -> None:
        super().__post_init__()
        to_millis("seconds", self.seconds, most=MAX_MILLIS)

    def args(self) -> tuple[str | bytes, ...]:
        return ("pexpire", str(to_millis("seconds", self.seconds, most=MAX_MILLIS)))

    def decode(self, reply: Any) -> bool:
        return _flag(reply)


@dataclass(frozen=True)
class HSet(Op):
    """HSET *field* of hash *key* to *value*: 1 if the field is new."""

    field: Key
    value: Value
    name: ClassVar[str] = "hset"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_key("field", self.field)
        check_value("value", self.value)

    def args(self) -> tuple[str | bytes, ...]:
        return ("hset", self.field, check_value("value", self.value))

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class HGet(Op):
    """HGET *field* of hash *key*: its value, or None."""

    field: Key
    name: ClassVar[str] = "hget"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_key("field", self.field)

    def args(self) -> tuple[str | bytes, ...]:
        return ("hget", self.field)


@dataclass(frozen=True)
class LPush(Op):
    """LPUSH *value* onto list *key*: the list's length."""

    value: Value
    name: ClassVar[str] = "lpush"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_value("value", self.value)

    def args(self) -> tuple[str | bytes, ...]:
        return ("lpush", check_value("value", self.value))

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class RPush(Op):
    """RPUSH *value* onto list *key*: the list's length."""

    value: Value
    name: ClassVar[str] = "rpush"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_value("value", self.value)

    def args(self) -> tuple[str | bytes, ...]:
        return ("rpush", check_value("value", self.value))

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class SAdd(Op):
    """SADD *member* to set *key*: 1 if it is new."""

    member: Value
    name: ClassVar[str] = "sadd"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_value("member", self.member)

    def args(self) -> tuple[str | bytes, ...]:
        return ("sadd", check_value("member", self.member))

    def decode(self, reply: Any) -> int:
        return _int(reply)


@dataclass(frozen=True)
class ZAdd(Op):
    """ZADD *member* with *score* to sorted set *key*: 1 if it is new."""

    member: Value
    score: float
    name: ClassVar[str] = "zadd"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_value("member", self.member)
        if isinstance(self.score, bool) or not isinstance(self.score, (int, float)):
            raise TypeError(f"score must be an int or float, not {type(self.score).__name__}")
        if not finite("score", self.score):
            raise ValueError(f"score must be a finite number, got {self.score!r}")

    def args(self) -> tuple[str | bytes, ...]:
        return ("zadd", repr(self.score), check_value("member", self.member))

    def decode(self, reply: Any) -> int:
        return _int(reply)


OPS: dict[str, type[Op]] = {
    cls.name: cls
    for cls in (Set, Get, Incr, Decr, Delete, Expire, HSet, HGet, LPush, RPush, SAdd, ZAdd)
}
"""Every operation by its tuple name."""


def parse_op(index: int, item: object) -> Op:
    """Return *item* (an `Op`, or a tuple such as ``("set", key, value)``) as an `Op`.

    Errors name the operation's place, ``ops[<index>]``: an unknown name or a malformed
    argument raise `ValueError`, anything of the wrong type `TypeError`.
    """
    if isinstance(item, Op):
        return item
    if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or not item:
        raise TypeError(
            f"ops[{index}] must be an Op or a tuple such as ('set', key, value), "
            f"not {type(item).__name__}"
        )
    name, *rest = item
    cls = OPS.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(sorted(OPS))
        raise ValueError(f"ops[{index}]: unknown operation {name!r}; known: {known}")
    try:
        return cls(*rest)
    except TypeError as exc:
        raise TypeError(f"ops[{index}] ({name}): {exc}") from None
    except ValueError as exc:
        raise ValueError(f"ops[{index}] ({name}): {exc}") from None
