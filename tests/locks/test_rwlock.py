"""`ReadWriteLock` and `AsyncReadWriteLock` on real servers: sharing, exclusion, fairness, keys."""

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

from redlua import AsyncEngine, Call, EmbeddedCluster, Engine, InvalidArgumentError
from redlua._registry import load_script
from redlua.errors import CorruptDataError, LockLostError
from redlua.locks import AsyncReadWriteLock, ReadWriteLock, RWState
from redlua.locks.rwlock import INTENT_MS, ReadWriteLockCore
from redlua.locks.semaphore import WAKE_TTL_MS
from tests._twins import classes, sync_text
from tests.conftest import Blocking

SOURCE = Path(__file__).resolve().parents[2] / "src" / "redlua" / "locks" / "rwlock.py"
CORE = ReadWriteLockCore("d", 10)
READERS, WRITER, INTENT, WAKE_R, WAKE_W = CORE.keys


def make_rw(engine: Any, name: str = "d", ttl: float = 10) -> Any:
    """`ReadWriteLock` on a sync engine, `AsyncReadWriteLock` behind the blocking face."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncReadWriteLock(engine.inner, name, ttl), engine.loop)
    return ReadWriteLock(engine, name, ttl)


@pytest.fixture
def sync_engine(server_url: str, r: redis.Redis) -> Any:
    """A sync engine on the emptied test database, shared by threads."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    yield Engine(client)
    client.close()


def _lasting(r: redis.Redis) -> list[str]:
    """Keys without a TTL (a leak), every key of the test database considered."""
    return [k for k in r.keys("*") if r.pttl(k) < 0]


# -- sharing and exclusion ---------------------------------------------------------------------


def test_readers_share_and_a_writer_is_alone(engine: Any, r: redis.Redis) -> None:
    """Two readers hold at once; no writer meanwhile; a writer keeps readers and writers out."""
    rw = make_rw(engine)
    a, b = rw.acquire("read"), rw.acquire("read")
    assert a and b and a != b
    assert rw.state() == RWState("", 0.0, 2, "")
    assert rw.acquire("write", blocking=False) is None
    assert rw.state().waiting_writer == ""  # a writer that gave up withdrew its intent
    assert rw.release("read", a) and rw.release("read", b)
    w = rw.acquire("write", blocking=False)
    assert w is not None
    assert rw.acquire("read", blocking=False) is None
    assert rw.acquire("write", blocking=False) is None
    state = rw.state()
    assert state.writer == w and 9 < state.writer_left <= 10 and state.readers == 0
    assert rw.release("write", w)
    assert r.exists(READERS, WRITER, INTENT) == 0
    assert _lasting(r) == []  # wake lists, if any, expire


def test_a_waiting_writer_keeps_new_readers_out(engine: Any, r: redis.Redis) -> None:
    """A writer kept out by a reader leaves an intent: later readers wait, the writer is woken."""
    r1 = engine.run(CORE.acquire_call("read", "r1"))
    assert r1.ok and r1.free == 1
    kept = engine.run(CORE.acquire_call("write", "w1"))
    assert not kept.ok and 9000 < kept.ms <= 10000  # until the reader's lease ends
    assert r.get(INTENT) == "w1" and 0 < r.pttl(INTENT) <= INTENT_MS
    assert not engine.run(CORE.acquire_call("read", "r2")).ok  # behind the waiting writer
    assert engine.run(CORE.acquire_call("read", "r1")).ok  # a holder renews, intent or not
    assert engine.run(CORE.release_call("read", "r1"))
    assert r.lrange(WAKE_W, 0, -1) == ["1"] and r.exists(WAKE_R) == 0  # the writer is woken
    assert engine.run(CORE.acquire_call("write", "w1", woken=True)).ok
    assert r.exists(INTENT) == 0 and r.get(WRITER) == "w1"
    assert engine.run(CORE.release_call("write", "w1"))
    assert r.lrange(WAKE_R, 0, -1) == ["1"]  # no writer waits: a reader is woken
    assert engine.run(CORE.acquire_call("read", "r2", woken=True)).ok
    assert r.lrange(WAKE_R, 0, -1) == ["1", "1"]  # ... and a woken reader wakes the next


def test_a_writer_waits_behind_a_writer_and_says_so(engine: Any, r: redis.Redis) -> None:
    """A writer kept out by a writer also leaves its intent; the release wakes that writer."""
    assert engine.run(CORE.acquire_call("write", "w1")).ok
    assert not engine.run(CORE.acquire_call("write", "w2")).ok
    assert r.get(INTENT) == "w2"
    assert not engine.run(CORE.acquire_call("write", "w3")).ok
    assert r.get(INTENT) == "w2"  # the first waiting writer keeps its place
    assert engine.run(CORE.release_call("write", "w1"))
    assert r.lrange(WAKE_W, 0, -1) == ["1"]
    assert engine.run(CORE.release_call("intent", "w2"))  # w2 gives up: readers may go
    assert r.exists(INTENT) == 0 and r.lrange(WAKE_R, 0, -1) == ["1"]


def test_release_by_a_stranger_changes_nothing(engine: Any, r: redis.Redis) -> None:
    """Releases and renewals of ids that do not hold (or hold the other mode) return False."""
    rw = make_rw(engine)
    reader = rw.acquire("read")
    before = {k: r.dump(k) for k in r.keys("*")}
    assert not rw.release("read", "stranger")
    assert not rw.release("write", reader)
    assert not rw.renew("write", reader)
    assert not rw.renew("read", "stranger")
    assert {k: r.dump(k) for k in r.keys("*")} == before
    w_core = ReadWriteLockCore("e", 10)
    writer = engine.run(w_core.acquire_call("write", "w"))
    assert writer.ok
    assert not engine.run(w_core.release_call("read", "w"))
    assert not engine.run(w_core.release_call("write", "x"))
    assert not engine.run(w_core.release_call("intent", "w"))
    assert r.get(w_core.keys[1]) == "w"


def test_a_resent_acquire_takes_the_lock_once(engine: Any, r: redis.Redis) -> None:
    """The same holder id acquired twice holds once, with a fresh expiry."""
    assert engine.run(CORE.acquire_call("read", "r1")).ok
    again = engine.run(CORE.acquire_call("read", "r1"))
    assert again.ok and again.free == 1 and r.zcard(READERS) == 1
    core = ReadWriteLockCore("e", 10)
    assert engine.run(core.acquire_call("write", "w")).ok
    assert engine.run(core.acquire_call("write", "w")).ok


def test_holds_expire_on_the_server_clock(engine: Any, r: redis.Redis) -> None:
    """A crashed reader's and writer's holds end after their ttl: the next one gets in."""
    rw = make_rw(engine, ttl=0.2)
    assert rw.acquire("read") is not None
    started = time.monotonic()
    w = rw.acquire("write", timeout=2)
    assert w is not None and 0.1 < time.monotonic() - started < 1.0
    started = time.monotonic()
    assert rw.acquire("read", timeout=2) is not None
    assert 0.1 < time.monotonic() - started < 1.0
    time.sleep(0.3)
    assert r.exists(READERS, WRITER) == 0


def test_renew_extends_the_hold(engine: Any, r: redis.Redis) -> None:
    """renew moves a read or write hold's expiry to now + ttl; an expired one stays gone."""
    rw = make_rw(engine, ttl=1)
    reader = rw.acquire("read")
    assert rw.renew("read", reader, ttl=20)
    assert 19_000 < r.pttl(READERS) <= 20_000 and rw.release("read", reader)
    writer = rw.acquire("write")
    assert rw.renew("write", writer, ttl=20) and 19_000 < r.pttl(WRITER) <= 20_000
    assert rw.release("write", writer)
    short = make_rw(engine, ttl=0.05)
    gone = short.acquire("write")
    time.sleep(0.1)
    assert not short.renew("write", gone) and r.exists(WRITER) == 0


def test_the_timeout_is_kept(engine: Any) -> None:
    """A writer waiting on a reader gives up after its timeout, no sooner."""
    rw = make_rw(engine)
    rw.acquire("read")
    started = time.monotonic()
    assert rw.acquire("write", timeout=0.3) is None
    assert 0.3 <= time.monotonic() - started < 0.8
    assert rw.state().waiting_writer == ""


# -- waking ------------------------------------------------------------------------------------


def _woken_after(rw: ReadWriteLock, first: str, then: str) -> float:
    """Hold in *first* mode, have a thread wait in *then* mode, release; how late it got in."""
    held = rw.acquire(first)  # type: ignore[arg-type]
    assert held is not None
    got: list[Any] = []
    waiter = threading.Thread(
        target=lambda: got.append((rw.acquire(then, timeout=5), time.monotonic()))  # type: ignore[arg-type]
    )
    waiter.start()
    time.sleep(0.3)
    released = time.monotonic()
    assert rw.release(first, held)  # type: ignore[arg-type]
    waiter.join(5)
    assert got[0][0] is not None
    assert rw.release(then, got[0][0])  # type: ignore[arg-type]
    return float(got[0][1] - released)


@pytest.mark.parametrize(
    ("first", "then"), [("read", "write"), ("write", "read"), ("write", "write")]
)
def test_waiters_are_woken_at_release_not_polled(
    sync_engine: Engine, first: str, then: str
) -> None:
    """A waiter gets in well within the 2 s fallback pause of its release (a BLPOP wake-up)."""
    assert _woken_after(ReadWriteLock(sync_engine, "d", 30), first, then) < 0.25


def test_a_woken_reader_lets_the_other_readers_in(sync_engine: Engine) -> None:
    """Five readers wait on a writer; its release lets all five in, not just one."""
    rw = ReadWriteLock(sync_engine, "d", 30)
    w = rw.acquire("write")
    assert w is not None
    got: list[float] = []

    def read() -> None:
        holder = rw.acquire("read", timeout=5)
        assert holder is not None
        got.append(time.monotonic())

    readers = [threading.Thread(target=read) for _ in range(5)]
    for thread in readers:
        thread.start()
    time.sleep(0.3)
    released = time.monotonic()
    rw.release("write", w)
    for thread in readers:
        thread.join(5)
    assert len(got) == 5 and max(got) - released < 0.5
    assert rw.state().readers == 5


def test_a_stream_of_readers_does_not_starve_a_writer(sync_engine: Engine) -> None:
    """Six threads keep overlapping read holds; a writer still gets in within a second."""
    rw = ReadWriteLock(sync_engine, "d", 10)
    stop = threading.Event()

    def keep_reading() -> None:
        while not stop.is_set():
            with rw.read(timeout=5):
                time.sleep(0.02)

    readers = [threading.Thread(target=keep_reading) for _ in range(6)]
    for thread in readers:
        thread.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        with rw.write(timeout=5):
            took = time.monotonic() - started
            assert rw.state().readers == 0
    finally:
        stop.set()
        for thread in readers:
            thread.join(10)
    assert took < 1.0


# -- races: the invariant, checked by every holder ------------------------------------------------


def hold(rw: Any, r: redis.Redis, mode: str) -> None:
    """Body of one hold: count in, check nobody holds against this mode, count out."""
    if mode == "write":
        writers, readers = r.incr("t:w"), int(r.get("t:r") or 0)
        if writers != 1 or readers:
            r.rpush("t:bad", f"writer with {writers} writers, {readers} readers")
        time.sleep(0.003)
        r.decr("t:w")
    else:
        readers, writers = r.incr("t:r"), int(r.get("t:w") or 0)
        r.rpush("t:readers", readers)
        if writers:
            r.rpush("t:bad", f"reader with {writers} writers")
        time.sleep(0.003)
        r.decr("t:r")


def compete(rw: ReadWriteLock, r: redis.Redis, worker: int, rounds: int) -> None:
    """One worker: *rounds* holds, one in four a write."""
    for i in range(rounds):
        mode = "write" if (worker + i) % 4 == 0 else "read"
        with rw.write() if mode == "write" else rw.read():
            hold(rw, r, mode)


def _check(r: redis.Redis, holds: int) -> None:
    assert r.lrange("t:bad", 0, -1) == []
    readers = [int(n) for n in r.lrange("t:readers", 0, -1)]
    assert len(readers) == holds * 3 // 4 and max(readers) > 1  # readers did share
    assert r.exists(READERS, WRITER, INTENT) == 0


def test_twelve_threads_keep_readers_and_writers_apart(sync_engine: Engine, r: redis.Redis) -> None:
    """12 threads x 16 holds (a quarter writes): no writer ever overlaps anyone."""
    rw = ReadWriteLock(sync_engine, "d", 10)
    threads = [threading.Thread(target=compete, args=(rw, r, w, 16)) for w in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    _check(r, 12 * 16)


def _compete_in_process(url: str, worker: int, barrier: Any) -> None:
    """Process body: own client and engine; compete for the read-write lock."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        rw = ReadWriteLock(Engine(client), "d", 10)
        rw.state()  # connect and load before the start line
        barrier.wait()
        compete(rw, client, worker, 8)
    finally:
        client.close()


@pytest.mark.slow
def test_eight_processes_keep_readers_and_writers_apart(server_url: str, r: redis.Redis) -> None:
    """8 processes (spawned, own clients) x 8 holds: no writer ever overlaps anyone."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(8)
    procs = [
        context.Process(target=_compete_in_process, args=(server_url, w, barrier)) for w in range(8)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert all(proc.exitcode == 0 for proc in procs)
    _check(r, 8 * 8)


def test_sixteen_tasks_keep_readers_and_writers_apart(server_url: str, r: redis.Redis) -> None:
    """16 tasks x 8 async with blocks on one AsyncEngine: no writer overlaps anyone."""

    async def main() -> tuple[list[str], list[int]]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        rw = AsyncReadWriteLock(AsyncEngine(client), "d", 10)
        readers = writers = 0
        bad: list[str] = []
        seen: list[int] = []

        async def task(worker: int) -> None:
            nonlocal readers, writers
            for i in range(8):
                if (worker + i) % 4 == 0:
                    async with rw.write():
                        writers += 1
                        if writers != 1 or readers:
                            bad.append(f"writer with {writers} writers, {readers} readers")
                        await asyncio.sleep(0.003)
                        writers -= 1
                else:
                    async with rw.read():
                        readers += 1
                        seen.append(readers)
                        if writers:
                            bad.append("reader with a writer")
                        await asyncio.sleep(0.003)
                        readers -= 1

        await rw.state()
        await asyncio.gather(*(task(w) for w in range(16)))
        await client.aclose()
        return bad, seen

    bad, seen = asyncio.run(main())
    assert bad == [] and len(seen) == 16 * 8 * 3 // 4 and max(seen) > 1
    assert r.exists(READERS, WRITER, INTENT) == 0


# -- with blocks -------------------------------------------------------------------------------


def test_a_with_block_that_outlives_its_hold_raises(sync_engine: Engine, r: redis.Redis) -> None:
    """A write block longer than the ttl raises LockLostError at its end."""
    rw = ReadWriteLock(sync_engine, "d", 0.05)
    with pytest.raises(LockLostError, match="expired"), rw.write():
        time.sleep(0.1)
    patient = ReadWriteLock(sync_engine, "d", 10)
    assert patient.acquire("read") is not None
    with pytest.raises(TimeoutError, match="write"), patient.write(timeout=0.1):
        pass


def test_a_task_cancelled_inside_async_with_releases(server_url: str, r: redis.Redis) -> None:
    """Cancelling a task that holds the write lock in async with frees it for the next."""

    async def main() -> tuple[bool, str | None]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        rw = AsyncReadWriteLock(AsyncEngine(client), "d", 30)
        entered = asyncio.Event()

        async def holder() -> None:
            async with rw.write():
                entered.set()
                await asyncio.sleep(30)

        task = asyncio.ensure_future(holder())
        await entered.wait()
        task.cancel()
        cancelled = False
        try:
            await task
        except asyncio.CancelledError:
            cancelled = True
        got = await rw.acquire("write", blocking=False)
        await client.aclose()
        return cancelled, got

    cancelled, got = asyncio.run(main())
    assert cancelled and got is not None


# -- checks ------------------------------------------------------------------------------------


def test_bad_input_raises_before_any_io(engine: Any, r: redis.Redis) -> None:
    """Bad names, ttls, modes, waits and holder ids raise naming the argument; nothing is written."""
    for args, error, word in [
        (("",), ValueError, "name"),
        (("a{b",), ValueError, "name"),
        ((5,), TypeError, "name"),
    ]:
        with pytest.raises(error, match=word):
            make_rw(engine, *args)
    for ttl, error in [
        (0, ValueError),
        (-1, ValueError),
        (float("nan"), ValueError),
        ("1", TypeError),
    ]:
        with pytest.raises(error, match="ttl"):
            make_rw(engine, "d", ttl)
    rw = make_rw(engine)
    bad_calls: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (lambda: rw.acquire("both"), ValueError, "mode"),
        (lambda: rw.acquire(1), TypeError, "mode"),
        (lambda: rw.acquire("read", blocking=False, timeout=1), ValueError, "timeout"),
        (lambda: rw.acquire("write", timeout=-1), ValueError, "timeout"),
        (lambda: rw.release("read", "bad id"), ValueError, "holder"),
        (lambda: rw.release("intent", "w"), ValueError, "mode"),
        (lambda: rw.renew("write", "ok", ttl=0), ValueError, "ttl"),
        (lambda: rw.renew("write", 5), TypeError, "holder"),
    ]
    for call, error, word in bad_calls:
        with pytest.raises(error, match=word):
            call()
    assert r.keys("*") == []


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("rwlock_acquire", ("both", "h", "1000", "0", "1000", "5000")),
        ("rwlock_acquire", ("read", "h q", "1000", "0", "1000", "5000")),
        ("rwlock_acquire", ("read", "h", "0", "0", "1000", "5000")),
        ("rwlock_acquire", ("write", "h", "1000", "2", "1000", "5000")),
        ("rwlock_acquire", ("write", "h", "1000", "0", "1e3", "5000")),
        ("rwlock_acquire", ("write", "h", "1000", "0", "1000", "-5")),
        ("rwlock_release", ("reads", "h", "1000")),
        ("rwlock_release", ("read", "", "1000")),
        ("rwlock_release", ("write", "h", "01")),
        ("rwlock_renew", ("intent", "h", "1000")),
        ("rwlock_renew", ("read", "h", "1.5")),
    ],
)
def test_scripts_refuse_malformed_arguments(
    engine: Any, r: redis.Redis, script: str, args: tuple[str, ...]
) -> None:
    """Each script checks its ARGV before any write: INVALID_ARGUMENT and no key."""
    with pytest.raises(InvalidArgumentError):
        engine.run(Call(load_script(script), CORE.keys, args))
    assert r.keys("*") == []


@pytest.mark.parametrize("index", range(5))
def test_a_key_of_another_type_is_refused_before_any_write(
    engine: Any, r: redis.Redis, index: int
) -> None:
    """Any of the five keys holding another type: CORRUPT_DATA from every script, nothing written."""
    key = CORE.keys[index]
    if index == 0:
        r.set(key, "x")
    else:
        r.zadd(key, {"x": 1})
    before = {k: r.dump(k) for k in r.keys("*")}
    for call in (
        CORE.acquire_call("read", "h", woken=True),
        CORE.acquire_call("write", "h"),
        CORE.release_call("read", "h"),
        CORE.release_call("write", "h"),
        CORE.renew_call("read", "h"),
    ):
        with pytest.raises(CorruptDataError):
            engine.run(call)
    if index < 3:
        with pytest.raises(CorruptDataError):
            engine.run(CORE.state_call())
    assert {k: r.dump(k) for k in r.keys("*")} == before


def test_builders_make_the_calls_the_checked_constructor_makes() -> None:
    """Call.trusted in the builders: one slot, every key under the name's hash tag."""
    core = ReadWriteLockCore("docs:42", 1.5)
    assert core.ttl_ms == 1500 and core.keys[0] == "redlua:rw:{docs:42}:readers"
    calls = [
        core.acquire_call("write", "h", woken=True),
        core.release_call("intent", "h"),
        core.renew_call("read", "h", ttl=2),
        core.state_call(),
    ]
    for call in calls:
        checked = Call(call.script, call.keys, call.args, call.decode)
        assert checked.slot == call.slot == core.slot
    assert calls[0].args == ("write", "h", "1500", "1", str(WAKE_TTL_MS), str(INTENT_MS))
    assert calls[2].args == ("read", "h", "2000")


def test_twins_differ_only_by_async_await() -> None:
    """AsyncReadWriteLock and AsyncHeld are ReadWriteLock and Held with async/await."""
    found = classes(SOURCE)
    renames = {
        "AsyncReadWriteLock": "ReadWriteLock",
        "AsyncEngine": "Engine",
        "AsyncHeld": "Held",
        "__aenter__": "__enter__",
        "__aexit__": "__exit__",
    }
    for name in ("ReadWriteLock", "Held"):
        assert sync_text(found["Async" + name], renames) == sync_text(found[name], renames)


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_read_write_locks_on_the_cluster(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """Read, write, wait and release on a 3-master cluster, names in several slots."""
    host, port = cluster.startup_nodes[0]
    raw = RedisCluster(host=host, port=port, decode_responses=True)
    names = [f"c{i}" for i in range(6)]
    assert len({ReadWriteLockCore(n, 1).slot // 5462 for n in names}) > 1  # several masters
    try:
        for name in names:
            rw = make_rw(cluster_engine, name, ttl=5)
            a, b = rw.acquire("read"), rw.acquire("read")
            assert rw.acquire("write", timeout=0.1) is None
            assert rw.release("read", a) and rw.release("read", b)
            w = rw.acquire("write", blocking=False)
            assert w is not None and rw.acquire("read", blocking=False) is None
            assert rw.release("write", w)
            assert raw.exists(*ReadWriteLockCore(name, 1).keys[:3]) == 0
    finally:
        raw.close()
