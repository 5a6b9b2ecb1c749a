"""Helpers for the transaction tests: one test body for `Transactions` and `AsyncTransactions`.

A WATCH transaction's function reads with ``await t.get(key)`` on the async handle and
``t.get(key)`` on the sync one. Test functions are written once, in the async style;
`SyncTransactions` runs them on the sync `Transactions` by handing them a handle whose
immediate replies are awaitables that are already done, so the coroutine finishes in a
single step without an event loop. Queued commands (after ``multi()``) are not awaited
in either style.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any

from redlua.txn import AsyncTransactions, AsyncVersioned, Transactions, Versioned, Watched
from tests.conftest import Blocking


class Done:
    """An awaitable that is already done: ``await Done(v)`` is ``v`` without suspending."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # pragma: no cover - makes this a generator


class AwaitableHandle:
    """A sync `Watched` whose immediate replies can be awaited (queued ones return the handle)."""

    def __init__(self, inner: Watched) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return self if result is self.inner else Done(result)

        return call


def finish(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends to its end and return its value."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the transaction function awaited something that suspends")


class SyncTransactions:
    """`Transactions` taking async-style functions (see the module docstring)."""

    def __init__(self, inner: Transactions) -> None:
        self.inner = inner

    def run(self, fn: Callable[[Any], Any], *keys: Any, **kwargs: Any) -> Any:
        return self.inner.run(lambda t: finish(fn(AwaitableHandle(t))), *keys, **kwargs)

    def multi(self, fn: Callable[[Any], Any], *keys: Any) -> Any:
        return self.inner.multi(lambda t: finish(fn(AwaitableHandle(t))), *keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_tx(engine: Any, **kwargs: Any) -> Any:
    """Transactions for the ``engine`` fixture: sync or async behind one blocking face."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncTransactions(engine.inner, **kwargs), engine.loop)
    return SyncTransactions(Transactions(engine, **kwargs))


def make_versioned(engine: Any, **kwargs: Any) -> Any:
    """`Versioned`, or `AsyncVersioned` behind the blocking face, for the ``engine`` fixture."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncVersioned(engine.inner, **kwargs), engine.loop)
    return Versioned(engine, **kwargs)
