"""`script_report`: the engine's per-script figures beside what the servers saw.

The engine counts every call it makes (``engine.stats()``: calls, errors,
reloads, retries, outcome-unknown and latency percentiles; ``engine.reset_stats()``
starts again). The servers count too, for every client: INFO commandstats has
the calls and time of EVALSHA, EVALSHA_RO, EVAL and FCALL, and SLOWLOG keeps the
slowest commands. The report puts the three side by side and names the slow
entries that are this engine's scripts, by matching the EVALSHA's sha against the
engine's registry (the shipped scripts and those registered on it).

Server figures are server-wide and are not reset by ``reset_stats``
(``CONFIG RESETSTAT`` and ``SLOWLOG RESET`` would reset them for every client).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from redlua._checks import finite
from redlua._engine_core import EngineCore
from redlua._functions import function_library
from redlua._stats import ScriptStats
from redlua.ops._info import as_float, as_int, more_count, parse_fields, parse_info, text
from redlua.ops._nodes import (
    Exchange,
    NodeRef,
    async_exchange,
    describe_error,
    exchange,
    is_cluster,
    nodes_of,
)
from redlua.ops.health import DEFAULT_TIMEOUT

SCRIPT_COMMANDS = ("evalsha", "evalsha_ro", "eval", "eval_ro", "fcall", "fcall_ro", "script|load")
"""The commands whose INFO commandstats the report shows (those the server has seen)."""
DEFAULT_SLOWLOG = 128
MAX_SLOWLOG = 10_000


@dataclass(frozen=True)
class CommandStat:
    """INFO commandstats of one command, summed over the primaries. Seconds."""

    command: str
    calls: int
    total: float
    per_call: float | None
    rejected_calls: int
    failed_calls: int

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-safe values."""
        return asdict(self)


@dataclass(frozen=True)
class SlowScript:
    """A SLOWLOG entry of a script call: which script, how long, with how many keys and args.

    ``script`` is the name this engine knows the sha by, or None for another
    client's script. ``args`` counts the script's ARGV (SLOWLOG keeps 32 arguments
    and says how many it dropped, so the count stays right).
    """

    node: str
    id: int
    started_at: int  # unix seconds
    duration: float  # seconds
    command: str
    sha: str
    script: str | None
    keys: int | None
    args: int | None
    client: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-safe values."""
        return asdict(self)


@dataclass(frozen=True)
class ScriptReport:
    """The engine's per-script figures, the servers' command figures and slow script calls."""

    scripts: dict[str, ScriptStats]
    commands: dict[str, CommandStat]
    slow: tuple[SlowScript, ...]
    errors: tuple[str, ...] = ()  # nodes that could not be asked, with the reason

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-safe values."""
        return {
            "scripts": {name: asdict(s) for name, s in self.scripts.items()},
            "commands": {name: c.to_dict() for name, c in self.commands.items()},
            "slow": [s.to_dict() for s in self.slow],
            "errors": list(self.errors),
        }


# -- the pure part -----------------------------------------------------------------------------


def report_commands(slowlog: int) -> list[tuple[Any, ...]]:
    """Return the commands sent to each primary."""
    return [("INFO", "commandstats"), ("SLOWLOG", "GET", slowlog)]


def command_stats(infos: list[Any]) -> dict[str, CommandStat]:
    """Sum the script commands' INFO commandstats over the replies of every primary."""
    sums: dict[str, list[float]] = {}
    for reply in infos:
        for key, value in parse_info(reply).items():
            name = key.removeprefix("cmdstat_")
            if name not in SCRIPT_COMMANDS:
                continue
            fields = parse_fields(value)
            row = sums.setdefault(name, [0, 0, 0, 0])
            row[0] += as_int(fields.get("calls")) or 0
            row[1] += as_float(fields.get("usec")) or 0.0
            row[2] += as_int(fields.get("rejected_calls")) or 0
            row[3] += as_int(fields.get("failed_calls")) or 0
    return {
        name: CommandStat(
            command=name,
            calls=int(calls),
            total=usec / 1e6,
            per_call=usec / 1e6 / calls if calls else None,
            rejected_calls=int(rejected),
            failed_calls=int(failed),
        )
        for name, (calls, usec, rejected, failed) in sorted(sums.items())
    }


def slow_scripts(node: str, reply: Any, names: dict[str, str]) -> list[SlowScript]:
    """Return the EVALSHA and FCALL entries of a raw SLOWLOG GET *reply*.

    *names* maps a sha (or a function name of the library) to the script's name.
    """
    found: list[SlowScript] = []
    if not isinstance(reply, list):
        return found
    for entry in reply:
        if not isinstance(entry, list) or len(entry) < 4 or not isinstance(entry[3], list):
            continue
        argv = [text(a) for a in entry[3]]
        if len(argv) < 3 or argv[0].lower() not in ("evalsha", "evalsha_ro", "fcall", "fcall_ro"):
            continue
        total = len(argv)
        dropped = more_count(argv[-1])
        if dropped is not None:
            total = total - 1 + dropped
        numkeys = as_int(argv[2])
        args = total - 3 - numkeys if numkeys is not None else None
        sha = argv[1].lower() if argv[0].lower().startswith("evalsha") else argv[1]
        found.append(
            SlowScript(
                node=node,
                id=int(entry[0]),
                started_at=int(entry[1]),
                duration=int(entry[2]) / 1e6,
                command=argv[0].upper(),
                sha=sha,
                script=names.get(sha),
                keys=numkeys,
                args=args,
                client=text(entry[4]) if len(entry) > 4 else None,
            )
        )
    return found


def sha_names(engine: EngineCore) -> dict[str, str]:
    """Map every sha the engine may have loaded (plain and legacy body) to the script's name."""
    names: dict[str, str] = {
        function: entry.script.name for function, entry in function_library().functions.items()
    }
    for script in engine.registry:
        names[script.sha] = script.name
        names[script.legacy_sha] = script.name
    return names


def build_report(
    engine: EngineCore, rows: list[tuple[NodeRef, Exchange | BaseException]]
) -> ScriptReport:
    """Put the engine's figures and every primary's answers together."""
    names = sha_names(engine)
    infos: list[Any] = []
    slow: list[SlowScript] = []
    errors: list[str] = []
    for node, got in rows:
        if isinstance(got, BaseException):
            errors.append(f"{node.address}: {describe_error(got)}")
            continue
        info, log = got.replies
        for reply in (info, log):
            if isinstance(reply, BaseException):
                errors.append(f"{node.address}: {describe_error(reply)}")
        if not isinstance(info, BaseException):
            infos.append(info)
        slow += slow_scripts(node.address, log, names)
    slow.sort(key=lambda s: (-s.started_at, s.node, -s.id))
    return ScriptReport(engine.stats(), command_stats(infos), tuple(slow), tuple(errors))


def _check(slowlog: object, timeout: object) -> tuple[int, float]:
    if isinstance(slowlog, bool) or not isinstance(slowlog, int):
        raise TypeError(f"slowlog must be an int, not {type(slowlog).__name__}")
    if not 0 <= slowlog <= MAX_SLOWLOG:
        raise ValueError(f"slowlog must be from 0 to {MAX_SLOWLOG}, got {slowlog}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (finite("timeout", timeout) and timeout > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    return slowlog, float(timeout)


def _engine(engine: object, want_async: bool) -> Any:
    from redlua.aio import AsyncEngine  # noqa: PLC0415 - engine modules import each other late
    from redlua.engine import Engine  # noqa: PLC0415

    kind = AsyncEngine if want_async else Engine
    if not isinstance(engine, kind):
        raise TypeError(f"engine must be a {kind.__name__}, not {type(engine).__name__}")
    return engine


# -- the two faces -----------------------------------------------------------------------------


def script_report(
    engine: Any, *, slowlog: int = DEFAULT_SLOWLOG, timeout: float = DEFAULT_TIMEOUT
) -> ScriptReport:
    """Return *engine*'s script figures with the primaries' commandstats and slow scripts.

    *slowlog* is how many of each primary's latest SLOWLOG entries to read. A
    primary that cannot be asked is listed in ``errors``; nothing is raised for it.
    """
    count, seconds = _check(slowlog, timeout)
    engine = _engine(engine, want_async=False)
    commands = report_commands(count)
    rows: list[tuple[NodeRef, Exchange | BaseException]] = []
    for node in nodes_of(engine.client, primaries_only=is_cluster(engine.client)):
        try:
            rows.append((node, exchange(node, commands, seconds)))
        except Exception as exc:  # noqa: BLE001 - reported in errors
            rows.append((node, exc))
    return build_report(engine, rows)


async def async_script_report(
    engine: Any, *, slowlog: int = DEFAULT_SLOWLOG, timeout: float = DEFAULT_TIMEOUT
) -> ScriptReport:
    """Return *engine*'s script figures with the primaries' commandstats and slow scripts.

    *slowlog* is how many of each primary's latest SLOWLOG entries to read. A
    primary that cannot be asked is listed in ``errors``; nothing is raised for it.
    """
    count, seconds = _check(slowlog, timeout)
    engine = _engine(engine, want_async=True)
    if is_cluster(engine.client):
        try:
            await engine.client.initialize()  # learns the nodes once; a no-op afterwards
        except Exception as exc:  # noqa: BLE001 - reported in errors
            return ScriptReport(engine.stats(), {}, (), (f"cluster: {describe_error(exc)}",))
    commands = report_commands(count)
    rows: list[tuple[NodeRef, Exchange | BaseException]] = []
    for node in nodes_of(engine.client, primaries_only=is_cluster(engine.client)):
        try:
            rows.append((node, await async_exchange(node, commands, seconds)))
        except Exception as exc:  # noqa: BLE001 - reported in errors
            rows.append((node, exc))
    return build_report(engine, rows)
