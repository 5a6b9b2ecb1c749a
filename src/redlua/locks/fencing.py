"""Fenced writes: a resource in Redis that refuses writers holding an older fencing token.

A lock alone cannot stop a holder that was paused past its ttl (GC, swap, SIGSTOP) from
writing after a newer holder took over (Kleppmann, "How to do distributed locking").
With ``fencing=True`` every grant of a lock gets a strictly larger token (`Lock.fence`);
pass it with each write, and the resource keeps the largest token it has seen and
refuses anything older::

    lock = Lock(engine, "report", fencing=True)
    with lock:
        engine.run(fenced_set("report:{42}", data, lock.fence))   # True: written

    # a former holder, paused meanwhile, comes back with its older token:
    engine.run(fenced_set("report:{42}", stale, old_fence))        # False: refused

A refused write is an expected outcome, so it is a value (False), not an exception.
Equal tokens are accepted: one holder may write many times. The resource and the key
that remembers its last token (*fence_key*) must share a hash slot: by default the
fence key is ``<key>:fence-seen`` when *key* carries a ``{hash tag}``, else
``{<key>}:fence-seen``; an explicit *fence_key* in another slot raises `CrossSlotError`
before any I/O. The fence key never expires (a stale holder may come back at any time).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from redlua._checks import corrupt, to_millis
from redlua._core import Arg, Call, Key
from redlua._registry import load_script
from redlua._slots import key_slot
from redlua.locks._ops import check_token

SUFFIX = ":fence-seen"
MAX_TOKEN = 2**63 - 1


class Fenced(NamedTuple):
    """A fenced resource as read: its value (None when absent) and the last token seen."""

    value: Any
    token: int


def _has_tag(key: Key) -> bool:
    if isinstance(key, str):
        start = key.find("{")
        return start != -1 and key.find("}", start + 1) > start + 1
    start = key.find(b"{")
    return start != -1 and key.find(b"}", start + 1) > start + 1


def fence_key_for(key: Key) -> Key:
    """Return the default key remembering *key*'s last fencing token (same slot as *key*).

    Raise `ValueError` when *key* has no hash tag and a ``}`` that would spoil one:
    pass *fence_key* explicitly then.
    """
    if not isinstance(key, (str, bytes)):
        raise TypeError(f"key must be str or bytes, not {type(key).__name__}")
    if not key:
        raise ValueError("key must not be empty")
    if isinstance(key, str):
        derived: Key = key + SUFFIX if _has_tag(key) else "{" + key + "}" + SUFFIX
    else:
        suffix = SUFFIX.encode()
        derived = key + suffix if _has_tag(key) else b"{" + key + b"}" + suffix
    if key_slot(derived) != key_slot(key):
        raise ValueError(
            f"no fence key in the slot of {key!r} can be derived (it has a '}}' but no hash "
            "tag); pass fence_key= explicitly"
        )
    return derived


def _check_token(token: object) -> str:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(f"token must be an int (a lock's fence), not {type(token).__name__}")
    if not 0 <= token <= MAX_TOKEN:
        raise ValueError(f"token must be an int from 0 to {MAX_TOKEN}, got {token}")
    return str(token)


def _holder(holder: object) -> str:
    try:
        return check_token(holder)
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("token", "holder", 1)) from None


def _written(reply: Any) -> bool:
    return int(reply[0]) == 1


@corrupt("a fence key")
def _fenced(reply: Any) -> Fenced:
    token = reply[1]
    return Fenced(reply[0], int(token.decode() if isinstance(token, bytes) else token))


def fenced_set(
    key: Key,
    value: Arg,
    token: int,
    *,
    fence_key: Key | None = None,
    ttl: float | None = None,
    holder: str | None = None,
) -> Call[bool]:
    """Build a write of *value* to *key* that only a token >= the last one seen may make.

    *token* is the writer's fencing token (``lock.fence``); *ttl* (seconds, optional)
    expires the resource, never the fence key. *holder* (``lock.token``) also refuses a
    second writer under the same fencing token, which a failover that lost a grant can
    hand out twice: the first holder to write keeps the fence. The call returns True
    when written, False when refused (nothing changed).
    """
    seen = fence_key_for(key) if fence_key is None else fence_key
    args: tuple[Arg, ...] = (value, _check_token(token))
    if ttl is not None:
        args += (str(to_millis("ttl", ttl)),)
    if holder is not None:
        if ttl is None:
            args += ("",)
        args += (_holder(holder),)
    return Call(load_script("locks_fenced_set"), (key, seen), args, _written)


def fenced_get(key: Key, *, fence_key: Key | None = None) -> Call[Fenced]:
    """Build a read of *key* and the last fencing token seen for it (0 for none)."""
    seen = fence_key_for(key) if fence_key is None else fence_key
    return Call(load_script("locks_fenced_get"), (key, seen), (), _fenced)
