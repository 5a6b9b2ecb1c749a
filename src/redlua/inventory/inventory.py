"""`Inventory` and `AsyncInventory`: products, reservations that expire, and a reaper.

Every operation is one script on the inventory's hash slot (see `InventoryOps` for the
keys), so it is atomic and costs one round trip:

* ``reserve`` / ``reserve_many`` never oversell: a cart is held whole or not at all;
* ``confirm`` and ``cancel`` are exclusive (of a racing pair exactly one wins, the other
  raises `ReservationClosedError`) and idempotent (repeating the winner changes
  nothing);
* expiry is real: a reservation past its deadline gives its stock back exactly once,
  reaped by the next ``reserve`` (at most *reap_limit* per call), by ``reap()``, or by
  the optional background reaper (a thread for `Inventory`, a task for
  `AsyncInventory`).

The two classes differ only by ``async``/``await`` and by how the background reaper
runs; every decision is in `InventoryOps` and `pause_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from redlua.inventory._ops import (
    DEFAULT_KEEP,
    DEFAULT_PREFIX,
    DEFAULT_REAP_LIMIT,
    InventoryOps,
    ProductInfo,
    Reaped,
    ReservationInfo,
    Reserved,
    Settlement,
    check_seconds,
    pause_after,
)

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine

_log = logging.getLogger("redlua.inventory")


class Inventory:
    """Products and expiring reservations of inventory *name*, on a synchronous `Engine`::

    inv = Inventory(engine, "shop")
    inv.add_product("sku-1", stock=50, price=1999, name="Mug")
    held = inv.reserve("sku-1", 2, customer="alice", ttl=300)
    if held:
        inv.confirm(held.reservation)        # or inv.cancel(...); the first one wins
    inv.product_info("sku-1")                # stock 48, reserved 0, sold 2, price 1999
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        keep: float = DEFAULT_KEEP,
        reap_limit: int = DEFAULT_REAP_LIMIT,
    ) -> None:
        self.engine = engine
        self.ops = InventoryOps(name, prefix=prefix, keep=keep, reap_limit=reap_limit)
        self._stop: threading.Event | None = None
        self._reaper: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ops.name!r})"

    def add_product(
        self, product: str, stock: int, price: int, *, name: str = "", description: str = ""
    ) -> bool:
        """Add *product* with *stock* units at *price* minor units; False if it existed."""
        return self.engine.run(
            self.ops.add_product(product, stock, price, name=name, description=description)
        )

    def restock(self, product: str, qty: int) -> int:
        """Add *qty* units to *product*'s stock and return the new stock."""
        return self.engine.run(self.ops.restock(product, qty))

    def product_info(self, product: str) -> ProductInfo:
        """Return *product*'s stock, reserved and sold counts, price and details."""
        return self.engine.run(self.ops.product_info(product))

    def stock(self, product: str) -> int:
        """Return the units of *product* available to reserve."""
        return self.engine.run(self.ops.product_info(product)).stock

    def reserve(
        self, product: str, qty: int, customer: str, ttl: float, *, reservation: str | None = None
    ) -> Reserved:
        """Hold *qty* units of *product* for *customer* for *ttl* seconds, or nothing."""
        return self.engine.run(
            self.ops.reserve(product, qty, customer, ttl, reservation=reservation)
        )

    def reserve_many(
        self,
        items: Mapping[str, int],
        customer: str,
        ttl: float,
        *,
        reservation: str | None = None,
    ) -> Reserved:
        """Hold every product of *items* (product -> quantity) for *customer*, or none."""
        return self.engine.run(self.ops.reserve_many(items, customer, ttl, reservation=reservation))

    def confirm(self, reservation: str) -> Settlement:
        """Sell a pending reservation; `ReservationClosedError` if cancelled or expired."""
        return self.engine.run(self.ops.confirm(reservation))

    def cancel(self, reservation: str) -> Settlement:
        """Return a pending reservation's stock; `ReservationClosedError` if confirmed."""
        return self.engine.run(self.ops.cancel(reservation))

    def reservation_info(self, reservation: str) -> ReservationInfo | None:
        """Return a reservation's record, or None when there is none (or it was forgotten)."""
        return self.engine.run(self.ops.reservation_info(reservation))

    def reap(self, limit: int | None = None) -> Reaped:
        """Return the stock of up to *limit* expired reservations now."""
        return self.engine.run(self.ops.reap(limit))

    # -- the background reaper ---------------------------------------------------------------

    @property
    def reaping(self) -> bool:
        """Return whether the background reaper runs."""
        return self._reaper is not None and self._reaper.is_alive()

    def start_reaper(self, interval: float = 1.0) -> None:
        """Reap every *interval* seconds in a daemon thread (at once while expired ones wait).

        Expiry does not depend on it (every reserve reaps first); it returns the stock
        of an idle inventory's expired reservations without waiting for a reserve.
        """
        pause = check_seconds("interval", interval)
        if self.reaping:
            raise RuntimeError(f"{self!r} already has a background reaper")
        self._stop = threading.Event()
        self._reaper = threading.Thread(
            target=self._reap_loop,
            args=(pause, self._stop),
            name=f"redlua-inventory-reaper:{self.ops.name}",
            daemon=True,
        )
        self._reaper.start()

    def stop_reaper(self) -> None:
        """Stop the background reaper and wait for its thread (a no-op when none runs)."""
        stop, reaper = self._stop, self._reaper
        self._stop = self._reaper = None
        if stop is not None and reaper is not None:
            stop.set()
            reaper.join()

    def _reap_loop(self, interval: float, stop: threading.Event) -> None:
        pause = 0.0
        while not stop.wait(pause):
            try:
                reaped = self.engine.run(self.ops.reap())
            except Exception:  # noqa: BLE001 - a server away for a while: log, try again later
                _log.exception("inventory %r: background reap failed", self.ops.name)
                pause = interval
                continue
            pause = pause_after(reaped, interval)


class AsyncInventory:
    """`Inventory` on an `AsyncEngine`: the same methods, awaited::

    inv = AsyncInventory(engine, "shop")
    held = await inv.reserve("sku-1", 2, customer="alice", ttl=300)
    await inv.confirm(held.reservation)
    """

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        keep: float = DEFAULT_KEEP,
        reap_limit: int = DEFAULT_REAP_LIMIT,
    ) -> None:
        self.engine = engine
        self.ops = InventoryOps(name, prefix=prefix, keep=keep, reap_limit=reap_limit)
        self._reaper: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ops.name!r})"

    async def add_product(
        self, product: str, stock: int, price: int, *, name: str = "", description: str = ""
    ) -> bool:
        """Add *product* with *stock* units at *price* minor units; False if it existed."""
        return await self.engine.run(
            self.ops.add_product(product, stock, price, name=name, description=description)
        )

    async def restock(self, product: str, qty: int) -> int:
        """Add *qty* units to *product*'s stock and return the new stock."""
        return await self.engine.run(self.ops.restock(product, qty))

    async def product_info(self, product: str) -> ProductInfo:
        """Return *product*'s stock, reserved and sold counts, price and details."""
        return await self.engine.run(self.ops.product_info(product))

    async def stock(self, product: str) -> int:
        """Return the units of *product* available to reserve."""
        return (await self.engine.run(self.ops.product_info(product))).stock

    async def reserve(
        self, product: str, qty: int, customer: str, ttl: float, *, reservation: str | None = None
    ) -> Reserved:
        """Hold *qty* units of *product* for *customer* for *ttl* seconds, or nothing."""
        return await self.engine.run(
            self.ops.reserve(product, qty, customer, ttl, reservation=reservation)
        )

    async def reserve_many(
        self,
        items: Mapping[str, int],
        customer: str,
        ttl: float,
        *,
        reservation: str | None = None,
    ) -> Reserved:
        """Hold every product of *items* (product -> quantity) for *customer*, or none."""
        return await self.engine.run(
            self.ops.reserve_many(items, customer, ttl, reservation=reservation)
        )

    async def confirm(self, reservation: str) -> Settlement:
        """Sell a pending reservation; `ReservationClosedError` if cancelled or expired."""
        return await self.engine.run(self.ops.confirm(reservation))

    async def cancel(self, reservation: str) -> Settlement:
        """Return a pending reservation's stock; `ReservationClosedError` if confirmed."""
        return await self.engine.run(self.ops.cancel(reservation))

    async def reservation_info(self, reservation: str) -> ReservationInfo | None:
        """Return a reservation's record, or None when there is none (or it was forgotten)."""
        return await self.engine.run(self.ops.reservation_info(reservation))

    async def reap(self, limit: int | None = None) -> Reaped:
        """Return the stock of up to *limit* expired reservations now."""
        return await self.engine.run(self.ops.reap(limit))

    # -- the background reaper ---------------------------------------------------------------

    @property
    def reaping(self) -> bool:
        """Return whether the background reaper runs."""
        return self._reaper is not None and not self._reaper.done()

    async def start_reaper(self, interval: float = 1.0) -> None:
        """Reap every *interval* seconds in a task of the running loop (see `Inventory`)."""
        pause = check_seconds("interval", interval)
        if self.reaping:
            raise RuntimeError(f"{self!r} already has a background reaper")
        self._stop = asyncio.Event()
        self._reaper = asyncio.get_running_loop().create_task(
            self._reap_loop(pause, self._stop), name=f"redlua-inventory-reaper:{self.ops.name}"
        )

    async def stop_reaper(self) -> None:
        """Stop the background reaper and wait for its task (a no-op when none runs).

        A reap in flight is cancelled. The loop also watches a stop event, because on
        Python 3.11 a cancellation that lands as a reply arrives can be swallowed inside
        redis-py (by ``asyncio.wait_for``, CPython gh-86296) and the task would run on.
        """
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            self._stop.set()
            reaper.cancel()
            await asyncio.wait([reaper])  # a cancelled caller still gets its CancelledError

    async def _reap_loop(self, interval: float, stop: asyncio.Event) -> None:
        pause = 0.0
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), pause) if pause else await asyncio.sleep(0)
            if stop.is_set():
                return
            try:
                reaped = await self.engine.run(self.ops.reap())
            except Exception:  # noqa: BLE001 - a server away for a while: log, try again later
                _log.exception("inventory %r: background reap failed", self.ops.name)
                pause = interval
                continue
            pause = pause_after(reaped, interval)
