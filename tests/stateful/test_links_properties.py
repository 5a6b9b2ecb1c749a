"""Property tests: random sequences of every link write keep I1 and never steal a persistent link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redlua import Call, Engine, load_script
from redlua.stateful import Claim, KeySchema, LinkOps, TryResult

SCHEMA = KeySchema.sf("p")
UIDS = ("u1", "u2")
SERVICES = ("game", "chat")
GRACE, EXACT = LinkOps(SCHEMA), LinkOps(SCHEMA, remove_mode="exact")
WRITES = (
    "set_link",
    "try_set_link",
    "set_link_if_absent",
    "remove_link",
    "remove_link_if",
    "claim",
    "release",
    "replace_link_if",
    "raw_set",
)


class Step(NamedTuple):
    """One write: which operation, on which link, with which arguments."""

    op: str
    uid: str
    service: str
    pod: int
    other: int | None
    ttl: int | None
    keep: int | None
    flag: bool
    raw_ttl: str


class Link(NamedTuple):
    """What one link looks like from outside."""

    value: str | None
    ttl: int
    field: str | None
    version: int


steps = st.builds(
    Step,
    op=st.sampled_from(WRITES),
    uid=st.sampled_from(UIDS),
    service=st.sampled_from(SERVICES),
    pod=st.integers(0, 3),
    other=st.none() | st.integers(0, 3),
    ttl=st.sampled_from([None, -1, 100, 1000]),
    keep=st.sampled_from([None, -1, 0, 30, 2000]),
    flag=st.booleans(),
    raw_ttl=st.sampled_from(["-1", "0", "-3", "50"]),
)


@pytest.fixture(scope="module")
def env(server_url: str) -> Iterator[tuple[Engine, redis.Redis]]:
    """A sync engine and a raw client on the test database, for the whole module."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    yield Engine(client), client
    client.flushdb()
    client.close()


def snapshot(r: redis.Redis) -> dict[tuple[str, str], Link]:
    """Read every link of the test UIDs and services in one round trip."""
    pipe = r.pipeline(transaction=False)
    pairs = [(u, s) for u in UIDS for s in SERVICES]
    for u, s in pairs:
        pipe.get(SCHEMA.link_key(u, s))
        pipe.ttl(SCHEMA.link_key(u, s))
        pipe.hget(SCHEMA.uid_key(u), s)
        pipe.get(SCHEMA.version_key(u, s))
    out = pipe.execute()
    return {
        pair: Link(out[4 * i], out[4 * i + 1], out[4 * i + 2], int(out[4 * i + 3] or 0))
        for i, pair in enumerate(pairs)
    }


def apply(engine: Engine, step: Step) -> Any:
    """Run *step* and return its decoded result."""
    ops = EXACT if step.flag else GRACE
    u, s, pod = step.uid, step.service, step.pod
    if step.op == "set_link":
        return engine.run(ops.set_link(u, s, pod, step.ttl))
    if step.op == "try_set_link":
        return engine.run(ops.try_set_link(u, s, pod, step.ttl))
    if step.op == "set_link_if_absent":
        return engine.run(ops.set_link_if_absent(u, s, pod, step.ttl))
    if step.op == "remove_link":
        return engine.run(ops.remove_link(u, s, step.keep))
    if step.op == "remove_link_if":
        return engine.run(ops.remove_link_if(u, s, pod, step.keep))
    if step.op == "claim":
        return engine.run(ops.claim(u, s, pod, step.ttl, downgrade=step.flag))
    if step.op == "release":
        return engine.run(ops.release(u, s, pod, step.keep))
    if step.op == "replace_link_if":
        return engine.run(ops.replace_link_if(u, s, step.other, pod, step.ttl))
    # a compat script as Java/Go call it (two keys), with the TTLs §3 documents
    name = ("stateful_set_link", "stateful_try_set_link", "stateful_set_link_if_absent")[pod % 3]
    keys = (SCHEMA.link_key(u, s), SCHEMA.uid_key(u))
    return engine.run(Call(load_script(name), keys, (s, str(pod), step.raw_ttl)))


def check_i1(state: dict[tuple[str, str], Link], r: redis.Redis) -> None:
    """The hash holds a link exactly when it is persistent, and nothing else."""
    for (uid, svc), link in state.items():
        persistent = link.value is not None and link.ttl == -1
        assert link.field == (link.value if persistent else None), (uid, svc, link)
    for uid in UIDS:
        fields = r.hgetall(SCHEMA.uid_key(uid))
        assert set(fields) <= set(SERVICES)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(steps, min_size=1, max_size=30))
def test_writes_keep_i1_and_respect_persistent_owners(
    env: tuple[Engine, redis.Redis], sequence: list[Step]
) -> None:
    """After every write I1 holds, versions never go back, and other pods' claims are refused."""
    engine, r = env
    r.flushdb()
    before = snapshot(r)
    for step in sequence:
        result = apply(engine, step)
        after = snapshot(r)
        check_i1(after, r)
        old, new = before[step.uid, step.service], after[step.uid, step.service]
        owner = int(old.value) if old.value is not None and old.ttl == -1 else None
        if step.op in ("try_set_link", "claim") and owner is not None and owner != step.pod:
            assert new.value == old.value and new.ttl == -1, (step, old, new)
            assert isinstance(result, (TryResult, Claim)) and not result.ok
            assert result.owner == owner
        if step.op in ("try_set_link", "claim") and owner in (None, step.pod):
            assert result.ok and new.value == str(step.pod)
        for key, link in after.items():  # fenced writes never move a version back
            assert link.version >= before[key].version
        changed = (new.value, new.ttl == -1) != (old.value, old.ttl == -1)
        if changed and step.op != "raw_set":
            assert new.version > old.version, (step, old, new)
        removed = result[0] if step.op == "release" else result
        if step.op in ("remove_link", "remove_link_if", "release") and removed:
            grace = step.keep if step.keep is not None and step.keep > 0 else None
            if grace is None or (step.flag and step.op != "release"):  # now, or exact mode
                assert new.value is None, (step, old, new)
            else:  # a grace period never lengthens a link
                assert new.value == old.value and 0 < new.ttl <= grace, (step, old, new)
                assert old.ttl == -1 or new.ttl <= old.ttl
        before = after
