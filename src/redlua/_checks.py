"""Argument checks and reply decoding that every recipe shares.

Recipes check their inputs in Python before any I/O and name the argument at
fault; these are the checks more than one recipe needs, written once.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from redlua.errors import CorruptDataError, RedluaError

P = ParamSpec("P")
T = TypeVar("T")

MAX_NAME = 512
MAX_MILLIS = 10**15 - 1  # 15 digits: exact in a Lua double
_FLOAT_MAX = sys.float_info.max

_FORBIDDEN: dict[str, re.Pattern[str]] = {}


def _forbidden(reserved: str) -> re.Pattern[str]:
    pattern = _FORBIDDEN.get(reserved)
    if pattern is None:
        pattern = re.compile("[{}" + re.escape(reserved) + "\\x00-\\x1f\\x7f\\ud800-\\udfff]")
        _FORBIDDEN[reserved] = pattern
    return pattern


def check_name(what: str, value: object, *, reserved: str = "") -> str:
    """Return *value* if it can be part of a key, else raise naming *what*.

    A name is a non-empty str of at most `MAX_NAME` characters without ``{`` or
    ``}`` (they would move the keys to another hash tag and let two names share
    keys), control characters, lone surrogates (no UTF-8 spells them) or any
    character of *reserved*.
    """
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAME
        and not _forbidden(reserved).search(value)
    ):
        return value  # the hot path: one regex scan
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_NAME:
        raise ValueError(f"{what} is longer than {MAX_NAME} characters")
    bad = next((c for c in "{}" + reserved if c in value), None)
    if bad is not None:
        raise ValueError(f"{what} {value!r} contains {bad!r}, which would make keys collide")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError(f"{what} {value!r} contains a lone surrogate, which UTF-8 cannot encode")
    raise ValueError(f"{what} {value!r} contains a control character")


def to_millis(what: str, seconds: object, *, most: int = MAX_MILLIS) -> int:
    """Return *seconds* (a finite number > 0) as whole milliseconds >= 1, else raise naming *what*.

    Python speaks seconds and Lua integer milliseconds: builders convert once, here.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not (finite(what, seconds) and seconds > 0):
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {seconds!r}")
    scaled = seconds * 1000  # inf for a float past 1.8e305: round() would overflow
    millis = max(1, round(scaled)) if scaled <= most + 1 else most + 1
    if millis > most:
        raise ValueError(f"{what} is too long: {seconds!r} s (at most {most // 1000} s)")
    return millis


def finite(what: str, value: float) -> bool:
    """Return whether the number *value* is finite; raise naming *what* for an int past any float.

    `math.isfinite` raises OverflowError, naming nothing, for such an int (``10**400``);
    every int a float can hold is finite.
    """
    if not isinstance(value, int):
        return math.isfinite(value)
    if -_FLOAT_MAX <= value <= _FLOAT_MAX:  # int against float compares exactly
        return True
    raise ValueError(f"{what} is too large: an int of {value.bit_length()} bits, past any float")


_DECODE_ERRORS = (
    ValueError, TypeError, OverflowError, RecursionError, LookupError, AttributeError
)  # fmt: skip


def corrupt(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a reply decoder: a reply it cannot decode raises `CorruptDataError`.

    Scripts return some stored values as they find them; when a key holds what no
    script wrote, the decoder's own error (``int('junk')``, a JSON record nested past
    the recursion limit, ``int(inf)``) becomes ``CORRUPT_DATA`` naming *what* was
    spoiled. Redlua's own errors pass through unchanged.
    """

    def wrap(decode: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(decode)
        def checked(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return decode(*args, **kwargs)
            except RedluaError:
                raise
            except _DECODE_ERRORS as exc:
                cause = f"{type(exc).__name__}: {exc}"[:200]
                raise CorruptDataError(
                    f"{what} holds data no script wrote ({cause})", code="CORRUPT_DATA"
                ) from exc

        return checked

    return wrap


def text(value: Any) -> str:
    """Return a reply element as text, whether the client decodes replies or not."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)
