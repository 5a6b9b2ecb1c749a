"""Tests for the ``redlua`` command line, against private embedded servers only."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.cluster

import redlua
from redlua import _demo, _demo_recipes, _registry, cli
from redlua._script import Contract, Script
from redlua.server import EmbeddedServer

SRC_DIR = str(Path(redlua.__file__).resolve().parents[1])
PING = redlua.shipped_scripts()["core_ping"]
TITLES = [scenario.title for scenario in _demo.SCENARIOS]
FAILING_SOURCE = """\
--[[
  Increment a counter (used by the tests to hit WRONGTYPE).

  KEYS[1]  counter key

  Returns  the new value.
]]
return redis.call('INCR', KEYS[1])
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as srv:
        yield srv


@pytest.fixture
def url(server: EmbeddedServer) -> str:
    return server.url


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[redis.Redis]:
    with server.client() as conn:
        yield conn


@pytest.fixture(autouse=True)
def _no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``redlua *argv`` in-process; return the exit code, stdout and stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def free_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """Return the environment for ``python -m redlua``: src on the path, no REDIS_URL."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_DIR, env.get("PYTHONPATH")) if p)
    return env


def refused(url: str) -> bool:
    """Return True when nothing answers at *url* any more."""
    with redis.Redis.from_url(url, socket_connect_timeout=1) as conn:
        try:
            conn.ping()
        except redis.exceptions.ConnectionError:
            return True
    return False


# -- parsing and no-server commands --------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"redlua {redlua.__version__}")


@pytest.mark.parametrize("argv", [[], ["nope"], ["scripts"], ["run"], ["server", "--port", "x"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A missing or unknown command or a bad option value exits 2 with usage on stderr."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert "usage: redlua" in err


def test_scripts_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    """scripts list shows name, short sha, flags, KEYS/ARGV counts and purpose."""
    code, out, _ = run(capsys, "scripts", "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["NAME", "SHA", "FLAGS", "KEYS", "ARGV"]
    row = next(r for r in rows if r.startswith("core_ping "))
    assert row.split()[:5] == ["core_ping", PING.sha[:12], "no-writes", "0", "0-1"]
    assert PING.contract is not None
    assert row.endswith(PING.contract.purpose)


def test_scripts_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    """scripts list --json prints one object per shipped script."""
    code, out, _ = run(capsys, "scripts", "list", "--json")
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert code == 0
    assert set(entries) == set(redlua.shipped_scripts())
    ping = entries["core_ping"]
    assert (ping["sha"], ping["flags"], ping["keys"], ping["argv"]) == (
        PING.sha,
        ["no-writes"],
        "0",
        "0-1",
    )


def test_arities_show_variadic_and_optional() -> None:
    """KEYS/ARGV counts read 2+ for a variadic tail and 1-2 for an optional argument."""
    variadic = Contract("p", keys=("a", "b"), argv=("x",), returns="r", keys_variadic=True)
    optional = Contract("p", keys=(), argv=("x", "y"), returns="r", argv_required=1)
    many = Contract("p", keys=("a",), argv=("x",), returns="r", argv_variadic=True)
    fixed = Contract("p", keys=("a",), argv=("x",), returns="r", argv_required=1)
    assert cli.arities(variadic) == ("2+", "0-1")
    assert cli.arities(fixed) == ("1", "1")
    assert cli.arities(optional) == ("0", "1-2")
    assert cli.arities(many) == ("1", "0+")
    assert cli.arities(None) == ("?", "?")


def test_scripts_show(capsys: pytest.CaptureFixture[str]) -> None:
    """scripts show prints the contract, then the exact source."""
    code, out, _ = run(capsys, "scripts", "show", "core_ping")
    assert code == 0
    assert PING.sha in out
    assert re.search(r"^  ARGV\[1\]\s+\(optional\)", out, re.M)
    assert re.search(r"^  idempotent\s+yes$", out, re.M)
    assert out.endswith(PING.source.rstrip("\n") + "\n")


def test_scripts_show_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    """scripts show of an unknown name exits 2 with a hint on stderr."""
    code, out, err = run(capsys, "scripts", "show", "core_pong")
    assert (code, out) == (2, "")
    assert "no shipped script named 'core_pong'" in err
    assert "core_ping" in err


# -- script management ---------------------------------------------------------------------


@pytest.mark.private_server
def test_scripts_flush_load_exists(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """flush empties the cache, exists reports it, load fills it again."""
    assert run(capsys, "scripts", "flush", "--url", url)[:2] == (0, "flushed the script cache\n")
    code, out, _ = run(capsys, "scripts", "exists", "--url", url)
    assert code == 0
    assert re.search(r"^core_ping\s+not loaded$", out, re.M)
    code, out, _ = run(capsys, "scripts", "load", "--url", url)
    assert code == 0
    assert f"core_ping  {PING.sha[:12]}" in out
    assert re.search(r"^loaded \d+ scripts?$", out, re.M)
    code, out, _ = run(capsys, "scripts", "exists", "--url", url)
    assert re.search(r"^core_ping\s+loaded$", out, re.M)


def test_scripts_kill_when_idle(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """scripts kill with nothing running says so and exits 0."""
    assert run(capsys, "scripts", "kill", "--url", url)[:2] == (0, "no script running\n")


@pytest.mark.private_server
def test_scripts_kill_stops_a_running_script(
    capsys: pytest.CaptureFixture[str], server: EmbeddedServer, client: redis.Redis
) -> None:
    """scripts kill stops a script stuck in a loop and prints killed."""
    client.config_set("lua-time-limit", 50)
    errors: list[Exception] = []

    def loop_forever() -> None:
        with server.client() as own:
            try:
                own.eval("while true do end", 0)
            except redis.exceptions.ResponseError as exc:
                errors.append(exc)

    thread = threading.Thread(target=loop_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        out = ""
        while out != "killed\n" and time.monotonic() < deadline:
            time.sleep(0.05)
            code, out, _ = run(capsys, "scripts", "kill", "--url", server.url)
            assert code == 0
    finally:
        thread.join(10)
        client.config_set("lua-time-limit", 5000)
    assert out == "killed\n"
    assert errors
    assert "killed" in str(errors[0]).lower()


# -- run -------------------------------------------------------------------------------------


def test_run_prints_one_item_per_line(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """run prints each item of a list reply on its own line, decoded as UTF-8."""
    code, out, err = run(capsys, "run", "core_ping", "--arg", "héllo", "--url", url)
    name, version, clock, echo = out.splitlines()
    assert code == 0
    assert name in ("valkey", "redis")
    assert version
    assert clock.isdigit()
    assert echo == "héllo"
    assert err == ""


def test_run_json(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """run --json prints the reply as a JSON array of strings."""
    code, out, _ = run(capsys, "run", "core_ping", "--arg", "x", "--json", "--url", url)
    reply = json.loads(out)
    assert code == 0
    assert reply[0] in ("valkey", "redis")
    assert reply[3] == "x"


def test_run_unknown_script(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """run of an unknown script name exits 2 before connecting."""
    code, out, err = run(capsys, "run", "nope", "--url", url)
    assert (code, out) == (2, "")
    assert "no shipped script named 'nope'" in err


def test_run_breaking_the_contract(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """run with more keys than the contract allows exits 2 with the contract's message."""
    code, out, err = run(capsys, "run", "core_ping", "--key", "k", "--url", url)
    assert (code, out) == (2, "")
    assert "core_ping takes 0 keys, got 1" in err


def test_run_script_error_exits_1(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    client: redis.Redis,
) -> None:
    """A script that fails at run time prints its error, script and line, and exits 1."""
    real = dict(_registry.shipped_scripts())
    real["test_incr"] = Script.from_source("test_incr", FAILING_SOURCE)
    monkeypatch.setattr(_registry, "shipped_scripts", lambda: real)
    monkeypatch.setattr(cli, "shipped_scripts", lambda: real)
    key = "redlua:test:cli:list"
    client.rpush(key, "x")
    try:
        code, out, err = run(capsys, "run", "test_incr", "--key", key, "--url", url)
    finally:
        client.delete(key)
    assert (code, out) == (1, "")
    assert "WRONGTYPE" in err
    assert "script test_incr, line 8" in err


def test_reply_lines_nested_nil_and_binary() -> None:
    """Nested lists are indented, nil and empty lists are named, bad UTF-8 is escaped."""
    reply = [b"a", [b"b", None, []], 7, b"\xff"]
    assert list(cli.reply_lines(reply)) == ["a", "  b", "  (nil)", "    (empty list)", "7", "\\xff"]
    assert list(cli.reply_lines(None)) == ["(nil)"]
    assert cli.to_json([b"a", [None, 1]]) == ["a", [None, 1]]


# -- connection handling ---------------------------------------------------------------------


def test_unreachable_server_names_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    """A server that does not answer exits 1 with the URL in a one-line message."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out, err = run(capsys, "run", "core_ping", "--url", url)
    assert (code, out) == (1, "")
    assert f"cannot reach {url}" in err


def test_password_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    """The password of a URL never appears in an error message."""
    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
    code, _, err = run(capsys, "scripts", "exists", "--url", url)
    assert code == 1
    assert "s3cret" not in err
    assert "user:***@127.0.0.1" in err


def test_invalid_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A URL redis-py cannot parse exits 2."""
    code, _, err = run(capsys, "scripts", "exists", "--url", "http://example")
    assert code == 2
    assert "invalid URL http://example" in err


def test_redis_url_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Without --url, REDIS_URL is used and no temporary server is started."""
    monkeypatch.setenv("REDIS_URL", url)
    code, out, err = run(capsys, "run", "core_ping", "--arg", "env")
    assert (code, out.splitlines()[-1], err) == (0, "env", "")


def test_temporary_server_is_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --url or REDIS_URL a private server serves the command and is stopped after."""
    code, out, err = run(capsys, "scripts", "exists")
    found = re.search(r"temporary \S+ \S+ server at (\S+)", err)
    assert code == 0
    assert "core_ping" in out
    assert found is not None
    assert refused(found.group(1))


# -- validate --------------------------------------------------------------------------------


def test_validate_ok(capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str) -> None:
    """validate of a good file prints ok and the sha the server computed."""
    source = "return redis.call('GET', KEYS[1])\n"
    path = tmp_path / "good.lua"
    path.write_text(source)
    code, out, _ = run(capsys, "validate", str(path), "--url", url)
    assert (code, out) == (0, f"ok {hashlib.sha1(source.encode()).hexdigest()}\n")


def test_validate_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str) -> None:
    """validate of a broken file prints FILE:LINE: message and the line, and exits 1."""
    path = tmp_path / "bad.lua"
    path.write_text("local x = 1\nlocal y = x +* 2\nreturn y\n")
    code, out, _ = run(capsys, "validate", str(path), "--url", url)
    first, second = out.splitlines()
    assert code == 1
    assert first.startswith(f"{path}:2: ")
    assert "'*'" in first
    assert second.strip() == "2 | local y = x +* 2"


def test_validate_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """validate - reads the script from stdin."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("return 1"))
    code, out, _ = run(capsys, "validate", "-", "--url", url)
    assert (code, out.split()[0]) == (0, "ok")


def test_validate_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """validate of a missing file exits 2 without starting a server."""
    code, out, err = run(capsys, "validate", str(tmp_path / "missing.lua"))
    assert (code, out) == (2, "")
    assert "cannot read" in err
    assert "temporary" not in err


# -- demo ------------------------------------------------------------------------------------


def test_demo_on_a_shared_server_touches_nothing_else(
    capsys: pytest.CaptureFixture[str], url: str, client: redis.Redis
) -> None:
    """demo --url passes, keeps other keys and scripts, and deletes its own keys."""
    client.set("redlua:test:cli:keep", "1")
    sha = client.script_load("return 'keep'")
    try:
        code, out, _ = run(capsys, "demo", "--url", url)
        assert code == 0, out
        assert "SCRIPT FLUSH skipped" in out
        assert client.get("redlua:test:cli:keep") == b"1"
        assert client.script_exists(sha) == [True]
        assert client.keys("redlua:demo:*") == []
        assert client.keys("sf:{redlua-demo-*") == []
    finally:
        client.delete("redlua:test:cli:keep")


def test_demo_failed_check_exits_1(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    client: redis.Redis,
) -> None:
    """A failed check prints FAILED, the demo still cleans up, and exits 1."""

    def broken(engine: redlua.Engine, out: _demo.Narrator) -> None:
        engine.client.set(out.key("written"), "1")
        out.check(False, "a check that cannot hold")

    monkeypatch.setattr(_demo, "SCENARIOS", (_demo.Scenario("broken on purpose", broken),))
    code, out, _ = run(capsys, "demo", "--url", url)
    assert code == 1
    assert "FAILED: a check that cannot hold" in out
    assert "1 of 1 scenarios failed: broken on purpose" in out
    assert client.keys("redlua:demo:*") == []


def test_demo_every_scenario_on_the_test_server(server_url: str, r: redis.Redis) -> None:
    """run_demo plays every scenario (each recipe's too) with no failure and leaves no key."""
    assert {"locks and semaphores", "ledger", "inventory", "batches"} <= set(TITLES)
    stream = io.StringIO()
    with redis.Redis.from_url(server_url) as conn:
        failed = _demo.run_demo(redlua.Engine(conn), stream, url=server_url, private=False)
    out = stream.getvalue()
    assert failed == 0, out
    assert "FAILED" not in out
    for number, title in enumerate(TITLES, 1):
        assert f"[{number}/{len(TITLES)}] {title}\n" in out
    assert f"all {len(TITLES)} scenarios passed" in out
    assert r.keys("*") == []


def test_demo_recipe_race_error_fails_the_scenario(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    client: redis.Redis,
) -> None:
    """An error in a recipe scenario's racing thread fails that scenario; the others still run."""

    def crashing(engine: redlua.Engine, out: _demo.Narrator) -> None:
        engine.client.set(out.key("written"), "1")
        _demo_recipes.together(lambda i: 1 // (i - 3))  # thread 3 divides by zero

    scenarios = (
        _demo.Scenario("crashes in a thread", crashing),
        _demo.Scenario(*_demo_recipes.RECIPES[-1]),
    )
    monkeypatch.setattr(_demo, "SCENARIOS", scenarios)
    code, out, _ = run(capsys, "demo", "--url", url)
    assert code == 1
    assert "FAILED: ZeroDivisionError" in out
    assert "ok: each operation has its own result, in order" in out
    assert "1 of 2 scenarios failed: crashes in a thread" in out
    assert client.keys("redlua:demo:*") == []


@pytest.mark.slow
def test_demo_subprocess_on_its_own_server() -> None:
    """python -m redlua demo starts its own server and plays every scenario, recipes included."""
    proc = subprocess.run(
        [sys.executable, "-m", "redlua", "demo"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for title in TITLES:
        assert f"] {title}\n" in proc.stdout
    assert "FAILED" not in proc.stdout
    assert "ok: pod 1 is refused and told the owner: pod 0" in proc.stdout
    assert "ok: exactly 25 reserved, stock 0: never oversold" in proc.stdout
    assert f"all {len(TITLES)} scenarios passed" in proc.stdout
    found = re.search(r"private server at (\S+),", proc.stdout)
    assert found is not None
    assert refused(found.group(1))


# -- server ----------------------------------------------------------------------------------


def serve(*argv: str) -> subprocess.Popen[str]:
    """Start ``python -m redlua server *argv`` with piped stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "redlua", "server", *argv],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    """Send *sig*, wait for the exit; return the exit code and stderr."""
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_server_runs_until_signalled(sig: signal.Signals) -> None:
    """server prints its URLs, answers PING, and stops cleanly with exit 0 on a signal."""
    with serve() as proc:
        try:
            assert proc.stdout is not None
            url, unix_url = proc.stdout.readline().strip(), proc.stdout.readline().strip()
            assert url.startswith("redis://127.0.0.1:")
            assert unix_url.startswith("unix://")
            for address in (url, unix_url):
                with redis.Redis.from_url(address) as conn:
                    assert conn.ping() is True
            code, err = stop(proc, sig)
        finally:
            proc.kill()
    assert code == 0, err
    assert "Traceback" not in err
    assert refused(url)


@pytest.mark.cluster
@pytest.mark.slow
def test_server_cluster_runs_until_signalled() -> None:
    """server --cluster prints a URL a cluster client can use, and stops with exit 0."""
    with serve("--cluster", "--masters", "3") as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("redis://127.0.0.1:")
            with redis.cluster.RedisCluster.from_url(url) as conn:
                assert len(conn.get_primaries()) == 3
                assert conn.set("redlua:test:cli:{x}", "1")
            code, err = stop(proc, signal.SIGINT)
        finally:
            proc.kill()
    assert code == 0, err
    assert refused(url)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--masters", "2"], "--masters and --replicas need --cluster"),
        (["--cluster", "--port", "7000"], "--port cannot be used with --cluster"),
    ],
)
def test_server_option_conflicts(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Cluster-only options without --cluster, or --port with it, exit 2."""
    code, _, err = run(capsys, "server", *argv)
    assert code == 2
    assert message in err
