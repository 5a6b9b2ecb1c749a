"""Stateful-link rows: what `Links` and `Router` cost over raw redis-py EVALSHA.

Each candidate runs a shipped ``stateful_*`` script through redlua; its baseline
sends ``client.evalsha`` of the same script with the same KEYS and ARGV, taken
from the `Call` redlua builds (`LinkOps`), for a UID of its own. Both share one
client (so the server, transport and ``decode_responses``), the scripts are
preloaded and three pods have sent a heartbeat with a one-hour lease, so every
route sees a fresh view. The view is kept for an hour (``view_ttl``): the rows
measure the per-UID path, not the view refresh (one script per service per
second by default).

* ``links.set_link``: `Links.set_link` (fenced, 3 keys) vs its EVALSHA.
* ``router.route``: a route of a linked UID after `Router.forget`, i.e. a cache
  miss costing one ``stateful_get_link`` round trip, vs that EVALSHA.
* ``router.route_cached``: a cached route (no round trip) vs the uncached one
  above: the cache's speedup, informational.
* ``router.claim``: `Router.claim` by the pod holding the link (re-claimed each
  time, so each op writes and bumps the fencing version) vs its EVALSHA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import redis

from harness import Case, Suite, Target
from redlua import Call, Engine, load_script
from redlua.stateful import KeySchema, LinkOps, Links, Router
from redlua.stateful.registry import heartbeat

NAMESPACE = "redlua-bench"
SCHEMA = KeySchema.sf(NAMESPACE)
SERVICE = "game"
PODS = 3
LEASE = 3600.0  # seconds: longer than any run
UIDS = ("cand-set", "base-set", "cand-route", "base-route", "cand-claim", "base-claim")
SCRIPTS = (
    "stateful_set_link",
    "stateful_get_link",
    "stateful_claim",
    "stateful_heartbeat",
    "stateful_pods",
)


def raw(client: redis.Redis, call: Call[Any]) -> Callable[[], Any]:
    """Return ``client.evalsha`` of *call*'s script with *call*'s KEYS and ARGV, undecoded."""
    return partial(client.evalsha, call.script.sha, len(call.keys), *call.keys, *call.args)


def route_uncached(router: Router, uid: str) -> int:
    """Drop the cached pod of *uid*, then route it: one GET-like round trip."""
    router.forget(uid, SERVICE)
    return router.route(uid, SERVICE)


def _keys() -> list[str]:
    per_uid = [
        key
        for uid in UIDS
        for key in (
            SCHEMA.link_key(uid, SERVICE),
            SCHEMA.uid_key(uid),
            SCHEMA.version_key(uid, SERVICE),
        )
    ]
    service = (SCHEMA.state_key(SERVICE), SCHEMA.meta_key(SERVICE), SCHEMA.load_key(SERVICE))
    return [*per_uid, *service]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _calls(engine: Engine) -> int:
    return sum(s.calls for s in engine.stats().values())


def _check(what: str, ok: bool) -> None:
    if not ok:
        raise AssertionError(what)


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, set up pods and links, and yield the rows."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        engine = Engine(client)
        engine.preload([load_script(name) for name in SCRIPTS])
        client.delete(*_keys())
        for pod in range(PODS):
            engine.run(heartbeat(SCHEMA, SERVICE, pod, 0, incarnation="bench", lease=LEASE))
        links = Links(engine, SCHEMA)
        ops = LinkOps(SCHEMA)

        set_base = raw(client, ops.set_link("base-set", SERVICE, 1))
        _check(
            "set_link returns no previous pod first", links.set_link("cand-set", SERVICE, 1) is None
        )
        _check("raw set_link replies [-1] first", [_text(v) for v in set_base()] == ["-1"])

        for uid in ("cand-route", "base-route"):
            links.set_link(uid, SERVICE, 1)
        router = Router(engine, SCHEMA, view_ttl=LEASE, expire=LEASE)
        get_base = raw(client, ops.get_link("base-route", SERVICE))
        _check("route follows the link", route_uncached(router, "cand-route") == 1)
        before = _calls(engine)
        route_uncached(router, "cand-route")
        _check("an uncached route is one round trip", _calls(engine) == before + 1)
        _check("raw get_link replies [1]", [_text(v) for v in get_base()] == ["1"])

        cached = Router(engine, SCHEMA, view_ttl=LEASE, expire=LEASE, cache_ttl=LEASE)
        _check("route follows the link", cached.route("cand-route", SERVICE) == 1)
        before = _calls(engine)
        cached.route("cand-route", SERVICE)
        _check("a cached route makes no round trip", _calls(engine) == before)

        pod = Router(engine, SCHEMA, pod=2)
        claim_base = raw(client, ops.claim("base-claim", SERVICE, 2))
        first = pod.claim("cand-claim", SERVICE)
        _check(f"the first claim wins with token 1, got {first}", first.ok and first.token == 1)
        reply = [_text(v) for v in claim_base()]
        _check(f"raw claim replies [2, -1, 1], got {reply}", reply == ["2", "-1", "1"])

        yield [
            Case(
                name="links.set_link",
                candidate=partial(links.set_link, "cand-set", SERVICE, 1),
                baseline=set_base,
                target=0.9,
                note="Links.set_link(uid, svc, pod) (fenced: 3 keys) vs client.evalsha of"
                " stateful_set_link with the same KEYS/ARGV",
            ),
            Case(
                name="router.route",
                candidate=partial(route_uncached, router, "cand-route"),
                baseline=get_base,
                target=0.9,
                note="Router.route of a linked UID after forget() (cache miss: one round trip)"
                " vs client.evalsha of stateful_get_link",
            ),
            Case(
                name="router.route_cached",
                candidate=partial(cached.route, "cand-route", SERVICE),
                baseline=partial(route_uncached, router, "cand-route"),
                note="Router.route served by the local cache (no round trip) vs the uncached"
                " route above: the cache's speedup",
            ),
            Case(
                name="router.claim",
                candidate=partial(pod.claim, "cand-claim", SERVICE),
                baseline=claim_base,
                target=0.9,
                note="Router.claim by the owning pod (a write and a version bump each time)"
                " vs client.evalsha of stateful_claim with the same KEYS/ARGV",
            ),
        ]
    finally:
        try:
            client.delete(*_keys())
        finally:
            client.close()


SUITE = Suite(name="stateful", sync=sync_cases)
