"""Placement strategies: which pod a new UID goes to. Pure functions of a snapshot.

Each strategy chooses among `Candidate`s (the routable pods, their effective load
and capacity) and never does I/O, so every strategy works the same on a cluster
and is tested without a server. Pods at or above their capacity are never chosen;
``None`` means no pod can take the UID.

* `LeastLoad`: the least-loaded pod, as the Java and Go services choose, but with
  ties broken at random instead of by hash-table order (which sends every new
  UID between two heartbeats to the same pod).
* `PowerOfTwoChoices`: the less loaded of two pods drawn at random; spreads a
  burst without herding (Orleans' activation-count placement, Envoy's
  least-request).
* `BoundedLoadRendezvous`: rendezvous (highest-random-weight) hashing of the UID
  over the pods, skipping pods whose load would exceed ``c`` times the mean
  (Mirrokni, Thorup and Zadimoghaddam's bounded loads). A UID lands on the same
  pod again when its temporary link has expired, and no pod takes more than
  ``ceil(c * mean)``.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import NamedTuple, Protocol


class Candidate(NamedTuple):
    """A pod that may take a new UID: its id, effective load and capacity (None: unbounded)."""

    pod: int
    load: float
    capacity: float | None = None

    @property
    def has_room(self) -> bool:
        """True while the pod is below its capacity."""
        return self.capacity is None or self.load < self.capacity


class Strategy(Protocol):
    """Choose a pod for *uid* among *candidates*, or None when none has room."""

    def choose(self, uid: str, candidates: Sequence[Candidate]) -> int | None: ...


def _open(candidates: Sequence[Candidate]) -> list[Candidate]:
    return [c for c in candidates if c.has_room]


class LeastLoad:
    """The least-loaded pod; ties broken at random."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # spreading load, not security

    def choose(self, uid: str, candidates: Sequence[Candidate]) -> int | None:
        """Return the least-loaded pod with room (random among equals)."""
        pool = _open(candidates)
        if not pool:
            return None
        low = min(c.load for c in pool)
        return self._rng.choice([c.pod for c in pool if c.load == low])


class PowerOfTwoChoices:
    """The less loaded of two pods drawn at random."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # spreading load, not security

    def choose(self, uid: str, candidates: Sequence[Candidate]) -> int | None:
        """Return the lighter of two random pods with room."""
        pool = _open(candidates)
        if len(pool) <= 1:
            return pool[0].pod if pool else None
        a, b = self._rng.sample(pool, 2)
        if a.load == b.load:
            return self._rng.choice((a.pod, b.pod))
        return a.pod if a.load < b.load else b.pod


def rendezvous_score(uid: str, pod: int) -> int:
    """Return the highest-random-weight score of (*uid*, *pod*): stable across processes."""
    digest = hashlib.blake2b(f"{uid}\x00{pod}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class BoundedLoadRendezvous:
    """Rendezvous hashing with a load bound of ``ceil(c * mean)`` per pod (c > 1)."""

    def __init__(self, c: float = 1.25) -> None:
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 1:
            raise ValueError(f"c must be a number > 1, got {c!r}")
        self.c = float(c)

    def choose(self, uid: str, candidates: Sequence[Candidate]) -> int | None:
        """Return the first pod in *uid*'s rendezvous order that stays under the bound."""
        pool = _open(candidates)
        if not pool:
            return None
        bound = math.ceil(self.c * (sum(c.load for c in pool) + 1) / len(pool))
        ordered = sorted(pool, key=lambda c: rendezvous_score(uid, c.pod), reverse=True)
        for candidate in ordered:
            if candidate.load + 1 <= bound:
                return candidate.pod
        return min(ordered, key=lambda c: c.load).pod  # unreachable when loads are counts
