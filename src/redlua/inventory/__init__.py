"""Inventory: products, reservations that expire, confirm or cancel exactly once.

* `Inventory` / `AsyncInventory`: add and restock products (stock and a price in minor
  units), ``reserve`` one product or ``reserve_many`` (a cart, all or nothing) for a
  customer with a ttl, ``confirm`` or ``cancel`` (exclusive, idempotent), ``reap``
  expired reservations (also done by every reserve, and by an optional background
  reaper), ``product_info`` (stock, reserved, sold) and ``reservation_info``.
* `InventoryOps`: the same scripts as pure call builders, run on any engine.

The seed's ``InventoryManager`` (add_product, get_stock, reserve_stock,
confirm_reservation, cancel_reservation, get_product_info) without its defects:
expired reservations return their stock, a confirm and a cancel cannot both win, ids
are random, and every step is one script. Keys of inventory ``<name>``:
``redlua:inv:{<name>}:...``, one hash slot.
"""

from __future__ import annotations

from redlua.errors import (
    ProductNotFoundError,
    ReservationClosedError,
    ReservationExistsError,
    ReservationNotFoundError,
)
from redlua.inventory._ops import (
    InventoryKeys,
    InventoryOps,
    ProductInfo,
    Reaped,
    ReservationInfo,
    Reserved,
    Settlement,
    Status,
    inventory_keys,
)
from redlua.inventory.inventory import AsyncInventory, Inventory

__all__ = [
    "AsyncInventory",
    "Inventory",
    "inventory_keys",
    "InventoryKeys",
    "InventoryOps",
    "ProductInfo",
    "ProductNotFoundError",
    "Reaped",
    "ReservationClosedError",
    "ReservationExistsError",
    "ReservationInfo",
    "ReservationNotFoundError",
    "Reserved",
    "Settlement",
    "Status",
]
