"""Lock rows: what `redlua.locks.Lock` costs over the raw two-EVALSHA floor, and the peers.

Every row is one uncontended acquire + release (a "pair"), paired against the
**raw floor**: redis-py ``evalsha`` of a ``SET NX PX`` script, then ``evalsha``
of a compare-and-DEL script, with a token from `secrets` -- the least a correct
Lua lock can do (two round trips). Both sides share one client (one server,
transport and ``decode_responses``), the scripts are preloaded, and each side
cycles over `NAMES` lock names of its own with one lock object per name, made
before timing (a user keeps a lock object, and a peer that leaves state behind
on a name never sees it again within ~200 pairs).

Every lock gets the same TTL, `TTL` seconds (pottery's default; redis-py's and
python-redis-lock's default is a lock that never expires, which no careful user
wants); everything else is each library's default: blocking ``acquire()``,
redis-py's ``thread_local=True``, one pottery master.

The suite also yields two tables: ``locks.contended`` (`contended_locks`: 8
processes incrementing one counter under one lock, wall time) and
``locks.memory`` (``MEMORY USAGE`` of every key an implementation creates,
while a lock is held and after release).
"""

from __future__ import annotations

import itertools
import secrets
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import redis
import redis.asyncio as aredis

from harness import AsyncCase, Case, Scenario, Suite, Table, Target

TTL = 10.0  # seconds, for every implementation
NAMES = 200  # lock names each side cycles over
PREFIX = "redlua-bench:lock"

ACQUIRE_SOURCE = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])"
RELEASE_SOURCE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)

REDLUA_VARIANTS: dict[str, dict[str, bool]] = {
    "redlua": {},
    "redlua-reentrant": {"reentrant": True},
    "redlua-auto-renew": {"auto_renew": True},
    "redlua-fencing": {"fencing": True},
}
PEERS = ("redis-py", "python-redis-lock", "pottery")

_ENGINES: weakref.WeakKeyDictionary[redis.Redis, Any] = weakref.WeakKeyDictionary()


# -- the raw floor -------------------------------------------------------------------------


class RawFloor:
    """The two-EVALSHA floor as a lock object (for the tables); `raw_pair` is the timed form."""

    def __init__(self, client: redis.Redis, name: str, ttl: float) -> None:
        self.client, self.name, self.ttl_ms = client, name, int(ttl * 1000)
        self.acquire_sha = client.script_load(ACQUIRE_SOURCE)
        self.release_sha = client.script_load(RELEASE_SOURCE)
        self.token = ""

    def acquire(self, blocking: bool = False) -> bool:
        """Try once (the floor never waits; *blocking* is accepted and ignored)."""
        token = secrets.token_hex(16)
        if self.client.evalsha(self.acquire_sha, 1, self.name, token, self.ttl_ms):
            self.token = token
            return True
        return False

    def release(self) -> None:
        if not self.client.evalsha(self.release_sha, 1, self.name, self.token):
            raise RuntimeError(f"raw floor: {self.name} was not held")

    def __enter__(self) -> RawFloor:
        if not self.acquire():
            raise RuntimeError(f"raw floor: {self.name} is taken")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def raw_pair(
    client: redis.Redis, acquire_sha: str, release_sha: str, ttl_ms: int, names: Iterator[str]
) -> None:
    """One acquire + release of the next name: EVALSHA SET NX PX, EVALSHA compare-and-DEL."""
    name = next(names)
    token = secrets.token_hex(16)
    if not client.evalsha(acquire_sha, 1, name, token, ttl_ms):
        raise RuntimeError(f"raw floor: {name} is taken")
    if not client.evalsha(release_sha, 1, name, token):
        raise RuntimeError(f"raw floor: {name} was not held")


def lock_pair(locks: Iterator[Any]) -> None:
    """One acquire + release of the next lock object, the way a user calls them."""
    lock = next(locks)
    if not lock.acquire():
        raise RuntimeError(f"{lock!r} was not acquired")
    lock.release()


# -- the implementations -------------------------------------------------------------------


def make_lock(impl: str, client: redis.Redis, name: str, ttl: float = TTL) -> Any:
    """Return a lock object of *impl* on *name* (acquire/release/context manager).

    Raises ImportError when the peer library is not installed. redlua locks of
    one client share one `Engine`, as a user's would.
    """
    if impl == "raw":
        return RawFloor(client, name, ttl)
    if impl in REDLUA_VARIANTS:
        from redlua import Engine
        from redlua.locks import Lock

        engine = _ENGINES.get(client)
        if engine is None:
            engine = _ENGINES[client] = Engine(client)
        return Lock(engine, name, ttl=ttl, **REDLUA_VARIANTS[impl])
    if impl == "redis-py":
        return client.lock(name, timeout=ttl)
    if impl == "python-redis-lock":
        import redis_lock

        return redis_lock.Lock(client, name, expire=int(ttl))
    if impl == "pottery":
        from pottery import Redlock

        return Redlock(key=name, masters={client}, auto_release_time=ttl)
    raise ValueError(f"unknown lock implementation {impl!r}")


def available(impl: str) -> str | None:
    """Return why *impl* cannot run here (a missing package), or None when it can."""
    module = {"python-redis-lock": "redis_lock", "pottery": "pottery"}.get(impl)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError as exc:
        return f"{impl} is not installed ({exc}); pip install 'redlua[bench]'"
    return None


# -- the rows ------------------------------------------------------------------------------


def _names(side: str) -> list[str]:
    return [f"{PREFIX}:{side}:{i}" for i in range(NAMES)]


def _cleanup(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"*{PREFIX}*", count=1000))
    if keys:
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, make every lock object, and yield the rows."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        _cleanup(client)
        acquire_sha = client.script_load(ACQUIRE_SOURCE)
        release_sha = client.script_load(RELEASE_SOURCE)

        def floor(side: str) -> Callable[[], None]:
            names = itertools.cycle(_names(side))
            return partial(raw_pair, client, acquire_sha, release_sha, int(TTL * 1000), names)

        def pairs(impl: str) -> Callable[[], None]:
            locks = [make_lock(impl, client, name) for name in _names(impl)]
            op = partial(lock_pair, itertools.cycle(locks))
            for _ in range(NAMES + 1):  # every name once (scripts load, objects warm), check
                op()
            return op

        floor("check")()
        cases = [
            Case(
                name="locks.control",
                candidate=floor("control"),
                baseline=floor("floor"),
                note="A/A control: the raw two-EVALSHA floor vs itself",
            )
        ]
        rows = [
            ("locks.acquire_release", "redlua", 0.95, "redlua Lock acquire()+release()"),
            ("locks.reentrant", "redlua-reentrant", 0.9, "redlua Lock(reentrant=True)"),
            ("locks.auto_renew", "redlua-auto-renew", 0.9, "redlua Lock(auto_renew=True)"),
            ("locks.fencing", "redlua-fencing", 0.9, "redlua Lock(fencing=True)"),
        ]
        for name, impl, target_ratio, what in rows:
            cases.append(
                Case(
                    name=name,
                    candidate=pairs(impl),
                    baseline=floor("floor"),
                    target=target_ratio,
                    note=f"{what} vs the raw floor (EVALSHA SET NX PX + EVALSHA compare-and-DEL)",
                )
            )
        cases.append(
            Case(
                name="locks.vs_redis_py",
                candidate=pairs("redlua"),
                baseline=pairs("redis-py"),
                target=1.0,
                note="redlua Lock vs redis-py Lock (client.lock(name, timeout=ttl)), both"
                " acquire()+release()",
            )
        )
        peer_rows = [
            ("locks.peer.redis_py", "redis-py", "redis-py client.lock(name, timeout=ttl)"),
            ("locks.peer.python_redis_lock", "python-redis-lock", "python-redis-lock Lock"),
            ("locks.peer.pottery", "pottery", "pottery Redlock(masters={client})"),
        ]
        for name, impl, what in peer_rows:
            missing = available(impl)
            if missing:
                print(f"  {name}: skipped, {missing}", file=sys.stderr)
                continue
            cases.append(
                Case(
                    name=name,
                    candidate=pairs(impl),
                    baseline=floor("floor"),
                    note=f"{what} vs the raw floor (informational)",
                )
            )
        yield cases
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()


async def raw_pair_async(
    client: aredis.Redis, acquire_sha: str, release_sha: str, ttl_ms: int, names: Iterator[str]
) -> None:
    """`raw_pair` on `redis.asyncio`."""
    name = next(names)
    token = secrets.token_hex(16)
    if not await client.evalsha(acquire_sha, 1, name, token, ttl_ms):
        raise RuntimeError(f"raw floor: {name} is taken")
    if not await client.evalsha(release_sha, 1, name, token):
        raise RuntimeError(f"raw floor: {name} was not held")


async def lock_pair_async(locks: Iterator[Any]) -> None:
    """`lock_pair` for an `AsyncLock`."""
    lock = next(locks)
    if not await lock.acquire():
        raise RuntimeError(f"{lock!r} was not acquired")
    await lock.release()


@asynccontextmanager
async def async_cases(target: Target) -> AsyncIterator[list[AsyncCase]]:
    """Open one `redis.asyncio.Redis`; yield `AsyncLock` vs the floor on the same client."""
    from redlua import AsyncEngine
    from redlua.locks import AsyncLock

    client = aredis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        acquire_sha = await client.script_load(ACQUIRE_SOURCE)
        release_sha = await client.script_load(RELEASE_SOURCE)
        ttl_ms = int(TTL * 1000)
        floor: Callable[[], Awaitable[None]] = partial(
            raw_pair_async, client, acquire_sha, release_sha, ttl_ms, itertools.cycle(_names("aio"))
        )
        engine = AsyncEngine(client)
        locks = [AsyncLock(engine, name, ttl=TTL) for name in _names("aio-redlua")]
        pair: Callable[[], Awaitable[None]] = partial(lock_pair_async, itertools.cycle(locks))
        for _ in range(NAMES + 1):
            await pair()
        await floor()
        yield [
            AsyncCase(
                name="aio.locks.acquire_release",
                candidate=pair,
                baseline=floor,
                target=0.95,
                note="await AsyncLock acquire()+release() vs the raw floor on redis.asyncio",
            )
        ]
    finally:
        try:
            keys = [k async for k in client.scan_iter(match=f"*{PREFIX}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


# -- the memory table ----------------------------------------------------------------------

MEMORY_NAME = "bench-mem-lock"
MEMORY_IMPLS = ("raw", *REDLUA_VARIANTS, *PEERS)
MAX_SCANNED_KEYS = 100_000  # the table diffs the keyspace; skip it on a big shared server


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _snapshot(client: redis.Redis, before: set[str]) -> list[dict[str, Any]]:
    keys = sorted({_text(k) for k in client.scan_iter(count=1000)} - before)
    rows = []
    for key in keys:
        usage = client.memory_usage(key, samples=0)
        if usage is None:  # gone between SCAN and MEMORY USAGE (a short-lived signal list)
            continue
        rows.append(
            {
                "key": key,
                "type": _text(client.type(key)),
                "pttl_ms": client.pttl(key),
                "bytes": int(usage),
            }
        )
    return rows


def _describe(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "—"
    parts = []
    for row in rows:
        ttl = "no TTL" if row["pttl_ms"] < 0 else f"TTL {row['pttl_ms'] / 1000:g} s"
        parts.append(f"`{row['key']}` {row['type']} {row['bytes']} B, {ttl}")
    return "; ".join(parts)


WAITER_TIMEOUT = 5.0  # seconds a waiter may wait in the hand-over measurement


def _wait_then_release(impl: str, lock: Any, took: list[bool]) -> None:
    """In a thread: wait for *lock* (each library's blocking spelling), then release it."""
    if impl == "redis-py":
        ok = lock.acquire(blocking=True, blocking_timeout=WAITER_TIMEOUT)
    elif impl == "python-redis-lock":
        ok = lock.acquire(blocking=True, timeout=int(WAITER_TIMEOUT))
    else:
        ok = lock.acquire(blocking=True, timeout=WAITER_TIMEOUT)
    took.append(bool(ok))
    if ok:
        lock.release()


def _memory_of(client: redis.Redis, impl: str) -> dict[str, Any]:
    """Measure *impl*'s keys: held, after release, and after a hand-over to a waiter."""
    before = {_text(k) for k in client.scan_iter(count=1000)}
    handover: list[dict[str, Any]] | None = None
    try:
        lock = make_lock(impl, client, MEMORY_NAME)
        if not lock.acquire():
            raise RuntimeError(f"{impl}: could not acquire {MEMORY_NAME}")
        held = _snapshot(client, before)
        lock.release()
        after = _snapshot(client, before)
        if impl != "raw":  # the floor cannot wait
            # another owner waits in a thread while this one holds it; this one releases,
            # the waiter takes it and releases it in turn: what does contention leave?
            other = make_lock(impl, client, MEMORY_NAME)
            if not lock.acquire():
                raise RuntimeError(f"{impl}: could not acquire {MEMORY_NAME} again")
            took: list[bool] = []
            waiter = threading.Thread(target=_wait_then_release, args=(impl, other, took))
            waiter.start()
            time.sleep(0.3)  # the waiter is waiting by now (redis-py polls every 0.1 s)
            lock.release()
            waiter.join(WAITER_TIMEOUT + 1)
            if took != [True]:
                raise RuntimeError(f"{impl}: the waiter did not get {MEMORY_NAME}: {took}")
            handover = _snapshot(client, before)
    finally:
        leftovers = {_text(k) for k in client.scan_iter(count=1000)} - before
        if leftovers:
            client.delete(*leftovers)
    return {"held": held, "after_release": after, "after_handover": handover}


def _bytes(rows: list[dict[str, Any]] | None) -> str:
    if rows is None:
        return "n/a"
    return f"{len(rows)} / {sum(r['bytes'] for r in rows)} B"


def memory_table(target: Target) -> Table:
    """Hold one lock of each implementation on `MEMORY_NAME`; measure its keys, then release."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    measured: dict[str, Any] = {}
    missed: list[str] = []
    try:
        if client.dbsize() > MAX_SCANNED_KEYS:
            note = f"skipped: the server holds more than {MAX_SCANNED_KEYS} keys"
            return Table(name="locks.memory", markdown=note, data={"skipped": note})
        for impl in MEMORY_IMPLS:
            if available(impl):
                continue
            measured[impl] = data = _memory_of(client, impl)
            if impl in REDLUA_VARIANTS and impl != "redlua-fencing" and data["after_release"]:
                missed.append(f"{impl} leaves {len(data['after_release'])} key(s) after release")
    finally:
        client.close()
    lines = [
        "| implementation | held: keys / bytes | after release | after a hand-over to a"
        " waiter | keys |",
        "|---|---:|---:|---:|---|",
    ]
    for impl, data in measured.items():
        held, after, waited = data["held"], data["after_release"], data["after_handover"]
        keys = f"held: {_describe(held)}"
        if after:
            keys += f"; after release: {_describe(after)}"
        extra = [row for row in waited or () if row["key"] not in {r["key"] for r in after}]
        if extra:
            keys += f"; after a hand-over: {_describe(extra)}"
        name = "raw floor" if impl == "raw" else impl
        lines.append(f"| {name} | {_bytes(held)} | {_bytes(after)} | {_bytes(waited)} | {keys} |")
    lines.append("")
    lines.append(
        "`MEMORY USAGE key SAMPLES 0` summed over the keys that appeared while one lock"
        f" named `{MEMORY_NAME}` (TTL {TTL:g} s) was held, right after its release (the"
        " idle lock name), and after a hand-over (a second owner waited in a thread with"
        " the library's blocking acquire, got the lock on release and released it: what"
        " contention leaves behind). Key names differ per library"
        " and count in the bytes; TTLs are the keys' PTTL when measured."
        " Target: redlua leaves no key after release unless fencing is on"
        f" ({'met' if not missed else 'MISSED: ' + '; '.join(missed)})."
    )
    return Table(
        name="locks.memory",
        markdown="\n".join(lines),
        data={"lock_name": MEMORY_NAME, "ttl_s": TTL, "implementations": measured},
        missed=tuple(missed),
    )


def tables(target: Target, scenario: Scenario, wanted: Callable[[str], bool]) -> Iterator[Table]:
    """Yield the contended wall-time table, then the memory table (each if *wanted*)."""
    if wanted("locks.contended"):
        import contended_locks

        if scenario.runs == 0:
            print("  locks.contended: skipped (--contended-runs 0)", file=sys.stderr)
        else:
            yield contended_locks.contended_table(target, scenario)
    if wanted("locks.memory"):
        yield memory_table(target)


SUITE = Suite(name="locks", sync=sync_cases, async_=async_cases, tables=tables)
