"""`PodRegistry` and `AsyncPodRegistry`: one pod's heartbeats, draining and shutdown.

The twins differ by ``async``/``await`` and by what runs the background loop (a
daemon thread, an asyncio task). Everything else lives in `RegistryCore`, which
does no I/O: each turn of the loop is the flow `RegistryCore.tick` (one heartbeat,
then the pause before the next), driven by the engine's ``drive``::

    registry = PodRegistry(engine, KeySchema.sf("prod"), "game", 3,
                           address="game-3.game:7000", capacity=5000, load=sessions.count)
    registry.start()           # beats every period (±10 %), logs and retries errors
    ...
    registry.drain()           # DENY_NEW, keeps beating 5 periods, returns
    registry.shutdown()        # SHUTDOWN, a final write, the loop stopped

Each instance is one *incarnation* (a random id): while its lease (*expire*) runs,
another process claiming the same pod is refused (`StaleIncarnationError`, logged
and retried by the loop) unless this one shut down. A pod restarted after a crash
therefore takes over once the old lease has run out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from redlua._checks import to_millis
from redlua._core import Call, Flow, Sleep
from redlua.aio import AsyncEngine
from redlua.engine import Engine
from redlua.stateful.keys import KeySchema, check_name, check_pod
from redlua.stateful.links import LinkOps
from redlua.stateful.registry import PodView, Routing, heartbeat, pods

_log = logging.getLogger("redlua.stateful")

JITTER = 0.1  # each pause is the period times a random factor in [0.9, 1.1]
RETRY_FRACTION = 0.2  # after a failed heartbeat the loop tries again 5 times sooner

LoadSource = int | Callable[[], int]


def jittered(seconds: float) -> float:
    """Return *seconds* moved at random by up to ±10 %, so pods do not beat in step."""
    return seconds * random.uniform(1 - JITTER, 1 + JITTER)  # spreading, not security


def _load_source(load: object) -> LoadSource:
    if callable(load):
        return load
    if isinstance(load, bool) or not isinstance(load, int):
        raise TypeError(f"load must be an int >= 0 or a callable, not {type(load).__name__}")
    if load < 0:
        raise ValueError(f"load must be >= 0, got {load}")
    return load


def _wait_periods(wait_periods: object) -> int:
    if isinstance(wait_periods, bool) or not isinstance(wait_periods, int):
        raise TypeError(f"wait_periods must be an int, not {type(wait_periods).__name__}")
    if wait_periods < 0:
        raise ValueError(f"wait_periods must be >= 0, got {wait_periods}")
    return wait_periods


class RegistryCore:
    """What both registries share: settings, calls and flows, and no I/O."""

    def __init__(
        self,
        schema: KeySchema,
        service: str,
        pod: int,
        *,
        address: str | None,
        capacity: int | None,
        period: float,
        expire: float,
        load: LoadSource,
    ) -> None:
        if not isinstance(schema, KeySchema):
            raise TypeError(f"schema must be a KeySchema, not {type(schema).__name__}")
        self.schema = schema
        self.service = check_name("service", service, reserved="#")
        self.pod = check_pod(pod)
        self.address = address
        self.capacity = capacity
        self.period = to_millis("period", period) / 1000
        self.expire = to_millis("expire", expire) / 1000
        if self.expire <= self.period:
            raise ValueError(f"expire ({expire!r} s) must be longer than period ({period!r} s)")
        self._load = _load_source(load)
        self.incarnation = secrets.token_hex(8)
        self._routing = Routing.READY
        self.heartbeat_call(0)  # checks address and capacity before any I/O

    @property
    def routing(self) -> Routing:
        """The routing state the next heartbeat writes."""
        return self._routing

    def current_load(self) -> int:
        """Return the load to report: the fixed figure, or what the callable says now."""
        return self._load() if callable(self._load) else self._load

    def heartbeat_call(self, load: int | None = None) -> Call[int]:
        """Build this pod's heartbeat with *load*, else the current load."""
        return heartbeat(
            self.schema,
            self.service,
            self.pod,
            self.current_load() if load is None else load,
            routing=self._routing,
            capacity=self.capacity,
            address=self.address,
            incarnation=self.incarnation,
            lease=self.expire,
        )

    def view_call(self) -> Call[PodView]:
        """Build a view of this pod's service with this registry's expiry."""
        return pods(self.schema, self.service, expire=self.expire)

    def tick(self) -> Flow[float]:
        """Beat once; return the pause before the next beat (sooner after a failure)."""
        try:
            yield self.heartbeat_call()
        except Exception as exc:  # noqa: BLE001 - logged and retried: the loop lives on
            delay = jittered(self.period * RETRY_FRACTION)
            _log.warning(
                "heartbeat of %s pod %d failed, retrying in %.2f s: %s",
                self.service,
                self.pod,
                delay,
                exc,
            )
            return delay
        return jittered(self.period)

    def drain_flow(
        self,
        wait_periods: int,
        period: float | None,
        release: Iterable[str | int] = (),
        grace: int | None = None,
    ) -> Flow[int]:
        """Check the arguments, then return the flow of a drain (see `PodRegistry.drain`)."""
        pause = self.period if period is None else to_millis("period", period) / 1000
        if isinstance(release, (str, bytes)):
            raise TypeError("release must be an iterable of UIDs, not a single string")
        ops = LinkOps(self.schema)
        calls = [ops.release(uid, self.service, self.pod, grace) for uid in release]
        return self._drain(_wait_periods(wait_periods), pause, calls)

    def _drain(self, wait_periods: int, pause: float, releases: list[Call[Any]]) -> Flow[int]:
        self._routing = Routing.DENY_NEW
        yield self.heartbeat_call()  # the first write must land: its error is the caller's
        for _ in range(wait_periods):
            yield Sleep(pause)
            yield from self.tick()
        released = 0
        for call in releases:  # hand the pod's UIDs back: routers place them elsewhere
            done, _version = yield call
            released += bool(done)
        return released


class PodRegistry(RegistryCore):
    """Register one pod of a stateful service and keep it alive from a daemon thread.

    *load* is the figure to report, or a callable returning it at each heartbeat.
    *period* and *expire* are seconds: the pod beats every *period* (±10 %) and
    counts as dead once its last heartbeat is *expire* old (homo's defaults: 30 s
    and 60 s). Use it as a context manager to start it and shut it down.
    """

    def __init__(
        self,
        engine: Engine,
        schema: KeySchema,
        service: str,
        pod: int,
        *,
        address: str | None = None,
        capacity: int | None = None,
        period: float = 30.0,
        expire: float = 60.0,
        load: LoadSource = 0,
    ) -> None:
        if not isinstance(engine, Engine):
            raise TypeError("engine must be an Engine (AsyncPodRegistry takes an AsyncEngine)")
        super().__init__(
            schema,
            service,
            pod,
            address=address,
            capacity=capacity,
            period=period,
            expire=expire,
            load=load,
        )
        self.engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the background loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def heartbeat(self, load: int | None = None) -> int:
        """Beat now with *load* (else the current load); return the server time written, ms."""
        return self.engine.run(self.heartbeat_call(load))

    def view(self) -> PodView:
        """Return a view of this pod's service."""
        return self.engine.run(self.view_call())

    def start(self) -> None:
        """Start beating in a daemon thread, the first beat at once (a no-op if running)."""
        if self.running:
            return
        self._stop = threading.Event()
        name = f"redlua-heartbeat-{self.service}-{self.pod}"
        self._thread = threading.Thread(target=self._loop, args=(self._stop,), name=name)
        self._thread.daemon = True
        self._thread.start()

    def _loop(self, stop: threading.Event) -> None:
        delay = 0.0
        while not stop.wait(delay):
            delay = self.engine.drive(self.tick())

    def stop(self) -> None:
        """Stop the loop and wait for a heartbeat in flight; nothing is written."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join()

    def drain(
        self,
        wait_periods: int = 5,
        period: float | None = None,
        *,
        release: Iterable[str | int] = (),
        grace: int | None = None,
    ) -> int:
        """Refuse new UIDs (DENY_NEW), keep beating *wait_periods* periods, hand UIDs back.

        Existing links keep routing here while the drain waits; then the links of
        the UIDs in *release* that this pod still holds are released (kept *grace*
        seconds as temporary links), so routers move them to available pods. Returns
        how many were released. The first heartbeat's error is raised; later ones
        are logged. A running loop keeps running (with DENY_NEW) after the drain.
        """
        return self.engine.drive(self.drain_flow(wait_periods, period, release, grace))

    def shutdown(self) -> int:
        """Stop the loop and write SHUTDOWN; return the server time written, ms."""
        self.stop()
        self._routing = Routing.SHUTDOWN
        return self.heartbeat()

    def __enter__(self) -> PodRegistry:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


async def _stopped(stop: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


class AsyncPodRegistry(RegistryCore):
    """`PodRegistry` for asyncio: the same methods awaited, the loop an asyncio task."""

    def __init__(
        self,
        engine: AsyncEngine,
        schema: KeySchema,
        service: str,
        pod: int,
        *,
        address: str | None = None,
        capacity: int | None = None,
        period: float = 30.0,
        expire: float = 60.0,
        load: LoadSource = 0,
    ) -> None:
        if not isinstance(engine, AsyncEngine):
            raise TypeError("engine must be an AsyncEngine (PodRegistry takes an Engine)")
        super().__init__(
            schema,
            service,
            pod,
            address=address,
            capacity=capacity,
            period=period,
            expire=expire,
            load=load,
        )
        self.engine = engine
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the background task runs."""
        return self._task is not None and not self._task.done()

    async def heartbeat(self, load: int | None = None) -> int:
        """Beat now with *load* (else the current load); return the server time written, ms."""
        return await self.engine.run(self.heartbeat_call(load))

    async def view(self) -> PodView:
        """Return a view of this pod's service."""
        return await self.engine.run(self.view_call())

    async def start(self) -> None:
        """Start beating in an asyncio task, the first beat at once (a no-op if running)."""
        if self.running:
            return
        self._stop = asyncio.Event()
        name = f"redlua-heartbeat-{self.service}-{self.pod}"
        self._task = asyncio.get_running_loop().create_task(self._loop(self._stop), name=name)

    async def _loop(self, stop: asyncio.Event) -> None:
        delay = 0.0
        while not await _stopped(stop, delay):
            delay = await self.engine.drive(self.tick())

    async def stop(self) -> None:
        """Stop the loop and wait for a heartbeat in flight; nothing is written."""
        task, self._task = self._task, None
        self._stop.set()
        if task is not None:
            await task

    async def drain(
        self,
        wait_periods: int = 5,
        period: float | None = None,
        *,
        release: Iterable[str | int] = (),
        grace: int | None = None,
    ) -> int:
        """Refuse new UIDs (DENY_NEW), keep beating *wait_periods* periods, hand UIDs back.

        Existing links keep routing here while the drain waits; then the links of
        the UIDs in *release* that this pod still holds are released (kept *grace*
        seconds as temporary links), so routers move them to available pods. Returns
        how many were released. The first heartbeat's error is raised; later ones
        are logged. A running loop keeps running (with DENY_NEW) after the drain.
        """
        return await self.engine.drive(self.drain_flow(wait_periods, period, release, grace))

    async def shutdown(self) -> int:
        """Stop the loop and write SHUTDOWN; return the server time written, ms."""
        await self.stop()
        self._routing = Routing.SHUTDOWN
        return await self.heartbeat()

    async def __aenter__(self) -> AsyncPodRegistry:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()
