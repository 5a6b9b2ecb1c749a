"""Races: many threads and processes claiming one UID end with one owner and ordered tokens."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from redlua import Engine
from redlua.stateful import Claim, KeySchema, Links

SCHEMA = KeySchema.sf("race")
WORKERS = 20


@pytest.fixture
def links(server_url: str, r: redis.Redis) -> Iterator[Links]:
    """Sync Links on the test database; its client's pool serves every thread."""
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=64)
    yield Links(Engine(client), SCHEMA)
    client.close()


def together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) on *count* threads released at the same moment."""
    barrier = threading.Barrier(count)

    def start(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def check_one_owner(results: list[Claim], r: redis.Redis) -> int:
    """Exactly one claim won; every loser was told the winner; the link is its, persistently."""
    winners = [c for c in results if c.ok]
    assert len(winners) == 1, winners
    owner = winners[0].owner
    assert winners[0].token == 1 and winners[0].previous is None
    assert all(c.owner == owner and c.token == 1 for c in results)
    assert r.get(SCHEMA.link_key("u", "game")) == str(owner)
    assert r.ttl(SCHEMA.link_key("u", "game")) == -1
    assert r.hgetall(SCHEMA.uid_key("u")) == {"game": str(owner)}
    return owner


def test_threads_claiming_one_uid_leave_one_owner(links: Links, r: redis.Redis) -> None:
    """20 threads claiming one UID with 20 pods: one owner, 19 losers told its id."""
    results = together(WORKERS, lambda pod: links.claim("u", "game", pod))
    check_one_owner(results, r)


def test_threads_racing_over_a_temporary_link(links: Links, r: redis.Redis) -> None:
    """A temporary link is taken over by exactly one persistent claim among 20."""
    links.set_link_if_absent("u", "game", 99, ttl=300)
    results = together(WORKERS, lambda pod: links.claim("u", "game", pod))
    winners = [c for c in results if c.ok]
    assert len(winners) == 1 and winners[0].previous == 99 and winners[0].token == 2
    assert all(c.owner == winners[0].owner for c in results)
    assert links.get_link_if_persist("u", "game") == winners[0].owner


def _claim_in_process(url: str, pod: int, barrier: Any, out: Any) -> None:
    """Process body: wait for the others, claim the UID once, report the result."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        links = Links(Engine(client), SCHEMA)
        links.get_link("u", "game")  # connect and load scripts before the start line
        barrier.wait()
        out.put(tuple(links.claim("u", "game", pod)))
    finally:
        client.close()


def test_processes_claiming_one_uid_leave_one_owner(server_url: str, r: redis.Redis) -> None:
    """20 processes (own clients, own script caches) claiming one UID: one owner."""
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(WORKERS), context.Queue()
    procs = [
        context.Process(target=_claim_in_process, args=(server_url, pod, barrier, out))
        for pod in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    try:
        results = [Claim(*out.get(timeout=60)) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
    assert all(proc.exitcode == 0 for proc in procs)
    owner = check_one_owner(results, r)
    assert sorted(c.owner for c in results) == [owner] * WORKERS


def test_tokens_increase_across_successive_owners(links: Links) -> None:
    """claim, release, claim by another...: each new owner's token is above every earlier one."""
    a = links.claim("u", "game", 1)
    assert links.claim("u", "game", 2) == Claim(False, 1, None, a.token)
    released = links.release("u", "game", 1)
    b = links.claim("u", "game", 2)
    assert a.token < released[1] < b.token
    assert links.release("u", "game", 1) == (False, b.token)  # a late release changes nothing
    c = links.replace_link_if("u", "game", 2, 3)  # repair: pod 2 declared dead
    assert c == (True, 3)
    assert links.release("u", "game", 2) == (False, b.token + 1)
    d = links.claim("u", "game", 3)
    assert d.ok and d.token > b.token + 1


def test_concurrent_claim_release_cycles_are_mutually_exclusive(
    links: Links, r: redis.Redis
) -> None:
    """Threads looping claim/release: every release directly follows its own claim's token."""
    rounds = 10

    def cycle(pod: int) -> list[tuple[int, int]]:
        held: list[tuple[int, int]] = []
        for _ in range(rounds):
            claim = links.claim("u", "game", pod)
            if claim.ok:
                released, version = links.release("u", "game", pod)
                assert released
                held.append((claim.token, version))
            else:
                assert claim.owner != pod
        return held

    held = [pair for pairs in together(WORKERS, cycle) for pair in pairs]
    assert held, "no claim ever won"
    tokens = sorted(token for token, _ in held)
    # no write came between a claim and its release: ownership never overlapped
    assert all(version == token + 1 for token, version in held)
    assert tokens == list(range(1, 2 * len(held), 2))
    assert r.get(SCHEMA.version_key("u", "game")) == str(2 * len(held))
    assert not r.exists(SCHEMA.link_key("u", "game"))
