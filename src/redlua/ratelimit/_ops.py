"""`RateLimitOps`: pure builders of the rate-limit calls, and the keys they touch.

Every limit of one request has one key, and all of them carry the same hash tag, so
one script checks them together on one slot (and one cluster node)::

    <prefix>{<identity>}:<limit name>            no tag: every limit of the identity
    <prefix>{<tag>}:<limit name>:<identity>      with a tag, scope "identity"
    <prefix>{<tag>}:<limit name>                 with a tag, scope "tag": shared by
                                                 every identity under the tag

So per-user and per-tenant limits checked together give the tenant as the tag:
``ops.hit("u42", tag="acme")`` counts ``u42``'s own limits and ``acme``'s shared ones
in one step. Identities and tags are names (no ``{``, ``}`` or control characters);
limit names also refuse ``:``, so no two limits, identities or tags share a key.

The builders check everything before any I/O: cost is an int from 1 to the smallest
capacity of the limits (a request no limit can ever admit is a bug, not a denial),
``now`` a finite number of seconds >= 0 or None for the server's clock (``TIME``).
They also cover the seed's ``check_sliding_window`` and ``check_token_bucket``.

Several limits go to ``ratelimit_apply``, which decides them together. A lone limit
(the common case) goes to ``ratelimit_apply_<algorithm>``: the same algorithm code
(both scripts include it from ``lua/lib``) on the same state, with its arguments
spelled once, when the `RateLimitOps` is made, and a four-integer reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from redlua._checks import check_name, finite
from redlua._core import Call
from redlua._registry import load_script
from redlua._slots import key_slot
from redlua.ratelimit.decision import Decision, decoder
from redlua.ratelimit.limit import MAX_LIMIT, Limit, check_units

if TYPE_CHECKING:
    from collections.abc import Iterable

DEFAULT_PREFIX = "redlua:rl:"
MEMO = 1024
"""How many calls (mode, identity, cost) one `RateLimitOps` remembers; then it starts afresh."""
MAX_NOW_MS = 10**15 - 1


def check_prefix(prefix: object) -> str:
    """Return *prefix* if it can lead rate-limit keys (may be empty), else raise."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if prefix:
        check_name("prefix", prefix)
    return prefix


def now_millis(now: object) -> str:
    """Return *now* (seconds since the epoch, or None) as ARGV text: ms, or "" for TIME."""
    if now is None:
        return ""
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise TypeError(f"now must be None or a number of seconds, not {type(now).__name__}")
    if not (finite("now", now) and now >= 0):
        raise ValueError(f"now must be None or a finite number of seconds >= 0, got {now!r}")
    if now > MAX_NOW_MS / 1000:  # before scaling: a float near its maximum would overflow
        raise ValueError(f"now is too far in the future: {now!r} s")
    return str(round(now * 1000))


def _check_limits(limits: Iterable[object]) -> tuple[Limit, ...]:
    found: list[Limit] = []
    for limit in limits:
        if not isinstance(limit, Limit):
            raise TypeError(f"limits must be Limit values, not {type(limit).__name__}")
        found.append(limit)
    if not found:
        raise ValueError("a rate limiter needs at least one Limit")
    seen: set[tuple[str, str]] = set()
    for limit in found:
        spot = (limit.scope, limit.key_name)
        if spot in seen:
            raise ValueError(
                f"two limits are named {limit.key_name!r} (scope {limit.scope}): they would"
                " share a key; give one a name="
            )
        seen.add(spot)
    return tuple(found)


class RateLimitOps:
    """Build the calls of one set of limits checked together; run them on any engine.

    ::

        ops = RateLimitOps(Limit(10, 1), Limit(1000, 3600, "sliding_window"))
        engine.run(ops.hit("u42"))             # Decision(allowed, remaining, ...)
        engine.run(ops.hit("u42", cost=5))     # five units at once, or none
        engine.run(ops.peek("u42"))            # what a hit would get; consumes nothing
        engine.run(ops.refund("u42", 5))       # give five units back
        engine.run(ops.reset("u42"))           # forget: every limit full again
    """

    def __init__(self, *limits: Limit, prefix: str = DEFAULT_PREFIX) -> None:
        self.limits = _check_limits(limits)
        self.prefix = check_prefix(prefix)
        self.capacity = min(limit.capacity for limit in self.limits)
        """The most units one request may ask for: the smallest capacity of the limits."""
        self._reset = load_script("ratelimit_reset")
        self._decode = decoder([limit.limit for limit in self.limits])
        self._names = tuple(limit.key_name for limit in self.limits)
        self._own = tuple(limit.scope == "identity" for limit in self.limits)
        self._tails = tuple("}:" + name for name in self._names)
        self._one = len(self.limits) == 1
        self._memo: dict[tuple[str, str, str], Call[Decision]] = {}
        if self._one:  # its own script: no algorithm, burst for buckets only
            (limit,) = self.limits
            self._apply = load_script("ratelimit_apply_" + limit.algorithm)
            self._args: tuple[str, ...] = limit.args[1:] if limit.bucket else limit.args[1:3]
        else:
            self._apply = load_script("ratelimit_apply")
            self._args = tuple(arg for limit in self.limits for arg in limit.args)

    def __repr__(self) -> str:
        limits = ", ".join(repr(limit) for limit in self.limits)
        return f"RateLimitOps({limits}, prefix={self.prefix!r})"

    def keys(self, identity: str, tag: str | None = None) -> tuple[str, ...]:
        """Spell the keys of *identity*'s limits (under *tag*, when given), in limit order."""
        check_name("identity", identity)
        if tag is None:
            base = self.prefix + "{" + identity
            return tuple([base + tail for tail in self._tails])
        base = f"{self.prefix}{{{check_name('tag', tag)}}}:"
        tail = ":" + identity
        return tuple(
            base + name + tail if own else base + name
            for name, own in zip(self._names, self._own, strict=True)
        )

    def _cost(self, cost: object) -> str:
        if type(cost) is int and 1 <= cost <= self.capacity:  # the hot path
            return str(cost)
        if isinstance(cost, bool) or not isinstance(cost, int):
            raise TypeError(f"cost must be an int, not {type(cost).__name__}")
        if not 1 <= cost <= self.capacity:
            if cost > self.capacity >= 1:
                raise ValueError(
                    f"cost {cost} exceeds the capacity {self.capacity} of these limits:"
                    " no request that large can ever be admitted"
                )
            raise ValueError(f"cost must be an int from 1 to {self.capacity}, got {cost}")
        return str(cost)

    def _call(
        self, mode: str, identity: str, cost: str, tag: str | None, now: float | None
    ) -> Call[Decision]:
        usual = tag is None and now is None and type(identity) is str
        if usual:  # the calls of the server's clock are remembered (a Call never changes)
            call = self._memo.get((mode, identity, cost))
            if call is not None:
                return call
        if self._one and tag is None:  # the common case, spelled as keys() does
            keys: tuple[str, ...] = (
                self.prefix + "{" + check_name("identity", identity) + self._tails[0],
            )
        else:
            keys = self.keys(identity, tag)
        args = (mode, "" if now is None else now_millis(now), cost, *self._args)
        call = Call.trusted(self._apply, keys, args, self._decode, key_slot(keys[0]))
        if usual:
            if len(self._memo) >= MEMO:
                self._memo.clear()
            self._memo[mode, identity, cost] = call
        return call

    def hit(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Call[Decision]:
        """Consume *cost* units from every limit if all of them admit it, else nothing."""
        return self._call("hit", identity, self._cost(cost), tag, now)

    def peek(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Call[Decision]:
        """Say what a hit of *cost* would get, consuming nothing."""
        return self._call("peek", identity, self._cost(cost), tag, now)

    def refund(
        self, identity: str, cost: int = 1, *, tag: str | None = None, now: float | None = None
    ) -> Call[Decision]:
        """Give *cost* units back to every limit (never beyond full).

        The decision describes the limits after the refund, as a one-unit peek would.
        """
        units = str(check_units("cost", cost, MAX_LIMIT))
        return self._call("refund", identity, units, tag, now)

    def reset(self, identity: str, *, tag: str | None = None) -> Call[int]:
        """Delete the state of every limit of this request (tag-scoped ones included).

        The call returns how many keys existed.
        """
        keys = self.keys(identity, tag)
        return Call.trusted(self._reset, keys, (), int, key_slot(keys[0]))


# -- the seed's two checks ---------------------------------------------------------------


def check_sliding_window(
    identifier: str,
    window_seconds: float,
    limit: int,
    *,
    now: float | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> Call[Decision]:
    """Build the seed's sliding-window check: at most *limit* hits in any *window_seconds*.

    Exact (a sliding log whose same-millisecond hits count apart), timed by the
    server's clock unless *now* is given; equal to
    ``RateLimitOps(Limit(limit, window_seconds, "sliding_log")).hit(identifier)``.
    """
    ops = RateLimitOps(Limit(limit, window_seconds, "sliding_log"), prefix=prefix)
    return ops.hit(identifier, now=now)


def check_token_bucket(
    identifier: str,
    capacity: int,
    refill_tokens: int,
    refill_interval: float,
    *,
    now: float | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> Call[Decision]:
    """Build the seed's token-bucket check: *capacity* tokens, *refill_tokens* per interval.

    The bucket refills continuously to the millisecond (fractions of a token count),
    not in whole intervals; equal to ``RateLimitOps(Limit(refill_tokens,
    refill_interval, "token_bucket", burst=capacity)).hit(identifier)``.
    """
    limit = Limit(refill_tokens, refill_interval, "token_bucket", burst=capacity)
    return RateLimitOps(limit, prefix=prefix).hit(identifier, now=now)
