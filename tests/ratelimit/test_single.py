"""One limit, one lean script: ``ratelimit_apply_<algorithm>`` against ``ratelimit_apply``.

A request with a single limit goes to its algorithm's own script; both scripts splice
the same algorithm code from ``lua/lib``, so on the same key they must answer alike
and leave the same state, whichever wrote last.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest
import redis

from redlua import Call, CorruptDataError, InvalidArgumentError, load_script
from redlua.ratelimit import ALGORITHMS, Decision, Limit, RateLimitOps
from redlua.ratelimit._ops import MEMO
from redlua.ratelimit.decision import decoder
from tests.ratelimit import T0, make_limiter, snapshot, ttls

BUCKETS = ("token_bucket", "gcra")

# (mode, cost, seconds after T0): hits of several costs, same-millisecond hits, peeks,
# refunds, denials, a window boundary, a clock that goes back and comes again; every
# key written lives 0.5 s or more (the TTLs run on the server's clock, not on now)
SCRIPT: list[tuple[str, int, float]] = [
    ("hit", 1, 0),
    ("hit", 2, 0),
    ("peek", 3, 1),
    ("hit", 3, 1),
    ("hit", 1, 1.5),
    ("hit", 2, 1.5),
    ("refund", 1, 2),
    ("hit", 1, 2),
    ("hit", 1, 2),
    ("hit", 1, 4.5),
    ("hit", 2, 8.5),
    ("hit", 1, 10.5),
    ("peek", 1, 12),
    ("refund", 2, 13),
    ("hit", 4, 15),
    ("hit", 1, 14.2),
    ("hit", 1, 14.2),
    ("refund", 1, 14.2),
    ("hit", 1, 15),
    ("hit", 2, 21),
    ("refund", 50, 22),
    ("hit", 5, 22),
    ("hit", 1, 28.5),
    ("hit", 1, 40),
]

# sliding_log requests at T0 + 1 s and + 2 s: after a hit at +2, the clock goes back to +1
ONE_MILLISECOND: list[tuple[str, int, float]] = [
    ("hit", 3, 1),
    ("hit", 1, 1),
    ("refund", 2, 1),
    ("hit", 4, 1),
    ("hit", 2, 2),
    ("hit", 1, 1),
    ("refund", 1, 1),
    ("hit", 3, 1),
    ("hit", 1, 1),
    ("refund", 3, 2),
    ("hit", 2, 2),
    ("hit", 1, 1),
]


def _limit(algorithm: str) -> Limit:
    burst = 6 if algorithm in BUCKETS else None
    return Limit(5, 10, algorithm, burst=burst)  # type: ignore[arg-type]


def _generic(limit: Limit, key: str, mode: str, cost: int, now: float) -> Call[Decision]:
    """The request as ratelimit_apply runs it for this one limit, decoded to its part."""
    one = decoder([limit.limit])
    args = (mode, str(round(now * 1000)), str(cost), *limit.args)
    return Call(load_script("ratelimit_apply"), (key,), args, lambda reply: one(reply[1:]))


def _lean(ops: RateLimitOps, identity: str, mode: str, cost: int, now: float) -> Call[Decision]:
    build = {"hit": ops.hit, "peek": ops.peek, "refund": ops.refund}[mode]
    return build(identity, cost, now=now)


def _state(r: redis.Redis, identity: str) -> Any:
    """The state of *identity*'s one key, its name left out."""
    found = [value for key, value in snapshot(r).items() if "{" + identity + "}" in key]
    return found[0] if found else None


def test_one_limit_goes_to_its_algorithms_own_script() -> None:
    """A lone limit calls ratelimit_apply_<algorithm> with its numbers only; several, ratelimit_apply."""
    for algorithm in ALGORITHMS:
        limit = _limit(algorithm)
        call = RateLimitOps(limit, prefix="p:").hit("u", 2, now=T0)
        numbers = ("5", "10000", "6") if algorithm in BUCKETS else ("5", "10000")
        assert call.script.name == f"ratelimit_apply_{algorithm}"
        assert call.keys == (f"p:{{u}}:{limit.key_name}",)
        assert call.args == ("hit", str(round(T0 * 1000)), "2", *numbers)
        assert call.slot == RateLimitOps(limit, Limit(1, 1), prefix="p:").hit("u").slot
        assert call.script.contract is not None
        call.script.contract.check(call.script.name, len(call.keys), len(call.args))
        tagged = RateLimitOps(limit).peek("u", tag="acme")
        assert tagged.keys == RateLimitOps(limit).keys("u", "acme")
        assert tagged.args[:3] == ("peek", "", "1")
    both = RateLimitOps(Limit(5, 10), Limit(50, 60, "sliding_log")).hit("u")
    assert both.script.name == "ratelimit_apply"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_both_scripts_agree_on_one_key_whichever_wrote_last(
    engine: Any, r: redis.Redis, algorithm: str
) -> None:
    """The same requests give the same decisions and state by the lean, generic or both in turn."""
    limit = _limit(algorithm)
    ops = RateLimitOps(limit)
    runs: dict[str, list[Decision]] = {"lean": [], "generic": [], "mixed": []}
    for step, (mode, cost, seconds) in enumerate(SCRIPT):
        now = T0 + seconds
        for way, got in runs.items():
            lean = way == "lean" or (way == "mixed" and step % 2 == 0)
            if lean:
                call = _lean(ops, way, mode, cost, now)
            else:
                call = _generic(limit, ops.keys(way)[0], mode, cost, now)
            got.append(engine.run(call))
        assert runs["lean"][-1] == runs["generic"][-1] == runs["mixed"][-1], (step, runs)
        assert _state(r, "lean") == _state(r, "generic") == _state(r, "mixed"), step
    assert {d.allowed for d in runs["lean"]} == {True, False}  # admissions and denials
    assert all(ttl > 0 for ttl in ttls(r).values())


def test_sliding_log_keeps_one_sorted_entry_per_unit(engine: Any, r: redis.Redis) -> None:
    """Hits, refunds and a clock gone back leave one entry per admitted unit, newest first."""
    ops = RateLimitOps(Limit(50, 10, "sliding_log"))
    key = ops.keys("u")[0]
    units = 0
    for step, (mode, cost, seconds) in enumerate(ONE_MILLISECOND):
        call = _lean(ops, "u", mode, cost, T0 + seconds)
        if step % 3 == 2:
            call = _generic(ops.limits[0], key, mode, cost, T0 + seconds)
        decision = engine.run(call)
        assert decision.allowed
        units = units + cost if mode == "hit" else max(units - cost, 0)
        entries = [int(entry) for entry in r.lrange(key, 0, -1)]
        assert len(entries) == units == 50 - decision.remaining, step
        assert entries == sorted(entries, reverse=True), step  # a hit from a clock gone back
        assert set(entries) <= {int(T0 * 1000) + 1000, int(T0 * 1000) + 2000}, step  # is not older


def test_the_server_clock_drives_the_lean_scripts(engine: Any) -> None:
    """Without now=, each lean script reads TIME: the limit binds and retry_after is sane."""
    for algorithm in ALGORITHMS:
        limiter = make_limiter(engine, Limit(2, 30, algorithm))
        assert limiter.hit("u") and limiter.hit("u")
        denied = limiter.hit("u")
        assert not denied and 0 < denied.retry_after <= 60 and denied.limit == 2
        assert limiter.peek("u").remaining == 0
        assert limiter.refund("u").remaining == 1


def test_bytes_clients_decode_alike(make_engine: Any, server_url: str, r: redis.Redis) -> None:
    """A client that leaves replies as bytes gets the same decisions from the lean scripts."""
    raw = make_engine(server_url, decode_responses=False)
    for algorithm in ALGORITHMS:
        limiter = make_limiter(raw, Limit(3, 60, algorithm))
        got = [limiter.hit("u", now=T0) for _ in range(4)]
        assert [d.remaining for d in got] == [2, 1, 0, 0]
        assert [d.allowed for d in got] == [True, True, True, False]
        assert isinstance(got[3].retry_after, float) and got[3].retry_after > 0


def test_decoded_decisions_are_ordinary_decisions() -> None:
    """A decision made from a reply equals, hashes, prints and freezes like a constructed one."""
    made = Decision(False, 0, 1.5, 2.0, 5)
    decoded = decoder([5])([0, 0, 1500, 2000])
    assert decoded == made and hash(decoded) == hash(made) and repr(decoded) == repr(made)
    assert not decoded and decoded.parts == ()
    assert dataclasses.asdict(decoded) == dataclasses.asdict(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.allowed = True  # type: ignore[misc]
    several = decoder([5, 7])([0, 1, 4, 0, 100, 0, 0, 250, 900])
    assert several == Decision(
        False, 0, 0.25, 0.9, 7, (Decision(True, 4, 0.0, 0.1, 5), Decision(False, 0, 0.25, 0.9, 7))
    )


LEAN_ERRORS = [
    ("gcra", ["bump", "", "1", "5", "1000", "5"], "mode"),
    ("gcra", ["hit", "", "0", "5", "1000", "5"], "cost"),
    ("fixed_window", ["hit", "", "1.5", "5", "1000"], "cost"),
    ("fixed_window", ["hit", "", "inf", "5", "1000"], "cost"),
    ("sliding_window", ["hit", "-1", "1", "5", "1000"], "now"),
    ("sliding_window", ["hit", "12.5", "1", "5", "1000"], "now"),
    ("sliding_window", ["hit", "", "1", "1000000000", "1000000000"], "limit x period"),
    ("token_bucket", ["hit", "", "1", "0", "1000", "5"], "limit"),
    ("sliding_log", ["hit", "", "1", "1000001", "1000"], "limit"),
    ("sliding_log", ["hit", "", "1", "5", "0"], "period"),
    ("fixed_window", ["hit", "", "1", "5", "nan"], "period"),
    ("gcra", ["hit", "", "1", "5", "1000", "nan"], "burst"),
    ("token_bucket", ["hit", "", "1", "5", "1000", "1e10"], "burst"),
    ("gcra", ["hit", "", "7", "5", "1000", "6"], "capacity 6"),
    ("sliding_log", ["peek", "", "6", "5", "1000"], "capacity 5"),
    ("gcra", ["hit", "", "1", "5", "1000000000000", "5000"], "burst x period"),
]


@pytest.mark.parametrize(("algorithm", "args", "word"), LEAN_ERRORS)
def test_the_lean_scripts_check_their_arguments(
    engine: Any, r: redis.Redis, algorithm: str, args: list[str], word: str
) -> None:
    """A lean script called raw with a bad argument answers INVALID_ARGUMENT and writes nothing."""
    r.set("k{u}:other", "kept")
    with pytest.raises(InvalidArgumentError, match=word):
        engine.run(Call(load_script(f"ratelimit_apply_{algorithm}"), ("k{u}",), args))
    assert snapshot(r) == {"k{u}:other": ("string", "kept")}


@pytest.mark.parametrize(
    ("algorithm", "planted"),
    [
        ("sliding_log", "a string"),
        ("sliding_window", "1:2"),
        ("fixed_window", ["a list"]),
        ("token_bucket", "1:2:3"),
        ("gcra", "x" * 60),
    ],
)
def test_a_lean_script_refuses_a_foreign_key(
    engine: Any, r: redis.Redis, algorithm: str, planted: Any
) -> None:
    """A key holding what the algorithm does not write raises CORRUPT_DATA and stays as it was."""
    limiter = make_limiter(engine, Limit(5, 60, algorithm))
    key = limiter.ops.keys("u")[0]
    if isinstance(planted, list):
        r.rpush(key, *planted)
    else:
        r.set(key, planted)
    before = snapshot(r)
    for method in (limiter.hit, limiter.peek, limiter.refund):
        with pytest.raises(CorruptDataError, match=key.replace("{", r"\{").replace("}", r"\}")):
            method("u", now=T0)
    assert snapshot(r) == before


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_lean_refunds_answer_as_a_one_unit_peek(engine: Any, algorithm: str) -> None:
    """A refund through the lean script reports the state after it, like ratelimit_apply."""
    limit = _limit(algorithm)
    limiter = make_limiter(engine, limit)
    for _ in range(limit.capacity):
        limiter.hit("u", now=T0)
    back = limiter.refund("u", 2, now=T0)
    generic = engine.run(_generic(limit, limiter.ops.keys("u")[0], "peek", 1, T0))
    assert back == generic and back.remaining == 2 and back.allowed
    assert math.isclose(back.reset_after, generic.reset_after)


def test_calls_on_the_server_clock_are_remembered_within_a_bound() -> None:
    """Repeated hits of one identity reuse one Call; other costs, modes, tags and clocks do not."""
    ops = RateLimitOps(Limit(5, 10))
    first = ops.hit("u")
    assert ops.hit("u") is first
    assert ops.hit("u", 2) is not first and ops.hit("u", 2).args[2] == "2"
    assert ops.peek("u") is not first and ops.peek("u").args[0] == "peek"
    assert ops.hit("u", now=T0) is not ops.hit("u", now=T0)  # a clock of its own: built anew
    assert ops.hit("u", tag="t") is not ops.hit("u", tag="t")
    for i in range(MEMO + 10):
        ops.hit(f"x{i}")
    assert 0 < len(ops._memo) <= MEMO
    with pytest.raises(ValueError, match="identity"):
        ops.hit("a{b")  # a bad identity is never remembered, and always refused
    with pytest.raises(TypeError, match="identity"):
        ops.hit(5)  # type: ignore[arg-type]
    again = ops.hit("u")
    assert (again.keys, again.args, again.slot) == (first.keys, first.args, first.slot)


def _log_model(log: list[int], request: tuple[str, int, int], limit: int, period: int) -> Any:
    """The exact sliding log in Python: apply (mode, cost, now ms) to *log* (newest first).

    Writes (an admitted hit, a refund) drop the expired entries; a clock that went
    back stamps a hit at the newest entry's ms.
    """
    mode, cost, now = request
    window = [at for at in log if at > now - period]
    if mode == "refund":
        log[:] = window[min(cost, len(window)) :]
        window, mode, cost = log, "peek", 1
    ok = len(window) + cost <= limit
    retry = 0 if ok else window[limit - cost] + period - now
    if ok and mode == "hit":
        log[:] = window = [max(log[0] if log else -1, now)] * cost + window
    return ok, limit - len(window), retry, window[0] + period - now if window else 0


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "generic"])
def test_sliding_log_matches_an_exact_model(engine: Any, lean: bool) -> None:
    """2000 random hits, peeks and refunds, with few or many entries expiring, answer as the model."""
    rng = random.Random(5)
    limit, period = 40, 10_000
    ops = RateLimitOps(Limit(limit, period / 1000, "sliding_log"))
    key, log, now = ops.keys("u")[0], list[int](), int(T0 * 1000)
    for step in range(2000):
        now += rng.choice((0, 0, 1, 37, 250, 900, 4000, -300))  # same ms, a gap, a clock back
        mode = rng.choice(("hit", "hit", "hit", "peek", "refund"))
        cost = rng.choice((1, 1, 1, 2, 7, limit))
        call = (
            _lean(ops, "u", mode, cost, now / 1000)
            if lean
            else _generic(ops.limits[0], key, mode, cost, now / 1000)
        )
        got = engine.run(call)
        seen = (got.allowed, got.remaining, round(got.retry_after * 1000))
        assert (*seen, round(got.reset_after * 1000)) == _log_model(
            log, (mode, cost, now), limit, period
        ), step
