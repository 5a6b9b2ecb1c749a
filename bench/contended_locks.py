"""The contended-lock scenario: W processes x N non-atomic GET/SET increments under one lock.

Each worker process loops ``with lock: v = GET counter; SET counter v + 1``, so
any break in mutual exclusion loses updates and the final counter falls short
of ``W x N``. The figure is the **wall time** from the moment all workers are
released (a barrier) until the last one has finished; the first worker's
finish shows how fair the hand-over is.

Workers are started once (multiprocessing ``spawn``), connect and build their
lock object before the barrier, and serve every implementation in turn, so
process start-up and imports are never timed. A run measures every
implementation once, in an order rotated from run to run; the table reports
the median over runs. Two reference rows: ``none``, the control (no lock at
all), must lose updates, which shows that the check can fail; ``serial`` is one
worker doing all W x N increments under the raw two-EVALSHA lock while the
others idle -- the floor for any lock, since the critical section (acquire, GET,
SET, release: 4 round trips) runs one at a time whoever holds it.

Each library waits the way it does by default: redis-py polls every 100 ms,
python-redis-lock blocks on BLPOP of a signal list, pottery sleeps
uniform(0, 200 ms); redlua waits as its `Lock.acquire` does.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import statistics
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import redis

from cases_locks import TTL, available, make_lock
from harness import Scenario, Table, Target

CONTROL = "none"
SERIAL = "serial"
IMPLS = (CONTROL, SERIAL, "redlua", "redis-py", "python-redis-lock", "pottery")
REFERENCES = (CONTROL, SERIAL)  # rows that are not lock libraries
REDLUA = "redlua"
TARGET = 0.8  # redlua wall time <= 0.8x the fastest peer's, run by run
PREFIX = "redlua-bench:contended"
LOCK_NAME = f"{PREFIX}:lock"
COUNTER = f"{PREFIX}:counter"
SETUP_TIMEOUT = 60.0  # seconds for workers to start and build a lock
RUN_TIMEOUT = 300.0  # seconds for one implementation's run


def _increment(client: redis.Redis, lock: Any, ops: int) -> int:
    done = 0
    for _ in range(ops):
        with lock:
            value = client.get(COUNTER)
            client.set(COUNTER, int(value or 0) + 1)
        done += 1
    return done


def serve(url: str, decode: bool, inbox: Any, outbox: Any, barrier: Any) -> None:
    """Worker loop: for each (impl, ops) task, build the lock, meet the barrier, increment."""
    while True:
        task = inbox.get()
        if task is None:
            return
        impl, ops = task
        kind = "raw" if impl == SERIAL else impl
        client = redis.Redis.from_url(url, decode_responses=decode)
        error, done, started, finished = None, 0, 0.0, 0.0
        try:
            try:
                lock = nullcontext() if kind == CONTROL else make_lock(kind, client, LOCK_NAME)
                client.ping()
            except Exception:  # noqa: BLE001 -- reported to the parent, which fails the row
                error = traceback.format_exc(limit=3)
            outbox.put("ready")
            barrier.wait(SETUP_TIMEOUT)
            started = time.monotonic()
            if error is None:
                try:
                    done = _increment(client, lock, ops)
                except Exception:  # noqa: BLE001 -- idem
                    error = traceback.format_exc(limit=3)
            finished = time.monotonic()
        finally:
            client.close()
            outbox.put((impl, done, started, finished, error))


@dataclass
class Pool:
    """Spawned workers, each with its own inbox; one outbox and one start barrier for all."""

    procs: list[Any]
    inboxes: list[Any]
    outbox: Any
    barrier: Any

    def collect(self, count: int, timeout: float) -> list[Any]:
        """Return *count* messages from the outbox; raise if a worker dies or time runs out."""
        deadline = time.monotonic() + timeout
        replies: list[Any] = []
        while len(replies) < count:
            try:
                replies.append(self.outbox.get(timeout=0.5))
            except queue.Empty:
                dead = [p for p in self.procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(
                        f"worker {dead[0].name} died (exit code {dead[0].exitcode})"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers did not answer within {timeout:g} s") from None
        return replies


@contextmanager
def worker_pool(target: Target, workers: int) -> Iterator[Pool]:
    """Start *workers* spawned processes; yield them as a `Pool`, stop them after."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    outbox = ctx.Queue()
    inboxes = [ctx.Queue() for _ in range(workers)]
    procs = [
        ctx.Process(
            target=serve,
            args=(target.url, target.decode_responses, inbox, outbox, barrier),
            name=f"contended-{i}",
            daemon=True,
        )
        for i, inbox in enumerate(inboxes)
    ]
    for proc in procs:
        proc.start()
    try:
        yield Pool(procs, inboxes, outbox, barrier)
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def _clear(client: redis.Redis) -> None:
    """Delete the counter and every key of the scenario's lock (any library's spelling)."""
    keys = list(client.scan_iter(match=f"*{PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


def command_counts(client: redis.Redis) -> dict[str, int]:
    """Return the server's calls per command so far (INFO commandstats; scripts' too)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _one(client: redis.Redis, pool: Pool, impl: str, ops: int) -> dict[str, Any]:
    inboxes = pool.inboxes
    _clear(client)
    before = command_counts(client)
    for i, inbox in enumerate(inboxes):
        if impl != SERIAL:
            inbox.put((impl, ops))
        else:  # the first worker does all the increments, the others none
            inbox.put((impl, ops * len(inboxes) if i == 0 else 0))
    pool.collect(len(inboxes), SETUP_TIMEOUT)  # every worker built its lock ("ready")
    pool.barrier.wait(SETUP_TIMEOUT)
    released = time.monotonic()
    replies = pool.collect(len(inboxes), RUN_TIMEOUT)
    start = min(released, *(r[2] for r in replies))  # the first process to leave the barrier
    finishes = [r[3] - start for r in replies if r[1] or impl != SERIAL]
    errors = [r[4] for r in replies if r[4]]
    after = command_counts(client)
    final = int(client.get(COUNTER) or 0)
    expected = ops * len(inboxes)
    commands = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
    commands["info"] = commands.get("info", 1) - 1  # the INFO that took `after`
    commands = {k: n for k, n in sorted(commands.items(), key=lambda kv: -kv[1]) if n}
    return {
        "impl": impl,
        "wall_s": max(finishes),
        "first_done_s": min(finishes),
        "final": final,
        "expected": expected,
        "exact": final == expected and not errors,
        "increments_done": sum(r[1] for r in replies),
        "errors": errors,
        "server_commands": commands,
    }


def _warm(target: Target, impls: list[str]) -> None:
    """Acquire and release each implementation once in this process (loads the scripts)."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        for impl in impls:
            if impl not in REFERENCES:
                with make_lock(impl, client, LOCK_NAME):
                    pass
        _clear(client)
    finally:
        client.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def contended_table(target: Target, scenario: Scenario) -> Table:
    """Run the scenario *scenario.runs* times over every installed implementation."""
    impls = []
    for impl in IMPLS:
        missing = available(impl)
        if missing:
            print(f"  locks.contended: {missing}; left out", file=sys.stderr)
        else:
            impls.append(impl)
    _warm(target, impls)
    runs: list[list[dict[str, Any]]] = []
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        with worker_pool(target, scenario.workers) as pool:
            for run in range(scenario.runs):
                shift = run % len(impls)
                order = impls[shift:] + impls[:shift]
                results = [_one(client, pool, impl, scenario.ops) for impl in order]
                runs.append(results)
                walls = ", ".join(f"{r['impl']} {r['wall_s']:.2f}s" for r in results)
                print(f"  locks.contended run {run + 1}: {walls}", file=sys.stderr)
        _clear(client)
    finally:
        client.close()
    return _table(impls, runs, scenario)


def _per_increment(rows: list[dict[str, Any]]) -> str:
    """Return the median server calls per increment: all, then EVALSHA and BLPOP."""

    def per(row: dict[str, Any], command: str | None) -> float:
        calls = row["server_commands"]
        n = sum(calls.values()) if command is None else calls.get(command, 0)
        return n / max(row["increments_done"], 1)

    parts = [
        f"{_median([per(r, k) for r in rows]):.2f} {k}"
        for k in ("evalsha", "blpop")
        if any(k in r["server_commands"] for r in rows)
    ]
    total = f"{_median([per(r, None) for r in rows]):.1f}"
    return f"{total} ({', '.join(parts)})" if parts else total


def _table(impls: list[str], runs: list[list[dict[str, Any]]], scenario: Scenario) -> Table:
    by_impl = {impl: [r for run in runs for r in run if r["impl"] == impl] for impl in impls}
    peers = [i for i in impls if i not in (*REFERENCES, REDLUA)]
    ratios = []
    for run in runs:
        walls = {r["impl"]: r["wall_s"] for r in run}
        peer_walls = [walls[p] for p in peers if walls.get(p)]
        if REDLUA in walls and peer_walls:
            ratios.append(walls[REDLUA] / min(peer_walls))
    ratio = _median(ratios) if ratios else None
    floors = []
    for run in runs:
        walls = {r["impl"]: r["wall_s"] for r in run}
        if REDLUA in walls and walls.get(SERIAL):
            floors.append(walls[REDLUA] / walls[SERIAL])
    missed = []
    if ratio is not None and ratio > TARGET:
        missed.append(f"redlua wall time {ratio:.2f}x the fastest peer (target <= {TARGET})")
    for impl in impls:
        bad = [r for r in by_impl[impl] if not r["exact"]]
        if impl != CONTROL and bad:
            missed.append(f"{impl}: counter short or errors in {len(bad)}/{len(runs)} runs")
    expected = scenario.ops * scenario.workers
    lines = [
        "| implementation | wall s (median) | wall s (min-max) | first worker done s |"
        f" final / {expected} (min) | exact runs | errors | server commands / increment |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for impl in impls:
        rows = by_impl[impl]
        walls = [r["wall_s"] for r in rows]
        label = {
            CONTROL: f"{CONTROL} (control: no lock)",
            SERIAL: f"{SERIAL} (floor: 1 process, raw lock)",
        }.get(impl, impl)
        lines.append(
            f"| {label} | **{_median(walls):.2f}** | {min(walls):.2f}-{max(walls):.2f} | "
            f"{_median([r['first_done_s'] for r in rows]):.2f} | "
            f"{min(r['final'] for r in rows):,} | {sum(r['exact'] for r in rows)}/{len(rows)} | "
            f"{sum(len(r['errors']) for r in rows)} | {_per_increment(rows)} |"
        )
    lines.append("")
    if ratio is None:
        verdict = "redlua or every peer is missing: no ratio"
    else:
        per_run = ", ".join(f"{x:.2f}" for x in ratios)
        verdict = (
            f"redlua wall time ÷ the fastest peer's in the same run: **{ratio:.2f}** (median of"
            f" {per_run}); target ≤ {TARGET} ({'pass' if ratio <= TARGET else '**FAIL**'})."
        )
        if floors:
            verdict += f" redlua ÷ the serial floor: {_median(floors):.2f}."
    lines.append(
        f"{scenario.workers} spawned processes x {scenario.ops} GET/SET increments of one"
        f" counter under one lock (TTL {TTL:g} s), {len(runs)} run(s), each running every"
        f" implementation in turn (order rotated per run). {verdict}"
    )
    lost = [not r["exact"] for r in by_impl.get(CONTROL, [])]
    if lost and all(lost):
        control = "the no-lock control lost updates in every run, so the check can fail"
    elif any(lost):
        control = f"the no-lock control lost updates in only {sum(lost)}/{len(lost)} runs"
    else:
        control = "**the no-lock control lost no update: the check proved nothing**"
    lines.append(f"Mutual exclusion: {control}.")
    for impl in impls:
        for row in by_impl[impl]:
            for error in row["errors"][:1]:
                lines.append(f"\n`{impl}` error: `{error.strip().splitlines()[-1]}`")
    return Table(
        name="locks.contended",
        markdown="\n".join(lines),
        data={
            "workers": scenario.workers,
            "ops_per_worker": scenario.ops,
            "runs": runs,
            "redlua_over_fastest_peer": ratios,
            "redlua_over_serial_floor": floors,
            "ratio_median": ratio,
            "target": TARGET,
        },
        missed=tuple(missed),
    )
