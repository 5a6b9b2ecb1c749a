"""Engine's shared writer: calls threads make while a node is busy share one write.

Every test runs on the real server with the engine's default (pipelining on) and
checks both what each thread got and what the server holds afterwards. `_queued`
holds a node's lane busy until every call of a burst is queued, so the burst is
one batch, in a known order.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from redlua import Call, EmbeddedServer, Engine, Script, ServerError
from tests._batched import held, queued_calls, writer_of

ECHO = Script.from_source("writer_echo", "return ARGV[1]")
INCR = Script.from_source("writer_incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])")
FAIL = Script.from_source(
    "writer_fail",
    "if ARGV[1] == 'fail' then return redis.error_reply('BOOM call ' .. ARGV[2]) end\n"
    "return redis.call('INCR', KEYS[1])",
)


def test_pipelining_is_on_by_default_and_can_be_turned_off(r: redis.Redis) -> None:
    """Engine shares writes unless pipelining=False; both give the same replies."""
    on, off = Engine(r), Engine(r, pipelining=False)
    assert (on.pipelining, off.pipelining) == (True, False)
    assert [e.run(Call(ECHO, (), ("x",))) for e in (on, off)] == ["x", "x"]


def test_a_lone_thread_sends_each_call_by_itself(r: redis.Redis) -> None:
    """One thread's calls never wait for a batch: one write per call."""
    engine = Engine(r)
    engine.preload([INCR])
    for i in range(20):
        assert engine.run(Call(INCR, ("lone",), (1,))) == i + 1
    writer = writer_of(engine)
    assert (writer.batches, writer.calls) == (20, 20)


def test_queued_calls_go_out_in_one_write(r: redis.Redis) -> None:
    """Twenty calls queued while the node is busy share one write, each with its own reply."""
    engine = Engine(r)
    engine.preload([INCR])
    writer = writer_of(engine)
    before = writer.batches
    results = queued_calls(engine, [Call(INCR, (f"q{i}",), (i + 1,)) for i in range(20)])
    assert results == [i + 1 for i in range(20)]
    assert writer.batches == before + 1
    assert [r.get(f"q{i}") for i in range(20)] == [str(i + 1) for i in range(20)]


def test_sixteen_threads_with_mixed_scripts_get_their_own_replies(r: redis.Redis) -> None:
    """16 threads x 200 calls of two scripts on seven keys: every reply is the thread's own."""
    engine = Engine(r)
    engine.preload([ECHO, INCR])
    wrong: list[Any] = []
    start = threading.Barrier(16)

    def work(t: int) -> None:
        start.wait()
        for i in range(200):
            if i % 3 == 0:
                tag = f"t{t}-{i}"
                got = engine.run(Call(ECHO, (), (tag,)))
                if got != tag:
                    wrong.append((tag, got))
            else:
                got = engine.run(Call(INCR, (f"mix{(t + i) % 7}",), (1,)))
                if not isinstance(got, int):
                    wrong.append(("incr", got))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not wrong
    total = sum(int(r.get(f"mix{k}") or 0) for k in range(7))
    assert total == 16 * sum(1 for i in range(200) if i % 3)
    writer = writer_of(engine)
    assert writer.calls == 16 * 200
    assert writer.batches < writer.calls  # some calls shared a write


def test_an_error_in_the_middle_of_a_batch_is_that_call_s_own(r: redis.Redis) -> None:
    """Calls 5 and 12 of a batch fail; the others succeed and the keys say so."""
    engine = Engine(r)
    engine.preload([FAIL])
    calls = [Call(FAIL, (f"e{i}",), ("fail" if i in (5, 12) else "ok", i)) for i in range(20)]
    results = queued_calls(engine, calls)
    for i, result in enumerate(results):
        if i in (5, 12):
            assert isinstance(result, ServerError)
            assert f"BOOM call {i}" in str(result)
        else:
            assert result == 1
    assert [r.get(f"e{i}") for i in range(20)] == [None if i in (5, 12) else "1" for i in range(20)]


def test_noscript_mid_batch_resends_only_the_calls_that_got_it(r: redis.Redis) -> None:
    """After SCRIPT FLUSH, a batch of two scripts heals: each call runs exactly once."""
    engine = Engine(r)
    engine.preload([ECHO, INCR])
    r.script_flush()
    r.script_load(ECHO.source)  # ECHO survives, INCR is gone
    calls: list[Call[Any]] = [
        Call(INCR, (f"n{i}",), (1,)) if i % 2 else Call(ECHO, (), (f"e{i}",)) for i in range(20)
    ]
    results = queued_calls(engine, calls)
    assert results == [1 if i % 2 else f"e{i}" for i in range(20)]
    assert [r.get(f"n{i}") for i in range(1, 20, 2)] == ["1"] * 10  # none ran twice


def test_a_bad_argument_fails_only_its_own_call(r: redis.Redis) -> None:
    """An argument that cannot be encoded (a lone surrogate) fails its own call; the rest run."""
    engine = Engine(r)
    engine.preload([ECHO])
    calls: list[Call[Any]] = [Call(ECHO, (), (f"a{i}",)) for i in range(5)]
    calls[2] = Call(ECHO, (), ("\ud800",))
    results = queued_calls(engine, calls)
    assert isinstance(results[2], Exception)
    assert [x for i, x in enumerate(results) if i != 2] == ["a0", "a1", "a3", "a4"]


class Interrupted(Exception):  # noqa: N818 - what a signal handler raises
    """Raised by the alarm handler in the main thread's wait."""


@contextmanager
def _alarm(seconds: float, before: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Interrupt the main thread after *seconds*: run *before*, then raise `Interrupted`."""

    def handler(signum: int, frame: Any) -> None:
        before()
        raise Interrupted

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _queue_behind(engine: Engine, key: str, results: list[Any]) -> threading.Thread:
    """Start a thread whose call queues once one call is queued on the server's lane."""
    lane = writer_of(engine)._lane(None)

    def run() -> None:
        while not lane.pending:
            time.sleep(0.001)
        results.append(engine.run(Call(INCR, (key,), (1,))))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_a_waiter_interrupted_before_the_write_is_never_sent(r: redis.Redis) -> None:
    """A signal interrupts a queued call's wait: it leaves the queue; the batch runs without it."""
    engine = Engine(r)
    engine.preload([INCR])
    lane = writer_of(engine)._lane(None)
    results: list[Any] = []
    with held(engine) as queued:
        behind = _queue_behind(engine, "behind", results)
        with _alarm(0.3), pytest.raises(Interrupted):
            engine.run(Call(INCR, ("never",), (1,)))
        queued(1)
    behind.join(5)
    assert results == [1]
    assert r.get("never") is None and r.get("behind") == "1"
    assert not lane.busy and not lane.pending


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_the_lane_passes_on_when_the_waiter_handed_it_is_interrupted(r: redis.Redis) -> None:
    """The lane is handed to a waiter that a signal then interrupts: the next waiter writes."""
    engine = Engine(r)
    engine.preload([INCR])
    writer = writer_of(engine)
    lane = writer._lane(None)
    results: list[Any] = []
    with lane.lock:
        lane.busy = True  # a call in flight
    behind = _queue_behind(engine, "behind", results)

    def hand_over() -> None:  # the call in flight ends and hands the lane to the first waiter
        while len(lane.pending) < 2:
            time.sleep(0.001)
        writer._hand_over(lane)

    with _alarm(0.3, before=hand_over), pytest.raises(Interrupted):
        engine.run(Call(INCR, ("skipped",), (1,)))
    behind.join(5)
    assert not behind.is_alive()
    assert results == [1]
    assert r.get("skipped") is None and r.get("behind") == "1"
    assert not lane.busy and not lane.pending


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_with_an_idle_writer(r: redis.Redis, server_url: str) -> None:
    """A fork while a lane is busy: the child's calls do not wait for the parent's threads."""
    engine = Engine(r)
    engine.preload([INCR])
    lane = writer_of(engine)._lane(None)
    with lane.lock:
        lane.busy = True  # as if a parent thread were mid-call at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: one call, then exit with its reply as the status
            code = 1
            try:
                code = 0 if engine.run(Call(INCR, ("forked",), (7,))) == 7 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        with lane.lock:
            lane.busy = False
    assert os.waitstatus_to_exitcode(status) == 0
    assert r.get("forked") == "7"


def test_threads_racing_increments_lose_none(r: redis.Redis) -> None:
    """8 threads x 300 INCRBY on one key through shared writes: the total is exact."""
    engine = Engine(r)
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(300):
            engine.run(Call(INCR, ("race",), (1,)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert r.get("race") == str(8 * 300)


def test_a_batch_with_a_large_value_keeps_every_byte(r: redis.Redis) -> None:
    """A 300 kB argument among small ones (sent as its own chunk) comes back whole."""
    engine = Engine(r)
    engine.preload([ECHO])
    big = "x" * 300_000 + "end"
    calls: list[Call[Any]] = [Call(ECHO, (), (f"s{i}",)) for i in range(6)]
    calls[3] = Call(ECHO, (), (big,))
    results = queued_calls(engine, calls)
    assert results == ["s0", "s1", "s2", big, "s4", "s5"]


def _loads(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_script|load", {}).get("calls", 0))


def test_a_batch_that_gets_noscript_sends_one_script_load(
    private_server: EmbeddedServer, pr: redis.Redis
) -> None:
    """Forty threads whose shared write all get NOSCRIPT share one SCRIPT LOAD."""
    client = redis.Redis.from_url(
        private_server.url.rsplit("/", 1)[0] + "/9", decode_responses=True
    )
    try:
        engine = Engine(client)
        client.script_flush()
        before = _loads(client)
        results = queued_calls(engine, [Call(INCR, ("burst",), (1,)) for _ in range(40)])
        assert sorted(results) == list(range(1, 41))
        assert _loads(client) - before == 1
    finally:
        client.close()
    assert pr.get("burst") == "40"
