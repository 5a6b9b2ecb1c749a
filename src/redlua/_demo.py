"""The scenarios of ``redlua demo``: what the engine does, shown and checked on a real server.

A scenario is a function ``(engine, out) -> None``: it prints its steps with
``out.say``, checks each outcome with ``out.check`` (which raises
`DemoCheckFailed` when the check does not hold) and names every key it uses
with ``out.key``, under one random hash tag per run, so the demo touches no
other data and deletes its keys at the end. Recipes append their own
`Scenario` to `SCENARIOS`.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn, TextIO, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._core import Call
from ._demo_recipes import RECIPES
from ._registry import load_script
from ._script import Script
from ._slots import key_slot
from .engine import Engine
from .errors import (
    ConnectionFailedError,
    ContractError,
    CrossSlotError,
    InvalidArgumentError,
    PodUnavailableError,
    ScriptError,
)
from .stateful import DeadPodPolicy, KeySchema, LinkOps, PodRegistry, Router
from .stateful.registry import set_state

E = TypeVar("E", bound=BaseException)

THREADS = 8
INCREMENTS = 200
PROFILE_CALLS = 200
_ABORT = (RedisConnectionError, RedisTimeoutError, ConnectionFailedError)

COUNTER = "demo_counter_add"
COUNTER_SOURCE = """\
--[[
  Add an amount to a counter and return the counter's new value.

  KEYS[1]  counter key
  ARGV[1]  amount to add (integer)

  Returns  the counter's new value as an integer.
  Errors   INVALID_ARGUMENT when the amount is not an integer.
  Idempotent  no
]]
if not string.match(ARGV[1], '^-?%d+$') then
  return redis.error_reply('INVALID_ARGUMENT amount must be an integer, got ' .. ARGV[1])
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


class DemoCheckFailed(Exception):  # noqa: N818 - the name scenarios are written against
    """A check of the demo did not hold."""


class Narrator:
    """Print the demo step by step, check outcomes, and name (and later delete) its keys."""

    def __init__(self, stream: TextIO, *, private: bool) -> None:
        self.stream = stream
        self.private = private  # the demo started this server, so server-wide commands are fine
        self.tag = secrets.token_hex(4)
        self.keys: list[str] = []
        self.checks = 0
        self._started = False

    def title(self, text: str) -> None:
        """Print a title, after a blank line unless it is the first line."""
        self._print(f"\n{text}" if self._started else text)
        self._started = True

    def say(self, text: str) -> None:
        """Print one step, indented under the scenario's title."""
        for line in text.splitlines():
            self._print(f"  {line}")

    def check(self, ok: bool, what: str) -> None:
        """Print whether *what* holds; raise `DemoCheckFailed` when it does not."""
        if not ok:
            self.fail(what)
        self.checks += 1
        self._print(f"  ok: {what}")

    def fail(self, what: str) -> NoReturn:
        """Print that *what* does not hold and raise `DemoCheckFailed`."""
        self._print(f"  FAILED: {what}")
        raise DemoCheckFailed(what)

    def raises(
        self, kinds: type[E] | tuple[type[E], ...], action: Callable[[], Any], what: str
    ) -> E:
        """Check that *action* raises one of *kinds*; return the exception."""
        caught: E | None = None
        try:
            action()
        except kinds as exc:
            caught = exc
        if caught is None:
            self.fail(what)
        self.check(True, what)
        return caught

    def key(self, name: str) -> str:
        """Return the demo key *name*: ``redlua:demo:{<tag>}:<name>``, in one hash slot."""
        return self._remember(f"redlua:demo:{{{self.tag}}}:{name}")

    def key_elsewhere(self, name: str) -> str:
        """Return a demo key *name* in another hash slot than every `key`."""
        home = key_slot(self.key(name))
        for n in range(1, 100):
            candidate = f"redlua:demo:{{{self.tag}.{n}}}:{name}"
            if key_slot(candidate) != home:
                return self._remember(candidate)
        raise AssertionError("no key in another slot")  # pragma: no cover - 1 in 16384 per try

    def remember(self, key: str) -> str:
        """Delete *key* at the end too: a key whose layout the demo does not choose."""
        return self._remember(key)

    @property
    def namespace(self) -> str:
        """Return this run's stateful-links namespace: ``redlua-demo-<tag>``."""
        return f"redlua-demo-{self.tag}"

    def cleanup(self, client: Any) -> bool:
        """Delete every demo key; return False (and say why) if that failed."""
        try:
            deleted = sum(int(client.delete(key)) for key in self.keys)
        except RedisError as exc:
            self._print(f"\ncould not delete the demo keys (redlua:demo:{{{self.tag}...): {exc}")
            return False
        self._print(f"\ndeleted the {deleted} keys the demo wrote")
        return True

    def _remember(self, key: str) -> str:
        if key not in self.keys:
            self.keys.append(key)
        return key

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class Scenario(NamedTuple):
    """One step of the demo: a title and the function that plays it."""

    title: str
    play: Callable[[Engine, Narrator], None]


# -- helpers -------------------------------------------------------------------------------


def counter(engine: Engine) -> Script:
    """Register the demo's INCRBY counter script on *engine* (again is a no-op)."""
    return engine.register(COUNTER, COUNTER_SOURCE)


def add(script: Script, key: str, amount: int | str) -> Call[int]:
    """Return a call of the counter *script* adding *amount* to *key*."""
    return Call(script, (key,), (amount,), decode=int)


def number(raw: Any) -> int:
    """Return a counter read with GET as an int (0 when missing)."""
    return int(raw or 0)


def text(raw: Any) -> str:
    """Decode a reply as UTF-8 text."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def millis(seconds: float | None) -> str:
    """Format a latency in milliseconds."""
    return "-" if seconds is None else f"{seconds * 1000:.3f} ms"


def hammer(step: Callable[[], Any], threads: int = THREADS, times: int = INCREMENTS) -> None:
    """Run *step* *times* times in each of *threads* threads started together."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(times):
                step()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


def exec_count(engine: Engine, key: str) -> int | None:
    """Return how many EXEC the server that holds *key* has run; None if INFO is refused."""
    client = engine.client
    try:
        if engine.cluster:
            info = client.info("commandstats", target_nodes=client.get_node_from_key(key))
        else:
            info = client.info("commandstats")
    except ResponseError:
        return None
    return int(info.get("cmdstat_exec", {}).get("calls", 0))


def line_of(source: str, needle: str) -> int:
    """Return the 1-based number of the first line of *source* containing *needle*."""
    return next(i for i, line in enumerate(source.splitlines(), 1) if needle in line)


# -- scenarios -----------------------------------------------------------------------------


def script_engine(engine: Engine, out: Narrator) -> None:
    """Run a shipped script, register one, and pipeline 100 calls."""
    name, version, clock, echo = map(text, engine.run(Call(load_script("core_ping"), (), ("hi",))))
    out.say(f"core_ping (shipped, read-only) says: {name} {version}, server clock {clock} ms")
    out.check(echo == "hi", "core_ping echoed its argument")
    script = counter(engine)
    purpose = script.contract.purpose if script.contract else ""
    out.say(f"registered {script.name} (sha {script.sha[:12]}): {purpose}")
    key = out.key("counter")
    out.check(engine.run(add(script, key, 5)) == 5, f"{script.name} +5 on a new key returns 5")
    started = time.perf_counter()
    replies = engine.run_many([add(script, key, 1)] * 100)
    elapsed = time.perf_counter() - started
    out.say(f"run_many: 100 calls of +1 sent in one pipelined round trip ({millis(elapsed)})")
    out.check(replies == list(range(6, 106)), "the 100 replies came back in order: 6 .. 105")
    out.check(number(engine.client.get(key)) == 105, f"GET {key} reads 105")


def noscript_recovery(engine: Engine, out: Narrator) -> None:
    """Lose a script from the server's cache and watch the engine load it again."""
    script = counter(engine)
    if out.private:
        engine.flush()
        out.say("SCRIPT FLUSH: the server forgets every script, as after a restart or failover")
    else:
        out.say("SCRIPT FLUSH skipped: the demo did not start this server (--url), and a flush")
        out.say("would drop every client's scripts. Instead, a script the server never saw:")
        source = f"{COUNTER_SOURCE}-- demo run {out.tag}\n"
        script = engine.register(f"{COUNTER}_{out.tag}", source)
    out.check(not engine.exists([script])[script.name], f"{script.name} is not loaded now")
    before = engine.stats().get(script.name)
    reloads = before.reloads if before else 0
    value = engine.run(add(script, out.key("recovered"), 7))
    out.check(value == 7, "the next call just works: EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA")
    after = engine.stats()[script.name].reloads
    out.say(f"stats(): {script.name} reloads went from {reloads} to {after}")
    out.check(after == reloads + 1, "the engine reloaded the script once, transparently")


def atomic_batch(engine: Engine, out: Narrator) -> None:
    """Run calls in one MULTI/EXEC, and see a cross-slot batch refused before any I/O."""
    script = counter(engine)
    cash, escrow = out.key("cash"), out.key("escrow")
    execs = exec_count(engine, cash)
    calls = [add(script, cash, 10), add(script, escrow, 20), add(script, cash, 30)]
    replies = engine.run_many(calls, atomic=True)
    out.say(f"run_many(atomic=True): +10 cash, +20 escrow, +30 cash -> {replies}")
    out.check(replies == [10, 20, 40], "replies 10, 20, 40: all in one transaction")
    after = exec_count(engine, cash)
    if execs is None or after is None:
        out.say("(INFO commandstats is not permitted here: cannot count the EXEC)")
    else:
        out.check(after > execs, f"the server counted {after - execs} more MULTI/EXEC")
    left, right = out.key("left"), out.key_elsewhere("right")
    out.say(f"{left} is in slot {key_slot(left)}, {right} in slot {key_slot(right)}")
    batch = [add(script, left, 1), add(script, right, 1)]
    error = out.raises(
        CrossSlotError, lambda: engine.run_many(batch, atomic=True), "a cross-slot batch raises"
    )
    out.say(f"CrossSlotError: {error}")
    written = sum(int(engine.client.exists(key)) for key in (left, right))
    out.check(written == 0, "nothing was sent: neither key exists")


def race(engine: Engine, out: Narrator) -> None:
    """Increment one counter from 8 threads: atomically, then with a naive GET and SET."""
    total = THREADS * INCREMENTS
    script, key = counter(engine), out.key("race")
    hammer(lambda: engine.run(add(script, key, 1)))
    count = number(engine.client.get(key))
    out.say(f"{THREADS} threads x {INCREMENTS} increments through the engine -> {count}")
    out.check(count == total, f"no update was lost: {total}")
    client, naive = engine.client, out.key("naive")

    def naive_increment() -> None:
        client.set(naive, number(client.get(naive)) + 1)

    hammer(naive_increment)
    count = number(client.get(naive))
    lost = total - count
    out.say(f"the same with GET then SET from Python -> {count}")
    if lost:
        out.say(f"{lost} updates lost: two threads read the same value and both wrote value+1")
    else:
        out.say("no update lost this time, by luck: nothing stops two threads interleaving")


def errors(engine: Engine, out: Narrator) -> None:
    """Show a script error with its line, a script-defined error, and bad input caught early."""
    script, key = counter(engine), out.key("a-list")
    engine.client.rpush(key, "not a number")
    line = line_of(script.source, "INCRBY")
    error = out.raises(
        ScriptError, lambda: engine.run(add(script, key, 1)), "INCRBY on a list raises ScriptError"
    )
    out.say(f"ScriptError: {error}")
    where = (error.code, error.script, error.line)
    out.check(
        where == ("WRONGTYPE", script.name, line), f"it names WRONGTYPE, the script, line {line}"
    )
    refused = out.raises(
        InvalidArgumentError,
        lambda: engine.run(add(script, out.key("counter"), "ten")),
        "an amount of 'ten' raises InvalidArgumentError (the script's redis.error_reply)",
    )
    out.say(f"InvalidArgumentError: {refused}")
    bad_key: Any = 42
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("an argument of float('inf')", lambda: Call(script, (key,), (math.inf,))),
        ("a key that is an int", lambda: Call(script, (bad_key,), (1,))),
        ("two keys for a one-key script", lambda: Call(script, (key, key), (1,))),
    ]
    for label, build in cases:
        exc = out.raises(
            (TypeError, ValueError), build, f"{label} is refused when the Call is built"
        )
        kind = "ContractError" if isinstance(exc, ContractError) else type(exc).__name__
        out.say(f"{kind}: {exc} (nothing was sent)")


def stats_and_profile(engine: Engine, out: Narrator) -> None:
    """Profile one call, then print the engine's per-script statistics."""
    profile = engine.profile(Call(load_script("core_ping")), PROFILE_CALLS)
    out.say(
        f"profile core_ping x{PROFILE_CALLS}: p50 {millis(profile.p50)}, "
        f"p99 {millis(profile.p99)}, {profile.ops_per_sec:,.0f} calls/s"
    )
    out.check(profile.succeeded == PROFILE_CALLS, f"{PROFILE_CALLS} calls, no error")
    stats = engine.stats()
    width = max(len(name) for name in stats)
    out.say(f"{'script':<{width}}  calls  errors  reloads  retries         p50         p99")
    for name, s in stats.items():
        out.say(
            f"{name:<{width}}  {s.calls:>5}  {s.errors:>6}  {s.reloads:>7}  {s.retries:>7}"
            f"  {millis(s.p50):>10}  {millis(s.p99):>10}"
        )
    out.check(stats["core_ping"].calls >= PROFILE_CALLS, "stats() counted every call")


SERVICE = "game"
PODS = 3
NEW_UIDS = 30


def _uid_keys(schema: KeySchema, out: Narrator, uid: str) -> str:
    """Return *uid* after naming its three keys for the clean-up."""
    for key in (
        schema.uid_key(uid),
        schema.link_key(uid, SERVICE),
        schema.version_key(uid, SERVICE),
    ):
        out.remember(key)
    return uid


def stateful_links(engine: Engine, out: Narrator) -> None:
    """Pods beat, a caller routes new UIDs, a pod claims one, one pod drains, another dies."""
    schema = KeySchema.sf(out.namespace)
    for key in (schema.state_key(SERVICE), schema.meta_key(SERVICE), schema.load_key(SERVICE)):
        out.remember(key)
    client = engine.client
    registries = [
        PodRegistry(engine, schema, SERVICE, pod, address=f"game-{pod}.game:7000")
        for pod in range(PODS)
    ]
    for registry in registries:
        registry.heartbeat()
    view = registries[0].view()
    out.say(f"{PODS} pods of {SERVICE!r} beat once (PodRegistry.heartbeat, server clock)")
    out.check(len(view.available()) == PODS, f"the view sees {PODS} pods alive and ready")

    uids = [_uid_keys(schema, out, f"player-{i}") for i in range(NEW_UIDS)]
    caller = Router(engine, schema)
    placed = {uid: caller.route(uid, SERVICE) for uid in uids}
    spread = Counter(placed.values())
    out.say(f"a caller routes {NEW_UIDS} new UIDs: pod -> UIDs {dict(sorted(spread.items()))}")
    share = math.ceil(NEW_UIDS / PODS)
    out.check(
        max(spread.values()) <= share + 1,
        f"no pod got more than its share + 1 ({share + 1}): each new link reserved load in"
        f" {schema.load_key(SERVICE)}",
    )
    out.say("(a least-load choice from heartbeats alone, as the legacy statefulComputeLinkIfAbsent")
    out.say(" does it, sends every new UID between two heartbeats to the same pod)")
    ttl = int(client.ttl(schema.link_key(uids[0], SERVICE)))
    out.check(0 < ttl <= caller.temp_ttl, f"callers write temporary links: TTL {ttl} s")

    uid = next(u for u in uids if placed[u] == 0)
    claim = Router(engine, schema, pod=0).claim(uid, SERVICE)
    out.say(f"pod 0 claims {uid}: {claim}")
    persistent = int(client.ttl(schema.link_key(uid, SERVICE))) == -1
    out.check(claim.ok and persistent, "the claim made the link persistent")
    out.say(f"fencing token {claim.token}: pod 0 passes it to its state store with each write")
    rival = Router(engine, schema, pod=1).claim(uid, SERVICE)
    out.say(f"pod 1 claims {uid}: {rival}")
    out.check(not rival.ok and rival.owner == 0, "pod 1 is refused and told the owner: pod 0")

    link_key, uid_key = schema.link_key(uid, SERVICE), schema.uid_key(uid)
    raw_link = text(client.get(link_key))
    raw_hash = {text(k): text(v) for k, v in client.hgetall(uid_key).items()}
    out.say("what a Java or Go service reads:")
    out.say(f"  GET {link_key} -> {raw_link!r}")
    out.say(f"  HGETALL {uid_key} -> {raw_hash}")
    out.check(
        raw_link == "0" and raw_hash == {SERVICE: "0"},
        "the wire format: the pod as a decimal string, persistent links in the UID hash",
    )
    state = text(client.hget(schema.state_key(SERVICE), "0"))
    out.say(f"  HGET {schema.state_key(SERVICE)} 0 -> {state!r}")
    out.check(bool(re.fullmatch(r"\d+-\d+", state)), "pod states read <load>-<epochMillis>")
    version = text(client.get(schema.version_key(uid, SERVICE)))
    out.say(f"redlua adds {schema.version_key(uid, SERVICE)} = {version!r} (the fencing version)")
    out.say(
        f"and {schema.meta_key(SERVICE)} (address, routing, incarnation); Java and Go skip both"
    )

    registries[1].drain(wait_periods=0)
    out.say("pod 1 drains: PodRegistry.drain() beats with DENY_NEW")
    fresh = Router(engine, schema)  # a caller with a cold cache
    on_one = next(u for u in uids if placed[u] == 1)
    out.check(fresh.route(on_one, SERVICE) == 1, f"{on_one}, linked to pod 1, still routes there")
    newcomers = [_uid_keys(schema, out, f"newcomer-{i}") for i in range(2 * PODS)]
    landed = Counter(fresh.route(u, SERVICE) for u in newcomers)
    out.check(
        1 not in landed, f"{len(newcomers)} new UIDs avoid pod 1: {dict(sorted(landed.items()))}"
    )

    engine.run(set_state(schema, SERVICE, 2, "0-1000"))
    out.say("pod 2 dies: its state now reads '0-1000', a heartbeat from 1970")
    victims = [u for u in uids if placed[u] == 2]
    keep = Router(engine, schema)  # DeadPodPolicy.KEEP, the Java and Go behaviour
    error = out.raises(
        PodUnavailableError,
        lambda: keep.route(victims[0], SERVICE),
        "with DeadPodPolicy.KEEP (the Java/Go behaviour) a route to pod 2 raises",
    )
    out.say(f"PodUnavailableError: {error}")
    repair = Router(engine, schema, policies={SERVICE: DeadPodPolicy.REASSIGN}, dead_grace=1.0)
    moved = Counter(repair.route(u, SERVICE) for u in victims)
    out.say(f"REASSIGN, dead_grace=1 s: pod 2's {len(victims)} UIDs now route to {dict(moved)}")
    now = {text(client.get(schema.link_key(u, SERVICE))) for u in victims}
    out.check(
        set(moved) == {0} and now == {"0"},
        "each link was replaced by compare-and-set (pod 1 drains, so pod 0 took them)",
    )
    late = engine.run(LinkOps(schema).replace_link_if(victims[0], SERVICE, 2, 1, 300))
    out.say(f"a router repairing again from a stale view: replace_link_if(2 -> 1) -> {late}")
    out.check(late == (False, 0), "the compare-and-set refuses it: the link no longer holds pod 2")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("script engine", script_engine),
    Scenario("NOSCRIPT recovery", noscript_recovery),
    Scenario("atomic batch", atomic_batch),
    Scenario("race", race),
    Scenario("errors", errors),
    Scenario("stats and profile", stats_and_profile),
    Scenario("stateful links", stateful_links),
    *(Scenario(title, play) for title, play in RECIPES),  # locks, limiters, ... (_demo_recipes)
)


# -- running -------------------------------------------------------------------------------


def run_demo(
    engine: Engine,
    stream: TextIO,
    *,
    url: str,
    private: bool,
    scenarios: Sequence[Scenario] | None = None,
) -> int:
    """Play every scenario (default `SCENARIOS`) on *engine*; return how many failed.

    The demo's keys are deleted at the end, even after a failure. A lost
    connection stops the demo and propagates.
    """
    chosen = SCENARIOS if scenarios is None else tuple(scenarios)
    out = Narrator(stream, private=private)
    _introduce(out, url)
    failed: list[str] = []
    try:
        for number_, scenario in enumerate(chosen, 1):
            out.title(f"[{number_}/{len(chosen)}] {scenario.title}")
            if not _play(scenario, engine, out):
                failed.append(scenario.title)
    finally:
        cleaned = out.cleanup(engine.client)
    _conclude(out, len(chosen), failed, cleaned)
    return len(failed) + (not cleaned)


def _introduce(out: Narrator, url: str) -> None:
    if out.private:
        out.title(f"redlua demo on a private server at {url}, stopped when the demo ends")
    else:
        out.title(f"redlua demo on {url}")
        out.say(
            f"its keys carry the tag {out.tag} (redlua:demo:{{{out.tag}..., "
            f"sf:{{{out.namespace}:..., or a recipe named demo-{out.tag}-...) and are"
            " deleted at the end;"
        )
        out.say("no FLUSHALL, FLUSHDB or SCRIPT FLUSH is sent to this server")


def _play(scenario: Scenario, engine: Engine, out: Narrator) -> bool:
    try:
        scenario.play(engine, out)
    except DemoCheckFailed:
        return False
    except _ABORT:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash is a failed scenario, reported
        out.say(f"FAILED: {type(exc).__name__}: {exc}")
        return False
    return True


def _conclude(out: Narrator, total: int, failed: list[str], cleaned: bool) -> None:
    if failed:
        out.title(f"{len(failed)} of {total} scenarios failed: {', '.join(failed)}")
    elif not cleaned:
        out.title(f"all {total} scenarios passed, but the demo keys could not be deleted")
    else:
        out.title(f"all {total} scenarios passed ({out.checks} checks)")
