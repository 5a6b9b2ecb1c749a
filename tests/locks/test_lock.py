"""`Lock` and `AsyncLock` on a real server: the API, ownership, renewal, checks before I/O."""

from __future__ import annotations

import ast
import asyncio
import difflib
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from redlua import AsyncEngine, OutcomeUnknownError, ServerError, key_slot
from redlua.locks import (
    Acquired,
    AsyncLock,
    Lock,
    LockLostError,
    LockOps,
    LockState,
    NotOwnerError,
    lock_keys,
)
from redlua.locks.renewer import async_renewer_for, renewer_for
from tests.locks import Locks

LOCK_PY = Path(__file__).resolve().parents[2] / "src" / "redlua" / "locks" / "lock.py"
KEY = "redlua:lock:{job}"


@pytest.fixture
def locks(engine: Any) -> Iterator[Locks]:
    """Lock factory on the test database, sync and async, each lock behind one owner."""
    made = Locks(engine)
    yield made
    made.close()


def calls(locks: Locks, script: str) -> int:
    """How many times the engine ran *script* so far."""
    stats = locks.engine.stats().get(script)
    return 0 if stats is None else stats.calls


# -- acquire and release -----------------------------------------------------------------------


def test_acquire_and_release_leave_no_key(locks: Locks, r: redis.Redis) -> None:
    """A free lock is taken in one call, holds the token with the ttl, and release deletes it."""
    lock = locks.make("job", ttl=5)
    assert lock.acquire() is True
    assert r.get(KEY) == lock.token and len(lock.token) == 32
    assert 4900 < r.pttl(KEY) <= 5000
    assert lock.fence is None
    lock.release()
    assert r.keys("*") == []
    assert lock.token is None
    assert calls(locks, "locks_acquire") == 1 and calls(locks, "locks_release") == 1


def test_each_acquisition_gets_a_new_token(locks: Locks) -> None:
    """The token is random per acquisition, not per lock object."""
    lock = locks.make("job")
    seen = set()
    for _ in range(3):
        lock.acquire()
        seen.add(lock.token)
        lock.release()
    assert len(seen) == 3


def test_busy_lock_refuses_a_try_and_times_out(locks: Locks, r: redis.Redis) -> None:
    """blocking=False tries once; a timeout gives up after about that long; the holder keeps it."""
    holder, other = locks.make("job", ttl=10), locks.make("job", ttl=10)
    holder.acquire()
    assert other.acquire(blocking=False) is False
    started = time.monotonic()
    assert other.acquire(timeout=0.25) is False
    assert 0.25 <= time.monotonic() - started < 0.3  # exact, not on the server's 100 ms tick
    assert r.get(KEY) in (holder.token, holder.token + "+")  # "+": a waiter was queued
    holder.release()
    assert other.acquire(timeout=0) is True
    other.release()


def test_timeout_zero_tries_once(locks: Locks) -> None:
    """acquire(timeout=0) is one attempt that does not wait."""
    holder, other = locks.make("job"), locks.make("job")
    holder.acquire()
    started = time.monotonic()
    assert other.acquire(timeout=0) is False
    assert time.monotonic() - started < 0.1
    holder.release()


def test_locked_and_owned(locks: Locks) -> None:
    """locked() says anyone holds it; owned() says the caller does, as the server sees it."""
    lock, other = locks.make("job"), locks.make("job")
    assert lock.locked() is False and lock.owned() is False
    lock.acquire()
    assert lock.locked() is True and lock.owned() is True
    assert other.locked() is True and other.owned() is False
    lock.release()
    assert lock.locked() is False and lock.owned() is False


def test_release_without_holding_raises_without_io(locks: Locks) -> None:
    """Releasing or extending a lock the caller never took is NotOwnerError, no script runs."""
    lock = locks.make("job")
    with pytest.raises(NotOwnerError, match="not held by the calling"):
        lock.release()
    with pytest.raises(NotOwnerError):
        lock.extend(1)
    with pytest.raises(NotOwnerError):
        lock.assert_held()
    assert lock.try_release() is False
    assert locks.engine.stats() == {}


# -- ownership -------------------------------------------------------------------------------


def test_another_owner_cannot_release_or_extend(locks: Locks, r: redis.Redis) -> None:
    """Another thread or task gets NotOwnerError from the same lock object, without I/O."""
    mine = locks.make("job", ttl=5)
    theirs = locks.as_owner(mine, locks.new_owner())
    mine.acquire()
    before = calls(locks, "locks_release")
    with pytest.raises(NotOwnerError):
        theirs.release()
    with pytest.raises(NotOwnerError):
        theirs.extend(10)
    assert theirs.try_release() is False
    assert calls(locks, "locks_release") == before
    assert theirs.token is None and mine.token is not None
    assert theirs.acquire(blocking=False) is False
    assert r.get(KEY) is not None and mine.owned()
    mine.release()
    assert theirs.acquire(blocking=False) is True
    assert theirs.owned() and not mine.owned()
    theirs.release()


def test_one_lock_object_serves_owners_in_turn(locks: Locks) -> None:
    """A waiting owner of the same object takes the lock when the first owner releases it."""
    first = locks.make("job", ttl=5)
    second = locks.as_owner(first, locks.new_owner())
    first.acquire()
    assert second.acquire(timeout=0.1) is False
    first.release()
    assert second.acquire(timeout=1) is True
    with pytest.raises(NotOwnerError):
        first.release()
    second.release()


# -- expiry, extend, renew -----------------------------------------------------------------


def test_expiry_lets_another_owner_in_and_a_late_release_changes_nothing(
    locks: Locks, r: redis.Redis
) -> None:
    """After the ttl another owner takes it; the former owner's release raises and deletes nothing."""
    former, later = locks.make("job", ttl=0.2), locks.make("job", ttl=5)
    former.acquire()
    locks.sleep(0.3)
    assert former.lost is True
    with pytest.raises(LockLostError, match="ttl"):
        former.assert_held()
    assert later.acquire(blocking=False) is True
    with pytest.raises(NotOwnerError, match="NOT_OWNER"):
        former.release()
    assert r.get(KEY) == later.token
    assert former.token is None
    with pytest.raises(NotOwnerError):
        former.extend(5)  # no hold left: refused without I/O
    later.release()


def test_extend_adds_and_replace_sets(locks: Locks, r: redis.Redis) -> None:
    """extend(s) adds to the time left, replace=True sets it, renew() goes back to the ttl."""
    lock = locks.make("job", ttl=1)
    lock.acquire()
    assert 2.9 < lock.extend(2) <= 3.0
    assert 2900 < r.pttl(KEY) <= 3000
    assert lock.extend(0.5, replace=True) == 0.5
    assert 400 < r.pttl(KEY) <= 500
    assert lock.renew() == 1.0
    assert 900 < r.pttl(KEY) <= 1000
    lock.release()


def test_extend_after_expiry_marks_the_hold_lost(locks: Locks, r: redis.Redis) -> None:
    """An extend that finds the lock gone raises NotOwnerError, changes nothing, marks it lost."""
    lost: list[Any] = []
    lock = locks.make("job", ttl=5, on_lost=lost.append)
    lock.acquire()
    r.delete(KEY)
    with pytest.raises(NotOwnerError):
        lock.renew()
    assert r.keys("*") == []
    assert lock.lost is True and lost == [lock.lock]
    with pytest.raises(LockLostError, match="gone or taken"):
        lock.assert_held()
    with pytest.raises(NotOwnerError):
        lock.release()
    assert lock.lost is False  # the hold is gone with the release


def test_a_waiter_that_gives_up_leaves_the_queue(locks: Locks, r: redis.Redis) -> None:
    """A timed-out waiter leaves the waiter set; the release then frees the lock, no key left."""
    holder, other = locks.make("job", ttl=5), locks.make("job")
    holder.acquire()
    assert other.acquire(timeout=0.05) is False
    assert r.get(KEY) == holder.token and r.exists(KEY + ":waiters") == 0
    assert holder.extend(1) > 5
    assert holder.owned()
    holder.release()
    assert r.keys("*") == []


# -- reentrancy --------------------------------------------------------------------------------


def test_reentrant_lock_counts_nested_holds_locally(locks: Locks, r: redis.Redis) -> None:
    """Nested acquires cost no round trip; only the last release deletes on the server."""
    lock = locks.make("job", reentrant=True)
    assert lock.acquire() and lock.acquire() and lock.acquire(blocking=False)
    assert calls(locks, "locks_acquire") == 1
    token = lock.token
    lock.release()
    lock.release()
    assert r.get(KEY) == token and calls(locks, "locks_release") == 0
    lock.release()
    assert r.keys("*") == [] and calls(locks, "locks_release") == 1
    with pytest.raises(NotOwnerError):
        lock.release()


def test_reentrancy_is_per_owner(locks: Locks) -> None:
    """Another owner of a reentrant lock object waits like anyone else."""
    lock = locks.make("job", reentrant=True)
    other = locks.as_owner(lock, locks.new_owner())
    lock.acquire()
    assert other.acquire(blocking=False) is False
    lock.release()
    assert other.acquire(blocking=False) is True
    other.release()


def test_non_reentrant_lock_refuses_to_wait_for_itself(locks: Locks) -> None:
    """Acquiring a held non-reentrant lock again: False without blocking, RuntimeError blocking."""
    lock = locks.make("job")
    lock.acquire()
    assert lock.acquire(blocking=False) is False
    with pytest.raises(RuntimeError, match="wait for itself"):
        lock.acquire()
    assert calls(locks, "locks_acquire") == 1
    lock.release()


def test_a_lost_hold_is_taken_anew_by_its_owner(locks: Locks, r: redis.Redis) -> None:
    """A non-reentrant owner whose hold ran out may acquire again without releasing first."""
    lock = locks.make("job", ttl=0.1)
    lock.acquire()
    first = lock.token
    locks.sleep(0.15)
    assert lock.acquire(blocking=False) is True
    assert lock.token != first and r.get(KEY) == lock.token
    lock.release()


def test_reentering_a_lost_lock_raises(locks: Locks) -> None:
    """A reentrant hold whose ttl ran out cannot be nested any more."""
    lock = locks.make("job", ttl=0.1, reentrant=True)
    lock.acquire()
    locks.sleep(0.15)
    with pytest.raises(LockLostError):
        lock.acquire()
    with pytest.raises(NotOwnerError):
        lock.release()


# -- context managers --------------------------------------------------------------------------


def test_with_block_releases_on_exit_and_on_error(locks: Locks, r: redis.Redis) -> None:
    """Leaving the block releases the lock, also when the block raises."""
    lock = locks.make("job")
    with lock:
        assert r.get(KEY) == lock.token
    assert r.keys("*") == []
    with pytest.raises(KeyError), lock:
        raise KeyError("boom")
    assert r.keys("*") == []


def test_with_block_reports_a_lock_lost_inside(locks: Locks, r: redis.Redis) -> None:
    """A block that outlived its lock raises NotOwnerError on exit, unless it raised itself."""
    lock = locks.make("job", ttl=0.1)
    with pytest.raises(NotOwnerError), lock:
        locks.sleep(0.15)

    def lose_it_and_fail() -> None:
        r.delete(KEY)
        raise KeyError("the block's own error wins")

    with pytest.raises(KeyError), lock:
        lose_it_and_fail()


# -- fencing -----------------------------------------------------------------------------------


def test_fencing_tokens_increase_and_the_counter_stays(locks: Locks, r: redis.Redis) -> None:
    """Each grant gets the next fencing token of the name; the counter outlives the lock."""
    lock = locks.make("job", fencing=True)
    fences = []
    for _ in range(4):
        lock.acquire()
        fences.append(lock.fence)
        lock.release()
    assert fences == [1, 2, 3, 4]
    assert r.keys("*") == [KEY + ":fence"] and r.get(KEY + ":fence") == "4"
    assert r.ttl(KEY + ":fence") == -1


def test_without_fencing_no_key_is_left(locks: Locks, r: redis.Redis) -> None:
    """With fencing off (the default) a released name leaves nothing behind."""
    lock = locks.make("job")
    lock.acquire()
    assert lock.fence is None
    lock.release()
    assert r.keys("*") == []


def test_a_corrupt_fence_counter_refuses_the_grant(locks: Locks, r: redis.Redis) -> None:
    """A fence key that holds no counter fails the acquire and leaves the lock free."""
    r.set(KEY + ":fence", "not a number")
    lock = locks.make("job", fencing=True)
    with pytest.raises(Exception, match="CORRUPT_DATA"):
        lock.acquire()
    assert r.get(KEY) is None and lock.token is None


def test_a_foreign_key_at_the_lock_name_is_reported(locks: Locks, r: redis.Redis) -> None:
    """A hash where the lock's string should be raises CORRUPT_DATA, written nothing."""
    r.hset(KEY, "f", "v")
    lock = locks.make("job")
    with pytest.raises(Exception, match="CORRUPT_DATA"):
        lock.acquire(blocking=False)
    with pytest.raises(Exception, match="CORRUPT_DATA"):
        lock.locked()
    assert r.hgetall(KEY) == {"f": "v"}


# -- auto-renewal ------------------------------------------------------------------------------


def renewer_of(locks: Locks) -> Any:
    """The engine's one renewer."""
    if locks.is_async:
        return async_renewer_for(locks.engine)
    return renewer_for(locks.engine)


def test_auto_renew_holds_the_lock_across_three_ttls(locks: Locks, r: redis.Redis) -> None:
    """Work lasting 3x the ttl keeps the lock; nobody else gets it; the renewer then stops."""
    lock = locks.make("job", ttl=0.3, auto_renew=True)
    other = locks.make("job")
    lock.acquire()
    for _ in range(3):
        locks.sleep(0.3)
        assert other.acquire(blocking=False) is False
    assert lock.lost is False and lock.owned() is True
    lock.assert_held()
    assert calls(locks, "locks_extend") >= 6
    lock.release()
    assert r.keys("*") == []
    assert len(renewer_of(locks)) == 0
    locks.sleep(0.25)  # one idle period and the loop ends
    assert renewer_of(locks).running is False


def test_deleting_the_key_trips_lost_within_one_period(locks: Locks, r: redis.Redis) -> None:
    """A holder whose key is deleted learns it within one renewal period: flag, event, callback."""
    seen: list[Any] = []
    lock = locks.make("job", ttl=0.6, auto_renew=True, on_lost=seen.append)
    lock.acquire()
    locks.sleep(0.05)
    r.delete(KEY)
    deleted = time.monotonic()
    while not lock.lost and time.monotonic() - deleted < 1:
        locks.sleep(0.01)
    assert time.monotonic() - deleted <= 0.2 + 0.05  # period = ttl / 3
    assert seen == [lock.lock]
    assert lock.lock.lost_event.is_set()
    with pytest.raises(LockLostError):
        lock.assert_held()
    with pytest.raises(NotOwnerError):
        lock.release()
    assert r.keys("*") == []


def test_a_taken_over_lock_is_reported_lost(locks: Locks, r: redis.Redis) -> None:
    """Another token in the key (an operator's takeover) trips lost as a deletion does."""
    lock = locks.make("job", ttl=0.3, auto_renew=True)
    lock.acquire()
    r.set(KEY, "someone-else", px=5000)
    locks.sleep(0.25)
    assert lock.lost is True
    assert lock.try_release() is False
    assert r.get(KEY) == "someone-else"


def test_a_failing_callback_does_not_stop_the_renewer(
    locks: Locks, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises is logged; the other locks keep being renewed."""

    def broken(lock: Any) -> None:
        raise RuntimeError("callback bug")

    doomed = locks.make("doomed", ttl=0.3, auto_renew=True, on_lost=broken)
    kept = locks.make("kept", ttl=0.3, auto_renew=True)
    doomed.acquire()
    kept.acquire()
    r.delete("redlua:lock:{doomed}")
    locks.sleep(0.7)
    assert doomed.lost and not kept.lost and kept.owned()
    assert "on_lost callback of lock 'doomed' failed" in caplog.text
    kept.release()
    assert doomed.try_release() is False


def test_one_renewer_renews_every_lock_in_one_batch(
    locks: Locks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 auto-renewed locks of one engine are renewed by one run_many per period."""
    batches: list[int] = []
    engine = locks.engine
    real = engine.run_many

    if locks.is_async:

        async def spy(calls: Any, **kw: Any) -> Any:
            calls = list(calls)
            batches.append(len(calls))
            return await real(calls, **kw)
    else:

        def spy(calls: Any, **kw: Any) -> Any:  # type: ignore[misc]
            calls = list(calls)
            batches.append(len(calls))
            return real(calls, **kw)

    monkeypatch.setattr(engine, "run_many", spy)
    held = [locks.make(f"job-{i}", ttl=0.6, auto_renew=True) for i in range(20)]
    for lock in held:
        lock.acquire()
    locks.sleep(0.5)
    assert len(renewer_of(locks)) == 20
    assert 2 <= len(batches) <= 4 and max(batches) == batches[-1] == 20
    for lock in held:
        lock.release()
    assert len(renewer_of(locks)) == 0


def test_the_period_follows_the_shortest_ttl(locks: Locks) -> None:
    """A lock with a shorter ttl joining the renewer shortens its period at once."""
    slow = locks.make("slow", ttl=30, auto_renew=True)
    fast = locks.make("fast", ttl=0.3, auto_renew=True)
    slow.acquire()
    locks.sleep(0.05)
    fast.acquire()
    locks.sleep(0.6)
    assert fast.owned() and not fast.lost
    fast.release()
    slow.release()


# -- checks before I/O -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (10**13, ValueError),
        (True, TypeError),
        ("5", TypeError),
        (None, TypeError),
    ],
)
def test_bad_ttl_raises_before_io(locks: Locks, r: redis.Redis, ttl: Any, error: type) -> None:
    """A ttl that is not a finite number of seconds > 0 raises naming ttl; nothing is sent."""
    with pytest.raises(error, match="ttl"):
        locks.lock("job", ttl=ttl)
    assert r.keys("*") == [] and locks.engine.stats() == {}


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (123, TypeError),
        (b"job", TypeError),
        (None, TypeError),
        ("", ValueError),
        ("a{b", ValueError),
        ("a}b", ValueError),
        ("{job}", ValueError),
        ("a\nb", ValueError),
        ("x" * 513, ValueError),
    ],
)
def test_bad_name_raises_before_io(locks: Locks, r: redis.Redis, name: Any, error: type) -> None:
    """Names that are not str, empty, with braces or control characters raise; nothing is sent."""
    with pytest.raises(error, match="name"):
        locks.lock(name)
    assert r.keys("*") == [] and locks.engine.stats() == {}


def test_bad_options_raise_before_io(locks: Locks, r: redis.Redis) -> None:
    """Prefix, flags, callbacks, timeouts and extensions are checked before any I/O."""
    with pytest.raises(ValueError, match="prefix"):
        locks.lock("job", prefix="app:{x}:")
    with pytest.raises(TypeError, match="prefix"):
        locks.lock("job", prefix=None)
    with pytest.raises(TypeError, match="reentrant"):
        locks.lock("job", reentrant=1)
    with pytest.raises(TypeError, match="on_lost"):
        locks.lock("job", on_lost="print")
    lock = locks.make("job")
    with pytest.raises(ValueError, match="timeout"):
        lock.acquire(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        lock.acquire(timeout=math.nan)
    with pytest.raises(TypeError, match="timeout"):
        lock.acquire(timeout="1")
    with pytest.raises(ValueError, match="blocking=False"):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(TypeError, match="blocking"):
        lock.acquire(blocking=0)
    assert r.keys("*") == [] and locks.engine.stats() == {}
    lock.acquire()
    with pytest.raises(ValueError, match="seconds"):
        lock.extend(0)
    with pytest.raises(ValueError, match="seconds"):
        lock.extend(math.inf)
    with pytest.raises(TypeError, match="replace"):
        lock.extend(1, replace="yes")
    lock.release()
    assert r.keys("*") == [] and calls(locks, "locks_extend") == 0


def test_engines_of_the_other_kind_are_refused(engine: Any) -> None:
    """Lock takes an Engine and AsyncLock an AsyncEngine."""
    inner = getattr(engine, "inner", None)
    make = (lambda: Lock(inner, "job")) if inner is not None else (lambda: AsyncLock(engine, "job"))
    with pytest.raises(TypeError, match="AsyncEngine"):
        make()


def test_keys_share_one_slot_under_the_prefix() -> None:
    """The three keys of a name share its hash tag; the prefix leads them."""
    keys = lock_keys("orders:42", "app:locks:")
    assert keys.lock == "app:locks:{orders:42}"
    assert keys.fence == "app:locks:{orders:42}:fence"
    assert keys.wake == "app:locks:{orders:42}:wake"
    assert keys.slot == key_slot("orders:42") == key_slot(keys.fence) == key_slot(keys.wake)
    assert lock_keys("x", "").lock == "{x}"


def test_prefix_option_spells_the_keys(locks: Locks, r: redis.Redis) -> None:
    """A lock under another prefix writes its keys there."""
    lock = locks.make("job", prefix="app:", fencing=True)
    lock.acquire()
    assert sorted(r.keys("*")) == ["app:{job}", "app:{job}:fence"]
    lock.release()


# -- the seed's stateless semantics (LockOps) ---------------------------------------------------


def test_lockops_cover_the_seeds_distributed_lock(engine: Any, r: redis.Redis) -> None:
    """acquire/release/renew(name, identifier, ttl): owner-only, errors raised, never swallowed."""
    ops = LockOps()
    assert engine.run(ops.acquire("job", "id-1", 10)) == Acquired(True)
    busy = engine.run(ops.acquire("job", "id-2", 10))
    assert not busy and busy.fence is None and 9.5 < busy.holder_ttl <= 10
    with pytest.raises(NotOwnerError):
        engine.run(ops.release("job", "id-2"))
    with pytest.raises(NotOwnerError):
        engine.run(ops.extend("job", "id-2", 10, replace=True))
    assert engine.run(ops.extend("job", "id-1", 20, replace=True)) == 20.0
    state = engine.run(ops.state("job", "id-1"))
    assert state[:2] == (True, True) and 19.9 < state.ttl <= 20.0
    assert engine.run(ops.state("job", "id-2")).mine is False
    assert engine.run(ops.release("job", "id-1")) is True
    assert engine.run(ops.state("job")) == LockState(False, False, None)
    with pytest.raises(NotOwnerError):
        engine.run(ops.release("job", "id-1"))
    fenced = engine.run(ops.acquire("job", "id-3", 1, fencing=True))
    assert fenced == Acquired(True, 1) and bool(fenced)
    assert r.keys("*") != []


def test_lockops_check_tokens_before_io(engine: Any, r: redis.Redis) -> None:
    """Tokens must be non-empty str without spaces or control characters."""
    ops = LockOps()
    for token, error in [
        (1, TypeError),
        ("", ValueError),
        ("a b", ValueError),
        ("a\x00", ValueError),
    ]:
        with pytest.raises(error, match="token"):
            ops.acquire("job", token, 1)
    with pytest.raises(ValueError, match="ttl"):
        ops.acquire("job", "t", 0)
    with pytest.raises(ValueError, match="prefix"):
        LockOps("x{")
    assert r.keys("*") == []


# -- server limits -----------------------------------------------------------------------------


@pytest.mark.private_server
def test_release_works_under_maxmemory(private_engine: Any, pr: redis.Redis) -> None:
    """With memory full (noeviction) an acquire is refused cleanly; release and extend still run."""
    locks = Locks(private_engine)
    try:
        held = locks.make("job", ttl=30)
        held.acquire()
        policy = pr.config_get("maxmemory-policy")["maxmemory-policy"]
        pr.config_set("maxmemory-policy", "noeviction")
        pr.config_set("maxmemory", 1)
        try:
            other = locks.make("other")
            with pytest.raises(ServerError) as refused:
                other.acquire(blocking=False)
            assert refused.value.code == "OOM"
            assert held.extend(5) > 30
            held.release()
        finally:
            pr.config_set("maxmemory", 0)
            pr.config_set("maxmemory-policy", policy)
        assert pr.keys("*") == []
    finally:
        locks.close()


@pytest.mark.private_server
def test_a_release_whose_reply_is_lost_is_sent_again(
    make_engine: Any, private_server: Any, pr: redis.Redis
) -> None:
    """A release timed out by a write pause is sent once more; the lock ends up free."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    locks = Locks(make_engine(url, socket_timeout=0.2))
    try:
        lock = locks.make("job", ttl=30)
        lock.acquire()
        pr.execute_command("CLIENT", "PAUSE", 300, "WRITE")  # the first attempt times out
        lock.release()  # the second one is answered once the pause ends
        assert pr.keys("*") == [] and lock.token is None
        assert locks.engine.stats()["locks_release"].outcome_unknown == 1
    finally:
        pr.execute_command("CLIENT", "UNPAUSE")
        locks.close()


@pytest.mark.private_server
def test_an_acquire_whose_reply_is_lost_leaves_no_lock(
    make_engine: Any, private_server: Any, pr: redis.Redis
) -> None:
    """An acquire timed out by a write pause raises OutcomeUnknownError and takes nothing."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    locks = Locks(make_engine(url, socket_timeout=0.1))
    try:
        lock = locks.make("job", ttl=30)
        lock.locked()  # connect and load the scripts first
        pr.execute_command("CLIENT", "PAUSE", 500, "WRITE")
        with pytest.raises(OutcomeUnknownError):
            lock.acquire()
        assert lock.token is None
        assert locks.engine.stats()["locks_release"].outcome_unknown == 1  # the cleanup's try
        pr.execute_command("CLIENT", "UNPAUSE")
        time.sleep(0.05)
        assert pr.keys("*") == []
    finally:
        pr.execute_command("CLIENT", "UNPAUSE")
        locks.close()


# -- asyncio ownership and cancellation ----------------------------------------------------------


def test_two_tasks_in_one_loop_do_not_share_ownership(server_url: str, r: redis.Redis) -> None:
    """A task cannot release another task's hold on the same AsyncLock; it waits its turn."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        lock = AsyncLock(AsyncEngine(client), "job", ttl=5)
        taken, done = asyncio.Event(), asyncio.Event()

        async def first() -> None:
            await lock.acquire()
            taken.set()
            await done.wait()
            await lock.release()

        async def second() -> bool:
            await taken.wait()
            with pytest.raises(NotOwnerError):
                await lock.release()
            assert lock.token is None and await lock.owned() is False
            assert await lock.acquire(blocking=False) is False
            done.set()
            got = await lock.acquire(timeout=2)
            await lock.release()
            return got

        _, got = await asyncio.gather(first(), second())
        assert got is True
        await client.aclose()

    asyncio.run(main())
    assert r.keys("*") in ([], [KEY + ":wake"])  # a waiter's release leaves a wake-up for 2 s
    assert r.pttl(KEY + ":wake") <= 2000


def test_cancelling_a_task_inside_async_with_releases(server_url: str, r: redis.Redis) -> None:
    """A task cancelled inside ``async with lock`` leaves the lock free."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        lock = AsyncLock(AsyncEngine(client), "job", ttl=30, auto_renew=True)
        inside = asyncio.Event()

        async def work() -> None:
            async with lock:
                inside.set()
                await asyncio.sleep(30)

        task = asyncio.create_task(work())
        await inside.wait()
        assert await client.exists(KEY) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await client.exists(KEY) == 0
        assert len(async_renewer_for(lock.engine)) == 0
        await client.aclose()

    asyncio.run(main())
    assert r.keys("*") == []


def test_cancelling_a_waiting_acquire_leaves_no_hold(server_url: str, r: redis.Redis) -> None:
    """A task cancelled while waiting for a lock takes nothing, even if the lock frees meanwhile."""

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        engine = AsyncEngine(client)
        holder, waiter = AsyncLock(engine, "job", ttl=5), AsyncLock(engine, "job", ttl=5)
        await holder.acquire()
        task = asyncio.create_task(waiter.acquire(timeout=5))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await holder.release()
        await asyncio.sleep(0.1)  # the cleanup runs in the background
        assert await client.exists(KEY) == 0
        await client.aclose()

    asyncio.run(main())


def test_async_lock_needs_a_task(server_url: str) -> None:
    """The owner of an AsyncLock is the current task; outside a running loop there is none."""
    client = redis.asyncio.Redis.from_url(server_url)
    lock = AsyncLock(AsyncEngine(client), "job")
    with pytest.raises(RuntimeError):
        _ = lock.token
    asyncio.run(client.aclose())


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_the_whole_api_on_a_cluster(cluster_engine: Any) -> None:
    """Acquire, wait, extend, reentrancy, fencing and renewal work on a 3-master cluster."""
    locks = Locks(cluster_engine)
    try:
        for i in range(6):  # names in slots spread over the masters
            lock = locks.make(f"job-{i}", ttl=0.3, reentrant=True, auto_renew=True, fencing=True)
            other = locks.make(f"job-{i}", ttl=5)
            assert lock.acquire() and lock.acquire()
            assert lock.fence == 1
            assert other.acquire(blocking=False) is False
            locks.sleep(0.4)  # renewed past its ttl
            assert lock.owned() and other.locked() and not lock.lost
            assert lock.extend(1) > 1
            lock.release()
            lock.release()
            assert other.acquire(timeout=1) is True
            assert other.renew() == 5.0
            other.release()
            assert not other.locked()
        holder, waiter = locks.make("wake", ttl=5), locks.make("wake", ttl=5)
        waiter_owner = locks.new_owner()
        holder.acquire()
        assert locks.as_owner(waiter, waiter_owner).acquire(timeout=0.1) is False
        holder.release()
        assert locks.as_owner(waiter, waiter_owner).acquire(timeout=1) is True
        locks.as_owner(waiter, waiter_owner).release()
    finally:
        locks.close()


# -- the twins -----------------------------------------------------------------------------------


def _class_source(tree: ast.Module, name: str) -> list[str]:
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)

    class Sync(ast.NodeTransformer):
        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
            self.generic_visit(node)
            return ast.copy_location(
                ast.FunctionDef(**{f: getattr(node, f) for f in node._fields}), node
            )

        def visit_Await(self, node: ast.Await) -> Any:
            return self.visit(node.value)

        def visit_Expr(self, node: ast.Expr) -> Any:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return None  # docstrings may differ
            return self.generic_visit(node)

    text = ast.unparse(Sync().visit(node))
    renames = (("AsyncLock", "Lock"), ("AsyncEngine", "Engine"), ("__a", "__"))
    for old, new in renames:
        text = text.replace(old, new)
    return text.splitlines()


# The lines allowed to differ: who the owner is, the event type, the renewer, what counts
# as an interruption, and how an interrupted call cleans up (inline, or in a task).
ALLOWED = {
    "sync": [
        "    _interrupts = (KeyboardInterrupt,)",
        "    _event_type = threading.Event",
        "    _renewer_for = staticmethod(renewer_for)",
        "        return threading.get_ident()",
        "            flow = self._waiting(owner, token, answer[1], deadline, queued)",
        "            return self.engine.drive(flow)",
        "        self._undo(token)",
    ],
    "async": [
        "    _interrupts = (asyncio.CancelledError,)",
        "    _event_type = asyncio.Event",
        "    _renewer_for = staticmethod(async_renewer_for)",
        "        return _current_task()",
        "            stop = asyncio.Event()",
        "            flow = self._waiting(owner, token, answer[1], deadline, queued, halted=stop.is_set)",
        "            return self._drive_to_the_end(owner, flow, stop)",
        "    def _drive_to_the_end(self, owner: object, flow: Flow[bool], stop: asyncio.Event) -> bool:",
        "        inner = asyncio.ensure_future(self.engine.drive(flow))",
        "        try:",
        "            return asyncio.shield(inner)",
        "        except asyncio.CancelledError:",
        "            stop.set()",
        "            inner.add_done_callback(functools.partial(self._hand_on, owner))",
        "            raise",
        "",
        "    def _hand_on(self, owner: object, done: asyncio.Future[bool]) -> None:",
        "        if done.cancelled() or done.exception() is not None or (not done.result()):",
        "            return",
        "        hold = self._holds.get(owner)",
        "        if hold is not None:",
        "            self._left(hold)",
        "            task = asyncio.get_running_loop().create_task(self._release_quietly(hold.token, hold.entry))",
        "            _background.add(task)",
        "            task.add_done_callback(_background.discard)",
        "",
        "        task = asyncio.get_running_loop().create_task(self._undo(token))",
        "        _background.add(task)",
        "        task.add_done_callback(_background.discard)",
    ],
}


def test_lock_twins_differ_only_where_listed() -> None:
    """AsyncLock is Lock with async/await, but for the listed lines."""
    tree = ast.parse(LOCK_PY.read_text())
    sync, twin = _class_source(tree, "Lock"), _class_source(tree, "AsyncLock")
    only_sync: list[str] = []
    only_async: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, sync, twin).get_opcodes():
        if op != "equal":
            only_sync += sync[i1:i2]
            only_async += twin[j1:j2]
    assert only_sync == ALLOWED["sync"]
    assert only_async == ALLOWED["async"]
    public = {n for n in vars(Lock) if not n.startswith("_")}
    assert public == {n for n in vars(AsyncLock) if not n.startswith("_")}
