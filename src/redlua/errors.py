"""Exceptions raised by redlua, and the one table that maps script codes to them.

The hierarchy::

    RedluaError
    ├── CrossSlotError (ValueError)        keys of one call span hash slots; nothing sent
    ├── ContractError (ValueError)         a script header or a call breaks the script's contract
    ├── UnknownScriptError (LookupError)   no script is registered under that name
    ├── ScriptReplyError                   a script refused: ``redis.error_reply('CODE detail')``
    │   ├── InvalidArgumentError (ValueError)   code INVALID_ARGUMENT
    │   ├── CorruptDataError               code CORRUPT_DATA: a key holds what no script wrote
    │   ├── NotOwnerError                  code NOT_OWNER: the caller does not hold that lock
    │   ├── StaleIncarnationError          code STALE_INCARNATION: another live process is that pod
    │   ├── LedgerError                    a ledger refused a request (redlua.ledger)
    │   │   ├── AccountNotFoundError (LookupError)  ACCOUNT_NOT_FOUND
    │   │   ├── AccountExistsError         ACCOUNT_EXISTS: create() of a taken id
    │   │   ├── AccountInactiveError       ACCOUNT_INACTIVE: frozen or closed
    │   │   ├── AccountNotEmptyError       ACCOUNT_NOT_EMPTY: close() with a balance or a hold
    │   │   ├── CurrencyMismatchError (ValueError)  CURRENCY_MISMATCH
    │   │   ├── InsufficientFundsError     INSUFFICIENT_FUNDS: balance - held + overdraft < amount
    │   │   ├── IdempotencyConflictError   IDEMPOTENCY_CONFLICT: the key named another request
    │   │   ├── HoldNotFoundError (LookupError)     HOLD_NOT_FOUND
    │   │   └── HoldNotPendingError        HOLD_NOT_PENDING: captured, voided or expired already
    │   ├── ProductNotFoundError (LookupError)      PRODUCT_NOT_FOUND (redlua.inventory)
    │   ├── ReservationNotFoundError (LookupError)  RESERVATION_NOT_FOUND: never made, or forgotten
    │   ├── ReservationClosedError         RESERVATION_CLOSED: settled otherwise (``.status``)
    │   ├── ReservationExistsError         RESERVATION_EXISTS: an id reused for another cart
    │   └── CounterOverflowError (OverflowError)   COUNTER_OVERFLOW: past 2^63-1 (redlua.counters)
    ├── ServerError                        the server refused or failed the command (``.code``)
    │   ├── ServerBusyError                BUSY: another script runs past busy-reply-threshold
    │   └── ScriptError                    the script raised: Lua runtime error, failing redis.call
    │       ├── ScriptCompileError         the source does not compile
    │       └── ScriptKilledError          stopped by SCRIPT KILL
    ├── LockLostError                      a held lock was found gone or taken (``assert_held``)
    ├── NoPodAvailableError                no pod of a service can take a new UID
    ├── PodUnavailableError                a UID is linked to a pod that is down
    ├── CrossLedgerError (ValueError)      accounts of two ledgers used together; nothing sent
    ├── TransactionConflictError           every optimistic attempt lost to a concurrent writer
    ├── ConnectionFailedError              no connection could be made; the script did not run
    └── OutcomeUnknownError                sent, but no reply: the script may or may not have run

Expected outcomes (a lock is busy, a limit is reached) are return values, never
exceptions. Broken preconditions come back from a script as
``redis.error_reply('CODE detail')`` and `from_reply` turns ``CODE`` into the class
registered for it in ``_BY_CODE``. Server texts differ between Redis and Valkey and
between versions, so replies are classified by their first word only.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_RESERVATION_CLOSED = re.compile(r"reservation (\S+) is (\w+)")


class RedluaError(Exception):
    """Base class of every exception redlua raises on purpose."""


class CrossSlotError(RedluaError, ValueError):
    """Keys used together hash to different cluster slots; nothing was sent."""


class ContractError(RedluaError, ValueError):
    """A script's header is missing or invalid, or a call does not fit the script."""


class UnknownScriptError(RedluaError, LookupError):
    """No script is registered under the requested name."""


class ScriptReplyError(RedluaError):
    """A script refused to act and said why with ``redis.error_reply('CODE detail')``.

    Scripts check every precondition before their first write, so nothing was
    changed. ``code`` is the first word of the reply, ``detail`` the rest.
    """

    def __init__(self, detail: str, *, code: str, script: str | None = None) -> None:
        self.code = code
        self.detail = detail
        self.script = script
        where = f" (script {script})" if script else ""
        super().__init__(f"{code} {detail}{where}".strip())


class InvalidArgumentError(ScriptReplyError, ValueError):
    """A script found an argument it cannot use (code ``INVALID_ARGUMENT``)."""


class StaleIncarnationError(ScriptReplyError):
    """Another live incarnation of the pod holds it (code ``STALE_INCARNATION``)."""


class CorruptDataError(ScriptReplyError):
    """A key holds what no script wrote, e.g. a non-numeric version (code ``CORRUPT_DATA``)."""


class NotOwnerError(ScriptReplyError):
    """The caller does not hold the lock it tried to release or extend (code ``NOT_OWNER``).

    Nothing changed. The lock server-side is free, expired or another owner's; raised
    also without any I/O when another thread or task than the owner asks.
    """


class LedgerError(ScriptReplyError):
    """A ledger script refused a request; its ``code`` says why and nothing was written."""


class AccountNotFoundError(LedgerError, LookupError):
    """The account does not exist in this ledger (code ``ACCOUNT_NOT_FOUND``)."""


class AccountExistsError(LedgerError):
    """An account with this id exists already, maybe closed (code ``ACCOUNT_EXISTS``)."""


class AccountInactiveError(LedgerError):
    """The account is frozen or closed: it neither sends nor receives (``ACCOUNT_INACTIVE``)."""


class AccountNotEmptyError(LedgerError):
    """A close found a balance or a pending hold on the account (``ACCOUNT_NOT_EMPTY``)."""


class CurrencyMismatchError(LedgerError, ValueError):
    """The two accounts hold different currencies (code ``CURRENCY_MISMATCH``)."""


class InsufficientFundsError(LedgerError):
    """The source cannot cover the amount: balance - held + overdraft limit is less.

    Code ``INSUFFICIENT_FUNDS``.
    """


class IdempotencyConflictError(LedgerError):
    """The idempotency key was used for a different request (``IDEMPOTENCY_CONFLICT``)."""


class HoldNotFoundError(LedgerError, LookupError):
    """No such hold: never made, or purged after its retention (``HOLD_NOT_FOUND``)."""


class HoldNotPendingError(LedgerError):
    """The hold was captured, voided or has expired already (``HOLD_NOT_PENDING``).

    A capture and a void of one hold exclude each other: the loser gets this.
    """


class ProductNotFoundError(ScriptReplyError, LookupError):
    """The product does not exist in this inventory (code ``PRODUCT_NOT_FOUND``)."""


class ReservationNotFoundError(ScriptReplyError, LookupError):
    """No record of the reservation: never made, or forgotten after its keep time.

    Code ``RESERVATION_NOT_FOUND``.
    """


class ReservationClosedError(ScriptReplyError):
    """The reservation was settled otherwise: confirmed, cancelled or expired.

    Code ``RESERVATION_CLOSED``: a confirm that lost to a cancel or to the deadline,
    or a cancel that lost to a confirm. ``status`` says how it ended (``"confirmed"``,
    ``"cancelled"`` or ``"expired"``) and ``reservation`` names it.
    """

    @property
    def reservation(self) -> str | None:
        """Return the reservation id the script named."""
        found = _RESERVATION_CLOSED.search(self.detail)
        return found.group(1) if found else None

    @property
    def status(self) -> str | None:
        """Return how the reservation ended: confirmed, cancelled or expired."""
        found = _RESERVATION_CLOSED.search(self.detail)
        return found.group(2) if found else None


class ReservationExistsError(ScriptReplyError):
    """A reservation id was reused for other items (code ``RESERVATION_EXISTS``).

    A reserve re-sent with the same id and items is a replay and succeeds; only a
    different cart under a taken id is refused.
    """


class CounterOverflowError(ScriptReplyError, OverflowError):
    """An increment would take a counter past 2^63-1 (code ``COUNTER_OVERFLOW``).

    Nothing changed: the script refuses before its first write.
    """


class ServerError(RedluaError):
    """The server refused or failed a command; ``code`` is the reply's first word."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "ERR",
        script: str | None = None,
        line: int | None = None,
        source_line: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.script = script
        self.line = line
        self.source_line = source_line
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = self.message
        if self.script is not None:
            where = f"script {self.script}"
            if self.line is not None:
                where += f", line {self.line}"
            text = f"{text} ({where})"
        if self.source_line is not None:
            text += f"\n    {self.line} | {self.source_line.strip()}"
        return text


class ServerBusyError(ServerError):
    """BUSY: the server is running a script past its time limit and refuses commands."""


class ScriptError(ServerError):
    """The script raised while running; writes made before the error were kept."""


class ScriptCompileError(ScriptError, ValueError):
    """The script's source does not compile."""


class ScriptKilledError(ScriptError):
    """The script was stopped by ``SCRIPT KILL`` (it had written nothing)."""


class LockLostError(RedluaError):
    """A lock this owner held was found gone or taken by another owner.

    Raised by ``assert_held()`` (and by nesting a lost reentrant hold) once a renewal
    or an extend learned it from the server, or once its ttl ran out unrenewed; the
    work the lock guarded may overlap another holder's.
    """


class NoPodAvailableError(RedluaError):
    """No pod of the service is alive, ready and below its capacity: a new UID has nowhere to go."""


class PodUnavailableError(RedluaError):
    """A UID is linked to a pod that is not routable, and the dead-pod policy keeps the link."""

    def __init__(self, uid: str, service: str, pod: int, why: str) -> None:
        self.uid = uid
        self.service = service
        self.pod = pod
        super().__init__(f"uid {uid!r} of service {service!r} is linked to pod {pod}, {why}")


class CrossLedgerError(RedluaError, ValueError):
    """Accounts of two ledgers were used together; nothing was sent.

    A ledger keeps all its keys under one hash tag, so one script moves money
    atomically within it. Across ledgers (hash slots) no script can: that needs a
    saga, a transfer out and a transfer in with compensation on failure.
    """


class TransactionConflictError(RedluaError):
    """Every attempt lost to a concurrent writer: nothing was committed.

    ``what`` names the operation, ``keys`` the watched keys (or the record's key) and
    ``attempts`` how many tries were made, each refused because a watched key (or the
    record's version) changed between the read and the write.
    """

    def __init__(self, what: str, keys: tuple[str | bytes, ...], attempts: int) -> None:
        self.what = what
        self.keys = keys
        self.attempts = attempts
        shown = ", ".join(repr(k) for k in keys[:4]) + (", ..." if len(keys) > 4 else "")
        super().__init__(
            f"{what}: {attempts} attempt{'s' if attempts != 1 else ''} in a row lost to a "
            f"concurrent writer of {shown}; nothing was committed"
        )


class ConnectionFailedError(RedluaError):
    """No connection to the server could be made; the script was not sent."""


class OutcomeUnknownError(RedluaError):
    """The request was sent but no reply came (timeout, dropped connection).

    The script may have run zero, one time, or (for an earlier client) more; redlua
    does not re-send a script that is not declared idempotent. ``script`` names it.
    """

    def __init__(self, script: str, cause: BaseException) -> None:
        self.script = script
        self.cause = cause
        super().__init__(
            f"script {script} was sent but its outcome is unknown "
            f"({type(cause).__name__}: {cause}); it was not retried"
        )


# Codes our scripts return with redis.error_reply('CODE detail'). Server codes
# (NOSCRIPT, BUSY, MOVED, ...) must never appear here: the engine acts on those.
_BY_CODE: dict[str, type[ScriptReplyError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "CORRUPT_DATA": CorruptDataError,
    "STALE_INCARNATION": StaleIncarnationError,
    "NOT_OWNER": NotOwnerError,
    "ACCOUNT_NOT_FOUND": AccountNotFoundError,
    "ACCOUNT_EXISTS": AccountExistsError,
    "ACCOUNT_INACTIVE": AccountInactiveError,
    "ACCOUNT_NOT_EMPTY": AccountNotEmptyError,
    "CURRENCY_MISMATCH": CurrencyMismatchError,
    "INSUFFICIENT_FUNDS": InsufficientFundsError,
    "IDEMPOTENCY_CONFLICT": IdempotencyConflictError,
    "HOLD_NOT_FOUND": HoldNotFoundError,
    "HOLD_NOT_PENDING": HoldNotPendingError,
    "PRODUCT_NOT_FOUND": ProductNotFoundError,
    "RESERVATION_NOT_FOUND": ReservationNotFoundError,
    "RESERVATION_CLOSED": ReservationClosedError,
    "RESERVATION_EXISTS": ReservationExistsError,
    "COUNTER_OVERFLOW": CounterOverflowError,
}

_SERVER_CODES = frozenset(
    {
        "ERR", "WRONGTYPE", "NOSCRIPT", "BUSY", "NOTBUSY", "UNKILLABLE", "LOADING", "MOVED",
        "ASK", "TRYAGAIN", "CLUSTERDOWN", "CROSSSLOT", "READONLY", "MASTERDOWN", "NOREPLICAS",
        "OOM", "NOPERM", "NOAUTH", "WRONGPASS", "EXECABORT", "NOPROTO", "MISCONF",
    }
)  # fmt: skip


def register_error_code(code: str, cls: type[ScriptReplyError]) -> None:
    """Map *code*, returned by a user script's ``error_reply``, to *cls*."""
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", code):
        raise ValueError(f"code must be UPPER_SNAKE, got {code!r}")
    if code in _SERVER_CODES:
        raise ValueError(f"code {code!r} is a server error code; choose another")
    if not (isinstance(cls, type) and issubclass(cls, ScriptReplyError)):
        raise TypeError("cls must be a subclass of ScriptReplyError")
    _BY_CODE[code] = cls


class LuaErrorInfo(NamedTuple):
    """What an error reply says once taken apart (see `parse_lua_error`)."""

    kind: str  # "compile", "runtime", "command", "reply", "killed" or "server"
    code: str  # first word: ERR, WRONGTYPE, INVALID_ARGUMENT, ...
    message: str  # the message without prefixes and the "script: <sha>" suffix
    line: int | None  # line in the script, when the server names one
    sha: str | None  # the script's sha1, when the server names it
    category: str | None  # for Lua runtime errors: arithmetic, index, call, ...


_SUFFIX = re.compile(r"\s*script: ([0-9a-fA-F]{40}), on @user_script:(\d+)\.?\s*$")
_COMPILE = re.compile(
    r"^ERR Error compiling script \(new function\): user_script:(\d+): (.*)$", re.S
)
_RUNTIME = re.compile(r"^ERR user_script:(\d+): (.*)$", re.S)
_LEGACY = re.compile(  # Redis 6.2 wraps the errors of redis.call
    r"^ERR Error running script \(call to f_([0-9a-f]{40})\): @user_script:(\d+): (.*)$", re.S
)
_KILLED = re.compile(r"^(?:ERR )?Script killed by user with SCRIPT KILL")
_CATEGORIES = (
    ("attempt to perform arithmetic", "arithmetic"),
    ("attempt to index", "index"),
    ("attempt to call", "call"),
    ("attempt to concatenate", "concatenate"),
    ("attempt to compare", "compare"),
    ("nonexistent global variable", "global"),
    ("Attempt to modify a readonly table", "readonly"),
    ("stack overflow", "stack"),
)


def _category(message: str) -> str | None:
    return next((name for needle, name in _CATEGORIES if needle in message), None)


def parse_lua_error(reply: str) -> LuaErrorInfo:
    """Take apart an error reply from EVAL/EVALSHA/SCRIPT LOAD (Redis 6.2, 7.x, Valkey)."""
    text = reply.strip()
    sha: str | None = None
    line: int | None = None
    suffix = _SUFFIX.search(text)
    if suffix:
        sha, line = suffix.group(1).lower(), int(suffix.group(2))
        text = text[: suffix.start()]
    if m := _COMPILE.match(text):
        return LuaErrorInfo("compile", "ERR", m.group(2), int(m.group(1)), sha, "syntax")
    if m := _LEGACY.match(text):  # Redis 6.2 wraps redis.call errors
        inner = m.group(3)
        if _KILLED.match(inner):
            return LuaErrorInfo("killed", "ERR", inner, int(m.group(2)), m.group(1), None)
        code = inner.split(" ", 1)[0]
        kind, code = ("command", code) if code.isupper() else ("runtime", "ERR")
        return LuaErrorInfo(kind, code, inner, int(m.group(2)), m.group(1), _category(inner))
    if _KILLED.match(text):
        return LuaErrorInfo("killed", "ERR", text[4:], line, sha, None)
    if m := _RUNTIME.match(text):
        msg = m.group(2)
        return LuaErrorInfo("runtime", "ERR", msg, int(m.group(1)), sha, _category(msg))
    code, _, rest = text.partition(" ")
    if suffix:  # a failing redis.call, or error({err=...}) raised by the script
        kind = "reply" if code in _BY_CODE else "command"
        return LuaErrorInfo(kind, code, text, line, sha, None)
    kind = "reply" if code in _BY_CODE else "server"
    return LuaErrorInfo(kind, code, rest if kind == "reply" else text, None, None, None)


def from_reply(reply: str, *, script: str | None = None, source: str | None = None) -> RedluaError:
    """Turn a server error reply into the matching redlua exception.

    *script* names the script that was called and *source* is the text that was
    loaded, so a Lua error can show the line it happened on.
    """
    info = parse_lua_error(reply)
    if info.kind == "reply":
        detail = info.message
        if detail.startswith(info.code):
            detail = detail[len(info.code) :].strip()
        return _BY_CODE[info.code](detail, code=info.code, script=script)
    source_line = None
    if source is not None and info.line is not None:
        lines = source.splitlines()
        if 0 < info.line <= len(lines):
            source_line = lines[info.line - 1]
    cls: type[ServerError] = {
        "compile": ScriptCompileError,
        "runtime": ScriptError,
        "command": ScriptError,
        "killed": ScriptKilledError,
    }.get(info.kind, ServerError)
    if info.kind == "server" and info.code == "BUSY":
        cls = ServerBusyError
    return cls(
        info.message,
        code=info.code,
        script=script,
        line=info.line,
        source_line=source_line,
    )
