"""``redlua health``, ``stats``, ``inspect``, ``profile`` and ``bench`` through ``main(argv)``."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.cluster

from redlua import EmbeddedCluster, EmbeddedServer, Engine, _cli_ops, cli, shipped_scripts
from redlua.counters import Counters
from redlua.inventory import Inventory
from redlua.ledger import Ledger
from redlua.locks import LockOps, Semaphore
from redlua.ratelimit import Limit, RateLimiter
from redlua.stateful.keys import KeySchema
from redlua.stateful.pods import PodRegistry
from redlua.txn import Versioned


@pytest.fixture(autouse=True)
def _no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.fixture
def url(server_url: str, r: redis.Redis) -> str:
    """The test database's URL, emptied first (by ``r``)."""
    return server_url


@pytest.fixture
def engine(server_url: str) -> Iterator[Engine]:
    """A sync engine on the test database, to make the objects the commands read."""
    client = redis.Redis.from_url(server_url)
    yield Engine(client)
    client.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``redlua *argv`` in-process; return the exit code, stdout and stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run ``redlua *argv --json``, check it exits 0 with one JSON document, return it."""
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, ""), err
    assert len(out.splitlines()) == 1
    return json.loads(out)


def free_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def contents(r: redis.Redis) -> dict[str, bytes]:
    """Every key of the test database with its serialized value (TTLs aside)."""
    return {key: r.dump(key) for key in r.keys("*")}


# -- the renderer ----------------------------------------------------------------------------


def test_table_aligns_text_left_and_numbers_right() -> None:
    """table() pads columns two spaces apart, right-aligns the chosen ones, drops trailing blanks."""
    lines = _cli_ops.table(
        ("NAME", "CALLS", "NOTE"), [("a", 5, None), ("long-name", 1234, "")], right={1}
    )
    assert lines == [
        "NAME       CALLS  NOTE",
        "a              5  -",
        "long-name   1234",
    ]


def test_durations_sizes_and_spans_read_well() -> None:
    """Durations pick µs/ms/s with three digits; sizes use binary units; None shows as -."""
    assert [_cli_ops.duration(s) for s in (4.2e-5, 0.00125, 0.5, 3.4, 0, None)] == [
        "42.0 µs", "1.25 ms", "500 ms", "3.40 s", "0 s", "-",
    ]  # fmt: skip
    assert [_cli_ops.size(n) for n in (512, 1536, 5 * 1024**2, None)] == [
        "512 B", "1.50 KiB", "5.00 MiB", "-",
    ]  # fmt: skip
    assert [_cli_ops.span(s) for s in (45, 720, 3 * 3600, 5 * 86400)] == [
        "45 s", "12 min", "3.0 h", "5 d",
    ]  # fmt: skip


# -- health ----------------------------------------------------------------------------------


def test_health_of_a_healthy_server(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """health prints one row per node (address, server, ping, scripts x/y) and exits 0."""
    code, out, err = run(capsys, "health", "--url", url)
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert lines[0] == f"server {url}: healthy"
    assert lines[1].split() == [
        "NODE", "ROLE", "SERVER", "PING", "CLIENTS", "MEMORY", "UPTIME", "SCRIPTS", "STATUS",
    ]  # fmt: skip
    row = lines[2]
    assert row.startswith(url.split("//")[1].rsplit("/", 1)[0])
    assert f"/{len(shipped_scripts())}" in row
    assert row.split()[-1] == "ok"


def test_health_json_is_one_parseable_document(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine
) -> None:
    """health --json is the report's to_dict(): healthy, one node, its loaded shipped scripts."""
    engine.preload()
    report = run_json(capsys, "health", "--url", url)
    assert report["healthy"] is True and report["cluster"] is False
    assert report["url"] == url
    (node,) = report["nodes"]
    assert node["server"] in ("valkey", "redis")
    assert node["ping"] > 0
    assert node["shipped_loaded"] == node["shipped_total"] == len(shipped_scripts())


def test_health_of_an_unreachable_server_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A closed port is an unhealthy row (FAIL), a clear stderr line and exit 1, also with --json."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = run(capsys, "health", "--url", url, "--timeout", "1")
    assert code == 1
    assert out.splitlines()[0] == f"server {url}: UNHEALTHY"
    assert out.splitlines()[2].split()[-1] == "FAIL"
    assert err.startswith("redlua: unhealthy: 127.0.0.1:") and "ConnectionError" in err
    assert len(err.splitlines()) == 1
    code, out, err = run(capsys, "health", "--url", url, "--json", "--timeout", "1")
    report = json.loads(out)
    assert code == 1
    assert report["healthy"] is False
    assert "ConnectionError" in report["nodes"][0]["error"]
    assert "unhealthy" in err


@pytest.mark.cluster
def test_health_of_a_cluster_has_a_row_per_node_and_its_state(
    capsys: pytest.CaptureFixture[str], cluster: EmbeddedCluster
) -> None:
    """On a cluster health shows every node and the cluster state line."""
    report = run_json(capsys, "health", "--url", cluster.url)
    assert report["cluster"] is True and report["healthy"] is True
    assert len(report["nodes"]) == len(cluster.nodes)
    assert report["cluster_state"]["state"] == "ok"
    code, out, _ = run(capsys, "health", "--url", cluster.url)
    assert code == 0
    assert any(
        line.startswith("cluster state ok: 16384/16384 slots ok") for line in out.splitlines()
    )


# -- stats -----------------------------------------------------------------------------------


@pytest.mark.private_server
def test_stats_count_refreshes_and_names_slow_scripts(
    capsys: pytest.CaptureFixture[str], private_server: EmbeddedServer, pr: redis.Redis
) -> None:
    """stats --json --count 2 prints two documents: EVALSHA calls and SLOWLOG entries by name."""
    url = private_server.url.rsplit("/", 1)[0] + "/9"
    before = pr.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    pr.config_set("slowlog-log-slower-than", 0)  # every command is "slow"
    try:
        pr.slowlog_reset()
        client = redis.Redis.from_url(url)
        pinged = Engine(client)
        pinged.run(pinged.call("core_ping", (), ("x",)))
        client.close()
        code, out, err = run(
            capsys, "stats", "--url", url, "--json", "--count", "2", "--watch", "0.05"
        )
    finally:
        pr.config_set("slowlog-log-slower-than", before)
    assert (code, err) == (0, "")
    first, second = (json.loads(line) for line in out.splitlines())
    assert [first["refresh"], second["refresh"]] == [1, 2]
    assert first["commands"]["evalsha_ro"]["calls"] >= 1
    assert "evalsha_ro" in second["calls_per_second"]
    assert "core_ping" in {entry["script"] for entry in first["slow"]}
    assert first["scripts"] == {} and first["engine_scope"] == "process"


def test_stats_text_says_engine_figures_are_per_process(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine
) -> None:
    """stats shows the server's script commands and says the engine's own figures are per process."""
    engine.run(engine.call("core_ping"))
    code, out, err = run(capsys, "stats", "--url", url)
    assert (code, err) == (0, "")
    assert "COMMAND" in out and "evalsha" in out
    assert "counted per process" in out
    assert "-- refresh" not in out


def test_stats_count_implies_watch(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """--count N alone refreshes N times, each under a refresh line, and ends by itself."""
    code, out, _ = run(capsys, "stats", "--url", url, "--count", "1")
    refreshes = [line for line in out.splitlines() if line.startswith("-- refresh")]
    assert code == 0
    assert len(refreshes) == 1 and refreshes[0].startswith("-- refresh 1 at ")


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_lock_shows_holder_ttl_fence_and_waiters(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine, r: redis.Redis
) -> None:
    """inspect lock reads the holder's token, time left, fencing token and queued waiters."""
    ops = LockOps()
    assert engine.run(ops.acquire("orders", "tok-1", 30, fencing=True))
    assert not engine.run(ops.acquire("orders", "tok-2", 30, wait="will", longest=20))
    before = contents(r)
    data = run_json(capsys, "inspect", "lock", "orders", "--url", url)
    assert data["locked"] is True and data["holder"] == "tok-1"
    assert 0 < data["ttl"] <= 30 and data["fence"] == 1
    assert [(w["token"], w["fencing"]) for w in data["waiters"]] == [("tok-2", False)]
    assert 0 < data["waiters"][0]["expires_in"] <= 20.25
    code, out, _ = run(capsys, "inspect", "lock", "orders", "--url", url)
    assert code == 0
    assert out.splitlines()[0] == "lock 'orders': held"
    assert "1 queued" in out and "tok-2" in out
    assert contents(r) == before  # nothing was written


def test_inspect_lock_free(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """A lock nobody holds reads as free, with no holder and no waiters; exit 0."""
    data = run_json(capsys, "inspect", "lock", "idle", "--url", url)
    assert (data["locked"], data["holder"], data["waiters"], data["fence"]) == (
        False,
        None,
        [],
        None,
    )


def test_inspect_semaphore_counts_permits(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine
) -> None:
    """inspect semaphore lists the permits held and, with --limit, how many are free."""
    sem = Semaphore(engine, "exports", limit=3, ttl=30)
    permits = {sem.acquire(), sem.acquire()}
    data = run_json(capsys, "inspect", "semaphore", "exports", "--limit", "3", "--url", url)
    assert (data["held"], data["available"]) == (2, 1)
    assert {p["permit"] for p in data["permits"]} == permits
    code, out, _ = run(capsys, "inspect", "semaphore", "exports", "--url", url)
    assert (code, out.splitlines()[0]) == (0, "semaphore 'exports': 2 permits held")


def test_inspect_limiter_peeks_without_consuming(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine, r: redis.Redis
) -> None:
    """inspect limiter answers what a hit would get and consumes nothing, however often it runs."""
    limiter = RateLimiter(engine, Limit(10, 60, "fixed_window"))
    assert limiter.hit("u42", cost=3)
    argv = ("inspect", "limiter", "u42", "--limit", "10", "--period", "60")
    argv += ("--algorithm", "fixed_window", "--url", url)
    before = contents(r)
    for _ in range(3):
        data = run_json(capsys, *argv)
        assert (data["allowed"], data["remaining"], data["state"]) == (True, 7, True)
    assert contents(r) == before
    denied = run_json(capsys, *argv, "--cost", "8")
    assert denied["allowed"] is False and denied["retry_after"] > 0
    assert limiter.peek("u42").remaining == 7
    fresh = run_json(
        capsys, "inspect", "limiter", "nobody", "--limit", "5", "--period", "1", "--url", url
    )
    assert (fresh["remaining"], fresh["state"]) == (5, False)


def test_inspect_counter_value_ttl_and_absent(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine
) -> None:
    """inspect counter reads the value and its TTL; an absent counter reads 0, exit 0."""
    Counters(engine).increment_with_limit("visits", 5, maximum=100, ttl=60)
    data = run_json(capsys, "inspect", "counter", "visits", "--url", url)
    assert (data["value"], data["exists"], data["events"]) == (5, True, 0)
    assert 0 < data["ttl"] <= 60
    absent = run_json(capsys, "inspect", "counter", "never", "--url", url)
    assert (absent["value"], absent["exists"], absent["ttl"]) == (0, False, None)


def test_inspect_record_value_version_and_tombstone(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine
) -> None:
    """inspect record shows value and version; after a delete, the tombstone's version."""
    records = Versioned(engine)
    assert records.set_if_version("cart:42", '{"items": [1]}', 0)
    data = run_json(capsys, "inspect", "record", "cart:42", "--url", url)
    assert (data["state"], data["version"], data["value"]) == ("present", 1, '{"items": [1]}')
    assert records.delete("cart:42", 1)
    gone = run_json(capsys, "inspect", "record", "cart:42", "--url", url)
    assert (gone["state"], gone["version"], gone["value"]) == ("deleted", 2, None)
    code, out, _ = run(capsys, "inspect", "record", "never", "--url", url)
    assert (code, out.splitlines()[0]) == (0, "record 'never': absent, version 0")


def test_inspect_product_counts_expired_units_without_reaping(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine, r: redis.Redis
) -> None:
    """inspect product shows stock, reserved (expired units apart) and sold; it reaps nothing."""
    shop = Inventory(engine, "shop")
    shop.add_product("sku-1", stock=50, price=1999, name="Mug")
    shop.reserve("sku-1", 2, "alice", ttl=300)
    shop.reserve("sku-1", 3, "bob", ttl=0.05)
    time.sleep(0.1)
    before = contents(r)
    data = run_json(capsys, "inspect", "product", "shop", "sku-1", "--url", url)
    assert (data["stock"], data["reserved"], data["sold"], data["expired"]) == (45, 5, 0, 3)
    assert (data["total"], data["price"], data["name"]) == (50, 1999, "Mug")
    assert contents(r) == before
    code, _, err = run(capsys, "inspect", "product", "shop", "sku-9", "--url", url)
    assert code == 1 and "sku-9" in err


def test_inspect_reservation_and_a_missing_one(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine
) -> None:
    """inspect reservation shows status, customer, items and time left; an unknown id exits 1."""
    shop = Inventory(engine, "shop")
    shop.add_product("sku-1", stock=5, price=100)
    shop.reserve("sku-1", 2, "alice", ttl=300, reservation="r1")
    data = run_json(capsys, "inspect", "reservation", "shop", "r1", "--url", url)
    assert (data["status"], data["customer"], data["items"]) == ("reserved", "alice", {"sku-1": 2})
    assert 290 < data["expires_in"] <= 300
    code, out, err = run(capsys, "inspect", "reservation", "shop", "r2", "--url", url)
    assert (code, out) == (1, "")
    assert (
        err
        == "redlua: no reservation 'r2' in inventory 'shop' (never made, or forgotten some time after it settled)\n"
    )


def test_inspect_account_balance_due_holds_and_history(
    capsys: pytest.CaptureFixture[str], url: str, engine: Engine, r: redis.Redis
) -> None:
    """inspect account: balance, held with its due part, available, the latest entries; read-only."""
    bank = Ledger(engine, "bank")
    bank.create("alice", "USD", opening=Decimal("100.00"))
    bank.create("bob", "USD")
    bank.transfer("alice", "bob", Decimal("12.50"), memo="lunch")
    bank.hold("alice", "bob", Decimal("5.00"), ttl=0.05)
    bank.hold("alice", "bob", Decimal("1.00"), ttl=300)
    time.sleep(0.1)
    before = contents(r)
    data = run_json(capsys, "inspect", "account", "bank", "alice", "--history", "5", "--url", url)
    assert (data["balance"], data["held"], data["due"]) == (8750, 600, 500)
    assert data["available"] == 8750 - 100
    assert [e["kind"] for e in data["history"]] == ["transfer", "open"]
    assert contents(r) == before
    assert bank.info("alice").available == data["available"]  # what the library says once reaped
    code, out, _ = run(capsys, "inspect", "account", "bank", "alice", "--url", url)
    assert code == 0
    assert out.splitlines()[0] == "account 'alice' in ledger 'bank': active, USD"
    assert "87.50 USD" in out and "latest" not in out
    code, _, err = run(capsys, "inspect", "account", "bank", "carol", "--url", url)
    assert (code, err) == (1, "redlua: no account 'carol' in ledger 'bank'\n")


def test_inspect_link_and_pods_are_the_stateful_commands(
    capsys: pytest.CaptureFixture[str], url: str, server_url: str
) -> None:
    """inspect link/pods answer as links get and pods list do."""
    assert run(capsys, "links", "set", "u42", "game", "3", "--url", url)[0] == 0
    link = run_json(capsys, "inspect", "link", "u42", "--service", "game", "--url", url)
    assert link == run_json(capsys, "links", "get", "u42", "game", "--url", url)
    assert link["pod"] == 3
    client = redis.Redis.from_url(server_url, decode_responses=True)
    PodRegistry(Engine(client), KeySchema.sf("default"), "game", 0, load=2).heartbeat()
    client.close()
    pods = run_json(capsys, "inspect", "pods", "--service", "game", "--url", url)
    assert [(p["pod"], p["load"]) for p in pods["pods"]] == [(0, 2)]


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "lock", "a{b}"],
        ["inspect", "limiter", "u", "--limit", "0", "--period", "1"],
        ["inspect", "limiter", "u", "--limit", "5", "--period", "1", "--cost", "6"],
        [
            "inspect",
            "limiter",
            "u",
            "--limit",
            "5",
            "--period",
            "1",
            "--algorithm",
            "fixed_window",
            "--burst",
            "2",
        ],
        ["inspect", "reservation", "shop", "bad id"],
        ["inspect", "account", "bank{x}", "alice"],
        ["health", "--timeout", "0"],
        ["stats", "--count", "0"],
        ["profile", "core_ping", "-n", "0"],
        ["profile", "no_such_script"],
        ["profile", "locks_owner"],
    ],
)
def test_bad_input_exits_2_before_connecting(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A bad name, limit, count or script exits 2 with one line, without reaching any server."""
    code, out, err = run(capsys, *argv, "--url", f"redis://127.0.0.1:{free_port()}/0")
    assert (code, out) == (2, "")
    assert err.count("\n") >= 1 and "cannot reach" not in err


def test_inspect_unreachable_server_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """inspect on a server that does not answer exits 1 naming the URL."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = run(capsys, "inspect", "counter", "c", "--url", url)
    assert (code, out) == (1, "")
    assert f"cannot reach {url}" in err


@pytest.mark.cluster
def test_inspect_on_a_cluster_reads_one_slot_in_one_snapshot(
    capsys: pytest.CaptureFixture[str], cluster: EmbeddedCluster
) -> None:
    """inspect lock and account work on a cluster: the snapshot and the clock go to the key's node."""
    host, port = cluster.startup_nodes[0]
    client = redis.cluster.RedisCluster(host=host, port=port)
    client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    engine = Engine(client)
    assert engine.run(LockOps().acquire("orders", "tok-1", 30))
    bank = Ledger(engine, "bank")
    bank.create("alice", "EUR", opening=Decimal("10.00"))
    bank.create("bob", "EUR")
    bank.hold("alice", "bob", 300, ttl=0.05)
    bank.hold("alice", "bob", 100, ttl=300)
    time.sleep(0.1)
    client.close()
    lock = run_json(capsys, "inspect", "lock", "orders", "--url", cluster.url)
    assert (lock["holder"], lock["waiters"]) == ("tok-1", [])
    account = run_json(capsys, "inspect", "account", "bank", "alice", "--url", cluster.url)
    assert (account["balance"], account["held"], account["due"]) == (1000, 400, 300)
    assert (account["available"], account["currency"]) == (900, "EUR")


# -- profile ---------------------------------------------------------------------------------


def test_profile_of_a_shipped_script(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """profile NAME -n N runs N times: ordered percentiles and ops/s, as JSON and as text."""
    data = run_json(capsys, "profile", "core_ping", "--arg", "x", "-n", "50", "--url", url)
    assert (data["script"], data["iterations"], data["errors"]) == ("core_ping", 50, 0)
    assert data["min"] <= data["p50"] <= data["p95"] <= data["p99"] <= data["max"]
    assert data["ops_per_sec"] > 0
    code, out, _ = run(capsys, "profile", "locks_owner", "--key", "k", "-n", "20", "--url", url)
    assert code == 0
    assert out.splitlines()[0].startswith("locks_owner on ") and "20 runs, 0 errors" in out
    assert [line.split()[0] for line in out.splitlines()[1:8]] == [
        "p50", "p95", "p99", "mean", "min", "max", "ops/s",
    ]  # fmt: skip


def test_profile_of_a_lua_file_with_a_runtime_error(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, r: redis.Redis
) -> None:
    """A .lua file that fails on its first run exits 1 naming file, line and source; nothing profiled."""
    script = tmp_path / "bump.lua"
    script.write_text("local key = KEYS[1]\nreturn redis.call('INCR', key)\n")
    r.hset("not-a-counter", "a", 1)
    code, out, err = run(capsys, "profile", str(script), "--key", "not-a-counter", "--url", url)
    assert (code, out) == (1, "")
    assert err.startswith(f"redlua: {script}:2: ScriptError: WRONGTYPE")
    assert "[return redis.call('INCR', key)]" in err
    data = run_json(capsys, "profile", str(script), "--key", "counter", "-n", "10", "--url", url)
    assert (data["script"], data["iterations"]) == ("bump", 10)
    assert r.get("counter") == "11"  # one checked run, then ten timed ones


# -- bench -----------------------------------------------------------------------------------


def test_bench_passes_help_through(capsys: pytest.CaptureFixture[str]) -> None:
    """bench --help reaches bench/run.py, whose usage comes back on stdout."""
    if not (_cli_ops.BENCH_DIR / "run.py").is_file():
        pytest.skip("no bench/ in this checkout")
    code, out, err = run(capsys, "bench", "--help")
    assert code == 0
    assert out.startswith("usage: run.py") and "--cycles" in out
    assert err.startswith("redlua: running bench/run.py --help")


def test_bench_without_a_checkout_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without bench/ next to the package, bench exits 1 saying where it looked and why."""
    monkeypatch.setattr(_cli_ops, "BENCH_DIR", tmp_path / "bench")
    code, out, err = run(capsys, "bench", "--cycles", "3")
    assert (code, out) == (1, "")
    assert err.startswith(f"redlua: no benchmark suite at {tmp_path / 'bench'}")
    assert "source checkout" in err


def test_relay_numbers_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """relay copies a child's output and numbers and times its per-case progress lines."""
    child = (
        "import sys\n"
        "print('server x', file=sys.stderr)\n"
        "print('  engine.run: 0.970 [0.9-1.0]', file=sys.stderr)\n"
        "print('  locks.contended: done', file=sys.stderr)\n"
        "print('| table |')\n"
        "sys.exit(3)\n"
    )
    assert _cli_ops.relay([sys.executable, "-c", child]) == 3
    out, err = capsys.readouterr()
    assert out == "| table |\n"
    lines = err.splitlines()
    assert lines[0] == "server x"
    assert lines[1].startswith("[  1 done,") and lines[1].endswith("s] engine.run: 0.970 [0.9-1.0]")
    assert lines[2].startswith("[  2 done,") and lines[2].endswith("s] locks.contended: done")
