"""Engine rows: what `Engine` and `AsyncEngine` cost over raw redis-py EVALSHA.

Every row runs the same trivial script, ``return redis.call('INCR', KEYS[1])``,
preloaded, on one client per side-pair (the default, unbounded pool, used
sequentially, so one connection does all the work). Candidate and baseline
share that client, hence the server, the transport and ``decode_responses``;
they only write to different keys. Both sides are `functools.partial` objects,
so neither pays for an extra Python frame the other does not.

The ``run_functions`` rows compare the two engine modes on a shipped script
(``counter_increment``, amount 1, no ceiling, no TTL): ``Engine(mode="functions")``
(FCALL from the preloaded library) against ``Engine(mode="scripts")`` (EVALSHA of
the preloaded script), both on the same client. Informational: they decide which
mode is the default.

The threaded rows run the script from 8 and 32 threads at once (`harness.Threads`,
25 calls per thread per round): `Engine` with its shared writer (the default)
against ``Engine(pipelining=False)``, and against raw ``client.evalsha``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import redis
import redis.asyncio as aredis

from harness import AsyncCase, Case, Suite, Target, Threads
from redlua import AsyncEngine, Call, Engine, Script, load_script

SOURCE = "return redis.call('INCR', KEYS[1])"
SCRIPT = Script.from_source("bench_incr", SOURCE)
BATCH = 100
TASKS = 32
THREADS = (8, 32)
PER_THREAD = 25  # calls per thread per round of a threaded row
CANDIDATE_KEY = "redlua:bench:engine:candidate"
BASELINE_KEY = "redlua:bench:engine:baseline"
CONTROL_KEY = "redlua:bench:engine:control"
KEYS = (CANDIDATE_KEY, BASELINE_KEY, CONTROL_KEY)
SHIPPED = load_script("counter_increment")
FUNCTIONS_CALL: Call[Any] = Call(SHIPPED, (CANDIDATE_KEY + ":fn",), ("1", "", ""))
SCRIPTS_CALL: Call[Any] = Call(SHIPPED, (BASELINE_KEY + ":fn",), ("1", "", ""))
MODE_KEYS = (CANDIDATE_KEY + ":fn", BASELINE_KEY + ":fn")


def _raw_pipeline(client: redis.Redis, transaction: bool) -> list[Any]:
    pipe = client.pipeline(transaction=transaction)
    for _ in range(BATCH):
        pipe.evalsha(SCRIPT.sha, 1, BASELINE_KEY)
    return pipe.execute()


def _check_counts(what: str, replies: list[Any]) -> None:
    values = [int(r) for r in replies]
    if len(values) != BATCH or values != list(range(values[0], values[0] + BATCH)):
        raise AssertionError(f"{what}: expected {BATCH} consecutive counts, got {values[:5]}...")


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, preload the script and yield the sync rows."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    threaded: list[tuple[int, Threads, Threads, Threads]] = []
    try:
        engine = Engine(client)
        engine.register(SCRIPT.name, SCRIPT)
        engine.preload([SCRIPT])
        functions, scripts = Engine(client, mode="functions"), Engine(client, mode="scripts")
        functions.preload([SHIPPED])
        scripts.preload([SHIPPED])
        client.delete(*KEYS, *MODE_KEYS)
        if (functions.run(FUNCTIONS_CALL), scripts.run(SCRIPTS_CALL)) != (1, 1):
            raise AssertionError("the first counter_increment of each mode must return 1")
        if functions.fallback is not None:
            raise AssertionError(f"functions mode fell back to EVALSHA: {functions.fallback}")
        call: Call[Any] = Call(SCRIPT, (CANDIDATE_KEY,))
        calls = [call] * BATCH
        unshared = Engine(client, pipelining=False)
        unshared.register(SCRIPT.name, SCRIPT)
        threaded += [
            (n, Threads(partial(engine.run, call), threads=n, per=PER_THREAD),
             Threads(partial(unshared.run, call), threads=n, per=PER_THREAD),
             Threads(partial(client.evalsha, SCRIPT.sha, 1, BASELINE_KEY), threads=n,
                     per=PER_THREAD))
            for n in THREADS
        ]  # fmt: skip
        if int(engine.run(call)) != 1 or int(client.evalsha(SCRIPT.sha, 1, BASELINE_KEY)) != 1:
            raise AssertionError("the first INCR of each side must return 1")
        _check_counts("Engine.run_many", engine.run_many(calls))
        _check_counts("Engine.run_many(atomic=True)", engine.run_many(calls, atomic=True))
        _check_counts("pipeline(transaction=False)", _raw_pipeline(client, False))
        _check_counts("pipeline(transaction=True)", _raw_pipeline(client, True))
        yield [
            Case(
                name="control.evalsha",
                candidate=partial(client.evalsha, SCRIPT.sha, 1, CONTROL_KEY),
                baseline=partial(client.evalsha, SCRIPT.sha, 1, BASELINE_KEY),
                note="A/A control: client.evalsha vs itself (the harness's own bias and noise)",
            ),
            Case(
                name="engine.run",
                candidate=partial(engine.run, call),
                baseline=partial(client.evalsha, SCRIPT.sha, 1, BASELINE_KEY),
                target=1.3,
                note="Engine.run(call) vs client.evalsha(sha, 1, key)",
            ),
            Case(
                name="engine.run_functions",
                candidate=partial(functions.run, FUNCTIONS_CALL),
                baseline=partial(scripts.run, SCRIPTS_CALL),
                note="Engine(mode='functions').run vs Engine(mode='scripts').run,"
                " shipped counter_increment (FCALL vs EVALSHA)",
            ),
            Case(
                name="engine.run_many",
                candidate=partial(engine.run_many, calls),
                baseline=partial(_raw_pipeline, client, False),
                batch=BATCH,
                target=0.9,
                note=f"Engine.run_many({BATCH} calls) vs pipeline(transaction=False)"
                f" of {BATCH} evalsha",
            ),
            Case(
                name="engine.run_many_atomic",
                candidate=partial(engine.run_many, calls, atomic=True),
                baseline=partial(_raw_pipeline, client, True),
                batch=BATCH,
                note=f"Engine.run_many({BATCH} calls, atomic=True) vs pipeline(transaction=True)"
                f" of {BATCH} evalsha",
            ),
            *(
                case
                for n, shared, alone, raw in threaded
                for case in (
                    Case(
                        name=f"engine.run_{n}_threads",
                        candidate=shared,
                        baseline=alone,
                        batch=shared.batch,
                        target=1.0 if n == THREADS[0] else None,
                        note=f"Engine.run vs Engine(pipelining=False).run, {n} threads at once"
                        " (the shared writer: calls made while one is in flight share a write)",
                    ),
                    Case(
                        name=f"engine.run_{n}_threads_vs_evalsha",
                        candidate=shared,
                        baseline=raw,
                        batch=shared.batch,
                        note=f"Engine.run vs client.evalsha, {n} threads at once",
                    ),
                )
            ),
        ]
    finally:
        try:
            for _, *ops in threaded:
                for op in ops:
                    op.close()
            client.delete(*KEYS, *MODE_KEYS)
        finally:
            client.close()


@asynccontextmanager
async def async_cases(target: Target) -> AsyncIterator[list[AsyncCase]]:
    """Open one `redis.asyncio.Redis` for *target*, preload the script, yield the async rows."""
    client = aredis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        engine = AsyncEngine(client)
        engine.register(SCRIPT.name, SCRIPT)
        await engine.preload([SCRIPT])
        functions = AsyncEngine(client, mode="functions")
        scripts = AsyncEngine(client, mode="scripts")
        await functions.preload([SHIPPED])
        await scripts.preload([SHIPPED])
        await client.delete(*KEYS, *MODE_KEYS)
        firsts = await functions.run(FUNCTIONS_CALL), await scripts.run(SCRIPTS_CALL)
        if firsts != (1, 1) or functions.fallback is not None:
            raise AssertionError(
                f"functions vs scripts first calls: {firsts}, {functions.fallback}"
            )
        call: Call[Any] = Call(SCRIPT, (CANDIDATE_KEY,))
        first = await engine.run(call), await client.evalsha(SCRIPT.sha, 1, BASELINE_KEY)
        if tuple(int(v) for v in first) != (1, 1):
            raise AssertionError(f"the first INCR of each side must return 1, got {first}")
        unpiped = AsyncEngine(client, pipelining=False)
        unpiped.register(SCRIPT.name, SCRIPT)
        yield [
            AsyncCase(
                name="aio.run",
                candidate=partial(engine.run, call),
                baseline=partial(client.evalsha, SCRIPT.sha, 1, BASELINE_KEY),
                target=1.0,
                note="await AsyncEngine.run(call) vs await client.evalsha(sha, 1, key),"
                " one task (auto-pipelining on: a batch of one per tick)",
            ),
            AsyncCase(
                name="aio.run_32_tasks",
                candidate=partial(engine.run, call),
                baseline=partial(client.evalsha, SCRIPT.sha, 1, BASELINE_KEY),
                concurrency=TASKS,
                target=3.0,
                note=f"AsyncEngine.run vs client.evalsha, {TASKS} tasks at once"
                " (auto-pipelining: their calls share writes)",
            ),
            AsyncCase(
                name="aio.run_32_tasks_unpiped",
                candidate=partial(unpiped.run, call),
                baseline=partial(client.evalsha, SCRIPT.sha, 1, BASELINE_KEY),
                concurrency=TASKS,
                note=f"AsyncEngine(pipelining=False).run vs client.evalsha, {TASKS} tasks at once",
            ),
            AsyncCase(
                name="aio.run_functions",
                candidate=partial(functions.run, FUNCTIONS_CALL),
                baseline=partial(scripts.run, SCRIPTS_CALL),
                note="AsyncEngine(mode='functions').run vs AsyncEngine(mode='scripts').run,"
                " shipped counter_increment (FCALL vs EVALSHA)",
            ),
        ]
    finally:
        try:
            await client.delete(*KEYS, *MODE_KEYS)
        finally:
            await client.aclose()


SUITE = Suite(name="engine", sync=sync_cases, async_=async_cases)
