"""Pod registry: heartbeats, views, reservations, the incarnation guard, the loops. Real servers."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from redlua import Call, Engine, InvalidArgumentError, load_script
from redlua.errors import StaleIncarnationError
from redlua.stateful.keys import KeySchema
from redlua.stateful.pods import AsyncPodRegistry, PodRegistry
from redlua.stateful.registry import (
    PodState,
    Routing,
    StateValue,
    encode_state,
    heartbeat,
    parse_state,
    pods,
    remove_pod,
    reserve,
    set_state,
    set_workload,
    workload,
)

SCHEMA = KeySchema.sf("t")
SVC = "game"
STATE = SCHEMA.state_key(SVC)
META = SCHEMA.meta_key(SVC)
LINKS = SCHEMA.load_key(SVC)


def beat(engine: Any, pod: int, load: int = 0, **kwargs: Any) -> int:
    kwargs.setdefault("incarnation", "inc")
    kwargs.setdefault("lease", 60.0)
    return int(engine.run(heartbeat(SCHEMA, SVC, pod, load, **kwargs)))


def server_ms(r: redis.Redis) -> int:
    seconds, micros = r.time()
    return seconds * 1000 + micros // 1000


def ids(states: tuple[PodState, ...]) -> list[int]:
    return [p.pod for p in states]


def stamp(r: redis.Redis, pod: int) -> int:
    value = parse_state(r.hget(STATE, str(pod)) or "")
    assert value is not None
    return value.ms


class Twin:
    """A PodRegistry, or an AsyncPodRegistry on the async engine's loop, driven from sync code."""

    def __init__(self, engine: Any, pod: int, **kwargs: Any) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        if isinstance(engine, Engine):
            self.reg: Any = PodRegistry(engine, SCHEMA, SVC, pod, **kwargs)
        else:
            self.loop = engine.loop
            self.reg = AsyncPodRegistry(engine.inner, SCHEMA, SVC, pod, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.reg, name)
        loop = self.loop
        if loop is not None and inspect.iscoroutinefunction(attr):
            return lambda *a, **k: loop.run_until_complete(attr(*a, **k))
        return attr

    def pause(self, seconds: float) -> None:
        """Let time pass; on the async engine the loop runs the registry's task meanwhile."""
        if self.loop is None:
            time.sleep(seconds)
        else:
            self.loop.run_until_complete(asyncio.sleep(seconds))


@pytest.fixture
def registry(engine: Any) -> Iterator[Callable[..., Twin]]:
    """Build registries of pods of SVC on the test's engine; stop their loops afterwards."""
    made: list[Twin] = []

    def make(pod: int, **kwargs: Any) -> Twin:
        made.append(Twin(engine, pod, **kwargs))
        return made[-1]

    yield make
    for twin in made:
        twin.stop()


# -- the codec -------------------------------------------------------------------------------


def test_state_codec_reads_tpf_and_homo_values_and_tolerates_garbage() -> None:
    """2-part and 3-part values parse; anything else is None, never an exception."""
    assert encode_state(12, 1700000000123) == "12-1700000000123"
    assert parse_state("12-1700000000123") == StateValue(12, 1700000000123)
    assert parse_state(b"12-1700000000123") == StateValue(12, 1700000000123)
    assert parse_state("3-1700000000000-1") == StateValue(3, 1700000000000, True)
    assert parse_state("3-1700000000000-0") == StateValue(3, 1700000000000, False)
    assert parse_state("2.6-5") == StateValue(3, 5)
    for bad in (
        "",
        "garbage",
        "-1-5",
        "5",
        "1-2-3-4",
        "1-2-7",
        "a-1",
        "1-",
        "\u0661-\u0662",
        b"\xff-1",
    ):
        assert parse_state(bad) is None, bad


# -- heartbeats and views ----------------------------------------------------------------------


def test_heartbeat_writes_the_compat_value_metadata_and_resets_reservations(
    engine: Any, r: redis.Redis
) -> None:
    """The state value is "<load>-<server ms>" as Java and Go parse it; metadata beside it."""
    r.hset(LINKS, "3", 4)
    before = server_ms(r)
    ms = beat(engine, 3, 12, capacity=500, address="game-3.game:7000", incarnation="abc")
    after = server_ms(r)
    value = r.hget(STATE, "3")
    load, millis = value.split("-")  # what the Java and Go readers do
    assert (int(load), int(millis)) == (12, ms) and value == f"12-{ms}"
    assert before <= ms <= after
    assert json.loads(r.hget(META, "3")) == {
        "routing": "READY",
        "incarnation": "abc",
        "at": ms,
        "lease_until": ms + 60_000,
        "load": 12,
        "capacity": 500,
        "address": "game-3.game:7000",
    }
    assert r.hget(LINKS, "3") is None


def test_views_tell_alive_routable_and_available_pods(engine: Any, r: redis.Redis) -> None:
    """Fresh READY, stale, DENY_NEW and SHUTDOWN pods land in the right TPF notions."""
    beat(engine, 0, 5, capacity=100, address='pod "0" é', incarnation="i0")
    r.hset(STATE, "1", f"2-{server_ms(r) - 120_000}")  # a pod that stopped two minutes ago
    beat(engine, 2, 7, routing="DENY_NEW")
    beat(engine, 3, 1, routing=Routing.SHUTDOWN)
    view = engine.run(pods(SCHEMA, SVC, expire=60))
    assert view.service == SVC and abs(view.now_ms - server_ms(r)) < 2000
    assert ids(view.pods) == [0, 1, 2, 3]
    assert ids(view.alive()) == [0, 2, 3]
    assert ids(view.routable()) == [0, 2]
    assert ids(view.available()) == [0]
    first = view.get(0)
    assert first is not None and first.alive and first.routing is Routing.READY
    assert (first.load, first.capacity, first.address, first.incarnation) == (
        5,
        100,
        'pod "0" é',
        "i0",
    )
    assert 0 <= first.age_ms < 2000
    stale = view.get(1)
    assert stale is not None and not stale.alive and stale.age_ms >= 120_000
    assert (stale.load, stale.address, stale.routing) == (2, None, Routing.READY)
    assert view.get(2).routing is Routing.DENY_NEW and view.get(9) is None
    assert view.effective_load(0) == 5
    with pytest.raises(KeyError):
        view.effective_load(9)


def test_views_decode_bytes_replies(make_engine: Any, server_url: str, r: redis.Redis) -> None:
    """A client without decode_responses gets the same view."""
    engine = make_engine(server_url, decode_responses=False)
    beat(engine, 1, 3, address="game-1", incarnation="x")
    pod = engine.run(pods(SCHEMA, SVC, expire=60)).get(1)
    assert (pod.load, pod.address, pod.incarnation, pod.available) == (3, "game-1", "x", True)
    assert engine.run(set_workload(SCHEMA, SVC, "up")) is None
    assert engine.run(workload(SCHEMA, SVC)) == "up"


def test_homo_values_and_garbage_are_tolerated(engine: Any, r: redis.Redis) -> None:
    """homo's 3-part values count (state 0 = shut down); unreadable values are dead, not errors."""
    now = server_ms(r)
    r.hset(
        STATE,
        mapping={
            "0": f"3-{now}-1",
            "1": f"4-{now}-0",
            "2": "garbage",
            "3": "-1-5",
            "4": "",
            "5": f"7-{now}-2",
            "6": f"2.6-{now}",
            "x": f"1-{now}",
            "07": f"1-{now}",
        },
    )
    r.hset(META, mapping={"0": "{not json", "6": "[1, 2]"})
    r.hset(LINKS, mapping={"0": "many", "6": "2"})
    view = engine.run(pods(SCHEMA, SVC, expire=60))
    assert ids(view.pods) == [0, 1, 2, 3, 4, 5, 6]
    assert ids(view.alive()) == [0, 1, 6]
    assert ids(view.routable()) == [0, 6]
    assert view.get(1).routing is Routing.SHUTDOWN
    assert view.get(2).heartbeat_ms is None and view.get(2).raw == "garbage"
    assert (view.get(0).reserved, view.effective_load(6)) == (0, 5)


def test_a_foreign_write_overrides_the_metadata_and_remove_pod_forgets(
    engine: Any, r: redis.Redis
) -> None:
    """Once host code rewrites the state value, the older metadata no longer counts."""
    beat(engine, 0, 1, routing=Routing.SHUTDOWN, address="game-0")
    assert engine.run(set_state(SCHEMA, SVC, 0, encode_state(9, server_ms(r)))) is False
    pod = engine.run(pods(SCHEMA, SVC, expire=60)).get(0)
    assert (pod.load, pod.routing, pod.address, pod.available) == (9, Routing.READY, None, True)
    engine.run(reserve(SCHEMA, SVC, 0))
    assert engine.run(remove_pod(SCHEMA, SVC, 0)) is True
    assert engine.run(remove_pod(SCHEMA, SVC, 0)) is False
    assert r.keys("*") == []


def test_the_scripts_check_their_arguments_before_writing(engine: Any, r: redis.Redis) -> None:
    """A malformed pod, load or lease sent past the builders is refused by the script."""
    script = load_script("stateful_heartbeat")
    good = ["3", "1", "READY", "", "", "inc", "1000"]
    for index, bad in ((0, "03"), (1, "-1"), (2, "BUSY"), (3, "x"), (5, "a b"), (6, "0")):
        args = list(good)
        args[index] = bad
        with pytest.raises(InvalidArgumentError):
            engine.run(Call(script, (STATE, META, LINKS), args))
    assert r.keys("*") == []


# -- the incarnation guard ---------------------------------------------------------------------


def test_a_second_incarnation_waits_for_the_first_lease(engine: Any, r: redis.Redis) -> None:
    """Two processes claiming one pod: the newcomer is refused until the old lease runs out."""
    beat(engine, 0, 1, incarnation="a", lease=0.3)
    value = r.hget(STATE, "0")
    with pytest.raises(StaleIncarnationError, match="incarnation a"):
        beat(engine, 0, 2, incarnation="b", lease=0.3)
    assert r.hget(STATE, "0") == value
    beat(engine, 0, 3, incarnation="a", lease=0.3)  # the holder renews
    time.sleep(0.35)
    beat(engine, 0, 4, incarnation="b", lease=0.3)
    with pytest.raises(StaleIncarnationError):
        beat(engine, 0, 5, incarnation="a", lease=0.3)
    beat(engine, 0, 6, incarnation="b", lease=30, routing="SHUTDOWN")
    beat(engine, 0, 7, incarnation="a", lease=0.3)  # a graceful shutdown frees the pod at once
    assert json.loads(r.hget(META, "0"))["incarnation"] == "a"


# -- reservations ------------------------------------------------------------------------------


def test_reservations_count_until_the_next_heartbeat(engine: Any, r: redis.Redis) -> None:
    """reserve() adds to the effective load, expires with its TTL and resets on a heartbeat."""
    beat(engine, 1, 10)
    assert engine.run(reserve(SCHEMA, SVC, 1)) == 1
    assert engine.run(reserve(SCHEMA, SVC, 1, 2)) == 3
    assert 0 < r.pttl(LINKS) <= 60_000
    view = engine.run(pods(SCHEMA, SVC, expire=60))
    assert (view.get(1).reserved, view.effective_load(1)) == (3, 13)
    assert engine.run(reserve(SCHEMA, SVC, 1, -5)) == 0 and not r.hexists(LINKS, "1")
    engine.run(reserve(SCHEMA, SVC, 1, 2))
    beat(engine, 1, 12)
    assert engine.run(pods(SCHEMA, SVC, expire=60)).effective_load(1) == 12
    engine.run(reserve(SCHEMA, SVC, 2, ttl=0.2))
    time.sleep(0.3)
    assert not r.exists(LINKS)


def test_workload_state_round_trips(engine: Any, r: redis.Redis) -> None:
    """The workload string is read and written as the Go driver does (plain GET/SET)."""
    assert engine.run(workload(SCHEMA, SVC)) is None
    assert engine.run(set_workload(SCHEMA, SVC, "ready")) is None
    assert engine.run(workload(SCHEMA, SVC)) == "ready"
    assert r.get(SCHEMA.workload_key(SVC)) == "ready" and r.ttl(SCHEMA.workload_key(SVC)) == -1


# -- the registries ----------------------------------------------------------------------------


def test_the_loop_keeps_the_heartbeat_fresh_until_stopped(
    registry: Callable[..., Twin], r: redis.Redis
) -> None:
    """start() beats every period with the current load; stop() ends the writes."""
    reg = registry(1, period=0.1, load=lambda: 4)
    reg.start()
    assert reg.running
    reg.pause(0.1)
    first = stamp(r, 1)
    reg.pause(0.3)
    assert stamp(r, 1) > first and r.hget(STATE, "1").startswith("4-")
    reg.stop()
    assert not reg.running
    last = r.hget(STATE, "1")
    reg.pause(0.25)
    assert r.hget(STATE, "1") == last
    view = reg.view()
    assert ids(view.available()) == [1] and view.get(1).incarnation == reg.incarnation


def test_the_loop_logs_and_retries_errors(
    registry: Callable[..., Twin], r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing heartbeat is logged and retried sooner; the loop lives on."""
    failures = [RuntimeError("no load yet")] * 2

    def load() -> int:
        if failures:
            raise failures.pop()
        return 3

    reg = registry(6, period=0.1, load=load)
    with caplog.at_level(logging.WARNING, logger="redlua.stateful"):
        reg.start()
        reg.pause(0.3)
    assert r.hget(STATE, "6").startswith("3-")
    assert sum("no load yet" in m for m in caplog.messages) == 2


def test_a_restarted_pod_takes_over_once_the_old_lease_ends(
    registry: Callable[..., Twin], r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The new incarnation's loop is refused while the crashed one's lease lives, then wins."""
    crashed = registry(5, period=0.1, expire=0.4)
    crashed.heartbeat()
    fresh = registry(5, period=0.1, expire=0.4)
    with caplog.at_level(logging.WARNING, logger="redlua.stateful"):
        fresh.start()
        fresh.pause(0.2)
        assert json.loads(r.hget(META, "5"))["incarnation"] == crashed.incarnation
        fresh.pause(0.5)
    assert json.loads(r.hget(META, "5"))["incarnation"] == fresh.incarnation
    assert any("STALE_INCARNATION" in m for m in caplog.messages)


def test_drain_keeps_beating_with_deny_new_and_shutdown_stops(
    registry: Callable[..., Twin], r: redis.Redis
) -> None:
    """drain() writes DENY_NEW for N periods; shutdown() writes SHUTDOWN and stops the loop."""
    reg = registry(2, period=0.1, load=1)
    before = server_ms(r)
    reg.drain(wait_periods=2, period=0.1)
    assert stamp(r, 2) >= before + 190  # the last beat came after two pauses
    pod = reg.view().get(2)
    assert (pod.routing, pod.routable, pod.available) == (Routing.DENY_NEW, True, False)
    reg.start()
    reg.drain(wait_periods=1)
    assert reg.running and reg.routing is Routing.DENY_NEW
    written = reg.shutdown()
    assert not reg.running and stamp(r, 2) == written
    pod = reg.view().get(2)
    assert (pod.routing, pod.alive, pod.routable) == (Routing.SHUTDOWN, True, False)
    reg.pause(0.25)
    assert stamp(r, 2) == written


def test_drain_hands_its_uids_back(registry: Callable[..., Twin], r: redis.Redis) -> None:
    """drain(release=...) releases the links this pod still holds, and only those."""
    r.set(SCHEMA.link_key("mine", SVC), "2")
    r.hset(SCHEMA.uid_key("mine"), SVC, "2")
    r.set(SCHEMA.link_key("moved", SVC), "5")  # another pod took it meanwhile
    reg = registry(2, period=0.1)
    assert reg.drain(wait_periods=0, release=["mine", "moved"]) == 1
    assert r.get(SCHEMA.link_key("mine", SVC)) is None
    assert r.hget(SCHEMA.uid_key("mine"), SVC) is None
    assert r.get(SCHEMA.link_key("moved", SVC)) == "5"
    with pytest.raises(TypeError, match="release"):
        reg.drain(wait_periods=0, release="mine")


def test_context_managers_start_and_shut_down(engine: Any, r: redis.Redis) -> None:
    """`with` / `async with` start the loop (a thread or an asyncio task) and shut it down."""
    if isinstance(engine, Engine):
        with PodRegistry(engine, SCHEMA, SVC, 4, period=0.1) as reg:
            assert reg.running and reg._thread is not None and reg._thread.daemon
            time.sleep(0.1)
            assert reg.view().get(4).available
    else:

        async def body() -> AsyncPodRegistry:
            async with AsyncPodRegistry(engine.inner, SCHEMA, SVC, 4, period=0.1) as reg:
                assert isinstance(reg._task, asyncio.Task) and reg.running
                await asyncio.sleep(0.1)
                assert (await reg.view()).get(4).available
                task = reg._task
            assert task.done() and not reg.running
            return reg

        reg = engine.loop.run_until_complete(body())
    assert not reg.running
    assert json.loads(r.hget(META, "4"))["routing"] == "SHUTDOWN"


# -- bad input -----------------------------------------------------------------------------------


def test_bad_input_is_refused_before_any_io(
    engine: Any, registry: Callable[..., Twin], r: redis.Redis
) -> None:
    """Wrong types and values raise TypeError/ValueError naming the argument; nothing is written."""

    def hb(**kwargs: Any) -> Any:
        args = {"pod": 1, "load": 0, "incarnation": "a", "lease": 1.0, **kwargs}
        return lambda: heartbeat(SCHEMA, args.pop("service", SVC), **args)

    cases: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (hb(pod=-1), ValueError, "pod"),
        (hb(pod=True), TypeError, "pod"),
        (hb(pod="3"), TypeError, "pod"),
        (hb(load=-1), ValueError, "load"),
        (hb(load=1.5), TypeError, "load"),
        (hb(routing="BUSY"), ValueError, "routing"),
        (hb(capacity=-1), ValueError, "capacity"),
        (hb(address="a\nb"), ValueError, "address"),
        (hb(address=7), TypeError, "address"),
        (hb(incarnation=""), ValueError, "incarnation"),
        (hb(incarnation="a b"), ValueError, "incarnation"),
        (hb(lease=0), ValueError, "lease"),
        (hb(lease=-1.0), ValueError, "lease"),
        (hb(lease=float("nan")), ValueError, "lease"),
        (hb(lease="1"), TypeError, "lease"),
        (hb(service="a{b}"), ValueError, "service"),
        (lambda: heartbeat("sf", SVC, 1, 0, incarnation="a", lease=1), TypeError, "schema"),
        (lambda: pods(SCHEMA, SVC, expire=0), ValueError, "expire"),
        (lambda: reserve(SCHEMA, SVC, 1, True), TypeError, "n"),
        (lambda: reserve(SCHEMA, SVC, 1, ttl=0), ValueError, "ttl"),
        (lambda: set_state(SCHEMA, SVC, 1, 5), TypeError, "value"),
        (lambda: registry(1, period=0), ValueError, "period"),
        (lambda: registry(1, period=1, expire=0.5), ValueError, "expire"),
        (lambda: registry(1, load=-1), ValueError, "load"),
        (lambda: registry(1, load="x"), TypeError, "load"),
        (lambda: registry(1, capacity=-3), ValueError, "capacity"),
        (lambda: registry(-1), ValueError, "pod"),
        (lambda: registry(1).drain(wait_periods=-1), ValueError, "wait_periods"),
        (lambda: registry(1).drain(period=0), ValueError, "period"),
        (lambda: PodRegistry(object(), SCHEMA, SVC, 1), TypeError, "engine"),
    ]
    for build, error, word in cases:
        with pytest.raises(error, match=word):
            build()
    assert r.keys("*") == []


# -- cluster -------------------------------------------------------------------------------------


@pytest.mark.cluster
def test_cluster_heartbeats_and_view(cluster_engine: Any) -> None:
    """Every key of one service shares a slot: heartbeats, reservations and views work."""
    for pod in range(3):
        beat(cluster_engine, pod, pod * 2, incarnation=f"i{pod}")
    assert cluster_engine.run(reserve(SCHEMA, SVC, 1)) == 1
    view = cluster_engine.run(pods(SCHEMA, SVC, expire=60))
    assert ids(view.available()) == [0, 1, 2]
    assert view.effective_load(1) == 3 and view.get(2).incarnation == "i2"
    cluster_engine.run(set_workload(SCHEMA, SVC, "ready"))
    assert cluster_engine.run(workload(SCHEMA, SVC)) == "ready"
    assert cluster_engine.run(remove_pod(SCHEMA, SVC, 0)) is True
