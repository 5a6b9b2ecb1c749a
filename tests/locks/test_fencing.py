"""Fenced writes on a real server: stale tokens refused, keys in one slot, checks before I/O."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redlua import CorruptDataError, CrossSlotError, InvalidArgumentError, Script, key_slot
from redlua._core import Call
from redlua.locks import Fenced, NotOwnerError, fence_key_for, fenced_get, fenced_set
from tests.locks import Locks

RESOURCE = "report:{42}"
SEEN = "report:{42}:fence-seen"


@pytest.fixture
def locks(engine: Any) -> Iterator[Locks]:
    """Lock factory on the test database, sync and async."""
    made = Locks(engine)
    yield made
    made.close()


def test_newer_and_equal_tokens_write_and_older_ones_are_refused(
    engine: Any, r: redis.Redis
) -> None:
    """A token >= the last seen writes and is remembered; an older one is refused, nothing changes."""
    assert engine.run(fenced_set(RESOURCE, "v1", 3)) is True
    assert engine.run(fenced_set(RESOURCE, "v2", 3)) is True  # the same holder writes again
    assert engine.run(fenced_set(RESOURCE, "v3", 5)) is True
    assert engine.run(fenced_set(RESOURCE, "stale", 4)) is False
    assert r.get(RESOURCE) == "v3" and r.get(SEEN) == "5"
    assert engine.run(fenced_get(RESOURCE)) == Fenced("v3", 5)
    assert r.ttl(SEEN) == -1


def test_tokens_compare_as_numbers_not_text(engine: Any, r: redis.Redis) -> None:
    """Token 10 is newer than 9 (a text comparison would say otherwise); huge tokens are exact."""
    assert engine.run(fenced_set(RESOURCE, "a", 9)) is True
    assert engine.run(fenced_set(RESOURCE, "b", 10)) is True
    assert engine.run(fenced_set(RESOURCE, "c", 9)) is False
    big = 2**63 - 1
    assert engine.run(fenced_set(RESOURCE, "d", big - 1)) is True
    assert engine.run(fenced_set(RESOURCE, "e", big)) is True
    assert engine.run(fenced_set(RESOURCE, "f", big - 1)) is False
    assert r.get(SEEN) == str(big)


def test_a_paused_former_holder_cannot_overwrite_newer_data(locks: Locks, r: redis.Redis) -> None:
    """Lock expired under a paused holder: the new holder's write stands, the stale one is refused."""
    former = locks.make("report", ttl=0.1, fencing=True)
    later = locks.make("report", ttl=5, fencing=True)
    run = locks.engine.run if not locks.is_async else _blocking(locks)
    former.acquire()
    stale_fence = former.fence
    locks.sleep(0.15)  # the former holder is "paused" past its ttl
    later.acquire()
    assert later.fence == stale_fence + 1
    assert run(fenced_set(RESOURCE, "new", later.fence)) is True
    assert run(fenced_set(RESOURCE, "old", stale_fence)) is False
    with pytest.raises(NotOwnerError):
        former.release()
    assert r.get(RESOURCE) == "new" and r.get("redlua:lock:{report}") == later.token
    later.release()


def _blocking(locks: Locks) -> Any:
    loop = locks.loop
    assert loop is not None
    return lambda call: loop.run_until_complete(locks.engine.run(call))


def test_ttl_expires_the_resource_but_not_the_fence(engine: Any, r: redis.Redis) -> None:
    """With ttl the resource expires; the last token seen stays, so a stale writer stays out."""
    assert engine.run(fenced_set(RESOURCE, "v", 7, ttl=30)) is True
    assert 29 <= r.ttl(RESOURCE) <= 30 and r.ttl(SEEN) == -1
    assert engine.run(fenced_set(RESOURCE, "w", 8)) is True
    assert r.ttl(RESOURCE) == -1


def test_reading_an_absent_resource(engine: Any) -> None:
    """A resource never written reads as (None, 0)."""
    assert engine.run(fenced_get("nothing:{here}")) == Fenced(None, 0)


def test_default_fence_keys_share_the_resources_slot() -> None:
    """The derived key keeps a hash tag, or wraps an untagged key in one."""
    assert fence_key_for("report:{42}") == "report:{42}:fence-seen"
    assert fence_key_for("plain") == "{plain}:fence-seen"
    assert fence_key_for("a{b") == "{a{b}:fence-seen"
    assert fence_key_for(b"raw") == b"{raw}:fence-seen"
    assert fence_key_for(b"x:{7}") == b"x:{7}:fence-seen"
    for key in ("report:{42}", "plain", "a{b", b"raw", b"x:{7}"):
        assert key_slot(fence_key_for(key)) == key_slot(key)


def test_untagged_keys_with_a_closing_brace_are_refused(r: redis.Redis) -> None:
    """No key in the slot of 'a}b' can be spelled (a tag ends at the first '}'): clear errors."""
    with pytest.raises(ValueError, match="fence_key"):
        fence_key_for("a}b")
    with pytest.raises(ValueError, match="fence_key"):
        fenced_set("a}b", "v", 1)
    with pytest.raises(CrossSlotError):
        fenced_set("a}b", "v", 1, fence_key="{a}b}:seen")
    assert r.keys("*") == []


def test_a_fence_key_in_another_slot_is_refused_before_io(engine: Any, r: redis.Redis) -> None:
    """An explicit fence key in another slot raises CrossSlotError; nothing is written."""
    with pytest.raises(CrossSlotError):
        fenced_set(RESOURCE, "v", 1, fence_key="elsewhere:{7}")
    assert r.keys("*") == []
    assert engine.run(fenced_set(RESOURCE, "v", 1, fence_key="seen:{42}")) is True
    assert r.get("seen:{42}") == "1"


@pytest.mark.parametrize(
    ("token", "error"),
    [(True, TypeError), ("3", TypeError), (1.0, TypeError), (-1, ValueError), (2**63, ValueError)],
)
def test_bad_tokens_raise_before_io(r: redis.Redis, token: Any, error: type) -> None:
    """Tokens are ints from 0 to 2**63-1; anything else raises naming token."""
    with pytest.raises(error, match="token"):
        fenced_set(RESOURCE, "v", token)
    assert r.keys("*") == []


def test_bad_ttl_raises_before_io(r: redis.Redis) -> None:
    """A ttl must be a finite number of seconds > 0."""
    with pytest.raises(ValueError, match="ttl"):
        fenced_set(RESOURCE, "v", 1, ttl=0)
    assert r.keys("*") == []


def test_a_corrupt_fence_key_is_reported(engine: Any, r: redis.Redis) -> None:
    """A fence key holding no token raises CORRUPT_DATA and writes nothing."""
    r.set(SEEN, "not a token")
    with pytest.raises(CorruptDataError):
        engine.run(fenced_set(RESOURCE, "v", 1))
    assert r.get(RESOURCE) is None


def test_the_script_checks_its_arguments_too(engine: Any, r: redis.Redis) -> None:
    """Sent raw, a malformed token or ttl is refused by the script before any write."""
    script = fenced_set(RESOURCE, "v", 1).script
    assert isinstance(script, Script)
    for args in [("v", "01"), ("v", "x"), ("v", "1", "0"), ("v", "1", "1.5")]:
        with pytest.raises(InvalidArgumentError):
            engine.run(Call(script, (RESOURCE, SEEN), args))
    assert r.keys("*") == []


@pytest.mark.cluster
def test_fenced_writes_on_a_cluster(cluster_engine: Any) -> None:
    """Fenced writes and reads run on a 3-master cluster, keys spread over the slots."""
    for i in range(12):
        key = f"res-{i}"
        assert cluster_engine.run(fenced_set(key, "a", 2)) is True
        assert cluster_engine.run(fenced_set(key, "b", 1)) is False
        assert cluster_engine.run(fenced_get(key)) == Fenced("a", 2)
