"""`LockOps`: pure builders of the lock calls, their result types and the key spelling.

A lock *name* owns up to four keys, all under one hash tag so they share a slot (and
a cluster node)::

    redlua:lock:{<name>}           string: the holder's random token; expires after the ttl
    redlua:lock:{<name>}:waiters   zset: the waiters queued for a grant, by deadline (only
                                   while somebody waits; expires after the last deadline)
    redlua:lock:{<name>}:wake      list: one wake-up, "-" (gone after 2 s), or the grant a
                                   fair release made, "<token> <fence> <ttl ms>" (expires
                                   with the grant)
    redlua:lock:{<name>}:fence     string: the fencing counter (only with fencing; kept)

A release with waiters queued wakes the one blocked longest on the ``wake`` list. By
default it frees the lock and pushes ``-``: the waiter tries again, and whoever asks
first gets the lock. A fair release gives the lock to that waiter instead (a grant
under a fresh token), so the waiter holds it as soon as its BLPOP returns, with no
acquire round trip and no barging by latecomers; a grant no blocked waiter received
is taken by the next acquire.

The builders check everything before any I/O: a name is a non-empty str without
``{``, ``}`` or control characters; a ttl is a finite number of seconds > 0 (Lua
speaks integer milliseconds: the conversion happens here, once). They cover the seed's
``DistributedLock.acquire/release/renew(name, identifier, ttl)``: the identifier is the
token, `release` and `extend` raise `NotOwnerError` (through the engine) when the token
does not hold the lock, and nothing is swallowed into ``False``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from redlua._checks import check_name as _check_name
from redlua._checks import text as _text
from redlua._checks import to_millis as _to_millis
from redlua._core import Call
from redlua._registry import load_script
from redlua._slots import key_slot

DEFAULT_PREFIX = "redlua:lock:"
MAX_NAME = 512
MAX_TOKEN = 256
MAX_MILLIS = 10**12
"""The longest ttl or extension, in milliseconds (about 31 years)."""
MAX_WAIT_MILLIS = 10**9 - 1
"""The longest single wait a waiter announces, in milliseconds (the scripts take 9 digits)."""

_WAIT_MODES = {"no": "0", "will": "1", "last": "2"}
_BAD_NAME = re.compile(r"[{}\x00-\x1f\x7f]")
_BAD_TOKEN = re.compile(r"[ \x00-\x1f\x7f]")


# -- argument checks ---------------------------------------------------------------------------


def check_name(name: object, what: str = "name") -> str:
    """Return *name* if it can name a lock, else raise `TypeError`/`ValueError` naming *what*."""
    return _check_name(what, name)


def check_prefix(prefix: object) -> str:
    """Return *prefix* if it can lead lock keys (may be empty), else raise."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if prefix:
        check_name(prefix, "prefix")
    return prefix


def check_token(token: object) -> str:
    """Return *token* if it can identify a holder, else raise.

    A token is a non-empty str of at most 256 characters without spaces or control
    characters (the waiter set and grants join tokens with other fields).
    """
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, not {type(token).__name__}")
    if not 0 < len(token) <= MAX_TOKEN:
        raise ValueError(f"token must have 1 to {MAX_TOKEN} characters, got {len(token)}")
    if _BAD_TOKEN.search(token):
        raise ValueError(f"token {token!r} contains a space or a control character")
    return token


def to_millis(what: str, seconds: object) -> int:
    """Return *seconds* (a finite number > 0) as whole milliseconds >= 1, or raise naming *what*."""
    return _to_millis(what, seconds, most=MAX_MILLIS)


def check_flag(what: str, value: object) -> bool:
    """Return *value* if it is a bool, else raise `TypeError` naming *what*."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {type(value).__name__}")
    return value


# -- keys --------------------------------------------------------------------------------------


class LockKeys(NamedTuple):
    """The keys of one lock name and their common hash slot."""

    lock: str
    fence: str
    wake: str
    waiters: str
    slot: int


def lock_keys(name: str, prefix: str = DEFAULT_PREFIX) -> LockKeys:
    """Spell the keys of lock *name* (checked) under *prefix* (checked)."""
    base = f"{check_prefix(prefix)}{{{check_name(name)}}}"
    return LockKeys(base, base + ":fence", base + ":wake", base + ":waiters", key_slot(base))


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acquired:
    """What an acquire attempt got; true when the lock was taken.

    ``fence``: the fencing token handed out (None without fencing, or when busy).
    ``holder_ttl``: when busy, the seconds the holder has left (None: no expiry), so a
    waiter knows how long to wait at most; None when taken.
    """

    ok: bool
    fence: int | None = None
    holder_ttl: float | None = None

    def __bool__(self) -> bool:
        return self.ok


class LockState(NamedTuple):
    """A lock as the server sees it: held at all, held by the given token, time left."""

    locked: bool
    mine: bool
    ttl: float | None  # seconds left; None when free or without expiry


class Grant(NamedTuple):
    """A lock a release gave to a waiter: the grant's token, fencing token (0: none), ttl."""

    token: str
    fence: int
    ttl: float  # seconds


def grant(value: Any) -> Grant:
    """Decode a grant popped from the ``wake`` list (``"<token> <fence> <ttl ms>"``)."""
    token, fence, millis = _text(value).split(" ")
    return Grant(token, int(fence), int(millis) / 1000)


def waiter_entry(token: str, ttl_millis: int, fencing: bool) -> str:
    """Spell a waiter's entry in the waiter set, as ``locks_acquire`` queues it."""
    return f"{ttl_millis}:{'f' if fencing else '-'}:{token}"


def reply(value: Any) -> Any:
    """Return a script reply as it came (the lock classes read it directly)."""
    return value


def acquired(value: Any) -> Acquired:
    """Decode the reply of ``locks_acquire``."""
    if int(value[0]) == 1:
        fence = int(value[1])
        return Acquired(True, fence or None)
    left = int(value[1])
    return Acquired(False, None, left / 1000 if left >= 0 else None)


def lock_state(value: Any) -> LockState:
    """Decode the reply of ``locks_owner``."""
    left = int(value[0])
    return LockState(left != -2, int(value[1]) == 1, left / 1000 if left >= 0 else None)


def _released(value: Any) -> bool:
    return int(value) in (1, 2)


def _seconds(value: Any) -> float:
    return int(value) / 1000


# -- builders ----------------------------------------------------------------------------------


class LockOps:
    """Build the lock calls for keys under *prefix*; run them with any engine.

    ::

        ops = LockOps()
        engine.run(ops.acquire("orders", token, 30))   # Acquired(ok, fence, holder_ttl)
        engine.run(ops.extend("orders", token, 30, replace=True))   # new ttl, seconds
        engine.run(ops.release("orders", token))        # True, or NotOwnerError
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = check_prefix(prefix)
        self._acquire = load_script("locks_acquire")
        self._release = load_script("locks_release")
        self._extend = load_script("locks_extend")
        self._owner = load_script("locks_owner")

    def __repr__(self) -> str:
        return f"LockOps(prefix={self.prefix!r})"

    def keys(self, name: str) -> LockKeys:
        """Spell the keys of lock *name*."""
        return lock_keys(name, self.prefix)

    def acquire(
        self,
        name: str,
        token: str,
        ttl: float,
        *,
        fencing: bool = False,
        wait: Literal["no", "will", "last"] = "no",
        longest: float = 1.0,
    ) -> Call[Acquired]:
        """Take lock *name* for *token* for *ttl* seconds if it is free (one attempt).

        With *fencing* a granted lock also gets the next fencing token of *name*.
        *wait* tells the script what the caller does when the lock is busy: ``"no"``
        (a plain try), ``"will"`` (it waits up to *longest* seconds on the ``wake``
        list: queue it for a grant) or ``"last"`` (its last try: leave the queue).
        A grant the waiter pops is decoded by `grant`; it holds the lock under the
        grant's token and releases it with ``release(..., entry=waiter_entry(...))``.
        """
        keys = self.keys(name)
        if wait not in _WAIT_MODES:
            raise ValueError(f"wait must be 'no', 'will' or 'last', got {wait!r}")
        args: tuple[str, ...] = (check_token(token), str(to_millis("ttl", ttl)), _WAIT_MODES[wait])
        if wait == "will":
            args += (str(_to_millis("longest", longest, most=MAX_WAIT_MILLIS)),)
        base = (keys.lock, keys.wake, keys.waiters)
        fenced = (*base, keys.fence) if check_flag("fencing", fencing) else base
        return Call.trusted(self._acquire, fenced, args, acquired, keys.slot)

    def release(
        self, name: str, token: str, *, entry: str | None = None, fair: bool = False
    ) -> Call[bool]:
        """Release lock *name* if *token* holds it: True, or `NotOwnerError` from the engine.

        A queued waiter is woken; with *fair* it gets the lock at once (a grant). *entry*
        is the caller's own place in the queue when it got the lock by a grant (see
        `waiter_entry`).
        """
        keys = self.keys(name)
        args: tuple[str, ...] = (check_token(token),)
        if entry is not None:
            if not isinstance(entry, str):
                raise TypeError(f"entry must be a str, not {type(entry).__name__}")
            args += (entry,)
        if check_flag("fair", fair):
            args = (args[0], entry or "", "1")
        all_keys = (keys.lock, keys.wake, keys.waiters, keys.fence)
        return Call.trusted(self._release, all_keys, args, _released, keys.slot)

    def extend(
        self, name: str, token: str, seconds: float, *, replace: bool = False
    ) -> Call[float]:
        """Add *seconds* to the time *token*'s lock has left (or set it, with *replace*).

        The call returns the new time left in seconds; `NotOwnerError` when *token*
        does not hold the lock. The seed's ``renew(name, identifier, ttl)`` is
        ``extend(name, identifier, ttl, replace=True)``.
        """
        keys = self.keys(name)
        mode = "1" if check_flag("replace", replace) else "0"
        args = (check_token(token), str(to_millis("seconds", seconds)), mode)
        return Call.trusted(self._extend, (keys.lock,), args, _seconds, keys.slot)

    def state(self, name: str, token: str | None = None) -> Call[LockState]:
        """Read lock *name*: held, held by *token* (if given), seconds left (read-only)."""
        keys = self.keys(name)
        args = () if token is None else (check_token(token),)
        return Call.trusted(self._owner, (keys.lock,), args, lock_state, keys.slot)
