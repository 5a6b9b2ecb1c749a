"""Rate-limiter rows: each redlua algorithm against the closest peer algorithm.

Every row is one ``hit`` of one identity out of `IDENTITIES` rotating ones, the way a
user calls each library: redlua ``RateLimiter.hit(identity)``, limits
``<Strategy>RateLimiter.hit(item, identity)`` on a ``RedisStorage``, pyrate-limiter
``Limiter.try_acquire(identity, blocking=False)`` over one bucket per identity (a
``RedisBucket`` for its logs, a ``StateBucket`` on a ``RedisStateStore`` for GCRA and
its token bucket). Every limit is `LIMIT` units per `PERIOD` seconds (burst `LIMIT`
for the buckets) and every identity starts with `PREFILL` units used (one hit of that
cost, through each library's own API), so the logs hold about a thousand entries:
where an O(limit) check shows. Most measured hits are admitted.

Pairs (candidate vs baseline, target):

* sliding_log vs limits' moving window (1.2) and pyrate's sliding-window log (1.0)
* sliding_window vs limits' sliding-window counter (1.0)
* fixed_window vs limits' and pyrate's fixed windows (1.0)
* token_bucket and gcra vs pyrate's TokenBucket and GCRA (1.0)

Informational rows ``ratelimit.<algorithm>.vs_generic_script`` send the same one-limit
hit through ``ratelimit_apply`` (the multi-limit script, which every hit used before
the one-limit scripts) as the baseline: what the lean ``ratelimit_apply_<algorithm>``
saves.

Each row against limits also runs from `THREADS` threads at once
(``<row>.8_threads``, the same target), every thread hitting the next of the side's
rotating identities: one ``RateLimiter`` (its ``Engine`` shares writes among threads)
against one limits strategy shared by the threads, as an application would. pyrate's
rows have no threaded twin: its ``Limiter`` holds one lock around every call, and a
``try_acquire(blocking=False)`` that finds it taken returns False without asking
Redis, so under threads it denies most hits (within their limit) at no cost, and its
ops/s count no comparable work.

Each side of each row has its own identities (its own key prefix), made and prefilled
before timing. redlua and pyrate share one client; limits opens its own from the URL (its
storage takes a URI). redlua reads the server's clock (``TIME``) in every script; the
peers send the client's.

The suite also yields ``ratelimit.memory``: ``MEMORY USAGE`` of the keys one identity
holds after 1000 admitted hits, per implementation.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import redis

from harness import Case, Scenario, Suite, Table, Target, Threads

LIMIT = 1000  # units per period, every implementation
PERIOD = 60  # seconds
IDENTITIES = 200
PREFILL = 900  # units each identity has used before timing
PREFIX = "redlua-bench:rl"
THREADS = 8  # the threaded rows: this many threads hit at once
PER_THREAD = 25  # hits per thread per round

REDLUA = ("sliding_log", "sliding_window", "fixed_window", "token_bucket", "gcra")
LIMITS = {"moving_window", "sliding_window_counter", "fixed_window"}
PYRATE = {"log", "fixed", "gcra", "token_bucket"}

Op = Callable[[], object]


# -- the implementations -------------------------------------------------------------------


def _identities() -> list[str]:
    return [f"id{i}" for i in range(IDENTITIES)]


def redlua_hitter(client: redis.Redis, algorithm: str, prefix: str) -> Callable[..., Any]:
    """Return ``hit(identity, cost=1)`` of a redlua `RateLimiter` with one `Limit`."""
    from redlua import Engine
    from redlua.ratelimit import Limit, RateLimiter

    limiter = RateLimiter(Engine(client), Limit(LIMIT, PERIOD, algorithm), prefix=prefix)  # type: ignore[arg-type]
    return lambda identity, cost=1: limiter.hit(identity, cost)


def generic_hitter(client: redis.Redis, algorithm: str, prefix: str) -> Callable[..., Any]:
    """Return ``hit(identity, cost=1)`` of one `Limit` sent through ``ratelimit_apply``."""
    from redlua import Call, Engine, key_slot, load_script
    from redlua.ratelimit import Limit, RateLimitOps
    from redlua.ratelimit.decision import decoder

    engine = Engine(client)
    limit = Limit(LIMIT, PERIOD, algorithm)  # type: ignore[arg-type]
    ops = RateLimitOps(limit, prefix=prefix)
    script = load_script("ratelimit_apply")
    part = decoder([limit.limit])

    def decode(reply: Any) -> Any:
        return part(reply[1:])  # the limit's part of the reply

    def hit(identity: str, cost: int = 1) -> Any:
        keys = ops.keys(identity)
        args = ("hit", "", str(cost), *limit.args)
        return engine.run(Call.trusted(script, keys, args, decode, key_slot(keys[0])))

    return hit


def limits_hitter(url: str, strategy: str, prefix: str) -> Callable[..., Any]:
    """Return ``hit(identity, cost=1)`` of a limits strategy on its own `RedisStorage`."""
    from limits import RateLimitItemPerMinute, strategies
    from limits.storage import RedisStorage

    storage = RedisStorage(url, key_prefix=prefix)
    limiter = {
        "moving_window": strategies.MovingWindowRateLimiter,
        "sliding_window_counter": strategies.SlidingWindowCounterRateLimiter,
        "fixed_window": strategies.FixedWindowRateLimiter,
    }[strategy](storage)
    item = RateLimitItemPerMinute(LIMIT, PERIOD // 60)
    return lambda identity, cost=1: limiter.hit(item, identity, cost=cost)


def pyrate_hitter(client: redis.Redis, algorithm: str, prefix: str) -> Callable[..., Any]:
    """Return ``hit(identity, cost=1)`` of a pyrate-limiter `Limiter`, one bucket per identity.

    The logs (sliding window, fixed window) get pyrate's background leaker, which
    trims them, as its docs have every bucket factory do; the state buckets need none.
    """
    from pyrate_limiter import (
        GCRA,
        BucketFactory,
        FixedWindow,
        Limiter,
        Rate,
        RateItem,
        RedisBucket,
        RedisStateStore,
        SlidingWindowLog,
        StateBucket,
        TokenBucket,
    )

    rate = Rate(LIMIT, PERIOD * 1000)

    def bucket(identity: str) -> Any:
        key = f"{prefix}{identity}"
        if algorithm in ("log", "fixed"):
            log = SlidingWindowLog() if algorithm == "log" else FixedWindow()
            return RedisBucket.init([rate], client, key, algorithm=log)
        state = GCRA() if algorithm == "gcra" else TokenBucket()
        return StateBucket([rate], algorithm=state, store=RedisStateStore(client, key))

    class PerIdentity(BucketFactory):
        def __init__(self) -> None:
            self.buckets = {identity: bucket(identity) for identity in _identities()}
            if algorithm in ("log", "fixed"):
                for made in self.buckets.values():
                    self.schedule_leak(made)

        def wrap_item(self, name: str, weight: int = 1) -> Any:
            return RateItem(name, self.buckets[name].now(), weight=weight)

        def get(self, item: Any) -> Any:
            return self.buckets[item.name]

    limiter = Limiter(PerIdentity())
    return lambda identity, cost=1: limiter.try_acquire(identity, weight=cost, blocking=False)


def available(library: str) -> str | None:
    """Return why *library* cannot run here (a missing package), or None when it can."""
    try:
        __import__({"limits": "limits", "pyrate": "pyrate_limiter"}[library])
    except ImportError as exc:
        return f"{library} is not installed ({exc}); pip install 'redlua[bench]'"
    return None


# -- the rows ------------------------------------------------------------------------------


def rotating(hit: Callable[..., Any]) -> Op:
    """Prefill every identity with `PREFILL` units, then return one hit of the next identity."""
    identities = _identities()
    for identity in identities:
        hit(identity, PREFILL)
    cycle = itertools.cycle(identities)
    return lambda: hit(next(cycle))


def _cleanup(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"*{PREFIX}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


ROWS = (  # name, redlua algorithm, peer library, peer algorithm, target
    ("ratelimit.sliding_log.vs_limits_moving_window", "sliding_log", "limits", "moving_window",
     1.2),
    ("ratelimit.sliding_log.vs_pyrate_log", "sliding_log", "pyrate", "log", 1.0),
    ("ratelimit.sliding_window.vs_limits_sliding_window_counter", "sliding_window", "limits",
     "sliding_window_counter", 1.0),
    ("ratelimit.fixed_window.vs_limits_fixed_window", "fixed_window", "limits", "fixed_window",
     1.0),
    ("ratelimit.fixed_window.vs_pyrate_fixed_window", "fixed_window", "pyrate", "fixed", 1.0),
    ("ratelimit.token_bucket.vs_pyrate_token_bucket", "token_bucket", "pyrate", "token_bucket",
     1.0),
    ("ratelimit.gcra.vs_pyrate_gcra", "gcra", "pyrate", "gcra", 1.0),
)  # fmt: skip


def _peer(target: Target, client: redis.Redis, library: str, peer: str, side: str) -> Op:
    if library == "limits":
        return rotating(limits_hitter(target.url, peer, side + "limits"))
    return rotating(pyrate_hitter(client, peer, side + "pyrate:"))


@contextmanager
def sync_cases(target: Target) -> Iterator[list[Case]]:
    """Open one `redis.Redis` for *target*, build and prefill both sides of every row."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    try:
        with ExitStack() as threads:
            _cleanup(client)
            yield list(_cases(target, client, threads))
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()


def _cases(target: Target, client: redis.Redis, threads: ExitStack) -> Iterator[Case]:
    """Yield the control, every peer row (alone, then threaded) and the generic-script rows."""
    yield Case(
        name="ratelimit.control",
        candidate=rotating(redlua_hitter(client, "gcra", f"{PREFIX}:control:")),
        baseline=rotating(redlua_hitter(client, "gcra", f"{PREFIX}:control-base:")),
        note="A/A control: redlua gcra vs itself",
    )
    for number, (name, algorithm, library, peer, ratio) in enumerate(ROWS):
        missing = available(library)
        if missing:
            print(f"  {name}: skipped, {missing}", file=sys.stderr)
            continue
        side = f"{PREFIX}:{number}:"
        note = (
            f"redlua {algorithm} hit vs {library} {peer}, {LIMIT}/{PERIOD} s,"
            f" {IDENTITIES} identities prefilled with {PREFILL}"
        )
        yield Case(
            name=name,
            candidate=rotating(redlua_hitter(client, algorithm, side + "redlua:")),
            baseline=_peer(target, client, library, peer, side),
            target=ratio,
            note=note,
        )
        if library != "limits":
            continue
        side = f"{PREFIX}:{number}:threads:"
        candidate, baseline = (
            threads.enter_context(Threads(op, threads=THREADS, per=PER_THREAD))
            for op in (
                rotating(redlua_hitter(client, algorithm, side + "redlua:")),
                _peer(target, client, library, peer, side),
            )
        )
        yield Case(
            name=f"{name}.{THREADS}_threads",
            candidate=candidate,
            baseline=baseline,
            batch=candidate.batch,
            target=ratio,
            note=f"{note}; {THREADS} threads at once",
        )
    for algorithm in REDLUA:
        side = f"{PREFIX}:generic:{algorithm}:"
        yield Case(
            name=f"ratelimit.{algorithm}.vs_generic_script",
            candidate=rotating(redlua_hitter(client, algorithm, side + "lean:")),
            baseline=rotating(generic_hitter(client, algorithm, side + "generic:")),
            note=f"redlua {algorithm} hit by ratelimit_apply_{algorithm} vs the same"
            " hit by ratelimit_apply",
        )


# -- the memory table ----------------------------------------------------------------------

MEMORY_HITS = 1000
MEMORY_IMPLS: tuple[tuple[str, str], ...] = (
    *(("redlua", algorithm) for algorithm in REDLUA),
    ("limits", "moving_window"),
    ("limits", "sliding_window_counter"),
    ("limits", "fixed_window"),
    ("pyrate", "log"),
    ("pyrate", "fixed"),
    ("pyrate", "token_bucket"),
    ("pyrate", "gcra"),
)
MAX_SCANNED_KEYS = 100_000


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _memory_of(client: redis.Redis, url: str, library: str, algorithm: str) -> dict[str, Any]:
    """Hit one identity `MEMORY_HITS` times; return its keys, their bytes and TTLs."""
    before = {_text(k) for k in client.scan_iter(count=1000)}
    prefix = f"{PREFIX}:mem:{library}:{algorithm}:"
    if library == "redlua":
        hit = redlua_hitter(client, algorithm, prefix)
    elif library == "limits":
        hit = limits_hitter(url, algorithm, prefix)
    else:
        hit = pyrate_hitter(client, algorithm, prefix)
    admitted = sum(1 for _ in range(MEMORY_HITS) if hit("id0"))
    rows = []
    for key in sorted({_text(k) for k in client.scan_iter(count=1000)} - before):
        usage = client.memory_usage(key, samples=0)
        if usage is not None:
            rows.append({"key": key, "bytes": int(usage), "pttl_ms": client.pttl(key)})
    return {"admitted": admitted, "keys": rows}


def memory_table(target: Target) -> Table:
    """Measure every implementation's keys for one identity after `MEMORY_HITS` hits."""
    client = redis.Redis.from_url(target.url, decode_responses=target.decode_responses)
    measured: dict[str, Any] = {}
    missed: list[str] = []
    try:
        if client.dbsize() > MAX_SCANNED_KEYS:
            note = f"skipped: the server holds more than {MAX_SCANNED_KEYS} keys"
            return Table(name="ratelimit.memory", markdown=note, data={"skipped": note})
        _cleanup(client)
        for library, algorithm in MEMORY_IMPLS:
            if library != "redlua" and available(library):
                continue
            data = measured[f"{library} {algorithm}"] = _memory_of(
                client, target.url, library, algorithm
            )
            if library == "redlua" and any(row["pttl_ms"] < 0 for row in data["keys"]):
                missed.append(f"redlua {algorithm} leaves a key without a TTL")
    finally:
        try:
            _cleanup(client)
        finally:
            client.close()
    lines = [
        "| implementation | admitted | keys | bytes | TTLs (s) |",
        "|---|---:|---:|---:|---|",
    ]
    for impl, data in measured.items():
        rows = data["keys"]
        ttls = ", ".join("none" if r["pttl_ms"] < 0 else f"{r['pttl_ms'] / 1000:g}" for r in rows)
        total = sum(row["bytes"] for row in rows)
        lines.append(f"| {impl} | {data['admitted']} | {len(rows)} | {total} | {ttls} |")
    lines.append("")
    lines.append(
        f"`MEMORY USAGE key SAMPLES 0` summed over the keys one identity holds after"
        f" {MEMORY_HITS} hits of a {LIMIT}/{PERIOD} s limit (all admitted), key names"
        " included. Target: every redlua key has a TTL"
        f" ({'met' if not missed else 'MISSED: ' + '; '.join(missed)})."
    )
    return Table(
        name="ratelimit.memory",
        markdown="\n".join(lines),
        data={"hits": MEMORY_HITS, "limit": LIMIT, "period_s": PERIOD, "implementations": measured},
        missed=tuple(missed),
    )


def tables(target: Target, scenario: Scenario, wanted: Callable[[str], bool]) -> Iterator[Table]:
    """Yield the memory table when *wanted*."""
    if wanted("ratelimit.memory"):
        yield memory_table(target)


SUITE = Suite(name="ratelimit", sync=sync_cases, tables=tables)
