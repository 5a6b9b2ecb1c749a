"""`LedgerOps`: the ledger's keys and pure `Call` builders (no I/O).

Every key of ledger ``<L>`` carries the hash tag ``{<L>}``, so every script of a
ledger runs in one hash slot, on a cluster as on one server::

    redlua:ledger:{L}:accounts         HASH account -> "status, currency, scale, overdraft, created"
    redlua:ledger:{L}:balances         HASH account -> balance in minor units
    redlua:ledger:{L}:held             HASH account -> minor units reserved by pending holds
    redlua:ledger:{L}:seq              STRING, the id counter of transfers and holds
    redlua:ledger:{L}:audit            STREAM of every movement, MAXLEN ~ audit_cap
    redlua:ledger:{L}:history:<acct>   STREAM of one account's entries, MAXLEN ~ history_cap
    redlua:ledger:{L}:holds            HASH hold id -> record
    redlua:ledger:{L}:holds:pending    ZSET hold id -> deadline (server ms)
    redlua:ledger:{L}:holds:finished   ZSET hold id -> when the record is purged
    redlua:ledger:{L}:idem:<key>       STRING, one idempotency record, PEXPIRE idempotency_ttl
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple, TypeVar

from redlua._checks import check_name, to_millis
from redlua._core import Call
from redlua._registry import load_script
from redlua._slots import key_slot
from redlua.errors import CrossLedgerError
from redlua.ledger._money import MAX_MINOR, amount_arg, check_currency, scale_of
from redlua.ledger._money import to_minor as _to_minor
from redlua.ledger._results import (
    Account,
    AccountInfo,
    AccountRef,
    AuditEntry,
    Entry,
    Hold,
    Page,
    Transfer,
    audit_entry,
    entry,
    flag,
    hold_info_reply,
    hold_reply,
    info_reply,
    integer,
    page,
    transfer_reply,
    void_reply,
)

T = TypeVar("T")

PREFIX = "redlua:ledger:"
HISTORY_CAP = 1000
"""Entries each account's history keeps at least (trimmed by whole stream nodes past it)."""
AUDIT_CAP = 100_000
"""Entries the ledger's audit stream keeps at least."""
IDEMPOTENCY_TTL = 24 * 3600.0
"""Seconds an idempotency record (and so a replay) lasts."""
HOLD_RETENTION = 24 * 3600.0
"""Seconds a captured, voided or expired hold's record stays readable (and replayable)."""
REAP_BATCH = 100
"""The most due holds one script releases (and finished records it purges)."""
MAX_MEMO = 256
"""The longest memo, in UTF-8 bytes."""
MAX_KEY = 256
"""The longest idempotency key, in characters."""
MAX_PAGE = 1000
MAX_CAP = 10**9 - 1

# -- argument checks ---------------------------------------------------------------------------


def _count(what: str, value: object, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 1 <= value <= most:
        raise ValueError(f"{what} must be from 1 to {most}, got {value}")
    return value


def _hold_id(value: object) -> str:
    return str(_count("hold", value, MAX_MINOR))


def _memo(memo: object) -> str:
    if not isinstance(memo, str):
        raise TypeError(f"memo must be a str, not {type(memo).__name__}")
    if len(memo.encode("utf-8", "surrogatepass")) > MAX_MEMO:
        raise ValueError(f"memo must be at most {MAX_MEMO} bytes in UTF-8")
    return memo


def _cursor(before: object) -> str:
    if before is None:
        return "+"
    if not isinstance(before, str):
        raise TypeError(f"before must be None or a cursor str, not {type(before).__name__}")
    ms, dash, seq = before.partition("-")
    if not (dash and ms.isdigit() and seq.isdigit() and ms.isascii() and seq.isascii()):
        raise ValueError(f"before must be a cursor from a page ('<ms>-<seq>'), got {before!r}")
    return before


def _units(what: str, value: object, scale: int) -> str:
    minor = _to_minor(value, scale, what=what)  # type: ignore[arg-type]  # checked inside
    if minor < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return str(minor)


# -- the builders ------------------------------------------------------------------------------


class LedgerKeys(NamedTuple):
    """The fixed keys of one ledger and their hash slot; `LedgerOps` spells the others."""

    accounts: str
    balances: str
    held: str
    seq: str
    audit: str
    holds: str
    pending: str
    finished: str
    base: str
    slot: int


def ledger_keys(ledger: str) -> LedgerKeys:
    """Spell the keys of *ledger* (checked: no braces, no control characters)."""
    base = f"{PREFIX}{{{check_name('ledger', ledger)}}}"
    return LedgerKeys(
        base + ":accounts", base + ":balances", base + ":held", base + ":seq", base + ":audit",
        base + ":holds", base + ":holds:pending", base + ":holds:finished", base, key_slot(base),
    )  # fmt: skip


class LedgerOps:
    """Build the calls of one ledger; run them with any engine (`Ledger` does).

    ::

        ops = LedgerOps("bank")
        engine.run(ops.create("alice", "USD", opening=Decimal("100.00")))
        engine.run(ops.transfer("alice", "bob", Decimal("12.50"), idempotency_key="order-7"))

    *history_cap* and *audit_cap* are the entries each history and the audit keep at
    least (trimmed with ``XADD MAXLEN ~``, by whole stream nodes of about 100 entries);
    *idempotency_ttl* the seconds a replay stays possible; *hold_retention* the seconds a
    finished hold's record stays (at least *idempotency_ttl*, so a replayed hold finds
    it); *reap_batch* the most due holds one script releases.
    """

    def __init__(
        self,
        ledger: str,
        *,
        history_cap: int = HISTORY_CAP,
        audit_cap: int = AUDIT_CAP,
        idempotency_ttl: float = IDEMPOTENCY_TTL,
        hold_retention: float = HOLD_RETENTION,
        reap_batch: int = REAP_BATCH,
    ) -> None:
        self.keys = ledger_keys(ledger)
        self.ledger = ledger
        self.history_cap = _count("history_cap", history_cap, MAX_CAP)
        self.audit_cap = _count("audit_cap", audit_cap, MAX_CAP)
        idem_ms = to_millis("idempotency_ttl", idempotency_ttl)
        keep_ms = to_millis("hold_retention", hold_retention)
        if keep_ms < idem_ms:
            raise ValueError(
                f"hold_retention ({hold_retention!r} s) must be at least idempotency_ttl"
                f" ({idempotency_ttl!r} s), so a replayed hold still finds its record"
            )
        self.reap_batch = _count("reap_batch", reap_batch, 9999)
        self._history, self._audit = str(self.history_cap), str(self.audit_cap)
        self._idem, self._keep, self._batch = str(idem_ms), str(keep_ms), str(self.reap_batch)
        k = self.keys
        self._reaper = (k.held, k.pending, k.finished, k.holds)
        self._scripts = {
            name: load_script(f"ledger_{name}")
            for name in (
                "create", "balance", "info", "status", "transfer", "hold", "capture", "void",
                "hold_info", "reap", "entries",
            )
        }  # fmt: skip

    def __repr__(self) -> str:
        return f"LedgerOps({self.ledger!r})"

    # -- names ---------------------------------------------------------------------------

    def account_id(self, account: Account, what: str = "account") -> str:
        """Return the id of *account* in this ledger, or raise naming *what*.

        An `AccountRef` of another ledger raises `CrossLedgerError`.
        """
        if isinstance(account, AccountRef):
            if account.ledger != self.ledger:
                raise CrossLedgerError(
                    f"{what} {account.account!r} belongs to ledger {account.ledger!r}, not"
                    f" {self.ledger!r}"
                )
            account = account.account
        return check_name(what, account)

    def ref(self, account: str) -> AccountRef:
        """Return an `AccountRef` to *account* of this ledger."""
        return AccountRef(self.ledger, check_name("account", account))

    def history_key(self, account: Account) -> str:
        """Spell the history stream key of *account*."""
        return f"{self.keys.base}:history:{self.account_id(account)}"

    def idempotency_key(self, key: str) -> str:
        """Spell the key of the idempotency record *key*."""
        if isinstance(key, str) and len(key) > MAX_KEY:
            raise ValueError(f"idempotency_key must be at most {MAX_KEY} characters")
        return f"{self.keys.base}:idem:{check_name('idempotency_key', key)}"

    def _pair(self, src: Account, dst: Account) -> tuple[str, str]:
        ledgers = {a.ledger for a in (src, dst) if isinstance(a, AccountRef)} - {self.ledger}
        if ledgers:
            raise CrossLedgerError(
                f"accounts of ledger {self.ledger!r} and ledger {sorted(ledgers)[0]!r} cannot"
                " move money in one step: each ledger lives in one hash slot, and atomicity"
                " across slots would need a saga (a transfer out, a transfer in, and a"
                " compensating transfer when the second fails)"
            )
        s, d = self.account_id(src, "src"), self.account_id(dst, "dst")
        if s == d:
            raise ValueError(f"src and dst must be different accounts, both are {s!r}")
        return s, d

    def _call(
        self, name: str, keys: Sequence[str], args: Sequence[str], decode: Callable[[Any], T]
    ) -> Call[T]:
        return Call.trusted(self._scripts[name], tuple(keys), tuple(args), decode, self.keys.slot)

    # -- accounts ------------------------------------------------------------------------

    def create(
        self,
        account: Account,
        currency: str,
        *,
        scale: int | None = None,
        opening: Decimal | int = 0,
        overdraft: Decimal | int = 0,
        status: str = "active",
    ) -> Call[AccountInfo]:
        """Open *account* holding *currency* (an `AccountExistsError` if the id is taken).

        *scale* is needed for codes outside `SCALES`. *opening* (a balance brought in
        from outside, written as an "open" entry) and *overdraft* (how far below zero
        the balance may go) are minor units as int, or major units as `Decimal`.
        *status* is "active" or "frozen".
        """
        name = self.account_id(account)
        code = check_currency(currency)
        places = scale_of(code, scale)
        if status not in ("active", "frozen"):
            raise ValueError(f"status must be 'active' or 'frozen', got {status!r}")
        args = (
            name, code, str(places), status, _units("opening", opening, places),
            _units("overdraft", overdraft, places), self._history, self._audit,
        )  # fmt: skip
        k = self.keys
        keys = (k.accounts, k.balances, k.seq, k.audit, self.history_key(name))
        return self._call("create", keys, args, partial(info_reply, name))

    def balance(self, account: Account) -> Call[int]:
        """Read the balance of *account* in minor units (held amounts still in it)."""
        name = self.account_id(account)
        return self._call("balance", (self.keys.accounts, self.keys.balances), (name,), integer)

    def info(self, account: Account) -> Call[AccountInfo]:
        """Read *account*: currency, scale, status, balance, held, overdraft, created."""
        name = self.account_id(account)
        k = self.keys
        keys = (k.accounts, k.balances, *self._reaper)
        return self._call("info", keys, (name, self._keep, self._batch), partial(info_reply, name))

    def _status(self, account: Account, action: str) -> Call[bool]:
        name = self.account_id(account)
        keys = (self.keys.accounts, self.keys.balances, *self._reaper)
        return self._call("status", keys, (name, action, self._keep, self._batch), flag)

    def freeze(self, account: Account) -> Call[bool]:
        """Freeze *account* (no transfers in or out); False when it was frozen already."""
        return self._status(account, "freeze")

    def unfreeze(self, account: Account) -> Call[bool]:
        """Make a frozen *account* active again; False when it was active already."""
        return self._status(account, "unfreeze")

    def close(self, account: Account) -> Call[bool]:
        """Close an empty *account* for good; False when it was closed already."""
        return self._status(account, "close")

    # -- money ---------------------------------------------------------------------------

    def transfer(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Call[Transfer]:
        """Move *amount* from *src* to *dst* in one script (see ``ledger_transfer.lua``).

        *amount* is minor units (int) or major units (`Decimal`, converted by the script
        with the accounts' scale). With *idempotency_key*, a second call with the same
        key returns the first `Transfer` (``replayed=True``) and moves nothing.
        """
        s, d = self._pair(src, dst)
        args = (
            s, d, amount_arg(amount), _memo(memo), self._history, self._audit, self._idem,
            self._keep, self._batch,
        )  # fmt: skip
        k = self.keys
        keys = [
            k.accounts, k.balances, k.held, k.seq, k.audit, self.history_key(s),
            self.history_key(d), k.pending, k.finished, k.holds,
        ]  # fmt: skip
        if idempotency_key is not None:
            keys.append(self.idempotency_key(idempotency_key))
        return self._call("transfer", keys, args, partial(transfer_reply, s, d))

    def hold(
        self,
        src: Account,
        dst: Account,
        amount: Decimal | int,
        ttl: float,
        *,
        idempotency_key: str | None = None,
        memo: str = "",
    ) -> Call[Hold]:
        """Reserve *amount* of *src* for a capture to *dst* within *ttl* seconds.

        Until then the amount is held: not available to other transfers, still in the
        balance. An expired hold gives it back (the reaper, once).
        """
        s, d = self._pair(src, dst)
        args = (
            s, d, amount_arg(amount), str(to_millis("ttl", ttl)), _memo(memo), self._idem,
            self._keep, self._batch,
        )  # fmt: skip
        k = self.keys
        keys = [k.accounts, k.balances, k.held, k.seq, k.pending, k.finished, k.holds]
        if idempotency_key is not None:
            keys.append(self.idempotency_key(idempotency_key))
        return self._call("hold", keys, args, hold_reply)

    def capture(self, hold: int, src: Account, dst: Account) -> Call[Transfer]:
        """Capture pending hold *hold* of *src* to *dst* (the accounts name history keys).

        A second capture returns the first `Transfer` (``replayed=True``); a capture of a
        voided or expired hold raises `HoldNotPendingError`.
        """
        hold_id = _hold_id(hold)
        s, d = self._pair(src, dst)
        k = self.keys
        keys = (
            k.accounts, k.balances, k.held, k.seq, k.audit, self.history_key(s),
            self.history_key(d), k.pending, k.finished, k.holds,
        )  # fmt: skip
        args = (hold_id, s, d, self._history, self._audit, self._keep, self._batch)
        return self._call("capture", keys, args, partial(transfer_reply, s, d))

    def void(self, hold: int) -> Call[Hold]:
        """Void pending hold *hold*: its amount is available again (idempotent).

        A captured hold raises `HoldNotPendingError`.
        """
        args = (_hold_id(hold), self._keep, self._batch)
        return self._call("void", self._reaper, args, void_reply)

    def hold_info(self, hold: int) -> Call[Hold]:
        """Read hold *hold* (a due hold reads as "expired" before the reaper gets to it)."""
        return self._call("hold_info", (self.keys.holds,), (_hold_id(hold),), hold_info_reply)

    def reap(self) -> Call[int]:
        """Release due holds now (at most *reap_batch*); the call returns how many."""
        return self._call("reap", self._reaper, (self._keep, self._batch), integer)

    # -- reading the record --------------------------------------------------------------

    def history(
        self, account: Account, *, limit: int = 20, before: str | None = None
    ) -> Call[Page[Entry]]:
        """Read up to *limit* history entries of *account*, newest first, older than *before*."""
        name = self.account_id(account)
        size = _count("limit", limit, MAX_PAGE)
        keys = (self.history_key(name), self.keys.accounts)
        args = (str(size), _cursor(before), name)
        return self._call("entries", keys, args, partial(page, entry, size))

    def audit(self, *, limit: int = 100, before: str | None = None) -> Call[Page[AuditEntry]]:
        """Read up to *limit* audit entries of the ledger, newest first, older than *before*."""
        size = _count("limit", limit, MAX_PAGE)
        args = (str(size), _cursor(before))
        return self._call("entries", (self.keys.audit,), args, partial(page, audit_entry, size))
