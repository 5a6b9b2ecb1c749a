"""Helpers for the lock tests: owners (a thread, an asyncio task) and one blocking face.

The ``engine`` fixture hands a test either an `Engine` or an `AsyncEngine` behind a
blocking face (``conftest.Blocking``) that runs each coroutine as a *new* task, which
would make every call of an `AsyncLock` a different owner. `TaskOwner` runs coroutines
one after another inside one long-lived task instead, and `ThreadOwner` runs functions
on one thread of its own; `Face` puts a lock behind such an owner, so one test body
checks `Lock` and `AsyncLock` alike, and two owners of one lock object can be told
apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from redlua.locks import AsyncLock, Lock
from redlua.locks.renewer import async_renewer_for


class TaskOwner:
    """Run coroutines inside one asyncio task of *loop*, so they share one owner."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run *coro* in the owner task and return its result (or raise its error)."""
        if self._task is None:
            self._task = self.loop.create_task(self._serve())
        done = self.loop.create_future()
        self._inbox.put_nowait((coro, done))
        return self.loop.run_until_complete(done)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call plain *fn* from inside the owner task."""

        async def inside() -> Any:
            return fn(*args, **kwargs)

        return self.run(inside())

    async def _serve(self) -> None:
        while True:
            coro, done = await self._inbox.get()
            if coro is None:
                return
            try:
                result = await coro
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.set_exception(exc)
            else:
                done.set_result(result)

    def close(self) -> None:
        """End the owner task."""
        if self._task is not None:
            self._inbox.put_nowait((None, None))
            self.loop.run_until_complete(self._task)
            self._task = None


class ThreadOwner:
    """Run functions on one thread of its own, so they share one owner."""

    def __init__(self) -> None:
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call *fn* on the owner thread and return its result (or raise its error)."""
        box: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self._inbox.put((fn, args, kwargs, box))
        ok, value = box.get(timeout=60)
        if not ok:
            raise value
        return value

    def _serve(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            fn, args, kwargs, box = item
            try:
                box.put((True, fn(*args, **kwargs)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box.put((False, exc))

    def close(self) -> None:
        """End the owner thread."""
        self._inbox.put(None)
        self._thread.join(timeout=10)


class Face:
    """A lock seen through one owner: every attribute read and call happens there."""

    def __init__(self, lock: Lock | AsyncLock, owner: TaskOwner | ThreadOwner | None) -> None:
        self.lock = lock
        self.owner = owner

    def _inside(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.owner is None:
            return fn(*args, **kwargs)
        return self.owner.call(fn, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = self._inside(getattr, self.lock, name)
        if inspect.iscoroutinefunction(attr):
            assert isinstance(self.owner, TaskOwner)
            owner = self.owner
            return lambda *a, **k: owner.run(attr(*a, **k))
        if callable(attr) and inspect.ismethod(attr):
            return lambda *a, **k: self._inside(attr, *a, **k)
        return attr

    def __enter__(self) -> Face:
        if isinstance(self.lock, AsyncLock):
            assert isinstance(self.owner, TaskOwner)
            self.owner.run(self.lock.__aenter__())
        else:
            self._inside(self.lock.__enter__)
        return self

    def __exit__(self, *exc: Any) -> None:
        if isinstance(self.lock, AsyncLock):
            assert isinstance(self.owner, TaskOwner)
            self.owner.run(self.lock.__aexit__(*exc))
        else:
            self._inside(self.lock.__exit__, *exc)


class Locks:
    """Make locks for a test on either engine, each behind an owner of its kind.

    ``make(name, **options)`` returns a `Face` owned by the default owner (the test's
    thread, or one task); ``other()`` returns a new owner; ``sleep`` lets time pass
    with the event loop running (so an async renewer can work).
    """

    def __init__(self, engine: Any) -> None:
        self.inner = getattr(engine, "inner", None)
        self.is_async = self.inner is not None
        self.engine = self.inner if self.is_async else engine
        self.loop: asyncio.AbstractEventLoop | None = getattr(engine, "loop", None)
        self._owners: list[TaskOwner | ThreadOwner] = []
        self.default = self.new_owner() if self.is_async else None

    def new_owner(self) -> TaskOwner | ThreadOwner:
        """Return a new owner: a task on the loop, or a thread."""
        owner: TaskOwner | ThreadOwner
        owner = TaskOwner(self.loop) if self.loop is not None else ThreadOwner()
        self._owners.append(owner)
        return owner

    def lock(self, name: str, **options: Any) -> Lock | AsyncLock:
        """Build the raw lock (no face) for this engine."""
        if self.is_async:
            return AsyncLock(self.engine, name, **options)
        return Lock(self.engine, name, **options)

    def make(self, name: str, **options: Any) -> Any:
        """Build a lock behind the default owner."""
        return Face(self.lock(name, **options), self.default)

    def as_owner(self, face: Face, owner: TaskOwner | ThreadOwner) -> Any:
        """The same lock object, seen by *owner*."""
        return Face(face.lock, owner)

    def sleep(self, seconds: float) -> None:
        """Let *seconds* pass; the event loop (and its renewer task) keeps running."""
        if self.loop is not None:
            self.loop.run_until_complete(asyncio.sleep(seconds))
        else:
            time.sleep(seconds)

    def close(self) -> None:
        """End every owner made, and an async renewer's task before its loop closes."""
        for owner in self._owners:
            owner.close()
        task = async_renewer_for(self.engine)._task if self.is_async else None
        if task is not None and self.loop is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(task)
