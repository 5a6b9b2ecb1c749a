"""The engine's behaviour on a real server, each test on both engines."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from redlua import (
    Call,
    ContractError,
    CrossSlotError,
    InvalidArgumentError,
    ScriptError,
    Sleep,
    load_script,
)
from redlua._pack import BIG, coalesce
from redlua.errors import ServerError

from .scripts import APPEND, BROKEN, GET, INCR, REFUSE


def evalsha_calls(r: redis.Redis, command: str = "evalsha") -> int:
    """Return how many times the server ran *command* (from INFO commandstats)."""
    return int(r.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_run_returns_the_decoded_reply(engine: Any, r: redis.Redis) -> None:
    """run() sends one EVALSHA and passes the reply through the call's decoder."""
    call = Call(INCR, ("n",), (5,), decode=lambda v: int(v) * 10)
    assert engine.run(call) == 50
    assert r.get("n") == "5"


def test_shipped_ping_reports_the_server(engine: Any) -> None:
    """The shipped core_ping script answers with the server's name, version and clock."""
    name, version, millis, payload = engine.run(Call(load_script("core_ping"), (), ("x",)))
    assert name in ("redis", "valkey")
    assert version[0].isdigit()
    assert int(millis) > 1_600_000_000_000
    assert payload == "x"


def test_run_script_by_registered_name(engine: Any, r: redis.Redis) -> None:
    """A script registered under a name runs by that name."""
    engine.register("counter_plus", INCR)
    assert engine.run_script("counter_plus", ["c"], [2]) == 2
    assert engine.run_script("counter_plus", ["c"], [2]) == 4


def test_cross_slot_call_fails_before_io(r: redis.Redis) -> None:
    """Keys in different slots raise CrossSlotError when the Call is built."""
    script = APPEND.__class__.from_source("two", "return 1")
    with pytest.raises(CrossSlotError, match="hash slots"):
        Call(script, ("a", "b"))
    Call(script, ("{t}a", "{t}b"))  # one tag, one slot: fine


def test_contract_checks_key_and_arg_counts() -> None:
    """A call that does not fit the script's header raises ContractError."""
    with pytest.raises(ContractError, match="takes 1 key, got 2"):
        Call(INCR, ("{x}a", "{x}b"), (1,))
    with pytest.raises(ContractError, match="takes 1 argument, got 0"):
        Call(INCR, ("a",))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((float("inf"),), ValueError),
        ((True,), TypeError),
        ((None,), TypeError),
        (([1],), TypeError),
    ],
)
def test_bad_argument_types_fail_before_io(args: tuple[Any, ...], error: type[Exception]) -> None:
    """Arguments that Redis cannot take raise a TypeError/ValueError naming them."""
    with pytest.raises(error, match=r"args\[0\]"):
        Call(INCR, ("k",), args)


def test_error_reply_maps_to_its_exception(engine: Any, r: redis.Redis) -> None:
    """redis.error_reply('INVALID_ARGUMENT ...') becomes InvalidArgumentError and writes nothing."""
    with pytest.raises(InvalidArgumentError, match="must be an integer") as caught:
        engine.run(Call(REFUSE, ("k",), ("x1",)))
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.script == "test_refuse"
    assert r.exists("k") == 0


def test_lua_runtime_error_names_script_and_line(engine: Any) -> None:
    """A Lua runtime error becomes ScriptError with the script, line and source line."""
    with pytest.raises(ScriptError) as caught:
        engine.run(Call(BROKEN))
    error = caught.value
    assert (error.script, error.line) == ("test_broken", 8)
    assert error.source_line == "return n + missing"
    assert "arithmetic" in error.message


def test_wrongtype_inside_a_script(engine: Any, r: redis.Redis) -> None:
    """A redis.call that hits WRONGTYPE raises ScriptError with that code."""
    r.rpush("k", "x")
    with pytest.raises(ScriptError) as caught:
        engine.run(Call(INCR, ("k",), (1,)))
    assert caught.value.code == "WRONGTYPE"
    assert caught.value.line == 9


def test_run_many_keeps_order_and_uses_one_round_trip(engine: Any, r: redis.Redis) -> None:
    """run_many returns replies in call order, from one pipelined write."""
    engine.preload([APPEND])
    before = evalsha_calls(r)
    calls = [Call(APPEND, ("l",), (str(i),)) for i in range(50)]
    assert engine.run_many(calls) == list(range(1, 51))
    assert r.lrange("l", 0, -1) == [str(i) for i in range(50)]
    assert evalsha_calls(r) - before == 50  # nothing re-sent


def test_run_many_carries_a_large_argument_among_small_calls(engine: Any, r: redis.Redis) -> None:
    """A 300 kB item between small calls of run_many arrives whole, and every reply is in order."""
    big = "x" * 300_000
    items = ["a", "b", big, "c", *("d" * n for n in range(1, 40))]
    assert engine.run_many([Call(APPEND, ("l",), (item,)) for item in items]) == list(
        range(1, len(items) + 1)
    )
    assert r.lrange("l", 0, -1) == items


def test_coalesce_joins_small_chunks_and_keeps_big_ones() -> None:
    """Runs of small chunks become one chunk (one sendall); a big chunk is sent as it is."""
    big = b"y" * BIG
    assert coalesce([b"a", b"b", big, b"c", memoryview(b"d")]) == [b"ab", big, b"cd"]
    assert coalesce([]) == [] and coalesce([big]) == [big]


def test_run_many_keeps_each_error_its_own(engine: Any, r: redis.Redis) -> None:
    """An error in a batch does not fail its neighbours; it is raised after all ran."""
    calls = [Call(INCR, ("a",), (1,)), Call(REFUSE, ("b",), ("no",)), Call(INCR, ("a",), (1,))]
    results = engine.run_many(calls, return_exceptions=True)
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], InvalidArgumentError)
    with pytest.raises(InvalidArgumentError):
        engine.run_many(calls)
    assert r.get("a") == "4"


def test_run_many_empty_batch(engine: Any) -> None:
    """An empty batch returns an empty list without I/O."""
    assert engine.run_many([]) == []
    assert engine.run_many([], atomic=True) == []


def test_atomic_batch_runs_in_multi_exec(engine: Any, r: redis.Redis) -> None:
    """run_many(atomic=True) wraps a one-slot batch in MULTI/EXEC."""
    calls = [Call(INCR, ("{acct}a",), (-5,)), Call(INCR, ("{acct}b",), (5,))]
    assert engine.run_many(calls, atomic=True) == [-5, 5]
    assert r.mget("{acct}a", "{acct}b") == ["-5", "5"]


def test_atomic_batch_refuses_cross_slot(engine: Any, r: redis.Redis) -> None:
    """An atomic batch over several slots raises CrossSlotError and sends nothing."""
    calls = [Call(INCR, ("a",), (1,)), Call(INCR, ("b",), (1,))]
    with pytest.raises(CrossSlotError):
        engine.run_many(calls, atomic=True)
    assert r.exists("a", "b") == 0


def test_atomic_batch_error_is_per_call(engine: Any, r: redis.Redis) -> None:
    """In MULTI/EXEC a failing script raises, the others commit (Redis has no rollback)."""
    calls = [Call(INCR, ("{t}a",), (1,)), Call(REFUSE, ("{t}b",), ("x",))]
    results = engine.run_many(calls, atomic=True, return_exceptions=True)
    assert results[0] == 1
    assert isinstance(results[1], InvalidArgumentError)


def test_read_only_script_runs_with_evalsha_ro(engine: Any, r: redis.Redis) -> None:
    """A no-writes script is sent as EVALSHA_RO where the server has it."""
    r.set("k", "v")
    engine.preload([GET])
    before = evalsha_calls(r, "evalsha_ro")
    assert engine.run(Call(GET, ("k",))) == "v"
    assert evalsha_calls(r, "evalsha_ro") == before + 1


def test_drive_runs_calls_and_sleeps(engine: Any, r: redis.Redis) -> None:
    """drive() sends each decoded reply back into the flow and returns its value."""

    def flow() -> Any:
        first = yield Call(INCR, ("f",), (2,))
        yield Sleep(0.01)
        second = yield Call(INCR, ("f",), (first,))
        return first, second

    assert engine.drive(flow()) == (2, 4)


def test_drive_throws_errors_into_the_flow(engine: Any) -> None:
    """An error from a call is thrown into the flow, which may handle it."""

    def flow() -> Any:
        try:
            yield Call(REFUSE, ("k",), ("bad",))
        except InvalidArgumentError as exc:
            return f"handled {exc.code}"
        return "not reached"

    assert engine.drive(flow()) == "handled INVALID_ARGUMENT"


def test_stats_count_calls_errors_and_latency(engine: Any) -> None:
    """stats() counts calls and errors per script and gives latency percentiles."""
    engine.reset_stats()
    for _ in range(20):
        engine.run(Call(INCR, ("s",), (1,)))
    with pytest.raises(InvalidArgumentError):
        engine.run(Call(REFUSE, ("s2",), ("x",)))
    stats = engine.stats()
    incr = stats["test_incr"]
    assert (incr.calls, incr.errors) == (20, 0)
    assert incr.p50 is not None and incr.p99 is not None and incr.max is not None
    assert 0 < incr.p50 <= incr.p99 <= incr.max * 1.0001
    assert stats["test_refuse"].errors == 1


def test_validate_reports_line_and_message(engine: Any) -> None:
    """validate() compiles on the server and points at the failing line."""
    ok = engine.validate("return 1")
    assert ok.valid and ok.sha and ok.message == "ok"
    bad = engine.validate("local a = 1\nlocal b = = 2\nreturn a")
    assert not bad.valid
    assert bad.line == 2
    assert bad.source_line == "local b = = 2"
    assert "unexpected symbol" in bad.message


def test_profile_gives_percentiles(engine: Any) -> None:
    """profile() runs a call n times and reports p50 <= p95 <= p99 and ops/s."""
    profile = engine.profile(Call(INCR, ("p",), (1,)), 30)
    assert (profile.iterations, profile.succeeded, profile.errors) == (30, 30, 0)
    assert profile.p50 <= profile.p95 <= profile.p99 <= profile.max
    assert profile.ops_per_sec > 0
    with pytest.raises(ValueError, match="iterations"):
        engine.profile(Call(INCR, ("p",), (1,)), 0)


def test_profile_counts_errors(engine: Any) -> None:
    """profile() counts failing runs instead of stopping."""
    profile = engine.profile(Call(BROKEN), 3)
    assert (profile.succeeded, profile.errors, profile.p50) == (0, 3, None)


def test_decode_responses_off(make_engine: Any, server_url: str, r: redis.Redis) -> None:
    """With decode_responses off replies are bytes and decoders see bytes."""
    engine = make_engine(server_url, decode_responses=False)
    r.set("k", "v")
    assert engine.run(Call(GET, ("k",))) == b"v"
    assert engine.run(Call(INCR, (b"n",), (b"3",))) == 3


def test_binary_keys_and_values_round_trip(engine: Any, r: redis.Redis) -> None:
    """Binary, unicode and empty keys and arguments reach the script byte-exact."""
    for key, value in [("ключ{ü}", "значение"), ("e\x00k", "\x00\xff"), ("z", "")]:
        engine.run(
            Call(
                REFUSE.__class__.from_source("set", "return redis.call('SET', KEYS[1], ARGV[1])"),
                (key,),
                (value,),
            )
        )
        assert r.get(key) == value


def test_unknown_script_name(engine: Any) -> None:
    """Running an unregistered name raises UnknownScriptError (a LookupError)."""
    with pytest.raises(LookupError, match="no script named"):
        engine.run_script("nope")


def test_register_refuses_a_different_body_under_a_taken_name(engine: Any) -> None:
    """Two different scripts cannot share a name on one engine."""
    engine.register("mine", "return 1")
    engine.register("mine", "return 1")
    with pytest.raises(ValueError, match="already registered"):
        engine.register("mine", "return 2")


def test_server_error_is_a_redlua_error(engine: Any) -> None:
    """Errors without a script code still come out as ServerError subclasses."""
    with pytest.raises(ServerError):
        engine.run(Call(BROKEN))


def test_register_from_a_file(engine: Any, r: redis.Redis, tmp_path: Any) -> None:
    """A script registered from a .lua file runs by name and keeps the file's contract."""
    path = tmp_path / "counter_double.lua"
    path.write_text(
        "--[[\n  Double a counter.\n\n  KEYS[1]  counter\n\n  Returns  the new value.\n]]\n"
        "return redis.call('INCRBY', KEYS[1], tonumber(redis.call('GET', KEYS[1]) or '0'))\n"
    )
    script = engine.register("counter_double", path)
    assert script.numkeys == 1
    r.set("d", 21)
    assert engine.run_script("counter_double", ["d"]) == 42


def test_wait_wakes_on_a_push_and_times_out(engine: Any, r: redis.Redis) -> None:
    """A Wait step returns (key, value) when a list gets an element, None after its timeout."""
    import threading
    import time

    from redlua import Wait

    def flow() -> Any:
        nothing = yield Wait(("{w}signal",), 0.05)
        woken = yield Wait(("{w}signal", "{w}other"), 5.0)
        return nothing, woken

    timer = threading.Timer(0.2, lambda: r.rpush("{w}other", "go"))
    timer.start()
    started = time.monotonic()
    nothing, woken = engine.drive(flow())
    timer.join()
    assert nothing is None
    assert list(woken) == ["{w}other", "go"]
    assert time.monotonic() - started < 3


def test_wait_checks_its_input() -> None:
    """Wait refuses no keys, keys in two slots and non-positive timeouts."""
    from redlua import Wait

    with pytest.raises(ValueError, match="at least one key"):
        Wait((), 1)
    with pytest.raises(CrossSlotError):
        Wait(("a", "b"), 1)
    with pytest.raises(ValueError, match="seconds"):
        Wait(("a",), 0)
