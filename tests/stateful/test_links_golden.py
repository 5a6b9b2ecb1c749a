"""Golden tests: each row and edge case of stateful-links.md §3, raw replies and resulting keys.

Every compat script is called as Java and Go call it (two keys) and with redlua's version
key as KEYS[3]; both must leave the same link, hash and TTL, and I1 must hold after each.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from redlua import Call, InvalidArgumentError, ScriptError, load_script
from redlua.errors import CorruptDataError
from redlua.stateful import KeySchema

SCHEMA = KeySchema.sf("t")
K1 = SCHEMA.link_key("u1", "game")
K2 = SCHEMA.uid_key("u1")
K3 = SCHEMA.version_key("u1", "game")
STATE = SCHEMA.state_key("game")


@pytest.fixture(params=["2 keys", "3 keys"])
def keys(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The compat scripts' keys: as Java/Go send them, and with the version key."""
    return (K1, K2) if request.param == "2 keys" else (K1, K2, K3)


def run(engine: Any, name: str, keys: tuple[str, ...], *args: str) -> Any:
    """Run the shipped script *name* and return its raw reply."""
    return engine.run(Call(load_script(name), keys, args))


def assert_i1(r: redis.Redis, svc: str = "game", uid: str = "u1") -> None:
    """I1, strengthened: the hash holds the link exactly when the link is persistent."""
    link, field = r.get(SCHEMA.link_key(uid, svc)), r.hget(SCHEMA.uid_key(uid), svc)
    persistent = link is not None and r.ttl(SCHEMA.link_key(uid, svc)) == -1
    assert field == (link if persistent else None), (link, field)


def expect_version(r: redis.Redis, keys: tuple[str, ...], writes: int) -> None:
    """The version key counts *writes* when it was passed, and does not exist otherwise."""
    assert r.get(K3) == (str(writes) if len(keys) == 3 and writes else None)


def persistent(r: redis.Redis, pod: str) -> None:
    """Make K1 a persistent link to *pod*, as the Java service leaves it."""
    r.set(K1, pod)
    r.hset(K2, "game", pod)


def temporary(r: redis.Redis, pod: str, ttl: int = 300) -> None:
    """Make K1 a temporary link to *pod*."""
    r.set(K1, pod, ex=ttl)


# -- statefulSetLink ---------------------------------------------------------------------------


def test_set_link_on_no_link(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """SetLink with no link replies ["-1"] and writes a persistent link and its hash field."""
    assert run(engine, "stateful_set_link", keys, "game", "3", "-1") == ["-1"]
    assert r.get(K1) == "3" and r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "3"}
    expect_version(r, keys, 1)
    assert_i1(r)


def test_set_link_steals_a_persistent_link(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """SetLink force-sets over another pod's persistent link and replies the previous pod."""
    persistent(r, "5")
    r.hset(K2, "chat", "1")
    assert run(engine, "stateful_set_link", keys, "game", "3", "-1") == ["5"]
    assert r.get(K1) == "3" and r.hgetall(K2) == {"game": "3", "chat": "1"}
    expect_version(r, keys, 1)
    assert_i1(r)


def test_set_link_temporary_leaves_the_hash(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """A temporary SetLink sets a TTL and HDELs the field; the emptied hash disappears."""
    persistent(r, "5")
    assert run(engine, "stateful_set_link", keys, "game", "3", "300") == ["5"]
    assert r.get(K1) == "3" and 295 <= r.ttl(K1) <= 300
    assert not r.exists(K2)
    expect_version(r, keys, 1)
    assert_i1(r)


def test_set_link_persistent_over_temporary(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """A persistent SetLink over a temporary link drops the TTL and adds the field."""
    temporary(r, "5")
    assert run(engine, "stateful_set_link", keys, "game", "3", "-1") == ["5"]
    assert r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "3"}
    assert_i1(r)


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_set_link_with_ttl_zero_or_negative_deletes(
    engine: Any, r: redis.Redis, keys: tuple[str, ...], ttl: str
) -> None:
    """ttl 0 (or a negative other than -1) writes then deletes: the reply is prev, no link left."""
    persistent(r, "5")
    assert run(engine, "stateful_set_link", keys, "game", "3", ttl) == ["5"]
    assert not r.exists(K1) and not r.exists(K2)
    expect_version(r, keys, 1)
    assert_i1(r)


def test_set_link_ttl_read_by_tonumber(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """Any ttl text tonumber() reads as -1 ("-1.0") is persistent, as in the original."""
    assert run(engine, "stateful_set_link", keys, "game", "3", "-1.0") == ["-1"]
    assert r.ttl(K1) == -1 and r.hget(K2, "game") == "3"


@pytest.mark.parametrize("ttl", ["abc", "1.5", "05", "", "+5", "1000000000000000"])
def test_set_scripts_refuse_a_ttl_that_would_fail_halfway(
    engine: Any, r: redis.Redis, keys: tuple[str, ...], ttl: str
) -> None:
    """A ttl EXPIRE would refuse raises INVALID_ARGUMENT before any write (the original wrote)."""
    for name in ("stateful_set_link", "stateful_try_set_link", "stateful_set_link_if_absent"):
        with pytest.raises(InvalidArgumentError, match="ttl"):
            run(engine, name, keys, "game", "3", ttl)
    assert r.keys("*") == []


# -- statefulTrySetLink ------------------------------------------------------------------------


def test_try_set_link_on_no_link(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """TrySetLink with no link replies [pod] (one element) and writes the link."""
    assert run(engine, "stateful_try_set_link", keys, "game", "0", "-1") == ["0"]
    assert r.get(K1) == "0" and r.hgetall(K2) == {"game": "0"}
    expect_version(r, keys, 1)
    assert_i1(r)


def test_try_set_link_refused_by_a_persistent_owner(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """Another pod's persistent link refuses: reply [owner], nothing written, no version bump."""
    persistent(r, "5")
    assert run(engine, "stateful_try_set_link", keys, "game", "3", "-1") == ["5"]
    assert run(engine, "stateful_try_set_link", keys, "game", "3", "300") == ["5"]
    assert r.get(K1) == "5" and r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "5"}
    expect_version(r, keys, 0)
    assert_i1(r)


def test_try_set_link_takes_over_a_temporary_link(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """A temporary link of another pod is taken over: reply [pod, previous]."""
    temporary(r, "5")
    assert run(engine, "stateful_try_set_link", keys, "game", "3", "-1") == ["3", "5"]
    assert r.get(K1) == "3" and r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "3"}
    expect_version(r, keys, 1)
    assert_i1(r)


def test_try_set_link_same_pod_downgrades(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """The same pod with a positive ttl downgrades its persistent link: reply [pod, pod]."""
    persistent(r, "3")
    assert run(engine, "stateful_try_set_link", keys, "game", "3", "300") == ["3", "3"]
    assert r.get(K1) == "3" and 295 <= r.ttl(K1) <= 300 and not r.exists(K2)
    assert_i1(r)


def test_try_set_link_same_pod_persistent(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """The same pod re-linking persistently replies [pod, pod] and keeps the link."""
    persistent(r, "3")
    assert run(engine, "stateful_try_set_link", keys, "game", "3", "-1") == ["3", "3"]
    assert r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "3"}
    expect_version(r, keys, 1)


def test_try_set_link_ttl_zero_accepted_then_gone(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """ttl 0 is accepted ([pod, previous]) but leaves no link, as EXPIRE 0 deletes."""
    temporary(r, "5")
    assert run(engine, "stateful_try_set_link", keys, "game", "3", "0") == ["3", "5"]
    assert r.keys("*") == ([K3] if len(keys) == 3 else [])


# -- statefulSetLinkIfAbsent -------------------------------------------------------------------


def test_set_link_if_absent_on_no_link(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """SetLinkIfAbsent with no link writes it and replies [pod]."""
    assert run(engine, "stateful_set_link_if_absent", keys, "game", "3", "300") == ["3"]
    assert r.get(K1) == "3" and 295 <= r.ttl(K1) <= 300 and not r.exists(K2)
    expect_version(r, keys, 1)
    assert_i1(r)


def test_set_link_if_absent_persistent(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """SetLinkIfAbsent with ttl -1 writes a persistent link and its field."""
    assert run(engine, "stateful_set_link_if_absent", keys, "game", "3", "-1") == ["3"]
    assert r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "3"}
    assert_i1(r)


def test_set_link_if_absent_keeps_a_temporary_link_and_its_ttl(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """An existing temporary link is returned as is: no TTL refresh, no write, no bump."""
    temporary(r, "5", ttl=100)
    assert run(engine, "stateful_set_link_if_absent", keys, "game", "3", "300") == ["5"]
    assert run(engine, "stateful_set_link_if_absent", keys, "game", "3", "-1") == ["5"]
    assert r.get(K1) == "5" and r.ttl(K1) <= 100 and not r.exists(K2)
    expect_version(r, keys, 0)


def test_set_link_if_absent_keeps_a_persistent_link(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """An existing persistent link is returned and stays persistent (the homo bug not copied)."""
    persistent(r, "5")
    assert run(engine, "stateful_set_link_if_absent", keys, "game", "3", "-1") == ["5"]
    assert r.get(K1) == "5" and r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "5"}
    assert_i1(r)


def test_set_link_if_absent_ttl_zero(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """ttl 0 on no link replies [pod] and leaves no link."""
    assert run(engine, "stateful_set_link_if_absent", keys, "game", "3", "0") == ["3"]
    assert not r.exists(K1) and not r.exists(K2)


# -- statefulRemoveLink ------------------------------------------------------------------------


@pytest.mark.parametrize("keep", ["-1", "0", "-7"])
def test_remove_link_now(engine: Any, r: redis.Redis, keys: tuple[str, ...], keep: str) -> None:
    """keep -1, 0 (or another negative) deletes now: reply [1], link and field gone."""
    persistent(r, "3")
    r.hset(K2, "chat", "1")
    assert run(engine, "stateful_remove_link", keys, "game", keep) == [1]
    assert not r.exists(K1) and r.hgetall(K2) == {"chat": "1"}
    expect_version(r, keys, 1)
    assert_i1(r)


def test_remove_link_with_grace(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """keep > 0 (grace, the default): the link stays temporary for keep seconds, out of the hash."""
    persistent(r, "3")
    assert run(engine, "stateful_remove_link", keys, "game", "60") == [1]
    assert r.get(K1) == "3" and 55 <= r.ttl(K1) <= 60 and not r.exists(K2)
    expect_version(r, keys, 1)
    assert_i1(r)


def test_remove_link_grace_never_lengthens(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """A temporary link keeps a TTL shorter than keep, and a longer one is cut to keep."""
    temporary(r, "3", ttl=10)
    assert run(engine, "stateful_remove_link", keys, "game", "60") == [1]
    assert r.ttl(K1) <= 10
    expect_version(r, keys, 0)  # nothing was written
    temporary(r, "3", ttl=500)
    assert run(engine, "stateful_remove_link", keys, "game", "60", "grace") == [1]
    assert 55 <= r.ttl(K1) <= 60
    expect_version(r, keys, 1)


def test_remove_link_exact_deletes_despite_keep(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """Mode "exact" is the TPF script: DEL whatever keep says (its grace was a no-op)."""
    persistent(r, "3")
    assert run(engine, "stateful_remove_link", keys, "game", "60", "exact") == [1]
    assert not r.exists(K1) and not r.exists(K2)
    expect_version(r, keys, 1)
    assert run(engine, "stateful_remove_link", keys, "game", "60", "exact") == [0]
    expect_version(r, keys, 1)


@pytest.mark.parametrize("mode", [(), ("exact",)])
def test_remove_link_without_link_still_hdels(
    engine: Any, r: redis.Redis, keys: tuple[str, ...], mode: tuple[str, ...]
) -> None:
    """With no link the reply is [0] and a stale hash field is still removed."""
    r.hset(K2, "game", "3")  # a hash-only link, as the legacy compute script leaves
    assert run(engine, "stateful_remove_link", keys, "game", "-1", *mode) == [0]
    assert not r.exists(K2)
    expect_version(r, keys, 1)
    assert run(engine, "stateful_remove_link", keys, "game", "-1", *mode) == [0]
    expect_version(r, keys, 1)


@pytest.mark.parametrize(("keep", "mode"), [("x", "grace"), ("1.5", "exact"), ("60", "soon")])
def test_remove_scripts_refuse_bad_arguments(
    engine: Any, r: redis.Redis, keys: tuple[str, ...], keep: str, mode: str
) -> None:
    """A keep that is no integer or an unknown mode raises before any write."""
    persistent(r, "3")
    with pytest.raises(InvalidArgumentError):
        run(engine, "stateful_remove_link", keys, "game", keep, mode)
    with pytest.raises(InvalidArgumentError):
        run(engine, "stateful_remove_link_with_id", keys, "game", keep, "3", mode)
    assert r.get(K1) == "3" and r.hgetall(K2) == {"game": "3"}


# -- statefulRemoveLinkWithId ------------------------------------------------------------------


@pytest.mark.parametrize("mode", [(), ("grace",), ("exact",)])
def test_remove_link_with_id_matching(
    engine: Any, r: redis.Redis, keys: tuple[str, ...], mode: tuple[str, ...]
) -> None:
    """The link holds the pod: reply [1] and it is removed now (keep -1) in every mode."""
    persistent(r, "3")
    assert run(engine, "stateful_remove_link_with_id", keys, "game", "-1", "3", *mode) == [1]
    assert not r.exists(K1) and not r.exists(K2)
    expect_version(r, keys, 1)


def test_remove_link_with_id_grace(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """With keep > 0 in grace mode the removed link stays temporary for keep seconds."""
    persistent(r, "3")
    assert run(engine, "stateful_remove_link_with_id", keys, "game", "60", "3") == [1]
    assert r.get(K1) == "3" and 55 <= r.ttl(K1) <= 60 and not r.exists(K2)
    assert_i1(r)


@pytest.mark.parametrize("pod", ["5", "03", "-1"])
def test_remove_link_with_id_other_pod(
    engine: Any, r: redis.Redis, keys: tuple[str, ...], pod: str
) -> None:
    """Another pod (string compare: "03" is not "3") replies [0] and changes nothing."""
    persistent(r, "3")
    assert run(engine, "stateful_remove_link_with_id", keys, "game", "-1", pod) == [0]
    assert r.get(K1) == "3" and r.hgetall(K2) == {"game": "3"}
    expect_version(r, keys, 0)


def test_remove_link_with_id_no_link(engine: Any, r: redis.Redis, keys: tuple[str, ...]) -> None:
    """No link replies [0]; a stale hash field is left alone (nothing matched)."""
    r.hset(K2, "game", "3")
    assert run(engine, "stateful_remove_link_with_id", keys, "game", "-1", "3") == [0]
    assert r.hgetall(K2) == {"game": "3"}


# -- reads -------------------------------------------------------------------------------------


def test_get_link_if_persist(engine: Any, r: redis.Redis) -> None:
    """GetLinkIfPersist replies [pod] for a persistent link, ["-1"] for a temporary or none."""
    assert run(engine, "stateful_get_link_if_persist", (K1,)) == ["-1"]
    persistent(r, "0")
    assert run(engine, "stateful_get_link_if_persist", (K1,)) == ["0"]
    temporary(r, "4")
    assert run(engine, "stateful_get_link_if_persist", (K1,)) == ["-1"]


def test_get_link(engine: Any, r: redis.Redis) -> None:
    """GetLink replies [pod] for any link and ["-1"] for none."""
    assert run(engine, "stateful_get_link", (K1,)) == ["-1"]
    temporary(r, "4")
    assert run(engine, "stateful_get_link", (K1,)) == ["4"]
    persistent(r, "0")
    assert run(engine, "stateful_get_link", (K1,)) == ["0"]


def test_get_link_service(engine: Any, r: redis.Redis) -> None:
    """GetLinkService replies the hash flat, [] when the UID has no persistent link."""
    assert run(engine, "stateful_get_link_service", (K2,)) == []
    r.hset(K2, mapping={"game": "3", "chat": "0"})
    reply = run(engine, "stateful_get_link_service", (K2,))
    assert dict(zip(reply[::2], reply[1::2], strict=True)) == {"game": "3", "chat": "0"}


def test_get_link_service_lists_persistent_links_only(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """Temporary links written by the scripts never show in GetLinkService."""
    run(engine, "stateful_set_link", keys, "game", "3", "300")
    assert run(engine, "stateful_get_link_service", (K2,)) == []
    run(engine, "stateful_set_link", keys, "game", "3", "-1")
    assert run(engine, "stateful_get_link_service", (K2,)) == ["game", "3"]


def test_get_version(engine: Any, r: redis.Redis) -> None:
    """get_version replies ["0"] before any write, then the count as a string."""
    assert run(engine, "stateful_get_version", (K3,)) == ["0"]
    run(engine, "stateful_set_link", (K1, K2, K3), "game", "3", "-1")
    assert run(engine, "stateful_get_version", (K3,)) == ["1"]


# -- statefulComputeLinkIfAbsent ---------------------------------------------------------------


def compute(engine: Any, threshold: str = "500") -> Any:
    """Run the legacy compute script on the UID hash and the state hash (standalone only)."""
    call = Call(
        load_script("stateful_compute_link_if_absent"),
        (K2, STATE),
        ("game", threshold),
        cross_slot=True,
    )
    return engine.run(call)


def test_compute_returns_an_existing_hash_link(engine: Any, r: redis.Redis) -> None:
    """A field already in T is returned whatever the states say."""
    r.hset(K2, "game", "7")
    r.hset(STATE, "1", "0-1000")
    assert compute(engine) == ["7"]
    assert r.hgetall(K2) == {"game": "7"}


def test_compute_picks_the_least_loaded_fresh_pod(engine: Any, r: redis.Redis) -> None:
    """The fresh pod with the lowest load wins, ties go to the smallest pod id; only T is written."""
    r.hset(STATE, mapping={"0": "10-1000", "2": "5-1000", "1": "5-600", "3": "1-499"})
    assert compute(engine) == ["1"]
    assert r.hgetall(K2) == {"game": "1"}
    assert not r.exists(K1)  # hash-only link (§6.6): a GET reader does not see it


def test_compute_ties_compare_pod_ids_as_numbers(engine: Any, r: redis.Redis) -> None:
    """Pod "9" comes before pod "10" on equal loads."""
    r.hset(STATE, mapping={"10": "2-1000", "9": "2-1000", "11": "3-1000"})
    assert compute(engine) == ["9"]


def test_compute_none_fresh(engine: Any, r: redis.Redis) -> None:
    """No pod at or above the threshold replies ["-1"] and writes nothing."""
    r.hset(STATE, mapping={"0": "1-100", "1": "2-499"})
    assert compute(engine) == ["-1"]
    assert compute(engine, "100") == ["0"]  # the threshold is inclusive
    assert not r.exists(K1)


def test_compute_skips_malformed_states(engine: Any, r: redis.Redis) -> None:
    """Values that are not "<int>-<int>" are skipped where the original raised."""
    r.hset(
        STATE,
        mapping={"0": "0-1000-1", "1": "-5-1000", "2": "abc", "3": "1.5-1000", "4": "9-1000"},
    )
    assert compute(engine) == ["4"]


def test_compute_refuses_a_bad_threshold(engine: Any, r: redis.Redis) -> None:
    """A threshold that is no number raises INVALID_ARGUMENT and writes nothing."""
    r.hset(STATE, "0", "1-1000")
    with pytest.raises(InvalidArgumentError, match="threshold"):
        compute(engine, "soon")
    assert not r.exists(K2)


# -- fencing and broken data -------------------------------------------------------------------


def test_version_counts_every_write_of_the_compat_scripts(engine: Any, r: redis.Redis) -> None:
    """With KEYS[3] every write bumps the version; refusals and no-ops do not."""
    k = (K1, K2, K3)
    run(engine, "stateful_set_link_if_absent", k, "game", "3", "-1")  # 1
    run(engine, "stateful_set_link_if_absent", k, "game", "4", "-1")  # no write
    run(engine, "stateful_try_set_link", k, "game", "4", "-1")  # refused
    run(engine, "stateful_set_link", k, "game", "4", "-1")  # 2
    run(engine, "stateful_remove_link_with_id", k, "game", "-1", "3")  # not held
    run(engine, "stateful_remove_link_with_id", k, "game", "60", "4")  # 3
    run(engine, "stateful_try_set_link", k, "game", "5", "-1")  # 4: temporary taken over
    run(engine, "stateful_remove_link", k, "game", "-1")  # 5
    run(engine, "stateful_remove_link", k, "game", "-1")  # nothing left
    assert r.get(K3) == "5"


@pytest.mark.parametrize("value", ["x", "-3", "1.5", "0012"])
def test_a_corrupt_version_refuses_every_write(engine: Any, r: redis.Redis, value: str) -> None:
    """A version key that holds no version raises CORRUPT_DATA before any write."""
    r.set(K3, value)
    calls = [
        ("stateful_set_link", ("game", "3", "-1")),
        ("stateful_try_set_link", ("game", "3", "-1")),
        ("stateful_set_link_if_absent", ("game", "3", "-1")),
        ("stateful_remove_link", ("game", "-1")),
        ("stateful_remove_link_with_id", ("game", "-1", "3")),
        ("stateful_claim", ("game", "3", "-1")),
        ("stateful_release", ("game", "3", "-1")),
        ("stateful_replace_link_if", ("game", "-1", "3", "-1")),
    ]
    for name, args in calls:
        with pytest.raises(CorruptDataError, match="version"):
            run(engine, name, (K1, K2, K3), *args)
    assert r.keys("*") == [K3]


def test_a_wrong_type_hash_fails_before_any_write(
    engine: Any, r: redis.Redis, keys: tuple[str, ...]
) -> None:
    """A UID hash of the wrong type fails every write script before the link is touched."""
    r.set(K2, "not a hash")
    temporary(r, "5")
    for name, args in [
        ("stateful_set_link", ("game", "3", "-1")),
        ("stateful_set_link", ("game", "3", "60")),
        ("stateful_try_set_link", ("game", "3", "-1")),
        ("stateful_remove_link", ("game", "-1")),
        ("stateful_remove_link", ("game", "-1", "exact")),
        ("stateful_remove_link_with_id", ("game", "-1", "5")),
    ]:
        with pytest.raises(ScriptError) as info:
            run(engine, name, keys, *args)
        assert info.value.code == "WRONGTYPE"
    assert r.get(K1) == "5" and 295 <= r.ttl(K1) <= 300 and not r.exists(K3)


# -- redlua's scripts --------------------------------------------------------------------------


def test_claim_replies(engine: Any, r: redis.Redis) -> None:
    """claim replies {owner, previous or "-1", version} as strings, refused or not."""
    k = (K1, K2, K3)
    assert run(engine, "stateful_claim", k, "game", "3", "-1") == ["3", "-1", "1"]
    assert run(engine, "stateful_claim", k, "game", "4", "-1") == ["3", "-1", "1"]
    assert run(engine, "stateful_claim", k, "game", "3", "-1", "1") == ["3", "3", "2"]
    assert r.get(K1) == "3" and r.ttl(K1) == -1 and r.hgetall(K2) == {"game": "3"}
    assert_i1(r)


def test_claim_refused_before_any_write(engine: Any, r: redis.Redis) -> None:
    """A refused claim on a never-written link reports version "0"."""
    persistent(r, "5")
    assert run(engine, "stateful_claim", (K1, K2, K3), "game", "3", "-1") == ["5", "-1", "0"]
    assert not r.exists(K3)


def test_claim_takes_over_a_temporary_link(engine: Any, r: redis.Redis) -> None:
    """A temporary link of another pod is taken over and named as previous."""
    temporary(r, "5")
    assert run(engine, "stateful_claim", (K1, K2, K3), "game", "3", "60") == ["3", "5", "1"]
    assert 55 <= r.ttl(K1) <= 60 and not r.exists(K2)


@pytest.mark.parametrize(("flag", "downgraded"), [("0", True), ("1", False), (None, True)])
def test_claim_no_downgrade_flag(
    engine: Any, r: redis.Redis, flag: str | None, downgraded: bool
) -> None:
    """With ARGV[4] "1" a pod re-claiming with a TTL keeps its persistent link persistent."""
    persistent(r, "3")
    args = ("game", "3", "60") + ((flag,) if flag else ())
    assert run(engine, "stateful_claim", (K1, K2, K3), *args) == ["3", "3", "1"]
    assert (r.ttl(K1) > 0) is downgraded
    assert_i1(r)


@pytest.mark.parametrize(
    "args",
    [
        ("game", "03", "-1"),
        ("game", "-1", "-1"),
        ("game", "x", "-1"),
        ("game", "3", "0"),
        ("game", "3", "-2"),
        ("game", "3", "1.5"),
        ("", "3", "-1"),
        ("game", "3", "-1", "yes"),
    ],
)
def test_claim_validates_its_arguments(engine: Any, r: redis.Redis, args: tuple[str, ...]) -> None:
    """claim takes canonical pods, ttl -1 or > 0, a service and a "0"/"1" flag only."""
    with pytest.raises(InvalidArgumentError):
        run(engine, "stateful_claim", (K1, K2, K3), *args)
    assert r.keys("*") == []


def test_release_replies(engine: Any, r: redis.Redis) -> None:
    """release replies {1, version} when the pod held the link, {0, version} otherwise."""
    k = (K1, K2, K3)
    assert run(engine, "stateful_release", k, "game", "3", "-1") == [0, "0"]
    run(engine, "stateful_claim", k, "game", "3", "-1")
    assert run(engine, "stateful_release", k, "game", "4", "-1") == [0, "1"]
    assert run(engine, "stateful_release", k, "game", "3", "60") == [1, "2"]
    assert r.get(K1) == "3" and 55 <= r.ttl(K1) <= 60 and not r.exists(K2)
    assert run(engine, "stateful_release", k, "game", "3", "0") == [1, "3"]
    assert not r.exists(K1)
    assert_i1(r)


@pytest.mark.parametrize(
    "args", [("game", "3", "-2"), ("game", "3", "x"), ("game", "03", "0"), ("", "3", "0")]
)
def test_release_validates_its_arguments(
    engine: Any, r: redis.Redis, args: tuple[str, ...]
) -> None:
    """release takes a canonical pod, a grace >= -1 and a service."""
    persistent(r, "3")
    with pytest.raises(InvalidArgumentError):
        run(engine, "stateful_release", (K1, K2, K3), *args)
    assert r.get(K1) == "3" and r.hgetall(K2) == {"game": "3"}


def test_replace_link_if_replies(engine: Any, r: redis.Redis) -> None:
    """replace_link_if replies {1, new} when the link held expected, else {0, current}."""
    k = (K1, K2, K3)
    assert run(engine, "stateful_replace_link_if", k, "game", "3", "4", "-1") == [0, "-1"]
    assert run(engine, "stateful_replace_link_if", k, "game", "-1", "3", "-1") == [1, "3"]
    assert run(engine, "stateful_replace_link_if", k, "game", "-1", "4", "-1") == [0, "3"]
    assert run(engine, "stateful_replace_link_if", k, "game", "3", "4", "60") == [1, "4"]
    assert r.get(K1) == "4" and 55 <= r.ttl(K1) <= 60 and not r.exists(K2)
    assert r.get(K3) == "2"
    assert_i1(r)


@pytest.mark.parametrize(
    "args",
    [
        ("game", "03", "4", "-1"),
        ("game", "3", "-1", "-1"),
        ("game", "3", "4", "0"),
        ("", "3", "4", "-1"),
    ],
)
def test_replace_link_if_validates_its_arguments(
    engine: Any, r: redis.Redis, args: tuple[str, ...]
) -> None:
    """replace_link_if takes canonical pods (expected may be "-1"), ttl -1 or > 0, a service."""
    with pytest.raises(InvalidArgumentError):
        run(engine, "stateful_replace_link_if", (K1, K2, K3), *args)
    assert r.keys("*") == []
