"""Run the paired-slice benchmarks and write ``bench/results/``.

    python bench/run.py [--url URL] [--cycles N] [--slice S] [--only NAME] [--unix] [--out DIR]
                        [--contended-runs N] [--contended-ops N]

Without ``--url`` a private server (`redlua.EmbeddedServer`) is started on a
free port and stopped at the end; a system server is used only when its URL is
passed explicitly. Prints a markdown table (then any suite's extra tables, such
as the contended-lock wall times) and writes ``<out>/<timestamp>.json`` (every
slice's rate) and ``<out>/latest.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "src")]  # this checkout's redlua, not an installed one

import redis  # noqa: E402

from harness import (  # noqa: E402
    Result,
    Scenario,
    Settings,
    Suite,
    Table,
    Target,
    run_suite,
    run_tables,
)

SMOKE_CYCLES = 10  # runs with fewer cycles (the CI smoke) shrink the multi-process scenarios


def suites() -> list[Suite]:
    """Return every suite, in the order its rows appear; add new case modules here."""
    import cases_counters
    import cases_engine
    import cases_inventory
    import cases_ledger
    import cases_locks
    import cases_pipelining
    import cases_ratelimit
    import cases_stateful
    import cases_txn

    return [
        cases_engine.SUITE,
        cases_stateful.SUITE,
        cases_locks.SUITE,
        cases_ratelimit.SUITE,
        cases_counters.SUITE,
        cases_txn.SUITE,
        cases_ledger.SUITE,
        cases_inventory.SUITE,
        cases_pipelining.SUITE,
    ]


# -- machine facts ---------------------------------------------------------------------------


def _cpu_times() -> list[int] | None:
    """Return the aggregate ``cpu`` line of /proc/stat (jiffies), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return [int(v) for v in fields[1:]] if fields and fields[0] == "cpu" else None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """Return the share of CPU time the hypervisor stole between two /proc/stat samples."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta[:8])  # user nice system idle iowait irq softirq steal
    return delta[7] / total if total > 0 else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def redact(url: str) -> str:
    """Return *url* without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def machine_facts(target: Target) -> dict[str, Any]:
    """Return the facts a reader needs to judge the figures: client, parser, server, host."""
    import redlua

    client = redis.Redis.from_url(target.url, decode_responses=True)
    try:
        info = client.info("server")
        conn = client.connection_pool.get_connection()
        try:
            parser = type(getattr(conn, "_parser", None)).__name__
        finally:
            client.connection_pool.release(conn)
        resp = str(client.client_info().get("resp", "?"))
    finally:
        client.close()
    name = str(info.get("server_name") or ("valkey" if "valkey_version" in info else "redis"))
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "src"))  # the code being measured
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "redis_py": redis.__version__,
        "hiredis": _version("hiredis"),
        "parser": parser,
        "resp": resp,
        "redlua": redlua.__version__,
        "redlua_path": str(Path(redlua.__file__).parent),
        "git": None if commit is None else commit + ("+dirty" if dirty else ""),
        "server": f"{name} {info.get('valkey_version') or info.get('redis_version')}",
        "transport": "unix" if target.url.startswith("unix") else "tcp",
        "url": redact(target.url),
        "decode_responses": target.decode_responses,
        "loadavg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


# -- report ----------------------------------------------------------------------------------


def _ops(value: float) -> str:
    return f"{value:,.0f}"


def table(results: list[Result]) -> str:
    """Return the markdown table of *results*, one row per case, then each case's meaning."""
    lines = [
        "| case | candidate ops/s | baseline ops/s | ratio (median) | IQR | target | result |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        q1, q3 = r.iqr
        target = "—" if r.target is None else f"≥ {r.target:.2f}"
        verdict = {None: "info", True: "pass", False: "**FAIL**"}[r.passed]
        lines.append(
            f"| {r.name} | {_ops(r.candidate_ops)} | {_ops(r.baseline_ops)} | "
            f"**{r.ratio:.3f}** | {q1:.3f}-{q3:.3f} | {target} | {verdict} |"
        )
    lines.append("")
    lines += [f"- `{r.name}`: {r.note}" for r in results]
    return "\n".join(lines)


def tables_text(tables: list[Table]) -> str:
    """Return each extra table under a ``### name`` heading."""
    return "\n\n".join(f"### {t.name}\n\n{t.markdown}" for t in tables)


def scenario_for(args: argparse.Namespace) -> Scenario:
    """Return the multi-process scenario size: the flags, else full or (short runs) smoke."""
    smoke = args.cycles < SMOKE_CYCLES
    runs = args.contended_runs if args.contended_runs is not None else (1 if smoke else 3)
    ops = args.contended_ops if args.contended_ops is not None else (25 if smoke else 200)
    return Scenario(runs=runs, ops=ops)


def facts_lines(facts: dict[str, Any], settings: Settings, steal: float | None) -> str:
    """Return the run's facts as one markdown paragraph."""
    hiredis = f"hiredis {facts['hiredis']}" if facts["hiredis"] else "no hiredis"
    steal_text = "n/a" if steal is None else f"{steal:.0%}"
    return (
        f"Python {facts['python']} on {facts['platform']} ({facts['cpus']} CPUs, "
        f"load {facts['loadavg']}); redis-py {facts['redis_py']} with {hiredis} "
        f"(parser {facts['parser']}, RESP{facts['resp']}); server {facts['server']} over "
        f"{facts['transport']}, decode_responses={facts['decode_responses']}; "
        f"redlua {facts['redlua']} at {facts['git']}. {settings.cycles} cycles of "
        f"{settings.slice_s:g} s slices after {settings.warmup_slices} warm-up slices per side; "
        f"CPU steal during the run: {steal_text}."
    )


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="server to use (default: start a private EmbeddedServer)")
    p.add_argument("--cycles", type=int, default=20, help="paired cycles per case (default 20)")
    p.add_argument("--slice", type=float, default=0.1, help="seconds per slice (default 0.1)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up slices per side (default 2)")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only cases matching this name or glob (repeatable)",
    )
    p.add_argument("--unix", action="store_true", help="use the private server's unix socket")
    p.add_argument("--decode-responses", action="store_true", help="decode replies to str")
    p.add_argument("--out", type=Path, default=BENCH / "results", help="results directory")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument(
        "--contended-runs",
        type=int,
        metavar="N",
        help="runs of the multi-process contended-lock scenario, 0 skips it"
        f" (default 3; 1 when --cycles < {SMOKE_CYCLES})",
    )
    p.add_argument(
        "--contended-ops",
        type=int,
        metavar="N",
        help=f"increments per worker in that scenario (default 200; 25 when --cycles <"
        f" {SMOKE_CYCLES})",
    )
    args = p.parse_args(argv)
    if args.unix and args.url:
        p.error("--unix starts a private server's socket; with --url pass a unix:// URL instead")
    return args


@contextlib.contextmanager
def server_url(args: argparse.Namespace) -> Iterator[str]:
    """Yield the URL to measure: ``--url``, or a private server started (and stopped) here."""
    if args.url:
        yield args.url
        return
    from redlua import EmbeddedServer

    server = EmbeddedServer(port=None, unix_socket=True).start()
    try:
        url = server.unix_url if args.unix else server.url
        assert url is not None
        yield url
    finally:
        server.stop()


def matcher(patterns: list[str] | None) -> Callable[[str], bool]:
    """Return a predicate accepting case names that match any of *patterns* (all if none)."""
    if not patterns:
        return lambda name: True
    return lambda name: any(fnmatch.fnmatchcase(name, p) for p in patterns)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; return the exit status."""
    args = parse_args(argv)
    try:
        settings = Settings(cycles=args.cycles, slice_s=args.slice, warmup_slices=args.warmup)
        scenario = scenario_for(args)
    except ValueError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    wanted = matcher(args.only)
    started = datetime.now(timezone.utc)
    results: list[Result] = []
    tables: list[Table] = []
    with server_url(args) as url:
        target = Target(url=url, decode_responses=args.decode_responses)
        facts = machine_facts(target)
        print(f"server {facts['server']} at {facts['url']}", file=sys.stderr)
        before, clock = _cpu_times(), time.monotonic()
        for suite in suites():
            for result in run_suite(suite, target, settings, wanted):
                results.append(result)
                q1, q3 = result.iqr
                print(f"  {result.name}: {result.ratio:.3f} [{q1:.3f}-{q3:.3f}]", file=sys.stderr)
            for extra in run_tables(suite, target, scenario, wanted):
                tables.append(extra)
                print(f"  {extra.name}: done", file=sys.stderr)
        steal = steal_share(before, _cpu_times())
        elapsed = time.monotonic() - clock
    if not results and not tables:
        print(f"no case matches {args.only}", file=sys.stderr)
        return 2
    report = "\n\n".join(
        part for part in (table(results) if results else "", tables_text(tables)) if part
    )
    summary = facts_lines(facts, settings, steal)
    print(report)
    print()
    print(summary)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    document = {
        "started": started.isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "elapsed_s": round(elapsed, 2),
        "settings": asdict(settings),
        "scenario": asdict(scenario),
        "cpu_steal": steal,
        "facts": facts,
        "results": [r.as_dict() for r in results],
        "tables": [t.as_dict() for t in tables],
    }
    (args.out / f"{stamp}.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.out / "latest.md").write_text(
        f"# redlua benchmarks — {stamp} UTC\n\n{report}\n\n{summary}\n"
        f"\nRaw slices: `{stamp}.json`. Ratio = redlua ÷ baseline, median of per-cycle "
        "ratios (each cycle: candidate slice ÷ mean of the baseline slices around it).\n"
    )
    missed = [r.name for r in results if r.passed is False]
    missed += [f"{t.name}: {m}" for t in tables for m in t.missed]
    if missed:
        print(f"missed: {'; '.join(missed)}", file=sys.stderr)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
