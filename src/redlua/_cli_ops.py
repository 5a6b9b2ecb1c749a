"""``redlua health``, ``stats``, ``profile`` and ``bench``, and the text helpers they share.

* ``health``: `redlua.ops.health_check`, one row per node and the cluster's state;
  exit 1 when unhealthy, also when the server cannot be reached at all.
* ``stats``: what the servers saw of script calls (INFO commandstats for
  EVALSHA, FCALL and the like; SLOWLOG entries named after the shipped scripts).
  An engine's own figures (calls, errors, p50/p99 per script) live in the
  process that ran the calls, so a fresh command has none; ``--watch`` refreshes
  and adds calls per second, ``--count N`` stops after N refreshes.
* ``profile``: `redlua.ops.profile` of a shipped script or a ``.lua`` file, after
  one checked run that names the failing line if there is one.
* ``bench``: ``bench/run.py`` of the source checkout, its arguments passed through,
  its progress lines numbered and timed.

Every command has ``--json``: one JSON document on stdout (``stats --watch``: one
per refresh, one per line). Tables come from `table`: columns two spaces apart,
numbers aligned right, no dependency.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import redis

from . import ops
from ._cli_base import (
    CONNECT_TIMEOUT,
    EXIT_FAILURE,
    EXIT_USAGE,
    UNREACHABLE,
    CliError,
    at_least,
    connected,
    masked,
    note,
    open_client,
    positive_seconds,
    table,
)
from ._core import Call
from ._registry import shipped_scripts
from ._report import nearest_rank
from ._script import Script
from .engine import Engine
from .errors import ContractError

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
"""Where ``redlua bench`` looks for ``run.py``: the checkout this package was imported from."""
DEFAULT_WATCH = 2.0
DEFAULT_ITERATIONS = 1000
DEFAULT_RECENT = 10

_SCRIPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")  # what a `Script` name may be
_PROGRESS = re.compile(r"^  \S.*: (?:\d|done)")  # the harness's line per finished case


# -- rendering -------------------------------------------------------------------------------


def fields(pairs: Sequence[tuple[str, object]], indent: str = "  ") -> list[str]:
    """Return ``label  value`` lines with the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0)
    return [f"{indent}{label:<{width}}  {'-' if v is None else v}" for label, v in pairs]


def emit_json(data: Any) -> None:
    """Print *data* as one JSON document on one line."""
    print(json.dumps(data, ensure_ascii=False), flush=True)


def print_lines(lines: Iterable[str]) -> None:
    """Print each line."""
    for line in lines:
        print(line)


def _digits(value: float) -> str:
    """Three significant digits at most, never an exponent."""
    if round(value, 1) >= 100:
        return f"{value:.0f}"
    if round(value, 2) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def duration(seconds: float | None) -> str:
    """Format seconds as ``85.0 µs``, ``1.25 ms``, ``3.40 s``, ``12 min``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "0 s"
    if seconds < 0.9995e-3:  # what would round to 1000 µs shows as 1.00 ms
        return f"{_digits(seconds * 1e6)} µs"
    if seconds < 0.9995:
        return f"{_digits(seconds * 1e3)} ms"
    if seconds < 120:
        return f"{_digits(seconds)} s"
    return span(seconds)


def span(seconds: float | None) -> str:
    """Format a long stretch of time: ``45 s``, ``12 min``, ``3.5 h``, ``4 d``."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.0f} d"


def size(count: int | None) -> str:
    """Format a byte count: ``512 B``, ``1.50 KiB``, ``12.3 MiB``."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{_digits(value)} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def utc(epoch: float | None) -> str:
    """Format seconds since the epoch as ``2025-01-31 12:00:00 UTC``."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def between(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse type accepting ints from *low* to *high*."""
    least = at_least(low)

    def parse(text: str) -> int:
        value = least(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {value}")
        return value

    return parse


# -- parsers ---------------------------------------------------------------------------------


def add_ops(commands: Any, url: argparse.ArgumentParser) -> None:
    """Add ``redlua health``, ``stats``, ``profile`` and ``bench``."""
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print one JSON document")
    timeout = argparse.ArgumentParser(add_help=False)
    timeout.add_argument(
        "--timeout",
        type=positive_seconds,
        default=ops.health.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wait at most this long for each node (default: {ops.health.DEFAULT_TIMEOUT:g})",
    )

    health = commands.add_parser(
        "health",
        help="ping, server, memory, clients and loaded scripts of every node; exit 1 if unhealthy",
        parents=[url, out, timeout],
    )
    health.set_defaults(handler=_cmd_health)

    stats = commands.add_parser(
        "stats",
        help="script calls the server saw (INFO commandstats, SLOWLOG by script name)",
        parents=[url, out, timeout],
    )
    stats.add_argument(
        "--watch",
        type=positive_seconds,
        nargs="?",
        const=DEFAULT_WATCH,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {DEFAULT_WATCH:g}) until Ctrl+C",
    )
    stats.add_argument(
        "--count",
        type=at_least(1),
        metavar="N",
        help="stop after N refreshes (implies --watch)",
    )
    stats.add_argument(
        "--slowlog",
        type=between(0, ops.scripts.MAX_SLOWLOG),
        default=ops.scripts.DEFAULT_SLOWLOG,
        metavar="N",
        help=f"SLOWLOG entries read per primary (default: {ops.scripts.DEFAULT_SLOWLOG})",
    )
    stats.add_argument(
        "--recent",
        type=at_least(0),
        default=DEFAULT_RECENT,
        metavar="N",
        help=f"slow script calls listed one by one (default: {DEFAULT_RECENT}; JSON has all)",
    )
    stats.set_defaults(handler=_cmd_stats)

    profile = commands.add_parser(
        "profile",
        help="run a script N times in a row: p50/p95/p99 latency and ops/s",
        parents=[url, out],
        description="Run a script N times in a row (after one checked run) and report latency"
        " percentiles and throughput. The script does what it does each time: profile a"
        " script that writes on keys you can spare.",
    )
    profile.add_argument("name", metavar="NAME", help="a shipped script's name, or a .lua file")
    profile.add_argument("--key", action="append", default=[], metavar="K", help="a key (repeat)")
    profile.add_argument("--arg", action="append", default=[], metavar="A", help="an arg (repeat)")
    profile.add_argument(
        "-n",
        "--iterations",
        type=at_least(1),
        default=DEFAULT_ITERATIONS,
        metavar="N",
        help=f"runs to time (default: {DEFAULT_ITERATIONS})",
    )
    profile.set_defaults(handler=_cmd_profile)

    bench = commands.add_parser(
        "bench",
        help="run the bench/ suite of a source checkout (arguments go to bench/run.py;"
        " try: redlua bench --help)",
        add_help=False,
        prefix_chars="\x00",  # every argument, --help included, belongs to bench/run.py
    )
    bench.add_argument("rest", nargs="*", metavar="ARG")
    bench.set_defaults(handler=_cmd_bench)


# -- redlua health ---------------------------------------------------------------------------


@contextlib.contextmanager
def _probed(url: str | None) -> Iterator[tuple[Any, str]]:
    """Yield a client for *url* (as `connected` picks it) and the URL to show.

    A server that cannot be reached still gets a client: the health check then
    reports it as an unhealthy row instead of the command failing before it.
    """
    url = url or os.environ.get("REDIS_URL") or None
    if url is None:
        with connected(None) as target:
            yield target.client, target.shown
        return
    try:
        client = open_client(url)
    except UNREACHABLE:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT)
    with contextlib.closing(client):
        yield client, masked(url)


def _cmd_health(args: argparse.Namespace) -> int:
    with _probed(args.url) as (client, shown):
        report = ops.health_check(client, timeout=args.timeout)
    if args.json:
        emit_json({"url": shown, **report.to_dict()})
    else:
        print_lines(health_lines(report, shown))
    if report.healthy:
        return 0
    problems = report.problems or ["no node answered"]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    note(f"unhealthy: {problems[0]}{more}")
    return EXIT_FAILURE


def health_lines(report: ops.HealthReport, shown: str) -> list[str]:
    """Return the ``health`` table: one row per node, then the cluster state and problems."""
    verdict = "healthy" if report.healthy else "UNHEALTHY"
    kind = "cluster" if report.cluster else "server"
    lines = [f"{kind} {shown}: {verdict}"]
    header = ("NODE", "ROLE", "SERVER", "PING", "CLIENTS", "MEMORY", "UPTIME", "SCRIPTS", "STATUS")
    lines += table(header, [_node_row(node) for node in report.nodes], right={3, 4})
    state = report.cluster_state
    if state is not None:
        lines.append(
            f"cluster state {state.state}: {state.slots_ok}/{state.slots_assigned} slots ok,"
            f" {state.size} primaries with slots, {state.known_nodes} nodes known"
            f" (seen from {state.seen_from})"
        )
    missing = sorted({name for node in report.nodes for name in node.shipped_missing})
    if missing:
        lines.append(
            f"{len(missing)} shipped scripts are not loaded yet: they load on first use"
            " (redlua scripts load preloads them)"
        )
    lines += [f"problem: {problem}" for problem in report.problems]
    return lines


def _node_row(node: ops.NodeHealth) -> tuple[object, ...]:
    server = f"{node.server} {node.version}" if node.server else None
    memory = None
    if node.used_memory is not None:
        limit = (
            f"{node.memory_percent:.1f}% of {size(node.maxmemory)}"
            if node.memory_percent is not None
            else "no maxmemory"
        )
        memory = f"{size(node.used_memory)} ({limit})"
    scripts = None
    if node.shipped_loaded is not None:
        scripts = f"{node.shipped_loaded}/{node.shipped_total}"
    return (
        node.address,
        node.role,
        server,
        duration(node.ping) if node.ping is not None else None,
        node.connected_clients,
        memory,
        span(node.uptime) if node.uptime is not None else None,
        scripts,
        "ok" if node.healthy else "FAIL",
    )


# -- redlua stats ----------------------------------------------------------------------------

ENGINE_NOTE = (
    "Engine figures (calls, errors, reloads, p50/p99 per script) are counted per process,",
    "by the engine that made the calls; this command's engine has made none. Read them there:",
    "redlua.ops.script_report(engine), or the Prometheus collector in redlua.ops.metrics.",
)


def _cmd_stats(args: argparse.Namespace) -> int:
    watching = args.watch is not None or args.count is not None
    interval = args.watch if args.watch is not None else DEFAULT_WATCH
    limit = args.count if watching else 1
    with connected(args.url) as target:
        engine = Engine(target.client)
        errors: tuple[str, ...] = ()
        previous: tuple[float, ops.ScriptReport] | None = None
        refresh = 0
        try:
            while True:
                report = ops.script_report(engine, slowlog=args.slowlog, timeout=args.timeout)
                taken = time.monotonic()
                refresh += 1
                rates = _rates(previous, (taken, report))
                previous = (taken, report)
                _show_stats(args, target.shown, report, rates, refresh if watching else None)
                errors = report.errors
                if limit is not None and refresh >= limit:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:  # the way to end --watch
            if not watching:
                raise
    if errors:
        note(f"some nodes could not be asked: {'; '.join(errors)}")
        return EXIT_FAILURE
    return 0


def _rates(
    before: tuple[float, ops.ScriptReport] | None, now: tuple[float, ops.ScriptReport]
) -> dict[str, float]:
    """Return calls per second of each command between two refreshes (none at the first)."""
    if before is None or now[0] <= before[0]:
        return {}
    elapsed = now[0] - before[0]
    old = before[1].commands
    return {
        name: max(stat.calls - (old[name].calls if name in old else 0), 0) / elapsed
        for name, stat in now[1].commands.items()
    }


def _show_stats(
    args: argparse.Namespace,
    shown: str,
    report: ops.ScriptReport,
    rates: dict[str, float],
    refresh: int | None,
) -> None:
    if args.json:
        data = {"url": shown, **report.to_dict(), "engine_scope": "process"}
        if refresh is not None:
            data.update(refresh=refresh, at=time.time(), calls_per_second=rates)
        emit_json(data)
        return
    if refresh is not None:
        if sys.stdout.isatty():
            print("\x1b[H\x1b[2J", end="")
        stamp = time.strftime("%H:%M:%S")
        print(f"-- refresh {refresh} at {stamp}, every {args.watch or DEFAULT_WATCH:g} s;"
              " Ctrl+C stops --")  # fmt: skip
    print_lines(stats_lines(report, shown, rates, args.recent, watching=refresh is not None))
    sys.stdout.flush()


def stats_lines(
    report: ops.ScriptReport,
    shown: str,
    rates: dict[str, float],
    recent: int,
    *,
    watching: bool = False,
) -> list[str]:
    """Return the ``stats`` text: server commands, slow calls by script, the engine's part."""
    lines = [
        f"script commands on {shown}",
        "(INFO commandstats: every client, since the server started or CONFIG RESETSTAT)",
    ]
    lines += _command_lines(report, rates, watching)
    lines.append("")
    lines.append("slow script calls (SLOWLOG: calls slower than slowlog-log-slower-than)")
    lines += _slow_lines(report.slow, recent)
    lines.append("")
    lines += _engine_lines(report)
    lines += [f"could not ask {error}" for error in report.errors]
    return lines


def _command_lines(report: ops.ScriptReport, rates: dict[str, float], watching: bool) -> list[str]:
    if not report.commands:
        return ["  (no script command has run on this server)"]
    header = ["COMMAND", "CALLS", "FAILED", "REJECTED", "TIME", "PER CALL"]
    rows: list[list[object]] = []
    for name, c in report.commands.items():
        row: list[object] = [name, f"{c.calls:,}", f"{c.failed_calls:,}"]
        row += [f"{c.rejected_calls:,}", duration(c.total), duration(c.per_call)]
        if watching:
            row.append(f"{rates[name]:,.1f}" if name in rates else None)
        rows.append(row)
    if watching:
        header.append("CALLS/S")
    return table(header, rows, right={1, 2, 3, 4, 5, 6})


def _slow_lines(slow: Sequence[ops.SlowScript], recent: int) -> list[str]:
    if not slow:
        return ["  (none)"]
    lines = table(
        ("SCRIPT", "CALLS", "P50", "MAX", "LAST SEEN"), _slow_by_script(slow), right={1, 2, 3}
    )
    if recent:
        lines.append(f"latest {min(recent, len(slow))}:")
        header = ("WHEN", "NODE", "SCRIPT", "DURATION", "KEYS", "ARGS", "CLIENT")
        rows = [_slow_row(entry) for entry in slow[:recent]]
        lines += table(header, rows, right={3, 4, 5})
    return lines


def _slow_row(s: ops.SlowScript) -> tuple[object, ...]:
    when, name, took = utc(s.started_at), _script_name(s), duration(s.duration)
    return (when, s.node, name, took, s.keys, s.args, s.client or None)


def _engine_lines(report: ops.ScriptReport) -> list[str]:
    if not report.scripts:
        return list(ENGINE_NOTE)
    header = ("SCRIPT", "CALLS", "ERRORS", "RELOADS", "UNKNOWN", "P50", "P99")
    rows = [
        (s.name, s.calls, s.errors, s.reloads, s.outcome_unknown, duration(s.p50), duration(s.p99))
        for s in report.scripts.values()
    ]
    return table(header, rows, right={1, 2, 3, 4, 5, 6})


def _script_name(slow: ops.SlowScript) -> str:
    return slow.script or f"(sha {slow.sha[:12]})"


def _slow_by_script(slow: Sequence[ops.SlowScript]) -> list[tuple[object, ...]]:
    groups: dict[str, list[ops.SlowScript]] = {}
    for entry in slow:
        groups.setdefault(_script_name(entry), []).append(entry)
    rows: list[tuple[object, ...]] = []
    for name, entries in sorted(groups.items(), key=lambda item: -len(item[1])):
        times = sorted(e.duration for e in entries)
        last = max(e.started_at for e in entries)
        rows.append((name, len(entries), duration(nearest_rank(times, 50)),
                     duration(times[-1]), utc(last)))  # fmt: skip
    return rows


# -- redlua profile --------------------------------------------------------------------------


def script_for(name: str) -> Script:
    """Return the shipped script *name*, else the script in the file *name* (a ``.lua`` file)."""
    scripts = shipped_scripts()
    if name in scripts:
        return scripts[name]
    path = Path(name)
    if not (name.endswith(".lua") or path.exists()):
        close = difflib.get_close_matches(name, list(scripts), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see: redlua scripts list)"
        raise CliError(f"no shipped script and no file named {name!r}{hint}", EXIT_USAGE)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read {name}: {reason}", EXIT_USAGE) from None
    if not source.strip():
        raise CliError(f"{name} is empty", EXIT_USAGE)
    stem = path.stem if _SCRIPT_NAME.fullmatch(path.stem) else "script"  # "my file.lua"
    try:
        return Script.from_source(stem, source)
    except ContractError:
        return Script(stem, source)  # a broken header does not stop a measurement


def _cmd_profile(args: argparse.Namespace) -> int:
    script = script_for(args.name)
    Call(script, tuple(args.key), tuple(args.arg))  # breaks the contract? exit 2 before connecting
    with connected(args.url) as target:
        engine = Engine(target.client)
        first = ops.debug_script(engine, script, args.key, args.arg)
        if not first.ok:
            _first_run_failed(args, first)
        report = ops.profile(engine, script, args.key, args.arg, iterations=args.iterations)
    if args.json:
        emit_json({"url": target.shown, "keys": args.key, "args": args.arg, **report.to_dict()})
    else:
        print_lines(profile_lines(report, target.shown))
    if report.errors:
        note(f"{report.errors} of {report.iterations} runs failed")
        return EXIT_FAILURE
    return 0


def _first_run_failed(args: argparse.Namespace, first: ops.DebugResult) -> NoReturn:
    where = args.name if first.line is None else f"{args.name}:{first.line}"
    source = f"  [{first.source_line.strip()}]" if first.source_line else ""
    if args.json:
        emit_json({"script": first.script, "keys": args.key, "args": args.arg,
                   "first_run": first.to_dict()})  # fmt: skip
    raise CliError(f"{where}: {first.error_type}: {first.message}{source} (nothing profiled)")


def profile_lines(report: ops.ProfileReport, shown: str) -> list[str]:
    """Return the ``profile`` text: runs, percentiles, spread and throughput."""
    head = f"{report.script} on {shown}: {report.iterations:,} runs, {report.errors:,} errors"
    lines = [head]
    lines += fields(
        [
            ("p50", duration(report.p50)),
            ("p95", duration(report.p95)),
            ("p99", duration(report.p99)),
            ("mean", duration(report.mean)),
            ("min", duration(report.min)),
            ("max", duration(report.max)),
            ("ops/s", f"{report.ops_per_sec:,.0f}"),
        ]
    )
    lines.append("(one client, one call at a time, round trips included)")
    return lines


# -- redlua bench ----------------------------------------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    runner = BENCH_DIR / "run.py"
    if not runner.is_file():
        raise CliError(
            f"no benchmark suite at {BENCH_DIR}: bench/ is part of the source checkout, not"
            " of the installed package; run redlua bench from a clone of the repository"
        )
    rest: list[str] = args.rest
    note(f"running bench/run.py {shlex.join(rest)}".rstrip() + f" from {BENCH_DIR.parent}")
    return relay([sys.executable, "-u", str(runner), *rest])


def relay(command: list[str]) -> int:
    """Run *command*, copying its output as it comes; number and time its progress lines.

    Returns its exit status. Ctrl+C stops it and is raised again.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    assert child.stderr is not None
    errors = threading.Thread(target=_relay_progress, args=(child.stderr, started), daemon=True)
    errors.start()
    try:
        for line in child.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
        return child.wait()
    except KeyboardInterrupt:
        child.terminate()
        child.wait()
        raise
    finally:
        errors.join(timeout=5)
        child.stdout.close()


def _relay_progress(stream: Any, started: float) -> None:
    done = 0
    for line in stream:
        shown = line
        if _PROGRESS.match(line):
            done += 1
            shown = f"[{done:>3} done, {time.monotonic() - started:6.1f} s]{line.rstrip()[1:]}\n"
        sys.stderr.write(shown)
        sys.stderr.flush()
    stream.close()
