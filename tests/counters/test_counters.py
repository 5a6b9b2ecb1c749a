"""`Counters` and `AsyncCounters` on a real server: ceilings, floors, ttls, exact values, checks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redlua import Call, CorruptDataError, InvalidArgumentError, ServerError
from redlua._registry import load_script
from redlua.counters import (
    CounterOps,
    CounterOverflowError,
    CounterUpdate,
    Increment,
    Threshold,
    ThresholdEvent,
)
from tests._twins import classes, sync_text
from tests.counters import INT64_MAX, INT64_MIN, make_counters

SOURCE = Path(__file__).resolve().parents[2] / "src" / "redlua" / "counters" / "api.py"
KEY = "redlua:counter:{c}"
EVENTS = "redlua:counter:{c}#events"


@pytest.fixture
def listener(r: redis.Redis) -> Iterator[Callable[[], list[ThresholdEvent]]]:
    """Subscribe to channel ``alerts`` now; the fixture returns what has arrived since."""
    pubsub = r.pubsub()
    pubsub.subscribe("alerts")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"

    def heard() -> list[ThresholdEvent]:
        got = []
        while (message := pubsub.get_message(timeout=0.2)) is not None:
            got.append(ThresholdEvent.from_message(message["data"]))
        return got

    yield heard
    pubsub.close()


# -- increment with a ceiling ------------------------------------------------------------------


def test_increment_stops_at_the_maximum_and_says_so(engine: Any, r: redis.Redis) -> None:
    """Increments apply up to the maximum; one that would pass it changes nothing and says so."""
    counters = make_counters(engine)
    assert counters.increment_with_limit("c", 4, maximum=10) == CounterUpdate(True, 4)
    assert counters.increment_with_limit("c", 6, maximum=10) == CounterUpdate(True, 10)
    refused = counters.increment_with_limit("c", 1, maximum=10)
    assert refused == CounterUpdate(False, 10) and not refused
    assert counters.increment_with_limit("c", 5, maximum=12) == CounterUpdate(False, 10)
    assert r.get(KEY) == "10"
    assert counters.increment_with_limit("c", 2, maximum=12).value == 12


def test_no_maximum_means_no_ceiling(engine: Any, r: redis.Redis) -> None:
    """Without a maximum every increment applies; the default amount is 1."""
    counters = make_counters(engine)
    assert counters.increment_with_limit("c") == CounterUpdate(True, 1)
    assert counters.increment_with_limit("c", 10**15).value == 10**15 + 1
    assert r.get(KEY) == str(10**15 + 1)


def test_a_refused_first_increment_creates_nothing(engine: Any, r: redis.Redis) -> None:
    """An amount above the maximum on an absent counter is refused and leaves no key."""
    counters = make_counters(engine)
    assert counters.increment_with_limit("c", 5, maximum=4, ttl=10) == CounterUpdate(False, 0)
    assert counters.increment_with_limit("c", 1, maximum=0) == CounterUpdate(False, 0)
    assert r.keys("*") == []


@pytest.mark.parametrize("maximum", [None, 100])
def test_ttl_is_set_on_create_and_never_refreshed(
    engine: Any, r: redis.Redis, maximum: int | None
) -> None:
    """The ttl starts with the counter's first increment; later increments keep its expiry."""
    counters = make_counters(engine)
    counters.increment_with_limit("c", 1, maximum, ttl=5)
    assert 4800 < r.pttl(KEY) <= 5000
    time.sleep(0.1)
    counters.increment_with_limit("c", 1, maximum, ttl=50)
    counters.increment_with_limit("c", 1, maximum)
    assert 4500 < r.pttl(KEY) <= 4900
    assert r.get(KEY) == "3"
    counters.increment_with_limit("plain", 1, maximum)
    counters.increment_with_limit("plain", 1, maximum, ttl=5)  # exists already: no ttl added
    assert r.pttl("redlua:counter:{plain}") == -1


# -- decrement with a floor --------------------------------------------------------------------


def test_decrement_never_goes_below_zero(engine: Any, r: redis.Redis) -> None:
    """A decrement applies only when the counter holds the amount; refused ones change nothing."""
    counters = make_counters(engine)
    assert counters.decrement_if_positive("c") == CounterUpdate(False, 0)
    assert r.keys("*") == []
    counters.set("c", 3)
    assert counters.decrement_if_positive("c", 2) == CounterUpdate(True, 1)
    assert counters.decrement_if_positive("c", 2) == CounterUpdate(False, 1)
    assert counters.decrement_if_positive("c") == CounterUpdate(True, 0)
    assert counters.decrement_if_positive("c") == CounterUpdate(False, 0)
    assert r.get(KEY) == "0"
    counters.set("c", -4)
    assert counters.decrement_if_positive("c") == CounterUpdate(False, -4)


# -- get, set, reset ---------------------------------------------------------------------------


def test_get_set_and_reset(engine: Any, r: redis.Redis) -> None:
    """get reads 0 when absent; set writes; reset deletes and returns what the counter held."""
    counters = make_counters(engine)
    assert counters.get("c") == 0 and r.keys("*") == []
    assert counters.set("c", 7) == CounterUpdate(True, 7)
    assert counters.get("c") == 7
    assert counters.set("c", -3).value == -3 and r.get(KEY) == "-3"
    assert counters.reset("c") == -3
    assert r.exists(KEY) == 0 and counters.get("c") == 0
    assert counters.reset("c") == 0


def test_set_replaces_or_keeps_the_ttl(engine: Any, r: redis.Redis) -> None:
    """set with a ttl replaces the expiry; set without one keeps it (a new counter gets none)."""
    counters = make_counters(engine)
    counters.set("c", 1)
    assert r.pttl(KEY) == -1
    counters.set("c", 2, ttl=5)
    assert 4800 < r.pttl(KEY) <= 5000
    counters.set("c", 3)
    assert 4800 < r.pttl(KEY) <= 5000 and r.get(KEY) == "3"
    counters.set("c", 4, ttl=0.5)
    assert 300 < r.pttl(KEY) <= 500


# -- exact values ------------------------------------------------------------------------------


def test_values_beyond_2_53_stay_exact(engine: Any, r: redis.Redis) -> None:
    """Values near 2^62 and 2^63-1 come back to the last digit through every operation."""
    counters = make_counters(engine)
    big = 2**62 + 1
    assert counters.set("c", big).value == big
    assert counters.increment_with_limit("c", 2**53 + 1).value == big + 2**53 + 1
    assert counters.increment_with_limit("c", 3, maximum=INT64_MAX).value == big + 2**53 + 4
    assert counters.decrement_if_positive("c", 2**53 + 3).value == big + 1
    assert counters.decrement_if_positive("c", big + 2) == CounterUpdate(False, big + 1)
    assert counters.get("c") == big + 1 == int(r.get(KEY))
    assert counters.increment_with_limit("c", 1, maximum=big + 1) == CounterUpdate(False, big + 1)
    near = INT64_MAX - 5
    counters.set("top", near)
    assert counters.increment_with_limit("top", 5, maximum=INT64_MAX).value == INT64_MAX
    assert counters.increment_with_limit("top", 1, maximum=INT64_MAX) == CounterUpdate(
        False, INT64_MAX
    )
    counters.set("bottom", INT64_MIN)
    assert counters.get_many(["top", "bottom", "c"]) == [INT64_MAX, INT64_MIN, big + 1]
    assert counters.reset("bottom") == INT64_MIN


def test_increment_past_2_63_raises_and_writes_nothing(engine: Any, r: redis.Redis) -> None:
    """An increment that would overflow 64 bits raises CounterOverflowError; nothing changes."""
    counters = make_counters(engine)
    counters.set("c", INT64_MAX - 1, ttl=30)
    for notify in (None, Threshold(INT64_MAX, stream=True)):  # the fast path and the full one
        with pytest.raises(CounterOverflowError, match="2\\^63-1"):
            counters.increment_with_limit("c", 2, notify=notify)
        with pytest.raises(OverflowError):
            counters.increment_with_limit("c", INT64_MAX, notify=notify)
    assert r.get(KEY) == str(INT64_MAX - 1) and r.exists(EVENTS) == 0
    assert 29000 < r.pttl(KEY) <= 30000
    assert counters.increment_with_limit("c", 1).value == INT64_MAX


def test_replies_decode_without_decode_responses(
    make_engine: Any, server_url: str, r: redis.Redis
) -> None:
    """With bytes replies every operation returns the same exact ints and events."""
    counters = make_counters(make_engine(server_url, decode_responses=False))
    alert = Threshold(2**62, stream=True, direction="both")
    assert counters.set("c", 2**62 - 1, notify=alert) == CounterUpdate(True, 2**62 - 1)
    assert counters.increment_with_limit("c", 1, notify=alert) == CounterUpdate(
        True, 2**62, (2**62,)
    )
    assert counters.increment_with_limit("c", 1, 2**62) == CounterUpdate(False, 2**62)
    assert counters.decrement_if_positive("c", 1, notify=alert).crossed == (2**62,)
    assert counters.get("c") == 2**62 - 1 and counters.get_many(["c", "x"]) == [2**62 - 1, 0]
    assert [e.direction for e in counters.events("c")] == ["up", "down"]
    assert counters.batch([Increment("c", 1, 2**62)]) == [CounterUpdate(True, 2**62)]
    assert counters.reset("c") == 2**62


# -- corrupt data ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "decimal", "leading zero", "too big", "hash"])
def test_a_key_that_holds_no_counter_is_left_alone(engine: Any, r: redis.Redis, kind: str) -> None:
    """Every operation on a key that holds no 64-bit integer raises CORRUPT_DATA and keeps it."""
    if kind == "hash":
        r.hset(KEY, "f", "1")
    else:
        r.set(KEY, {"text": "abc", "decimal": "1.5", "leading zero": "007"}.get(kind, "9" * 20))
    before = r.dump(KEY)
    counters = make_counters(engine)
    attempts: list[Callable[[], Any]] = [
        lambda: counters.increment_with_limit("c"),
        lambda: counters.increment_with_limit("c", 1, ttl=5),
        lambda: counters.increment_with_limit("c", 1, 10),
        lambda: counters.decrement_if_positive("c"),
        lambda: counters.set("c", 1),
        lambda: counters.get("c"),
        lambda: counters.reset("c"),
    ]
    for attempt in attempts:
        with pytest.raises(CorruptDataError, match="holds no 64-bit integer"):
            attempt()
    assert r.dump(KEY) == before and r.keys("*") == [KEY]


def test_out_of_memory_is_the_servers_error_not_corrupt_data(
    private_engine: Any, pr: redis.Redis
) -> None:
    """Under maxmemory an increment raises the server's OOM error and writes nothing."""
    counters = make_counters(private_engine)
    counters.increment_with_limit("c")
    saved = {**pr.config_get("maxmemory"), **pr.config_get("maxmemory-policy")}
    pr.config_set("maxmemory-policy", "noeviction")
    pr.config_set("maxmemory", "1")
    try:
        for maximum, ttl in [(None, None), (10, None), (None, 5.0)]:
            with pytest.raises(ServerError) as caught:
                counters.increment_with_limit("c", 1, maximum, ttl)
            assert caught.value.code == "OOM" and not isinstance(caught.value, CorruptDataError)
    finally:
        for name, value in saved.items():
            pr.config_set(name, value)
    assert pr.keys("*") == [KEY] and pr.get(KEY) == "1"


# -- thresholds --------------------------------------------------------------------------------


def test_a_crossing_is_published_once(engine: Any, r: redis.Redis, listener: Any) -> None:
    """Counting 0 to 10 past level 5 publishes one message, on the increment that reached 5."""
    counters = make_counters(engine)
    alert = Threshold(5, channel="alerts")
    results = [counters.increment_with_limit("c", notify=alert) for _ in range(10)]
    assert [u.crossed for u in results] == [()] * 4 + [(5,)] + [()] * 5
    assert listener() == [ThresholdEvent(KEY, 5, "up", 4, 5)]
    counters.set("c", 0)  # back below: no notification without notify
    counters.increment_with_limit("c", 7, notify=alert)  # a second crossing is announced again
    assert listener() == [ThresholdEvent(KEY, 5, "up", 0, 7)]


def test_a_refused_change_announces_nothing(engine: Any, r: redis.Redis, listener: Any) -> None:
    """An increment refused by its maximum or a refused decrement crosses nothing."""
    counters = make_counters(engine)
    counters.set("c", 4)
    both = Threshold(5, channel="alerts", direction="both")
    assert counters.increment_with_limit("c", 3, maximum=6, notify=both) == CounterUpdate(False, 4)
    assert counters.decrement_if_positive("c", 9, notify=both) == CounterUpdate(False, 4)
    assert listener() == []


def test_a_jump_announces_every_level_it_passes(engine: Any, r: redis.Redis, listener: Any) -> None:
    """One increment past three levels announces the three, in the order given."""
    counters = make_counters(engine)
    levels = [Threshold(level, channel="alerts") for level in (10, 20, 30, 40)]
    assert counters.increment_with_limit("c", 35, notify=levels).crossed == (10, 20, 30)
    assert [e.level for e in listener()] == [10, 20, 30]
    assert counters.increment_with_limit("c", 4, notify=levels).crossed == ()
    assert counters.increment_with_limit("c", 1, notify=levels).crossed == (40,)


def test_downward_and_set_crossings(engine: Any, r: redis.Redis, listener: Any) -> None:
    """Decrements announce downward levels; a set announces whichever way it jumps."""
    counters = make_counters(engine)
    low = Threshold(10, channel="alerts", direction="down")
    both = Threshold(100, channel="alerts", direction="both")
    counters.set("c", 12)
    assert counters.decrement_if_positive("c", 2, notify=low).crossed == ()
    assert counters.decrement_if_positive("c", 1, notify=low).crossed == (10,)
    assert counters.increment_with_limit("c", 5, notify=low).crossed == ()  # up: not asked
    assert counters.set("c", 150, notify=[low, both]).crossed == (100,)
    assert counters.set("c", 150, notify=[low, both]).crossed == ()  # no move, no crossing
    assert counters.set("c", 5, notify=[low, both]).crossed == (10, 100)
    heard = [(e.level, e.direction, e.before, e.after) for e in listener()]
    assert heard == [(10, "down", 10, 9), (100, "up", 14, 150), (10, "down", 150, 5),
                     (100, "down", 150, 5)]  # fmt: skip


def test_stream_notifications_are_kept_and_trimmed(engine: Any, r: redis.Redis) -> None:
    """A stream threshold XADDs to the counter's event stream, trimmed to about maxlen."""
    counters = make_counters(engine)
    alert = Threshold(1, stream=True, direction="both", maxlen=3)
    for _ in range(300):
        counters.increment_with_limit("c", notify=alert)
        counters.decrement_if_positive("c", notify=alert)
    events = counters.events("c", count=1000)
    assert 3 <= r.xlen(EVENTS) == len(events) < 600  # approximate trimming (MAXLEN ~)
    assert [e.direction for e in events[-2:]] == ["up", "down"]
    assert (events[-1].key, events[-1].level, events[-1].before, events[-1].after) == (
        KEY,
        1,
        1,
        0,
    )
    assert counters.events("c", after=events[-2].id) == [events[-1]]
    assert counters.events("c", after=events[-1].id) == []
    assert counters.events("c", count=1) == events[:1]
    assert counters.events("missing") == []


def test_thresholds_past_2_53_are_exact(engine: Any, r: redis.Redis, listener: Any) -> None:
    """A level near 2^62 is crossed by the exact increment that reaches it, not one before."""
    counters = make_counters(engine)
    level = 2**62 + 3
    alert = Threshold(level, channel="alerts", direction="both")
    counters.set("c", 2**62)
    assert counters.increment_with_limit("c", 2, notify=alert).crossed == ()
    assert counters.increment_with_limit("c", 1, notify=alert).crossed == (level,)
    assert counters.decrement_if_positive("c", 1, notify=alert).crossed == (level,)
    assert listener() == [
        ThresholdEvent(KEY, level, "up", 2**62 + 2, level),
        ThresholdEvent(KEY, level, "down", level, 2**62 + 2),
    ]


# -- checks ------------------------------------------------------------------------------------


def _bad_calls(counters: Any) -> list[tuple[Callable[[], Any], type[Exception], str]]:
    inc, dec = counters.increment_with_limit, counters.decrement_if_positive
    return [
        (lambda: inc("c", 1.0), TypeError, "amount"),
        (lambda: inc("c", 1.5), TypeError, "amount"),
        (lambda: inc("c", float("inf")), TypeError, "amount"),
        (lambda: inc("c", float("nan")), TypeError, "amount"),
        (lambda: inc("c", True), TypeError, "amount"),
        (lambda: inc("c", "1"), TypeError, "amount"),
        (lambda: inc("c", 0), ValueError, "amount"),
        (lambda: inc("c", -1), ValueError, "amount"),
        (lambda: inc("c", 2**63), ValueError, "amount"),
        (lambda: inc("c", 1, -1), ValueError, "maximum"),
        (lambda: inc("c", 1, 2**63), ValueError, "maximum"),
        (lambda: inc("c", 1, 5.0), TypeError, "maximum"),
        (lambda: inc("c", 1, False), TypeError, "maximum"),
        (lambda: inc("c", 1, None, 0), ValueError, "ttl"),
        (lambda: inc("c", 1, None, -1), ValueError, "ttl"),
        (lambda: inc("c", 1, None, float("nan")), ValueError, "ttl"),
        (lambda: inc("c", 1, None, float("inf")), ValueError, "ttl"),
        (lambda: inc("c", 1, None, "5"), TypeError, "ttl"),
        (lambda: inc("c", notify=5), TypeError, "notify"),
        (lambda: inc("c", notify=[Threshold(1, stream=True), "x"]), TypeError, "notify"),
        (lambda: inc("", 1), ValueError, "name"),
        (lambda: inc("a{b}", 1), ValueError, "name"),
        (lambda: inc("a\nb", 1), ValueError, "name"),
        (lambda: inc(7, 1), TypeError, "name"),
        (lambda: dec("c", 0), ValueError, "amount"),
        (lambda: dec("c", -3), ValueError, "amount"),
        (lambda: dec("c", 2.0), TypeError, "amount"),
        (lambda: dec("c", None), TypeError, "amount"),
        (lambda: counters.set("c", 1.0), TypeError, "value"),
        (lambda: counters.set("c", 2**63), ValueError, "value"),
        (lambda: counters.set("c", INT64_MIN - 1), ValueError, "value"),
        (lambda: counters.set("c", 1, ttl=0), ValueError, "ttl"),
        (lambda: counters.get("c}"), ValueError, "name"),
        (lambda: counters.reset(None), TypeError, "name"),
        (lambda: counters.events("c", after="x"), ValueError, "after"),
        (lambda: counters.events("c", count=0), ValueError, "count"),
    ]


def test_bad_input_raises_before_any_io(engine: Any, r: redis.Redis) -> None:
    """Bad amounts, maxima, ttls, names and notifications raise naming the argument; no key."""
    counters = make_counters(engine)
    for call, error, word in _bad_calls(counters):
        with pytest.raises(error, match=word):
            call()
    assert r.keys("*") == []


@pytest.mark.parametrize(
    ("change", "error", "word"),
    [
        ({"channel": None}, ValueError, "channel"),
        ({"channel": "a", "stream": True}, ValueError, "not both"),
        ({"channel": ""}, ValueError, "channel"),
        ({"channel": "a\x00"}, ValueError, "channel"),
        ({"channel": b"a"}, TypeError, "channel"),
        ({"level": 1.5}, TypeError, "level"),
        ({"level": True}, TypeError, "level"),
        ({"level": 2**63}, ValueError, "level"),
        ({"direction": "sideways"}, ValueError, "direction"),
        ({"maxlen": 0}, ValueError, "maxlen"),
        ({"stream": 1, "channel": None}, TypeError, "stream"),
    ],
)
def test_bad_thresholds_raise(change: dict[str, Any], error: type[Exception], word: str) -> None:
    """A Threshold checks its level, destination, direction and maxlen when made."""
    args: dict[str, Any] = {"level": 5, "channel": "alerts", **change}
    with pytest.raises(error, match=word):
        Threshold(**args)


@pytest.mark.parametrize(
    ("script", "keys", "args"),
    [
        ("counter_increment", (KEY,), ("0", "", "")),
        ("counter_increment", (KEY,), ("-1", "", "")),
        ("counter_increment", (KEY,), ("1.5", "", "")),
        ("counter_increment", (KEY,), ("9223372036854775808", "", "")),
        ("counter_increment", (KEY,), ("1", "1e3", "")),
        ("counter_increment", (KEY,), ("1", "", "0")),
        ("counter_increment", (KEY,), ("1", "", "", "shout", "a", "1", "up", "", "")),
        ("counter_increment", (KEY,), ("1", "", "", "stream", "10", "1", "up", "", "")),
        ("counter_increment", (KEY, EVENTS), ("1", "", "", "stream", "0", "1", "up", "", "")),
        ("counter_increment", (KEY,), ("1", "", "", "publish", "a", "1", "sideways", "", "")),
        ("counter_increment", (KEY,), ("1", "", "", "publish", "a", "1", "up")),
        ("counter_decrement", (KEY,), ("0",)),
        ("counter_decrement", (KEY,), ("1", "publish", "", "1", "up", "", "")),
        ("counter_set", (KEY,), ("9223372036854775808", "")),
        ("counter_set", (KEY,), ("1", "-5")),
        ("counter_set", (KEY,), ("01", "")),
        ("counter_batch", (KEY,), ("some", "incr", "1", "", "")),
        ("counter_batch", (KEY,), ("each", "incr", "1", "")),
        ("counter_batch", (KEY,), ("each", "mul", "1", "", "")),
        ("counter_batch", (KEY,), ("each", "decr", "1", "", "5")),
        ("counter_batch", (KEY,), ("each", "set", "1", "3", "")),
        ("counter_batch", (KEY, KEY), ("each", "incr", "1", "", "", "incr", "1", "", "")),
        ("counter_events", (EVENTS,), ("0", "10")),
        ("counter_events", (EVENTS,), ("0-0", "0")),
    ],
)
def test_scripts_refuse_malformed_arguments(
    engine: Any, r: redis.Redis, script: str, keys: tuple[str, ...], args: tuple[str, ...]
) -> None:
    """Each script checks its ARGV before any write: INVALID_ARGUMENT and no key."""
    with pytest.raises(InvalidArgumentError):
        engine.run(Call(load_script(script), keys, args))
    assert r.keys("*") == []


def test_builders_make_the_calls_the_checked_constructor_makes() -> None:
    """Call.trusted in the builders: the same slot, keys and contract the full checks give."""
    ops = CounterOps()
    grouped = CounterOps("app:", group="cart:7")
    alert = Threshold(10, stream=True, direction="both")
    calls: list[Call[Any]] = [
        ops.increment_with_limit("c"),
        ops.increment_with_limit("c", 3, 10, 2.5, notify=alert),
        ops.decrement_if_positive("c", 2, notify=alert),
        ops.set("c", -5, ttl=1, notify=alert),
        ops.get("c"),
        ops.reset("c"),
        ops.events("c", after="5-1", count=7),
        grouped.increment_with_limit("x", notify=Threshold(3, channel="a")),
        *ops.get_many(["a", "b", "a"]).calls,
    ]
    for call in calls:
        checked = Call(call.script, call.keys, call.args, call.decode)
        assert checked.slot == call.slot
        assert all(isinstance(arg, str) for arg in call.args)
    assert calls[0].keys == (KEY,) and calls[0].args == ("1", "", "")
    assert calls[1].keys == (KEY, EVENTS)
    assert calls[1].args == ("3", "7", "2500", "stream", "1000", "10", "up", "7", "10")
    assert calls[2].args == ("2", "stream", "1000", "10", "down", "10", "12")
    assert calls[3].args == ("-5", "1000", "stream", "1000", "10", "down", "10", "")
    assert calls[7].keys == ("app:{cart:7}:x",)


def test_remembered_calls_never_skip_a_check() -> None:
    """A plain increment's call is made once and reused; a bool or bad value still raises."""
    ops = CounterOps()
    first = ops.increment_with_limit("c", 1, 10, 5)
    assert ops.increment_with_limit("c", 1, 10, 5) is first
    assert ops.increment_with_limit("c", 1, 10, 5.0) is first  # the same milliseconds
    assert ops.increment_with_limit("c", 1, 10, 5, notify=Threshold(3, channel="a")) is not first
    for amount, maximum, ttl in [(True, 10, 5), (1, True, 5), (1, 10, True), (1.0, 10, 5)]:
        with pytest.raises(TypeError):
            ops.increment_with_limit("c", amount, maximum, ttl)
    with pytest.raises(ValueError, match="ttl"):
        ops.increment_with_limit("c", 1, 10, float("nan"))


def test_key_layout() -> None:
    """A counter and its event stream share a slot; group keys share one; names cannot collide."""
    ops, grouped = CounterOps(), CounterOps(group="g")
    keys = ops.keys("c")
    assert (keys.counter, keys.events) == (KEY, EVENTS)
    a, b = grouped.keys("a"), grouped.keys("a#events:x")
    assert (a.counter, a.events) == ("redlua:counter:{g}:a", "redlua:counter:{g}#events:a")
    assert a.slot == b.slot == grouped.keys("zz").slot
    assert len({a.counter, a.events, b.counter, b.events}) == 4
    assert repr(grouped) == "CounterOps(prefix='redlua:counter:', group='g')"
    with pytest.raises(ValueError, match="group"):
        CounterOps(group="a}b")
    with pytest.raises(TypeError, match="prefix"):
        CounterOps(prefix=None)  # type: ignore[arg-type]


def test_threshold_windows_and_events_round_trip() -> None:
    """Windows bound the value before the change; messages and entries parse back exactly."""
    both = Threshold(100, channel="a", direction="both")
    assert both.windows("incr", 7) == ["publish", "a", "100", "up", "93", "100"]
    assert both.windows("decr", 7) == ["publish", "a", "100", "down", "100", "107"]
    assert both.windows("set", 100) == ["publish", "a", "100", "up", "", "100"]
    assert both.windows("set", 99) == ["publish", "a", "100", "down", "100", ""]
    assert Threshold(1, stream=True).windows("decr", 1) == []
    big = 2**63 - 1
    event = ThresholdEvent.from_message(
        f'{{"key":"k","level":"{big}","direction":"up","before":"1","after":"{big}"}}'
    )
    assert event == ThresholdEvent("k", big, "up", 1, big)
    fields = [b"key", b"k", b"level", b"5", b"direction", b"down", b"before", b"6", b"after", b"4"]
    assert ThresholdEvent.from_entry(b"1-2", fields) == ThresholdEvent("k", 5, "down", 6, 4, "1-2")
    with pytest.raises(ValueError, match="direction"):
        ThresholdEvent.from_message(
            '{"key":"k","level":"1","direction":"x","before":"0","after":"1"}'
        )


def test_twins_differ_only_by_async_await() -> None:
    """AsyncCounters is Counters with async/await and nothing else."""
    found = classes(SOURCE)
    renames = {"AsyncCounters": "Counters", "AsyncEngine": "Engine"}
    assert sync_text(found["AsyncCounters"], renames) == sync_text(found["Counters"], renames)
