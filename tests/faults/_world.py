"""One of each recipe on one engine, a random workload over them, and the invariant checks.

A fault test builds a `World`, runs `World.work` (from several threads if it likes)
while it breaks something, heals it, and calls `World.check`. Every operation counts
what the caller was told: applied, refused, failed before it ran
(`ConnectionFailedError`, a server refusal such as OOM or BUSY) or unknown
(`OutcomeUnknownError`: it may have run once). The checks then compare the server
with those counts:

* locks: never two live holders of one name (checked at every grant, from Python;
  a lossy failover may make some: they are returned with the time of the second grant);
* semaphore: never more permits than its limit;
* limiter: never more units used than the limit; ``allowed <= used <= allowed + unknown``;
* counter: never past its ceiling; ``applied <= value <= applied + unknown``;
* ledger: the sum of the balances is what was opened, whatever happened;
* inventory: stock + reserved + sold is what was stocked (no oversell, stock returned
  once); at least the confirmed units are sold;
* links: I1 (a UID's hash field holds the link exactly when the link is persistent) and
  one pod per UID.

``check(lossy=True)`` is for failovers, where the promoted replica may miss the last
acknowledged writes: the lower bounds (``allowed <= used``, ``applied <= value``, sold
at least the confirmed units) and the lock overlaps are then not asserted; the upper
bounds (nothing ran twice) and the conservation laws still are.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redlua import ConnectionFailedError, Engine, OutcomeUnknownError, key_slot
from redlua.counters import Counters
from redlua.errors import ReservationClosedError, ReservationNotFoundError, ServerError
from redlua.inventory import Inventory
from redlua.ledger import InsufficientFundsError, Ledger
from redlua.locks import Lock, NotOwnerError, Semaphore
from redlua.ratelimit import Limit, RateLimiter
from redlua.stateful import KeySchema, Links

NOT_RUN = (ConnectionFailedError, ServerError)
"""What a caller is told when the script did not run: not sent, or refused (OOM, BUSY, ...).

A `ServerError` may also be a Lua error in a script, which the recipes raise only
before their first write; the tests that expect no fault assert there was none.
"""

LIMIT = 25
CEILING = 40
STOCK = 30
OPENING = 1000
ACCOUNTS = 4
PODS = 4
UIDS = 4
PERMITS = 2
SERVICE = "game"


def spins_for(client: Any, seconds: float) -> int:
    """Return how many empty Lua loop turns take at least about *seconds* on this server.

    Timed three times, keeping the fastest: a run slowed by a busy machine would make
    the loop too short later, when the machine is idle again.
    """
    fastest = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        client.eval("for _ = 1, tonumber(ARGV[1]) do end return 1", 0, 1_000_000)
        fastest = min(fastest, time.perf_counter() - started)
    return int(seconds * 1_000_000 / fastest)


def mode_of(engine: Any) -> str:
    """Return how *engine* runs shipped scripts: ``"scripts"`` (EVALSHA) or ``"functions"``."""
    return str(getattr(engine, "mode", "scripts"))


def url_of(server: Any, db: int = 0) -> str:
    """Return ``redis://host:port/<db>`` of an `EmbeddedServer` (or a proxy)."""
    return f"redis://{server.host}:{server.port}/{db}"


def pick(base: str, where: Callable[[int], bool], spell: Callable[[str], str]) -> str:
    """Return the first ``<base><i>`` whose key (spelled by *spell*) is in a slot *where* likes."""
    for i in range(2_000_000):
        name = f"{base}{i}"
        if where(key_slot(spell(name))):
            return name
    raise AssertionError(f"no name for {base} in the wanted slots")


def tagged(name: str) -> str:
    """Spell a recipe key whose hash tag is *name* (every recipe tags its keys so)."""
    return "{" + name + "}"


@dataclass
class Tally:
    """What the callers of one kind of operation were told."""

    applied: int = 0
    refused: int = 0
    not_run: int = 0
    unknown: int = 0
    lost: int = 0  # gone when used again: a lease that ran out, a reservation a failover lost
    errors: list[str] = field(default_factory=list)


class World:
    """Every recipe once, on keys whose hash slots satisfy *where* (all slots by default)."""

    def __init__(
        self, engine: Engine, tag: str = "w", where: Callable[[int], bool] = lambda slot: True
    ) -> None:
        self.engine = engine
        self.lock_name = pick(f"{tag}-lock", where, tagged)
        self.sem_name = pick(f"{tag}-sem", where, tagged)
        self.identity = pick(f"{tag}-user", where, tagged)
        self.counter_name = pick(f"{tag}-count", where, tagged)
        self.ledger = Ledger(engine, pick(f"{tag}-bank", where, tagged))
        self.inventory = Inventory(engine, pick(f"{tag}-shop", where, tagged))
        schema = KeySchema.sf(tag)
        self.links = Links(engine, schema)
        self.uids = [
            pick(f"u{i}-", where, lambda uid: schema.link_key(uid, SERVICE)) for i in range(UIDS)
        ]
        self.counters = Counters(engine)
        self.limiter = RateLimiter(engine, Limit(LIMIT, 3600, "sliding_log"))
        self.semaphore = Semaphore(engine, self.sem_name, limit=PERMITS, ttl=30)
        self.accounts = [f"a{i}" for i in range(ACCOUNTS)]
        self.tally: dict[str, Tally] = {}
        self.overlaps: list[tuple[float, str]] = []  # (time.monotonic(), what)
        self.pending: list[str] = []  # reservations made and not settled by us
        self.confirmed_units = 0
        self._holders: dict[str, float] = {}  # lock or permit id -> when its lease ends
        self._permits: set[str] = set()
        self._mutex = threading.Lock()

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> World:
        """Open the accounts, stock the product: the starting state every check refers to."""
        for account in self.accounts:
            self.ledger.create(account, "USD", opening=OPENING)
        self.inventory.add_product("mug", stock=STOCK, price=500)
        return self

    # -- the workload --------------------------------------------------------------------------

    def work(self, steps: int, seed: int = 0, stop: threading.Event | None = None) -> None:
        """Run *steps* random operations (fewer if *stop* is set), each told apart in `tally`."""
        rng = random.Random(seed)
        ops = [
            self.count,
            self.limit,
            self.transfer,
            self.reserve,
            self.settle,
            self.claim,
            self.lock,
            self.permit,
        ]
        for _ in range(steps):
            if stop is not None and stop.is_set():
                return
            op = rng.choice(ops)
            self._told(op.__name__, op, rng)

    def _told(
        self, kind: str, op: Callable[[random.Random], bool | None], rng: random.Random
    ) -> None:
        try:
            outcome = op(rng)
        except OutcomeUnknownError as exc:
            self._add(kind, "unknown", exc)
        except NOT_RUN as exc:
            self._add(kind, "not_run", exc)
        else:
            if outcome is not None:
                self._add(kind, "applied" if outcome else "refused")

    def _add(self, kind: str, what: str, exc: BaseException | None = None) -> None:
        with self._mutex:
            tally = self.tally.setdefault(kind, Tally())
            setattr(tally, what, getattr(tally, what) + 1)
            if exc is not None:
                tally.errors.append(f"{type(exc).__name__}: {exc}")

    def count(self, rng: random.Random) -> bool:
        """Increment the counter under its ceiling."""
        return self.counters.increment_with_limit(self.counter_name, maximum=CEILING).applied

    def limit(self, rng: random.Random) -> bool:
        """Hit the limiter once."""
        return self.limiter.hit(self.identity).allowed

    def transfer(self, rng: random.Random) -> bool:
        """Move 1..50 cents between two accounts, with an idempotency key."""
        src, dst = rng.sample(self.accounts, 2)
        try:
            self.ledger.transfer(src, dst, rng.randint(1, 50), idempotency_key=secrets.token_hex(8))
        except InsufficientFundsError:
            return False
        return True

    def reserve(self, rng: random.Random) -> bool:
        """Reserve one or two mugs for ten minutes."""
        held = self.inventory.reserve("mug", rng.randint(1, 2), customer="c", ttl=600)
        if held.ok:
            with self._mutex:
                self.pending.append(held.reservation)
        return held.ok

    def settle(self, rng: random.Random) -> bool | None:
        """Confirm or cancel a pending reservation; a second cancel must change nothing."""
        with self._mutex:
            if not self.pending:
                return None
            reservation = self.pending.pop(rng.randrange(len(self.pending)))
        try:
            if rng.random() < 0.5:
                done = self.inventory.confirm(reservation)
                if done.changed:
                    with self._mutex:
                        self.confirmed_units += sum(done.items.values())
            else:
                self.inventory.cancel(reservation)
                again = self.inventory.cancel(reservation)
                assert not again.changed, again  # the stock went back once
        except ReservationClosedError:
            return False  # settled the other way by an earlier call whose reply was lost
        except ReservationNotFoundError:  # made, acknowledged, then lost in a failover
            self._add("settle", "lost")
            return None
        return True

    def claim(self, rng: random.Random) -> bool:
        """Claim a UID for a pod, or release it."""
        uid, pod = rng.choice(self.uids), rng.randrange(PODS)
        if rng.random() < 0.3:
            return self.links.release(uid, SERVICE, pod)[0]
        return self.links.claim(uid, SERVICE, pod).ok

    def lock(self, rng: random.Random) -> bool:
        """Take the lock without waiting, hold it a moment, give it back."""
        lock = Lock(self.engine, self.lock_name, ttl=1)
        if not lock.acquire(blocking=False):
            return False
        self._enter(self.lock_name, 1, lock.ttl)
        try:
            time.sleep(0.001)
        finally:
            self._leave(self.lock_name)
        try:
            lock.release()
        except NotOwnerError:  # the lease ran out while the release waited (BUSY, failover)
            self._add("lock", "lost")
        return True

    def permit(self, rng: random.Random) -> bool:
        """Take a permit without waiting, hold it a moment, give it back."""
        permit = self.semaphore.acquire(blocking=False)
        if permit is None:
            return False
        self._enter(permit, PERMITS, 30)
        try:
            time.sleep(0.001)
        finally:
            self._leave(permit)
        self.semaphore.release(permit)
        return True

    def _enter(self, holder: str, most: int, ttl: float) -> None:
        """Record a grant; note an overlap when more than *most* live holders would exist."""
        now = time.monotonic()
        with self._mutex:
            if holder == self.lock_name:
                live = [holder] if self._holders.get(holder, 0) > now else []
            else:
                live = [p for p in self._permits if self._holders.get(p, 0) > now]
                self._permits.add(holder)
            if len(live) >= most:
                self.overlaps.append((now, f"{holder}: granted while {live} still held"))
            self._holders[holder] = now + ttl

    def _leave(self, holder: str) -> None:
        with self._mutex:
            self._holders.pop(holder, None)
            self._permits.discard(holder)

    # -- the invariants ------------------------------------------------------------------------

    def of(self, kind: str) -> Tally:
        """Return the tally of one kind of operation (zeros when none ran)."""
        return self.tally.get(kind, Tally())

    def check(self, *, lossy: bool = False) -> dict[str, Any]:
        """Assert every invariant on the server's state; return what was read."""
        if not lossy:
            assert self.overlaps == [], self.overlaps
        seen: dict[str, Any] = {"overlaps": list(self.overlaps)}

        balances = [self.ledger.info(a).balance for a in self.accounts]
        assert sum(balances) == OPENING * ACCOUNTS, balances
        assert min(balances) >= 0, balances  # no overdraft was granted
        seen["balances"] = balances

        info = self.inventory.product_info("mug")
        assert info.total == STOCK, info  # no oversell, stock returned once
        assert min(info.stock, info.reserved, info.sold) >= 0, info
        if not lossy:
            assert info.sold >= self.confirmed_units, (info, self.confirmed_units)
        seen["inventory"] = info

        value = self.counters.get(self.counter_name)
        counted = self.of("count")
        assert 0 <= value <= CEILING, value
        assert value <= counted.applied + counted.unknown, (value, counted)  # none ran twice
        if not lossy:
            assert counted.applied <= value, (value, counted)
        seen["counter"] = value

        used = LIMIT - self.limiter.peek(self.identity).remaining
        hits = self.of("limit")
        assert 0 <= used <= LIMIT and hits.applied <= LIMIT, (used, hits)
        assert used <= hits.applied + hits.unknown, (used, hits)
        if not lossy:
            assert hits.applied <= used, (used, hits)
        seen["limiter"] = used

        assert len(self.semaphore.holders()) <= PERMITS

        for uid in self.uids:
            link = self.links.get_link(uid, SERVICE)
            persistent = self.links.get_link_if_persist(uid, SERVICE)
            field_ = self.links.linked_services(uid).get(SERVICE)
            assert field_ == persistent, (uid, link, persistent, field_)  # I1
            assert persistent is None or persistent == link, (uid, link, persistent)
        return seen

    def summary(self) -> str:
        """Return the tallies in one line (for assertion messages)."""
        parts = Counter({f"{k}.{w}": getattr(t, w) for k, t in self.tally.items()
                         for w in ("applied", "refused", "not_run", "unknown", "lost")})  # fmt: skip
        return ", ".join(f"{k}={v}" for k, v in sorted(parts.items()) if v)
