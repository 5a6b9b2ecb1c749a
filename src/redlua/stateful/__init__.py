"""Stateful links: which pod of a stateful service hosts a UID, shared with Java and Go.

* `KeySchema` spells the keys (``sf``, or the legacy ``slug`` layout).
* `LinkOps` builds the link calls (pure, no I/O); `Links` and `AsyncLinks` run them.
* `PodRegistry` / `AsyncPodRegistry`: a pod's heartbeats, draining and shutdown;
  `PodView` is a service's pods as the server's clock sees them.
* `Router` / `AsyncRouter`: route a UID to a pod (cached, placed by a `Strategy`,
  repaired per `DeadPodPolicy`) and, on the pod side, claim and release it with
  fencing tokens.
"""

from __future__ import annotations

from .api import AsyncLinks, Links
from .keys import KeySchema
from .links import Claim, LinkOps, TryResult
from .placement import BoundedLoadRendezvous, Candidate, LeastLoad, PowerOfTwoChoices, Strategy
from .pods import AsyncPodRegistry, PodRegistry
from .registry import PodState, PodView, Routing
from .router import AsyncRouter, DeadPodPolicy, Router

__all__ = [
    "AsyncLinks",
    "AsyncPodRegistry",
    "AsyncRouter",
    "BoundedLoadRendezvous",
    "Candidate",
    "Claim",
    "DeadPodPolicy",
    "KeySchema",
    "LeastLoad",
    "LinkOps",
    "Links",
    "PodRegistry",
    "PodState",
    "PodView",
    "PowerOfTwoChoices",
    "Router",
    "Routing",
    "Strategy",
    "TryResult",
]
