"""The ledger's results and how script replies decode into them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, NamedTuple, TypeVar

from redlua._checks import corrupt, text
from redlua.ledger._money import to_decimal
from redlua.ledger._money import to_minor as _to_minor

T = TypeVar("T")

STATES = {"P": "pending", "C": "captured", "V": "voided", "E": "expired"}


class AccountRef(NamedTuple):
    """An account of a named ledger, for calls that must not mix ledgers."""

    ledger: str
    account: str


Account = str | AccountRef
"""An account id of the ledger at hand, or an `AccountRef` (checked to be of that ledger)."""


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountInfo:
    """One account: its currency and scale, status, and sums in minor units.

    ``available`` is what a transfer or hold may take now: balance - held + overdraft.
    The ``*_decimal`` properties give the same sums in major units.
    """

    account: str
    currency: str
    scale: int
    status: str  # "active", "frozen" or "closed"
    balance: int
    held: int
    overdraft: int
    created: float  # server time, seconds since the epoch

    @property
    def available(self) -> int:
        """Return balance - held + overdraft limit, in minor units."""
        return self.balance - self.held + self.overdraft

    @property
    def balance_decimal(self) -> Decimal:
        """Return the balance in major units (``Decimal('12.34')`` for 1234 USD cents)."""
        return to_decimal(self.balance, self.scale)

    @property
    def available_decimal(self) -> Decimal:
        """Return `available` in major units."""
        return to_decimal(self.available, self.scale)

    def to_minor(self, amount: Decimal | int) -> int:
        """Return *amount* (a `Decimal` in major units) in this account's minor units."""
        return _to_minor(amount, self.scale)


class Transfer(NamedTuple):
    """A transfer (or a capture) done: its id, amount in minor units, balances after it.

    ``replayed`` is True when an idempotency key (or a captured hold) returned the
    first result and this call moved nothing.
    """

    id: int
    src: str
    dst: str
    amount: int
    src_balance: int
    dst_balance: int
    at: float  # server time, seconds since the epoch
    replayed: bool


class Hold(NamedTuple):
    """A hold: *amount* reserved on *src* for a capture to *dst* until *expires_at*.

    ``state`` is "pending", "captured", "voided" or "expired"; ``transfer`` is the
    capture's transfer id. ``replayed`` is True when the call changed nothing and
    returned an earlier outcome (an idempotent hold replay, a second void).
    """

    id: int
    src: str
    dst: str
    amount: int
    state: str
    expires_at: float
    created: float
    memo: str
    transfer: int | None
    replayed: bool


class Entry(NamedTuple):
    """One history entry of an account: *delta* moved it to *balance*."""

    cursor: str  # the stream entry id, for paging
    transfer: int
    kind: str  # "open", "transfer" or "capture"
    delta: int
    balance: int
    peer: str  # the other account ("" for an opening balance)
    memo: str
    at: float


class AuditEntry(NamedTuple):
    """One movement in the ledger's audit stream."""

    cursor: str
    transfer: int
    kind: str  # "open", "transfer" or "capture"
    src: str  # "" for an opening balance
    dst: str
    amount: int
    memo: str
    hold: int | None
    at: float


@dataclass(frozen=True)
class Page(Generic[T]):
    """Entries newest first; pass ``next`` as ``before=`` for the older page (None: the end)."""

    entries: list[T]
    next: str | None


# -- decoding ----------------------------------------------------------------------------------


@corrupt("an account's record, balance or held amount")
def info_reply(account: str, reply: Any) -> AccountInfo:
    status, currency, scale, overdraft, created = text(reply[0]).split("\t")
    return AccountInfo(
        account=account,
        currency=currency,
        scale=int(scale),
        status=status,
        balance=int(reply[1]),
        held=int(reply[2]),
        overdraft=int(overdraft),
        created=int(created) / 1000,
    )


def transfer_reply(src: str, dst: str, reply: Any) -> Transfer:
    tx, amount, src_after, dst_after, at, replayed = (int(v) for v in reply)
    return Transfer(tx, src, dst, amount, src_after, dst_after, at / 1000, replayed == 1)


@corrupt("a hold record")
def hold_from_record(hold_id: int, record: str, now_ms: int, replayed: bool) -> Hold:
    """Decode a hold record (``state, src, dst, amount, deadline, created, result, memo``)."""
    state, src, dst, amount, deadline, created, result, memo = record.split("\t", 7)
    name = STATES.get(state, state)
    if name == "pending" and int(deadline) <= now_ms:
        name = "expired"  # due, not reaped yet: nothing can capture it any more
    tx = int(result.split(",", 1)[0]) if result else None
    return Hold(
        hold_id, src, dst, int(amount), name, int(deadline) / 1000, int(created) / 1000, memo,
        tx, replayed,
    )  # fmt: skip


def hold_reply(reply: Any) -> Hold:
    return hold_from_record(int(reply[0]), text(reply[1]), int(reply[2]), int(reply[3]) == 1)


def void_reply(reply: Any) -> Hold:
    return hold_from_record(int(reply[0]), text(reply[1]), int(reply[2]), int(reply[3]) == 0)


def hold_info_reply(reply: Any) -> Hold:
    return hold_from_record(int(reply[0]), text(reply[1]), int(reply[2]), False)


def _fields(raw: Any) -> dict[str, str]:
    flat = [text(v) for v in raw]
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _at(cursor: str) -> float:
    return int(cursor.split("-", 1)[0]) / 1000


def entry(cursor: str, f: dict[str, str]) -> Entry:
    return Entry(
        cursor, int(f["tx"]), f["kind"], int(f["delta"]), int(f["balance"]), f["peer"],
        f["memo"], _at(cursor),
    )  # fmt: skip


def audit_entry(cursor: str, f: dict[str, str]) -> AuditEntry:
    hold = f.get("hold")
    return AuditEntry(
        cursor, int(f["tx"]), f["kind"], f["src"], f["dst"], int(f["amount"]), f["memo"],
        int(hold) if hold else None, _at(cursor),
    )  # fmt: skip


@corrupt("a history or audit stream")
def page(make: Callable[[str, dict[str, str]], T], limit: int, reply: Any) -> Page[T]:
    entries = [make(text(cursor), _fields(raw)) for cursor, raw in reply]
    more = bool(entries) and len(entries) == limit
    return Page(entries, text(reply[-1][0]) if more else None)


def flag(reply: Any) -> bool:
    return int(reply) == 1


@corrupt("a balance")
def integer(reply: Any) -> int:
    return int(reply)
