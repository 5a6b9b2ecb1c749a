"""How long and how often an engine retries a call whose reply proves it did not run."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ._checks import finite


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying calls that provably did not run.

    *deadline* seconds bound all waiting for one call (TRYAGAIN during a slot
    migration, LOADING, BUSY, a refused connection); waits grow exponentially
    from *base* to *cap* with full jitter. *reloads* bounds NOSCRIPT reloads of
    one call, *redirects* the MOVED/ASK hops. *idempotent_retries* is how many
    times a script declared idempotent is re-sent after an unknown outcome; other
    scripts are never re-sent then.
    """

    deadline: float = 5.0
    base: float = 0.005
    cap: float = 0.5
    reloads: int = 3
    redirects: int = 16
    idempotent_retries: int = 1

    def __post_init__(self) -> None:
        for name in ("deadline", "base", "cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
            if not (finite(name, value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("reloads", "redirects", "idempotent_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")

    def begin(self) -> Budget:
        """Start the budget of one call."""
        return Budget(self)


class Budget:
    """What one call has left of its `RetryPolicy`."""

    __slots__ = ("_ends", "_policy", "_waits", "redirects", "reloads", "resends")

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._ends = time.monotonic() + policy.deadline
        self._waits = 0
        self.reloads = 0
        self.redirects = 0
        self.resends = 0

    def wait(self) -> float | None:
        """Return how long to sleep before the next try, or ``None`` past the deadline."""
        left = self._ends - time.monotonic()
        if left <= 0:
            return None
        p = self._policy
        delay = random.uniform(0, min(p.cap, p.base * 2**self._waits))
        self._waits += 1
        return min(delay, left)

    def reload(self) -> bool:
        """Take one NOSCRIPT reload; False when none is left."""
        self.reloads += 1
        return self.reloads <= self._policy.reloads

    def redirect(self) -> bool:
        """Take one MOVED/ASK hop; False when none is left."""
        self.redirects += 1
        return self.redirects <= self._policy.redirects

    def resend(self) -> bool:
        """Take one re-send of an idempotent script; False when none is left."""
        self.resends += 1
        return self.resends <= self._policy.idempotent_retries
