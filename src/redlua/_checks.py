"""Argument checks and reply decoding that every recipe shares.

Recipes check their inputs in Python before any I/O and name the argument at
fault; these are the checks more than one recipe needs, written once.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_NAME = 512
MAX_MILLIS = 10**15 - 1  # 15 digits: exact in a Lua double

_FORBIDDEN: dict[str, re.Pattern[str]] = {}


def _forbidden(reserved: str) -> re.Pattern[str]:
    pattern = _FORBIDDEN.get(reserved)
    if pattern is None:
        pattern = re.compile("[{}" + re.escape(reserved) + "\\x00-\\x1f\\x7f]")
        _FORBIDDEN[reserved] = pattern
    return pattern


def check_name(what: str, value: object, *, reserved: str = "") -> str:
    """Return *value* if it can be part of a key, else raise naming *what*.

    A name is a non-empty str of at most `MAX_NAME` characters without ``{`` or
    ``}`` (they would move the keys to another hash tag and let two names share
    keys), control characters, or any character of *reserved*.
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
    raise ValueError(f"{what} {value!r} contains a control character")


def to_millis(what: str, seconds: object, *, most: int = MAX_MILLIS) -> int:
    """Return *seconds* (a finite number > 0) as whole milliseconds >= 1, else raise naming *what*.

    Python speaks seconds and Lua integer milliseconds: builders convert once, here.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {seconds!r}")
    millis = max(1, round(seconds * 1000))
    if millis > most:
        raise ValueError(f"{what} is too long: {seconds!r} s (at most {most // 1000} s)")
    return millis


def text(value: Any) -> str:
    """Return a reply element as text, whether the client decodes replies or not."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)
