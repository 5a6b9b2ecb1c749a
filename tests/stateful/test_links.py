"""`Links` and `AsyncLinks` on a real server: decoding, checks before I/O, fencing, claims."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from redlua import CrossSlotError
from redlua.stateful import AsyncLinks, Claim, KeySchema, LinkOps, Links, TryResult

SCHEMA = KeySchema.sf("t")
API = Path(__file__).resolve().parents[2] / "src" / "redlua" / "stateful" / "api.py"


def make_links(engine: Any, schema: KeySchema = SCHEMA, **options: Any) -> Any:
    """`Links` on a sync engine, `AsyncLinks` behind the blocking face on an async one."""
    inner = getattr(engine, "inner", None)
    if inner is None:
        return Links(engine, schema, **options)
    return type(engine)(AsyncLinks(inner, schema, **options), engine.loop)


@pytest.fixture
def links(engine: Any) -> Any:
    """Links on the test database, sync and async."""
    return make_links(engine)


# -- the compat surface ------------------------------------------------------------------------


def test_set_link_returns_the_previous_pod(links: Any, r: redis.Redis) -> None:
    """set_link returns None on a new link, then the pod it replaced."""
    assert links.set_link("u1", "game", 3) is None
    assert links.set_link("u1", "game", 4, ttl=300) == 3
    assert links.get_link("u1", "game") == 4
    assert links.get_link_if_persist("u1", "game") is None


def test_try_set_link_results(links: Any) -> None:
    """try_set_link: linked, refused by a persistent owner, or taken over from a temporary link."""
    assert links.try_set_link("u1", "game", 3) == TryResult(True, 3, None)
    assert links.try_set_link("u1", "game", 4) == TryResult(False, 3, None)
    assert links.try_set_link("u2", "game", 5, ttl=60) == TryResult(True, 5, None)
    assert links.try_set_link("u2", "game", 6) == TryResult(True, 6, 5)
    assert links.try_set_link("u2", "game", 6) == TryResult(True, 6, 6)


def test_set_link_if_absent_returns_the_linked_pod(links: Any) -> None:
    """set_link_if_absent returns the pod that holds the link afterwards."""
    assert links.set_link_if_absent("u1", "chat", 1, ttl=300) == 1
    assert links.set_link_if_absent("u1", "chat", 2) == 1
    assert links.get_link_if_persist("u1", "chat") is None


def test_remove_link_and_remove_link_if(links: Any, r: redis.Redis) -> None:
    """remove_link reports whether there was a link; remove_link_if only removes its own pod's."""
    assert links.remove_link("u1", "game") is False
    links.set_link("u1", "game", 3)
    assert links.remove_link_if("u1", "game", 4) is False
    assert links.remove_link_if("u1", "game", 3, keep=60) is True
    assert links.get_link("u1", "game") == 3  # grace: still routable for a minute
    assert links.get_link_if_persist("u1", "game") is None
    assert 55 <= r.ttl(SCHEMA.link_key("u1", "game")) <= 60
    assert links.remove_link("u1", "game", keep=0) is True
    assert links.get_link("u1", "game") is None


def test_exact_remove_mode_deletes_at_once(engine: Any, r: redis.Redis) -> None:
    """remove_mode="exact" deletes the link whatever keep says, as the TPF service does."""
    links = make_links(engine, remove_mode="exact")
    links.set_link("u1", "game", 3)
    assert links.remove_link("u1", "game", keep=60) is True
    assert r.keys("*") == [SCHEMA.version_key("u1", "game")]


def test_linked_services_lists_persistent_links(links: Any) -> None:
    """linked_services maps each service with a persistent link to its pod."""
    assert links.linked_services("u1") == {}
    links.set_link("u1", "game", 3)
    links.set_link("u1", "chat", 0)
    links.set_link("u1", "mail", 2, ttl=60)
    assert links.linked_services("u1") == {"game": 3, "chat": 0}


def test_pod_zero_is_a_real_pod(links: Any) -> None:
    """Pod 0 is a StatefulSet ordinal like any other, never read as "no link" (§6.4)."""
    assert links.try_set_link("u1", "game", 0) == TryResult(True, 0, None)
    assert links.get_link("u1", "game") == 0
    assert links.get_link_if_persist("u1", "game") == 0
    assert links.try_set_link("u1", "game", 1) == TryResult(False, 0, None)
    assert links.claim("u1", "game", 1).owner == 0
    assert links.set_link_if_absent("u1", "game", 2) == 0
    assert links.linked_services("u1") == {"game": 0}
    assert links.replace_link_if("u1", "game", 0, 1) == (True, 1)
    assert links.set_link("u1", "game", 0) == 1
    assert links.release("u1", "game", 0)[0] is True
    assert links.get_link("u1", "game") is None


def test_uids_may_be_ints(links: Any, r: redis.Redis) -> None:
    """An int UID spells the same keys as its decimal string."""
    links.set_link(42, "game", 3)
    assert links.get_link("42", "game") == 3
    assert r.exists("sf:{t:lk:42}game")


def test_bytes_replies_decode(make_engine: Any, server_url: str, r: redis.Redis) -> None:
    """With decode_responses=False every method returns the same values."""
    links = make_links(make_engine(server_url, decode_responses=False))
    assert links.set_link("u1", "game", 3) is None
    assert links.try_set_link("u1", "game", 4) == TryResult(False, 3, None)
    assert links.set_link_if_absent("u1", "game", 4) == 3
    assert links.get_link("u1", "game") == 3
    assert links.get_link_if_persist("u1", "game") == 3
    assert links.linked_services("u1") == {"game": 3}
    assert links.claim("u1", "game", 3) == Claim(True, 3, 3, 2)
    assert links.version("u1", "game") == 2
    assert links.replace_link_if("u1", "game", 4, 5) == (False, 3)
    assert links.release("u1", "game", 3) == (True, 3)
    assert links.batch_get(["u1", "u2"], "game") == [None, None]
    assert links.remove_link("u1", "game") is False


def test_compute_link_if_absent_legacy(links: Any, r: redis.Redis) -> None:
    """The legacy placement picks the least-loaded fresh pod and writes the UID hash only."""
    r.hset(SCHEMA.state_key("game"), mapping={"0": "7-2000", "1": "3-2000", "2": "1-10"})
    assert links.compute_link_if_absent_legacy("u1", "game", 1000) == 1
    assert links.linked_services("u1") == {"game": 1}
    assert links.get_link("u1", "game") is None  # hash-only, as the original
    assert links.compute_link_if_absent_legacy("u2", "game", 5000) is None


# -- checks before I/O -------------------------------------------------------------------------


BAD_CALLS: list[tuple[str, Callable[[LinkOps], Any], type[Exception], str]] = [
    ("ttl 0", lambda o: o.set_link("u", "g", 1, ttl=0), ValueError, "ttl"),
    ("ttl -2", lambda o: o.try_set_link("u", "g", 1, ttl=-2), ValueError, "ttl"),
    ("ttl float", lambda o: o.set_link_if_absent("u", "g", 1, ttl=1.5), TypeError, "ttl"),
    ("ttl bool", lambda o: o.claim("u", "g", 1, ttl=True), TypeError, "ttl"),
    ("ttl huge", lambda o: o.set_link("u", "g", 1, ttl=10**15), ValueError, "ttl"),
    ("ttl str", lambda o: o.replace_link_if("u", "g", None, 1, ttl="60"), TypeError, "ttl"),
    ("pod -1", lambda o: o.set_link("u", "g", -1), ValueError, "pod"),
    ("pod str", lambda o: o.try_set_link("u", "g", "3"), TypeError, "pod"),
    ("pod bool", lambda o: o.claim("u", "g", True), TypeError, "pod"),
    ("pod float", lambda o: o.remove_link_if("u", "g", 1.0), TypeError, "pod"),
    ("expected -1", lambda o: o.replace_link_if("u", "g", -1, 1), ValueError, "expected"),
    ("new None", lambda o: o.replace_link_if("u", "g", 1, None), TypeError, "new"),
    ("uid brace", lambda o: o.set_link("u}x", "g", 1), ValueError, "uid"),
    ("uid empty", lambda o: o.get_link("", "g"), ValueError, "uid"),
    ("uid bytes", lambda o: o.get_link(b"u", "g"), TypeError, "uid"),
    ("service hash", lambda o: o.set_link("u", "g#v", 1), ValueError, "service"),
    ("uid brace 2", lambda o: o.linked_services("u{"), ValueError, "uid"),
    ("service ctrl", lambda o: o.remove_link("u", "g\n"), ValueError, "service"),
    ("keep -2", lambda o: o.remove_link("u", "g", keep=-2), ValueError, "keep"),
    ("keep float", lambda o: o.remove_link_if("u", "g", 1, keep=0.5), TypeError, "keep"),
    ("grace -3", lambda o: o.release("u", "g", 1, grace=-3), ValueError, "grace"),
    ("downgrade", lambda o: o.claim("u", "g", 1, downgrade=1), TypeError, "downgrade"),
    (
        "min ts",
        lambda o: o.compute_link_if_absent_legacy("u", "g", 1.5),
        TypeError,
        "min_timestamp",
    ),
    ("uids str", lambda o: o.batch_get("u1", "g"), TypeError, "uids"),
]


@pytest.mark.parametrize(
    ("build", "error", "match"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_raises_when_the_call_is_built(
    build: Callable[[LinkOps], Any], error: type[Exception], match: str
) -> None:
    """Bad arguments raise TypeError/ValueError naming them from the pure builder (no I/O)."""
    with pytest.raises(error, match=match):
        build(LinkOps(SCHEMA))


@pytest.mark.parametrize(
    ("build", "error", "match"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_writes_nothing(
    links: Any,
    r: redis.Redis,
    build: Callable[[Any], Any],
    error: type[Exception],
    match: str,
) -> None:
    """The same bad arguments through Links/AsyncLinks raise and leave the database empty."""
    with pytest.raises(error, match=match):
        build(links)
    assert r.keys("*") == []


def test_link_ops_options_are_checked() -> None:
    """LinkOps refuses an unknown schema, remove mode or fencing flag."""
    with pytest.raises(TypeError, match="schema"):
        LinkOps("sf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="remove_mode"):
        LinkOps(SCHEMA, remove_mode="tpf-exact")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fencing"):
        LinkOps(SCHEMA, fencing=1)  # type: ignore[arg-type]


def test_fencing_off_sends_the_java_keys() -> None:
    """fencing=False sends the two keys Java and Go send; claims are always fenced."""
    plain, fenced = LinkOps(SCHEMA, fencing=False), LinkOps(SCHEMA)
    assert plain.set_link("u", "g", 1).keys == ("sf:{t:lk:u}g", "sf:{t:lk:u}")
    assert plain.remove_link_if("u", "g", 1, keep=60).args == ("g", "60", "1")
    assert fenced.try_set_link("u", "g", 1, 30).keys[2] == "sf:{t:lk:u}g#v"
    assert plain.claim("u", "g", 1).keys[2] == "sf:{t:lk:u}g#v"
    assert LinkOps(SCHEMA, remove_mode="exact").remove_link("u", "g").args == ("g", "-1", "exact")


# -- fencing, claims, releases -----------------------------------------------------------------


def test_every_write_bumps_the_version(links: Any) -> None:
    """The version grows by one on every write and stays put on refusals and reads."""
    seen = [links.version("u1", "game")]
    steps = [
        lambda: links.set_link("u1", "game", 3, ttl=60),
        lambda: links.try_set_link("u1", "game", 4),
        lambda: links.set_link("u1", "game", 5),
        lambda: links.claim("u1", "game", 5),
        lambda: links.replace_link_if("u1", "game", 5, 6),
        lambda: links.remove_link_if("u1", "game", 6, keep=30),
        lambda: links.set_link_if_absent("u1", "game", 7),  # the grace link is still there
        lambda: links.remove_link("u1", "game"),
        lambda: links.set_link_if_absent("u1", "game", 7),
        lambda: links.release("u1", "game", 7),
    ]
    for step in steps:
        step()
        seen.append(links.version("u1", "game"))
    assert seen == [0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9]
    links.try_set_link("u1", "game", 1, ttl=10)
    links.try_set_link("u1", "game", 2)  # takes over the temporary link
    assert links.version("u1", "game") == 11
    assert links.claim("u1", "game", 3) == Claim(False, 2, None, 11)


def test_fencing_off_leaves_the_version_alone(engine: Any, r: redis.Redis) -> None:
    """With fencing=False the compat calls write no version key."""
    links = make_links(engine, fencing=False)
    links.set_link("u1", "game", 3)
    links.remove_link("u1", "game")
    assert r.keys("*") == []
    assert links.claim("u1", "game", 3).token == 1


def test_claim_semantics(links: Any, r: redis.Redis) -> None:
    """claim wins on no link and on temporary links, loses to another pod's persistent link."""
    assert links.claim("u1", "game", 3) == Claim(True, 3, None, 1)
    assert links.claim("u1", "game", 4) == Claim(False, 3, None, 1)
    links.set_link("u2", "game", 9, ttl=60)
    assert links.claim("u2", "game", 4) == Claim(True, 4, 9, 2)
    assert links.get_link_if_persist("u2", "game") == 4
    assert links.linked_services("u2") == {"game": 4}


def test_claim_never_downgrades_by_default(links: Any, r: redis.Redis) -> None:
    """A pod re-claiming with a TTL keeps its persistent link unless downgrade=True."""
    links.claim("u1", "game", 3)
    assert links.claim("u1", "game", 3, ttl=60) == Claim(True, 3, 3, 2)
    assert links.get_link_if_persist("u1", "game") == 3
    assert links.claim("u1", "game", 3, ttl=60, downgrade=True) == Claim(True, 3, 3, 3)
    assert links.get_link_if_persist("u1", "game") is None
    assert 55 <= r.ttl(SCHEMA.link_key("u1", "game")) <= 60


def test_temporary_claim(links: Any, r: redis.Redis) -> None:
    """A claim with a TTL makes a temporary link another pod may take over."""
    assert links.claim("u1", "game", 3, ttl=60).ok
    assert links.linked_services("u1") == {}
    assert links.claim("u1", "game", 4) == Claim(True, 4, 3, 2)


def test_release_semantics(links: Any, r: redis.Redis) -> None:
    """release acts only for the pod holding the link, with a real grace period."""
    links.claim("u1", "game", 3)
    assert links.release("u1", "game", 4) == (False, 1)
    assert links.release("u1", "game", 3, grace=60) == (True, 2)
    assert links.get_link("u1", "game") == 3 and links.linked_services("u1") == {}
    assert links.claim("u1", "game", 4) == Claim(True, 4, 3, 3)  # the grace link is temporary
    assert links.release("u1", "game", 3) == (False, 3)  # a late release does nothing
    assert links.get_link_if_persist("u1", "game") == 4


def test_replace_link_if_semantics(links: Any) -> None:
    """replace_link_if writes only over the expected value and reports the link after."""
    assert links.replace_link_if("u1", "game", 3, 4) == (False, None)
    assert links.replace_link_if("u1", "game", None, 3) == (True, 3)
    assert links.replace_link_if("u1", "game", None, 4) == (False, 3)
    assert links.replace_link_if("u1", "game", 3, 4, ttl=60) == (True, 4)
    assert links.get_link_if_persist("u1", "game") is None
    assert links.replace_link_if("u1", "game", 4, 5) == (True, 5)
    assert links.linked_services("u1") == {"game": 5}
    assert links.version("u1", "game") == 3


def test_batch_get_over_200_uids(links: Any) -> None:
    """batch_get returns each UID's pod in order, None where there is no link."""
    uids = [f"user-{i}" for i in range(200)]
    for i, uid in enumerate(uids):
        if i % 3:
            links.set_link(uid, "game", i % 7, ttl=None if i % 2 else 300)
    expected = [i % 7 if i % 3 else None for i in range(200)]
    assert links.batch_get(uids, "game") == expected
    assert links.batch_get([], "game") == []


# -- the slug schema ---------------------------------------------------------------------------


def test_slug_schema_on_a_standalone_server(engine: Any, r: redis.Redis) -> None:
    """The older Java layout works on a standalone server, keys spelled as homo spells them."""
    links = make_links(engine, KeySchema.slug("app", "eu"))
    assert links.set_link("u1", "game", 3) is None
    assert links.claim("u1", "chat", 0) == Claim(True, 0, None, 1)
    assert links.try_set_link("u1", "game", 4) == TryResult(False, 3, None)
    assert links.linked_services("u1") == {"game": 3, "chat": 0}
    assert links.batch_get(["u1", "u2"], "game") == [3, None]
    assert r.hgetall("slug-lk:{app:eu:state:u1}") == {"game": "3", "chat": "0"}
    assert r.get("slug-lk:{app:eu:state:u1:game}") == "3"
    assert links.remove_link("u1", "game", keep=30) is True
    assert links.release("u1", "chat", 0) == (True, 2)
    assert links.linked_services("u1") == {}


def test_slug_schema_reserves_colons() -> None:
    """In the slug layout a ':' in a UID or service would make two links share a key."""
    ops = LinkOps(KeySchema.slug("app", "eu"))
    with pytest.raises(ValueError, match="uid"):
        ops.get_link("a:b", "game")
    with pytest.raises(ValueError, match="service"):
        ops.get_link("a", "b:game")
    assert ops.set_link("u", "g", 1).cross_slot and not ops.get_link("u", "g").cross_slot
    assert not LinkOps(SCHEMA).set_link("a:b", "g", 1).cross_slot


# -- the twin classes --------------------------------------------------------------------------


def _class_source(tree: ast.Module, name: str) -> str:
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)

    class Sync(ast.NodeTransformer):
        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
            self.generic_visit(node)
            return ast.copy_location(
                ast.FunctionDef(**{f: getattr(node, f) for f in node._fields}), node
            )

        def visit_Await(self, node: ast.Await) -> Any:
            return self.visit(node.value)

        def visit_Expr(self, node: ast.Expr) -> Any:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return None  # docstrings may differ
            return self.generic_visit(node)

    return ast.unparse(Sync().visit(node))


def test_links_classes_differ_only_by_async_await() -> None:
    """AsyncLinks is Links with async/await: the same code once both are made sync."""
    tree = ast.parse(API.read_text())
    sync = _class_source(tree, "Links")
    twin = _class_source(tree, "AsyncLinks").replace("AsyncLinks", "Links")
    assert twin.replace("AsyncEngine", "Engine") == sync
    public = {n for n in vars(Links) if not n.startswith("_")}
    assert public == {n for n in vars(AsyncLinks) if not n.startswith("_")}
    assert public == {n for n in vars(LinkOps) if not n.startswith("_")}


# -- cluster -----------------------------------------------------------------------------------


@pytest.mark.cluster
def test_links_surface_on_a_cluster(cluster_engine: Any) -> None:
    """Every per-UID operation runs on the 3-master cluster (one slot per UID)."""
    links = make_links(cluster_engine)
    assert links.set_link("u1", "game", 3) is None
    assert links.try_set_link("u1", "game", 4) == TryResult(False, 3, None)
    assert links.set_link_if_absent("u2", "game", 0, ttl=60) == 0
    assert links.get_link("u2", "game") == 0
    assert links.get_link_if_persist("u2", "game") is None
    assert links.linked_services("u1") == {"game": 3}
    assert links.claim("u3", "game", 5) == Claim(True, 5, None, 1)
    assert links.release("u3", "game", 5, grace=30) == (True, 2)
    assert links.replace_link_if("u3", "game", 5, 6) == (True, 6)
    assert links.version("u3", "game") == 3
    assert links.remove_link_if("u1", "game", 3) is True
    assert links.remove_link("u2", "game", keep=10) is True
    uids = [f"user-{i}" for i in range(60)]
    for i, uid in enumerate(uids[::2]):
        links.set_link(uid, "game", i)
    assert links.batch_get(uids, "game") == [i // 2 if i % 2 == 0 else None for i in range(60)]


@pytest.mark.cluster
def test_cross_slot_layouts_refused_on_a_cluster(cluster_engine: Any) -> None:
    """The slug schema's two-key calls and the legacy compute raise CrossSlotError on a cluster."""
    slug = make_links(cluster_engine, KeySchema.slug("app", "eu"))
    with pytest.raises(CrossSlotError):
        slug.set_link("u1", "game", 3)
    with pytest.raises(CrossSlotError):
        slug.claim("u1", "game", 3)
    assert slug.get_link("u1", "game") is None  # one key: fine anywhere
    with pytest.raises(CrossSlotError):
        make_links(cluster_engine).compute_link_if_absent_legacy("u1", "game", 0)
