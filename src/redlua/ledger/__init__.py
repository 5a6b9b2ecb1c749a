"""Ledger: accounts in integer minor units, atomic transfers, two-phase holds, an audit trail.

* `Ledger` / `AsyncLedger`: ``create`` (currency, status, overdraft limit, opening
  balance), ``balance``, ``info``, ``freeze``/``unfreeze``/``close``, ``transfer``
  (one script: both accounts exist and are active, one currency, the amount positive
  and covered; one history entry per account under one transfer id; replays by
  idempotency key), ``hold`` then ``capture`` or ``void`` (expired holds give their
  amount back, once), ``history`` and ``audit`` pages, newest first.
* `LedgerOps`: the same scripts as pure `Call` builders, run on any engine.
* Money: `to_minor` / `to_decimal` with one fixed scale per currency (`SCALES`);
  `Decimal` amounts with more decimal places than the scale are refused, floats always.

Every key of ledger ``<L>`` shares the hash tag ``{<L>}`` (see `LedgerOps`), so a
ledger works on a cluster; accounts of two ledgers never meet in one call
(`CrossLedgerError`, before any I/O): atomicity across hash slots would need a saga.

Retention: each account's history keeps at least ``history_cap`` (1000) newest
entries and the audit at least ``audit_cap`` (100 000), trimmed with ``XADD MAXLEN ~``
(whole stream nodes, so a few more may stay); idempotency records last
``idempotency_ttl`` (24 h); finished holds stay readable ``hold_retention`` (24 h).
"""

from __future__ import annotations

from redlua.errors import (
    AccountExistsError,
    AccountInactiveError,
    AccountNotEmptyError,
    AccountNotFoundError,
    CrossLedgerError,
    CurrencyMismatchError,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyConflictError,
    InsufficientFundsError,
    LedgerError,
)
from redlua.ledger._money import MAX_MINOR, SCALES, scale_of, to_decimal, to_minor
from redlua.ledger._ops import LedgerKeys, LedgerOps, ledger_keys
from redlua.ledger._results import (
    AccountInfo,
    AccountRef,
    AuditEntry,
    Entry,
    Hold,
    Page,
    Transfer,
)
from redlua.ledger.ledger import AsyncLedger, Ledger, LedgerCore

__all__ = [
    "AccountExistsError",
    "AccountInactiveError",
    "AccountInfo",
    "AccountNotEmptyError",
    "AccountNotFoundError",
    "AccountRef",
    "AsyncLedger",
    "AuditEntry",
    "CrossLedgerError",
    "CurrencyMismatchError",
    "Entry",
    "Hold",
    "HoldNotFoundError",
    "HoldNotPendingError",
    "IdempotencyConflictError",
    "InsufficientFundsError",
    "Ledger",
    "ledger_keys",
    "LedgerCore",
    "LedgerError",
    "LedgerKeys",
    "LedgerOps",
    "MAX_MINOR",
    "Page",
    "scale_of",
    "SCALES",
    "to_decimal",
    "to_minor",
    "Transfer",
]
