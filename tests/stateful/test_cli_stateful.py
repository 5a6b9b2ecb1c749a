"""``redlua links`` and ``redlua pods`` against real servers, and the demo's stateful scenario."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redlua import EmbeddedCluster, Engine, _demo, cli
from redlua.stateful.keys import KeySchema
from redlua.stateful.pods import PodRegistry
from redlua.stateful.registry import Routing, reserve, set_state

SCHEMA = KeySchema.sf("default")
SVC = "game"


@pytest.fixture(autouse=True)
def _no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.fixture
def url(server_url: str, r: redis.Redis) -> str:
    """The test database's URL, emptied first (by ``r``)."""
    return server_url


@pytest.fixture
def engine(server_url: str) -> Iterator[Engine]:
    """A sync engine on the test database, for set-up."""
    client = redis.Redis.from_url(server_url, decode_responses=True)
    yield Engine(client)
    client.close()


def free_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``redlua *argv`` in-process; return the exit code, stdout and stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run ``redlua *argv --json``, check it exits 0 and return the parsed output."""
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, ""), err
    return json.loads(out)


# -- links -----------------------------------------------------------------------------------


def test_set_then_get_a_persistent_link(
    capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis
) -> None:
    """links set without --ttl writes the Java/Go wire format; links get reads it back."""
    code, out, _ = run(capsys, "links", "set", "u42", SVC, "3", "--url", url)
    assert (code, out) == (0, "u42 game -> pod 3 (persistent); was no link\n")
    assert r.get("sf:{default:lk:u42}game") == "3"
    assert r.ttl("sf:{default:lk:u42}game") == -1
    assert r.hgetall("sf:{default:lk:u42}") == {SVC: "3"}
    code, out, _ = run(capsys, "links", "get", "u42", SVC, "--url", url)
    assert code == 0
    assert out.splitlines() == [
        "u42 game -> pod 3 (persistent, fencing version 1)",
        "key sf:{default:lk:u42}game",
    ]
    assert run_json(capsys, "links", "get", "u42", SVC, "--url", url) == {
        "uid": "u42",
        "service": SVC,
        "key": "sf:{default:lk:u42}game",
        "pod": 3,
        "persistent": True,
        "ttl": None,
        "version": 1,
    }


def test_set_with_ttl_is_temporary_and_reports_the_previous_pod(
    capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis
) -> None:
    """links set --ttl writes a temporary link (not in the UID hash) and names the old pod."""
    run(capsys, "links", "set", "u1", SVC, "1", "--url", url)
    data = run_json(capsys, "links", "set", "u1", SVC, "2", "--ttl", "300", "--url", url)
    assert data == {"uid": "u1", "service": SVC, "pod": 2, "ttl": 300, "previous": 1}
    assert r.hgetall("sf:{default:lk:u1}") == {}
    got = run_json(capsys, "links", "get", "u1", SVC, "--url", url)
    assert (got["pod"], got["persistent"], got["version"]) == (2, False, 2)
    assert 0 < got["ttl"] <= 300
    code, out, _ = run(capsys, "links", "get", "u1", SVC, "--url", url)
    assert code == 0
    expected = r"u1 game -> pod 2 \(temporary, expires in \d+ s, fencing version 2\)"
    assert re.fullmatch(expected, out.splitlines()[0])


def test_get_without_a_link(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """links get of an unlinked UID says so and exits 0; --json gives pod null."""
    code, out, _ = run(capsys, "links", "get", "nobody", SVC, "--url", url)
    assert (code, out.splitlines()[0]) == (0, "nobody game -> no link")
    data = run_json(capsys, "links", "get", "nobody", SVC, "--url", url)
    assert (data["pod"], data["persistent"], data["ttl"], data["version"]) == (None, False, None, 0)


def test_namespace_option(capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis) -> None:
    """--namespace NS spells the keys sf:{NS:...}."""
    run(capsys, "links", "set", "u1", SVC, "0", "--namespace", "prod", "--url", url)
    assert r.get("sf:{prod:lk:u1}game") == "0"
    assert r.get("sf:{default:lk:u1}game") is None


def test_slug_schema(capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis) -> None:
    """--schema slug --app A --region R uses the older Java layout."""
    keyspace = ("--schema", "slug", "--app", "app1", "--region", "eu", "--url", url)
    assert run(capsys, "links", "set", "u1", SVC, "4", *keyspace)[0] == 0
    assert r.get("slug-lk:{app1:eu:state:u1:game}") == "4"
    assert r.hgetall("slug-lk:{app1:eu:state:u1}") == {SVC: "4"}
    data = run_json(capsys, "links", "get", "u1", SVC, *keyspace)
    assert (data["key"], data["pod"]) == ("slug-lk:{app1:eu:state:u1:game}", 4)


def test_remove_with_pod_removes_only_while_held(
    capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis
) -> None:
    """links remove --pod P leaves a link held by another pod and removes its own."""
    run(capsys, "links", "set", "u1", SVC, "2", "--url", url)
    code, out, _ = run(capsys, "links", "remove", "u1", SVC, "--pod", "5", "--url", url)
    assert (code, out) == (0, "u1 game: not removed, the link does not hold pod 5\n")
    assert r.get("sf:{default:lk:u1}game") == "2"
    data = run_json(capsys, "links", "remove", "u1", SVC, "--pod", "2", "--url", url)
    assert data == {"uid": "u1", "service": SVC, "removed": True, "keep": None, "pod": 2}
    assert r.exists("sf:{default:lk:u1}game", "sf:{default:lk:u1}") == 0


def test_remove_with_keep_leaves_a_temporary_link(
    capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis
) -> None:
    """links remove --keep S drops the persistent link and leaves it temporary for S seconds."""
    run(capsys, "links", "set", "u1", SVC, "2", "--url", url)
    code, out, _ = run(capsys, "links", "remove", "u1", SVC, "--keep", "60", "--url", url)
    assert (code, out) == (0, "u1 game: link removed; it stays as a temporary link for 60 s\n")
    assert r.get("sf:{default:lk:u1}game") == "2"
    assert 0 < r.ttl("sf:{default:lk:u1}game") <= 60
    assert r.hgetall("sf:{default:lk:u1}") == {}


def test_remove_without_a_link(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """links remove of an unlinked UID says there was nothing to remove and exits 0."""
    code, out, _ = run(capsys, "links", "remove", "u1", SVC, "--url", url)
    assert (code, out) == (0, "u1 game: no link to remove\n")


def test_services_lists_persistent_links_only(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """links services shows each service with a persistent link, not temporary ones."""
    run(capsys, "links", "set", "u1", "game", "3", "--url", url)
    run(capsys, "links", "set", "u1", "chat", "0", "--url", url)
    run(capsys, "links", "set", "u1", "match", "1", "--ttl", "60", "--url", url)
    code, out, _ = run(capsys, "links", "services", "u1", "--url", url)
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["SERVICE", "POD"],
        ["chat", "0"],
        ["game", "3"],
    ]
    data = run_json(capsys, "links", "services", "u1", "--url", url)
    assert data == {"uid": "u1", "services": {"game": 3, "chat": 0}}
    code, out, _ = run(capsys, "links", "services", "u2", "--url", url)
    assert (code, out) == (0, "u2 has no persistent link\n")


# -- pods ------------------------------------------------------------------------------------


def test_pods_list_table_and_json(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine, r: redis.Redis
) -> None:
    """pods list shows load+reserved, age, routing, the three flags and the address."""
    for pod, load in ((0, 7), (1, 3)):
        registry = PodRegistry(
            engine, SCHEMA, SVC, pod, address=f"game-{pod}.game:7000", capacity=100, load=load
        )
        registry.heartbeat()
    draining = PodRegistry(engine, SCHEMA, SVC, 2)
    draining.drain(wait_periods=0)
    engine.run(reserve(SCHEMA, SVC, 1, 4))
    engine.run(set_state(SCHEMA, SVC, 5, "9-1000"))  # dead since 1970
    engine.run(set_state(SCHEMA, SVC, 6, "garbage"))
    code, out, _ = run(capsys, "pods", "list", SVC, "--url", url)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "POD",
        "LOAD",
        "CAP",
        "AGE",
        "ROUTING",
        "ALIVE",
        "ROUTABLE",
        "AVAILABLE",
        "ADDRESS",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:6]}
    assert rows["0"][:3] == ["0", "7", "100"]
    assert rows["0"][5:] == ["READY", "yes", "yes", "yes", "game-0.game:7000"]
    assert rows["1"][1] == "3+4"
    assert rows["2"][5:] == ["DENY_NEW", "yes", "yes", "no", "-"]
    assert rows["5"][1:3] == ["9", "-"]
    assert rows["5"][-4:] == ["no", "no", "no", "-"]
    assert rows["6"][1] == "?"
    assert "pod 6: state 'garbage' is not <load>-<epochMillis>" in lines
    assert "5 pods in sf:{default:state:game}: 3 alive, 3 routable, 2 available" in lines
    data = run_json(capsys, "pods", "list", SVC, "--url", url)
    assert data["service"] == SVC
    assert data["expire"] == 60.0
    by_pod = {p["pod"]: p for p in data["pods"]}
    assert sorted(by_pod) == [0, 1, 2, 5, 6]
    one = by_pod[1]
    assert (one["load"], one["reserved"], one["effective_load"], one["capacity"]) == (3, 4, 7, 100)
    assert (one["alive"], one["routable"], one["available"]) == (True, True, True)
    assert 0 <= one["age_ms"] < 60_000
    assert by_pod[2]["routing"] == Routing.DENY_NEW.value
    assert (by_pod[5]["heartbeat_ms"], by_pod[5]["alive"]) == (1000, False)
    assert (by_pod[6]["age_ms"], by_pod[6]["raw"]) == (None, "garbage")


def test_pods_list_expire_option(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine, r: redis.Redis
) -> None:
    """--expire sets how old a heartbeat may be: 0.001 s makes a past beat dead."""
    now_ms = int(r.time()[0]) * 1000
    engine.run(set_state(SCHEMA, SVC, 0, f"1-{now_ms - 5000}"))
    assert run_json(capsys, "pods", "list", SVC, "--url", url)["pods"][0]["alive"] is True
    short = run_json(capsys, "pods", "list", SVC, "--expire", "1", "--url", url)
    assert short["pods"][0]["alive"] is False


def test_pods_list_of_an_unknown_service(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """pods list of a service without pods says so and exits 0."""
    code, out, _ = run(capsys, "pods", "list", "ghost", "--url", url)
    assert (code, out) == (0, "no pod of 'ghost' has a state in sf:{default:state:ghost}\n")
    assert run_json(capsys, "pods", "list", "ghost", "--url", url)["pods"] == []


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["links", "get", "u{1}", SVC], "uid 'u{1}' contains '{'"),
        (["links", "set", "u1", "ga#me", "1"], "service 'ga#me' contains '#'"),
        (["links", "get", "u1", SVC, "--namespace", "a}b"], "namespace 'a}b' contains '}'"),
        (["links", "services", "u1", "--namespace", ""], "namespace must not be empty"),
        (["pods", "list", "g{x}"], "service 'g{x}' contains '{'"),
        (["links", "get", "u1", SVC, "--schema", "slug"], "--schema slug needs --app and --region"),
        (
            ["links", "get", "u1", SVC, "--schema", "slug", "--app", "a", "--region", "r:1"],
            "region_id 'r:1' contains ':'",
        ),
        (
            ["links", "remove", "u:1", SVC, "--schema", "slug", "--app", "a", "--region", "r"],
            "uid 'u:1' contains ':'",
        ),
        (["links", "get", "u1", SVC, "--app", "a"], "--app and --region need --schema slug"),
        (["links", "set", "u1", SVC, "1", "--ttl", str(10**16)], "ttl must be at most"),
        (
            ["links", "get", "u1", SVC, "--schema", "slug", "--namespace", "x"],
            "--namespace is for --schema sf",
        ),
    ],
)
def test_bad_names_exit_2_before_connecting(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A bad name or keyspace option exits 2 with the reason, and no server is started."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert "temporary" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["links", "set", "u1", SVC, "-1"],
        ["links", "set", "u1", SVC, "x"],
        ["links", "set", "u1", SVC, "1", "--ttl", "0"],
        ["links", "remove", "u1", SVC, "--keep", "-5"],
        ["pods", "list", SVC, "--expire", "0"],
        ["pods", "list", SVC, "--expire", "nan"],
        ["links", "get", "u1"],
    ],
)
def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A negative pod, a TTL of 0, a negative keep or expire exits 2 with usage."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert "usage: redlua" in err


@pytest.mark.parametrize(
    "argv", [["links", "get", "u1", SVC], ["links", "set", "u1", SVC, "1"], ["pods", "list", SVC]]
)
def test_unreachable_server_exits_1(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A server that does not answer exits 1 naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = run(capsys, *argv, "--url", url)
    assert (code, out) == (1, "")
    assert f"cannot reach {url}" in err


def test_unreadable_link_exits_1(
    capsys: pytest.CaptureFixture[str], url: str, r: redis.Redis
) -> None:
    """A link holding what no writer produces exits 1 with what was found."""
    r.set("sf:{default:lk:u1}game", "abc")
    code, out, err = run(capsys, "links", "get", "u1", SVC, "--url", url)
    assert (code, out) == (1, "")
    assert "unexpected data on the server" in err
    assert "'abc'" in err


# -- a cluster -------------------------------------------------------------------------------


@pytest.mark.cluster
def test_links_and_pods_on_a_cluster(
    capsys: pytest.CaptureFixture[str], cluster: EmbeddedCluster
) -> None:
    """The commands find the cluster by itself (cluster_enabled) and route by hash slot."""
    with cluster.client(decode_responses=True) as client:
        try:
            PodRegistry(Engine(client), KeySchema.sf("clu"), SVC, 4).heartbeat()
            keyspace = ("--namespace", "clu", "--url", cluster.url)
            assert run(capsys, "links", "set", "u7", SVC, "4", *keyspace)[0] == 0
            data = run_json(capsys, "links", "get", "u7", SVC, *keyspace)
            assert (data["pod"], data["persistent"]) == (4, True)
            assert run_json(capsys, "links", "services", "u7", *keyspace)["services"] == {SVC: 4}
            view = run_json(capsys, "pods", "list", SVC, *keyspace)
            assert [(p["pod"], p["available"]) for p in view["pods"]] == [(4, True)]
        finally:
            schema = KeySchema.sf("clu")
            for key in (
                schema.link_key("u7", SVC),
                schema.uid_key("u7"),
                schema.version_key("u7", SVC),
                schema.state_key(SVC),
                schema.meta_key(SVC),
            ):
                client.delete(key)


@pytest.mark.cluster
def test_demo_stateful_scenario_on_a_cluster(cluster: EmbeddedCluster) -> None:
    """The demo's stateful scenario passes on a cluster and deletes its keys."""
    scenario = next(s for s in _demo.SCENARIOS if s.title == "stateful links")
    stream = io.StringIO()
    with cluster.client() as client:
        failed = _demo.run_demo(
            Engine(client), stream, url=cluster.url, private=False, scenarios=[scenario]
        )
        leftovers = [
            key
            for node in client.get_primaries()
            for key in client.keys("sf:{redlua-demo-*", target_nodes=node)
        ]
    assert failed == 0, stream.getvalue()
    assert leftovers == []
