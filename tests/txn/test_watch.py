"""WATCH and MULTI/EXEC transactions on real servers: commits, conflicts, errors, checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from redlua import (
    AsyncEngine,
    Call,
    ConnectionFailedError,
    CrossSlotError,
    Engine,
    ServerError,
    load_script,
)
from redlua.txn import (
    AsyncTransactions,
    Committed,
    ConflictStats,
    TransactionConflictError,
    Transactions,
)
from tests.txn import make_tx


def _info(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


# -- commits -----------------------------------------------------------------------------------


def test_run_reads_then_writes_and_returns_fn_value(engine: Any, r: redis.Redis) -> None:
    """run: reads answer at once, queued writes commit in EXEC; fn's value and replies return."""
    tx = make_tx(engine)
    r.set("acct:{7}:a", 100)

    async def move(t: Any) -> int:
        a = int(await t.get("acct:{7}:a"))
        b = int(await t.get("acct:{7}:b") or 0)
        t.multi()
        t.decrby("acct:{7}:a", 10)
        t.incrby("acct:{7}:b", 10)
        t.hset("acct:{7}:log", mapping={"last": "move"})
        t.hgetall("acct:{7}:log")
        return a + b

    done = tx.run(move, "acct:{7}:a", "acct:{7}:b")
    assert done == Committed(100, [90, 10, 1, {"last": "move"}], 1)
    assert (r.get("acct:{7}:a"), r.get("acct:{7}:b")) == ("90", "10")
    assert tx.stats() == ConflictStats(runs=1, attempts=1, committed=1)


def test_reads_go_through_the_watched_connection(engine: Any, r: redis.Redis) -> None:
    """Inside fn, the connection answering the reads is the one watching both keys."""
    tx = make_tx(engine)

    async def fn(t: Any) -> dict[str, str]:
        return _info(await t.execute_command("CLIENT", "INFO"))

    info = tx.run(fn, "{k}a", "{k}b").value
    if "watch" in info:  # CLIENT INFO counts watched keys since Redis 7.4 / Valkey 8
        assert info["watch"] == "2"
        return
    seen: list[str] = []

    async def touched(t: Any) -> None:  # older servers: a write to the second key must conflict
        seen.append(_info(await t.execute_command("CLIENT", "INFO"))["id"])
        if len(seen) == 1:
            r.set("{k}b", "other")
        t.multi()

    assert tx.run(touched, "{k}a", "{k}b").attempts == 2


def test_an_empty_transaction_still_checks_its_reads(engine: Any, r: redis.Redis) -> None:
    """fn that only reads: EXEC still runs, so a write between its reads makes it run again."""
    tx = make_tx(engine, base=0.001, cap=0.001)
    runs: list[int] = []

    async def fn(t: Any) -> tuple[Any, Any]:
        runs.append(1)
        a = await t.get("{k}a")
        if len(runs) == 1:
            r.mset({"{k}a": "2", "{k}b": "2"})  # between the two reads
        return a, await t.get("{k}b")

    done = tx.run(fn, "{k}a", "{k}b")
    assert done.value == ("2", "2") and done.replies == [] and done.attempts == 2


def test_more_keys_can_be_watched_inside_fn(engine: Any, r: redis.Redis) -> None:
    """t.watch(key) adds a key found while reading; a write to it then causes a conflict."""
    tx = make_tx(engine, base=0.001, cap=0.001)
    r.set("{k}ptr", "{k}target")
    runs: list[int] = []

    async def fn(t: Any) -> None:
        runs.append(1)
        target = await t.get("{k}ptr")
        await t.watch(target)
        if len(runs) == 1:
            r.set(target, "changed")
        t.multi()
        t.set(target, "mine")

    assert tx.run(fn, "{k}ptr").attempts == 2
    assert r.get("{k}target") == "mine"


# -- conflicts ---------------------------------------------------------------------------------


def test_conflicts_are_counted_and_retried(engine: Any, r: redis.Redis) -> None:
    """Two writes from another connection inside fn: two conflicts, then the third try commits."""
    tx = make_tx(engine, base=0.001, cap=0.002)
    r.set("n", 0)
    runs: list[int] = []

    async def incr(t: Any) -> int:
        runs.append(1)
        n = int(await t.get("n"))
        if len(runs) <= 2:
            r.incr("n", 100)  # a concurrent writer, between our read and our EXEC
        t.multi()
        t.set("n", n + 1)
        return n

    done = tx.run(incr, "n")
    assert done.value == 200 and done.attempts == 3
    assert r.get("n") == "201"
    assert tx.stats() == ConflictStats(runs=1, attempts=3, conflicts=2, committed=1)


def test_conflict_error_after_the_last_attempt_never_none(engine: Any, r: redis.Redis) -> None:
    """A writer in every attempt: TransactionConflictError after exactly `attempts`, nothing queued ran."""
    tx = make_tx(engine, base=0.001, cap=0.002)
    runs: list[int] = []

    async def fn(t: Any) -> None:
        runs.append(1)
        await t.get("{k}a")
        r.incr("{k}a")
        t.multi()
        t.set("{k}mine", "written")

    with pytest.raises(TransactionConflictError) as caught:
        tx.run(fn, "{k}a", "{k}b", attempts=4)
    assert len(runs) == 4 and caught.value.attempts == 4
    assert caught.value.keys == ("{k}a", "{k}b")
    assert "nothing was committed" in str(caught.value)
    assert r.get("{k}mine") is None and r.get("{k}a") == "4"
    assert tx.stats() == ConflictStats(runs=1, attempts=4, conflicts=4, exhausted=1)
    tx.reset_stats()
    assert tx.stats() == ConflictStats()


def test_backoff_between_conflicts_is_bounded(engine: Any, r: redis.Redis) -> None:
    """Five conflicting tries with cap 0.05 s pause at most 4 x 0.05 s in all."""
    tx = make_tx(engine, base=0.05, cap=0.05, attempts=5)

    async def fn(t: Any) -> None:
        r.incr("n")

    started = time.monotonic()
    with pytest.raises(TransactionConflictError):
        tx.run(fn, "n")
    assert time.monotonic() - started < 4 * 0.05 + 0.5


def test_a_conflict_on_the_last_attempt_does_not_pause(engine: Any, r: redis.Redis) -> None:
    """attempts=1 with a 10 s backoff: the conflict raises at once, without waiting."""
    tx = make_tx(engine, base=10, cap=10)

    async def fn(t: Any) -> None:
        r.incr("n")

    started = time.monotonic()
    with pytest.raises(TransactionConflictError):
        tx.run(fn, "n", attempts=1)
    assert time.monotonic() - started < 5


# -- errors ------------------------------------------------------------------------------------


def test_an_error_in_fn_sends_nothing_and_unwatches(engine: Any, r: redis.Redis) -> None:
    """fn raising after multi(): its queued writes are dropped and the pooled connection is unwatched."""
    tx = make_tx(engine)

    async def fn(t: Any) -> None:
        await t.get("{k}a")
        t.multi()
        t.set("{k}a", "never")
        raise LookupError("insufficient funds")

    with pytest.raises(LookupError):
        tx.run(fn, "{k}a")
    assert r.get("{k}a") is None
    r.set("{k}a", "other")  # were the connection still watching, this would abort the next EXEC
    add = load_script("core_ping")
    assert engine.run_many([Call(add, (), ("x",))], atomic=True)[0][3] == "x"


def test_a_failing_command_inside_exec_raises_after_commit(engine: Any, r: redis.Redis) -> None:
    """INCR of a non-number fails inside EXEC: its error is raised, the other command committed."""
    tx = make_tx(engine)
    r.set("{k}s", "text")

    async def fn(t: Any) -> None:
        t.multi()
        t.set("{k}ok", "1")
        t.incr("{k}s")

    with pytest.raises(ServerError) as caught:
        tx.run(fn, "{k}s")
    assert caught.value.code == "ERR"
    assert r.get("{k}ok") == "1"  # Redis has no rollback


def test_a_command_refused_when_queued_discards_everything(engine: Any, r: redis.Redis) -> None:
    """An unknown command while queueing makes EXEC abort: its error is raised, nothing ran."""
    tx = make_tx(engine)

    async def fn(t: Any) -> None:
        t.multi()
        t.set("{k}a", "1")
        t.execute_command("NO-SUCH-COMMAND", "{k}a")

    with pytest.raises(ServerError, match=r"(?i)unknown command"):
        tx.run(fn, "{k}a")
    assert r.get("{k}a") is None


def test_a_failing_read_raises_a_server_error(engine: Any, r: redis.Redis) -> None:
    """A read of the wrong type inside fn raises WRONGTYPE as ServerError; nothing is sent."""
    tx = make_tx(engine)
    r.hset("{k}h", "f", "v")

    async def fn(t: Any) -> None:
        await t.get("{k}h")

    with pytest.raises(ServerError) as caught:
        tx.run(fn, "{k}h")
    assert caught.value.code == "WRONGTYPE"


def test_the_handle_is_dead_after_the_transaction(engine: Any) -> None:
    """A handle kept past the transaction refuses to run or queue commands."""
    tx = make_tx(engine)
    kept: list[Any] = []

    async def fn(t: Any) -> None:
        kept.append(t)

    tx.run(fn, "k")
    with pytest.raises(RuntimeError, match="over"):
        kept[0].get("k")


def test_multi_twice_is_refused(engine: Any, r: redis.Redis) -> None:
    """Calling multi() twice raises RuntimeError and nothing is committed."""
    tx = make_tx(engine)

    async def fn(t: Any) -> None:
        t.multi()
        t.set("k", "1")
        t.multi()

    with pytest.raises(RuntimeError, match="multi"):
        tx.run(fn, "k")
    assert r.get("k") is None


def test_a_lost_server_raises_connection_failed() -> None:
    """A transaction on a server that is not there raises ConnectionFailedError (nothing committed)."""
    client = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    with pytest.raises(ConnectionFailedError, match="nothing was committed"):
        Transactions(Engine(client)).run(lambda t: None, "k")
    client.close()

    async def main() -> None:
        aclient = redis.asyncio.Redis(host="127.0.0.1", port=1, retry=AsyncRetry(NoBackoff(), 0))
        with pytest.raises(ConnectionFailedError, match="nothing was committed"):
            await AsyncTransactions(AsyncEngine(aclient)).run(lambda t: None, "k")
        await aclient.aclose()

    asyncio.run(main())


# -- multi -------------------------------------------------------------------------------------


def test_multi_runs_queued_commands_atomically(engine: Any, r: redis.Redis) -> None:
    """multi: fn queues, one MULTI/EXEC runs them, the parsed replies come back."""
    tx = make_tx(engine)

    async def fn(t: Any) -> None:
        t.incr("n")
        t.incrby("n", 4)
        t.expire("n", 30)
        t.get("n")
        t.hset("h", mapping={"a": "1"})
        t.hgetall("h")

    assert tx.multi(fn) == [1, 5, True, "5", 1, {"a": "1"}]
    assert 0 < r.ttl("n") <= 30
    assert tx.stats() == ConflictStats(runs=1, attempts=1, committed=1)


def test_multi_raises_instead_of_returning_none(engine: Any, r: redis.Redis) -> None:
    """The seed's simple_transaction swallowed errors into None; multi raises them."""
    tx = make_tx(engine)
    r.set("s", "text")

    async def fn(t: Any) -> None:
        t.incr("s")

    with pytest.raises(ServerError):
        tx.multi(fn)


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def offline() -> Any:
    """Transactions on an engine whose server does not exist: any I/O would fail."""
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    yield Transactions(Engine(client))
    client.close()


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda tx: tx.run(lambda t: None), ValueError, "at least one key"),
        (lambda tx: tx.run(lambda t: None, "a", "b"), CrossSlotError, "hash slots"),
        (lambda tx: tx.run(lambda t: None, "{x}a", 3), TypeError, "keys"),
        (lambda tx: tx.run(lambda t: None, ""), ValueError, "keys"),
        (lambda tx: tx.run("fn", "k"), TypeError, "fn"),
        (lambda tx: tx.run(lambda t: None, "k", attempts=0), ValueError, "attempts"),
        (lambda tx: tx.run(lambda t: None, "k", attempts=2.0), TypeError, "attempts"),
        (lambda tx: tx.multi(None), TypeError, "fn"),
        (lambda tx: tx.multi(lambda t: None, "a", "b"), CrossSlotError, "hash slots"),
    ],
)
def test_bad_input_raises_before_any_io(offline: Any, call: Any, error: Any, words: str) -> None:
    """Missing or cross-slot keys, bad fns and bad attempts raise naming the problem, before I/O."""
    with pytest.raises(error, match=words):
        call(offline)


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"attempts": "3"}, {"base": -0.1}, {"cap": float("inf")}]
)
def test_bad_settings_are_refused(engine: Any, kwargs: dict[str, Any]) -> None:
    """Transactions refuses bad attempts, base and cap when made."""
    with pytest.raises((TypeError, ValueError)):
        make_tx(engine, **kwargs)


def test_watching_a_key_of_another_slot_is_refused(engine: Any, r: redis.Redis) -> None:
    """t.watch of a key in another slot raises CrossSlotError and nothing is committed."""
    tx = make_tx(engine)

    async def fn(t: Any) -> None:
        await t.watch("{other}x")
        t.multi()
        t.set("{k}a", "1")

    with pytest.raises(CrossSlotError):
        tx.run(fn, "{k}a")
    assert r.get("{k}a") is None


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_watch_transactions_on_a_cluster(cluster_engine: Any) -> None:
    """On a 3-master cluster, transactions in many slots commit on the node of their slot."""
    tx = make_tx(cluster_engine)
    for i in range(12):
        a, b = f"acct:{{{i}}}:a", f"acct:{{{i}}}:b"

        async def move(t: Any, a: str = a, b: str = b) -> int:
            have = int(await t.get(a) or 100)
            t.multi()
            t.set(a, have - 10)
            t.incrby(b, 10)
            return have

        assert tx.run(move, a, b).replies == [True, 10]
        assert tx.run(move, a, b).value == 90
    assert tx.multi(lambda t: _queue_incr(t, "acct:{3}:n"), "acct:{3}:n") == [1]


async def _queue_incr(t: Any, key: str) -> None:
    t.incr(key)


@pytest.mark.cluster
def test_cross_slot_watch_is_refused_on_a_cluster(cluster_engine: Any) -> None:
    """Watched keys in two slots raise CrossSlotError before any I/O; nothing is written."""
    tx = make_tx(cluster_engine)
    ran: list[int] = []

    async def fn(t: Any) -> None:
        ran.append(1)
        t.multi()
        t.set("{a}x", "1")

    with pytest.raises(CrossSlotError):
        tx.run(fn, "{a}x", "{b}x")
    with pytest.raises(ValueError, match="cluster"):
        tx.multi(fn)
    assert ran == []
    assert tx.stats() == ConflictStats()


@pytest.mark.cluster
def test_conflicts_are_detected_on_a_cluster(cluster_engine: Any, cluster: Any) -> None:
    """A write from another cluster client inside fn conflicts; the retry then commits."""
    from redis.cluster import RedisCluster

    host, port = cluster.startup_nodes[0]
    other = RedisCluster(host=host, port=port, decode_responses=True)
    tx = make_tx(cluster_engine, base=0.001, cap=0.002)
    runs: list[int] = []

    async def fn(t: Any) -> None:
        runs.append(1)
        n = int(await t.get("{c}n") or 0)
        if len(runs) == 1:
            other.incr("{c}n", 100)
        t.multi()
        t.set("{c}n", n + 1)

    assert tx.run(fn, "{c}n").attempts == 2
    assert other.get("{c}n") == "101"
    assert tx.stats().conflicts == 1
    other.close()
