"""`Semaphore` and `AsyncSemaphore` on real servers: limits, expiry, wake-ups, keys, checks."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from redlua import (
    AsyncEngine,
    Call,
    EmbeddedCluster,
    Engine,
    InvalidArgumentError,
    OutcomeUnknownError,
    Wait,
)
from redlua._registry import load_script
from redlua.locks.semaphore import (
    MAX_PAUSE,
    WAKE_TTL_MS,
    AsyncSemaphore,
    Grant,
    PermitLostError,
    Semaphore,
    SemaphoreCore,
)
from tests._twins import classes, sync_text
from tests.conftest import Blocking

SOURCE = Path(__file__).resolve().parents[2] / "src" / "redlua" / "locks" / "semaphore.py"
KEY = "redlua:sem:{s}"
WAKE = "redlua:sem:{s}:wake"


def make_sem(engine: Any, name: str = "s", limit: int = 3, ttl: float = 10) -> Any:
    """`Semaphore` on a sync engine, `AsyncSemaphore` behind the blocking face on an async one."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncSemaphore(engine.inner, name, limit, ttl), engine.loop)
    return Semaphore(engine, name, limit, ttl)


@pytest.fixture
def sync_engine(server_url: str, r: redis.Redis) -> Any:
    """A sync engine on the emptied test database, shared by threads."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    yield Engine(client)
    client.close()


# -- acquire, release, renew, read -------------------------------------------------------------


def test_limit_is_enforced_and_release_frees_a_permit(engine: Any) -> None:
    """Three permits of three are taken, a fourth is refused, a release lets one more in."""
    sem = make_sem(engine)
    permits = [sem.acquire() for _ in range(3)]
    assert len(set(permits)) == 3 and all(len(p) == 32 for p in permits)
    assert sem.acquire(blocking=False) is None
    assert sem.available() == 0
    assert set(sem.holders()) == set(permits)
    assert all(9 < left <= 10 for left in sem.holders().values())
    assert sem.release(permits[0]) is True
    assert sem.available() == 1
    assert sem.acquire(blocking=False) is not None


def test_limit_is_per_name(engine: Any) -> None:
    """Two names with a limit of 1 each hold one permit each."""
    a, b = make_sem(engine, "a", 1), make_sem(engine, "b", 1)
    assert a.acquire(blocking=False) and b.acquire(blocking=False)
    assert a.acquire(blocking=False) is None and b.acquire(blocking=False) is None


def test_timeout_gives_up_after_the_timeout(engine: Any) -> None:
    """A blocking acquire on a full semaphore returns None once its timeout has run out."""
    sem = make_sem(engine, limit=1)
    sem.acquire()
    started = time.monotonic()
    assert sem.acquire(timeout=0.2) is None
    assert 0.2 <= time.monotonic() - started < 0.6
    assert sem.acquire(timeout=0) is None


def test_release_of_unknown_or_stale_permit_changes_nothing(engine: Any, r: redis.Redis) -> None:
    """Releasing an unknown or an expired permit returns False and leaves the keys as they were."""
    sem, short = make_sem(engine, ttl=10), make_sem(engine, ttl=0.05)
    held = sem.acquire()
    stale = short.acquire()
    time.sleep(0.1)
    before, ttl = (r.zrange(KEY, 0, -1, withscores=True), r.exists(WAKE)), r.pttl(KEY)
    assert sem.release("0" * 32) is False
    assert sem.release(stale) is False
    assert (r.zrange(KEY, 0, -1, withscores=True), r.exists(WAKE)) == before
    assert ttl - 100 < r.pttl(KEY) <= ttl  # the set's expiry was not touched
    assert sem.release(held) is True
    assert sem.release(held) is False


def test_renew_extends_and_never_shortens(engine: Any, r: redis.Redis) -> None:
    """renew pushes a permit's expiry out (and the set's PEXPIRE); an expired one stays gone."""
    sem = make_sem(engine, ttl=0.3)
    permit = sem.acquire()
    assert sem.renew(permit, ttl=5) is True
    assert 4.9 < sem.holders()[permit] <= 5 and 4900 < r.pttl(KEY) <= 5000
    assert sem.renew(permit) is True  # 0.3 s would shorten it: kept at about 5 s
    assert sem.holders()[permit] > 4.5
    time.sleep(0.35)
    assert permit in sem.holders()
    assert sem.renew("f" * 32) is False
    stale = make_sem(engine, ttl=0.05).acquire()
    time.sleep(0.1)
    assert sem.renew(stale) is False
    assert sem.release(stale) is False


def test_a_resent_acquire_does_not_take_a_second_permit(engine: Any) -> None:
    """The acquire script is idempotent: the same permit id twice holds one permit."""
    core = SemaphoreCore("s", 2, 10)
    first = engine.run(core.acquire_call("p1"))
    again = engine.run(core.acquire_call("p1"))
    assert first.ok and again.ok and again.ms >= first.ms
    assert first.free == again.free == 1
    assert engine.run(core.holders_call()).keys() == {"p1"}


def test_the_acquire_flow_waits_at_most_until_the_earliest_expiry() -> None:
    """The flow's Wait is bounded by the earliest expiry, MAX_PAUSE and the timeout."""
    core = SemaphoreCore("s", 1, 10)
    flow = core.acquire_flow(timeout=5)
    first = next(flow)
    permit = first.args[0]
    assert isinstance(first, Call) and first.args[3] == "0"
    assert flow.send(Grant(False, 30_000, 0)) == Wait((WAKE,), MAX_PAUSE)
    assert flow.send(("redlua:sem:{s}:wake", "1")).args[:4] == (permit, "1", "10000", "1")
    step = flow.send(Grant(False, 100, 0))
    assert isinstance(step, Wait) and step.seconds == pytest.approx(0.101)
    assert flow.send(None).args[3] == "0"  # timed out, not woken: no wake-up to pass on
    with pytest.raises(StopIteration) as done:
        flow.send(Grant(True, 123, 0))
    assert done.value.value == permit
    short = core.acquire_flow(timeout=0.05)
    next(short)
    step = short.send(Grant(False, 30_000, 0))
    assert isinstance(step, Wait) and step.seconds <= 0.05


def test_a_lost_acquire_reply_gives_the_permit_back() -> None:
    """When the acquire's outcome is unknown the flow releases that permit, then raises."""
    core = SemaphoreCore("s", 1, 10)
    flow = core.acquire_flow(blocking=False)
    permit = next(flow).args[0]
    lost = OutcomeUnknownError("semaphore_acquire", TimeoutError("no reply"))
    release = flow.throw(lost)
    assert release.script.name == "semaphore_release" and release.args[0] == permit
    with pytest.raises(OutcomeUnknownError):
        flow.throw(OutcomeUnknownError("semaphore_release", TimeoutError("no reply")))


# -- expiry and keys ---------------------------------------------------------------------------


def test_crashed_holders_permits_come_back_after_their_ttl(engine: Any, r: redis.Redis) -> None:
    """Permits never released expire; a blocked acquire gets one soon after their TTL."""
    sem = make_sem(engine, limit=2, ttl=0.3)
    crashed = {sem.acquire(), sem.acquire()}
    assert sem.acquire(blocking=False) is None
    started = time.monotonic()
    permit = sem.acquire(timeout=3)
    assert permit is not None
    assert 0.2 < time.monotonic() - started < 1.0
    assert r.zrange(KEY, 0, -1) == [permit]  # both expired permits were reclaimed
    assert crashed.isdisjoint(sem.holders())


def test_the_set_expires_with_its_furthest_permit(engine: Any, r: redis.Redis) -> None:
    """The set's PEXPIRE follows its furthest expiry, up on acquire and down on release."""
    short, long = make_sem(engine, ttl=5), make_sem(engine, ttl=20)
    a = short.acquire()
    assert 4900 < r.pttl(KEY) <= 5000
    b = long.acquire()
    assert 19900 < r.pttl(KEY) <= 20000
    long.release(b)
    assert 4800 < r.pttl(KEY) <= 5000
    short.release(a)
    assert r.keys("*") == []


def test_keys_are_gone_after_everyone_leaves(engine: Any, r: redis.Redis) -> None:
    """Below the limit no wake-up is pushed: the last release leaves no key at all."""
    sem = make_sem(engine)
    permits = [sem.acquire(), sem.acquire()]
    assert r.type(KEY) == "zset" and r.pttl(KEY) > 0
    for permit in permits:
        assert sem.release(permit)
    assert r.keys("*") == []


def test_releasing_a_full_semaphore_leaves_a_short_wake_up(engine: Any, r: redis.Redis) -> None:
    """A release of a full semaphore pushes one wake-up that expires within WAKE_TTL_MS."""
    sem = make_sem(engine, limit=1)
    sem.release(sem.acquire())
    assert r.keys("*") == [WAKE] and r.lrange(WAKE, 0, -1) == ["1"]
    assert 0 < r.pttl(WAKE) <= WAKE_TTL_MS
    assert sem.acquire(blocking=False)  # the token does not count as a holder


# -- waiting -----------------------------------------------------------------------------------


def wake_delay(engine: Any, name: str = "s") -> float:
    """Block a waiter on a full semaphore, release after 0.3 s; return how late it got in."""
    if isinstance(engine, Blocking):
        return engine.loop.run_until_complete(_async_wake_delay(engine.inner, name))
    sem = Semaphore(engine, name, 1, 30)
    held = sem.acquire()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append((sem.acquire(timeout=5), time.monotonic())))
    waiter.start()
    time.sleep(0.3)
    released = time.monotonic()
    assert sem.release(held)
    waiter.join(5)
    assert got[0][0] is not None
    return float(got[0][1] - released)


async def _async_wake_delay(engine: AsyncEngine, name: str) -> float:
    sem = AsyncSemaphore(engine, name, 1, 30)
    held = await sem.acquire()
    assert held is not None

    async def waiter() -> tuple[str | None, float]:
        return await sem.acquire(timeout=5), time.monotonic()

    task = asyncio.ensure_future(waiter())
    await asyncio.sleep(0.3)
    released = time.monotonic()
    assert await sem.release(held)
    permit, at = await task
    assert permit is not None
    return at - released


def test_waiters_wake_promptly_on_release(engine: Any) -> None:
    """A waiter bounded by a 30 s permit (and a 2 s pause) gets in right after a release."""
    assert wake_delay(engine) < 0.25


def test_a_woken_waiter_passes_spare_permits_on(sync_engine: Engine) -> None:
    """Two releases while full wake two waiters, though only the first release pushed."""
    sem = Semaphore(sync_engine, "s", 2, 30)
    held = [sem.acquire(), sem.acquire()]
    got: list[float] = []
    waiters = [
        threading.Thread(target=lambda: sem.acquire(timeout=5) and got.append(time.monotonic()))
        for _ in range(2)
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.3)
    released = time.monotonic()
    assert all(sem.release(p) for p in held if p)
    for waiter in waiters:
        waiter.join(5)
    assert len(got) == 2 and max(got) - released < 0.25


# -- competition -------------------------------------------------------------------------------


def compete(sem: Semaphore, r: redis.Redis, rounds: int) -> None:
    """Hold a permit *rounds* times, recording the server-side count of holders each time."""
    for _ in range(rounds):
        with sem:
            r.rpush("t:seen", r.incr("t:now"))
            time.sleep(0.005)
            r.decr("t:now")


def test_sixteen_threads_never_exceed_three_holders(sync_engine: Engine, r: redis.Redis) -> None:
    """16 threads x 6 rounds on a semaphore of 3: never more than 3 holders at once."""
    sem = Semaphore(sync_engine, "s", 3, 10)
    threads = [threading.Thread(target=compete, args=(sem, r, 6)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    seen = [int(n) for n in r.lrange("t:seen", 0, -1)]
    assert len(seen) == 96 and max(seen) == 3
    assert r.exists(KEY) == 0


def _compete_in_process(url: str, barrier: Any) -> None:
    """Process body: own client and engine; compete for the semaphore of 3."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        sem = Semaphore(Engine(client), "s", 3, 10)
        sem.available()  # connect and load before the start line
        barrier.wait()
        compete(sem, client, 4)
    finally:
        client.close()


@pytest.mark.slow
def test_sixteen_processes_never_exceed_three_holders(server_url: str, r: redis.Redis) -> None:
    """16 processes (spawned, own clients) x 4 rounds: never more than 3 holders at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(16)
    procs = [
        context.Process(target=_compete_in_process, args=(server_url, barrier)) for _ in range(16)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert all(proc.exitcode == 0 for proc in procs)
    seen = [int(n) for n in r.lrange("t:seen", 0, -1)]
    assert len(seen) == 64 and max(seen) == 3


def test_sixteen_tasks_never_exceed_three_holders(server_url: str, r: redis.Redis) -> None:
    """16 tasks x 6 rounds of async with on one AsyncEngine: at most 3 holders, all released."""

    async def main() -> list[int]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        sem = AsyncSemaphore(AsyncEngine(client), "s", 3, 10)
        now, seen = 0, []

        async def task() -> None:
            nonlocal now
            for _ in range(6):
                async with sem:
                    now += 1
                    seen.append(now)
                    await asyncio.sleep(0.005)
                    now -= 1

        await sem.available()  # connect and load before the start line
        await asyncio.gather(*(task() for _ in range(16)))
        await client.aclose()
        return seen

    seen = asyncio.run(main())
    assert len(seen) == 96 and max(seen) == 3
    assert r.keys("*") in ([], [WAKE])


# -- with blocks -------------------------------------------------------------------------------


def test_with_blocks_hold_one_permit_per_thread(sync_engine: Engine, r: redis.Redis) -> None:
    """Nested with blocks take a permit each and give them back in order, per thread."""
    sem = Semaphore(sync_engine, "s", 3, 10)
    with sem as outer:
        with sem as inner:
            assert set(sem.holders()) == {outer, inner}
        assert set(sem.holders()) == {outer}
        other: list[str] = []
        thread = threading.Thread(target=lambda: other.append(sem.__enter__()))
        thread.start()
        thread.join()
        assert set(sem.holders()) == {outer, other[0]}
    assert set(sem.holders()) == {other[0]}  # this thread's exit released its own permit
    with pytest.raises(RuntimeError, match="not entered"):
        sem.__exit__(None, None, None)


def test_a_with_block_that_outlives_its_permit_raises(sync_engine: Engine) -> None:
    """A with block that ends after its permit expired raises PermitLostError; errors win."""
    sem = Semaphore(sync_engine, "s", 1, 0.05)

    def outlive(error: Exception | None = None) -> None:
        with sem:
            time.sleep(0.1)
            if error is not None:
                raise error

    with pytest.raises(PermitLostError, match="expired"):
        outlive()
    with pytest.raises(KeyError):
        outlive(KeyError("the body's own error"))


def test_async_with_belongs_to_the_task(server_url: str, r: redis.Redis) -> None:
    """Two tasks' async with blocks hold their own permits; cancelling one releases it."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        sem = AsyncSemaphore(AsyncEngine(client), "s", 3, 10)  # never full: no wake-up
        entered: dict[str, str] = {}

        async def hold(label: str, seconds: float) -> None:
            async with sem as permit:
                entered[label] = permit
                await asyncio.sleep(seconds)

        slow = asyncio.ensure_future(hold("slow", 10))
        quick = asyncio.ensure_future(hold("quick", 0.1))
        await asyncio.sleep(0.05)
        assert set(await sem.holders()) == set(entered.values()) and len(entered) == 2
        await quick
        assert set(await sem.holders()) == {entered["slow"]}  # the slow task's permit stays
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await sem.holders() == {}
        await client.aclose()

    asyncio.run(main())
    assert r.keys("*") == []


# -- checks ------------------------------------------------------------------------------------

BAD_CONSTRUCTION: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"name": ""}, ValueError, "name"),
    ({"name": "a{b"}, ValueError, "name"),
    ({"name": "a}b"}, ValueError, "name"),
    ({"name": "a\nb"}, ValueError, "name"),
    ({"name": 5}, TypeError, "name"),
    ({"limit": 0}, ValueError, "limit"),
    ({"limit": True}, TypeError, "limit"),
    ({"limit": 1.5}, TypeError, "limit"),
    ({"limit": "3"}, TypeError, "limit"),
    ({"ttl": 0}, ValueError, "ttl"),
    ({"ttl": -1}, ValueError, "ttl"),
    ({"ttl": float("nan")}, ValueError, "ttl"),
    ({"ttl": float("inf")}, ValueError, "ttl"),
    ({"ttl": 1e13}, ValueError, "ttl"),  # beyond 15 digits of milliseconds
    ({"ttl": True}, TypeError, "ttl"),
    ({"ttl": "1"}, TypeError, "ttl"),
]


def test_bad_input_raises_before_any_io(engine: Any, r: redis.Redis) -> None:
    """Bad names, limits, ttls, waits and permits raise naming the argument; nothing is written."""
    for change, error, word in BAD_CONSTRUCTION:
        args = {"name": "s", "limit": 3, "ttl": 10.0, **change}
        with pytest.raises(error, match=word):
            make_sem(engine, **args)
    sem = make_sem(engine)
    bad_calls: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (lambda: sem.acquire(blocking=False, timeout=1), ValueError, "timeout"),
        (lambda: sem.acquire(timeout=-1), ValueError, "timeout"),
        (lambda: sem.acquire(timeout="1"), TypeError, "timeout"),
        (lambda: sem.acquire(blocking=1), TypeError, "blocking"),
        (lambda: sem.release(""), ValueError, "permit"),
        (lambda: sem.release("bad id"), ValueError, "permit"),
        (lambda: sem.release(5), TypeError, "permit"),
        (lambda: sem.renew("x" * 65), ValueError, "permit"),
        (lambda: sem.renew("ok", ttl=0), ValueError, "ttl"),
    ]
    for call, error, word in bad_calls:
        with pytest.raises(error, match=word):
            call()
    assert r.keys("*") == []


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("semaphore_acquire", ("p", "0", "1000", "0", "1000")),
        ("semaphore_acquire", ("p", "3", "-5", "0", "1000")),
        ("semaphore_acquire", ("p q", "3", "1000", "0", "1000")),
        ("semaphore_acquire", ("p", "3", "1000", "2", "1000")),
        ("semaphore_acquire", ("p", "3", "1000", "0", "1e3")),
        ("semaphore_release", ("", "3", "1000")),
        ("semaphore_release", ("p", "03", "1000")),
        ("semaphore_renew", ("p", "1.5")),
        ("semaphore_holders", ("all",)),
    ],
)
def test_scripts_refuse_malformed_arguments(
    engine: Any, r: redis.Redis, script: str, args: tuple[str, ...]
) -> None:
    """Each script checks its ARGV before any write: INVALID_ARGUMENT and no key."""
    lua = load_script(script)
    keys = (KEY, WAKE)[: len(lua.contract.keys) if lua.contract else 1]
    with pytest.raises(InvalidArgumentError):
        engine.run(Call(lua, keys, args))
    assert r.keys("*") == []


def test_builders_make_the_calls_the_checked_constructor_makes() -> None:
    """Call.trusted in the builders: the same slot, keys and contract the full checks give."""
    core = SemaphoreCore("jobs:export", 3, 1.5)
    assert core.ttl_ms == 1500 and core.key == "redlua:sem:{jobs:export}"
    calls = [
        core.acquire_call("p", woken=True),
        core.release_call("p"),
        core.renew_call("p", ttl=2),
        core.holders_call(),
        core.count_call(),
    ]
    for call in calls:
        checked = Call(call.script, call.keys, call.args, call.decode)
        assert checked.slot == call.slot == core.slot
        assert all(isinstance(arg, str) for arg in call.args)
    assert calls[0].args == ("p", "3", "1500", "1", str(WAKE_TTL_MS))
    assert calls[2].args == ("p", "2000")
    assert repr(core) == "SemaphoreCore('jobs:export', limit=3, ttl=1.5)"


def test_twins_differ_only_by_async_await_and_the_owner() -> None:
    """AsyncSemaphore is Semaphore with async/await, owned by the task instead of the thread."""
    found = classes(SOURCE)
    renames = {
        "AsyncSemaphore": "Semaphore",
        "AsyncEngine": "Engine",
        "__aenter__": "__enter__",
        "__aexit__": "__exit__",
        "_current_task()": "threading.get_ident()",
    }
    assert sync_text(found["AsyncSemaphore"], renames) == sync_text(found["Semaphore"], renames)


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_semaphores_on_the_cluster(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """Acquire, wait, wake, renew and release on a 3-master cluster, names in many slots."""
    host, port = cluster.startup_nodes[0]
    raw = RedisCluster(host=host, port=port, decode_responses=True)
    names = [f"c{i}" for i in range(6)]
    assert len({SemaphoreCore(n, 1, 1).slot // 5462 for n in names}) > 1  # several masters
    for name in names:
        sem = make_sem(cluster_engine, name, limit=2, ttl=5)
        a, b = sem.acquire(), sem.acquire()
        assert sem.acquire(blocking=False) is None and sem.available() == 0
        assert sem.renew(a, ttl=8) and 7900 < raw.pttl(f"redlua:sem:{{{name}}}") <= 8000
        assert sem.release(a) and sem.release(b)
        assert raw.exists(f"redlua:sem:{{{name}}}") == 0
    sem = make_sem(cluster_engine, "c0", limit=1, ttl=5)
    sem.acquire()
    started = time.monotonic()
    assert sem.acquire(timeout=0.2) is None
    assert time.monotonic() - started >= 0.2
    assert wake_delay(cluster_engine, "c1") < 0.25
    raw.close()
