"""`RateLimiter` and `AsyncRateLimiter` on a real server: each algorithm, cost, peek, refund,
several limits at once, tags, TTLs, retry_after, the seed's two checks and bad input."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest
import redis

from redlua import Call, CorruptDataError, Engine, InvalidArgumentError, key_slot, load_script
from redlua.ratelimit import (
    ALGORITHMS,
    Decision,
    Limit,
    RateLimiter,
    RateLimitOps,
    check_sliding_window,
    check_token_bucket,
)
from tests.ratelimit import T0, make_limiter, snapshot, ttls

SOURCE = Path(__file__).resolve().parents[2] / "src" / "redlua" / "ratelimit" / "limiter.py"
WINDOWS = ("sliding_log", "sliding_window", "fixed_window")
BUCKETS = ("token_bucket", "gcra")


# -- one limit, each algorithm -----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_admits_exactly_the_limit_then_denies(engine: Any, algorithm: str) -> None:
    """Five hits of a 5-per-10-s limit at one instant pass, counting down; the sixth is denied."""
    limiter = make_limiter(engine, Limit(5, 10, algorithm))
    decisions = [limiter.hit("u", now=T0) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert all(d.limit == 5 and d.retry_after == 0 for d in decisions[:5])
    assert 0 < decisions[5].retry_after <= 20 and decisions[5].reset_after > 0
    assert bool(decisions[0]) is True and bool(decisions[5]) is False


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_retry_after_is_honest_and_tight(engine: Any, algorithm: str) -> None:
    """A denied request is still denied 1 ms before its retry_after and admitted right at it."""
    limiter = make_limiter(engine, Limit(5, 10, algorithm))
    for _ in range(5):
        limiter.hit("u", now=T0 + 3)
    denied = limiter.hit("u", now=T0 + 3)
    wait = denied.retry_after
    assert not denied and wait > 0
    assert not limiter.peek("u", now=T0 + 3 + wait - 0.001)
    assert limiter.hit("u", now=T0 + 3 + wait)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_retry_after_is_honest_for_a_large_cost(engine: Any, algorithm: str) -> None:
    """After a partial use, a cost-4 request that is denied is admitted after its retry_after."""
    limiter = make_limiter(engine, Limit(6, 10, algorithm))
    assert limiter.hit("u", 3, now=T0 + 1)
    assert limiter.hit("u", 2, now=T0 + 4)
    denied = limiter.hit("u", 4, now=T0 + 5)
    assert not denied
    assert not limiter.peek("u", 4, now=T0 + 5 + denied.retry_after - 0.001)
    assert limiter.hit("u", 4, now=T0 + 5 + denied.retry_after)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_server_clock_is_used_by_default(engine: Any, algorithm: str) -> None:
    """Without now= the limiter runs on the server's clock: three pass, the fourth waits."""
    limiter = make_limiter(engine, Limit(3, 60, algorithm))
    assert all(limiter.hit("u") for _ in range(3))
    denied = limiter.hit("u")
    assert not denied and 0 < denied.retry_after <= 120


def test_same_millisecond_hits_all_count(engine: Any, r: redis.Redis) -> None:
    """Ten hits in one millisecond are ten log entries; the eleventh is denied."""
    limiter = make_limiter(engine, Limit(10, 1, "sliding_log"))
    assert all(limiter.hit("u", now=T0) for _ in range(7))
    assert limiter.hit("u", 3, now=T0)
    assert not limiter.hit("u", now=T0)
    key = "redlua:rl:{u}:sliding_log/10/1000ms"
    assert r.lrange(key, 0, -1) == [str(int(T0 * 1000))] * 10


def test_sliding_log_forgets_hits_a_period_old(engine: Any, r: redis.Redis) -> None:
    """A log entry counts while it is younger than the period, and is trimmed after."""
    limiter = make_limiter(engine, Limit(2, 10, "sliding_log"))
    assert limiter.hit("u", now=T0) and limiter.hit("u", now=T0 + 5)
    assert not limiter.hit("u", now=T0 + 9.999)
    assert limiter.hit("u", now=T0 + 10)
    assert r.lrange("redlua:rl:{u}:sliding_log/2/10000ms", 0, -1) == [
        str(int(T0 * 1000) + 10_000)
    ] * 1 + [str(int(T0 * 1000) + 5000)]


def test_sliding_window_weighs_the_previous_window(engine: Any) -> None:
    """Halfway into a window, half of the previous window's ten hits still count."""
    limiter = make_limiter(engine, Limit(10, 10, "sliding_window"))
    assert all(limiter.hit("u", now=T0 + 2) for _ in range(10))
    assert limiter.peek("u", now=T0 + 15).remaining == 5
    assert all(limiter.hit("u", now=T0 + 15) for _ in range(5))
    assert not limiter.hit("u", now=T0 + 15)
    assert limiter.peek("u", now=T0 + 20).remaining == 5  # the window before weighs fully
    assert limiter.peek("u", now=T0 + 30).remaining == 10


def test_fixed_window_starts_afresh_on_the_period_boundary(engine: Any) -> None:
    """Windows are aligned on multiples of the period: a new one admits the full limit."""
    limiter = make_limiter(engine, Limit(5, 10, "fixed_window"))
    assert all(limiter.hit("u", now=T0 + 9) for _ in range(5))  # the key lives 1 s more
    denied = limiter.hit("u", now=T0 + 9.999)
    assert not denied and denied.retry_after == pytest.approx(0.001)
    assert all(limiter.hit("u", now=T0 + 10) for _ in range(5))


def test_token_bucket_refills_by_fractions_to_the_millisecond(engine: Any) -> None:
    """3 tokens per second: an empty bucket has 0.999 token after 333 ms and 1.002 after 334."""
    limiter = make_limiter(engine, Limit(3, 1, "token_bucket"))
    assert all(limiter.hit("u", now=T0) for _ in range(3))
    denied = limiter.hit("u", now=T0)
    assert denied.retry_after == 0.334
    assert not limiter.peek("u", now=T0 + 0.333)
    assert limiter.hit("u", now=T0 + 0.334)
    assert limiter.peek("u", now=T0 + 0.334 + 1).remaining == 3  # never above capacity


def test_gcra_admits_exactly_its_burst(engine: Any) -> None:
    """GCRA with burst 7 at 10/s: seven pass at one instant, then one every 100 ms."""
    limiter = make_limiter(engine, Limit(10, 1, "gcra", burst=7))
    assert [limiter.hit("u", now=T0).allowed for _ in range(8)] == [True] * 7 + [False]
    assert limiter.hit("u", now=T0).retry_after == 0.1
    assert limiter.hit("u", now=T0 + 0.1) and not limiter.hit("u", now=T0 + 0.1)


@pytest.mark.parametrize("algorithm", BUCKETS)
def test_buckets_with_a_burst_above_the_rate(engine: Any, algorithm: str) -> None:
    """A bucket's burst may exceed its rate: 20 at once, then 5 per second."""
    limiter = make_limiter(engine, Limit(5, 1, algorithm, burst=20))
    assert all(limiter.hit("u", now=T0) for _ in range(20))
    assert not limiter.hit("u", now=T0)
    assert limiter.peek("u", now=T0 + 1).remaining == 5
    assert limiter.peek("u", now=T0 + 10).remaining == 20


# -- cost, peek, refund, reset -----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_consumes_several_units_or_none(engine: Any, r: redis.Redis, algorithm: str) -> None:
    """A cost-3 hit takes three units; a cost larger than what is left takes nothing."""
    limiter = make_limiter(engine, Limit(5, 10, algorithm))
    assert limiter.hit("u", 3, now=T0).remaining == 2
    before = snapshot(r)
    denied = limiter.hit("u", 3, now=T0)
    assert not denied and denied.remaining == 2
    assert snapshot(r) == before
    assert limiter.hit("u", 2, now=T0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_peek_consumes_nothing(engine: Any, r: redis.Redis, algorithm: str) -> None:
    """peek says what a hit would get and leaves every key as it was."""
    limiter = make_limiter(engine, Limit(5, 10, algorithm))
    limiter.hit("u", 2, now=T0)
    before = snapshot(r)
    seen = limiter.peek("u", 3, now=T0)
    assert seen.allowed and seen.remaining == 3
    assert not limiter.peek("u", 4, now=T0)
    assert snapshot(r) == before
    fresh = limiter.peek("v", now=T0)
    assert fresh == Decision(True, 5, 0.0, 0.0, 5) and snapshot(r) == before


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_refund_restores_units(engine: Any, algorithm: str) -> None:
    """Refunding two units of an exhausted limit lets exactly two more hits in."""
    limiter = make_limiter(engine, Limit(5, 10, algorithm))
    for _ in range(5):
        limiter.hit("u", now=T0)
    assert not limiter.hit("u", now=T0)
    back = limiter.refund("u", 2, now=T0)
    assert back.allowed and back.remaining == 2
    assert limiter.hit("u", now=T0) and limiter.hit("u", now=T0)
    assert not limiter.hit("u", now=T0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_refund_never_goes_beyond_full(engine: Any, r: redis.Redis, algorithm: str) -> None:
    """A refund larger than what was used leaves a full limit and no key behind."""
    limiter = make_limiter(engine, Limit(5, 10, algorithm))
    limiter.hit("u", 2, now=T0)
    full = limiter.refund("u", 100, now=T0)
    assert full.remaining == 5 and full.reset_after == 0
    assert r.dbsize() == 0
    assert limiter.refund("nobody", 3, now=T0).remaining == 5


def test_refund_of_a_large_log_cost_and_batches(engine: Any, r: redis.Redis) -> None:
    """A cost of 4500 in a sliding log writes 4500 entries (in batches); refunding them empties it."""
    limiter = make_limiter(engine, Limit(5000, 60, "sliding_log"))
    assert limiter.hit("u", 4500, now=T0).remaining == 500
    assert r.llen("redlua:rl:{u}:sliding_log/5000/60000ms") == 4500
    assert limiter.refund("u", 4500, now=T0).remaining == 5000
    assert r.dbsize() == 0


def test_reset_forgets_every_limit(engine: Any, r: redis.Redis) -> None:
    """reset deletes the request's keys (tag-scoped ones too) and says how many existed."""
    limiter = make_limiter(
        engine, Limit(2, 10, "fixed_window"), Limit(5, 10, "gcra", scope="tag", name="org")
    )
    limiter.hit("u", 2, tag="acme", now=T0)
    assert not limiter.hit("u", tag="acme", now=T0)
    assert limiter.reset("u", tag="acme") == 2
    assert r.dbsize() == 0
    assert limiter.hit("u", tag="acme", now=T0).remaining == 1
    assert limiter.reset("nobody") == 0


# -- several limits --------------------------------------------------------------------------


def test_a_denied_multi_limit_request_leaves_every_limit_untouched(
    engine: Any, r: redis.Redis
) -> None:
    """10/min log + 3/min window + 4/min gcra: the 4th hit is denied by the window, nothing moves."""
    limiter = make_limiter(
        engine,
        Limit(10, 60, "sliding_log"),
        Limit(3, 60, "fixed_window"),
        Limit(4, 60, "gcra"),
    )
    assert all(limiter.hit("u", now=T0) for _ in range(3))
    before = snapshot(r)
    denied = limiter.hit("u", now=T0)
    assert snapshot(r) == before
    assert [p.allowed for p in denied.parts] == [True, False, True]
    assert not denied and denied.limit == 3 and denied.remaining == 0
    assert denied.retry_after == denied.parts[1].retry_after > 0
    assert [p.remaining for p in denied.parts] == [7, 0, 1]  # untouched, not as if consumed
    assert denied.reset_after == max(p.reset_after for p in denied.parts)


def test_multi_limit_admission_reports_the_tightest_limit(engine: Any) -> None:
    """An admitted multi-limit hit reports the limit with the fewest units left."""
    limiter = make_limiter(engine, Limit(10, 1, "gcra"), Limit(3, 3600, "sliding_window"))
    decision = limiter.hit("u", now=T0)
    assert decision.allowed and decision.remaining == 2 and decision.limit == 3
    assert [p.remaining for p in decision.parts] == [9, 2]


def test_retry_after_of_several_limits_admits_them_all(engine: Any) -> None:
    """When two limits deny, the longer wait is reported, and a hit after it passes both."""
    limiter = make_limiter(engine, Limit(2, 1, "token_bucket"), Limit(2, 10, "sliding_log"))
    assert limiter.hit("u", 2, now=T0)
    denied = limiter.hit("u", 2, now=T0)
    assert [p.allowed for p in denied.parts] == [False, False]
    assert denied.retry_after == 10 and denied.limit == 2
    assert limiter.hit("u", 2, now=T0 + denied.retry_after)


def test_tagged_limits_count_users_apart_and_the_tenant_together(
    engine: Any, r: redis.Redis
) -> None:
    """Per-user 2/min and per-tenant 3/min: the tenant's third unit blocks a third user."""
    limiter = make_limiter(
        engine,
        Limit(2, 60, "sliding_log"),
        Limit(3, 60, "sliding_log", name="tenant", scope="tag"),
    )
    assert limiter.hit("alice", tag="acme", now=T0) and limiter.hit("alice", tag="acme", now=T0)
    assert not limiter.hit("alice", tag="acme", now=T0).parts[0].allowed
    assert limiter.hit("bob", tag="acme", now=T0)
    carol = limiter.hit("carol", tag="acme", now=T0)
    assert not carol and [p.allowed for p in carol.parts] == [True, False]
    assert limiter.hit("dave", tag="other", now=T0)
    assert sorted(r.scan_iter()) == [
        "redlua:rl:{acme}:sliding_log/2/60000ms:alice",
        "redlua:rl:{acme}:sliding_log/2/60000ms:bob",
        "redlua:rl:{acme}:tenant",
        "redlua:rl:{other}:sliding_log/2/60000ms:dave",
        "redlua:rl:{other}:tenant",
    ]


def test_keys_share_one_slot_by_construction() -> None:
    """Every key of one request carries the same hash tag: the tag, else the identity."""
    ops = RateLimitOps(Limit(1, 1), Limit(5, 60, "fixed_window", scope="tag"), prefix="p:")
    assert ops.keys("u") == ("p:{u}:gcra/1/1000ms", "p:{u}:fixed_window/5/60000ms")
    assert ops.keys("u", "t") == ("p:{t}:gcra/1/1000ms:u", "p:{t}:fixed_window/5/60000ms")
    call = ops.hit("u", tag="t")
    assert call.keys == ops.keys("u", "t")
    assert {key_slot(key) for key in call.keys} == {call.slot} == {key_slot("{t}")}


def test_every_key_carries_a_ttl_after_every_operation(engine: Any, r: redis.Redis) -> None:
    """After hits, peeks, refunds and denials of every algorithm, no key lacks an expiry."""
    limiters = [make_limiter(engine, Limit(3, 5, algorithm)) for algorithm in ALGORITHMS]
    both = make_limiter(engine, Limit(2, 1, "gcra"), Limit(4, 2, "sliding_window", scope="tag"))
    for limiter in limiters:
        for _ in range(4):
            limiter.hit("u")
            assert all(ttl > 0 for ttl in ttls(r).values())
        limiter.peek("u")
        limiter.refund("u")
        limiter.hit("u", 2)
        assert all(ttl > 0 for ttl in ttls(r).values())
    for _ in range(3):
        both.hit("v", tag="t")
    both.refund("v", tag="t")
    found = ttls(r)
    assert len(found) == len(ALGORITHMS) + 2
    assert all(0 < ttl <= 10_000 for ttl in found.values()), found


def test_ttls_end_when_the_state_stops_mattering(engine: Any, r: redis.Redis) -> None:
    """Each key expires when its limit would be full again: window end, log age, refill time."""
    for algorithm in ALGORITHMS:
        make_limiter(engine, Limit(10, 10, algorithm)).hit("u", 5, now=T0 + 4)
    found = {key.split(":")[3].split("/")[0]: ttl for key, ttl in ttls(r).items()}
    expected = {
        "sliding_log": 10_000,  # the newest entry ages out
        "sliding_window": 16_000,  # the count weighs until the end of the next window
        "fixed_window": 6_000,  # the window ends
        "token_bucket": 5_000,  # five tokens refill at one per second
        "gcra": 5_000,
    }
    assert found.keys() == expected.keys()
    assert all(expected[k] - 100 < found[k] <= expected[k] for k in found), found


def test_run_many_checks_many_identities_in_one_round_trip(engine: Any) -> None:
    """RateLimitOps calls batch with run_many; each identity gets its own decision."""
    ops = RateLimitOps(Limit(2, 60, "fixed_window"))
    calls = [ops.hit(f"u{i % 3}", now=T0) for i in range(9)]
    decisions = engine.run_many(calls)
    assert [d.allowed for d in decisions] == [True] * 6 + [False] * 3


# -- the seed's checks ---------------------------------------------------------------------


def test_seed_check_sliding_window(engine: Any, r: redis.Redis) -> None:
    """check_sliding_window("user123", 60, 3): three per minute, exact, on the server's clock."""
    calls = [check_sliding_window("user123", 60, 3) for _ in range(4)]
    results = [engine.run(call) for call in calls]
    assert [d.allowed for d in results] == [True, True, True, False]
    assert [d.remaining for d in results] == [2, 1, 0, 0]
    assert 59 < results[3].retry_after <= 60
    assert r.llen("redlua:rl:{user123}:sliding_log/3/60000ms") == 3


def test_seed_check_token_bucket(engine: Any) -> None:
    """check_token_bucket("api", 10, 1, 1): ten at once, then one per second by fractions."""
    results = [engine.run(check_token_bucket("api", 10, 1, 1, now=T0)) for _ in range(11)]
    assert [d.allowed for d in results] == [True] * 10 + [False]
    assert results[10].retry_after == 1.0
    assert not engine.run(check_token_bucket("api", 10, 1, 1, now=T0 + 0.999))
    assert engine.run(check_token_bucket("api", 10, 1, 1, now=T0 + 1))


# -- bad input ------------------------------------------------------------------------------

BAD_LIMITS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"limit": 0, "period": 1}, ValueError, "limit"),
    ({"limit": -3, "period": 1}, ValueError, "limit"),
    ({"limit": 1.5, "period": 1}, TypeError, "limit"),
    ({"limit": True, "period": 1}, TypeError, "limit"),
    ({"limit": "10", "period": 1}, TypeError, "limit"),
    ({"limit": 10**9 + 1, "period": 1}, ValueError, "limit"),
    ({"limit": 10**6 + 1, "period": 1, "algorithm": "sliding_log"}, ValueError, "limit"),
    ({"limit": 5, "period": 0}, ValueError, "period"),
    ({"limit": 5, "period": -1}, ValueError, "period"),
    ({"limit": 5, "period": math.inf}, ValueError, "period"),
    ({"limit": 5, "period": math.nan}, ValueError, "period"),
    ({"limit": 5, "period": True}, TypeError, "period"),
    ({"limit": 5, "period": "1"}, TypeError, "period"),
    ({"limit": 5, "period": 1, "algorithm": "leaky"}, ValueError, "algorithm"),
    ({"limit": 5, "period": 1, "algorithm": 3}, TypeError, "algorithm"),
    ({"limit": 5, "period": 1, "algorithm": "fixed_window", "burst": 3}, ValueError, "burst"),
    ({"limit": 5, "period": 1, "burst": 0}, ValueError, "burst"),
    ({"limit": 5, "period": 1, "burst": 2.0}, TypeError, "burst"),
    ({"limit": 10**9, "period": 86400, "algorithm": "gcra"}, ValueError, "burst x period"),
    ({"limit": 10**9, "period": 86400, "algorithm": "sliding_window"}, ValueError, "limit x"),
    ({"limit": 5, "period": 1, "name": "a:b"}, ValueError, "name"),
    ({"limit": 5, "period": 1, "name": "{x}"}, ValueError, "name"),
    ({"limit": 5, "period": 1, "name": ""}, ValueError, "name"),
    ({"limit": 5, "period": 1, "scope": "user"}, ValueError, "scope"),
]


@pytest.mark.parametrize(("kwargs", "error", "word"), BAD_LIMITS)
def test_bad_limits_are_refused_when_made(
    kwargs: dict[str, Any], error: type[Exception], word: str
) -> None:
    """A bad limit, period, algorithm, burst, name or scope raises naming it."""
    with pytest.raises(error, match=word):
        Limit(**kwargs)


BAD_REQUESTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"cost": 0}, ValueError, "cost"),
    ({"cost": -1}, ValueError, "cost"),
    ({"cost": 6}, ValueError, "capacity 5"),
    ({"cost": 2.0}, TypeError, "cost"),
    ({"cost": True}, TypeError, "cost"),
    ({"cost": "1"}, TypeError, "cost"),
    ({"now": math.inf}, ValueError, "now"),
    ({"now": math.nan}, ValueError, "now"),
    ({"now": -1.0}, ValueError, "now"),
    ({"now": True}, TypeError, "now"),
    ({"now": "12"}, TypeError, "now"),
    ({"now": 1e13}, ValueError, "now"),
    ({"identity": ""}, ValueError, "identity"),
    ({"identity": "a{b}"}, ValueError, "identity"),
    ({"identity": "a\nb"}, ValueError, "identity"),
    ({"identity": 42}, TypeError, "identity"),
    ({"tag": "x}"}, ValueError, "tag"),
    ({"tag": 7}, TypeError, "tag"),
]


@pytest.mark.parametrize(("kwargs", "error", "word"), BAD_REQUESTS)
def test_bad_requests_fail_before_any_io(
    kwargs: dict[str, Any], error: type[Exception], word: str
) -> None:
    """Bad cost, now, identity or tag raise naming it, on an engine with no server behind it."""
    nowhere = Engine(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1))
    limiter = RateLimiter(nowhere, Limit(5, 1), Limit(8, 60, "sliding_log"))
    request = {"identity": "u", "cost": 1, "now": None, "tag": None} | kwargs
    identity, cost = request.pop("identity"), request.pop("cost")
    for method in (limiter.hit, limiter.peek):
        with pytest.raises(error, match=word):
            method(identity, cost, **request)


def test_refund_checks_its_amount_but_not_against_capacity() -> None:
    """refund takes any whole amount up to 10^9 (more than a capacity is fine), nothing else."""
    ops = RateLimitOps(Limit(5, 1))
    assert ops.refund("u", 50).args[2] == "50"
    for amount, error in ((0, ValueError), (1.5, TypeError), (False, TypeError)):
        with pytest.raises(error, match="cost"):
            ops.refund("u", amount)


def test_limiter_construction_is_checked() -> None:
    """No limits, a non-Limit, two limits with one key name or a bad prefix are refused."""
    with pytest.raises(ValueError, match="at least one"):
        RateLimitOps()
    with pytest.raises(TypeError, match="Limit"):
        RateLimitOps((5, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share a key"):
        RateLimitOps(Limit(5, 1), Limit(5, 1))
    RateLimitOps(Limit(5, 1), Limit(5, 1, scope="tag"))  # different keys: fine
    with pytest.raises(ValueError, match="prefix"):
        RateLimitOps(Limit(5, 1), prefix="a{b")
    with pytest.raises(TypeError, match="prefix"):
        RateLimitOps(Limit(5, 1), prefix=None)  # type: ignore[arg-type]


SCRIPT_ERRORS = [
    (["bump", "", "1", "gcra", "5", "1000", "5"], "mode"),
    (["hit", "", "0", "gcra", "5", "1000", "5"], "cost"),
    (["hit", "", "1.5", "gcra", "5", "1000", "5"], "cost"),
    (["hit", "-1", "1", "gcra", "5", "1000", "5"], "now"),
    (["hit", "", "1", "leaky", "5", "1000", "5"], "algorithm"),
    (["hit", "", "1", "gcra", "0", "1000", "5"], "limit"),
    (["hit", "", "1", "sliding_log", "1000001", "1000", "5"], "limit"),
    (["hit", "", "1", "gcra", "5", "0", "5"], "period"),
    (["hit", "", "1", "gcra", "5", "1000", "nan"], "burst"),
    (["hit", "", "6", "gcra", "5", "1000", "5"], "capacity"),
    (["hit", "", "1", "gcra", "5", "1000000000000", "5000"], "x period"),
    (["hit", "", "1", "gcra", "5", "1000"], "four arguments"),
]


@pytest.mark.parametrize(("args", "word"), SCRIPT_ERRORS)
def test_the_script_checks_its_arguments_too(
    engine: Any, r: redis.Redis, args: list[str], word: str
) -> None:
    """ratelimit_apply called raw with a bad argument answers INVALID_ARGUMENT and writes nothing."""
    r.set("k{u}:other", "kept")
    with pytest.raises(InvalidArgumentError, match=word):
        engine.run(Call(load_script("ratelimit_apply"), ("k{u}",), args))
    assert snapshot(r) == {"k{u}:other": ("string", "kept")}


@pytest.mark.parametrize(
    ("algorithm", "planted"),
    [
        ("sliding_log", "a string"),
        ("gcra", "not:numbers"),
        ("token_bucket", "1:2:3"),
        ("sliding_window", "1:2"),
        ("fixed_window", ["a list"]),
    ],
)
def test_a_key_holding_something_else_is_corrupt_data(
    engine: Any, r: redis.Redis, algorithm: str, planted: Any
) -> None:
    """A limit key holding a foreign value raises CORRUPT_DATA and no other limit moves."""
    limiter = make_limiter(
        engine, Limit(5, 60, "sliding_log", name="first"), Limit(5, 60, algorithm)
    )
    limiter.hit("u", now=T0)
    key = limiter.ops.keys("u")[1]
    r.delete(key)
    if isinstance(planted, list):
        r.rpush(key, *planted)
    else:
        r.set(key, planted)
    before = snapshot(r)
    with pytest.raises(CorruptDataError, match=key.replace("{", r"\{").replace("}", r"\}")):
        limiter.hit("u", now=T0)
    assert snapshot(r) == before


# -- the twins -----------------------------------------------------------------------------


def _class_body(tree: ast.Module, name: str) -> str:
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)

    class Sync(ast.NodeTransformer):
        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
            self.generic_visit(node)
            return ast.copy_location(
                ast.FunctionDef(**{f: getattr(node, f) for f in node._fields}), node
            )

        def visit_Await(self, node: ast.Await) -> Any:
            return self.visit(node.value)

    body = [Sync().visit(n) for n in cls.body if not isinstance(n, ast.Expr)]
    for node in body:
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
            node.body = node.body[1:]
    return ast.unparse(body).replace("AsyncEngine", "Engine")


def test_the_twins_differ_only_by_async_await() -> None:
    """AsyncRateLimiter is RateLimiter with async/await and an AsyncEngine, nothing else."""
    tree = ast.parse(SOURCE.read_text())
    assert _class_body(tree, "AsyncRateLimiter") == _class_body(tree, "RateLimiter")
