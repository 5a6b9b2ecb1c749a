"""redlua: atomic operations on Redis and Valkey, done right.

Named Lua scripts shipped in the package, run by EVALSHA with NOSCRIPT recovery
on every path (single calls, batches, MULTI/EXEC, asyncio, Redis Cluster), and
recipes built on them. Start with `Engine` (sync) or `AsyncEngine` (asyncio)::

    import redlua

    engine = redlua.Engine(redlua.connect())
    engine.run(redlua.Call(script, keys=("k",), args=(1,)))
"""

from __future__ import annotations

import logging

from ._core import Call, Flow, Sleep, Wait
from ._lua import minify
from ._policy import RetryPolicy
from ._registry import load_script, shipped_scripts
from ._report import Profile, Validation
from ._script import Contract, Script
from ._slots import key_slot
from ._stats import ScriptStats
from .aio import AsyncEngine
from .engine import Engine
from .errors import (
    AccountExistsError,
    AccountInactiveError,
    AccountNotEmptyError,
    AccountNotFoundError,
    ConnectionFailedError,
    ContractError,
    CorruptDataError,
    CounterOverflowError,
    CrossLedgerError,
    CrossSlotError,
    CurrencyMismatchError,
    HoldNotFoundError,
    HoldNotPendingError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidArgumentError,
    LedgerError,
    LockLostError,
    NoPodAvailableError,
    NotOwnerError,
    OutcomeUnknownError,
    PodUnavailableError,
    ProductNotFoundError,
    RedluaError,
    ReservationClosedError,
    ReservationExistsError,
    ReservationNotFoundError,
    ScriptCompileError,
    ScriptError,
    ScriptKilledError,
    ScriptReplyError,
    ServerBusyError,
    ServerError,
    StaleIncarnationError,
    TransactionConflictError,
    UnknownScriptError,
    parse_lua_error,
)
from .server import EmbeddedCluster, EmbeddedServer, connect, connect_async

__version__ = "0.1.0"

logging.getLogger("redlua").addHandler(logging.NullHandler())  # quiet unless configured

__all__ = [
    "AccountExistsError",
    "AccountInactiveError",
    "AccountNotEmptyError",
    "AccountNotFoundError",
    "AsyncEngine",
    "Call",
    "connect",
    "connect_async",
    "ConnectionFailedError",
    "Contract",
    "ContractError",
    "CorruptDataError",
    "CounterOverflowError",
    "CrossLedgerError",
    "CrossSlotError",
    "CurrencyMismatchError",
    "EmbeddedCluster",
    "EmbeddedServer",
    "Engine",
    "Flow",
    "HoldNotFoundError",
    "HoldNotPendingError",
    "IdempotencyConflictError",
    "InsufficientFundsError",
    "InvalidArgumentError",
    "key_slot",
    "LedgerError",
    "load_script",
    "LockLostError",
    "minify",
    "NoPodAvailableError",
    "NotOwnerError",
    "OutcomeUnknownError",
    "parse_lua_error",
    "PodUnavailableError",
    "ProductNotFoundError",
    "Profile",
    "RedluaError",
    "ReservationClosedError",
    "ReservationExistsError",
    "ReservationNotFoundError",
    "RetryPolicy",
    "Script",
    "ScriptCompileError",
    "ScriptError",
    "ScriptKilledError",
    "ScriptReplyError",
    "ScriptStats",
    "ServerBusyError",
    "ServerError",
    "shipped_scripts",
    "Sleep",
    "StaleIncarnationError",
    "TransactionConflictError",
    "UnknownScriptError",
    "Validation",
    "Wait",
]
