"""`Batch` and `AsyncBatch` on real servers: per-operation results, chunks, slots, all-or-nothing."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from redlua import (
    Call,
    CrossSlotError,
    EmbeddedCluster,
    Engine,
    InvalidArgumentError,
    ServerError,
    key_slot,
    load_script,
)
from redlua.batch import (
    AsyncBatch,
    Batch,
    BatchOps,
    Decr,
    Delete,
    Expire,
    Get,
    HGet,
    HSet,
    Incr,
    LPush,
    RPush,
    SAdd,
    Set,
    Updated,
    ZAdd,
    parse_op,
)
from tests.conftest import Blocking


def make_batch(engine: Any, chunk: int = 100) -> Any:
    """`Batch` on a sync engine, `AsyncBatch` behind the blocking face on an async one."""
    if isinstance(engine, Blocking):
        return Blocking(AsyncBatch(engine.inner, chunk=chunk), engine.loop)
    return Batch(engine, chunk=chunk)


# -- process_batch -----------------------------------------------------------------------------


def test_every_operation_returns_its_own_result(engine: Any, r: redis.Redis) -> None:
    """Each of the twelve operations runs and returns its typed result, in batch order."""
    batch = make_batch(engine)
    results = batch.process_batch(
        [
            Set("a", 1),
            Incr("a", 5),
            Decr("a"),
            Get("a"),
            Get("missing"),
            HSet("h", "f", 1.5),
            HGet("h", "f"),
            HGet("h", "nope"),
            LPush("l", "x"),
            RPush("l", "y"),
            SAdd("s", "m"),
            SAdd("s", "m"),
            ZAdd("z", "m", 2.5),
            Expire("h", 60),
            Expire("missing", 60),
            Delete("a"),
            Delete("a"),
        ]
    )
    assert results == [True, 6, 5, "5", None, 1, "1.5", None, 1, 2, 1, 0, 1, True, False, 1, 0]
    assert r.lrange("l", 0, -1) == ["x", "y"] and r.zscore("z", "m") == 2.5
    assert 59_000 < r.pttl("h") <= 60_000 and not r.exists("a")


def test_tuples_spell_the_same_operations(engine: Any, r: redis.Redis) -> None:
    """("set", key, value) and friends parse into the operation classes and run the same."""
    batch = make_batch(engine)
    results = batch.process_batch(
        [("set", "k", "v", 30), ("incr", "n"), ("incr", "n", 4), ("decr", "n", 2), ("get", "k"),
         ("hset", "h", "f", "v"), ("hget", "h", "f"), ("lpush", "l", 1), ("rpush", "l", 2),
         ("sadd", "s", "m"), ("zadd", "z", "m", 1), ("expire", "k", 10), ("del", "n")]
    )  # fmt: skip
    assert results == [True, 1, 5, 3, "v", 1, "v", 1, 2, 1, 1, True, 1]
    assert 0 < r.pttl("k") <= 10_000
    assert parse_op(0, ("zadd", "z", "m", 1)) == ZAdd("z", "m", 1)


def test_operations_on_one_key_keep_their_order_across_chunks(engine: Any, r: redis.Redis) -> None:
    """With chunks of 3, 50 increments of one key interleaved with others end in order."""
    batch = make_batch(engine, chunk=3)
    ops: list[Any] = []
    for i in range(50):
        ops += [Incr("counter"), Set(f"k{i}", i)]
    results = batch.process_batch(ops)
    assert results[0::2] == list(range(1, 51))
    assert r.get("counter") == "50" and r.get("k49") == "49"


def test_an_operation_error_is_its_own(engine: Any, r: redis.Redis) -> None:
    """A WRONGTYPE or a non-integer INCR fails alone; the others run; the first error is raised."""
    batch = make_batch(engine)
    r.hset("h", "f", "v")
    r.set("text", "abc")
    ops = [Set("a", 1), Incr("h"), Incr("text"), Incr("a")]
    results = batch.process_batch(ops, return_exceptions=True)
    assert results[0] is True and results[3] == 2
    assert isinstance(results[1], ServerError) and results[1].code == "WRONGTYPE"
    assert isinstance(results[2], ServerError) and "not an integer" in str(results[2])
    with pytest.raises(ServerError, match="WRONGTYPE"):
        batch.process_batch(ops)
    assert r.get("a") == "2"  # the failing batch still ran its other operations (set, incr)


def test_an_empty_batch_sends_nothing(engine: Any, r: redis.Redis) -> None:
    """No operations, no keys: empty results and no round trip."""
    batch = make_batch(engine)
    assert batch.process_batch([]) == []
    assert batch.bulk_get([]) == {}
    assert batch.bulk_set({}) == 0
    assert engine.stats() == {}


@pytest.mark.parametrize(
    ("op", "error", "match"),
    [
        (("frobnicate", "k"), ValueError, "ops\\[2\\]: unknown operation 'frobnicate'"),
        (("SET", "k", "v"), ValueError, "unknown operation"),
        ((), TypeError, "ops\\[2\\]"),
        ("set", TypeError, "ops\\[2\\]"),
        (7, TypeError, "ops\\[2\\]"),
        (("set", "k"), TypeError, "value"),
        (("set", "k", True), TypeError, "value"),
        (("set", "k", None), TypeError, "value"),
        (("set", "k", math.nan), ValueError, "finite"),
        (("set", "k", "v", 0), ValueError, "ttl"),
        (("incr", "k", 1.5), TypeError, "amount"),
        (("incr", "k", True), TypeError, "amount"),
        (("decr", "k", 2**63), ValueError, "amount"),
        (("expire", "k", -1), ValueError, "seconds"),
        (("zadd", "z", "m", math.inf), ValueError, "score"),
        (("zadd", "z", "m", "1"), TypeError, "score"),
        (("hset", "h", 1, "v"), TypeError, "field"),
        (("get", 5), TypeError, "key"),
        (("get", "k", "extra"), TypeError, "ops\\[2\\] \\(get\\)"),
    ],
)
def test_bad_operations_raise_before_any_io(
    engine: Any, r: redis.Redis, op: Any, error: type[Exception], match: str
) -> None:
    """An unknown or malformed operation raises naming its place; no operation runs."""
    batch = make_batch(engine)
    with pytest.raises(error, match=match):
        batch.process_batch([Set("a", 1), ("incr", "b"), op, Get("a")])
    assert r.dbsize() == 0


def test_the_script_refuses_unknown_opcodes_and_runs_nothing(engine: Any, r: redis.Redis) -> None:
    """batch_process.lua itself checks every operation before the first runs (INVALID_ARGUMENT)."""
    script = load_script("batch_process")
    with pytest.raises(InvalidArgumentError, match="unknown opcode"):
        engine.run(Call(script, ("{t}a", "{t}b"), ("set", "1", "0", "flushall")))
    with pytest.raises(InvalidArgumentError, match="one to one"):
        engine.run(Call(script, ("{t}a", "{t}b"), ("set", "1", "0")))
    with pytest.raises(InvalidArgumentError, match="incrby"):
        engine.run(Call(script, ("{t}a", "{t}b"), ("set", "1", "0", "incrby", "1.5")))
    assert r.dbsize() == 0


# -- bulk_set / bulk_get -----------------------------------------------------------------------


def test_bulk_set_and_bulk_get(engine: Any, r: redis.Redis) -> None:
    """bulk_set writes every key (with a ttl when given); bulk_get reads them back, None if absent."""
    batch = make_batch(engine, chunk=7)
    values = {f"user:{i}": f"v{i}" for i in range(50)}
    assert batch.bulk_set(values) == 50
    assert batch.bulk_set({"t1": 1, "t2": 2.5, b"t3": b"raw"}, ttl=30) == 3
    assert r.pttl("t1") > 29_000 and r.pttl("user:3") == -1
    r.hset("hash", "f", "v")
    got = batch.bulk_get([*values, "t2", "missing", "hash"])
    assert got == {**values, "t2": "2.5", "missing": None, "hash": None}
    assert batch.bulk_get([b"t3"]) == {b"t3": "raw"}


def test_bulk_input_is_checked_before_any_io(engine: Any, r: redis.Redis) -> None:
    """Bad keys, values or ttls for bulk_set/bulk_get raise before anything is written."""
    batch = make_batch(engine)
    with pytest.raises(TypeError, match="value of 'b'"):
        batch.bulk_set({"a": 1, "b": None})
    with pytest.raises(ValueError, match="ttl"):
        batch.bulk_set({"a": 1}, ttl=-1)
    with pytest.raises(TypeError, match="mapping"):
        batch.bulk_set([("a", 1)])
    with pytest.raises(TypeError, match="single key"):
        batch.bulk_get("abc")
    with pytest.raises(TypeError, match="key"):
        batch.bulk_get(["a", 1])
    assert r.dbsize() == 0


# -- update_all --------------------------------------------------------------------------------


def test_update_all_changes_every_key_or_none(engine: Any, r: redis.Redis) -> None:
    """With one key missing nothing changes and the result names it; then all change, TTLs kept."""
    batch = make_batch(engine)
    r.set("acct:{7}:a", "1", px=60_000)
    r.set("acct:{7}:b", "2")
    update = {"acct:{7}:a": "10", "acct:{7}:b": "20", "acct:{7}:c": "30"}
    assert batch.update_all(update) == Updated(False, ("acct:{7}:c",))
    assert r.mget("acct:{7}:a", "acct:{7}:b", "acct:{7}:c") == ["1", "2", None]
    assert not batch.update_all(update)
    result = batch.update_all({"acct:{7}:a": 10, "acct:{7}:b": 20})
    assert result and result.missing == ()
    assert r.mget("acct:{7}:a", "acct:{7}:b") == ["10", "20"]
    assert 59_000 < r.pttl("acct:{7}:a") <= 60_000 and r.pttl("acct:{7}:b") == -1
    assert batch.update_all(update, require_existing=False).ok
    assert r.get("acct:{7}:c") == "30"


def test_update_all_never_overwrites_another_type(engine: Any, r: redis.Redis) -> None:
    """A key holding a hash makes update_all raise WRONGTYPE and write nothing, even with create."""
    batch = make_batch(engine)
    r.set("{t}:a", "1")
    r.hset("{t}:h", "f", "v")
    with pytest.raises(ServerError, match="WRONGTYPE"):
        batch.update_all({"{t}:a": "2", "{t}:h": "x"}, require_existing=False)
    assert r.get("{t}:a") == "1" and r.hgetall("{t}:h") == {"f": "v"}


def test_update_all_refuses_keys_of_several_slots_before_any_io(
    engine: Any, r: redis.Redis
) -> None:
    """Keys in different hash slots cannot be all-or-nothing: CrossSlotError, nothing sent."""
    batch = make_batch(engine)
    assert key_slot("a") != key_slot("b")
    with pytest.raises(CrossSlotError):
        batch.update_all({"a": 1, "b": 2}, require_existing=False)
    with pytest.raises(TypeError, match="require_existing"):
        batch.update_all({"{t}a": 1}, require_existing=1)
    with pytest.raises(TypeError, match="value of"):
        batch.update_all({"{t}a": 1, "{t}b": [2]})
    assert r.dbsize() == 0
    assert engine.stats() == {}
    assert batch.update_all({}) == Updated(True)


def test_update_all_is_atomic_under_concurrent_readers(server_url: str, r: redis.Redis) -> None:
    """Readers of two keys that writers always update together never see them differ."""
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=32)
    batch = Batch(Engine(client))
    keys = ["pair:{1}:left", "pair:{1}:right"]
    batch.update_all(dict.fromkeys(keys, 0), require_existing=False)
    torn: list[tuple[str, str]] = []
    stop = threading.Event()

    def write(start: int) -> None:
        for i in range(start, start + 300):
            assert batch.update_all(dict.fromkeys(keys, i))

    def read() -> None:
        while not stop.is_set():
            got = batch.bulk_get(keys)
            if got[keys[0]] != got[keys[1]]:
                torn.append((got[keys[0]], got[keys[1]]))

    readers = [threading.Thread(target=read) for _ in range(3)]
    writers = [threading.Thread(target=write, args=(i * 1000,)) for i in range(3)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(60)
    stop.set()
    for thread in readers:
        thread.join(60)
    client.close()
    assert torn == []


# -- plans (no I/O) ----------------------------------------------------------------------------


def test_plans_group_by_slot_on_a_cluster_and_by_order_elsewhere() -> None:
    """by_slot chunks hold one slot each; without it chunks follow the batch's order."""
    ops = BatchOps(chunk=2)
    keys = ["{a}1", "{b}1", "{a}2", "{a}3", "{b}2"]
    plan = ops.process([Get(k) for k in keys], by_slot=True)
    assert plan.spans == [[0, 2], [3], [1, 4]]
    assert [call.keys for call in plan.calls] == [("{a}1", "{a}2"), ("{a}3",), ("{b}1", "{b}2")]
    assert not any(call.cross_slot for call in plan.calls)
    flat = ops.process([Get(k) for k in keys], by_slot=False)
    assert flat.spans == [[0, 1], [2, 3], [4]]
    assert [call.cross_slot for call in flat.calls] == [True, False, False]
    with pytest.raises(ValueError, match="chunk"):
        BatchOps(chunk=0)
    with pytest.raises(TypeError, match="chunk"):
        BatchOps(chunk=1.5)  # type: ignore[arg-type]


# -- the cluster -------------------------------------------------------------------------------


@pytest.mark.cluster
def test_batches_on_a_cluster(cluster_engine: Any, cluster: EmbeddedCluster) -> None:
    """On a 3-master cluster a batch spread over many slots runs per slot, results in order."""
    batch = make_batch(cluster_engine, chunk=4)
    keys = [f"item:{i}" for i in range(60)]
    assert len({key_slot(k) for k in keys}) > 30
    results = batch.process_batch(
        [op for i, k in enumerate(keys) for op in (Set(k, i), Incr(k, 1), Get(k))]
    )
    assert results == [x for i in range(60) for x in (True, i + 1, str(i + 1))]
    assert batch.bulk_set({k: f"v{k}" for k in keys}, ttl=30) == 60
    assert batch.bulk_get([*keys, "nope"]) == {**{k: f"v{k}" for k in keys}, "nope": None}
    host, port = cluster.startup_nodes[0]
    check = RedisCluster(host=host, port=port, decode_responses=True)
    try:
        assert check.get("item:17") == "vitem:17" and 0 < check.pttl("item:17") <= 30_000
        check.set("acct:{9}:a", "1")
        assert not batch.update_all({"acct:{9}:a": "2", "acct:{9}:b": "3"})
        assert check.get("acct:{9}:a") == "1"
        assert batch.update_all({"acct:{9}:a": "2", "acct:{9}:b": "3"}, require_existing=False)
        assert (check.get("acct:{9}:a"), check.get("acct:{9}:b")) == ("2", "3")
    finally:
        check.close()
    with pytest.raises(CrossSlotError):
        batch.update_all({"item:1": 1, "item:2": 2})
