"""`debug_script`: run one script and say what happened, where, and what it logged.

A run returns a `DebugResult`: the reply, the round-trip duration and, when the
script failed, the exception redlua would raise, its type, code, message, line
number and the source line, as the engine reports them (through
`redlua.parse_lua_error`); a script that does not compile fails the same way,
with the compiler's line.

With ``debug=True`` the script's log lines come back to the caller. The source
is wrapped before it is loaded (see `debug_source`): the wrapper defines a
``log(...)`` function and a local ``redis`` table whose ``log`` both writes to the
server log, as before, and appends ``[level] message`` to a Lua table; every
other field of that local ``redis`` is the real one. The user's code runs as a
function under ``xpcall``, and the script returns the log table with the result
or with the error. The whole prefix is written on the script's first line (after
a shebang line, if any, which must stay first) and nothing is added before the
user's code, so every line number in errors and logs is the user's own. The
error handler runs where the error was raised and finds the line there, so a
failing ``redis.call`` reports its line as it does without the wrapper. Logs are
capped at `MAX_LOG_LINES` lines of `MAX_LOG_CHARS` characters.

``log`` exists only in debug mode; ``redis.log`` works in both.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from redlua._core import Call
from redlua._engine_core import reply_text
from redlua._script import Script
from redlua.errors import (
    ContractError,
    CrossSlotError,
    RedluaError,
    ScriptCompileError,
    ScriptReplyError,
    ServerError,
    UnknownScriptError,
    from_reply,
)
from redlua.ops._info import text
from redlua.ops._resolve import DEFAULT_NAME, resolve_script

MAX_LOG_LINES = 1000
MAX_LOG_CHARS = 2000

_PREFIX = (
    (
        "local __rl_log, __rl_n, __rl_real = {}, 0, redis "
        "local function log(...) __rl_n = __rl_n + 1 if __rl_n <= @LINES@ then "
        "local p = {} for i = 1, select('#', ...) do p[i] = tostring((select(i, ...))) end "
        "__rl_log[__rl_n] = string.sub(table.concat(p, ' '), 1, @CHARS@) end end "
        "local __rl_levels = {[__rl_real.LOG_DEBUG] = 'debug', "
        "[__rl_real.LOG_VERBOSE] = 'verbose', [__rl_real.LOG_NOTICE] = 'notice', "
        "[__rl_real.LOG_WARNING] = 'warning'} "
        "local redis = setmetatable({log = function(level, ...) __rl_real.log(level, ...) "
        "log('[' .. (__rl_levels[level] or tostring(level)) .. ']', ...) end}, "
        "{__index = __rl_real}) "
        "local function __rl_where(level) local _, m = pcall(error, '', level) return m end "
        "local function __rl_fail(e) local where = __rl_where(4) "
        "if where == '' then where = __rl_where(5) end "
        "local line = tonumber(string.match(where, ':(%d+):')) or 0 "
        "if type(e) == 'table' then return {'t', line, tostring(e.err)} end "
        "return {'s', line, tostring(e)} end "
        "local __rl_ok, __rl_res = xpcall(function(...) "
    )
    .replace("@LINES@", str(MAX_LOG_LINES))
    .replace("@CHARS@", str(MAX_LOG_CHARS))
)
_SUFFIX = (
    "\nend, __rl_fail) local __rl_dropped = math.max(0, __rl_n - @LINES@) "
    "if __rl_ok then return {1, __rl_log, __rl_dropped, __rl_res} end "
    "return {0, __rl_log, __rl_dropped, __rl_res[1], __rl_res[2], __rl_res[3]}\n"
).replace("@LINES@", str(MAX_LOG_LINES))


def debug_source(source: str) -> str:
    """Return *source* wrapped so that its log lines come back with its reply.

    The wrapped script returns ``{1, logs, dropped, result}`` or
    ``{0, logs, dropped, kind, line, message}``; every line of *source* keeps its number.
    """
    if source.startswith("#!"):
        shebang, newline, body = source.partition("\n")
        return (
            shebang + "\n" + _PREFIX + body + _SUFFIX
            if newline
            else source + "\n" + _PREFIX + _SUFFIX
        )
    return _PREFIX + source + _SUFFIX


@dataclass(frozen=True)
class DebugResult:
    """What one run of a script did. ``duration`` is the round trip in seconds.

    On failure ``error`` is the exception redlua would have raised and
    ``error_type``, ``code``, ``message``, ``line`` and ``source_line`` take it
    apart (``line`` is None when the server names none, e.g. for an
    ``error_reply`` returned as a value). ``logs`` holds the lines logged in
    debug mode.
    """

    script: str
    sha: str
    ok: bool
    result: Any = None
    duration: float | None = None
    debug: bool = False
    logs: tuple[str, ...] = ()
    logs_dropped: int = 0
    error: RedluaError | None = field(default=None, compare=False)
    error_type: str | None = None
    code: str | None = None
    message: str | None = None
    line: int | None = None
    source_line: str | None = None

    def raise_for_error(self) -> None:
        """Raise the run's exception, if it failed."""
        if self.error is not None:
            raise self.error

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-safe values (bytes as text, errors as their message)."""
        return {
            "script": self.script,
            "sha": self.sha,
            "ok": self.ok,
            "result": json_safe(self.result),
            "duration": self.duration,
            "debug": self.debug,
            "logs": list(self.logs),
            "logs_dropped": self.logs_dropped,
            "error_type": self.error_type,
            "code": self.code,
            "message": self.message,
            "line": self.line,
            "source_line": self.source_line,
        }


def json_safe(value: Any) -> Any:
    """Return a script reply with bytes as text, lists as lists and errors as strings."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


@dataclass(frozen=True)
class Plan:
    """One debugging run, decided before any I/O: the script, the call, what to validate."""

    script: Script
    call: Call[Any]
    debug: bool
    validate: str | None  # source to SCRIPT LOAD first (debug mode), else None


def plan_run(
    engine: Any,
    script: object,
    keys: Iterable[Any],
    args: Iterable[Any],
    *,
    debug: bool,
    name: str,
) -> Plan:
    """Check the inputs and build the call; raise before any I/O when they are bad."""
    if not isinstance(debug, bool):
        raise TypeError(f"debug must be a bool, not {type(debug).__name__}")
    chosen = resolve_script(engine, script, name)
    keys, args = tuple(keys), tuple(args)
    if not debug:
        return Plan(chosen, Call(chosen, keys, args), False, None)
    wrapped = Script(chosen.name + ".debug", debug_source(chosen.source), chosen.contract)
    return Plan(chosen, Call(wrapped, keys, args), True, engine.body(chosen))


def compile_failure(plan: Plan, validation: Any) -> DebugResult:
    """Return the result of a script that the server would not compile."""
    info = validation.error
    error = ScriptCompileError(
        info.message, code=info.code, script=plan.script.name, line=info.line,
        source_line=validation.source_line,
    )  # fmt: skip
    return failure(plan, error, None)


def failure(
    plan: Plan, error: RedluaError, duration: float | None, logs: tuple[str, ...] = (),
    dropped: int = 0,
) -> DebugResult:  # fmt: skip
    """Return the result of a run that failed with *error*."""
    if isinstance(error, (ContractError, CrossSlotError, UnknownScriptError)):
        raise error  # bad input, not a script failure
    code: str | None = None
    message = str(error)
    line = source_line = None
    if isinstance(error, ServerError):
        code, message, line, source_line = error.code, error.message, error.line, error.source_line
    elif isinstance(error, ScriptReplyError):
        code, message = error.code, error.detail
    return DebugResult(
        script=plan.script.name, sha=plan.script.sha, ok=False, duration=duration,
        debug=plan.debug, logs=logs, logs_dropped=dropped, error=error,
        error_type=type(error).__name__, code=code, message=message, line=line,
        source_line=source_line,
    )  # fmt: skip


def finish(plan: Plan, reply: Any, duration: float) -> DebugResult:
    """Return the result of a run that got *reply* (the wrapped reply in debug mode)."""
    script = plan.script
    if not plan.debug:
        return DebugResult(script.name, script.sha, True, reply, duration)
    logs = tuple(text(line) for line in reply[1])
    dropped = int(reply[2])
    if int(reply[0]) == 1:
        result = reply[3] if len(reply) > 3 else None
        if isinstance(result, ResponseError):  # the script returned redis.error_reply(...)
            error = from_reply(reply_text(result), script=script.name, source=script.source)
            return failure(plan, error, duration, logs, dropped)
        return DebugResult(script.name, script.sha, True, result, duration, True, logs, dropped)
    kind, line, message = text(reply[3]), int(reply[4]), text(reply[5])
    reply_line = message if kind == "t" else f"ERR {message}"
    if line > 0:
        reply_line += f" script: {script.sha}, on @user_script:{line}."
    error = from_reply(reply_line, script=script.name, source=script.source)
    return failure(plan, error, duration, logs, dropped)


# -- the two faces -----------------------------------------------------------------------------


def debug_script(
    engine: Any,
    script: Script | str,
    keys: Iterable[Any] = (),
    args: Iterable[Any] = (),
    *,
    debug: bool = False,
    name: str = DEFAULT_NAME,
) -> DebugResult:
    """Run *script* (a name, Lua source or a `Script`) once on an `Engine` and report.

    A script failure is in the result, not raised; bad input (keys or args that
    break the script's contract, an unknown name) raises before any I/O. With
    *debug* the script's ``log(...)`` and ``redis.log`` lines come back in ``logs``.
    Source text is named *name*.
    """
    plan = plan_run(engine, script, keys, args, debug=debug, name=name)
    if plan.validate is not None:
        validation = engine.validate(plan.validate)
        if not validation.valid:
            return compile_failure(plan, validation)
    started = time.perf_counter()
    try:
        reply = engine.run(plan.call)
    except RedluaError as exc:
        return failure(plan, exc, time.perf_counter() - started)
    return finish(plan, reply, time.perf_counter() - started)


async def async_debug_script(
    engine: Any,
    script: Script | str,
    keys: Iterable[Any] = (),
    args: Iterable[Any] = (),
    *,
    debug: bool = False,
    name: str = DEFAULT_NAME,
) -> DebugResult:
    """Run *script* (a name, Lua source or a `Script`) once on an `AsyncEngine` and report.

    A script failure is in the result, not raised; bad input (keys or args that
    break the script's contract, an unknown name) raises before any I/O. With
    *debug* the script's ``log(...)`` and ``redis.log`` lines come back in ``logs``.
    Source text is named *name*.
    """
    plan = plan_run(engine, script, keys, args, debug=debug, name=name)
    if plan.validate is not None:
        validation = await engine.validate(plan.validate)
        if not validation.valid:
            return compile_failure(plan, validation)
    started = time.perf_counter()
    try:
        reply = await engine.run(plan.call)
    except RedluaError as exc:
        return failure(plan, exc, time.perf_counter() - started)
    return finish(plan, reply, time.perf_counter() - started)
