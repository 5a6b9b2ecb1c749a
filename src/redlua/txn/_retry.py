"""What optimistic writes share: bounded attempts, jittered backoff, conflict counts.

A WATCH transaction and a compare-and-set update both lose to a concurrent writer
now and then, and both answer the same way: try again after a pause, a bounded
number of times, then say so with `TransactionConflictError` (never a silent
``None``, the seed's defect). The pause is exponential with *full jitter*
(uniform between 0 and ``min(cap, base * 2**(attempt-1))``), so writers that
collided once do not collide again in lockstep.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from redlua._checks import finite

MAX_ATTEMPTS = 10_000


def check_attempts(attempts: object) -> int:
    """Return *attempts* if it is an int from 1 to `MAX_ATTEMPTS`, else raise naming it."""
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise TypeError(f"attempts must be an int, not {type(attempts).__name__}")
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise ValueError(f"attempts must be from 1 to {MAX_ATTEMPTS}, got {attempts}")
    return attempts


def _check_seconds(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not (finite(what, value) and value >= 0):
        raise ValueError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Backoff:
    """At most *attempts* tries, pausing between them with full jitter.

    The pause after failed attempt *k* (from 1) is uniform in
    ``[0, min(cap, base * 2**(k-1))]`` seconds, so all pauses of one operation add
    up to at most ``(attempts - 1) * cap``.
    """

    attempts: int = 5
    base: float = 0.005
    cap: float = 0.2

    def __post_init__(self) -> None:
        check_attempts(self.attempts)
        _check_seconds("base", self.base)
        _check_seconds("cap", self.cap)
        if self.cap < self.base:
            raise ValueError(f"cap must be >= base, got cap={self.cap!r} < base={self.base!r}")

    def ceiling(self, attempt: int) -> float:
        """Return the longest pause after failed attempt *attempt* (from 1)."""
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, 64))

    def delay(self, attempt: int) -> float:
        """Return a random pause after failed attempt *attempt* (from 1), full jitter."""
        return random.uniform(0.0, self.ceiling(attempt))


@dataclass(frozen=True)
class ConflictStats:
    """Counts of one helper since it was made (or reset).

    ``runs``: operations started; ``attempts``: tries made (each ran the user's
    function or sent a write); ``conflicts``: tries refused because a watched key or
    a version changed; ``committed``: operations that wrote; ``exhausted``:
    operations that raised `TransactionConflictError` after their last attempt.
    """

    runs: int = 0
    attempts: int = 0
    conflicts: int = 0
    committed: int = 0
    exhausted: int = 0


class Counters:
    """Thread-safe counters behind `ConflictStats`."""

    __slots__ = ("_guard", "_values")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._values = [0, 0, 0, 0, 0]  # in the order of ConflictStats' fields

    def add(
        self, runs: int = 0, attempts: int = 0, conflicts: int = 0, committed: int = 0,
        exhausted: int = 0,
    ) -> None:  # fmt: skip
        """Add the given counts at once."""
        with self._guard:
            v = self._values
            v[0] += runs
            v[1] += attempts
            v[2] += conflicts
            v[3] += committed
            v[4] += exhausted

    def snapshot(self) -> ConflictStats:
        """Return the counts as they are now."""
        with self._guard:
            return ConflictStats(*self._values)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._guard:
            self._values = [0, 0, 0, 0, 0]
