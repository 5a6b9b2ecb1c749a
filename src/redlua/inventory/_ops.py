"""`InventoryOps`: pure builders of the inventory calls, their results and the key spelling.

An inventory *name* owns eight keys under one hash tag, so every call touches one slot
(and works on a cluster)::

    redlua:inv:{<name>}:stock         HASH product -> units available
    redlua:inv:{<name>}:reserved      HASH product -> units held by pending reservations
    redlua:inv:{<name>}:sold          HASH product -> units sold (confirmed)
    redlua:inv:{<name>}:price         HASH product -> unit price in minor units (cents)
    redlua:inv:{<name>}:details       HASH product -> JSON {"name", "description"}
    redlua:inv:{<name>}:reservations  HASH reservation id -> record (JSON)
    redlua:inv:{<name>}:deadlines     ZSET pending reservation id -> deadline (server ms)
    redlua:inv:{<name>}:settled       ZSET settled reservation id -> when it is forgotten

A product's stock + reserved + sold only changes by `restock`: reserve moves units from
stock to reserved, confirm from reserved to sold, cancel and expiry from reserved back
to stock, each exactly once. Products stay until deleted by hand; a reservation's
record stays while it is pending and for *keep* seconds after it settled, then the
reaper forgets it, so nothing grows without bound.

The builders check everything before any I/O (names, integer quantities and prices,
seconds) and convert seconds to milliseconds once, here.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, NamedTuple

from redlua._checks import check_name, corrupt, finite, text, to_millis
from redlua._core import Call
from redlua._registry import load_script
from redlua._slots import key_slot

DEFAULT_PREFIX = "redlua:inv:"
MAX_QTY = 10**12 - 1
"""The most units one reservation line or one restock may move."""
MAX_COUNT = 10**15 - 1
"""The most units (or minor units of price) a product's counts may hold."""
MAX_ITEMS = 100
"""The most products in one reservation (cart)."""
MAX_REAP = 1000
"""The most reservations one reap may expire."""
DEFAULT_KEEP = 86400.0
"""Seconds a settled reservation's record is remembered (replays, lookups)."""
DEFAULT_REAP_LIMIT = 100
"""Expired reservations each reserve (or reap) returns to stock at most."""

_RESERVATION = re.compile(r"[A-Za-z0-9_-]{1,64}")


# -- argument checks ---------------------------------------------------------------------------


def check_count(what: str, value: object, *, least: int = 0, most: int = MAX_COUNT) -> int:
    """Return *value* if it is an int from *least* to *most*, else raise naming *what*.

    bool is not an int here, and floats (even ``2.0``) are refused: stock and money
    are whole units.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not least <= value <= most:
        raise ValueError(f"{what} must be from {least} to {most}, got {value}")
    return value


def check_reservation(reservation: object) -> str:
    """Return *reservation* if it has the shape of a reservation id, else raise."""
    if not isinstance(reservation, str):
        raise TypeError(f"reservation must be a str, not {type(reservation).__name__}")
    if not _RESERVATION.fullmatch(reservation):
        raise ValueError(
            f"reservation must be 1 to 64 letters, digits, _ or -, got {reservation!r}"
        )
    return reservation


def check_items(items: object) -> tuple[tuple[str, int], ...]:
    """Return the (product, quantity) pairs of a cart mapping, checked, in its order."""
    if not isinstance(items, Mapping):
        raise TypeError(
            f"items must be a mapping of product to quantity, not {type(items).__name__}"
        )
    if not 0 < len(items) <= MAX_ITEMS:
        raise ValueError(f"items must hold 1 to {MAX_ITEMS} products, got {len(items)}")
    return tuple(
        (
            check_name("product", product),
            check_count(f"quantity of {product!r}", qty, least=1, most=MAX_QTY),
        )
        for product, qty in items.items()
    )


def check_seconds(what: str, seconds: object) -> float:
    """Return *seconds* if it is a finite number > 0, else raise naming *what*."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not (finite(what, seconds) and seconds > 0):
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {seconds!r}")
    return float(seconds)


def new_reservation() -> str:
    """Return a fresh reservation id: 32 random hex digits (never the clock)."""
    return secrets.token_hex(16)


# -- keys --------------------------------------------------------------------------------------


class InventoryKeys(NamedTuple):
    """The keys of one inventory and their common hash slot."""

    stock: str
    reserved: str
    sold: str
    price: str
    details: str
    reservations: str
    deadlines: str
    settled: str
    slot: int


def inventory_keys(name: str, prefix: str = DEFAULT_PREFIX) -> InventoryKeys:
    """Spell the keys of inventory *name* (checked) under *prefix* (checked, may be empty)."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    if prefix:
        check_name("prefix", prefix)
    base = f"{prefix}{{{check_name('name', name)}}}:"
    return InventoryKeys(
        stock=base + "stock",
        reserved=base + "reserved",
        sold=base + "sold",
        price=base + "price",
        details=base + "details",
        reservations=base + "reservations",
        deadlines=base + "deadlines",
        settled=base + "settled",
        slot=key_slot(base),
    )


# -- results -----------------------------------------------------------------------------------


class Status(str, Enum):
    """Where a reservation stands."""

    RESERVED = "reserved"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Reserved(NamedTuple):
    """What a reserve got; true when the stock is held for the customer.

    ``stock``: per product, the units left in stock after this reservation when it
    was made, the units available when it was refused (some product was short), the
    units in stock now for a replay. ``expires_at``: the deadline on the server's
    clock (seconds since the epoch), None when refused. ``replayed``: the id named a
    reservation made before (a re-sent call); nothing was reserved again, and the
    reservation may have settled since (see ``reservation_info``).
    """

    ok: bool
    reservation: str
    expires_at: float | None
    stock: dict[str, int]
    replayed: bool = False

    def __bool__(self) -> bool:
        return self.ok


class Settlement(NamedTuple):
    """How a confirm or a cancel ended.

    ``status``: confirmed, cancelled, or expired (a cancel that came after the
    deadline: the stock went back all the same). ``changed``: False when it had
    been settled so already (a repeated call); nothing moved then.
    """

    reservation: str
    status: Status
    items: dict[str, int]
    changed: bool


class Reaped(NamedTuple):
    """What one reap did: reservations expired, records forgotten, expired ones left over."""

    reaped: int
    forgotten: int
    waiting: int


@dataclass(frozen=True)
class ProductInfo:
    """One product's counts (units), price (minor units) and details."""

    product: str
    stock: int
    reserved: int
    sold: int
    price: int
    name: str = ""
    description: str = ""

    @property
    def total(self) -> int:
        """Return stock + reserved + sold: what was stocked, which only restock changes."""
        return self.stock + self.reserved + self.sold


@dataclass(frozen=True)
class ReservationInfo:
    """One reservation's record; times are the server's, in seconds since the epoch.

    ``status`` is EXPIRED once the deadline passed, even before the reaper came.
    """

    reservation: str
    customer: str
    items: dict[str, int]
    status: Status
    created_at: float
    expires_at: float
    settled_at: float | None


_STATUS: dict[str | bytes, Status] = {
    **{s.value: s for s in Status},
    **{s.value.encode(): s for s in Status},
}
_TTL_TEXT: dict[float, str] = {}  # ttl seconds -> milliseconds as text, memoised


def _ttl_text(ttl: object) -> str:
    """Return *ttl* seconds as milliseconds text; plain numbers are checked once per value."""
    if type(ttl) is not float and type(ttl) is not int:  # bool and the rest: the full check
        return str(to_millis("ttl", ttl))
    found = _TTL_TEXT.get(ttl)
    if found is None:
        found = str(to_millis("ttl", ttl))
        if len(_TTL_TEXT) < 64:
            _TTL_TEXT[ttl] = found
    return found


def _pairs(flat: Any) -> dict[str, int]:
    return {text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _reserved(reservation: str, reply: Any) -> Reserved:
    flag = reply[0]
    expires = reply[1] / 1000 if flag else None
    return Reserved(flag != 0, reservation, expires, _pairs(reply[2]), replayed=flag == 2)


def _settled(reservation: str, reply: Any) -> Settlement:
    return Settlement(reservation, _STATUS[reply[1]], _pairs(reply[2]), reply[0] == 1)


def _reaped(reply: Any) -> Reaped:
    return Reaped(int(reply[0]), int(reply[1]), int(reply[2]))


def _added(reply: Any) -> bool:
    return int(reply) == 1


@corrupt("a product's counts, price or details")
def _product(product: str, reply: Any) -> ProductInfo:
    details = json.loads(text(reply[4]) or "{}")
    return ProductInfo(
        product,
        int(reply[0]),
        int(reply[1]),
        int(reply[2]),
        int(reply[3]),
        str(details.get("name", "")),
        str(details.get("description", "")),
    )


@corrupt("a reservation record")
def _lookup(reservation: str, reply: Any) -> ReservationInfo | None:
    now, raw = int(reply[0]), reply[1]
    if raw is None:
        return None
    record = json.loads(text(raw))
    deadline = int(record["deadline"])
    status = Status(record["status"])
    if status is Status.RESERVED and deadline <= now:
        status = Status.EXPIRED
    settled = record.get("settled")
    return ReservationInfo(
        reservation,
        str(record["customer"]),
        _pairs(record["items"]),
        status,
        int(record["created"]) / 1000,
        deadline / 1000,
        None if settled is None else int(settled) / 1000,
    )


def pause_after(reaped: Reaped, interval: float) -> float:
    """Return how long a background reaper waits after *reaped*: none while expired ones wait."""
    return 0.0 if reaped.waiting > 0 else interval


# -- builders ----------------------------------------------------------------------------------


class InventoryOps:
    """Build the calls of inventory *name*; run them with any engine.

    *keep* is how many seconds a settled reservation's record is remembered (a
    repeated confirm or cancel, or a replayed reserve, is answered from it); after
    that, confirm and cancel raise `ReservationNotFoundError`. *reap_limit* caps the
    expired reservations each reserve (and each reap) returns to stock, so every call
    does bounded work.

    ::

        ops = InventoryOps("shop")
        engine.run(ops.add_product("sku-1", stock=50, price=1999))
        held = engine.run(ops.reserve("sku-1", 2, "alice", ttl=300))
        engine.run(ops.confirm(held.reservation))
    """

    def __init__(
        self,
        name: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        keep: float = DEFAULT_KEEP,
        reap_limit: int = DEFAULT_REAP_LIMIT,
    ) -> None:
        self.keys = inventory_keys(name, prefix)
        self.name = name
        self.keep = check_seconds("keep", keep)
        self.reap_limit = check_count("reap_limit", reap_limit, least=1, most=MAX_REAP)
        self._keep = str(to_millis("keep", keep))
        self._limit = str(self.reap_limit)
        k = self.keys
        self._product_keys = (k.stock, k.reserved, k.sold, k.price, k.details)
        self._moving_keys = (k.stock, k.reserved, k.reservations, k.deadlines, k.settled)
        self._selling_keys = (k.reserved, k.sold, k.reservations, k.deadlines, k.settled)
        self._reserve = load_script("inventory_reserve")
        self._confirm = load_script("inventory_confirm")
        self._cancel = load_script("inventory_cancel")
        self._reap = load_script("inventory_reap")

    def __repr__(self) -> str:
        return f"InventoryOps({self.name!r}, keep={self.keep:g}, reap_limit={self.reap_limit})"

    # -- products --------------------------------------------------------------------------

    def add_product(
        self, product: str, stock: int, price: int, *, name: str = "", description: str = ""
    ) -> Call[bool]:
        """Add *product* with *stock* units at *price* minor units; False if it exists already."""
        check_name("product", product)
        check_count("stock", stock)
        check_count("price", price)
        for what, value in (("name", name), ("description", description)):
            if not isinstance(value, str):
                raise TypeError(f"{what} must be a str, not {type(value).__name__}")
        details = json.dumps({"name": name, "description": description}, ensure_ascii=False)
        if len(details.encode()) > 65536:
            raise ValueError("name and description must take at most about 64 KiB together")
        args = (product, str(stock), str(price), details)
        script = load_script("inventory_add")
        return Call.trusted(script, self._product_keys, args, _added, self.keys.slot)

    def restock(self, product: str, qty: int) -> Call[int]:
        """Add *qty* units to *product*'s stock; the call returns the new stock."""
        check_name("product", product)
        args = (product, str(check_count("qty", qty, least=1, most=MAX_QTY)))
        script = load_script("inventory_restock")
        return Call.trusted(script, self._product_keys[:3], args, int, self.keys.slot)

    def product_info(self, product: str) -> Call[ProductInfo]:
        """Read *product*: stock, reserved, sold, price, name and description."""
        check_name("product", product)
        decode = partial(_product, product)
        script = load_script("inventory_info")
        return Call.trusted(script, self._product_keys, (product,), decode, self.keys.slot)

    # -- reservations ----------------------------------------------------------------------

    def reserve(
        self,
        product: str,
        qty: int,
        customer: str,
        ttl: float,
        *,
        reservation: str | None = None,
    ) -> Call[Reserved]:
        """Hold *qty* units of *product* for *customer* for *ttl* seconds, or nothing.

        *reservation* is the id to use (default: a fresh random one); sending the same
        call again is a replay that reserves nothing more.
        """
        check_name("product", product)
        check_count("qty", qty, least=1, most=MAX_QTY)
        return self._reserve_call(((product, qty),), customer, ttl, reservation)

    def reserve_many(
        self,
        items: Mapping[str, int],
        customer: str,
        ttl: float,
        *,
        reservation: str | None = None,
    ) -> Call[Reserved]:
        """Hold every product of *items* (product -> quantity) for *customer*, or none."""
        return self._reserve_call(check_items(items), customer, ttl, reservation)

    def _reserve_call(
        self,
        items: tuple[tuple[str, int], ...],
        customer: str,
        ttl: float,
        reservation: str | None,
    ) -> Call[Reserved]:
        check_name("customer", customer)
        rid = new_reservation() if reservation is None else check_reservation(reservation)
        args: tuple[str, ...] = (rid, customer, _ttl_text(ttl), self._limit, self._keep)
        for product, qty in items:
            args += (product, str(qty))
        decode = partial(_reserved, rid)
        return Call.trusted(self._reserve, self._moving_keys, args, decode, self.keys.slot)

    def confirm(self, reservation: str) -> Call[Settlement]:
        """Sell a pending reservation; `ReservationClosedError` if cancelled or expired."""
        args = (check_reservation(reservation), self._keep)
        decode = partial(_settled, reservation)
        return Call.trusted(self._confirm, self._selling_keys, args, decode, self.keys.slot)

    def cancel(self, reservation: str) -> Call[Settlement]:
        """Return a pending reservation's stock; `ReservationClosedError` if confirmed."""
        args = (check_reservation(reservation), self._keep)
        decode = partial(_settled, reservation)
        return Call.trusted(self._cancel, self._moving_keys, args, decode, self.keys.slot)

    def reap(self, limit: int | None = None) -> Call[Reaped]:
        """Return the stock of up to *limit* expired reservations (default: reap_limit)."""
        most = (
            self._limit
            if limit is None
            else str(check_count("limit", limit, least=1, most=MAX_REAP))
        )
        args = (most, self._keep)
        return Call.trusted(self._reap, self._moving_keys, args, _reaped, self.keys.slot)

    def reservation_info(self, reservation: str) -> Call[ReservationInfo | None]:
        """Read a reservation's record; None when there is none (or it was forgotten)."""
        keys = (self.keys.reservations,)
        decode = partial(_lookup, check_reservation(reservation))
        script = load_script("inventory_lookup")
        return Call.trusted(script, keys, (reservation,), decode, self.keys.slot)
