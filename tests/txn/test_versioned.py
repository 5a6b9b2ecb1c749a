"""Versioned records on real servers: compare-and-set, tombstones, update retries, checks."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from redlua import Call, CorruptDataError, Engine, InvalidArgumentError, load_script
from redlua.txn import (
    Backoff,
    ConflictStats,
    Record,
    TransactionConflictError,
    Versioned,
    VersionedOps,
    Written,
)
from tests.txn import make_versioned

KEY = "redlua:ver:{cart}"


def _snapshot(r: redis.Redis) -> dict[str, Any]:
    """Every key of the test database with its type, content and TTL."""
    out: dict[str, Any] = {}
    for key in r.keys("*"):
        kind = r.type(key)
        content = r.hgetall(key) if kind == "hash" else r.dump(key)
        out[key] = (kind, content, r.pttl(key))
    return out


# -- get / set_if_version / delete -------------------------------------------------------------


def test_absent_record_reads_as_none_version_zero(engine: Any, r: redis.Redis) -> None:
    """A record never written reads as (None, 0) and reading creates nothing."""
    records = make_versioned(engine)
    assert records.get("cart") == Record(None, 0)
    value, version = records.get("cart")
    assert (value, version) == (None, 0)
    assert r.dbsize() == 0


def test_create_with_zero_then_each_write_bumps_the_version(engine: Any, r: redis.Redis) -> None:
    """expected=0 creates the record at version 1; each accepted write adds one."""
    records = make_versioned(engine)
    assert records.set_if_version("cart", "a", 0) == Written(True, 1)
    assert records.get("cart") == ("a", 1)
    assert records.set_if_version("cart", "b", 1) == Written(True, 2)
    assert records.get("cart") == ("b", 2)
    assert r.hgetall(KEY) == {"v": "b", "n": "2"}
    assert r.pttl(KEY) == -1


def test_failed_set_changes_nothing_not_even_the_version(engine: Any, r: redis.Redis) -> None:
    """A stale or future expected version is refused and leaves value, version and TTL as they were."""
    records = make_versioned(engine)
    records.set_if_version("cart", "a", 0, ttl=60)
    records.set_if_version("cart", "b", 1, ttl=60)
    before = _snapshot(r)
    for stale in (0, 1, 3, 99):
        refused = records.set_if_version("cart", "evil", stale)
        assert refused == Written(False, 2, "b")
        assert not refused
    after = _snapshot(r)
    assert {k: v[:2] for k, v in after.items()} == {k: v[:2] for k, v in before.items()}
    assert 0 < after[KEY][2] <= before[KEY][2]  # the TTL still runs: no PERSIST, no new TTL
    assert records.set_if_version("cart", "c", 2) == Written(True, 3)  # later writers still win


def test_seed_defect_a_failed_write_does_not_block_later_writers(engine: Any) -> None:
    """After many refused writes, the writer holding the current version still succeeds at once."""
    records = make_versioned(engine)
    records.set_if_version("cart", "a", 0)
    for _ in range(20):
        assert not records.set_if_version("cart", "x", 7)
    assert records.get("cart") == ("a", 1)
    assert records.set_if_version("cart", "b", 1).version == 2


def test_ttl_sets_the_expiry_and_none_removes_it(engine: Any, r: redis.Redis) -> None:
    """ttl=30 makes the record expire in 30 s; a later write without ttl keeps it forever."""
    records = make_versioned(engine)
    records.set_if_version("cart", "a", 0, ttl=30)
    assert 29_000 < r.pttl(KEY) <= 30_000
    records.set_if_version("cart", "b", 1)
    assert r.pttl(KEY) == -1


def test_an_expired_record_reads_as_absent(engine: Any, r: redis.Redis) -> None:
    """A record whose ttl ran out reads as (None, 0) and can be created again with expected=0."""
    records = make_versioned(engine)
    records.set_if_version("cart", "a", 0, ttl=0.05)
    time.sleep(0.1)
    assert records.get("cart") == (None, 0)
    assert records.set_if_version("cart", "b", 0).ok


def test_delete_leaves_a_tombstone_that_keeps_the_version(engine: Any, r: redis.Redis) -> None:
    """delete bumps the version into a tombstone: old versions (and 0) cannot match again."""
    records = make_versioned(engine, tombstone=60)
    records.set_if_version("cart", "a", 0)
    assert not records.delete("cart", 0)  # wrong version: nothing changed
    assert records.get("cart") == ("a", 1)
    assert records.delete("cart", 1) == Written(True, 2)
    assert records.get("cart") == (None, 2)
    assert r.hgetall(KEY) == {"n": "2"} and 59_000 < r.pttl(KEY) <= 60_000
    assert records.set_if_version("cart", "again", 0) == Written(False, 2, None)  # no ABA
    assert records.set_if_version("cart", "again", 1) == Written(False, 2, None)
    assert records.set_if_version("cart", "again", 2) == Written(True, 3)
    assert r.pttl(KEY) == -1


def test_deleting_an_absent_record_writes_nothing(engine: Any, r: redis.Redis) -> None:
    """delete of a record already absent at the expected version succeeds and writes nothing."""
    records = make_versioned(engine)
    assert records.delete("cart", 0) == Written(True, 0)
    assert r.dbsize() == 0
    records.set_if_version("cart", "a", 0)
    records.delete("cart", 1)
    before = _snapshot(r)
    assert records.delete("cart", 2) == Written(True, 2)
    assert {k: v[:2] for k, v in _snapshot(r).items()} == {k: v[:2] for k, v in before.items()}


def test_values_are_stored_as_given(engine: Any, r: redis.Redis, server_url: str) -> None:
    """str, bytes and int values are stored as text; an empty string is a value, not absence."""
    records = make_versioned(engine)
    records.set_if_version("s", "", 0)
    records.set_if_version("b", b"\x00\xff", 0)
    records.set_if_version("i", 42, 0)
    assert records.get("s") == ("", 1)
    assert records.get("i") == ("42", 1)
    raw = redis.Redis.from_url(server_url)
    assert raw.hget("redlua:ver:{b}", "v") == b"\x00\xff"
    raw.close()


def test_prefix_and_hash_tag_spell_the_key(engine: Any, r: redis.Redis) -> None:
    """A record lives at <prefix>{<name>}: in the slot of the caller's own {<name>} keys."""
    records = make_versioned(engine, prefix="app:")
    records.set_if_version("user:7", "x", 0)
    assert r.keys("*") == ["app:{user:7}"]
    assert records.key("user:7") == "app:{user:7}"


# -- update ------------------------------------------------------------------------------------


def test_update_reads_computes_and_writes(engine: Any, r: redis.Redis) -> None:
    """update applies fn to the current value (None when absent) and returns what it wrote."""
    records = make_versioned(engine)
    bump = lambda v: str(int(v or 0) + 1)  # noqa: E731
    assert records.update("n", bump) == Record("1", 1)
    assert records.update("n", bump, ttl=30) == Record("2", 2)
    assert records.get("n") == ("2", 2)
    assert 29_000 < r.pttl("redlua:ver:{n}") <= 30_000
    assert records.stats() == ConflictStats(runs=2, attempts=2, conflicts=0, committed=2)


def test_update_retries_after_a_conflict_without_rereading(engine: Any, r: redis.Redis) -> None:
    """A writer that sneaks in twice costs two conflicts; fn then sees the sneaked value."""
    records = make_versioned(engine, base=0.001, cap=0.002)
    records.set_if_version("n", "10", 0)
    seen: list[Any] = []

    def fn(value: Any) -> str:
        seen.append(value)
        if len(seen) <= 2:  # another writer changes the record between our read and write
            version = int(r.hget("redlua:ver:{n}", "n"))
            r.hset("redlua:ver:{n}", mapping={"v": f"{value}x", "n": version + 1})
        return f"{value}+"

    assert records.update("n", fn) == Record("10xx+", 4)
    assert seen == ["10", "10x", "10xx"]
    assert records.stats() == ConflictStats(runs=1, attempts=3, conflicts=2, committed=1)


def test_update_raises_after_the_last_attempt_never_none(engine: Any, r: redis.Redis) -> None:
    """A writer that always sneaks in: TransactionConflictError after exactly `attempts` tries."""
    records = make_versioned(engine, base=0.001, cap=0.002)
    calls = []

    def fn(value: Any) -> str:
        calls.append(value)
        r.hincrby("redlua:ver:{n}", "n", 1)
        return "mine"

    r.hset("redlua:ver:{n}", mapping={"v": "theirs", "n": 1})
    with pytest.raises(TransactionConflictError) as caught:
        records.update("n", fn, attempts=4)
    assert len(calls) == 4 and caught.value.attempts == 4
    assert caught.value.keys == ("redlua:ver:{n}",)
    assert "4 attempts" in str(caught.value) and "nothing was committed" in str(caught.value)
    assert r.hget("redlua:ver:{n}", "v") == "theirs"
    assert records.stats() == ConflictStats(runs=1, attempts=4, conflicts=4, exhausted=1)


def test_update_backoff_is_bounded(engine: Any, r: redis.Redis) -> None:
    """Four conflicting tries with cap 0.05 s pause at most 3 x 0.05 s in all."""
    records = make_versioned(engine, base=0.05, cap=0.05)

    def fn(value: Any) -> str:
        r.hincrby("redlua:ver:{n}", "n", 1)
        return "mine"

    r.hset("redlua:ver:{n}", mapping={"v": "theirs", "n": 1})
    started = time.monotonic()
    with pytest.raises(TransactionConflictError):
        records.update("n", fn, attempts=4)
    assert time.monotonic() - started < 3 * 0.05 + 0.5


def test_an_error_in_fn_aborts_the_update(engine: Any, r: redis.Redis) -> None:
    """An exception from fn propagates and nothing is written."""
    records = make_versioned(engine)
    records.set_if_version("n", "1", 0)

    def fn(value: Any) -> str:
        raise KeyError("no")

    with pytest.raises(KeyError):
        records.update("n", fn)
    assert records.get("n") == ("1", 1)


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def offline() -> Any:
    """A Versioned on an engine whose server does not exist: any I/O would fail."""
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    yield Versioned(Engine(client))
    client.close()


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda v: v.get(""), ValueError, "name"),
        (lambda v: v.get("a{b}"), ValueError, "name"),
        (lambda v: v.get(7), TypeError, "name"),
        (lambda v: v.set_if_version("a", "x", -1), ValueError, "expected"),
        (lambda v: v.set_if_version("a", "x", True), TypeError, "expected"),
        (lambda v: v.set_if_version("a", "x", 1.0), TypeError, "expected"),
        (lambda v: v.set_if_version("a", "x", 10**15), ValueError, "expected"),
        (lambda v: v.set_if_version("a", None, 0), TypeError, "value"),
        (lambda v: v.set_if_version("a", 1.5, 0), TypeError, "value"),
        (lambda v: v.set_if_version("a", True, 0), TypeError, "value"),
        (lambda v: v.set_if_version("a", "x", 0, ttl=0), ValueError, "ttl"),
        (lambda v: v.set_if_version("a", "x", 0, ttl=float("inf")), ValueError, "ttl"),
        (lambda v: v.set_if_version("a", "x", 0, ttl="5"), TypeError, "ttl"),
        (lambda v: v.delete("a", "1"), TypeError, "expected"),
        (lambda v: v.update("a", "not callable"), TypeError, "fn"),
        (lambda v: v.update("a", str, attempts=0), ValueError, "attempts"),
        (lambda v: v.update("a", str, attempts=True), TypeError, "attempts"),
        (lambda v: v.update("a", str, ttl=-1), ValueError, "ttl"),
    ],
)
def test_bad_input_raises_before_any_io(offline: Any, call: Any, error: Any, words: str) -> None:
    """Bad names, versions, values, ttls, attempts and fns raise naming the argument, before I/O."""
    with pytest.raises(error, match=words):
        call(offline)


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"base": -1}, {"cap": float("nan")}, {"base": 1, "cap": 0.5}, {"prefix": 3},
     {"prefix": "a}"}, {"tombstone": 0}],
)  # fmt: skip
def test_bad_settings_are_refused(engine: Any, kwargs: dict[str, Any]) -> None:
    """Versioned refuses bad attempts, base, cap, prefix and tombstone when made."""
    with pytest.raises((TypeError, ValueError)):
        make_versioned(engine, **kwargs)


def test_fn_returning_a_bad_value_writes_nothing(engine: Any, r: redis.Redis) -> None:
    """update with an fn returning None raises TypeError and writes nothing."""
    records = make_versioned(engine)
    with pytest.raises(TypeError, match="value"):
        records.update("n", lambda v: None)
    assert r.dbsize() == 0


# -- the scripts, raw --------------------------------------------------------------------------


def test_scripts_refuse_malformed_arguments_and_write_nothing(engine: Any, r: redis.Redis) -> None:
    """versioned_set/delete raise INVALID_ARGUMENT for bad versions and ttls; nothing written."""
    set_, delete = load_script("versioned_set"), load_script("versioned_delete")
    bad = [
        Call(set_, (KEY,), ("x", "-1")),
        Call(set_, (KEY,), ("x", "01")),
        Call(set_, (KEY,), ("x", "1" * 16)),
        Call(set_, (KEY,), ("x", "0", "0")),
        Call(set_, (KEY,), ("x", "0", "1.5")),
        Call(delete, (KEY,), ("0", "0")),
        Call(delete, (KEY,), ("abc", "1000")),
    ]
    for call in bad:
        with pytest.raises(InvalidArgumentError):
            engine.run(call)
    assert r.dbsize() == 0


def test_scripts_refuse_keys_that_are_not_records(engine: Any, r: redis.Redis) -> None:
    """A key of another type, or a hash without a valid version, is CORRUPT_DATA and untouched."""
    records = make_versioned(engine)
    r.set(KEY, "plain")
    for call in (
        lambda: records.get("cart"),
        lambda: records.set_if_version("cart", "x", 0),
        lambda: records.delete("cart", 0),
    ):
        with pytest.raises(CorruptDataError):
            call()
    assert r.get(KEY) == "plain"
    r.delete(KEY)
    r.hset(KEY, mapping={"v": "x", "n": "zero"})
    with pytest.raises(CorruptDataError):
        records.set_if_version("cart", "y", 0)
    r.hset(KEY, mapping={"n": "0"})
    with pytest.raises(CorruptDataError):
        records.get("cart")
    r.hdel(KEY, "n")
    with pytest.raises(CorruptDataError, match="no version"):
        records.get("cart")
    assert r.hgetall(KEY) == {"v": "x"}


def test_get_is_read_only(engine: Any) -> None:
    """versioned_get is flagged no-writes (served by EVALSHA_RO, so replicas can answer)."""
    assert load_script("versioned_get").read_only
    assert not load_script("versioned_set").read_only


def test_ops_build_calls_without_io() -> None:
    """VersionedOps builds trusted calls with checked keys, args in text and one slot."""
    ops = VersionedOps("p:", tombstone=2.5)
    call = ops.set_if_version("a", "x", 3, ttl=1.5)
    assert call.keys == ("p:{a}",) and call.args == ("x", "3", "1500")
    assert ops.delete("a", 4).args == ("4", "2500")
    assert ops.get("a").slot == Call(load_script("versioned_get"), ("p:{a}",)).slot


def test_backoff_pauses_stay_under_their_ceiling() -> None:
    """Full jitter: each pause is in [0, min(cap, base * 2**(k-1))], and the ceiling doubles."""
    backoff = Backoff(attempts=8, base=0.01, cap=0.05)
    assert [backoff.ceiling(k) for k in range(1, 5)] == [0.01, 0.02, 0.04, 0.05]
    for k in range(1, 9):
        pauses = [backoff.delay(k) for _ in range(200)]
        assert all(0 <= p <= backoff.ceiling(k) for p in pauses)
        assert len(set(pauses)) > 100  # jittered, not a fixed schedule


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_versioned_records_on_a_cluster(cluster_engine: Any) -> None:
    """get, set_if_version, delete and update work on a 3-master cluster, records in many slots."""
    records = make_versioned(cluster_engine)
    names = [f"rec{i}" for i in range(12)]
    for name in names:
        assert records.set_if_version(name, "0", 0).ok
        assert not records.set_if_version(name, "x", 0)
    for name in names:
        assert records.update(name, lambda v: str(int(v) + 5)) == Record("5", 2)
    assert records.get("rec3") == ("5", 2)
    assert records.delete("rec3", 2) == Written(True, 3)
    assert records.get("rec3") == (None, 3)
