"""`Decision`: what a rate limiter answered, the same for every algorithm.

``ratelimit_apply`` replies ``{allowed, then per limit: allowed, remaining, retry ms,
reset ms}`` and the one-limit scripts ``ratelimit_apply_<algorithm>`` just ``{allowed,
remaining, retry ms, reset ms}``; `decoder` turns either into one `Decision`, with one
part per limit when a request is checked against several. Decoding is on every
request's path, so decisions made from replies skip the dataclass constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Decision:
    """The answer to one request: true when it was admitted.

    ``remaining``: units still available (after this hit, for a hit).
    ``retry_after``: seconds until the same request would be admitted (0.0 when it
    was); a request made that much later is admitted unless others consumed first.
    ``reset_after``: seconds until the limit is full again (0.0 when it is).
    ``limit``: the limit (units per period) that binds: for several limits, the one
    that denied the request with the longest wait, or the one with the fewest units
    left. ``parts``: one `Decision` per limit, in their order, when there are several.
    """

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float
    limit: int
    parts: tuple[Decision, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed


_new = object.__new__
_put = object.__setattr__


def _decision(
    allowed: bool,
    remaining: int,
    retry_after: float,
    reset_after: float,
    limit: int,
    *,
    parts: tuple[Decision, ...] = (),
) -> Decision:
    """Make a `Decision` of values known to be right, without the frozen constructor."""
    decision: Decision = _new(Decision)
    _put(
        decision,
        "__dict__",
        {
            "allowed": allowed,
            "remaining": remaining,
            "retry_after": retry_after,
            "reset_after": reset_after,
            "limit": limit,
            "parts": parts,
        },
    )
    return decision


def _combine(parts: tuple[Decision, ...]) -> Decision:
    allowed = all(part.allowed for part in parts)
    if allowed:
        binding = min(parts, key=lambda part: part.remaining)
    else:
        binding = max((part for part in parts if not part.allowed), key=lambda p: p.retry_after)
    return _decision(
        allowed,
        min(part.remaining for part in parts),
        binding.retry_after,
        max(part.reset_after for part in parts),
        binding.limit,
        parts=parts,
    )


def decoder(limits: Sequence[int]) -> Callable[[Any], Decision]:
    """Return the decoder of replies for limits of these sizes.

    One limit: the flat reply of ``ratelimit_apply_<algorithm>``. Several: the reply
    of ``ratelimit_apply``. Integer replies come back as Python ints from every
    client, so they are used as they are.
    """
    if len(limits) == 1:
        (size,) = limits

        def one(reply: Any) -> Decision:
            allowed, remaining, retry, reset = reply
            return _decision(allowed == 1, remaining, retry / 1000, reset / 1000, size)

        return one

    sizes = tuple(limits)

    def many(reply: Any) -> Decision:
        parts = tuple(
            _decision(
                reply[at] == 1, reply[at + 1], reply[at + 2] / 1000, reply[at + 3] / 1000, size
            )
            for size, at in zip(sizes, range(1, 4 * len(sizes), 4), strict=True)
        )
        return _combine(parts)

    return many
