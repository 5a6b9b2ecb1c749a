"""`Ledger` and `AsyncLedger`: accounts, transfers, holds and their record on one engine.

`LedgerCore` holds every decision: the `LedgerOps` builders and the few flows that
take more than one call (a capture by hold id reads the hold first; a keyed transfer
or hold is re-sent when its outcome is unknown, since the key makes the re-send a
replay). The twins run them and differ only by ``async``/``await``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from redlua._core import Call, Flow, Sleep
from redlua.errors import OutcomeUnknownError
from redlua.ledger._ops import (
    AUDIT_CAP,
    HISTORY_CAP,
    HOLD_RETENTION,
    IDEMPOTENCY_TTL,
    REAP_BATCH,
    LedgerOps,
)
from redlua.ledger._results import (
    Account,
    AccountInfo,
    AccountRef,
    AuditEntry,
    Entry,
    Hold,
    Page,
    Transfer,
)

if TYPE_CHECKING:
    from redlua.aio import AsyncEngine
    from redlua.engine import Engine

T = TypeVar("T")

RESENDS = 3
"""Sends of a keyed transfer or hold whose outcome stays unknown, before giving up."""
RESEND_PAUSE = 0.05
"""Seconds before the first re-send; doubled before each next one."""


def resent(call: Call[T], resend: bool) -> Flow[T]:
    """Run *call*; when *resend* and its outcome is unknown, send it again (a few times).

    Only for calls whose re-send is a replay: a transfer or hold with an idempotency
    key. Without *resend*, `OutcomeUnknownError` reaches the caller at once.
    """
    attempt = 1
    while True:
        try:
            result: T = yield call
        except OutcomeUnknownError:
            if not resend or attempt >= RESENDS:
                raise
            yield Sleep(RESEND_PAUSE * 2 ** (attempt - 1))
            attempt += 1
            continue
        return result


def _capture(ops: LedgerOps, hold: Hold | int) -> Flow[Transfer]:
    if isinstance(hold, Hold):
        found = hold
    else:
        found = yield ops.hold_info(hold)
    done: Transfer = yield ops.capture(found.id, found.src, found.dst)
    return done


class LedgerCore:
    """The builders and flows of one ledger *name*; no I/O. See `LedgerOps` for options."""

    def __init__(
        self,
        name: str,
        *,
        history_cap: int = HISTORY_CAP,
        audit_cap: int = AUDIT_CAP,
        idempotency_ttl: float = IDEMPOTENCY_TTL,
        hold_retention: float = HOLD_RETENTION,
        reap_batch: int = REAP_BATCH,
    ) -> None:
        self.ops = LedgerOps(
            name,
            history_cap=history_cap,
            audit_cap=audit_cap,
            idempotency_ttl=idempotency_ttl,
            hold_retention=hold_retention,
            reap_batch=reap_batch,
        )
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def account(self, account: str) -> AccountRef:
        """Return an `AccountRef` to *account* of this ledger (no I/O)."""
        return self.ops.ref(account)

    def transfer_flow(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Flow[Transfer]:
        """Return the flow of one transfer; the arguments are checked now, before it runs."""
        call = self.ops.transfer(src, dst, amount, idempotency_key=idempotency_key, memo=memo)
        return resent(call, idempotency_key is not None)

    def hold_flow(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        ttl: float,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Flow[Hold]:
        """Return the flow of one hold; the arguments are checked now, before it runs."""
        call = self.ops.hold(src, dst, amount, ttl, idempotency_key=idempotency_key, memo=memo)
        return resent(call, idempotency_key is not None)

    def capture_flow(self, hold: Hold | int) -> Flow[Transfer]:
        """Return the flow of a capture; a bare hold id is read first for its accounts."""
        if not isinstance(hold, Hold):
            self.ops.hold_info(hold)  # checks the id now
        return _capture(self.ops, hold)

    def void_call(self, hold: Hold | int) -> Call[Hold]:
        """Build the void of *hold* (a `Hold` or its id)."""
        return self.ops.void(hold.id if isinstance(hold, Hold) else hold)


class Ledger(LedgerCore):
    """A ledger of accounts in integer minor units, on a synchronous `Engine`::

    bank = Ledger(engine, "bank")
    bank.create("alice", "USD", opening=Decimal("100.00"))
    bank.create("bob", "USD")
    done = bank.transfer("alice", "bob", Decimal("12.50"), idempotency_key="order-7")
    bank.info("alice").balance_decimal            # Decimal('87.50')
    hold = bank.hold("alice", "bob", 500, ttl=60)  # 5.00 reserved for a minute
    bank.capture(hold)                             # or bank.void(hold)
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        history_cap: int = HISTORY_CAP,
        audit_cap: int = AUDIT_CAP,
        idempotency_ttl: float = IDEMPOTENCY_TTL,
        hold_retention: float = HOLD_RETENTION,
        reap_batch: int = REAP_BATCH,
    ) -> None:
        super().__init__(
            name,
            history_cap=history_cap,
            audit_cap=audit_cap,
            idempotency_ttl=idempotency_ttl,
            hold_retention=hold_retention,
            reap_batch=reap_batch,
        )
        self.engine = engine

    def create(
        self,
        account: Account,
        currency: str,
        *,
        scale: int | None = None,
        opening: Decimal | int = 0,
        overdraft: Decimal | int = 0,
        status: str = "active",
    ) -> AccountInfo:
        """Open *account* in *currency*; see `LedgerOps.create`."""
        call = self.ops.create(
            account, currency, scale=scale, opening=opening, overdraft=overdraft, status=status
        )
        return self.engine.run(call)

    def balance(self, account: Account) -> int:
        """Return the balance of *account* in minor units."""
        return self.engine.run(self.ops.balance(account))

    def info(self, account: Account) -> AccountInfo:
        """Return *account*'s currency, status and sums (`AccountInfo`)."""
        return self.engine.run(self.ops.info(account))

    def freeze(self, account: Account) -> bool:
        """Freeze *account*; False when it was frozen already."""
        return self.engine.run(self.ops.freeze(account))

    def unfreeze(self, account: Account) -> bool:
        """Make a frozen *account* active; False when it was active already."""
        return self.engine.run(self.ops.unfreeze(account))

    def close(self, account: Account) -> bool:
        """Close an empty *account* for good; False when it was closed already."""
        return self.engine.run(self.ops.close(account))

    def transfer(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Transfer:
        """Move *amount* from *src* to *dst* atomically; see `LedgerOps.transfer`."""
        flow = self.transfer_flow(src, dst, amount, idempotency_key=idempotency_key, memo=memo)
        return self.engine.drive(flow)

    def hold(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        ttl: float,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Hold:
        """Reserve *amount* of *src* for *dst* for *ttl* seconds; see `LedgerOps.hold`."""
        flow = self.hold_flow(src, dst, amount, ttl, idempotency_key=idempotency_key, memo=memo)
        return self.engine.drive(flow)

    def capture(self, hold: Hold | int) -> Transfer:
        """Capture a pending *hold*; a second capture replays the first `Transfer`."""
        return self.engine.drive(self.capture_flow(hold))

    def void(self, hold: Hold | int) -> Hold:
        """Void a pending *hold* (idempotent); a captured one raises `HoldNotPendingError`."""
        return self.engine.run(self.void_call(hold))

    def hold_info(self, hold: int) -> Hold:
        """Return hold *hold* as it is now."""
        return self.engine.run(self.ops.hold_info(hold))

    def reap(self) -> int:
        """Release due holds now (the scripts also do it lazily); return how many."""
        return self.engine.run(self.ops.reap())

    def history(
        self, account: Account, *, limit: int = 20, before: str | None = None
    ) -> Page[Entry]:
        """Return a page of *account*'s history, newest first."""
        return self.engine.run(self.ops.history(account, limit=limit, before=before))

    def audit(self, *, limit: int = 100, before: str | None = None) -> Page[AuditEntry]:
        """Return a page of the ledger's audit stream, newest first."""
        return self.engine.run(self.ops.audit(limit=limit, before=before))


class AsyncLedger(LedgerCore):
    """`Ledger` on an `AsyncEngine`: the same methods, awaited::

    bank = AsyncLedger(engine, "bank")
    done = await bank.transfer("alice", "bob", 1250, idempotency_key="order-7")
    """

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        history_cap: int = HISTORY_CAP,
        audit_cap: int = AUDIT_CAP,
        idempotency_ttl: float = IDEMPOTENCY_TTL,
        hold_retention: float = HOLD_RETENTION,
        reap_batch: int = REAP_BATCH,
    ) -> None:
        super().__init__(
            name,
            history_cap=history_cap,
            audit_cap=audit_cap,
            idempotency_ttl=idempotency_ttl,
            hold_retention=hold_retention,
            reap_batch=reap_batch,
        )
        self.engine = engine

    async def create(
        self,
        account: Account,
        currency: str,
        *,
        scale: int | None = None,
        opening: Decimal | int = 0,
        overdraft: Decimal | int = 0,
        status: str = "active",
    ) -> AccountInfo:
        """Open *account* in *currency*; see `LedgerOps.create`."""
        call = self.ops.create(
            account, currency, scale=scale, opening=opening, overdraft=overdraft, status=status
        )
        return await self.engine.run(call)

    async def balance(self, account: Account) -> int:
        """Return the balance of *account* in minor units."""
        return await self.engine.run(self.ops.balance(account))

    async def info(self, account: Account) -> AccountInfo:
        """Return *account*'s currency, status and sums (`AccountInfo`)."""
        return await self.engine.run(self.ops.info(account))

    async def freeze(self, account: Account) -> bool:
        """Freeze *account*; False when it was frozen already."""
        return await self.engine.run(self.ops.freeze(account))

    async def unfreeze(self, account: Account) -> bool:
        """Make a frozen *account* active; False when it was active already."""
        return await self.engine.run(self.ops.unfreeze(account))

    async def close(self, account: Account) -> bool:
        """Close an empty *account* for good; False when it was closed already."""
        return await self.engine.run(self.ops.close(account))

    async def transfer(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Transfer:
        """Move *amount* from *src* to *dst* atomically; see `LedgerOps.transfer`."""
        flow = self.transfer_flow(src, dst, amount, idempotency_key=idempotency_key, memo=memo)
        return await self.engine.drive(flow)

    async def hold(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        ttl: float,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Hold:
        """Reserve *amount* of *src* for *dst* for *ttl* seconds; see `LedgerOps.hold`."""
        flow = self.hold_flow(src, dst, amount, ttl, idempotency_key=idempotency_key, memo=memo)
        return await self.engine.drive(flow)

    async def capture(self, hold: Hold | int) -> Transfer:
        """Capture a pending *hold*; a second capture replays the first `Transfer`."""
        return await self.engine.drive(self.capture_flow(hold))

    async def void(self, hold: Hold | int) -> Hold:
        """Void a pending *hold* (idempotent); a captured one raises `HoldNotPendingError`."""
        return await self.engine.run(self.void_call(hold))

    async def hold_info(self, hold: int) -> Hold:
        """Return hold *hold* as it is now."""
        return await self.engine.run(self.ops.hold_info(hold))

    async def reap(self) -> int:
        """Release due holds now (the scripts also do it lazily); return how many."""
        return await self.engine.run(self.ops.reap())

    async def history(
        self, account: Account, *, limit: int = 20, before: str | None = None
    ) -> Page[Entry]:
        """Return a page of *account*'s history, newest first."""
        return await self.engine.run(self.ops.history(account, limit=limit, before=before))

    async def audit(self, *, limit: int = 100, before: str | None = None) -> Page[AuditEntry]:
        """Return a page of the ledger's audit stream, newest first."""
        return await self.engine.run(self.ops.audit(limit=limit, before=before))
