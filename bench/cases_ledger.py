"""Ledger rows: redlua `Ledger.transfer` against the seed's WATCH/MULTI/EXEC transfer.

Both sides move one cent between two random accounts of the same `ACCOUNTS` accounts
(20, as in the money-conservation test), each with a balance no run can exhaust, and
both write a history entry per account plus a record of the transfer (redlua: two
history streams and the audit stream; the seed: two capped lists and a transaction
hash). The baseline is `seed_transfer.SeedBank`, the seed's code as it intends to
behave.

* ``ledger.transfer`` (paired slices, one worker): one client calling transfer back
  to back, redlua vs the seed; ``ledger.transfer_keyed`` adds an idempotency key per
  redlua transfer (a record with its 24 h TTL), informational.
* ``ledger.contended`` (table): 1 and 8 worker *processes* transferring for a fixed
  time, each side in turn, several runs in rotated order; transfers/s that succeeded,
  the seed's WATCH retries and give-ups. Target: redlua >= 3x the seed at 8 workers,
  with no retry and no error on redlua's side (it has no WATCH to retry).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import redis

from harness import Case, Scenario, Suite, Table, Target
from seed_transfer import SeedBank

ACCOUNTS = [f"acct-{i:02d}" for i in range(20)]
OPENING = 10**12  # minor units: no run can exhaust an account
LEDGER = "redlua-bench-ledger"
SEED_PREFIX = "redlua-bench:seedbank"
TARGET = 3.0  # redlua transfers/s over the seed's at 8 workers
DURATION = 1.0  # seconds each side runs per measurement (0.3 in a smoke run)
SETUP_TIMEOUT = 60.0


def _cleanup(client: redis.Redis) -> None:
    for pattern in (f"redlua:ledger:{{{LEDGER}}}*", f"{SEED_PREFIX}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])


def _open_accounts(client: redis.Redis) -> None:
    """Create the accounts on both sides, after removing what an earlier run left."""
    from redlua import Engine
    from redlua.ledger import Ledger

    _cleanup(client)
    ledger = Ledger(Engine(client), LEDGER)
    seed = SeedBank(client, SEED_PREFIX)
    for name in ACCOUNTS:
        ledger.create(name, "USD", opening=OPENING)
        seed.create_account(name, Decimal(OPENING) / 100)


def _pairs(seed: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(seed)
    while True:
        src, dst = rng.sample(ACCOUNTS, 2)
        yield src, dst


def redlua_op(
    ledger: Any, pairs: Iterator[tuple[str, str]], keyed: bool = False
) -> Callable[[], None]:
    """Return one redlua transfer of 1 cent between the next pair (with a fresh key if *keyed*)."""
    keys = (f"bench-{i}" for i in itertools.count()) if keyed else itertools.repeat(None)

    def op() -> None:
        src, dst = next(pairs)
        ledger.transfer(src, dst, 1, idempotency_key=next(keys))

    return op


def seed_op(bank: SeedBank, pairs: Iterator[tuple[str, str]]) -> Callable[[], None]:
    """Return one seed transfer of 0.01 between the next pair; a failure raises."""
    cent = Decimal("0.01")

    def op() -> None:
        src, dst = next(pairs)
        if not bank.transfer(src, dst, cent)["success"]:
            raise RuntimeError(f"seed transfer {src} -> {dst} failed")

    return op


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one client, create the accounts on both sides, and yield the one-worker rows."""
    from redlua import Engine
    from redlua.ledger import Ledger

    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        _open_accounts(client)
        ledger = Ledger(Engine(client), LEDGER)
        bank = SeedBank(client, SEED_PREFIX)
        plain, keyed = redlua_op(ledger, _pairs(1)), redlua_op(ledger, _pairs(2), keyed=True)
        baseline = seed_op(bank, _pairs(3))
        for op in (plain, keyed, baseline):
            op()
        yield [
            Case(
                name="ledger.transfer",
                candidate=plain,
                baseline=baseline,
                note="redlua Ledger.transfer (one script) vs the seed's WATCH/MULTI/EXEC"
                f" transfer (bench/seed_transfer.py), one client, {len(ACCOUNTS)} accounts",
            ),
            Case(
                name="ledger.transfer_keyed",
                candidate=keyed,
                baseline=baseline,
                note="the same with a fresh idempotency key per redlua transfer (one more"
                " key written, with its TTL) vs the seed",
            ),
        ]
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()


# -- the contended table: worker processes -------------------------------------------------


def _worker(url: str, decode: bool, index: int, commands: Any, results: Any) -> None:
    """Process body: build both sides once, then run each ("impl", start, seconds) order."""
    try:
        from redlua import Engine
        from redlua.ledger import Ledger

        client = redis.Redis.from_url(url, decode_responses=decode)
        engine = Engine(client)
        ledger = Ledger(engine, LEDGER)
        bank = SeedBank(client, SEED_PREFIX)
        ops = {
            "redlua": redlua_op(ledger, _pairs(100 + index)),
            "seed": seed_op(bank, _pairs(200 + index)),
        }
        ledger.balance(ACCOUNTS[0])  # connect and load a script before any timing
        results.put(("ready", index, None))
        while (order := commands.get()) is not None:
            impl, start, seconds = order
            retries, gave_up = bank.retries, bank.gave_up
            done = errors = 0
            time.sleep(max(0.0, start - time.time()))
            end = start + seconds
            op = ops[impl]
            while time.time() < end:
                try:
                    op()
                    done += 1
                except Exception:  # noqa: BLE001 - counted; the seed's give-ups land here
                    errors += 1
            results.put(
                ("done", index, (done, errors, bank.retries - retries, bank.gave_up - gave_up))
            )
        client.close()
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        results.put(("failed", index, repr(exc)))


@contextmanager
def _pool(target: Target, workers: int) -> Iterator[tuple[list[Any], Any]]:
    context = mp.get_context("spawn")
    results = context.Queue()
    commands = [context.Queue() for _ in range(workers)]
    procs = [
        context.Process(
            target=_worker, args=(target.url, target.decode_responses, i, commands[i], results)
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            kind, index, info = results.get(timeout=SETUP_TIMEOUT)
            if kind != "ready":
                raise RuntimeError(f"ledger worker {index} failed to start: {info}")
        yield commands, results
    finally:
        for q in commands:
            q.put(None)
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def _measure(
    commands: list[Any], results: Any, impl: str, workers: int, seconds: float
) -> dict[str, float]:
    start = time.time() + 0.2
    for q in commands[:workers]:
        q.put((impl, start, seconds))
    totals = [0, 0, 0, 0]
    for _ in range(workers):
        kind, index, info = results.get(timeout=seconds + 60)
        if kind != "done":
            raise RuntimeError(f"ledger worker {index} failed: {info}")
        totals = [a + b for a, b in zip(totals, info, strict=True)]
    done, errors, retries, gave_up = totals
    return {
        "ops_s": done / seconds,
        "errors": errors,
        "retries": retries,
        "gave_up": gave_up,
        "transfers": done,
    }


def contended_table(target: Target, scenario: Scenario) -> Table:
    """Measure both sides at 1 and *scenario.workers* worker processes, *scenario.runs* times."""
    seconds = DURATION if scenario.ops >= 100 else 0.3
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    levels = sorted({1, scenario.workers})
    runs: list[dict[str, Any]] = []
    try:
        _open_accounts(client)
        with _pool(target, max(levels)) as (commands, results):
            for run in range(scenario.runs):
                order = [("redlua", n) for n in levels] + [("seed", n) for n in levels]
                order = order[run % len(order) :] + order[: run % len(order)]
                runs.append(
                    {
                        f"{impl}@{n}": _measure(commands, results, impl, n, seconds)
                        for impl, n in order
                    }
                )
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()

    def median(key: str, field: str) -> float:
        return statistics.median(run[key][field] for run in runs)

    def total(key: str, field: str) -> int:
        return int(sum(run[key][field] for run in runs))

    lines = [
        "| workers | redlua transfers/s | seed transfers/s | ratio (median) | seed WATCH retries"
        " | seed give-ups | redlua retries / errors |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    summary: dict[str, Any] = {}
    missed: list[str] = []
    for n in levels:
        ratios = [run[f"redlua@{n}"]["ops_s"] / run[f"seed@{n}"]["ops_s"] for run in runs]
        ratio = statistics.median(ratios)
        ours_errors = total(f"redlua@{n}", "errors")
        summary[str(n)] = {
            "ratio_median": ratio,
            "ratios": ratios,
            "redlua_ops_s": median(f"redlua@{n}", "ops_s"),
            "seed_ops_s": median(f"seed@{n}", "ops_s"),
            "seed_retries": total(f"seed@{n}", "retries"),
            "seed_gave_up": total(f"seed@{n}", "gave_up"),
            "seed_transfers": total(f"seed@{n}", "transfers"),
            "redlua_errors": ours_errors,
        }
        s = summary[str(n)]
        lines.append(
            f"| {n} | {s['redlua_ops_s']:,.0f} | {s['seed_ops_s']:,.0f} | **{ratio:.2f}** |"
            f" {s['seed_retries']:,} (per {s['seed_transfers']:,} transfers) |"
            f" {s['seed_gave_up']:,} | 0 / {ours_errors} |"
        )
        if ours_errors:
            missed.append(f"redlua had {ours_errors} errors at {n} workers")
    top = summary[str(max(levels))]["ratio_median"]
    if top < TARGET:
        missed.append(f"ratio {top:.2f} < {TARGET} at {max(levels)} workers")
    lines.append("")
    lines.append(
        f"{len(runs)} run(s); each side transfers 1 cent between random pairs of"
        f" {len(ACCOUNTS)} accounts from every worker process for {seconds:g} s; medians over"
        " runs, successful transfers only (a seed transfer that gives up after five WATCH"
        " failures is not counted). redlua runs one script per transfer and has no WATCH,"
        " so nothing to retry. Target: redlua >= "
        f"{TARGET:g}x the seed at {max(levels)} workers, no redlua error"
        f" ({'met' if not missed else 'MISSED: ' + '; '.join(missed)})."
    )
    return Table(
        name="ledger.contended",
        markdown="\n".join(lines),
        data={"seconds": seconds, "accounts": len(ACCOUNTS), "levels": summary, "runs": runs},
        missed=tuple(missed),
    )


def tables(target: Target, scenario: Scenario, wanted: Callable[[str], bool]) -> Iterator[Table]:
    """Yield the contended table (if *wanted* and the scenario has runs)."""
    if not wanted("ledger.contended"):
        return
    if scenario.runs == 0:
        print("  ledger.contended: skipped (--contended-runs 0)", file=sys.stderr)
        return
    yield contended_table(target, scenario)


SUITE = Suite(name="ledger", sync=sync_cases, tables=tables)
