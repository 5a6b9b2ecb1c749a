"""What `Engine` and `AsyncEngine` share: every decision, none of the I/O.

An engine runs an attempt (one EVALSHA on one connection) and hands the
`Outcome` to `EngineCore.plan`, which decides what happens next: done, raise,
reload the script, wait and try again, follow a redirect. The rules follow
which replies *prove* that the script did not run (see ``research/scripting.md``
§7): only those are retried, so a script never runs twice because a reply was
slow. The two engines are then the same loop, one with ``await``.
"""

from __future__ import annotations

import enum
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._core import Call, Key
from ._functions import PREFIX, FunctionLibrary, function_library, resolve_mode
from ._policy import Budget, RetryPolicy
from ._registry import Registry
from ._script import Script
from ._slots import common_slot
from ._stats import ScriptStats, Stats
from .errors import (
    ConnectionFailedError,
    CrossSlotError,
    OutcomeUnknownError,
    RedluaError,
    ScriptCompileError,
    from_reply,
)

T = TypeVar("T")

# Errors on the connection itself: before sending they prove nothing ran.
_LIBRARY = "library"  # the key of the function library in `EngineCore._loaded_at`
CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
ACQUIRE_ERRORS = (*CONNECTION_ERRORS, ResponseError)
"""What taking a connection may raise before anything is sent: a failed connect, or a
refusal during the handshake (BUSY or LOADING at SELECT, AUTH refused)."""

_CODE_OF: tuple[tuple[type[Exception], str], ...] = (
    (NoScriptError, "NOSCRIPT"),
    (BusyLoadingError, "LOADING"),
    (MovedError, "MOVED"),
    (AskError, "ASK"),
    (TryAgainError, "TRYAGAIN"),
    (ReadOnlyError, "READONLY"),
    (ClusterDownError, "CLUSTERDOWN"),
)
# Replies that prove the script did not run and that time may cure.
_WAIT_CODES = frozenset({"TRYAGAIN", "CLUSTERDOWN", "LOADING", "BUSY", "MASTERDOWN"})
# FCALL refused before it ran: a server without functions, an ACL user without FCALL.
_NO_FCALL = re.compile(r"unknown command [`'](fcall|fcall_ro)[`']", re.I)
_FCALL_DENIED = re.compile(r"^NOPERM .*run the '(fcall|fcall_ro)' command")
_NOT_FOUND = "ERR Function not found"
# How long a functions engine runs EVALSHA after FUNCTION LOAD was refused (NOPERM, OOM)
# before it tries functions again; a server without FCALL is given up for good.
FALLBACK_PAUSE = 30.0


def reply_text(exc: RedisError) -> str:
    """Return the server's error reply as sent: code first, as redis-py strips it."""
    text = str(exc)
    code = getattr(exc, "status_code", None)
    if code is None:
        code = next((c for cls, c in _CODE_OF if isinstance(exc, cls)), None)
    if code and not text.startswith(code):
        return f"{code} {text}"
    return text


class Outcome(NamedTuple):
    """What one attempt produced: a reply, or an exception and whether it was sent."""

    reply: Any = None
    error: BaseException | None = None
    sent: bool = True


class Act(enum.Enum):
    """What the engine does after an attempt."""

    DONE = "done"
    RAISE = "raise"
    RELOAD = "reload"  # SCRIPT LOAD on the node, then send again
    RETRY = "retry"  # wait `delay` (maybe 0), refresh the topology if asked, send again
    ASK = "ask"  # send again to `node_addr` after ASKING


@dataclass(frozen=True)
class Step:
    """The decision `EngineCore.plan` takes after an attempt."""

    act: Act
    reply: Any = None
    error: BaseException | None = None
    delay: float = 0.0
    refresh: bool = False
    node_addr: tuple[str, int] | None = None
    library: bool = False  # RELOAD: FUNCTION LOAD the library rather than SCRIPT LOAD
    scripts: bool = False  # RETRY: send this call by EVALSHA from now on (not FCALL)


class EngineCore:
    """State and decisions shared by the sync and async engines.

    *mode* is ``"scripts"`` (EVALSHA for every call) or ``"functions"`` (FCALL for
    the shipped scripts, from the generated library; EVALSHA for the others); None
    reads it from the ``REDLUA_MODE`` environment variable, ``"scripts"`` when unset.
    """

    cluster: bool = False
    _pipe: Any = None  # AsyncEngine's auto-pipeline; the sync engine sends each call itself

    def __init__(self, *, retry: RetryPolicy | None = None, mode: str | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self.registry = Registry()
        self.mode = resolve_mode(mode)
        self._stats = Stats()
        self._legacy = False  # the server does not understand shebangs (Redis < 7)
        self._no_ro = False  # the server has no EVALSHA_RO (Redis < 7)
        self._loaded: set[tuple[str, str]] = set()  # (node, sha) this engine loaded
        # Every successful load gets the next number; a call notes the newest before it is
        # sent, so a NOSCRIPT for a call sent before a load of its script on its node needs
        # no load of its own (a burst of NOSCRIPT that did not land at once: one load).
        self.load_mark = 0
        self._loaded_at: dict[tuple[str, str], int] = {}
        self._marks = threading.Lock()
        self._shebangs: bool | None = None  # known once a script with a shebang was loaded
        self._library = function_library() if self.mode == "functions" else None
        # script sha -> function name while FCALL is in use; None in scripts mode or fallen back
        self._functions: Mapping[str, str] | None = (
            None if self._library is None else self._library.by_sha
        )
        self._resume_at: float | None = None  # when a passing fallback ends
        self._fallback: str | None = None

    # -- scripts ---------------------------------------------------------------------------

    def register(self, name: str, source: Any) -> Script:
        """Register a script (source text, `pathlib.Path` or `Script`) under *name*."""
        return self.registry.register(name, source)

    def call(self, name: str, keys: Iterable[Key] = (), args: Iterable[Any] = ()) -> Call[Any]:
        """Build a `Call` of the script registered or shipped under *name*."""
        return Call(self.registry.get(name), tuple(keys), tuple(args))

    def stats(self) -> dict[str, ScriptStats]:
        """Return per-script figures: calls, errors, reloads, retries, latency percentiles."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Forget every script figure."""
        self._stats.reset()

    def body(self, script: Script) -> str:
        """Return the text to SCRIPT LOAD for *script* on this server."""
        return script.legacy_source if self._legacy else script.source

    def command(self, call: Call[Any], *, scripts: bool = False) -> tuple[Any, ...]:
        """Return the FCALL, FCALL_RO, EVALSHA or EVALSHA_RO command of *call*.

        FCALL when the script is a function of the library in use, unless *scripts*.
        """
        script = call.script
        if call.cross_slot and self.cluster:
            raise CrossSlotError(
                f"script {script.name}: this call's keys are in several hash slots "
                "(a legacy key layout); it can only run on a standalone server"
            )
        if not scripts and (self._functions is not None or self._resume_at is not None):
            function = self.function_of(script)
            if function is not None:
                name = "FCALL_RO" if script.read_only else "FCALL"
                return (name, function, len(call.keys), *call.keys, *call.args)
        if self._legacy:
            return ("EVALSHA", script.legacy_sha, len(call.keys), *call.keys, *call.args)
        name = "EVALSHA_RO" if script.read_only and not self._no_ro else "EVALSHA"
        return (name, script.sha, len(call.keys), *call.keys, *call.args)

    def on_load_error(self, script: Script, exc: RedisError, sent: str) -> bool:
        """Decide after SCRIPT LOAD of *sent* failed: True to load again (legacy body), else raise.

        Decided on the body that was sent, not on the engine's flag: threads that
        loaded the shebang body at once all get to retry, whichever flipped the flag.
        """
        text = reply_text(exc)
        if sent.startswith("#!") and "near '#'" in text:
            self._legacy = True  # Redis 6: no shebangs; blank the line, keep numbering
            self._shebangs = False
            return True
        error = from_reply(text, script=script.name, source=self.body(script))
        if not isinstance(error, ScriptCompileError):
            error = ScriptCompileError(text, code="ERR", script=script.name)
        raise error from None

    def missing(self, node: str, calls: Iterable[Call[Any]]) -> list[Script]:
        """Return the scripts of *calls* this engine has not loaded on *node* yet.

        Functions are not among them: the library is there until FCALL says otherwise.
        """
        wanted = {c.script.sha: c.script for c in calls}
        return [
            s
            for sha, s in wanted.items()
            if (node, self.loaded_sha(s)) not in self._loaded and self.function_of(s) is None
        ]

    def note_loaded(self, node: str, script: Script) -> None:
        """Remember that *script* is loaded on *node* (until a NOSCRIPT says otherwise)."""
        self._loaded.add((node, self.loaded_sha(script)))
        self._mark((node, self.loaded_sha(script)))
        if script.source.startswith("#!"):
            self._shebangs = not self._legacy

    def shebang_unknown(self, calls: list[Call[Any]]) -> list[Script]:
        """Return one shebang script of *calls* while shebang support is still unknown.

        A transaction cannot find out by itself: its SCRIPT LOAD would fail inside
        EXEC, after the other calls ran. One plain SCRIPT LOAD first settles it.
        """
        if self._shebangs is not None or self.atomic_functions(calls):
            return []
        return next(([c.script] for c in calls if c.script.source.startswith("#!")), [])

    def note_loads(
        self, node: str, loads: list[tuple[Script, str]], outcomes: list[Outcome]
    ) -> dict[str, BaseException]:
        """Record the SCRIPT LOAD replies that led a batch; return failures by script sha."""
        failed: dict[str, BaseException] = {}
        for (script, sent), out in zip(loads, outcomes, strict=True):
            if out.error is None:
                self.note_loaded(node, script)
            elif isinstance(out.error, ResponseError):
                try:
                    self.on_load_error(script, out.error, sent)  # True: the legacy body next
                except RedluaError as exc:
                    failed[script.sha] = exc
        return failed

    def note_library(self, node: str) -> None:
        """Remember that the function library was just loaded on *node*."""
        self._mark((node, _LIBRARY))

    def _mark(self, key: tuple[str, str]) -> None:
        with self._marks:  # the newest mark never goes back
            self.load_mark += 1
            self._loaded_at[key] = self.load_mark

    def loaded_since(self, node: str, script: Script | None, mark: int) -> bool:
        """Tell whether *script* (None: the function library) was loaded on *node* after
        *mark*, the `load_mark` noted before a call was sent: then its NOSCRIPT is healed."""
        key = (node, _LIBRARY if script is None else self.loaded_sha(script))
        return self._loaded_at.get(key, 0) > mark

    def forget(self, node: str, script: Script) -> None:
        """Forget that *script* is loaded on *node* (it got NOSCRIPT there)."""
        self._loaded.discard((node, self.loaded_sha(script)))

    @staticmethod
    def batch_slot(calls: list[Call[Any]]) -> int | None:
        """Return the one slot of an atomic batch, raising `CrossSlotError` otherwise."""
        keys = [call.keys[0] for call in calls if call.keys]
        return common_slot(keys)

    # -- decisions -------------------------------------------------------------------------

    def plan(self, call: Call[Any], out: Outcome, budget: Budget) -> Step:
        """Decide what follows an attempt of *call* that ended in *out*."""
        if out.error is None:
            return Step(Act.DONE, reply=out.reply)
        exc = out.error
        name = call.script.name
        if not out.sent:
            return self._wait_or(budget, self.not_sent(f"script {name}", exc), exc)
        if isinstance(exc, (ResponseError, BusyLoadingError)):
            return self._plan_reply(call, exc, budget)
        if isinstance(exc, CONNECTION_ERRORS):
            if call.script.idempotent and budget.resend():
                self._stats.count(name, "retries")
                return Step(Act.RETRY, delay=budget.wait() or 0.0, refresh=self.cluster)
            self._stats.count(name, "outcome_unknown")
            return Step(Act.RAISE, error=OutcomeUnknownError(name, exc))
        return Step(Act.RAISE, error=exc)

    def _plan_reply(self, call: Call[Any], exc: RedisError, budget: Budget) -> Step:
        text = self.text_of(exc)
        code = text.split(" ", 1)[0]
        name = call.script.name
        if code == "NOSCRIPT":
            if budget.reload():
                self._stats.count(name, "reloads")
                return Step(Act.RELOAD)
        elif text.startswith(_NOT_FOUND):  # as NOSCRIPT: the library is not on that node
            if budget.reload():
                self._stats.count(name, "reloads")
                return Step(Act.RELOAD, library=True)
        elif self.functions_refused(text):
            return Step(Act.RETRY)  # nothing ran: EVALSHA from now on
        elif "unknown command" in text.lower() and "evalsha_ro" in text.lower():
            self._no_ro = True  # proves nothing ran; plain EVALSHA from now on
            return Step(Act.RETRY)
        elif code in ("MOVED", "ASK"):
            if budget.redirect():
                self._stats.count(name, "retries")
                if isinstance(exc, AskError):
                    return Step(Act.ASK, node_addr=(exc.host, int(exc.port)))
                return Step(Act.RETRY, refresh=True)
        elif code in _WAIT_CODES or (code == "READONLY" and " script: " not in text):
            self._stats.count(name, "retries")
            refresh = self.cluster and code != "LOADING"
            return self._wait_or(budget, self.error(call, text), exc, refresh=refresh)
        elif code == "OOM" and self.oom_as_script(call, text) and budget.redirect():
            self._stats.count(name, "retries")
            return Step(Act.RETRY, scripts=True)
        return Step(Act.RAISE, error=self.error(call, text))

    def oom_as_script(self, call: Call[Any], text: str) -> bool:
        """True when OOM refused an FCALL that EVALSHA of the same script would run.

        A function without ``allow-oom`` or ``no-writes`` is refused before it runs
        when memory is full. A script without a shebang is not: the server checks its
        commands up to its first write, so one that frees memory first still runs.
        Sent by EVALSHA, such a call behaves as in scripts mode.
        """
        return (
            " script: " not in text
            and not call.script.source.startswith("#!")
            and self.function_of(call.script) is not None
        )

    def _wait_or(
        self, budget: Budget, error: RedluaError, cause: BaseException, *, refresh: bool = False
    ) -> Step:
        delay = budget.wait()
        if delay is None:
            error.__cause__ = cause
            return Step(Act.RAISE, error=error)
        return Step(Act.RETRY, delay=delay, refresh=refresh or self.cluster)

    def error(self, call: Call[Any], text: str) -> RedluaError:
        """Return the exception for error reply *text* of *call*."""
        return from_reply(text, script=call.script.name, source=self.body(call.script))

    def not_sent(self, what: str, exc: BaseException) -> ConnectionFailedError:
        """Return the error for a call that never reached the server."""
        error = ConnectionFailedError(f"{what}: {exc}")
        error.__cause__ = exc
        return error

    # -- atomic batches (MULTI/EXEC) ------------------------------------------------------

    def atomic_functions(self, batch: list[Call[Any]]) -> bool:
        """True when every call of *batch* is a function of the library in use."""
        return self._functions is not None and all(self.function_of(c.script) for c in batch)

    def atomic_commands(self, batch: list[Call[Any]]) -> list[tuple[Any, ...]]:
        """Return MULTI, a SCRIPT LOAD per script, the EVALSHAs and EXEC.

        Loading inside the transaction means no NOSCRIPT can split it: a flush
        between a separate load and EXEC would let the other commands commit.
        A batch made only of library functions needs no load: MULTI, the FCALLs,
        EXEC. A library is loaded and deleted whole and nothing runs between the
        commands of EXEC, so its FCALLs find their functions all or none: a
        missing library never splits the transaction either. A batch that mixes
        functions with other scripts runs them all as scripts.
        """
        if self.atomic_functions(batch):
            return [("MULTI",), *(self.command(c) for c in batch), ("EXEC",)]
        scripts = {c.script.sha: c.script for c in batch}.values()
        return [
            ("MULTI",),
            *(("SCRIPT", "LOAD", self.body(s)) for s in scripts),
            *(self.command(c, scripts=True) for c in batch),
            ("EXEC",),
        ]

    def plan_atomic(self, batch: list[Call[Any]], outcomes: list[Outcome], budget: Budget) -> Step:
        """Decide what follows one MULTI/EXEC attempt of *batch* (one outcome per command)."""
        names = ", ".join(sorted({c.script.name for c in batch}))
        what = f"MULTI/EXEC of {len(batch)} calls ({names})"
        out = next(
            (o for o in outcomes if not isinstance(o.error, (ResponseError, type(None)))), None
        )
        if out is not None and out.error is not None:
            exc = out.error
            if not out.sent:
                return self._wait_or(budget, self.not_sent(what, exc), exc)
            if isinstance(exc, BusyLoadingError):
                return self._wait_or(budget, from_reply(reply_text(exc)), exc)
            for call in batch:
                self._stats.count(call.script.name, "outcome_unknown")
            return Step(Act.RAISE, error=OutcomeUnknownError(what, exc))
        replies = [o.reply if o.error is None else o.error for o in outcomes]
        result = replies[-1]
        if isinstance(result, ResponseError):  # EXECABORT: a command was refused when queued
            first = next((r for r in replies[:-1] if isinstance(r, ResponseError)), result)
            text = reply_text(first)
            code = text.split(" ", 1)[0]
            if "unknown command" in text.lower() and "evalsha_ro" in text.lower():
                self._no_ro = True  # nothing ran: EXECABORT discarded the whole transaction
                return Step(Act.RETRY)
            if self.functions_refused(text):
                return Step(Act.RETRY)  # nothing ran; the batch goes as scripts now
            if code in _WAIT_CODES or code in ("MOVED", "ASK", "READONLY"):
                return self._wait_or(budget, from_reply(text), first, refresh=True)
            return Step(Act.RAISE, error=from_reply(text))
        if not isinstance(result, list):
            return Step(Act.RAISE, error=from_reply(f"ERR transaction aborted: {result!r}"))
        values = result[len(replies) - 2 - len(batch) :]
        missing = all(isinstance(v, ResponseError) and _not_found(v) for v in values)
        if missing and budget.reload():  # all or none (see atomic_commands): nothing ran
            for call in batch:
                self._stats.count(call.script.name, "reloads")
            return Step(Act.RELOAD, library=True)
        return Step(Act.DONE, reply=[self._value(c, v) for c, v in zip(batch, values, strict=True)])

    def _value(self, call: Call[Any], reply: Any) -> Any:
        if isinstance(reply, ResponseError):
            return self.error(call, self.text_of(reply))
        return reply

    def record_batch(self, batch: list[Call[Any]], replies: list[Any], elapsed: float) -> None:
        """Count every call of a finished batch, each with the batch's round-trip time."""
        for call, reply in zip(batch, replies, strict=False):
            self._stats.record(call.script.name, elapsed, error=isinstance(reply, BaseException))

    # -- functions mode --------------------------------------------------------------------

    @property
    def library(self) -> FunctionLibrary | None:
        """The function library this engine calls in functions mode (None in scripts mode)."""
        return self._library

    @property
    def fallback(self) -> str | None:
        """Why a functions engine runs EVALSHA now (no FCALL, NOPERM, OOM), or None."""
        return self._fallback

    def function_of(self, script: Script) -> str | None:
        """Return the function that runs *script* now, or None to run it with EVALSHA."""
        functions = self._functions
        if functions is None:
            if self._resume_at is None or time.monotonic() < self._resume_at:
                return None
            functions = self._resume()
        return functions.get(script.sha)

    def _resume(self) -> Mapping[str, str]:
        assert self._library is not None  # only a functions engine pauses
        self._resume_at = self._fallback = None
        self._functions = self._library.by_sha
        return self._functions

    def fall_back(self, reason: str, *, pause: float | None = None) -> None:
        """Run EVALSHA instead of FCALL, for good or for *pause* seconds; *reason* says why."""
        if self._library is None:
            return
        self._fallback = reason
        self._functions = None
        self._resume_at = None if pause is None else time.monotonic() + pause

    def functions_refused(self, text: str) -> bool:
        """Fall back and return True when error *text* says FCALL cannot be used here.

        Both replies prove the call did not run: a server without FCALL (Redis < 7)
        gives up functions for good, an ACL user without FCALL for `FALLBACK_PAUSE`
        seconds (an administrator may grant it).
        """
        if _NO_FCALL.search(text):
            self.fall_back(f"the server has no FCALL (Redis < 7): {text}")
            return True
        if _FCALL_DENIED.match(text):
            self.fall_back(f"FCALL is not allowed: {text}", pause=FALLBACK_PAUSE)
            return True
        return False

    def on_library_error(self, exc: RedisError) -> None:
        """Decide after FUNCTION LOAD (or LIST) failed: fall back to EVALSHA, or raise.

        "Library … already exists" means another client loaded it first: done. A
        server without FUNCTION falls back for good; NOPERM (an ACL user without
        FUNCTION LOAD) and OOM (FUNCTION LOAD is refused when memory is full, FCALL of
        an ``allow-oom`` function would not be) for `FALLBACK_PAUSE` seconds. A
        compile error names the script it is in.
        """
        text = reply_text(exc)
        lower = text.lower()
        if "already exists" in lower and self._library is not None and self._library.name in text:
            return  # loaded meanwhile by another client
        if "unknown command" in lower or "unknown subcommand" in lower:
            self.fall_back(f"the server has no FUNCTION (Redis < 7): {text}")
            return
        if text.startswith(("NOPERM", "OOM")):
            self.fall_back(f"FUNCTION LOAD was refused: {text}", pause=FALLBACK_PAUSE)
            return
        found = self._library.compile_error(text) if self._library is not None else None
        if found is not None:
            script, translated = found
            raise from_reply(translated, script=script.name, source=script.source) from None
        raise from_reply(text) from None

    def text_of(self, exc: RedisError) -> str:
        """Return the reply text of *exc*, a function's lines and name made the script's."""
        text = reply_text(exc)
        return text if self._library is None else self._library.translate(text)

    def library_installed(self, listed: Any) -> bool:
        """True when FUNCTION LIST LIBRARYNAME <ours> WITHCODE shows our exact library."""
        assert self._library is not None
        for entry in listed or ():
            info = _as_dict(entry)
            if info.get("library_name") == self._library.name:
                return info.get("library_code") == self._library.source
        return False

    @staticmethod
    def library_names(listed: Any) -> list[str]:
        """Return the library names in a FUNCTION LIST reply."""
        return [str(_as_dict(entry).get("library_name")) for entry in listed or ()]

    # -- script management ----------------------------------------------------------------

    def loaded_sha(self, script: Script) -> str:
        """Return the SHA1 the server knows *script* by (the legacy body's on Redis 6)."""
        return script.legacy_sha if self._legacy else script.sha

    @staticmethod
    def kill_refused(exc: RedisError) -> bool:
        """Decide after SCRIPT KILL or FUNCTION KILL failed.

        True for NOTBUSY (nothing to kill), False for BUSY naming FUNCTION KILL (a
        function runs: FUNCTION KILL next); raise anything else (UNKILLABLE).
        """
        text = reply_text(exc)
        if text.startswith("NOTBUSY"):
            return True
        if text.startswith("BUSY") and "FUNCTION KILL" in text:
            return False
        raise from_reply(text) from None

    @staticmethod
    def library_gone(exc: RedisError) -> None:
        """Accept FUNCTION DELETE's "Library not found" (or no FUNCTION at all); raise the rest."""
        text = reply_text(exc)
        if "library not found" in text.lower() or "unknown command" in text.lower():
            return
        raise from_reply(text) from None

    @staticmethod
    def replace_library(budgets: Iterable[Budget]) -> bool:
        """True when a call still found no function after one library load: REPLACE then.

        The first load of a heal is a plain FUNCTION LOAD, which costs nothing when
        another client loaded the library meanwhile ("already exists"); a second miss
        means the library under our name is not ours (altered): it is replaced.
        """
        return any(b.reloads > 1 for b in budgets)

    def library_load(self, *, replace: bool = False) -> tuple[str, ...]:
        """Return FUNCTION LOAD (REPLACE) of this engine's library."""
        assert self._library is not None  # only a functions engine loads it
        return self._library.load_command(replace=replace)

    def library_list(self) -> tuple[str, ...]:
        """Return FUNCTION LIST of this engine's library, with its code."""
        assert self._library is not None
        return ("FUNCTION", "LIST", "LIBRARYNAME", self._library.name, "WITHCODE")

    @staticmethod
    def old_libraries(listed: Any) -> list[str]:
        """Return the redlua libraries of a FUNCTION LIST reply that this release does not use."""
        keep = function_library().name
        names = EngineCore.library_names(listed)
        return [n for n in names if n.startswith(PREFIX) and n != keep]

    def drop_waiting(
        self,
        batch: list[Call[Any]],
        again: list[int],
        waiting: list[int],
        error: BaseException,
        *,
        out: list[Any],
        elapsed: float,
    ) -> list[int]:
        """Give the calls of *waiting* *error* (their library did not load); return the rest."""
        for i in waiting:
            out[i] = error
            self._stats.record(batch[i].script.name, elapsed, error=True)
        gone = set(waiting)
        return [i for i in again if i not in gone]

    @staticmethod
    def wait_timeout(step: Any, conn: Any) -> str:
        """Return BLPOP's timeout for *step*: its seconds, below the connection's socket timeout."""
        seconds = float(step.seconds)
        limit = getattr(conn, "socket_timeout", None)
        if limit:
            seconds = min(seconds, max(0.01, float(limit) * 0.8))
        return f"{max(seconds, 0.001):.3f}"

    def decode_all(
        self, calls: list[Call[Any]], replies: list[Any], return_exceptions: bool
    ) -> list[Any]:
        """Decode each reply with its call's decoder; raise the first error unless asked not to."""
        results: list[Any] = []
        for call, reply in zip(calls, replies, strict=False):
            if isinstance(reply, BaseException):
                if not return_exceptions:
                    raise reply
                results.append(reply)
            else:
                results.append(call.decode(reply))
        return results


def _not_found(exc: RedisError) -> bool:
    return reply_text(exc).startswith(_NOT_FOUND)


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _as_dict(entry: Any) -> dict[str, Any]:
    """Return one FUNCTION LIST entry as a dict of str keys (RESP2 gives a flat list)."""
    if isinstance(entry, dict):
        pairs = list(entry.items())
    else:
        pairs = list(zip(entry[::2], entry[1::2], strict=True))
    return {str(_text(k)): _text(v) for k, v in pairs}
