"""Routing UIDs to pods: the caller side (`route`) and the pod side (`claim`, `release`).

`RouterCore` holds every decision as flows of calls (no I/O); `Router` and
`AsyncRouter` drive them and add single-flight, so that concurrent routes of one
UID in one process share one round trip.

A route (``shared/spec/stateful-links.md`` §4.2, fixed):

1. the local cache (``cache_ttl``, a minute shorter than the temporary link by
   default) answers without a round trip while its pod is routable in the last
   view of the service;
2. else the link (``GET``, read-only): a link to a routable pod is used;
3. a link to a pod that is not routable is *repaired* when the service's
   `DeadPodPolicy` is ``REASSIGN`` and the pod has been dead longer than
   ``dead_grace`` (or has shut down): a compare-and-set replaces it only if it still
   holds the dead pod. With ``KEEP`` (the Java and Go behaviour: a StatefulSet pod
   comes back under its ordinal) the route raises `PodUnavailableError`;
4. no link: the strategy chooses among the available pods, by effective load
   (the last heartbeat's load plus links reserved since, here and by other
   processes), and ``SetLinkIfAbsent`` with the temporary TTL decides the race; the
   winner's load is reserved so a burst between heartbeats spreads.

Pod views (one read-only script per service) are refreshed at most every
``view_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

from redlua._checks import finite
from redlua._core import Call, Flow
from redlua.aio import AsyncEngine
from redlua.engine import Engine
from redlua.errors import NoPodAvailableError, PodUnavailableError
from redlua.stateful.keys import KeySchema, check_name, check_pod
from redlua.stateful.links import Claim, LinkOps
from redlua.stateful.placement import Candidate, LeastLoad, Strategy
from redlua.stateful.registry import PodState, PodView, pods, reserve


class DeadPodPolicy(enum.Enum):
    """What a route does with a link to a pod that is down."""

    KEEP = "keep"  # raise PodUnavailableError; the pod is expected back (Java/Go behaviour)
    REASSIGN = "reassign"  # move the UID to a live pod once the old one is dead long enough


class _Flight:
    """One route in progress; the threads or tasks that ask for the same UID wait on it.

    The event (or future) is made only when a second caller arrives, so a route
    nobody else waits for costs no synchronisation object.
    """

    __slots__ = ("error", "event", "future", "pod")

    def __init__(self) -> None:
        self.pod = -1
        self.error: BaseException | None = None
        self.event: threading.Event | None = None
        self.future: asyncio.Future[None] | None = None

    def outcome(self) -> int:
        """Return the routed pod, or raise the leader's error."""
        if self.error is not None:
            raise self.error
        return self.pod


class _Unknown:
    """The link has not been read yet (None would mean: read, and there is none)."""


_UNKNOWN = _Unknown()


class _Cached(NamedTuple):
    pod: int
    until: float


def _positive(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not (finite(what, value) and value > 0):
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")
    return float(value)


class RouterCore:
    """Routing decisions, caches and flows shared by `Router` and `AsyncRouter`."""

    def __init__(
        self,
        schema: KeySchema,
        *,
        pod: int | None = None,
        strategy: Strategy | None = None,
        temp_ttl: int = 300,
        cache_ttl: float | None = None,
        view_ttl: float = 1.0,
        expire: float = 60.0,
        dead_grace: float = 60.0,
        policy: DeadPodPolicy = DeadPodPolicy.KEEP,
        policies: Mapping[str, DeadPodPolicy] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(schema, KeySchema):
            raise TypeError("schema must be a KeySchema")
        if isinstance(temp_ttl, bool) or not isinstance(temp_ttl, int) or temp_ttl <= 0:
            raise ValueError(f"temp_ttl must be an int number of seconds > 0, got {temp_ttl!r}")
        self.schema = schema
        self.links = LinkOps(schema)
        self.pod = None if pod is None else check_pod(pod)
        self.strategy: Strategy = strategy or LeastLoad()
        self.temp_ttl = temp_ttl
        self.cache_ttl = _positive("cache_ttl", cache_ttl or max(1, temp_ttl - 60))
        self.view_ttl = _positive("view_ttl", view_ttl)
        self.expire = _positive("expire", expire)
        self.dead_grace = _positive("dead_grace", dead_grace)
        self.policy = DeadPodPolicy(policy)
        self.policies = {
            check_name("service", s): DeadPodPolicy(p) for s, p in (policies or {}).items()
        }
        self._clock = clock
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._views: dict[str, tuple[PodView, float]] = {}
        self._pending: dict[tuple[str, int], int] = {}  # links this process reserved since the view

    # -- caches ----------------------------------------------------------------------------

    def cached(self, uid: str, service: str) -> int | None:
        """Return the cached pod of (*uid*, *service*) while it is valid and routable."""
        hit = self._cache.get((uid, service))
        if hit is None:
            return None
        if hit.until <= self._clock() or not self._routable(service, hit.pod, default=True):
            self._cache.pop((uid, service), None)
            return None
        return hit.pod

    def forget(self, uid: str, service: str) -> None:
        """Drop the cached pod of (*uid*, *service*)."""
        self._cache.pop((uid, service), None)

    def _remember(self, uid: str, service: str, pod: int) -> int:
        self._cache[(uid, service)] = _Cached(pod, self._clock() + self.cache_ttl)
        return pod

    def _routable(self, service: str, pod: int, *, default: bool) -> bool:
        seen = self._views.get(service)
        if seen is None:
            return default
        state = seen[0].get(pod)
        return state is not None and state.routable

    def view(self, service: str, *, fresh: bool = False) -> Flow[PodView]:
        """Return the service's pods, from the last view while it is fresh enough."""
        seen = self._views.get(service)
        if not fresh and seen is not None and self._clock() - seen[1] < self.view_ttl:
            return seen[0]
        latest: PodView = yield pods(self.schema, service, expire=self.expire)
        self._views[service] = (latest, self._clock())
        for key in [k for k in self._pending if k[0] == service]:
            del self._pending[key]
        return latest

    # -- caller side -----------------------------------------------------------------------

    def quick_lookup(self, uid: str | int, service: str) -> Call[int | None] | None:
        """Return the link lookup when one round trip may settle the route, else None.

        While the service's view is fresh, a route whose link points at a routable
        pod needs only this call (see `settle`); anything else takes `route_flow`.
        """
        lookup = self.links.get_link(uid, service)  # checks both names before any I/O
        seen = self._views.get(service)
        if seen is None or self._clock() - seen[1] >= self.view_ttl:
            return None
        return lookup

    def settle(self, uid: str | int, service: str, linked: int | _Unknown | None) -> int | None:
        """Return and cache *linked* when it is a routable pod; None sends the route on."""
        if isinstance(linked, int) and self._routable(service, linked, default=False):
            return self._remember(str(uid), service, linked)
        return None

    def route_flow(
        self, uid: str | int, service: str, known: int | _Unknown | None = _UNKNOWN
    ) -> Flow[int]:
        """Return the pod serving (*uid*, *service*), linking a new UID to a chosen pod.

        The local cache is the caller's to consult first (`cached`); *known* is the
        link a `quick_lookup` just read, so the flow need not read it again.
        """
        lookup = self.links.get_link(uid, service)  # checks both names before any I/O
        uid = str(uid)
        seen = self._views.get(service)
        if seen is not None and self._clock() - seen[1] < self.view_ttl:
            view = seen[0]
        else:
            view = yield from self.view(service)
        linked: int | None = (yield lookup) if isinstance(known, _Unknown) else known
        if linked is None:
            chosen = self._choose(uid, service, view)
            linked = yield self.links.set_link_if_absent(uid, service, chosen, self.temp_ttl)
            if linked == chosen:
                yield from self._reserve(service, chosen)
        if self._routable(service, linked, default=False):
            return self._remember(uid, service, linked)
        view = yield from self.view(service, fresh=True)  # a pod may have just come up
        if self._routable(service, linked, default=False):
            return self._remember(uid, service, linked)
        return (yield from self._repair(uid, service, linked, view))

    def _choose(self, uid: str, service: str, view: PodView) -> int:
        candidates = [
            Candidate(p.pod, p.effective_load + self._pending.get((service, p.pod), 0), p.capacity)
            for p in view.available()
        ]
        chosen = self.strategy.choose(uid, candidates)
        if chosen is None:
            raise NoPodAvailableError(
                f"no pod of service {service!r} is alive, ready and below its capacity"
                f" ({len(view.pods)} known, {len(view.alive())} alive)"
            )
        return chosen

    def _reserve(self, service: str, pod: int) -> Flow[None]:
        key = (service, pod)
        self._pending[key] = self._pending.get(key, 0) + 1
        yield reserve(self.schema, service, pod)

    def _dead_why(self, state: PodState | None, view: PodView) -> tuple[bool, str]:
        """Return (may be reassigned, why the pod is not routable)."""
        if state is None:
            return True, "which has never sent a heartbeat"
        if state.alive and not state.routable:
            return True, "which has shut down"
        if state.heartbeat_ms is None:
            return True, "whose state cannot be read"
        dead_for = (view.now_ms - state.heartbeat_ms) / 1000 - self.expire
        why = f"whose last heartbeat is {(view.now_ms - state.heartbeat_ms) / 1000:.0f} s old"
        return dead_for >= self.dead_grace, why

    def _repair(self, uid: str, service: str, dead: int, view: PodView) -> Flow[int]:
        reassign, why = self._dead_why(view.get(dead), view)
        if self.policies.get(service, self.policy) is DeadPodPolicy.KEEP:
            raise PodUnavailableError(uid, service, dead, why + " (policy KEEP)")
        if not reassign:
            raise PodUnavailableError(uid, service, dead, why + " (within dead_grace)")
        chosen = self._choose(uid, service, view)
        done, now = yield self.links.replace_link_if(uid, service, dead, chosen, self.temp_ttl)
        if done:
            yield from self._reserve(service, chosen)
            return self._remember(uid, service, chosen)
        if now is not None and self._routable(service, now, default=False):
            return self._remember(uid, service, now)  # another router repaired it first
        raise PodUnavailableError(uid, service, dead if now is None else now, "after a repair race")

    # -- pod side --------------------------------------------------------------------------

    def _me(self, pod: int | None) -> int:
        if pod is not None:
            return check_pod(pod)
        if self.pod is None:
            raise ValueError(
                "this router has no pod of its own: pass pod=... here or to the router"
            )
        return self.pod

    def claim_call(
        self, uid: str | int, service: str, *, pod: int | None = None, ttl: int | None = None
    ) -> Call[Claim]:
        """The call that links *uid* to this pod persistently (see `Router.claim`)."""
        return self.links.claim(uid, service, self._me(pod), ttl)

    def claimed(self, uid: str | int, service: str, result: Claim) -> Claim:
        """Cache the owner a claim reported and return the claim."""
        self._remember(str(uid), service, result.owner)
        return result

    def release_call(
        self, uid: str | int, service: str, *, pod: int | None = None, grace: int | None = 60
    ) -> Call[tuple[bool, int]]:
        """The call that drops this pod's link (see `Router.release`)."""
        return self.links.release(uid, service, self._me(pod), grace)

    def released(self, uid: str | int, service: str, result: tuple[bool, int]) -> bool:
        """Forget the cached pod after a release and say whether it was ours."""
        self.forget(str(uid), service)
        return bool(result[0])


class Router(RouterCore):
    """Route UIDs on a sync `Engine`; concurrent threads routing one UID share a round trip."""

    def __init__(self, engine: Engine, schema: KeySchema, **options: Any) -> None:
        if not isinstance(engine, Engine):
            raise TypeError("Router needs an Engine (use AsyncRouter with an AsyncEngine)")
        super().__init__(schema, **options)
        self.engine = engine
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, str], _Flight] = {}

    def route(self, uid: str | int, service: str) -> int:
        """Return the pod serving (*uid*, *service*); see the module's docstring."""
        key = (str(uid), service)
        hit = self.cached(*key)
        if hit is not None:
            return hit
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                self._flights[key] = mine = _Flight()
            elif flight.event is None:
                flight.event = threading.Event()
        if flight is not None:  # another thread routes this UID: wait for its answer
            cast("threading.Event", flight.event).wait()
            return flight.outcome()
        try:
            known: int | _Unknown | None = _UNKNOWN
            lookup = self.quick_lookup(uid, service)
            if lookup is not None:
                known = self.engine.run(lookup)
            pod = self.settle(uid, service, known)
            if pod is None:
                pod = self.engine.drive(self.route_flow(uid, service, known))
            mine.pod = pod
        except BaseException as exc:
            mine.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if mine.event is not None:
                    mine.event.set()
        return mine.pod

    def claim(
        self, uid: str | int, service: str, *, pod: int | None = None, ttl: int | None = None
    ) -> Claim:
        """Link *uid* to this pod persistently unless another pod holds it persistently.

        The `Claim` says who owns it and carries the fencing token to pass to the
        pod's state store; *pod* defaults to the router's own.
        """
        result = self.engine.run(self.claim_call(uid, service, pod=pod, ttl=ttl))
        return self.claimed(uid, service, result)

    def release(
        self, uid: str | int, service: str, *, pod: int | None = None, grace: int | None = 60
    ) -> bool:
        """Drop this pod's link, kept *grace* seconds as a temporary link; False if not ours."""
        result = self.engine.run(self.release_call(uid, service, pod=pod, grace=grace))
        return self.released(uid, service, result)


class AsyncRouter(RouterCore):
    """Route UIDs on an `AsyncEngine`; concurrent tasks routing one UID share a round trip."""

    def __init__(self, engine: AsyncEngine, schema: KeySchema, **options: Any) -> None:
        if not isinstance(engine, AsyncEngine):
            raise TypeError("AsyncRouter needs an AsyncEngine (use Router with an Engine)")
        super().__init__(schema, **options)
        self.engine = engine
        self._flights: dict[tuple[str, str], _Flight] = {}

    async def route(self, uid: str | int, service: str) -> int:
        """Return the pod serving (*uid*, *service*); see the module's docstring."""
        key = (str(uid), service)
        hit = self.cached(*key)
        if hit is not None:
            return hit
        flight = self._flights.get(key)
        if flight is not None:  # another task routes this UID: wait for its answer
            if flight.future is None:
                flight.future = asyncio.get_running_loop().create_future()
            await asyncio.shield(flight.future)
            return flight.outcome()
        self._flights[key] = mine = _Flight()
        try:
            known: int | _Unknown | None = _UNKNOWN
            lookup = self.quick_lookup(uid, service)
            if lookup is not None:
                known = await self.engine.run(lookup)
            pod = self.settle(uid, service, known)
            if pod is None:
                pod = await self.engine.drive(self.route_flow(uid, service, known))
            mine.pod = pod
        except BaseException as exc:
            mine.error = exc
            raise
        finally:
            del self._flights[key]
            if mine.future is not None:
                mine.future.set_result(None)
        return mine.pod

    async def claim(
        self, uid: str | int, service: str, *, pod: int | None = None, ttl: int | None = None
    ) -> Claim:
        """Link *uid* to this pod persistently unless another pod holds it persistently.

        The `Claim` says who owns it and carries the fencing token to pass to the
        pod's state store; *pod* defaults to the router's own.
        """
        result = await self.engine.run(self.claim_call(uid, service, pod=pod, ttl=ttl))
        return self.claimed(uid, service, result)

    async def release(
        self, uid: str | int, service: str, *, pod: int | None = None, grace: int | None = 60
    ) -> bool:
        """Drop this pod's link, kept *grace* seconds as a temporary link; False if not ours."""
        result = await self.engine.run(self.release_call(uid, service, pod=pod, grace=grace))
        return self.released(uid, service, result)
