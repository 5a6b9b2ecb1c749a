"""What the hostile tests share: database snapshots, a dead engine, the hostile values.

A *snapshot* is every key of the test database with its type, its ``DUMP`` (the exact
serialised value) and whether it has a TTL, so two snapshots compare equal exactly when
nothing was written in between. A *dead engine* points at a socket that does not exist and
never retries, so a builder that forgot to check an argument fails with
`ConnectionFailedError` instead of the `TypeError`/`ValueError` the test expects: the checks
provably happen before any I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import redis

from redlua import Engine, RedluaError, RetryPolicy
from tests.conftest import Blocking

Snapshot = dict[bytes, tuple[bytes, bytes, bool]]


def raw_client(url: str) -> redis.Redis:
    """Return a client on *url* that leaves replies as bytes (binary values stay exact)."""
    return redis.Redis.from_url(url, decode_responses=False)


def snapshot(raw: redis.Redis) -> Snapshot:
    """Return every key of *raw*'s database: type, DUMP and whether it expires."""
    keys = list(raw.scan_iter(count=1000))
    if not keys:
        return {}
    pipe = raw.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
        pipe.dump(key)
        pipe.pttl(key)
    replies = pipe.execute()
    out: Snapshot = {}
    for i, key in enumerate(keys):
        kind, dumped, pttl = replies[3 * i : 3 * i + 3]
        if dumped is not None:  # expired between SCAN and DUMP: gone
            out[key] = (kind, dumped, pttl >= 0)
    return out


def restore(raw: redis.Redis, snap: Snapshot) -> None:
    """Empty *raw*'s database and put back the keys of *snap* (without their TTLs)."""
    raw.flushdb()
    if not snap:
        return
    pipe = raw.pipeline(transaction=False)
    for key, (_, dumped, _) in snap.items():
        pipe.restore(key, 0, dumped, replace=True)
    pipe.execute()


def changed_keys(before: Snapshot, after: Snapshot) -> list[bytes]:
    """Return the keys added, removed or changed between two snapshots, sorted."""
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


def twin(engine: Any, sync: type, aio: type, *args: Any, **kwargs: Any) -> Any:
    """Build a recipe class for the ``engine`` fixture's engine: the async twin behind a
    blocking face when the engine is async, else the sync class."""
    if isinstance(engine, Blocking):
        return Blocking(aio(engine.inner, *args, **kwargs), engine.loop)
    return sync(engine, *args, **kwargs)


def dead_engine() -> Engine:
    """Return an engine whose every call fails at once with `ConnectionFailedError`."""
    client = redis.Redis(unix_socket_path="/nonexistent/redlua-hostile.sock")
    return Engine(client, retry=RetryPolicy(deadline=0))


def assert_named(exc: BaseException, *words: str) -> None:
    """Check that *exc* is a TypeError or ValueError whose message names one of *words*."""
    assert isinstance(exc, (TypeError, ValueError)), f"{type(exc).__name__}: {exc}"
    assert not isinstance(exc, RedluaError) or isinstance(exc, ValueError), exc
    text = str(exc)
    assert any(word in text for word in words), f"{text!r} names none of {words}"


def refuses(fn: Callable[[], Any], *words: str) -> BaseException:
    """Call *fn*, expect a TypeError/ValueError naming one of *words*, and return it."""
    with pytest.raises((TypeError, ValueError)) as info:
        fn()
    assert_named(info.value, *words)
    return info.value


# -- hostile values -------------------------------------------------------------------------

NAN = float("nan")
INF = float("inf")

NOT_NUMBERS: tuple[Any, ...] = ("1", b"1", None, [1], {}, object(), Decimal("1"), 1j)
"""Values of types no numeric argument takes (a Decimal is money, never seconds)."""

BAD_FLOATS: tuple[float, ...] = (NAN, INF, -INF, -0.0, 0.0)
BOOLS: tuple[bool, ...] = (True, False)
HUGE = 10**400
"""An int no float can hold: ``math.isfinite(HUGE)`` raises OverflowError."""

CONTROL = tuple(chr(c) for c in (*range(0x20), 0x7F))

BAD_NAMES: tuple[Any, ...] = (
    "",
    "{",
    "}",
    "a{b}c",
    "{tag}",
    "x\x00y",
    "line\nbreak",
    "tab\t",
    "del\x7f",
    "x" * 513,
    b"bytes",
    None,
    1.5,
    ["a"],
)
"""Names every key builder refuses: empty, braces, control characters, too long, not str."""

ODD_NAMES: tuple[str, ...] = (
    "a",
    "Ünïcödé",
    "名前",
    "emoji-😀-🧨",
    "spaces in name",
    "quote'\"`",
    "lua--[[comment]]",
    "percent%d%s",
    "backslash\\n",
    "right-to-left \u202e",
    "zero\u200bwidth",
    "x" * 512,
)
"""Names every key builder accepts, however odd: they must round-trip unchanged."""

ODD_VALUES: tuple[bytes, ...] = (
    b"",
    b"\x00",
    b"\x00\xff\xfe\x80",
    bytes(range(256)),
    "Ünïcödé 😀".encode(),
    b"\r\n$3\r\nSET\r\n",
    b"-ERR not an error\r\n",
    b"x" * 100_000,
)
"""Values that must come back byte for byte: empty, NUL, invalid UTF-8, RESP look-alikes."""


def finite_positive(value: object, most: float = math.inf) -> bool:
    """Tell whether *value* is a plain number of seconds a builder must accept."""
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and 0 < value <= most
    )
