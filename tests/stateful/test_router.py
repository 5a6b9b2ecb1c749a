"""The router against a real server: caching, placement, reservations, repair, claims."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis

from redlua import AsyncEngine, Engine
from redlua.errors import NoPodAvailableError, PodUnavailableError
from redlua.stateful.keys import KeySchema
from redlua.stateful.placement import BoundedLoadRendezvous
from redlua.stateful.registry import Routing, heartbeat
from redlua.stateful.router import AsyncRouter, DeadPodPolicy, Router
from tests.conftest import Blocking

SCHEMA = KeySchema.sf("test")
SVC = "game"


def beat(engine: Any, pod: int, load: int = 0, routing: Routing = Routing.READY, **kw: Any) -> None:
    """Write one heartbeat for *pod* of the test service."""
    engine.run(
        heartbeat(SCHEMA, SVC, pod, load, routing=routing, incarnation=f"i{pod}", lease=60, **kw)
    )


@pytest.fixture
def make_router(
    make_engine: Callable[..., Any], server_url: str, r: redis.Redis
) -> Callable[..., Any]:
    """Build a Router (sync) or an AsyncRouter (behind a blocking face) on the test database."""

    def make(**options: Any) -> Any:
        engine = make_engine(server_url)
        if isinstance(engine, Blocking):
            router: Any = Blocking(AsyncRouter(engine.inner, SCHEMA, **options), engine.loop)
        else:
            router = Router(engine, SCHEMA, **options)
        router.eng = engine  # the engine behind a blocking face, for test set-up
        return router

    return make


def test_new_uid_is_linked_temporarily_to_a_ready_pod(make_router: Any, r: redis.Redis) -> None:
    """A new UID goes to the least-loaded ready pod, through a temporary link."""
    router = make_router()
    for pod, load in ((0, 9), (1, 2), (2, 5)):
        beat(router.eng, pod, load)
    assert router.route("u1", SVC) == 1
    assert r.get(SCHEMA.link_key("u1", SVC)) == "1"
    assert 0 < r.ttl(SCHEMA.link_key("u1", SVC)) <= 300
    assert r.hget(SCHEMA.uid_key("u1"), SVC) is None  # temporary: not in the persistent hash
    assert r.hget(SCHEMA.load_key(SVC), "1") == "1"  # the new link reserved load


def test_routes_are_sticky_and_cached(make_router: Any, r: redis.Redis) -> None:
    """A linked UID keeps its pod; a second route is served from the cache, no round trip."""
    router = make_router()
    beat(router.eng, 0)
    beat(router.eng, 1)
    first = router.route("u1", SVC)
    calls = sum(s.calls for s in router.eng.stats().values())
    assert router.route("u1", SVC) == first
    assert sum(s.calls for s in router.eng.stats().values()) == calls


def test_existing_link_from_another_service_is_used(make_router: Any, r: redis.Redis) -> None:
    """A link written by someone else (a Java pod) is followed, not replaced."""
    router = make_router()
    beat(router.eng, 0)
    beat(router.eng, 4, load=1000)
    r.set(SCHEMA.link_key("u9", SVC), "4")
    assert router.route("u9", SVC) == 4


def test_reservations_spread_a_burst_between_heartbeats(make_router: Any) -> None:
    """Without new heartbeats, 30 new UIDs spread over 3 equal pods instead of piling on one."""
    router = make_router()
    for pod in range(3):
        beat(router.eng, pod, load=0)
    counts = Counter(router.route(f"burst{i}", SVC) for i in range(30))
    assert max(counts.values()) - min(counts.values()) <= 1


def test_no_ready_pod_raises(make_router: Any) -> None:
    """With every pod draining or gone, a new UID raises NoPodAvailableError."""
    router = make_router()
    beat(router.eng, 0, routing=Routing.DENY_NEW)
    with pytest.raises(NoPodAvailableError, match="game"):
        router.route("u1", SVC)


def test_draining_pod_keeps_its_links(make_router: Any, r: redis.Redis) -> None:
    """DENY_NEW refuses new UIDs but existing links to the pod still route there."""
    router = make_router()
    beat(router.eng, 0, routing=Routing.DENY_NEW)
    beat(router.eng, 1)
    r.set(SCHEMA.link_key("old", SVC), "0")
    assert router.route("old", SVC) == 0
    assert router.route("new", SVC) == 1


def test_dead_pod_keep_policy_raises(make_router: Any, r: redis.Redis) -> None:
    """With KEEP (the Java/Go behaviour) a link to a dead pod raises and stays."""
    router = make_router(expire=60)
    beat(router.eng, 1)
    r.hset(SCHEMA.state_key(SVC), "0", "0-1000")  # pod 0: last heartbeat in 1970
    r.set(SCHEMA.link_key("u1", SVC), "0")
    with pytest.raises(PodUnavailableError, match="pod 0") as caught:
        router.route("u1", SVC)
    assert caught.value.pod == 0
    assert r.get(SCHEMA.link_key("u1", SVC)) == "0"


def test_dead_pod_reassign_policy_repairs(make_router: Any, r: redis.Redis) -> None:
    """With REASSIGN a link to a long-dead pod is replaced by compare-and-set."""
    router = make_router(policies={SVC: DeadPodPolicy.REASSIGN}, dead_grace=5)
    beat(router.eng, 1)
    r.hset(SCHEMA.state_key(SVC), "0", "0-1000")
    r.set(SCHEMA.link_key("u1", SVC), "0")
    assert router.route("u1", SVC) == 1
    assert r.get(SCHEMA.link_key("u1", SVC)) == "1"


def test_recently_dead_pod_is_not_reassigned(make_router: Any, r: redis.Redis) -> None:
    """A pod dead for less than dead_grace keeps its link even under REASSIGN."""
    router = make_router(policy=DeadPodPolicy.REASSIGN, dead_grace=3600, expire=1)
    beat(router.eng, 0)
    beat(router.eng, 1)
    r.set(SCHEMA.link_key("u1", SVC), "0")
    now_ms = int(r.time()[0]) * 1000
    r.hset(SCHEMA.state_key(SVC), "0", f"0-{now_ms - 5000}")  # dead 4 s ago
    with pytest.raises(PodUnavailableError, match="within dead_grace"):
        router.route("u1", SVC)


def test_claim_release_and_fencing(make_router: Any, r: redis.Redis) -> None:
    """Pod side: a claim makes the link persistent with a token; others are told the owner."""
    pod3 = make_router(pod=3)
    pod5 = make_router(pod=5)
    first = pod3.claim("u1", SVC)
    assert (first.ok, first.owner) == (True, 3)
    assert r.ttl(SCHEMA.link_key("u1", SVC)) == -1
    assert r.hget(SCHEMA.uid_key("u1"), SVC) == "3"
    refused = pod5.claim("u1", SVC)
    assert (refused.ok, refused.owner) == (False, 3)
    assert pod3.release("u1", SVC, grace=None) is True
    assert pod5.release("u1", SVC) is False  # not ours
    second = pod5.claim("u1", SVC)
    assert second.ok and second.token > first.token


def test_claim_needs_a_pod(make_router: Any) -> None:
    """A router without a pod of its own cannot claim."""
    with pytest.raises(ValueError, match="no pod of its own"):
        make_router().claim("u1", SVC)


def test_bad_input_fails_before_io(make_router: Any, r: redis.Redis) -> None:
    """Names with braces, a bad TTL or a negative pod raise before anything is written."""
    router = make_router()
    with pytest.raises(ValueError, match="service"):
        router.route("u1", "ga{me}")
    with pytest.raises(ValueError, match=r"uid|\{"):
        router.route("u{1}", SVC)
    with pytest.raises(ValueError, match="temp_ttl"):
        make_router(temp_ttl=0)
    with pytest.raises(ValueError, match="pod"):
        make_router(pod=-1)
    assert r.keys("*") == []


def test_rendezvous_strategy_reuses_the_pod_after_expiry(make_router: Any, r: redis.Redis) -> None:
    """With rendezvous placement a UID whose temporary link expired lands on the same pod."""
    router = make_router(strategy=BoundedLoadRendezvous(c=100))
    for pod in range(5):
        beat(router.eng, pod)
    first = router.route("sticky", SVC)
    r.delete(SCHEMA.link_key("sticky", SVC))
    router.forget("sticky", SVC)
    assert router.route("sticky", SVC) == first


def test_threads_routing_one_uid_share_one_round_trip(server_url: str, r: redis.Redis) -> None:
    """20 threads routing one new UID in one process all get one pod, from one link lookup."""
    client = redis.Redis.from_url(server_url, decode_responses=True, max_connections=32)
    engine = Engine(client)
    for pod in range(4):
        beat(engine, pod)
    router = Router(engine, SCHEMA)
    barrier = threading.Barrier(20)
    got: list[int] = []

    def go() -> None:
        barrier.wait()
        got.append(router.route("herd", SVC))

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert len(set(got)) == 1
    assert engine.stats()["stateful_get_link"].calls <= 3  # shared, not 20


def test_async_tasks_routing_one_uid_share_one_round_trip(server_url: str, r: redis.Redis) -> None:
    """50 tasks routing one new UID share a single flight."""
    import asyncio

    import redis.asyncio

    async def main() -> tuple[set[int], int]:
        client = redis.asyncio.Redis.from_url(server_url, decode_responses=True)
        engine = AsyncEngine(client)
        for pod in range(4):
            await engine.run(heartbeat(SCHEMA, SVC, pod, 0, incarnation=f"i{pod}", lease=60))
        router = AsyncRouter(engine, SCHEMA)
        pods = await asyncio.gather(*(router.route("herd", SVC) for _ in range(50)))
        await client.aclose()
        return set(pods), engine.stats()["stateful_get_link"].calls

    pods, lookups = asyncio.run(main())
    assert len(pods) == 1
    assert lookups == 1


def _route_in_process(url: str, barrier: Any, out: Any) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    router = Router(Engine(client), SCHEMA, strategy=None)
    barrier.wait()
    out.put([router.route("race", SVC) for _ in range(5)])
    client.close()


def test_processes_racing_for_a_new_uid_agree(server_url: str, r: redis.Redis) -> None:
    """10 processes x 5 routes of one new UID (50 routes) all get the same pod."""
    engine = Engine(redis.Redis.from_url(server_url, decode_responses=True))
    for pod in range(6):
        beat(engine, pod)
    engine.client.close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(10)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_route_in_process, args=(server_url, barrier, out)) for _ in range(10)
    ]
    for p in procs:
        p.start()
    seen = [pod for _ in procs for pod in out.get(timeout=60)]
    for p in procs:
        p.join(timeout=30)
    assert len(seen) == 50
    assert len(set(seen)) == 1
    assert r.get(SCHEMA.link_key("race", SVC)) == str(seen[0])


@pytest.mark.cluster
def test_router_on_the_cluster(cluster_engine: Any) -> None:
    """Routing, claiming and releasing work on a 3-master cluster."""
    for pod in range(3):
        beat(cluster_engine, pod)
    inner = cluster_engine.inner if isinstance(cluster_engine, Blocking) else cluster_engine
    router: Any = (
        Blocking(AsyncRouter(inner, SCHEMA, pod=2), cluster_engine.loop)
        if isinstance(cluster_engine, Blocking)
        else Router(cluster_engine, SCHEMA, pod=2)
    )
    pods = {router.route(f"c{i}", SVC) for i in range(20)}
    assert pods <= {0, 1, 2}
    claim = router.claim("c0", SVC)
    assert claim.ok or claim.owner in pods


def test_a_pod_that_just_came_up_is_seen(make_router: Any, r: redis.Redis) -> None:
    """A link to a pod missing from the cached view triggers one fresh view, not an error."""
    router = make_router(view_ttl=3600)
    beat(router.eng, 0)
    router.route("first", SVC)  # caches a view without pod 7
    beat(router.eng, 7)
    r.set(SCHEMA.link_key("u7", SVC), "7")
    assert router.route("u7", SVC) == 7


def test_new_uid_with_a_fresh_view_reads_its_link_once(make_router: Any) -> None:
    """With a fresh view, a new UID costs one lookup and one SetLinkIfAbsent, not two lookups."""
    router = make_router(view_ttl=3600)
    beat(router.eng, 0)
    router.route("warm", SVC)
    before = router.eng.stats()["stateful_get_link"].calls
    router.route("fresh-uid", SVC)
    assert router.eng.stats()["stateful_get_link"].calls == before + 1
